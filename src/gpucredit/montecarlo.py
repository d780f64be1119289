"""Credit of a book of facilities under one simulated market: default, loss, PD by year.

Every facility of a run reads the same market (:mod:`gpucredit.market`): one BTC path and
one rent index per GPU generation per path, drawn from the seed alone. Each facility adds
only its own idiosyncratic draws, the default times of its contract customer and of the
customer's backstop, from streams keyed on ``(seed, facility id)``. A facility's results
therefore never depend on the order of the facilities, on which other facilities are in
the batch, on ``chunk_paths`` or ``max_bytes``, on the chunk or the worker that computes
it; and the first ``n`` paths of a run with more paths are the paths of a run with ``n``.

:func:`simulate` returns, per facility, the default probabilities by cause (payment,
refinancing, customer-driven), the cumulative PD by year, LGD, expected loss and its
present value, the risky annuity the fair spread is priced from, CVaR, and the DSCR and
LTV risk measures; with ``return_losses=True`` also each path's discounted loss, from
which :mod:`gpucredit.portfolio` builds the book's loss distribution.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from gpucredit._checks import check_periods_per_year, check_range, check_same_periods
from gpucredit.errors import GpuCreditError
from gpucredit.market import (
    BLOCK_PATHS,
    GENERATIONS,
    MarketModel,
    _ou_coefficients,
    _scalar,
    generation_index,
    market_block,
    market_paths,
    ou_path,
    period_view,
)

__all__ = [
    "BLOCK_PATHS",
    "GENERATIONS",
    "FacilityExposure",
    "MarketModel",
    "gbm_prob_below",
    "idiosyncratic_normals",
    "market_paths",
    "simulate",
    "simulate_drivers",
]

# Working memory of one pass, bytes per (facility, path, period) cell: the gathered rent
# shocks (8-16), CFADS (8), DSCR (8), the shortfall (8), masks and temporaries. A margin
# on top.
_BYTES_PER_CELL = 64
# The shared market of a chunk, bytes per (path, period): BTC mean and end (2 x 8) and,
# per generation, the rent shock's mean and end and the systematic factor (3 x 8).
_MARKET_BYTES_PER_PERIOD = 8 * (2 + 3 * len(GENERATIONS))


def _count(x, name: str, low: int = 1) -> int:
    if isinstance(x, bool) or not isinstance(x, int | np.integer) or x < low:
        raise GpuCreditError(f"{name} must be a whole number >= {low}, got {x!r}",
                             argument=name, value=x)
    return int(x)


def _check_model(model) -> MarketModel:
    if model is None:
        return MarketModel()
    if not isinstance(model, MarketModel):
        raise GpuCreditError(f"model must be a MarketModel, got {type(model).__name__}",
                             argument="model", value=model)
    return model


def _check_seed(seed) -> int:
    return _count(seed, "seed", low=0)


# --------------------------------------------------------------------------- two drivers


def _period_launch_factor(model: MarketModel, n_periods: int, periods_per_year: int
                          ) -> np.ndarray:
    """``(1 - J)^{n_t}``, ``n_t`` = launches ``s`` with ``0 < s <= (t - 1) / m``, shape (T,)."""
    starts = np.arange(n_periods, dtype=float) / periods_per_year
    launches = np.asarray([s for s in model.jump_years if s > 0], dtype=float)
    passed = (starts[:, None] >= launches[None, :]).sum(axis=1)
    return (1.0 - model.jump_size) ** passed


def _t_to_normal(v: np.ndarray, df: float) -> np.ndarray:
    """``Phi^-1(F_t(v))`` on the lower tail ``-|v|``, sign restored (keeps both tails)."""
    return np.copysign(special.ndtri(special.stdtr(df, -np.abs(v))), v)


def _drivers_inplace(z: np.ndarray, w: np.ndarray | None, scratch: np.ndarray,
                     model: MarketModel, periods_per_year: int,
                     launch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Turn standard normals into driver paths.

    ``z`` is ``(..., 2, T)`` independent standard normals (overwritten), ``w`` is
    ``(..., 1)`` chi-square(nu) draws for the t copula (one per path) or None, ``scratch``
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
        # (Z1, Z2) / sqrt(W / nu) is a multivariate t over the whole horizon: one W per
        # path, shared by both drivers and every period, so joint tails persist.
        np.divide(model.t_df, w, out=w)
        np.sqrt(w, out=w)
        zb *= w
        zr *= w
        zb[...] = _t_to_normal(zb, model.t_df)
        zr[...] = _t_to_normal(zr, model.t_df)
    # BTC: exact GBM, log S_t = log S_0 + sum((mu - sigma^2/2) dt + sigma sqrt(dt) eps).
    zb *= model.btc_vol * math.sqrt(dt)
    zb += (model.btc_drift - 0.5 * model.btc_vol ** 2) * dt
    np.cumsum(zb, axis=-1, out=zb)
    np.exp(zb, out=zb)
    # Rent cycle: exact OU recursion x_t = a x_{t-1} + b eps_t, x_0 = 0.
    a, b = _ou_coefficients(model.rent_kappa, model.rent_sigma, dt)
    shock = ou_path(zr, a, b)
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
        draws ``(P, 2, T)`` standard normals, then, for the t copula, ``P`` chi-square
        values (one per path). :func:`simulate` reads the book's shared market instead
        (:mod:`gpucredit.market`, on a monthly grid with one index per GPU generation).

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
    ``log(trend_t) + x_t + n_t log(1 - J)``: docs/sources.md's trend + mean-reverting cycle
    + jumps, with the trend deflation kept in the facility's own base path.

    Dependence: :math:`\\varepsilon^r = \\rho\\,Z_1 + \\sqrt{1-\\rho^2}\\,Z_2`,
    :math:`\\varepsilon^b = Z_1` (Gaussian copula). For the t copula the pair is divided
    by :math:`\\sqrt{W/\\nu}`, one :math:`W \\sim \\chi^2_\\nu` per path (for all periods), and
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
        w = gen.standard_gamma(model.t_df / 2.0, size=(n, 1))
        w *= 2.0
    ratio, shock = _drivers_inplace(z, w, np.empty((n, t)), model, m,
                                    _period_launch_factor(model, t, m))
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
           "debt_outstanding", "collateral_value", "contract_revenue", "relet_revenue",
           "termination_payment")
_PARAMS = {  # per-facility number -> its bounds
    "liquidation_factor": dict(low=0, high=1),
    "btc_held": dict(low=0),
    "covenant_dscr": dict(low=0, low_open=True),
    "crypto_haircut": dict(low=0, high=1),
    "liquidity": dict(low=0),
    "refi_max_ltv": dict(low=0),
    "refi_min_dscr": dict(low=0),
    "refi_debt_service_factor": dict(low=0),
    "contract_value": dict(low=0),
    "discount_rate": dict(low=-1, low_open=True),
}
_INTS = ("balloon_period", "relet_lag", "n_periods_f")
_CURVES = ("counterparty_pd", "backstop_pd")


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
        DSCR covenant (lock-up) level, > 0. docs/sources.md: lock-up typically 1.10-1.25x.
    balloon_period : int or array_like of int, default -1
        0-based period of a balloon (bullet) repayment that the borrower must refinance,
        or -1 for none. Its principal is left out of ``debt_service``; at that period the
        facility defaults when it cannot refinance: the debt outstanding exceeds the GPU
        collateral plus treasury along the path (LTV above 100%).
    crypto_haircut : float or array_like, default 0.20
        Haircut on the treasury's value when it is sold at default, in [0, 1].
        docs/sources.md's value-at-risk haircut ``1 - exp(-z sigma sqrt(h/365))`` at 99%, 60%
        volatility and a 10-day horizon is 20.6% (``gpucredit.collateral.crypto_haircut
        (0.60, 10)``); rounded.
    contract_revenue : array_like, default 0
        Contracted (take-or-pay) revenue of the base case, USD per period, >= 0; NOT in
        ``other_cfads``. Paid until the contract customer defaults (and, with a backstop,
        until the backstop defaults too).
    relet_revenue : array_like, default 0
        What the contracted GPUs earn re-leased at the market along the base trend, USD
        per period, >= 0; scales with the rent shock; earned from ``relet_lag`` periods
        after the contract stops.
    termination_payment : array_like, default 0
        Received in the period the customer defaults (already times the customer's
        recovery rate), USD, >= 0.
    relet_lag : int or array_like of int, default 0
        Periods the GPUs of a stopped contract earn nothing before re-leasing, >= 0.
    counterparty_pd, backstop_pd : array_like (F, Y) or (Y,), default no default
        Cumulative default probability of the contract customer (of its backstop) at the
        end of years 1 .. Y, non-decreasing in [0, 1]
        (:func:`gpucredit.ratings.cumulative_default_probability`); held flat after Y,
        interpolated linearly within a year (0 today).
    has_backstop : bool or array_like of bool, default False
        Whether a backstop guarantees the contract payments.
    liquidity : float or array_like, default 0
        Debt-service reserve plus liquidity facility available from today, USD, >= 0: it
        pays the debt service CFADS cannot and is refilled from surplus up to its size.
    unsecured_recovery : float or array_like, default NaN
        NaN for a secured facility (recovery from its collateral); else the recovery
        rate on the exposure at default of an unsecured obligation, in [0, 1].
    refi_max_ltv : float or array_like, default 1.0
        A balloon refinances only if the debt outstanding at most ``refi_max_ltv`` times
        the collateral plus treasury along the path, >= 0. 1.0 (LTV 100%) is the old rule.
    refi_min_dscr : float or array_like, default 0
        ... and if the path's CFADS in the balloon period covers the refinanced debt's
        service (``balloon x refi_debt_service_factor``) at least this many times, >= 0.
    refi_debt_service_factor : float or array_like, default 0
        Debt service per period per USD refinanced (the annuity factor at the refinancing
        rate and tenor on the facility's grid), >= 0.
    contract_value : float or array_like, default 0
        Value at the balloon of the contracted cash flow still to come after it (the
        present value of the contract's remaining revenue at the refinancing rate, times
        the base case's cash margin), USD, >= 0. A refinancing lender lends against a
        standing contract as against collateral (lease-backed lending), so it counts in
        the refinancing LTV while the customer (or its backstop) is still paying.
    generation : str or sequence of str, default "hopper"
        The GPU generation whose rent index the facility follows (:data:`GENERATIONS`).
    discount_rate : float or array_like, default 0
        Per-period rate at which losses and exposures are discounted (the loan's rate).
    n_periods_f : int or array_like of int, optional
        Each facility's tenor in periods; the facility is simulated to it only. Default:
        the last period with debt outstanding or debt service.

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
    contract_revenue: np.ndarray = 0.0
    relet_revenue: np.ndarray = 0.0
    termination_payment: np.ndarray = 0.0
    relet_lag: np.ndarray = 0
    counterparty_pd: np.ndarray | None = None
    backstop_pd: np.ndarray | None = None
    has_backstop: np.ndarray = False
    liquidity: np.ndarray = 0.0
    unsecured_recovery: np.ndarray = math.nan
    refi_max_ltv: np.ndarray = 1.0
    refi_min_dscr: np.ndarray = 0.0
    refi_debt_service_factor: np.ndarray = 0.0
    contract_value: np.ndarray = 0.0
    generation: Sequence[str] | str = "hopper"
    discount_rate: np.ndarray = 0.0
    n_periods_f: np.ndarray | None = None

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
        lows = {name: 0 for name in _SERIES}
        lows["other_cfads"] = None
        tables = {name: _table(getattr(self, name), name, n_fac, lows[name])
                  for name in _SERIES}
        # Scalars (defaults) are one-period tables: they stretch to any number of periods.
        spans = {k: v for k, v in tables.items() if np.ndim(getattr(self, k)) > 0}
        if not spans:
            spans = {"merchant_revenue": tables["merchant_revenue"]}
        n_per = check_same_periods(**spans)
        for name, arr in tables.items():
            self._freeze(name, np.array(np.broadcast_to(arr, (n_fac, n_per)), dtype=float))
        for name, bounds in _PARAMS.items():
            self._freeze(name, np.array(_per_facility(getattr(self, name), name, n_fac,
                                                      **bounds), dtype=float))
        rec = np.array(np.broadcast_to(np.asarray(self.unsecured_recovery, dtype=float),
                                       (n_fac,)))
        check_range(np.nan_to_num(rec, nan=0.0), "unsecured_recovery", 0, 1)
        self._freeze("unsecured_recovery", rec)
        self._freeze("has_backstop", np.array(np.broadcast_to(
            np.asarray(self.has_backstop, dtype=bool), (n_fac,))))
        gens = self.generation
        gens = [gens] * n_fac if isinstance(gens, str) else list(gens)
        if len(gens) != n_fac:
            raise GpuCreditError(f"generation has {len(gens)} values but facility_ids has "
                                 f"{n_fac}", argument="generation", value=len(gens))
        self._freeze("generation_index", generation_index(gens))
        object.__setattr__(self, "generation", tuple(GENERATIONS[i]
                                                     for i in self.generation_index))
        self._freeze_ints(n_fac, n_per)
        for name in _CURVES:
            self._freeze(name, _default_curve(getattr(self, name), name, n_fac))

    def _freeze(self, name: str, arr: np.ndarray) -> None:
        arr.flags.writeable = False
        object.__setattr__(self, name, arr)

    def _freeze_ints(self, n_fac: int, n_per: int) -> None:
        if self.n_periods_f is None:
            live = (self.debt_outstanding > 0) | (self.debt_service > 0)
            last = n_per - np.argmax(live[:, ::-1], axis=1)
            object.__setattr__(self, "n_periods_f", np.where(live.any(axis=1), last, 1))
        bounds = {"balloon_period": (-1, n_per - 1), "relet_lag": (0, None),
                  "n_periods_f": (1, n_per)}
        for name, (low, high) in bounds.items():
            arr = np.array(_per_facility(getattr(self, name), name, n_fac, low=low,
                                         high=high), dtype=float)
            if np.any(arr != np.round(arr)):
                raise GpuCreditError(f"{name} must be a whole number of periods",
                                     argument=name, value=getattr(self, name))
            self._freeze(name, arr.astype(int))

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
        names = (*_SERIES, *_PARAMS, *_INTS, *_CURVES, "unsecured_recovery",
                 "has_backstop")
        fields = {name: getattr(self, name)[idx] for name in names}
        return FacilityExposure(facility_ids=[self.facility_ids[i] for i in idx],
                                generation=[self.generation[i] for i in idx], **fields)


def _default_curve(x, name: str, n_fac: int) -> np.ndarray:
    """A cumulative PD term structure ``(F, Y)``: checked, non-decreasing, zeros if None."""
    if x is None:
        return np.zeros((n_fac, 1))
    arr = check_range(x, name, 0, 1)
    arr = arr[None, :] if arr.ndim == 1 else arr
    if arr.ndim != 2 or arr.shape[0] not in (1, n_fac):
        raise GpuCreditError(f"{name} must be one cumulative PD per year for every "
                             f"facility ({n_fac} rows), got an array of shape {arr.shape}",
                             argument=name, value=arr.shape)
    if np.any(np.diff(arr, axis=1) < 0):
        raise GpuCreditError(f"{name} must not fall from one year to the next (it is "
                             "a cumulative default probability)", argument=name)
    return np.array(np.broadcast_to(arr, (n_fac, arr.shape[1])), dtype=float)


# --------------------------------------------------------------------------- the streams


def _stable_hash(facility_id: str) -> int:
    """A 64-bit hash of the id that is the same in every process (unlike ``hash()``)."""
    digest = hashlib.blake2b(facility_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def idiosyncratic_normals(seed: int, facility_id: str, block: int) -> np.ndarray:
    """A facility's own standard normals for one block of paths, shape (2, 1024).

    Row 0 drives its contract customer's default time, row 1 its backstop's. Drawn from
    ``SeedSequence([seed, h], spawn_key=(block, 2))``, ``h`` a 64-bit BLAKE2b hash of the
    facility id: the same in every process, chunk and worker.

    >>> a = idiosyncratic_normals(7, "FAC-1", 0)
    >>> bool((a == idiosyncratic_normals(7, "FAC-1", 0)).all()), a.shape
    (True, (2, 1024))
    """
    ss = np.random.SeedSequence([seed, _stable_hash(str(facility_id))], spawn_key=(block, 2))
    return np.random.Generator(np.random.PCG64(ss)).standard_normal((2, BLOCK_PATHS))


# --------------------------------------------------------------------------- one pass

_RESULT_COLUMNS = [
    "p_dscr_below_1", "p_dscr_below_covenant", "p_ltv_above_1", "pd", "pd_se",
    "pd_payment", "pd_refinancing", "pd_customer_driven", "p_contract_stop", "n_defaults",
    "lgd", "expected_loss", "el_se", "el_rate", "pv_expected_loss", "pv_el_se",
    "risky_annuity", "expected_exposure_years", "cvar_95", "cvar_99",
    "min_dscr_q05", "min_dscr_q50", "min_dscr_q95", "n_paths", "seed",
]


@dataclass
class _Pass:
    """What one pass sees: facilities ``idx`` over ``T`` periods, paths ``p0:p1``."""

    ex: FacilityExposure
    idx: np.ndarray
    T: int
    view: tuple
    model: MarketModel
    m: int
    default_dscr: float
    idio: np.ndarray | None  # (ng, 2, n) or None when no facility has a contract
    contract: np.ndarray  # (ng,) bool: contract revenue within the facility's tenor
    out: dict
    p0: int
    p1: int

    def series(self, name: str) -> np.ndarray:
        return getattr(self.ex, name)[self.idx, : self.T]

    def param(self, name: str) -> np.ndarray:
        return getattr(self.ex, name)[self.idx]


def _default_period(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """First period ``t`` with ``cum[t] >= u`` (``T`` if none): ``cum`` (ng, T), ``u`` (ng, n).

    The periods with ``cum[t] < u`` are counted; where a row of ``cum`` is sorted (a
    cumulative PD or its normal quantile, unless rounding nudged it) a binary search
    counts them, without the (ng, n, T) comparison. ``-inf`` (a PD of 0) is never reached.
    """
    out = np.empty(u.shape, dtype=np.intp)
    sorted_ = ~np.isnan(cum).any(axis=1) & (cum[:, 1:] >= cum[:, :-1]).all(axis=1)
    for i in np.flatnonzero(sorted_):
        out[i] = np.searchsorted(cum[i], u[i], side="left")
    rest = np.flatnonzero(~sorted_)
    if rest.size:
        out[rest] = (u[rest][..., None] > cum[rest][:, None, :]).sum(axis=-1)
    return out


def _grid_pd(curve: np.ndarray, T: int, m: int) -> np.ndarray:
    """Cumulative PD at each period end ``(t + 1) / m`` years, linear within a year."""
    ext = np.concatenate([np.zeros((curve.shape[0], 1)), curve, curve[:, -1:]], axis=1)
    years = np.arange(1, T + 1) / m
    k = np.minimum(np.floor(years).astype(int), curve.shape[1])
    frac = np.where(k < curve.shape[1], years - k, 0.0)
    return ext[:, k] * (1.0 - frac) + ext[:, k + 1] * frac


def _contract_stop(ps: _Pass):
    """Period the contract revenue stops (``T``: never) and the customer's default period.

    A customer defaults in the first period whose cumulative PD reaches
    ``Phi(sqrt(r) Y + sqrt(1 - r) e)``: ``Y`` its generation's systematic factor over the
    facility's tenor, ``e`` its own normal, ``r`` ``customer_correlation`` (one-factor
    Gaussian copula, Li 2000). A backstop, on the same factor with its own normal, keeps
    the contract paid until it defaults too.
    """
    ng, n = ps.idx.size, ps.p1 - ps.p0
    never = np.full((ng, n), ps.T)
    if ps.idio is None:
        return never, never
    r = ps.model.customer_correlation
    factor = ps.view[4][int(ps.param("generation_index")[0])]  # (n, T): one generation
    last = np.minimum(ps.param("n_periods_f"), ps.T) - 1
    y = factor[:, last].T
    # Phi(x) <= PD  <=>  x <= Phi^-1(PD): the quantiles of the (ng, T) grid, not Phi of
    # every draw
    x = math.sqrt(r) * y[:, None, :] + math.sqrt(1 - r) * ps.idio
    tau_c = _default_period(special.ndtri(_grid_pd(ps.param("counterparty_pd"), ps.T, ps.m)),
                            x[:, 0])
    tau_b = _default_period(special.ndtri(_grid_pd(ps.param("backstop_pd"), ps.T, ps.m)),
                            x[:, 1])
    stop = np.where(ps.param("has_backstop")[:, None], np.maximum(tau_c, tau_b), tau_c)
    return (np.where(ps.contract[:, None], stop, ps.T),
            np.where(ps.contract[:, None], tau_c, ps.T))


def _cfads(ps: _Pass, s_rev: np.ndarray, buf: np.ndarray):
    """CFADS on each path ``(ng, n, T)`` (into ``buf``) and the contract's stop ``(ng, n)``."""
    cf = np.multiply(s_rev, ps.series("merchant_revenue")[:, None, :], out=buf)
    cf += ps.series("other_cfads")[:, None, :]
    mining = ps.series("mining_cfads")
    rows = np.flatnonzero(mining.any(axis=1))
    if rows.size:
        cf[rows] += ps.view[0][None, :, : ps.T] * mining[rows][:, None, :]
    stop, tau_c = _contract_stop(ps)
    rows = np.flatnonzero(ps.contract)
    if rows.size:  # consecutive rows add in place, without a gathered copy
        if rows[-1] - rows[0] + 1 == rows.size:
            _add_contract_flows(ps, rows, stop[rows], tau_c[rows], s_rev,
                                cf[rows[0]:rows[-1] + 1])
        else:
            part = cf[rows]
            _add_contract_flows(ps, rows, stop[rows], tau_c[rows], s_rev, part)
            cf[rows] = part
    return cf, stop


