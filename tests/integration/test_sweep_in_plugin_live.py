"""The plugin's periodic sweep (sweep_interval on the connection), through a real OpenBao.

PostgreSQL: the sweep trusts VALID UNTIL, which every renewal moves; a renewal that would not move it is
refused. MariaDB keeps no expiry: the sweep needs sweep_max_ttl, and the plugin refuses leases and renewals
that would outlive it, so the bound the sweep relies on holds for every lease it serves.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest

from devenv import MariaDBAdmin, OpenBaoAPIError, OpenBaoDevServer
from tests.integration.conftest import BuiltPlugin, register
from tests.polling import wait_until


@pytest.fixture
def bao(openbao_factory, built_plugin: BuiltPlugin, plugin_cache: Path, manifest_dir: Path) -> OpenBaoDevServer:
    server = openbao_factory(built_plugin.directory)
    register(
        server, built_plugin, {"YAMLDB_PLUGIN_CACHE": str(plugin_cache), "YAMLDB_MANIFEST_DIRS": str(manifest_dir)}
    )
    return server


def creds(bao: OpenBaoDevServer, role: str) -> tuple[str, str]:
    body = bao.api("GET", f"database/creds/{role}")
    return body["lease_id"], body["data"]["username"]


def force_orphan(bao: OpenBaoDevServer, role: str) -> str:
    """A lease whose revocation fails, then is force-revoked by the operator: the user stays."""
    lease, user = creds(bao, role)
    with pytest.raises(OpenBaoAPIError):
        bao.api("PUT", "sys/leases/revoke", {"lease_id": lease})
    bao.api("PUT", f"sys/leases/revoke-force/{lease}")
    return user


def sweep_lines(bao: OpenBaoDevServer) -> list[str]:
    return [line for line in bao.log_text().splitlines() if "yamldb-database-plugin: sweep:" in line]


def test_postgresql_periodic_sweep_trusts_valid_until_and_keeps_renewed_users(bao, pg_cluster):
    bao.api(
        "POST",
        "database/config/pg",
        {
            "plugin_name": "yamldb",
            "manifest": "postgresql",
            "connection_url": pg_cluster.template_url(),
            "username": pg_cluster.superuser,
            "password": pg_cluster.password,
            "allowed_roles": "*",
            "sweep_interval": "1s",
            "sweep_grace": "1s",
        },
    )
    bao.api("POST", "database/roles/short", {"db_name": "pg", "default_ttl": 3, "max_ttl": 600})
    bao.api(
        "POST",
        "database/roles/brittle",
        {"db_name": "pg", "default_ttl": 3, "max_ttl": 600, "revocation_statements": "SELECT no_such_function();"},
    )
    bao.api(
        "POST",
        "database/roles/norenew",
        {"db_name": "pg", "default_ttl": 600, "max_ttl": 600, "renew_statements": "SELECT 1;"},
    )

    def roles() -> set[str]:
        with pg_cluster.connect() as conn:
            return {r[0] for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'v-%'")}

    before = roles()  # the session's cluster: other tests' users are not this test's business
    orphans = {force_orphan(bao, "brittle") for _ in range(3)}
    renewed_lease, renewed = creds(bao, "short")
    bao.api("PUT", "sys/leases/renew", {"lease_id": renewed_lease, "increment": 120})
    time.sleep(4)  # the renewed lease's first TTL has passed; its VALID UNTIL has moved
    live_lease, live = creds(bao, "short")
    bao.api("PUT", "sys/leases/renew", {"lease_id": live_lease, "increment": 120})
    assert orphans <= roles()

    assert wait_until(lambda: not orphans & roles(), 30), orphans & roles()
    assert {renewed, live} <= roles()
    assert any("dropped=" in line for line in sweep_lines(bao)), sweep_lines(bao)[-3:]
    assert any("[INFO]" in line for line in sweep_lines(bao))

    # Renew statements that leave VALID UNTIL alone would let the sweep drop a renewed user: refused.
    lease, _ = creds(bao, "norenew")
    with pytest.raises(OpenBaoAPIError) as refused:
        bao.api("PUT", "sys/leases/renew", {"lease_id": lease, "increment": 60})
    assert "do not set {{expiration}}" in str(refused.value)
    for lease_id in (renewed_lease, live_lease, lease):
        bao.api("PUT", "sys/leases/revoke", {"lease_id": lease_id})
    assert roles() - before == set()


def test_mariadb_periodic_sweep_needs_and_enforces_sweep_max_ttl(bao, mariadb_admin: MariaDBAdmin):
    tag = "p" + secrets.token_hex(2)
    prefix = f"v-{tag}-"
    mariadb_admin.track_prefix(prefix)
    config = {
        "plugin_name": "yamldb",
        "manifest": "mariadb",
        "allowed_roles": "*",
        "connection_url": f"{{{{username}}}}:{{{{password}}}}@tcp({mariadb_admin.host}:{mariadb_admin.port})/",
        "username": mariadb_admin.user,
        "password": mariadb_admin.password,
        "username_template": '{{ printf "v-' + tag + '-%s-%s" (.RoleName | truncate 6) (random 20) | truncate 32 }}',
        "sweep_interval": "1s",
        "sweep_grace": "1s",
    }
    # Without a bound on leases the sweep could not know when a MariaDB user's lease ended.
    with pytest.raises(OpenBaoAPIError) as refused:
        bao.api("POST", "database/config/my", config)
    assert "needs sweep_max_ttl" in str(refused.value)
    bao.api("POST", "database/config/my", {**config, "sweep_max_ttl": "20s"})
    bao.api("POST", "database/roles/r", {"db_name": "my", "default_ttl": 20, "max_ttl": 20})
    bao.api("POST", "database/roles/wide", {"db_name": "my", "default_ttl": 5, "max_ttl": 120})
    bao.api("POST", "database/roles/long", {"db_name": "my", "default_ttl": 60, "max_ttl": 120})
    bao.api(
        "POST",
        "database/roles/brittle",
        {"db_name": "my", "default_ttl": 5, "max_ttl": 20, "revocation_statements": "DROP USER '{{name}}'@'nowhere';"},
    )

    def users() -> set[str]:
        return {u for u, _ in mariadb_admin.users_with_prefix(prefix)}

    # The guards: no lease may outlive creation + sweep_max_ttl + sweep_grace.
    with pytest.raises(OpenBaoAPIError) as too_long:
        creds(bao, "long")
    assert "sweep_max_ttl" in str(too_long.value)
    wide_lease, _ = creds(bao, "wide")
    with pytest.raises(OpenBaoAPIError) as renewal:
        bao.api("PUT", "sys/leases/renew", {"lease_id": wide_lease, "increment": 60})
    assert "renewal past sweep_max_ttl" in str(renewal.value)
    bao.api("PUT", "sys/leases/renew", {"lease_id": wide_lease, "increment": 5})  # within the bound: fine

    orphans = {force_orphan(bao, "brittle") for _ in range(2)}
    made = time.time()
    time.sleep(15)
    live_lease, live = creds(bao, "r")
    bao.api("PUT", "sys/leases/renew", {"lease_id": live_lease, "increment": 20})  # alive until made + 15 + 20
    assert orphans <= users()
    # Swept after creation + sweep_max_ttl + sweep_grace + the hosts' 5 s buffer: about made + 27.
    assert wait_until(lambda: not orphans & users(), 40), orphans & users()
    assert time.time() > made + 20  # not before creation + sweep_max_ttl
    lookup = bao.api("PUT", "sys/leases/lookup", {"lease_id": live_lease})
    assert lookup["data"]["ttl"] > 0 and live in users()
    assert any("dropped=" in line for line in sweep_lines(bao))
    for lease_id in (live_lease, wide_lease):
        bao.api("PUT", "sys/leases/revoke", {"lease_id": lease_id}, expect=(200, 204, 400))
    assert wait_until(lambda: users() == set(), 15), users()
