"""Load YAML into plain Python values while remembering where everything came from.

Manifests are validated with JSON Schema and rendered into SQL; when either step
finds a problem the user needs ``file:line:col`` pointing at the offending key or
value, not at the enclosing mapping.  ``yaml.safe_load`` throws positions away,
so this module composes the node graph with pyyaml's ``SafeLoader`` (keeping its
YAML 1.1 scalar resolution) and builds the Python values itself, recording the
position of every key and value along the way.

Building the values ourselves also lets us reject what JSON Schema cannot
express or what is almost always a mistake: non-string keys (``yes:``, ``1:``),
duplicate keys, unsupported tags, several documents in one file, and alias
bombs.  Every problem surfaces as a :class:`~yamldb.errors.ManifestError` with a
precise :class:`~yamldb.errors.Location`; a raw pyyaml traceback never escapes.
"""

from __future__ import annotations

import bisect
import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from yamldb.errors import Location, ManifestError, YamldbError
from yamldb.manifest.limits import ManifestLimits

__all__ = ["MAX_DEPTH", "Document", "decode_utf8", "load_yaml", "load_yaml_file"]

PathT = tuple[str | int, ...]

# No real manifest nests deeper than a handful of levels; this stops long before Python's recursion limit.
# Sizes and node counts are limited by ManifestLimits (set by the operator).
MAX_DEPTH = 200

_TAG = "tag:yaml.org,2002:"
_STR, _NULL, _BOOL, _INT, _FLOAT = (_TAG + t for t in ("str", "null", "bool", "int", "float"))
_MAP, _SEQ, _MERGE = _TAG + "map", _TAG + "seq", _TAG + "merge"
# Resolved by YAML 1.1 but meaningless in JSON: keep the text as written, so
# ``expires: 2024-01-01`` is the string a JSON Schema ``format: date`` expects.
_TEXT_TAGS = {_STR, _TAG + "timestamp", _TAG + "value"}

# pyyaml's Reader counts these as line breaks ('\r' is normalised away first).
_LINE_BREAK = re.compile("[\n\x85\u2028\u2029]")


@dataclass(frozen=True)
class _Entry:
    """Where one value of the document sits: its key (if any) and its node."""

    key_mark: yaml.Mark | None
    node: Node


@dataclass(frozen=True)
class Document:
    """A loaded YAML document: plain data plus a map from paths to source positions.

    Paths are tuples of mapping keys (str) and list indexes (int), the same shape
    as ``jsonschema``'s ``error.absolute_path``.  Every location method accepts a
    path that does not exist and falls back to its nearest existing ancestor, so
    callers can always point *somewhere* sensible.
    """

    data: Any
    file: str
    _index: Mapping[PathT, _Entry] = field(default_factory=dict, repr=False, compare=False)
    _text: str | None = field(default=None, repr=False, compare=False)  # None: built by hand

    # -- public location API -------------------------------------------------

    def key_location(self, path: Iterable[str | int]) -> Location:
        """Where the key of ``path`` starts; for list items, where the item starts.

        The root has no key: its "key" is the start of the file.
        """
        path = tuple(path)
        found, entry = self._nearest(path)
        if entry is None:
            return self._file_start()
        if found != path:
            return self.location(found)
        if entry.key_mark is not None:
            return self._mark_location(entry.key_mark)
        if path:  # a list item: point at the item itself
            return self._mark_location(entry.node.start_mark)
        return self._file_start()

    def value_location(self, path: Iterable[str | int]) -> Location:
        """Where the value of ``path`` starts (for an empty value: just after ``key:``)."""
        _, entry = self._nearest(tuple(path))
        if entry is None:
            return self._file_start()
        return self._mark_location(entry.node.start_mark)

    def location(self, path: Iterable[str | int]) -> Location:
        """The most useful single position for ``path``.

        Scalars point at their value; mappings and lists at their key (a block
        mapping's "value" starts at its first child, which reads as the wrong
        line).  Missing paths use the nearest existing ancestor.
        """
        path = tuple(path)
        found, entry = self._nearest(path)
        if entry is None:
            return self._file_start()
        if isinstance(entry.node, ScalarNode):
            return self._mark_location(entry.node.start_mark)
        return self.key_location(found)

    def scalar_offset_location(self, path: Iterable[str | int], offset: int) -> Location:
        """Where character ``offset`` of the string at ``path`` sits in the source.

        Works for plain, quoted and block (``|``/``>``) scalars, single- or
        multi-line, by aligning the parsed value with its source text.  Falls
        back to :meth:`value_location` whenever the alignment is not certain.
        """
        path = tuple(path)
        fallback = self.value_location(path)
        entry = self._index.get(path)
        if (
            entry is None
            or not isinstance(entry.node, ScalarNode)
            or entry.node.tag not in _TEXT_TAGS  # a number or boolean: no characters
            or offset < 0
        ):
            return fallback
        index = _source_index(self._text or "", entry.node, offset)
        if index is None:
            return fallback
        return self._index_location(index)

    def source_text(self, path: Iterable[str | int]) -> str | None:
        """The text of the scalar at ``path`` exactly as written (plain style only).

        Lets messages quote what the user typed (``yes``) rather than what YAML
        turned it into (``True``).
        """
        entry = self._index.get(tuple(path))
        if entry is None or not isinstance(entry.node, ScalarNode) or entry.node.style:
            return None
        return entry.node.value

    # -- helpers -----------------------------------------------------------

    def _nearest(self, path: PathT) -> tuple[PathT, _Entry | None]:
        while path not in self._index and path:
            path = path[:-1]
        return path, self._index.get(path)

    def _file_start(self) -> Location:
        # A Document built by hand (no positions) can only name the file.
        return Location(self.file, 1, 1) if self._text is not None else Location(self.file)

    def _mark_location(self, mark: yaml.Mark) -> Location:
        return Location(self.file, mark.line + 1, mark.column + 1)

    @cached_property
    def _line_starts(self) -> list[int]:
        return [0] + [m.end() for m in _LINE_BREAK.finditer(self._text or "")]

    def _index_location(self, index: int) -> Location:
        line = bisect.bisect_right(self._line_starts, index) - 1
        return Location(self.file, line + 1, index - self._line_starts[line] + 1)


