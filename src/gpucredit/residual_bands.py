"""Residual-value bands from used-GPU prices: publish bands, not one line.

A curve fitted through a few resale prices hides how far prices spread at each age. Here
each band edge is a quantile regression of log value on age, so at the band's edges the
analyst reads the collateral value (and the LTV) that the stated share of observed sales
fell below or above.

* :func:`used_price_points` - ages and values (fractions of the launch price) of observed
  used-GPU prices, from each model's launch date and list price (the presets by default);
* :func:`fit_bands` - quantile bands :math:`V_q(a) = e^{\\alpha_q} (1 - r_q)^{a}`, by
  model, each edge a declining-balance curve of :mod:`gpucredit.curves` scaled by
  :math:`e^{\\alpha_q}`;
* :func:`band_collateral` - collateral values and LTVs of a facility at the band edges.

References
----------
.. [1] R. Koenker and G. Bassett, "Regression quantiles", *Econometrica* 46, 1978, 33-50
   (the linear-programming form, and the share of points below a fitted quantile).
.. [2] R. Koenker, *Quantile Regression*, Cambridge University Press, 2005, sec. 2.2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linprog

from gpucredit.collateral import ltv, market_value
from gpucredit.curves import declining_balance
from gpucredit.errors import GpuCreditError

__all__ = ["ResidualBands", "band_collateral", "fit_bands", "quantile_line",
           "used_price_points"]

DAYS_PER_YEAR = 365.25


def used_price_points(used_prices: pd.DataFrame, launch=None) -> pd.DataFrame:
    """Ages and values (fractions of the launch price) of observed used-GPU prices.

    Parameters
    ----------
    used_prices : DataFrame
        ``date, gpu_model, price`` (USD per GPU), as
        :attr:`gpucredit.tape.market_reader.MarketData.used_prices`.
    launch : dict, optional
        GPU model -> ``(launch date, launch price in USD)``. Default: each model's
        preset (:attr:`~gpucredit.presets.GpuPreset.launch_date`,
        :attr:`~gpucredit.presets.GpuPreset.list_price_usd`).

    Returns
    -------
    DataFrame
        The input with ``age`` (years since launch) and ``value`` (price / launch price).

    Raises
    ------
    GpuCreditError
        A model with no launch date and price, or a sale dated before its launch.
    """
    out = used_prices.copy()
    ages, values = [], []
    for model, date, price in zip(out["gpu_model"], out["date"], out["price"], strict=True):
        start, cost = _launch_of(model, launch)
        age = (pd.Timestamp(date) - pd.Timestamp(start)).days / DAYS_PER_YEAR
        if age < 0:
            raise GpuCreditError(f"a {model} sale on {pd.Timestamp(date).date()} is dated "
                                 f"before the model's launch ({pd.Timestamp(start).date()})",
                                 argument="used_prices", value=str(date))
        ages.append(age)
        values.append(float(price) / cost)
    out["age"], out["value"] = ages, values
    return out


def _launch_of(model: str, launch) -> tuple:
    if launch is not None and model in launch:
        return launch[model]
    from gpucredit.presets import PRESETS

    preset = PRESETS.get(str(model).upper())
    if preset is None:
        known = ", ".join(PRESETS)
        raise GpuCreditError(
            f"no launch date and price for {model}: give them (launch={{'{model}': (date, "
            f"price)}}) or use a model with a preset ({known})", argument="launch",
            value=model)
    return preset.launch_date, preset.list_price_usd


def quantile_line(x, y, q: float) -> tuple[float, float]:
    """Intercept and slope of the q-th regression quantile of y on x.

    Parameters
    ----------
    x, y : array_like
        1-D, the same length (at least 3).
    q : float
        Quantile in (0, 1).

    Returns
    -------
    (alpha, beta) : tuple of float

    Notes
    -----
    Minimises :math:`\\sum_i \\rho_q(y_i - \\alpha - \\beta x_i)`,
    :math:`\\rho_q(u) = u\\,(q - 1[u < 0])`, as the linear program
    :math:`\\min q\\,1'u^+ + (1 - q)\\,1'u^-` subject to
    :math:`\\alpha + \\beta x_i + u_i^+ - u_i^- = y_i` (Koenker and Bassett 1978),
    solved by HiGHS. With an intercept, at most :math:`nq` points lie below the fitted
    line and at least :math:`nq - 2` on or below it: the band between two quantiles holds
    their difference's share of the points, up to two points at each edge.

    Examples
    --------
    >>> a, b = quantile_line([0, 1, 2, 3, 4], [1.0, 3.0, 5.0, 7.0, 9.0], 0.5)
    >>> round(a, 6), round(b, 6)
    (1.0, 2.0)
    """
    xa, ya = np.asarray(x, float), np.asarray(y, float)
    n = xa.size
    if not 0 < q < 1:
        raise GpuCreditError(f"quantile must be between 0 and 1, got {q}", argument="q",
                             value=q)
    c = np.concatenate([[0.0, 0.0], np.full(n, q), np.full(n, 1 - q)])
    a_eq = np.hstack([np.ones((n, 1)), xa[:, None], np.eye(n), -np.eye(n)])
    bounds = [(None, None), (None, None)] + [(0, None)] * (2 * n)
    res = linprog(c, A_eq=a_eq, b_eq=ya, bounds=bounds, method="highs")
    if res.status != 0:  # pragma: no cover - a bounded LP with a feasible point
        raise GpuCreditError(f"quantile regression failed: {res.message}", argument="q")
    return float(res.x[0]), float(res.x[1])


@dataclass(frozen=True)
class ResidualBands:
    """Quantile bands of value against age, by model.

    Attributes
    ----------
    quantiles : tuple of float
        The band's quantiles, lowest first (e.g. 0.1, 0.5, 0.9).
    lines : DataFrame
        Index ``(model, quantile)``; columns ``alpha`` (log level at age 0), ``rate``
        (annual decline :math:`r = 1 - e^{\\beta}`), ``n_points``.
    points : DataFrame
        The observations used (:func:`used_price_points`).
    """

    quantiles: tuple
    lines: pd.DataFrame
    points: pd.DataFrame

    @property
    def models(self) -> tuple:
        """Models with their own bands (``all`` pools every observation)."""
        return tuple(dict.fromkeys(self.lines.index.get_level_values(0)))

    def value(self, model: str, age, quantile: float):
        """Band edge at ``age``: :math:`e^{\\alpha_q} \\times` the declining-balance curve
        :func:`gpucredit.curves.declining_balance` at rate :math:`r_q`."""
        key = model if model in self.models else "all"
        row = self.lines.loc[(key, quantile)]
        return np.exp(row["alpha"]) * declining_balance(age, rate=row["rate"])

    def table(self, model: str, ages) -> pd.DataFrame:
        """Every edge of a model's band at ``ages`` (a column per quantile)."""
        return pd.DataFrame({f"q{round(100 * q):02d}": np.atleast_1d(
            self.value(model, np.asarray(ages, float), q)) for q in self.quantiles},
            index=pd.Index(np.atleast_1d(np.asarray(ages, float)), name="age"))


