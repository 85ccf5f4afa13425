"""The prebuilt plugin inside a real OpenBao, issuing real PostgreSQL credentials (issue 2)."""

from __future__ import annotations

import os
import signal

import psycopg
import pytest

from devenv import OpenBaoAPIError, OpenBaoDevServer, PostgresCluster
from tests.polling import wait_until

CREATE = (
    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; "
    'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}";'
)


def configure(
    bao: OpenBaoDevServer,
    pg: PostgresCluster,
    name: str,
    password: str | None = None,
    expect=(200, 204),
    plugin: str = "yamldb",
    **extra: str,
) -> dict:
    body = {
        "plugin_name": plugin,
        "connection_url": f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{pg.port}/postgres",
        "username": pg.superuser,
        "password": pg.password if password is None else password,
        "allowed_roles": "*",
        **({"manifest": "postgresql"} if plugin == "yamldb" else {}),
        **extra,
    }
    return bao.api("POST", f"database/config/{name}", body, expect=expect)


def role_exists(pg: PostgresCluster, username: str) -> bool:
    with pg.connect() as conn:
        return conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (username,)).fetchone()[0] == 1


def config_error(bao: OpenBaoDevServer, pg: PostgresCluster, name: str, **extra: str) -> str:
    with pytest.raises(OpenBaoAPIError) as err:
        configure(bao, pg, name, **extra)
    assert err.value.status == 400
    return str(err.value)


@pytest.fixture(scope="module")
def pg_config(openbao: OpenBaoDevServer, pg_cluster: PostgresCluster) -> str:
    configure(openbao, pg_cluster, "pg")
    openbao.api(
        "POST",
        "database/roles/reader",
        {"db_name": "pg", "creation_statements": CREATE, "default_ttl": "1h", "max_ttl": "24h"},
    )
    return "pg"


def test_build_output_names_the_register_command(built_plugin):
    assert f"-sha256={built_plugin.sha256}" in built_plugin.output
    assert 'plugin "database" "yamldb"' in built_plugin.output


def test_config_write_connects_and_a_wrong_password_fails_clearly(openbao, pg_cluster):
    message = config_error(openbao, pg_cluster, "pg-wrong", password="Not-The-Password-42")
    assert "password authentication failed" in message
    assert "Not-The-Password-42" not in message and pg_cluster.password not in message


def test_creds_log_in_and_revocation_removes_the_role(openbao, pg_cluster, pg_config):
    lease = openbao.api("GET", "database/creds/reader")
    username, password = lease["data"]["username"], lease["data"]["password"]
    assert username.startswith("v-token-reader-")
    with psycopg.connect(
        host="127.0.0.1", port=pg_cluster.port, user=username, password=password, dbname="postgres"
    ) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == username
    # The role gives no revocation statements: the manifest's revocation runs.
    openbao.cli("lease", "revoke", "-sync", lease["lease_id"])
    assert not role_exists(pg_cluster, username)


def test_login_with_a_wrong_password_is_refused(openbao, pg_cluster, pg_config):
    # The cluster really checks passwords (scram-sha-256), so the login above proves the credential.
    lease = openbao.api("GET", "database/creds/reader")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(
            host="127.0.0.1", port=pg_cluster.port, user=lease["data"]["username"], password="wrong", dbname="postgres"
        ).close()
    openbao.cli("lease", "revoke", "-sync", lease["lease_id"])


def test_the_host_respawns_a_killed_plugin(openbao, pg_cluster, pg_config):
    openbao.api("GET", "database/creds/reader")
    pids = openbao.plugin_pids("yamldb-database-plugin")
    assert pids
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: set(openbao.plugin_pids("yamldb-database-plugin")).isdisjoint(pids), 10)
    # OpenBao answers the first request after the death with "plugin shutdown" and drops
    # its client; the next request spawns a new process.
    errors = []

    def attempt() -> dict | None:
        try:
            return openbao.api("GET", "database/creds/reader")
        except OpenBaoAPIError as exc:
            errors.append(str(exc))
            return None

    lease = wait_until(attempt, 10, interval=0.2)
    assert lease, f"no credentials after the kill: {errors}"
    assert all("plugin shutdown" in e or "Unavailable" in e for e in errors), errors
    assert role_exists(pg_cluster, lease["data"]["username"])
    assert set(openbao.plugin_pids("yamldb-database-plugin")).isdisjoint(pids)
    openbao.cli("lease", "revoke", "-sync", lease["lease_id"])


def test_invalid_manifest_fails_the_config_write_with_its_location(openbao, pg_cluster):
    message = config_error(openbao, pg_cluster, "pg-broken", manifest="broken")
    assert "broken.yaml:3:1" in message and 'unknown key "statments"' in message
    assert 'did you mean "statements"' in message


def test_unknown_manifest_lists_the_available_ones(openbao, pg_cluster):
    message = config_error(openbao, pg_cluster, "pg-unknown", manifest="postgress")
    assert "unknown manifest 'postgress'" in message and "postgresql" in message


def test_manifest_names_cannot_be_paths(openbao, pg_cluster):
    message = config_error(openbao, pg_cluster, "pg-path", manifest="../../etc/passwd")
    assert "not a path" in message


def test_unreachable_database_is_a_clear_error(openbao, pg_cluster):
    from devenv.ports import free_port

    port = free_port()
    message = config_error(
        openbao,
        pg_cluster,
        "pg-down",
        connection_url=f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{port}/postgres",
    )
    assert f"127.0.0.1:{port}" in message and "refused" in message.lower()
    assert pg_cluster.password not in message


