"""Credentials issued without pause while something happens to the cluster, every attempt on a timeline.

``bench.loadgen`` measures throughput (N requests, then stop). A failover, a restart
or a plugin switch needs more: when each request ran, which node it went to and what
came back. :class:`CredentialLoad` runs worker threads until told to stop and records
every attempt; :func:`summarize` cuts the timeline at an event (a kill, a config write).

A worker keeps one keep-alive connection per node. After a failed attempt it waits
``backoff`` seconds before the next one, as a client retrying in a loop would; a worker
whose route allows failover moves to the next node when its node refuses connections
(a client given every node's address).
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from bench.loadgen import Api, percentile

__all__ = ["Attempt", "CredentialLoad", "Route", "as_dicts", "latency", "summarize"]


@dataclass(frozen=True)
class Attempt:
    worker: int
    group: str  # the worker's group, e.g. "via-active" or "via-standby"
    node: str  # the node the request went to
    start: float  # time.monotonic()
    end: float
    status: int  # HTTP status; 0 when no answer came
    error: str  # "" for a credential; else what the client saw, without per-request details
    username: str = ""
    lease_id: str = ""

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def ms(self) -> float:
        return (self.end - self.start) * 1000


@dataclass
class Route:
    """The nodes a worker may use (name, port), starting with the first; ``failover`` moves on refusal."""

    nodes: Sequence[tuple[str, int]]
    failover: bool = False
    index: int = 0

    @property
    def current(self) -> tuple[str, int]:
        return self.nodes[self.index % len(self.nodes)]

    def unreachable(self) -> None:
        if self.failover:
            self.index += 1


def _what(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (ConnectionResetError, http.client.RemoteDisconnected, BrokenPipeError)):
        return "connection closed without an answer"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "no answer (client timeout)"
    return type(exc).__name__


_DETAILS = re.compile(r"(v-[\w-]+|[0-9a-f]{8}-[0-9a-f-]{27}|\b\d{4}-\d\d-\d\dT[\d:.]+Z?|127\.0\.0\.1:\d+|\s+)")


def _error_text(status: int, body: dict[str, Any], location: str, names: dict[int, str]) -> str:
    if status in (301, 302, 307, 308):
        port = urlsplit(location).port if location else None
        return f"HTTP {status} redirect to {names.get(port or 0, location or '(no Location)')}"
    errors = "; ".join(str(e) for e in body.get("errors", [])) or "(no error message)"
    # Usernames, ids, times and ports differ per request: drop them so equal errors count together.
    return f"HTTP {status}: " + _DETAILS.sub(lambda m: " " if m.group(0).isspace() else "*", errors).strip()[:200]


class CredentialLoad:
    """Worker threads reading ``path`` (``database/creds/ROLE``) until :meth:`stop`."""

    def __init__(
        self, path: str, token: str, routes: Iterable[tuple[str, Route]], backoff: float = 0.1, timeout: float = 30.0
    ) -> None:
        self.path = path
        self.routes = list(routes)
        # A redirect names a node by its address; report the node's name instead.
        self.names = {port: name for _, route in self.routes for name, port in route.nodes}
        self.token = token
        self.backoff = backoff
        self.timeout = timeout
        self._attempts: list[Attempt] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> CredentialLoad:
        for number, (group, route) in enumerate(self.routes):
            thread = threading.Thread(
                target=self._work, args=(number, group, route), daemon=True, name=f"ha-load-{number}"
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> list[Attempt]:
        """Let each worker finish its request, then return every attempt in start order."""
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 10)
        return self.attempts()

    def attempts(self) -> list[Attempt]:
        with self._lock:
            return sorted(self._attempts, key=lambda a: a.start)

    def wait_for(self, successes: int, since: float = 0.0, timeout: float = 60.0) -> None:
        """Block until ``successes`` credentials were issued by requests that started after ``since``."""
        deadline = time.monotonic() + timeout
        while sum(1 for a in self.attempts() if a.ok and a.start >= since) < successes:
            if time.monotonic() > deadline:
                seen = Counter(a.error for a in self.attempts() if a.start >= since)
                raise TimeoutError(f"{successes} credentials not issued within {timeout:g}s; attempts: {dict(seen)}")
            time.sleep(0.05)

    def _work(self, number: int, group: str, route: Route) -> None:
        apis: dict[int, Api] = {}
        try:
            while not self._stop.is_set():
                name, port = route.current
                api = apis.setdefault(port, Api(port, self.token, self.timeout))
                start = time.monotonic()
                try:
                    status, body = api.call("GET", self.path)
                except (OSError, http.client.HTTPException) as exc:
                    self._record(Attempt(number, group, name, start, time.monotonic(), 0, _what(exc)))
                    if isinstance(exc, ConnectionRefusedError):
                        route.unreachable()
                    time.sleep(self.backoff)
                    continue
                end = time.monotonic()
                data = body.get("data") or {}
                if status == 200 and data.get("username"):
                    self._record(
                        Attempt(number, group, name, start, end, status, "", data["username"], body.get("lease_id", ""))
                    )
                else:
                    self._record(
                        Attempt(
                            number, group, name, start, end, status, _error_text(status, body, api.location, self.names)
                        )
                    )
                    time.sleep(self.backoff)
        finally:
            for api in apis.values():
                api.close()

    def _record(self, attempt: Attempt) -> None:
        with self._lock:
            self._attempts.append(attempt)


def latency(attempts: Iterable[Attempt]) -> dict[str, Any]:
    """n, p50, p95, p99 and max in ms of the successful attempts."""
    values = [a.ms for a in attempts if a.ok]
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 50), 1),
        "p95_ms": round(percentile(values, 95), 1),
        "p99_ms": round(percentile(values, 99), 1),
        "max_ms": round(max(values), 1),
    }


def summarize(
    attempts: Sequence[Attempt], event: float, settle: float = 5.0, until: float | None = None
) -> dict[str, Any]:
    """What clients saw around ``event`` (a ``time.monotonic()``), times in seconds relative to it.

    ``in_flight``: requests sent before the event that ended after it. ``first_success_s``:
    the first credential for a request sent after the event. ``switch`` latency: credentials from
    requests started between the event and ``settle`` s after that first success. Requests
    started at or after ``until`` (the next event) are left out.
    """

    def rel(t: float | None) -> float | None:
        return None if t is None else round(t - event, 3)

    if until is not None:
        attempts = [a for a in attempts if a.start < until]
    after = [a for a in attempts if a.end > event]
    in_flight = [a for a in attempts if a.start < event < a.end]
    failed = [a for a in after if not a.ok]
    # A request in flight at the event may still be answered by the node about to go: count only later ones.
    first_ok = min((a.end for a in after if a.ok and a.start >= event), default=None)
    errors: dict[str, dict[str, Any]] = {}
    for a in failed:
        entry = errors.setdefault(a.error, {"count": 0, "first_s": rel(a.end), "last_s": rel(a.end), "nodes": []})
        entry["count"] += 1
        entry["last_s"] = rel(a.end)
        if a.node not in entry["nodes"]:
            entry["nodes"].append(a.node)
    groups: dict[str, Any] = {}
    for group in sorted({a.group for a in attempts}):
        mine = [a for a in after if a.group == group]
        last_before = max((a.end for a in attempts if a.group == group and a.ok and a.end <= event), default=None)
        first = min((a.end for a in mine if a.ok and a.start >= event), default=None)
        groups[group] = {
            "failed": sum(1 for a in mine if not a.ok),
            "first_success_s": rel(first),
            "gap_s": None if first is None or last_before is None else round(first - last_before, 3),
        }
    switch_end = (first_ok if first_ok is not None else event) + settle
    return {
        "attempts_after": len(after),
        "failed": len(failed),
        "first_success_s": rel(first_ok),
        "last_failure_s": rel(max((a.end for a in failed), default=None)),
        "in_flight": [
            {
                "group": a.group,
                "node": a.node,
                "sent_s": rel(a.start),
                "ended_s": rel(a.end),
                "outcome": a.error or "credential",
            }
            for a in in_flight
        ],
        "errors": errors,
        "groups": groups,
        "latency": {
            "before": latency(a for a in attempts if a.end <= event),
            "switch": latency(a for a in attempts if event <= a.start <= switch_end or a in in_flight),
            "after": latency(a for a in attempts if a.start > switch_end),
        },
    }


def as_dicts(attempts: Iterable[Attempt], event: float) -> list[dict[str, Any]]:
    """The raw timeline, times relative to ``event`` (for the JSON results)."""
    rows = []
    for a in attempts:
        row = asdict(a)
        row["start"], row["end"] = round(a.start - event, 4), round(a.end - event, 4)
        rows.append(row)
    return rows
