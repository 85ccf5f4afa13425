"""Connection URLs in the forms Vault operators already use, turned into SQLAlchemy URLs.

`{{username}}`/`{{password}}` are filled in first, escaped as Vault does; then the
driver adapter of the manifest's driver parses the result in the forms the dialect's
`url_formats` allow (SQLAlchemy URLs; PostgreSQL URLs and key=value DSNs; Go MySQL
DSNs; SQLite paths: see engine/drivers/).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from yamldb.engine.drivers import ParsedURL, adapter_for, backend_of, check_fits
from yamldb.engine.tls import TlsConfig
from yamldb.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

__all__ = ["ParsedURL", "connection_target", "parse_connection_url", "to_sqlalchemy_url"]


def parse_connection_url(text: str, driver: str, formats: tuple[str, ...], tls: TlsConfig | None = None) -> ParsedURL:
    """Parse a connection_url with no placeholders left, with the adapter of `driver`; `tls` (the config's TLS
    keys) is merged over the TLS the URL asks for."""
    return connection_target(text, "", "", driver=driver, formats=formats, tls=tls)


def connection_target(
    template: str,
    username: str,
    password: str,
    *,
    driver: str,
    formats: tuple[str, ...],
    disable_escaping: bool = False,
    tls: TlsConfig | None = None,
) -> ParsedURL:
    """Where and as whom to connect, from connection_url and the config's username/password.

    Vault's plugins paste url.PathEscape(value) into the text and let the driver decode it again. Here the
    template is parsed with the placeholders in place and the values are then set as the user and password
    of the result: the same connection wherever the built-in plugin's works, and also where escaping fails
    it (a key=value DSN, a Go DSN, a user name with ':'). With disable_escaping=true the values are pasted
    raw and parsed as the driver would (so a password written pre-escaped keeps working), but they may not
    change where the URL's parts end."""
    for value in (username, password):
        if "{{username}}" in value or "{{password}}" in value:
            raise ConfigError("username and password may not contain {{username}} or {{password}}")
    check_fits(template, driver)
    adapter = adapter_for(backend_of(driver))()
    token = secrets.token_hex(8)
    marks = {f"yamldbuser{token}": username, f"yamldbpass{token}": password}
    skeleton = template.replace("{{username}}", f"yamldbuser{token}").replace("{{password}}", f"yamldbpass{token}")
    parsed = adapter.parse_url(skeleton, driver, formats)
    for key in adapter.composed_query_keys:
        value = parsed.url.query.get(key)
        if isinstance(value, str) and any(mark in value for mark in marks):
            raise ConfigError(
                "connection_url: {{username}} and {{password}} cannot be used in server or session "
                "parameters (options, search_path=..., a DSN's session variables), only as the user and password"
            )
    url = _fill(parsed.url, marks)
    if disable_escaping and skeleton != template:
        moved = ConfigError(
            "connection_url: with disable_escaping=true the username or password is pasted into "
            "the URL unescaped, and here it changes where the URL's parts end (a '/', '?', '#', "
            "'@' or a space in it?): percent-encode it, or remove disable_escaping"
        )
        try:
            raw = adapter.parse_url(
                template.replace("{{username}}", username).replace("{{password}}", password), driver, formats
            )
        except ConfigError:
            # The parser's own message may quote a piece of the text, here a piece of the password.
            raise moved from None
        if _shape(raw.url) != _shape(url):
            raise moved
        parsed, url = raw, raw.url
    final = adapter_for(url.get_backend_name())()
    final.check_url(url)
    return ParsedURL(url, final.tls_settings(tls or TlsConfig(), parsed.tls), parsed.connect_timeout)


def _fill(url: URL, marks: dict[str, str]) -> URL:
    """Put the values where their marks landed: user, password, host, database, query values."""

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            for mark, real in marks.items():
                value = value.replace(mark, real)
            return value
        if isinstance(value, tuple):
            return tuple(fill(v) for v in value)
        return value

    return url.set(
        username=fill(url.username),
        password=fill(url.password),
        host=fill(url.host),
        database=fill(url.database),
        query={k: fill(v) for k, v in url.query.items()},
    )


def _shape(url: URL) -> tuple[Any, ...]:
    return url.drivername, url.host, url.port, url.database, tuple(sorted(url.query.items()))


def to_sqlalchemy_url(text: str, driver: str, formats: tuple[str, ...]) -> URL:
    """Only the SQLAlchemy URL of parse_connection_url."""
    return parse_connection_url(text, driver, formats).url
