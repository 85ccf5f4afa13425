"""Every shipped dialect and example renders to the SQL pinned in tests/golden/.

Each operation (and each operation of each statement set, and each dialect's
user_exists query) is compiled with the manifest's quoting rules and rendered with
fixed, hostile sample values (parameters: their defaults, else `sample_<name>`);
the display form (secrets masked, SCRAM verifiers reduced to their shape) must
match tests/golden/<manifest>/<op>.sql or tests/golden/<manifest>/<set>.<op>.sql.
Each statement is preceded by `-- <step>.<statement>` and the step's non-default
flags.

Regenerate after an intended change with:

    YAMLDB_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_dialects_golden.py

and review the diff.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest

from yamldb.cli.validate import collect
from yamldb.manifest.library import ManifestLibrary
from yamldb.manifest.model import OPERATIONS, Manifest, Step
from yamldb.templates.plan import PLACEHOLDERS, compile_steps

REPO = Path(__file__).resolve().parents[2]
DIALECTS = REPO / "dialects"
EXAMPLES = REPO / "examples"
GOLDEN = REPO / "tests" / "golden"
UPDATE = os.environ.get("YAMLDB_UPDATE_GOLDEN", "").strip().lower() in ("1", "true", "yes")

USERNAME = "v-token-role-abc'\"\\;--"
PASSWORD = "p@ss'w\"rd\\$$;--"
PUBLIC_KEY = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo\n"
    "4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u\n"
    "-----END PUBLIC KEY-----\n"
)
# Rendered with the dialect's expiration_format ("2030-01-02 03:04:05+0000" for PostgreSQL).
EXPIRATION = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
SAMPLES = {
    "name": USERNAME,
    "username": USERNAME,
    "password": PASSWORD,
    "public_key": PUBLIC_KEY,
    "subject": "CN=test",
    "database": "appdb",
}
# A SCRAM verifier has a random salt; golden files show its shape.
SCRAM = re.compile(r"SCRAM-SHA-256\$\d+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+")
SCRAM_SHAPE = "SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>"


def _names(directory: Path) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.yaml"))


DIALECT_NAMES = _names(DIALECTS)
MANIFESTS = DIALECT_NAMES + _names(EXAMPLES)
USER_EXISTS = "user_exists"


def _values(manifest: Manifest, operation: str) -> dict[str, str]:
    samples = {**SAMPLES, "expiration": EXPIRATION.strftime(manifest.dialect.expiration_format)}
    values = {k: v for k, v in samples.items() if k in PLACEHOLDERS[operation]}
    for name, parameter in manifest.parameters.items():
        values[name] = parameter.default if parameter.default is not None else f"sample_{name}"
    return values


def _render(manifest: Manifest, operation: str, set_name: str | None) -> str:
    title = f"{manifest.name}: {operation}" + (f" (set {set_name})" if set_name else "")
    if operation == USER_EXISTS:
        # The dialect's existence query is compiled like a revoke statement.
        steps: tuple[Step, ...] = (Step(manifest.dialect.user_exists or ""),)
        operation = "revoke"
    else:
        steps = manifest.sets[set_name][operation] if set_name else manifest.statements[operation]
    compiled = compile_steps(steps, operation, manifest.dialect.quoting, manifest.parameters)
    values = _values(manifest, operation)
    rendered = compiled.render(values)
    lines = [f"-- {title}"]
    for number, step in enumerate(rendered, 1):
        flags = []
        if not step.transaction:
            flags.append("transaction: false")
        if step.on_error != "abort":
            flags.append(f"on_error: {step.on_error}")
        if step.execute_results:
            flags.append("execute_results: true")
        for index, (real, shown) in enumerate(zip(step.statements, step.display, strict=True), 1):
            assert "p@ss" not in shown, f"{title}: the password is visible in the display form"
            if "password" not in values:
                assert real == shown, f"{title}: display differs from the statement without a secret"
            suffix = f" ({', '.join(flags)})" if flags and index == 1 else ""
            lines.append(f"\n-- {number}.{index}{suffix}")
            lines.append(SCRAM.sub(lambda _m: SCRAM_SHAPE, shown))
    return "\n".join(lines) + "\n"


def _cases() -> list[tuple[str, str, str | None]]:
    library = ManifestLibrary()
    cases = []
    for name in MANIFESTS:
        manifest = library.load(name)
        cases += [(name, op, None) for op in OPERATIONS if manifest.statements.get(op)]
        if manifest.dialect.user_exists and name in DIALECT_NAMES:
            cases.append((name, USER_EXISTS, None))
        for set_name, body in sorted(manifest.sets.items()):
            cases += [(name, op, set_name) for op in OPERATIONS if body.get(op)]
    return cases


CASES = _cases()


def _golden_path(name: str, operation: str, set_name: str | None) -> Path:
    return GOLDEN / name / (f"{set_name}.{operation}.sql" if set_name else f"{operation}.sql")


@pytest.mark.parametrize(
    ("name", "operation", "set_name"), CASES, ids=[f"{n}-{s + '.' if s else ''}{o}" for n, o, s in CASES]
)
def test_rendering_matches_golden(name: str, operation: str, set_name: str | None) -> None:
    manifest = ManifestLibrary().load(name)
    text = _render(manifest, operation, set_name)
    path = _golden_path(name, operation, set_name)
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.is_file(), f"{path.relative_to(REPO)} is missing; run with YAMLDB_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8")


def test_no_stale_golden_files() -> None:
    expected = {_golden_path(*case) for case in CASES}
    stale = sorted(p for p in GOLDEN.rglob("*.sql") if p not in expected)
    if UPDATE:
        for path in stale:
            path.unlink()
        for directory in GOLDEN.iterdir():
            if directory.is_dir() and not any(directory.iterdir()):
                directory.rmdir()
        return
    assert not stale, f"golden files for operations that no longer exist: {[str(p.relative_to(REPO)) for p in stale]}"


def test_every_manifest_has_golden_files() -> None:
    assert {case[0] for case in CASES} >= set(MANIFESTS) - {"db2"}  # db2 ships no statements


def test_shipped_manifests_validate_clean() -> None:
    findings, files, usage = collect([str(DIALECTS), str(EXAMPLES)])
    assert not usage
    assert len(files) == len(MANIFESTS)
    assert not findings, "\n".join(f"{f.location}: {f.message}" for f in findings)


def test_examples_do_not_shadow_dialects() -> None:
    # The library looks in dialects/ first: an example with a dialect's name would be unreachable.
    assert not set(_names(DIALECTS)) & set(_names(EXAMPLES))


@pytest.mark.parametrize("name", MANIFESTS)
def test_manifest_header_and_schema_line(name: str) -> None:
    path = DIALECTS / f"{name}.yaml" if (DIALECTS / f"{name}.yaml").is_file() else EXAMPLES / f"{name}.yaml"
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../schemas/manifest.schema.json"


# Operations a dialect leaves to the manifests built on it (neither defaults nor `unsupported`).
LEFT_TO_MANIFESTS = {"db2": {"create", "rotate", "rotate_root", "revoke", "rollback"}}


@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_dialect_declares_every_operation(name: str) -> None:
    """An operation without default statements must say why in dialect.unsupported."""
    manifest = ManifestLibrary().load(name)
    for operation in OPERATIONS:
        if operation in LEFT_TO_MANIFESTS.get(name, ()):
            assert not manifest.statements.get(operation) and operation not in manifest.dialect.unsupported
            continue
        has_statements = bool(manifest.statements.get(operation))
        assert has_statements or operation in manifest.dialect.unsupported, (
            f"{name}: {operation} has neither default statements nor an `unsupported` reason"
        )


def test_db2_manifest_can_bring_its_own_statements(tmp_path: Path) -> None:
    # The way dialects/db2.yaml tells users to work (Amazon RDS for Db2 procedures).
    manifest = tmp_path / "db2-rds.yaml"
    manifest.write_text(
        "yamldb: 1\n"
        "dialect: db2\n"
        "statements:\n"
        "  create: [\"CALL rdsadmin.add_user('{{username}}', '{{password}}', 'MYGROUP')\"]\n"
        "  rotate: [\"CALL rdsadmin.change_password('{{username}}', '{{password}}')\"]\n"
        "  revoke: [\"CALL rdsadmin.remove_user('{{username}}')\"]\n",
        encoding="utf-8",
    )
    findings, _files, usage = collect([str(manifest)])
    assert not usage and not findings, [f.message for f in findings]
