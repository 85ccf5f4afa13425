"""Vault/OpenBao username templates, in pure Python.

Vault and OpenBao build dynamic usernames with a Go `text/template` plus the
function set of `sdk/helper/template`. This module implements the subset of
that language username templates use, with Go's observable behaviour, so a
`username_template` that works on the host renders the same here::

    tpl = UsernameTemplate.parse('{{ printf "v-%s-%s" (.DisplayName | truncate 8) (random 20) }}')
    tpl.render("token", "readonly")          # 'v-token-Xa93...'

A template is parsed once into a tree of small node objects; `render` only
walks the tree, so it takes microseconds.

Supported:

* text, `{{ pipeline }}`, trim markers `{{- ` / ` -}}`, comments `{{/* */}}`;
* `.DisplayName`, `.RoleName`, `.` (prints Go-style `{display role}`);
* pipelines `a | f x` (a becomes f's last argument) and `( ... )` sub-pipelines;
* literals: "strings" with Go escapes, `raw` strings, integers (decimal, 0x,
  0o, 0b, leading-0 octal, `_` separators), 'c' characters, true/false;
* `if` / `else` / `else if` / `end`, `with` / `else with`;
* Go builtins and, or, not, eq, ne, lt, le, gt, ge, len, print, printf, println
  (`printf` follows Go's fmt: flags, width, precision, `*`, `[n]`, the verbs
  v s d q x X o O b c U t T %, and %!v(MISSING) / %!(EXTRA ...) / %!d(string=x));
* Vault functions random, truncate, truncate_sha256, uppercase, lowercase,
  replace, sha256, base64, unix_time, unix_time_millis, timestamp, uuid, and
  OpenBao's decode_base64, hex, decode_hex, glob.

Not supported (parse error): variables (`$x`), range, define, template, block,
break, continue, nil, float/complex constants, field chains other than the two
data fields, and Go's call, index, slice, html, js, urlquery.

Deliberate differences from Go:

* Function names, argument counts and literal argument types are checked at
  parse time (Go only checks the count when the call runs).
* Strings are Unicode. truncate, truncate_sha256, len and %x work on the UTF-8
  bytes like Go, but a cut inside a multi-byte character drops that partial
  character (decode with errors="ignore") instead of emitting invalid UTF-8,
  so the result can be up to 3 bytes shorter than Go's. Bytes that are not
  UTF-8 (from decode_base64, decode_hex or "\\xNN" escapes) become U+FFFD, as
  do lone surrogates in the inputs.
* `timestamp` formats the time in UTC (Go uses the host's local zone); a
  naive `now` is taken as UTC.
* uppercase/lowercase only apply one-to-one case mappings, like Go's
  (Python's "ß".upper() would give "SS").
* `random` refuses lengths above 65536 and negative lengths.
* An empty template is rejected ("missing template"), as Vault does, and so is
  one of 100000 characters or more ("template too large").
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from operator import attrgetter
from typing import Final

from yamldb.errors import TemplateError

__all__ = ["MAX_TEMPLATE_SIZE", "UsernameTemplate"]

MAX_TEMPLATE_SIZE: Final = 100_000
_MAX_DEPTH: Final = 100  # parens, if/with and else-if chains; far below Python's recursion limit
_MAX_RANDOM: Final = 65_536
_DATA_TYPE: Final = "dbplugin.UsernameMetadata"  # Go type name Vault renders, used in fmt output
_SPACES: Final = " \t\r\n"
_MISSING: Final = object()  # "no piped value", distinct from every template value


class _Data:
    """The template's data object: Vault's dbplugin.UsernameMetadata."""

    __slots__ = ("display_name", "role_name")

    def __init__(self, display_name: str, role_name: str) -> None:
        self.display_name = display_name
        self.role_name = role_name

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, _Data)
            and self.display_name == other.display_name
            and self.role_name == other.role_name
        )

    __hash__ = None  # type: ignore[assignment]


Value = str | int | bool | _Data
_FIELDS: Final = {"DisplayName": "display_name", "RoleName": "role_name"}


class _FuncError(Exception):
    """Raised by a template function; the call site adds the name and position."""


class _Ctx:
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


def _clean(s: str) -> str:
    # Lone surrogates cannot be UTF-8 encoded; Go would see U+FFFD in their place.
    if s.isascii():
        return s
    return _SURROGATES.sub("\ufffd", s)


def _go_type(v: object) -> str:
    t = type(v)
    if t is str:
        return "string"
    if t is bool:
        return "bool"
    if t is int:
        return "int"
    return _DATA_TYPE


# ---------------------------------------------------------------- Go fmt ----

_CTRL_ESCAPES: Final = {
    "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
}


def _is_print(ch: str) -> bool:
    # Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and ASCII space,
    # which is what Python's isprintable() accepts too.
    return ch.isprintable()


def _go_quote(s: str, quote: str = '"', ascii_only: bool = False) -> str:
    """strconv.Quote (or QuoteRune with quote="'")."""
    out = [quote]
    for ch in s:
        if ch == quote or ch == "\\":
            out.append("\\" + ch)
            continue
        o = ord(ch)
        if _is_print(ch) and (o < 0x80 or not ascii_only):
            out.append(ch)
            continue
        esc = _CTRL_ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif 0xD800 <= o <= 0xDFFF:
            out.append("\\ufffd")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append(quote)
    return "".join(out)


def _can_backquote(s: str) -> bool:
    return not any(
        (ch < " " and ch != "\t") or ch in "`\x7f\ufeff" for ch in s
    )


def _rune(v: int) -> str:
    """The character for an integer, or U+FFFD where Go's utf8 would substitute it."""
    if 0 <= v <= 0x10FFFF and not 0xD800 <= v <= 0xDFFF:
        return chr(v)
    return "\ufffd"


def _parsenum(s: str, start: int, end: int) -> tuple[int, bool, int]:
    """fmt's parsenum: a decimal at s[start:end]; absurdly long ones eat the format."""
    if start >= end:
        return 0, False, end
    num, isnum, i = 0, False, start
    while i < end and "0" <= s[i] <= "9":
        if num > 1_000_000:
            return 0, False, end
        num = num * 10 + ord(s[i]) - 48
        isnum = True
        i += 1
    return num, isnum, i


