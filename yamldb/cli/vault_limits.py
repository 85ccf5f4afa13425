"""Read what `yamldb sweep` needs to know from OpenBao/Vault: the longest a lease can live, per connection.

Vault and OpenBao never extend a lease past its issue time plus the role's max_ttl (capped by the mount's
max_lease_ttl, which also applies when the role sets none). The bound for a connection is the largest of
those over the roles that use it.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from yamldb.errors import YamldbError

__all__ = ["VaultError", "VaultLimits", "human_duration", "read_limits"]

_TIMEOUT = 30.0
_MAX_ROLES = 10_000  # a bound on the work one sweep asks of the server


class VaultError(YamldbError):
    """OpenBao/Vault refused a request or could not be reached."""


@dataclass
class VaultLimits:
    max_ttl: float
    mount_max_ttl: float
    roles: dict[str, float] = field(default_factory=dict)  # role -> its effective max TTL
    username_template: str | None = None

    def describe(self) -> str:
        if not self.roles:
            return "the mount's max_lease_ttl, no role uses this connection now"
        roles = ", ".join(f"{name} {human_duration(ttl)}" for name, ttl in sorted(self.roles.items()))
        return f"largest role max TTL ({roles})"


def human_duration(seconds: float) -> str:
    seconds = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class _Client:
    def __init__(self, address: str, token: str) -> None:
        if not address.startswith(("http://", "https://")):
            raise VaultError(f"--vault-addr: expected http(s)://host:port, got {address!r}")
        self.address = address.rstrip("/")
        self.token = token
        # No proxy for the server the operator named explicitly, as the bao CLI.
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def get(self, path: str, method: str = "GET", missing_ok: bool = False) -> dict[str, Any] | None:
        request = urllib.request.Request(
            f"{self.address}/v1/{path}", method=method, headers={"X-Vault-Token": self.token}
        )
        try:
            with self.opener.open(request, timeout=_TIMEOUT) as response:
                body = response.read(10_000_000)
        except urllib.error.HTTPError as exc:
            if exc.code == 404 and missing_ok:
                return None
            errors = _errors(exc.read(100_000))
            raise VaultError(f"{method} {path}: HTTP {exc.code}{': ' + errors if errors else ''}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise VaultError(f"cannot reach {self.address}: {reason}") from None
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            raise VaultError(f"{method} {path}: the answer is not JSON") from None
        return data if isinstance(data, dict) else {}


def _errors(body: bytes) -> str:
    try:
        return "; ".join(str(e) for e in json.loads(body).get("errors", []))[:300]
    except (ValueError, AttributeError):
        return ""


def _seconds(value: Any) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def read_limits(address: str, token: str, mount: str, connection: str) -> VaultLimits:
    """The longest lease of `connection` under the database mount `mount`, and its username template."""
    client = _Client(address, token)
    mount = mount.strip("/")
    quote = urllib.parse.quote
    tune = client.get(f"sys/mounts/{quote(mount)}/tune") or {}
    mount_max = _seconds((tune.get("data") or tune).get("max_lease_ttl"))
    if mount_max <= 0:
        raise VaultError(f"sys/mounts/{mount}/tune: no max_lease_ttl in the answer")
    config = client.get(f"{quote(mount)}/config/{quote(connection)}", missing_ok=True)
    if config is None:
        raise VaultError(f"{mount}/config/{connection}: no such connection")
    details = (config.get("data") or {}).get("connection_details") or {}
    template = details.get("username_template") or None
    listing = client.get(f"{quote(mount)}/roles", method="LIST", missing_ok=True) or {}
    names = (listing.get("data") or {}).get("keys") or []
    if len(names) > _MAX_ROLES:
        raise VaultError(f"{mount}/roles: more than {_MAX_ROLES} roles; give --max-ttl instead")
    roles: dict[str, float] = {}
    for name in names:
        role = (client.get(f"{quote(mount)}/roles/{quote(str(name))}", missing_ok=True) or {}).get("data") or {}
        if role.get("db_name") != connection:
            continue
        own = _seconds(role.get("max_ttl"))
        roles[str(name)] = min(own, mount_max) if own > 0 else mount_max
    return VaultLimits(max(roles.values(), default=mount_max), mount_max, roles, str(template) if template else None)
