"""Checks on an untrusted tape file, made before any parser touches it.

A loan tape arrives by e-mail or download: it may be truncated, password-protected, not a
spreadsheet at all, or built to hurt the machine that opens it (an XML entity bomb, a zip
bomb, a sheet whose cells span a million rows by 16,384 columns). Every check here reads
bounded amounts of the file and ends, when something is wrong, in a :class:`TapeError`
whose message names the file and says what is wrong in an analyst's words.

What is checked
---------------
* The path: it exists, is a file, is not empty and is below ``max_file_bytes``.
* The first bytes (magic numbers): a zip (``PK\\x03\\x04``) is a workbook candidate; an
  OLE2 compound file (``D0 CF 11 E0``) is a password-protected (encrypted) workbook or a
  legacy ``.xls`` (the directory names say which); PDF, images, archives and executables
  are named; anything else must be text to be read as CSV.
* The zip: its central directory reads (a truncated download does not), no member is
  encrypted or stored twice, compression is deflate or none, the total uncompressed size
  and each large member's compression ratio are bounded (zip bombs), the workbook parts
  (``[Content_Types].xml``, ``xl/workbook.xml``) are present, and every XML part opens
  without a document type declaration (``<!DOCTYPE``/``<!ENTITY``: entity bombs and
  external entities). The XML that is parsed here (workbook, relationships, tables) is
  parsed with defusedxml.
* The sheet to be read: its cells are scanned (streaming, bounded memory) for the extent
  they really cover. python-calamine allocates the dense rectangle spanned by the cells
  (32 bytes a cell) and aborts the whole process (SIGABRT) when that allocation fails;
  measured with python-calamine 0.9: a sheet with one cell in A1 and one in XFD1048576
  aborts whatever its ``<dimension>`` declares, while a sheet declaring ``A1:XFD1048576``
  over a few cells reads fine. So the extent is measured on the cells, the declaration is
  only reported. A sheet reaching beyond ``max_rows`` or ``max_columns``, or spanning more
  than ``max_cells``, is refused; cells written in a form the fast scan cannot bound
  (without a cell reference, namespace prefixes) send the read to openpyxl's streaming
  reader instead.
* CSV: no NUL bytes (not a text file), UTF-8 (with or without BOM) or UTF-16 with BOM;
  anything else is read as Windows-1252 with a warning.

Examples
--------
>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "tape.xlsx"
>>> _ = p.write_bytes(b"%PDF-1.7 ...")
>>> check_file(p)
Traceback (most recent call last):
...
gpucredit.tape.guards.TapeError: tape.xlsx is not a spreadsheet: it looks like a PDF document...
"""

from __future__ import annotations

import codecs
import posixpath
import queue
import re
import threading
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from gpucredit.errors import GpuCreditError

__all__ = [
    "CsvText",
    "FileCheck",
    "SheetInfo",
    "SheetScan",
    "TableInfo",
    "TapeError",
    "TapeLimits",
    "WorkbookInfo",
    "cell_ref",
    "check_csv",
    "check_file",
    "check_path",
    "column_letter",
    "column_number",
    "inspect_workbook",
    "scan_sheet",
    "sheet_tables",
    "sniff",
    "verify_parts",
]

_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_EXCEL_MAX_ROWS = 1_048_576
_EXCEL_MAX_COLS = 16_384


class TapeError(GpuCreditError):
    """A tape file that cannot be read, with the reason in an analyst's words.

    Parameters
    ----------
    message : str
        What is wrong with the file and what to do, naming the file.
    path : str or Path, optional
        The file.
    code : str
        A short machine-readable reason: ``missing``, ``not_a_file``, ``empty``,
        ``too_big``, ``not_spreadsheet``, ``encrypted``, ``legacy_xls``, ``damaged``,
        ``zip_bomb``, ``entity``, ``too_many_rows``, ``too_many_columns``, ``too_many_cells``,
        ``not_text``, ``unsupported``, ``no_sheet``.

    Examples
    --------
    >>> e = TapeError("x.xlsx is empty", path="x.xlsx", code="empty")
    >>> e.code, isinstance(e, GpuCreditError)
    ('empty', True)
    """

    def __init__(self, message: str, *, path: str | Path | None = None,
                 code: str = "unreadable"):
        super().__init__(message, argument="path", value=None if path is None else str(path))
        self.path = None if path is None else Path(path)
        self.code = code


@dataclass(frozen=True)
class TapeLimits:
    """Bounds on what a tape file may ask of the machine.

    Attributes
    ----------
    max_file_bytes : int
        Largest file accepted (256 MiB).
    max_uncompressed_bytes : int
        Largest total uncompressed size of a workbook's parts (1 GiB).
    max_compression_ratio : float
        Largest uncompressed/compressed ratio of a part above ``ratio_min_bytes``. Sheet XML
        compresses 5-30x; a zip bomb of zeros about 1,000x.
    ratio_min_bytes : int
        Parts smaller than this (1 MiB) are not ratio-checked.
    max_members : int
        Most parts in a workbook.
    max_xml_bytes : int
        Largest XML part parsed into memory here (workbook, relationships, tables: 32 MiB).
    max_prolog_bytes : int
        Most bytes read before the first element of an XML part (64 KiB).
    max_rows : int
        Last sheet row (or CSV record) accepted: 200,000.
    max_columns : int
        Last sheet column accepted: 1,000.
    max_cells : int
        Most cells in the rectangle a sheet's cells span (20 million: about 640 MB in
        python-calamine's grid).

    Examples
    --------
    >>> TapeLimits().max_rows, TapeLimits(max_rows=1_000_000).max_rows
    (200000, 1000000)
    """

    max_file_bytes: int = 256 * 2**20
    max_uncompressed_bytes: int = 2**30
    max_compression_ratio: float = 200.0
    ratio_min_bytes: int = 2**20
    max_members: int = 10_000
    max_xml_bytes: int = 32 * 2**20
    max_prolog_bytes: int = 64 * 2**10
    max_rows: int = 200_000
    max_columns: int = 1_000
    max_cells: int = 20_000_000


