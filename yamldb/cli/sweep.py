"""`yamldb sweep`: list (and with --apply drop) users whose lease must have ended.

Exit codes: 0 nothing to remove (dry run) or everything removed (--apply); 1 users to remove were found
(dry run), a drop failed, or the database/OpenBao could not be reached; 2 the inputs cannot give a safe
answer (bad option, manifest, a template or dialect the sweep cannot handle).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yamldb.cli.vault_limits import VaultError, human_duration, read_limits
from yamldb.durations import parse_duration
from yamldb.errors import ConfigError, DatabaseError, TemplateError, YamldbError
from yamldb.lifecycle.database import ManifestDatabase
from yamldb.lifecycle.sweep import DEFAULT_GRACE, EXPIRED, Sweep, SweepPlan, SweepPolicy, SweptUser, matcher_for
from yamldb.manifest.library import ManifestLibrary
from yamldb.manifest.loader import load_file
from yamldb.templates.gotemplate import UsernameTemplate

__all__ = ["SweepOptions", "run_sweep"]


@dataclass
class SweepOptions:
    manifest: str
    connection_url: str
    username: str = ""
    password: str = ""
    role: str | None = None
    params: dict[str, str] | None = None
    username_template: str | None = None
    grace: str | None = None
    max_ttl: str | None = None
    vault_addr: str = ""
    vault_token: str = ""
    vault_mount: str = "database"
    vault_connection: str | None = None
    apply: bool = False
    format: str = "text"


def _fail(code: int, message: str) -> int:
    print(f"yamldb sweep: {message}", file=sys.stderr)
    return code


def _duration(option: str, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise ConfigError(f"{option}: {exc}") from None
    if seconds < 0:
        raise ConfigError(f"{option}: must not be negative")
    return seconds


def run_sweep(opts: SweepOptions) -> int:
    try:
        grace = _duration("--grace", opts.grace)
        max_ttl = _duration("--max-ttl", opts.max_ttl)
    except ConfigError as exc:
        return _fail(2, str(exc))
    template, max_ttl_source = opts.username_template, "--max-ttl" if max_ttl is not None else ""
    template_source = "--username-template" if template else "the manifest"
    if opts.vault_connection:
        if not opts.vault_addr or not opts.vault_token:
            return _fail(
                2,
                "--vault-connection needs --vault-addr (or BAO_ADDR/VAULT_ADDR) and a token "
                "(--vault-token-env, or BAO_TOKEN/VAULT_TOKEN)",
            )
        try:
            limits = read_limits(opts.vault_addr, opts.vault_token, opts.vault_mount, opts.vault_connection)
        except VaultError as exc:
            return _fail(1, str(exc))
        if max_ttl is None:
            max_ttl, max_ttl_source = (
                limits.max_ttl,
                f"OpenBao {opts.vault_mount}/{opts.vault_connection}: {limits.describe()}",
            )
        if not template and limits.username_template:
            template, template_source = (
                limits.username_template,
                f"OpenBao {opts.vault_mount}/config/{opts.vault_connection}",
            )

    library = ManifestLibrary.from_environment()
    config: dict[str, Any] = {
        "connection_url": opts.connection_url,
        "username": opts.username,
        "password": opts.password,
        "parameters": opts.params or {},
    }
    if template:
        config["username_template"] = template
    try:
        path = Path(opts.manifest)
        is_file = path.suffix in (".yaml", ".yml")
        manifest = load_file(path, library.dialect_path) if is_file else library.load(opts.manifest)
        # Before connecting: a dialect or template the sweep cannot handle needs no database to say so.
        matcher_for(manifest, UsernameTemplate.parse(template or manifest.username.template))
    except (YamldbError, TemplateError) as exc:
        return _fail(2, str(exc))
    db = ManifestDatabase(library, manifest=manifest)
    try:
        try:
            db.initialize(config, True)
        except DatabaseError as exc:
            return _fail(1, str(exc))
        except YamldbError as exc:
            return _fail(2, str(exc))
        statements = (f"yamldb:{opts.role}",) if opts.role else ()
        try:
            sweep = Sweep(db, SweepPolicy(DEFAULT_GRACE if grace is None else grace, max_ttl), statements)
        except ConfigError as exc:
            return _fail(2, str(exc))
        try:
            plan = sweep.plan()
        except YamldbError as exc:
            return _fail(1, f"listing users: {exc}")
        report = _Report(opts, sweep, plan, max_ttl_source, template_source)
        report.header()
        if opts.apply:
            sweep.apply(plan, on_result=report.result)
        report.footer()
    finally:
        db.close()
    counts = plan.counts()
    if opts.apply:
        return 1 if counts["failed"] else 0
    return 1 if counts[EXPIRED] else 0


class _Report:
    def __init__(
        self, opts: SweepOptions, sweep: Sweep, plan: SweepPlan, max_ttl_source: str, template_source: str
    ) -> None:
        self.opts = opts
        self.template_source = template_source
        self.sweep = sweep
        self.plan = plan
        self.max_ttl_source = max_ttl_source
        self.text = opts.format == "text"

    def header(self) -> None:
        if not self.text:
            return
        plan, policy = self.plan, self.plan.policy
        print(f"yamldb sweep {self.opts.manifest}" + (f" (statement set {self.opts.role})" if self.opts.role else ""))
        print(f"  username template: {plan.template}  (from {self.template_source})")
        print(f"  names it produces: {plan.shape}")
        bounds = []
        if self.sweep.trust_valid_until:
            bounds.append("the database's expiry (renew statements move it)")
        if policy.max_ttl is not None:
            bounds.append(f"creation + max TTL {human_duration(policy.max_ttl)} ({self.max_ttl_source})")
        known = "; ".join(bounds) or "nothing known (give --max-ttl)"
        print(f"  lease ends by: {known}; grace {human_duration(policy.grace)}")
        if plan.users:
            print(f"  {'STATUS':<8} {'EXPIRES':<20}  {'BASIS':<18} USER")
            for user in plan.users:
                print(
                    f"  {user.status:<8} {_when(user):<20}  {user.basis if user.expires is not None else '-':<18} "
                    f"{user.username}" + ("" if user.expires is not None else f"  ({user.basis})")
                )

    def result(self, user: SweptUser) -> None:
        if not self.text:
            return
        if user.result == "dropped":
            print(f"  dropped  {user.ms:7.1f} ms  {user.username}", flush=True)
        else:
            print(f"  FAILED   {user.ms:7.1f} ms  {user.username}: {user.error}", flush=True)

    def footer(self) -> None:
        counts = self.plan.counts()
        if not self.text:
            policy = self.plan.policy
            print(
                json.dumps(
                    {
                        "manifest": self.opts.manifest,
                        "template": self.plan.template,
                        "template_source": self.template_source,
                        "shape": self.plan.shape,
                        "grace_seconds": policy.grace,
                        "max_ttl_seconds": policy.max_ttl,
                        "max_ttl_source": self.max_ttl_source or None,
                        "database_expiry": self.sweep.trust_valid_until,
                        "applied": self.opts.apply,
                        "counts": counts,
                        "users": [u.as_dict() for u in self.plan.users],
                    },
                    indent=2,
                )
            )
            return
        print(
            f"listed {counts['listed']} users; {counts['matched']} match the template: {counts[EXPIRED]} expired, "
            f"{counts['alive']} alive, {counts['unknown']} with an unknown expiry (never touched)"
        )
        expired = f"{counts[EXPIRED]} expired user{'' if counts[EXPIRED] == 1 else 's'}"
        if self.opts.apply:
            print(
                f"dropped {counts['dropped']} of {expired}"
                + (f", {counts['failed']} FAILED" if counts["failed"] else "")
            )
        elif counts[EXPIRED]:
            print(f"dry run, nothing changed; --apply drops the {expired}")
        else:
            print("nothing to remove")


def _when(user: SweptUser) -> str:
    value = user.as_dict()["expires"]
    return value or "-"
