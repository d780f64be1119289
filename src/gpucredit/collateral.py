"""Collateral: market value, fire-sale liquidation haircuts, LTV, borrowing base, LGD.

A repossessed GPU fleet is sold into a thin secondary market, usually outside the
liquid-cooled racks it needs. This module turns a market value (cost x residual-value
curve) into what a lender actually recovers and measures the loan against it:

* :func:`market_value` - fleet market value from cost, a residual fraction and survival;
* :func:`time_factor`, :func:`impact_haircut` and :func:`liquidation_value` - the
  parametric fire-sale haircut of docs/sources.md, returned term by term (:class:`Liquidation`);
* :func:`optimal_liquidation_horizon` (closed form) and :func:`cost_minimising_horizon`
  (numeric, on the full recovery function) - how long to take over the sale;
* :func:`ltv`, :func:`ltv_breach`, :func:`max_ltv` - loan to value per period;
* :func:`borrowing_base` and :func:`required_prepayment` - the asset-based facility test;
* :func:`crypto_haircut`, :class:`CryptoLenderTerms`, :data:`BASEL_CRYPTO_RISK_WEIGHT` -
  haircuts on crypto collateral;
* :func:`recovery_at_default` and :func:`lgd` - recovery and loss given default for a
  default at any period.

Conventions: money in USD, haircuts and rates as decimals, months of
:data:`DAYS_PER_MONTH` days. A *facility parameter* is a scalar or ``(F,)``; a *period
series* is ``(T,)`` or ``(F, T)`` (see ``gpucredit._checks``). Functions marked
"elementwise" broadcast their arguments with numpy's rules, like a ufunc. Scalars in give
Python floats out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from gpucredit._checks import check_range, check_same_periods, param, where
from gpucredit.errors import GpuCreditError

__all__ = [
    "BASEL_CRYPTO_RISK_WEIGHT",
    "DAYS_PER_MONTH",
    "BorrowingBase",
    "CryptoLenderTerms",
    "Liquidation",
    "borrowing_base",
    "cost_minimising_horizon",
    "crypto_haircut",
    "impact_haircut",
    "lgd",
    "liquidation_value",
    "ltv",
    "ltv_breach",
    "market_value",
    "max_ltv",
    "optimal_liquidation_horizon",
    "recovery_at_default",
    "required_prepayment",
    "time_factor",
]

DAYS_PER_MONTH = 365.25 / 12
"""Days in a month (30.4375, the average Julian month) when converting a sale horizon
in months to the days of :func:`time_factor`. Using 365/12 instead changes the time
factor by less than 0.1%."""

BASEL_CRYPTO_RISK_WEIGHT = 12.5
"""Risk weight of unbacked ("Group 2b") cryptoassets under the Basel Committee's
standard, 1,250% (BCBS, *Prudential treatment of cryptoasset exposures*, December 2022):
a bank holds capital equal to the full exposure."""


# --------------------------------------------------------------------------- helpers
# Private helpers shared with gpucredit.miners (which imports this module).

def _out(x):
    """A 0-d result as a Python float (or bool); arrays unchanged."""
    x = np.asarray(x)
    if x.ndim == 0:
        return x.item()
    return x


def _broadcast(**arrays: np.ndarray) -> tuple[int, ...]:
    """The broadcast shape of the arguments, or an error naming their shapes."""
    try:
        return np.broadcast_shapes(*(np.shape(a) for a in arrays.values()))
    except ValueError:
        shapes = ", ".join(f"{k} {np.shape(v)}" for k, v in arrays.items())
        raise GpuCreditError(
            f"the arguments' shapes do not fit together: {shapes}; give one value, one per "
            "facility (F,), one per period (T,) or a facilities x periods table (F, T)",
            argument=next(iter(arrays)), value=shapes) from None


def _param_or_table(x, name: str, low=None, high=None, *, low_open=False, high_open=False):
    """A facility parameter (scalar -> (), (F,) -> (F, 1)) or a full (F, T) table."""
    arr = check_range(x, name, low, high, low_open=low_open, high_open=high_open)
    if arr.ndim == 2:
        return arr
    return param(arr, name)


def _series_or_scalar(x, name: str, low=None, high=None, *, low_open=False, high_open=False):
    """A period series (T,) or (F, T), or a scalar (one facility, one period)."""
    arr = check_range(x, name, low, high, low_open=low_open, high_open=high_open)
    if arr.ndim > 2:
        raise GpuCreditError(
            f"{name} must be a series (periods) or a table (facilities x periods), "
            f"got an array of shape {arr.shape}", argument=name, value=x)
    return arr


def _check_periods(**arrays: np.ndarray) -> None:
    """Series that have a time axis must have the same number of periods."""
    sized = {k: v for k, v in arrays.items() if np.ndim(v) >= 1}
    if len(sized) > 1:
        check_same_periods(**sized)


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where den == 0 or the ratio overflows (never inf, never a warning)."""
    num, den = np.broadcast_arrays(np.asarray(num, float), np.asarray(den, float))
    out = np.full(num.shape, np.nan)
    with np.errstate(over="ignore"):
        np.divide(num, den, out=out, where=den != 0)
    out[np.isinf(out)] = np.nan
    return out


# ------------------------------------------------------------------ market value

