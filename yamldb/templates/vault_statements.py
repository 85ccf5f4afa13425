"""Decode the statement lists Vault sends with a role.

Vault stores a role's `creation_statements` (and friends) as a list of strings,
and each entry may itself be a JSON array or a base64-encoded JSON array (that is
what go-secure-stdlib's `strutil.ParseArbitraryStringSlice` accepts and what the
CLI/API produce for `@file` or multi-statement input).

Unlike the Go helper we never split plain entries on ';': a naive split breaks
`DO $$ ... ; ... $$` blocks and semicolons inside quotes. `StatementTemplate`
splits SQL-aware later. We also use a base64 decoding only when it yields a JSON
array of strings (Go keeps any successful decoding, which turns an innocent
statement that happens to be valid base64 into garbage).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence

__all__ = ["decode_vault_statements"]


def _json_string_array(text: str) -> list[str] | None:
    """`text` parsed as a JSON array of strings, or None when it is anything else."""
    stripped = text.strip()
    if not (stripped.startswith("[") and stripped.endswith("]")):
        return None  # cheap rejection of ordinary SQL before invoking the JSON parser
    try:
        value = json.loads(stripped)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    return None


def _base64_json_string_array(text: str) -> list[str] | None:
    """`text` as standard, padded base64 of a UTF-8 JSON array of strings, or None."""
    stripped = text.strip()
    if not stripped or len(stripped) % 4:
        return None
    try:
        raw = base64.b64decode(stripped, validate=True)
        decoded = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    return _json_string_array(decoded)


def decode_vault_statements(commands: Sequence[str]) -> list[str]:
    """Expand Vault role statement entries into individual statement texts.

    Each entry is, in order of preference: base64 of a JSON array of strings, a
    JSON array of strings, or a statement text used as it is. Entries (and array
    items) that are empty or whitespace only are dropped.
    """
    if isinstance(commands, str):
        # A bare string would be iterated character by character; treat it as one entry.
        commands = [commands]
    out: list[str] = []
    for entry in commands:
        if not isinstance(entry, str):
            raise TypeError(f"statement entries must be strings, not {type(entry).__name__}")
        items = _base64_json_string_array(entry)
        if items is None:
            items = _json_string_array(entry)
        if items is None:
            items = [entry]
        out.extend(item for item in items if item.strip())
    return out
