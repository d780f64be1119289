"""Read a loan tape from .xlsx, .xlsm or .csv into raw values, remembering where each came from.

:func:`read_tape` runs the checks of :mod:`gpucredit.tape.guards` first, then reads:

* **Workbooks** with python-calamine (fast: about 12x openpyxl on this project's tapes),
  or with openpyxl's streaming reader when the guard found cells it cannot bound. The tape
  is the Excel Table on the sheet called ``Tape`` (or on the sheet given). Without such a
  sheet it is the sheet holding the template's table (``LoanTape``), else the sheet whose
  header row names most loan-tape columns (at least three, and at least half the row's
  cells: a sheet listing column names down a column is not a tape), with a warning naming
  it; failing both, an error lists the sheets. Without a table, the header is the first
  row naming at least two schema columns among the first 30 non-empty rows (else the first
  non-empty row), and the data run to the last non-empty row. A table's totals row is
  left out.
* **CSV** with pandas' C parser: UTF-8 (with or without BOM), UTF-16 with BOM, else
  Windows-1252 with a warning; the delimiter is the most frequent of ``, ; tab |`` in the
  header line, or the one an Excel ``sep=`` first line names.

Headers are matched to schema columns regardless of case, spacing, underscores and a unit
in brackets (:func:`gpucredit.tape.schema.match_header`). Values stay as the file holds
them - numbers, text, dates, booleans, ``None`` for a blank - for the validator to type.
Blank rows are skipped. The Assumptions sheet's named cells (and label/value pairs) are
read into :attr:`TapeSource.assumptions`.

Examples
--------
>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "tape.csv"
>>> _ = p.write_text("Facility ID,GPU model,Utilization\\nF1,H100,85%\\n\\nF2,h200,0.9\\n")
>>> df, src = read_tape(p)
>>> list(df.columns), list(df.index)
(['facility_id', 'gpu_model', 'utilization'], [2, 4])
>>> src.columns["utilization"].letter, df.loc[4, "gpu_model"]
('C', 'h200')
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gpucredit.tape.guards import (
    DEFAULT_LIMITS,
    SheetInfo,
    TableInfo,
    TapeError,
    TapeLimits,
    WorkbookInfo,
    cell_ref,
    check_csv,
    check_file,
    column_letter,
    parse_range,
    parse_ref,
    scan_sheet,
    sheet_tables,
    verify_parts,
)
from gpucredit.tape.issues import ERROR, WARNING, Issue, make_issue
from gpucredit.tape.schema import column, match_assumption, match_header

__all__ = ["ColumnSource", "TapeSource", "read_assumptions", "read_tape"]

_HEADER_SEARCH_ROWS = 30
_TRAILING_BRACKET = re.compile(r"[\(\[]([^\)\]]*)[\)\]]\s*$")
_UNIT_WORDS = frozenset(
    "% $ us$ usd eur gbp # x bp bps pct percent percentage count number no nr units unit "
    "years year yrs yr months month mos mo days day hours hour hrs hr h kw mw kwh mwh gw w "
    "gpu gpus gpu-hour gpu-hr gpu/h gpu-h per a an annual annually p.a. pa yearly monthly "
    "date yyyy-mm-dd dd/mm/yyyy mm/dd/yyyy iso th/s ph/s eh/s th ph eh btc decimal fraction "
    "ratio multiple rate nominal 0-1 1-12 mw/gpu kw/gpu usd/gpu-hour usd/kwh $/kwh "
    "$/gpu-hour usd/gpu-hr $/gpu-hr".split())


_SCALE_WORDS = frozenset(
    "k m mm mn mln bn b000 '000 000 000s thousand thousands million millions billion "
    "billions".split())
"""Words in a header's bracket that scale its amounts ("Drawn amount [USD m]")."""


def _scaled(header: str) -> str | None:
    """The trailing bracket of ``header`` when it scales the amounts (thousands, millions,
    billions), else None: gpucredit reads amounts as written, so such a column would be
    read a thousand or a million times too small."""
    m = _TRAILING_BRACKET.search(header)
    if m is None:
        return None
    words = [w for w in re.split(r"[\s,/]+", m.group(1).strip().lower()) if w]
    return m.group(0).strip() if any(w in _SCALE_WORDS for w in words) else None


def _not_a_unit(header: str, fld: str) -> str | None:
    """The trailing bracket of ``header`` when it is not a unit, else None.

    Matching drops a trailing bracket as a unit ("Debt (USD)"), so "Maturity date
    (extended)" would be read as the maturity date without a word: such a bracket is named.
    """
    m = _TRAILING_BRACKET.search(header)
    if m is None:
        return None
    inner = m.group(1).strip().lower()
    col = column(fld)
    own = " ".join((col.label, col.name, *col.aliases)).lower()
    words = [w for w in re.split(r"[\s,]+", inner) if w]
    if not words or inner in own or all(w in _UNIT_WORDS for w in words):
        return None
    return m.group(0).strip()


