"""The oldest glibc a set of ELF files can run on: the highest GLIBC_x.y version they need.

Read from each file's version-needs section (what `objdump -T` shows as GLIBC_x.y), so
the build can say where its file runs without binutils on the build host.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from pathlib import Path

__all__ = ["glibc_floor", "glibc_versions_needed", "program_interpreter"]

_SHT_GNU_VERNEED = 0x6FFFFFFE
_GLIBC = re.compile(r"^GLIBC_(\d+)\.(\d+)(?:\.(\d+))?$")


def glibc_versions_needed(data: bytes) -> set[str]:
    """GLIBC_* version names a 64-bit little-endian ELF file needs (empty for anything else)."""
    try:
        return _versions_needed(data)
    except (struct.error, ValueError, IndexError):  # truncated or not what its header says
        return set()


def _versions_needed(data: bytes) -> set[str]:
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return set()
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    if not shoff or shentsize < 64 or shoff + shnum * shentsize > len(data):
        return set()
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    found: set[str] = set()
    for _name, kind, _flags, _addr, offset, _size, link, count, _align, _entsize in sections:
        if kind != _SHT_GNU_VERNEED or link >= shnum:
            continue
        strtab = sections[link][4]
        entry = offset
        for _ in range(count):
            _version, aux_count, _file, aux, following = struct.unpack_from("<HHIII", data, entry)
            at = entry + aux
            for _ in range(aux_count):
                _hash, _vflags, _other, name, aux_next = struct.unpack_from("<IHHII", data, at)
                end = data.index(b"\0", strtab + name)
                found.add(data[strtab + name : end].decode(errors="replace"))
                at += aux_next
            entry += following
    return {v for v in found if _GLIBC.match(v)}


def program_interpreter(data: bytes) -> str | None:
    """The dynamic loader a 64-bit little-endian ELF executable names (PT_INTERP), e.g. glibc's
    /lib64/ld-linux-x86-64.so.2 or musl's /lib/ld-musl-x86_64.so.1; None if static or not such an ELF."""
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        if phoff + (i + 1) * phentsize > len(data):
            return None
        kind, _flags, offset, _vaddr, _paddr, size = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        if kind == 3:  # PT_INTERP
            return data[offset : offset + size].rstrip(b"\0").decode(errors="replace")
    return None


def glibc_floor(paths: Iterable[Path]) -> str | None:
    """'2.34'-style oldest glibc every file can run on, or None when none needs glibc."""
    best: tuple[int, ...] = ()
    for path in paths:
        with path.open("rb") as f:
            if f.read(4) != b"\x7fELF":
                continue
        for version in glibc_versions_needed(path.read_bytes()):
            match = _GLIBC.match(version)
            best = max(best, tuple(int(g) for g in match.groups() if g is not None))
    return ".".join(map(str, best)) if best else None
