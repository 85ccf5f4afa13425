"""A stand-in for go-plugin's host side, for tests and benchmarks.

Launches the plugin with the environment go-plugin sets for a v5 database
plugin, a one-time ECDSA P-521 client certificate made like go-plugin's
(`mtls.go`: IsCA, SAN localhost, client+server auth), parses the handshake
line, pins the plugin's certificate from it, and offers a grpc channel through
a small local forwarder that does the TLS with Python's ssl (as the Go host
would, including TLS 1.3 with the P-521 certificate).
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

COOKIE = ("VAULT_DATABASE_PLUGIN", "926a0820-aea2-be28-51d6-83cdf00e8edb")


@dataclass(frozen=True)
class HostCert:
    cert_pem: bytes
    key_pem: bytes


def make_host_cert(curve: ec.EllipticCurve | None = None) -> HostCert:
    key = ec.generate_private_key(curve or ec.SECP521R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "HashiCorp"),
            x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
        ]
    )
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(seconds=30))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=True,
                key_agreement=True,
                key_cert_sign=True,
                content_commitment=False,
                data_encipherment=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(key, hashes.SHA512())
    )
    return HostCert(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


@dataclass(frozen=True)
class Handshake:
    core: int
    version: int
    network: str
    address: str
    protocol: str
    server_cert_der: bytes

    @classmethod
    def parse(cls, line: str) -> Handshake:
        parts = line.strip().split("|")
        if len(parts) < 6:
            raise ValueError(f"unrecognised handshake line: {line!r}")
        field = parts[5]
        if "=" in field or "-" in field or "_" in field:
            raise ValueError("certificate field must be unpadded standard base64 (Go RawStdEncoding)")
        der = base64.b64decode(field + "=" * (-len(field) % 4), validate=True)
        return cls(int(parts[0]), int(parts[1]), parts[2], parts[3], parts[4], der)


def client_context(handshake: Handshake, cert: HostCert | None) -> ssl.SSLContext:
    """What the Go host builds: its cert as client cert, the plugin's pinned cert as the only root."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    pem = ssl.DER_cert_to_PEM_cert(handshake.server_cert_der)
    ctx.load_verify_locations(cadata=pem)
    ctx.check_hostname = True
    ctx.set_alpn_protocols(["h2"])
    if cert is not None:
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "c.pem").write_bytes(cert.cert_pem)
            (Path(tmp) / "k.pem").write_bytes(cert.key_pem)
            ctx.load_cert_chain(Path(tmp) / "c.pem", Path(tmp) / "k.pem")
    return ctx


def tls_connect(handshake: Handshake, cert: HostCert | None, timeout: float = 5.0) -> ssl.SSLSocket:
    raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    raw.settimeout(timeout)
    raw.connect(handshake.address)
    return client_context(handshake, cert).wrap_socket(raw, server_hostname="localhost")


class _Forwarder:
    """Plain unix socket for a grpc client -> TLS to the plugin, on an asyncio loop in one thread."""

    def __init__(self, handshake: Handshake, cert: HostCert) -> None:
        import asyncio

        self.context = client_context(handshake, cert)
        self.address = handshake.address
        self.dir = tempfile.mkdtemp(prefix="yamldb-host-")
        self.path = os.path.join(self.dir, "fwd.sock")
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(asyncio.start_unix_server(self._handle, path=self.path))
            ready.set()
            self.loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        ready.wait(5)

    async def _handle(self, reader, writer) -> None:
        import asyncio

        try:
            up_r, up_w = await asyncio.open_unix_connection(self.address, ssl=self.context, server_hostname="localhost")
        except (OSError, ssl.SSLError):
            writer.close()
            return

        async def pipe(src, dst) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, ssl.SSLError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))

    def close(self) -> None:
        import asyncio

        async def shutdown() -> None:
            # Cancel the pipes while the loop still runs, so their finally-blocks do not meet a closed loop.
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.loop.stop()

        if self.loop.is_running():
            asyncio.run_coroutine_threadsafe(shutdown(), self.loop)
        shutil.rmtree(self.dir, ignore_errors=True)  # the socket's directory; connections already open live on


class PluginProcess:
    """A running plugin launched as go-plugin would launch it."""

    def __init__(
        self,
        command: list[str],
        env: dict[str, str] | None = None,
        cert: HostCert | None = None,
        versions: str = "5,6",
        timeout: float = 30.0,
    ) -> None:
        self.cert = cert or make_host_cert()
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("PLUGIN_", "VAULT_", "BAO_"))}
        full_env.update(
            {
                COOKIE[0]: COOKIE[1],
                "PLUGIN_MIN_PORT": "10000",
                "PLUGIN_MAX_PORT": "25000",
                "PLUGIN_PROTOCOL_VERSIONS": versions,
                "PLUGIN_CLIENT_CERT": self.cert.cert_pem.decode(),
                "VAULT_PLUGIN_AUTOMTLS_ENABLED": "true",
                "BAO_PLUGIN_AUTOMTLS_ENABLED": "true",
                "VAULT_PLUGIN_METADATA_MODE": "false",
            }
        )
        full_env.update(env or {})
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            command, env=full_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.stderr_lines: list[str] = []
        self.stderr_closed = threading.Event()  # set once every line the process wrote is in stderr_lines
        self._forwarder: _Forwarder | None = None
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        line = self._first_line(timeout)
        self.handshake_seconds = time.monotonic() - self.started
        self.handshake_line = line
        self.handshake = Handshake.parse(line)
        threading.Thread(target=self._drain_stdout, daemon=True).start()

    def _first_line(self, timeout: float) -> str:
        result: list[str] = []
        reader = threading.Thread(target=lambda: result.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not result or not result[0]:
            self.kill()
            raise RuntimeError("plugin printed no handshake line; stderr:\n" + "\n".join(self.stderr_lines[-20:]))
        return result[0]

    def _drain_stderr(self) -> None:
        for line in self.proc.stderr:
            self.stderr_lines.append(line.rstrip("\n"))
        self.stderr_closed.set()

    def _drain_stdout(self) -> None:
        for _ in self.proc.stdout:
            pass

    def channel(self, max_message: int | None = None):
        import grpc

        if self._forwarder is None:
            self._forwarder = _Forwarder(self.handshake, self.cert)
        options = (
            []
            if max_message is None
            else [("grpc.max_receive_message_length", max_message), ("grpc.max_send_message_length", max_message)]
        )
        return grpc.insecure_channel(f"unix:{self._forwarder.path}", options=options)

    def kill(self) -> None:
        killed = self.proc.poll() is None
        if killed:
            self.proc.kill()
        self.proc.wait(5)
        if killed:  # a SIGKILLed plugin cannot remove its socket directory; a real host leaves it to the sweep
            shutil.rmtree(Path(self.handshake.address).parent, ignore_errors=True)
        if self._forwarder is not None:
            self._forwarder.close()

    def __enter__(self) -> PluginProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()