def _add_contract_flows(ps: _Pass, rows, stop, tau_c, s_rev, cf) -> None:
    """Add to ``cf`` (the rows' CFADS) the contract revenue until the stop, the
    termination payment, and relet revenue from the lag after the stop.

    On the paths whose contract pays to the end (most paths) the revenue is added in one
    pass; only the paths whose contract stops get flows of their own.
    """
    t = np.arange(ps.T)
    contract = ps.series("contract_revenue")[rows]
    stopped = stop < ps.T
    full = ~stopped
    np.add(cf, contract[:, None, :], out=cf, where=full[..., None] if stopped.any() else True)
    r, p = np.nonzero(stopped)
    if not r.size:
        return
    at = stop[r, p][:, None]
    flows = np.where(t < at, contract[r], 0.0)
    relet = ps.series("relet_revenue")[rows]
    if relet.any():  # from the lag (>= 0) after the stop: cells the contract left at 0
        start = at + ps.param("relet_lag")[rows][r, None]
        np.multiply(relet[r], s_rev[0, p], out=flows, where=t >= start)
    term = ps.series("termination_payment")[rows]
    if term.any():  # paid once, in the period the customer's default stops the contract
        k = np.flatnonzero(stop[r, p] == tau_c[r, p])
        flows[k, at[k, 0]] += term[r[k], at[k, 0]]
    cf[r, p] += flows


