"""Tests for gpucredit.coverage.

Oracles: hand-worked examples (arithmetic in the test), numpy-financial (NPV, IPMT,
PPMT), closed forms (sculpted profiles built here by a backward recursion, breakeven
deflation solved in logs) and hypothesis properties. Every test runs with warnings as
errors: a ratio with a zero denominator must be NaN silently.
"""

from __future__ import annotations

import math

import numpy as np
import numpy_financial as npf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpucredit.coverage import (
    TYPICAL_COVENANTS,
    average_dscr,
    breakeven_deflation,
    breakeven_level,
    breakeven_rate,
    breakeven_rent,
    breakeven_utilization,
    cash_sweep,
    covenant_headroom,
    dscr,
    duration_mismatch,
    first_collateral_shortfall,
    llcr,
    min_dscr,
    plcr,
)
from gpucredit.errors import GpuCreditError

pytestmark = pytest.mark.filterwarnings("error")

SETTINGS = settings(max_examples=60, deadline=None)

# --------------------------------------------------------------------------- strategies

n_periods = st.integers(min_value=1, max_value=24)
periods_per_year = st.sampled_from([1, 2, 4, 12])
annual_rates = st.floats(min_value=0.0, max_value=0.25)
money = st.floats(min_value=1.0, max_value=1e7)


@st.composite
def positive_series(draw, n, low=1.0, high=1e6):
    return np.array(draw(st.lists(st.floats(low, high), min_size=n, max_size=n)))


@st.composite
def sculpted_case(draw):
    """Positive CFADS, a rate path, a target DSCR and a periods-per-year."""
    n = draw(n_periods)
    cf = draw(positive_series(n))
    rates = np.array(draw(st.lists(annual_rates, min_size=n, max_size=n)))
    target = draw(st.floats(1.0, 3.0))
    m = draw(periods_per_year)
    return cf, rates, target, m


def sculpt(cfads, annual_rates, target, m):
    """Sculpted debt service and opening balances, by a backward recursion.

    DS_t = CFADS_t / target; B_t = (DS_t + B_{t+1}) / (1 + r_t / m), B_{N+1} = 0:
    the balance at the start of t is the present value of the remaining debt service.
    """
    ds = cfads / target
    bal = np.zeros(len(cfads))
    nxt = 0.0
    for t in range(len(cfads) - 1, -1, -1):
        nxt = (ds[t] + nxt) / (1 + annual_rates[t] / m)
        bal[t] = nxt
    return ds, bal


# --------------------------------------------------------------------------- DSCR


class TestDscr:
    def test_hand_example(self):
        # 130/100 = 1.3, 90/100 = 0.9, no debt service -> no DSCR
        out = dscr([130.0, 90.0, 50.0], [100.0, 100.0, 0.0])
        np.testing.assert_allclose(out, [1.3, 0.9, np.nan])

    def test_zero_debt_service_is_nan_not_inf_and_silent(self):
        out = dscr([[0.0, -5.0, 10.0]], [[0.0, 0.0, 0.0]])
        assert np.isnan(out).all()
        assert not np.isinf(out).any()

    def test_negative_cfads_gives_negative_dscr(self):
        assert dscr(-50.0, 100.0) == -0.5

    def test_scalar_in_scalar_out(self):
        out = dscr(120.0, 100.0)
        assert isinstance(out, float) and out == pytest.approx(1.2)

    def test_shared_cfads_against_portfolio_debt_service(self):
        out = dscr([100.0, 100.0], [[50.0, 100.0], [200.0, 0.0]])
        np.testing.assert_allclose(out, [[2.0, 1.0], [0.5, np.nan]])

    def test_negative_debt_service_raises(self):
        with pytest.raises(GpuCreditError,
                           match=r"debt_service must be >= 0, got -5 \(position 2\)"):
            dscr([100.0, 100.0], [100.0, -5.0])

    def test_negative_debt_service_in_portfolio_names_facility_and_period(self):
        with pytest.raises(GpuCreditError, match=r"got -1 \(facility 2, period 3\)"):
            dscr(np.ones((2, 3)), [[1.0, 1.0, 1.0], [1.0, 1.0, -1.0]])

    def test_periods_must_match(self):
        with pytest.raises(GpuCreditError, match="cfads has 3 periods but debt_service has 2"):
            dscr([1.0, 2.0, 3.0], [1.0, 1.0])

    def test_facilities_must_match(self):
        with pytest.raises(GpuCreditError,
                           match="cfads has 2 facilities but debt_service has 3"):
            dscr(np.ones((2, 4)), np.ones((3, 4)))

    def test_nan_cfads_raises(self):
        with pytest.raises(GpuCreditError, match=r"cfads must be a finite number, got nan"):
            dscr([1.0, np.nan], [1.0, 1.0])


