"""Vault-compatible lifecycle on MariaDB through a real OpenBao, beside the built-in mysql-database-plugin."""

from __future__ import annotations

import re
import secrets

import pymysql
import pytest

from devenv import MariaDBAdmin, OpenBaoAPIError, OpenBaoDevServer

# The role definition from Vault's MySQL documentation, unchanged.
DOCS_CREATE = "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';GRANT SELECT ON *.* TO '{{name}}'@'%';"


def dsn(db: MariaDBAdmin) -> str:
    return f"{{{{username}}}}:{{{{password}}}}@tcp({db.host}:{db.port})/"


def configure(
    bao: OpenBaoDevServer, name: str, db: MariaDBAdmin, user: str, password: str, plugin: str = "yamldb", **extra: str
) -> None:
    body = {
        "plugin_name": plugin,
        "connection_url": dsn(db),
        "username": user,
        "password": password,
        "allowed_roles": "*",
        **extra,
    }
    if plugin == "yamldb":
        body.setdefault("manifest", "mysql")
    bao.api("POST", f"database/config/{name}", body)


def hosts_of(db: MariaDBAdmin, user: str) -> list[str]:
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT Host FROM mysql.user WHERE User = %s", (user,))
        return sorted(row[0] for row in cur.fetchall())


def can_login(db: MariaDBAdmin, user: str, password: str) -> bool:
    try:
        pymysql.connect(host=db.host, port=db.port, user=user, password=password, connect_timeout=5).close()
        return True
    except pymysql.err.OperationalError:
        return False


@pytest.fixture(scope="module")
def maria(openbao: OpenBaoDevServer, mariadb_admin: MariaDBAdmin) -> MariaDBAdmin:
    configure(openbao, "my", mariadb_admin, mariadb_admin.user, mariadb_admin.password)
    openbao.api(
        "POST", "database/roles/docs", {"db_name": "my", "creation_statements": DOCS_CREATE, "default_ttl": "1h"}
    )
    return mariadb_admin


def test_wrong_root_password_fails_the_config_write(openbao, mariadb_admin):
    with pytest.raises(OpenBaoAPIError) as err:
        configure(openbao, "my-wrong", mariadb_admin, mariadb_admin.user, "Wrong-Password-77")
    assert err.value.status == 400 and "Access denied" in str(err.value)
    assert "Wrong-Password-77" not in str(err.value) and mariadb_admin.password not in str(err.value)


def test_docs_role_issues_a_working_user_and_revocation_drops_it(openbao, maria):
    lease = openbao.api("GET", "database/creds/docs")
    user, password = lease["data"]["username"], lease["data"]["password"]
    assert len(user) <= 32 and re.fullmatch(r"v-token-docs-[A-Za-z0-9]{1,20}-?\d*", user)
    with pymysql.connect(host=maria.host, port=maria.port, user=user, password=password) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT CURRENT_USER()")
            assert cur.fetchone()[0] == f"{user}@%"
    openbao.api("PUT", "sys/leases/renew", {"lease_id": lease["lease_id"], "increment": 600})  # documented no-op
    assert can_login(maria, user, password)
    openbao.api("PUT", "sys/leases/revoke", {"lease_id": lease["lease_id"]})
    assert hosts_of(maria, user) == []


def test_default_revocation_removes_the_user_on_every_host(openbao, maria):
    openbao.api(
        "POST",
        "database/roles/local",
        {
            "db_name": "my",
            "creation_statements": "CREATE USER '{{name}}'@'localhost' IDENTIFIED BY '{{password}}';"
            "CREATE USER '{{name}}'@'127.0.0.1' IDENTIFIED BY '{{password}}';",
        },
    )
    lease = openbao.api("GET", "database/creds/local")
    user = lease["data"]["username"]
    assert hosts_of(maria, user) == ["127.0.0.1", "localhost"]
    openbao.api("PUT", "sys/leases/revoke", {"lease_id": lease["lease_id"]})
    assert hosts_of(maria, user) == []


def test_rotate_root_and_static_role(openbao, maria):
    admin, password = f"yamldb_rot_{secrets.token_hex(3)}", secrets.token_urlsafe(16)
    maria.track_prefix(admin)
    with maria.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE USER '{admin}'@'%' IDENTIFIED BY '{password}'")
        cur.execute(f"GRANT ALL PRIVILEGES ON *.* TO '{admin}'@'%' WITH GRANT OPTION")
    configure(openbao, "my-rot", maria, admin, password)
    openbao.api("POST", "database/rotate-root/my-rot", {})
    assert not can_login(maria, admin, password)
    openbao.api("POST", "database/roles/rot-docs", {"db_name": "my-rot", "creation_statements": DOCS_CREATE})
    lease = openbao.api("GET", "database/creds/rot-docs")
    assert can_login(maria, lease["data"]["username"], lease["data"]["password"])
    openbao.api("PUT", "sys/leases/revoke", {"lease_id": lease["lease_id"]})

    static = f"yamldb_st_{secrets.token_hex(3)}"
    maria.track_prefix(static)
    with maria.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE USER '{static}'@'%' IDENTIFIED BY 'initial-pw'")
    openbao.api(
        "POST", "database/static-roles/my-st", {"db_name": "my-rot", "username": static, "rotation_period": "1h"}
    )
    first = openbao.api("GET", "database/static-creds/my-st")["data"]["password"]
    assert can_login(maria, static, first) and not can_login(maria, static, "initial-pw")
    openbao.api("POST", "database/rotate-role/my-st", {})
    second = openbao.api("GET", "database/static-creds/my-st")["data"]["password"]
    assert can_login(maria, static, second) and not can_login(maria, static, first)
    openbao.api("DELETE", "database/static-roles/my-st")
    openbao.api("DELETE", "database/config/my-rot")


