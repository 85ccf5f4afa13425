"""PostgreSQL through psycopg 3 (also CockroachDB and Redshift, which speak its protocol).

URL forms: `postgres://` / `postgresql://` URLs (they get the manifest's driver) and
libpq key=value DSNs. TLS: sslmode and friends in the URL, or the config keys
tls_ca, tls_certificate and private_key of Vault's postgresql-database-plugin,
handed to libpq as files in a private directory.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from yamldb.engine.drivers.base import DriverAdapter, ParsedURL
from yamldb.engine.drivers.registry import register
from yamldb.engine.tls import TlsConfig, TlsSettings
from yamldb.errors import ConfigError
from yamldb.pem import write_private

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from yamldb.manifest.model import PoolSettings

__all__ = ["PostgresqlAdapter"]

_SPACE = " \t\n\r\v\f"
# serialization_failure, deadlock_detected, lock_not_available (NOWAIT / lock_timeout)
_RETRYABLE = frozenset({"40001", "40P01", "55P03"})
_ESCAPES = re.compile(r"(?:[^%]|%[0-9A-Fa-f]{2})*", re.DOTALL)
_ALIASES = {"dbname": "database"}  # pgx's canonical key; it becomes the URL's database
_KEYWORD = re.compile(r"[ \t\n\r\v\f]*[A-Za-z_]+[ \t\n\r\v\f]*=")  # a key=value DSN starts with a keyword
# libpq's connection keywords (PostgreSQL 17). pgx, under Vault's plugin, sends every other key of a URL or DSN
# to the server as a run-time parameter (search_path, timezone, statement_timeout ...); libpq refuses them, so
# yamldb passes them the way libpq can: as `-c key=value` in `options`.
_LIBPQ_KEYWORDS = frozenset(
    "host hostaddr port dbname user password passfile require_auth channel_binding connect_timeout "
    "client_encoding options application_name fallback_application_name keepalives keepalives_idle "
    "keepalives_interval keepalives_count tcp_user_timeout replication gssencmode sslmode sslnegotiation "
    "sslcompression sslcert sslkey sslkeylogfile sslpassword sslcertmode sslrootcert sslcrl sslcrldir sslsni "
    "requirepeer ssl_min_protocol_version ssl_max_protocol_version min_protocol_version max_protocol_version "
    "krbsrvname gsslib gssdelegation service target_session_attrs load_balance_hosts".split()
)
# pgx's own settings for its client side (statement caches, query mode): nothing to send, nothing to change here.
_PGX_CLIENT_ONLY = frozenset({"statement_cache_capacity", "description_cache_capacity", "default_query_exec_mode"})
_PARAMETER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


@register
class PostgresqlAdapter(DriverAdapter):
    backends = ("postgresql", "cockroachdb")
    schemes = ("postgresql", "postgres", "cockroachdb")
    manifest_aliases = {"postgres": "postgresql"}
    form_name = "PostgreSQL key=value DSN"
    # GRANT/REVOKE update the objects' catalog rows in place: two transactions changing the same table's ACL
    # wait for each other and then fail ("tuple concurrently updated") or deadlock (after deadlock_timeout).
    # A transaction-scoped advisory lock queues them in the server, for every yamldb process on this database;
    # in a batch it costs no round trip. The key is "yamldb" in ASCII.
    privilege_lock = "SELECT pg_advisory_xact_lock(133476889813602)"
    connect_timeout_arg = "connect_timeout"
    composed_query_keys = ("options",)

    def __init__(self) -> None:
        self._tls_dir: Path | None = None  # libpq reads certificates only from files

    def parse_scheme_url(self, text: str, driver: str) -> ParsedURL:
        return ParsedURL(_url_to_url(driver, text))

    @classmethod
    def claims(cls, text: str) -> bool:
        return bool(_KEYWORD.match(text))

    def parse_other_url(self, text: str, driver: str, formats: tuple[str, ...]) -> ParsedURL | None:
        if "postgresql_dsn" in formats and self.claims(text):
            return ParsedURL(_dsn_to_url(driver, text))
        return None

    def tls_settings(self, config: TlsConfig, url_tls: TlsSettings | None) -> TlsSettings | None:
        ca, cert, key = config.ca, config.certificate, config.private_key
        if not (ca or cert or key):
            return url_tls
        if bool(cert) != bool(key):
            raise ConfigError("tls_certificate and private_key go together")
        return TlsSettings(verify=True, ca_pem=ca, cert_pem=cert, key_pem=key)

    def connect_args(
        self, manifest_args: Mapping[str, Any], tls: TlsSettings | None, pool: PoolSettings
    ) -> dict[str, Any]:
        args = super().connect_args(manifest_args, tls, pool)
        # Every statement yamldb sends is new text (names and values are in it), so psycopg's prepared-statement
        # bookkeeping only costs time per statement; and any DROP or ALTER clears what it did prepare (the
        # pool's repeated ping) with a DEALLOCATE ALL round trip. A manifest's connect_args may set it back for
        # the SQLAlchemy paths; execute_batch never prepares.
        args.setdefault("prepare_threshold", None)
        if tls is not None:
            args.update(self._tls_files(tls))
        return args

    def _tls_files(self, tls: TlsSettings) -> dict[str, str]:
        self._tls_dir = directory = Path(tempfile.mkdtemp(prefix="yamldb-tls-"))
        args: dict[str, str] = {"sslmode": "verify-full" if tls.ca_pem else "require"}
        if tls.ca_pem:
            args["sslrootcert"] = str(write_private(directory, "ca.pem", tls.ca_pem))
        if tls.cert_pem and tls.key_pem:
            args["sslcert"] = str(write_private(directory, "cert.pem", tls.cert_pem))
            args["sslkey"] = str(write_private(directory, "key.pem", tls.key_pem))
        return args

    def dispose(self) -> None:
        if self._tls_dir is not None:
            shutil.rmtree(self._tls_dir, ignore_errors=True)
            self._tls_dir = None

    def prepare(self, engine: Engine) -> None:
        from sqlalchemy import event

        # Values are quoted for standard_conforming_strings=on (backslashes are plain characters in '...').
        # A role, a database, the server's config or the URL's `options` may turn it off; a backslash would
        # then end a literal early. Pin it on every connection, and again whenever a statement changed it.
        event.listen(engine, "connect", _pin_standard_strings)
        event.listen(engine, "checkout", lambda dbapi_conn, record, proxy: _pin_standard_strings(dbapi_conn))

    def execute_batch(self, dbapi_conn: Any, cursor: Any, sql: str) -> None:
        # The message goes out as a simple query through psycopg's own send-and-wait (the GIL released while
        # waiting, its errors and its lock), without the cursor's bookkeeping around it, which costs about as
        # much client CPU as the round trip itself and is of no use for statements that return nothing.
        lock = getattr(dbapi_conn, "lock", None)
        if _lean is None or lock is None:
            cursor.execute(sql)
            return
        with lock:
            dbapi_conn.pgconn.send_query(sql.encode(dbapi_conn.info.encoding))
            results = dbapi_conn.wait(_lean.execute(dbapi_conn.pgconn))
        for result in results:
            if result.status not in _lean.done:
                raise _lean.error(result, encoding=dbapi_conn.info.encoding)

    def load_driver(self) -> None:
        global _lean
        if _lean is None:
            _lean = _load_lean()

    def cancel(self, dbapi_conn: Any, engine: Engine) -> None:
        if hasattr(dbapi_conn, "cancel_safe"):  # psycopg 3.2+: a non-blocking out-of-band cancel
            dbapi_conn.cancel_safe(timeout=5)
        else:
            dbapi_conn.cancel()

    def retryable(self, exc: BaseException) -> bool:
        orig = getattr(exc, "orig", exc)
        state = getattr(orig, "sqlstate", None)
        if state in _RETRYABLE:
            return True
        # Concurrent GRANT/REVOKE on the same object update its catalog row from two transactions; the
        # second gets this internal error (XX000), not a serialization failure, and its transaction is gone.
        primary = getattr(getattr(orig, "diag", None), "message_primary", None) or ""
        return state == "XX000" and primary.startswith(("tuple concurrently updated", "tuple concurrently deleted"))

    def message(self, exc: BaseException) -> str:
        diag = getattr(getattr(exc, "orig", exc), "diag", None)  # structured fields, no statement text
        if diag is not None and getattr(diag, "message_primary", None):
            parts = [diag.message_primary]
            if diag.message_detail:
                parts.append(f"DETAIL: {diag.message_detail}")
            if diag.message_hint:
                parts.append(f"HINT: {diag.message_hint}")
            return " ".join(parts)
        return super().message(exc)


class _Lean:
    """The parts of psycopg that execute_batch uses (present in psycopg 3.1 to 3.3; looked up once, when the first
    PostgreSQL engine is made)."""

    def __init__(self) -> None:
        from psycopg import errors, generators, pq

        self.execute = generators.execute
        self.error = errors.error_from_result
        status = pq.ExecStatus
        self.done = frozenset({status.COMMAND_OK, status.TUPLES_OK, status.EMPTY_QUERY})


def _load_lean() -> _Lean | None:
    try:
        import psycopg

        lean = _Lean()
    except (ImportError, AttributeError):  # another psycopg: cursor.execute() does the same, slower
        return None
    return lean if hasattr(psycopg.Connection, "wait") else None


_lean: _Lean | None = None


def _pin_standard_strings(dbapi_conn: Any, record: Any = None) -> None:
    # The server reports the setting at login and whenever it changes: reading it costs no round trip.
    if dbapi_conn.info.parameter_status("standard_conforming_strings") == "on":
        return
    autocommit = dbapi_conn.autocommit
    with dbapi_conn.cursor() as cursor:
        cursor.execute("SET SESSION standard_conforming_strings = on")
    if not autocommit:
        dbapi_conn.commit()  # the SET opened a transaction; keep the setting beyond it


def _unescape(text: str, what: str, plus_is_space: bool = False) -> str:
    """Percent-decoding as Go's net/url does it (pgx parses URLs with it): '%' needs two hex digits."""
    if plus_is_space:
        text = text.replace("+", " ")
    if "%" not in text:
        return text
    if not _ESCAPES.fullmatch(text):
        # Never quote the text: it may be (part of) a password.
        raise ConfigError(f"connection_url: invalid percent-escape in the {what} (write a literal % as %25)")
    return unquote(text, errors="strict")