# ---------------------------------------------------------------------------
# Loading


def load_yaml_file(path: Path, display_name: str | None = None, limits: ManifestLimits | None = None) -> Document:
    """Read and load a UTF-8 YAML file; ``display_name`` is what locations show.

    ``limits`` defaults to the operator's (:meth:`ManifestLimits.from_environment`); a file over the
    size limit is refused without reading more than the limit."""
    name = display_name if display_name is not None else str(path)
    limits = limits or ManifestLimits.from_environment()
    try:
        with Path(path).open("rb") as handle:
            raw = handle.read(limits.max_bytes + 1)
            regular = stat.S_ISREG(os.fstat(handle.fileno()).st_mode)
            size = os.fstat(handle.fileno()).st_size if regular else len(raw)  # a pipe has no size
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise ManifestError(f"cannot read file: {reason}", Location(name)) from None
    reason = limits.too_large(max(size, len(raw)), known=regular)
    if reason:
        raise ManifestError(reason, Location(name))
    return load_yaml(decode_utf8(raw, name), name, limits)


def decode_utf8(raw: bytes, name: str) -> str:
    """The text of a manifest read as bytes; invalid UTF-8 is a finding at its line:column."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        byte = raw[exc.start]
        raise ManifestError(
            f"file is not valid UTF-8 (byte 0x{byte:02x}); save it as UTF-8",
            Location(name, line, column),
        ) from None


def load_yaml(text: str, file: str, limits: ManifestLimits | None = None) -> Document:
    """Parse one YAML document from ``text``; ``file`` names it in locations.

    An empty document (nothing, or only comments) gives ``data=None``. Text over ``limits`` (by default the
    operator's) is refused before parsing, a document with too many nodes while parsing, and one whose
    aliases expand too far before anything is expanded.
    """
    limits = limits or ManifestLimits.from_environment()
    # Every character is at least one byte: only text near the limit needs encoding to be measured.
    size = len(text) if len(text) > limits.max_bytes else len(text.encode("utf-8", "surrogatepass"))
    reason = limits.too_large(size)
    if reason:
        raise ManifestError(reason, Location(file))
    # Normalise line endings so our own index -> line/column arithmetic agrees
    # with pyyaml's marks; a BOM is invisible in editors, so drop it too.
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    try:
        loader = _BoundedLoader(text, limits.max_nodes)  # checks for forbidden characters up front
    except yaml.reader.ReaderError as exc:
        raise _reader_error(exc, text, file) from None
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, text, file) from None
    except _Refused as exc:
        raise ManifestError(
            limits.too_many_nodes() if exc.too_many else "document is nested too deeply",
            Location(file, exc.mark.line + 1, exc.mark.column + 1),
        ) from None
    except RecursionError:
        raise ManifestError("document is nested too deeply", Location(file)) from None
    finally:
        loader.dispose()
    if root is None or (isinstance(root, ScalarNode) and root.tag == _NULL and not root.value):
        # Nothing (or only '---'): every location is the start of the file.
        return Document(None, file, {}, text)
    if loader.aliases and _expanded_size(root, limits.max_nodes) > limits.max_nodes:
        raise ManifestError(limits.expands_too_far(loader.nodes), Location(file, 1, 1))
    builder = _Builder(file, loader)
    data = builder.build(root, (), None, 0)
    return Document(data, file, builder.index, text)


class _Refused(YamldbError):
    """Composition stopped at a limit; load_yaml turns it into a ManifestError with the operator's message."""

    def __init__(self, mark: yaml.Mark, too_many: bool) -> None:
        super().__init__("manifest over a limit")
        self.mark, self.too_many = mark, too_many


class _BoundedLoader(yaml.SafeLoader):
    """pyyaml's SafeLoader composing at most ``max_nodes`` nodes, at most MAX_DEPTH deep.

    pyyaml composes lazily, event by event, so stopping here also stops the parsing: the cost of a
    hostile document is bounded by the limit, not by its size."""

    def __init__(self, text: str, max_nodes: int) -> None:
        super().__init__(text)
        self.max_nodes = max_nodes
        self.nodes = 0
        self.aliases = 0
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self.aliases += 1
        else:
            self.nodes += 1
            if self.nodes > self.max_nodes:
                raise _Refused(event.start_mark, too_many=True)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(event.start_mark, too_many=False)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _expanded_size(root: Node, limit: int) -> int:
    """How many values the node graph becomes once aliases are expanded, counting at most past ``limit``.

    Each node's size is computed once (aliases share nodes), so this is linear in the nodes as written
    even for a "billion laughs" document. A node inside itself counts once; the builder reports it."""
    sizes: dict[int, int] = {}
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes and sizes[key] >= 0:
            continue
        children = (
            [v for _, v in node.value]
            if isinstance(node, MappingNode)
            else node.value
            if isinstance(node, SequenceNode)
            else []
        )
        if not children_done:
            if key in sizes:  # on the current path: a recursive alias
                continue
            sizes[key] = -1
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
            continue
        total = 1 + sum(max(sizes.get(id(child), 1), 1) for child in children)
        sizes[key] = min(total, limit + 1)
    return sizes[id(root)]


def _reader_error(exc: yaml.reader.ReaderError, text: str, file: str) -> ManifestError:
    """pyyaml reports forbidden characters by offset only; give them a line:column."""
    pos = exc.position
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    char = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "?")
    return ManifestError(
        f"character U+{char:04X} is not allowed in YAML text; remove it",
        Location(file, line, column),
    )


