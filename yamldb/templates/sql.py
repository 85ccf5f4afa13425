"""SQL statement templates whose values can never escape their quoting.

A template is SQL text with `{{ name }}` / `{{ name | filter }}` placeholders.
It is lexed once, SQL-aware, with the dialect's `QuotingRules`, so every
placeholder knows the quote context it sits in (bare code, a string literal, a
quoted identifier, or the body of a `$tag$` string, whose body is lexed as SQL
again). Rendering escapes each value for exactly that context.

Security rules this module keeps (see tests/unit/test_sql_templates.py):

* The template, not the values, decides where statements end: it is split on
  top-level `;` before substitution, so a value cannot add a statement.
* A value is only ever written inside quotes whose closing character it cannot
  produce: quote characters are doubled, backslashes are doubled where they
  escape, a bare value is quoted as an identifier, and a `$tag$` string whose
  rendered body would contain its closing tag gets a fresh tag.
* Constructs where databases disagree on where a token ends (nested block
  comments, MySQL executable comments, a lone CR in a line comment, a number
  running into a quote or `$`, Oracle q'..' quoting, a bare placeholder glued to
  a neighbouring token) are rejected when the template is parsed rather than
  guessed at; so are placeholders inside comments and U&'..' literals. Where
  over-escaping is harmless we over-escape (an E'..' string's continuation
  segments keep backslash escapes).
* NUL is rejected in every value: PostgreSQL cannot store it and C drivers
  truncate at it.

Assumptions about the session, which the dialect's QuotingRules must match and
which the driver adapters (engine/drivers/) pin on every connection, whatever the
server, database, role or URL says: PostgreSQL runs with
standard_conforming_strings=on; MySQL/MariaDB connections use utf8mb4 (never
GBK/SJIS/Big5, whose multi-byte characters can swallow an escaping backslash) and
an sql_mode without NO_BACKSLASH_ESCAPES and ANSI_QUOTES.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from yamldb.errors import TemplateError
from yamldb.manifest.quoting import QuotingRules
from yamldb.templates.scram import scram_sha256_verifier

__all__ = ["FILTERS", "Placeholder", "StatementTemplate"]

FILTERS: frozenset[str] = frozenset({"ident", "literal", "upper", "lower", "scram_sha256"})
# Filters that emit a complete quoted token: they must come last and sit in bare code.
_QUOTING_FILTERS = frozenset({"ident", "literal"})

Context = Literal["bare", "string", "identifier", "dollar"]


@dataclass(frozen=True)
class Placeholder:
    """One `{{ name | filter ... }}` occurrence in a template."""

    name: str
    filters: tuple[str, ...]
    position: int  # 0-based offset of "{{" in the template text
    # Innermost quote context: "bare" code, inside a "string" literal, inside a
    # quoted "identifier", or bare code inside a $tag$ string's body ("dollar").
    context: Context


# --------------------------------------------------------------------------
# Compiled pieces. A statement is a tuple of parts: plain text (str), a _Hole
# (placeholder with its escaping precomputed) or a _Dollar (a $tag$ string
# whose body holds placeholders and may need a fresh tag once rendered).


class _Hole:
    __slots__ = ("_escape", "placeholder")

    def __init__(self, placeholder: Placeholder, escape: Callable[[str], str]) -> None:
        self.placeholder = placeholder
        self._escape = escape

    def render(self, values: Mapping[str, str]) -> str:
        name = self.placeholder.name
        if name not in values:
            raise TemplateError(f"no value for {{{{{name}}}}}", self.placeholder.position)
        value = values[name]
        if not isinstance(value, str):
            raise TemplateError(
                f"value for {{{{{name}}}}} must be a string, not {type(value).__name__}", self.placeholder.position
            )
        if "\x00" in value:
            raise TemplateError(f"value for {{{{{name}}}}} contains a NUL character", self.placeholder.position)
        return self._escape(value)


class _Dollar:
    __slots__ = ("body", "tag")

    def __init__(self, tag: str, body: tuple[_Part, ...]) -> None:
        self.tag = tag
        self.body = body

    def render(self, values: Mapping[str, str]) -> str:
        body = _render_parts(self.body, values)
        tag = self.tag
        if not _closes_at_end(body, tag):
            # The body now contains (or ends in a prefix of) its closing tag: the
            # server would end the string early. Pick a tag the body cannot end.
            n = 1
            tag = f"$yamldb_{n}$"
            while not _closes_at_end(body, tag):
                n += 1
                tag = f"$yamldb_{n}$"
        return f"{tag}{body}{tag}"


_Part = str | _Hole | _Dollar


def _closes_at_end(body: str, tag: str) -> bool:
    # The server ends a dollar string at the first occurrence of its tag after the
    # opening one, so the tag must first occur exactly where we put it.
    return (body + tag).find(tag) == len(body)


def _render_parts(parts: tuple[_Part, ...], values: Mapping[str, str]) -> str:
    return "".join(part if type(part) is str else part.render(values) for part in parts)  # type: ignore[union-attr]


# --------------------------------------------------------------------------
# Escaping helpers.

_CLOSERS = {"[": "]"}


def _closer(quote: str) -> str:
    return _CLOSERS.get(quote, quote)


def _quote_identifier(value: str, rules: QuotingRules) -> str:
    opener = rules.preferred_identifier_quote
    closer = _closer(opener)
    # SQLite ends [..] at the first ']' with no doubling; "]]" then makes the
    # statement fail to parse, which is still safe (nothing runs).
    return opener + value.replace(closer, closer + closer) + closer


def _quote_literal(value: str, rules: QuotingRules) -> str:
    if rules.backslash_escapes:
        value = value.replace("\\", "\\\\")
    return "'" + value.replace("'", "''") + "'"


def _string_escaper(quote: str, backslash: bool) -> Callable[[str], str]:
    doubled = quote + quote
    if backslash:
        return lambda v: v.replace("\\", "\\\\").replace(quote, doubled)
    return lambda v: v.replace(quote, doubled)


def _identifier_escaper(closer: str) -> Callable[[str], str]:
    doubled = closer + closer
    return lambda v: v.replace(closer, doubled)


_TRANSFORMS: dict[str, Callable[[str], str]] = {
    "upper": str.upper,
    "lower": str.lower,
    "scram_sha256": lambda v: scram_sha256_verifier(v),
}


def _chain(transforms: list[Callable[[str], str]], final: Callable[[str], str]) -> Callable[[str], str]:
    if not transforms:
        return final

    def escape(value: str) -> str:
        for transform in transforms:
            value = transform(value)
        return final(value)

    return escape


# --------------------------------------------------------------------------
# Lexer.

_PLACEHOLDER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# PostgreSQL dollar-quote delimiter: $$ or $tag$, the tag an identifier without '$'.
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_\u0080-\U0010ffff]*)?\$")

# BEGIN followed by one of these (or by ';' / the end) starts a transaction, not a block.
_BEGIN_NOT_BLOCK = frozenset(
    {
        "TRANSACTION",
        "WORK",
        "TRAN",
        "DEFERRED",
        "IMMEDIATE",
        "EXCLUSIVE",
        "ISOLATION",
        "READ",
        "DEFERRABLE",
        "DISTRIBUTED",
        "DIALOG",
        "CONVERSATION",
    }
)
# END followed by one of these closes an IF/LOOP/... (or a transaction), not a block.
_END_KEEPS_DEPTH = frozenset({"IF", "LOOP", "WHILE", "REPEAT", "FOR", "TRANSACTION", "WORK"})


_SQL_SPACE = " \t\n\r\f\v"  # what the databases skip as whitespace (not U+00A0 and friends)


def _is_word_char(c: str) -> bool:
    # Identifier characters as PostgreSQL and MySQL see them (any non-ASCII counts).
    return c.isalnum() or c == "_" or c == "$" or ord(c) >= 0x80


def _is_word_start(c: str, dollar_quoting: bool) -> bool:
    if c == "$":
        return not dollar_quoting  # with dollar quoting, '$' is handled on its own
    return _is_word_char(c)


class _Comment(str):
    """Comment text: kept in the output, but does not make a statement non-empty."""


_SPLIT = object()  # statement boundary marker in the lexer output


class _Lexer:
    def __init__(self, text: str, rules: QuotingRules) -> None:
        self.text = text
        self.rules = rules
        self.placeholders: list[Placeholder] = []
        self.string_quotes = frozenset(rules.string_quotes)
        # A character that opens a string is lexed as a string even if it is also
        # listed as an identifier quote: string escaping (doubling the quote and,
        # where they escape, backslashes) is the safe superset.
        self.identifier_quotes = frozenset(q for q in rules.identifier_quotes if q not in self.string_quotes)
        quote_chars = set(self.string_quotes) | set(self.identifier_quotes)
        quote_chars |= {_closer(q) for q in quote_chars}
        quote_chars |= {rules.preferred_identifier_quote, _closer(rules.preferred_identifier_quote), "'"}
        self.quote_chars = frozenset(quote_chars)

    # -- helpers ----------------------------------------------------------

    def _line_comment_at(self, i: int, end: int) -> bool:
        text = self.text
        if text.startswith("--", i) and i + 1 < end:
            if not self.rules.uses_mysql_comments:
                return True
            # MySQL/MariaDB: "--" starts a comment only before whitespace, a control character or the end.
            if i + 2 >= end:
                return True
            nxt = text[i + 2]
            return ord(nxt) <= 32 or ord(nxt) == 127  # ASCII space or control, as MySQL checks
        return text[i] == "#" and self.rules.uses_mysql_comments

    def _skip_line_comment(self, i: int, end: int) -> int:
        """Index just past the comment (before its newline); rejects placeholders and lone CRs."""
        text = self.text
        stop = text.find("\n", i, end)
        if stop < 0:
            stop = end
        body = text[i:stop]
        if "{{" in body:
            raise TemplateError("placeholder inside a comment", i + body.index("{{"))
        cr = body.find("\r")
        if cr >= 0 and cr != len(body) - 1:
            # PostgreSQL ends a line comment at CR, MySQL and SQLite only at LF:
            # the databases would disagree about what follows.
            raise TemplateError("carriage return inside a line comment (use LF or CRLF line endings)", i + cr)
        return stop

    def _skip_block_comment(self, i: int, end: int) -> int:
        text = self.text
        if self.rules.uses_mysql_comments and (text.startswith("/*!", i) or text.startswith("/*M!", i)):
            raise TemplateError("MySQL executable comments (/*! ... */) are not supported in templates", i)
        stop = text.find("*/", i + 2, end)
        if stop < 0:
            raise TemplateError("unterminated /* comment", i)
        body = text[i + 2 : stop]
        nested = body.find("/*")
        if nested >= 0:
            # PostgreSQL and SQL Server nest block comments, MySQL and SQLite do not.
            raise TemplateError("nested /* inside a block comment is ambiguous between databases", i + 2 + nested)
        if "{{" in body:
            raise TemplateError("placeholder inside a comment", i + 2 + body.index("{{"))
        return stop + 2

    def _next_token(self, i: int, end: int) -> tuple[str, int]:
        """The next word (upper-cased), ';', '' at the end, or another single character; and where it starts."""
        text = self.text
        while i < end:
            c = text[i]
            if c in _SQL_SPACE:
                i += 1
            elif self._line_comment_at(i, end):
                stop = text.find("\n", i, end)
                i = end if stop < 0 else stop
            elif text.startswith("/*", i):
                stop = text.find("*/", i + 2, end)
                i = end if stop < 0 else stop + 2
            elif _is_word_start(c, self.rules.dollar_quoting):
                j = i + 1
                while j < end and _is_word_char(text[j]):
                    j += 1
                return text[i:j].upper(), i
            else:
                return c, i
        return "", end

    # -- placeholders -------------------------------------------------------

    def _placeholder(
        self, i: int, end: int, context: Context, quote: str = "", backslash: bool = False
    ) -> tuple[_Hole, int]:
        text = self.text
        close = text.find("}}", i + 2, end)
        if close < 0:
            raise TemplateError("unterminated {{ (missing }})", i)
        inner = text[i + 2 : close]
        pieces = [p.strip() for p in inner.split("|")]
        name, filters = pieces[0], tuple(pieces[1:])
        if not _PLACEHOLDER_NAME.match(name) or not all(_PLACEHOLDER_NAME.match(f) for f in filters):
            raise TemplateError(
                f"invalid placeholder {{{{{inner}}}}}: expected {{{{ name }}}} or {{{{ name | filter }}}}", i
            )
        for f in filters:
            if f not in FILTERS:
                raise TemplateError(
                    f"unknown filter {f!r} in {{{{{inner}}}}}; known filters: {', '.join(sorted(FILTERS))}", i
                )
        bare = context in ("bare", "dollar")
        for index, f in enumerate(filters):
            if f in _QUOTING_FILTERS:
                if index != len(filters) - 1:
                    raise TemplateError(f"the {f!r} filter must be the last filter in {{{{{inner}}}}}", i)
                if not bare:
                    what = "identifier" if f == "ident" else "string literal"
                    raise TemplateError(
                        f"{{{{{inner}}}}} is inside a quoted {context}, but the {f!r} filter already emits a "
                        f"complete quoted {what}: drop the surrounding quotes",
                        i,
                    )
            if f == "scram_sha256" and context != "string" and "literal" not in filters[index + 1 :]:
                raise TemplateError(
                    f"{{{{{inner}}}}}: a SCRAM verifier is a string; put the placeholder inside '...' "
                    "or end it with | literal",
                    i,
                )
        end_of_placeholder = close + 2
        if bare:
            self._check_bare_neighbours(i, end_of_placeholder, inner)

        placeholder = Placeholder(name, filters, i, context)
        self.placeholders.append(placeholder)
        transforms = [_TRANSFORMS[f] for f in filters if f not in _QUOTING_FILTERS]
        rules = self.rules
        final: Callable[[str], str]
        if filters and filters[-1] == "literal":
            if "'" not in self.string_quotes:
                raise TemplateError(f"{{{{{inner}}}}}: this dialect has no '...' string literals", i)
            final = functools.partial(_quote_literal, rules=rules)
        elif bare:
            if rules.preferred_identifier_quote not in self.identifier_quotes:
                # Quoting with a character the server reads as something else would
                # escape the value for the wrong token.
                raise TemplateError(
                    f"{{{{{inner}}}}}: the dialect's preferred_identifier_quote "
                    f"{rules.preferred_identifier_quote!r} is not one of its identifier quotes",
                    i,
                )
            final = functools.partial(_quote_identifier, rules=rules)
        elif context == "string":
            final = _string_escaper(quote, backslash)
        else:
            final = _identifier_escaper(quote)
        return _Hole(placeholder, _chain(transforms, final)), end_of_placeholder

    def _check_bare_neighbours(self, start: int, stop: int, inner: str) -> None:
        # A bare placeholder emits a complete quoted token. Glued to a word it could
        # become a prefixed literal (E'..', U&"..", N'..', q'[..]'), glued to a quote
        # it would merge with the neighbouring quoted token.
        text = self.text
        if start > 0:
            before = text[start - 1]
            if _is_word_char(before) or before in self.quote_chars or before in "&}\\":
                raise TemplateError(
                    f"{{{{{inner}}}}} must be separated from the preceding {before!r} (add a space)", start
                )
        if stop < len(text):
            after = text[stop]
            if after in self.quote_chars or after == "{":
                raise TemplateError(
                    f"{{{{{inner}}}}} must be separated from the following {after!r} (add a space)", start
                )

    # -- quoted tokens ------------------------------------------------------

    def _quoted(
        self,
        i: int,
        end: int,
        prefix_len: int,
        closer: str,
        context: Context,
        backslash: bool,
        out: list,
        what: str,
        allow_placeholders: bool = True,
    ) -> int:
        """Lex a quoted token starting at i (prefix such as E or U& included); return the index after it."""
        text = self.text
        j = i + prefix_len + 1
        segment = i
        while True:
            if j >= end:
                raise TemplateError(f"unterminated {what}", i)
            c = text[j]
            if backslash and c == "\\":
                if text.startswith("{{", j + 1):
                    raise TemplateError("placeholder directly after an escaping backslash", j + 1)
                j += 2
                continue
            if c == closer:
                if j + 1 < end and text[j + 1] == closer:
                    j += 2
                    continue
                j += 1
                break
            if c == "{" and text.startswith("{{", j):
                if not allow_placeholders:
                    raise TemplateError(f"placeholders are not supported inside a {what}", j)
                out.append(text[segment:j])
                hole, j = self._placeholder(j, end, context, closer, backslash)
                out.append(hole)
                segment = j
                continue
            j += 1
        out.append(text[segment:j])
        return j

    def _continuations(self, i: int, end: int, out: list, backslash: bool, allow_placeholders: bool, what: str) -> int:
        """Lex PostgreSQL continuation segments of the string that ended at i.

        `E'a'<newline>'b'` is one E-string: the second segment keeps backslash
        escapes although it has no E. PostgreSQL requires a newline in the gap;
        we continue on any gap of whitespace and -- comments, which can only
        over-escape (and without a newline the server rejects the syntax anyway).
        """
        text = self.text
        while True:
            j = i
            while j < end:
                if text[j] in _SQL_SPACE:
                    j += 1
                elif text.startswith("--", j):
                    stop = text.find("\n", j, end)
                    j = end if stop < 0 else stop
                else:
                    break
            if text.startswith("{{", j):
                # {{x | literal}} here would render as a continuation segment that
                # the server reads with this string's escaping, not the one we used.
                raise TemplateError(f"placeholder right after a {what}: PostgreSQL may join it to that string", j)
            if j >= end or text[j] != "'":
                return i
            gap = text[i:j]
            if "{{" in gap:
                raise TemplateError("placeholder inside a comment", i + gap.index("{{"))
            out.append(gap)
            i = self._quoted(j, end, 0, "'", "string", backslash, out, what, allow_placeholders)

    def _dollar(self, i: int, end: int, tag: str, out: list) -> int:
        text = self.text
        body_start = i + len(tag)
        close = text.find(tag, body_start, end)
        if close < 0:
            raise TemplateError(f"unterminated dollar-quoted string {tag}", i)
        before = len(self.placeholders)
        body = self.lex(body_start, close, top=False)
        stop = close + len(tag)
        if len(self.placeholders) == before:
            out.append(text[i:stop])  # no placeholders: the body cannot change
        else:
            out.append(_Dollar(tag, _merge(p for p in body if p is not _SPLIT)))
        return stop

    # -- main loop ------------------------------------------------------------

    def lex(self, i: int, end: int, top: bool) -> list:
        """Lex SQL code in text[i:end]; at top level also mark statement boundaries."""
        text = self.text
        rules = self.rules
        out: list = []
        depth = 0  # BEGIN/CASE ... END nesting, top level only
        block_closed = False  # the last END brought depth back to 0 (a PL/SQL block ends here)
        ignore_word_at = -1  # the CASE of "END CASE"
        context: Context = "bare" if top else "dollar"
        segment = i  # start of pending plain code

        def flush(upto: int) -> None:
            if upto > segment:
                out.append(text[segment:upto])

        while i < end:
            c = text[i]
            if c == "{" and text.startswith("{{", i):
                flush(i)
                hole, i = self._placeholder(i, end, context)
                out.append(hole)
                segment = i
            elif (c == "-" or c == "#") and self._line_comment_at(i, end):
                flush(i)
                stop = self._skip_line_comment(i, end)
                out.append(_Comment(text[i:stop]))
                segment = i = stop
            elif c == "/" and text.startswith("/*", i):
                flush(i)
                stop = self._skip_block_comment(i, end)
                out.append(_Comment(text[i:stop]))
                segment = i = stop
            elif c in self.string_quotes:
                flush(i)
                segment = i = self._quoted(
                    i, end, 0, c, "string", rules.backslash_escapes, out, f"string literal {c}...{c}"
                )
            elif c in self.identifier_quotes:
                flush(i)
                closer = _closer(c)
                segment = i = self._quoted(
                    i, end, 0, closer, "identifier", False, out, f"quoted identifier {c}...{closer}"
                )
            elif c == "$" and rules.dollar_quoting:
                m = _DOLLAR_TAG.match(text, i, end)
                if m:
                    flush(i)
                    segment = i = self._dollar(i, end, m.group(), out)
                else:
                    i += 1
                    while i < end and text[i].isdigit():  # $1 parameter
                        i += 1
            elif _is_word_start(c, rules.dollar_quoting):
                j = i + 1
                while j < end and _is_word_char(text[j]):
                    j += 1
                word = text[i:j]
                nxt = text[j] if j < end else ""
                if rules.escape_string_prefix and word in ("E", "e") and nxt == "'" and "'" in self.string_quotes:
                    flush(i)
                    i = self._quoted(i, end, 1, "'", "string", True, out, "string literal E'...'")
                    segment = i = self._continuations(i, end, out, True, True, "string literal E'...'")
                    continue
                if rules.escape_string_prefix and word in ("U", "u") and text.startswith(("&'", '&"'), j):
                    # Unicode-escape literals: the value would be re-interpreted (and UESCAPE
                    # can make any character the escape), so they cannot hold placeholders.
                    flush(i)
                    quote = text[j + 1]
                    kind: Context = "string" if quote == "'" else "identifier"
                    i = self._quoted(
                        i, end, 2, quote, kind, False, out, f"U&{quote}...{quote} literal", allow_placeholders=False
                    )
                    if quote == "'":
                        i = self._continuations(i, end, out, False, False, "U&'...' literal")
                    segment = i
                    continue
                if nxt == "'" and word in ("q", "Q", "nq", "nQ", "Nq", "NQ"):
                    # Oracle q'[...]' strings end at a closing bracket plus quote, not at a quote.
                    raise TemplateError(f"{word}'...' alternative quoting is not supported (add a space?)", i)
                if c.isdigit() and (
                    nxt in self.quote_chars
                    or (rules.dollar_quoting and "$" in word)
                    or (rules.escape_string_prefix and nxt == "&")
                ):
                    # PostgreSQL splits e.g. 1E'x' into 1 and E'x' and 1$$x$$ into 1 and $$x$$;
                    # rather than mimic its number lexer, ask for a space.
                    raise TemplateError(f"number {word!r} runs into {nxt or '$'!r} (add a space)", i)
                if top and i != ignore_word_at:
                    upper = word.upper()
                    if upper == "BEGIN":
                        following, at = self._next_token(j, end)
                        if following == "NOT":  # MariaDB BEGIN NOT ATOMIC vs PostgreSQL BEGIN NOT DEFERRABLE
                            following = "" if self._next_token(at + 3, end)[0] == "DEFERRABLE" else "ATOMIC"
                        if following not in ("", ";") and following not in _BEGIN_NOT_BLOCK:
                            depth += 1
                    elif upper == "CASE":
                        depth += 1
                    elif upper == "END":
                        following, at = self._next_token(j, end)
                        if following not in _END_KEEPS_DEPTH:
                            block_closed = depth == 1
                            depth = max(depth - 1, 0)
                            if following == "CASE":
                                ignore_word_at = at
                i = j
            elif c == ";" and top and depth == 0:
                flush(i)
                if block_closed and rules.block_terminator:
                    out.append(";")  # PL/SQL needs "END;"; everything else is sent without the ';'
                block_closed = False
                out.append(_SPLIT)
                segment = i = i + 1
            else:
                i += 1
        flush(end)
        return out


def _merge(parts) -> tuple[_Part, ...]:
    """Join adjacent text pieces (comments become plain text)."""
    merged: list[_Part] = []
    for part in parts:
        if isinstance(part, str):
            if not part:
                continue
            if merged and type(merged[-1]) is str:
                merged[-1] = merged[-1] + str(part)  # type: ignore[operator]
            else:
                merged.append(str(part))
        else:
            merged.append(part)
    return tuple(merged)


def _statements(items: list) -> list[tuple[_Part, ...]]:
    """Cut lexer output at boundaries, dropping empty and comment-only statements."""
    statements: list[tuple[_Part, ...]] = []
    current: list = []

    def finish() -> None:
        significant = any(not isinstance(p, str) or (type(p) is str and p.strip(_SQL_SPACE)) for p in current)
        if significant:
            parts = list(_merge(current))
            # Strip template whitespace at the edges; values are never stripped. Only
            # ASCII whitespace: PostgreSQL and MySQL read e.g. U+00A0 as an identifier
            # character, and stripping it could turn "\u00a0$$" into a dollar quote.
            if type(parts[0]) is str:
                parts[0] = parts[0].lstrip(_SQL_SPACE)  # type: ignore[union-attr]
            if type(parts[-1]) is str:
                parts[-1] = parts[-1].rstrip(_SQL_SPACE)  # type: ignore[union-attr]
            statements.append(tuple(p for p in parts if p != ""))
        current.clear()

    for item in items:
        if item is _SPLIT:
            finish()
        else:
            current.append(item)
    finish()
    return statements


class StatementTemplate:
    """A parsed SQL template: one or more statements with escaped placeholders."""

    __slots__ = ("_statements", "placeholders", "text")

    def __init__(self, text: str, placeholders: tuple[Placeholder, ...], statements: list[tuple[_Part, ...]]) -> None:
        # Use StatementTemplate.parse(); this constructor trusts its arguments.
        self.text = text
        self.placeholders = placeholders
        self._statements = tuple(statements)

    @classmethod
    def parse(cls, text: str, rules: QuotingRules) -> StatementTemplate:
        """Lex `text` with the dialect's quoting rules; raises TemplateError with a position."""
        if not isinstance(text, str):
            raise TemplateError(f"a statement template must be a string, not {type(text).__name__}")
        if "\x00" in text:
            raise TemplateError("template contains a NUL character", text.index("\x00"))
        lexer = _Lexer(text, rules)
        items = lexer.lex(0, len(text), top=True)
        return cls(text, tuple(lexer.placeholders), _statements(items))

    @property
    def statement_count(self) -> int:
        """How many statements `render` returns."""
        return len(self._statements)

    def render(self, values: Mapping[str, str]) -> list[str]:
        """One SQL string per statement, every value escaped for its context."""
        return [_render_parts(parts, values) for parts in self._statements]

    def __repr__(self) -> str:
        return f"StatementTemplate({self.text!r})"
