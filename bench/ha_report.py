"""The markdown report of ``python -m bench.ha`` (bench/results/ha-latest.md)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["markdown"]


def _range(values: Iterable[float | None], unit: str = "") -> str:
    found = [v for v in values if v is not None]
    if not found:
        return "n/a"
    low, high = min(found), max(found)
    text = f"{low:g}" if low == high else f"{low:g}–{high:g}"
    return text + unit


def _lat(stats: dict[str, Any]) -> str:
    if not stats.get("n"):
        return "–"
    return f"{stats['p50_ms']:.0f} / {stats['p99_ms']:.0f} / {stats['max_ms']:.0f}"


def _failover(runs: list[dict[str, Any]]) -> list[str]:
    out = [
        "## Failover: SIGKILL of the active node under load",
        "",
        "Times in seconds from the kill. `failed` counts attempts (a client retries 0.1 s after a failure).",
        "Latency p50 / p99 / max in ms: before the kill, and of requests sent between the kill and 5 s after "
        "the first new credential.",
        "",
        "| run | killed → new | new active | first credential (via active / via standby) | failed "
        "(via active / via standby) | in flight at kill | latency before | latency switch | leases "
        "issued / lost | revoke -prefix | users left (issued / cut off) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, r in enumerate(runs, 1):
        s, g = r["summary"], r["summary"]["groups"]
        out.append(
            f"| {n} | {r['killed']} → {r['new_active']} | {r['new_active_s']} | "
            f"{g['via-active']['first_success_s']} / {g['via-standby']['first_success_s']} | "
            f"{g['via-active']['failed']} / {g['via-standby']['failed']} | {len(s['in_flight'])} | "
            f"{_lat(s['latency']['before'])} | {_lat(s['latency']['switch'])} | "
            f"{r['credentials_issued']} / {len(r['leases_lost'])} | {r['revoke_prefix_s']} s | "
            f"{len(r['issued_users_left'])} / {len(r['orphans'])} |"
        )
    out += [
        "",
        "What clients saw after the kill (all runs; first and last time seen, s after the kill):",
        "",
        "| answer | count | seen | nodes |",
        "|---|---|---|---|",
    ]
    merged: dict[str, dict[str, Any]] = {}
    for r in runs:
        for text, e in r["summary"]["errors"].items():
            m = merged.setdefault(text, {"count": 0, "first": [], "last": [], "nodes": set()})
            m["count"] += e["count"]
            m["first"].append(e["first_s"])
            m["last"].append(e["last_s"])
            m["nodes"].update(e["nodes"])
    for text, m in sorted(merged.items(), key=lambda kv: min(kv[1]["first"])):
        out.append(
            f"| `{text}` | {m['count']} | {min(m['first']):g} … {max(m['last']):g} | {', '.join(sorted(m['nodes']))} |"
        )
    cut = [(u, v) for r in runs for u, v in r["orphans"].items()]
    out += [
        "",
        f"Users cut off by a kill (created, but the lease was never stored): {len(cut)}; "
        f"VALID UNTIL beyond kill + TTL + 5 s: {sum(len(r['orphans_unbounded']) for r in runs)}.",
    ]
    out += [
        f"Killed node's plugin process exited by itself after {_range(r['killed_plugin_exit_s'] for r in runs)} s; "
        f"the killed node rejoined as a standby in {_range(r['rejoin_s'] for r in runs)} s."
    ]
    return out


def _restart(runs: list[dict[str, Any]]) -> list[str]:
    out = [
        "## Whole-cluster restart",
        "",
        "| run | leases held | stop (SIGTERM all) | start + unseal + ready | plugin processes after stop | "
        "leases lost | first renew (starts the plugin) | VALID UNTIL before → after renew | users left |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for n, r in enumerate(runs, 1):
        out.append(
            f"| {n} | {r['leases']} | {r['stop_s']} s | {r['start_unseal_ready_s']} s | "
            f"{sum(map(len, r['plugin_processes_after_stop'].values()))} | {len(r['leases_lost'])} | "
            f"{r['renew_s']} s | {r['valid_until_before']} → {r['valid_until_after']} | "
            f"{len(r['users_left'])} |"
        )
    return out


def _upgrade(runs: list[dict[str, Any]]) -> list[str]:
    out = [
        "## Rolling plugin upgrade under load",
        "",
        "Each step is one API call on the active node; `failed` counts the attempts that failed from the call "
        "to the next step. Latency p50 / p99 / max in ms of requests sent between the call and 5 s after "
        "the first credential that followed it.",
        "",
        "| run | step | call took | failed | latency switch | connection pinned to | versions running |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, r in enumerate(runs, 1):
        for s in r["switches"]:
            out.append(
                f"| {n} | `{s['step']}` | {s['write_s']} s | {s['failed']} | {_lat(s['latency']['switch'])} | "
                f"{s['pinned']} | {', '.join(s['running'])} |"
            )
    out += [
        "",
        "| run | credentials | created by version | revoked by the other version (left) | "
        "revoke -prefix | users left |",
        "|---|---|---|---|---|---|",
    ]
    for n, r in enumerate(runs, 1):
        created = ", ".join(f"{v}: {c}" for v, c in r["created_by_version"].items())
        out.append(
            f"| {n} | {r['credentials_issued']} | {created} | {len(r['revoked_by_other_version'])} "
            f"({len(r['revoked_by_other_version_left'])}) | {r['revoke_prefix_s']} s | {len(r['users_left'])} |"
        )
    return out


def markdown(results: dict[str, Any]) -> str:
    m = results.get("machine", {})
    lines = [
        "# yamldb in a 3-node OpenBao cluster (bench/ha.py)",
        "",
        f"Run {results['started']}: `{results['command']}`",
        "",
        f"Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, {m.get('ram_gb', '?')} GB; load average "
        f"{m.get('loadavg_at_start', '?')} at start, {results.get('loadavg_at_end', '?')} at the end (a shared "
        "machine inflates every figure). "
        f"{m.get('openbao', '?')}; {m.get('postgresql', '?')}; yamldb {m.get('packages', {}).get('yamldb', '?')} "
        f"({m.get('source', '?')}).",
        "",
        f"Settings: {results['settings']}. Cluster start (3 nodes, plugin copied and unpacked on each, init, "
        f"unseal, all voters): {results.get('cluster_start_s', '?')} s.",
        "",
    ]
    if results["failover"]:
        lines += [*_failover(results["failover"]), ""]
    expiry = results.get("expiry")
    if expiry and expiry.get("orphans"):
        lines += [
            f"After waiting: {expiry['expired']} of {expiry['orphans']} cut-off users past VALID UNTIL at "
            f"{expiry['checked_at']} (PostgreSQL refuses their login from then on).",
            "",
        ]
    if results["restart"]:
        lines += [*_restart(results["restart"]), ""]
    if results["upgrade"]:
        lines += [*_upgrade(results["upgrade"]), ""]
    return "\n".join(lines)
