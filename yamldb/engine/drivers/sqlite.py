"""SQLite through Python's sqlite3: a file path or a `sqlite://` URL; no users, no pool sizing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from yamldb.engine.drivers.base import DriverAdapter, ParsedURL
from yamldb.engine.drivers.registry import register
from yamldb.engine.tls import TlsSettings

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from yamldb.manifest.model import PoolSettings

__all__ = ["SqliteAdapter"]


@register
class SqliteAdapter(DriverAdapter):
    backends = ("sqlite",)
    schemes = ("sqlite",)
    pooled = False
    # With BEGIN issued by the "begin" event below, the DBAPI connection itself autocommits:
    # the raw-connection path would lose its transaction.
    raw_path = False

    def parse_other_url(self, text: str, driver: str, formats: tuple[str, ...]) -> ParsedURL | None:
        if "sqlite_path" in formats:
            from sqlalchemy.engine import URL

            return ParsedURL(URL.create(driver, database=text))
        return None

    def connect_args(
        self, manifest_args: Mapping[str, Any], tls: TlsSettings | None, pool: PoolSettings
    ) -> dict[str, Any]:
        args = super().connect_args(manifest_args, tls, pool)
        args.setdefault("check_same_thread", False)  # the pool hands a connection to any gRPC worker thread
        return args

    def prepare(self, engine: Engine) -> None:
        from sqlalchemy import event

        # pysqlite's implicit transaction handling skips BEGIN before DDL; take control.
        @event.listens_for(engine, "connect")
        def _no_implicit(dbapi_conn: Any, _: Any) -> None:
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN")

    def cancel(self, dbapi_conn: Any, engine: Engine) -> None:
        dbapi_conn.interrupt()
