"""`python -m devenv.cluster` (`make cluster`): a 3-node OpenBao cluster with yamldb, until Ctrl-C.

Builds the plugin (or takes --plugin FILE), starts the nodes, registers yamldb with
its sha256 and version, mounts the database engine, starts a throw-away PostgreSQL
with a connection `pg` and a role `app`, prints the addresses, the root token and
commands to try, then reports node changes (a killed node, a new active node) until
Ctrl-C or SIGTERM. Everything started is then stopped and removed.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import select
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

from devenv.cluster.nodes import PRODUCTION, OpenBaoCluster
from devenv.pluginfile import PLUGIN_FILE, build_plugin, plugin_version
from devenv.ports import HarnessUnavailable
from devenv.postgres import PostgresCluster


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m devenv.cluster", description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=int, default=3, help="number of nodes (default 3)")
    p.add_argument("--plugin", type=Path, help="a built plugin file (default: yamldb plugin build from this checkout)")
    p.add_argument("--no-postgres", action="store_true", help="no PostgreSQL, no connection, no role")
    p.add_argument(
        "--performance-multiplier",
        type=int,
        default=PRODUCTION["performance_multiplier"],
        help="raft performance_multiplier (1: fastest elections, as recommended; 5: OpenBao's default)",
    )
    p.add_argument("--log-level", default="info", help="the nodes' log level")
    p.add_argument("--bao", help="the bao binary (default: the venv's, else PATH)")
    return p.parse_args(argv)


def _stop_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def describe(cluster: OpenBaoCluster) -> str:
    return "\n".join(
        f"  {node.name}  {node.role():8} {node.address:24} cluster 127.0.0.1:{node.cluster_port:<6} "
        f"pid {node.pid or '-':<8} {node.base_dir}"
        for node in cluster.nodes
    )


def run(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    cluster: OpenBaoCluster | None = None
    work = Path(tempfile.mkdtemp(prefix="yamldb-cluster-cli-"))
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, work, True)
        try:
            if args.plugin:
                plugin, version = (
                    args.plugin.resolve(),
                    plugin_version(args.plugin.resolve(), {"YAMLDB_PLUGIN_CACHE": str(work / "cache")}),
                )
            else:
                print("building the plugin: yamldb plugin build --output ...", flush=True)
                built = build_plugin(work)
                plugin, version = built.path, built.version
            sha256 = hashlib.sha256(plugin.read_bytes()).hexdigest()
            print(
                f"starting {args.nodes} OpenBao nodes (raft, performance_multiplier={args.performance_multiplier}) ...",
                flush=True,
            )
            t0 = time.monotonic()
            cluster = OpenBaoCluster.start(
                {PLUGIN_FILE: plugin},
                size=args.nodes,
                bao_binary=args.bao,
                log_level=args.log_level,
                raft={"performance_multiplier": args.performance_multiplier},
            )
            cleanup.callback(cluster.stop)
            cluster.register("yamldb", PLUGIN_FILE, version)
            cluster.cli("secrets", "enable", "database")
            print(
                f"cluster ready in {time.monotonic() - t0:.1f} s; yamldb {version} registered (sha256 {sha256[:16]}...)"
            )
            if not args.no_postgres:
                pg = PostgresCluster.start()
                cleanup.callback(pg.stop)
                cluster.api(
                    "POST",
                    "database/config/pg",
                    {
                        "plugin_name": "yamldb",
                        "manifest": "postgresql",
                        "connection_url": pg.template_url(),
                        "username": pg.superuser,
                        "password": pg.password,
                        "allowed_roles": "*",
                    },
                )
                cluster.api("POST", "database/roles/app", {"db_name": "pg", "default_ttl": "1h", "max_ttl": "24h"})
                print(
                    f"PostgreSQL on 127.0.0.1:{pg.port} (superuser {pg.superuser}); "
                    "connection database/config/pg, role database/roles/app"
                )
            active = cluster.active()
            print("\n" + describe(cluster))
            print(f"\nroot token {cluster.token}   unseal key {cluster.unseal_key}\n")
            print("Try, in another shell:")
            print(f"  export BAO_ADDR={active.address} BAO_TOKEN={cluster.token}")
            print(f"  {cluster.bao} operator raft list-peers")
            if not args.no_postgres:
                print(f"  {cluster.bao} read database/creds/app")
                print(
                    f"  BAO_ADDR={cluster.standbys()[0].address} {cluster.bao} read database/creds/app"
                    "   # through a standby"
                )
            print(f"  kill -9 {active.pid}   # the active node; a standby takes over, this window says which")
            print(
                "\nEnter starts and unseals the nodes that are down; Ctrl-C stops every node and plugin and "
                "removes all files.",
                flush=True,
            )
            watch(cluster)
        except KeyboardInterrupt:
            print("\nstopping ...", flush=True)
        except (HarnessUnavailable, RuntimeError, TimeoutError) as exc:
            print(f"\ncannot run the cluster: {exc}", file=sys.stderr)
            return 1
    left = [str(path) for path in (work, cluster.base_dir) if path.exists()] if cluster else []
    if cluster and (left or cluster.leftovers()):
        print(f"left behind: {left} {cluster.leftovers()}", file=sys.stderr)
        return 1
    print("stopped: no node, plugin or PostgreSQL process and no file left behind")
    return 0


def watch(cluster: OpenBaoCluster) -> None:
    """Print the nodes' roles each time they change; Enter starts and unseals the nodes that are down."""
    last = ""
    use_stdin = sys.stdin is not None and sys.stdin.isatty()
    while True:
        now = " ".join(f"{node.name}={node.role()}" for node in cluster.nodes)
        if now != last:
            print(f"{time.strftime('%H:%M:%S')}  {now}", flush=True)
            last = now
        if not use_stdin:
            time.sleep(1)
            continue
        ready, _, _ = select.select([sys.stdin], [], [], 1)
        if ready and sys.stdin.readline() != "":
            for node in cluster.nodes:
                if not node.running:
                    print(f"starting and unsealing {node.name} ...", flush=True)
                    cluster.start_node(node)


if __name__ == "__main__":
    sys.exit(run())
