"""Shared fixtures: real PostgreSQL / MariaDB / OpenBao servers from ``devenv``.

A missing prerequisite skips the test locally and fails it when ``CI`` is set.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from devenv import (  # noqa: E402 - needs the sys.path entry above
    HarnessUnavailable,
    MariaDBAdmin,
    OpenBaoDevServer,
    PostgresCluster,
)

_SERVERS = pytest.StashKey[list[OpenBaoDevServer]]()
_INTEGRATION_DIR = Path(__file__).resolve().parent / "integration"


def in_ci() -> bool:
    """True when the ``CI`` environment variable is set (to anything but empty/0/false)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require(reason_or_exc: str | BaseException) -> NoReturn:
    """A prerequisite is missing: skip locally, fail under CI."""
    if isinstance(reason_or_exc, HarnessUnavailable):
        reason = reason_or_exc.reason
    else:
        reason = str(reason_or_exc)
    if in_ci():
        pytest.fail(f"prerequisite missing and CI is set: {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("yamldb")
    group.addoption(
        "--matrix",
        action="store_true",
        help="run the full compatibility matrix (every database version x OpenBao series x admin "
        "setup) instead of one smoke lifecycle each",
    )
    group.addoption(
        "--compat-report",
        metavar="PATH",
        help="write what the matrix tests saw as Markdown to PATH (make matrix: docs/compatibility.md)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "integration: needs real servers (PostgreSQL, MariaDB, OpenBao) from devenv",
    )


# Fixtures that start or reach real servers; a test using one belongs in tests/integration/.
_SERVER_FIXTURES = frozenset({"pg_cluster", "mariadb_admin", "openbao_factory"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/integration/ is marked ``integration``; nothing else may need a server."""
    misplaced = []
    for item in items:
        if _INTEGRATION_DIR in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)
        elif item.get_closest_marker("integration") or _SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            misplaced.append(item.nodeid)
    if misplaced:
        raise pytest.UsageError(f"tests that need real servers belong in tests/integration/: {misplaced}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    """Attach the tail of every OpenBao server log to a failing test's report."""
    report = yield
    if report.failed and call.when == "call":
        for server in item.stash.get(_SERVERS, []):
            tail = "\n".join(server.log_text().splitlines()[-80:])
            report.sections.append((f"OpenBao log {server.address} (last 80 lines)", tail))
    return report


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    """A throw-away PostgreSQL cluster with scram-sha-256 auth (whole session)."""
    try:
        cluster = PostgresCluster.start(auth="scram-sha-256")
    except HarnessUnavailable as exc:
        require(exc)
    with cluster:
        yield cluster


@pytest.fixture(scope="session")
def mariadb_admin() -> Iterator[MariaDBAdmin]:
    """A temporary all-privileges user on the machine's MariaDB (whole session)."""
    try:
        admin = MariaDBAdmin.start()
    except HarnessUnavailable as exc:
        require(exc)
    with admin:
        yield admin


@pytest.fixture
def tmp_plugin_dir(tmp_path: Path) -> Path:
    """An empty plugin directory (mode 0755) to build plugins into."""
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    plugin_dir.chmod(0o755)
    return plugin_dir


@pytest.fixture
def openbao_factory(
    request: pytest.FixtureRequest,
) -> Iterator[Callable[..., OpenBaoDevServer]]:
    """``start(plugin_dir, **kwargs) -> OpenBaoDevServer``; all are stopped at teardown.

    A factory because the plugin has to be in ``plugin_dir`` before the server starts.
    """
    servers: list[OpenBaoDevServer] = []
    request.node.stash[_SERVERS] = servers

    def start(plugin_dir: str | os.PathLike[str], **kwargs: Any) -> OpenBaoDevServer:
        try:
            server = OpenBaoDevServer.start(plugin_dir, **kwargs)
        except HarnessUnavailable as exc:
            require(exc)
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in reversed(servers):
            server.stop()
