"""Cold start: exec -> handshake line (standalone, as go-plugin launches it) and exec -> first credential.

(a) ``devenv.goplugin_host.PluginProcess`` starts the plugin with go-plugin's
environment and times exec -> first stdout line, for the installed package
(``python -m yamldb.transport.entry``) and for the prebuilt file (its first run
on an empty cache, which unpacks, reported separately from the warm-cache runs).

(b) In the running OpenBao: register a new catalog name for the same file (a new
name gets its own multiplexed process, so the plugin really execs), write a
connection config (OpenBao execs the plugin, handshakes, Initializes with
verify_connection), write a role, read the first credential. The built-in plugin
does the same minus the exec.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.stack import BUILTIN, MOUNT, Stack
from devenv.goplugin_host import HostCert, PluginProcess, make_host_cert


def _stats(values: list[float]) -> dict[str, Any]:
    ms = [v * 1000 for v in values]
    return {
        "runs": len(ms),
        "min_ms": round(min(ms), 1),
        "median_ms": round(statistics.median(ms), 1),
        "max_ms": round(max(ms), 1),
        "all_ms": [round(v, 1) for v in ms],
    }


def stop(plugin: PluginProcess) -> None:
    # SIGTERM first: the plugin then removes its private socket directory itself.
    if plugin.proc.poll() is None:
        plugin.proc.send_signal(signal.SIGTERM)
        try:
            plugin.proc.wait(3)
        except subprocess.TimeoutExpired:
            pass
    plugin.kill()


def _launch_once(command: list[str], env: dict[str, str], cert: HostCert) -> float:
    plugin = PluginProcess(command, env=env, cert=cert, timeout=60)
    try:
        return plugin.handshake_seconds
    finally:
        stop(plugin)


def interpreter_of(plugin_path: Path) -> str:
    with plugin_path.open("rb") as f:
        if f.read(4) == b"\x7fELF":
            return "none: the self-contained file carries its own"
    first = plugin_path.open("rb").readline().decode(errors="replace").strip()
    parts = first.removeprefix("#!").split()
    name = parts[-1] if parts else ""
    found = shutil.which(name) if parts and parts[0].endswith("/env") else parts[0] if parts else None
    return f"{first} -> {found or '?'}"


def handshake(stack: Stack, runs: int, log: Callable[[str], None]) -> dict[str, Any]:
    cert = make_host_cert()
    env = {"TMPDIR": str(stack.tmp_dir)}
    installed = [sys.executable, "-m", "yamldb.transport.entry"]
    out: dict[str, Any] = {}
    times = [_launch_once(installed, env, cert) for _ in range(runs)]
    out["installed"] = {"command": " ".join(installed), **_stats(times)}
    log(f"  installed package: median {out['installed']['median_ms']} ms over {runs} runs")

    fresh_cache = stack.workdir / "fresh-cache"
    fresh_cache.mkdir(mode=0o700)
    first = _launch_once([str(stack.plugin_path)], {**env, "YAMLDB_PLUGIN_CACHE": str(fresh_cache)}, cert)
    shutil.rmtree(fresh_cache, ignore_errors=True)
    env_cache = {**env, "YAMLDB_PLUGIN_CACHE": str(stack.cache_dir)}
    _launch_once([str(stack.plugin_path)], env_cache, cert)  # make sure the shared cache is unpacked
    times = [_launch_once([str(stack.plugin_path)], env_cache, cert) for _ in range(runs)]
    out["prebuilt"] = {
        "command": str(stack.plugin_path),
        "interpreter": interpreter_of(stack.plugin_path),
        "first_run_unpack_ms": round(first * 1000, 1),
        **_stats(times),
    }
    log(
        f"  prebuilt file: first run (unpack) {out['prebuilt']['first_run_unpack_ms']} ms, "
        f"then median {out['prebuilt']['median_ms']} ms over {runs} runs"
    )
    # The same interpreter without a version-manager shim on PATH, for reference.
    direct = shutil.which("python3.11", path="/usr/local/bin:/usr/bin:/bin")
    shim = shutil.which(Path(interpreter_of(stack.plugin_path).split()[-1]).name) or ""
    if direct and "shims" in shim:
        env_direct = {**env_cache, "PATH": "/usr/local/bin:/usr/bin:/bin"}
        times = [_launch_once([str(stack.plugin_path)], env_direct, cert) for _ in range(runs)]
        out["prebuilt_without_shim"] = {"path": "/usr/local/bin:/usr/bin:/bin", "interpreter": direct, **_stats(times)}
        log(
            f"  prebuilt file, PATH without the pyenv shim ({direct}): median "
            f"{out['prebuilt_without_shim']['median_ms']} ms"
        )
    # Where the installed start spends its time: python -X importtime, top modules by cumulative import time.
    out["installed_import_top"] = import_profile()
    return out


def import_profile(top: int = 12) -> list[dict[str, Any]]:
    """``python -X importtime``: the slowest top-level imports of the plugin's server module (cumulative ms)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import yamldb.transport.server"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    rows = []
    for line in proc.stderr.splitlines():
        # "import time:       123 |        456 |   package.module"; the indent is the nesting depth
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self_us, cumulative_us, name = line.split(":", 1)[1].split("|", 2)
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        if depth == 1:  # what yamldb.transport.server imports directly (with everything below it)
            rows.append({"module": name.strip(), "cumulative_ms": round(int(cumulative_us) / 1000, 1)})
    rows.sort(key=lambda r: r["cumulative_ms"], reverse=True)
    return rows[:top]