class TestMinAndAverageDscr:
    def test_min_hand_example(self):
        # periods: 1.3, 0.9, (no debt service) -> 0.9
        assert min_dscr([130.0, 90.0, 50.0], [100.0, 100.0, 0.0]) == pytest.approx(0.9)

    def test_all_periods_without_debt_service_give_nan_silently(self):
        assert math.isnan(min_dscr([1.0, 2.0], [0.0, 0.0]))
        assert math.isnan(average_dscr([1.0, 2.0], [0.0, 0.0]))
        assert math.isnan(average_dscr([1.0, 2.0], [0.0, 0.0], method="ratio"))

    def test_portfolio_mixes_facilities_with_and_without_debt(self):
        out = min_dscr([[130.0, 90.0], [10.0, 20.0]], [[100.0, 100.0], [0.0, 0.0]])
        np.testing.assert_allclose(out, [0.9, np.nan])

    def test_average_mean_of_period_ratios(self):
        # (1.5 + 2.0) / 2 = 1.75; the third period has no debt service and is skipped
        assert average_dscr([150.0, 100.0, 7.0], [100.0, 50.0, 0.0]) == pytest.approx(1.75)

    def test_average_ratio_of_sums(self):
        # (150 + 100) / (100 + 50) = 1.6667; CFADS of the unserviced period is excluded
        out = average_dscr([150.0, 100.0, 7.0], [100.0, 50.0, 0.0], method="ratio")
        assert out == pytest.approx(250.0 / 150.0)

    def test_methods_agree_under_level_debt_service(self):
        cf = [120.0, 140.0, 90.0]
        assert average_dscr(cf, [80.0] * 3) == pytest.approx(
            average_dscr(cf, [80.0] * 3, method="ratio"))

    def test_unknown_method_raises(self):
        with pytest.raises(GpuCreditError, match="method must be 'mean' or 'ratio', got 'max'"):
            average_dscr([1.0], [1.0], method="max")

    @SETTINGS
    @given(st.data())
    def test_portfolio_equals_stacked_single_facilities(self, data):
        n, f = data.draw(n_periods), data.draw(st.integers(1, 5))
        cf = np.array([data.draw(positive_series(n, -1e5, 1e6)) for _ in range(f)])
        ds = np.array([data.draw(positive_series(n, 0.0, 1e6)) for _ in range(f)])
        ds[ds < 1e4] = 0.0  # some periods without debt service
        for fn in (min_dscr, average_dscr):
            whole = np.atleast_1d(fn(cf, ds))
            singles = np.array([fn(cf[i], ds[i]) for i in range(f)])
            np.testing.assert_array_equal(whole, singles)

    @SETTINGS
    @given(hours=money, rent0=st.floats(0.5, 10.0), costs=money, ds=money,
           d1=st.floats(0.0, 0.9), d2=st.floats(0.0, 0.9), n=n_periods, m=periods_per_year)
    def test_faster_rent_deflation_never_raises_min_dscr(self, hours, rent0, costs, ds, d1,
                                                         d2, n, m):
        slow, fast = min(d1, d2), max(d1, d2)
        t = np.arange(1, n + 1)

        def cover(d):
            cfads = hours * rent0 * (1 - d) ** ((t - 1) / m) - costs
            return min_dscr(cfads, np.full(n, ds))

        assert cover(fast) <= cover(slow) + 1e-12 * abs(cover(slow))


# --------------------------------------------------------------------------- LLCR / PLCR


