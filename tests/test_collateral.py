"""Tests for gpucredit.collateral.

Oracles: hand arithmetic with Python floats and ``math`` (shown in each test), scipy's
``curve_fit``, ``minimize_scalar`` and ``lognorm`` as independent implementations, and
hypothesis for the invariants (haircuts in [0, 1], recovery <= market value, monotone
horizons and quantities).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.optimize import curve_fit, minimize_scalar
from scipy.stats import lognorm

from gpucredit.collateral import (
    BASEL_CRYPTO_RISK_WEIGHT,
    DAYS_PER_MONTH,
    BorrowingBase,
    CryptoLenderTerms,
    Liquidation,
    borrowing_base,
    cost_minimising_horizon,
    crypto_haircut,
    impact_haircut,
    lgd,
    liquidation_value,
    ltv,
    ltv_breach,
    market_value,
    max_ltv,
    optimal_liquidation_horizon,
    recovery_at_default,
    required_prepayment,
    time_factor,
)
from gpucredit.errors import GpuCreditError

SETTINGS = settings(max_examples=60, deadline=None)

# ------------------------------------------------------------------ strategies (local)
units_st = st.floats(0.0, 1e6)
absorption_st = st.floats(1.0, 1e5)
months_st = st.floats(0.05, 36.0)
sigma_st = st.floats(0.0, 0.5)
y_st = st.floats(0.0, 1.5)
share_st = st.floats(0.0, 1.0)
money_st = st.floats(0.0, 1e10)
days_st = st.floats(0.0, 3650.0)


# ------------------------------------------------------------------------ market value
class TestMarketValue:
    def test_hand_example(self):
        # 100m cost x 62% residual x 91% of units surviving = 56.42m
        assert market_value(100e6, 0.62, 0.91) == pytest.approx(100e6 * 0.62 * 0.91)
        assert isinstance(market_value(100e6, 0.62), float)

    def test_facilities_meet_curves(self):
        got = market_value([100e6, 50e6], [[0.62, 0.43], [0.8, 0.6]])
        np.testing.assert_allclose(got, [[62e6, 43e6], [40e6, 30e6]])

    def test_one_curve_shared_by_facilities(self):
        got = market_value([100e6, 50e6], [0.62, 0.43, 0.30])
        assert got.shape == (2, 3)
        np.testing.assert_allclose(got[1], [31e6, 21.5e6, 15e6])

    def test_errors(self):
        with pytest.raises(GpuCreditError, match=r"cost must be >= 0, got -1 \(position 2\)"):
            market_value([1.0, -1.0], 0.5)
        with pytest.raises(GpuCreditError, match=r"units_surviving must be between 0 and 1, "
                                                 "got 1.2"):
            market_value(1.0, 0.5, 1.2)
        with pytest.raises(GpuCreditError, match=r"shapes do not fit together"):
            market_value([1.0, 2.0, 3.0], [[0.5, 0.4], [0.3, 0.2]])


# ------------------------------------------------------------------------ time factor
class TestTimeFactor:
    DAYS = (7.0, 30.0, 90.0, 180.0)
    TARGETS = (0.45, 0.65, 0.85, 1.0)  # docs/sources.md appraisal points

    def test_defaults_are_the_least_squares_fit_to_domain_points(self):
        # Independent: scipy's curve_fit on docs/sources.md's four points recovers the defaults.
        (a, tau), _ = curve_fit(lambda t, a, tau: 1 - a * np.exp(-t / tau),
                                np.array(self.DAYS), np.array(self.TARGETS), p0=[0.5, 40.0])
        assert a == pytest.approx(0.6155, abs=5e-4)
        assert tau == pytest.approx(57.15, abs=5e-3)

    def test_fits_domain_points(self):
        # The two-parameter curve cannot hit all four points: residuals stay below 0.03.
        got = time_factor(list(self.DAYS))
        np.testing.assert_allclose(got, self.TARGETS, atol=0.03)
        assert abs(got[0] - 0.45) < 0.01  # the 7-day point is matched closely

    def test_hand_value(self):
        # At T = tau: 1 - a / e
        assert time_factor(57.15) == pytest.approx(1 - 0.6155 / math.e, rel=1e-12)
        assert time_factor(0.0) == pytest.approx(1 - 0.6155)
        assert time_factor(30.0, a=0.0) == 1.0

    @SETTINGS
    @given(d1=days_st, d2=days_st, a=share_st, tau=st.floats(1.0, 365.0))
    def test_longer_horizon_never_lowers(self, d1, d2, a, tau):
        lo, hi = sorted((d1, d2))
        f_lo, f_hi = time_factor(lo, a=a, tau_days=tau), time_factor(hi, a=a, tau_days=tau)
        assert f_lo <= f_hi + 1e-15
        assert 1 - a - 1e-15 <= f_lo <= 1.0

    def test_errors(self):
        with pytest.raises(GpuCreditError, match=r"days must be >= 0, got -1"):
            time_factor(-1.0)
        with pytest.raises(GpuCreditError, match=r"a must be between 0 and 1, got 1.5"):
            time_factor(10.0, a=1.5)
        with pytest.raises(GpuCreditError, match=r"tau_days must be > 0, got 0"):
            time_factor(10.0, tau_days=0.0)


# --------------------------------------------------------------------- impact haircut
class TestImpactHaircut:
    def test_hand_example(self):
        # Y sigma sqrt(Q / (A T)) = 0.75 x 0.10 x sqrt(10,000 / (1,000 x 3))
        expected = 0.75 * 0.10 * math.sqrt(10_000 / (1_000 * 3))
        assert impact_haircut(10_000, 1_000, 3) == pytest.approx(expected, rel=1e-12)
        assert impact_haircut(10_000, 1_000, 3, sigma_monthly=0.2, y=1.0) == pytest.approx(
            1.0 * 0.2 * math.sqrt(10 / 3), rel=1e-12)

    def test_cap_and_zero(self):
        assert impact_haircut(1e6, 100, 1) == 1.0
        assert impact_haircut(0.0, 100, 1) == 0.0

    @SETTINGS
    @given(q1=units_st, q2=units_st, a=absorption_st, t=months_st, s=sigma_st, y=y_st)
    def test_more_units_never_lower(self, q1, q2, a, t, s, y):
        lo, hi = sorted((q1, q2))
        h_lo = impact_haircut(lo, a, t, sigma_monthly=s, y=y)
        h_hi = impact_haircut(hi, a, t, sigma_monthly=s, y=y)
        assert h_lo <= h_hi + 1e-15
        assert 0.0 <= h_lo <= 1.0 and 0.0 <= h_hi <= 1.0

    @SETTINGS
    @given(q=units_st, a=absorption_st, t1=months_st, t2=months_st, s=sigma_st, y=y_st)
    def test_longer_sale_never_raises(self, q, a, t1, t2, s, y):
        lo, hi = sorted((t1, t2))
        assert (impact_haircut(q, a, hi, sigma_monthly=s, y=y)
                <= impact_haircut(q, a, lo, sigma_monthly=s, y=y) + 1e-15)

    def test_errors(self):
        with pytest.raises(GpuCreditError, match=r"monthly_absorption must be > 0, got 0"):
            impact_haircut(10.0, 0.0, 1.0)
        with pytest.raises(GpuCreditError, match=r"months_to_sell must be > 0, got 0 "
                                                 r"\(position 2\)"):
            impact_haircut(10.0, 5.0, [1.0, 0.0])
        with pytest.raises(GpuCreditError, match=r"units_sold must be >= 0"):
            impact_haircut(-1.0, 5.0, 1.0)


# ------------------------------------------------------------------ liquidation value
def _hand_liquidation(mv, q, a, months, *, sigma=0.10, y=0.75, hi=0.15, c=0.05, cu=0.0,
                      fa=0.6155, tau=57.15):
    """docs/sources.md's recovery formula written out with Python floats."""
    days = months * 30.4375
    f = 1 - fa * math.exp(-days / tau)
    h = min(1.0, y * sigma * math.sqrt(q / (a * months)))
    costs = c * mv + cu * q
    rec = max(0.0, mv * f * (1 - h) * (1 - hi) - costs)
    return f, h, costs, rec


