"""Coverage: how well cash flow covers debt service, and how close a facility is to the edge.

Ratios (DSCR, LLCR, PLCR), the flat rent, utilization or deflation rate at which the
minimum DSCR hits a threshold, covenant headroom, an excess-cash-flow sweep and the
mismatch between loan life and asset life.

Conventions (``gpucredit.periods``, ``docs/methodology.md``):

* Every cash-flow argument is a period series, ``(T,)`` for one facility or ``(F, T)`` for
  a portfolio, time on the last axis; flows are paid at the end of each period.
  A ``(T,)`` series beside an ``(F, T)`` one is shared by every facility.
* ``annual_rate`` is a nominal rate compounded once a period (per-period rate
  ``annual_rate / periods_per_year``). It may be a facility parameter (a scalar or one
  value per facility) or a rate path (one value per period, ``(T,)`` or ``(F, T)``).
* The opening balance of period ``t`` is the debt outstanding at the start of ``t``.
* A ratio with a zero denominator has no value: NaN, never infinity, and no warning.
* Scalars in give scalars out; per-facility results of a ``(T,)`` series are Python
  numbers, of an ``(F, T)`` table ``(F,)`` arrays.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gpucredit._checks import (
    check_finite,
    check_periods_per_year,
    check_range,
    check_same_periods,
    facility_count,
    param,
    param_or_path,
    series,
)
from gpucredit.errors import GpuCreditError

__all__ = [
    "TYPICAL_COVENANTS",
    "BreakevenRate",
    "CovenantHeadroom",
    "CovenantLevels",
    "DurationMismatch",
    "SweepSchedule",
    "average_dscr",
    "breakeven_deflation",
    "breakeven_level",
    "breakeven_rate",
    "breakeven_rent",
    "breakeven_utilization",
    "cash_sweep",
    "covenant_headroom",
    "dscr",
    "duration_mismatch",
    "first_collateral_shortfall",
    "llcr",
    "min_dscr",
    "plcr",
]


# --------------------------------------------------------------------------- covenant levels


@dataclass(frozen=True)
class CovenantLevels:
    """Typical covenant levels in GPU and infrastructure project finance.

    Each level is the middle or the conservative end of the range docs/sources.md gives
    ("Cash flows and coverage": lock-up DSCR 1.10-1.25x, default DSCR 1.00-1.05x, LLCR
    lock-up about 1.50x). They are starting points for a term sheet that is not at hand;
    use the facility's own documents when you have them.

    Parameters
    ----------
    dscr_lockup : float, default 1.20
        DSCR below which distributions to the sponsor are blocked (range 1.10-1.25x).
    dscr_default : float, default 1.05
        DSCR below which the facility is in default (range 1.00-1.05x).
    llcr_lockup : float, default 1.50
        LLCR below which distributions are blocked.

    Examples
    --------
    >>> TYPICAL_COVENANTS.dscr_lockup, TYPICAL_COVENANTS.llcr_lockup
    (1.2, 1.5)
    """

    dscr_lockup: float = 1.20
    dscr_default: float = 1.05
    llcr_lockup: float = 1.50


TYPICAL_COVENANTS = CovenantLevels()
"""The default covenant levels (:class:`CovenantLevels` with its defaults)."""


# --------------------------------------------------------------------------- private helpers


def _facility_param(x, name: str, n_fac: int | None, low=None, high=None,
                    *, low_open: bool = False) -> np.ndarray:
    """A facility parameter (``()`` or ``(F, 1)``) whose F matches the series' F."""
    arr = param(x, name, low, high, low_open=low_open)
    if arr.ndim == 2 and n_fac is not None and arr.shape[0] not in (1, n_fac):
        raise GpuCreditError(
            f"{name} has {arr.shape[0]} values but there are {n_fac} facilities: "
            "give one value, or one per facility", argument=name, value=arr.shape[0])
    return arr


def _param_or_path(x, name: str, n_periods: int, n_fac: int | None, low=None,
                   *, low_open: bool = False) -> np.ndarray:
    """:func:`gpucredit._checks.param_or_path`, and a 2-D path must match the cash flows."""
    arr = param_or_path(x, name, n_fac=n_fac, n_periods=n_periods, low=low, low_open=low_open)
    if np.ndim(x) == 2:  # a table given as such (not one value per facility made a column)
        if arr.shape[1] != n_periods:
            raise GpuCreditError(
                f"{name} has {arr.shape[1]} periods but the cash flows have {n_periods}: "
                "a path must cover the same periods", argument=name, value=arr.shape[1])
        if n_fac is not None and arr.shape[0] not in (1, n_fac):
            raise GpuCreditError(
                f"{name} has {arr.shape[0]} facilities but the cash flows have {n_fac}: "
                "they must cover the same facilities", argument=name, value=arr.shape[0])
    return arr


def _period_rate(annual_rate, periods_per_year, n_periods: int, n_fac: int | None):
    """Per-period rate ``annual_rate / m``, each ``> -1`` so discount factors stay positive."""
    m = check_periods_per_year(periods_per_year)
    return _param_or_path(annual_rate, "annual_rate", n_periods, n_fac, -m, low_open=True) / m


def _ratio(num: np.ndarray, den: np.ndarray, defined: np.ndarray) -> np.ndarray:
    """``num / den`` where ``defined``, NaN elsewhere, without a runtime warning."""
    num, den, defined = np.broadcast_arrays(num, den, defined)
    return np.divide(num, den, out=np.full(num.shape, np.nan), where=defined)


def _per_facility(x: np.ndarray):
    """A per-facility result: a Python number for a single facility, else the array."""
    if np.ndim(x) == 0:
        return x.item() if isinstance(x, np.ndarray | np.generic) else x
    return x


def _first_period(mask: np.ndarray) -> np.ndarray:
    """1-based index of the first True along the last axis, 0 where there is none."""
    return np.where(mask.any(axis=-1), mask.argmax(axis=-1) + 1, 0)


def _dscr_inputs(cfads, debt_service):
    cf = series(cfads, "cfads")
    ds = series(debt_service, "debt_service", 0)
    check_same_periods(cfads=cf, debt_service=ds)
    n_fac = facility_count(cfads=cf, debt_service=ds)
    return cf, ds, n_fac


