"""Throw-away real servers for tests, the demo and benchmarks.

- :class:`PostgresCluster` - a private PostgreSQL cluster with scram-sha-256 auth.
- :class:`MariaDBAdmin` - a temporary admin user on the machine's MariaDB.
- :class:`MariaDBServer` - a private MariaDB server (own data dir, port, socket) for global settings.
- :class:`OpenBaoDevServer` - ``bao server -dev`` with a plugin directory.

Everything is a context manager, also stopped at interpreter exit, and raises
:class:`HarnessUnavailable` when the machine lacks a prerequisite.
"""

from devenv.mariadb import MariaDBAdmin
from devenv.mariadb_server import MariaDBServer
from devenv.openbao import OpenBaoAPIError, OpenBaoCLIError, OpenBaoDevServer
from devenv.ports import HarnessUnavailable, free_port, wait_for_port
from devenv.postgres import PostgresCluster

__all__ = [
    "HarnessUnavailable",
    "MariaDBAdmin",
    "MariaDBServer",
    "OpenBaoAPIError",
    "OpenBaoCLIError",
    "OpenBaoDevServer",
    "PostgresCluster",
    "free_port",
    "wait_for_port",
]
