"""Builders of test workbooks, broken files and hostile files, made at test time.

Nothing here is committed as a binary: each test builds what it needs in ``tmp_path``.

* :func:`write_xlsx` writes a workbook part by part (the XML Excel writes, streamed), fast
  enough for 100,000-row and 1,000,000-row tapes, with Excel Tables, defined names and
  hooks to plant hostile content (a declared dimension, a replaced sheet or shared-strings
  part).
* :func:`raw_zip` writes a zip from precompressed members, so a member can claim any size
  (zip bombs built in milliseconds from a repeated deflate block).
* The ``make_*`` functions build one broken or hostile file each.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import os
import struct
import zipfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_EPOCH = dt.date(1899, 12, 30)

STYLES = (_XML_HEAD + f'<styleSheet xmlns="{MAIN_NS}">'
          '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
          '<fills count="2"><fill><patternFill patternType="none"/></fill>'
          '<fill><patternFill patternType="gray125"/></fill></fills>'
          '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
          '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
          '</cellStyleXfs><cellXfs count="2">'
          '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
          '<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
          '</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/>'
          '</cellStyles></styleSheet>')


def col_letter(n: int) -> str:
    """Letters of the 1-based column n."""
    s = ""
    while n > 0:
        n, r = divmod(n - 1, 26)
        s = chr(65 + r) + s
    return s


def sha256(path: Path) -> str:
    """Hash of a file, to prove a test left it unchanged."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class _Strings:
    def __init__(self):
        self.index: dict[str, int] = {}

    def __call__(self, s: str) -> int:
        i = self.index.get(s)
        if i is None:
            i = self.index[s] = len(self.index)
        return i

    def xml(self) -> str:
        items = "".join(f'<si><t xml:space="preserve">{escape(s)}</t></si>' for s in self.index)
        n = len(self.index)
        return _XML_HEAD + f'<sst xmlns="{MAIN_NS}" count="{n}" uniqueCount="{n}">{items}</sst>'


def _cell(ref: str, v: Any, strings: _Strings) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return f'<c r="{ref}" t="b"><v>{int(v)}</v></c>'
    if isinstance(v, dt.datetime):
        serial = (v - dt.datetime(1899, 12, 30)).total_seconds() / 86400
        return f'<c r="{ref}" s="1"><v>{serial!r}</v></c>'
    if isinstance(v, dt.date):
        return f'<c r="{ref}" s="1"><v>{(v - _EPOCH).days}</v></c>'
    if isinstance(v, int | float):
        return f'<c r="{ref}"><v>{v!r}</v></c>'
    if isinstance(v, Formula):
        cached = "" if v.cached is None else f"<v>{v.cached!r}</v>"
        return f'<c r="{ref}"><f>{escape(v.text)}</f>{cached}</c>'
    if isinstance(v, ExcelError):
        return f'<c r="{ref}" t="e"><v>{escape(v.code)}</v></c>'
    return f'<c r="{ref}" t="s"><v>{strings(str(v))}</v></c>'


class Formula:
    """A formula cell with an optional cached value."""

    def __init__(self, text: str, cached: float | None = None):
        self.text, self.cached = text, cached


class ExcelError:
    """A cell holding an Excel error such as #DIV/0!."""

    def __init__(self, code: str):
        self.code = code


