"""Hostile names and passwords against real servers: exactly one user, named byte for byte.

PostgreSQL 127.0.0.1:5432 (user postgres, trust auth) and MariaDB 127.0.0.1:3306
(root, no password). Every object created here carries a per-run prefix and is
dropped in `finally` blocks plus a sweep at module teardown. A canary user per
server is created first: several payloads try to drop it, and it must survive.

Without a server the tests skip (locally) or fail (when CI is set).
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Iterator

import pytest

from tests.quoting_rules import MYSQL_RULES, PG_RULES, SQLITE_RULES
from yamldb.errors import TemplateError
from yamldb.templates.scram import scram_sha256_verifier
from yamldb.templates.sql import StatementTemplate

pytestmark = pytest.mark.integration

RUN = f"yj{secrets.token_hex(3)}_"  # unique per test run; every object created here starts with it
CANARY = RUN + "canary"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is an error)")
    pytest.skip(reason)


# Payload tails (the run prefix goes in front). Names stay short enough for
# PostgreSQL's 63-byte and MariaDB's identifier limits, so nothing is truncated.
HOSTILE_NAMES = [
    'a"b',
    "a'b",
    "a`b",
    f'x"; DROP ROLE "{CANARY}"; --',
    f"x'; DROP USER '{CANARY}'@'%'; --",
    f"x`; DROP USER `{CANARY}`; #",
    "$$; SELECT 1; $$",
    "$yamldb_1$ $$",
    "back\\slash\\",
    "\\'; --",
    "/* c */ -- d",
    "semi;colon",
    "new\nline",
    "{{name}}",
    "ünïcødé 名前",
    "%s %(x)s ? :1",
]
HOSTILE_PASSWORDS = [
    "plain-pass-1",
    "p'a\"s`s\\w;--rd",
    f'\'; DROP ROLE "{CANARY}"; --',
    "\\'; DROP USER x; -- \\",
    "$$ $yamldb_1$ /* */ #",
    "ünïcødé 🔑 \u2028",
]
LONG_PASSWORD = ("p'\"\\;$$-- " * 1100)[:10_240]


def _ids(values: list[str]) -> list[str]:
    return [f"{i}:{v[:12]!r}" for i, v in enumerate(values)]


# --- PostgreSQL --------------------------------------------------------------------------------

PG_CREATE = StatementTemplate.parse(
    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}';\nCOMMENT ON ROLE \"{{name}}\" IS '{{password}}';",
    PG_RULES,
)
PG_DROP = StatementTemplate.parse('DROP ROLE IF EXISTS "{{name}}"', PG_RULES)


@pytest.fixture(scope="module")
def pg() -> Iterator[object]:
    psycopg = pytest.importorskip("psycopg")
    try:
        conn = psycopg.connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=5", autocommit=True
        )
    except psycopg.OperationalError as exc:
        _unavailable(f"PostgreSQL on 127.0.0.1:5432 is not reachable: {exc}")
    from psycopg import sql

    try:
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(CANARY)))
        yield conn
        assert _pg_roles(conn, CANARY) == [CANARY], "the canary role was dropped by a payload"
    finally:
        for (name,) in conn.execute("SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s)", [RUN]).fetchall():
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
        conn.close()


def _pg_roles(conn: object, prefix: str) -> list[str]:
    rows = conn.execute(  # type: ignore[attr-defined]
        "SELECT rolname, convert_to(rolname, 'UTF8') FROM pg_roles WHERE starts_with(rolname, %s) ORDER BY 1",
        [prefix],
    ).fetchall()
    for name, raw in rows:
        assert bytes(raw) == name.encode("utf-8")
    return [name for name, _ in rows]


def _pg_execute(conn: object, statements: list[str]) -> None:
    for stmt in statements:
        conn.execute(stmt)  # type: ignore[attr-defined]  # no params: sent as is, '%' is not special


def _pg_assert_only(conn: object, name: str) -> None:
    # Exactly one role under this test's prefix, and its name is the hostile value byte for byte.
    assert _pg_roles(conn, name) == [name]
    assert _pg_roles(conn, RUN) == sorted([CANARY, name])


@pytest.mark.parametrize("tail", HOSTILE_NAMES, ids=_ids(HOSTILE_NAMES))
@pytest.mark.parametrize("password", [*HOSTILE_PASSWORDS, LONG_PASSWORD], ids=_ids([*HOSTILE_PASSWORDS, "long"]))
def test_postgresql_create_role(pg: object, tail: str, password: str) -> None:
    name = RUN + tail
    assert len(name.encode()) <= 63
    try:
        _pg_execute(pg, PG_CREATE.render({"name": name, "password": password}))
        _pg_assert_only(pg, name)
        comment = pg.execute(  # type: ignore[attr-defined]
            "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = %s", [name]
        ).fetchone()[0]
        assert comment == password
        if password.isascii():  # the server SASLpreps non-ASCII passwords before hashing
            stored = pg.execute(  # type: ignore[attr-defined]
                "SELECT rolpassword FROM pg_authid WHERE rolname = %s", [name]
            ).fetchone()[0]
            if stored.startswith("SCRAM-SHA-256$"):
                iterations, salt = stored.split("$")[1].split(":")
                assert stored == scram_sha256_verifier(
                    password, salt=base64.b64decode(salt), iterations=int(iterations)
                )
    finally:
        _pg_execute(pg, PG_DROP.render({"name": name}))
    assert _pg_roles(pg, name) == []


@pytest.mark.parametrize("tail", HOSTILE_NAMES, ids=_ids(HOSTILE_NAMES))
def test_postgresql_other_contexts(pg: object, tail: str) -> None:
    """Bare, ident/literal filters, E'' strings, a DO block and a scram verifier."""
    name = RUN + tail
    password = "E'\\'; DROP ROLE x; --\\"
    template = StatementTemplate.parse(
        "DO $$ BEGIN\n"
        "  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{{name}}') THEN\n"
        '    CREATE ROLE "{{name}}" LOGIN;\n'
        "  END IF;\n"
        "END $$;\n"
        "ALTER ROLE {{name}} PASSWORD {{password | scram_sha256 | literal}};\n"
        "COMMENT ON ROLE {{name | ident}} IS E'{{password}}';\n"
        "GRANT pg_read_all_settings TO {{name}};",
        PG_RULES,
    )
    try:
        statements = template.render({"name": name, "password": password})
        assert len(statements) == 4
        _pg_execute(pg, statements)
        _pg_assert_only(pg, name)
        comment, stored = pg.execute(  # type: ignore[attr-defined]
            "SELECT shobj_description(a.oid, 'pg_authid'), a.rolpassword FROM pg_authid a WHERE rolname = %s",
            [name],
        ).fetchone()
        assert comment == password
        iterations, salt = stored.split("$")[1].split(":")
        assert stored == scram_sha256_verifier(password, salt=base64.b64decode(salt), iterations=int(iterations))
    finally:
        _pg_execute(pg, PG_DROP.render({"name": name}))


def test_postgresql_nul_is_refused_before_the_server(pg: object) -> None:
    with pytest.raises(TemplateError, match="NUL"):
        PG_CREATE.render({"name": RUN + "nul\x00x", "password": "p"})
    assert _pg_roles(pg, RUN) == [CANARY]


# --- MariaDB / MySQL ---------------------------------------------------------------------------------

MY_CREATE = StatementTemplate.parse(
    "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';GRANT USAGE ON *.* TO \"{{name}}\"@'%';",
    MYSQL_RULES,
)
MY_DROP = StatementTemplate.parse("DROP USER IF EXISTS '{{name}}'@'%'", MYSQL_RULES)

# MariaDB stores user names as utf8mb3 CHAR: no 4-byte characters, trailing spaces are not kept.
MYSQL_NAMES = [n for n in HOSTILE_NAMES if all(ord(c) < 0x10000 for c in n)]


@pytest.fixture(scope="module")
def my() -> Iterator[object]:
    pymysql = pytest.importorskip("pymysql")
    try:
        conn = pymysql.connect(
            host="127.0.0.1", port=3306, user="root", password="", charset="utf8mb4", autocommit=True, connect_timeout=5
        )
    except pymysql.MySQLError as exc:
        _unavailable(f"MariaDB/MySQL on 127.0.0.1:3306 is not reachable: {exc}")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@sql_mode")
            mode = cur.fetchone()[0].upper()
            # The rules above describe the default mode; these two would change the lexing.
            assert "NO_BACKSLASH_ESCAPES" not in mode and "ANSI_QUOTES" not in mode, mode
            cur.execute("CREATE USER %s@'%%'", [CANARY])
        yield conn
        assert _my_users(conn, CANARY) == [CANARY], "the canary user was dropped by a payload"
    finally:
        _my_sweep(conn)
        conn.close()


def _my_sweep(conn: object, prefix: str = RUN) -> None:
    with conn.cursor() as cur:  # type: ignore[attr-defined]
        cur.execute("SELECT User, Host FROM mysql.user WHERE LEFT(User, CHAR_LENGTH(%s)) = %s", [prefix, prefix])
        for user, host in cur.fetchall():
            cur.execute("DROP USER IF EXISTS %s@%s", [user, host])


def _my_users(conn: object, prefix: str) -> list[str]:
    with conn.cursor() as cur:  # type: ignore[attr-defined]
        cur.execute(
            "SELECT User, CAST(User AS BINARY) FROM mysql.user "
            "WHERE LEFT(User, CHAR_LENGTH(%s)) = %s AND Host = '%%' ORDER BY 2",
            [prefix, prefix],
        )
        rows = cur.fetchall()
    for name, raw in rows:
        assert bytes(raw) == name.encode("utf-8")
    return [name for name, _ in rows]


def _my_execute(conn: object, statements: list[str]) -> None:
    with conn.cursor() as cur:  # type: ignore[attr-defined]
        for stmt in statements:
            cur.execute(stmt)  # no args: pymysql does no %-formatting


@pytest.mark.parametrize("tail", MYSQL_NAMES, ids=_ids(MYSQL_NAMES))
@pytest.mark.parametrize("password", [*HOSTILE_PASSWORDS, LONG_PASSWORD], ids=_ids([*HOSTILE_PASSWORDS, "long"]))
def test_mariadb_create_user(my: object, tail: str, password: str) -> None:
    name = RUN + tail
    try:
        _my_execute(my, MY_CREATE.render({"name": name, "password": password}))
        assert _my_users(my, name) == [name]
        assert sorted(_my_users(my, RUN)) == sorted([CANARY, name])
        with my.cursor() as cur:  # type: ignore[attr-defined]
            cur.execute(
                "SELECT plugin, authentication_string = PASSWORD(%s) FROM mysql.user WHERE User = %s AND Host = '%%'",
                [password, name],
            )
            plugin, same = cur.fetchone()
        if plugin == "mysql_native_password":
            assert same == 1, "the stored password is not the one rendered"
    finally:
        _my_execute(my, MY_DROP.render({"name": name}))
    assert _my_users(my, name) == []


@pytest.mark.parametrize("tail", MYSQL_NAMES, ids=_ids(MYSQL_NAMES))
def test_mariadb_bare_and_literal(my: object, tail: str) -> None:
    name = RUN + tail
    template = StatementTemplate.parse(
        "CREATE USER {{name | literal}}@'%'; RENAME USER {{name | literal}}@'%' TO '{{name}}2'@'%'", MYSQL_RULES
    )
    try:
        _my_execute(my, template.render({"name": name}))
        assert _my_users(my, name) == [name + "2"]
    finally:
        _my_execute(my, MY_DROP.render({"name": name}) + MY_DROP.render({"name": name + "2"}))


@pytest.mark.parametrize("mode", ["NO_BACKSLASH_ESCAPES", "ANSI_QUOTES"])
def test_mariadb_other_sql_modes_cannot_break_out(my: object, mode: str) -> None:
    """If the server's mode disagreed with the dialect rules, values get mangled but never escape."""
    name = RUN + "m\\'; DROP USER x; --"
    with my.cursor() as cur:  # type: ignore[attr-defined]
        cur.execute("SELECT @@SESSION.sql_mode")
        saved = cur.fetchone()[0]
        cur.execute("SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, %s)", ["," + mode])
    try:
        template = StatementTemplate.parse("CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{name}}'", MYSQL_RULES)
        _my_execute(my, template.render({"name": name}))
        users = _my_users(my, RUN + "m")
        # Under NO_BACKSLASH_ESCAPES the doubled backslash is kept literally; the quote stays inside.
        assert users in ([name], [name.replace("\\", "\\\\")])
    finally:
        with my.cursor() as cur:  # type: ignore[attr-defined]
            cur.execute("SET SESSION sql_mode = %s", [saved])
        _my_sweep(my, RUN + "m")


