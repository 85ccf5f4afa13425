"""What the benchmark ran on: hardware, kernel and the versions of everything in the path."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.stack import Stack
from devenv import MariaDBAdmin, PostgresCluster


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _ram_gb() -> float:
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    return 0.0


def _first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False)
    except OSError as exc:
        return f"unavailable ({exc})"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else "?"


def _dist(name: str) -> str:
    if name == "yamldb":  # the distribution is yamldb-plugin (renamed); the package is yamldb
        import yamldb

        return yamldb.__version__
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def source_state() -> str:
    """The commit measured, and whether yamldb/ or dialects/ had uncommitted changes (read-only git)."""
    root = Path(__file__).resolve().parent.parent
    head = _first_line(["git", "-C", str(root), "rev-parse", "--short", "HEAD"])
    try:
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "yamldb", "dialects"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        ).stdout.split("\n")
    except OSError:
        return head
    changed = [line for line in dirty if line.strip()]
    return f"{head}" + (f" + {len(changed)} uncommitted change(s) in yamldb/ or dialects/" if changed else "")


def describe(stack: Stack) -> dict[str, Any]:
    return describe_parts(stack.bao.bao, stack.pg, stack.mariadb)


def describe_parts(bao: Path, pg: PostgresCluster | None, mariadb: MariaDBAdmin | None) -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gb": _ram_gb(),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})",
        "openbao": _first_line([str(bao), "version"]),
        "loadavg_at_start": os.getloadavg()[0],
        "source": source_state(),
        "packages": {
            name: _dist(name)
            for name in ("yamldb", "grpcio", "SQLAlchemy", "psycopg", "PyMySQL", "protobuf", "cryptography")
        },
    }
    if pg is not None:
        with pg.connect() as conn:
            info["postgresql"] = conn.execute("SELECT version()").fetchone()[0].split(" on ")[0]
    if mariadb is not None:
        with mariadb.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            info["mariadb"] = cur.fetchone()[0]
    return info
