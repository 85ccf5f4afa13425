"""One plugin process serves many connection configs, keyed by the host's multiplex id."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from yamldb.errors import YamldbError
from yamldb.lifecycle.database import ManifestDatabase

log = logging.getLogger("yamldb.lifecycle")

TYPE_NAME = "yamldb"


class UnknownInstance(YamldbError):
    pass


class Instances:
    type_name = TYPE_NAME

    def __init__(self, factory: Callable[[], ManifestDatabase] = ManifestDatabase) -> None:
        self._factory = factory
        self._by_id: dict[str, ManifestDatabase] = {}
        self._lock = threading.Lock()

    def get_or_create(self, instance_id: str) -> ManifestDatabase:
        with self._lock:
            instance = self._by_id.get(instance_id)
            if instance is None:
                instance = self._by_id[instance_id] = self._factory()
            return instance

    def get(self, instance_id: str) -> ManifestDatabase:
        with self._lock:
            instance = self._by_id.get(instance_id)
        if instance is None:
            raise UnknownInstance("no database instance found (the host must call Initialize first)")
        return instance

    def close(self, instance_id: str) -> None:
        with self._lock:
            instance = self._by_id.pop(instance_id, None)
        if instance is not None:
            instance.close()

    def close_all(self) -> None:
        with self._lock:
            instances = list(self._by_id.values())
            self._by_id.clear()
        for instance in instances:
            try:
                instance.close()
            except Exception as exc:  # closing is best effort at exit
                log.warning("closing a connection failed", extra={"fields": {"error": type(exc).__name__}})

    def __len__(self) -> int:
        return len(self._by_id)
