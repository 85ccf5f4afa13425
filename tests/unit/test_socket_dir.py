"""The plugin's socket directory is removed pid file last (a kill half-way must leave it sweepable)."""

from __future__ import annotations

from pathlib import Path

import pytest

from yamldb.transport.server import remove_socket_dir, sweep_stale_socket_dirs


def socket_dir(parent: Path, pid: int) -> Path:
    directory = parent / "yamldb-test"
    directory.mkdir()
    for name in ("grpc.sock", "pid", "plugin.sock"):
        (directory / name).write_text(str(pid) if name == "pid" else "")
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
