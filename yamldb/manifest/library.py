"""Find manifests by name: the operator's directories first, then the shipped ones.

Names are plain file stems; they can never name a path, so a connection config
(written by anyone allowed to configure the mount) cannot make the plugin read
arbitrary files.
"""

from __future__ import annotations

import difflib
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path

from yamldb.errors import ManifestNotFound
from yamldb.manifest.loader import load_file
from yamldb.manifest.model import Manifest
from yamldb.resources import shipped_dir

__all__ = ["DIRS_ENV", "NAME", "ManifestLibrary"]

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
DIRS_ENV = "YAMLDB_MANIFEST_DIRS"


def _has_shipped(name: str) -> bool:
    try:
        shipped_dir(name)
    except FileNotFoundError:
        return False
    return True


class ManifestLibrary:
    def __init__(self, directories: Sequence[Path] = (), include_shipped: bool = True) -> None:
        dirs = [Path(d) for d in directories]
        shipped = [shipped_dir(name) for name in ("dialects", "examples") if _has_shipped(name)]
        if include_shipped:
            dirs += shipped
        # yamldb's own files pass `yamldb validate` in its test suite; re-checking them against the JSON
        # Schema at every plugin start would import jsonschema (~5 MB resident) for nothing.
        self._shipped = frozenset(d.resolve() for d in shipped)
        self.directories = tuple(dirs)
        self.dialect_directories = tuple(d for d in dirs if d.name == "dialects") or (shipped_dir("dialects"),)
        self._cache: dict[Path, tuple[float, Manifest]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_environment(cls, env: dict[str, str] | None = None) -> ManifestLibrary:
        """Operator directories come from the plugin's registration (-env YAMLDB_MANIFEST_DIRS=a:b)."""
        value = (os.environ if env is None else env).get(DIRS_ENV, "")
        return cls([Path(p) for p in value.split(os.pathsep) if p])

    def names(self) -> list[str]:
        found: set[str] = set()
        for directory in self.directories:
            if directory.is_dir():
                found.update(p.stem for p in directory.glob("*.yaml") if NAME.match(p.stem))
        return sorted(found)

    def _find(self, name: str, directories: Sequence[Path], kind: str = "manifest") -> Path:
        if not NAME.match(name) or ".." in name:
            raise ManifestNotFound(
                f"invalid manifest name {name!r}: use a name such as 'postgresql' (letters, digits, . _ -), not a path"
            )
        for directory in directories:
            candidate = directory / f"{name}.yaml"
            if candidate.is_file():
                # A symlink out of the directory would let a name reach any file.
                if not candidate.resolve().is_relative_to(directory.resolve()):
                    continue
                return candidate
        available = (
            self.names()
            if kind == "manifest"
            else sorted({p.stem for d in directories if d.is_dir() for p in d.glob("*.yaml") if NAME.match(p.stem)})
        )
        close = difflib.get_close_matches(name, available, n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
        raise ManifestNotFound(f"unknown {kind} {name!r}{hint}; available: {', '.join(available) or 'none'}")

    def is_shipped(self, path: Path) -> bool:
        """Whether `path` is one of the dialects or examples shipped inside yamldb."""
        return path.resolve().parent in self._shipped

    def path_of(self, name: str) -> Path:
        return self._find(name, self.directories)

    def dialect_path(self, name: str) -> Path:
        """What `dialect: NAME` refers to: a dialect file, else a manifest that builds on one."""
        try:
            return self._find(name, self.dialect_directories, "dialect")
        except ManifestNotFound:
            others = [d for d in self.directories if d not in self.dialect_directories]
            try:
                return self._find(name, others)
            except ManifestNotFound:
                pass
            raise

    def load(self, name: str) -> Manifest:
        path = self.path_of(name)
        mtime = path.stat().st_mtime
        with self._lock:
            cached = self._cache.get(path)
            if cached and cached[0] == mtime:
                return cached[1]
        manifest = load_file(path, self.dialect_path, prevalidated=self.is_shipped)
        with self._lock:
            self._cache[path] = (mtime, manifest)
        return manifest