class _Builder:
    """Turn a composed node graph into plain values, indexing every path."""

    def __init__(self, file: str, constructor: yaml.constructor.SafeConstructor) -> None:
        self.file = file
        self.constructor = constructor  # reused only for its scalar converters
        self.index: dict[PathT, _Entry] = {}
        self.active: set[int] = set()  # container nodes being built: detects recursive aliases

    def loc(self, node_or_mark: Node | yaml.Mark) -> Location:
        mark = node_or_mark.start_mark if isinstance(node_or_mark, Node) else node_or_mark
        return Location(self.file, mark.line + 1, mark.column + 1)

    def build(self, node: Node, path: PathT, key_mark: yaml.Mark | None, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise ManifestError("document is nested too deeply", self.loc(node))
        self.index[path] = _Entry(key_mark, node)
        if isinstance(node, ScalarNode):
            return self.scalar(node)
        if isinstance(node, SequenceNode):
            self.check_tag(node, _SEQ)
            with self.entered(node, key_mark):
                return [self.build(item, (*path, i), None, depth + 1) for i, item in enumerate(node.value)]
        assert isinstance(node, MappingNode)
        self.check_tag(node, _MAP)
        return self.mapping(node, path, depth, key_mark)

    def entered(self, node: Node, where: yaml.Mark | None) -> _Active:
        if id(node) in self.active:
            # The alias itself left no trace in the node graph; its key is the
            # closest place we know (else the anchored value).
            raise ManifestError("alias refers to a value that contains itself", self.loc(where or node))
        return _Active(self.active, id(node))

    def check_tag(self, node: Node, expected: str) -> None:
        if node.tag != expected:
            raise ManifestError(f"unsupported YAML tag {_short_tag(node.tag)}", self.loc(node))

    def scalar(self, node: ScalarNode) -> Any:
        tag = node.tag
        if tag in _TEXT_TAGS or tag == _MERGE:  # '<<' as a value is just text
            return node.value
        converters = {
            _NULL: self.constructor.construct_yaml_null,
            _BOOL: self.constructor.construct_yaml_bool,
            _INT: self.constructor.construct_yaml_int,
            _FLOAT: self.constructor.construct_yaml_float,
        }
        convert = converters.get(tag)
        if convert is None:
            raise ManifestError(f"unsupported YAML tag {_short_tag(tag)}", self.loc(node))
        try:
            return convert(node)
        except Exception:
            # Only reachable with odd plain scalars (``0x_``) or explicit tags
            # (``!!int abc``): say what was expected instead of a traceback.
            kind = {_NULL: "null", _BOOL: "boolean", _INT: "integer", _FLOAT: "number"}[tag]
            raise ManifestError(
                f"invalid {kind} {node.value!r}; quote it if it is meant as text",
                self.loc(node),
            ) from None

    def key(self, node: Node) -> str:
        """A mapping key as a string, or a clear error: JSON Schema needs string keys."""
        if not isinstance(node, ScalarNode):
            kind = "a list" if isinstance(node, SequenceNode) else "a mapping"
            raise ManifestError(f"mapping keys must be strings, not {kind}", self.loc(node))
        if node.tag in _TEXT_TAGS:
            return node.value
        text = node.value
        if node.tag == _NULL:
            raise ManifestError("empty or null mapping key; keys must be strings", self.loc(node))
        if node.tag == _BOOL:
            raise ManifestError(
                f'key {text} is read as a boolean by YAML; quote it ("{text}") to use it as a name',
                self.loc(node),
            )
        if node.tag in (_INT, _FLOAT):
            raise ManifestError(
                f'key {text} is a number; mapping keys must be strings (quote it: "{text}")',
                self.loc(node),
            )
        raise ManifestError(f"mapping keys must be strings, not {_short_tag(node.tag)}", self.loc(node))

    def mapping(self, node: MappingNode, path: PathT, depth: int, where: yaml.Mark | None) -> dict[str, Any]:
        with self.entered(node, where):
            seen: dict[str, Node] = {}
            explicit: list[tuple[str, Node, Node]] = []
            merges: list[tuple[Node, Node]] = []
            for key_node, value_node in node.value:
                if isinstance(key_node, ScalarNode) and key_node.tag == _MERGE:
                    if merges:
                        first = merges[0][0].start_mark.line + 1
                        raise ManifestError(
                            f'duplicate key "<<" (first defined at line {first})',
                            self.loc(key_node),
                        )
                    merges.append((key_node, value_node))
                    continue
                name = self.key(key_node)
                if name in seen:
                    first = seen[name].start_mark.line + 1
                    raise ManifestError(
                        f'duplicate key "{name}" (first defined at line {first})',
                        self.loc(key_node),
                    )
                seen[name] = key_node
                explicit.append((name, key_node, value_node))

            result: dict[str, Any] = {}
            if merges:
                key_node, value_node = merges[0]
                self.merge(value_node, key_node.start_mark, path, depth, seen, result)
            for name, key_node, value_node in explicit:
                result[name] = self.build(value_node, (*path, name), key_node.start_mark, depth + 1)
            return result

    def merge(
        self,
        value: Node,
        where: yaml.Mark,
        path: PathT,
        depth: int,
        explicit: Mapping[str, Node],
        result: dict[str, Any],
    ) -> None:
        """Apply ``<<: *base`` / ``<<: [*a, *b]``: explicit keys win, then earlier sources."""
        if isinstance(value, MappingNode):
            sources = [value]
        elif isinstance(value, SequenceNode) and all(isinstance(v, MappingNode) for v in value.value):
            sources = list(value.value)
        else:
            raise ManifestError(
                "the value of '<<' must be a mapping or a list of mappings (e.g. *defaults)",
                self.loc(value),
            )
        for source in sources:
            self.check_tag(source, _MAP)
            # Build into a scratch index so keys that lose to an explicit key or
            # an earlier source leave no stale positions behind.
            saved, self.index = self.index, {}
            try:
                values = self.mapping(source, path, depth + 1, where)
            finally:
                scratch, self.index = self.index, saved
            added = {k for k in values if k not in explicit and k not in result}
            for k in values:
                if k in added:
                    result[k] = values[k]
            for p, entry in scratch.items():
                if p[len(path)] in added:
                    self.index[p] = entry


class _Active:
    """Context manager marking a container node as under construction."""

    def __init__(self, active: set[int], key: int) -> None:
        self.active, self.key = active, key

    def __enter__(self) -> None:
        self.active.add(self.key)

    def __exit__(self, *exc: object) -> None:
        self.active.discard(self.key)


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG) :] if tag.startswith(_TAG) else tag


