"""Issue and revoke throughput/latency: yamldb, the floor and the built-in plugin side by side in one OpenBao.

For each (database, concurrency) point every arm is warmed up, then measured in
segments ordered A B C C B A (which arm is A rotates between points), each segment
issuing its share of the leases and then revoking exactly those. Per arm the
segments are pooled: rate = successful requests / summed wall time, latency
percentiles over all requests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.loadgen import PhaseResult, percentile, run_phase
from bench.procstat import CpuGroup, CpuMeter, pids_named, wait_for_quiet
from bench.stack import MOUNT, Stack, Target


def issue(stack: Stack, target: Target, concurrency: int, count: int, timeout: float) -> PhaseResult:
    path = f"{MOUNT}/creds/{target.role}"
    return run_phase(
        stack.bao.port,
        stack.bao.token,
        concurrency,
        count,
        lambda _i: ("GET", path, None),
        expect=(200,),
        extract=lambda r: r.get("lease_id"),
        timeout=timeout,
    )


def revoke(stack: Stack, lease_ids: list[str], concurrency: int, timeout: float) -> PhaseResult:
    return run_phase(
        stack.bao.port,
        stack.bao.token,
        concurrency,
        len(lease_ids),
        lambda i: ("PUT", "sys/leases/revoke", {"lease_id": lease_ids[i]}),
        expect=(200, 204),
        timeout=timeout,
    )


def cpu_groups(stack: Stack, target: Target) -> list[CpuGroup]:
    assert stack.bao.process is not None
    plugin_pids = target.pids if target.pids is not None else sorted(stack.catalog_pids.get("yamldb", []))
    groups = [CpuGroup("openbao", [stack.bao.process.pid]), CpuGroup("plugin", plugin_pids)]
    if target.database == "postgresql":
        groups.append(CpuGroup("database", tree_root=stack.postmaster_pid()))
    else:
        groups.append(CpuGroup("database", pids_named("mariadbd")))
    return groups


class _Acc:
    """Pooled results of one plugin's segments for one phase."""

    def __init__(self) -> None:
        self.requests = self.ok = 0
        self.wall = 0.0
        self.lat: list[float] = []
        self.errors: list[str] = []
        self.cpu: dict[str, float] = {}

    def add(self, res: PhaseResult, cpu: dict[str, float]) -> None:
        self.requests += res.requests
        self.ok += res.ok
        self.wall += res.wall_s
        self.lat += res.latencies_ms
        self.errors += res.errors
        for key, value in cpu.items():
            self.cpu[key] = self.cpu.get(key, 0.0) + value

    def summary(self) -> dict[str, Any]:
        ok = max(self.ok, 1)
        return {
            "requests": self.requests,
            "ok": self.ok,
            "errors": len(self.errors),
            "error_samples": sorted(set(self.errors))[:3],
            "wall_s": round(self.wall, 3),
            "per_s": round(self.ok / self.wall, 1) if self.wall else 0.0,
            "p50_ms": round(percentile(self.lat, 50), 2),
            "p90_ms": round(percentile(self.lat, 90), 2),
            "p99_ms": round(percentile(self.lat, 99), 2),
            "max_ms": round(max(self.lat), 2) if self.lat else None,
            # CPU time each party spent per successful request (ms); "other" = the rest of the machine
            "cpu_ms_per_op": {k: round(v * 1000 / ok, 3) for k, v in sorted(self.cpu.items())},
            "cpu_busy_cores": round(self.cpu.get("machine", 0.0) / self.wall, 2) if self.wall else None,
            # CPU of processes that are not part of the benchmark (other users of the machine): noise
            "other_busy_cores": round(self.cpu.get("other", 0.0) / self.wall, 2) if self.wall else None,
        }


def _segment(
    stack: Stack, target: Target, concurrency: int, count: int, timeout: float, acc_issue: _Acc, acc_revoke: _Acc
) -> None:
    meter = CpuMeter(cpu_groups(stack, target))
    meter.start()
    issued = issue(stack, target, concurrency, count, timeout)
    acc_issue.add(issued, meter.stop())
    leases = [lease for lease in issued.outputs if lease]
    meter.start()
    revoked = revoke(stack, leases, concurrency, timeout)
    acc_revoke.add(revoked, meter.stop())


def warm_up(stack: Stack, target: Target, concurrency: int, timeout: float) -> None:
    issued = issue(stack, target, concurrency, max(10, 2 * concurrency), timeout)
    if not issued.ok:  # some errors are results (counted in the measured segments); none working is not
        raise RuntimeError(f"warm-up of {target.config} failed: {issued.errors[:3]}")
    revoke(stack, [lease for lease in issued.outputs if lease], concurrency, timeout)


def measure_point(
    stack: Stack,
    targets: dict[str, Target],
    concurrency: int,
    leases: int,
    rotation: int,
    timeout: float,
    log: Callable[[str], None],
    quiet_wait: float = 0.0,
) -> dict[str, dict[str, Any]]:
    """One (database, concurrency) point for every arm in `targets`; `rotation` picks which arm goes first."""
    arms = list(targets)
    k = rotation % len(arms)
    order = arms[k:] + arms[:k]
    gates = []
    for arm in order:
        warm_up(stack, targets[arm], concurrency, timeout)
    halves = (leases // 2, leases - leases // 2)
    accs = {arm: (_Acc(), _Acc()) for arm in order}
    done = dict.fromkeys(order, 0)
    for arm in order + order[::-1]:
        if quiet_wait > 0:
            gates.append(wait_for_quiet(quiet_wait))
        count = halves[done[arm]]
        done[arm] += 1
        _segment(stack, targets[arm], concurrency, count, timeout, *accs[arm])
    out: dict[str, Any] = {}
    for arm in arms:
        acc_issue, acc_revoke = accs[arm]
        out[arm] = {"issue": acc_issue.summary(), "revoke": acc_revoke.summary()}
        if gates:
            out[arm]["quiet_gates"] = gates
        s = out[arm]
        log(
            f"  {targets[arm].database:10} c={concurrency:<3} {arm:8} issue {s['issue']['per_s']:7.1f}/s "
            f"p50 {s['issue']['p50_ms']:7.2f} p99 {s['issue']['p99_ms']:7.2f} ms | revoke "
            f"{s['revoke']['per_s']:7.1f}/s p50 {s['revoke']['p50_ms']:7.2f} p99 {s['revoke']['p99_ms']:7.2f} ms"
            f" | plugin CPU {s['issue']['cpu_ms_per_op'].get('plugin', 0):.2f}/"
            f"{s['revoke']['cpu_ms_per_op'].get('plugin', 0):.2f} ms"
            + (
                f" | errors {s['issue']['errors']}+{s['revoke']['errors']}"
                if s["issue"]["errors"] or s["revoke"]["errors"]
                else ""
            )
        )
    return out
