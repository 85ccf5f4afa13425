"""Run rendered statements through SQLAlchemy, with transactions and clean errors.

An operation is a list of steps. Steps marked transactional run together in one
transaction, so a failure leaves nothing behind where the database allows it;
a non-transactional step first commits what came before, then runs alone in
autocommit mode (e.g. terminating sessions before DROP ROLE).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import random
import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from yamldb.engine.drivers import DriverAdapter, adapter_for
from yamldb.engine.pool import FastQueuePool
from yamldb.engine.tls import TlsSettings
from yamldb.errors import DatabaseError
from yamldb.manifest.model import PoolSettings
from yamldb.redact import Scrubber, mask_url
from yamldb.templates.plan import RenderedStep

__all__ = ["PING_WINDOW", "PoolSettings", "SqlEngine", "StepFailed"]

log = logging.getLogger("yamldb.engine")

# A pooled connection used this recently is handed out without a ping (HikariCP's "alive bypass window",
# 500 ms there too): under load a ping per operation is a round trip per operation. If such a connection
# turns out dead, the operation is retried once on a fresh one (see _run_direct).
PING_WINDOW = 0.5
# Requests beyond the pool's size wait for a connection in C (engine/pool.py).
POOL_CLASS = FastQueuePool
_USED_AT = "yamldb.used_at"
_PINGED = "yamldb.pinged"
# The direct path keeps one cursor per DBAPI connection, and a batch-capable connection in autocommit mode
# between operations (toggling it costs two driver calls per operation); _connection() takes it back for
# SQLAlchemy's transactions. Both live in the pool record's info, which is cleared when the connection goes.
_CURSOR = "yamldb.cursor"
_AUTOCOMMIT = "yamldb.autocommit"


class StepFailed(DatabaseError):
    def __init__(self, message: str, statement: str, index: int) -> None:
        super().__init__(message)
        self.statement = statement
        self.index = index


class SqlEngine:
    """A pooled SQLAlchemy engine for one connection config."""

    def __init__(
        self,
        url: URL,
        pool: PoolSettings,
        connect_args: Mapping[str, Any],
        scrub: Scrubber,
        savepoints: bool = True,
        tls: TlsSettings | None = None,
        batch: bool = False,
    ) -> None:
        self.url = url
        self.scrub = scrub
        self.savepoints = savepoints
        self.batch = batch
        self.adapter: DriverAdapter = adapter_for(url.get_backend_name())()
        # Plain transactional operations run on the raw DBAPI connection (see _run_direct).
        self._direct = self.adapter.raw_path
        self._disconnected_at = 0.0
        # run() always commits or rolls back its own transaction, so the pool's extra ROLLBACK on every
        # check-in is a wasted round trip (one of four per MySQL operation). Pre-ping is ours (_checkout).
        kwargs: dict[str, Any] = {
            "connect_args": self.adapter.connect_args(connect_args, tls, pool),
            "pool_reset_on_return": None,
        }
        if self.adapter.pooled:
            idle = max(pool.idle, 1)
            kwargs.update(
                poolclass=POOL_CLASS,
                pool_size=idle,
                max_overflow=max(pool.max_open_connections - idle, 0),
                pool_recycle=int(pool.max_connection_lifetime) if pool.max_connection_lifetime > 0 else -1,
                pool_timeout=30,
            )
        self._connect_args = kwargs["connect_args"]
        try:
            self.adapter.load_driver()
            self._engine: Engine = create_engine(url, **kwargs)
        except BaseException:
            self.adapter.dispose()
            raise
        self._dialect = self._engine.dialect
        self._driver_error: type[Exception] = self._dialect.loaded_dbapi.Error
        if pool.pre_ping:
            event.listen(self._engine, "connect", _mark_used)
            event.listen(self._engine, "checkin", _mark_used)
            event.listen(self._engine, "checkout", self._checkout)
        self.adapter.prepare(self._engine)

    def _fail(self, what: str, exc: BaseException, scrub: Scrubber | None = None) -> DatabaseError:
        # `scrub`: the request's scrubber (it also knows the new password), else the connection's.
        return DatabaseError((scrub or self.scrub)(f"{what}: {self._reason(exc)}"))

    def _reason(self, exc: BaseException) -> str:
        """Why a statement failed: the database's words, or the encoding that could not carry its text."""
        if isinstance(exc, UnicodeError):
            return _encoding_failure(exc)
        return self.adapter.message(exc)

    def verify(self, query: str) -> None:
        try:
            with self._connection() as conn:
                conn.exec_driver_sql(query)
        except SQLAlchemyError as exc:
            raise self._fail(f"cannot connect to {mask_url(self.url)}", exc) from None

    def login(self, username: str, password: str, query: str) -> None:
        """Log in as another user with the same URL and run `query`; raise DatabaseError if refused."""
        self.connect_as(
            self.url.set(username=username, password=password), query, [password], f"login as {username} failed"
        )

    def connect_as(self, url: URL, query: str, secrets: Sequence[str], what: str) -> None:
        """Open one connection to `url` (this engine's connect arguments and session settings) and run `query`;
        raise DatabaseError starting with `what` if that fails."""
        engine = create_engine(url, poolclass=NullPool, connect_args=self._connect_args)
        self.adapter.prepare(engine)  # the same session settings and password handling as the pool's
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(query)
        except SQLAlchemyError as exc:
            raise DatabaseError(self.scrub.extend(secrets)(f"{what}: {self.adapter.message(exc)}")) from None
        finally:
            engine.dispose()

    def query_scalar(self, sql: str) -> Any:
        try:
            with self._connection() as conn:
                return conn.execution_options(no_parameters=True).exec_driver_sql(sql).scalar()
        except SQLAlchemyError as exc:
            raise self._fail("query failed", exc) from None

    def query_rows(self, sql: str) -> list[dict[str, Any]]:
        """All rows of a read-only query as dicts keyed by lower-cased column name (`yamldb sweep`)."""
        try:
            with self._connection() as conn:
                result = conn.execution_options(no_parameters=True).exec_driver_sql(sql)
                keys = [str(k).lower() for k in result.keys()]
                return [dict(zip(keys, row, strict=True)) for row in result]
        except SQLAlchemyError as exc:
            raise self._fail("query failed", exc) from None

    def run(
        self,
        steps: Sequence[RenderedStep],
        operation: str,
        scrub: Scrubber | None = None,
        deadline: float | None = None,
    ) -> None:
        """Execute the steps; raise StepFailed (already scrubbed) on the first aborting error.

        `deadline` is a time.monotonic() value (the host's gRPC deadline): a statement still
        running then is cancelled in the database, so a hung statement does not outlive the request.
        """
        scrub = scrub or self.scrub
        started = time.monotonic()
        if deadline is not None and deadline <= started:
            raise DatabaseError(f"{operation}: the request's deadline passed before it started")
        if deadline is not None and deadline - started >= 86400:
            deadline = None  # beyond a day is no deadline at all (and would overflow a condition's wait)
        # Where concurrent privilege changes on shared objects fail each other (PostgreSQL updates the same
        # catalog rows from two transactions, waits, then fails or deadlocks), the adapter's lock statement
        # runs right before the first statement that changes privileges: from there to the commit,
        # transactions queue in the database one at a time; what comes before (CREATE ROLE hashing the
        # password) and every other operation stays concurrent.
        lock = self.adapter.privilege_lock if self.adapter.privilege_lock and _changes_privileges(steps) else None
        changes = self.adapter.encoding_change
        if (
            self._direct
            and all(step.transaction and step.on_error == "abort" and not step.execute_results for step in steps)
            and not (changes is not None and any(changes.search(sql) for step in steps for sql in step.statements))
        ):
            count = self._run_direct(steps, operation, scrub, deadline, lock)
        else:
            count = self._run_steps(steps, operation, scrub, deadline, lock)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                f"{operation} ran",
                extra={"fields": {"statements": count, "ms": round((time.monotonic() - started) * 1000, 2)}},
            )

    def _run_direct(
        self,
        steps: Sequence[RenderedStep],
        operation: str,
        scrub: Scrubber,
        deadline: float | None,
        lock: str | None = None,
    ) -> int:
        """The common case (one transaction, abort on error) on the pooled DBAPI connection.

        SQLAlchemy's Connection, Transaction and execution context per statement cost more CPU than the
        statements themselves here. Where the database runs a multi-statement message as one transaction
        (`batch_statements`), the whole operation is one round trip in autocommit mode, atomic all the same.
        """
        statements = [(sql, step, position) for step in steps for position, sql in enumerate(step.statements)]
        locked = _lock_before_privileges([sql for sql, _, _ in statements], lock)
        backoff = _Backoff(operation, deadline)
        reconnected = False
        start = 0  # statements before it are committed (MySQL's DDL commits implicitly): a retry resumes here
        while True:
            fairy = self._connect(scrub)
            dbapi = fairy.dbapi_connection
            unpinged = fairy.info.get(_PINGED) is False
            watchdog = _Watchdog(dbapi, self, deadline) if deadline is not None else None
            info = fairy.info
            cursor = info.pop(_CURSOR, None)
            index = 0
            try:
                if cursor is None:
                    cursor = dbapi.cursor()
                if self.batch:
                    if not info.get(_AUTOCOMMIT):
                        self._dialect.set_isolation_level(dbapi, "AUTOCOMMIT")
                        info[_AUTOCOMMIT] = True
                    # Statements are whole (split before substitution); a newline ends any trailing comment.
                    self.adapter.execute_batch(dbapi, cursor, ";\n".join(locked))
                else:
                    holding = False  # the lock is transaction-scoped: taken once per attempt, where first needed
                    for position in range(start, len(statements)):
                        if lock and not holding and _PRIVILEGES.search(statements[position][0]):
                            cursor.execute(lock)
                            holding = True
                        index = position + 1
                        cursor.execute(statements[position][0])
                        if not self.adapter.transaction_open(dbapi):
                            start, holding = index, False  # committed: a transaction-scoped lock went with it
                    index = 0  # a failing COMMIT is no statement's fault
                    if self.adapter.transaction_open(dbapi):
                        dbapi.commit()
                info[_CURSOR], cursor = cursor, None  # kept for the next operation on this connection
                return len(statements)
            except (self._driver_error, UnicodeError) as exc:
                # A UnicodeError: the driver could not encode a statement for the session's client encoding;
                # nothing of that statement was sent, what ran before it is rolled back like any failure's.
                disconnected = not isinstance(exc, UnicodeError) and self._dialect.is_disconnect(exc, dbapi, cursor)
                if disconnected:
                    fairy.invalidate(exc)
                    self._disconnected_at = time.monotonic()  # every older pooled connection gets pinged
                else:
                    with contextlib.suppress(Exception):
                        dbapi.rollback()
                if watchdog is not None and watchdog.fired:
                    raise DatabaseError(
                        f"{operation} was cancelled: the request's deadline passed (the host gave up waiting)"
                    ) from None
                if disconnected and unpinged and not reconnected:
                    # Not pinged because recently used, yet dead (the server restarted): nothing ran, retry.
                    reconnected = True
                    log.info(f"{operation}: pooled connection was closed by the server; retrying on a new one")
                    continue
                if not disconnected and self.adapter.retryable(exc) and backoff.again(self._reason(exc)):
                    continue  # rolled back for a concurrency reason: run it again from the last commit
                if disconnected or (index == 0 and not self.batch):
                    raise self._fail(f"{operation} failed", exc, scrub) from None
                if not (self.batch and len(statements) > 1):
                    _, step, position = statements[max(index, 1) - 1]
                    raise self._step_failed(exc, operation, max(index, 1), step, position, scrub) from None
                # The database rolled the whole message back: it is run again statement by statement below,
                # so the error names the statement exactly as the step-wise path does.
            except BaseException as exc:
                # Anything else (a bug, an interrupt) may have left a transaction open on this connection, and
                # the pool does not roll back on return: the connection goes, so its next user cannot commit it.
                fairy.invalidate(exc)
                raise
            finally:
                if watchdog is not None:
                    watchdog.disarm()
                if cursor is not None:
                    with contextlib.suppress(Exception):
                        cursor.close()
                fairy.close()
            # Only the batch's fallback gets here, with its connection back in the pool: the step-wise run takes
            # one of its own. Holding one while waiting for another stalled every request for the pool's
            # timeout (30 s) whenever as many operations failed at once as the pool has connections.
            return self._run_steps(steps, operation, scrub, deadline, lock)

    def _connection(self) -> Connection:
        """A SQLAlchemy connection from the pool, out of the autocommit mode the direct path may have left."""
        conn = self._engine.connect()
        record = conn.connection
        if record.info.pop(_AUTOCOMMIT, False):
            self._dialect.reset_isolation_level(record.dbapi_connection)
        return conn

    def _connect(self, scrub: Scrubber) -> Any:
        try:
            return self._engine.raw_connection()
        except (SQLAlchemyError, self._driver_error) as exc:  # raw_connection() does not wrap driver errors
            raise self._fail("cannot connect", exc, scrub) from None

    def _checkout(self, dbapi_conn: Any, record: Any, proxy: Any) -> None:
        # Pool "checkout" event: ping unless the connection proved itself within PING_WINDOW and no
        # disconnect was seen since. Raising DisconnectionError makes the pool retry with a new connection.
        used = record.info.get(_USED_AT, 0.0)
        if time.monotonic() - used <= PING_WINDOW and used > self._disconnected_at:
            record.info[_PINGED] = False
            return
        record.info[_PINGED] = True
        try:
            alive = self._dialect.do_ping(dbapi_conn)
        except Exception as exc:  # any failure: this connection is not to be trusted
            raise DisconnectionError(type(exc).__name__) from exc
        if alive is False:
            raise DisconnectionError("ping failed")

    def _run_steps(
        self,
        steps: Sequence[RenderedStep],
        operation: str,
        scrub: Scrubber,
        deadline: float | None,
        lock: str | None = None,
    ) -> int:
        """Step by step through SQLAlchemy: autocommit steps, savepoints for on_error: continue."""
        try:
            conn = self._connection()
        except SQLAlchemyError as exc:
            raise self._fail("cannot connect", exc, scrub) from None
        units = _units(steps)
        watchdog = _Watchdog(conn.connection.dbapi_connection, self, deadline) if deadline is not None else None
        backoff = _Backoff(operation, deadline)
        try:
            conn = conn.execution_options(no_parameters=True)  # '%' in SQL is not a parameter marker
            autocommit = False  # switched only when a step asks: each switch costs MySQL a round trip
            for transactional, items in units:
                if transactional and autocommit:
                    conn.commit()  # end the autocommit "transaction" of the earlier step
                    conn.execution_options(isolation_level=conn.default_isolation_level)
                    autocommit = False
                elif not transactional and not autocommit:
                    conn.execution_options(isolation_level="AUTOCOMMIT")
                    autocommit = True
                self._run_unit(
                    conn,
                    transactional,
                    items,
                    operation,
                    scrub,
                    backoff,
                    lock if transactional and _changes_privileges(step for _, step, _, _ in items) else None,
                )
        except StepFailed as exc:
            if watchdog is not None and watchdog.fired:
                raise DatabaseError(
                    f"{operation} statement {exc.index} was cancelled: the request's deadline "
                    "passed (the host gave up waiting)"
                ) from None
            raise
        except SQLAlchemyError as exc:
            raise self._fail(f"{operation} failed", exc, scrub) from None
        finally:
            if watchdog is not None:
                watchdog.disarm()
            conn.close()  # rolls back anything uncommitted
        return sum(len(items) for _, items in units)

    def _run_unit(
        self,
        conn: Connection,
        transactional: bool,
        items: Sequence[_Item],
        operation: str,
        scrub: Scrubber,
        backoff: _Backoff,
        lock: str | None = None,
    ) -> None:
        """One transaction (consecutive transactional steps), or one autocommit statement.

        A statement the database rolled back for a concurrency reason is run again: alone if only it was
        undone (a savepoint, an autocommit statement), else the transaction from its start, or from the
        last implicit commit (MySQL's DDL), so nothing committed runs twice."""
        dbapi = conn.connection.dbapi_connection
        start = position = 0
        tx = conn.begin() if transactional else None
        holding = False  # the privilege lock, taken right before the first statement that needs it
        while position < len(items):
            if lock and not holding and _PRIVILEGES.search(items[position][0]):
                conn.exec_driver_sql(lock)
                holding = True
            try:
                self._execute(conn, items[position], operation, scrub, backoff)
            except _Restart:
                if tx is not None:
                    tx.rollback()
                    tx = conn.begin()
                holding = False
                position = start
                continue
            position += 1
            if not transactional or not self.adapter.transaction_open(dbapi):
                start = position
        if tx is not None:
            tx.commit()
        else:
            conn.commit()

    def _execute(self, conn: Connection, item: _Item, operation: str, scrub: Scrubber, backoff: _Backoff) -> None:
        sql, step, position, index = item
        tolerate = step.on_error != "abort"
        while True:
            savepoint = conn.begin_nested() if tolerate and step.transaction and self.savepoints else None
            try:
                result = conn.exec_driver_sql(sql)
                rows = result.fetchall() if step.execute_results else None
                self._keep_encoding(conn, sql)
                if rows is not None:
                    self._execute_results(conn, rows, item, operation, scrub)
                if savepoint is not None:
                    savepoint.commit()
                return
            except (DBAPIError, UnicodeError) as exc:  # SQLAlchemy passes a driver's UnicodeError on unwrapped
                if savepoint is not None:
                    savepoint.rollback()
                if self.adapter.retryable(exc) and backoff.again(self._reason(exc)):
                    if savepoint is not None or not step.transaction:
                        continue  # only this statement was undone
                    raise _Restart() from None
                if tolerate:
                    self._skipped(step, operation, index, scrub(self._reason(exc)), scrub(step.display[position]))
                    return
                raise self._step_failed(exc, operation, index, step, position, scrub) from None

    def _execute_results(
        self, conn: Connection, rows: Sequence[Any], item: _Item, operation: str, scrub: Scrubber
    ) -> None:
        """Run the statements a query returned (e.g. one KILL per session of a user); their failures are
        reported together, once, as the step's on_error says."""
        _, step, position, index = item
        failures: list[str] = []
        for row in rows:
            if not row or not row[0]:
                continue
            savepoint = conn.begin_nested() if step.transaction and self.savepoints else None
            try:
                conn.exec_driver_sql(str(row[0]))
                self._keep_encoding(conn, str(row[0]))
                if savepoint is not None:
                    savepoint.commit()
            except (DBAPIError, UnicodeError) as exc:
                if savepoint is not None:
                    savepoint.rollback()
                if step.on_error == "abort":
                    raise self._step_failed(exc, operation, index, step, position, scrub) from None
                failures.append(scrub(self._reason(exc)))
        if failures:
            reasons = "; ".join(dict.fromkeys(failures))
            self._skipped(
                step,
                operation,
                index,
                f"{len(failures)} of {len(rows)} statements it built failed: {reasons}",
                scrub(step.display[position]),
            )

    def _keep_encoding(self, conn: Connection, sql: str) -> None:
        # Values were escaped for the encoding the connection was opened with: a statement that may have changed
        # how the server reads the next ones is followed by setting it back (operations with such a statement
        # take this path, never the direct one).
        changes = self.adapter.encoding_change
        if changes is not None and changes.search(sql):
            self.adapter.restore_encoding(conn.connection.dbapi_connection)

    @staticmethod
    def _skipped(step: RenderedStep, operation: str, index: int, error: str, statement: str) -> None:
        if step.on_error == "warn":
            preview = statement if len(statement) <= 200 else statement[:200] + "…"
            log.warning(
                f"{operation}: statement {index} failed and was skipped (on_error: warn): {error}",
                extra={"fields": {"statement": preview}},
            )
        else:
            log.info(
                f"{operation}: statement {index} failed, continuing as the manifest allows",
                extra={"fields": {"error": error}},
            )

    def _step_failed(
        self, exc: BaseException, operation: str, index: int, step: RenderedStep, position: int, scrub: Scrubber
    ) -> StepFailed:
        message = scrub(self._reason(exc))
        shown = scrub(step.display[position])
        preview = shown if len(shown) <= 300 else shown[:300] + "…"
        return StepFailed(f"{operation} statement {index} failed: {message} (statement: {preview})", shown, index)

    def cancel(self, dbapi_conn: Any) -> None:
        """Ask the database to stop whatever `dbapi_conn` is running (best effort, from another thread)."""
        self.adapter.cancel(dbapi_conn, self._engine)

    def dispose(self) -> None:
        self._engine.dispose()
        self.adapter.dispose()


