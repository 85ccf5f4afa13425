"""Find and remove users whose lease must have ended (`yamldb sweep`, and the plugin's periodic sweep).

A user is removed only when both hold:

* the connection's username template could have produced its name (templates/username_match.py);
* an upper bound of its lease's end is known and passed more than `grace` ago. The bounds:
  - the database's own expiry (PostgreSQL `VALID UNTIL`), when the manifest's renew statements move it
    (they set `{{expiration}}`), since every renewal then moves it too;
  - the creation time plus the largest maximum TTL of the roles: Vault/OpenBao never extend a lease past
    its issue time plus the maximum TTL, renewals included. The creation time is the later of what the
    database records (`created_at`, e.g. MariaDB's password_last_changed, which a password change only
    moves later) and the `unix_time` the template printed into the name.

A user the template could not have produced, or whose lease end no bound covers, is never touched.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from yamldb.durations import parse_duration
from yamldb.errors import ConfigError, TemplateError, YamldbError
from yamldb.lifecycle import requests as rq

if TYPE_CHECKING:
    from yamldb.lifecycle.database import ManifestDatabase
    from yamldb.manifest.model import Manifest
    from yamldb.templates.gotemplate import UsernameTemplate
    from yamldb.templates.username_match import UsernameMatcher

__all__ = ["PeriodicSweep", "Sweep", "SweepPlan", "SweepPolicy", "SweepSettings", "SweptUser", "matcher_for"]

log = logging.getLogger("yamldb.sweep")

EXPIRED, ALIVE, UNKNOWN = "expired", "alive", "unknown"
DEFAULT_GRACE = 3600.0
MIN_INTERVAL = 1.0
# Vault and OpenBao send expirations 5 s past the lease's end ("a small buffer ... to ensure the database
# credential does not expire before the lease", builtin/logical/database); the guards allow for it.
HOST_BUFFER = 5.0


def matcher_for(manifest: Manifest, template: UsernameTemplate) -> UsernameMatcher:
    """The matcher for a connection's template and its manifest's username rules; ConfigError if impossible."""
    if not manifest.dialect.list_users:
        raise ConfigError(
            f"dialect {manifest.dialect.name} has no list_users query, so yamldb cannot list its "
            "users to sweep them (supported: postgresql, mysql, mariadb, or a manifest that sets "
            "list_users)"
        )
    # Imported here: a connection without a sweep never needs it (0.3 MB of every plugin's resident memory).
    from yamldb.templates.username_match import UsernameMatcher

    rules = manifest.username
    try:
        return UsernameMatcher.parse(
            template, max_length=rules.max_length, case=rules.case, allowed_characters=rules.allowed_characters
        )
    except TemplateError as exc:
        where = f" (at offset {exc.position})" if exc.position is not None else ""
        raise ConfigError(f"username template {template.source!r}: {exc.message}{where}") from None


@dataclass(frozen=True)
class SweepPolicy:
    grace: float = DEFAULT_GRACE
    max_ttl: float | None = None  # the largest max TTL of any role that creates users on this connection


@dataclass
class SweptUser:
    username: str
    status: str  # expired | alive | unknown
    expires: float | None  # the lease's latest possible end, Unix seconds
    basis: str  # which bound gave `expires`, or why there is none
    valid_until: float | None = None
    created: float | None = None
    result: str = ""  # dropped | failed (after apply)
    error: str = ""
    ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "status": self.status,
            "expires": _iso(self.expires),
            "basis": self.basis,
            "valid_until": _iso(self.valid_until),
            "created": _iso(self.created),
            "result": self.result or None,
            "error": self.error or None,
            "ms": round(self.ms, 1) if self.result else None,
        }


@dataclass
class SweepPlan:
    template: str
    shape: str
    listed: int
    now: float
    policy: SweepPolicy
    users: list[SweptUser] = field(default_factory=list)

    def with_status(self, status: str) -> list[SweptUser]:
        return [u for u in self.users if u.status == status]

    def counts(self) -> dict[str, int]:
        return {
            "listed": self.listed,
            "matched": len(self.users),
            EXPIRED: len(self.with_status(EXPIRED)),
            ALIVE: len(self.with_status(ALIVE)),
            UNKNOWN: len(self.with_status(UNKNOWN)),
            "dropped": sum(u.result == "dropped" for u in self.users),
            "failed": sum(u.result == "failed" for u in self.users),
        }


def _iso(when: float | None) -> str | None:
    if when is None:
        return None
    if when == float("inf"):
        return "never"
    if when == float("-inf"):
        return "always"
    return datetime.fromtimestamp(when, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _seconds(value: Any) -> float | None:
    """A list_users time column as Unix seconds: numbers (also Decimal 'Infinity') or aware datetimes."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    if isinstance(value, (int, float, Decimal)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _creation(db_created: float | None, name_created: float | None) -> float | None:
    """The latest the user can have been created: both clocks count whole seconds, so the true time can be
    up to a second after either reading; the later reading plus that second."""
    known = [t for t in (db_created, name_created) if t is not None]
    return max(known) + 1.0 if known else None


