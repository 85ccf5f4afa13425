"""Root credentials with URL characters, side by side with OpenBao's built-in plugins (issue 11 §1, §2).

Every connection form the built-in plugins accept (PostgreSQL URL, key=value DSN, Go MySQL DSN), with and
without disable_escaping. yamldb must connect wherever the built-in plugin connects, with escaping on in
every form, and never show a piece of the password. Root rotation with a password policy that generates URL
characters must leave a connection that works, or fail and change nothing.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterator

import psycopg
import pymysql
import pytest
from psycopg import sql

from devenv import MariaDBAdmin, OpenBaoAPIError, OpenBaoDevServer, PostgresCluster
from tests.integration.policies import password_policy

# Each piece of the password is a random run of letters found nowhere else: a fragment of the password in a
# message or log line is then recognisable, whichever piece it is.
SEPARATORS = "@/:?#%+&=[] "


def letters(n: int = 6) -> str:
    return "".join(secrets.choice(string.ascii_letters) for _ in range(n))


def hostile_password() -> tuple[str, list[str]]:
    pieces = [letters() for _ in SEPARATORS]
    return "".join(p + sep for p, sep in zip(pieces, SEPARATORS, strict=True)) + "é🔥'\"\\x", pieces


PG_FORMS = {
    "url": "postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{port}/postgres?sslmode=disable",
    "kv": "host=127.0.0.1 port={port} user={{{{username}}}} password={{{{password}}}} dbname=postgres sslmode=disable",
    "kv-quoted": "host=127.0.0.1 port={port} user='{{{{username}}}}' password='{{{{password}}}}' dbname=postgres "
    "sslmode=disable",
}
BUILTIN = {"postgresql": "postgresql-database-plugin", "mysql": "mysql-database-plugin"}


def write_config(
    bao: OpenBaoDevServer, name: str, plugin: str, url: str, username: str, password: str, escaping: bool, manifest: str
) -> str | None:
    """Write a connection config (the plugin connects to verify it); None on success, else the error text."""
    body = {
        "plugin_name": plugin,
        "connection_url": url,
        "username": username,
        "password": password,
        "allowed_roles": "*",
        "disable_escaping": not escaping,
    }
    if plugin == "yamldb":
        body["manifest"] = manifest
    try:
        bao.api("POST", f"database/config/{name}", body)
    except OpenBaoAPIError as exc:
        return str(exc)
    bao.api("DELETE", f"database/config/{name}")
    return None


def yamldb_lines(bao: OpenBaoDevServer) -> str:
    return "\n".join(line for line in bao.log_text().splitlines() if "yamldb" in line)


def assert_no_fragment(text: str, pieces: list[str]) -> None:
    leaked = [p for p in pieces if p in text]
    assert leaked == [], f"pieces of the password in a message: {leaked}"


@pytest.fixture
def pg_admins(pg_cluster: PostgresCluster) -> Iterator[tuple[list[str], str, list[str]]]:
    """Two admin roles in the password-checking cluster with a password full of URL characters: one with a
    plain name, one whose name holds URL characters too."""
    plain = f"yeng_{letters(4).lower()}"
    names = [plain, f"{plain} a@b:c/é"]
    password, pieces = hostile_password()
    with pg_cluster.connect() as conn:
        for name in names:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD {}").format(
                    sql.Identifier(name), sql.Literal(password)
                )
            )
    yield names, password, pieces
    with pg_cluster.connect() as conn:
        for name in names:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def test_postgresql_every_form_with_and_without_escaping(openbao, pg_cluster, pg_admins):
    names, password, pieces = pg_admins
    plain = names[0]
    # The built-in plugin runs only where it can work at all: with escaping (it pastes raw values otherwise,
    # and this password breaks every form raw) and with the plain name (its escaped name is never decoded
    # in a DSN, and a ':' in the name splits a URL's user information).
    cases = [(user, form, "yamldb", True) for user in names for form in PG_FORMS]
    cases += [(plain, form, "yamldb", False) for form in PG_FORMS]
    cases += [(plain, form, BUILTIN["postgresql"], True) for form in PG_FORMS]
    results = {
        case: write_config(
            openbao,
            f"pgc-{len(case[0])}-{case[1]}-{case[3]}-{case[2][0]}",
            case[2],
            PG_FORMS[case[1]].format(port=pg_cluster.port),
            case[0],
            password,
            case[3],
            "postgresql",
        )
        for case in cases
    }
    ok = {case for case, error in results.items() if error is None}
    # yamldb connects wherever the built-in plugin does, and with escaping on in every form, for both names.
    assert {(u, f, "yamldb", e) for u, f, p, e in ok if p != "yamldb"} <= ok, results
    assert (plain, "url", BUILTIN["postgresql"], True) in ok  # the side-by-side case is a real one
    assert {(user, form, "yamldb", True) for user in names for form in PG_FORMS} <= ok, results
    # Unescaped, this password cannot be written into a URL or a DSN value: refused, as by the built-in plugin.
    assert not {(plain, form, "yamldb", False) for form in PG_FORMS} & ok
    for (_, _, plugin, _), error in results.items():
        if plugin == "yamldb" and error is not None:
            assert_no_fragment(error, pieces)
    assert_no_fragment(yamldb_lines(openbao), pieces)


def test_postgresql_password_with_an_at_sign_as_the_builtin_plugin(openbao, pg_cluster):
    """The issue's example: `At@Pass-word1` failed with "failed to resolve host 'Pass-word1@127.0.0.1'"."""
    name = f"yeng_at_{letters(4).lower()}"
    with pg_cluster.connect() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'At@Pass-word1'").format(sql.Identifier(name)))
    try:
        url = PG_FORMS["url"].format(port=pg_cluster.port)
        for escaping in (True, False):
            for plugin in ("yamldb", BUILTIN["postgresql"]):
                assert (
                    write_config(
                        openbao,
                        f"pg-at-{escaping}-{plugin[0]}",
                        plugin,
                        url,
                        name,
                        "At@Pass-word1",
                        escaping,
                        "postgresql",
                    )
                    is None
                ), (plugin, escaping)
        # A wrong password with the same shape: the error masks the whole user information.
        error = write_config(openbao, "pg-at-wrong", "yamldb", url, name, "Zq@Wrongword9", True, "postgresql")
        assert error is not None and "password authentication failed" in error
        assert "Zq" not in error and "Wrongword9" not in error and "://***@127.0.0.1" in error
    finally:
        with pg_cluster.connect() as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture
def maria_hostile(mariadb_admin: MariaDBAdmin) -> Iterator[tuple[str, str, list[str]]]:
    prefix = f"yeng{letters(4).lower()}"
    mariadb_admin.track_prefix(prefix)
    password, pieces = hostile_password()
    with mariadb_admin.connect() as conn, conn.cursor() as cur:
        for user in (prefix, f"{prefix} a@b:c/é"):
            cur.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, password))
            cur.execute("GRANT ALL PRIVILEGES ON *.* TO %s@'%%' WITH GRANT OPTION", (user,))
    yield prefix, password, pieces


def test_mysql_go_dsn_and_url_with_and_without_escaping(openbao, mariadb_admin, maria_hostile):
    plain, password, pieces = maria_hostile
    db = mariadb_admin
    dsn = f"{{{{username}}}}:{{{{password}}}}@tcp({db.host}:{db.port})/"
    results = {}
    for user in (plain, f"{plain} a@b:c/é"):
        for escaping in (True, False):
            for plugin in ("yamldb", BUILTIN["mysql"]):
                results[(user, plugin, escaping)] = write_config(
                    openbao, f"my-{len(user)}-{escaping}-{plugin[0]}", plugin, dsn, user, password, escaping, "mysql"
                )
        results[(user, "yamldb-url", True)] = write_config(
            openbao,
            f"my-url-{len(user)}",
            "yamldb",
            f"mysql://{{{{username}}}}:{{{{password}}}}@{db.host}:{db.port}/",
            user,
            password,
            True,
            "mysql",
        )
    ok = {key for key, error in results.items() if error is None}
    assert {(u, "yamldb", e) for u, p, e in ok if p == BUILTIN["mysql"]} <= ok
    # The built-in plugin escapes the username and its driver never decodes it: only the plain name works
    # there. yamldb takes both names in both forms.
    assert (plain, BUILTIN["mysql"], True) in ok, results
    assert {key for key in results if key[1].startswith("yamldb") and (key[2] or key[0] == plain)} <= ok, results
    for (_, plugin, _), error in results.items():
        if plugin.startswith("yamldb") and error is not None:
            assert_no_fragment(error, pieces)
    assert_no_fragment(yamldb_lines(openbao), pieces)