class TestLlcr:
    @SETTINGS
    @given(sculpted_case())
    def test_sculpted_profile_has_llcr_equal_to_target_every_period(self, case):
        cf, rates, target, m = case
        ds, bal = sculpt(cf, rates, target, m)
        out = llcr(cf, bal, rates, m)
        np.testing.assert_allclose(out, target, rtol=1e-10)
        np.testing.assert_allclose(dscr(cf, ds), target, rtol=1e-12)

    @SETTINGS
    @given(sculpted_case())
    def test_final_llcr_equals_final_dscr(self, case):
        cf, rates, _, m = case
        # Any positive debt service profile: the final period's LLCR is its DSCR.
        ds = cf[::-1] / 1.7
        _, bal = sculpt(ds, rates, 1.0, m)
        assert llcr(cf, bal, rates, m)[-1] == pytest.approx(dscr(cf, ds)[-1], rel=1e-12)

    def test_first_period_matches_numpy_financial_npv(self):
        cf = np.array([40.0, 55.0, 61.0, 70.0])
        bal = np.array([150.0, 120.0, 80.0, 40.0])
        # npf.npv discounts values[i] by (1 + r)^i; a leading 0 puts CFADS at period ends.
        expected = npf.npv(0.01, [0.0, *cf]) / 150.0
        assert llcr(cf, bal, 0.12, 12)[0] == pytest.approx(expected, rel=1e-13)

    def test_cfads_after_maturity_is_ignored(self):
        # maturity is period 2 (last positive balance); CFADS of 999 afterwards does not count
        out = llcr([60.0, 60.0, 999.0, 999.0], [100.0, 50.0, 0.0, 0.0], 0.10, 1)
        np.testing.assert_allclose(
            out, [(60 / 1.1 + 60 / 1.1**2) / 100, (60 / 1.1) / 50, np.nan, np.nan])

    def test_dsra_is_added_to_the_numerator(self):
        base = llcr([60.0, 60.0], [100.0, 50.0], 0.10, 1)
        with_dsra = llcr([60.0, 60.0], [100.0, 50.0], 0.10, 1, dsra=[20.0, 10.0])
        np.testing.assert_allclose(with_dsra - base, [20 / 100, 10 / 50])

    def test_balance_zero_before_drawdown_is_nan(self):
        out = llcr([0.0, 60.0, 60.0], [0.0, 100.0, 50.0], 0.10, 1)
        assert np.isnan(out[0])
        assert out[1] == pytest.approx((60 / 1.1 + 60 / 1.1**2) / 100)

    def test_rate_path_discounts_period_by_period(self):
        # r_1 = 10%, r_2 = 20%: LLCR_1 = (110/1.1 + 132/(1.1 x 1.2)) / 100 = 2.0
        out = llcr([110.0, 132.0], [100.0, 100.0], [0.10, 0.20], 1)
        np.testing.assert_allclose(out, [2.0, 132 / 1.2 / 100])

    def test_one_rate_per_facility_when_facilities_equal_periods(self):
        cf = np.array([[110.0, 110.0], [120.0, 120.0]])
        bal = np.full((2, 2), 100.0)
        by_facility = llcr(cf, bal, [0.10, 0.20], 1)
        np.testing.assert_allclose(by_facility[:, -1], [1.0, 1.0])
        shared_path = llcr(cf, bal, [[0.10, 0.20]], 1)
        np.testing.assert_allclose(shared_path[:, -1], [110 / 1.2 / 100, 1.0])

    @SETTINGS
    @given(st.data())
    def test_portfolio_equals_stacked_single_facilities(self, data):
        n, f, m = data.draw(n_periods), data.draw(st.integers(1, 4)), data.draw(periods_per_year)
        cf = np.array([data.draw(positive_series(n, -1e5, 1e6)) for _ in range(f)])
        bal = np.array([data.draw(positive_series(n, 0.0, 1e7)) for _ in range(f)])
        bal[bal < 1e6] = 0.0
        rates = np.array([data.draw(annual_rates) for _ in range(f)])
        whole = llcr(cf, bal, rates, m, dsra=5e4)
        singles = np.array([llcr(cf[i], bal[i], rates[i], m, dsra=5e4) for i in range(f)])
        np.testing.assert_allclose(whole, singles, rtol=1e-13)

    def test_rate_path_of_wrong_length_raises(self):
        with pytest.raises(GpuCreditError, match=r"annual_rate has 3 values: give one value, "
                           r"one per facility \(2\) or one per period \(4\)"):
            llcr(np.ones((2, 4)), np.ones((2, 4)), [0.1, 0.1, 0.1], 4)

    def test_rate_table_of_wrong_periods_raises(self):
        with pytest.raises(GpuCreditError,
                           match="annual_rate has 3 periods but the cash flows have 4"):
            llcr(np.ones(4), np.ones(4), np.full((1, 3), 0.1), 4)

    def test_balance_periods_must_match(self):
        with pytest.raises(GpuCreditError, match="cfads has 4 periods but opening_balance has 3"):
            llcr(np.ones(4), np.ones(3), 0.1, 4)

    def test_negative_balance_raises(self):
        with pytest.raises(GpuCreditError, match=r"opening_balance must be >= 0, got -1"):
            llcr([1.0, 1.0], [1.0, -1.0], 0.1, 1)

    def test_periods_per_year_checked(self):
        with pytest.raises(GpuCreditError, match="periods_per_year must be one of 1, 2, 4, 12"):
            llcr([1.0], [1.0], 0.1, 3)


