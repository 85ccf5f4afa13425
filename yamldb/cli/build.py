"""`yamldb plugin build`: one executable file holding yamldb, its drivers and its data.

The file is a zipapp: a shebang line and a zip. Native extensions (grpcio,
cryptography, psycopg) cannot be imported from a zip, so on first start the
payload is unpacked into a private per-build cache directory and run from
there; later starts only check that the cache is complete. The build id is the
payload's hash, so two builds never share a cache and the sha256 Vault checks
covers every byte that runs.
"""

from __future__ import annotations

import hashlib
import io
import os
import py_compile
import re
import stat
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import yamldb
from yamldb.errors import YamldbError
from yamldb.resources import shipped_dir

PLUGIN_FILE = "yamldb-database-plugin"
DEFAULT_EXTRAS = ("postgresql", "mysql")
_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?[^;]*(?:;\s*(.*))?$")
_SKIP_PARTS = {"__pycache__"}

BOOTSTRAP = '''\
# yamldb plugin bootstrap: unpack once into a private cache, then run from there.
import os, sys, zipfile
BUILD_ID = {build_id!r}
def _cache_root():
    base = os.environ.get("YAMLDB_PLUGIN_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "yamldb-plugin")
    try:
        os.makedirs(base, mode=0o700, exist_ok=True)
        st = os.stat(base)
        if st.st_uid == os.getuid() and not st.st_mode & 0o022:
            return base
    except OSError:
        pass
    # Fall back to a per-user directory in the temp dir; refuse one others could have planted.
    fallback = os.path.join(os.environ.get("TMPDIR", "/tmp"), "yamldb-plugin-%d" % os.getuid())
    import json, datetime
    sys.stderr.write(json.dumps({"@level": "warn", "@module": "yamldb.bootstrap", "@timestamp":
        datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00"),
        "@message": "plugin cache %s is unusable (owner or mode); using %s" % (base, fallback)}) + "\\n")
    base = fallback
    os.makedirs(base, mode=0o700, exist_ok=True)
    st = os.stat(base)
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        sys.stderr.write("yamldb: unsafe cache directory %s (owner/permissions)\\n" % base)
        sys.exit(1)
    return base
def _prune(root):
    # Builds not started for two weeks are removed; a build still registered just unpacks again.
    import shutil, time
    for name in os.listdir(root):
        path = os.path.join(root, name)
        marker = os.path.join(path, ".complete")
        try:
            if name != BUILD_ID and os.path.isfile(marker) and time.time() - os.stat(marker).st_mtime > 14 * 86400:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass
def _unpack():
    root = _cache_root()
    target = os.path.join(root, BUILD_ID)
    if os.path.exists(os.path.join(target, ".complete")):
        try:
            os.utime(os.path.join(target, ".complete"))  # "last started", for pruning
        except OSError:
            pass
        return target
    _prune(root)
    import tempfile
    tmp = tempfile.mkdtemp(prefix=".unpack-", dir=os.path.dirname(target))
    with zipfile.ZipFile(os.path.dirname(os.path.abspath(__file__))) as zf:
        for info in zf.infolist():
            if info.filename.startswith("site/"):
                zf.extract(info, tmp)
    open(os.path.join(tmp, "site", ".complete"), "w").close()
    try:
        os.rename(os.path.join(tmp, "site"), target)
    except OSError:
        pass  # another process unpacked the same build first
    import shutil
    shutil.rmtree(tmp, ignore_errors=True)
    return target
sys.path.insert(0, _unpack())
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
if len(sys.argv) > 1 and sys.argv[1] == "--version":
    import yamldb
    print("yamldb " + yamldb.__version__)
    sys.exit(0)
from yamldb.transport.entry import main
main()
'''


@dataclass(frozen=True)
class BuildResult:
    path: Path
    sha256: str
    size: int
    distributions: tuple[str, ...]

    def register_command(self, cli: str = "bao") -> str:
        return (f"{cli} plugin register -sha256={self.sha256} -version=v{yamldb.__version__} "
                f"-command={self.path.name} database yamldb")

    def declarative_block(self) -> str:
        return (f'plugin "database" "yamldb" {{\n  command   = "{self.path.name}"\n'
                f'  version   = "v{yamldb.__version__}"\n  sha256sum = "{self.sha256}"\n}}')


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


def _add_tree(zf: zipfile.ZipFile, source: Path, arcroot: str) -> None:
    for path in sorted(source.rglob("*")):
        if path.is_file() and not (_SKIP_PARTS & set(path.parts)) and path.suffix != ".pyc":
            _write(zf, f"{arcroot}/{path.relative_to(source).as_posix()}", path)


