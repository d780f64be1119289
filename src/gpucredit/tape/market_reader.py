"""Read a market data file (CSV, or the ``Market`` sheet of a workbook) and check it.

The file is opened by :func:`gpucredit.tape.reader.read_tape`, so it passes the same
guards as a loan tape (not a spreadsheet, encrypted, damaged, zip or entity bombs, too
many rows, columns or cells: :mod:`gpucredit.tape.guards`). Its headers are then matched
to the market columns (:mod:`gpucredit.tape.market_schema`) and every cell is typed. A
file with any problem is refused whole with a :class:`MarketFileError` listing each
problem by file, row, column and header:

* a needed column missing, or two columns holding the same thing;
* text where a number or a date belongs, a number out of range, an unknown series or kind;
* a cell a row's series needs left blank;
* dates out of order or repeated within one series (rent: per GPU model and kind; BTC and
  hashprice: one series each; used prices: out of order only, several sales a day are
  fine); forward tenors out of order or repeated within one curve.

Whether a series is long enough to fit is decided where it is fitted
(:mod:`gpucredit.marketfit`), which names the series.

Examples
--------
>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "market.csv"
>>> _ = p.write_text("Series,Date,GPU model,Value,Kind,Source\\n"
...                  "rent,2026-01-05,H100,2.31,spot,index\\n"
...                  "rent,2026-01-12,H100,2.29,spot,index\\n")
>>> read_market(p).rents[["gpu_model", "kind", "rent"]].to_dict("list")
{'gpu_model': ['H100', 'H100'], 'kind': ['spot', 'spot'], 'rent': [2.31, 2.29]}
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gpucredit.errors import GpuCreditError
from gpucredit.tape.guards import TapeLimits
from gpucredit.tape.market_schema import COLUMNS, SERIES, column, match_market_header
from gpucredit.tape.reader import read_tape

__all__ = ["MarketData", "MarketFileError", "MarketProblem", "read_market"]

_MAX_LISTED = 25


@dataclass(frozen=True)
class MarketProblem:
    """One problem in a market file, where it is."""

    row: int | None
    column: str | None
    header: str | None
    message: str

    def where(self, file: str, sheet: str | None) -> str:
        """``file, sheet 'Market', row 7, column C (Value)`` - as far as known."""
        parts = [file] + ([f"sheet {sheet!r}"] if sheet else [])
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column is not None:
            parts.append(f"column {self.column}" + (f" ({self.header})" if self.header else ""))
        return ", ".join(parts)


class MarketFileError(GpuCreditError):
    """A market file refused, with every problem found in it.

    Attributes
    ----------
    path : Path
    problems : list of MarketProblem
    """

    def __init__(self, path: Path, sheet: str | None, problems: list[MarketProblem]):
        lines = [f"{p.where(path.name, sheet)}: {p.message}" for p in problems[:_MAX_LISTED]]
        more = len(problems) - _MAX_LISTED
        head = (f"{path.name} was not read: {len(problems)} problem"
                f"{'s' if len(problems) > 1 else ''} to fix")
        tail = [f"... and {more} more"] if more > 0 else []
        super().__init__("\n  ".join([head + ":", *lines, *tail]), argument="path",
                         value=str(path))
        self.path = path
        self.problems = problems


@dataclass
class MarketData:
    """A market file's observations, typed, one frame per series.

    Every frame carries ``row`` (the file's row number) and ``source``.

    Attributes
    ----------
    rents : DataFrame
        ``date, gpu_model, kind, rent``.
    forwards : DataFrame
        ``as_of, gpu_model, kind, tenor_months, rent``.
    used_prices : DataFrame
        ``date, gpu_model, condition, price``.
    btc : DataFrame
        ``date, price``.
    hashprice : DataFrame
        ``date, hashprice``.
    path : Path
    sheet : str or None
    """

    rents: pd.DataFrame
    forwards: pd.DataFrame
    used_prices: pd.DataFrame
    btc: pd.DataFrame
    hashprice: pd.DataFrame
    path: Path
    sheet: str | None = None
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Rows per series."""
        return {"rent": len(self.rents), "forward": len(self.forwards),
                "used_price": len(self.used_prices), "btc": len(self.btc),
                "hashprice": len(self.hashprice)}


# ----------------------------------------------------------------------------- cells

def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip()) or (
        isinstance(v, float) and v != v)


