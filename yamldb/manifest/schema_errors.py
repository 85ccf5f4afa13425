"""Turn JSON Schema validation errors into findings pinned to the offending key or value.

``jsonschema`` reports every problem against the *instance* that failed a
keyword, which is often the parent of what the user got wrong: an unknown key
is reported on its mapping, a ``oneOf`` failure on the whole union with every
branch's complaints attached.  Users read these in CI logs, so this module
re-targets each error:

* unknown keys point at the key itself and suggest the closest known name;
* bad values (type, enum, pattern, range, format...) point at the value and
  name the key they belong to;
* missing keys point at the key of the mapping that lacks them;
* ``oneOf``/``anyOf`` failures descend into the branch the user evidently
  meant instead of printing the whole union: the alternatives that accept the
  value's type, narrowed by a discriminator key (``kind: const``) when there
  is one, then the one holding the error jsonschema's own ``relevance`` ranks
  first (the deepest, as ``best_match`` picks inside a union).

Every keyword of the shipped schema is handled (``HANDLED_KEYWORDS``; a test
holds schemas/manifest.schema.json to it).  The findings are built from the
errors' structure (validator, validator_value, instance, paths), never from
jsonschema's English messages, which are shown only for a keyword outside
that set.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from yamldb.errors import Location, ManifestError
from yamldb.manifest.yamlsource import Document

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

__all__ = ["HANDLED_KEYWORDS", "schema_findings"]

PathT = tuple[str | int, ...]
Finding = tuple[Location, str]

# Validators are costly to build and schemas are module-level constants, so one
# per schema object.  The schema itself is kept in the entry: that holds its id
# stable and lets a reused id (after the old schema died) be detected.
_VALIDATORS: dict[int, tuple[dict[str, Any], Draft202012Validator]] = {}

_UNIONS = ("oneOf", "anyOf")
# Keywords judging the value itself: point at the value, not at its key.
_VALUE_KEYWORDS = frozenset(
    {
        "type",
        "enum",
        "const",
        "pattern",
        "format",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minItems",
        "maxItems",
    }
)
# Keywords that shape or annotate a schema and reach findings only through the errors of others.
_STRUCTURE_KEYWORDS = frozenset(
    {
        "$schema",
        "$id",
        "$ref",
        "$defs",
        "$comment",
        "title",
        "description",
        "default",
        "examples",
        "properties",
        "patternProperties",
        "allOf",
        "if",
        "then",
        "else",
    }
)
_MESSAGE_KEYWORDS = frozenset({"minProperties", "maxProperties", "not", "contains", "propertyNames"})
_HANDLER_KEYWORDS = frozenset(
    {
        "additionalProperties",
        "unevaluatedProperties",
        "required",
        "dependentRequired",
        "uniqueItems",
        "items",
        "prefixItems",
        "oneOf",
        "anyOf",
    }
)
# What a schema may use and still get located, specific findings.
HANDLED_KEYWORDS = _VALUE_KEYWORDS | _STRUCTURE_KEYWORDS | _MESSAGE_KEYWORDS | _HANDLER_KEYWORDS
_TYPE_WORDS = {
    "string": "a string",
    "object": "a mapping",
    "array": "a list",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean (true/false)",
    "null": "null",
}
_MAX_SHOWN = 12  # enum values listed before "…"
_MAX_TEXT = 40  # characters of a user value quoted in a message


def schema_findings(document: Document, schema: dict[str, Any]) -> list[ManifestError]:
    """Validate ``document.data`` against ``schema``; one located error per problem.

    Returns an empty list when the document is valid.  The findings are
    de-duplicated and sorted by position.  An invalid schema (a bug in yamldb
    or a dialect file, not in the manifest) raises :class:`ManifestError`.
    """
    # jsonschema (with referencing, rpds, attrs) is imported on first use: ~5 MB and ~40 ms that the plugin
    # process never pays when it only loads the manifests shipped inside it (see ManifestLibrary).
    import referencing.exceptions

    validator = _validator_for(schema)
    renderer = _Renderer(document, schema)
    findings: dict[tuple[str, int, int, str], ManifestError] = {}
    try:
        errors = list(validator.iter_errors(document.data))
    except referencing.exceptions.Unresolvable as exc:
        raise ManifestError(f"invalid JSON Schema: cannot resolve {exc}") from None
    for error in errors:
        for location, message in renderer.render(error):
            key = (location.file, location.line, location.column, message)
            findings.setdefault(key, ManifestError(message, location))
    return [findings[k] for k in sorted(findings, key=lambda k: (k[1], k[2], k[3]))]


def _validator_for(schema: dict[str, Any]) -> Draft202012Validator:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    cached = _VALIDATORS.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise ManifestError(f"invalid JSON Schema at {where}: {exc.message}") from None
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    _VALIDATORS[id(schema)] = (schema, validator)
    return validator


class _Renderer:
    """Render one ValidationError (and, for unions, its chosen branch) as findings."""

    def __init__(self, document: Document, schema: dict[str, Any]) -> None:
        self.doc = document
        self.root = schema

    # -- dispatch ----------------------------------------------------------

    def render(self, error: ValidationError) -> list[Finding]:
        path = tuple(error.absolute_path)
        if error.validator in _UNIONS:
            return self.union(error, path)
        if _is_property_name_error(error, self.doc.data, path):
            # propertyNames validates the key string itself: point at that key.
            key = error.instance
            message = self.describe(error, path, prefix="")
            # "invalid key "X": does not match", not "... "X" does not match".
            message = message.removeprefix(_show(key) + " ")
            return [(self.doc.key_location((*path, key)), f'invalid key "{key}": {message}')]
        handler = getattr(self, f"on_{error.validator}", None)
        if handler is not None:
            found: list[Finding] | None = handler(error, path)
            if found:
                return found
        if error.validator in _VALUE_KEYWORDS:
            where = self.doc.value_location(path)
        else:
            # About a whole container: its key reads better than its first child.
            where = self.doc.location(path)
        return [(where, self.describe(error, path))]

    # -- keywords that point somewhere other than the failing instance -------

    def on_additionalProperties(self, error: ValidationError, path: PathT) -> list[Finding]:
        instance, schema = error.instance, error.schema
        if error.validator_value is not False or not isinstance(instance, dict):
            return []
        known = schema.get("properties", {})
        patterns = schema.get("patternProperties", {})
        extras = [key for key in instance if key not in known and not any(_search(p, key) for p in patterns)]
        return self.unknown_keys(path, extras, known, instance)

    def on_unevaluatedProperties(self, error: ValidationError, path: PathT) -> list[Finding]:
        if not isinstance(error.instance, dict):
            return []
        # The keys no (sub)schema here declares, following $ref and combinators.
        known = _property_names(error.schema, self.root)
        patterns = _pattern_names(error.schema, self.root)
        extras = [k for k in error.instance if k not in known and not any(_search(p, k) for p in patterns)]
        if error.validator_value is not False:
            return [(self.doc.key_location((*path, k)), f'key "{k}" is not allowed here') for k in extras]
        return self.unknown_keys(path, extras, known, error.instance)

    def unknown_keys(
        self,
        path: PathT,
        extras: Iterable[str],
        known: Iterable[str],
        instance: dict[str, Any],
    ) -> list[Finding]:
        # Don't suggest a name the mapping already has: that would be a duplicate.
        candidates = [k for k in known if k not in instance]
        found = []
        for key in extras:
            message = f'unknown key "{key}"' + _did_you_mean(key, candidates)
            found.append((self.doc.key_location((*path, key)), message))
        return found

    def on_required(self, error: ValidationError, path: PathT) -> list[Finding]:
        if not isinstance(error.instance, dict):
            return []
        where = self.doc.key_location(path)
        missing = [k for k in error.validator_value if k not in error.instance]
        return [(where, f'missing required key "{k}"') for k in missing]

    def on_dependentRequired(self, error: ValidationError, path: PathT) -> list[Finding]:
        if not isinstance(error.instance, dict):
            return []
        found = []
        for key, needs in error.validator_value.items():
            if key in error.instance:
                where = self.doc.key_location((*path, key))
                for need in needs:
                    if need not in error.instance:
                        found.append((where, f'key "{key}" also requires key "{need}"'))
        return found

    def on_None(self, error: ValidationError, path: PathT) -> list[Finding]:
        """A ``false`` schema, typically ``properties: {old_name: false}``.

        jsonschema (4.26) leaves the key out of such an error's path, so the
        key is recovered from the schema: which properties here are ``false``.
        """
        keyword = error.absolute_schema_path[-1] if error.absolute_schema_path else None
        parent = _lookup(self.doc.data, path)
        where = _schema_at(self.root, list(error.absolute_schema_path))
        keys: list[str] = []
        if isinstance(parent, dict) and isinstance(where, dict):
            if keyword == "properties":
                keys = [k for k, sub in where.items() if sub is False and k in parent]
            elif keyword == "patternProperties":
                falses = [p for p, sub in where.items() if sub is False]
                keys = [k for k in parent if any(_search(p, k) for p in falses)]
        if keys:
            return [(self.doc.key_location((*path, k)), f'key "{k}" is not allowed here') for k in keys]
        if path and isinstance(path[-1], str) and keyword == path[-1]:
            # Should jsonschema start including the key, it is already in the path.
            return [(self.doc.key_location(path), f'key "{path[-1]}" is not allowed here')]
        return [(self.doc.location(path), f"{_prefix(path)}no value is allowed here")]

    def on_uniqueItems(self, error: ValidationError, path: PathT) -> list[Finding]:
        items = error.instance
        if not isinstance(items, list):
            return []
        first_seen: dict[str, int] = {}
        for index, item in enumerate(items):
            canon = json.dumps(item, sort_keys=True, default=str)
            if canon in first_seen:
                first = self.doc.value_location((*path, first_seen[canon]))
                message = f"{_prefix(path)}duplicate item {_show(item)}"
                if first.line:
                    message += f" (already at line {first.line})"
                return [(self.doc.value_location((*path, index)), message)]
            first_seen[canon] = index
        return []

    def on_items(self, error: ValidationError, path: PathT) -> list[Finding]:
        # ``items: false`` after ``prefixItems``: point at the first extra item.
        if error.validator_value is not False or not isinstance(error.instance, list):
            return []
        limit = len(error.schema.get("prefixItems", []))
        if limit >= len(error.instance):
            return []
        message = f"{_prefix(path)}expected at most {_plural(limit, 'item')}"
        return [(self.doc.value_location((*path, limit)), message)]

    # -- oneOf / anyOf -------------------------------------------------------

    def union(self, error: ValidationError, path: PathT) -> list[Finding]:
        prefix = _prefix(path)
        instance = error.instance
        if not error.context:
            # oneOf failed because several branches matched: a schema ambiguity,
            # but still say where.
            where = self.doc.location(path)
            return [(where, f"{prefix}matches more than one allowed form")]
        branches = _branches(error)
        candidates = [i for i, errs in branches.items() if not _type_rejected(errs)]
        if not candidates:
            # The value has the wrong type for every alternative.
            expected = _join_or([_TYPE_WORDS.get(t, t) for t in _union_types(error)])
            message = f"{prefix}expected {expected}, got {_kind(instance)}"
            message += self.quote_hint(path, _union_types(error))
            return [(self.doc.value_location(path), message)]

        # Alternatives that are bare constants (``oneOf: [{const: a}, ...]``).
        if all(_value_only(branches[i]) for i in candidates):
            allowed = _union_values(branches[i] for i in candidates)
            return [
                (
                    self.doc.value_location(path),
                    self.not_one_of(prefix, instance, allowed),
                )
            ]
        candidates = [i for i in candidates if not _value_only(branches[i])]

        # A discriminator key (``kind: const``) that matches beats everything.
        matching = [i for i in candidates if _discriminator(branches[i]) is None]
        if len(candidates) > 1 and not matching and isinstance(instance, dict):
            keys = {_discriminator(branches[i]) for i in candidates}
            key = keys.pop() if len(keys) == 1 else None
            per_branch = [
                _union_values([[e for e in branches[i] if tuple(e.relative_path) == (key,)]]) for i in candidates
            ]
            # Only a key whose allowed values differ per branch selects a branch.
            if key is not None and len({repr(v) for v in per_branch}) > 1:
                allowed = [v for values in per_branch for v in values]
                allowed = [v for n, v in enumerate(allowed) if v not in allowed[:n]]
                where = self.doc.value_location((*path, key))
                message = self.not_one_of(_prefix((*path, key)), instance.get(key), allowed)
                return [(where, message)]
        if len(candidates) == 1 or not matching:
            matching = candidates

        best = _most_relevant_branch(branches, matching)
        found: list[Finding] = []
        for sub in branches[best]:
            found.extend(self.render(sub))
        return found

    # -- messages ------------------------------------------------------------

    def describe(self, error: ValidationError, path: PathT, prefix: str | None = None) -> str:
        """A short message for a value-level error, prefixed with the key's name."""
        prefix = _prefix(path) if prefix is None else prefix
        kind, value, instance = error.validator, error.validator_value, error.instance
        shown = _show(instance)
        if kind == "type":
            types = [value] if isinstance(value, str) else list(value)
            expected = _join_or([_TYPE_WORDS.get(t, t) for t in types])
            got = _kind(instance)
            if instance is None and not path:
                return f"the document is empty; expected {expected}"
            return f"{prefix}expected {expected}, got {got}" + self.quote_hint(path, types)
        if kind == "enum":
            return self.not_one_of(prefix, instance, list(value))
        if kind == "const":
            return f"{prefix}expected {_show(value)}, got {shown}"
        if kind == "pattern":
            return f"{prefix}{shown} does not match the pattern {value}"
        if kind == "format":
            return f"{prefix}{shown} is not a valid {value}"
        if kind == "minLength":
            if instance == "":
                return f"{prefix}must not be empty"
            return f"{prefix}{shown} is too short (at least {_plural(value, 'character')})"
        if kind == "maxLength":
            length = len(instance) if isinstance(instance, str) else "?"
            return f"{prefix}is too long ({length} characters, at most {value})"
        limits = {
            "minimum": "at least",
            "maximum": "at most",
            "exclusiveMinimum": "greater than",
            "exclusiveMaximum": "less than",
            "multipleOf": "a multiple of",
        }
        if kind in limits:
            return f"{prefix}must be {limits[kind]} {_show(value)}, got {shown}"
        if kind in ("minItems", "maxItems"):
            bound = "at least" if kind == "minItems" else "at most"
            count = len(instance) if isinstance(instance, list) else "?"
            return f"{prefix}expected {bound} {_plural(value, 'item')}, got {count}"
        if kind in ("minProperties", "maxProperties"):
            bound = "at least" if kind == "minProperties" else "at most"
            count = len(instance) if isinstance(instance, dict) else "?"
            return f"{prefix}expected {bound} {_plural(value, 'key')}, got {count}"
        if kind == "not":
            return f"{prefix}this value is not allowed here"
        if kind == "contains":
            return f"{prefix}no item has the required form"
        # Anything rarer: jsonschema's own wording, kept to one short line.
        text = " ".join(str(error.message).split())
        return prefix + (text if len(text) <= 200 else text[:199] + "…")

    def not_one_of(self, prefix: str, instance: Any, allowed: Sequence[Any]) -> str:
        listed = ", ".join(_show_choice(v) for v in allowed[:_MAX_SHOWN])
        if len(allowed) > _MAX_SHOWN:
            listed += ", …"
        message = f"{prefix}{_show(instance)} is not one of: {listed}"
        if isinstance(instance, str):
            message += _did_you_mean(instance, [v for v in allowed if isinstance(v, str)])
        return message

    def quote_hint(self, path: PathT, expected_types: Iterable[str]) -> str:
        """YAML turns ``yes``/``1.10``/``null`` into non-strings; say how to keep text."""
        if "string" not in expected_types:
            return ""
        source = self.doc.source_text(path)
        if not source or isinstance(_lookup(self.doc.data, path), str):
            return ""
        return f'; quote it ("{source}") to make it a string'


