"""Write a Compound File Binary (OLE2) file: the container of a ``vbaProject.bin``.

Reading is olefile's job; Python has no writer that fits (olefile only overwrites a
stream with one of the same size, and ms_cfb 0.0.6 writes a scratch ``fatChain.bin``
into the working directory), so this is the writer, the simplest layout the
specification allows ([MS-CFB] 2.2-2.9, version 3):

* 512-byte sectors: the FAT first, then the directory, the mini FAT, the mini stream
  (every stream under 4,096 bytes, in 64-byte mini sectors), then the large streams,
  each contiguous;
* no DIFAT sectors (109 FAT sectors, a 7 MB file, is far more than a VBA project needs);
* each storage's children in a balanced binary tree ordered as [MS-CFB] 2.6.4 requires
  (shorter name first, then by upper case), every node black, as Apache POI writes it.

The result is read back by olefile, by oletools and by LibreOffice's VBA import in the
tests (tests/test_vba_project.py).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field

__all__ = ["write"]

SECTOR = 512
MINI = 64
CUTOFF = 4096
FREE, END, FATSECT, NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
MAX_FAT_SECTORS = 109
"""FAT sectors the header's DIFAT array can list (no DIFAT sectors are written)."""


def _sectors(n_bytes: int, size: int = SECTOR) -> int:
    return math.ceil(n_bytes / size)


def _pad(data: bytes, size: int = SECTOR) -> bytes:
    return data + b"\0" * (-len(data) % size)


def _key(name: str) -> tuple[int, str]:
    """[MS-CFB] 2.6.4 order: shorter names first, then by the upper-cased name."""
    return len(name), name.upper()


@dataclass
class _Entry:
    """A directory entry: the root, a storage or a stream, and where its data starts."""

    name: str
    kind: int  # 5 root, 1 storage, 2 stream
    data: bytes = b""
    children: list[int] = field(default_factory=list)
    start: int = END
    left: int = NOSTREAM
    right: int = NOSTREAM
    child: int = NOSTREAM

    def pack(self) -> bytes:
        encoded = (self.name.encode("utf-16-le") + b"\0\0") if self.name else b""
        size = len(self.data) if self.kind in (2, 5) else 0  # the root's: the mini stream
        start = self.start if self.kind in (2, 5) else 0
        return struct.pack("<64sHBBIII16sIQQIQ", encoded, len(encoded), self.kind, 1,
                           self.left, self.right, self.child, b"\0" * 16, 0, 0, 0, start,
                           size)


def _entries(tree: dict) -> list[_Entry]:
    """The directory: the root first, then every storage and stream depth first, each
    storage's children in [MS-CFB] 2.6.4 order."""
    out = [_Entry("Root Entry", 5)]

    def add(node: dict, parent: _Entry) -> None:
        for name, value in sorted(node.items(), key=lambda kv: _key(kv[0])):
            parent.children.append(len(out))
            entry = _Entry(name, 1) if isinstance(value, dict) else _Entry(name, 2, value)
            out.append(entry)
            if isinstance(value, dict):
                add(value, entry)

    add(tree, out[0])
    return out


def _link(entries: list[_Entry]) -> None:
    """Each storage's children as a balanced binary tree (every node black)."""
    def subtree(ids: list[int]) -> int:
        if not ids:
            return NOSTREAM
        mid = len(ids) // 2
        entries[ids[mid]].left = subtree(ids[:mid])
        entries[ids[mid]].right = subtree(ids[mid + 1:])
        return ids[mid]

    for entry in entries:
        if entry.kind != 2:
            entry.child = subtree(entry.children)


def _chain(fat: list[int], n: int) -> int:
    """Append a chain of ``n`` consecutive sectors to ``fat``; its first sector (END if
    none)."""
    first = len(fat)
    fat.extend(first + i + 1 for i in range(n - 1))
    if n:
        fat.append(END)
    return first if n else END


def write(tree: dict) -> bytes:
    """The compound file holding ``tree``: ``{name: bytes}`` for a stream, ``{name: dict}``
    for a storage (``{"PROJECT": b"...", "VBA": {"dir": b"..."}}``)."""
    entries = _entries(tree)
    _link(entries)
    small = [e for e in entries if e.kind == 2 and len(e.data) < CUTOFF]
    large = [e for e in entries if e.kind == 2 and len(e.data) >= CUTOFF]
    mini_stream, minifat = b"", []
    for e in small:
        if e.data:
            e.start = _chain(minifat, _sectors(len(e.data), MINI))
            mini_stream += _pad(e.data, MINI)

    n_dir = _sectors(len(entries) * 128)
    n_minifat = _sectors(len(minifat) * 4)
    n_mini = _sectors(len(mini_stream))
    n_data = n_dir + n_minifat + n_mini + sum(_sectors(len(e.data)) for e in large)
    n_fat = 1
    while n_fat * (SECTOR // 4) < n_fat + n_data:
        n_fat += 1
    if n_fat > MAX_FAT_SECTORS:
        raise ValueError("compound file too large for a header-only FAT list")

    fat: list[int] = [FATSECT] * n_fat
    dir_start = _chain(fat, n_dir)
    minifat_start = _chain(fat, n_minifat)
    entries[0].start = _chain(fat, n_mini)
    entries[0].data = mini_stream
    for e in large:
        e.start = _chain(fat, _sectors(len(e.data)))
    fat += [FREE] * (-len(fat) % (SECTOR // 4))

    directory = b"".join(e.pack() for e in entries)
    directory += _Entry("", 0).pack() * (n_dir * (SECTOR // 128) - len(entries))
    difat = list(range(n_fat)) + [FREE] * (MAX_FAT_SECTORS - n_fat)
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII109I", bytes.fromhex("D0CF11E0A1B11AE1"), b"\0" * 16,
        0x3E, 3, 0xFFFE, 9, 6, b"\0" * 6, 0, n_fat, dir_start, 0, CUTOFF,
        minifat_start, n_minifat, END, 0, *difat)
    body = [struct.pack(f"<{len(fat)}I", *fat), directory,
            _pad(struct.pack(f"<{len(minifat)}I", *minifat)), _pad(mini_stream)]
    body += [_pad(e.data) for e in large]
    return header + b"".join(body)