def _url_to_url(driver: str, text: str) -> Any:
    """A postgres:// URL split as pgx splits it (Go's net/url), so a URL the built-in plugin accepts works here.

    The fragment goes at the first '#', the query at the first '?', the authority ends at the first '/', the
    user information at the LAST '@' of the authority (so a password may hold '@'), the user and password
    part at the first ':'; each part is then percent-decoded."""
    from sqlalchemy.engine import URL

    scheme, rest = text.split("://", 1)
    rest = rest.split("#", 1)[0]
    rest, _, raw_query = rest.partition("?")
    authority, slash, path = rest.partition("/")
    user = password = None
    at = authority.rfind("@")
    if at >= 0:
        userinfo, authority = authority[:at], authority[at + 1 :]
        raw_user, colon, raw_password = userinfo.partition(":")
        user = _unescape(raw_user, "user name") or None
        password = _unescape(raw_password, "password") if colon else None
    hosts, ports = [], []
    for item in authority.split(","):
        if not item:
            continue
        host, port = _split_host_port(_unescape(item, "host"))
        hosts.append(host)
        ports.append(port)
    query: dict[str, str] = {}
    for pair in raw_query.split("&") if raw_query else ():
        key, _, value = pair.partition("=")
        key = _unescape(key, "query", plus_is_space=True)
        if key and key not in query:  # pgx takes the first value of a repeated key
            query[_ALIASES.get(key, key)] = _unescape(value, "query", plus_is_space=True)
    database = _unescape(path, "database name").lstrip("/") if slash else ""
    single = len(hosts) <= 1 and len([p for p in ports if p]) <= 1
    if not single:  # libpq takes several hosts as comma-separated lists, as pgx does
        query = {**query, "host": ",".join(hosts), "port": ",".join(ports)}
    port = ports[0] if single and ports and ports[0] else None
    if port is not None and not port.isdigit():
        raise ConfigError(
            "connection_url: the port is not a number (is an unescaped '/', '?' or '#' in the "
            "user name or password splitting the URL?)"
        )
    database = query.pop("database", database)
    query = _runtime_parameters(query)
    return URL.create(
        driver if "+" not in scheme else scheme,
        username=user,
        password=password,
        host=hosts[0] if single and hosts else None,
        port=int(port) if port else None,
        database=database or None,
        query=query,
    )


