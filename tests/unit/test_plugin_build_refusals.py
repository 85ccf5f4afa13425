"""`yamldb plugin build` refuses to write a file that could not work on the host."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def build(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "yamldb.cli", "plugin", "build", "--output", str(tmp_path), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_unknown_extra_is_refused(tmp_path):
    result = build(tmp_path, "--extra", "postgress")
    assert result.returncode == 1 and "unknown extra 'postgress'" in result.stderr
    assert "Traceback" not in result.stderr and not any(tmp_path.iterdir())


def test_an_extra_whose_driver_is_not_installed_is_refused(tmp_path):
    result = build(tmp_path, "--extra", "db2")  # ibm-db-sa is not installed in the test environment
    assert result.returncode == 1 and "pip install 'yamldb-plugin[db2]' first" in result.stderr


def test_a_python_that_cannot_be_checked_is_refused(tmp_path):
    result = build(tmp_path, "--format", "zipapp", "--python", "/no/such/python3.11")
    assert result.returncode == 1 and "cannot run it here" in result.stderr


def test_python_is_a_usage_error_for_the_self_contained_file(tmp_path):
    result = build(tmp_path, "--python", "/usr/bin/python3")  # the default format carries its own interpreter
    assert result.returncode == 2 and "--format zipapp" in result.stderr and not any(tmp_path.iterdir())


def test_without_a_c_compiler_the_build_says_what_to_install(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "yamldb.cli", "plugin", "build", "--output", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CC": "no-such-cc"},
    )
    assert result.returncode == 1 and "apt-get install gcc libc6-dev zlib1g-dev" in result.stderr
    assert "Traceback" not in result.stderr and not any(tmp_path.iterdir())
