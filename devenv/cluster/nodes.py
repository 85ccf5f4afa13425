"""A 3-node OpenBao cluster on 127.0.0.1: non-dev servers, integrated raft storage, init and unseal.

    with OpenBaoCluster.start({"yamldb-database-plugin": built.path}) as cluster:
        cluster.register("yamldb", "yamldb-database-plugin", built.version)
        cluster.api("POST", "sys/mounts/database", {"type": "database"})
        old = cluster.active()
        cluster.kill(old)                 # SIGKILL, as a crash
        new = cluster.wait_active()       # a standby took over
        cluster.start_node(old)           # back as a standby

Each node is a ``bao server -config=...`` process, leader of its own process group
(so its plugin processes can be found and stopped even after the server was killed),
with its own directory under one temporary directory: ``config.hcl``, raft data,
``plugin_directory`` holding a copy of every plugin file, ``HOME`` (the plugin's
unpack cache, ``~/.cache/yamldb-plugin``), ``TMPDIR`` (the plugin's sockets) and the
log. :meth:`OpenBaoCluster.stop` stops every process, plugins included, and removes
the directory.

``python -m devenv.cluster`` runs one for a person (``devenv/cluster/__main__.py``).
"""

from __future__ import annotations

import atexit
import hashlib
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from devenv.openbao import (
    OpenBaoAPIError,
    OpenBaoServer,
    find_bao,
    group_members,
    kill_processes,
    process_start_time,
)
from devenv.pluginfile import PLUGIN_FILE, plugin_version
from devenv.ports import HarnessUnavailable, free_ports

__all__ = ["FAST", "PRODUCTION", "ClusterNode", "OpenBaoCluster", "poll"]

T = TypeVar("T")
# sys/health answers with one of these; each still carries the JSON body.
HEALTH_CODES = (200, 429, 472, 473, 501, 503)

_STORAGE = """\
storage "raft" {{
  path    = "{data}"
  node_id = "{name}"
{tuning}{joins}}}

listener "tcp" {{
  address         = "127.0.0.1:{api_port}"
  cluster_address = "127.0.0.1:{cluster_port}"
  tls_disable     = true
}}

api_addr         = "http://127.0.0.1:{api_port}"
cluster_addr     = "https://127.0.0.1:{cluster_port}"
plugin_directory = "{plugins}"
"""
#: OpenBao's recommendation for production: raft's fastest timing (its default, 5, takes
#: 5-10 s longer to notice a dead leader).
PRODUCTION: Mapping[str, str | int] = {"performance_multiplier": 1}
#: For tests: autopilot promotes joining nodes to voters within a few seconds instead of ~20.
FAST: Mapping[str, str | int] = {
    **PRODUCTION,
    "autopilot_reconcile_interval": "1s",
    "autopilot_update_interval": "500ms",
}
_JOIN = '  retry_join {{ leader_api_addr = "http://127.0.0.1:{port}" }}\n'