def _drain(ps: _Pass, rows: np.ndarray, cf: np.ndarray, ds: np.ndarray,
           btc_end: np.ndarray):
    """Payment default of facilities with liquidity: first period ``(nl, n)`` (``T``: none)
    whose shortfall the reserve and treasury cannot pay, and the BTC units held at the
    start of each period ``(nl, n, T)``.

    The shortfall is ``default_dscr x DS - CFADS`` in periods with debt service; other
    periods' surplus only refills. The reserve (``liquidity``) pays first, then the
    treasury sold at ``(1 - crypto_haircut) x price``; surpluses refill the reserve up to
    its size.
    """
    T = ps.T
    cap = ps.param("liquidity")[rows][:, None]
    # period-major for the loop, written so in one pass
    cf_t = cf.transpose(2, 0, 1)
    need = np.subtract(ps.default_dscr * ds.T[:, :, None], cf_t)
    np.negative(np.maximum(cf_t, 0.0), out=need, where=(ds.T <= 0)[:, :, None])
    n = cf.shape[1]
    res = np.repeat(cap, n, axis=1)
    units = np.repeat(ps.param("btc_held")[rows][:, None], n, axis=1)
    tau = np.full(res.shape, T)
    if not units.any():  # a reserve alone: no treasury to sell, none held
        return _reserve_default(need, cap, res, tau), np.zeros((*res.shape, T))
    sale = ((1.0 - ps.param("crypto_haircut")[rows]) * ps.model.btc_price0)[:, None]
    history = np.empty((T, *res.shape))
    with np.errstate(invalid="ignore", divide="ignore"):
        for t in range(T):
            history[t] = units
            nd = need[t]
            price = sale * btc_end[None, :, t]
            fail = (tau == T) & (nd > res + units * price)
            tau[fail] = t
            over = np.maximum(nd - res, 0.0)
            res = np.minimum(cap, res - nd + over)
            units = np.maximum(units - np.where(over > 0, over / price, 0.0), 0.0)
    return tau, history.transpose(1, 2, 0)


