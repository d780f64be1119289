"""Tests for gpucredit.scenarios: deterministic stress, tornado, and the worked example.

Oracles: the shocked fields worked out by hand (the core defaults read independently from
the functions' ``__kwdefaults__``); a facility whose rents do not deflate, so that every
period has the same DSCR and the tornado's values follow in closed form from the docs/sources.md
cash-flow formulas and ``numpy_financial.pmt``; the joint scenario's Monte Carlo rebuilt
by hand from the lower-level APIs; portfolio aggregates computed by hand on a tiny table.
Invariants go to hypothesis: faster deflation never raises the minimum DSCR, a lower BTC
price never raises the combined DSCR, a larger haircut never lowers the liquidation LTV,
and a portfolio equals its facilities run one by one. The last section runs
docs/examples/thesis.py and checks the worked example's claims and tables.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import math
import re
import sys
from pathlib import Path

import numpy as np
import numpy_financial as npf
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpucredit import collateral, fleet, montecarlo
from gpucredit.errors import GpuCreditError
from gpucredit.model import Facilities, evaluate, exposure
from gpucredit.montecarlo import MarketModel
from gpucredit.scenarios import (
    DEFAULT_DRIVERS,
    DETERMINISTIC_METRICS,
    MONTE_CARLO_METRICS,
    SHOCK_HELP,
    SHOCKS,
    STANDARD_SCENARIOS,
    Driver,
    Scenario,
    ScenarioTally,
    default_drivers,
    run_scenarios,
    scenario_summary,
    scenario_table,
    standard_scenarios,
    step_down_period,
    tornado,
)

pytestmark = pytest.mark.filterwarnings("error")

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = settings(max_examples=50, deadline=None)
SLOW_SETTINGS = settings(max_examples=20, deadline=None)
HOURS_PER_MONTH = 8760.0 / 12


def floats(low: float, high: float):
    return st.floats(low, high, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def neocloud(**changes) -> Facilities:
    """A 1,000-GPU neocloud facility with every cost given explicitly."""
    spec = dict(ids=["neo"], gpus=1000.0, gpu_unit_cost=30_000.0, merchant_rent=2.4,
                utilization=0.8, debt=18e6, annual_rate=0.10, tenor=48, kw_per_gpu=1.3,
                pue=1.3, power_price=0.08, colocation_rate=184.0)
    spec.update(changes)
    return Facilities(**spec)


def portfolio() -> Facilities:
    """Three different facilities: fixed annuity, floating straight-line with a contract,
    and a miner with a treasury."""
    return Facilities(
        ids=["neo", "float", "miner"],
        gpus=np.array([1000.0, 2048.0, 512.0]),
        gpu_unit_cost=np.array([30_000.0, 35_000.0, 25_000.0]),
        merchant_rent=np.array([2.4, 2.9, 2.1]),
        utilization=np.array([0.8, 0.9, 0.7]),
        debt=np.array([18e6, 40e6, 6e6]),
        annual_rate=np.array([0.10, 0.0, 0.11]),
        tenor=np.array([48, 36, 60]),
        floating=np.array([False, True, False]),
        base_rate=0.04, spread=np.array([0.0, 0.06, 0.0]),
        amortization=["annuity", "straight_line", "annuity"],
        rent_deflation=np.array([0.25, 0.15, 0.30]),
        contracted_share=np.array([0.0, 0.5, 0.0]), contract_rate=np.array([0.0, 3.1, 0.0]),
        contract_periods=np.array([0, 24, 0]),
        pue=np.array([1.3, 1.2, 1.4]), power_price=np.array([0.08, 0.06, 0.05]),
        install_haircut=np.array([0.15, 0.2, 0.1]),
        btc_held=np.array([0.0, 0.0, 150.0]), hashrate_ph=np.array([0.0, 0.0, 800.0]),
        hashcost_per_ph_day=np.array([0.0, 0.0, 20.0]))


def pick(fac: Facilities, i: int) -> Facilities:
    """Facility i of a portfolio as a one-facility Facilities."""
    n = fac.n
    changes = {}
    for f in dataclasses.fields(fac):
        v = getattr(fac, f.name)
        if f.name == "ids":
            changes[f.name] = [v[i]]
        elif isinstance(v, list | tuple) and len(v) == n:
            changes[f.name] = [v[i]]
        elif isinstance(v, np.ndarray) and v.ndim == 1 and v.size == n:
            changes[f.name] = v[i]
    return fac.replace(**changes)


def changed_fields(a: Facilities, b: Facilities) -> set[str]:
    out = set()
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        same = (x is y) or (np.shape(x) == np.shape(y) and bool(np.all(np.asarray(x)
                                                                        == np.asarray(y))))
        if not same:
            out.add(f.name)
    return out


# --------------------------------------------------------------------------- Scenario


SHOCK_BASE = dict(rent_deflation=0.25, merchant_rent=2.4, utilization=0.8, power_price=0.08,
                  pue=1.3, install_haircut=0.15, base_rate=0.04, btc_price=90_000.0)


class TestApply:
    """Each shock moves exactly its fields, by the amounts worked out here."""

    @pytest.mark.parametrize(("shock", "value", "field", "expected"), [
        ("rent_deflation", 0.40, "rent_deflation", 0.40),
        ("rent_deflation_add", 0.05, "rent_deflation", 0.30),       # 0.25 + 0.05
        ("merchant_rent_mult", 0.8, "merchant_rent", 1.92),         # 2.4 x 0.8
        ("utilization_mult", 1.1, "utilization", 0.88),             # 0.8 x 1.1
        ("utilization_add", -0.1, "utilization", 0.70),             # 0.8 - 0.1
        ("power_price_mult", 1.3, "power_price", 0.104),            # 0.08 x 1.3
        ("pue_add", 0.2, "pue", 1.5),                               # 1.3 + 0.2
        ("haircut_add", 0.1, "install_haircut", 0.25),              # 0.15 + 0.10
        ("base_rate_add", 0.02, "base_rate", 0.06),                 # 0.04 + 0.02
        ("btc_price_mult", 0.5, "btc_price", 45_000.0),             # 90,000 x 0.5
    ])
    def test_one_shock_one_field(self, shock, value, field, expected):
        fac = neocloud(**SHOCK_BASE)
        out = Scenario("s", **{shock: value}).apply(fac, 12)
        assert changed_fields(fac, out) == {field}
        assert getattr(out, field) == pytest.approx(expected, rel=1e-12)
        assert isinstance(getattr(out, field), float)  # a scalar stays a scalar

    def test_step_down_sets_size_and_period(self):
        fac = neocloud()
        out = Scenario("s", step_down=0.25, step_down_period_years=1.0).apply(fac, 12)
        assert changed_fields(fac, out) == {"step_down", "step_down_period"}
        # A step landing after 12 months hits the periods that start at or after it: 13..
        assert (out.step_down, out.step_down_period) == (0.25, 13)

    def test_rho_and_base_leave_the_facilities_alone(self):
        fac = neocloud()
        assert changed_fields(fac, Scenario("r", rho=0.6).apply(fac, 12)) == set()
        assert Scenario("base").apply(fac, 12) == fac

    def test_override_comes_before_the_add(self):
        out = Scenario("s", rent_deflation=0.3, rent_deflation_add=0.05).apply(neocloud(), 4)
        assert out.rent_deflation == pytest.approx(0.35)

    def test_multiplier_before_add_and_clipping(self):
        fac = neocloud(utilization=np.array([0.5, 0.9]), ids=["a", "b"],
                       gpus=np.array([1.0, 1.0]))
        out = Scenario("s", utilization_mult=1.2, utilization_add=0.05).apply(fac, 12)
        # 0.5 x 1.2 + 0.05 = 0.65; 0.9 x 1.2 + 0.05 = 1.13 -> clipped to 1
        np.testing.assert_allclose(out.utilization, [0.65, 1.0], rtol=1e-12)
        low = Scenario("s", utilization_add=-1.0).apply(fac, 12)
        np.testing.assert_array_equal(low.utilization, [0.0, 0.0])

    @pytest.mark.parametrize(("start", "add", "expected"), [
        (0.15, 0.95, 1.0), (0.15, -0.5, 0.0), (0.9, 0.05, 0.95)])
    def test_haircut_is_clipped_to_unit_interval(self, start, add, expected):
        out = Scenario("s", haircut_add=add).apply(neocloud(install_haircut=start), 12)
        assert out.install_haircut == pytest.approx(expected)

    def test_pue_is_floored_at_one(self):
        out = Scenario("s", pue_add=-0.5).apply(neocloud(pue=1.3), 12)
        assert out.pue == 1.0

    def test_missing_fields_start_from_the_core_defaults(self):
        fac = neocloud(power_price=None, pue=None, install_haircut=None)
        out = Scenario("s", power_price_mult=2.0, pue_add=0.1, haircut_add=0.05).apply(fac, 12)
        cfads_defaults = fleet.cfads.__kwdefaults__
        liq_defaults = collateral.liquidation_value.__kwdefaults__
        assert out.power_price == pytest.approx(2.0 * cfads_defaults["price_per_kwh"])
        assert out.pue == pytest.approx(cfads_defaults["pue"] + 0.1)
        assert out.install_haircut == pytest.approx(liq_defaults["install_haircut"] + 0.05)

    def test_portfolio_fields_stay_arrays_and_input_is_untouched(self):
        fac = portfolio()
        before = fac.merchant_rent.copy()
        out = Scenario("s", merchant_rent_mult=0.5).apply(fac, 12)
        np.testing.assert_allclose(out.merchant_rent, before * 0.5)
        np.testing.assert_array_equal(fac.merchant_rent, before)

    def test_base_rate_path_is_shifted(self):
        path = np.linspace(0.03, 0.05, 48)
        out = Scenario("s", base_rate_add=-0.01).apply(neocloud(base_rate=path), 12)
        np.testing.assert_allclose(out.base_rate, path - 0.01)

    @pytest.mark.parametrize(("years", "m", "period"), [
        (1.0, 12, 13), (1.0, 4, 5), (1.0, 1, 2), (0.5, 1, 2), (0.0, 12, 1), (0.3, 4, 3),
        (0.25, 12, 4)])
    def test_step_down_period(self, years, m, period):
        # first period t with (t - 1) / m >= years
        assert step_down_period(years, m) == period
        assert min(t for t in range(1, 100) if (t - 1) / m >= years - 1e-12) == period


class TestShockEffects:
    """Shocks change the cash flows as the formulas say."""

    def test_step_down_cuts_rents_and_values_from_the_landing_date(self):
        fac = neocloud(rent_deflation=0.2)
        base = evaluate(fac, 12)
        hit = evaluate(Scenario("s", step_down=0.25, step_down_period_years=1.0)
                       .apply(fac, 12), 12)
        ratio = hit.flows.merchant_revenue[0, :48] / base.flows.merchant_revenue[0, :48]
        np.testing.assert_allclose(ratio[:12], 1.0)
        np.testing.assert_allclose(ratio[12:], 0.75)
        np.testing.assert_allclose(hit.market_value[0, 12:] / base.market_value[0, 12:], 0.75)

    def test_btc_shock_scales_mining_revenue(self):
        fac = neocloud(hashrate_ph=1000.0, btc_held=10.0)
        base = evaluate(fac, 12)
        hit = evaluate(Scenario("s", btc_price_mult=0.5).apply(fac, 12), 12)
        # hashprice is proportional to the BTC price: revenue halves, as does the treasury
        np.testing.assert_allclose(hit.mining_revenue[0, :48], 0.5 * base.mining_revenue[0, :48])
        assert hit.metrics["treasury_value"].iloc[0] == pytest.approx(10.0 * 45_000.0)

    def test_base_rate_moves_floating_interest_only(self):
        fac = Facilities(ids=["fixed", "floating"], gpus=np.array([100.0, 100.0]),
                         gpu_unit_cost=30_000.0, merchant_rent=2.4, utilization=0.8,
                         debt=1.2e6, annual_rate=np.array([0.09, 0.0]), tenor=24,
                         floating=np.array([False, True]), base_rate=0.04,
                         spread=np.array([0.0, 0.05]))
        hit = evaluate(Scenario("s", base_rate_add=0.02).apply(fac, 12), 12)
        interest = hit.schedule.interest[:, 0]
        assert interest[0] == pytest.approx(1.2e6 * 0.09 / 12)           # fixed: unchanged
        assert interest[1] == pytest.approx(1.2e6 * (0.04 + 0.02 + 0.05) / 12)


class TestScenarioErrors:
    @pytest.mark.parametrize(("kwargs", "message"), [
        (dict(utilization_add=1.5), "utilization_add of scenario 's' must be between -1 and 1"),
        (dict(merchant_rent_mult=-1.0), "merchant_rent_mult of scenario 's' must be >= 0"),
        (dict(rho=1.2), "rho of scenario 's' must be between -1 and 1, got 1.2"),
        (dict(rent_deflation=1.0), "rent_deflation of scenario 's' must be < 1, got 1"),
        (dict(btc_price_mult=[0.5, 0.6]), "must be a single number"),
        (dict(pue_add=True), "pue_add of scenario 's' must be a number, got True"),
        (dict(pue_add="0.1"), "must be a number"),
        (dict(rho=float("nan")), "rho of scenario 's' must be a finite number"),
        (dict(step_down=0.25), "gives step_down without step_down_period_years"),
        (dict(step_down_period_years=1.0), "gives step_down_period_years without step_down"),
    ])
    def test_bad_shock(self, kwargs, message):
        with pytest.raises(GpuCreditError, match=re.escape(message)):
            Scenario("s", **kwargs)

    def test_bad_name_and_description(self):
        with pytest.raises(GpuCreditError, match="needs a name"):
            Scenario("  ")
        with pytest.raises(GpuCreditError, match="description of scenario 'x' must be text"):
            Scenario("x", description=3)

    def test_unknown_shock_in_a_mapping(self):
        with pytest.raises(GpuCreditError, match="scenario 'u' has an unknown shock 'rent'"):
            Scenario.from_mapping({"name": "u", "rent": 0.5})
        with pytest.raises(GpuCreditError, match="must be a mapping"):
            Scenario.from_mapping([("name", "u")])

    def test_mapping_blanks_are_unset(self):
        s = Scenario.from_mapping({"name": "m", "description": None, "rho": float("nan"),
                                   "pue_add": "", "haircut_add": 0.1})
        assert s.shocks == {"haircut_add": 0.1}
        assert s.description == ""

    def test_shocked_deflation_must_stay_below_one(self):
        fac = neocloud(rent_deflation=np.array([0.2, 0.96]), ids=["a", "b"],
                       gpus=np.array([1.0, 1.0]))
        with pytest.raises(GpuCreditError, match=re.escape(
                "rent_deflation under scenario 'fast' must be below 1, got 1.01 (facility 2)")):
            Scenario("fast", rent_deflation_add=0.05).apply(fac, 12)

    def test_apply_checks_its_arguments(self):
        with pytest.raises(GpuCreditError, match="fac must be a Facilities, got dict"):
            Scenario("s").apply({}, 12)
        with pytest.raises(GpuCreditError, match="periods_per_year must be one of"):
            Scenario("s").apply(neocloud(), 52)
        with pytest.raises(GpuCreditError, match="utilization must be between 0 and 1"):
            Scenario("s", utilization_add=0.1).apply(neocloud(utilization=1.3), 12)

    def test_frozen(self):
        with pytest.raises(dataclasses.FrozenInstanceError):
            Scenario("s").rho = 0.5  # type: ignore[misc]


class TestStandardScenarios:
    def test_every_scenario_is_a_stress_on_the_facilitys_own_base(self):
        """Regression: "deflation_20" replaced the 25% base by 20% (an upside) and
        "btc_minus_50" named no one it affects. Deflation is now added to each facility's
        own assumption and every name says what it does."""
        by_name = {s.name: s for s in STANDARD_SCENARIOS}
        assert list(by_name) == ["base", "rent_deflation_+5pp", "rent_deflation_+10pp",
                                 "rent_deflation_+15pp", "generation_step_-25%_1y",
                                 "customer_default_1y", "btc_-50%_miners", "joint_stress"]
        assert by_name["base"].shocks == {}
        assert [by_name[f"rent_deflation_+{k}pp"].shocks for k in (5, 10, 15)] == [
            {"rent_deflation_add": 0.05}, {"rent_deflation_add": 0.10},
            {"rent_deflation_add": 0.15}]
        assert all(s.rent_deflation is None for s in STANDARD_SCENARIOS)  # no overrides
        assert by_name["generation_step_-25%_1y"].shocks == {"step_down": 0.25,
                                                             "step_down_period_years": 1.0}
        assert by_name["customer_default_1y"].shocks == {"customer_default_years": 1.0}
        assert by_name["btc_-50%_miners"].shocks == {"btc_price_mult": 0.5}
        assert by_name["joint_stress"].shocks == {
            "rent_deflation_add": 0.15, "step_down": 0.25, "step_down_period_years": 1.0,
            "btc_price_mult": 0.5, "customer_default_years": 1.0, "rho": 0.6}
        assert all(len(s.description) > 40 for s in STANDARD_SCENARIOS)

    def test_no_standard_scenario_is_an_upside(self):
        res = run_scenarios(portfolio(), 12).pivot(index="facility_id", columns="scenario",
                                                   values="min_dscr")
        for name in res.columns:
            assert np.all(res[name] <= res["base"] + 1e-12), name

    def test_sizes_are_parameters(self):
        names = [s.name for s in standard_scenarios(deflation_add=(0.1,), step_down=0.3,
                                                    btc_price_mult=0.4,
                                                    customer_default_years=2.0)]
        assert names == ["base", "rent_deflation_+10pp", "generation_step_-30%_1y",
                         "customer_default_2y", "btc_-60%_miners", "joint_stress"]

    def test_scenario_table(self):
        t = scenario_table()
        assert list(t.columns) == ["description", *SHOCKS]
        assert t.loc["rent_deflation_+10pp", "rent_deflation_add"] == 0.1
        assert t.loc["btc_-50%_miners"].drop("description").notna().sum() == 1
        assert list(SHOCK_HELP) == list(SHOCKS) and all(SHOCK_HELP.values())


# --------------------------------------------------------------------------- run_scenarios


class TestRunScenarios:
    def test_base_scenario_reproduces_evaluate(self):
        fac = portfolio()
        res = run_scenarios(fac, 12, [Scenario("base")])
        met = evaluate(fac, 12).metrics
        same = {"debt": "debt", "min_dscr": "min_dscr", "avg_dscr": "avg_dscr",
                "min_dscr_combined": "min_dscr_combined", "llcr": "llcr",
                "min_llcr": "min_llcr", "ltv_market": "ltv_market",
                "ltv_liquidation": "ltv_liquidation", "max_ltv_market": "max_ltv_market",
                "max_ltv_liquidation": "max_ltv_liquidation",
                "first_breach": "first_breach_default",
                "first_breach_lockup": "first_breach_lockup",
                "first_collateral_shortfall": "first_collateral_shortfall",
                "breakeven_rent": "breakeven_rent",
                "breakeven_utilization": "breakeven_utilization",
                "breakeven_deflation": "breakeven_deflation", "market_value": "market_value",
                "liquidation_value": "liquidation_value", "treasury_value": "treasury_value"}
        assert res["facility_id"].tolist() == ["neo", "float", "miner"]
        assert (res["scenario"] == "base").all()
        for ours, theirs in same.items():
            np.testing.assert_array_equal(res[ours].to_numpy(dtype=float),
                                          met[theirs].to_numpy(), err_msg=ours)
        # LGD: at the first DSCR below 1.00x if there is one, else a default now.
        want = np.where(met["lgd_at_breach"].notna(), met["lgd_at_breach"], met["lgd_now"])
        np.testing.assert_array_equal(res["lgd"].to_numpy(), want)
        assert met["lgd_at_breach"].notna().any()

    def test_columns_and_shape(self):
        res = run_scenarios(portfolio(), 12)
        assert list(res.columns) == ["facility_id", "scenario", *DETERMINISTIC_METRICS]
        assert len(res) == 3 * len(STANDARD_SCENARIOS)
        assert res["scenario"].tolist()[:4] == ["base", "base", "base", "rent_deflation_+5pp"]
        assert res["first_breach"].dtype == np.int64

    def test_lgd_period_is_the_first_dscr_below_one(self):
        res = run_scenarios(neocloud(), 12, [Scenario("d", rent_deflation=0.3)])
        ev = evaluate(neocloud(rent_deflation=0.3), 12)
        below = np.flatnonzero(ev.dscr[0] < 1.0)
        assert res["lgd_period"].iloc[0] == below[0] + 1
        assert res["lgd"].iloc[0] == ev.lgd[0, below[0]]

    @pytest.mark.parametrize("m", [4, 12])
    def test_portfolio_equals_facilities_stacked(self, m):
        fac = portfolio()
        whole = run_scenarios(fac, m)
        parts = pd.concat([run_scenarios(pick(fac, i), m) for i in range(fac.n)])
        order = {s.name: k for k, s in enumerate(STANDARD_SCENARIOS)}
        parts = (parts.assign(_s=parts["scenario"].map(order))
                 .sort_values("_s", kind="stable").drop(columns="_s")
                 .reset_index(drop=True))
        pd.testing.assert_frame_equal(whole, parts, rtol=1e-12)

    def test_monte_carlo_portfolio_equals_facilities_stacked(self):
        fac = portfolio()
        market = MarketModel(jump_years=(), btc_price0=90_000.0)
        kw = dict(n_paths=1024, market=market, seed=3)
        joint = [STANDARD_SCENARIOS[-1]]
        whole = run_scenarios(fac, 12, joint, **kw)
        parts = pd.concat([run_scenarios(pick(fac, i), 12, joint, **kw)
                           for i in range(fac.n)], ignore_index=True)
        pd.testing.assert_frame_equal(whole, parts, rtol=1e-12)
        assert set(MONTE_CARLO_METRICS) <= set(whole.columns)

    def test_joint_monte_carlo_rebuilt_by_hand(self):
        fac = neocloud(hashrate_ph=800.0, hashcost_per_ph_day=20.0, btc_held=50.0)
        market = MarketModel(jump_years=(), btc_price0=90_000.0, rho=0.1)
        res = run_scenarios(fac, 12, [STANDARD_SCENARIOS[-1]], n_paths=2048,
                            market=market, seed=11)
        # the joint case by hand: 40% deflation, 25% off from period 13, BTC halved,
        # and the market at rho 0.6 starting from the halved BTC price
        stressed = fac.replace(rent_deflation=0.4, step_down=0.25, step_down_period=13,
                               btc_price=45_000.0)
        want = montecarlo.simulate(
            exposure(evaluate(stressed, 12)),
            dataclasses.replace(market, rho=0.6, btc_price0=45_000.0), 2048, 11, 12)
        for col in ("pd", "pd_se", "expected_loss", "el_rate", "p_ltv_above_1", "cvar_99"):
            assert res[col].iloc[0] == want[col].iloc[0], col
        assert res["lgd_mc"].iloc[0] == want["lgd"].iloc[0]

    def test_default_market_is_that_of_model_simulate(self):
        from gpucredit.model import simulate
        fac = neocloud(hashrate_ph=500.0, btc_held=20.0, btc_price=80_000.0)
        res = run_scenarios(fac, 12, [Scenario("base")], n_paths=1024, seed=4)
        want = simulate(fac, 12, n_paths=1024, seed=4)
        assert res["pd"].iloc[0] == want["pd"].iloc[0]
        assert res["expected_loss"].iloc[0] == want["expected_loss"].iloc[0]

    def test_errors(self):
        with pytest.raises(GpuCreditError, match="'a' appears twice"):
            run_scenarios(neocloud(), 12, [Scenario("a"), Scenario("a")])
        with pytest.raises(GpuCreditError, match=r"must hold Scenario objects, got dict "
                                                 r"\(position 2\)"):
            run_scenarios(neocloud(), 12, [Scenario("a"), {"name": "b"}])
        with pytest.raises(GpuCreditError, match="at least one Scenario"):
            run_scenarios(neocloud(), 12, [])
        with pytest.raises(GpuCreditError, match="scenarios must be a list of Scenario"):
            run_scenarios(neocloud(), 12, "base")
        with pytest.raises(GpuCreditError, match="fac must be a Facilities"):
            run_scenarios(None, 12)

    def test_single_scenario_is_accepted(self):
        res = run_scenarios(neocloud(), 12, Scenario("only"))
        assert res["scenario"].tolist() == ["only"]


class TestMonotone:
    """Invariants on small random facilities (two scenarios, one run_scenarios call)."""

    @SETTINGS
    @given(slow=floats(-0.1, 0.8), extra=floats(0.0, 0.19), util=floats(0.2, 1.0),
           rent=floats(0.5, 5.0), debt=floats(1e5, 4e7), tenor=st.integers(3, 60),
           share=floats(0.0, 0.8), m=st.sampled_from([1, 4, 12]))
    def test_faster_deflation_never_raises_min_dscr(self, slow, extra, util, rent, debt,
                                                     tenor, share, m):
        fac = neocloud(utilization=util, merchant_rent=rent, debt=debt, tenor=tenor,
                       contracted_share=share, contract_rate=2.5, contract_periods=tenor // 2)
        res = run_scenarios(fac, m, [Scenario("slow", rent_deflation=slow),
                                     Scenario("fast", rent_deflation=slow + extra)])
        a, b = res["min_dscr"].to_numpy()
        assert b <= a + 1e-12 * max(1.0, abs(a))

    @SETTINGS
    @given(lo=floats(0.0, 2.0), extra=floats(0.0, 2.0), hashrate=floats(0.0, 3000.0),
           hashcost=floats(0.0, 60.0), util=floats(0.2, 1.0), m=st.sampled_from([1, 12]))
    def test_lower_btc_never_raises_combined_dscr(self, lo, extra, hashrate, hashcost, util, m):
        fac = neocloud(utilization=util, hashrate_ph=hashrate, hashcost_per_ph_day=hashcost,
                       btc_held=100.0)
        res = run_scenarios(fac, m, [Scenario("low", btc_price_mult=lo),
                                     Scenario("high", btc_price_mult=lo + extra),
                                     Scenario("base")])
        low, high, base = res["min_dscr_combined"].to_numpy()
        assert low <= high + 1e-12 * max(1.0, abs(high))
        if lo + extra >= 1.0:
            assert high >= base - 1e-12 * max(1.0, abs(base))
        # the GPU-only DSCR does not see BTC at all
        assert len(set(res["min_dscr"])) == 1

    @SETTINGS
    @given(start=floats(0.0, 0.3), a=floats(-0.3, 0.4), extra=floats(0.0, 0.4),
           months=floats(1.0, 12.0), m=st.sampled_from([4, 12]))
    def test_larger_haircut_never_lowers_liquidation_ltv(self, start, a, extra, months, m):
        # results stay <= 0.7, so the recovery never hits its floor of 0 (where the LTV
        # has no value)
        extra = min(extra, max(0.0, 0.7 - start - a))
        fac = neocloud(install_haircut=start, liquidation_months=months)
        res = run_scenarios(fac, m, [Scenario("lo", haircut_add=a),
                                     Scenario("hi", haircut_add=a + extra)])
        lo, hi = res["max_ltv_liquidation"].to_numpy()
        assert hi >= lo * (1 - 1e-12)
        lo_now, hi_now = res["ltv_liquidation"].to_numpy()
        assert hi_now >= lo_now * (1 - 1e-12)
        # the market LTV does not see the haircut
        assert len(set(res["max_ltv_market"])) == 1

    @SLOW_SETTINGS
    @given(rents=st.lists(floats(0.5, 5.0), min_size=2, max_size=4),
           scenario=st.sampled_from(STANDARD_SCENARIOS))
    def test_portfolio_equals_facilities(self, rents, scenario):
        n = len(rents)
        fac = neocloud(ids=[f"f{i}" for i in range(n)], gpus=np.full(n, 500.0),
                       merchant_rent=np.array(rents), tenor=np.arange(24, 24 + 6 * n, 6),
                       hashrate_ph=np.linspace(0.0, 900.0, n))
        whole = run_scenarios(fac, 12, [scenario])
        parts = pd.concat([run_scenarios(pick(fac, i), 12, [scenario]) for i in range(n)],
                          ignore_index=True)
        pd.testing.assert_frame_equal(whole, parts, rtol=1e-12)


# --------------------------------------------------------------------------- summary


class TestScenarioSummary:
    @staticmethod
    def table() -> pd.DataFrame:
        return pd.DataFrame({
            "facility_id": ["a", "b", "c"] * 2,
            "scenario": ["s1"] * 3 + ["s2"] * 3,
            "debt": [100.0, 200.0, 700.0, 100.0, 200.0, 700.0],
            "min_dscr": [1.5, 0.9, np.nan, 1.2, 0.5, 0.8],
            "min_dscr_combined": [1.5, 1.1, np.nan, 1.2, 0.5, 0.8],
            "max_ltv_market": [0.7, 1.1, 0.5, 0.8, 1.3, 0.9],
            "max_ltv_liquidation": [0.9, 1.4, np.nan, 1.0, 1.7, 1.2],
            "first_breach": [0, 7, 0, 0, 3, 12],
            "first_breach_lockup": [5, 4, 0, 0, 2, 9],
            "lgd": [0.0, 0.5, 0.2, 0.1, 0.6, 0.3],
        })

    def test_aggregates_by_hand(self):
        out = scenario_summary(self.table())
        assert out.index.tolist() == ["s1", "s2"]
        s1, s2 = out.loc["s1"], out.loc["s2"]
        assert s1.facilities == 3 and s1.total_debt == 1000.0
        # s1: only b breaches (first_breach 7): 200 of 1,000
        assert (s1.facilities_breaching, s1.debt_in_breach) == (1, 200.0)
        assert s1.share_debt_in_breach == pytest.approx(0.2)
        assert s1.facilities_in_lockup == 2
        # c has no DSCR: (100 x 1.5 + 200 x 0.9) / 300 = 330 / 300
        assert s1.avg_min_dscr == pytest.approx(1.1)
        assert s1.worst_min_dscr == 0.9
        assert s1.avg_min_dscr_combined == pytest.approx((150 + 220) / 300)
        assert (s1.max_ltv_market, s1.max_ltv_liquidation) == (1.1, 1.4)
        # (100 x 0 + 200 x 0.5 + 700 x 0.2) / 1,000 = 240 / 1,000
        assert s1.avg_lgd == pytest.approx(0.24)
        # s2: b and c breach: 900 of 1,000; (120 + 100 + 560) / 1,000
        assert (s2.facilities_breaching, s2.debt_in_breach) == (2, 900.0)
        assert s2.avg_min_dscr == pytest.approx(0.78)
        assert s2.worst_min_dscr == 0.5
        assert s2.avg_lgd == pytest.approx((10 + 120 + 210) / 1000)

    def test_weights_by_series_array_and_scalar(self):
        t = self.table()
        series = scenario_summary(t, pd.Series([1.0, 1.0, 2.0], index=["a", "b", "c"]))
        array = scenario_summary(t.drop(columns="debt"), [1.0, 1.0, 2.0])
        pd.testing.assert_frame_equal(series, array)
        # equal weights on a and b: (1.5 + 0.9) / 2
        assert scenario_summary(t, 5.0).loc["s1", "avg_min_dscr"] == pytest.approx(1.2)
        assert series.loc["s2", "debt_in_breach"] == 3.0

    def test_monte_carlo_columns(self):
        t = self.table().assign(pd=[0.1, 0.2, 0.3, 0.0, 0.5, 1.0],
                                expected_loss=[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        out = scenario_summary(t)
        assert out.loc["s1", "avg_pd"] == pytest.approx((10 + 40 + 210) / 1000)
        assert out.loc["s2", "expected_loss"] == 15.0

    def test_on_run_scenarios(self):
        res = run_scenarios(portfolio(), 12)
        out = scenario_summary(res)
        assert out.index.tolist() == [s.name for s in STANDARD_SCENARIOS]
        base = res[res["scenario"] == "base"]
        assert out.loc["base", "total_debt"] == base["debt"].sum()
        assert out.loc["base", "facilities_breaching"] == (base["first_breach"] > 0).sum()

    def test_errors(self):
        t = self.table()
        with pytest.raises(GpuCreditError, match="results lacks the column"):
            scenario_summary(t.drop(columns="lgd"))
        with pytest.raises(GpuCreditError, match="debt has no value for facility 'c'"):
            scenario_summary(t, pd.Series([1.0, 1.0], index=["a", "b"]))
        with pytest.raises(GpuCreditError, match=r"one value per facility \(3\)"):
            scenario_summary(t, [1.0, 2.0])
        with pytest.raises(GpuCreditError, match="debt must be >= 0"):
            scenario_summary(t, [1.0, -2.0, 1.0])
        with pytest.raises(GpuCreditError, match="results must be the DataFrame"):
            scenario_summary({"a": 1})

    @staticmethod
    def big_table(n: int = 3000) -> pd.DataFrame:
        """Three scenarios of n facilities with numbers of every size, NaNs among them."""
        rng = np.random.default_rng(11)
        rows = 3 * n

        def noisy(scale):
            x = rng.lognormal(0.0, 2.0, rows) * scale
            x[rng.random(rows) < 0.1] = np.nan
            return x

        return pd.DataFrame({
            "facility_id": np.tile([f"F{i}" for i in range(n)], 3),
            "scenario": np.repeat(["base", "rent", "joint"], n),
            "debt": np.tile(rng.lognormal(16.0, 1.5, n), 3),
            "min_dscr": noisy(1.0), "min_dscr_combined": noisy(1.0),
            "max_ltv_market": noisy(0.5), "max_ltv_liquidation": noisy(0.8),
            "first_breach": rng.integers(0, 3, rows) * rng.integers(0, 40, rows),
            "first_breach_lockup": rng.integers(0, 2, rows) * rng.integers(0, 40, rows),
            "lgd": rng.random(rows), "pd": rng.random(rows) * 0.1,
            "expected_loss": rng.lognormal(10.0, 3.0, rows)})

    def test_tallied_in_pieces_the_same_to_the_last_bit(self):
        """The batch engine tallies a chunk at a time: however the table is cut, each
        figure is the one of the whole table, bit for bit."""
        t = self.big_table()
        whole = scenario_summary(t)
        for cuts in ([1], [1000, 1001, 4500], list(range(7, len(t), 577))):
            tally = ScenarioTally()
            for a, b in zip([0, *cuts], [*cuts, len(t)], strict=True):
                tally.add(t.iloc[a:b])
            pd.testing.assert_frame_equal(tally.frame(), whole, check_exact=True)
        assert len(tally) == len(t)

    def test_figures_are_pandas_weighted_averages(self):
        """An independent computation (pandas groupby) of every figure, to rounding."""
        t = self.big_table()
        out = scenario_summary(t)
        for name, g in t.groupby("scenario", sort=False):
            row, w = out.loc[name], g["debt"]
            assert row.total_debt == pytest.approx(w.sum(), rel=1e-12)
            assert row.debt_in_breach == pytest.approx(w[g.first_breach > 0].sum(), rel=1e-12)
            for avg, col in (("avg_min_dscr", "min_dscr"), ("avg_lgd", "lgd"), ("avg_pd", "pd"),
                             ("avg_min_dscr_combined", "min_dscr_combined")):
                ok = g[col].notna()
                assert row[avg] == pytest.approx((g[col][ok] * w[ok]).sum() / w[ok].sum(),
                                                 rel=1e-12)
            assert row.worst_min_dscr == g["min_dscr"].min()
            assert row.max_ltv_liquidation == g["max_ltv_liquidation"].max()
            assert row.expected_loss == pytest.approx(g["expected_loss"].sum(), rel=1e-12)


# --------------------------------------------------------------------------- tornado


def flat_facility(**changes) -> Facilities:
    """Rents that do not deflate: every period has the same CFADS and debt service."""
    spec = dict(ids=["flat"], gpus=100.0, gpu_unit_cost=25_000.0, merchant_rent=2.0,
                utilization=0.8, debt=1.5e6, annual_rate=0.0, tenor=24, floating=True,
                base_rate=0.04, spread=0.05, rent_deflation=0.0, kw_per_gpu=1.3, pue=1.3,
                power_price=0.08, colocation_rate=184.0)
    spec.update(changes)
    return Facilities(**spec)


def flat_dscr(rent=2.0, util=0.8, pue=1.3, price=0.08, rate=0.09) -> float:
    """docs/sources.md per month: revenue GPUs x util x rent x 730 h; power GPUs x kW x PUE x
    730 h x $/kWh; colocation GPUs x kW x $/kW-month; level annuity payment."""
    revenue = 100 * util * rent * HOURS_PER_MONTH
    power = 100 * 1.3 * pue * HOURS_PER_MONTH * price
    colocation = 100 * 1.3 * 184.0
    return (revenue - power - colocation) / -npf.pmt(rate / 12, 24, 1.5e6)


class TestTornado:
    def test_closed_form_on_a_flat_facility(self):
        t = tornado(flat_facility(), 12).set_index("driver")
        expected = {
            "rent": (flat_dscr(rent=1.6), flat_dscr(rent=2.4)),
            "utilization": (flat_dscr(util=0.7), flat_dscr(util=0.9)),
            "power_price": (flat_dscr(price=0.056), flat_dscr(price=0.104)),
            "pue": (flat_dscr(pue=1.1), flat_dscr(pue=1.5)),
            "haircut": (flat_dscr(), flat_dscr()),
            "base_rate": (flat_dscr(rate=0.07), flat_dscr(rate=0.11)),
        }
        assert set(t.index) == set(expected)   # no correlation bar for a deterministic metric
        for driver, (low, high) in expected.items():
            assert t.loc[driver, "metric_low"] == pytest.approx(low, rel=1e-9), driver
            assert t.loc[driver, "metric_high"] == pytest.approx(high, rel=1e-9), driver
            assert t.loc[driver, "base"] == pytest.approx(flat_dscr(), rel=1e-9)
            assert t.loc[driver, "swing"] == pytest.approx(abs(high - low), rel=1e-9)
        # by hand: rent swings 100 x 0.8 x 0.8 x 730 = 46,720 of CFADS, utilization
        # 100 x 0.2 x 2.0 x 730 = 29,200, power 100 x 1.3 x 1.3 x 730 x 0.048 = 5,922,
        # PUE 100 x 1.3 x 0.4 x 730 x 0.08 = 3,037; the base rate moves the payment.
        order = sorted(expected, key=lambda d: -abs(expected[d][1] - expected[d][0]))
        assert t.index.tolist() == order
        assert t.loc["rent", "low_shock"] == 0.8 and t.loc["rent", "high_shock"] == 1.2
        assert t.loc["base_rate", "shock"] == "base_rate_add"

    def test_ordering_and_base_between_ends_on_a_portfolio(self):
        t = tornado(portfolio(), 12)
        assert t["facility_id"].drop_duplicates().tolist() == ["neo", "float", "miner"]
        for _, g in t.groupby("facility_id", sort=False):
            swings = g["swing"].to_numpy()
            assert np.all(np.diff(swings) <= 0)
            for _, row in g.iterrows():  # every default driver moves min DSCR monotonically
                lo, hi = sorted((row.metric_low, row.metric_high))
                assert lo - 1e-12 <= row.base <= hi + 1e-12, row.driver

    @pytest.mark.parametrize("metric", ["max_ltv_liquidation", "ltv_liquidation", "lgd"])
    def test_haircut_moves_collateral_metrics(self, metric):
        t = tornado(neocloud(rent_deflation=0.3), 12, metric).set_index("driver")
        row = t.loc["haircut"]
        assert row.metric_low <= row.base <= row.metric_high
        if metric != "lgd":
            assert row.swing > 0 and t.index[0] == "haircut"

    def test_values_are_those_of_run_scenarios(self):
        fac = portfolio()
        t = tornado(fac, 4, "llcr")
        res = run_scenarios(fac, 4, [Scenario("x", merchant_rent_mult=0.8),
                                     Scenario("y", pue_add=0.2)])
        rent = t[t.driver == "rent"].set_index("facility_id")["metric_low"]
        pue = t[t.driver == "pue"].set_index("facility_id")["metric_high"]
        np.testing.assert_array_equal(rent.loc[["neo", "float", "miner"]].to_numpy(),
                                      res["llcr"].to_numpy()[:3])
        np.testing.assert_array_equal(pue.loc[["neo", "float", "miner"]].to_numpy(),
                                      res["llcr"].to_numpy()[3:])

    def test_sizes_are_parameters(self):
        drivers = default_drivers(rent=0.5, base_rate=0.01, rho=(0.1, 0.3))
        by = {d.name: d for d in drivers}
        assert (by["rent"].low, by["rent"].high) == (0.5, 1.5)
        assert (by["base_rate"].low, by["base_rate"].high) == (-0.01, 0.01)
        assert (by["correlation"].low, by["correlation"].high) == (0.1, 0.3)
        assert [d.name for d in DEFAULT_DRIVERS] == [
            "rent", "utilization", "power_price", "pue", "haircut", "base_rate", "correlation"]

    def test_monte_carlo_metric_runs_every_driver(self):
        fac = neocloud(hashrate_ph=800.0, hashcost_per_ph_day=20.0, btc_held=50.0)
        market = MarketModel(jump_years=())
        t = tornado(fac, 12, "el_rate", n_paths=1024, market=market, seed=2)
        assert set(t["driver"]) == {d.name for d in DEFAULT_DRIVERS}
        corr = t.set_index("driver").loc["correlation"]
        res = run_scenarios(fac, 12, [Scenario("b"), Scenario("lo", rho=0.0),
                                      Scenario("hi", rho=0.6)], n_paths=1024,
                            market=market, seed=2)
        assert (corr.base, corr.metric_low, corr.metric_high) == tuple(res["el_rate"])

    def test_errors(self):
        fac = neocloud()
        with pytest.raises(GpuCreditError, match="metric must be one of"):
            tornado(fac, 12, "dscr")
        with pytest.raises(GpuCreditError, match="'pd' comes from the Monte Carlo: give n_paths"):
            tornado(fac, 12, "pd")
        with pytest.raises(GpuCreditError, match="no driver moves the deterministic metric"):
            tornado(fac, 12, drivers=[DEFAULT_DRIVERS[-1]])
        with pytest.raises(GpuCreditError, match="driver names must be unique"):
            tornado(fac, 12, drivers=[DEFAULT_DRIVERS[0], DEFAULT_DRIVERS[0]])
        with pytest.raises(GpuCreditError, match=r"must hold Driver objects, got str"):
            tornado(fac, 12, drivers=["rent"])
        with pytest.raises(GpuCreditError, match="shock of driver 'x' must be one of"):
            Driver("x", "step_down", 0.1, 0.2)
        with pytest.raises(GpuCreditError, match="rho of scenario 'c high' must be between"):
            Driver("c", "rho", 0.0, 1.5)


# --------------------------------------------------------------------------- worked example


def load_thesis():
    path = ROOT / "docs" / "examples" / "thesis.py"
    spec = importlib.util.spec_from_file_location("gpucredit_thesis_example", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def table_blocks(text: str) -> list[str]:
    """The markdown tables of a text (runs of lines starting with '|')."""
    blocks, current = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            blocks.append("\n".join(current))
            current = []
    if current:
        blocks.append("\n".join(current))
    return blocks


@pytest.fixture(scope="module")
def thesis():
    return load_thesis()


class TestWorkedExample:
    def test_headline_claims_hold(self, thesis):
        res = thesis.compute(n_paths=20_000)
        c = res["claims"]
        ltv = res["ltv"]
        # (1) documents: 70% of cost; the liquidation LTV is above it at every date
        assert ltv[0]["ltv_docs"] == pytest.approx(21e6 / 30e6)
        assert all(r["ltv_liquidation"] > r["ltv_docs"] for r in ltv)
        assert c["max_ltv_liquidation"] > 1.0
        # the closing liquidation value by hand: 6 months = 182.625 days,
        # f = 1 - 0.6155 e^(-182.625 / 57.15); impact 0.75 x 0.10 x sqrt(1,000 / (2,000 x 6));
        # recovery = 30m f (1 - impact) (1 - 0.15) - 5% x 30m
        f = 1 - 0.6155 * math.exp(-182.625 / 57.15)
        impact = 0.75 * 0.10 * math.sqrt(1000 / 12000)
        assert ltv[0]["liquidation"] == pytest.approx(30e6 * f * (1 - impact) * 0.85 - 1.5e6)
        # (2) flat rents clear the lock-up covenant; every deflation rate breaches 1.00x,
        # the faster the worse
        rows = res["deflation"]
        assert rows[0]["deflation"] == 0.0 and rows[0]["min_dscr"] > 1.20
        assert all(r["min_dscr"] < 1.0 for r in rows[1:])
        assert all(a["min_dscr"] > b["min_dscr"] for a, b in itertools.pairwise(rows))
        assert 0.0 < res["breakeven_deflation"] < 0.20
        # (3) correlation raises PD (beyond 3 s.e. of the difference where the GPU leg
        # is alive) and expected loss (beyond 3 s.e. on both trends)
        assert c["pd_z_12"] > 3
        assert c["el_z_12"] > 3 and c["el_z_25"] > 3
        miner = {(r.trend, r.rho): r for r in res["mc"] if r.borrower == "miner"}
        neo = {r.trend: r for r in res["mc"] if r.borrower == "neocloud"}
        for trend in thesis.TRENDS:
            assert miner[(trend, 0.6)].pd > miner[(trend, 0.0)].pd
            assert miner[(trend, 0.0)].pd < neo[trend].pd   # mining diversifies at rho 0
        rendered = thesis.render(res)
        assert len(table_blocks(rendered)) == 5

    def test_script_runs_from_the_command_line(self, thesis, capsys):
        assert thesis.main(["--paths", "1024", "--seed", "7"]) == 0
        out = capsys.readouterr().out
        assert "(1,024 paths a run)" in out
        assert "| closing (at cost) |" in out

    @pytest.mark.slow
    def test_document_shows_the_scripts_output(self, thesis):
        res = thesis.compute()
        rendered = thesis.render(res)
        doc = (ROOT / "docs" / "worked_example.md").read_text()
        for block in table_blocks(rendered):
            assert block in doc, "docs/worked_example.md is stale: rerun docs/examples/thesis.py"
        breakeven = next(line for line in rendered.splitlines()
                         if line.startswith("Breakeven deflation"))
        assert breakeven in doc
        assert f"({res['n_paths']:,} paths a run)" in rendered
        # at the document's settings, the PD claim holds on both trends
        assert res["claims"]["pd_z_25"] > 3 and res["claims"]["pd_z_12"] > 3



# --------------------------------------------------------------------------- customer default

class TestCustomerDefault:
    """The deterministic customer default, by hand: 1,000 GPUs, 60% contracted at $2.80
    for 3 years, monthly; the customer defaults 1 year from now (period 13)."""

    hours = 8760 / 12

    def spec(self, **changes):
        base = dict(gpus=1000.0, gpu_unit_cost=30_000.0, merchant_rent=2.4, utilization=0.8,
                    debt=10e6, annual_rate=0.10, tenor=48, rent_deflation=0.0,
                    contracted_share=0.6, contract_rate=2.8, contract_periods=36,
                    termination_payment_months=6, releasing_lag_months=6,
                    releasing_rent_factor=0.85, colocation_rate=0.0, power_price=0.0)
        base.update(changes)
        return Facilities(**base)

    def test_revenue_after_the_default_by_hand(self):
        fac = Scenario("c", customer_default_years=1.0).apply(self.spec(), 12)
        assert fac.customer_default_period == 13
        rev = evaluate(fac, 12).flows.revenue[0]
        contract = 1000 * 0.6 * self.hours * 2.8
        merchant = 1000 * 0.4 * self.hours * 0.8 * 2.4
        relet = 1000 * 0.6 * self.hours * 0.8 * 2.4 * 0.85
        # 6 months of contract revenue, owed and recovered at 38% (senior unsecured).
        termination = 6 * contract * 0.38
        want = np.full(60, merchant + 1000 * 0.6 * self.hours * 0.8 * 2.4)  # after 36
        want[:12] = contract + merchant
        want[12] = merchant + termination            # default: nothing re-leased yet
        want[13:18] = merchant                       # the lag: 6 months in all
        want[18:36] = merchant + relet               # re-leased at 85% of the market
        np.testing.assert_allclose(rev, want, rtol=1e-12)  # to the 5-year asset life

    def test_a_backstop_keeps_the_contract_paid(self):
        stressed = Scenario("c", customer_default_years=1.0).apply(
            self.spec(backstop_rating="AA+"), 12)
        np.testing.assert_allclose(evaluate(stressed, 12).flows.revenue,
                                   evaluate(self.spec(), 12).flows.revenue, rtol=1e-12)

    def test_after_the_contract_ends_nothing_changes(self):
        stressed = Scenario("c", customer_default_years=4.0).apply(self.spec(), 12)
        np.testing.assert_allclose(evaluate(stressed, 12).flows.revenue,
                                   evaluate(self.spec(), 12).flows.revenue, rtol=1e-12)


def test_a_forward_curve_path_tilts_as_a_trend_path_would():
    """A given rent path equal to the 25% trend, shocked by +10pp deflation and a 0.8 rent
    multiple, is the 35% trend from 0.8 x the rent (the same shock as a trend facility)."""
    from gpucredit.model import Facilities
    from gpucredit.rents import trend_path

    m, w = 4, 12
    trend = trend_path(2.4, 0.25, w, m)
    path = np.vstack([trend, np.full(w, np.nan)])
    fac = Facilities(gpus=[1000, 1000], gpu_unit_cost=30_000, merchant_rent=[2.4, 2.0],
                     utilization=0.8, debt=10e6, annual_rate=0.08, tenor=8,
                     rent_deflation=[0.25, 0.25], merchant_rent_path=path)
    out = Scenario("s", rent_deflation_add=0.10, merchant_rent_mult=0.8).apply(fac, m)
    assert out.merchant_rent_path[0] == pytest.approx(0.8 * 2.4 * 0.65 ** (np.arange(w) / m))
    assert np.isnan(out.merchant_rent_path[1]).all()
    assert Scenario("u", utilization_add=0.05).apply(fac, m).merchant_rent_path is path
    # a rent multiple of 0 (no merchant market at all) is a multiple, not "no shock"
    gone = Scenario("z", merchant_rent_mult=0.0).apply(fac, m)
    assert (gone.merchant_rent_path[0] == 0.0).all() and gone.merchant_rent.tolist() == [0, 0]
