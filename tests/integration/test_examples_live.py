"""Shipped dialects and examples, run for real: create -> renew -> rotate -> revoke.

Servers: the machine's PostgreSQL on 127.0.0.1:5432 (trust auth, user postgres)
and MariaDB on 127.0.0.1:3306 (root, no password), plus SQLite files in tmp_path.
Every test works in its own throw-away database and with uniquely named users,
and removes what it created. An unreachable server skips the tests locally and
fails them when CI is set.

PostgreSQL trusts every local login here, so passwords are checked by verifying
the stored SCRAM verifier instead of logging in; MariaDB checks real logins.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pymysql
import pytest
from psycopg import sql

from tests.conftest import require
from yamldb.errors import DatabaseError
from yamldb.lifecycle.database import ManifestDatabase
from yamldb.lifecycle.requests import DeleteUser, ExpirationChange, NewUser, PasswordChange, UpdateUser

pytestmark = pytest.mark.integration

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
MARIA = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}

# Usernames with every character that could end a quote; Go template string escapes.
HOSTILE_TEMPLATE = r'{{ printf "yt-%s-q%s" (random 10) "' + r"'\"\\;--" + r'" }}'


def _suffix() -> str:
    return secrets.token_hex(4)


def _password(tag: str) -> str:
    # Upper, lower, digit and the characters that matter for quoting.
    return f"Pw{tag}'\"\\;-{secrets.token_hex(8)}"


def _expiration(hours: int) -> datetime:
    return (datetime.now(timezone.utc) + timedelta(hours=hours)).replace(microsecond=0)


def scram_matches(verifier: str | None, password: str) -> bool:
    """Does a SCRAM-SHA-256 verifier belong to `password`?"""
    match = re.fullmatch(r"SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)", verifier or "")
    if not match:
        return False
    iterations, salt, stored_key = int(match[1]), base64.b64decode(match[2]), base64.b64decode(match[3])
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return hmac.compare_digest(hashlib.sha256(client_key).digest(), stored_key)


# --------------------------------------------------------------------------- the lifecycle


@dataclass
class Probe:
    """How a test looks at the database from outside the plugin."""

    exists: Callable[[str], bool]
    cleanup: Callable[[str], None]
    password_ok: Callable[[str, str], bool] | None = None
    expires: Callable[[str], datetime | None] | None = None


def lifecycle(
    config: Mapping[str, Any],
    probe: Probe,
    *,
    statements: tuple[str, ...] = (),
    after_create: Callable[[str, str], None] | None = None,
    before_revoke: Callable[[str, str], Callable[[], None] | None] | None = None,
    dialect_user_exists: bool = True,
) -> str:
    """create -> checks -> renew -> rotate -> revoke -> gone -> revoke again; returns the username."""
    db = ManifestDatabase()
    db.initialize(dict(config), True)
    username = None
    try:
        first, second = _password("1"), _password("2")
        expires = _expiration(1)
        username = db.new_user(
            NewUser(display_name="token", role_name="r", expiration=expires, statements=statements, password=first)
        )
        assert probe.exists(username)
        if dialect_user_exists:  # the dialect's own user_exists query agrees
            assert db.user_exists(username) is True
        if probe.password_ok:
            assert probe.password_ok(username, first)
        if probe.expires:
            assert probe.expires(username) == expires
        if after_create:
            after_create(username, first)

        renewed = _expiration(2)
        db.update_user(UpdateUser(username, expiration=ExpirationChange(renewed)))
        if probe.expires:
            assert probe.expires(username) == renewed

        db.update_user(UpdateUser(username, password=PasswordChange(second)))
        if probe.password_ok:
            assert probe.password_ok(username, second)
            assert not probe.password_ok(username, first)

        after_revoke = before_revoke(username, second) if before_revoke else None
        db.delete_user(DeleteUser(username))
        assert not probe.exists(username)
        if dialect_user_exists:
            assert db.user_exists(username) is False
        if after_revoke:
            after_revoke()
        db.delete_user(DeleteUser(username))  # already gone: still success
        return username
    finally:
        try:
            if username is not None:
                probe.cleanup(username)
        finally:
            db.close()


# --------------------------------------------------------------------------- PostgreSQL


class PostgresServer:
    def __init__(self, admin: psycopg.Connection, database: str) -> None:
        self.admin = admin
        self.database = database

    def connect(self, user: str = "postgres", **kwargs: Any) -> psycopg.Connection:
        return psycopg.connect(
            **{**PG, "user": user}, dbname=self.database, autocommit=True, connect_timeout=5, **kwargs
        )

    def url(self) -> str:
        return f"postgresql://{{{{username}}}}:{{{{password}}}}@{PG['host']}:{PG['port']}/{self.database}"

    def config(self, manifest: str, **extra: Any) -> dict[str, Any]:
        return {
            "connection_url": self.url(),
            "manifest": manifest,
            "username": "postgres",
            "password": "unused-trust-auth",
            **extra,
        }

    def scalar(self, query: str, *args: Any) -> Any:
        with self.connect() as conn:
            row = conn.execute(query, args).fetchone()
        return row[0] if row else None

    def role_probe(self) -> Probe:
        return Probe(
            exists=lambda u: bool(self.scalar("SELECT count(*) FROM pg_roles WHERE rolname = %s", u)),
            cleanup=self.drop_role,
            password_ok=lambda u, p: scram_matches(
                self.scalar("SELECT rolpassword FROM pg_authid WHERE rolname = %s", u), p
            ),
            expires=lambda u: self.scalar("SELECT rolvaliduntil FROM pg_roles WHERE rolname = %s", u),
        )

    def drop_role(self, role: str) -> None:
        with self.connect() as conn:
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                ident = sql.Identifier(role)
                conn.execute(sql.SQL("DROP OWNED BY {}").format(ident))
                conn.execute(sql.SQL("DROP ROLE {}").format(ident))


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    try:
        admin = psycopg.connect(**PG, dbname="postgres", autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        require(f"PostgreSQL on {PG['host']}:{PG['port']} (user postgres, trust auth) is not reachable: {exc}")
    name = f"yamldb_it_{_suffix()}"
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    server = PostgresServer(admin, name)
    try:
        with server.connect() as conn:
            conn.execute("CREATE SCHEMA app")
            conn.execute("CREATE TABLE app.orders (id serial PRIMARY KEY, item text)")
        yield server
    finally:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()


def _pg_session_is_ended(server: PostgresServer, username: str, _password: str) -> Callable[[], None]:
    session = server.connect(user=username)  # trust auth: no password needed
    assert session.execute("SELECT 1").fetchone() == (1,)

    def check() -> None:
        with pytest.raises(psycopg.OperationalError):
            session.execute("SELECT 1")
        session.close()

    return check


def test_postgresql_dialect(pg: PostgresServer) -> None:
    lifecycle(pg.config("postgresql"), pg.role_probe(), before_revoke=lambda u, p: _pg_session_is_ended(pg, u, p))


def test_postgresql_dialect_hostile_username(pg: PostgresServer) -> None:
    username = lifecycle(pg.config("postgresql", username_template=HOSTILE_TEMPLATE), pg.role_probe())
    assert username.endswith("q'\"\\;--")


def test_postgresql_dialect_revoke_keeps_objects_the_user_created(pg: PostgresServer) -> None:
    table = f"made_by_user_{_suffix()}"

    def create_table(username: str, _password: str) -> None:
        with pg.connect() as conn:
            conn.execute(sql.SQL("GRANT CREATE ON SCHEMA app TO {}").format(sql.Identifier(username)))
        with pg.connect(user=username) as conn:
            conn.execute(sql.SQL("CREATE TABLE app.{} (x int)").format(sql.Identifier(table)))

    lifecycle(pg.config("postgresql"), pg.role_probe(), after_create=create_table)
    # REASSIGN OWNED handed the table to the admin instead of dropping it.
    assert (
        pg.scalar("SELECT tableowner FROM pg_tables WHERE schemaname = 'app' AND tablename = %s", table) == "postgres"
    )


def test_postgresql_rotate_root(pg: PostgresServer) -> None:
    admin = f"yamldb_it_admin_{_suffix()}"
    pg.admin.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD 'before'").format(sql.Identifier(admin)))
    db = ManifestDatabase()
    try:
        db.initialize({**pg.config("postgresql"), "username": admin, "password": "before"}, True)
        new = _password("root")
        db.update_user(UpdateUser(admin, password=PasswordChange(new)))
        assert scram_matches(pg.scalar("SELECT rolpassword FROM pg_authid WHERE rolname = %s", admin), new)
    finally:
        db.close()
        pg.drop_role(admin)


@pytest.mark.parametrize("how", ["connection parameters", "role set reference"])
def test_postgresql_readonly(pg: PostgresServer, how: str) -> None:
    if how == "connection parameters":
        config, statements = pg.config("postgresql-readonly", parameters={"schema": "app"}), ()
    else:
        config, statements = pg.config("postgresql-readonly"), ("yamldb:readonly schema=app",)
    later = f"later_{_suffix()}"

    def privileges(username: str, _password: str) -> None:
        assert pg.scalar("SELECT has_table_privilege(%s, 'app.orders', 'SELECT')", username)
        assert not pg.scalar("SELECT has_table_privilege(%s, 'app.orders', 'INSERT')", username)
        with pg.connect() as conn:  # default privileges cover tables created afterwards
            conn.execute(sql.SQL("CREATE TABLE app.{} (x int)").format(sql.Identifier(later)))
        assert pg.scalar("SELECT has_table_privilege(%s, %s, 'SELECT')", username, f"app.{later}")
        with pg.connect(user=username) as conn:
            assert conn.execute("SELECT count(*) FROM app.orders").fetchone() == (0,)

    try:
        lifecycle(config, pg.role_probe(), statements=statements, after_create=privileges)
        # Revocation removed the default privileges too (else DROP ROLE would have failed).
        assert (
            pg.scalar(
                "SELECT count(*) FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace "
                "WHERE n.nspname = 'app' AND array_length(d.defaclacl, 1) > 0"
            )
            == 0
        )
    finally:
        with pg.connect() as conn:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS app.{}").format(sql.Identifier(later)))


def test_postgresql_readwrite(pg: PostgresServer) -> None:
    def privileges(username: str, _password: str) -> None:
        with pg.connect(user=username) as conn:
            conn.execute("INSERT INTO app.orders (item) VALUES ('x')")  # table and sequence
            conn.execute("DELETE FROM app.orders")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("CREATE TABLE app.nope (x int)")

    lifecycle(pg.config("postgresql-readwrite", parameters={"schema": "app"}), pg.role_probe(), after_create=privileges)


def test_postgresql_vault_defaults(pg: PostgresServer) -> None:
    lifecycle(pg.config("postgresql-vault-defaults"), pg.role_probe())


def test_postgresql_vault_defaults_revocation_removes_grants(pg: PostgresServer) -> None:
    # A role carrying SQL as for Vault's plugin, with grants in schema app.
    create = (
        "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"
        ' GRANT USAGE ON SCHEMA app TO "{{name}}"; GRANT SELECT ON ALL TABLES IN SCHEMA app TO "{{name}}";'
    )

    def granted(username: str, _password: str) -> None:
        assert pg.scalar("SELECT has_table_privilege(%s, 'app.orders', 'SELECT')", username)

    # Vault's default revocation finds schema app through role_column_grants.
    lifecycle(pg.config("postgresql-vault-defaults"), pg.role_probe(), statements=(create,), after_create=granted)

    # It does not look at sequences outside public: such a grant keeps DROP ROLE from
    # succeeding, exactly as with Vault's plugin (the postgresql dialect's DROP OWNED copes).
    db = ManifestDatabase()
    db.initialize(pg.config("postgresql-vault-defaults"), True)
    username = None
    try:
        with_sequences = create + ' GRANT USAGE ON ALL SEQUENCES IN SCHEMA app TO "{{name}}";'
        username = db.new_user(
            NewUser(
                display_name="token",
                role_name="r",
                expiration=_expiration(1),
                statements=(with_sequences,),
                password=_password("1"),
            )
        )
        with pytest.raises(DatabaseError, match="cannot be dropped"):
            db.delete_user(DeleteUser(username))
    finally:
        db.close()
        if username:
            pg.drop_role(username)

    # The postgresql dialect's revocation handles the same user.
    lifecycle(pg.config("postgresql"), pg.role_probe(), statements=(with_sequences,), after_create=granted)


def _app_users_probe(pg: PostgresServer, table: str) -> Probe:
    qualified = f"app.{table}"

    def row(username: str) -> tuple | None:
        with pg.connect() as conn:
            exists = conn.execute("SELECT to_regclass(%s)", (qualified,)).fetchone()[0]
            if exists is None:
                return None
            return conn.execute(
                sql.SQL("SELECT password_hash, expires_at FROM app.{} WHERE username = %s").format(
                    sql.Identifier(table)
                ),
                (username,),
            ).fetchone()

    return Probe(
        exists=lambda u: row(u) is not None,
        cleanup=lambda u: None,  # the table goes with the test database
        password_ok=lambda u, p: scram_matches(row(u)[0], p),
        expires=lambda u: row(u)[1],
    )


def test_postgresql_app_users(pg: PostgresServer) -> None:
    table = f"api_users_{_suffix()}"
    config = pg.config("postgresql-app-users", parameters={"schema": "app", "table": table})
    # The postgresql dialect's user_exists looks at pg_roles, not at this table, and a
    # manifest naming a dialect cannot replace it: skip that check here.
    username = lifecycle(
        config, _app_users_probe(pg, table), dialect_user_exists=False, after_create=lambda u, _p: pg_role_absent(u)
    )
    pg_role_absent(username)


def pg_role_absent(username: str) -> None:
    # An application user is a row, never a database role.
    with psycopg.connect(**PG, dbname="postgres", connect_timeout=5) as conn:
        assert conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (username,)).fetchone() == (0,)


def test_postgresql_app_users_bcrypt_set(pg: PostgresServer) -> None:
    pg_table = f"api_users_{_suffix()}"
    with pg.connect() as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")  # in the throw-away database only
    probe = _app_users_probe(pg, pg_table)

    def bcrypt_ok(username: str, password: str) -> bool:
        with pg.connect() as conn:
            return bool(
                conn.execute(
                    sql.SQL("SELECT password_hash = crypt(%s, password_hash) FROM app.{} WHERE username = %s").format(
                        sql.Identifier(pg_table)
                    ),
                    (password, username),
                ).fetchone()[0]
            )

    probe.password_ok = bcrypt_ok
    db = ManifestDatabase()
    db.initialize(pg.config("postgresql-app-users", parameters={"schema": "app", "table": pg_table}), True)
    try:
        first, second = _password("1"), _password("2")
        username = db.new_user(
            NewUser(
                display_name="token",
                role_name="r",
                expiration=_expiration(1),
                statements=("yamldb:bcrypt",),
                password=first,
            )
        )
        assert bcrypt_ok(username, first)
        db.update_user(UpdateUser(username, password=PasswordChange(second, statements=("yamldb:bcrypt",))))
        assert bcrypt_ok(username, second) and not bcrypt_ok(username, first)
        db.delete_user(DeleteUser(username))
        assert not probe.exists(username)
    finally:
        db.close()


# --------------------------------------------------------------------------- MariaDB


class MariaServer:
    def __init__(self, database: str) -> None:
        self.database = database

    def connect(self, user: str = "root", password: str = "", **kwargs: Any) -> pymysql.Connection:
        return pymysql.connect(
            **{**MARIA, "user": user, "password": password},
            connect_timeout=5,
            autocommit=True,
            charset="utf8mb4",
            **kwargs,
        )

    def config(self, manifest: str, **extra: Any) -> dict[str, Any]:
        # Vault's Go DSN; root has no password here and is never rotated.
        return {
            "connection_url": f"{{{{username}}}}:{{{{password}}}}@tcp({MARIA['host']}:{MARIA['port']})/",
            "manifest": manifest,
            "username": "root",
            "password": "",
            **extra,
        }

    def hosts(self, username: str) -> list[str]:
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT Host FROM mysql.user WHERE User = %s", (username,))
            return sorted(row[0] for row in cur.fetchall())

    def can_login(self, username: str, password: str) -> bool:
        try:
            self.connect(username, password).close()
        except pymysql.err.OperationalError as exc:
            if exc.args[0] == 1045:  # access denied
                return False
            raise
        return True

    def drop_user(self, username: str) -> None:
        with self.connect() as conn, conn.cursor() as cur:
            for host in self.hosts(username):
                cur.execute("DROP USER IF EXISTS %s@%s", (username, host))

    def probe(self) -> Probe:
        return Probe(exists=lambda u: bool(self.hosts(u)), cleanup=self.drop_user, password_ok=self.can_login)


@pytest.fixture(scope="module")
def maria() -> Iterator[MariaServer]:
    try:
        admin = pymysql.connect(**MARIA, connect_timeout=5, autocommit=True)
    except pymysql.err.MySQLError as exc:
        require(f"MariaDB on {MARIA['host']}:{MARIA['port']} (root, no password) is not reachable: {exc}")
    name = f"yamldb_it_{_suffix()}"
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}`")
            cur.execute(f"CREATE TABLE `{name}`.orders (id int AUTO_INCREMENT PRIMARY KEY, item text)")
        yield MariaServer(name)
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def _maria_extra_host(server: MariaServer) -> Callable[[str, str], None]:
    """After creation, give the user a second account on 'localhost', as an operator might."""

    def add(username: str, password: str) -> None:
        with server.connect() as conn, conn.cursor() as cur:
            cur.execute("CREATE USER %s@'localhost' IDENTIFIED BY %s", (username, password))
        assert server.hosts(username) == ["%", "localhost"]

    return add


def _maria_session_is_killed(server: MariaServer, username: str, password: str) -> Callable[[], None]:
    session = server.connect(username, password)

    def check() -> None:
        with pytest.raises(pymysql.err.OperationalError):
            with session.cursor() as cur:
                cur.execute("SELECT 1")
        session.close()

    return check


def test_mariadb_dialect(maria: MariaServer) -> None:
    lifecycle(
        maria.config("mariadb"),
        maria.probe(),
        after_create=_maria_extra_host(maria),
        before_revoke=lambda u, p: _maria_session_is_killed(maria, u, p),
    )


@pytest.mark.parametrize("manifest", ["mariadb", "mysql"])
def test_mysql_dialects_hostile_username(maria: MariaServer, manifest: str) -> None:
    template = r'{{ printf "yt-%s-q%s" (random 8) "' + r"'\"\\;" + r'" }}'  # 32 characters at most
    username = lifecycle(
        maria.config(manifest, username_template=template), maria.probe(), after_create=_maria_extra_host(maria)
    )
    assert username.endswith("q'\"\\;")


def test_mysql_dialect_on_mariadb(maria: MariaServer) -> None:
    # The mysql dialect uses nothing MariaDB-specific; sessions are not killed there.
    lifecycle(maria.config("mysql"), maria.probe(), after_create=_maria_extra_host(maria))


@pytest.mark.parametrize("manifest", ["mariadb", "mysql"])
def test_mysql_dialects_rotate_root(maria: MariaServer, manifest: str) -> None:
    admin, before = f"yamldb_it_root_{_suffix()}", _password("0")
    with maria.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (admin, before))
        cur.execute("GRANT ALL PRIVILEGES ON *.* TO %s@'%%' WITH GRANT OPTION", (admin,))
    db = ManifestDatabase()
    try:
        db.initialize({**maria.config(manifest), "username": admin, "password": before}, True)
        after = _password("1")
        db.update_user(UpdateUser(admin, password=PasswordChange(after)))
        assert maria.can_login(admin, after) and not maria.can_login(admin, before)
    finally:
        db.close()
        maria.drop_user(admin)


@pytest.mark.parametrize("statements", [(), ("yamldb:readonly",)], ids=["default", "readonly-set"])
def test_mysql_app_user(maria: MariaServer, statements: tuple[str, ...]) -> None:
    def privileges(username: str, password: str) -> None:
        with maria.connect(username, password, database=maria.database) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM orders")
            if statements:
                with pytest.raises(pymysql.err.OperationalError, match="denied"):
                    cur.execute("INSERT INTO orders (item) VALUES ('x')")
            else:
                cur.execute("INSERT INTO orders (item) VALUES ('x')")
                cur.execute("DELETE FROM orders")
            with pytest.raises(pymysql.err.OperationalError, match="denied"):
                cur.execute("CREATE TABLE nope (x int)")

    config = maria.config("mysql-app-user", parameters={"db": maria.database})
    lifecycle(config, maria.probe(), statements=statements, after_create=privileges)


# --------------------------------------------------------------------------- SQLite


def _sqlite_probe(path: str, table: str) -> Probe:
    quoted = '"' + table.replace('"', '""') + '"'

    def row(username: str) -> tuple | None:
        with sqlite3.connect(path) as conn:
            if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone():
                return None
            return conn.execute(
                f"SELECT password_hash, expires_at FROM {quoted} WHERE username = ?", (username,)
            ).fetchone()

    def expires(username: str) -> datetime:
        return datetime.strptime(row(username)[1], "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)

    return Probe(
        exists=lambda u: row(u) is not None,
        cleanup=lambda u: None,
        password_ok=lambda u, p: scram_matches(row(u)[0], p),
        expires=expires,
    )


def test_sqlite_dialect(tmp_path) -> None:
    path = str(tmp_path / "app.db")
    lifecycle({"connection_url": path, "manifest": "sqlite"}, _sqlite_probe(path, "app_users"))
    with sqlite3.connect(path) as conn:  # revoked users are deleted, the table stays
        assert conn.execute("SELECT count(*) FROM app_users").fetchone() == (0,)


def test_sqlite_dialect_hostile_username(tmp_path) -> None:
    path = str(tmp_path / "app.db")
    config = {
        "connection_url": f"sqlite:///{path}",
        "manifest": "sqlite",
        "username_template": HOSTILE_TEMPLATE,
        "parameters": {"table": 'odd"table'},
    }
    username = lifecycle(config, _sqlite_probe(path, 'odd"table'))
    assert username.endswith("q'\"\\;--")


@pytest.mark.parametrize(
    "statements, scope", [((), "read"), (("yamldb:client scope=write",), "write")], ids=["default", "client-set"]
)
def test_sqlite_app_users(tmp_path, statements: tuple[str, ...], scope: str) -> None:
    path = str(tmp_path / "state.db")

    def has_scope(username: str, _password: str) -> None:
        with sqlite3.connect(path) as conn:
            assert conn.execute(
                "SELECT scope FROM api_clients WHERE username = ? AND expires_at > datetime('now')", (username,)
            ).fetchone() == (scope,)

    lifecycle(
        {"connection_url": path, "manifest": "sqlite-app-users"},
        _sqlite_probe(path, "api_clients"),
        statements=statements,
        after_create=has_scope,
    )


def test_sqlite_revoke_before_any_create_is_success(tmp_path) -> None:
    db = ManifestDatabase()
    db.initialize({"connection_url": str(tmp_path / "empty.db"), "manifest": "sqlite"}, True)
    try:
        db.delete_user(DeleteUser("never-created"))
    finally:
        db.close()
