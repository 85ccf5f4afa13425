"""PEM material that ssl/libpq only accept as files: written briefly into a private directory."""

from __future__ import annotations

import os
import ssl
import tempfile
from pathlib import Path

__all__ = ["load_cert_chain", "split_pem", "write_private"]


def write_private(directory: Path, name: str, data: str | bytes) -> Path:
    """Create `directory/name` readable by this user only (0600), failing if it exists."""
    path = directory / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    return path


def load_cert_chain(ctx: ssl.SSLContext, cert_pem: str | bytes, key_pem: str | bytes) -> None:
    """ssl loads keys only from files: write them to a fresh 0700 directory and remove it at once."""
    with tempfile.TemporaryDirectory(prefix="yamldb-pem-") as tmp:  # mkdtemp: mode 0700
        directory = Path(tmp)
        ctx.load_cert_chain(
            write_private(directory, "cert.pem", cert_pem), write_private(directory, "key.pem", key_pem)
        )


def split_pem(bundle: str) -> tuple[str, str]:
    """(certificates, private key) from one PEM bundle such as MySQL's tls_certificate_key."""
    certs, key, current, inside = [], [], None, False
    for line in bundle.splitlines():
        if line.startswith("-----BEGIN "):
            current, inside = (key if "PRIVATE KEY" in line else certs), True
        if inside and current is not None:
            current.append(line)
        if line.startswith("-----END "):
            inside = False
    return "\n".join(certs) + "\n", "\n".join(key) + "\n"
