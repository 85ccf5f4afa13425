"""gRPC servicers: translate protobuf to lifecycle objects and back, nothing more.

Handlers are registered with grpcio's generic-handler API against the message
classes generated from protos/*.proto, so no generated stub code is needed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timezone
from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format, struct_pb2

from yamldb.errors import NotFoundError, RequestError
from yamldb.lifecycle import requests as rq
from yamldb.lifecycle.instances import Instances
from yamldb.transport.pb import (
    database_pb2 as db,
)
from yamldb.transport.pb import (
    goplugin_pb2 as gp,
)
from yamldb.transport.pb import (
    health_pb2 as health,
)
from yamldb.transport.pb import (
    multiplexing_pb2 as mux,
)
from yamldb.transport.pb import (
    version_pb2 as version,
)
from yamldb.transport.status import abort

__all__ = [
    "DEFAULT_INSTANCE",
    "MULTIPLEX_KEY",
    "DatabaseServicer",
    "GoPluginServices",
    "deadline_from",
    "dict_to_struct",
    "struct_to_dict",
]

log = logging.getLogger("yamldb.transport")

MULTIPLEX_KEY = "multiplex_id"
# Hosts older than multiplexing (Vault < 1.12) send no id; they get one instance per process.
DEFAULT_INSTANCE = ""


def _unary(fn: Callable, req_cls: Any, resp_cls: Any) -> grpc.RpcMethodHandler:
    return grpc.unary_unary_rpc_method_handler(
        fn, request_deserializer=req_cls.FromString, response_serializer=resp_cls.SerializeToString
    )


# Hosts that set no deadline show up as an effectively infinite time_remaining().
_NO_DEADLINE_BEYOND = 86400.0


def deadline_from(remaining: float | None) -> float | None:
    """A time.monotonic() deadline from grpc's time_remaining(), or None when there is none."""
    if remaining is None or remaining > _NO_DEADLINE_BEYOND:
        return None
    return time.monotonic() + max(remaining, 0.0)


def _deadline(context: grpc.ServicerContext) -> float | None:
    return deadline_from(context.time_remaining())


def _statements(msg: db.Statements | None) -> tuple[str, ...]:
    return tuple(msg.Commands) if msg is not None else ()


def _timestamp(msg: Any, field: str):
    if not msg.HasField(field):
        return None
    return getattr(msg, field).ToDatetime(tzinfo=timezone.utc)


def struct_to_dict(value: struct_pb2.Struct) -> dict[str, Any]:
    data = json_format.MessageToDict(value)
    # Like the Go SDK: whole-number floats at the top level become ints.
    return {k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in data.items()}


