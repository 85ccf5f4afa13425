"""SCRAM-SHA-256 verifiers: independent recomputation, libpq agreement, and a real login.

The live login runs against a throw-away PostgreSQL cluster started here with
scram-sha-256 authentication (the machine's own server on :5432 trusts everyone,
so it could not tell a right password from a wrong one).
"""

from __future__ import annotations

import base64
import glob
import hashlib
import hmac
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from yamldb.manifest.quoting import QuotingRules
from yamldb.templates.scram import scram_sha256_verifier
from yamldb.templates.sql import StatementTemplate

PG_RULES = QuotingRules(
    identifier_quotes=('"',), string_quotes=("'",), backslash_escapes=False, dollar_quoting=True,
    escape_string_prefix=True, preferred_identifier_quote='"', max_identifier_length=63,
)


def _unavailable(reason: str) -> None:
    """Skip locally, fail in CI: CI must run every live check."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is an error)")
    pytest.skip(reason)


# --- independent reference: PBKDF2 written out from RFC 8018 with hmac only ---------


def _pbkdf2_sha256_one_block(password: bytes, salt: bytes, iterations: int) -> bytes:
    u = hmac.new(password, salt + b"\x00\x00\x00\x01", hashlib.sha256).digest()
    result = bytearray(u)
    for _ in range(iterations - 1):
        u = hmac.new(password, u, hashlib.sha256).digest()
        result = bytearray(a ^ b for a, b in zip(result, u, strict=True))
    return bytes(result)


def _reference_verifier(password: str, salt: bytes, iterations: int) -> str:
    salted = _pbkdf2_sha256_one_block(password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()

    def b64(b: bytes) -> str:
        return base64.b64encode(b).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def _parse(verifier: str) -> tuple[int, bytes, bytes, bytes]:
    mechanism, iter_salt, keys = verifier.split("$")
    assert mechanism == "SCRAM-SHA-256"
    iterations, salt = iter_salt.split(":")
    stored, server = keys.split(":")
    return int(iterations), base64.b64decode(salt), base64.b64decode(stored), base64.b64decode(server)


@pytest.mark.parametrize(
    ("password", "salt", "iterations"),
    [
        ("pencil", b"0123456789abcdef", 4096),
        ("", b"\x00" * 16, 4096),
        ("p'a\"s$$w;--rd\\", bytes(range(16)), 4096),
        ("ünïcødé 🔑", b"saltsaltsaltsalt", 10),
        ("x" * 10_000, b"s", 1),
    ],
)
def test_matches_independent_reference(password: str, salt: bytes, iterations: int) -> None:
    assert scram_sha256_verifier(password, salt=salt, iterations=iterations) == _reference_verifier(
        password, salt, iterations
    )


def test_known_value() -> None:
    # Pinned so an accidental change of encoding or key derivation shows up as a diff.
    assert scram_sha256_verifier("pencil", salt=b"0123456789abcdef") == (
        "SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$"
        "nQpbZ77WudtqufPwikHXGRt6g2QJ4zns8bZLw273DRM=:jn2amWP1q1h+jgjy0YTO14S6/F02SV7taipOeB7ef20="
    )


def test_random_salt_shape() -> None:
    a = scram_sha256_verifier("secret")
    b = scram_sha256_verifier("secret")
    assert a != b  # fresh salt each time
    iterations, salt, stored, server = _parse(a)
    assert iterations == 4096
    assert len(salt) == 16 and len(stored) == 32 and len(server) == 32
    assert a == scram_sha256_verifier("secret", salt=salt)


@pytest.mark.parametrize("bad", [{"iterations": 0}, {"salt": b""}])
def test_rejects_bad_parameters(bad: dict) -> None:
    with pytest.raises(ValueError):
        scram_sha256_verifier("x", **bad)


def test_filter_output_is_a_plain_string_literal() -> None:
    tpl = StatementTemplate.parse("ALTER ROLE x PASSWORD '{{password | scram_sha256}}'", PG_RULES)
    (stmt,) = tpl.render({"password": "p'w"})
    verifier = stmt.removeprefix("ALTER ROLE x PASSWORD '").removesuffix("'")
    _, salt, _, _ = _parse(verifier)
    assert verifier == _reference_verifier("p'w", salt, 4096)


@pytest.mark.integration
def test_agrees_with_libpq() -> None:
    """libpq's PQencryptPasswordConn is an independent C implementation."""
    psycopg = pytest.importorskip("psycopg")
    try:
        conn = psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=5")
    except psycopg.OperationalError as exc:
        _unavailable(f"PostgreSQL on 127.0.0.1:5432 is not reachable: {exc}")
    with conn:
        for password in ["pencil", "p'a\"s$$w;--rd\\", "x" * 1000]:  # ASCII: SASLprep is a no-op
            theirs = conn.pgconn.encrypt_password(password.encode(), b"someone", b"scram-sha-256").decode()
            iterations, salt, _, _ = _parse(theirs)
            assert scram_sha256_verifier(password, salt=salt, iterations=iterations) == theirs