class Sweep:
    """One pass over one initialized connection: plan (read only), then apply (revoke one by one)."""

    def __init__(
        self,
        db: ManifestDatabase,
        policy: SweepPolicy,
        statements: Sequence[str] = (),
        matcher: UsernameMatcher | None = None,
        keep: Collection[str] = (),
    ) -> None:
        self.db = db
        self.policy = policy
        self.statements = tuple(statements)
        self.matcher = matcher or matcher_for(db.manifest, db.username_template)
        # The database's expiry is the lease's only if every renewal moves it: renew statements that set it.
        self.trust_valid_until = "expiration" in db.placeholders("renew", self.statements)
        self.keep = {db.admin_username, *keep} - {""}

    def plan(self, now: float | None = None) -> SweepPlan:
        now = time.time() if now is None else now
        rows = self.db.list_users()
        plan = SweepPlan(self.matcher.source, self.matcher.describe(), len(rows), now, self.policy)
        seen: set[str] = set()
        for row in rows:
            name = row.get("username")
            if not isinstance(name, str) or name in seen or name in self.keep:
                continue
            seen.add(name)
            match = self.matcher.match(name, now)
            if match is None:
                continue
            plan.users.append(
                self.judge(name, _seconds(row.get("valid_until")), _seconds(row.get("created_at")), match.created, now)
            )
        plan.users.sort(key=lambda u: u.username)
        return plan

    def judge(
        self, name: str, valid_until: float | None, db_created: float | None, name_created: float | None, now: float
    ) -> SweptUser:
        bounds: list[tuple[float, str]] = []
        if valid_until is not None and self.trust_valid_until:
            bounds.append((valid_until, "valid until"))
        created = _creation(db_created, name_created)
        if created is not None and self.policy.max_ttl is not None:
            bounds.append((created + self.policy.max_ttl, "created + max TTL"))
        if not bounds:
            return SweptUser(name, UNKNOWN, None, self._why_unknown(valid_until, created), valid_until, created)
        expires, basis = min(bounds)
        status = EXPIRED if expires + self.policy.grace < now else ALIVE
        return SweptUser(name, status, expires, basis, valid_until, created)

    def _why_unknown(self, valid_until: float | None, created: float | None) -> str:
        if valid_until is not None and not self.trust_valid_until:
            return "renew statements do not set {{expiration}}, so the database's expiry is not the lease's"
        if created is not None:
            return "no max TTL (give --max-ttl or read it from OpenBao)"
        return "no expiry and no creation time recorded"

    def apply(
        self, plan: SweepPlan, on_result: Callable[[SweptUser], None] | None = None, stop: threading.Event | None = None
    ) -> None:
        """Revoke every expired user of the plan with the manifest's revoke statements, one by one."""
        for user in plan.with_status(EXPIRED):
            if stop is not None and stop.is_set():
                return
            started = time.monotonic()
            try:
                self.db.delete_user(rq.DeleteUser(user.username, self.statements))
                user.result = "dropped"
            except YamldbError as exc:
                user.result, user.error = "failed", str(exc)
            user.ms = (time.monotonic() - started) * 1000
            if on_result is not None:
                on_result(user)


# ------------------------------------------------------------- in the plugin ----

KEYS = ("sweep_interval", "sweep_grace", "sweep_max_ttl")


