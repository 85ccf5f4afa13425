"""What each plugin sends to the database per operation, counted on the wire.

A small TCP proxy on 127.0.0.1 sits between OpenBao/the plugin and the database
and parses the client -> server direction: PostgreSQL frontend messages (a
round trip ends at each Sync or simple Query) and MySQL command packets (each
sequence-0 packet is one command; all but COM_STMT_CLOSE wait for a reply). Both
plugins get a config pointing at the proxy, are warmed up, then issue and
revoke ``count`` leases one at a time while we count. The noise of a shared
machine does not affect these numbers.
"""

from __future__ import annotations

import collections
import contextlib
import socket
import struct
import threading
from collections.abc import Callable
from typing import Any

from bench.stack import BUILTIN, MOUNT, Stack

MYSQL_COMMANDS = {
    0x01: "QUIT",
    0x03: "QUERY",
    0x0E: "PING",
    0x16: "STMT_PREPARE",
    0x17: "STMT_EXECUTE",
    0x19: "STMT_CLOSE",
    0x1A: "STMT_RESET",
    0x1F: "RESET_CONNECTION",
    0x11: "CHANGE_USER",
}
PG_MESSAGES = {
    "Q": "Query",
    "P": "Parse",
    "B": "Bind",
    "D": "Describe",
    "E": "Execute",
    "S": "Sync",
    "C": "Close",
    "X": "Terminate",
    "H": "Flush",
    "p": "Password/SASL",
}


class WireCounter:
    """Forward 127.0.0.1:port -> upstream and count client messages by type (thread-safe)."""

    def __init__(self, upstream_port: int, protocol: str) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.protocol = protocol  # "postgresql" | "mysql"
        self.counts: collections.Counter[str] = collections.Counter()
        self.texts: list[str] = []  # the first bytes of each PostgreSQL Query/Parse or MySQL QUERY
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closed = False
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True, name="wire-accept").start()

    def snapshot(self) -> tuple[collections.Counter[str], list[str]]:
        with self._lock:
            counts, texts = collections.Counter(self.counts), list(self.texts)
            self.counts.clear()
            self.texts.clear()
        return counts, texts

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            self._sockets += [client, server]
            threading.Thread(target=self._client_to_server, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def _client_to_server(self, src: socket.socket, dst: socket.socket) -> None:
        buffer = b""
        startup = self.protocol == "postgresql"  # PostgreSQL's first messages carry no type byte
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
                buffer += data
                buffer, startup = self._parse(buffer, startup)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def _parse(self, buffer: bytes, startup: bool) -> tuple[bytes, bool]:
        while True:
            if self.protocol == "postgresql":
                if startup:
                    if len(buffer) < 8:
                        return buffer, startup
                    length, code = struct.unpack("!II", buffer[:8])
                    if len(buffer) < length:
                        return buffer, startup
                    startup = code == 80877103 or code == 80877104  # SSL/GSS request: the startup follows
                    buffer = buffer[length:]
                    continue
                if len(buffer) < 5:
                    return buffer, startup
                kind = chr(buffer[0])
                length = struct.unpack("!I", buffer[1:5])[0]
                if len(buffer) < 1 + length:
                    return buffer, startup
                body = buffer[5 : 1 + length]
                with self._lock:
                    self.counts[PG_MESSAGES.get(kind, kind)] += 1
                    if kind == "Q":
                        self.texts.append(body.split(b"\0", 1)[0][:60].decode(errors="replace"))
                    elif kind == "P":
                        self.texts.append(body.split(b"\0", 2)[1][:60].decode(errors="replace"))
                buffer = buffer[1 + length :]
            else:
                if len(buffer) < 4:
                    return buffer, startup
                length = int.from_bytes(buffer[:3], "little")
                seq = buffer[3]
                if len(buffer) < 4 + length:
                    return buffer, startup
                body = buffer[4 : 4 + length]
                if seq == 0 and body:
                    name = MYSQL_COMMANDS.get(body[0], f"0x{body[0]:02x}")
                    with self._lock:
                        self.counts[name] += 1
                        if body[0] in (0x03, 0x16):
                            self.texts.append(body[1:61].decode(errors="replace"))
                buffer = buffer[4 + length :]

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()


def round_trips(counts: collections.Counter[str], protocol: str) -> int:
    if protocol == "postgresql":
        return counts["Sync"] + counts["Query"]
    return sum(v for k, v in counts.items() if k not in ("STMT_CLOSE", "QUIT"))


def measure(stack: Stack, databases: tuple[str, ...], count: int, log: Callable[[str], None]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for database in databases:
        upstream = stack.pg.port if database == "postgresql" else stack.mariadb.port  # type: ignore[union-attr]
        proxy = WireCounter(upstream, database)
        out[database] = {}
        try:
            for plugin, plugin_name in (("yamldb", "yamldb"), ("builtin", BUILTIN[database])):
                config = f"wire-{database}-{plugin}"
                role = f"{stack.run_id}{database[0]}w{plugin[0]}"
                body = stack.config_body(database, plugin_name)
                body["connection_url"] = body["connection_url"].replace(f":{upstream}", f":{proxy.port}")
                stack.bao.api("POST", f"{MOUNT}/config/{config}", body)
                stack.write_role(role, config, database)
                for _ in range(3):  # warm: pool connections open, statements compiled
                    lease = stack.bao.api("GET", f"{MOUNT}/creds/{role}")
                    stack.bao.api("PUT", "sys/leases/revoke", {"lease_id": lease["lease_id"]})
                proxy.snapshot()
                leases = [stack.bao.api("GET", f"{MOUNT}/creds/{role}")["lease_id"] for _ in range(count)]
                issue_counts, issue_texts = proxy.snapshot()
                for lease_id in leases:
                    stack.bao.api("PUT", "sys/leases/revoke", {"lease_id": lease_id})
                revoke_counts, revoke_texts = proxy.snapshot()
                out[database][plugin] = {
                    phase: {
                        "round_trips_per_op": round(round_trips(c, database) / count, 2),
                        "messages_per_op": {k: round(v / count, 2) for k, v in sorted(c.items())},
                        "statements_seen": _distinct(texts, count),
                    }
                    for phase, c, texts in (
                        ("issue", issue_counts, issue_texts),
                        ("revoke", revoke_counts, revoke_texts),
                    )
                }
                stack.bao.api("DELETE", f"{MOUNT}/roles/{role}")
                stack.delete_config(config)
                r = out[database][plugin]
                log(
                    f"  {database:10} {plugin:8} round trips per issue {r['issue']['round_trips_per_op']}, "
                    f"per revoke {r['revoke']['round_trips_per_op']}"
                )
        finally:
            proxy.close()
    return out


def _distinct(texts: list[str], ops: int) -> list[str]:
    """Statement shapes with how often each was sent, in order of first appearance; names/passwords cut off."""
    seen: collections.Counter[str] = collections.Counter()
    for text in texts:
        words = text.split()
        seen[" ".join(words[:4] if words[:1] == ["SET"] else words[:2])[:40] or repr(text[:10])] += 1
    return [f"{shape} ×{n / ops:g}" for shape, n in seen.items()][:10]
