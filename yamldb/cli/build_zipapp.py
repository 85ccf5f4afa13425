"""`yamldb plugin build --format zipapp`: a shebang line and a zip; needs pythonX.Y on the host.

Native extensions (grpcio, cryptography, psycopg) cannot be imported from a
zip, so on first start the payload is unpacked into a private per-build cache
directory and run from there; later starts only check that the cache is
complete. The build id is the payload's hash, so two builds never share a cache
and the sha256 Vault checks covers every byte that runs.
"""

from __future__ import annotations

import hashlib
import io
import os
import py_compile
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import yamldb
from yamldb.cli.build import DEFAULT_EXTRAS, BuildError, BuildResult, dependency_closure, write_plugin_file
from yamldb.resources import shipped_dir

__all__ = ["build_zipapp"]

_SKIP_PARTS = {"__pycache__"}

BOOTSTRAP = """\
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
from yamldb.transport.entry import main
main()
"""


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
            py_compile.compile(
                str(path),
                cfile=str(target),
                dfile=arcname.removeprefix("site/"),
                doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
        except py_compile.PyCompileError:
            return b""  # e.g. a test file with Python-2 syntax inside a dependency: never imported
        return target.read_bytes()


def _check_python(python: str) -> None:
    """Native wheels are built for this interpreter's minor version; the shebang must match it."""
    wanted = f"{sys.version_info.major}.{sys.version_info.minor}"
    executable = python.split()[-1] if python.startswith("/usr/bin/env ") else python
    try:
        found = subprocess.run(
            [executable, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
    except OSError:
        found = ""
    if not found:
        raise BuildError(f"--python {python}: cannot run it here to check its version; it must be Python {wanted}")
    if found != wanted:
        raise BuildError(f"--python {python} is Python {found}, but the bundled native packages are for {wanted}")


def build_zipapp(output_dir: Path, extras: tuple[str, ...] = DEFAULT_EXTRAS, python: str | None = None) -> BuildResult:
    if python:
        _check_python(python)
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
    path, sha256, size = write_plugin_file(output_dir, [f"#!{interpreter}\n".encode(), payload.getvalue()])
    return BuildResult(
        path,
        sha256,
        size,
        tuple(f"{d.metadata['Name']} {d.version}" for d in dists),
        format="zipapp",
        runs_on=f"a host with {interpreter.split()[-1]}",
    )
