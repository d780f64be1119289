"""Validate a loan tape: every problem in one pass, the good rows typed and defaulted.

:func:`validate` checks the raw frame of :func:`gpucredit.tape.reader.read_tape` against
the schema: required columns and cells, types, allowed values, ranges, unique facility
ids, and the checks across columns of :data:`gpucredit.tape.schema.RULES`. Each problem is
an :class:`~gpucredit.tape.issues.Issue` carrying the sheet, the spreadsheet row, the
column letter and header, the facility id, the value and what is expected, e.g.::

    Row 14, column H (Utilization): 120% is above 100%: enter the share of GPUs rented,
    between 0% and 100%

An *error* rejects its row; the other rows are typed, given their defaults and returned
(unless ``strict``). A *warning* is only reported. A missing required column, a header
held twice, an unreadable file or a bad assumption are file-level errors: nothing is
computed.

:func:`validate_file` is what the command line calls; :func:`report_to_frame` gives the
table of the results workbook's Errors sheet; :func:`sanitise_text` and
:func:`write_text_cell` keep text from the tape from turning into formulas when written.

Examples
--------
>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "tape.csv"
>>> _ = p.write_text(
...     "facility_id,borrower,borrower_type,gpu_model,gpu_count,delivery_date,gpu_unit_cost,"
...     "commitment,origination_date,maturity_date,rate_type,fixed_rate,amortization,Utilization\\n"
...     "F1,Acme,neocloud,H100,1000,2024-06-30,30000,20000000,2024-07-01,2029-07-01,fixed,9%,"
...     "annuity,85%\\n"
...     "F2,Beta,miner,H200,500,2024-06-30,32000,10000000,2024-07-01,2029-07-01,fixed,9%,"
...     "annuity,120%\\n")
>>> report, good = validate_file(p)
>>> print(report.issues[0].message)
Row 3, column N (Utilization): 120% is above 100%: enter the share of GPUs rented, between ...
>>> report.rejected, list(good["facility_id"]), report.exit_status
(['F2'], ['F1'], 1)
>>> float(good.loc[2, "pue"]), int(good.loc[2, "periods_per_year"])
(1.3, 4)
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gpucredit.tape.convert import _BLANK as _BLANK_KIND
from gpucredit.tape.convert import _kinds, _raw, coerce, coerce_value
from gpucredit.tape.guards import TapeError, TapeLimits, column_letter
from gpucredit.tape.issues import ERROR, WARNING, Issue, make_issue
from gpucredit.tape.reader import ColumnSource, TapeSource, read_tape
from gpucredit.tape.schema import (
    ASSUMPTIONS,
    COLUMNS,
    RULES,
    Column,
    column,
    header_key,
    is_formula_like,
    match_header,
)

__all__ = [
    "ValidationReport",
    "empty_frame",
    "report_to_frame",
    "sanitise_text",
    "validate",
    "validate_file",
    "write_text_cell",
]

_YEAR_DAYS = 365.25


# ------------------------------------------------------------------------------ report


@dataclass
class ValidationReport:
    """What :func:`validate` found.

    Attributes
    ----------
    file : str
        File name.
    sheet : str or None
        Worksheet read.
    issues : list of Issue
        Every problem, file-level ones first, then by row.
    rows_read : int
        Non-blank tape rows read.
    accepted, rejected : list of str
        Facility ids of the rows computed and of the rows rejected (``"row 12"`` for a
        rejected row without an id).
    rejected_rows : list of int
        Spreadsheet rows rejected.
    assumptions : dict
        Typed assumptions, defaults filled (``None`` where blank means "the run date" or
        "the preset").
    good : pandas.DataFrame
        Typed, defaulted rows without errors, indexed by spreadsheet row (``row``); one
        column per schema column, in schema order.
    strict : bool
        Validated with ``strict=True``: any error stops the whole tape.
    source : TapeSource or None
        Where the tape was read from.
    """

    file: str
    sheet: str | None
    issues: list[Issue]
    rows_read: int
    accepted: list[str]
    rejected: list[str]
    rejected_rows: list[int]
    assumptions: dict[str, Any]
    good: pd.DataFrame
    strict: bool = False
    source: TapeSource | None = None

    @property
    def errors(self) -> list[Issue]:
        """Issues of severity ``error``."""
        return [i for i in self.issues if i.severity == ERROR]

    @property
    def warnings(self) -> list[Issue]:
        """Issues of severity ``warning``."""
        return [i for i in self.issues if i.severity == WARNING]

    @property
    def file_errors(self) -> list[Issue]:
        """Errors that concern the whole file (no row)."""
        return [i for i in self.issues if i.severity == ERROR and i.row is None]

    @property
    def usable(self) -> bool:
        """Whether any row can be computed: no file-level error, not stopped by ``strict``,
        at least one good row."""
        return not self.file_errors and not (self.strict and self.errors) and len(self.good) > 0

    @property
    def exit_status(self) -> int:
        """0 every row accepted, 1 some rows rejected, 2 nothing can be computed."""
        if not self.usable:
            return 2
        return 1 if self.rejected else 0

    def summary(self) -> str:
        """One line for the terminal.

        >>> r = ValidationReport("t.xlsx", "Tape", [], 3, ["A", "B"], ["C"], [5], {},
        ...                      pd.DataFrame({"x": [1, 2]}))
        >>> r.summary()
        't.xlsx: 3 facilities read, 2 accepted, 1 rejected (0 errors, 0 warnings)'
        """
        n_err, n_warn = len(self.errors), len(self.warnings)
        head = f"{self.file}: {self.rows_read:,} facilities read, {len(self.accepted):,} " \
               f"accepted, {len(self.rejected):,} rejected"
        tail = f" ({n_err:,} error{'s' * (n_err != 1)}, {n_warn:,} warning" \
               f"{'s' * (n_warn != 1)})"
        if self.file_errors:
            return f"{self.file}: unusable - {self.file_errors[0].message}"
        if self.strict and self.errors:
            return head + tail + " - stopped: --strict and errors found"
        return head + tail


# ----------------------------------------------------------------------------- helpers


def empty_frame() -> pd.DataFrame:
    """The typed tape frame with no rows (the columns and dtypes of :attr:`ValidationReport.good`).

    >>> f = empty_frame()
    >>> len(f), f["gpu_count"].dtype, f["maturity_date"].dtype
    (0, dtype('int64'), dtype('<M8[ns]'))
    """
    data = {c.name: pd.Series([], dtype=_dtype(c)) for c in COLUMNS}
    return pd.DataFrame(data, index=pd.Index([], name="row", dtype="int64"))


def _dtype(c: Column) -> str:
    if c.type == "int":
        return "int64"
    if c.type == "float":
        return "float64"
    if c.type == "date":
        return "datetime64[ns]"
    if c.type == "bool":
        return "bool"
    return "str"


def _missing(c: Column, n: int) -> np.ndarray:
    if c.type == "float" or (c.type == "int" and not c.choices):
        return np.full(n, np.nan)
    if c.type == "date":
        return np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]")
    if c.type == "bool":
        return np.zeros(n, dtype=bool)
    return np.full(n, None, dtype=object)


def _is_missing(c: Column, values: np.ndarray) -> np.ndarray:
    if c.type == "float" or (c.type == "int" and not c.choices):
        return np.isnan(values)
    if c.type == "date":
        return np.isnat(values)
    if c.type == "bool":
        return np.zeros(values.shape, dtype=bool)
    return pd.isna(values)


class _Checker:
    """State of one validation pass: typed columns, issues and the rows in error."""

    def __init__(self, df: pd.DataFrame, source: TapeSource):
        self.df = df
        self.source = source
        self.sheet = source.sheet
        self.n = len(df)
        self.rows = df.index.to_numpy(dtype=np.int64) if self.n else np.zeros(0, np.int64)
        self.issues: list[Issue] = []
        self.err = np.zeros(self.n, dtype=bool)
        self.values: dict[str, np.ndarray] = {}
        self.given: dict[str, np.ndarray] = {}  # the cell held a valid value
        self.bad: dict[str, np.ndarray] = {}  # the cell held an invalid value
        self.ids = np.full(self.n, None, dtype=object)
        self.cell_blank: dict[str, np.ndarray] = {}  # per present column: the cell is blank
        self.skip = np.zeros(self.n, dtype=bool)  # rows of spaces only: not tape rows
        self.by_field: dict[str, ColumnSource] = {
            cs.field: cs for cs in source.columns.values() if cs.field}

    # -- issues
    def where(self, name: str) -> tuple[str | None, str]:
        cs = self.by_field.get(name)
        return (cs.letter, cs.header) if cs else (None, column(name).label)

    def col_ref(self, name: str) -> str:
        letter, header = self.where(name)
        return f" (column {letter})" if letter else f" ({header})"

    def add(self, severity: str, pos: int, name: str, problem: str, check: str,
            value: Any = None) -> None:
        letter, header = self.where(name)
        fid = self.ids[pos]
        self.issues.append(make_issue(
            severity, problem, sheet=self.sheet, row=int(self.rows[pos]), column=letter,
            header=header, field=name, facility_id=fid, value=value, check=check))
        if severity == ERROR:
            self.err[pos] = True

    def raw(self, name: str, pos: int) -> Any:
        return self.df[name].iat[pos] if name in self.df.columns else None

    def ok(self, *names: str) -> np.ndarray:
        """Rows where every named column holds a usable value (given or defaulted)."""
        m = np.ones(self.n, dtype=bool)
        for name in names:
            m &= ~self.bad[name] & ~_is_missing(column(name), self.values[name])
        return m


# --------------------------------------------------------------------------- the checks


def _check_headers(ck: _Checker) -> bool:
    """Unknown and missing columns; False when a required column is missing."""
    unknown = {k: cs for k, cs in ck.source.columns.items() if cs.field is None}
    labels = {header_key(c.label): c.label for c in COLUMNS}
    for cs in unknown.values():
        if match_header(cs.header) is not None:
            continue  # a duplicate of a known column, already reported by the reader
        near = difflib.get_close_matches(header_key(cs.header), list(labels), n=1, cutoff=0.75)
        hint = f' (did you mean "{labels[near[0]]}"?)' if near else ""
        ck.issues.append(make_issue(
            WARNING, f"this column is not part of the loan-tape schema and was ignored{hint}",
            sheet=ck.sheet, column=cs.letter, header=cs.header, check="header"))
    ok = True
    unknown_headers = {header_key(cs.header): cs for cs in unknown.values()}
    for c in COLUMNS:
        if not c.required or c.name in ck.df.columns:
            continue
        ok = False
        candidates = [header_key(x) for x in (c.label, c.name, *c.aliases)]
        best = None
        for cand in candidates:
            got = difflib.get_close_matches(cand, list(unknown_headers), n=1, cutoff=0.6)
            if got:
                best = unknown_headers[got[0]]
                break
        hint = (f'; the closest header found is "{best.header}" in column {best.letter}: '
                f'rename it "{c.label}"' if best else
                f'; add a column headed "{c.label}" (or {c.name})')
        ck.issues.append(make_issue(
            ERROR, f"the required column {c.label} is missing{hint}", sheet=ck.sheet,
            header=c.label, field=c.name, check="header"))
    return ok


def _check_cells(ck: _Checker, assumptions: dict[str, Any]) -> None:
    date1904 = ck.source.date1904
    for c in COLUMNS:
        if c.name in ck.df.columns:
            res = coerce(c, ck.df[c.name], date1904=date1904)
            values = res.values.to_numpy(copy=True)
            if c.type == "date":
                values = values.astype("datetime64[ns]")
            elif c.type in ("float",) or (c.type == "int" and not c.choices):
                values = values.astype(float)
            bad = np.zeros(ck.n, dtype=bool)
            if res.problems:
                bad[list(res.problems)] = True
            formula = _uncalculated(ck, c.name) & res.blank
            bad |= formula
            ck.cell_blank[c.name] = res.blank & ~formula
            if c.name == "facility_id":
                ck.ids = np.where(bad | res.blank, None, values)
            for pos, problem in sorted(res.problems.items()):
                ck.add(ERROR, pos, c.name, problem, res.checks[pos], ck.raw(c.name, pos))
            for pos in np.flatnonzero(formula):
                ck.add(ERROR, int(pos), c.name, "this cell holds a formula with no calculated "
                       "value (the file was saved without calculating): open it in Excel and "
                       "save it, or type the value", "formula")
            blank = res.blank & ~bad
            if c.required:
                for pos in np.flatnonzero(blank):
                    ck.add(ERROR, int(pos), c.name,
                           f"this required cell is blank: enter {c.ask}", "required")
        else:
            values = _missing(c, ck.n)
            bad = np.zeros(ck.n, dtype=bool)
            blank = np.ones(ck.n, dtype=bool)
        given = ~blank & ~bad
        if blank.any():
            values, bad = _fill_blanks(ck, c, values, blank, bad, assumptions)
        ck.values[c.name] = values
        ck.bad[c.name] = bad
        ck.given[c.name] = given


def _uncalculated(ck: _Checker, name: str) -> np.ndarray:
    """Cells of column ``name`` holding a formula saved without a value (which read as
    blank): they are errors, never blanks taking a default."""
    m = np.zeros(ck.n, dtype=bool)
    refs = ck.source.uncalculated
    if refs:
        pos = {r: i for i, r in enumerate(ck.rows.tolist())}
        for row, key in refs:
            if key == name and row in pos:
                m[pos[row]] = True
    return m


def _fill_blanks(ck: _Checker, c: Column, values: np.ndarray, blank: np.ndarray,
                 bad: np.ndarray, assumptions: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Give blank cells the column's default, another column's value or an assumption."""
    values = values.copy()
    if c.default is not None:
        values[blank] = np.datetime64(c.default, "ns") if c.type == "date" else c.default
    elif c.default_from:
        values[blank] = ck.values[c.default_from][blank]
        bad = bad | (blank & ck.bad[c.default_from])
    elif c.fallback:
        models = ck.values["gpu_model"]
        for pos in np.flatnonzero(blank & pd.notna(models)):
            v = assumptions.get(c.fallback.format(gpu_model=str(models[pos]).lower()))
            if v is not None:
                values[pos] = v
    return values, bad


