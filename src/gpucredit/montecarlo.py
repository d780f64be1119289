"""Correlated BTC / GPU-rent Monte Carlo and the credit metrics of facilities under it.

Two market drivers are simulated month by month (or quarter by quarter) over a loan's
life (DOMAIN.md, "Correlated stress"):

* the **BTC price**, a geometric Brownian motion, stepped exactly (log-normal);
* the **GPU rent shock**, a multiplier on each facility's deterministic trend rent path:
  ``exp(x_t) (1 - J)^{n_t}``, with ``x`` a mean-reverting Ornstein-Uhlenbeck cycle in log
  rent (stepped exactly) and a step down by ``J`` at each successor-generation launch.

The two per-period innovations are joined by a Gaussian or a Student-t copula with
correlation ``rho``; positive ``rho`` means BTC and rents fall together.

:func:`simulate` runs every facility of a :class:`FacilityExposure` through the drivers
and returns, per facility, the probability that DSCR falls below 1 or below the covenant,
that LTV exceeds 100%, PD, LGD, expected loss and CVaR of the loss, and quantiles of the
minimum DSCR.

Reproducibility: each facility draws from its own random streams, derived from
``(seed, facility id)`` only, in fixed blocks of :data:`BLOCK_PATHS` paths. A facility's
results therefore never depend on the order of the facilities, on which other facilities
are in the batch, on ``chunk_paths`` or on ``max_bytes``; and the first ``n`` paths of a
run with more paths are the paths of a run with ``n``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special
from scipy.signal import lfilter

from gpucredit._checks import check_periods_per_year, check_range, check_same_periods
from gpucredit.errors import GpuCreditError

__all__ = [
    "BLOCK_PATHS",
    "FacilityExposure",
    "MarketModel",
    "facility_drivers",
    "gbm_prob_below",
    "simulate",
    "simulate_drivers",
]

BLOCK_PATHS = 1024
"""Paths drawn from one random stream. Changing it changes every simulated path."""

# Working memory of one pass, bytes per (facility, path, period) cell: the two innovation
# arrays (16), the rent shock (8), two scratch arrays (16) and boolean masks; tracemalloc
# measures about 41 in bench_montecarlo.py, for either copula. A margin on top.
_BYTES_PER_CELL = 48

# Years from a November 2026 valuation date at which successors reach volume: Rubin
# (late 2026 / early 2027, taken as 0.25) and then an annual cadence to ten years.
_DEFAULT_LAUNCHES = tuple(0.25 + k for k in range(10))


# --------------------------------------------------------------------------- the market


@dataclass(frozen=True)
class MarketModel:
    """Joint dynamics of the BTC price and the GPU rent cycle.

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
        Annual volatility sigma of BTC log returns, >= 0. DOMAIN.md: 50-70% (realised
        40-55% in calm years, spikes to 70-80%).
    rent_kappa : float, default 1.5
        Mean reversion speed kappa of the log-rent cycle, per year, >= 0 (half-life
        ``ln 2 / kappa``, 5.5 months). Our estimate from the V-shaped H100 path in
        DOMAIN.md (SemiAnalysis and trade press): the October 2025 trough ($1.70, about
        30% in logs below a log-linear trend through the points listed under
        ``rent_sigma``) had closed its gap five months later ($2.35 in March 2026).
        Those few points allow even faster reversion; 1.5 is the more persistent, more
        conservative choice. 0 makes the cycle a random walk.
    rent_sigma : float, default 0.30
        Annual volatility sigma of the log-rent cycle, >= 0. Our estimate: a log-linear
        trend through the H100 rents of DOMAIN.md (early 2024 $2.85, Oct 2024 $2.99,
        Oct 2025 $1.70, Mar 2026 $2.35, mid-2026 $2.42) leaves residuals with a standard
        deviation of 0.16-0.21; the stationary standard deviation
        ``sigma / sqrt(2 kappa)`` is 0.17 with these defaults.
    jump_years : tuple of float, default (0.25, 1.25, ..., 9.25)
        Years from today at which a successor GPU generation reaches volume: Rubin late
        2026 (0.25 years from a November 2026 valuation date, our reading) and then
        DOMAIN.md's annual cadence. Launches at or before 0 are ignored (already in
        today's rent). Use ``()`` when the facilities' base paths already carry the
        generation step-downs (e.g. built with :func:`gpucredit.rents.generation_jumps`).
        With the default cadence the launches alone take 25% a year off rents, so the
        base trend should then hold only the drift within a generation: H100 rents in
        DOMAIN.md fell about 12% a year all-in from early 2024 to mid-2026 (log-linear
        fit), launches included.
    jump_size : float, default 0.25
        Share J of the rent (and collateral value) lost at each launch, in [0, 1).
        DOMAIN.md: 20-30% per successor launch.
    rho : float, default 0.3
        Correlation of the two innovations, in [-1, 1]. No published estimate exists;
        DOMAIN.md treats it as a stress input: 0, 0.3, 0.6.
    copula : {"gaussian", "t"}, default "gaussian"
        How the innovations are joined. The Student-t copula has tail dependence (joint
        crashes), the Gaussian none.
    t_df : float, default 5.0
        Degrees of freedom nu of the t copula, > 2. DOMAIN.md: nu 4-6.
    collateral_beta : float, default 1.0
        Elasticity of the GPU collateral value to the rent shock, >= 0: collateral moves
        with ``rent_shock ** collateral_beta``. 1 (values track rents) is our assumption.

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


def _scalar(x, name: str, **bounds) -> float:
    if isinstance(x, bool):
        raise GpuCreditError(f"{name} must be a number, got {x!r}", argument=name, value=x)
    arr = check_range(x, name, **bounds)
    if arr.ndim != 0:
        raise GpuCreditError(f"{name} must be a single number, got an array of shape "
                             f"{arr.shape}", argument=name, value=x)
    return float(arr)


