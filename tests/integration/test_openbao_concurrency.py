"""Concurrent operations never fail each other (issue 11 §5), live through OpenBao.

The role Vault's documentation shows first, in a schema that holds tables: each credential GRANTs on every
table and each revocation takes those grants away again, so concurrent requests update the same catalog
rows. 8 clients issue and then revoke; not one request may fail. (Throughput beside the built-in plugin,
at 8 and 32 clients, is measured by `python -m bench.grants`, docs/benchmarks.md.)
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from psycopg import sql

from devenv import MariaDBAdmin, OpenBaoAPIError, OpenBaoDevServer, PostgresCluster

CLIENTS = 8
LEASES = 48
TABLES = 10


def hammer(bao: OpenBaoDevServer, role: str) -> tuple[list[str], list[str]]:
    """Issue LEASES credentials from CLIENTS threads, then revoke them all; return both phases' errors."""

    def call(fn: Callable[[], object]) -> str | None:
        try:
            fn()
        except OpenBaoAPIError as exc:
            return str(exc)
        return None

    leases: list[str] = []

    def issue() -> None:
        leases.append(bao.api("GET", f"database/creds/{role}")["lease_id"])

    with ThreadPoolExecutor(CLIENTS) as pool:
        issue_errors = [e for e in pool.map(lambda _: call(issue), range(LEASES)) if e]
        revoke_errors = [
            e
            for e in pool.map(
                lambda lease: call(lambda: bao.api("PUT", "sys/leases/revoke", {"lease_id": lease})), leases
            )
            if e
        ]
    return issue_errors, revoke_errors


def grants_never_fail(bao: OpenBaoDevServer, name: str, config: dict, creation_statements: str) -> None:
    bao.api(
        "POST",
        f"database/config/{name}",
        {"plugin_name": "yamldb", "allowed_roles": "*", "max_open_connections": CLIENTS, **config},
    )
    bao.api("POST", f"database/roles/{name}", {"db_name": name, "creation_statements": creation_statements})
    issue_errors, revoke_errors = hammer(bao, name)
    assert (issue_errors[:3], revoke_errors[:3]) == ([], [])


def test_postgresql_grants_on_shared_tables(openbao: OpenBaoDevServer, pg_cluster: PostgresCluster):
    schema = f"yg_{secrets.token_hex(3)}"
    with pg_cluster.connect() as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        for n in range(TABLES):
            conn.execute(sql.SQL("CREATE TABLE {}.{} (id int)").format(sql.Identifier(schema), sql.Identifier(f"t{n}")))
    name = "pg-grants"
    try:
        grants_never_fail(
            openbao,
            name,
            {
                "manifest": "postgresql",
                "username": pg_cluster.superuser,
                "password": pg_cluster.password,
                "connection_url": pg_cluster.template_url(),
            },
            "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; "
            f'GRANT USAGE ON SCHEMA "{schema}" TO "{{{{name}}}}"; '
            f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO "{{{{name}}}}";',
        )
        with pg_cluster.connect() as conn:  # nothing left behind: every grant went with its role
            left = conn.execute("SELECT count(*) FROM pg_roles WHERE rolname LIKE %s", ("v-token-pg-grant%",))
            assert left.fetchone()[0] == 0
    finally:
        openbao.api("DELETE", f"database/config/{name}")
        with pg_cluster.connect() as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def test_mysql_grants_on_shared_tables(openbao: OpenBaoDevServer, mariadb_admin: MariaDBAdmin):
    db = mariadb_admin
    database, prefix = f"yg_{secrets.token_hex(3)}", f"yg{secrets.token_hex(3)}"
    db.track_prefix(prefix)
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{database}`")
        for n in range(TABLES):
            cur.execute(f"CREATE TABLE `{database}`.t{n} (id int)")
    name = "my-grants"
    try:
        grants_never_fail(
            openbao,
            name,
            {
                "manifest": "mysql",
                "username": db.user,
                "password": db.password,
                "connection_url": f"{{{{username}}}}:{{{{password}}}}@tcp({db.host}:{db.port})/",
                "username_template": f"{prefix}{{{{random 20}}}}",
            },
            "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'; "
            f"GRANT SELECT ON `{database}`.* TO '{{{{name}}}}'@'%'; "
            f"GRANT SELECT, INSERT ON `{database}`.t1 TO '{{{{name}}}}'@'%';",
        )
        assert db.users_with_prefix(prefix) == []
    finally:
        openbao.api("DELETE", f"database/config/{name}")
        with db.connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")


@pytest.fixture(autouse=True)
def _no_leftover_leases(openbao: OpenBaoDevServer):
    yield
    for prefix in ("database/creds/pg-grants", "database/creds/my-grants"):
        openbao.api("PUT", f"sys/leases/revoke-force/{prefix}", {}, expect=(200, 204, 400, 404))
