"""The v5 database operations for one connection config, in plain Python.

Initialize picks the manifest and opens the pool; NewUser/UpdateUser/DeleteUser
render the role's statements (or the manifest's) and run them. Nothing here
knows about gRPC.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import threading
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from yamldb.errors import ConfigError, DatabaseError, ManifestError, TemplateError, YamldbError
from yamldb.lifecycle import requests as rq
from yamldb.lifecycle.config import ConnectionConfig
from yamldb.lifecycle.sweep import PeriodicSweep
from yamldb.manifest.library import ManifestLibrary
from yamldb.manifest.loader import check_text
from yamldb.manifest.model import Manifest, Step
from yamldb.manifest.patterns import fullmatch
from yamldb.redact import Scrubber, mask_url
from yamldb.templates.checks import CompiledManifest, check_username_template, compile_manifest
from yamldb.templates.gotemplate import UsernameTemplate
from yamldb.templates.plan import Operation, compile_role_statements, compile_steps
from yamldb.templates.scram import scram_sha256_verifier
from yamldb.templates.username_rules import generate_username
from yamldb.templates.vault_statements import decode_vault_statements

if TYPE_CHECKING:
    from yamldb.engine.executor import SqlEngine

__all__ = ["INLINE_ENV", "SET_REFERENCE", "ManifestDatabase", "default_library", "inline_manifests_allowed"]

log = logging.getLogger("yamldb.lifecycle")

# A role names a manifest statement set instead of carrying SQL: "yamldb:readonly schema=app".
SET_REFERENCE = re.compile(r"^\s*yamldb:(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?P<args>(\s+\S+)*)\s*$")

_library: ManifestLibrary | None = None
_library_lock = threading.Lock()


def default_library() -> ManifestLibrary:
    global _library
    with _library_lock:
        if _library is None:
            _library = ManifestLibrary.from_environment()
        return _library


@dataclass
class _State:
    config: ConnectionConfig
    compiled: CompiledManifest  # every manifest operation, compiled once at Initialize
    engine: SqlEngine
    username_template: UsernameTemplate
    database: str
    scrub: Scrubber
    # (operation, the role's statements) -> what _operation made of them: roles send the same statements on
    # every request, so each distinct set is decoded, matched and compiled once per connection.
    operations: dict[tuple[str, tuple[str, ...]], tuple[Operation, Mapping[str, str]]] = field(default_factory=dict)

    @property
    def manifest(self) -> Manifest:
        return self.compiled.manifest


INLINE_ENV = "YAMLDB_INLINE_MANIFESTS"
_OPERATIONS_KEPT = 256


def inline_manifests_allowed() -> bool:
    """The operator turns inline manifests off at registration (-args=--no-inline-manifests)."""
    return os.environ.get(INLINE_ENV, "true").strip().lower() not in ("0", "false", "no", "off")


def _infer_manifest(url: str, library: ManifestLibrary) -> str:
    from yamldb.engine.drivers import infer_manifest

    name = infer_manifest(url)  # each driver adapter knows its own URL forms
    if name and name in library.names():
        return name
    raise ConfigError(f"manifest: not set; choose one of: {', '.join(library.names())}")


class ManifestDatabase:
    """One connection config (one multiplex id)."""

    def __init__(self, library: ManifestLibrary | None = None, manifest: Manifest | None = None) -> None:
        self._library = library
        self._fixed_manifest = manifest  # `yamldb check FILE` runs a manifest that is in no library
        self._state: _State | None = None
        self._lock = threading.Lock()
        self._sweeper: PeriodicSweep | None = None  # the connection's periodic sweep, if sweep_interval is set

    @property
    def library(self) -> ManifestLibrary:
        return self._library or default_library()

    # -- Initialize -------------------------------------------------------------------------
    def initialize(self, raw: Mapping[str, Any], verify_connection: bool) -> dict[str, Any]:
        from yamldb.engine.executor import SqlEngine
        from yamldb.engine.urls import connection_target

        config = ConnectionConfig.parse(raw)
        scrub = Scrubber(config.secrets)
        try:
            manifest = self._manifest(config)
            compiled = compile_manifest(manifest)
            if compiled.findings:
                first, more = compiled.findings[0], len(compiled.findings) - 1
                raise ManifestError(
                    first.message + (f" (and {more} more; run yamldb validate)" if more else ""), first.location
                )
            username_template = self._username_template(manifest, config)
            sweep_settings = config.sweep
            sweep_matcher = sweep_settings.check(manifest, username_template) if sweep_settings else None
            for key in config.parameters:
                if key not in manifest.parameters:
                    raise ConfigError(
                        f"parameters.{key}: manifest {manifest.name!r} has no such parameter; "
                        f"it has: {', '.join(manifest.parameters) or 'none'}"
                    )
            dialect = manifest.dialect
            parsed = connection_target(
                config.connection_url or manifest.connection.url or "",
                config.username,
                config.password,
                driver=manifest.connection.driver,
                formats=dialect.url_formats,
                disable_escaping=config.disable_escaping,
                tls=config.tls,
            )
            if parsed.url.password:  # a password written into connection_url itself is a secret too
                scrub = scrub.extend([parsed.url.password])
            pool = replace(manifest.connection.pool, **config.pool_overrides)
            if parsed.connect_timeout:
                pool = replace(pool, connect_timeout=parsed.connect_timeout)
            engine = SqlEngine(
                parsed.url,
                pool,
                manifest.connection.connect_args,
                scrub,
                savepoints=dialect.capabilities.savepoints,
                tls=parsed.tls,
                batch=dialect.capabilities.batch_statements,
            )
        except ManifestError as exc:
            raise ConfigError(scrub(f"manifest: {exc}")) from None
        except TemplateError as exc:
            raise ConfigError(scrub(f"template: {exc}")) from None
        except YamldbError as exc:
            raise type(exc)(scrub(str(exc))) from None
        except ImportError as exc:
            raise ConfigError(
                f"the driver for {manifest.connection.driver} is not installed "
                f"(pip install 'yamldb-plugin[{manifest.dialect.extra or manifest.dialect.name}]'): "
                f"{exc.name}"
            ) from None
        if verify_connection:
            try:
                engine.verify(dialect.verify_query)
            except DatabaseError:
                engine.dispose()
                raise
        state = _State(config, compiled, engine, username_template, parsed.url.database or "", scrub)
        with self._lock:
            old, self._state = self._state, state
        if old is not None:
            old.engine.dispose()
        self._set_sweeper(
            PeriodicSweep(self, sweep_settings, sweep_matcher).start() if sweep_settings and sweep_matcher else None
        )
        log.info(
            "initialized",
            extra={"fields": {"manifest": manifest.name, "dialect": dialect.name, "url": mask_url(parsed.url)}},
        )
        # Vault stores exactly what we return: echo the whole config back.
        return {**config.echo, "supported_credential_types": list(manifest.credential_types)}

    def _manifest(self, config: ConnectionConfig) -> Manifest:
        if self._fixed_manifest is not None:
            return self._fixed_manifest
        if config.manifest_inline is not None:
            return self._inline(config)
        return self.library.load(config.manifest or _infer_manifest(config.connection_url, self.library))

    @staticmethod
    def _username_template(manifest: Manifest, config: ConnectionConfig) -> UsernameTemplate:
        """The template that will run, checked against the dialect's length limit: the config's override, if any."""
        if config.username_template is None:
            try:
                return check_username_template(manifest, manifest.username.template)
            except TemplateError as exc:
                raise ManifestError(
                    f"username.template: {exc.message}", manifest.locations.get("username.template")
                ) from None
        try:
            return check_username_template(manifest, config.username_template)
        except TemplateError as exc:
            raise ConfigError(f"username_template: {exc.message}") from None

    def _inline(self, config: ConnectionConfig) -> Manifest:
        if not inline_manifests_allowed():
            raise ConfigError(
                "manifest_inline: inline manifests are disabled for this plugin by its operator; use manifest=NAME"
            )
        if config.manifest:
            raise ConfigError("set either manifest or manifest_inline, not both")
        manifest, findings = check_text(
            config.manifest_inline or "",
            "manifest_inline",
            self.library.dialect_path,
            prevalidated=self.library.is_shipped,
        )
        if findings:
            raise findings[0]
        assert manifest is not None
        return manifest

    @property
    def manifest(self) -> Manifest:
        """The manifest of the initialized connection."""
        return self._current().manifest

    def _current(self) -> _State:
        state = self._state
        if state is None:
            raise ConfigError("the connection is not initialized")
        return state

    # -- statement selection ----------------------------------------------------------------
    def _operation(
        self, state: _State, operation: str, role_statements: Sequence[str]
    ) -> tuple[Operation, Mapping[str, str]]:
        """The role's statements if it has any (SQL or a set reference), else the manifest's."""
        key = (operation, tuple(role_statements))
        found = state.operations.get(key)
        if found is None:
            found = self._resolve(state, operation, key[1])
            if len(state.operations) >= _OPERATIONS_KEPT:  # bounded: many roles with ever-new statements
                state.operations.clear()
            state.operations[key] = found
        return found

    def _resolve(
        self, state: _State, operation: str, role_statements: tuple[str, ...]
    ) -> tuple[Operation, Mapping[str, str]]:
        texts = decode_vault_statements(role_statements)
        params: dict[str, str] = {}
        set_name = None
        if len(texts) == 1 and (match := SET_REFERENCE.match(texts[0])):
            set_name = match["name"]
            if set_name not in state.manifest.sets:
                raise ConfigError(
                    f"statement set {set_name!r} is not in manifest {state.manifest.name!r}; "
                    f"it has: {', '.join(state.manifest.sets) or 'none'}"
                )
            try:
                pairs = shlex.split(match["args"] or "")
                params = dict(p.split("=", 1) for p in pairs)
            except ValueError:
                raise ConfigError(f"{texts[0]!r}: arguments must be key=value pairs") from None
            texts = ()
        if texts:
            op = compile_role_statements(
                tuple(texts), operation, state.manifest.dialect.quoting, tuple(state.manifest.parameters)
            )
        else:
            op = state.compiled.operation(operation, set_name)
        return op, params

    def _values(
        self,
        state: _State,
        username: str,
        role_params: Mapping[str, str],
        used: AbstractSet[str] | None = None,
        **extra: str,
    ) -> dict[str, str]:
        values: dict[str, str] = {}
        for name, parameter in state.manifest.parameters.items():
            if used is not None and name not in used:
                continue  # a parameter only creation needs must not be demanded at revocation
            value = role_params.get(name, state.config.parameters.get(name, parameter.default))
            if value is None:
                raise ConfigError(
                    f"parameter {name!r} has no value: set it in the role (yamldb:SET {name}=...) "
                    "or in the connection's parameters"
                )
            if parameter.pattern and not fullmatch(parameter.pattern, value):  # RE2: linear time
                raise ConfigError(f"parameter {name!r}: {value!r} does not match {parameter.pattern!r}")
            values[name] = value
        unknown = set(role_params) - set(state.manifest.parameters)
        if unknown:
            raise ConfigError(f"unknown parameter(s) {', '.join(sorted(unknown))} for manifest {state.manifest.name!r}")
        values.update(name=username, username=username, database=state.database, **extra)
        return values

    def _expiration(self, state: _State, when: datetime | None) -> str:
        when = when or datetime.now(timezone.utc)
        return when.astimezone(timezone.utc).strftime(state.manifest.dialect.expiration_format)

    def _run(
        self,
        state: _State,
        op: Operation,
        values: dict[str, str],
        secrets: Sequence[str] = (),
        deadline: float | None = None,
    ) -> None:
        scrub = state.scrub.extend(secrets)
        if (
            "password" in values
            and state.config.password_authentication == "scram-sha-256"
            and "scram_sha256" not in op.filters_of("password")
        ):
            # As the built-in plugin: {{password}} becomes a verifier, the server never sees the password.
            values = {**values, "password": scram_sha256_verifier(values["password"])}
        try:
            steps = op.render(values)
        except TemplateError as exc:
            raise ConfigError(scrub(f"{op.name}: {exc}")) from None
        state.engine.run(steps, op.name, scrub, deadline)

    # -- NewUser ----------------------------------------------------------------------------
    def _username(self, state: _State, display_name: str, role_name: str) -> str:
        return generate_username(state.manifest.username, state.username_template, display_name, role_name)

    def new_user(self, req: rq.NewUser) -> str:
        state = self._current()
        kind = req.credential_type.vault_name
        if kind not in state.manifest.credential_types:
            raise ConfigError(f"credential type {kind} is not supported by manifest {state.manifest.name!r}")
        if self._sweeper is not None:
            self._sweeper.check_new_user(req.expiration)
        username = self._username(state, req.display_name, req.role_name)
        op, params = self._operation(state, "create", req.statements)
        if not op:
            raise ConfigError(state.manifest.dialect.unsupported.get("create", "empty creation statements"))
        extra = {"expiration": self._expiration(state, req.expiration)}
        if req.credential_type is rq.CredentialType.PASSWORD:
            extra["password"] = req.password
        elif req.credential_type is rq.CredentialType.RSA_PRIVATE_KEY:
            extra["public_key"] = req.public_key
        else:
            extra["subject"] = req.subject
        values = self._values(state, username, params, op.placeholders(), **extra)
        try:
            self._run(state, op, values, [req.password], req.deadline)
        except YamldbError:
            self._rollback(state, username, req.rollback_statements)
            raise
        if state.manifest.login_check.enabled and req.credential_type is rq.CredentialType.PASSWORD:
            self._login_check(state, username, req.password)
        log.debug("created user", extra={"fields": {"username": username, "role": req.role_name}})
        return username

    def _rollback(self, state: _State, username: str, role_rollback: Sequence[str]) -> None:
        try:
            op, params = self._operation(state, "rollback", role_rollback)
            if op:
                values = self._values(state, username, params, op.placeholders())
                steps = [step.with_on_error("continue") for step in op.render(values)]
                state.engine.run(steps, "rollback", state.scrub)
        except YamldbError as exc:
            log.warning("rollback after a failed create did not complete", extra={"fields": {"error": str(exc)}})

    def _login_check(self, state: _State, username: str, password: str) -> None:
        try:
            state.engine.login(username, password, state.manifest.login_check.query)
        except DatabaseError as exc:
            self._delete(state, username, ())
            raise DatabaseError(f"login check failed, the new user was removed again: {exc}") from None

    def login(self, username: str, password: str) -> None:
        """Log in as `username` (used by `yamldb check`); raises DatabaseError when refused."""
        state = self._current()
        state.engine.login(username, password, state.manifest.login_check.query)

    def user_exists(self, username: str) -> bool | None:
        """Whether the dialect's `user_exists` query finds the user; None if the dialect has none."""
        state = self._current()
        op = state.compiled.user_exists
        if op is None:
            return None
        (step,) = op.render(self._values(state, username, {}, op.placeholders()))
        return state.engine.query_scalar(step.statements[0]) is not None

    # -- UpdateUser -------------------------------------------------------------------------
    def update_user(self, req: rq.UpdateUser) -> None:
        state = self._current()
        if req.password is not None:
            is_root = req.username == state.config.username
            op, params = self._operation(state, "rotate_root" if is_root else "rotate", req.password.statements)
            if not op and is_root:
                op, params = self._operation(state, "rotate", req.password.statements)
            if not op:
                raise ConfigError(state.manifest.dialect.unsupported.get("rotate", "no password change statements"))
            if is_root:
                self._rotate_root(state, op, params, req.password.new_password, req.deadline)
            else:
                values = self._values(
                    state, req.username, params, op.placeholders(), password=req.password.new_password
                )
                self._run(state, op, values, [req.password.new_password], req.deadline)
            log.debug("changed password", extra={"fields": {"username": req.username, "root": is_root}})
        if req.public_key is not None:
            op, params = self._operation(state, "rotate", req.public_key.statements)
            if not op or "public_key" not in op.placeholders():
                raise ConfigError("no statements that change a public key ({{public_key}}) for this manifest")
            self._run(
                state,
                op,
                self._values(state, req.username, params, op.placeholders(), public_key=req.public_key.new_public_key),
                deadline=req.deadline,
            )
        if req.expiration is not None:
            op, params = self._operation(state, "renew", req.expiration.statements)
            if self._sweeper is not None:
                self._sweeper.check_renewal(req.username, req.expiration.new_expiration, op.placeholders())
            if not op:
                # Documented no-op: databases without user expiry (MySQL) rely on revocation.
                log.debug("renew: no statements, nothing to do", extra={"fields": {"username": req.username}})
                return
            values = self._values(
                state,
                req.username,
                params,
                op.placeholders(),
                expiration=self._expiration(state, req.expiration.new_expiration),
            )
            self._run(state, op, values, deadline=req.deadline)

    def _rotate_root(
        self, state: _State, op: Operation, params: Mapping[str, str], new: str, deadline: float | None
    ) -> None:
        """Change the admin's own password, and report success only once the new one is known to connect.

        Vault stores the new password and re-initializes with it: a password the connection_url cannot carry,
        or one that does not log in, would leave a connection nothing can use. So the new connection target
        is built first (nothing changes if it cannot be), and after the change one connection is made with
        it; if that fails, the old password is set back and the rotation fails."""
        from yamldb.engine.urls import connection_target

        config, manifest = state.config, state.manifest
        scrub = state.scrub.extend([new])
        template = config.connection_url or manifest.connection.url or ""
        if "{{password}}" not in template:
            raise ConfigError(
                "rotate-root: connection_url has no {{password}} placeholder, so the new password "
                "would never be used; nothing was changed (write it as ...{{username}}:{{password}}@...)"
            )
        try:
            target = connection_target(
                template,
                config.username,
                new,
                driver=manifest.connection.driver,
                formats=manifest.dialect.url_formats,
                disable_escaping=config.disable_escaping,
                tls=config.tls,
            )
        except ConfigError as exc:
            raise ConfigError(
                scrub(f"rotate-root: the new password does not fit connection_url, nothing was changed: {exc}")
            ) from None
        if target.url.password != new:
            raise ConfigError(
                "rotate-root: with disable_escaping=true the new password would reach the database "
                "altered by URL decoding (it contains '%'); nothing was changed: remove "
                "disable_escaping or use a password policy without '%'"
            )
        self._run(
            state, op, self._values(state, config.username, params, op.placeholders(), password=new), [new], deadline
        )
        try:
            state.engine.connect_as(
                target.url, manifest.dialect.verify_query, [new], "the new root password was set but does not connect"
            )
        except DatabaseError as exc:
            old = self._values(state, config.username, params, op.placeholders(), password=config.password)
            try:
                self._run(state, op, old, [new])
            except YamldbError as again:
                log.error(
                    "rotate-root: the new password does not connect and the old one could not be set back",
                    extra={"fields": {"error": scrub(str(again))}},
                )
                raise DatabaseError(
                    f"{exc}; setting the old password back failed as well: {scrub(str(again))}"
                ) from None
            raise DatabaseError(f"{exc}; the old password was set back, nothing changed") from None

    # -- DeleteUser -------------------------------------------------------------------------
    def delete_user(self, req: rq.DeleteUser) -> None:
        self._delete(self._current(), req.username, req.statements, req.deadline)

    def _delete(self, state: _State, username: str, statements: Sequence[str], deadline: float | None = None) -> None:
        op, params = self._operation(state, "revoke", statements)
        if not op:
            raise ConfigError(state.manifest.dialect.unsupported.get("revoke", "no revocation statements"))
        self._run(state, op, self._values(state, username, params, op.placeholders()), deadline=deadline)
        log.debug("revoked user", extra={"fields": {"username": username}})

    # -- sweep (lifecycle/sweep.py) ------------------------------------------------------------
    @property
    def username_template(self) -> UsernameTemplate:
        return self._current().username_template

    @property
    def admin_username(self) -> str:
        return self._current().config.username

    def placeholders(self, operation: str, statements: Sequence[str] = ()) -> frozenset[str]:
        """The placeholders the statements of `operation` use (the role's, else the manifest's)."""
        op, _ = self._operation(self._current(), operation, statements)
        return frozenset(op.placeholders())

    def list_users(self) -> list[dict[str, Any]]:
        """Rows of the dialect's list_users query: the first of its alternatives the server accepts."""
        return self._list_users("", "{query}") or []

    def list_user(self, username: str) -> dict[str, Any] | None:
        """The list_users row of one user (None if there is none), filtered in the database."""
        rows = self._list_users(username, "SELECT * FROM ({query}) yamldb_users WHERE username = '{{{{username}}}}'")
        return rows[0] if rows else None

    def _list_users(self, username: str, wrapper: str) -> list[dict[str, Any]] | None:
        state = self._current()
        manifest = state.manifest
        failure: DatabaseError | None = None
        for query in manifest.dialect.list_users:
            # Compiled like user_exists, so manifest parameters (a table name) are quoted for their context.
            sql = wrapper.format(query=query.strip().rstrip(";"))
            op = compile_steps((Step(sql, split=False),), "revoke", manifest.dialect.quoting, manifest.parameters)
            (step,) = op.render(self._values(state, username, {}, op.placeholders()))
            try:
                return state.engine.query_rows(step.statements[0])
            except DatabaseError as exc:
                failure = failure or exc
        if failure is None:
            raise ConfigError(f"dialect {manifest.dialect.name} has no list_users query")
        raise failure

    def _set_sweeper(self, sweeper: PeriodicSweep | None) -> None:
        old, self._sweeper = self._sweeper, sweeper
        if old is not None:
            old.stop()

    def release(self) -> None:
        """Close the pooled database connections but stay usable (a later call opens new ones)."""
        self._set_sweeper(None)
        state = self._state
        if state is not None:
            state.engine.dispose()

    def close(self) -> None:
        self._set_sweeper(None)
        with self._lock:
            state, self._state = self._state, None
        if state is not None:
            state.engine.dispose()
