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


def _tree(tree: dict) -> list[tuple[str, str | None, bytes | None, list]]:
    """Flatten ``{name: bytes | dict}`` into entries (name, kind, data, children)."""
    return [(name, "storage", None, _tree(v)) if isinstance(v, dict)
            else (name, "stream", v, []) for name, v in sorted(tree.items(),
                                                                key=lambda kv: _key(kv[0]))]


def _entry(name: str, kind: int, left: int, right: int, child: int, start: int,
           size: int) -> bytes:
    encoded = (name.encode("utf-16-le") + b"\0\0") if name else b""
    return struct.pack("<64sHBBIII16sIQQIQ", encoded, len(encoded), kind, 1, left, right,
                       child, b"\0" * 16, 0, 0, 0, start, size)


def write(tree: dict) -> bytes:
    """The compound file holding ``tree``: ``{name: bytes}`` for a stream, ``{name: dict}``
    for a storage (``{"PROJECT": b"...", "VBA": {"dir": b"..."}}``)."""
    # number the directory entries: root 0, then depth first
    flat: list = []

    def number(children) -> list[int]:
        ids = []
        for name, kind, data, kids in children:
            ids.append(len(flat))
            flat.append([name, kind, data, None])
            flat[ids[-1]][3] = number(kids)
        return ids

    flat.append(["Root Entry", "root", None, None])
    flat[0][3] = number(_tree(tree))

    small = [e for e in flat if e[1] == "stream" and len(e[2]) < CUTOFF]
    large = [e for e in flat if e[1] == "stream" and len(e[2]) >= CUTOFF]
    mini_stream, minifat, mini_start = b"", [], {}
    for e in small:
        mini_start[id(e)] = len(mini_stream) // MINI
        n = _sectors(len(e[2]), MINI)
        minifat += [len(minifat) + i + 1 for i in range(n - 1)] + [END] if n else []
        mini_stream += _pad(e[2], MINI)

    n_dir = _sectors(len(flat) * 128)
    n_minifat = _sectors(len(minifat) * 4)
    n_mini = _sectors(len(mini_stream))
    n_large = [_sectors(len(e[2])) for e in large]
    n_data = n_dir + n_minifat + n_mini + sum(n_large)
    n_fat = 1
    while n_fat * (SECTOR // 4) < n_fat + n_data:
        n_fat += 1
    if n_fat > MAX_FAT_SECTORS:
        raise ValueError("compound file too large for a header-only FAT list")

    fat: list[int] = [FATSECT] * n_fat
    starts: dict = {}

    def chain(n: int) -> int:
        first = len(fat)
        fat.extend(first + i + 1 for i in range(n - 1))
        if n:
            fat.append(END)
        return first if n else END

    dir_start = chain(n_dir)
    minifat_start = chain(n_minifat)
    mini_stream_start = chain(n_mini)
    for e, n in zip(large, n_large, strict=True):
        starts[id(e)] = chain(n)
    fat += [FREE] * (-len(fat) % (SECTOR // 4))

    def subtree(ids: list[int]) -> int:
        if not ids:
            return NOSTREAM
        mid = len(ids) // 2
        links[ids[mid]] = (subtree(ids[:mid]), subtree(ids[mid + 1:]))
        return ids[mid]

    links: dict[int, tuple[int, int]] = {}
    children = {i: subtree(e[3]) for i, e in enumerate(flat) if e[1] != "stream"}
    directory = b""
    for i, (name, kind, data, _) in enumerate(flat):
        left, right = links.get(i, (NOSTREAM, NOSTREAM))
        if kind == "root":
            start, size = (mini_stream_start if n_mini else END), len(mini_stream)
        elif kind == "storage":
            start, size = 0, 0
        else:
            start = (mini_start[id(flat[i])] if len(data) < CUTOFF
                     else starts[id(flat[i])]) if data else END
            size = len(data)
        code = {"root": 5, "storage": 1, "stream": 2}[kind]
        directory += _entry(name, code, left, right, children.get(i, NOSTREAM), start, size)
    directory += _entry("", 0, NOSTREAM, NOSTREAM, NOSTREAM, 0, 0) * (
        n_dir * (SECTOR // 128) - len(flat))

    difat = list(range(n_fat)) + [FREE] * (MAX_FAT_SECTORS - n_fat)
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII109I", bytes.fromhex("D0CF11E0A1B11AE1"), b"\0" * 16,
        0x3E, 3, 0xFFFE, 9, 6, b"\0" * 6, 0, n_fat, dir_start, 0, CUTOFF,
        minifat_start if n_minifat else END, n_minifat, END, 0, *difat)
    body = [struct.pack(f"<{len(fat)}I", *fat), directory,
            _pad(struct.pack(f"<{len(minifat)}I", *minifat)), _pad(mini_stream)]
    body += [_pad(e[2]) for e in large]
    return header + b"".join(body)
