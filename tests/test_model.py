"""Tests for gpucredit.model: the whole pipeline against an oracle written here.

The oracle (:func:`_oracle`) recomputes a single facility period by period from the
formulas of docs/sources.md with plain numpy, numpy-financial (``pmt``, ``ipmt``, ``ppmt``,
``npv``) and ``scipy.optimize.brentq`` - it never calls a gpucredit function:

* merchant rent ``rent0 (1 - d)^((t - 1)/m)``; take-or-pay contracted hours at the
  contract rate until the contract ends, the rest sold at utilization x merchant rent;
  power ``GPUs x kW x PUE x 8760/m x $/kWh``; colocation ``GPUs x kW x $/kW-month x 12/m``;
  CFADS;
* level annuity ``-npf.pmt(r/m, n, debt)`` split by ``npf.ipmt`` / ``npf.ppmt``; DSCR,
  minimum and average; LLCR_t = ``npf.npv`` at the debt rate of CFADS from t to maturity
  over the opening balance; PLCR over the asset life; WAL;
* residual ``F + (1 - F) e^(-lambda age)``; market value; the liquidation haircut of
  docs/sources.md by hand: ``f_time = 1 - 0.6155 e^(-T/57.15 days)``, impact
  ``Y sigma sqrt(Q/(A T))``, the install haircut and sale costs; LTV and LGD;
* breakevens: the closed form for a flat rent or utilization (CFADS is affine in them),
  ``brentq`` for the deflation rate and for a taxed facility.

Beside the oracle: breakevens fed back into :func:`evaluate` land on the threshold, a
sculpted facility has DSCR = LLCR = target, floating rates, a portfolio equals its
facilities evaluated one by one (hypothesis), the long period table, bad inputs, the
Monte Carlo hand-off, and the property that faster rent deflation never raises the
minimum DSCR. Tests whose docstring starts "Regression:" pin defects found while writing
this file.
"""

from __future__ import annotations

import math

import numpy as np
import numpy_financial as npf
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

from gpucredit.errors import GpuCreditError
from gpucredit.model import AMORTIZATIONS, Facilities, evaluate, exposure, simulate

pytestmark = pytest.mark.filterwarnings("error")  # no division by zero may leak out


def floats(low: float, high: float):
    """Floats in [low, high] rounded to 6 decimals: inputs an analyst could type (a
    utilization of 1e-308 overflows the breakeven rent, a coverage edge of no interest)."""
    return st.floats(low, high).map(lambda x: round(x, 6))


SETTINGS = settings(max_examples=50, deadline=None)
PORTFOLIO_SETTINGS = settings(max_examples=30, deadline=None)

HOURS_PER_YEAR = 8760.0
DAYS_PER_MONTH = 365.25 / 12  # a month of the liquidation horizon, in days

# docs/sources.md "Collateral and liquidation haircuts": f_time = 1 - 0.6155 e^(-T / 57.15 days);
# the impact law's Y (0.5-1, we take 0.75) and a 10% monthly price volatility (the
# documented defaults of the liquidation model).
TIME_A, TIME_TAU_DAYS = 0.6155, 57.15
IMPACT_Y, SIGMA_MONTHLY = 0.75, 0.10
LOCKUP, DEFAULT = 1.20, 1.05  # typical covenants: lock-up 1.10-1.25x, default 1.00-1.05x


# --------------------------------------------------------------------------- the oracle

def facility(m: int, **changes) -> dict:
    """One facility's inputs on a grid of m periods a year: 4-year loan, 5-year life.

    A 40% take-or-pay contract for the first two years at $2.90, the rest merchant at
    $2.60 deflating 22% a year; every cost given explicitly.
    """
    spec = dict(gpus=1024.0, gpu_unit_cost=32_000.0, merchant_rent=2.6, utilization=0.82,
                debt=16e6, annual_rate=0.095, tenor=4 * m, age0=0.5, rent_deflation=0.22,
                contracted_share=0.4, contract_rate=2.9, contract_periods=2 * m,
                kw_per_gpu=1.3, pue=1.25, power_price=0.075, colocation_rate=190.0,
                other_opex=1500.0, maintenance_capex=800.0, economic_life_years=5.0,
                residual_curve="exponential_floor", curve_params={"lam": 0.46, "floor": 0.03},
                market_absorption=1500.0, liquidation_months=4.0, install_haircut=0.2,
                sale_costs=0.06)
    spec.update(changes)
    return spec


def _cash(s: dict, m: int, n_t: int, rent=None, util=None) -> dict:
    """Fleet cash flows of one facility, period by period (flat rent/util if given)."""
    t = np.arange(1, n_t + 1)
    hours = HOURS_PER_YEAR / m
    if rent is None:
        rent = s["merchant_rent"] * (1.0 - s["rent_deflation"]) ** ((t - 1) / m)
    rent = np.broadcast_to(np.asarray(rent, dtype=float), (n_t,))
    util = s["utilization"] if util is None else util
    g = s["gpus"]
    share = np.where(t <= s["contract_periods"], s["contracted_share"], 0.0)
    contracted = g * share * hours * s["contract_rate"]          # take-or-pay: all hours paid
    capacity = g * (1.0 - share) * hours                         # uncontracted GPU-hours
    merchant_hours = capacity * util
    merchant = merchant_hours * rent
    power = g * s["kw_per_gpu"] * s["pue"] * hours * s["power_price"]
    colocation = g * s["kw_per_gpu"] * s["colocation_rate"] * 12.0 / m
    other = g * s["other_opex"] / m
    capex = g * s["maintenance_capex"] / m
    pretax = contracted + merchant - power - colocation - other
    tax = s.get("tax_rate", 0.0) * np.maximum(pretax, 0.0)
    cfads = pretax - capex - tax
    return dict(rent=rent, contracted=contracted, capacity=capacity,
                merchant_hours=merchant_hours, merchant=merchant,
                revenue=contracted + merchant, power=np.full(n_t, power),
                colocation=np.full(n_t, colocation), other=np.full(n_t, other),
                capex=np.full(n_t, capex), tax=tax, cfads=cfads)


def _annuity(debt: float, annual_rate: float, n: int, m: int, n_t: int) -> dict:
    """Level annuity with numpy-financial, padded with zeros to n_t periods."""
    r = annual_rate / m
    per = np.arange(1, n + 1)
    interest = -npf.ipmt(r, per, n, debt)
    principal = -npf.ppmt(r, per, n, debt)
    opening = debt - np.concatenate([[0.0], np.cumsum(principal)[:-1]])

    def pad(x):
        return np.concatenate([x, np.zeros(n_t - n)])

    return dict(payment=-npf.pmt(r, n, debt), interest=pad(interest),
                principal=pad(principal), opening=pad(opening),
                debt_service=pad(interest + principal))


def _min_dscr(cfads: np.ndarray, ds: np.ndarray) -> float:
    live = ds > 0
    return float(np.min(cfads[live] / ds[live]))


def _first(mask: np.ndarray) -> int:
    """1-based first True, 0 for none."""
    return int(np.argmax(mask)) + 1 if mask.any() else 0


