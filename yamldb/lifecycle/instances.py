"""One plugin process serves many connection configs, keyed by the host's multiplex id.

When the host replaces a connection (after a respawn, several concurrent requests
each initialize a client and the host keeps one, closing the rest), requests it had
already sent on a closed id can still arrive. The Go SDK fails those with "no
database instance found". Here Close releases the instance's pooled database
connections at once but keeps the id answerable for a short grace period, so those
requests complete.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from yamldb.errors import YamldbError

if TYPE_CHECKING:
    from yamldb.lifecycle.database import ManifestDatabase

__all__ = ["RETIRED_GRACE_SECONDS", "TYPE_NAME", "Instances", "UnknownInstance"]

log = logging.getLogger("yamldb.lifecycle")

TYPE_NAME = "yamldb"
RETIRED_GRACE_SECONDS = 30.0


class UnknownInstance(YamldbError):
    """A call names a connection instance the host never initialized (or closed long ago)."""


class Instances:
    type_name = TYPE_NAME

    def __init__(
        self, factory: Callable[[], ManifestDatabase] | None = None, grace: float = RETIRED_GRACE_SECONDS
    ) -> None:
        self._factory = factory or _manifest_database
        self._grace = grace
        self._by_id: dict[str, ManifestDatabase] = {}
        self._retired: dict[str, tuple[float, ManifestDatabase]] = {}
        self._lock = threading.Lock()

    def get_or_create(self, instance_id: str) -> ManifestDatabase:
        with self._lock:
            instance = self._by_id.get(instance_id)
            if instance is None:
                retired = self._retired.pop(instance_id, None)
                instance = self._by_id[instance_id] = retired[1] if retired else self._factory()
                log.debug(
                    "new connection instance",
                    extra={"fields": {"multiplex_id": instance_id, "instances": len(self._by_id)}},
                )
            return instance

    def get(self, instance_id: str) -> ManifestDatabase:
        expired = self._sweep()
        with self._lock:
            instance = self._by_id.get(instance_id)
            if instance is None and instance_id in self._retired:
                instance = self._retired[instance_id][1]
                log.debug(
                    "serving a request the host sent before closing its connection",
                    extra={"fields": {"multiplex_id": instance_id}},
                )
        for old in expired:
            old.close()
        if instance is None:
            log.warning(
                "call for an unknown connection instance",
                extra={"fields": {"multiplex_id": instance_id, "known": ",".join(self._by_id)}},
            )
            raise UnknownInstance("no database instance found (the host must call Initialize first)")
        return instance

    def close(self, instance_id: str) -> None:
        with self._lock:
            instance = self._by_id.pop(instance_id, None)
            if instance is not None:
                self._retired[instance_id] = (time.monotonic(), instance)
        log.debug(
            "connection instance closed", extra={"fields": {"multiplex_id": instance_id, "known": instance is not None}}
        )
        if instance is not None:
            instance.release()
        for old in self._sweep():
            old.close()

    def _sweep(self) -> list[ManifestDatabase]:
        if not self._retired:  # every request passes here; closed instances are rare
            return []
        cutoff = time.monotonic() - self._grace
        with self._lock:
            expired = [key for key, (when, _) in self._retired.items() if when < cutoff]
            return [self._retired.pop(key)[1] for key in expired]

    def close_all(self) -> None:
        with self._lock:
            instances = list(self._by_id.values()) + [inst for _, inst in self._retired.values()]
            self._by_id.clear()
            self._retired.clear()
        for instance in instances:
            try:
                instance.close()
            except Exception as exc:  # closing is best effort at exit
                log.warning("closing a connection failed", extra={"fields": {"error": type(exc).__name__}})

    def __len__(self) -> int:
        return len(self._by_id)


def _manifest_database() -> ManifestDatabase:
    # Imported on first Initialize (or by the plugin's warm-up thread): the manifest, template and
    # engine modules are not needed to print the handshake line, and the host waits for that.
    from yamldb.lifecycle.database import ManifestDatabase

    return ManifestDatabase()
