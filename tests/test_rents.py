"""Tests for gpucredit.rents.

Oracles: hand-worked paths (arithmetic in the test), the revenue identity of the
contracted/merchant split, and hypothesis properties (a trend loses exactly ``d`` over
each year; a blended rent lies between its two rates).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.strategies import fractions, periods_per_year, positive

from gpucredit.errors import GpuCreditError
from gpucredit.periods import period_hours
from gpucredit.rents import (
    RentSplit,
    blended_rent,
    contracted_merchant,
    forward_path,
    generation_jumps,
    trend_path,
)


class TestTrendPath:
    def test_quarterly_hand_example(self):
        # 19% a year: a half-year factor of sqrt(0.81) = 0.9, a full year 0.81
        got = trend_path(2.0, 0.19, 5, 4)
        assert got[0] == 2.0  # period 1 earns today's rent
        assert got[2] == pytest.approx(2.0 * 0.9)
        assert got[4] == pytest.approx(2.0 * 0.81)

    def test_inflation(self):
        np.testing.assert_allclose(trend_path(2.0, -0.10, 3, 1), [2.0, 2.2, 2.42])

    def test_no_deflation_is_flat(self):
        np.testing.assert_array_equal(trend_path(2.85, 0.0, 4, 12), [2.85] * 4)

    def test_portfolio(self):
        got = trend_path([2.0, 4.0], [0.5, 0.0], 3, 1)
        np.testing.assert_allclose(got, [[2.0, 1.0, 0.5], [4.0, 4.0, 4.0]])

    def test_single_facility_shape(self):
        assert trend_path(2.0, 0.3, 7, 4).shape == (7,)

    @pytest.mark.parametrize(("args", "message"), [
        ((2.0, 1.0, 4, 4), "deflation must be < 1, got 1"),
        ((-1.0, 0.2, 4, 4), "rent0 must be >= 0, got -1"),
        ((2.0, 0.2, 0, 4), "n_periods must be a whole number >= 1, got 0"),
        ((2.0, 0.2, 2.5, 4), "n_periods must be a whole number >= 1, got 2.5"),
        ((2.0, 0.2, 4, 3), "periods_per_year must be one of 1, 2, 4, 12, got 3"),
    ])
    def test_bad_arguments(self, args, message):
        with pytest.raises(GpuCreditError) as err:
            trend_path(*args)
        assert str(err.value) == message

    def test_facilities_must_match(self):
        with pytest.raises(GpuCreditError, match="do not cover the same facilities"):
            trend_path([2.0, 3.0, 4.0], [0.1, 0.2], 4, 4)


@settings(max_examples=100, deadline=None)
@given(rent0=positive(0.1, 20.0), d=fractions(-0.5, 0.95), m=periods_per_year,
       years=st.integers(1, 5))
def test_trend_loses_d_each_year(rent0, d, m, years):
    path = trend_path(rent0, d, m * years + 1, m)
    np.testing.assert_allclose(path[m:] / path[:-m], 1 - d, rtol=1e-12)
    if d >= 0:
        assert np.all(np.diff(path) <= 0)


class TestGenerationJumps:
    def test_hand_example(self):
        # launches 0.5 and 1 year out, quarterly: periods start at 0, .25, .5, .75, 1, 1.25
        got = generation_jumps(6, 4, jump_years=[0.5, 1.0], jump=0.3)
        np.testing.assert_allclose(got, [1, 1, 0.7, 0.7, 0.49, 0.49])

    def test_launches_already_in_todays_rent_ignored(self):
        np.testing.assert_array_equal(generation_jumps(3, 1, [-1.0, 0.0]), [1.0, 1.0, 1.0])

    def test_per_facility(self):
        got = generation_jumps(3, 1, [[1.0, np.nan], [1.0, 2.0]], jump=[0.5, 0.2])
        np.testing.assert_allclose(got, [[1, 0.5, 0.5], [1, 0.8, 0.64]])

    def test_times_trend(self):
        path = trend_path(3.0, 0.2, 3, 1) * generation_jumps(3, 1, [2.0], jump=0.25)
        np.testing.assert_allclose(path, [3.0, 2.4, 3.0 * 0.64 * 0.75])

    def test_bad_jump(self):
        with pytest.raises(GpuCreditError, match=re.escape("jump must be between 0 and 1")):
            generation_jumps(3, 1, [1.0], jump=-0.1)

    def test_bad_years(self):
        with pytest.raises(GpuCreditError, match="jump_years must be numbers"):
            generation_jumps(3, 1, ["soon"])


class TestContractedMerchant:
    def test_hand_example(self):
        # 60% contracted at $2.65 for 2 periods; merchant $2.42, $2.00, $1.70
        split = contracted_merchant(2.65, [2.42, 2.00, 1.70], contract_end_period=2,
                                    contracted_share=0.6)
        assert isinstance(split, RentSplit)
        np.testing.assert_allclose(split.contracted_share_path, [0.6, 0.6, 0.0])
        np.testing.assert_allclose(split.merchant_share_path, [0.4, 0.4, 1.0])
        np.testing.assert_allclose(split.contract_rate_path, [2.65] * 3)
        np.testing.assert_allclose(split.merchant_rent_path, [2.42, 2.00, 1.70])
        np.testing.assert_allclose(split.blended_rent_path,
                                   [0.6 * 2.65 + 0.4 * 2.42, 0.6 * 2.65 + 0.4 * 2.00, 1.70])

    def test_revenue_identity(self):
        # 1,000 GPUs at 90% utilisation, quarterly: revenue from blended rent equals
        # contracted hours x contract rate + merchant hours x market rent
        merchant = trend_path(2.42, 0.3, 8, 4)
        split = contracted_merchant(2.65, merchant, 5, contracted_share=0.75)
        hours = 1000 * 0.9 * period_hours(4)
        contracted = hours * np.array([0.75] * 5 + [0.0] * 3) * 2.65
        market = hours * np.array([0.25] * 5 + [1.0] * 3) * merchant
        np.testing.assert_allclose(hours * split.blended_rent_path, contracted + market)

    def test_no_contract(self):
        merchant = [2.0, 1.8]
        np.testing.assert_array_equal(blended_rent(5.0, merchant, 0), merchant)

    def test_default_whole_fleet_contracted(self):
        np.testing.assert_array_equal(blended_rent(2.65, [2.0, 1.8, 1.6], 2), [2.65, 2.65, 1.6])

    def test_portfolio(self):
        merchant = np.array([[2.0, 1.5, 1.0], [3.0, 3.0, 3.0]])
        got = blended_rent([2.5, 1.0], merchant, [1, 3], contracted_share=[1.0, 0.5])
        np.testing.assert_allclose(got, [[2.5, 1.5, 1.0], [2.0, 2.0, 2.0]])

    def test_facility_params_on_shared_path(self):
        got = blended_rent([2.5, 3.0], [2.0, 1.0], [1, 2])
        np.testing.assert_allclose(got, [[2.5, 1.0], [3.0, 3.0]])

    def test_fractional_end(self):
        with pytest.raises(GpuCreditError) as err:
            blended_rent(2.5, [2.0, 1.0], [1, 2.5])
        assert str(err.value) == ("contract_end_period must be a whole number of periods, "
                                  "got 2.5 (position 2)")

    @pytest.mark.parametrize(("kwargs", "message"), [
        ({"contracted_share": 1.2}, "contracted_share must be between 0 and 1, got 1.2"),
        ({"contract_end_period": -1}, "contract_end_period must be >= 0, got -1"),
        ({"contract_rate": np.nan}, "contract_rate must be a finite number, got nan"),
    ])
    def test_bad_arguments(self, kwargs, message):
        args = {"contract_rate": 2.5, "merchant_rent": [2.0, 1.0], "contract_end_period": 1,
                **kwargs}
        with pytest.raises(GpuCreditError) as err:
            contracted_merchant(**args)
        assert str(err.value) == message

    def test_negative_merchant_rent(self):
        with pytest.raises(GpuCreditError, match=re.escape("got -1 (position 2)")):
            blended_rent(2.5, [2.0, -1.0], 1)

    def test_facilities_must_match(self):
        with pytest.raises(GpuCreditError, match="do not cover the same facilities"):
            blended_rent([2.5, 2.0, 1.0], np.ones((2, 4)), 1)


@settings(max_examples=100, deadline=None)
@given(c=positive(0.0, 10.0), r0=positive(0.1, 10.0), d=fractions(-0.3, 0.9),
       end=st.integers(0, 12), share=fractions(), n=st.integers(1, 12))
def test_blended_between_contract_and_merchant(c, r0, d, end, share, n):
    merchant = trend_path(r0, d, n, 4)
    split = contracted_merchant(c, merchant, end, share)
    low = np.minimum(c, merchant) - 1e-12
    high = np.maximum(c, merchant) + 1e-12
    assert np.all((split.blended_rent_path >= low) & (split.blended_rent_path <= high))
    t = np.arange(1, n + 1)
    np.testing.assert_array_equal(split.contracted_share_path, np.where(t <= end, share, 0.0))


class TestForwardPath:
    TENORS = (0, 3, 6, 12, 24, 36)
    CURVE = (2.42, 2.30, 2.21, 2.05, 1.80, 1.62)

    @pytest.mark.parametrize("m", [1, 2, 4, 12])
    def test_reproduces_the_curve_at_its_tenors(self, m):
        path = forward_path(self.TENORS, self.CURVE, 4 * m, m)
        for tenor, rent in zip(self.TENORS, self.CURVE, strict=True):
            t = tenor * m / 12  # the period starting at the tenor (0-based)
            if t == int(t):
                assert path[int(t)] == pytest.approx(rent, rel=1e-12)

    def test_log_linear_between_tenors(self):
        # month 9 lies halfway between 6 and 12 months: the geometric mean
        path = forward_path(self.TENORS, self.CURVE, 12, 12)
        assert path[9] == pytest.approx(math.sqrt(2.21 * 2.05))

    def test_trend_beyond_the_last_tenor_and_flat_before_the_first(self):
        path = forward_path([6, 12], [2.0, 1.8], 8, 4, deflation=0.3)
        assert path[0] == path[1] == path[2] == pytest.approx(2.0)
        assert path[4] == pytest.approx(1.8)
        assert path[6] == pytest.approx(1.8 * 0.7 ** 0.5)
        assert path[7] == pytest.approx(1.8 * 0.7 ** 0.75)

    def test_basis_scales_the_whole_path(self):
        base = forward_path(self.TENORS, self.CURVE, 16, 4, deflation=0.2)
        np.testing.assert_allclose(
            forward_path(self.TENORS, self.CURVE, 16, 4, deflation=0.2, basis=0.09),
            base * math.exp(0.09))

    def test_portfolio_shapes(self):
        out = forward_path([0, 12], [[2.0, 1.0], [3.0, 3.0]], 3, 2, deflation=[0.1, 0.5])
        np.testing.assert_allclose(out, [[2.0, math.sqrt(2.0), 1.0], [3.0, 3.0, 3.0]])
        assert forward_path([0, 12], [2.0, 1.0], 3, 2, deflation=[0.1, 0.5]).shape == (2, 3)

    @pytest.mark.parametrize(("tenors", "curve", "words"), [
        ([0, 6, 3], [2, 2, 2], "increasing"),
        ([0, 6], [2, 2, 2], "3 rents for 2 tenors"),
        ([0, 6], [2, -1], "curve"),
        ([[0, 6]], [2, 1], "list of tenors"),
    ])
    def test_refuses_bad_curves(self, tenors, curve, words):
        with pytest.raises(GpuCreditError, match=words):
            forward_path(tenors, curve, 4, 4)
