"""SQLAlchemy's QueuePool with the waiting for a free connection done in C.

When more requests arrive than a connection config has connections (Vault's default is 4), the others
wait for one to come back. SQLAlchemy's queue waits on a Python ``threading.Condition`` shared with the
threads returning connections: each hand-over takes and releases its mutex several times in Python code
while the waiter and the returner contend for it and for the GIL. ``queue.SimpleQueue`` hands an item to
one waiting thread inside one C call. Pool sizes, overflow, timeouts and what is returned when are
QueuePool's own; only the queue changes.
"""

from __future__ import annotations

import queue
from typing import Generic, TypeVar

from sqlalchemy.pool import QueuePool
from sqlalchemy.util import queue as sqla_queue

__all__ = ["FastQueuePool"]

_T = TypeVar("_T")


class _SimpleQueue(Generic[_T]):
    """The part of SQLAlchemy's queue interface that QueuePool uses, on ``queue.SimpleQueue`` (FIFO)."""

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        self.maxsize = maxsize
        self.use_lifo = use_lifo  # not supported (it is never set by yamldb): FIFO, as SQLAlchemy's default
        self._queue: queue.SimpleQueue[_T] = queue.SimpleQueue()

    def empty(self) -> bool:
        return self._queue.empty()

    def full(self) -> bool:
        return 0 < self.maxsize <= self._queue.qsize()

    def qsize(self) -> int:
        return self._queue.qsize()

    def put_nowait(self, item: _T) -> None:
        self.put(item, block=False)

    def put(self, item: _T, block: bool = True, timeout: float | None = None) -> None:
        # Only idle connections are kept here and QueuePool never blocks on put: a full queue means the
        # returned connection is closed (it was an overflow one). Two returns racing past the check keep
        # one more idle connection for a while; the number of open connections is bounded elsewhere.
        if self.full():
            raise sqla_queue.Full()
        self._queue.put(item)

    def get_nowait(self) -> _T:
        return self.get(block=False)

    def get(self, block: bool = True, timeout: float | None = None) -> _T:
        try:
            return self._queue.get(block, timeout)
        except queue.Empty:
            raise sqla_queue.Empty() from None


class FastQueuePool(QueuePool):
    """QueuePool whose waiters are woken by ``queue.SimpleQueue``."""

    _queue_class = _SimpleQueue  # type: ignore[assignment]
