"""Fixtures for tests that run the prebuilt plugin inside a real OpenBao."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devenv import HarnessUnavailable, OpenBaoDevServer
from devenv.toolchain import ensure_build_tools
from tests.conftest import require

PLUGIN_NAME = "yamldb"

# A manifest with a statement set a role selects with `yamldb:readonly schema=...`.
PG_SETS = """\
yamldb: 1
dialect: postgresql
parameters:
  schema: {default: public, pattern: "[a-z_][a-z0-9_]*"}
sets:
  readonly:
    create:
      - CREATE ROLE "{{username}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';
      - GRANT USAGE ON SCHEMA {{schema | ident}} TO "{{username}}";
      - GRANT SELECT ON ALL TABLES IN SCHEMA {{schema | ident}} TO "{{username}}";
"""


@dataclass(frozen=True)
class BuiltPlugin:
    directory: Path
    sha256: str
    output: str


@pytest.fixture(scope="session")
def built_plugin(tmp_path_factory: pytest.TempPathFactory) -> BuiltPlugin:
    """`yamldb plugin build` run as a user would, into a fresh plugin directory.

    The default, self-contained format: every OpenBao test then runs the file users ship. Its build costs
    about 30 s of CPU once per session (the zipapp's about 7 s), and each of the many plugin starts in
    the suite is faster than the zipapp's; test_self_contained_plugin.py covers the zipapp format.
    """
    try:
        ensure_build_tools()
    except HarnessUnavailable as exc:
        require(exc)
    directory = tmp_path_factory.mktemp("plugins")
    result = subprocess.run([sys.executable, "-m", "yamldb.cli", "plugin", "build", "--output", str(directory)],
                            capture_output=True, text=True, timeout=1200)  # minutes when the machine is busy
    assert result.returncode == 0, result.stderr
    files = [p.name for p in directory.iterdir()]
    assert files == ["yamldb-database-plugin"], files  # exactly one executable file
    match = re.search(r"sha256: ([0-9a-f]{64})", result.stdout)
    assert match, result.stdout
    actual = hashlib.sha256((directory / "yamldb-database-plugin").read_bytes()).hexdigest()
    assert match.group(1) == actual
    return BuiltPlugin(directory, actual, result.stdout)


@pytest.fixture(scope="session")
def plugin_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Keep the unpacked plugin out of the user's ~/.cache during tests.
    path = tmp_path_factory.mktemp("plugin-cache")
    os.chmod(path, 0o700)
    return path


@pytest.fixture(scope="session")
def manifest_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An operator manifest directory, fixed at registration with -env."""
    path = tmp_path_factory.mktemp("manifests")
    (path / "broken.yaml").write_text("yamldb: 1\ndialect: postgresql\nstatments:\n  create: CREATE ROLE x;\n")
    (path / "pg-sets.yaml").write_text(PG_SETS)
    return path


def register(bao: OpenBaoDevServer, plugin: BuiltPlugin, env: dict[str, str], args: list[str] = ()) -> None:
    # OpenBao's CLI has no -env flag; the catalog API takes the same registration with env.
    bao.api("POST", f"sys/plugins/catalog/database/{PLUGIN_NAME}", {
        "sha256": plugin.sha256, "command": "yamldb-database-plugin",
        "env": [f"{k}={v}" for k, v in env.items()], "args": list(args),
    })
    bao.cli("secrets", "enable", "database")


@pytest.fixture(scope="module")
def openbao(built_plugin: BuiltPlugin, plugin_cache: Path, manifest_dir: Path) -> Iterator[OpenBaoDevServer]:
    """A real OpenBao dev server with the prebuilt yamldb registered and the database engine mounted."""
    try:
        server = OpenBaoDevServer.start(built_plugin.directory)
    except HarnessUnavailable as exc:
        require(exc)
    try:
        register(server, built_plugin, {"YAMLDB_PLUGIN_CACHE": str(plugin_cache),
                                        "YAMLDB_MANIFEST_DIRS": str(manifest_dir)})
        yield server
    finally:
        server.stop()