# ---------------------------------------------------------------------------
# Syntax errors

# pyyaml names tokens after its grammar; say what the user actually wrote.
_TOKEN_NAMES = {
    "'<block mapping start>'": "a new mapping",
    "'<block sequence start>'": "a new list",
    "'<block end>'": "the end of an indented block",
    "<block end>": "the end of the indented block",
    "'<stream end>'": "the end of the file",
    "'<stream start>'": "the start of the file",
    "'<document start>'": "'---'",
    "'<document end>'": "'...'",
    "'<scalar>'": "a value",
    "'<alias>'": "an alias",
    "'<anchor>'": "an anchor",
    "'<tag>'": "a tag",
    "'?'": "a mapping key",
    "'-'": "a list item '-'",
}


_CONTEXT_NAMES = {
    "a block mapping": "the mapping",
    "a block collection": "the list",
    "a block node": "the value",
    "a flow sequence": "the [...] list",
    "a flow mapping": "the {...} mapping",
    "a flow node": "the value",
    "a double-quoted scalar": "the quoted string",
    "a quoted scalar": "the quoted string",
    "a block scalar": "the block text",
    "a plain scalar": "the value",
}


def _plain_tokens(message: str) -> str:
    for token, words in _TOKEN_NAMES.items():
        message = message.replace(token, words)
    return message