EXCEL_ERRORS = frozenset({"#N/A", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#NULL!",
                          "#SPILL!", "#CALC!", "#GETTING_DATA", "#FIELD!", "#BLOCKED!",
                          "#CONNECT!", "#BUSY!", "#UNKNOWN!"})
"""Excel's error values (Microsoft Support, "How to correct a #... error"), as cells show
them and as readers return them."""

_INVISIBLE = re.compile("[\u0000-\u001f\u007f-\u009f"
                        "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e"
                        "\u200b-\u200f\u202a-\u202e\u2060-\u2064\u206a-\u206f\ufeff]")
"""Characters a cell can hold that show as nothing (or as a box) on screen: the C0 and C1
control characters (ESC, BEL ..., which an .xlsx stores as ``_x001B_``), and the format
characters that are invisible (zero-width spaces and joiners, soft hyphen, direction
marks, the BOM). An id never needs one."""
_CONTROL_NAMES = dict(enumerate((
    "null", "start of heading", "start of text", "end of text", "end of transmission",
    "enquiry", "acknowledge", "bell", "backspace", "tab", "line feed", "line tabulation",
    "form feed", "carriage return", "shift out", "shift in", "data link escape",
    "device control one", "device control two", "device control three",
    "device control four", "negative acknowledge", "synchronous idle",
    "end of transmission block", "cancel", "end of medium", "substitute", "escape",
    "file separator", "group separator", "record separator", "unit separator")))
