"""Argument checking and shape conventions shared by every core module.

Conventions (see ``docs/methodology.md``, "Conventions"):

* A *facility parameter* is a scalar (one facility) or a 1-D array of shape ``(F,)``
  (a portfolio). :func:`param` returns it with a trailing axis, shape ``()`` or
  ``(F, 1)``, so that it broadcasts against period series.
* A *period series* is 1-D ``(T,)`` (one facility, or one path shared by all) or 2-D
  ``(F, T)``: time runs along the last axis. :func:`series` returns it as a float array
  of at least one dimension.
* Problems raise :class:`~gpucredit.errors.GpuCreditError` naming the argument, the value
  and its position.
"""

from __future__ import annotations

import numpy as np

from gpucredit.errors import GpuCreditError

__all__ = [
    "check_finite",
    "check_periods_per_year",
    "check_range",
    "check_same_periods",
    "common_shape",
    "facility_count",
    "param",
    "param_or_path",
    "series",
    "where",
]


def where(arr: np.ndarray, mask: np.ndarray) -> str:
    """Describe the first position in ``arr`` where ``mask`` holds, in analyst terms.

    >>> where(np.array([[1.0, 2.0], [3.0, -1.0]]), np.array([[False, False], [False, True]]))
    'facility 2, period 2'
    >>> where(np.array([1.0, -2.0]), np.array([False, True]))
    'position 2'
    >>> where(np.array(5.0), np.array(True))
    ''
    """
    mask = np.asarray(mask)
    if mask.ndim == 0:
        return ""
    idx = tuple(int(i) for i in np.argwhere(mask)[0])
    if len(idx) == 1:
        return f"position {idx[0] + 1}"
    if len(idx) == 2:
        return f"facility {idx[0] + 1}, period {idx[1] + 1}"
    return "index " + ", ".join(str(i + 1) for i in idx)


def _first_bad(arr: np.ndarray, mask: np.ndarray) -> tuple[float, str]:
    mask = np.asarray(mask)
    if mask.ndim == 0:
        return float(arr), ""
    pos = np.argwhere(mask)[0]
    return float(arr[tuple(pos)]), " (" + where(arr, mask) + ")"


def _as_float(x, name: str) -> np.ndarray:
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise GpuCreditError(f"{name} must be a number or an array of numbers, got {x!r}",
                             argument=name, value=x) from None
    return arr


def check_finite(arr, name: str) -> np.ndarray:
    """Return ``arr`` as floats, raising if any value is NaN or infinite.

    >>> check_finite([1.0, float("nan")], "rent")
    Traceback (most recent call last):
    ...
    gpucredit.errors.GpuCreditError: rent must be a finite number, got nan (position 2)
    """
    arr = _as_float(arr, name)
    bad = ~np.isfinite(arr)
    if bad.any():
        value, pos = _first_bad(arr, bad)
        raise GpuCreditError(f"{name} must be a finite number, got {value:g}{pos}",
                             argument=name, value=value)
    return arr


def check_range(arr, name: str, low: float | None = None, high: float | None = None,
                *, low_open: bool = False, high_open: bool = False) -> np.ndarray:
    """Return ``arr`` as finite floats, raising if any value lies outside [low, high].

    ``low_open``/``high_open`` make the bound strict.

    >>> check_range(0.5, "utilization", 0, 1)
    array(0.5)
    >>> check_range([0.9, 1.2], "utilization", 0, 1)
    Traceback (most recent call last):
    ...
    gpucredit.errors.GpuCreditError: utilization must be between 0 and 1, got 1.2 (position 2)
    >>> check_range(0, "target_dscr", 0, low_open=True)
    Traceback (most recent call last):
    ...
    gpucredit.errors.GpuCreditError: target_dscr must be > 0, got 0
    """
    arr = check_finite(arr, name)
    bad = np.zeros(arr.shape, dtype=bool)
    if low is not None:
        bad |= (arr <= low) if low_open else (arr < low)
    if high is not None:
        bad |= (arr >= high) if high_open else (arr > high)
    if bad.any():
        value, pos = _first_bad(arr, bad)
        if low is not None and high is not None and not (low_open or high_open):
            expect = f"between {low:g} and {high:g}"
        else:
            parts = []
            if low is not None:
                parts.append(f"{'>' if low_open else '>='} {low:g}")
            if high is not None:
                parts.append(f"{'<' if high_open else '<='} {high:g}")
            expect = " and ".join(parts)
        raise GpuCreditError(f"{name} must be {expect}, got {value:g}{pos}",
                             argument=name, value=value)
    return arr


def param(x, name: str, low: float | None = None, high: float | None = None,
          *, low_open: bool = False, high_open: bool = False) -> np.ndarray:
    """A facility parameter: scalar -> shape ``()``, ``(F,)`` -> shape ``(F, 1)``.

    The trailing axis lets it broadcast against ``(T,)`` or ``(F, T)`` period series.

    >>> param([0.8, 0.9], "utilization", 0, 1).shape
    (2, 1)
    >>> param(0.8, "utilization", 0, 1).shape
    ()
    >>> param([[1.0]], "gpus")
    Traceback (most recent call last):
    ...
    gpucredit.errors.GpuCreditError: gpus must be a single value or one value per facility ...
    """
    arr = check_range(x, name, low, high, low_open=low_open, high_open=high_open)
    if arr.ndim == 0:
        return arr
    if arr.ndim == 1:
        return arr[:, None]
    raise GpuCreditError(
        f"{name} must be a single value or one value per facility (a 1-D array), "
        f"got an array of shape {arr.shape}", argument=name, value=x)


