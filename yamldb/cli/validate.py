"""`yamldb validate`: collect findings for every manifest, then report them in one format."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from yamldb.errors import Location, ManifestError, YamldbError
from yamldb.manifest.library import ManifestLibrary
from yamldb.manifest.loader import check_file
from yamldb.templates.checks import manifest_findings


@dataclass(frozen=True)
class Finding:
    location: Location
    message: str


def collect(paths: list[str]) -> tuple[list[Finding], list[str], list[str]]:
    """Findings for every manifest under `paths`; also the files checked and usage errors."""
    library = ManifestLibrary()
    files: list[Path] = []
    usage: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*.y*ml") if p.suffix in (".yaml", ".yml"))
        elif path.is_file():
            files.append(path)
        else:
            usage.append(f"{raw}: no such file or directory")
    findings: list[Finding] = []
    for file in files:
        try:
            manifest, errors = check_file(file, library.dialect_path, str(file))
        except ManifestError as exc:  # YAML that does not parse: already carries file:line:col
            errors, manifest = [exc], None
        except YamldbError as exc:
            errors, manifest = [ManifestError(str(exc), Location(str(file)))], None
        findings += [Finding(e.location or Location(str(file)), e.message) for e in errors]
        if manifest is not None:
            findings += [Finding(e.location or Location(str(file)), e.message) for e in manifest_findings(manifest)]
    return findings, [str(f) for f in files], usage


def run_validate(paths: list[str], fmt: str) -> int:
    import sys

    findings, files, usage = collect(paths)
    for message in usage:
        print(f"yamldb validate: {message}", file=sys.stderr)
    if usage:
        return 2
    if fmt == "json":
        print(json.dumps({"files": files, "findings": [
            {"file": f.location.file, "line": f.location.line, "column": f.location.column, "message": f.message}
            for f in findings]}, indent=2))
    elif fmt == "github":
        for f in findings:
            print(f"::error file={f.location.file},line={f.location.line or 1},col={f.location.column or 1}::"
                  f"{f.message}")
    else:
        for f in findings:
            print(f"{f.location}: {f.message}")
        print(f"{len(files)} file(s) checked, {len(findings)} problem(s)", file=sys.stderr)
    return 1 if findings else 0
