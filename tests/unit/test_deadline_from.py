"""OpenBao sets no gRPC deadline on these calls; grpc then reports an enormous time_remaining()."""

from __future__ import annotations

import threading
import time

from yamldb.transport.services import deadline_from


def test_no_deadline_and_effectively_infinite_mean_none():
    assert deadline_from(None) is None
    assert deadline_from(1.8e19) is None  # what grpcio reports without a deadline


def test_a_real_deadline_becomes_a_monotonic_time_a_timer_accepts():
    deadline = deadline_from(90.0)
    assert deadline is not None and 89 < deadline - time.monotonic() <= 90
    timer = threading.Timer(deadline - time.monotonic(), lambda: None)  # must not overflow
    timer.start()
    timer.cancel()
