"""yamldb in a 3-node OpenBao raft cluster: failover under load, whole-cluster restart, rolling plugin upgrade.

Each scenario takes a running :class:`devenv.cluster.OpenBaoCluster` (yamldb registered,
the database engine mounted) and a PostgreSQL, and returns a JSON-able dict of what
happened; the integration tests (tests/integration/test_cluster.py) run the same
functions with short settings and assert on the dicts. ``python -m bench.ha`` runs them
with long loads and writes bench/results/ha-latest.md and .json (docs/ha.md quotes them).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import ha_report
from bench.haload import Attempt, CredentialLoad, Route, as_dicts, latency, summarize
from bench.machine import describe_parts
from devenv import HarnessUnavailable, OpenBaoAPIError, PostgresCluster
from devenv.cluster import ClusterNode, OpenBaoCluster, poll
from devenv.pluginfile import PLUGIN_FILE, build_plugin

__all__ = ["Database", "failover", "restart", "upgrade"]

MOUNT = "database"
Log = Callable[[str], None]  # where a scenario reports progress
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Database:
    """A PostgreSQL the cluster issues users for; ``connection`` is the config name in OpenBao."""

    pg: PostgresCluster
    connection: str

    def configure(self, cluster: OpenBaoCluster, plugin: str = "yamldb", version: str = "") -> None:
        body: dict[str, Any] = {
            "plugin_name": plugin,
            "manifest": "postgresql",
            "connection_url": self.pg.template_url(),
            "username": self.pg.superuser,
            "password": self.pg.password,
            "allowed_roles": "*",
            "max_open_connections": 8,
        }
        if version:
            body["plugin_version"] = version
        cluster.api("POST", f"{MOUNT}/config/{self.connection}", body)

    def role(self, cluster: OpenBaoCluster, ttl: str = "1h") -> str:
        """A new role on this connection, its name unique in the first 8 characters (the username keeps 8)."""
        name = "h" + secrets.token_hex(4)[:7]
        cluster.api("POST", f"{MOUNT}/roles/{name}", {"db_name": self.connection, "default_ttl": ttl, "max_ttl": "24h"})
        return name

    def users(self, role: str) -> dict[str, dt.datetime | None]:
        """Database users issued for ``role`` -> VALID UNTIL (names are ``v-DISPLAYNAME-ROLE-random-time``)."""
        with self.pg.connect() as conn:
            rows = conn.execute(
                "SELECT rolname, rolvaliduntil FROM pg_roles WHERE rolname LIKE %s", (f"v-%-{role[:8]}-%",)
            ).fetchall()
        return {name: until for name, until in rows}


def stored_leases(cluster: OpenBaoCluster, role: str) -> set[str]:
    """Lease ids OpenBao holds for ``role`` (read on the active node)."""
    try:
        body = cluster.api("LIST", f"sys/leases/lookup/{MOUNT}/creds/{role}/")
    except OpenBaoAPIError as exc:
        if exc.status == 404:
            return set()
        raise
    return {f"{MOUNT}/creds/{role}/{key}" for key in body["data"]["keys"]}


def revoke_prefix(cluster: OpenBaoCluster, role: str) -> float:
    """``bao lease revoke -prefix -sync database/creds/ROLE`` on the active node; seconds it took."""
    t0 = time.monotonic()
    cluster.cli("lease", "revoke", "-prefix", "-sync", f"{MOUNT}/creds/{role}", timeout=600)
    return round(time.monotonic() - t0, 2)


def _endpoint(node: ClusterNode) -> tuple[str, int]:
    return node.name, node.port


def routes(cluster: OpenBaoCluster, active: ClusterNode, standby: ClusterNode, workers: int) -> list[tuple[str, Route]]:
    """Half the workers start on the active node and move to the next node when it refuses connections
    (a client given every node's address); the other half stay on one standby (which forwards)."""
    ring = [active, *[n for n in cluster.nodes if n is not active]]
    out: list[tuple[str, Route]] = []
    for worker in range(workers):
        if worker % 2 == 0:
            out.append(("via-active", Route([_endpoint(n) for n in ring], failover=True)))
        else:
            out.append(("via-standby", Route([_endpoint(standby)])))
    return out


def _issued(attempts: Iterable[Attempt]) -> dict[str, str]:
    return {a.lease_id: a.username for a in attempts if a.ok}


def _pid_watch(node: ClusterNode, since: float, timeout: float) -> float | None:
    """Seconds from ``since`` until no process of ``node``'s groups is left (None: still there)."""
    try:
        poll(f"{node.name}'s plugin processes gone", lambda: not node.leftovers(), timeout, 0.05)
    except TimeoutError:
        return None
    return round(time.monotonic() - since, 3)


# ---------------------------------------------------------------------------------------------- failover
def failover(
    cluster: OpenBaoCluster,
    db: Database,
    *,
    workers: int = 8,
    before: float = 5.0,
    after: float = 10.0,
    ttl: str = "1h",
    backoff: float = 0.1,
    log: Log = print,
) -> dict[str, Any]:
    """Load through the active node and a standby, SIGKILL the active node, keep loading, then
    revoke every lease from the new active node and look for users left behind. The killed
    node is started again at the end (it rejoins as a standby)."""
    role = db.role(cluster, ttl)
    old = cluster.active()
    standby = cluster.standbys()[0]
    load = CredentialLoad(
        f"{MOUNT}/creds/{role}", cluster.token, routes(cluster, old, standby, workers), backoff=backoff
    ).start()
    try:
        load.wait_for(workers * 2)
        time.sleep(before)
        plugins_before = old.plugin_pids(PLUGIN_FILE)
        log(f"  failover: killing {old.name} (active, plugin pids {plugins_before}) under load")
        kill_wall = dt.datetime.now(dt.timezone.utc)
        killed_at = cluster.kill(old)
        plugin_exit_s = _pid_watch(old, killed_at, 30)
        new = cluster.wait_active(90, among=[n for n in cluster.nodes if n is not old])
        active_s = round(time.monotonic() - killed_at, 3)
        log(f"  failover: {new.name} active {active_s} s after the kill; loading {after} s more")
        load.wait_for(workers, since=killed_at, timeout=120)
        time.sleep(after)
    finally:
        attempts = load.stop()
    summary = summarize(attempts, killed_at)
    issued = _issued(attempts)
    stored = stored_leases(cluster, role)
    revoke_s = revoke_prefix(cluster, role)
    remaining = db.users(role)
    orphans = {u: v for u, v in remaining.items() if u not in issued.values()}
    rejoin_t0 = time.monotonic()
    cluster.start_node(old)
    cluster.wait_ready()
    expiry_limit = kill_wall + _seconds(ttl) + dt.timedelta(seconds=5)
    return {
        "killed": old.name,
        "new_active": new.name,
        "via_standby": standby.name,
        "role": role,
        "ttl": ttl,
        "workers": workers,
        "backoff_s": backoff,
        "new_active_s": active_s,
        "killed_plugin_exit_s": plugin_exit_s,
        "summary": summary,
        "credentials_issued": len(issued),
        "leases_lost": sorted(lease for lease in issued if lease not in stored),
        "leases_without_client": len(stored - set(issued)),
        "revoke_prefix_s": revoke_s,
        "issued_users_left": sorted(u for u in remaining if u in issued.values()),
        "orphans": {u: v.isoformat() if v else None for u, v in orphans.items()},
        "orphans_expire_by": expiry_limit.isoformat(),
        "orphans_unbounded": sorted(u for u, v in orphans.items() if v is None or v > expiry_limit),
        "rejoin_s": round(time.monotonic() - rejoin_t0, 2),
        "timeline": as_dicts(attempts, killed_at),
    }


def _seconds(ttl: str) -> dt.timedelta:
    units = {"s": 1, "m": 60, "h": 3600}
    return dt.timedelta(seconds=int(ttl[:-1]) * units[ttl[-1]] if ttl[-1] in units else int(ttl))


# ---------------------------------------------------------------------------------------------- restart
def restart(cluster: OpenBaoCluster, db: Database, *, leases: int = 10, log: Log = print) -> dict[str, Any]:
    """Issue leases, stop every node, start and unseal them all: leases survive, renew and revoke
    work, the plugin starts on its own, and no plugin process outlives its node."""
    role = db.role(cluster)
    issued = {}
    for _ in range(leases):
        body = cluster.api("GET", f"{MOUNT}/creds/{role}")
        issued[body["lease_id"]] = body["data"]["username"]
    running_plugins = {n.name: n.plugin_pids(PLUGIN_FILE) for n in cluster.nodes}
    log(f"  restart: {leases} leases issued; plugin processes {running_plugins}; stopping every node")
    t0 = time.monotonic()
    cluster.stop_all()
    stopped_s = round(time.monotonic() - t0, 2)
    left_after_stop = {name: sorted(pids) for name, pids in cluster.leftovers().items()}
    t1 = time.monotonic()
    active = cluster.start_all()
    ready_s = round(time.monotonic() - t1, 2)
    stored = stored_leases(cluster, role)
    first_lease, second_lease = list(issued)[:2]
    before = db.users(role)[issued[first_lease]]
    t2 = time.monotonic()
    renewed = cluster.api("PUT", "sys/leases/renew", {"lease_id": first_lease, "increment": 7200})
    renew_s = round(time.monotonic() - t2, 3)
    after = db.users(role)[issued[first_lease]]
    plugin_after_renew = active.plugin_pids(PLUGIN_FILE)
    cluster.api("PUT", "sys/leases/revoke", {"lease_id": second_lease})
    gone_after_revoke = issued[second_lease] not in db.users(role)
    new = cluster.api("GET", f"{MOUNT}/creds/{role}")
    issued[new["lease_id"]] = new["data"]["username"]
    revoke_s = revoke_prefix(cluster, role)
    left_users = sorted(db.users(role))
    return {
        "role": role,
        "leases": leases,
        "stop_s": stopped_s,
        "start_unseal_ready_s": ready_s,
        "active_after": active.name,
        "plugin_processes_before": running_plugins,
        "plugin_processes_after_stop": left_after_stop,
        "leases_lost": sorted(lease for lease in issued if lease != new["lease_id"] and lease not in stored),
        "renew_s": renew_s,
        "renew_ttl": renewed.get("lease_duration"),
        "valid_until_before": before.isoformat() if before else None,
        "valid_until_after": after.isoformat() if after else None,
        "plugin_after_renew": plugin_after_renew,
        "revoked_user_gone": gone_after_revoke,
        "revoke_prefix_s": revoke_s,
        "users_left": left_users,
        "leftovers_after_start": {name: sorted(p) for name, p in cluster.leftovers().items()},
    }


# ---------------------------------------------------------------------------------------------- upgrade
def running_version(node: ClusterNode, files: dict[str, str]) -> list[str]:
    """Versions whose file (``files``: version -> file name) runs as a plugin process of ``node``."""
    return sorted(version for version, name in files.items() if node.plugin_pids(name))


def upgrade(
    cluster: OpenBaoCluster,
    db: Database,
    files: dict[str, str],
    *,
    workers: int = 8,
    hold: float = 3.0,
    log: Log = print,
) -> dict[str, Any]:
    """Move a live connection from the first version in ``files`` to the second and back while
    credentials are issued, then reset it; count the requests that failed at each switch.

    ``files``: version -> file name, both installed on every node and registered as ``yamldb``.
    """
    old_version, new_version = list(files)
    db.configure(cluster, version=old_version)
    role = db.role(cluster)
    active = cluster.active()
    standby = cluster.standbys()[0]
    load = CredentialLoad(f"{MOUNT}/creds/{role}", cluster.token, routes(cluster, active, standby, workers)).start()
    switches: list[dict[str, Any]] = []
    revoked_across: list[str] = []
    try:
        load.wait_for(workers * 2)
        time.sleep(hold)
        steps = [
            ("config write plugin_version=" + new_version, {"plugin_version": new_version}, new_version),
            ("config write plugin_version=" + old_version, {"plugin_version": old_version}, old_version),
            (f"{MOUNT}/reset/{db.connection}", None, old_version),
        ]
        for label, body, expect in steps:
            t0 = time.monotonic()
            if body is None:
                cluster.api("POST", f"{MOUNT}/reset/{db.connection}", {})
            else:
                cluster.api("POST", f"{MOUNT}/config/{db.connection}", body)
            t1 = time.monotonic()
            pinned = cluster.api("GET", f"{MOUNT}/config/{db.connection}")["data"]["plugin_version"]
            # yamldb is multiplexed: one process per version serves every connection pinned to it, so the
            # old version's process ends only when no connection uses it any more.
            running = poll(
                f"{expect} running after '{label}'",
                lambda e=expect: (lambda r: r if e in r else None)(running_version(active, files)),
                30,
                0.05,
            )
            switches.append(
                {"step": label, "start": t0, "write_s": round(t1 - t0, 3), "pinned": pinned, "running": running}
            )
            log(f"  upgrade: {label}: {switches[-1]['write_s']} s, now running {running}")
            if expect == new_version and not revoked_across:
                # Users created by the old version, revoked by the new one.
                early = [a for a in load.attempts() if a.ok and a.end < t0][:3]
                for a in early:
                    cluster.api("PUT", "sys/leases/revoke", {"lease_id": a.lease_id})
                revoked_across = [a.username for a in early]
            time.sleep(hold)
    finally:
        attempts = load.stop()
    ends = [s["start"] for s in switches[1:]] + [None]
    for switch, until in zip(switches, ends, strict=True):
        summary = summarize(attempts, switch["start"], until=until)
        switch.update(
            failed=summary["failed"],
            errors=summary["errors"],
            latency=summary["latency"],
            in_flight=len(summary["in_flight"]),
        )
    first, second = switches[0]["start"], switches[1]["start"]
    created = {
        old_version: sum(1 for a in attempts if a.ok and a.end < first),
        new_version: sum(1 for a in attempts if a.ok and a.start > first + switches[0]["write_s"] and a.end < second),
    }
    left_after_cross = sorted(u for u in revoked_across if u in db.users(role))
    issued = _issued(attempts)
    revoke_s = revoke_prefix(cluster, role)  # by the old version again: also users the new one created
    return {
        "role": role,
        "versions": list(files),
        "workers": workers,
        "hold_s": hold,
        "credentials_issued": len(issued),
        "created_by_version": created,
        "revoked_by_other_version": revoked_across,
        "revoked_by_other_version_left": left_after_cross,
        "switches": [{k: v for k, v in s.items() if k != "start"} for s in switches],
        "failed_total": sum(s["failed"] for s in switches),
        "latency_steady": latency(a for a in attempts if a.end < first),
        "revoke_prefix_s": revoke_s,
        "users_left": sorted(db.users(role)),
    }


# ---------------------------------------------------------------------------------------------- python -m bench.ha
def _next_patch(version: str) -> str:
    major, minor, patch = version.lstrip("v").split(".")[:3]
    return f"{major}.{minor}.{int(patch) + 1}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.ha", description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3, help="repetitions of each scenario, for ranges (default 3)")
    p.add_argument("--workers", type=int, default=8, help="client threads, half via the active node (default 8)")
    p.add_argument("--before", type=float, default=10.0, help="seconds of load before the kill (default 10)")
    p.add_argument(
        "--after",
        type=float,
        default=15.0,
        help="seconds of load after the first credential from the new active node (default 15)",
    )
    p.add_argument("--hold", type=float, default=5.0, help="seconds of load between upgrade steps (default 5)")
    p.add_argument("--leases", type=int, default=50, help="leases held across a whole-cluster restart (default 50)")
    p.add_argument("--ttl", default="2m", help="TTL of the failover role; --expire waits for it (default 2m)")
    p.add_argument(
        "--expire",
        action="store_true",
        help="after the failovers, wait until the users cut off by the kill are past VALID UNTIL",
    )
    p.add_argument(
        "--performance-multiplier",
        type=int,
        default=1,
        help="raft performance_multiplier (1: recommended for production; 5: OpenBao's default)",
    )
    p.add_argument("--skip", default="", help="comma-separated: failover,restart,upgrade")
    p.add_argument(
        "--timeline", action="store_true", help="keep every request of each failover in ha-latest.json (large)"
    )
    p.add_argument("--output", type=Path, default=RESULTS, help="directory for ha-latest.md / ha-latest.json")
    args = p.parse_args(argv)
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if args.runs < 1 or args.workers < 2:
        p.error("--runs must be >= 1 and --workers >= 2")
    return args