def _count(x, name: str, low: int = 1) -> int:
    if isinstance(x, bool) or not isinstance(x, int | np.integer) or x < low:
        raise GpuCreditError(f"{name} must be a whole number >= {low}, got {x!r}",
                             argument=name, value=x)
    return int(x)


def _launch_factor(model: MarketModel, n_periods: int, periods_per_year: int) -> np.ndarray:
    """``(1 - J)^{n_t}``, ``n_t`` = launches ``s`` with ``0 < s <= (t - 1) / m``, shape (T,).

    A launch at ``s`` hits every period that starts at or after ``s``, the timing of
    :func:`gpucredit.rents.generation_jumps`.
    """
    starts = np.arange(n_periods, dtype=float) / periods_per_year
    launches = np.asarray([s for s in model.jump_years if s > 0], dtype=float)
    passed = (starts[:, None] >= launches[None, :]).sum(axis=1)
    return (1.0 - model.jump_size) ** passed


def _ou_coefficients(kappa: float, sigma: float, dt: float) -> tuple[float, float]:
    """Exact OU step ``x' = a x + b eps``: ``a = e^{-kappa dt}``,
    ``b = sigma sqrt((1 - e^{-2 kappa dt}) / (2 kappa))`` (``sigma sqrt(dt)`` at kappa 0)."""
    if kappa == 0:
        return 1.0, sigma * math.sqrt(dt)
    return math.exp(-kappa * dt), sigma * math.sqrt(-math.expm1(-2.0 * kappa * dt) / (2 * kappa))


def _t_to_normal(v: np.ndarray, df: float, scratch: np.ndarray) -> None:
    """Map Student-t(df) values to standard normals in place: ``Phi^-1(F_t(v))``.

    Works on the lower tail ``-|v|`` and restores the sign, so that both tails keep full
    precision (``F_t`` near 1 would round to 1).
    """
    np.abs(v, out=scratch)
    np.negative(scratch, out=scratch)
    special.stdtr(df, scratch, out=scratch)
    special.ndtri(scratch, out=scratch)
    np.copysign(scratch, v, out=v)


