"""The compound-file writer, read back by olefile (an independent reader)."""

from __future__ import annotations

import io
import random

import olefile
import pytest

from gpucredit.excel import cfb


def _read(data: bytes) -> dict[str, bytes]:
    with olefile.OleFileIO(io.BytesIO(data)) as ole:
        return {"/".join(p): ole.openstream(p).read() for p in ole.listdir()}


def test_streams_small_large_empty_and_nested_read_back_unchanged():
    rng = random.Random(5)
    tree = {"PROJECT": b"Name=\"x\"\r\n", "PROJECTwm": b"", "VBA": {
        "dir": rng.randbytes(1_267), "big": rng.randbytes(19_332),
        "exactly_cutoff": rng.randbytes(cfb.CUTOFF), "_VBA_PROJECT": b"\xcc\x61\xff\xff\0\1\0",
        **{f"Module{i}": rng.randbytes(rng.randint(1, 3_000)) for i in range(12)}}}
    got = _read(cfb.write(tree))
    want = {k: v for k, v in tree.items() if not isinstance(v, dict)}
    want.update({f"VBA/{k}": v for k, v in tree["VBA"].items()})
    assert got == want


def test_the_file_is_whole_sectors_and_olefile_finds_no_defect():
    data = cfb.write({"a": b"1" * 5_000, "b": b"2" * 100})
    assert len(data) % cfb.SECTOR == 0
    ole = olefile.OleFileIO(io.BytesIO(data), raise_defects=olefile.DEFECT_INCORRECT)
    assert ole.get_type("a") == olefile.STGTY_STREAM
    ole.close()


def test_a_tree_too_big_for_the_header_fat_list_is_refused():
    with pytest.raises(ValueError, match="too large"):
        cfb.write({"huge": b"\0" * (cfb.MAX_FAT_SECTORS * 128 * cfb.SECTOR)})