def _reserve_default(need: np.ndarray, cap: np.ndarray, res: np.ndarray,
                     tau: np.ndarray) -> np.ndarray:
    """First period whose ``need`` (T, nl, n) exceeds the reserve ``res``, which then pays
    it and refills from surpluses up to ``cap``: ``res <- min(cap, max(res - need, 0))``.

    In place on ``res`` and ``tau`` (``T`` where none), four array operations a period.
    """
    T = need.shape[0]
    short = np.empty(res.shape, dtype=bool)
    for t in range(T):
        np.greater(need[t], res, out=short)
        if short.any():
            np.copyto(tau, t, where=short & (tau == T))
        np.subtract(res, need[t], out=res)
        np.maximum(res, 0.0, out=res)
        np.minimum(res, cap, out=res)
    return tau


def _at(arr: np.ndarray, per: np.ndarray) -> np.ndarray:
    """``arr[f, p, per[f, p]]`` for ``arr`` (ng or 1, n, T) and ``per`` (ng, n)."""
    if arr.shape[0] == 1:
        return arr[0][np.arange(per.shape[1])[None, :], per]
    return np.take_along_axis(arr, per[..., None], axis=-1)[..., 0]


class _Units:
    """BTC units held at the start of a period: the treasury, drawn down where sold."""

    def __init__(self, held: np.ndarray, rows: np.ndarray, history: np.ndarray | None):
        self.held, self.rows, self.history = held[:, None], rows, history

    def at(self, per: np.ndarray) -> np.ndarray:
        out = np.broadcast_to(self.held, per.shape).copy()
        if self.rows.size:
            out[self.rows] = _at(self.history, per[self.rows])
        return out


