"""Table rows streamed into a saved xlsx package as plain sheet XML.

openpyxl writes about 100,000 cells a second here (PLATFORM.md), too slow for the tables
of a 10,000-facility tape. So the workbook writers (:mod:`gpucredit.excel.results`,
:mod:`gpucredit.excel.tape_template`) let openpyxl save the workbook's frame, and this
module copies that package (:func:`rewrite_package`), splicing each table's rows
(:class:`Block`) into its sheet as XML: numbers as Python's shortest round-trip text,
text as inline strings (cleaned of what XML forbids, never a formula), dates as serial
numbers. Chunks of XML are deflated in a thread while the next is built; with a
``mapper`` (worker processes) the rows are rendered in other processes
(:class:`Rendered`), a spooled table's pieces read there.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import queue
import re
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pandas as pd
from openpyxl.utils import get_column_letter

from gpucredit.excel import styles as st
from gpucredit.spool import SpooledPiece, SpooledTable

__all__ = [
    "EXCEL_MAX_CHARS",
    "RENDER_AHEAD_BYTES",
    "Block",
    "Rendered",
    "clean_text",
    "escape_xml",
    "lines_height",
    "rendering",
    "rewrite_package",
    "sheet_part_names",
    "splice",
    "table_columns",
    "table_head",
    "table_parts",
    "text_lines",
    "with_id",
]

EXCEL_MAX_CHARS = 32_767
"""Characters one Excel cell holds."""
_DATA_CHUNK = 20_000
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_EPOCH = np.datetime64("1899-12-30", "D")
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


# =============================================================================== text

def clean_text(value) -> str:
    """Text safe for a worksheet cell: characters XML forbids removed, cut at 32,767.

    >>> clean_text("Acme\\x00 Compute"), len(clean_text("x" * 40_000))
    ('Acme Compute', 32767)
    """
    text = _ILLEGAL_XML.sub("", str(value))
    return text[:EXCEL_MAX_CHARS]


# =============================================================================== the package


def rewrite_package(source: Path, target: Path, parts: dict | None = None, *,
                    fixed_dates: bool = True) -> None:
    """Copy an xlsx package, replacing some parts; zip dates fixed for reproducible bytes.

    Parameters
    ----------
    source, target : Path
        The package openpyxl saved, and the file to write.
    parts : dict, optional
        Part name -> ``bytes`` (the new content) or a callable ``(zipfile handle, old
        bytes) -> None`` that streams the new content into the open handle.
    fixed_dates : bool, default True
        Stamp every zip entry 1980-01-01 and set the document's modified date to its
        created date, so that building the same workbook twice gives the same bytes.

    Notes
    -----
    The fonts of ``xl/styles.xml`` are put in the Open XML schema's order on the way
    (:func:`gpucredit.excel.styles.fix_font_order` does the same to a whole file), so the
    package passes the Open XML SDK's validation.
    """
    parts = parts or {}
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(
            target, "w", zipfile.ZIP_DEFLATED, allowZip64=True, compresslevel=6) as zout:
        for item in zin.infolist():
            info = zipfile.ZipInfo(item.filename,
                                   date_time=_ZIP_DATE if fixed_dates else item.date_time)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            old = zin.read(item.filename)
            new = parts.get(item.filename, old)
            if fixed_dates and item.filename == "docProps/core.xml":
                new = _fix_modified(new)
            if item.filename == "xl/styles.xml" and not callable(new):
                # openpyxl writes a font's children out of the schema's order
                new = st._ordered_fonts(new.decode("utf-8")).encode("utf-8")
            if callable(new):
                # Big streamed parts: the fastest deflate level (compression costs more
                # than building the XML; the file grows by about a quarter).
                for attr in ("compress_level", "_compresslevel"):  # 3.12+, 3.11
                    if hasattr(info, attr):
                        setattr(info, attr, 1)
                with zout.open(info, "w", force_zip64=True) as handle:
                    behind = _WriteBehind(handle)
                    try:
                        new(behind, old)
                    except BaseException:
                        behind.close(failed=True)
                        raise
                    behind.close()
            else:
                zout.writestr(info, new)


class _WriteBehind:
    """A part's handle written from a thread: deflating and the CRC (zlib lets other
    threads run meanwhile) overlap building the next chunk of XML, which holds the
    interpreter. At most ``depth`` chunks wait; the bytes and their order are the same."""

    def __init__(self, handle, depth: int = 2):
        self._queue: queue.Queue = queue.Queue(depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(handle,), daemon=True,
                                        name="gpucredit-zip-writer")
        self._thread.start()

    def _run(self, handle) -> None:
        while (chunk := self._queue.get()) is not None:
            if self._error is None:
                try:
                    handle.write(chunk)
                except BaseException as exc:  # raised in the caller's thread
                    self._error = exc

    def write(self, chunk: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(chunk)

    def close(self, failed: bool = False) -> None:
        """Wait for the chunks written; raise the thread's error unless ``failed``."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None and not failed:
            raise self._error


