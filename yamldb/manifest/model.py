"""The manifest as typed, immutable Python objects (built by loader.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from yamldb.errors import Location
from yamldb.manifest.quoting import QuotingRules

__all__ = [
    "CREDENTIAL_TYPES",
    "OPERATIONS",
    "Capabilities",
    "ConnectionSettings",
    "Dialect",
    "LoginCheck",
    "Manifest",
    "Parameter",
    "PoolSettings",
    "StatementSet",
    "Step",
    "UsernameRules",
]

OPERATIONS = ("create", "renew", "rotate", "rotate_root", "revoke", "rollback")
CREDENTIAL_TYPES = ("password", "rsa_private_key", "client_certificate")


@dataclass(frozen=True)
class Capabilities:
    transactional_ddl: bool = True
    user_expiration: bool = True
    savepoints: bool = True
    logins: bool = True
    # Several statements sent as one message run as one implicit transaction (PostgreSQL's simple query
    # protocol): an operation then costs one round trip instead of BEGIN, each statement and COMMIT.
    batch_statements: bool = False


@dataclass(frozen=True)
class Dialect:
    name: str
    driver: str
    description: str = ""
    extra: str = ""
    vault_type: str = ""
    url_formats: tuple[str, ...] = ("sqlalchemy",)
    quoting: QuotingRules = field(default_factory=QuotingRules)
    expiration_format: str = "%Y-%m-%d %H:%M:%S%z"
    verify_query: str = "SELECT 1"
    user_exists: str | None = None
    # Queries that list users with their expiry/creation time for `yamldb sweep`; the first the server
    # accepts is used (one manifest may serve MySQL and MariaDB). Empty: the sweep is not supported.
    list_users: tuple[str, ...] = ()
    capabilities: Capabilities = field(default_factory=Capabilities)
    unsupported: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    source: str = ""


@dataclass(frozen=True)
class Step:
    sql: str
    transaction: bool = True
    on_error: str = "abort"  # "abort" | "continue" | "warn"
    split: bool = True
    # The statement is a query whose rows (first column) are statements the database built; each is run.
    execute_results: bool = False
    location: Location | None = None
    # Maps an offset inside `sql` to its file position (block scalars, quoting), for precise errors.
    locate: Callable[[int], Location] | None = field(default=None, compare=False, repr=False)

    def location_of(self, offset: int | None) -> Location | None:
        if offset is not None and self.locate is not None:
            return self.locate(offset)
        return self.location


@dataclass(frozen=True)
class Parameter:
    name: str
    default: str | None = None
    pattern: str | None = None
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class PoolSettings:
    """Connection pool settings: the manifest's defaults, which a connection config may override key by key
    (the fields are named as Vault's config keys)."""

    max_open_connections: int = 4
    max_idle_connections: int | None = None  # None: as many as max_open_connections
    max_connection_lifetime: float = 0.0  # seconds; 0 = forever
    pre_ping: bool = True
    connect_timeout: float = 10.0

    @property
    def idle(self) -> int:
        """Connections kept open when idle (Vault caps max_idle at max_open)."""
        limit = self.max_open_connections
        return limit if self.max_idle_connections is None else min(self.max_idle_connections, limit)


@dataclass(frozen=True)
class ConnectionSettings:
    driver: str
    url: str | None = None
    pool: PoolSettings = field(default_factory=PoolSettings)
    connect_args: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class UsernameRules:
    template: str
    max_length: int = 0
    case: str = "preserve"
    allowed_characters: str | None = None


@dataclass(frozen=True)
class LoginCheck:
    enabled: bool = False
    query: str = "SELECT 1"


StatementSet = Mapping[str, tuple[Step, ...]]


@dataclass(frozen=True)
class Manifest:
    name: str
    dialect: Dialect
    connection: ConnectionSettings
    username: UsernameRules
    statements: StatementSet
    sets: Mapping[str, StatementSet] = field(default_factory=lambda: MappingProxyType({}))
    parameters: Mapping[str, Parameter] = field(default_factory=lambda: MappingProxyType({}))
    credential_types: tuple[str, ...] = ("password",)
    login_check: LoginCheck = field(default_factory=LoginCheck)
    description: str = ""
    source: str = ""
    # Where selected settings were written ("username.template", "credential_types", ...), for findings.
    locations: Mapping[str, Location] = field(default_factory=lambda: MappingProxyType({}))

    def steps(self, operation: str, set_name: str | None = None) -> tuple[Step, ...]:
        """Steps for an operation: from a named set if given (falling back to the defaults)."""
        if set_name is not None:
            chosen = self.sets.get(set_name)
            if chosen is not None and operation in chosen:
                return chosen[operation]
        return self.statements.get(operation, ())
