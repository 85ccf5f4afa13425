"""One adapter per database driver, found by SQLAlchemy backend name (see registry.py)."""

from yamldb.engine.drivers.base import DriverAdapter, ParsedURL
from yamldb.engine.drivers.registry import adapter_for, adapters, backend_of, check_fits, infer_manifest, register

__all__ = [
    "DriverAdapter",
    "ParsedURL",
    "adapter_for",
    "adapters",
    "backend_of",
    "check_fits",
    "infer_manifest",
    "register",
]