_CONTROL_NAMES[0x7F] = "delete"
_DASHES = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212"
                                      "\ufe58\ufe63\uff0d", "-"))
_TIME = re.compile(r"(?<![\d:])(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?![\d:])")


def id_key(value) -> str:
    """The form in which two facility ids are compared.

    Unicode NFKC normalisation (full-width and compatibility forms), invisible characters
    removed (control characters such as ESC, zero-width spaces and joiners, soft hyphens,
    direction marks, the BOM), every
    dash-like character read as ``-``, case folded, outer spaces stripped: ids an analyst
    cannot tell apart on screen compare equal (Unicode Standard Annex #15; Unicode
    Technical Standard #39, "Confusable detection").

    >>> id_key("FAC\u2011001\u200b") == id_key("fac-001") == id_key("ＦＡＣ-001")
    True
    """
    text = unicodedata.normalize("NFKC", str(value))
    return _INVISIBLE.sub("", text).translate(_DASHES).casefold().strip()


def _char_names(text: str, pattern: re.Pattern) -> list[str]:
    return [f"U+{ord(c):04X} {_char_name(c)}" for c in dict.fromkeys(pattern.findall(text))]


def _char_name(c: str) -> str:
    """A character's name in lower case; control characters (which have no Unicode name)
    by their ISO 6429 name, e.g. ``escape``.

    >>> _char_name("\x1b"), _char_name("\x85"), _char_name("\u200b")
    ('escape', 'control character', 'zero width space')
    """
    name = unicodedata.name(c, "")
    if name:
        return name.lower()
    return _CONTROL_NAMES.get(ord(c), "control character" if unicodedata.category(c) == "Cc"
                              else "unnamed")