def _number(v: Any) -> float | str:
    """The number in a cell, or why it is not one."""
    if isinstance(v, bool):
        return f"{v} is a yes/no value, not a number"
    if isinstance(v, (int, float, np.integer, np.floating)):
        x = float(v)
    else:
        text = str(v).strip().replace("$", "").replace("\u00a0", "").replace(" ", "")
        try:
            x = float(text)
        except ValueError:
            return f"{str(v).strip()!r} is not a number"
    if not np.isfinite(x):
        return f"{v!r} is not a finite number"
    return x


def _date(v: Any) -> pd.Timestamp | str:
    """The date in a cell, or why it is not one."""
    if isinstance(v, (dt.datetime, dt.date, pd.Timestamp, np.datetime64)):
        return pd.Timestamp(v).normalize()
    if isinstance(v, (int, float, bool, np.number)):
        return (f"{v!r} is a number, not a date: format the cell as a date or write "
                f"YYYY-MM-DD")
    try:
        return pd.Timestamp(pd.to_datetime(str(v).strip(), format="ISO8601")).normalize()
    except (ValueError, TypeError):
        return f"{str(v).strip()!r} is not a date: write it as YYYY-MM-DD"


def _check_number(x: float, col) -> str | None:
    if col.low is None:
        return None
    if x < col.low or (col.low_open and x == col.low):
        sign = ">" if col.low_open else ">="
        return f"{col.label} must be {sign} {col.low:g}, got {x:g}"
    return None


# ------------------------------------------------------------------------- the table

def _map_columns(frame: pd.DataFrame, source, problems) -> dict[str, str]:
    """Frame key -> market column, reporting duplicates; unknown headers are ignored."""
    mapping: dict[str, str] = {}
    seen: dict[str, str] = {}
    for key in frame.columns:
        cs = source.columns[key]
        name = match_market_header(cs.header)
        if name is None:
            continue
        if name in seen:
            problems.append(MarketProblem(None, cs.letter, cs.header,
                            f"columns {seen[name]} and {cs.letter} both hold "
                            f"{column(name).label}: keep one"))
            continue
        seen[name] = cs.letter
        mapping[key] = name
    for col in COLUMNS:
        if col.needed_by == SERIES and col.name not in seen:
            problems.append(MarketProblem(None, None, None,
                            f"no {col.label!r} column: the header row must name "
                            + ", ".join(repr(c.label) for c in COLUMNS if c.needed_by)))
    return mapping


def _typed_cell(v: Any, col, row: int, letter: str, problems) -> Any:
    if col.kind == "number":
        x = _number(v)
        why = x if isinstance(x, str) else _check_number(x, col)
    elif col.kind == "date":
        x = _date(v)
        why = x if isinstance(x, str) else None
    elif col.kind == "choice":
        x = str(v).strip().lower().replace(" ", "_").replace("-", "_")
        why = None if x in col.choices else (
            f"{str(v).strip()!r} is not one of {', '.join(col.choices)}")
    else:
        x, why = str(v).strip(), None
    if why:
        problems.append(MarketProblem(row, letter, col.label, why))
        return None
    return x


def _typed_rows(frame: pd.DataFrame, source, mapping, problems) -> pd.DataFrame:
    """Typed values, one dict a row; ``None`` where a cell is blank or bad."""
    letters = {name: source.columns[key].letter for key, name in mapping.items()}
    out = []
    for row, values in zip(frame.index, frame.itertuples(index=False), strict=True):
        rec: dict[str, Any] = {c.name: None for c in COLUMNS}
        rec["row"] = int(row)
        raw = dict(zip(frame.columns, values, strict=True))
        for key, name in mapping.items():
            v = raw[key]
            if not _blank(v):
                rec[name] = _typed_cell(v, column(name), int(row), letters[name], problems)
        series = rec["series"]
        skey = _key(mapping, "series")
        if skey is not None and _blank(raw.get(skey)):
            problems.append(MarketProblem(int(row), letters.get("series"), "Series",
                            "Series is blank: say which series the row belongs to ("
                            + ", ".join(SERIES) + ")"))
        for col in COLUMNS:
            if series and series in col.needed_by and _blank(raw.get(_key(mapping, col.name))):
                problems.append(MarketProblem(int(row), letters.get(col.name), col.label,
                                f"a {series} row needs {col.label}, found a blank"))
        out.append(rec)
    return pd.DataFrame(out, columns=[*(c.name for c in COLUMNS), "row"])


def _key(mapping: dict[str, str], name: str) -> str | None:
    for key, n in mapping.items():
        if n == name:
            return key
    return None


