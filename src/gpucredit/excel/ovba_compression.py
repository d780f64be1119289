"""The compression of VBA projects: [MS-OVBA] 2.4.1, an LZ77 over 4,096-byte chunks.

A compressed container is the byte ``0x01`` and then chunks. A chunk starts with a
16-bit header: bits 0-11 its size minus 3, bits 12-14 ``0b011``, bit 15 set when the
chunk is compressed. A compressed chunk is a run of token sequences: a flag byte, then 8
tokens, bit ``i`` of the flag saying whether token ``i`` is a 2-byte copy token or one
literal byte. A copy token packs ``offset - 1`` in its high ``bit_count`` bits and
``length - 3`` in the rest, where ``bit_count = max(ceil(log2(d)), 4)`` and ``d`` is how
many bytes of the chunk are already decompressed (2.4.1.3.19.1).

PyPI's ms_ovba_compression 1.0.1 cannot read back what it writes past one chunk, and
oletools only decompresses, hence this module; the tests check it against oletools'
decompressor and LibreOffice's VBA import.
"""

from __future__ import annotations

import struct

__all__ = ["compress", "decompress"]

CHUNK = 4096
CANDIDATES = 64
"""Earlier positions tried for each match (the most recent first)."""


def _bits(done: int) -> int:
    """``bit_count`` of a copy token after ``done`` bytes of the chunk (2.4.1.3.19.1)."""
    return max((done - 1).bit_length(), 4)


def _match(chunk: bytes, pos: int, seen: dict, max_len: int) -> tuple[int, int]:
    """The longest earlier match at ``pos``: (offset, length), length 0 if none of 3+."""
    best_off, best_len = 0, 0
    limit = min(max_len, len(chunk) - pos)
    for start in reversed(seen.get(chunk[pos:pos + 3], ())[-CANDIDATES:]):
        n = 0
        while n < limit and chunk[start + n] == chunk[pos + n]:
            n += 1
        if n > best_len:
            best_off, best_len = pos - start, n
            if n == limit:
                break
    return (best_off, best_len) if best_len >= 3 else (0, 0)


def _compress_chunk(chunk: bytes) -> bytes:
    out, pos, seen = bytearray(), 0, {}
    while pos < len(chunk):
        flag_at, flags = len(out), 0
        out.append(0)
        for bit in range(8):
            if pos >= len(chunk):
                break
            bits = _bits(pos)
            offset, length = _match(chunk, pos, seen, (0xFFFF >> bits) + 3)
            if length:
                out += struct.pack("<H", ((offset - 1) << (16 - bits)) | (length - 3))
                flags |= 1 << bit
            else:
                out.append(chunk[pos])
                length = 1
            for k in range(pos, pos + length):
                seen.setdefault(chunk[k:k + 3], []).append(k)
            pos += length
        out[flag_at] = flags
    if len(out) > CHUNK:  # incompressible: stored raw (only a full chunk may be)
        if len(chunk) != CHUNK:
            raise ValueError("the last chunk does not compress")
        return struct.pack("<H", 0x3000 | (CHUNK + 2 - 3)) + chunk
    return struct.pack("<H", 0xB000 | (len(out) + 2 - 3)) + bytes(out)


def compress(data: bytes) -> bytes:
    """The compressed container of ``data``."""
    return b"\x01" + b"".join(_compress_chunk(data[i:i + CHUNK])
                              for i in range(0, len(data), CHUNK))


def _decompress_chunk(body: bytes, out: bytearray) -> None:
    start, i = len(out), 0
    while i < len(body):
        flags = body[i]
        i += 1
        for bit in range(8):
            if i >= len(body):
                break
            if not flags >> bit & 1:
                out.append(body[i])
                i += 1
                continue
            token = struct.unpack_from("<H", body, i)[0]
            i += 2
            bits = _bits(len(out) - start)
            offset = (token >> (16 - bits)) + 1
            for _ in range((token & (0xFFFF >> bits)) + 3):
                out.append(out[-offset])


def decompress(data: bytes) -> bytes:
    """The bytes a compressed container holds."""
    if not data or data[0] != 1:
        raise ValueError("not a compressed VBA container (no signature byte 0x01)")
    out, i = bytearray(), 1
    while i < len(data):
        header = struct.unpack_from("<H", data, i)[0]
        size = (header & 0x0FFF) + 3
        body = data[i + 2:i + size]
        if header & 0x8000:
            _decompress_chunk(body, out)
        else:
            out += body[:CHUNK]
        i += size
    return bytes(out)