def _evaluate(ps: _Pass, bufs: tuple) -> None:
    """One pass: DSCR, payment and refinancing default, loss; results into ``ps.out``.

    Every facility of a pass follows one generation: its market broadcasts, no copy.
    """
    T, model = ps.T, ps.model
    g = int(ps.param("generation_index")[0])
    _, btc_end, shock_mean, shock_end, _ = ps.view
    s_rev = shock_mean[g][None, :, :T]
    s_end = s_rev if ps.m == 12 else shock_end[g][None, :, :T]  # monthly: the same months
    btc_end = btc_end[:, :T]
    ng, n = ps.idx.size, s_rev.shape[1]
    size = ng * n * T
    cf, stop = _cfads(ps, s_rev, bufs[0][:size].reshape(ng, n, T))
    ds = ps.series("debt_service")
    ar = np.arange(ng)
    bal = ps.param("balloon_period")
    b = np.clip(bal, 0, T - 1)
    cf_b = cf[ar, :, b]
    liquid = (ps.param("liquidity") > 0) | (ps.param("btc_held") > 0)
    rows = np.flatnonzero(liquid)
    tau_pay = np.full((ng, n), T)
    history = None
    if rows.size:
        tau_pay[rows], history = _drain(ps, rows, cf[rows], ds[rows], btc_end)
    units = _Units(ps.param("btc_held"), rows, history)
    dscr = np.divide(cf, np.where(ds > 0, ds, np.nan)[:, None, :], out=cf)  # NaN: no DSCR
    min_dscr = np.fmin.reduce(dscr, axis=-1)
    dry = np.flatnonzero(~liquid & (min_dscr < ps.default_dscr).any(axis=1))
    if dry.size:
        short = dscr[dry] < ps.default_dscr
        tau_pay[dry] = np.where(short.any(axis=-1), short.argmax(axis=-1), T)

    # A balloon refinances when LTV <= refi_max_ltv and CFADS covers the new debt's
    # service refi_min_dscr times; otherwise the facility defaults in that period.
    debt = ps.series("debt_outstanding")
    bb = np.repeat(b[:, None], n, axis=1)
    cover_b = (ps.series("collateral_value")[ar, b][:, None]
               * _at(s_end, bb) ** model.collateral_beta
               + units.at(bb) * model.btc_price0 * btc_end[:, b].T)
    debt_b = debt[ar, b][:, None]
    amount = np.maximum(debt_b - ds[ar, b][:, None], 0.0)
    # A contract still paying after the balloon is collateral to a lease lender; an
    # unsecured obligation is refinanced on the borrower's coverage alone (its lender
    # takes no collateral, so no LTV test).
    cover_b = cover_b + np.where(stop > bb, ps.param("contract_value")[:, None], 0.0)
    secured = np.isnan(ps.param("unsecured_recovery"))[:, None]
    refi_fail = ((bal >= 0) & (bal < T))[:, None] & (tau_pay > bb) & (
        (secured & (debt_b > ps.param("refi_max_ltv")[:, None] * cover_b))
        | (cf_b < (ps.param("refi_min_dscr") * ps.param("refi_debt_service_factor")
                   )[:, None] * amount))
    tau = np.where(refi_fail, bb, tau_pay)
    _losses(ps, tau, s_end, btc_end, units, debt)
    o, fi, pi = ps.out, ps.idx, slice(ps.p0, ps.p1)
    o["min_dscr"][fi, pi] = min_dscr
    below_cov = min_dscr < ps.param("covenant_dscr")[:, None]
    o["counts"][:, fi] += np.stack([
        (min_dscr < 1.0).sum(axis=-1), below_cov.sum(axis=-1), (tau < T).sum(axis=-1),
        refi_fail.sum(axis=-1), ((tau < T) & (stop <= tau)).sum(axis=-1),
        (stop < ps.param("n_periods_f")[:, None]).sum(axis=-1),
        _ltv_above_1(ps, s_end, btc_end, debt, bufs)])