def run(args: argparse.Namespace, log: Log = print) -> dict[str, Any]:
    results: dict[str, Any] = {
        "started": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m bench.ha " + " ".join(sys.argv[1:]),
        "settings": {
            k: (sorted(v) if isinstance(v, set) else str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
        },
        "failover": [],
        "restart": [],
        "upgrade": [],
    }
    with contextlib.ExitStack() as cleanup, tempfile.TemporaryDirectory(prefix="yamldb-ha-bench-") as tmp:
        log("building the plugin twice (this checkout, and the same code as the next patch version) ...")
        current = build_plugin(Path(tmp) / "current")
        following = build_plugin(Path(tmp) / "next", version=_next_patch(current.version))
        files = {b.version: f"{PLUGIN_FILE}-{b.version}" for b in (current, following)}
        pg = PostgresCluster.start()
        cleanup.callback(pg.stop)
        log(f"starting 3 nodes (performance_multiplier={args.performance_multiplier}) ...")
        t0 = time.monotonic()
        cluster = OpenBaoCluster.start(
            {files[b.version]: b.path for b in (current, following)},
            raft={"performance_multiplier": args.performance_multiplier},
        )
        cleanup.callback(cluster.stop)
        results["cluster_start_s"] = round(time.monotonic() - t0, 1)
        for version, name in files.items():
            cluster.register("yamldb", name, version)
        cluster.api("POST", "sys/mounts/database", {"type": "database"})
        results["machine"] = describe_parts(cluster.bao, pg, None)
        results["plugins"] = {
            v: {"file": files[v], "sha256": b.sha256}
            for v, b in ((current.version, current), (following.version, following))
        }
        db = Database(pg, "ha")
        db.configure(cluster, version=current.version)
        for number in range(args.runs):
            if "failover" not in args.skip:
                log(f"failover {number + 1}/{args.runs}")
                results["failover"].append(
                    failover(
                        cluster, db, workers=args.workers, before=args.before, after=args.after, ttl=args.ttl, log=log
                    )
                )
            if "restart" not in args.skip:
                log(f"restart {number + 1}/{args.runs}")
                results["restart"].append(restart(cluster, db, leases=args.leases, log=log))
            if "upgrade" not in args.skip:
                log(f"upgrade {number + 1}/{args.runs}")
                results["upgrade"].append(
                    upgrade(cluster, Database(pg, f"up{number}"), files, workers=args.workers, hold=args.hold, log=log)
                )
        if args.expire and results["failover"]:
            results["expiry"] = wait_for_expiry(db, results["failover"], log)
    results["loadavg_at_end"] = os.getloadavg()[0]
    return results


def wait_for_expiry(db: Database, runs: list[dict[str, Any]], log: Log = print) -> dict[str, Any]:
    """Wait until every user cut off by a kill is past its VALID UNTIL; PostgreSQL then refuses its login."""
    orphans = {user: run["role"] for run in runs for user in run["orphans"]}
    if not orphans:
        return {"orphans": 0}
    latest = max(dt.datetime.fromisoformat(v) for run in runs for v in run["orphans"].values() if v)
    wait = max((latest - dt.datetime.now(dt.timezone.utc)).total_seconds() + 1, 0)
    log(f"waiting {wait:.0f} s until the {len(orphans)} cut-off users are past VALID UNTIL")
    time.sleep(wait)
    with db.pg.connect() as conn:
        rows = conn.execute(
            "SELECT rolname, rolvaliduntil, rolvaliduntil < now() FROM pg_roles WHERE rolname = ANY(%s)",
            (list(orphans),),
        ).fetchall()
    return {
        "orphans": len(orphans),
        "checked_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        "expired": sum(1 for _, _, expired in rows if expired),
        "rows": [[name, until.isoformat() if until else None, expired] for name, until, expired in rows],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        results = run(args)
    except KeyboardInterrupt:
        print("\ninterrupted; everything started has been stopped and removed", file=sys.stderr)
        return 130
    except HarnessUnavailable as exc:
        print(f"cannot run: {exc.reason}", file=sys.stderr)
        return 1
    if not args.timeline:
        for run_result in results["failover"]:
            run_result.pop("timeline", None)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "ha-latest.json").write_text(json.dumps(results, indent=1, default=str) + "\n")
    (args.output / "ha-latest.md").write_text(ha_report.markdown(results))
    print(ha_report.markdown(results))
    print(f"wrote {args.output / 'ha-latest.md'} and ha-latest.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