def _oracle(s: dict, m: int) -> dict:
    """Every number evaluate() reports for one annuity facility, computed independently."""
    n = int(s["tenor"])
    life_left = max(s["economic_life_years"] - s["age0"], 0.0)  # the clock started at delivery
    n_t = max(n, math.ceil(s["economic_life_years"] * m - 1e-9))
    t = np.arange(1, n_t + 1)
    live = t <= n
    r = s["annual_rate"] / m
    cash = _cash(s, m, n_t)
    cfads_tenor = np.where(live, cash["cfads"], 0.0)
    sched = _annuity(s["debt"], s["annual_rate"], n, m, n_t)
    ds = sched["debt_service"]
    dscr = np.where(live, cfads_tenor / np.where(live, ds, 1.0), np.nan)
    llcr = np.full(n_t, np.nan)
    for i in range(n):  # LLCR_t: NPV at the debt rate of CFADS t..n, over the balance at t
        llcr[i] = npf.npv(r, np.concatenate([[0.0], cash["cfads"][i:n]])) / sched["opening"][i]
    in_life = t <= math.ceil(life_left * m - 1e-9)
    plcr = npf.npv(r, np.concatenate([[0.0], cash["cfads"][in_life]])) / s["debt"]

    # Collateral: exponential residual with a floor; docs/sources.md's liquidation haircut.
    lam, floor = s["curve_params"]["lam"], s["curve_params"]["floor"]
    age = s["age0"] + t / m
    residual = floor + (1.0 - floor) * np.exp(-lam * age)
    mv = s["gpus"] * s["gpu_unit_cost"] * residual
    months = s["liquidation_months"]
    f_time = 1.0 - TIME_A * math.exp(-months * DAYS_PER_MONTH / TIME_TAU_DAYS)
    impact = min(1.0, IMPACT_Y * SIGMA_MONTHLY
                 * math.sqrt(s["gpus"] / (s["market_absorption"] * months)))
    recovery = np.maximum(0.0, mv * f_time * (1 - impact) * (1 - s["install_haircut"])
                          - s["sale_costs"] * mv)
    exposure_t = np.where(live, sched["opening"] + sched["interest"], 0.0)
    # Today (t = 0): the GPUs at their age today, the debt outstanding today, no interest.
    mv0 = s["gpus"] * s["gpu_unit_cost"] * (floor + (1.0 - floor) * np.exp(-lam * s["age0"]))
    rec0 = max(0.0, mv0 * f_time * (1 - impact) * (1 - s["install_haircut"])
               - s["sale_costs"] * mv0)
    lgd = np.where(live, 1.0 - np.minimum(recovery, exposure_t)
                   / np.where(live, exposure_t, 1.0), np.nan)

    # Breakevens: CFADS_t = slope_t x level + rest_t, so the level that lifts every period
    # to the threshold is the largest (threshold DS_t - rest_t) / slope_t.
    rest = cash["cfads"] - cash["merchant"]
    be_rent = np.max((ds[:n] - rest[:n]) / cash["merchant_hours"][:n])
    be_rent_lockup = np.max((LOCKUP * ds[:n] - rest[:n]) / cash["merchant_hours"][:n])
    sellable = cash["capacity"] * cash["rent"]
    be_util = np.max((ds[:n] - rest[:n]) / sellable[:n])

    def min_dscr_at(d):
        path = s["merchant_rent"] * (1.0 - d) ** ((t - 1) / m)
        return _min_dscr(_cash(s, m, n_t, rent=path)["cfads"][:n], ds[:n])

    # Documented ends of the bracket: NaN if already below 1.00x at no deflation, 0.99 if
    # still above it at 99% a year.
    if min_dscr_at(0.0) < 1.0:
        be_deflation = np.nan
    elif min_dscr_at(0.99) >= 1.0:
        be_deflation = 0.99
    else:
        be_deflation = brentq(lambda d: min_dscr_at(d) - 1.0, 0.0, 0.99, xtol=1e-14)
    principal = sched["principal"]
    wal = np.sum(t / m * principal) / np.sum(principal)
    below_one = _first(live & (cfads_tenor < ds))
    capacity = npf.npv(r, np.concatenate([[0.0], np.maximum(cash["cfads"][:n], 0) / LOCKUP]))
    return dict(
        n_t=n_t, cash=cash, sched=sched, dscr=dscr, llcr=llcr, residual=residual, mv=mv,
        recovery=recovery, lgd=lgd, ltv_market=np.where(live, exposure_t / mv, 0.0),
        ltv_liquidation=np.where(live, exposure_t / recovery, 0.0),
        metrics=dict(
            debt=s["debt"], tenor_years=n / m, wal_years=wal,
            economic_life_years=s["economic_life_years"],
            age_years=s["age0"], remaining_life_years=life_left,
            wal_to_life=(s["age0"] + wal) / s["economic_life_years"],
            life_gap_years=s["age0"] + wal - s["economic_life_years"],
            min_dscr=np.nanmin(dscr), avg_dscr=np.nanmean(dscr), llcr=llcr[0],
            min_llcr=np.nanmin(llcr), plcr=plcr,
            first_breach_lockup=_first(live & (cfads_tenor < LOCKUP * ds)),
            first_breach_default=_first(live & (cfads_tenor < DEFAULT * ds)),
            min_headroom_pct=np.nanmin(dscr) / LOCKUP - 1.0,
            min_headroom_usd=np.min(cfads_tenor[:n] - LOCKUP * ds[:n]),
            breakeven_rent=be_rent, breakeven_rent_lockup=be_rent_lockup,
            breakeven_utilization=be_util, breakeven_deflation=be_deflation,
            debt_capacity=capacity, market_value=mv0, liquidation_value=rec0,
            haircut=1.0 - rec0 / mv0,
            ltv_market=s["debt"] / mv0, ltv_liquidation=s["debt"] / rec0,
            max_ltv_market=np.max(exposure_t / mv),
            max_ltv_liquidation=np.max(exposure_t[:n] / recovery[:n]),
            first_collateral_shortfall=_first(recovery < exposure_t),
            lgd_now=1.0 - min(rec0, s["debt"]) / s["debt"],
            lgd_at_breach=lgd[below_one - 1] if below_one else np.nan,
            min_dscr_combined=np.nanmin(dscr), treasury_value=0.0, btc_held=0.0,
            dscr_lockup=LOCKUP, dscr_default=DEFAULT))


def _assert_metrics(row: pd.Series, want: dict) -> None:
    for key, value in want.items():
        if key == "breakeven_deflation":  # a bisection to 1e-10
            assert row[key] == pytest.approx(value, abs=1e-9, nan_ok=True), key
        else:
            assert row[key] == pytest.approx(value, rel=1e-9, abs=1e-9, nan_ok=True), key


def _evaluate(spec: dict, m: int, **kw):
    return evaluate(Facilities(**spec), m, **kw)


def _row(ev, i: int = 0) -> pd.Series:
    return ev.metrics.iloc[i]


# --------------------------------------------------------------------------- oracle tests

@pytest.mark.parametrize("m", [1, 4, 12])
class TestSingleFacilityOracle:
    """A contracted-then-merchant annuity facility, against the oracle at 1, 4, 12 periods."""

    def test_grid_runs_to_the_end_of_the_asset_life(self, m):
        ev = _evaluate(facility(m), m)
        assert ev.dscr.shape == (1, 5 * m)  # life 5 years > tenor 4 years

    def test_rents_and_cash_flows(self, m):
        spec = facility(m)
        o, ev = _oracle(spec, m), _evaluate(spec, m)
        f, c = ev.flows, o["cash"]
        np.testing.assert_allclose(f.merchant_rent[0], c["rent"], rtol=1e-12)
        np.testing.assert_allclose(f.contracted_revenue[0], c["contracted"], rtol=1e-12)
        np.testing.assert_allclose(f.merchant_revenue[0], c["merchant"], rtol=1e-12)
        np.testing.assert_allclose(f.revenue[0], c["revenue"], rtol=1e-12)
        np.testing.assert_allclose(f.power[0], c["power"], rtol=1e-12)
        np.testing.assert_allclose(f.colocation[0], c["colocation"], rtol=1e-12)
        np.testing.assert_allclose(f.other_opex[0], c["other"], rtol=1e-12)
        np.testing.assert_allclose(f.maintenance_capex[0], c["capex"], rtol=1e-12)
        np.testing.assert_allclose(f.cfads[0], c["cfads"], rtol=1e-10, atol=1e-6)
        # The contract ends after two years: the contracted revenue stops there.
        assert f.contracted_revenue[0, 2 * m - 1] > 0 and f.contracted_revenue[0, 2 * m] == 0

    def test_annuity_schedule_is_numpy_financial(self, m):
        spec = facility(m)
        o, s = _oracle(spec, m), _evaluate(spec, m).schedule
        np.testing.assert_allclose(s.interest[0], o["sched"]["interest"], rtol=1e-10, atol=1e-6)
        np.testing.assert_allclose(s.principal[0], o["sched"]["principal"], rtol=1e-10,
                                   atol=1e-6)
        np.testing.assert_allclose(s.opening[0], o["sched"]["opening"], rtol=1e-10, atol=1e-6)
        n = spec["tenor"]
        np.testing.assert_allclose(s.debt_service[0, :n], o["sched"]["payment"], rtol=1e-10)
        assert np.all(s.debt_service[0, n:] == 0) and s.closing[0, n - 1] == 0
        assert s.principal[0].sum() == pytest.approx(spec["debt"], rel=1e-12)

    def test_coverage_ratios(self, m):
        spec = facility(m)
        o, ev = _oracle(spec, m), _evaluate(spec, m)
        np.testing.assert_allclose(ev.dscr[0], o["dscr"], rtol=1e-10)  # NaN after maturity
        np.testing.assert_allclose(ev.llcr[0], o["llcr"], rtol=1e-10)
        n = spec["tenor"]
        # The final period's LLCR is its DSCR (one period of CFADS over one of service).
        assert ev.llcr[0, n - 1] == pytest.approx(ev.dscr[0, n - 1], rel=1e-10)

    def test_collateral(self, m):
        spec = facility(m)
        o, ev = _oracle(spec, m), _evaluate(spec, m)
        np.testing.assert_allclose(ev.residual[0], o["residual"], rtol=1e-12)
        np.testing.assert_allclose(ev.market_value[0], o["mv"], rtol=1e-12)
        np.testing.assert_allclose(ev.liquidation_value[0], o["recovery"], rtol=1e-10)
        np.testing.assert_allclose(ev.ltv_market[0], o["ltv_market"], rtol=1e-10)
        np.testing.assert_allclose(ev.ltv_liquidation[0], o["ltv_liquidation"], rtol=1e-10)
        np.testing.assert_allclose(ev.lgd[0, :spec["tenor"]], o["lgd"][:spec["tenor"]],
                                   rtol=1e-10, atol=1e-12)

    def test_every_metric(self, m):
        spec = facility(m)
        _assert_metrics(_row(_evaluate(spec, m)), _oracle(spec, m)["metrics"])

    def test_the_facility_is_stressed_enough_to_exercise_the_metrics(self, m):
        # Guards the oracle's design: a breach, a shortfall, a breakeven deflation inside
        # (0, 22%) and a breakeven utilization that is not clipped to [0, 1].
        row = _row(_evaluate(facility(m), m))
        assert row.first_breach_lockup > 0 and row.first_collateral_shortfall > 0
        assert 0 < row.breakeven_deflation < 0.22 and row.breakeven_utilization > 0
        assert row.breakeven_rent > 0 and np.isfinite(row.lgd_at_breach)


@SETTINGS
@given(m=st.sampled_from([1, 4, 12]), years=st.integers(1, 6), rent=floats(0.8, 6.0),
       deflation=floats(-0.1, 0.6), util=floats(0.05, 1.0), debt=floats(1e5, 6e7),
       rate=floats(0.001, 0.2), share=floats(0.0, 0.9), contract_years=st.integers(0, 6),
       age0=floats(0.0, 3.0), lam=floats(0.0, 2.0), floor=floats(0.0, 0.3),
       life=floats(0.5, 8.0))
def test_random_facility_matches_the_oracle(m, years, rent, deflation, util, debt, rate,
                                            share, contract_years, age0, lam, floor, life):
    spec = facility(m, tenor=years * m, merchant_rent=rent, rent_deflation=deflation,
                    utilization=util, debt=debt, annual_rate=rate, contracted_share=share,
                    contract_periods=contract_years * m, age0=age0, economic_life_years=life,
                    curve_params={"lam": lam, "floor": floor})
    o = _oracle(spec, m)
    ev = _evaluate(spec, m)
    assert ev.dscr.shape[1] == o["n_t"]
    np.testing.assert_allclose(ev.flows.cfads[0], o["cash"]["cfads"], rtol=1e-10, atol=1e-5)
    _assert_metrics(_row(ev), o["metrics"])


