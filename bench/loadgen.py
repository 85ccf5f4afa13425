"""Closed-loop HTTP load against OpenBao: N requests from C threads, one keep-alive connection each.

Every worker opens its own ``http.client.HTTPConnection`` before the clock starts,
then takes the next request number from a shared counter until all are taken.
Throughput is successful requests / wall time of the phase; latency is measured
per request around send + full response read.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

STOP = threading.Event()  # set on Ctrl-C: workers finish their current request and leave


class Api:
    """One keep-alive connection to OpenBao's HTTP API."""

    def __init__(self, port: int, token: str, timeout: float = 60.0) -> None:
        self.port = port
        self.token = token
        self.timeout = timeout
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.location = ""  # the Location header of the last answer (a standby's redirect)

    def connect(self) -> None:
        self.conn.connect()

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"X-Vault-Token": self.token}
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            self.conn.request(method, f"/v1/{path}", body=data, headers=headers)
            resp = self.conn.getresponse()
            raw = resp.read()
            self.location = resp.getheader("Location", "")
        except (OSError, http.client.HTTPException):
            self.conn.close()  # the next call reconnects; this request counts as an error
            raise
        if resp.will_close:
            self.conn.close()
        text = raw.decode(errors="replace")
        try:
            parsed = json.loads(text) if text.strip() else {}
        except ValueError:
            parsed = {"errors": [text.strip()[:300]]}
        return resp.status, parsed if isinstance(parsed, dict) else {"data": parsed}

    def close(self) -> None:
        self.conn.close()


@dataclass
class PhaseResult:
    requests: int
    ok: int
    wall_s: float
    latencies_ms: list[float]
    errors: list[str] = field(default_factory=list)
    outputs: list[Any] = field(default_factory=list)  # per successful request, e.g. the lease id

    @property
    def rate(self) -> float:
        return self.ok / self.wall_s if self.wall_s > 0 else 0.0


def run_phase(
    port: int,
    token: str,
    concurrency: int,
    requests: int,
    make_call: Callable[[int], tuple[str, str, dict[str, Any] | None]],
    expect: tuple[int, ...],
    extract: Callable[[dict[str, Any]], Any] = lambda _: None,
    timeout: float = 60.0,
    phase_timeout: float = 600.0,
) -> PhaseResult:
    """Issue ``requests`` calls ``make_call(i) -> (method, path, body)`` from ``concurrency`` threads."""
    lock = threading.Lock()
    counter = iter(range(requests))
    latencies: list[float] = []
    outputs: list[Any] = []
    errors: list[str] = []
    start_gate = threading.Barrier(concurrency + 1, timeout=30)
    deadline_box: list[float] = []

    def next_index() -> int | None:
        with lock:
            return next(counter, None)

    def worker() -> None:
        api = Api(port, token, timeout)
        local_lat: list[float] = []
        local_out: list[Any] = []
        local_err: list[str] = []
        try:
            api.connect()
            start_gate.wait()
            while not STOP.is_set() and (i := next_index()) is not None:
                if time.monotonic() > deadline_box[0]:
                    local_err.append("phase timeout")
                    break
                method, path, body = make_call(i)
                t0 = time.perf_counter()
                try:
                    status, parsed = api.call(method, path, body)
                except (OSError, http.client.HTTPException) as exc:
                    local_err.append(f"{type(exc).__name__}: {exc}")
                    continue
                took = (time.perf_counter() - t0) * 1000
                if status in expect:
                    local_lat.append(took)
                    local_out.append(extract(parsed))
                else:
                    local_err.append(f"HTTP {status}: {'; '.join(map(str, parsed.get('errors', [])))[:300]}")
        except threading.BrokenBarrierError:
            local_err.append("start barrier broken")
        finally:
            api.close()
            with lock:
                latencies.extend(local_lat)
                outputs.extend(local_out)
                errors.extend(local_err)

    threads = [threading.Thread(target=worker, daemon=True, name=f"bench-{n}") for n in range(concurrency)]
    for t in threads:
        t.start()
    deadline_box.append(time.monotonic() + phase_timeout)
    start_gate.wait()
    t_start = time.perf_counter()
    for t in threads:
        t.join(max(deadline_box[0] - time.monotonic(), 0) + timeout + 5)
    wall = time.perf_counter() - t_start
    return PhaseResult(requests, len(latencies), wall, latencies, errors, outputs)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(int(-(-p * len(ordered) // 100)), 1)  # ceil(p/100 * n), at least 1
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class BurstResult:
    count: int
    latencies_ms: list[float]  # per successful request, from its own send
    makespan_s: float  # from the burst's release to the last response
    errors: list[str] = field(default_factory=list)
    outputs: list[Any] = field(default_factory=list)


def burst(
    port: int,
    token: str,
    path: str,
    count: int,
    extract: Callable[[dict[str, Any]], Any] = lambda _: None,
    timeout: float = 120.0,
) -> BurstResult:
    """`count` clients, each on its own connection (opened first), all send `GET /v1/path` at the same moment.

    One asyncio thread drives every connection, so the load generator costs little CPU and no client waits
    for another: the requests are all in flight at once, as when a fleet of pods starts together."""
    import asyncio

    request = (
        f"GET /v1/{path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Vault-Token: {token}\r\nConnection: close\r\n\r\n"
    ).encode()

    async def one(
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        go: asyncio.Event,
        out: list[tuple[float, float, int, bytes]],
    ) -> None:
        await go.wait()
        sent = time.perf_counter()
        try:
            writer.write(request)
            await writer.drain()
            raw = await reader.read()  # Connection: close: the server ends the response with EOF
        finally:
            writer.close()
        got = time.perf_counter()
        head, _, body = raw.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
        if b"transfer-encoding: chunked" in head.lower():
            body = _dechunk(body)
        out.append((sent, got, status, body))

    async def main() -> BurstResult:
        conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(count)]
        go = asyncio.Event()
        out: list[tuple[float, float, int, bytes]] = []
        tasks = [asyncio.create_task(one(r, w, go, out)) for r, w in conns]
        await asyncio.sleep(0.05)  # every task waits at the gate
        released = time.perf_counter()
        go.set()
        done, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        result = BurstResult(count, [], 0.0)
        result.errors += ["timeout"] * len(pending)
        result.errors += [f"{type(t.exception()).__name__}: {t.exception()}" for t in done if t.exception()]
        for sent, got, status, body in out:
            text = body.decode(errors="replace")
            if status == 200:
                result.latencies_ms.append((got - sent) * 1000)
                try:
                    result.outputs.append(extract(json.loads(text)))
                except ValueError:
                    result.errors.append("unreadable response body")
            else:
                result.errors.append(f"HTTP {status}: {text.strip()[:300]}")
        result.makespan_s = (max(got for _, got, _, _ in out) - released) if out else 0.0
        return result

    return asyncio.run(main())


def _dechunk(body: bytes) -> bytes:
    out, rest = b"", body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out, rest = out + rest[:size], rest[size + 2 :]
    return out
