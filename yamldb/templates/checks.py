"""Checks a manifest must pass beyond its schema: templates that parse, placeholders each operation
may use, what the dialect can do, and usernames that fit the dialect's limit.

Shared by `yamldb validate` and the plugin's Initialize, so CI and the server agree.
"""

from __future__ import annotations

from yamldb.errors import Location, ManifestError, TemplateError
from yamldb.manifest.model import Manifest
from yamldb.templates.gotemplate import UsernameTemplate
from yamldb.templates.plan import Operation, PlanError, compile_steps

# Long enough to expose a template that never truncates; Vault display names can be long.
_LONG_NAME = "x" * 512


def _where(manifest: Manifest, key: str) -> Location:
    return manifest.locations.get(key) or Location(manifest.source)


def manifest_findings(manifest: Manifest) -> list[ManifestError]:
    findings: list[ManifestError] = []
    rules = manifest.dialect.quoting
    compiled: dict[str, Operation] = {}
    groups = [("", dict(manifest.statements))] + [(f"sets.{n}.", dict(b)) for n, b in manifest.sets.items()]
    for prefix, body in groups:
        for op, steps in body.items():
            try:
                operation = compile_steps(steps, op, rules, manifest.parameters)
            except PlanError as exc:
                findings.append(ManifestError(f"{prefix}{op}: {exc.detail}", exc.location))
                continue
            if op == "create":
                compiled[f"{prefix}create"] = operation
            reason = manifest.dialect.unsupported.get(op)
            if reason and steps:
                findings.append(ManifestError(
                    f"{prefix}{op}: dialect {manifest.dialect.name} does not support this operation: {reason}",
                    steps[0].location))

    if compiled:  # a role may also bring its own statements, so only judge manifests that define create
        used = set().union(*(operation.placeholders() for operation in compiled.values()))
        needs = {"password": "password", "rsa_private_key": "public_key", "client_certificate": "subject"}
        for kind in manifest.credential_types:
            if needs[kind] not in used:
                findings.append(ManifestError(
                    f"credential_types lists {kind}, but no create statements (default or in a set) "
                    f"use {{{{{needs[kind]}}}}}", _where(manifest, "credential_types")))

    try:
        template = UsernameTemplate.parse(manifest.username.template)
        longest = template.render(_LONG_NAME, _LONG_NAME)
        limit = manifest.username.max_length
        if limit and len(longest.encode()) > limit:
            findings.append(ManifestError(
                f"username.template can produce {len(longest.encode())}-byte usernames; "
                f"{manifest.dialect.name} allows {limit}: end it with `| truncate {limit}`",
                _where(manifest, "username.template")))
    except TemplateError as exc:
        findings.append(ManifestError(f"username.template: {exc.message}", _where(manifest, "username.template")))
    return findings