def test_no_secret_reaches_any_log_line_or_error(openbao, pg_cluster, pg_config):
    """Failing and succeeding runs; then neither OpenBao's log (which carries the plugin's stderr) nor
    the replies contain a password."""
    secrets = {pg_cluster.password, "Not-The-Password-42"}
    lease = openbao.api("GET", "database/creds/reader")
    secrets.add(lease["data"]["password"])
    openbao.api(
        "POST",
        "database/roles/bad",
        {
            "db_name": "pg",
            "creation_statements": "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' NOSUCHOPTION;",
        },
    )
    with pytest.raises(OpenBaoAPIError) as err:
        openbao.api("GET", "database/creds/bad")
    assert "unable to create new user" in str(err.value)
    openbao.cli("lease", "revoke", "-sync", lease["lease_id"])
    replies = str(err.value)
    log = openbao.log_text()
    assert "yamldb-database-plugin" in log  # the plugin's own lines are there
    assert "Traceback" not in log and "Error:" not in log.replace("error:", "")  # no Python traceback, ever
    for secret in secrets:
        assert secret not in log
        assert secret not in replies


def test_a_password_written_into_connection_url_is_redacted_everywhere(openbao, pg_cluster):
    literal = f"postgresql://{pg_cluster.superuser}:{pg_cluster.password}@127.0.0.1:{pg_cluster.port}/nosuchdb"
    with pytest.raises(OpenBaoAPIError) as err:
        openbao.api(
            "POST",
            "database/config/pg-literal",
            {"plugin_name": "yamldb", "manifest": "postgresql", "connection_url": literal, "allowed_roles": "*"},
        )
    assert 'database "nosuchdb" does not exist' in str(err.value)
    assert "://***@127.0.0.1" in str(err.value)  # the whole user information masked, the user name too
    assert pg_cluster.password not in str(err.value)
    assert pg_cluster.password not in openbao.log_text()


def test_a_dropped_database_gives_clear_errors_without_secrets(openbao, pg_cluster):
    with pg_cluster.connect() as conn:
        conn.execute("CREATE DATABASE doomed")
    url = f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{pg_cluster.port}/doomed"
    configure(openbao, pg_cluster, "pg-doomed", connection_url=url)
    openbao.api("POST", "database/roles/doomed", {"db_name": "pg-doomed", "creation_statements": CREATE})
    lease = openbao.api("GET", "database/creds/doomed")
    with pg_cluster.connect() as conn:
        conn.execute("DROP DATABASE doomed WITH (FORCE)")
    with pytest.raises(OpenBaoAPIError) as err:
        openbao.api("GET", "database/creds/doomed")
    assert 'database "doomed" does not exist' in str(err.value)
    for secret in (pg_cluster.password, lease["data"]["password"]):
        assert secret not in str(err.value) and secret not in openbao.log_text()
    assert "Traceback" not in openbao.log_text()
    openbao.api("PUT", "sys/leases/revoke-force/database/creds/doomed", {})


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ('{{ printf "%9999999s" "" }}', "error calling printf: width 9999999 is too large"),
        ("{{ random 1000000000 }}", "error calling random: length must be <= 65536"),
        (
            '{{ replace "" (printf "%1000000s" "") (printf "%1000000s" "") }}',
            "error calling printf: result is too large",
        ),
    ],
)
def test_a_username_template_that_would_exhaust_memory_is_refused(openbao, pg_cluster, pg_config, template, message):
    error = config_error(openbao, pg_cluster, "pg-huge-names", username_template=template)
    assert message in error
    assert "MemoryError" not in error and "internal error" not in error
    lease = openbao.api("GET", "database/creds/reader")  # the plugin keeps serving
    assert role_exists(pg_cluster, lease["data"]["username"])
    openbao.cli("lease", "revoke", "-sync", lease["lease_id"])


@pytest.mark.parametrize("plugin", ["yamldb", "postgresql-database-plugin"])
def test_server_parameters_in_the_url_apply_to_the_session_as_with_pgx(openbao, pg_cluster, plugin):
    # pgx (the built-in plugin's driver) sends every URL key libpq does not know to the server as a run-time
    # parameter; libpq refused them ("invalid connection option"). Here search_path decides where the role's
    # CREATE TABLE lands, and statement_timeout is checked by the statement itself.
    schema = f"yt_sp_{plugin.split('-')[0]}"
    with pg_cluster.connect() as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute(f"CREATE SCHEMA {schema}")
    name = f"pg-params-{plugin.split('-')[0]}"
    query = f"sslmode=disable&search_path={schema}%2C%20public&statement_timeout=4321&statement_cache_capacity=0"
    url = f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{pg_cluster.port}/postgres?{query}"
    configure(openbao, pg_cluster, name, plugin=plugin, connection_url=url)
    create = (
        'CREATE ROLE "{{name}}"; CREATE TABLE "{{name}}" (x int); '
        "DO $$ BEGIN IF current_setting('statement_timeout') <> '4321ms' THEN RAISE 'timeout not set'; END IF; END $$;"
    )
    revoke = 'DROP TABLE "{{name}}"; DROP ROLE "{{name}}";'
    try:
        openbao.api(
            "POST",
            f"database/roles/{name}",
            {"db_name": name, "creation_statements": create, "revocation_statements": revoke},
        )
        lease = openbao.api("GET", f"database/creds/{name}")
        user = lease["data"]["username"]
        with pg_cluster.connect() as conn:
            row = conn.execute("SELECT table_schema FROM information_schema.tables WHERE table_name = %s", (user,))
            assert row.fetchall() == [(schema,)]
        openbao.api("PUT", "sys/leases/revoke", {"lease_id": lease["lease_id"]})
        assert not role_exists(pg_cluster, user)
    finally:
        openbao.api("DELETE", f"database/config/{name}")
        with pg_cluster.connect() as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
