"""Regular expressions written in manifests, matched in time linear in the text.

A parameter's `pattern` is matched against values a role sends on every request. Python's `re`
backtracks: `(a|aa)+` against 38 characters held the GIL, and so every connection of the plugin,
for 9 s, and each two more characters multiplied that by 2.6. RE2 (PyPI `google-re2`, Google's
engine, a self-contained wheel) never backtracks: matching is linear in the text, compiling is
bounded by its `max_mem`. What it gives up is backreferences and look-around; a manifest that uses
them is refused when it is validated, with the pattern's file:line:col, instead of being slow later.

RE2's `\\w`, `\\d`, `\\s` and `\\b` are ASCII-only (Python's are Unicode); `\\p{L}` and explicit
ranges still reach any character.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

__all__ = ["fullmatch", "pattern_problem"]


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> tuple[Any, str | None]:
    import re2  # imported on first use: the plugin's handshake path stays light

    options = re2.Options()
    options.log_errors = False  # RE2 would print each refusal on stderr, which the host reads as its log
    try:
        return re2.compile(pattern, options), None
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        return None, detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
    except UnicodeError:
        return None, "the pattern is not valid Unicode text"


def pattern_problem(pattern: str) -> str | None:
    """Why RE2 cannot use `pattern` (e.g. 'invalid perl operator: (?='), or None."""
    return _compiled(pattern)[1]


def fullmatch(pattern: str, text: str) -> bool:
    """Whether the whole of `text` matches `pattern`; a pattern RE2 refuses never matches."""
    compiled = _compiled(pattern)[0]
    try:
        return compiled is not None and compiled.fullmatch(text) is not None
    except UnicodeError:  # a lone surrogate cannot be encoded for RE2, and no pattern should accept it
        return False
