"""SCRAM-SHA-256 verifiers: independent recomputation from RFC 8018 and RFC 5802.

libpq's agreement and a real login are in tests/integration/test_scram_live.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from tests.quoting_rules import PG_RULES
from yamldb.templates.scram import scram_sha256_verifier
from yamldb.templates.sql import StatementTemplate

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
