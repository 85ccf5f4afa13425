"""Recognise the usernames a username template could have produced (for `yamldb sweep`).

The parsed template is read, never rendered: each node becomes a *shape*, a small
regular-language description of everything it can output (literal text, `random 20`
as 20 base62 characters, `.DisplayName | truncate 8` as up to 8 arbitrary characters,
`unix_time` as a clock reading, the final `truncate N` as "the whole output, or its
first N characters"). `match(name)` then decides whether the name is one of those
outputs and, when the template printed `unix_time`/`unix_time_millis` in full, reads
the time it was rendered.

Conservative by construction:

* a template function whose output cannot be described exactly (if/with branches,
  `timestamp`, `base64` of a field, `replace` of several characters, ...) makes
  `UsernameMatcher.parse` raise TemplateError instead of guessing;
* a template without `random` (8+ characters) or `uuid` is refused: nothing in such a
  name tells a generated user from one a person made;
* names with non-ASCII characters never match (they are rare in Vault display names
  and case mapping/truncation of them are not modelled);
* when a name can be read in several ways, its creation time is the latest reading,
  and unknown as soon as one reading has none (e.g. the clock was cut off).
"""

from __future__ import annotations

import re
import string
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

from yamldb.errors import TemplateError
from yamldb.manifest.patterns import fullmatch
from yamldb.templates.gotemplate import UsernameTemplate
from yamldb.templates.gotemplate import nodes as n

__all__ = ["NameMatch", "UsernameMatcher"]

_ASCII: Final = frozenset(range(128))
_DIGITS: Final = frozenset(string.digits.encode())
_HEX: Final = frozenset(b"0123456789abcdef")
_BASE62: Final = frozenset((string.ascii_letters + string.digits).encode())
_LOWER: Final = frozenset(string.ascii_lowercase.encode())
_UPPER: Final = frozenset(string.ascii_uppercase.encode())
_MIN_RANDOM: Final = 8
# unix_time prints 10 digits from 2001-09-09 until 2286; a reading before this is not a Vault user's.
_EARLIEST: Final = 1_500_000_000  # 2017-07-14, before username templates existed (Vault 1.7, 2021)
_CLOCK_DIGITS: Final = {"s": 10, "ms": 13}


# ----------------------------------------------------------------- shapes ----
# A shape describes a set of ASCII strings. They are immutable and hashable so the
# matcher can memoise on them.


@dataclass(frozen=True)
class _Lit:
    text: bytes


@dataclass(frozen=True)
class _Chars:
    """lo..hi characters (hi None: unbounded), each one of `allowed`."""

    allowed: frozenset[int]
    lo: int
    hi: int | None
    label: str = field(default="", compare=False)


@dataclass(frozen=True)
class _Clock:
    """unix_time (unit "s") or unix_time_millis ("ms"): a fixed number of digits."""

    unit: str


@dataclass(frozen=True)
class _Seq:
    parts: tuple[_Shape, ...]


@dataclass(frozen=True)
class _Trunc:
    """`truncate n`: the whole output if it has at most n characters, else its first n."""

    inner: _Shape
    n: int


_Shape = _Lit | _Chars | _Clock | _Seq | _Trunc


def _seq(parts: Iterable[_Shape]) -> _Shape:
    flat: list[_Shape] = []
    for part in parts:
        items = part.parts if isinstance(part, _Seq) else (part,)
        for item in items:
            if isinstance(item, _Lit) and not item.text:
                continue
            if isinstance(item, _Lit) and flat and isinstance(flat[-1], _Lit):
                flat[-1] = _Lit(flat[-1].text + item.text)  # type: ignore[union-attr]
            else:
                flat.append(item)
    if len(flat) == 1:
        return flat[0]
    return _Seq(tuple(flat))


