"""One exception tree, and the one place that turns an error into a gRPC status (issue 12 item 6).

The servicer runs in-process on a unix socket and is called through a real grpc channel.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from google.protobuf import struct_pb2

import yamldb
from yamldb.engine.executor import StepFailed
from yamldb.errors import (
    ConfigError,
    DatabaseError,
    ManifestError,
    NotFoundError,
    RequestError,
    TemplateError,
    YamldbError,
)
from yamldb.lifecycle.instances import Instances, UnknownInstance
from yamldb.templates.plan import PlanError
from yamldb.transport.pb import database_pb2 as db
from yamldb.transport.pb import health_pb2 as health
from yamldb.transport.services import DatabaseServicer, GoPluginServices
from yamldb.transport.status import status_code

# Generated protobuf modules define no errors; __main__ modules run when imported.
MODULES = [
    info.name
    for info in pkgutil.walk_packages(yamldb.__path__, "yamldb.")
    if ".pb." not in info.name and not info.name.endswith("__main__")
]


def _exceptions_defined_in(module_name: str) -> list[type[BaseException]]:
    module = importlib.import_module(module_name)
    return [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, BaseException) and cls.__module__ == module_name
    ]


@pytest.mark.parametrize("module_name", MODULES)
def test_every_error_yamldb_defines_derives_from_yamldb_error(module_name: str) -> None:
    strays = [cls.__qualname__ for cls in _exceptions_defined_in(module_name) if not issubclass(cls, YamldbError)]
    assert not strays, f"{module_name} defines errors outside the YamldbError tree: {strays}"


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigError("bad key"), grpc.StatusCode.INVALID_ARGUMENT),
        (RequestError("no username provided"), grpc.StatusCode.INVALID_ARGUMENT),
        (NotFoundError("unknown service"), grpc.StatusCode.NOT_FOUND),
        (ManifestError("broken"), grpc.StatusCode.INTERNAL),
        (TemplateError("bad"), grpc.StatusCode.INTERNAL),
        (PlanError("bad"), grpc.StatusCode.INTERNAL),
        (DatabaseError("refused"), grpc.StatusCode.INTERNAL),
        (StepFailed("create statement 1 failed", "x", 1), grpc.StatusCode.INTERNAL),
        (UnknownInstance("no database instance found"), grpc.StatusCode.INTERNAL),
        (ValueError("anything"), grpc.StatusCode.INTERNAL),
    ],
)
def test_status_codes(error: BaseException, code: grpc.StatusCode) -> None:
    assert status_code(error) is code


# -- through a real channel ------------------------------------------------------------------------


class _Exploding:
    """An instance whose every call fails unexpectedly, quoting a secret."""

    def initialize(self, raw: object, verify: bool) -> dict:
        raise RuntimeError("password=Hunter2-secret")


@pytest.fixture
def channel(tmp_path: Path) -> Iterator[grpc.Channel]:
    def factory() -> object:
        return _Exploding()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers([DatabaseServicer(Instances(factory)).handler()])  # type: ignore[arg-type]
    server.add_generic_rpc_handlers(GoPluginServices(threading.Event(), "v0").handlers())
    address = f"unix:{tmp_path}/plugin.sock"
    server.add_insecure_port(address)
    server.start()
    with grpc.insecure_channel(address) as chan:
        yield chan
    server.stop(None)


def _call(channel: grpc.Channel, method: str, request, response_cls, metadata=(("multiplex_id", "a"),)):
    stub = channel.unary_unary(
        method, request_serializer=type(request).SerializeToString, response_deserializer=response_cls.FromString
    )
    with pytest.raises(grpc.RpcError) as err:
        stub(request, timeout=10, metadata=metadata)
    return err.value.code(), err.value.details()


def test_requests_lacking_a_field_are_invalid_argument_with_go_s_bare_message(channel: grpc.Channel) -> None:
    new_user = "/dbplugin.v5.Database/NewUser"
    assert _call(channel, new_user, db.NewUserRequest(), db.NewUserResponse) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "missing username config",
    )
    assert _call(channel, "/dbplugin.v5.Database/DeleteUser", db.DeleteUserRequest(), db.DeleteUserResponse) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "no username provided",
    )
    assert _call(
        channel, "/dbplugin.v5.Database/UpdateUser", db.UpdateUserRequest(username="u"), db.UpdateUserResponse
    ) == (grpc.StatusCode.INVALID_ARGUMENT, "update user request has no changes")


def test_two_multiplex_ids_are_invalid_argument(channel: grpc.Channel) -> None:
    # Before the mapping moved to one place this became "internal error (Exception)".
    assert _call(
        channel,
        "/dbplugin.v5.Database/Initialize",
        db.InitializeRequest(config_data=struct_pb2.Struct()),
        db.InitializeResponse,
        metadata=(("multiplex_id", "a"), ("multiplex_id", "b")),
    ) == (grpc.StatusCode.INVALID_ARGUMENT, "unexpected number of IDs in metadata")


def test_a_call_before_initialize_is_internal_with_the_operation_prefix(channel: grpc.Channel) -> None:
    request = db.NewUserRequest(username_config=db.UsernameConfig(display_name="t", role_name="r"))
    assert _call(channel, "/dbplugin.v5.Database/NewUser", request, db.NewUserResponse) == (
        grpc.StatusCode.INTERNAL,
        "unable to create new user: no database instance found (the host must call Initialize first)",
    )


def test_an_unexpected_error_shows_only_its_type(channel: grpc.Channel) -> None:
    code, details = _call(
        channel,
        "/dbplugin.v5.Database/Initialize",
        db.InitializeRequest(config_data=struct_pb2.Struct()),
        db.InitializeResponse,
    )
    assert code == grpc.StatusCode.INTERNAL
    assert details == "failed to initialize: internal error (RuntimeError); see the plugin log"


def test_an_unknown_health_service_is_not_found(channel: grpc.Channel) -> None:
    assert _call(
        channel, "/grpc.health.v1.Health/Check", health.HealthCheckRequest(service="other"), health.HealthCheckResponse
    ) == (grpc.StatusCode.NOT_FOUND, "unknown service 'other'")
