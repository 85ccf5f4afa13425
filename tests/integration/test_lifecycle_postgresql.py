"""The v5 operations in plain Python against a live PostgreSQL that checks passwords (issue 4 §4-§6, issue 7 §1)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from devenv import PostgresCluster
from yamldb.errors import DatabaseError
from yamldb.lifecycle.database import ManifestDatabase
from yamldb.lifecycle.requests import (
    CredentialType,
    DeleteUser,
    NewUser,
    PasswordChange,
    PublicKeyChange,
    UpdateUser,
)
from yamldb.manifest.library import ManifestLibrary

KEYS = """\
yamldb: 1
dialect: postgresql
credential_types: [password, rsa_private_key, client_certificate]
sets:
  keypair:
    create:
      - CREATE ROLE "{{username}}" WITH LOGIN VALID UNTIL '{{expiration}}';
      - COMMENT ON ROLE "{{username}}" IS '{{public_key}}';
    rotate:
      - COMMENT ON ROLE "{{username}}" IS '{{public_key}}';
  cert:
    create:
      - CREATE ROLE "{{username}}" WITH LOGIN VALID UNTIL '{{expiration}}';
      - COMMENT ON ROLE "{{username}}" IS '{{subject}}';
"""
LOGIN_CHECK = """\
yamldb: 1
dialect: postgresql
login_check: {enabled: true}
statements:
  create:
    # A deliberate mistake: the role gets a different password than Vault's.
    - CREATE ROLE "{{username}}" WITH LOGIN PASSWORD '{{password}}-typo';
