"""``python -m bench.experiments``: what would candidate fixes bring? Measured, without editing yamldb.

Each variant is the same prebuilt plugin under its own catalog name (so its own
process) with ``PYTHONPATH=bench/variants`` and ``YAMLDB_BENCH_PATCHES=...``:
bench/variants/sitecustomize.py patches the named yamldb internals right after
they are imported. Every variant is measured against the built-in plugin in the
same A B B A way as ``python -m bench``, at the target concurrencies.
Writes bench/results/experiments.md and experiments.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from bench import throughput
from bench.loadgen import STOP
from bench.machine import source_state
from bench.procstat import rss_bytes, wait_for_quiet
from bench.stack import Target, start_stack
from devenv import HarnessUnavailable

RESULTS = Path(__file__).resolve().parent / "results"
OLD_ENGINE = ["always-ping", "stepwise"]
VARIANTS: list[tuple[str, list[str], dict[str, str]]] = [
    ("as shipped", [], {}),
    ("always-ping", ["always-ping"], {}),
    ("no-batch", ["no-batch"], {}),
    ("stepwise (SQLAlchemy Connection path)", ["stepwise"], {}),
    ("old engine: stepwise + always-ping", OLD_ENGINE, {}),
    ("log level WARNING", ["warn-log"], {}),
    ("psycopg cursor.execute (before execute_batch)", ["psycopg-cursor"], {}),
    ("rpc-workers-8", ["rpc-workers-8"], {}),
    ("MALLOC_ARENA_MAX=2", [], {"MALLOC_ARENA_MAX": "2"}),
    ("floor: no database work", ["no-database"], {}),
]


def _log(message: str) -> None:
    print(message, flush=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """All variants and the built-in plugin as arms of one rotation: for each (database, concurrency), every
    round runs one segment per arm (issue ``leases``, revoke them) in a rotated order, so slow drift and
    bursts of background load on the shared machine hit every arm alike."""
    results: dict[str, Any] = {
        "leases_per_segment": args.leases,
        "rounds": args.rounds,
        "concurrency": args.concurrency,
        "source": source_state(),
        "variants": [],
    }
    with contextlib.ExitStack() as cleanup:
        stack = start_stack(cleanup, args.databases, "info", _log)
        chosen = [(i, v) for i, v in enumerate(VARIANTS) if not args.only or str(i) in args.only]
        arms: dict[str, dict[str, Target]] = {"built-in": {db: stack.target(db, "builtin") for db in args.databases}}
        pids: dict[str, list[int]] = {}
        markers: dict[str, Path] = {}
        for index, (label, patches, env) in chosen:
            catalog = f"yamldb-v{index}"
            markers[label] = stack.register_variant(catalog, patches, env)
            arms[label] = {}
            for db in args.databases:
                short = {"postgresql": "p", "mysql": "m"}[db]
                config, role = f"{db}-v{index}", f"{stack.run_id}{short}v{index}"
                arms[label][db] = Target(db, label, config, role, stack.configure(config, role, db, catalog))
            pids[label] = stack.catalog_pids.get(catalog, [])
        labels = list(arms)
        acc: dict[tuple[str, str], tuple[throughput._Acc, throughput._Acc]] = {}
        for db in args.databases:
            for c in args.concurrency:
                key = f"{db} c={c}"
                for label in labels:
                    throughput.warm_up(stack, arms[label][db], c, args.request_timeout)
                    acc[(key, label)] = (throughput._Acc(), throughput._Acc())
                for r in range(args.rounds):
                    order = labels[r % len(labels) :] + labels[: r % len(labels)]
                    if r % 2:
                        order.reverse()
                    for label in order:
                        if args.quiet_wait > 0:
                            wait_for_quiet(args.quiet_wait)
                        throughput._segment(
                            stack, arms[label][db], c, args.leases, args.request_timeout, *acc[(key, label)]
                        )
                _log(
                    f"  {key}: "
                    + ", ".join(
                        f"{label} {acc[(key, label)][0].summary()['per_s']:.0f}/"
                        f"{acc[(key, label)][1].summary()['per_s']:.0f}"
                        for label in labels
                    )
                    + " issued/revoked per s"
                )
        for label in labels:
            row: dict[str, Any] = {"variant": label, "points": {}}
            if label != "built-in":
                _, patches, env = next(v for _, v in chosen if v[0] == label)
                row.update(
                    patches=patches, env=env, rss_mb_after_load=round(sum(rss_bytes(p) for p in pids[label]) / 2**20, 1)
                )
                try:
                    row["applied"] = stack.check_patches(markers[label], patches)
                except RuntimeError as exc:
                    row["warning"] = str(exc)
                    _log("  WARNING: " + row["warning"])
            for db in args.databases:
                for c in args.concurrency:
                    key = f"{db} c={c}"
                    y = {"issue": acc[(key, label)][0].summary(), "revoke": acc[(key, label)][1].summary()}
                    b = {"issue": acc[(key, "built-in")][0].summary(), "revoke": acc[(key, "built-in")][1].summary()}
                    row["points"][key] = {
                        "issue_ratio": round(y["issue"]["per_s"] / b["issue"]["per_s"], 2),
                        "revoke_ratio": round(y["revoke"]["per_s"] / b["revoke"]["per_s"], 2),
                        "issue_p99_ratio": round(y["issue"]["p99_ms"] / b["issue"]["p99_ms"], 2),
                        "revoke_p99_ratio": round(y["revoke"]["p99_ms"] / b["revoke"]["p99_ms"], 2),
                        "yamldb": y,
                    }
            results["variants"].append(row)
    return results


def markdown(results: dict[str, Any]) -> str:
    keys = list(results["variants"][0]["points"]) if results["variants"] else []
    lines = [
        f"# yamldb variants against the built-in plugins ({results['rounds']} rounds x "
        f"{results['leases_per_segment']} leases per arm and point, rotated)",
        "",
        f"yamldb source: {results.get('source', '?')}. Variants: bench/variants/sitecustomize.py.",
        "",
        "Ratios yamldb-variant / built-in, measured side by side (issued/s, revoked/s: higher is better; "
        "p99: lower is better). Plugin CPU = CPU ms of the yamldb process per request (issue/revoke).",
        "",
    ]
    for key in keys:
        lines += [
            f"## {key}",
            "",
            "| variant | issued/s | revoked/s | issue p99 | revoke p99 | absolute issued/s | revoked/s "
            "| plugin CPU ms/op | RSS after load |",
            "|---|---:|---:|---:|---:|---:|---:|---|---:|",
        ]
        for row in results["variants"]:
            p = row["points"][key]
            y = p["yamldb"]
            cpu_i, cpu_r = (y[phase]["cpu_ms_per_op"].get("plugin", 0.0) for phase in ("issue", "revoke"))
            cpu = f"{cpu_i:.2f}/{cpu_r:.2f}" if row["variant"] != "built-in" else "in OpenBao"
            lines.append(
                f"| {row['variant']} | {p['issue_ratio']} | {p['revoke_ratio']} | "
                f"{p['issue_p99_ratio']} | {p['revoke_p99_ratio']} | {y['issue']['per_s']} | "
                f"{y['revoke']['per_s']} | {cpu} | {row.get('rss_mb_after_load', '-')} MB |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.experiments", description=__doc__.split("\n\n")[0])
    p.add_argument("--leases", type=int, default=100, help="leases per segment")
    p.add_argument("--rounds", type=int, default=3, help="segments per arm and point (rotated order)")
    p.add_argument("--concurrency", default="8,32")
    p.add_argument("--databases", default="postgresql,mysql")
    p.add_argument("--only", default="", help="comma-separated variant numbers (0 = as shipped)")
    p.add_argument("--request-timeout", type=float, default=60.0)
    p.add_argument("--quiet-wait", type=float, default=2.0)
    p.add_argument("--output", type=Path, default=RESULTS)
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c.strip()]
    args.databases = tuple(d.strip() for d in args.databases.split(",") if d.strip())
    args.only = {s.strip() for s in args.only.split(",") if s.strip()}

    def on_term(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    started = time.monotonic()
    try:
        results = run(args)
    except KeyboardInterrupt:
        STOP.set()
        print("\ninterrupted: everything started has been stopped and removed", file=sys.stderr)
        return 130
    except HarnessUnavailable as exc:
        print(f"cannot run here: {exc.reason}", file=sys.stderr)
        return 1
    results["duration_s"] = round(time.monotonic() - started, 1)
    args.output.mkdir(parents=True, exist_ok=True)
    text = markdown(results)
    (args.output / "experiments.md").write_text(text)
    (args.output / "experiments.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    print("\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