def write_xlsx(path: Path, sheets: Mapping[str, Iterable[Sequence[Any]]], *,
               tables: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
               defined_names: Mapping[str, str] | None = None, date1904: bool = False,
               macro: bool = False, dimensions: Mapping[str, str] | None = None,
               sheet_xml: Mapping[str, bytes] | None = None,
               shared_strings_xml: bytes | None = None, compresslevel: int = 6,
               states: Mapping[str, str] | None = None,
               start: Mapping[str, tuple[int, int]] | None = None) -> Path:
    """Write an .xlsx (or .xlsm) the way Excel lays it out, streaming the sheets.

    Parameters
    ----------
    sheets : mapping
        Sheet name -> rows (sequences of values: str, int, float, bool, date, datetime,
        :class:`Formula`, :class:`ExcelError`; ``None`` leaves the cell out).
    tables : mapping, optional
        Sheet name -> list of ``{"name", "ref", "totals": 0, "header": 1}``.
    defined_names : mapping, optional
        Name -> formula text such as ``"Assumptions!$B$2"``.
    dimensions : mapping, optional
        Sheet name -> the ``<dimension ref>`` to declare (default: the real extent).
    sheet_xml : mapping, optional
        Sheet name -> the complete sheet part to write instead (hostile content).
    shared_strings_xml : bytes, optional
        The shared-strings part to write instead of the real one.
    start : mapping, optional
        Sheet name -> (row, column), 1-based, of the first row's first cell (default A1).
    """
    tables = tables or {}
    dimensions = dimensions or {}
    sheet_xml = sheet_xml or {}
    states = states or {}
    start = start or {}
    strings = _Strings()
    names = list(sheets)
    table_parts: list[tuple[str, str]] = []  # (sheet part, table part)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as z:
        for i, name in enumerate(names, start=1):
            part = f"xl/worksheets/sheet{i}.xml"
            sheet_tables = tables.get(name, ())
            if name in sheet_xml:
                z.writestr(part, sheet_xml[name])
            else:
                r0, c0 = start.get(name, (1, 1))
                body = z.open(part, "w", force_zip64=True)
                _write_sheet(body, sheets[name], strings, dimensions.get(name), r0, c0,
                             len(sheet_tables))
                body.close()
            if sheet_tables:
                rels = []
                for k, t in enumerate(sheet_tables, start=1):
                    tid = len(table_parts) + 1
                    tpart = f"xl/tables/table{tid}.xml"
                    table_parts.append((part, tpart))
                    rels.append(f'<Relationship Id="rId{k}" Type="{REL_NS}/table" '
                                f'Target="../tables/table{tid}.xml"/>')
                    z.writestr(tpart, _table_xml(tid, t))
                z.writestr(f"xl/worksheets/_rels/sheet{i}.xml.rels",
                           _XML_HEAD + f'<Relationships xmlns="{PKG_REL_NS}">' + "".join(rels)
                           + "</Relationships>")
        z.writestr("xl/sharedStrings.xml", shared_strings_xml or strings.xml())
        z.writestr("xl/styles.xml", STYLES)
        sheets_xml = "".join(
            f'<sheet name="{escape(n, {chr(34): "&quot;"})}" sheetId="{i}" r:id="rId{i}"'
            + (f' state="{states[n]}"' if n in states else "") + "/>"
            for i, n in enumerate(names, start=1))
        dn = ""
        if defined_names:
            dn = "<definedNames>" + "".join(
                f'<definedName name="{escape(k)}">{escape(v)}</definedName>'
                for k, v in defined_names.items()) + "</definedNames>"
        pr = '<workbookPr date1904="1"/>' if date1904 else "<workbookPr/>"
        z.writestr("xl/workbook.xml", _XML_HEAD + f'<workbook xmlns="{MAIN_NS}" '
                   f'xmlns:r="{REL_NS}">{pr}<sheets>{sheets_xml}</sheets>{dn}</workbook>')
        n = len(names)
        rels = "".join(f'<Relationship Id="rId{i}" Type="{REL_NS}/worksheet" '
                       f'Target="worksheets/sheet{i}.xml"/>' for i in range(1, n + 1))
        rels += (f'<Relationship Id="rId{n + 1}" Type="{REL_NS}/styles" Target="styles.xml"/>'
                 f'<Relationship Id="rId{n + 2}" Type="{REL_NS}/sharedStrings" '
                 f'Target="sharedStrings.xml"/>')
        z.writestr("xl/_rels/workbook.xml.rels",
                   _XML_HEAD + f'<Relationships xmlns="{PKG_REL_NS}">{rels}</Relationships>')
        z.writestr("_rels/.rels", _XML_HEAD + f'<Relationships xmlns="{PKG_REL_NS}">'
                   f'<Relationship Id="rId1" Type="{REL_NS}/officeDocument" '
                   f'Target="xl/workbook.xml"/></Relationships>')
        main = ("application/vnd.ms-excel.sheet.macroEnabled.main+xml" if macro else
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml")
        over = [f'<Override PartName="/xl/workbook.xml" ContentType="{main}"/>']
        over += [f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/'
                 f'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                 for i in range(1, n + 1)]
        over += [f'<Override PartName="/{t}" ContentType="application/vnd.openxmlformats-'
                 f'officedocument.spreadsheetml.table+xml"/>' for _, t in table_parts]
        over.append('<Override PartName="/xl/styles.xml" ContentType="application/vnd.'
                    'openxmlformats-officedocument.spreadsheetml.styles+xml"/>')
        over.append('<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.'
                    'openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>')
        z.writestr("[Content_Types].xml", _XML_HEAD + '<Types xmlns="http://schemas.'
                   'openxmlformats.org/package/2006/content-types"><Default Extension="rels" '
                   'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                   '<Default Extension="xml" ContentType="application/xml"/>'
                   + "".join(over) + "</Types>")
    return path


def _write_sheet(f, rows: Iterable[Sequence[Any]], strings: _Strings, dimension: str | None,
                 r0: int, c0: int, n_tables: int) -> None:
    """Write a sheet part; rows stream straight out when the dimension is given, else they
    are buffered to measure it (the dimension comes first in the part)."""
    letters: list[str] = []

    def letter(j: int) -> str:
        while len(letters) <= j:
            letters.append(col_letter(len(letters) + c0))
        return letters[j]

    def chunks():
        buf: list[str] = []
        for i, row in enumerate(rows):
            r = r0 + i
            cells = "".join(_cell(f"{letter(j)}{r}", v, strings) for j, v in enumerate(row))
            extent[0] = max(extent[0], len(row))
            extent[1] = i + 1
            if cells:
                buf.append(f'<row r="{r}">{cells}</row>')
            if len(buf) >= 5000:
                yield "".join(buf).encode()
                buf = []
        yield "".join(buf).encode()

    extent = [0, 0]
    body = chunks() if dimension is not None else list(chunks())
    if dimension is None:
        last = f"{col_letter(c0 + max(extent[0], 1) - 1)}{r0 + max(extent[1], 1) - 1}"
        dimension = f"{col_letter(c0)}{r0}:{last}"
    f.write((_XML_HEAD + f'<worksheet xmlns="{MAIN_NS}" xmlns:r="{REL_NS}">'
             f'<dimension ref="{dimension}"/><sheetData>').encode())
    for chunk in body:
        f.write(chunk)
    f.write(b"</sheetData>")
    if n_tables:
        parts = "".join(f'<tablePart r:id="rId{k}"/>' for k in range(1, n_tables + 1))
        f.write(f'<tableParts count="{n_tables}">{parts}</tableParts>'.encode())
    f.write(b"</worksheet>")


def _table_xml(tid: int, t: Mapping[str, Any]) -> str:
    ref = t["ref"]
    cols = t.get("columns") or [f"Column{k}" for k in range(1, 2)]
    tc = "".join(f'<tableColumn id="{k}" name="{escape(c)}"/>' for k, c in enumerate(cols, 1))
    totals = f' totalsRowCount="{t["totals"]}"' if t.get("totals") else ""
    header = "" if t.get("header", 1) else ' headerRowCount="0"'
    return (_XML_HEAD + f'<table xmlns="{MAIN_NS}" id="{tid}" name="{t["name"]}" '
            f'displayName="{t["name"]}" ref="{ref}"{totals}{header}>'
            f'<autoFilter ref="{ref}"/><tableColumns count="{len(cols)}">{tc}</tableColumns>'
            '<tableStyleInfo name="TableStyleMedium2" showRowStripes="1"/></table>')


# ------------------------------------------------------------------------------ raw zips


def _dos_time() -> tuple[int, int]:
    return (12 << 11), ((2024 - 1980) << 9) | (6 << 5) | 30


def raw_zip(path: Path, members: Sequence[tuple]) -> Path:
    """Write a zip whose members are given precompressed.

    Each member is ``(name, data, crc32, uncompressed size, method[, flags])`` with method
    0 (stored) or 8 (deflate, raw stream); sizes and flags are whatever the caller claims.
    """
    t, d = _dos_time()
    out = bytearray()
    central = bytearray()
    for member in members:
        name, data, crc, usize, method = member[:5]
        flags = member[5] if len(member) > 5 else 0
        nb = name.encode()
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, method, t, d, crc, len(data),
                           usize, len(nb), 0) + nb + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, flags, method, t, d,
                               crc, len(data), usize, len(nb), 0, 0, 0, 0, 0, offset) + nb
    cd_offset = len(out)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central),
                       cd_offset, 0)
    Path(path).write_bytes(bytes(out))
    return path


