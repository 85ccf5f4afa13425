"""Compile manifest steps and Vault role statements into renderable operations.

Each operation may use only the placeholders that exist for it (a password is
never available to `revoke`), plus the manifest's parameters; anything else is
a TemplateError raised when the manifest or role statements are compiled, not
when a user is half created.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, partial

from yamldb.errors import Location, TemplateError
from yamldb.manifest.model import Step
from yamldb.manifest.quoting import QuotingRules
from yamldb.templates.sql import StatementTemplate

__all__ = [
    "MASKED",
    "PLACEHOLDERS",
    "SECRETS",
    "CompiledStep",
    "Operation",
    "PlanError",
    "RenderedStep",
    "compile_role_statements",
    "compile_steps",
]

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
    transaction: bool = True
    on_error: str = "abort"  # "abort" | "continue" | "warn"
    # Renders the same statements with secrets masked; only called when a message needs them,
    # because filters such as scram_sha256 are costly to run twice per request.
    masked: Callable[[], tuple[str, ...]] | None = field(default=None, compare=False, repr=False)
    execute_results: bool = False  # each statement is a query; every row's first column is a statement to run

    @cached_property
    def display(self) -> tuple[str, ...]:
        """The statements with secrets masked: safe for errors, logs and `yamldb render`."""
        return self.masked() if self.masked is not None else self.statements

    def with_on_error(self, on_error: str) -> RenderedStep:
        return RenderedStep(self.statements, self.transaction, on_error, self.masked, self.execute_results)


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
    execute_results: bool = False


class Operation:
    """The compiled steps of one operation, ready to render with values."""

    def __init__(self, name: str, steps: Sequence[CompiledStep]) -> None:
        self.name = name
        self.steps = tuple(steps)
        # Asked on every request: computed once.
        self._placeholders = frozenset(p.name for step in self.steps for p in step.template.placeholders)
        self._filters: dict[str, frozenset[str]] = {}

    def __bool__(self) -> bool:
        return bool(self.steps)

    def placeholders(self) -> frozenset[str]:
        return self._placeholders

    def filters_of(self, name: str) -> frozenset[str]:
        found = self._filters.get(name)
        if found is None:
            found = self._filters[name] = frozenset(
                f for step in self.steps for p in step.template.placeholders if p.name == name for f in p.filters
            )
        return found

    def render(self, values: Mapping[str, str]) -> tuple[RenderedStep, ...]:
        return tuple(
            RenderedStep(
                _render_step(step, values),
                step.transaction,
                step.on_error,
                partial(_render_masked, step, values),
                step.execute_results,
            )
            for step in self.steps
        )


def _render_masked(step: CompiledStep, values: Mapping[str, str]) -> tuple[str, ...]:
    # Only when a message shows the statement: the secrets replaced by their masks.
    return _render_step(step, {**values, **{k: v for k, v in MASKED.items() if k in values}})


def _render_step(step: CompiledStep, values: Mapping[str, str]) -> tuple[str, ...]:
    statements = step.template.render(values)
    if not step.split and len(statements) > 1:
        # One batch, as the manifest asks; the ';' on its own line so a trailing -- comment cannot swallow it.
        return ("\n;\n".join(statements),)
    return tuple(statements)


def _check_names(
    template: StatementTemplate, operation: str, parameters: Iterable[str], location: Location | None
) -> None:
    allowed = PLACEHOLDERS[operation] | set(parameters)
    for placeholder in template.placeholders:
        if placeholder.name not in allowed:
            known = ", ".join(sorted(allowed))
            why = " (secrets are not available here)" if placeholder.name in SECRETS else ""
            close = difflib.get_close_matches(placeholder.name, sorted(allowed), n=1)
            why += f' (did you mean "{close[0]}"?)' if close and not why else ""
            raise PlanError(
                f"placeholder {{{{{placeholder.name}}}}} is not available in {operation}{why}; available: {known}",
                location,
                placeholder.position,
            )


def compile_steps(
    steps: Sequence[Step], operation: str, rules: QuotingRules, parameters: Iterable[str] = ()
) -> Operation:
    """Compile manifest steps; errors carry the step's file:line:col."""
    params = tuple(parameters)
    compiled = []
    for step in steps:
        try:
            template = StatementTemplate.parse(step.sql, rules)
        except TemplateError as exc:
            raise PlanError(exc.message, step.location_of(exc.position), exc.position) from None
        try:
            _check_names(template, operation, params, None)
        except PlanError as exc:
            raise PlanError(exc.detail, step.location_of(exc.position), exc.position) from None
        compiled.append(CompiledStep(template, step.transaction, step.on_error, step.split, step.execute_results))
    return Operation(operation, compiled)


def compile_role_statements(
    texts: Sequence[str],
    operation: str,
    rules: QuotingRules,
    parameters: Iterable[str] = (),
    *,
    on_error: str = "abort",
) -> Operation:
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