class TestLiquidationValue:
    def test_hand_build_up(self):
        # 250m of H100s, 10,000 units, market absorbs 1,000 a month, 3 months to sell:
        # days = 3 x 30.4375 = 91.3125; f = 1 - 0.6155 e^(-91.3125/57.15) = 0.87546
        # h = 0.75 x 0.10 x sqrt(10/3) = 0.13693; costs = 5% x 250m + $100 x 10,000 = 13.5m
        # recovery = 250m x 0.87546 x 0.86307 x 0.85 - 13.5m = 147.06m
        liq = liquidation_value(250e6, 10_000, 1_000, 3, sale_cost_per_unit=100.0)
        f, h, _, rec = _hand_liquidation(250e6, 10_000, 1_000, 3, cu=100.0)
        assert isinstance(liq, Liquidation)
        assert liq.market_value == 250e6
        assert liq.time_factor == pytest.approx(f, rel=1e-12)
        assert liq.impact_haircut == pytest.approx(h, rel=1e-12)
        assert liq.install_haircut == 0.15
        assert liq.costs == pytest.approx(13.5e6, rel=1e-12)
        assert liq.recovery == pytest.approx(rec, rel=1e-12)
        assert liq.recovery == pytest.approx(147.06e6, abs=0.01e6)
        assert liq.haircut == pytest.approx(1 - rec / 250e6, rel=1e-12)
        assert DAYS_PER_MONTH == 30.4375

    def test_floor_at_zero(self):
        liq = liquidation_value(1e6, 1e6, 100, 1, sale_cost_rate=0.5)
        assert liq.recovery == 0.0 and liq.haircut == 1.0

    def test_zero_market_value_has_no_haircut(self):
        liq = liquidation_value(0.0, 100, 100, 1)
        assert liq.recovery == 0.0 and math.isnan(liq.haircut)

    def test_vectorised_matches_scalars(self):
        mv = np.array([[250e6, 200e6, 150e6], [80e6, 60e6, 40e6]])
        units = np.array([[10_000.0], [3_000.0]])
        months = np.array([1.0, 3.0, 6.0])
        liq = liquidation_value(mv, units, 1_000, months, install_haircut=[[0.0], [0.2]])
        for i in range(2):
            for j in range(3):
                *_, rec = _hand_liquidation(mv[i, j], units[i, 0], 1_000, months[j],
                                            hi=[0.0, 0.2][i])
                assert liq.recovery[i, j] == pytest.approx(rec, rel=1e-12)
        assert liq.market_value.shape == (2, 3)

    @SETTINGS
    @given(mv=money_st, q=units_st, a=absorption_st, t=months_st, s=sigma_st, y=y_st,
           hi=share_st, c=share_st, cu=st.floats(0.0, 1e4), fa=share_st)
    def test_haircut_in_unit_interval_and_recovery_below_value(
            self, mv, q, a, t, s, y, hi, c, cu, fa):
        liq = liquidation_value(mv, q, a, t, sigma_monthly=s, y=y, install_haircut=hi,
                                sale_cost_rate=c, sale_cost_per_unit=cu, time_factor_a=fa)
        assert 0.0 <= liq.recovery <= mv
        if mv > 0:
            assert 0.0 <= liq.haircut <= 1.0

    @SETTINGS
    @given(mv=st.floats(1.0, 1e10), q=units_st, a=absorption_st, t1=months_st,
           t2=months_st)
    def test_more_time_never_lowers_recovery(self, mv, q, a, t1, t2):
        lo, hi = sorted((t1, t2))
        assert (liquidation_value(mv, q, a, lo).recovery
                <= liquidation_value(mv, q, a, hi).recovery * (1 + 1e-12) + 1e-9)

    def test_errors(self):
        with pytest.raises(GpuCreditError, match=r"install_haircut must be between 0 and 1, "
                                                 "got 1.2"):
            liquidation_value(1e6, 10, 10, 1, install_haircut=1.2)
        with pytest.raises(GpuCreditError, match=r"market_value must be >= 0"):
            liquidation_value(-1e6, 10, 10, 1)
        with pytest.raises(GpuCreditError, match=r"shapes do not fit together"):
            liquidation_value([1e6, 2e6, 3e6], [10.0, 20.0], 10, 1)


