"""``python -m bench.hotpath``: yamldb's own per-operation cost, in one thread, without gRPC or OpenBao.

Drives the gRPC servicer directly (``DatabaseServicer.NewUser`` / ``DeleteUser`` with the
request messages OpenBao sends and a stand-in context) against a throw-away PostgreSQL and
a temporary MariaDB admin user, one operation at a time, and reports CPU time per
operation of this process for three arms:

- ``servicer``: the floor's share, the servicer answering without database work
  (bench/variants/sitecustomize.py's ``no-database`` patch applied in-process);
- ``no-db``: everything yamldb does per operation except the database round trip
  (the engine's ``run`` replaced by a no-op): servicer, lifecycle, rendering;
- ``wait``: as ``no-db``, but the engine's ``run`` sleeps (the GIL released) as long as the ``full`` arm's
  database call took on average, per operation: what merely waiting for a database costs a thread that
  blocks and is woken again (the wake-up, and the code after it running with cold caches);
- ``full``: the whole operation, the driver's round trip included.

With ``--callgrind`` the same loop runs under valgrind's callgrind for a fixed number of
operations and reports instructions per operation: unlike CPU time, that count does not
move with the load on a shared machine, so it decides A/B comparisons of small changes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ARMS = ("servicer", "no-db", "wait", "full")
ROOT = Path(__file__).resolve().parent.parent
PG_CREATE = "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"
PG_REVOKE = 'DROP ROLE IF EXISTS "{{name}}";'
MY_CREATE = "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';"
MY_REVOKE = "DROP USER IF EXISTS '{{name}}'@'%';"


class _Context:
    """What the servicer asks of grpc's ServicerContext on the success path."""

    def __init__(self, instance_id: str) -> None:
        self._metadata = (("multiplex_id", instance_id), ("user-agent", "grpc-go/1.72.0"))

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    def time_remaining(self) -> float | None:
        return None  # OpenBao sets no deadline on these calls (the profile shows no watchdog timers)

    def abort(self, code: Any, message: str) -> None:
        raise RuntimeError(f"{code}: {message}")


def _requests(database: str) -> tuple[Any, Any]:
    from google.protobuf import timestamp_pb2

    from yamldb.transport.pb import database_pb2 as db

    create, revoke = (PG_CREATE, PG_REVOKE) if database == "postgresql" else (MY_CREATE, MY_REVOKE)
    expiration = timestamp_pb2.Timestamp()
    expiration.FromSeconds(int(time.time()) + 3600)

    def new_user(i: int) -> Any:
        return db.NewUserRequest(
            username_config=db.UsernameConfig(display_name="token", role_name="hotpath"),
            expiration=expiration,
            statements=db.Statements(Commands=[create]),
            password=f"Pw-{i:06d}-A1a-{os.getpid()}-xxxxxxxx",
            credential_type=0,
        )

    def delete_user(username: str) -> Any:
        return db.DeleteUserRequest(username=username, statements=db.Statements(Commands=[revoke]))

    return new_user, delete_user


def _config(database: str, url: str, username: str, password: str) -> Any:
    from google.protobuf import struct_pb2

    config = struct_pb2.Struct()
    config.update(
        {
            "connection_url": url,
            "username": username,
            "password": password,
            "manifest": "postgresql" if database == "postgresql" else "mysql",
            "allowed_roles": "*",
        }
    )
    return config


def run_loop(
    database: str,
    url: str,
    username: str,
    password: str,
    arm: str,
    ops: int,
    warmup: int = 50,
    waits: dict[str, float] | None = None,
) -> dict[str, Any]:
    """`ops` NewUser + DeleteUser pairs in this thread; CPU seconds per operation, and for `full` the mean wall
    time of the database call per operation name (what the `wait` arm sleeps, given as `waits`)."""
    from yamldb.lifecycle.instances import Instances
    from yamldb.transport.pb import database_pb2 as db
    from yamldb.transport.services import DatabaseServicer

    instances = Instances()
    servicer = DatabaseServicer(instances)
    context = _Context(f"hotpath-{database}")
    servicer.Initialize(
        db.InitializeRequest(config_data=_config(database, url, username, password), verify_connection=True), context
    )
    instance = instances.get(f"hotpath-{database}")
    if arm == "servicer":
        sys.path.insert(0, str(ROOT / "bench" / "variants"))
        import sitecustomize

        sitecustomize._no_database(sys.modules["yamldb.lifecycle.database"])
    elif arm == "no-db":
        instance._current().engine.run = lambda *args, **kwargs: None
    elif arm == "wait":
        pause = dict(waits or {})
        instance._current().engine.run = lambda steps, operation, *args, **kwargs: time.sleep(pause[operation])
    walls: dict[str, list[float]] = {}
    if arm == "full":
        engine = instance._current().engine
        real_run = engine.run

        def timed_run(steps: Any, operation: str, *args: Any, **kwargs: Any) -> None:
            began = time.perf_counter()
            try:
                real_run(steps, operation, *args, **kwargs)
            finally:
                walls.setdefault(operation, []).append(time.perf_counter() - began)

        engine.run = timed_run
    new_user, delete_user = _requests(database)
    for i in range(warmup):
        name = servicer.NewUser(new_user(i), context).username
        servicer.DeleteUser(delete_user(name), context)
    new_requests = [new_user(i) for i in range(ops)]
    if not ops:
        instances.close_all()
        return {}
    names = []
    started = time.process_time()
    for request in new_requests:
        names.append(servicer.NewUser(request, context).username)
    created = time.process_time()
    for name in names:
        servicer.DeleteUser(delete_user(name), context)
    done = time.process_time()
    instances.close_all()
    result: dict[str, Any] = {
        "new_user_ms": round((created - started) * 1000 / ops, 4),
        "delete_user_ms": round((done - created) * 1000 / ops, 4),
    }
    if walls:
        result["database_wall_s"] = {name: sum(values) / len(values) for name, values in walls.items()}
    return result


