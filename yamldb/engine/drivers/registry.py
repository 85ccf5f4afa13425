"""Driver adapters by SQLAlchemy backend name, as SQLAlchemy finds its own dialects.

Every module in this package is a candidate: at first use each is imported and
the adapters it registers with `@register` are keyed by their `backends`. A backend
without an adapter gets the generic `DriverAdapter`. Adding a driver therefore
means adding one module here (docs/adding-a-database.md).
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Iterator

from yamldb.engine.drivers.base import DriverAdapter
from yamldb.errors import ConfigError

__all__ = ["adapter_for", "adapters", "backend_of", "check_fits", "infer_manifest", "register"]

_REGISTRY: dict[str, type[DriverAdapter]] = {}
_loaded = False
_lock = threading.Lock()


def register(adapter: type[DriverAdapter]) -> type[DriverAdapter]:
    """Class decorator: serve `adapter.backends` with this adapter."""
    for backend in adapter.backends:
        known = _REGISTRY.get(backend)
        if known is not None and known is not adapter:
            raise RuntimeError(f"backend {backend!r} has two adapters: {known.__name__} and {adapter.__name__}")
        _REGISTRY[backend] = adapter
    return adapter


def _load() -> None:
    global _loaded
    with _lock:
        if _loaded:
            return
        package = __name__.rsplit(".", 1)[0]
        for module in pkgutil.iter_modules(importlib.import_module(package).__path__):
            if module.name not in ("base", "registry"):
                importlib.import_module(f"{package}.{module.name}")
        _loaded = True


def adapter_for(backend: str) -> type[DriverAdapter]:
    """The adapter class for a SQLAlchemy backend name ("postgresql", "mysql", ...)."""
    _load()
    return _REGISTRY.get(backend, DriverAdapter)


def backend_of(driver: str) -> str:
    """ "postgresql+psycopg" -> "postgresql", as URL.get_backend_name() reads a drivername."""
    return driver.split("+", 1)[0]


def adapters() -> Iterator[type[DriverAdapter]]:
    """Every registered adapter class, once each."""
    _load()
    yield from dict.fromkeys(_REGISTRY.values())


def check_fits(text: str, driver: str) -> None:
    """Refuse a connection_url written for another database than the manifest's driver (issue 11 §8)."""
    backend = backend_of(driver)
    adapter = adapter_for(backend)
    text = text.strip()
    head, sep, _ = text.partition("://")
    if sep and head[:1].isalpha() and all(c.isalnum() or c in "+.-" for c in head):
        scheme = head.split("+", 1)[0].lower()
        if not adapter.serves_scheme(scheme, backend):
            raise ConfigError(
                f"connection_url is a {scheme}:// URL, but the manifest's dialect connects with "
                f"{driver}: choose the manifest for that database{_suggest(text)} or a "
                f"{backend}:// URL"
            )
        return
    owners = [a for a in adapters() if a.claims(text)]
    if owners and adapter not in owners:
        raise ConfigError(
            f"connection_url is a {owners[0].form_name}, but the manifest's dialect connects with "
            f"{driver}: choose the manifest for that database{_suggest(text)} or a "
            f"{backend}:// URL"
        )


def _suggest(text: str) -> str:
    name = infer_manifest(text)
    return f" (e.g. manifest={name})" if name else ""


def infer_manifest(text: str) -> str | None:
    """The manifest name a connection_url suggests when the config names none (first adapter that knows)."""
    for adapter in adapters():
        name = adapter.infer_manifest(text)
        if name:
            return name
    return DriverAdapter.infer_manifest(text) or _generic_scheme(text)


def _generic_scheme(text: str) -> str | None:
    # Any other "scheme://" or "scheme+driver://" suggests the manifest named like its scheme.
    head, sep, _ = text.partition("://")
    return head.split("+", 1)[0].lower() if sep and head[:1].isalpha() else None
