"""[MS-OVBA] 2.4.1 compression, checked against oletools' independent decompressor."""

from __future__ import annotations

import random

import pytest
from oletools.olevba import decompress_stream

from gpucredit.excel.ovba_compression import CHUNK, compress, decompress

WORDS = [b"Function ", b"End If\r\n", b"GPU_", b"    ", b"XLPy.CallUDF(", b"\r\n", b"abc"]


def _text(n_words: int, seed: int) -> bytes:
    rng = random.Random(seed)
    return b"".join(rng.choice(WORDS) for _ in range(n_words))


@pytest.mark.parametrize("data", [
    b"", b"a", b"abcabcabc" * 10, bytes(range(256)) * 20, b"x" * 5000,
    _text(20_000, 1), random.Random(2).randbytes(CHUNK * 2 + 100),
], ids=["empty", "one byte", "repeats", "ramp", "run over a chunk", "text 120 KB",
        "random"])
def test_oletools_reads_what_we_write_and_we_read_it_back(data):
    packed = compress(data)
    assert bytes(decompress_stream(bytearray(packed))) == data
    assert decompress(packed) == data


def test_text_shrinks_and_long_runs_use_copy_tokens():
    text = _text(5_000, 3)
    assert len(compress(text)) < len(text) / 3
    assert len(compress(b"x" * 4096)) < 20  # one literal, then copies of up to 4,098 bytes


def test_random_bytes_are_stored_in_raw_chunks():
    data = random.Random(4).randbytes(CHUNK)
    packed = compress(data)
    assert packed[1:3] == (0x3FFF).to_bytes(2, "little")  # flag 0: 4,096 bytes as they are
    assert decompress(packed) == data


def test_a_container_without_its_signature_is_refused():
    with pytest.raises(ValueError, match="signature"):
        decompress(b"\x00abc")
