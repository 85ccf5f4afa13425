"""Plain-Python forms of the dbplugin v5 requests.

The transport translates protobuf into these so the lifecycle code can be
used and tested without gRPC.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "CredentialType",
    "DeleteUser",
    "ExpirationChange",
    "InitializeResult",
    "NewUser",
    "PasswordChange",
    "PublicKeyChange",
    "UpdateUser",
]


class CredentialType(enum.IntEnum):
    # Values are Vault's wire numbers; names are Vault's snake-case spellings.
    PASSWORD = 0
    RSA_PRIVATE_KEY = 1
    CLIENT_CERTIFICATE = 2

    @property
    def vault_name(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class NewUser:
    display_name: str
    role_name: str
    expiration: datetime | None
    statements: tuple[str, ...] = ()
    rollback_statements: tuple[str, ...] = ()
    credential_type: CredentialType = CredentialType.PASSWORD
    password: str = ""
    public_key: str = ""
    subject: str = ""
    deadline: float | None = None  # time.monotonic() value after which work is abandoned


@dataclass(frozen=True)
class PasswordChange:
    new_password: str
    statements: tuple[str, ...] = ()


@dataclass(frozen=True)
class PublicKeyChange:
    new_public_key: str
    statements: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExpirationChange:
    new_expiration: datetime
    statements: tuple[str, ...] = ()


@dataclass(frozen=True)
class UpdateUser:
    username: str
    password: PasswordChange | None = None
    public_key: PublicKeyChange | None = None
    expiration: ExpirationChange | None = None
    credential_type: CredentialType = CredentialType.PASSWORD
    deadline: float | None = None


@dataclass(frozen=True)
class DeleteUser:
    username: str
    statements: tuple[str, ...] = ()
    deadline: float | None = None


@dataclass
class InitializeResult:
    config: dict = field(default_factory=dict)