def test_same_role_as_the_builtin_plugin(openbao, maria):
    configure(openbao, "my-builtin", maria, maria.user, maria.password, plugin="mysql-database-plugin")
    openbao.api("POST", "database/roles/b-docs", {"db_name": "my-builtin", "creation_statements": DOCS_CREATE})
    ours = openbao.api("GET", "database/creds/docs")
    theirs = openbao.api("GET", "database/creds/b-docs")

    def grants(user: str) -> list[str]:
        with maria.connect() as conn, conn.cursor() as cur:
            cur.execute(f"SHOW GRANTS FOR '{user}'@'%'")
            return [
                re.sub(r"['`]v-token-[^'`]+['`]", "USER", re.sub(r"PASSWORD '[^']+'", "PASSWORD 'H'", r[0]))
                for r in cur.fetchall()
            ]

    try:
        assert grants(ours["data"]["username"]) == grants(theirs["data"]["username"])
        assert all(len(lease["data"]["username"]) <= 32 for lease in (ours, theirs))
    finally:  # never leave users on the shared server, even when the comparison fails
        for lease in (ours, theirs):
            openbao.api("PUT", "sys/leases/revoke", {"lease_id": lease["lease_id"]})
    for lease in (ours, theirs):
        assert hosts_of(maria, lease["data"]["username"]) == []


def test_go_dsn_with_special_characters_in_the_password(openbao, maria):
    """Vault never escapes the MySQL password in the DSN; a password with @ : / must still work."""
    admin, password = f"yamldb_sp_{secrets.token_hex(3)}", "p@ss:w/rd?x=1&y"
    maria.track_prefix(admin)
    with maria.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (admin, password))
        cur.execute(f"GRANT ALL PRIVILEGES ON *.* TO '{admin}'@'%' WITH GRANT OPTION")
    configure(openbao, "my-special", maria, admin, password)
    openbao.api("POST", "database/roles/sp", {"db_name": "my-special", "creation_statements": DOCS_CREATE})
    lease = openbao.api("GET", "database/creds/sp")
    openbao.api("PUT", "sys/leases/revoke", {"lease_id": lease["lease_id"]})
    openbao.api("DELETE", "database/config/my-special")


@pytest.mark.parametrize("plugin", ["yamldb", "mysql-database-plugin"])
def test_go_dsn_without_an_address_connects_to_go_sql_drivers_default(openbao, maria, plugin):
    # "user:password@/dbname" is the first example of go-sql-driver's README: tcp to 127.0.0.1:3306. The
    # built-in plugin takes it; so must yamldb.
    assert (maria.host, maria.port) == ("127.0.0.1", 3306), "this test needs the machine's MariaDB on its default port"
    name = f"my-noaddr-{plugin}"
    configure(
        openbao, name, maria, maria.user, maria.password, plugin=plugin, connection_url="{{username}}:{{password}}@/"
    )
    issue_log_in_revoke(openbao, maria, name, DOCS_CREATE)


@pytest.mark.parametrize("plugin", ["yamldb", "mysql-database-plugin"])
def test_go_dsn_system_variables_apply_to_the_session_as_with_go_sql_driver(openbao, maria, plugin):
    # go-sql-driver sets every DSN option it does not know itself as a session variable (SET key=value);
    # the role's first statement fails ("Subquery returns more than 1 row") unless both are in force.
    name = f"my-vars-{plugin.split('-')[0]}"
    url = f"{dsn(maria)}?wait_timeout=1234&tx_isolation=%27READ-COMMITTED%27"
    configure(openbao, name, maria, maria.user, maria.password, plugin=plugin, connection_url=url)
    check = (
        "SELECT IF(@@SESSION.wait_timeout = 1234 AND @@SESSION.tx_isolation = 'READ-COMMITTED', 1, "
        "(SELECT 1 UNION SELECT 2));"
    )
    issue_log_in_revoke(openbao, maria, name, check + DOCS_CREATE)


def issue_log_in_revoke(bao: OpenBaoDevServer, db: MariaDBAdmin, name: str, creation: str) -> None:
    """On the configured connection `name`: a role of `creation`, one lease that logs in and is revoked; then
    the connection goes."""
    try:
        bao.api("POST", f"database/roles/{name}", {"db_name": name, "creation_statements": creation})
        lease = bao.api("GET", f"database/creds/{name}")
        assert can_login(db, lease["data"]["username"], lease["data"]["password"])
        bao.api("PUT", "sys/leases/revoke", {"lease_id": lease["lease_id"]})
        assert hosts_of(db, lease["data"]["username"]) == []
    finally:
        bao.api("DELETE", f"database/config/{name}")


def test_default_revocation_without_select_on_mysql_user_still_drops_the_user(openbao, maria):
    # The default revocation drops '{{name}}'@'%' first and only then lists the user's other accounts in
    # mysql.user; an admin that may create users but not read mysql.user still revokes.
    admin, password = f"yamldb_ns_{secrets.token_hex(3)}", f"Np-{secrets.token_hex(8)}"
    maria.track_prefix(admin)
    with maria.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (admin, password))
        cur.execute(f"GRANT CREATE USER ON *.* TO '{admin}'@'%'")
    configure(openbao, "my-nosel", maria, admin, password)
    try:
        openbao.api(
            "POST",
            "database/roles/nosel",
            {"db_name": "my-nosel", "creation_statements": "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';"},
        )
        lease = openbao.api("GET", "database/creds/nosel")
        assert hosts_of(maria, lease["data"]["username"]) == ["%"]
        openbao.api("PUT", "sys/leases/revoke", {"lease_id": lease["lease_id"]})
        assert hosts_of(maria, lease["data"]["username"]) == []
    finally:
        openbao.api("DELETE", "database/config/my-nosel")
