"""The shared waiting helpers behave as their callers rely on."""

from __future__ import annotations

from tests.polling import holds_for, wait_until


def test_wait_until_returns_the_first_truthy_value_at_once() -> None:
    calls = iter([0, None, "", "ready", "never asked"])
    assert wait_until(lambda: next(calls), timeout=30, interval=0.01) == "ready"
    assert next(calls) == "never asked"


def test_wait_until_gives_the_last_value_at_the_deadline() -> None:
    values = iter(range(1_000_000))
    assert wait_until(lambda: next(values) * 0, timeout=0.2, interval=0.01) == 0


def test_holds_for_stops_at_the_first_failure() -> None:
    calls = iter([True, True, False, "never asked"])
    assert holds_for(lambda: next(calls), seconds=30, interval=0.01) is False
    assert next(calls) == "never asked"


def test_holds_for_watches_the_whole_window() -> None:
    import time

    seen: list[float] = []
    assert holds_for(lambda: seen.append(time.monotonic()) or True, seconds=0.2, interval=0.01) is True
    assert seen[-1] - seen[0] >= 0.2 and len(seen) > 3