def _split_host_port(item: str) -> tuple[str, str]:
    if item.startswith("["):  # [IPv6]:port
        host, _, rest = item[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else ""
    if item.count(":") == 1:
        host, _, port = item.partition(":")
        return host, port
    return item, ""


def _dsn_to_url(driver: str, dsn: str) -> Any:
    """A libpq key=value DSN read as pgx reads it: values end at whitespace unless single-quoted; a backslash
    keeps the next character in the value and only \\ and \\' are unescaped."""
    from sqlalchemy.engine import URL

    parts: dict[str, str] = {}
    rest = dsn.lstrip(_SPACE)
    while rest:
        key, eq, rest = rest.partition("=")
        key = key.strip(_SPACE)
        if not eq or not key:
            raise ConfigError("connection_url: cannot parse the key=value DSN (expected key=value pairs)")
        rest = rest.lstrip(_SPACE)
        quoted = rest.startswith("'")
        if quoted:
            rest = rest[1:]
        end = 0
        while end < len(rest) and not (rest[end] == "'" if quoted else rest[end] in _SPACE):
            end += 2 if rest[end] == "\\" else 1
        if end > len(rest) or (quoted and end >= len(rest)):
            raise ConfigError("connection_url: unterminated quoted value or trailing backslash in the DSN")
        value = rest[:end].replace("\\\\", "\\").replace("\\'", "'")
        rest = rest[end + 1 if quoted else end :].lstrip(_SPACE)
        key = _ALIASES.get(key, key)
        if not (key == "user" and value == ""):
            parts[key] = value
    port = parts.pop("port", None)
    if port is not None and not port.isdigit():
        parts["port"] = port  # a list for several hosts: libpq reads it as is
        port = None
    return URL.create(
        driver,
        username=parts.pop("user", None),
        password=parts.pop("password", None),
        host=parts.pop("host", None) or parts.pop("hostaddr", None),
        port=int(port) if port else None,
        database=parts.pop("database", None),
        query=_runtime_parameters(parts),
    )


def _runtime_parameters(query: dict[str, str]) -> dict[str, str]:
    """The URL's or DSN's keys as libpq takes them: what pgx would send as run-time parameters goes into
    `options` (after any options given), pgx's client-side settings are dropped."""
    extra: list[str] = []
    out: dict[str, str] = {}
    for key, value in query.items():
        if key in _LIBPQ_KEYWORDS:
            out[key] = value
        elif key in ("krbspn", "servicefile"):
            raise ConfigError(f"connection_url: {key} is not supported by yamldb's PostgreSQL driver (libpq)")
        elif key not in _PGX_CLIENT_ONLY:
            if not _PARAMETER_NAME.fullmatch(key):
                raise ConfigError(f"connection_url: {key!r} is not a server parameter name")
            # The server splits options at whitespace; a backslash keeps the next character.
            escaped = re.sub(r"([\\\s])", r"\\\1", value)
            extra.append(f"-c {key}={escaped}")
    if extra:
        out["options"] = " ".join(filter(None, [out.get("options", ""), *extra]))
    return out