DEFAULT_LIMITS = TapeLimits()


# ------------------------------------------------------------------------ small helpers


def column_letter(n: int) -> str:
    """Spreadsheet letters of the 1-based column ``n``.

    >>> column_letter(1), column_letter(26), column_letter(27), column_letter(16384)
    ('A', 'Z', 'AA', 'XFD')
    """
    s = ""
    while n > 0:
        n, r = divmod(n - 1, 26)
        s = chr(65 + r) + s
    return s


def column_number(letters: str) -> int:
    """1-based column number of spreadsheet letters.

    >>> column_number("A"), column_number("AA"), column_number("XFD")
    (1, 27, 16384)
    """
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ord(ch) - 64)
    return n


def cell_ref(row: int, col: int) -> str:
    """A1 reference of a 1-based (row, column).

    >>> cell_ref(14, 8)
    'H14'
    """
    return f"{column_letter(col)}{row}"


_REF_RE = re.compile(r"^\$?([A-Za-z]{1,3})\$?([0-9]{1,7})$")


def parse_ref(ref: str) -> tuple[int, int] | None:
    """(row, column) of an A1 reference such as ``"C4"`` or ``"$C$4"``, else ``None``.

    >>> parse_ref("$C$4"), parse_ref("XFD1048576"), parse_ref("4C")
    ((4, 3), (1048576, 16384), None)
    """
    m = _REF_RE.match(ref.strip())
    if not m:
        return None
    return int(m.group(2)), column_number(m.group(1))


def parse_range(ref: str) -> tuple[int, int, int, int] | None:
    """(first row, first column, last row, last column) of ``"A1:D6"`` (or one cell).

    >>> parse_range("A1:XFD1048576"), parse_range("B3")
    ((1, 1, 1048576, 16384), (3, 2, 3, 2))
    """
    parts = ref.split(":")
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2:
        return None
    a, b = parse_ref(parts[0]), parse_ref(parts[1])
    if a is None or b is None:
        return None
    return a[0], a[1], b[0], b[1]


def _size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} TB"  # pragma: no cover


