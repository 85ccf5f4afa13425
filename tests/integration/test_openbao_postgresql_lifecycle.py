"""Vault-compatible lifecycle on PostgreSQL through a real OpenBao (issue 4, PostgreSQL part)."""

from __future__ import annotations

import os
import re
import secrets
import signal
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from devenv import OpenBaoAPIError, OpenBaoDevServer, PostgresCluster
from tests.polling import wait_until

CREATE = (
    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; "
    'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}";'
)


def url(pg: PostgresCluster) -> str:
    return f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{pg.port}/postgres"


def configure(
    bao: OpenBaoDevServer,
    name: str,
    pg: PostgresCluster,
    user: str,
    password: str,
    plugin: str = "yamldb",
    **extra: str,
) -> None:
    body = {
        "plugin_name": plugin,
        "connection_url": url(pg),
        "username": user,
        "password": password,
        "allowed_roles": "*",
        **extra,
    }
    if plugin == "yamldb":
        body.setdefault("manifest", "postgresql")
    bao.api("POST", f"database/config/{name}", body)


def can_login(pg: PostgresCluster, user: str, password: str) -> bool:
    try:
        psycopg.connect(
            host="127.0.0.1", port=pg.port, user=user, password=password, dbname="postgres", connect_timeout=5
        ).close()
        return True
    except psycopg.OperationalError:
        return False


def role_row(pg: PostgresCluster, user: str):
    with pg.connect() as conn:
        return conn.execute(
            "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolvaliduntil FROM pg_roles WHERE rolname = %s",
            (user,),
        ).fetchone()


def creds_after_kill(bao: OpenBaoDevServer, role: str) -> dict:
    """OpenBao fails the first request after a plugin's death ("plugin shutdown", or a reset connection if
    it has not noticed yet) and drops its client; a later request respawns the plugin."""

    def attempt() -> dict | None:
        try:
            return bao.api("GET", f"database/creds/{role}")
        except OpenBaoAPIError as exc:
            assert "plugin shutdown" in str(exc) or "Unavailable" in str(exc), exc
            return None

    lease = wait_until(attempt, 10, interval=0.2)
    assert lease, "the plugin was not respawned"
    return lease


def make_admin(pg: PostgresCluster) -> tuple[str, str]:
    user, password = f"admin_{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    with pg.connect() as conn:
        conn.execute(f"CREATE ROLE {user} WITH LOGIN SUPERUSER PASSWORD '{password}'")
    return user, password


@pytest.fixture(scope="module")
def pg(openbao: OpenBaoDevServer, pg_cluster: PostgresCluster) -> PostgresCluster:
    configure(openbao, "lc", pg_cluster, pg_cluster.superuser, pg_cluster.password)
    openbao.api(
        "POST",
        "database/roles/app",
        {"db_name": "lc", "creation_statements": CREATE, "default_ttl": "1h", "max_ttl": "24h"},
    )
    return pg_cluster


def test_renew_moves_valid_until(openbao, pg):
    lease = openbao.api("GET", "database/creds/app")
    user = lease["data"]["username"]
    first = role_row(pg, user)[4]
    assert abs((first - datetime.now(timezone.utc)) - timedelta(hours=1)) < timedelta(minutes=2)
    openbao.api("PUT", "sys/leases/renew", {"lease_id": lease["lease_id"], "increment": 7200})
    renewed = role_row(pg, user)[4]
    assert abs((renewed - datetime.now(timezone.utc)) - timedelta(hours=2)) < timedelta(minutes=2)
    openbao.api("PUT", "sys/leases/revoke", {"lease_id": lease["lease_id"]})
    assert role_row(pg, user) is None


def test_lease_expiry_revokes(openbao, pg):
    openbao.api(
        "POST",
        "database/roles/short",
        {"db_name": "lc", "creation_statements": CREATE, "default_ttl": "2s", "max_ttl": "2s"},
    )
    user = openbao.api("GET", "database/creds/short")["data"]["username"]
    assert role_row(pg, user) is not None
    assert wait_until(lambda: role_row(pg, user) is None, 30, interval=0.5), "OpenBao's expiry did not revoke the user"


def test_rotate_root_replaces_the_root_password_and_keeps_working(openbao, pg):
    admin, old_password = make_admin(pg)
    configure(openbao, "rot", pg, admin, old_password)
    openbao.api("POST", "database/roles/rot-app", {"db_name": "rot", "creation_statements": CREATE})
    openbao.api("POST", "database/rotate-root/rot", {})
    assert not can_login(pg, admin, old_password)
    lease = openbao.api("GET", "database/creds/rot-app")
    assert can_login(pg, lease["data"]["username"], lease["data"]["password"])
    # And after the plugin restarts (it re-initializes with the stored, rotated password).
    for pid in openbao.plugin_pids("yamldb-database-plugin"):
        os.kill(pid, signal.SIGKILL)
    again = creds_after_kill(openbao, "rot-app")
    assert can_login(pg, again["data"]["username"], again["data"]["password"])
    # Every connection the killed (multiplexed) process served sees one "plugin shutdown".
    openbao.api("PUT", "sys/leases/revoke", {"lease_id": creds_after_kill(openbao, "app")["lease_id"]})
    openbao.api("PUT", "sys/leases/revoke-prefix/database/creds/rot-app", {})
    openbao.api("DELETE", "database/config/rot")


