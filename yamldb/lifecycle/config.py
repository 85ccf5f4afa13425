"""The connection config the host sends to Initialize, decoded weakly.

Vault's CLI sends `key=value` pairs as strings ("5", "false"), so every
numeric and boolean key accepts its string form, as the Go SDK's WeakDecode does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from yamldb.durations import parse_duration
from yamldb.errors import ConfigError

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


@dataclass(frozen=True)
class ConnectionConfig:
    connection_url: str
    manifest: str | None
    username: str = ""
    password: str = ""
    disable_escaping: bool = False
    username_template: str | None = None
    max_open_connections: int | None = None
    max_idle_connections: int | None = None
    max_connection_lifetime: float | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)
    password_authentication: str = "password"
    manifest_inline: str | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> ConnectionConfig:
        url = as_str("connection_url", raw.get("connection_url", ""))
        lifetime = raw.get("max_connection_lifetime")
        try:
            lifetime_s = None if lifetime in (None, "") else parse_duration(lifetime)
        except ValueError as exc:
            raise ConfigError(f"max_connection_lifetime: {exc}") from None
        params = raw.get("parameters", {})
        if isinstance(params, str):
            try:
                params = json.loads(params) if params.strip() else {}
            except ValueError:
                raise ConfigError('parameters: expected a JSON object such as {"schema": "app"}') from None
        if not isinstance(params, dict):
            raise ConfigError("parameters: expected a mapping of names to values")
        auth = as_str("password_authentication", raw.get("password_authentication", "password")) or "password"
        if auth not in ("password", "scram-sha-256"):
            raise ConfigError(f"password_authentication: {auth!r} is not a valid password authentication type "
                              "(use password or scram-sha-256)")
        return cls(
            connection_url=url,
            manifest=as_str("manifest", raw["manifest"]) if raw.get("manifest") not in (None, "") else None,
            username=as_str("username", raw.get("username", "")),
            password=as_str("password", raw.get("password", "")),
            disable_escaping=as_bool("disable_escaping", raw.get("disable_escaping", False)),
            username_template=as_str("username_template", raw["username_template"])
            if raw.get("username_template") not in (None, "") else None,
            max_open_connections=as_int("max_open_connections", raw["max_open_connections"], 1)
            if raw.get("max_open_connections") not in (None, "") else None,
            max_idle_connections=as_int("max_idle_connections", raw["max_idle_connections"])
            if raw.get("max_idle_connections") not in (None, "") else None,
            max_connection_lifetime=lifetime_s,
            parameters={str(k): as_str(f"parameters.{k}", v) for k, v in params.items()},
            password_authentication=auth,
            manifest_inline=as_str("manifest_inline", raw["manifest_inline"])
            if raw.get("manifest_inline") not in (None, "") else None,
        )
