"""Calibration: fit residual-value curves and rent trends to observed prices.

* :func:`fit_curve` fits any family of :mod:`gpucredit.curves` (optionally with
  generation steps of known ages, fitting the step size ``J``) to observed
  ``(age, value)`` points by bounded non-linear least squares.
* :func:`fit_jump` fits only the step size ``J``, holding the curve fixed.
* :func:`fit_rent_trend` fits an annual deflation rate to observed rents by a
  log-linear regression.

Both fits return frozen dataclasses whose parameters feed straight back into
:func:`gpucredit.curves.residual_value` and :func:`gpucredit.rents.trend_path`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gpucredit._checks import check_range
from gpucredit.curves import _as_datetime, _family, _step_table, residual_value
from gpucredit.errors import GpuCreditError

__all__ = ["FitResult", "RentTrendFit", "fit_curve", "fit_jump", "fit_rent_trend"]

# Bounds and starting points of each fittable parameter. Several starts guard against
# the local minima of the kinked straight line and the flat tails of the logistic.
_INF = np.inf
_SPECS = {
    "straight_line": {"life": (1e-9, _INF, (1.0, 3.0, 6.0)), "salvage": (0.0, 1.0, (0.05, 0.3))},
    "declining_balance": {"rate": (0.0, 1.0 - 1e-12, (0.1, 0.3, 0.6))},
    "exponential_floor": {"lam": (0.0, _INF, (0.2, 0.6, 1.5)), "floor": (0.0, 1.0, (0.02, 0.2))},
    "logistic": {"hold_years": (0.0, _INF, (0.5, 2.0, 4.0)),
                 "steepness": (0.0, _INF, (0.5, 2.0, 5.0)),
                 "floor": (0.0, 1.0, (0.02, 0.2))},
}
_JUMP_SPEC = (0.0, 1.0, (0.1, 0.4))


@dataclass(frozen=True)
class FitResult:
    """A residual-value curve fitted to observed points.

    Attributes
    ----------
    family : str
        Curve family (one of :data:`gpucredit.curves.FAMILIES`).
    params : dict
        Fitted parameters, plus any held fixed, plus ``jump`` when steps were used:
        ``residual_value(age, family, step_ages=..., **params)`` reproduces the fit.
    rmse : float
        Root mean squared error of the fitted values (fraction of cost).
    r_squared : float
        ``1 - SSR / SST``; NaN when every observed value is the same.
    n_points : int
        Number of observed points.
    step_ages : tuple of float or None
        Step ages used in the fit (None: no steps).
    attrition_rate : float
        Attrition rate applied in the fit.
    """

    family: str
    params: dict
    rmse: float
    r_squared: float
    n_points: int
    step_ages: tuple[float, ...] | None = None
    attrition_rate: float = 0.0

    def predict(self, age):
        """The fitted curve at ``age`` (same shapes as :func:`residual_value`)."""
        return residual_value(age, self.family, step_ages=self.step_ages,
                              attrition_rate=self.attrition_rate, **self.params)


@dataclass(frozen=True)
class RentTrendFit:
    """A constant-deflation rent trend fitted to observed rents.

    Attributes
    ----------
    deflation : float
        Annual deflation rate d (0.25 = the trend falls 25% a year), for
        :func:`gpucredit.rents.trend_path`.
    deflation_se : float
        Standard error of ``deflation`` (delta method from the slope's standard error).
    rent0 : float
        Trend rent at ``origin``, USD per GPU-hour (a geometric-mean level: the trend of
        log-rent, exponentiated).
    origin : float or pandas.Timestamp
        Time zero of the trend: a date when the times were dates, else years.
    log_rmse : float
        Root mean squared residual of log-rent (about the relative error of the trend).
    r_squared : float
        ``R^2`` of the log-linear regression.
    n_points : int
        Number of observed rents.
    days_per_year : float
        Days in a year used to turn dates into years.
    """

    deflation: float
    deflation_se: float
    rent0: float
    origin: float | pd.Timestamp
    log_rmse: float
    r_squared: float
    n_points: int
    days_per_year: float = 365.25

    def predict(self, times):
        """Trend rent at ``times`` (years, or dates when the fit used dates)."""
        years, _ = _years(times, self.origin, self.days_per_year, "times")
        out = self.rent0 * (1.0 - self.deflation) ** years
        return float(out) if out.ndim == 0 else out


# --------------------------------------------------------------------------- helpers

def _points(x, y, xname: str, yname: str, low_y: float, low_open: bool) -> tuple:
    xa = check_range(x, xname, 0) if xname == "ages" else x
    ya = check_range(y, yname, low_y, low_open=low_open)
    nx, ny = np.size(xa), np.size(ya)
    if np.ndim(xa) != 1 or ya.ndim != 1:
        raise GpuCreditError(
            f"{xname} and {yname} must be lists of observations (1-D), got shapes "
            f"{np.shape(xa)} and {ya.shape}", argument=yname, value=ya.shape)
    if nx != ny:
        raise GpuCreditError(
            f"{xname} has {nx} points but {yname} has {ny}: give one {yname[:-1]} per "
            f"{xname[:-1]}", argument=yname, value=ny)
    return xa, ya


def _years(times, origin, days_per_year: float, name: str):
    """Times as years since ``origin``: numbers are years already; dates are converted."""
    kind = np.asarray(times).dtype.kind
    if kind in "iuf":
        t = check_range(times, name)
        if origin is None:
            origin = 0.0
        elif isinstance(origin, pd.Timestamp):
            raise GpuCreditError(f"{name} must be dates: the trend was fitted to dates",
                                 argument=name, value=times)
        origin = float(check_range(origin, "origin"))
        return t - origin, origin
    t = _as_datetime(times, name)
    if np.isnat(t).any():
        raise GpuCreditError(f"{name} must all be dates, got a missing date",
                             argument=name, value=times)
    if origin is None:
        origin = t.min() if t.size else None
    elif not isinstance(origin, pd.Timestamp) and np.asarray(origin).dtype.kind in "iuf":
        raise GpuCreditError(f"origin must be a date when {name} are dates, got {origin!r}",
                             argument="origin", value=origin)
    o = _as_datetime(origin, "origin")
    if o.ndim != 0 or np.isnat(o):
        raise GpuCreditError(f"origin must be one date, got {origin!r}", argument="origin",
                             value=origin)
    return (t - o) / np.timedelta64(1, "D") / days_per_year, pd.Timestamp(o[()])


def _r_squared(resid: np.ndarray, y: np.ndarray) -> float:
    sst = float(np.sum((y - y.mean()) ** 2))
    return float("nan") if sst == 0.0 else 1.0 - float(np.sum(resid**2)) / sst


# --------------------------------------------------------------------------- curves

def fit_curve(ages, values, family="exponential_floor", *, fit=None, fixed=None,
              initial=None, step_ages=None, attrition_rate=0.0) -> FitResult:
    """Fit a residual-value curve to observed ``(age, value)`` points.

    Parameters
    ----------
    ages : array_like
        Ages in years (>= 0) of the observations, 1-D.
    values : array_like
        Observed values as fractions of the original cost (>= 0; above 1 is allowed, e.g.
        resale in a shortage), 1-D, one per age.
    family : str, default "exponential_floor"
        Curve family, one of :data:`gpucredit.curves.FAMILIES`.
    fit : sequence of str, optional
        Parameters to fit. Default: every parameter of the family not in ``fixed``
        (``life, salvage``; ``rate``; ``lam, floor``; ``hold_years, steepness, floor``),
        plus ``jump`` when ``step_ages`` is given. Parameters neither fitted nor fixed
        keep the family's defaults.
    fixed : dict, optional
        Parameters held at given values (e.g. ``{"floor": 0.0}``, or ``{"half_life": 2}``
        for declining balance).
    initial : dict, optional
        Starting values for fitted parameters; by default a small grid of starts is
        tried and the best fit kept.
    step_ages : array_like, optional
        Known ages (years, 1-D) of successor generations' volume dates; the step size
        ``jump`` is then fitted too unless fixed (see
        :func:`gpucredit.curves.generation_steps`).
    attrition_rate : float, default 0.0
        Attrition applied on top of the curve, held fixed (observed prices per GPU
        usually need none).

    Returns
    -------
    FitResult

    Notes
    -----
    Minimises :math:`\\sum_i (V(a_i; \\theta) - v_i)^2` over the fitted parameters
    :math:`\\theta` within their bounds (life > 0; rate in [0, 1); lam, hold_years,
    steepness >= 0; floor, salvage, jump in [0, 1]) by
    ``scipy.optimize.least_squares`` (trust-region reflective), from each start of a
    small grid; the lowest sum of squares wins. ``rmse = sqrt(SSR / n)`` and
    ``R^2 = 1 - SSR / SST``. At least one more point than fitted parameters is needed.

    References
    ----------
    .. [1] SciPy, ``scipy.optimize.least_squares`` (trust-region reflective); docs/sources.md,
       "Obsolescence and rents" (calibration from observed points).

    Examples
    --------
    docs/sources.md's practitioner resale curve (midpoints of the quoted bands):

    >>> res = fit_curve([1, 2, 3, 4, 5], [0.625, 0.425, 0.30, 0.175, 0.125])
    >>> {k: round(v, 2) for k, v in res.params.items()}
    {'lam': 0.46, 'floor': 0.03}
    >>> fit_curve([1.0], [0.6])
    Traceback (most recent call last):
    ...
    gpucredit.errors.GpuCreditError: fit_curve needs more points than fitted parameters: ...
    """
    from scipy.optimize import least_squares

    name = _family(family).__name__
    a, v = _points(ages, values, "ages", "values", 0, False)
    fixed = dict(fixed or {})
    specs = dict(_SPECS[name])
    allowed = set(specs) | ({"half_life"} if name == "declining_balance" else set())
    if step_ages is not None:
        steps = _step_table(step_ages, "step_ages")
        if steps.ndim != 1:
            raise GpuCreditError(
                f"step_ages must be one list of ages (k,) when fitting one curve, got shape "
                f"{steps.shape}", argument="step_ages", value=steps.shape)
        step_ages = tuple(float(s) for s in steps)
        specs["jump"] = _JUMP_SPEC
        allowed.add("jump")
    for key in fixed:
        if key not in allowed:
            raise GpuCreditError(
                f"fixed names {key}, which the {name} curve does not take; it takes "
                f"{', '.join(sorted(allowed))}", argument="fixed", value=key)
    if fit is None:
        fit = [k for k in specs if k not in fixed]
        if name == "declining_balance" and "half_life" in fixed:
            fit = [k for k in fit if k != "rate"]
    else:
        fit = [fit] if isinstance(fit, str) else list(fit)
        for key in fit:
            if key not in specs or key in fixed:
                why = "is also fixed" if key in fixed else "cannot be fitted"
                raise GpuCreditError(
                    f"fit names {key}, which {why}; the {name} curve fits "
                    f"{', '.join(specs)}", argument="fit", value=key)
    if not fit:
        raise GpuCreditError(f"nothing to fit: every parameter of the {name} curve is fixed",
                             argument="fixed", value=fixed)
    if a.size <= len(fit):
        raise GpuCreditError(
            f"fit_curve needs more points than fitted parameters: {len(fit)} parameters "
            f"({', '.join(fit)}) but {a.size} points", argument="ages", value=a.size)
    initial = dict(initial or {})
    for key in initial:
        if key not in fit:
            raise GpuCreditError(f"initial names {key}, which is not fitted (fitted: "
                                 f"{', '.join(fit)})", argument="initial", value=key)

    def model(theta):
        return residual_value(a, name, step_ages=step_ages, attrition_rate=attrition_rate,
                              **fixed, **dict(zip(fit, theta, strict=True)))

    lower = np.array([specs[k][0] for k in fit])
    upper = np.array([specs[k][1] for k in fit])
    grids = [(float(initial[k]),) if k in initial else specs[k][2] for k in fit]
    best = None
    for x0 in itertools.product(*grids):
        x0 = np.clip(np.array(x0, dtype=float), lower, upper)
        sol = least_squares(lambda th: model(th) - v, x0, bounds=(lower, upper),
                            ftol=1e-12, xtol=1e-12, gtol=1e-12)
        if best is None or sol.cost < best.cost:
            best = sol
    resid = model(best.x) - v
    params = {**fixed, **{k: float(x) for k, x in zip(fit, best.x, strict=True)}}
    return FitResult(family=name, params=params,
                     rmse=float(np.sqrt(np.mean(resid**2))), r_squared=_r_squared(resid, v),
                     n_points=int(a.size), step_ages=step_ages,
                     attrition_rate=float(attrition_rate))


def fit_jump(ages, values, step_ages, family="exponential_floor", *, attrition_rate=0.0,
             **curve_params) -> FitResult:
    """Fit only the generation step size ``J``, holding the curve at given parameters.

    Parameters
    ----------
    ages, values : array_like
        Observations, as in :func:`fit_curve`.
    step_ages : array_like
        Known ages (years, 1-D) at which successor generations reached volume.
    family : str, default "exponential_floor"
        Base curve family.
    attrition_rate : float, default 0.0
        Attrition applied on top, held fixed.
    **curve_params
        The base curve's parameters; those not given keep the family defaults.

    Returns
    -------
    FitResult
        ``params`` holds the given curve parameters and the fitted ``jump``.

    Notes
    -----
    Minimises :math:`\\sum_i (C(a_i)(1 - J)^{n(a_i)} - v_i)^2` over ``J`` in [0, 1].

    Examples
    --------
    A straight line to zero over 6 years with one 30% step at age 2:

    >>> res = fit_jump([1, 2, 3, 4], [5/6, 0.7 * 4/6, 0.7 * 3/6, 0.7 * 2/6], [2.0],
    ...                family="straight_line", life=6.0)
    >>> round(res.params["jump"], 4)
    0.3
    """
    return fit_curve(ages, values, family, fit=("jump",), fixed=curve_params,
                     step_ages=step_ages, attrition_rate=attrition_rate)


# --------------------------------------------------------------------------- rents

def fit_rent_trend(times, rents, *, origin=None, days_per_year=365.25) -> RentTrendFit:
    """Fit a constant annual deflation rate to observed rents (log-linear regression).

    Parameters
    ----------
    times : array_like
        When each rent was observed: years (numbers), or dates (``datetime.date``,
        ``numpy.datetime64``, ``pandas.Timestamp`` or ISO strings), 1-D.
    rents : array_like
        Observed rents, USD per GPU-hour (> 0), one per time.
    origin : float or date-like, optional
        Time zero of the fitted trend (``rent0`` is the trend rent there). Default: 0
        for years, the earliest date for dates.
    days_per_year : float, default 365.25
        Days in a year, to turn dates into years.

    Returns
    -------
    RentTrendFit

    Notes
    -----
    Ordinary least squares of :math:`\\ln r_i = \\alpha + \\beta t_i + \\varepsilon_i`
    with ``t`` in years since ``origin``; then

    .. math:: d = 1 - e^{\\beta}, \\qquad \\text{rent}_0 = e^{\\alpha},
              \\qquad \\mathrm{se}(d) = e^{\\beta}\\,\\mathrm{se}(\\beta),
              \\quad \\mathrm{se}(\\beta) = \\sqrt{\\frac{SSR / (n - 2)}{\\sum (t_i - \\bar t)^2}}

    so ``rent0 (1 - d)^t`` is the trend, the form of :func:`gpucredit.rents.trend_path`.
    Observed rents swing around the trend (docs/sources.md: a V around a falling trend), so
    read ``deflation_se`` and ``log_rmse`` before trusting the rate.

    References
    ----------
    .. [1] W. H. Greene, *Econometric Analysis*: least squares and the standard error of
       a regression slope; the delta method.
    .. [2] docs/sources.md, "Obsolescence and rents": observed H100 rents.

    Examples
    --------
    >>> res = fit_rent_trend([0, 1, 2], [4.0, 3.0, 2.25])
    >>> round(res.deflation, 4), round(res.rent0, 4)
    (0.25, 4.0)
    >>> fit_rent_trend([0, 1, 2], [4.0, 0.0, 2.0])
    Traceback (most recent call last):
    ...
    gpucredit.errors.GpuCreditError: rents must be > 0, got 0 (position 2)
    """
    dpy = float(check_range(days_per_year, "days_per_year", 0, low_open=True))
    years, origin = _years(times, origin, dpy, "times")
    t, r = _points(years, rents, "times", "rents", 0, True)
    n = r.size
    if n < 3:
        raise GpuCreditError(
            f"fit_rent_trend needs at least 3 rents to fit a trend and its error, got {n}",
            argument="rents", value=n)
    dt_ = t - t.mean()
    sxx = float(np.sum(dt_**2))
    if sxx == 0.0:
        raise GpuCreditError("times must not all be the same: a trend needs rents at "
                             "different times", argument="times", value=times)
    y = np.log(r)
    beta = float(np.sum(dt_ * (y - y.mean())) / sxx)
    alpha = float(y.mean() - beta * t.mean())
    resid = y - (alpha + beta * t)
    ssr = float(np.sum(resid**2))
    se_beta = float(np.sqrt(ssr / (n - 2) / sxx))
    return RentTrendFit(
        deflation=float(-np.expm1(beta)), deflation_se=float(np.exp(beta) * se_beta),
        rent0=float(np.exp(alpha)), origin=origin, log_rmse=float(np.sqrt(ssr / n)),
        r_squared=_r_squared(resid, y), n_points=int(n), days_per_year=dpy)
