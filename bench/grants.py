"""``python -m bench.grants``: concurrent GRANT/REVOKE on shared objects, yamldb beside the built-in plugins.

The role from Vault's documentation (PostgreSQL: CREATE ROLE + GRANT SELECT ON ALL TABLES IN SCHEMA public;
MySQL: CREATE USER + GRANT SELECT ON a database and on one of its tables) in a schema that holds tables,
with the plugins' default revocation. Every (database, concurrency) point issues N leases and revokes them
from C client threads, A B B A between the plugins (bench/throughput.py), and counts failed requests.
Writes bench/results/grants.md and grants.json. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from bench.stack import BUILTIN, MOUNT, Stack, Target, start_stack
from bench.throughput import _Acc, issue, revoke

RESULTS = Path(__file__).resolve().parent / "results"
TABLES = 20
DATABASE = "yamldb_bench_grants"
PG_CREATE = (
    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; "
    'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}";'
)
MY_CREATE = (
    f"CREATE USER '{{{{name}}}}'@'%' IDENTIFIED BY '{{{{password}}}}'; "
    f"GRANT SELECT ON {DATABASE}.* TO '{{{{name}}}}'@'%'; "
    f"GRANT SELECT, INSERT ON {DATABASE}.t1 TO '{{{{name}}}}'@'%';"
)


def _log(message: str) -> None:
    print(message, flush=True)


def prepare_tables(stack: Stack, database: str) -> None:
    if database == "postgresql":
        assert stack.pg is not None
        with stack.pg.connect() as conn:
            for n in range(1, TABLES + 1):
                conn.execute(f"CREATE TABLE IF NOT EXISTS public.t{n} (id int)")
    else:
        assert stack.mariadb is not None
        with stack.mariadb.connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
            for n in range(1, TABLES + 1):
                cur.execute(f"CREATE TABLE IF NOT EXISTS {DATABASE}.t{n} (id int)")


def drop_tables(stack: Stack) -> None:
    if stack.mariadb is not None:
        with stack.mariadb.connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {DATABASE}")


def target(stack: Stack, database: str, plugin: str) -> Target:
    short = {"postgresql": "p", "mysql": "m"}[database] + {"yamldb": "y", "builtin": "b"}[plugin]
    config, role = f"grants-{database}-{plugin}", f"{stack.run_id}{short}"
    stack.bao.api(
        "POST",
        f"{MOUNT}/config/{config}",
        stack.config_body(database, "yamldb" if plugin == "yamldb" else BUILTIN[database]),
    )
    stack.bao.api(
        "POST",
        f"{MOUNT}/roles/{role}",
        {
            "db_name": config,
            "creation_statements": PG_CREATE if database == "postgresql" else MY_CREATE,
            "default_ttl": "1h",
            "max_ttl": "24h",
        },
    )  # no revocation statements: each plugin's default revocation
    return Target(database, plugin, config, role)


def measure(stack: Stack, targets: dict[str, Target], concurrency: int, leases: int, first: str) -> dict[str, Any]:
    """A B B A segments (issue, then revoke what was issued); failures are counted, never fatal."""
    second = "builtin" if first == "yamldb" else "yamldb"
    for plugin in (first, second):  # warm up: pools open, plugin processes started
        warm = issue(stack, targets[plugin], concurrency, 2 * concurrency, 60.0)
        revoke(stack, [lease for lease in warm.outputs if lease], concurrency, 60.0)
    accs = {p: (_Acc(), _Acc()) for p in (first, second)}
    for plugin in (first, second, second, first):
        issued = issue(stack, targets[plugin], concurrency, leases // 2, 60.0)
        accs[plugin][0].add(issued, {})
        revoked = revoke(stack, [lease for lease in issued.outputs if lease], concurrency, 60.0)
        accs[plugin][1].add(revoked, {})
    out = {p: {"issue": a[0].summary(), "revoke": a[1].summary()} for p, a in accs.items()}
    for plugin in (first, second):
        s = out[plugin]
        _log(
            f"  {targets[plugin].database:10} c={concurrency:<3} {plugin:8} issue {s['issue']['per_s']:7.1f}/s "
            f"errors {s['issue']['errors']:4} | revoke {s['revoke']['per_s']:7.1f}/s errors {s['revoke']['errors']}"
        )
    return out


def report(results: dict[str, Any]) -> str:
    lines = [
        f"# Concurrent GRANT/REVOKE on shared objects ({results['started']})",
        "",
        f"`{results['command']}`; {results['leases']} leases per plugin and point, {TABLES} tables.",
        "",
        "| database | c | plugin | issue/s | issue errors | revoke/s | revoke errors | issue p99 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for point in results["points"]:
        for plugin in ("yamldb", "builtin"):
            s = point[plugin]
            lines.append(
                f"| {point['database']} | {point['concurrency']} | {plugin} | {s['issue']['per_s']} | "
                f"{s['issue']['errors']} | {s['revoke']['per_s']} | {s['revoke']['errors']} | "
                f"{s['issue']['p99_ms']} |"
            )
    samples = sorted(
        {
            e
            for p in results["points"]
            for pl in ("yamldb", "builtin")
            for phase in ("issue", "revoke")
            for e in p[pl][phase]["error_samples"]
        }
    )
    if samples:
        lines += ["", "Error samples:", ""] + [f"- `{e}`" for e in samples[:6]]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.grants", description=__doc__.split("\n\n")[0])
    parser.add_argument("--leases", type=int, default=300)
    parser.add_argument("--concurrency", default="8,32")
    parser.add_argument("--databases", default="postgresql,mysql")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    databases = tuple(d.strip() for d in args.databases.split(",") if d.strip())
    results: dict[str, Any] = {
        "started": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m bench.grants " + " ".join(argv),
        "leases": args.leases,
        "points": [],
    }
    with contextlib.ExitStack() as cleanup:
        stack = start_stack(cleanup, databases, "info", _log)
        cleanup.callback(drop_tables, stack)
        for database in databases:
            prepare_tables(stack, database)
            targets = {plugin: target(stack, database, plugin) for plugin in ("yamldb", "builtin")}
            for i, concurrency in enumerate(int(c) for c in args.concurrency.split(",")):
                point = measure(stack, targets, concurrency, args.leases, "yamldb" if i % 2 == 0 else "builtin")
                results["points"].append({"database": database, "concurrency": concurrency, **point})
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "grants.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.output / "grants.md").write_text(report(results))
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
