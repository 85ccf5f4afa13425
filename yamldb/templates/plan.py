"""Compile manifest steps and Vault role statements into renderable operations.

Each operation may use only the placeholders that exist for it (a password is
never available to `revoke`), plus the manifest's parameters; anything else is
a TemplateError raised when the manifest or role statements are compiled, not
when a user is half created.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from yamldb.errors import Location, TemplateError
from yamldb.manifest.model import Step
from yamldb.manifest.quoting import QuotingRules
from yamldb.templates.sql import StatementTemplate

_BASE = frozenset({"name", "username", "database"})
PLACEHOLDERS: Mapping[str, frozenset[str]] = {
    "create": _BASE | {"password", "expiration", "public_key", "subject"},
    "renew": _BASE | {"expiration"},
    "rotate": _BASE | {"password", "public_key"},
    "rotate_root": _BASE | {"password"},
    "revoke": _BASE,
    "rollback": _BASE,
}
SECRETS = frozenset({"password"})
MASKED = {"password": "[password]"}


@dataclass(frozen=True)
class RenderedStep:
    statements: tuple[str, ...]
    display: tuple[str, ...]  # secrets masked: safe for errors, logs and `yamldb render`
    transaction: bool = True
    on_error: str = "abort"


class PlanError(TemplateError):
    def __init__(self, message: str, location: Location | None = None, position: int | None = None) -> None:
        super().__init__(f"{location}: {message}" if location else message, position)
        self.location = location
        self.detail = message


@dataclass(frozen=True)
class CompiledStep:
    template: StatementTemplate
    transaction: bool
    on_error: str
    split: bool


class Operation:
    """The compiled steps of one operation, ready to render with values."""

    def __init__(self, name: str, steps: Sequence[CompiledStep]) -> None:
        self.name = name
        self.steps = tuple(steps)

    def __bool__(self) -> bool:
        return bool(self.steps)

    def placeholders(self) -> set[str]:
        return {p.name for step in self.steps for p in step.template.placeholders}

    def filters_of(self, name: str) -> set[str]:
        return {f for step in self.steps for p in step.template.placeholders if p.name == name for f in p.filters}

    def render(self, values: Mapping[str, str]) -> tuple[RenderedStep, ...]:
        masked = {**values, **{k: v for k, v in MASKED.items() if k in values}}
        out = []
        for step in self.steps:
            statements = step.template.render(values)
            display = step.template.render(masked)
            if not step.split and len(statements) > 1:
                statements, display = [";\n".join(statements)], [";\n".join(display)]
            out.append(RenderedStep(tuple(statements), tuple(display), step.transaction, step.on_error))
        return tuple(out)


def _check_names(template: StatementTemplate, operation: str, parameters: Iterable[str],
                 location: Location | None) -> None:
    allowed = PLACEHOLDERS[operation] | set(parameters)
    for placeholder in template.placeholders:
        if placeholder.name not in allowed:
            known = ", ".join(sorted(allowed))
            why = " (secrets are not available here)" if placeholder.name in SECRETS else ""
            raise PlanError(
                f"placeholder {{{{{placeholder.name}}}}} is not available in {operation}{why}; available: {known}",
                location, placeholder.position,
            )


def compile_steps(steps: Sequence[Step], operation: str, rules: QuotingRules,
                  parameters: Iterable[str] = ()) -> Operation:
    """Compile manifest steps; errors carry the step's file:line:col."""
    params = tuple(parameters)
    compiled = []
    for step in steps:
        try:
            template = StatementTemplate.parse(step.sql, rules)
        except TemplateError as exc:
            raise PlanError(exc.message, step.location, exc.position) from None
        _check_names(template, operation, params, step.location)
        compiled.append(CompiledStep(template, step.transaction, step.on_error, step.split))
    return Operation(operation, compiled)


def compile_role_statements(texts: Sequence[str], operation: str, rules: QuotingRules,
                            parameters: Iterable[str] = (), *, on_error: str = "abort") -> Operation:
    """Compile statements carried by a Vault role (already decoded from base64/JSON)."""
    params = tuple(parameters)
    compiled = []
    for index, text in enumerate(texts, 1):
        try:
            template = StatementTemplate.parse(text, rules)
            _check_names(template, operation, params, None)
        except TemplateError as exc:
            raise PlanError(f"{operation} statement {index}: {getattr(exc, 'detail', exc.message)}") from None
        compiled.append(CompiledStep(template, True, on_error, True))
    return Operation(operation, compiled)
