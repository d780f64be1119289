"""Period conventions: the time grid every cash-flow function runs on.

* Periods are numbered ``t = 1 .. T``; flows are paid at the **end** of each period.
* ``periods_per_year`` is 1, 2, 4 or 12; a period lasts ``1 / periods_per_year`` years
  and ``HOURS_PER_YEAR / periods_per_year`` hours (8,760 / m: every period the same
  length, the convention of rental-yield models; calendar months are not used).
* Annual rates are nominal, compounded once a period: the per-period rate is
  ``annual_rate / periods_per_year`` (the loan-document convention for SOFR + spread).
* Age at the end of period ``t`` is ``age0 + t / periods_per_year`` years.
* Dated outputs (a schedule's period ends, a tape's valuation calendar) step whole
  calendar months from a start date (:func:`add_months`).
"""

from __future__ import annotations

import calendar
import datetime as dt

import numpy as np

from gpucredit._checks import check_periods_per_year, param

__all__ = ["HOURS_PER_YEAR", "add_months", "add_months_days", "ages", "period_ends",
           "period_hours", "periodic_rate", "periods_between", "periods_between_days"]

HOURS_PER_YEAR = 8760.0
"""Hours in a (non-leap) year, the GPU-hour convention of docs/sources.md."""


def period_hours(periods_per_year: int) -> float:
    """Hours in one period.

    >>> period_hours(12)
    730.0
    """
    return HOURS_PER_YEAR / check_periods_per_year(periods_per_year)


def period_ends(n_periods: int, periods_per_year: int) -> np.ndarray:
    """Time in years at the end of each period ``1..T``.

    >>> period_ends(4, 4)
    array([0.25, 0.5 , 0.75, 1.  ])
    """
    m = check_periods_per_year(periods_per_year)
    return np.arange(1, int(n_periods) + 1, dtype=float) / m


def periodic_rate(annual_rate, periods_per_year: int) -> np.ndarray:
    """Per-period rate from a nominal annual rate: ``r / m``.

    >>> float(periodic_rate(0.12, 12))
    0.01
    """
    m = check_periods_per_year(periods_per_year)
    return np.asarray(annual_rate, dtype=float) / m


def ages(n_periods: int, periods_per_year: int, age0=0.0) -> np.ndarray:
    """Asset age in years at the end of each period: ``age0 + t / m``.

    ``age0`` is a facility parameter; the result is ``(T,)`` or ``(F, T)``.

    >>> ages(3, 1, age0=[0.0, 2.0])
    array([[1., 2., 3.],
           [3., 4., 5.]])
    """
    a0 = param(age0, "age0", 0)
    return a0 + period_ends(n_periods, periods_per_year)


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by whole months; a month-end stays a month-end.

    >>> add_months(dt.date(2026, 6, 30), 3), add_months(dt.date(2026, 1, 31), 1)
    (datetime.date(2026, 9, 30), datetime.date(2026, 2, 28))
    """
    y, mth = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, mth + 1
    last = calendar.monthrange(year, month)[1]
    month_end = day.day == calendar.monthrange(day.year, day.month)[1]
    return dt.date(year, month, last if month_end else min(day.day, last))


def add_months_days(day, months) -> np.ndarray:
    """:func:`add_months` of days (datetime64[D]) element by element: a month-end stays a
    month-end, another day keeps its number up to the month's end.

    >>> add_months_days(np.array(["2026-06-30", "2026-01-31", "2026-01-15"],
    ...                          dtype="datetime64[D]"), 3)
    array(['2026-09-30', '2026-04-30', '2026-04-15'], dtype='datetime64[D]')
    """
    day = np.asarray(day, dtype="datetime64[D]")
    month = day.astype("datetime64[M]")
    month_end = day == (month + 1).astype("datetime64[D]") - 1
    target = month + months
    last = (target + 1).astype("datetime64[D]") - 1
    same_day = target.astype("datetime64[D]") + (day - month.astype("datetime64[D]"))
    return np.where(month_end, last, np.minimum(same_day, last))


def periods_between(start, end, periods_per_year: int, *, whole: bool) -> int:
    """Payment periods of ``12 / m`` calendar months from ``start`` to ``end``.

    ``whole=False``: the fewest periods whose end reaches ``end`` (a remaining tenor: a
    part period counts whole). ``whole=True``: the periods that have fully ended by
    ``end`` (periods elapsed, or a contract's periods). Period ends fall on the same day
    of the month as ``start`` (:func:`add_months`).

    >>> periods_between(dt.date(2026, 6, 30), dt.date(2029, 6, 30), 4, whole=False)
    12
    >>> periods_between(dt.date(2026, 6, 30), dt.date(2026, 10, 15), 4, whole=False)
    2
    >>> periods_between(dt.date(2025, 6, 30), dt.date(2026, 6, 30), 4, whole=True)
    4
    """
    return int(periods_between_days(np.datetime64(start, "D"), np.datetime64(end, "D"),
                                    periods_per_year, whole=whole))


def periods_between_days(start, end, m: int, *, whole: bool) -> np.ndarray:
    """:func:`periods_between` of days (datetime64[D]), element by element (a blank
    ``end`` gives a meaningless count): from a first guess a period short of the calendar
    months between them, step until the period ends (:func:`add_months_days`) pass
    ``end``."""
    start, end = np.broadcast_arrays(np.asarray(start, "datetime64[D]"),
                                     np.asarray(end, "datetime64[D]"))
    step = 12 // int(m)
    months = (end.astype("datetime64[M]") - start.astype("datetime64[M]")).astype(np.int64)
    n = np.maximum(0, months // step - 1)
    if whole:
        while (more := add_months_days(start, (n + 1) * step) <= end).any():
            n = n + more
        while (fewer := (n > 0) & (add_months_days(start, n * step) > end)).any():
            n = n - fewer
        return n
    while (more := add_months_days(start, n * step) < end).any():
        n = n + more
    return n
