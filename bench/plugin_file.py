"""``python -m bench.plugin_file``: the two plugin file formats side by side (docs/benchmarks.md).

Builds the self-contained file and the zipapp into temporary directories, then for each, and for
the installed package: build time and size, exec -> go-plugin handshake line on the first start
(a new empty cache every run) and on later starts (a warm cache), the same warm start in metadata
mode (the launch OpenBao makes at registration), the plugin's resident memory right after its
handshake, and the unpacked cache's size. Starts are interleaved format by format, run by run, so
a change in machine load hits both; the CPU time each start used until its handshake is
reported beside the wall times, as it is far less sensitive to other load. Prints a Markdown
table and the load average before and after.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.coldstart import stop
from devenv.goplugin_host import HostCert, PluginProcess, make_host_cert

METADATA_MODE = {"VAULT_PLUGIN_METADATA_MODE": "true", "BAO_PLUGIN_METADATA_MODE": "true"}
# The zipapp's `/usr/bin/env python3.X` finds the system interpreter, as on a server, not a version-manager shim.
HOST_PATH = {"PATH": "/usr/local/bin:/usr/bin:/bin"}


def build(fmt: str, directory: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "yamldb.cli", "plugin", "build", "--format", fmt, "--output", str(directory)],
        check=True,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    return time.perf_counter() - started


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process used so far, across its execs: unlike wall time, not
    stretched by other work on a busy machine."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def launch(command: list[str], env: dict[str, str], cert: HostCert) -> tuple[float, float, float]:
    """(seconds exec -> handshake line, CPU seconds until then, resident MB right after it)."""
    plugin = PluginProcess(command, env={**HOST_PATH, **env}, cert=cert, timeout=120)
    try:
        return plugin.handshake_seconds, cpu_seconds(plugin.proc.pid), rss_mb(plugin.proc.pid)
    finally:
        stop(plugin)


def du_mb(path: Path) -> float:
    return sum(p.lstat().st_size for p in path.rglob("*")) / 1e6


def span(values: list[float], unit: str = "ms", scale: float = 1000) -> str:
    v = [x * scale for x in values]
    return f"{min(v):.0f} / {statistics.median(v):.0f} / {max(v):.0f} {unit}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="yamldb-bench-file-"))
    cert = make_host_cert()
    try:
        files, rows = {}, {}
        for fmt in ("self-contained", "zipapp"):
            seconds = build(fmt, work / fmt)
            files[fmt] = work / fmt / "yamldb-database-plugin"
            rows[fmt] = {"build": f"{seconds:.0f} s", "size": f"{files[fmt].stat().st_size / 1e6:.1f} MB"}
        commands = {fmt: [str(path)] for fmt, path in files.items()}
        commands["installed package"] = [sys.executable, "-m", "yamldb.transport.entry"]
        rows["installed package"] = {"build": "-", "size": "-"}
        first: dict[str, list[float]] = {k: [] for k in commands}
        warm: dict[str, list[float]] = {k: [] for k in commands}
        meta: dict[str, list[float]] = {k: [] for k in commands}
        rss: dict[str, list[float]] = {k: [] for k in commands}
        cpu_first: dict[str, list[float]] = {k: [] for k in commands}
        cpu_warm: dict[str, list[float]] = {k: [] for k in commands}
        caches = {k: work / f"cache-{i}" for i, k in enumerate(commands)}
        for name, cache in caches.items():
            cache.mkdir(mode=0o700)
            launch(commands[name], {"YAMLDB_PLUGIN_CACHE": str(cache)}, cert)  # unpack once, warm the page cache
        for run in range(args.runs):
            for name, command in commands.items():
                if name != "installed package":
                    fresh = work / f"fresh-{run}"
                    fresh.mkdir(mode=0o700)
                    seconds, cpu, _ = launch(command, {"YAMLDB_PLUGIN_CACHE": str(fresh)}, cert)
                    first[name].append(seconds)
                    cpu_first[name].append(cpu)
                    shutil.rmtree(fresh)
                seconds, cpu, mb = launch(command, {"YAMLDB_PLUGIN_CACHE": str(caches[name])}, cert)
                warm[name].append(seconds)
                cpu_warm[name].append(cpu)
                rss[name].append(mb)
                meta[name].append(launch(command, {"YAMLDB_PLUGIN_CACHE": str(caches[name]), **METADATA_MODE}, cert)[0])
        print(
            f"{args.runs} runs each; min / median / max; load average before {load_before[0]:.1f}, "
            f"after {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)\n"
        )
        print(
            "| | build | file | unpacked cache | first start | later starts | metadata mode, warm "
            "| CPU to handshake, first / later | RSS after handshake |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for name in commands:
            cache = caches[name]
            unpacked = f"{du_mb(cache):.0f} MB" if any(cache.iterdir()) else "-"
            print(
                f"| {name} | {rows[name]['build']} | {rows[name]['size']} | {unpacked} | "
                f"{span(first[name]) if first[name] else '-'} | {span(warm[name])} | {span(meta[name])} | "
                f"{statistics.median(cpu_first[name]) * 1000 if cpu_first[name] else float('nan'):.0f} / "
                f"{statistics.median(cpu_warm[name]) * 1000:.0f} ms | {span(rss[name], 'MB', 1)} |"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