@dataclass(frozen=True)
class ColumnSource:
    """Where a column of the frame came from.

    Attributes
    ----------
    letter : str
        Column letter(s) in the sheet (for CSV: as Excel would show the file).
    header : str
        The header as written.
    field : str or None
        The schema column it matched, ``None`` for an unknown header.
    """

    letter: str
    header: str
    field: str | None


@dataclass
class TapeSource:
    """Where a tape was read from, for messages that point into the file.

    Attributes
    ----------
    path : Path
    kind : str
        ``"xlsx"``, ``"xlsm"`` or ``"csv"``.
    sheet : str or None
        Worksheet read (``None`` for CSV).
    table : str or None
        Excel Table read, if any.
    header_row : int
        Spreadsheet row of the header.
    columns : dict
        Frame column -> :class:`ColumnSource`.
    engine : str
        ``"calamine"``, ``"openpyxl"`` or ``"pandas"``.
    encoding, delimiter : str or None
        For CSV files.
    date1904 : bool
        The workbook counts dates from 1904.
    declared_dimension : str or None
        The sheet's declared ``<dimension>``.
    assumptions : dict
        Assumption name -> raw value, from the Assumptions sheet.
    assumption_cells : dict
        Assumption name -> ``"Sheet!C4"`` where it was read.
    issues : list of Issue
        Problems found while reading (duplicate headers, data without a header, encoding
        fallback ...); the validator adds them to its report.
    uncalculated : dict
        (spreadsheet row, frame column) -> cell reference of the tape cells holding a
        formula saved without a value (read as blank): the validator reports each.
    """

    path: Path
    kind: str
    sheet: str | None = None
    table: str | None = None
    header_row: int = 1
    columns: dict[str, ColumnSource] = field(default_factory=dict)
    engine: str = ""
    encoding: str | None = None
    delimiter: str | None = None
    date1904: bool = False
    declared_dimension: str | None = None
    assumptions: dict[str, Any] = field(default_factory=dict)
    assumption_cells: dict[str, str] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    uncalculated: dict[tuple[int, str], str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The file's name."""
        return self.path.name


# ------------------------------------------------------------------------------ grids


def _is_blank(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, str):
        return not v.strip()
    return isinstance(v, float) and v != v


def _calamine_rows(path: Path, sheet: str) -> list[list[Any]]:
    import python_calamine as pc

    try:
        with pc.CalamineWorkbook.from_path(str(path)) as wb:
            return wb.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
    except pc.PasswordError:
        raise TapeError(f"{path.name} is password-protected: save an unprotected copy and "
                        f"try again.", path=path, code="encrypted") from None
    except pc.CalamineError as e:
        raise TapeError(f"{path.name} is damaged: its sheet {sheet!r} cannot be read ({e}). "
                        f"Open it in Excel, save it again and retry.",
                        path=path, code="damaged") from None


def _openpyxl_rows(path: Path, sheet: str, limits: TapeLimits) -> list[list[Any]]:
    """Stream a sheet with openpyxl (read-only mode), refusing what exceeds the limits."""
    import openpyxl

    rows: list[list[Any]] = []
    cells = 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl's style warnings mean nothing here
            wb = openpyxl.load_workbook(path, read_only=True, data_only=True,
                                        keep_links=False)
    except Exception as e:  # openpyxl raises many types on damaged packages
        raise TapeError(f"{path.name} is damaged: it cannot be opened ({e}).", path=path,
                        code="damaged") from None
    try:
        ws = wb[sheet]
        ws.reset_dimensions()
        for i, row in enumerate(ws.iter_rows(values_only=True), start=1):
            values = list(row)
            while values and values[-1] is None:
                values.pop()
            if not values:
                if i <= limits.max_rows:  # gaps openpyxl fills; none kept past the limit
                    rows.append(values)
                continue
            if i > limits.max_rows:
                raise TapeError(
                    f"{path.name} was refused: its sheet {sheet!r} reaches row {i:,}, beyond "
                    f"the limit of {limits.max_rows:,} rows (TapeLimits.max_rows). Split the "
                    f"tape into smaller files or raise the limit.",
                    path=path, code="too_many_rows")
            if len(values) > limits.max_columns:
                raise TapeError(
                    f"{path.name} was refused: its sheet {sheet!r} has a cell at "
                    f"{cell_ref(i, len(values))}, beyond the {limits.max_columns:,} columns a "
                    f"tape may use (TapeLimits.max_columns). Delete stray cells and save again.",
                    path=path, code="too_many_columns")
            cells += len(values)
            if cells > limits.max_cells:
                raise TapeError(
                    f"{path.name} was refused: its sheet {sheet!r} holds more than "
                    f"{limits.max_cells:,} cells (TapeLimits.max_cells).",
                    path=path, code="too_many_cells")
            rows.append(values)
    except TapeError:
        raise
    except Exception as e:
        raise TapeError(f"{path.name} is damaged: its sheet {sheet!r} cannot be read ({e}).",
                        path=path, code="damaged") from None
    finally:
        wb.close()
    while rows and not rows[-1]:
        rows.pop()
    return rows


def _some(refs: list[str], shown: int = 5) -> str:
    """The first few cell references and how many more: "B3, C4 and 12 more"."""
    more = f" and {len(refs) - shown:,} more" if len(refs) > shown else ""
    return ", ".join(refs[:shown]) + more


def _sheet_rows(info: WorkbookInfo, sheet: SheetInfo, limits: TapeLimits,
                notes: list[Issue], formulas: list[str] | None = None
                ) -> tuple[list[list[Any]], str, str | None]:
    """All rows of a sheet from A1 (guarded), the engine used and the declared dimension.

    Formula cells saved without a value read as blanks: their references are added to
    ``formulas`` when given (the tape's sheet, whose cells are reported one by one), else
    one error names them for the sheet."""
    scan = scan_sheet(info, sheet, limits)
    if formulas is not None:
        formulas.extend(scan.uncalculated)
    elif scan.uncalculated:
        notes.append(make_issue(
            ERROR, f"the sheet {sheet.name!r} has formula cells that were never calculated "
            f"({_some(scan.uncalculated)}): the program that saved {info.path.name} (a "
            "script, openpyxl ...) does not calculate formulas, so they hold no value. Open "
            "the file in Excel or LibreOffice, let it calculate, save it and try again",
            sheet=sheet.name, check="file"))
    if scan.cells == 0 and scan.fast:
        return [], "calamine", scan.declared
    if scan.declared:
        b = parse_range(scan.declared)
        if b and (b[2] > 2 * scan.max_row or b[3] > 2 * scan.max_col) \
                and b[2] * b[3] > 1_000_000:
            notes.append(make_issue(
                WARNING, f"the sheet {sheet.name!r} declares its data span "
                f"{scan.declared} but its cells end by {cell_ref(scan.max_row, scan.max_col)}: "
                f"the declaration was ignored", sheet=sheet.name, check="file"))
    verify_parts(info, [p for p in (info.shared_strings, info.styles) if p], limits)
    try:
        import python_calamine  # noqa: F401
        have_calamine = True
    except ImportError:  # pragma: no cover - calamine is part of the excel extra
        have_calamine = False
    if scan.fast and have_calamine:
        rows = _calamine_rows(info.path, sheet.name)
        for ref, code in scan.error_cells.items():  # calamine reads error cells as blanks
            rc = parse_ref(ref)
            if rc and rc[0] - 1 < len(rows) and rc[1] - 1 < len(rows[rc[0] - 1]):
                rows[rc[0] - 1][rc[1] - 1] = code
        return rows, "calamine", scan.declared
    return _openpyxl_rows(info.path, sheet.name, limits), "openpyxl", scan.declared


# ---------------------------------------------------------------------- grid -> frame


_ANY = object()


def _grid(rows: list[list[Any]]) -> np.ndarray:
    """Rows as a 2-D object array (short rows padded with ``None``)."""
    if not rows:
        return np.empty((0, 0), dtype=object)
    width = max(len(r) for r in rows)
    if any(len(r) != width for r in rows):
        rows = [list(r) + [None] * (width - len(r)) for r in rows]
    grid = np.empty((len(rows), width), dtype=object)
    if width:
        grid[:, :] = rows
    return grid


def _blank_mask(arr: np.ndarray, empty: Any = _ANY) -> np.ndarray:
    """Blank cells of an object array: ``None``, NaN or ''. (Text of spaces only is left to
    the validator, which treats it as blank too.) ``empty`` names the one blank a reader
    produces ('' for python-calamine and CSV, ``None`` for openpyxl) to test only that."""
    if arr.size == 0:
        return np.zeros(arr.shape, dtype=bool)
    if empty is _ANY:
        return pd.isna(arr) | np.equal(arr, "")
    return np.equal(arr, empty)


def _find_header(rows: list[list[Any]], start: int, stop: int) -> int | None:
    """0-based index of the header row among rows[start:stop]."""
    first_nonblank = None
    seen = 0
    for i in range(start, stop):
        row = rows[i]
        if all(_is_blank(v) for v in row):
            continue
        if first_nonblank is None:
            first_nonblank = i
        if sum(1 for v in row if isinstance(v, str) and match_header(v)) >= 2:
            return i
        seen += 1
        if seen >= _HEADER_SEARCH_ROWS:
            break
    return first_nonblank


def _header_text(v: Any) -> str:
    if _is_blank(v):
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v).strip()


