"""Targets, ratios and the markdown report of one benchmark run."""

from __future__ import annotations

import math
from typing import Any

TARGET_CONCURRENCY = (8, 32)
ISSUE_MIN_VS_BUILTIN = 1.0  # issuance at least the built-in plugin's rate
REVOKE_MIN_VS_FLOOR = 0.85  # revocations at least this share of the floor's rate
P99_MAX_VS_FLOOR = 1.2  # p99 at most this multiple of the floor's
CPU_OVER_FLOOR_MS = 0.25  # plugin CPU per operation at most this far above the floor's
HANDSHAKE_INSTALLED_MS = 300
HANDSHAKE_PREBUILT_MS = 1000
RSS_20_CONFIGS_MB = 80
PHASES = ("issue", "revoke")


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not b or (isinstance(a, float) and math.isnan(a)):
        return None
    return round(a / b, 2)


def _plugin_cpu(summary: dict[str, Any]) -> float | None:
    return summary.get("cpu_ms_per_op", {}).get("plugin")


def point_ratios(point: dict[str, Any], arm: str = "yamldb") -> dict[str, Any]:
    """`arm` against the floor and against the built-in plugin, from one point's pooled results."""
    out: dict[str, Any] = {}
    for other in ("floor", "builtin"):
        if other not in point or arm not in point:
            continue
        y, o = point[arm], point[other]
        out[f"vs_{other}"] = {
            **{f"{ph}_per_s": ratio(y[ph]["per_s"], o[ph]["per_s"]) for ph in PHASES},
            **{f"{ph}_p99": ratio(y[ph]["p99_ms"], o[ph]["p99_ms"]) for ph in PHASES},
        }
    if "floor" in point and arm in point:
        out["cpu_over_floor_ms"] = {}
        for ph in PHASES:
            a, b = _plugin_cpu(point[arm][ph]), _plugin_cpu(point["floor"][ph])
            out["cpu_over_floor_ms"][ph] = None if a is None or b is None else round(a - b, 3)
    if "floor" in point and "builtin" in point:
        f, b = point["floor"], point["builtin"]
        out["floor_vs_builtin"] = {f"{ph}_per_s": ratio(f[ph]["per_s"], b[ph]["per_s"]) for ph in PHASES}
    return out


