"""The connection config the host sends to Initialize, read once, key by key.

Vault's CLI sends `key=value` pairs as strings ("5", "false"), so every numeric and
boolean key accepts its string form, as the Go SDK's WeakDecode does. Everything
downstream (pool, TLS, the scrubber, URL templating) reads this object, never the
raw mapping; only `echo` keeps that mapping, because Vault stores what Initialize
returns.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from yamldb.durations import parse_duration
from yamldb.engine.tls import TlsConfig
from yamldb.errors import ConfigError

if TYPE_CHECKING:
    from yamldb.lifecycle.sweep import SweepSettings

__all__ = ["ConnectionConfig", "as_bool", "as_int", "as_str"]

_TRUE = {"1", "t", "true", "yes", "on"}
_FALSE = {"0", "f", "false", "no", "off", ""}


def as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{key}: expected true or false, got {value!r}")


def as_int(key: str, value: Any, minimum: int = 0) -> int:
    try:
        number = int(value) if not isinstance(value, str) else int(value.strip())
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: expected a whole number, got {value!r}") from None
    if number < minimum:
        raise ConfigError(f"{key}: must be at least {minimum}, got {number}")
    return number


def as_str(key: str, value: Any) -> str:
    if isinstance(value, (dict, list)):
        raise ConfigError(f"{key}: expected a string")
    return "" if value is None else str(value)


def _duration(key: str, value: Any) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}") from None


class _Reader:
    """Reads keys of the raw mapping; an absent or empty key is None."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw

    def get(self, key: str, convert: Any = as_str, *args: Any) -> Any:
        value = self.raw.get(key)
        return None if value in (None, "") else convert(key, value, *args)


def _parameters(value: Any) -> dict[str, str]:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError:
            raise ConfigError('parameters: expected a JSON object such as {"schema": "app"}') from None
    if not isinstance(value, dict):
        raise ConfigError("parameters: expected a mapping of names to values")
    return {str(k): as_str(f"parameters.{k}", v) for k, v in value.items()}


@dataclass(frozen=True)
class ConnectionConfig:
    connection_url: str
    manifest: str | None = None
    username: str = ""
    password: str = ""
    disable_escaping: bool = False
    username_template: str | None = None
    # Only the pool keys the config sets, named as PoolSettings' fields: they override the manifest's.
    pool_overrides: Mapping[str, Any] = field(default_factory=dict)
    parameters: Mapping[str, str] = field(default_factory=dict)
    password_authentication: str = "password"
    manifest_inline: str | None = None
    tls: TlsConfig = field(default_factory=TlsConfig)
    sweep: SweepSettings | None = None  # the periodic sweep; None = off (docs/sweep.md)
    # The mapping as the host sent it: Vault stores what Initialize returns, so it goes back unchanged.
    echo: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every value the scrubber must keep out of messages."""
        return (self.password, *self.tls.secrets)

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> ConnectionConfig:
        from yamldb.lifecycle.sweep import SweepSettings  # not on the plugin's handshake path

        read = _Reader(raw)
        auth = read.get("password_authentication") or "password"
        if auth not in ("password", "scram-sha-256"):
            raise ConfigError(
                f"password_authentication: {auth!r} is not a valid password authentication type "
                "(use password or scram-sha-256)"
            )
        # 0 means "not set" for Vault's SQL plugins (connutil): 4 open, and as many idle as open. Read as "keep
        # none idle", every connection beyond the first was opened and closed per operation.
        pool = {
            "max_open_connections": read.get("max_open_connections", as_int, 0) or None,
            "max_idle_connections": read.get("max_idle_connections", as_int, 0) or None,
            "max_connection_lifetime": read.get("max_connection_lifetime", _duration),
        }
        return cls(
            connection_url=as_str("connection_url", raw.get("connection_url", "")),
            manifest=read.get("manifest"),
            username=as_str("username", raw.get("username", "")),
            password=as_str("password", raw.get("password", "")),
            disable_escaping=as_bool("disable_escaping", raw.get("disable_escaping", False)),
            username_template=read.get("username_template"),
            pool_overrides={k: v for k, v in pool.items() if v is not None},
            parameters=_parameters(raw.get("parameters", {})),
            password_authentication=auth,
            manifest_inline=read.get("manifest_inline"),
            tls=TlsConfig(
                ca=read.get("tls_ca"),
                certificate=read.get("tls_certificate"),
                private_key=read.get("private_key"),
                certificate_key=read.get("tls_certificate_key"),
                server_name=read.get("tls_server_name"),
                skip_verify=as_bool("tls_skip_verify", raw.get("tls_skip_verify", False)),
            ),
            sweep=SweepSettings.from_config(raw),
            echo=dict(raw),
        )
