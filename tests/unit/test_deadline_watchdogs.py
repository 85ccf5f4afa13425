"""The engine's deadline watchdogs share one thread: they fire in deadline order, and disarmed ones go away."""

from __future__ import annotations

import threading
import time

from tests.polling import wait_until
from yamldb.engine import executor


class _Engine:
    """Records which connection the watchdog asked to cancel (what SqlEngine.cancel receives)."""

    def __init__(self) -> None:
        self.cancelled: list[str] = []
        self._lock = threading.Lock()

    def cancel(self, dbapi_conn: str) -> None:
        with self._lock:
            self.cancelled.append(dbapi_conn)


def test_watchdogs_fire_in_deadline_order_whatever_order_they_were_armed_in():
    engine = _Engine()
    now = time.monotonic()
    dogs = {
        name: executor._Watchdog(name, engine, now + delay)  # type: ignore[arg-type]
        for name, delay in (("late", 0.6), ("early", 0.2), ("middle", 0.4))
    }
    assert wait_until(lambda: len(engine.cancelled) == 3, 10), engine.cancelled
    assert engine.cancelled == ["early", "middle", "late"]
    assert all(dog.fired for dog in dogs.values())


def test_a_deadline_earlier_than_the_one_slept_towards_wakes_the_thread():
    engine = _Engine()
    far = executor._Watchdog("far", engine, time.monotonic() + 3600)  # type: ignore[arg-type]
    try:
        executor._Watchdog("soon", engine, time.monotonic() + 0.1)  # type: ignore[arg-type]
        assert wait_until(lambda: engine.cancelled == ["soon"], 10), engine.cancelled
    finally:
        far.disarm()


def test_disarmed_watchdogs_do_not_pile_up():
    # Hosts that send a deadline with every call arm one watchdog per operation, 90 s out, and disarm it a few
    # milliseconds later: held until their deadline, 1,000 operations a second would keep 90,000 entries.
    engine = _Engine()
    before = executor._DEADLINES.pending()
    for _ in range(5000):
        executor._Watchdog("op", engine, time.monotonic() + 90).disarm()  # type: ignore[arg-type]
    assert executor._DEADLINES.pending() - before <= 130
    assert engine.cancelled == []
