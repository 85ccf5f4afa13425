"""A statement that hangs is cancelled in the database when the host's gRPC deadline passes (issue 7)."""

from __future__ import annotations

import sys
import time

import grpc
import pytest
from google.protobuf import struct_pb2, timestamp_pb2

from devenv import MariaDBAdmin, PostgresCluster
from devenv.goplugin_host import PluginProcess
from tests.polling import wait_until
from yamldb.transport.pb import database_pb2 as db

PLUGIN = [sys.executable, "-m", "yamldb.transport.entry"]


def rpc(channel: grpc.Channel, name: str, request, response_cls, timeout: float, mid: str = "dl"):
    return channel.unary_unary(
        f"/dbplugin.v5.Database/{name}",
        request_serializer=type(request).SerializeToString,
        response_deserializer=response_cls.FromString,
    )(request, timeout=timeout, metadata=[("multiplex_id", mid)])


def initialize(channel: grpc.Channel, config: dict) -> None:
    data = struct_pb2.Struct()
    data.update(config)
    rpc(
        channel,
        "Initialize",
        db.InitializeRequest(config_data=data, verify_connection=True),
        db.InitializeResponse,
        timeout=30,
    )


def hanging_new_user(channel: grpc.Channel, statement: str) -> grpc.RpcError:
    expiration = timestamp_pb2.Timestamp()
    expiration.FromSeconds(int(time.time()) + 3600)
    request = db.NewUserRequest(
        username_config=db.UsernameConfig(display_name="token", role_name="hang"),
        password="Pw-1234567890abc",
        expiration=expiration,
        statements=db.Statements(Commands=[statement]),
    )
    with pytest.raises(grpc.RpcError) as err:
        rpc(channel, "NewUser", request, db.NewUserResponse, timeout=2)
    return err.value


def test_postgresql_statement_is_cancelled_at_the_deadline(pg_cluster: PostgresCluster):
    with PluginProcess(PLUGIN) as plugin:
        channel = plugin.channel()
        initialize(
            channel,
            {
                "manifest": "postgresql",
                "connection_url": pg_cluster.template_url(),
                "username": pg_cluster.superuser,
                "password": pg_cluster.password,
            },
        )
        error = hanging_new_user(channel, "SELECT pg_sleep(120) /* yamldb-deadline-test */")
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED

        def sleeping() -> int:
            with pg_cluster.connect() as conn:
                return conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
                    "'%yamldb-deadline-test%' AND pid <> pg_backend_pid()"
                ).fetchone()[0]

        assert wait_until(lambda: sleeping() == 0, 10), "the statement kept running after the deadline"
        # The plugin logs after the cancel returns; a thread of the test host reads its stderr.
        assert wait_until(lambda: any("deadline passed" in line for line in plugin.stderr_lines), 5)
        # The plugin is still healthy and the connection pool usable.
        rpc(channel, "DeleteUser", db.DeleteUserRequest(username="nobody-here"), db.DeleteUserResponse, 10)


def test_mariadb_statement_is_cancelled_at_the_deadline(mariadb_admin: MariaDBAdmin):
    with PluginProcess(PLUGIN) as plugin:
        channel = plugin.channel()
        url = f"{{{{username}}}}:{{{{password}}}}@tcp(127.0.0.1:{mariadb_admin.port})/"
        initialize(
            channel,
            {
                "manifest": "mysql",
                "username": mariadb_admin.user,
                "password": mariadb_admin.password,
                "connection_url": url,
            },
        )
        error = hanging_new_user(channel, "SELECT SLEEP(120) /* yamldb-deadline-test */")
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED

        def sleeping() -> int:
            with mariadb_admin.connect() as conn, conn.cursor() as cur:
                cur.execute(
                    "SELECT count(*) FROM information_schema.processlist WHERE info LIKE "
                    "'%yamldb-deadline-test%' AND id <> CONNECTION_ID()"
                )
                return cur.fetchone()[0]

        assert wait_until(lambda: sleeping() == 0, 10), "the statement kept running after the deadline"
        rpc(channel, "DeleteUser", db.DeleteUserRequest(username="nobody-here"), db.DeleteUserResponse, 10)