class _Printer:
    """A port of the parts of Go's fmt.pp / fmt.fmt that template values can reach."""

    __slots__ = (
        "buf",
        "good_argnum",
        "minus",
        "plus",
        "plus_v",
        "prec",
        "prec_ok",
        "reordered",
        "sharp",
        "sharp_v",
        "space",
        "wid",
        "wid_ok",
        "zero",
    )

    def __init__(self) -> None:
        self.buf: list[str] = []
        self.reordered = False
        self.good_argnum = True
        self.clear()

    def clear(self) -> None:
        self.plus = self.minus = self.sharp = self.space = self.zero = False
        self.plus_v = self.sharp_v = False
        self.wid = self.prec = 0
        self.wid_ok = self.prec_ok = False

    # -- padding and the per-type formatters (fmt/format.go) --

    def write_padding(self, n: int) -> None:
        if n > 0:
            self.buf.append(("0" if self.zero else " ") * n)

    def pad(self, s: str) -> None:
        if not self.wid_ok or self.wid == 0:
            self.buf.append(s)
            return
        width = self.wid - len(s)
        if width <= 0:
            self.buf.append(s)
        elif self.minus:
            self.buf.append(s)
            self.write_padding(width)
        else:
            self.write_padding(width)
            self.buf.append(s)

    def truncate(self, s: str) -> str:
        return s[: self.prec] if self.prec_ok else s

    def fmt_s(self, s: str) -> None:
        self.pad(self.truncate(s))

    def fmt_q(self, s: str) -> None:
        s = self.truncate(s)
        if self.sharp and _can_backquote(s):
            self.pad("`" + s + "`")
        else:
            self.pad(_go_quote(s, '"', self.plus))

    def fmt_sx(self, s: str, upper: bool) -> None:
        data = s.encode()
        length = len(data)
        if self.prec_ok and self.prec < length:
            length = self.prec
        width = 2 * length
        if width <= 0:
            if self.wid_ok:
                self.write_padding(self.wid)
            return
        if self.space:
            if self.sharp:
                width *= 2
            width += length - 1
        elif self.sharp:
            width += 2
        if self.wid_ok and self.wid > width and not self.minus:
            self.write_padding(self.wid - width)
        prefix = "0X" if upper else "0x"
        hexes = [f"{b:02X}" if upper else f"{b:02x}" for b in data[:length]]
        if self.space:
            sep = " " + prefix if self.sharp else " "
            body = sep.join(hexes)
        else:
            body = "".join(hexes)
        self.buf.append((prefix if self.sharp else "") + body)
        if self.wid_ok and self.wid > width and self.minus:
            self.write_padding(self.wid - width)

    def fmt_integer(self, v: int, base: int, verb: str) -> None:
        negative = v < 0
        u = -v if negative else v
        prec = 0
        if self.prec_ok:
            prec = self.prec
            if prec == 0 and u == 0:  # %.0d of 0 prints nothing but padding
                old, self.zero = self.zero, False
                self.write_padding(self.wid)
                self.zero = old
                return
        elif self.zero and not self.minus and self.wid_ok:
            # Zero padding is done as precision so the sign lands before the zeros.
            prec = self.wid
            if negative or self.plus or self.space:
                prec -= 1
        if base == 10:
            digits = str(u)
        elif base == 16:
            digits = format(u, "X" if verb == "X" else "x")
        elif base == 8:
            digits = format(u, "o")
        else:
            digits = format(u, "b")
        if len(digits) < prec:
            digits = "0" * (prec - len(digits)) + digits
        if self.sharp:
            if base == 2:
                digits = "0b" + digits
            elif base == 8 and digits[0] != "0":
                digits = "0" + digits
            elif base == 16:
                digits = ("0X" if verb == "X" else "0x") + digits
        if verb == "O":
            digits = "0o" + digits
        if negative:
            digits = "-" + digits
        elif self.plus:
            digits = "+" + digits
        elif self.space:
            digits = " " + digits
        old, self.zero = self.zero, False
        self.pad(digits)
        self.zero = old

    def fmt_unicode(self, v: int) -> None:
        u = v & 0xFFFF_FFFF_FFFF_FFFF
        prec = self.prec if self.prec_ok and self.prec > 4 else 4
        s = "U+" + format(u, "X").rjust(prec, "0")
        if self.sharp and u <= 0x10FFFF and _is_print(chr(u)):
            s += " '" + chr(u) + "'"
        old, self.zero = self.zero, False
        self.pad(s)
        self.zero = old

    # -- dispatch on the argument's type (fmt/print.go printArg) --

    def bad_verb(self, verb: str, arg: Value) -> None:
        self.buf.append("%!" + verb + "(" + _go_type(arg) + "=")
        self.print_arg(arg, "v")
        self.buf.append(")")

    def print_arg(self, arg: Value, verb: str) -> None:
        if verb == "T":
            self.fmt_s(_go_type(arg))
            return
        t = type(arg)
        if t is str:
            assert isinstance(arg, str)
            if verb == "s" or (verb == "v" and not self.sharp_v):
                self.fmt_s(arg)
            elif verb == "q" or verb == "v":
                self.fmt_q(arg)
            elif verb == "x" or verb == "X":
                self.fmt_sx(arg, verb == "X")
            else:
                self.bad_verb(verb, arg)
        elif t is int:
            assert isinstance(arg, int)
            if verb == "d" or verb == "v":
                self.fmt_integer(arg, 10, verb)
            elif verb == "x" or verb == "X":
                self.fmt_integer(arg, 16, verb)
            elif verb == "o" or verb == "O":
                self.fmt_integer(arg, 8, verb)
            elif verb == "b":
                self.fmt_integer(arg, 2, verb)
            elif verb == "c":
                self.pad(_rune(arg))
            elif verb == "q":
                self.pad(_go_quote(_rune(arg), "'", self.plus))
            elif verb == "U":
                self.fmt_unicode(arg)
            else:
                self.bad_verb(verb, arg)
        elif t is bool:
            if verb == "t" or verb == "v":
                self.pad("true" if arg else "false")
            else:
                self.bad_verb(verb, arg)
        else:
            assert isinstance(arg, _Data)
            if verb == "p":
                self.bad_verb(verb, arg)
                return
            # A struct prints each field with the same verb: {display role}.
            if self.sharp_v:
                self.buf.append(_DATA_TYPE)
            self.buf.append("{")
            named = self.plus_v or self.sharp_v
            for i, (name, val) in enumerate(
                (("DisplayName", arg.display_name), ("RoleName", arg.role_name))
            ):
                if i:
                    self.buf.append(", " if self.sharp_v else " ")
                if named:
                    self.buf.append(name + ":")
                self.print_arg(val, verb)
            self.buf.append("}")

    # -- Sprintf (fmt/print.go doPrintf) --

    def arg_number(self, argnum: int, fmt: str, i: int, nargs: int) -> tuple[int, int, bool]:
        """An explicit argument index "[n]" at fmt[i:], if any."""
        if i >= len(fmt) or fmt[i] != "[":
            return argnum, i, False
        self.reordered = True
        close = fmt.find("]", i + 1)
        if len(fmt) - i < 3 or close < 0:
            self.good_argnum = False
            return argnum, i + 1, False
        index, ok, newi = _parsenum(fmt, i + 1, close)
        if not ok or newi != close:
            self.good_argnum = False
            return argnum, close + 1, False
        index -= 1  # one-based in the format
        if 0 <= index < nargs:
            return index, close + 1, True
        self.good_argnum = False
        return argnum, close + 1, True

    @staticmethod
    def int_from_arg(args: tuple[Value, ...], argnum: int) -> tuple[int, bool, int]:
        if argnum < len(args):
            a = args[argnum]
            if type(a) is int:
                assert isinstance(a, int)
                if -1_000_000 <= a <= 1_000_000:
                    return a, True, argnum + 1
            return 0, False, argnum + 1
        return 0, False, argnum

    def sprintf(self, fmt: str, args: tuple[Value, ...]) -> str:
        buf = self.buf
        end = len(fmt)
        argnum = 0
        after_index = False
        self.reordered = False
        i = 0
        while i < end:
            self.good_argnum = True
            j = fmt.find("%", i)
            if j < 0:
                buf.append(fmt[i:])
                break
            if j > i:
                buf.append(fmt[i:j])
            i = j + 1
            self.clear()
            simple = False
            while i < end:
                c = fmt[i]
                if "a" <= c <= "z" and argnum < len(args):
                    # Go's fast path: flags then a lower-case verb, nothing else.
                    if c == "v":
                        self.sharp_v, self.sharp = self.sharp, False
                        self.plus_v, self.plus = self.plus, False
                    arg = args[argnum]
                    if c == "s" and type(arg) is str:
                        buf.append(arg)  # type: ignore[arg-type]
                    else:
                        self.print_arg(arg, c)
                    argnum += 1
                    i += 1
                    simple = True
                    break
                if c == "#":
                    self.sharp = True
                elif c == "0":
                    self.zero = not self.minus  # zero padding only to the left
                elif c == "+":
                    self.plus = True
                elif c == "-":
                    self.minus = True
                    self.zero = False
                elif c == " ":
                    self.space = True
                else:
                    break
                i += 1
            if simple:
                continue
            argnum, i, after_index = self.arg_number(argnum, fmt, i, len(args))
            if i < end and fmt[i] == "*":
                i += 1
                self.wid, self.wid_ok, argnum = self.int_from_arg(args, argnum)
                if not self.wid_ok:
                    buf.append("%!(BADWIDTH)")
                if self.wid < 0:
                    self.wid = -self.wid
                    self.minus = True
                    self.zero = False
                after_index = False
            else:
                self.wid, self.wid_ok, i = _parsenum(fmt, i, end)
                if after_index and self.wid_ok:  # "%[3]2d"
                    self.good_argnum = False
            if i + 1 < end and fmt[i] == ".":
                i += 1
                if after_index:  # "%[3].2d"
                    self.good_argnum = False
                argnum, i, after_index = self.arg_number(argnum, fmt, i, len(args))
                if i < end and fmt[i] == "*":
                    i += 1
                    self.prec, self.prec_ok, argnum = self.int_from_arg(args, argnum)
                    if self.prec < 0:
                        self.prec, self.prec_ok = 0, False
                    if not self.prec_ok:
                        buf.append("%!(BADPREC)")
                    after_index = False
                else:
                    self.prec, self.prec_ok, i = _parsenum(fmt, i, end)
                    if not self.prec_ok:
                        self.prec, self.prec_ok = 0, True
            if not after_index:
                argnum, i, after_index = self.arg_number(argnum, fmt, i, len(args))
            if i >= end:
                buf.append("%!(NOVERB)")
                break
            verb = fmt[i]
            i += 1
            if verb == "%":  # takes no operand and ignores width and precision
                buf.append("%")
            elif not self.good_argnum:
                buf.append("%!" + verb + "(BADINDEX)")
            elif argnum >= len(args):
                buf.append("%!" + verb + "(MISSING)")
            else:
                if verb == "v":
                    self.sharp_v, self.sharp = self.sharp, False
                    self.plus_v, self.plus = self.plus, False
                self.print_arg(args[argnum], verb)
                argnum += 1
        if not self.reordered and argnum < len(args):
            self.clear()
            buf.append("%!(EXTRA ")
            for k, a in enumerate(args[argnum:]):
                if k:
                    buf.append(", ")
                buf.append(_go_type(a) + "=")
                self.print_arg(a, "v")
            buf.append(")")
        return "".join(buf)

    def sprint(self, args: tuple[Value, ...], line: bool) -> str:
        prev_string = False
        for k, a in enumerate(args):
            is_string = type(a) is str
            # Sprint spaces operands when neither is a string; Sprintln always does.
            if k and (line or (not is_string and not prev_string)):
                self.buf.append(" ")
            self.clear()
            self.print_arg(a, "v")
            prev_string = is_string
        if line:
            self.buf.append("\n")
        return "".join(self.buf)


