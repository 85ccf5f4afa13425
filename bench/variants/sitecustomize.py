"""Benchmark-only patches applied to a plugin process from outside (``python -m bench.experiments``).

OpenBao launches a variant with ``PYTHONPATH=bench/variants`` and
``YAMLDB_BENCH_PATCHES=a,b`` in its catalog env; Python imports this file at
start-up, and the patches are applied right after the yamldb module they touch
is imported. yamldb's source is not changed: this measures what a change would
bring, or what one already made brings, by switching it off.

- ``always-ping``: ping every pooled connection before use (no 0.5 s bypass window).
- ``no-batch``: PostgreSQL runs BEGIN, each statement and COMMIT as separate round trips
  (``batch_statements`` off) on the raw DBAPI connection.
- ``stepwise``: every operation through SQLAlchemy's Connection/Transaction path (the
  engine before the raw-connection path); with ``always-ping`` this is the old engine.
- ``sqla-queue``: pooled connections are waited for on SQLAlchemy's own queue (a Python Condition)
  instead of ``queue.SimpleQueue`` (yamldb/engine/pool.py).
- ``psycopg-cursor``: PostgreSQL batches go through psycopg's cursor.execute() with its prepared-statement
  counting (prepare_threshold 5), as before execute_batch (yamldb/engine/drivers/postgresql.py).
- ``warn-log``: the plugin logs at WARNING.
- ``rpc-workers-8``: the gRPC server's handler pool has 8 threads instead of 12.
- ``no-database``: the floor. NewUser, UpdateUser and DeleteUser answer at once, without
  rendering a statement or touching the database; Initialize, the servicer, grpcio and the
  TLS terminator run as shipped. What is left is the cost of being an external plugin.
  With ``YAMLDB_BENCH_FLOOR_WAIT_MS=N`` each of those calls sleeps N ms first (the GIL released, as
  during a database round trip): the floor's cost when every call waits as long as yamldb's do.

``YAMLDB_BENCH_SWITCH_INTERVAL=S`` (no patch name needed) sets ``sys.setswitchinterval(S)`` at start-up:
how long a thread holds the GIL before one waiting for it may take it.
"""

from __future__ import annotations

import importlib.abc
import logging
import os
import sys

PATCHES = {p.strip() for p in os.environ.get("YAMLDB_BENCH_PATCHES", "").split(",") if p.strip()}
APPLIED: list[str] = []


def _always_ping(executor) -> None:
    executor.PING_WINDOW = -1.0


def _sqla_queue(executor) -> None:
    from sqlalchemy.pool import QueuePool

    executor.POOL_CLASS = QueuePool


def _engine_paths(executor) -> None:
    original = executor.SqlEngine.__init__

    def __init__(self, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        if "no-batch" in PATCHES:
            self.batch = False
        if "stepwise" in PATCHES:
            self._direct = False

    executor.SqlEngine.__init__ = __init__


def _psycopg_cursor(postgresql) -> None:
    adapter = postgresql.PostgresqlAdapter
    connect_args = adapter.connect_args

    def execute_batch(self, dbapi_conn, cursor, sql) -> None:
        cursor.execute(sql)

    def with_prepare_threshold(self, *args, **kwargs):
        args = connect_args(self, *args, **kwargs)
        args["prepare_threshold"] = 5  # psycopg's default
        return args

    adapter.execute_batch, adapter.connect_args = execute_batch, with_prepare_threshold


def _rpc_workers(server) -> None:
    import types
    from concurrent import futures as real

    def executor(max_workers=None, **kwargs):
        return real.ThreadPoolExecutor(max_workers=min(max_workers or 8, 8), **kwargs)

    server.futures = types.SimpleNamespace(ThreadPoolExecutor=executor)


def _log_level(minimum: int):
    def patch(hclog) -> None:
        original = hclog.configure

        def configure(level: int = minimum, stream=None) -> None:
            original(max(level, minimum), stream)

        hclog.configure = configure

    return patch


def _no_database(database) -> None:
    import itertools
    import time

    counter = itertools.count()
    prefix = f"v-floor-{os.getpid()}-"  # unique per process, so OpenBao's leases never share a name
    wait = float(os.environ.get("YAMLDB_BENCH_FLOOR_WAIT_MS", "0")) / 1000

    def new_user(self, req) -> str:
        if wait:
            time.sleep(wait)
        return prefix + str(next(counter))

    def update_user(self, req) -> None:
        if wait:
            time.sleep(wait)

    def delete_user(self, req) -> None:
        if wait:
            time.sleep(wait)

    cls = database.ManifestDatabase
    cls.new_user, cls.update_user, cls.delete_user = new_user, update_user, delete_user


HOOKS = {
    "yamldb.engine.executor": [
        ("always-ping", "PING_WINDOW", _always_ping),
        ("engine-paths", "SqlEngine", _engine_paths),
        ("sqla-queue", "POOL_CLASS", _sqla_queue),
    ],
    "yamldb.engine.drivers.postgresql": [("psycopg-cursor", "PostgresqlAdapter", _psycopg_cursor)],
    "yamldb.transport.server": [("rpc-workers-8", "futures", _rpc_workers)],
    "yamldb.transport.hclog": [("warn-log", "configure", _log_level(logging.WARNING))],
    "yamldb.lifecycle.database": [("no-database", "ManifestDatabase", _no_database)],
}
ENGINE_PATHS = {"no-batch", "stepwise"}


class _PatchAfterImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        hooks = [
            h for h in HOOKS.get(name, []) if h[0] in PATCHES or (h[0] == "engine-paths" and PATCHES & ENGINE_PATHS)
        ]
        if not hooks:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                break
        else:
            return None
        exec_module = spec.loader.exec_module

        def exec_and_patch(module) -> None:
            exec_module(module)
            for patch, attribute, apply in hooks:
                if hasattr(module, attribute):  # the code under test may have moved on: skip, and say so
                    apply(module)
                    names = sorted(PATCHES & ENGINE_PATHS) if patch == "engine-paths" else [patch]
                    APPLIED.extend(names)
                    if os.environ.get("YAMLDB_BENCH_MARKER"):  # lets the benchmark check the patch is live
                        with open(os.environ["YAMLDB_BENCH_MARKER"], "a") as marker:
                            marker.writelines(f"{os.getpid()} {n}\n" for n in names)
                else:
                    sys.stderr.write(f"bench variant: {name}.{attribute} not found, {patch} not applied\n")

        spec.loader.exec_module = exec_and_patch
        return spec


if PATCHES:
    sys.meta_path.insert(0, _PatchAfterImport())
if os.environ.get("YAMLDB_BENCH_SWITCH_INTERVAL"):
    sys.setswitchinterval(float(os.environ["YAMLDB_BENCH_SWITCH_INTERVAL"]))
