"""The devenv harness against real servers.

The built-in ``postgresql-database-plugin`` test doubles as the behaviour yardstick
for our own plugin: same API calls, same expectations.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import sys
import threading
from pathlib import Path

import psycopg
import pymysql
import pytest
from psycopg import sql

from devenv import (
    HarnessUnavailable,
    MariaDBAdmin,
    OpenBaoAPIError,
    OpenBaoCLIError,
    OpenBaoDevServer,
    PostgresCluster,
)
from devenv.ports import free_port, port_open, wait_for_port
from tests.conftest import require
from tests.polling import wait_until

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still "exists"; it is dead for our purposes
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


# ----------------------------------------------------------------- ports


def test_free_port_and_wait_for_port() -> None:
    port = free_port()
    assert 1024 < port < 65536
    assert not port_open("127.0.0.1", port)
    with pytest.raises(TimeoutError):
        wait_for_port("127.0.0.1", port, timeout=0.2)


# ----------------------------------------------------------------- PostgreSQL


def test_scram_cluster_checks_passwords(pg_cluster: PostgresCluster) -> None:
    with pg_cluster.connect() as conn:
        user = conn.execute("select current_user").fetchone()
        assert user == (pg_cluster.superuser,)
        methods = {row[0] for row in conn.execute("select auth_method from pg_hba_file_rules")}
        assert methods == {"scram-sha-256"}
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        pg_cluster.connect(password=pg_cluster.password + "-wrong")


def test_cluster_url_is_percent_encoded(pg_cluster: PostgresCluster) -> None:
    user, password = "yamldb url/user", "p@ss:w/rd%?#&'\" x"
    with pg_cluster.connect() as conn:
        conn.execute(sql.SQL("create role {} login password {}").format(sql.Identifier(user), sql.Literal(password)))
    try:
        url = pg_cluster.url(user, password)
        assert url.startswith("postgresql://yamldb%20url%2Fuser:p%40ss%3Aw%2Frd%25")
        with psycopg.connect(url) as conn:
            assert conn.execute("select current_user").fetchone() == (user,)
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(pg_cluster.url(user, "nope"), connect_timeout=5)
        assert "{{username}}:{{password}}@127.0.0.1:" in pg_cluster.template_url()
    finally:
        with pg_cluster.connect() as conn:
            conn.execute(sql.SQL("drop role {}").format(sql.Identifier(user)))


def test_cluster_stop_removes_everything() -> None:
    try:
        cluster = PostgresCluster.start()
    except HarnessUnavailable as exc:
        require(exc)
    with cluster:
        postmaster = int((cluster.data_dir / "postmaster.pid").read_text().split()[0])
        assert _alive(postmaster)
        assert cluster.socket_dir.is_relative_to(cluster.base_dir)
        # the unix socket lives in the temp dir too
        assert any(cluster.socket_dir.iterdir())
    assert not _alive(postmaster)
    assert not cluster.base_dir.exists()
    assert not port_open(cluster.host, cluster.port)
    cluster.stop()  # idempotent


# ----------------------------------------------------------------- MariaDB


def test_mariadb_admin_can_manage_users(mariadb_admin: MariaDBAdmin) -> None:
    name = "yamldb_hx_" + secrets.token_hex(3)
    with mariadb_admin.connect() as conn, conn.cursor() as cur:
        cur.execute("select current_user()")
        assert cur.fetchone()[0].startswith(mariadb_admin.user + "@")
        cur.execute(f"create user '{name}'@'%' identified by 'pw-{name}'")
        try:
            user_conn = mariadb_admin.connect(name, f"pw-{name}")
            with user_conn, user_conn.cursor() as user_cur:
                user_cur.execute("select current_user()")
                assert user_cur.fetchone()[0] == f"{name}@%"
        finally:
            cur.execute(f"drop user '{name}'@'%'")
    assert mariadb_admin.users_with_prefix(name) == []


def test_mariadb_admin_cleans_up_after_itself() -> None:
    try:
        admin = MariaDBAdmin.start()
    except HarnessUnavailable as exc:
        require(exc)
    prefix = "yamldb_hx_" + secrets.token_hex(3) + "_"
    with admin:
        assert sorted(admin.users_with_prefix(admin.user)) == [
            (admin.user, "%"),
            (admin.user, "localhost"),
        ]
        admin.track_prefix(prefix)
        with admin.connect() as conn, conn.cursor() as cur:
            cur.execute(f"create user '{prefix}a'@'%' identified by 'secret-a'")
            cur.execute(f"create user '{prefix}b'@'localhost' identified by 'secret-b'")
        lingering = admin.connect(f"{prefix}a", "secret-a")  # killed on exit
    assert admin.users_with_prefix(admin.user) == []
    assert admin.users_with_prefix(prefix) == []
    with pytest.raises(pymysql.err.OperationalError):
        admin.connect()
    with pytest.raises(pymysql.err.OperationalError), lingering.cursor() as cur:
        cur.execute("select 1")
    with pytest.raises(ValueError):
        admin.track_prefix("ro")
    with pytest.raises(ValueError):
        admin.track_prefix("yamldb_")  # would match other sessions' admin users


# ----------------------------------------------------------------- OpenBao


def test_openbao_dev_server_api_and_cli(openbao_factory, tmp_plugin_dir: Path) -> None:
    bao = openbao_factory(tmp_plugin_dir)
    health = bao.api("GET", "sys/health")
    assert health["initialized"] is True
    assert health["sealed"] is False

    bao.api("POST", "sys/mounts/database", {"type": "database"})
    assert "database/" in bao.cli("secrets", "list").stdout
    assert "database/" in bao.api("GET", "sys/mounts")["data"]

    with pytest.raises(OpenBaoAPIError) as err:
        bao.api("POST", "sys/mounts/database", {"type": "database"})
    assert err.value.status == 400
    assert any("already in use" in e for e in err.value.errors), err.value.errors

    with pytest.raises(OpenBaoAPIError) as err:
        bao.api("GET", "sys/mounts", token="not-a-token")
    assert err.value.status == 403

    with pytest.raises(OpenBaoCLIError, match="stderr:"):
        bao.cli("secrets", "enable", "-path=database", "database")
    again = bao.cli("secrets", "enable", "-path=database", "database", check=False)
    assert again.returncode == 2
    # dev mode writes ~/.vault-token: it must land in the server's private HOME
    assert (bao.home / ".vault-token").read_text().strip() == bao.token


def test_builtin_postgres_plugin_against_scram_cluster(
    openbao_factory, tmp_plugin_dir: Path, pg_cluster: PostgresCluster
) -> None:
    bao = openbao_factory(tmp_plugin_dir)
    bao.api("POST", "sys/mounts/database", {"type": "database"})
    bao.api(
        "POST",
        "database/config/pg",
        {
            "plugin_name": "postgresql-database-plugin",
            "connection_url": (
                f"postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{pg_cluster.port}/postgres?sslmode=disable"
            ),
            "username": pg_cluster.superuser,
            "password": pg_cluster.password,
            "allowed_roles": "*",
        },
    )
    config = bao.api("GET", "database/config/pg")["data"]
    assert "password" not in config["connection_details"]

    bao.api(
        "POST",
        "database/roles/reader",
        {
            "db_name": "pg",
            "creation_statements": [
                ("CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';")
            ],
            "default_ttl": "1h",
            "max_ttl": "2h",
        },
    )
    creds = bao.api("GET", "database/creds/reader")
    username, password = creds["data"]["username"], creds["data"]["password"]
    assert creds["lease_id"].startswith("database/creds/reader/")
    assert creds["lease_duration"] == 3600

    with pg_cluster.connect(username, password) as conn:
        assert conn.execute("select current_user").fetchone() == (username,)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        pg_cluster.connect(username, password + "x")

    bao.api("PUT", "sys/leases/revoke", {"lease_id": creds["lease_id"]})
    with pg_cluster.connect() as conn:
        gone = conn.execute("select count(*) from pg_roles where rolname = %s", (username,))
        assert gone.fetchone() == (0,)


# A fake plugin that never completes the go-plugin handshake.  OpenBao runs a
# plugin in "metadata mode" when it is registered (and would wait 30 s per
# protocol version for the handshake): exit at once there.  The first real
# start hangs until killed; bao restarts a killed plugin once: exit at once then.
_HANGING_PLUGIN = """#!{python}
import os, sys, time
if os.environ.get("VAULT_PLUGIN_METADATA_MODE") == "true":
    sys.exit(1)