def _max_len(shape: _Shape) -> int | None:
    if isinstance(shape, _Lit):
        return len(shape.text)
    if isinstance(shape, _Chars):
        return shape.hi
    if isinstance(shape, _Clock):
        return _CLOCK_DIGITS[shape.unit]
    if isinstance(shape, _Trunc):
        inner = _max_len(shape.inner)
        return shape.n if inner is None else min(inner, shape.n)
    total = 0
    for part in shape.parts:
        n = _max_len(part)
        if n is None:
            return None
        total += n
    return total


def _map_chars(shape: _Shape, fn: Callable[[int], int]) -> _Shape:
    """Apply a one-to-one-per-character mapping (case, single-character replace) to a shape."""
    if isinstance(shape, _Lit):
        return _Lit(bytes(fn(b) for b in shape.text))
    if isinstance(shape, _Chars):
        return _Chars(frozenset(fn(b) for b in shape.allowed), shape.lo, shape.hi, shape.label)
    if isinstance(shape, _Clock):
        if any(fn(b) != b for b in _DIGITS):
            raise TemplateError("a replace that changes digits of unix_time cannot be matched")
        return shape
    if isinstance(shape, _Trunc):
        return _Trunc(_map_chars(shape.inner, fn), shape.n)
    return _seq(_map_chars(p, fn) for p in shape.parts)


def _case(upper: bool) -> Callable[[int], int]:
    source, target = (_LOWER, -32) if upper else (_UPPER, 32)
    return lambda b: b + target if b in source else b


def _describe(shape: _Shape) -> str:
    if isinstance(shape, _Lit):
        return shape.text.decode()
    if isinstance(shape, _Chars):
        count = f"{shape.lo}" if shape.lo == shape.hi else f"{shape.lo}..{'' if shape.hi is None else shape.hi}"
        return f"{{{shape.label or 'chars'}:{count}}}"
    if isinstance(shape, _Clock):
        return "{unix_time}" if shape.unit == "s" else "{unix_time_millis}"
    if isinstance(shape, _Trunc):
        return f"({_describe(shape.inner)})[:{shape.n}]"
    return "".join(_describe(p) for p in shape.parts)


# ------------------------------------------------------- template → shape ----


class _Int:
    __slots__ = ("value",)

    def __init__(self, value: int) -> None:
        self.value = value


_Value = _Shape | _Int


