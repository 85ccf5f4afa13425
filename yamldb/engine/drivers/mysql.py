"""MySQL and MariaDB through PyMySQL.

URL forms: the Go driver's DSN that Vault's mysql-database-plugin takes
(`user:pass@tcp(host:3306)/db?tls=true`) and `mysql://` / `mariadb://` URLs. TLS:
the DSN's `tls=true|skip-verify` and the config keys tls_ca, tls_certificate_key,
tls_server_name and tls_skip_verify. Without TLS the connection is plain text, as
with Go's driver behind Vault's plugin.
"""

from __future__ import annotations

import importlib
import re
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

from yamldb.durations import parse_duration
from yamldb.engine.drivers.base import DriverAdapter, ParsedURL
from yamldb.engine.drivers.registry import register
from yamldb.engine.tls import TlsConfig, TlsSettings
from yamldb.errors import ConfigError
from yamldb.pem import split_pem

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

    from yamldb.manifest.model import PoolSettings

__all__ = ["MysqlAdapter"]

_NETWORKS = frozenset({"tcp", "tcp4", "tcp6", "unix"})
# Go MySQL driver options with no meaning for PyMySQL (client-side behaviour of the Go driver).
_GO_ONLY = frozenset(
    {
        "parseTime",
        "loc",
        "readTimeout",
        "writeTimeout",
        "interpolateParams",
        "multiStatements",
        "allowNativePasswords",
        "allowCleartextPasswords",
        "allowOldPasswords",
        "collation",
        "columnsWithAlias",
        "clientFoundRows",
        "maxAllowedPacket",
        "rejectReadOnly",
        "checkConnLiveness",
        "allowAllFiles",
        "connectionAttributes",
        "timeTruncate",
        "compress",
    }
)
# go-sql-driver's own options that would change security here and that PyMySQL cannot honour the same way.
_GO_REFUSED = frozenset({"allowFallbackToPlaintext", "serverPubKey"})
# A Go DSN's other options are system variables for its sessions, as go-sql-driver sets them (SET var=value
# at connect). These two are strings whether the DSN quotes them or not.
_STRING_VARIABLES = ("sql_mode", "time_zone")
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_VARIABLE_VALUE = re.compile(r"[A-Za-z0-9_,+:. /-]*")
_BARE_VALUE = re.compile(r"-?[A-Za-z0-9_.]+")  # a number or a word (ON, OFF, DEFAULT): SQL as it stands
_IN_TRANSACTION = 1  # SERVER_STATUS_IN_TRANS in the status flags of the server's last reply
_NO_BACKSLASH_ESCAPES = 0x200
# ER_LOCK_DEADLOCK (the transaction was rolled back), ER_LOCK_WAIT_TIMEOUT (the statement was), and
# ER_CHECKREAD "Record has changed since last read" (MariaDB, a row updated concurrently)
_RETRYABLE = frozenset({1213, 1205, 1020})  # SERVER_STATUS_NO_BACKSLASH_ESCAPES, same flags
# Modes that change how '...' and "..." are read: NO_BACKSLASH_ESCAPES, ANSI_QUOTES, and the combination
# modes that include ANSI_QUOTES (MariaDB lists them in @@sql_mode beside their parts).
_QUOTING_MODES = ("NO_BACKSLASH_ESCAPES", "ANSI_QUOTES", "ANSI", "ORACLE", "MSSQL", "DB2", "POSTGRESQL", "MAXDB")


def _pin_sql_mode_statement() -> str:
    """One statement that removes the quoting modes from the session's sql_mode and keeps every other mode.

    The list is rewritten as ",A,,B,,C," so each mode sits between commas of its own; each quoting mode is
    cut out with its commas; the doubled commas and the ends are then trimmed back to "A,C"."""
    expr = "CONCAT(',', REPLACE(@@SESSION.sql_mode, ',', ',,'), ',')"
    for mode in _QUOTING_MODES:
        expr = f"REPLACE({expr}, ',{mode},', '')"
    return f"SET SESSION sql_mode = TRIM(BOTH ',' FROM REPLACE({expr}, ',,', ','))"


_PIN_SQL_MODE = _pin_sql_mode_statement()
_UTF8 = frozenset({"utf8mb4", "utf8", "utf8mb3"})


