"""One facility or a whole portfolio through the whole pipeline.

The modules below this one each hold one concept (curves, rents, fleet, debt, coverage,
collateral, miners). This module composes them, in one place, into what an analyst asks of
a facility: its cash flows, its debt schedule, its coverage ratios and breakevens, its
collateral value before and after a realistic liquidation haircut, and the mismatch
between the loan's life and the asset's. It adds no formula of its own: every number comes
from a function of the concept modules, named at the line that uses it.

:class:`Facilities` holds the inputs (one value per facility, or a scalar shared by all);
:func:`evaluate` runs them on one time grid and returns an :class:`Evaluation` whose
``metrics`` table has one row per facility and whose arrays have one row per facility and
one column per period. Nothing loops over facilities: facilities that differ in
amortisation profile or residual-curve family are evaluated in vectorised groups.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gpucredit import collateral, coverage, curves, debt, fleet, miners, montecarlo, ratings, rents
from gpucredit._checks import check_periods_per_year, check_range
from gpucredit.errors import GpuCreditError
from gpucredit.periods import ages, period_ends

__all__ = ["AMORTIZATIONS", "GENERATIONS", "SENIORITIES", "Evaluation", "Facilities",
           "credit_inputs", "evaluate", "exposure", "simulate"]

AMORTIZATIONS = ("annuity", "straight_line", "bullet", "sculpted")
"""Amortisation profiles a facility may carry (``sculpted``: to ``target_dscr``)."""

GENERATIONS = ("ampere", "hopper", "blackwell", "rubin")
"""GPU generations with a market rent index of their own (A100: ampere; H100, H200: hopper;
B200, GB200: blackwell)."""

SENIORITIES = ("secured", "senior_unsecured", "subordinated")
"""Ranks of a facility's claim: on the GPUs, or on the borrower as a whole."""


