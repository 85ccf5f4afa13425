"""Issue 15, the proof: orphans made the ways operators meet them, then `yamldb sweep` against the live database.

Per database (a private PostgreSQL cluster; the machine's MariaDB with a username template unique to this
run, so other users on the shared server never match), through real OpenBao dev servers:

* leases lost: users issued by a dev server that is then stopped (a new one knows none of them);
* a revoke that failed: custom revocation statements that cannot drop the user (PostgreSQL: the user owns
  a table; MariaDB: the wrong host), after which the operator force-revokes the lease;
* SIGKILL of the plugin under load, while creations that already committed are still running (their last
  step is slow, which makes the window wide enough to hit every time);

beside live users: fresh leases and a lease renewed after its first TTL had passed. After the sweep, the
users the template made are exactly those whose lease OpenBao still holds alive.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from devenv import MariaDBAdmin, OpenBaoAPIError, OpenBaoDevServer, PostgresCluster
from tests.integration.conftest import BuiltPlugin, register
from tests.polling import wait_until

GRACE = 2  # seconds
SHORT_TTL = 6  # the roles whose users become orphans
MAX_TTL = 30  # every role's max_ttl on the MariaDB connection (the bound the sweep reads from OpenBao)


def sleep_until(when: float) -> None:
    time.sleep(max(0.0, when - time.time()))


@dataclass
class Lease:
    lease_id: str
    username: str
    password: str


@dataclass
class Target:
    """One database under test: how to reach it and how to list the users this run's template made."""

    kind: str
    manifest: Path
    config: dict
    users: Callable[[], set[str]]
    admin_password: str
    cli_args: list[str]
    roles: dict[str, dict] = field(default_factory=dict)


def start_bao(openbao_factory, built_plugin: BuiltPlugin, plugin_cache: Path, manifest_dir: Path) -> OpenBaoDevServer:
    bao = openbao_factory(built_plugin.directory)
    register(bao, built_plugin, {"YAMLDB_PLUGIN_CACHE": str(plugin_cache), "YAMLDB_MANIFEST_DIRS": str(manifest_dir)})
    return bao


def configure(bao: OpenBaoDevServer, target: Target) -> None:
    bao.api("POST", "database/config/c", target.config)
    for name, body in target.roles.items():
        bao.api("POST", f"database/roles/{name}", {"db_name": "c", **body})


def creds(bao: OpenBaoDevServer, role: str) -> Lease:
    body = bao.api("GET", f"database/creds/{role}")
    return Lease(body["lease_id"], body["data"]["username"], body["data"]["password"])


def alive(bao: OpenBaoDevServer, leases: list[Lease]) -> set[str]:
    """Users whose lease OpenBao holds with time left."""
    names = set()
    for lease in leases:
        try:
            found = bao.api("PUT", "sys/leases/lookup", {"lease_id": lease.lease_id})
        except OpenBaoAPIError:
            continue  # revoked or expired and gone
        if found["data"]["ttl"] > 0:
            names.add(lease.username)
    return names


def sigkill_under_load(bao: OpenBaoDevServer, role: str, seconds: float = 1.5) -> list[Lease]:
    """8 clients ask for credentials; the plugin is SIGKILLed in the middle; OpenBao respawns it."""
    leases: list[Lease] = []
    stop = threading.Event()

    def worker() -> None:
        while not stop.is_set():
            try:
                leases.append(creds(bao, role))
            except (OpenBaoAPIError, OSError):
                pass  # "plugin shutdown" while it was killed

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    pids = bao.plugin_pids("yamldb-database-plugin")
    assert pids, "no plugin process to kill"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    time.sleep(2.0)  # the host respawns the plugin on the next request
    stop.set()
    for thread in threads:
        thread.join(60)
    return leases


