"""``python -m bench.hostile``: what a hostile manifest or pattern costs the plugin's other connections.

One OpenBao dev server, one private PostgreSQL, one yamldb plugin process shared by two connection
configs (OpenBao multiplexes them into one process). A load thread issues and revokes credentials on
the `steady` connection the whole time; the main thread sends one hostile request after another on the
`hostile` connection, and the table gives, for each, how long the hostile request itself took, what it
answered, the steady connection's latency while it ran, and the plugin's resident memory afterwards.
Pass ``--plugin-dir`` to measure another build (e.g. one made from an older commit). Issue 11 §7;
figures in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from devenv import OpenBaoAPIError, OpenBaoDevServer, PostgresCluster

PLUGIN_FILE = "yamldb-database-plugin"
CREATE = "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"
REVOKE = 'DROP ROLE IF EXISTS "{{name}}";'


def big_manifest(n_bytes: int) -> str:
    head = "yamldb: 1\ndialect: postgresql\nstatements:\n  create:\n"
    item = "    - SELECT 1;\n"
    return head + item * ((n_bytes - len(head)) // len(item))


def alias_bomb(levels: int = 9) -> str:
    lines = ["yamldb: 1", "dialect: postgresql", 'l0: &l0 ["x","x","x","x","x","x","x","x","x","x"]']
    for level in range(1, levels + 1):
        lines.append(f"l{level}: &l{level} [" + ",".join([f"*l{level - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


PATTERN_MANIFEST = f"""\
yamldb: 1
dialect: postgresql
parameters:
  tag: {{default: a, pattern: "(a|aa)+"}}
sets:
  tagged:
    create:
      - {CREATE}
      - COMMENT ON ROLE "{{{{name}}}}" IS '{{{{tag}}}}';