class TestPlcr:
    def test_tail_after_loan_counts(self):
        # loan of 100 for one year at 10%, asset earns 110 for two years
        out = plcr([110.0, 110.0], [100.0], 0.10, 1)
        np.testing.assert_allclose(out, [(110 / 1.1 + 110 / 1.1**2) / 100, np.nan])

    @SETTINGS
    @given(sculpted_case(), st.integers(0, 12))
    def test_plcr_minus_llcr_is_discounted_tail(self, case, extra):
        cf, rates, target, m = case
        _, bal = sculpt(cf, rates, target, m)
        r = float(rates[0])
        tail = np.full(extra, 1000.0)
        life_cf = np.concatenate([cf, tail])
        p = plcr(life_cf, bal, r, m)
        lo = llcr(cf, bal, r, m)
        n = len(cf)
        for t in range(n):
            # values[k] of npf.npv sits k periods after the start of (0-based) period t,
            # so tail period n+1 (1-based) is k = n + 1 - t
            pv_tail = npf.npv(r / m, [0.0] * (n + 1 - t) + list(tail))
            assert p[t] - lo[t] == pytest.approx(pv_tail / bal[t], rel=1e-9, abs=1e-12)
        assert np.isnan(p[n:]).all()

    def test_equal_lengths_with_live_balance_equal_llcr(self):
        cf, bal = [50.0, 60.0, 70.0], [150.0, 100.0, 60.0]
        np.testing.assert_allclose(plcr(cf, bal, 0.08, 4), llcr(cf, bal, 0.08, 4), rtol=1e-15)

    def test_loan_longer_than_asset_life_raises(self):
        with pytest.raises(GpuCreditError,
                           match="opening_balance has 3 periods but cfads has 2"):
            plcr([1.0, 1.0], [1.0, 1.0, 1.0], 0.1, 1)


# --------------------------------------------------------------------------- breakevens


@st.composite
def affine_case(draw):
    """Slope > 0, intercept (often negative), debt service > 0, threshold."""
    n = draw(n_periods)
    slope = draw(positive_series(n, 1e3, 1e6))
    intercept = -draw(positive_series(n, 0.0, 5e6))
    ds = draw(positive_series(n, 1e4, 5e6))
    threshold = draw(st.floats(0.5, 2.0))
    return slope, intercept, ds, threshold


