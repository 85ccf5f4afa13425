"""What the plugin process imports, and when (issue 6: cold start and resident memory).

Structural checks instead of timings: a fresh interpreter imports what the handshake needs and
nothing heavier; loading shipped manifests never imports jsonschema; operator manifests are
still checked against the schema.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from yamldb.errors import ManifestError
from yamldb.manifest.library import ManifestLibrary


def modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    return {line.split(".")[0] for line in result.stdout.splitlines()} | set(result.stdout.splitlines())


def test_the_handshake_path_imports_no_engine_manifest_or_crypto_code():
    loaded = modules_after("import yamldb.transport.entry, yamldb.transport.server")
    for heavy in (
        "sqlalchemy",
        "jsonschema",
        "cryptography",
        "yaml",
        "yamldb.lifecycle.database",
        "yamldb.manifest.loader",
    ):
        assert heavy not in loaded, f"{heavy} is imported before the handshake line"


def test_loading_shipped_manifests_does_not_import_jsonschema():
    loaded = modules_after(
        "from yamldb.manifest.library import ManifestLibrary\n"
        "lib = ManifestLibrary()\n"
        "for name in ('postgresql', 'mysql', 'sqlite', 'postgresql-readonly'): lib.load(name)"
    )
    assert "jsonschema" not in loaded


def test_a_connection_without_a_sweep_imports_neither_the_sweep_matcher_nor_schema_error_rendering(tmp_path: Path):
    # Resident memory of the plugin that serves every connection (issue 17): both load only when needed.
    loaded = modules_after(
        "from yamldb.lifecycle.database import ManifestDatabase\n"
        "db = ManifestDatabase()\n"
        f"db.initialize({{'connection_url': {str(tmp_path / 'app.db')!r}, 'manifest': 'sqlite'}}, True)\n"
        "db.close()"
    )
    assert "yamldb.templates.username_match" not in loaded
    assert "yamldb.manifest.schema_errors" not in loaded


def test_operator_manifests_are_still_checked_against_the_schema(tmp_path: Path):
    (tmp_path / "mine.yaml").write_text("yamldb: 1\ndialect: postgresql\nstatments: {}\n")
    with pytest.raises(ManifestError) as err:
        ManifestLibrary([tmp_path]).load("mine")
    assert "statments" in str(err.value) and "mine.yaml:3:1" in str(err.value)