# ---------------------------------------------------------------------------
# Union helpers: errors of a oneOf/anyOf grouped by alternative


def _branches(error: ValidationError) -> dict[int, list[ValidationError]]:
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context or ():
        index = sub.relative_schema_path[0]
        if isinstance(index, int):
            branches.setdefault(index, []).append(sub)
    return branches


def _at_root(error: ValidationError) -> bool:
    """True when the error is about the union's own instance, not a child of it."""
    return not error.relative_path


def _type_rejected(errors: list[ValidationError]) -> bool:
    """The alternative does not accept this kind of value at all."""
    for e in errors:
        if not _at_root(e):
            continue
        if e.validator == "type":
            return True
        if e.validator is None and len(e.relative_schema_path) == 1:
            return True  # the alternative is ``false`` itself (not a false property)
        nested = _branches(e).values() if e.validator in _UNIONS else ()
        if nested and all(_type_rejected(errs) for errs in nested):
            return True
    return False


def _union_types(error: ValidationError) -> list[str]:
    types: list[str] = []
    for e in error.context or ():
        if not _at_root(e):
            continue
        if e.validator == "type":
            value = e.validator_value
            new = [value] if isinstance(value, str) else list(value)
        elif e.validator in _UNIONS:
            new = _union_types(e)
        else:
            continue
        types.extend(t for t in new if t not in types)
    return types