class _Reader:
    def __init__(self) -> None:
        self.random_chars = 0

    def refuse(self, what: str, node: object | None = None) -> TemplateError:
        return TemplateError(
            f"the sweep cannot tell which names {what} produces, so it would over-match; "
            "use a template of literal text, .DisplayName/.RoleName, printf, truncate, random, "
            "uuid, sha256, unix_time, uppercase/lowercase and one-character replace",
            getattr(node, "pos", None),
        )

    def statements(self, nodes: Iterable[n.Stmt]) -> _Shape:
        parts: list[_Shape] = []
        for node in nodes:
            if isinstance(node, n.Text):
                parts.append(_Lit(_ascii(node.text, node)))
            elif isinstance(node, n.Action):
                parts.append(self.string(self.expr(node.pipe), node.pipe))
            else:
                raise self.refuse("{{if}}/{{with}}", node.pipe)
        return _seq(parts)

    def string(self, value: _Value, node: object) -> _Shape:
        if isinstance(value, _Int):
            return _Lit(str(value.value).encode())
        return value

    def expr(self, node: n.Expr, piped: _Value | None = None) -> _Value:
        if isinstance(node, n.Pipe):
            value = self.expr(node.first)
            for cmd in node.rest:
                value = self.expr(cmd, value)
            return value
        if isinstance(node, n.Lit):
            value = node.value
            if isinstance(value, bool):
                raise self.refuse("a boolean", node)
            if isinstance(value, int):
                return _Int(value)
            if not isinstance(value, str):
                raise self.refuse(f"`{node.src}`", node)
            return _Lit(_ascii(value, node))
        if isinstance(node, n.Field):
            return _Chars(_ASCII, 0, None, "." + node.name)
        if isinstance(node, n.Call):
            args = [self.expr(a) for a in node.args]
            if node.piped:
                assert piped is not None
                args.append(piped)
            return self.call(node.name, args, node)
        raise self.refuse(f"`{node.src}`", node)

    def call(self, name: str, args: list[_Value], node: object) -> _Value:
        def text(i: int) -> _Shape:
            if isinstance(args[i], _Int):
                raise self.refuse(f"{name} of a number", node)
            return args[i]  # type: ignore[return-value]

        def const(i: int) -> str:
            value = args[i]
            if not isinstance(value, _Lit):
                raise self.refuse(f"{name} with an argument that is not a literal", node)
            return value.text.decode()

        def number(i: int) -> int:
            value = args[i]
            if not isinstance(value, _Int):
                raise self.refuse(f"{name} with a count that is not a literal", node)
            return value.value

        if name == "random":
            n = number(0)
            self.random_chars = max(self.random_chars, n)
            return _Chars(_BASE62, n, n, "base62")
        if name == "uuid":
            self.random_chars = max(self.random_chars, 32)
            hexes = [_Chars(_HEX, n, n, "hex") for n in (8, 4, 4, 4, 12)]
            return _seq(
                [hexes[0], _Lit(b"-"), hexes[1], _Lit(b"-"), hexes[2], _Lit(b"-"), hexes[3], _Lit(b"-"), hexes[4]]
            )
        if name in ("unix_time", "unix_time_millis"):
            return _Clock("s" if name == "unix_time" else "ms")
        if name == "truncate":
            n, value = number(0), text(1)
            if n <= 0:
                raise self.refuse("truncate with a length below 1", node)
            return _truncate(value, n)
        if name == "sha256":
            return _Chars(_HEX, 64, 64, "sha256")
        if name in ("uppercase", "lowercase"):
            return _map_chars(text(0), _case(name == "uppercase"))
        if name == "replace":
            old, new, value = const(0), const(1), text(2)
            if isinstance(value, _Lit):
                return _Lit(value.text.replace(old.encode(), new.encode()))
            if len(old) != 1 or len(new) != 1:
                raise self.refuse("replace of anything but one character by one character", node)
            a, b = ord(old), ord(new)
            return _map_chars(value, lambda c: b if c == a else c)
        if name == "printf":
            return self.printf(const(0), args[1:], node)
        if name == "print":
            if any(isinstance(a, _Int) for a in args):
                raise self.refuse("print of numbers", node)
            return _seq(args)  # type: ignore[arg-type]
        raise self.refuse(f"`{name}`", node)

    def printf(self, fmt: str, args: list[_Value], node: object) -> _Shape:
        parts: list[_Shape] = []
        used = 0
        for piece in re.split(r"(%.)", fmt):
            if not piece.startswith("%") or len(piece) != 2:
                parts.append(_Lit(piece.encode()))
                continue
            verb = piece[1]
            if verb == "%":
                parts.append(_Lit(b"%"))
                continue
            if used >= len(args) or verb not in "sdv":
                raise self.refuse(f"printf {fmt!r} (only %s, %d, %v and %% without flags)", node)
            arg = args[used]
            used += 1
            if (verb == "d") != isinstance(arg, _Int) and verb != "v":
                raise self.refuse(f"printf {fmt!r} with %{verb} of the wrong type", node)
            parts.append(self.string(arg, node))
        if used != len(args):
            raise self.refuse(f"printf {fmt!r} with {len(args)} arguments", node)
        return _seq(parts)


def _ascii(text: str, node: object) -> bytes:
    if not text.isascii():
        raise TemplateError(
            "the sweep only recognises ASCII usernames; the template has non-ASCII text", getattr(node, "pos", None)
        )
    return text.encode()


def _truncate(value: _Shape, n: int) -> _Shape:
    if isinstance(value, _Lit):
        return _Lit(value.text[:n])
    if isinstance(value, _Chars):
        return _Chars(value.allowed, min(value.lo, n), n if value.hi is None else min(value.hi, n), value.label)
    longest = _max_len(value)
    if longest is not None and longest <= n:
        return value
    return _Trunc(value, n)


