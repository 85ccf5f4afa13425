"""PostgreSQL SCRAM-SHA-256 password verifiers (RFC 5802 / RFC 7677).

Handing PostgreSQL a ready-made verifier instead of the plain password keeps the
password out of the server's statement log and `pg_stat_activity`; PostgreSQL
stores a string of this exact shape as the role's password unchanged.

Like Vault (and unlike libpq's PQencryptPasswordConn) no SASLprep normalisation
is applied: the password's UTF-8 bytes are used as they are, so a client must
send the same bytes when it logs in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

__all__ = ["DEFAULT_ITERATIONS", "SALT_LENGTH", "scram_sha256_verifier"]

SALT_LENGTH = 16  # bytes; what PostgreSQL itself uses (SCRAM_DEFAULT_SALT_LEN)
DEFAULT_ITERATIONS = 4096  # PostgreSQL's scram_iterations default


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def scram_sha256_verifier(password: str, *, salt: bytes | None = None, iterations: int = DEFAULT_ITERATIONS) -> str:
    """Return `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` for `password`.

    A fresh 16-byte random salt is used unless `salt` is given (tests pin it).
    """
    if iterations < 1:
        raise ValueError("iterations must be at least 1")
    if salt is None:
        salt = os.urandom(SALT_LENGTH)
    elif not salt:
        raise ValueError("salt must not be empty")
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations, 32)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return f"SCRAM-SHA-256${iterations}:{_b64(salt)}${_b64(stored_key)}:{_b64(server_key)}"