def market_value(cost, residual_fraction, units_surviving=1.0):
    """Market value of a fleet: cost x residual fraction x surviving share of units.

    Parameters
    ----------
    cost : float or array_like (F,)
        Purchase cost of the fleet in USD (a facility parameter), >= 0.
    residual_fraction : float or array_like (T,) or (F, T)
        Market value of a surviving unit as a fraction of its cost at each period, from a
        residual-value curve (``gpucredit.curves``), >= 0.
    units_surviving : float or array_like (T,) or (F, T), default 1.0
        Share of the units still working, in [0, 1] (physical attrition: about 9% a year
        in large training runs, docs/sources.md "Obsolescence and rents").

    Returns
    -------
    float or ndarray
        Market value in USD: a float for scalar inputs, else ``(T,)`` or ``(F, T)``.

    Notes
    -----
    .. math:: MV_{f,t} = C_f \\, r_{f,t} \\, s_{f,t}

    ``cost`` gets a trailing axis so that ``(F,)`` costs meet ``(F, T)`` curves; for a
    one-date portfolio pass the residual fractions as a column ``(F, 1)``.

    Examples
    --------
    >>> market_value(100e6, 0.62)
    62000000.0
    >>> market_value([100e6, 50e6], [[0.62, 0.43], [0.8, 0.6]], units_surviving=0.91)
    array([[56420000., 39130000.],
           [36400000., 27300000.]])
    """
    c = param(cost, "cost", 0)
    r = _series_or_scalar(residual_fraction, "residual_fraction", 0)
    s = _series_or_scalar(units_surviving, "units_surviving", 0, 1)
    _broadcast(cost=c, residual_fraction=r, units_surviving=s)
    return _out(c * r * s)


# ------------------------------------------------------------- liquidation haircut

def time_factor(days, *, a=0.6155, tau_days=57.15):
    """Share of market value a sale completed in ``days`` fetches (elementwise).

    Parameters
    ----------
    days : float or array_like
        Time allowed to sell, in days, >= 0.
    a : float, default 0.6155
        Discount for an instant sale, in [0, 1]; ``a = 0`` switches the term off.
    tau_days : float, default 57.15
        Time constant in days, > 0.

    Returns
    -------
    float or ndarray
        :math:`f_{time}` in [1 - a, 1].

    Notes
    -----
    .. math:: f_{time}(T) = 1 - a \\, e^{-T/\\tau}

    The defaults are our least-squares fit (docs/sources.md, "Collateral and liquidation
    haircuts") to appraisal practice - a forced sale fetches about 45% of market value in
    7 days, 65% in 30, 85% in 90 and all of it in 180 - consistent with forced
    liquidation at 70-80% of orderly value. The fit's residuals reach 0.026: it gives
    0.455, 0.636, 0.873 and 0.974 at those points. The curve approaches 1 from below and
    never exceeds it (no cap is needed while ``0 <= a <= 1``).

    Examples
    --------
    >>> round(time_factor(30), 3)
    0.636
    >>> time_factor([7, 90, 180]).round(2)
    array([0.46, 0.87, 0.97])
    >>> time_factor(30, a=0.0)
    1.0
    """
    d = check_range(days, "days", 0)
    a_ = check_range(a, "a", 0, 1)
    tau = check_range(tau_days, "tau_days", 0, low_open=True)
    _broadcast(days=d, a=a_, tau_days=tau)
    return _out(1.0 - a_ * np.exp(-d / tau))


def impact_haircut(units_sold, monthly_absorption, months_to_sell, *,
                   sigma_monthly=0.10, y=0.75):
    """Price-impact haircut from selling ``units_sold`` GPUs into a thin market (elementwise).

    Parameters
    ----------
    units_sold : float or array_like
        Units sold, Q, >= 0.
    monthly_absorption : float or array_like
        Units the secondary market absorbs a month at the going price, A, > 0.
    months_to_sell : float or array_like
        Months taken over the sale, T, > 0.
    sigma_monthly : float or array_like, default 0.10
        Monthly volatility of the used-GPU price, >= 0. **Our estimate** (about 35% a
        year): docs/sources.md gives no volatility, only SpotWire's annual price decays of
        28-54% across close substitutes (A100-SXM4 -28%, V100 -37%, A100-PCIe -54%) and
        H100 rents swinging from $8 to $1.70 an hour; a 10% monthly move sits inside that
        dispersion.
    y : float or array_like, default 0.75
        Impact coefficient Y of the square-root law, >= 0 (docs/sources.md: about 0.5-1; we take
        the middle).

    Returns
    -------
    float or ndarray
        :math:`h_{impact}` in [0, 1].

    Notes
    -----
    The square-root impact law (docs/sources.md, "Collateral and liquidation haircuts"):

    .. math:: h_{impact} = \\min\\left(1,\\; Y \\sigma_m \\sqrt{Q / (A T)}\\right)

    Selling more units, or faster, moves the price more; spreading the sale over longer
    horizons lowers the impact with the square root of time.

    Examples
    --------
    >>> round(impact_haircut(10_000, 1_000, 3), 4)    # 0.75 x 0.10 x sqrt(10/3)
    0.1369
    >>> impact_haircut(1e6, 100, 1)                   # capped: the market cannot take it
    1.0
    """
    q = check_range(units_sold, "units_sold", 0)
    a_ = check_range(monthly_absorption, "monthly_absorption", 0, low_open=True)
    t = check_range(months_to_sell, "months_to_sell", 0, low_open=True)
    s = check_range(sigma_monthly, "sigma_monthly", 0)
    y_ = check_range(y, "y", 0)
    _broadcast(units_sold=q, monthly_absorption=a_, months_to_sell=t, sigma_monthly=s, y=y_)
    return _out(np.minimum(1.0, y_ * s * np.sqrt(q / (a_ * t))))