# --------------------------------------------------------------- liquidation horizon
def _impact_plus_carry(t, q, a, k, s, y):
    return min(1.0, y * s * math.sqrt(q / (a * t))) + k * t


class TestOptimalHorizon:
    def test_closed_form_by_hand(self):
        # (Y sigma sqrt(Q/A) / (2k))^(2/3) = (0.75 x 0.1 x sqrt(10) / 0.04)^(2/3)
        expected = (0.75 * 0.1 * math.sqrt(10.0) / 0.04) ** (2 / 3)
        assert optimal_liquidation_horizon(10_000, 1_000, 0.02) == pytest.approx(
            expected, rel=1e-12)

    def test_closed_form_against_scipy(self):
        # scipy's bounded Brent search on h(T) + kT lands on the closed form.
        got = optimal_liquidation_horizon(10_000, 1_000, 0.02)
        res = minimize_scalar(_impact_plus_carry, bounds=(0.01, 60.0), method="bounded",
                              args=(10_000, 1_000, 0.02, 0.10, 0.75),
                              options={"xatol": 1e-10})
        assert got == pytest.approx(res.x, rel=1e-6)

    @SETTINGS
    @given(q=st.floats(100.0, 1e5), a=st.floats(100.0, 1e4), k=st.floats(0.005, 0.1),
           s=st.floats(0.02, 0.3), y=st.floats(0.3, 1.2))
    def test_numeric_matches_closed_form_without_time_factor(self, q, a, k, s, y):
        t_star = optimal_liquidation_horizon(q, a, k, sigma_monthly=s, y=y)
        # The uncapped optimum costs h + kT = 2kT* + kT* = 3kT*; it is the optimum of the
        # capped problem only while that beats losing everything at once (cost 1).
        assume(0.05 < t_star < 50.0 and 3 * k * t_star < 0.95)
        got = cost_minimising_horizon(q, a, k, sigma_monthly=s, y=y, time_factor_a=0.0,
                                      install_haircut=0.0, sale_cost_rate=0.0)
        assert got == pytest.approx(t_star, rel=1e-6)

    def test_numeric_with_time_factor_against_scipy(self):
        # The full loss 1 - R(T)/MV + kT written out here, minimised by scipy.
        def loss(t):
            *_, rec = _hand_liquidation(1.0, 10_000, 1_000, t)
            return 1.0 - rec + 0.02 * t

        res = minimize_scalar(loss, bounds=(1.0, 20.0), method="bounded",
                              options={"xatol": 1e-10})
        got = cost_minimising_horizon(10_000, 1_000, 0.02)
        assert got == pytest.approx(res.x, rel=1e-6)
        assert got > optimal_liquidation_horizon(10_000, 1_000, 0.02)

    def test_vectorised_matches_scalars(self):
        q = np.array([5_000.0, 20_000.0])
        k = np.array([[0.01], [0.04]])
        got = cost_minimising_horizon(q, 1_000, k, install_haircut=[0.0, 0.2])
        assert got.shape == (2, 2)
        for i in range(2):
            for j in range(2):
                one = cost_minimising_horizon(q[j], 1_000, k[i, 0],
                                              install_haircut=[0.0, 0.2][j])
                assert got[i, j] == pytest.approx(one, rel=1e-9)

    def test_capped_impact_sells_at_once(self):
        # Q/A = 400 months of supply, k = 10%: T* = (0.75 x 0.1 x 20 / 0.2)^(2/3) = 3.78
        # months, costing 3kT* = 1.13 > 1: losing the whole value at once is cheaper.
        t_star = optimal_liquidation_horizon(40_000, 100, 0.10)
        assert t_star == pytest.approx((0.75 * 0.1 * 20 / 0.2) ** (2 / 3), rel=1e-12)
        assert 3 * 0.10 * t_star > 1
        got = cost_minimising_horizon(40_000, 100, 0.10, time_factor_a=0.0,
                                      install_haircut=0.0, sale_cost_rate=0.0)
        assert got == pytest.approx(0.01)

    def test_no_impact_sells_at_once(self):
        assert optimal_liquidation_horizon(0.0, 1_000, 0.02) == 0.0
        got = cost_minimising_horizon(0.0, 1_000, 0.02, time_factor_a=0.0)
        assert got == pytest.approx(0.01)  # the lower end of the search interval

    def test_errors(self):
        with pytest.raises(GpuCreditError, match=r"carry_per_month must be > 0, got 0"):
            optimal_liquidation_horizon(10.0, 10.0, 0.0)
        with pytest.raises(GpuCreditError, match=r"max_months must be > 1, got 0.5"):
            cost_minimising_horizon(10.0, 10.0, 0.02, min_months=1.0, max_months=0.5)