def test_default_costs_are_domain_figures():
    """Costs left at None take docs/sources.md's figures: 1.3 kW per GPU, PUE 1.3 (our estimate
    between hyperscale 1.1-1.2 and typical 1.4-1.6), $0.08/kWh (EIA) and CBRE's
    H2-2024 $184/kW-month; no other opex, maintenance capex or tax."""
    spec = facility(12)
    for key in ("kw_per_gpu", "pue", "power_price", "colocation_rate", "other_opex",
                "maintenance_capex"):
        del spec[key]
    cf = _evaluate(spec, 12).flows
    explicit = dict(spec, kw_per_gpu=1.3, pue=1.3, power_price=0.08, colocation_rate=184.0,
                    other_opex=0.0, maintenance_capex=0.0)
    c = _cash(explicit, 12, 60)
    assert cf.power[0, 0] == pytest.approx(1024 * 1.3 * 1.3 * 730 * 0.08)
    assert cf.colocation[0, 0] == pytest.approx(1024 * 1.3 * 184.0)
    np.testing.assert_allclose(cf.cfads[0], c["cfads"], rtol=1e-10)


def test_step_down_hits_merchant_rents_and_collateral_values():
    """A new generation landing early: rents and values drop by 30% from period 13."""
    spec = facility(12, step_down=0.3, step_down_period=13)
    ev, base = _evaluate(spec, 12), _oracle(facility(12), 12)
    factor = np.where(np.arange(1, 61) >= 13, 0.7, 1.0)
    np.testing.assert_allclose(ev.flows.merchant_rent[0], base["cash"]["rent"] * factor,
                               rtol=1e-12)
    np.testing.assert_allclose(ev.residual[0], base["residual"] * factor, rtol=1e-12)
    # The take-or-pay contract is not a market price: it does not step down.
    np.testing.assert_allclose(ev.flows.contracted_revenue[0], base["cash"]["contracted"],
                               rtol=1e-12)


def test_generation_steps_and_attrition_in_the_collateral():
    """Residual = curve x (1 - J)^(successors at volume) x (1 - attrition)^age."""
    spec = facility(4, step_ages=[1.5, 3.0], generation_jump=0.2, attrition_rate=0.09)
    ev = _evaluate(spec, 4)
    age = 0.5 + np.arange(1, 21) / 4
    curve = 0.03 + 0.97 * np.exp(-0.46 * age)
    steps = (age >= 1.5).astype(int) + (age >= 3.0)
    want = curve * 0.8**steps * 0.91**age
    np.testing.assert_allclose(ev.residual[0], want, rtol=1e-12)
    np.testing.assert_allclose(ev.market_value[0], 1024 * 32_000 * want, rtol=1e-12)


def test_borrowing_base_and_required_prepayment():
    """Base = min(advance rate x market value x (1 - haircut), commitment); prepay the
    excess of the drawn debt over it (docs/sources.md, "Borrowing base")."""
    spec = facility(12, advance_rate=0.8, commitment=20e6)
    row = _row(_evaluate(spec, 12))
    o = _oracle(facility(12), 12)["metrics"]
    base = min(0.8 * o["market_value"] * (1 - o["haircut"]), 20e6)
    assert row.borrowing_base == pytest.approx(base, rel=1e-12)
    assert row.required_prepayment == pytest.approx(max(0.0, 16e6 - base), rel=1e-12)
    assert row.required_prepayment > 0  # 80% of a 24% haircut value falls short of 16m
    assert np.isnan(_row(_evaluate(facility(12), 12)).borrowing_base)  # no advance rate


def test_liquidation_haircut_worked_by_hand():
    """One period's haircut with the arithmetic shown (docs/sources.md's formula)."""
    spec = facility(12, gpus=4000.0, market_absorption=1000.0, liquidation_months=2.0,
                    install_haircut=0.15, sale_costs=0.05)
    row = _row(_evaluate(spec, 12))
    # f_time: T = 2 months = 60.875 days: 1 - 0.6155 e^(-1.065179) = 1 - 0.6155 x 0.344666
    f_time = 1 - 0.6155 * math.exp(-60.875 / 57.15)
    assert f_time == pytest.approx(0.787858, abs=1e-6)
    # impact: 0.75 x 0.10 x sqrt(4000 / (1000 x 2)) = 0.106066
    impact = 0.75 * 0.10 * math.sqrt(2.0)
    # recovery share: 0.787858 x (1 - 0.106066) x (1 - 0.15) - 0.05 = 0.548649
    share = f_time * (1 - impact) * 0.85 - 0.05
    assert share == pytest.approx(0.548649, abs=1e-6)
    assert row.haircut == pytest.approx(1 - share, rel=1e-12)
    assert row.liquidation_value == pytest.approx(share * row.market_value, rel=1e-12)


# --------------------------------------------------------------------------- breakevens

def _portfolio_specs() -> list[dict]:
    """Three healthy facilities whose breakevens are positive rents and utilizations."""
    return [facility(12, debt=7e6),
            facility(12, debt=8e6, contracted_share=0.0, tenor=36, utilization=0.9),
            facility(12, debt=8e6, contract_periods=48, contracted_share=0.3,
                     annual_rate=0.12, rent_deflation=0.3)]


def _stack(specs: list[dict]) -> Facilities:
    """Specs with the same keys as one portfolio (curve_params shared)."""
    assert all(s.keys() == specs[0].keys() for s in specs), "give every spec the same keys"
    keys = [k for k in specs[0] if k not in ("curve_params", "residual_curve")]
    fields = {k: np.array([s[k] for s in specs]) for k in keys}
    return Facilities(**fields, residual_curve=specs[0]["residual_curve"],
                      curve_params=specs[0]["curve_params"])


class TestBreakevensFedBack:
    """A breakeven put back into evaluate() lands on its threshold."""

    def test_oracle_agrees_on_the_portfolio(self):
        specs = _portfolio_specs()
        rows = evaluate(_stack(specs), 12).metrics
        for i, s in enumerate(specs):
            want = _oracle(s, 12)["metrics"]
            for key in ("breakeven_rent", "breakeven_rent_lockup", "breakeven_utilization"):
                assert rows.iloc[i][key] == pytest.approx(want[key], rel=1e-10), key
            assert rows.iloc[i].breakeven_deflation == pytest.approx(
                want["breakeven_deflation"], abs=1e-9)

    @pytest.mark.parametrize(("column", "threshold"), [("breakeven_rent", 1.0),
                                                       ("breakeven_rent_lockup", LOCKUP)])
    def test_flat_breakeven_rent(self, column, threshold):
        fac = _stack(_portfolio_specs())
        be = evaluate(fac, 12).metrics[column].to_numpy()
        assert np.all(be > 0)
        # Flat: the merchant rent at the breakeven with no deflation and no step-down.
        fed = evaluate(fac.replace(merchant_rent=be, rent_deflation=0.0), 12)
        assert np.all(fed.flows.merchant_rent == be[:, None])
        np.testing.assert_allclose(fed.metrics.min_dscr, threshold, rtol=0, atol=1e-9)

    def test_a_cent_below_the_breakeven_rent_breaches(self):
        fac = _stack(_portfolio_specs())
        be = evaluate(fac, 12).metrics.breakeven_rent.to_numpy()
        fed = evaluate(fac.replace(merchant_rent=be - 0.01, rent_deflation=0.0), 12)
        assert np.all(fed.metrics.min_dscr < 1.0)

    def test_breakeven_utilization(self):
        fac = _stack(_portfolio_specs())
        be = evaluate(fac, 12).metrics.breakeven_utilization.to_numpy()
        assert np.all((be > 0) & (be < 1))
        fed = evaluate(fac.replace(utilization=be), 12)
        np.testing.assert_allclose(fed.metrics.min_dscr, 1.0, rtol=0, atol=1e-9)

    def test_breakeven_deflation(self):
        fac = _stack(_portfolio_specs())
        be = evaluate(fac, 12).metrics.breakeven_deflation.to_numpy()
        assert np.all((be > 0) & (be < 0.99))
        fed = evaluate(fac.replace(rent_deflation=be), 12)
        np.testing.assert_allclose(fed.metrics.min_dscr, 1.0, rtol=0, atol=1e-8)

    def test_taxed_facility(self):
        """With a 21% cash tax CFADS is kinked in the rent; the breakevens still land."""
        spec = facility(12, debt=5e6, tax_rate=0.21, tax_depreciation_schedule=(),
                        tax_interest_deductible=False)  # the oracle's tax on EBITDA
        row = _row(_evaluate(spec, 12))
        n_t = 60
        ds = _annuity(spec["debt"], spec["annual_rate"], spec["tenor"], 12, n_t)["debt_service"]
        n = spec["tenor"]

        def min_at(rent=None, util=None):
            return _min_dscr(_cash(spec, 12, n_t, rent=rent, util=util)["cfads"][:n], ds[:n])

        rent = brentq(lambda x: min_at(rent=x) - 1.0, 0.0, 100.0, xtol=1e-13)
        lockup = brentq(lambda x: min_at(rent=x) - LOCKUP, 0.0, 100.0, xtol=1e-13)
        util = brentq(lambda u: min_at(util=u) - 1.0, 0.0, 1.0, xtol=1e-14)
        assert row.breakeven_rent == pytest.approx(rent, abs=1e-6)
        assert row.breakeven_rent_lockup == pytest.approx(lockup, abs=1e-6)
        assert row.breakeven_utilization == pytest.approx(util, abs=1e-9)
        # The untaxed closed form would be wrong here: tax lowers CFADS, so it is higher.
        untaxed = _row(_evaluate(facility(12, debt=5e6), 12))
        assert row.breakeven_rent > untaxed.breakeven_rent + 0.01
        fed = _row(_evaluate(dict(spec, merchant_rent=row.breakeven_rent,
                                  rent_deflation=0.0), 12))
        assert fed.min_dscr == pytest.approx(1.0, abs=1e-6)
        fed = _row(_evaluate(dict(spec, utilization=row.breakeven_utilization), 12))
        assert fed.min_dscr == pytest.approx(1.0, abs=1e-8)

    @SETTINGS
    @given(rent=floats(1.0, 5.0), deflation=floats(0.0, 0.5),
           util=floats(0.3, 1.0), debt=floats(1e6, 3e7), rate=floats(0.0, 0.2),
           share=floats(0.0, 0.9), m=st.sampled_from([1, 4, 12]),
           kind=st.sampled_from(["annuity", "straight_line", "bullet"]))
    def test_breakeven_rent_property(self, rent, deflation, util, debt, rate, share, m, kind):
        spec = facility(m, merchant_rent=rent, rent_deflation=deflation, utilization=util,
                        debt=debt, annual_rate=rate, contracted_share=share,
                        amortization=kind)
        row = _row(_evaluate(spec, m))
        be = row.breakeven_rent
        if np.isnan(be):  # nothing to cover: a 0% bullet whose balloon is refinanced
            assert kind == "bullet" and rate == 0 and np.isnan(row.min_dscr)
            return
        fed = _row(_evaluate(dict(spec, merchant_rent=max(be, 0.0), rent_deflation=0.0), m))
        if be >= 0:
            assert fed.min_dscr == pytest.approx(1.0, rel=1e-9)
        else:  # the contract alone covers debt service: DSCR >= 1 with no merchant rent
            assert fed.min_dscr >= 1.0 - 1e-9