@dataclass(frozen=True)
class Liquidation:
    """The build-up of a liquidation value, term by term (all arrays broadcast together).

    Attributes
    ----------
    market_value : float or ndarray
        Market value before any haircut, USD.
    time_factor : float or ndarray
        :math:`f_{time}` for the sale horizon.
    impact_haircut : float or ndarray
        :math:`h_{impact}`.
    install_haircut : float or ndarray
        :math:`h_{install}`, the discount for buyers without liquid-cooled capacity.
    costs : float or ndarray
        De-installation, logistics and sale costs, USD.
    recovery : float or ndarray
        Net liquidation proceeds, USD, in [0, market value].
    haircut : float or ndarray
        ``1 - recovery / market_value`` in [0, 1]; NaN where the market value is 0.
    """

    market_value: float | np.ndarray
    time_factor: float | np.ndarray
    impact_haircut: float | np.ndarray
    install_haircut: float | np.ndarray
    costs: float | np.ndarray
    recovery: float | np.ndarray
    haircut: float | np.ndarray


def liquidation_value(market_value, units, monthly_absorption, months_to_sell, *,
                      sigma_monthly=0.10, y=0.75, install_haircut=0.15, sale_cost_rate=0.05,
                      sale_cost_per_unit=0.0, time_factor_a=0.6155,
                      time_factor_tau_days=57.15) -> Liquidation:
    """What a forced sale of the collateral recovers, term by term (elementwise).

    Parameters
    ----------
    market_value : float or array_like
        Market value of the collateral, USD, >= 0 (e.g. from :func:`market_value`).
    units : float or array_like
        GPUs sold, Q, >= 0.
    monthly_absorption : float or array_like
        Units the secondary market absorbs a month, A, > 0.
    months_to_sell : float or array_like
        Sale horizon T in months, > 0; the time factor sees ``T x DAYS_PER_MONTH`` days.
    sigma_monthly, y : float or array_like
        Impact-law inputs, see :func:`impact_haircut` (defaults 0.10, our estimate, and
        0.75, docs/sources.md's 0.5-1).
    install_haircut : float or array_like, default 0.15
        Discount because buyers need liquid-cooled, high-density capacity to use the
        GPUs, in [0, 1]. docs/sources.md: 10-25% where buyers need liquid cooling; 0.15 is our
        central pick (use about 0 for air-cooled PCIe cards).
    sale_cost_rate : float or array_like, default 0.05
        De-installation, logistics and sale costs as a share of market value, in [0, 1]
        (docs/sources.md: 3-8%).
    sale_cost_per_unit : float or array_like, default 0.0
        A further fixed cost per GPU in USD, >= 0 (e.g. a quoted de-rack fee).
    time_factor_a, time_factor_tau_days : float or array_like
        Time-factor parameters, see :func:`time_factor` (defaults 0.6155 and 57.15 days;
        ``time_factor_a=0`` switches the term off).

    Returns
    -------
    Liquidation
        The terms and the result: ``recovery`` in USD and ``haircut`` in [0, 1].

    Notes
    -----
    docs/sources.md, "Collateral and liquidation haircuts" (our construction, each term a
    parameter):

    .. math::

        R = \\max\\bigl(0,\\; MV \\, f_{time}(T) \\, (1 - h_{impact}) \\, (1 - h_{install})
            - c \\, MV - c_u Q\\bigr), \\qquad H = 1 - R / MV

    Costs are a share of market value (not of proceeds), so the lender pays them even
    when the sale goes badly; the recovery is floored at 0 (nobody sells at a net loss;
    the collateral is abandoned instead). Recovery is undiscounted: the speed of sale
    enters through :math:`f_{time}`. The evidence that fire sales fetch well below value:
    Shleifer-Vishny (1992, 2011), Pulvino (1998), Ramey-Shapiro (2001).

    Examples
    --------
    >>> liq = liquidation_value(250e6, 10_000, 1_000, 3)
    >>> round(liq.time_factor, 3), round(liq.impact_haircut, 3), round(liq.costs / 1e6, 1)
    (0.875, 0.137, 12.5)
    >>> round(liq.recovery / 1e6, 1), round(liq.haircut, 3)
    (148.1, 0.408)
    """
    mv = check_range(market_value, "market_value", 0)
    q = check_range(units, "units", 0)
    t = check_range(months_to_sell, "months_to_sell", 0, low_open=True)
    hi = check_range(install_haircut, "install_haircut", 0, 1)
    c = check_range(sale_cost_rate, "sale_cost_rate", 0, 1)
    cu = check_range(sale_cost_per_unit, "sale_cost_per_unit", 0)
    h = np.asarray(impact_haircut(q, monthly_absorption, t, sigma_monthly=sigma_monthly, y=y))
    f = np.asarray(time_factor(t * DAYS_PER_MONTH, a=time_factor_a, tau_days=time_factor_tau_days))
    _broadcast(market_value=mv, units=q, monthly_absorption=np.asarray(monthly_absorption),
               months_to_sell=t, install_haircut=hi, sale_cost_rate=c,
               sale_cost_per_unit=cu, time_factor=f)
    costs = c * mv + cu * q
    recovery = np.maximum(0.0, mv * f * (1.0 - h) * (1.0 - hi) - costs)
    haircut = np.clip(1.0 - _safe_ratio(recovery, mv), 0.0, 1.0)
    shape = np.broadcast_shapes(mv.shape, recovery.shape)
    return Liquidation(
        market_value=_out(np.broadcast_to(mv, shape)), time_factor=_out(f),
        impact_haircut=_out(h), install_haircut=_out(hi), costs=_out(costs),
        recovery=_out(recovery), haircut=_out(haircut))