def _databases(names: list[str], stack: contextlib.ExitStack) -> dict[str, tuple[str, str, str]]:
    from devenv import MariaDBAdmin, PostgresCluster

    out = {}
    if "postgresql" in names:
        pg = PostgresCluster.start()
        stack.callback(pg.stop)
        out["postgresql"] = (pg.template_url(), pg.superuser, pg.password)
    if "mysql" in names:
        mariadb = MariaDBAdmin.start()
        stack.callback(mariadb.stop)
        for head in ("v-token-hotpath",):
            mariadb.track_prefix(head)
        out["mysql"] = (
            f"{{{{username}}}}:{{{{password}}}}@tcp(127.0.0.1:{mariadb.port})/",
            mariadb.user,
            mariadb.password,
        )
    return out


def _callgrind(database: str, conn: tuple[str, str, str], arm: str, ops: int) -> dict[str, Any]:
    """Instructions per operation: the loop under callgrind, minus the same script with 0 ops."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return {"skipped": "valgrind not installed"}
    counts = {}
    with tempfile.TemporaryDirectory(prefix="yamldb-hotpath-") as tmp:
        for n in (0, ops):
            out = Path(tmp) / f"cg.{n}"
            # The whole process is counted; the run with 0 operations (start-up, Initialize, warm-up) is subtracted.
            args = [
                valgrind,
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                "-m",
                "bench.hotpath",
                "--child",
                database,
                *conn,
                arm,
                str(n),
            ]
            proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=3600, check=False)
            summary = re.search(r"^summary: (\d+)", out.read_text(), re.M) if out.exists() else None
            if proc.returncode != 0 or summary is None:
                return {"skipped": f"callgrind failed: {proc.stderr[-500:]}"}
            counts[n] = int(summary.group(1))
    return {"instructions_per_op_pair": round((counts[ops] - counts[0]) / ops), "ops": ops}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":  # one loop, for callgrind: database url user password arm ops
        database, url, user, password, arm, ops = argv[1:7]
        run_loop(database, url, user, password, arm, int(ops), warmup=20)
        return 0
    p = argparse.ArgumentParser(prog="python -m bench.hotpath", description=__doc__.split("\n\n")[0])
    p.add_argument("--databases", default="postgresql,mysql")
    p.add_argument("--ops", type=int, default=1000, help="NewUser+DeleteUser pairs per run")
    p.add_argument("--runs", type=int, default=3, help="runs per arm (the median is reported)")
    p.add_argument("--arms", default=",".join(ARMS))
    p.add_argument(
        "--callgrind",
        type=int,
        default=0,
        metavar="OPS",
        help="also count instructions per operation pair under callgrind, over OPS pairs",
    )
    p.add_argument("--json", type=Path, help="write the results here too")
    args = p.parse_args(argv)
    databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    if "wait" in arms:  # it sleeps as long as the full arm's database calls took: measure those first
        arms = [a for a in arms if a not in ("wait", "full")] + ["full", "wait"]
    results: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        conns = _databases(databases, stack)
        for database, conn in conns.items():
            for arm in arms:
                runs = []
                waits = results.get(database, {}).get("full", {}).get("database_wall_s", {}) if arm == "wait" else {}
                for _ in range(args.runs):
                    proc = subprocess.run(
                        [sys.executable, "-c", _ONE_RUN, database, *conn, arm, str(args.ops), json.dumps(waits)],
                        capture_output=True,
                        text=True,
                        cwd=ROOT,
                        timeout=600,
                        check=False,
                    )
                    if proc.returncode != 0:
                        raise RuntimeError(proc.stderr[-2000:])
                    runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
                row = {key: sorted(r[key] for r in runs)[len(runs) // 2] for key in ("new_user_ms", "delete_user_ms")}
                if arm == "full":  # mean over the runs of each run's mean wall time per database call
                    row["database_wall_s"] = {
                        name: sum(r["database_wall_s"][name] for r in runs) / len(runs)
                        for name in runs[0]["database_wall_s"]
                    }
                if waits:
                    row["slept_ms"] = {name: round(value * 1000, 3) for name, value in waits.items()}
                row["runs"] = runs
                if args.callgrind and arm != "wait":  # instructions do not see what waiting costs
                    row["callgrind"] = _callgrind(database, conn, arm, args.callgrind)
                results.setdefault(database, {})[arm] = row
                cg = row.get("callgrind", {}).get("instructions_per_op_pair")
                print(
                    f"{database:10} {arm:9} NewUser {row['new_user_ms']:.3f} ms  DeleteUser "
                    f"{row['delete_user_ms']:.3f} ms CPU per op (median of {args.runs})"
                    + (f"  {cg / 1e6:.3f} M instructions per NewUser+DeleteUser" if cg else "")
                    + (f"  (slept ms per call: {row['slept_ms']})" if waits else ""),
                    flush=True,
                )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


# Each run in a fresh interpreter: the arms patch yamldb in-process and must not leak into each other.
_ONE_RUN = """
import json, sys
from bench.hotpath import run_loop
database, url, user, password, arm, ops, waits = sys.argv[1:8]
print(json.dumps(run_loop(database, url, user, password, arm, int(ops), waits=json.loads(waits))))
"""


if __name__ == "__main__":
    sys.exit(main())