def _syntax_error(exc: yaml.MarkedYAMLError, text: str, file: str) -> ManifestError:
    problem = (exc.problem or "").strip()
    context = (exc.context or "").strip()
    mark = exc.problem_mark or exc.context_mark

    def at(m: yaml.Mark | None) -> Location:
        return Location(file, m.line + 1, m.column + 1) if m is not None else Location(file)

    def ctx_line() -> int:
        return exc.context_mark.line + 1 if exc.context_mark is not None else 0

    if "'\\t'" in problem and mark is not None:
        # pyyaml says "found character '\t' that cannot start any token".
        line_start = text.rfind("\n", 0, mark.index) + 1
        if text[line_start : mark.index].strip(" \t") == "":
            return ManifestError("tab character used for indentation; YAML requires spaces", at(mark))
        return ManifestError("tab character is not allowed here; use spaces", at(mark))
    if context == "expected a single document in the stream":
        return ManifestError(
            "more than one YAML document in the file ('---' starts a new one); only one is allowed",
            at(exc.problem_mark),
        )
    if context.startswith("found duplicate anchor"):
        name = context.split("'")[1] if "'" in context else "?"
        return ManifestError(
            f"duplicate anchor &{name} (first defined at line {ctx_line()})",
            at(exc.problem_mark),
        )
    if problem.startswith("found undefined alias"):
        name = problem.split("'")[1] if "'" in problem else "?"
        return ManifestError(f"unknown alias *{name} (no anchor &{name} defined before it)", at(mark))
    if problem == "mapping values are not allowed here":
        return ManifestError(
            f"{problem} (check the indentation, or quote a value that contains ': ')",
            at(mark),
        )
    if problem == "could not find expected ':'" and exc.context_mark is not None:
        # The problem mark is wherever pyyaml gave up (often the next line); the
        # line that lacks its ':' is where the scan started.
        return ManifestError(
            "could not find expected ':' (each line of a mapping must be 'key: value')",
            at(exc.context_mark),
        )
    quoted = ("while scanning a quoted scalar", "while scanning a double-quoted scalar")
    if context.startswith(quoted) and ("end of stream" in problem or "separator" in problem):
        return ManifestError("unterminated quoted string (no closing quote)", at(exc.context_mark))
    if problem.startswith("found character") and "cannot start any token" in problem:
        char = problem.split("'")[1] if "'" in problem else "?"
        return ManifestError(
            f"a plain value cannot start with '{char}'; put the value in quotes",
            at(mark),
        )
    if problem.startswith("expected <block end>"):
        found = _plain_tokens(problem.split("but found", 1)[-1].strip())
        message = f"found {found} where it was not expected; check the indentation"
    else:
        message = _plain_tokens(problem) or "invalid YAML"
    if context and exc.context_mark is not None and exc.context_mark is not exc.problem_mark:
        where = re.sub(r"^while (parsing|scanning) ", "", context)
        where = _CONTEXT_NAMES.get(where, where)
        message += f" (in {where} that starts at line {ctx_line()})"
    return ManifestError(message, at(mark))


