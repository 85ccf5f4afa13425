"""Pure parts of the self-contained build: the payload format launcher.c reads, and the ELF facts the
build reports (`runs on: ... glibc >= X`)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from yamldb.cli.build import BuildError
from yamldb.cli.build_frozen import _HEADER, pack_tree
from yamldb.cli.elf import glibc_floor, glibc_versions_needed, program_interpreter


def unpack(payload: bytes) -> list[tuple[str, str, int, bytes]]:
    entries, pos = [], 0
    while pos < len(payload):
        kind, mode, name_len, stored, raw = _HEADER.unpack_from(payload, pos)
        pos += _HEADER.size
        name = payload[pos : pos + name_len].decode()
        pos += name_len
        data = payload[pos : pos + stored]
        pos += stored
        if chr(kind) == "f":
            data = zlib.decompress(data)
            assert len(data) == raw
        entries.append((chr(kind), name, mode, data))
    return entries


def test_the_payload_lists_parents_first_in_sorted_order_with_fixed_modes(tmp_path: Path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a-b").write_bytes(b"x" * 1000)
    (tmp_path / "a" / "b" / "run").write_bytes(b"#!")
    (tmp_path / "a" / "b" / "run").chmod(0o700)
    (tmp_path / "a" / "lib.so").symlink_to("b/run")
    entries = unpack(pack_tree(tmp_path))
    assert [(k, n, m) for k, n, m, _ in entries] == [
        ("d", "a", 0o755),
        ("f", "a-b", 0o644),
        ("d", "a/b", 0o755),
        ("f", "a/b/run", 0o755),
        ("l", "a/lib.so", 0o777),
    ]
    assert entries[1][3] == b"x" * 1000 and entries[4][3] == b"b/run"
    assert pack_tree(tmp_path) == pack_tree(tmp_path)  # same tree, same bytes


@pytest.mark.parametrize("target", ["/etc/passwd", "../outside", "a/../../x"])
def test_a_link_leaving_the_folder_is_refused(tmp_path: Path, target: str):
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(BuildError, match="outside the application folder"):
        pack_tree(tmp_path)


def test_the_glibc_versions_read_from_the_elf_file_match_objdump():
    binary = Path(os.path.realpath(sys.executable))
    needed = glibc_versions_needed(binary.read_bytes())
    assert needed and all(v.startswith("GLIBC_2.") for v in needed)
    if shutil.which("objdump"):
        dump = subprocess.run(["objdump", "-T", str(binary)], capture_output=True, text=True, check=True).stdout
        assert needed == set(re.findall(r"\((GLIBC_2\.[0-9.]+)\)", dump))
    floor = glibc_floor([binary])
    assert floor == max((v[6:] for v in needed), key=lambda v: tuple(map(int, v.split("."))))


def test_non_elf_files_and_static_files_need_no_glibc(tmp_path: Path):
    text = tmp_path / "script"
    text.write_text("#!/bin/sh\n")
    assert glibc_floor([text]) is None and glibc_versions_needed(b"\x7fELF") == set()
    assert program_interpreter(b"not an elf") is None


def test_the_program_interpreter_is_the_c_librarys_loader():
    loader = program_interpreter(Path(os.path.realpath(sys.executable)).read_bytes())
    assert loader is not None and Path(loader).name.startswith(("ld-linux", "ld-musl"))
