"""The exception hierarchy shared by every layer.

Lower-layer errors (YAML, jsonschema, SQLAlchemy, drivers) are translated into
these at the layer boundary so callers never see a foreign traceback, and so the
transport can turn any of them into a one-line message for the host.

Every error yamldb raises derives from YamldbError. The categories below are the
ones callers tell apart; a layer may subclass one for its own detail (PlanError,
StepFailed, UnknownInstance, HandshakeError, BuildError). Which gRPC status code
each becomes is decided in one place, yamldb/transport/status.py::

    YamldbError
    ├── ManifestError ── ManifestNotFound
    ├── TemplateError ── PlanError (templates/plan.py), FuncError (templates/gotemplate)
    ├── ConfigError                                  the host's config is invalid
    ├── RequestError ── NotFoundError                a request from the host lacks a field
    ├── DatabaseError ── StepFailed (engine/executor.py)
    ├── UnknownInstance (lifecycle/instances.py)     a call for a connection never initialized
    ├── HandshakeError (transport/server.py)         not launched by a go-plugin host
    └── BuildError (cli/build.py)                    `yamldb plugin build` cannot build
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ConfigError",
    "DatabaseError",
    "Location",
    "ManifestError",
    "ManifestNotFound",
    "NotFoundError",
    "RequestError",
    "TemplateError",
    "YamldbError",
]


@dataclass(frozen=True)
class Location:
    """A position in a source file; line and column are 1-based."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column or 1}"
        return self.file


class YamldbError(Exception):
    """Base of every error yamldb raises on purpose."""


class ManifestError(YamldbError):
    """A manifest (or dialect file) is unreadable or invalid."""

    def __init__(self, message: str, location: Location | None = None) -> None:
        self.message = message
        self.location = location
        super().__init__(f"{location}: {message}" if location else message)


class ManifestNotFound(ManifestError):
    """A manifest name did not resolve to a file."""


class TemplateError(YamldbError):
    """A statement or username template does not parse or cannot be rendered."""

    def __init__(self, message: str, position: int | None = None) -> None:
        self.message = message
        self.position = position  # 0-based offset in the template text, when known
        super().__init__(message)


class ConfigError(YamldbError):
    """A connection config value sent by the host is missing or invalid."""


class RequestError(YamldbError):
    """A request sent by the host lacks what the operation needs (no username, no change)."""


class NotFoundError(RequestError):
    """A request names something this plugin does not serve (a health-check service)."""


class DatabaseError(YamldbError):
    """The database refused or failed an operation (message already scrubbed of secrets)."""
