"""MySQL and MariaDB through PyMySQL.

URL forms: the Go driver's DSN that Vault's mysql-database-plugin takes
(`user:pass@tcp(host:3306)/db?tls=true`) and `mysql://` / `mariadb://` URLs. TLS:
the DSN's `tls=true|skip-verify` and the config keys tls_ca, tls_certificate_key,
tls_server_name and tls_skip_verify. Without TLS the connection is plain text, as
with Go's driver behind Vault's plugin.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from yamldb.durations import parse_duration
from yamldb.engine.drivers.base import DriverAdapter, ParsedURL
from yamldb.engine.drivers.registry import register
from yamldb.engine.tls import TlsConfig, TlsSettings
from yamldb.errors import ConfigError
from yamldb.pem import split_pem

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from yamldb.manifest.model import PoolSettings

__all__ = ["MysqlAdapter"]

_GO_DSN = re.compile(
    r"^(?:(?P<user>[^:@]*)(?::(?P<password>.*))?@)?(?P<net>tcp|unix)?\((?P<addr>[^)]*)\)/(?P<db>[^?]*)(?:\?(?P<q>.*))?$",
    re.DOTALL,
)
# Go MySQL driver options with no meaning for PyMySQL (client-side behaviour of the Go driver).
_GO_ONLY = frozenset({"parseTime", "loc", "readTimeout", "writeTimeout", "interpolateParams", "multiStatements",
                      "allowNativePasswords", "allowCleartextPasswords", "allowOldPasswords", "collation",
                      "columnsWithAlias", "clientFoundRows", "maxAllowedPacket", "rejectReadOnly",
                      "checkConnLiveness", "allowAllFiles", "time_zone", "sql_mode"})
_IN_TRANSACTION = 1  # SERVER_STATUS_IN_TRANS in the status flags of the server's last reply


@register
class MysqlAdapter(DriverAdapter):
    backends = ("mysql", "mariadb")
    schemes = ("mysql", "mariadb")
    connect_timeout_arg = "connect_timeout"

    @classmethod
    def infer_manifest(cls, text: str) -> str | None:
        if "@tcp(" in text or "@unix(" in text:
            return "mysql"
        return super().infer_manifest(text)

    def parse_other_url(self, text: str, driver: str, formats: tuple[str, ...]) -> ParsedURL | None:
        if "go_mysql_dsn" in formats and (match := _GO_DSN.match(text)):
            return _go_dsn_to_url(driver, match)
        return None

    def tls_settings(self, config: TlsConfig, url_tls: TlsSettings | None) -> TlsSettings | None:
        bundle, skip = config.certificate_key, config.skip_verify
        if not (config.ca or bundle or skip or config.server_name) and url_tls is None:
            return None
        cert, key = split_pem(bundle) if bundle else (None, None)
        if bundle and "PRIVATE KEY" not in (key or ""):
            raise ConfigError("tls_certificate_key: expected a PEM bundle with a certificate and its private key")
        base = url_tls or TlsSettings()
        return TlsSettings(verify=base.verify and not skip, ca_pem=config.ca or base.ca_pem, cert_pem=cert,
                           key_pem=key, server_name=config.server_name)

    def connect_args(self, manifest_args: Mapping[str, Any], tls: TlsSettings | None,
                     pool: PoolSettings) -> dict[str, Any]:
        args = super().connect_args(manifest_args, tls, pool)
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

    def transaction_open(self, dbapi_conn: Any) -> bool:
        # After MySQL's DDL, which commits implicitly, no transaction is open and COMMIT would do nothing.
        status = getattr(dbapi_conn, "server_status", None)
        return not isinstance(status, int) or bool(status & _IN_TRANSACTION)

    def cancel(self, dbapi_conn: Any, engine: Engine) -> None:
        # The protocol has no out-of-band cancel: KILL QUERY from a second connection.
        with engine.connect() as other:
            other.exec_driver_sql(f"KILL QUERY {int(dbapi_conn.thread_id())}")

    def message(self, exc: BaseException) -> str:
        args = getattr(getattr(exc, "orig", exc), "args", ())
        if len(args) == 2 and isinstance(args[0], int):  # PyMySQL: (errno, message)
            return f"({args[0]}) {args[1]}"
        return super().message(exc)


def _go_dsn_to_url(driver: str, match: re.Match[str]) -> ParsedURL:
    from sqlalchemy.engine import URL

    host, port, options = None, None, dict(parse_qsl(match["q"] or ""))
    query: dict[str, str] = {}
    if match["net"] == "unix":
        query["unix_socket"] = match["addr"]
    elif match["addr"]:
        host, _, port_text = match["addr"].rpartition(":") if ":" in match["addr"] else (match["addr"], "", "")
        port = int(port_text) if port_text.isdigit() else None
    tls, timeout = None, None
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
                raise ConfigError(f"connection_url: tls={value} is not supported; use tls=true or tls=skip-verify, "
                                  "and tls_ca/tls_certificate_key for your own certificates")
        elif key == "timeout":
            try:
                timeout = parse_duration(value)
            except ValueError as exc:
                raise ConfigError(f"connection_url: timeout: {exc}") from None
        elif key not in _GO_ONLY:
            # Never drop an option silently: it may have been a security setting.
            raise ConfigError(f"connection_url: option {key!r} is not supported by yamldb's MySQL driver")
    url = URL.create(driver, username=match["user"] or None, password=match["password"],
                     host=host, port=port, database=match["db"] or None, query=query)
    return ParsedURL(url, tls, timeout)
