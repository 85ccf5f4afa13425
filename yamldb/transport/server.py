"""The plugin process: go-plugin handshake, servers, and the one owner of shutdown.

Order matters (plugin-protocol.md §1, §10): check the magic cookie, negotiate
the protocol version, start the gRPC server on a private socket and the mTLS
terminator on the public one, then print the handshake line as the very first
bytes on stdout. After that, wait for Shutdown, SIGTERM or the host's death.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import stat
import sys
import tempfile
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc

from yamldb import __version__
from yamldb.errors import YamldbError
from yamldb.lifecycle.instances import Instances
from yamldb.transport import hclog
from yamldb.transport.services import DatabaseServicer, GoPluginServices
from yamldb.transport.terminator import Terminator
from yamldb.transport.tls import PendingIdentity, generate_identity, server_context

__all__ = [
    "CORE_PROTOCOL_VERSION",
    "MAGIC_COOKIE_KEY",
    "MAGIC_COOKIE_VALUE",
    "MAX_MESSAGE",
    "NO_PID_GRACE_SECONDS",
    "RPC_WORKERS",
    "SOCKET_DIR_PREFIX",
    "SUPPORTED_VERSIONS",
    "HandshakeError",
    "LaunchEnvironment",
    "PluginProcess",
    "main",
    "plugin_version",
    "remove_socket_dir",
    "serve",
    "sweep_stale_socket_dirs",
]

log = logging.getLogger("yamldb.transport")

MAGIC_COOKIE_KEY = "VAULT_DATABASE_PLUGIN"
MAGIC_COOKIE_VALUE = "926a0820-aea2-be28-51d6-83cdf00e8edb"
CORE_PROTOCOL_VERSION = 1
# 5 and 6 are the same dbplugin v5 API; 6 is what multiplexing Go plugins answer.
SUPPORTED_VERSIONS = (6, 5)
# go-plugin dials with MaxInt32 message sizes; match it so large statements never fail.
MAX_MESSAGE = 2**31 - 1
# Its own prefix: the sweep below must never touch yamldb's other temp directories (TLS files, the
# fallback plugin cache, test clusters), which all start with "yamldb-" too.
SOCKET_DIR_PREFIX = "yamldb-sock-"
RPC_WORKERS = 12
NO_PID_GRACE_SECONDS = 60.0


class HandshakeError(YamldbError):
    """The environment is not that of a go-plugin host launching a database plugin."""


@dataclass(frozen=True)
class LaunchEnvironment:
    protocol_version: int
    client_cert_pem: str
    socket_dir: str | None
    socket_group: str | None
    metadata_mode: bool

    @classmethod
    def from_env(cls, env: dict[str, str]) -> LaunchEnvironment:
        if env.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE_VALUE:
            raise HandshakeError(
                "This binary is a plugin. These are not meant to be executed directly.\n"
                "Please execute the program that consumes these plugins, which will\n"
                "load any plugins automatically (yamldb: register it as a Vault/OpenBao database plugin)."
            )
        offered: list[int] = []
        for part in env.get("PLUGIN_PROTOCOL_VERSIONS", "").split(","):
            part = part.strip()
            if part.isdigit():
                offered.append(int(part))
        chosen = next((v for v in SUPPORTED_VERSIONS if v in offered), None)
        if chosen is None:
            raise HandshakeError(
                f"yamldb speaks database plugin protocol 5/6; the host offered {offered or 'none'} "
                "(the v4 fallback launch is not supported)"
            )
        cert = env.get("PLUGIN_CLIENT_CERT", "")
        if "BEGIN CERTIFICATE" not in cert:
            raise HandshakeError("PLUGIN_CLIENT_CERT is missing: yamldb only runs with go-plugin AutoMTLS")
        metadata = (env.get("BAO_PLUGIN_METADATA_MODE") or env.get("VAULT_PLUGIN_METADATA_MODE") or "").lower()
        return cls(
            protocol_version=chosen,
            client_cert_pem=cert,
            socket_dir=env.get("PLUGIN_UNIX_SOCKET_DIR") or None,
            socket_group=env.get("PLUGIN_UNIX_SOCKET_GROUP") or None,
            metadata_mode=metadata == "true",
        )


def plugin_version() -> str:
    return f"v{__version__}"


class PluginProcess:
    """Owns every resource of the running plugin and tears them down once."""

    def __init__(
        self, launch: LaunchEnvironment, instances: Instances, identity: PendingIdentity | None = None
    ) -> None:
        self.launch = launch
        self.instances = instances
        self.pending_identity = identity
        self.shutdown = threading.Event()
        # mkdtemp creates the directory 0700: only our uid can reach the sockets.
        self.private_dir = Path(tempfile.mkdtemp(prefix=SOCKET_DIR_PREFIX, dir=launch.socket_dir))
        (self.private_dir / "pid").write_text(str(os.getpid()))
        self.public_socket = self.private_dir / "plugin.sock"
        self.backend_socket = self.private_dir / "grpc.sock"
        self.grpc_server: grpc.Server | None = None
        self.terminator: Terminator | None = None

    def start(self) -> str:
        """Start serving; return the handshake line (without newline)."""
        self.grpc_server = grpc.server(
            # Few workers: the GIL serialises Python work anyway, and 64 threads contending for 4 pooled
            # connections tripled p99 in the benchmark. Two are held by the host's stdio/broker streams.
            futures.ThreadPoolExecutor(max_workers=RPC_WORKERS, thread_name_prefix="yamldb-rpc"),
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE),
                ("grpc.max_send_message_length", MAX_MESSAGE),
                ("grpc.so_reuseport", 0),
            ],
        )
        self.grpc_server.add_generic_rpc_handlers(
            [DatabaseServicer(self.instances).handler(), *GoPluginServices(self.shutdown, plugin_version()).handlers()]
        )
        self.grpc_server.add_insecure_port(f"unix:{self.backend_socket}")
        self.grpc_server.start()

        identity = self.pending_identity.result() if self.pending_identity is not None else generate_identity()
        context = server_context(identity, self.launch.client_cert_pem, self.private_dir)
        self.terminator = Terminator(self.public_socket, self.backend_socket, context)
        self.terminator.start()
        self._apply_socket_group()
        return "|".join(
            [
                str(CORE_PROTOCOL_VERSION),
                str(self.launch.protocol_version),
                "unix",
                str(self.public_socket),
                "grpc",
                identity.handshake_field,
            ]
        )

    def _apply_socket_group(self) -> None:
        # Container runners ask for group access (go-plugin does chown + 0660 likewise).
        group = self.launch.socket_group
        if not group:
            return
        gid = int(group) if group.isdigit() else __import__("grp").getgrnam(group).gr_gid
        for path in (self.private_dir, self.public_socket):
            os.chown(path, -1, gid)
        os.chmod(self.private_dir, 0o750)
        os.chmod(self.public_socket, 0o660)

    def wait(self) -> None:
        parent = os.getppid()
        while not self.shutdown.wait(0.25):
            if os.getppid() != parent:
                log.warning("the host process went away; exiting")
                break

    def stop(self) -> None:
        # gRPC first, with a short grace, so the Shutdown reply still travels out through the terminator.
        if self.grpc_server is not None:
            self.grpc_server.stop(grace=0.2).wait(0.5)
        if self.terminator is not None:
            self.terminator.stop()
        closer = threading.Thread(target=self.instances.close_all, daemon=True)
        closer.start()
        closer.join(0.8)  # the host SIGKILLs 2 s after Shutdown; never risk that
        remove_socket_dir(self.private_dir)


def remove_socket_dir(directory: Path) -> None:
    """Remove a plugin's socket directory, its pid file last: a process killed half-way through leaves a
    directory that the next plugin's sweep still recognises (it skips directories without a pid file)."""
    for entry in directory.glob("*"):
        if entry.name != "pid":
            entry.unlink(missing_ok=True)
    shutil.rmtree(directory, ignore_errors=True)