def _frame(rows: list[list[Any]], source: TapeSource, *, table: TableInfo | None,
           row_base: int = 1) -> pd.DataFrame:
    """Build the raw frame from ``rows`` (rows[0] is spreadsheet row ``row_base``, A first)."""
    if table is not None:
        r0, c0, r1, c1 = table.bounds
        top = r0 - row_base
        if table.header_rows > 0:
            hdr_row = rows[top] if 0 <= top < len(rows) else []
            header_names = [_header_text(hdr_row[j] if j < len(hdr_row) else None)
                            for j in range(c0 - 1, c1)]
            data_first = top + table.header_rows
        else:
            header_names = list(table.columns) or [""] * (c1 - c0 + 1)
            data_first = top
        data_last = min(r1 - row_base + 1 - table.totals_rows, len(rows))
        source.header_row = r0 if table.header_rows > 0 else r0 - 1
        col_first, col_last = c0 - 1, c1
        _outside_table(rows, table, row_base, source)
    else:
        h = _find_header(rows, 0, len(rows))
        if h is None:
            source.header_row = row_base
            return pd.DataFrame(index=pd.Index([], name="row", dtype="int64"))
        source.header_row = h + row_base
        hdr = rows[h]
        width = max((len(r) for r in rows[h:]), default=0)
        header_names = [_header_text(hdr[j] if j < len(hdr) else None) for j in range(width)]
        data_first, data_last = h + 1, len(rows)
        col_first, col_last = 0, width
    grid = _grid(rows[data_first:data_last])
    if grid.shape[1] < col_last:
        pad = np.full((grid.shape[0], col_last - grid.shape[1]), None, dtype=object)
        grid = np.hstack([grid, pad]) if grid.size else np.empty(
            (grid.shape[0], col_last), dtype=object)
    sub = grid[:, col_first:col_last]
    row_numbers = np.arange(sub.shape[0], dtype=np.int64) + data_first + row_base
    return _assemble(header_names, sub, row_numbers, source, col_first)


