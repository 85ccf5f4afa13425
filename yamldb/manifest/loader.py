"""Read a manifest file: YAML with positions → schema check → dialect resolution → model.

Collecting findings is separate from reporting them: `check_file` returns every
problem found; `load_file` raises the first as a ManifestError.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache, partial
from pathlib import Path
from types import MappingProxyType
from typing import Any

from yamldb.durations import parse_duration
from yamldb.errors import Location, ManifestError
from yamldb.manifest.limits import ManifestLimits
from yamldb.manifest.model import (
    OPERATIONS,
    Capabilities,
    ConnectionSettings,
    Dialect,
    LoginCheck,
    Manifest,
    Parameter,
    PoolSettings,
    Step,
    UsernameRules,
)
from yamldb.manifest.patterns import pattern_problem
from yamldb.manifest.quoting import QuotingRules
from yamldb.manifest.yamlsource import Document, load_yaml, load_yaml_file
from yamldb.resources import manifest_schema, shipped_dir

__all__ = ["LibraryLookup", "Prevalidated", "check_file", "check_text", "load_file"]


@dataclass
class _Partial:
    """What one file contributes, before it is merged over its dialect."""

    data: Mapping[str, Any]
    document: Document
    statements: dict[str, tuple[Step, ...]]
    sets: dict[str, dict[str, tuple[Step, ...]]]


LibraryLookup = Callable[[str], Path]
# Answers whether a file was already validated against the schema (yamldb's own shipped files).
Prevalidated = Callable[[Path], bool] | None


def _steps(document: Document, path: tuple, value: Any) -> tuple[Step, ...]:
    items = [value] if isinstance(value, str) else list(value)
    steps = []
    for index, item in enumerate(items):
        item_path = path if isinstance(value, str) else (*path, index)
        if isinstance(item, str):
            steps.append(
                Step(
                    sql=item,
                    location=document.value_location(item_path),
                    locate=partial(document.scalar_offset_location, item_path),
                )
            )
        else:
            sql_path = (*item_path, "sql")
            steps.append(
                Step(
                    sql=item["sql"],
                    transaction=item.get("transaction", True),
                    on_error=item.get("on_error", "abort"),
                    split=item.get("split", True),
                    execute_results=item.get("execute_results", False),
                    location=document.value_location(sql_path),
                    locate=partial(document.scalar_offset_location, sql_path),
                )
            )
    return tuple(steps)


def _statement_set(document: Document, path: tuple, data: Mapping[str, Any]) -> dict[str, tuple[Step, ...]]:
    return {op: _steps(document, (*path, op), data[op]) for op in OPERATIONS if op in data}


def _read(
    path: Path, display: str | None, prevalidated: Prevalidated = None
) -> tuple[_Partial | None, list[ManifestError]]:
    # yamldb's own dialects and examples are part of the installation: an operator's lower limit
    # (meant for the manifests people write) must not refuse them; the default limits still hold.
    limits = ManifestLimits() if _is_shipped(path) else None
    return _parse(load_yaml_file(path, display, limits), validate=not (prevalidated and prevalidated(path)))


@lru_cache(maxsize=1)
def _shipped_dirs() -> tuple[Path, ...]:
    found = []
    for name in ("dialects", "examples"):
        try:
            found.append(shipped_dir(name).resolve())
        except FileNotFoundError:
            pass
    return tuple(found)


def _is_shipped(path: Path) -> bool:
    return Path(path).resolve().parent in _shipped_dirs()


def _parse(document: Document, validate: bool = True) -> tuple[_Partial | None, list[ManifestError]]:
    if document.data is None:
        return None, [
            ManifestError(
                "the file is empty; a manifest needs at least `yamldb: 1` and `dialect:`", Location(document.file, 1, 1)
            )
        ]
    findings = _schema_findings(document) if validate else []
    findings = findings or _pattern_findings(document)
    if findings:
        return None, findings
    data = document.data
    sets = {name: _statement_set(document, ("sets", name), body) for name, body in data.get("sets", {}).items()}
    return _Partial(data, document, _statement_set(document, ("statements",), data.get("statements", {})), sets), []


def _pattern_findings(document: Document) -> list[ManifestError]:
    """Regular expressions RE2 cannot run (backreferences, look-around), pinned to where they are written."""
    data = document.data
    patterns = [
        (("parameters", name, "pattern"), body["pattern"], body["pattern"])
        for name, body in data.get("parameters", {}).items()
        if isinstance(body.get("pattern"), str)
    ]
    allowed = data.get("username", {}).get("allowed_characters")
    if isinstance(allowed, str):  # used as (?:allowed)*: both must compile
        patterns.append((("username", "allowed_characters"), allowed, f"(?:{allowed})*"))
    findings = []
    for path, written, used in patterns:
        problem = pattern_problem(written) or pattern_problem(used)
        if problem:
            findings.append(
                ManifestError(
                    f"{'.'.join(map(str, path))}: {problem}; patterns use RE2 syntax, which matches in linear time "
                    "and has no backreferences or look-around",
                    document.value_location(path),
                )
            )
    return findings


def _dialect(data: Mapping[str, Any], source: str) -> Dialect:
    quoting = dict(data.get("quoting", {}))
    for key in ("identifier_quotes", "string_quotes"):
        if key in quoting:
            quoting[key] = tuple(quoting[key])
    ident = quoting.get("identifier_quotes", ('"',))
    quoting.setdefault("preferred_identifier_quote", ident[0])
    rules = QuotingRules(max_identifier_length=data.get("max_identifier_length", 0), **quoting)
    return Dialect(
        name=data["name"],
        driver=data["driver"],
        description=data.get("description", ""),
        extra=data.get("extra", ""),
        vault_type=data.get("vault_type", data["name"]),
        url_formats=tuple(data.get("url_formats", ("sqlalchemy",))),
        quoting=rules,
        expiration_format=data.get("expiration_format", "%Y-%m-%d %H:%M:%S%z"),
        verify_query=data.get("verify_query", "SELECT 1"),
        user_exists=data.get("user_exists"),
        list_users=_queries(data.get("list_users")),
        capabilities=Capabilities(**data.get("capabilities", {})),
        unsupported=MappingProxyType(dict(data.get("unsupported", {}))),
        source=source,
    )


def _queries(value: str | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _build(chain: list[_Partial], name: str, source: str) -> Manifest:
    """Merge a chain [dialect file, ..., manifest] into one Manifest (later files win)."""
    data: dict[str, Any] = {}
    statements: dict[str, tuple[Step, ...]] = {}
    sets: dict[str, dict[str, tuple[Step, ...]]] = {}
    for part in chain:
        section = {k: v for k, v in part.data.items() if k not in ("statements", "sets", "dialect")}
        data = _merge(data, section)
        statements.update(part.statements)
        for set_name, body in part.sets.items():
            sets.setdefault(set_name, {}).update(body)
    locations: dict[str, Location] = {}
    for part in chain:  # later files win, as for the values
        for dotted in ("username.template", "username.max_length", "credential_types", "dialect", "name"):
            path = tuple(dotted.split("."))
            node: Any = part.data
            for key in path:
                node = node.get(key) if isinstance(node, Mapping) else None
            if node is not None:
                locations[dotted] = part.document.value_location(path)
    dialect_part = chain[0]
    dialect = _dialect(dialect_part.data["dialect"], dialect_part.document.file)
    # A manifest that keeps users in a table on a database with real logins says so here.
    if "user_exists" in data or "logins" in data or "list_users" in data:
        dialect = replace(
            dialect,
            user_exists=data.get("user_exists", dialect.user_exists),
            list_users=_queries(data["list_users"]) if "list_users" in data else dialect.list_users,
            capabilities=replace(dialect.capabilities, logins=data.get("logins", dialect.capabilities.logins)),
        )
    connection = data.get("connection", {})
    pool = connection.get("pool", {})
    username = data.get("username", {})
    return Manifest(
        name=name,
        description=data.get("description", ""),
        source=source,
        dialect=dialect,
        connection=ConnectionSettings(
            driver=connection.get("driver", dialect.driver),
            url=connection.get("url"),
            pool=PoolSettings(
                max_open_connections=pool.get("max_open_connections", 4),
                max_idle_connections=pool.get("max_idle_connections"),
                max_connection_lifetime=parse_duration(pool.get("max_connection_lifetime", 0)),
                pre_ping=pool.get("pre_ping", True),
                connect_timeout=parse_duration(connection.get("connect_timeout", 10)),
            ),
            connect_args=MappingProxyType(dict(connection.get("connect_args", {}))),
        ),
        username=UsernameRules(
            template=username.get(
                "template", '{{ printf "v-%s-%s-%s" (.RoleName | truncate 8) (random 20) (unix_time) | truncate 63 }}'
            ),
            max_length=username.get("max_length", dialect.quoting.max_identifier_length),
            case=username.get("case", "preserve"),
            allowed_characters=username.get("allowed_characters"),
        ),
        statements=MappingProxyType(statements),
        sets=MappingProxyType({k: MappingProxyType(v) for k, v in sets.items()}),
        parameters=MappingProxyType(
            {
                pname: Parameter(
                    name=pname,
                    default=None
                    if p.get("default") is None
                    else str(p["default"]).lower()
                    if isinstance(p.get("default"), bool)
                    else str(p["default"]),
                    pattern=p.get("pattern"),
                    required=p.get("required", False),
                    description=p.get("description", ""),
                )
                for pname, p in data.get("parameters", {}).items()
            }
        ),
        credential_types=tuple(data.get("credential_types", ("password",))),
        login_check=LoginCheck(**data.get("login_check", {})),
        locations=MappingProxyType(locations),
    )


def _resolve(
    part: _Partial, find_dialect: LibraryLookup, seen: tuple[Path, ...], prevalidated: Prevalidated, origin: Path | None
) -> tuple[list[_Partial] | None, list[ManifestError]]:
    """Follow `dialect:` references from `part` down to the file that defines the dialect.

    Returns the chain [dialect file, ..., part]. `origin` is the file `part` came from; None for text from a
    connection config, whose own `dialect:` must be a name (a config must never make the plugin open a
    path). Files found by name are operator or shipped files and may refer on by name or relative path."""
    chain = [part]
    current = part
    while isinstance(current.data["dialect"], str):
        ref = current.data["dialect"]
        where = current.document.value_location(("dialect",))
        try:
            if ref.endswith((".yaml", ".yml")):
                if origin is None and current is part:
                    return None, [
                        ManifestError(
                            "a manifest given as text (inline, or on standard input) names "
                            "its dialect, not a file (e.g. dialect: postgresql)",
                            where,
                        )
                    ]
                base_path = Path(current.document.file).parent / ref if not Path(ref).is_absolute() else Path(ref)
                if not base_path.exists() and origin is not None:
                    base_path = origin.parent / ref  # relative to the manifest that started the chain
            else:
                base_path = find_dialect(ref)
        except ManifestError as exc:
            return None, [ManifestError(exc.message, where)]
        if base_path.resolve() in seen:
            return None, [ManifestError(f"dialect {ref!r} refers back to itself", where)]
        if not base_path.is_file():
            return None, [ManifestError(f"dialect file {ref!r} not found", where)]
        seen = (*seen, base_path.resolve())
        base, base_findings = _read(base_path, None, prevalidated)
        if base is None:
            return None, base_findings
        chain.insert(0, base)
        current = base
    return chain, []


def check_file(
    path: Path,
    find_dialect: LibraryLookup,
    display: str | None = None,
    _seen: tuple[Path, ...] = (),
    prevalidated: Prevalidated = None,
) -> tuple[Manifest | None, list[ManifestError]]:
    """Load a manifest and every file it builds on; return it with all findings.

    Files for which `prevalidated` answers True skip the JSON Schema check (files shipped inside yamldb,
    validated by its own test suite); every other check still runs."""
    part, findings = _read(path, display, prevalidated)
    if part is None:
        return None, findings
    chain, findings = _resolve(part, find_dialect, (*_seen, path.resolve()), prevalidated, Path(path))
    if chain is None:
        return None, findings
    name = part.data.get("name") or Path(path).stem
    return _build(chain, name, part.document.file), []


def check_text(
    text: str,
    display: str,
    find_dialect: LibraryLookup,
    prevalidated: Prevalidated = None,
) -> tuple[Manifest | None, list[ManifestError]]:
    """A manifest given as text (inline in a connection config), resolved like a file (its own dialect must
    be a name: text from a config must never make the plugin open a file path)."""
    try:
        part, findings = _parse(load_yaml(text, display))
    except ManifestError as exc:
        return None, [exc]
    if part is None:
        return None, findings
    chain, findings = _resolve(part, find_dialect, (), prevalidated, None)
    if chain is None:
        return None, findings
    return _build(chain, part.data.get("name") or display, display), []


def load_file(
    path: Path, find_dialect: LibraryLookup, display: str | None = None, prevalidated: Prevalidated = None
) -> Manifest:
    manifest, findings = check_file(path, find_dialect, display, prevalidated=prevalidated)
    if findings:
        raise findings[0]
    assert manifest is not None
    return manifest


def _schema_findings(document: Document) -> list[ManifestError]:
    # Imported here: shipped manifests are validated at build time, and a plugin serving only those never
    # needs jsonschema's error rendering (0.5 MB of its resident memory).
    from yamldb.manifest.schema_errors import schema_findings

    return schema_findings(document, manifest_schema())