def optimal_liquidation_horizon(units, monthly_absorption, carry_per_month, *,
                                sigma_monthly=0.10, y=0.75):
    """Closed-form sale horizon that balances price impact against carry (elementwise).

    Parameters
    ----------
    units : float or array_like
        Units sold, Q, >= 0.
    monthly_absorption : float or array_like
        Units the market absorbs a month, A, > 0.
    carry_per_month : float or array_like
        Carry k as a share of market value per month (depreciation plus funding of the
        unsold stock), > 0.
    sigma_monthly, y : float or array_like
        Impact-law inputs, see :func:`impact_haircut`.

    Returns
    -------
    float or ndarray
        :math:`T^*` in months.

    Notes
    -----
    Minimising :math:`h_{impact}(T) + kT = Y\\sigma_m\\sqrt{Q/A}\\,T^{-1/2} + kT`
    (docs/sources.md, "Collateral and liquidation haircuts"):

    .. math:: T^* = \\left(\\frac{Y \\sigma_m \\sqrt{Q/A}}{2k}\\right)^{2/3}

    At the optimum the impact haircut equals :math:`2kT^*` and impact plus carry cost
    :math:`3kT^*`. This is the uncapped problem without the time factor: where
    :math:`3kT^* \\ge 1` the impact and carry of a patient sale exceed the whole value,
    and with the impact capped at 100% an immediate sale is no worse.
    :func:`cost_minimising_horizon` optimises the full, capped recovery function.

    Examples
    --------
    >>> round(optimal_liquidation_horizon(10_000, 1_000, 0.02), 2)
    3.28
    """
    q = check_range(units, "units", 0)
    a_ = check_range(monthly_absorption, "monthly_absorption", 0, low_open=True)
    k = check_range(carry_per_month, "carry_per_month", 0, low_open=True)
    s = check_range(sigma_monthly, "sigma_monthly", 0)
    y_ = check_range(y, "y", 0)
    _broadcast(units=q, monthly_absorption=a_, carry_per_month=k, sigma_monthly=s, y=y_)
    return _out((y_ * s * np.sqrt(q / a_) / (2.0 * k)) ** (2.0 / 3.0))


def _recovery_fraction(t_months, q, a_, s, y_, hi, c, fa, ftau):
    """Net recovery as a share of market value for a sale over ``t_months`` (no checks)."""
    h = np.minimum(1.0, y_ * s * np.sqrt(q / (a_ * t_months)))
    f = 1.0 - fa * np.exp(-t_months * DAYS_PER_MONTH / ftau)
    return np.maximum(0.0, f * (1.0 - h) * (1.0 - hi) - c)


def cost_minimising_horizon(units, monthly_absorption, carry_per_month, *,
                            sigma_monthly=0.10, y=0.75, install_haircut=0.15,
                            sale_cost_rate=0.05, time_factor_a=0.6155,
                            time_factor_tau_days=57.15, min_months=0.01, max_months=60.0,
                            grid_points=400, tol=1e-10):
    """The cost-minimising liquidation horizon on the full recovery function (elementwise).

    Parameters
    ----------
    units, monthly_absorption, carry_per_month : float or array_like
        As in :func:`optimal_liquidation_horizon`.
    sigma_monthly, y, install_haircut, sale_cost_rate, time_factor_a, time_factor_tau_days
        As in :func:`liquidation_value` (same defaults and sources).
    min_months, max_months : float, default 0.01 and 60
        Search interval in months, ``0 < min_months < max_months``.
    grid_points : int, default 400
        Points of the log-spaced grid that brackets the minimum, >= 3.
    tol : float, default 1e-10
        Width in months at which the golden-section refinement stops, > 0.

    Returns
    -------
    float or ndarray
        The horizon in months, in ``[min_months, max_months]``.

    Notes
    -----
    Minimises the loss as a share of market value plus carry,

    .. math:: L(T) = 1 - R(T)/MV + kT,

    with :math:`R` the recovery of :func:`liquidation_value` (time factor, capped impact,
    install haircut, proportional costs and the floor at 0; a fixed per-unit cost does
    not depend on T and is left out). The search evaluates :math:`L` on a log-spaced grid
    for every element at once, brackets the best grid point by its neighbours and
    refines it by a vectorised golden-section search - no loop over facilities. With
    ``time_factor_a=0``, ``install_haircut=0`` and ``sale_cost_rate=0`` the answer is
    the closed form of :func:`optimal_liquidation_horizon` while its cost :math:`3kT^*`
    is below 100% of value.

    Examples
    --------
    >>> round(cost_minimising_horizon(10_000, 1_000, 0.02, time_factor_a=0.0,
    ...                               install_haircut=0.0, sale_cost_rate=0.0), 2)
    3.28
    >>> round(cost_minimising_horizon(10_000, 1_000, 0.02), 2)   # the time factor waits longer
    5.61
    """
    q = check_range(units, "units", 0)
    a_ = check_range(monthly_absorption, "monthly_absorption", 0, low_open=True)
    k = check_range(carry_per_month, "carry_per_month", 0, low_open=True)
    s = check_range(sigma_monthly, "sigma_monthly", 0)
    y_ = check_range(y, "y", 0)
    hi = check_range(install_haircut, "install_haircut", 0, 1)
    c = check_range(sale_cost_rate, "sale_cost_rate", 0, 1)
    fa = check_range(time_factor_a, "time_factor_a", 0, 1)
    ftau = check_range(time_factor_tau_days, "time_factor_tau_days", 0, low_open=True)
    lo_m = float(check_range(min_months, "min_months", 0, low_open=True))
    hi_m = float(check_range(max_months, "max_months", lo_m, low_open=True))
    n = int(check_range(grid_points, "grid_points", 3))
    tol = float(check_range(tol, "tol", 0, low_open=True))
    shape = _broadcast(units=q, monthly_absorption=a_, carry_per_month=k, sigma_monthly=s,
                       y=y_, install_haircut=hi, sale_cost_rate=c, time_factor_a=fa,
                       time_factor_tau_days=ftau)
    args = [np.broadcast_to(v, shape) for v in (q, a_, s, y_, hi, c, fa, ftau)]
    k = np.broadcast_to(k, shape)

    def loss(t, k, args):
        return 1.0 - _recovery_fraction(t, *args) + k * t

    # Grid of shape (n, *shape): every element of the broadcast inputs searched at once.
    flat = np.geomspace(lo_m, hi_m, n)
    grid = flat.reshape((n,) + (1,) * len(shape))
    i = np.argmin(loss(grid, k[None], [v[None] for v in args]), axis=0)
    lo = flat[np.maximum(i - 1, 0)]
    hi_b = flat[np.minimum(i + 1, n - 1)]

    # Vectorised golden-section search inside each bracket.
    inv_phi = (np.sqrt(5.0) - 1.0) / 2.0
    for _ in range(200):
        if np.all(hi_b - lo <= tol):
            break
        x1 = hi_b - inv_phi * (hi_b - lo)
        x2 = lo + inv_phi * (hi_b - lo)
        left = loss(x1, k, args) <= loss(x2, k, args)
        hi_b = np.where(left, x2, hi_b)
        lo = np.where(left, lo, x1)
    best = 0.5 * (lo + hi_b)
    # A bracket at the end of the grid may hold a better end point than its middle.
    for edge in (lo_m, hi_m):
        e = np.full(shape, edge)
        best = np.where(loss(e, k, args) < loss(best, k, args), e, best)
    return _out(best)


