"""Per-cell budgets for workbook recalculation: one cell cannot take the machine.

A formula that asks for more than a budget gets ``#VALUE!`` in its own cell, carrying
the reason that the run reports with the cell's address; the rest of the workbook is
computed. The budgets:

* **Text.** A cell holds at most :data:`MAX_TEXT` characters, Excel's own limit [1]_,
  where Excel also answers ``#VALUE!``. ``REPT`` and ``SUBSTITUTE`` are checked *before*
  they build their text (``REPT("x", 1e9)`` would otherwise ask for a gigabyte); ``&``,
  ``CONCAT``, ``CONCATENATE`` and ``TEXTJOIN``, whose inputs are already bounded, after.
* **Worksheet functions.** A ``GPU_`` call may ask for at most :data:`MAX_PERIODS`
  periods (``n_periods``, ``contract_periods``), :data:`MAX_PATHS` Monte Carlo paths, and
  :data:`MAX_PATH_CELLS` paths x input cells (the size of one simulated array).

References
----------
.. [1] Microsoft, "Excel specifications and limits": total number of characters that a
   cell can contain, 32,767.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["MAX_PATHS", "MAX_PATH_CELLS", "MAX_PERIODS", "MAX_TEXT", "gpu_overrun",
           "install_text_guards", "overrun"]

MAX_TEXT = 32_767
"""Characters in one cell (Excel's limit)."""
MAX_PERIODS = 12_000
"""Periods one worksheet-function call may ask for (1,000 years of months)."""
MAX_PATHS = 1_000_000
"""Monte Carlo paths one worksheet-function call may ask for."""
MAX_PATH_CELLS = 20_000_000
"""Paths x input cells of one call: one float64 array of this size is 160 MB."""

_PERIOD_ARGS = ("n_periods", "contract_periods")
_PATH_ARGS = ("n_paths",)


@functools.lru_cache(maxsize=1)
def _overrun_class():
    from formulas.tokens.operand import XlError

    class Overrun(XlError):
        """``#VALUE!`` that remembers why (the engine passes it on like any error)."""

        def __new__(cls, reason: str):
            obj = super().__new__(cls, "#VALUE!")
            obj.reason = reason
            return obj

    return Overrun


def overrun(reason: str):
    """An Excel ``#VALUE!`` error for the engine, carrying ``reason``."""
    return _overrun_class()(reason)


# =============================================================================== text

def _too_long(n: int):
    return overrun(f"a text of {n:,} characters; a cell holds at most {MAX_TEXT:,}")


def _capped(value):
    if isinstance(value, str) and len(value) > MAX_TEXT:
        return _too_long(len(value))
    if isinstance(value, np.ndarray) and value.dtype == object:
        out = value.copy()
        for idx, v in np.ndenumerate(value):
            if isinstance(v, str) and len(v) > MAX_TEXT:
                out[idx] = _too_long(len(v))
        return out
    return value


def _after(func):
    @functools.wraps(func)
    def guarded(*args, **kwargs):
        return _capped(func(*args, **kwargs))

    return guarded


def _rept(inner):
    from formulas.functions import replace_empty
    from formulas.functions.text import _str

    def rept(text, number_times):
        try:
            n = len(_str(text)) * int(float(replace_empty(number_times)))
        except (TypeError, ValueError, OverflowError):
            n = 0  # not a number: the engine's own function says what is wrong
        return _too_long(n) if n > MAX_TEXT else inner(text, number_times)

    return rept


def _substitute(inner):
    from formulas.functions.text import _str

    def substitute(text, old_text, new_text, instance_num=None):
        try:
            t, o, n = (_str(v) for v in (text, old_text, new_text))
            size = len(t) + (t.count(o) * max(len(n) - len(o), 0) if o else 0)
        except (TypeError, ValueError):
            size = 0
        if size > MAX_TEXT:
            return _too_long(size)
        return inner(text, old_text, new_text, instance_num)

    return substitute


_INSTALLED: list[bool] = []


def install_text_guards() -> None:
    """Put the text budget into the ``formulas`` engine's functions (idempotent)."""
    if _INSTALLED:
        return
    import formulas
    from formulas.functions import replace_empty, text, wrap_ufunc
    from formulas.functions.operators import OPERATORS

    funcs = formulas.get_functions()
    funcs["REPT"] = wrap_ufunc(_rept(text.xrept), **text._kw0)
    funcs["SUBSTITUTE"] = wrap_ufunc(
        _substitute(text.xsubstitute), input_parser=lambda *a: a,
        args_parser=lambda *a: (replace_empty(v, "") for v in a))
    for name in ("CONCAT", "_XLFN.CONCAT", "CONCATENATE", "_XLFN.CONCATENATE", "TEXTJOIN",
                 "_XLFN.TEXTJOIN"):
        if name in funcs:
            funcs[name] = _after(funcs[name])
    OPERATORS["&"] = _after(OPERATORS["&"])
    _INSTALLED.append(True)


# =============================================================================== GPU_ calls

def _number(v) -> float | None:
    if isinstance(v, np.ndarray):
        if v.size != 1:
            return None
        v = v.reshape(-1)[0]
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if np.isfinite(x) else None


def gpu_overrun(name: str, params: list[str], args: tuple):
    """The budget error for a ``GPU_`` call, or None when it is within budget.

    Parameters
    ----------
    name : str
        The worksheet function's name (for the message).
    params : list of str
        Its parameter names, in order.
    args : tuple
        The arguments as the engine passes them (scalars or arrays).
    """
    given = dict(zip(params, args, strict=False))
    for p in _PERIOD_ARGS:
        n = _number(given.get(p))
        if n is not None and n > MAX_PERIODS:
            return overrun(f"{name} asks for {p} = {n:,.0f}; at most {MAX_PERIODS:,}")
    for p in _PATH_ARGS:
        n = _number(given.get(p))
        if n is None:
            continue
        if n > MAX_PATHS:
            return overrun(f"{name} asks for {p} = {n:,.0f}; at most {MAX_PATHS:,}")
        cells = max((np.size(a) for a in args), default=1)
        if n * cells > MAX_PATH_CELLS:
            return overrun(f"{name} asks for {n:,.0f} paths x {cells:,} input cells = "
                           f"{n * cells:,.0f}; at most {MAX_PATH_CELLS:,}")
    return None
