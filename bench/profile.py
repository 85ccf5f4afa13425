"""py-spy profile of the yamldb plugin process under sustained load (``python -m bench --profile``).

Load: issue + revoke phases at the given concurrency against one yamldb target,
repeated until py-spy has sampled for ``seconds``. py-spy writes collapsed stacks
(``--format raw``) which we aggregate into: CPU samples per thread group, the
functions with the most self time, and the yamldb / library "layers" with the most
inclusive time. A flame graph SVG is recorded too when requested.
"""

from __future__ import annotations

import collections
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.loadgen import STOP
from bench.stack import Stack, Target
from bench.throughput import issue, revoke

# (label, regex on a frame "function (file:line)") — first match, from the leaf up, names the layer
LAYERS = [
    ("yamldb engine: deadline watchdog (starts a Timer thread)", r"_Watchdog"),
    ("tls terminator (asyncio + ssl)", r"yamldb/transport/terminator\.py|asyncio/sslproto|asyncio/selector_events"),
    ("grpc server glue + worker pool", r"grpc/_server\.py|grpc/_common\.py|_cython/_cygrpc|concurrent/futures/"),
    ("yamldb transport/services", r"yamldb/transport/services\.py"),
    ("sqlalchemy pool (checkout/pre-ping/return)", r"sqlalchemy/pool/"),
    ("sqlalchemy engine (execute/transactions)", r"sqlalchemy/engine/|sqlalchemy/sql/"),
    ("psycopg driver", r"psycopg/"),
    ("pymysql driver", r"pymysql/"),
    ("yamldb lifecycle", r"yamldb/lifecycle/"),
    ("yamldb templates (render/username)", r"yamldb/templates/"),
    ("yamldb engine", r"yamldb/engine/"),
    ("logging (hclog json)", r"logging/__init__\.py|yamldb/transport/hclog\.py"),
    ("protobuf", r"google/protobuf/"),
]


def find_py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def record(
    stack: Stack, target: Target, concurrency: int, seconds: int, out_dir: Path, svg: bool, log: Callable[[str], None]
) -> dict[str, Any]:
    py_spy = find_py_spy()
    if py_spy is None:
        return {"skipped": "py-spy not installed (pip install py-spy into the venv)"}
    pids = target.pids or []
    if len(pids) != 1:
        return {"skipped": f"expected one plugin process for {target.config}, found {pids}"}
    pid = pids[0]
    out_dir.mkdir(parents=True, exist_ok=True)
    raw_path = stack.workdir / f"profile-{target.plugin}-{target.database}.txt"  # large; summarized into the JSON
    result: dict[str, Any] = {
        "pid": pid,
        "seconds": seconds,
        "concurrency": concurrency,
        "target": f"{target.database} via {target.config}",
    }
    # --gil: only the thread holding the GIL is sampled, i.e. where the one Python interpreter spends its time.
    runs = [("raw", raw_path, ["--format", "raw", "--threads", "--gil"])]
    if svg:
        runs.append(
            ("svg", out_dir / f"profile-{target.plugin}-{target.database}.svg", ["--format", "flamegraph", "--gil"])
        )
    for kind, path, extra in runs:
        cmd = [
            py_spy,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(seconds),
            "--rate",
            "200",
            "--nonblocking",
            "-o",
            str(path),
            *extra,
        ]
        log(f"  py-spy record ({kind}) for {seconds}s at c={concurrency} on {target.config}")
        spy = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        ops = _load_until(stack, target, concurrency, spy_done(spy), seconds + 60)
        try:
            output, _ = spy.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            spy.kill()
            output, _ = spy.communicate()
        if spy.returncode != 0 or not path.exists():
            result[f"{kind}_error"] = output[-800:]
            continue
        result[f"{kind}_file"] = str(path)
        result[f"{kind}_load_ops"] = ops
    if raw_path.exists():
        result.update(summarize(raw_path.read_text()))
    return result


def spy_done(spy: subprocess.Popen[str]) -> Callable[[], bool]:
    return lambda: spy.poll() is not None


def _load_until(stack: Stack, target: Target, concurrency: int, done: Callable[[], bool], limit: float) -> int:
    deadline = time.monotonic() + limit
    ops = 0
    while not done() and not STOP.is_set() and time.monotonic() < deadline:
        issued = issue(stack, target, concurrency, 4 * concurrency, 60)
        revoked = revoke(stack, [lease for lease in issued.outputs if lease], concurrency, 60)
        ops += issued.ok + revoked.ok
    return ops


_FRAME_FILE = re.compile(r"\((?P<file>[^():]+)(?::\d+)?\)$")


def _short(frame: str) -> str:
    """'fn (/long/path/site-packages/pkg/mod.py:12)' -> 'pkg/mod.py:fn'."""
    match = _FRAME_FILE.search(frame)
    name = frame[: match.start()].strip() if match else frame
    file = match["file"] if match else ""
    for marker in ("site-packages/", "/lib/python3", "/work/main/"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    file = re.sub(r"^\.\d+/", "", file)
    return f"{file}:{name}" if file else name


def summarize(raw: str, top: int = 15) -> dict[str, Any]:
    """Aggregate py-spy collapsed stacks (``frame;frame;... count``)."""
    total = 0
    threads: collections.Counter[str] = collections.Counter()
    self_time: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    layers: collections.Counter[str] = collections.Counter()
    for line in raw.splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack_text.split(";")
        thread = frames[0]
        frames = frames[1:] if thread.startswith(("thread", "process")) else frames
        if frames and frames[0].startswith("process"):
            frames = frames[1:]
        total += count
        threads[_thread_group(thread, frames)] += count
        if frames:
            self_time[_short(frames[-1])] += count
        for name in {_short(f) for f in frames}:
            inclusive[name] += count
        group = _thread_group(thread, frames)
        layers[
            "thread start/exit (Thread-*: per-request timer threads)"
            if group.startswith("Thread-*")
            else _layer(frames)
        ] += count
    pct = (lambda n: round(100 * n / total, 1)) if total else (lambda n: 0.0)
    return {
        "samples": total,
        "threads_pct": {k: pct(v) for k, v in threads.most_common()},
        "layers_pct": {k: pct(v) for k, v in layers.most_common()},
        "self_top": [{"function": k, "pct": pct(v)} for k, v in self_time.most_common(top)],
        "inclusive_top": [
            {"function": k, "pct": pct(v)}
            for k, v in inclusive.most_common(top * 2)
            if "threading.py" not in k and "<module>" not in k
        ][:top],
    }


def _thread_group(thread: str, frames: list[str]) -> str:
    """'thread (1234): yamldb-rpc_7' -> 'yamldb-rpc_*'; 'Thread-812' -> 'Thread-* (short-lived)'."""
    name = thread.split(":", 1)[1].strip() if ":" in thread else ""
    if not name:
        return "unnamed thread"
    if re.fullmatch(r"Thread-\d+", name):
        return "Thread-* (threads started per request)"
    return re.sub(r"_\d+$", "_*", name)


def _layer(frames: list[str]) -> str:
    for frame in reversed(frames):
        for label, pattern in LAYERS:
            if re.search(pattern, frame):
                return label
    return "other"
