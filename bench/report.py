"""Targets, ratios and the markdown report of one benchmark run."""

from __future__ import annotations

import math
from typing import Any

TARGET_CONCURRENCY = (8, 32)
THROUGHPUT_MIN_RATIO = 1.0
P99_MAX_RATIO = 1.2
HANDSHAKE_INSTALLED_MS = 300
HANDSHAKE_PREBUILT_MS = 1000
RSS_20_CONFIGS_MB = 80


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not b or (isinstance(a, float) and math.isnan(a)):
        return None
    return round(a / b, 2)


def ratios(results: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for database, points in results.get("throughput", {}).items():
        for c, point in points.items():
            y, b = point["yamldb"], point["builtin"]
            out.setdefault(database, {})[c] = {
                "issue_per_s": _ratio(y["issue"]["per_s"], b["issue"]["per_s"]),
                "revoke_per_s": _ratio(y["revoke"]["per_s"], b["revoke"]["per_s"]),
                "issue_p99": _ratio(y["issue"]["p99_ms"], b["issue"]["p99_ms"]),
                "revoke_p99": _ratio(y["revoke"]["p99_ms"], b["revoke"]["p99_ms"]),
            }
    return out


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def add(name: str, value: float | None, goal: str, met: bool | None) -> None:
        rows.append({"target": name, "value": value, "goal": goal,
                     "status": "n/a" if met is None else "met" if met else "MISSED"})

    for database, points in results.get("ratios", {}).items():
        for c in TARGET_CONCURRENCY:
            r = points.get(str(c))
            if r is None:
                continue
            for key, label in (("issue_per_s", "issue throughput"), ("revoke_per_s", "revoke throughput")):
                v = r[key]
                add(f"{database} c={c} {label} yamldb/built-in", v, f">= {THROUGHPUT_MIN_RATIO:.1f}x",
                    None if v is None else v >= THROUGHPUT_MIN_RATIO)
            for key, label in (("issue_p99", "issue p99"), ("revoke_p99", "revoke p99")):
                v = r[key]
                add(f"{database} c={c} {label} yamldb/built-in", v, f"<= {P99_MAX_RATIO:.1f}x",
                    None if v is None else v <= P99_MAX_RATIO)
    hs = results.get("cold_start", {}).get("handshake", {})
    if "installed" in hs:
        v = hs["installed"]["median_ms"]
        add("cold start exec -> handshake, installed package (median ms)", v, f"<= {HANDSHAKE_INSTALLED_MS} ms",
            v <= HANDSHAKE_INSTALLED_MS)
    if "prebuilt" in hs:
        v = hs["prebuilt"]["median_ms"]
        add("cold start exec -> handshake, prebuilt file (median ms)", v, f"<= {HANDSHAKE_PREBUILT_MS} ms",
            v <= HANDSHAKE_PREBUILT_MS)
    mem = results.get("memory", {})
    last = str(mem.get("configs", ""))
    if last in mem.get("yamldb", {}):
        v = mem["yamldb"][last]["rss_mb"]
        mixed = f" ({' and '.join(mem['databases'])} alternating)" if len(mem.get("databases", [])) > 1 else ""
        add(f"RSS with {last} multiplexed configs{mixed} (MB)", v, f"<= {RSS_20_CONFIGS_MB} MB",
            v <= RSS_20_CONFIGS_MB)
    for database, sample in mem.get("yamldb_single", {}).items():
        v = sample["rss_mb"]
        add(f"RSS with {last} multiplexed configs, {database} only (MB)", v, f"<= {RSS_20_CONFIGS_MB} MB",
            v <= RSS_20_CONFIGS_MB)
    return rows


def _f(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.{digits}f}"
    return str(value)


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        f"# yamldb benchmark — {results['started']}",
        "",
        f"Command: `{results['command']}` · leases per point: {results['settings']['leases']} · "
        f"concurrency: {', '.join(map(str, results['settings']['concurrency']))} · "
        f"took {results.get('duration_s', 0):.0f} s",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores; RAM {m['ram_gb']} GB; {m['kernel']}",
        f"- {m['python']}",
        f"- {m['openbao']} (dev server, in-memory storage, log level {results['settings']['bao_log_level']})",
    ]
    if "postgresql" in m:
        lines.append(f"- {m['postgresql']} (throw-away cluster, scram-sha-256, fsync off)")
    if "mariadb" in m:
        lines.append(f"- MariaDB {m['mariadb']} (the machine's server)")
    lines.append("- packages: " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()))
    lines.append(f"- yamldb source measured: {m.get('source', '?')}")
    lines.append(f"- load average at start: {m['loadavg_at_start']:.2f}")
    lines += ["", "## Targets", "", "| target | value | goal | status |", "|---|---:|---|---|"]
    for row in results.get("targets", []):
        lines.append(f"| {row['target']} | {_f(row['value'], 2)} | {row['goal']} | **{row['status']}** |")

    if results.get("throughput"):
        lines += ["", "## Issue and revoke through OpenBao's HTTP API", "",
                  "Same OpenBao, same role statements, same admin user; closed loop, one keep-alive connection "
                  "per client thread. Latencies in ms. CPU ms/op = CPU time per successful request of OpenBao "
                  "/ the yamldb process / the database server.", "",
                  "| database | c | plugin | issued/s | issue p50 | issue p99 | revoked/s | revoke p50 | revoke p99 "
                  "| errors | CPU ms/op issue (bao/plugin/db) | CPU ms/op revoke (bao/plugin/db) |",
                  "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---|"]
        for database, points in results["throughput"].items():
            for c, point in points.items():
                for plugin in ("yamldb", "builtin"):
                    s = point[plugin]
                    i, r = s["issue"], s["revoke"]
                    lines.append(
                        f"| {database} | {c} | {plugin} | {_f(i['per_s'])} | {_f(i['p50_ms'], 2)} | "
                        f"{_f(i['p99_ms'], 2)} | {_f(r['per_s'])} | {_f(r['p50_ms'], 2)} | {_f(r['p99_ms'], 2)} | "
                        f"{i['errors'] + r['errors']} | {_cpu(i)} | {_cpu(r)} |")
        lines += ["", "### Ratios yamldb / built-in", "",
                  "| database | c | issued/s | revoked/s | issue p99 | revoke p99 |", "|---|---:|---:|---:|---:|---:|"]
        for database, points in results["ratios"].items():
            for c, r in points.items():
                lines.append(f"| {database} | {c} | {_f(r['issue_per_s'], 2)} | {_f(r['revoke_per_s'], 2)} | "
                             f"{_f(r['issue_p99'], 2)} | {_f(r['revoke_p99'], 2)} |")

    wire = results.get("wire", {})
    if wire:
        lines += ["", "## What reaches the database per operation (counting proxy, 20 sequential leases)", "",
                  "| database | plugin | round trips per issue | per revoke | issue: client messages per op "
                  "| revoke: client messages per op |", "|---|---|---:|---:|---|---|"]
        for database, plugins in wire.items():
            for plugin, w in plugins.items():
                lines.append(f"| {database} | {plugin} | {w['issue']['round_trips_per_op']} | "
                             f"{w['revoke']['round_trips_per_op']} | {_msgs(w['issue'])} | {_msgs(w['revoke'])} |")

    ceiling = results.get("ceiling", {})
    if ceiling:
        lines += ["", "## The database's own ceiling (same statements, no OpenBao, no plugin)", "",
                  "| database | tool | c | create/s | create p99 | drop/s | drop p99 |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for database, data in ceiling.items():
            for c, row in data.items():
                if not c.isdigit():
                    continue
                lines.append(f"| {database} | {data['tool']} | {c} | {_f(row['create']['per_s'])} | "
                             f"{_f(row['create']['p99_ms'], 2)} | {_f(row['drop']['per_s'])} | "
                             f"{_f(row['drop']['p99_ms'], 2)} |")

    cold = results.get("cold_start", {})
    hs = cold.get("handshake", {})
    if hs:
        lines += ["", "## Cold start", "", "exec → handshake line (devenv.goplugin_host.PluginProcess):", "",
                  "| how | runs | min ms | median ms | max ms |", "|---|---:|---:|---:|---:|"]
        for key, label in (("installed", "installed package: `python -m yamldb.transport.entry`"),
                           ("prebuilt", "prebuilt file, warm cache"),
                           ("prebuilt_without_shim", "prebuilt file, warm cache, PATH without the pyenv shim")):
            if key in hs:
                h = hs[key]
                lines.append(f"| {label} | {h['runs']} | {h['min_ms']} | {h['median_ms']} | {h['max_ms']} |")
        if "prebuilt" in hs:
            pre = hs["prebuilt"]
            lines += ["", f"Prebuilt file, first run on an empty cache (unpacks the payload): "
                          f"{pre['first_run_unpack_ms']} ms. Interpreter: `{pre['interpreter']}`."]
        if hs.get("installed_import_top"):
            lines += ["", "Direct imports of `yamldb.transport.server` by cumulative ms (python -X importtime): " +
                      ", ".join(f"{r['module']} {r['cumulative_ms']}" for r in hs["installed_import_top"][:8]) + "."]
    fc = cold.get("first_credential", {})
    if fc:
        lines += ["", "exec → first credential inside OpenBao (fresh catalog entry for yamldb, so a new process; "
                      "medians in ms):", "",
                  "| database | plugin | runs | register | config write | role write | first creds "
                  "| config → creds |", "|---|---|---:|---:|---:|---:|---:|---:|"]
        for database, data in fc.items():
            for plugin, d in data.items():
                lines.append(f"| {database} | {plugin} | {d['runs']} | {d['register']} | {d['config']} | "
                             f"{d['role']} | {d['first_creds']} | {d['config_to_creds']} |")

    mem = results.get("memory", {})
    if mem:
        n = str(mem["configs"])
        y, b = mem.get("yamldb", {}), mem.get("builtin", {})
        lines += ["", "## Resident memory", "",
                  f"Configs alternate between {', '.join(mem['databases'])}; each is used once (one issue, "
                  "one revoke).", "",
                  "| | 1 config | " + n + " configs |", "|---|---:|---:|"]
        if "1" in y and n in y:
            lines.append(f"| yamldb: VmRSS summed over its processes | {y['1']['rss_mb']} MB "
                         f"({y['1']['processes']} proc) | {y[n]['rss_mb']} MB ({y[n]['processes']} proc) |")
            lines.append(f"| of which anonymous / file-backed (shared libraries) | {y['1'].get('anon_mb')} / "
                         f"{y['1'].get('file_mb')} MB | {y[n].get('anon_mb')} / {y[n].get('file_mb')} MB |")
        if "1" in b and n in b:
            lines.append(f"| built-in: change of OpenBao's own RSS (in-process) | {b['1']['delta_mb']:+} MB | "
                         f"{b[n]['delta_mb']:+} MB |")
        for database, sample in mem.get("yamldb_single", {}).items():
            lines.append(f"| yamldb, {database} configs only (a fresh process) | | {sample['rss_mb']} MB "
                         f"({sample['anon_mb']} / {sample['file_mb']} MB) |")
        if mem.get("import_steps"):
            lines += ["", "Where a fresh interpreter's RSS comes from, importing in this order (MB added): " +
                      ", ".join(f"{s['after']} {s['delta_mb']:+}" for s in mem["import_steps"]) +
                      f" = {mem['import_steps'][-1]['rss_mb']} MB."]
        if "yamldb_after_load" in mem:
            a = mem["yamldb_after_load"]
            lines += ["", f"The yamldb process that served all throughput runs (4 configs, pools warm): "
                          f"{a['rss_mb']} MB over {a['processes']} process(es)."]

    lines += _layers_section(results.get("layers"))
    for prof in results.get("profile", {}).values():
        lines += _profile_section(prof)

    notes = list(results.get("notes", []))
    noise = [s[phase].get("other_busy_cores") or 0.0 for points in results.get("throughput", {}).values()
             for point in points.values() for s in point.values() for phase in ("issue", "revoke")]
    gates = [g for points in results.get("throughput", {}).values() for point in points.values()
             for g in point.get("yamldb", {}).get("quiet_gates", [])]
    if gates:
        busy = [g for g in gates if g["busy_cores"] >= 0.35]
        notes.append(
            f"Before each of {len(gates)} measured segments the benchmark waited (at most "
            f"{results['settings'].get('quiet_wait', '?')} s) for the shared machine to go idle: {len(busy)} started "
            f"anyway with other processes busy (up to {max(g['busy_cores'] for g in gates):.2f} cores).")
    if noise:
        notes.append(
            f"Background CPU from processes outside the benchmark during the throughput phases: up to "
            f"{max(noise):.2f} cores (median {sorted(noise)[len(noise) // 2]:.2f}); the machine has "
            f"{m['cores']} cores.")
    if notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def _layers_section(layers: dict[str, Any] | None) -> list[str]:
    if not layers:
        return []
    lines = ["", "## Plugin CPU per call, layer by layer (no OpenBao)", "",
             f"CPU ms of the serving process per call; {layers['concurrency']} client threads, {layers['calls']} "
             f"calls per run, median of {layers['runs']} runs (bench/layers.py). Each row adds to the one above.", "",
             "| what runs | CPU ms per call |", "|---|---:|",
             f"| bare grpcio sync server, constant reply, no TLS | {layers['bare_grpc']:.3f} |"]
    plugin = layers.get("plugin", {})
    if "Type" in plugin:
        lines.append(f"| yamldb plugin (prebuilt), `Type` through the mTLS terminator | {plugin['Type']:.3f} |")
    for name, value in plugin.items():
        if name.startswith("DeleteUser"):
            database = name.split(" ", 1)[1]
            lines.append(f"| yamldb plugin, `DeleteUser` ({database}, revocation statement, user absent) | "
                         f"{value:.3f} |")
    for name, value in layers.get("in_process", {}).items():
        kind, database = name.split(" ", 1)
        label = ("yamldb engine alone (`SqlEngine.run`, in-process)" if kind == "engine"
                 else "the bare driver, one connection per thread (in-process)")
        lines.append(f"| {label}, {database} | {value:.3f} |")
    return lines


def _profile_section(prof: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if "samples" in prof:
        lines += ["", f"## Profile of the yamldb process (py-spy, {prof['seconds']} s at c={prof['concurrency']}, "
                      f"{prof['target']}, {prof['samples']} samples)", "",
                  "Thread groups: " + ", ".join(f"{k} {v}%" for k, v in prof["threads_pct"].items()) + ".", "",
                  "| layer (innermost matching frame) | % of samples |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in prof["layers_pct"].items()]
        lines += ["", "| self time: function | % |", "|---|---:|"]
        lines += [f"| `{r['function']}` | {r['pct']} |" for r in prof["self_top"][:12]]
    else:
        lines += ["", f"## Profile: {prof.get('skipped') or prof}"]
    return lines


def _msgs(phase: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in phase["messages_per_op"].items()) + \
        (" — " + "; ".join(f"`{s}`" for s in phase["statements_seen"]) if phase["statements_seen"] else "")


def _cpu(summary: dict[str, Any]) -> str:
    cpu = summary.get("cpu_ms_per_op", {})
    return "/".join(_f(cpu.get(k), 2) for k in ("openbao", "yamldb", "database"))
