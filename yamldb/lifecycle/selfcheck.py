"""Run a manifest's whole lifecycle against a live database, step by step (`yamldb check`).

create → log in → renew → rotate → log in with the new password → revoke → gone.
Each step is timed; the first failure stops the run, and whatever was created is
removed again before returning.
"""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from yamldb.engine.executor import StepFailed
from yamldb.errors import DatabaseError, YamldbError
from yamldb.lifecycle import requests as rq
from yamldb.lifecycle.database import ManifestDatabase


@dataclass
class CheckStep:
    name: str
    status: str  # "ok" | "failed" | "skipped"
    ms: float = 0.0
    detail: str = ""
    statement: str = ""


def vault_like_password(length: int = 20) -> str:
    """Like Vault's default policy: letters, digits and '-', at least one of each kind."""
    alphabet = string.ascii_letters + string.digits + "-"
    while True:
        value = "".join(secrets.choice(alphabet) for _ in range(length))
        if (
            any(c.islower() for c in value)
            and any(c.isupper() for c in value)
            and any(c.isdigit() for c in value)
            and "-" in value
        ):
            return value


class SelfCheck:
    def __init__(
        self,
        db: ManifestDatabase,
        config: Mapping[str, Any],
        role: str | None = None,
        on_step: Callable[[CheckStep], None] | None = None,
    ) -> None:
        self.db = db
        self.config = dict(config)
        self.role = role
        self.on_step = on_step or (lambda step: None)
        self.steps: list[CheckStep] = []
        self.username: str | None = None
        self.revoked = False

    def _step(self, name: str, action: Callable[[], str | None]) -> bool:
        started = time.monotonic()
        try:
            detail = action() or ""
            step = CheckStep(name, "ok", (time.monotonic() - started) * 1000, detail)
        except _Skip as skip:
            step = CheckStep(name, "skipped", 0.0, str(skip))
        except YamldbError as exc:
            step = CheckStep(
                name, "failed", (time.monotonic() - started) * 1000, str(exc), getattr(exc, "statement", "")
            )
        self.steps.append(step)
        self.on_step(step)
        return step.status != "failed"

    def run(self) -> list[CheckStep]:
        password, new_password = vault_like_password(), vault_like_password()
        statements = (f"yamldb:{self.role}",) if self.role else ()
        try:
            ok = self._step("connect", lambda: self._connect())
            ok = ok and self._step("create", lambda: self._create(password, statements))
            ok = ok and self._step("log in", lambda: self._login(password))
            ok = ok and self._step("renew", lambda: self._renew(statements))
            ok = ok and self._step("rotate", lambda: self._rotate(new_password))
            ok = ok and self._step("log in with the new password", lambda: self._login(new_password, password))
            ok = ok and self._step("revoke", lambda: self._revoke(statements))
            ok = ok and self._step("user gone", lambda: self._gone(new_password))
        finally:
            if self.username and not self.revoked:
                self._step("clean up", lambda: self._revoke(statements))
            self.db.close()
        return self.steps

    @property
    def passed(self) -> bool:
        return all(step.status != "failed" for step in self.steps)

    def _connect(self) -> str:
        self.db.initialize(self.config, True)
        manifest = self.db.manifest
        return f"manifest {manifest.name}, dialect {manifest.dialect.name}"

    def _create(self, password: str, statements: tuple[str, ...]) -> str:
        self.username = self.db.new_user(
            rq.NewUser(
                display_name="check",
                role_name=self.role or "check",
                expiration=datetime.now(timezone.utc) + timedelta(hours=1),
                statements=statements,
                password=password,
            )
        )
        return self.username

    def _login(self, password: str, old_password: str | None = None) -> str:
        if not self.db.manifest.dialect.capabilities.logins:
            raise _Skip(f"{self.db.manifest.dialect.name} users do not log in to the database")
        assert self.username is not None
        self.db.login(self.username, password)
        if old_password is not None:
            try:
                self.db.login(self.username, old_password)
            except DatabaseError:
                return "the old password is refused"
            raise DatabaseError(
                "the old password still works after the rotation "
                "(does the server check passwords at all, e.g. trust authentication?)"
            )
        return ""

    def _renew(self, statements: tuple[str, ...]) -> str:
        manifest = self.db.manifest
        if not manifest.steps("renew", self.role):
            raise _Skip(manifest.dialect.unsupported.get("renew", "the manifest has no renew statements"))
        assert self.username is not None
        self.db.update_user(
            rq.UpdateUser(
                self.username,
                expiration=rq.ExpirationChange(datetime.now(timezone.utc) + timedelta(hours=2), statements),
            )
        )
        return ""

    def _rotate(self, new_password: str) -> str:
        assert self.username is not None
        self.db.update_user(rq.UpdateUser(self.username, password=rq.PasswordChange(new_password)))
        return ""

    def _revoke(self, statements: tuple[str, ...]) -> str:
        assert self.username is not None
        self.db.delete_user(rq.DeleteUser(self.username, statements))
        self.revoked = True
        return ""

    def _gone(self, password: str) -> str:
        assert self.username is not None
        exists = self.db.user_exists(self.username)
        if exists:
            raise DatabaseError(f"{self.username} still exists after revocation")
        if exists is None:
            try:
                self.db.login(self.username, password)
            except DatabaseError:
                return "login refused"
            raise DatabaseError(f"{self.username} can still log in after revocation")
        return "not found by the dialect's user_exists query"


class _Skip(YamldbError):
    """A check that does not apply to this manifest; caught in this module, never raised out of it."""


__all__ = ["CheckStep", "SelfCheck", "StepFailed", "vault_like_password"]
