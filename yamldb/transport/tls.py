"""The plugin's side of go-plugin AutoMTLS.

The host passes its one-time certificate in PLUGIN_CLIENT_CERT and pins ours
from the handshake line. grpcio's BoringSSL cannot accept the host's P-521
certificate under TLS 1.3 (plugin-protocol.md §2.5), so the TLS server is
Python's ssl (OpenSSL), which can; it requires a client certificate and trusts
only the host's.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import os
import select
import signal
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

from yamldb.pem import load_cert_chain, split_pem

__all__ = ["PendingIdentity", "ServerIdentity", "generate_identity", "server_context"]


@dataclass(frozen=True)
class ServerIdentity:
    cert_pem: bytes
    key_pem: bytes

    @property
    def cert_der(self) -> bytes:
        return ssl.PEM_cert_to_DER_cert(self.cert_pem.decode("ascii"))

    @property
    def handshake_field(self) -> str:
        # go-plugin decodes with base64.RawStdEncoding: standard alphabet, no padding.
        return base64.b64encode(self.cert_der).decode("ascii").rstrip("=")


def generate_identity() -> ServerIdentity:
    """A fresh self-signed P-256 certificate for `localhost`, valid from 30 s ago."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "yamldb"),
            x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
        ]
    )
    now = dt.datetime.now(dt.timezone.utc)  # aware UTC: a naive local time breaks east of UTC
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(seconds=30))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return ServerIdentity(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )


class PendingIdentity:
    """The server identity, generated in a child process forked before grpc is imported.

    cryptography is needed for one key and one signature per process life, but importing it keeps
    ~10 MB resident for good; the child pays that and exits. It also runs on the other core while
    this process imports grpc. If the child fails, result() generates the identity in-process.
    """

    def __init__(self) -> None:
        self._pid = 0
        self._fd = -1
        read_fd, write_fd = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(read_fd)
            os.close(write_fd)
            return
        if pid == 0:  # the child: no threads exist yet (this runs before grpc), so fork is safe
            os.close(read_fd)
            code = 1
            try:
                identity = generate_identity()
                view = memoryview(identity.cert_pem + identity.key_pem)  # one PEM bundle
                while view:
                    view = view[os.write(write_fd, view) :]
                code = 0
            finally:
                os._exit(code)  # no atexit handlers, no flush of buffers inherited from the parent
        os.close(write_fd)
        self._pid, self._fd = pid, read_fd

    def result(self, timeout: float = 10.0) -> ServerIdentity:
        if self._fd < 0:
            return generate_identity()
        chunks: list[bytes] = []
        complete = False
        deadline = time.monotonic() + timeout
        try:
            while (left := deadline - time.monotonic()) > 0 and select.select([self._fd], [], [], left)[0]:
                chunk = os.read(self._fd, 65536)
                if not chunk:
                    complete = True  # the child wrote everything and exited
                    break
                chunks.append(chunk)
        finally:
            os.close(self._fd)
            self._fd = -1
            with contextlib.suppress(OSError):
                if not complete:
                    os.kill(self._pid, signal.SIGKILL)  # hung: do not leave it behind, nor wait for it
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self._pid, 0)
        cert_pem, key_pem = split_pem(b"".join(chunks).decode("ascii", "replace"))
        try:
            ssl.PEM_cert_to_DER_cert(cert_pem)  # a truncated or empty bundle fails here
        except ValueError:
            return generate_identity()
        if "PRIVATE KEY" not in key_pem:
            return generate_identity()
        return ServerIdentity(cert_pem.encode("ascii"), key_pem.encode("ascii"))


def server_context(identity: ServerIdentity, client_cert_pem: str, private_dir: Path) -> ssl.SSLContext:
    """TLS server context that requires the host's certificate and nothing else.

    `private_dir` is the plugin's private socket directory (kept for callers; keys go through
    yamldb.pem, which uses a fresh 0700 directory of its own).
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    load_cert_chain(ctx, identity.cert_pem, identity.key_pem)
    ctx.verify_mode = ssl.CERT_REQUIRED
    # The host's one-time certificate is the only trust anchor: any other client fails.
    ctx.load_verify_locations(cadata=client_cert_pem)
    # grpc-go >= 1.67 refuses servers that do not select ALPN h2.
    ctx.set_alpn_protocols(["h2"])
    return ctx