def _difference(a: str, b: str) -> str:
    """What separates two ids that compare equal, in words."""
    parts = []
    hidden = _char_names(a + b, _INVISIBLE)
    if hidden:
        parts.append("an invisible character (" + ", ".join(hidden) + ")")
    dashes = "".join(c for c in a + b if c != "-" and c.translate(_DASHES) == "-")
    if dashes:
        parts.append("a look-alike dash (" + ", ".join(_char_names(dashes, re.compile(".")))
                     + ")")
    if a.strip() != a or b.strip() != b:
        parts.append("spaces around it")
    a2, b2 = (_INVISIBLE.sub("", x).translate(_DASHES).strip() for x in (a, b))
    if a2 != b2 and a2.casefold() == b2.casefold():
        parts.append("upper and lower case")
    if not parts or unicodedata.normalize("NFKC", a2) != a2 or \
            unicodedata.normalize("NFKC", b2) != b2:
        parts.append("the Unicode form of a character (full-width, ligature ...)")
    return " and ".join(parts)


def _check_text_cells(ck: _Checker) -> None:
    """Excel error values and TRUE/FALSE are not names or ids: an error naming the cell."""
    for c in COLUMNS:
        if c.type != "str" or c.name not in ck.df.columns:
            continue
        raw = ck.df[c.name].to_numpy(dtype=object)
        for pos, v in enumerate(raw):
            if isinstance(v, bool | np.bool_):
                problem = (f"this cell holds the logical value {str(bool(v)).upper()}, not "
                           f"text: enter {c.ask}")
            elif isinstance(v, str) and v.strip().upper() in EXCEL_ERRORS:
                problem = (f"this cell holds the Excel error {v.strip().upper()}: correct the "
                           f"formula that gives it, or enter {c.ask}")
            else:
                continue
            ck.add(ERROR, pos, c.name, problem, "type", v)
            ck.bad[c.name][pos] = True
            if c.name == "facility_id":
                ck.ids[pos] = None


def _check_date_text(ck: _Checker) -> None:
    """Date text with an impossible time (``2024-06-30 25:00``) is refused, not truncated."""
    for c in COLUMNS:
        if c.type != "date" or c.name not in ck.df.columns:
            continue
        raw = ck.df[c.name].to_numpy(dtype=object)
        for pos, v in enumerate(raw):
            m = _TIME.search(v) if isinstance(v, str) else None
            if m is None or ck.bad[c.name][pos]:
                continue
            h, mi, se = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
            if h > 23 or mi > 59 or se > 59:
                ck.add(ERROR, pos, c.name, f'"{v.strip()}" is not a real date and time (no '
                       f"{m.group(0)} on a clock): enter {c.ask}, e.g. 2026-06-30",
                       "type", v)
                ck.bad[c.name][pos] = True


def _check_invisible_ids(ck: _Checker) -> None:
    for pos, fid in enumerate(ck.ids):
        if fid is not None and _INVISIBLE.search(str(fid)):
            names = ", ".join(_char_names(str(fid), _INVISIBLE))
            ck.add(WARNING, pos, "facility_id", f"the facility id holds an invisible "
                   f"character ({names}): retype it", "lookalike_id", fid)


def _skip_blank_rows(ck: _Checker) -> None:
    """Rows whose cells hold nothing but spaces are not tape rows: drop their issues."""
    if not ck.n:
        return
    blank = np.ones(ck.n, dtype=bool)
    for name in ck.df.columns:
        if name in ck.cell_blank:
            blank &= ck.cell_blank[name]
        else:
            blank &= _kinds(ck.df[name].to_numpy(dtype=object)) == _BLANK_KIND
        if not blank.any():
            return
    ck.skip = blank
    rows = set(ck.rows[blank].tolist())
    ck.issues = [i for i in ck.issues if i.row not in rows]
    ck.err &= ~blank


def _show(name: str, v: Any) -> str:
    f = column(name)
    if isinstance(v, np.datetime64):
        v = pd.Timestamp(v).date()
    return f.show(v)


def _check_unique(ck: _Checker) -> None:
    """Ids are compared by :func:`id_key`: a look-alike is a duplicate, named as such."""
    keys = pd.Series([None if f is None else id_key(f) for f in ck.ids], dtype=object)
    present = keys.notna() & ~pd.Series(ck.skip)
    dup = keys[present].duplicated(keep=False)
    if not dup.any():
        return
    groups: dict[str, list[int]] = {}
    for pos in dup[dup].index:
        groups.setdefault(keys[pos], []).append(int(pos))
    for positions in groups.values():
        for pos in positions:
            fid = ck.ids[pos]
            others = [p for p in positions if p != pos]
            where = ", ".join(str(int(ck.rows[p])) for p in others)
            plural = "s" * (len(others) > 1)
            twin = next((ck.ids[p] for p in others if ck.ids[p] != fid), None)
            if twin is None:
                ck.add(ERROR, pos, "facility_id",
                       f'the facility id "{fid}" also appears on row{plural} {where}: give '
                       "each facility its own id", "duplicate_id", fid)
            else:
                ck.add(ERROR, pos, "facility_id",
                       f'the facility id "{fid}" looks the same as "{twin}" on row{plural} '
                       f"{where}; they differ only by {_difference(str(fid), str(twin))}: "
                       "give each facility its own id, typed the same way everywhere",
                       "lookalike_id", fid)


