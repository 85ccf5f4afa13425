"""How large a manifest may be, checked before it costs anything.

A manifest reaches the plugin from a file, from a manifest directory or inline in a connection
config written by anyone allowed to configure the mount. Parsing YAML in Python costs about
0.4 s per MiB or per 10,000 nodes and holds the GIL, so every other connection in the process
waits while it runs: the size is checked before parsing, the node count while composing (parsing
stops at the first node over the limit), and the value count that aliases expand to before any value
is built. The largest shipped dialect is 5 KB and 130 nodes; the defaults leave room for 200 times that.

The operator sets the limits at registration (`-args=--max-manifest-bytes=N`,
`-args=--max-manifest-nodes=N`); the plugin's entry turns them into the environment variables below,
which the `yamldb` command also reads, so CI and the server refuse the same manifests.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from yamldb.errors import ConfigError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_NODES",
    "MAX_BYTES_ENV",
    "MAX_NODES_ENV",
    "ManifestLimits",
    "parse_count",
    "parse_size",
]

MAX_BYTES_ENV = "YAMLDB_MAX_MANIFEST_BYTES"
MAX_NODES_ENV = "YAMLDB_MAX_MANIFEST_NODES"
DEFAULT_MAX_BYTES = 1 << 20
DEFAULT_MAX_NODES = 10_000

_SIZE = re.compile(r"^\s*([0-9]+)\s*(|B|KiB|MiB|GiB)\s*$")
_UNITS = {"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}


def parse_size(text: str, what: str = MAX_BYTES_ENV) -> int:
    """A positive byte count: `1048576`, `512KiB`, `1MiB`."""
    match = _SIZE.match(text)
    if not match or int(match[1]) <= 0:
        raise ConfigError(f"{what}: {text!r} is not a size; use a number of bytes such as 1048576, or 512KiB, 1MiB")
    return int(match[1]) * _UNITS[match[2]]


def parse_count(text: str, what: str = MAX_NODES_ENV) -> int:
    if not text.strip().isdigit() or int(text) <= 0:
        raise ConfigError(f"{what}: {text!r} is not a positive whole number")
    return int(text)


def _size_text(n: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= factor:
            return f"{n / factor:.1f} {unit}"
    return f"{n} bytes"


@dataclass(frozen=True)
class ManifestLimits:
    max_bytes: int = DEFAULT_MAX_BYTES
    max_nodes: int = DEFAULT_MAX_NODES

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> ManifestLimits:
        env = os.environ if env is None else env
        size, nodes = env.get(MAX_BYTES_ENV, "").strip(), env.get(MAX_NODES_ENV, "").strip()
        return cls(parse_size(size) if size else DEFAULT_MAX_BYTES, parse_count(nodes) if nodes else DEFAULT_MAX_NODES)

    def too_large(self, size: int, known: bool = True) -> str | None:
        """Why a manifest of `size` bytes is refused, or None; `known=False`: a stream read only up to the limit."""
        if size <= self.max_bytes:
            return None
        measured = f"{size} bytes ({_size_text(size)})" if known else f"more than {self.max_bytes} bytes"
        return (
            f"the manifest is {measured}, over the limit of {self.max_bytes} bytes "
            f"({_size_text(self.max_bytes)}); it was not parsed. The operator can raise the limit at "
            f"registration (-args=--max-manifest-bytes=N) or with {MAX_BYTES_ENV}"
        )

    def too_many_nodes(self) -> str:
        return (
            f"the manifest has more than {self.max_nodes} YAML nodes (keys, values and list items); "
            f"parsing stopped here. The operator can raise the limit at registration "
            f"(-args=--max-manifest-nodes=N) or with {MAX_NODES_ENV}"
        )

    def expands_too_far(self, written: int) -> str:
        return (
            f"aliases expand the manifest to more than {self.max_nodes} values (it has {written} nodes as "
            f"written); refused before expanding it. The limit is set at registration "
            f"(-args=--max-manifest-nodes=N) or with {MAX_NODES_ENV}"
        )