def deflate(data: bytes) -> bytes:
    """A raw deflate stream of ``data``."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def zeros_stream(total: int, block: int = 16 << 20) -> tuple[bytes, int]:
    """A raw deflate stream of ``total`` zero bytes (a multiple of ``block``) and its CRC.

    With a full flush after each block the compressor restarts, so every block compresses
    to the same bytes: the stream is one compressed block repeated, built in milliseconds.
    """
    assert total % block == 0
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    zero = bytes(block)
    one = c.compress(zero) + c.flush(zlib.Z_FULL_FLUSH)
    n = total // block
    crc = 0
    for _ in range(n):
        crc = zlib.crc32(zero, crc)
    return one * n + c.flush(), crc


def zip_members(members: Sequence[tuple[str, bytes]]) -> list[tuple]:
    """(name, data) pairs as deflated :func:`raw_zip` members."""
    return [(name, deflate(data), zlib.crc32(data), len(data), 8) for name, data in members]


def package_members(src: Path) -> list[tuple[str, bytes]]:
    """The (name, uncompressed data) members of an existing zip."""
    with zipfile.ZipFile(src) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def rezip(path: Path, members: Sequence[tuple[str, bytes]]) -> Path:
    """Write members back as a normal deflated zip."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            z.writestr(name, data)
    return path


