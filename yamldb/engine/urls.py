"""Connection URLs in the forms Vault operators already use, turned into SQLAlchemy URLs.

`{{username}}`/`{{password}}` are filled in first, escaped as Vault does; then the
driver adapter of the manifest's driver parses the result in the forms the dialect's
`url_formats` allow (SQLAlchemy URLs; PostgreSQL URLs and key=value DSNs; Go MySQL
DSNs; SQLite paths: see engine/drivers/).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

from yamldb.engine.drivers import ParsedURL, adapter_for, backend_of
from yamldb.engine.tls import TlsConfig
from yamldb.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

__all__ = ["ParsedURL", "parse_connection_url", "path_escape", "render_connection_url", "to_sqlalchemy_url"]


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


def parse_connection_url(text: str, driver: str, formats: tuple[str, ...], tls: TlsConfig | None = None
                         ) -> ParsedURL:
    """Parse a rendered connection_url with the adapter of `driver`; `tls` (the config's TLS keys) is merged
    over the TLS the URL asks for."""
    adapter = adapter_for(backend_of(driver))()
    parsed = adapter.parse_url(text, driver, formats)
    settings = adapter_for(parsed.url.get_backend_name())().tls_settings(tls or TlsConfig(), parsed.tls)
    return ParsedURL(parsed.url, settings, parsed.connect_timeout)


def to_sqlalchemy_url(text: str, driver: str, formats: tuple[str, ...]) -> URL:
    """Only the SQLAlchemy URL of parse_connection_url."""
    return parse_connection_url(text, driver, formats).url