# ------------------------------------------------------------------ match ----


@dataclass(frozen=True)
class NameMatch:
    """A name the template could have produced; `created` is when it was rendered, if the name says."""

    name: str
    created: float | None


_UNKNOWN: Final = -1.0  # a reading in which no clock was seen in full


class UsernameMatcher:
    """The names one username template (plus the manifest's username rules) can produce."""

    def __init__(
        self,
        shape: _Shape,
        source: str,
        max_length: int = 0,
        allowed_characters: str | None = None,
        case: str = "preserve",
    ) -> None:
        self._shape = shape
        self.source = source
        self.max_length = max_length
        # The same linear-time engine generate_username checks allowed_characters with.
        self._allowed = f"(?:{allowed_characters})*" if allowed_characters else None
        self._case = case
        self.has_clock = _has_clock(shape)

    @classmethod
    def parse(
        cls,
        template: UsernameTemplate | str,
        *,
        max_length: int = 0,
        case: str = "preserve",
        allowed_characters: str | None = None,
    ) -> UsernameMatcher:
        """Build the matcher; TemplateError if the template's names cannot be bounded exactly."""
        if isinstance(template, str):
            template = UsernameTemplate.parse(template)
        reader = _Reader()
        shape = reader.statements(template.nodes)
        if reader.random_chars < _MIN_RANDOM:
            raise TemplateError(
                f"the template has no random part of {_MIN_RANDOM} or more characters "
                "(random N or uuid): its names cannot be told from names a person chose"
            )
        if case in ("upper", "lower"):  # generate_username applies the manifest's case after the template
            shape = _map_chars(shape, _case(case == "upper"))
        return cls(shape, template.source, max_length, allowed_characters, case)

    def describe(self) -> str:
        """The shape in words, e.g. `v-{.DisplayName:0..8}-...-{base62:20}-{unix_time}`."""
        return _describe(self._shape)

    def match(self, name: str, now: float | None = None) -> NameMatch | None:
        """The match if the template could have produced `name`, else None."""
        if not name.isascii():
            return None
        data = name.encode()
        if self.max_length and len(data) > self.max_length:
            return None
        longest = _max_len(self._shape)
        if longest is not None and len(data) > longest:
            return None
        if self._allowed is not None and not fullmatch(self._allowed, name):
            return None
        readings = _Matcher(data, (now or time.time()) + 86400).full(self._shape, 0).get(len(data))
        if not readings:
            return None
        created: float | None
        if not self.has_clock or _UNKNOWN in readings:
            created = None
        else:
            created = max(readings)
        return NameMatch(name, created)

    def __repr__(self) -> str:
        return f"UsernameMatcher({self.describe()!r})"


def _has_clock(shape: _Shape) -> bool:
    if isinstance(shape, _Clock):
        return True
    if isinstance(shape, _Trunc):
        return _has_clock(shape.inner)
    if isinstance(shape, _Seq):
        return any(_has_clock(p) for p in shape.parts)
    return False


def _join(a: frozenset[float], b: frozenset[float]) -> frozenset[float]:
    # Both halves of one reading: the later clock (two unix_time calls print the same instant).
    return frozenset(max(x, y) for x in a for y in b)


_NONE: Final = frozenset({_UNKNOWN})


