"""Tests for gpucredit.miners.

Oracles: hashprice worked by hand and re-derived from the network hashrate (an
independent route to the same quantity), revenue and coverage by hand, scipy's lognormal
quantile for the treasury haircut, and hypothesis for the invariants.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import lognorm

from gpucredit.collateral import ltv
from gpucredit.errors import GpuCreditError
from gpucredit.miners import (
    CombinedCoverage,
    btc_holdings_value,
    btc_liquidation_price,
    combined_coverage,
    haircut_btc_value,
    hashprice,
    mining_revenue,
)

SETTINGS = settings(max_examples=60, deadline=None)

# ------------------------------------------------------------------ strategies (local)
difficulty_st = st.floats(1e12, 1e15)
price_st = st.floats(1_000.0, 500_000.0)
cash_st = st.floats(-1e8, 1e8)
service_st = st.floats(1.0, 1e8)


# --------------------------------------------------------------------------- hashprice
class TestHashprice:
    def test_by_hand(self):
        # Difficulty 1.0e14, BTC $100,000, subsidy 3.125, no fees:
        #   blocks per PH/s per day = 86,400 s x 1e15 H/s / (1.0e14 x 2^32 H per block)
        #                           = 8.64e19 / 4.294967296e23 = 2.0116567611694336e-4
        #   hashprice = 2.0116567611694336e-4 x 3.125 BTC x $100,000 = $62.8643 per PH/day
        blocks = 8.64e19 / 4.294967296e23
        assert blocks == pytest.approx(2.0116567611694336e-4, rel=1e-15)
        assert hashprice(1.0e14, 100_000.0) == pytest.approx(blocks * 3.125 * 100_000.0,
                                                             rel=1e-12)
        assert hashprice(1.0e14, 100_000.0) == pytest.approx(62.8643, abs=1e-4)
        assert isinstance(hashprice(1.0e14, 100_000.0), float)

    @SETTINGS
    @given(d=difficulty_st, p=price_st, fees=st.floats(0.0, 1.0))
    def test_from_network_hashrate(self, d, p, fees):
        # Independent route: the network does D x 2^32 hashes per 600-second block, so
        # hashes per second = D x 2^32 / 600; one PH/s holds the share 1e15 / that of 144
        # blocks a day.
        network_hs = d * 2**32 / 600.0
        expected = 1e15 / network_hs * 144 * (3.125 + fees) * p
        assert hashprice(d, p, fees_per_block=fees) == pytest.approx(expected, rel=1e-12)

    def test_halving_and_vectorised(self):
        path = hashprice([1.0e14, 1.2e14], [[100_000.0], [50_000.0]])
        assert path.shape == (2, 2)
        np.testing.assert_allclose(path[1], path[0] / 2)         # half the price
        np.testing.assert_allclose(path[:, 1], path[:, 0] / 1.2)  # 20% more difficulty
        assert hashprice(1.0e14, 1e5, subsidy=1.5625) == pytest.approx(
            hashprice(1.0e14, 1e5) / 2)  # the 2028 halving

    def test_errors(self):
        with pytest.raises(GpuCreditError, match=r"difficulty must be > 0, got 0"):
            hashprice(0.0, 1e5)
        with pytest.raises(GpuCreditError, match=r"btc_price must be >= 0, got -1 "
                                                 r"\(position 2\)"):
            hashprice(1e14, [1e5, -1.0])


# ------------------------------------------------------------------------------ revenue
class TestMiningRevenue:
    def test_by_hand(self):
        # 1,000 PH/s (1 EH/s) x $50 per PH/day x 365/12 days = $1,520,833.33 a month
        assert mining_revenue(1_000.0, 50.0, 12) == pytest.approx(1_000 * 50 * 365 / 12)
        # with 95% uptime and a 2% pool fee, quarterly: x 0.95 x 0.98 x 91.25 days
        assert mining_revenue(1_000.0, 50.0, 4, uptime=0.95, pool_fee=0.02) == pytest.approx(
            1_000 * 50 * 0.95 * 0.98 * 91.25, rel=1e-12)

    def test_facilities_by_periods(self):
        hp = hashprice([1.0e14, 1.1e14, 1.2e14], 100_000.0)
        got = mining_revenue([1_000.0, 250.0], hp, 1)
        assert got.shape == (2, 3)
        np.testing.assert_allclose(got[1], 250.0 * hp * 365.0)
        grown = mining_revenue([[1_000.0, 1_500.0, 2_000.0]], hp, 1)  # a hashrate path
        np.testing.assert_allclose(grown[0], [1_000.0, 1_500.0, 2_000.0] * hp * 365.0)

    def test_errors(self):
        with pytest.raises(GpuCreditError, match="periods_per_year must be one of 1, 2, 4, 12"):
            mining_revenue(1.0, 50.0, 52)
        with pytest.raises(GpuCreditError, match=r"uptime must be between 0 and 1, got 1.1 "
                                                 r"\(position 2\)"):
            mining_revenue([1.0, 1.0], 50.0, 12, uptime=[1.0, 1.1])


# ----------------------------------------------------------------------------- treasury
class TestTreasury:
    def test_holdings_by_hand_and_path(self):
        assert btc_holdings_value(1_000.0, 100_000.0) == pytest.approx(1e8)
        got = btc_holdings_value([[1_000.0, 1_200.0]], [100_000.0, 50_000.0])
        np.testing.assert_allclose(got, [[1e8, 6e7]])

    @SETTINGS
    @given(b=st.floats(0.0, 1e5), p=price_st, vol=st.floats(0.05, 1.5),
           h=st.floats(1.0, 60.0))
    def test_haircut_value_against_lognormal(self, b, p, vol, h):
        # Sale value at the 1% quantile of a driftless lognormal price after h days.
        expected = b * p * lognorm.ppf(0.01, s=vol * math.sqrt(h / 365))
        got = haircut_btc_value(b, p, annual_vol=vol, horizon_days=h)
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-6)

    def test_liquidation_price(self):
        # $43m loan on 1,000 BTC liquidates when 43m / (1,000 P) = 86%: P = $50,000
        p = btc_liquidation_price(43e6, 1_000.0)
        assert p == pytest.approx(50_000.0)
        assert ltv(43e6, 1_000.0 * p) == pytest.approx(0.86)
        got = btc_liquidation_price([43e6, 0.0, 1e6], [1_000.0, 10.0, 0.0])
        np.testing.assert_allclose(got, [50_000.0, 0.0, np.nan])

    def test_errors(self):
        with pytest.raises(GpuCreditError, match="btc_held must be >= 0"):
            btc_holdings_value(-1.0, 1e5)
        with pytest.raises(GpuCreditError, match=r"liquidation_ltv must be > 0 and <= 1"):
            btc_liquidation_price(1.0, 1.0, liquidation_ltv=0.0)


# ------------------------------------------------------------------------------ coverage
class TestCombinedCoverage:
    def test_by_hand(self):
        # Debt service 10 a period over 3 periods (30 in all). BTC treasury worth
        # 20 / 10 / 40 at each period's price, 25% haircut, 80% free:
        #   available L_t = V_t x 0.75 x 0.8 = 12, 6, 24; treasury cover L_t / 30 = .4/.2/.8
        # hosting 8 / 7 / 6, mining 3 / 1 / 5:
        #   hosting DSCR .8/.7/.6, combined 1.1/.8/1.1, liquidity-adjusted 1.5/1.0/1.9
        cov = combined_coverage([8.0, 7.0, 6.0], [3.0, 1.0, 5.0], [10.0, 10.0, 10.0],
                                treasury_value=[[20.0, 10.0, 40.0]], treasury_haircut=0.25,
                                treasury_available_share=0.8)
        assert isinstance(cov, CombinedCoverage)
        np.testing.assert_allclose(cov.hosting_dscr, [[0.8, 0.7, 0.6]])
        np.testing.assert_allclose(cov.dscr, [[1.1, 0.8, 1.1]])
        np.testing.assert_allclose(cov.treasury_available, [[12.0, 6.0, 24.0]])
        np.testing.assert_allclose(cov.treasury_cover, [[0.4, 0.2, 0.8]])
        np.testing.assert_allclose(cov.liquidity_adjusted_dscr, [[1.5, 1.0, 1.9]])

    def test_default_haircut_matches_crypto_var(self):
        # Default 21% rounds up crypto_haircut(0.60, 10, 0.99) = 20.6%:
        # 100 of treasury -> 79 available over 50 of debt service -> cover 1.58
        cov = combined_coverage([5.0] * 5, [0.0] * 5, [10.0] * 5, treasury_value=100.0)
        np.testing.assert_allclose(cov.treasury_cover, 79.0 / 50.0)

    def test_no_debt_service_is_nan_not_inf(self):
        cov = combined_coverage([5.0, 5.0], [1.0, 1.0], [10.0, 0.0], treasury_value=10.0)
        assert math.isnan(cov.dscr[1]) and math.isnan(cov.liquidity_adjusted_dscr[1])
        assert cov.dscr[0] == pytest.approx(0.6)
        assert cov.treasury_cover[0] == pytest.approx(10.0 * 0.79 / 10.0)
        cov = combined_coverage([5.0, 5.0], [1.0, 1.0], [0.0, 0.0], treasury_value=10.0)
        assert np.isnan(cov.liquidity_adjusted_dscr).all()

    @SETTINGS
    @given(ds=st.lists(st.just(0.0) | service_st, min_size=1, max_size=8),
           value=st.floats(0.0, 1e9), hc=st.floats(0.0, 1.0), share=st.floats(0.0, 1.0))
    def test_treasury_is_counted_once(self, ds, value, hc, share):
        # With a constant treasury value, the treasury support paid out over the tenor,
        # sum of cover_t x DS_t, equals the available treasury exactly once.
        ds_arr = np.array(ds)
        cov = combined_coverage(np.zeros_like(ds_arr), np.zeros_like(ds_arr), ds_arr,
                                treasury_value=value, treasury_haircut=hc,
                                treasury_available_share=share)
        paid = np.nansum(cov.treasury_cover * ds_arr)
        if ds_arr.sum() > 0:
            assert paid == pytest.approx(value * (1 - hc) * share, rel=1e-9, abs=1e-6)
        assert not np.isinf(cov.liquidity_adjusted_dscr).any()

    @SETTINGS
    @given(h=st.lists(cash_st, min_size=3, max_size=3),
           m=st.lists(cash_st, min_size=3, max_size=3),
           ds=st.lists(service_st, min_size=3, max_size=3), tv=st.floats(0.0, 1e9))
    def test_treasury_never_lowers_coverage(self, h, m, ds, tv):
        cov = combined_coverage(h, m, ds, treasury_value=tv)
        h, m, ds = np.array(h), np.array(m), np.array(ds)
        assert np.all(cov.liquidity_adjusted_dscr >= cov.dscr)
        np.testing.assert_allclose(cov.hosting_dscr, h / ds, rtol=1e-12)
        np.testing.assert_allclose(cov.dscr, (h + m) / ds, rtol=1e-12)

    def test_portfolio_shapes(self):
        cov = combined_coverage([[8.0, 8.0], [4.0, 4.0]], [1.0, 1.0], [10.0, 10.0],
                                treasury_value=[10.0, 0.0], treasury_haircut=0.0)
        np.testing.assert_allclose(cov.dscr, [[0.9, 0.9], [0.5, 0.5]])
        np.testing.assert_allclose(cov.liquidity_adjusted_dscr, [[1.4, 1.4], [0.5, 0.5]])

    def test_errors(self):
        with pytest.raises(GpuCreditError, match="hosting_cfads has 2 periods but "
                                                 "debt_service has 3"):
            combined_coverage([1.0, 1.0], [1.0, 1.0], [1.0, 1.0, 1.0])
        with pytest.raises(GpuCreditError, match=r"treasury_haircut must be between 0 and 1, "
                                                 r"got 1.5"):
            combined_coverage([1.0], [1.0], [1.0], treasury_value=1.0, treasury_haircut=1.5)
        with pytest.raises(GpuCreditError, match=r"debt_service must be >= 0, got -1 "
                                                 r"\(position 1\)"):
            combined_coverage([1.0], [1.0], [-1.0])
