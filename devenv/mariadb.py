"""A temporary all-privileges admin user on the machine's MariaDB server.

Root's password is never touched: we log in as root (empty password over TCP,
else unix-socket auth), create ``yamldb_admin_<random>`` with a random password
and drop it again on exit, together with every user whose name starts with a
prefix registered through :meth:`MariaDBAdmin.track_prefix`.

    with MariaDBAdmin.start() as admin:
        admin.track_prefix("v-yamldb-")
        conn = admin.connect()
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from devenv.ports import HarnessUnavailable, port_open

__all__ = ["MariaDBAdmin", "ensure_server_running"]

MARIADBD = "/usr/sbin/mariadbd"
SOCKET = "/run/mysqld/mysqld.sock"
ADMIN_PREFIX = "yamldb_admin_"
_PROTECTED_USERS = frozenset({"root", "mysql", "mariadb.sys", "debian-sys-maint", "healthcheck", "PUBLIC"})


def ensure_server_running(host: str = "127.0.0.1", port: int = 3306, timeout: float = 20.0) -> None:
    """Make sure MariaDB listens on ``host:port``; start the machine's ``mariadbd`` if it doesn't.

    The server we start this way is the machine's own service and is left running.
    Raises :class:`HarnessUnavailable` when it is down and cannot be started.
    """
    if port_open(host, port):
        return
    if host not in ("127.0.0.1", "localhost") or port != 3306:
        raise HarnessUnavailable(f"MariaDB is not reachable on {host}:{port}")
    if not os.path.isfile(MARIADBD):
        raise HarnessUnavailable(f"MariaDB is not reachable on {host}:{port} and {MARIADBD} is not installed")
    if os.geteuid() != 0 or shutil.which("start-stop-daemon") is None:
        raise HarnessUnavailable(
            f"MariaDB is not reachable on {host}:{port}; starting it needs root and start-stop-daemon"
        )
    # /run is a tmpfs: on a fresh boot mariadbd cannot create its socket dir itself
    run_dir = Path(SOCKET).parent
    if not run_dir.exists():
        run_dir.mkdir(parents=True)
        try:
            shutil.chown(run_dir, user="mysql", group="mysql")
        except (LookupError, OSError):
            pass
    proc = subprocess.run(
        [
            "start-stop-daemon",
            "--start",
            "--oknodo",
            "--background",
            "--exec",
            MARIADBD,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if proc.returncode != 0:
        raise HarnessUnavailable(f"could not start {MARIADBD}: {proc.stderr.strip() or proc.stdout.strip()}")
    deadline = time.monotonic() + timeout
    while not port_open(host, port):
        if time.monotonic() > deadline:
            raise HarnessUnavailable(
                f"started {MARIADBD} but {host}:{port} did not open within {timeout:g}s (see /var/log/mysql/error.log)"
            )
        time.sleep(0.2)


def _literal(text: str) -> str:
    """A quoted SQL string literal (account names can't be bound as parameters)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class MariaDBAdmin:
    """Root-created temporary admin user; use as a context manager or call start()/stop().

    Attributes: ``host``, ``port``, ``user``, ``password``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 3306,
        root_user: str = "root",
        root_password: str = "",
    ) -> None:
        self.host = host
        self.port = port
        self.user = ADMIN_PREFIX + secrets.token_hex(4)
        self.password = secrets.token_urlsafe(18)
        self._root_user = root_user
        self._root_password = root_password
        self._prefixes: list[str] = []
        self._started = False
        self._stopped = False

    @classmethod
    def start(cls, host: str = "127.0.0.1", port: int = 3306) -> MariaDBAdmin:
        """Connect as root, create the admin user (@'%' and @'localhost') and return the instance."""
        admin = cls(host, port)
        admin._setup()
        return admin

    def _setup(self) -> None:
        if self._started:
            return
        ensure_server_running(self.host, self.port)
        self._started = True
        atexit.register(self.stop)
        try:
            with self._root() as conn, conn.cursor() as cur:
                for host in ("%", "localhost"):
                    account = f"{_literal(self.user)}@{_literal(host)}"
                    # no bound parameters here: pymysql would %-format the '%' host
                    cur.execute(f"CREATE USER {account} IDENTIFIED BY {_literal(self.password)}")
                    cur.execute(f"GRANT ALL PRIVILEGES ON *.* TO {account} WITH GRANT OPTION")
        except BaseException:
            self.stop()
            raise

    def _root(self) -> Any:
        """A root connection: TCP with the given password first, then unix-socket auth."""
        import pymysql

        common: dict[str, Any] = {
            "user": self._root_user,
            "password": self._root_password,
            "autocommit": True,
            "connect_timeout": 5,
            "charset": "utf8mb4",
        }
        try:
            return pymysql.connect(host=self.host, port=self.port, **common)
        except pymysql.err.OperationalError as tcp_error:
            if self.host in ("127.0.0.1", "localhost") and os.path.exists(SOCKET):
                try:
                    return pymysql.connect(unix_socket=SOCKET, **common)
                except pymysql.err.OperationalError:
                    pass
            raise HarnessUnavailable(
                f"cannot log in to MariaDB on {self.host}:{self.port} as {self._root_user!r}: {tcp_error}"
            ) from tcp_error

    def connect(
        self,
        user: str | None = None,
        password: str | None = None,
        database: str | None = None,
    ) -> Any:
        """An autocommit pymysql connection over TCP (defaults to the admin user)."""
        import pymysql

        if user is None:
            user = self.user
            if password is None:
                password = self.password
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=user,
            password=password or "",
            database=database,
            autocommit=True,
            connect_timeout=5,
            charset="utf8mb4",
        )

    def track_prefix(self, prefix: str) -> None:
        """Drop every user whose name starts with ``prefix`` when this admin is stopped.

        The server is shared (other test sessions, other engineers): make the prefix
        unique to this session, e.g. ``f"v_{secrets.token_hex(3)}_"``.
        """
        too_broad = len(prefix) < 3 or any(p.startswith(prefix) for p in _PROTECTED_USERS)
        if too_broad or ADMIN_PREFIX.startswith(prefix) or prefix.startswith(ADMIN_PREFIX):
            raise ValueError(f"refusing to track the user prefix {prefix!r}: it could match other users")
        if prefix not in self._prefixes:
            self._prefixes.append(prefix)

    def users_with_prefix(self, prefix: str) -> list[tuple[str, str]]:
        """``(user, host)`` pairs from mysql.user whose name starts with ``prefix``."""
        with self._root() as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT User, Host FROM mysql.user WHERE User LIKE %s",
                (_like_prefix(prefix),),
            )
            return [(str(u), str(h)) for u, h in cur.fetchall()]

    def stop(self) -> None:
        """Kill the sessions of and drop the admin user and all tracked users. Idempotent."""
        import pymysql

        if self._stopped or not self._started:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        with self._root() as conn, conn.cursor() as cur:
            accounts: list[tuple[str, str]] = []
            for prefix in self._prefixes:
                cur.execute(
                    "SELECT User, Host FROM mysql.user WHERE User LIKE %s",
                    (_like_prefix(prefix),),
                )
                accounts += [(str(u), str(h)) for u, h in cur.fetchall()]
            accounts += [(self.user, "%"), (self.user, "localhost")]
            accounts = [a for a in dict.fromkeys(accounts) if a[0] not in _PROTECTED_USERS]
            names = sorted({user for user, _ in accounts})
            if names:
                marks = ", ".join(["%s"] * len(names))
                cur.execute(
                    f"SELECT ID FROM information_schema.PROCESSLIST WHERE USER IN ({marks}) AND ID <> CONNECTION_ID()",
                    names,
                )
                for (conn_id,) in cur.fetchall():
                    with contextlib.suppress(pymysql.err.MySQLError):  # already gone
                        cur.execute(f"KILL {int(conn_id)}")
            for user, host in accounts:
                cur.execute(f"DROP USER IF EXISTS {_literal(user)}@{_literal(host)}")

    def __enter__(self) -> MariaDBAdmin:
        self._setup()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<MariaDBAdmin {self.user}@{self.host}:{self.port}>"
