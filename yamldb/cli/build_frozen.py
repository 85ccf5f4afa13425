"""`yamldb plugin build` (self-contained, the default): the interpreter and every native library inside.

Three steps, all in a temporary directory:

1. PyInstaller freezes yamldb's plugin entry point into a one-folder application
   (yamldb/cli/frozen.spec): a bootloader, libpython, the standard library it
   needs, every module and native extension of the bundled distributions, and
   the shipped dialects/examples/schemas.
2. The launcher (yamldb/cli/launcher.c) is compiled statically with the host's
   C compiler and zlib.
3. The plugin file is the launcher, then the folder as a payload of
   zlib-compressed entries in sorted order, then a trailer naming the build id
   (the payload's hash). On first start the launcher unpacks the payload into a
   private cache directory named by that id; every start execs the bootloader
   there.

PyInstaller's one-file mode is not used: it unpacks everything again on every
start and runs the application in a child process (docs/packaging.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from importlib import metadata
from pathlib import Path

import yamldb
from yamldb.cli.build import PLUGIN_FILE, BuildError, BuildResult, dependency_closure, write_plugin_file
from yamldb.cli.elf import glibc_floor, program_interpreter
from yamldb.resources import shipped_dir

__all__ = ["PAYLOAD_MAGIC", "build_frozen", "pack_tree", "read_trailer"]

PAYLOAD_MAGIC = b"YAMLDB-PAYLOAD-1"
_TRAILER = struct.Struct("<16sQQ32s")  # magic | payload offset | payload length | build id (launcher.c)
_HEADER = struct.Struct("<B3xII4xQQ")  # kind | mode | path length | stored length | raw length
_HERE = Path(__file__).resolve().parent
# Fixed so that two builds of the same inputs are identical (PyInstaller: "Creating a Reproducible Build").
_HASH_SEED = "0"
_DATA_EXCLUDES = [
    "**/*.pyi",
    "**/*.pyx",
    "**/*.pxd",
    "**/*.c",
    "**/*.h",
    "**/*.cpp",
    "**/tests/**",
    "**/__pycache__/**",
]
_INSTALL_HINT = "apt-get install gcc libc6-dev zlib1g-dev; on Alpine: apk add build-base zlib-static"


def _top_level_names(dist: metadata.Distribution) -> list[str]:
    """Import names a distribution installs (top_level.txt, else its file list)."""
    text = dist.read_text("top_level.txt")
    if text:
        return sorted({line.strip() for line in text.splitlines() if line.strip()})
    names = set()
    for file in dist.files or []:
        if ".." in file.parts or file.parts[0].endswith((".dist-info", ".data")):
            continue
        first = file.parts[0]
        if len(file.parts) == 1:
            if not file.name.endswith((".py", ".so")):
                continue
            first = file.name.split(".")[0]
        if first.isidentifier():
            names.add(first)
    return sorted(names)


def _metadata_files(dists: list[metadata.Distribution]) -> list[list[str]]:
    """[source, destination folder] of each bundled distribution's METADATA (for lazy `__version__` lookups).

    Only that file: the rest of a .dist-info (RECORD, INSTALLER, direct_url.json...) describes how and where
    it was installed here, and would make two builds of the same sources differ.
    """
    found = []
    for dist in dists:
        for file in dist.files or []:
            if len(file.parts) == 2 and file.parts[0].endswith(".dist-info") and file.name == "METADATA":
                found.append([str(dist.locate_file(file)), file.parts[0]])
    return sorted(found)


def _freeze_config(work: Path, dists: list[metadata.Distribution]) -> dict:
    packages = sorted({name for d in dists for name in _top_level_names(d)})
    bundled = {d.metadata["Name"].lower().replace("_", "-") for d in dists} | {yamldb.DISTRIBUTION}
    # Everything else installed here (pytest, PyInstaller, build tools...) stays out, even if some module
    # would import it optionally: the file bundles the same distributions as the zipapp.
    excludes = sorted(
        top
        for top, owners in metadata.packages_distributions().items()
        if top.isidentifier()
        and top not in packages
        and top != "yamldb"
        and not any(o.lower().replace("_", "-") in bundled for o in owners)
    )
    return {
        "name": PLUGIN_FILE,
        "entry": str(_HERE / "frozen_main.py"),
        "pathex": [],
        "packages": packages,
        "submodules_only": ["yamldb"],
        "datas": [[str(shipped_dir(name)), f"yamldb/_data/{name}"] for name in ("dialects", "examples", "schemas")],
        "data_excludes": _DATA_EXCLUDES,
        "metadata_files": _metadata_files(dists),
        "excludes": excludes,
        "skip_module_parts": ["tests", "test", "testing", "conftest"],
        "skip_module_prefixes": ["yamldb.cli"],
    }


def _run_pyinstaller(work: Path, config: dict) -> Path:
    try:
        import PyInstaller  # noqa: F401 - only to say what to install
    except ImportError:
        raise BuildError(
            f"the self-contained format needs PyInstaller: pip install '{yamldb.DISTRIBUTION}[build]' "
            "(or build the Python-dependent file with --format zipapp)"
        ) from None
    config_path = work / "freeze.json"
    config_path.write_text(json.dumps(config, indent=1), encoding="utf-8")
    env = {
        **os.environ,
        "YAMLDB_FREEZE_CONFIG": str(config_path),
        "PYTHONHASHSEED": _HASH_SEED,
        # a private cache: nothing from an earlier build (or another PyInstaller version) leaks in
        "PYINSTALLER_CONFIG_DIR": str(work / "pyinstaller-cache"),
        # Store PyInstaller's module archive uncompressed: the payload compresses it anyway (the file gets
        # smaller), and every later start skips inflating each module it imports (~25 ms less CPU to the
        # handshake here, for ~70 ms more on the first start, which unpacks 14 MB more).
        "PYINSTALLER_ZLIB_COMPRESSION_LEVEL": "0",
    }
    command = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--log-level",
        "WARN",
        "--distpath",
        str(work / "dist"),
        "--workpath",
        str(work / "build"),
        str(_HERE / "frozen.spec"),
    ]
    result = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=3600)
    app = work / "dist" / PLUGIN_FILE
    if result.returncode != 0 or not (app / PLUGIN_FILE).is_file():
        tail = "\n".join((result.stderr or result.stdout).splitlines()[-30:])
        raise BuildError(f"PyInstaller failed (exit {result.returncode}):\n{tail}")
    return app


def _compile_launcher(work: Path) -> bytes:
    compiler = os.environ.get("CC", "cc")
    if not shutil.which(compiler.split()[0]):
        raise BuildError(
            f"the self-contained format compiles a small static launcher and needs a C compiler "
            f"({compiler} not found): {_INSTALL_HINT}"
        )
    out = work / "launcher"
    command = [*compiler.split(), "-static", "-O2", "-s", "-o", str(out), str(_HERE / "launcher.c"), "-lz"]
    result = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        tail = "\n".join(result.stderr.splitlines()[-10:])
        raise BuildError(
            f"compiling the launcher failed ({' '.join(command)}):\n{tail}\n"
            f"a static C library and static zlib are needed: {_INSTALL_HINT}"
        )
    return out.read_bytes()


def _safe_relative(path: str) -> bool:
    parts = path.split("/")
    return bool(path) and not path.startswith("/") and all(p not in ("", ".", "..") for p in parts)


def pack_tree(root: Path) -> bytes:
    """The payload: one entry per directory, file and symlink under root, in sorted order (launcher.c reads it)."""
    entries: list[Path] = []
    for folder, dirs, files in os.walk(root):
        entries += [Path(folder) / name for name in dirs + files]
    out = bytearray()
    for path in sorted(entries, key=lambda p: p.relative_to(root).as_posix()):
        name = path.relative_to(root).as_posix().encode()
        if path.is_symlink():
            target = os.readlink(path)
            if not _safe_relative(target):
                raise BuildError(f"{path} links to {target}, outside the application folder")
            kind, mode, data, raw = b"l", 0o777, target.encode(), len(target.encode())
        elif path.is_dir():
            kind, mode, data, raw = b"d", 0o755, b"", 0
        else:
            content = path.read_bytes()
            kind, mode, raw = b"f", 0o755 if os.access(path, os.X_OK) else 0o644, len(content)
            data = zlib.compress(content, 6)
        out += _HEADER.pack(kind[0], mode, len(name), len(data), raw) + name + data
    return bytes(out)


def read_trailer(data: bytes) -> tuple[int, int, str]:
    """(payload offset, payload length, build id) of a self-contained plugin file's content."""
    magic, offset, length, build_id = _TRAILER.unpack(data[-_TRAILER.size :])
    if magic != PAYLOAD_MAGIC:
        raise ValueError("not a self-contained yamldb plugin file")
    return offset, length, build_id.rstrip(b"\0").decode()