def _fix_modified(core: bytes) -> bytes:
    text = core.decode("utf-8")
    created = re.search(r"<dcterms:created[^>]*>([^<]*)</dcterms:created>", text)
    if created:
        text = re.sub(r"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                      lambda m: m.group(1) + created.group(1) + m.group(2), text)
    return text.encode("utf-8")


# =============================================================================== rows


@dataclass
class Block:
    """Data rows streamed into a saved sheet after openpyxl wrote its frame: a frame, or
    a spooled table read back piece by piece."""

    sheet: str
    frame: pd.DataFrame | SpooledTable
    styles: list[int]
    first_row: int
    first_col: int = 1
    wrap: dict[int, float] = field(default_factory=dict)  # wrapped column -> its width


def table_parts(table: pd.DataFrame | SpooledTable) -> Iterator[pd.DataFrame]:
    """A table's rows in pieces (a frame is one), a spooled metrics table's ids first."""
    if not isinstance(table, SpooledTable):
        yield table
    elif table.keep_index:
        yield from (with_id(p) for p in table.pieces())
    else:
        yield from table.pieces()


def table_columns(table: pd.DataFrame | SpooledTable) -> list[str]:
    """A table's column names as its sheet shows them."""
    if not isinstance(table, SpooledTable):
        return [str(c) for c in table.columns]
    return (["facility_id"] if table.keep_index else []) + table.columns


def table_head(table: pd.DataFrame | SpooledTable) -> pd.DataFrame:
    """A frame itself; a spooled table's first piece (its columns' types)."""
    if not isinstance(table, SpooledTable):
        return table
    return next(table_parts(table)) if len(table) else pd.DataFrame(columns=table_columns(table))


def _kind(series: pd.Series) -> tuple[str, np.ndarray]:
    """('num' | 'bool' | 'date' | 'text' | 'mixed', values ready for :func:`_column_xml`)."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype) and not series.isna().any():
        return "bool", series.to_numpy(dtype=bool)
    if pd.api.types.is_datetime64_any_dtype(dtype):
        values = series.dt.tz_localize(None) if getattr(series.dt, "tz", None) else series
        return "date", _serials(values.to_numpy(dtype="datetime64[ns]"))
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        if pd.api.types.is_integer_dtype(dtype) and not series.isna().any():
            return "int", series.to_numpy(dtype=np.int64)
        return "num", series.to_numpy(dtype=float, na_value=np.nan)
    values = series.to_numpy(dtype=object)
    present = [v for v in values if not _blank(v)]
    if present and all(isinstance(v, (dt.date, pd.Timestamp)) for v in present):
        stamps = pd.to_datetime(pd.Series(values), errors="coerce")
        if getattr(stamps.dt, "tz", None) is None:
            return "date", _serials(stamps.to_numpy(dtype="datetime64[ns]"))
    if present and all(isinstance(v, str) for v in present):
        return "text", values
    return "mixed", values


def _blank(v) -> bool:
    if v is None or v is pd.NaT or v is pd.NA or (isinstance(v, str) and not v):
        return True
    return isinstance(v, float | np.floating) and not math.isfinite(v)


def _serials(stamps: np.ndarray) -> np.ndarray:
    """Excel serial day numbers (1900 system) of datetime64 values; NaT gives NaN."""
    days = (stamps - _EPOCH.astype("datetime64[ns]")) / np.timedelta64(1, "D")
    return np.where(np.isnat(stamps), np.nan, days)


_UNDERSCORE_ESCAPE = re.compile(r"_(x[0-9A-Fa-f]{4}_)")


def _xml_text(value) -> str:
    # Spreadsheet readers decode _xHHHH_ as a character: escape a literal one's underscore.
    text = escape_xml(_UNDERSCORE_ESCAPE.sub(r"_x005F_\1", clean_text(value)))
    space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
    return f"<t{space}>{text}</t>"


def escape_xml(text: str) -> str:
    """Escape ``&``, ``<``, ``>`` and carriage returns (which XML parsers would turn into
    line feeds) for an XML text node.

    >>> escape_xml("a < b & c\\r")
    'a &lt; b &amp; c&#13;'
    """
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", "&#13;"))


def _column_xml(kind: str, values: np.ndarray, letter: str, rows: list[str],
                style: int) -> list[str]:
    """One column's cells (one XML string per row; '' for a blank)."""
    s = f' s="{style}"' if style else ""
    if kind in ("num", "date", "int"):
        head, mid = f'<c r="{letter}', f'"{s}><v>'
        if kind == "int":  # str of a Python int: the text numpy's astype(str) gives
            return [head + r + mid + v + "</v></c>"
                    for r, v in zip(rows, map(str, values.tolist()), strict=True)]
        ok = np.isfinite(values)
        # Python's shortest round-trip repr: the text numpy's astype(str) gives, twice as fast
        texts = map(repr, np.where(ok, values, 0.0).tolist())
        if ok.all():
            return [head + r + mid + v + "</v></c>" for r, v in zip(rows, texts, strict=True)]
        return [head + r + mid + v + "</v></c>" if good else ""
                for r, v, good in zip(rows, texts, ok.tolist(), strict=True)]
    if kind == "bool":
        return [f'<c r="{letter}{r}" t="b"{s}><v>{int(v)}</v></c>'
                for r, v in zip(rows, values.tolist(), strict=True)]
    if kind == "text":
        # One lookup a cell: each distinct value's cell text once ('' for a blank, which
        # includes text that is empty once cleaned), the row number put in per cell.
        items = values.tolist()
        memo = {v: (f'" t="inlineStr"{s}><is>{_xml_text(v)}</is></c>'
                    if not _blank(v) and clean_text(v) else "") for v in set(items)}
        head = f'<c r="{letter}'
        return [head + r + cell if cell else ""
                for r, cell in zip(rows, map(memo.__getitem__, items), strict=True)]
    out = []
    for r, v in zip(rows, values.tolist(), strict=True):
        if _blank(v):
            out.append("")
        elif isinstance(v, bool | np.bool_):
            out.append(f'<c r="{letter}{r}" t="b"{s}><v>{int(v)}</v></c>')
        elif isinstance(v, int | float | np.integer | np.floating):
            out.append(f'<c r="{letter}{r}"{s}><v>{np.float64(v)!s}</v></c>')
        elif isinstance(v, dt.date | pd.Timestamp) and not (
                isinstance(v, dt.datetime) and v.tzinfo is not None):
            serial = _serials(np.array([pd.Timestamp(v).to_datetime64()],
                                       dtype="datetime64[ns]"))[0]
            out.append(f'<c r="{letter}{r}"{s}><v>{serial!r}</v></c>')
        elif clean_text(v):
            out.append(f'<c r="{letter}{r}" t="inlineStr"{s}><is>{_xml_text(v)}</is></c>')
        else:
            out.append("")
    return out


def _pieces(block: Block) -> Iterator[tuple]:
    """The block's rows as render tasks, in order: :func:`_render`'s arguments ``(rows,
    add_id, first_row, first_col, styles, wrap)``, ``rows`` a whole frame or an unread
    :class:`SpooledPiece` (the pieces each column's kind is read from, as before: the
    same bytes)."""
    table, first = block.frame, block.first_row
    if not isinstance(table, SpooledTable):
        yield table, False, first, block.first_col, block.styles, block.wrap
        return
    for piece in table.handles():
        yield piece, table.keep_index, first, block.first_col, block.styles, block.wrap
        first += piece.rows


def _render(rows, add_id: bool, first_row: int, first_col: int, styles: list[int],
            wrap: dict[int, float] | None = None) -> Iterator[bytes]:
    """Rows of a table as sheet XML, in chunks, from ``first_row`` down; a row whose text
    in a ``wrap`` column (index -> width) takes several lines is made tall enough."""
    frame = rows.read() if isinstance(rows, SpooledPiece) else rows
    if add_id:
        frame = with_id(frame)
    n = len(frame)
    columns = [(_kind(frame.iloc[:, j]), get_column_letter(first_col + j), styles[j])
               for j in range(frame.shape[1])]
    tall = _row_heights(frame, wrap or {})
    for start in range(0, n, _DATA_CHUNK):
        stop = min(n, start + _DATA_CHUNK)
        rows_ = [str(first_row + i) for i in range(start, stop)]
        opens = [f'<row r="{r}" ht="{tall[i]:g}" customHeight="1">' if i in tall
                 else f'<row r="{r}">' for i, r in enumerate(rows_, start=start)]
        cols = [_column_xml(kind, values[start:stop], letter, rows_, style)
                for (kind, values), letter, style in columns]
        text = "".join(f'{o}{"".join(cells)}</row>'
                       for o, cells in zip(opens, zip(*cols, strict=True), strict=True))
        yield text.encode("utf-8")


def text_lines(text: str, width: float) -> int:
    """Lines a text takes wrapped in a column ``width`` characters wide, at most: a
    column's width counts digits, wider than most letters."""
    return max(1, math.ceil(len(text) / max(width, 4.0)))


def _row_heights(frame: pd.DataFrame, wrap: dict[int, float]) -> dict[int, float]:
    """Row position -> height (points, 15 a line) of the rows whose wrapped text takes
    more than one line (Excel and LibreOffice keep a row's height as written)."""
    lines: dict[int, int] = {}
    for j, width in wrap.items():
        for i, v in enumerate(frame.iloc[:, j].tolist()):
            if isinstance(v, str) and (k := text_lines(v, width)) > 1:
                lines[i] = max(lines.get(i, 1), k)
    return {i: lines_height(k) for i, k in lines.items()}


def lines_height(lines: int) -> float:
    """A row's height (points) for ``lines`` lines of text: 15 points a line."""
    return 15.0 * lines + 3.0


def _render_task(task: tuple) -> bytes:
    """One render task's XML (what a worker process returns)."""
    return b"".join(_render(*task))


def _rows_xml(block: Block) -> Iterator[bytes]:
    """The block's rows as sheet XML, in chunks, one piece of the table at a time."""
    for task in _pieces(block):
        yield from _render(*task)


RENDER_AHEAD_BYTES = 64 * 2**20
"""Rendered sheet XML the workbook writer may hold before it writes it (:class:`Rendered`)."""


class Rendered:
    """Every block's rows rendered by a ``mapper`` (worker processes), handed out in order
    whatever order the tasks finish in.

    A block's tasks start when the block is framed (:meth:`start`), not when the package
    is written: while the rest of the workbook is framed and saved, a thread a block
    fetches the workers' XML, up to ``ahead`` bytes held for all blocks (then the workers
    finish the tasks in hand and wait); the rest is fetched as each block is written.
    """

    def __init__(self, mapper, ahead: int | None = None):
        ahead = RENDER_AHEAD_BYTES if ahead is None else ahead
        self._mapper, self._ahead = mapper, ahead
        self._feeds: list[_Feed] = []
        self._lock = threading.Lock()
        self._held = 0

    def start(self, block: Block) -> None:
        tasks = list(_pieces(block))
        feed = _Feed(iter(self._mapper(_render_task, tasks)), len(tasks))
        feed.thread = threading.Thread(target=self._prefetch, args=(feed,), daemon=True,
                                       name="gpucredit-render-ahead")
        self._feeds.append(feed)
        feed.thread.start()

    def _prefetch(self, feed: _Feed) -> None:
        try:
            while not feed.stop.is_set() and len(feed.done) < feed.n:
                with self._lock:
                    if self._held >= self._ahead:
                        return
                j, xml = next(feed.results)
                feed.done[j] = xml
                with self._lock:
                    self._held += len(xml)
        except BaseException as exc:  # raised where the block is written
            feed.error = exc

    def chunks(self, k: int):
        """The ``k``-th block's XML chunks (blocks are asked for in turn)."""
        def get() -> Iterator[bytes]:
            feed = self._feeds[k]
            feed.stop.set()
            feed.thread.join()  # from here on this thread alone reads its results
            if feed.error is not None:
                raise feed.error
            for i in range(feed.n):
                while i not in feed.done:
                    j, xml = next(feed.results)
                    feed.done[j] = xml
                    with self._lock:
                        self._held += len(xml)
                xml = feed.done.pop(i)
                with self._lock:
                    self._held -= len(xml)
                yield xml
        return get

    def close(self) -> None:
        """Stop fetching ahead (a run that fails before writing every block)."""
        for feed in self._feeds:
            feed.stop.set()
        for feed in self._feeds:
            feed.thread.join()


@contextlib.contextmanager
def rendering(mapper):
    """A :class:`Rendered` on ``mapper`` (None without one), stopped when the block ends."""
    rendered = Rendered(mapper) if mapper is not None else None
    try:
        yield rendered
    finally:
        if rendered is not None:
            rendered.close()


@dataclass
class _Feed:
    """One block's render results: the mapper's iterator, the results fetched by index."""

    results: Iterator
    n: int
    done: dict = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    error: BaseException | None = None


def splice(block: Block, chunks=None):
    """A part writer (for :func:`rewrite_package`) that inserts the block's rows (from
    ``chunks()``, default :func:`_rows_xml`)."""
    def write(handle, old: bytes) -> None:
        xml = old.decode("utf-8")
        if "</sheetData>" not in xml:
            xml = xml.replace("<sheetData/>", "<sheetData></sheetData>", 1)
        head, tail = xml.split("</sheetData>", 1)
        last_row = max(block.first_row + len(block.frame) - 1, 1)
        last_col = get_column_letter(max(block.first_col + len(table_columns(block.frame)) - 1, 1))
        head = re.sub(r'<dimension ref="[^"]*"\s*/>', f'<dimension ref="A1:{last_col}{last_row}"/>',
                      head, count=1)
        handle.write(head.encode("utf-8"))
        for chunk in (_rows_xml(block) if chunks is None else chunks()):
            handle.write(chunk)
        handle.write(("</sheetData>" + tail).encode("utf-8"))
    return write


def sheet_part_names(package: Path) -> dict[str, str]:
    """Sheet title -> part name (``xl/worksheets/sheetN.xml``) in a saved package."""
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
          "r": "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
          "p": "http://schemas.openxmlformats.org/package/2006/relationships"}
    with zipfile.ZipFile(package) as zf:
        book = ET.fromstring(zf.read("xl/workbook.xml"))
        rels = ET.fromstring(zf.read("xl/_rels/workbook.xml.rels"))
    targets = {r.get("Id"): r.get("Target") for r in rels.findall("p:Relationship", ns)}
    out = {}
    for sheet in book.findall("m:sheets/m:sheet", ns):
        target = targets[sheet.get(f"{{{ns['r']}}}id")].lstrip("/")
        out[sheet.get("name")] = target if target.startswith("xl/") else "xl/" + target
    return out


def with_id(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with ``facility_id`` as its first column (from the index if need be)."""
    if "facility_id" not in frame.columns:
        if frame.index.name == "facility_id" or not isinstance(frame.index, pd.RangeIndex):
            frame = frame.rename_axis("facility_id").reset_index()
    cols = list(frame.columns)
    if "facility_id" in cols:
        cols.insert(0, cols.pop(cols.index("facility_id")))
    return frame[cols]
