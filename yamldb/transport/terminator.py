"""mTLS terminator: the host's TLS connection ends here, plain HTTP/2 goes to grpcio.

Listens on the socket named in the handshake line, performs the TLS handshake
with Python's ssl (see tls.py for why), and pipes the decrypted bytes to the
grpcio server on a private socket in the same 0700 directory. Runs its own
asyncio loop in one daemon thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
from pathlib import Path

log = logging.getLogger("yamldb.transport")

_CHUNK = 256 * 1024


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
                asyncio.start_unix_server(
                    self._handle, path=str(self.public_path), ssl=self.context, ssl_handshake_timeout=10
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

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        ssl_object = client_writer.get_extra_info("ssl_object")
        if ssl_object is None or ssl_object.getpeercert(binary_form=True) is None:
            # CERT_REQUIRED makes this unreachable; kept as a second lock on the door.
            client_writer.close()
            return
        try:
            backend_reader, backend_writer = await asyncio.open_unix_connection(str(self.backend_path))
        except OSError as exc:
            log.error("gRPC backend unreachable", extra={"fields": {"error": str(exc)}})
            client_writer.close()
            return
        await asyncio.gather(
            _pipe(client_reader, backend_writer),
            _pipe(backend_reader, client_writer),
        )


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(_CHUNK)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()