# --- SQLite (in-process, always available) -------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        'CREATE TABLE "{{name}}" (v TEXT)',
        "CREATE TABLE `{{name}}` (v TEXT)",
        "CREATE TABLE {{name}} (v TEXT)",
        "CREATE TABLE [{{name}}] (v TEXT)",
    ],
)
@pytest.mark.parametrize("name", [*HOSTILE_NAMES, "🔑", "x" * 10_000], ids=_ids([*HOSTILE_NAMES, "🔑", "long"]))
def test_sqlite_create_table(template: str, name: str) -> None:
    import sqlite3

    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("CREATE TABLE canary (v TEXT)")
        tpl = StatementTemplate.parse(template + "; INSERT INTO canary VALUES ('{{name}}')", SQLITE_RULES)
        create, insert = tpl.render({"name": name})
        if template.startswith("CREATE TABLE [") and "]" in name:
            # SQLite has no ]] escape: the statement is refused as a whole, nothing runs.
            with pytest.raises(sqlite3.OperationalError):
                conn.execute(create)
            assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["canary"]
            return
        conn.execute(create)  # execute() refuses a second statement, so this also proves there is one
        conn.execute(insert)
        names = sorted(r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
        assert names == sorted(["canary", name])
        assert [r[0] for r in conn.execute("SELECT v FROM canary")] == [name]
    finally:
        conn.close()
