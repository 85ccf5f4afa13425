"""Plugin CPU per call, layer by layer, without OpenBao: where yamldb's per-operation cost comes from.

Each row is the CPU time (utime+stime, all threads) of one server process divided by the calls it
served: 8 client threads, ``calls`` unary calls per run, the median of ``runs`` runs. Rows build on
each other, so differences attribute the cost:

1. a bare grpcio synchronous server (the same grpcio, a handler returning a constant, no TLS);
2. the prebuilt yamldb plugin, ``Type`` through its mTLS terminator (transport only);
3. the plugin, per database: ``DeleteUser`` of a user that does not exist, ``NewUser`` as OpenBao sends
   it (role statements, names, password, expiration) and ``DeleteUser`` of the users just made;
   each also for the floor: the same file with its database work switched off (``no-database``);
4. in this process: yamldb's engine running the same statement, and the bare driver doing it.

The client is Python (devenv.goplugin_host) on the same cores; its own CPU is not counted.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.procstat import cpu_seconds
from bench.stack import FLOOR_PATCHES, HOOK_DIR, Stack

CONCURRENCY = 8
WARM_CALLS = 100
# OpenBao sets no deadline on NewUser/DeleteUser (time_remaining() is effectively infinite there); a deadline
# would start yamldb's statement watchdog on every call, which OpenBao's calls never do. Beyond a day yamldb
# treats a deadline as none.
NO_DEADLINE = 2 * 86400.0
FLOOR_WAIT_MS = 1

_BARE_SERVER = """
import sys
from concurrent import futures
import grpc
sys.path.insert(0, {root!r})
from yamldb.transport.pb import database_pb2 as db
def type_(request, context):
    return db.TypeResponse(Type="bare")
server = grpc.server(futures.ThreadPoolExecutor(12))
server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("dbplugin.v5.Database", {{
    "Type": grpc.unary_unary_rpc_method_handler(type_, request_deserializer=db.Empty.FromString,
                                                response_serializer=db.TypeResponse.SerializeToString)}})])