# --------------------------------------------------------------------------- sculpting

class TestSculpted:
    def test_every_dscr_and_llcr_equal_the_target(self):
        spec = facility(12, amortization="sculpted", debt=0.0, target_dscr=1.35,
                        rent_deflation=0.15)
        ev = _evaluate(spec, 12)
        n = spec["tenor"]
        cfads = _cash(spec, 12, 60)["cfads"][:n]
        assert np.all(cfads > 0)  # the identities need positive CFADS
        np.testing.assert_allclose(ev.dscr[0, :n], 1.35, rtol=1e-12)
        np.testing.assert_allclose(ev.llcr[0, :n], 1.35, rtol=1e-10)
        assert np.all(np.isnan(ev.dscr[0, n:]))
        # Debt = capacity = NPV at the debt rate of CFADS / target (docs/sources.md "Sculpting").
        capacity = npf.npv(0.095 / 12, np.concatenate([[0.0], cfads / 1.35]))
        row = _row(ev)
        assert row.debt == pytest.approx(capacity, rel=1e-12)
        assert row.debt_capacity == pytest.approx(capacity, rel=1e-12)  # at target_dscr
        assert ev.schedule.principal[0].sum() == pytest.approx(capacity, rel=1e-12)
        assert ev.llcr[0, n - 1] == pytest.approx(ev.dscr[0, n - 1], rel=1e-12)

    def test_debt_capacity_metric_is_sized_at_the_target(self):
        spec = facility(12, amortization="annuity", target_dscr=1.4, rent_deflation=0.15)
        cfads = _cash(spec, 12, 60)["cfads"][:48]
        want = npf.npv(0.095 / 12, np.concatenate([[0.0], cfads / 1.4]))
        assert _row(_evaluate(spec, 12)).debt_capacity == pytest.approx(want, rel=1e-12)

    def test_an_amount_below_capacity_keeps_the_shape(self):
        base = facility(12, amortization="sculpted", debt=0.0, target_dscr=1.3,
                        rent_deflation=0.15)
        capacity = _row(_evaluate(base, 12)).debt
        ev = _evaluate(dict(base, debt=0.8 * capacity), 12)
        np.testing.assert_allclose(ev.dscr[0, :48], 1.3 / 0.8, rtol=1e-12)


# --------------------------------------------------------------------------- floating rates

class TestFloatingRate:
    @pytest.mark.parametrize("floor", [0.0, 0.02])
    def test_rate_is_floored_base_plus_spread(self, floor):
        n = 36
        base = 0.043 - 0.0015 * np.arange(n)  # SOFR falling through the floor
        spec = facility(12, tenor=n, floating=True, base_rate=base, spread=0.065,
                        rate_floor=floor, annual_rate=0.5)  # annual_rate ignored
        s = _evaluate(spec, 12, horizon=n).schedule
        rate = np.maximum(base, floor) + 0.065
        # Oracle: a level annuity re-levelled each period on the balance at that period's
        # rate (the payment numpy-financial gives for the periods left).
        bal, interest, principal = spec["debt"], [], []
        for i in range(n):
            pay = -npf.pmt(rate[i] / 12, n - i, bal)
            interest.append(bal * rate[i] / 12)
            principal.append(pay - interest[-1])
            bal -= principal[-1]
        np.testing.assert_allclose(s.interest[0], interest, rtol=1e-10)
        np.testing.assert_allclose(s.principal[0], principal, rtol=1e-10)
        assert s.closing[0, -1] == 0.0
        assert rate[-1] == floor + 0.065  # the floor binds at the end

    def test_llcr_discounts_at_the_rate_path(self):
        n = 24
        base = np.linspace(0.05, 0.01, n)
        spec = facility(12, tenor=n, floating=True, base_rate=base, spread=0.04,
                        rate_floor=0.0)
        ev = _evaluate(spec, 12, horizon=n)
        cf = ev.flows.cfads[0]
        rate = (base + 0.04) / 12
        discount = np.cumprod(1.0 / (1.0 + rate))  # period t's CFADS back to today
        assert _row(ev).llcr == pytest.approx(np.sum(cf * discount) / spec["debt"], rel=1e-12)

    def test_fixed_and_floating_side_by_side(self):
        specs = [facility(12, debt=10e6), facility(12, debt=10e6)]
        fac = _stack(specs).replace(floating=np.array([False, True]), base_rate=0.04,
                                    spread=0.055, rate_floor=0.0)
        s = evaluate(fac, 12).schedule
        assert s.interest[0, 0] == pytest.approx(10e6 * 0.095 / 12)
        assert s.interest[1, 0] == pytest.approx(10e6 * 0.095 / 12)  # 4.0% + 5.5%
        fac = fac.replace(base_rate=-0.01)  # below the 0% floor
        assert evaluate(fac, 12).schedule.interest[1, 0] == pytest.approx(10e6 * 0.055 / 12)


# --------------------------------------------------------------------------- bullets

@pytest.mark.parametrize("refinance", [True, False])
def test_bullet_balloon_refinanced_or_paid(refinance):
    """A bullet pays interest each month; its balloon is refinanced (default: coverage
    tests interest only) or paid from cash flow (the maturity DSCR collapses)."""
    spec = facility(12, amortization="bullet", refinance_balloon=refinance)
    ev = _evaluate(spec, 12)
    interest = 16e6 * 0.095 / 12
    cfads = _cash(spec, 12, 60)["cfads"]
    np.testing.assert_allclose(ev.schedule.interest[0, :48], interest, rtol=1e-12)
    assert ev.schedule.principal[0, 47] == 16e6 and _row(ev).wal_years == 4.0
    final = interest if refinance else interest + 16e6
    np.testing.assert_allclose(ev.dscr[0, :47], cfads[:47] / interest, rtol=1e-12)
    assert ev.dscr[0, 47] == pytest.approx(cfads[47] / final, rel=1e-12)
    assert _row(ev).min_dscr == pytest.approx(min(cfads[:47].min() / interest,
                                                  cfads[47] / final), rel=1e-12)


# --------------------------------------------------------------------------- cash sweep

class TestCashSweep:
    @staticmethod
    def _sweep_oracle(spec: dict, m: int):
        """The sweep loop written out: scheduled annuity principal, then half the excess."""
        n = spec["tenor"]
        ann = _annuity(spec["debt"], spec["annual_rate"], n, m, n)
        cfads = _cash(spec, m, n)["cfads"]
        r = spec["annual_rate"] / m
        bal, ds, sweep = spec["debt"], [], []
        for i in range(n):
            interest = bal * r
            paid = bal if i == n - 1 else min(ann["principal"][i], bal)  # maturity repays
            swept = min(spec["cash_sweep"] * max(cfads[i] - interest - paid, 0.0), bal - paid)
            ds.append(interest + paid)
            sweep.append(swept)
            bal = bal - paid - swept
        return np.array(ds), np.array(sweep), cfads

    def test_against_a_loop(self):
        spec = facility(12, debt=18e6, cash_sweep=0.5)
        ev = _evaluate(spec, 12)
        ds, sweep, cfads = self._sweep_oracle(spec, 12)
        np.testing.assert_allclose(ev.schedule.debt_service[0, :48], ds, rtol=1e-9, atol=1e-6)
        np.testing.assert_allclose(ev.sweep[0, :48], sweep, rtol=1e-9, atol=1e-6)
        live = ds > 0  # the sweep may repay the loan before maturity
        assert _row(ev).min_dscr == pytest.approx(np.min(cfads[live] / ds[live]), rel=1e-9)

    def test_no_debt_service_after_maturity(self):
        """Regression: a swept loan that runs to maturity left float dust on its balance
        (2.8e-10), whose interest became 'debt service' after maturity against zero CFADS:
        DSCR 0 and min DSCR 0 for a facility covering exactly 1.00x."""
        fac = Facilities(gpus=1000, gpu_unit_cost=30_000, merchant_rent=2.4, utilization=0.85,
                         debt=10e6, annual_rate=0.10, tenor=48, cash_sweep=0.5)
        be = _row(evaluate(fac, 12)).breakeven_rent
        ev = evaluate(fac.replace(merchant_rent=be, rent_deflation=0.0), 12)
        n = 48
        assert np.all(ev.schedule.debt_service[0, n:] == 0)
        assert np.all(ev.schedule.closing[0, n - 1:] == 0)
        assert _row(ev).min_dscr == pytest.approx(1.0, abs=1e-6)


