"""``python -m bench.spread DIR [DIR ...]``: the run-to-run spread of several ``python -m bench`` runs.

Each DIR holds one run's ``latest.json``. For every (database, concurrency) point this prints the
ratios of each run (yamldb ÷ the floor, yamldb ÷ the built-in plugin, the plugin's CPU over the floor's)
as min – max (median), and how many runs met each target of ``bench/report.py``. Nothing is measured
here: it only reads what the runs wrote, so the spread quoted in docs/benchmarks.md can be reproduced.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

__all__ = ["main", "spread_table"]

COLUMNS = [
    ("issued/s ÷ floor", ("vs_floor", "issue_per_s")),
    ("revoked/s ÷ floor", ("vs_floor", "revoke_per_s")),
    ("issued/s ÷ built-in", ("vs_builtin", "issue_per_s")),
    ("revoked/s ÷ built-in", ("vs_builtin", "revoke_per_s")),
    ("issue p99 ÷ floor", ("vs_floor", "issue_p99")),
    ("revoke p99 ÷ floor", ("vs_floor", "revoke_p99")),
    ("issue p99 ÷ built-in", ("vs_builtin", "issue_p99")),
    ("revoke p99 ÷ built-in", ("vs_builtin", "revoke_p99")),
    ("plugin CPU over floor, issue (ms)", ("cpu_over_floor_ms", "issue")),
    ("plugin CPU over floor, revoke (ms)", ("cpu_over_floor_ms", "revoke")),
]


def _cell(values: list[float]) -> str:
    if not values:
        return "-"
    low, high, mid = min(values), max(values), statistics.median(values)
    return f"{low:.2f} – {high:.2f} ({mid:.2f})" if len(values) > 1 else f"{mid:.2f}"


def spread_table(runs: list[dict[str, Any]]) -> str:
    """Markdown: one row per (database, c), one column per ratio, min – max (median) over the runs."""
    points = sorted(
        {(db, c) for run in runs for db, by_c in run.get("ratios", {}).items() for c in by_c},
        key=lambda p: (p[0] != "postgresql", int(p[1])),
    )
    lines = [
        "| database | c | " + " | ".join(label for label, _ in COLUMNS) + " |",
        "|---|---:|" + "---|" * len(COLUMNS),
    ]
    for db, c in points:
        cells = []
        for _, (group, key) in COLUMNS:
            values = [run["ratios"][db][c][group][key] for run in runs if c in run.get("ratios", {}).get(db, {})]
            cells.append(_cell([v for v in values if isinstance(v, int | float)]))
        lines.append(f"| {db} | {c} | " + " | ".join(cells) + " |")
    met: dict[str, list[str]] = {}
    for run in runs:
        for target in run.get("targets", []):
            met.setdefault(target["target"], []).append(target["status"])
    lines += ["", "| target | goal | runs that met it |", "|---|---|---:|"]
    goals = {t["target"]: t["goal"] for run in runs for t in run.get("targets", [])}
    for name, statuses in met.items():
        lines.append(f"| {name} | {goals[name]} | {statuses.count('met')} of {len(statuses)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.spread", description=__doc__.split("\n\n")[0])
    p.add_argument("dirs", nargs="+", type=Path, help="directories that each hold a run's latest.json")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    runs = []
    for directory in args.dirs:
        path = directory / "latest.json"
        try:
            runs.append(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:
            print(f"{path}: cannot read a run ({exc})", file=sys.stderr)
            return 2
    sources = sorted({str(run.get("machine", {}).get("source", "?")) for run in runs})
    print(f"{len(runs)} runs; yamldb source: {', '.join(sources)}\n")
    print(spread_table(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