# --------------------------------------------------------------------------- DSCR


def dscr(cfads, debt_service):
    """Period debt service coverage ratio: CFADS over debt service.

    Parameters
    ----------
    cfads : float or array_like, shape (T,) or (F, T)
        Cash flow available for debt service each period (may be negative).
    debt_service : float or array_like, shape (T,) or (F, T)
        Interest plus scheduled principal due each period, ``>= 0``.

    Returns
    -------
    float or ndarray, shape (T,) or (F, T)
        ``DSCR_t``; NaN where debt service is zero.

    Raises
    ------
    GpuCreditError
        If debt service is negative or not finite, or the series cover different periods.

    Notes
    -----
    ``DSCR_t = CFADS_t / (interest_t + principal_t)`` (docs/sources.md, "Cash flows and
    coverage"). A period without debt service has no DSCR: NaN, never infinity, so that
    minima and averages skip it and spreadsheets show no ``inf``.

    Examples
    --------
    >>> dscr([130.0, 90.0, 50.0], [100.0, 100.0, 0.0])
    array([1.3, 0.9, nan])
    >>> dscr(120.0, 100.0)
    1.2
    """
    cf, ds, _ = _dscr_inputs(cfads, debt_service)
    out = _ratio(cf, ds, ds > 0)
    if np.ndim(cfads) == 0 and np.ndim(debt_service) == 0:
        return float(out[0])
    return out


def min_dscr(cfads, debt_service):
    """Minimum period DSCR over the periods with debt service, per facility.

    Parameters
    ----------
    cfads : array_like, shape (T,) or (F, T)
        Cash flow available for debt service.
    debt_service : array_like, shape (T,) or (F, T)
        Interest plus scheduled principal, ``>= 0``.

    Returns
    -------
    float or ndarray, shape (F,)
        ``min_t DSCR_t`` over periods with ``debt_service_t > 0``; NaN for a facility
        with no debt service at all.

    Notes
    -----
    Periods without debt service have no DSCR and are skipped (docs/sources.md: "a zero debt
    service period has no DSCR"). The minimum is the ratio lenders size and test
    against; the breakeven functions solve for the level at which it hits a threshold.

    Examples
    --------
    >>> round(min_dscr([130.0, 90.0, 50.0], [100.0, 100.0, 0.0]), 2)
    0.9
    >>> min_dscr([[130.0, 90.0], [10.0, 20.0]], [[100.0, 100.0], [0.0, 0.0]])
    array([0.9, nan])
    """
    ratio = np.atleast_1d(dscr(cfads, debt_service))
    has = ~np.isnan(ratio)
    low = np.where(has, ratio, np.inf).min(axis=-1)
    return _per_facility(np.where(has.any(axis=-1), low, np.nan))


def average_dscr(cfads, debt_service, *, method: str = "mean"):
    """Average DSCR over the periods with debt service, per facility.

    Parameters
    ----------
    cfads : array_like, shape (T,) or (F, T)
        Cash flow available for debt service.
    debt_service : array_like, shape (T,) or (F, T)
        Interest plus scheduled principal, ``>= 0``.
    method : {"mean", "ratio"}, default "mean"
        ``"mean"``: the arithmetic mean of the period DSCRs. ``"ratio"``: total CFADS over
        total debt service, both summed over the periods with debt service.

    Returns
    -------
    float or ndarray, shape (F,)
        The average; NaN for a facility with no debt service at all.

    Notes
    -----
    With ``S = {t : DS_t > 0}`` and ``n = |S|``:

    * ``"mean"`` (default, the usual term-sheet figure):
      ``avg DSCR = (1/n) sum_{t in S} CFADS_t / DS_t``;
    * ``"ratio"``: ``sum_{t in S} CFADS_t / sum_{t in S} DS_t``, a debt-service-weighted
      mean of the period ratios, which gives large payments more weight.

    The two agree when debt service is level. Neither discounts; LLCR is the discounted
    counterpart.

    Examples
    --------
    >>> round(average_dscr([150.0, 120.0, 40.0], [100.0, 100.0, 0.0]), 3)
    1.35
    >>> round(average_dscr([150.0, 100.0], [100.0, 50.0], method="ratio"), 3)
    1.667
    """
    if method not in ("mean", "ratio"):
        raise GpuCreditError(f"method must be 'mean' or 'ratio', got {method!r}",
                             argument="method", value=method)
    cf, ds, _ = _dscr_inputs(cfads, debt_service)
    cf, ds = np.broadcast_arrays(cf, ds)
    has = ds > 0
    n = has.sum(axis=-1)
    if method == "mean":
        total = np.where(has, _ratio(cf, ds, has), 0.0).sum(axis=-1)
        out = _ratio(total, n, n > 0)
    else:
        out = _ratio(np.where(has, cf, 0.0).sum(axis=-1), ds.sum(axis=-1), n > 0)
    return _per_facility(out)


# --------------------------------------------------------------------------- LLCR and PLCR


