"""Excel worksheet functions (xlwings UDFs) over the gpucredit core.

Every function here is a thin face: it converts what Excel sends into the arrays the core
expects, calls **one** core function and converts the answer back into cells. No finance
is computed here. The same module serves

* classic xlwings on Windows desktop Excel (COM; the VBA wrappers written by "Import
  Python UDFs" call :func:`xlwings.udfs.call_udf`),
* xlwings Lite and xlwings Server (Office.js custom functions; macOS desktop, Excel on the
  web),
* :mod:`gpucredit.excel.recalc`, which computes workbooks with the ``formulas`` package
  where no Excel exists (it calls these functions with the same 2-D lists of cells).

Conventions (``docs/excel.md`` and ``docs/methodology.md`` say more):

* Every name starts with ``GPU_``; every argument has help text.
* Rates are **per period** and come **first**, as in Excel's ``PMT`` and ``NPV``
  (``GPU_LLCR(rate, cfads, opening_balance)``, ``GPU_DEBT_SCHEDULE(rate, n_periods,
  amount)``); the functions pass ``periods_per_year=1`` to the core, so the rate is used
  as it is. A rate outside :data:`RATE_RANGE` is refused with the new order in the
  message, so that a call written in the earlier, rate-last order fails instead of
  computing a wrong number. Merton's rate is the continuously compounded annual
  risk-free rate and keeps its Black-Scholes place (after the market inputs, as in
  ``BS(S, sigma, K, r, T)``): it is not a cash-flow discount rate, and the order was
  never PMT's.
* A single value in gives a single value out. A range gives an array that spills. A
  period series may be a column or a row (one facility) or a block with facilities in
  rows and periods in columns; results follow the orientation of the input. Series made
  from single values (a rent path) run left to right, as time does in the deal model.
  Tables come back with a header row; every label/value table takes ``field`` (one row
  by its key) and ``headers`` (FALSE drops the header row). Periods a year, where it may
  be left out, defaults to :data:`PERIODS_PER_YEAR`. Enumerated arguments carry
  ``typing.Literal`` dropdowns in Office.js (:func:`_choices`).
* Empty cells: an omitted optional argument and one pointing at an empty cell are the
  same to xlwings (``None``: COM's missing marker or an empty Range, Office.js ``null``)
  and take the core's default. Excel desktop's Office.js may send 0 for an empty cell
  (OfficeDev/office-js #4702, #5262), so 0 also means the default wherever 0 is not a
  valid value (periods a year, PUE, a confidence level, a DSCR threshold, paths, a text
  or header flag); where 0 is a value and the default is not 0, those builds read an
  empty cell as 0 (:data:`ZERO_IS_A_VALUE`). In a cash-flow series an empty cell counts
  as 0 (as Excel's SUM treats it); in element-by-element functions an empty input gives
  a missing output.
* Facilities as objects: ``GPU_FACILITY`` returns a handle (:mod:`gpucredit.excel.handles`)
  named by a hash of its inputs; the ``GPU_FACILITY_*`` functions and ``GPU_PORTFOLIO``
  read the core's evaluation through it.
* Dates may be dates or Excel serial numbers (1900 date system) or ISO text.
* Errors use each runtime's documented mechanism (:data:`RUNTIME`). Office.js (xlwings
  Lite, xlwings Server): a bad input raises :class:`xlwings.XlwingsError`, which Excel
  shows as a real ``#VALUE!`` carrying the message (hover the error flag), and a missing
  value inside a spilled array is a real ``#N/A`` (xlwings writes the text ``"#N/A"`` as
  an error cell). Classic xlwings (Windows, COM) has no documented way for Python to
  return an error value (xlwings issue 776), so there the message is the text
  ``#GPU! <what is wrong>`` and a missing value the text ``#N/A``, which the add-in's VBA
  turns into real ``#VALUE!`` and ``#N/A`` (:data:`gpucredit.excel.addin.ERROR_VALUES`).
  Never a traceback; results never contain inf or NaN (Office.js fails on inf).
* Budgets: a call that asks for more periods or paths than :data:`LIMITS` allows is
  refused before any work, with the limit in the message.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import inspect
import math
from collections.abc import Callable, Mapping
from typing import Literal

import numpy as np

from gpucredit import (
    calibration,
    collateral,
    coverage,
    curves,
    debt,
    fleet,
    miners,
    model,
    montecarlo,
    presets,
    pricing,
    scenarios,
)
from gpucredit import rents as rents_mod
from gpucredit.errors import GpuCreditError
from gpucredit.excel import handles
from gpucredit.periods import add_months

try:  # the recalculation engine and plain Python use these functions without xlwings
    import xlwings as xw
except ImportError:  # pragma: no cover - exercised only where xlwings is absent
    xw = None

__all__ = [
    "CATEGORY",
    "ERROR_PREFIX",
    "LIMITS",
    "RUNTIME",
    "udf_names",
]

CATEGORY = "gpucredit"
"""Function-wizard category of every UDF (classic Excel; Office.js ignores it)."""

ERROR_PREFIX = "#GPU! "
"""Start of every error message a UDF writes into a cell."""

_EXCEL_EPOCH = dt.date(1899, 12, 30)  # serial 1 = 1900-01-01 (after Excel's 1900 leap bug)

LIMITS = {
    "periods": 1200,
    "paths": 200_000,
    "path_periods": 5_000_000,
}
"""Most a single worksheet-function call may ask for, checked before any work.