def _outside_table(rows: list[list[Any]], table: TableInfo, row_base: int,
                   source: TapeSource) -> None:
    """Report cells below or beside the tape's Excel Table: they are not read."""
    r0, c0, r1, c1 = table.bounds
    below = [i + row_base for i in range(max(r1 - row_base + 1, 0), len(rows))
             if any(not _is_blank(v) for v in rows[i])]
    if below:
        span = f"row {below[0]}" if len(below) == 1 else f"rows {below[0]} to {below[-1]}"
        source.issues.append(make_issue(
            WARNING, f"{span} below the table {table.name!r} (which ends on row {r1}) "
            f"{'hold' if len(below) > 1 else 'holds'} data that was not read: if they are "
            "facilities, extend the table over them (Table Design > Resize Table) and run "
            "again",
            sheet=source.sheet, row=None, check="outside_table"))
    beside = sorted({j + 1 for i in range(max(r0 - row_base, 0), min(r1 - row_base + 1,
                                                                      len(rows)))
                     for j, v in enumerate(rows[i]) if (j + 1 < c0 or j + 1 > c1)
                     and not _is_blank(v)})
    if beside:
        letters = ", ".join(column_letter(j) for j in beside[:5]) + (
            " ..." if len(beside) > 5 else "")
        source.issues.append(make_issue(
            WARNING, f"column{'s' * (len(beside) > 1)} {letters} beside the table "
            f"{table.name!r} (columns {column_letter(c0)} to {column_letter(c1)}) "
            f"{'hold' if len(beside) > 1 else 'holds'} data that was not read: if it belongs "
            "to the tape, extend the table over it",
            sheet=source.sheet, check="outside_table"))


# --------------------------------------------------------------------------- workbooks


def _pick_sheet(info: WorkbookInfo, sheet: str | int | None) -> SheetInfo:
    names = ", ".join(repr(s.name) for s in info.sheets)
    if isinstance(sheet, int) and not isinstance(sheet, bool):
        if 0 <= sheet < len(info.sheets):
            return info.sheets[sheet]
        raise TapeError(f"{info.path.name} has no sheet number {sheet + 1}: its sheets are "
                        f"{names}.", path=info.path, code="no_sheet")
    if sheet is not None:
        found = info.sheet(str(sheet))
        if found is None:
            raise TapeError(f"{info.path.name} has no sheet called {sheet!r}: its sheets are "
                            f"{names}.", path=info.path, code="no_sheet")
        return found
    found = info.sheet("Tape")
    if found is not None:
        return found
    visible = [s for s in info.sheets if s.state == "visible"]
    return (visible or info.sheets)[0]