def run_sweep(target: Target, bao: OpenBaoDevServer, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ADMIN_PW": target.admin_password, "BAO_ADDR": bao.address, "BAO_TOKEN": bao.token}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "yamldb.cli",
            "sweep",
            str(target.manifest),
            *target.cli_args,
            "--password-env",
            "ADMIN_PW",
            "--grace",
            f"{GRACE}s",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


# ----------------------------------------------------------------------------- targets ----


@pytest.fixture
def pg_target(pg_cluster: PostgresCluster, manifest_dir: Path) -> Target:
    # The slow set commits the role first, then sleeps: a SIGKILL during the sleep leaves a user OpenBao
    # never heard of, as a slow GRANT after a committed CREATE would.
    manifest = manifest_dir / "sweep-pg.yaml"
    manifest.write_text(
        "yamldb: 1\ndialect: postgresql\nsets:\n  slow:\n    create:\n"
        "      - sql: CREATE ROLE \"{{username}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';\n"
        "        transaction: false\n"
        "      - sql: SELECT pg_sleep(1);\n        transaction: false\n"
    )

    def users() -> set[str]:
        with pg_cluster.connect() as conn:
            return {r[0] for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'v-%'")}

    brittle_create = (
        "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"
        'GRANT CREATE ON SCHEMA public TO "{{name}}";'
    )
    return Target(
        kind="postgresql",
        manifest=manifest,
        admin_password=pg_cluster.password,
        users=users,
        config={
            "plugin_name": "yamldb",
            "manifest": "sweep-pg",
            "connection_url": pg_cluster.template_url(),
            "username": pg_cluster.superuser,
            "password": pg_cluster.password,
            "allowed_roles": "*",
        },
        cli_args=["--connection-url", pg_cluster.template_url(), "--username", pg_cluster.superuser],
        roles={
            "load": {"default_ttl": SHORT_TTL, "max_ttl": 600},
            "slow": {"creation_statements": "yamldb:slow", "default_ttl": SHORT_TTL, "max_ttl": 600},
            # Vault's documented plain revocation: fails while the user owns something.
            "brittle": {
                "creation_statements": brittle_create,
                "revocation_statements": 'DROP ROLE "{{name}}";',
                "default_ttl": SHORT_TTL,
                "max_ttl": 600,
            },
            "live": {"default_ttl": 600, "max_ttl": 600},
        },
    )


@pytest.fixture
def maria_target(mariadb_admin: MariaDBAdmin, manifest_dir: Path) -> Target:
    tag = "s" + secrets.token_hex(2)
    prefix = f"v-{tag}-"
    mariadb_admin.track_prefix(prefix)  # whatever a failure leaves is dropped at the end of the session
    # Vault's MySQL template with this run's tag: on the shared server nothing else can match it.
    template = '{{ printf "v-' + tag + '-%s-%s-%s" (.RoleName | truncate 6) (random 20) (unix_time) | truncate 32 }}'
    dsn = f"{{{{username}}}}:{{{{password}}}}@tcp({mariadb_admin.host}:{mariadb_admin.port})/"

    def users() -> set[str]:
        return {u for u, _ in mariadb_admin.users_with_prefix(prefix)}

    slow_create = "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'; DO SLEEP(1);"
    return Target(
        kind="mariadb",
        manifest=Path("mariadb"),
        admin_password=mariadb_admin.password,
        users=users,
        config={
            "plugin_name": "yamldb",
            "manifest": "mariadb",
            "connection_url": dsn,
            "username": mariadb_admin.user,
            "password": mariadb_admin.password,
            "allowed_roles": "*",
            "username_template": template,
        },
        # No --max-ttl and no --username-template: both are read from OpenBao.
        cli_args=["--connection-url", dsn, "--username", mariadb_admin.user, "--vault-connection", "c"],
        roles={
            "load": {"default_ttl": SHORT_TTL, "max_ttl": MAX_TTL},
            "slow": {"creation_statements": slow_create, "default_ttl": SHORT_TTL, "max_ttl": MAX_TTL},
            # Vault issue #1260's trap: revocation for the wrong host fails.
            "brittle": {
                "revocation_statements": "DROP USER '{{name}}'@'localhost';",
                "default_ttl": SHORT_TTL,
                "max_ttl": MAX_TTL,
            },
            "live": {"default_ttl": MAX_TTL, "max_ttl": MAX_TTL},
        },
    )


def own_a_table(target: Target, lease: Lease, pg_cluster: PostgresCluster) -> None:
    with pg_cluster.connect(user=lease.username, password=lease.password) as conn:
        conn.execute(f'CREATE TABLE "t_{lease.username}" (id int)')


# -------------------------------------------------------------------------------- test ----


@pytest.mark.parametrize("kind", ["postgresql", "mariadb"])
def test_sweep_removes_every_orphan_and_no_live_user(
    kind, request, openbao_factory, built_plugin, plugin_cache, manifest_dir
):
    target: Target = request.getfixturevalue("pg_target" if kind == "postgresql" else "maria_target")
    before = target.users()

    # 1. Leases lost: a dev server issues credentials and goes away.
    first = start_bao(openbao_factory, built_plugin, plugin_cache, manifest_dir)
    configure(first, target)
    lost = [creds(first, "load") for _ in range(4)]
    # 2. A revoke that failed, then forced by the operator.
    brittle = creds(first, "brittle")
    if kind == "postgresql":
        own_a_table(target, brittle, request.getfixturevalue("pg_cluster"))
    with pytest.raises(OpenBaoAPIError) as failed:
        first.api("PUT", "sys/leases/revoke", {"lease_id": brittle.lease_id})
    assert "depend" in str(failed.value) or "1396" in str(failed.value), failed.value
    first.api("PUT", "sys/leases/revoke-force/database/creds/brittle")
    first.stop()

    # 3. SIGKILL under load on the server that replaces it.
    bao = start_bao(openbao_factory, built_plugin, plugin_cache, manifest_dir)
    configure(bao, target)
    loaded = sigkill_under_load(bao, "slow")
    orphans_made = time.time()
    made = target.users() - before
    leased_now = {lease.username for lease in loaded}
    killed = made - leased_now - {lease.username for lease in lost} - {brittle.username}
    assert killed, "the SIGKILL left no user behind; the slow creations should guarantee some"
    orphans = {lease.username for lease in lost} | {brittle.username} | killed
    assert orphans <= made

    # Live users beside them: one renewed after its first TTL passed, and fresh ones. On MariaDB a lease
    # lives at most MAX_TTL, so they are made late enough to be alive when the orphans' bound has passed.
    bound = SHORT_TTL if kind == "postgresql" else MAX_TTL
    sleep_until(orphans_made + bound - SHORT_TTL - 2)
    renewed = creds(bao, "load")
    time.sleep(1)
    bao.api("PUT", "sys/leases/renew", {"lease_id": renewed.lease_id, "increment": 60})
    time.sleep(SHORT_TTL)  # the renewed lease's first expiry is now in the past
    fresh = [creds(bao, "live") for _ in range(3)]
    leases = [*loaded, renewed, *fresh]
    assert renewed.username in alive(bao, [renewed])

    # Every orphan's lease bound passes: VALID UNTIL (PostgreSQL) or creation + max TTL (MariaDB).
    sleep_until(orphans_made + bound + GRACE + 1)

    dry = run_sweep(target, bao, "--format", "json")
    assert dry.returncode == 1, dry.stdout + dry.stderr
    report = json.loads(dry.stdout)
    expired = {u["username"] for u in report["users"] if u["status"] == "expired"}
    living = alive(bao, leases)
    assert orphans <= expired, (orphans - expired, report)
    assert not expired & living, expired & living
    assert target.users() >= orphans  # a dry run changes nothing
    if kind == "mariadb":
        assert report["max_ttl_seconds"] == MAX_TTL and "largest role max TTL" in report["max_ttl_source"]
        assert report["template"] == target.config["username_template"]

    living = alive(bao, leases)
    assert {renewed.username, *(f.username for f in fresh)} <= living  # the renewed lease is alive: it must stay
    applied = run_sweep(target, bao, "--apply")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    dropped = {line.split()[-1] for line in applied.stdout.splitlines() if line.startswith("  dropped ")}
    assert orphans <= dropped, orphans - dropped
    assert not dropped & living, dropped & living  # none with a live lease was removed

    # No user the template made is left without a live lease (OpenBao revokes what expires meanwhile itself).
    assert alive(bao, leases) <= target.users(), alive(bao, leases) - target.users()
    assert wait_until(lambda: target.users() - before == alive(bao, leases), 15), (
        target.users() - before - alive(bao, leases)
    )
    for lease in [renewed, *fresh]:
        bao.api("PUT", "sys/leases/revoke", {"lease_id": lease.lease_id})
    assert target.users() - before == set()
