"""What `yamldb plugin build` needs on the build machine besides Python packages: a C compiler, a static
C library and static zlib, for the self-contained file's launcher (yamldb/cli/launcher.c).

:func:`ensure_build_tools` checks that a static program using zlib links, and installs Debian's
gcc, libc6-dev and zlib1g-dev with apt-get when it does not (as root); otherwise it raises
:class:`HarnessUnavailable` saying what is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from devenv.ports import HarnessUnavailable

__all__ = ["ensure_build_tools"]

_PACKAGES = ["gcc", "libc6-dev", "zlib1g-dev"]


def _links_static_zlib() -> bool:
    compiler = os.environ.get("CC", "cc").split()
    if not shutil.which(compiler[0]):
        return False
    with tempfile.TemporaryDirectory(prefix="yamldb-cc-") as tmp:
        source = Path(tmp) / "probe.c"
        source.write_text("#include <zlib.h>\nint main(void) { return zlibVersion()[0] == 0; }\n")
        result = subprocess.run(
            [*compiler, "-static", "-o", str(Path(tmp) / "probe"), str(source), "-lz"], capture_output=True, timeout=120
        )
        return result.returncode == 0


def ensure_build_tools() -> None:
    if _links_static_zlib():
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise HarnessUnavailable(
            f"no C compiler with static zlib for the plugin's launcher; install {' '.join(_PACKAGES)}"
        )
    install = ["apt-get", "install", "-y", "-q", *_PACKAGES]
    if subprocess.run(install, capture_output=True, timeout=900).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, timeout=900)
        subprocess.run(install, capture_output=True, timeout=900)
    if not _links_static_zlib():
        raise HarnessUnavailable(f"apt-get install {' '.join(_PACKAGES)} did not give a C compiler with static zlib")