server.add_insecure_port("unix:" + sys.argv[1])
server.start()
print("ready", flush=True)
server.wait_for_termination()
"""


def _per_call(pid_or_self: int | None, call: Callable[[int], Any], calls: int) -> float:
    """CPU ms per call of process `pid_or_self` (None: this process) while 8 threads make `calls` calls.

    `call(i)` gets a distinct i per call: 0..WARM_CALLS-1 for the warm-up, then WARM_CALLS.. for the measured."""
    for i in range(WARM_CALLS):  # warm pools, caches and the driver
        call(i)
    per_thread = calls // CONCURRENCY
    cpu = (lambda: cpu_seconds(pid_or_self)) if pid_or_self else time.process_time
    before = cpu()
    threads = [
        threading.Thread(target=lambda k=k: [call(WARM_CALLS + k * per_thread + i) for i in range(per_thread)])
        for k in range(CONCURRENCY)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return (cpu() - before) * 1000 / (per_thread * CONCURRENCY)


def _median(samples: list[float]) -> float:
    return round(statistics.median(samples), 3)


def _bare_grpc(calls: int, runs: int) -> float:
    import grpc

    from yamldb.transport.pb import database_pb2 as db

    root = str(Path(__file__).resolve().parent.parent)
    samples = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="yamldb-bench-") as tmp:
            sock = os.path.join(tmp, "bare.sock")
            proc = subprocess.Popen(
                [sys.executable, "-c", _BARE_SERVER.format(root=root), sock], stdout=subprocess.PIPE, text=True
            )
            try:
                assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
                channel = grpc.insecure_channel(f"unix:{sock}")
                stub = channel.unary_unary(
                    "/dbplugin.v5.Database/Type",
                    request_serializer=db.Empty.SerializeToString,
                    response_deserializer=db.TypeResponse.FromString,
                )
                samples.append(_per_call(proc.pid, lambda _i, stub=stub: stub(db.Empty(), timeout=10), calls))
                channel.close()
            finally:
                proc.kill()
                proc.wait(5)
    return _median(samples)


def _plugin_rows(stack: Stack, calls: int, runs: int) -> dict[str, float]:
    """The prebuilt plugin as shipped ("yamldb") and as the floor (its database work switched off)."""
    samples: dict[str, list[float]] = {}
    base_env = {"YAMLDB_PLUGIN_CACHE": str(stack.cache_dir), "TMPDIR": str(stack.tmp_dir), "YAMLDB_LOG_LEVEL": "info"}
    floor_env = {**base_env, "PYTHONPATH": str(HOOK_DIR), "YAMLDB_BENCH_PATCHES": ",".join(FLOOR_PATCHES)}
    # The floor again, each call sleeping as long as a database round trip takes: how much of the difference
    # is waiting itself (threads that sleep and wake), not yamldb's work.
    arms = [
        ("yamldb", base_env),
        ("floor", floor_env),
        (f"floor+{FLOOR_WAIT_MS}ms", {**floor_env, "YAMLDB_BENCH_FLOOR_WAIT_MS": str(FLOOR_WAIT_MS)}),
    ]
    for n in range(runs):
        for arm, env in arms[n % len(arms) :] + arms[: n % len(arms)]:
            for name, value in _plugin_run(stack, arm, env, calls).items():
                samples.setdefault(name, []).append(value)
    return {name: _median(values) for name, values in sorted(samples.items())}


def _plugin_run(stack: Stack, arm: str, env: dict[str, str], calls: int) -> dict[str, float]:
    from google.protobuf import struct_pb2, timestamp_pb2

    from bench.stack import STATEMENTS
    from devenv.goplugin_host import PluginProcess
    from yamldb.transport.pb import database_pb2 as db

    out: dict[str, float] = {}
    with PluginProcess([str(stack.plugin_path)], env=env) as plugin:
        channel = plugin.channel()

        def unary(method: str, req: Any, resp: Any, channel: Any = channel) -> Callable[..., Any]:
            return channel.unary_unary(
                f"/dbplugin.v5.Database/{method}",
                request_serializer=req.SerializeToString,
                response_deserializer=resp.FromString,
            )

        type_ = unary("Type", db.Empty, db.TypeResponse)
        out[f"{arm} Type"] = _per_call(plugin.proc.pid, lambda _i, t=type_: t(db.Empty(), timeout=10), calls)
        initialize = unary("Initialize", db.InitializeRequest, db.InitializeResponse)
        new_user = unary("NewUser", db.NewUserRequest, db.NewUserResponse)
        delete = unary("DeleteUser", db.DeleteUserRequest, db.DeleteUserResponse)
        expiration = timestamp_pb2.Timestamp()
        expiration.FromSeconds(int(time.time()) + 3600)
        for database in _revocations(stack):
            create, revoke = STATEMENTS[database]
            meta = (("multiplex_id", f"layers-{database}"),)
            config = struct_pb2.Struct()
            config.update(stack.config_body(database, "yamldb"))
            initialize(db.InitializeRequest(config_data=config, verify_connection=True), metadata=meta, timeout=30)
            absent = db.DeleteUserRequest(
                username=f"{stack.run_id}-nobody", statements=db.Statements(Commands=[revoke])
            )
            out[f"{arm} DeleteUser {database} absent"] = _per_call(
                plugin.proc.pid, lambda _i, d=delete, r=absent, m=meta: d(r, metadata=m, timeout=NO_DEADLINE), calls
            )
            # What OpenBao sends: the role's statements, a display and role name, a password, an expiration.
            names: list[str] = [""] * (calls + WARM_CALLS)
            config_name = db.UsernameConfig(display_name="token", role_name=f"{stack.run_id}l")

            def create_one(
                i: int, m: Any = meta, c: str = create, names: list[str] = names, u: Any = config_name
            ) -> None:
                names[i] = new_user(
                    db.NewUserRequest(
                        username_config=u,
                        expiration=expiration,
                        statements=db.Statements(Commands=[c]),
                        password=f"Lp-{i:06d}-{stack.run_id}-A1a-xxxxxxxx",
                    ),
                    metadata=m,
                    timeout=NO_DEADLINE,
                ).username

            def delete_one(i: int, m: Any = meta, r: str = revoke, names: list[str] = names) -> None:
                delete(
                    db.DeleteUserRequest(username=names[i], statements=db.Statements(Commands=[r])),
                    metadata=m,
                    timeout=NO_DEADLINE,
                )

            out[f"{arm} NewUser {database}"] = _per_call(plugin.proc.pid, create_one, calls)
            out[f"{arm} DeleteUser {database}"] = _per_call(plugin.proc.pid, delete_one, calls)
        channel.close()
    return out


def _revocations(stack: Stack) -> dict[str, str]:
    from bench.stack import STATEMENTS

    out = {}
    if stack.pg is not None:
        out["postgresql"] = STATEMENTS["postgresql"][1]
    if stack.mariadb is not None:
        out["mysql"] = STATEMENTS["mysql"][1]
    return out


def _in_process_rows(stack: Stack, calls: int, runs: int) -> dict[str, float]:
    """yamldb's engine and the bare driver, in this process, for the rendered revocation statement."""
    from yamldb.lifecycle.database import ManifestDatabase

    rows: dict[str, list[float]] = {}
    for database in _revocations(stack):
        body = {k: v for k, v in stack.config_body(database, "yamldb").items() if k != "plugin_name"}
        instance = ManifestDatabase()
        instance.initialize(body, verify_connection=True)
        state = instance._current()
        op, _ = instance._operation(state, "revoke", (_revocations(stack)[database],))
        steps = op.render(instance._values(state, f"{stack.run_id}-nobody", {}, op.placeholders()))
        sql = steps[0].statements[0]
        raw = _raw_driver(stack, database)
        for _ in range(runs):
            rows.setdefault(f"engine {database}", []).append(
                _per_call(None, lambda _i, e=state.engine, s=steps: e.run(s, "revoke"), calls)
            )
            rows.setdefault(f"driver {database}", []).append(_per_call(None, lambda _i, r=raw, q=sql: r(q), calls))
        instance.close()
    return {name: _median(values) for name, values in rows.items()}


def _raw_driver(stack: Stack, database: str) -> Callable[[str], None]:
    """One driver connection per client thread, autocommit: the least a Python client can do."""
    local = threading.local()
    if database == "postgresql":
        assert stack.pg is not None
        pg = stack.pg

        def connect() -> Any:
            return pg.connect()
    else:
        assert stack.mariadb is not None
        mariadb = stack.mariadb

        def connect() -> Any:
            return mariadb.connect()

    def run(sql: str) -> None:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = connect()
        cursor = conn.cursor()
        cursor.execute(sql)
        cursor.close()

    return run


def measure(stack: Stack, calls: int, runs: int, log: Callable[[str], None]) -> dict[str, Any]:
    out: dict[str, Any] = {"calls": calls, "runs": runs, "concurrency": CONCURRENCY}
    out["bare_grpc"] = _bare_grpc(calls, runs)
    log(f"  bare grpcio server: {out['bare_grpc']:.3f} ms CPU per call")
    out["plugin"] = _plugin_rows(stack, calls, runs)
    for name, value in out["plugin"].items():
        log(f"  plugin {name}: {value:.3f} ms CPU per call")
    out["in_process"] = _in_process_rows(stack, calls, runs)
    for name, value in out["in_process"].items():
        log(f"  in-process {name}: {value:.3f} ms CPU per call")
    return out
