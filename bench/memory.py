"""Resident memory with 1 and with N connection configs, each used once (one issue + one revoke).

yamldb: a catalog entry of its own (``yamldb-mem``), so its multiplexed process
starts fresh and serves only these configs; RSS is VmRSS summed over the plugin
processes that appeared for it. Built-in plugins run inside OpenBao: we report
the change of OpenBao's own RSS over the same sequence (Go's heap makes this
approximate: the runtime keeps freed memory for a while).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from bench.procstat import rss_bytes, rss_split
from bench.stack import BUILTIN, MOUNT, Stack

MB = 1024 * 1024


_IMPORT_RSS = """
import sys
def rss():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024
print("python", rss())
for name in sys.argv[1:]:
    if name == "pymysql":  # as the plugin imports it: through the MySQL adapter, which leaves cryptography out
        from yamldb.engine.drivers.mysql import MysqlAdapter
        MysqlAdapter().load_driver()
    else:
        __import__(name)
    print(name, rss())
"""
# What the plugin process loads, in the order it does: the handshake path, then Initialize's imports, then
# each driver (PyMySQL without cryptography, which it imports only for MySQL 8's RSA password exchange).
IMPORT_ORDER = [
    "grpc",
    "yamldb.transport.server",
    "sqlalchemy",
    "yamldb.lifecycle.database",
    "yamldb.engine.executor",
    "psycopg",
    "sqlalchemy.dialects.postgresql.psycopg",
    "pymysql",
    "sqlalchemy.dialects.mysql.pymysql",
]


def import_rss_steps() -> list[dict[str, Any]]:
    """RSS growth of a fresh interpreter importing, in order, what the plugin process loads (MB)."""
    proc = subprocess.run(
        [sys.executable, "-c", _IMPORT_RSS, *IMPORT_ORDER], capture_output=True, text=True, timeout=120, check=False
    )
    steps, last = [], 0.0
    for line in proc.stdout.splitlines():
        name, value = line.rsplit(" ", 1)
        steps.append({"after": name, "rss_mb": round(float(value), 1), "delta_mb": round(float(value) - last, 1)})
        last = float(value)
    return steps


def _use_once(stack: Stack, role: str) -> None:
    lease = stack.bao.api("GET", f"{MOUNT}/creds/{role}")
    stack.bao.api("PUT", "sys/leases/revoke", {"lease_id": lease["lease_id"]})


def _databases_cycle(databases: tuple[str, ...], n: int) -> list[str]:
    return [databases[i % len(databases)] for i in range(n)]


def _yamldb_samples(
    stack: Stack, databases: tuple[str, ...], configs: int, tag: str, log: Callable[[str], None]
) -> dict[str, Any]:
    """A fresh plugin process (its own catalog entry) serving `configs` configs cycling over `databases`."""
    catalog = f"yamldb-mem{tag}"
    before = stack.yamldb_pids()
    stack.register_yamldb(catalog)
    names: list[tuple[str, str]] = []
    samples: dict[str, Any] = {}
    try:
        for i, database in enumerate(_databases_cycle(databases, configs)):
            config, role = f"mem-y{tag}-{i}", f"{stack.run_id}{tag[1:2] or 'y'}{i:02d}"
            stack.write_config(config, database, catalog)
            stack.write_role(role, config, database)
            names.append((config, role))
            _use_once(stack, role)
            if i + 1 in (1, configs):
                time.sleep(0.5)
                pids = sorted(stack.yamldb_pids() - before)
                rss = sum(rss_bytes(p) for p in pids)
                split = [rss_split(p) for p in pids]
                samples[str(i + 1)] = {
                    "processes": len(pids),
                    "rss_mb": round(rss / MB, 1),
                    "anon_mb": round(sum(s.get("RssAnon", 0) for s in split) / MB, 1),
                    "file_mb": round(sum(s.get("RssFile", 0) for s in split) / MB, 1),
                }
                log(
                    f"  yamldb ({'+'.join(databases)}), {i + 1:2} config(s): {len(pids)} process(es), "
                    f"RSS {rss / MB:.1f} MB"
                )
    finally:
        for config, role in names:
            stack.bao.api("DELETE", f"{MOUNT}/roles/{role}")
            stack.delete_config(config)
        stack.bao.api("DELETE", f"sys/plugins/catalog/database/{catalog}")
    return samples


def measure(stack: Stack, databases: tuple[str, ...], configs: int, log: Callable[[str], None]) -> dict[str, Any]:
    out: dict[str, Any] = {"configs": configs, "databases": list(databases), "import_steps": import_rss_steps()}
    # -- yamldb ---------------------------------------------------------------------------
    before = stack.yamldb_pids()
    out["yamldb"] = _yamldb_samples(stack, databases, configs, "", log)
    if len(databases) > 1:
        # One database's driver only: what a deployment serving a single kind of database pays.
        out["yamldb_single"] = {
            db: _yamldb_samples(stack, (db,), configs, f"-{db[:2]}", log)[str(configs)] for db in databases
        }
    # The long-running process that served the throughput runs, for comparison.
    main = sorted(before)
    out["yamldb_after_load"] = {"processes": len(main), "rss_mb": round(sum(rss_bytes(p) for p in main) / MB, 1)}

    # -- built-in (in-process) --------------------------------------------------------------
    assert stack.bao.process is not None
    bao_pid = stack.bao.process.pid
    base = rss_bytes(bao_pid)
    names = []
    builtin: dict[str, Any] = {"openbao_rss_before_mb": round(base / MB, 1)}
    try:
        for i, database in enumerate(_databases_cycle(databases, configs)):
            config, role = f"mem-b-{i}", f"{stack.run_id}n{i:02d}"
            stack.write_config(config, database, BUILTIN[database])
            stack.write_role(role, config, database)
            names.append((config, role))
            _use_once(stack, role)
            if i + 1 in (1, configs):
                time.sleep(0.5)
                rss = rss_bytes(bao_pid)
                builtin[str(i + 1)] = {"openbao_rss_mb": round(rss / MB, 1), "delta_mb": round((rss - base) / MB, 1)}
                log(
                    f"  built-in, {i + 1:2} config(s): OpenBao RSS {rss / MB:.1f} MB "
                    f"(delta {(rss - base) / MB:+.1f} MB)"
                )
    finally:
        for config, role in names:
            stack.bao.api("DELETE", f"{MOUNT}/roles/{role}")
            stack.delete_config(config)
    out["builtin"] = builtin
    return out