def _to_text(v: Value) -> str:
    """How an action prints its value (fmt.Fprint)."""
    t = type(v)
    if t is str:
        return v  # type: ignore[return-value]
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return str(v)
    p = _Printer()
    p.print_arg(v, "v")
    return "".join(p.buf)


# ------------------------------------------------------------- Go time ----

_MONTHS: Final = (
    "January", "February", "March", "April", "May", "June", "July",
    "August", "September", "October", "November", "December",
)
_DAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

# Layout tokens in the order Go's time.nextStdChunk tries them at each character.
_TZ_TOKENS: Final = ("070000", "07:00:00", "0700", "07:00", "07")


@functools.lru_cache(maxsize=128)
def _layout_chunks(layout: str) -> tuple[str | tuple[str, int], ...]:
    """Split a Go time layout into literal strings and (token, arg) pairs."""
    chunks: list[str | tuple[str, int]] = []
    lit_start = 0
    i = 0
    n = len(layout)

    def starts(s: str) -> bool:
        return layout.startswith(s, i)

    while i < n:
        c = layout[i]
        tok: str | None = None
        size = 0
        arg = 0
        if c == "J" and starts("Jan"):
            if starts("January"):
                tok, size = "January", 7
            elif not (i + 3 < n and "a" <= layout[i + 3] <= "z"):
                tok, size = "Jan", 3
        elif c == "M":
            if starts("Monday"):
                tok, size = "Monday", 6
            elif starts("Mon") and not (i + 3 < n and "a" <= layout[i + 3] <= "z"):
                tok, size = "Mon", 3
            elif starts("MST"):
                tok, size = "MST", 3
        elif c == "0":
            if i + 1 < n and "1" <= layout[i + 1] <= "6":
                tok, size = layout[i : i + 2], 2
            elif starts("002"):
                tok, size = "002", 3
        elif c == "1":
            tok, size = ("15", 2) if starts("15") else ("1", 1)
        elif c == "2":
            tok, size = ("2006", 4) if starts("2006") else ("2", 1)
        elif c == "_":
            if starts("_2") and not starts("_2006"):  # "_2006" is "_" then a year
                tok, size = "_2", 2
            elif starts("__2"):
                tok, size = "__2", 3
        elif c in "345":
            tok, size = c, 1
        elif c == "P" and starts("PM"):
            tok, size = "PM", 2
        elif c == "p" and starts("pm"):
            tok, size = "pm", 2
        elif c in "-Z":
            for t in _TZ_TOKENS:
                if layout.startswith(t, i + 1):
                    tok, size = c + t, len(t) + 1
                    break
        elif c in ".," and i + 1 < n and layout[i + 1] in "09":
            ch = layout[i + 1]
            j = i + 1
            while j < n and layout[j] == ch:
                j += 1
            if not (j < n and "0" <= layout[j] <= "9"):
                tok, size, arg = ("frac0" if ch == "0" else "frac9") + c, j - i, j - i - 1
        if tok is None:
            i += 1
            continue
        if i > lit_start:
            chunks.append(layout[lit_start:i])
        chunks.append((tok, arg))
        i += size
        lit_start = i
    if lit_start < n:
        chunks.append(layout[lit_start:])
    return tuple(chunks)


def _format_offset(tok: str, offset: int) -> str:
    if tok[0] == "Z" and offset == 0:
        return "Z"
    sign = "-" if offset < 0 else "+"
    offset = abs(offset)
    hh, mm, ss = offset // 3600, offset // 60 % 60, offset % 60
    colon = ":" in tok
    out = f"{sign}{hh:02d}"
    if tok[1:] != "07":
        out += (":" if colon else "") + f"{mm:02d}"
    if tok.endswith(("0000", ":00:00")):
        out += (":" if colon else "") + f"{ss:02d}"
    return out