def _write(zf: zipfile.ZipFile, arcname: str, path: Path) -> None:
    # Fixed timestamps and modes: the same inputs give the same sha256.
    _put(zf, arcname, path.read_bytes(), executable=os.access(path, os.X_OK))
    if path.suffix == ".py":
        _put(zf, _pyc_name(arcname), _compile(path, arcname))


def _put(zf: zipfile.ZipFile, arcname: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
    zf.writestr(info, data)


def _pyc_name(arcname: str) -> str:
    folder, _, name = arcname.rpartition("/")
    return f"{folder}/__pycache__/{name[:-3]}.{sys.implementation.cache_tag}.pyc"


def _compile(path: Path, arcname: str) -> bytes:
    """Bytecode that stays valid after unpacking: unchecked-hash pycs (PEP 552) ignore file timestamps,
    and hosts often run with PYTHONDONTWRITEBYTECODE (OpenBao passes its environment on), so the
    plugin would otherwise compile every module on every start."""
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "out.pyc"
        try:
            py_compile.compile(str(path), cfile=str(target), dfile=arcname.removeprefix("site/"), doraise=True,
                               invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        except py_compile.PyCompileError:
            return b""  # e.g. a test file with Python-2 syntax inside a dependency: never imported
        return target.read_bytes()


class BuildError(YamldbError):
    """The build cannot produce a file that would work; the message says what to do."""


def _check_extras(extras: tuple[str, ...]) -> None:
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
                raise BuildError(f"extra {extra!r} needs {name}, which is not installed: "
                                 f"pip install '{yamldb.DISTRIBUTION}[{extra}]' first") from None


def _check_python(python: str) -> None:
    """Native wheels are built for this interpreter's minor version; the shebang must match it."""
    wanted = f"{sys.version_info.major}.{sys.version_info.minor}"
    executable = python.split()[-1] if python.startswith("/usr/bin/env ") else python
    try:
        found = subprocess.run([executable, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                               capture_output=True, text=True, timeout=30).stdout.strip()
    except OSError:
        found = ""
    if not found:
        raise BuildError(f"--python {python}: cannot run it here to check its version; it must be Python {wanted}")
    if found != wanted:
        raise BuildError(f"--python {python} is Python {found}, but the bundled native packages are for {wanted}")


def build(output_dir: Path, extras: tuple[str, ...] = DEFAULT_EXTRAS, python: str | None = None) -> BuildResult:
    _check_extras(extras)
    if python:
        _check_python(python)
    output_dir.mkdir(parents=True, exist_ok=True)
    payload = io.BytesIO()
    dists = dependency_closure(yamldb.DISTRIBUTION, set(extras))
    with zipfile.ZipFile(payload, "w") as zf:
        package = Path(yamldb.__file__).resolve().parent
        _add_tree(zf, package, "site/yamldb")
        if not (package / "_data").is_dir():  # checkout / editable install: data is beside the package
            for name in ("dialects", "examples", "schemas"):
                _add_tree(zf, shipped_dir(name), f"site/yamldb/_data/{name}")
        for dist in dists:
            base = Path(dist.locate_file(""))
            for file in dist.files or []:
                if ".." in file.parts or _SKIP_PARTS & set(file.parts) or file.suffix == ".pyc":
                    continue  # scripts outside site-packages, caches
                path = Path(dist.locate_file(file))
                if path.is_file():
                    _write(zf, f"site/{path.relative_to(base).as_posix()}", path)
    build_id = hashlib.sha256(payload.getvalue()).hexdigest()[:24]
    interpreter = python or f"/usr/bin/env python{sys.version_info.major}.{sys.version_info.minor}"
    with zipfile.ZipFile(payload, "a") as zf:
        info = zipfile.ZipInfo("__main__.py", date_time=(2020, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, BOOTSTRAP.replace("{build_id!r}", repr(build_id)))
    target = output_dir / PLUGIN_FILE
    tmp = target.with_name(f".{PLUGIN_FILE}.tmp")
    data = f"#!{interpreter}\n".encode() + payload.getvalue()
    tmp.write_bytes(data)
    tmp.chmod(0o755)
    tmp.replace(target)
    return BuildResult(target, hashlib.sha256(data).hexdigest(), len(data),
                       tuple(f"{d.metadata['Name']} {d.version}" for d in dists))