# ----------------------------------------------------------------------------- LTV

def ltv(debt_outstanding, collateral_value, accrued_interest=0.0):
    """Loan to value per period: (debt outstanding + accrued interest) / collateral value.

    Parameters
    ----------
    debt_outstanding : float or array_like (T,) or (F, T)
        Principal outstanding, USD, >= 0.
    collateral_value : float or array_like (T,) or (F, T)
        Collateral value, USD, >= 0: a market value, or a liquidation value for a
        haircut LTV.
    accrued_interest : float or array_like, default 0.0
        Interest accrued and unpaid, USD, >= 0.

    Returns
    -------
    float or ndarray
        LTV as a decimal (1.0 = 100%), elementwise. Never inf: 0 where nothing is owed
        (whatever the collateral), NaN where debt is owed against zero collateral (or
        collateral so small the ratio overflows) - the ratio has no finite value there;
        :func:`ltv_breach` flags those periods.

    Notes
    -----
    .. math:: LTV_t = (D_t + AI_t) / V_t

    (docs/sources.md, "Collateral and liquidation haircuts").

    Examples
    --------
    >>> ltv(80.0, 100.0, accrued_interest=2.0)
    0.82
    >>> ltv([80.0, 60.0, 10.0, 0.0], [100.0, 50.0, 0.0, 0.0])
    array([0.8, 1.2, nan, 0. ])
    """
    d = _series_or_scalar(debt_outstanding, "debt_outstanding", 0)
    v = _series_or_scalar(collateral_value, "collateral_value", 0)
    ai = _series_or_scalar(accrued_interest, "accrued_interest", 0)
    _check_periods(debt_outstanding=d, collateral_value=v)
    _broadcast(debt_outstanding=d, collateral_value=v, accrued_interest=ai)
    exposure = d + ai
    out = _safe_ratio(exposure, v)
    out = np.where(exposure == 0, 0.0, out)
    return _out(out)


def ltv_breach(debt_outstanding, collateral_value, accrued_interest=0.0, *, threshold=1.0):
    """Whether LTV exceeds ``threshold`` in each period, including debt with no collateral.

    Parameters
    ----------
    debt_outstanding, collateral_value, accrued_interest
        As in :func:`ltv`.
    threshold : float or array_like, default 1.0
        LTV limit as a decimal, >= 0 (1.0: the debt exceeds the collateral; a covenant
        or margin-call level such as :class:`CryptoLenderTerms` ``liquidation_ltv``).

    Returns
    -------
    bool or ndarray of bool
        ``debt + accrued > threshold x collateral``, computed without dividing so that
        debt owed against zero collateral counts as a breach.

    Examples
    --------
    >>> ltv_breach([80.0, 60.0, 10.0, 0.0], [100.0, 50.0, 0.0, 0.0])
    array([False,  True,  True, False])
    >>> ltv_breach(80.0, 100.0, threshold=0.75)
    True
    """
    d = _series_or_scalar(debt_outstanding, "debt_outstanding", 0)
    v = _series_or_scalar(collateral_value, "collateral_value", 0)
    ai = _series_or_scalar(accrued_interest, "accrued_interest", 0)
    th = check_range(threshold, "threshold", 0)
    _check_periods(debt_outstanding=d, collateral_value=v)
    _broadcast(debt_outstanding=d, collateral_value=v, accrued_interest=ai, threshold=th)
    return _out((d + ai) > th * v)