# --- live login against a throw-away scram-sha-256 cluster ---------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bindir() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists() and Path(candidate, "pg_ctl").exists():
            return Path(candidate)
    return None


@pytest.fixture(scope="module")
def scram_cluster() -> Iterator[dict[str, object]]:
    """A private PostgreSQL cluster that only accepts SCRAM logins; removed afterwards."""
    psycopg = pytest.importorskip("psycopg")
    bindir = _pg_bindir()
    if bindir is None:
        _unavailable("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    if os.geteuid() != 0:
        _unavailable("starting a throw-away cluster needs root (to run initdb as the postgres user)")
    try:
        pg_user = pwd.getpwnam("postgres")
    except KeyError:
        _unavailable("there is no 'postgres' OS user to run initdb as")

    workdir = Path(tempfile.mkdtemp(prefix="yamldb-scram-"))
    datadir = workdir / "data"
    superuser_password = secrets.token_urlsafe(16)
    pwfile = workdir / "pwfile"
    pwfile.write_text(superuser_password + "\n")
    for path in (workdir, pwfile):
        os.chown(path, pg_user.pw_uid, pg_user.pw_gid)
    port = _free_port()
    run_as = ["runuser", "-u", "postgres", "--"]
    started = False
    try:
        subprocess.run(
            [*run_as, str(bindir / "initdb"), "-D", str(datadir), "--auth=scram-sha-256",
             f"--pwfile={pwfile}", "-U", "postgres", "--no-sync"],
            check=True, capture_output=True, text=True, timeout=120,
        )
        subprocess.run(
            [*run_as, str(bindir / "pg_ctl"), "-D", str(datadir), "-l", str(workdir / "log"), "-w", "-t", "60",
             "-o", f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1", "start"],
            check=True, capture_output=True, text=True, timeout=120,
        )
        started = True
        admin = f"host=127.0.0.1 port={port} user=postgres dbname=postgres connect_timeout=10"
        deadline = time.monotonic() + 30
        while True:  # pg_ctl -w waits for the socket; be tolerant of a slow TCP listener anyway
            try:
                psycopg.connect(admin, password=superuser_password).close()
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield {"port": port, "admin": admin, "password": superuser_password}
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"could not start the throw-away cluster: {exc.stderr or exc.stdout}")
    finally:
        if started:
            subprocess.run(
                [*run_as, str(bindir / "pg_ctl"), "-D", str(datadir), "-m", "immediate", "-w", "stop"],
                capture_output=True, timeout=120,
            )
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.integration
@pytest.mark.parametrize("password", ["correct horse", "p'a\"s$$w;--rd\\ /* x */", "x" * 2000])
def test_real_login_with_verifier(scram_cluster: dict[str, object], password: str) -> None:
    psycopg = pytest.importorskip("psycopg")
    port, admin = scram_cluster["port"], str(scram_cluster["admin"])
    role = f"yamldb_scram_{secrets.token_hex(4)}"
    create = StatementTemplate.parse(
        "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password | scram_sha256}}';", PG_RULES
    )
    drop = StatementTemplate.parse('DROP ROLE IF EXISTS "{{name}}"', PG_RULES)
    with psycopg.connect(admin, password=scram_cluster["password"], autocommit=True) as conn:
        try:
            for stmt in create.render({"name": role, "password": password}):
                conn.execute(stmt)
            stored = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", [role]).fetchone()[0]
            iterations, salt, _, _ = _parse(stored)
            assert stored == scram_sha256_verifier(password, salt=salt, iterations=iterations)

            dsn = f"host=127.0.0.1 port={port} dbname=postgres connect_timeout=10"
            with psycopg.connect(dsn, user=role, password=password) as user_conn:
                assert user_conn.execute("SELECT current_user").fetchone()[0] == role
            with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
                psycopg.connect(dsn, user=role, password=password + "x")
        finally:
            for stmt in drop.render({"name": role}):
                conn.execute(stmt)