# ------------------------------------------------------------------- broken and hostile


SMALL_TAPE = [
    ["facility_id", "borrower", "borrower_type", "gpu_model", "gpu_count"],
    ["F1", "Acme Compute", "neocloud", "H100", 1024],
    ["F2", "Hash Co", "miner", "H200", 512],
]


def make_small(path: Path, **kw) -> Path:
    """A small, valid workbook (five columns of a tape)."""
    return write_xlsx(path, {"Tape": SMALL_TAPE}, **kw)


def make_truncated(path: Path, keep: float = 0.6) -> Path:
    """A workbook cut short, as by an interrupted download."""
    tmp = path.with_suffix(".full.xlsx")
    make_small(tmp)
    data = tmp.read_bytes()
    tmp.unlink()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def make_corrupt(path: Path) -> Path:
    """A workbook whose sheet data is garbled inside an intact zip structure."""
    tape = [SMALL_TAPE[0]] + [[f"F{i}", "Borrower", "neocloud", "H100", i] for i in range(1, 400)]
    write_xlsx(path, {"Tape": tape}, compresslevel=1)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for k in range(start + 200, start + min(info.compress_size - 50, 1200), 7):
        data[k] ^= 0x5A
    path.write_bytes(bytes(data))
    return path


def make_pdf(path: Path) -> Path:
    """PDF bytes under a spreadsheet's name."""
    path.write_bytes(b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n%%EOF\n")
    return path


def make_png(path: Path) -> Path:
    """A PNG image under a spreadsheet's name."""
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk
                     + struct.pack(">I", zlib.crc32(chunk)))
    return path