if os.path.exists({marker!r}):
    sys.exit(1)
open({marker!r}, "w").close()
time.sleep(30)
"""


def test_plugin_pids_finds_and_kills_a_plugin_process(openbao_factory, tmp_plugin_dir: Path, tmp_path: Path) -> None:
    bao = openbao_factory(tmp_plugin_dir)
    # registered after startup: dev mode runs every file in plugin_dir at startup
    plugin = tmp_plugin_dir / "hang-plugin"
    marker = str(tmp_path / "started")
    plugin.write_text(_HANGING_PLUGIN.format(python=sys.executable, marker=marker))
    plugin.chmod(0o755)
    sha = hashlib.sha256(plugin.read_bytes()).hexdigest()
    catalog = {"sha256": sha, "command": plugin.name}
    bao.api("POST", "sys/plugins/catalog/database/hang-plugin", catalog)
    bao.api("POST", "sys/mounts/database", {"type": "database"})

    outcome: list[BaseException | None] = []

    def configure() -> None:  # blocks while bao waits for the plugin's handshake
        config = {"plugin_name": "hang-plugin", "allowed_roles": "*"}
        try:
            bao.api("POST", "database/config/hang", config, timeout=20)
        except BaseException as exc:  # reported by the main thread
            outcome.append(exc)
        else:
            outcome.append(None)

    thread = threading.Thread(target=configure, daemon=True)
    thread.start()
    pids = wait_until(lambda: bao.plugin_pids("hang-plugin"), 10)
    assert len(pids) == 1, bao.log_text()[-3000:]
    assert bao.plugin_pids("no-such-plugin") == []
    os.kill(pids[0], signal.SIGKILL)
    thread.join(15)
    assert not thread.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], OpenBaoAPIError), outcome
    assert outcome[0].status == 400
    assert "error creating database object" in outcome[0].errors[0]
    assert not _alive(pids[0])
    assert bao.plugin_pids("hang-plugin") == []


def test_openbao_stop_leaves_no_process(tmp_plugin_dir: Path) -> None:
    try:
        server = OpenBaoDevServer.start(tmp_plugin_dir)
    except HarnessUnavailable as exc:
        require(exc)
    with server:
        pid = server.process.pid
        assert _alive(pid)
        assert server.plugin_pids("no-such-plugin") == []
        assert "core: vault is unsealed" in server.log_text()
    assert not _alive(pid)
    assert not port_open("127.0.0.1", server.port)
    assert not server.base_dir.exists()
    assert "core: vault is sealed" in server.log_text()  # log survives stop()
    server.stop()  # idempotent


def test_openbao_rejects_non_plugin_files(tmp_plugin_dir: Path) -> None:
    (tmp_plugin_dir / "README.txt").write_text("bao -dev would try to run me\n")
    with pytest.raises(ValueError, match="not executable"):
        OpenBaoDevServer.start(tmp_plugin_dir)


def test_host_stand_in_removes_its_forwarder_directory() -> None:
    from devenv.goplugin_host import PluginProcess

    with PluginProcess([sys.executable, "-m", "yamldb.transport.entry"]) as plugin:
        plugin.channel()
        forwarder_dir = Path(plugin._forwarder.dir)
        assert forwarder_dir.is_dir()
    assert not forwarder_dir.exists()
