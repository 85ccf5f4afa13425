"""The functions a username template may call: Go's builtins, Vault's and OpenBao's additions.

Each function takes the render context first; `FUNCTIONS` maps a name to its `Spec` (parameter
types, variadic tail), which the parser checks against literal arguments.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from yamldb.templates.gotemplate.fmt import Printer, largest_width
from yamldb.templates.gotemplate.timelayout import go_time_format
from yamldb.templates.gotemplate.values import (
    MAX_RENDER_SIZE,
    TOO_LARGE,
    FuncError,
    RenderContext,
    Value,
    go_type,
)

__all__ = ["FUNCTIONS", "GO_ONLY_FUNCTIONS", "MAX_RANDOM", "NOT_VARIADIC", "TYPE_NAMES", "Spec"]

MAX_RANDOM: Final = 65_536

_BASE62: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _utf8_prefix(s: str, n: int) -> str:
    """The first n UTF-8 bytes of s, minus a trailing partial character."""
    if s.isascii():
        return s[:n]
    data = s.encode()
    if len(data) <= n:
        return s
    return data[:n].decode("utf-8", "ignore")


# Go's base62.Random keeps bytes below 248 (4 * 62) and maps them mod 62, so every
# character is equally likely; bytes.translate does both steps in C.
_BASE62_TABLE: Final = bytes(ord(_BASE62[b % 62]) for b in range(248)) + bytes(8)
_BASE62_REJECT: Final = bytes(range(248, 256))


def _check_random(length: object) -> None:
    if type(length) is not int:
        return
    if length < 0:
        raise FuncError(f"length must be >= 0 but was {length}")
    if length > MAX_RANDOM:
        raise FuncError(f"length must be <= {MAX_RANDOM} but was {length}")


def _fn_random(ctx: RenderContext, length: int) -> str:
    _check_random(length)
    ctx.reserve(length)
    # os.urandom is the OS CSPRNG that secrets.token_bytes wraps. A quarter more bytes than needed
    # makes a second draw rare (8 of 256 byte values are rejected).
    out = b""
    while len(out) < length:
        out += os.urandom(length + length // 4 + 1).translate(_BASE62_TABLE, _BASE62_REJECT)
    return out[:length].decode("ascii")


def _fn_truncate(ctx: RenderContext, max_len: int, s: str) -> str:
    if max_len <= 0:
        raise FuncError(f"max length must be > 0 but was {max_len}")
    return _utf8_prefix(s, max_len)


def _fn_truncate_sha256(ctx: RenderContext, max_len: int, s: str) -> str:
    if max_len <= 8:
        raise FuncError(f"max length must be > 8 but was {max_len}")
    data = s.encode()
    if len(data) <= max_len:
        return s
    cut = max_len - 8
    # The hash covers the exact cut-off bytes, so it matches Go even mid-character.
    return data[:cut].decode("utf-8", "ignore") + hashlib.sha256(data[cut:]).hexdigest()[:8]


def _simple_case(s: str, upper: bool) -> str:
    if s.isascii():
        return s.upper() if upper else s.lower()
    out = []
    for ch in s:
        m = ch.upper() if upper else ch.lower()
        out.append(m if len(m) == 1 else ch)
    return "".join(out)


def _fn_uppercase(ctx: RenderContext, s: str) -> str:
    return _simple_case(s, True)


def _fn_lowercase(ctx: RenderContext, s: str) -> str:
    return _simple_case(s, False)


def _fn_replace(ctx: RenderContext, find: str, repl: str, s: str) -> str:
    count = len(s) + 1 if find == "" else s.count(find)
    ctx.reserve(len(s) + count * (len(repl) - len(find)))
    if find == "":
        # Go's ReplaceAll with an empty needle inserts at each rune boundary; so does Python's.
        return s.replace("", repl)
    return s.replace(find, repl)


def _fn_sha256(ctx: RenderContext, s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


def _fn_base64(ctx: RenderContext, s: str) -> str:
    data = s.encode()
    ctx.reserve((len(data) + 2) // 3 * 4)
    return base64.b64encode(data).decode("ascii")


def _fn_decode_base64(ctx: RenderContext, s: str) -> str:
    # Go's StdEncoding skips CR and LF but is otherwise strict about the alphabet and padding.
    try:
        data = base64.b64decode(s.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        raise FuncError("illegal base64 data") from None
    return data.decode("utf-8", "replace")


def _fn_hex(ctx: RenderContext, s: str) -> str:
    data = s.encode()
    ctx.reserve(2 * len(data))
    return data.hex()


_HEX_DIGITS = re.compile(r"[0-9a-fA-F]*")


def _fn_decode_hex(ctx: RenderContext, s: str) -> str:
    if not _HEX_DIGITS.fullmatch(s):
        raise FuncError("encoding/hex: invalid byte in hex string")
    if len(s) % 2:
        raise FuncError("encoding/hex: odd length hex string")
    return bytes.fromhex(s).decode("utf-8", "replace")


def _fn_unix_time(ctx: RenderContext) -> str:
    return str(ctx.unix_ns() // 1_000_000_000)


def _fn_unix_time_millis(ctx: RenderContext) -> str:
    return str(ctx.unix_ns() // 1_000_000)


def _fn_timestamp(ctx: RenderContext, layout: str) -> str:
    ctx.reserve(2 * len(layout))  # no layout element prints more than twice its length
    return go_time_format(ctx.now(), layout)


def _fn_uuid(ctx: RenderContext) -> str:
    h = secrets.token_hex(16)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _fn_glob(ctx: RenderContext, pattern: str, value: str) -> bool:
    # ryanuber/go-glob: "*" is the only wildcard; parts match left to right, leftmost first.
    if pattern == "":
        return value == ""
    if pattern == "*":
        return True
    parts = pattern.split("*")
    if len(parts) == 1:
        return value == pattern
    if not value.startswith(parts[0]):
        return False
    rest = value[len(parts[0]) :]
    for part in parts[1:-1]:
        idx = rest.find(part)
        if idx < 0:
            return False
        rest = rest[idx + len(part) :]
    return pattern.endswith("*") or rest.endswith(parts[-1])


def _kind(v: Value) -> str:
    t = type(v)
    return "string" if t is str else "int" if t is int else "bool" if t is bool else "struct"


def _fn_eq(ctx: RenderContext, a: Value, *others: Value) -> bool:
    ka = _kind(a)
    for b in others:
        if _kind(b) != ka:
            raise FuncError("incompatible types for comparison")
        if a == b:
            return True
    return False


def _fn_ne(ctx: RenderContext, a: Value, b: Value) -> bool:
    return not _fn_eq(ctx, a, b)


def _fn_lt(ctx: RenderContext, a: Value, b: Value) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka in ("bool", "struct") or kb in ("bool", "struct"):
        raise FuncError("invalid type for comparison")
    if ka != kb:
        raise FuncError("incompatible types for comparison")
    return a < b  # type: ignore[operator]


def _fn_le(ctx: RenderContext, a: Value, b: Value) -> bool:
    return _fn_lt(ctx, a, b) or _fn_eq(ctx, a, b)


def _fn_gt(ctx: RenderContext, a: Value, b: Value) -> bool:
    return not _fn_le(ctx, a, b)


def _fn_ge(ctx: RenderContext, a: Value, b: Value) -> bool:
    return not _fn_lt(ctx, a, b)


def _fn_not(ctx: RenderContext, a: Value) -> bool:
    return not a


def _fn_len(ctx: RenderContext, a: Value) -> int:
    if type(a) is str:
        assert isinstance(a, str)
        return len(a) if a.isascii() else len(a.encode())
    raise FuncError(f"len of type {go_type(a)}")


def _fn_print(ctx: RenderContext, *args: Value) -> str:
    return Printer(ctx.remaining).sprint(args, False)


def _fn_println(ctx: RenderContext, *args: Value) -> str:
    return Printer(ctx.remaining).sprint(args, True)


def _check_format(fmt: object, *args: object) -> None:
    if type(fmt) is str:
        width = largest_width(fmt)
        if width > MAX_RENDER_SIZE:
            raise FuncError(f"width {width} is {TOO_LARGE}")


def _fn_printf(ctx: RenderContext, fmt: str, *args: Value) -> str:
    return Printer(ctx.remaining).sprintf(fmt, args)


def _plain_format(fmt: str) -> int | None:
    """How many %s a format has if it has nothing but text, %s and %%; else None."""
    verbs = 0
    i = fmt.find("%")
    while i >= 0:
        nxt = fmt[i + 1 : i + 2]
        if nxt == "s":
            verbs += 1
        elif nxt != "%":
            return None
        i = fmt.find("%", i + 2)
    return verbs


def _specialize_printf(fmt: object, *args: object) -> Callable[..., Value] | None:
    """printf for a literal format of text, %s and %% with one argument per %s (every Vault default).

    For string arguments Go prints exactly what Python's `%` does with such a format; any other
    argument, or a result the budget cannot hold, takes the general Printer, which prints it or
    raises its own error. So the output and errors are the Printer's, in one C call.
    """
    if type(fmt) is not str or _plain_format(fmt) != len(args):
        return None
    fixed = len(fmt % (("",) * len(args)))

    def printf(ctx: RenderContext, fmt: str, *args: Value) -> str:
        size = fixed
        for a in args:
            if type(a) is not str:
                return _fn_printf(ctx, fmt, *args)
            size += len(a)  # type: ignore[arg-type]
        if size > ctx.remaining:
            return _fn_printf(ctx, fmt, *args)
        return fmt % args

    return printf


ANY: Final = None
NOT_VARIADIC: Final = object()  # marks a function that is not variadic


@dataclass(frozen=True, slots=True)
class Spec:
    """A function's signature: parameter types (None = any), variadic tail type, `check`, `specialize`.

    `check`, when there is one, sees the call's literal arguments (MISSING for the others) at
    parse time and raises FuncError for what would surely fail or allocate too much later.
    `specialize` sees them when the template is compiled and may return a faster `fn` for calls
    with those literals (same arguments, same results and errors), or None.
    """

    name: str
    fn: Callable[..., Value]
    params: tuple[type | None, ...]
    variadic: object
    check: Callable[..., None] | None = None
    specialize: Callable[..., Callable[..., Value] | None] | None = None


def _specs() -> dict[str, Spec]:
    table: list[tuple[str, Callable[..., Value], tuple[type | None, ...], object]] = [
        # Go text/template builtins
        ("and", _fn_not, (ANY,), ANY),  # evaluated by AndOr, fn unused
        ("or", _fn_not, (ANY,), ANY),
        ("not", _fn_not, (ANY,), NOT_VARIADIC),
        ("len", _fn_len, (ANY,), NOT_VARIADIC),
        ("eq", _fn_eq, (ANY, ANY), ANY),
        ("ne", _fn_ne, (ANY, ANY), NOT_VARIADIC),
        ("lt", _fn_lt, (ANY, ANY), NOT_VARIADIC),
        ("le", _fn_le, (ANY, ANY), NOT_VARIADIC),
        ("gt", _fn_gt, (ANY, ANY), NOT_VARIADIC),
        ("ge", _fn_ge, (ANY, ANY), NOT_VARIADIC),
        ("print", _fn_print, (), ANY),
        ("println", _fn_println, (), ANY),
        ("printf", _fn_printf, (str,), ANY),
        # Vault sdk/helper/template
        ("random", _fn_random, (int,), NOT_VARIADIC),
        ("truncate", _fn_truncate, (int, str), NOT_VARIADIC),
        ("truncate_sha256", _fn_truncate_sha256, (int, str), NOT_VARIADIC),
        ("uppercase", _fn_uppercase, (str,), NOT_VARIADIC),
        ("lowercase", _fn_lowercase, (str,), NOT_VARIADIC),
        ("replace", _fn_replace, (str, str, str), NOT_VARIADIC),
        ("sha256", _fn_sha256, (str,), NOT_VARIADIC),
        ("base64", _fn_base64, (str,), NOT_VARIADIC),
        ("unix_time", _fn_unix_time, (), NOT_VARIADIC),
        ("unix_time_millis", _fn_unix_time_millis, (), NOT_VARIADIC),
        ("timestamp", _fn_timestamp, (str,), NOT_VARIADIC),
        ("uuid", _fn_uuid, (), NOT_VARIADIC),
        # OpenBao additions
        ("decode_base64", _fn_decode_base64, (str,), NOT_VARIADIC),
        ("hex", _fn_hex, (str,), NOT_VARIADIC),
        ("decode_hex", _fn_decode_hex, (str,), NOT_VARIADIC),
        ("glob", _fn_glob, (str, str), NOT_VARIADIC),
    ]
    checks: dict[str, Callable[..., None]] = {"printf": _check_format, "random": _check_random}
    specialize: dict[str, Callable[..., Callable[..., Value] | None]] = {"printf": _specialize_printf}
    return {
        name: Spec(name, fn, params, var, checks.get(name), specialize.get(name)) for name, fn, params, var in table
    }


FUNCTIONS: Final = _specs()
GO_ONLY_FUNCTIONS: Final = frozenset({"call", "html", "index", "js", "slice", "urlquery"})
TYPE_NAMES: Final = {int: "int", str: "string", bool: "bool"}
