"""A private Firebird 3.0 server: own port, own security database, own directory in /tmp.

Nothing of the machine's Firebird setup is used or changed: the server reads its configuration from the
instance directory (``$FIREBIRD``), keeps its users in its own ``security3.fdb`` and listens on a free
port on 127.0.0.1.

    with FirebirdServer.start() as fb:
        conn = fb.connect()          # SYSDBA, firebird-driver
        print(fb.url("ADMIN", "pw", role="RDB$ADMIN"))

Prerequisites, installed on first use when running as root: Debian ``libfbclient2`` (the client
library the drivers load), ``firebird3.0-server-core`` (engine plugins) and ``firebird3.0-utils``
(isql-fb). Only the server executable comes from ``firebird3.0-server``, unpacked into the test cache
and not installed, because installing that package starts the machine's own Firebird service.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from devenv.distributions import apt_extract, installed
from devenv.ports import HarnessUnavailable, die_with_parent_preexec, free_port, wait_for_port

__all__ = ["FirebirdServer", "ensure_firebird_packages"]

SYSTEM_PACKAGES = ("libfbclient2", "firebird3.0-server-core", "firebird3.0-utils")
_LIB = Path("/usr/lib/x86_64-linux-gnu")
_NEEDED = (
    _LIB / "libfbclient.so.2",
    _LIB / "firebird/3.0/plugins/libEngine12.so",
    Path("/usr/bin/isql-fb"),
    Path("/etc/firebird/3.0/firebird.conf"),
)
_MSG_DIR = _LIB / "firebird/3.0"
_SETTINGS = """
# --- added by devenv.firebird: private test server ---
RemoteServicePort = {port}
RemoteBindAddress = 127.0.0.1
SecurityDatabase = {security_db}
IpcName = {ipc_name}
ServerMode = Super
GuardianOption = 0
"""


def ensure_firebird_packages() -> None:
    """The Debian client library, engine and isql-fb; ``apt-get install`` them (root only) if missing."""
    if all(path.exists() for path in _NEEDED):
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise HarnessUnavailable(
            f"Firebird needs the Debian packages {' '.join(SYSTEM_PACKAGES)} (apt-get install them as root)"
        )
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *SYSTEM_PACKAGES]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for attempt in range(2):  # a fresh machine has no package lists yet: update once and retry
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=env, timeout=900, stdin=subprocess.DEVNULL, check=False
        )
        if proc.returncode == 0 and all(path.exists() for path in _NEEDED):
            return
        if attempt == 0:
            subprocess.run(
                ["apt-get", "update", "-q"],
                capture_output=True,
                env=env,
                timeout=600,
                stdin=subprocess.DEVNULL,
                check=False,
            )
    tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
    raise HarnessUnavailable(f"cannot install {' '.join(SYSTEM_PACKAGES)}: {tail}")


def server_binary() -> Path:
    """``firebird`` (SuperServer) from Debian firebird3.0-server, unpacked into the test cache."""
    found = installed(
        "firebird", "3.0-server", "Debian firebird3.0-server (unpacked)", apt_extract(("firebird3.0-server",))
    )
    binary = found.path / "root" / "usr" / "sbin" / "firebird"
    if not binary.is_file():
        raise HarnessUnavailable(f"Debian firebird3.0-server unpacked into {found.path} has no usr/sbin/firebird")
    return binary


class FirebirdServer(contextlib.AbstractContextManager):
    """A running private server; create it with :meth:`start`.

    Attributes: ``host``, ``port``, ``password`` (SYSDBA's), ``database`` (path of a fresh database),
    ``base_dir``, ``log_path``, ``version``.
    """

    host = "127.0.0.1"
    superuser = "SYSDBA"

    def __init__(self, binary: Path) -> None:
        self.binary = binary
        self.base_dir = Path(tempfile.mkdtemp(prefix="yamldb-fb-"))
        self.conf_dir = self.base_dir / "conf"
        self.data_dir = self.base_dir / "data"
        self.database = str(self.data_dir / "yamldb.fdb")
        self.log_path = self.base_dir / "firebird.log"
        self.password = secrets.token_urlsafe(15)
        self.port = 0
        self.version = ""
        self.process: subprocess.Popen[bytes] | None = None
        self._stopped = False

    @classmethod
    def start(cls) -> FirebirdServer:
        """Set up the instance directory and security database, start the server, create ``database``."""
        ensure_firebird_packages()
        server = cls(server_binary())
        atexit.register(server.stop)
        try:
            server._configure()
            server._spawn()
            server.isql(
                f"CREATE DATABASE '{server.host}/{server.port}:{server.database}' "
                f"USER '{server.superuser}' PASSWORD '{server.password}';"
            )
            with server.connect() as conn:
                cur = conn.cursor()
                cur.execute("SELECT rdb$get_context('SYSTEM', 'ENGINE_VERSION') FROM rdb$database")
                server.version = cur.fetchone()[0]
        except BaseException:
            server.stop()
            raise
        return server

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FIREBIRD", "ISC_"))}
        env.update(
            FIREBIRD=str(self.conf_dir),
            FIREBIRD_MSG=str(_MSG_DIR),
            FIREBIRD_LOCK=str(self.base_dir / "lock"),
            FIREBIRD_TMP=str(self.base_dir / "tmp"),
        )
        return env

    def _configure(self) -> None:
        for sub in ("conf", "data", "lock", "tmp"):
            (self.base_dir / sub).mkdir(mode=0o700)
        for conf in Path("/etc/firebird/3.0").glob("*.conf"):
            shutil.copy(conf, self.conf_dir / conf.name)
        security_db = self.data_dir / "security3.fdb"
        self.port = free_port(self.host)
        with (self.conf_dir / "firebird.conf").open("a") as conf:
            conf.write(
                _SETTINGS.format(port=self.port, security_db=security_db, ipc_name=f"yamldb_fb_{secrets.token_hex(6)}")
            )
        (self.conf_dir / "databases.conf").write_text(f"security.db = {security_db}\n")
        # Embedded (no server yet): an empty database is a security database once SRP has a user;
        # the SRP plugin creates its own table.
        self.isql(f"CREATE DATABASE '{security_db}';")
        self.isql(
            f"CREATE OR ALTER USER {self.superuser} PASSWORD '{self.password}';",
            database=str(security_db),
            user=self.superuser,
        )

    def _spawn(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(self.binary)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.base_dir,
                env=self._env(),
                start_new_session=True,
                preexec_fn=die_with_parent_preexec(),
            )
        try:
            wait_for_port(self.host, self.port, timeout=20)
        except TimeoutError:
            raise RuntimeError(f"firebird did not listen on {self.port}; {self.log_path}:\n{self.log_text()}") from None

    def isql(self, script: str, database: str | None = None, user: str | None = None) -> str:
        """Run ``script`` through isql-fb with this instance's configuration; returns its output."""
        args = ["isql-fb", "-q", "-b"]
        if user:
            args += ["-user", user]
        if database:
            args.append(database)
        proc = subprocess.run(
            args,
            input=script,
            capture_output=True,
            text=True,
            env=self._env(),
            cwd=self.base_dir,
            timeout=60,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"isql-fb failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
        return proc.stdout

    # ------------------------------------------------------------------ use
    @property
    def dsn(self) -> str:
        return f"{self.host}/{self.port}:{self.database}"

    def url(self, user: str | None = None, password: str | None = None, role: str | None = None) -> str:
        """SQLAlchemy URL: ``firebird+firebird://user:pw@127.0.0.1:port//path/yamldb.fdb[?role=...]``."""
        user = user or self.superuser
        password = self.password if password is None and user == self.superuser else password
        auth = quote(user, safe="") + (":" + quote(password, safe="") if password is not None else "")
        query = f"?role={quote(role, safe='$')}" if role else ""
        return f"firebird+firebird://{auth}@{self.host}:{self.port}/{self.database}{query}"

    def template_url(self, role: str | None = None) -> str:
        """The Vault/OpenBao ``connection_url`` with ``{{username}}``/``{{password}}`` placeholders."""
        query = f"?role={quote(role, safe='$')}" if role else ""
        return f"firebird+firebird://{{{{username}}}}:{{{{password}}}}@{self.host}:{self.port}/{self.database}{query}"

    def connect(self, user: str | None = None, password: str | None = None, role: str | None = None) -> Any:
        """A firebird-driver connection (defaults to SYSDBA); raises the driver's error when refused."""
        from firebird.driver import connect

        user = user or self.superuser
        password = self.password if password is None and user == self.superuser else password
        return connect(self.dsn, user=user, password=password or "", role=role)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # ------------------------------------------------------------------ stop
    def stop(self) -> None:
        """Stop the server (its process group) and remove the instance directory. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        proc = self.process
        try:
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(5)
        finally:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.process is not None and self.process.poll() is None else "stopped"
        return f"<FirebirdServer {self.host}:{self.port} {state}>"