"""


def in_hour() -> datetime:
    return datetime.now(timezone.utc) + timedelta(hours=1)


@pytest.fixture
def library(tmp_path: Path) -> ManifestLibrary:
    (tmp_path / "keys.yaml").write_text(KEYS)
    (tmp_path / "login-check.yaml").write_text(LOGIN_CHECK)
    return ManifestLibrary([tmp_path])


def open_db(pg: PostgresCluster, library: ManifestLibrary, manifest: str = "postgresql") -> ManifestDatabase:
    db = ManifestDatabase(library)
    db.initialize(
        {
            "connection_url": pg.template_url(),
            "username": pg.superuser,
            "password": pg.password,
            "manifest": manifest,
            "max_open_connections": "3",
        },
        True,
    )
    return db


def exists(pg: PostgresCluster, name: str) -> bool:
    with pg.connect() as conn:
        return conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (name,)).fetchone()[0] == 1


def comment(pg: PostgresCluster, name: str) -> str:
    with pg.connect() as conn:
        return conn.execute(
            "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = %s", (name,)
        ).fetchone()[0]


def can_login(pg: PostgresCluster, user: str, password: str) -> bool:
    try:
        psycopg.connect(host="127.0.0.1", port=pg.port, user=user, password=password, dbname="postgres").close()
        return True
    except psycopg.OperationalError:
        return False


def public_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def test_initialize_returns_the_whole_config_with_credential_types(pg_cluster, library):
    db = ManifestDatabase(library)
    sent = {
        "connection_url": pg_cluster.template_url(),
        "username": pg_cluster.superuser,
        "password": pg_cluster.password,
        "manifest": "keys",
        "max_open_connections": "2",
        "custom": "kept",
    }
    returned = db.initialize(sent, True)
    assert {k: returned[k] for k in sent} == sent
    assert returned["supported_credential_types"] == ["password", "rsa_private_key", "client_certificate"]
    db.close()


def test_rsa_key_pair_credentials_and_key_rotation(pg_cluster, library):
    db = open_db(pg_cluster, library, "keys")
    first, second = public_pem(), public_pem()
    name = db.new_user(
        NewUser(
            "token",
            "kp",
            in_hour(),
            statements=("yamldb:keypair",),
            credential_type=CredentialType.RSA_PRIVATE_KEY,
            public_key=first,
        )
    )
    assert comment(pg_cluster, name) == first
    db.update_user(
        UpdateUser(
            name,
            public_key=PublicKeyChange(second, ("yamldb:keypair",)),
            credential_type=CredentialType.RSA_PRIVATE_KEY,
        )
    )
    assert comment(pg_cluster, name) == second
    db.delete_user(DeleteUser(name))
    assert not exists(pg_cluster, name)
    db.close()


def test_client_certificate_credentials_get_the_subject(pg_cluster, library):
    db = open_db(pg_cluster, library, "keys")
    name = db.new_user(
        NewUser(
            "token",
            "cert",
            in_hour(),
            statements=("yamldb:cert",),
            credential_type=CredentialType.CLIENT_CERTIFICATE,
            subject="CN=app,O=Example",
        )
    )
    assert comment(pg_cluster, name) == "CN=app,O=Example"
    db.delete_user(DeleteUser(name))
    db.close()


def test_a_credential_type_the_manifest_does_not_declare_is_refused(pg_cluster, library):
    db = open_db(pg_cluster, library)
    with pytest.raises(Exception, match="credential type rsa_private_key is not supported"):
        db.new_user(
            NewUser("token", "x", in_hour(), credential_type=CredentialType.RSA_PRIVATE_KEY, public_key=public_pem())
        )
    db.close()


def test_login_check_catches_a_credential_that_does_not_work_and_leaves_nothing(pg_cluster, library):
    db = open_db(pg_cluster, library, "login-check")
    with pytest.raises(DatabaseError, match="login check failed, the new user was removed again") as err:
        db.new_user(NewUser("token", "lc", in_hour(), password="The-Vault-Password-1"))
    assert "The-Vault-Password-1" not in str(err.value)
    with pg_cluster.connect() as conn:
        assert conn.execute("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'v-token-lc-%'").fetchone()[0] == 0
    db.close()


def test_same_password_twice_and_delete_twice_succeed(pg_cluster, library):
    db = open_db(pg_cluster, library)
    name = db.new_user(NewUser("token", "rep", in_hour(), password="First-Password-1"))
    for _ in range(2):  # Vault retries a rotation with the same password after a failure
        db.update_user(UpdateUser(name, password=PasswordChange("Second-Password-2")))
    assert can_login(pg_cluster, name, "Second-Password-2")
    for _ in range(2):  # a user already gone is success
        db.delete_user(DeleteUser(name))
    assert not exists(pg_cluster, name)
    db.close()


def test_failed_creation_rolls_back_completely(pg_cluster, library):
    db = open_db(pg_cluster, library)
    with pytest.raises(DatabaseError):
        db.new_user(
            NewUser(
                "token",
                "rb",
                in_hour(),
                password="Pw-1234567890",
                statements=(
                    "CREATE ROLE \"{{name}}\" LOGIN PASSWORD '{{password}}';",
                    'GRANT SELECT ON no_such_table TO "{{name}}";',
                ),
            )
        )
    with pg_cluster.connect() as conn:
        assert conn.execute("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'v-token-rb-%'").fetchone()[0] == 0
    db.close()


HOSTILE = [
    "o'brien",
    'quo"te',
    "back\\slash",
    "semi;colon",
    "dash--comment",
    "/*block*/",
    "$$dollar$$",
    "ünïcödé-名前",
    "x" * 200,
    "'; DROP ROLE admin; --",
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_identities_create_exactly_one_user_with_exactly_that_name(pg_cluster, library, hostile):
    """Vault sanitises token display names; a plugin must not rely on it. Role names, display names and
    passwords go straight into the username template and the SQL here."""
    db = ManifestDatabase(library)
    db.initialize(
        {
            "connection_url": pg_cluster.template_url(),
            "username": pg_cluster.superuser,
            "password": pg_cluster.password,
            "manifest": "postgresql",
            "username_template": '{{ printf "h-%s" .DisplayName | truncate 63 }}',
        },
        True,
    )
    with pg_cluster.connect() as conn:
        before = conn.execute("SELECT count(*) FROM pg_roles").fetchone()[0]
    password = f"pw-{hostile}"[:100]
    name = db.new_user(
        NewUser(
            hostile,
            hostile,
            in_hour(),
            password=password,
            statements=("CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",),
        )
    )
    assert name == ("h-" + hostile).encode()[:63].decode(errors="ignore")
    with pg_cluster.connect() as conn:
        assert conn.execute("SELECT count(*) FROM pg_roles").fetchone()[0] == before + 1
        assert exists(pg_cluster, name) and exists(pg_cluster, pg_cluster.superuser)
    assert can_login(pg_cluster, name, password)
    db.update_user(UpdateUser(name, password=PasswordChange(password + "'2")))
    assert can_login(pg_cluster, name, password + "'2")
    db.delete_user(DeleteUser(name))
    with pg_cluster.connect() as conn:
        assert conn.execute("SELECT count(*) FROM pg_roles").fetchone()[0] == before
    db.close()
