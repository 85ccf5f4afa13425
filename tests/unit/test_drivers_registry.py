"""Driver adapters (issue 12 §3): one module per driver, found by SQLAlchemy backend name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from yamldb.engine.drivers import DriverAdapter, adapter_for, adapters, infer_manifest, register
from yamldb.engine.drivers.firebird import FirebirdAdapter
from yamldb.engine.drivers.mysql import MysqlAdapter
from yamldb.engine.drivers.postgresql import PostgresqlAdapter
from yamldb.engine.drivers.sqlite import SqliteAdapter
from yamldb.engine.tls import TlsConfig
from yamldb.errors import ConfigError

YAMLDB = Path(__file__).resolve().parents[2] / "yamldb"


@pytest.mark.parametrize(
    ("backend", "adapter"),
    [
        ("postgresql", PostgresqlAdapter),
        ("cockroachdb", PostgresqlAdapter),
        ("mysql", MysqlAdapter),
        ("mariadb", MysqlAdapter),
        ("sqlite", SqliteAdapter),
        ("firebird", FirebirdAdapter),
        ("mssql", DriverAdapter),
        ("oracle", DriverAdapter),
    ],
)
def test_backends_resolve_to_their_adapter_and_the_rest_to_the_generic_one(backend, adapter):
    assert adapter_for(backend) is adapter


def test_every_adapter_module_registers_itself():
    names = {a.__name__ for a in adapters()}
    assert {"PostgresqlAdapter", "MysqlAdapter", "SqliteAdapter", "FirebirdAdapter"} <= names


def test_a_backend_cannot_get_two_adapters():
    class Impostor(DriverAdapter):
        backends = ("postgresql",)

    with pytest.raises(RuntimeError, match="two adapters"):
        register(Impostor)
    assert adapter_for("postgresql") is PostgresqlAdapter


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("postgres://u:p@h/db", "postgresql"),
        ("postgresql+psycopg://u:p@h/db", "postgresql"),
        ("{{username}}:{{password}}@tcp(h:3306)/", "mysql"),
        ("mysql://u:p@h/", "mysql"),
        ("mariadb://u:p@h/", "mariadb"),
        ("sqlite:////tmp/x.db", "sqlite"),
        ("mssql+pymssql://u:p@h/db", "mssql"),
        ("firebird+firebird://u:p@h:3050//srv/app.fdb", "firebird"),
        ("host=h user=u", None),
    ],
)
def test_manifest_inference_comes_from_the_adapters(url, name):
    assert infer_manifest(url) == name


def test_tls_keys_are_read_by_the_adapter_of_the_driver():
    config = TlsConfig(ca="CA", certificate_key=None, skip_verify=True)
    assert MysqlAdapter().tls_settings(config, None).verify is False
    assert PostgresqlAdapter().tls_settings(TlsConfig(ca="CA"), None).ca_pem == "CA"
    with pytest.raises(ConfigError, match="go together"):
        PostgresqlAdapter().tls_settings(TlsConfig(certificate="C"), None)
    assert DriverAdapter().tls_settings(TlsConfig(ca="CA"), None) is None


def test_no_backend_name_is_compared_outside_the_adapters():
    # The engine and the lifecycle ask the adapter; they never branch on a database's name.
    pattern = re.compile(r"""backend\w*\s*(==|!=|\bin\b)|get_backend_name\(\)\s*(==|!=|\bin\b)""")
    offenders = [
        f"{path.relative_to(YAMLDB)}:{number}"
        for path in YAMLDB.rglob("*.py")
        if "drivers" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []
