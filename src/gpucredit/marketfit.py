"""Calibrate the market model from observed rents and BTC prices.

The model the Monte Carlo simulates (:class:`gpucredit.montecarlo.MarketModel`):

* log-rent of a GPU generation = trend + cycle + generation steps,
  :math:`y(t) = a + b\\,t + c\\,n(t) + x(t)`, with :math:`n(t)` the successor launches
  passed since the series began and :math:`x` an Ornstein-Uhlenbeck cycle
  :math:`dx = -\\kappa x\\,dt + \\sigma\\,dW`;
* BTC a geometric Brownian motion, :math:`d\\ln P = \\mu\\,dt + \\sigma_B\\,dB`;
* the Brownian motions of the generations and of BTC correlated.

Everything is fitted by exact Gaussian maximum likelihood on the dates observed, so
irregular dates (weekly quotes with gaps, missed days) need no resampling:

* :func:`fit_rent_cycle` - trend deflation :math:`d = 1 - e^{b}`, the step at each
  launch :math:`J = 1 - e^{c}`, the cycle's speed :math:`\\kappa` and volatility
  :math:`\\sigma`, each with a standard error from the observed information;
* :func:`fit_btc` - BTC drift and volatility;
* :func:`innovation_correlation` - the correlation of two series' Brownian drivers from
  their standardised innovations on the dates both are observed;
* :func:`fit_basis` - the spot/contract basis :math:`\\ln(\\text{contract}/\\text{spot})`;
* :func:`calibrate_market` - all of it from a market file's frames, returning a
  :class:`MarketFit` whose names match :class:`~gpucredit.montecarlo.MarketModel`.

No I/O here: frames in, numbers out.

References
----------
.. [1] P. Glasserman, *Monte Carlo Methods in Financial Engineering*, Springer, 2004,
   sec. 3.3-3.4 (exact transition of the OU process and of GBM).
.. [2] J. D. Hamilton, *Time Series Analysis*, Princeton, 1994, sec. 5.2 (exact likelihood
   of a Gaussian AR(1), the first observation from the stationary law) and sec. 5.8
   (standard errors from the inverse of the information matrix).
.. [3] C. Y. Tang and S. X. Chen, "Parameter estimation and bias correction for
   diffusion processes", *Journal of Econometrics* 149, 2009, 65-81; B. Efron and
   R. J. Tibshirani, *An Introduction to the Bootstrap*, Chapman & Hall, 1993, ch. 10.
.. [4] R. A. Fisher, "On the probable error of a coefficient of correlation deduced from
   a small sample", *Metron* 1, 1921 (the z-transform; standard error of r).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from gpucredit.errors import GpuCreditError

__all__ = ["BtcFit", "MarketFit", "RentCycleFit", "calibrate_market", "fit_basis",
           "fit_btc", "fit_rent_cycle", "forward_curve", "forward_curve_at",
           "innovation_correlation",
           "simulate_rent_fan"]

DAYS_PER_YEAR = 365.25
_KAPPA_RANGE = (0.01, 200.0)  # per year: half-lives from 69 years to 1.3 days
_DOMAIN = {"btc_vol": (0.0, np.inf), "rent_kappa": (0.0, np.inf),  # MarketModel's checks
           "rent_sigma": (0.0, np.inf), "jump_size": (0.0, 1.0), "rho": (-1.0, 1.0)}


# ------------------------------------------------------------------------- helpers

def _years(dates, origin) -> np.ndarray:
    d = pd.to_datetime(pd.Index(dates))
    return np.asarray((d - pd.Timestamp(origin)) / pd.Timedelta(days=1)) / DAYS_PER_YEAR


def _check_series(dates, values, what: str, min_points: int) -> tuple:
    d = pd.to_datetime(pd.Index(dates))
    v = np.asarray(values, dtype=float)
    if d.size != v.size:
        raise GpuCreditError(f"{what}: {d.size} dates but {v.size} values", argument=what)
    if d.size < min_points:
        raise GpuCreditError(
            f"{what} has {d.size} observation{'s' if d.size != 1 else ''}; fitting it "
            f"needs at least {min_points}: add observations or leave the series out",
            argument=what, value=int(d.size))
    if d.hasnans or not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise GpuCreditError(f"{what}: every date must be given and every value > 0",
                             argument=what)
    if not d.is_monotonic_increasing or d.has_duplicates:
        raise GpuCreditError(f"{what}: dates must be increasing and unrepeated",
                             argument=what)
    return d, v


def _hessian(f, x: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """Central-difference Hessian of a scalar function."""
    n = x.size
    H = np.empty((n, n))
    for i in range(n):
        for j in range(i, n):
            e_i, e_j = np.eye(n)[i] * h, np.eye(n)[j] * h
            H[i, j] = H[j, i] = (f(x + e_i + e_j) - f(x + e_i - e_j) - f(x - e_i + e_j)
                                 + f(x - e_i - e_j)) / (4 * h * h)
    return H


def _covariance(H: np.ndarray) -> np.ndarray:
    try:
        cov = np.linalg.inv(H)
    except np.linalg.LinAlgError:
        return np.full_like(H, np.nan)
    return cov if np.all(np.diag(cov) > 0) else np.full_like(H, np.nan)


def _ou_weights(kappa: float, dt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AR(1) coefficients phi_i = e^{-kappa dt_i} and 1 - phi_i^2 (over s^2)."""
    phi = np.exp(-kappa * dt)
    return phi, -np.expm1(-2.0 * kappa * dt)


