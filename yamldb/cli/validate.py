"""`yamldb validate`: collect findings for every manifest, then report them in one format.

Paths are files, directories (every *.yaml and *.yml below them) or `-` for standard input. A path that
holds no manifest is a usage error (exit 2): a typo in a CI job must not pass as "0 problems".
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from yamldb.errors import ConfigError, Location, ManifestError, YamldbError
from yamldb.manifest.library import ManifestLibrary
from yamldb.manifest.limits import ManifestLimits
from yamldb.manifest.loader import check_file, check_text
from yamldb.manifest.model import Manifest
from yamldb.manifest.yamlsource import decode_utf8
from yamldb.templates.checks import manifest_findings

__all__ = ["STDIN", "Finding", "collect", "run_validate"]

STDIN = "<stdin>"
# A finding that names where in the manifest it is: "sets.readonly.create: placeholder ...".
_PATH_PREFIX = re.compile(r"^([A-Za-z0-9_.\[\]-]+): (.+)$", re.DOTALL)


@dataclass(frozen=True)
class Finding:
    location: Location
    message: str


def _files(raw: str) -> tuple[list[Path], str | None]:
    """The manifests a path argument stands for, or why it stands for none."""
    path = Path(raw)
    if path.is_dir():
        found = sorted(p for p in path.rglob("*.y*ml") if p.suffix in (".yaml", ".yml"))
        return found, None if found else f"{raw}: no manifests found (no *.yaml or *.yml files in this directory)"
    if path.is_file():
        return [path], None
    return [], f"{raw}: no such file or directory"


def _read_stdin(stream: BinaryIO, library: ManifestLibrary) -> tuple[Manifest | None, list[ManifestError]]:
    limits = ManifestLimits.from_environment()
    raw = stream.read(limits.max_bytes + 1)  # never more than the limit, whatever is piped in
    reason = limits.too_large(len(raw), known=False)
    if reason:
        return None, [ManifestError(reason, Location(STDIN))]
    try:
        return check_text(decode_utf8(raw, STDIN), STDIN, library.dialect_path)
    except ManifestError as exc:
        return None, [exc]


def _once(findings: list[Finding]) -> list[Finding]:
    """One finding per place and problem. A value under a YAML anchor is checked once per alias that
    reaches it, each time at the anchor's position: report it there once, naming the other paths."""
    kept: dict[tuple[Location, str], Finding] = {}
    also: dict[tuple[Location, str], list[str]] = {}
    for finding in findings:
        match = _PATH_PREFIX.match(finding.message)
        path, detail = (match[1], match[2]) if match else (None, finding.message)
        key = (finding.location, detail)
        if key not in kept:
            kept[key], also[key] = finding, []
        elif path and path not in also[key]:
            also[key].append(path)
    return [
        replace(f, message=f"{f.message} (also reached as {', '.join(also[k])} through a YAML alias)") if also[k] else f
        for k, f in kept.items()
    ]


def collect(paths: list[str], stdin: BinaryIO | None = None) -> tuple[list[Finding], list[str], list[str]]:
    """Findings for every manifest under `paths` (`-`: `stdin`); also the sources checked and usage errors."""
    library = ManifestLibrary()
    sources: list[Path | str] = []
    usage: list[str] = []
    for raw in paths:
        if raw == "-":
            if STDIN not in sources:
                sources.append(STDIN)
            continue
        files, problem = _files(raw)
        sources += files
        if problem:
            usage.append(problem)
    findings: list[Finding] = []
    for source in sources:
        name = str(source)
        try:
            if source == STDIN:
                manifest, errors = _read_stdin(stdin or sys.stdin.buffer, library)
            else:
                manifest, errors = check_file(Path(source), library.dialect_path, name)
        except ManifestError as exc:  # YAML that does not parse: already carries file:line:col
            errors, manifest = [exc], None
        except YamldbError as exc:
            errors, manifest = [ManifestError(str(exc), Location(name))], None
        if manifest is not None:
            errors = [*errors, *manifest_findings(manifest)]
        findings += _once([Finding(e.location or Location(name), e.message) for e in errors])
    return findings, [str(s) for s in sources], usage


def run_validate(paths: list[str], fmt: str) -> int:
    try:
        ManifestLimits.from_environment()  # a bad YAMLDB_MAX_MANIFEST_* is the caller's mistake, not the files'
    except ConfigError as exc:
        print(f"yamldb validate: {exc}", file=sys.stderr)
        return 2
    findings, files, usage = collect(paths)
    for message in usage:
        print(f"yamldb validate: {message}", file=sys.stderr)
    if usage:
        return 2
    if fmt == "json":
        print(
            json.dumps(
                {
                    "files": files,
                    "findings": [
                        {
                            "file": f.location.file,
                            "line": f.location.line,
                            "column": f.location.column,
                            "message": f.message,
                        }
                        for f in findings
                    ],
                },
                indent=2,
            )
        )
    elif fmt == "github":
        for f in findings:
            print(
                f"::error file={f.location.file},line={f.location.line or 1},col={f.location.column or 1}::{f.message}"
            )
    else:
        for f in findings:
            print(f"{f.location}: {f.message}")
        print(f"{len(files)} file(s) checked, {len(findings)} problem(s)", file=sys.stderr)
    return 1 if findings else 0