# Retries of a statement or transaction the database rolled back for a concurrency reason (the adapter
# says which errors those are): full-jitter exponential backoff, bounded in attempts and by the deadline.
RETRIES = 12
BACKOFF_BASE = 0.01
BACKOFF_CAP = 0.4

_Item = tuple[str, RenderedStep, int, int]  # sql, its step, its position in the step, its number in the operation


def _encoding_failure(exc: UnicodeError) -> str:
    # Never the exception's own text: it quotes the character, which may belong to a password.
    encoding = getattr(exc, "encoding", "?")
    if isinstance(exc, UnicodeDecodeError):
        return f"the database sent text that is not valid in the connection's client encoding ({encoding})"
    return (
        f"the statement holds a character that the connection's client encoding ({encoding}) cannot represent; "
        "use UTF-8 (remove the client encoding or charset setting from connect_args or the connection URL)"
    )


class _Restart(DatabaseError):
    """The transaction was rolled back for a concurrency reason: run its unit again (never leaves the engine)."""


class _Backoff:
    def __init__(self, operation: str, deadline: float | None) -> None:
        self.operation = operation
        self.deadline = deadline
        self.tries = 0

    def again(self, reason: str) -> bool:
        """Sleep before another attempt and return True, or False when the attempts or the time are spent."""
        if self.tries >= RETRIES:
            return False
        delay = random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**self.tries))
        if self.deadline is not None and time.monotonic() + delay >= self.deadline:
            return False
        self.tries += 1
        log.debug(
            f"{self.operation}: rolled back for a concurrency reason, trying again",
            extra={"fields": {"attempt": self.tries, "error": reason}},
        )
        time.sleep(delay)
        return True