# --------------------------------------------------------------------------- portfolios

FAMILY_PARAMS = dict(life=floats(0.5, 8.0), salvage=floats(0.0, 0.5),
                     rate=floats(0.0, 0.9), lam=floats(0.0, 2.0),
                     floor=floats(0.0, 0.3), hold_years=floats(0.0, 4.0),
                     steepness=floats(0.0, 5.0))


@st.composite
def portfolios(draw):
    """1-6 facilities on one grid: mixed amortization, curve families, rates, tax, stress."""
    m = draw(st.sampled_from([1, 4, 12]))
    n = draw(st.integers(1, 6))

    def each(strategy):
        return np.array(draw(st.lists(strategy, min_size=n, max_size=n)))

    tenor = each(st.integers(1, 6 * m))
    kinds = [str(k) for k in each(st.sampled_from(AMORTIZATIONS))]
    # Sculpted facilities borrow their capacity (debt 0): a fixed amount cannot be
    # sculpted on CFADS that is never positive, which random draws often give.
    debt = np.where(np.array(kinds) == "sculpted", 0.0, each(floats(1e5, 5e7)))
    specs = dict(
        gpus=each(st.integers(1, 5000)).astype(float),
        gpu_unit_cost=each(floats(5e3, 5e4)),
        merchant_rent=each(floats(0.5, 6.0)),
        utilization=each(floats(0.0, 1.0)),
        debt=debt,
        annual_rate=each(floats(0.0, 0.2)),
        tenor=tenor,
        amortization=kinds,
        residual_curve=[str(k) for k in each(st.sampled_from(
            ["straight_line", "declining_balance", "exponential_floor", "logistic"]))],
        curve_params={k: each(v) for k, v in FAMILY_PARAMS.items()},
        rent_deflation=each(floats(-0.1, 0.6)),
        contracted_share=each(floats(0.0, 1.0)),
        contract_rate=each(floats(0.0, 5.0)),
        contract_periods=np.array([draw(st.integers(0, int(t))) for t in tenor]),
        tax_rate=each(st.sampled_from([0.0, 0.21])),
        floating=each(st.booleans()),
        spread=each(floats(0.0, 0.1)),
        rate_floor=each(floats(0.0, 0.03)),
        base_rate=draw(floats(-0.01, 0.06)),
        economic_life_years=each(floats(0.5, 8.0)),
        age0=each(floats(0.0, 3.0)),
        step_down=each(floats(0.0, 0.5)),
        step_down_period=each(st.integers(0, 6 * m)),
        attrition_rate=each(floats(0.0, 0.1)),
        target_dscr=each(floats(1.0, 2.0)),
        hashrate_ph=each(st.sampled_from([0.0, 50.0])),
        btc_held=each(st.sampled_from([0.0, 100.0])),
    )
    return m, specs


def _one(specs: dict, i: int) -> Facilities:
    """Facility i of a portfolio as a single-facility input."""
    single = {}
    for k, v in specs.items():
        if k == "curve_params":
            single[k] = {p: float(x[i]) for p, x in v.items()}
        elif isinstance(v, list):
            single[k] = v[i]
        elif np.ndim(v) == 1:
            single[k] = v[i].item()
        else:
            single[k] = v
    return Facilities(**single)


ARRAYS = ("dscr", "llcr", "residual", "market_value", "liquidation_value", "ltv_market",
          "ltv_liquidation", "lgd", "mining_revenue", "mining_cfads")


@PORTFOLIO_SETTINGS
@given(portfolios())
def test_portfolio_is_its_facilities_stacked(drawn):
    m, specs = drawn
    port = evaluate(Facilities(**specs), m)
    n_t = port.dscr.shape[1]
    for i in range(len(specs["tenor"])):
        one = evaluate(_one(specs, i), m, horizon=n_t)
        np.testing.assert_allclose(port.metrics.select_dtypes(float).to_numpy()[i],
                                   one.metrics.select_dtypes(float).to_numpy()[0],
                                   rtol=1e-9, atol=1e-9, equal_nan=True)
        for name in ARRAYS:
            np.testing.assert_allclose(getattr(port, name)[i], getattr(one, name)[0],
                                       rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=name)
        np.testing.assert_allclose(port.flows.cfads[i], one.flows.cfads[0], rtol=1e-12,
                                   atol=1e-9)
        for key in ("opening", "interest", "principal", "closing"):
            np.testing.assert_allclose(getattr(port.schedule, key)[i],
                                       getattr(one.schedule, key)[0], rtol=1e-9, atol=1e-6)
    assert list(port.metrics.index) == [str(i) for i in range(1, len(specs["tenor"]) + 1)]


# --------------------------------------------------------------------------- properties

@SETTINGS
@given(slow=floats(-0.1, 0.9), extra=floats(0.0, 0.09), debt=floats(1e6, 4e7),
       share=floats(0.0, 1.0), util=floats(0.1, 1.0), tax=st.sampled_from([0.0, 0.3]),
       kind=st.sampled_from(["annuity", "straight_line", "bullet"]),
       m=st.sampled_from([1, 4, 12]))
def test_faster_deflation_never_raises_min_dscr(slow, extra, debt, share, util, tax, kind, m):
    spec = facility(m, debt=debt, contracted_share=share, utilization=util, tax_rate=tax,
                    amortization=kind)
    fac = _stack([dict(spec, rent_deflation=slow), dict(spec, rent_deflation=slow + extra)])
    low, high = evaluate(fac, m).metrics.min_dscr
    assert high <= low + 1e-12 * abs(low) + 1e-12


# --------------------------------------------------------------------------- the period table

def test_periods_frame_rows():
    specs = [facility(4, tenor=8), facility(4, tenor=12), facility(4, tenor=3)]
    ev = evaluate(_stack(specs).replace(ids=["A", "B", "C"]), 4)
    frame = ev.periods_frame()
    assert len(frame) == 8 + 12 + 3  # rows after each maturity are left out
    assert list(frame.facility_id.unique()) == ["A", "B", "C"]
    b = frame[frame.facility_id == "B"]
    assert list(b.period) == list(range(1, 13))
    np.testing.assert_allclose(b.year, np.arange(1, 13) / 4)
    for column, array in (("cfads", ev.flows.cfads), ("dscr", ev.dscr), ("llcr", ev.llcr),
                          ("debt_service", ev.schedule.debt_service),
                          ("closing_balance", ev.schedule.closing),
                          ("market_value", ev.market_value), ("lgd", ev.lgd)):
        np.testing.assert_array_equal(b[column].to_numpy(), array[1, :12], err_msg=column)
    assert frame.loc[frame.facility_id == "C", "closing_balance"].iloc[-1] == 0
    opex = ev.flows.power + ev.flows.colocation + ev.flows.other_opex
    np.testing.assert_allclose(b.opex, opex[1, :12])
    assert not frame.dscr.isna().any()  # every kept row has debt service


# --------------------------------------------------------------------------- bad inputs

def _base(**changes) -> Facilities:
    return Facilities(**facility(12, **changes))


@pytest.mark.parametrize(("changes", "argument", "text"), [
    (dict(gpus=np.array([1000.0, -5.0])), "gpus", "gpus must be >= 0, got -5 (position 2)"),
    (dict(utilization=1.2), "utilization", "utilization must be between 0 and 1, got 1.2"),
    (dict(tenor=0), "tenor", "tenor must be >= 1, got 0"),
    (dict(tenor=12.5), "tenor", "tenor must be a whole number of periods, got 12.5"),
    (dict(amortization="balloon"), "amortization",
     "amortization must be one of annuity, straight_line, bullet, sculpted, got 'balloon'"),
    (dict(target_dscr=0.0, amortization="sculpted"), "target_dscr",
     "target_dscr must be > 0, got 0"),
    (dict(residual_curve="linear"), "residual_curve", "got 'linear'"),
    (dict(annual_rate=np.full(61, 0.1)), "annual_rate",
     "a path over the 60 periods, got an array of shape (61,)"),
    (dict(floating=True, base_rate=np.full(59, 0.04)), "base_rate",
     "a path over the 60 periods, got an array of shape (59,)"),
    (dict(debt=np.array([1e6, 2e6]), gpus=np.array([1.0, 2.0, 3.0]), tenor=48), "debt",
     "debt must be one value per facility (3)"),
    (dict(ids=["A", "B"]), "ids", "ids must name every facility (1), got 2"),
    (dict(merchant_rent=float("nan")), "merchant_rent", "merchant_rent must be a finite"),
])
def test_bad_inputs_name_the_argument(changes, argument, text):
    with pytest.raises(GpuCreditError) as info:
        evaluate(_base(**changes), 12)
    assert text in str(info.value)
    assert info.value.argument == argument


def test_sculpting_error_names_the_facility_of_the_portfolio():
    """Regression: the sculpting error gave the position inside the sculpted group
    ("facility 1"), not the facility's position in the portfolio (2)."""
    specs = [facility(12, amortization="annuity"),
             facility(12, amortization="sculpted", utilization=0.0, contracted_share=0.0)]
    with pytest.raises(GpuCreditError, match=r"\(facility 2\)"):
        evaluate(_stack(specs), 12)


def test_horizon_shorter_than_the_tenor():
    with pytest.raises(GpuCreditError, match=r"horizon \(24 periods\) is shorter than the "
                                             r"longest tenor \(48 periods\)"):
        evaluate(_base(), 12, horizon=24)


def test_periods_per_year_must_be_known():
    with pytest.raises(GpuCreditError, match="periods_per_year must be one of 1, 2, 4, 12"):
        evaluate(_base(), 52)


