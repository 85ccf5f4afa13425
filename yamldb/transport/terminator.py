"""mTLS terminator: the host's TLS connection ends here, plain HTTP/2 goes to grpcio.

Listens on the socket named in the handshake line, performs the TLS handshake
with Python's ssl (see tls.py for why), and pipes the decrypted bytes to the
grpcio server on a private socket in the same 0700 directory. Runs its own
asyncio loop in one daemon thread.

The handshake runs in our own coroutine (`loop.start_tls`) rather than in the
server (`create_unix_server(ssl=...)`): asyncio reports a failed server-side
handshake only at debug level, so a stranger knocking on the socket would leave
no trace. Each refused connection leaves one WARN line with the peer's process
and the reason (nothing from the peer's bytes: no secrets can reach the log).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import struct
import threading
from pathlib import Path

__all__ = ["HANDSHAKE_TIMEOUT", "REFUSED", "Terminator", "peer_of", "refusal_reason"]

log = logging.getLogger("yamldb.transport")

HANDSHAKE_TIMEOUT = 10.0
REFUSED = "refused a connection to the plugin socket"

# OpenSSL's reason codes, in words an operator can act on.
_REASONS = {
    "PEER_DID_NOT_RETURN_A_CERTIFICATE": "no client certificate",
    "CERTIFICATE_VERIFY_FAILED": "client certificate is not the host's",
    "TLSV1_ALERT_UNKNOWN_CA": "the client does not trust the plugin's certificate",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "no client certificate",
    "WRONG_VERSION_NUMBER": "not TLS (plain text or another protocol)",
    "HTTP_REQUEST": "not TLS (plain HTTP)",
    "UNSUPPORTED_PROTOCOL": "TLS version too old (1.2 or newer is required)",
    "NO_SHARED_CIPHER": "no cipher suite in common",
    "NO_SUITABLE_SIGNATURE_ALGORITHM": "no signature algorithm in common",
}


def refusal_reason(exc: BaseException) -> str:
    """Why a handshake failed, from the exception alone (never the peer's data)."""
    if isinstance(exc, ssl.SSLError):
        reason = getattr(exc, "reason", None) or ""
        words = _REASONS.get(reason, f"TLS handshake failed ({reason or type(exc).__name__})")
        verify = getattr(exc, "verify_message", None)
        return f"{words}: {verify}" if verify and reason == "CERTIFICATE_VERIFY_FAILED" else words
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return f"no TLS handshake within {HANDSHAKE_TIMEOUT:g} s"
    if isinstance(exc, (ConnectionError, EOFError)):
        return "the client closed the connection during the TLS handshake"
    return f"TLS handshake failed ({type(exc).__name__})"


def peer_of(transport: asyncio.BaseTransport) -> str:
    """The process at the other end of a unix socket: pid, uid and name (SO_PEERCRED), as far as known."""
    sock = transport.get_extra_info("socket")
    peer_cred = getattr(socket, "SO_PEERCRED", None)
    if sock is None or peer_cred is None:
        return "unknown"
    try:
        pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, peer_cred, struct.calcsize("3i")))
    except OSError:
        return "unknown"
    name = ""
    with contextlib.suppress(OSError):
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    return f"pid {pid}" + (f" ({name})" if name else "") + f", uid {uid}"


class Terminator:
    def __init__(self, public_path: Path, backend_path: Path, context: ssl.SSLContext) -> None:
        self.public_path = public_path
        self.backend_path = backend_path
        self.context = context
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="yamldb-tls", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(self._drain_and_stop(), self._loop)
        self._thread.join(timeout=1)

    async def _drain_and_stop(self) -> None:
        if self._server is not None:
            self._server.close()
        await asyncio.sleep(0.05)  # let the last replies already written leave the buffers
        self._loop.stop()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.set_exception_handler(self._on_loop_exception)
        try:
            self._server = self._loop.run_until_complete(
                self._loop.create_unix_server(self._accept, path=str(self.public_path))
            )
        except BaseException as exc:  # reported to start() in the main thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    def _on_loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict) -> None:
        # A failed handshake is logged once by _ClientSide._handshake; asyncio may report it here too.
        if str(context.get("message", "")).startswith("SSL handshake failed"):
            return
        exc = context.get("exception")
        detail = f"{type(exc).__name__}: {exc}" if exc else context.get("message", "")
        log.warning("TLS terminator error", extra={"fields": {"error": detail}})

    def _accept(self) -> asyncio.Protocol:
        return _ClientSide(self)


class _Side(asyncio.Protocol):
    """One end of the pipe. Bytes go straight from one transport to the other as they arrive: no streams,
    no coroutine per chunk. When the peer's write buffer fills, this side stops reading (flow control)."""

    transport: asyncio.Transport | None = None
    peer: _Side | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.write(data)

    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()

    def eof_received(self) -> bool:
        self._close_peer()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._close_peer()

    def _close_peer(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()


class _ClientSide(_Side):
    """The host's TLS connection; opens the backend connection once the handshake is done."""

    def __init__(self, terminator: Terminator) -> None:
        self.terminator = terminator
        self._early: list[bytes] = []

    def data_received(self, data: bytes) -> None:
        if self.peer is None:  # decrypted bytes that arrived with the end of the handshake
            self._early.append(data)
        else:
            super().data_received(data)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Still plain: nothing is read until the TLS handshake is done and the backend connected.
        assert isinstance(transport, asyncio.Transport)
        transport.pause_reading()
        asyncio.get_running_loop().create_task(self._handshake(transport))

    async def _handshake(self, raw: asyncio.Transport) -> None:
        peer = peer_of(raw)
        try:
            # Our own deadline: asyncio's handshake timeout surfaces as a plain ConnectionAbortedError.
            tls = await asyncio.wait_for(
                asyncio.get_running_loop().start_tls(
                    raw, self, self.terminator.context, server_side=True, ssl_handshake_timeout=HANDSHAKE_TIMEOUT + 5
                ),
                HANDSHAKE_TIMEOUT,
            )
        except (OSError, EOFError, asyncio.TimeoutError) as exc:  # ssl.SSLError is an OSError
            log.warning(REFUSED, extra={"fields": {"peer": peer, "reason": refusal_reason(exc)}})
            raw.close()
            return
        if tls is None:  # the client left during the handshake
            log.warning(REFUSED, extra={"fields": {"peer": peer, "reason": refusal_reason(ConnectionError())}})
            raw.close()
            return
        ssl_object = tls.get_extra_info("ssl_object")
        if ssl_object is None or ssl_object.getpeercert(binary_form=True) is None:
            # CERT_REQUIRED makes this unreachable; kept as a second lock on the door.
            log.warning(REFUSED, extra={"fields": {"peer": peer, "reason": "no client certificate"}})
            tls.close()
            return
        tls.pause_reading()  # until the backend is connected; what already arrived waits in _early
        self.transport = tls
        await self._connect_backend()

    async def _connect_backend(self) -> None:
        assert self.transport is not None
        backend = _Side()
        backend.peer = self
        try:
            await asyncio.get_running_loop().create_unix_connection(lambda: backend, str(self.terminator.backend_path))
        except OSError as exc:
            log.error("gRPC backend unreachable", extra={"fields": {"error": str(exc)}})
            self.transport.close()
            return
        self.peer = backend
        if self.transport.is_closing() and backend.transport is not None:  # the host hung up meanwhile
            backend.transport.close()
            return
        for data in self._early:
            super().data_received(data)
        self._early.clear()
        self.transport.resume_reading()
