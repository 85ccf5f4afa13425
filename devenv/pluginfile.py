"""Build the plugin file as an operator does (`yamldb plugin build --output DIR`), optionally as another version.

    built = build_plugin(out_dir)                    # this checkout, its own __version__
    newer = build_plugin(out_dir2, version="0.1.1")  # the same code reporting v0.1.1

A different version is built from a copy of the ``yamldb`` package whose
``__version__`` is changed, put first on ``PYTHONPATH``: the file then differs
(another sha256, another unpack cache) and the plugin reports that version,
which the catalog checks at registration. Works for any build format that
bundles the ``yamldb`` package it imports.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PLUGIN_FILE", "BuiltPlugin", "build_plugin", "plugin_version"]

PLUGIN_FILE = "yamldb-database-plugin"
_VERSION = re.compile(r'^__version__ = "([^"]*)"$', re.MULTILINE)
_REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class BuiltPlugin:
    path: Path
    sha256: str
    version: str  # as the plugin reports it and the catalog wants it: "v0.1.0"


def plugin_version(path: Path, env: dict[str, str] | None = None) -> str:
    """``v`` + what ``FILE --version`` prints (``yamldb 0.1.0``); also unpacks the file's cache for ``env``."""
    proc = subprocess.run(
        [str(path), "--version"],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    match = re.fullmatch(r"yamldb (\S+)", proc.stdout.strip())
    if proc.returncode != 0 or not match:
        raise RuntimeError(
            f"{path} --version failed (exit {proc.returncode}): {proc.stdout.strip()} {proc.stderr.strip()[-500:]}"
        )
    return "v" + match.group(1)


def build_plugin(output_dir: Path, version: str | None = None, timeout: float = 600.0) -> BuiltPlugin:
    """Run ``yamldb plugin build --output output_dir``; ``version`` (``0.1.1``) builds a copy reporting it."""
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="yamldb-build-") as tmp:
        if version is not None:
            tree = Path(tmp)
            shutil.copytree(_REPO / "yamldb", tree / "yamldb", ignore=shutil.ignore_patterns("__pycache__"))
            init = tree / "yamldb" / "__init__.py"
            text, count = _VERSION.subn(f'__version__ = "{version}"', init.read_text())
            if count != 1:
                raise RuntimeError(f"no single __version__ line in {_REPO / 'yamldb' / '__init__.py'}")
            init.write_text(text)
            for data in ("dialects", "examples", "schemas"):  # found beside the package (yamldb.resources)
                (tree / data).symlink_to(_REPO / data)
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tree), env.get("PYTHONPATH")]))
        proc = subprocess.run(
            [sys.executable, "-m", "yamldb.cli", "plugin", "build", "--output", str(output_dir)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=tmp,
            check=False,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"yamldb plugin build failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    path = output_dir / PLUGIN_FILE
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    if version is None:
        match = _VERSION.search((_REPO / "yamldb" / "__init__.py").read_text())
        version = match.group(1) if match else "0"
    return BuiltPlugin(path, sha256, "v" + version)


def main(argv: list[str] | None = None) -> int:
    """``python -m devenv.pluginfile --output DIR [--version X.Y.Z]``: a build to try upgrades with."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m devenv.pluginfile", description=main.__doc__)
    p.add_argument("--output", type=Path, required=True, help="directory for yamldb-database-plugin")
    p.add_argument("--version", help="the version the build reports (default: this checkout's)")
    args = p.parse_args(argv)
    built = build_plugin(args.output, args.version)
    print(f"{built.path}\nversion: {built.version}\nsha256: {built.sha256}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