def fit_bands(points: pd.DataFrame, quantiles=(0.1, 0.5, 0.9), *, min_points=8
              ) -> ResidualBands:
    """Quantile bands of value against age from used-GPU prices, by model.

    Parameters
    ----------
    points : DataFrame
        ``gpu_model, age, value`` (:func:`used_price_points`).
    quantiles : sequence of float, default (0.1, 0.5, 0.9)
        Edges (and middle) of the band: the default 10-90% band holds 80% of the sales.
    min_points : int, default 8
        A model with fewer observations gets no band of its own (it uses ``all``).

    Returns
    -------
    ResidualBands

    Notes
    -----
    For each quantile q, :func:`quantile_line` fits :math:`\\ln v = \\alpha_q + \\beta_q a`
    and the edge is :math:`V_q(a) = e^{\\alpha_q} (1 - r_q)^a`, :math:`r_q = 1 -
    e^{\\beta_q}` - a declining-balance curve (the exponential family) scaled at age
    0. Quantiles are equivariant to the monotone log, so the edges are quantiles of value
    itself. The edges are fitted separately and not forced apart: edges that cross within
    the ages observed say the data cannot support the band.

    Examples
    --------
    >>> pts = pd.DataFrame({"gpu_model": "H100", "age": np.repeat([1.0, 2, 3], 5),
    ...                     "value": np.tile([0.5, 0.6, 0.7, 0.8, 0.9], 3)
    ...                     * np.repeat([1.0, 0.7, 0.49], 5)})
    >>> b = fit_bands(pts, (0.2, 0.5, 0.8), min_points=5)
    >>> round(float(b.lines.loc[("H100", 0.5), "rate"]), 3)
    0.3
    """
    qs = tuple(sorted(float(q) for q in quantiles))
    rows = []
    groups = [(m, g) for m, g in points.groupby("gpu_model") if len(g) >= min_points]
    if len(points) < min_points:
        raise GpuCreditError(
            f"residual bands need at least {min_points} used prices, got {len(points)}: add "
            f"observations", argument="used_prices", value=len(points))
    for model, g in [*groups, ("all", points)]:
        for q in qs:
            alpha, beta = quantile_line(g["age"], np.log(g["value"]), q)
            if beta > 0:
                raise GpuCreditError(
                    f"the {q:.0%} quantile of {model} used prices rises with age "
                    f"({np.expm1(beta):+.0%} a year): too few or too scattered sales for a "
                    f"band", argument="used_prices", value=model)
            rows.append((model, q, alpha, float(-np.expm1(beta)), len(g)))
    lines = pd.DataFrame(rows, columns=["model", "quantile", "alpha", "rate", "n_points"]
                         ).set_index(["model", "quantile"])
    return ResidualBands(qs, lines, points)