def _ltv_above_1(ps: _Pass, s_end, btc_end, debt, bufs) -> np.ndarray:
    """Paths where debt outstanding exceeds GPU collateral + treasury in some period."""
    beta = ps.model.collateral_beta
    ng, n, T = ps.idx.size, s_end.shape[1], ps.T
    held = ps.param("btc_held")
    rows = np.flatnonzero(held > 0)
    coll = ps.series("collateral_value")
    if beta == 1.0 and not rows.size:  # D > C s  <=>  s < D / C: one comparison a cell
        with np.errstate(divide="ignore", invalid="ignore"):
            level = np.where(coll > 0, debt / coll, np.where(debt > 0, np.inf, -np.inf))
        above = np.less(s_end, level[:, None, :], out=bufs[1][: ng * n * T].reshape(ng, n, T))
        return above.any(axis=-1).sum(axis=-1)
    cover = bufs[0][: ng * n * T].reshape(ng, n, T)  # CFADS is no longer needed
    base = s_end if beta == 1.0 else s_end ** beta
    np.multiply(base, coll[:, None, :], out=cover)
    if rows.size:
        cover[rows] += btc_end[None] * (held[rows] * ps.model.btc_price0)[:, None, None]
    above = np.greater(debt[:, None, :], cover, out=bufs[1][: ng * n * T].reshape(ng, n, T))
    return above.any(axis=-1).sum(axis=-1)


