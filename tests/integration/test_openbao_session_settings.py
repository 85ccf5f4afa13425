"""Quoting that does not depend on session settings, live through OpenBao (issue 11 §3).

yamldb escapes values for PostgreSQL's standard_conforming_strings=on and MySQL's sql_mode without
NO_BACKSLASH_ESCAPES/ANSI_QUOTES. Servers, databases, roles, URLs and DSNs can turn those settings the other
way; each way is tried here: the username template carries a backslash-quote that ends a literal early
when backslashes escape, followed by SQL that must never run, and the password policy generates
backslashes and quotes. Every issued user must log in with its password, be stored byte for byte, be
revoked, and the payload's canary must never appear. Global settings are changed only on private servers.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pymysql
import pytest
from psycopg import sql

from devenv import HarnessUnavailable, MariaDBAdmin, MariaDBServer, OpenBaoDevServer, PostgresCluster
from tests.conftest import require
from tests.integration.policies import password_policy

POLICY = password_policy(20, ("abcdefghijklmnopqrstuvwxyz", 4), ("\\'\"", 4))  # backslashes and quotes


@pytest.fixture(scope="module")
def quote_policy(openbao: OpenBaoDevServer) -> str:
    openbao.api("POST", "sys/policies/password/yamldb-quotes", {"policy": POLICY})
    return "yamldb-quotes"


def started(start, *args):
    """A private server for this module, or skip (fail under CI) with the reason it cannot start."""
    try:
        return start(*args)
    except HarnessUnavailable as exc:
        require(exc)


def canary() -> str:
    return f"ycanary{secrets.token_hex(3)}"


def issue_login_revoke(bao: OpenBaoDevServer, name: str, login, stored, exists) -> None:
    lease = bao.api("GET", f"database/creds/{name}")
    username, password = lease["data"]["username"], lease["data"]["password"]
    assert "\\" in password or "'" in password
    login(username, password)
    assert stored(username)  # exactly one user, byte for byte the issued name
    bao.api("PUT", "sys/leases/revoke", {"lease_id": lease["lease_id"]})
    assert not exists(username)


# -- PostgreSQL -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_off() -> Iterator[PostgresCluster]:
    """A private cluster whose server config turns standard_conforming_strings off."""
    with started(PostgresCluster.start) as cluster:
        with cluster.connect() as conn:
            conn.execute("ALTER SYSTEM SET standard_conforming_strings = off")
            conn.execute("SELECT pg_reload_conf()")
        yield cluster


def pg_helpers(pg: PostgresCluster, database: str):
    def login(user: str, password: str) -> None:
        with pg.connect(user=user, password=password, database=database) as conn:
            assert conn.execute("SELECT current_user").fetchone()[0] == user

    def count(user: str) -> int:
        with pg.connect() as conn:
            return conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (user,)).fetchone()[0]

    return login, (lambda user: count(user) == 1), (lambda user: count(user) > 0), count


@pytest.mark.parametrize("way", ["server config", "URL options", "ALTER ROLE", "ALTER DATABASE"])
def test_postgresql_standard_conforming_strings_off(openbao, pg_cluster, pg_off, quote_policy, way):
    pg = pg_off if way == "server config" else pg_cluster
    admin, password, database = f"yss_{secrets.token_hex(3)}", f"Adm-{secrets.token_hex(6)}", "postgres"
    mark = canary()
    with pg.connect() as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD {}").format(sql.Identifier(admin), sql.Literal(password))
        )
        if way == "ALTER ROLE":
            conn.execute(sql.SQL("ALTER ROLE {} SET standard_conforming_strings = off").format(sql.Identifier(admin)))
        if way == "ALTER DATABASE":
            database = admin
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
            conn.execute(
                sql.SQL("ALTER DATABASE {} SET standard_conforming_strings = off").format(sql.Identifier(database))
            )
    options = "&options=-c%20standard_conforming_strings%3Doff" if way == "URL options" else ""
    name = f"pgss-{way.split()[0].lower()}-{way.split()[-1].lower()}"
    login, stored, exists, count = pg_helpers(pg, database)
    try:
        openbao.api(
            "POST",
            f"database/config/{name}",
            {
                "plugin_name": "yamldb",
                "manifest": "postgresql",
                "allowed_roles": "*",
                "username": admin,
                "password": password,
                "password_policy": quote_policy,
                "connection_url": f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{pg.port}/{database}"
                f"?sslmode=disable{options}",
                # A backslash before the quote: with backslash escapes on, '...\'' ends late and the rest runs.
                "username_template": f"yt-{{{{random 6}}}}\\'; CREATE ROLE {mark}; --",
            },
        )
        openbao.api("POST", f"database/roles/{name}", {"db_name": name})  # the manifest's statements
        issue_login_revoke(openbao, name, login, stored, exists)
        assert count(mark) == 0, "SQL from the username ran"
    finally:
        openbao.api("DELETE", f"database/config/{name}")
        with pg.connect() as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(mark)))
            if database != "postgres":
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(admin)))


# -- MySQL / MariaDB ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def maria_quoting_off() -> Iterator[MariaDBAdmin]:
    """A private mariadbd whose global sql_mode has NO_BACKSLASH_ESCAPES and ANSI_QUOTES."""
    server = started(MariaDBServer.start, ["--sql-mode=NO_BACKSLASH_ESCAPES,ANSI_QUOTES,STRICT_TRANS_TABLES"])
    with server, MariaDBAdmin.start(server.host, server.port) as admin:
        yield admin


def maria_helpers(db: MariaDBAdmin):
    def login(user: str, password: str) -> None:
        with (
            pymysql.connect(
                host=db.host, port=db.port, user=user, password=password.encode(), charset="utf8mb4"
            ) as conn,
            conn.cursor() as cur,
        ):
            cur.execute("SELECT CURRENT_USER()")
            assert cur.fetchone()[0] == f"{user}@%"

    def count(user: str) -> int:
        with db.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM mysql.user WHERE CAST(User AS BINARY) = CAST(%s AS BINARY)", (user,))
            return cur.fetchone()[0]

    return login, (lambda user: count(user) == 1), (lambda user: count(user) > 0), count


@pytest.mark.parametrize("way", ["global", "session"])
def test_mysql_sql_mode_no_backslash_escapes_and_ansi_quotes(
    openbao, mariadb_admin, maria_quoting_off, quote_policy, way
):
    # global: a private server started with the modes; session: the Go DSN sets them for its own sessions,
    # as go-sql-driver does, on the shared server.
    db = maria_quoting_off if way == "global" else mariadb_admin
    session = "?sql_mode=%27NO_BACKSLASH_ESCAPES,ANSI_QUOTES%27" if way == "session" else ""
    # "..." is a string only without ANSI_QUOTES; the role writes the password that way on purpose.
    maria_payload_never_runs(
        openbao,
        db,
        f"myss-{way}",
        quote_policy,
        url_tail=session,
        name_tail="\\'; DROP USER {mark}; #",
        creation="CREATE USER '{{name}}'@'%' IDENTIFIED BY \"{{password}}\";",
    )


def test_mysql_a_role_that_sets_names_gbk_cannot_let_a_value_out_of_its_quotes(openbao, mariadb_admin, quote_policy):
    # yamldb sends utf8mb4 bytes; a role statement switching the session to GBK would make the server read '€'
    # (E2 82 AC) as one character plus a lead byte that swallows the backslash escaping the quote after it,
    # and the username's SQL would follow. The engine sets utf8mb4 again right after such a statement.
    maria_payload_never_runs(
        openbao,
        mariadb_admin,
        "myss-gbk",
        quote_policy,
        name_tail="\u20ac\\' OR DROP USER {mark} #",
        creation="SET NAMES gbk; CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';",
    )


def maria_payload_never_runs(
    bao: OpenBaoDevServer, db: MariaDBAdmin, name: str, policy: str, name_tail: str, creation: str, url_tail: str = ""
) -> None:
    """A yamldb connection `name` on `db` whose usernames end in `name_tail` (SQL that would drop a canary user,
    `{mark}` standing for its name) and whose role runs `creation`: one lease logs in, is stored byte for byte
    and revoked, and the canary is still there."""
    mark = canary()
    db.track_prefix(f"yt{mark[-6:]}")
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE USER '{mark}'@'%'")  # the payload tries to drop it
    login, stored, exists, count = maria_helpers(db)
    try:
        bao.api(
            "POST",
            f"database/config/{name}",
            {
                "plugin_name": "yamldb",
                "manifest": "mariadb",
                "allowed_roles": "*",
                "username": db.user,
                "password": db.password,
                "password_policy": policy,
                "connection_url": f"{{{{username}}}}:{{{{password}}}}@tcp({db.host}:{db.port})/{url_tail}",
                "username_template": f"yt{mark[-6:]}{{{{random 4}}}}" + name_tail.format(mark=mark),
            },
        )
        bao.api("POST", f"database/roles/{name}", {"db_name": name, "creation_statements": creation})
        issue_login_revoke(bao, name, login, stored, exists)
        assert count(mark) == 1, "SQL from the username ran"
    finally:
        bao.api("DELETE", f"database/config/{name}")
        with db.connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{mark}'@'%'")