def _check_rules(ck: _Checker, valuation_date: dt.date | None) -> None:
    v = ck.values
    given = ck.given

    def each(mask: np.ndarray):
        return (int(p) for p in np.flatnonzero(mask))

    # maturity after origination
    m = ck.ok("maturity_date", "origination_date")
    m &= v["maturity_date"] <= v["origination_date"]
    for p in each(m):
        ck.add(ERROR, p, "maturity_date",
               f"{_show('maturity_date', v['maturity_date'][p])} is not after the origination "
               f"date {_show('origination_date', v['origination_date'][p])}"
               f"{ck.col_ref('origination_date')}: the loan must mature after its first draw",
               "maturity_after_origination", ck.raw("maturity_date", p))
    # drawn within commitment
    m = ck.ok("drawn_amount", "commitment") & given["drawn_amount"]
    m &= v["drawn_amount"] > v["commitment"] * (1 + 1e-12)
    for p in each(m):
        ck.add(ERROR, p, "drawn_amount",
               f"{_show('drawn_amount', v['drawn_amount'][p])} is more than the commitment "
               f"{_show('commitment', v['commitment'][p])}{ck.col_ref('commitment')}: the "
               f"drawn amount cannot exceed the commitment", "drawn_within_commitment",
               ck.raw("drawn_amount", p))
    rate_type = v["rate_type"]
    # fixed needs a rate, floating a spread
    for kind, name, rule in (("fixed", "fixed_rate", "fixed_needs_rate"),
                             ("floating", "spread", "floating_needs_spread")):
        m = (rate_type == kind) & ~given[name] & ~ck.bad[name]
        for p in each(m):
            ck.add(ERROR, p, name,
                   f"this cell is blank but the loan is {kind}-rate{ck.col_ref('rate_type')}: "
                   f"enter {column(name).ask}", rule)
    m = (rate_type == "fixed") & given["spread"]
    for p in each(m):
        ck.add(WARNING, p, "spread",
               f"a spread of {_show('spread', v['spread'][p])} on a fixed-rate loan"
               f"{ck.col_ref('rate_type')} is ignored: check the rate type", "spread_on_fixed",
               ck.raw("spread", p))
    # contracts
    share = v["contracted_share"]
    contracted = ck.ok("contracted_share") & (share > 0)
    for name, rule in (("contract_rate", "contract_needs_rate"),
                       ("contract_end_date", "contract_needs_end")):
        m = contracted & ~given[name] & ~ck.bad[name]
        for p in each(m):
            ck.add(ERROR, p, name,
                   f"this cell is blank but {_show('contracted_share', share[p])} of the GPUs "
                   f"are contracted{ck.col_ref('contracted_share')}: enter {column(name).ask}",
                   rule)
    m = contracted & ck.ok("contract_end_date", "origination_date")
    m &= v["contract_end_date"] < v["origination_date"]
    for p in each(m):
        ck.add(ERROR, p, "contract_end_date",
               f"{_show('contract_end_date', v['contract_end_date'][p])} is before the "
               f"origination date {_show('origination_date', v['origination_date'][p])}"
               f"{ck.col_ref('origination_date')}: a contract that ended before the loan "
               f"cannot back it; set the contracted share to 0% or correct the date",
               "contract_end_after_origination", ck.raw("contract_end_date", p))
    # covenants
    m = ck.ok("dscr_default", "dscr_lockup") & (v["dscr_default"] > v["dscr_lockup"])
    for p in each(m):
        d, lk = v["dscr_default"][p], v["dscr_lockup"][p]
        if given["dscr_default"][p]:
            tail = "" if given["dscr_lockup"][p] else " (its default)"
            ck.add(ERROR, p, "dscr_default",
                   f"{_show('dscr_default', d)} is above the lock-up DSCR "
                   f"{_show('dscr_lockup', lk)}{tail}{ck.col_ref('dscr_lockup')}: the default "
                   f"covenant is the lower trigger", "default_below_lockup",
                   ck.raw("dscr_default", p))
        else:
            ck.add(ERROR, p, "dscr_lockup",
                   f"{_show('dscr_lockup', lk)} is below the default DSCR "
                   f"{_show('dscr_default', d)} (its default when blank)"
                   f"{ck.col_ref('dscr_default')}: the lock-up covenant is the higher trigger; "
                   f"enter the default DSCR too", "default_below_lockup",
                   ck.raw("dscr_lockup", p))
    m = ck.ok("sculpt_dscr", "dscr_lockup") & (v["amortization"] == "sculpted")
    m &= v["sculpt_dscr"] < v["dscr_lockup"]
    for p in each(m):
        ck.add(WARNING, p, "sculpt_dscr",
               f"sculpting to {_show('sculpt_dscr', v['sculpt_dscr'][p])}, below the lock-up "
               f"DSCR {_show('dscr_lockup', v['dscr_lockup'][p])}{ck.col_ref('dscr_lockup')}, "
               f"locks up every period", "sculpt_below_lockup", ck.raw("sculpt_dscr", p))
    # interest-only periods covering the tenor
    m = ck.ok("interest_only_periods", "maturity_date", "origination_date", "periods_per_year")
    m &= v["amortization"] != "bullet"
    if m.any():
        years = (v["maturity_date"] - v["origination_date"]) / np.timedelta64(1, "D") / _YEAR_DAYS
        ppy = np.array([x if x is not None else 0 for x in v["periods_per_year"]], dtype=float)
        tenor = np.round(np.where(np.isfinite(years), years, 0) * ppy)
        m &= (v["interest_only_periods"] >= tenor) & (tenor > 0)
        for p in each(m):
            ck.add(WARNING, p, "interest_only_periods",
                   f"{int(v['interest_only_periods'][p])} interest-only periods cover the whole "
                   f"tenor of {int(tenor[p])} periods: the loan is repaid as a bullet",
                   "interest_only_covers_tenor", ck.raw("interest_only_periods", p))
    # delivery after maturity
    m = ck.ok("delivery_date", "maturity_date") & (v["delivery_date"] > v["maturity_date"])
    for p in each(m):
        ck.add(WARNING, p, "delivery_date",
               f"{_show('delivery_date', v['delivery_date'][p])} is after the maturity date "
               f"{_show('maturity_date', v['maturity_date'][p])}"
               f"{ck.col_ref('maturity_date')}: the GPUs arrive after the loan is repaid",
               "delivery_after_maturity", ck.raw("delivery_date", p))
    # loan above cost
    m = ck.ok("commitment", "gpu_count", "gpu_unit_cost")
    cost = v["gpu_count"] * v["gpu_unit_cost"]
    with np.errstate(invalid="ignore", divide="ignore"):
        m &= v["commitment"] > cost
    for p in each(m):
        ltc = v["commitment"][p] / cost[p]
        ck.add(WARNING, p, "commitment",
               f"{_show('commitment', v['commitment'][p])} is more than the GPUs' cost "
               f"{_show('commitment', cost[p])} (GPUs x cost per GPU): loan-to-cost "
               f"{ltc:.0%}; check the cost per GPU", "loan_above_cost",
               ck.raw("commitment", p))
    # quoted spread entered as a decimal
    qs = v["quoted_spread"]
    m = given["quoted_spread"] & (qs > 0) & (qs < 1)
    for p in each(m):
        ck.add(WARNING, p, "quoted_spread",
               f"{_show('quoted_spread', qs[p])} looks like a decimal: the quoted spread is in "
               f"basis points, 450 for 4.50%", "quoted_spread_in_bp", ck.raw("quoted_spread", p))
    # Merton needs both inputs
    for have, need in (("equity_value", "equity_vol"), ("equity_vol", "equity_value")):
        m = given[have] & ~given[need] & ~ck.bad[need]
        for p in each(m):
            ck.add(WARNING, p, need,
                   f"this cell is blank but {column(have).label}{ck.col_ref(have)} is given: "
                   f"the Merton model needs both, and is skipped for this facility",
                   "merton_inputs_pair")
    _check_availability(ck, valuation_date)
    # matured before the valuation date
    if valuation_date is not None:
        vd = np.datetime64(valuation_date, "ns")
        m = ck.ok("maturity_date") & (v["maturity_date"] <= vd)
        for p in each(m):
            ck.add(ERROR, p, "maturity_date",
                   f"{_show('maturity_date', v['maturity_date'][p])} is on or before the "
                   f"valuation date {valuation_date.isoformat()}: the facility has matured "
                   f"and has nothing left to recalculate",
                   "matured_before_valuation", ck.raw("maturity_date", p))