def sweep_stale_socket_dirs(parent: Path) -> int:
    """Remove socket directories of plugin processes that were SIGKILLed (they cannot clean up).

    Only directories owned by this user: those whose pid file names a process that is gone, and those
    without a pid file that hold nothing but sockets and are older than a minute (a plugin writes its
    pid file right after creating the directory, so only a removal cut short leaves one without)."""
    removed = 0
    for directory in parent.glob(f"{SOCKET_DIR_PREFIX}*"):
        try:
            stale = _is_stale(directory)
        except (OSError, ValueError):
            continue  # gone meanwhile, unreadable, or a live process of another user
        if stale:
            remove_socket_dir(directory)
            removed += 1
    return removed


def _is_stale(directory: Path) -> bool:
    info = directory.stat()
    if info.st_uid != os.getuid():
        return False
    try:
        pid = int((directory / "pid").read_text())
    except FileNotFoundError:
        if time.time() - info.st_mtime < NO_PID_GRACE_SECONDS:
            return False  # a fresh one gets its pid file next
        return all(stat.S_ISSOCK(entry.lstat().st_mode) for entry in directory.iterdir())
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _warm_up() -> None:
    try:
        # Everything Initialize needs and the handshake did not; SQLAlchemy is the slowest import of all.
        import yamldb.engine.executor
        import yamldb.engine.urls
        import yamldb.lifecycle.database  # noqa: F401
    except Exception as exc:  # only a head start; Initialize imports again and reports properly
        log.debug("warm-up import failed", extra={"fields": {"error": type(exc).__name__}})


def serve(env: dict[str, str] | None = None, identity: PendingIdentity | None = None) -> int:
    """Entry point of the plugin executable. Returns the process exit code."""
    env = dict(os.environ if env is None else env)
    real_stdout = sys.stdout
    # Until the handshake is written, nothing else may reach stdout; afterwards the host discards it.
    sys.stdout = sys.stderr
    hclog.configure(hclog.level_from_env(env))
    try:
        launch = LaunchEnvironment.from_env(env)
    except HandshakeError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    # go-plugin servers ignore Ctrl-C: the host stops plugins itself (Shutdown, then SIGKILL).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    process = PluginProcess(launch, Instances(), identity)
    signal.signal(signal.SIGTERM, lambda *_: process.shutdown.set())
    try:
        line = process.start()
    except Exception as exc:
        log.error("plugin failed to start", extra={"fields": {"error": f"{type(exc).__name__}: {exc}"}})
        process.stop()
        return 1
    real_stdout.write(line + "\n")
    real_stdout.flush()
    if not launch.metadata_mode:
        # The host's Initialize follows within milliseconds; import the engine meanwhile, off the handshake path.
        threading.Thread(target=_warm_up, name="yamldb-warmup", daemon=True).start()
        threading.Thread(
            target=sweep_stale_socket_dirs, args=(process.private_dir.parent,), name="yamldb-sweep", daemon=True
        ).start()
    log.debug(
        "plugin started",
        extra={
            "fields": {
                "version": plugin_version(),
                "protocol": launch.protocol_version,
                "metadata_mode": launch.metadata_mode,
            }
        },
    )
    process.wait()
    process.stop()
    log.debug("plugin stopped")
    return 0


def main(identity: PendingIdentity | None = None) -> None:
    # grpc's C core writes its own unstructured lines to fd 2; keep it to real errors.
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    code = serve(identity=identity)
    sys.stderr.flush()
    # Skip interpreter teardown: grpc's worker threads can delay a normal exit past the host's 2 s.
    os._exit(code)
