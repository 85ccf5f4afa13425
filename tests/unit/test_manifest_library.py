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


@pytest.mark.parametrize("name", ["../outside/secret", "/etc/passwd", "..", "a/b", "mine.yaml/..", "",
                                  "../../../../etc/hostname", "mine\x00", " mine"])
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