def max_ltv(debt_outstanding, collateral_value, accrued_interest=0.0):
    """Highest LTV over the periods (the last axis) of each facility.

    Parameters
    ----------
    debt_outstanding, collateral_value, accrued_interest
        As in :func:`ltv`.

    Returns
    -------
    float or ndarray (F,)
        The maximum of :func:`ltv` over periods; NaN for a facility with debt owed against
        zero collateral in some period (its LTV is unbounded; :func:`ltv_breach` flags it).

    Examples
    --------
    >>> max_ltv([[80.0, 60.0], [50.0, 40.0]], [[100.0, 50.0], [100.0, 0.0]])
    array([1.2, nan])
    """
    out = np.asarray(ltv(debt_outstanding, collateral_value, accrued_interest))
    return _out(out if out.ndim == 0 else np.max(out, axis=-1))


# ------------------------------------------------------------------ borrowing base

@dataclass(frozen=True)
class BorrowingBase:
    """A borrowing base and its build-up; pools on the last axis.

    Attributes
    ----------
    contributions : ndarray (P,) or (F, P)
        Each pool's contribution after eligibility and concentration caps, USD.
    excess_concentration : ndarray (P,) or (F, P)
        The amount each pool's contribution lost to its concentration cap, USD.
    eligible_base : float or ndarray (F,)
        Sum of the contributions before the commitment cap, USD.
    base : float or ndarray (F,)
        The borrowing base: ``min(eligible_base, commitment)``, USD.
    """

    contributions: np.ndarray
    excess_concentration: np.ndarray
    eligible_base: float | np.ndarray
    base: float | np.ndarray


def _pool_table(x, name, shape, low=None, high=None, *, low_open=False):
    arr = check_range(x, name, low, high, low_open=low_open)
    try:
        return np.broadcast_to(arr, shape)
    except ValueError:
        raise GpuCreditError(
            f"{name} has shape {arr.shape} but the pools table eligible_values has shape "
            f"{shape}: give one value, one per pool (P,), a column per facility (F, 1) or "
            "the full table", argument=name, value=arr.shape) from None


def borrowing_base(eligible_values, advance_rates, haircuts, commitment,
                   concentration_cap=None, eligible=None) -> BorrowingBase:
    """Borrowing base of an asset-based facility with eligibility and concentration caps.

    Parameters
    ----------
    eligible_values : array_like (P,) or (F, P)
        Value of each collateral pool (a GPU cluster, a counterparty's contract
        receivables ...), USD, >= 0: one facility's pools, or facilities x pools.
    advance_rates : float or array_like
        Advance rate per pool in [0, 1]; broadcast against the pools table (a 1-D array
        is one rate per *pool*; give per-facility rates as a column ``(F, 1)``).
    haircuts : float or array_like
        Haircut per pool in [0, 1] (e.g. :class:`Liquidation` ``haircut``), broadcast
        the same way.
    commitment : float or array_like (F,)
        Facility commitment, USD, >= 0 (one per facility).
    concentration_cap : float or array_like, optional
        Most a single pool may contribute, as a share of the facility's total eligible
        contribution, in (0, 1]; broadcast like ``advance_rates``. None: no cap.
    eligible : bool or array_like of bool, optional
        Eligibility flag per pool (True / 1: eligible); ineligible pools contribute 0.
        None: all eligible.

    Returns
    -------
    BorrowingBase
        Contributions per pool, the excess cut by the caps, and the base.

    Notes
    -----
    docs/sources.md, "Collateral and liquidation haircuts":

    .. math::

        c_p = e_p \\, a_p \\, V_p (1 - h_p), \\qquad
        BB = \\min\\Bigl(K,\\; \\sum_p \\min\\bigl(c_p,\\; \\kappa_p \\sum_q c_q\\bigr)\\Bigr)

    The concentration limit is measured against the total eligible contribution before
    caps (the "excess concentration" convention of asset-based lending), not against the
    capped base: that avoids a circular definition, under which a cap below 1/P would
    drive the base to zero.

    Examples
    --------
    >>> bb = borrowing_base([1000.0, 500.0, 400.0], [0.8, 0.7, 0.6], [0.25, 0.2, 0.5],
    ...                     commitment=750.0, concentration_cap=0.4)
    >>> bb.contributions
    array([400., 280., 120.])
    >>> bb.eligible_base, bb.base
    (800.0, 750.0)
    """
    v = check_range(eligible_values, "eligible_values", 0)
    if v.ndim == 0:
        v = v[None]
    if v.ndim > 2:
        raise GpuCreditError(
            "eligible_values must be one value per pool (P,) or a table of facilities x "
            f"pools (F, P), got an array of shape {v.shape}",
            argument="eligible_values", value=v.shape)
    shape = v.shape
    adv = _pool_table(advance_rates, "advance_rates", shape, 0, 1)
    hc = _pool_table(haircuts, "haircuts", shape, 0, 1)
    if eligible is None:
        el = np.ones(shape)
    else:
        el = _pool_table(eligible, "eligible", shape, 0, 1)
        bad = (el != 0) & (el != 1)
        if bad.any():
            raise GpuCreditError(
                f"eligible must be True/False (1/0), got {el[bad][0]:g} ({where(el, bad)})",
                argument="eligible", value=float(el[bad][0]))
    k = check_range(commitment, "commitment", 0)
    if k.ndim > 1 or (k.ndim == 1 and (v.ndim != 2 or k.shape[0] != shape[0])):
        raise GpuCreditError(
            f"commitment must be one value, or one per facility ({shape[0] if v.ndim == 2 else 1} "
            f"for this pools table), got an array of shape {k.shape}",
            argument="commitment", value=k.shape)
    contrib = el * adv * v * (1.0 - hc)
    total = contrib.sum(axis=-1, keepdims=True)
    if concentration_cap is None:
        capped = contrib
    else:
        cap = _pool_table(concentration_cap, "concentration_cap", shape, 0, 1, low_open=True)
        capped = np.minimum(contrib, cap * total)
    eligible_base = capped.sum(axis=-1)
    base = np.minimum(eligible_base, k)
    return BorrowingBase(contributions=capped, excess_concentration=contrib - capped,
                         eligible_base=_out(eligible_base), base=_out(base))


