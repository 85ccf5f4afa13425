"""mTLS terminator: the host's TLS connection ends here, plain HTTP/2 goes to grpcio.

Listens on the socket named in the handshake line, performs the TLS handshake
with Python's ssl (see tls.py for why), and pipes the decrypted bytes to the
grpcio server on a private socket in the same 0700 directory. Runs its own
asyncio loop in one daemon thread.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from pathlib import Path

log = logging.getLogger("yamldb.transport")


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
                self._loop.create_unix_server(
                    self._accept, path=str(self.public_path), ssl=self.context, ssl_handshake_timeout=10
                )
            )
        except BaseException as exc:  # reported to start() in the main thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    def _on_loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict) -> None:
        # Failed handshakes (no or wrong client certificate) end up here; they are
        # expected refusals, not crashes, so log one line without a traceback.
        exc = context.get("exception")
        detail = f"{type(exc).__name__}: {exc}" if exc else context.get("message", "")
        log.warning("refused a connection to the plugin socket", extra={"fields": {"reason": detail}})

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

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is None or ssl_object.getpeercert(binary_form=True) is None:
            # CERT_REQUIRED makes this unreachable; kept as a second lock on the door.
            transport.close()
            return
        transport.pause_reading()  # until the backend is connected
        asyncio.get_running_loop().create_task(self._connect_backend())

    async def _connect_backend(self) -> None:
        assert self.transport is not None
        backend = _Side()
        backend.peer = self
        try:
            await asyncio.get_running_loop().create_unix_connection(lambda: backend,
                                                                     str(self.terminator.backend_path))
        except OSError as exc:
            log.error("gRPC backend unreachable", extra={"fields": {"error": str(exc)}})
            self.transport.close()
            return
        self.peer = backend
        if self.transport.is_closing() and backend.transport is not None:  # the host hung up meanwhile
            backend.transport.close()
            return
        self.transport.resume_reading()