def _go_time_format(dt: datetime, layout: str) -> str:
    """time.Time.Format with a Go reference-time layout."""
    out: list[str] = []
    offset_td = dt.utcoffset()
    offset = int(offset_td.total_seconds()) if offset_td is not None else 0
    for chunk in _layout_chunks(layout):
        if isinstance(chunk, str):
            out.append(chunk)
            continue
        tok, arg = chunk
        if tok == "2006":
            out.append(f"{dt.year:04d}")
        elif tok == "06":
            out.append(f"{dt.year % 100:02d}")
        elif tok == "January":
            out.append(_MONTHS[dt.month - 1])
        elif tok == "Jan":
            out.append(_MONTHS[dt.month - 1][:3])
        elif tok == "1":
            out.append(str(dt.month))
        elif tok == "01":
            out.append(f"{dt.month:02d}")
        elif tok == "Monday":
            out.append(_DAYS[dt.weekday()])
        elif tok == "Mon":
            out.append(_DAYS[dt.weekday()][:3])
        elif tok == "2":
            out.append(str(dt.day))
        elif tok == "_2":
            out.append(f"{dt.day:2d}")
        elif tok == "02":
            out.append(f"{dt.day:02d}")
        elif tok == "__2":
            out.append(f"{dt.timetuple().tm_yday:3d}")
        elif tok == "002":
            out.append(f"{dt.timetuple().tm_yday:03d}")
        elif tok == "15":
            out.append(f"{dt.hour:02d}")
        elif tok == "3" or tok == "03":
            h12 = dt.hour % 12 or 12
            out.append(str(h12) if tok == "3" else f"{h12:02d}")
        elif tok == "4":
            out.append(str(dt.minute))
        elif tok == "04":
            out.append(f"{dt.minute:02d}")
        elif tok == "5":
            out.append(str(dt.second))
        elif tok == "05":
            out.append(f"{dt.second:02d}")
        elif tok == "PM":
            out.append("PM" if dt.hour >= 12 else "AM")
        elif tok == "pm":
            out.append("pm" if dt.hour >= 12 else "am")
        elif tok == "MST":
            name = dt.tzname() or ""
            # datetime.timezone(offset) names itself "UTC+01:00"; Go prints an
            # unnamed fixed zone as "+0100".
            if isinstance(dt.tzinfo, timezone) and name.startswith("UTC") and name != "UTC":
                name = ""
            out.append(name or _format_offset("-0700", offset))
        elif tok[0] in "-Z":
            out.append(_format_offset(tok, offset))
        else:  # fractional seconds: frac0. / frac9. with arg digits
            nanos = f"{dt.microsecond * 1000:09d}"[: min(arg, 9)]
            if tok.startswith("frac9"):
                nanos = nanos.rstrip("0")
                if nanos:
                    out.append(tok[-1] + nanos)
            else:
                out.append(tok[-1] + nanos)
    return "".join(out)


# ----------------------------------------------------------- functions ----

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