def make_random(path: Path, n: int = 4096, seed: int = 1) -> Path:
    """Random bytes (with NULs and high bytes)."""
    import random

    rng = random.Random(seed)
    path.write_bytes(bytes([0x00, 0xFE, 0x13, 0x88]) + bytes(rng.randrange(256) for _ in range(n)))
    return path


def make_empty(path: Path) -> Path:
    """An empty file."""
    path.write_bytes(b"")
    return path


def _ole(path: Path, names: Sequence[str]) -> Path:
    """An OLE2 compound file: header plus one directory sector naming ``names``."""
    header = bytearray(512)
    header[:8] = bytes.fromhex("d0cf11e0a1b11ae1")
    struct.pack_into("<HHHH", header, 24, 0x3E, 3, 0xFFFE, 9)  # version, byte order, 512-b
    struct.pack_into("<I", header, 48, 1)  # first directory sector
    fat = bytearray(b"\xff" * 512)
    struct.pack_into("<II", fat, 0, 0xFFFFFFFD, 0xFFFFFFFE)
    struct.pack_into("<I", header, 76, 0)  # the FAT is sector 0
    struct.pack_into("<I", header, 44, 1)  # one FAT sector
    directory = bytearray()
    for name in ["Root Entry", *names]:
        entry = bytearray(128)
        raw = name.encode("utf-16-le") + b"\x00\x00"
        entry[: len(raw)] = raw
        struct.pack_into("<H", entry, 64, len(raw))
        entry[66] = 5 if name == "Root Entry" else 2
        directory += entry
    directory += bytes(-len(directory) % 512)
    path.write_bytes(bytes(header) + bytes(fat) + bytes(directory) + os.urandom(1024))
    return path


def make_encrypted(path: Path) -> Path:
    """A password-protected workbook as Excel stores it (OLE2 with an EncryptedPackage)."""
    return _ole(path, ["\x06DataSpaces", "EncryptionInfo", "EncryptedPackage"])


def make_legacy_xls(path: Path) -> Path:
    """An Excel 97-2003 workbook (OLE2 with a Workbook stream)."""
    return _ole(path, ["Workbook", "\x05SummaryInformation"])


def make_ole_bare(path: Path) -> Path:
    """Only the OLE2 signature and padding: encrypted or legacy cannot be told apart."""
    path.write_bytes(bytes.fromhex("d0cf11e0a1b11ae1") + bytes(2040))
    return path


BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE sst [\n<!ENTITY lol "lol">\n'
    + "".join(f'<!ENTITY lol{i} "{("&lol%s;" % ("" if i == 1 else i - 1)) * 10}">\n'
              for i in range(1, 10))
    + f']>\n<sst xmlns="{MAIN_NS}" count="1" uniqueCount="1"><si><t>&lol9;</t></si></sst>'
).encode()


def make_entity_bomb(path: Path) -> Path:
    """A workbook whose shared strings hold a 'billion laughs' entity bomb."""
    return write_xlsx(path, {"Tape": SMALL_TAPE}, shared_strings_xml=BILLION_LAUGHS)


def make_external_entity(path: Path) -> Path:
    """A workbook whose sheet declares an external entity reading a local file (XXE)."""
    xml = (b'<?xml version="1.0"?>\n<!DOCTYPE worksheet [<!ENTITY xxe SYSTEM '
           b'"file:///etc/passwd">]>\n<worksheet xmlns="' + MAIN_NS.encode()
           + b'"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&xxe;</t></is></c></row>'
           b"</sheetData></worksheet>")
    return write_xlsx(path, {"Tape": []}, sheet_xml={"Tape": xml})


def make_zip_bomb(path: Path, size: int = 2 << 30) -> Path:
    """A workbook with a member of ``size`` zero bytes (2 GB by default) in about 2 MB."""
    tmp = path.with_suffix(".base.xlsx")
    make_small(tmp)
    members = []
    for name, data in package_members(tmp):
        members.append((name, deflate(data), zlib.crc32(data), len(data), 8))
    tmp.unlink()
    stream, crc = zeros_stream(size)
    members.append(("xl/media/padding.bin", stream, crc, size, 8))
    return raw_zip(path, members)