# ---------------------------------------------------------------------------
# Offsets inside scalars


def _source_index(text: str, node: ScalarNode, offset: int) -> int | None:
    """Map ``offset`` in ``node.value`` to an index in ``text``, or None if unsure.

    Walks the value and its source together.  Non-blank value characters must
    equal their source character; source characters that the value does not
    contain can only be whitespace (indentation, folded line breaks), a doubled
    single quote, or a backslash escape -- so any non-blank character, such as a
    placeholder's ``{``, is mapped exactly, and anything else gives up.
    """
    value = node.value
    if not isinstance(value, str) or offset >= len(value):
        return None
    style = node.style
    start, end = node.start_mark.index, node.end_mark.index
    if style in ("'", '"'):
        start, end = start + 1, end - 1
    elif style in ("|", ">"):
        newline = text.find("\n", start, end)
        if newline < 0:
            return None
        start = newline + 1  # skip the header line (indicators, comment)
    i, j = 0, start
    while j <= end:
        if i > offset:
            break
        ch = value[i] if i < len(value) else ""
        src = text[j] if j < end else ""
        if style == '"' and src == "\\":
            step, decoded = _escape(text, j, end)
            if decoded is None:  # escaped line break: contributes nothing
                j += step
                continue
            if decoded != ch:
                return None
            if i == offset:
                return j
            i, j = i + 1, j + step
            continue
        if style == "'" and src == "'" and text[j + 1 : j + 2] == "'":
            if ch != "'":
                return None
            if i == offset:
                return j
            i, j = i + 1, j + 2
            continue
        if src and src == ch:
            if i == offset:
                return j
            i, j = i + 1, j + 1
            continue
        if ch in (" ", "\n") and src == "\n":
            # A folded line break: the value's space/newline stands for it.
            if i == offset:
                return j
            i, j = i + 1, j + 1
            continue
        if src in (" ", "\t", "\n"):
            j += 1
            continue
        return None
    return None


_ESCAPE_LENGTHS = {"x": 2, "u": 4, "U": 8}
_SIMPLE_ESCAPES = {
    "0": "\0",
    "a": "\x07",
    "b": "\x08",
    "t": "\t",
    "\t": "\t",
    "n": "\n",
    "v": "\x0b",
    "f": "\x0c",
    "r": "\r",
    "e": "\x1b",
    " ": " ",
    '"': '"',
    "\\": "\\",
    "/": "/",
    "N": "\x85",
    "_": "\xa0",
    "L": "\u2028",
    "P": "\u2029",
}


def _escape(text: str, j: int, end: int) -> tuple[int, str | None]:
    """Decode the double-quoted escape at ``text[j]``: (source length, character)."""
    code = text[j + 1 : j + 2]
    if code == "\n":
        return 2, None
    if code in _SIMPLE_ESCAPES:
        return 2, _SIMPLE_ESCAPES[code]
    width = _ESCAPE_LENGTHS.get(code)
    if width is not None and j + 2 + width <= end:
        try:
            return 2 + width, chr(int(text[j + 2 : j + 2 + width], 16))
        except ValueError:
            pass
    return 1, "\\"  # cannot happen after a successful parse; forces a mismatch
