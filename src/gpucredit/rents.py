"""Rent paths: what a GPU-hour earns in each period, in USD per GPU-hour.

Periods follow :mod:`gpucredit.periods`: ``t = 1 .. T``, ``periods_per_year`` m in
{1, 2, 4, 12}. A rent path gives the rent *earned during* period ``t``; period 1 earns
today's rent, so the rent in period ``t`` is set at its start, ``(t - 1) / m`` years from
now. Revenue for the period is ``GPUs x utilization x rent_t x 8760 / m`` (in
:mod:`gpucredit.fleet`).

* :func:`trend_path` - a rent deflating at a constant annual rate;
* :func:`forward_path` - a merchant rent path from a forward curve: the curve at its
  tenors, the trend beyond the last;
* :func:`generation_jumps` - a multiplier stepping rents down at successor launches;
* :func:`contracted_merchant` / :func:`blended_rent` - the contracted (take-or-pay) and
  merchant (market) shares of the GPU-hours and the blended rent.

Facility parameters are scalars or ``(F,)``; paths are ``(T,)`` when every input is a
single facility and ``(F, T)`` otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpucredit._checks import check_periods_per_year, param, series, where
from gpucredit.curves import _step_table, _steps_passed
from gpucredit.errors import GpuCreditError

__all__ = [
    "RentSplit",
    "blended_rent",
    "contracted_merchant",
    "forward_path",
    "generation_jumps",
    "trend_path",
]


def _n_periods(n_periods) -> int:
    try:
        n = int(n_periods)
    except (TypeError, ValueError):
        n = None
    if n is None or n != n_periods or n < 1:
        raise GpuCreditError(f"n_periods must be a whole number >= 1, got {n_periods!r}",
                             argument="n_periods", value=n_periods)
    return n


def _broadcast(*arrays: np.ndarray, names: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    try:
        return np.broadcast_arrays(*arrays)
    except ValueError:
        desc = ", ".join(f"{n} {np.shape(a)}" for n, a in zip(names, arrays, strict=True))
        raise GpuCreditError(
            f"the inputs do not cover the same facilities ({desc}): give one value per "
            "facility (F,) and paths as (T,) or (F, T)", argument=names[-1]) from None


def trend_path(rent0, deflation, n_periods, periods_per_year):
    """Rent deflating at a constant annual rate: the trend of the rent path.

    Parameters
    ----------
    rent0 : float or array_like
        Today's rent in USD per GPU-hour (>= 0), a facility parameter.
    deflation : float or array_like
        Annual rate at which the rent falls, a decimal below 1 (0.30 = falls 30% a year;
        negative = rises), a facility parameter. docs/sources.md: the unit cost of inference
        falls 20-40% a year and rents follow; Epoch AI's $/FLOP falls 21-28% a year.
    n_periods : int
        Number of periods T (>= 1).
    periods_per_year : int
        Periods a year m: 1, 2, 4 or 12.

    Returns
    -------
    ndarray
        Rent during each period, ``(T,)`` or ``(F, T)``.

    Notes
    -----
    .. math:: \\text{rent}_t = \\text{rent}_0\\,(1 - d)^{(t - 1)/m}, \\qquad t = 1..T

    Within a year the rent falls geometrically, by ``(1 - d)^(1/m)`` each period, so
    after ``m`` periods it is ``rent0 (1 - d)``. Period 1 earns today's rent.

    References
    ----------
    .. [1] docs/sources.md, "The thesis" (rental yields deflate) and "Obsolescence and rents"
       (Epoch AI $/FLOP trends).

    Examples
    --------
    >>> trend_path(2.0, 0.36, 3, 2)   # half a year: 2 x 0.64^0.5 = 1.6
    array([2.  , 1.6 , 1.28])
    >>> trend_path([2.0, 3.0], 0.0, 2, 1)
    array([[2., 2.],
           [3., 3.]])
    """
    m = check_periods_per_year(periods_per_year)
    n = _n_periods(n_periods)
    r0 = param(rent0, "rent0", 0)
    d = param(deflation, "deflation", high=1, high_open=True)
    r0, d = _broadcast(r0, d, names=("rent0", "deflation"))
    years = np.arange(n, dtype=float) / m
    return r0 * (1.0 - d) ** years


def _curve(tenors_months, curve) -> tuple[np.ndarray, np.ndarray]:
    tau = np.asarray(tenors_months, dtype=float)
    if tau.ndim != 1 or tau.size < 1:
        raise GpuCreditError(f"tenors_months must be a list of tenors (k,), got shape "
                             f"{tau.shape}", argument="tenors_months", value=tau.shape)
    if not np.all(np.isfinite(tau)) or np.any(tau < 0) or np.any(np.diff(tau) <= 0):
        raise GpuCreditError(f"tenors_months must be >= 0 and increasing, got {tau.tolist()}",
                             argument="tenors_months", value=tau.tolist())
    c = series(curve, "curve", 0, low_open=True)
    if c.shape[-1] != tau.size:
        raise GpuCreditError(f"the curve has {c.shape[-1]} rents for {tau.size} tenors: give "
                             f"one rent per tenor", argument="curve", value=c.shape)
    return tau, c


def forward_path(tenors_months, curve, n_periods, periods_per_year, deflation=0.0,
                 basis=0.0):
    """Merchant rent path from a forward curve: the curve for its tenors, the trend beyond.

    Parameters
    ----------
    tenors_months : array_like
        Tenors of the curve in months from today, ``(k,)``, >= 0 and increasing (0 =
        spot). Silicon Data's H100 curve runs 1-36 months.
    curve : array_like
        Forward rents at those tenors, USD per GPU-hour, > 0: ``(k,)`` shared by every
        facility or ``(F, k)``.
    n_periods : int
        Number of periods T (>= 1).
    periods_per_year : int
        Periods a year m: 1, 2, 4 or 12.
    deflation : float or array_like, default 0.0
        Annual deflation d of the rent beyond the last tenor, in [0, 1), a facility
        parameter: e.g. :attr:`gpucredit.marketfit.RentCycleFit.deflation` fitted to the
        rent history. Default 0: flat beyond the curve (no view).
    basis : float or array_like, default 0.0
        Log ratio of the rent wanted to the curve's rents, a facility parameter: 0 keeps
        the curve; the contract-over-spot basis of
        :func:`gpucredit.marketfit.fit_basis` turns a spot curve into contract rents.

    Returns
    -------
    ndarray
        Rent per GPU-hour earned in each period, ``(T,)`` or ``(F, T)``.

    Notes
    -----
    The rent of period t is set at its start, :math:`\\tau_t = 12(t - 1)/m` months
    (as in :func:`trend_path`). With tenors :math:`\\tau_1 < \\dots < \\tau_k` and curve
    rents :math:`F_j`,

    .. math::
        r_t = e^{\\beta} \\times \\begin{cases}
        F_1 & \\tau_t \\le \\tau_1 \\\\
        F_j^{1 - w} F_{j+1}^{w}, \\; w = \\frac{\\tau_t - \\tau_j}{\\tau_{j+1} - \\tau_j}
        & \\tau_j \\le \\tau_t \\le \\tau_{j+1} \\\\
        F_k (1 - d)^{(\\tau_t - \\tau_k)/12} & \\tau_t > \\tau_k
        \\end{cases}

    linear in log rent between tenors (a constant rate of change between two quotes, as
    the trend has), flat before the first tenor. Where a tenor falls on a period start
    the path equals the curve there.

    References
    ----------
    .. [1] Silicon Data, H100 rental index (SDH100RT) and its 1-36 month forward curve;
       docs/market.md.

    Examples
    --------
    >>> forward_path([0, 6, 12], [2.40, 2.10, 1.90], 6, 4, deflation=0.2).round(4)
    array([2.4   , 2.245 , 2.1   , 1.9975, 1.9   , 1.7969])
    """
    m = check_periods_per_year(periods_per_year)
    n = _n_periods(n_periods)
    tau, c = _curve(tenors_months, curve)
    d = param(deflation, "deflation", 0, 1, high_open=True)
    b = param(basis, "basis")
    _broadcast(c[..., :1], d, b, names=("curve", "deflation", "basis"))
    months = 12.0 * np.arange(n, dtype=float) / m
    logc = np.log(c)
    if tau.size == 1:
        inside = np.broadcast_to(logc[..., :1], (*logc.shape[:-1], n))
    else:
        j = np.clip(np.searchsorted(tau, months, side="right") - 1, 0, tau.size - 2)
        w = np.clip((months - tau[j]) / (tau[j + 1] - tau[j]), 0.0, 1.0)
        inside = (1 - w) * logc[..., j] + w * logc[..., j + 1]
    beyond = np.maximum(months - tau[-1], 0.0) / 12.0
    return np.exp(inside + b) * (1.0 - d) ** beyond


def generation_jumps(n_periods, periods_per_year, jump_years, jump=0.25):
    """Rent multiplier stepping down by ``(1 - J)`` at each successor generation's launch.

    Parameters
    ----------
    n_periods : int
        Number of periods T (>= 1).
    periods_per_year : int
        Periods a year m: 1, 2, 4 or 12.
    jump_years : array_like
        Years from now at which successor generations reach volume: ``(k,)`` shared by
        every facility or ``(F, k)`` one row per facility (NaN pads ragged rows).
        Launches at or before now (<= 0) are already in today's rent and are ignored.
        :func:`gpucredit.curves.step_ages_from_dates` with today as the delivery date
        turns dates into years from now.
    jump : float or array_like, default 0.25
        Share of the rent lost at each launch, in [0, 1], a facility parameter. Default
        25%: docs/sources.md's step of about 20-30% per successor launch, applied to rents
        (our assumption: docs/sources.md quotes it for values).

    Returns
    -------
    ndarray
        Multiplier in [0, 1] per period, ``(T,)`` or ``(F, T)``; multiply a
        :func:`trend_path` by it.

    Notes
    -----
    .. math:: M_t = (1 - J)^{n_t}, \\qquad n_t = \\#\\{i : 0 < s_i \\le (t - 1)/m\\}

    A launch at ``s`` years hits every period that starts at or after ``s``, the same
    timing as the rent itself (set at the start of the period).

    References
    ----------
    .. [1] docs/sources.md, "Correlated stress": log-rent with jumps at generation launches.

    Examples
    --------
    >>> generation_jumps(6, 4, jump_years=[0.5, 1.0], jump=0.2)
    array([1.  , 1.  , 0.8 , 0.8 , 0.64, 0.64])
    """
    m = check_periods_per_year(periods_per_year)
    n = _n_periods(n_periods)
    starts = np.arange(n, dtype=float) / m
    passed = _steps_passed(starts, _step_table(jump_years, "jump_years"))
    j = param(jump, "jump", 0, 1)
    j, passed = _broadcast(j, passed, names=("jump", "jump_years"))
    return (1.0 - j) ** passed


@dataclass(frozen=True, eq=False)
class RentSplit:
    """Contracted and merchant rents of a facility, period by period.

    Every attribute is a path ``(T,)`` or ``(F, T)`` in the same shape.

    Attributes
    ----------
    contracted_share_path : ndarray
        Share of the GPU-hours sold under the contract in each period (0 once the
        contract has ended).
    contract_rate_path : ndarray
        The contract rate, USD per GPU-hour, repeated each period (it applies to the
        contracted share only).
    merchant_rent_path : ndarray
        The market rent, USD per GPU-hour, that the rest of the hours earn.
    blended_rent_path : ndarray
        Rent per GPU-hour averaged over contracted and merchant hours:
        ``share x contract_rate + (1 - share) x merchant_rent``.
    """

    contracted_share_path: np.ndarray
    contract_rate_path: np.ndarray
    merchant_rent_path: np.ndarray
    blended_rent_path: np.ndarray

    @property
    def merchant_share_path(self) -> np.ndarray:
        """Share of the GPU-hours sold at the market rent: ``1 - contracted share``."""
        return 1.0 - self.contracted_share_path


def contracted_merchant(contract_rate, merchant_rent, contract_end_period,
                        contracted_share=1.0) -> RentSplit:
    """Split the GPU-hours between a take-or-pay contract and the merchant market.

    Parameters
    ----------
    contract_rate : float or array_like
        Contract rate in USD per GPU-hour (>= 0), a facility parameter.
    merchant_rent : array_like
        Market rent path in USD per GPU-hour (>= 0), ``(T,)`` or ``(F, T)``, e.g. from
        :func:`trend_path`.
    contract_end_period : int or array_like
        Number of periods from now that the contract runs (a whole number >= 0; 0 = no
        contract), a facility parameter. The contract covers periods
        ``t <= contract_end_period``.
    contracted_share : float or array_like, default 1.0
        Share of the GPU-hours under contract while it runs, in [0, 1], a facility
        parameter. Default 1: the whole fleet contracted.

    Returns
    -------
    RentSplit
        The share, the two rate paths and the blended rent, all ``(T,)`` or ``(F, T)``.

    Notes
    -----
    .. math:: s_t = \\begin{cases} s & t \\le t_{end} \\\\ 0 & t > t_{end} \\end{cases},
              \\qquad
              \\text{rent}_t = s_t\\,c + (1 - s_t)\\,\\text{merchant}_t

    so revenue = hours x utilization x rent_t. The contract is take-or-pay: its hours
    earn ``c`` whatever the market does; the other hours earn the market rent.

    References
    ----------
    .. [1] docs/sources.md, "Cash flows and coverage": contracted (take-or-pay) vs merchant
       revenue.

    Examples
    --------
    >>> split = contracted_merchant(2.65, [2.42, 2.0, 1.6], contract_end_period=2,
    ...                             contracted_share=0.5)
    >>> split.contracted_share_path
    array([0.5, 0.5, 0. ])
    >>> split.blended_rent_path.round(3)
    array([2.535, 2.325, 1.6  ])
    """
    c = param(contract_rate, "contract_rate", 0)
    merchant = series(merchant_rent, "merchant_rent", 0)
    end = param(contract_end_period, "contract_end_period", 0)
    flat = end.reshape(-1) if end.ndim else end
    fractional = flat != np.floor(flat)
    if fractional.any():
        value = float(flat[fractional][0]) if flat.ndim else float(flat)
        pos = where(flat, fractional)
        raise GpuCreditError(
            f"contract_end_period must be a whole number of periods, got {value:g}"
            + (f" ({pos})" if pos else ""), argument="contract_end_period", value=value)
    share = param(contracted_share, "contracted_share", 0, 1)
    t = np.arange(1, merchant.shape[-1] + 1, dtype=float)
    c, merchant, end, share = _broadcast(
        c, merchant, end, share,
        names=("contract_rate", "merchant_rent", "contract_end_period", "contracted_share"))
    share_t = np.where(t <= end, share, 0.0)
    blended = share_t * c + (1.0 - share_t) * merchant
    return RentSplit(contracted_share_path=share_t, contract_rate_path=np.array(c),
                     merchant_rent_path=np.array(merchant), blended_rent_path=blended)


def blended_rent(contract_rate, merchant_rent, contract_end_period, contracted_share=1.0):
    """Blended rent per GPU-hour: :func:`contracted_merchant`'s ``blended_rent_path``.

    Parameters are those of :func:`contracted_merchant`.

    Returns
    -------
    ndarray
        ``share_t x contract_rate + (1 - share_t) x merchant_rent_t``, ``(T,)`` or ``(F, T)``.

    Examples
    --------
    >>> blended_rent(2.65, [2.42, 2.0], contract_end_period=1)
    array([2.65, 2. ])
    """
    return contracted_merchant(contract_rate, merchant_rent, contract_end_period,
                               contracted_share).blended_rent_path
