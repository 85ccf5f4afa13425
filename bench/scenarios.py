"""Scenarios operators meet, for yamldb, the floor and the built-in plugin (``python -m bench``, part ``scenarios``).

All three use roles exactly as the Vault docs write them: creation statements with a GRANT and no
revocation statements, so each plugin revokes with its own defaults.

a. Throughput with those roles (the same A B C C B A points as the synthetic statements).
b. A revocation storm: N leases (5,000 by default) issued, then renewed so that their TTLs end
   together (within a few seconds), then drained by OpenBao's own expiry manager; no client revokes
   anything. Time to drain, OpenBao's error lines, leases and database users left.
c. A burst: N credentials (1,000) asked for at the same moment, each client on its own connection,
   as when a fleet of pods starts: p50, p99, max and the time until the last one is served.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable
from typing import Any

from bench import loadgen, report, throughput
from bench.loadgen import STOP, percentile, run_phase
from bench.procstat import CpuMeter, wait_for_quiet
from bench.stack import MOUNT, Stack, Target

# https://openbao.org/docs/secrets/databases/postgresql/ and .../mysql-maria/ (the same text in Vault's docs)
DOCS_CREATE = {
    "postgresql": "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; "
    'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}";',
    "mysql": "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';GRANT SELECT ON *.* TO '{{name}}'@'%';",
}
# The storm keeps 5,000 users alive at once. PostgreSQL cannot grant on one table to that many roles: its ACL
# outgrows the 8 kB catalog row ("row is too big: size 8168, maximum size 8160", seen part-way through a
# 5,000-lease run with 20 tables), for any plugin. So on PostgreSQL the storm's role is the docs' CREATE ROLE alone; the
# revocation is still each plugin's default. MySQL keeps the docs' role (a global GRANT has no such limit).
STORM_CREATE = {"postgresql": DOCS_CREATE["postgresql"].split("; GRANT", 1)[0], "mysql": DOCS_CREATE["mysql"]}
# The docs' GRANT has something to grant: a schema with tables, as in any real database.
DOCS_TABLES = 20
STORM_ISSUE_LIMIT_S = 1800.0  # issuing with the docs' GRANT slows as users pile up; bounded all the same
STORM_CONCURRENCY = 32
STORM_POLL_S = 0.5
STORM_DRAIN_LIMIT_S = 120.0  # OpenBao retries failed revocations for longer; what is left then counts
BURST_ROUNDS = 2


def docs_role(stack: Stack, target: Target, suffix: str, ttl: str = "1h", create: str | None = None) -> Target:
    """A role as the docs write it (or with `create` as its creation statements), on `target`'s connection config."""
    role = f"{stack.run_id}{target.database[0]}{target.plugin[0]}{suffix}"
    stack.bao.api(
        "POST",
        f"{MOUNT}/roles/{role}",
        {
            "db_name": target.config,
            "creation_statements": create or DOCS_CREATE[target.database],
            "default_ttl": ttl,
            "max_ttl": "24h",
        },
    )
    return Target(target.database, target.plugin, target.config, role, target.pids)


def _docs_schema(stack: Stack) -> None:
    if stack.pg is None:
        return
    with stack.pg.connect() as conn:
        for i in range(DOCS_TABLES):
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS public.bench_docs_{i} (id bigint PRIMARY KEY, name text, "
                "created timestamptz DEFAULT now())"
            )


def run_all(
    stack: Stack, targets: dict[str, dict[str, Target]], args: argparse.Namespace, log: Callable[[str], None]
) -> dict[str, Any]:
    _docs_schema(stack)
    docs = {db: {arm: docs_role(stack, t, "d") for arm, t in arms.items()} for db, arms in targets.items()}
    out: dict[str, Any] = {}
    concurrency = [c for c in args.concurrency if c in report.TARGET_CONCURRENCY] or args.concurrency
    if "a" in args.scenarios:
        log(f"scenario a: roles as the docs write them, {args.leases} leases per point and arm")
        out["docs_roles"] = docs_throughput(
            stack, docs, concurrency, args.leases, args.request_timeout, args.quiet_wait, log
        )
    if "c" in args.scenarios:
        log(f"scenario c: a burst of {args.burst} credentials at once, {BURST_ROUNDS} rounds per arm")
        out["burst"] = bursts(stack, docs, args.burst, BURST_ROUNDS, args.quiet_wait, log)
    if "b" in args.scenarios:
        log(f"scenario b: a revocation storm of {args.storm_leases} leases per arm")
        out["storm"] = storms(stack, targets, args.storm_leases, args.quiet_wait, log)
    return out