def ratios(results: dict[str, Any]) -> dict[str, Any]:
    return {
        database: {c: point_ratios(point) for c, point in points.items()}
        for database, points in results.get("throughput", {}).items()
    }


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def add(name: str, value: float | None, goal: str, met: bool | None) -> None:
        rows.append(
            {
                "target": name,
                "value": value,
                "goal": goal,
                "status": "n/a" if met is None else "met" if met else "MISSED",
            }
        )

    for database, points in results.get("ratios", {}).items():
        for c in TARGET_CONCURRENCY:
            r = points.get(str(c))
            if r is None:
                continue
            for ph in PHASES:
                v = r.get("cpu_over_floor_ms", {}).get(ph)
                add(
                    f"{database} c={c} {ph}: plugin CPU per op minus the floor's (ms)",
                    v,
                    f"<= {CPU_OVER_FLOOR_MS} ms",
                    None if v is None else v <= CPU_OVER_FLOOR_MS,
                )
            v = r.get("vs_floor", {}).get("revoke_per_s")
            add(
                f"{database} c={c} revocations/s yamldb/floor",
                v,
                f">= {REVOKE_MIN_VS_FLOOR}x",
                None if v is None else v >= REVOKE_MIN_VS_FLOOR,
            )
            v = r.get("vs_builtin", {}).get("issue_per_s")
            add(
                f"{database} c={c} issuance/s yamldb/built-in",
                v,
                f">= {ISSUE_MIN_VS_BUILTIN}x",
                None if v is None else v >= ISSUE_MIN_VS_BUILTIN,
            )
            for ph in PHASES:
                v = r.get("vs_floor", {}).get(f"{ph}_p99")
                add(
                    f"{database} c={c} {ph} p99 yamldb/floor",
                    v,
                    f"<= {P99_MAX_VS_FLOOR}x",
                    None if v is None else v <= P99_MAX_VS_FLOOR,
                )
    hs = results.get("cold_start", {}).get("handshake", {})
    if "installed" in hs:
        v = hs["installed"]["median_ms"]
        add(
            "cold start exec -> handshake, installed package (median ms)",
            v,
            f"<= {HANDSHAKE_INSTALLED_MS} ms",
            v <= HANDSHAKE_INSTALLED_MS,
        )
    if "prebuilt" in hs:
        v = hs["prebuilt"]["median_ms"]
        add(
            "cold start exec -> handshake, prebuilt file (median ms)",
            v,
            f"<= {HANDSHAKE_PREBUILT_MS} ms",
            v <= HANDSHAKE_PREBUILT_MS,
        )
    mem = results.get("memory", {})
    last = str(mem.get("configs", ""))
    if last in mem.get("yamldb", {}):
        v = mem["yamldb"][last]["rss_mb"]
        mixed = f" ({' and '.join(mem['databases'])} alternating)" if len(mem.get("databases", [])) > 1 else ""
        add(f"RSS with {last} multiplexed configs{mixed} (MB)", v, f"<= {RSS_20_CONFIGS_MB} MB", v <= RSS_20_CONFIGS_MB)
    for database, sample in mem.get("yamldb_single", {}).items():
        v = sample["rss_mb"]
        add(
            f"RSS with {last} multiplexed configs, {database} only (MB)",
            v,
            f"<= {RSS_20_CONFIGS_MB} MB",
            v <= RSS_20_CONFIGS_MB,
        )
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
        lines += [
            "",
            "## Issue and revoke through OpenBao's HTTP API",
            "",
            "Same OpenBao, same role statements, same admin user; closed loop, one keep-alive connection "
            "per client thread. Latencies in ms. CPU ms/op = CPU time per successful request of OpenBao "
            "/ the plugin process (yamldb or the floor; the built-in plugin runs inside OpenBao) / the "
            "database server.",
            "",
        ]
        lines += throughput_table(results["throughput"])
        lines += [
            "",
            "### Ratios",
            "",
            "yamldb ÷ the floor and ÷ the built-in plugin, from the same run (rates: higher is better; "
            "p99: lower is better); plugin CPU over the floor = yamldb's CPU ms per op minus the floor's.",
            "",
        ]
        lines += ratio_table(results["ratios"])
    lines += scenarios_section(results.get("scenarios"))

    wire = results.get("wire", {})
    if wire:
        lines += [
            "",
            "## What reaches the database per operation (counting proxy, 20 sequential leases)",
            "",
            "| database | plugin | round trips per issue | per revoke | issue: client messages per op "
            "| revoke: client messages per op |",
            "|---|---|---:|---:|---|---|",
        ]
        for database, plugins in wire.items():
            for plugin, w in plugins.items():
                lines.append(
                    f"| {database} | {plugin} | {w['issue']['round_trips_per_op']} | "
                    f"{w['revoke']['round_trips_per_op']} | {_msgs(w['issue'])} | {_msgs(w['revoke'])} |"
                )

    ceiling = results.get("ceiling", {})
    if ceiling:
        lines += [
            "",
            "## The database's own ceiling (same statements, no OpenBao, no plugin)",
            "",
            "| database | tool | c | create/s | create p99 | drop/s | drop p99 |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for database, data in ceiling.items():
            for c, row in data.items():
                if not c.isdigit():
                    continue
                lines.append(
                    f"| {database} | {data['tool']} | {c} | {_f(row['create']['per_s'])} | "
                    f"{_f(row['create']['p99_ms'], 2)} | {_f(row['drop']['per_s'])} | "
                    f"{_f(row['drop']['p99_ms'], 2)} |"
                )

    cold = results.get("cold_start", {})
    hs = cold.get("handshake", {})
    if hs:
        lines += [
            "",
            "## Cold start",
            "",
            "exec → handshake line (devenv.goplugin_host.PluginProcess):",
            "",
            "| how | runs | min ms | median ms | max ms |",
            "|---|---:|---:|---:|---:|",
        ]
        for key, label in (
            ("installed", "installed package: `python -m yamldb.transport.entry`"),
            ("prebuilt", "prebuilt file, warm cache"),
            ("prebuilt_without_shim", "prebuilt file, warm cache, PATH without the pyenv shim"),
        ):
            if key in hs:
                h = hs[key]
                lines.append(f"| {label} | {h['runs']} | {h['min_ms']} | {h['median_ms']} | {h['max_ms']} |")
        if "prebuilt" in hs:
            pre = hs["prebuilt"]
            lines += [
                "",
                f"Prebuilt file, first run on an empty cache (unpacks the payload): "
                f"{pre['first_run_unpack_ms']} ms. Interpreter: `{pre['interpreter']}`.",
            ]
        if hs.get("installed_import_top"):
            lines += [
                "",
                "Direct imports of `yamldb.transport.server` by cumulative ms (python -X importtime): "
                + ", ".join(f"{r['module']} {r['cumulative_ms']}" for r in hs["installed_import_top"][:8])
                + ".",
            ]
    fc = cold.get("first_credential", {})
    if fc:
        lines += [
            "",
            "exec → first credential inside OpenBao (fresh catalog entry for yamldb, so a new process; medians in ms):",
            "",
            "| database | plugin | runs | register | config write | role write | first creds | config → creds |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for database, data in fc.items():
            for plugin, d in data.items():
                lines.append(
                    f"| {database} | {plugin} | {d['runs']} | {d['register']} | {d['config']} | "
                    f"{d['role']} | {d['first_creds']} | {d['config_to_creds']} |"
                )

    mem = results.get("memory", {})
    if mem:
        n = str(mem["configs"])
        y, b = mem.get("yamldb", {}), mem.get("builtin", {})
        lines += [
            "",
            "## Resident memory",
            "",
            f"Configs alternate between {', '.join(mem['databases'])}; each is used once (one issue, one revoke). "
            f"The plugin file: {results.get('build', {}).get('format', 'zipapp')}.",
            "",
            "| | 1 config | " + n + " configs |",
            "|---|---:|---:|",
        ]
        if "1" in y and n in y:
            lines.append(
                f"| yamldb: VmRSS summed over its processes | {y['1']['rss_mb']} MB "
                f"({y['1']['processes']} proc) | {y[n]['rss_mb']} MB ({y[n]['processes']} proc) |"
            )
            lines.append(
                f"| of which anonymous / file-backed (shared libraries) | {y['1'].get('anon_mb')} / "
                f"{y['1'].get('file_mb')} MB | {y[n].get('anon_mb')} / {y[n].get('file_mb')} MB |"
            )
        if "1" in b and n in b:
            lines.append(
                f"| built-in: change of OpenBao's own RSS (in-process) | {b['1']['delta_mb']:+} MB | "
                f"{b[n]['delta_mb']:+} MB |"
            )
        for database, sample in mem.get("yamldb_single", {}).items():
            lines.append(
                f"| yamldb, {database} configs only (a fresh process) | | {sample['rss_mb']} MB "
                f"({sample['anon_mb']} / {sample['file_mb']} MB) |"
            )
        if mem.get("import_steps"):
            lines += [
                "",
                "Where a fresh interpreter's RSS comes from, importing in this order (MB added): "
                + ", ".join(f"{s['after']} {s['delta_mb']:+}" for s in mem["import_steps"])
                + f" = {mem['import_steps'][-1]['rss_mb']} MB.",
            ]
        if "yamldb_after_load" in mem:
            a = mem["yamldb_after_load"]
            lines += [
                "",
                f"The yamldb process that served all throughput runs (4 configs, pools warm): "
                f"{a['rss_mb']} MB over {a['processes']} process(es).",
            ]

    lines += _layers_section(results.get("layers"))
    for prof in results.get("profile", {}).values():
        lines += _profile_section(prof)

    notes = list(results.get("notes", []))
    noise = [
        s[phase].get("other_busy_cores") or 0.0
        for points in results.get("throughput", {}).values()
        for point in points.values()
        for s in point.values()
        for phase in ("issue", "revoke")
    ]
    gates = [
        g
        for points in results.get("throughput", {}).values()
        for point in points.values()
        for g in point.get("yamldb", {}).get("quiet_gates", [])
    ]
    if gates:
        busy = [g for g in gates if g["busy_cores"] >= 0.35]
        notes.append(
            f"Before each of {len(gates)} measured segments the benchmark waited (at most "
            f"{results['settings'].get('quiet_wait', '?')} s) for the shared machine to go idle: {len(busy)} started "
            f"anyway with other processes busy (up to {max(g['busy_cores'] for g in gates):.2f} cores)."
        )
    if noise:
        notes.append(
            f"Background CPU from processes outside the benchmark during the throughput phases: up to "
            f"{max(noise):.2f} cores (median {sorted(noise)[len(noise) // 2]:.2f}); the machine has "
            f"{m['cores']} cores."
        )
    if notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def _layers_section(layers: dict[str, Any] | None) -> list[str]:
    if not layers:
        return []
    lines = [
        "",
        "## Plugin CPU per call, layer by layer (no OpenBao)",
        "",
        f"CPU ms of the serving process per call; {layers['concurrency']} client threads, {layers['calls']} "
        f"calls per run, median of {layers['runs']} runs (bench/layers.py). Each row adds to the one above.",
        "",
        "| what runs | CPU ms per call |",
        "|---|---:|",
        f"| bare grpcio sync server, constant reply, no TLS | {layers['bare_grpc']:.3f} |",
    ]
    plugin = layers.get("plugin", {})
    if "yamldb Type" in plugin:
        lines.append(
            f"| the prebuilt plugin, `Type` through the mTLS terminator (yamldb / the floor) | "
            f"{plugin['yamldb Type']:.3f} / {plugin.get('floor Type', float('nan')):.3f} |"
        )
    labels = {
        "DeleteUser absent": "`DeleteUser`, user absent",
        "NewUser": "`NewUser` as OpenBao sends it",
        "DeleteUser": "`DeleteUser` of those users",
    }
    databases = sorted({name.split(" ")[2] for name in plugin if name.count(" ") >= 2})
    for database in databases:
        for key, label in labels.items():
            op, *rest = key.split(" ")
            name = " ".join([op, database, *rest])
            if f"yamldb {name}" in plugin:
                y, f = plugin[f"yamldb {name}"], plugin.get(f"floor {name}")
                waits = [
                    (k.split(" ")[0], v) for k, v in plugin.items() if k.startswith("floor+") and k.endswith(f" {name}")
                ]
                lines.append(
                    f"| {database}: {label} — yamldb / the floor / difference"
                    + "".join(f" / {arm}" for arm, _ in waits)
                    + f" | {y:.3f} / {_f(f, 3)} / "
                    f"{_f(None if f is None else y - f, 3)}" + "".join(f" / {v:.3f}" for _, v in waits) + " |"
                )
    for name, value in layers.get("in_process", {}).items():
        kind, database = name.split(" ", 1)
        label = (
            "yamldb engine alone (`SqlEngine.run`, in-process)"
            if kind == "engine"
            else "the bare driver, one connection per thread (in-process)"
        )
        lines.append(f"| {label}, {database} | {value:.3f} |")
    return lines


def _profile_section(prof: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if "samples" in prof:
        lines += [
            "",
            f"## Profile of the plugin process (py-spy, {prof['seconds']} s at c={prof['concurrency']}, "
            f"{prof['target']}, {prof['samples']} samples)",
            "",
            "Thread groups: " + ", ".join(f"{k} {v}%" for k, v in prof["threads_pct"].items()) + ".",
            "",
            "| layer (innermost matching frame) | % of samples |",
            "|---|---:|",
        ]
        lines += [f"| {k} | {v} |" for k, v in prof["layers_pct"].items()]
        lines += ["", "| self time: function | % |", "|---|---:|"]
        lines += [f"| `{r['function']}` | {r['pct']} |" for r in prof["self_top"][:12]]
    else:
        lines += ["", f"## Profile: {prof.get('skipped') or prof}"]
    return lines


def _msgs(phase: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in phase["messages_per_op"].items()) + (
        " — " + "; ".join(f"`{s}`" for s in phase["statements_seen"]) if phase["statements_seen"] else ""
    )


def _cpu(summary: dict[str, Any]) -> str:
    cpu = summary.get("cpu_ms_per_op", {})
    return "/".join(_f(cpu.get(k), 2) for k in ("openbao", "plugin", "database"))


def throughput_table(throughput: dict[str, Any]) -> list[str]:
    lines = [
        "| database | c | plugin | issued/s | issue p50 | issue p99 | revoked/s | revoke p50 | revoke p99 "
        "| errors | CPU ms/op issue (bao/plugin/db) | CPU ms/op revoke (bao/plugin/db) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for database, points in throughput.items():
        for c, point in points.items():
            for plugin, s in point.items():
                i, r = s["issue"], s["revoke"]
                lines.append(
                    f"| {database} | {c} | {plugin} | {_f(i['per_s'])} | {_f(i['p50_ms'], 2)} | "
                    f"{_f(i['p99_ms'], 2)} | {_f(r['per_s'])} | {_f(r['p50_ms'], 2)} | {_f(r['p99_ms'], 2)} | "
                    f"{i['errors'] + r['errors']} | {_cpu(i)} | {_cpu(r)} |"
                )
    return lines


def ratio_table(ratios: dict[str, Any]) -> list[str]:
    lines = [
        "| database | c | issued/s ÷floor | ÷built-in | revoked/s ÷floor | ÷built-in | issue p99 ÷floor "
        "| ÷built-in | revoke p99 ÷floor | ÷built-in | plugin CPU over the floor, issue / revoke (ms) "
        "| floor ÷ built-in, issued / revoked |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for database, points in ratios.items():
        for c, r in points.items():
            vf, vb = r.get("vs_floor", {}), r.get("vs_builtin", {})
            cpu = r.get("cpu_over_floor_ms", {})
            fb = r.get("floor_vs_builtin", {})
            cells = [
                _f(v.get(key), 2)
                for key in ("issue_per_s", "revoke_per_s", "issue_p99", "revoke_p99")
                for v in (vf, vb)
            ]
            lines.append(
                f"| {database} | {c} | " + " | ".join(cells) + f" | {_f(cpu.get('issue'), 2)} / "
                f"{_f(cpu.get('revoke'), 2)} | {_f(fb.get('issue_per_s'), 2)} / "
                f"{_f(fb.get('revoke_per_s'), 2)} |"
            )
    return lines


def scenarios_section(sc: dict[str, Any] | None) -> list[str]:
    if not sc:
        return []
    lines: list[str] = []
    docs = sc.get("docs_roles")
    if docs:
        lines += [
            "",
            "## Scenario a: roles as the Vault docs write them (no revocation statements)",
            "",
            "Each plugin revokes with its own defaults. " + docs.get("about", ""),
            "",
        ]
        lines += throughput_table(docs["throughput"])
        lines += ["", "Ratios:", ""]
        lines += ratio_table(docs["ratios"])
    storm = sc.get("storm")
    if storm:
        lines += [
            "",
            f"## Scenario b: revocation storm ({storm['leases']} leases expiring together, drained by "
            "OpenBao's expiry manager)",
            "",
            storm.get("about", ""),
            "",
            "| database | plugin | issued | issue s | renew s | expiry window s | drained s after first expiry "
            "| after last expiry | revoked/s while draining | errors in OpenBao's log | leases left "
            "| users left | CPU s (bao/plugin/db) while draining |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for database, arms in storm["results"].items():
            for plugin, row in arms.items():
                cpu = row.get("cpu_s", {})
                lines.append(
                    f"| {database} | {plugin} | {row['issued']} | {_f(row['issue_s'])} | {_f(row.get('renew_s'))} | "
                    f"{_f(row['expiry_window_s'])} | {_f(row['drain_s_from_first_expiry'])} | "
                    f"{_f(row['drain_s_after_last_expiry'])} | {_f(row['revoked_per_s'])} | {row['log_errors']} | "
                    f"{row['leases_left']} | {_f(row['users_left'], 0)} | "
                    f"{'/'.join(_f(cpu.get(k), 1) for k in ('openbao', 'plugin', 'database'))} |"
                )
    burst = sc.get("burst")
    if burst:
        lines += [
            "",
            f"## Scenario c: a burst of {burst['count']} credentials asked for at once",
            "",
            burst.get("about", ""),
            "",
            "| database | plugin | ok | errors | all served in s | p50 ms | p99 ms | max ms | plugin CPU ms/op |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for database, arms in burst["results"].items():
            for plugin, row in arms.items():
                lines.append(
                    f"| {database} | {plugin} | {row['ok']} | {row['errors']} | {_f(row['makespan_s'], 2)} | "
                    f"{_f(row['p50_ms'])} | {_f(row['p99_ms'])} | {_f(row['max_ms'])} | "
                    f"{_f(row.get('cpu_ms_per_op', {}).get('plugin'), 2)} |"
                )
        if burst.get("ratios"):
            lines += [
                "",
                "| database | yamldb ÷ floor: makespan / p50 / p99 / max | yamldb ÷ built-in: makespan / "
                "p50 / p99 / max |",
                "|---|---|---|",
            ]
            for database, r in burst["ratios"].items():
                lines.append(
                    f"| {database} | "
                    + " | ".join(
                        " / ".join(_f(r.get(other, {}).get(k), 2) for k in ("makespan_s", "p50_ms", "p99_ms", "max_ms"))
                        for other in ("floor", "builtin")
                    )
                    + " |"
                )
    return lines
