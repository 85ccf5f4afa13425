"""Firebird through firebird-driver (sqlalchemy-firebird's firebird+firebird).

Four things differ from the generic adapter:

- sqlalchemy-firebird switches isolation levels through a connection method firebird-driver does not
  have, so a step that runs alone (`transaction: false`, which asks for AUTOCOMMIT) failed with an
  AttributeError. Firebird has no autocommit mode on the connection: the adapter remembers which
  connections are "alone" and commits after each of their statements.
- firebird-driver's `cursor.rowcount` fails ("Result code does not match request code") after a user
  management statement whose error Firebird reports at commit, and SQLAlchemy reads it after every
  statement: the real error ("record not found for user", "no permission ...") was lost. The adapter's
  cursors answer -1 there, so the commit reports the real error.
- Cancelling goes through the attachment (`fb_cancel_operation`), not a DBAPI `cancel()`.
- A Firebird error is a status vector, one line per entry: the first line alone ("unsuccessful
  metadata update", "Dynamic SQL Error") does not say what went wrong, so every line is kept. The
  vector holds the server's words only, never the statement.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from yamldb.engine.drivers.base import DriverAdapter
from yamldb.engine.drivers.registry import register

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["FirebirdAdapter"]

_AUTOCOMMIT = "AUTOCOMMIT"
_DEFAULT_LEVEL = "READ COMMITTED"  # firebird-driver's default transaction parameters


@register
class FirebirdAdapter(DriverAdapter):
    backends = ("firebird",)
    schemes = ("firebird",)

    def prepare(self, engine: Engine) -> None:
        from sqlalchemy import event

        alone: weakref.WeakSet[Any] = weakref.WeakSet()
        dialect = engine.dialect

        def set_isolation_level(dbapi_conn: Any, level: str) -> None:
            if level == _AUTOCOMMIT:
                alone.add(dbapi_conn)
            else:
                alone.discard(dbapi_conn)

        def get_isolation_level(dbapi_conn: Any) -> str:
            return _AUTOCOMMIT if dbapi_conn in alone else _DEFAULT_LEVEL

        # Instance attributes: only this engine's dialect changes, sqlalchemy-firebird stays as installed.
        dialect.set_isolation_level = set_isolation_level  # type: ignore[method-assign]
        dialect.get_isolation_level = get_isolation_level  # type: ignore[method-assign]
        dialect.get_default_isolation_level = lambda dbapi_conn: _DEFAULT_LEVEL  # type: ignore[method-assign]

        base_context = dialect.execution_ctx_cls

        class _Context(base_context):  # type: ignore[misc, valid-type]
            def create_cursor(self) -> Any:
                return _RowcountSafeCursor(super().create_cursor())

        dialect.execution_ctx_cls = _Context

        @event.listens_for(engine, "after_cursor_execute")
        def _commit_alone(
            conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
        ) -> None:
            dbapi_conn = conn.connection.dbapi_connection
            if dbapi_conn in alone:
                dialect.do_commit(dbapi_conn)

    def cancel(self, dbapi_conn: Any, engine: Engine) -> None:
        from firebird.driver.types import CancelType

        # firebird-driver 1.x exposes fb_cancel_operation on the attachment only.
        dbapi_conn._att.cancel_operation(CancelType.RAISE)

    def message(self, exc: BaseException) -> str:
        # SQLAlchemy's wrapper carries the driver's error in .orig; firebird-driver's own errors have an
        # .orig attribute too, which is None.
        orig = getattr(exc, "orig", None) or exc
        lines = [line.strip().lstrip("-").strip() for line in str(orig).splitlines()]
        text = "; ".join(line for line in lines if line)
        return text or type(orig).__name__


class _RowcountSafeCursor:
    """A firebird-driver cursor whose rowcount is -1 (unknown) where the driver cannot tell."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        from firebird.driver import InterfaceError

        try:
            return self._cursor.rowcount
        except InterfaceError:
            return -1

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)

    def __iter__(self) -> Any:
        return iter(self._cursor)
