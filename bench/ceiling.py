"""The database's own ceiling for the same statements, without OpenBao or a plugin.

PostgreSQL: pgbench (C, simple protocol) with two custom scripts, one CREATE ROLE
per transaction then one DROP ROLE per transaction. Role names come from the
client id and a per-client counter (``-D n=0`` + ``\\set n :n + 1``), so the drop
run removes exactly what the create run made; per-transaction latencies come from
pgbench's ``-l`` log.

MariaDB: a small Python loop (PyMySQL, one connection per thread, C threads
sharing the GIL), the same CREATE USER / DROP USER. It is a Python client: its own
overhead (~0.1-0.3 ms per statement) is part of what it measures.
"""

from __future__ import annotations

import math
import re
import secrets
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.loadgen import STOP, percentile
from bench.stack import Stack

PASSWORD = "A1a-" + secrets.token_urlsafe(15)  # like OpenBao's generated passwords: 20 characters
PG_CREATE = (
    "\\set n :n + 1\n"
    'CREATE ROLE "pgb-:run-:client_id-:n" WITH LOGIN PASSWORD \'' + PASSWORD + "' "
    "VALID UNTIL '2035-01-01 00:00:00+00';\n"
)
PG_DROP = '\\set n :n + 1\nDROP ROLE IF EXISTS "pgb-:run-:client_id-:n";\n'


def _pgbench(stack: Stack, script: Path, clients: int, per_client: int, log_prefix: Path) -> dict[str, Any]:
    assert stack.pg is not None
    pg = stack.pg
    cmd = [
        str(pg.bin_dir / "pgbench"),
        "-n",
        "-M",
        "simple",
        "-c",
        str(clients),
        "-j",
        str(min(clients, 2)),
        "-t",
        str(per_client),
        "-D",
        "n=0",
        "-D",
        f"run={stack.run_id}",
        "-f",
        str(script),
        "-l",
        f"--log-prefix={log_prefix}",
        "-h",
        pg.host,
        "-p",
        str(pg.port),
        "-U",
        pg.superuser,
        "postgres",
    ]
    env = {"PGPASSWORD": pg.password, "PATH": "/usr/bin:/bin", "LC_ALL": "C"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"pgbench failed ({proc.returncode}):\n{proc.stderr[-1500:]}\n{proc.stdout[-1500:]}")
    tps = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", proc.stdout)
    latencies: list[float] = []
    for path in log_prefix.parent.glob(log_prefix.name + ".*"):
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3:
                latencies.append(int(parts[2]) / 1000)
        path.unlink()
    return {
        "per_s": round(float(tps.group(1)), 1) if tps else None,
        "statements": len(latencies),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
    }


def postgresql(stack: Stack, concurrency: list[int], count: int, log: Callable[[str], None]) -> dict[str, Any]:
    work = stack.workdir / "pgbench"
    work.mkdir(exist_ok=True)
    create, drop = work / "create.sql", work / "drop.sql"
    create.write_text(PG_CREATE)
    drop.write_text(PG_DROP)
    out: dict[str, Any] = {
        "tool": "pgbench -M simple",
        "statements": {"create": PG_CREATE.splitlines()[1], "drop": PG_DROP.splitlines()[1]},
    }
    for c in concurrency:
        per_client = math.ceil(count / c)
        created = _pgbench(stack, create, c, per_client, work / f"create-{c}")
        dropped = _pgbench(stack, drop, c, per_client, work / f"drop-{c}")
        out[str(c)] = {"create": created, "drop": dropped, "statements_per_client": per_client}
        log(
            f"  postgresql c={c:<3} pgbench CREATE ROLE {created['per_s']:8.1f}/s p99 {created['p99_ms']:6.2f} ms | "
            f"DROP ROLE {dropped['per_s']:8.1f}/s p99 {dropped['p99_ms']:6.2f} ms"
        )
    return out


def _mysql_phase(stack: Stack, names: list[list[str]], statement: Callable[[str], str]) -> dict[str, Any]:
    assert stack.mariadb is not None
    conns = [stack.mariadb.connect() for _ in names]
    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    gate = threading.Barrier(len(names) + 1, timeout=30)

    def worker(conn: Any, mine: list[str]) -> None:
        local: list[float] = []
        gate.wait()
        with conn.cursor() as cur:
            for name in mine:
                if STOP.is_set():
                    break
                t0 = time.perf_counter()
                try:
                    cur.execute(statement(name))
                except Exception as exc:  # report, keep going (bounded by the name list)
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
                    continue
                local.append((time.perf_counter() - t0) * 1000)
        with lock:
            lat.extend(local)

    threads = [
        threading.Thread(target=worker, args=(conn, mine), daemon=True) for conn, mine in zip(conns, names, strict=True)
    ]
    for t in threads:
        t.start()
    gate.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join(600)
    wall = time.perf_counter() - t0
    for conn in conns:
        conn.close()
    return {
        "per_s": round(len(lat) / wall, 1),
        "statements": len(lat),
        "errors": len(errors),
        "p50_ms": round(percentile(lat, 50), 2),
        "p99_ms": round(percentile(lat, 99), 2),
    }


def mysql(stack: Stack, concurrency: list[int], count: int, log: Callable[[str], None]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "tool": "Python loop: PyMySQL, one connection per thread (a Python client)",
        "statements": {
            "create": "CREATE USER 'NAME'@'%' IDENTIFIED BY 'PASSWORD'",
            "drop": "DROP USER IF EXISTS 'NAME'@'%'",
        },
    }
    for c in concurrency:
        per_client = math.ceil(count / c)
        names = [[f"c{stack.run_id}-{w}-{i}" for i in range(per_client)] for w in range(c)]
        created = _mysql_phase(stack, names, lambda n: f"CREATE USER '{n}'@'%' IDENTIFIED BY '{PASSWORD}'")
        dropped = _mysql_phase(stack, names, lambda n: f"DROP USER IF EXISTS '{n}'@'%'")
        out[str(c)] = {"create": created, "drop": dropped, "statements_per_client": per_client}
        log(
            f"  mysql      c={c:<3} PyMySQL CREATE USER {created['per_s']:8.1f}/s p99 {created['p99_ms']:6.2f} ms | "
            f"DROP USER {dropped['per_s']:8.1f}/s p99 {dropped['p99_ms']:6.2f} ms"
        )
    return out