@pytest.mark.parametrize(("changes", "argument"), [
    (dict(draws=np.zeros(13)), "draws"),                            # 13 periods, grid of 60
    (dict(floating=np.array([True, False])), "floating"),           # 2 flags, 1 facility
    (dict(step_ages=np.ones((3, 2))), "step_ages"),                 # 3 rows, 1 facility
    (dict(refinance_balloon=np.array([True, False])), "refinance_balloon"),  # 2 flags
])
def test_mismatched_shapes_raise_the_package_error(changes, argument):
    """Regression: these escaped as numpy's broadcast ValueError, naming no argument."""
    with pytest.raises(GpuCreditError) as info:
        evaluate(_base(**changes), 12)
    assert info.value.argument == argument
    assert argument in str(info.value)


# --------------------------------------------------------------------------- Monte Carlo hand-off

def _miners() -> Facilities:
    specs = [facility(12, debt=10e6, tenor=36), facility(12, debt=12e6, tenor=48)]
    return _stack(specs).replace(hashrate_ph=np.array([0.0, 400.0]),
                                 hashcost_per_ph_day=5.0, btc_held=np.array([0.0, 150.0]),
                                 btc_price=90_000.0, network_difficulty=1.5e14)


def test_exposure_splits_the_combined_cfads():
    ev = evaluate(_miners(), 12)
    ex = exposure(ev)
    assert ex.merchant_revenue.shape == (2, 48)  # cut at the longest tenor
    live = np.arange(1, 49) <= np.array([[36], [48]])
    combined = np.where(live, ev.flows.cfads[:, :48] + ev.mining_cfads[:, :48], 0.0)
    np.testing.assert_allclose(ex.merchant_revenue + ex.contract_revenue + ex.other_cfads
                               + ex.mining_cfads, combined, rtol=1e-12, atol=1e-6)
    # Self-mining revenue by hand: hashprice = 86,400 x 1e15 / (D x 2^32) x (3.125 + fees
    # 0.025) x BTC per PH/s per day; a month is 365/12 days. Its power: an S21 fleet at
    # 17.5 J/TH draws 17.5 kW per PH/s, 420 kWh a day at the facility's $0.075/kWh.
    hashprice = 86_400 * 1e15 / (1.5e14 * 2**32) * 3.15 * 90_000.0
    power = 17.5 * 24 * 0.075
    assert ex.mining_cfads[1, 0] == pytest.approx(400 * hashprice * 365 / 12, rel=1e-12)
    assert ev.mining_cfads[1, 0] == pytest.approx(400 * (hashprice - 5.0 - power) * 365 / 12,
                                                  rel=1e-12)
    np.testing.assert_array_equal(ex.debt_service, ev.schedule.debt_service[:, :48])
    np.testing.assert_allclose(ex.liquidation_factor, 1 - ev.metrics.haircut.to_numpy())
    np.testing.assert_allclose(ex.btc_held, [0.0, 150.0])
    row = ev.metrics.iloc[1]
    assert row.treasury_value == pytest.approx(150 * 90_000.0)
    assert row.min_dscr_combined > row.min_dscr


def test_simulate_is_reproducible_with_a_seed():
    fac = _miners()
    a = simulate(fac, 12, n_paths=500, seed=11)
    b = simulate(fac, 12, n_paths=500, seed=11)
    pd.testing.assert_frame_equal(a, b)
    assert list(a.index) == ["1", "2"] and set(a["n_paths"]) == {500}
    # Another seed draws other paths: the simulated DSCR quantiles move.
    c = simulate(fac, 12, n_paths=500, seed=12)
    quantiles = ["min_dscr_q05", "min_dscr_q50", "min_dscr_q95"]
    assert not np.allclose(a[quantiles].to_numpy(float), c[quantiles].to_numpy(float))


def test_price_volatility_and_impact_coefficient_reach_the_haircut():
    """The Assumptions' used-GPU price volatility and impact coefficient Y are the
    sigma_m and Y of docs/sources.md's impact law (they were once ignored by the engine)."""
    ev = evaluate(_base(price_vol_monthly=0.20, impact_coefficient=1.0), 12)
    m = ev.metrics.iloc[0]
    # the base facility: 1,024 GPUs sold over 4 months into 1,500 a month; install 20%,
    # sale costs 6% of value
    gpus, months, absorption = 1024.0, 4.0, 1500.0
    f = 1 - 0.6155 * math.exp(-months * 30.4375 / 57.15)
    impact = 1.0 * 0.20 * math.sqrt(gpus / (absorption * months))
    mv = m["market_value"]
    assert m["liquidation_value"] == pytest.approx(mv * f * (1 - impact) * 0.80 - 0.06 * mv,
                                                   rel=1e-12)
    default = evaluate(_base(), 12).metrics.iloc[0]
    assert default["liquidation_value"] > m["liquidation_value"]  # sigma 0.10, Y 0.75


# --------------------------------------------------------------------------- today (issue 9)

@pytest.mark.parametrize("m", [1, 2, 4, 12])
def test_values_today_do_not_depend_on_the_payment_grid(m):
    """Regression: "today" was the end of period 1, so a semiannual loan lost half a year of
    value and gained half a year of interest. Today is t = 0: by hand, an H100-like fleet
    1.5 years old on lambda 0.46, floor 3%, carrying 16m of debt."""
    ev = _evaluate(facility(m, age0=1.5), m)
    value = 1024 * 32_000 * (0.03 + 0.97 * math.exp(-0.46 * 1.5))
    row = _row(ev)
    assert row.market_value == pytest.approx(value, rel=1e-12)
    assert row.ltv_market == pytest.approx(16e6 / value, rel=1e-12)
    assert row.liquidation_value == pytest.approx(value * (1 - row.haircut), rel=1e-12)
    assert row.ltv_liquidation == pytest.approx(16e6 / row.liquidation_value, rel=1e-12)


@pytest.mark.parametrize("age0", [0.0, 1.0, 3.25, 6.0])
def test_life_gap_counts_from_delivery(age0):
    """The asset's clock started at delivery: gap = age today + WAL - economic life, the
    life left is life - age (never negative), and PLCR sees only the cash flows of the
    life left (NLC-A100's -4.1 years counted from today were -0.86 from delivery)."""
    row = _row(_evaluate(facility(4, age0=age0), 4))
    assert row.life_gap_years == pytest.approx(age0 + row.wal_years - 5.0, rel=1e-12)
    assert row.wal_to_life == pytest.approx((age0 + row.wal_years) / 5.0, rel=1e-12)
    assert row.remaining_life_years == pytest.approx(max(5.0 - age0, 0.0))
    if age0 < 5.0:  # PLCR: the oracle's NPV over the periods of the life left only
        want = _oracle(facility(4, age0=age0), 4)["metrics"]["plcr"]
        assert row.plcr == pytest.approx(want, rel=1e-12)


def test_value_band_today():
    """A low and a high residual curve give the band of values and LTVs today."""
    spec = facility(4, age0=2.0, residual_curve_low="declining_balance",
                    curve_params_low={"rate": 0.3}, residual_curve_high="declining_balance",
                    curve_params_high={"rate": 0.1})
    row = _row(_evaluate(spec, 4))
    cost = 1024 * 32_000
    assert row.market_value_low == pytest.approx(cost * 0.7**2, rel=1e-12)
    assert row.market_value_high == pytest.approx(cost * 0.9**2, rel=1e-12)
    assert row.ltv_market_low == pytest.approx(16e6 / (cost * 0.49), rel=1e-12)
    assert row.ltv_market_high == pytest.approx(16e6 / (cost * 0.81), rel=1e-12)
    assert np.isnan(_row(_evaluate(facility(4), 4)).ltv_market_low)  # no band given


def test_attrition_takes_gpus_out_of_revenue_as_out_of_collateral():
    """Regression: failed GPUs left the collateral but kept earning. With 9% a year since
    delivery, period t's revenue is the whole fleet's x 0.91^(age0 + t/m), as is the
    residual value; colocation is still paid on the installed kW."""
    m = 4
    ev, base = _evaluate(facility(m, attrition_rate=0.09), m), _oracle(facility(m), m)
    age = 0.5 + np.arange(1, 5 * m + 1) / m
    np.testing.assert_allclose(ev.flows.revenue[0], base["cash"]["revenue"] * 0.91**age,
                               rtol=1e-12)
    np.testing.assert_allclose(ev.flows.power[0], base["cash"]["power"] * 0.91**age,
                               rtol=1e-12)
    np.testing.assert_allclose(ev.flows.colocation[0], base["cash"]["colocation"], rtol=1e-12)
    np.testing.assert_allclose(ev.residual[0], base["residual"] * 0.91**age, rtol=1e-12)


# --------------------------------------------------------------------------- credit inputs

def _credit(**changes):
    from gpucredit.model import credit_inputs
    spec = dict(gpus=1000.0, gpu_unit_cost=30_000.0, merchant_rent=2.4, utilization=0.85,
                debt=18e6, annual_rate=0.10, tenor=8, rent_deflation=0.0, kw_per_gpu=1.3,
                contracted_share=0.5, contract_rate=2.6, contract_periods=6,
                counterparty_rating="BBB", termination_payment_months=6,
                releasing_lag_months=6, releasing_rent_factor=0.85, base_rate=0.04)
    spec.update(changes)
    return credit_inputs(evaluate(Facilities(**spec), 4))


