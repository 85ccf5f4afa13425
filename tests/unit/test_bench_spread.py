"""bench/spread.py reads several runs' JSON and reports min – max (median) and how many met each target."""

from __future__ import annotations

import json
from pathlib import Path

from bench.spread import main, spread_table


def _run(revoke_vs_floor: float, status: str) -> dict:
    ratios = {
        "vs_floor": {"issue_per_s": 0.3, "revoke_per_s": revoke_vs_floor, "issue_p99": 2.0, "revoke_p99": 1.1},
        "vs_builtin": {"issue_per_s": 1.4, "revoke_per_s": 0.6, "issue_p99": 0.8, "revoke_p99": 1.5},
        "cpu_over_floor_ms": {"issue": 0.9, "revoke": 0.3},
    }
    target = {"target": "postgresql c=8 revocations/s yamldb/floor", "goal": ">= 0.85x", "status": status}
    return {"ratios": {"postgresql": {"8": ratios}}, "targets": [target], "machine": {"source": "abc1234"}}


def test_spread_shows_min_max_median_and_target_counts():
    text = spread_table([_run(0.80, "MISSED"), _run(1.02, "met"), _run(0.90, "met")])
    row = next(line for line in text.splitlines() if line.startswith("| postgresql | 8 |"))
    assert "| 0.80 – 1.02 (0.90) |" in row
    assert "| postgresql c=8 revocations/s yamldb/floor | >= 0.85x | 2 of 3 |" in text


def test_main_reads_run_directories_and_refuses_a_missing_one(tmp_path: Path, capsys):
    for n, value in enumerate((0.8, 0.9)):
        (tmp_path / str(n)).mkdir()
        (tmp_path / str(n) / "latest.json").write_text(json.dumps(_run(value, "met")))
    assert main([str(tmp_path / "0"), str(tmp_path / "1")]) == 0
    assert "0.80 – 0.90 (0.85)" in capsys.readouterr().out
    assert main([str(tmp_path / "missing")]) == 2