def first_credential(stack: Stack, databases: tuple[str, ...], runs: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Per database: register (yamldb only) + config write + role write + first creds, fresh each run."""
    out: dict[str, Any] = {}
    for database in databases:
        rows: dict[str, list[dict[str, float]]] = {"yamldb": [], "builtin": []}
        for i in range(runs):
            order = ("yamldb", "builtin") if i % 2 == 0 else ("builtin", "yamldb")
            for plugin in order:
                rows[plugin].append(_one_first_credential(stack, database, plugin, i))
        out[database] = {}
        for plugin, samples in rows.items():
            keys = samples[0].keys()
            out[database][plugin] = {k: round(statistics.median(s[k] for s in samples) * 1000, 1) for k in keys}
            out[database][plugin]["runs"] = len(samples)
            out[database][plugin]["total_all_ms"] = [round(s["config_to_creds"] * 1000, 1) for s in samples]
            log(
                f"  {database:10} {plugin:8} config write -> first creds: median "
                f"{out[database][plugin]['config_to_creds']} ms (config write {out[database][plugin]['config']} ms)"
            )
    return out


def _one_first_credential(stack: Stack, database: str, plugin: str, i: int) -> dict[str, float]:
    short = {"postgresql": "p", "mysql": "m"}[database]
    config = f"cold-{database}-{plugin}-{i}"
    role = f"{stack.run_id}{short}c{i % 10}"
    timings: dict[str, float] = {}
    before = stack.yamldb_pids()
    if plugin == "yamldb":
        catalog = f"yamldb-cold-{database[:2]}-{i}"
        timings["register"] = stack.register_yamldb(catalog)
        plugin_name = catalog
    else:
        timings["register"] = 0.0
        plugin_name = BUILTIN[database]
    try:
        t0 = time.perf_counter()
        timings["config"] = stack.write_config(config, database, plugin_name)
        t1 = time.perf_counter()
        stack.write_role(role, config, database)
        timings["role"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        lease = stack.bao.api("GET", f"{MOUNT}/creds/{role}")
        t3 = time.perf_counter()
        timings["first_creds"] = t3 - t2
        timings["config_to_creds"] = t3 - t0
        timings["register_to_creds"] = timings["config_to_creds"] + timings["register"]
        if plugin == "yamldb" and not (stack.yamldb_pids() - before):
            raise RuntimeError(f"no new plugin process appeared for catalog entry {plugin_name}")
        stack.bao.api("PUT", "sys/leases/revoke", {"lease_id": lease["lease_id"]})
    finally:
        stack.bao.api("DELETE", f"{MOUNT}/roles/{role}")
        stack.delete_config(config)
        if plugin == "yamldb":
            stack.bao.api("DELETE", f"sys/plugins/catalog/database/{plugin_name}")
            _wait_gone(stack, before)
    return timings


def _wait_gone(stack: Stack, before: set[int], timeout: float = 10.0) -> None:
    """The multiplexed process exits when its last connection closes; wait for it (bounded)."""
    deadline = time.monotonic() + timeout
    while stack.yamldb_pids() - before and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in stack.yamldb_pids() - before:  # still there: do what the host would
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