_PRIVILEGES = re.compile(r"\b(?:GRANT|REVOKE|OWNED)\b", re.IGNORECASE)  # OWNED: DROP/REASSIGN OWNED BY


def _changes_privileges(steps: Iterable[RenderedStep]) -> bool:
    # Anywhere in the text, DO blocks included; a false positive costs only concurrency.
    return any(_PRIVILEGES.search(sql) for step in steps for sql in step.statements)


def _lock_before_privileges(statements: list[str], lock: str | None) -> list[str]:
    """The statements with `lock` inserted right before the first one that changes privileges."""
    for position, sql in enumerate(statements):
        if lock and _PRIVILEGES.search(sql):
            return [*statements[:position], lock, *statements[position:]]
    return statements


def _units(steps: Sequence[RenderedStep]) -> list[tuple[bool, list[_Item]]]:
    """Consecutive transactional steps form one transaction; every autocommit statement is a unit alone."""
    units: list[tuple[bool, list[_Item]]] = []
    index = 0
    for step in steps:
        for position, sql in enumerate(step.statements):
            index += 1
            item = (sql, step, position, index)
            if step.transaction and units and units[-1][0]:
                units[-1][1].append(item)
            else:
                units.append((step.transaction, [item]))
    return units


class _Deadlines:
    """One daemon thread that fires every armed watchdog when its deadline passes.

    A threading.Timer per operation started a thread each time (about 0.3 ms of CPU here) for a host that sends
    a gRPC deadline with every call. Disarmed entries are dropped lazily, and the heap is compacted once they
    are most of it, so it never holds much more than the operations in flight."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Watchdog]] = []
        self._order = itertools.count()  # ties never compare watchdogs
        self._disarmed = 0
        self._thread: threading.Thread | None = None

    def arm(self, watchdog: _Watchdog, deadline: float) -> None:
        with self._cond:
            heapq.heappush(self._heap, (deadline, next(self._order), watchdog))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="yamldb-deadlines", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is watchdog:
                self._cond.notify()  # earlier than what the thread sleeps towards

    def disarm(self, watchdog: _Watchdog) -> None:
        with self._cond:
            if not watchdog.armed:
                return
            watchdog.armed = False
            self._disarmed += 1
            if self._disarmed > 64 and 2 * self._disarmed > len(self._heap):
                self._heap = [entry for entry in self._heap if entry[2].armed]
                heapq.heapify(self._heap)
                self._disarmed = 0

    def pending(self) -> int:
        """Entries held, disarmed ones included (bounded, see the class docstring)."""
        with self._cond:
            return len(self._heap)

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    while self._heap and not self._heap[0][2].armed:
                        heapq.heappop(self._heap)
                        self._disarmed -= 1
                    if not self._heap:
                        self._cond.wait()
                        continue
                    delay = self._heap[0][0] - time.monotonic()
                    if delay <= 0:
                        due = heapq.heappop(self._heap)[2]
                        due.armed = False
                        break
                    self._cond.wait(delay)
            # A cancel is a round trip (psycopg's cancel request, MySQL's KILL QUERY): in a thread of its own, so
            # one slow cancel never holds back the next deadline.
            threading.Thread(target=due._fire, name="yamldb-cancel", daemon=True).start()


_DEADLINES = _Deadlines()


class _Watchdog:
    """Cancels the connection's running statement when the deadline passes."""

    def __init__(self, dbapi_conn: Any, engine: SqlEngine, deadline: float) -> None:
        self.fired = False
        self.armed = True
        self._dbapi = dbapi_conn
        self._engine = engine
        _DEADLINES.arm(self, deadline)

    def _fire(self) -> None:
        self.fired = True
        try:
            self._engine.cancel(self._dbapi)
            log.warning("cancelled a statement: the request's deadline passed")
        except Exception as exc:  # the request fails either way; say why the cancel did not happen
            log.warning(
                "could not cancel a statement after the deadline", extra={"fields": {"error": type(exc).__name__}}
            )

    def disarm(self) -> None:
        _DEADLINES.disarm(self)


def _mark_used(dbapi_conn: Any, record: Any) -> None:
    # Pool "connect" and "checkin" events: the connection just worked.
    record.info[_USED_AT] = time.monotonic()