# -------------------------------------------------------------------------------- LTV
class TestLtv:
    def test_hand_examples(self):
        # (80 + 2) / 100 = 0.82
        assert ltv(80.0, 100.0, accrued_interest=2.0) == pytest.approx(0.82)
        got = ltv([[80.0, 60.0, 10.0, 0.0]], [[100.0, 50.0, 0.0, 0.0]])
        np.testing.assert_allclose(got, [[0.8, 1.2, np.nan, 0.0]])

    def test_breach_flags_uncovered_debt(self):
        got = ltv_breach([80.0, 60.0, 10.0, 0.0], [100.0, 50.0, 0.0, 0.0])
        assert got.tolist() == [False, True, True, False]
        assert ltv_breach(80.0, 100.0, threshold=0.75) is True
        # 77% warning level: 78 / 100 breaches, 76 / 100 does not
        assert ltv_breach([78.0, 76.0], 100.0, threshold=0.77).tolist() == [True, False]

    def test_max_ltv(self):
        got = max_ltv([[80.0, 60.0], [50.0, 40.0], [10.0, 0.0]],
                      [[100.0, 50.0], [100.0, 0.0], [100.0, 0.0]])
        np.testing.assert_allclose(got, [1.2, np.nan, 0.1])
        assert max_ltv([80.0, 90.0], [100.0, 100.0]) == pytest.approx(0.9)

    @SETTINGS
    @given(d=st.lists(money_st, min_size=3, max_size=3),
           v=st.lists(st.sampled_from([0.0, 1.0, 1e6]) | money_st, min_size=3, max_size=3))
    def test_never_inf(self, d, v):
        assert not np.isinf(ltv(d, v)).any()

    def test_errors(self):
        with pytest.raises(GpuCreditError, match=r"collateral_value must be >= 0, got -5 "
                                                 r"\(facility 2, period 1\)"):
            ltv([[1.0, 1.0], [1.0, 1.0]], [[1.0, 1.0], [-5.0, 1.0]])
        with pytest.raises(GpuCreditError, match=r"debt_outstanding has 3 periods but "
                                                 "collateral_value has 2"):
            ltv([1.0, 1.0, 1.0], [1.0, 1.0])