def band_collateral(bands: ResidualBands, model: str, age, cost, debt, units=1.0
                    ) -> pd.DataFrame:
    """Collateral value and LTV of a facility at each edge of a model's band.

    Parameters
    ----------
    bands : ResidualBands
    model : str
        GPU model (``all`` is used when it has no band of its own).
    age : float or array_like
        Fleet age in years (per period, or one number).
    cost : float
        Original cost of the fleet, USD (the value fractions are of launch price).
    debt : float or array_like
        Debt outstanding, USD, matching ``age``.
    units : float or array_like, default 1
        Share of units surviving (:func:`gpucredit.collateral.market_value`).

    Returns
    -------
    DataFrame
        Index: the quantiles; columns ``value`` and ``ltv`` (arrays when ``age`` is).

    Notes
    -----
    :math:`\\text{value}_q = \\text{cost} \\times V_q(\\text{age}) \\times \\text{units}`
    (:func:`~gpucredit.collateral.market_value`) and :math:`LTV_q = D / \\text{value}_q`
    (:func:`~gpucredit.collateral.ltv`): the low quantile gives the high LTV.

    Examples
    --------
    >>> pts = pd.DataFrame({"gpu_model": "H100", "age": np.repeat([1.0, 2, 3], 5),
    ...                     "value": np.tile([0.5, 0.6, 0.7, 0.8, 0.9], 3)
    ...                     * np.repeat([1.0, 0.7, 0.49], 5)})
    >>> b = fit_bands(pts, (0.2, 0.5, 0.8), min_points=5)
    >>> band_collateral(b, "H100", 2.0, cost=1e6, debt=3.5e5).round(3)["ltv"].tolist()
    [0.833, 0.714, 0.625]
    """
    out = {}
    for q in bands.quantiles:
        value = market_value(cost, bands.value(model, age, q), units)
        out[q] = {"value": value, "ltv": ltv(debt, value)}
    return pd.DataFrame.from_dict(out, orient="index").rename_axis("quantile")
