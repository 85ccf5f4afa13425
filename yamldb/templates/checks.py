"""Compile a manifest once and check what its schema cannot: templates that parse, placeholders each
operation may use, what the dialect can do, and usernames that fit the dialect's limit.

Shared by `yamldb validate` and the plugin's Initialize, so CI and the server agree; Initialize keeps
the compiled operations for every later request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from yamldb.errors import Location, ManifestError, TemplateError
from yamldb.manifest.model import Manifest, Step
from yamldb.templates.gotemplate import UsernameTemplate
from yamldb.templates.plan import Operation, PlanError, compile_steps

__all__ = ["CompiledManifest", "check_username_template", "compile_manifest", "manifest_findings"]

# Long enough to expose a template that never truncates; Vault display names can be long.
_LONG_NAME = "x" * 512
_NEEDS = {"password": "password", "rsa_private_key": "public_key", "client_certificate": "subject"}


def _where(manifest: Manifest, key: str) -> Location:
    return manifest.locations.get(key) or Location(manifest.source)


@dataclass(frozen=True)
class CompiledManifest:
    """Every operation of a manifest compiled, keyed by (operation, statement set or None)."""

    manifest: Manifest
    operations: Mapping[tuple[str, str | None], Operation] = field(default_factory=dict)
    user_exists: Operation | None = None  # the dialect's user_exists query, compiled like a revoke
    findings: tuple[ManifestError, ...] = ()

    def operation(self, name: str, set_name: str | None = None) -> Operation:
        """A set's own statements for `name` if it has them, else the manifest's defaults (maybe none)."""
        if set_name is not None and (name, set_name) in self.operations:
            return self.operations[(name, set_name)]
        return self.operations.get((name, None)) or Operation(name, ())


def compile_manifest(manifest: Manifest) -> CompiledManifest:
    """Compile every operation of the manifest and its sets; problems become findings, not exceptions."""
    findings: list[ManifestError] = []
    rules = manifest.dialect.quoting
    operations: dict[tuple[str, str | None], Operation] = {}
    groups = [(None, manifest.statements), *manifest.sets.items()]
    for set_name, body in groups:
        prefix = f"sets.{set_name}." if set_name else ""
        for op, steps in body.items():
            try:
                operations[(op, set_name)] = compile_steps(steps, op, rules, manifest.parameters)
            except PlanError as exc:
                findings.append(ManifestError(f"{prefix}{op}: {exc.detail}", exc.location))
                continue
            reason = manifest.dialect.unsupported.get(op)
            if reason and steps:
                findings.append(
                    ManifestError(
                        f"{prefix}{op}: dialect {manifest.dialect.name} does not support this operation: {reason}",
                        steps[0].location,
                    )
                )

    creates = [operation for (op, _), operation in operations.items() if op == "create"]
    if creates:  # a role may also bring its own statements, so only judge manifests that define create
        used = set().union(*(operation.placeholders() for operation in creates))
        for kind in manifest.credential_types:
            if _NEEDS[kind] not in used:
                findings.append(
                    ManifestError(
                        f"credential_types lists {kind}, but no create statements (default or in a set) "
                        f"use {{{{{_NEEDS[kind]}}}}}",
                        _where(manifest, "credential_types"),
                    )
                )

    user_exists = None
    if manifest.dialect.user_exists:
        try:
            user_exists = compile_steps((Step(manifest.dialect.user_exists),), "revoke", rules, manifest.parameters)
        except PlanError as exc:
            findings.append(ManifestError(f"user_exists: {exc.detail}", Location(manifest.dialect.source)))
    return CompiledManifest(manifest, operations, user_exists, tuple(findings))


def check_username_template(manifest: Manifest, text: str) -> UsernameTemplate:
    """Parse the username template that will run and prove its usernames fit the dialect's limit.

    Raises TemplateError; the caller says where the template came from (manifest or config)."""
    template = UsernameTemplate.parse(text)
    longest = template.render(_LONG_NAME, _LONG_NAME)
    limit = manifest.username.max_length
    if limit and len(longest.encode()) > limit:
        raise TemplateError(
            f"can produce {len(longest.encode())}-byte usernames; "
            f"{manifest.dialect.name} allows {limit}: end it with `| truncate {limit}`"
        )
    template.render("", "")  # Vault renders once with empty names to catch execution errors early
    return template


def manifest_findings(manifest: Manifest) -> list[ManifestError]:
    """Everything `yamldb validate` reports for a manifest."""
    findings = list(compile_manifest(manifest).findings)
    try:
        check_username_template(manifest, manifest.username.template)
    except TemplateError as exc:
        findings.append(ManifestError(f"username.template: {exc.message}", _where(manifest, "username.template")))
    return findings
