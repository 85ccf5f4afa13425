"""/proc readings: CPU seconds and resident memory of processes, and the whole machine's CPU."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()  # comm may contain spaces and ')'


def cpu_seconds(pid: int, children: bool = False) -> float:
    """utime+stime of a live process (all its threads); with ``children`` also of its reaped children."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0.0
    # after the ")": state=0 ppid=1 ... utime=11 stime=12 cutime=13 cstime=14
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


def rss_bytes(pid: int) -> int:
    """VmRSS from /proc/PID/status (0 when the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def rss_split(pid: int) -> dict[str, int]:
    """RssAnon / RssFile / RssShmem in bytes (file-backed pages are shareable between processes)."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("RssAnon:", "RssFile:", "RssShmem:")):
                key, value = line.split(":", 1)
                out[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return out


def descendants(root: int) -> list[int]:
    """Live descendants of ``root`` (any depth)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None and fields[0] != "Z":
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def pids_named(comm: str) -> list[int]:
    """PIDs whose /proc/PID/comm equals ``comm``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == comm:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def machine_busy_seconds() -> float:
    """CPU seconds spent not idle, summed over all CPUs, since boot (from /proc/stat)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
    busy = sum(values) - values[3] - values[4]
    return busy / CLK_TCK


def wait_for_quiet(max_wait: float, threshold_cores: float = 0.35, window: float = 1.0) -> dict[str, float]:
    """Between measurements (our servers idle): wait, at most ``max_wait`` s, until the machine's busy CPU over
    ``window`` s is below ``threshold_cores``; the machine may be shared. Returns what was waited and seen."""
    import time

    started = time.monotonic()
    busy = 0.0
    while True:
        before = machine_busy_seconds()
        time.sleep(window)
        busy = (machine_busy_seconds() - before) / window
        waited = time.monotonic() - started
        if busy < threshold_cores or waited >= max_wait:
            return {"waited_s": round(waited, 1), "busy_cores": round(busy, 2)}


class CpuGroup:
    """A named set of processes whose CPU time we sample before and after a phase."""

    def __init__(self, name: str, pids: Iterable[int] = (), tree_root: int | None = None) -> None:
        self.name = name
        self.pids = list(pids)
        self.tree_root = tree_root  # e.g. the postmaster: its live backends plus reaped ones

    def seconds(self) -> float:
        total = sum(cpu_seconds(pid) for pid in self.pids)
        if self.tree_root is not None:
            total += cpu_seconds(self.tree_root, children=True)
            total += sum(cpu_seconds(pid) for pid in descendants(self.tree_root))
        return total


class CpuMeter:
    """CPU seconds per group (and the whole machine) over an interval."""

    def __init__(self, groups: list[CpuGroup]) -> None:
        self.groups = groups
        self._start: dict[str, float] = {}

    def start(self) -> None:
        self._start = {g.name: g.seconds() for g in self.groups}
        self._start["machine"] = machine_busy_seconds()
        self._start["client"] = _self_cpu()

    def stop(self) -> dict[str, float]:
        out = {g.name: g.seconds() - self._start[g.name] for g in self.groups}
        out["client"] = _self_cpu() - self._start["client"]
        out["machine"] = machine_busy_seconds() - self._start["machine"]
        out["other"] = max(out["machine"] - sum(v for k, v in out.items() if k != "machine"), 0.0)
        return out


def _self_cpu() -> float:
    times = os.times()
    return times.user + times.system