# ---------------------------------------------------------------------- borrowing base
class TestBorrowingBase:
    def test_hand_example_with_concentration_cap(self):
        # contributions: 1000 x 0.8 x 0.75 = 600; 500 x 0.7 x 0.8 = 280; 400 x 0.6 x 0.5 = 120
        # total 1000; cap 40% -> pool 1 limited to 400 (excess 200); 400 + 280 + 120 = 800
        # commitment 750 caps the base at 750.
        bb = borrowing_base([1000.0, 500.0, 400.0], [0.8, 0.7, 0.6], [0.25, 0.2, 0.5],
                            750.0, concentration_cap=0.4)
        assert isinstance(bb, BorrowingBase)
        np.testing.assert_allclose(bb.contributions, [400.0, 280.0, 120.0])
        np.testing.assert_allclose(bb.excess_concentration, [200.0, 0.0, 0.0])
        assert bb.eligible_base == pytest.approx(800.0)
        assert bb.base == pytest.approx(750.0)
        assert required_prepayment(900.0, bb.base) == pytest.approx(150.0)

    def test_facilities_by_pools_with_eligibility(self):
        values = [[1000.0, 500.0, 400.0], [200.0, 200.0, 600.0]]
        bb = borrowing_base(values, 0.8, [0.25, 0.2, 0.5], [10_000.0, 300.0],
                            eligible=[[True, False, True], [1, 1, 1]])
        # facility 1: 1000 x 0.8 x 0.75 + 0 + 400 x 0.8 x 0.5 = 600 + 160 = 760
        # facility 2: 200 x 0.8 x 0.75 + 200 x 0.8 x 0.8 + 600 x 0.8 x 0.5 = 120 + 128 + 240
        #             = 488, capped by the 300 commitment
        np.testing.assert_allclose(bb.eligible_base, [760.0, 488.0])
        np.testing.assert_allclose(bb.base, [760.0, 300.0])

    def test_per_facility_rates_as_a_column(self):
        bb = borrowing_base([[100.0, 100.0], [100.0, 100.0]], [[0.5], [0.9]], 0.0, 1e9)
        np.testing.assert_allclose(bb.base, [100.0, 180.0])

    @SETTINGS
    @given(v=st.lists(st.floats(0.0, 1e9), min_size=1, max_size=6),
           adv=share_st, hc=share_st, k=money_st, cap=st.floats(0.01, 1.0))
    def test_invariants(self, v, adv, hc, k, cap):
        bb = borrowing_base(v, adv, hc, k, concentration_cap=cap)
        uncapped = borrowing_base(v, adv, hc, 1e30)
        total = sum(x * adv * (1 - hc) for x in v)
        assert bb.base <= k * (1 + 1e-12) + 1e-9
        assert bb.eligible_base <= uncapped.base * (1 + 1e-12) + 1e-9
        assert uncapped.base == pytest.approx(total, rel=1e-9, abs=1e-6)
        assert np.all(bb.contributions <= cap * total * (1 + 1e-12) + 1e-9)
        assert np.all(bb.excess_concentration >= 0)

    def test_required_prepayment(self):
        np.testing.assert_allclose(required_prepayment([800.0, 700.0], [750.0, 750.0]),
                                   [50.0, 0.0])

    def test_errors(self):
        with pytest.raises(GpuCreditError, match=r"eligible must be True/False \(1/0\), got "
                                                 r"0.5 \(position 2\)"):
            borrowing_base([1.0, 2.0], 0.5, 0.1, 10.0, eligible=[1.0, 0.5])
        with pytest.raises(GpuCreditError, match=r"advance_rates must be between 0 and 1, "
                                                 "got 1.1"):
            borrowing_base([1.0, 2.0], 1.1, 0.1, 10.0)
        with pytest.raises(GpuCreditError, match=r"commitment must be one value, or one per "
                                                 "facility"):
            borrowing_base([[1.0, 2.0]], 0.5, 0.1, [10.0, 20.0])
        with pytest.raises(GpuCreditError, match=r"haircuts has shape \(3,\)"):
            borrowing_base([1.0, 2.0], 0.5, [0.1, 0.1, 0.1], 10.0)
        with pytest.raises(GpuCreditError, match=r"concentration_cap must be > 0 and <= 1"):
            borrowing_base([1.0, 2.0], 0.5, 0.1, 10.0, concentration_cap=0.0)
        with pytest.raises(GpuCreditError, match=r"borrowing_base must be >= 0"):
            required_prepayment(1.0, -1.0)