def test_static_role_create_read_and_rotate(openbao, pg):
    user = f"static_{secrets.token_hex(4)}"
    with pg.connect() as conn:
        conn.execute(f"CREATE ROLE {user} WITH LOGIN PASSWORD 'initial-password'")
    openbao.api("POST", "database/static-roles/st", {"db_name": "lc", "username": user, "rotation_period": "1h"})
    first = openbao.api("GET", "database/static-creds/st")["data"]["password"]
    assert not can_login(pg, user, "initial-password")  # rotated on creation
    assert can_login(pg, user, first)
    openbao.api("POST", "database/rotate-role/st", {})
    second = openbao.api("GET", "database/static-creds/st")["data"]["password"]
    assert second != first
    assert can_login(pg, user, second) and not can_login(pg, user, first)
    openbao.api("DELETE", "database/static-roles/st")
    with pg.connect() as conn:
        conn.execute(f"DROP ROLE {user}")


def test_role_can_name_a_manifest_statement_set(openbao, pg):
    with pg.connect() as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS sets_app")
        conn.execute("CREATE TABLE IF NOT EXISTS sets_app.t (x int)")
        conn.execute("INSERT INTO sets_app.t VALUES (1)")
    configure(openbao, "sets", pg, pg.superuser, pg.password, manifest="pg-sets")
    openbao.api(
        "POST", "database/roles/ro", {"db_name": "sets", "creation_statements": "yamldb:readonly schema=sets_app"}
    )
    lease = openbao.api("GET", "database/creds/ro")
    user, password = lease["data"]["username"], lease["data"]["password"]
    with psycopg.connect(host="127.0.0.1", port=pg.port, user=user, password=password, dbname="postgres") as c:
        assert c.execute("SELECT count(*) FROM sets_app.t").fetchone()[0] >= 1
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            c.execute("INSERT INTO sets_app.t VALUES (2)")
    openbao.api("PUT", "sys/leases/revoke", {"lease_id": lease["lease_id"]})
    assert role_row(pg, user) is None
    # A parameter value outside the manifest's pattern is refused before any SQL runs.
    openbao.api(
        "POST", "database/roles/ro-bad", {"db_name": "sets", "creation_statements": "yamldb:readonly schema=x;drop"}
    )
    with pytest.raises(OpenBaoAPIError) as err:
        openbao.api("GET", "database/creds/ro-bad")
    assert "does not match" in str(err.value)


def test_two_connection_configs_share_one_plugin_process(openbao, pg):
    configure(openbao, "mx-a", pg, pg.superuser, pg.password)
    configure(openbao, "mx-b", pg, pg.superuser, pg.password)
    for name in ("mx-a", "mx-b"):
        openbao.api("POST", f"database/roles/{name}-r", {"db_name": name, "creation_statements": CREATE})
    a = openbao.api("GET", "database/creds/mx-a-r")
    b = openbao.api("GET", "database/creds/mx-b-r")
    assert len(openbao.plugin_pids("yamldb-database-plugin")) == 1
    # Closing one connection leaves the other working (OpenBao cannot revoke leases of a deleted config).
    openbao.api("PUT", "sys/leases/revoke", {"lease_id": a["lease_id"]})
    openbao.api("DELETE", "database/config/mx-a")
    c = openbao.api("GET", "database/creds/mx-b-r")
    assert len(openbao.plugin_pids("yamldb-database-plugin")) == 1
    for lease in (b, c):
        openbao.api("PUT", "sys/leases/revoke", {"lease_id": lease["lease_id"]})
    assert role_row(pg, c["data"]["username"]) is None


def test_same_role_as_the_builtin_plugin_gives_the_same_user(openbao, pg):
    """The yardstick: OpenBao's postgresql-database-plugin and yamldb, same statements, same result."""
    configure(openbao, "builtin", pg, pg.superuser, pg.password, plugin="postgresql-database-plugin")
    openbao.api(
        "POST", "database/roles/b-app", {"db_name": "builtin", "creation_statements": CREATE, "default_ttl": "1h"}
    )
    ours = openbao.api("GET", "database/creds/app")
    theirs = openbao.api("GET", "database/creds/b-app")
    assert role_row(pg, ours["data"]["username"])[:4] == role_row(pg, theirs["data"]["username"])[:4]
    delta = role_row(pg, ours["data"]["username"])[4] - role_row(pg, theirs["data"]["username"])[4]
    assert abs(delta) < timedelta(seconds=30)
    # Same default username template: v-<display name>-<role>-<20 random>-<unix time>.
    for lease, role in ((ours, "app"), (theirs, "b-app")):
        assert re.fullmatch(rf"v-token-{role}-[A-Za-z0-9]{{20}}-\d{{10}}", lease["data"]["username"])
    with pg.connect() as conn:
        grants = [
            conn.execute(
                "SELECT count(*) FROM information_schema.role_table_grants WHERE grantee = %s",
                (lease["data"]["username"],),
            ).fetchone()[0]
            for lease in (ours, theirs)
        ]
    assert grants[0] == grants[1]
    for lease in (ours, theirs):
        openbao.api("PUT", "sys/leases/revoke", {"lease_id": lease["lease_id"]})
        assert role_row(pg, lease["data"]["username"]) is None
