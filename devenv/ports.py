"""Low-level helpers shared by the harness: TCP ports and the common exception."""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["HarnessUnavailable", "die_with_parent_preexec", "free_port", "free_ports", "port_open", "wait_for_port"]


def _find_prctl() -> Any:
    with contextlib.suppress(OSError, AttributeError):
        return ctypes.CDLL(None, use_errno=True).prctl
    return None


_PRCTL = _find_prctl() if sys.platform == "linux" else None  # resolved before any fork
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: SIGTERM the child when the thread that started it dies (e.g. pytest killed -9)."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGTERM))


def die_with_parent_preexec() -> Callable[[], None] | None:
    """A ``preexec_fn`` for a server child that should not outlive the test process, or None.

    It only calls a pre-resolved prctl(); main thread only, because PDEATHSIG fires when the
    *thread* that forked exits.
    """
    in_main_thread = threading.current_thread() is threading.main_thread()
    return _die_with_parent if _PRCTL is not None and in_main_thread else None


class HarnessUnavailable(RuntimeError):
    """A prerequisite for a throw-away server is missing on this machine.

    ``reason`` is a human-readable sentence suitable for ``pytest.skip``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free on ``host`` a moment ago (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct TCP ports that were free on ``host`` a moment ago.

    The sockets stay bound until all are chosen, so no port is handed out twice.
    """
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for sock in socks:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if a TCP connection to ``host:port`` succeeds right now."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    """Block until ``host:port`` accepts TCP connections.

    Raises ``TimeoutError`` if it does not within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        if port_open(host, port, timeout=min(0.5, max(timeout, 0.05))):
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{host}:{port} did not accept connections within {timeout:g}s")
        time.sleep(0.05)
