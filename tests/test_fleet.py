"""Tests for gpucredit.fleet.

Oracles: hand-worked figures with the arithmetic in the test (docs/sources.md's H100 and CBRE
numbers), identities between the lines of the cash-flow statement, and hypothesis
properties (linearity in the fleet size, a portfolio equals its facilities stacked).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpucredit.errors import GpuCreditError
from gpucredit.fleet import (
    FleetCashFlows,
    cfads,
    colocation_cost,
    gpu_hours,
    power_cost,
    revenue,
)

pytestmark = pytest.mark.filterwarnings("error")

SETTINGS = settings(max_examples=60, deadline=None)

# --------------------------------------------------------------------------- strategies

frequencies = st.sampled_from([1, 2, 4, 12])
shares = st.floats(0.0, 1.0, allow_nan=False)
money = st.floats(0.0, 1e4, allow_nan=False, allow_infinity=False)


@st.composite
def facilities(draw, n=None):
    """Keyword arguments of :func:`cfads` for one facility over ``n`` periods."""
    n = draw(st.integers(1, 24)) if n is None else n
    path = st.lists(st.floats(0.0, 10.0), min_size=n, max_size=n).map(np.array)
    return {
        "gpus": draw(st.floats(0.0, 1e5)),
        "utilization": draw(shares),
        "merchant_rent": draw(path),
        "contracted_share": draw(st.lists(shares, min_size=n, max_size=n).map(np.array)),
        "contract_rate": draw(st.floats(0.0, 10.0)),
        "kw_per_gpu": draw(st.floats(0.0, 3.0)),
        "pue": draw(st.floats(1.0, 2.0)),
        "price_per_kwh": draw(st.floats(0.0, 0.5)),
        "colocation_per_kw_month": draw(st.floats(0.0, 400.0)),
        "other_opex_per_gpu_year": draw(money),
        "maintenance_capex_per_gpu_year": draw(money),
        "tax_rate": draw(st.floats(0.0, 0.4)),
        "tax_depreciation": draw(st.floats(0.0, 1e7)),
    }


def _cfads(kw: dict, m: int) -> FleetCashFlows:
    kw = dict(kw)
    return cfads(kw.pop("gpus"), kw.pop("utilization"), kw.pop("merchant_rent"), m, **kw)


# --------------------------------------------------------------------------- building blocks


class TestGpuHours:
    def test_hand_worked(self):
        # 1,000 GPUs x 85% x 730 hours (8,760 / 12) = 620,500 GPU-hours a month
        assert gpu_hours(1000, 0.85, 12) == 620_500.0

    def test_scalar_in_scalar_out(self):
        assert isinstance(gpu_hours(10, 0.5, 1), float)

    def test_utilization_path(self):
        # a quarter is 2,190 hours
        np.testing.assert_allclose(gpu_hours(100, [0.5, 1.0], 4), [109_500.0, 219_000.0])

    def test_one_value_per_facility(self):
        np.testing.assert_allclose(gpu_hours([100, 200], [0.5, 1.0], 1),
                                   [438_000.0, 1_752_000.0])


class TestRevenue:
    def test_domain_example(self):
        # 1,000 H100 x 85% x $2.00 x 730 h = $1,241,000 a month
        assert revenue(1000, 0.85, 2.00, 12) == pytest.approx(1_241_000.0, abs=1e-6)

    def test_contracted_is_take_or_pay(self):
        # 40% contracted at $2.65 for every hour: 400 x 730 x 2.65 = 773,800;
        # merchant 600 x 85% x 730 x 2.00 = 744,600; total 1,518,400
        out = revenue(1000, 0.85, 2.00, 12, contracted_share=0.4, contract_rate=2.65)
        assert out == pytest.approx(1_518_400.0, abs=1e-6)

    def test_contracted_utilization(self):
        # a committed-usage contract paying 80% of the hours: 1,000 x 0.8 x 8,760 x 2.5
        out = revenue(1000, 0.0, 9.99, 1, contracted_share=1.0, contract_rate=2.5,
                      contracted_utilization=0.8)
        assert out == pytest.approx(17_520_000.0)

    def test_rent_path(self):
        # quarterly: 100 x 100% x 2,190 h x (3, 2, 1)
        np.testing.assert_allclose(revenue(100, 1.0, [3.0, 2.0, 1.0], 4),
                                   [657_000.0, 438_000.0, 219_000.0])

    def test_shared_rent_path_for_a_portfolio(self):
        out = revenue([100, 300], 1.0, [2.0, 1.0], 1)
        np.testing.assert_allclose(out, [[1_752_000.0, 876_000.0], [5_256_000.0, 2_628_000.0]])


class TestPowerCost:
    def test_hand_worked(self):
        # 1,000 GPUs x 1.3 kW x PUE 1.5 x 730 h x $0.10/kWh = $142,350 a month
        assert power_cost(1000, 1.3, 1.5, 0.10, 12) == pytest.approx(142_350.0)

    def test_load_factor(self):
        # a year at 60% draw: 10 x 1.0 kW x 1.2 x 8,760 h x $0.05 x 0.6 = 3,153.60
        assert power_cost(10, 1.0, 1.2, 0.05, 1, load_factor=0.6) == pytest.approx(3153.6)

    def test_price_path(self):
        np.testing.assert_allclose(power_cost(1, 1.0, 1.0, [0.1, 0.2], 12), [73.0, 146.0])

    def test_pue_below_one_refused(self):
        with pytest.raises(GpuCreditError, match=r"pue must be >= 1, got 0.95"):
            power_cost(1000, 1.3, 0.95, 0.08, 12)


class TestColocationCost:
    def test_cbre_example(self):
        # 1,000 GPUs x 1.3 kW x $184/kW-month = $239,200 a month (CBRE NA H2-2024)
        assert colocation_cost(1000, 1.3, 184.0, 12) == pytest.approx(239_200.0)

    def test_periods(self):
        # per year x12, per quarter x3, per half-year x6
        base = 1000 * 1.3 * 217.0
        for m, months in ((1, 12), (2, 6), (4, 3), (12, 1)):
            assert colocation_cost(1000, 1.3, 217.0, m) == pytest.approx(base * months)

    def test_negative_rate_refused(self):
        with pytest.raises(GpuCreditError, match=r"rate_per_kw_month must be >= 0, got -1"):
            colocation_cost(1000, 1.3, -1.0, 12)


# --------------------------------------------------------------------------- cfads


class TestCfads:
    def test_hand_worked_month(self):
        # 1,000 H100s, 85% at $2.00, PUE 1.3, $0.08/kWh, $184/kW-month:
        #   revenue     1,000 x 0.85 x 2.00 x 730                 = 1,241,000
        #   power       1,000 x 1.3 x 1.3 x 730 x 0.08            =    98,696
        #   colocation  1,000 x 1.3 x 184                         =   239,200
        #   other opex  1,000 x 1,200 / 12                        =   100,000
        #   maint capex 1,000 x 2,400 / 12                        =   200,000
        #   taxable     1,241,000 - 98,696 - 239,200 - 100,000 - 300,000 = 503,104
        #   tax         21% x 503,104                             =   105,651.84
        #   CFADS       1,241,000 - 98,696 - 239,200 - 100,000 - 200,000
        #               - 105,651.84 - 50,000 (working capital)   =   447,452.16
        cf = cfads(1000, 0.85, [2.00], 12, pue=1.3, price_per_kwh=0.08,
                   colocation_per_kw_month=184.0, other_opex_per_gpu_year=1200.0,
                   maintenance_capex_per_gpu_year=2400.0, tax_rate=0.21,
                   tax_depreciation=300_000.0, working_capital_change=[50_000.0])
        assert cf.revenue[0] == pytest.approx(1_241_000.0)
        assert cf.power[0] == pytest.approx(98_696.0)
        assert cf.colocation[0] == pytest.approx(239_200.0)
        assert cf.other_opex[0] == pytest.approx(100_000.0)
        assert cf.maintenance_capex[0] == pytest.approx(200_000.0)
        assert cf.tax[0] == pytest.approx(105_651.84)
        assert cf.cfads[0] == pytest.approx(447_452.16)

    def test_defaults_are_the_documented_calibration(self):
        # kW 1.3, PUE 1.3, $0.08/kWh, $184/kW-month, no other costs, no tax
        cf = cfads(1000, 0.85, [2.00], 12)
        assert cf.power[0] == pytest.approx(98_696.0)
        assert cf.colocation[0] == pytest.approx(239_200.0)
        assert cf.cfads[0] == pytest.approx(1_241_000.0 - 98_696.0 - 239_200.0)

    def test_no_tax_on_a_loss(self):
        cf = cfads(1000, 0.1, [0.5, 3.0], 12, tax_rate=0.25)
        # month 1: 1,000 x 0.1 x 0.5 x 730 = 36,500 of revenue, below 337,896 of costs
        assert cf.tax[0] == 0.0
        # month 2: 25% x (219,000 - 337,896) < 0 -> still no tax
        assert cf.tax[1] == 0.0

    def test_contract_roll_off(self):
        # contract (60% at $2.65) runs two quarters, then everything is merchant at 70%
        share = np.array([0.6, 0.6, 0.0])
        rent = np.array([2.4, 2.2, 2.0])
        cf = cfads(500, 0.7, rent, 4, contracted_share=share, contract_rate=2.65)
        hours = 8760 / 4
        np.testing.assert_allclose(cf.contracted_gpu_hours, 500 * share * hours)
        np.testing.assert_allclose(cf.contracted_revenue, 500 * share * hours * 2.65)
        np.testing.assert_allclose(cf.merchant_gpu_hours, 500 * (1 - share) * 0.7 * hours)
        np.testing.assert_allclose(cf.merchant_capacity_gpu_hours, 500 * (1 - share) * hours)
        np.testing.assert_allclose(cf.merchant_revenue, cf.merchant_gpu_hours * rent)

    @SETTINGS
    @given(facilities(), frequencies)
    def test_statement_identities(self, kw, m):
        cf = _cfads(kw, m)
        np.testing.assert_allclose(cf.revenue, cf.contracted_revenue + cf.merchant_revenue)
        np.testing.assert_allclose(cf.merchant_revenue, cf.merchant_gpu_hours * cf.merchant_rent)
        np.testing.assert_allclose(
            cf.cfads, cf.ebitda - cf.maintenance_capex - cf.tax - cf.working_capital_change,
            atol=1e-6)
        np.testing.assert_allclose(cf.other_cfads + cf.merchant_revenue, cf.cfads, atol=1e-6)
        assert (cf.tax >= 0).all()
        assert (cf.merchant_gpu_hours <= cf.merchant_capacity_gpu_hours + 1e-9).all()
        taxable = cf.ebitda - kw["tax_depreciation"]
        np.testing.assert_allclose(cf.tax, kw["tax_rate"] * np.maximum(taxable, 0), atol=1e-6)

    @SETTINGS
    @given(facilities(), frequencies)
    def test_merchant_rent_is_the_breakeven_slope(self, kw, m):
        # Without tax, CFADS is linear in the merchant rent with slope merchant_gpu_hours.
        kw = kw | {"tax_rate": 0.0}
        base = _cfads(kw, m)
        bumped = _cfads(kw | {"merchant_rent": kw["merchant_rent"] + 1.0}, m)
        np.testing.assert_allclose(bumped.cfads - base.cfads, base.merchant_gpu_hours,
                                   rtol=1e-9, atol=1e-6)

    @SETTINGS
    @given(st.integers(1, 12).flatmap(
        lambda n: st.lists(facilities(n), min_size=1, max_size=4)), frequencies)
    def test_portfolio_equals_facilities_stacked(self, kws, m):
        stacked = {key: np.array([k[key] for k in kws]) for key in kws[0]}
        together = _cfads(stacked, m)
        for f, kw in enumerate(kws):
            alone = _cfads(kw, m)
            np.testing.assert_allclose(together.cfads[f], alone.cfads, rtol=1e-12, atol=1e-6)
            np.testing.assert_allclose(together.tax[f], alone.tax, rtol=1e-12, atol=1e-6)

    @SETTINGS
    @given(facilities(), frequencies, st.floats(0.1, 10.0))
    def test_linear_in_fleet_size_without_tax(self, kw, m, k):
        kw = kw | {"tax_rate": 0.0, "gpus": 100.0}
        small, big = _cfads(kw, m), _cfads(kw | {"gpus": 100.0 * k}, m)
        np.testing.assert_allclose(big.cfads, k * small.cfads, rtol=1e-9, atol=1e-6)

    def test_periods_follow_the_rent(self):
        assert cfads(10, 0.5, np.ones(7), 12).cfads.shape == (7,)
        assert cfads([10, 20], 0.5, np.ones(7), 12).cfads.shape == (2, 7)

    def test_one_value_per_facility_beats_a_path_of_the_same_length(self):
        # 3 facilities and 3 periods: a 1-D utilization is one value per facility...
        cf = cfads([100, 100, 100], [0.2, 0.5, 1.0], [1.0, 1.0, 1.0], 1,
                   colocation_per_kw_month=0.0)
        np.testing.assert_allclose(cf.merchant_gpu_hours[:, 0], [175_200, 438_000, 876_000])
        # ... and a (1, T) array a path shared by all.
        cf = cfads([100, 100, 100], [[0.2, 0.5, 1.0]], [1.0, 1.0, 1.0], 1)
        np.testing.assert_allclose(cf.merchant_gpu_hours[0], [175_200, 438_000, 876_000])

    def test_to_frame_single(self):
        frame = cfads(1000, 0.85, [2.0, 1.8], 12).to_frame()
        assert frame["period"].tolist() == [1, 2]
        assert {"revenue", "power", "colocation", "tax", "cfads",
                "merchant_gpu_hours"} <= set(frame.columns)
        # 1,000 x 0.85 x 1.80 x 730 = 1,116,900
        assert frame["revenue"].iloc[1] == pytest.approx(1_116_900.0)

    def test_to_frame_portfolio(self):
        frame = cfads([1000, 10], 0.85, [2.0, 1.8, 1.6], 12).to_frame()
        assert isinstance(frame, pd.DataFrame)
        assert list(frame.columns[:2]) == ["facility", "period"]
        assert frame["facility"].tolist() == [1, 1, 1, 2, 2, 2]
        assert frame["period"].tolist() == [1, 2, 3, 1, 2, 3]
        # facility 2, period 3: 10 x 0.85 x 1.60 x 730 = 9,928
        assert frame["revenue"].iloc[5] == pytest.approx(9_928.0)


# --------------------------------------------------------------------------- errors


class TestErrors:
    def test_negative_gpus(self):
        with pytest.raises(GpuCreditError, match=r"gpus must be >= 0, got -5 \(position 2\)"):
            cfads([10, -5], 0.5, [2.0], 12)

    def test_utilization_above_one(self):
        with pytest.raises(GpuCreditError,
                           match=r"utilization must be between 0 and 1, got 1.2 \(position 3\)"):
            cfads(10, [0.5, 0.9, 1.2], [2.0, 2.0, 2.0], 12)

    def test_pue_below_one(self):
        with pytest.raises(GpuCreditError, match=r"pue must be >= 1, got 0.9"):
            cfads(10, 0.5, [2.0], 12, pue=0.9)

    def test_negative_rent(self):
        with pytest.raises(GpuCreditError, match=r"merchant_rent must be >= 0, got -1"):
            cfads(10, 0.5, [2.0, -1.0], 12)

    def test_contracted_share_above_one(self):
        with pytest.raises(GpuCreditError, match=r"contracted_share must be between 0 and 1"):
            revenue(10, 0.5, 2.0, 12, contracted_share=1.5)

    def test_mismatched_periods(self):
        with pytest.raises(GpuCreditError,
                           match=r"merchant_rent has 3 periods but working_capital_change has 4"):
            cfads(10, 0.5, [2.0, 2.0, 2.0], 12, working_capital_change=np.ones(4))

    def test_path_of_the_wrong_length(self):
        with pytest.raises(GpuCreditError, match=r"price_per_kwh has 4 values: give one value, "
                                                 r"one per facility \(2\) or one per period \(3\)"):
            cfads([10, 20], 0.5, [2.0, 2.0, 2.0], 12, price_per_kwh=[0.1] * 4)

    def test_mismatched_facilities(self):
        with pytest.raises(GpuCreditError,
                           match=r"gpus has 2 facilities but merchant_rent has 3"):
            cfads([10, 20], 0.5, np.ones((3, 4)), 12)

    def test_bad_frequency(self):
        with pytest.raises(GpuCreditError, match=r"periods_per_year must be one of 1, 2, 4, 12"):
            gpu_hours(10, 0.5, 52)

    def test_nan_refused(self):
        with pytest.raises(GpuCreditError, match=r"price_per_kwh must be a finite number"):
            power_cost(10, 1.3, 1.3, float("nan"), 12)
