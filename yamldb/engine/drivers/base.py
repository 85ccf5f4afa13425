"""What every database driver adapter answers, and the generic answers.

An adapter owns everything that differs between database drivers: the connection
URL forms it accepts besides SQLAlchemy URLs, the driver's connect arguments (TLS,
timeouts, character set, session settings), how to cancel a running statement,
whether a transaction is open, and the driver's error messages. The engine asks;
it never looks at a backend name. `DriverAdapter` itself serves every database
without an adapter of its own (SQL Server, Oracle, Snowflake, ...): SQLAlchemy
URLs, the manifest's connect_args, and a cancel where the DBAPI connection has one.

See docs/adding-a-database.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from yamldb.engine.tls import TlsConfig, TlsSettings
from yamldb.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

    from yamldb.manifest.model import PoolSettings

__all__ = ["DriverAdapter", "ParsedURL"]

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


@dataclass(frozen=True)
class ParsedURL:
    """A connection_url turned into a SQLAlchemy URL, with what the URL said beyond it."""

    url: URL
    tls: TlsSettings | None = None  # TLS the URL asks for (e.g. a Go DSN's tls=true)
    connect_timeout: float | None = None


class DriverAdapter:
    """The generic adapter; subclasses in this package override what their driver does differently."""

    # SQLAlchemy backend names (URL.get_backend_name()) this adapter serves; the registry's keys.
    backends: ClassVar[tuple[str, ...]] = ()
    # URL schemes written without "+driver" that mean this database: they get the manifest's driver.
    schemes: ClassVar[tuple[str, ...]] = ()
    # Scheme aliases for choosing a manifest when the config names none ("postgres" -> "postgresql").
    manifest_aliases: ClassVar[Mapping[str, str]] = {}
    # Sized QueuePool from the pool settings; False keeps SQLAlchemy's default pool (SQLite).
    pooled: ClassVar[bool] = True
    # Plain transactional operations may run on the raw DBAPI connection (SqlEngine._run_direct).
    raw_path: ClassVar[bool] = True
    # A statement that opens every transaction changing privileges (GRANT, REVOKE, DROP/REASSIGN OWNED) so
    # that they run one at a time, where the database fails concurrent privilege changes on the same objects
    # (PostgreSQL) rather than queueing them (MySQL, MariaDB). None: no such statement.
    privilege_lock: ClassVar[str | None] = None
    # The driver's connect() keyword for a connect timeout in whole seconds, if it has one.
    connect_timeout_arg: ClassVar[str | None] = None
    # Query keys whose value the adapter composes in a syntax of its own (libpq's options, MySQL's init_command):
    # {{username}} and {{password}} may not land there, where they would need that syntax's escaping.
    composed_query_keys: ClassVar[tuple[str, ...]] = ()
    # Statements that may change how the server reads the bytes the driver sends (MySQL's SET NAMES): after
    # one, the engine calls restore_encoding() before the next statement, since values were escaped for the
    # encoding the connection was opened with. None: the driver follows such changes (psycopg does).
    encoding_change: ClassVar[re.Pattern[str] | None] = None

    # -- connection URLs -----------------------------------------------------------------------
    # How connection strings of this driver without a scheme are called in messages ("Go MySQL DSN").
    form_name: ClassVar[str] = ""

    @classmethod
    def infer_manifest(cls, text: str) -> str | None:
        """The manifest a connection_url written without `manifest=` most likely wants, from its form."""
        if _SCHEME.match(text):
            scheme = text.split("://", 1)[0].split("+", 1)[0].lower()
            return cls.manifest_aliases.get(scheme, scheme) if scheme in cls.schemes else None
        return None

    @classmethod
    def claims(cls, text: str) -> bool:
        """Whether `text` (no scheme) is unmistakably this driver's own connection-string form."""
        return False

    @classmethod
    def serves_scheme(cls, scheme_backend: str, backend: str) -> bool:
        """Whether a URL whose scheme names `scheme_backend` fits a manifest whose driver's backend is `backend`."""
        return scheme_backend == backend or scheme_backend in cls.schemes or scheme_backend in cls.backends

    def parse_url(self, text: str, driver: str, formats: tuple[str, ...]) -> ParsedURL:
        """Parse a rendered connection_url in one of the dialect's `url_formats`."""
        text = text.strip()
        if not text:
            raise ConfigError("connection_url cannot be empty")
        if _SCHEME.match(text):
            scheme, rest = text.split("://", 1)
            if "+" not in scheme and scheme.lower() in self.schemes:
                text = f"{driver}://{rest}"  # a plain "mysql://" or "postgres://" gets the manifest's driver
            return self.parse_scheme_url(text, driver)
        parsed = self.parse_other_url(text, driver, formats)
        if parsed is not None:
            return parsed
        backend = driver.split("+", 1)[0]
        raise ConfigError(
            f"connection_url: unrecognised format; this dialect accepts {', '.join(formats)} "
            f"(e.g. {backend}://USER:PASSWORD@HOST:PORT/DB)"
        )

    def parse_scheme_url(self, text: str, driver: str) -> ParsedURL:
        """A `scheme://` URL (its scheme already carries a driver). Generic: SQLAlchemy's own URL syntax."""
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            return ParsedURL(make_url(text))
        except ArgumentError:
            raise ConfigError("connection_url: cannot parse the URL") from None

    def parse_other_url(self, text: str, driver: str, formats: tuple[str, ...]) -> ParsedURL | None:
        """A connection_url without a scheme, in a form of this driver's (Go DSN, key=value, a path)."""
        return None

    # -- connecting ----------------------------------------------------------------------------
    def tls_settings(self, config: TlsConfig, url_tls: TlsSettings | None) -> TlsSettings | None:
        """The config's TLS keys over what the URL asked for. Generic drivers take TLS from the URL only."""
        return url_tls

    def connect_args(
        self, manifest_args: Mapping[str, Any], tls: TlsSettings | None, pool: PoolSettings
    ) -> dict[str, Any]:
        """Keyword arguments for the DBAPI connect(); the manifest's connect_args are the base."""
        args = dict(manifest_args)
        if self.connect_timeout_arg:
            args.setdefault(self.connect_timeout_arg, max(int(pool.connect_timeout), 1))
        return args

    def load_driver(self) -> None:
        """Import the DBAPI driver before SQLAlchemy does, where the adapter imports it its own way (e.g.
        leaving out what only some servers need). Called before every engine is created; the generic
        adapter leaves the import to SQLAlchemy."""

    def check_url(self, url: URL) -> None:
        """Refuse a parsed URL whose options this adapter cannot honour (raise ConfigError naming the option)."""

    def prepare(self, engine: Engine) -> None:
        """Attach driver-specific event handlers to a new engine: every engine yamldb opens, including the
        short-lived ones that log in as a new user or try a new root password."""

    def dispose(self) -> None:
        """Release what connect_args created (files, contexts) when the engine goes."""

    # -- running ---------------------------------------------------------------------------------
    def execute_batch(self, dbapi_conn: Any, cursor: Any, sql: str) -> None:
        """Run a message of one or more statements on a connection in autocommit mode; raise the driver's error."""
        cursor.execute(sql)

    def restore_encoding(self, dbapi_conn: Any) -> None:
        """Set the session's character set back to the one the driver encodes with (see encoding_change)."""

    def transaction_open(self, dbapi_conn: Any) -> bool:
        """False only when the driver knows no transaction is open (then COMMIT is a wasted round trip)."""
        return True

    def cancel(self, dbapi_conn: Any, engine: Engine) -> None:
        """Ask the database to stop whatever `dbapi_conn` is running (best effort, from another thread)."""
        if hasattr(dbapi_conn, "cancel"):
            dbapi_conn.cancel()
        else:
            raise NotImplementedError("this driver offers no way to cancel a statement")

    def retryable(self, exc: BaseException) -> bool:
        """Whether the database rolled the statement (or its transaction) back for a concurrency reason
        (deadlock, serialization failure, lock timeout, a row updated concurrently), so that running it again
        may succeed. Generic drivers: SQLSTATE class 40 (transaction rollback) where the driver reports it."""
        state = getattr(getattr(exc, "orig", exc), "sqlstate", None)
        return isinstance(state, str) and state.startswith("40")

    def message(self, exc: BaseException) -> str:
        """The database's own words for a driver error, without the driver's echo of the statement."""
        orig = getattr(exc, "orig", exc)
        text = str(orig).strip()
        return text.splitlines()[0] if text else type(orig).__name__
