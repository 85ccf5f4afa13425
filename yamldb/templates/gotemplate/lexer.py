"""Split a template into tokens the way Go's text/template/parse lexer does."""

from __future__ import annotations

import re
from typing import Final

from yamldb.errors import TemplateError
from yamldb.templates.gotemplate.fmt import go_quote, is_print
from yamldb.templates.gotemplate.values import Value, clean

__all__ = [
    "T_DOT",
    "T_EOF",
    "T_FIELD",
    "T_IDENT",
    "T_KEYWORD",
    "T_LDELIM",
    "T_LIT",
    "T_LPAREN",
    "T_PIPE",
    "T_RDELIM",
    "T_RPAREN",
    "T_SPACE",
    "T_TEXT",
    "Lexer",
    "Token",
]

SPACES: Final = " \t\r\n"
_HEX_DIGITS = re.compile(r"[0-9a-fA-F]*")

(
    T_TEXT,
    T_LDELIM,
    T_RDELIM,
    T_SPACE,
    T_IDENT,
    T_FIELD,
    T_DOT,
    T_LIT,
    T_PIPE,
    T_LPAREN,
    T_RPAREN,
    T_KEYWORD,
    T_EOF,
) = range(13)
_KEYWORDS: Final = frozenset(
    {"if", "else", "end", "with", "range", "define", "template", "block", "break", "continue", "nil"}
)
_SIMPLE_ESCAPES: Final = {
    "a": 7,
    "b": 8,
    "f": 12,
    "n": 10,
    "r": 13,
    "t": 9,
    "v": 11,
    "\\": 92,
}


class Token:
    __slots__ = ("kind", "pos", "text", "value")

    def __init__(self, kind: int, pos: int, text: str, value: Value = "") -> None:
        self.kind = kind
        self.pos = pos
        self.text = text  # source text, for messages
        self.value = value  # literal value, field name or identifier

    def describe(self) -> str:
        if self.kind == T_EOF:
            return "end of template"
        return go_quote(self.text)


def _rune_desc(ch: str) -> str:
    """Go's %#U: U+002D '-'."""
    return f"U+{ord(ch):04X} '{ch}'" if is_print(ch) else f"U+{ord(ch):04X}"


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
            if len(digits) != width or not _HEX_DIGITS.fullmatch(digits):
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
        raise TemplateError(f"illegal number syntax: {go_quote(text)}", pos) from None
    v *= sign
    if not -(2**63) <= v < 2**63:
        raise TemplateError(f"integer constant {text} overflows int", pos)
    return v


class Lexer:
    """Splits a template into tokens the way Go's text/template/parse lexer does."""

    def __init__(self, src: str) -> None:
        self.src = src
        self.toks: list[Token] = []

    def at_right_delim(self, p: int) -> tuple[bool, bool]:
        """(at "}}", with a " -" trim marker before it)."""
        src = self.src
        if p < len(src) and src[p] in SPACES and src.startswith("-}}", p + 1):
            return True, True
        return src.startswith("}}", p), False

    def skip_spaces(self, p: int) -> int:
        src, n = self.src, len(self.src)
        while p < n and src[p] in SPACES:
            p += 1
        return p

    def at_terminator(self, p: int) -> bool:
        src = self.src
        return p >= len(src) or src[p] in " \t\r\n.,|:()" or src.startswith("}}", p)

    def run(self) -> list[Token]:
        src, n, toks = self.src, len(self.src), self.toks
        pos = 0
        while True:
            i = src.find("{{", pos)
            if i < 0:
                if pos < n:
                    toks.append(Token(T_TEXT, pos, src[pos:]))
                break
            # "{{- " trims the whitespace before it; "{{-3" is the number -3.
            trim = i + 3 < n and src[i + 2] == "-" and src[i + 3] in SPACES
            text = src[pos:i]
            if trim:
                text = text.rstrip(SPACES)
            if text:
                toks.append(Token(T_TEXT, pos, text))
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
            toks.append(Token(T_LDELIM, i, "{{"))
            pos = self.action(i, start)
        toks.append(Token(T_EOF, n, ""))
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
                toks.append(Token(T_RDELIM, p, "}}"))
                p += 4 if rtrim else 2
                return self.skip_spaces(p) if rtrim else p
            if p >= n:
                raise TemplateError("unclosed action", open_pos)
            c = src[p]
            if c in SPACES:
                q = self.skip_spaces(p)
                if src.startswith("-}}", q):
                    # The last space belongs to the " -}}" trim marker.
                    q -= 1
                    if q == p:
                        continue
                toks.append(Token(T_SPACE, p, src[p:q]))
                p = q
            elif c == "|":
                toks.append(Token(T_PIPE, p, c))
                p += 1
            elif c == "(":
                parens.append(p)
                toks.append(Token(T_LPAREN, p, c))
                p += 1
            elif c == ")":
                if not parens:
                    raise TemplateError("unexpected right paren", p)
                parens.pop()
                toks.append(Token(T_RPAREN, p, c))
                p += 1
            elif c == '"':
                p = self.quoted(p)
            elif c == "`":
                close = src.find("`", p + 1)
                if close < 0:
                    raise TemplateError("unterminated raw quoted string", p)
                # Go drops carriage returns from raw strings.
                value = clean(src[p + 1 : close].replace("\r", ""))
                toks.append(Token(T_LIT, p, src[p : close + 1], value))
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
            elif c.isascii() and is_print(c):
                raise TemplateError(f"unexpected {go_quote(c)} in action", p)
            else:
                raise TemplateError(f"unrecognized character in action: {_rune_desc(c)}", p)

    def closing_quote(self, p: int, what: str) -> int:
        """The offset of the quote that closes the one at p, skipping escapes; one line at most."""
        src, n, quote = self.src, len(self.src), self.src[p]
        q = p + 1
        while True:
            if q >= n or src[q] == "\n":
                raise TemplateError(f"unterminated {what}", p)
            c = src[q]
            if c == "\\":
                if q + 1 >= n or src[q + 1] == "\n":
                    raise TemplateError(f"unterminated {what}", p)
                q += 2
                continue
            if c == quote:
                return q
            q += 1

    def quoted(self, p: int) -> int:
        src = self.src
        q = self.closing_quote(p, "quoted string")
        raw = _unescape(src[p + 1 : q], '"', p)
        value = clean(raw.decode("utf-8", "replace"))
        self.toks.append(Token(T_LIT, p, src[p : q + 1], value))
        return q + 1

    def char(self, p: int) -> int:
        src = self.src
        q = self.closing_quote(p, "character constant")
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
        self.toks.append(Token(T_LIT, p, text, value))
        return q + 1

    def field(self, p: int) -> int:
        src, n = self.src, len(self.src)
        if self.at_terminator(p + 1):
            self.toks.append(Token(T_DOT, p, "."))
            return p + 1
        q = p + 1
        while q < n and _is_alnum(src[q]):
            q += 1
        if not self.at_terminator(q):
            raise TemplateError(f"bad character {_rune_desc(src[q])}", q)
        self.toks.append(Token(T_FIELD, p, src[p:q], src[p + 1 : q]))
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
            self.toks.append(Token(T_KEYWORD, p, word, word))
        elif word in ("true", "false"):
            self.toks.append(Token(T_LIT, p, word, word == "true"))
        else:
            self.toks.append(Token(T_IDENT, p, word, word))
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
            raise TemplateError(f"bad number syntax: {go_quote(src[p : q + 1])}", p)
        text = src[p:q]
        self.toks.append(Token(T_LIT, p, text, _parse_number(text, p)))
        return q
