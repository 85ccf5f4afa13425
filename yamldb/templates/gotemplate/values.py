"""What a template computes with: the data object, the value types, and per-render state."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final

__all__ = [
    "DATA_TYPE", "FIELDS", "MISSING", "Data", "FuncError", "RenderContext", "Value", "clean", "go_type",
]

DATA_TYPE: Final = "dbplugin.UsernameMetadata"  # Go type name Vault renders, used in fmt output
MISSING: Final = object()  # "no piped value", distinct from every template value


class Data:
    """The template's data object: Vault's dbplugin.UsernameMetadata."""

    __slots__ = ("display_name", "role_name")

    def __init__(self, display_name: str, role_name: str) -> None:
        self.display_name = display_name
        self.role_name = role_name

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Data)
            and self.display_name == other.display_name
            and self.role_name == other.role_name
        )

    __hash__ = None  # type: ignore[assignment]


Value = str | int | bool | Data
FIELDS: Final = {"DisplayName": "display_name", "RoleName": "role_name"}


class FuncError(Exception):
    """Raised by a template function; the call site adds the name and position."""


class RenderContext:
    """Per-render state: the clock is read once so unix_time and timestamp agree."""

    __slots__ = ("_now",)

    def __init__(self, now: datetime | None) -> None:
        if now is not None and now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        self._now = now

    def now(self) -> datetime:
        if self._now is None:
            self._now = datetime.now(UTC)
        return self._now


_SURROGATES = re.compile("[\ud800-\udfff]")


def clean(s: str) -> str:
    # Lone surrogates cannot be UTF-8 encoded; Go would see U+FFFD in their place.
    if s.isascii():
        return s
    return _SURROGATES.sub("\ufffd", s)


def go_type(v: object) -> str:
    t = type(v)
    if t is str:
        return "string"
    if t is bool:
        return "bool"
    if t is int:
        return "int"
    return DATA_TYPE

