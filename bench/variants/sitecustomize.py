"""Benchmark-only patches applied to a plugin process from outside (``python -m bench.experiments``).

OpenBao launches a variant with ``PYTHONPATH=bench/variants`` and
``YAMLDB_BENCH_PATCHES=a,b`` in its catalog env; Python imports this file at
start-up, and the patches are applied right after the yamldb module they touch
is imported. yamldb's source is not changed: this measures what a change *would*
bring before anyone makes it.

- ``shared-watchdog``: one deadline thread for all requests (a heap) instead of a
  ``threading.Timer`` (a new OS thread) per request in yamldb.engine.executor.
- ``no-pre-ping``: SQLAlchemy ``pool_pre_ping=False`` (no ``SELECT 1`` round trip
  per checkout; Go's database/sql does not ping either).
- ``info-log``: the plugin logs at INFO, not DEBUG (no per-operation debug line
  for OpenBao to read, parse and drop).
- ``warn-log``: the plugin logs at WARNING: no line at all per successful
  operation (today: a DEBUG "... ran" and an INFO "created/revoked user").
- ``skip-same-isolation``: setting a connection's isolation level to the level it
  already has sends nothing (PyMySQL: saves SET SESSION TRANSACTION ISOLATION
  LEVEL + COMMIT twice per operation: once when the executor sets it, once when
  the pool resets it on check-in).
- ``rpc-workers-8``: the gRPC server's handler pool has 8 threads, not 64 (each
  config's database pool has 4 connections; more handler threads only queue in
  SQLAlchemy's pool and fight over the GIL; waiting RPCs stay in grpc's C core).
- ``no-reset-on-return``: ``pool_reset_on_return=None`` (the executor already ends
  every transaction; PyMySQL's extra ROLLBACK on check-in is a round trip).
"""

from __future__ import annotations

import heapq
import importlib.abc
import itertools
import logging
import os
import sys
import threading
import time

PATCHES = {p.strip() for p in os.environ.get("YAMLDB_BENCH_PATCHES", "").split(",") if p.strip()}
APPLIED: list[str] = []


class _Deadlines:
    """One daemon thread firing callbacks at deadlines; arming and disarming is a heap push and a flag."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, list]] = []
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, deadline: float, callback) -> list:
        entry = [callback]  # disarm = entry[0] = None (lazy deletion)
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="yamldb-deadlines", daemon=True)
                self._thread.start()
            earliest = self._heap[0][0] if self._heap else None
            heapq.heappush(self._heap, (deadline, next(self._seq), entry))
            if earliest is None or deadline < earliest:
                self._cond.notify()
        return entry

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][2][0] is None:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                _, _, entry = heapq.heappop(self._heap)
                callback, entry[0] = entry[0], None
            if callback is not None:
                callback()


_DEADLINES = _Deadlines()


def _shared_watchdog(executor) -> None:
    original = executor._Watchdog

    class SharedWatchdog(original):
        def __init__(self, conn, engine, deadline: float) -> None:
            self.fired = False
            self._dbapi = conn.connection.dbapi_connection
            self._engine = engine
            self._entry = _DEADLINES.arm(deadline, self._fire)

        def disarm(self) -> None:
            self._entry[0] = None

    executor._Watchdog = SharedWatchdog


def _engine_options(executor) -> None:
    """no-pre-ping, no-reset-on-return and skip-same-isolation all act where SqlEngine creates its engine."""
    original = executor.create_engine

    def create_engine(url, **kwargs):
        if "no-pre-ping" in PATCHES:
            kwargs["pool_pre_ping"] = False
        if "no-reset-on-return" in PATCHES:
            kwargs["pool_reset_on_return"] = None
        engine = original(url, **kwargs)
        if "skip-same-isolation" in PATCHES:
            _skip_same_isolation(engine.dialect)
        return engine

    executor.create_engine = create_engine


def _skip_same_isolation(dialect) -> None:
    set_level = dialect.set_isolation_level
    current: dict[int, str] = {}  # id(dbapi connection) -> level we last set

    def set_isolation_level(dbapi_connection, level):
        if current.get(id(dbapi_connection)) == level:
            return
        set_level(dbapi_connection, level)
        current[id(dbapi_connection)] = level

    def reset_isolation_level(dbapi_connection):
        set_isolation_level(dbapi_connection, dialect.default_isolation_level)

    dialect.set_isolation_level = set_isolation_level
    dialect.reset_isolation_level = reset_isolation_level


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


HOOKS = {
    "yamldb.engine.executor": [("shared-watchdog", "_Watchdog", _shared_watchdog),
                               ("engine-options", "create_engine", _engine_options)],
    "yamldb.transport.server": [("rpc-workers-8", "futures", _rpc_workers)],
    "yamldb.transport.hclog": [("info-log", "configure", _log_level(logging.INFO)),
                               ("warn-log", "configure", _log_level(logging.WARNING))],
}


class _PatchAfterImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        engine_patches = {"no-pre-ping", "no-reset-on-return", "skip-same-isolation"}
        hooks = [h for h in HOOKS.get(name, []) if h[0] in PATCHES or (h[0] == "engine-options" and
                                                                       PATCHES & engine_patches)]
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
                    names = sorted(PATCHES & engine_patches) if patch == "engine-options" else [patch]
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
