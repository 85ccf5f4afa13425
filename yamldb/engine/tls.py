"""TLS to the database: the config keys Vault's built-in plugins take, and what they resolve to.

`TlsConfig` holds the keys as the host sent them (parsed once by lifecycle.config);
each driver adapter (engine/drivers/) turns them, with what the URL asked for, into
`TlsSettings`. Never silently weaker than asked: a server without TLS makes the
connection fail.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from yamldb.errors import ConfigError
from yamldb.pem import load_cert_chain

__all__ = ["TlsConfig", "TlsSettings"]


@dataclass(frozen=True)
class TlsConfig:
    """The TLS keys of a connection config (None when not set)."""

    ca: str | None = None  # tls_ca (both plugins)
    certificate: str | None = None  # tls_certificate (PostgreSQL)
    private_key: str | None = None  # private_key (PostgreSQL)
    certificate_key: str | None = None  # tls_certificate_key: certificate and key in one bundle (MySQL)
    server_name: str | None = None  # tls_server_name (MySQL)
    skip_verify: bool = False  # tls_skip_verify (MySQL)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in a message, like the password."""
        return tuple(v for v in (self.private_key, self.certificate_key) if v)


@dataclass(frozen=True)
class TlsSettings:
    """What the connection does: verify or not, which CA, which client certificate."""

    verify: bool = True
    ca_pem: str | None = None
    cert_pem: str | None = None
    key_pem: str | None = None
    server_name: str | None = None

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cadata=self.ca_pem) if self.ca_pem else ssl.create_default_context()
        if not self.verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.cert_pem and self.key_pem:
            try:
                load_cert_chain(ctx, self.cert_pem, self.key_pem)
            except ssl.SSLError as exc:
                raise ConfigError(f"TLS client certificate or key is not usable: {exc.reason}") from None
        return ctx