"""


class SteadyLoad:
    """Issue + revoke on one role in a loop; every (start time, seconds, error) is kept."""

    def __init__(self, bao: OpenBaoDevServer, role: str) -> None:
        self.bao, self.role = bao, role
        self.samples: list[tuple[float, float, str | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            start = time.monotonic()
            error = None
            try:
                lease = self.bao.api("GET", f"database/creds/{self.role}", timeout=300)
                self.bao.api("PUT", "sys/leases/revoke", {"lease_id": lease["lease_id"]}, timeout=300)
            except OpenBaoAPIError as exc:
                error = str(exc)
            self.samples.append((start, time.monotonic() - start, error))

    def __enter__(self) -> SteadyLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=600)

    def window(self, start: float, end: float) -> list[tuple[float, float, str | None]]:
        """Samples that overlapped [start, end]."""
        return [s for s in self.samples if s[0] <= end and s[0] + s[1] >= start]


def plugin_memory(bao: OpenBaoDevServer) -> tuple[float, float]:
    """(VmRSS, VmHWM) of the plugin process in MB."""
    pids = bao.plugin_pids(PLUGIN_FILE)
    values = {}
    if pids:
        for line in Path(f"/proc/{pids[0]}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def summarise(name: str, seconds: float, answer: str, samples: list, memory: tuple[float, float]) -> dict:
    latencies = sorted(s[1] * 1000 for s in samples)
    errors = sum(1 for s in samples if s[2])
    return {
        "request": name,
        "seconds": round(seconds, 2),
        "answer": answer[:400],
        "steady_requests": len(latencies),
        "steady_errors": errors,
        "steady_p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "steady_max_ms": round(latencies[-1], 1) if latencies else None,
        "plugin_rss_mb": round(memory[0]),
        "plugin_peak_rss_mb": round(memory[1]),
    }


def run(plugin_dir: Path, baseline_seconds: float, pattern_length: int, manifest_mb: float) -> list[dict]:
    plugin = plugin_dir / PLUGIN_FILE
    sha = hashlib.sha256(plugin.read_bytes()).hexdigest()
    cache = Path(tempfile.mkdtemp(prefix="bench-hostile-cache-"))
    with PostgresCluster.start(auth="scram-sha-256") as pg, OpenBaoDevServer.start(plugin_dir, log_level="info") as bao:
        bao.api(
            "POST",
            "sys/plugins/catalog/database/yamldb",
            {"sha256": sha, "command": PLUGIN_FILE, "env": [f"YAMLDB_PLUGIN_CACHE={cache}"]},
        )
        bao.cli("secrets", "enable", "database")
        base = {
            "plugin_name": "yamldb",
            "connection_url": pg.template_url(),
            "username": pg.superuser,
            "password": pg.password,
            "allowed_roles": "*",
        }
        bao.api("POST", "database/config/steady", {**base, "manifest": "postgresql"})
        bao.api(
            "POST",
            "database/roles/steady",
            {"db_name": "steady", "creation_statements": CREATE, "revocation_statements": REVOKE},
        )

        def write_config(name: str, text: str) -> Callable[[], None]:
            # A new config each time: OpenBao merges a write into an existing config's fields.
            return lambda: bao.api("POST", f"database/config/{name}", {**base, "manifest_inline": text}, timeout=600)

        def pattern_request() -> None:
            bao.api("GET", "database/creds/tagged", timeout=600)

        write_config("patterned", PATTERN_MANIFEST)()
        bao.api(
            "POST",
            "database/roles/tagged",
            {"db_name": "patterned", "creation_statements": f"yamldb:tagged tag={'a' * pattern_length}b"},
        )

        requests = [
            (f"inline manifest of {manifest_mb:g} MB", write_config("big", big_manifest(int(manifest_mb * 1e6)))),
            ("inline manifest of 1 MB (62,000 nodes)", write_config("nodes", big_manifest(1_000_000))),
            ("inline manifest, alias bomb (10^9 values)", write_config("bomb", alias_bomb())),
            (f"pattern (a|aa)+ against {pattern_length + 1} characters (a credential request)", pattern_request),
        ]
        rows = []
        with SteadyLoad(bao, "steady") as load:
            time.sleep(baseline_seconds)  # the steady connection's latency with nothing else running
            rows.append(
                summarise(
                    "(none: baseline)", baseline_seconds, "", load.window(0, time.monotonic()), plugin_memory(bao)
                )
            )
            for name, request in requests:
                start = time.monotonic()
                try:
                    request()
                    answer = "accepted"
                except OpenBaoAPIError as exc:
                    answer = str(exc)
                end = time.monotonic()
                rows.append(summarise(name, end - start, answer, load.window(start, end), plugin_memory(bao)))
                time.sleep(1.0)  # let the steady connection settle between requests
    return rows


def markdown(rows: list[dict], label: str) -> str:
    out = [
        f"#### {label}",
        "",
        "| hostile request | its time (s) | steady requests during it | errors | steady p50 (ms) "
        "| steady max (ms) | plugin RSS after (MB) | plugin peak RSS (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r['request']} | {r['seconds']} | {r['steady_requests']} | {r['steady_errors']} | "
            f"{r['steady_p50_ms']} | {r['steady_max_ms']} | {r['plugin_rss_mb']} | {r['plugin_peak_rss_mb']} |"
        )
    out.append("")
    out += [f"* {r['request']}: {r['answer']}" for r in rows[1:]]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.hostile", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--plugin-dir",
        type=Path,
        help="a directory holding a built yamldb-database-plugin (default: build one from this checkout)",
    )
    p.add_argument("--label", default="this checkout")
    p.add_argument("--baseline-seconds", type=float, default=10.0)
    p.add_argument("--pattern-length", type=int, default=37, help="a's before the final b (default 37: 38 chars)")
    p.add_argument("--manifest-mb", type=float, default=12.0)
    p.add_argument("--json", type=Path, help="also write the rows here")
    args = p.parse_args(argv)
    plugin_dir = args.plugin_dir
    if plugin_dir is None:
        plugin_dir = Path(tempfile.mkdtemp(prefix="bench-hostile-plugins-"))
        subprocess.run(
            [sys.executable, "-m", "yamldb.cli", "plugin", "build", "--output", str(plugin_dir)],
            check=True,
            capture_output=True,
        )
    rows = run(plugin_dir, args.baseline_seconds, args.pattern_length, args.manifest_mb)
    print(markdown(rows, args.label))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