class TestCreditInputs:
    """model.credit_inputs: the customer-credit, liquidity and refinancing arrays of the
    interface with the Monte Carlo (issues 9 and 10), by hand."""

    hours = 8760 / 4

    def test_contract_relet_and_termination_by_hand(self):
        c = _credit()
        contract = 1000 * 0.5 * self.hours * 2.6
        want = np.where(np.arange(1, 9) <= 6, contract, 0.0)
        np.testing.assert_allclose(c["contract_revenue"][0], want, rtol=1e-12)
        relet = 1000 * 0.5 * self.hours * 0.85 * 2.4 * 0.85  # contracted GPUs at the market
        np.testing.assert_allclose(c["relet_revenue"][0], np.where(want > 0, relet, 0.0),
                                   rtol=1e-12)
        # 6 months = 2 quarters of contract revenue, capped by what the contract has left,
        # recovered at the senior unsecured 38%.
        left = np.array([6, 5, 4, 3, 2, 1, 0, 0]) * contract
        np.testing.assert_allclose(c["termination_payment"][0],
                                   np.minimum(2 * contract, left) * 0.38, rtol=1e-12)
        assert c["relet_lag"][0] == 2 and c["n_periods_f"][0] == 8

    def test_other_cfads_leaves_out_contract_and_merchant_revenue(self):
        from gpucredit.model import credit_inputs
        ev = evaluate(Facilities(gpus=1000.0, gpu_unit_cost=30_000.0, merchant_rent=2.4,
                                 utilization=0.85, debt=18e6, annual_rate=0.10, tenor=8,
                                 contracted_share=0.5, contract_rate=2.6, contract_periods=6),
                      4)
        c, f = credit_inputs(ev), ev.flows
        np.testing.assert_allclose(
            c["other_cfads"][0] + c["contract_revenue"][0] + f.merchant_revenue[0, :8],
            f.cfads[0, :8], rtol=1e-12)

    def test_customer_pd_is_sp_term_structure(self):
        # S&P 2023 study, BBB average cumulative default rates: 0.15% at 1 year, 0.41% at 2.
        np.testing.assert_allclose(_credit()["counterparty_pd"][0], [0.0015, 0.0041],
                                   atol=1e-12)

    @pytest.mark.parametrize("better, worse", [("AA-", "A"), ("BBB+", "BB"), ("BB-", "B")])
    def test_better_rating_never_a_higher_pd(self, better, worse):
        b = _credit(counterparty_rating=better)["counterparty_pd"]
        w = _credit(counterparty_rating=worse)["counterparty_pd"]
        assert np.all(b <= w)

    def test_unrated_contract_takes_the_default_rating_and_no_contract_no_customer(self):
        unrated = _credit(counterparty_rating=None)["counterparty_pd"]
        np.testing.assert_array_equal(unrated, _credit(counterparty_rating="B+")["counterparty_pd"])
        none = _credit(contracted_share=0.0, backstop_rating="AA+")
        assert np.all(none["counterparty_pd"] == 0) and not none["has_backstop"][0]
        backed = _credit(backstop_rating="AA+")
        assert backed["has_backstop"][0] and np.all(backed["backstop_pd"] > 0)

    def test_liquidity_seniority_refinancing_generation_discount(self):
        c = _credit(dsra_amount=5e6, liquidity_facility=2e6,
                    seniority=["senior_unsecured"], generation="blackwell")
        assert c["liquidity"][0] == 7e6
        assert c["unsecured_recovery"][0] == 0.38
        assert np.isnan(_credit()["unsecured_recovery"][0])
        assert _credit(seniority="subordinated")["unsecured_recovery"][0] == 0.28
        # Secured: an annuity at (4% + 6%) / 4 over 3 years of quarters, per USD
        # refinanced; unsecured notes refinance as bullets: interest only, (4% + 6%) / 4.
        secured = _credit()["refi_debt_service_factor"][0]
        assert secured == pytest.approx(-npf.pmt(0.025, 12, 1.0), rel=1e-12)
        assert c["refi_debt_service_factor"][0] == pytest.approx(0.025, rel=1e-12)
        assert c["refi_max_ltv"][0] == 0.65 and c["refi_min_dscr"][0] == 1.25
        assert list(c["generation"]) == ["blackwell"]
        assert c["discount_rate"][0] == pytest.approx(0.025)

    def test_bad_rating_names_the_column(self):
        with pytest.raises(GpuCreditError, match="S&P's scale"):
            _credit(counterparty_rating="AAA-")



# --------------------------------------------------------------------------- cash tax

def test_cash_tax_after_tax_depreciation_and_interest_by_hand():
    """Regression: cash tax was charged on EBITDA. Now: 21% of EBITDA - MACRS 5-year tax
    depreciation from delivery - interest, losses carried forward (IRS Publication 946
    Table A-1: 20%, 32%, 19.2%, 11.52%, 11.52%, 5.76%)."""
    m = 4
    spec = facility(m, tax_rate=0.21, age0=0.0, rent_deflation=0.0)
    ev = _evaluate(spec, m)
    base = _oracle(facility(m, age0=0.0, rent_deflation=0.0), m)
    n_t = base["n_t"]
    ebitda = base["cash"]["revenue"] - base["cash"]["power"] - base["cash"]["colocation"] \
        - base["cash"]["other"]
    macrs = [0.20, 0.32, 0.192, 0.1152, 0.1152, 0.0576]
    year = (np.arange(n_t)) // m
    dep = np.array([1024 * 32_000 * macrs[y] / m if y < 6 else 0.0 for y in year])
    interest = base["sched"]["interest"]
    tax, loss = np.zeros(n_t), 0.0
    for t in range(n_t):
        income = ebitda[t] - dep[t] - interest[t] - loss
        loss = max(-income, 0.0)
        tax[t] = 0.21 * max(income, 0.0)
    np.testing.assert_allclose(ev.flows.tax[0], tax, rtol=1e-10, atol=1e-6)
    np.testing.assert_allclose(ev.flows.cfads[0], base["cash"]["cfads"] - tax, rtol=1e-10)
    assert np.all(ev.flows.tax[0] < 0.21 * ebitda)  # less than the old tax on EBITDA


def test_taxed_breakevens_fed_back_land_on_one():
    """With the full tax (depreciation, interest, carry-forward) the breakeven rent and
    utilization fed back give a minimum DSCR of 1.00x."""
    spec = facility(12, debt=5e6, tax_rate=0.21, rent_deflation=0.0)
    row = _row(_evaluate(spec, 12))
    fed = _row(_evaluate(dict(spec, merchant_rent=row.breakeven_rent), 12))
    assert fed.min_dscr == pytest.approx(1.0, abs=1e-6)
    fed = _row(_evaluate(dict(spec, utilization=row.breakeven_utilization), 12))
    assert fed.min_dscr == pytest.approx(1.0, abs=1e-6)


def test_breakevens_say_what_they_mean():
    """Regression: a breakeven the contract alone covers printed as a negative rent, and
    the solver's 99% cap printed as a value. A flag column says which is which."""
    covered = facility(12, contracted_share=1.0, contract_rate=8.0, contract_periods=48)
    weak = facility(12, debt=60e6)
    easy = facility(12, debt=1e5, contracted_share=0.0)
    mostly = facility(12, contracted_share=0.9, contract_rate=8.0, contract_periods=48)
    ev = evaluate(_stack([covered, weak, easy, facility(12), mostly]), 12)
    met = ev.metrics
    assert np.isnan(met.breakeven_rent.iloc[0])  # no merchant GPUs at all
    assert met.breakeven_rent.iloc[4] < 0       # the contract alone more than covers
    assert met.breakeven_rent_status.iloc[0] == "covered by contract"
    assert met.breakeven_rent_status.iloc[4] == "covered by contract"
    assert met.breakeven_utilization_status.iloc[4] == "covered by contract"
    assert met.breakeven_rent_status.iloc[3] == "solved" and met.breakeven_rent.iloc[3] > 0
    assert np.isnan(met.breakeven_deflation.iloc[1])
    assert met.breakeven_deflation_bound.iloc[1] == "<"
    assert met.breakeven_utilization_status.iloc[1] == "above 100%"
    assert met.breakeven_deflation.iloc[0] == pytest.approx(0.99)
    assert met.breakeven_deflation_bound.iloc[0] == ">"
    assert met.breakeven_deflation_bound.iloc[3] == "="


_TWO = dict(gpus=[1000, 1000], gpu_unit_cost=30_000, merchant_rent=[2.4, 2.4],
            utilization=0.8, debt=10e6, annual_rate=0.08, tenor=8, rent_deflation=0.25)


class TestMerchantRentPath:
    """``merchant_rent_path``: the given rents for its W periods, then its last value at
    the facility's deflation; a NaN row keeps the trend."""

    def test_given_rents_then_the_trend_from_the_last(self):
        path = np.full((2, 3), np.nan)
        path[1] = [2.4, 2.2, 2.0]
        got = evaluate(Facilities(**_TWO, merchant_rent_path=path), 4).flows.merchant_rent
        assert got[1, :5] == pytest.approx([2.4, 2.2, 2.0, 2.0 * 0.75 ** 0.25, 2.0 * 0.75 ** 0.5])
        assert got[0, :5] == pytest.approx(2.4 * 0.75 ** (np.arange(5) / 4))

    def test_revenue_follows_the_path(self):
        path = np.tile([3.0, 1.0], (2, 1))
        a = evaluate(Facilities(**_TWO, merchant_rent_path=path), 4)
        hours = 1000 * 0.8 * 8766 / 4  # GPU-hours a quarter (365.25 days)
        assert a.flows.revenue[0, :2] == pytest.approx([3.0 * hours, 1.0 * hours], rel=1e-3)

    def test_a_row_half_filled_is_refused(self):
        path = np.array([[2.4, np.nan], [2.4, 2.3]])
        with pytest.raises(GpuCreditError, match="all numbers or all blank"):
            evaluate(Facilities(**_TWO, merchant_rent_path=path), 4)


# --------------------------------------------------------------------------- delayed draws