class TestBreakevenLevel:
    def test_hand_example(self):
        # period 1 needs (100 + 20) / 10 = 12, period 2 needs 100 / 10 = 10 -> 12
        assert breakeven_level([10.0, 10.0], [-20.0, 0.0], [100.0, 100.0]) == pytest.approx(12)

    @SETTINGS
    @given(affine_case())
    def test_breakeven_rent_fed_back_gives_threshold(self, case):
        hours, other, ds, thr = case
        rent = breakeven_rent(hours, other, ds, threshold=thr)
        assert min_dscr(hours * rent + other, ds) == pytest.approx(thr, rel=1e-9)
        # a slightly lower rent breaches
        lower = rent - 1e-6 * abs(rent) - 1e-9
        assert min_dscr(hours * lower + other, ds) < thr

    @SETTINGS
    @given(affine_case())
    def test_breakeven_utilization_fed_back_gives_threshold(self, case):
        full, fixed, ds, thr = case
        u = breakeven_utilization(full, fixed, ds, threshold=thr)
        assert min_dscr(u * full + fixed, ds) == pytest.approx(thr, rel=1e-9)

    def test_breakeven_rent_hand_example(self):
        # 1,000 GPUs x 730 h; costs 1.2m; debt service 0.5m: (0.5m + 1.2m) / 730k
        out = breakeven_rent([730_000.0] * 3, [-1.2e6] * 3, [5e5] * 3)
        assert out == pytest.approx(1.7e6 / 730_000)

    def test_covenant_threshold_raises_the_breakeven(self):
        # at 1.20x: (1.2 x 0.5m + 1.2m) / 730k
        out = breakeven_rent([730_000.0], [-1.2e6], [5e5],
                             threshold=TYPICAL_COVENANTS.dscr_lockup)
        assert out == pytest.approx(1.8e6 / 730_000)

    def test_negative_breakeven_when_contracted_cash_covers(self):
        # contracted CFADS 150 against debt service 100: rent could go to -5/10
        assert breakeven_rent([10.0], [150.0], [100.0]) == pytest.approx(-5.0)

    def test_zero_slope_shortfall_is_nan(self):
        # period 1: no merchant hours and CFADS 50 < 100: no rent cures it
        assert math.isnan(breakeven_rent([0.0, 10.0], [50.0, 0.0], [100.0, 100.0]))

    def test_zero_slope_without_shortfall_does_not_constrain(self):
        assert breakeven_rent([0.0, 10.0], [150.0, 0.0], [100.0, 100.0]) == pytest.approx(10)

    def test_nothing_constrains_is_nan(self):
        assert math.isnan(breakeven_rent([10.0, 10.0], [0.0, 0.0], [0.0, 0.0]))
        assert math.isnan(breakeven_rent([0.0], [200.0], [100.0]))

    def test_periods_without_debt_service_are_skipped(self):
        # period 2 would need (0 + 1000)/10 = 100 but has no debt service
        assert breakeven_rent([10.0, 10.0], [0.0, -1000.0], [100.0, 0.0]) == pytest.approx(10)

    @SETTINGS
    @given(st.data())
    def test_portfolio_equals_stacked_single_facilities(self, data):
        cases = [data.draw(affine_case()) for _ in range(data.draw(st.integers(1, 4)))]
        n = min(len(c[0]) for c in cases)
        slope = np.array([c[0][:n] for c in cases])
        icpt = np.array([c[1][:n] for c in cases])
        ds = np.array([c[2][:n] for c in cases])
        thr = np.array([c[3] for c in cases])
        whole = breakeven_level(slope, icpt, ds, thr)
        singles = [breakeven_level(slope[i], icpt[i], ds[i], thr[i]) for i in range(len(cases))]
        np.testing.assert_array_equal(whole, singles)

    def test_threshold_of_zero_raises(self):
        with pytest.raises(GpuCreditError, match="threshold must be > 0, got 0"):
            breakeven_rent([1.0], [0.0], [1.0], threshold=0.0)

    def test_negative_hours_raise(self):
        with pytest.raises(GpuCreditError,
                           match=r"merchant_gpu_hours must be >= 0, got -1 \(position 1\)"):
            breakeven_rent([-1.0], [0.0], [1.0])

    def test_threshold_count_must_match_facilities(self):
        with pytest.raises(GpuCreditError,
                           match="threshold has 3 values but there are 2 facilities"):
            breakeven_level(np.ones((2, 2)), np.zeros((2, 2)), np.ones((2, 2)), [1.0, 1.1, 1.2])

    def test_periods_must_match(self):
        with pytest.raises(GpuCreditError,
                           match="sellable_revenue_at_full_utilization has 2 periods but "
                                 "fixed_cfads has 3"):
            breakeven_utilization([1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 1.0])


class TestBreakevenRate:
    @staticmethod
    def deflating_min_dscr(hours, rent0, costs, ds, n, m):
        """min DSCR as a function of the deflation rate d, vectorised over facilities."""
        t = np.arange(1, n + 1)

        def fn(d):
            d = np.asarray(d, dtype=float)[..., None]
            cfads = hours[..., None] * rent0 * (1 - d) ** ((t - 1) / m) - costs[..., None]
            return min_dscr(cfads, np.broadcast_to(ds[..., None], cfads.shape))

        return fn

    def test_closed_form_breakeven_deflation(self):
        # CFADS falls each period, so min DSCR is in period n:
        # H r0 (1-d)^((n-1)/m) - C = thr DS  =>  d = 1 - ((thr DS + C) / (H r0))^(m/(n-1))
        hours = np.array([730_000.0, 800_000.0, 900_000.0])
        costs = np.array([6e5, 9e5, 4e5])
        ds = np.array([5e5, 4e5, 7e5])
        rent0, n, m, thr = 2.5, 20, 4, 1.1
        fn = self.deflating_min_dscr(hours, rent0, costs, ds, n, m)
        expected = 1 - ((thr * ds + costs) / (hours * rent0)) ** (m / (n - 1))
        out = breakeven_rate(fn, threshold=thr)
        np.testing.assert_allclose(out, expected, rtol=0, atol=1e-9)

    def test_already_below_at_lo_is_nan_and_survivor_is_hi(self):
        hours = np.array([100.0, 100.0, 100.0])
        costs = np.array([90.0, 0.0, 20.0])
        ds = np.array([50.0, 0.0, 40.0])  # facility 2: no debt service -> fn gives NaN
        fn = self.deflating_min_dscr(hours, 1.0, costs, ds, 5, 1)
        res = breakeven_rate(fn, lo=0.0, hi=0.05, full_output=True)
        # facility 1: (100 - 90)/50 = 0.2 < 1 at d = 0; facility 3 at d = 5%:
        # 100 x 0.95^4 - 20 = 61.5 >= 40, survives the whole bracket
        np.testing.assert_array_equal(res.status, [-1, -2, 1])
        assert np.isnan(res.rate[0]) and np.isnan(res.rate[1])
        assert res.rate[2] == 0.05

    def test_scalar_facility(self):
        fn = self.deflating_min_dscr(np.array(100.0), 1.0, np.array(20.0), np.array(40.0), 5, 1)
        out = breakeven_rate(fn)
        assert isinstance(out, float)
        assert out == pytest.approx(1 - 0.6 ** 0.25, abs=1e-9)

    def test_number_of_calls_is_fixed(self):
        calls = []

        def fn(d):
            calls.append(np.shape(d))
            return 2.0 - 4.0 * np.asarray(d)

        assert breakeven_rate(fn, threshold=1.0) == pytest.approx(0.25, abs=1e-10)
        # fn(lo), fn(hi), then ceil(log2(1 / 1e-10)) = 34 bisection steps
        assert len(calls) == 2 + 34

    def test_empty_bracket_raises(self):
        with pytest.raises(GpuCreditError, match=r"lo must be below hi, got lo=0\.5, hi=0\.5"):
            breakeven_rate(lambda d: np.asarray(d), lo=0.5, hi=0.5)

    def test_fn_of_wrong_shape_raises(self):
        with pytest.raises(GpuCreditError, match=r"fn returned shape \(3,\) for rates of "
                                                 r"shape \(2,\)"):
            breakeven_rate(lambda d: np.ones(3) if np.ndim(d) else np.ones(2))

    def test_non_callable_raises(self):
        with pytest.raises(GpuCreditError, match="fn must be a function of the rate"):
            breakeven_rate(1.0)