``periods``: 100 years of months. ``paths``: Monte Carlo paths per call.
``path_periods``: paths x periods x facilities x scenarios of one Monte Carlo call: the
largest (50,000 paths x 100 periods) took 4.2 s and 205 MB of peak memory on a loaded
2-core machine (the core simulates in blocks of paths). An Excel cell should answer in
seconds, not hold the machine; larger runs belong to ``gpucredit recalc``.
"""


def _runtime() -> str:
    """Which xlwings UDF implementation decorates this module (fixed at xlwings' import).

    ``"officejs"`` (xlwings Lite / Server), ``"classic"`` (Windows COM) or ``"python"``
    (no Excel runtime: plain Python, :mod:`gpucredit.excel.recalc`).
    """
    module = getattr(getattr(xw, "func", None), "__module__", "") or ""
    if module.endswith("udfs_officejs"):
        return "officejs"
    if module == "xlwings.udfs":
        return "classic"
    return "python"


RUNTIME = _runtime()
"""The runtime this module was imported under (see :func:`_runtime`)."""


# =============================================================================== decorators

def _func(**options):
    """``xw.func`` with the options of both runtimes side by side.

    ``category`` and ``call_in_wizard`` are read by classic xlwings only; the Office.js
    implementation ignores them (and would read ``namespace``, ``help_url``, ``cache``).
    """
    opts = {"category": CATEGORY, **options}
    if xw is None:
        return lambda f: f
    return xw.func(**opts)


def _arg(name: str, doc: str, **options):
    """``xw.arg`` with the reading options every gpucredit argument uses.

    ``ndim=2``: every argument arrives as a list of rows (a single cell as ``[[v]]``), in
    both runtimes, so one set of converters serves both. ``err_to_str=True``: an Excel
    error in a cell arrives as its text (``"#DIV/0!"``) instead of silently as empty.
    """
    if xw is None:
        return lambda f: f
    return xw.arg(name, ndim=2, err_to_str=True, doc=doc, **options)


def _choices(**literals):
    """Dropdown lists for enumerated arguments (``typing.Literal``), Office.js only.

    xlwings Lite and Server show a ``Literal`` argument as a list to pick from; classic
    xlwings would try to convert to the ``Literal`` type, so there the hint is left out
    (the help text lists the choices in both). Put it just above ``@_udf()``: xlwings
    reads the hints when the first ``@_arg`` runs.
    """

    def deco(f):
        if RUNTIME == "officejs":
            f.__annotations__ = {**getattr(f, "__annotations__", {}), **literals}
        return f

    return deco


def _udf(nan: str = "no value"):
    """Wrap a UDF body: GpuCreditError -> ``#GPU!`` text; NaN/inf -> "" or ``#GPU!``.

    Parameters
    ----------
    nan : str
        What a single NaN result means, shown as ``#GPU! <nan>`` (inside a spilled array
        a NaN is an empty cell instead).
    """

    def deco(body: Callable) -> Callable:
        params = inspect.signature(body).parameters
        least = sum(p.default is inspect.Parameter.empty for p in params.values())

        @functools.wraps(body)
        def wrapper(*args):
            if not least <= len(args) <= len(params):
                return _fail(_arity_message(body.__name__, least, len(params), len(args)))
            try:
                out = body(*args)
            except GpuCreditError as exc:
                return _fail(str(exc))
            except MemoryError:
                return _fail("not enough memory for this call: ask for fewer periods or "
                             "paths")
            except (OverflowError, FloatingPointError) as exc:  # e.g. a volatility of 1e308
                return _fail(f"a number is too large for the calculation ({exc}): check the "
                             "size of each input")
            except Exception as exc:  # a bug: still a message, never a traceback in a cell
                return _fail(f"unexpected {type(exc).__name__}: {exc}")
            return _to_cells(out, nan)

        return wrapper

    return deco


def _arity_message(name: str, least: int, most: int, got: int) -> str:
    want = f"{least}" if least == most else f"{least} to {most}"
    return f"{name} takes {want} arguments, got {got}"


def _error(message: str) -> str:
    text = " ".join(str(message).split()).rstrip(".")
    if len(text) > 250:
        text = text[:247] + "..."
    return ERROR_PREFIX + text


def _fail(message: str):
    """A failed call as the runtime shows errors (module docstring, "Errors").

    Office.js: raise ``xlwings.XlwingsError`` -> ``#VALUE!`` with the message (xlwings
    Server's custom-functions-code.js turns a failed call into
    ``CustomFunctions.Error(invalidValue, message)``; xlwings Lite does the same).
    Classic and plain Python: the text ``#GPU! <message>``.
    """
    text = _error(message)
    if RUNTIME == "officejs":
        raise xw.XlwingsError(text.removeprefix(ERROR_PREFIX))
    return text


_MISSING = "#N/A"
"""A missing value inside a spilled array: the text "#N/A", which each runtime writes as a
real #N/A (Office.js: xlwings writes it as an error cell; classic: the add-in's
``GpuValue`` turns it into ``CVErr(xlErrNA)``, :data:`gpucredit.excel.addin.ERROR_VALUES`)."""



# =============================================================================== cells -> values

class _Empty:
    """Marker for an omitted argument (distinct from None, which Excel sends)."""


def _grid(raw) -> list[list]:
    """Whatever arrived for one argument as a list of rows."""
    if isinstance(raw, np.ndarray):
        raw = raw.tolist()
    if isinstance(raw, (list, tuple)):
        if not raw:
            return [[None]]
        if isinstance(raw[0], (list, tuple)):
            return [list(r) for r in raw]
        return [list(raw)]
    return [[raw]]


def _blank(v) -> bool:
    return v is None or (isinstance(v, str) and v.strip() == "")


def _omitted(raw, zero_is_empty: bool = False) -> bool:
    """True when an optional argument was left out or points at empty cells."""
    if raw is None or raw is _Empty:
        return True
    cells = [v for row in _grid(raw) for v in row]
    if all(_blank(v) for v in cells):
        return True
    return zero_is_empty and len(cells) == 1 and _is_number(cells[0]) and cells[0] == 0


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
        v, (bool, np.bool_))


def _where(i: int, j: int, shape: tuple[int, int]) -> str:
    rows, cols = shape
    if rows == 1 and cols == 1:
        return ""
    if cols == 1:
        return f" (row {i + 1} of the range)"
    if rows == 1:
        return f" (column {j + 1} of the range)"
    return f" (row {i + 1}, column {j + 1} of the range)"


def _number(v, name: str, where: str = "") -> float:
    """One cell as a float; NaN for an empty cell."""
    if _blank(v):
        return math.nan
    if isinstance(v, (bool, np.bool_)):
        raise GpuCreditError(f"{name} must be a number, got {str(v).upper()}{where}",
                             argument=name, value=v)
    if _is_number(v):
        return float(v)
    if isinstance(v, (dt.datetime, dt.date)):
        return float(_serial(v))
    if isinstance(v, str):
        text = v.strip()
        if text.startswith("#"):
            raise GpuCreditError(f"{name} holds the error {text}{where}", argument=name, value=v)
        try:
            return float(text)
        except ValueError:
            pass
    raise GpuCreditError(f"{name} must be a number, got {v!r}{where}", argument=name, value=v)


def _numbers(raw, name: str) -> np.ndarray:
    """An argument as a 2-D float array, NaN where a cell is empty."""
    g = _grid(raw)
    width = max(len(r) for r in g)
    if all(len(r) == width for r in g) and not any(
            v is True or v is False or isinstance(v, str) for r in g for v in r):
        try:  # the common case, numbers and empty cells: one C loop
            return np.array(g, dtype=float)
        except (TypeError, ValueError):
            pass
    out = np.full((len(g), width), math.nan)
    for i, row in enumerate(g):
        for j, v in enumerate(row):
            try:
                out[i, j] = _number(v, name)
            except GpuCreditError as exc:  # say where, only when something is wrong
                raise GpuCreditError(f"{exc}{_where(i, j, out.shape)}", argument=name,
                                     value=v) from None
    return out


def _scalar(raw, name: str, default=_Empty, *, zero_is_empty: bool = False):
    """A single value (float); ``default`` when omitted (an error if there is none)."""
    if _omitted(raw, zero_is_empty):
        if default is _Empty:
            raise GpuCreditError(f"{name} is empty: give a value", argument=name)
        return default
    arr = _numbers(raw, name)
    if arr.size != 1:
        raise GpuCreditError(f"{name} must be a single value, got a range of {arr.shape[0]} x "
                             f"{arr.shape[1]} cells", argument=name, value=arr.shape)
    return float(arr[0, 0])


def _whole(raw, name: str, default=_Empty, *, zero_is_empty: bool = False):
    """A single whole number (int)."""
    x = _scalar(raw, name, default, zero_is_empty=zero_is_empty)
    if x is None or isinstance(x, int):
        return x
    if not float(x).is_integer():
        raise GpuCreditError(f"{name} must be a whole number, got {x:g}", argument=name, value=x)
    return int(x)


def _count(raw, name: str, what: str, default=_Empty, *, low: int = 1,
           zero_is_empty: bool = False) -> int:
    """A whole number of periods or paths, refused above :data:`LIMITS` before any work."""
    n = _whole(raw, name, default, zero_is_empty=zero_is_empty)
    limit = LIMITS[what]
    if n < low:
        raise GpuCreditError(f"{name} must be at least {low}, got {n}", argument=name, value=n)
    if n > limit:
        raise GpuCreditError(f"{name} is {n:,}: one cell may ask for at most {limit:,} "
                             f"{what}", argument=name, value=n)
    return n


def _check_work(paths: int, periods: int, copies: int = 1) -> None:
    """Refuse a Monte Carlo call over ``LIMITS["path_periods"]`` before it starts."""
    work = paths * periods * copies
    limit = LIMITS["path_periods"]
    if work > limit:
        raise GpuCreditError(
            f"{paths:,} paths x {periods:,} periods" + (f" x {copies:,}" if copies > 1 else "")
            + f" is {work:,} path-periods; one cell may ask for at most {limit:,}: use fewer "
            "paths, or gpucredit recalc for a larger run", argument="n_paths", value=paths)


def _text(raw, name: str, default=_Empty) -> str:
    """A single text value, e.g. a curve family; 0 (Office.js' empty cell) is empty."""
    if _omitted(raw, zero_is_empty=True):
        if default is _Empty:
            raise GpuCreditError(f"{name} is empty: give a value", argument=name)
        return default
    cells = [v for row in _grid(raw) for v in row]
    if len(cells) != 1:
        raise GpuCreditError(f"{name} must be a single value, got {len(cells)} cells",
                             argument=name)
    v = cells[0]
    if not isinstance(v, str):
        raise GpuCreditError(f"{name} must be text, got {v!r}", argument=name, value=v)
    if v.strip().startswith("#"):
        raise GpuCreditError(f"{name} holds the error {v.strip()}", argument=name, value=v)
    return v.strip()


def _flag(raw, name: str, default=_Empty, *, zero_is_empty: bool = False) -> bool:
    """TRUE/FALSE (also 1/0 and the text TRUE/FALSE).

    ``zero_is_empty``: a number 0 is an empty cell (for a flag whose default is TRUE, so
    that an Office.js build sending 0 for an empty cell still gets the default); FALSE
    itself still arrives as FALSE in both runtimes.
    """
    if _omitted(raw, zero_is_empty):
        if default is _Empty:
            raise GpuCreditError(f"{name} is empty: give TRUE or FALSE", argument=name)
        return default
    cells = [v for row in _grid(raw) for v in row]
    if len(cells) != 1:
        raise GpuCreditError(f"{name} must be one TRUE or FALSE, got a range of {len(cells)} "
                             "cells", argument=name)
    v = cells[0]
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if _is_number(v) and v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.strip().upper() in ("TRUE", "FALSE"):
        return v.strip().upper() == "TRUE"
    raise GpuCreditError(f"{name} must be TRUE or FALSE, got {v!r}", argument=name, value=v)


def _serial(d: dt.date) -> float:
    """Excel serial number (1900 system) of a date or datetime."""
    if isinstance(d, dt.datetime):
        base = dt.datetime.combine(_EXCEL_EPOCH, dt.time())
        return (d.replace(tzinfo=None) - base).total_seconds() / 86400.0
    return float((d - _EXCEL_EPOCH).days)


def _date(v, name: str, where: str = "") -> dt.date | None:
    """One cell as a date: a date, a serial number or ISO text; None when empty."""
    if _blank(v):
        return None
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if _is_number(v):
        if not 1 <= v < 2958466:  # 1900-01-01 .. 9999-12-31
            raise GpuCreditError(f"{name} must be a date, got the number {v:g}{where}",
                                 argument=name, value=v)
        return _EXCEL_EPOCH + dt.timedelta(days=math.floor(v))
    if isinstance(v, str):
        text = v.strip()
        if text.startswith("#"):
            raise GpuCreditError(f"{name} holds the error {text}{where}", argument=name, value=v)
        try:
            return dt.date.fromisoformat(text[:10])
        except ValueError:
            pass
    raise GpuCreditError(f"{name} must be a date (a date cell, a serial number or "
                         f"'YYYY-MM-DD'), got {v!r}{where}", argument=name, value=v)


def _series(raw, name: str) -> tuple[np.ndarray, str]:
    """A period series: ``(T,)`` from a row or a column, ``(F, T)`` from a block.

    Returns the array (empty cells as 0) and the input's orientation ("cell", "col",
    "row" or "block") for shaping the result like the input.
    """
    arr = np.nan_to_num(_numbers(raw, name), nan=0.0)
    rows, cols = arr.shape
    if rows == 1 and cols == 1:
        return arr[0], "cell"
    if cols == 1:
        return arr[:, 0], "col"
    if rows == 1:
        return arr[0], "row"
    return arr, "block"


def _param_or_path(raw, name: str, like: np.ndarray):
    """A rate: one value, or a path shaped like the cash-flow series ``like``."""
    arr = np.nan_to_num(_numbers(raw, name), nan=0.0)
    if arr.size == 1:
        return float(arr[0, 0])
    flat = arr.reshape(like.shape) if arr.size == like.size else None
    if flat is None:
        raise GpuCreditError(f"{name} must be one value or one value per period (a range "
                             f"shaped like the cash flows), got {arr.shape[0]} x "
                             f"{arr.shape[1]} cells", argument=name, value=arr.shape)
    return flat


RATE_RANGE = (-0.1, 1.0)
"""Per-period rates a cash-flow function accepts: from -10% to +100% a period.

The rate-first functions (``GPU_DEBT_CAPACITY(rate, cfads, target_dscr)`` ...) took the
rate last before release 11, so an old call lands a cash-flow or loan amount in ``rate``.
Any rate outside this range is refused, naming the new order, instead of computing a
wrong number: no loan pays more than 100% a period, and below -10% a period discounting
stops making sense. (An old call whose cash flows all lie inside the range - one cell
in USD millions - still fails on the shapes of the other arguments; docs/excel.md.)
"""


def _rate(raw, like: np.ndarray | None, call: str):
    """A rate per period, the first argument as in ``PMT``; one value or a path.

    ``like`` is the cash-flow series a path must match (None: one value only). Every
    error names the rate-first order (``call``, e.g. ``"GPU_LLCR(rate, cfads,
    opening_balance)"``): the likely cause is a call written in the old order.
    """
    hint = f"rate comes first, as in PMT: {call}"
    try:
        values = _numbers(raw, "rate").reshape(-1)
        low, high = RATE_RANGE
        bad = values[(values < low) | (values > high)]  # checked first: the telling error
        if bad.size:
            raise GpuCreditError(f"rate must be a rate per period from {low:g} to {high:g} "
                                 f"(0.11/12 for 11% a year paid monthly), got "
                                 f"{bad[0]:,.6g}", argument="rate", value=float(bad[0]))
        return (_param_or_path(raw, "rate", like) if like is not None
                else _scalar(raw, "rate"))
    except GpuCreditError as exc:
        raise GpuCreditError(f"{exc}; {hint}", argument="rate") from None


def _core_default(fn: Callable, name: str):
    return inspect.signature(fn).parameters[name].default


def _dflt(fn: Callable, name: str) -> str:
    """Help-text suffix naming the core default (one source for both)."""
    value = _core_default(fn, name)
    return f" Default {value:g}." if isinstance(value, (int, float)) else f" Default {value}."


# =============================================================================== values -> cells

def _clean(v):
    """One result value as something both runtimes can write: no NaN, no inf."""
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else ""
    if isinstance(v, np.datetime64):
        if np.isnat(v):
            return ""
        return v.astype("datetime64[us]").item()
    if hasattr(v, "to_pydatetime"):  # pandas Timestamp
        return v.to_pydatetime()
    return v


def _to_cells(out, nan: str):
    if isinstance(out, str):
        return out
    if isinstance(out, (list, tuple, np.ndarray)):
        # finite Python floats (nearly every cell) pass through as they are
        return [[v if type(v) is float and math.isfinite(v) else _cell(v) for v in row]
                for row in _grid(out)]
    if isinstance(out, (float, np.floating)) and not math.isfinite(out):
        return _fail(nan)
    return _clean(out)


def _cell(v):
    """One cell of a spilled array: a missing value (None, NaN, NaT) is :data:`_MISSING`."""
    out = _clean(v)
    return _MISSING if out == "" and not isinstance(v, str) else out


def _like(values, orient: str):
    """Shape a core result like the input series it came from."""
    arr = np.asarray(values)
    if orient == "cell":
        return arr.reshape(-1)[0].item()
    if orient == "col":
        return [[v] for v in arr.reshape(-1).tolist()]
    if orient == "row":
        return [arr.reshape(-1).tolist()]
    return np.atleast_2d(arr).tolist()


def _per_facility(values, orient: str):
    """One value per facility: a single value for a row/column, a column for a block."""
    arr = np.asarray(values, dtype=float)
    if orient != "block":
        return float(arr.reshape(-1)[0])
    return [[v] for v in arr.reshape(-1).tolist()]


def _table(header: list[str], rows: list[list]) -> list[list]:
    return [list(header), *[list(r) for r in rows]]


def _label_table(items: Mapping[str, object], first: str = "Measure",
                 second: str = "Value") -> list[list]:
    return _table([first, second], [[k, v] for k, v in items.items()])


PERIODS_PER_YEAR = 12
"""Periods a year wherever a function lets it be left out (one default for every function)."""

ZERO_IS_A_VALUE: dict[str, tuple[str, ...]] = {
    "GPU_CFADS": ("price_per_kwh", "colocation_per_kw_month"),
    "GPU_HAIRCUT": ("install_haircut", "sale_cost_rate", "sigma_monthly"),
    "GPU_HASHPRICE": ("subsidy",),
    "GPU_LIQUIDATION_VALUE": ("install_haircut", "sale_cost_rate", "sigma_monthly"),
    "GPU_MONTE_CARLO": ("liquidation_factor", "rho", "btc_vol", "rent_sigma"),
    "GPU_RESIDUAL_VALUE": ("param_1", "param_2", "jump"),
}
"""Optional arguments where 0 is a meaningful value and the default is not 0.

An empty cell and an omitted argument take the default in both runtimes, except in
Office.js builds that send 0 for an empty cell (OfficeDev/office-js #4702: Excel desktop
sends 0 where Excel on the web sends null; #5262: an optional range argument): there a
cell left empty for one of these arguments reads 0 - no power bill, no installation
discount, nothing recovered - and nothing in the value tells it from a typed 0. Leave the
argument out of the formula (an omitted argument is the default everywhere) or type the
value. Every other optional argument reads 0 as its default (0 is not valid there:
periods a year, PUE, a text, a header flag ...) or has the default 0, so the builds agree
(tests/test_udfs_runtimes.py checks both directions; docs/excel.md lists these).
"""

_FIELD_DOC = "One row to return, by its key (e.g. {}); empty: the whole table."
_HEADERS_DOC = ("TRUE: a header row on top of the table; FALSE: values only. Default TRUE "
                "(0 counts as empty).")


def _headers(raw) -> bool:
    """``headers``: FALSE drops the header row; empty or 0 keeps it (:data:`ZERO_IS_A_VALUE`)."""
    return _flag(raw, "headers", True, zero_is_empty=True)


def _maybe_header(table: list[list], keep: bool) -> list[list]:
    """Drop a table's header row when the caller asked for values only."""
    return table if keep else (table[1:] or [[""]])


def _pick(items: Mapping[str, object], field, headers, first: str,
          labels: Mapping[str, str] | None = None):
    """A label/value table (rows shown by ``labels``), or one value when ``field`` names
    a row by its key."""
    if _omitted(field, zero_is_empty=True):
        shown = {(labels or {}).get(k, k): v for k, v in items.items()}
        return _maybe_header(_label_table(shown, first), _headers(headers))
    key = _text(field, "field").lower()
    if key not in items:
        raise GpuCreditError(f"field must be one of {', '.join(items)}, got {key!r}",
                             argument="field", value=key)
    value = items[key]
    return _fail(f"{key} has no value for this facility") if _missing(value) else value


def _missing(v) -> bool:
    return v is None or (isinstance(v, (float, np.floating)) and not math.isfinite(v))


def _frame_table(frame) -> list[list]:
    """A DataFrame as a table: a header row in words, then its rows."""
    header = [str(c).replace("_", " ").capitalize() for c in frame.columns]
    return _table(header, frame.to_numpy(dtype=object).tolist())


# =============================================================================== element-wise

def _elementwise(fn: Callable, required: dict, optional: dict | None = None, *,
                 fixed: dict | None = None, pick: Callable | None = None,
                 zero_is_empty: tuple[str, ...] = (), rename: Mapping[str, str] | None = None):
    """Apply an element-wise core function to single values or ranges.

    Ranges broadcast like numpy arrays (a column against a single value ...); the result
    has the broadcast shape. An empty cell in a required argument gives an empty result
    cell; in an optional one, the core's default. Returns a value for single cells.
    """
    optional = optional or {}
    rename = dict(rename or {})
    grids = {k: _numbers(v, k) for k, v in required.items()}
    opts = {}
    for k, raw in optional.items():
        if _omitted(raw, k in zero_is_empty):
            continue
        g = _numbers(raw, k)
        default = _core_default(fn, rename.get(k, k))
        if np.isnan(g).any():
            if not isinstance(default, (int, float)):
                raise GpuCreditError(f"{k} has empty cells and no default", argument=k)
            g = np.where(np.isnan(g), float(default), g)
        opts[k] = g
    try:
        shape = np.broadcast_shapes(*(g.shape for g in [*grids.values(), *opts.values()]))
    except ValueError:
        shapes = ", ".join(f"{k} {g.shape[0]}x{g.shape[1]}"
                           for k, g in [*grids.items(), *opts.items()])
        raise GpuCreditError("the ranges must have the same size or be single cells, got "
                             + shapes) from None
    empty = np.zeros(shape, dtype=bool)
    flat = {}
    for k, g in grids.items():
        b = np.broadcast_to(g, shape)
        empty |= np.isnan(b)
        flat[k] = b
    if empty.all():
        return "" if shape == (1, 1) else np.full(shape, np.nan).tolist()
    args = {}
    for k, b in flat.items():
        filler = b[~np.isnan(b)][0] if np.isnan(b).any() else 0.0
        args[k] = np.where(empty, filler, b).reshape(-1)
    kwargs = {rename.get(k, k): np.broadcast_to(g, shape).reshape(-1) for k, g in opts.items()}
    result = fn(*args.values(), **kwargs, **(fixed or {}))
    if pick is not None:
        result = pick(result)
    out = np.asarray(result, dtype=float).reshape(-1)
    if out.size != empty.size:  # pragma: no cover - a core function broke the contract
        raise GpuCreditError(f"{fn.__name__} gave {out.size} values for {empty.size} cells")
    out = np.where(empty.reshape(-1), np.nan, out).reshape(shape)
    if shape == (1, 1):
        return "" if empty[0, 0] else float(out[0, 0])
    return out.tolist()


# =============================================================================== coverage

_SERIES_DOC = ("a column or row (one facility) or a block (facilities in rows, periods in "
               "columns); empty cells count as 0.")


@_func()
@_arg("cfads", "Cash flow available for debt service per period: " + _SERIES_DOC)
@_arg("debt_service", "Debt service (interest + principal) per period, shaped like cfads.")
@_udf(nan="debt service is zero")
def GPU_DSCR(cfads, debt_service):
    """Period DSCR = CFADS / debt service, spilled like cfads; empty where debt service is 0."""
    cf, orient = _series(cfads, "cfads")
    ds, _ = _series(debt_service, "debt_service")
    return _like(coverage.dscr(cf, ds), orient)


_RATE_DOC = ("Debt rate PER PERIOD (0.11/12 for 11% a year paid monthly), first as in PMT: "
             "one value or a path like the cash flows.")


@_func()
@_arg("rate", _RATE_DOC)
@_arg("cfads", "CFADS per period over the tenor: " + _SERIES_DOC)
@_arg("target_dscr", "Target DSCR, e.g. 1.30.")
@_udf()
def GPU_DEBT_CAPACITY(rate, cfads, target_dscr):
    """Debt a sculpted repayment supports: PV at the debt rate of CFADS / target DSCR."""
    cf, orient = _series(cfads, "cfads")
    r = _rate(rate, cf, "GPU_DEBT_CAPACITY(rate, cfads, target_dscr)")
    target = _scalar(target_dscr, "target_dscr")
    return _per_facility(debt.debt_capacity(cf, r, target, 1), orient)


@_func()
@_arg("rate", _RATE_DOC)
@_arg("cfads", "CFADS per period over the tenor: one column or row (one facility); empty "
               "cells count as 0.")
@_arg("target_dscr", "Target DSCR, e.g. 1.30.")
@_udf()
def GPU_SCULPT(rate, cfads, target_dscr):
    """Sculpted debt schedule (debt service = CFADS / target DSCR) as a table with headers."""
    cf, orient = _series(cfads, "cfads")
    if orient == "block":
        raise GpuCreditError("cfads must be one column or one row (one facility) for a "
                             "schedule table")
    r = _rate(rate, cf, "GPU_SCULPT(rate, cfads, target_dscr)")
    target = _scalar(target_dscr, "target_dscr")
    return _frame_table(debt.sculpt(cf, r, target, 1).to_frame())


def _opening_path(raw, cf: np.ndarray, name: str) -> np.ndarray:
    """Opening balances: a path like ``cf``, or one value (per facility) held flat.

    Only the first period's ratio is reported, which depends on the opening debt and on
    the loan maturity (the last period with a positive balance); a single value therefore
    stands for a loan that runs over every period given.
    """
    arr = np.nan_to_num(_numbers(raw, name), nan=0.0)
    if arr.size == 1:
        return np.full(cf.shape, arr[0, 0])
    if cf.ndim == 2 and arr.shape == (cf.shape[0], 1):  # one balance per facility
        return np.repeat(arr, cf.shape[1], axis=1)
    if arr.size != cf.size:
        raise GpuCreditError(f"{name} must be one value or one value per period, shaped like "
                             f"the cash flows, got {arr.shape[0]} x {arr.shape[1]} cells",
                             argument=name, value=arr.shape)
    return arr.reshape(cf.shape)


@_func()
@_arg("rate", _RATE_DOC)
@_arg("cfads", "CFADS per period to loan maturity: " + _SERIES_DOC)
@_arg("opening_balance", "Debt outstanding at the start of period 1 (one value), or the "
                         "opening balance of every period shaped like cfads.")
@_udf(nan="opening balance is zero")
def GPU_LLCR(rate, cfads, opening_balance):
    """Loan life coverage ratio at the first period: PV of CFADS to maturity / opening debt."""
    cf, orient = _series(cfads, "cfads")
    r = _rate(rate, cf, "GPU_LLCR(rate, cfads, opening_balance)")
    bal = _opening_path(opening_balance, cf, "opening_balance")
    return _per_facility(np.asarray(coverage.llcr(cf, bal, r, 1))[..., 0], orient)


@_func()
@_arg("rate", _RATE_DOC)
@_arg("cfads_to_end_of_life", "CFADS per period to the end of the asset's life: "
                              + _SERIES_DOC)
@_arg("opening_balance", "Debt outstanding at the start of period 1 (one value), or the "
                         "loan's opening balances per period (may stop at loan maturity).")
@_udf(nan="opening balance is zero")
def GPU_PLCR(rate, cfads_to_end_of_life, opening_balance):
    """Project life coverage ratio at the first period: PV of CFADS to end of life / debt."""
    cf, orient = _series(cfads_to_end_of_life, "cfads_to_end_of_life")
    r = _rate(rate, cf, "GPU_PLCR(rate, cfads_to_end_of_life, opening_balance)")
    bal = np.nan_to_num(_numbers(opening_balance, "opening_balance"), nan=0.0)
    if orient != "block":
        bal = bal.reshape(-1)
    elif bal.size == 1:
        bal = np.full((cf.shape[0], 1), bal[0, 0])
    elif bal.shape[0] != cf.shape[0]:
        raise GpuCreditError(f"opening_balance must be one value, one per facility or one "
                             f"row per facility, got {bal.shape[0]} rows for "
                             f"{cf.shape[0]} facilities", argument="opening_balance")
    return _per_facility(np.asarray(coverage.plcr(cf, bal, r, 1))[..., 0], orient)


@_func()
@_arg("principal", "Principal repaid at the end of each period: " + _SERIES_DOC)
@_arg("periods_per_year", f"Periods a year: 1, 2, 4 or 12. Default {PERIODS_PER_YEAR}.")
@_udf(nan="no principal is repaid")
def GPU_WAL(principal, periods_per_year=None):
    """Weighted average life of a repayment profile, in years."""
    p, orient = _series(principal, "principal")
    m = _whole(periods_per_year, "periods_per_year", PERIODS_PER_YEAR, zero_is_empty=True)
    return _per_facility(debt.wal(p, m), orient)


_KINDS = ", ".join(debt.KINDS)


@_func()
@_arg("rate", "Interest rate PER PERIOD (0.11/12 for 11% a year paid monthly), first as in "
              "PMT.")
@_arg("n_periods", "Tenor in periods (a whole number).")
@_arg("amount", "Loan amount drawn at closing (USD), the present value of PMT.")
@_arg("kind", f"Repayment profile: {_KINDS}."
              + _dflt(debt.schedule, "kind"))
@_arg("amortization_start", "First period with scheduled principal (earlier periods are "
                            "interest-only)." + _dflt(debt.schedule, "amortization_start"))
@_arg("principal", "Only for kind custom: repayment weights per period (a row or column).")
@_choices(kind=Literal[tuple(debt.KINDS)])
@_udf()
def GPU_DEBT_SCHEDULE(rate, n_periods, amount, kind=None, amortization_start=None,
                      principal=None):
    """Loan schedule (opening balance, draw, interest, principal, debt service, closing)."""
    r = _rate(rate, None, "GPU_DEBT_SCHEDULE(rate, n_periods, amount, [kind], ...)")
    n = _count(n_periods, "n_periods", "periods")
    a = _scalar(amount, "amount")
    k = _text(kind, "kind", _core_default(debt.schedule, "kind"))
    start = _count(amortization_start, "amortization_start", "periods",
                   _core_default(debt.schedule, "amortization_start"), zero_is_empty=True)
    extra = {}
    weights, _ = _series(principal, "principal") if not _omitted(principal) else (None, "")
    if weights is not None and np.any(weights != 0):  # all 0: repays nothing, so none given
        extra["principal"] = weights
    sched = debt.schedule(a, r, n, 1, k, amortization_start=start, **extra)
    return _frame_table(sched.to_frame())


@_func()
@_arg("merchant_gpu_hours", "GPU-hours sold at the merchant rent per period: "
                            + _SERIES_DOC)
@_arg("other_cfads", "All other CFADS per period (contracted revenue less cash costs), "
                     "shaped like merchant_gpu_hours.")
@_arg("debt_service", "Debt service per period, shaped like merchant_gpu_hours.")
@_arg("threshold", "Minimum DSCR to hold." + _dflt(coverage.breakeven_rent, "threshold"))
@_udf(nan="no breakeven rent exists")
def GPU_BREAKEVEN_RENT(merchant_gpu_hours, other_cfads, debt_service, threshold=None):
    """Flat merchant rent (USD per GPU-hour) at which the minimum DSCR equals the threshold."""
    h, orient = _series(merchant_gpu_hours, "merchant_gpu_hours")
    other, _ = _series(other_cfads, "other_cfads")
    ds, _ = _series(debt_service, "debt_service")
    kw = {}
    if not _omitted(threshold, zero_is_empty=True):
        kw["threshold"] = _scalar(threshold, "threshold")
    return _per_facility(coverage.breakeven_rent(h, other, ds, **kw), orient)


@_func()
@_arg("revenue_at_full_utilization", "Revenue the sellable capacity earns at 100% "
                                     "utilization per period: " + _SERIES_DOC)
@_arg("fixed_cfads", "CFADS that does not depend on utilization (contracted revenue less "
                     "fixed costs) per period, shaped like the revenue.")
@_arg("debt_service", "Debt service per period, shaped like the revenue.")
@_arg("threshold", "Minimum DSCR to hold."
                   + _dflt(coverage.breakeven_utilization, "threshold"))
@_udf(nan="no breakeven utilization exists")
def GPU_BREAKEVEN_UTILIZATION(revenue_at_full_utilization, fixed_cfads, debt_service,
                              threshold=None):
    """Flat utilization at which the minimum DSCR equals the threshold (above 1: none can)."""
    rev, orient = _series(revenue_at_full_utilization, "revenue_at_full_utilization")
    fixed, _ = _series(fixed_cfads, "fixed_cfads")
    ds, _ = _series(debt_service, "debt_service")
    kw = {}
    if not _omitted(threshold, zero_is_empty=True):
        kw["threshold"] = _scalar(threshold, "threshold")
    return _per_facility(coverage.breakeven_utilization(rev, fixed, ds, **kw), orient)


# =============================================================================== collateral

@_func()
@_arg("debt_outstanding", "Debt outstanding (USD): one value or a range (e.g. per period).")
@_arg("collateral_value", "Collateral value (USD), same size as debt_outstanding or one "
                          "value.")
@_arg("accrued_interest", "Accrued unpaid interest (USD)."
                          + _dflt(collateral.ltv, "accrued_interest"))
@_udf(nan="collateral value is zero while debt is owed")
def GPU_LTV(debt_outstanding, collateral_value, accrued_interest=None):
    """Loan to value: (debt + accrued interest) / collateral value; empty where value is 0."""
    return _elementwise(collateral.ltv,
                        {"debt_outstanding": debt_outstanding,
                         "collateral_value": collateral_value},
                        {"accrued_interest": accrued_interest})


_LIQ_DOC = {
    "market_value": "Market value of the collateral (USD).",
    "units": "Number of GPUs sold.",
    "monthly_absorption": "GPUs the secondary market absorbs a month.",
    "months_to_sell": "Sale horizon in months.",
    "install_haircut": "Discount because buyers need liquid-cooled capacity (share)."
                       + _dflt(collateral.liquidation_value, "install_haircut"),
    "sale_cost_rate": "De-installation, logistics and sale costs (share of value)."
                      + _dflt(collateral.liquidation_value, "sale_cost_rate"),
    "sigma_monthly": "Monthly price volatility of used GPUs."
                     + _dflt(collateral.liquidation_value, "sigma_monthly"),
    "impact_y": "Y of the square-root price-impact law."
                + _dflt(collateral.liquidation_value, "y"),
}


def _liquidation(pick, market_value, units, monthly_absorption, months_to_sell,
                 install_haircut, sale_cost_rate, sigma_monthly, impact_y):
    return _elementwise(
        collateral.liquidation_value,
        {"market_value": market_value, "units": units, "monthly_absorption": monthly_absorption,
         "months_to_sell": months_to_sell},
        {"install_haircut": install_haircut, "sale_cost_rate": sale_cost_rate,
         "sigma_monthly": sigma_monthly, "impact_y": impact_y},
        pick=pick, rename={"impact_y": "y"}, zero_is_empty=("impact_y",))


def _liq_args(f):
    for name in reversed(list(_LIQ_DOC)):
        f = _arg(name, _LIQ_DOC[name])(f)
    return f


@_func()
@_liq_args
@_udf()
def GPU_LIQUIDATION_VALUE(market_value, units, monthly_absorption, months_to_sell,
                          install_haircut=None, sale_cost_rate=None, sigma_monthly=None,
                          impact_y=None):
    """What a forced sale recovers (USD): time-to-sell, price impact, install discount, costs."""
    return _liquidation(lambda r: r.recovery, market_value, units, monthly_absorption,
                        months_to_sell, install_haircut, sale_cost_rate, sigma_monthly, impact_y)


@_func()
@_liq_args
@_udf()
def GPU_HAIRCUT(market_value, units, monthly_absorption, months_to_sell, install_haircut=None,
                sale_cost_rate=None, sigma_monthly=None, impact_y=None):
    """Liquidation haircut: 1 - forced-sale recovery / market value (a share)."""
    return _liquidation(lambda r: r.haircut, market_value, units, monthly_absorption,
                        months_to_sell, install_haircut, sale_cost_rate, sigma_monthly, impact_y)


@_func()
@_arg("annual_vol", "Annual volatility of the coin, e.g. 0.6 for BTC.")
@_arg("horizon_days", "Days to liquidate, e.g. 10.")
@_arg("confidence", "Confidence level of the value at risk."
                    + _dflt(collateral.crypto_haircut, "confidence"))
@_udf()
def GPU_CRYPTO_HAIRCUT(annual_vol, horizon_days, confidence=None):
    """Value-at-risk haircut on crypto collateral: 1 - exp(-z sigma sqrt(h/365))."""
    return _elementwise(collateral.crypto_haircut,
                        {"annual_vol": annual_vol, "horizon_days": horizon_days},
                        {"confidence": confidence}, zero_is_empty=("confidence",))


# =============================================================================== miners

@_func()
@_arg("difficulty", "Bitcoin network difficulty.")
@_arg("btc_price", "BTC price (USD).")
@_arg("subsidy", "Block subsidy in BTC." + _dflt(miners.hashprice, "subsidy"))
@_arg("fees_per_block", "Average fees per block in BTC."
                        + _dflt(miners.hashprice, "fees_per_block"))
@_udf()
def GPU_HASHPRICE(difficulty, btc_price, subsidy=None, fees_per_block=None):
    """Hashprice: USD earned per PH/s of hashrate per day."""
    return _elementwise(miners.hashprice, {"difficulty": difficulty, "btc_price": btc_price},
                        {"subsidy": subsidy, "fees_per_block": fees_per_block})


# =============================================================================== pricing

@_func()
@_arg("spread", "Credit spread (decimal a year, e.g. 0.045).")
@_arg("recovery", "Recovery rate (share of exposure, e.g. 0.4).")
@_udf()
def GPU_HAZARD_RATE(spread, recovery):
    """Hazard rate from spread and recovery: spread / (1 - recovery)."""
    return _elementwise(pricing.hazard_rate, {"spread": spread, "recovery": recovery})


@_func()
@_arg("pd_annual", "Annual probability of default (decimal).")
@_arg("lgd", "Loss given default (share of exposure).")
@_arg("exact", "FALSE: PD x LGD; TRUE: -ln(1 - PD x LGD). Default FALSE.")
@_udf()
def GPU_FAIR_SPREAD(pd_annual, lgd, exact=None):
    """Spread that pays for the expected loss, about PD x LGD a year (decimal)."""
    fixed = {"exact": _flag(exact, "exact", _core_default(pricing.fair_spread, "exact"))}
    return _elementwise(pricing.fair_spread, {"pd_annual": pd_annual, "lgd": lgd}, fixed=fixed)


_MERTON_FIELDS = ("Asset value", "Asset volatility", "Distance to default", "PD",
                  "Debt value", "Spread")
_MERTON_KEYS = ("asset_value", "asset_vol", "distance_to_default", "pd", "debt_value",
                "spread")


@_func()
@_arg("equity", "Market value of equity (USD).")
@_arg("equity_vol", "Annual equity volatility (decimal).")
@_arg("debt", "Face value of debt due at the horizon (USD), or the KMV default point.")
@_arg("rate", "Risk-free rate, continuously compounded, a year (decimal, e.g. 0.04); in its "
              "Black-Scholes place, after the debt.")
@_arg("years", "Horizon in years.")
@_arg("field", _FIELD_DOC.format("pd, distance_to_default, spread"))
@_arg("headers", _HEADERS_DOC)
@_choices(field=Literal[_MERTON_KEYS])
@_udf()
def GPU_MERTON(equity, equity_vol, debt, rate, years, field=None, headers=None):
    """Merton model: asset value and volatility, distance to default, PD, debt value, spread."""
    values = {}
    for name, raw in (("equity", equity), ("equity_vol", equity_vol), ("debt", debt),
                      ("rate", rate), ("years", years)):
        arr = _numbers(raw, name).reshape(-1)
        if np.isnan(arr).any():
            raise GpuCreditError(f"{name} is empty: give a value", argument=name)
        values[name] = arr
    if (np.abs(values["rate"]) > 1).any():  # a debt or a horizon in the rate's place
        raise GpuCreditError(f"rate must be an annual risk-free rate (e.g. 0.04), got "
                             f"{values['rate'][np.abs(values['rate']) > 1][0]:,.6g}: the "
                             "order is GPU_MERTON(equity, equity_vol, debt, rate, years)",
                             argument="rate")
    try:
        n = int(np.broadcast_shapes(*(v.shape for v in values.values()))[0])
    except ValueError:
        raise GpuCreditError("equity, equity_vol, debt, rate and years must be single values "
                             "or ranges of the same size") from None
    args = [np.broadcast_to(v, (n,)) for v in values.values()]
    res = pricing.merton_solve(*args).as_dict()
    converged = np.atleast_1d(res["Converged"])
    if not converged.any():
        raise GpuCreditError("the Merton solver did not converge for these inputs")
    cols = [np.where(converged, np.atleast_1d(res[f]), np.nan) for f in _MERTON_FIELDS]
    if n == 1:
        return _pick({k: float(c[0]) for k, c in zip(_MERTON_KEYS, cols, strict=True)}, field,
                     headers, "Measure", dict(zip(_MERTON_KEYS, _MERTON_FIELDS, strict=True)))
    if not _omitted(field, zero_is_empty=True):
        raise GpuCreditError("field picks one value of one facility: give single values",
                             argument="field")
    header = ["Measure", *[f"Facility {i + 1}" for i in range(n)]]
    rows = [[f, *c.tolist()] for f, c in zip(_MERTON_FIELDS, cols, strict=True)]
    return _maybe_header(_table(header, rows), _headers(headers))


# =============================================================================== curves

@_func()
@_arg("age", "Age in years: one value or a range.")
@_arg("family", f"Curve family: {', '.join(curves.FAMILIES)}."
                + _dflt(curves.residual_value, "family"))
@_arg("param_1", "First parameter of the family (straight_line: life; declining_balance: "
                 "rate; exponential_floor: lam; logistic: hold_years). Default: the core's.")
@_arg("param_2", "Second parameter (straight_line: salvage; declining_balance: half_life; "
                 "exponential_floor: floor; logistic: steepness). Default: the core's.")
@_arg("param_3", "Third parameter (logistic: floor). Default: the core's.")
@_arg("step_ages", "Ages (years) at which successor generations reach volume: a range. "
                   "Default none.")
@_arg("jump", "Share of value lost at each step." + _dflt(curves.residual_value, "jump"))
@_arg("attrition_rate", "Physical attrition a year."
                        + _dflt(curves.residual_value, "attrition_rate"))
@_choices(family=Literal[tuple(curves.FAMILIES)])
@_udf()
def GPU_RESIDUAL_VALUE(age, family=None, param_1=None, param_2=None, param_3=None,
                       step_ages=None, jump=None, attrition_rate=None):
    """Residual value as a fraction of cost at each age, from a named curve family."""
    fam = _text(family, "family", _core_default(curves.residual_value, "family"))
    names = curves.family_parameters(fam)
    params = {}
    for i, raw in enumerate((param_1, param_2, param_3)):
        if _omitted(raw, zero_is_empty=i >= len(names)):  # 0 for a parameter it lacks: empty
            continue
        if i >= len(names):
            raise GpuCreditError(f"the {fam} curve has {len(names)} parameters "
                                 f"({', '.join(names)}); param_{i + 1} must be empty",
                                 argument=f"param_{i + 1}")
        params[names[i]] = _scalar(raw, names[i])
    if not _omitted(step_ages):
        steps = _numbers(step_ages, "step_ages").reshape(-1)
        params["step_ages"] = steps[~np.isnan(steps)]
    if not _omitted(jump):
        params["jump"] = _scalar(jump, "jump")
    if not _omitted(attrition_rate):
        params["attrition_rate"] = _scalar(attrition_rate, "attrition_rate")

    def curve(a):
        return curves.residual_value(a, fam, **params)

    curve.__name__ = "residual_value"
    return _elementwise(curve, {"age": age})


@_func()
@_arg("delivery_date", "Delivery date of the fleet (age 0): a date or serial number.")
@_arg("successor_dates", "Dates at which successor generations reach volume: a range of "
                         "dates or serial numbers (empty cells are skipped).")
@_udf()
def GPU_STEP_AGES(delivery_date, successor_dates):
    """Fleet age (years) at each successor's volume date, for GPU_RESIDUAL_VALUE's steps."""
    cells = [v for row in _grid(delivery_date) for v in row]
    start = _date(cells[0], "delivery_date") if len(cells) == 1 else None
    if start is None:
        raise GpuCreditError("delivery_date must be one date", argument="delivery_date")
    g = _grid(successor_dates)
    shape = (len(g), max(len(r) for r in g))
    dates = [[_date(v, "successor_dates", _where(i, j, shape)) for j, v in enumerate(row)]
             for i, row in enumerate(g)]
    flat = [d for row in dates for d in row if d is not None]
    if not flat:
        raise GpuCreditError("successor_dates is empty: give at least one date",
                             argument="successor_dates")
    ages = iter(np.atleast_1d(curves.step_ages_from_dates(start, flat)).tolist())
    out = [[next(ages) if d is not None else "" for d in row] for row in dates]
    return out[0][0] if shape == (1, 1) else out


_TREND_LABELS = {"deflation": "Annual deflation", "deflation_se": "Std error",
                 "rent0": "Rent at origin", "origin": "Origin", "log_rmse": "Log RMSE",
                 "r_squared": "R-squared", "points": "Points"}
_TREND_KEYS = tuple(_TREND_LABELS)


def _fit_points(xs_raw, ys_raw, xname: str, yname: str, as_dates: bool):
    """Paired observations from two ranges of the same size; empty pairs are skipped."""
    gx, gy = _grid(xs_raw), _grid(ys_raw)
    fx = [v for row in gx for v in row]
    fy = [v for row in gy for v in row]
    if len(fx) != len(fy):
        raise GpuCreditError(f"{xname} has {len(fx)} cells but {yname} has {len(fy)}: give "
                             "one value per observation", argument=yname)
    xs, ys = [], []
    for k, (x, y) in enumerate(zip(fx, fy, strict=True)):
        where = f" (observation {k + 1})"
        if _blank(y) or (_blank(x) and not as_dates):
            continue
        yv = _number(y, yname, where)
        if not as_dates and _is_number(x) and x == 0 and yv == 0:
            continue  # an empty row as Office.js sends it
        xs.append(_date(x, xname, where) if as_dates else _number(x, xname, where))
        ys.append(yv)
    return xs, ys


@_func()
@_arg("ages", "Ages in years of the observed values: a range.")
@_arg("values", "Observed values as fractions of cost, one per age.")
@_arg("family", f"Curve family to fit: {', '.join(curves.FAMILIES)}."
                + _dflt(calibration.fit_curve, "family"))
@_arg("field", _FIELD_DOC.format("rmse, r_squared or a parameter name such as lam"))
@_arg("headers", _HEADERS_DOC)
@_choices(family=Literal[tuple(curves.FAMILIES)])
@_udf()
def GPU_FIT_CURVE(ages, values, family=None, field=None, headers=None):
    """Fit a residual-value curve to (age, value) points: parameters, RMSE, R-squared."""
    xs, ys = _fit_points(ages, values, "ages", "values", as_dates=False)
    fam = _text(family, "family", _core_default(calibration.fit_curve, "family"))
    fit = calibration.fit_curve(np.asarray(xs), np.asarray(ys), fam)
    items = {"family": fit.family, **{k: float(v) for k, v in fit.params.items()},
             "rmse": fit.rmse, "r_squared": fit.r_squared, "points": fit.n_points}
    labels = {"family": "Family", "rmse": "RMSE", "r_squared": "R-squared", "points": "Points"}
    return _pick(items, field, headers, "Parameter", labels)


@_func()
@_arg("dates", "Observation dates (date cells, serial numbers or ISO text), or times in "
               "years when use_years is TRUE.")
@_arg("rents", "Observed rents in USD per GPU-hour, one per date.")
@_arg("use_years", "TRUE when dates are times in years rather than dates. Default FALSE.")
@_arg("field", _FIELD_DOC.format("deflation, rent0, r_squared"))
@_arg("headers", _HEADERS_DOC)
@_choices(field=Literal[_TREND_KEYS])
@_udf()
def GPU_FIT_RENT_TREND(dates, rents, use_years=None, field=None, headers=None):
    """Fit a constant annual rent deflation to observed rents (log-linear regression)."""
    years = _flag(use_years, "use_years", False)
    xs, ys = _fit_points(dates, rents, "dates", "rents", as_dates=not years)
    times = np.asarray(xs, dtype=float) if years else np.asarray(xs, dtype="datetime64[D]")
    fit = calibration.fit_rent_trend(times, np.asarray(ys))
    origin = fit.origin
    if hasattr(origin, "to_pydatetime"):
        origin = origin.to_pydatetime().date()
    values = (fit.deflation, fit.deflation_se, fit.rent0, origin, fit.log_rmse,
              fit.r_squared, fit.n_points)
    return _pick(dict(zip(_TREND_KEYS, values, strict=True)), field, headers, "Parameter",
                 _TREND_LABELS)


# =============================================================================== rents, presets

@_func()
@_arg("rent0", "Market rent today (USD per GPU-hour).")
@_arg("annual_deflation", "Annual rate at which the market rent falls (0.30 = 30% a year).")
@_arg("n_periods", "Number of periods.")
@_arg("periods_per_year", f"Periods a year: 1, 2, 4 or 12. Default {PERIODS_PER_YEAR}.")
@_arg("contract_rate", "Contract rate (USD per GPU-hour); empty or 0: no contract.")
@_arg("contract_periods", "Periods the contract runs from now (0: no contract).")
@_arg("contracted_share", "Share of GPU-hours under contract while it runs."
                          + _dflt(rents_mod.contracted_merchant, "contracted_share"))
@_udf()
def GPU_RENT_PATH(rent0, annual_deflation, n_periods, periods_per_year=None, contract_rate=None,
                  contract_periods=None, contracted_share=None):
    """Rent per period (left to right): deflating market rent, blended with a contract."""
    r0 = _scalar(rent0, "rent0")
    d = _scalar(annual_deflation, "annual_deflation")
    n = _count(n_periods, "n_periods", "periods")
    m = _whole(periods_per_year, "periods_per_year", PERIODS_PER_YEAR, zero_is_empty=True)
    path = rents_mod.trend_path(r0, d, n, m)
    if not _omitted(contract_rate, zero_is_empty=True):  # a contract at 0 USD is none
        kw = {}
        if not _omitted(contracted_share):
            kw["contracted_share"] = _scalar(contracted_share, "contracted_share")
        path = rents_mod.blended_rent(_scalar(contract_rate, "contract_rate"), path,
                                      _count(contract_periods, "contract_periods", "periods", 0,
                                             low=0), **kw)
    return [np.asarray(path, dtype=float).reshape(-1).tolist()]


_PRESET_FIELDS = {
    "list_price_usd": "List price (USD)",
    "kw_per_gpu": "kW per GPU",
    "rent_usd_per_hour": "Rent (USD per GPU-hour)",
    "launch_date": "Launch date",
    "architecture": "Architecture",
    "curve_family": "Curve family",
}


@_func()
@_arg("gpu_model", f"GPU model: {', '.join(presets.PRESETS)}.")
@_arg("field", "One of " + ", ".join(_PRESET_FIELDS) + "; empty: the whole preset as a "
               "table.")
@_choices(field=Literal[tuple(_PRESET_FIELDS)])
@_udf()
def GPU_PRESET(gpu_model, field=None):
    """A GPU model's preset figure (price, kW, rent, launch date ...), or all as a table."""
    preset = presets.get_preset(_text(gpu_model, "gpu_model"))
    if _omitted(field, zero_is_empty=True):
        items = {label: getattr(preset, key) for key, label in _PRESET_FIELDS.items()}
        items.update({f"Curve {k}": float(v) for k, v in preset.curve_params.items()})
        return _label_table(items, "Field")
    key = _text(field, "field").lower()
    if key not in _PRESET_FIELDS:
        raise GpuCreditError(f"field must be one of {', '.join(_PRESET_FIELDS)}, got {key!r}",
                             argument="field", value=key)
    return getattr(preset, key)


# =============================================================================== fleet

_CFADS_LINES = [f.name for f in dataclasses.fields(fleet.FleetCashFlows)]
_CFADS_OPTIONS = ("contracted_share", "contract_rate", "kw_per_gpu", "pue", "price_per_kwh",
                  "colocation_per_kw_month", "other_opex_per_gpu_year",
                  "maintenance_capex_per_gpu_year", "tax_rate")


@_func()
@_arg("gpus", "GPUs installed.")
@_arg("utilization", "Utilization of the merchant GPUs (share): one value or a path like "
                     "merchant_rent.")
@_arg("merchant_rent", "Market rent in USD per GPU-hour each period: a row or column "
                       "(e.g. GPU_RENT_PATH); sets the periods.")
@_arg("periods_per_year", f"Periods a year: 1, 2, 4 or 12. Default {PERIODS_PER_YEAR}.")
@_arg("contracted_share", "Share of GPUs under take-or-pay contract (one value or a path)."
                          + _dflt(fleet.cfads, "contracted_share"))
@_arg("contract_rate", "Contract rate, USD per GPU-hour (one value or a path)."
                       + _dflt(fleet.cfads, "contract_rate"))
@_arg("kw_per_gpu", "IT power per GPU in kW, all-in." + _dflt(fleet.cfads, "kw_per_gpu"))
@_arg("pue", "Power usage effectiveness." + _dflt(fleet.cfads, "pue"))
@_arg("price_per_kwh", "Electricity price, USD per kWh." + _dflt(fleet.cfads, "price_per_kwh"))
@_arg("colocation_per_kw_month", "Colocation, USD per kW-month (0: owned site)."
                                 + _dflt(fleet.cfads, "colocation_per_kw_month"))
@_arg("other_opex_per_gpu_year", "Other cash opex, USD per GPU per year."
                                 + _dflt(fleet.cfads, "other_opex_per_gpu_year"))
@_arg("maintenance_capex_per_gpu_year", "Maintenance capex, USD per GPU per year."
                                        + _dflt(fleet.cfads, "maintenance_capex_per_gpu_year"))
@_arg("tax_rate", "Cash tax rate on positive taxable income." + _dflt(fleet.cfads, "tax_rate"))
@_arg("line", "Line to return: " + ", ".join(_CFADS_LINES) + ". Default cfads.")
@_choices(line=Literal[tuple(_CFADS_LINES)])
@_udf()
def GPU_CFADS(gpus, utilization, merchant_rent, periods_per_year=None, contracted_share=None,
              contract_rate=None, kw_per_gpu=None, pue=None, price_per_kwh=None,
              colocation_per_kw_month=None, other_opex_per_gpu_year=None,
              maintenance_capex_per_gpu_year=None, tax_rate=None, line=None):
    """A fleet's CFADS per period (or another line: revenue, power ...), shaped like the rent."""
    rent, orient = _series(merchant_rent, "merchant_rent")
    if orient == "block":
        raise GpuCreditError("merchant_rent must be one row or one column (one facility)",
                             argument="merchant_rent")
    what = _text(line, "line", "cfads").lower()
    if what not in _CFADS_LINES:
        raise GpuCreditError(f"line must be one of {', '.join(_CFADS_LINES)}, got {what!r}",
                             argument="line", value=what)
    kw = {}
    given = dict(zip(_CFADS_OPTIONS, (contracted_share, contract_rate, kw_per_gpu, pue,
                                      price_per_kwh, colocation_per_kw_month,
                                      other_opex_per_gpu_year,
                                      maintenance_capex_per_gpu_year, tax_rate), strict=True))
    for name, raw in given.items():
        if not _omitted(raw, zero_is_empty=name in ("kw_per_gpu", "pue")):  # 0 kW, PUE 0: none
            kw[name] = _param_or_path(raw, name, rent)
    flows = fleet.cfads(_scalar(gpus, "gpus"), _param_or_path(utilization, "utilization", rent),
                        rent, _whole(periods_per_year, "periods_per_year", PERIODS_PER_YEAR,
                                     zero_is_empty=True), **kw)
    return _like(getattr(flows, what), orient)


# =============================================================================== Monte Carlo

_MC_LABELS = {
    "p_dscr_below_1": "P(DSCR < 1 in some period)",
    "p_dscr_below_covenant": "P(DSCR < covenant in some period)",
    "p_ltv_above_1": "P(LTV > 100% in some period)",
    "pd": "PD over the tenor",
    "pd_se": "PD standard error",
    "lgd": "LGD",
    "expected_loss": "Expected loss (USD)",
    "el_se": "Expected loss standard error (USD)",
    "el_rate": "Expected loss / debt",
    "cvar_95": "CVaR 95% (USD)",
    "cvar_99": "CVaR 99% (USD)",
    "min_dscr_q05": "Min DSCR, 5th percentile",
    "min_dscr_q50": "Min DSCR, median",
    "min_dscr_q95": "Min DSCR, 95th percentile",
    "n_paths": "Paths",
    "seed": "Seed",
}
_MARKET = {f.name: f.default for f in dataclasses.fields(montecarlo.MarketModel)}


@_func(call_in_wizard=False)
@_arg("merchant_revenue", "Merchant revenue per period along the base rent path (USD): a "
                          "row or column.")
@_arg("other_cfads", "All other CFADS per period (contracted revenue less every cash cost), "
                     "shaped like merchant_revenue.")
@_arg("debt_service", "Debt service per period, shaped like merchant_revenue.")
@_arg("debt_outstanding", "Debt owed if default happens in each period, shaped like "
                          "merchant_revenue.")
@_arg("collateral_value", "Market value of the GPU collateral per period, shaped like "
                          "merchant_revenue.")
@_arg("liquidation_factor", "Share of collateral value a forced sale recovers (1 - haircut). "
                            "Default 1.")
@_arg("n_paths", "Simulated paths." + _dflt(montecarlo.simulate, "n_paths"))
@_arg("seed", "Random seed (same seed, same result)." + _dflt(montecarlo.simulate, "seed"))
@_arg("periods_per_year", f"Periods a year of the series: 1, 2, 4 or 12. Default "
                          f"{PERIODS_PER_YEAR}.")
@_arg("rho", f"Correlation of BTC and GPU-rent shocks. Default {_MARKET['rho']:g}.")
@_arg("btc_vol", f"Annual BTC volatility. Default {_MARKET['btc_vol']:g}.")
@_arg("rent_sigma", f"Annual volatility of the rent cycle. Default {_MARKET['rent_sigma']:g}.")
@_arg("copula", f"gaussian or t. Default {_MARKET['copula']}.")
@_arg("field", _FIELD_DOC.format("pd, lgd, expected_loss, cvar_99"))
@_arg("headers", _HEADERS_DOC)
@_choices(copula=Literal["gaussian", "t"], field=Literal[tuple(_MC_LABELS)])
@_udf()
def GPU_MONTE_CARLO(merchant_revenue, other_cfads, debt_service, debt_outstanding,
                    collateral_value, liquidation_factor=None, n_paths=None, seed=None,
                    periods_per_year=None, rho=None, btc_vol=None, rent_sigma=None,
                    copula=None, field=None, headers=None):
    """Monte Carlo of correlated BTC and GPU-rent paths: PD, LGD, expected loss, DSCR risk."""
    rev, orient = _series(merchant_revenue, "merchant_revenue")
    if orient == "block":
        raise GpuCreditError("merchant_revenue must be one row or one column (one facility)",
                             argument="merchant_revenue")
    series = {name: _series(raw, name)[0] for name, raw in (
        ("other_cfads", other_cfads), ("debt_service", debt_service),
        ("debt_outstanding", debt_outstanding), ("collateral_value", collateral_value))}
    exposure = montecarlo.FacilityExposure(
        facility_ids=["facility"], merchant_revenue=rev[None, :],
        debt_service=series["debt_service"][None, :],
        debt_outstanding=series["debt_outstanding"][None, :],
        collateral_value=series["collateral_value"][None, :],
        liquidation_factor=_scalar(liquidation_factor, "liquidation_factor", 1.0),
        other_cfads=series["other_cfads"][None, :])
    market = {}
    for name, raw in (("rho", rho), ("btc_vol", btc_vol), ("rent_sigma", rent_sigma)):
        if not _omitted(raw):
            market[name] = _scalar(raw, name)
    if not _omitted(copula, zero_is_empty=True):
        market["copula"] = _text(copula, "copula").lower()
    model = montecarlo.MarketModel(**market)
    kw = {}
    if not _omitted(n_paths, zero_is_empty=True):
        kw["n_paths"] = _count(n_paths, "n_paths", "paths")
    if not _omitted(seed):
        kw["seed"] = _whole(seed, "seed")
    kw["periods_per_year"] = _whole(periods_per_year, "periods_per_year", PERIODS_PER_YEAR,
                                    zero_is_empty=True)
    _check_work(kw.get("n_paths", _core_default(montecarlo.simulate, "n_paths")), rev.size)
    row = montecarlo.simulate(exposure, model, **kw).iloc[0]
    return _pick({k: row[k] for k in row.index if k in _MC_LABELS}, field, headers,
                 "Measure", _MC_LABELS)


# =============================================================================== scenarios

_FAC_FIELDS = [f.name for f in dataclasses.fields(model.Facilities) if f.name != "curve_params"]
_CURVE_PARAMS = sorted({p for fam in curves.FAMILIES for p in curves.family_parameters(fam)})


def _field_name(v, where: str) -> str:
    if not isinstance(v, str) or not v.strip():
        raise GpuCreditError(f"facility field names must be text, got {v!r}{where}",
                             argument="facility", value=v)
    name = "_".join(v.strip().lower().replace("-", " ").split())
    if name not in _FAC_FIELDS and name not in _CURVE_PARAMS:
        raise GpuCreditError(f"unknown facility field {v.strip()!r}{where}; fields are "
                             + ", ".join(_FAC_FIELDS + _CURVE_PARAMS),
                             argument="facility", value=v)
    return name


def _horizon(fac: model.Facilities, periods_per_year: int) -> int:
    """Periods the core will model for ``fac`` (its longest tenor or economic life),
    refused above ``LIMITS["periods"]`` before the core allocates anything."""
    try:
        tenor = float(np.max(np.asarray(fac.tenor, dtype=float)))
        life = float(np.max(np.asarray(fac.economic_life_years, dtype=float)))
        m = float(periods_per_year)
    except (TypeError, ValueError):
        return 1  # not numbers: the core says what is wrong
    n = max(tenor, math.ceil(life * m - 1e-9)) if math.isfinite(life * m) else math.inf
    if not n <= LIMITS["periods"]:
        raise GpuCreditError(f"the facility runs {n:,.0f} periods (tenor or economic life); "
                             f"one cell may model at most {LIMITS['periods']:,}",
                             argument="tenor", value=n)
    return max(1, int(n))


def _facilities(raw) -> model.Facilities:
    """Facilities from a range: (field, value) pairs in two columns, or a header row of
    fields with one facility per row below it."""
    g = _grid(raw)
    pairs = len(g[0]) == 2 and all(isinstance(r[0], str) for r in g) and len(g) > 1
    if pairs:
        names = [_field_name(r[0], f" (row {i + 1})") for i, r in enumerate(g)]
        rows = [[r[1] for r in g]]
    else:
        names = [_field_name(v, f" (column {j + 1})") for j, v in enumerate(g[0])]
        rows = [r for r in g[1:] if not all(_blank(v) for v in r)]
        if not rows:
            raise GpuCreditError("facility has a header row but no facility below it",
                                 argument="facility")
    kwargs, curve = {}, {}
    for j, name in enumerate(names):
        col = [r[j] for r in rows]
        if all(_blank(v) for v in col):
            continue  # the core's default
        if any(isinstance(v, str) and not v.strip().startswith("#") for v in col):
            value = [str(v).strip() for v in col]
        else:
            value = [_number(v, name, f" (facility {k + 1})") for k, v in enumerate(col)]
        value = value[0] if len(rows) == 1 else (np.asarray(value) if not isinstance(
            value[0], str) else value)
        (curve if name in _CURVE_PARAMS else kwargs)[name] = value
    if curve:
        kwargs["curve_params"] = curve
    try:
        return model.Facilities(**kwargs)
    except TypeError as exc:  # a required field is missing
        raise GpuCreditError(f"facility is incomplete: {exc}", argument="facility") from None


@_func(call_in_wizard=False)
@_arg("facility", "The facility: field names and values in two columns (gpus, "
                  "gpu_unit_cost, merchant_rent, utilization, debt, annual_rate, tenor ...), "
                  "or a header row of fields with one facility per row.")
@_arg("periods_per_year", f"Periods a year of the model: 1, 2, 4 or 12. Default "
                          f"{PERIODS_PER_YEAR}.")
@_arg("metrics", "Metrics to show, comma-separated (e.g. min_dscr,max_ltv_market). Default: "
                 "every deterministic metric.")
@_arg("n_paths", "Monte Carlo paths per scenario (adds PD, expected loss ...). Default none.")
@_arg("seed", "Random seed of the Monte Carlo." + _dflt(scenarios.run_scenarios, "seed"))
@_udf()
def GPU_SCENARIOS(facility, periods_per_year=None, metrics=None, n_paths=None, seed=None):
    """The standard stress grid (base, rent deflation 20/30/40%, step-down, BTC -50%, joint)."""
    fac = _facilities(facility)
    m = _whole(periods_per_year, "periods_per_year", PERIODS_PER_YEAR, zero_is_empty=True)
    _horizon(fac, m)
    kw = {}
    if not _omitted(n_paths, zero_is_empty=True):
        kw["n_paths"] = _count(n_paths, "n_paths", "paths")
        _check_work(kw["n_paths"], _horizon(fac, m), len(scenarios.STANDARD_SCENARIOS))
    if not _omitted(seed):
        kw["seed"] = _whole(seed, "seed")
    table = scenarios.run_scenarios(fac, m, **kw)
    default = list(scenarios.DETERMINISTIC_METRICS)
    if "n_paths" in kw:
        default += [c for c in scenarios.MONTE_CARLO_METRICS if c in table.columns]
    if _omitted(metrics, zero_is_empty=True):
        chosen = default
    else:
        chosen = [c.strip().lower() for c in _text(metrics, "metrics").split(",") if c.strip()]
        unknown = [c for c in chosen if c not in table.columns]
        if unknown:
            raise GpuCreditError(f"unknown metric {unknown[0]!r}; metrics are "
                                 + ", ".join(c for c in table.columns
                                             if c not in ("facility_id", "scenario")),
                                 argument="metrics", value=unknown[0])
    several = table["facility_id"].nunique() > 1
    lead = ["scenario", "facility_id"] if several else ["scenario"]
    cols = lead + chosen
    return _table(cols, table[cols].to_numpy(dtype=object).tolist())


# ================================================================== facilities as objects

_FACILITIES = handles.Repository()
"""Facilities made by GPU_FACILITY, evaluated once (bounded: handles.CAPACITY)."""
_RESULTS = handles.Repository()
"""Monte Carlo results of GPU_FACILITY_MC, cached on their inputs."""
_FACILITY_KIND = "gpu.fac"


@dataclasses.dataclass(frozen=True)
class _Facility:
    """What a facility handle stands for: inputs, time grid and the core's evaluation."""

    facilities: model.Facilities
    periods_per_year: int
    start: dt.date | None
    evaluation: model.Evaluation
    key: tuple


def _plain(v):
    """A facility field as plain, hashable Python (for the handle's digest)."""
    if isinstance(v, np.ndarray):
        return tuple(v.tolist())
    if isinstance(v, Mapping):
        return tuple(sorted((k, _plain(x)) for k, x in v.items()))
    if isinstance(v, (list, tuple)):
        return tuple(_plain(x) for x in v)
    return v


def _one_date(raw, name: str) -> dt.date | None:
    cells = [v for row in _grid(raw) for v in row]
    if len(cells) != 1:
        raise GpuCreditError(f"{name} must be one date", argument=name)
    return _date(cells[0], name)


@_func()
@_arg("facility", "The facility: field names and values in two columns (gpus, "
                  "gpu_unit_cost, merchant_rent, utilization, debt, annual_rate, tenor ...).")
@_arg("periods_per_year", f"Periods a year of the model: 1, 2, 4 or 12. Default "
                          f"{PERIODS_PER_YEAR}.")
@_arg("start_date", "Closing date; the schedule shows each period's end date. Default: "
                    "none (periods in years).")
@_udf()
def GPU_FACILITY(facility, periods_per_year=None, start_date=None):
    """A handle to one facility, evaluated once: use it in GPU_FACILITY_SCHEDULE/METRICS/MC."""
    fac = _facilities(facility)
    if fac.n != 1:
        raise GpuCreditError(f"facility must describe one facility, got {fac.n}: make one "
                             "GPU_FACILITY per facility and combine them with GPU_PORTFOLIO",
                             argument="facility", value=fac.n)
    m = _whole(periods_per_year, "periods_per_year", PERIODS_PER_YEAR, zero_is_empty=True)
    start = None if _omitted(start_date, zero_is_empty=True) else _one_date(start_date,
                                                                           "start_date")
    _horizon(fac, m)
    key = (_plain(dataclasses.asdict(fac)), m, start)
    _FACILITIES.memo(_FACILITY_KIND, key,  # evaluated once for these inputs
                     lambda: _Facility(fac, m, start, model.evaluate(fac, m), key))
    return _FACILITIES.name(_FACILITY_KIND, key)


def _facility(raw, name: str = "handle") -> _Facility:
    cells = [v for row in _grid(raw) for v in row]
    if len(cells) != 1:
        raise GpuCreditError(f"{name} must be one cell holding a facility handle",
                             argument=name)
    return _FACILITIES.get(cells[0], _FACILITY_KIND, name)


_SCHEDULE_COLUMNS = {
    "period": "Period", "revenue": "Revenue", "opex": "Opex",
    "maintenance_capex": "Maintenance capex", "tax": "Tax", "cfads": "CFADS",
    "opening_balance": "Opening balance", "draw": "Draw", "interest": "Interest",
    "principal": "Principal", "sweep": "Sweep", "balloon": "Balloon",
    "debt_service": "Debt service", "closing_balance": "Closing balance", "dscr": "DSCR",
    "llcr": "LLCR", "residual_value": "Residual value", "market_value": "Market value",
    "liquidation_value": "Liquidation value", "ltv_market": "LTV (market)",
    "ltv_liquidation": "LTV (liquidation)", "lgd": "LGD",
}


def _period_ends(start: dt.date, periods: np.ndarray, periods_per_year: int) -> list:
    step = 12 // periods_per_year
    return [add_months(start, int(k) * step) for k in periods]


@_func()
@_arg("handle", "A facility handle (the cell holding GPU_FACILITY).")
@_arg("headers", _HEADERS_DOC)
@_arg("periods", "Periods the table fills: rows after the tenor are empty cells up to this "
                 "many (a fixed range in a model whose tenor can change). Default: the "
                 "tenor.")
@_udf()
def GPU_FACILITY_SCHEDULE(handle, headers=None, periods=None):
    """The facility's period table: dates, CFADS, debt schedule, DSCR, LLCR, collateral, LTV."""
    f = _facility(handle)
    frame = f.evaluation.periods_frame()
    fill = _count(periods, "periods", "periods", len(frame), zero_is_empty=True)
    if fill < len(frame):
        raise GpuCreditError(f"periods is {fill} but the facility runs {len(frame)} periods "
                             "(its tenor): give at least the tenor", argument="periods",
                             value=fill)
    table = frame[list(_SCHEDULE_COLUMNS)].rename(columns=_SCHEDULE_COLUMNS)
    if f.start is not None:
        table.insert(1, "Period end", _period_ends(f.start, frame["period"].to_numpy(),
                                                  f.periods_per_year))
    else:
        table.insert(1, "Year", frame["year"].to_numpy())
    body = table.to_numpy(dtype=object).tolist()
    body += [[""] * len(table.columns)] * (fill - len(body))  # empty, not missing (#N/A)
    return _maybe_header(_table(list(table.columns), body), _headers(headers))


METRIC_FIELDS = ("debt", "tenor_years", "wal_years", "economic_life_years", "wal_to_life",
                  "life_gap_years", "min_dscr", "avg_dscr", "llcr", "plcr", "min_llcr",
                  "first_breach_lockup", "first_breach_default", "min_headroom_pct",
                  "min_headroom_usd", "breakeven_rent", "breakeven_rent_lockup",
                  "breakeven_utilization", "breakeven_deflation", "debt_capacity",
                  "market_value", "liquidation_value", "haircut", "ltv_market",
                  "ltv_liquidation", "max_ltv_market", "max_ltv_liquidation",
                  "first_collateral_shortfall", "borrowing_base", "required_prepayment",
                  "balloon", "refinancing_ltv_market", "refinancing_ltv_liquidation",
                  "lgd_now", "lgd_at_breach", "min_dscr_combined", "dscr_lockup",
                  "dscr_default")
MetricField = Literal[METRIC_FIELDS]  # type: ignore[valid-type]


@_func()
@_arg("handle", "A facility handle (the cell holding GPU_FACILITY).")
@_arg("field", "One metric to return (e.g. min_dscr, llcr, breakeven_rent, max_ltv_market); "
               "empty: every metric as a table.")
@_arg("headers", _HEADERS_DOC)
@_choices(field=MetricField)
@_udf()
def GPU_FACILITY_METRICS(handle, field=None, headers=None):
    """The facility's credit metrics (min DSCR, LLCR, PLCR, breakevens, LTV ...), or one."""
    row = _facility(handle).evaluation.metrics.iloc[0]
    return _pick({k: row[k] for k in METRIC_FIELDS if k in row.index}, field, headers,
                 "Metric")


_MC_FIELDS = tuple(_MC_LABELS)
McField = Literal[_MC_FIELDS]  # type: ignore[valid-type]


@_func(call_in_wizard=False)
@_arg("handle", "A facility handle (the cell holding GPU_FACILITY).")
@_arg("n_paths", "Simulated paths." + _dflt(model.simulate, "n_paths"))
@_arg("seed", "Random seed (same seed, same result)." + _dflt(model.simulate, "seed"))
@_arg("field", "One result to return (pd, lgd, expected_loss, cvar_99 ...); empty: the "
               "whole table.")
@_arg("headers", _HEADERS_DOC)
@_choices(field=McField)
@_udf()
def GPU_FACILITY_MC(handle, n_paths=None, seed=None, field=None, headers=None):
    """Monte Carlo of the facility (PD, LGD, expected loss, CVaR), cached on its inputs."""
    f = _facility(handle)
    paths = _count(n_paths, "n_paths", "paths", _core_default(model.simulate, "n_paths"),
                   zero_is_empty=True)
    s = _whole(seed, "seed", _core_default(model.simulate, "seed"))
    _check_work(paths, f.evaluation.dscr.shape[1])
    result = _RESULTS.memo("gpu.mc", (f.key, paths, s), lambda: model.simulate(
        f.facilities, f.periods_per_year, n_paths=paths, seed=s).iloc[0])
    return _pick({k: result[k] for k in _MC_FIELDS if k in result.index}, field, headers,
                 "Measure", _MC_LABELS)


@_func()
@_arg("handles", "Facility handles: a range of GPU_FACILITY cells (empty cells skipped).")
@_arg("metrics", "Metrics to show, comma-separated (e.g. min_dscr,llcr,max_ltv_market). "
                 "Default: debt, min_dscr, avg_dscr, llcr, breakeven_rent, max_ltv_market.")
@_arg("headers", _HEADERS_DOC)
@_udf()
def GPU_PORTFOLIO(handles, metrics=None, headers=None):
    """One row per facility handle with its metrics, for a portfolio on one sheet."""
    cells = [v for row in _grid(handles) for v in row if not _blank(v) and v != 0]
    if not cells:
        raise GpuCreditError("handles is empty: give a range of GPU_FACILITY cells",
                             argument="handles")
    if _omitted(metrics, zero_is_empty=True):
        chosen = ["debt", "min_dscr", "avg_dscr", "llcr", "breakeven_rent", "max_ltv_market"]
    else:
        chosen = [c.strip().lower() for c in _text(metrics, "metrics").split(",") if c.strip()]
        unknown = [c for c in chosen if c not in METRIC_FIELDS]
        if unknown:
            raise GpuCreditError(f"unknown metric {unknown[0]!r}; metrics are "
                                 + ", ".join(METRIC_FIELDS), argument="metrics",
                                 value=unknown[0])
    rows = []
    for k, h in enumerate(cells):
        row = _FACILITIES.get(h, _FACILITY_KIND, f"handles (cell {k + 1})").evaluation.metrics
        rows.append([h, *(row.iloc[0][c] for c in chosen)])
    return _maybe_header(_table(["Facility", *chosen], rows), _headers(headers))


# =============================================================================== registry

def udf_names() -> list[str]:
    """Names of every worksheet function in this module, sorted.

    >>> names = udf_names()
    >>> all(n.startswith("GPU_") for n in names), "GPU_DSCR" in names
    (True, True)
    """
    return sorted(n for n, obj in globals().items()
                  if n.startswith("GPU_") and callable(obj))


# ``from gpucredit.udfs import *`` brings every GPU_ function (xlwings Lite's main.py can).
__all__ += udf_names()
