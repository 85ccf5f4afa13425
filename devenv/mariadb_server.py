"""A private, throw-away MariaDB server: own data directory, port and socket under /tmp.

For tests that need a global setting (``sql_mode``, ...) the machine's shared server must never get:

    with MariaDBServer.start(["--sql-mode=NO_BACKSLASH_ESCAPES,ANSI_QUOTES"]) as server:
        with MariaDBAdmin.start(server.host, server.port) as admin:
            ...

``root`` has no password and is reachable over TCP on 127.0.0.1 only. The server runs in its own process
group; a watchdog stops it and removes the directory if this process dies without cleaning up.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from devenv.mariadb import MARIADBD
from devenv.ports import HarnessUnavailable, free_port, port_open

__all__ = ["MariaDBServer"]

INSTALL_DB = "mariadb-install-db"
# $1 = pid to watch, $2 = server pid file, $3 = base dir.
_WATCHDOG = """
parent=$1; pidfile=$2; base=$3
while kill -0 "$parent" 2>/dev/null; do sleep 1; done
[ -f "$pidfile" ] && kill -9 "$(cat "$pidfile")" 2>/dev/null
rm -rf "$base"
"""


class MariaDBServer(contextlib.AbstractContextManager):
    """Attributes: ``host``, ``port``, ``base_dir``, ``socket``, ``log_path``."""

    host = "127.0.0.1"

    def __init__(self, args: Sequence[str]) -> None:
        self.args = list(args)
        self.base_dir = Path(tempfile.mkdtemp(prefix="yamldb-maria-"))
        self.data_dir = self.base_dir / "data"
        self.socket = self.base_dir / "mysqld.sock"
        self.pid_file = self.base_dir / "mysqld.pid"
        self.log_path = self.base_dir / "error.log"
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._stopped = False

    @classmethod
    def start(cls, args: Sequence[str] = (), timeout: float = 60.0) -> MariaDBServer:
        """Initialise a data directory and start ``mariadbd`` with extra ``args``; return once it accepts TCP."""
        install = shutil.which(INSTALL_DB)
        if install is None or not os.path.isfile(MARIADBD):
            raise HarnessUnavailable(f"a private MariaDB needs {MARIADBD} and {INSTALL_DB} (Debian mariadb-server)")
        server = cls(args)
        atexit.register(server.stop)
        try:
            server._init(install)
            server._run(timeout)
        except BaseException:
            server.stop()
            raise
        return server

    def _user_args(self) -> list[str]:
        if os.geteuid() != 0:
            return []
        shutil.chown(self.base_dir, user="mysql", group="mysql")  # mariadbd will not run as root
        return ["--user=mysql"]

    def _init(self, install: str) -> None:
        proc = subprocess.run(
            [
                install,
                "--no-defaults",
                f"--datadir={self.data_dir}",
                *self._user_args(),
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=self.base_dir,
        )
        if proc.returncode != 0:
            raise HarnessUnavailable(f"{INSTALL_DB} failed: {(proc.stderr or proc.stdout).strip()[-400:]}")

    def _run(self, timeout: float) -> None:
        self.port = free_port(self.host)
        self._process = subprocess.Popen(
            [
                MARIADBD,
                "--no-defaults",
                f"--datadir={self.data_dir}",
                *self._user_args(),
                f"--port={self.port}",
                f"--bind-address={self.host}",
                f"--socket={self.socket}",
                f"--pid-file={self.pid_file}",
                f"--log-error={self.log_path}",
                "--skip-name-resolve",
                "--skip-log-bin",
                "--performance-schema=OFF",
                "--innodb-buffer-pool-size=16M",
                *self.args,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._watchdog = subprocess.Popen(
            ["/bin/sh", "-c", _WATCHDOG, "maria-watchdog", str(os.getpid()), str(self.pid_file), str(self.base_dir)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd="/",
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not port_open(self.host, self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise HarnessUnavailable(f"the private mariadbd did not start: {self.log_tail()}")
            time.sleep(0.1)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and remove its directory. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        if self._process is not None and self._process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait(5)
        if self._watchdog is not None and self._watchdog.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._watchdog.pid, signal.SIGKILL)
            self._watchdog.wait(5)
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def __exit__(self, *exc: object) -> None:
        self.stop()