def series(x, name: str, low: float | None = None, high: float | None = None,
           *, low_open: bool = False, high_open: bool = False) -> np.ndarray:
    """A period series: ``(T,)`` or ``(F, T)`` floats, time along the last axis.

    A scalar becomes a one-period series.

    >>> series([1, 2, 3], "cfads").shape
    (3,)
    >>> series(5.0, "cfads").shape
    (1,)
    """
    arr = check_range(x, name, low, high, low_open=low_open, high_open=high_open)
    if arr.ndim == 0:
        arr = arr[None]
    if arr.ndim > 2:
        raise GpuCreditError(
            f"{name} must be a series (periods) or a table (facilities x periods), "
            f"got an array of shape {arr.shape}", argument=name, value=x)
    return arr


def check_same_periods(**arrays: np.ndarray) -> int:
    """Check that every series has the same number of periods; return it.

    >>> check_same_periods(cfads=np.ones(4), debt_service=np.ones((2, 4)))
    4
    >>> check_same_periods(cfads=np.ones(4), debt_service=np.ones(5))
    Traceback (most recent call last):
    ...
    gpucredit.errors.GpuCreditError: cfads has 4 periods but debt_service has 5: ...
    """
    names = list(arrays)
    first = names[0]
    n = np.shape(arrays[first])[-1]
    for other in names[1:]:
        m = np.shape(arrays[other])[-1]
        if m != n:
            raise GpuCreditError(
                f"{first} has {n} periods but {other} has {m}: they must cover the same periods",
                argument=other, value=m)
    return int(n)


def check_periods_per_year(periods_per_year) -> int:
    """Periods a year must be 1 (annual), 2, 4 (quarterly) or 12 (monthly).

    >>> check_periods_per_year(12)
    12
    >>> check_periods_per_year(52)
    Traceback (most recent call last):
    ...
    gpucredit.errors.GpuCreditError: periods_per_year must be one of 1, 2, 4, 12, got 52
    """
    try:
        m = int(periods_per_year)
    except (TypeError, ValueError):
        m = None
    if m is None or m != periods_per_year or m not in (1, 2, 4, 12):
        raise GpuCreditError(
            f"periods_per_year must be one of 1, 2, 4, 12, got {periods_per_year!r}",
            argument="periods_per_year", value=periods_per_year)
    return m


def facility_count(**arrays: np.ndarray) -> int | None:
    """Facilities implied by arrays with a facility axis (2-D, more than one row).

    Facility parameters from :func:`gpucredit._checks.param` are ``(F, 1)`` and count;
    ``(T,)`` paths do not. Raises if two arrays disagree; returns None for one facility.
    """
    n, first = None, None
    for name, arr in arrays.items():
        if np.ndim(arr) == 2 and arr.shape[0] != 1:
            if n is None:
                n, first = arr.shape[0], name
            elif arr.shape[0] != n:
                raise GpuCreditError(
                    f"{first} has {n} facilities but {name} has {arr.shape[0]}: "
                    "they must cover the same facilities", argument=name, value=arr.shape[0])
    return n


def param_or_path(x, name: str, *, n_fac: int | None, n_periods: int | None,
                   low=None, high=None, low_open: bool = False) -> np.ndarray:
    """A value that is either a facility parameter or a period path.

    Scalar -> ``()``; 2-D -> as given (``(F, T)``, ``(F, 1)`` or ``(1, T)``); 1-D -> one
    value per facility ``(F, 1)`` when its length equals the number of facilities, else a
    path ``(T,)`` when its length equals the number of periods (or the number of periods
    is not fixed yet); otherwise one value per facility when no other argument fixes the
    facilities, and an error when one does.
    """
    arr = check_range(x, name, low, high, low_open=low_open)
    if arr.ndim == 0:
        return arr
    if arr.ndim == 1:
        n = arr.shape[0]
        if n_fac is not None and n == n_fac:
            return arr[:, None]
        if n_periods is None or n == n_periods:
            return arr
        if n_fac is None:
            return arr[:, None]
        raise GpuCreditError(
            f"{name} has {n} values: give one value, one per facility ({n_fac}) "
            f"or one per period ({n_periods})", argument=name, value=n)
    if arr.ndim == 2:
        return arr
    raise GpuCreditError(
        f"{name} must be a value, one value per facility or a series of periods, "
        f"got an array of shape {arr.shape}", argument=name, value=x)


def common_shape(**arrays: np.ndarray) -> tuple[int, ...]:
    """Broadcast shape of facility parameters and period series, with analyst-facing errors.

    Arrays whose time axis has length 1 (facility parameters, scalars) broadcast along
    time; every other array must cover the same periods and the same facilities.
    """
    timed = {k: v for k, v in arrays.items() if np.ndim(v) >= 1 and np.shape(v)[-1] != 1}
    if len(timed) > 1:
        check_same_periods(**timed)
    facility_count(**arrays)
    return np.broadcast_shapes(*(np.shape(v) for v in arrays.values()))
