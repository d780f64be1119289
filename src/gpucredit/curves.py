"""Residual-value curves: what a GPU is worth, as a fraction of its cost, as it ages.

Every curve maps an age in years to a value in ``[0, 1]`` (a fraction of the original
cost, 1 when new) that never rises with age. The families are the ones docs/sources.md lists:

* :func:`straight_line` - the accounting view, straight to a salvage value;
* :func:`declining_balance` - a constant share of value lost each year;
* :func:`exponential_floor` - exponential decay towards a floor (the fit to the
  practitioner resale curve);
* :func:`logistic` - "hold then fall": the value holds, then drops towards a floor;

and two multipliers that compose with any of them:

* :func:`generation_steps` - a step down at each successor generation's volume date;
* :func:`attrition` - the share of GPUs still working (physical failures).

:func:`residual_value` picks a family by name and composes the multipliers.

Shapes follow ``gpucredit._checks``: ``age`` may have any shape, typically ``(T,)`` or
``(F, T)`` from :func:`gpucredit.periods.ages`; curve parameters are facility parameters
(a scalar, or one value per facility ``(F,)``), which broadcast against the last axis of
``age``. With a scalar ``age`` an ``(F,)`` parameter gives an ``(F,)`` result. A scalar
``age`` with scalar parameters gives a Python ``float``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy.special import expit

from gpucredit._checks import check_range, param
from gpucredit.errors import GpuCreditError

__all__ = [
    "FAMILIES",
    "attrition",
    "declining_balance",
    "exponential_floor",
    "family_parameters",
    "generation_steps",
    "logistic",
    "residual_value",
    "step_ages_from_dates",
    "straight_line",
]

FAMILIES = ("straight_line", "declining_balance", "exponential_floor", "logistic")
"""Names of the curve families :func:`residual_value` accepts."""


# --------------------------------------------------------------------------- helpers

def _age(age) -> np.ndarray:
    """Ages in years as finite floats >= 0."""
    return check_range(age, "age", 0)


def _fparam(x, name: str, age: np.ndarray, low=None, high=None, **kw) -> np.ndarray:
    """A facility parameter lined up with ``age``: ``(F, 1)``, or ``(F,)`` for a scalar age."""
    p = param(x, name, low, high, **kw)
    if age.ndim == 0 and p.ndim == 2:
        p = p[:, 0]
    return p


def _line_up(age: np.ndarray, **params: np.ndarray) -> None:
    """Raise a readable error when the facility parameters do not broadcast with ``age``."""
    try:
        np.broadcast_shapes(age.shape, *(p.shape for p in params.values()))
    except ValueError:
        sizes = ", ".join(f"{k} has {v.shape[0]} values" for k, v in params.items() if v.ndim)
        raise GpuCreditError(
            f"age of shape {age.shape} does not line up with the facility parameters "
            f"({sizes}): give one value per facility and ages as (T,) or (F, T)",
            argument="age", value=age.shape) from None


def _out(x):
    """A Python float for a 0-d result, else the array."""
    x = np.asarray(x, dtype=float)
    return float(x) if x.ndim == 0 else x


def _as_datetime(x, name: str) -> np.ndarray:
    """Dates (``datetime.date``, ``datetime64``, ``pd.Timestamp``, ISO strings) as
    ``datetime64[ns]`` of the same shape; ``None``/``NaT`` stay ``NaT``. Numbers are
    refused, since pandas would read them as nanoseconds after 1970."""
    arr = np.asarray(x)
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[ns]")
    obj = np.asarray(x, dtype=object)
    flat = obj.ravel()
    kind = pd.api.types.infer_dtype(flat, skipna=True)
    numeric = {"integer", "floating", "mixed-integer", "mixed-integer-float", "decimal",
               "complex", "boolean"}
    bad = kind in numeric or (kind == "mixed" and any(
        isinstance(v, (int, float, complex, np.number)) and not pd.isna(v) for v in flat))
    if not bad:
        try:
            parsed = pd.to_datetime(flat, format="mixed")
        except (TypeError, ValueError, OverflowError):
            bad = True
    if bad:
        raise GpuCreditError(
            f"{name} must be dates (datetime.date, numpy datetime64, pandas Timestamp or "
            f"'YYYY-MM-DD'), got {x!r}", argument=name, value=x)
    return np.asarray(parsed, dtype="datetime64[ns]").reshape(obj.shape)


def _years_between(start: np.ndarray, end: np.ndarray, days_per_year: float) -> np.ndarray:
    """Years from ``start`` to ``end`` (datetime64 arrays); NaT gives NaN."""
    return (end - start) / np.timedelta64(1, "D") / days_per_year


def _step_table(step_ages, name: str) -> np.ndarray:
    """Step ages as a float array ``(k,)`` (shared) or ``(F, k)``; NaN pads ragged rows."""
    try:
        s = np.asarray(step_ages, dtype=float)
    except (TypeError, ValueError):
        raise GpuCreditError(f"{name} must be numbers (years), got {step_ages!r}",
                             argument=name, value=step_ages) from None
    if s.ndim == 0:
        s = s[None]
    if s.ndim > 2:
        raise GpuCreditError(
            f"{name} must be one list of step ages shared by all facilities (k,) or one row "
            f"per facility (F, k), got an array of shape {s.shape}", argument=name, value=s.shape)
    if np.isinf(s).any():
        raise GpuCreditError(f"{name} must be finite numbers or NaN (no step), got inf",
                             argument=name, value=float("inf"))
    return s


def _steps_passed(times: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """How many steps ``s`` with ``0 < s <= time`` each time has passed.

    ``steps`` is ``(k,)`` shared, or ``(F, k)`` lined up like a facility parameter: the
    facility axis meets the second-to-last axis of ``times`` (or replaces a scalar time).
    """
    if steps.ndim == 2 and times.ndim > 0:
        steps = steps[:, None, :]
    live = steps > 0  # a successor already at volume is in the purchase price (NaN: False)
    try:
        passed = (times[..., None] >= steps) & live
    except ValueError:
        raise GpuCreditError(
            f"step ages have {steps.shape[0]} facility rows but age has shape {times.shape}: "
            "give one row of step ages per facility", argument="step_ages",
            value=steps.shape) from None
    return passed.sum(axis=-1)


# --------------------------------------------------------------------------- families

def straight_line(age, life=6.0, salvage=0.0):
    """Straight-line depreciation to a salvage value: the accounting view.

    Parameters
    ----------
    age : float or array_like
        Age in years, >= 0, any shape.
    life : float or array_like, default 6.0
        Useful life in years (> 0), a facility parameter. Default 6 years: the
        depreciation life Microsoft, Alphabet and CoreWeave use (Meta 5.5, Amazon 5 for
        part of its fleet, Nebius 4; critics argue 2-3), docs/sources.md "Obsolescence".
    salvage : float or array_like, default 0.0
        Value left at the end of the life, as a fraction of cost, in [0, 1].

    Returns
    -------
    float or ndarray
        Value as a fraction of cost, in [salvage, 1].

    Notes
    -----
    .. math:: V(a) = 1 - (1 - S)\\,\\min(a / L,\\ 1)

    The value falls by ``(1 - S) / L`` a year until age ``L`` and stays at ``S`` after.

    References
    ----------
    .. [1] docs/sources.md, "Obsolescence and rents": depreciation lives in use (company
       filings).

    Examples
    --------
    >>> straight_line(3.0)
    0.5
    >>> round(straight_line(2.0, life=4.0, salvage=0.2), 4)
    0.6
    >>> straight_line([0.0, 3.0, 9.0], life=[6.0, 3.0])
    array([[1. , 0.5, 0. ],
           [1. , 0. , 0. ]])
    """
    a = _age(age)
    life_ = _fparam(life, "life", a, 0, low_open=True)
    s = _fparam(salvage, "salvage", a, 0, 1)
    _line_up(a, life=life_, salvage=s)
    return _out(1.0 - (1.0 - s) * np.minimum(a / life_, 1.0))


def declining_balance(age, rate=None, half_life=None):
    """Declining balance (exponential decay): a constant share of value lost each year.

    Give ``rate`` or ``half_life``, not both. With neither, ``rate = 0.30``.

    Parameters
    ----------
    age : float or array_like
        Age in years, >= 0, any shape.
    rate : float or array_like, optional
        Share of value lost each year, in [0, 1), a facility parameter. When neither
        ``rate`` nor ``half_life`` is given, 0.30: the middle of the 20-40% a year band
        of docs/sources.md (the unit cost of inference falls 20-40% a year; Epoch AI's $/FLOP
        falls 21-28% a year; SpotWire measured A100-SXM4 resale prices falling 28% a year).
    half_life : float or array_like, optional
        Years for the value to halve (> 0), a facility parameter.

    Returns
    -------
    float or ndarray
        Value as a fraction of cost, in (0, 1].

    Notes
    -----
    .. math:: V(a) = e^{-\\lambda a}, \\qquad
              \\lambda = -\\ln(1 - d) \\ \\text{or}\\ \\lambda = \\ln 2 / h

    so ``V(a) = (1 - d)^a``: ``d`` is lost over each whole year. The half-life is
    ``ln 2 / lambda``; d = 20%, 30%, 40% give 3.1, 1.9 and 1.4 years (docs/sources.md).

    References
    ----------
    .. [1] docs/sources.md, "Obsolescence and rents": declining balance and half-lives; Epoch
       AI, FLOP/s per dollar trends; SpotWire used-GPU price decay.

    Examples
    --------
    >>> round(declining_balance(1.0, rate=0.3), 4)
    0.7
    >>> round(declining_balance(2.0, half_life=2.0), 4)
    0.5
    >>> declining_balance(1.0, rate=0.3, half_life=2.0)
    Traceback (most recent call last):
    ...
    gpucredit.errors.GpuCreditError: declining_balance takes rate or half_life, not both ...
    """
    a = _age(age)
    if rate is not None and half_life is not None:
        raise GpuCreditError(
            f"declining_balance takes rate or half_life, not both "
            f"(got rate={rate!r}, half_life={half_life!r})", argument="half_life", value=half_life)
    if half_life is not None:
        h = _fparam(half_life, "half_life", a, 0, low_open=True)
        lam = np.log(2.0) / h
    else:
        d = _fparam(0.30 if rate is None else rate, "rate", a, 0, 1, high_open=True)
        lam = -np.log1p(-d)
    _line_up(a, lam=lam)
    return _out(np.exp(-lam * a))


def exponential_floor(age, lam=0.46, floor=0.03):
    """Exponential decay towards a floor value.

    Parameters
    ----------
    age : float or array_like
        Age in years, >= 0, any shape.
    lam : float or array_like, default 0.46
        Decay rate per year (>= 0), a facility parameter.
    floor : float or array_like, default 0.03
        Value the curve tends to, as a fraction of cost, in [0, 1].

    Returns
    -------
    float or ndarray
        Value as a fraction of cost, in [floor, 1].

    Notes
    -----
    .. math:: V(a) = F + (1 - F)\\,e^{-\\lambda a}

    computed as ``1 - (1 - F)(1 - e^{-lambda a})`` so that ``V(0) = 1`` exactly. The
    defaults, lambda = 0.46 and F = 3%, are docs/sources.md's least-squares fit to the
    practitioner resale curve (60-65% of cost after year 1, 40-45% year 2, 25-35% year 3,
    15-20% year 4, 10-15% year 5; a weak source).

    References
    ----------
    .. [1] docs/sources.md, "Obsolescence and rents": practitioner residual curve and its
       exponential-with-floor fit.

    Examples
    --------
    >>> round(exponential_floor(1.0), 3)   # 0.03 + 0.97 e^-0.46
    0.642
    >>> round(exponential_floor(50.0), 3)
    0.03
    """
    a = _age(age)
    lam_ = _fparam(lam, "lam", a, 0)
    f = _fparam(floor, "floor", a, 0, 1)
    _line_up(a, lam=lam_, floor=f)
    return _out(1.0 - (1.0 - f) * -np.expm1(-lam_ * a))


def logistic(age, hold_years=2.0, steepness=2.0, floor=0.0):
    """"Hold then fall": the value holds near cost, then drops along a logistic curve.

    Parameters
    ----------
    age : float or array_like
        Age in years, >= 0, any shape.
    hold_years : float or array_like, default 2.0
        Age in years (>= 0) at the middle of the fall: the logistic's centre, a facility
        parameter. Default 2 years: docs/sources.md's "value holds about two years, then drops".
    steepness : float or array_like, default 2.0
        Logistic slope k per year (>= 0). With k = 2 the fall from 90% to 10% of the
        logistic takes 2 ln 9 / k, about 2.2 years (our estimate; docs/sources.md gives no figure).
    floor : float or array_like, default 0.0
        Value the curve tends to, as a fraction of cost, in [0, 1].

    Returns
    -------
    float or ndarray
        Value as a fraction of cost, in [floor, 1].

    Notes
    -----
    With the logistic :math:`g(a) = 1 / (1 + e^{k (a - h)})`, normalised to 1 at age 0,

    .. math:: V(a) = F + (1 - F)\\,\\frac{g(a)}{g(0)}
                   = F + (1 - F)\\,\\frac{1 + e^{-k h}}{1 + e^{k (a - h)}}

    so ``V(0) = 1`` exactly and ``V`` never rises. At ``a = h`` the value is
    ``F + (1 - F)(1 + e^{-kh}) / 2``, about halfway down when ``k h`` is large.

    References
    ----------
    .. [1] docs/sources.md, "Obsolescence and rents": logistic "hold then fall".

    Examples
    --------
    >>> round(logistic(0.0), 4)
    1.0
    >>> round(logistic(2.0), 4)   # (1 + e^-4) / 2
    0.5092
    >>> round(logistic(4.0, floor=0.1), 4)   # 0.1 + 0.9 (1 + e^-4) / (1 + e^4)
    0.1165
    """
    a = _age(age)
    h = _fparam(hold_years, "hold_years", a, 0)
    k = _fparam(steepness, "steepness", a, 0)
    f = _fparam(floor, "floor", a, 0, 1)
    _line_up(a, hold_years=h, steepness=k, floor=f)
    # expit keeps exp(k (a - h)) from overflowing for old assets and steep curves
    ratio = np.minimum(expit(-k * (a - h)) / expit(k * h), 1.0)
    return _out(1.0 - (1.0 - f) * (1.0 - ratio))


# --------------------------------------------------------------------------- multipliers

def generation_steps(age, step_ages, jump=0.25):
    """Step-down multiplier: ``(1 - J)`` for each successor generation already at volume.

    Parameters
    ----------
    age : float or array_like
        Age in years, >= 0, any shape.
    step_ages : array_like
        Ages in years at which successor generations reach volume. A 1-D sequence ``(k,)``
        is shared by every facility; an ``(F, k)`` array gives each facility its own
        steps (pad ragged rows with NaN). Steps at ages <= 0 - a successor already at
        volume when the fleet was bought - are ignored: the price paid reflects them.
        :func:`step_ages_from_dates` turns launch dates into step ages.
    jump : float or array_like, default 0.25
        Share of value lost at each step, in [0, 1], a facility parameter. Default 25%:
        the middle of docs/sources.md's J of about 20-30% per successor launch.

    Returns
    -------
    float or ndarray
        Multiplier in [0, 1].

    Notes
    -----
    .. math:: M(a) = (1 - J)^{n(a)}, \\qquad n(a) = \\#\\{i : 0 < s_i \\le a\\}

    A step applies from its age on (``a >= s_i``).

    References
    ----------
    .. [1] docs/sources.md, "Obsolescence and rents": generation step-downs, J about 20-30%.

    Examples
    --------
    >>> generation_steps([0.5, 1.0, 2.5], step_ages=[1.0, 2.0], jump=0.2)
    array([1.  , 0.8 , 0.64])
    >>> generation_steps(3.0, step_ages=[[1.0, 2.0], [2.5, np.nan]])
    array([0.5625, 0.75  ])
    """
    a = _age(age)
    steps = _step_table(step_ages, "step_ages")
    n = _steps_passed(a, steps)
    j = _fparam(jump, "jump", a, 0, 1)
    _line_up(n, jump=j)
    return _out((1.0 - j) ** n)


def step_ages_from_dates(delivery_date, successor_dates, *, days_per_year=365.25):
    """Step ages (years after delivery) of successor generations, from dates.

    Parameters
    ----------
    delivery_date : date-like or array_like of date-like
        When the fleet was delivered (age 0): one date, or one per facility ``(F,)``.
        ``datetime.date``, ``numpy.datetime64``, ``pandas.Timestamp`` or ISO strings.
    successor_dates : array_like of date-like
        Dates at which successor generations reach volume: ``(k,)`` shared, or
        ``(F, k)`` one row per facility (``None``/``NaT`` pads ragged rows).
    days_per_year : float, default 365.25
        Days in a year (Julian year, the average calendar year).

    Returns
    -------
    ndarray
        Step ages in years, ``(k,)`` for one delivery date and ``(F, k)`` for ``(F,)``
        dates; NaN where a date was missing. Successors at volume before delivery give
        negative ages, which :func:`generation_steps` ignores.

    Notes
    -----
    ``s_i = (successor_date_i - delivery_date) / days_per_year`` (days).

    Examples
    --------
    >>> step_ages_from_dates("2024-01-01", ["2025-01-01", "2026-10-01"]).round(2)
    array([1.  , 2.75])
    >>> step_ages_from_dates(["2023-01-01", "2025-06-01"], ["2025-03-01"]).round(2)
    array([[ 2.16],
           [-0.25]])
    """
    deliv = _as_datetime(delivery_date, "delivery_date")
    succ = _as_datetime(successor_dates, "successor_dates")
    if np.isnat(deliv).any():
        raise GpuCreditError(f"delivery_date must be a date, got {delivery_date!r}",
                             argument="delivery_date", value=delivery_date)
    if deliv.ndim > 1 or succ.ndim > 2:
        raise GpuCreditError(
            "delivery_date must be one date or one per facility (F,), and successor_dates "
            f"(k,) or (F, k); got shapes {deliv.shape} and {succ.shape}",
            argument="delivery_date", value=deliv.shape)
    dpy = float(check_range(days_per_year, "days_per_year", 0, low_open=True))
    if succ.ndim == 0:
        succ = succ[None]
    if deliv.ndim == 1:
        deliv = deliv[:, None]
    try:
        return _years_between(deliv, succ, dpy)
    except ValueError:
        raise GpuCreditError(
            f"delivery_date has {deliv.shape[0]} facilities but successor_dates has "
            f"{succ.shape[0]} rows", argument="successor_dates", value=succ.shape) from None


def attrition(age, rate=0.09):
    """Share of GPUs still working after physical failures.

    Parameters
    ----------
    age : float or array_like
        Age in years, >= 0, any shape.
    rate : float or array_like, default 0.09
        Share of the surviving GPUs lost each year, in [0, 1], a facility parameter.
        Default 9% a year: the failure rates seen in large training runs (docs/sources.md).

    Returns
    -------
    float or ndarray
        Surviving fraction in [0, 1].

    Notes
    -----
    .. math:: S(a) = (1 - r)^a

    References
    ----------
    .. [1] docs/sources.md, "Obsolescence and rents": physical attrition of about 9% a year.

    Examples
    --------
    >>> round(attrition(1.0), 4)
    0.91
    >>> round(attrition(2.0, rate=0.1), 4)
    0.81
    """
    return _out(_attrition(_age(age), rate, "rate"))


def _attrition(a: np.ndarray, rate, name: str) -> np.ndarray:
    r = _fparam(rate, name, a, 0, 1)
    _line_up(a, **{name: r})
    return (1.0 - r) ** a


# --------------------------------------------------------------------------- dispatcher

_FAMILY_FUNCS = {
    "straight_line": straight_line,
    "declining_balance": declining_balance,
    "exponential_floor": exponential_floor,
    "logistic": logistic,
}


def family_parameters(family: str) -> tuple[str, ...]:
    """Names of the parameters a curve family takes (after ``age``).

    >>> family_parameters("exponential_floor")
    ('lam', 'floor')
    """
    func = _family(family)
    return tuple(inspect.signature(func).parameters)[1:]


def _family(family) -> Callable:
    if not isinstance(family, str) or family.strip().lower() not in _FAMILY_FUNCS:
        raise GpuCreditError(
            f"family must be one of {', '.join(FAMILIES)}, got {family!r}",
            argument="family", value=family)
    return _FAMILY_FUNCS[family.strip().lower()]


def residual_value(age, family="exponential_floor", *, step_ages=None, jump=0.25,
                   attrition_rate=0.0, **params):
    """Residual value of a named curve family, with optional generation steps and attrition.

    Parameters
    ----------
    age : float or array_like
        Age in years, >= 0, any shape (typically :func:`gpucredit.periods.ages`).
    family : str, default "exponential_floor"
        One of :data:`FAMILIES` (case-insensitive). The default is the family docs/sources.md
        fits to the practitioner resale curve.
    step_ages : array_like, optional
        Ages of successor generations' volume dates; see :func:`generation_steps`.
        None (the default) applies no steps.
    jump : float or array_like, default 0.25
        Share of value lost at each step (docs/sources.md: about 20-30%). Used only with
        ``step_ages``.
    attrition_rate : float or array_like, default 0.0
        Physical attrition a year applied on top (:func:`attrition`). Off by default,
        since fleet models usually count surviving GPUs themselves; docs/sources.md's figure
        is 0.09.
    **params
        The family's own parameters (``life``, ``salvage``; ``rate``, ``half_life``;
        ``lam``, ``floor``; ``hold_years``, ``steepness``, ``floor``); defaults as in
        each family's function.

    Returns
    -------
    float or ndarray
        Value as a fraction of cost, in [0, 1], never rising with age.

    Notes
    -----
    .. math:: V(a) = C(a;\\theta)\\,(1 - J)^{n(a)}\\,(1 - r)^a

    with ``C`` the family curve, ``n(a)`` the number of successor steps passed and ``r``
    the attrition rate. Each factor lies in [0, 1] and never rises, so the product too.

    References
    ----------
    .. [1] docs/sources.md, "Obsolescence and rents": the curve families.

    Examples
    --------
    >>> round(residual_value(2.0, "declining_balance", rate=0.3), 4)
    0.49
    >>> round(residual_value(2.0, "straight_line", life=4.0, step_ages=[1.5], jump=0.2), 4)
    0.4
    >>> residual_value(1.0, "linear")
    Traceback (most recent call last):
    ...
    gpucredit.errors.GpuCreditError: family must be one of straight_line, ... got 'linear'
    >>> residual_value(1.0, "logistic", lam=0.5)
    Traceback (most recent call last):
    ...
    gpucredit.errors.GpuCreditError: lam is not a parameter of the logistic curve; ...
    """
    func = _family(family)
    names = tuple(inspect.signature(func).parameters)[1:]
    for key in params:
        if key not in names:
            raise GpuCreditError(
                f"{key} is not a parameter of the {func.__name__} curve; its parameters "
                f"are {', '.join(names)}", argument=key, value=params[key])
    value = func(age, **params)
    if step_ages is not None:
        value = _times(value, generation_steps(age, step_ages, jump), "step_ages")
    survive = _attrition(_age(age), attrition_rate, "attrition_rate")
    if np.any(survive != 1.0):
        value = _times(value, survive, "attrition_rate")
    return _out(value)


def _times(a, b, name: str):
    try:
        return np.multiply(a, b)
    except ValueError:
        raise GpuCreditError(
            f"{name} gives a result of shape {np.shape(b)} that does not line up with the "
            f"curve's {np.shape(a)}: give the same facilities to every parameter",
            argument=name, value=np.shape(b)) from None
