"""Go's fmt package, as far as template values (string, int, bool, the data object) reach it.

`Printer` ports fmt.pp/fmt.fmt: Sprintf with flags, width, precision, `*`, `[n]` and the verbs
v s d q x X o O b c U t T %, including Go's %!v(MISSING), %!(EXTRA ...) and %!d(string=x) texts.
"""

from __future__ import annotations

import re
import sys
from typing import Final

from yamldb.templates.gotemplate.values import DATA_TYPE, TOO_LARGE, Data, FuncError, Value, go_type

__all__ = ["Printer", "go_quote", "is_print", "largest_width", "to_text"]

_CTRL_ESCAPES: Final = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def is_print(ch: str) -> bool:
    # Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols and ASCII space,
    # which is what Python's isprintable() accepts too.
    return ch.isprintable()


def go_quote(s: str, quote: str = '"', ascii_only: bool = False) -> str:
    """strconv.Quote (or QuoteRune with quote="'")."""
    out = [quote]
    for ch in s:
        if ch == quote or ch == "\\":
            out.append("\\" + ch)
            continue
        o = ord(ch)
        if is_print(ch) and (o < 0x80 or not ascii_only):
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
    return not any((ch < " " and ch != "\t") or ch in "`\x7f\ufeff" for ch in s)


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


# A verb's flags, [n], width, precision: "%-[2]*.[1]5d" gives "" and "5".
_FORMAT_NUMBERS = re.compile(r"%%|%[-+# 0]*(?:\[[^\]]*\])?(?:\*|([0-9]*))(?:\.(?:\[[^\]]*\])?(?:\*|([0-9]*)))?")


def largest_width(fmt: str) -> int:
    """The largest width or precision written in a printf format, as Sprintf reads them."""
    largest = 0
    for match in _FORMAT_NUMBERS.finditer(fmt):
        for digits in match.groups():
            if digits:
                n, ok, _ = _parsenum(digits, 0, len(digits))
                largest = max(largest, n if ok else 0)
    return largest


