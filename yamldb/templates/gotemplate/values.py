"""What a template computes with: the data object, the value types, and per-render state."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from typing import Final

from yamldb.errors import TemplateError

__all__ = [
    "DATA_TYPE",
    "EPOCH",
    "FIELDS",
    "MAX_RENDER_SIZE",
    "MISSING",
    "TOO_LARGE",
    "Data",
    "FuncError",
    "RenderContext",
    "Value",
    "clean",
    "go_type",
]

DATA_TYPE: Final = "dbplugin.UsernameMetadata"  # Go type name Vault renders, used in fmt output
MISSING: Final = object()  # "no piped value", distinct from every template value
EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND: Final = timedelta(microseconds=1)
# What one render may compute, every function result and the output counted: a username is a few
# dozen characters, and the cap keeps printf widths, replace and nested calls from eating memory.
MAX_RENDER_SIZE: Final = 1 << 20
TOO_LARGE: Final = f"too large: a username template may compute at most {MAX_RENDER_SIZE} characters per username"


class Data:
    """The template's data object: Vault's dbplugin.UsernameMetadata."""

    __slots__ = ("display_name", "role_name")

    def __init__(self, display_name: str, role_name: str) -> None:
        self.display_name = display_name
        self.role_name = role_name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Data) and self.display_name == other.display_name and self.role_name == other.role_name

    __hash__ = None  # type: ignore[assignment]


Value = str | int | bool | Data
FIELDS: Final = {"DisplayName": "display_name", "RoleName": "role_name"}


class FuncError(TemplateError):
    """Raised by a template function; the call site adds the name and position."""


class RenderContext:
    """Per-render state: the clock, read once so unix_time and timestamp agree, and the size budget."""

    __slots__ = ("_now", "_ns", "remaining")

    def __init__(self, now: datetime | None) -> None:
        if now is not None and now.tzinfo is None:
            now = now.replace(tzinfo=timezone.utc)
        self._now = now
        self._ns: int | None = None
        self.remaining = MAX_RENDER_SIZE  # characters this render may still compute; the nodes charge it

    def reserve(self, size: int) -> None:
        """Refuse, before allocating it, a result of `size` characters that the budget cannot hold."""
        if size > self.remaining:
            raise FuncError("result is " + TOO_LARGE)

    def unix_ns(self) -> int:
        """The render's time in nanoseconds since 1970 (whole microseconds, as datetime keeps them)."""
        if self._ns is None:
            if self._now is None:
                # time_ns is the clock datetime.now reads, without building a datetime for unix_time.
                self._ns = time.time_ns() // 1000 * 1000
            else:
                self._ns = (self._now - EPOCH) // _MICROSECOND * 1000
        return self._ns

    def now(self) -> datetime:
        if self._now is None:
            self._now = EPOCH + timedelta(microseconds=self.unix_ns() // 1000)
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
