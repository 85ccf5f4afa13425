"""Connection URLs in the forms Vault operators already use, turned into SQLAlchemy URLs.

Accepted (per dialect, see `url_formats`): SQLAlchemy URLs; PostgreSQL URLs and
key=value DSNs; Go MySQL DSNs `user:pass@tcp(host:3306)/db?opts`; SQLite paths.
`{{username}}`/`{{password}}` are filled in first, escaped as Vault does.
"""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote

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


def _go_mysql_to_url(driver: str, match: re.Match[str]) -> URL:
    from sqlalchemy.engine import URL

    host, port, query = None, None, dict(parse_qsl(match["q"] or ""))
    if match["net"] == "unix":
        query["unix_socket"] = match["addr"]
    elif match["addr"]:
        host, _, port_text = match["addr"].rpartition(":") if ":" in match["addr"] else (match["addr"], "", "")
        port = int(port_text) if port_text.isdigit() else None
    # Go's MySQL driver options have other names than PyMySQL's; keep only the ones both know.
    query = {k: v for k, v in query.items() if k in ("charset", "unix_socket")}
    return URL.create(driver, username=match["user"] or None, password=match["password"],
                      host=host, port=port, database=match["db"] or None, query=query)


def to_sqlalchemy_url(text: str, driver: str, formats: tuple[str, ...]) -> URL:
    """Parse a rendered connection_url in any of the dialect's accepted formats."""
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
            return make_url(text)
        except ArgumentError:
            raise ConfigError("connection_url: cannot parse the URL") from None
    if "go_mysql_dsn" in formats and (match := _GO_MYSQL.match(text)):
        return _go_mysql_to_url(driver, match)
    if "postgresql_dsn" in formats and "=" in text:
        return _dsn_to_url(driver, text)
    if "sqlite_path" in formats:
        from sqlalchemy.engine import URL

        return URL.create(driver, database=text)
    raise ConfigError(
        f"connection_url: unrecognised format; this dialect accepts {', '.join(formats)} "
        f"(e.g. {backend}://USER:PASSWORD@HOST:PORT/DB)"
    )


def redacted(url: URL) -> str:
    return url.render_as_string(hide_password=True)
