"""`yamldb check`: a manifest's whole lifecycle against a live database, for CI."""

from __future__ import annotations

import sys
from pathlib import Path

from yamldb.errors import YamldbError
from yamldb.lifecycle.database import ManifestDatabase
from yamldb.lifecycle.selfcheck import CheckStep, SelfCheck
from yamldb.manifest.library import ManifestLibrary
from yamldb.manifest.loader import load_file

__all__ = ["MARK", "run_check"]

MARK = {"ok": "ok", "failed": "FAILED", "skipped": "skipped"}


def _print(step: CheckStep) -> None:
    timing = f"{step.ms:7.1f} ms" if step.status != "skipped" else " " * 10
    line = f"  {MARK[step.status]:<8} {timing}  {step.name}"
    if step.detail:
        line += f": {step.detail}" if step.status != "failed" else ""
    print(line, flush=True)
    if step.status == "failed":
        if step.statement:
            print(f"           statement: {step.statement}")
        print(f"           error: {step.detail}")


def run_check(
    manifest_ref: str, connection_url: str, username: str, password: str, role: str | None, params: dict[str, str]
) -> int:
    library = ManifestLibrary.from_environment()  # the same YAMLDB_MANIFEST_DIRS the plugin is given
    config = {"connection_url": connection_url, "username": username, "password": password, "parameters": params}
    try:
        path = Path(manifest_ref)
        if path.suffix in (".yaml", ".yml"):
            db = ManifestDatabase(library, manifest=load_file(path, library.dialect_path))
        else:
            db = ManifestDatabase(library)
            config["manifest"] = manifest_ref
    except YamldbError as exc:
        print(f"yamldb check: {exc}", file=sys.stderr)
        return 1
    print(f"yamldb check {manifest_ref}" + (f" (statement set {role})" if role else ""))
    check = SelfCheck(db, config, role, on_step=_print)
    steps = check.run()
    total = sum(s.ms for s in steps)
    print(f"{'passed' if check.passed else 'FAILED'} in {total:.0f} ms")
    return 0 if check.passed else 1
