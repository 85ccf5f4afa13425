"""Manifest names resolve only inside the configured directories (issue 7 §4)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from yamldb.errors import ManifestNotFound
from yamldb.manifest.library import ManifestLibrary

GOOD = "yamldb: 1\ndialect: postgresql\n"


@pytest.fixture
def library(tmp_path: Path) -> ManifestLibrary:
    operator = tmp_path / "operator"
    operator.mkdir()
    (operator / "mine.yaml").write_text(GOOD)
    secret = tmp_path / "outside"
    secret.mkdir()
    (secret / "secret.yaml").write_text(GOOD)
    os.symlink(secret / "secret.yaml", operator / "escape.yaml")
    return ManifestLibrary([operator])


@pytest.mark.parametrize(
    "name",
    [
        "../outside/secret",
        "/etc/passwd",
        "..",
        "a/b",
        "mine.yaml/..",
        "",
        "../../../../etc/hostname",
        "mine\x00",
        " mine",
    ],
)
def test_names_that_are_paths_are_refused(library, name):
    with pytest.raises(ManifestNotFound):
        library.path_of(name)


def test_a_symlink_out_of_the_directory_is_not_followed(library):
    with pytest.raises(ManifestNotFound, match="unknown manifest 'escape'"):
        library.path_of("escape")


def test_operator_directory_and_shipped_manifests_resolve(library):
    assert library.path_of("mine").name == "mine.yaml"
    assert library.load("postgresql").dialect.name == "postgresql"
    assert library.load("mine").dialect.name == "postgresql"


def test_unknown_name_lists_what_is_available(library):
    with pytest.raises(ManifestNotFound) as err:
        library.path_of("postgress")
    assert "postgresql" in str(err.value) and "mine" in str(err.value)


def test_operator_directories_come_from_the_registration_environment(tmp_path):
    (tmp_path / "team.yaml").write_text(GOOD)
    library = ManifestLibrary.from_environment({"YAMLDB_MANIFEST_DIRS": str(tmp_path)})
    assert library.path_of("team") == tmp_path / "team.yaml"


@pytest.mark.parametrize("folder", ["dialects", "manifests"])
def test_inline_and_file_manifests_build_on_a_manifest_that_names_a_dialect(tmp_path, folder):
    # issue 11 §8: an inline manifest naming a manifest that itself names a dialect used to raise AttributeError.
    from yamldb.manifest.loader import check_text

    tmp_path = tmp_path / folder
    tmp_path.mkdir()
    (tmp_path / "base-app.yaml").write_text("yamldb: 1\ndialect: postgresql\nusername:\n  max_length: 40\n")
    (tmp_path / "child.yaml").write_text("yamldb: 1\ndialect: base-app\n")
    library = ManifestLibrary([tmp_path])
    inline, findings = check_text(
        "yamldb: 1\ndialect: base-app\n", "manifest_inline", library.dialect_path, prevalidated=library.is_shipped
    )
    assert findings == []
    from_file = library.load("child")
    for manifest in (inline, from_file):
        assert manifest.dialect.name == "postgresql" and manifest.username.max_length == 40
    assert inline.statements["create"] == from_file.statements["create"]