# -- a ------------------------------------------------------------------------------------------
def docs_throughput(
    stack: Stack,
    docs: dict[str, dict[str, Target]],
    concurrency: list[int],
    leases: int,
    timeout: float,
    quiet_wait: float,
    log: Callable[[str], None],
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "throughput": {},
        "about": (
            f"PostgreSQL: `{DOCS_CREATE['postgresql']}` on a database with {DOCS_TABLES} tables in `public`; "
            f"MySQL: `{DOCS_CREATE['mysql']}`."
        ),
    }
    for n, database in enumerate(docs):
        result["throughput"][database] = {
            str(c): throughput.measure_point(stack, docs[database], c, leases, n + k, timeout, log, quiet_wait)
            for k, c in enumerate(concurrency)
        }
    result["ratios"] = {
        database: {c: report.point_ratios(point) for c, point in points.items()}
        for database, points in result["throughput"].items()
    }
    return result


# -- c ------------------------------------------------------------------------------------------
def bursts(
    stack: Stack,
    docs: dict[str, dict[str, Target]],
    count: int,
    rounds: int,
    quiet_wait: float,
    log: Callable[[str], None],
) -> dict[str, Any]:
    results: dict[str, dict[str, Any]] = {}
    for database, arms in docs.items():
        names = list(arms)
        pooled: dict[str, dict[str, Any]] = {
            arm: {"lat": [], "makespan": [], "errors": [], "ok": 0, "cpu": {}} for arm in names
        }
        for r in range(rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            for arm in order if r % 2 == 0 else order[::-1]:
                if STOP.is_set():
                    raise KeyboardInterrupt
                if quiet_wait > 0:
                    wait_for_quiet(quiet_wait)
                target = arms[arm]
                meter = CpuMeter(throughput.cpu_groups(stack, target))
                meter.start()
                res = loadgen.burst(
                    stack.bao.port,
                    stack.bao.token,
                    f"{MOUNT}/creds/{target.role}",
                    count,
                    extract=lambda body: body.get("lease_id"),
                )
                cpu = meter.stop()
                acc = pooled[arm]
                acc["lat"] += res.latencies_ms
                acc["makespan"].append(res.makespan_s)
                acc["errors"] += res.errors
                acc["ok"] += len(res.latencies_ms)
                for key, value in cpu.items():
                    acc["cpu"][key] = acc["cpu"].get(key, 0.0) + value
                log(
                    f"  {database:10} {arm:8} burst of {count}: all served in {res.makespan_s:.2f} s, p50 "
                    f"{percentile(res.latencies_ms, 50):.0f} p99 {percentile(res.latencies_ms, 99):.0f} ms, "
                    f"{len(res.errors)} errors"
                )
                leases = [lease for lease in res.outputs if lease]
                run_phase(
                    stack.bao.port,
                    stack.bao.token,
                    STORM_CONCURRENCY,
                    len(leases),
                    lambda i, ls=leases: ("PUT", "sys/leases/revoke", {"lease_id": ls[i]}),
                    expect=(200, 204),
                )
        results[database] = {}
        for arm, acc in pooled.items():
            ok = max(acc["ok"], 1)
            results[database][arm] = {
                "rounds": rounds,
                "ok": acc["ok"],
                "errors": len(acc["errors"]),
                "error_samples": sorted(set(acc["errors"]))[:3],
                "makespan_s": round(sum(acc["makespan"]) / len(acc["makespan"]), 3),
                "makespan_each_s": [round(m, 3) for m in acc["makespan"]],
                "p50_ms": round(percentile(acc["lat"], 50), 1),
                "p99_ms": round(percentile(acc["lat"], 99), 1),
                "max_ms": round(max(acc["lat"]), 1) if acc["lat"] else None,
                "cpu_ms_per_op": {k: round(v * 1000 / ok, 3) for k, v in sorted(acc["cpu"].items())},
            }
    ratios = {}
    for database, arms in results.items():
        if "yamldb" not in arms:
            continue
        ratios[database] = {
            other: {
                k: report.ratio(arms["yamldb"][k], arms[other][k]) for k in ("makespan_s", "p50_ms", "p99_ms", "max_ms")
            }
            for other in ("floor", "builtin")
            if other in arms
        }
    return {
        "count": count,
        "results": results,
        "ratios": ratios,
        "about": (
            f"{count} clients, each with its own HTTP connection opened beforehand, send `GET database/creds/ROLE` "
            f"at the same moment (one asyncio thread drives them all); latency from each request's send to its "
            f"response; {rounds} rounds per arm in rotated order, pooled; roles as in scenario a. The leases are "
            "revoked after each burst, outside the measurement."
        ),
    }


# -- b ------------------------------------------------------------------------------------------
def storms(
    stack: Stack, targets: dict[str, dict[str, Target]], leases: int, quiet_wait: float, log: Callable[[str], None]
) -> dict[str, Any]:
    results: dict[str, dict[str, Any]] = {}
    for database, arms in targets.items():
        results[database] = {}
        for arm, target in arms.items():
            if STOP.is_set():
                raise KeyboardInterrupt
            if quiet_wait > 0:
                wait_for_quiet(quiet_wait)
            results[database][arm] = storm(stack, target, leases, log)
    return {
        "leases": leases,
        "results": results,
        "about": (
            "Roles as in scenario a (on PostgreSQL without the GRANT: no table's ACL can hold 5,000 grantees). "
            f"The leases are issued at c={STORM_CONCURRENCY} with a TTL of 1 h, then each is "
            "renewed with an increment that ends it at one common moment (a renewal may shorten a lease; OpenBao "
            "asks the plugin to move the user's expiry), so every lease expires within a few seconds; then nobody "
            "revokes anything and OpenBao's expiry manager drains them. 'Drained' is when "
            f"OpenBao lists no lease of these roles any more (polled every {STORM_POLL_S} s), at most "
            f"{STORM_DRAIN_LIMIT_S:.0f} s after the last expiry; errors are OpenBao's 'failed to revoke lease' lines "
            "for these leases (one per failed attempt: OpenBao retries with a growing delay); users left are the "
            "issued usernames still in the database then. Afterwards the remaining leases are force-revoked "
            "(without the plugin) and the users dropped, so the next arm starts clean."
        ),
    }


def storm(stack: Stack, target: Target, leases: int, log: Callable[[str], None]) -> dict[str, Any]:
    created: list[str] = []
    issued: list[tuple[str, str]] = []  # (lease id, username)

    def role(suffix: str, ttl_s: int) -> Target:
        t = docs_role(stack, target, suffix, ttl=f"{ttl_s}s", create=STORM_CREATE[target.database])
        created.append(t.role)
        return t

    def extract(body: dict[str, Any]) -> tuple[str, str]:
        return body.get("lease_id", ""), body.get("data", {}).get("username", "")

    try:
        # Issue with a long TTL first: issuing 5,000 credentials with the docs' GRANT can take minutes (each
        # GRANT grows the tables' ACLs), far longer than any expiry set in advance would allow. Then renew every
        # lease to one common deadline (a renewal with a smaller increment shortens the lease: OpenBao asks the
        # plugin to move the user's expiry), so they all end within a few seconds of each other.
        storm_role = role("s", 3600)
        started = time.monotonic()
        res = run_phase(
            stack.bao.port,
            stack.bao.token,
            STORM_CONCURRENCY,
            leases,
            lambda _i, p=f"{MOUNT}/creds/{storm_role.role}": ("GET", p, None),
            expect=(200,),
            extract=extract,
            phase_timeout=STORM_ISSUE_LIMIT_S,
        )
        issued += [out for out in res.outputs if out and out[0]]
        errors = list(res.errors)
        issue_s = time.monotonic() - started
        # How fast can this arm renew? Sets the common deadline far enough ahead for every renewal.
        lease_ids = [lease for lease, _ in issued]
        pilot = lease_ids[: 4 * STORM_CONCURRENCY]
        probe = run_phase(
            stack.bao.port,
            stack.bao.token,
            STORM_CONCURRENCY,
            len(pilot),
            lambda i: ("PUT", "sys/leases/renew", {"lease_id": pilot[i], "increment": 3600}),
            expect=(200,),
        )
        horizon = max(20.0, len(lease_ids) / max(probe.rate, 1.0) * 1.5 + 10)
        deadline = time.monotonic() + horizon
        expiries: list[float] = []

        def renew(i: int) -> tuple[str, str, dict[str, Any]]:
            now = time.monotonic()
            increment = max(round(deadline - now), 5)
            expiries.append(now + increment)  # list.append is atomic: the load generator's threads share it
            return "PUT", "sys/leases/renew", {"lease_id": lease_ids[i], "increment": increment}

        renewed = run_phase(stack.bao.port, stack.bao.token, STORM_CONCURRENCY, len(lease_ids), renew, expect=(200,))
        errors += renewed.errors
        first_expiry, last_expiry = min(expiries, default=deadline), max(expiries, default=deadline)
        log(
            f"  {target.database:10} {target.plugin:8} storm: {len(issued)} leases issued in {issue_s:.1f} s and "
            f"renewed in {renewed.ok / max(renewed.rate, 0.001):.1f} s ({len(errors)} errors), expiring "
            f"{first_expiry - time.monotonic():.0f}-{last_expiry - time.monotonic():.0f} s from now"
        )
        log_mark = len(stack.bao.log_text())
        time.sleep(max(first_expiry - time.monotonic() - 0.5, 0))
        meter = CpuMeter(throughput.cpu_groups(stack, target))
        meter.start()
        deadline = last_expiry + STORM_DRAIN_LIMIT_S
        left = len(issued)
        drained_at = None
        samples: list[tuple[float, int]] = []
        while not STOP.is_set():
            left = _leases_left(stack, storm_role.role)
            now = time.monotonic()
            samples.append((round(now - first_expiry, 1), left))
            if left == 0:
                drained_at = now
                break
            if now > deadline:
                break
            time.sleep(STORM_POLL_S)
        cpu = meter.stop()
        if STOP.is_set():
            raise KeyboardInterrupt
        # OpenBao names the lease in each failed attempt; other arms' lines are not this arm's errors.
        mine = f"lease_id={MOUNT}/creds/{stack.run_id}{target.database[0]}{target.plugin[0]}s"
        bao_errors = [
            line
            for line in stack.bao.log_text()[log_mark:].splitlines()
            if "[ERROR]" in line and "failed to revoke lease" in line and mine in line
        ]
        users_left = _users_left(stack, target, [user for _, user in issued]) if target.plugin != "floor" else None
        end = drained_at if drained_at is not None else time.monotonic()
        row = {
            "issued": len(issued),
            "issue_errors": len(errors),
            "issue_s": round(issue_s, 1),
            "renew_s": round(renewed.ok / max(renewed.rate, 0.001), 1),
            "expiry_window_s": round(last_expiry - first_expiry, 1),
            "drained": drained_at is not None,
            "drain_s_from_first_expiry": round(end - first_expiry, 1),
            "drain_s_after_last_expiry": round(end - last_expiry, 1),
            "revoked_per_s": round((len(issued) - left) / max(end - first_expiry, STORM_POLL_S), 1),
            "log_errors": len(bao_errors),
            "log_error_samples": [line[-300:] for line in bao_errors[:3]],
            "leases_left": left,
            "users_left": users_left,
            "cpu_s": {k: round(v, 2) for k, v in cpu.items()},
            "left_over_time": samples[:: max(len(samples) // 40, 1)],
        }
        log(
            f"  {target.database:10} {target.plugin:8} storm: drained {row['drain_s_from_first_expiry']} s after "
            f"the first expiry ({row['drain_s_after_last_expiry']} s after the last), {row['log_errors']} error "
            f"lines, {left} leases and {users_left} users left"
        )
        return row
    finally:
        # The next arm must not share the database or OpenBao's expiry manager with this one's retries: forget
        # what is left here without calling the plugin, and drop the users it left behind.
        for name in created:
            with contextlib.suppress(Exception):
                stack.bao.api("PUT", f"sys/leases/revoke-force/{MOUNT}/creds/{name}", timeout=120)
            with contextlib.suppress(Exception):
                stack.bao.api("DELETE", f"{MOUNT}/roles/{name}")
        if target.plugin != "floor" and issued:
            with contextlib.suppress(Exception):
                _drop_users(stack, target, [user for _, user in issued])


def _leases_left(stack: Stack, role: str) -> int:
    body = stack.bao.api("LIST", f"sys/leases/lookup/{MOUNT}/creds/{role}", expect=(200, 404))
    return len(body.get("data", {}).get("keys", []) or [])


def _users_left(stack: Stack, target: Target, usernames: list[str]) -> int | None:
    if not usernames:
        return 0
    if target.database == "postgresql" and stack.pg is not None:
        with stack.pg.connect() as conn:
            return int(
                conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = ANY(%s)", (usernames,)).fetchone()[0]
            )
    if stack.mariadb is not None:
        found = 0
        with stack.mariadb.connect() as conn, conn.cursor() as cur:
            for i in range(0, len(usernames), 500):
                chunk = usernames[i : i + 500]
                cur.execute(f"SELECT COUNT(*) FROM mysql.user WHERE User IN ({', '.join(['%s'] * len(chunk))})", chunk)
                found += int(cur.fetchone()[0])
        return found
    return None


def _drop_users(stack: Stack, target: Target, usernames: list[str]) -> None:
    if target.database == "postgresql" and stack.pg is not None:
        with stack.pg.connect() as conn:
            left = [
                r[0]
                for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (usernames,)).fetchall()
            ]
            for name in left:  # the docs' GRANT: privileges go with DROP OWNED, then the role can go
                ident = '"' + name.replace('"', '""') + '"'
                conn.execute(f"DROP OWNED BY {ident}")
                conn.execute(f"DROP ROLE {ident}")
    elif stack.mariadb is not None:
        with stack.mariadb.connect() as conn, conn.cursor() as cur:
            for name in usernames:
                cur.execute("DROP USER IF EXISTS %s@'%%'", (name,))