def _check_order(typed: pd.DataFrame, letters: dict[str, str], problems) -> None:
    """Dates (or tenors) in order and unrepeated within each series, in file order."""
    rules = {  # series -> (keys of one series, ordered column, strictly increasing)
        "rent": (["gpu_model", "kind"], "date", True),
        "btc": ([], "date", True),
        "hashprice": ([], "date", True),
        "used_price": (["gpu_model"], "date", False),
        "forward": (["gpu_model", "kind", "date"], "tenor_months", True),
    }
    for series, (keys, col, strict) in rules.items():
        part = typed[(typed["series"] == series) & typed[col].notna()]
        groups = part.groupby([part[k].fillna("") for k in keys], sort=False) if keys else [
            ((), part)]
        for _, g in groups:
            vals, rows = g[col].tolist(), g["row"].tolist()
            for prev, cur, r in zip(vals, vals[1:], rows[1:], strict=False):
                what = _series_words(series, g.iloc[0], keys)
                label = column(col).label
                if cur < prev:
                    problems.append(MarketProblem(r, letters.get(col), label,
                                    f"{_show(cur)} comes after {_show(prev)} in {what}: sort "
                                    f"the rows by {label.lower()}"))
                elif strict and cur == prev:
                    problems.append(MarketProblem(r, letters.get(col), label,
                                    f"{_show(cur)} appears twice in {what}: keep one row"))


def _series_words(series: str, first, keys) -> str:
    bits = [str(first[k]) for k in keys if k != "date" and first[k] is not None]
    if "date" in keys:
        bits.append(f"the curve as of {_show(first['date'])}")
    return f"the {series} series" + (f" ({', '.join(bits)})" if bits else "")


def _show(v) -> str:
    return v.strftime("%Y-%m-%d") if isinstance(v, pd.Timestamp) else f"{v:g}"


def _split(typed: pd.DataFrame, path: Path, sheet: str | None) -> MarketData:
    def part(series, cols, rename):
        p = typed.loc[typed["series"] == series, [*cols, "source", "row"]]
        return p.rename(columns=rename).reset_index(drop=True)

    rents = part("rent", ["date", "gpu_model", "kind", "value"], {"value": "rent"})
    fwd = part("forward", ["date", "gpu_model", "kind", "tenor_months", "value"],
               {"date": "as_of", "value": "rent"})
    used = part("used_price", ["date", "gpu_model", "condition", "value"], {"value": "price"})
    btc = part("btc", ["date", "value"], {"value": "price"})
    hp = part("hashprice", ["date", "value"], {"value": "hashprice"})
    for f in (rents, fwd, used, btc, hp):
        for c in f.columns:
            if c in ("rent", "price", "hashprice", "tenor_months"):
                f[c] = f[c].astype(float)
            elif c in ("date", "as_of"):
                f[c] = pd.to_datetime(f[c]).astype("datetime64[ns]")
    return MarketData(rents, fwd, used, btc, hp, path, sheet)


def read_market(path: str | Path, sheet: str | None = None, *,
                limits: TapeLimits | None = None) -> MarketData:
    """Read and check a market data file.

    Parameters
    ----------
    path : str or Path
        ``.csv``, ``.xlsx`` or ``.xlsm`` (the content decides, not the extension).
    sheet : str, optional
        Worksheet holding the market table. Default ``"Market"`` (workbooks only).
    limits : TapeLimits, optional
        Bounds on the file (:class:`gpucredit.tape.guards.TapeLimits`).

    Returns
    -------
    MarketData

    Raises
    ------
    gpucredit.tape.guards.TapeError
        The file cannot be read safely (see :mod:`gpucredit.tape.guards`).
    MarketFileError
        The file reads but its contents are wrong; every problem is listed.
    """
    p = Path(path)
    is_csv = p.suffix.lower() == ".csv"
    frame, source = read_tape(p, None if is_csv else (sheet or "Market"), limits=limits)
    sheet_name = source.sheet
    problems: list[MarketProblem] = []
    mapping = _map_columns(frame, source, problems)
    if problems:
        raise MarketFileError(source.path, sheet_name, problems)
    if frame.empty:
        raise MarketFileError(source.path, sheet_name, [MarketProblem(
            None, None, None, "no observations below the header row")])
    typed = _typed_rows(frame, source, mapping, problems)
    letters = {name: source.columns[key].letter for key, name in mapping.items()}
    _check_order(typed, letters, problems)
    if problems:
        problems.sort(key=lambda q: (q.row or 0, q.column or ""))
        raise MarketFileError(source.path, sheet_name, problems)
    data = _split(typed, source.path, sheet_name)
    data.notes = [i.message for i in source.issues if getattr(i, "check", "") == "file"]
    return data