def _value_only(errors: list[ValidationError]) -> bool:
    return all(_at_root(e) and e.validator in ("const", "enum") for e in errors)


def _union_values(groups: Iterable[Iterable[ValidationError]]) -> list[Any]:
    allowed: list[Any] = []
    for errors in groups:
        for e in errors:
            new = [e.validator_value] if e.validator == "const" else list(e.validator_value)
            allowed.extend(v for v in new if v not in allowed)
    return allowed


def _discriminator(errors: list[ValidationError]) -> str | None:
    """The child key whose const/enum rejected this alternative, if any."""
    for e in errors:
        path = tuple(e.relative_path)
        if len(path) == 1 and isinstance(path[0], str) and e.validator in ("const", "enum"):
            return path[0]
    return None


def _most_relevant_branch(branches: dict[int, list[ValidationError]], allowed: list[int]) -> int:
    """The alternative holding the error jsonschema ranks most relevant inside a union.

    ``best_match`` descends into a union's context by ``relevance``, smallest
    first (deepest, then earliest, matching the instance's type); the same key
    over the allowed alternatives' errors picks the alternative.
    """
    from jsonschema.exceptions import relevance

    best = min(
        ((relevance(e), n, i) for n, i in enumerate(allowed) for e in branches[i]),
        key=lambda item: (item[0], item[1]),
    )
    return best[2]