_TAPE_TABLES = ("tape", "loantape")
"""Names of the tape's Excel Table: the template's (``LoanTape``,
:data:`gpucredit.excel.tape_template.TABLE_NAME`) and the plain one, case ignored."""
_MIN_HEADER_FIELDS = 3


def _pick_table(tables: list[TableInfo]) -> TableInfo | None:
    if not tables:
        return None
    for t in tables:
        if t.name.strip().lower() in _TAPE_TABLES:
            return t
    return max(tables, key=lambda t: sum(1 for c in t.columns if match_header(c)))


def _header_fields(cells) -> int:
    """How many loan-tape columns a row of cells names as headers: distinct schema columns,
    counted only when they are at least half of the row's non-blank cells. A row listing
    one column by label and by name ("Facility ID", "facility_id", as the Instructions
    sheet does) names one; a table of other data with a few tape-like headers names none.
    """
    texts = [v for v in cells if not _is_blank(v)]
    fields = {match_header(v) for v in texts if isinstance(v, str)} - {None}
    return len(fields) if 2 * len(fields) >= len(texts) else 0


def _tape_like(info: WorkbookInfo, sh: SheetInfo, limits: TapeLimits, notes: list[Issue],
               formulas: list[str]):
    """Why ``sh`` may hold the tape: ``(rank, reason, table, rows)``, or None.

    rank orders candidates: an Excel Table named as the template names it first, then a
    table, then a plain header row, each by how many loan-tape columns it names."""
    tables = sheet_tables(info, sh, limits)
    named = [t for t in tables if t.name.strip().lower() in _TAPE_TABLES]
    if named:
        t = named[0]
        return ((3, len(t.columns)), f"which holds the loan-tape table {t.name!r}", t,
                _sheet_rows(info, sh, limits, notes, formulas))
    scored = [(_header_fields(t.columns), t) for t in tables if t.header_rows > 0]
    n, table = max(scored, key=lambda x: x[0], default=(0, None))
    if n >= _MIN_HEADER_FIELDS:
        return ((2, n), f"whose table {table.name!r} is headed with {n} loan-tape columns",
                table, _sheet_rows(info, sh, limits, notes, formulas))
    got = _sheet_rows(info, sh, limits, notes, formulas)
    best, at, seen = 0, 0, 0
    for i, row in enumerate(got[0]):
        if all(_is_blank(v) for v in row):
            continue
        n = _header_fields(row)
        if n > best:
            best, at = n, i + 1
        seen += 1
        if seen >= _HEADER_SEARCH_ROWS:
            break
    if best >= _MIN_HEADER_FIELDS:
        return ((1, best), f"whose row {at} is headed with {best} loan-tape columns",
                _pick_table(tables), got)
    return None


def _find_tape_sheet(info: WorkbookInfo, limits: TapeLimits, source: TapeSource,
                     formulas: list[str]):
    """No sheet is called Tape: the sheet holding the template's table, else the one whose
    header names most loan-tape columns (visible sheets first); never a sheet that only
    mentions column names, like the Instructions."""
    visible = [s for s in info.sheets if s.state == "visible"]
    hidden = [s for s in info.sheets if s.state != "visible"]
    for group in (visible, hidden):
        best = None
        for sh in group:
            notes: list[Issue] = []
            refs: list[str] = []
            found = _tape_like(info, sh, limits, notes, refs)
            if found is not None and (best is None or found[0] > best[1][0]):
                best = (sh, found, notes, refs)
                if found[0][0] == 3:
                    break  # the template's own table: no need to read further sheets
        if best is not None:
            sh, (_rank, why, table, got), notes, refs = best
            source.sheet = sh.name
            source.issues.extend(notes)
            formulas.extend(refs)
            source.issues.append(make_issue(
                WARNING, f"{info.path.name} has no sheet called 'Tape': the tape was read "
                f"from the sheet {sh.name!r}, {why}; rename that sheet 'Tape' if it is the "
                "tape",
                sheet=sh.name, check="file"))
            return sh, (table, got)
    names = ", ".join(repr(s.name) for s in info.sheets)
    raise TapeError(f"{info.path.name} has no sheet called 'Tape' and no sheet whose header "
                    f"names loan-tape columns (its sheets are {names}): was the Tape sheet "
                    "renamed or deleted? Name the sheet holding the tape 'Tape'.",
                    path=info.path, code="no_sheet")


