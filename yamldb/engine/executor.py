"""Run rendered statements through SQLAlchemy, with transactions and clean errors.

An operation is a list of steps. Steps marked transactional run together in one
transaction, so a failure leaves nothing behind where the database allows it;
a non-transactional step first commits what came before, then runs alone in
autocommit mode (e.g. terminating sessions before DROP ROLE).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from yamldb.engine.tls import TlsFiles, TlsSettings
from yamldb.errors import DatabaseError
from yamldb.redact import Scrubber
from yamldb.templates.plan import RenderedStep

log = logging.getLogger("yamldb.engine")

# A pooled connection used this recently is handed out without a ping (HikariCP's "alive bypass window",
# 500 ms there too): under load a ping per operation is a round trip per operation. If such a connection
# turns out dead, the operation is retried once on a fresh one (see _run_direct).
PING_WINDOW = 0.5
_USED_AT = "yamldb.used_at"
_PINGED = "yamldb.pinged"


@dataclass(frozen=True)
class PoolSettings:
    max_open: int = 4
    max_idle: int | None = None
    max_lifetime: float = 0.0
    pre_ping: bool = True
    connect_timeout: float = 10.0


class StepFailed(DatabaseError):
    def __init__(self, message: str, statement: str, index: int) -> None:
        super().__init__(message)
        self.statement = statement
        self.index = index


def driver_message(exc: BaseException) -> str:
    """The database's own words, without the driver's echo of the statement."""
    orig = getattr(exc, "orig", exc)
    diag = getattr(orig, "diag", None)  # psycopg: structured fields, no statement text
    if diag is not None and getattr(diag, "message_primary", None):
        parts = [diag.message_primary]
        if diag.message_detail:
            parts.append(f"DETAIL: {diag.message_detail}")
        if diag.message_hint:
            parts.append(f"HINT: {diag.message_hint}")
        return " ".join(parts)
    args = getattr(orig, "args", ())
    if len(args) == 2 and isinstance(args[0], int):  # PyMySQL: (errno, message)
        return f"({args[0]}) {args[1]}"
    text = str(orig).strip()
    return text.splitlines()[0] if text else type(orig).__name__


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
        # Plain transactional operations run on the raw DBAPI connection (see _run_direct).
        self._direct = True
        self._disconnected_at = 0.0
        self._tls_files = TlsFiles()
        # run() always commits or rolls back its own transaction, so the pool's extra ROLLBACK on every
        # check-in is a wasted round trip (one of four per MySQL operation). Pre-ping is ours (_checkout).
        kwargs: dict[str, Any] = {"connect_args": dict(connect_args), "pool_reset_on_return": None}
        backend = url.get_backend_name()
        if tls is not None and backend == "mysql":
            kwargs["connect_args"]["ssl"] = tls.ssl_context()
            if tls.server_name:
                kwargs["connect_args"]["server_hostname"] = tls.server_name
        elif backend == "mysql" and not any(key.startswith("ssl") for key in connect_args):
            # No TLS asked for: plaintext, as with Go's MySQL driver behind Vault's plugin. PyMySQL's own
            # default ("preferred") would build an unverifying SSL context with the whole system CA bundle
            # for every connection (0.8 MB resident each) and switch to TLS only if the server offers it.
            kwargs["connect_args"]["ssl_disabled"] = True
        elif tls is not None and backend == "postgresql":
            kwargs["connect_args"].update(self._tls_files.psycopg_args(tls))
        if backend == "sqlite":
            kwargs["connect_args"].setdefault("check_same_thread", False)
        else:
            idle = pool.max_open if pool.max_idle is None else min(pool.max_idle, pool.max_open)
            kwargs.update(
                pool_size=max(idle, 1),
                max_overflow=max(pool.max_open - max(idle, 1), 0),
                pool_recycle=int(pool.max_lifetime) if pool.max_lifetime > 0 else -1,
                pool_timeout=30,
            )
            if backend in ("postgresql", "mysql", "mariadb"):
                kwargs["connect_args"].setdefault("connect_timeout", max(int(pool.connect_timeout), 1))
        self._connect_args = kwargs["connect_args"]
        self._engine: Engine = create_engine(url, **kwargs)
        self._dialect = self._engine.dialect
        self._driver_error: type[Exception] = self._dialect.loaded_dbapi.Error
        if pool.pre_ping:
            event.listen(self._engine, "connect", _mark_used)
            event.listen(self._engine, "checkin", _mark_used)
            event.listen(self._engine, "checkout", self._checkout)
        if backend == "sqlite":
            # With BEGIN issued by the "begin" event below, the DBAPI connection itself autocommits:
            # the raw-connection path would lose its transaction.
            self._direct = False

            # pysqlite's implicit transaction handling skips BEGIN before DDL; take control.
            @event.listens_for(self._engine, "connect")
            def _no_implicit(dbapi_conn: Any, _: Any) -> None:
                dbapi_conn.isolation_level = None

            @event.listens_for(self._engine, "begin")
            def _begin(conn: Connection) -> None:
                conn.exec_driver_sql("BEGIN")

    def _fail(self, what: str, exc: BaseException, scrub: Scrubber | None = None) -> DatabaseError:
        # `scrub`: the request's scrubber (it also knows the new password), else the connection's.
        return DatabaseError((scrub or self.scrub)(f"{what}: {driver_message(exc)}"))

    def verify(self, query: str) -> None:
        try:
            with self._engine.connect() as conn:
                conn.exec_driver_sql(query)
        except SQLAlchemyError as exc:
            raise self._fail(f"cannot connect to {self.url.render_as_string(hide_password=True)}", exc) from None

    def login(self, username: str, password: str, query: str) -> None:
        """Log in as another user with the same URL and run `query`; raise DatabaseError if refused."""
        engine = create_engine(self.url.set(username=username, password=password), poolclass=NullPool,
                               connect_args=self._connect_args)
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(query)
        except SQLAlchemyError as exc:
            raise DatabaseError(self.scrub.extend([password])(f"login as {username} failed: "
                                                             f"{driver_message(exc)}")) from None
        finally:
            engine.dispose()

    def query_scalar(self, sql: str) -> Any:
        try:
            with self._engine.connect() as conn:
                return conn.execution_options(no_parameters=True).exec_driver_sql(sql).scalar()
        except SQLAlchemyError as exc:
            raise self._fail("query failed", exc) from None

    def query_rows(self, sql: str) -> list[dict[str, Any]]:
        """All rows of a read-only query as dicts keyed by lower-cased column name (`yamldb sweep`)."""
        try:
            with self._engine.connect() as conn:
                result = conn.execution_options(no_parameters=True).exec_driver_sql(sql)
                keys = [str(k).lower() for k in result.keys()]
                return [dict(zip(keys, row, strict=True)) for row in result]
        except SQLAlchemyError as exc:
            raise self._fail("query failed", exc) from None

    def run(self, steps: Sequence[RenderedStep], operation: str, scrub: Scrubber | None = None,
            deadline: float | None = None) -> None:
        """Execute the steps; raise StepFailed (already scrubbed) on the first aborting error.

        `deadline` is a time.monotonic() value (the host's gRPC deadline): a statement still
        running then is cancelled in the database, so a hung statement does not outlive the request.
        """
        scrub = scrub or self.scrub
        started = time.monotonic()
        if deadline is not None and deadline <= started:
            raise DatabaseError(f"{operation}: the request's deadline passed before it started")
        if deadline is not None and deadline - started >= 86400:
            deadline = None  # beyond a day is no deadline at all (and would overflow threading.Timer)
        if self._direct and all(step.transaction and step.on_error == "abort" for step in steps):
            count = self._run_direct(steps, operation, scrub, deadline)
        else:
            count = self._run_steps(steps, operation, scrub, deadline)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(f"{operation} ran", extra={"fields": {"statements": count,
                                                            "ms": round((time.monotonic() - started) * 1000, 2)}})

    def _run_direct(self, steps: Sequence[RenderedStep], operation: str, scrub: Scrubber,
                    deadline: float | None) -> int:
        """The common case (one transaction, abort on error) on the pooled DBAPI connection.

        SQLAlchemy's Connection, Transaction and execution context per statement cost more CPU than the
        statements themselves here. Where the database runs a multi-statement message as one transaction
        (`batch_statements`), the whole operation is one round trip in autocommit mode, atomic all the same.
        """
        statements = [(sql, step, position) for step in steps for position, sql in enumerate(step.statements)]
        for attempt in (1, 2):
            fairy = self._connect(scrub)
            dbapi = fairy.dbapi_connection
            unpinged = fairy.info.get(_PINGED) is False
            watchdog = _Watchdog(dbapi, self, deadline) if deadline is not None else None
            cursor = None
            index = 0
            try:
                cursor = dbapi.cursor()
                if self.batch:
                    self._dialect.set_isolation_level(dbapi, "AUTOCOMMIT")
                    try:
                        # Statements are whole (split before substitution); a newline ends any trailing comment.
                        cursor.execute(";\n".join(sql for sql, _, _ in statements))
                    finally:
                        with contextlib.suppress(Exception):
                            self._dialect.reset_isolation_level(dbapi)
                else:
                    for sql, _, _ in statements:
                        index += 1
                        cursor.execute(sql)
                    index = 0  # a failing COMMIT is no statement's fault
                    if _transaction_open(dbapi):
                        dbapi.commit()
                return len(statements)
            except self._driver_error as exc:
                disconnected = self._dialect.is_disconnect(exc, dbapi, cursor)
                if disconnected:
                    fairy.invalidate(exc)
                    self._disconnected_at = time.monotonic()  # every older pooled connection gets pinged
                else:
                    with contextlib.suppress(Exception):
                        dbapi.rollback()
                if watchdog is not None and watchdog.fired:
                    raise DatabaseError(f"{operation} was cancelled: the request's deadline passed "
                                        "(the host gave up waiting)") from None
                if disconnected and unpinged and attempt == 1:
                    # Not pinged because recently used, yet dead (the server restarted): nothing ran, retry.
                    log.info(f"{operation}: pooled connection was closed by the server; retrying on a new one")
                    continue
                if disconnected or (index == 0 and not self.batch):
                    raise self._fail(f"{operation} failed", exc, scrub) from None
                if self.batch and len(statements) > 1:
                    # The database rolled the whole message back. Run it again statement by statement,
                    # so the error names the statement exactly as the step-wise path does.
                    return self._run_steps(steps, operation, scrub, deadline)
                _, step, position = statements[max(index, 1) - 1]
                raise self._step_failed(exc, operation, max(index, 1), step, position, scrub) from None
            finally:
                if watchdog is not None:
                    watchdog.disarm()
                if cursor is not None:
                    with contextlib.suppress(Exception):
                        cursor.close()
                fairy.close()
        raise AssertionError("unreachable")  # pragma: no cover

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

    def _run_steps(self, steps: Sequence[RenderedStep], operation: str, scrub: Scrubber,
                   deadline: float | None) -> int:
        """Step by step through SQLAlchemy: autocommit steps, savepoints for on_error: continue."""
        try:
            conn = self._engine.connect()
        except SQLAlchemyError as exc:
            raise self._fail("cannot connect", exc, scrub) from None
        index = 0
        watchdog = _Watchdog(conn.connection.dbapi_connection, self, deadline) if deadline is not None else None
        try:
            conn = conn.execution_options(no_parameters=True)  # '%' in SQL is not a parameter marker
            tx = None
            autocommit = False  # switched only when a step asks: each switch costs MySQL a round trip
            for step in steps:
                if step.transaction and tx is None:
                    if autocommit:
                        conn.commit()  # end the autocommit "transaction" of the earlier step
                        conn.execution_options(isolation_level=conn.default_isolation_level)
                        autocommit = False
                    tx = conn.begin()
                elif not step.transaction:
                    if tx is not None:
                        tx.commit()
                        tx = None
                    if not autocommit:
                        conn.execution_options(isolation_level="AUTOCOMMIT")
                        autocommit = True
                for position, sql in enumerate(step.statements):
                    index += 1
                    self._execute(conn, sql, position, step, operation, index, scrub)
                if not step.transaction:
                    conn.commit()
            if tx is not None:
                tx.commit()
        except StepFailed as exc:
            if watchdog is not None and watchdog.fired:
                raise DatabaseError(f"{operation} statement {exc.index} was cancelled: the request's deadline "
                                    "passed (the host gave up waiting)") from None
            raise
        except SQLAlchemyError as exc:
            raise self._fail(f"{operation} failed", exc, scrub) from None
        finally:
            if watchdog is not None:
                watchdog.disarm()
            conn.close()  # rolls back anything uncommitted
        return index

    def _execute(
        self, conn: Connection, sql: str, position: int, step: RenderedStep, operation: str, index: int,
        scrub: Scrubber,
    ) -> None:
        tolerate = step.on_error == "continue"
        savepoint = conn.begin_nested() if tolerate and step.transaction and self.savepoints else None
        try:
            conn.exec_driver_sql(sql)
            if savepoint is not None:
                savepoint.commit()
        except DBAPIError as exc:
            if savepoint is not None:
                savepoint.rollback()
            message = scrub(driver_message(exc))
            if tolerate:
                log.info(f"{operation}: statement {index} failed, continuing as the manifest allows",
                         extra={"fields": {"error": message}})
                return
            raise self._step_failed(exc, operation, index, step, position, scrub) from None

    @staticmethod
    def _step_failed(exc: BaseException, operation: str, index: int, step: RenderedStep, position: int,
                     scrub: Scrubber) -> StepFailed:
        message = scrub(driver_message(exc))
        shown = scrub(step.display[position])
        preview = shown if len(shown) <= 300 else shown[:300] + "…"
        return StepFailed(f"{operation} statement {index} failed: {message} (statement: {preview})", shown, index)

    def cancel(self, dbapi_conn: Any) -> None:
        """Ask the database to stop whatever `dbapi_conn` is running (best effort, from another thread)."""
        if hasattr(dbapi_conn, "cancel_safe"):  # psycopg 3.2+: a non-blocking out-of-band cancel
            dbapi_conn.cancel_safe(timeout=5)
        elif hasattr(dbapi_conn, "cancel"):
            dbapi_conn.cancel()
        elif hasattr(dbapi_conn, "interrupt"):  # sqlite3
            dbapi_conn.interrupt()
        elif hasattr(dbapi_conn, "thread_id"):  # PyMySQL: KILL QUERY from a second connection
            with self._engine.connect() as other:
                other.exec_driver_sql(f"KILL QUERY {int(dbapi_conn.thread_id())}")

    def dispose(self) -> None:
        self._engine.dispose()
        self._tls_files.remove()


class _Watchdog:
    """Cancels the connection's running statement when the deadline passes."""

    def __init__(self, dbapi_conn: Any, engine: SqlEngine, deadline: float) -> None:
        self.fired = False
        self._dbapi = dbapi_conn
        self._engine = engine
        self._timer = threading.Timer(max(deadline - time.monotonic(), 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        try:
            self._engine.cancel(self._dbapi)
            log.warning("cancelled a statement: the request's deadline passed")
        except Exception as exc:  # the request fails either way; say why the cancel did not happen
            log.warning("could not cancel a statement after the deadline",
                        extra={"fields": {"error": type(exc).__name__}})

    def disarm(self) -> None:
        self._timer.cancel()


def _transaction_open(dbapi_conn: Any) -> bool:
    """False only when the driver knows that no transaction is open, e.g. after MySQL's DDL, which commits
    implicitly: then COMMIT is a round trip that does nothing. PyMySQL keeps the status flags of the server's
    last reply in `server_status` (bit 0: SERVER_STATUS_IN_TRANS); other drivers always commit."""
    status = getattr(dbapi_conn, "server_status", None)
    return not isinstance(status, int) or bool(status & 1)


def _mark_used(dbapi_conn: Any, record: Any) -> None:
    # Pool "connect" and "checkin" events: the connection just worked.
    record.info[_USED_AT] = time.monotonic()