def dict_to_struct(data: dict[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(data)
    return out


class DatabaseServicer:
    """dbplugin.v5.Database, routed to lifecycle instances by the multiplex id."""

    SERVICE = "dbplugin.v5.Database"

    def __init__(self, instances: Instances) -> None:
        self.instances = instances

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            self.SERVICE,
            {
                "Initialize": _unary(self.Initialize, db.InitializeRequest, db.InitializeResponse),
                "NewUser": _unary(self.NewUser, db.NewUserRequest, db.NewUserResponse),
                "UpdateUser": _unary(self.UpdateUser, db.UpdateUserRequest, db.UpdateUserResponse),
                "DeleteUser": _unary(self.DeleteUser, db.DeleteUserRequest, db.DeleteUserResponse),
                "Type": _unary(self.Type, db.Empty, db.TypeResponse),
                "Close": _unary(self.Close, db.Empty, db.Empty),
            },
        )

    @staticmethod
    def _id(context: grpc.ServicerContext) -> str:
        values = [v for k, v in context.invocation_metadata() if k == MULTIPLEX_KEY]
        if len(values) > 1:
            raise RequestError("unexpected number of IDs in metadata")
        return values[0] if values else DEFAULT_INSTANCE

    def Initialize(self, request: db.InitializeRequest, context: grpc.ServicerContext) -> db.InitializeResponse:
        try:
            instance = self.instances.get_or_create(self._id(context))
            config = instance.initialize(struct_to_dict(request.config_data), request.verify_connection)
            return db.InitializeResponse(config_data=dict_to_struct(config))
        except Exception as exc:
            abort(context, exc, "failed to initialize")

    def NewUser(self, request: db.NewUserRequest, context: grpc.ServicerContext) -> db.NewUserResponse:
        try:
            if not request.HasField("username_config"):
                raise RequestError("missing username config")
            instance = self.instances.get(self._id(context))
            username = instance.new_user(
                rq.NewUser(
                    display_name=request.username_config.display_name,
                    role_name=request.username_config.role_name,
                    expiration=_timestamp(request, "expiration"),
                    statements=_statements(request.statements),
                    rollback_statements=_statements(request.rollback_statements),
                    credential_type=rq.CredentialType(request.credential_type),
                    password=request.password,
                    public_key=request.public_key.decode("utf-8", "replace"),
                    subject=request.subject,
                    deadline=_deadline(context),
                )
            )
            return db.NewUserResponse(username=username)
        except Exception as exc:
            abort(context, exc, "unable to create new user")

    def UpdateUser(self, request: db.UpdateUserRequest, context: grpc.ServicerContext) -> db.UpdateUserResponse:
        try:
            if not request.username:
                raise RequestError("no username provided")
            change = rq.UpdateUser(
                username=request.username,
                credential_type=rq.CredentialType(request.credential_type),
                deadline=_deadline(context),
                password=rq.PasswordChange(request.password.new_password, _statements(request.password.statements))
                if request.HasField("password") and request.password.new_password
                else None,
                public_key=rq.PublicKeyChange(
                    request.public_key.new_public_key.decode("utf-8", "replace"),
                    _statements(request.public_key.statements),
                )
                if request.HasField("public_key") and request.public_key.new_public_key
                else None,
                expiration=rq.ExpirationChange(
                    _timestamp(request.expiration, "new_expiration"), _statements(request.expiration.statements)
                )
                if request.HasField("expiration") and request.expiration.HasField("new_expiration")
                else None,
            )
            if change.password is None and change.public_key is None and change.expiration is None:
                raise RequestError("update user request has no changes")
            self.instances.get(self._id(context)).update_user(change)
            return db.UpdateUserResponse()
        except Exception as exc:
            abort(context, exc, "unable to update user")

    def DeleteUser(self, request: db.DeleteUserRequest, context: grpc.ServicerContext) -> db.DeleteUserResponse:
        try:
            if not request.username:
                raise RequestError("no username provided")
            self.instances.get(self._id(context)).delete_user(
                rq.DeleteUser(
                    username=request.username,
                    statements=_statements(request.statements),
                    deadline=_deadline(context),
                )
            )
            return db.DeleteUserResponse()
        except Exception as exc:
            abort(context, exc, "unable to delete user")

    def Type(self, request: db.Empty, context: grpc.ServicerContext) -> db.TypeResponse:
        return db.TypeResponse(Type=self.instances.type_name)

    def Close(self, request: db.Empty, context: grpc.ServicerContext) -> db.Empty:
        try:
            self.instances.close(self._id(context))
            return db.Empty()
        except Exception as exc:
            abort(context, exc, "unable to close database plugin")


class GoPluginServices:
    """go-plugin's own services: health, controller, stdio, broker; plus version and multiplexing."""

    def __init__(self, shutdown: threading.Event, plugin_version: str) -> None:
        self.shutdown = shutdown
        self.plugin_version = plugin_version

    def handlers(self) -> list[grpc.GenericRpcHandler]:
        return [
            grpc.method_handlers_generic_handler(
                "grpc.health.v1.Health",
                {
                    "Check": _unary(self.check, health.HealthCheckRequest, health.HealthCheckResponse),
                },
            ),
            grpc.method_handlers_generic_handler(
                "plugin.GRPCController",
                {
                    "Shutdown": _unary(self.shutdown_rpc, gp.Empty, gp.Empty),
                },
            ),
            grpc.method_handlers_generic_handler(
                "plugin.GRPCStdio",
                {
                    "StreamStdio": grpc.unary_stream_rpc_method_handler(
                        self.stream_stdio,
                        request_deserializer=empty_pb2.Empty.FromString,
                        response_serializer=gp.StdioData.SerializeToString,
                    ),
                },
            ),
            grpc.method_handlers_generic_handler(
                "plugin.GRPCBroker",
                {
                    "StartStream": grpc.stream_stream_rpc_method_handler(
                        self.start_stream,
                        request_deserializer=gp.ConnInfo.FromString,
                        response_serializer=gp.ConnInfo.SerializeToString,
                    ),
                },
            ),
            grpc.method_handlers_generic_handler(
                "logical.PluginVersion",
                {
                    "Version": _unary(self.version, version.Empty, version.VersionReply),
                },
            ),
            grpc.method_handlers_generic_handler(
                "pluginutil.multiplexing.PluginMultiplexing",
                {
                    "MultiplexingSupport": _unary(
                        self.multiplexing, mux.MultiplexingSupportRequest, mux.MultiplexingSupportResponse
                    ),
                },
            ),
        ]

    def check(self, request: health.HealthCheckRequest, context: grpc.ServicerContext) -> health.HealthCheckResponse:
        if request.service in ("plugin", ""):
            return health.HealthCheckResponse(status=health.HealthCheckResponse.SERVING)
        abort(context, NotFoundError(f"unknown service {request.service!r}"), "health check")

    def shutdown_rpc(self, request: gp.Empty, context: grpc.ServicerContext) -> gp.Empty:
        # Reply first; the process owner sees the event and stops the server.
        log.debug("shutdown requested by the host")
        self.shutdown.set()
        return gp.Empty()

    def _hold_open(self, context: grpc.ServicerContext) -> None:
        # The host keeps these streams open for the plugin's life; nothing is ever sent.
        ended = threading.Event()
        context.add_callback(ended.set)
        while not ended.wait(0.1):
            if self.shutdown.is_set() or not context.is_active():
                return

    def stream_stdio(self, request: empty_pb2.Empty, context: grpc.ServicerContext) -> Iterator[gp.StdioData]:
        self._hold_open(context)
        yield from ()

    def start_stream(self, requests: Iterator[gp.ConnInfo], context: grpc.ServicerContext) -> Iterator[gp.ConnInfo]:
        self._hold_open(context)
        yield from ()

    def version(self, request: version.Empty, context: grpc.ServicerContext) -> version.VersionReply:
        return version.VersionReply(plugin_version=self.plugin_version)

    def multiplexing(
        self, request: mux.MultiplexingSupportRequest, context: grpc.ServicerContext
    ) -> mux.MultiplexingSupportResponse:
        return mux.MultiplexingSupportResponse(supported=True)