def _ddtl(**changes) -> Facilities:
    """2 GPUs financed at $15,000 each (75% of a $20,000 cost), $30,000 more committed
    and drawn over the first two of four annual periods; flat $2.00 rent, fully used,
    1 kW at PUE 1 and $0.10/kWh, $10/kW-month colocation, 10% attrition a year, a
    straight-line curve over 5 years to nothing, an 8% bullet, a 4-year grid."""
    spec = dict(gpus=2.0, gpu_unit_cost=20_000.0, merchant_rent=2.0, utilization=1.0,
                debt=30_000.0, commitment=60_000.0, availability_periods=2,
                annual_rate=0.08, tenor=4, amortization="bullet", rent_deflation=0.0,
                kw_per_gpu=1.0, pue=1.0, power_price=0.10, colocation_rate=10.0,
                attrition_rate=0.10, economic_life_years=4.0, residual_curve="straight_line",
                curve_params={"life": 5.0, "salvage": 0.0})
    spec.update(changes)
    return Facilities(**spec)


class TestDelayedDraws:
    """A DDTL worked by hand: $30,000 undrawn over 2 periods is $15,000 at the start of
    each, buying 15,000 / (30,000 / 2) = 1 new GPU each time."""

    # GPUs installed at the end of years 1..4: 2 + 1, then + 1.
    INSTALLED = np.array([3.0, 4.0, 4.0, 4.0])
    # Working GPUs, 0.9^age each: the first 2 and the year-1 GPU are t years old, the
    # year-2 GPU t - 1.
    WORKING = np.array([3 * 0.9, 3 * 0.81 + 0.9, 3 * 0.729 + 0.81, 3 * 0.6561 + 0.729])

    def test_draws_and_balance(self):
        s = evaluate(_ddtl(), 1).schedule
        np.testing.assert_allclose(s.draw[0], [15_000, 15_000, 0, 0])
        np.testing.assert_allclose(s.opening[0], [30_000, 45_000, 60_000, 60_000])
        np.testing.assert_allclose(s.interest[0], [3_600, 4_800, 4_800, 4_800])
        np.testing.assert_allclose(s.closing[0], [45_000, 60_000, 60_000, 0])

    def test_fleet_revenue_and_costs(self):
        f = evaluate(_ddtl(), 1).flows
        np.testing.assert_allclose(f.revenue[0], self.WORKING * 8760 * 2.0)
        np.testing.assert_allclose(f.power[0], self.WORKING * 8760 * 0.10)
        # Colocation is paid on the kW reserved for every GPU installed.
        np.testing.assert_allclose(f.colocation[0], self.INSTALLED * 10.0 * 12)

    def test_collateral_counts_each_vintage_at_its_own_age(self):
        ev = evaluate(_ddtl(), 1)
        # value a GPU = 20,000 (1 - age / 5) 0.9^age
        v = {a: 20_000 * (1 - a / 5) * 0.9 ** a for a in range(5)}
        expected = [3 * v[1], 3 * v[2] + v[1], 3 * v[3] + v[2], 3 * v[4] + v[3]]
        np.testing.assert_allclose(ev.market_value[0], expected)
        np.testing.assert_allclose(ev.residual[0], np.array(expected)
                                   / (20_000 * self.INSTALLED))
        # period 1: owed 45,000 + 3,600 interest against 3 GPUs of value v[1]
        np.testing.assert_allclose(ev.ltv_market[0, 0], 48_600 / (3 * v[1]))

    def test_metrics_show_undrawn_and_expected_draws(self):
        m = evaluate(_ddtl(), 1).metrics.iloc[0]
        assert (m["debt"], m["undrawn"], m["expected_draws"], m["gpus_bought"]) == (
            60_000, 30_000, 30_000, 2)
        # today, nothing is drawn yet: 30,000 against 2 new GPUs
        assert m["ltv_market"] == pytest.approx(30_000 / 40_000)

    def test_an_odd_draw_buys_part_gpus_at_the_same_loan_to_cost(self):
        ev = evaluate(_ddtl(commitment=51_000.0, availability_periods=3), 1)
        np.testing.assert_allclose(ev.schedule.draw[0], [7_000, 7_000, 7_000, 0])
        # each draw buys 7,000 / 15,000 GPUs
        np.testing.assert_allclose(ev.flows.colocation[0] / 120,
                                   2 + 7 / 15 * np.array([1, 2, 3, 3]))

    def test_annuity_repays_the_commitment(self):
        s = evaluate(_ddtl(amortization="annuity"), 1).schedule
        assert s.principal[0].sum() == pytest.approx(60_000)
        assert s.closing[0, -1] == pytest.approx(0, abs=1e-6)

    def test_monte_carlo_sees_the_drawn_exposure_and_the_grown_fleet(self):
        ev = evaluate(_ddtl(), 1)
        ex = exposure(ev)
        np.testing.assert_allclose(ex.merchant_revenue[0], self.WORKING * 8760 * 2.0)
        np.testing.assert_allclose(ex.collateral_value[0], ev.market_value[0])
        # opening + draw + interest: 45,000 + 3,600, then 60,000 + 4,800
        np.testing.assert_allclose(ex.debt_outstanding[0], [48_600, 64_800, 64_800, 64_800])

    @pytest.mark.parametrize("changes", [
        dict(availability_periods=0),                    # no availability period: today's
        dict(commitment=30_000.0),                       # nothing undrawn
        dict(commitment=None),                           # commitment = the debt
    ])
    def test_without_draws_nothing_changes(self, changes):
        plain = evaluate(_ddtl(commitment=None, availability_periods=0), 1)
        ev = evaluate(_ddtl(**changes), 1)
        pd.testing.assert_frame_equal(ev.periods_frame(), plain.periods_frame())
        cols = [c for c in plain.metrics if c != "undrawn"]
        pd.testing.assert_frame_equal(ev.metrics[cols], plain.metrics[cols])
        np.testing.assert_allclose(ev.flows.colocation[0], 2 * 120.0)

    def test_a_portfolio_with_and_without_draws_is_its_facilities(self):
        gpus, periods, tax = (3.0, 2.0, 4.0), (0, 2, 3), (0.0, 0.21, 0.21)
        steps = np.array([[0.5, np.nan], [1.5, 2.5], [np.nan, np.nan]])
        together = evaluate(_ddtl(ids=["P", "D2", "D3"], gpus=np.array(gpus),
                                  availability_periods=np.array(periods),
                                  tax_rate=np.array(tax), step_ages=steps,
                                  generation_jump=0.3), 1)
        for i in range(3):
            alone = evaluate(_ddtl(gpus=gpus[i], availability_periods=periods[i],
                                   tax_rate=tax[i], step_ages=steps[i:i + 1],
                                   generation_jump=0.3), 1)
            np.testing.assert_allclose(together.flows.cfads[i], alone.flows.cfads[0])
            np.testing.assert_allclose(together.market_value[i], alone.market_value[0])
            np.testing.assert_allclose(together.schedule.closing[i],
                                       alone.schedule.closing[0])

    def test_taxed_vintages_depreciate_from_their_delivery(self):
        # MACRS year 1 is 20%: the year-2 GPU deducts 20% of 20,000 in year 2.
        ev = evaluate(_ddtl(tax_rate=0.21, tax_depreciation_schedule=(0.2, 0.32)), 1)
        plain = evaluate(_ddtl(tax_rate=0.21, tax_depreciation_schedule=(0.2, 0.32),
                               availability_periods=0), 1)
        ebitda = ev.flows.ebitda[0]
        interest = ev.schedule.interest[0]
        depreciation = 20_000 * np.array([3 * 0.2, 3 * 0.32 + 0.2, 0.32, 0.0])
        taxable = ebitda - depreciation - interest
        assert np.all(taxable > 0)  # no loss to carry forward, so tax is period by period
        np.testing.assert_allclose(ev.flows.tax[0], 0.21 * taxable)
        assert plain.flows.tax[0, 0] < ev.flows.tax[0, 0]

    def test_generation_steps_move_to_each_vintage_clock(self):
        # A successor at volume 1.5 years from now: the fleet bought today (age 0) and the
        # year-1 GPU step at 1.5 years, the year-2 GPU (bought 1 year from now) at 0.5.
        ev = evaluate(_ddtl(step_ages=[1.5], generation_jump=0.5), 1)
        v = {a: 20_000 * (1 - a / 5) * 0.9 ** a for a in range(5)}
        np.testing.assert_allclose(ev.market_value[0, :2],
                                   [3 * v[1], (3 * v[2] + v[1]) * 0.5])

    @pytest.mark.parametrize(("changes", "argument", "text"), [
        (dict(availability_periods=5), "availability_periods",
         r"availability period \(5 periods\) runs past the tenor \(4 periods\)"),
        (dict(debt=0.0), "draws", "nothing is drawn or financed today"),
        (dict(amortization="sculpted"), "draws", "a sculpted loan has no schedule"),
        (dict(cash_sweep=0.5), "cash_sweep", "cannot be combined with delayed draws"),
    ])
    def test_draws_the_model_cannot_take_name_the_argument(self, changes, argument, text):
        with pytest.raises(GpuCreditError, match=text) as info:
            evaluate(_ddtl(**changes), 1)
        assert info.value.argument == argument


@SETTINGS
@given(undrawn=floats(0.0, 5e4), more=floats(0.0, 5e4), k=st.integers(1, 4),
       ltc=floats(0.2, 1.0), attrition=floats(0.0, 0.2), m=st.sampled_from([1, 4, 12]),
       kind=st.sampled_from(["annuity", "straight_line", "bullet"]))
def test_more_undrawn_at_the_same_loan_to_cost_never_lowers_revenue(
        undrawn, more, k, ltc, attrition, m, kind):
    debt = 2 * 20_000.0 * ltc

    def run(u):
        return evaluate(_ddtl(debt=debt, commitment=debt + u, availability_periods=k * m // 2
                              or 1, tenor=4 * m, amortization=kind, attrition_rate=attrition),
                        m)

    low, high = run(undrawn), run(undrawn + more)
    assert np.all(high.flows.revenue >= low.flows.revenue * (1 - 1e-12))
    assert np.all(high.market_value >= low.market_value * (1 - 1e-12))
    if more >= 1.0:  # the first draw buys more GPUs, which earn from period 1
        assert high.flows.revenue[0, 0] > low.flows.revenue[0, 0]