def _drivers_inplace(z: np.ndarray, w: np.ndarray | None, scratch: np.ndarray,
                     model: MarketModel, periods_per_year: int,
                     launch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Turn standard normals into driver paths.

    ``z`` is ``(..., 2, T)`` independent standard normals (overwritten), ``w`` is
    ``(..., T)`` chi-square(nu) draws for the t copula (overwritten) or None, ``scratch``
    is ``(..., T)`` working space. Returns ``(btc / btc_price0, rent_shock)``, both
    ``(..., T)``; the first is a view into ``z``.
    """
    dt = 1.0 / periods_per_year
    zb = z[..., 0, :]
    zr = z[..., 1, :]
    rho = model.rho
    # Cholesky: eps_rent = rho eps_btc + sqrt(1 - rho^2) z2, computed in place.
    zr *= math.sqrt(1.0 - rho * rho)
    if rho != 0:
        np.multiply(zb, rho, out=scratch)
        zr += scratch
    if model.copula == "t":
        # (Z1, Z2) / sqrt(W / nu) is bivariate t with the same correlation matrix; one
        # W per path and period is shared by both drivers (the source of tail dependence).
        np.divide(model.t_df, w, out=w)
        np.sqrt(w, out=w)
        zb *= w
        zr *= w
        _t_to_normal(zb, model.t_df, scratch)
        _t_to_normal(zr, model.t_df, scratch)
    # BTC: exact GBM, log S_t = log S_0 + sum((mu - sigma^2/2) dt + sigma sqrt(dt) eps).
    zb *= model.btc_vol * math.sqrt(dt)
    zb += (model.btc_drift - 0.5 * model.btc_vol ** 2) * dt
    np.cumsum(zb, axis=-1, out=zb)
    np.exp(zb, out=zb)
    # Rent cycle: exact OU recursion x_t = a x_{t-1} + b eps_t, x_0 = 0, as a linear filter.
    a, b = _ou_coefficients(model.rent_kappa, model.rent_sigma, dt)
    shock = lfilter([b], [1.0, -a], zr, axis=-1)
    np.exp(shock, out=shock)
    shock *= launch
    return zb, shock


def _check_model(model) -> MarketModel:
    if model is None:
        return MarketModel()
    if not isinstance(model, MarketModel):
        raise GpuCreditError(f"model must be a MarketModel, got {type(model).__name__}",
                             argument="model", value=model)
    return model


def simulate_drivers(model: MarketModel | None, n_paths: int, n_periods: int,
                     periods_per_year: int = 12,
                     rng: np.random.Generator | int | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Simulate BTC prices and GPU rent shocks at period ends.

    Parameters
    ----------
    model : MarketModel or None
        The joint dynamics; None uses ``MarketModel()``.
    n_paths : int
        Number of paths P, >= 1.
    n_periods : int
        Number of periods T, >= 1.
    periods_per_year : int, default 12
        Periods a year m: 1, 2, 4 or 12.
    rng : numpy.random.Generator, int or None
        Source of randomness (an int or None seeds ``numpy.random.default_rng``). It
        draws ``(P, 2, T)`` standard normals, then, for the t copula, ``(P, T)``
        chi-square values. :func:`simulate` uses per-facility streams instead (see
        :func:`facility_drivers`).

    Returns
    -------
    btc : ndarray, shape (P, T)
        BTC price at the end of each period, USD.
    rent_shock : ndarray, shape (P, T)
        Multiplier on a facility's deterministic trend rent in each period.

    Notes
    -----
    With ``dt = 1/m`` and innovations :math:`\\varepsilon^b_t, \\varepsilon^r_t`
    standard normal, independent over time:

    .. math::

        S_t &= S_{t-1} \\exp\\big((\\mu - \\sigma_b^2/2)\\,dt
               + \\sigma_b \\sqrt{dt}\\,\\varepsilon^b_t\\big), \\qquad S_0 = \\text{btc\\_price0}

        x_t &= x_{t-1} e^{-\\kappa\\,dt}
               + \\sigma_r \\sqrt{\\frac{1 - e^{-2\\kappa\\,dt}}{2\\kappa}}\\,\\varepsilon^r_t,
               \\qquad x_0 = 0

        \\text{rent\\_shock}_t &= e^{x_t}\\,(1 - J)^{n_t}

    Both steps are exact discretisations (no Euler error at any ``dt``). ``n_t`` counts
    the launches in ``jump_years`` at or before the start of period t (the timing of
    :func:`gpucredit.rents.generation_jumps`). A facility's log rent is then
    ``log(trend_t) + x_t + n_t log(1 - J)``: DOMAIN.md's trend + mean-reverting cycle
    + jumps, with the trend deflation kept in the facility's own base path.

    Dependence: :math:`\\varepsilon^r = \\rho\\,Z_1 + \\sqrt{1-\\rho^2}\\,Z_2`,
    :math:`\\varepsilon^b = Z_1` (Gaussian copula). For the t copula the pair is divided
    by :math:`\\sqrt{W/\\nu}`, one :math:`W \\sim \\chi^2_\\nu` per path and period, and
    each coordinate mapped back to a normal margin,
    :math:`\\Phi^{-1}(F_{t,\\nu}(\\cdot))` (``scipy.special.stdtr`` and ``ndtri``): the
    margins stay exactly normal, so BTC stays log-normal, while joint extremes become
    more frequent.

    References
    ----------
    P. Glasserman, *Monte Carlo Methods in Financial Engineering*, Springer, 2004,
    ch. 3 (exact simulation of GBM and of the Ornstein-Uhlenbeck process).
    S. Demarta and A. J. McNeil, "The t copula and related copulas", *International
    Statistical Review* 73(1), 2005.

    Examples
    --------
    >>> btc, shock = simulate_drivers(MarketModel(btc_vol=0.0, btc_drift=0.1,
    ...                               rent_sigma=0.0, jump_years=(0.5,)), 2, 4, 4, rng=1)
    >>> btc[0].round(0)                     # 90,000 e^(0.1 t), t = 0.25 .. 1
    array([92278., 94614., 97010., 99465.])
    >>> shock[1]
    array([1.  , 1.  , 0.75, 0.75])
    """
    model = _check_model(model)
    n = _count(n_paths, "n_paths")
    t = _count(n_periods, "n_periods")
    m = check_periods_per_year(periods_per_year)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    z = gen.standard_normal((n, 2, t))
    w = None
    if model.copula == "t":
        w = gen.standard_gamma(model.t_df / 2.0, size=(n, t))
        w *= 2.0
    ratio, shock = _drivers_inplace(z, w, np.empty((n, t)), model, m,
                                    _launch_factor(model, t, m))
    return ratio * model.btc_price0, shock


# --------------------------------------------------------------------------- the streams


def _stable_hash(facility_id: str) -> int:
    """A 64-bit hash of the id that is the same in every process (unlike ``hash()``)."""
    digest = hashlib.blake2b(facility_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def _block_generator(seed: int, key: int, block: int, stream: int) -> np.random.Generator:
    # spawn_key=(block, stream) is what SeedSequence([seed, key]).spawn() would give
    # child `block`, reached directly instead of by spawning all earlier children.
    ss = np.random.SeedSequence([seed, key], spawn_key=(block, stream))
    return np.random.Generator(np.random.PCG64(ss))


def _fill_draws(z: np.ndarray, w: np.ndarray | None, seed: int, key: int, p0: int,
                t_df: float) -> None:
    """Fill one facility's draws for paths ``p0 .. p0 + len(z)`` (``p0`` block-aligned).

    Normals come from stream 0 of each block and chi-square draws from stream 1, so a
    block's first n paths are the same whatever n is. Each stream is drawn period by
    period, a whole block of paths at a time (period-major), so the draws of the first
    periods are the same however many periods follow: a facility's paths do not depend
    on the horizon of the batch it is simulated in.
    """
    n, n_t = z.shape[0], z.shape[-1]
    for start in range(0, n, BLOCK_PATHS):
        stop = min(n, start + BLOCK_PATHS)
        block = (p0 + start) // BLOCK_PATHS
        normals = _block_generator(seed, key, block, 0).standard_normal(
            (n_t, BLOCK_PATHS, 2))
        z[start:stop] = normals[:, :stop - start].transpose(1, 2, 0)
        if w is not None:
            chi = _block_generator(seed, key, block, 1).standard_gamma(
                t_df / 2.0, size=(n_t, BLOCK_PATHS))
            w[start:stop] = 2.0 * chi[:, :stop - start].T


def _check_seed(seed) -> int:
    return _count(seed, "seed", low=0)


def facility_drivers(model: MarketModel | None, facility_id: str, n_paths: int,
                     n_periods: int, periods_per_year: int = 12, seed: int = 0
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The BTC and rent-shock paths :func:`simulate` uses for one facility.

    Parameters
    ----------
    model : MarketModel or None
        The joint dynamics; None uses ``MarketModel()``.
    facility_id : str
        The facility's id; with ``seed`` it fixes the random streams.
    n_paths, n_periods : int
        Paths P and periods T, each >= 1.
    periods_per_year : int, default 12
        Periods a year m: 1, 2, 4 or 12.
    seed : int, default 0
        Non-negative seed of the run.

    Returns
    -------
    btc, rent_shock : ndarray, shape (P, T)
        As :func:`simulate_drivers`.

    Notes
    -----
    Block ``b`` (paths ``1024 b .. 1024 b + 1023``) draws its normals from
    ``SeedSequence([seed, h], spawn_key=(b, 0))`` and its t-copula chi-square values from
    ``spawn_key=(b, 1)``, where ``h`` is a 64-bit BLAKE2b hash of the facility id.

    Examples
    --------
    >>> a, _ = facility_drivers(None, "FAC-1", 3, 12, seed=7)
    >>> b, _ = facility_drivers(None, "FAC-1", 2000, 12, seed=7)
    >>> bool((a == b[:3]).all())
    True
    """
    model = _check_model(model)
    n = _count(n_paths, "n_paths")
    t = _count(n_periods, "n_periods")
    m = check_periods_per_year(periods_per_year)
    seed = _check_seed(seed)
    z = np.empty((n, 2, t))
    w = np.empty((n, t)) if model.copula == "t" else None
    _fill_draws(z, w, seed, _stable_hash(str(facility_id)), 0, model.t_df)
    ratio, shock = _drivers_inplace(z, w, np.empty((n, t)), model, m,
                                    _launch_factor(model, t, m))
    return ratio * model.btc_price0, shock


# --------------------------------------------------------------------------- the exposures


def _table(x, name: str, n_fac: int, low=None) -> np.ndarray:
    arr = check_range(x, name, low)
    if arr.ndim == 0:
        arr = arr[None, None]
    elif arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise GpuCreditError(f"{name} must be a series (periods) or a table (facilities x "
                             f"periods), got an array of shape {arr.shape}",
                             argument=name, value=arr.shape)
    if arr.shape[0] not in (1, n_fac):
        raise GpuCreditError(f"{name} has {arr.shape[0]} facility rows but facility_ids "
                             f"has {n_fac}", argument=name, value=arr.shape)
    return arr


def _per_facility(x, name: str, n_fac: int, low=None, high=None, **kw) -> np.ndarray:
    arr = check_range(x, name, low, high, **kw)
    if arr.ndim == 0:
        arr = np.full(n_fac, float(arr))
    if arr.ndim != 1 or arr.shape[0] != n_fac:
        raise GpuCreditError(f"{name} must be a single value or one value per facility "
                             f"({n_fac}), got an array of shape {arr.shape}",
                             argument=name, value=arr.shape)
    return arr


_SERIES = ("merchant_revenue", "other_cfads", "mining_cfads", "debt_service",
           "debt_outstanding", "collateral_value")


@dataclass(frozen=True, eq=False, kw_only=True)
class FacilityExposure:
    """What each facility earns, owes and pledges along its deterministic base case.

    All arguments are keywords. Period series are ``(T,)`` (shared by every facility) or
    ``(F, T)``; facility parameters are scalars or ``(F,)``. Arrays are stored as
    read-only float arrays of shape ``(F, T)`` and ``(F,)``.

    Parameters
    ----------
    facility_ids : str or sequence of str
        Unique ids, one per facility; they index the results and, with the seed, fix
        each facility's random streams.
    merchant_revenue : array_like
        Merchant revenue along the deterministic trend rent path, USD per period, >= 0.
        Scales with the rent shock.
    debt_service : array_like
        Scheduled interest + principal, USD per period, >= 0. A period without debt
        service has no DSCR.
    debt_outstanding : array_like
        Amount owed if the facility defaults in the period (balance plus accrued
        interest), USD, >= 0. The exposure at default and the LTV numerator.
    collateral_value : array_like
        Market value of the GPU collateral along the base case, USD, >= 0. Scales with
        ``rent_shock ** collateral_beta``. Leave generation step-downs out of it when the
        model's ``jump_years`` are set (they would be counted twice).
    liquidation_factor : float or array_like
        ``1 - liquidation haircut``, in [0, 1]: the share of the GPU collateral's market
        value recovered in a forced sale (from :mod:`gpucredit.collateral`).
    other_cfads : array_like, default 0
        Contracted revenue minus every cash cost (opex, power, maintenance capex, tax,
        including the mining leg's costs), USD per period; any sign. Does not move.
    mining_cfads : array_like, default 0
        Mining revenue at today's BTC price (hashprice x hashrate), USD per period, >= 0.
        Scales with ``btc / btc_price0``; its costs belong in ``other_cfads``.
    btc_held : float or array_like, default 0
        BTC held in treasury (pledged), >= 0; valued at the simulated price.
    covenant_dscr : float or array_like, default 1.20
        DSCR covenant (lock-up) level, > 0. DOMAIN.md: lock-up typically 1.10-1.25x.
    balloon_period : int or array_like of int, default -1
        0-based period of a balloon (bullet) repayment that the borrower must refinance,
        or -1 for none. Its principal is left out of ``debt_service``; at that period the
        facility defaults when it cannot refinance: the debt outstanding exceeds the GPU
        collateral plus treasury along the path (LTV above 100%).
    crypto_haircut : float or array_like, default 0.20
        Haircut on the treasury's value when it is sold at default, in [0, 1].
        DOMAIN.md's value-at-risk haircut ``1 - exp(-z sigma sqrt(h/365))`` at 99%, 60%
        volatility and a 10-day horizon is 20.6% (``gpucredit.collateral.crypto_haircut
        (0.60, 10)``); rounded.

    Examples
    --------
    >>> ex = FacilityExposure(facility_ids=["A", "B"], merchant_revenue=[100.0, 90.0],
    ...                       debt_service=[60.0, 60.0], debt_outstanding=[120.0, 60.0],
    ...                       collateral_value=[150.0, 120.0], liquidation_factor=0.5)
    >>> ex.n_facilities, ex.n_periods, ex.merchant_revenue.shape
    (2, 2, (2, 2))
    >>> FacilityExposure(facility_ids="A", merchant_revenue=[1.0], debt_service=[-1.0],
    ...                  debt_outstanding=[1.0], collateral_value=[1.0],
    ...                  liquidation_factor=0.5)
    Traceback (most recent call last):
    ...
    gpucredit.errors.GpuCreditError: debt_service must be >= 0, got -1 (position 1)
    """

    facility_ids: Sequence[str]
    merchant_revenue: np.ndarray
    debt_service: np.ndarray
    debt_outstanding: np.ndarray
    collateral_value: np.ndarray
    liquidation_factor: np.ndarray
    other_cfads: np.ndarray = 0.0
    mining_cfads: np.ndarray = 0.0
    btc_held: np.ndarray = 0.0
    covenant_dscr: np.ndarray = 1.20
    crypto_haircut: np.ndarray = 0.20
    balloon_period: np.ndarray = -1

    def __post_init__(self) -> None:
        raw = self.facility_ids
        ids = (raw,) if isinstance(raw, str) else tuple(raw)
        ids = tuple(str(i) for i in ids)
        if not ids:
            raise GpuCreditError("facility_ids must name at least one facility",
                                 argument="facility_ids", value=raw)
        seen: dict[str, int] = {}
        for pos, fid in enumerate(ids):
            if fid in seen:
                raise GpuCreditError(
                    f"facility_ids must be unique, got {fid!r} twice (facility "
                    f"{seen[fid] + 1} and {pos + 1})", argument="facility_ids", value=fid)
            seen[fid] = pos
        n_fac = len(ids)
        object.__setattr__(self, "facility_ids", ids)
        lows = {"merchant_revenue": 0, "other_cfads": None, "mining_cfads": 0,
                "debt_service": 0, "debt_outstanding": 0, "collateral_value": 0}
        tables = {name: _table(getattr(self, name), name, n_fac, lows[name])
                  for name in _SERIES}
        # Scalars (defaults) are one-period tables: they stretch to any number of periods.
        spans = {k: v for k, v in tables.items() if np.ndim(getattr(self, k)) > 0}
        if not spans:
            spans = {"merchant_revenue": tables["merchant_revenue"]}
        n_per = check_same_periods(**spans)
        for name, arr in tables.items():
            full = np.array(np.broadcast_to(arr, (n_fac, n_per)), dtype=float)
            full.flags.writeable = False
            object.__setattr__(self, name, full)
        params = {
            "liquidation_factor": dict(low=0, high=1),
            "btc_held": dict(low=0),
            "covenant_dscr": dict(low=0, low_open=True),
            "crypto_haircut": dict(low=0, high=1),
        }
        for name, bounds in params.items():
            arr = _per_facility(getattr(self, name), name, n_fac, **bounds)
            arr = np.array(arr, dtype=float)
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)
        bal = np.array(_per_facility(self.balloon_period, "balloon_period", n_fac, low=-1,
                                     high=n_per - 1), dtype=float)
        if np.any(bal != np.round(bal)):
            raise GpuCreditError("balloon_period must be a whole period index (or -1)",
                                 argument="balloon_period", value=self.balloon_period)
        bal = bal.astype(int)
        bal.flags.writeable = False
        object.__setattr__(self, "balloon_period", bal)

    @property
    def n_facilities(self) -> int:
        """Number of facilities F."""
        return len(self.facility_ids)

    @property
    def n_periods(self) -> int:
        """Number of periods T."""
        return int(self.merchant_revenue.shape[1])

    def select(self, facility_ids: Sequence[str]) -> FacilityExposure:
        """The exposure of some facilities, in the order given.

        >>> ex = FacilityExposure(facility_ids=["A", "B"], merchant_revenue=[[1.0], [2.0]],
        ...                       debt_service=1.0, debt_outstanding=1.0,
        ...                       collateral_value=1.0, liquidation_factor=0.5)
        >>> ex.select(["B"]).merchant_revenue
        array([[2.]])
        """
        ids = (facility_ids,) if isinstance(facility_ids, str) else tuple(facility_ids)
        pos = {fid: i for i, fid in enumerate(self.facility_ids)}
        missing = [str(f) for f in ids if str(f) not in pos]
        if missing:
            raise GpuCreditError(f"facility_ids has no facility {missing[0]!r}",
                                 argument="facility_ids", value=missing[0])
        idx = [pos[str(f)] for f in ids]
        fields = {name: getattr(self, name)[idx] for name in _SERIES}
        fields.update({name: getattr(self, name)[idx] for name in
                       ("liquidation_factor", "btc_held", "covenant_dscr", "crypto_haircut",
                        "balloon_period")})
        return FacilityExposure(facility_ids=[self.facility_ids[i] for i in idx], **fields)


# --------------------------------------------------------------------------- the engine


_RESULT_COLUMNS = [
    "p_dscr_below_1", "p_dscr_below_covenant", "p_ltv_above_1", "pd", "pd_se", "lgd",
    "expected_loss", "el_se", "el_rate", "cvar_95", "cvar_99",
    "min_dscr_q05", "min_dscr_q50", "min_dscr_q95", "n_paths", "seed",
]


def _evaluate(z, w, s1, s2, model, m, launch, ex, g, default_dscr, out, p0, p1):
    """One pass: facilities ``g`` (a slice) x paths ``p0:p1`` x all periods."""
    ratio, shock = _drivers_inplace(z, w, s1, model, m, launch)
    gi, pi = g, slice(p0, p1)
    mr = ex.merchant_revenue[gi][:, None, :]
    ds = ex.debt_service[gi]
    dscr = s1
    np.multiply(shock, mr, out=dscr)
    dscr += ex.other_cfads[gi][:, None, :]
    mc = ex.mining_cfads[gi]
    if mc.any():
        np.multiply(ratio, mc[:, None, :], out=s2)
        dscr += s2
    np.divide(dscr, np.where(ds > 0, ds, np.nan)[:, None, :], out=dscr)  # NaN: no DSCR

    # Some period is below a level exactly when the path's minimum DSCR is (fmin skips
    # the NaN of periods without debt service; a path with none has a NaN minimum).
    min_dscr = np.fmin.reduce(dscr, axis=-1)
    out["min_dscr"][gi, pi] = min_dscr
    payment_default = min_dscr < default_dscr
    tau = (dscr < default_dscr).argmax(axis=-1)  # first payment default (0 if none)
    rows = np.arange(ds.shape[0])[:, None]

    # A balloon must be refinanced: at its period the facility defaults when the debt
    # outstanding exceeds the collateral plus treasury along the path.
    bal = ex.balloon_period[gi]
    refi_fail = np.zeros_like(payment_default)
    has_bal = bal >= 0
    if has_bal.any():
        b = np.maximum(bal, 0)[:, None]
        shock_b = np.take_along_axis(shock, b[..., None], axis=-1)[..., 0]
        ratio_b = np.take_along_axis(ratio, b[..., None], axis=-1)[..., 0]
        cover_b = (ex.collateral_value[gi][rows, b] * shock_b ** model.collateral_beta
                   + ex.btc_held[gi][:, None] * model.btc_price0 * ratio_b)
        refi_fail = has_bal[:, None] & (ex.debt_outstanding[gi][rows, b] > cover_b)
        tau = np.where(refi_fail & (~payment_default | (b < tau)), b, tau)
    defaulted = payment_default | refi_fail
    below_cov = min_dscr < ex.covenant_dscr[gi][:, None]
    out["counts"][:3, gi] += np.stack([(min_dscr < 1.0).sum(axis=-1),
                                       below_cov.sum(axis=-1), defaulted.sum(axis=-1)])

    # Loss at the default period tau: exposure less recovery (capped at exposure).
    shock_tau = np.take_along_axis(shock, tau[..., None], axis=-1)[..., 0]
    ratio_tau = np.take_along_axis(ratio, tau[..., None], axis=-1)[..., 0]
    ead = ex.debt_outstanding[gi][rows, tau]
    coll_tau = ex.collateral_value[gi][rows, tau] * shock_tau ** model.collateral_beta
    treasury_tau = ex.btc_held[gi][:, None] * model.btc_price0 * ratio_tau
    recovery = (ex.liquidation_factor[gi][:, None] * coll_tau
                + (1.0 - ex.crypto_haircut[gi][:, None]) * treasury_tau)
    loss = np.where(defaulted, np.maximum(ead - recovery, 0.0), 0.0)
    rate = np.zeros_like(loss)
    np.divide(loss, ead, out=rate, where=ead > 0)
    out["loss"][gi, pi] = loss
    out["loss_rate"][gi, pi] = np.where(defaulted, rate, 0.0)

    # LTV > 100% in any period: outstanding > GPU collateral + treasury.
    cover = s1
    if model.collateral_beta == 1.0:
        np.multiply(shock, ex.collateral_value[gi][:, None, :], out=cover)
    else:
        np.power(shock, model.collateral_beta, out=cover)
        cover *= ex.collateral_value[gi][:, None, :]
    held = ex.btc_held[gi]
    if held.any():
        np.multiply(ratio, (held * model.btc_price0)[:, None, None], out=s2)
        cover += s2
    ltv = (ex.debt_outstanding[gi][:, None, :] > cover).any(axis=-1)
    out["counts"][3, gi] += ltv.sum(axis=-1)


def _tail_mean(sorted_desc: np.ndarray, tail: float) -> np.ndarray:
    """Mean of the worst ``tail`` share of each row (rows sorted descending).

    ``k = tail x P`` paths; a fractional k weights the next path by its fraction
    (Rockafellar-Uryasev CVaR of the empirical distribution).
    """
    n = sorted_desc.shape[1]
    k = tail * n
    if abs(k - round(k)) < 1e-9:
        k = float(round(k))
    whole = math.floor(k)
    total = sorted_desc[:, :whole].sum(axis=1)
    if whole < n and k > whole:
        total = total + (k - whole) * sorted_desc[:, whole]
    return total / k


def simulate(exposure: FacilityExposure, model: MarketModel | None = None,
             n_paths: int = 10_000, seed: int = 0, periods_per_year: int = 12, *,
             chunk_paths: int | None = None, max_bytes: int = 64 * 2**20,
             default_dscr: float = 1.0) -> pd.DataFrame:
    """Credit metrics of each facility under simulated BTC and GPU-rent paths.

    Parameters
    ----------
    exposure : FacilityExposure
        The facilities' base-case cash flows, debt and collateral.
    model : MarketModel or None
        The joint dynamics; None uses ``MarketModel()``.
    n_paths : int, default 10,000
        Paths P per facility, >= 1. Standard errors shrink as ``1 / sqrt(P)``.
    seed : int, default 0
        Non-negative seed. With the facility id it fixes the facility's streams.
    periods_per_year : int, default 12
        Periods a year m of the exposure's series: 1, 2, 4 or 12.
    chunk_paths : int or None, keyword-only
        Paths per facility processed at once, a positive multiple of
        :data:`BLOCK_PATHS` (1,024). None: as many as ``max_bytes`` allows. It changes
        speed and memory only, never the results.
    max_bytes : int, default 64 MiB, keyword-only
        Budget for the working arrays of one pass (facilities x paths x periods
        cells, budgeted at 48 bytes each); facilities are batched to fit, at least one
        facility and one block a pass. Larger passes are not faster (measured in
        ``bench/bench_montecarlo.py``: 64 MiB keeps the arrays nearer the cache). The
        per-path results kept for LGD, CVaR and quantiles add 24 bytes per facility and
        path (1,000 facilities x 1,000 paths: 24 MB).
    default_dscr : float, default 1.0, keyword-only
        The DSCR below which a period is a payment default, > 0. DOMAIN.md: default
        covenants sit at 1.00-1.05x.

    Returns
    -------
    pandas.DataFrame
        One row per facility (index ``facility_id``), columns:

        ``p_dscr_below_1``, ``p_dscr_below_covenant``
            Share of paths with DSCR < 1 (< ``covenant_dscr``) in at least one period
            with debt service.
        ``p_ltv_above_1``
            Share of paths where, in some period, debt outstanding exceeds the GPU
            collateral value plus the treasury's market value (LTV > 100%).
        ``pd``, ``pd_se``
            Probability of default over the tenor and its Monte Carlo standard error
            ``sqrt(pd (1 - pd) / P)``.
        ``lgd``
            Mean over defaulted paths of ``loss / exposure at default`` (NaN if no path
            defaults).
        ``expected_loss``, ``el_se``
            Mean loss over all paths, USD, and its standard error.
        ``el_rate``
            ``expected_loss`` over the first period's ``debt_outstanding``.
        ``cvar_95``, ``cvar_99``
            Mean loss of the worst 5% and 1% of paths, USD.
        ``min_dscr_q05``, ``min_dscr_q50``, ``min_dscr_q95``
            Quantiles across paths of each path's minimum DSCR (numpy's linear
            interpolation); NaN if the facility never pays debt service.
        ``n_paths``, ``seed``
            The run's settings.

    Notes
    -----
    On path p in period t, with :math:`s_{pt}` the rent shock and :math:`S_{pt}` the
    BTC price (:func:`simulate_drivers`):

    .. math::

        \\text{CFADS}_{pt} &= \\text{merchant}_t\\,s_{pt} + \\text{other}_t
            + \\text{mining}_t\\,S_{pt}/S_0

        \\text{DSCR}_{pt} &= \\text{CFADS}_{pt} / \\text{DS}_t \\quad (\\text{DS}_t > 0)

        \\text{LTV}_{pt} &= D_t / (C_t\\,s_{pt}^{\\beta} + B\\,S_{pt})

    **Default** is the first period :math:`\\tau` with
    :math:`\\text{DSCR} < \\text{default\\_dscr}`: a payment default with no reserve
    account, sponsor support or cash carried between periods (conservative); or, for a
    facility with a balloon, its balloon period when the path's LTV there exceeds 100%
    (the balloon cannot be refinanced). Without balloons and with the default
    ``default_dscr = 1``, ``pd`` equals ``p_dscr_below_1``. The loss at default is

    .. math::

        R &= f\\,C_\\tau\\,s_{p\\tau}^{\\beta} + (1 - h_c)\\,B\\,S_{p\\tau}, \\qquad
        L = D_\\tau - \\min(R, D_\\tau)

    with f the liquidation factor, :math:`h_c` the crypto haircut, B the BTC held and D
    the debt outstanding: undiscounted USD at the default date. Paths without default
    lose 0. ``expected_loss`` is the mean of L over all paths; CVaR at level q is the
    mean of the worst ``(1 - q) P`` losses (a fractional path counts pro rata).

    Each facility's draws come from its own streams (:func:`facility_drivers`), so its
    row is identical whatever the other facilities, their order, ``chunk_paths`` or
    ``max_bytes``.

    References
    ----------
    R. T. Rockafellar and S. Uryasev, "Conditional value-at-risk for general loss
    distributions", *Journal of Banking & Finance* 26(7), 2002 (CVaR of a discrete
    distribution).

    Examples
    --------
    A facility whose CFADS is twice its debt service in every state never defaults;
    one whose contracted CFADS covers only 80% always does, in its first period:

    >>> ex = FacilityExposure(facility_ids=["safe", "weak"],
    ...                       merchant_revenue=[[0.0] * 12, [0.0] * 12],
    ...                       other_cfads=[[200.0] * 12, [80.0] * 12],
    ...                       debt_service=100.0, debt_outstanding=1000.0,
    ...                       collateral_value=500.0, liquidation_factor=0.6)
    >>> res = simulate(ex, n_paths=500, seed=1)
    >>> res[["pd", "lgd", "min_dscr_q50"]].round(2)
                  pd  lgd  min_dscr_q50
    facility_id
    safe         0.0  NaN           2.0
    weak         1.0  0.7           0.8

    The weak facility loses ``1000 - 0.6 x 500 x s_1`` at its first-period default
    (s_1 is the first rent shock, close to 1): an LGD of about 70%.
    """
    if not isinstance(exposure, FacilityExposure):
        raise GpuCreditError(f"exposure must be a FacilityExposure, got "
                             f"{type(exposure).__name__}", argument="exposure", value=exposure)
    model = _check_model(model)
    n_p = _count(n_paths, "n_paths")
    seed = _check_seed(seed)
    m = check_periods_per_year(periods_per_year)
    budget = _count(max_bytes, "max_bytes")
    dflt = _scalar(default_dscr, "default_dscr", low=0, low_open=True)
    n_fac, n_per = exposure.n_facilities, exposure.n_periods
    cell = _BYTES_PER_CELL
    if chunk_paths is None:
        fit = budget // (n_per * cell)
        chunk = max(BLOCK_PATHS, fit // BLOCK_PATHS * BLOCK_PATHS)
    else:
        chunk = _count(chunk_paths, "chunk_paths")
        if chunk % BLOCK_PATHS:
            raise GpuCreditError(
                f"chunk_paths must be a positive multiple of {BLOCK_PATHS} (the block of "
                f"paths that shares one random stream), got {chunk}",
                argument="chunk_paths", value=chunk)
    rows = min(chunk, n_p)
    group = int(max(1, min(n_fac, budget // (rows * n_per * cell))))

    launch = _launch_factor(model, n_per, m)
    keys = [_stable_hash(fid) for fid in exposure.facility_ids]
    t_cop = model.copula == "t"
    out = {
        "loss": np.empty((n_fac, n_p)),
        "loss_rate": np.empty((n_fac, n_p)),
        "min_dscr": np.empty((n_fac, n_p)),
        "counts": np.zeros((4, n_fac), dtype=np.int64),
    }
    zbuf = np.empty(group * rows * 2 * n_per)
    s1buf = np.empty(group * rows * n_per)
    s2buf = np.empty(group * rows * n_per)
    for g0 in range(0, n_fac, group):
        g1 = min(n_fac, g0 + group)
        ng = g1 - g0
        for p0 in range(0, n_p, chunk):
            p1 = min(n_p, p0 + chunk)
            n = p1 - p0
            z = zbuf[: ng * n * 2 * n_per].reshape(ng, n, 2, n_per)
            s1 = s1buf[: ng * n * n_per].reshape(ng, n, n_per)
            s2 = s2buf[: ng * n * n_per].reshape(ng, n, n_per)
            w = s2 if t_cop else None
            for k in range(ng):
                _fill_draws(z[k], None if w is None else w[k], seed, keys[g0 + k], p0,
                            model.t_df)
            with np.errstate(over="ignore"):  # an overflow is an honest inf (DSCR, price)
                _evaluate(z, w, s1, s2, model, m, launch, exposure, slice(g0, g1), dflt,
                          out, p0, p1)
    del zbuf, s1buf, s2buf
    return _summarise(out, exposure, n_p, seed)


def _summarise(out: dict, exposure: FacilityExposure, n_p: int, seed: int) -> pd.DataFrame:
    counts = out["counts"]
    loss = out["loss"]
    n_def = counts[2]
    pd_ = n_def / n_p
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        lgd = np.where(n_def > 0, out["loss_rate"].sum(axis=1) / np.maximum(n_def, 1),
                       np.nan)
        el = loss.mean(axis=1)
        el_se = (loss.std(axis=1, ddof=1) / math.sqrt(n_p) if n_p > 1
                 else np.full(el.shape, np.nan))
        d0 = exposure.debt_outstanding[:, 0]
        el_rate = np.where(d0 > 0, el / np.where(d0 > 0, d0, 1.0), np.nan)
    srt = np.sort(loss, axis=1)[:, ::-1]
    md = out["min_dscr"]
    if np.isnan(md).any():
        q = np.full((3, md.shape[0]), np.nan)
        ok = ~np.isnan(md).any(axis=1)
        if ok.any():
            q[:, ok] = np.quantile(md[ok], [0.05, 0.5, 0.95], axis=1)
    else:
        q = np.quantile(md, [0.05, 0.5, 0.95], axis=1)
    frame = pd.DataFrame({
        "p_dscr_below_1": counts[0] / n_p,
        "p_dscr_below_covenant": counts[1] / n_p,
        "p_ltv_above_1": counts[3] / n_p,
        "pd": pd_,
        "pd_se": np.sqrt(pd_ * (1.0 - pd_) / n_p),
        "lgd": lgd,
        "expected_loss": el,
        "el_se": el_se,
        "el_rate": el_rate,
        "cvar_95": _tail_mean(srt, 0.05),
        "cvar_99": _tail_mean(srt, 0.01),
        "min_dscr_q05": q[0],
        "min_dscr_q50": q[1],
        "min_dscr_q95": q[2],
        "n_paths": n_p,
        "seed": seed,
    }, index=pd.Index(list(exposure.facility_ids), name="facility_id"))
    return frame[_RESULT_COLUMNS]


# --------------------------------------------------------------------------- closed form


def gbm_prob_below(btc0, barrier, mu, sigma, years):
    """Probability that a GBM ends below a barrier: ``P(S_T < B)``.

    Parameters
    ----------
    btc0 : float or array_like
        Price today S0, > 0.
    barrier : float or array_like
        Level B, > 0.
    mu : float or array_like
        Annual drift (continuously compounded).
    sigma : float or array_like
        Annual volatility, > 0.
    years : float or array_like
        Horizon T in years, > 0.

    Returns
    -------
    float or ndarray
        The probability; arrays broadcast.

    Notes
    -----
    :math:`\\ln S_T \\sim N(\\ln S_0 + (\\mu - \\sigma^2/2) T,\\ \\sigma^2 T)`, so

    .. math:: P(S_T < B) = \\Phi\\left(\\frac{\\ln(B/S_0) - (\\mu - \\sigma^2/2) T}
              {\\sigma \\sqrt{T}}\\right)

    This is the terminal probability; the probability of touching B at some time
    before T is higher.

    Examples
    --------
    BTC halving within a year at 60% volatility and no drift:

    >>> round(gbm_prob_below(90_000, 45_000, 0.0, 0.60, 1.0), 4)
    0.1962
    """
    s0 = check_range(btc0, "btc0", 0, low_open=True)
    b = check_range(barrier, "barrier", 0, low_open=True)
    mu_ = check_range(mu, "mu")
    sig = check_range(sigma, "sigma", 0, low_open=True)
    yrs = check_range(years, "years", 0, low_open=True)
    try:
        d = (np.log(b / s0) - (mu_ - 0.5 * sig**2) * yrs) / (sig * np.sqrt(yrs))
    except ValueError as exc:
        raise GpuCreditError(f"btc0, barrier, mu, sigma and years must broadcast together: "
                             f"{exc}", argument="barrier") from None
    p = special.ndtr(d)
    return float(p) if np.ndim(p) == 0 else p