def _cover_ratio(cfads, opening_balance, annual_rate, periods_per_year, dsra, *,
                 loan_life: bool):
    cf = series(cfads, "cfads")
    bal = series(opening_balance, "opening_balance", 0)
    if loan_life:
        check_same_periods(cfads=cf, opening_balance=bal)
    elif bal.shape[-1] > cf.shape[-1]:
        raise GpuCreditError(
            f"opening_balance has {bal.shape[-1]} periods but cfads has {cf.shape[-1]}: "
            "the asset-life cash flows must cover at least the loan's periods",
            argument="opening_balance", value=bal.shape[-1])
    n_t = cf.shape[-1]
    bal = np.concatenate(
        [bal, np.zeros((*bal.shape[:-1], n_t - bal.shape[-1]))], axis=-1)
    n_fac = facility_count(cfads=cf, opening_balance=bal)
    rate = _period_rate(annual_rate, periods_per_year, n_t, n_fac)
    reserve = _param_or_path(dsra, "dsra", n_t, n_fac, 0)
    shape = np.broadcast_shapes(cf.shape, bal.shape, rate.shape, reserve.shape)

    # Growth factor D_i = prod_{j<=i}(1 + r_j); CFADS_i discounted to the start of t is
    # CFADS_i D_{t-1} / D_i, so the sum over i >= t is D_{t-1} x (reverse cumsum).
    growth = np.cumprod(np.broadcast_to(1.0 + rate, shape), axis=-1)
    before = np.concatenate([np.ones((*shape[:-1], 1)), growth[..., :-1]], axis=-1)
    flows = np.broadcast_to(cf, shape)
    live = bal > 0
    if loan_life:
        # Loan maturity N: the last period with a positive opening balance.
        maturity = np.where(live.any(axis=-1), n_t - live[..., ::-1].argmax(axis=-1), 0)
        in_loan = np.arange(1, n_t + 1) <= maturity[..., None]
        flows = np.where(in_loan, flows, 0.0)
    pv_tail = np.flip(np.cumsum(np.flip(flows / growth, axis=-1), axis=-1), axis=-1)
    out = _ratio(pv_tail * before + reserve, bal, live)
    if np.ndim(cfads) == 0 and np.ndim(opening_balance) == 0 and out.shape == (1,):
        return float(out[0])
    return out


def llcr(cfads, opening_balance, annual_rate, periods_per_year, dsra=0.0):
    """Loan life coverage ratio for every period.

    Parameters
    ----------
    cfads : array_like, shape (T,) or (F, T)
        Cash flow available for debt service, paid at the end of each period.
    opening_balance : array_like, shape (T,) or (F, T)
        Debt outstanding at the start of each period, ``>= 0``.
    annual_rate : float or array_like
        Debt rate, nominal annual, compounded each period: a facility parameter (scalar
        or ``(F,)``) or a rate path (``(T,)`` or ``(F, T)``; ``r_j`` applies to period j).
        A 1-D array whose length equals the number of facilities of an ``(F, T)`` series
        is read as one rate per facility; pass a path shared by all as ``(1, T)``.
    periods_per_year : {1, 2, 4, 12}
        Periods a year.
    dsra : float or array_like, default 0.0
        Debt service reserve account balance at the start of each period, added to the
        numerator (some deals do, docs/sources.md); a facility parameter or a path, ``>= 0``.

    Returns
    -------
    ndarray, shape (T,) or (F, T)
        ``LLCR_t``; NaN where the opening balance is zero.

    Notes
    -----
    .. math::

        LLCR_t = \\frac{\\sum_{i=t}^{N} CFADS_i / \\prod_{j=t}^{i}(1 + r_j / m)
                 + DSRA_t}{B_t}

    with ``B_t`` the opening balance and ``N`` the loan maturity, the last period with
    ``B_t > 0`` (CFADS after it is ignored). Flows sit at period ends, so CFADS of period
    ``t`` is discounted one full period to the start of ``t``. Computed for all
    facilities at once with a reverse cumulative sum of discounted CFADS.

    For a sculpted loan (debt service ``CFADS_t / target``, balance = present value of
    the remaining debt service at the debt rate) ``LLCR_t`` equals the target at every
    ``t``, and in the final period ``LLCR_N = DSCR_N`` (docs/sources.md, "Sculpting").

    Examples
    --------
    Two annual periods at 10%, sculpted to 1.25x on CFADS of 125 and 137.5: debt service
    100 and 110, balances 100/1.1 + 110/1.21 = 181.82 and 100.

    >>> b1 = 100 / 1.1 + 110 / 1.1**2
    >>> llcr([125.0, 137.5], [b1, 100.0], 0.10, 1).round(6)
    array([1.25, 1.25])
    """
    return _cover_ratio(cfads, opening_balance, annual_rate, periods_per_year, dsra,
                        loan_life=True)


def plcr(cfads, opening_balance, annual_rate, periods_per_year, dsra=0.0):
    """Project (asset) life coverage ratio for every period.

    Parameters
    ----------
    cfads : array_like, shape (T,) or (F, T)
        Cash flow available for debt service over the whole asset life.
    opening_balance : array_like, shape (L,) or (F, L), L <= T
        Debt outstanding at the start of each loan period; padded with zeros to T
        periods when the loan is shorter than the asset life.
    annual_rate : float or array_like
        Debt rate as in :func:`llcr`; a path must cover all T periods.
    periods_per_year : {1, 2, 4, 12}
        Periods a year.
    dsra : float or array_like, default 0.0
        Debt service reserve balance added to the numerator, as in :func:`llcr`.

    Returns
    -------
    ndarray, shape (T,) or (F, T)
        ``PLCR_t``; NaN where the (padded) opening balance is zero.

    Notes
    -----
    .. math::

        PLCR_t = \\frac{\\sum_{i=t}^{T} CFADS_i / \\prod_{j=t}^{i}(1 + r_j / m)
                 + DSRA_t}{B_t}

    the LLCR with the CFADS sum running to the end of the asset life T instead of the
    loan maturity (docs/sources.md). ``PLCR_t - LLCR_t`` is the discounted cash flow the asset
    earns after the loan is repaid: the tail a lender relies on if the loan is
    restructured. For GPUs, whose economic life is short, the tail is thin.

    Examples
    --------
    A one-period loan of 100 at 10% on an asset earning 110 a year for two years:
    PLCR = (110/1.1 + 110/1.21) / 100.

    >>> plcr([110.0, 110.0], [100.0], 0.10, 1).round(4)
    array([1.9091, nan])
    """
    return _cover_ratio(cfads, opening_balance, annual_rate, periods_per_year, dsra,
                        loan_life=False)


# --------------------------------------------------------------------------- breakevens


