"""`yamldb plugin build`: one executable file holding yamldb, its drivers and its data.

Two formats (docs/packaging.md says why and what each needs on the host):

- ``self-contained`` (default): a PyInstaller one-folder application, with its
  own interpreter and every native library, packed behind a small static
  launcher that unpacks it once per build into a private cache
  (yamldb/cli/build_frozen.py, yamldb/cli/launcher.c). Runs on a Linux host with
  no Python.
- ``zipapp``: a shebang line and a zip; needs ``pythonX.Y`` on the host
  (yamldb/cli/build_zipapp.py).

Both write exactly one file, ``DIR/yamldb-database-plugin``, and name the
distributions they bundle with the same dependency walk.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import yamldb
from yamldb.errors import YamldbError

__all__ = ["DEFAULT_EXTRAS", "FORMATS", "PLUGIN_FILE", "BuildError", "BuildResult", "build", "dependency_closure"]

PLUGIN_FILE = "yamldb-database-plugin"
DEFAULT_EXTRAS = ("postgresql", "mysql")
FORMATS = ("self-contained", "zipapp")
_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?[^;]*(?:;\s*(.*))?$")


class BuildError(YamldbError):
    """The build cannot produce a file that would work; the message says what to do."""


@dataclass(frozen=True)
class BuildResult:
    path: Path
    sha256: str
    size: int
    distributions: tuple[str, ...]
    format: str = "zipapp"
    runs_on: str = ""  # what the host needs, in a few words

    def register_command(self, cli: str = "bao") -> str:
        return (
            f"{cli} plugin register -sha256={self.sha256} -version=v{yamldb.__version__} "
            f"-command={self.path.name} database yamldb"
        )

    def declarative_block(self) -> str:
        return (
            f'plugin "database" "yamldb" {{\n  command   = "{self.path.name}"\n'
            f'  version   = "v{yamldb.__version__}"\n  sha256sum = "{self.sha256}"\n}}'
        )


def _wanted(marker: str | None, extras: set[str]) -> bool:
    if not marker:
        return True
    found = re.findall(r"extra\s*==\s*['\"]([^'\"]+)['\"]", marker)
    return bool(set(found) & extras) if found else True


def dependency_closure(root: str, extras: set[str]) -> list[metadata.Distribution]:
    """Installed distributions needed by `root` with `extras` (markers other than extras are assumed true)."""
    seen: dict[str, metadata.Distribution] = {}
    todo: list[tuple[str, set[str]]] = [(root, extras)]
    while todo:
        name, want = todo.pop()
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        key = dist.metadata["Name"].lower().replace("_", "-")
        first = key not in seen
        seen[key] = dist
        for req in dist.requires or []:
            match = _REQ.match(req)
            if not match or not _wanted(match.group(3), want):
                continue
            sub_extras = {e.strip() for e in (match.group(2) or "[]")[1:-1].split(",") if e.strip()}
            if first or sub_extras:
                todo.append((match.group(1), sub_extras))
    return [d for k, d in sorted(seen.items()) if k != root]


def check_extras(extras: tuple[str, ...]) -> None:
    """Every requested driver extra must be installed here: the build bundles what is installed."""
    dist = metadata.distribution(yamldb.DISTRIBUTION)
    known: dict[str, list[str]] = {}
    for req in dist.requires or []:
        match = _REQ.match(req)
        for extra in re.findall(r"extra\s*==\s*['\"]([^'\"]+)['\"]", (match.group(3) if match else "") or ""):
            known.setdefault(extra, []).append(match.group(1))
    for extra in extras:
        if extra not in known and extra != "sqlite":
            raise BuildError(f"unknown extra {extra!r}; known: {', '.join(sorted(known))}")
        for name in known.get(extra, []):
            try:
                metadata.distribution(name)
            except metadata.PackageNotFoundError:
                raise BuildError(
                    f"extra {extra!r} needs {name}, which is not installed: "
                    f"pip install '{yamldb.DISTRIBUTION}[{extra}]' first"
                ) from None


def write_plugin_file(output_dir: Path, chunks: list[bytes]) -> tuple[Path, str, int]:
    """Write DIR/yamldb-database-plugin atomically (mode 0755); its path, sha256 and size."""
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / PLUGIN_FILE
    tmp = target.with_name(f".{PLUGIN_FILE}.tmp")
    digest = hashlib.sha256()
    size = 0
    with tmp.open("wb") as out:
        for chunk in chunks:
            out.write(chunk)
            digest.update(chunk)
            size += len(chunk)
    tmp.chmod(0o755)
    tmp.replace(target)
    return target, digest.hexdigest(), size


def build(
    output_dir: Path, extras: tuple[str, ...] = DEFAULT_EXTRAS, python: str | None = None, fmt: str = "self-contained"
) -> BuildResult:
    if fmt not in FORMATS:
        raise BuildError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    if python and fmt != "zipapp":
        raise BuildError(
            "--python sets the zipapp's interpreter; the self-contained file carries its own "
            "(add --format zipapp, or drop --python)"
        )
    check_extras(extras)
    if fmt == "zipapp":
        from yamldb.cli.build_zipapp import build_zipapp

        return build_zipapp(output_dir, extras, python)
    from yamldb.cli.build_frozen import build_frozen

    return build_frozen(output_dir, extras)