def _check_availability(ck: _Checker, valuation_date: dt.date | None) -> None:
    """Delayed draws: the availability period ends by maturity; undrawn commitment still
    available after the valuation date needs a drawn amount (the draws buy GPUs at the
    drawn amount per GPU) and a schedule the draws can join (not sculpted, no sweep)."""
    v, given = ck.values, ck.given
    end = v["availability_end_date"]
    m = ck.ok("availability_end_date", "maturity_date") & given["availability_end_date"]
    m &= end > v["maturity_date"]
    for p in np.flatnonzero(m):
        ck.add(ERROR, int(p), "availability_end_date",
               f"{_show('availability_end_date', end[p])} is after the maturity date "
               f"{_show('maturity_date', v['maturity_date'][p])}{ck.col_ref('maturity_date')}"
               f": the commitment cannot be drawn after the loan is repaid",
               "availability_before_maturity", ck.raw("availability_end_date", p))
    if valuation_date is None:
        return
    live = ck.ok("availability_end_date", "commitment", "drawn_amount") & given[
        "availability_end_date"] & ~m
    live &= (end > np.datetime64(valuation_date, "ns")) & (
        v["commitment"] > v["drawn_amount"] * (1 + 1e-12))
    for p in np.flatnonzero(live & (v["drawn_amount"] <= 0)):
        ck.add(ERROR, int(p), "drawn_amount",
               f"nothing is drawn but {_show('commitment', v['commitment'][p])} is available "
               f"until {_show('availability_end_date', end[p])}"
               f"{ck.col_ref('availability_end_date')}: the draws buy GPUs at the drawn amount "
               f"per GPU; enter the amount drawn today", "draws_need_drawn_fleet",
               ck.raw("drawn_amount", p))
    sweep = given["cash_sweep"] & (np.nan_to_num(v["cash_sweep"].astype(float)) > 0)
    for p in np.flatnonzero(live & ((v["amortization"] == "sculpted") | sweep)):
        what = ("is sculpted" if v["amortization"][p] == "sculpted"
                else f"has a cash sweep of {_show('cash_sweep', v['cash_sweep'][p])}")
        ck.add(ERROR, int(p), "availability_end_date",
               f"undrawn commitment is available until {_show('availability_end_date', end[p])}"
               f" but the loan {what}: delayed draws are modelled on an annuity, "
               f"straight-line or bullet loan without a cash sweep; leave the availability "
               f"end blank or change the repayment terms", "draws_on_scheduled_loan",
               ck.raw("availability_end_date", p))