def _breakeven(slope, intercept, debt_service, threshold, names):
    s_name, i_name = names
    slope_a = series(slope, s_name, 0)
    icpt = series(intercept, i_name)
    ds = series(debt_service, "debt_service", 0)
    check_same_periods(**{s_name: slope_a, i_name: icpt, "debt_service": ds})
    n_fac = facility_count(**{s_name: slope_a, i_name: icpt, "debt_service": ds})
    thr = _facility_param(threshold, "threshold", n_fac, 0, low_open=True)
    slope_a, icpt, ds, thr = np.broadcast_arrays(slope_a, icpt, ds, thr)
    need = thr * ds - icpt  # how much the driver must add in each period
    binding = (ds > 0) & (slope_a > 0)
    level = np.where(binding, _ratio(need, slope_a, binding), -np.inf).max(axis=-1)
    infeasible = ((ds > 0) & (slope_a == 0) & (need > 0)).any(axis=-1)
    return _per_facility(np.where(infeasible | np.isneginf(level), np.nan, level))


def breakeven_level(slope, intercept, debt_service, threshold=1.0):
    """Flat level of a driver at which the minimum DSCR equals a threshold.

    CFADS is affine in a flat rent or a flat utilization: ``CFADS_t = slope_t x +
    intercept_t``. This finds the ``x`` at which ``min_t CFADS_t / DS_t = threshold``.

    Parameters
    ----------
    slope : array_like, shape (T,) or (F, T)
        CFADS added per unit of the driver each period, ``>= 0``.
    intercept : array_like, shape (T,) or (F, T)
        CFADS when the driver is zero (may be negative).
    debt_service : array_like, shape (T,) or (F, T)
        Debt service each period, ``>= 0``.
    threshold : float or array_like (F,), default 1.0
        Target minimum DSCR, ``> 0`` (1.00x is breakeven; a covenant level is the other
        usual choice, see :class:`CovenantLevels`).

    Returns
    -------
    float or ndarray, shape (F,)
        The breakeven level; NaN when no level exists (see Notes).

    Notes
    -----
    Over the periods with ``DS_t > 0`` and ``slope_t > 0``:

    .. math:: x^* = \\max_t \\frac{threshold \\cdot DS_t - intercept_t}{slope_t}

    At ``x*`` the binding period's DSCR equals the threshold and no period is below it;
    any lower level breaches in the binding period. ``x*`` may be negative: the
    intercept alone (e.g. contracted revenue) already covers the threshold.

    NaN (never infinity) in two cases: a period with debt service whose slope is zero
    and whose intercept falls short (``intercept_t < threshold DS_t``: no level of the
    driver can cure it); and no period constrains the level at all (no debt service, or
    every period with debt service has a zero slope and no shortfall).

    Examples
    --------
    >>> round(breakeven_level([10.0, 10.0], [-20.0, 0.0], [100.0, 100.0]), 6)
    12.0
    >>> breakeven_level([0.0, 10.0], [50.0, 0.0], [100.0, 100.0])
    nan
    """
    return _breakeven(slope, intercept, debt_service, threshold, ("slope", "intercept"))


def breakeven_rent(merchant_gpu_hours, other_cfads, debt_service, threshold=1.0):
    """Flat merchant rent ($/GPU-hour) at which the minimum DSCR equals a threshold.

    Parameters
    ----------
    merchant_gpu_hours : array_like, shape (T,) or (F, T)
        GPU-hours sold at the merchant rent each period (GPUs x merchant utilization x
        hours in the period), ``>= 0``.
    other_cfads : array_like, shape (T,) or (F, T)
        All other CFADS each period: contracted revenue less cash opex, maintenance capex
        and tax (usually negative once contracts roll off).
    debt_service : array_like, shape (T,) or (F, T)
        Debt service each period, ``>= 0``.
    threshold : float or array_like (F,), default 1.0
        Target minimum DSCR, ``> 0``.

    Returns
    -------
    float or ndarray, shape (F,)
        The breakeven rent in USD per GPU-hour; NaN when none exists
        (:func:`breakeven_level`).

    Notes
    -----
    ``CFADS_t = merchant_gpu_hours_t x rent + other_cfads_t`` and the rent solves
    ``min_t CFADS_t / DS_t = threshold`` (docs/sources.md, "Breakeven rent"):
    ``rent* = max_t (threshold DS_t - other_cfads_t) / merchant_gpu_hours_t``.
    Costs that scale with the hours sold (power at partial load) belong in the rent as a
    net margin, or in ``other_cfads`` at the utilization assumed.

    Examples
    --------
    1,000 GPUs fully let for a 730-hour month, costs of 1.2m, debt service 0.5m a month:
    breakeven rent = (1.0 x 500,000 + 1,200,000) / 730,000 = $2.33/GPU-hour.

    >>> round(breakeven_rent([730_000.0] * 3, [-1.2e6] * 3, [5e5] * 3), 4)
    2.3288
    """
    return _breakeven(merchant_gpu_hours, other_cfads, debt_service, threshold,
                      ("merchant_gpu_hours", "other_cfads"))


def breakeven_utilization(sellable_revenue_at_full_utilization, fixed_cfads, debt_service,
                          threshold=1.0):
    """Flat utilization at which the minimum DSCR equals a threshold.

    Parameters
    ----------
    sellable_revenue_at_full_utilization : array_like, shape (T,) or (F, T)
        Revenue (net of costs that scale with utilization, if any) the sellable capacity
        would earn at 100% utilization each period, ``>= 0``.
    fixed_cfads : array_like, shape (T,) or (F, T)
        CFADS that does not depend on utilization: contracted revenue less fixed costs.
    debt_service : array_like, shape (T,) or (F, T)
        Debt service each period, ``>= 0``.
    threshold : float or array_like (F,), default 1.0
        Target minimum DSCR, ``> 0``.

    Returns
    -------
    float or ndarray, shape (F,)
        Breakeven utilization as a fraction; not clipped to [0, 1], so a value above 1
        says no achievable utilization meets the threshold and a negative one that fixed
        CFADS alone does. NaN when none exists (:func:`breakeven_level`).

    Notes
    -----
    ``CFADS_t = u x sellable_revenue_at_full_utilization_t + fixed_cfads_t``;
    ``u* = max_t (threshold DS_t - fixed_cfads_t) / sellable_revenue_t`` (docs/sources.md,
    "Breakeven utilization").

    Examples
    --------
    >>> round(breakeven_utilization([2e6, 2e6], [-0.6e6, -0.8e6], [0.5e6, 0.5e6]), 4)
    0.65
    """
    return _breakeven(sellable_revenue_at_full_utilization, fixed_cfads, debt_service,
                      threshold, ("sellable_revenue_at_full_utilization", "fixed_cfads"))