def required_prepayment(outstanding, borrowing_base):
    """Prepayment a borrowing-base shortfall forces: ``max(0, outstanding - base)``.

    Parameters
    ----------
    outstanding : float or array_like
        Loans outstanding under the facility, USD, >= 0.
    borrowing_base : float or array_like
        The borrowing base (e.g. :class:`BorrowingBase` ``base``), USD, >= 0.

    Returns
    -------
    float or ndarray
        USD to prepay (elementwise).

    Examples
    --------
    >>> required_prepayment([800.0, 700.0], 750.0)
    array([50.,  0.])
    """
    o = check_range(outstanding, "outstanding", 0)
    b = check_range(borrowing_base, "borrowing_base", 0)
    _broadcast(outstanding=o, borrowing_base=b)
    return _out(np.maximum(0.0, o - b))


# --------------------------------------------------------------- crypto collateral

def crypto_haircut(annual_vol, horizon_days, confidence=0.99, *, days_per_year=365.0):
    """Value-at-risk haircut on crypto collateral held for ``horizon_days`` (elementwise).

    Parameters
    ----------
    annual_vol : float or array_like
        Annual volatility of log returns, >= 0 (BTC: 50-70%, docs/sources.md "Correlated
        stress").
    horizon_days : float or array_like
        Days to liquidate, >= 0 (10 days is the Basel market-risk VaR horizon).
    confidence : float or array_like, default 0.99
        One-sided confidence level in (0.5, 1).
    days_per_year : float, default 365
        Crypto trades every day of the year.

    Returns
    -------
    float or ndarray
        Haircut H in [0, 1).

    Notes
    -----
    With log-normal prices and no drift, the ``1 - confidence`` quantile of the price
    after h days is :math:`S_0 e^{-z \\sigma \\sqrt{h/365}}`, so (docs/sources.md, "Collateral
    and liquidation haircuts")

    .. math:: H = 1 - e^{-z \\sigma \\sqrt{h/365}}, \\qquad z = \\Phi^{-1}(\\text{confidence})

    Examples
    --------
    >>> round(crypto_haircut(0.60, 10), 4)
    0.2063
    """
    s = check_range(annual_vol, "annual_vol", 0)
    h = check_range(horizon_days, "horizon_days", 0)
    c = check_range(confidence, "confidence", 0.5, 1, low_open=True, high_open=True)
    dpy = check_range(days_per_year, "days_per_year", 0, low_open=True)
    _broadcast(annual_vol=s, horizon_days=h, confidence=c)
    z = ndtri(c)
    return _out(-np.expm1(-z * s * np.sqrt(h / dpy)))


@dataclass(frozen=True)
class CryptoLenderTerms:
    """Margin terms of a crypto-backed loan, as practised by retail crypto lenders.

    Defaults follow Coinbase-style BTC-backed loans (docs/sources.md, "Collateral and
    liquidation haircuts"): open at 75% LTV, a margin warning near 77%, liquidation at
    86% with a 4-5% penalty (we take 4.5%).

    Attributes
    ----------
    open_ltv : float, default 0.75
        Highest LTV at which a loan is made.
    warn_ltv : float, default 0.77
        LTV that triggers a margin call.
    liquidation_ltv : float, default 0.86
        LTV at which the collateral is sold.
    liquidation_penalty : float, default 0.045
        Penalty on the amount liquidated.

    Examples
    --------
    >>> terms = CryptoLenderTerms()
    >>> terms.liquidation_ltv
    0.86
    >>> CryptoLenderTerms(open_ltv=0.9)
    Traceback (most recent call last):
    ...
    gpucredit.errors.GpuCreditError: CryptoLenderTerms needs open_ltv <= warn_ltv <= ...
    """

    open_ltv: float = 0.75
    warn_ltv: float = 0.77
    liquidation_ltv: float = 0.86
    liquidation_penalty: float = 0.045

    def __post_init__(self):
        for name in ("open_ltv", "warn_ltv", "liquidation_ltv", "liquidation_penalty"):
            check_range(getattr(self, name), name, 0, 1)
        if not self.open_ltv <= self.warn_ltv <= self.liquidation_ltv:
            raise GpuCreditError(
                "CryptoLenderTerms needs open_ltv <= warn_ltv <= liquidation_ltv, got "
                f"{self.open_ltv:g}, {self.warn_ltv:g}, {self.liquidation_ltv:g}",
                argument="open_ltv", value=self.open_ltv)


# ------------------------------------------------------------------ recovery / LGD