@dataclass(frozen=True)
class Facilities:
    """Inputs of one facility (scalars) or of a portfolio (one value per facility).

    Every numeric field is a scalar or a 1-D array of length F; text fields (``ids``,
    ``amortization``, ``residual_curve``) a string or a sequence of F strings. A field left
    at ``None`` takes the default of the core function that uses it, documented there
    with its source.

    Attributes
    ----------
    gpus : array_like
        GPUs in the financed fleet.
    gpu_unit_cost : array_like
        Cost of one GPU when new, USD (the residual curve's base).
    merchant_rent : array_like
        Today's market rent, USD per GPU-hour (the start of the merchant rent path).
    utilization : array_like
        Share of uncontracted GPU-hours sold, in [0, 1].
    debt : array_like
        Amount outstanding (drawn) at the start of period 1, USD. For ``sculpted``
        facilities the amount to sculpt (0 = the debt capacity at ``target_dscr``).
    annual_rate : array_like
        Fixed nominal annual rate: one per facility ``(F,)``, or an all-in path ``(F, T)``
        on the evaluation grid. Ignored for floating facilities.
    tenor : array_like of int
        Loan tenor in periods from now.
    ids : sequence of str, optional
        Facility identifiers (default ``"1".."F"``).
    floating : array_like of bool, default False
        Floating-rate facilities pay ``max(base_rate, rate_floor) + spread``
        (:func:`gpucredit.debt.floating_rate`) instead of ``annual_rate``.
    base_rate : array_like, default 0.0
        Base rate (e.g. SOFR): a scalar, one per facility, or a path ``(T,)``/``(F, T)``.
    spread, rate_floor : array_like, default 0.0
        Margin over the base rate and the floor on the base rate.
    amortization : str or sequence of str, default "annuity"
        One of :data:`AMORTIZATIONS` per facility.
    refinance_balloon : array_like of bool, default True
        A bullet's final principal is refinanced, not paid from cash flow: DSCR and the
        covenants test interest (and any scheduled amortisation) and the balloon is
        measured by the refinancing LTV at maturity, the Monte Carlo defaults at maturity
        when the collateral no longer covers it. False tests the balloon as debt service
        (DSCR then collapses in the maturity period).
    amortization_start : array_like of int, default 1
        First amortising period (earlier periods are interest-only).
    draws : array_like (F, T), optional
        Delayed draws at the start of each period (:func:`gpucredit.debt.schedule`). Each
        draw buys GPUs at today's debt per GPU (``debt / gpus``), delivered new at the draw
        (see :func:`_gpus_bought`): the fleet that earns and the collateral grow with it.
    availability_periods : array_like of int, default 0
        Periods from today to the end of the availability period of a delayed-draw term
        loan; the undrawn commitment ``commitment - debt`` is drawn in equal parts at the
        start of periods 1..k (:func:`_draws`), on top of ``draws``. 0: no
        further draws (the undrawn commitment is not available).
    target_dscr : array_like, optional
        Sculpting target; default the lock-up covenant.
    cash_sweep : array_like, default 0.0
        Share of CFADS left after scheduled debt service that prepays the loan
        (:func:`gpucredit.coverage.cash_sweep`; docs/sources.md: TeraWulf's 50% offer).
    commitment, advance_rate : array_like, optional
        For the borrowing base today: the facility's commitment (default the debt) and
        the advance rate on the collateral's liquidation-haircut value
        (:func:`gpucredit.collateral.borrowing_base`); no borrowing base without
        ``advance_rate``.
    age0 : array_like, default 0.0
        Age of the GPUs today, years.
    rent_deflation : array_like, default 0.25
        Annual trend deflation of the merchant rent. docs/sources.md: inference cost falls
        20-40% a year; Epoch AI's price-performance trends give 21-28%; 0.25 is the middle.
    merchant_rent_path : array_like (F, W), optional
        Merchant rent of each of the first W periods, USD per GPU-hour, e.g. from a
        forward curve (:func:`gpucredit.rents.forward_path`); a row of NaN keeps the
        trend path ``merchant_rent x (1 - rent_deflation)^((t-1)/m)``. Beyond period W
        the rent goes on from the path's last value at ``rent_deflation``. None: the
        trend for every facility.
    contracted_share, contract_rate, contract_periods : array_like, default 0
        Take-or-pay share of the fleet, its rate (USD per GPU-hour) and the number of
        periods it still runs (:func:`gpucredit.rents.contracted_merchant`).
    kw_per_gpu, pue, power_price, colocation_rate, other_opex, maintenance_capex,
    tax_rate : array_like, optional
        Fleet costs, as :func:`gpucredit.fleet.cfads` (``power_price`` is its
        ``price_per_kwh``, ``colocation_rate`` its ``colocation_per_kw_month``,
        ``other_opex`` and ``maintenance_capex`` are per GPU per year).
    dscr_lockup, dscr_default, llcr_lockup : array_like, optional
        Covenant levels; default :data:`gpucredit.coverage.TYPICAL_COVENANTS`.
    residual_curve : str or sequence of str, default "exponential_floor"
        Residual-value family per facility (:data:`gpucredit.curves.FAMILIES`).
    curve_params : mapping of str to array_like, optional
        The families' parameters (``lam``, ``floor``, ``life`` ...); a parameter a
        facility's family does not take is ignored for that facility.
    residual_curve_low, residual_curve_high : str or sequence of str, optional
        Curve families of the low and high ends of the residual-value band (e.g. from
        :meth:`gpucredit.presets.GpuPreset.band`), with their parameters in
        ``curve_params_low``/``curve_params_high``; they give today's
        ``market_value_low/high`` and ``ltv_market_low/high`` (NaN when not given).
    step_ages : array_like (F, k), optional
        Ages at which successor generations reach volume (NaN-padded), for the
        generation step-downs of the residual curve.
    generation_jump : array_like, default 0.25
        Value lost at each successor step (docs/sources.md: about 20-30%).
    attrition_rate : array_like, default 0.0
        GPUs failing a year since delivery (about 9%: Meta, "The Llama 3 Herd of Models",
        2024, section 3.3.4, our annualisation): the collateral and the revenue both count
        the GPUs still working (:func:`gpucredit.fleet.cfads`'s ``working_share``).
    step_down, step_down_period : array_like, default 0
        A further step-down of rents **and** collateral values by ``step_down`` from
        period ``step_down_period`` on (0 = none): the stress scenario of a new
        generation landing early.
    economic_life_years : array_like, default 5.0
        The asset's economic life, for PLCR and duration mismatch. docs/sources.md: hyperscalers
        depreciate over 5.5-6 years, Nebius 4, critics argue 2-3; 5 sits between.
    market_absorption : array_like, default 2000.0
        GPUs of this model the secondary market absorbs a month. Our estimate: docs/sources.md
        notes there is no deep resale market; set it per model and deal.
    liquidation_months, install_haircut, sale_costs : array_like, optional
        Liquidation horizon (months, default 6), the installation-dependency discount and
        sale costs (:func:`gpucredit.collateral.liquidation_value`).
    price_vol_monthly, impact_coefficient : array_like, optional
        Monthly volatility of used-GPU prices and the coefficient Y of the square-root
        impact law (``sigma_monthly`` and ``y`` of
        :func:`gpucredit.collateral.liquidation_value`, whose defaults apply).
    btc_held : array_like, default 0.0
        BTC pledged to (or held by the borrower for) the facility.
    btc_price : array_like, default 90,000.0
        BTC price today, USD (an illustrative level; the tape's Assumptions set it).
    hashrate_ph : array_like, default 0.0
        Self-mining capacity, PH/s (miners).
    network_difficulty : array_like, default 146.4e12
        Bitcoin network difficulty: 146.4 trillion at the first adjustment of 2026 (the
        Bitcoin blockchain, as reported).
    hashcost_per_ph_day : array_like, default 0.0
        Cash cost of mining other than power, USD per PH/s per day.
    counterparty_rating, backstop_rating : str or sequence of str, optional
        S&P ratings of the contract customer and of a guarantor of its payments (blank:
        none); a contract without a rated customer takes ``default_counterparty_rating``
        ("B+": our estimate for an unrated AI customer, a typical speculative-grade
        credit). Read by :func:`credit_inputs` through :mod:`gpucredit.ratings`.
    termination_payment_months : array_like, default 0.0
        Months of contracted revenue the customer owes on early termination.
    releasing_lag_months, releasing_rent_factor : array_like, default 6.0 and 0.85
        Months the GPUs of a defaulted contract earn nothing, and the re-leased rent as a
        share of the market rent (our estimates, between SpotWire's orderly 180-day and
        broker 85% realisation factors).
    dsra_amount, liquidity_facility : array_like, default 0.0
        Debt service reserve and liquidity facility available from today, USD.
    seniority : str or sequence of str, default "secured"
        ``secured`` (recovers from the GPUs), ``senior_unsecured`` or ``subordinated``
        (recover ``recovery_senior_unsecured`` = 0.38 or ``recovery_subordinated`` = 0.28
        from the borrower as a whole: Moody's Annual Default Study 1920-2023, senior
        unsecured 37-40%, subordinated 25-30%, as reported).
    refi_max_ltv, refi_min_dscr, refi_tenor_years, refi_spread : array_like
        What a refinancing lender offers at a balloon: 65% of market value (lenders
        advance 60-70% of GPU value, as reported), a 1.25x DSCR (Yescombe 2014, ch. 14),
        a 3-year annuity (our estimate) at the base rate + 6% (CoreWeave DDTL 2.0).
    tax_depreciation_schedule : sequence of float, optional
        Share of the fleet's cost deducted in each tax year after delivery; None: the
        MACRS 5-year schedule (:data:`gpucredit.fleet.MACRS_5_YEAR`, IRS Publication
        946); ``()`` for none.
    tax_interest_deductible : bool, default True
        Cash tax on EBITDA - tax depreciation - interest with losses carried forward
        (:func:`gpucredit.fleet.cash_tax`); False taxes EBITDA - tax depreciation period
        by period.
    mining_efficiency : array_like, default 17.5
        Self-mining fleet's J/TH (Bitmain Antminer S21: 17.5), its power paid at
        ``mining_power_price`` (default: ``power_price``) on top of
        ``hashcost_per_ph_day``.
    fees_per_block : array_like, default 0.025
        Transaction fees per block, BTC (our estimate: about 1% of the subsidy in 2025).
    customer_default_period : array_like of int, default 0
        The deterministic customer-default scenario: the contract customer defaults at
        the start of this period (0: never) and, without a backstop, the contract stops,
        the termination claim is recovered and the GPUs re-lease after the lag
        (:func:`gpucredit.scenarios.standard_scenarios`' ``customer_default_1y``).
    generation : str or sequence of str, default "hopper"
        GPU generation whose market rent index the facility follows: one of
        :data:`GENERATIONS`.
    """

    gpus: object
    gpu_unit_cost: object
    merchant_rent: object
    utilization: object
    debt: object
    annual_rate: object
    tenor: object
    ids: Sequence[str] | None = None
    floating: object = False
    base_rate: object = 0.0
    spread: object = 0.0
    rate_floor: object = 0.0
    amortization: object = "annuity"
    refinance_balloon: object = True
    amortization_start: object = 1
    draws: object = None
    availability_periods: object = 0
    target_dscr: object = None
    cash_sweep: object = 0.0
    commitment: object = None
    advance_rate: object = None
    age0: object = 0.0
    rent_deflation: object = 0.25
    merchant_rent_path: object = None
    contracted_share: object = 0.0
    contract_rate: object = 0.0
    contract_periods: object = 0
    kw_per_gpu: object = None
    pue: object = None
    power_price: object = None
    colocation_rate: object = None
    other_opex: object = None
    maintenance_capex: object = None
    tax_rate: object = None
    dscr_lockup: object = None
    dscr_default: object = None
    llcr_lockup: object = None
    residual_curve: object = "exponential_floor"
    curve_params: Mapping[str, object] = field(default_factory=dict)
    residual_curve_low: object = None
    curve_params_low: Mapping[str, object] = field(default_factory=dict)
    residual_curve_high: object = None
    curve_params_high: Mapping[str, object] = field(default_factory=dict)
    step_ages: object = None
    generation_jump: object = 0.25
    attrition_rate: object = 0.0
    step_down: object = 0.0
    step_down_period: object = 0
    economic_life_years: object = 5.0
    market_absorption: object = 2000.0
    liquidation_months: object = 6.0
    install_haircut: object = None
    sale_costs: object = None
    price_vol_monthly: object = None
    impact_coefficient: object = None
    btc_held: object = 0.0
    btc_price: object = 90_000.0
    hashrate_ph: object = 0.0
    network_difficulty: object = 146.4e12
    hashcost_per_ph_day: object = 0.0
    counterparty_rating: object = None
    backstop_rating: object = None
    default_counterparty_rating: str = "B+"
    termination_payment_months: object = 0.0
    releasing_lag_months: object = 6.0
    releasing_rent_factor: object = 0.85
    dsra_amount: object = 0.0
    liquidity_facility: object = 0.0
    seniority: object = "secured"
    recovery_senior_unsecured: object = 0.38
    recovery_subordinated: object = 0.28
    refi_max_ltv: object = 0.65
    refi_min_dscr: object = 1.25
    refi_tenor_years: object = 3.0
    refi_spread: object = 0.06
    generation: object = "hopper"
    customer_default_period: object = 0
    tax_depreciation_schedule: Sequence[float] | None = None
    tax_interest_deductible: bool = True
    mining_efficiency: object = 17.5
    mining_power_price: object = None
    fees_per_block: object = 0.025

    @property
    def n(self) -> int:
        """Number of facilities."""
        sizes = {np.size(getattr(self, f)) for f in ("gpus", "debt", "tenor")}
        return max(sizes)

    def replace(self, **changes) -> Facilities:
        """A copy with some fields changed (the stress scenarios use this)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Evaluation:
    """A portfolio evaluated on one time grid.

    Arrays are ``(F, T)``: facility in the row, period ``t`` in column ``t - 1``; periods
    after a facility's maturity carry zero debt and no DSCR.

    Attributes
    ----------
    ids : list of str
    periods_per_year : int
    tenor : ndarray of int
    flows : gpucredit.fleet.FleetCashFlows
    schedule : gpucredit.debt.DebtSchedule
        Scheduled payments; with a cash sweep ``closing = opening + draw - principal -
        sweep``.
    sweep : ndarray
        Prepayments from the cash sweep.
    balloon : ndarray
        A bullet's final principal, refinanced rather than paid from CFADS: left out of
        the debt service that DSCR, covenants and breakevens test.
    dscr, llcr : ndarray
    residual : ndarray
        Residual value as a share of cost (after any step-down).
    market_value, liquidation_value : ndarray
        Collateral value in an orderly market and in a forced sale, USD.
    ltv_market, ltv_liquidation : ndarray
        Debt outstanding (with the period's accrued interest) over each value.
    lgd : ndarray
        Loss given default if the borrower defaults in the period.
    mining_revenue, mining_cfads : ndarray
        Self-mining revenue and cash flow after hashcost (miners), USD per period.
    metrics : pandas.DataFrame
        One row per facility; the columns are listed in :func:`evaluate`.
    inputs : Facilities, optional
        The inputs evaluated (for :func:`credit_inputs`).
    rate : ndarray, optional
        All-in annual rate per facility and period (fixed, or floored base + spread).
    """

    ids: list[str]
    periods_per_year: int
    tenor: np.ndarray
    flows: fleet.FleetCashFlows
    schedule: debt.DebtSchedule
    sweep: np.ndarray
    balloon: np.ndarray
    dscr: np.ndarray
    llcr: np.ndarray
    residual: np.ndarray
    market_value: np.ndarray
    liquidation_value: np.ndarray
    ltv_market: np.ndarray
    ltv_liquidation: np.ndarray
    lgd: np.ndarray
    mining_revenue: np.ndarray
    mining_cfads: np.ndarray
    metrics: pd.DataFrame
    inputs: Facilities | None = None
    rate: np.ndarray | None = None

    def periods_frame(self) -> pd.DataFrame:
        """Every period of every facility in long format (one row per facility-period).

        Rows after a facility's maturity are left out.
        """
        n_f, n_t = self.dscr.shape
        period = np.tile(np.arange(1, n_t + 1), n_f)
        keep = (period <= np.repeat(self.tenor, n_t))
        s, f = self.schedule, self.flows
        data = {
            "facility_id": np.repeat(np.asarray(self.ids, dtype=object), n_t),
            "period": period,
            "year": np.tile(period_ends(n_t, self.periods_per_year), n_f),
            "revenue": f.revenue, "opex": f.power + f.colocation + f.other_opex,
            "maintenance_capex": f.maintenance_capex, "tax": f.tax, "cfads": f.cfads,
            "opening_balance": s.opening, "draw": s.draw, "interest": s.interest,
            "principal": s.principal, "sweep": self.sweep, "balloon": self.balloon,
            "debt_service": s.debt_service,
            "closing_balance": s.closing, "dscr": self.dscr, "llcr": self.llcr,
            "residual_value": self.residual, "market_value": self.market_value,
            "liquidation_value": self.liquidation_value, "ltv_market": self.ltv_market,
            "ltv_liquidation": self.ltv_liquidation, "lgd": self.lgd,
        }
        return pd.DataFrame({k: np.ravel(v) for k, v in data.items()})[keep].reset_index(
            drop=True)


# --------------------------------------------------------------------------- helpers


def _vector(x, name: str, n: int, low=None, high=None, *, low_open=False) -> np.ndarray:
    """A facility field as a float array of shape (F,)."""
    arr = check_range(x, name, low, high, low_open=low_open)
    if arr.ndim == 0:
        return np.full(n, float(arr))
    if arr.shape != (n,):
        raise GpuCreditError(
            f"{name} must be one value per facility ({n}), got an array of shape {arr.shape}",
            argument=name, value=x)
    return arr


def _whole(x, name: str, n: int, low: int) -> np.ndarray:
    arr = _vector(x, name, n, low)
    if not np.all(arr == np.round(arr)):
        bad = arr[arr != np.round(arr)][0]
        raise GpuCreditError(f"{name} must be a whole number of periods, got {bad:g}",
                             argument=name, value=bad)
    return arr.astype(int)


def _labels(x, name: str, n: int, allowed: Sequence[str]) -> np.ndarray:
    values = [x] * n if isinstance(x, str) else list(x)
    if len(values) != n:
        raise GpuCreditError(f"{name} must be one value per facility ({n}), got {len(values)}",
                             argument=name, value=x)
    out = np.array([str(v).strip().lower() for v in values], dtype=object)
    for i, v in enumerate(out):
        if v not in allowed:
            raise GpuCreditError(
                f"{name} must be one of {', '.join(allowed)}, got {values[i]!r} "
                f"(facility {i + 1})", argument=name, value=values[i])
    return out


def _flags(x, name: str, n: int) -> np.ndarray:
    """A per-facility yes/no field as a bool array of shape (F,)."""
    arr = np.asarray(x, dtype=bool)
    if arr.ndim == 0:
        return np.full(n, bool(arr))
    if arr.shape != (n,):
        raise GpuCreditError(
            f"{name} must be one value per facility ({n}), got {arr.size} values",
            argument=name, value=x)
    return arr


def _opt(**kwargs) -> dict:
    """Keyword arguments that were given (``None`` means: the core default)."""
    return {k: v for k, v in kwargs.items() if v is not None}


def _col(x, n: int | None = None) -> np.ndarray:
    """A (F,) field as (F, 1) for broadcasting against periods."""
    arr = np.asarray(x, dtype=float)
    return arr[:, None] if arr.ndim == 1 else arr


def _merchant_path(fac: Facilities, n: int, n_t: int, m: int) -> np.ndarray:
    """The merchant rent path (F, T): the trend, or ``merchant_rent_path`` where given
    and, beyond its W periods, its last value deflated at ``rent_deflation``."""
    deflation = _vector(fac.rent_deflation, "rent_deflation", n, high=0.999)
    trend = rents.trend_path(_vector(fac.merchant_rent, "merchant_rent", n, 0), deflation,
                             n_t, m)
    if fac.merchant_rent_path is None:
        return trend
    given = np.asarray(fac.merchant_rent_path, dtype=float)
    if given.ndim != 2 or given.shape[0] != n or given.shape[1] < 1:
        raise GpuCreditError(f"merchant_rent_path must be a table of {n} rows (one per "
                             f"facility) and at least one period, got shape {given.shape}",
                             argument="merchant_rent_path", value=given.shape)
    finite = np.isfinite(given)
    rows = finite.all(axis=1)
    partial = np.flatnonzero(finite.any(axis=1) & ~rows)
    if partial.size:
        raise GpuCreditError("merchant_rent_path: a facility's row must be all numbers or "
                             "all blank (NaN: the trend)", argument="merchant_rent_path",
                             value=int(partial[0]))
    check_range(given[rows], "merchant_rent_path", 0, low_open=True)
    w = min(given.shape[1], n_t)
    beyond = given[:, w - 1:w] * rents.trend_path(1.0, deflation, n_t - w + 1, m)[:, 1:]
    path = np.concatenate([given[:, :w], beyond], axis=1)
    return np.where(rows[:, None], path, trend)


def _grid(x, name: str, n: int, n_t: int, low=None) -> np.ndarray:
    """A per-facility value or a path as an (F, T) grid."""
    arr = check_range(x, name, low)
    if arr.ndim == 0 or arr.shape == (n,):
        return _vector(arr, name, n)[:, None] * np.ones(n_t)
    if arr.shape == (n_t,) or arr.shape == (1, n_t):
        return np.broadcast_to(arr.reshape(1, n_t), (n, n_t)).copy()
    if arr.shape != (n, n_t):
        raise GpuCreditError(
            f"{name} must be one value per facility ({n}) or a path over the {n_t} periods, "
            f"got an array of shape {arr.shape}", argument=name, value=arr.shape)
    return arr


def _rate_grid(fac: Facilities, n: int, n_t: int) -> np.ndarray:
    """All-in annual rate per facility and period: fixed, or floored base plus spread."""
    fixed = _grid(fac.annual_rate, "annual_rate", n, n_t, -0.99)
    floating = _flags(fac.floating, "floating", n)
    if not floating.any():
        return fixed
    base = _grid(fac.base_rate, "base_rate", n, n_t)
    all_in = debt.floating_rate(base, _vector(fac.spread, "spread", n),
                                _vector(fac.rate_floor, "rate_floor", n))
    return np.where(floating[:, None], all_in, fixed)


# --------------------------------------------------------------------------- pipeline


def evaluate(fac: Facilities, periods_per_year: int, horizon: int | None = None) -> Evaluation:
    """Run facilities through cash flows, debt, coverage, collateral and mismatch.

    Parameters
    ----------
    fac : Facilities
        The facilities' inputs.
    periods_per_year : int
        1, 2, 4 or 12: the grid every facility of this call runs on.
    horizon : int, optional
        Periods to model; default the longer of the longest tenor and the longest
        economic life (so PLCR sees cash flows to the end of each asset's life left; the
        grid does not depend on the GPUs' ages, so a chunk's results never depend on
        which facilities share it).

    Returns
    -------
    Evaluation
        Its ``metrics`` table has one row per facility (index ``facility_id``) with:
        ``debt`` (lent today plus every draw), ``undrawn`` (commitment - debt today),
        ``expected_draws`` and ``gpus_bought`` (by the draws), ``tenor_years``,
        ``wal_years``, ``economic_life_years``, ``age_years``
        (the GPUs' age today), ``remaining_life_years`` (life - age, >= 0),
        ``wal_to_life`` = (age + WAL) / life and ``life_gap_years`` = age + WAL - life
        (duration mismatch, the asset's clock started at delivery), ``min_dscr``,
        ``avg_dscr``, ``llcr`` and ``plcr`` (at period 1; PLCR over the asset life left),
        ``min_llcr``,
        ``first_breach_lockup`` and ``first_breach_default`` (1-based period, 0 =
        never), ``min_headroom_pct`` and ``min_headroom_usd`` (against lock-up),
        ``breakeven_rent`` (flat merchant rent for min DSCR 1.00x),
        ``breakeven_rent_lockup``, ``breakeven_utilization``, ``breakeven_deflation``
        (annual merchant-rent deflation for min DSCR 1.00x; NaN: already below 1.00x
        at no deflation; 0.99: above it even at 99%) with ``breakeven_deflation_bound``
        (">", "<" or "="), ``breakeven_rent_status`` and ``breakeven_utilization_status``
        ("covered by contract", "not reachable" or "solved"), ``debt_capacity`` (sculpted at
        ``target_dscr``), ``market_value``, ``liquidation_value``, ``haircut``,
        ``ltv_market`` and ``ltv_liquidation``: all as of the valuation date (t = 0: the
        GPUs at their age today, the debt outstanding today, no interest accrued), with
        the band ``market_value_low/high`` and ``ltv_market_low/high`` from the low and
        high residual curves; ``max_ltv_market``,
        ``max_ltv_liquidation``, ``first_collateral_shortfall`` (first period the
        liquidation value is below the debt), ``lgd_now`` (today), ``lgd_at_breach`` (if the
        facility defaults at its first DSCR below 1.00x), ``min_dscr_combined`` (miners:
        hosting plus self-mining CFADS), ``treasury_value``, ``btc_held``,
        ``borrowing_base`` and ``required_prepayment`` (today, with ``advance_rate``),
        ``balloon`` (a bullet's refinanced final principal) with
        ``refinancing_ltv_market`` and ``refinancing_ltv_liquidation`` (LTV at
        maturity), ``dscr_lockup`` and ``dscr_default`` (the covenant levels used).

        Coverage ratios test the debt service without a bullet's balloon (see
        ``Facilities.refinance_balloon``); LLCR and PLCR keep it.

    Examples
    --------
    >>> fac = Facilities(gpus=1000, gpu_unit_cost=30_000, merchant_rent=2.4,
    ...                  utilization=0.85, debt=18e6, annual_rate=0.10, tenor=48)
    >>> ev = evaluate(fac, 12)
    >>> m = ev.metrics.iloc[0]
    >>> [round(float(m[k]), 2) for k in ("min_dscr", "ltv_market", "wal_years")]
    [0.32, 0.6, 2.17]
    >>> bool(m.first_breach_default > 0)
    True
    """
    m = check_periods_per_year(periods_per_year)
    n = fac.n
    ids = [str(i) for i in (fac.ids if fac.ids is not None else range(1, n + 1))]
    if len(ids) != n:
        raise GpuCreditError(f"ids must name every facility ({n}), got {len(ids)}",
                             argument="ids", value=len(ids))
    gpus = _vector(fac.gpus, "gpus", n, 0)
    unit_cost = _vector(fac.gpu_unit_cost, "gpu_unit_cost", n, 0)
    debt_amount = _vector(fac.debt, "debt", n, 0)
    tenor = _whole(fac.tenor, "tenor", n, 1)
    life = _vector(fac.economic_life_years, "economic_life_years", n, 0, low_open=True)
    age0 = _vector(fac.age0, "age0", n, 0)
    # The asset's clock started at delivery: what is left of its life runs from today.
    life_left = np.maximum(life - age0, 0.0)
    n_t = int(horizon) if horizon is not None else int(
        max(tenor.max(), np.ceil(life.max() * m - 1e-9)))
    if n_t < tenor.max():
        raise GpuCreditError(f"horizon ({n_t} periods) is shorter than the longest tenor "
                             f"({tenor.max()} periods)", argument="horizon", value=n_t)
    kinds = _labels(fac.amortization, "amortization", n, AMORTIZATIONS)
    families = _labels(fac.residual_curve, "residual_curve", n, curves.FAMILIES)
    rate = _rate_grid(fac, n, n_t)
    in_tenor = np.arange(1, n_t + 1) <= tenor[:, None]
    # Delayed draws (given, and the undrawn commitment over the availability period) and
    # the GPUs each buys, delivered new at the draw.
    draws, undrawn = _draws(fac, debt_amount, tenor, n, n_t)
    bought = _gpus_bought(draws, gpus, debt_amount, kinds, ids)

    # Rents: trend deflation, an optional step-down, then the contract split.
    step = _vector(fac.step_down, "step_down", n, 0, 1)
    step_at = _whole(fac.step_down_period, "step_down_period", n, 0)
    stepped = (step_at[:, None] > 0) & (np.arange(1, n_t + 1) >= step_at[:, None])
    step_factor = np.where(stepped, 1.0 - step[:, None], 1.0)
    merchant = _merchant_path(fac, n, n_t, m) * step_factor
    split = rents.contracted_merchant(
        _vector(fac.contract_rate, "contract_rate", n, 0), merchant,
        _whole(fac.contract_periods, "contract_periods", n, 0),
        _vector(fac.contracted_share, "contracted_share", n, 0, 1))
    utilization = _vector(fac.utilization, "utilization", n, 0, 1)
    fleet_kw = _opt(kw_per_gpu=fac.kw_per_gpu, pue=fac.pue, price_per_kwh=fac.power_price,
                    colocation_per_kw_month=fac.colocation_rate,
                    other_opex_per_gpu_year=fac.other_opex,
                    maintenance_capex_per_gpu_year=fac.maintenance_capex,
                    tax_rate=fac.tax_rate)
    fleet_kw = {k: _vector(v, k, n) for k, v in fleet_kw.items()}
    contract_rate = _vector(fac.contract_rate, "contract_rate", n, 0)
    # Tax depreciation from delivery (the placed-in-service date) for tax payers.
    taxed_rows = fleet_kw.get("tax_rate", np.zeros(n)) > 0
    if taxed_rows.any():
        fleet_kw["tax_depreciation"] = np.where(taxed_rows[:, None], fleet.tax_depreciation(
            gpus * unit_cost, ages(n_t, m, age0) - 1.0 / m, m,
            fleet.MACRS_5_YEAR if fac.tax_depreciation_schedule is None
            else fac.tax_depreciation_schedule), 0.0)

    # Physical attrition since delivery takes GPUs out of revenue as out of collateral.
    attrition_rate = _vector(fac.attrition_rate, "attrition_rate", n, 0, 1)
    working = curves.attrition(ages(n_t, m, age0), attrition_rate)
    installed = gpus
    if bought is not None:
        vintages = _vintages(bought, m)
        installed, working = _grown_fleet(gpus, working, bought, vintages, attrition_rate)
        if taxed_rows.any():
            fleet_kw["tax_depreciation"] = fleet_kw["tax_depreciation"] + np.where(
                taxed_rows[:, None], _vintage_tax_depreciation(
                    bought, vintages, unit_cost, m, fac.tax_depreciation_schedule), 0.0)

    relet, termination = np.ones((n, n_t)), None

    def cash_flows(merchant_path, util=None, rows=slice(None)) -> fleet.FleetCashFlows:
        """Fleet cash flows of the facilities ``rows`` (all by default), after any
        customer default (re-leasing on the utilization, the termination payment in the
        contracted revenue)."""
        util = _col(utilization[rows]) if util is None else util
        out = fleet.cfads(installed[rows], util * relet[rows], merchant_path, m,
                          working_share=np.atleast_2d(working)[rows],
                          contracted_share=split.contracted_share_path[rows],
                          contract_rate=contract_rate[rows],
                          **{k: v[rows] for k, v in fleet_kw.items()})
        if termination is None:
            return out
        paid = termination[rows]
        return dataclasses.replace(out, contracted_revenue=out.contracted_revenue + paid,
                                   revenue=out.revenue + paid, cfads=out.cfads + paid)

    default_at = _whole(fac.customer_default_period, "customer_default_period", n, 0)
    if default_at.any():
        split, relet, termination = _customer_default(
            fac, default_at, cash_flows(merchant).contracted_revenue, merchant, m)
    flows = cash_flows(merchant)
    cfads_tenor = np.where(in_tenor, flows.cfads, 0.0)

    # Debt: one vectorised schedule per amortisation profile.
    covenants = coverage.TYPICAL_COVENANTS
    lockup = _vector(fac.dscr_lockup if fac.dscr_lockup is not None else covenants.dscr_lockup,
                     "dscr_lockup", n, 0, low_open=True)
    default_level = _vector(fac.dscr_default if fac.dscr_default is not None
                            else covenants.dscr_default, "dscr_default", n, 0, low_open=True)
    target = _vector(fac.target_dscr if fac.target_dscr is not None else lockup,
                     "target_dscr", n, 0, low_open=True)
    start = _whole(fac.amortization_start, "amortization_start", n, 1)
    sched = _schedules(kinds, debt_amount, rate, tenor, m, n_t, start, draws,
                       cfads_tenor, target)
    sched, sweep = _with_sweep(sched, _vector(fac.cash_sweep, "cash_sweep", n, 0, 1),
                               cfads_tenor, rate, m, in_tenor)

    def _after_tax(flows_x: fleet.FleetCashFlows, rows=slice(None)) -> np.ndarray:
        """CFADS with interest deductible: cash tax on EBITDA - tax depreciation -
        interest, losses carried forward (:func:`gpucredit.fleet.cash_tax`)."""
        if not (taxed_rows.any() and fac.tax_interest_deductible):
            return flows_x.cfads
        tax = np.where(taxed_rows[rows, None], fleet.cash_tax(
            flows_x.ebitda, fleet_kw["tax_depreciation"][rows],
            np.where(in_tenor, sched.interest, 0.0)[rows], fleet_kw["tax_rate"][rows]), 0.0)
        return flows_x.cfads + flows_x.tax - tax

    # Sculpting and the sweep saw the tax before the interest deduction (a little more
    # tax: conservative); coverage, breakevens and the Monte Carlo see it after.
    after_tax = _after_tax(flows)
    flows = dataclasses.replace(flows, tax=flows.tax + flows.cfads - after_tax,
                                cfads=after_tax)
    cfads_tenor = np.where(in_tenor, flows.cfads, 0.0)

    # Coverage.
    # A bullet's final principal is a balloon the borrower refinances: coverage ratios
    # test the debt service before it (interest and scheduled amortisation) and the
    # balloon is tested against the collateral (refinancing LTV) instead.
    refinance = _flags(fac.refinance_balloon, "refinance_balloon", n)
    balloon = np.zeros((n, n_t))
    bullets = np.flatnonzero((kinds == "bullet") & refinance)
    balloon[bullets, tenor[bullets] - 1] = sched.principal[bullets, tenor[bullets] - 1]
    ds = sched.debt_service - balloon
    dscr = coverage.dscr(cfads_tenor, ds)
    llcr = coverage.llcr(cfads_tenor, sched.opening + sched.draw, rate, m)
    # PLCR counts each facility's cash flows to the end of its own asset life, counted
    # from delivery (the grid may run longer for other facilities of the batch).
    life_periods = np.ceil(life_left * m - 1e-9)
    in_life = np.arange(1, n_t + 1) <= life_periods[:, None]
    plcr = coverage.plcr(np.where(in_life, flows.cfads, 0.0), sched.opening + sched.draw,
                         rate, m)
    capacity = debt.debt_capacity(cfads_tenor, rate, target, m)
    head = coverage.covenant_headroom(cfads_tenor, ds, lockup)
    breach_default = coverage.covenant_headroom(cfads_tenor, ds, default_level)
    other_cfads = np.where(in_tenor, flows.other_cfads, 0.0)
    merchant_hours = np.where(in_tenor, flows.merchant_gpu_hours, 0.0)
    fac_rent0 = _vector(fac.merchant_rent, "merchant_rent", n, 0)
    breakeven_rent = np.array(coverage.breakeven_rent(merchant_hours, other_cfads, ds, 1.0),
                              dtype=float, ndmin=1)
    breakeven_rent_lockup = np.array(coverage.breakeven_rent(merchant_hours, other_cfads, ds,
                                                             lockup), dtype=float, ndmin=1)
    sellable = np.where(in_tenor, flows.merchant_capacity_gpu_hours * flows.merchant_rent, 0.0)
    breakeven_util = np.array(coverage.breakeven_utilization(sellable, other_cfads, ds, 1.0),
                              dtype=float, ndmin=1)
    periods_elapsed = (np.arange(1, n_t + 1) - 1) / m
    undeflated = merchant_hours * _col(fac_rent0) * step_factor
    breakeven_deflation = np.array(coverage.breakeven_deflation(
        undeflated, other_cfads, ds, m, 1.0, hi=_DEFLATION_CAP), dtype=float, ndmin=1)

    # Cash tax makes CFADS piecewise linear in rent and utilization, so the closed forms
    # above (exact for affine CFADS) are replaced by searches on the full cash flows for
    # facilities that pay tax.
    taxed = np.flatnonzero(fleet_kw.get("tax_rate", np.zeros(n)) > 0)
    if taxed.size:
        t, n_x = taxed, taxed.size
        tenor_x, ds_x = in_tenor[t], ds[t]

        def min_dscr_x(flows_x: fleet.FleetCashFlows) -> np.ndarray:
            return np.array(coverage.min_dscr(np.where(tenor_x, _after_tax(flows_x, t), 0.0),
                                              ds_x), dtype=float, ndmin=1)

        def at_rent(rent):
            return min_dscr_x(cash_flows(np.broadcast_to(_col(rent), (n_x, n_t)), rows=t))

        def at_util(util):
            flat = np.broadcast_to(_col(util), (n_x, n_t))
            return min_dscr_x(cash_flows(merchant[t], flat, rows=t))

        def at_deflation(deflation):
            path = (_col(fac_rent0[t]) * (1.0 - _col(deflation)) ** periods_elapsed
                    * step_factor[t])
            return min_dscr_x(cash_flows(path, rows=t))

        for out, fn, upper, level in (
                (breakeven_rent, at_rent, _RENT_SEARCH_CEILING, 1.0),
                (breakeven_rent_lockup, at_rent, _RENT_SEARCH_CEILING, lockup[t]),
                (breakeven_util, at_util, 1.0, 1.0)):
            out[t] = _smallest_level(fn, level, upper)
        breakeven_deflation[t] = np.asarray(coverage.breakeven_rate(
            at_deflation, 1.0, lo=0.0, hi=_DEFLATION_CAP), dtype=float).reshape(-1)

    # Collateral: residual curve by family, step-downs, liquidation haircut, LTV, LGD.
    age = ages(n_t, m, age0)
    residual = _residuals(families, age, fac, n) * step_factor
    mv = collateral.market_value(gpus * unit_cost, residual)
    units = _col(gpus)
    if bought is not None:  # the GPUs the draws bought, each vintage on its own curve
        mv = mv + _col(unit_cost) * _sum_vintages(bought, vintages, _vintage_residuals(
            families, fac, n, age0, vintages, m)) * step_factor
        units = installed
        cost = _col(unit_cost) * installed
        residual = np.divide(mv, cost, out=residual.copy(),
                             where=(cost > 0) & (installed > _col(gpus)))
    bounds = {"install_haircut": 1.0, "sale_cost_rate": 1.0, "sigma_monthly": None,
              "y": None}
    haircut_kw = _opt(install_haircut=fac.install_haircut, sale_cost_rate=fac.sale_costs,
                      sigma_monthly=fac.price_vol_monthly, y=fac.impact_coefficient)
    haircut_kw = {k: _vector(v, k, n, 0, bounds[k]) for k, v in haircut_kw.items()}
    absorption = _vector(fac.market_absorption, "market_absorption", n, 0, low_open=True)
    months = _vector(fac.liquidation_months, "liquidation_months", n, 0, low_open=True)
    liq = collateral.liquidation_value(mv, units, _col(absorption), _col(months),
                                       **{k: _col(v) for k, v in haircut_kw.items()})
    exposure_open = sched.opening + sched.draw
    accrued = sched.interest
    ltv_market = collateral.ltv(np.where(in_tenor, exposure_open, 0.0), mv,
                                np.where(in_tenor, accrued, 0.0))
    ltv_liq = collateral.ltv(np.where(in_tenor, exposure_open, 0.0), liq.recovery,
                             np.where(in_tenor, accrued, 0.0))
    lgd_path = collateral.lgd(mv, np.where(in_tenor, exposure_open, 0.0),
                              gpus if bought is None else units, absorption, months,
                              np.where(in_tenor, accrued, 0.0),
                              **{k: _col(v) for k, v in haircut_kw.items()})
    shortfall = coverage.first_collateral_shortfall(
        liq.recovery, np.where(in_tenor, exposure_open + accrued, 0.0))

    today = _today(fac, families, age0, gpus * unit_cost, sched.opening[:, 0], gpus,
                   absorption, months, haircut_kw, debt_amount, n)

    # Miners: self-mining cash flow and the treasury.
    btc_price = _vector(fac.btc_price, "btc_price", n, 0)
    hashprice = miners.hashprice(_vector(fac.network_difficulty, "network_difficulty", n, 0,
                                         low_open=True), btc_price,
                                 fees_per_block=_vector(fac.fees_per_block, "fees_per_block",
                                                        n, 0))
    mining_power = miners.power_cost_per_ph_day(
        _vector(fac.mining_efficiency, "mining_efficiency", n, 0, low_open=True),
        _vector(next(p for p in (fac.mining_power_price, fac.power_price, 0.08)
                     if p is not None), "mining_power_price", n, 0))
    hashrate = _col(_vector(fac.hashrate_ph, "hashrate_ph", n, 0))
    mining_rev = miners.mining_revenue(hashrate, _col(hashprice), m)
    mining = miners.mining_cfads(hashrate, _col(hashprice), m, hashcost_per_ph_day=_col(
        _vector(fac.hashcost_per_ph_day, "hashcost_per_ph_day", n, 0) + mining_power))
    mining_rev = np.where(in_tenor, np.broadcast_to(mining_rev, (n, n_t)), 0.0)
    mining = np.where(in_tenor, np.broadcast_to(mining, (n, n_t)), 0.0)
    treasury = miners.btc_holdings_value(_vector(fac.btc_held, "btc_held", n, 0),
                                         _col(btc_price))

    first_default = breach_default.first_breach
    below_one = coverage.covenant_headroom(cfads_tenor, ds, 1.0).first_breach
    rows = np.arange(n)
    at = np.clip(below_one - 1, 0, n_t - 1)
    wal = debt.wal(sched.principal + sweep, m)  # prepayments shorten the life
    wal = np.array(wal, dtype=float, ndmin=1)
    has_wal = np.isfinite(wal)  # a facility with nothing to repay has no WAL
    # The loan's average life against the asset's, both counted from the GPUs' delivery.
    mismatch = coverage.duration_mismatch(np.where(has_wal, wal, 0.0) + age0, life)
    wal_to_life = np.where(has_wal, mismatch.ratio, np.nan)
    life_gap = np.where(has_wal, mismatch.gap_years, np.nan)
    metrics = {
        "debt": sched.debt,
        "undrawn": undrawn,
        "expected_draws": sched.draw.sum(axis=-1),
        "gpus_bought": np.zeros(n) if bought is None else bought.sum(axis=-1),
        "tenor_years": tenor / m,
        "wal_years": wal,
        "economic_life_years": life,
        "age_years": age0,
        "remaining_life_years": life_left,
        "wal_to_life": wal_to_life,
        "life_gap_years": life_gap,
        "min_dscr": coverage.min_dscr(cfads_tenor, ds),
        "avg_dscr": coverage.average_dscr(cfads_tenor, ds),
        "llcr": llcr[:, 0],
        "min_llcr": _nanmin(llcr),
        "plcr": plcr[:, 0],
        "first_breach_lockup": head.first_breach,
        "first_breach_default": first_default,
        "min_headroom_pct": head.min_headroom_pct,
        "min_headroom_usd": head.min_headroom_usd,
        "breakeven_rent": breakeven_rent,
        "breakeven_rent_lockup": breakeven_rent_lockup,
        "breakeven_utilization": breakeven_util,
        "breakeven_deflation": breakeven_deflation,
        "debt_capacity": capacity,
        "market_value": today["market_value"],
        "market_value_low": today["market_value_low"],
        "market_value_high": today["market_value_high"],
        "liquidation_value": today["liquidation_value"],
        "haircut": today["haircut"],
        "ltv_market": today["ltv_market"],
        "ltv_market_low": today["ltv_market_low"],
        "ltv_market_high": today["ltv_market_high"],
        "ltv_liquidation": today["ltv_liquidation"],
        "max_ltv_market": collateral.max_ltv(np.where(in_tenor, exposure_open, 0.0), mv,
                                             np.where(in_tenor, accrued, 0.0)),
        "max_ltv_liquidation": _nanmax(np.where(in_tenor, ltv_liq, np.nan)),
        "first_collateral_shortfall": shortfall,
        "borrowing_base": today["borrowing_base"],
        "required_prepayment": today["required_prepayment"],
        "balloon": balloon.sum(axis=-1),
        "refinancing_ltv_market": np.where(balloon.sum(axis=-1) > 0,
                                           ltv_market[rows, tenor - 1], np.nan),
        "refinancing_ltv_liquidation": np.where(balloon.sum(axis=-1) > 0,
                                                ltv_liq[rows, tenor - 1], np.nan),
        "lgd_now": today["lgd"],
        "lgd_at_breach": np.where(below_one > 0, lgd_path[rows, at], np.nan),
        "min_dscr_combined": coverage.min_dscr(cfads_tenor + mining, ds),
        "treasury_value": treasury,
        "btc_held": _vector(fac.btc_held, "btc_held", n, 0),
        "dscr_lockup": lockup,
        "dscr_default": default_level,
    }
    # Per-facility results come back as scalars for a single facility: give all (F,).
    metrics = pd.DataFrame({k: np.broadcast_to(np.asarray(v, dtype=float).reshape(-1), (n,))
                            for k, v in metrics.items()},
                           index=pd.Index(ids, name="facility_id"))
    metrics = metrics.assign(**_breakeven_flags(metrics))
    return Evaluation(ids=ids, periods_per_year=m, tenor=tenor, flows=flows, schedule=sched,
                      sweep=sweep, balloon=balloon,
                      dscr=np.atleast_2d(dscr), llcr=np.atleast_2d(llcr), residual=residual,
                      market_value=mv, liquidation_value=liq.recovery, ltv_market=ltv_market,
                      ltv_liquidation=ltv_liq, lgd=lgd_path, mining_revenue=mining_rev,
                      mining_cfads=mining,
                      metrics=metrics, inputs=fac, rate=rate)


_DEFLATION_CAP = 0.99
"""Highest annual rent deflation the breakeven-deflation solver tries."""

_RENT_SEARCH_CEILING = 1_000.0
"""Highest flat rent (USD per GPU-hour) the breakeven search tries for taxed facilities."""


def _smallest_level(min_dscr_of, threshold, upper: float) -> np.ndarray:
    """Smallest flat level x in [0, upper] with min DSCR(x) >= threshold (DSCR rising in x).

    Solved with :func:`gpucredit.coverage.breakeven_rate` on ``x = upper (1 - d)``; NaN
    where even ``upper`` falls short.
    """
    d = coverage.breakeven_rate(lambda d: min_dscr_of(upper * (1.0 - np.asarray(d))),
                                threshold, lo=0.0, hi=1.0)
    return upper * (1.0 - np.asarray(d, dtype=float))


def _nanmin(x: np.ndarray) -> np.ndarray:
    has = ~np.all(np.isnan(x), axis=-1)
    out = np.full(x.shape[:-1], np.nan)
    out[has] = np.nanmin(x[has], axis=-1)
    return out


def _nanmax(x: np.ndarray) -> np.ndarray:
    return -_nanmin(-x)


def _customer_default(fac: Facilities, default_at, contract, merchant, m: int):
    """The contract customer defaults at the start of period ``default_at`` (0: never).

    Unless a backstop guarantees the payments, the contract revenue stops from that
    period; the customer pays its termination claim then,
    ``min(k x monthly contract revenue, contract revenue left) x R`` (k the termination
    months, R the senior unsecured recovery: the claim is unsecured); the GPUs it rented
    earn nothing for ``ceil(releasing_lag_months x m / 12)`` periods, then re-lease at
    ``releasing_rent_factor`` x the market rent until the contract would have ended.
    Returns the contract split after the default, the utilization multiplier of the
    merchant capacity (``1 - s (1 - g_t)``, g = 0 in the lag, the factor after it) and
    the termination payment by period.
    """
    n, n_t = contract.shape
    periods = _whole(fac.contract_periods, "contract_periods", n, 0)
    share = _vector(fac.contracted_share, "contracted_share", n, 0, 1)
    hit = (default_at > 0) & (default_at <= periods) & np.array(
        [_no_rating(b) for b in _texts(fac.backstop_rating, n)])
    stop = np.where(hit, default_at - 1, periods)
    t = np.arange(1, n_t + 1)
    lag = np.ceil(_vector(fac.releasing_lag_months, "releasing_lag_months", n, 0) * m / 12.0
                  - 1e-9)
    factor = _vector(fac.releasing_rent_factor, "releasing_rent_factor", n, 0, 1,
                     low_open=True)
    after = hit[:, None] & (t >= default_at[:, None]) & (t <= periods[:, None])
    g = np.where(t < (default_at + lag)[:, None], 0.0, factor[:, None])
    relet = np.where(after, 1.0 - share[:, None] * (1.0 - g), 1.0)
    months = _vector(fac.termination_payment_months, "termination_payment_months", n, 0)
    left = np.cumsum(contract[:, ::-1], axis=-1)[:, ::-1]
    claim = np.minimum(_col(months) * contract * m / 12.0, left) * _col(_vector(
        fac.recovery_senior_unsecured, "recovery_senior_unsecured", n, 0, 1))
    termination = np.where(hit[:, None] & (t == default_at[:, None]), claim, 0.0)
    split = rents.contracted_merchant(_vector(fac.contract_rate, "contract_rate", n, 0),
                                      merchant, stop, share)
    return split, relet, termination


def _breakeven_flags(metrics: pd.DataFrame) -> dict[str, np.ndarray]:
    """What each breakeven means, in words, beside its number.

    ``breakeven_rent_status`` and ``breakeven_utilization_status``: "covered by
    contract" where the contracted revenue alone covers debt service (the breakeven is
    zero or below, or undefined with no merchant GPUs and a minimum DSCR of 1.00x or
    more), "not reachable" where no level does (NaN), "above 100%" for a utilization
    no fleet can reach, "solved" otherwise. ``breakeven_deflation_bound``: ">" where
    DSCR stays above 1.00x even at the solver's 99% cap (the breakeven is above 99%),
    "<" where it is below 1.00x already with flat rents (NaN: the breakeven is below
    0%), "=" otherwise.
    """
    out = {}
    covered = metrics["min_dscr"].to_numpy() >= 1.0  # e.g. no merchant GPUs left to price
    for name in ("rent", "utilization"):
        x = metrics[f"breakeven_{name}"].to_numpy()
        solved = np.where((name == "utilization") & (x > 1.0), "above 100%", "solved")
        out[f"breakeven_{name}_status"] = np.where(
            np.isnan(x), np.where(covered, "covered by contract", "not reachable"),
            np.where(x <= 0, "covered by contract", solved))
    d = metrics["breakeven_deflation"].to_numpy()
    out["breakeven_deflation_bound"] = np.where(
        np.isnan(d), "<", np.where(d >= _DEFLATION_CAP - 1e-9, ">", "="))
    return out


def _today(fac: Facilities, families, age0, cost, outstanding, gpus, absorption, months,
           haircut_kw, debt_amount, n: int) -> dict[str, np.ndarray]:
    """Collateral, LTV, LGD and borrowing base as of the valuation date (t = 0).

    Values at the GPUs' age today ``age0`` (no period elapsed), against the debt
    outstanding today (no period's interest added):
    ``LTV = D_0 / V(age_0)`` with ``V = cost x residual(age_0)``
    (:func:`gpucredit.collateral.ltv`); the low and high residual curves
    (``residual_curve_low``/``_high``) give the band ``market_value_low/high`` and
    ``ltv_market_low/high`` (NaN without a band).
    """
    # Every array is (F, 1), one period at t = 0, as the core functions expect.
    age, owed = age0[:, None], outstanding[:, None]
    kw = {k: _col(v) for k, v in haircut_kw.items()}
    units, absorb, horizon = _col(gpus), _col(absorption), _col(months)
    mv = np.atleast_2d(collateral.market_value(cost, _residuals(families, age, fac, n)))
    liq = collateral.liquidation_value(mv, units, absorb, horizon, **kw)
    out = {"market_value": mv, "liquidation_value": liq.recovery, "haircut": liq.haircut,
           "ltv_market": collateral.ltv(owed, mv),
           "ltv_liquidation": collateral.ltv(owed, liq.recovery),
           "lgd": collateral.lgd(mv, owed, gpus, absorption, months, **kw)}
    for side in ("low", "high"):
        fam = getattr(fac, f"residual_curve_{side}")
        if fam is None:
            out[f"market_value_{side}"] = out[f"ltv_market_{side}"] = np.full((n, 1), np.nan)
            continue
        res = _residuals(_labels(fam, f"residual_curve_{side}", n, curves.FAMILIES), age, fac,
                         n, getattr(fac, f"curve_params_{side}"))
        out[f"market_value_{side}"] = np.atleast_2d(collateral.market_value(cost, res))
        out[f"ltv_market_{side}"] = collateral.ltv(owed, out[f"market_value_{side}"])
    out = {k: np.asarray(v, dtype=float).reshape(n, -1)[:, 0] for k, v in out.items()}
    mv = out["market_value"]
    if fac.advance_rate is not None:
        commitment = _vector(fac.commitment if fac.commitment is not None else debt_amount,
                             "commitment", n, 0)
        base = collateral.borrowing_base(
            mv[:, None], _col(_vector(fac.advance_rate, "advance_rate", n, 0, 1)),
            np.nan_to_num(out["haircut"][:, None], nan=1.0), commitment).base
        out["borrowing_base"] = np.array(base, dtype=float, ndmin=1)
        out["required_prepayment"] = np.array(
            collateral.required_prepayment(outstanding, out["borrowing_base"]), dtype=float,
            ndmin=1)
    else:
        out["borrowing_base"] = out["required_prepayment"] = np.full(n, np.nan)
    return {k: np.array(v, dtype=float, ndmin=1) for k, v in out.items()}


# --------------------------------------------------------------------------- delayed draws


def _draws(fac: Facilities, debt_amount, tenor, n: int, n_t: int):
    r"""Delayed draws at the start of each period, USD ``(F, T)`` (None: none), and the
    undrawn commitment today ``(F,)``.

    .. math:: D_{f,t} = D^{given}_{f,t} + \frac{U_f}{k_f} 1[t \le k_f], \qquad
              U_f = \max(C_f - B_f, 0)

    with C the commitment (default the debt B), k the ``availability_periods``. The
    undrawn amount is drawn in equal parts at the start of every period of the
    availability period: our assumption, a lender's base case for a delayed-draw term loan
    is full utilisation of the commitment over the availability period (drawn as the GPUs
    are delivered). Regulators count undrawn commitments as exposure too, through a credit
    conversion factor (docs/sources.md: 40% for commitments under Basel III, BCBS d424,
    2017); full drawing is the prudent end of that range.
    """
    k = _whole(fac.availability_periods, "availability_periods", n, 0)
    late = np.flatnonzero(k > tenor)
    if late.size:
        i = int(late[0])
        raise GpuCreditError(
            f"the availability period ({k[i]} periods) runs past the tenor ({tenor[i]} "
            f"periods) (facility {i + 1}): the commitment cannot be drawn after maturity",
            argument="availability_periods", value=int(k[i]))
    commitment = _vector(fac.commitment if fac.commitment is not None else debt_amount,
                         "commitment", n, 0)
    undrawn = np.maximum(commitment - debt_amount, 0.0)
    given = None if fac.draws is None else _grid(fac.draws, "draws", n, n_t, 0)
    even = np.where(np.arange(1, n_t + 1) <= k[:, None], _col(undrawn / np.maximum(k, 1)),
                    0.0)
    total = even if given is None else given + even
    return (total if total.any() else None), undrawn


def _gpus_bought(draws, gpus, debt_amount, kinds, ids) -> np.ndarray | None:
    r"""GPUs each draw buys, delivered new at the start of its period ``(F, T)``.

    .. math:: n_{f,t} = D_{f,t} \, G_f / B_f

    at today's debt per GPU ``B / G``: the draws finance GPUs at the same loan-to-cost as
    the fleet already financed (and the same cost per GPU). None without draws.
    """
    if draws is None:
        return None
    drawing = draws.any(axis=-1)
    bad = np.flatnonzero(drawing & ((debt_amount <= 0) | (gpus <= 0)
                                    | (kinds == "sculpted")))
    if bad.size:
        i = int(bad[0])
        why = ("a sculpted loan has no schedule for them" if kinds[i] == "sculpted" else
               "they buy GPUs at the debt per GPU, and nothing is drawn or financed today")
        raise GpuCreditError(f"facility {ids[i]} cannot model delayed draws: {why}",
                             argument="draws", value=float(draws[i].sum()))
    per_usd = np.divide(gpus, debt_amount, out=np.zeros_like(gpus), where=drawing)
    return draws * _col(per_usd)


def _vintages(bought, m: int):
    """The vintages of GPUs the draws buy: the facilities that draw (D,), the periods
    GPUs are bought in (0-based columns ``c``, (V,)), each vintage's age at the end of
    every period ``(t - c + 1) / m`` (V, T) and whether it is delivered by then
    (``t >= c``)."""
    rows = np.flatnonzero(bought.any(axis=-1))
    cols = np.flatnonzero(bought.any(axis=0))
    lag = np.arange(bought.shape[1])[None, :] - cols[:, None]
    return rows, cols, np.maximum(lag + 1, 0) / m, lag >= 0


def _sum_vintages(bought, vintages, per_gpu) -> np.ndarray:
    """``sum_v n_{f,c_v} x per_gpu[f, v, t]`` over the vintages delivered by t ``(F, T)``;
    ``per_gpu`` is (D, V, T) for the facilities that draw (or broadcasts to it)."""
    rows, cols, _, delivered = vintages
    out = np.zeros(bought.shape)
    out[rows] = np.einsum("fv,fvt->ft", bought[np.ix_(rows, cols)],
                          np.where(delivered, per_gpu, 0.0))
    return out


def _grown_fleet(gpus, working, bought, vintages, attrition_rate):
    r"""Installed GPUs and the working share of a fleet growing with its draws.

    .. math:: I_t = G + \sum_{c \le t} n_c, \qquad
              w_t = \Big(G \, S(a_0 + t/m) + \sum_{c \le t} n_c \, S(a_{c,t})\Big) / I_t

    with S the attrition survival (:func:`gpucredit.curves.attrition`) and ``a_{c,t}`` the
    age of vintage c. Facilities without draws keep their working share as it was.
    """
    rows, _, age, _ = vintages
    installed = _col(gpus) + np.cumsum(bought, axis=-1)
    survive = curves.attrition(np.broadcast_to(age.reshape(1, -1), (rows.size, age.size)),
                               attrition_rate[rows]).reshape(rows.size, *age.shape)
    alive = _col(gpus) * working + _sum_vintages(bought, vintages, survive)
    share = np.divide(alive, installed, out=np.zeros_like(alive), where=installed > 0)
    return installed, np.where(bought.any(axis=-1)[:, None], share, working)


def _vintage_tax_depreciation(bought, vintages, unit_cost, m: int, schedule) -> np.ndarray:
    """Tax depreciation of the GPUs the draws bought, each vintage from its delivery
    (:func:`gpucredit.fleet.tax_depreciation`; None: MACRS 5-year)."""
    age = vintages[2]
    per_usd = fleet.tax_depreciation(1.0, np.maximum(age - 1.0 / m, 0.0), m,
                                     fleet.MACRS_5_YEAR if schedule is None else schedule)
    return _col(unit_cost) * _sum_vintages(bought, vintages, per_usd[None])


def _vintage_residuals(families, fac: Facilities, n: int, age0, vintages, m: int):
    """Residual value (share of cost) of every vintage the draws bought ``(D, V, T)``.

    Each on its facility's curve at its own age (new at delivery), with attrition since
    delivery and the generation steps of the facility's fleet moved to the vintage's
    clock: a step at age ``s`` of a fleet ``a_0`` old today is at ``s - a_0 - c / m``
    for a vintage delivered c periods from now (a successor at volume before it was bought
    is in its price and ignored, as :func:`gpucredit.curves.generation_steps` does).
    """
    rows, cols, age, _ = vintages
    n_v, n_t = age.shape
    each = np.repeat(rows, n_v)  # one row per facility that draws and vintage
    steps = None
    if fac.step_ages is not None:
        st = np.asarray(fac.step_ages, dtype=float)
        st = np.broadcast_to(st if st.ndim == 2 else st.reshape(1, -1), (n, st.shape[-1]))
        steps = st[each] - (age0[each] + np.tile(cols, rows.size) / m)[:, None]
    sub = fac.replace(
        generation_jump=_vector(fac.generation_jump, "generation_jump", n, 0, 1)[each],
        attrition_rate=_vector(fac.attrition_rate, "attrition_rate", n, 0, 1)[each],
        step_ages=steps,
        curve_params={k: np.broadcast_to(np.asarray(v, dtype=float), (n,))[each]
                      for k, v in fac.curve_params.items() if v is not None})
    age_rows = np.broadcast_to(age, (rows.size, n_v, n_t)).reshape(each.size, n_t)
    return _residuals(families[each], age_rows, sub, each.size).reshape(rows.size, n_v, n_t)


def _schedules(kinds, amount, rate, tenor, m, n_t, start, draws, cfads_tenor, target):
    """Debt schedules for every facility, one vectorised call per amortisation profile."""
    parts: dict[str, np.ndarray] = {k: np.zeros((len(kinds), n_t)) for k in
                                    ("opening", "draw", "interest", "principal", "closing")}
    for kind in AMORTIZATIONS:
        idx = np.flatnonzero(kinds == kind)
        if idx.size == 0:
            continue
        if kind == "sculpted":
            # A zero amount asks for the debt capacity at the target DSCR.
            cap = np.array(debt.debt_capacity(cfads_tenor[idx], rate[idx], target[idx], m),
                           dtype=float, ndmin=1)
            nothing = (amount[idx] > 0) & (cap <= 0)
            if nothing.any():
                i = int(idx[np.flatnonzero(nothing)[0]])
                raise GpuCreditError(
                    f"cannot sculpt {amount[i]:,.0f} of debt: the cash flow supports no "
                    f"debt (capacity 0 at {target[i]:g}x) (facility {i + 1})",
                    argument="debt", value=float(amount[i]))
            sub = np.where(amount[idx] > 0, amount[idx], cap)
            s = debt.sculpt(cfads_tenor[idx], rate[idx], target[idx], m, amount=sub)
        else:
            s = debt.schedule(amount[idx], rate[idx], tenor[idx], m, kind,
                              draws=None if draws is None else draws[idx],
                              amortization_start=np.minimum(start[idx], tenor[idx]),
                              horizon=n_t)
        for key in parts:
            parts[key][idx] = np.atleast_2d(getattr(s, key))
    interest, principal = parts["interest"], parts["principal"]
    return debt.DebtSchedule(opening=parts["opening"], draw=parts["draw"], interest=interest,
                             principal=principal, debt_service=interest + principal,
                             closing=parts["closing"], periods_per_year=m)


def _with_sweep(sched: debt.DebtSchedule, share: np.ndarray, cfads_tenor, rate, m, in_tenor):
    """Apply a cash sweep to the facilities that have one (no draws after closing)."""
    sweep = np.zeros_like(sched.opening)
    swept = np.flatnonzero(share > 0)
    if swept.size == 0:
        return sched, sweep
    if np.any(sched.draw[swept] > 0):
        raise GpuCreditError("cash_sweep cannot be combined with delayed draws",
                             argument="cash_sweep", value=float(share[swept][0]))
    sw = coverage.cash_sweep(cfads_tenor[swept], sched.opening[swept, 0], rate[swept],
                             sched.principal[swept], m, share[swept])
    arrays = {k: getattr(sched, k).copy() for k in ("opening", "interest", "principal",
                                                      "closing")}
    for key, new in (("opening", sw.opening), ("interest", sw.interest),
                     ("principal", sw.scheduled_principal), ("closing", sw.closing)):
        arrays[key][swept] = np.atleast_2d(new)
    sweep[swept] = np.atleast_2d(sw.sweep)
    # The loan is repaid at maturity: a rounding residue (1e-10 USD) is part of the last
    # principal, and nothing is owed after it.
    last = in_tenor.sum(axis=-1) - 1
    rows = swept
    arrays["principal"][rows, last[rows]] += arrays["closing"][rows, last[rows]]
    arrays["closing"][rows, last[rows]] = 0.0
    after = ~in_tenor[swept]
    for key in arrays:
        arrays[key][swept] = np.where(after, 0.0, arrays[key][swept])
    sweep[swept] = np.where(after, 0.0, sweep[swept])
    return debt.DebtSchedule(opening=arrays["opening"], draw=sched.draw,
                             interest=arrays["interest"], principal=arrays["principal"],
                             debt_service=arrays["interest"] + arrays["principal"],
                             closing=arrays["closing"], periods_per_year=m), sweep


def _residuals(families, age, fac: Facilities, n: int, curve_params=None) -> np.ndarray:
    """Residual value (share of cost) by family, each family one vectorised call
    (``curve_params`` default: ``fac.curve_params``)."""
    out = np.empty_like(age)
    jump = _vector(fac.generation_jump, "generation_jump", n, 0, 1)
    attrition = _vector(fac.attrition_rate, "attrition_rate", n, 0, 1)
    steps = None
    if fac.step_ages is not None:
        steps = np.asarray(fac.step_ages, dtype=float)
        steps = steps if steps.ndim == 2 else steps.reshape(1, -1)
        if steps.ndim != 2 or steps.shape[0] not in (1, n):
            raise GpuCreditError(
                f"step_ages must be one list of ages for all facilities or one row per "
                f"facility ({n}), got an array of shape {np.shape(fac.step_ages)}",
                argument="step_ages", value=np.shape(fac.step_ages))
        steps = np.broadcast_to(steps, (n, steps.shape[-1]))
    for family in curves.FAMILIES:
        idx = np.flatnonzero(families == family)
        if idx.size == 0:
            continue
        accepted = curves.family_parameters(family)
        # Only this family's facilities need its parameters (others may hold NaN).
        params = {k: check_range(np.broadcast_to(np.asarray(v, dtype=float), (n,))[idx], k)
                  for k, v in (fac.curve_params if curve_params is None else curve_params
                               ).items() if k in accepted and v is not None}
        out[idx] = curves.residual_value(
            age[idx], family, step_ages=None if steps is None else steps[idx],
            jump=jump[idx], attrition_rate=attrition[idx], **params)
    return out


# --------------------------------------------------------------------------- Monte Carlo


def exposure(ev: Evaluation, crypto_haircut=None) -> montecarlo.FacilityExposure:
    """What the Monte Carlo needs of evaluated facilities, over their tenors.

    The merchant revenue moves with the simulated rent shock, the self-mining revenue with
    the simulated BTC price, the GPU collateral's market value with the rent shock;
    everything else (contracted revenue, costs, tax, the mining hashcost, the debt
    schedule) stays on the base case. The liquidation factor is ``1 - haircut`` of
    period 1 (the haircut model's terms are proportional to value but for fixed per-unit
    costs). Generation step-downs are already in the base rent trend and the residual
    curve, so run it with a :class:`gpucredit.montecarlo.MarketModel` whose
    ``jump_years`` is empty unless the trend is net of them. ``crypto_haircut`` (e.g.
    :func:`gpucredit.collateral.crypto_haircut`) discounts the treasury sold at default;
    None keeps :class:`~gpucredit.montecarlo.FacilityExposure`'s default.

    Examples
    --------
    >>> fac = Facilities(gpus=1000, gpu_unit_cost=30_000, merchant_rent=2.4,
    ...                  utilization=0.85, debt=18e6, annual_rate=0.10, tenor=48)
    >>> ex = exposure(evaluate(fac, 12))
    >>> ex.n_facilities, ex.n_periods
    (1, 48)
    """
    n_t = int(ev.tenor.max())
    cut = slice(0, n_t)
    in_tenor = (np.arange(1, n_t + 1) <= ev.tenor[:, None])
    s, f = ev.schedule, ev.flows
    merchant = np.where(in_tenor, f.merchant_revenue[:, cut], 0.0)
    mining_rev = ev.mining_revenue[:, cut]
    other = (np.where(in_tenor, f.cfads[:, cut], 0.0) - merchant
             + ev.mining_cfads[:, cut] - mining_rev)
    haircut = ev.metrics["haircut"].to_numpy()
    # Customer credit, liquidity, refinancing: the contract revenue leaves other_cfads.
    extra = {}
    if ev.inputs is not None:
        extra = credit_inputs(ev)
        other = extra.pop("other_cfads")
    return montecarlo.FacilityExposure(
        **extra,
        facility_ids=ev.ids,
        merchant_revenue=merchant,
        other_cfads=other,
        mining_cfads=mining_rev,
        debt_service=(s.debt_service - ev.balloon)[:, cut],
        debt_outstanding=np.where(in_tenor, (s.opening + s.draw + s.interest)[:, cut], 0.0),
        collateral_value=ev.market_value[:, cut],
        liquidation_factor=np.where(np.isfinite(haircut), 1.0 - haircut, 0.0),
        btc_held=ev.metrics["btc_held"].to_numpy(),
        covenant_dscr=ev.metrics["dscr_lockup"].to_numpy(),
        balloon_period=np.where(ev.balloon.sum(axis=-1) > 0, ev.tenor - 1, -1),
        **({} if crypto_haircut is None else {"crypto_haircut": crypto_haircut}),
    )


def credit_inputs(ev: Evaluation) -> dict[str, object]:
    """What the Monte Carlo needs of customer credit, liquidity and refinancing.

    Every ``(F, T)`` series runs on the facilities' grid over the longest tenor T, zero
    after each facility's own maturity (``n_periods_f``).

    Returns
    -------
    dict
        ``n_periods_f`` (F,) int: each facility's tenor in periods;
        ``other_cfads`` (F, T): CFADS less merchant and contracted revenue, plus the
        self-mining cash flow less its revenue (the part that moves with no driver);
        ``contract_revenue`` (F, T): take-or-pay revenue in the base case;
        ``relet_revenue`` (F, T): the contracted GPUs re-leased at the market, base trend:
        contracted GPU-hours x utilization x merchant rent x ``releasing_rent_factor``;
        ``termination_payment`` (F, T): received if the customer defaults in period t,
        ``min(k x monthly contract revenue_t, contract revenue left from t) x R``, with
        k the termination months and R the senior unsecured recovery rate (a
        termination claim is an unsecured claim on the customer);
        ``relet_lag`` (F,) int: ``ceil(releasing_lag_months x m / 12)`` periods;
        ``counterparty_pd``, ``backstop_pd`` (F, Y): cumulative default probabilities at
        years 1..Y (Y = the longest tenor in whole years) from
        :func:`gpucredit.ratings.cumulative_default_probability` (zeros without a
        contract or a backstop; a contract without a rating takes
        ``default_counterparty_rating``); ``has_backstop`` (F,) bool;
        ``liquidity`` (F,): DSRA + liquidity facility, USD;
        ``unsecured_recovery`` (F,): NaN when secured, else the recovery by seniority;
        ``refi_max_ltv``, ``refi_min_dscr`` (F,); ``refi_debt_service_factor`` (F,):
        the annuity factor ``r / (1 - (1 + r)^-N)`` at ``r = (base rate + refi_spread) /
        m`` over ``N = refi_tenor_years x m`` periods (debt service a period per USD
        refinanced); ``generation`` (F,) str; ``discount_rate`` (F,): the loan's
        per-period rate in period 1.

    Examples
    --------
    >>> fac = Facilities(gpus=1000, gpu_unit_cost=30_000, merchant_rent=2.4,
    ...                  utilization=0.85, debt=18e6, annual_rate=0.10, tenor=8,
    ...                  contracted_share=0.5, contract_rate=2.6, contract_periods=8,
    ...                  counterparty_rating="BBB", termination_payment_months=6)
    >>> c = credit_inputs(evaluate(fac, 4))
    >>> c["counterparty_pd"].round(4), int(c["relet_lag"][0])
    (array([[0.0015, 0.0041]]), 2)
    """
    fac, m = ev.inputs, ev.periods_per_year
    n, n_t = len(ev.ids), int(ev.tenor.max())
    cut = slice(0, n_t)
    in_tenor = np.arange(1, n_t + 1) <= ev.tenor[:, None]
    f = ev.flows

    def live(x):
        return np.where(in_tenor, x[:, cut], 0.0)

    contract, merchant = live(f.contracted_revenue), live(f.merchant_revenue)
    other = (live(f.cfads) - merchant - contract + ev.mining_cfads[:, cut]
             - ev.mining_revenue[:, cut])
    relet = live(f.contracted_gpu_hours * f.merchant_rent) * _col(
        _vector(fac.utilization, "utilization", n, 0, 1) * _vector(
            fac.releasing_rent_factor, "releasing_rent_factor", n, 0, 1, low_open=True))
    recovery = {"senior_unsecured": _vector(fac.recovery_senior_unsecured,
                                            "recovery_senior_unsecured", n, 0, 1),
                "subordinated": _vector(fac.recovery_subordinated, "recovery_subordinated",
                                        n, 0, 1)}
    months = _vector(fac.termination_payment_months, "termination_payment_months", n, 0)
    left = np.cumsum(contract[:, ::-1], axis=-1)[:, ::-1]  # contract revenue from t on
    termination = np.minimum(_col(months) * contract * m / 12.0, left) * _col(
        recovery["senior_unsecured"])
    years = np.arange(1, max(1, int(np.ceil(n_t / m - 1e-9))) + 1)
    has_contract = contract.sum(axis=-1) > 0
    customers = [r if not _no_rating(r) else fac.default_counterparty_rating
                 for r in _texts(fac.counterparty_rating, n)]
    customers = [r if c else None for r, c in zip(customers, has_contract, strict=True)]
    backstops = [None if _no_rating(r) or not c else r
                 for r, c in zip(_texts(fac.backstop_rating, n), has_contract,
                                     strict=True)]
    seniority = _labels(fac.seniority, "seniority", n, SENIORITIES)
    unsecured = np.full(n, np.nan)
    for rank, rec in recovery.items():
        unsecured = np.where(seniority == rank, rec, unsecured)
    base = _grid(fac.base_rate, "base_rate", n, ev.rate.shape[1])[:, 0]
    r = (base + _vector(fac.refi_spread, "refi_spread", n, 0)) / m
    periods = np.maximum(np.round(_vector(fac.refi_tenor_years, "refi_tenor_years", n, 0,
                                          low_open=True) * m), 1.0)
    # A lease lender amortises over the term the contract still runs after maturity.
    periods = np.maximum(periods, _whole(fac.contract_periods, "contract_periods", n, 0)
                         - ev.tenor)
    factor = np.where(r == 0, 1.0 / periods,
                      r / -np.expm1(-periods * np.log1p(np.where(r == 0, 1.0, r))))
    # Unsecured bullets (notes, converts) refinance as bullets: the new lender tests
    # interest cover; secured GPU debt refinances amortising within the assets' life.
    factor = np.where(np.isnan(unsecured), factor, r)
    return {
        "contract_value": _contract_value(ev, r),
        "n_periods_f": ev.tenor.copy(),
        "other_cfads": other,
        "contract_revenue": contract,
        "relet_revenue": relet,
        "termination_payment": termination,
        "relet_lag": np.ceil(_vector(fac.releasing_lag_months, "releasing_lag_months", n, 0)
                             * m / 12.0 - 1e-9).astype(int),
        "counterparty_pd": ratings.cumulative_default_probability(customers, years),
        "backstop_pd": ratings.cumulative_default_probability(backstops, years),
        "has_backstop": np.array([b is not None for b in backstops]),
        "liquidity": (_vector(fac.dsra_amount, "dsra_amount", n, 0)
                      + _vector(fac.liquidity_facility, "liquidity_facility", n, 0)),
        "unsecured_recovery": unsecured,
        "refi_max_ltv": _vector(fac.refi_max_ltv, "refi_max_ltv", n, 0, low_open=True),
        "refi_min_dscr": _vector(fac.refi_min_dscr, "refi_min_dscr", n, 0, low_open=True),
        "refi_debt_service_factor": factor,
        "generation": _labels(fac.generation, "generation", n, GENERATIONS),
        "discount_rate": ev.rate[:, 0] / m,
    }


def _contract_value(ev: Evaluation, rate: np.ndarray) -> np.ndarray:
    r"""Value at maturity of the contracted revenue still to come after it, USD.

    :math:`V = \mu R^c_T \, a_k(r)`, :math:`a_k(r) = (1 - (1 + r)^{-k}) / r`: the
    contract's revenue in the maturity period T, paid for the k periods the contract
    still runs after it, discounted at the refinancing rate r per period, times the cash
    margin :math:`\mu` = CFADS / revenue of the maturity period (in [0, 1]). A lease
    lender's view of a standing contract; a flat contract revenue is assumed after T.
    """
    fac, n = ev.inputs, len(ev.ids)
    rows, at = np.arange(n), ev.tenor - 1
    f = ev.flows
    k = np.maximum(_whole(fac.contract_periods, "contract_periods", n, 0) - ev.tenor, 0)
    annuity = np.where(rate > 0, -np.expm1(-k * np.log1p(np.maximum(rate, 1e-12)))
                       / np.maximum(rate, 1e-12), k)
    revenue_t = f.revenue[rows, at]
    margin = np.clip(np.divide(f.cfads[rows, at], revenue_t, out=np.zeros_like(revenue_t),
                               where=revenue_t > 0), 0.0, 1.0)
    return margin * f.contracted_revenue[rows, at] * annuity


def _texts(x, n: int) -> list:
    """A per-facility text field (None, one text for all, or F texts) as F values."""
    if x is None or isinstance(x, str):
        return [x] * n
    values = list(x)
    if len(values) != n:
        raise GpuCreditError(f"give one rating per facility ({n}), got {len(values)}",
                             argument="counterparty_rating", value=len(values))
    return values


def _no_rating(x) -> bool:
    return x is None or (isinstance(x, float) and np.isnan(x)) or str(x).strip() == ""


def simulate(fac: Facilities, periods_per_year: int, market: montecarlo.MarketModel | None = None,
             n_paths: int = 10_000, seed: int = 0) -> pd.DataFrame:
    """Monte Carlo credit metrics of facilities (PD, LGD, expected loss, CVaR ...).

    :func:`evaluate`, then :func:`exposure`, then :func:`gpucredit.montecarlo.simulate`;
    ``market`` defaults to :class:`~gpucredit.montecarlo.MarketModel` with no
    generation jumps (they are in the base case already, see :func:`exposure`) and the
    facilities' BTC price.

    Examples
    --------
    >>> fac = Facilities(gpus=1000, gpu_unit_cost=30_000, merchant_rent=2.4,
    ...                  utilization=0.85, debt=18e6, annual_rate=0.10, tenor=48)
    >>> mc = simulate(fac, 12, n_paths=2000, seed=1)
    >>> bool(0.0 <= mc["pd"].iloc[0] <= 1.0)
    True
    """
    ev = evaluate(fac, periods_per_year)
    if market is None:
        btc0 = float(np.ravel(np.asarray(fac.btc_price, dtype=float))[0])
        market = montecarlo.MarketModel(jump_years=(), btc_price0=btc0)
    return montecarlo.simulate(exposure(ev), market, n_paths, seed, ev.periods_per_year)