# ------------------------------------------------------------------------------- sniffing

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "empty_zip"),
    (b"PK\x07\x08", "zip"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole2"),
    (b"%PDF", "pdf"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"\x1f\x8b", "gzip"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
    (b"BZh", "bzip2"),
    (b"MZ", "exe"),
    (b"\x7fELF", "elf"),
    (b"{\\rtf", "rtf"),
)

_KIND_WORDS = {
    "pdf": "a PDF document",
    "png": "a PNG image",
    "jpeg": "a JPEG image",
    "gif": "a GIF image",
    "gzip": "a gzip archive",
    "7z": "a 7-Zip archive",
    "rar": "a RAR archive",
    "bzip2": "a bzip2 archive",
    "exe": "a Windows program",
    "elf": "a Linux program",
    "rtf": "a Rich Text (RTF) document",
    "empty_zip": "an empty zip archive",
    "html": "a web page (HTML)",
    "xml": "an XML file (perhaps an 'XML Spreadsheet 2003')",
    "binary": "a binary file of unknown type",
}


def sniff(head: bytes) -> str:
    """Kind of file from its first bytes: ``zip``, ``ole2``, ``text``, ``text16``, ``pdf``,
    ``png`` ... or ``binary``.

    >>> sniff(b"PK\\x03\\x04rest"), sniff(b"%PDF-1.4"), sniff(b"id,borrower\\n1,Acme\\n")
    ('zip', 'pdf', 'text')
    >>> sniff(bytes.fromhex("d0cf11e0a1b11ae1") + bytes(8)), sniff(b"\\x00\\x01\\x02\\xfe")
    ('ole2', 'binary')
    """
    if not head:
        return "empty"
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "text16"
    text_head = head[3:] if head.startswith(codecs.BOM_UTF8) else head
    stripped = text_head.lstrip().lower()
    if stripped.startswith((b"<!doctype html", b"<html")):
        return "html"
    if stripped.startswith(b"<?xml") or stripped.startswith(b"<"):
        return "xml"
    if b"\x00" in head:
        # Text with a stray NUL is told apart from binary data, to say which it is.
        printable = sum(1 for b in head if 32 <= b < 127 or b in (9, 10, 13))
        return "text" if printable >= 0.9 * len(head) else "binary"
    # Text: decodes as UTF-8 (allowing a character cut at the end) or is mostly printable.
    try:
        text_head.decode("utf-8")
        return "text"
    except UnicodeDecodeError as e:
        if e.start >= len(text_head) - 3:
            return "text"
    controls = sum(1 for b in text_head if b < 9 or 13 < b < 32)
    return "text" if controls <= len(text_head) // 100 else "binary"


def _not_spreadsheet(path: Path, kind: str) -> TapeError:
    what = _KIND_WORDS.get(kind, "a file of unknown type")
    return TapeError(
        f"{path.name} is not a spreadsheet: it looks like {what}. Export the loan tape from "
        f"Excel as .xlsx or .csv and try again.", path=path, code="not_spreadsheet")


# ---------------------------------------------------------------------------- the path


def check_path(path: str | Path, limits: TapeLimits = DEFAULT_LIMITS) -> Path:
    """The path as a :class:`~pathlib.Path` if it is a readable, non-empty file below the
    size limit; else a :class:`TapeError`.

    >>> check_path("/no/such/tape.xlsx")
    Traceback (most recent call last):
    ...
    gpucredit.tape.guards.TapeError: tape.xlsx was not found (looked for /no/such/tape.xlsx)...
    """
    p = Path(path)
    if not p.exists():
        raise TapeError(f"{p.name} was not found (looked for {p}): check the name and the folder.",
                        path=p, code="missing")
    if not p.is_file():
        raise TapeError(f"{p.name} is a folder, not a file: give the path of the tape itself.",
                        path=p, code="not_a_file")
    size = p.stat().st_size
    if size == 0:
        raise TapeError(f"{p.name} is empty (0 bytes): the file was not saved completely or "
                        f"the download failed.", path=p, code="empty")
    if size > limits.max_file_bytes:
        raise TapeError(
            f"{p.name} is {_size(size)}, above the {_size(limits.max_file_bytes)} limit for a "
            f"tape (TapeLimits.max_file_bytes): split the tape or raise the limit.",
            path=p, code="too_big")
    return p


# ------------------------------------------------------------------------------ OLE2 files

_OLE_NAMES = {
    "encrypted": ("EncryptedPackage", "EncryptionInfo"),
    "xls": ("Workbook", "Book"),
    "doc": ("WordDocument",),
    "ppt": ("PowerPoint Document",),
}


def _ole_kind(path: Path) -> str:
    """What an OLE2 compound file holds, from its directory entry names (UTF-16LE)."""
    needles = {k: [n.encode("utf-16-le") for n in names] for k, names in _OLE_NAMES.items()}
    found: set[str] = set()
    overlap = 64
    tail = b""
    with path.open("rb") as f:
        while True:
            chunk = f.read(4 * 2**20)
            if not chunk:
                break
            buf = tail + chunk
            for kind, ns in needles.items():
                if any(n in buf for n in ns):
                    found.add(kind)
            tail = buf[-overlap:]
    for kind in ("encrypted", "xls", "doc", "ppt"):
        if kind in found:
            return kind
    return "unknown"


def _ole_error(path: Path) -> TapeError:
    kind = _ole_kind(path)
    if kind == "encrypted":
        return TapeError(
            f"{path.name} is password-protected (encrypted): save an unprotected copy "
            f"(File > Info > Protect Workbook > Encrypt with Password, clear the password) "
            f"and try again.", path=path, code="encrypted")
    if kind == "xls":
        return TapeError(
            f"{path.name} is an old-format Excel 97-2003 workbook (.xls): open it in Excel, "
            f"save it as .xlsx and try again.", path=path, code="legacy_xls")
    if kind in ("doc", "ppt"):
        what = "Word" if kind == "doc" else "PowerPoint"
        return TapeError(
            f"{path.name} is not a spreadsheet: it is an old-format {what} document.",
            path=path, code="not_spreadsheet")
    return TapeError(
        f"{path.name} is either password-protected (encrypted) or an old-format (.xls) "
        f"workbook: open it in Excel, remove any password, save it as .xlsx and try again.",
        path=path, code="encrypted")


# --------------------------------------------------------------------------- workbooks


@dataclass(frozen=True)
class SheetInfo:
    """A worksheet of a workbook: its name, zip part, visibility and index (0-based)."""

    name: str
    part: str
    state: str = "visible"
    index: int = 0


@dataclass(frozen=True)
class TableInfo:
    """An Excel Table (ListObject): name, range and header/totals row counts."""

    name: str
    ref: str
    header_rows: int = 1
    totals_rows: int = 0
    columns: tuple[str, ...] = ()

    @property
    def bounds(self) -> tuple[int, int, int, int]:
        """(first row, first column, last row, last column), 1-based."""
        b = parse_range(self.ref)
        assert b is not None
        return b


@dataclass
class WorkbookInfo:
    """What :func:`inspect_workbook` learnt of a workbook's package.

    Attributes
    ----------
    path : Path
    kind : str
        ``"xlsx"`` or ``"xlsm"`` (macro-enabled).
    sheets : list of SheetInfo
        Worksheets in workbook order (chart sheets and dialog sheets left out).
    date1904 : bool
        The workbook counts dates from 1904 (old Mac Excel).
    defined_names : dict
        Workbook-level defined names: name -> formula text (e.g. ``"Assumptions!$C$4"``).
    parts : dict
        Part name -> uncompressed size, for every member of the zip.
    shared_strings, styles : str or None
        The parts python-calamine reads besides the sheet.
    """

    path: Path
    kind: str
    sheets: list[SheetInfo]
    date1904: bool = False
    defined_names: dict[str, str] = field(default_factory=dict)
    parts: dict[str, int] = field(default_factory=dict)
    shared_strings: str | None = None
    styles: str | None = None
    workbook_part: str = "xl/workbook.xml"

    def sheet(self, name: str) -> SheetInfo | None:
        """The worksheet called ``name`` (case and surrounding spaces ignored)."""
        key = name.strip().lower()
        for s in self.sheets:
            if s.name.strip().lower() == key:
                return s
        return None


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise TapeError(
            f"{path.name} is damaged: it is not a complete zip archive, as an .xlsx must be "
            f"(perhaps truncated by a download or an e-mail). Open it in Excel, save it again "
            f"and retry, or ask for a new copy.", path=path, code="damaged") from None
    except (OSError, ValueError, EOFError, NotImplementedError) as e:
        raise TapeError(f"{path.name} is damaged: its zip structure cannot be read ({e}).",
                        path=path, code="damaged") from None


def _damaged(path: Path, what: str) -> TapeError:
    return TapeError(f"{path.name} is damaged: {what}. Open it in Excel, save it again and "
                     f"retry, or ask for a new copy.", path=path, code="damaged")


def _check_members(path: Path, zf: zipfile.ZipFile, limits: TapeLimits) -> dict[str, int]:
    infos = zf.infolist()
    if len(infos) > limits.max_members:
        raise TapeError(f"{path.name} holds {len(infos):,} parts, more than the "
                        f"{limits.max_members:,} a workbook may have (TapeLimits.max_members).",
                        path=path, code="zip_bomb")
    parts: dict[str, int] = {}
    total = 0
    for info in infos:
        name = info.filename
        if name in parts:
            raise _damaged(path, f"the part {name} is stored twice")
        if info.flag_bits & 0x1:
            raise TapeError(
                f"{path.name} is encrypted at the zip level: save an unprotected copy from "
                f"Excel and try again.", path=path, code="encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise TapeError(
                f"{path.name} uses a compression method Excel does not write (method "
                f"{info.compress_type} in {name}): open it in Excel and save it again.",
                path=path, code="unsupported")
        size = info.file_size
        total += size
        if (size > limits.ratio_min_bytes
                and size > limits.max_compression_ratio * max(info.compress_size, 1)):
            ratio = size / max(info.compress_size, 1)
            raise TapeError(
                f"{path.name} looks like a zip bomb: its part {name} expands {ratio:,.0f} times "
                f"(from {_size(info.compress_size)} to {_size(size)}), more than the "
                f"{limits.max_compression_ratio:,.0f} times a spreadsheet does "
                f"(TapeLimits.max_compression_ratio). It was not opened.",
                path=path, code="zip_bomb")
        parts[name] = size
    if total > limits.max_uncompressed_bytes:
        raise TapeError(
            f"{path.name} expands to {_size(total)}, above the "
            f"{_size(limits.max_uncompressed_bytes)} limit (TapeLimits.max_uncompressed_bytes): "
            f"it is too big to be a loan tape, or a zip bomb. It was not opened.",
            path=path, code="zip_bomb")
    return parts


def _not_workbook(path: Path, names: set[str]) -> TapeError:
    if "mimetype" in names and "content.xml" in names:
        return TapeError(
            f"{path.name} is an OpenDocument spreadsheet (.ods): save it as .xlsx and try again.",
            path=path, code="unsupported")
    if "word/document.xml" in names:
        return TapeError(f"{path.name} is not a spreadsheet: it is a Word document.",
                         path=path, code="not_spreadsheet")
    if "ppt/presentation.xml" in names:
        return TapeError(f"{path.name} is not a spreadsheet: it is a PowerPoint presentation.",
                         path=path, code="not_spreadsheet")
    return TapeError(
        f"{path.name} is not a spreadsheet: it is a zip archive without an Excel workbook in "
        f"it. Unzip it and pick the .xlsx, or export the tape from Excel again.",
        path=path, code="not_spreadsheet")


_NAME_START = re.compile(rb"[A-Za-z_:\x80-\xff]")


def _prolog_text(data: bytes) -> bytes:
    """The prolog bytes in an ASCII-compatible form (UTF-16 parts are transcoded)."""
    if data.startswith(codecs.BOM_UTF8):
        return data[3:]
    if data.startswith(codecs.BOM_UTF16_LE) or data[:2] == b"<\x00":
        return data.decode("utf-16-le", errors="replace").encode("utf-8", errors="replace")
    if data.startswith(codecs.BOM_UTF16_BE) or data[:2] == b"\x00<":
        return data.decode("utf-16-be", errors="replace").encode("utf-8", errors="replace")
    return data


def _check_prolog(path: Path, zf: zipfile.ZipFile, name: str, limits: TapeLimits) -> bytes:
    """Refuse an XML part whose prolog holds a DOCTYPE; return the root element's name.

    The document type declaration can only stand before the root element, so reading up to
    the root is enough to know that no entity is declared anywhere in the part.
    """
    try:
        with zf.open(name) as f:
            head = f.read(limits.max_prolog_bytes + 4)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as e:
        raise _damaged(path, f"its part {name} cannot be decompressed ({e})") from None
    if not head.strip():
        return b""
    text = _prolog_text(head)
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in b" \t\r\n":
            i += 1
        if i >= n:
            break
        if text.startswith(b"<?", i):
            j = text.find(b"?>", i + 2)
            if j < 0:
                break
            i = j + 2
        elif text.startswith(b"<!--", i):
            j = text.find(b"-->", i + 4)
            if j < 0:
                break
            i = j + 3
        elif text.startswith(b"<!", i):
            raise TapeError(
                f"{path.name} was refused: its part {name} declares a document type "
                f"(<!DOCTYPE ...>), which Excel never writes and which can hide an XML entity "
                f"bomb or read files from this computer. Open the file only if you trust it, "
                f"and save it again from Excel.", path=path, code="entity")
        elif text.startswith(b"<", i) and _NAME_START.match(text, i + 1):
            m = re.compile(rb"[^\s/>]+").match(text, i + 1)
            return m.group(0) if m else b""
        else:
            raise _damaged(path, f"its part {name} is not well-formed XML")
    if len(head) > limits.max_prolog_bytes:
        raise TapeError(
            f"{path.name} was refused: its part {name} has more than "
            f"{_size(limits.max_prolog_bytes)} before its first element, which no spreadsheet "
            f"writes (TapeLimits.max_prolog_bytes).", path=path, code="entity")
    return b""


def _read_xml(path: Path, zf: zipfile.ZipFile, name: str, limits: TapeLimits):
    """Parse a small XML part with defusedxml (after the prolog check)."""
    from defusedxml import ElementTree as DET

    size = zf.getinfo(name).file_size
    if size > limits.max_xml_bytes:
        raise TapeError(
            f"{path.name} was refused: its part {name} is {_size(size)}, above the "
            f"{_size(limits.max_xml_bytes)} expected of it (TapeLimits.max_xml_bytes).",
            path=path, code="zip_bomb")
    try:
        data = zf.read(name)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as e:
        raise _damaged(path, f"its part {name} cannot be decompressed ({e})") from None
    try:
        return DET.fromstring(data)
    except Exception as e:  # defusedxml raises several types (ParseError, EntitiesForbidden...)
        if type(e).__name__ in ("EntitiesForbidden", "DTDForbidden", "ExternalReferenceForbidden"):
            raise TapeError(f"{path.name} was refused: its part {name} declares XML entities.",
                            path=path, code="entity") from None
        raise _damaged(path, f"its part {name} is not well-formed XML ({e})") from None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _resolve_target(base_part: str, target: str) -> str:
    if target.startswith("/"):
        return target.lstrip("/")
    base_dir = posixpath.dirname(base_part)
    return posixpath.normpath(posixpath.join(base_dir, target))


def _rels_part(part: str) -> str:
    d, f = posixpath.split(part)
    return posixpath.join(d, "_rels", f + ".rels")


def _relationships(path: Path, zf: zipfile.ZipFile, part: str,
                   limits: TapeLimits) -> dict[str, tuple[str, str]]:
    """Relationship id -> (type suffix, target part) for ``part``."""
    rels = _rels_part(part)
    if rels not in zf.NameToInfo:
        return {}
    root = _read_xml(path, zf, rels, limits)
    out = {}
    for el in root:
        if _local(el.tag) != "Relationship":
            continue
        rid, typ, target = el.get("Id"), el.get("Type", ""), el.get("Target", "")
        if rid is None or el.get("TargetMode") == "External":
            continue
        out[rid] = (typ.rsplit("/", 1)[-1], _resolve_target(part, target))
    return out


_STRICT_NS_PREFIX = "{http://purl.oclc.org/ooxml/"
"""Namespaces of ISO/IEC 29500 Strict documents (Transitional uses schemas.openxmlformats
.org), e.g. ``http://purl.oclc.org/ooxml/spreadsheetml/main``."""


def inspect_workbook(path: str | Path, limits: TapeLimits = DEFAULT_LIMITS) -> WorkbookInfo:
    """Check a workbook's package and list its sheets (no cell is read).

    Parameters
    ----------
    path : str or Path
        An ``.xlsx``/``.xlsm`` file (already through :func:`check_path`).
    limits : TapeLimits

    Returns
    -------
    WorkbookInfo

    Raises
    ------
    TapeError
        Damaged or truncated zip, encrypted members, unsupported compression, zip bomb,
        missing workbook parts, an XML part with a DOCTYPE, no worksheet.
    """
    p = Path(path)
    with _open_zip(p) as zf:
        parts = _check_members(p, zf, limits)
        names = set(parts)
        if "[Content_Types].xml" not in names:
            raise _not_workbook(p, names)
        wb_part = "xl/workbook.xml"
        for name in names:
            if name.lower().endswith((".xml", ".rels", ".vml")):
                _check_prolog(p, zf, name, limits)
        if "_rels/.rels" in names:
            for typ, target in _relationships(p, zf, "", limits).values():
                if typ == "officeDocument" and target in names:
                    wb_part = target
        if wb_part.endswith(".bin") or "xl/workbook.bin" in names:
            raise TapeError(
                f"{p.name} is an Excel binary workbook (.xlsb): save it as .xlsx and try again.",
                path=p, code="unsupported")
        if wb_part not in names:
            raise _damaged(p, f"the workbook part {wb_part} is missing")
        content_types = (zf.read("[Content_Types].xml")
                         if parts["[Content_Types].xml"] < 2**20 else b"")
        kind = ("xlsm" if b"macroEnabled" in content_types or p.suffix.lower() == ".xlsm"
                else "xlsx")
        root = _read_xml(p, zf, wb_part, limits)
        if root.tag.startswith(_STRICT_NS_PREFIX):
            raise TapeError(
                f"{p.name} is saved as a Strict Open XML Spreadsheet, a variant gpucredit "
                "does not read: in Excel choose File > Save As > Excel Workbook (*.xlsx) and "
                "try again.", path=p, code="strict_ooxml")
        rels = _relationships(p, zf, wb_part, limits)
        date1904 = False
        sheets: list[SheetInfo] = []
        defined: dict[str, str] = {}
        for el in root:
            tag = _local(el.tag)
            if tag == "workbookPr":
                date1904 = el.get("date1904", "0").lower() in ("1", "true")
            elif tag == "sheets":
                for i, sh in enumerate(x for x in el if _local(x.tag) == "sheet"):
                    rid = sh.get(f"{{{_REL_NS}}}id")
                    typ, target = rels.get(rid or "", ("", ""))
                    if typ != "worksheet":
                        continue
                    if target not in names:
                        raise _damaged(p, f"the sheet {sh.get('name')!r} points to a missing "
                                          f"part ({target})")
                    sheets.append(SheetInfo(sh.get("name", f"Sheet{i + 1}"), target,
                                            sh.get("state", "visible"), len(sheets)))
            elif tag == "definedNames":
                for dn in el:
                    if _local(dn.tag) == "definedName" and dn.get("localSheetId") is None:
                        defined[dn.get("name", "")] = (dn.text or "").strip()
        shared = styles = None
        for typ, target in rels.values():
            if typ == "sharedStrings" and target in names:
                shared = target
            elif typ == "styles" and target in names:
                styles = target
    if not sheets:
        raise TapeError(f"{p.name} has no worksheet to read the tape from.", path=p,
                        code="no_sheet")
    return WorkbookInfo(p, kind, sheets, date1904, defined, parts, shared, styles, wb_part)


def sheet_tables(info: WorkbookInfo, sheet: SheetInfo,
                 limits: TapeLimits = DEFAULT_LIMITS) -> list[TableInfo]:
    """Excel Tables on ``sheet`` (read from its relationships with defusedxml)."""
    p = info.path
    out: list[TableInfo] = []
    with _open_zip(p) as zf:
        for typ, target in _relationships(p, zf, sheet.part, limits).values():
            if typ != "table" or target not in zf.NameToInfo:
                continue
            root = _read_xml(p, zf, target, limits)
            ref = root.get("ref", "")
            if parse_range(ref) is None:
                raise _damaged(p, f"the table in {target} has an invalid range {ref!r}")
            cols = tuple(c.get("name", "") for c in root.iter()
                         if _local(c.tag) == "tableColumn")
            out.append(TableInfo(root.get("displayName") or root.get("name") or "Table",
                                 ref, int(root.get("headerRowCount", "1") or 1),
                                 int(root.get("totalsRowCount", "0") or 0), cols))
    return out


def verify_parts(info: WorkbookInfo, parts: list[str],
                 limits: TapeLimits = DEFAULT_LIMITS) -> None:
    """Decompress ``parts`` completely, checking their CRC and declared size.

    python-calamine reads the shared strings and the styles in full; a part whose data
    does not match its declared size or checksum is refused here first.
    """
    p = info.path
    with _open_zip(p) as zf:
        for name in parts:
            if not name or name not in zf.NameToInfo:
                continue
            try:
                with zf.open(name) as f:
                    while f.read(4 * 2**20):
                        pass
            except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as e:
                raise _damaged(p, f"its part {name} cannot be decompressed ({e})") from None


# --------------------------------------------------------------------------- sheet extent


def _le_regex(s: str, lo: str, hi: str, first_lo: str) -> str:
    """Regex for strings over [lo-hi] (first char from [first_lo-hi]) that are <= ``s`` in
    (length, lexicographic) order: column letters, or decimals without leading zeros."""
    n = len(s)
    alts = []
    if n > 1:
        alts.append(f"[{first_lo}-{hi}][{lo}-{hi}]{{0,{n - 2}}}")
    for i, c in enumerate(s):
        start = first_lo if i == 0 else lo
        if c > start:
            rest = f"[{lo}-{hi}]{{{n - i - 1}}}" if n - i - 1 else ""
            alts.append(f"{re.escape(s[:i])}[{start}-{chr(ord(c) - 1)}]{rest}")
    alts.append(re.escape(s))
    return "(?:" + "|".join(alts) + ")"


def _beyond_pattern(max_col: int, max_row: int) -> re.Pattern[bytes]:
    """Matches an ``r`` attribute whose value is not a reference within (max_col, max_row)."""
    col = _le_regex(column_letter(max_col), "A", "Z", "A")
    row = _le_regex(str(max_row), "0", "9", "1")
    return re.compile(rb"r\s*=\s*[\"'](?=[A-Za-z])(?!" + col.encode() + row.encode()
                      + rb"[\"'])")


_STD_REF = re.compile(rb"r\s*=\s*[\"']([A-Z]{1,3})([1-9][0-9]{0,6})[\"']")
_PREFIXED_TAG = re.compile(rb"<[A-Za-z_][\w.\-]*:(?:c|row|sheetData)[\s/>]")
_PREFIX_PROBE = re.compile(rb":(?:c|row|sheetData)[\s/>]")
_ERROR_CELL = re.compile(
    rb'<c r="([A-Z]{1,3}[0-9]{1,7})"[^>]*?\st="e"[^>]*>\s*(?:<f[^>]*/>\s*|<f[^>]*>[^<]*</f>\s*)?'
    rb"<v>([^<]{1,32})</v>")
_MAX_ERROR_CELLS = 10_000
# A formula cell closed right after its formula, or after an empty value (``<v/>``, as
# openpyxl writes a formula it cannot calculate): never calculated. An empty value of a
# text formula (t="str") is a calculated "" and is left alone (see _uncalculated_refs).
_UNCALCULATED_CELL = re.compile(
    rb'<c(\s[^>]*)>\s*<f(?:[^>]*/>|[^>]*>[^<]*</f>)\s*(<v\s*/>|<v>\s*</v>)?\s*</c>')
_CELL_REF = re.compile(rb"""\sr\s*=\s*["']([A-Z]{1,3}[0-9]{1,7})["']""")
_TEXT_TYPE = re.compile(rb"""\st\s*=\s*["']str["']""")


def _uncalculated_refs(buf: bytes, lo: int, hi: int) -> list[str]:
    """References of the formula cells in ``buf[lo:hi]`` saved without a value."""
    out = []
    for m in _UNCALCULATED_CELL.finditer(buf, lo, hi):
        attrs = m.group(1)
        if m.group(2) and _TEXT_TYPE.search(attrs):
            continue  # a text formula whose value is "": calculated
        ref = _CELL_REF.search(attrs)
        if ref:
            out.append(ref.group(1).decode())
    return out
_DIMENSION = re.compile(rb"<(?:[\w.\-]+:)?dimension\s[^>]*?ref\s*=\s*[\"']([^\"']*)[\"']")


@dataclass
class SheetScan:
    """The extent a sheet's cells really cover, as measured by :func:`scan_sheet`.

    Attributes
    ----------
    declared : str or None
        The ``<dimension ref>`` the sheet declares.
    max_row, max_col : int
        Upper bounds of the last row and column holding a cell (0 for an empty sheet).
    exact : bool
        The bounds are attained by a cell (not only upper bounds).
    fast : bool
        Every cell carries a plain reference: python-calamine may read the sheet. ``False``
        sends the read to openpyxl's streaming reader.
    cells : int
        Cell elements seen.
    error_cells : dict
        Reference -> Excel error code (``#N/A`` ...) of cells holding an error (at most
        10,000): python-calamine reads them as blanks.
    uncalculated : list of str
        References of formula cells saved without a value (at most 10,000): the program
        that wrote the file never calculated them, and every reader sees them blank.
    """

    declared: str | None
    max_row: int
    max_col: int
    exact: bool
    fast: bool
    cells: int
    error_cells: dict[str, str] = field(default_factory=dict)
    uncalculated: list[str] = field(default_factory=list)

    @property
    def area(self) -> int:
        """Cells in the rectangle from A1 to the last row and column."""
        return self.max_row * self.max_col


def _chunks(zf: zipfile.ZipFile, name: str, size: int) -> Iterator[bytes]:
    """Decompressed chunks of a part; decompression runs in a thread (zlib drops the GIL),
    so it overlaps the scanning of the previous chunk."""
    q: queue.Queue = queue.Queue(maxsize=3)
    stop = threading.Event()

    def produce():
        try:
            with zf.open(name) as f:
                while not stop.is_set():
                    data = f.read(size)
                    q.put(data)
                    if not data:
                        return
        except BaseException as e:  # handed to the consumer
            q.put(e)

    t = threading.Thread(target=produce, daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if isinstance(item, BaseException):
                raise item
            if not item:
                return
            yield item
    finally:
        stop.set()
        while t.is_alive():
            try:
                q.get(timeout=0.05)
            except queue.Empty:
                pass
        t.join()


def scan_sheet(info: WorkbookInfo, sheet: SheetInfo, limits: TapeLimits = DEFAULT_LIMITS,
               *, chunk_bytes: int = 4 * 2**20) -> SheetScan:
    """Measure the rows and columns a sheet's cells reach, without building them.

    Streams the sheet's XML once. Each ``r`` attribute (the cell references) is checked
    against the current bounds by one regular expression; a reference beyond them raises
    the bounds (columns to the reference, rows at least doubling), so a sheet whose
    declared dimension is right is scanned with no match at all.

    Parameters
    ----------
    info : WorkbookInfo
    sheet : SheetInfo
    limits : TapeLimits
    chunk_bytes : int
        Decompressed bytes scanned at a time.

    Returns
    -------
    SheetScan

    Raises
    ------
    TapeError
        A cell beyond ``max_rows``/``max_columns`` or Excel's grid, more than ``max_cells``
        in the spanned rectangle (when the bounds are exact), or damaged data.
    """
    p = info.path
    declared: str | None = None
    col_bound, row_bound = 1, 1
    col_exact = row_exact = True  # the bounds are attained by a cell
    fast = True
    cells = std_cells = 0
    state = 0  # 0 before <sheetData, 1 inside, 2 after
    carry = b""
    first = True
    errors: dict[str, str] = {}
    uncalculated: list[str] = []
    pattern = _beyond_pattern(col_bound, row_bound)
    with _open_zip(p) as zf:
        chunks = _chunks(zf, sheet.part, chunk_bytes)
        try:
            for chunk in chunks:
                buf = carry + chunk if carry else chunk
                hi = buf.rfind(b">") + 1  # scan whole tags only; the rest waits
                if hi == 0:
                    carry = buf
                    if len(carry) > 16 * 2**20:
                        raise _damaged(p, f"its sheet {sheet.name!r} has an XML tag longer "
                                          f"than 16 MB")
                    continue
                carry = buf[hi:]
                lo = 0
                if first:
                    first = False
                    k = buf.find(b"<sheetData", 0, hi)
                    m = _DIMENSION.search(buf, 0, hi if k < 0 else k)
                    if m:
                        declared = m.group(1).decode("ascii", "replace")
                        b = parse_range(declared)
                        if b and b[2] * b[3] <= limits.max_cells and b[2] <= limits.max_rows \
                                and b[3] <= limits.max_columns:
                            row_bound, col_bound = max(b[2], 1), max(b[3], 1)
                            row_exact = col_exact = False
                            pattern = _beyond_pattern(col_bound, row_bound)
                if state == 0:
                    k = buf.find(b"<sheetData", 0, hi)
                    if k < 0:
                        if _PREFIX_PROBE.search(buf, 0, hi) and _PREFIXED_TAG.search(buf, 0, hi):
                            fast = False
                        continue
                    lo = k
                    state = 1
                k = buf.find(b"</sheetData>", lo, hi)
                if k >= 0:
                    hi = k
                    state = 2
                if _PREFIX_PROBE.search(buf, lo, hi) and _PREFIXED_TAG.search(buf, lo, hi):
                    fast = False
                if buf.find(b"<f", lo, hi) >= 0 and len(uncalculated) < _MAX_ERROR_CELLS:
                    uncalculated += _uncalculated_refs(buf, lo, hi)
                if buf.find(b't="e"', lo, hi) >= 0 and len(errors) < _MAX_ERROR_CELLS:
                    for em in _ERROR_CELL.finditer(buf, lo, hi):
                        errors[em.group(1).decode()] = em.group(2).decode("utf-8", "replace")
                        if len(errors) >= _MAX_ERROR_CELLS:
                            break
                cells += buf.count(b"<c", lo, hi)
                std_cells += buf.count(b'<c r="', lo, hi)
                pos = lo
                while True:
                    m = pattern.search(buf, pos, hi)
                    if m is None:
                        break
                    pos = m.end()
                    ref = _STD_REF.match(buf, m.start(), hi)
                    if ref is None:
                        fast = False
                        continue
                    col = column_number(ref.group(1).decode())
                    row = int(ref.group(2))
                    _check_cell_limits(p, sheet, declared, row, col, limits)
                    if col > col_bound:
                        col_bound, col_exact = col, True
                    if row > row_bound:
                        row_bound = min(max(row, 2 * row_bound), limits.max_rows)
                        row_exact = row_bound == row
                    pattern = _beyond_pattern(col_bound, row_bound)
                if state == 2:
                    break
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as e:
            raise _damaged(p, f"its sheet {sheet.name!r} cannot be decompressed ({e})") from None
        finally:
            chunks.close()
    if cells != std_cells:
        fast = False
    if cells == 0:
        return SheetScan(declared, 0, 0, True, fast, 0)
    scan = SheetScan(declared, row_bound, col_bound, row_exact and col_exact, fast, cells,
                     errors, uncalculated[:_MAX_ERROR_CELLS])
    if scan.area > limits.max_cells:
        if not scan.exact:
            scan.fast = False  # only upper bounds: let the streaming reader count
            return scan
        raise TapeError(
            f"{p.name} was refused: the cells of its sheet {sheet.name!r} span "
            f"{scan.max_row:,} rows by {scan.max_col:,} columns (to "
            f"{cell_ref(scan.max_row, scan.max_col)}), {scan.area:,} cells, above the "
            f"{limits.max_cells:,} allowed (TapeLimits.max_cells). Delete stray cells far "
            f"from the tape (Ctrl+End shows the last used cell) and save again.",
            path=p, code="too_many_cells")
    return scan


def _check_cell_limits(p: Path, sheet: SheetInfo, declared: str | None, row: int, col: int,
                       limits: TapeLimits) -> None:
    ref = cell_ref(row, col)
    decl = f" (the sheet declares {declared})" if declared else ""
    if row > _EXCEL_MAX_ROWS or col > _EXCEL_MAX_COLS:
        raise _damaged(p, f"its sheet {sheet.name!r} has a cell at {ref}, outside Excel's grid")
    if col > limits.max_columns:
        raise TapeError(
            f"{p.name} was refused: its sheet {sheet.name!r} has a cell at {ref}, column "
            f"{col:,}, beyond the {limits.max_columns:,} columns a tape may use{decl} "
            f"(TapeLimits.max_columns). Delete stray cells far to the right of the tape "
            f"(Ctrl+End shows the last used cell) and save again.",
            path=p, code="too_many_columns")
    if row > limits.max_rows:
        raise TapeError(
            f"{p.name} was refused: its sheet {sheet.name!r} reaches row {row:,} (cell {ref}), "
            f"beyond the limit of {limits.max_rows:,} rows{decl} (TapeLimits.max_rows). Split "
            f"the tape into smaller files, delete stray cells below it, or raise the limit.",
            path=p, code="too_many_rows")


# --------------------------------------------------------------------------------- CSV


@dataclass
class CsvText:
    """A CSV file's decoded text and what was learnt on the way.

    Attributes
    ----------
    text : str
    encoding : str
        ``utf-8``, ``utf-8-sig``, ``utf-16`` or ``cp1252``.
    notes : list of str
        Warnings for the report (e.g. the encoding fallback).
    """

    text: str
    encoding: str
    notes: list[str] = field(default_factory=list)


def check_csv(path: str | Path, limits: TapeLimits = DEFAULT_LIMITS) -> CsvText:
    """Read and decode a CSV tape: refuse binary data, detect the encoding.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_bytes("id,borrower\\nF1,Soci\\u00e9t\\u00e9\\n".encode("cp1252"))
    >>> c = check_csv(p)
    >>> c.encoding, c.text.splitlines()[1]
    ('cp1252', 'F1,Société')
    """
    p = check_path(path, limits)
    data = p.read_bytes()
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise TapeError(f"{p.name} is not a readable text file: it starts as UTF-16 text "
                            f"but is damaged further on.", path=p, code="not_text") from None
        if "\x00" in text:
            raise _not_text(p)
        return CsvText(text, "utf-16")
    if b"\x00" in data:
        raise _not_text(p)
    kind = sniff(data[:8192])
    if kind not in ("text",):
        raise _not_spreadsheet(p, kind)
    if data.startswith(codecs.BOM_UTF8):
        try:
            return CsvText(data[3:].decode("utf-8"), "utf-8-sig")
        except UnicodeDecodeError:
            pass
    else:
        try:
            return CsvText(data.decode("utf-8"), "utf-8")
        except UnicodeDecodeError:
            pass
    body = data[3:] if data.startswith(codecs.BOM_UTF8) else data
    try:
        text = body.decode("cp1252")
        enc = "cp1252"
    except UnicodeDecodeError:
        text = body.decode("latin-1")
        enc = "latin-1"
    note = (f"{p.name} is not UTF-8: it was read as Windows-1252 (Western European) text; "
            f"check accented names, or export it again as 'CSV UTF-8'.")
    return CsvText(text, enc, [note])


def _not_text(p: Path) -> TapeError:
    return TapeError(
        f"{p.name} is not a text file (it contains NUL bytes), so it cannot be a CSV tape: "
        f"export the tape from Excel as 'CSV UTF-8' or save it as .xlsx.",
        path=p, code="not_text")


# ---------------------------------------------------------------------------- dispatch


@dataclass
class FileCheck:
    """Outcome of :func:`check_file`: which reader to use and what it needs.

    Attributes
    ----------
    path : Path
    kind : str
        ``"xlsx"``, ``"xlsm"`` or ``"csv"``.
    workbook : WorkbookInfo or None
        For workbooks.
    notes : list of str
        Warnings for the report (e.g. a .xlsx name on a CSV file).
    """

    path: Path
    kind: str
    workbook: WorkbookInfo | None = None
    notes: list[str] = field(default_factory=list)


def check_file(path: str | Path, limits: TapeLimits | None = None) -> FileCheck:
    """Check a tape file before any parser touches it and decide how to read it.

    The content decides, not the extension: a workbook named ``.csv`` is read as a
    workbook, and CSV text named ``.xlsx`` as CSV (with a warning).

    Parameters
    ----------
    path : str or Path
    limits : TapeLimits, optional
        Defaults to :class:`TapeLimits` ().

    Returns
    -------
    FileCheck

    Raises
    ------
    TapeError
        See :class:`TapeError` for the reasons.
    """
    limits = limits or DEFAULT_LIMITS
    p = check_path(path, limits)
    with p.open("rb") as f:
        head = f.read(8192)
    kind = sniff(head)
    if kind == "zip":
        wb = inspect_workbook(p, limits)
        notes = []
        if p.suffix.lower() not in (".xlsx", ".xlsm"):
            notes.append(f"{p.name} is an Excel workbook despite its name: it was read as one.")
        return FileCheck(p, wb.kind, wb, notes)
    if kind == "ole2":
        raise _ole_error(p)
    if kind in ("text", "text16"):
        notes = []
        if p.suffix.lower() in (".xlsx", ".xlsm", ".xls"):
            notes.append(f"{p.name} is a text (CSV) file despite its name: it was read as CSV.")
        return FileCheck(p, "csv", None, notes)
    raise _not_spreadsheet(p, kind)