def _recovery_exposure(collateral_value, debt_outstanding, units, monthly_absorption,
                       months_to_sell, accrued_interest, discount_rate, haircut_params):
    v = _series_or_scalar(collateral_value, "collateral_value", 0)
    d = _series_or_scalar(debt_outstanding, "debt_outstanding", 0)
    ai = _series_or_scalar(accrued_interest, "accrued_interest", 0)
    _check_periods(collateral_value=v, debt_outstanding=d)
    q = _param_or_table(units, "units", 0)
    a_ = _param_or_table(monthly_absorption, "monthly_absorption", 0, low_open=True)
    t = param(months_to_sell, "months_to_sell", 0, low_open=True)
    r = param(discount_rate, "discount_rate", 0)
    _broadcast(collateral_value=v, debt_outstanding=d, accrued_interest=ai, units=q,
               monthly_absorption=a_, months_to_sell=t)
    liq = liquidation_value(v, q, a_, t, **haircut_params)
    proceeds = np.asarray(liq.recovery) * (1.0 + r / 12.0) ** (-t)
    exposure = d + ai
    return np.minimum(proceeds, exposure), exposure


def recovery_at_default(collateral_value, debt_outstanding, units, monthly_absorption,
                        months_to_sell, accrued_interest=0.0, *, discount_rate=0.0,
                        sigma_monthly=0.10, y=0.75, install_haircut=0.15,
                        sale_cost_rate=0.05, sale_cost_per_unit=0.0, time_factor_a=0.6155,
                        time_factor_tau_days=57.15):
    """Lender's recovery if the borrower defaults at each period: min(liquidation, exposure).

    Parameters
    ----------
    collateral_value : float or array_like (T,) or (F, T)
        Market value of the collateral at each period, USD, >= 0 (from
        :func:`market_value`).
    debt_outstanding : float or array_like (T,) or (F, T)
        Principal outstanding at each period, USD, >= 0.
    units : float or array_like (F,) or (F, T)
        GPUs to sell, >= 0: one number per facility, or a table if attrition shrinks it.
    monthly_absorption : float or array_like (F,) or (F, T)
        Units the secondary market absorbs a month, > 0.
    months_to_sell : float or array_like (F,)
        Sale horizon in months, > 0 (a facility parameter).
    accrued_interest : float or array_like, default 0.0
        Interest accrued and unpaid at default, USD, >= 0.
    discount_rate : float or array_like (F,), default 0.0
        Annual rate, compounded monthly, at which proceeds received ``months_to_sell``
        after default are discounted back to the default date (e.g. the loan rate, for an
        economic LGD); 0 keeps docs/sources.md's undiscounted recovery.
    sigma_monthly, y, install_haircut, sale_cost_rate, sale_cost_per_unit, time_factor_a,
    time_factor_tau_days
        Haircut terms, see :func:`liquidation_value` (same defaults and sources).

    Returns
    -------
    float or ndarray
        Recovery in USD per period, shaped like the broadcast of the value and debt series.

    Notes
    -----
    For a default at period t, with exposure :math:`E_t = D_t + AI_t` and :math:`R_t` the
    liquidation value of :func:`liquidation_value` on the collateral value at t:

    .. math:: \\text{recovery}_t = \\min\\bigl(R_t (1 + r/12)^{-T},\\; E_t\\bigr)

    The lender keeps no more than it is owed (a surplus goes to the borrower).

    Examples
    --------
    >>> recovery_at_default([300e6, 200e6], [200e6, 150e6], 10_000, 1_000, 3).round(-5)
    array([1.777e+08, 1.184e+08])
    """
    rec, _ = _recovery_exposure(
        collateral_value, debt_outstanding, units, monthly_absorption, months_to_sell,
        accrued_interest, discount_rate,
        dict(sigma_monthly=sigma_monthly, y=y, install_haircut=install_haircut,
             sale_cost_rate=sale_cost_rate, sale_cost_per_unit=sale_cost_per_unit,
             time_factor_a=time_factor_a, time_factor_tau_days=time_factor_tau_days))
    return _out(rec)


def lgd(collateral_value, debt_outstanding, units, monthly_absorption, months_to_sell,
        accrued_interest=0.0, *, discount_rate=0.0, sigma_monthly=0.10, y=0.75,
        install_haircut=0.15, sale_cost_rate=0.05, sale_cost_per_unit=0.0,
        time_factor_a=0.6155, time_factor_tau_days=57.15):
    """Loss given default at each period, from the liquidation-haircut model.

    Parameters
    ----------
    collateral_value, debt_outstanding, units, monthly_absorption, months_to_sell,
    accrued_interest, discount_rate, sigma_monthly, y, install_haircut, sale_cost_rate,
    sale_cost_per_unit, time_factor_a, time_factor_tau_days
        As in :func:`recovery_at_default`.

    Returns
    -------
    float or ndarray
        LGD in [0, 1] per period; NaN where nothing is owed (no exposure, no loss rate).

    Notes
    -----
    .. math:: LGD_t = 1 - \\text{recovery}_t / E_t, \\qquad E_t = D_t + AI_t

    Expected loss is PD x LGD (docs/sources.md, "Pricing the risk").

    Examples
    --------
    >>> lgd([300e6, 200e6, 50e6], [200e6, 150e6, 0.0], 10_000, 1_000, 3).round(3)
    array([0.112, 0.21 ,   nan])
    """
    rec, exposure = _recovery_exposure(
        collateral_value, debt_outstanding, units, monthly_absorption, months_to_sell,
        accrued_interest, discount_rate,
        dict(sigma_monthly=sigma_monthly, y=y, install_haircut=install_haircut,
             sale_cost_rate=sale_cost_rate, sale_cost_per_unit=sale_cost_per_unit,
             time_factor_a=time_factor_a, time_factor_tau_days=time_factor_tau_days))
    return _out(1.0 - _safe_ratio(rec, exposure))