def _read_workbook(check, sheet, limits: TapeLimits) -> tuple[pd.DataFrame, TapeSource]:
    info: WorkbookInfo = check.workbook
    source = TapeSource(info.path, info.kind, sheet=None, date1904=info.date1904)
    source.issues.extend(make_issue(WARNING, n, check="file") for n in check.notes)
    formulas: list[str] = []
    if sheet is None and info.sheet("Tape") is None:
        sh, (table, (rows, engine, declared)) = _find_tape_sheet(info, limits, source,
                                                                 formulas)
    else:
        sh = _pick_sheet(info, sheet)
        source.sheet = sh.name
        table = _pick_table(sheet_tables(info, sh, limits))
        rows, engine, declared = _sheet_rows(info, sh, limits, source.issues, formulas)
    source.engine = engine
    source.declared_dimension = declared
    if table is not None:
        source.table = table.name
    df = _frame(rows, source, table=table)
    del rows
    if formulas:
        _place_formulas(formulas, df, source)
    values, cells, issues = read_assumptions(info, limits, exclude=sh.name)
    source.assumptions, source.assumption_cells = values, cells
    source.issues.extend(issues)
    return df, source


def _place_formulas(refs: list[str], df: pd.DataFrame, source: TapeSource) -> None:
    """Formula cells saved without a value, which read as blanks: those holding a tape
    value go to :attr:`TapeSource.uncalculated` for the validator to name one by one; the
    others (a header, an ignored column, a row read as blank) are named in one warning."""
    letters = {cs.letter: key for key, cs in source.columns.items() if cs.field}
    rows = set(df.index.tolist())
    elsewhere = []
    for ref in refs:
        rc = parse_ref(ref)
        key = letters.get(column_letter(rc[1])) if rc else None
        if key is not None and rc[0] in rows:
            source.uncalculated[(rc[0], key)] = ref
        else:
            elsewhere.append(ref)
    if elsewhere:
        source.issues.append(make_issue(
            WARNING, f"the sheet {source.sheet!r} has formula cells that were never "
            f"calculated ({_some(elsewhere)}), outside the tape's values: they were read as "
            f"blank. The program that saved {source.name} (a script, openpyxl ...) does not "
            "calculate formulas: open the file in Excel, let it calculate and save it",
            sheet=source.sheet, check="file"))


def _assumption_target(text: str) -> tuple[str, str] | None:
    """(sheet, cell) of a defined name's formula such as ``'Market data'!$C$4``."""
    m = re.match(r"^\s*=?\s*(?:'((?:[^']|'')+)'|([^'!]+))!\s*(\$?[A-Za-z]{1,3}\$?\d{1,7})\s*$",
                 text)
    if not m:
        return None
    sheet = (m.group(1) or m.group(2) or "").replace("''", "'")
    return sheet, m.group(3).replace("$", "")


def read_assumptions(info: WorkbookInfo, limits: TapeLimits = DEFAULT_LIMITS, *,
                     exclude: str | None = None
                     ) -> tuple[dict[str, Any], dict[str, str], list[Issue]]:
    """Read the market assumptions of a workbook.

    Named cells whose name is an assumption's (case ignored) are read first; then, on a
    sheet called ``Assumptions``, every row holding an assumption's label or name is read
    with the first non-blank cell to its right as the value.

    Parameters
    ----------
    info : WorkbookInfo
    limits : TapeLimits
    exclude : str, optional
        A sheet not to read (the tape's own).

    Returns
    -------
    values : dict
        Assumption name -> raw value.
    cells : dict
        Assumption name -> ``"Sheet!C4"``.
    issues : list of Issue
        Problems met (a name pointing at a missing sheet ...).
    """
    values: dict[str, Any] = {}
    cells: dict[str, str] = {}
    issues: list[Issue] = []
    targets: dict[str, tuple[str, str]] = {}
    for name, text in info.defined_names.items():
        a = match_assumption(name)
        if a is None or a in targets:
            continue
        t = _assumption_target(text)
        if t is None:
            continue
        targets[a] = t
    wanted: dict[str, SheetInfo] = {}
    for a, (sheet_name, _) in targets.items():
        sh = info.sheet(sheet_name)
        if sh is None:
            issues.append(make_issue(
                WARNING, f"the named cell {a} points to a sheet {sheet_name!r} that does not "
                f"exist: its default is used", field=a, check="assumption"))
            continue
        if exclude is None or sh.name != exclude:
            wanted[sh.name] = sh
    a_sheet = info.sheet("Assumptions")
    if a_sheet is not None and (exclude is None or a_sheet.name != exclude):
        wanted[a_sheet.name] = a_sheet
    grids: dict[str, list[list[Any]]] = {}
    for name, sh in wanted.items():
        grids[name] = _sheet_rows(info, sh, limits, issues)[0]
    for a, (sheet_name, ref) in targets.items():
        sh = info.sheet(sheet_name)
        if sh is None or sh.name not in grids:
            continue
        rc = parse_ref(ref)
        grid = grids[sh.name]
        v = None
        if rc is not None and rc[0] - 1 < len(grid) and rc[1] - 1 < len(grid[rc[0] - 1]):
            v = grid[rc[0] - 1][rc[1] - 1]
        cells[a] = f"{sh.name}!{ref}"
        if not _is_blank(v):
            values[a] = v
    if a_sheet is not None and a_sheet.name in grids:
        for i, row in enumerate(grids[a_sheet.name], start=1):
            for j, v in enumerate(row):
                if not isinstance(v, str):
                    continue
                a = match_assumption(v)
                if a is None or a in cells:
                    continue
                for k in range(j + 1, len(row)):
                    if not _is_blank(row[k]):
                        values[a] = row[k]
                        cells[a] = f"{a_sheet.name}!{cell_ref(i, k + 1)}"
                        break
                break
    return values, cells, issues