def _property_names(schema: Any, root: dict[str, Any]) -> set[str]:
    """Property names a (sub)schema declares, following local $refs and combinators."""
    return _declared("properties", schema, root, set())


def _pattern_names(schema: Any, root: dict[str, Any]) -> set[str]:
    """The patternProperties patterns a (sub)schema declares, followed the same way."""
    return _declared("patternProperties", schema, root, set())


def _declared(keyword: str, schema: Any, root: dict[str, Any], seen: set[int]) -> set[str]:
    if not isinstance(schema, dict) or id(schema) in seen:
        return set()
    seen.add(id(schema))
    names = set(schema.get(keyword, {}))
    ref = schema.get("$ref")
    if isinstance(ref, str):
        names |= _declared(keyword, _resolve_local(ref, root), root, seen)
    subschemas = [*schema.get("allOf", ()), *schema.get("anyOf", ()), *schema.get("oneOf", ())]
    subschemas += [schema.get("then"), schema.get("else"), *schema.get("dependentSchemas", {}).values()]
    for sub in subschemas:
        names |= _declared(keyword, sub, root, seen)
    return names


def _schema_at(root: dict[str, Any], schema_path: list[str | int]) -> Any:
    """The subschema at an error's ``absolute_schema_path``, or None.

    jsonschema leaves ``$ref`` (and ``if``) out of schema paths, so when a step
    is missing the walk follows the current schema's local ``$ref`` first.
    """
    node: Any = root
    for part in schema_path:
        for _ in range(32):  # bounded: a $ref cycle must not hang us
            if isinstance(node, list) and isinstance(part, int) and part < len(node):
                node = node[part]
                break
            if isinstance(node, dict) and part in node:
                node = node[part]
                break
            if isinstance(node, dict) and isinstance(node.get("$ref"), str):
                node = _resolve_local(node["$ref"], root)
                continue
            return None
        else:
            return None
    return node