# -------------------------------------------------------------------- crypto collateral
class TestCryptoHaircut:
    def test_hand_example(self):
        # z(99%) = 2.3263478740408408 (normal tables); 60% vol, 10 days:
        # 1 - exp(-2.32635 x 0.60 x sqrt(10/365)) = 1 - exp(-0.231034) = 0.20629
        z = 2.3263478740408408
        expected = 1 - math.exp(-z * 0.60 * math.sqrt(10 / 365))
        assert crypto_haircut(0.60, 10) == pytest.approx(expected, rel=1e-12)
        assert crypto_haircut(0.60, 10) == pytest.approx(0.20629, abs=1e-5)

    @SETTINGS
    @given(vol=st.floats(0.01, 2.0), h=st.floats(0.5, 365.0), c=st.floats(0.6, 0.999))
    def test_against_lognormal_quantile(self, vol, h, c):
        # Price ratio after h days is lognormal with s = vol sqrt(h/365), no drift:
        # the haircut is 1 minus its (1 - c) quantile.
        expected = 1 - lognorm.ppf(1 - c, s=vol * math.sqrt(h / 365))
        assert crypto_haircut(vol, h, c) == pytest.approx(expected, rel=1e-9, abs=1e-12)

    def test_vectorised_and_bounds(self):
        got = crypto_haircut([0.4, 0.6, 0.8], [[1.0], [30.0]])
        assert got.shape == (2, 3)
        assert np.all(np.diff(got, axis=1) > 0) and np.all(np.diff(got, axis=0) > 0)
        assert crypto_haircut(0.0, 10) == 0.0

    def test_lender_terms_and_basel(self):
        t = CryptoLenderTerms()
        assert (t.open_ltv, t.warn_ltv, t.liquidation_ltv) == (0.75, 0.77, 0.86)
        assert 0.04 <= t.liquidation_penalty <= 0.05
        assert BASEL_CRYPTO_RISK_WEIGHT == 12.5  # 1,250%
        with pytest.raises(GpuCreditError, match=r"liquidation_penalty must be between 0 "
                                                 "and 1, got 4.5"):
            CryptoLenderTerms(liquidation_penalty=4.5)

    def test_errors(self):
        with pytest.raises(GpuCreditError, match=r"confidence must be > 0.5 and < 1, got 1"):
            crypto_haircut(0.6, 10, confidence=1.0)
        with pytest.raises(GpuCreditError, match=r"annual_vol must be >= 0, got -0.6"):
            crypto_haircut(-0.6, 10)


