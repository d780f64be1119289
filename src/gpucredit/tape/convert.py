"""Typing a column of raw tape values: numbers, percentages, dates, choices, booleans, text.

:func:`coerce` turns the raw values of one column (as :func:`gpucredit.tape.reader.read_tape`
returns them: numbers, text, dates, booleans, ``None``) into typed values, and describes
each value it cannot type in an analyst's words. It works a column at a time: plain numbers,
ISO dates and known choices go through pandas in one call; only the odd values (``"8%"``,
``"$1,200"``, ``"30 Jun 2024"``, a misspelt model) reach a Python parser.

Examples
--------
>>> import pandas as pd
>>> from gpucredit.tape.schema import column
>>> c = coerce(column("utilization"), pd.Series([0.85, "90%", "abc", None], dtype=object))
>>> c.values.tolist()[:2], c.blank.tolist(), sorted(c.problems)
([0.85, 0.9], [False, False, False, True], [2])
>>> c.problems[2]
'"abc" is not a number: enter the share of GPUs rented, between 0% and 100%'
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gpucredit.tape.schema import Field, header_key

__all__ = ["Coerced", "coerce", "coerce_value", "parse_date_text", "parse_number_text"]

# kinds of raw values
_BLANK, _NUM, _STR, _BOOL, _DATE, _TIME, _DELTA, _OTHER = range(8)
_KIND = {
    type(None): _BLANK, float: _NUM, int: _NUM, np.float64: _NUM, np.int64: _NUM,
    np.float32: _NUM, np.int32: _NUM, str: _STR, bool: _BOOL, np.bool_: _BOOL,
    dt.datetime: _DATE, dt.date: _DATE, pd.Timestamp: _DATE, np.datetime64: _DATE,
    dt.time: _TIME, dt.timedelta: _DELTA, pd.Timedelta: _DELTA,
}
_EXCEL_ERRORS = ("#N/A", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#NULL!",
                 "#SPILL!", "#CALC!", "#GETTING_DATA")
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
_EXCEL_EPOCH_1904 = pd.Timestamp("1904-01-01")
_MAX_SERIAL = 2_958_465  # 9999-12-31
_PLAIN_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_THOUSANDS = re.compile(r"[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_DECIMAL_COMMA = re.compile(r"[-+]?\d+,\d+")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")
_DMY = re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})")
_YMD_SLASH = re.compile(r"(\d{4})[/.](\d{1,2})[/.](\d{1,2})")
_TEXT_DATE_FORMATS = ("%d %b %Y", "%d %B %Y", "%b %d %Y", "%B %d %Y", "%d-%b-%Y", "%d-%B-%Y",
                      "%b %d, %Y", "%B %d, %Y", "%d %b, %Y", "%Y %b %d")
_TRUE = {"true", "yes", "y", "1", "x", "t"}
_FALSE = {"false", "no", "n", "0", "f"}


@dataclass
class Coerced:
    """Typed values of one column and what went wrong.

    Attributes
    ----------
    values : pandas.Series
        Typed values (float64, int64 where possible, datetime64, object for text/choices,
        bool); blanks and bad values are missing (NaN/NaT/None).
    blank : numpy.ndarray of bool
        The raw cell was blank.
    problems : dict
        Position (0-based) -> what is wrong with the value there, for the values that could
        not be typed or lie outside the allowed values or range.
    checks : dict
        Position -> which check failed: ``"type"``, ``"choice"`` or ``"range"``.
    """

    values: pd.Series
    blank: np.ndarray
    problems: dict[int, str] = field(default_factory=dict)
    checks: dict[int, str] = field(default_factory=dict)


def _kinds(arr: np.ndarray) -> np.ndarray:
    get = _KIND.get
    kinds = np.fromiter((get(type(v), _OTHER) for v in arr), dtype=np.int8, count=arr.size)
    other = np.flatnonzero(kinds == _OTHER)
    for i in other:  # subclasses and unusual types
        v = arr[i]
        if isinstance(v, bool | np.bool_):
            kinds[i] = _BOOL
        elif isinstance(v, int | float | np.integer | np.floating):
            kinds[i] = _NUM
        elif isinstance(v, str):
            kinds[i] = _STR
        elif isinstance(v, dt.date | np.datetime64):
            kinds[i] = _DATE
    num = np.flatnonzero(kinds == _NUM)
    if num.size:
        fv = np.asarray(arr[num], dtype=float)
        kinds[num[np.isnan(fv)]] = _BLANK
    text = np.flatnonzero(kinds == _STR)
    if text.size:
        empty = np.fromiter((not arr[i].strip() for i in text), dtype=bool, count=text.size)
        kinds[text[empty]] = _BLANK
    return kinds


def _raw(v: Any) -> str:
    """A raw value as written in a message."""
    if isinstance(v, str):
        v = v.strip()
        return f'"{v[:60]}..."' if len(v) > 60 else f'"{v}"'
    if isinstance(v, bool | np.bool_):
        return "TRUE" if v else "FALSE"
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time() else v.isoformat(sep=" ")
    if isinstance(v, dt.date | dt.time):
        return v.isoformat()
    if isinstance(v, int | float | np.integer | np.floating):
        x = float(v)
        if x.is_integer():
            return f"{int(x):,}"
        return f"{x:,.10g}" if abs(x) >= 1000 else f"{x:.10g}"
    return repr(v)


def _expect(f: Field) -> str:
    return f"enter {f.ask}, {f.expectation()}" if f.expectation() else f"enter {f.ask}"


# ------------------------------------------------------------------------------ numbers


def parse_number_text(text: str, f: Field) -> tuple[float | None, str | None]:
    """A number from text as analysts type it, or what is wrong with it.

    Understood: ``1,250,000``, ``$1,250,000``, ``(1,000)``, ``8%`` and ``800bp`` (in percent
    columns), ``1.25x`` (multiples), ``450bp`` (basis-point columns).

    >>> from gpucredit.tape.schema import column
    >>> parse_number_text("8.5%", column("fixed_rate"))
    (0.085, None)
    >>> parse_number_text("$1,200", column("other_opex"))
    (1200.0, None)
    >>> parse_number_text("0,85", column("utilization"))[1]
    '"0,85" uses a decimal comma: enter 0.85'
    """
    s = text.strip().replace("\u2212", "-").replace("\xa0", "").replace("\u202f", "")
    raw = _raw(text)
    up = s.upper()
    if up in _EXCEL_ERRORS:
        return None, (f"{up} is an Excel error, not a value: fix the formula that fills this "
                      f"cell")
    neg = False
    if s.startswith("(") and s.endswith(")"):
        neg, s = True, s[1:-1].strip()
    low = s.lower()
    scale = 1.0
    if low.endswith("%"):
        if not f.percent:
            return None, (f"{raw} is a percentage but {f.label} is "
                          f"{_unit_words(f)}: {_expect(f)}")
        s, scale = s[:-1].strip(), 0.01
    elif low.endswith(("bps", "bp")):
        s = s[: -3 if low.endswith("bps") else -2].strip()
        if f.percent:
            scale = 1e-4
        elif f.unit != "bp":
            return None, (f"{raw} is in basis points but {f.label} is "
                          f"{_unit_words(f)}: {_expect(f)}")
    elif low.endswith("x") and f.unit == "x":
        s = s[:-1].strip()
    low = s.lower()
    for prefix in ("us$", "usd", "$"):
        if low.startswith(prefix):
            s = s[len(prefix):].strip()
            break
    for suffix in ("usd", "$"):
        if s.lower().endswith(suffix):
            s = s[: -len(suffix)].strip()
            break
    s = s.replace(" ", "")
    if _THOUSANDS.fullmatch(s):
        s = s.replace(",", "")
    elif _DECIMAL_COMMA.fullmatch(s):
        fixed = s.replace(",", ".")
        return None, f"{raw} uses a decimal comma: enter {fixed}"
    if not _PLAIN_NUMBER.fullmatch(s):
        return None, f"{raw} is not a number: {_expect(f)}"
    x = float(s) * scale
    if neg:
        x = -x
    if not math.isfinite(x):
        return None, f"{raw} is not a finite number: {_expect(f)}"
    return x, None


def _unit_words(f: Field) -> str:
    if f.unit == "x":
        return "a multiple such as 1.25x"
    if f.unit == "bp":
        return "in basis points"
    if f.unit:
        return f"in {f.unit}"
    return "a plain number"


def _numbers(arr: np.ndarray, kinds: np.ndarray, f: Field,
             problems: dict[int, str]) -> np.ndarray:
    out = np.full(arr.size, np.nan)
    num = np.flatnonzero(kinds == _NUM)
    if num.size:
        out[num] = np.asarray(arr[num], dtype=float)
        bad = num[~np.isfinite(out[num])]
        for i in bad:
            problems[int(i)] = f"{_raw(arr[i])} is not a finite number: {_expect(f)}"
            out[i] = np.nan
    text = np.flatnonzero(kinds == _STR)
    if text.size:
        quick = pd.to_numeric(pd.Series(arr[text], dtype=object), errors="coerce").to_numpy(
            dtype=float)
        ok = np.isfinite(quick)
        out[text[ok]] = quick[ok]
        for i in text[~ok]:
            x, problem = parse_number_text(arr[i], f)
            if problem:
                problems[int(i)] = problem
            else:
                out[i] = x
    for kind, what in ((_BOOL, "a TRUE/FALSE value"), (_DATE, "a date"), (_TIME, "a time"),
                       (_DELTA, "a duration"), (_OTHER, "not a number")):
        for i in np.flatnonzero(kinds == kind):
            problems[int(i)] = f"{_raw(arr[i])} is {what}, not a number: {_expect(f)}" \
                if kind != _OTHER else f"{_raw(arr[i])} is not a number: {_expect(f)}"
    return out


def _range_problems(values: np.ndarray, f: Field, problems: dict[int, str],
                    shown=None) -> None:
    """Add a problem for each value outside [min, max] (numbers or datetime64)."""
    show = shown or f.show
    lo, hi = f.min, f.max
    if lo is None and hi is None:
        return
    if f.type == "date":
        lo_v = np.datetime64(lo) if lo is not None else None
        hi_v = np.datetime64(hi) if hi is not None else None
        valid = ~np.isnat(values)
    else:
        lo_v, hi_v = lo, hi
        valid = ~np.isnan(values)
    idx = np.flatnonzero(valid)
    if not idx.size:
        return
    v = values[idx]
    below = np.zeros(idx.size, dtype=bool)
    above = np.zeros(idx.size, dtype=bool)
    if lo_v is not None:
        below = (v <= lo_v) if f.min_open else (v < lo_v)
    if hi_v is not None:
        above = (v >= hi_v) if f.max_open else (v > hi_v)
    for k in np.flatnonzero(below | above):
        i = int(idx[k])
        if i in problems:
            continue
        x = values[i]
        if f.type == "date":
            xs = pd.Timestamp(x).date().isoformat()
            side = "before" if below[k] else "after"
            bound = lo if below[k] else hi
            problems[i] = (f"{xs} is {side} {bound.isoformat()}: enter {f.ask}, "
                           f"{f.expectation()}")
            continue
        if below[k]:
            verb = (f"must be more than {show(lo)}" if f.min_open and x == lo
                    else f"is below {show(lo)}")
        else:
            verb = (f"must be less than {show(hi)}" if f.max_open and x == hi
                    else f"is above {show(hi)}")
        msg = f"{show(x)} {verb}: {_expect(f)}"
        if f.percent and above[k] and 2 <= x <= 100:
            q = x / 100
            msg += f" ({f.show(q)} is entered as {f.show(q)} or {q:g})"
        problems[i] = msg


# -------------------------------------------------------------------------------- dates


def parse_date_text(text: str) -> tuple[dt.date | None, str | None]:
    """A date from text, or what is wrong with it.

    ISO (``2024-06-30``), ``2024/06/30``, month names (``30 Jun 2024``, ``June 30, 2024``)
    and day/month/year forms whose order is unambiguous (``30/06/2024``) are read; an
    ambiguous ``06/07/2024`` is refused with the question it raises.

    >>> parse_date_text("30 Jun 2024"), parse_date_text("30/06/2024")
    ((datetime.date(2024, 6, 30), None), (datetime.date(2024, 6, 30), None))
    >>> parse_date_text("06/07/2024")[1]
    '"06/07/2024" is ambiguous (6 July or 7 June 2024?): enter it as 2024-07-06 or 2024-06-07'
    """
    s = " ".join(text.strip().split())
    raw = _raw(text)
    if s.upper() in _EXCEL_ERRORS:
        return None, f"{s.upper()} is an Excel error, not a date: fix the formula in this cell"
    if _ISO_DATE.fullmatch(s):
        try:
            return dt.date.fromisoformat(s[:10]), None
        except ValueError:
            return None, f"{raw} is not a valid date: enter a date such as 2024-06-30"
    m = _YMD_SLASH.fullmatch(s)
    if m:
        try:
            return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3))), None
        except ValueError:
            return None, f"{raw} is not a valid date: enter a date such as 2024-06-30"
    m = _DMY.fullmatch(s)
    if m:
        a, b, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
        options = []
        for d, mo in ((a, b), (b, a)):
            try:
                options.append(dt.date(y, mo, d))
            except ValueError:
                pass
        options = sorted(set(options))
        if len(options) == 1:
            return options[0], None
        if not options:
            return None, f"{raw} is not a valid date: enter a date such as 2024-06-30"
        first, second = (dt.date(y, b, a), dt.date(y, a, b))
        return None, (f"{raw} is ambiguous ({first.day} {first:%B} or {second.day} "
                      f"{second:%B} {y}?): enter it as {first.isoformat()} or "
                      f"{second.isoformat()}")
    cleaned = s.replace(".", "")
    for fmt in _TEXT_DATE_FORMATS:
        try:
            return dt.datetime.strptime(cleaned, fmt).date(), None
        except ValueError:
            continue
    return None, f"{raw} is not a date: enter a date such as 2024-06-30"


def _dates(arr: np.ndarray, kinds: np.ndarray, f: Field, problems: dict[int, str],
           date1904: bool) -> np.ndarray:
    out = np.full(arr.size, np.datetime64("NaT"), dtype="datetime64[ns]")
    d = np.flatnonzero(kinds == _DATE)
    if d.size:
        conv = pd.to_datetime(pd.Series(arr[d], dtype=object), errors="coerce")
        out[d] = conv.dt.normalize().to_numpy(dtype="datetime64[ns]")
    num = list(np.flatnonzero(kinds == _NUM))
    serials = [float(arr[i]) for i in num]
    text = np.flatnonzero(kinds == _STR)
    strings = pd.Series([arr[i].strip() for i in text], dtype=object)
    numeric_text = np.fromiter((bool(_PLAIN_NUMBER.fullmatch(s)) for s in strings),
                               dtype=bool, count=len(strings))
    for k in np.flatnonzero(numeric_text):  # serial numbers typed as text (CSV)
        num.append(int(text[k]))
        serials.append(float(strings.iloc[k]))
    if num:
        num_idx = np.asarray(num, dtype=np.int64)
        serial = np.asarray(serials, dtype=float)
        ok = (serial >= 1) & (serial <= _MAX_SERIAL)
        epoch = _EXCEL_EPOCH_1904 if date1904 else _EXCEL_EPOCH
        days = np.floor(serial[ok]).astype("int64")
        out[num_idx[ok]] = (np.datetime64(epoch.date(), "D") + days).astype("datetime64[ns]")
        for k in np.flatnonzero(~ok):
            problems[int(num_idx[k])] = (f"{serial[k]:g} is not a date: enter {f.ask}, a date "
                                         f"such as 2024-06-30")
        for k in np.flatnonzero(ok):
            i = int(num_idx[k])
            when = pd.Timestamp(out[i]).date()
            if (f.min is not None and when < f.min) or (f.max is not None and when > f.max):
                problems[i] = (f"{serial[k]:g} is not a date: as an Excel serial number it "
                               f"would be {when.isoformat()}; enter {f.ask}, a date such as "
                               f"2024-06-30")
    text = text[~numeric_text]
    strings = strings[~numeric_text].reset_index(drop=True)
    if text.size:
        iso = strings.str.fullmatch(_ISO_DATE.pattern).to_numpy(dtype=bool, copy=True)
        if iso.any():
            conv = pd.to_datetime(strings[iso], format="ISO8601", errors="coerce")
            got = conv.dt.normalize().to_numpy(dtype="datetime64[ns]")
            good = ~np.isnat(got)
            out[text[iso][good]] = got[good]
            iso[np.flatnonzero(iso)[~good]] = False
        for k in np.flatnonzero(~iso):
            i = int(text[k])
            when, problem = parse_date_text(strings.iloc[k])
            if problem:
                problems[i] = problem
            else:
                out[i] = np.datetime64(when, "D")
    for kind, what in ((_BOOL, "a TRUE/FALSE value"), (_TIME, "a time of day"),
                       (_DELTA, "a duration"), (_OTHER, "of an unknown type")):
        for i in np.flatnonzero(kinds == kind):
            problems[int(i)] = (f"{_raw(arr[i])} is {what}, not a date: enter {f.ask}, a date "
                                f"such as 2024-06-30")
    for i in problems:
        out[i] = np.datetime64("NaT")
    return out


# ------------------------------------------------------------------------------ choices


def _choice_table(f: Field) -> dict[str, Any]:
    table = {header_key(c): c for c in f.choices}
    for k, v in f.synonyms.items():
        table.setdefault(header_key(k), v)
    return table


def _suggest(text: str, f: Field) -> str:
    cands = {header_key(c): str(c) for c in f.choices}
    got = difflib.get_close_matches(header_key(text), list(cands), n=1, cutoff=0.6)
    return f' (did you mean "{cands[got[0]]}"?)' if got else ""


def _choices(arr: np.ndarray, kinds: np.ndarray, f: Field,
             problems: dict[int, str]) -> np.ndarray:
    table = _choice_table(f)
    out = np.empty(arr.size, dtype=object)
    numeric_choices = all(isinstance(c, int) for c in f.choices)
    present = np.flatnonzero(kinds != _BLANK)
    if not present.size:
        return out
    keys = np.empty(present.size, dtype=object)
    cache: dict[Any, Any] = {}
    for k, i in enumerate(present):
        v = arr[i]
        if kinds[i] == _NUM:
            x = float(v)
            keys[k] = str(int(x)) if x.is_integer() else repr(x)
        elif kinds[i] == _STR:
            keys[k] = v
        else:
            keys[k] = None
    for k, i in enumerate(present):
        key = keys[k]
        if key is None:
            problems[int(i)] = (f"{_raw(arr[i])} is not allowed: enter {f.ask}, "
                                f"{f.expectation()}")
            continue
        if key not in cache:
            cache[key] = table.get(header_key(key))
        got = cache[key]
        if got is None:
            shown = (key.strip() if numeric_choices and _PLAIN_NUMBER.fullmatch(key.strip())
                     else _raw(arr[i]))
            problems[int(i)] = (f"{shown} is not allowed: enter {f.ask}, "
                                f"{f.expectation()}{_suggest(str(key), f)}")
        else:
            out[i] = got
    return out


# --------------------------------------------------------------------- text and booleans


def _text(arr: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    out = np.empty(arr.size, dtype=object)
    for i in np.flatnonzero(kinds != _BLANK):
        v = arr[i]
        k = kinds[i]
        if k == _STR:
            out[i] = v.strip()
        elif k == _NUM:
            x = float(v)
            out[i] = str(int(x)) if x.is_integer() else repr(x)
        elif k == _DATE:
            out[i] = _raw(v)
        elif k == _BOOL:
            out[i] = "TRUE" if v else "FALSE"
        else:
            out[i] = str(v)
    return out


def _bools(arr: np.ndarray, kinds: np.ndarray, f: Field,
           problems: dict[int, str]) -> np.ndarray:
    out = np.zeros(arr.size, dtype=bool)
    for i in np.flatnonzero(kinds != _BLANK):
        v, k = arr[i], kinds[i]
        if k == _BOOL:
            out[i] = bool(v)
        elif k == _NUM and float(v) in (0.0, 1.0):
            out[i] = float(v) == 1.0
        elif k == _STR and v.strip().lower() in _TRUE | _FALSE:
            out[i] = v.strip().lower() in _TRUE
        else:
            problems[int(i)] = f"{_raw(v)} is not TRUE or FALSE: enter {f.ask}"
    return out


# --------------------------------------------------------------------------------- entry


def coerce(f: Field, raw: pd.Series | np.ndarray | list, *, date1904: bool = False) -> Coerced:
    """Type one column of raw values according to its schema field.

    Parameters
    ----------
    f : Field
        The column (or assumption) declaration.
    raw : Series, array or list
        Raw values; ``None``, NaN and blank text are blanks.
    date1904 : bool
        Excel serial numbers count from 1904-01-01 (old Mac workbooks).

    Returns
    -------
    Coerced
        Values (float64 for numbers, int64 for whole numbers when every value is good and
        present, datetime64[ns] for dates, object for text and choices, bool), blank mask
        and problems by position.

    Notes
    -----
    Percent fields hold decimals: ``0.08`` and ``"8%"`` both give 0.08; ``8`` stays 8 and
    fails the range check with a hint. Dates may be Excel dates, serial numbers (from
    1899-12-30, or 1904-01-01 with ``date1904``) or text.
    """
    index = raw.index if isinstance(raw, pd.Series) else None
    arr = np.empty(len(raw), dtype=object)
    arr[:] = list(raw) if not isinstance(raw, pd.Series) else raw.to_numpy(dtype=object)
    kinds = _kinds(arr)
    blank = kinds == _BLANK
    problems: dict[int, str] = {}
    ranged: set[int] = set()
    if f.type in ("float", "int") and not f.choices:
        values = _numbers(arr, kinds, f, problems)
        if f.type == "int":
            whole = np.isnan(values) | (values == np.round(values))
            for i in np.flatnonzero(~whole):
                problems.setdefault(int(i), f"{_raw(values[i])} is not a whole number: "
                                            f"{_expect(f)}")
        for i in problems:
            values[i] = np.nan
        typed_ok = set(problems)
        _range_problems(values, f, problems)
        ranged = set(problems) - typed_ok
        for i in problems:
            values[i] = np.nan
        series = pd.Series(values, index=index)
    elif f.type == "int":  # a whole number from a fixed set (periods a year)
        values = _choices(arr, kinds, f, problems)
        series = pd.Series(values, index=index, dtype=object)
    elif f.type == "date":
        values = _dates(arr, kinds, f, problems, date1904)
        typed_ok = set(problems)
        _range_problems(values, f, problems)
        ranged = set(problems) - typed_ok
        for i in problems:
            values[i] = np.datetime64("NaT")
        series = pd.Series(values, index=index)
    elif f.type == "enum":
        series = pd.Series(_choices(arr, kinds, f, problems), index=index, dtype=object)
    elif f.type == "bool":
        series = pd.Series(_bools(arr, kinds, f, problems), index=index)
    else:
        series = pd.Series(_text(arr, kinds), index=index, dtype=object)
    kind = "choice" if f.choices else "type"
    checks = {i: ("range" if i in ranged else kind) for i in problems}
    return Coerced(series, blank, problems, checks)


def coerce_value(f: Field, value: Any, *, date1904: bool = False) -> tuple[Any, str | None]:
    """Type one value (an assumption): the typed value (``None`` if blank) or a problem.

    >>> from gpucredit.tape.schema import assumption
    >>> coerce_value(assumption("btc_vol"), "55%")
    (0.55, None)
    >>> print(coerce_value(assumption("mc_paths"), 2.5)[1])
    2.5 is not a whole number: enter the number of Monte Carlo paths, a whole number, ...
    """
    c = coerce(f, [value], date1904=date1904)
    if 0 in c.problems:
        return None, c.problems[0]
    if c.blank[0]:
        return None, None
    v = c.values.iloc[0]
    if f.type == "date":
        return pd.Timestamp(v).date(), None
    if f.type == "int" and not f.choices:
        return int(v), None
    if f.type == "float":
        return float(v), None
    if f.type == "bool":
        return bool(v), None
    return v, None