# --------------------------------------------------------------------------- covenants


class TestCovenantHeadroom:
    def test_hand_example(self):
        cf = [132.0, 115.0, 96.0, 50.0, 100.0]
        ds = [110.0, 100.0, 100.0, 0.0, 100.0]
        h = covenant_headroom(cf, ds, covenant=1.10)
        # DSCRs 1.2, 1.15, 0.96, -, 1.0 against 1.10
        np.testing.assert_allclose(
            h.headroom_pct, [1.2 / 1.1 - 1, 1.15 / 1.1 - 1, 0.96 / 1.1 - 1, np.nan, 1 / 1.1 - 1])
        # CFADS - 1.1 x DS: 132 - 121, 115 - 110, 96 - 110, -, 100 - 110
        np.testing.assert_allclose(h.headroom_usd, [11.0, 5.0, -14.0, np.nan, -10.0])
        assert h.first_breach == 3 and h.n_breaches == 2
        assert h.min_headroom_pct == pytest.approx(0.96 / 1.1 - 1)
        assert h.min_headroom_usd == pytest.approx(-14.0)

    def test_never_breached_is_zero(self):
        h = covenant_headroom([200.0, 200.0], [100.0, 100.0], covenant=1.5)
        assert h.first_breach == 0 and h.n_breaches == 0

    def test_default_covenant_is_typical_lockup(self):
        h = covenant_headroom([119.0, 121.0], [100.0, 100.0])
        assert TYPICAL_COVENANTS.dscr_lockup == 1.20
        assert h.first_breach == 1 and h.n_breaches == 1

    def test_portfolio_with_one_covenant_per_facility(self):
        cf = np.array([[120.0, 100.0, 104.0], [120.0, 100.0, 104.0]])
        ds = np.full((2, 3), 100.0)
        h = covenant_headroom(cf, ds, covenant=[1.05, 1.00])
        np.testing.assert_array_equal(h.first_breach, [2, 0])
        np.testing.assert_array_equal(h.n_breaches, [2, 0])
        np.testing.assert_allclose(h.min_headroom_usd, [-5.0, 0.0])

    def test_no_debt_service_at_all(self):
        h = covenant_headroom([10.0, 10.0], [0.0, 0.0])
        assert math.isnan(h.min_headroom_pct) and math.isnan(h.min_headroom_usd)
        assert h.first_breach == 0

    def test_bad_covenant_raises(self):
        with pytest.raises(GpuCreditError, match="covenant must be > 0, got -1"):
            covenant_headroom([1.0], [1.0], covenant=-1.0)


# --------------------------------------------------------------------------- cash sweep


