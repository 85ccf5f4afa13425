"""``python -m bench``: yamldb against its floor and OpenBao's built-in database plugins, in one OpenBao.

Starts OpenBao dev, a throw-away PostgreSQL and a MariaDB admin user, builds the
prebuilt plugin, configures three arms side by side with the same role statements:
yamldb, the floor (the same file with its database work switched off) and the
built-in plugin; measures issue/revoke throughput and latency, the operators'
scenarios (roles as the Vault docs write them, a revocation storm, a burst), cold
start, resident memory and the databases' own ceiling. Writes
bench/results/latest.md and latest.json; everything started is stopped and
removed at the end, on failure and on Ctrl-C. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from bench import ceiling, coldstart, layers, machine, memory, profile, report, scenarios, throughput, wire
from bench.loadgen import STOP
from bench.stack import MOUNT, PLUGINS, Stack, start_stack
from devenv import HarnessUnavailable

RESULTS = Path(__file__).resolve().parent / "results"


PARTS = ("cold", "throughput", "scenarios", "wire", "memory", "ceiling", "layers")


def _log(message: str) -> None:
    print(message, flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--leases", type=int, default=500, help="leases per (database, plugin, concurrency) point")
    p.add_argument("--concurrency", default="1,8,32", help="comma-separated client thread counts")
    p.add_argument("--databases", default="postgresql,mysql", help="postgresql and/or mysql")
    p.add_argument("--cold-runs", type=int, default=10, help="exec -> handshake runs per variant")
    p.add_argument("--cold-cred-runs", type=int, default=5, help="exec -> first credential runs per plugin")
    p.add_argument("--memory-configs", type=int, default=20, help="connection configs for the memory reading")
    p.add_argument(
        "--skip", default="", help="comma-separated parts to skip: cold,throughput,scenarios,wire,memory,ceiling,layers"
    )
    p.add_argument("--only", default="", help="comma-separated parts to run (the others are skipped)")
    p.add_argument(
        "--scenarios",
        default="a,b,c",
        help="which scenarios: a (roles as the docs write them), b (revocation storm), c (burst)",
    )
    p.add_argument("--storm-leases", type=int, default=5000, help="scenario b: leases that expire together")
    p.add_argument("--burst", type=int, default=1000, help="scenario c: credentials asked for at once")
    p.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="SECONDS",
        help="also record a py-spy profile of yamldb under load for SECONDS (0 = off)",
    )
    p.add_argument("--profile-concurrency", type=int, default=32)
    p.add_argument("--profile-svg", action="store_true", help="also record a flame graph SVG")
    p.add_argument("--bao-log-level", default="info", help="OpenBao's log level (plugin lines go through it)")
    p.add_argument("--request-timeout", type=float, default=60.0)
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="before each measured segment wait up to SECONDS for the (shared) machine to be idle",
    )
    p.add_argument("--output", type=Path, default=RESULTS, help="directory for latest.md / latest.json")
    p.add_argument(
        "--plugin-format",
        choices=("zipapp", "self-contained"),
        default="zipapp",
        help="the plugin file to build and measure; self-contained is what `yamldb plugin build` ships by default",
    )
    args = p.parse_args(argv)
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c.strip()]
    args.databases = tuple(d.strip() for d in args.databases.split(",") if d.strip())
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    args.scenarios = {s.strip() for s in args.scenarios.split(",") if s.strip()}
    if not args.scenarios <= {"a", "b", "c"}:
        p.error("--scenarios: a, b and/or c")
    if args.only:
        args.skip |= set(PARTS) - {s.strip() for s in args.only.split(",") if s.strip()}
    if not set(args.databases) <= {"postgresql", "mysql"}:
        p.error("--databases: postgresql and/or mysql")
    if args.plugin_format != "zipapp" and ({"throughput", "scenarios", "layers"} - args.skip or args.profile):
        # Their floor arms patch the plugin through PYTHONPATH, which the frozen interpreter does not read.
        p.error("--plugin-format self-contained: only parts without the floor arm (e.g. --only memory,cold)")
    if args.leases < 2 or any(c < 1 for c in args.concurrency):
        p.error("--leases must be >= 2 and concurrency >= 1")
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    results: dict[str, Any] = {
        "started": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m bench " + " ".join(sys.argv[1:]),
        "settings": {
            "leases": args.leases,
            "concurrency": args.concurrency,
            "databases": list(args.databases),
            "bao_log_level": args.bao_log_level,
            "cold_runs": args.cold_runs,
            "cold_cred_runs": args.cold_cred_runs,
            "memory_configs": args.memory_configs,
            "quiet_wait": args.quiet_wait,
            "storm_leases": args.storm_leases,
            "burst": args.burst,
        },
        "notes": [],
    }
    with contextlib.ExitStack() as cleanup:
        stack = start_stack(cleanup, args.databases, args.bao_log_level, _log, args.plugin_format)
        cleanup.callback(_final_cleanup, stack, results)
        results["machine"] = machine.describe(stack)
        results["notes"] += stack.notes
        results["build"] = {
            "format": args.plugin_format,
            "seconds": round(stack.build_seconds, 1),
            "sha256": stack.plugin_sha256,
            "size_mb": round(stack.plugin_path.stat().st_size / 2**20, 1),
        }

        if "cold" not in args.skip:
            _log("cold start: exec -> handshake")
            results["cold_start"] = {"handshake": coldstart.handshake(stack, args.cold_runs, _log)}
            _log("cold start: config write -> first credential")
            results["cold_start"]["first_credential"] = coldstart.first_credential(
                stack, args.databases, args.cold_cred_runs, _log
            )

        # yamldb first: its process is the one that appears with its first config. Then the floor's.
        targets = {db: {"yamldb": stack.target(db, "yamldb")} for db in args.databases}
        if args.plugin_format == "zipapp":  # the floor is the zipapp patched through PYTHONPATH
            stack.register_floor()
        for db in args.databases:
            if args.plugin_format == "zipapp":
                targets[db]["floor"] = stack.target(db, "floor")
            targets[db]["builtin"] = stack.target(db, "builtin")
        if "throughput" not in args.skip:
            _log(f"issue/revoke: {args.leases} leases per point and arm ({', '.join(PLUGINS)}), A B C C B A order")
            results["throughput"] = {}
            for database in args.databases:
                results["throughput"][database] = {}
                for n, c in enumerate(args.concurrency):
                    results["throughput"][database][str(c)] = throughput.measure_point(
                        stack,
                        targets[database],
                        c,
                        args.leases,
                        n + len(results["throughput"]),
                        args.request_timeout,
                        _log,
                        args.quiet_wait,
                    )
            results["ratios"] = report.ratios(results)

        if "scenarios" not in args.skip:
            results["scenarios"] = scenarios.run_all(stack, targets, args, _log)

        if "wire" not in args.skip:
            _log("what each plugin sends to the database per operation (counting proxy)")
            results["wire"] = wire.measure(stack, args.databases, 20, _log)

        if "memory" not in args.skip:
            _log(f"resident memory with 1 and {args.memory_configs} configs")
            results["memory"] = memory.measure(stack, args.databases, args.memory_configs, _log)

        if "ceiling" not in args.skip:
            _log("the databases' own ceiling, same statements, no OpenBao")
            results["ceiling"] = {}
            if "postgresql" in args.databases:
                results["ceiling"]["postgresql"] = ceiling.postgresql(stack, args.concurrency, args.leases, _log)
            if "mysql" in args.databases:
                results["ceiling"]["mysql"] = ceiling.mysql(stack, args.concurrency, args.leases, _log)

        if "layers" not in args.skip:
            _log("plugin CPU per call, layer by layer (no OpenBao)")
            results["layers"] = layers.measure(stack, 2000, 3, _log)

        if args.profile:
            _log("profiling the yamldb and the floor process under load")
            results["profile"] = {
                f"{database} {arm}": profile.record(
                    stack,
                    targets[database][arm],
                    args.profile_concurrency,
                    args.profile,
                    args.output,
                    args.profile_svg and arm == "yamldb",
                    _log,
                )
                for database in args.databases
                for arm in ("yamldb", "floor")
            }
        results["notes"] += [
            "yamldb and the built-in plugin use their default pool (at most 4 open connections per config) and "
            "the same admin user. The floor is the same prebuilt yamldb file with NewUser/UpdateUser/DeleteUser "
            "answering at once (bench/variants/sitecustomize.py, patch no-database): OpenBao, go-plugin, the mTLS "
            "hop, grpcio and yamldb's servicer, no rendering, no database.",
            "The load generator (Python threads), OpenBao, the plugin and the database share the same cores: "
            "'CPU ms/op' shows who spends what per request.",
        ]
    results["targets"] = report.targets(results)
    results["duration_s"] = round(time.monotonic() - started, 1)
    return results


def _final_cleanup(stack: Stack, results: dict[str, Any]) -> None:
    """Revoke whatever leases are left, then check no user of this run survives (before the servers stop)."""
    with contextlib.suppress(Exception):
        stack.bao.api("PUT", f"sys/leases/revoke-prefix/{MOUNT}/creds", {"sync": True}, timeout=120)
    leftovers: dict[str, int] = {}
    with contextlib.suppress(Exception):
        if stack.pg is not None:
            with stack.pg.connect() as conn:
                leftovers["postgresql"] = conn.execute(
                    "SELECT count(*) FROM pg_roles WHERE rolname LIKE %s OR rolname LIKE 'pgb-%%'",
                    (f"%{stack.run_id}%",),
                ).fetchone()[0]
    with contextlib.suppress(Exception):
        if stack.mariadb is not None:
            with stack.mariadb.connect() as conn, conn.cursor() as cur:
                cur.execute("SELECT User, Host FROM mysql.user WHERE User LIKE %s", (f"%{stack.run_id}%",))
                rows = cur.fetchall()
                leftovers["mysql"] = len(rows)
                for user, host in rows:  # also names outside the tracked prefixes
                    cur.execute(f"DROP USER IF EXISTS '{user}'@'{host}'")
    results["leftover_users_before_cleanup"] = leftovers
    if any(leftovers.values()):
        results["notes"].append(f"users of this run still present at the end (then dropped): {leftovers}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)

    def on_term(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        results = run(args)
    except KeyboardInterrupt:
        STOP.set()
        print("\ninterrupted: everything started has been stopped and removed", file=sys.stderr)
        return 130
    except HarnessUnavailable as exc:
        print(f"cannot run the benchmark here: {exc.reason}", file=sys.stderr)
        return 1
    args.output.mkdir(parents=True, exist_ok=True)
    text = report.markdown(results)
    (args.output / "latest.md").write_text(text)
    (args.output / "latest.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    print("\n" + text)
    print(f"written: {args.output / 'latest.md'} and {args.output / 'latest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
