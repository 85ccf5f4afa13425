"""OpenBao password policies for tests: which characters generated passwords must contain."""

from __future__ import annotations

import json

__all__ = ["password_policy"]


def password_policy(length: int, *charsets: tuple[str, int]) -> str:
    """HCL for `sys/policies/password/NAME`: `length` characters, at least N from each (charset, N)."""
    rules = "".join(
        f'rule "charset" {{\n  charset = {json.dumps(chars, ensure_ascii=False)}\n  min-chars = {n}\n}}\n'
        for chars, n in charsets
    )
    return f"length = {length}\n{rules}"