@register
class MysqlAdapter(DriverAdapter):
    backends = ("mysql", "mariadb")
    schemes = ("mysql", "mariadb")
    connect_timeout_arg = "connect_timeout"
    form_name = "Go MySQL DSN"
    composed_query_keys = ("init_command",)
    # The server reads a statement in the session's character_set_client; PyMySQL always encodes utf8mb4. In
    # GBK, SJIS, Big5, CP932 or GB18030 the last byte of a multi-byte character may be that of '\', and swallow
    # the backslash escaping a quote. A statement that names the session's character set is followed by SET
    # NAMES utf8mb4; false alarms (CREATE TABLE ... CHARACTER SET) cost a round trip.
    encoding_change = re.compile(
        r"\b(?:NAMES|CHARSET|CHARACTER\s+SET|character_set_(?:client|connection|results))\b", re.IGNORECASE
    )

    @classmethod
    def infer_manifest(cls, text: str) -> str | None:
        return "mysql" if cls.claims(text) else super().infer_manifest(text)

    @classmethod
    def claims(cls, text: str) -> bool:
        dsn = _split_go_dsn(text)
        return dsn is not None and (dsn.net in _NETWORKS or dsn.addr is not None)

    def parse_other_url(self, text: str, driver: str, formats: tuple[str, ...]) -> ParsedURL | None:
        if "go_mysql_dsn" not in formats:
            return None
        dsn = _split_go_dsn(text)
        # Also the forms without a network, which go-sql-driver reads as tcp(127.0.0.1:3306): "user:pass@/db",
        # the first example of its README. Not claimed (too plain to infer a manifest from), but accepted here.
        if dsn is not None and (self.claims(text) or dsn.net == ""):
            return _go_dsn_to_url(driver, dsn)
        return None

    def load_driver(self) -> None:
        _import_pymysql()

    def tls_settings(self, config: TlsConfig, url_tls: TlsSettings | None) -> TlsSettings | None:
        bundle, skip = config.certificate_key, config.skip_verify
        if not (config.ca or bundle or skip or config.server_name) and url_tls is None:
            return None
        cert, key = split_pem(bundle) if bundle else (None, None)
        if bundle and "PRIVATE KEY" not in (key or ""):
            raise ConfigError("tls_certificate_key: expected a PEM bundle with a certificate and its private key")
        base = url_tls or TlsSettings()
        return TlsSettings(
            verify=base.verify and not skip,
            ca_pem=config.ca or base.ca_pem,
            cert_pem=cert,
            key_pem=key,
            server_name=config.server_name,
        )

    def check_url(self, url: URL) -> None:
        charset = str(url.query.get("charset", "utf8mb4")).lower()
        if charset not in _UTF8:
            # Escaping assumes UTF-8; in GBK, SJIS or Big5 a multi-byte character can swallow the escaping backslash.
            raise ConfigError(
                f"connection_url: charset={charset} is not supported; yamldb talks utf8mb4 to "
                "MySQL/MariaDB (drop the charset option)"
            )

    def connect_args(
        self, manifest_args: Mapping[str, Any], tls: TlsSettings | None, pool: PoolSettings
    ) -> dict[str, Any]:
        args = super().connect_args(manifest_args, tls, pool)
        # 4-byte UTF-8 (emoji) would become '?' in a 3-byte "utf8" connection: always utf8mb4.
        args["charset"] = "utf8mb4"
        if tls is not None:
            args["ssl"] = tls.ssl_context()
            if tls.server_name:
                args["server_hostname"] = tls.server_name
        elif not any(key.startswith("ssl") for key in manifest_args):
            # No TLS asked for: plaintext, as with Go's MySQL driver behind Vault's plugin. PyMySQL's own
            # default ("preferred") would build an unverifying SSL context with the whole system CA bundle
            # for every connection (0.8 MB resident each) and switch to TLS only if the server offers it.
            args["ssl_disabled"] = True
        return args

    def prepare(self, engine: Engine) -> None:
        from sqlalchemy import event

        @event.listens_for(engine, "do_connect")
        def _utf8_password(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> None:
            # PyMySQL sends a str password as latin-1; the server hashed the UTF-8 bytes of the statement text.
            if isinstance(cparams.get("password"), str):
                cparams["password"] = cparams["password"].encode("utf-8")

        # Values are quoted for the default sql_mode (backslash escapes on, "..." a string). Pin it on every
        # connection; pin it again whenever the server reports NO_BACKSLASH_ESCAPES (a statement changed it).
        event.listen(engine, "connect", lambda dbapi_conn, record: _pin_sql_mode(dbapi_conn))
        event.listen(engine, "checkout", lambda dbapi_conn, record, proxy: _pin_sql_mode(dbapi_conn, True))

        # SQLAlchemy's paths (steps that may fail, statements that build statements) commit through the
        # dialect; after DDL that COMMIT does nothing and costs a round trip: one of five in manifest=mysql's
        # revocation. The direct path asks transaction_open itself.
        commit = engine.dialect.do_commit

        def do_commit(dbapi_conn: Any) -> None:
            if self.transaction_open(dbapi_conn):
                commit(dbapi_conn)

        engine.dialect.do_commit = do_commit  # type: ignore[method-assign]

    def restore_encoding(self, dbapi_conn: Any) -> None:
        with dbapi_conn.cursor() as cursor:
            cursor.execute("SET NAMES utf8mb4")

    def transaction_open(self, dbapi_conn: Any) -> bool:
        # After MySQL's DDL, which commits implicitly, no transaction is open and COMMIT would do nothing. The
        # flag is the server's, from its last OK reply; an error reply carries none, and after one PyMySQL holds
        # no result: the flag may then be stale (a failed statement can leave a transaction open), so say yes.
        status = getattr(dbapi_conn, "server_status", None)
        if not isinstance(status, int) or getattr(dbapi_conn, "_result", None) is None:
            return True
        return bool(status & _IN_TRANSACTION)

    def cancel(self, dbapi_conn: Any, engine: Engine) -> None:
        # The protocol has no out-of-band cancel: KILL QUERY from a second connection.
        with engine.connect() as other:
            other.exec_driver_sql(f"KILL QUERY {int(dbapi_conn.thread_id())}")

    def retryable(self, exc: BaseException) -> bool:
        args = getattr(getattr(exc, "orig", exc), "args", ())
        return bool(args) and args[0] in _RETRYABLE

    def message(self, exc: BaseException) -> str:
        args = getattr(getattr(exc, "orig", exc), "args", ())
        if len(args) == 2 and isinstance(args[0], int):  # PyMySQL: (errno, message)
            return f"({args[0]}) {args[1]}"
        return super().message(exc)


_import_lock = threading.Lock()
_imported = False


class _NoCryptography:
    """A sys.meta_path finder that refuses cryptography's modules to one thread (the one importing PyMySQL)."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if fullname.partition(".")[0] == "cryptography" and threading.get_ident() == self.thread:
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None  # anything else, or another thread: the next finder's business


def _import_pymysql() -> None:
    """Import PyMySQL without the cryptography package, which it imports at once but needs only to RSA-encrypt
    a password (sha256_password, and caching_sha2_password's full authentication over plain text, which a
    MySQL 8 server asks for): importing it keeps ~9 MB resident for the process's life. pymysql._auth imports
    it in a try block and runs without it; its one function that uses it, sha2_rsa_encrypt, is replaced by
    one that imports cryptography into pymysql._auth at its first call, as that try block would have."""
    global _imported
    with _import_lock:
        if _imported:
            return
        _imported = True
        if "pymysql" in sys.modules:
            return  # imported by someone else: with cryptography if it is installed, nothing left to save
        finder = _NoCryptography()
        sys.meta_path.insert(0, finder)
        try:
            from pymysql import _auth
        except ImportError as exc:
            if not (exc.name or "").startswith("cryptography"):
                raise
            _auth = None
        finally:
            sys.meta_path.remove(finder)
        if _auth is None or not hasattr(_auth, "_have_cryptography") or not hasattr(_auth, "sha2_rsa_encrypt"):
            # A PyMySQL whose use of cryptography this code does not know: import it again, as it means to be.
            for name in [n for n in sys.modules if n == "pymysql" or n.startswith("pymysql.")]:
                del sys.modules[name]
            importlib.import_module("pymysql")
            return
        if _auth._have_cryptography:
            return  # cryptography had been imported before PyMySQL: nothing to save
        encrypt = _auth.sha2_rsa_encrypt

        def sha2_rsa_encrypt(password: bytes, salt: bytes, public_key: bytes) -> bytes:
            try:
                from cryptography.hazmat.backends import default_backend
                from cryptography.hazmat.primitives import hashes, serialization
                from cryptography.hazmat.primitives.asymmetric import padding
            except ImportError:
                pass  # not installed: PyMySQL's own function raises its "cryptography is required" error
            else:
                vars(_auth).update(
                    default_backend=default_backend,
                    hashes=hashes,
                    serialization=serialization,
                    padding=padding,
                    _have_cryptography=True,
                    sha2_rsa_encrypt=encrypt,
                )
            return encrypt(password, salt, public_key)

        _auth.sha2_rsa_encrypt = sha2_rsa_encrypt


def _pin_sql_mode(dbapi_conn: Any, only_if_changed: bool = False) -> None:
    status = getattr(dbapi_conn, "server_status", 0)
    if only_if_changed and not status & _NO_BACKSLASH_ESCAPES:
        return  # the flags of the server's last reply say backslashes escape: nothing to do, no round trip
    with dbapi_conn.cursor() as cursor:
        cursor.execute(_PIN_SQL_MODE)


@dataclass(frozen=True)
class _GoDsn:
    user: str
    password: str | None
    net: str
    addr: str | None
    database: str
    params: str


def _split_go_dsn(dsn: str) -> _GoDsn | None:
    """`[user[:password]@][net[(addr)]]/dbname[?params]` split exactly as go-sql-driver's ParseDSN splits it:
    at the LAST '/', then the LAST '@' before it, then the FIRST ':' of what precedes that '@'. User and
    password are taken literally (never percent-decoded), so a password may hold '@', ':', '/' and '?'."""
    slash = dsn.rfind("/")
    if slash < 0:
        return None
    left, right = dsn[:slash], dsn[slash + 1 :]
    user, password, address = "", None, left
    at = left.rfind("@")
    if at >= 0:
        userinfo, address = left[:at], left[at + 1 :]
        user, colon, rest = userinfo.partition(":")
        password = rest if colon else None
    net, addr = address, None
    paren = address.find("(")
    if paren >= 0:
        if not address.endswith(")"):
            return None
        net, addr = address[:paren], address[paren + 1 : -1]
    database, _, params = right.partition("?")
    return _GoDsn(user, password, net, addr, database, params)


def _session_value(key: str, value: str) -> str:
    """Every other DSN option is a system variable that go-sql-driver sets for its sessions (SET key=value).
    The value as SQL: quoted where the DSN quoted it or where it is more than a number or a word (go-sql-driver
    pastes it raw, so `time_zone=+00:00` would fail there); only characters that cannot leave a literal."""
    if not _VARIABLE_NAME.fullmatch(key):
        raise ConfigError(f"connection_url: option {key!r} is not supported by yamldb's MySQL driver")
    if MysqlAdapter.encoding_change and MysqlAdapter.encoding_change.search(key):
        raise ConfigError(f"connection_url: {key} cannot be set; yamldb talks utf8mb4 to MySQL/MariaDB")
    quoted = len(value) >= 2 and value[0] in "'\"" and value[-1] == value[0]
    inner = value[1:-1] if quoted else value
    if not _VARIABLE_VALUE.fullmatch(inner):
        raise ConfigError(f"connection_url: {key}: only letters, digits and , + : . / - are accepted")
    if quoted or key in _STRING_VARIABLES or not _BARE_VALUE.fullmatch(inner):
        return f"'{inner}'"
    return inner


def _go_dsn_to_url(driver: str, dsn: _GoDsn) -> ParsedURL:
    from sqlalchemy.engine import URL

    host, port, options = None, None, dict(parse_qsl(dsn.params))
    query: dict[str, str] = {}
    if dsn.net == "unix":
        query["unix_socket"] = dsn.addr or "/tmp/mysql.sock"
    elif dsn.net not in ("", "tcp", "tcp4", "tcp6"):
        raise ConfigError(
            f"connection_url: network {dsn.net!r} is not supported; use tcp(host:port) or unix(/path/to/socket)"
        )
    elif dsn.addr:
        host, _, port_text = dsn.addr.rpartition(":") if ":" in dsn.addr else (dsn.addr, "", "")
        host = host.strip("[]")
        port = int(port_text) if port_text.isdigit() else None
    else:
        host = "127.0.0.1"  # go-sql-driver's default address; PyMySQL's would be "localhost", maybe ::1
    tls, timeout, session = None, None, {}
    for key, value in options.items():
        if key == "charset":
            query["charset"] = value.split(",")[0]
        elif key == "tls":
            if value in ("true", "1"):
                tls = TlsSettings(verify=True)
            elif value == "skip-verify":
                tls = TlsSettings(verify=False)
            elif value not in ("false", "0"):
                # "preferred" would fall back to plaintext without a word; custom names are Go-side registrations.
                raise ConfigError(
                    f"connection_url: tls={value} is not supported; use tls=true or tls=skip-verify, "
                    "and tls_ca/tls_certificate_key for your own certificates"
                )
        elif key == "timeout":
            try:
                timeout = parse_duration(value)
            except ValueError as exc:
                raise ConfigError(f"connection_url: timeout: {exc}") from None
        elif key in _GO_REFUSED:
            # Never drop an option silently: it may have been a security setting.
            raise ConfigError(f"connection_url: option {key!r} is not supported by yamldb's MySQL driver")
        elif key not in _GO_ONLY:
            session[key] = _session_value(key, value)
    if session:  # PyMySQL runs init_command at connect; yamldb's quoting modes are pinned right after it
        query["init_command"] = "SET SESSION " + ", ".join(f"{k} = {v}" for k, v in session.items())
    url = URL.create(
        driver,
        username=dsn.user or None,
        password=dsn.password,
        host=host or None,
        port=port,
        database=unquote(dsn.database) or None,
        query=query,
    )
    return ParsedURL(url, tls, timeout)