def make_lying_bomb(path: Path, size: int = 64 << 20) -> Path:
    """A workbook whose sheet claims 20 KB but inflates to ``size`` bytes of zeros."""
    tmp = path.with_suffix(".base.xlsx")
    make_small(tmp)
    members = []
    for name, data in package_members(tmp):
        if name == "xl/worksheets/sheet1.xml":
            stream, crc = zeros_stream(size)
            members.append((name, stream, crc, 20_000, 8))
        else:
            members.append((name, deflate(data), zlib.crc32(data), len(data), 8))
    tmp.unlink()
    return raw_zip(path, members)


def huge_extent_sheet(declared: str = "A1:XFD1048576", far: str | None = "XFD1048576") -> bytes:
    """Sheet XML declaring ``declared`` with a small tape and, if ``far``, one far cell."""
    rows = "".join(
        f'<row r="{i}">' + "".join(
            f'<c r="{col_letter(j + 1)}{i}" t="inlineStr"><is><t>{escape(str(v))}</t></is></c>'
            for j, v in enumerate(row)) + "</row>"
        for i, row in enumerate(SMALL_TAPE, start=1))
    if far:
        digits = "".join(ch for ch in far if ch.isdigit())
        rows += f'<row r="{digits}"><c r="{far}"><v>1</v></c></row>'
    return (_XML_HEAD + f'<worksheet xmlns="{MAIN_NS}"><dimension ref="{declared}"/>'
            f"<sheetData>{rows}</sheetData></worksheet>").encode()


def make_huge_extent(path: Path, declared: str = "A1:XFD1048576",
                     far: str | None = "XFD1048576") -> Path:
    """A sheet declaring a million rows by 16,384 columns (with a cell at the far corner)."""
    return write_xlsx(path, {"Tape": []}, sheet_xml={"Tape": huge_extent_sheet(declared, far)})


def tape_rows(n: int, *, first: int = 1) -> Iterable[list[Any]]:
    """``n`` small valid tape rows (five columns)."""
    models = ("A100", "H100", "H200", "B200", "GB200")
    for i in range(first, first + n):
        yield [f"F{i}", f"Borrower {i % 97}", "neocloud" if i % 3 else "miner",
               models[i % 5], 8 * (1 + i % 100)]


def make_million_rows_xlsx(path: Path, n: int = 1_000_000) -> Path:
    """A workbook whose tape has ``n`` rows (five columns; built in a few seconds)."""
    rows = itertools.chain([SMALL_TAPE[0]], tape_rows(n))
    return write_xlsx(path, {"Tape": rows}, compresslevel=1,
                      dimensions={"Tape": f"A1:E{n + 1}"})


def make_million_rows_csv(path: Path, n: int = 1_000_000) -> Path:
    """A CSV tape of ``n`` rows."""
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(",".join(SMALL_TAPE[0]) + "\n")
        chunk = []
        for row in tape_rows(n):
            chunk.append(",".join(str(v) for v in row))
            if len(chunk) >= 50_000:
                f.write("\n".join(chunk) + "\n")
                chunk = []
        if chunk:
            f.write("\n".join(chunk) + "\n")
    return path


# ------------------------------------------------------------------------ full tapes


def full_header(labels: bool = True) -> list[str]:
    """Every schema column's header (labels as the template writes them, or names)."""
    from gpucredit.tape.schema import COLUMNS

    return [c.label if labels else c.name for c in COLUMNS]


