"""TLS to the database, from the options Vault's built-in plugins take.

MySQL: the Go DSN's `tls=true|skip-verify` and the config keys tls_ca,
tls_certificate_key, tls_server_name, tls_skip_verify. PostgreSQL: sslmode and
friends in the URL, or the config keys tls_ca, tls_certificate, private_key.
Never silently weaker than asked: a server without TLS makes the connection fail.
"""

from __future__ import annotations

import shutil
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yamldb.errors import ConfigError
from yamldb.pem import load_cert_chain, split_pem, write_private


@dataclass(frozen=True)
class TlsSettings:
    verify: bool = True
    ca_pem: str | None = None
    cert_pem: str | None = None
    key_pem: str | None = None
    server_name: str | None = None

    @classmethod
    def from_config(cls, raw: dict[str, Any], backend: str, url_tls: TlsSettings | None) -> TlsSettings | None:
        """Merge the config keys of the built-in plugin for `backend` over what the URL asked for."""
        def text(key: str) -> str | None:
            value = raw.get(key)
            return str(value) if value not in (None, "") else None

        skip = str(raw.get("tls_skip_verify", "")).strip().lower() in ("1", "true", "yes")
        if backend == "mysql":
            ca, bundle, name = text("tls_ca"), text("tls_certificate_key"), text("tls_server_name")
            if not (ca or bundle or skip or name) and url_tls is None:
                return None
            cert, key = split_pem(bundle) if bundle else (None, None)
            if bundle and "PRIVATE KEY" not in (key or ""):
                raise ConfigError("tls_certificate_key: expected a PEM bundle with a certificate and its private key")
            base = url_tls or cls()
            return cls(verify=base.verify and not skip, ca_pem=ca or base.ca_pem, cert_pem=cert, key_pem=key,
                       server_name=name)
        if backend == "postgresql":
            ca, cert, key = text("tls_ca"), text("tls_certificate"), text("private_key")
            if not (ca or cert or key):
                return url_tls
            if bool(cert) != bool(key):
                raise ConfigError("tls_certificate and private_key go together")
            return cls(verify=True, ca_pem=ca, cert_pem=cert, key_pem=key)
        return url_tls

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


class TlsFiles:
    """libpq reads certificates only from files: a private directory for the engine's lifetime."""

    def __init__(self) -> None:
        self.directory: Path | None = None

    def psycopg_args(self, tls: TlsSettings) -> dict[str, str]:
        self.directory = Path(tempfile.mkdtemp(prefix="yamldb-tls-"))
        args: dict[str, str] = {"sslmode": "verify-full" if tls.ca_pem else "require"}
        if tls.ca_pem:
            args["sslrootcert"] = str(write_private(self.directory, "ca.pem", tls.ca_pem))
        if tls.cert_pem and tls.key_pem:
            args["sslcert"] = str(write_private(self.directory, "cert.pem", tls.cert_pem))
            args["sslkey"] = str(write_private(self.directory, "key.pem", tls.key_pem))
        return args

    def remove(self) -> None:
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None
