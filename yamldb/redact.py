"""Keep secrets out of every message that leaves the plugin."""

from __future__ import annotations

from collections.abc import Iterable

MASK = "[redacted]"


class Scrubber:
    """Replaces known secret values, and the escaped forms SQL gives them, in text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets = tuple(s for s in secrets if s)
        variants: set[str] = set()
        for secret in self._secrets:
            if not secret or len(secret) < 3:  # too short to scrub without mangling ordinary words
                continue
            variants.update({
                secret,
                secret.replace("'", "''"),
                secret.replace("\\", "\\\\").replace("'", "\\'"),
                secret.replace("\\", "\\\\").replace("'", "''"),
                secret.replace('"', '""'),
            })
        # Longest first, so a secret that contains another is replaced whole.
        self._variants = sorted(variants, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for variant in self._variants:
            if variant in text:
                text = text.replace(variant, MASK)
        return text

    def extend(self, secrets: Iterable[str]) -> Scrubber:
        # From the original secrets, not their variants: escaping an escaped form finds nothing new.
        return Scrubber([*self._secrets, *secrets])
