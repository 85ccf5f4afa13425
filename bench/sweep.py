"""``python -m bench.sweep``: how long `yamldb sweep` takes for N orphaned users (docs/sweep.md).

PostgreSQL: a throw-away cluster gets N roles named as the default template names them, VALID UNTIL an
hour ago, plus N/10 live ones; MariaDB (the machine's, via a temporary admin): N users under a template
unique to the run, judged by creation + --max-ttl. Each size is timed as the command a user runs: a dry
run (list and judge) and --apply (drop one by one with the dialect's revoke statements). Everything made
is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import secrets
import string
import subprocess
import sys
import time

from devenv import MariaDBAdmin, PostgresCluster

ALPHABET = string.ascii_letters + string.digits


def _random(n: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(n))


def _sweep(manifest: str, url: str, user: str, password: str, *extra: str) -> tuple[float, str]:
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "yamldb.cli",
            "sweep",
            manifest,
            "--connection-url",
            url,
            "--username",
            user,
            "--password-env",
            "BENCH_PW",
            "--grace",
            "0",
            *extra,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "BENCH_PW": password},
        timeout=3600,
    )
    elapsed = time.monotonic() - started
    if result.returncode not in (0, 1):
        raise SystemExit(f"sweep failed: {result.stderr}")
    summary = [line for line in result.stdout.splitlines() if line.startswith(("listed", "dropped"))]
    return elapsed, " | ".join(summary)


def bench_postgresql(sizes: list[int]) -> None:
    with PostgresCluster.start() as pg:
        for n in sizes:
            stamp = int(time.time()) - 7200
            yesterday = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400))
            with pg.connect() as conn:
                names = [f"v-token-bench-{_random(20)}-{stamp}" for _ in range(n)]
                live = [f"v-token-live-{_random(20)}-{stamp}" for _ in range(n // 10)]
                with conn.transaction():
                    for name in names:
                        conn.execute(f"CREATE ROLE \"{name}\" LOGIN VALID UNTIL '{yesterday}'")
                    for name in live:
                        conn.execute(f"CREATE ROLE \"{name}\" LOGIN VALID UNTIL 'infinity'")
            dry, summary = _sweep("postgresql", pg.template_url(), pg.superuser, pg.password)
            print(f"postgresql N={n}: dry run {dry:.2f} s ({summary})", flush=True)
            applied, summary = _sweep("postgresql", pg.template_url(), pg.superuser, pg.password, "--apply")
            print(f"postgresql N={n}: --apply {applied:.2f} s, {n / applied:.0f} users/s ({summary})", flush=True)
            with pg.connect() as conn:
                left = conn.execute("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'v-token-bench-%'").fetchone()[0]
                assert left == 0, left
                for name in live:
                    conn.execute(f'DROP ROLE "{name}"')


def bench_mariadb(sizes: list[int]) -> None:
    with MariaDBAdmin.start() as admin:
        tag = "b" + secrets.token_hex(2)
        admin.track_prefix(f"v-{tag}-")
        template = (
            '{{ printf "v-' + tag + '-%s-%s-%s" (.RoleName | truncate 6) (random 20) (unix_time) | truncate 32 }}'
        )
        url = f"{{{{username}}}}:{{{{password}}}}@tcp({admin.host}:{admin.port})/"
        for n in sizes:
            with admin.connect() as conn, conn.cursor() as cur:
                for _ in range(n):
                    cur.execute(f"CREATE USER 'v-{tag}-bench-{_random(18)}'@'%'")
            time.sleep(2.1)  # creation + --max-ttl 1s has passed
            args = ("--username-template", template, "--max-ttl", "1s")
            dry, summary = _sweep("mariadb", url, admin.user, admin.password, *args)
            print(f"mariadb N={n}: dry run {dry:.2f} s ({summary})", flush=True)
            applied, summary = _sweep("mariadb", url, admin.user, admin.password, *args, "--apply")
            print(f"mariadb N={n}: --apply {applied:.2f} s, {n / applied:.0f} users/s ({summary})", flush=True)
            assert admin.users_with_prefix(f"v-{tag}-") == []


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.sweep", description=__doc__.split("\n\n")[0])
    p.add_argument("--users", default="1000,10000", help="comma-separated numbers of orphans")
    p.add_argument("--databases", default="postgresql,mariadb")
    args = p.parse_args(argv)
    sizes = [int(x) for x in args.users.split(",")]
    if "postgresql" in args.databases:
        bench_postgresql(sizes)
    if "mariadb" in args.databases:
        bench_mariadb(sizes)


if __name__ == "__main__":
    main()