def build_frozen(output_dir: Path, extras: tuple[str, ...]) -> BuildResult:
    dists = dependency_closure(yamldb.DISTRIBUTION, set(extras))
    with tempfile.TemporaryDirectory(prefix="yamldb-freeze-") as tmp:
        work = Path(tmp)
        launcher = _compile_launcher(work)  # first: it fails in a second, PyInstaller takes a while
        app = _run_pyinstaller(work, _freeze_config(work, dists))
        runs_on = _runs_on(app)
        payload = pack_tree(app)
    build_id = hashlib.sha256(payload).hexdigest()[:24]
    trailer = _TRAILER.pack(PAYLOAD_MAGIC, len(launcher), len(payload), build_id.encode())
    path, sha256, size = write_plugin_file(output_dir, [launcher, payload, trailer])
    return BuildResult(
        path,
        sha256,
        size,
        tuple(f"{d.metadata['Name']} {d.version}" for d in dists),
        format="self-contained",
        runs_on=runs_on,
    )


def _runs_on(app: Path) -> str:
    """What a host needs, from the bundled files: the bootloader's loader names the C library."""
    loader = program_interpreter((app / PLUGIN_FILE).read_bytes()) or ""
    if "musl" in loader:
        libc = "musl (Alpine); not on glibc hosts"
    else:
        floor = glibc_floor(p for p in app.rglob("*") if p.is_file() and not p.is_symlink())
        libc = f"glibc >= {floor}" if floor else "glibc"
    return f"Linux {platform.machine()} with {libc}; no Python needed"
