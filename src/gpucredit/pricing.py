"""Pricing the risk: default probability, fair spread, and whether the quoted spread pays.

Two views of the same borrower:

* **Structural (Merton).** Equity is a call on the firm's assets struck at the debt. From
  the observed equity value and volatility, :func:`merton_solve` backs out the asset value
  and volatility, and with them the distance to default, the risk-neutral probability of
  default, the market value of the debt and its credit spread. :func:`kmv_default_point`
  gives the KMV default point to use as the strike.
* **Reduced form.** The credit triangle links spread, hazard rate and recovery
  (:func:`hazard_rate`, :func:`spread_from_hazard`); a constant hazard gives the default
  probability over a horizon (:func:`pd_from_hazard`, :func:`hazard_from_pd`);
  :func:`fair_spread` and :func:`expected_loss` price the loss; :func:`mispricing_bp`
  compares the quoted spread with the fair one.

:func:`rating_bucket` maps an annual PD to a rating-like bucket using S&P's long-run
default rates by rating (:func:`default_rate_table`).

Conventions
-----------
* Rates, spreads, PDs, LGDs and recoveries are decimals (0.05 = 5%); only
  :func:`mispricing_bp` returns basis points. Rates and spreads are continuously
  compounded, per year; ``years`` is a horizon in years.
* Every function is elementwise: its arguments broadcast together under numpy's rules, so
  scalars give scalars (Python ``float``) and arrays of one value per facility, shape
  ``(F,)``, give ``(F,)`` arrays. To combine a per-facility value with a ``(F, T)`` table,
  give it a trailing axis (``x[:, None]``, as ``gpucredit._checks.param`` does). The
  Merton functions take scalars or ``(F,)`` arrays only.
* Bad arguments raise :class:`~gpucredit.errors.GpuCreditError` naming the argument, the
  value and its position.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy.special import ndtr

from gpucredit._checks import check_finite, check_range, where
from gpucredit.errors import GpuCreditError

__all__ = [
    "SP_GLOBAL_ONE_YEAR_DEFAULT_RATES",
    "MertonEquity",
    "MertonResult",
    "default_rate_table",
    "expected_loss",
    "fair_spread",
    "hazard_from_pd",
    "hazard_rate",
    "kmv_default_point",
    "merton_equity",
    "merton_solve",
    "mispricing_bp",
    "pd_from_hazard",
    "rating_bucket",
    "spread_from_hazard",
]

SP_GLOBAL_ONE_YEAR_DEFAULT_RATES: Mapping[str, float] = MappingProxyType({
    "AAA": 0.0000,
    "AA": 0.0002,
    "A": 0.0005,
    "BBB": 0.0014,
    "BB": 0.0056,
    "B": 0.0293,
    "CCC/C": 0.2612,
})
"""Global corporate average one-year default rates by rating category, 1981-2024.