def _fn_random(ctx: _Ctx, length: int) -> str:
    if length < 0:
        raise _FuncError(f"length must be >= 0 but was {length}")
    if length > _MAX_RANDOM:
        raise _FuncError(f"length must be <= {_MAX_RANDOM} but was {length}")
    out = b""
    while len(out) < length:
        batch = secrets.token_bytes(length + length // 4 + 1)
        out += batch.translate(_BASE62_TABLE, _BASE62_REJECT)
    return out[:length].decode("ascii")


def _fn_truncate(ctx: _Ctx, max_len: int, s: str) -> str:
    if max_len <= 0:
        raise _FuncError(f"max length must be > 0 but was {max_len}")
    return _utf8_prefix(s, max_len)


def _fn_truncate_sha256(ctx: _Ctx, max_len: int, s: str) -> str:
    if max_len <= 8:
        raise _FuncError(f"max length must be > 8 but was {max_len}")
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


def _fn_uppercase(ctx: _Ctx, s: str) -> str:
    return _simple_case(s, True)


def _fn_lowercase(ctx: _Ctx, s: str) -> str:
    return _simple_case(s, False)


def _fn_replace(ctx: _Ctx, find: str, repl: str, s: str) -> str:
    if find == "":
        # Go's ReplaceAll with an empty needle inserts at each rune boundary; so does Python's.
        return s.replace("", repl)
    return s.replace(find, repl)


def _fn_sha256(ctx: _Ctx, s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


def _fn_base64(ctx: _Ctx, s: str) -> str:
    return base64.b64encode(s.encode()).decode("ascii")


def _fn_decode_base64(ctx: _Ctx, s: str) -> str:
    # Go's StdEncoding skips CR and LF but is otherwise strict about the alphabet and padding.
    try:
        data = base64.b64decode(s.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        raise _FuncError("illegal base64 data") from None
    return data.decode("utf-8", "replace")


def _fn_hex(ctx: _Ctx, s: str) -> str:
    return s.encode().hex()


_HEX = re.compile(r"[0-9a-fA-F]*")


def _fn_decode_hex(ctx: _Ctx, s: str) -> str:
    if not _HEX.fullmatch(s):
        raise _FuncError("encoding/hex: invalid byte in hex string")
    if len(s) % 2:
        raise _FuncError("encoding/hex: odd length hex string")
    return bytes.fromhex(s).decode("utf-8", "replace")


def _fn_unix_time(ctx: _Ctx) -> str:
    return str((ctx.now() - _EPOCH) // timedelta(seconds=1))


def _fn_unix_time_millis(ctx: _Ctx) -> str:
    return str((ctx.now() - _EPOCH) // timedelta(milliseconds=1))


def _fn_timestamp(ctx: _Ctx, layout: str) -> str:
    return _go_time_format(ctx.now(), layout)


def _fn_uuid(ctx: _Ctx) -> str:
    h = secrets.token_hex(16)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _fn_glob(ctx: _Ctx, pattern: str, value: str) -> bool:
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


def _fn_eq(ctx: _Ctx, a: Value, *others: Value) -> bool:
    ka = _kind(a)
    for b in others:
        if _kind(b) != ka:
            raise _FuncError("incompatible types for comparison")
        if a == b:
            return True
    return False


def _fn_ne(ctx: _Ctx, a: Value, b: Value) -> bool:
    return not _fn_eq(ctx, a, b)


def _fn_lt(ctx: _Ctx, a: Value, b: Value) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka in ("bool", "struct") or kb in ("bool", "struct"):
        raise _FuncError("invalid type for comparison")
    if ka != kb:
        raise _FuncError("incompatible types for comparison")
    return a < b  # type: ignore[operator]


def _fn_le(ctx: _Ctx, a: Value, b: Value) -> bool:
    return _fn_lt(ctx, a, b) or _fn_eq(ctx, a, b)


def _fn_gt(ctx: _Ctx, a: Value, b: Value) -> bool:
    return not _fn_le(ctx, a, b)


def _fn_ge(ctx: _Ctx, a: Value, b: Value) -> bool:
    return not _fn_lt(ctx, a, b)


def _fn_not(ctx: _Ctx, a: Value) -> bool:
    return not a


def _fn_len(ctx: _Ctx, a: Value) -> int:
    if type(a) is str:
        assert isinstance(a, str)
        return len(a) if a.isascii() else len(a.encode())
    raise _FuncError(f"len of type {_go_type(a)}")


def _fn_print(ctx: _Ctx, *args: Value) -> str:
    return _Printer().sprint(args, False)


def _fn_println(ctx: _Ctx, *args: Value) -> str:
    return _Printer().sprint(args, True)


def _fn_printf(ctx: _Ctx, fmt: str, *args: Value) -> str:
    return _Printer().sprintf(fmt, args)


_ANY: Final = None
_NOVAR: Final = object()  # marks a function that is not variadic


class _Spec:
    """A function's signature: parameter types (None = any) and variadic tail type."""

    __slots__ = ("fn", "name", "params", "variadic")

    def __init__(
        self, name: str, fn: Callable[..., Value], params: tuple[type | None, ...], variadic: object
    ) -> None:
        self.name = name
        self.fn = fn
        self.params = params
        self.variadic = variadic


def _specs() -> dict[str, _Spec]:
    table: list[tuple[str, Callable[..., Value], tuple[type | None, ...], object]] = [
        # Go text/template builtins
        ("and", _fn_not, (_ANY,), _ANY),  # evaluated by _AndOr, fn unused
        ("or", _fn_not, (_ANY,), _ANY),
        ("not", _fn_not, (_ANY,), _NOVAR),
        ("len", _fn_len, (_ANY,), _NOVAR),
        ("eq", _fn_eq, (_ANY, _ANY), _ANY),
        ("ne", _fn_ne, (_ANY, _ANY), _NOVAR),
        ("lt", _fn_lt, (_ANY, _ANY), _NOVAR),
        ("le", _fn_le, (_ANY, _ANY), _NOVAR),
        ("gt", _fn_gt, (_ANY, _ANY), _NOVAR),
        ("ge", _fn_ge, (_ANY, _ANY), _NOVAR),
        ("print", _fn_print, (), _ANY),
        ("println", _fn_println, (), _ANY),
        ("printf", _fn_printf, (str,), _ANY),
        # Vault sdk/helper/template
        ("random", _fn_random, (int,), _NOVAR),
        ("truncate", _fn_truncate, (int, str), _NOVAR),
        ("truncate_sha256", _fn_truncate_sha256, (int, str), _NOVAR),
        ("uppercase", _fn_uppercase, (str,), _NOVAR),
        ("lowercase", _fn_lowercase, (str,), _NOVAR),
        ("replace", _fn_replace, (str, str, str), _NOVAR),
        ("sha256", _fn_sha256, (str,), _NOVAR),
        ("base64", _fn_base64, (str,), _NOVAR),
        ("unix_time", _fn_unix_time, (), _NOVAR),
        ("unix_time_millis", _fn_unix_time_millis, (), _NOVAR),
        ("timestamp", _fn_timestamp, (str,), _NOVAR),
        ("uuid", _fn_uuid, (), _NOVAR),
        # OpenBao additions
        ("decode_base64", _fn_decode_base64, (str,), _NOVAR),
        ("hex", _fn_hex, (str,), _NOVAR),
        ("decode_hex", _fn_decode_hex, (str,), _NOVAR),
        ("glob", _fn_glob, (str, str), _NOVAR),
    ]
    return {name: _Spec(name, fn, params, var) for name, fn, params, var in table}


_FUNCS: Final = _specs()
_GO_ONLY_FUNCS: Final = frozenset({"call", "html", "index", "js", "slice", "urlquery"})
_TYPE_NAMES: Final = {int: "int", str: "string", bool: "bool"}


# --------------------------------------------------------------- nodes ----
# Expression nodes have ev(ctx, dot, final) -> value; `final` is the piped-in
# value for a pipeline stage. Statement nodes have emit(ctx, dot, out).


class _Lit:
    __slots__ = ("pos", "src", "value")

    def __init__(self, value: Value, pos: int, src: str) -> None:
        self.value = value
        self.pos = pos
        self.src = src

    def ev(self, ctx: _Ctx, dot: Value, final: object = _MISSING) -> Value:
        return self.value


class _Dot:
    __slots__ = ("pos", "src")

    def __init__(self, pos: int) -> None:
        self.pos = pos
        self.src = "."

    def ev(self, ctx: _Ctx, dot: Value, final: object = _MISSING) -> Value:
        return dot


class _Field:
    __slots__ = ("get", "name", "pos", "src")

    def __init__(self, name: str, pos: int) -> None:
        self.name = name
        self.pos = pos
        self.src = "." + name
        self.get = attrgetter(_FIELDS[name])

    def ev(self, ctx: _Ctx, dot: Value, final: object = _MISSING) -> Value:
        if type(dot) is _Data:
            return self.get(dot)  # type: ignore[no-any-return]
        # Only reachable inside {{with}}, where dot is no longer the data object.
        raise TemplateError(f"can't evaluate field {self.name} in type {_go_type(dot)}", self.pos)


class _Pipe:
    __slots__ = ("first", "pos", "rest", "src")

    def __init__(self, cmds: list[_Expr], pos: int) -> None:
        self.first = cmds[0]
        self.rest = tuple(cmds[1:])
        self.pos = pos
        self.src = "(...)"

    def ev(self, ctx: _Ctx, dot: Value, final: object = _MISSING) -> Value:
        v = self.first.ev(ctx, dot)
        for cmd in self.rest:
            v = cmd.ev(ctx, dot, v)
        return v


class _Call:
    __slots__ = ("args", "checks", "fn", "name", "piped", "pos", "src")

    def __init__(
        self,
        spec: _Spec,
        args: list[_Expr],
        piped: bool,
        checks: tuple[tuple[int, type], ...],
        pos: int,
    ) -> None:
        self.name = spec.name
        self.fn = spec.fn
        self.args = tuple(args)
        self.piped = piped
        self.checks = checks  # (argument index, required type) verified at run time
        self.pos = pos
        self.src = spec.name

    def ev(self, ctx: _Ctx, dot: Value, final: object = _MISSING) -> Value:
        vals = [a.ev(ctx, dot) for a in self.args]
        if self.piped:
            vals.append(final)  # type: ignore[arg-type]
        for i, typ in self.checks:
            if type(vals[i]) is not typ:
                raise TemplateError(
                    f"wrong type for argument {i + 1} of {self.name}: "
                    f"expected {_TYPE_NAMES[typ]}; got {_go_type(vals[i])}",
                    self.pos,
                )
        try:
            return self.fn(ctx, *vals)
        except _FuncError as e:
            raise TemplateError(f"error calling {self.name}: {e}", self.pos) from None


class _AndOr:
    """and/or short-circuit: they return the first deciding operand, else the last."""

    __slots__ = ("args", "is_or", "piped", "pos", "src")

    def __init__(self, is_or: bool, args: list[_Expr], piped: bool, pos: int) -> None:
        self.is_or = is_or
        self.args = tuple(args)
        self.piped = piped
        self.pos = pos
        self.src = "or" if is_or else "and"

    def ev(self, ctx: _Ctx, dot: Value, final: object = _MISSING) -> Value:
        v: Value = False
        for a in self.args:
            v = a.ev(ctx, dot)
            if bool(v) is self.is_or:
                return v
        if self.piped:
            return final  # type: ignore[return-value]
        return v


_Expr = _Lit | _Dot | _Field | _Pipe | _Call | _AndOr


class _Text:
    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def emit(self, ctx: _Ctx, dot: Value, out: list[str]) -> None:
        out.append(self.text)


class _Action:
    __slots__ = ("pipe",)

    def __init__(self, pipe: _Pipe) -> None:
        self.pipe = pipe

    def emit(self, ctx: _Ctx, dot: Value, out: list[str]) -> None:
        v = self.pipe.ev(ctx, dot)
        out.append(v if type(v) is str else _to_text(v))  # type: ignore[arg-type]


class _Branch:
    """{{if}} and {{with}}; `with` also rebinds dot to the pipeline's value."""

    __slots__ = ("body", "is_with", "orelse", "pipe")

    def __init__(
        self, pipe: _Pipe, body: list[_Stmt], orelse: list[_Stmt] | None, is_with: bool
    ) -> None:
        self.pipe = pipe
        self.body = tuple(body)
        self.orelse = tuple(orelse or ())
        self.is_with = is_with

    def emit(self, ctx: _Ctx, dot: Value, out: list[str]) -> None:
        v = self.pipe.ev(ctx, dot)
        if v:  # Go truthiness: "", 0 and false are false; the data object is true
            inner = v if self.is_with else dot
            for node in self.body:
                node.emit(ctx, inner, out)
        else:
            for node in self.orelse:
                node.emit(ctx, dot, out)


_Stmt = _Text | _Action | _Branch


# --------------------------------------------------------------- lexer ----

(
    _T_TEXT, _T_LDELIM, _T_RDELIM, _T_SPACE, _T_IDENT, _T_FIELD, _T_DOT, _T_LIT,
    _T_PIPE, _T_LPAREN, _T_RPAREN, _T_KEYWORD, _T_EOF,
) = range(13)
_KEYWORDS: Final = frozenset(
    {"if", "else", "end", "with", "range", "define", "template", "block", "break",
     "continue", "nil"}
)
_SIMPLE_ESCAPES: Final = {
    "a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92,
}


class _Tok:
    __slots__ = ("kind", "pos", "text", "value")

    def __init__(self, kind: int, pos: int, text: str, value: Value = "") -> None:
        self.kind = kind
        self.pos = pos
        self.text = text  # source text, for messages
        self.value = value  # literal value, field name or identifier

    def describe(self) -> str:
        if self.kind == _T_EOF:
            return "end of template"
        return _go_quote(self.text)


def _rune_desc(ch: str) -> str:
    """Go's %#U: U+002D '-'."""
    return f"U+{ord(ch):04X} '{ch}'" if _is_print(ch) else f"U+{ord(ch):04X}"


def _is_alnum(ch: str) -> bool:
    return ch == "_" or ch.isalpha() or ch.isdecimal()


def _unescape(body: str, quote: str, pos: int) -> bytes:
    """Decode Go escape sequences in a quoted literal's body (without the quotes)."""
    if "\\" not in body:
        return body.encode("utf-8", "surrogatepass")
    out = bytearray()
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch != "\\":
            j = body.find("\\", i)
            j = n if j < 0 else j
            out += body[i:j].encode("utf-8", "surrogatepass")
            i = j
            continue
        e = body[i + 1] if i + 1 < n else ""
        if e in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[e])
            i += 2
        elif e == quote:
            out += e.encode()
            i += 2
        elif e and e in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i + 2 : i + 2 + width]
            if len(digits) != width or not _HEX.fullmatch(digits):
                raise TemplateError(f"invalid escape \\{e}{digits} in quoted literal", pos + 1 + i)
            v = int(digits, 16)
            if e == "x":
                out.append(v)
            elif v > 0x10FFFF or 0xD800 <= v <= 0xDFFF:
                raise TemplateError(f"invalid Unicode escape \\{e}{digits}", pos + 1 + i)
            else:
                out += chr(v).encode()
            i += 2 + width
        elif e and e in "01234567":
            digits = body[i + 1 : i + 4]
            if not re.fullmatch("[0-7]{3}", digits) or int(digits, 8) > 255:
                raise TemplateError(f"invalid octal escape \\{digits}", pos + 1 + i)
            out.append(int(digits, 8))
            i += 4
        else:
            raise TemplateError(f"invalid escape sequence \\{e} in quoted literal", pos + 1 + i)
    return bytes(out)


def _parse_number(text: str, pos: int) -> int:
    sign, digits = (-1, text[1:]) if text[:1] == "-" else (1, text.lstrip("+"))
    try:
        if re.fullmatch("0[0-7_]+", digits):  # Go: a leading 0 means octal
            v = int(digits, 8)
        else:
            v = int(digits, 0)
    except ValueError:
        is_hex = digits[:2] in ("0x", "0X")
        if re.search("[.pPi]" if is_hex else "[.eEpPi]", digits):
            raise TemplateError(f"only integer constants are supported, not {text}", pos) from None
        raise TemplateError(f"illegal number syntax: {_go_quote(text)}", pos) from None
    v *= sign
    if not -(2**63) <= v < 2**63:
        raise TemplateError(f"integer constant {text} overflows int", pos)
    return v


class _Lexer:
    """Splits a template into tokens the way Go's text/template/parse lexer does."""

    def __init__(self, src: str) -> None:
        self.src = src
        self.toks: list[_Tok] = []

    def at_right_delim(self, p: int) -> tuple[bool, bool]:
        """(at "}}", with a " -" trim marker before it)."""
        src = self.src
        if p < len(src) and src[p] in _SPACES and src.startswith("-}}", p + 1):
            return True, True
        return src.startswith("}}", p), False

    def skip_spaces(self, p: int) -> int:
        src, n = self.src, len(self.src)
        while p < n and src[p] in _SPACES:
            p += 1
        return p

    def at_terminator(self, p: int) -> bool:
        src = self.src
        return p >= len(src) or src[p] in " \t\r\n.,|:()" or src.startswith("}}", p)

    def run(self) -> list[_Tok]:
        src, n, toks = self.src, len(self.src), self.toks
        pos = 0
        while True:
            i = src.find("{{", pos)
            if i < 0:
                if pos < n:
                    toks.append(_Tok(_T_TEXT, pos, src[pos:]))
                break
            # "{{- " trims the whitespace before it; "{{-3" is the number -3.
            trim = i + 3 < n and src[i + 2] == "-" and src[i + 3] in _SPACES
            text = src[pos:i]
            if trim:
                text = text.rstrip(_SPACES)
            if text:
                toks.append(_Tok(_T_TEXT, pos, text))
            start = i + (4 if trim else 2)
            if src.startswith("/*", start):
                close = src.find("*/", start + 2)
                if close < 0:
                    raise TemplateError("unclosed comment", i)
                close += 2
                delim, rtrim = self.at_right_delim(close)
                if not delim:
                    raise TemplateError("comment ends before closing delimiter", close)
                pos = close + (4 if rtrim else 2)
                if rtrim:
                    pos = self.skip_spaces(pos)
                continue
            toks.append(_Tok(_T_LDELIM, i, "{{"))
            pos = self.action(i, start)
        toks.append(_Tok(_T_EOF, n, ""))
        return toks

    def action(self, open_pos: int, p: int) -> int:
        """Lex one action's inside from p; returns the offset after its "}}"."""
        src, n, toks = self.src, len(self.src), self.toks
        parens: list[int] = []
        while True:
            delim, rtrim = self.at_right_delim(p)
            if delim:
                if parens:
                    raise TemplateError("unclosed left paren", parens[-1])
                toks.append(_Tok(_T_RDELIM, p, "}}"))
                p += 4 if rtrim else 2
                return self.skip_spaces(p) if rtrim else p
            if p >= n:
                raise TemplateError("unclosed action", open_pos)
            c = src[p]
            if c in _SPACES:
                q = self.skip_spaces(p)
                if src.startswith("-}}", q):
                    # The last space belongs to the " -}}" trim marker.
                    q -= 1
                    if q == p:
                        continue
                toks.append(_Tok(_T_SPACE, p, src[p:q]))
                p = q
            elif c == "|":
                toks.append(_Tok(_T_PIPE, p, c))
                p += 1
            elif c == "(":
                parens.append(p)
                toks.append(_Tok(_T_LPAREN, p, c))
                p += 1
            elif c == ")":
                if not parens:
                    raise TemplateError("unexpected right paren", p)
                parens.pop()
                toks.append(_Tok(_T_RPAREN, p, c))
                p += 1
            elif c == '"':
                p = self.quoted(p)
            elif c == "`":
                close = src.find("`", p + 1)
                if close < 0:
                    raise TemplateError("unterminated raw quoted string", p)
                # Go drops carriage returns from raw strings.
                value = _clean(src[p + 1 : close].replace("\r", ""))
                toks.append(_Tok(_T_LIT, p, src[p : close + 1], value))
                p = close + 1
            elif c == "'":
                p = self.char(p)
            elif c == "." and not (p + 1 < n and "0" <= src[p + 1] <= "9"):
                p = self.field(p)
            elif c in "+-.0123456789":
                p = self.number(p)
            elif _is_alnum(c):
                p = self.word(p)
            elif c == "$":
                raise TemplateError("variables are not supported in username templates", p)
            elif c in ":=":
                raise TemplateError("variable assignment is not supported in username templates", p)
            elif c.isascii() and _is_print(c):
                raise TemplateError(f"unexpected {_go_quote(c)} in action", p)
            else:
                raise TemplateError(f"unrecognized character in action: {_rune_desc(c)}", p)

    def quoted(self, p: int) -> int:
        src, n = self.src, len(self.src)
        q = p + 1
        while True:
            if q >= n or src[q] == "\n":
                raise TemplateError("unterminated quoted string", p)
            c = src[q]
            if c == "\\":
                if q + 1 >= n or src[q + 1] == "\n":
                    raise TemplateError("unterminated quoted string", p)
                q += 2
                continue
            if c == '"':
                break
            q += 1
        raw = _unescape(src[p + 1 : q], '"', p)
        value = _clean(raw.decode("utf-8", "replace"))
        self.toks.append(_Tok(_T_LIT, p, src[p : q + 1], value))
        return q + 1

    def char(self, p: int) -> int:
        src, n = self.src, len(self.src)
        q = p + 1
        while True:
            if q >= n or src[q] == "\n":
                raise TemplateError("unterminated character constant", p)
            c = src[q]
            if c == "\\":
                if q + 1 >= n or src[q + 1] == "\n":
                    raise TemplateError("unterminated character constant", p)
                q += 2
                continue
            if c == "'":
                break
            q += 1
        body = src[p + 1 : q]
        text = src[p : q + 1]
        if body.startswith("\\"):
            raw = _unescape(body, "'", p)
            e = body[1]
            if e in "x01234567" and len(raw) == 1:
                value = raw[0]  # a byte escape in a rune literal is that code point
            else:
                decoded = raw.decode("utf-8", "replace")
                if len(decoded) != 1:
                    raise TemplateError(f"malformed character constant: {text}", p)
                value = ord(decoded)
        elif len(body) == 1:
            value = ord(body)
        else:
            raise TemplateError(f"malformed character constant: {text}", p)
        self.toks.append(_Tok(_T_LIT, p, text, value))
        return q + 1

    def field(self, p: int) -> int:
        src, n = self.src, len(self.src)
        if self.at_terminator(p + 1):
            self.toks.append(_Tok(_T_DOT, p, "."))
            return p + 1
        q = p + 1
        while q < n and _is_alnum(src[q]):
            q += 1
        if not self.at_terminator(q):
            raise TemplateError(f"bad character {_rune_desc(src[q])}", q)
        self.toks.append(_Tok(_T_FIELD, p, src[p:q], src[p + 1 : q]))
        return q

    def word(self, p: int) -> int:
        src, n = self.src, len(self.src)
        q = p
        while q < n and _is_alnum(src[q]):
            q += 1
        if not self.at_terminator(q):
            raise TemplateError(f"bad character {_rune_desc(src[q])}", q)
        word = src[p:q]
        if word in _KEYWORDS:
            self.toks.append(_Tok(_T_KEYWORD, p, word, word))
        elif word in ("true", "false"):
            self.toks.append(_Tok(_T_LIT, p, word, word == "true"))
        else:
            self.toks.append(_Tok(_T_IDENT, p, word, word))
        return q

    def number(self, p: int) -> int:
        src, n = self.src, len(self.src)
        q = p

        def accept(chars: str) -> bool:
            nonlocal q
            if q < n and src[q] in chars:
                q += 1
                return True
            return False

        def accept_run(chars: str) -> None:
            while accept(chars):
                pass

        # Same shape as Go's scanNumber, so "1.5", "1e3" and "0x1p4" are one token.
        accept("+-")
        digits = "0123456789_"
        if accept("0"):
            if accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif accept("oO"):
                digits = "01234567_"
            elif accept("bB"):
                digits = "01_"
        accept_run(digits)
        if accept("."):
            accept_run(digits)
        if len(digits) == 11 and accept("eE"):
            accept("+-")
            accept_run("0123456789_")
        if len(digits) == 23 and accept("pP"):
            accept("+-")
            accept_run("0123456789_")
        accept("i")
        if q < n and _is_alnum(src[q]):
            raise TemplateError(f"bad number syntax: {_go_quote(src[p : q + 1])}", p)
        text = src[p:q]
        self.toks.append(_Tok(_T_LIT, p, text, _parse_number(text, p)))
        return q


# -------------------------------------------------------------- parser ----


class _Stop:
    """An {{else}} or {{end}} that closes the enclosing list."""

    __slots__ = ("chained", "kind", "pos")

    def __init__(self, kind: str, pos: int, chained: _Tok | None = None) -> None:
        self.kind = kind  # "else", "end" or "eof"
        self.pos = pos
        self.chained = chained  # the "if"/"with" of "{{else if ...}}"


class _Ident:
    """A function name before it is known whether it heads a command or is an argument."""

    __slots__ = ("pos", "spec", "src")

    def __init__(self, spec: _Spec, pos: int) -> None:
        self.spec = spec
        self.pos = pos
        self.src = spec.name


_Operand = _Lit | _Dot | _Field | _Pipe | _Ident


class _Parser:
    """Recursive descent over the token list, following text/template/parse."""

    def __init__(self, toks: list[_Tok]) -> None:
        self.toks = toks
        self.i = 0
        self.depth = 0

    def next(self) -> _Tok:
        t = self.toks[self.i]
        if t.kind != _T_EOF:
            self.i += 1
        return t

    def backup(self) -> None:
        self.i -= 1

    def next_non_space(self) -> _Tok:
        t = self.next()
        while t.kind == _T_SPACE:
            t = self.next()
        return t

    def peek_non_space(self) -> _Tok:
        t = self.next_non_space()
        if t.kind != _T_EOF:
            self.backup()
        return t

    def enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise TemplateError("max expression depth exceeded", pos)

    def template(self) -> list[_Stmt]:
        nodes, stop = self.item_list()
        if stop.kind != "eof":
            raise TemplateError(f"unexpected {{{{{stop.kind}}}}}", stop.pos)
        return nodes

    def item_list(self) -> tuple[list[_Stmt], _Stop]:
        nodes: list[_Stmt] = []
        while True:
            t = self.next()
            if t.kind == _T_EOF:
                return nodes, _Stop("eof", t.pos)
            if t.kind == _T_TEXT:
                nodes.append(_Text(t.text))
                continue
            node = self.action()
            if isinstance(node, _Stop):
                return nodes, node
            nodes.append(node)

    def expect_rdelim(self, context: str) -> None:
        t = self.next_non_space()
        if t.kind != _T_RDELIM:
            raise TemplateError(f"unexpected {t.describe()} in {context}", t.pos)

    def action(self) -> _Stmt | _Stop:
        t = self.next_non_space()
        if t.kind == _T_KEYWORD:
            kw = t.text
            if kw in ("if", "with"):
                return self.control(t)
            if kw == "else":
                nxt = self.peek_non_space()
                if nxt.kind == _T_KEYWORD and nxt.text in ("if", "with"):
                    self.next_non_space()
                    return _Stop("else", t.pos, nxt)
                self.expect_rdelim("else")
                return _Stop("else", t.pos)
            if kw == "end":
                self.expect_rdelim("end")
                return _Stop("end", t.pos)
            if kw == "nil":
                raise TemplateError("nil is not a command", t.pos)
            raise TemplateError(f"{{{{{kw}}}}} is not supported in username templates", t.pos)
        self.backup()
        return _Action(self.pipeline("command", _T_RDELIM, t.pos))

    def control(self, kw: _Tok) -> _Branch:
        self.enter(kw.pos)
        context = kw.text
        pipe = self.pipeline(context, _T_RDELIM, kw.pos)
        body, stop = self.item_list()
        orelse: list[_Stmt] | None = None
        if stop.kind == "eof":
            raise TemplateError(f"unexpected end of template: {{{{{context}}}}} has no {{{{end}}}}", kw.pos)
        if stop.kind == "else":
            if stop.chained is not None:
                if stop.chained.text != context:
                    raise TemplateError(
                        f"{{{{else {stop.chained.text}}}}} is not allowed in {{{{{context}}}}}",
                        stop.chained.pos,
                    )
                # {{else if x}} is {{else}}{{if x}}...{{end}} sharing the outer {{end}}.
                orelse = [self.control(stop.chained)]
            else:
                orelse, stop = self.item_list()
                if stop.kind != "end":
                    found = "end of template" if stop.kind == "eof" else "{{else}}"
                    raise TemplateError(f"expected {{{{end}}}}; found {found}", stop.pos)
        self.depth -= 1
        return _Branch(pipe, body, orelse, context == "with")

    def pipeline(self, context: str, end: int, pos: int) -> _Pipe:
        stages: list[list[_Operand]] = []
        while True:
            t = self.next_non_space()
            if t.kind == end:
                if not stages:
                    raise TemplateError(f"missing value for {context}", t.pos)
                return self.build(stages, pos)
            if t.kind in (_T_IDENT, _T_FIELD, _T_DOT, _T_LIT, _T_LPAREN):
                self.backup()
                args, piped = self.command()
                stages.append(args)
                if piped and self.peek_non_space().kind == end:
                    raise TemplateError("missing command after |", t.pos)
                continue
            raise TemplateError(f"unexpected {t.describe()} in {context}", t.pos)

    def command(self) -> tuple[list[_Operand], bool]:
        args: list[_Operand] = []
        start = self.peek_non_space().pos
        while True:
            op = self.operand()
            if op is not None:
                args.append(op)
            t = self.next()
            if t.kind == _T_SPACE:
                continue
            if t.kind in (_T_RDELIM, _T_RPAREN):
                self.backup()
                piped = False
                break
            if t.kind == _T_PIPE:
                piped = True
                break
            raise TemplateError(f"unexpected {t.describe()} in operand", t.pos)
        if not args:
            raise TemplateError("empty command", start)
        return args, piped

    def operand(self) -> _Operand | None:
        node = self.term()
        if node is None:
            return None
        t = self.toks[self.i]
        if t.kind == _T_FIELD:
            if isinstance(node, _Field):
                raise TemplateError(f"can't evaluate field {t.value} in type string", t.pos)
            if isinstance(node, (_Lit, _Dot)):
                raise TemplateError(f"unexpected . after term {_go_quote(node.src)}", t.pos)
            raise TemplateError(f"can't evaluate field {t.value}: only .DisplayName and .RoleName exist", t.pos)
        return node

    def term(self) -> _Operand | None:
        t = self.next_non_space()
        k = t.kind
        if k == _T_IDENT:
            name = t.text
            spec = _FUNCS.get(name)
            if spec is None:
                if name in _GO_ONLY_FUNCS:
                    raise TemplateError(f'function "{name}" is not supported in username templates', t.pos)
                raise TemplateError(f'function "{name}" not defined', t.pos)
            return _Ident(spec, t.pos)
        if k == _T_LIT:
            return _Lit(t.value, t.pos, t.text)
        if k == _T_FIELD:
            if t.text[1:] not in _FIELDS:
                raise TemplateError(
                    f'unknown field "{t.text}": only .DisplayName and .RoleName are available',
                    t.pos,
                )
            return _Field(t.text[1:], t.pos)
        if k == _T_DOT:
            return _Dot(t.pos)
        if k == _T_LPAREN:
            self.enter(t.pos)
            pipe = self.pipeline("parenthesized pipeline", _T_RPAREN, t.pos)
            self.depth -= 1
            return pipe
        if k == _T_KEYWORD and t.text == "nil":
            raise TemplateError("nil is not supported in username templates", t.pos)
        if k != _T_EOF:
            self.backup()
        return None

    def build(self, stages: list[list[_Operand]], pos: int) -> _Pipe:
        """Turn parsed stages into executable commands, checking what Go checks late."""
        cmds: list[_Expr] = []
        for n, args in enumerate(stages):
            head = args[0]
            if isinstance(head, _Ident):
                cmds.append(self.call(head, args[1:], n > 0))
                continue
            if n > 0:
                raise TemplateError(f"non executable command in pipeline stage {n + 1}", head.pos)
            if len(args) > 1:
                raise TemplateError(f"can't give argument to non-function {head.src}", args[1].pos)
            cmds.append(head)
        return _Pipe(cmds, pos)

    def arg(self, op: _Operand) -> _Expr:
        # A bare function name as an argument is a call without arguments.
        return self.call(op, [], False) if isinstance(op, _Ident) else op

    def call(self, ident: _Ident, ops: list[_Operand], piped: bool) -> _Expr:
        spec = ident.spec
        nargs = len(ops) + piped
        nparams = len(spec.params)
        if spec.variadic is _NOVAR and nargs != nparams:
            raise TemplateError(
                f"wrong number of args for {spec.name}: want {nparams} got {nargs}", ident.pos
            )
        if spec.variadic is not _NOVAR and nargs < nparams:
            raise TemplateError(
                f"wrong number of args for {spec.name}: want at least {nparams} got {nargs}",
                ident.pos,
            )
        types: list[type | None] = list(spec.params[:nargs])
        types += [spec.variadic] * (nargs - len(types))  # type: ignore[list-item]
        checks: list[tuple[int, type]] = []
        for i, typ in enumerate(types):
            if typ is None:
                continue
            if i < len(ops) and isinstance(ops[i], _Lit):
                lit = ops[i]
                assert isinstance(lit, _Lit)
                if type(lit.value) is not typ:
                    raise TemplateError(
                        f"wrong type for argument {i + 1} of {spec.name}: "
                        f"expected {_TYPE_NAMES[typ]}; found {lit.src}",
                        lit.pos,
                    )
                continue
            checks.append((i, typ))
        args = [self.arg(op) for op in ops]
        if spec.name in ("and", "or"):
            return _AndOr(spec.name == "or", args, piped, ident.pos)
        return _Call(spec, args, piped, tuple(checks), ident.pos)


# ------------------------------------------------------------------ API ----


class UsernameTemplate:
    """A parsed username template; parse once, render for every new user."""

    __slots__ = ("_nodes", "source")

    source: str

    def __init__(self, source: str, nodes: list[_Stmt]) -> None:
        self.source = source
        self._nodes = tuple(nodes)

    @classmethod
    def parse(cls, source: str) -> UsernameTemplate:
        """Parse `source`; raises TemplateError (with `position`) if it is invalid."""
        if not isinstance(source, str):
            raise TemplateError("username template must be a string")
        if source == "":
            raise TemplateError("missing template")
        if len(source) >= MAX_TEMPLATE_SIZE:
            raise TemplateError(f"template too large ({len(source)} characters)")
        toks = _Lexer(_clean(source)).run()
        return cls(source, _Parser(toks).template())

    def render(self, display_name: str, role_name: str, *, now: datetime | None = None) -> str:
        """Render for one user; `now` freezes unix_time/unix_time_millis/timestamp."""
        if type(display_name) is not str or type(role_name) is not str:
            raise TypeError("display_name and role_name must be str")
        data = _Data(_clean(display_name), _clean(role_name))
        ctx = _Ctx(now)
        out: list[str] = []
        for node in self._nodes:
            node.emit(ctx, data, out)
        return "".join(out)

    def __repr__(self) -> str:
        return f"UsernameTemplate({self.source!r})"