def _losses(ps: _Pass, tau, s_end, btc_end, units: _Units, debt) -> None:
    """Loss at the default period ``tau`` (undiscounted and discounted) and survival."""
    T, model = ps.T, ps.model
    defaulted = tau < T
    tc = np.minimum(tau, T - 1)
    ar = np.arange(ps.idx.size)[:, None]
    ead = debt[ar, tc]
    coll = ps.series("collateral_value")[ar, tc] * _at(s_end, tc) ** model.collateral_beta
    treasury = units.at(tc) * model.btc_price0 * btc_end[np.arange(tc.shape[1])[None], tc]
    recovery = (ps.param("liquidation_factor")[:, None] * coll
                + (1.0 - ps.param("crypto_haircut"))[:, None] * treasury)
    unsec = ps.param("unsecured_recovery")[:, None]
    loss = np.where(np.isnan(unsec), np.maximum(ead - recovery, 0.0),
                    (1.0 - np.nan_to_num(unsec)) * ead)
    loss = np.where(defaulted, loss, 0.0)
    rate = np.zeros_like(loss)
    np.divide(loss, ead, out=rate, where=ead > 0)
    o, fi, pi = ps.out, ps.idx, slice(ps.p0, ps.p1)
    o["loss"][fi, pi] = loss
    df = (1.0 + ps.param("discount_rate"))[:, None] ** -(np.arange(T) + 1.0)  # (ng, T)
    o["pv_loss"][fi, pi] = loss * df[ar, tc]
    o["loss_rate"][fi, pi] = rate
    # Default counts by period: survival, the risky annuity and the PD by year.
    flat = (ar * (o["hist"].shape[1]) + tau)[defaulted]
    o["hist"][fi] += np.bincount(flat, minlength=ps.idx.size * o["hist"].shape[1]
                                 ).reshape(ps.idx.size, -1)


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
             default_dscr: float = 1.0, return_losses: bool = False):
    """Credit metrics of each facility under the book's simulated market.

    Parameters
    ----------
    exposure : FacilityExposure
        The facilities' base-case cash flows, debt, collateral and customers.
    model : MarketModel or None
        The joint dynamics; None uses ``MarketModel()``.
    n_paths : int, default 10,000
        Paths P, >= 1. Standard errors shrink as ``1 / sqrt(P)``.
    seed : int, default 0
        Non-negative seed. It alone fixes the market; with a facility's id, that
        facility's customer draws.
    periods_per_year : int, default 12
        Periods a year m of the exposure's series: 1, 2, 4 or 12.
    chunk_paths : int or None, keyword-only
        Paths processed at once, a positive multiple of :data:`BLOCK_PATHS` (1,024).
        None: as many as ``max_bytes`` allows. It changes speed and memory only.
    max_bytes : int, default 64 MiB, keyword-only
        Budget for the working arrays of one pass (facilities x paths x periods cells at
        64 bytes each); facilities are batched in tenor order to fit, each simulated to
        its own maturity (its batch's longest). The per-path results kept add 32 bytes
        per facility and path.
    default_dscr : float, default 1.0, keyword-only
        A period is short when CFADS is below ``default_dscr`` x debt service, > 0.
        Default covenants sit at 1.00-1.05x.
    return_losses : bool, default False, keyword-only
        Also return each facility's discounted loss on each path, ``(F, P)``, for
        :mod:`gpucredit.portfolio`.

    Returns
    -------
    pandas.DataFrame (and ndarray if ``return_losses``)
        One row per facility (index ``facility_id``), columns:

        ``p_dscr_below_1``, ``p_dscr_below_covenant``
            Share of paths with DSCR < 1 (< ``covenant_dscr``) in at least one period
            with debt service (before any reserve).
        ``p_ltv_above_1``
            Share of paths where, in some period, debt outstanding exceeds the GPU
            collateral value plus the treasury's market value.
        ``pd``, ``pd_se``, ``n_defaults``
            Probability of default over the tenor, its standard error
            ``sqrt(pd (1 - pd) / P)`` and the number of defaulted paths.
        ``pd_payment``, ``pd_refinancing``
            Its split by cause (they sum to ``pd``): a payment default first, or a
            balloon that could not be refinanced.
        ``pd_customer_driven``
            Share of paths that defaulted at or after the period the contract revenue
            stopped (the customer and any backstop in default).
        ``p_contract_stop``
            Share of paths on which the contract revenue stops within the tenor.
        ``lgd``
            Mean over defaulted paths of ``loss / exposure at default`` (NaN if none).
        ``expected_loss``, ``el_se``, ``el_rate``
            Mean undiscounted loss, USD, its standard error, and over the first period's
            ``debt_outstanding``.
        ``pv_expected_loss``, ``pv_el_se``
            Mean of the loss discounted from its default period at ``discount_rate``.
        ``risky_annuity``, ``expected_exposure_years``
            ``sum_t DF_t D_t P(no default by t) / m`` (USD-years), with and without the
            discount factor: the fair spread is ``pv_expected_loss / risky_annuity``.
        ``cvar_95``, ``cvar_99``
            Mean loss of the worst 5% and 1% of paths, USD.
        ``min_dscr_q05``, ``min_dscr_q50``, ``min_dscr_q95``
            Quantiles across paths of each path's minimum DSCR; NaN if the facility never
            pays debt service.
        ``n_paths``, ``seed``
            The run's settings.
        ``cum_pd_y1`` ..
            Share of paths defaulted by the end of each year (the year holding the
            maturity counts to the maturity); NaN after the tenor.

    Notes
    -----
    On path p in period t, with :math:`s_{pt}` the facility's generation's rent shock
    (mean of the period's months), :math:`S_{pt}` the BTC price, :math:`c_t` the
    contract revenue, paid while :math:`t < \\tau^c` (the contract's stop), and
    :math:`\\ell` the re-leasing lag:

    .. math::

        \\text{CFADS}_{pt} = \\text{merchant}_t\\,s_{pt} + \\text{other}_t
            + \\text{mining}_t\\,\\frac{S_{pt}}{S_0} + c_t 1[t < \\tau^c]
            + \\text{TP}_t 1[t = \\tau^c] + \\text{relet}_t\\,s_{pt} 1[t \\ge \\tau^c + \\ell]

    **Customer default.** The customer defaults in the first period whose cumulative PD
    reaches :math:`\\Phi(\\sqrt{r}\\,Y + \\sqrt{1 - r}\\,\\varepsilon)`: Y the systematic
    factor of the facility's generation over its tenor (the standardised sum of that
    generation's rent innovations, :mod:`gpucredit.market`), so customers default more
    on paths where their GPUs' market weakens; :math:`\\varepsilon` the facility's own
    normal; r ``customer_correlation`` (one-factor Gaussian copula, D. X. Li, "On
    default correlation: a copula function approach", *Journal of Fixed Income* 9(4),
    2000). A backstop, with its own normal, keeps paying until it defaults too; the
    termination payment comes in when the customer's default stops the contract.

    **Payment default** is the first period whose shortfall
    :math:`\\text{default\\_dscr}\\,\\text{DS}_t - \\text{CFADS}_{pt}` exceeds the
    liquidity then available: the reserve (``liquidity``, drawn and refilled from surplus
    up to its size) plus the treasury sold at :math:`(1 - h_c) S_{pt}`. **Refinancing
    default**: at a balloon period b (with no earlier default) the facility refinances
    when :math:`D_b \\le \\text{refi\\_max\\_ltv} (C_b s_{pb}^{\\beta} + B S_{pb} + V)`,
    V the ``contract_value`` while the contract still pays (a test secured facilities
    alone take: an unsecured note refinances on cover), and
    :math:`\\text{CFADS}_{pb} \\ge \\text{refi\\_min\\_dscr} \\times (D_b - \\text{DS}_b)
    \\times \\text{refi\\_debt\\_service\\_factor}`; otherwise it defaults at b. The loss
    at default :math:`\\tau` is

    .. math::

        L = D_\\tau - \\min(f\\,C_\\tau\\,s_{p\\tau}^{\\beta} + (1 - h_c) B_\\tau S_{p\\tau},
        \\ D_\\tau) \\quad \\text{(secured)}, \\qquad
        L = (1 - R_u) D_\\tau \\quad \\text{(unsecured)}

    with f the liquidation factor, :math:`B_\\tau` the BTC units left and :math:`R_u`
    ``unsecured_recovery``. Collateral reads the rent shock at the period's last month.
    The reserve's balance at default is not counted as a recovery (conservative).

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
    >>> res[["pd", "pd_payment", "lgd", "min_dscr_q50"]].round(2)
                  pd  pd_payment  lgd  min_dscr_q50
    facility_id
    safe         0.0         0.0  NaN           2.0
    weak         1.0         1.0  0.7           0.8

    A reserve of 30 a period's shortfall of 20 covers only the first period:

    >>> from dataclasses import replace
    >>> r = simulate(replace(ex, liquidity=30.0), n_paths=500, seed=1)
    >>> int(r.loc["weak", "n_defaults"]), float(r.loc["weak", "cum_pd_y1"])
    (500, 1.0)
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
    ex = exposure
    tenors = ex.n_periods_f
    t_max = int(tenors.max())
    chunk = _path_chunk(chunk_paths, budget, t_max)
    rows = min(chunk, n_p)
    out = {name: np.empty((ex.n_facilities, n_p))
           for name in ("loss", "pv_loss", "loss_rate", "min_dscr")}
    out["counts"] = np.zeros((7, ex.n_facilities), dtype=np.int64)
    out["hist"] = np.zeros((ex.n_facilities, ex.n_periods), dtype=np.int64)
    live = np.arange(ex.n_periods)[None, :] < tenors[:, None]
    contract = (live & (ex.contract_revenue > 0)).any(axis=1)
    cells = max(1, budget // (rows * _BYTES_PER_CELL))
    groups = list(_groups(np.lexsort((tenors, ex.generation_index)), tenors,
                          ex.generation_index, cells))
    width = max(int(tenors[g].max()) * g.size for g in groups) * rows
    bufs = (np.empty(width), np.empty(width, dtype=bool))
    for p0 in range(0, n_p, chunk):
        p1 = min(n_p, p0 + chunk)
        view = _market_view(model, seed, m, p0, p1, t_max)
        idio = _idiosyncratic(ex, seed, p0, p1, contract)
        for idx in groups:
            T = int(tenors[idx].max())
            ps = _Pass(ex, idx, T, tuple(v[..., :T] for v in view), model, m, dflt,
                       idio[idx] if contract[idx].any() else None, contract[idx], out,
                       p0, p1)
            with np.errstate(over="ignore"):  # an overflow is an honest inf (DSCR, price)
                _evaluate(ps, bufs)
    frame = _summarise(out, ex, n_p, seed, m)
    return (frame, out["pv_loss"]) if return_losses else frame


def _path_chunk(chunk_paths, budget: int, t_max: int) -> int:
    if chunk_paths is None:
        fit = budget // (t_max * (_BYTES_PER_CELL + _MARKET_BYTES_PER_PERIOD))
        return max(BLOCK_PATHS, fit // BLOCK_PATHS * BLOCK_PATHS)
    chunk = _count(chunk_paths, "chunk_paths")
    if chunk % BLOCK_PATHS:
        raise GpuCreditError(
            f"chunk_paths must be a positive multiple of {BLOCK_PATHS} (the block of "
            f"paths that shares one random stream), got {chunk}",
            argument="chunk_paths", value=chunk)
    return chunk


def _groups(order: np.ndarray, tenors: np.ndarray, gens: np.ndarray, cells: int):
    """Facilities in (generation, tenor) order, batched by generation so that facilities
    x periods fits ``cells``."""
    start = 0
    while start < order.size:
        stop = start + 1
        while (stop < order.size and gens[order[stop]] == gens[order[start]]
               and (stop + 1 - start) * tenors[order[stop]] <= cells):
            stop += 1
        yield np.sort(order[start:stop])
        start = stop


def _market_view(model: MarketModel, seed: int, m: int, p0: int, p1: int, t_max: int):
    """The shared market for paths ``p0:p1`` (``p0`` block-aligned) on the grid ``m``.

    Filled block by block into arrays of the chunk's own size, so that no block's monthly
    draw outlives its copy (a strided view of a 60-month block would keep it whole).
    """
    months = t_max * (12 // m)
    n = p1 - p0
    out = None
    for i, b in enumerate(range(p0 // BLOCK_PATHS, math.ceil(p1 / BLOCK_PATHS))):
        part = period_view(market_block(model, seed, b, months), m, t_max)
        if out is None:
            out = tuple(np.empty((*v.shape[:-2], n, t_max)) for v in part)
        lo = i * BLOCK_PATHS
        hi = min(n, lo + BLOCK_PATHS)
        for dst, src in zip(out, part, strict=True):
            dst[..., lo:hi, :] = src[..., :hi - lo, :]
    return out


def _idiosyncratic(ex: FacilityExposure, seed: int, p0: int, p1: int,
                   which: np.ndarray) -> np.ndarray:
    """Each contract facility's own normals for paths ``p0:p1``, shape (F, 2, n)."""
    n = p1 - p0
    out = np.zeros((ex.n_facilities, 2, n))
    blocks = range(p0 // BLOCK_PATHS, math.ceil(p1 / BLOCK_PATHS))
    for f in np.flatnonzero(which):
        fid = ex.facility_ids[f]
        out[f] = np.concatenate([idiosyncratic_normals(seed, fid, b) for b in blocks],
                                axis=1)[:, :n]
    return out


def _summarise(out: dict, ex: FacilityExposure, n_p: int, seed: int,
               m: int) -> pd.DataFrame:
    counts = out["counts"]
    loss, pv = out["loss"], out["pv_loss"]
    n_def = counts[2]
    pd_ = n_def / n_p
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        lgd = np.where(n_def > 0, out["loss_rate"].sum(axis=1) / np.maximum(n_def, 1),
                       np.nan)
        se = (lambda x: x.std(axis=1, ddof=1) / math.sqrt(n_p)) if n_p > 1 else \
            (lambda x: np.full(x.shape[0], np.nan))
        el = loss.mean(axis=1)
        d0 = ex.debt_outstanding[:, 0]
        el_rate = np.where(d0 > 0, el / np.where(d0 > 0, d0, 1.0), np.nan)
    srt = np.sort(loss, axis=1)[:, ::-1]
    frame = pd.DataFrame({
        "p_dscr_below_1": counts[0] / n_p,
        "p_dscr_below_covenant": counts[1] / n_p,
        "p_ltv_above_1": counts[6] / n_p,
        "pd": pd_,
        "pd_se": np.sqrt(pd_ * (1.0 - pd_) / n_p),
        "pd_payment": (n_def - counts[3]) / n_p,
        "pd_refinancing": counts[3] / n_p,
        "pd_customer_driven": counts[4] / n_p,
        "p_contract_stop": counts[5] / n_p,
        "n_defaults": n_def,
        "lgd": lgd,
        "expected_loss": el,
        "el_se": se(loss),
        "el_rate": el_rate,
        "pv_expected_loss": pv.mean(axis=1),
        "pv_el_se": se(pv),
        **_annuities(out["hist"], ex, n_p, m),
        "cvar_95": _tail_mean(srt, 0.05),
        "cvar_99": _tail_mean(srt, 0.01),
        **_min_dscr_quantiles(out["min_dscr"]),
        "n_paths": n_p,
        "seed": seed,
    }, index=pd.Index(list(ex.facility_ids), name="facility_id"))
    return frame[_RESULT_COLUMNS].join(_pd_by_year(out["hist"], ex, n_p, m))


def _annuities(hist: np.ndarray, ex: FacilityExposure, n_p: int, m: int) -> dict:
    """``sum_t DF_t D_t S_t / m`` (USD-years) with and without discounting: ``S_t`` the
    share of paths without default by the end of period t (0-based), ``DF_t = (1 + r)^-(t+1)``
    at the facility's per-period rate, ``D_t`` the debt outstanding."""
    surv = 1.0 - np.cumsum(hist, axis=1) / n_p
    t = np.arange(1, ex.n_periods + 1)
    df = (1.0 + ex.discount_rate)[:, None] ** -t[None, :]
    live = t[None, :] <= ex.n_periods_f[:, None]
    exposure = np.where(live, ex.debt_outstanding * surv, 0.0)
    last = (np.arange(ex.n_facilities), ex.n_periods_f - 1)
    # sequential sums to the facility's own maturity: the same bits whatever the padding
    return {"risky_annuity": np.cumsum(df * exposure, axis=1)[last] / m,
            "expected_exposure_years": np.cumsum(exposure, axis=1)[last] / m}


def _min_dscr_quantiles(md: np.ndarray) -> dict:
    q = np.full((3, md.shape[0]), np.nan)
    ok = ~np.isnan(md).any(axis=1)
    if ok.any():
        q[:, ok] = np.quantile(md[ok], [0.05, 0.5, 0.95], axis=1)
    return {"min_dscr_q05": q[0], "min_dscr_q50": q[1], "min_dscr_q95": q[2]}


def _pd_by_year(hist: np.ndarray, ex: FacilityExposure, n_p: int, m: int) -> pd.DataFrame:
    """``cum_pd_y1 .. cum_pd_yY``: share of paths defaulted by the end of each year of the
    tenor (the year holding the maturity counts to maturity); NaN after."""
    years = math.ceil(int(ex.n_periods_f.max()) / m)
    cum = np.cumsum(hist, axis=1) / n_p
    ends = np.minimum(np.arange(1, years + 1) * m, ex.n_periods) - 1
    table = cum[:, ends]
    table[np.arange(1, years + 1)[None, :] > np.ceil(ex.n_periods_f / m)[:, None]] = np.nan
    last = ex.n_periods_f - 1
    in_last = np.ceil(ex.n_periods_f / m).astype(int) - 1
    table[np.arange(ex.n_facilities), in_last] = cum[np.arange(ex.n_facilities), last]
    return pd.DataFrame(table, columns=[f"cum_pd_y{y}" for y in range(1, years + 1)],
                        index=pd.Index(list(ex.facility_ids), name="facility_id"))


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
