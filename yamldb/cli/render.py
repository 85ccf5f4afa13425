"""`yamldb render`: the exact SQL an operation would run, for sample values."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from yamldb.errors import YamldbError
from yamldb.manifest.library import ManifestLibrary
from yamldb.manifest.loader import load_file
from yamldb.templates.gotemplate import UsernameTemplate
from yamldb.templates.plan import MASKED, compile_steps
from yamldb.templates.username_rules import generate_username

__all__ = ["SAMPLE_PASSWORD", "SAMPLE_PUBLIC_KEY", "run_render"]

SAMPLE_PASSWORD = "A1a-sample-password-from-vault"
SAMPLE_PUBLIC_KEY = (
    "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAsample\n-----END PUBLIC KEY-----"
)


def run_render(
    manifest_ref: str, operation: str, role: str | None, params: dict[str, str], display_name: str, show_secrets: bool
) -> int:
    library = ManifestLibrary.from_environment()  # the same YAMLDB_MANIFEST_DIRS the plugin is given
    try:
        path = Path(manifest_ref)
        manifest = (
            load_file(path, library.dialect_path) if path.suffix in (".yaml", ".yml") else library.load(manifest_ref)
        )
        unknown = set(params) - set(manifest.parameters)
        if unknown:
            print(
                f"yamldb render: unknown parameter(s) {', '.join(sorted(unknown))}; "
                f"the manifest has: {', '.join(manifest.parameters) or 'none'}",
                file=sys.stderr,
            )
            return 2
        steps = manifest.steps(operation, role if role in manifest.sets else None)
        if not steps:
            reason = manifest.dialect.unsupported.get(operation, "the manifest defines no statements for it")
            print(f"-- {operation}: nothing to run ({reason})")
            return 0
        op = compile_steps(steps, operation, manifest.dialect.quoting, manifest.parameters)
        username = generate_username(
            manifest.username, UsernameTemplate.parse(manifest.username.template), display_name, role or "role"
        )
        expiration = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime(manifest.dialect.expiration_format)
        values = {p.name: p.default or "" for p in manifest.parameters.values()} | params
        values |= {
            "name": username,
            "username": username,
            "password": SAMPLE_PASSWORD,
            "expiration": expiration,
            "public_key": SAMPLE_PUBLIC_KEY,
            "subject": "CN=sample",
            "database": "appdb",
        }
        rendered = op.render(values)
    except YamldbError as exc:
        print(f"yamldb render: {exc}", file=sys.stderr)
        return 1
    print(
        f"-- {manifest.name} ({manifest.dialect.name}): {operation}"
        + (f", statement set {role}" if role in manifest.sets else "")
    )
    if not show_secrets:
        print(f"-- secrets shown as {MASKED['password']}; --show-secrets prints the sample values")
    for step in rendered:
        mode = "in the transaction" if step.transaction else "alone, autocommit"
        print(f"-- step ({mode}, on error: {step.on_error})")
        for statement in step.statements if show_secrets else step.display:
            print(statement.rstrip().rstrip(";") + ";")
    return 0
