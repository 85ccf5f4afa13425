"""TLS to the database as the built-in plugins configure it; never silently plaintext (docs review finding)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from devenv import HarnessUnavailable, MariaDBAdmin, PostgresCluster
from tests.conftest import require
from yamldb.errors import ConfigError, DatabaseError
from yamldb.lifecycle.database import ManifestDatabase


def _cert(subject: str, issuer_key, issuer_name, key, ca: bool, san: list | None = None) -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def pem(obj) -> str:
    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(serialization.Encoding.PEM).decode()
    return obj.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture(scope="module")
def tls_pg() -> Iterator[tuple[PostgresCluster, str]]:
    """A throw-away cluster serving TLS with a certificate from a throw-away CA; yields (cluster, CA PEM)."""
    try:
        cluster = PostgresCluster.start()
    except HarnessUnavailable as exc:
        require(exc)
    try:
        ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "yamldb test CA")])
        ca = _cert("yamldb test CA", ca_key, ca_name, ca_key, True)
        server = _cert("127.0.0.1", ca_key, ca_name, key, False, [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        for name, data in (("server.crt", pem(server)), ("server.key", pem(key))):
            path = cluster.data_dir / name
            path.write_text(data)
            os.chmod(path, 0o600)
            if os.geteuid() == 0:
                shutil.chown(path, "postgres", "postgres")
        with cluster.connect() as conn:
            conn.execute("ALTER SYSTEM SET ssl = on")
            conn.execute("SELECT pg_reload_conf()")
        yield cluster, pem(ca)
    finally:
        cluster.stop()


def initialize(url: str, user: str, password: str, manifest: str, **extra) -> ManifestDatabase:
    db = ManifestDatabase()
    db.initialize({"connection_url": url, "username": user, "password": password, "manifest": manifest, **extra}, True)
    return db


def test_postgresql_tls_ca_verifies_the_server(tls_pg):
    cluster, ca = tls_pg
    db = initialize(cluster.template_url(), cluster.superuser, cluster.password, "postgresql", tls_ca=ca)
    assert db._current().engine.query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") is True
    db.close()


def test_postgresql_tls_with_another_ca_is_refused(tls_pg):
    cluster, _ = tls_pg
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "someone else")])
    other = pem(_cert("someone else", other_key, other_name, other_key, True))
    with pytest.raises(DatabaseError, match="certificate verify failed"):
        initialize(cluster.template_url(), cluster.superuser, cluster.password, "postgresql", tls_ca=other)


def test_postgresql_tls_requested_from_a_server_without_it_fails(pg_cluster):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ca")])
    with pytest.raises(DatabaseError, match="SSL"):
        initialize(
            pg_cluster.template_url(),
            pg_cluster.superuser,
            pg_cluster.password,
            "postgresql",
            tls_ca=pem(_cert("ca", key, name, key, True)),
        )


@pytest.mark.parametrize("extra", [{"tls_skip_verify": "true"}, {"tls_ca": "__CA__"}])
def test_mysql_tls_config_keys_never_fall_back_to_plaintext(mariadb_admin: MariaDBAdmin, extra, tls_pg):
    _, ca = tls_pg
    extra = {k: (ca if v == "__CA__" else v) for k, v in extra.items()}
    url = f"{{{{username}}}}:{{{{password}}}}@tcp(127.0.0.1:{mariadb_admin.port})/"
    with pytest.raises(DatabaseError, match="SSL is required but the server doesn't support it"):
        initialize(url, mariadb_admin.user, mariadb_admin.password, "mysql", **extra)


@pytest.mark.parametrize("option", ["tls=true", "tls=skip-verify"])
def test_mysql_dsn_tls_never_falls_back_to_plaintext(mariadb_admin: MariaDBAdmin, option):
    url = f"{{{{username}}}}:{{{{password}}}}@tcp(127.0.0.1:{mariadb_admin.port})/?{option}"
    with pytest.raises(DatabaseError, match="SSL is required"):
        initialize(url, mariadb_admin.user, mariadb_admin.password, "mysql")


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("tls=preferred", "tls=preferred is not supported"),
        ("tls=custom", "tls=custom is not supported"),
        ("allowFallbackToPlaintext=true", "is not supported"),
    ],
)
def test_mysql_dsn_options_are_never_dropped_silently(mariadb_admin: MariaDBAdmin, option, message):
    url = f"{{{{username}}}}:{{{{password}}}}@tcp(127.0.0.1:{mariadb_admin.port})/?{option}"
    with pytest.raises(ConfigError, match=message):
        initialize(url, mariadb_admin.user, mariadb_admin.password, "mysql")


def test_mysql_dsn_go_only_options_and_timeout_are_accepted(mariadb_admin: MariaDBAdmin):
    url = f"{{{{username}}}}:{{{{password}}}}@tcp(127.0.0.1:{mariadb_admin.port})/?parseTime=true&timeout=5s"
    initialize(url, mariadb_admin.user, mariadb_admin.password, "mysql").close()