class _Matcher:
    """Dynamic programming over (shape, position): which ends are reachable, with which clock readings."""

    def __init__(self, data: bytes, latest: float) -> None:
        self.data = data
        self.latest = latest
        # Memos keyed by the shape's id: shapes outlive the match, and hashing nested dataclasses is slow.
        self._full_memo: dict[tuple[int, int], dict[int, frozenset[float]]] = {}
        self._prefix_memo: dict[tuple[int, int, int], frozenset[float]] = {}

    def full(self, shape: _Shape, pos: int) -> dict[int, frozenset[float]]:
        key = (id(shape), pos)
        found = self._full_memo.get(key)
        if found is None:
            found = self._full_memo[key] = self._full(shape, pos)
        return found

    def prefix(self, shape: _Shape, pos: int, end: int) -> frozenset[float]:
        key = (id(shape), pos, end)
        found = self._prefix_memo.get(key)
        if found is None:
            found = self._prefix_memo[key] = self._prefix(shape, pos, end)
        return found

    def _clock(self, unit: str, pos: int, end: int) -> float | None:
        digits = self.data[pos:end]
        if len(digits) != _CLOCK_DIGITS[unit] or not all(b in _DIGITS for b in digits):
            return None
        seconds = int(digits) / (1000 if unit == "ms" else 1)
        return seconds if _EARLIEST <= seconds <= self.latest else None

    def _full(self, shape: _Shape, pos: int) -> dict[int, frozenset[float]]:
        """end -> readings, for every way `shape` can produce data[pos:end] in full."""
        data = self.data
        if isinstance(shape, _Lit):
            return {pos + len(shape.text): _NONE} if data.startswith(shape.text, pos) else {}
        if isinstance(shape, _Chars):
            out: dict[int, frozenset[float]] = {}
            end = pos
            limit = len(data) if shape.hi is None else min(len(data), pos + shape.hi)
            while True:
                if end - pos >= shape.lo:
                    out[end] = _NONE
                if end >= limit or data[end] not in shape.allowed:
                    return out
                end += 1
        if isinstance(shape, _Clock):
            end = pos + _CLOCK_DIGITS[shape.unit]
            reading = self._clock(shape.unit, pos, end)
            return {end: frozenset({reading})} if reading is not None else {}
        if isinstance(shape, _Trunc):
            out = {end: r for end, r in self.full(shape.inner, pos).items() if end - pos <= shape.n}
            cut = pos + shape.n
            if cut <= len(data):
                readings = self.prefix(shape.inner, pos, cut)
                if readings:
                    out[cut] = out.get(cut, frozenset()) | readings
            return out
        ends: dict[int, frozenset[float]] = {pos: _NONE}
        for part in shape.parts:
            nxt: dict[int, frozenset[float]] = {}
            for start, before in ends.items():
                for end, after in self.full(part, start).items():
                    nxt[end] = nxt.get(end, frozenset()) | _join(before, after)
            ends = nxt
            if not ends:
                break
        return ends

    def _prefix(self, shape: _Shape, pos: int, end: int) -> frozenset[float]:
        """Readings for which data[pos:end] is the start of some output of `shape` (empty: none)."""
        data = self.data
        if isinstance(shape, _Lit):
            window = data[pos:end]
            return _NONE if shape.text.startswith(window) else frozenset()
        if isinstance(shape, _Chars):
            ok = (shape.hi is None or end - pos <= shape.hi) and all(b in shape.allowed for b in data[pos:end])
            return _NONE if ok else frozenset()
        if isinstance(shape, _Clock):
            window = data[pos:end]
            if len(window) == _CLOCK_DIGITS[shape.unit]:
                reading = self._clock(shape.unit, pos, end)
                return frozenset({reading}) if reading is not None else frozenset()
            return _NONE if all(b in _DIGITS for b in window) else frozenset()
        if isinstance(shape, _Trunc):
            # Every output of truncate n starting with the window: any inner output starting with it, if it fits.
            return self.prefix(shape.inner, pos, end) if end - pos <= shape.n else frozenset()
        result: frozenset[float] = frozenset()
        ends: dict[int, frozenset[float]] = {pos: _NONE}
        for part in shape.parts:
            nxt: dict[int, frozenset[float]] = {}
            for start, before in ends.items():
                # The window ends inside this part (or right at its start) ...
                inside = self.prefix(part, start, end)
                if inside:
                    result |= _join(before, inside)
                # ... or this part is complete before the window's end.
                for stop, after in self.full(part, start).items():
                    if stop <= end:
                        nxt[stop] = nxt.get(stop, frozenset()) | _join(before, after)
            ends = nxt
            if not ends:
                break
        if end in ends:
            result |= ends[end]
        return result