def _whiten(a: np.ndarray, phi: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Rows whitened by the OU law: first row as is, then (a_i - phi a_{i-1}) / sqrt(q)."""
    out = np.empty_like(a)
    out[0] = a[0]
    scale = np.sqrt(q).reshape((-1,) + (1,) * (a.ndim - 1))
    lag = phi.reshape(scale.shape)
    out[1:] = (a[1:] - lag * a[:-1]) / scale
    return out


# ---------------------------------------------------------------------- rent cycle

@dataclass(frozen=True)
class RentCycleFit:
    """Trend, generation step and OU cycle fitted to one rent series.

    Attributes
    ----------
    name : str
        The series (e.g. ``"H100 spot"``).
    n_points : int
    origin : pandas.Timestamp
        First date; time zero of the trend.
    rent0, deflation, deflation_se : float
        Trend rent at ``origin`` (USD/GPU-hour, the median level :math:`e^a`) and the
        annual deflation :math:`d = 1 - e^b` with its standard error.
    jump_size, jump_se : float
        Share of the rent lost at each successor launch, :math:`J = 1 - e^c`; NaN when no
        launch falls inside the data.
    rent_kappa, rent_kappa_se, rent_sigma, rent_sigma_se : float
        OU speed (per year) and volatility (per square-root year) of the log-rent cycle.
    launch_dates : tuple of Timestamp
        Successor launches inside the data (those counted by :math:`n(t)`).
    log_likelihood : float
    residual_sd : float
        Standard deviation of the fitted cycle :math:`x`.
    last_cycle : float
        The cycle :math:`x` on the last date (where a simulated fan starts).
    last_date : pandas.Timestamp
    """

    name: str
    n_points: int
    origin: pd.Timestamp
    rent0: float
    deflation: float
    deflation_se: float
    jump_size: float
    jump_se: float
    rent_kappa: float
    rent_kappa_se: float
    rent_sigma: float
    rent_sigma_se: float
    launch_dates: tuple = ()
    log_likelihood: float = float("nan")
    residual_sd: float = float("nan")
    last_cycle: float = 0.0
    last_date: pd.Timestamp | None = None

    def trend(self, dates) -> np.ndarray:
        """Fitted trend rent (with the steps of the launches it knows) on ``dates``."""
        t = _years(dates, self.origin)
        n = _launches_passed(dates, self.origin, self.launch_dates)
        c = np.log1p(-self.jump_size) if np.isfinite(self.jump_size) else 0.0
        return self.rent0 * (1.0 - self.deflation) ** t * np.exp(c * n)

    def to_dict(self) -> dict:
        """Plain values (dates as ISO strings)."""
        d = asdict(self)
        d["origin"] = self.origin.date().isoformat()
        d["last_date"] = None if self.last_date is None else self.last_date.date().isoformat()
        d["launch_dates"] = [pd.Timestamp(x).date().isoformat() for x in self.launch_dates]
        return d


def _launches_passed(dates, origin, launches) -> np.ndarray:
    d = pd.to_datetime(pd.Index(dates)).to_numpy()
    ls = pd.to_datetime(pd.Index(list(launches))).to_numpy()
    o = pd.Timestamp(origin).to_datetime64()
    return ((ls[None, :] > o) & (ls[None, :] <= d[:, None])).sum(axis=1).astype(float)


def _profile_nll(kappa: float, y, X, dt) -> tuple[float, np.ndarray, float]:
    """Negative log-likelihood with beta and s^2 concentrated out, for a given kappa."""
    phi, q = _ou_weights(kappa, dt)
    yw, Xw = _whiten(y, phi, q), _whiten(X, phi, q)
    beta, *_ = np.linalg.lstsq(Xw, yw, rcond=None)
    n = y.size
    s2 = float(np.sum((yw - Xw @ beta) ** 2)) / n
    nll = 0.5 * (n * np.log(2 * np.pi * s2) + np.sum(np.log(q)) + n)
    return nll, beta, s2


def _full_nll(theta: np.ndarray, y, X, dt) -> float:
    p = X.shape[1]
    beta, kappa, sigma = theta[:p], np.exp(theta[p]), np.exp(theta[p + 1])
    s2 = sigma**2 / (2 * kappa)
    phi, q = _ou_weights(kappa, dt)
    x = y - X @ beta
    e = np.concatenate([[x[0]], x[1:] - phi * x[:-1]])
    v = s2 * np.concatenate([[1.0], q])
    return 0.5 * float(np.sum(np.log(2 * np.pi * v) + e**2 / v))


def fit_rent_cycle(dates, rents, *, launch_dates=(), name="rent", min_points=10,
                   n_boot=0, seed=0) -> RentCycleFit:
    """Fit trend, generation step and OU cycle to one rent series (exact likelihood).

    Parameters
    ----------
    dates : array_like of dates
        Observation dates, increasing, unrepeated; any spacing.
    rents : array_like
        Rents on those dates, USD per GPU-hour, > 0.
    launch_dates : sequence of dates, optional
        Volume dates of successor generations (e.g.
        :attr:`gpucredit.presets.GpuPreset.successor_dates`). Those strictly after the
        first date and no later than the last add the step term; the others are ignored.
    name : str
        The series, for messages and the report.
    min_points : int, default 10
        Fewest observations accepted (trend, step, cycle: up to five parameters).
    n_boot : int, default 0
        Parametric bootstrap samples for the standard errors (and half as many again for
        the bias of :math:`\\kappa`); 0: the plain maximum-likelihood estimates with
        errors from the Hessian, right when the series spans many half-lives of the
        cycle. Use about 200 on a few years of data.
    seed : int, default 0
        Seed of the bootstrap.

    Returns
    -------
    RentCycleFit

    Notes
    -----
    With :math:`y_i = \\ln \\text{rent}_i`, :math:`t_i` years since the first date and
    :math:`n_i` the launches passed,

    .. math:: y_i = a + b\\,t_i + c\\,n_i + x_i, \\qquad
              x_i = \\phi_i x_{i-1} + \\varepsilon_i, \\quad
              \\phi_i = e^{-\\kappa \\Delta_i}, \\quad
              \\varepsilon_i \\sim N\\!\\left(0, \\tfrac{\\sigma^2}{2\\kappa}
              (1 - \\phi_i^2)\\right)

    and :math:`x_1` drawn from the stationary law :math:`N(0, \\sigma^2 / 2\\kappa)` - the
    exact discretisation of the OU process at any spacing :math:`\\Delta_i` (Glasserman
    2004, sec. 3.3). For each :math:`\\kappa`, the regression coefficients and
    :math:`s^2 = \\sigma^2/2\\kappa` maximising the likelihood are a generalised least
    squares fit on the whitened rows (Hamilton 1994, sec. 5.2); :math:`\\kappa` maximises
    the concentrated likelihood (a grid, then Brent's method on :math:`\\ln\\kappa`).
    The maximum-likelihood :math:`\\hat\\kappa` is biased upwards in samples a few
    half-lives long, the more so when a trend is fitted (Tang and Chen 2009 give about
    :math:`4/T` for a known-mean OU over :math:`T` years; with a trend and a step the
    bias here is larger), and errors from the Hessian understate the trend's error when
    :math:`\\hat\\kappa` is too high. So a parametric bootstrap (Efron and Tibshirani
    1993, ch. 10) does both jobs: series drawn on the same dates from the fitted model
    are refitted; :math:`\\tilde\\kappa = 2\\hat\\kappa - \\overline{\\kappa^*}`
    (floored at the search's lower bound, 0.01 a year); the trend, the step and
    :math:`\\sigma` are the generalised least squares fit at :math:`\\tilde\\kappa`; and
    a second bootstrap from that model gives every standard error as the spread of the
    refitted values (:math:`d = 1 - e^b`, :math:`J = 1 - e^c`, :math:`\\kappa`,
    :math:`\\sigma`, through the delta method on :math:`b, c, \\ln\\kappa,
    \\ln\\sigma`).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> dates = pd.date_range("2023-01-01", periods=260, freq="7D")
    >>> x = np.zeros(260)
    >>> for i in range(1, 260):
    ...     x[i] = x[i - 1] * np.exp(-2 * 7 / 365.25) + 0.3 * np.sqrt(
    ...         (1 - np.exp(-4 * 7 / 365.25)) / 4) * rng.standard_normal()
    >>> t = np.arange(260) * 7 / 365.25
    >>> fit = fit_rent_cycle(dates, 3.0 * 0.8 ** t * np.exp(x))
    >>> round(fit.deflation, 1), round(fit.rent_sigma, 1)
    (0.2, 0.3)
    """
    d, v = _check_series(dates, rents, f"the {name} series", min_points)
    origin = d[0]
    t = _years(d, origin)
    dt = np.diff(t)
    inside = tuple(pd.Timestamp(x) for x in launch_dates
                   if origin < pd.Timestamp(x) <= d[-1])
    n = _launches_passed(d, origin, inside)
    cols = [np.ones_like(t), t] + ([n] if inside and 0 < n[-1] and np.any(n == 0) else [])
    X = np.column_stack(cols)
    y = np.log(v)
    kappa = _best_kappa(y, X, dt)
    nll = _profile_nll(kappa, y, X, dt)[0]
    if n_boot:
        rng = np.random.default_rng(seed)
        first = _bootstrap(kappa, y, X, dt, max(n_boot // 2, 10), rng)[:, -2]
        kappa = max(2 * kappa - float(np.mean(first)), _KAPPA_RANGE[0])
    _, beta, s2 = _profile_nll(kappa, y, X, dt)
    sigma = float(np.sqrt(2 * kappa * s2))
    if n_boot:
        draws = _bootstrap(kappa, y, X, dt, n_boot, rng)
        se = np.std(np.column_stack([draws[:, :-2], np.log(draws[:, -2:])]), axis=0, ddof=1)
    else:
        theta = np.concatenate([beta, [np.log(kappa), np.log(sigma)]])
        se = np.sqrt(np.diag(_covariance(_hessian(lambda th: _full_nll(th, y, X, dt),
                                                    theta))))
    has_jump = X.shape[1] == 3
    x = y - X @ beta
    return RentCycleFit(
        name=name, n_points=int(v.size), origin=origin, rent0=float(np.exp(beta[0])),
        deflation=float(-np.expm1(beta[1])), deflation_se=float(np.exp(beta[1]) * se[1]),
        jump_size=float(-np.expm1(beta[2])) if has_jump else float("nan"),
        jump_se=float(np.exp(beta[2]) * se[2]) if has_jump else float("nan"),
        rent_kappa=float(kappa), rent_kappa_se=float(kappa * se[-2]),
        rent_sigma=sigma, rent_sigma_se=float(sigma * se[-1]),
        launch_dates=inside if has_jump else (), log_likelihood=-float(nll),
        residual_sd=float(np.std(x)), last_cycle=float(x[-1]), last_date=d[-1])


def _bootstrap(kappa: float, y, X, dt, n_boot: int, rng) -> np.ndarray:
    """Refits (beta..., kappa, sigma) to series drawn on the same dates from the model
    fitted at ``kappa`` (a parametric bootstrap, see :func:`fit_rent_cycle`)."""
    _, beta, s2 = _profile_nll(kappa, y, X, dt)
    phi, q = _ou_weights(kappa, dt)
    z = rng.standard_normal((n_boot, y.size)) * np.sqrt(s2)
    x = np.empty_like(z)
    x[:, 0] = z[:, 0]
    for i in range(1, y.size):
        x[:, i] = phi[i - 1] * x[:, i - 1] + np.sqrt(q[i - 1]) * z[:, i]
    out = np.empty((n_boot, X.shape[1] + 2))
    for b in range(n_boot):
        yb = X @ beta + x[b]
        kb = _best_kappa(yb, X, dt, coarse=True)
        _, bb, sb = _profile_nll(kb, yb, X, dt)
        out[b] = [*bb, kb, np.sqrt(2 * kb * sb)]
    return out


def _best_kappa(y, X, dt, coarse=False) -> float:
    from scipy.optimize import minimize_scalar

    lo, hi = np.log(_KAPPA_RANGE[0]), np.log(_KAPPA_RANGE[1])
    grid = np.linspace(lo, hi, 15 if coarse else 41)
    vals = [_profile_nll(np.exp(g), y, X, dt)[0] for g in grid]
    k = int(np.argmin(vals))
    a, b = grid[max(k - 1, 0)], grid[min(k + 1, grid.size - 1)]
    res = minimize_scalar(lambda g: _profile_nll(np.exp(g), y, X, dt)[0], bounds=(a, b),
                          method="bounded", options={"xatol": 1e-3 if coarse else 1e-8})
    return float(np.exp(res.x))


# ----------------------------------------------------------------------------- BTC

@dataclass(frozen=True)
class BtcFit:
    """GBM fitted to BTC prices: drift and volatility per year, with standard errors."""

    n_points: int
    btc_drift: float
    btc_drift_se: float
    btc_vol: float
    btc_vol_se: float
    last_price: float


def fit_btc(dates, prices, *, min_points=10) -> BtcFit:
    """Drift and volatility of BTC as a geometric Brownian motion (exact likelihood).

    Parameters
    ----------
    dates : array_like of dates
        Increasing, unrepeated; any spacing (markets trade every day: 365.25 days a year).
    prices : array_like
        BTC prices in USD, > 0.
    min_points : int, default 10

    Returns
    -------
    BtcFit

    Notes
    -----
    Log returns :math:`r_i = \\ln(P_i/P_{i-1}) \\sim N(\\mu \\Delta_i, \\sigma^2 \\Delta_i)`:

    .. math:: \\hat\\mu = \\frac{\\sum r_i}{\\sum \\Delta_i}, \\qquad
              \\hat\\sigma^2 = \\frac{1}{n} \\sum \\frac{(r_i - \\hat\\mu \\Delta_i)^2}
              {\\Delta_i}, \\qquad
              \\text{se}(\\hat\\sigma) = \\frac{\\hat\\sigma}{\\sqrt{2n}}, \\quad
              \\text{se}(\\hat\\mu) = \\frac{\\hat\\sigma}{\\sqrt{\\sum \\Delta_i}}

    (Glasserman 2004, sec. 3.2; the maximum-likelihood estimates and their asymptotic
    standard errors).

    Examples
    --------
    >>> fit = fit_btc(pd.date_range("2026-01-01", periods=12, freq="D"),
    ...               100 * np.exp(0.01 * (-1) ** np.arange(12)))
    >>> round(float(fit.btc_vol / np.sqrt(365.25)), 3)   # daily sd of +-2% moves
    0.02
    """
    d, p = _check_series(dates, prices, "the BTC series", min_points)
    t = _years(d, d[0])
    dt, r = np.diff(t), np.diff(np.log(p))
    n = r.size
    mu = float(r.sum() / dt.sum())
    vol = float(np.sqrt(np.mean((r - mu * dt) ** 2 / dt)))
    return BtcFit(n_points=int(p.size), btc_drift=mu, btc_drift_se=vol / np.sqrt(dt.sum()),
                  btc_vol=vol, btc_vol_se=vol / np.sqrt(2 * n), last_price=float(p[-1]))


# ---------------------------------------------------------------------- correlation

def _innovations(dates, log_values, kappa: float, mean, sigma: float):
    """Standardised innovations of an OU (kappa > 0) or a Brownian motion (kappa = 0)
    deviation on the given dates, and the integrals' variance per unit sigma^2."""
    t = _years(dates, pd.to_datetime(pd.Index(dates))[0])
    dt = np.diff(t)
    x = log_values - mean
    if kappa > 0:
        phi, q = _ou_weights(kappa, dt)
        var = q / (2 * kappa)
        e = x[1:] - phi * x[:-1]
    else:
        var = dt.copy()
        e = np.diff(x)
    return e / (sigma * np.sqrt(var)), var, dt


def _overlap(k1: float, k2: float, dt: np.ndarray, v1, v2) -> np.ndarray:
    """Correlation of the two integrals over dt when the Brownian motions correlate 1."""
    k = k1 + k2
    cov = -np.expm1(-k * dt) / k if k > 0 else dt
    return cov / np.sqrt(v1 * v2)


def innovation_correlation(dates, y1, y2, *, kappa1, kappa2, mean1, mean2, sigma1, sigma2
                           ) -> tuple[float, float, int]:
    """Correlation of two series' Brownian drivers from their innovations.

    Parameters
    ----------
    dates : array_like of dates
        Dates on which both series are observed (increasing).
    y1, y2 : array_like
        The two log series on those dates.
    kappa1, kappa2 : float
        Mean-reversion speeds per year (0: a Brownian motion, e.g. log BTC).
    mean1, mean2 : array_like
        Each series' fitted mean on the dates (trend; for a Brownian motion with drift,
        :math:`\\mu t`).
    sigma1, sigma2 : float
        Fitted volatilities.

    Returns
    -------
    rho, rho_se, n : float, float, int
        The correlation, its standard error :math:`(1 - \\hat\\rho^2)/\\sqrt{n - 3}` (Fisher
        1921; NaN below 4 pairs) and the number of innovation pairs.

    Notes
    -----
    Over an interval :math:`\\Delta` the exact innovations of two OU processes driven by
    Brownian motions with correlation :math:`\\rho` have correlation
    :math:`\\rho\\,\\omega(\\Delta)` with

    .. math:: \\omega = \\frac{(1 - e^{-(\\kappa_1 + \\kappa_2)\\Delta})/(\\kappa_1 +
              \\kappa_2)}{\\sqrt{v_1 v_2}}, \\qquad
              v_j = \\frac{1 - e^{-2\\kappa_j \\Delta}}{2 \\kappa_j}

    (:math:`v_j = \\Delta` and the numerator :math:`\\Delta` at zero speed); so
    :math:`\\hat\\rho = \\text{corr}(u_1, u_2) / \\bar\\omega`, clipped to [-1, 1].
    :math:`\\omega` is 1 for equal speeds and within 1% of 1 for weekly data.
    """
    u1, v1, dt = _innovations(dates, np.asarray(y1, float), kappa1, np.asarray(mean1), sigma1)
    u2, v2, _ = _innovations(dates, np.asarray(y2, float), kappa2, np.asarray(mean2), sigma2)
    n = u1.size
    if n < 4:
        return float("nan"), float("nan"), int(n)
    r = float(np.corrcoef(u1, u2)[0, 1])
    rho = float(np.clip(r / np.mean(_overlap(kappa1, kappa2, dt, v1, v2)), -1.0, 1.0))
    return rho, float((1 - rho**2) / np.sqrt(n - 3)), int(n)


# ---------------------------------------------------------------------------- basis

def fit_basis(rents: pd.DataFrame) -> pd.DataFrame:
    """The spot/contract basis per GPU model from dates quoting both.

    Parameters
    ----------
    rents : DataFrame
        Columns ``date, gpu_model, kind, rent`` (kind ``spot`` or ``contract``), as
        :attr:`gpucredit.tape.market_reader.MarketData.rents`.

    Returns
    -------
    DataFrame
        One row per model with pairs, and ``all`` pooling every pair: ``n_pairs``,
        ``basis`` (mean log ratio), ``basis_se`` (its standard error, NaN with one pair),
        ``premium`` (:math:`e^{basis} - 1`: contract over spot), ``first`` and ``last``
        dates.

    Notes
    -----
    .. math:: \\beta = \\overline{\\ln(\\text{contract}_i / \\text{spot}_i)}, \\qquad
              \\text{se} = s / \\sqrt{n}

    over the n dates on which a model has both quotes. A merchant path built from spot
    quotes becomes a contract path by :math:`\\times e^{\\beta}`.

    Examples
    --------
    >>> r = pd.DataFrame({"date": pd.to_datetime(["2026-06-01"] * 2),
    ...                   "gpu_model": ["H100", "H100"], "kind": ["spot", "contract"],
    ...                   "rent": [2.42, 2.65]})
    >>> round(float(fit_basis(r).loc["H100", "premium"]), 4)
    0.095
    """
    wide = rents.pivot_table(index=["gpu_model", "date"], columns="kind", values="rent",
                             aggfunc="mean")
    cols = ["n_pairs", "basis", "basis_se", "premium", "first", "last"]
    if not {"spot", "contract"} <= set(wide.columns):
        return pd.DataFrame(columns=cols)
    both = wide.dropna(subset=["spot", "contract"])
    lr = np.log(both["contract"] / both["spot"]).rename("lr").reset_index()
    groups = [(m, g) for m, g in lr.groupby("gpu_model")] + ([("all", lr)] if len(lr) else [])
    rows = {}
    for model, g in groups:
        n = len(g)
        b = float(g["lr"].mean())
        se = float(g["lr"].std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
        rows[model] = [n, b, se, float(np.expm1(b)), g["date"].min(), g["date"].max()]
    return pd.DataFrame.from_dict(rows, orient="index", columns=cols)


# --------------------------------------------------------------------------- curves

def forward_curve(forwards: pd.DataFrame, gpu_model: str, as_of=None
                  ) -> tuple[pd.Timestamp, np.ndarray, np.ndarray]:
    """One forward curve from a market file's forward rows: the latest as-of date.

    Parameters
    ----------
    forwards : DataFrame
        ``as_of, gpu_model, tenor_months, rent``
        (:attr:`gpucredit.tape.market_reader.MarketData.forwards`).
    gpu_model : str
    as_of : date-like, optional
        The valuation date: the latest curve on or before it (default: the latest curve).

    Returns
    -------
    as_of, tenors_months, rents
        For :func:`gpucredit.rents.forward_path` (tenors measured from the curve's as-of
        date).

    Examples
    --------
    >>> f = pd.DataFrame({"as_of": pd.to_datetime(["2026-05-01"] * 2 + ["2026-06-01"] * 2),
    ...                   "gpu_model": "H100", "tenor_months": [1, 12, 1, 12],
    ...                   "rent": [2.5, 2.2, 2.4, 2.1]})
    >>> day, tenors, rents = forward_curve(f, "H100")
    >>> str(day.date()), tenors.tolist(), rents.tolist()
    ('2026-06-01', [1.0, 12.0], [2.4, 2.1])
    """
    own = forwards[forwards["gpu_model"] == gpu_model]
    if as_of is not None:
        own = own[own["as_of"] <= pd.Timestamp(as_of)]
    if own.empty:
        when = f" on or before {pd.Timestamp(as_of).date()}" if as_of is not None else ""
        raise GpuCreditError(f"no forward curve for {gpu_model}{when} in the market data",
                             argument="gpu_model", value=gpu_model)
    day = own["as_of"].max()
    curve = own[own["as_of"] == day].sort_values("tenor_months")
    return (pd.Timestamp(day), curve["tenor_months"].to_numpy(float),
            curve["rent"].to_numpy(float))


def forward_curve_at(forwards: pd.DataFrame, gpu_model: str, valuation
                     ) -> tuple[pd.Timestamp, np.ndarray, np.ndarray] | None:
    """The spot forward curve of ``gpu_model`` seen from the valuation date, or None.

    The latest curve on or before ``valuation`` (:func:`forward_curve`, rows whose kind
    is blank or ``spot``: a merchant rent is a spot rent) rolled forward to it: a tenor
    :math:`\\tau_j` months from the curve's as-of date is :math:`\\tau_j - e` months from
    the valuation date, :math:`e` the months between the two
    (:math:`e = 12 \\times \\text{days} / 365.25`). Tenors already passed are dropped and
    the curve's value at :math:`e` (log-linear between its tenors, as
    :func:`gpucredit.rents.forward_path` reads it) becomes the point at 0.

    Returns
    -------
    (as_of, tenors_months, rents) or None
        For :func:`gpucredit.rents.forward_path`; None when the file has no such curve.

    Examples
    --------
    >>> f = pd.DataFrame({"as_of": pd.Timestamp("2026-06-01"), "gpu_model": "H100",
    ...                   "kind": "spot", "tenor_months": [0, 12], "rent": [2.4, 1.8]})
    >>> day, tenors, rents = forward_curve_at(f, "H100", "2026-12-01")  # 183 days: 6.01 months
    >>> tenors.round(2).tolist(), rents.round(4).tolist()
    ([0.0, 5.99], [2.0778, 1.8])
    """
    spot = forwards[forwards["kind"].isna() | (forwards["kind"] == "spot")]
    spot = spot[(spot["gpu_model"] == gpu_model) & (spot["as_of"] <= pd.Timestamp(valuation))]
    if spot.empty:
        return None
    day, tenors, rents = forward_curve(spot, gpu_model)
    elapsed = 12.0 * (pd.Timestamp(valuation) - day).days / DAYS_PER_YEAR
    if elapsed <= 0:
        return day, tenors, rents
    at = np.exp(np.interp(elapsed, tenors, np.log(rents)))
    ahead = tenors > elapsed
    return (day, np.concatenate([[0.0], tenors[ahead] - elapsed]),
            np.concatenate([[at], rents[ahead]]))


# ------------------------------------------------------------------------ the whole

@dataclass
class MarketFit:
    """The market model calibrated from a market file.

    Names match :class:`gpucredit.montecarlo.MarketModel` where it has the parameter
    (``btc_vol``, ``rent_kappa``, ``rent_sigma``, ``jump_size``, ``rho``); each has a
    ``*_se`` standard error. A parameter the data cannot give is NaN (see ``notes``) and
    the Monte Carlo keeps its cited default.

    Attributes
    ----------
    trend_deflation, trend_deflation_se : float
        Annual rent deflation pooled over generations.
    generations : tuple of str
        The generations (GPU models) fitted, in the order of ``corr``.
    corr, corr_se : ndarray
        Correlation of the generations' cycle drivers and its standard errors.
    rent_fits : dict
        GPU model -> :class:`RentCycleFit`.
    btc : BtcFit or None
    rho_by_model : dict
        GPU model -> (rho, se, pairs) against BTC.
    basis : DataFrame
        :func:`fit_basis`.
    notes : list of str
        What was pooled, and what could not be fitted and why.
    """

    btc_vol: float = float("nan")
    btc_vol_se: float = float("nan")
    btc_drift: float = float("nan")
    btc_drift_se: float = float("nan")
    rent_kappa: float = float("nan")
    rent_kappa_se: float = float("nan")
    rent_sigma: float = float("nan")
    rent_sigma_se: float = float("nan")
    jump_size: float = float("nan")
    jump_size_se: float = float("nan")
    rho: float = float("nan")
    rho_se: float = float("nan")
    trend_deflation: float = float("nan")
    trend_deflation_se: float = float("nan")
    generations: tuple = ()
    corr: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    corr_se: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    rent_fits: dict = field(default_factory=dict)
    btc: BtcFit | None = None
    rho_by_model: dict = field(default_factory=dict)
    basis: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list = field(default_factory=list)

    MODEL_FIELDS = ("btc_vol", "rent_kappa", "rent_sigma", "jump_size", "rho")

    def market_model_kwargs(self, max_rel_se=0.5) -> dict:
        """The fitted :class:`~gpucredit.montecarlo.MarketModel` fields the data support,
        for ``dataclasses.replace(MarketModel(), **fit.market_model_kwargs())``.

        A field is left out (the Monte Carlo keeps its cited default) when it is NaN,
        outside the model's domain (e.g. a negative jump), or known too poorly: its
        standard error above ``max_rel_se`` times its size (default 0.5, a t-ratio
        below 2). :meth:`model_choices` says which and why.
        """
        return {k: float(getattr(self, k)) for k, why in self.model_choices(max_rel_se).items()
                if why == "fitted"}

    def model_choices(self, max_rel_se=0.5) -> dict:
        """For each MarketModel field: ``"fitted"`` or why the default stands."""
        out = {}
        for k in self.MODEL_FIELDS:
            v, se = float(getattr(self, k)), float(getattr(self, f"{k}_se"))
            lo, hi = _DOMAIN[k]
            if not np.isfinite(v):
                out[k] = "not estimated"
            elif not lo <= v <= hi or (k == "jump_size" and v == 1.0):
                out[k] = f"estimate {v:.3g} outside [{lo:g}, {hi:g}]"
            elif not np.isfinite(se) or se > max_rel_se * abs(v):
                out[k] = f"too uncertain (estimate {v:.3g}, standard error {se:.3g})"
            else:
                out[k] = "fitted"
        return out

    def parameters(self) -> pd.DataFrame:
        """One row per parameter: ``estimate``, ``se``."""
        names = [*self.MODEL_FIELDS, "btc_drift", "trend_deflation"]
        return pd.DataFrame({"estimate": [getattr(self, k) for k in names],
                             "se": [getattr(self, f"{k}_se") for k in names]},
                            index=pd.Index(names, name="parameter"))

    def to_dict(self) -> dict:
        """Everything as plain JSON-ready values (NaN as None)."""
        def clean(x):
            if isinstance(x, float | np.floating):
                return float(x) if np.isfinite(x) else None
            if isinstance(x, dict):
                return {str(k): clean(v) for k, v in x.items()}
            if isinstance(x, list | tuple):
                return [clean(v) for v in x]
            if isinstance(x, pd.Timestamp):
                return x.date().isoformat()
            return x
        out = {k: getattr(self, k) for k in (*self.MODEL_FIELDS, "btc_drift",
                                            "trend_deflation")}
        out.update({f"{k}_se": getattr(self, f"{k}_se") for k in list(out)})
        out["generations"] = list(self.generations)
        out["corr"] = self.corr.tolist()
        out["corr_se"] = self.corr_se.tolist()
        out["rent_fits"] = {m: f.to_dict() for m, f in self.rent_fits.items()}
        out["btc"] = None if self.btc is None else asdict(self.btc)
        out["rho_by_model"] = {m: list(v) for m, v in self.rho_by_model.items()}
        out["basis"] = {str(m): {k: (v.date().isoformat() if isinstance(v, pd.Timestamp)
                                     else v) for k, v in row.items()}
                        for m, row in self.basis.to_dict("index").items()}
        out["notes"] = list(self.notes)
        return clean(out)


def _pool(values, ses) -> tuple[float, float]:
    """Inverse-variance weighted mean of independent estimates and its standard error."""
    v, s = np.asarray(values, float), np.asarray(ses, float)
    ok = np.isfinite(v) & np.isfinite(s) & (s > 0)
    if not ok.any():
        return float("nan"), float("nan")
    w = 1.0 / s[ok] ** 2
    return float(np.sum(w * v[ok]) / w.sum()), float(1.0 / np.sqrt(w.sum()))


def _pick_series(rents: pd.DataFrame, model: str, kind: str) -> pd.DataFrame:
    own = rents[rents["gpu_model"] == model]
    for k in (kind, "contract" if kind == "spot" else "spot"):
        part = own[own["kind"] == k]
        if len(part):
            return part.sort_values("date")
    return own.iloc[:0]


def calibrate_market(rents: pd.DataFrame, btc: pd.DataFrame | None = None, *,
                     launch_dates=None, kind="spot", min_points=10, n_boot=0,
                     seed=0, short="error") -> MarketFit:
    """Calibrate the whole market model from a market file's frames.

    Parameters
    ----------
    rents : DataFrame
        ``date, gpu_model, kind, rent`` (:attr:`MarketData.rents
        <gpucredit.tape.market_reader.MarketData>`).
    btc : DataFrame, optional
        ``date, price``; without it the BTC figures stay NaN.
    launch_dates : dict, optional
        GPU model -> successor volume dates. Default: the presets' successors
        (:attr:`gpucredit.presets.GpuPreset.successor_dates`) for models with a preset.
    kind : {"spot", "contract"}, default "spot"
        Which rent series of each model to fit (the other kind when a model has only it).
    min_points : int, default 10
        Fewest observations a series needs; shorter series are refused with their name.
    n_boot, seed : int
        Bootstrap of :func:`fit_rent_cycle` (0: maximum likelihood, Hessian errors).
    short : {"error", "skip"}, default "error"
        What to do with a series shorter than ``min_points``: refuse it (naming it), or
        leave it out with a note.

    Returns
    -------
    MarketFit

    Notes
    -----
    Each generation's series is fitted by :func:`fit_rent_cycle`; the Monte Carlo's
    single ``rent_kappa``, ``rent_sigma``, ``jump_size`` and the trend deflation pool the
    generations by inverse-variance weights, :math:`\\bar\\theta = \\sum w_g \\theta_g /
    \\sum w_g`, :math:`w_g = 1/\\text{se}_g^2`, with standard error
    :math:`1/\\sqrt{\\sum w_g}` - which treats the generations' estimates as independent
    and so understates the error when they move together (read ``corr``). ``rho`` is the
    BTC/rent correlation of the generation with the most dates in common with BTC.
    """
    fit = MarketFit()
    models = sorted(rents["gpu_model"].unique()) if len(rents) else []
    for m in models:
        part = _pick_series(rents, m, kind)
        if short == "skip" and len(part) < min_points:
            fit.notes.append(f"{m}: {len(part)} rent observations, fewer than {min_points}: "
                             f"left out")
            continue
        launches = _launches_for(m, launch_dates)
        fit.rent_fits[m] = fit_rent_cycle(part["date"], part["rent"], launch_dates=launches,
                                          name=f"{m} {part['kind'].iloc[0]} rent",
                                          min_points=min_points, n_boot=n_boot, seed=seed)
    _pool_rents(fit)
    _cross_generation(fit, rents, kind)
    if btc is not None and short == "skip" and 0 < len(btc) < min_points:
        fit.notes.append(f"BTC: {len(btc)} prices, fewer than {min_points}: left out")
        btc = None
    if btc is not None and len(btc):
        b = btc.sort_values("date")
        fit.btc = fit_btc(b["date"], b["price"], min_points=min_points)
        fit.btc_vol, fit.btc_vol_se = fit.btc.btc_vol, fit.btc.btc_vol_se
        fit.btc_drift, fit.btc_drift_se = fit.btc.btc_drift, fit.btc.btc_drift_se
        _btc_rent(fit, rents, b, kind)
    else:
        fit.notes.append("no BTC prices: btc_vol and rho keep the Monte Carlo's defaults")
    fit.basis = fit_basis(rents) if len(rents) else pd.DataFrame()
    return fit


def _launches_for(model: str, launch_dates) -> tuple:
    if launch_dates is not None:
        return tuple(launch_dates.get(model, ()))
    from gpucredit.presets import PRESETS

    preset = PRESETS.get(str(model).upper())
    return preset.successor_dates if preset is not None else ()


def _pool_rents(fit: MarketFit) -> None:
    fits = list(fit.rent_fits.values())
    if not fits:
        fit.notes.append("no rent series: the rent parameters keep the Monte Carlo's defaults")
        return
    for attr, se_attr, target in (("rent_kappa", "rent_kappa_se", "rent_kappa"),
                                  ("rent_sigma", "rent_sigma_se", "rent_sigma"),
                                  ("jump_size", "jump_se", "jump_size"),
                                  ("deflation", "deflation_se", "trend_deflation")):
        val, se = _pool([getattr(f, attr) for f in fits], [getattr(f, se_attr) for f in fits])
        setattr(fit, target, val)
        setattr(fit, f"{target}_se", se)
    if not np.isfinite(fit.jump_size):
        fit.notes.append("no successor launch falls inside any rent series: jump_size keeps "
                         "the Monte Carlo's default")
    if len(fits) > 1:
        fit.notes.append(f"rent_kappa, rent_sigma, jump_size and trend_deflation pool "
                         f"{len(fits)} generations by inverse-variance weights")


def _aligned(rents, fits, kind, a, b) -> pd.DataFrame:
    sa = _pick_series(rents, a, kind).set_index("date")["rent"]
    sb = _pick_series(rents, b, kind).set_index("date")["rent"]
    return pd.concat([sa.rename("a"), sb.rename("b")], axis=1, join="inner").sort_index()


def _cross_generation(fit: MarketFit, rents, kind) -> None:
    gens = tuple(fit.rent_fits)
    k = len(gens)
    fit.generations = gens
    fit.corr, fit.corr_se = np.eye(k), np.zeros((k, k))
    for i in range(k):
        for j in range(i + 1, k):
            fa, fb = fit.rent_fits[gens[i]], fit.rent_fits[gens[j]]
            both = _aligned(rents, fit.rent_fits, kind, gens[i], gens[j])
            r, se, n = innovation_correlation(
                both.index, np.log(both["a"]), np.log(both["b"]), kappa1=fa.rent_kappa,
                kappa2=fb.rent_kappa, mean1=np.log(fa.trend(both.index)),
                mean2=np.log(fb.trend(both.index)), sigma1=fa.rent_sigma,
                sigma2=fb.rent_sigma)
            fit.corr[i, j] = fit.corr[j, i] = r
            fit.corr_se[i, j] = fit.corr_se[j, i] = se
            if n < 4:
                fit.notes.append(f"{gens[i]} and {gens[j]} share {n + 1} dates: too few for "
                                 f"their correlation (NaN)")


def _btc_rent(fit: MarketFit, rents, btc, kind) -> None:
    b = btc.set_index("date")["price"]
    for m, f in fit.rent_fits.items():
        s = _pick_series(rents, m, kind).set_index("date")["rent"]
        both = pd.concat([s.rename("r"), b.rename("b")], axis=1, join="inner").sort_index()
        if len(both) < 2:
            fit.rho_by_model[m] = (float("nan"), float("nan"), 0)
            continue
        tb = _years(both.index, both.index[0])
        fit.rho_by_model[m] = innovation_correlation(
            both.index, np.log(both["r"]), np.log(both["b"]), kappa1=f.rent_kappa, kappa2=0.0,
            mean1=np.log(f.trend(both.index)), mean2=np.log(both["b"].iloc[0])
            + fit.btc_drift * tb, sigma1=f.rent_sigma, sigma2=fit.btc_vol)
    usable = {m: v for m, v in fit.rho_by_model.items() if np.isfinite(v[0])}
    if usable:
        ref = max(usable, key=lambda m: usable[m][2])
        fit.rho, fit.rho_se = usable[ref][0], usable[ref][1]
        fit.notes.append(f"rho is the BTC/rent correlation of {ref} ({usable[ref][2]} "
                         f"pairs of innovations)")
    else:
        fit.notes.append("no rent series shares 5 dates with BTC: rho keeps the Monte "
                         "Carlo's default")


# ----------------------------------------------------------------------------- fan

def simulate_rent_fan(fit: RentCycleFit, *, years=3.0, steps_per_year=12, n_paths=2000,
                      quantiles=(0.05, 0.25, 0.5, 0.75, 0.95), launch_dates=(), jump=None,
                      seed=0) -> pd.DataFrame:
    """Quantiles of simulated rents after the last observation: the fan of the report.

    Parameters
    ----------
    fit : RentCycleFit
    years : float, default 3
        Horizon after the last observed date.
    steps_per_year : int, default 12
    n_paths : int, default 2000
    quantiles : sequence of float
    launch_dates : sequence of dates
        Future successor launches (each multiplies the rent by ``1 - jump``).
    jump : float, optional
        Step at each launch; default the fitted ``jump_size`` (0 when NaN).
    seed : int, default 0

    Returns
    -------
    DataFrame
        Index ``date`` (step ends), a column per quantile (``q05`` ...) and ``trend``.

    Notes
    -----
    The cycle starts at its last fitted value :math:`x_T` and steps exactly,
    :math:`x_{k+1} = e^{-\\kappa h} x_k + \\sigma \\sqrt{(1 - e^{-2\\kappa h})/2\\kappa}\\,
    Z_k`; rent = trend :math:`\\times (1-J)^{\\text{launches passed}} \\times e^{x}`.
    """
    h = 1.0 / steps_per_year
    n = round(years * steps_per_year)
    dates = pd.DatetimeIndex([fit.last_date + pd.Timedelta(days=DAYS_PER_YEAR * h * (i + 1))
                              for i in range(n)])
    rng = np.random.default_rng(seed)
    phi, q = _ou_weights(fit.rent_kappa, np.array([h]))
    sd = fit.rent_sigma * np.sqrt(q[0] / (2 * fit.rent_kappa))
    x = np.empty((n_paths, n))
    prev = np.full(n_paths, fit.last_cycle)
    for i in range(n):
        prev = phi[0] * prev + sd * rng.standard_normal(n_paths)
        x[:, i] = prev
    j = fit.jump_size if jump is None else jump
    j = 0.0 if not np.isfinite(j) else j
    steps = (1 - j) ** _launches_passed(dates, fit.last_date, launch_dates)
    trend = fit.trend(dates) * steps
    paths = trend * np.exp(x)
    out = pd.DataFrame({f"q{round(100 * p):02d}": np.quantile(paths, p, axis=0)
                        for p in quantiles}, index=pd.Index(dates, name="date"))
    out["trend"] = trend
    return out
