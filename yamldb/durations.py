"""Go-style durations ("90s", "1m30s", "250ms") as Vault's config keys and the manifests take them.

A bottom-layer helper: the manifest loader, the connection config and the URL parsers all read
durations, and none of them should import another to do it.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["parse_duration"]

_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: Any) -> float:
    """Seconds from an int, a digit string, or a Go duration like '1m30s'."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if text.isdigit():
        return float(text)
    pos, total = 0, 0.0
    for match in _PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"not a duration: {value!r} (use seconds or e.g. 30s, 5m, 1h)")
    return total