POLICY = password_policy(
    24, ("abcdefghijklmnopqrstuvwxyz", 2), ("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 2), ("@/:?#%+&=[] ", 6)
)


@pytest.fixture(scope="module")
def url_policy(openbao: OpenBaoDevServer) -> str:
    openbao.api("POST", "sys/policies/password/yamldb-url-chars", {"policy": POLICY})
    return "yamldb-url-chars"


def pg_login(pg: PostgresCluster, user: str, password: str) -> bool:
    try:
        pg.connect(user=user, password=password).close()
        return True
    except psycopg.OperationalError:
        return False


def test_rotate_root_with_url_characters_leaves_a_working_connection(openbao, pg_cluster, url_policy):
    admin, first = f"yeng_rot_{letters(4).lower()}", "First-pass-1"
    with pg_cluster.connect() as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN CREATEROLE PASSWORD {}").format(sql.Identifier(admin), sql.Literal(first))
        )
    try:
        for form in ("url", "kv"):
            name = f"pg-rot-{form}"
            openbao.api(
                "POST",
                f"database/config/{name}",
                {
                    "plugin_name": "yamldb",
                    "manifest": "postgresql",
                    "allowed_roles": "*",
                    "username": admin,
                    "password": first,
                    "password_policy": url_policy,
                    "connection_url": PG_FORMS[form].format(port=pg_cluster.port),
                },
            )
            openbao.api(
                "POST",
                f"database/roles/{name}",
                {"db_name": name, "creation_statements": "CREATE ROLE \"{{name}}\" LOGIN PASSWORD '{{password}}';"},
            )
            for _ in range(3):
                openbao.api("POST", f"database/rotate-root/{name}", {})
                lease = openbao.api("GET", f"database/creds/{name}")  # the rotated connection works
                assert pg_login(pg_cluster, lease["data"]["username"], lease["data"]["password"])
                openbao.api("PUT", "sys/leases/revoke", {"lease_id": lease["lease_id"]})
            assert not pg_login(pg_cluster, admin, first)
            # Hand the admin back its known password for the next form (and the cleanup).
            with pg_cluster.connect() as conn:
                conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(admin), sql.Literal(first)))
            openbao.api("DELETE", f"database/config/{name}")
    finally:
        with pg_cluster.connect() as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(admin)))


def test_rotate_root_that_cannot_fit_the_url_fails_and_changes_nothing(openbao, pg_cluster):
    """disable_escaping=true pastes the password raw: a generated '/' breaks the URL, so the rotation is
    refused before anything changes (the built-in plugin would report success and leave a broken config)."""
    openbao.api(
        "POST",
        "sys/policies/password/yamldb-slash",
        {"policy": password_policy(20, ("abcdefghijklmnopqrstuvwxyz", 2), ("/", 1))},
    )
    admin, first = f"yeng_raw_{letters(4).lower()}", "First-pass-1"
    with pg_cluster.connect() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(admin), sql.Literal(first)))
    name = "pg-rot-raw"
    try:
        openbao.api(
            "POST",
            f"database/config/{name}",
            {
                "plugin_name": "yamldb",
                "manifest": "postgresql",
                "allowed_roles": "*",
                "username": admin,
                "password": first,
                "password_policy": "yamldb-slash",
                "disable_escaping": True,
                "connection_url": PG_FORMS["url"].format(port=pg_cluster.port),
            },
        )
        with pytest.raises(OpenBaoAPIError, match="nothing was changed"):
            openbao.api("POST", f"database/rotate-root/{name}", {})
        assert pg_login(pg_cluster, admin, first)
        openbao.api("POST", f"database/config/{name}", {"allowed_roles": "*"})  # re-initializes: still connects
    finally:
        openbao.api("DELETE", f"database/config/{name}")
        with pg_cluster.connect() as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(admin)))


