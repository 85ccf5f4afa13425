"""FastQueuePool keeps QueuePool's bounds: at most pool_size + max_overflow open, waiters get the next
returned connection, a wait ends with SQLAlchemy's TimeoutError, overflow connections close on return."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import exc

from yamldb.engine.pool import FastQueuePool


class _Conn:
    def __init__(self, opened: list[_Conn]) -> None:
        self.closed = False
        opened.append(self)

    def close(self) -> None:
        self.closed = True

    def rollback(self) -> None:
        pass


def _pool(opened: list[_Conn], size: int = 2, overflow: int = 1, timeout: float = 0.2) -> FastQueuePool:
    return FastQueuePool(
        lambda: _Conn(opened), pool_size=size, max_overflow=overflow, timeout=timeout, reset_on_return=None
    )


def test_no_more_than_size_plus_overflow_are_open_and_a_wait_times_out():
    opened: list[_Conn] = []
    pool = _pool(opened)
    held = [pool.connect() for _ in range(3)]
    assert len(opened) == 3
    with pytest.raises(exc.TimeoutError):
        pool.connect()
    assert len(opened) == 3
    for conn in held:
        conn.close()
    assert sum(c.closed for c in opened) == 1  # the overflow connection: the idle queue holds two
    assert pool.checkedin() == 2


def test_a_waiter_gets_the_connection_returned_next():
    opened: list[_Conn] = []
    pool = _pool(opened, size=1, overflow=0, timeout=30)
    first = pool.connect()
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(pool.connect().dbapi_connection))
    waiter.start()
    first_dbapi = first.dbapi_connection
    first.close()
    waiter.join(timeout=30)
    assert got == [first_dbapi]
    assert len(opened) == 1


def test_the_queue_reports_empty_and_full_as_sqlalchemy_expects():
    opened: list[_Conn] = []
    pool = _pool(opened, size=1, overflow=0)
    assert pool._pool.empty() and not pool._pool.full()
    pool.connect().close()
    assert pool._pool.full() and pool._pool.qsize() == 1
    pool.dispose()
    assert all(c.closed for c in opened)