@dataclass(frozen=True, eq=False)
class BreakevenRate:
    """Result of :func:`breakeven_rate` with ``full_output=True``.

    Attributes
    ----------
    rate : float or ndarray (F,)
        The breakeven rate (see :func:`breakeven_rate`).
    status : int or ndarray (F,)
        0: the threshold is crossed inside ``[lo, hi]`` and ``rate`` is the crossing;
        1: the minimum DSCR still meets the threshold at ``hi`` (``rate = hi``, a lower
        bound on the breakeven); -1: it is already below the threshold at ``lo``
        (``rate`` NaN); -2: ``fn`` returned NaN at ``lo`` or ``hi`` (``rate`` NaN).
    """

    rate: float | np.ndarray
    status: int | np.ndarray


def breakeven_deflation(merchant_revenue, other_cfads, debt_service, periods_per_year,
                        threshold=1.0, hi=0.99):
    """Annual merchant-rent deflation at which the minimum DSCR falls to a threshold.

    The closed form of :func:`breakeven_rate` when CFADS is affine in the merchant rent
    (no cash tax): each period gives its own bound on the deflation rate and the tightest
    one binds.

    Parameters
    ----------
    merchant_revenue : array_like, shape (T,) or (F, T)
        Merchant revenue each period with **no** deflation (GPU-hours sold x today's
        rent x any step-down), USD, >= 0.
    other_cfads : array_like, shape (T,) or (F, T)
        CFADS without the merchant revenue (contracted revenue less costs), USD.
    debt_service : array_like, shape (T,) or (F, T)
        Debt service tested, USD, >= 0 (periods without any are not tested).
    periods_per_year : int
        1, 2, 4 or 12; period t earns today's rent deflated over ``(t - 1) / m`` years.
    threshold : float or array_like (F,), default 1.0
        DSCR level, > 0.
    hi : float, default 0.99
        Highest deflation rate considered, in (0, 1).

    Returns
    -------
    float or ndarray (F,)
        The largest deflation ``d`` in ``[0, hi]`` at which every tested period still
        covers ``threshold``; ``hi`` if even ``hi`` does; NaN if a period falls short with
        no deflation at all (the same conventions as :func:`breakeven_rate`).

    Notes
    -----
    With :math:`M_t` the undeflated merchant revenue, :math:`O_t` the other CFADS,
    :math:`e_t = (t - 1)/m` and :math:`q_t = \\theta DS_t - O_t` the cover the merchant
    revenue must bring, period t needs :math:`M_t (1 - d)^{e_t} \\ge q_t`. It holds for
    any d when :math:`q_t \\le 0`; otherwise it needs :math:`M_t > 0` and
    :math:`r_t = q_t / M_t \\le 1` (else NaN), and then
    :math:`d \\le 1 - r_t^{1/e_t}` (any d when :math:`e_t = 0`). The result is
    :math:`\\min(hi, \\min_t (1 - r_t^{1/e_t}))`.

    Examples
    --------
    One period a year, merchant revenue 100 undeflated, debt service 64 from year 3:
    the third year earns ``100 (1 - d)^2 >= 64`` so ``d <= 20%``.

    >>> round(breakeven_deflation([100.0, 100.0, 100.0], [0.0, 0.0, 0.0],
    ...                           [0.0, 0.0, 64.0], 1), 10)
    0.2
    >>> breakeven_deflation([100.0, 100.0], [0.0, 0.0], [101.0, 50.0], 1)
    nan
    """
    m = check_periods_per_year(periods_per_year)
    rev = series(merchant_revenue, "merchant_revenue", 0)
    other = series(other_cfads, "other_cfads")
    ds = series(debt_service, "debt_service", 0)
    n_t = check_same_periods(merchant_revenue=rev, other_cfads=other, debt_service=ds)
    n_fac = facility_count(merchant_revenue=rev, other_cfads=other, debt_service=ds)
    thr = _facility_param(threshold, "threshold", n_fac, 0, low_open=True)
    hi = float(check_range(hi, "hi", 0, 1, low_open=True, high_open=True))
    rev, other, ds, thr = np.broadcast_arrays(rev, other, ds, thr)
    e = np.arange(n_t, dtype=float) / m
    need = thr * ds - other
    binding = (ds > 0) & (need > 0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        r = np.where(binding & (rev > 0), need / np.where(rev > 0, rev, 1.0), np.inf)
        fails = binding & ((rev <= 0) | (r > 1.0))
        bound = np.where(binding & ~fails & (e > 0),
                         1.0 - r ** (1.0 / np.where(e > 0, e, 1.0)), np.inf)
    d = np.minimum(bound.min(axis=-1), hi)
    return _per_facility(np.where(fails.any(axis=-1), np.nan, np.maximum(d, 0.0)))


def breakeven_rate(fn: Callable[[np.ndarray], object], threshold=1.0, lo=0.0, hi=1.0, *,
                   xtol: float = 1e-10, full_output: bool = False):
    """Rate (e.g. annual rent deflation) at which the minimum DSCR falls to a threshold.

    A vectorised bisection across facilities: every facility is solved at once, with one
    call of ``fn`` per step.

    Parameters
    ----------
    fn : callable
        ``fn(d) -> min DSCR``: given rates ``d`` (shape ``()`` on the first call, then the
        shape of the result, ``()`` or ``(F,)``, one rate per facility) returns the minimum
        DSCR per facility, ``()`` or ``(F,)``. It must be non-increasing in ``d`` (faster
        deflation never helps coverage).
    threshold : float or array_like (F,), default 1.0
        Minimum DSCR to solve for, ``> 0``.
    lo, hi : float or array_like (F,), default 0.0 and 1.0
        The bracket; ``lo < hi``. The defaults span every annual deflation rate from none
        to total.
    xtol : float, default 1e-10
        Width of the final bracket; the number of bisection steps is fixed at
        ``ceil(log2((hi - lo) / xtol))``.
    full_output : bool, default False
        Also return the status of each facility (:class:`BreakevenRate`).

    Returns
    -------
    float or ndarray (F,), or BreakevenRate
        The largest ``d`` in ``[lo, hi]`` with ``fn(d) >= threshold`` (to within
        ``xtol``). ``hi`` when the threshold still holds at ``hi`` (the facility survives
        every rate in the bracket); NaN when it already fails at ``lo`` or ``fn`` returns
        NaN at either end. Never infinity.

    Raises
    ------
    GpuCreditError
        If the bracket is empty, ``xtol`` is not positive, or ``fn`` returns values of a
        shape other than the rates it was given.

    Notes
    -----
    Invariant: ``fn(a) >= threshold > fn(b)`` for the bracket ``[a, b]``; each step halves
    it at the midpoint. The result is the midpoint of the last bracket. For a rent path
    ``rent_t = rent_0 (1 - d)^{(t-1)/m}`` (docs/sources.md: inference costs fall 20-40% a
    year, Epoch AI 21-28%) the root is the breakeven deflation rate.

    Examples
    --------
    Merchant revenue 100 a year deflating at ``d``, costs 20, debt service 40 over five
    years: the minimum DSCR is in year 5, so ``d* = 1 - (60/100)^(1/4) = 0.1199``.

    >>> t = np.arange(5)
    >>> def min_cover(d):
    ...     d = np.asarray(d, dtype=float)[..., None]
    ...     return min_dscr(100.0 * (1 - d) ** t - 20.0, np.full(5, 40.0))
    >>> round(breakeven_rate(min_cover), 6)
    0.119888
    >>> round(1 - 0.6 ** 0.25, 6)
    0.119888
    """
    if not callable(fn):
        raise GpuCreditError(f"fn must be a function of the rate, got {fn!r}",
                             argument="fn", value=fn)
    thr = check_range(threshold, "threshold", 0, low_open=True)
    low = check_finite(lo, "lo")
    high = check_finite(hi, "hi")
    xtol = float(check_range(xtol, "xtol", 0, low_open=True))

    def call(d: np.ndarray) -> np.ndarray:
        try:
            out = np.asarray(fn(d), dtype=float)
        except (TypeError, ValueError) as err:
            if isinstance(err, GpuCreditError):
                raise
            raise GpuCreditError(f"fn must return the minimum DSCR as numbers, "
                                 f"failed with: {err}", argument="fn", value=fn) from err
        return out

    f_lo = call(low)
    try:
        shape = np.broadcast_shapes(low.shape, high.shape, thr.shape, f_lo.shape)
    except ValueError:
        raise GpuCreditError(
            f"lo, hi, threshold and fn(lo) must have one value or one per facility, got "
            f"shapes {low.shape}, {high.shape}, {thr.shape} and {f_lo.shape}",
            argument="fn", value=f_lo.shape) from None
    if len(shape) > 1:
        raise GpuCreditError(f"fn must return one minimum DSCR per facility, got an array "
                             f"of shape {shape}", argument="fn", value=shape)
    a = np.array(np.broadcast_to(low, shape))
    b = np.array(np.broadcast_to(high, shape))
    thr = np.broadcast_to(thr, shape)
    empty = ~(a < b)
    if empty.any():
        i = int(np.argmax(empty)) if shape else 0
        where = f" (facility {i + 1})" if shape else ""
        raise GpuCreditError(f"lo must be below hi, got lo={a.flat[i]:g}, "
                             f"hi={b.flat[i]:g}{where}", argument="hi", value=b.flat[i])

    def call_shaped(d: np.ndarray) -> np.ndarray:
        out = call(d)
        if out.shape not in (shape, ()):
            raise GpuCreditError(f"fn returned shape {out.shape} for rates of shape {shape}",
                                 argument="fn", value=out.shape)
        return np.broadcast_to(out, shape)

    f_lo = np.broadcast_to(f_lo, shape)
    f_hi = call_shaped(b.copy())
    nan = np.isnan(f_lo) | np.isnan(f_hi)
    ok_lo = f_lo >= thr
    ok_hi = f_hi >= thr
    width = float(np.max(b - a))
    steps = max(0, math.ceil(math.log2(width / xtol))) if width > xtol else 0
    for _ in range(steps):
        mid = 0.5 * (a + b)
        holds = call_shaped(mid.copy()) >= thr
        a = np.where(holds, mid, a)
        b = np.where(holds, b, mid)
    root = 0.5 * (a + b)
    status = np.select([nan, ~ok_lo, ok_hi], [-2, -1, 1], default=0)
    rate = np.select([status == 0, status == 1], [root, np.broadcast_to(high, shape)],
                     default=np.nan)
    rate = _per_facility(rate)
    if full_output:
        return BreakevenRate(rate=rate, status=_per_facility(status))
    return rate


# --------------------------------------------------------------------------- covenants


@dataclass(frozen=True, eq=False)
class CovenantHeadroom:
    """Headroom of each period's DSCR over a covenant (:func:`covenant_headroom`).

    Attributes
    ----------
    headroom_pct : ndarray (T,) or (F, T)
        ``DSCR_t / covenant - 1`` (0.10 = 10% above the covenant); NaN without debt service.
    headroom_usd : ndarray (T,) or (F, T)
        ``CFADS_t - covenant x DS_t``: the CFADS that could be lost before a breach; NaN
        without debt service.
    min_headroom_pct : float or ndarray (F,)
        Smallest ``headroom_pct`` over the tenor; NaN without any debt service.
    min_headroom_usd : float or ndarray (F,)
        Smallest ``headroom_usd`` over the tenor (may fall in another period).
    first_breach : int or ndarray (F,)
        First period (1-based) with ``DSCR_t < covenant``; 0 when never breached.
    n_breaches : int or ndarray (F,)
        Number of breached periods.
    """

    headroom_pct: np.ndarray
    headroom_usd: np.ndarray
    min_headroom_pct: float | np.ndarray
    min_headroom_usd: float | np.ndarray
    first_breach: int | np.ndarray
    n_breaches: int | np.ndarray


def covenant_headroom(cfads, debt_service, covenant=TYPICAL_COVENANTS.dscr_lockup):
    """Headroom of the period DSCR over a covenant, in percent and dollars, and breaches.

    Parameters
    ----------
    cfads : array_like, shape (T,) or (F, T)
        Cash flow available for debt service.
    debt_service : array_like, shape (T,) or (F, T)
        Debt service each period, ``>= 0``.
    covenant : float or array_like (F,), default 1.20
        DSCR covenant level, ``> 0``. The default is the lock-up level of
        :data:`TYPICAL_COVENANTS` (docs/sources.md: lock-up 1.10-1.25x); pass
        ``TYPICAL_COVENANTS.dscr_default`` (1.05x) to test the default covenant.

    Returns
    -------
    CovenantHeadroom
        Per-period headroom and per-facility minimum, first breach and breach count.

    Notes
    -----
    ``headroom_pct_t = DSCR_t / covenant - 1`` and ``headroom_usd_t = CFADS_t - covenant
    DS_t`` (the two have the same sign). A period breaches when ``CFADS_t < covenant
    DS_t`` with ``DS_t > 0``; periods without debt service are not tested and carry NaN
    headroom (docs/sources.md: "Report headroom (percent and dollars) and the first period of
    breach"). A shortfall smaller than half a cent (or than 1e-9 of the required cover,
    if that is smaller) is floating-point rounding, not a breach: a schedule sculpted to
    exactly the covenant level does not breach it.

    Examples
    --------
    >>> h = covenant_headroom([132.0, 115.0, 96.0, 50.0], [110.0, 100.0, 100.0, 0.0], 1.10)
    >>> h.headroom_pct.round(4)
    array([ 0.0909,  0.0455, -0.1273,     nan])
    >>> h.headroom_usd.round(2)
    array([ 11.,   5., -14.,  nan])
    >>> h.first_breach, h.n_breaches
    (3, 1)
    """
    cf, ds, n_fac = _dscr_inputs(cfads, debt_service)
    cov = _facility_param(covenant, "covenant", n_fac, 0, low_open=True)
    cf, ds, cov = np.broadcast_arrays(cf, ds, cov)
    tested = ds > 0
    pct = _ratio(cf, cov * ds, tested) - 1.0
    usd = np.where(tested, cf - cov * ds, np.nan)
    required = cov * ds
    breach = tested & (cf < required - np.minimum(_ROUNDING_USD, 1e-9 * required))
    any_tested = tested.any(axis=-1)
    min_pct = np.where(any_tested, np.where(tested, pct, np.inf).min(axis=-1), np.nan)
    min_usd = np.where(any_tested, np.where(tested, usd, np.inf).min(axis=-1), np.nan)
    return CovenantHeadroom(
        headroom_pct=pct,
        headroom_usd=usd,
        min_headroom_pct=_per_facility(min_pct),
        min_headroom_usd=_per_facility(min_usd),
        first_breach=_per_facility(_first_period(breach)),
        n_breaches=_per_facility(breach.sum(axis=-1)),
    )


_ROUNDING_USD = 0.005
"""Half a cent: shortfalls below it are rounding (see :func:`covenant_headroom`)."""


# --------------------------------------------------------------------------- cash sweep


@dataclass(frozen=True, eq=False)
class SweepSchedule:
    """A loan schedule with an excess-cash-flow sweep (:func:`cash_sweep`).

    Every field is a period series ``(T,)`` or ``(F, T)``.

    Attributes
    ----------
    opening : ndarray
        Balance at the start of each period.
    interest : ndarray
        ``opening x r / m``.
    scheduled_principal : ndarray
        Scheduled principal paid, capped at the opening balance.
    sweep : ndarray
        Prepayment from excess cash flow.
    closing : ndarray
        ``opening - scheduled_principal - sweep``.
    """

    opening: np.ndarray
    interest: np.ndarray
    scheduled_principal: np.ndarray
    sweep: np.ndarray
    closing: np.ndarray

    @property
    def debt_service(self) -> np.ndarray:
        """Scheduled debt service, ``interest + scheduled_principal`` (the DSCR denominator;
        the sweep is paid out of the excess and is not part of it)."""
        return self.interest + self.scheduled_principal


def cash_sweep(cfads, opening_balance, annual_rate, scheduled_principal, periods_per_year,
               sweep_share=0.5):
    """Loan schedule when a share of excess cash flow prepays the loan.

    Parameters
    ----------
    cfads : array_like, shape (T,) or (F, T)
        Cash flow available for debt service.
    opening_balance : float or array_like (F,)
        Balance at the start of period 1, ``>= 0``.
    annual_rate : float or array_like
        Debt rate: a facility parameter or a rate path, as in :func:`llcr`.
    scheduled_principal : array_like, shape (T,) or (F, T)
        Principal the loan documents schedule each period, ``>= 0`` (for example the
        original amortisation; a bullet is its last entry).
    periods_per_year : {1, 2, 4, 12}
        Periods a year.
    sweep_share : float or array_like (F,), default 0.5
        Share of excess cash flow that prepays the loan, in [0, 1]. The default is the
        50% excess-cash-flow offer in TeraWulf's notes (docs/sources.md, "Cash sweep").

    Returns
    -------
    SweepSchedule
        ``opening``, ``interest``, ``scheduled_principal``, ``sweep`` and ``closing``
        per period, and the ``debt_service`` property.

    Notes
    -----
    For each period ``t`` (a recursion over periods, vectorised across facilities):

    * ``interest_t = opening_t x r_t / m`` (interest on the opening balance);
    * ``P_t = min(scheduled_t, opening_t)`` (scheduled principal, capped at the balance:
      prepayments apply in inverse order of maturity, so the loan closes early rather
      than the instalments shrinking);
    * ``sweep_t = min(share x max(CFADS_t - interest_t - P_t, 0), opening_t - P_t)``,
      paid at the period end after scheduled service;
    * ``closing_t = opening_t - P_t - sweep_t = opening_{t+1}``.

    Scheduled service is paid even when CFADS falls short (the shortfall shows as a
    DSCR below 1; the sweep is then zero). A balance left at the end of period T is not
    forced to zero.

    Examples
    --------
    A loan of 300 at 10%, 100 scheduled a year, CFADS 150: year 1 interest 30, excess 20,
    sweep 10; year 2 interest 19, excess 31, sweep 15.5; year 3 pays off the rest (74.5).

    >>> s = cash_sweep([150.0] * 3, 300.0, 0.10, [100.0] * 3, 1)
    >>> s.sweep.round(2), s.closing.round(2)
    (array([10. , 15.5,  0. ]), array([190. ,  74.5,   0. ]))
    """
    cf = series(cfads, "cfads")
    sched = series(scheduled_principal, "scheduled_principal", 0)
    n_t = check_same_periods(cfads=cf, scheduled_principal=sched)
    n_fac = facility_count(cfads=cf, scheduled_principal=sched)
    bal0 = _facility_param(opening_balance, "opening_balance", n_fac, 0)
    rate = _period_rate(annual_rate, periods_per_year, n_t, n_fac)
    share = _facility_param(sweep_share, "sweep_share", n_fac, 0, 1)
    shape = np.broadcast_shapes(cf.shape, sched.shape, bal0.shape, rate.shape, share.shape)
    cf, sched, rate, share = (np.broadcast_to(x, shape) for x in (cf, sched, rate, share))

    opening, interest, principal, sweep, closing = (np.empty(shape) for _ in range(5))
    bal = np.array(np.broadcast_to(bal0, shape)[..., 0])
    for t in range(n_t):
        opening[..., t] = bal
        interest[..., t] = bal * rate[..., t]
        paid = np.minimum(sched[..., t], bal)
        excess = cf[..., t] - interest[..., t] - paid
        left = bal - paid
        swept = np.minimum(share[..., t] * np.maximum(excess, 0.0), left)
        bal = left - swept
        principal[..., t] = paid
        sweep[..., t] = swept
        closing[..., t] = bal
    return SweepSchedule(opening=opening, interest=interest, scheduled_principal=principal,
                         sweep=sweep, closing=closing)


# --------------------------------------------------------------------------- duration mismatch


@dataclass(frozen=True, eq=False)
class DurationMismatch:
    """Loan life against asset life (:func:`duration_mismatch`).

    Attributes
    ----------
    ratio : float or ndarray (F,)
        ``loan WAL / economic life``; above 1 the loan outlives the asset.
    gap_years : float or ndarray (F,)
        ``loan WAL - economic life`` in years; positive when the loan outlives the asset.
    """

    ratio: float | np.ndarray
    gap_years: float | np.ndarray


def duration_mismatch(loan_wal_years, economic_life_years):
    """How far the loan's life runs against the collateral's economic life.

    Parameters
    ----------
    loan_wal_years : float or array_like (F,)
        Weighted average life of the loan in years, ``>= 0``
        (``WAL = sum(t principal_t) / sum(principal_t)``, docs/sources.md).
    economic_life_years : float or array_like (F,)
        Economic life of the GPUs in years, ``> 0``: the depreciation lives in use run
        from 4 (Nebius) to 6 years (Microsoft, Alphabet, CoreWeave), critics argue 2-3
        (docs/sources.md, "Obsolescence and rents").

    Returns
    -------
    DurationMismatch
        ``ratio`` and ``gap_years``.

    Notes
    -----
    ``ratio = WAL / life`` and ``gap = WAL - life``. Loans against GPUs are structured
    like 10-year project finance while the asset leads for about 18 months and is
    depreciated over 4-6 years; a positive gap means principal is still outstanding after
    the collateral has lost its economic value.

    Examples
    --------
    >>> m = duration_mismatch(4.5, [6.0, 3.0])
    >>> m.ratio, m.gap_years
    (array([0.75, 1.5 ]), array([-1.5,  1.5]))
    """
    wal = np.asarray(check_range(loan_wal_years, "loan_wal_years", 0))
    life = np.asarray(check_range(economic_life_years, "economic_life_years", 0,
                                  low_open=True))
    for name, arr in (("loan_wal_years", wal), ("economic_life_years", life)):
        if arr.ndim > 1:
            raise GpuCreditError(f"{name} must be a single value or one value per "
                                 f"facility, got an array of shape {arr.shape}",
                                 argument=name, value=arr.shape)
    if wal.ndim == 1 and life.ndim == 1 and wal.shape != life.shape:
        raise GpuCreditError(f"loan_wal_years has {wal.shape[0]} facilities but "
                             f"economic_life_years has {life.shape[0]}",
                             argument="economic_life_years", value=life.shape[0])
    return DurationMismatch(ratio=_per_facility(wal / life),
                            gap_years=_per_facility(wal - life))


def first_collateral_shortfall(collateral_value, debt_outstanding):
    """First period in which collateral value falls below the debt outstanding.

    Parameters
    ----------
    collateral_value : array_like, shape (T,) or (F, T)
        Collateral value at each period end (after any haircut you want to apply), ``>= 0``.
    debt_outstanding : array_like, shape (T,) or (F, T)
        Debt outstanding at the same dates, ``>= 0``.

    Returns
    -------
    int or ndarray of int, shape (F,)
        1-based period of the first ``collateral_t < debt_t``; 0 when collateral always
        covers the debt.

    Notes
    -----
    The date at which LTV first exceeds 100% (docs/sources.md, "Collateral"): from then on a
    default recovers less than the balance even before liquidation costs. Compare with
    the loan's WAL to see the duration mismatch in dates.

    Examples
    --------
    >>> first_collateral_shortfall([100.0, 70.0, 40.0], [80.0, 60.0, 45.0])
    3
    >>> first_collateral_shortfall([[100.0, 90.0], [50.0, 60.0]], [[80.0, 60.0], [60.0, 50.0]])
    array([0, 1])
    """
    value = series(collateral_value, "collateral_value", 0)
    debt = series(debt_outstanding, "debt_outstanding", 0)
    check_same_periods(collateral_value=value, debt_outstanding=debt)
    facility_count(collateral_value=value, debt_outstanding=debt)
    return _per_facility(_first_period(value < debt))
