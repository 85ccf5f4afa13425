"""The installed `yamldb-database-plugin` entry point answers an operator at a shell (issue 11, item 10)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yamldb

ENTRY = Path(sys.executable).with_name("yamldb-database-plugin")  # the console script pip installed


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "YAMLDB_MANIFEST_DIRS"}
    return subprocess.run([str(ENTRY), *args], capture_output=True, text=True, timeout=60, env=env)


def test_version_from_the_installed_entry_point():
    result = run("--version")
    assert (result.returncode, result.stdout, result.stderr) == (0, f"yamldb {yamldb.__version__}\n", "")


def test_help_names_every_registration_option():
    result = run("--help")
    assert result.returncode == 0
    for option in ("--manifest-dir DIR", "--no-inline-manifests", "--version", "bao plugin register"):
        assert option in result.stdout


def test_an_unknown_argument_still_fails_the_launch():
    result = run("--versoin")
    assert result.returncode == 1 and "unknown argument '--versoin'" in result.stderr and "--version" in result.stderr