def full_row(i: int) -> list[Any]:
    """A valid tape row for every schema column, varied with ``i``."""
    from gpucredit.tape.schema import COLUMNS

    models = ("A100", "H100", "H200", "B200", "GB200")
    floating = i % 2 == 0
    count = 512 * (1 + i % 32)
    cost = 25_000.0 + 100 * (i % 50)
    commitment = round(0.7 * count * cost, -3)
    values = {
        "facility_id": f"FAC-{i:06d}",
        "borrower": f"Borrower {i % 997}",
        "borrower_type": ("neocloud", "miner", "other")[i % 3],
        "source": "illustrative",
        "gpu_model": models[i % 5],
        "gpu_count": count,
        "delivery_date": dt.date(2023, 1 + i % 12, 1 + i % 28),
        "gpu_unit_cost": cost,
        "residual_curve": ("exponential_floor", "declining_balance", None)[i % 3],
        "generation_jump": 0.25,
        "commitment": commitment,
        "drawn_amount": None if i % 4 else commitment * 0.8,
        # A delayed-draw term loan still drawing on some annuity rows without a sweep.
        "availability_end_date": dt.date(2027, 12, 31) if i % 8 == 0 and i % 5 else None,
        "origination_date": dt.date(2024, 1 + i % 12, 1 + i % 28),
        "maturity_date": dt.date(2029 + i % 3, 1 + i % 12, 1 + i % 28),
        "rate_type": "floating" if floating else "fixed",
        "fixed_rate": None if floating else 0.07 + (i % 40) / 1000,
        "spread": 0.06 + (i % 20) / 1000 if floating else None,
        "rate_floor": 0.0 if floating else None,
        "amortization": ("annuity", "straight_line", "bullet", "sculpted")[i % 4],
        "periods_per_year": (4, 12, 4, 1)[i % 4],
        "interest_only_periods": i % 4,
        "sculpt_dscr": 1.35,
        "contracted_share": (0.0, 0.5, 0.8)[i % 3],
        "contract_rate": None if i % 3 == 0 else 2.65,
        "contract_end_date": None if i % 3 == 0 else dt.date(2028, 12, 31),
        "ig_contracts": i % 3 == 1,
        "counterparty_rating": ("A-", "BB", None)[i % 3],
        "backstop_rating": "AA+" if i % 4 == 0 else None,
        "termination_payment_months": 6.0 if i % 2 else 0.0,
        "releasing_lag_months": 6.0,
        "releasing_rent_factor": 0.85,
        "dsra_amount": 1e6 if i % 5 == 0 else 0.0,
        "liquidity_facility": 0.0,
        "seniority": ("secured", "senior_unsecured", "subordinated")[i % 3],
        "mining_efficiency": 17.5,
        "merchant_rent": None if i % 2 else 2.42,
        "rent_deflation": 0.25,
        "utilization": 0.80 + (i % 15) / 100,
        "kw_per_gpu": None if i % 2 else 1.275,
        "pue": 1.3,
        "power_price": 0.08,
        "colocation_rate": 184.0,
        "other_opex": 1200.0,
        "maintenance_capex": 500.0,
        "tax_rate": 0.21,
        "dscr_lockup": 1.20,
        "dscr_default": 1.05,
        "llcr_lockup": 1.50,
        "advance_rate": 0.75,
        "cash_sweep": 0.5 if i % 5 == 0 else 0.0,
        "liquidation_months": 6.0,
        "market_absorption": 5000.0,
        "install_haircut": 0.15,
        "sale_costs": 0.05,
        "btc_held": 1000.0 if i % 3 == 1 else 0.0,
        "hashrate_ph": 20_000.0 if i % 3 == 1 else 0.0,
        "borrower_debt": None,
        "equity_value": 5e9 if i % 7 == 0 else None,
        "equity_vol": 0.8 if i % 7 == 0 else None,
        "quoted_spread": 450.0 + i % 100,
    }
    return [values[c.name] for c in COLUMNS]


def full_tape(n: int, *, labels: bool = True, first: int = 1) -> Iterable[list[Any]]:
    """Header plus ``n`` valid rows covering every schema column."""
    yield full_header(labels)
    for i in range(first, first + n):
        yield full_row(i)
