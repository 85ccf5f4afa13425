"""The plugin's socket directory is removed pid file last (a kill half-way must leave it sweepable)."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from yamldb.transport.server import SOCKET_DIR_PREFIX, remove_socket_dir, sweep_stale_socket_dirs


def make_socket(path: Path) -> None:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    sock.close()


def socket_dir(parent: Path, pid: int) -> Path:
    directory = parent / f"{SOCKET_DIR_PREFIX}test"
    directory.mkdir()
    make_socket(directory / "grpc.sock")
    make_socket(directory / "plugin.sock")
    (directory / "pid").write_text(str(pid))
    return directory


def test_a_removal_interrupted_half_way_keeps_the_pid_file(tmp_path, monkeypatch):
    directory = socket_dir(tmp_path, 2**22 + 1)  # above the default pid_max: no such process
    real_unlink = Path.unlink
    calls = []

    def unlink_then_die(self: Path, missing_ok: bool = False) -> None:
        calls.append(self.name)
        real_unlink(self, missing_ok=missing_ok)
        raise KeyboardInterrupt  # stands in for the host's SIGKILL after the first file

    monkeypatch.setattr(Path, "unlink", unlink_then_die)
    with pytest.raises(KeyboardInterrupt):
        remove_socket_dir(directory)
    monkeypatch.undo()
    assert calls != ["pid"] and (directory / "pid").exists()
    assert sweep_stale_socket_dirs(tmp_path) == 1  # the next plugin finishes the job
    assert not directory.exists()


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_directory_without_pid_file_is_swept_only_once_it_is_old(tmp_path):
    directory = tmp_path / f"{SOCKET_DIR_PREFIX}nopid"
    directory.mkdir()
    make_socket(directory / "grpc.sock")
    assert sweep_stale_socket_dirs(tmp_path) == 0  # fresh: a plugin may be about to write its pid file
    age(directory, 120)
    assert sweep_stale_socket_dirs(tmp_path) == 1
    assert not directory.exists()


def test_directories_that_are_not_socket_directories_are_never_swept(tmp_path):
    # yamldb's other temp directories (and anything else) share the "yamldb-" start of the name.
    others = [tmp_path / "yamldb-plugin-0", tmp_path / "yamldb-tls-abcdefgh", tmp_path / "yamldb-pg-abcdefgh"]
    mine_with_files = tmp_path / f"{SOCKET_DIR_PREFIX}kept"
    for directory in [*others, mine_with_files]:
        directory.mkdir()
        (directory / "data").write_text("x")
        age(directory, 3600)
    assert sweep_stale_socket_dirs(tmp_path) == 0
    assert all(d.exists() for d in [*others, mine_with_files])