def _hcl(value: str | int) -> str:
    return str(value) if isinstance(value, int) else '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def poll(what: str, check: Callable[[], T | None], timeout: float, interval: float = 0.1) -> T:
    """Call ``check`` until it returns something other than None/False; TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is not None and result is not False:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not within {timeout:g}s")
        time.sleep(interval)


class ClusterNode(OpenBaoServer):
    """One node: ``name`` (``n1``), ``address``/``port`` (API), ``cluster_port``, ``config_path``."""

    new_session = True

    def __init__(
        self, name: str, *, bao: Path, base_dir: Path, log_level: str, api_port: int, cluster_port: int
    ) -> None:
        base_dir.mkdir(mode=0o700)
        super().__init__(bao=bao, plugin_dir=base_dir / "plugins", log_level=log_level, base_dir=base_dir)
        self.name = name
        self.port = api_port
        self.cluster_port = cluster_port
        self.config_path = base_dir / "config.hcl"
        self.data_dir = base_dir / "data"
        self.tmp_dir = base_dir / "tmp"
        self.plugin_dir.mkdir(mode=0o755)
        self.data_dir.mkdir(mode=0o700)
        self.tmp_dir.mkdir(mode=0o700)
        self._groups: dict[int, int] = {}  # process group of each start -> its leader's start time

    def write_config(self, peers: Iterable[ClusterNode], raft: Mapping[str, str | int], extra: str = "") -> None:
        """``extra``: more HCL, e.g. ``plugin`` blocks (``{plugin_directory}`` is replaced by this node's)."""
        tuning = "".join(f"  {key} = {_hcl(value)}\n" for key, value in raft.items())
        self.config_path.write_text(
            _STORAGE.format(
                data=self.data_dir,
                name=self.name,
                tuning=tuning,
                joins="".join(_JOIN.format(port=peer.port) for peer in peers if peer is not self),
                api_port=self.port,
                cluster_port=self.cluster_port,
                plugins=self.plugin_dir,
            )
            + extra.replace("{plugin_directory}", str(self.plugin_dir))
        )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.running and self.process is not None else None

    # ---------------------------------------------------------------- process
    def _server_args(self) -> list[str]:
        return [str(self.bao), "server", f"-config={self.config_path}", f"-log-level={self.log_level}"]

    def plugin_env(self) -> dict[str, str]:
        """The environment the server, and so its plugins, run with: this node's HOME and TMPDIR only."""
        env = super()._server_env()
        for inherited in ("XDG_CACHE_HOME", "YAMLDB_PLUGIN_CACHE"):  # would make the nodes share a cache
            env.pop(inherited, None)
        env["TMPDIR"] = str(self.tmp_dir)
        return env

    _server_env = plugin_env

    def _launch(self) -> None:
        super()._launch()
        assert self.process is not None
        self._groups[self.process.pid] = process_start_time(self.process.pid) or 0

    def _healthy(self) -> bool:
        return self.health() is not None  # listening; sealed or not

    def launch(self, timeout: float = 30.0) -> None:
        """Start the server process and wait until its listener answers (it starts sealed)."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        if not self._spawn_and_wait(timeout):
            code = self.process.returncode if self.process is not None else None
            raise RuntimeError(
                f"{self.name}: bao server exited with code {code}; last lines of {self.log_path}:\n"
                + "\n".join(self.log_text().splitlines()[-30:])
            )

    def kill(self) -> None:
        """SIGKILL the server process only, as a crash would; its plugins are left to notice."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def leftovers(self) -> dict[int, int]:
        """Processes (plugins) still alive in the process groups of this node's stopped or killed runs."""
        live: dict[int, int] = {}
        for pgid, since in self._groups.items():
            if pgid != self.pid:  # the running server's group holds its live plugins
                live.update(group_members(pgid, since))
        return live

    def _stop_process(self, timeout: float = 5.0) -> None:
        super()._stop_process(timeout)
        kill_processes(self.leftovers())  # also the plugins of earlier, killed runs

    # ---------------------------------------------------------------- state
    def health(self) -> dict[str, Any] | None:
        """``sys/health`` (``initialized``, ``sealed``, ``standby``, ...); None while nothing listens."""
        if not self.running:
            return None
        try:
            return self.api("GET", "sys/health", expect=HEALTH_CODES, timeout=3)
        except (OSError, OpenBaoAPIError):
            return None

    def role(self) -> str:
        """``active``, ``standby``, ``sealed``, ``uninitialized`` or ``down``."""
        state = self.health()
        if state is None:
            return "down"
        if not state.get("initialized"):
            return "uninitialized"
        if state.get("sealed"):
            return "sealed"
        return "standby" if state.get("standby") else "active"

    def is_active(self) -> bool:
        return self.role() == "active"

    def __repr__(self) -> str:
        return f"<ClusterNode {self.name} {self.address} {'running' if self.running else 'stopped'}>"


class OpenBaoCluster:
    """A running cluster; create it with :meth:`start`.

    Attributes: ``nodes``, ``token`` (root), ``unseal_key``, ``base_dir``, ``bao``.
    """

    def __init__(self, *, bao: Path, base_dir: Path, log_level: str, raft: Mapping[str, str | int]) -> None:
        self.bao = bao
        self.base_dir = base_dir
        self.log_level = log_level
        self.raft = dict(raft)
        self.extra_config = ""
        self.nodes: list[ClusterNode] = []
        self.plugins: dict[str, Path] = {}  # file name in plugin_directory -> the source copied
        self.token = ""
        self.unseal_key = ""
        self._stopped = False

    # ---------------------------------------------------------------- start
    @classmethod
    def start(
        cls,
        plugins: Mapping[str, str | Path] | None = None,
        *,
        size: int = 3,
        bao_binary: str | Path | None = None,
        log_level: str = "info",
        raft: Mapping[str, str | int] = PRODUCTION,
        stabilization_time: str | None = None,
        warm: bool = True,
        extra_config: str = "",
        timeout: float = 90.0,
    ) -> OpenBaoCluster:
        """Start ``size`` nodes, initialise and unseal them; returns once every node is a raft voter.

        ``plugins`` maps a file name in ``plugin_directory`` to the file to copy there on
        every node (``warm``: and run it once, see :meth:`install_plugin`). ``raft`` adds
        settings to the ``storage "raft"`` block (:data:`PRODUCTION`, :data:`FAST`).
        ``stabilization_time`` sets autopilot's ``server_stabilization_time`` (default 10s)
        before the other nodes join. ``extra_config`` is appended to every node's config file.
        Raises :class:`HarnessUnavailable` without a ``bao`` binary, ``RuntimeError`` or
        ``TimeoutError`` (with log tails) when the cluster does not form.
        """
        if size < 1:
            raise ValueError("size must be >= 1")
        bao = find_bao(bao_binary)
        cluster = cls(
            bao=bao, base_dir=Path(tempfile.mkdtemp(prefix="yamldb-cluster-")), log_level=log_level, raft=raft
        )
        cluster.extra_config = extra_config
        atexit.register(cluster.stop)
        try:
            for attempt in range(3):
                cluster._create_nodes(size)
                for name, source in (plugins or {}).items():
                    cluster.install_plugin(name, Path(source), warm)
                try:
                    for node in cluster.nodes:
                        node.launch(timeout)
                    break
                except RuntimeError as exc:  # a port was taken between choosing it and binding it
                    if attempt == 2 or "address already in use" not in str(exc):
                        raise
                    cluster._drop_nodes()
            cluster._initialize(stabilization_time, timeout)
        except BaseException as exc:
            detail = cluster.log_tails() if not isinstance(exc, (KeyboardInterrupt, HarnessUnavailable)) else ""
            cluster.stop()
            if detail:
                raise RuntimeError(f"{exc}\n{detail}") from exc
            raise
        return cluster

    def _create_nodes(self, size: int) -> None:
        ports = free_ports(2 * size)
        self.nodes = [
            ClusterNode(
                f"n{i + 1}",
                bao=self.bao,
                base_dir=self.base_dir / f"n{i + 1}",
                log_level=self.log_level,
                api_port=ports[2 * i],
                cluster_port=ports[2 * i + 1],
            )
            for i in range(size)
        ]
        self.write_configs()

    def write_configs(self, extra_config: str | None = None) -> None:
        """(Re)write every node's config file; a running node reads it again on :meth:`reload`."""
        if extra_config is not None:
            self.extra_config = extra_config
        for node in self.nodes:
            node.write_config(self.nodes, self.raft, self.extra_config)

    def reload(self, node: ClusterNode) -> None:
        """SIGHUP: the node reads its config file again (and registers declared plugins if it is active)."""
        if node.process is not None and node.running:
            node.process.send_signal(signal.SIGHUP)

    def _drop_nodes(self) -> None:
        for node in self.nodes:
            node.stop()
        self.nodes = []

    def _initialize(self, stabilization_time: str | None, timeout: float) -> None:
        first = self.nodes[0]
        init = first.api("PUT", "sys/init", {"secret_shares": 1, "secret_threshold": 1})
        self.unseal_key, self.token = init["keys_base64"][0], init["root_token"]
        for node in self.nodes:
            node.token = self.token
        self.unseal(first, timeout)
        self.wait_active(timeout)
        if stabilization_time:
            first.api(
                "POST", "sys/storage/raft/autopilot/configuration", {"server_stabilization_time": stabilization_time}
            )
        for node in self.nodes[1:]:
            self.unseal(node, timeout)
        self.wait_ready(timeout)

    # ---------------------------------------------------------------- plugins
    def install_plugin(self, file_name: str, source: Path, warm: bool = True) -> str:
        """Copy ``source`` into every node's plugin_directory as ``file_name`` (mode 0755); returns its sha256.

        ``warm`` runs the copy once with ``--version`` in the node's environment, as a deploy
        step does: the unpack cache is filled before the node's first request needs it.
        """
        sha256 = hashlib.sha256(source.read_bytes()).hexdigest()
        for node in self.nodes:
            target = node.plugin_dir / file_name
            partial = target.with_name(f".{file_name}.partial")
            shutil.copyfile(source, partial)
            partial.chmod(0o755)
            partial.replace(target)  # atomic: a node never runs a half-copied file
        if warm:
            with ThreadPoolExecutor(len(self.nodes)) as pool:
                list(pool.map(lambda n: plugin_version(n.plugin_dir / file_name, n.plugin_env()), self.nodes))
        self.plugins[file_name] = source
        return sha256

    def register(
        self,
        name: str,
        file_name: str = PLUGIN_FILE,
        version: str = "",
        *,
        env: Iterable[str] = (),
        args: Iterable[str] = (),
    ) -> str:
        """Register ``file_name`` (installed on every node) in the catalog as database plugin ``name``."""
        sha256 = hashlib.sha256((self.nodes[0].plugin_dir / file_name).read_bytes()).hexdigest()
        body: dict[str, Any] = {"sha256": sha256, "command": file_name, "env": list(env), "args": list(args)}
        if version:
            body["version"] = version
        self.api("POST", f"sys/plugins/catalog/database/{name}", body)
        return sha256

    # ---------------------------------------------------------------- state
    def active(self, timeout: float = 60.0) -> ClusterNode:
        """The active node (waits for one up to ``timeout`` s)."""
        return self.wait_active(timeout)

    def wait_active(self, timeout: float = 60.0, among: Iterable[ClusterNode] | None = None) -> ClusterNode:
        candidates = list(among) if among is not None else self.nodes
        return poll("an active node", lambda: next((n for n in candidates if n.is_active()), None), timeout)

    def standbys(self) -> list[ClusterNode]:
        """Running, unsealed nodes that are not active."""
        return [node for node in self.nodes if node.role() == "standby"]

    def unseal(self, node: ClusterNode, timeout: float = 60.0) -> None:
        """Give ``node`` the unseal key until it is unsealed (a joining node needs the leader first)."""
        last: list[str] = []

        def unsealed() -> bool:
            try:
                return not node.api("PUT", "sys/unseal", {"key": self.unseal_key}, timeout=10)["sealed"]
            except (OSError, OpenBaoAPIError) as exc:
                last[:] = [str(exc)]
                return False

        try:
            poll(f"{node.name} unsealed", unsealed, timeout, interval=0.25)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}; last answer: {last[0] if last else '(sealed)'}") from None

    def raft_servers(self) -> list[dict[str, Any]]:
        """``sys/storage/raft/configuration`` servers: node_id, address, leader, voter."""
        return list(self.api("GET", "sys/storage/raft/configuration")["data"]["config"]["servers"])

    def wait_ready(self, timeout: float = 90.0) -> ClusterNode:
        """Until one node is active, every running node unsealed, known to the leader as a voter,
        and pointed at the leader; returns the active node."""

        def ready() -> ClusterNode | None:
            active = next((n for n in self.nodes if n.is_active()), None)
            if active is None:
                return None
            running = {n.name for n in self.nodes if n.running}
            try:
                servers = self.raft_servers()
            except (OSError, OpenBaoAPIError):
                return None
            voters = {s["node_id"] for s in servers if s.get("voter")}
            if not running <= voters:
                return None
            for node in self.nodes:
                if node.running and node is not active:
                    try:
                        leader = node.api("GET", "sys/leader", timeout=3)
                    except (OSError, OpenBaoAPIError):
                        return None
                    if leader.get("leader_address") != active.address:
                        return None
            return active

        return poll("cluster ready (one active node, every node an unsealed voter)", ready, timeout, 0.25)

    # ---------------------------------------------------------------- faults
    def kill(self, node: ClusterNode) -> float:
        """SIGKILL ``node``'s server; returns ``time.monotonic()`` just before the signal."""
        sent = time.monotonic()
        node.kill()
        return sent

    def start_node(self, node: ClusterNode, timeout: float = 60.0) -> None:
        """Start a stopped or killed node again and unseal it; it rejoins as a standby."""
        node.launch(timeout)
        self.unseal(node, timeout)

    def stop_all(self, timeout: float = 30.0) -> None:
        """SIGTERM every node at once, as stopping the service everywhere does, and wait for each."""
        self._signal_all(signal.SIGTERM)
        for node in self.nodes:
            node.terminate(timeout)

    def _signal_all(self, sig: signal.Signals) -> None:
        for node in self.nodes:
            if node.running and node.process is not None:
                node.process.send_signal(sig)

    def start_all(self, timeout: float = 90.0) -> ClusterNode:
        """Start every stopped node, unseal all, wait until the cluster is ready; returns the active node."""
        for node in self.nodes:
            if not node.running:
                node.launch(timeout)
        for node in self.nodes:
            self.unseal(node, timeout)
        return self.wait_ready(timeout)

    def leftovers(self) -> dict[str, dict[int, int]]:
        """Per node, processes outliving their server (plugins of a stopped or killed server)."""
        return {node.name: node.leftovers() for node in self.nodes if node.leftovers()}

    # ---------------------------------------------------------------- use
    def api(
        self,
        method: str,
        path: str,
        json: Mapping[str, Any] | None = None,
        expect: Iterable[int] = (200, 204),
        **kwargs: Any,
    ) -> dict[str, Any]:
        """:meth:`OpenBaoServer.api` on the active node."""
        return self.active().api(method, path, json, expect, **kwargs)

    def cli(self, *args: str, **kwargs: Any) -> Any:
        """:meth:`OpenBaoServer.cli` against the active node."""
        return self.active().cli(*args, **kwargs)

    def log_tails(self, lines: int = 25) -> str:
        return "\n".join(
            f"--- {node.name} {node.log_path} (last {lines} lines)\n" + "\n".join(node.log_text().splitlines()[-lines:])
            for node in self.nodes
        )

    # ---------------------------------------------------------------- stop
    def stop(self) -> None:
        """Stop every node and every plugin process, remove the temp directory. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        try:
            self._signal_all(signal.SIGTERM)  # all at once: the nodes shut down in parallel
            for node in self.nodes:
                node.stop()
        finally:
            for node in self.nodes:  # a plugin that outlived a killed server and slipped past node.stop()
                kill_processes(node.leftovers())
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> OpenBaoCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<OpenBaoCluster {' '.join(n.name + '@' + str(n.port) for n in self.nodes)}>"