class Printer:
    """A port of the parts of Go's fmt.pp / fmt.fmt that template values can reach."""

    __slots__ = (
        "buf",
        "good_argnum",
        "limit",
        "minus",
        "plus",
        "plus_v",
        "prec",
        "prec_ok",
        "reordered",
        "sharp",
        "sharp_v",
        "size",
        "space",
        "wid",
        "wid_ok",
        "zero",
    )

    def __init__(self, limit: int = sys.maxsize) -> None:
        self.buf: list[str] = []
        self.size = 0  # characters in buf
        self.limit = limit  # characters buf may hold; more raises FuncError before the allocation
        self.reordered = False
        self.good_argnum = True
        self.clear()

    def clear(self) -> None:
        self.plus = self.minus = self.sharp = self.space = self.zero = False
        self.plus_v = self.sharp_v = False
        self.wid = self.prec = 0
        self.wid_ok = self.prec_ok = False

    def reserve(self, n: int) -> None:
        """Refuse n more characters that the limit cannot hold, before they are made."""
        if self.size + n > self.limit:
            raise FuncError("result is " + TOO_LARGE)

    def put(self, s: str) -> None:
        self.reserve(len(s))
        self.size += len(s)
        self.buf.append(s)

    # -- padding and the per-type formatters (fmt/format.go) --

    def write_padding(self, n: int) -> None:
        if n > 0:
            self.reserve(n)
            self.put(("0" if self.zero else " ") * n)

    def pad(self, s: str) -> None:
        if not self.wid_ok or self.wid == 0:
            self.put(s)
            return
        width = self.wid - len(s)
        if width <= 0:
            self.put(s)
        elif self.minus:
            self.put(s)
            self.write_padding(width)
        else:
            self.write_padding(width)
            self.put(s)

    def truncate(self, s: str) -> str:
        return s[: self.prec] if self.prec_ok else s

    def fmt_s(self, s: str) -> None:
        self.pad(self.truncate(s))

    def fmt_q(self, s: str) -> None:
        s = self.truncate(s)
        if self.sharp and _can_backquote(s):
            self.pad("`" + s + "`")
        else:
            self.reserve(len(s) + 2)  # quoting only lengthens, up to tenfold
            self.pad(go_quote(s, '"', self.plus))

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
        self.reserve(width)
        if self.wid_ok and self.wid > width and not self.minus:
            self.write_padding(self.wid - width)
        prefix = "0X" if upper else "0x"
        hexes = [f"{b:02X}" if upper else f"{b:02x}" for b in data[:length]]
        if self.space:
            sep = " " + prefix if self.sharp else " "
            body = sep.join(hexes)
        else:
            body = "".join(hexes)
        self.put((prefix if self.sharp else "") + body)
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
            self.reserve(prec)
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
        self.reserve(prec)
        s = "U+" + format(u, "X").rjust(prec, "0")
        if self.sharp and u <= 0x10FFFF and is_print(chr(u)):
            s += " '" + chr(u) + "'"
        old, self.zero = self.zero, False
        self.pad(s)
        self.zero = old

    # -- dispatch on the argument's type (fmt/print.go printArg) --

    def bad_verb(self, verb: str, arg: Value) -> None:
        self.put("%!" + verb + "(" + go_type(arg) + "=")
        self.print_arg(arg, "v")
        self.put(")")

    def print_arg(self, arg: Value, verb: str) -> None:
        if verb == "T":
            self.fmt_s(go_type(arg))
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
                self.pad(go_quote(_rune(arg), "'", self.plus))
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
            assert isinstance(arg, Data)
            if verb == "p":
                self.bad_verb(verb, arg)
                return
            # A struct prints each field with the same verb: {display role}.
            if self.sharp_v:
                self.put(DATA_TYPE)
            self.put("{")
            named = self.plus_v or self.sharp_v
            for i, (name, val) in enumerate((("DisplayName", arg.display_name), ("RoleName", arg.role_name))):
                if i:
                    self.put(", " if self.sharp_v else " ")
                if named:
                    self.put(name + ":")
                self.print_arg(val, verb)
            self.put("}")

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
        put = self.put
        end = len(fmt)
        argnum = 0
        after_index = False
        self.reordered = False
        i = 0
        while i < end:
            self.good_argnum = True
            j = fmt.find("%", i)
            if j < 0:
                put(fmt[i:])
                break
            if j > i:
                put(fmt[i:j])
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
                        put(arg)  # type: ignore[arg-type]
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
                    put("%!(BADWIDTH)")
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
                        put("%!(BADPREC)")
                    after_index = False
                else:
                    self.prec, self.prec_ok, i = _parsenum(fmt, i, end)
                    if not self.prec_ok:
                        self.prec, self.prec_ok = 0, True
            if not after_index:
                argnum, i, after_index = self.arg_number(argnum, fmt, i, len(args))
            if i >= end:
                put("%!(NOVERB)")
                break
            verb = fmt[i]
            i += 1
            if verb == "%":  # takes no operand and ignores width and precision
                put("%")
            elif not self.good_argnum:
                put("%!" + verb + "(BADINDEX)")
            elif argnum >= len(args):
                put("%!" + verb + "(MISSING)")
            else:
                if verb == "v":
                    self.sharp_v, self.sharp = self.sharp, False
                    self.plus_v, self.plus = self.plus, False
                self.print_arg(args[argnum], verb)
                argnum += 1
        if not self.reordered and argnum < len(args):
            self.clear()
            put("%!(EXTRA ")
            for k, a in enumerate(args[argnum:]):
                if k:
                    put(", ")
                put(go_type(a) + "=")
                self.print_arg(a, "v")
            put(")")
        return "".join(self.buf)

    def sprint(self, args: tuple[Value, ...], line: bool) -> str:
        prev_string = False
        for k, a in enumerate(args):
            is_string = type(a) is str
            # Sprint spaces operands when neither is a string; Sprintln always does.
            if k and (line or (not is_string and not prev_string)):
                self.put(" ")
            self.clear()
            self.print_arg(a, "v")
            prev_string = is_string
        if line:
            self.put("\n")
        return "".join(self.buf)


def to_text(v: Value) -> str:
    """How an action prints its value (fmt.Fprint)."""
    t = type(v)
    if t is str:
        return v  # type: ignore[return-value]
    if t is bool:
        return "true" if v else "false"
    if t is int:
        return str(v)
    p = Printer()
    p.print_arg(v, "v")
    return "".join(p.buf)
