"""Connection URLs in the forms Vault operators already use, turned into SQLAlchemy URLs.

Accepted (per dialect, see `url_formats`): SQLAlchemy URLs; PostgreSQL URLs and
key=value DSNs; Go MySQL DSNs `user:pass@tcp(host:3306)/db?opts`; SQLite paths.
`{{username}}`/`{{password}}` are filled in first, escaped as Vault does.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote

from yamldb.durations import parse_duration
from yamldb.engine.tls import TlsSettings
from yamldb.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

_GO_MYSQL = re.compile(
    r"^(?:(?P<user>[^:@]*)(?::(?P<password>.*))?@)?(?P<net>tcp|unix)?\((?P<addr>[^)]*)\)/(?P<db>[^?]*)(?:\?(?P<q>.*))?$",
    re.DOTALL,
)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def path_escape(value: str) -> str:
    # Go's url.PathEscape keeps A-Z a-z 0-9 - _ . ~ $ & + : = @ and escapes the rest.
    return quote(value, safe="$&+:=@-_.~")


def render_connection_url(
    template: str, username: str, password: str, *, disable_escaping: bool = False, escape_password: bool = True
) -> str:
    """Fill {{username}}/{{password}} like Vault's connutil (PathEscape unless disabled)."""
    for value in (username, password):
        if "{{username}}" in value or "{{password}}" in value:
            raise ConfigError("username and password may not contain {{username}} or {{password}}")
    user = username if disable_escaping else path_escape(username)
    secret = password if disable_escaping or not escape_password else path_escape(password)
    return template.replace("{{username}}", user).replace("{{password}}", secret)


def _dsn_to_url(driver: str, dsn: str) -> URL:
    from sqlalchemy.engine import URL

    try:
        parts = dict(item.split("=", 1) for item in shlex.split(dsn, posix=True))
    except ValueError as exc:
        raise ConfigError(f"connection_url: cannot parse key=value DSN ({exc})") from None
    port = parts.pop("port", None)
    return URL.create(
        driver,
        username=parts.pop("user", None),
        password=parts.pop("password", None),
        host=parts.pop("host", None) or parts.pop("hostaddr", None),
        port=int(port) if port and port.isdigit() else None,
        database=parts.pop("dbname", None),
        query=parts,
    )


# Go MySQL driver options with no meaning for PyMySQL (client-side behaviour of the Go driver).
_GO_ONLY = frozenset({"parseTime", "loc", "readTimeout", "writeTimeout", "interpolateParams", "multiStatements",
                      "allowNativePasswords", "allowCleartextPasswords", "allowOldPasswords", "collation",
                      "columnsWithAlias", "clientFoundRows", "maxAllowedPacket", "rejectReadOnly",
                      "checkConnLiveness", "allowAllFiles", "time_zone", "sql_mode"})


@dataclass(frozen=True)
class ParsedURL:
    url: URL
    tls: TlsSettings | None = None
    connect_timeout: float | None = None


def _go_mysql_to_url(driver: str, match: re.Match[str]) -> ParsedURL:
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


def to_sqlalchemy_url(text: str, driver: str, formats: tuple[str, ...]) -> URL:
    """Parse a rendered connection_url in any of the dialect's accepted formats."""
    return parse_connection_url(text, driver, formats).url


def parse_connection_url(text: str, driver: str, formats: tuple[str, ...]) -> ParsedURL:
    """Like to_sqlalchemy_url, plus the TLS and timeout options a Go MySQL DSN carries."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    text = text.strip()
    if not text:
        raise ConfigError("connection_url cannot be empty")
    backend = driver.split("+", 1)[0]
    if _SCHEME.match(text):
        scheme = text.split("://", 1)[0].lower()
        if "postgresql_url" in formats and scheme in ("postgres", "postgresql"):
            text = f"{driver}://{text.split('://', 1)[1]}"
        elif scheme.split("+", 1)[0] == backend and "+" not in scheme:
            text = f"{driver}://{text.split('://', 1)[1]}"  # plain "mysql://" gets our driver
        try:
            return ParsedURL(make_url(text))
        except ArgumentError:
            raise ConfigError("connection_url: cannot parse the URL") from None
    if "go_mysql_dsn" in formats and (match := _GO_MYSQL.match(text)):
        return _go_mysql_to_url(driver, match)
    if "postgresql_dsn" in formats and "=" in text:
        return ParsedURL(_dsn_to_url(driver, text))
    if "sqlite_path" in formats:
        from sqlalchemy.engine import URL

        return ParsedURL(URL.create(driver, database=text))
    raise ConfigError(
        f"connection_url: unrecognised format; this dialect accepts {', '.join(formats)} "
        f"(e.g. {backend}://USER:PASSWORD@HOST:PORT/DB)"
    )


def redacted(url: URL) -> str:
    return url.render_as_string(hide_password=True)