def _resolve_local(ref: str, root: dict[str, Any]) -> Any:
    if not ref.startswith("#"):
        return None
    node: Any = root
    for part in ref[1:].lstrip("/").split("/") if ref != "#" else ():
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


# ---------------------------------------------------------------------------
# Small helpers


def _is_property_name_error(error: ValidationError, data: Any, path: PathT) -> bool:
    if "propertyNames" not in error.absolute_schema_path:
        return False
    parent = _lookup(data, path)
    return isinstance(parent, dict) and isinstance(error.instance, str) and error.instance in parent


def _lookup(data: Any, path: PathT) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _search(pattern: str, text: str) -> bool:
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return False


def _prefix(path: PathT) -> str:
    """``"statements[2]: "`` for ``(..., "statements", 2)``: the nearest key name."""
    tail = ""
    for part in reversed(path):
        if isinstance(part, int):
            tail = f"[{part}]{tail}"
        else:
            return f"{part}{tail}: "
    return f"{tail}: " if tail else ""


def _did_you_mean(word: str, candidates: Iterable[str]) -> str:
    candidates = list(candidates)
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    if not close:  # case slips ("Dialect") score low on short words
        lowered = {c.lower(): c for c in candidates}
        close = [lowered[word.lower()]] if word.lower() in lowered else []
    return f' (did you mean "{close[0]}"?)' if close else ""


def _kind(value: Any) -> str:
    if value is None:
        return "an empty value (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _show(value: Any) -> str:
    """A user value as it may appear in a message: short, JSON-ish."""
    if isinstance(value, (list, dict)):
        return _kind(value)
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > _MAX_TEXT:
        text = text[: _MAX_TEXT - 2] + '…"' if text.startswith('"') else text[:_MAX_TEXT] + "…"
    return text


def _show_choice(value: Any) -> str:
    if isinstance(value, str) and re.fullmatch(r"[\w.\-/+:@]+", value):
        return value
    return _show(value)


def _join_or(words: list[str]) -> str:
    words = list(dict.fromkeys(words))
    if len(words) <= 1:
        return words[0] if words else "another type"
    return ", ".join(words[:-1]) + " or " + words[-1]


def _plural(count: Any, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
