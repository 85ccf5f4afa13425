"""Waiting in tests: poll with a deadline, never sleep a fixed time and hope.

`wait_until` waits for something to happen and returns as soon as it has. `holds_for`
checks that something does NOT happen: it watches the whole window and fails the moment
the condition breaks, instead of sleeping and looking once at the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["holds_for", "wait_until"]

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, interval: float = 0.05) -> T:
    """Poll `predicate` until it returns something truthy, and return that; its last value on timeout.

    Use as ``assert wait_until(lambda: ..., 10), "what did not happen"``.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(min(interval, max(deadline - time.monotonic(), 0.0)))


def holds_for(predicate: Callable[[], object], seconds: float, interval: float = 0.05) -> bool:
    """True when `predicate` stays truthy for `seconds`, polled; False as soon as it is not."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not predicate():
            return False
        time.sleep(interval)
    return bool(predicate())
