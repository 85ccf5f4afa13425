"""PostgreSQL through psycopg 3 (also CockroachDB and Redshift, which speak its protocol).

URL forms: `postgres://` / `postgresql://` URLs (they get the manifest's driver) and
libpq key=value DSNs. TLS: sslmode and friends in the URL, or the config keys
tls_ca, tls_certificate and private_key of Vault's postgresql-database-plugin,
handed to libpq as files in a private directory.
"""

from __future__ import annotations

import shlex
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yamldb.engine.drivers.base import DriverAdapter, ParsedURL
from yamldb.engine.drivers.registry import register
from yamldb.engine.tls import TlsConfig, TlsSettings
from yamldb.errors import ConfigError
from yamldb.pem import write_private

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from yamldb.manifest.model import PoolSettings

__all__ = ["PostgresqlAdapter"]


@register
class PostgresqlAdapter(DriverAdapter):
    backends = ("postgresql", "cockroachdb")
    schemes = ("postgresql", "postgres", "cockroachdb")
    manifest_aliases = {"postgres": "postgresql"}
    connect_timeout_arg = "connect_timeout"

    def __init__(self) -> None:
        self._tls_dir: Path | None = None  # libpq reads certificates only from files

    def parse_other_url(self, text: str, driver: str, formats: tuple[str, ...]) -> ParsedURL | None:
        if "postgresql_dsn" in formats and "=" in text:
            return ParsedURL(_dsn_to_url(driver, text))
        return None

    def tls_settings(self, config: TlsConfig, url_tls: TlsSettings | None) -> TlsSettings | None:
        ca, cert, key = config.ca, config.certificate, config.private_key
        if not (ca or cert or key):
            return url_tls
        if bool(cert) != bool(key):
            raise ConfigError("tls_certificate and private_key go together")
        return TlsSettings(verify=True, ca_pem=ca, cert_pem=cert, key_pem=key)

    def connect_args(self, manifest_args: Mapping[str, Any], tls: TlsSettings | None,
                     pool: PoolSettings) -> dict[str, Any]:
        args = super().connect_args(manifest_args, tls, pool)
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

    def cancel(self, dbapi_conn: Any, engine: Engine) -> None:
        if hasattr(dbapi_conn, "cancel_safe"):  # psycopg 3.2+: a non-blocking out-of-band cancel
            dbapi_conn.cancel_safe(timeout=5)
        else:
            dbapi_conn.cancel()

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


def _dsn_to_url(driver: str, dsn: str) -> Any:
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