@dataclass(frozen=True)
class SweepSettings:
    """The connection config's periodic sweep: off unless sweep_interval is set."""

    interval: float
    grace: float = DEFAULT_GRACE
    max_ttl: float | None = None

    @classmethod
    def from_config(cls, raw: Mapping[str, Any]) -> SweepSettings | None:
        values: dict[str, float | None] = {}
        for key in KEYS:
            value = raw.get(key)
            try:
                values[key] = None if value in (None, "") else parse_duration(value)
            except ValueError as exc:
                raise ConfigError(f"{key}: {exc}") from None
        interval = values["sweep_interval"]
        if not interval:
            if values["sweep_grace"] is not None or values["sweep_max_ttl"]:
                raise ConfigError(
                    "sweep_grace/sweep_max_ttl are set but sweep_interval is not: "
                    "set sweep_interval (e.g. 10m) to turn the periodic sweep on"
                )
            return None
        if interval < MIN_INTERVAL:
            raise ConfigError(f"sweep_interval: at least {MIN_INTERVAL:g}s")
        grace = values["sweep_grace"]
        return cls(interval, DEFAULT_GRACE if grace is None else grace, values["sweep_max_ttl"] or None)

    def check(self, manifest: Manifest, template: UsernameTemplate) -> UsernameMatcher:
        """Refuse (ConfigError, at config write) a sweep that could not know when leases end."""
        matcher = matcher_for(manifest, template)
        renew = {p.name for step in manifest.steps("renew") for p in _placeholders(step.sql, manifest)}
        if self.max_ttl is None and "expiration" not in renew:
            raise ConfigError(
                f"sweep_interval: {manifest.dialect.name} keeps no user expiry that renewals move, "
                "so the sweep needs sweep_max_ttl: at least the max_ttl of every role on this "
                "connection (renewals past it are then refused)"
            )
        return matcher


def _placeholders(sql: str, manifest: Manifest) -> Sequence[Any]:
    from yamldb.templates.sql import StatementTemplate

    try:
        return StatementTemplate.parse(sql, manifest.dialect.quoting).placeholders
    except TemplateError:
        return ()


class PeriodicSweep:
    """A daemon thread that sweeps one connection every `interval`; also guards creations and renewals.

    With sweep_max_ttl the sweep assumes no lease outlives creation + sweep_max_ttl. The guards make
    that true for everything this plugin serves: a role whose TTL is longer cannot create users, and a
    renewal past the bound is refused (the lease then ends at its current expiry, before the sweep).
    """

    def __init__(self, db: ManifestDatabase, settings: SweepSettings, matcher: UsernameMatcher) -> None:
        self.db = db
        self.settings = settings
        self.matcher = matcher
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="yamldb-sweep", daemon=True)

    def start(self) -> PeriodicSweep:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.interval):
            try:
                self.run_once()
            except YamldbError as exc:
                log.warning("sweep failed", extra={"fields": {"error": str(exc)}})
            except Exception as exc:  # the thread must outlive any surprise; the next pass tries again
                log.error("sweep failed unexpectedly", extra={"fields": {"error": type(exc).__name__}})

    def run_once(self, now: float | None = None) -> SweepPlan:
        # The guards let an expiration reach bound + HOST_BUFFER: the sweep waits that much longer.
        policy = SweepPolicy(self.settings.grace + HOST_BUFFER, self.settings.max_ttl)
        sweep = Sweep(self.db, policy, matcher=self.matcher)
        plan = sweep.plan(now)
        sweep.apply(plan, stop=self._stop)
        for user in plan.users:
            if user.result == "failed":
                log.warning(
                    "sweep could not drop a user", extra={"fields": {"username": user.username, "error": user.error}}
                )
        log.info("sweep", extra={"fields": plan.counts()})
        return plan

    # -- guards ------------------------------------------------------------------------------
    def _bound(self) -> float | None:
        """How long after creation an expiration the host sends may lie (the sweep waits longer)."""
        max_ttl = self.settings.max_ttl
        return None if max_ttl is None else max_ttl + self.settings.grace + HOST_BUFFER

    def check_new_user(self, expiration: datetime | None) -> None:
        bound = self._bound()
        if bound is None or expiration is None:
            return
        if expiration.timestamp() > time.time() + bound:
            raise ConfigError(
                "the lease would end after sweep_max_ttl + sweep_grace; lower the role's ttl or "
                "raise sweep_max_ttl on the connection"
            )

    def check_renewal(self, username: str, expiration: datetime, renew_placeholders: Collection[str]) -> None:
        if self.settings.max_ttl is None and "expiration" not in renew_placeholders:
            # The sweep trusts the database's expiry; a renewal that does not move it would be swept.
            raise ConfigError(
                "these renew statements do not set {{expiration}}, but the periodic sweep on this "
                "connection relies on the database's expiry; renewal refused"
            )
        bound = self._bound()
        if bound is None:
            return
        created = self._created(username)
        if created is not None and expiration.timestamp() > created + bound:
            raise ConfigError(
                "renewal past sweep_max_ttl + sweep_grace from the user's creation refused: raise "
                "sweep_max_ttl on the connection to at least the role's max_ttl"
            )

    def _created(self, username: str) -> float | None:
        match = self.matcher.match(username)
        if match is None:
            return None  # never swept: no limit needed
        row = self.db.list_user(username)
        return _creation(_seconds(row.get("created_at")) if row else None, match.created)
