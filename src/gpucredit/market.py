"""One market for the whole book: BTC and GPU-rent scenarios shared by every facility.

The market is simulated month by month, path by path, from the run's seed alone:

* the **BTC price**, a geometric Brownian motion stepped exactly (log-normal);
* one **rent index per GPU generation** (:data:`GENERATIONS`), each a multiplier on a
  facility's deterministic trend rent, ``exp(x_t) (1 - J)^{n_t}`` with ``x`` a
  mean-reverting Ornstein-Uhlenbeck cycle in log rent (stepped exactly) and a step down
  by ``J`` at each successor launch in ``jump_years``.

The monthly innovations of BTC and of the generations' cycles are jointly normal with
correlation ``rho`` between BTC and every rent index and ``generation_correlation``
between two rent indices; a Student-t copula divides a path's innovations, over the whole
horizon, by ONE ``sqrt(W / nu)``, so joint crashes persist over multi-period horizons.

Every facility of a book reads the same paths (:func:`market_block`): two facilities on
the same generation see identical markets, whatever chunk, worker or engine computes them.
Facilities paid quarterly or semi-annually read the same monthly market through
:func:`period_view`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from gpucredit._checks import check_periods_per_year, check_range
from gpucredit.errors import GpuCreditError

__all__ = [
    "BLOCK_PATHS",
    "GENERATIONS",
    "MarketBlock",
    "MarketModel",
    "generation_index",
    "market_block",
    "market_paths",
    "ou_path",
    "period_view",
]

BLOCK_PATHS = 1024
"""Paths drawn from one random stream. Changing it changes every simulated path."""

GENERATIONS = ("ampere", "hopper", "blackwell", "rubin")
"""GPU generations with a rent index of their own (A100: ampere; H100/H200: hopper;
B200/GB200: blackwell; the successor: rubin)."""

HORIZON_STEP_MONTHS = 60
"""The market is drawn to a multiple of this many months (draws are month-major, so the
first months of a path never depend on the horizon drawn)."""

# Years from a November 2026 valuation date at which successors reach volume: Rubin
# (late 2026 / early 2027, taken as 0.25) and then an annual cadence to ten years.
_DEFAULT_LAUNCHES = tuple(0.25 + k for k in range(10))


@dataclass(frozen=True)
class MarketModel:
    """Joint dynamics of the BTC price and the GPU rent indices.

    Every field is a calibration figure with a default; build a stressed model with
    :func:`dataclasses.replace`, e.g. ``replace(model, rho=0.6, copula="t")``.

    Parameters
    ----------
    btc_price0 : float, default 90,000
        BTC price today, USD, > 0. Illustrative (late 2026 order of magnitude): set it to
        the price on the valuation date.
    btc_drift : float, default 0.0
        Annual drift mu of BTC (continuously compounded, real-world). Zero: no view on
        the direction of BTC, the neutral choice for a credit stress.
    btc_vol : float, default 0.60
        Annual volatility sigma of BTC log returns, >= 0: 50-70% a year (realised 40-55%
        in calm years; see docs/sources.md).
    rent_kappa : float, default 1.5
        Mean reversion speed kappa of each log-rent cycle, per year, >= 0 (half-life
        ``ln 2 / kappa``, 5.5 months). Our estimate from the V-shaped H100 rent path
        (SemiAnalysis and trade press, docs/sources.md): the October 2025 trough ($1.70,
        about 30% in logs below a log-linear trend) had closed its gap five months later
        ($2.35 in March 2026); 1.5 is the more persistent, more conservative reading.
    rent_sigma : float, default 0.30
        Annual volatility sigma of each log-rent cycle, >= 0. Our estimate: the residuals
        of a log-linear trend through the H100 rents of 2024-2026 have a standard
        deviation of 0.16-0.21; the stationary ``sigma / sqrt(2 kappa)`` is 0.17.
    jump_years : tuple of float, default (0.25, 1.25, ..., 9.25)
        Years from today at which a successor generation reaches volume; every rent index
        steps down by ``jump_size`` at each. Use ``()`` when the facilities' base paths
        already carry the step-downs (the batch engine does).
    jump_size : float, default 0.25
        Share J of the rent lost at each launch, in [0, 1): 20-30% per successor launch.
    rho : float, default 0.3
        Correlation of the BTC innovation with every rent index's innovation, in [-1, 1].
        No published estimate exists: a stress input (0, 0.3, 0.6).
    generation_correlation : float, default 0.8
        Correlation c, in [0, 1], of two GPU generations' rent innovations beyond what
        they share through BTC (in all ``rho^2 + (1 - rho^2) c``, see
        :meth:`correlation`). Our assumption: the generations' rents are priced against
        each other (price per FLOP), so their cycles move together, not one for one.
    copula : {"gaussian", "t"}, default "gaussian"
        How the innovations are joined. The Student-t copula (one chi-square per path)
        has tail dependence (joint crashes), the Gaussian none.
    t_df : float, default 5.0
        Degrees of freedom nu of the t copula, > 2 (4-6 is the usual range).
    collateral_beta : float, default 1.0
        Elasticity of the GPU collateral value to the rent shock, >= 0: collateral moves
        with ``rent_shock ** collateral_beta``. 1 (values track rents) is our assumption.
    customer_correlation : float, default 0.18
        Asset correlation of a contract customer's (and a backstop's) default with the
        systematic factor of its GPU generation's market, in [0, 1). Basel II's corporate
        IRB correlation runs from 0.12 (low-PD) to 0.24 (BCBS, "International Convergence
        of Capital Measurement", June 2006, para. 272); 0.18 is its midpoint.

    Examples
    --------
    >>> from dataclasses import replace
    >>> base = MarketModel()
    >>> base.rho, base.copula, base.jump_years[:3]
    (0.3, 'gaussian', (0.25, 1.25, 2.25))
    >>> replace(base, rho=0.6, copula="t").t_df
    5.0
    >>> MarketModel(rho=1.5)
    Traceback (most recent call last):
    ...
    gpucredit.errors.GpuCreditError: rho must be between -1 and 1, got 1.5
    """

    btc_price0: float = 90_000.0
    btc_drift: float = 0.0
    btc_vol: float = 0.60
    rent_kappa: float = 1.5
    rent_sigma: float = 0.30
    jump_years: tuple[float, ...] = _DEFAULT_LAUNCHES
    jump_size: float = 0.25
    rho: float = 0.3
    copula: str = "gaussian"
    t_df: float = 5.0
    collateral_beta: float = 1.0
    generation_correlation: float = 0.8
    customer_correlation: float = 0.18

    def __post_init__(self) -> None:
        checks = {
            "btc_price0": dict(low=0, low_open=True),
            "btc_drift": {},
            "btc_vol": dict(low=0),
            "rent_kappa": dict(low=0),
            "rent_sigma": dict(low=0),
            "jump_size": dict(low=0, high=1, high_open=True),
            "rho": dict(low=-1, high=1),
            "t_df": dict(low=2, low_open=True),
            "collateral_beta": dict(low=0),
            "generation_correlation": dict(low=0, high=1),
            "customer_correlation": dict(low=0, high=1, high_open=True),
        }
        for name, bounds in checks.items():
            object.__setattr__(self, name, _scalar(getattr(self, name), name, **bounds))
        if self.copula not in ("gaussian", "t"):
            raise GpuCreditError(f"copula must be 'gaussian' or 't', got {self.copula!r}",
                                 argument="copula", value=self.copula)
        years = np.atleast_1d(check_range(self.jump_years, "jump_years"))
        if years.ndim != 1:
            raise GpuCreditError(
                f"jump_years must be a list of years, got an array of shape {years.shape}",
                argument="jump_years", value=self.jump_years)
        object.__setattr__(self, "jump_years", tuple(float(y) for y in np.sort(years)))

    @property
    def rent_stationary_sd(self) -> float:
        """Stationary standard deviation of the log-rent cycle, ``sigma / sqrt(2 kappa)``.

        Infinite for ``rent_kappa = 0`` (a random walk has no stationary law).

        >>> round(MarketModel(rent_kappa=1.5, rent_sigma=0.30).rent_stationary_sd, 4)
        0.1732
        """
        if self.rent_kappa == 0:
            return math.inf if self.rent_sigma > 0 else 0.0
        return self.rent_sigma / math.sqrt(2.0 * self.rent_kappa)

    def loadings(self) -> np.ndarray:
        """Loadings ``L`` (G + 1, G + 2) of the innovations on independent normals.

        BTC is ``Z_b``; generation g is
        ``rho Z_b + sqrt(1 - rho^2) (sqrt(c) Z_m + sqrt(1 - c) Z_g)``, with ``Z_m`` a
        rent factor common to every generation and c ``generation_correlation``.
        """
        g = len(GENERATIONS)
        c, r = self.generation_correlation, self.rho
        rest = math.sqrt(1.0 - r * r)
        out = np.zeros((g + 1, g + 2))
        out[0, 0] = 1.0
        out[1:, 0] = r
        out[1:, 1] = rest * math.sqrt(c)
        out[1:, 2:] = rest * math.sqrt(1.0 - c) * np.eye(g)
        return out

    def correlation(self) -> np.ndarray:
        """Correlation matrix of the monthly innovations: BTC, then each generation.

        Two generations correlate at ``rho^2 + (1 - rho^2) c``: through BTC and through
        the rent factor they share.

        >>> MarketModel(rho=0.3, generation_correlation=0.8).correlation()[:3, :3].round(3)
        array([[1.   , 0.3  , 0.3  ],
               [0.3  , 1.   , 0.818],
               [0.3  , 0.818, 1.   ]])
        """
        load = self.loadings()
        return load @ load.T


def _scalar(x, name: str, **bounds) -> float:
    if isinstance(x, bool):
        raise GpuCreditError(f"{name} must be a number, got {x!r}", argument=name, value=x)
    arr = check_range(x, name, **bounds)
    if arr.ndim != 0:
        raise GpuCreditError(f"{name} must be a single number, got an array of shape "
                             f"{arr.shape}", argument=name, value=x)
    return float(arr)


def generation_index(generations) -> np.ndarray:
    """Index into :data:`GENERATIONS` of each name (case-insensitive), shape (F,).

    >>> generation_index(["Hopper", "blackwell"])
    array([1, 2])
    """
    names = [generations] if isinstance(generations, str) else list(generations)
    out = []
    for pos, g in enumerate(names):
        key = str(g).strip().lower()
        if key not in GENERATIONS:
            raise GpuCreditError(
                f"generation must be one of {', '.join(GENERATIONS)}, got {g!r} (facility "
                f"{pos + 1})", argument="generation", value=g)
        out.append(GENERATIONS.index(key))
    return np.asarray(out, dtype=np.intp)


# --------------------------------------------------------------------------- drawing


def _generator(seed: int, block: int, stream: int) -> np.random.Generator:
    ss = np.random.SeedSequence([seed], spawn_key=(block, stream))
    return np.random.Generator(np.random.PCG64(ss))


def _launch_factor(model: MarketModel, n_months: int) -> np.ndarray:
    """``(1 - J)^{n_t}``: ``n_t`` launches ``s`` with ``0 < s <= t / 12``, shape (H,)."""
    starts = np.arange(n_months, dtype=float) / 12.0
    launches = np.asarray([s for s in model.jump_years if s > 0], dtype=float)
    passed = (starts[:, None] >= launches[None, :]).sum(axis=1)
    return (1.0 - model.jump_size) ** passed


def _ou_coefficients(kappa: float, sigma: float, dt: float) -> tuple[float, float]:
    """Exact OU step ``x' = a x + b eps``: ``a = e^{-kappa dt}``,
    ``b = sigma sqrt((1 - e^{-2 kappa dt}) / (2 kappa))`` (``sigma sqrt(dt)`` at kappa 0)."""
    if kappa == 0:
        return 1.0, sigma * math.sqrt(dt)
    return math.exp(-kappa * dt), sigma * math.sqrt(-math.expm1(-2.0 * kappa * dt) / (2 * kappa))


def ou_path(eps: np.ndarray, a: float, b: float, axis: int = -1) -> np.ndarray:
    """The OU recursion ``x_t = a x_{t-1} + b eps_t`` from ``x_0 = 0`` along ``axis``.

    A loop over the periods, each one array operation across the paths: the same
    arithmetic, bit for bit, as ``scipy.signal.lfilter([b], [1, -a], eps, axis)`` (whose
    import costs about 0.9 s, scipy.stats included), which this replaced.
    """
    e = np.moveaxis(eps, axis, 0)
    x = np.empty(e.shape)
    x[0] = b * e[0]
    for t in range(1, e.shape[0]):
        np.multiply(x[t - 1], a, out=x[t])
        x[t] += b * e[t]
    return np.moveaxis(x, 0, axis)


def _t_to_normal(v: np.ndarray, df: float) -> np.ndarray:
    """``Phi^-1(F_t(v))`` on the lower tail ``-|v|``, sign restored (keeps both tails)."""
    out = special.ndtri(special.stdtr(df, -np.abs(v)))
    return np.copysign(out, v)


@dataclass(frozen=True, eq=False)
class MarketBlock:
    """The market of one block of paths, monthly, read-only.

    Attributes
    ----------
    btc_ratio : ndarray (P, H)
        BTC price at each month end over ``btc_price0``.
    rent_shock : ndarray (G, P, H)
        Each generation's rent multiplier at each month end.
    factor : ndarray (G, P, H)
        Standard-normal systematic factor of each generation at each month end: the
        standardised sum of the generation's innovations from today to that month (in
        the t copula, mapped to a normal through the path's chi-square).
    """

    btc_ratio: np.ndarray
    rent_shock: np.ndarray
    factor: np.ndarray


def _correlate(z: np.ndarray, load: np.ndarray) -> np.ndarray:
    """``z @ load.T`` term by term in a fixed order (a BLAS product may sum differently
    for different horizons; these bits must not depend on the horizon drawn)."""
    out = np.zeros((*z.shape[:-1], load.shape[0]))
    for i in range(load.shape[0]):
        for j in range(load.shape[1]):
            if load[i, j] != 0.0:
                out[..., i] += load[i, j] * z[..., j]
    return out


def _draw_block(model: MarketModel, seed: int, block: int, n_months: int) -> MarketBlock:
    g = len(GENERATIONS)
    # Month-major: the first months of a path are the same whatever horizon is drawn.
    z = _generator(seed, block, 0).standard_normal((n_months, BLOCK_PATHS, g + 2))
    z = _correlate(np.ascontiguousarray(z.transpose(1, 0, 2)), model.loadings())
    months = np.arange(1, n_months + 1, dtype=float)
    cum = np.cumsum(z[..., 1:], axis=1) / np.sqrt(months)[None, :, None]
    if model.copula == "t":
        w = 2.0 * _generator(seed, block, 1).standard_gamma(model.t_df / 2.0, BLOCK_PATHS)
        scale = np.sqrt(model.t_df / w)[:, None, None]  # one chi-square per path
        z = _t_to_normal(z * scale, model.t_df)
        cum = _t_to_normal(cum * scale, model.t_df)
    dt = 1.0 / 12.0
    lb = np.cumsum(z[..., 0] * (model.btc_vol * math.sqrt(dt))
                   + (model.btc_drift - 0.5 * model.btc_vol ** 2) * dt, axis=1)
    a, b = _ou_coefficients(model.rent_kappa, model.rent_sigma, dt)
    x = ou_path(z[..., 1:], a, b, axis=1)  # (P, H, G)
    shock = np.exp(x) * _launch_factor(model, n_months)[None, :, None]
    arrays = (np.exp(lb), np.ascontiguousarray(shock.transpose(2, 0, 1)),
              np.ascontiguousarray(cum.transpose(2, 0, 1)))
    for arr in arrays:
        arr.flags.writeable = False
    return MarketBlock(*arrays)


@functools.lru_cache(maxsize=4)
def _cached_block(model: MarketModel, seed: int, block: int, n_months: int) -> MarketBlock:
    return _draw_block(model, seed, block, n_months)


def market_block(model: MarketModel, seed: int, block: int, n_months: int) -> MarketBlock:
    """The market of paths ``1024 block .. 1024 block + 1023`` over at least ``n_months``.

    Drawn from ``SeedSequence([seed], spawn_key=(block, 0))`` (normals, month-major) and
    ``spawn_key=(block, 1)`` (the t copula's chi-square, one per path): the seed alone
    fixes it. The horizon is rounded up to :data:`HORIZON_STEP_MONTHS` and the last
    blocks drawn are cached, so the facilities of a chunk share one draw.
    """
    months = max(1, math.ceil(n_months / HORIZON_STEP_MONTHS)) * HORIZON_STEP_MONTHS
    return _cached_block(model, int(seed), int(block), months)


def period_view(block: MarketBlock, periods_per_year: int, n_periods: int):
    """The monthly market on a facility's payment grid.

    Returns ``(btc_mean, btc_end, shock_mean, shock_end, factor_end)``: BTC ratio ``(P, T)``
    and rent shock ``(G, P, T)`` averaged over the months of each period (what revenue
    earns: a quarter's rent is the mean of its three monthly rents) and at the period's
    last month (what a value at the period end sees: collateral, treasury), and the
    systematic factor at period end ``(G, P, T)``. Monthly facilities read the months.
    """
    m = check_periods_per_year(periods_per_year)
    k = 12 // m
    h = n_periods * k
    btc, shock, factor = block.btc_ratio[:, :h], block.rent_shock[:, :, :h], block.factor
    if k == 1:
        return btc, btc, shock, shock, factor[:, :, :h]
    btc_mean = btc.reshape(btc.shape[0], n_periods, k).mean(axis=-1)
    shock_mean = shock.reshape(*shock.shape[:2], n_periods, k).mean(axis=-1)
    return (btc_mean, btc[:, k - 1::k], shock_mean, shock[:, :, k - 1::k],
            factor[:, :, k - 1:h:k])


def market_paths(model: MarketModel | None, n_paths: int, n_periods: int,
                 periods_per_year: int = 12, seed: int = 0, generation: str = "hopper"
                 ) -> tuple[np.ndarray, np.ndarray]:
    """BTC prices and one generation's rent shocks at period ends, shape (P, T) each.

    The paths every facility on ``generation`` reads in a run with ``seed`` (revenue
    reads the period means, :func:`period_view`).

    Examples
    --------
    >>> a, _ = market_paths(None, 3, 12, seed=7)
    >>> b, _ = market_paths(None, 2000, 24, seed=7)
    >>> bool((a == b[:3, :12]).all())
    True
    """
    model = model if model is not None else MarketModel()
    g = int(generation_index([generation])[0])
    btc, shock = [], []
    for block in range(math.ceil(n_paths / BLOCK_PATHS)):
        view = period_view(market_block(model, seed, block, n_periods * 12 //
                                        periods_per_year), periods_per_year, n_periods)
        btc.append(view[1])
        shock.append(view[3][g])
    return (np.concatenate(btc)[:n_paths] * model.btc_price0,
            np.concatenate(shock)[:n_paths])