@st.composite
def sweep_case(draw):
    n = draw(st.integers(2, 24))
    m = draw(periods_per_year)
    rate = draw(annual_rates)
    balance = draw(st.floats(1e5, 1e7))
    # straight-line amortisation of the balance
    sched = np.full(n, balance / n)
    cfads = draw(positive_series(n, 0.0, 3.0 * balance / n))
    share = draw(st.floats(0.05, 1.0))
    return cfads, balance, rate, sched, m, share


class TestCashSweep:
    def test_hand_example(self):
        s = cash_sweep([150.0] * 3, 300.0, 0.10, [100.0] * 3, 1, sweep_share=0.5)
        # year 1: interest 30, principal 100, excess 150 - 130 = 20, sweep 10, closing 190
        # year 2: interest 19, principal 100, excess 31, sweep 15.5, closing 74.5
        # year 3: interest 7.45, principal capped at 74.5, closing 0
        np.testing.assert_allclose(s.opening, [300.0, 190.0, 74.5])
        np.testing.assert_allclose(s.interest, [30.0, 19.0, 7.45])
        np.testing.assert_allclose(s.scheduled_principal, [100.0, 100.0, 74.5])
        np.testing.assert_allclose(s.sweep, [10.0, 15.5, 0.0])
        np.testing.assert_allclose(s.closing, [190.0, 74.5, 0.0])
        np.testing.assert_allclose(s.debt_service, [130.0, 119.0, 81.95])

    def test_no_sweep_reproduces_numpy_financial_annuity(self):
        r, m, n, pv = 0.09, 4, 12, 1e6
        per = np.arange(1, n + 1)
        sched = -npf.ppmt(r / m, per, n, pv)
        s = cash_sweep(np.full(n, 1e9), pv, r, sched, m, sweep_share=0.0)
        np.testing.assert_allclose(s.interest, -npf.ipmt(r / m, per, n, pv), rtol=1e-12)
        np.testing.assert_allclose(s.debt_service, -npf.pmt(r / m, n, pv), rtol=1e-12)
        assert abs(s.closing[-1]) < 1e-6

    def test_shortfall_pays_scheduled_service_and_sweeps_nothing(self):
        s = cash_sweep([10.0, 10.0], 100.0, 0.10, [50.0, 50.0], 1)
        np.testing.assert_allclose(s.sweep, [0.0, 0.0])
        np.testing.assert_allclose(s.closing, [50.0, 0.0])

    @SETTINGS
    @given(sweep_case())
    def test_sweep_closes_out_earlier_and_saves_interest(self, case):
        cfads, balance, rate, sched, m, share = case
        base = cash_sweep(cfads, balance, rate, sched, m, sweep_share=0.0)
        swept = cash_sweep(cfads, balance, rate, sched, m, sweep_share=share)

        def payoff(s):
            done = s.closing <= 1e-9 * balance
            return int(np.argmax(done)) + 1 if done.any() else len(done) + 1

        assert payoff(swept) <= payoff(base)
        assert swept.interest.sum() <= base.interest.sum() + 1e-9 * balance
        # a sweep before the last period lowers every later opening balance
        if swept.sweep[:-1].sum() > 1e-6 * balance and rate >= 1e-3:
            assert swept.interest.sum() < base.interest.sum()
        # balance identities
        np.testing.assert_allclose(swept.opening[1:], swept.closing[:-1])
        np.testing.assert_allclose(
            swept.closing, swept.opening - swept.scheduled_principal - swept.sweep, atol=1e-6)
        assert (swept.closing >= 0).all() and (swept.scheduled_principal <= swept.opening).all()

    @SETTINGS
    @given(st.data())
    def test_portfolio_equals_stacked_single_facilities(self, data):
        cases = [data.draw(sweep_case()) for _ in range(data.draw(st.integers(1, 4)))]
        n, m = min(len(c[0]) for c in cases), cases[0][4]
        cf = np.array([c[0][:n] for c in cases])
        bal = np.array([c[1] for c in cases])
        rate = np.array([c[2] for c in cases])
        sched = np.array([c[3][:n] for c in cases])
        share = np.array([c[5] for c in cases])
        whole = cash_sweep(cf, bal, rate, sched, m, sweep_share=share)
        for i in range(len(cases)):
            one = cash_sweep(cf[i], bal[i], rate[i], sched[i], m, sweep_share=share[i])
            np.testing.assert_array_equal(whole.closing[i], one.closing)
            np.testing.assert_array_equal(whole.sweep[i], one.sweep)

    def test_bad_sweep_share_raises(self):
        with pytest.raises(GpuCreditError, match=r"sweep_share must be between 0 and 1, got 1.5"):
            cash_sweep([1.0], 1.0, 0.1, [1.0], 1, sweep_share=1.5)

    def test_periods_must_match(self):
        with pytest.raises(GpuCreditError,
                           match="cfads has 2 periods but scheduled_principal has 3"):
            cash_sweep([1.0, 1.0], 1.0, 0.1, [1.0, 1.0, 1.0], 1)


