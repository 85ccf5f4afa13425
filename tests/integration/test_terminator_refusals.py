"""A stranger refused by the mTLS terminator leaves one WARN line in the host's log: its process and the
reason, nothing it sent (issue 11 §9). Through a real OpenBao, and the go-plugin stand-in for the timeout."""

from __future__ import annotations

import os
import re
import socket
import ssl
import sys
import tempfile
from pathlib import Path

import pytest

from devenv.goplugin_host import HostCert, PluginProcess, make_host_cert
from tests.integration.conftest import PLUGIN_NAME
from tests.polling import wait_until
from yamldb.transport.terminator import refusal_reason

SECRET_LOOKING = "hvs.secret-looking-token-0123456789"


def plugin_socket(pid: int) -> str:
    """The plugin's listening socket, found from its open file descriptors (as an attacker on the host would)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    with open("/proc/net/unix") as table:
        for line in table.read().splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 8 and parts[6] in inodes and parts[7].endswith("/plugin.sock"):
                return parts[7]
    raise AssertionError(f"no plugin.sock among the sockets of pid {pid}")


def stranger_tls(path: str, cert: HostCert | None) -> None:
    """A TLS client that does not know the plugin's certificate (only the host got it) and trusts anything."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    if cert is not None:
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "c.pem").write_bytes(cert.cert_pem)
            (Path(tmp) / "k.pem").write_bytes(cert.key_pem)
            ctx.load_cert_chain(Path(tmp) / "c.pem", Path(tmp) / "k.pem")
    with socket.socket(socket.AF_UNIX) as raw:
        raw.settimeout(5)
        raw.connect(path)
        try:
            with ctx.wrap_socket(raw) as sock:
                sock.sendall(b"\0" * 9)
                sock.recv(16)  # TLS 1.3: the refusal of a client certificate arrives after the client's handshake
        except (ssl.SSLError, OSError):
            pass


def knock(path: str) -> None:
    """Three strangers: no client certificate, a certificate of its own, plain text with a secret-looking token."""
    for cert in (None, make_host_cert()):
        stranger_tls(path, cert)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(path)
        sock.sendall(f"GET /v1/sys/health?token={SECRET_LOOKING} HTTP/1.1\r\n\r\n".encode())
        sock.settimeout(5)
        try:
            sock.recv(16)
        except OSError:
            pass


def refusal_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "refused a connection to the plugin socket" in line]


def test_strangers_leave_one_warn_line_each_in_openbaos_log(openbao, pg_cluster):
    openbao.api(
        "POST",
        "database/config/knock",
        {
            "plugin_name": PLUGIN_NAME,
            "manifest": "postgresql",
            "connection_url": pg_cluster.template_url(),
            "username": pg_cluster.superuser,
            "password": pg_cluster.password,
            "allowed_roles": "*",
        },
    )
    pids = openbao.plugin_pids("yamldb-database-plugin")
    assert len(pids) == 1
    before = len(refusal_lines(openbao.log_text()))
    knock(plugin_socket(pids[0]))
    lines = wait_until(lambda: (found := refusal_lines(openbao.log_text())[before:]) and len(found) >= 3 and found, 30)
    assert len(lines) == 3, lines
    for line, reason in zip(
        lines, ("no client certificate", "client certificate is not the host's", "not TLS (plain HTTP)"), strict=True
    ):
        assert "[WARN]" in line, line
        assert f'peer="pid {os.getpid()} (' in line and f'uid {os.getuid()}"' in line, line
        assert f'reason="{reason}' in line, line
    assert SECRET_LOOKING not in openbao.log_text()
    # The host itself is not disturbed.
    openbao.api("POST", "database/roles/knock", {"db_name": "knock"})
    lease = openbao.api("GET", "database/creds/knock")
    openbao.api("PUT", "sys/leases/revoke", {"lease_id": lease["lease_id"]})


def test_a_stranger_that_never_starts_the_handshake_is_refused_after_the_timeout():
    with PluginProcess([sys.executable, "-m", "yamldb.transport.entry"]) as plugin:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(plugin.handshake.address)
            lines = wait_until(lambda: [json for json in plugin.stderr_lines if "refused a connection" in json], 30)
    assert len(lines) == 1
    assert re.search(r'"reason": "no TLS handshake within 10 s"', lines[0]), lines[0]
    assert '"@level": "warn"' in lines[0]


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (TimeoutError(), "no TLS handshake within 10 s"),
        (ConnectionResetError(), "the client closed the connection during the TLS handshake"),
        (ValueError("x"), "TLS handshake failed (ValueError)"),
    ],
)
def test_refusal_reason_in_words(exc: BaseException, reason: str):
    assert refusal_reason(exc) == reason
