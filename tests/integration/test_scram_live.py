"""SCRAM-SHA-256 verifiers against PostgreSQL itself: libpq computes the same, and they log in.

The cluster is the session's throw-away one with scram-sha-256 authentication (the
machine's own server on :5432 trusts everyone, so it could not tell a right password
from a wrong one).
"""

from __future__ import annotations

import base64
import secrets

import psycopg
import pytest

from devenv import PostgresCluster
from tests.quoting_rules import PG_RULES
from yamldb.templates.scram import scram_sha256_verifier
from yamldb.templates.sql import StatementTemplate


def _salt_and_iterations(verifier: str) -> tuple[bytes, int]:
    _, iter_salt, _ = verifier.split("$")
    iterations, salt = iter_salt.split(":")
    return base64.b64decode(salt), int(iterations)


def test_agrees_with_libpq(pg_cluster: PostgresCluster) -> None:
    """libpq's PQencryptPasswordConn is an independent C implementation."""
    with pg_cluster.connect() as conn:
        for password in ["pencil", "p'a\"s$$w;--rd\\", "x" * 1000]:  # ASCII: SASLprep is a no-op
            theirs = conn.pgconn.encrypt_password(password.encode(), b"someone", b"scram-sha-256").decode()
            salt, iterations = _salt_and_iterations(theirs)
            assert scram_sha256_verifier(password, salt=salt, iterations=iterations) == theirs


@pytest.mark.parametrize("password", ["correct horse", "p'a\"s$$w;--rd\\ /* x */", "x" * 2000])
def test_real_login_with_verifier(pg_cluster: PostgresCluster, password: str) -> None:
    role = f"yamldb_scram_{secrets.token_hex(4)}"
    create = StatementTemplate.parse(
        "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password | scram_sha256}}';", PG_RULES
    )
    drop = StatementTemplate.parse('DROP ROLE IF EXISTS "{{name}}"', PG_RULES)
    with pg_cluster.connect() as conn:
        try:
            for stmt in create.render({"name": role, "password": password}):
                conn.execute(stmt)
            stored = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", [role]).fetchone()[0]
            salt, iterations = _salt_and_iterations(stored)
            assert stored == scram_sha256_verifier(password, salt=salt, iterations=iterations)
            with pg_cluster.connect(role, password) as user_conn:
                assert user_conn.execute("SELECT current_user").fetchone()[0] == role
            with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
                pg_cluster.connect(role, password + "x")
        finally:
            for stmt in drop.render({"name": role}):
                conn.execute(stmt)