def test_mysql_rotate_root_with_url_characters(openbao, mariadb_admin, url_policy):
    db = mariadb_admin
    admin, first = f"yengrot{letters(4).lower()}", "First-pass-1"
    db.track_prefix(admin)
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (admin, first))
        cur.execute("GRANT ALL PRIVILEGES ON *.* TO %s@'%%' WITH GRANT OPTION", (admin,))
    name = "my-rot-url"
    openbao.api(
        "POST",
        f"database/config/{name}",
        {
            "plugin_name": "yamldb",
            "manifest": "mysql",
            "allowed_roles": "*",
            "username": admin,
            "password": first,
            "password_policy": url_policy,
            "connection_url": f"{{{{username}}}}:{{{{password}}}}@tcp({db.host}:{db.port})/",
        },
    )
    openbao.api(
        "POST",
        f"database/roles/{name}",
        {"db_name": name, "creation_statements": "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';"},
    )
    try:
        for _ in range(3):
            openbao.api("POST", f"database/rotate-root/{name}", {})
            lease = openbao.api("GET", f"database/creds/{name}")
            pymysql.connect(
                host=db.host, port=db.port, user=lease["data"]["username"], password=lease["data"]["password"].encode()
            ).close()
            openbao.api("PUT", "sys/leases/revoke", {"lease_id": lease["lease_id"]})
    finally:
        openbao.api("DELETE", f"database/config/{name}")


EMOJI_POLICY = password_policy(16, ("abcdefghijklmnopqrstuvwxyz", 4), ("🔥é😀", 4))


def test_four_byte_characters_are_stored_exactly_or_refused(openbao, mariadb_admin, pg_cluster):
    """issue 11 §4: utf8mb4 on MySQL/MariaDB. A 🔥 password (root's or a user's) logs in; a 🔥 user name,
    which MariaDB would store as '?', is refused before any SQL runs. PostgreSQL stores both exactly."""
    openbao.api("POST", "sys/policies/password/yamldb-emoji", {"policy": EMOJI_POLICY})
    db, prefix = mariadb_admin, f"yeng{letters(4).lower()}"
    db.track_prefix(prefix)
    root, root_password = f"{prefix}root", "Root-🔥-é-pass"
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (root, root_password))
        cur.execute("GRANT ALL PRIVILEGES ON *.* TO %s@'%%' WITH GRANT OPTION", (root,))
    openbao.api(
        "POST",
        "database/config/my-emoji",
        {
            "plugin_name": "yamldb",
            "manifest": "mysql",
            "allowed_roles": "*",
            "username": root,
            "password": root_password,
            "password_policy": "yamldb-emoji",
            "connection_url": f"{{{{username}}}}:{{{{password}}}}@tcp({db.host}:{db.port})/",
            "username_template": f"{prefix}{{{{random 6}}}}",
        },
    )
    openbao.api("POST", "database/roles/my-emoji", {"db_name": "my-emoji"})
    lease = openbao.api("GET", "database/creds/my-emoji")
    user, password = lease["data"]["username"], lease["data"]["password"]
    assert "🔥" in password or "😀" in password
    with pymysql.connect(host=db.host, port=db.port, user=user, password=password.encode()) as conn:
        conn.ping()
    openbao.api("PUT", "sys/leases/revoke", {"lease_id": lease["lease_id"]})

    openbao.api("POST", "database/config/my-emoji", {"username_template": f"{prefix}🔥{{{{random 6}}}}"})
    with pytest.raises(OpenBaoAPIError, match=r"characters outside .* \('🔥'\)"):
        openbao.api("GET", "database/creds/my-emoji")
    assert db.users_with_prefix(prefix) == [(root, "%")]  # no '?' user was left behind
    openbao.api("DELETE", "database/config/my-emoji")

    name = "pg-emoji"
    openbao.api(
        "POST",
        f"database/config/{name}",
        {
            "plugin_name": "yamldb",
            "manifest": "postgresql",
            "allowed_roles": "*",
            "username": pg_cluster.superuser,
            "password": pg_cluster.password,
            "password_policy": "yamldb-emoji",
            "connection_url": PG_FORMS["url"].format(port=pg_cluster.port),
            "username_template": "yt-🔥-{{random 6}}",
        },
    )
    openbao.api("POST", f"database/roles/{name}", {"db_name": name})
    lease = openbao.api("GET", f"database/creds/{name}")
    user, password = lease["data"]["username"], lease["data"]["password"]
    assert user.startswith("yt-🔥-") and pg_login(pg_cluster, user, password)
    openbao.api("PUT", "sys/leases/revoke", {"lease_id": lease["lease_id"]})
    openbao.api("DELETE", f"database/config/{name}")