S&P Global Ratings, "Default, Transition, and Recovery: 2024 Annual Global Corporate
Default And Rating Transition Study" (27 March 2025): the one-year default rates of the
global corporate average transition matrix 1981-2024 (equal to year 1 of the average
cumulative default rates by rating category), as printed in percent to two decimals:
AAA 0.00, AA 0.02, A 0.05, BBB 0.14, BB 0.56, B 2.93, CCC/C 26.12. The figures are
rounded; AAA's printed 0.00% means no AAA issuer defaulted within a year in the sample,
not that the risk is zero.
"""


# --------------------------------------------------------------------------- helpers


def _out(x):
    """A 0-d result as a Python float; arrays unchanged."""
    x = np.asarray(x)
    return float(x) if x.ndim == 0 else x


def _broadcast(**arrays: np.ndarray) -> list[np.ndarray]:
    """Broadcast the arguments together, naming them if their shapes do not fit."""
    try:
        return [np.array(a) for a in np.broadcast_arrays(*arrays.values())]
    except ValueError:
        shapes = ", ".join(f"{name} has shape {np.shape(a)}" for name, a in arrays.items())
        raise GpuCreditError(
            f"arguments do not match: {shapes}; give one value, or one per facility",
            argument=next(iter(arrays)), value=None) from None


def _facilities(**arrays: np.ndarray) -> list[np.ndarray]:
    """Facility parameters: each a scalar or ``(F,)``, all broadcast to one shape."""
    for name, a in arrays.items():
        if a.ndim > 1:
            raise GpuCreditError(
                f"{name} must be a single value or one value per facility (a 1-D array), "
                f"got an array of shape {a.shape}", argument=name, value=a)
    return _broadcast(**arrays)


def _position(arr: np.ndarray, mask: np.ndarray) -> str:
    """' (position 2)' for the first True of ``mask``; '' for a scalar."""
    text = where(arr, mask)
    return f" ({text})" if text else ""


def _d1_d2(asset_value, asset_vol, discounted_debt, years):
    """Black-Scholes-Merton d1 and d2 with the strike already discounted."""
    vol_sqrt_t = asset_vol * np.sqrt(years)
    d1 = np.log(asset_value / discounted_debt) / vol_sqrt_t + 0.5 * vol_sqrt_t
    return d1, d1 - vol_sqrt_t


# --------------------------------------------------------------------------- Merton


class MertonEquity(NamedTuple):
    """Equity value and equity volatility implied by the Merton model."""

    equity_value: float | np.ndarray
    equity_vol: float | np.ndarray


def merton_equity(asset_value, asset_vol, debt_face, rate, years) -> MertonEquity:
    """Equity value and volatility from asset value and volatility (the forward model).

    Parameters
    ----------
    asset_value : float or array_like, shape (F,)
        Market value of the firm's assets V (USD), > 0.
    asset_vol : float or array_like, shape (F,)
        Annual volatility of the asset value sigma_V (decimal), > 0.
    debt_face : float or array_like, shape (F,)
        Face value D of the zero-coupon debt due at ``years`` (USD), > 0; the default
        point (:func:`kmv_default_point`) under the KMV convention.
    rate : float or array_like, shape (F,)
        Risk-free rate r, continuously compounded, per year (decimal).
    years : float or array_like, shape (F,)
        Time T to the debt's maturity, in years, > 0.

    Returns
    -------
    MertonEquity
        ``(equity_value, equity_vol)``: floats for scalar inputs, ``(F,)`` arrays otherwise.

    Notes
    -----
    Merton (1974): equity is a European call on the assets struck at the debt,

    .. math::

        E = V N(d_1) - D e^{-rT} N(d_2), \\qquad
        \\sigma_E = N(d_1) \\, \\sigma_V V / E,

    with :math:`d_1 = [\\ln(V / D) + (r + \\sigma_V^2 / 2) T] / (\\sigma_V \\sqrt{T})` and
    :math:`d_2 = d_1 - \\sigma_V \\sqrt{T}`; the volatility relation is Ito's lemma,
    :math:`\\sigma_E E = (\\partial E / \\partial V) \\sigma_V V`. N is
    ``scipy.special.ndtr`` (what ``scipy.stats.norm.cdf`` computes).

    References
    ----------
    Merton, R. C. (1974), "On the Pricing of Corporate Debt: The Risk Structure of
    Interest Rates", Journal of Finance 29(2). Hull, J. C., "Options, Futures, and Other
    Derivatives", chapter "Credit Risk", section on Merton's model.

    Examples
    --------
    >>> e = merton_equity(12.395, 0.2123, 10.0, 0.05, 1.0)
    >>> round(e.equity_value, 2), round(e.equity_vol, 2)
    (3.0, 0.8)
    """
    v = check_range(asset_value, "asset_value", 0, low_open=True)
    sv = check_range(asset_vol, "asset_vol", 0, low_open=True)
    d = check_range(debt_face, "debt_face", 0, low_open=True)
    r = check_finite(rate, "rate")
    t = check_range(years, "years", 0, low_open=True)
    v, sv, d, r, t = _facilities(asset_value=v, asset_vol=sv, debt_face=d, rate=r, years=t)
    discounted = d * np.exp(-r * t)
    d1, d2 = _d1_d2(v, sv, discounted, t)
    equity = v * ndtr(d1) - discounted * ndtr(d2)
    with np.errstate(divide="ignore", invalid="ignore"):
        # NaN/inf only where the equity rounds to nothing (assets far below the debt).
        equity_vol = ndtr(d1) * sv * v / equity
    return MertonEquity(_out(equity), _out(equity_vol))


_MERTON_LABELS = {
    "asset_value": "Asset value",
    "asset_vol": "Asset volatility",
    "distance_to_default": "Distance to default",
    "pd": "PD",
    "debt_value": "Debt value",
    "spread": "Spread",
    "d1": "d1",
    "converged": "Converged",
}


@dataclass(frozen=True, eq=False)
class MertonResult:
    """What :func:`merton_solve` backs out for each facility.

    Every field is a float (a bool for ``converged``) when the inputs were scalars, and a
    ``(F,)`` array otherwise. Where the solver did not converge the numbers are NaN.

    Attributes
    ----------
    asset_value : float or ndarray
        Market value of the assets V (USD).
    asset_vol : float or ndarray
        Annual asset volatility sigma_V (decimal).
    distance_to_default : float or ndarray
        d2, the number of standard deviations the assets sit above the default point at
        maturity (risk-neutral).
    pd : float or ndarray
        Risk-neutral probability of default by maturity, N(-d2).
    debt_value : float or ndarray
        Market value of the debt, V - E (USD).
    spread : float or ndarray
        Credit spread of the debt over the risk-free rate, continuously compounded, per
        year (decimal).
    d1 : float or ndarray
        d1 of the Black-Scholes-Merton formula; N(d1) is the equity's delta.
    converged : bool or ndarray of bool
        Whether the solver met the tolerance.
    """

    asset_value: float | np.ndarray
    asset_vol: float | np.ndarray
    distance_to_default: float | np.ndarray
    pd: float | np.ndarray
    debt_value: float | np.ndarray
    spread: float | np.ndarray
    d1: float | np.ndarray
    converged: bool | np.ndarray

    def as_dict(self) -> dict[str, float | bool | np.ndarray]:
        """The results under their display labels ("Asset value", "PD", ...).

        >>> r = merton_solve(3.0, 0.80, 10.0, 0.05, 1.0)
        >>> round(r.as_dict()["PD"], 3)
        0.127
        """
        return {_MERTON_LABELS[f.name]: getattr(self, f.name) for f in fields(self)}

    def to_frame(self) -> pd.DataFrame:
        """One row per facility (index "Facility", from 1), one labelled column per result.

        >>> merton_solve([3.0, 4.0], 0.80, 10.0, 0.05, 1.0).to_frame()[["PD", "Converged"]].round(3)
                     PD  Converged
        Facility
        1         0.127       True
        2         0.116       True
        """
        data = {label: np.atleast_1d(value) for label, value in self.as_dict().items()}
        n = len(data["PD"])
        return pd.DataFrame(data, index=pd.RangeIndex(1, n + 1, name="Facility"))


def _asset_value(equity, debt, asset_vol, years, start, maxiter=100):
    """Asset value V solving V N(d1) - K N(d2) = E for a given asset volatility.

    Every input is normalised so that E + K = 1 (``debt`` is the discounted debt K). The
    call value is increasing and convex in V, so Newton's method from any ``start`` at or
    above the root falls monotonically onto it without overshooting; ``start`` = 1
    (= E + K, an upper bound since the call is worth at least V - K) always qualifies.
    Returns V, NaN where the iteration broke down.
    """
    x = np.array(start, dtype=float)
    active = np.ones(x.shape, dtype=bool)
    for _ in range(maxiter):
        i = np.flatnonzero(active)
        if i.size == 0:
            break
        d1, d2 = _d1_d2(x[i], asset_vol[i], debt[i], years[i])
        delta = ndtr(d1)
        step = (x[i] * delta - debt[i] * ndtr(d2) - equity[i]) / delta
        x[i] -= step
        active[i] = np.isfinite(step) & (np.abs(step) > 1e-14 * np.abs(x[i]))
    x[active | ~np.isfinite(x)] = np.nan
    return x


def _equity_vol_gap(log_vol, equity, equity_vol, debt, years, start):
    """h = N(d1) sigma_V V - sigma_E E at sigma_V = exp(log_vol), V solved for; and
    dh/d(ln sigma_V) along the curve E_model(V, sigma_V) = E."""
    vol = np.exp(log_vol)
    x = _asset_value(equity, debt, vol, years, start)
    d1, d2 = _d1_d2(x, vol, debt, years)
    delta, phi = ndtr(d1), np.exp(-d1**2 / 2.0) / np.sqrt(2 * np.pi)
    sqrt_t = np.sqrt(years)
    gap = delta * vol * x - equity_vol * equity
    dx_dvol = -x * phi * sqrt_t / delta  # -vega / delta keeps the equity value fixed
    slope = vol * (x * (delta - phi * d2) + (vol * delta + phi / sqrt_t) * dx_dvol)
    return gap, slope, x


def _solve_vol(equity, equity_vol, debt, years, tol, maxiter):
    """ln sigma_V for every facility, by Newton safeguarded with bisection on a bracket.

    With E + K = 1 the root lies in [ln(sigma_E E), ln(sigma_E)]: at sigma_E E the model
    equity vol N(d1) sigma_V V / E is at most sigma_E (V <= 1), at sigma_E at least sigma_E
    (V N(d1) >= E). Newton steps that leave the bracket, or fail to halve the gap, become
    bisections, so every facility converges. Returns (ln sigma_V, converged).
    """
    lo, hi = np.log(equity_vol * equity), np.log(equity_vol)
    log_vol = lo.copy()                    # the usual start, sigma_E E / (E + K)
    x_lo = np.ones_like(equity)            # V at the bracket's low end: a valid Newton start
    last_gap = np.full_like(equity, np.inf)
    done = np.zeros(equity.shape, dtype=bool)
    for _ in range(maxiter):
        i = np.flatnonzero(~done)
        if i.size == 0:
            break
        w = log_vol[i]
        gap, slope, x = _equity_vol_gap(w, equity[i], equity_vol[i], debt[i], years[i],
                                        x_lo[i])
        below, above = gap < 0, gap > 0
        lo[i] = np.where(below, w, lo[i])
        x_lo[i] = np.where(below & np.isfinite(x), x, x_lo[i])
        hi[i] = np.where(above, w, hi[i])
        newton = w - gap / slope
        use_newton = ((newton > lo[i]) & (newton < hi[i])
                      & (np.abs(gap) <= 0.5 * np.abs(last_gap[i])))
        new = np.where(use_newton, newton, 0.5 * (lo[i] + hi[i]))
        done[i] = (gap == 0) | (np.abs(new - w) <= tol) | (hi[i] - lo[i] <= tol)
        log_vol[i] = np.where(gap == 0, w, new)
        last_gap[i] = gap
    return log_vol, done


def _solve_vol_alone(equity, equity_vol, debt, years, tol):
    """Fallback for one facility: scipy.optimize.brentq on the same guaranteed bracket."""
    from scipy import optimize

    args = tuple(np.atleast_1d(a) for a in (equity, equity_vol, debt, years))

    def gap(w):
        return float(_equity_vol_gap(np.atleast_1d(w), *args, np.ones(1))[0][0])

    try:
        w = optimize.brentq(gap, np.log(equity_vol * equity), np.log(equity_vol),
                            xtol=tol, rtol=4 * np.finfo(float).eps)
    except (ValueError, RuntimeError):
        return np.nan, False
    return w, True


def merton_solve(equity_value, equity_vol, debt_face, rate, years, *,
                 tol: float = 1e-12, maxiter: int = 100,
                 raise_exceptions: bool = False) -> MertonResult:
    """Back out asset value and volatility from equity, then PD, debt value and spread.

    Parameters
    ----------
    equity_value : float or array_like, shape (F,)
        Market value of equity E (USD), > 0 (market capitalisation).
    equity_vol : float or array_like, shape (F,)
        Annual equity volatility sigma_E (decimal), > 0.
    debt_face : float or array_like, shape (F,)
        Face value D of the debt due at ``years`` (USD), > 0. For the KMV convention pass
        the default point, ``debt_face=kmv_default_point(short_term_debt, long_term_debt)``.
    rate : float or array_like, shape (F,)
        Risk-free rate r, continuously compounded, per year (decimal).
    years : float or array_like, shape (F,)
        Horizon T in years (debt maturity, or 1 for a one-year PD), > 0.
    tol : float, default 1e-12
        Convergence tolerance on ln sigma_V: the solver stops when a step, or the
        bracket holding the root, is narrower than this (a relative accuracy of sigma_V).
    maxiter : int, default 100
        Iterations of the vectorised solver before a facility is handed to the fallback.
    raise_exceptions : bool, default False
        If True, raise :class:`~gpucredit.errors.GpuCreditError` naming the first facility
        that did not converge; if False (numpy-financial's convention) return NaN for it
        with ``converged`` False.

    Returns
    -------
    MertonResult
        Asset value and volatility, distance to default d2, PD = N(-d2), debt value
        V - E, spread, d1 and the convergence flags; ``to_frame()`` and ``as_dict()`` give
        them under display labels.

    Notes
    -----
    Solves the two Merton equations of :func:`merton_equity` for V and sigma_V,

    .. math::

        V N(d_1) - D e^{-rT} N(d_2) = E, \\qquad N(d_1) \\sigma_V V = \\sigma_E E,

    for V and sigma_V, vectorised across facilities, by nesting two one-dimensional
    solves that cannot fail:

    * *inner*, for a given sigma_V: the first equation in V. The call value is
      increasing and convex in V, and V <= V0 = E + D e^{-rT} (equity plus riskless
      debt, because the call is worth at least V - D e^{-rT}), so Newton's method from
      V0 falls monotonically onto the root;
    * *outer*: the second equation in ln sigma_V. Its root lies in
      [ln sigma_V0, ln sigma_E] with sigma_V0 = sigma_E E / V0 (the usual starting
      guess, which the solver uses):
      at sigma_V0 the model's equity volatility N(d1) sigma_V V / E is at most sigma_E
      (as V <= V0) and at sigma_E it is at least sigma_E (as V N(d1) >= E). Newton steps
      (slope by implicit differentiation along the first equation, dV/dsigma_V =
      -vega / delta) are kept inside the shrinking bracket and replaced by bisection when
      they leave it or fail to halve the residual.

    The equations are homogeneous of degree one in (E, D, V), so the solver works in
    units of V0. A facility that has not converged after ``maxiter`` outer steps is
    retried alone with ``scipy.optimize.brentq`` on the same bracket. An answer counts as
    converged only if it gives back E and sigma_E to a relative sqrt(tol); equity worth
    less than about 1e-9 of the assets is below what double precision resolves in
    V N(d1) - D e^{-rT} N(d2) and may fail that test.

    From V and sigma_V:

    * distance to default d2 and PD = N(-d2), both risk-neutral (KMV's distance to
      default uses the real-world drift instead of r);
    * debt value B = V - E = D e^{-rT} - P, with P the put value
      D e^{-rT} N(-d2) - V N(-d1);
    * spread :math:`s = -\\frac{1}{T} \\ln\\left(N(d_2) + \\frac{V}{D e^{-rT}}
      N(-d_1)\\right) = -\\frac{1}{T} \\ln(B / (D e^{-rT}))`, evaluated as
      ``-log1p(-P / (D e^{-rT})) / T`` so that tiny spreads keep their digits.

    References
    ----------
    Merton (1974), Journal of Finance 29(2). Hull, "Options, Futures, and Other
    Derivatives", chapter "Credit Risk" (the worked example E = 3, sigma_E = 80%, D = 10,
    r = 5%, T = 1 gives V = 12.40, sigma_V = 21.23%, PD = 12.7%, debt value 9.40).

    Examples
    --------
    >>> r = merton_solve(3.0, 0.80, 10.0, 0.05, 1.0)
    >>> round(r.asset_value, 2), round(r.asset_vol, 4), round(r.pd, 3), round(r.debt_value, 2)
    (12.4, 0.2123, 0.127, 9.4)
    >>> round(r.spread * 10_000)
    124
    >>> merton_solve([3.0, 6.0], [0.8, 0.5], 10.0, 0.05, 1.0).pd.round(4)
    array([0.127 , 0.0078])
    """
    e = check_range(equity_value, "equity_value", 0, low_open=True)
    se = check_range(equity_vol, "equity_vol", 0, low_open=True)
    d = check_range(debt_face, "debt_face", 0, low_open=True)
    r = check_finite(rate, "rate")
    t = check_range(years, "years", 0, low_open=True)
    tol = float(check_range(tol, "tol", 0, low_open=True))
    maxiter = int(check_range(maxiter, "maxiter", 0))
    e, se, d, r, t = _facilities(equity_value=e, equity_vol=se, debt_face=d, rate=r, years=t)
    scalar = e.ndim == 0
    e, se, d, r, t = (np.atleast_1d(a) for a in (e, se, d, r, t))
    discounted = d * np.exp(-r * t)

    # The equations are homogeneous in (E, D, V): solve in units of E + D e^{-rT}.
    unit = e + discounted
    equity, debt = e / unit, discounted / unit
    with np.errstate(all="ignore"):
        log_vol, ok = _solve_vol(equity, se, debt, t, tol, maxiter)
        for i in np.flatnonzero(~ok):
            log_vol[i], ok[i] = _solve_vol_alone(equity[i], se[i], debt[i], t[i], tol)
        sv = np.exp(log_vol)
        x = _asset_value(equity, debt, sv, t, np.ones_like(equity))
        # Accept only answers that give back E and sigma_E (to sqrt(tol), relative).
        d1, d2 = _d1_d2(x, sv, debt, t)
        equity_gap = (x * ndtr(d1) - debt * ndtr(d2)) / equity - 1.0
        vol_gap = ndtr(d1) * sv * x / (se * equity) - 1.0
    ok &= (np.abs(equity_gap) <= np.sqrt(tol)) & (np.abs(vol_gap) <= np.sqrt(tol))
    v = x * unit

    if raise_exceptions and not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        at = "" if scalar else f" for facility {i + 1}"
        raise GpuCreditError(
            f"merton_solve did not converge{at}: equity_value={e[i]:g}, "
            f"equity_vol={se[i]:g}, debt_face={d[i]:g}, rate={r[i]:g}, years={t[i]:g}",
            argument="equity_value", value=float(e[i]))

    v = np.where(ok, v, np.nan)
    sv = np.where(ok, sv, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        d1, d2 = _d1_d2(v, sv, discounted, t)
        put_over_debt = ndtr(-d2) - v / discounted * ndtr(-d1)
        spread = -np.log1p(-put_over_debt) / t
    if scalar:
        def shape(x):
            return x[0].item()
    else:
        def shape(x):
            return x
    return MertonResult(
        asset_value=shape(v), asset_vol=shape(sv), distance_to_default=shape(d2),
        pd=shape(ndtr(-d2)), debt_value=shape(v - e), spread=shape(spread),
        d1=shape(d1), converged=shape(ok))


def kmv_default_point(short_term_debt, long_term_debt, long_term_weight=0.5):
    """The KMV default point: short-term debt plus a share of long-term debt.

    Parameters
    ----------
    short_term_debt : float or array_like
        Debt due within a year (USD), >= 0.
    long_term_debt : float or array_like
        Debt due after a year (USD), >= 0.
    long_term_weight : float or array_like, default 0.5
        Share of long-term debt counted in the default point, between 0 and 1. Default
        0.5: the KMV convention (Crosbie and Bohn 2003; docs/sources.md "Pricing the risk").

    Returns
    -------
    float or ndarray
        DP = STD + w LTD (USD), to pass to :func:`merton_solve` as ``debt_face``.

    Notes
    -----
    .. math:: DP = STD + w \\cdot LTD, \\qquad w = 0.5

    KMV observed that firms tend to default when asset value falls to somewhere between
    total liabilities and short-term liabilities, and set the default point at short-term
    debt plus half the long-term debt.

    References
    ----------
    Crosbie, P. and Bohn, J. (2003), "Modeling Default Risk", Moody's KMV.

    Examples
    --------
    >>> kmv_default_point(4.0, 12.0)
    10.0
    >>> r = merton_solve(3.0, 0.80, kmv_default_point(4.0, 12.0), 0.05, 1.0)
    >>> round(r.pd, 3)
    0.127
    """
    std = check_range(short_term_debt, "short_term_debt", 0)
    ltd = check_range(long_term_debt, "long_term_debt", 0)
    w = check_range(long_term_weight, "long_term_weight", 0, 1)
    std, ltd, w = _broadcast(short_term_debt=std, long_term_debt=ltd, long_term_weight=w)
    return _out(std + w * ltd)


# --------------------------------------------------------------------------- reduced form


def hazard_rate(spread, recovery):
    """Hazard rate from a credit spread and a recovery rate (the credit triangle).

    Parameters
    ----------
    spread : float or array_like
        Credit spread over the risk-free rate, per year (decimal), >= 0.
    recovery : float or array_like
        Recovery rate R on default, a share of par, 0 <= R < 1.

    Returns
    -------
    float or ndarray
        Average default intensity lambda per year (decimal).

    Notes
    -----
    .. math:: \\lambda = \\frac{s}{1 - R}

    The spread compensates for the expected loss rate: lambda (1 - R) = s. It is exact
    for a continuously paid spread with recovery of par at default, and Hull's
    approximation for the average hazard rate over a bond's life otherwise.

    References
    ----------
    Hull, "Options, Futures, and Other Derivatives", chapter "Credit Risk", section
    "Estimating default probabilities from bond yield spreads".

    Examples
    --------
    A 150bp spread with 40% recovery:

    >>> round(hazard_rate(0.015, 0.40), 6)
    0.025
    """
    s = check_range(spread, "spread", 0)
    rec = check_range(recovery, "recovery", 0, 1, high_open=True)
    s, rec = _broadcast(spread=s, recovery=rec)
    return _out(s / (1.0 - rec))


def spread_from_hazard(hazard, recovery):
    """Credit spread from a hazard rate and a recovery rate (inverse of :func:`hazard_rate`).

    Parameters
    ----------
    hazard : float or array_like
        Default intensity lambda per year (decimal), >= 0.
    recovery : float or array_like
        Recovery rate R, 0 <= R < 1.

    Returns
    -------
    float or ndarray
        Spread s = lambda (1 - R) per year (decimal).

    Notes
    -----
    .. math:: s = \\lambda (1 - R)

    Examples
    --------
    >>> round(spread_from_hazard(0.025, 0.40), 6)
    0.015
    """
    h = check_range(hazard, "hazard", 0)
    rec = check_range(recovery, "recovery", 0, 1, high_open=True)
    h, rec = _broadcast(hazard=h, recovery=rec)
    return _out(h * (1.0 - rec))


def pd_from_hazard(hazard, years):
    """Probability of default within ``years`` under a constant hazard rate.

    Parameters
    ----------
    hazard : float or array_like
        Default intensity lambda per year (decimal), >= 0.
    years : float or array_like
        Horizon T in years, > 0.

    Returns
    -------
    float or ndarray
        Cumulative PD by T (decimal).

    Notes
    -----
    Survival to T is :math:`e^{-\\lambda T}`, so

    .. math:: PD(T) = 1 - e^{-\\lambda T}

    (computed as ``-expm1(-lambda T)``).

    Examples
    --------
    >>> round(pd_from_hazard(0.025, 5.0), 4)
    0.1175
    """
    h = check_range(hazard, "hazard", 0)
    t = check_range(years, "years", 0, low_open=True)
    h, t = _broadcast(hazard=h, years=t)
    return _out(-np.expm1(-h * t))


def hazard_from_pd(pd, years):
    """Constant hazard rate that gives a cumulative PD over ``years`` (inverse of
    :func:`pd_from_hazard`).

    Parameters
    ----------
    pd : float or array_like
        Cumulative probability of default by T (decimal), 0 <= PD < 1.
    years : float or array_like
        Horizon T in years, > 0.

    Returns
    -------
    float or ndarray
        Hazard rate lambda per year (decimal).

    Notes
    -----
    .. math:: \\lambda = -\\ln(1 - PD) / T

    (computed as ``-log1p(-PD) / T``). A one-year PD of 2.93% (S&P's B average) is a
    hazard of 2.97% a year.

    Examples
    --------
    >>> round(hazard_from_pd(0.0293, 1.0), 4)
    0.0297
    """
    p = check_range(pd, "pd", 0, 1, high_open=True)
    t = check_range(years, "years", 0, low_open=True)
    p, t = _broadcast(pd=p, years=t)
    return _out(-np.log1p(-p) / t)


def fair_spread(pd_annual, lgd, *, exact: bool = False):
    """Spread that just pays for the expected loss: about PD x LGD a year.

    Parameters
    ----------
    pd_annual : float or array_like
        Annual probability of default (decimal), between 0 and 1.
    lgd : float or array_like
        Loss given default, a share of exposure (decimal), between 0 and 1 (1 - recovery;
        ``gpucredit.collateral`` derives it from the liquidation haircut).
    exact : bool, default False
        False: the first-order rule PD x LGD. True: the continuously compounded spread of a
        one-year exposure losing LGD with probability PD, -ln(1 - PD x LGD).

    Returns
    -------
    float or ndarray
        Fair spread per year (decimal).

    Notes
    -----
    A one-year zero-coupon loan that loses LGD with probability PD is worth
    :math:`e^{-r}(1 - PD \\cdot LGD) = e^{-(r + s)}`, so

    .. math:: s = -\\ln(1 - PD \\cdot LGD) \\approx PD \\cdot LGD

    The approximation understates the exact spread by about :math:`(PD \\cdot LGD)^2 / 2`
    (0.5bp at PD x LGD = 1%, 12.5bp at 5%). Both ignore the risk premium: with a
    real-world (historical) PD the result is the actuarial break-even, which market
    spreads exceed; with a risk-neutral PD (Merton, or :func:`hazard_rate` from spreads)
    it is the market-implied spread.

    Examples
    --------
    >>> round(fair_spread(0.02, 0.60), 6)
    0.012
    >>> round(fair_spread(0.02, 0.60, exact=True), 6)
    0.012073
    """
    p = check_range(pd_annual, "pd_annual", 0, 1)
    loss = check_range(lgd, "lgd", 0, 1)
    p, loss = _broadcast(pd_annual=p, lgd=loss)
    el = p * loss
    if not exact:
        return _out(el)
    bad = el >= 1.0
    if bad.any():
        raise GpuCreditError(
            "pd_annual x lgd must be below 1 for the exact spread (a certain total loss has "
            f"no finite spread), got {el[bad].flat[0]:g}{_position(el, bad)}",
            argument="pd_annual", value=float(el[bad].flat[0]))
    return _out(-np.log1p(-el))


def expected_loss(pd, lgd, ead=1.0):
    """Expected loss: probability of default x loss given default x exposure at default.

    Parameters
    ----------
    pd : float or array_like
        Probability of default over the horizon (decimal), between 0 and 1.
    lgd : float or array_like
        Loss given default (decimal), between 0 and 1.
    ead : float or array_like, default 1.0
        Exposure at default (USD), >= 0. The default 1.0 gives the loss rate.

    Returns
    -------
    float or ndarray
        EL = PD x LGD x EAD (USD, or a rate when ``ead`` is 1).

    Notes
    -----
    .. math:: EL = PD \\cdot LGD \\cdot EAD

    (Basel Committee on Banking Supervision, "An Explanatory Note on the Basel II IRB
    Risk Weight Functions", 2005.)

    Examples
    --------
    >>> round(expected_loss(0.0293, 0.45, 100e6))
    1318500
    """
    p = check_range(pd, "pd", 0, 1)
    loss = check_range(lgd, "lgd", 0, 1)
    x = check_range(ead, "ead", 0)
    p, loss, x = _broadcast(pd=p, lgd=loss, ead=x)
    return _out(p * loss * x)


def mispricing_bp(quoted_spread, fair_spread):
    """Quoted minus fair spread, in basis points (positive: the lender is over-paid).

    Parameters
    ----------
    quoted_spread : float or array_like
        Spread the loan or bond pays over the risk-free rate (decimal, 0.06 = 600bp).
    fair_spread : float or array_like
        Spread that pays for the risk (decimal), e.g. from :func:`fair_spread` or
        :func:`merton_solve`.

    Returns
    -------
    float or ndarray
        (quoted - fair) x 10,000 basis points.

    Notes
    -----
    .. math:: \\text{mispricing} = (s_{quoted} - s_{fair}) \\times 10{,}000

    Positive: the quoted spread more than covers the risk; negative: the lender is not
    paid for it. Both spreads must be on the same basis (compounding, day count).

    Examples
    --------
    >>> round(mispricing_bp(0.06, 0.012), 6)
    480.0
    """
    q = check_finite(quoted_spread, "quoted_spread")
    f = check_finite(fair_spread, "fair_spread")
    q, f = _broadcast(quoted_spread=q, fair_spread=f)
    return _out((q - f) * 10_000.0)


# --------------------------------------------------------------------------- rating buckets


def _bucket_edges(default_rates: Mapping[str, float], zero_rate: float):
    """Ratings, their default rates, and the PD edges between adjacent buckets."""
    if not isinstance(default_rates, Mapping) or len(default_rates) < 2:
        raise GpuCreditError(
            "default_rates must map at least two ratings, best first, to annual default "
            f"rates, got {default_rates!r}", argument="default_rates", value=default_rates)
    ratings = [str(k) for k in default_rates]
    rates = check_range(list(default_rates.values()), "default_rates", 0, 1)
    zero = float(check_range(zero_rate, "zero_rate", 0, 1, low_open=True, high_open=True))
    floored = np.where(rates > 0, rates, zero)
    if np.any(np.diff(floored) <= 0):
        raise GpuCreditError(
            "default_rates must increase strictly from the best rating to the worst, "
            f"got {dict(zip(ratings, rates.tolist(), strict=True))}",
            argument="default_rates", value=dict(default_rates))
    edges = np.sqrt(floored[:-1] * floored[1:])
    return ratings, rates, edges


def default_rate_table(default_rates: Mapping[str, float] = SP_GLOBAL_ONE_YEAR_DEFAULT_RATES,
                       *, zero_rate: float = 0.00005) -> pd.DataFrame:
    """The rating scale behind :func:`rating_bucket`: default rate and PD range by rating.

    Parameters
    ----------
    default_rates : mapping of str to float, default SP_GLOBAL_ONE_YEAR_DEFAULT_RATES
        Annual default rate (decimal) by rating, best rating first, strictly increasing.
        Default: S&P global corporate one-year averages 1981-2024 (AAA 0.00%, AA 0.02%,
        A 0.05%, BBB 0.14%, BB 0.56%, B 2.93%, CCC/C 26.12%; S&P Global Ratings 2024
        Annual Global Corporate Default And Rating Transition Study, rounded as printed).
    zero_rate : float, default 0.00005
        Stand-in for a printed rate of zero when placing bucket edges: 0.005%, half the
        last printed digit of S&P's table, the most a rate printed as 0.00% can be.

    Returns
    -------
    pandas.DataFrame
        Indexed by "Rating", with columns "Default rate" (as given), "PD from" and
        "PD to": a PD p falls in a rating's bucket when PD from <= p < PD to.

    Notes
    -----
    Bucket edges are geometric midpoints of adjacent ratings' default rates,

    .. math:: b_i = \\sqrt{p_i \\, p_{i+1}},

    the natural midpoint on the log scale on which default rates grow from one rating to
    the next. A zero rate is replaced by ``zero_rate`` first, so the AAA/AA edge with the
    default table is sqrt(0.00005 x 0.0002) = 0.01%.

    Examples
    --------
    >>> t = default_rate_table()
    >>> t.loc[["BBB", "BB"], "PD to"].round(4).tolist()
    [0.0028, 0.0128]
    >>> t.index.tolist()
    ['AAA', 'AA', 'A', 'BBB', 'BB', 'B', 'CCC/C']
    """
    ratings, rates, edges = _bucket_edges(default_rates, zero_rate)
    return pd.DataFrame(
        {"Default rate": rates,
         "PD from": np.concatenate([[0.0], edges]),
         "PD to": np.concatenate([edges, [1.0]])},
        index=pd.Index(ratings, name="Rating"))


def rating_bucket(pd_annual,
                  default_rates: Mapping[str, float] = SP_GLOBAL_ONE_YEAR_DEFAULT_RATES,
                  *, zero_rate: float = 0.00005):
    """Rating-like bucket (AAA .. CCC/C) for an annual probability of default.

    Parameters
    ----------
    pd_annual : float or array_like
        Annual probability of default (decimal), between 0 and 1. NaN (e.g. a Merton
        solve that did not converge) gives None.
    default_rates : mapping of str to float, default SP_GLOBAL_ONE_YEAR_DEFAULT_RATES
        Annual default rate by rating, best first (see :func:`default_rate_table`).
        Default: S&P global corporate one-year average default rates 1981-2024 (2024
        Annual Global Corporate Default And Rating Transition Study), rounded as printed:
        AAA 0.00%, AA 0.02%, A 0.05%, BBB 0.14%, BB 0.56%, B 2.93%, CCC/C 26.12%.
    zero_rate : float, default 0.00005
        Stand-in for a zero default rate when placing the edges (0.005%, half the last
        printed digit of S&P's table).

    Returns
    -------
    str or ndarray of object
        The rating whose bucket holds each PD: a str for a scalar, an object array of the
        input's shape otherwise.

    Notes
    -----
    A PD p gets rating i when :math:`b_{i-1} \\le p < b_i`, the edges being geometric
    midpoints :math:`b_i = \\sqrt{p_i p_{i+1}}` of adjacent ratings' default rates
    (:func:`default_rate_table`). With the default table the edges are 0.010%, 0.032%,
    0.084%, 0.28%, 1.28% and 8.75%. The bucket is monotone: a higher PD never gets a
    better rating. It is a PD scale, not a rating: agencies also weigh business risk,
    structure and recovery.

    Examples
    --------
    >>> rating_bucket(0.127)
    'CCC/C'
    >>> rating_bucket([0.0, 0.0004, 0.002, 0.02, float("nan")]).tolist()
    ['AAA', 'A', 'BBB', 'B', None]
    """
    ratings, _, edges = _bucket_edges(default_rates, zero_rate)
    try:
        p = np.asarray(pd_annual, dtype=float)
    except (TypeError, ValueError):
        check_finite(pd_annual, "pd_annual")  # raises, naming the argument
    missing = np.isnan(p)
    p = check_range(np.where(missing, 0.0, p), "pd_annual", 0, 1)
    labels = np.array([*ratings, None], dtype=object)
    idx = np.where(missing, len(ratings), np.searchsorted(edges, p, side="right"))
    return labels[idx] if idx.ndim else labels[int(idx)]