# ------------------------------------------------------------------- recovery and LGD
class TestRecoveryAndLgd:
    def test_hand_example(self):
        # Default in period 1: collateral 300m, debt 200m + 2m accrued = 202m exposure.
        #   liquidation = 300m x f x (1 - h) x 0.85 - 15m = 177.67m < 202m -> LGD 12.0%
        # Period 2: collateral 400m -> liquidation 240.90m > 150m exposure: full recovery.
        # Period 3: nothing owed: LGD undefined (NaN).
        mv = [300e6, 400e6, 50e6]
        debt = [200e6, 150e6, 0.0]
        rec = recovery_at_default(mv, debt, 10_000, 1_000, 3, accrued_interest=[2e6, 0, 0])
        liq1 = _hand_liquidation(300e6, 10_000, 1_000, 3)[-1]
        assert liq1 == pytest.approx(177.67e6, abs=0.01e6)
        np.testing.assert_allclose(rec, [liq1, 150e6, 0.0], rtol=1e-12)
        got = lgd(mv, debt, 10_000, 1_000, 3, accrued_interest=[2e6, 0, 0])
        np.testing.assert_allclose(got, [1 - liq1 / 202e6, 0.0, np.nan], rtol=1e-12)

    def test_discounted_recovery(self):
        # Proceeds 3 months after default discounted at 12% a year compounded monthly:
        # liquidation / 1.01^3
        liq = _hand_liquidation(300e6, 10_000, 1_000, 3)[-1]
        got = recovery_at_default(300e6, 400e6, 10_000, 1_000, 3, discount_rate=0.12)
        assert got == pytest.approx(liq / 1.01**3, rel=1e-12)

    def test_facilities_by_periods(self):
        mv = np.array([[300e6, 250e6], [100e6, 80e6]])
        debt = np.array([[250e6, 240e6], [90e6, 85e6]])
        got = lgd(mv, debt, [10_000, 3_000], [1_000, 500], [3.0, 6.0])
        assert got.shape == (2, 2)
        for i, (q, a, t) in enumerate([(10_000, 1_000, 3.0), (3_000, 500, 6.0)]):
            for j in range(2):
                rec = min(_hand_liquidation(mv[i, j], q, a, t)[-1], debt[i, j])
                assert got[i, j] == pytest.approx(1 - rec / debt[i, j], rel=1e-12)

    @SETTINGS
    @given(mv=money_st, d=money_st, q=units_st, a=absorption_st, t=months_st)
    def test_invariants(self, mv, d, q, a, t):
        rec = recovery_at_default(mv, d, q, a, t)
        assert 0.0 <= rec <= min(mv, d) + 1e-6
        loss = lgd(mv, d, q, a, t)
        if d > 0:
            assert 0.0 <= loss <= 1.0
        else:
            assert math.isnan(loss)

    def test_errors(self):
        with pytest.raises(GpuCreditError, match=r"collateral_value has 2 periods but "
                                                 "debt_outstanding has 3"):
            lgd([1.0, 2.0], [1.0, 1.0, 1.0], 10, 10, 1)
        with pytest.raises(GpuCreditError, match=r"months_to_sell must be > 0, got 0 "
                                                 r"\(position 1\)"):
            lgd([1.0, 2.0], [1.0, 1.0], 10, 10, [0.0, 1.0])
        with pytest.raises(GpuCreditError, match=r"months_to_sell must be a single value or "
                                                 "one value per facility"):
            recovery_at_default([1.0], [1.0], 10, 10, [[1.0]])