IMPLEMENTED_RULES = frozenset({
    "availability_before_maturity", "draws_need_drawn_fleet", "draws_on_scheduled_loan",
    "duplicate_id", "maturity_after_origination", "drawn_within_commitment",
    "fixed_needs_rate", "floating_needs_spread", "contract_needs_rate", "contract_needs_end",
    "contract_end_after_origination", "default_below_lockup", "spread_on_fixed",
    "sculpt_below_lockup", "interest_only_covers_tenor", "delivery_after_maturity",
    "loan_above_cost", "quoted_spread_in_bp", "merton_inputs_pair", "matured_before_valuation",
})
assert IMPLEMENTED_RULES == {r.id for r in RULES}, "every schema rule is implemented"


def _check_assumptions(source: TapeSource, issues: list[Issue]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in ASSUMPTIONS:
        raw = source.assumptions.get(a.name)
        value, problem = coerce_value(a, raw, date1904=source.date1904)
        if problem:
            where = source.assumption_cells.get(a.name, "")
            sheet, _, ref = where.rpartition("!")
            issues.append(make_issue(
                ERROR, problem, sheet=sheet or "Assumptions", column=ref or None,
                header=a.label, field=a.name, value=raw, check="assumption"))
        out[a.name] = value if value is not None else a.default
    return out


def _typed_frame(ck: _Checker, keep: np.ndarray) -> pd.DataFrame:
    data = {}
    for c in COLUMNS:
        vals = ck.values[c.name][keep]
        if c.type == "int":
            if c.choices:
                vals = np.array([0 if x is None else int(x) for x in vals], dtype=np.int64)
            else:
                vals = np.where(np.isnan(vals), 0, vals).astype(np.int64)
        data[c.name] = pd.Series(vals, dtype=_dtype(c))
    frame = pd.DataFrame(data)
    frame.index = pd.Index(ck.rows[keep], name="row")
    return frame


# ------------------------------------------------------------------------------- entry


def validate(df: pd.DataFrame, source: TapeSource | None = None, *, strict: bool = False,
             valuation_date: dt.date | None = None) -> ValidationReport:
    """Check a raw tape frame; type and default its good rows.

    Parameters
    ----------
    df : pandas.DataFrame
        Raw values as returned by :func:`~gpucredit.tape.reader.read_tape` (index: the
        spreadsheet row numbers; columns: schema names, unknown headers as written). A frame
        built by hand works too: its columns are matched by name or label.
    source : TapeSource, optional
        Where the frame came from (for column letters, the sheet, the assumptions and the
        reader's own findings).
    strict : bool
        If any row has an error, return no good rows at all (``--strict``).
    valuation_date : datetime.date, optional
        Facilities maturing on or before it are rejected (nothing is left to recalculate).
        Default: the Assumptions sheet's valuation date, if given (without one, the engine
        rejects them against the date of the run).

    Returns
    -------
    ValidationReport
        Issues, accepted and rejected facility ids, typed assumptions and the typed good
        rows (:attr:`ValidationReport.good`).

    Notes
    -----
    Order of the checks, all in one pass: headers (unknown: warning; required missing:
    file-level error), each cell (type, allowed values, range, required), facility ids
    unique, then the rules across columns of :data:`gpucredit.tape.schema.RULES`, evaluated
    on the typed values after defaults (a rule is skipped on a row where one of its inputs
    is itself in error). A blank takes the column's default, another column's value
    (``default_from``) or the Assumptions sheet's value (``fallback``).
    """
    if source is None:
        source = _source_for(df)
        df = df.rename(columns={k: cs.field for k, cs in source.columns.items() if cs.field})
        source.columns = {(cs.field or k): cs for k, cs in source.columns.items()}
        df.index = df.index if df.index.name == "row" else pd.RangeIndex(2, len(df) + 2)
    issues: list[Issue] = list(source.issues)
    assumptions = _check_assumptions(source, issues)
    ck = _Checker(df, source)
    headers_ok = _check_headers(ck)
    _check_cells(ck, assumptions)
    _check_text_cells(ck)
    _check_date_text(ck)
    _skip_blank_rows(ck)
    _check_invisible_ids(ck)
    _check_unique(ck)
    vd = valuation_date or assumptions.get("valuation_date")
    _check_rules(ck, vd)
    n_rows = int((~ck.skip).sum())
    if n_rows == 0 and headers_ok:
        where = f"the sheet {source.sheet!r}" if source.sheet else source.name
        issues.append(make_issue(ERROR, f"{where} has no facility rows below its header "
                                        f"(row {source.header_row})", check="file"))
    file_issues = [i for i in issues + ck.issues if i.row is None]
    row_issues = sorted((i for i in issues + ck.issues if i.row is not None),
                        key=lambda i: (i.row, _col_order(i.column)))
    all_issues = file_issues + row_issues
    fatal = any(i.severity == ERROR for i in file_issues)
    stop = fatal or (strict and bool(ck.err.any()))
    keep = np.zeros(ck.n, dtype=bool) if stop else ~ck.err & ~ck.skip
    good = _typed_frame(ck, keep)
    label = [str(ck.ids[p]) if ck.ids[p] is not None else f"row {int(ck.rows[p])}"
             for p in range(ck.n)]
    rejected_pos = np.flatnonzero(~keep & ~ck.skip)
    return ValidationReport(
        file=source.name, sheet=source.sheet, issues=all_issues, rows_read=n_rows,
        accepted=[label[p] for p in np.flatnonzero(keep)],
        rejected=[label[p] for p in rejected_pos],
        rejected_rows=[int(ck.rows[p]) for p in rejected_pos],
        assumptions=assumptions, good=good, strict=strict, source=source)


def _col_order(letter: str | None) -> tuple[int, str]:
    if not letter:
        return (0, "")
    return (len(letter), letter)


def _source_for(df: pd.DataFrame) -> TapeSource:
    src = TapeSource(Path("(frame)"), "frame")
    for j, name in enumerate(df.columns):
        fld = match_header(name)
        src.columns[str(name)] = ColumnSource(column_letter(j + 1), str(name), fld)
    return src


def validate_file(path: str | Path, strict: bool = False, *, sheet: str | int | None = None,
                  limits: TapeLimits | None = None,
                  valuation_date: dt.date | None = None) -> tuple[ValidationReport, pd.DataFrame]:
    """Read and validate a tape file: what ``gpucredit validate`` and ``recalc`` call.

    Parameters
    ----------
    path : str or Path
        ``.xlsx``, ``.xlsm`` or ``.csv``.
    strict : bool
        Any row error stops the whole tape (no good rows).
    sheet : str or int, optional
        Worksheet holding the tape (default ``Tape``, else the sheet found to hold it).
    limits : TapeLimits, optional
        Bounds on the file (rows, columns, cells, sizes).
    valuation_date : datetime.date, optional
        See :func:`validate`.

    Returns
    -------
    report : ValidationReport
        A file that cannot be read safely gives a report whose only issue is the reason
        (:attr:`ValidationReport.exit_status` 2); the file is never modified.
    good : pandas.DataFrame
        The typed, defaulted rows to compute (``report.good``).
    """
    try:
        df, source = read_tape(path, sheet, limits=limits)
    except TapeError as e:
        p = Path(path)
        issue = make_issue(ERROR, str(e), check="file")
        good = empty_frame()
        report = ValidationReport(p.name, None, [issue], 0, [], [], [], {}, good, strict)
        return report, good
    report = validate(df, source, strict=strict, valuation_date=valuation_date)
    return report, report.good


def report_to_frame(report: ValidationReport) -> pd.DataFrame:
    """The issues as a table for the Errors sheet (values as text, as found in the file).

    Columns: Severity, Sheet, Row, Column, Header, Facility, Value, Problem, Message. Text
    cells may begin with ``=``: write them with :func:`write_text_cell` or
    :func:`sanitise_text`.

    >>> from gpucredit.tape.issues import make_issue
    >>> r = ValidationReport("t.csv", None, [make_issue("error", "bad", row=3, column="B",
    ...     header="Borrower", value="=1+1")], 1, [], ["row 3"], [3], {}, empty_frame())
    >>> report_to_frame(r)[["Row", "Column", "Value", "Message"]].to_dict("records")
    [{'Row': 3, 'Column': 'B', 'Value': '=1+1', 'Message': 'Row 3, column B (Borrower): bad'}]
    """
    rows = []
    for i in report.issues:
        rows.append({
            "Severity": i.severity, "Sheet": i.sheet or "", "Row": i.row,
            "Column": i.column or "", "Header": i.header or "", "Facility": i.facility_id or "",
            "Value": "" if i.value is None else _value_text(i.value),
            "Problem": i.problem, "Message": i.message})
    cols = ["Severity", "Sheet", "Row", "Column", "Header", "Facility", "Value", "Problem",
            "Message"]
    frame = pd.DataFrame(rows, columns=cols)
    frame["Row"] = frame["Row"].astype("Int64")
    return frame


def _value_text(v: Any) -> str:
    if isinstance(v, str):
        return v
    return _raw(v).strip('"')


# ------------------------------------------------------------------------ text safety


def sanitise_text(value: Any) -> Any:
    """Text safe to put in a spreadsheet cell or a CSV: formula-like text gets a leading
    apostrophe (the OWASP rule against CSV injection); anything else is returned unchanged.

    Use it for CSV outputs and any writer that cannot mark a cell as text; with openpyxl
    prefer :func:`write_text_cell`, which keeps the text exactly.

    >>> sanitise_text("=HYPERLINK(\\"http://evil\\")"), sanitise_text("Acme"), sanitise_text(3.5)
    ('\\'=HYPERLINK("http://evil")', 'Acme', 3.5)
    """
    if is_formula_like(value):
        return "'" + value
    return value


def write_text_cell(cell, value: Any) -> None:
    """Set an openpyxl cell's value so that formula-like text stays text.

    openpyxl stores any string beginning with ``=`` as a formula; this helper writes such
    text as a string cell with Excel's quote prefix (what typing ``'=`` does in Excel).

    >>> import openpyxl
    >>> ws = openpyxl.Workbook().active
    >>> write_text_cell(ws["A1"], "=1+1")
    >>> ws["A1"].value, ws["A1"].data_type, ws["A1"].quotePrefix
    ('=1+1', 's', True)
    """
    cell.value = value
    if is_formula_like(value):
        cell.data_type = "s"
        cell.quotePrefix = True

