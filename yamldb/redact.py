"""Keep secrets out of every message that leaves the plugin."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

__all__ = ["MASK", "Scrubber", "mask_url", "path_escape"]

MASK = "[redacted]"


def path_escape(value: str) -> str:
    """Go's url.PathEscape, as Vault writes a password into connection_url: keeps A-Z a-z 0-9 - _ . ~ $ & + : = @
    and escapes the rest as %XX."""
    return quote(value, safe="$&+:=@-_.~")


class Scrubber:
    """Replaces known secret values, and the escaped forms SQL gives them, in text.

    Every request extends the connection's scrubber with its own secrets (the new password), yet text is
    scrubbed only when a message leaves the plugin: the escaped variants are built on first use, not per
    request."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = tuple(s for s in secrets if s)
        self._variants: list[str] | None = None

    def _build(self) -> list[str]:
        variants: set[str] = set()
        for secret in self._secrets:
            if len(secret) < 3:  # too short to scrub without mangling ordinary words
                continue
            variants.update(
                {
                    secret,
                    secret.replace("'", "''"),
                    secret.replace("\\", "\\\\").replace("'", "\\'"),
                    secret.replace("\\", "\\\\").replace("'", "''"),
                    secret.replace('"', '""'),
                    path_escape(secret),  # as Vault writes it into a URL
                    quote(secret, safe=""),
                }
            )
        # Longest first, so a secret that contains another is replaced whole.
        return sorted(variants, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        variants = self._variants
        if variants is None:  # a benign race: two threads may both build the same list
            variants = self._variants = self._build()
        for variant in variants:
            if variant in text:
                text = text.replace(variant, MASK)
        return text

    def extend(self, secrets: Iterable[str]) -> Scrubber:
        # From the original secrets, not their variants: escaping an escaped form finds nothing new.
        added = tuple(s for s in secrets if s and s not in self._secrets)
        return Scrubber([*self._secrets, *added]) if added else self


def mask_url(url: Any) -> str:
    """A SQLAlchemy URL for messages: the whole user information masked (user name and password), never a part,
    and any password-like query value too."""
    query = {k: ("***" if "password" in k.lower() else v) for k, v in url.query.items()}
    shown = url._replace(username=None, password=None).set(query=query).render_as_string(hide_password=False)
    if url.username or url.password:
        shown = shown.replace("://", "://***@", 1)
    return shown
