"""The go-plugin contract, clause by clause (shared/reference/plugin-protocol.md §1-§6, §10).

The plugin runs as a real process launched the way go-plugin launches it, with a
P-521 host certificate like go-plugin's AutoMTLS one.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from cryptography import x509

import yamldb
from devenv.goplugin_host import COOKIE, PluginProcess, make_host_cert, tls_connect
from tests.polling import holds_for, wait_until
from yamldb.transport.pb import database_pb2 as db
from yamldb.transport.pb import goplugin_pb2 as gp
from yamldb.transport.pb import health_pb2 as health
from yamldb.transport.pb import multiplexing_pb2 as mux
from yamldb.transport.pb import version_pb2 as version

PLUGIN = [sys.executable, "-m", "yamldb.transport.entry"]
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes.fromhex("000000040000000000")


def call(channel: grpc.Channel, method: str, request, response_cls, timeout: float = 5.0):
    stub = channel.unary_unary(
        method, request_serializer=type(request).SerializeToString, response_deserializer=response_cls.FromString
    )
    return stub(request, timeout=timeout)


def run_without_host(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PLUGIN_", "VAULT_"))}
    return subprocess.run(
        PLUGIN, env={**clean, **env}, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
    )


@pytest.fixture
def plugin():
    with PluginProcess(PLUGIN) as process:
        yield process


def h2_server_settings(sock: ssl.SSLSocket) -> bool:
    """True when the server answers the HTTP/2 preface with a SETTINGS frame."""
    try:
        sock.sendall(H2_PREFACE)
        header = sock.recv(9)
    except (ssl.SSLError, OSError):
        return False
    return len(header) == 9 and header[3] == 0x04


# -- §1.2 launch checks -------------------------------------------------------------------------


def test_missing_magic_cookie_exits_1_with_message_and_no_stdout():
    result = run_without_host({})
    assert result.returncode == 1
    assert "This binary is a plugin" in result.stderr
    assert result.stdout == ""


def test_wrong_magic_cookie_is_refused():
    result = run_without_host(
        {COOKIE[0]: "nope", "PLUGIN_PROTOCOL_VERSIONS": "5,6", "PLUGIN_CLIENT_CERT": make_host_cert().cert_pem.decode()}
    )
    assert result.returncode == 1 and result.stdout == ""


def test_v4_fallback_launch_is_refused_with_a_reason():
    result = run_without_host(
        {
            COOKIE[0]: COOKIE[1],
            "PLUGIN_PROTOCOL_VERSIONS": "3,4",
            "PLUGIN_CLIENT_CERT": make_host_cert().cert_pem.decode(),
        }
    )
    assert result.returncode == 1
    assert "[3, 4]" in result.stderr and result.stdout == ""


def test_no_automtls_certificate_is_refused():
    result = run_without_host({COOKIE[0]: COOKIE[1], "PLUGIN_PROTOCOL_VERSIONS": "5,6"})
    assert result.returncode == 1
    assert "PLUGIN_CLIENT_CERT" in result.stderr


@pytest.mark.parametrize(("offered", "expected"), [("5,6", 6), ("6,5", 6), ("5", 5), ("6", 6), ("4,5", 5)])
def test_version_negotiation_picks_the_highest_offered(offered, expected):
    with PluginProcess(PLUGIN, versions=offered) as process:
        assert process.handshake.version == expected


# -- §1.3 handshake line ------------------------------------------------------------------------


def test_handshake_line_fields(plugin):
    parts = plugin.handshake_line.rstrip("\n").split("|")
    assert len(parts) == 6  # no 7th field: PLUGIN_MULTIPLEX_GRPC was not set
    assert parts[0] == "1" and parts[2] == "unix" and parts[4] == "grpc"
    assert re.fullmatch(r"[A-Za-z0-9+/]+", parts[5]), "cert must be RawStdEncoding (no padding, std alphabet)"
    cert = x509.load_der_x509_certificate(plugin.handshake.server_cert_der)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert cert.not_valid_before_utc.timestamp() < time.time()


def test_socket_lives_in_a_private_directory(plugin):
    path = Path(plugin.handshake.address)
    assert stat.S_ISSOCK(path.stat().st_mode)
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert path.parent.stat().st_uid == os.getuid()


# -- §2 AutoMTLS ---------------------------------------------------------------------------------


def test_pinned_host_certificate_gets_http2_over_tls13(plugin):
    with tls_connect(plugin.handshake, plugin.cert) as sock:
        assert sock.version() == "TLSv1.3"
        assert sock.selected_alpn_protocol() == "h2"
        assert h2_server_settings(sock)


def test_client_without_certificate_is_refused(plugin):
    try:
        sock = tls_connect(plugin.handshake, None)
    except (ssl.SSLError, OSError):
        return  # refused during the handshake
    with sock:
        assert not h2_server_settings(sock)


def test_client_with_another_certificate_is_refused(plugin):
    try:
        sock = tls_connect(plugin.handshake, make_host_cert())
    except (ssl.SSLError, OSError):
        return
    with sock:
        assert not h2_server_settings(sock)


def test_plain_text_http2_is_refused(plugin):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(plugin.handshake.address)
        sock.sendall(H2_PREFACE)
        try:
            data = sock.recv(64)
        except OSError:
            data = b""
        assert not (len(data) >= 9 and data[3] == 0x04)


def test_refused_connections_do_not_disturb_the_host(plugin):
    for cert in (None, make_host_cert()):
        try:
            tls_connect(plugin.handshake, cert).close()
        except (ssl.SSLError, OSError):
            pass
    reply = call(
        plugin.channel(),
        "/grpc.health.v1.Health/Check",
        health.HealthCheckRequest(service="plugin"),
        health.HealthCheckResponse,
    )
    assert reply.status == health.HealthCheckResponse.SERVING


# -- §3 services ----------------------------------------------------------------------------------


def test_health_plugin_is_serving(plugin):
    reply = call(
        plugin.channel(),
        "/grpc.health.v1.Health/Check",
        health.HealthCheckRequest(service="plugin"),
        health.HealthCheckResponse,
    )
    assert reply.status == health.HealthCheckResponse.SERVING


def test_version_multiplexing_and_type(plugin):
    channel = plugin.channel()
    assert (
        call(channel, "/logical.PluginVersion/Version", version.Empty(), version.VersionReply).plugin_version
        == f"v{yamldb.__version__}"
    )
    assert (
        call(
            channel,
            "/pluginutil.multiplexing.PluginMultiplexing/MultiplexingSupport",
            mux.MultiplexingSupportRequest(),
            mux.MultiplexingSupportResponse,
        ).supported
        is True
    )
    assert call(channel, "/dbplugin.v5.Database/Type", db.Empty(), db.TypeResponse).Type == "yamldb"


def test_stdio_and_broker_streams_stay_open(plugin):
    from google.protobuf import empty_pb2

    channel = plugin.channel()
    stdio = channel.unary_stream(
        "/plugin.GRPCStdio/StreamStdio",
        request_serializer=empty_pb2.Empty.SerializeToString,
        response_deserializer=gp.StdioData.FromString,
    )(empty_pb2.Empty())
    broker = channel.stream_stream(
        "/plugin.GRPCBroker/StartStream",
        request_serializer=gp.ConnInfo.SerializeToString,
        response_deserializer=gp.ConnInfo.FromString,
    )(iter(()))
    assert holds_for(stdio.is_active, 1.0), "the plugin closed the stdio stream"
    assert broker.is_active()
    stdio.cancel()
    broker.cancel()
    reply = call(
        channel, "/grpc.health.v1.Health/Check", health.HealthCheckRequest(service="plugin"), health.HealthCheckResponse
    )
    assert reply.status == health.HealthCheckResponse.SERVING


def test_large_messages_cross_the_terminator_both_ways(plugin, tmp_path):
    # Initialize echoes the config back: 24 MB in and out, far beyond the socket and asyncio write
    # buffers, so the terminator's flow control (pause/resume reading) has to work in both directions.
    from google.protobuf import struct_pb2

    padding = os.urandom(9 * 2**20).hex()[: 24 * 2**20 - 1] + "!"
    config = struct_pb2.Struct()
    config.update({"manifest": "sqlite", "connection_url": f"sqlite:///{tmp_path / 'app.db'}", "padding": padding})
    channel = plugin.channel(max_message=2**30)
    reply = call(
        channel,
        "/dbplugin.v5.Database/Initialize",
        db.InitializeRequest(config_data=config),
        db.InitializeResponse,
        timeout=20,
    )
    assert reply.config_data["padding"] == padding
    assert call(channel, "/dbplugin.v5.Database/Type", db.Empty(), db.TypeResponse).Type == "yamldb"


def test_the_certificate_is_made_in_a_child_so_cryptography_never_loads_here(plugin):
    # Its key and certificate work (the mTLS call succeeds), yet the plugin process has not mapped
    # cryptography's library: ~10 MB of resident memory saved for the process's whole life.
    reply = call(
        plugin.channel(),
        "/grpc.health.v1.Health/Check",
        health.HealthCheckRequest(service="plugin"),
        health.HealthCheckResponse,
    )
    assert reply.status == health.HealthCheckResponse.SERVING
    maps = Path(f"/proc/{plugin.proc.pid}/maps").read_text()
    assert "cryptography" not in maps
    assert "grpc" in maps  # the check itself can see what is mapped


def test_calls_before_initialize_fail_cleanly(plugin):
    with pytest.raises(grpc.RpcError) as err:
        call(
            plugin.channel(),
            "/dbplugin.v5.Database/DeleteUser",
            db.DeleteUserRequest(username="x"),
            db.DeleteUserResponse,
        )
    assert "no database instance found" in err.value.details()


def test_shutdown_exits_within_the_hosts_two_seconds(plugin):
    socket_dir = Path(plugin.handshake.address).parent
    channel = plugin.channel()
    # A stream is open, as with a real host; Shutdown must not wait for it.
    from google.protobuf import empty_pb2

    channel.unary_stream(
        "/plugin.GRPCStdio/StreamStdio",
        request_serializer=empty_pb2.Empty.SerializeToString,
        response_deserializer=gp.StdioData.FromString,
    )(empty_pb2.Empty())
    call(channel, "/plugin.GRPCController/Shutdown", gp.Empty(), gp.Empty)
    assert plugin.proc.wait(timeout=2) == 0  # go-plugin SIGKILLs a plugin still alive after 2 s
    assert not socket_dir.exists()


def test_sigint_is_ignored(plugin):
    plugin.proc.send_signal(signal.SIGINT)
    assert holds_for(lambda: plugin.proc.poll() is None, 0.5), "SIGINT stopped the plugin"
    reply = call(
        plugin.channel(),
        "/grpc.health.v1.Health/Check",
        health.HealthCheckRequest(service="plugin"),
        health.HealthCheckResponse,
    )
    assert reply.status == health.HealthCheckResponse.SERVING


def test_stdin_eof_does_not_stop_the_plugin(plugin):
    # PluginProcess gives the plugin /dev/null as stdin: EOF from the first read.
    assert holds_for(lambda: plugin.proc.poll() is None, 0.3), "the plugin exited at stdin's EOF"


# -- §6 logging -----------------------------------------------------------------------------------


def test_stderr_is_hclog_json():
    with PluginProcess(PLUGIN, env={"YAMLDB_LOG_LEVEL": "debug"}) as plugin:
        call(
            plugin.channel(),
            "/grpc.health.v1.Health/Check",
            health.HealthCheckRequest(service="plugin"),
            health.HealthCheckResponse,
        )
        call(plugin.channel(), "/plugin.GRPCController/Shutdown", gp.Empty(), gp.Empty)
        plugin.proc.wait(timeout=2)
        assert plugin.stderr_closed.wait(5)
    lines = [line for line in plugin.stderr_lines if line.strip()]
    assert lines, "the plugin logged nothing"
    for line in lines:
        entry = json.loads(line)  # every line must be JSON, or the host logs it raw at DEBUG
        for key in ("@level", "@message", "@timestamp"):
            assert isinstance(entry[key], str), key  # non-strings crash the Go host's log reader
        assert entry["@level"] in ("trace", "debug", "info", "warn", "error")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)", entry["@timestamp"])


def test_a_missing_manifest_directory_fails_the_launch_loudly():
    result = subprocess.run(
        [*PLUGIN, "--manifest-dir=/no/such/dir,--no-inline-manifests"],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
        env={
            **os.environ,
            COOKIE[0]: COOKIE[1],
            "PLUGIN_PROTOCOL_VERSIONS": "5,6",
            "PLUGIN_CLIENT_CERT": make_host_cert().cert_pem.decode(),
        },
    )
    assert result.returncode == 1 and result.stdout == ""
    assert "does not exist" in result.stderr and "one -args=--manifest-dir=DIR per directory" in result.stderr


def test_socket_directories_of_killed_plugins_are_swept_by_the_next_one():
    killed = PluginProcess(PLUGIN)
    stale = Path(killed.handshake.address).parent
    killed.proc.send_signal(signal.SIGKILL)
    killed.proc.wait(5)
    assert stale.exists()  # a SIGKILLed process cannot clean up after itself
    with PluginProcess(PLUGIN) as fresh:
        assert wait_until(lambda: not stale.exists(), 5), "the next plugin left the stale socket directory"
        assert Path(fresh.handshake.address).parent.exists()  # a live plugin's directory is kept
