"""Where the shipped data lives: dialects/, examples/ and schemas/.

In a wheel they are packaged under yamldb/_data/; in a checkout or an editable
install they are the top-level folders beside the package.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

__all__ = ["manifest_schema", "shipped_dir"]

_PACKAGE = Path(__file__).resolve().parent


def shipped_dir(name: str) -> Path:
    """Path of a shipped data folder: 'dialects', 'examples' or 'schemas'."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"yamldb's {name}/ folder is missing from this installation")


@cache
def manifest_schema() -> dict:
    return json.loads((shipped_dir("schemas") / "manifest.schema.json").read_text(encoding="utf-8"))