# --------------------------------------------------------------------------- duration mismatch


class TestDurationMismatch:
    def test_hand_example(self):
        # WAL 4.5 years against lives of 6 and 3: ratios 0.75 and 1.5, gaps -1.5 and +1.5
        m = duration_mismatch(4.5, [6.0, 3.0])
        np.testing.assert_allclose(m.ratio, [0.75, 1.5])
        np.testing.assert_allclose(m.gap_years, [-1.5, 1.5])

    def test_scalars_out(self):
        m = duration_mismatch(5.0, 4.0)
        assert isinstance(m.ratio, float) and m.ratio == 1.25 and m.gap_years == 1.0

    def test_zero_life_raises(self):
        with pytest.raises(GpuCreditError, match="economic_life_years must be > 0, got 0"):
            duration_mismatch(3.0, 0.0)

    def test_mismatched_facilities_raise(self):
        with pytest.raises(GpuCreditError,
                           match="loan_wal_years has 2 facilities but economic_life_years has 3"):
            duration_mismatch([1.0, 2.0], [3.0, 4.0, 5.0])


class TestFirstCollateralShortfall:
    def test_hand_example(self):
        # 100 >= 80, 70 >= 60, 40 < 45 -> period 3
        assert first_collateral_shortfall([100.0, 70.0, 40.0], [80.0, 60.0, 45.0]) == 3

    def test_portfolio_and_never(self):
        out = first_collateral_shortfall([[100.0, 90.0], [50.0, 60.0]],
                                         [[80.0, 90.0], [60.0, 50.0]])
        # facility 1: equal value is not a shortfall -> 0; facility 2: 50 < 60 in period 1
        np.testing.assert_array_equal(out, [0, 1])

    def test_negative_value_raises(self):
        with pytest.raises(GpuCreditError,
                           match=r"collateral_value must be >= 0, got -1 \(position 2\)"):
            first_collateral_shortfall([1.0, -1.0], [0.0, 0.0])


class TestBreakevenDeflationClosedForm:
    """breakeven_deflation against a brute-force scan of min DSCR over deflation rates."""

    @staticmethod
    def _min_dscr(rev, other, ds, m, d):
        e = np.arange(rev.shape[-1]) / m
        cf = other + rev * (1.0 - d) ** e
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(ds > 0, cf / np.where(ds > 0, ds, 1.0), np.inf)
        return ratio.min()

    @settings(max_examples=60, deadline=None)
    @given(st.lists(st.floats(50.0, 150.0), min_size=2, max_size=24),
           st.floats(-40.0, 20.0), st.floats(20.0, 90.0), st.sampled_from([1, 4, 12]))
    def test_matches_a_scan(self, revs, other, service, m):
        rev = np.array(revs)
        oth = np.full(rev.size, other)
        ds = np.full(rev.size, service)
        d = breakeven_deflation(rev, oth, ds, m)
        grid = np.linspace(0.0, 0.99, 4001)
        ok = np.array([self._min_dscr(rev, oth, ds, m, g) >= 1.0 for g in grid])
        if not ok[0]:
            assert np.isnan(d)
        elif ok.all():
            assert d == 0.99
        else:
            # the largest grid rate that still covers brackets the closed form
            last = grid[np.flatnonzero(ok)[-1]]
            assert last - 1e-12 <= d <= last + (grid[1] - grid[0])
            assert self._min_dscr(rev, oth, ds, m, d) == pytest.approx(1.0, rel=1e-9)

    def test_agrees_with_the_bisection_on_a_portfolio(self):
        rng = np.random.default_rng(3)
        rev = rng.uniform(80, 120, (5, 36))
        oth = rng.uniform(-20, 10, (5, 36))
        ds = rng.uniform(30, 60, (5, 36))
        closed = breakeven_deflation(rev, oth, ds, 12)
        e = np.arange(36) / 12

        def fn(d):
            cf = oth + rev * (1.0 - np.asarray(d)[..., None]) ** e
            return (cf / ds).min(axis=-1)

        bisected = breakeven_rate(fn, 1.0, 0.0, 0.99)
        np.testing.assert_allclose(closed, bisected, atol=1e-9, equal_nan=True)