# --------------------------------------------------------------------------------- CSV


def _sniff_delimiter(first_line: str) -> str:
    unquoted = re.sub(r'"[^"]*"', "", first_line)
    counts = {d: unquoted.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _read_csv(check, limits: TapeLimits) -> tuple[pd.DataFrame, TapeSource]:
    p = check.path
    ct = check_csv(p, limits)
    source = TapeSource(p, "csv", encoding=ct.encoding, engine="pandas")
    source.issues.extend(make_issue(WARNING, n, check="file") for n in check.notes + ct.notes)
    text = ct.text
    head_lines = text[:65536].split("\n")[:-1] or [text[:65536]]
    skip = 0
    m = re.fullmatch(r"\s*sep=(.)\s*", head_lines[0].strip("\r"))
    delim = m.group(1) if m else ""
    if m:
        skip = 1
    while skip < len(head_lines) and not head_lines[skip].strip():
        skip += 1  # leading blank lines: pandas cannot start on them
    if not delim:
        delim = _sniff_delimiter(head_lines[skip] if skip < len(head_lines) else "")
    source.delimiter = delim
    try:
        raw = pd.read_csv(io.StringIO(text), sep=delim, header=None, dtype=str,
                          keep_default_na=False, na_filter=False, skip_blank_lines=False,
                          skiprows=skip, nrows=limits.max_rows + 1, engine="c",
                          quotechar='"')
    except pd.errors.EmptyDataError:
        return pd.DataFrame(index=pd.Index([], name="row", dtype="int64")), source
    except pd.errors.ParserError as e:
        msg = str(e)
        m2 = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
        if m2:
            exp, line, saw = m2.groups()
            raise TapeError(
                f"{p.name} cannot be read: row {int(line) + skip} has {saw} values but the rows "
                f"above have {exp}. Check for an unquoted {_delim_word(delim)} inside a value "
                f"(e.g. a borrower's name) and put such values in double quotes.",
                path=p, code="damaged") from None
        raise TapeError(f"{p.name} cannot be read as CSV ({msg}).", path=p,
                        code="damaged") from None
    del text
    if len(raw) > limits.max_rows:
        lines = ct.text.count("\n") + 1
        raise TapeError(
            f"{p.name} was refused: it has about {lines:,} rows, beyond the limit of "
            f"{limits.max_rows:,} rows (TapeLimits.max_rows). Split the tape into smaller "
            f"files or raise the limit.", path=p, code="too_many_rows")
    if raw.shape[1] > limits.max_columns:
        raise TapeError(
            f"{p.name} was refused: it has {raw.shape[1]:,} columns, beyond the "
            f"{limits.max_columns:,} a tape may use (TapeLimits.max_columns).",
            path=p, code="too_many_columns")
    rows_as_cols = [raw[c].to_numpy(dtype=object) for c in raw.columns]
    del raw
    df = _frame_from_columns(rows_as_cols, source, row_base=1 + skip)
    return df, source


def _delim_word(d: str) -> str:
    return {",": "comma", ";": "semicolon", "\t": "tab", "|": "bar"}.get(d, repr(d))


def _frame_from_columns(cols: list[np.ndarray], source: TapeSource,
                        row_base: int) -> pd.DataFrame:
    """As :func:`_frame`, for data already in columns (CSV)."""
    n = len(cols[0]) if cols else 0
    head = min(n, 200)
    top_rows = [[c[i] for c in cols] for i in range(head)]
    h = _find_header(top_rows, 0, head)
    if h is None:
        source.header_row = row_base
        return pd.DataFrame(index=pd.Index([], name="row", dtype="int64"))
    source.header_row = h + row_base
    header_names = [_header_text(v) for v in top_rows[h]]
    sub = np.empty((n - h - 1, len(cols)), dtype=object)
    for j, c in enumerate(cols):
        sub[:, j] = c[h + 1:]
    row_numbers = np.arange(n - h - 1, dtype=np.int64) + h + 1 + row_base
    return _assemble(header_names, sub, row_numbers, source, 0)


def _assemble(header_names: list[str], sub: np.ndarray, row_numbers: np.ndarray,
              source: TapeSource, col_first: int) -> pd.DataFrame:
    """The raw frame from header names and the data block (rows x columns): blank rows
    dropped, headers matched to the schema, duplicates and header-less data reported."""
    sheet = source.sheet
    empty = {"calamine": "", "pandas": ""}.get(source.engine, _ANY)
    blank = _blank_mask(sub, empty)
    kept: list[tuple[int, str]] = []
    for j, name in enumerate(header_names[: sub.shape[1]]):
        letter = column_letter(col_first + j + 1)
        if name:
            kept.append((j, name))
        elif not blank[:, j].all():
            first_row = int(row_numbers[np.flatnonzero(~blank[:, j])[0]])
            source.issues.append(make_issue(
                WARNING, "this column holds data but has no header: it was ignored; give it "
                "a header if it belongs to the tape", sheet=sheet, row=first_row,
                column=letter, check="header"))
    cols = [j for j, _ in kept]
    keep = np.flatnonzero(~blank[:, cols].all(axis=1)) if cols else np.zeros(0, np.int64)
    if not cols:
        block = np.empty((0, 0), dtype=object)
    elif keep.size == sub.shape[0] and len(cols) == sub.shape[1]:
        block = sub  # nothing to drop: no copy
        block[blank] = None
    else:
        block = sub[np.ix_(keep, cols)]
        block[blank[np.ix_(keep, cols)]] = None
    data: dict[str, np.ndarray] = {}
    seen_fields: dict[str, str] = {}
    for k, (j, name) in enumerate(kept):
        letter = column_letter(col_first + j + 1)
        fld = match_header(name)
        if fld is not None and fld in seen_fields:
            source.issues.append(make_issue(
                ERROR, f"columns {seen_fields[fld]} and {letter} both hold "
                f"{column(fld).label}: keep one and delete or rename the other",
                sheet=sheet, column=letter, header=name, field=fld, check="header"))
            fld = None
        if fld is not None:
            key = fld
            seen_fields[fld] = letter
            amount = "USD" in (column(fld).unit or "")  # "[m]" may be months elsewhere
            scaled, odd = _scaled(name) if amount else None, _not_a_unit(name, fld)
            if scaled:
                source.issues.append(make_issue(
                    ERROR, f'the header "{name}" says its amounts are scaled ("{scaled}"); '
                    "gpucredit reads amounts as written, in whole units: give them in full "
                    f'(USD 4.9bn as 4900000000) and drop "{scaled}" from the header',
                    sheet=sheet, column=letter, header=name, field=fld, check="header"))
            elif odd:
                source.issues.append(make_issue(
                    WARNING, f'the header "{name}" was read as {column(fld).label}: '
                    f'"{odd}" is not a unit; if this column holds something else, rename it',
                    sheet=sheet, column=letter, header=name, field=fld, check="header"))
        else:
            key = name if name not in data else f"{name} [{letter}]"
        data[key] = block[:, k]
        source.columns[key] = ColumnSource(letter, name, fld)
    return pd.DataFrame(data, index=pd.Index(row_numbers[keep], name="row"), copy=False)


# ------------------------------------------------------------------------------ entry


def read_tape(path: str | Path, sheet: str | int | None = None, *,
              limits: TapeLimits | None = None) -> tuple[pd.DataFrame, TapeSource]:
    """Read a loan tape's raw values and where each came from.

    Parameters
    ----------
    path : str or Path
        ``.xlsx``, ``.xlsm`` or ``.csv`` (the content decides, not the extension).
    sheet : str or int, optional
        Worksheet holding the tape (name, case ignored, or 0-based index). Default: the
        sheet called ``Tape``, else the sheet holding the template's table or a tape's
        header (with a warning naming it). Ignored for CSV.
    limits : TapeLimits, optional
        Bounds on rows, columns, cells and sizes (:class:`~gpucredit.tape.guards.TapeLimits`).

    Returns
    -------
    frame : pandas.DataFrame
        One row per non-blank tape row, indexed by spreadsheet row number (``row``); a
        column per header - the schema name when the header matches one, else the header
        as written. Values are raw: numbers, text, dates, booleans, ``None`` for blanks.
    source : TapeSource
        File, sheet, table, header row, each column's letter and header, the assumptions
        and the problems met while reading.

    Raises
    ------
    TapeError
        The file cannot be read safely (see :mod:`gpucredit.tape.guards`).
    """
    limits = limits or DEFAULT_LIMITS
    check = check_file(path, limits)
    if check.kind == "csv":
        return _read_csv(check, limits)
    return _read_workbook(check, sheet, limits)
