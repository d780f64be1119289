"""Tests for gpucredit.pricing: Merton, the credit triangle, fair spread, rating buckets.

Oracles: Hull's worked examples (Black-Scholes call, Merton model, hazard rates from
spreads), arithmetic done by hand in the test, an independent scipy.optimize.fsolve
solution of the Merton equations written out here, and S&P's published default rates.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.optimize import fsolve
from scipy.stats import norm

from gpucredit.errors import GpuCreditError
from gpucredit.pricing import (
    SP_GLOBAL_ONE_YEAR_DEFAULT_RATES,
    MertonResult,
    default_rate_table,
    expected_loss,
    fair_spread,
    hazard_from_pd,
    hazard_rate,
    kmv_default_point,
    merton_equity,
    merton_solve,
    mispricing_bp,
    pd_from_hazard,
    rating_bucket,
    spread_from_hazard,
)

PROPS = settings(max_examples=60, deadline=None)

# --------------------------------------------------------------------------- strategies

asset_values = st.floats(1.0, 1e6)
asset_vols = st.floats(0.02, 1.5)
leverages = st.floats(0.01, 1.5)          # debt face / asset value
rates = st.floats(-0.01, 0.10)
horizons = st.floats(0.25, 10.0)
recoveries = st.floats(0.0, 0.95)
spreads = st.floats(0.0, 0.5)
hazards = st.floats(0.0, 2.0)
probabilities = st.floats(0.0, 1.0)


def merton_firms(size=None):
    """(V, sigma_V, D, r, T) for one firm, or arrays of ``size`` firms."""
    if size is None:
        return st.tuples(asset_values, asset_vols, leverages, rates, horizons).map(
            lambda t: (t[0], t[1], t[0] * t[2], t[3], t[4]))
    return st.lists(merton_firms(), min_size=size, max_size=size).map(
        lambda rows: tuple(np.array(col) for col in zip(*rows, strict=True)))


# --------------------------------------------------------------------------- helpers


def fsolve_merton(e, sigma_e, d, r, t):
    """Independent solution of the two Merton equations with MINPACK's fsolve."""
    k = d * math.exp(-r * t)

    def equations(z):
        v, s = z
        d1 = (math.log(v / k) + 0.5 * s * s * t) / (s * math.sqrt(t))
        d2 = d1 - s * math.sqrt(t)
        return [v * norm.cdf(d1) - k * norm.cdf(d2) - e, norm.cdf(d1) * s * v - sigma_e * e]

    v, s = fsolve(equations, [e + k, sigma_e * e / (e + k)], xtol=1e-13)
    return v, s


# --------------------------------------------------------------------------- Merton


class TestMertonEquity:
    def test_hull_black_scholes_example(self):
        # Hull, "Options, Futures, and Other Derivatives", Black-Scholes-Merton chapter:
        # S0 = 42, K = 40, r = 10%, sigma = 20%, T = 0.5 gives d1 = 0.7693, d2 = 0.6278,
        # c = 4.76. Equity is that call on the assets (V = 42) struck at the debt (D = 40).
        e = merton_equity(42.0, 0.20, 40.0, 0.10, 0.5)
        assert round(e.equity_value, 2) == 4.76
        # sigma_E = N(d1) sigma_V V / E with Hull's printed d1:
        # N(0.7693) = 0.7791, 0.7791 x 0.20 x 42 / 4.76 = 1.375.
        assert e.equity_vol == pytest.approx(norm.cdf(0.7693) * 0.20 * 42.0 / 4.7594, rel=1e-4)
        assert round(e.equity_vol, 3) == 1.375

    def test_equity_never_exceeds_assets_or_falls_below_intrinsic(self):
        v = np.array([5.0, 12.0, 50.0])
        e = merton_equity(v, 0.3, 10.0, 0.05, 2.0).equity_value
        intrinsic = v - 10.0 * math.exp(-0.05 * 2.0)
        assert np.all(e <= v) and np.all(e >= np.maximum(intrinsic, 0.0))

    def test_scalar_in_gives_floats_out(self):
        e = merton_equity(12.4, 0.2123, 10.0, 0.05, 1.0)
        assert type(e.equity_value) is float and type(e.equity_vol) is float

    def test_broadcasts_one_value_per_facility(self):
        e = merton_equity([12.0, 20.0], 0.25, [10.0, 5.0], 0.04, 1.0)
        assert e.equity_value.shape == (2,)
        assert e.equity_value[1] == pytest.approx(merton_equity(20.0, 0.25, 5.0, 0.04, 1.0)[0])

    @pytest.mark.parametrize(("kwargs", "message"), [
        ({"asset_value": 0.0}, "asset_value must be > 0, got 0"),
        ({"asset_vol": -0.2}, "asset_vol must be > 0, got -0.2"),
        ({"debt_face": [10.0, -1.0]}, r"debt_face must be > 0, got -1 \(position 2\)"),
        ({"rate": float("nan")}, "rate must be a finite number, got nan"),
        ({"years": 0.0}, "years must be > 0, got 0"),
    ])
    def test_bad_arguments(self, kwargs, message):
        args = {"asset_value": 12.0, "asset_vol": 0.2, "debt_face": 10.0, "rate": 0.05,
                "years": 1.0} | kwargs
        with pytest.raises(GpuCreditError, match=message):
            merton_equity(**args)


class TestMertonSolve:
    def test_hull_credit_risk_example(self):
        # Hull, "Options, Futures, and Other Derivatives", chapter "Credit Risk", Merton's
        # model example: E = 3, sigma_E = 80%, D = 10, r = 5%, T = 1 year. Hull prints
        # V0 = 12.40, sigma_V = 0.2123, N(-d2) = 12.7%, market value of debt 12.40 - 3 =
        # 9.40, present value of the promised payment 10 e^-0.05 = 9.51, and an expected
        # loss of (9.51 - 9.40) / 9.51, about 1.2% of the no-default value.
        r = merton_solve(3.0, 0.80, 10.0, 0.05, 1.0)
        assert r.converged is True
        assert round(r.asset_value, 2) == 12.40
        assert round(r.asset_vol, 4) == 0.2123
        assert round(r.pd, 3) == 0.127
        assert round(r.debt_value, 2) == 9.40
        promised_pv = 10.0 * math.exp(-0.05)
        assert round(promised_pv, 2) == 9.51
        assert round((promised_pv - r.debt_value) / promised_pv, 3) == 0.012

    def test_matches_an_independent_fsolve_solution(self):
        cases = [(3.0, 0.80, 10.0, 0.05, 1.0), (40.0, 0.45, 100.0, 0.04, 5.0),
                 (1.2e9, 0.95, 3.5e9, 0.043, 3.0), (0.5, 1.2, 20.0, 0.0, 0.5)]
        e, se, d, r, t = (np.array(col) for col in zip(*cases, strict=True))
        res = merton_solve(e, se, d, r, t)
        for i, case in enumerate(cases):
            v, s = fsolve_merton(*case)
            assert res.asset_value[i] == pytest.approx(v, rel=1e-9)
            assert res.asset_vol[i] == pytest.approx(s, rel=1e-8)

    @PROPS
    @given(merton_firms())
    def test_round_trip_recovers_assets(self, firm):
        v, sv, d, r, t = firm
        e, se = merton_equity(v, sv, d, r, t)
        assume(e > 1e-6 * v)  # below that the equity is lost in V N(d1) - K N(d2) rounding
        res = merton_solve(e, se, d, r, t)
        assert res.converged
        assert res.asset_value == pytest.approx(v, rel=1e-8)
        assert res.asset_vol == pytest.approx(sv, rel=1e-7)

    @PROPS
    @given(merton_firms(size=5))
    def test_vectorised_equals_one_at_a_time(self, firms):
        v, sv, d, r, t = firms
        e, se = merton_equity(v, sv, d, r, t)
        assume(np.all(e > 1e-6 * v))
        together = merton_solve(e, se, d, r, t)
        for i in range(5):
            alone = merton_solve(e[i], se[i], d[i], r[i], t[i])
            assert together.pd[i] == pytest.approx(alone.pd, rel=1e-9, abs=1e-15)
            assert together.asset_value[i] == pytest.approx(alone.asset_value, rel=1e-12)

    @PROPS
    @given(merton_firms())
    def test_outputs_are_consistent(self, firm):
        v, sv, d, r, t = firm
        e, se = merton_equity(v, sv, d, r, t)
        assume(e > 1e-6 * v)
        res = merton_solve(e, se, d, r, t)
        discounted = d * math.exp(-r * t)
        # Spread from its definition, the yield shortfall of the risky debt:
        # B = D e^{-(r + s) T}  =>  s = -ln(B / (D e^{-rT})) / T, with B = V - E.
        assert res.debt_value == pytest.approx(res.asset_value - e, rel=1e-12)
        implied = -math.log(res.debt_value / discounted) / t
        assert res.spread == pytest.approx(implied, rel=1e-6, abs=1e-12)
        assert res.pd == pytest.approx(norm.sf(res.distance_to_default), rel=1e-12)
        assert res.d1 - res.distance_to_default == pytest.approx(res.asset_vol * math.sqrt(t))
        assert 0.0 <= res.spread and 0.0 <= res.pd <= 1.0
        assert res.debt_value <= discounted * (1 + 1e-12)

    def test_higher_equity_volatility_means_higher_pd(self):
        res = merton_solve(3.0, [0.4, 0.6, 0.8, 1.0], 10.0, 0.05, 1.0)
        assert np.all(np.diff(res.pd) > 0) and np.all(np.diff(res.spread) > 0)

    def test_fallback_solver_gives_the_same_answer(self):
        # maxiter=0 sends every facility straight to scipy.optimize.brentq.
        a = merton_solve([3.0, 40.0], [0.8, 0.45], [10.0, 100.0], 0.05, [1.0, 5.0])
        b = merton_solve([3.0, 40.0], [0.8, 0.45], [10.0, 100.0], 0.05, [1.0, 5.0], maxiter=0)
        assert b.converged.all()
        np.testing.assert_allclose(b.asset_vol, a.asset_vol, rtol=1e-10)
        np.testing.assert_allclose(b.asset_value, a.asset_value, rtol=1e-12)

    def test_kmv_default_point_as_the_debt(self):
        # Short-term debt 6, long-term debt 8: the KMV default point is 6 + 0.5 x 8 = 10,
        # which is Hull's example again.
        res = merton_solve(3.0, 0.80, kmv_default_point(6.0, 8.0), 0.05, 1.0)
        assert round(res.pd, 3) == 0.127

    # -- results and faces

    def test_scalar_result_fields_are_python_scalars(self):
        r = merton_solve(3.0, 0.80, 10.0, 0.05, 1.0)
        assert isinstance(r, MertonResult)
        assert all(type(getattr(r, f)) is float for f in
                   ("asset_value", "asset_vol", "distance_to_default", "pd", "debt_value",
                    "spread", "d1"))
        assert type(r.converged) is bool

    def test_frozen(self):
        r = merton_solve(3.0, 0.80, 10.0, 0.05, 1.0)
        with pytest.raises(AttributeError):
            r.pd = 0.5

    def test_to_frame_and_as_dict_labels(self):
        r = merton_solve([3.0, 4.0, 5.0], 0.8, 10.0, 0.05, 1.0)
        frame = r.to_frame()
        assert list(frame.columns) == ["Asset value", "Asset volatility", "Distance to default",
                                       "PD", "Debt value", "Spread", "d1", "Converged"]
        assert frame.index.name == "Facility" and list(frame.index) == [1, 2, 3]
        np.testing.assert_array_equal(frame["PD"].to_numpy(), r.pd)
        assert r.as_dict()["Asset value"] is r.asset_value
        assert merton_solve(3.0, 0.8, 10.0, 0.05, 1.0).to_frame().shape == (1, 8)

    # -- failures

    def test_non_convergence_gives_nan_and_a_flag(self):
        # Equity of 1e-200 with a volatility of 1e200 cannot be resolved in double precision.
        r = merton_solve([3.0, 1e-200], [0.8, 1e200], [10.0, 1.0], 0.05, 1.0)
        assert r.converged.tolist() == [True, False]
        assert round(r.pd[0], 3) == 0.127
        assert all(np.isnan(getattr(r, f)[1]) for f in
                   ("asset_value", "asset_vol", "distance_to_default", "pd", "debt_value",
                    "spread", "d1"))

    def test_non_convergence_raises_on_request_naming_the_facility(self):
        with pytest.raises(GpuCreditError, match=r"did not converge for facility 2: "
                                                 r"equity_value=1e-200, equity_vol=1e\+200"):
            merton_solve([3.0, 1e-200], [0.8, 1e200], [10.0, 1.0], 0.05, 1.0,
                         raise_exceptions=True)
        with pytest.raises(GpuCreditError, match="did not converge: equity_value=1e-200"):
            merton_solve(1e-200, 1e200, 1.0, 0.05, 1.0, raise_exceptions=True)

    @pytest.mark.parametrize(("kwargs", "message"), [
        ({"equity_value": 0.0}, "equity_value must be > 0, got 0"),
        ({"equity_value": [3.0, -1.0]}, r"equity_value must be > 0, got -1 \(position 2\)"),
        ({"equity_vol": -0.8}, "equity_vol must be > 0, got -0.8"),
        ({"debt_face": 0.0}, "debt_face must be > 0, got 0"),
        ({"rate": float("inf")}, "rate must be a finite number, got inf"),
        ({"years": -1.0}, "years must be > 0, got -1"),
        ({"tol": 0.0}, "tol must be > 0, got 0"),
        ({"maxiter": -1}, "maxiter must be >= 0, got -1"),
        ({"equity_value": [[3.0]]}, "equity_value must be a single value or one value per "
                                    r"facility \(a 1-D array\), got an array of shape \(1, 1\)"),
        ({"equity_value": [3.0, 4.0], "equity_vol": [0.8, 0.7, 0.6]},
         r"arguments do not match: equity_value has shape \(2,\), equity_vol has shape \(3,\)"),
    ])
    def test_bad_arguments(self, kwargs, message):
        args = {"equity_value": 3.0, "equity_vol": 0.8, "debt_face": 10.0, "rate": 0.05,
                "years": 1.0} | kwargs
        with pytest.raises(GpuCreditError, match=message):
            merton_solve(**args)


class TestKmvDefaultPoint:
    def test_short_term_plus_half_long_term(self):
        # 4 + 0.5 x 12 = 10
        assert kmv_default_point(4.0, 12.0) == 10.0
        assert type(kmv_default_point(4.0, 12.0)) is float

    def test_weight_and_arrays(self):
        # 3 + 0.25 x 8 = 5; 1 + 0.25 x 0 = 1
        np.testing.assert_allclose(kmv_default_point([3.0, 1.0], [8.0, 0.0], 0.25), [5.0, 1.0])

    @pytest.mark.parametrize(("args", "message"), [
        ((-1.0, 5.0), "short_term_debt must be >= 0, got -1"),
        ((1.0, [5.0, -2.0]), r"long_term_debt must be >= 0, got -2 \(position 2\)"),
        ((1.0, 5.0, 1.5), "long_term_weight must be between 0 and 1, got 1.5"),
    ])
    def test_bad_arguments(self, args, message):
        with pytest.raises(GpuCreditError, match=message):
            kmv_default_point(*args)


# --------------------------------------------------------------------------- reduced form


class TestHazardRate:
    def test_hull_example(self):
        # Hull, "Options, Futures, and Other Derivatives", chapter "Credit Risk": a 3-year
        # bond yields 50bp over risk-free and recovery is 30%; the average hazard rate is
        # 0.005 / (1 - 0.3) = 0.0071, 0.71% per year.
        assert round(hazard_rate(0.0050, 0.30), 4) == 0.0071

    def test_credit_triangle_by_hand(self):
        # 150bp over risk-free with 40% recovery: 0.015 / 0.6 = 0.025.
        assert hazard_rate(0.015, 0.40) == pytest.approx(0.025, rel=1e-14)
        # Zero recovery: the hazard is the spread.
        assert hazard_rate(0.03, 0.0) == 0.03

    def test_elementwise_broadcasting(self):
        out = hazard_rate(np.array([[0.01, 0.02], [0.03, 0.04]]), np.array([[0.5], [0.2]]))
        np.testing.assert_allclose(out, [[0.02, 0.04], [0.0375, 0.05]])

    @PROPS
    @given(spreads, recoveries)
    def test_round_trip_with_spread_from_hazard(self, s, rec):
        assert spread_from_hazard(hazard_rate(s, rec), rec) == pytest.approx(s, rel=1e-12,
                                                                             abs=1e-15)

    @pytest.mark.parametrize(("args", "message"), [
        ((-0.01, 0.4), "spread must be >= 0, got -0.01"),
        ((0.01, 1.0), "recovery must be >= 0 and < 1, got 1"),
        ((0.01, -0.1), "recovery must be >= 0 and < 1, got -0.1"),
        (([0.01, 0.02], [0.4, 0.4, 0.4]), "arguments do not match"),
    ])
    def test_bad_arguments(self, args, message):
        with pytest.raises(GpuCreditError, match=message):
            hazard_rate(*args)


class TestSpreadFromHazard:
    def test_by_hand(self):
        # 2.5% hazard, 40% recovery: 0.025 x 0.6 = 0.015 (150bp).
        assert spread_from_hazard(0.025, 0.40) == pytest.approx(0.015, rel=1e-14)

    def test_bad_arguments(self):
        with pytest.raises(GpuCreditError, match=r"hazard must be >= 0, got -0\.1"):
            spread_from_hazard(-0.1, 0.4)
        with pytest.raises(GpuCreditError, match=r"recovery must be >= 0 and < 1, got 1\.2"):
            spread_from_hazard(0.1, 1.2)


class TestPdFromHazard:
    def test_by_hand(self):
        # 2.5% a year for 5 years: 1 - e^-0.125 = 1 - 0.882497 = 0.117503.
        assert round(pd_from_hazard(0.025, 5.0), 6) == 0.117503
        # Hull's survival arithmetic: a 1.5% hazard defaults within a year with
        # probability 1 - e^-0.015 = 0.014888.
        assert round(pd_from_hazard(0.015, 1.0), 6) == 0.014888

    def test_per_facility_term_structure(self):
        hazard = np.array([0.01, 0.05])[:, None]
        years = np.array([1.0, 2.0, 3.0])
        out = pd_from_hazard(hazard, years)
        assert out.shape == (2, 3)
        assert out[1, 2] == pytest.approx(1 - math.exp(-0.15))
        assert np.all(np.diff(out, axis=1) > 0)

    @PROPS
    @given(hazards, horizons)
    def test_round_trip_with_hazard_from_pd(self, h, t):
        assume(h * t < 30)  # beyond that PD rounds to 1
        assert hazard_from_pd(pd_from_hazard(h, t), t) == pytest.approx(h, rel=1e-9, abs=1e-15)

    def test_bad_arguments(self):
        with pytest.raises(GpuCreditError, match="years must be > 0, got 0"):
            pd_from_hazard(0.02, 0.0)
        with pytest.raises(GpuCreditError, match=r"hazard must be >= 0, got -0\.02"):
            pd_from_hazard(-0.02, 1.0)


class TestHazardFromPd:
    def test_by_hand(self):
        # PD 10% over 2 years: -ln(0.9) / 2 = 0.105361 / 2 = 0.052680.
        assert round(hazard_from_pd(0.10, 2.0), 6) == 0.052680

    def test_bad_arguments(self):
        with pytest.raises(GpuCreditError, match="pd must be >= 0 and < 1, got 1"):
            hazard_from_pd(1.0, 1.0)
        with pytest.raises(GpuCreditError, match=r"years must be > 0, got -1 \(position 2\)"):
            hazard_from_pd(0.1, [1.0, -1.0])


class TestFairSpread:
    def test_by_hand(self):
        # PD 2% x LGD 60% = 1.2% = 120bp; exact: -ln(1 - 0.012) = 0.0120726.
        assert fair_spread(0.02, 0.60) == pytest.approx(0.012, rel=1e-14)
        assert round(fair_spread(0.02, 0.60, exact=True), 7) == 0.0120726

    @PROPS
    @given(st.floats(0.0, 0.5), probabilities)
    def test_exact_exceeds_approximation_by_about_half_its_square(self, p, lgd):
        approx, exact = fair_spread(p, lgd), fair_spread(p, lgd, exact=True)
        assert exact >= approx
        # -ln(1 - x) = x + x^2/2 + x^3/3 + ...: the gap is between x^2/2 and x^2/2 + x^3/(1-x)
        # (give or take the rounding of x itself, ~1e-16 x).
        x = p * lgd
        slack = 1e-15 * x
        assert x * x / 2 - slack <= exact - approx <= x * x / 2 + x**3 / (1 - x) + slack

    def test_certain_total_loss_has_no_exact_spread(self):
        assert fair_spread(1.0, 1.0) == 1.0
        with pytest.raises(GpuCreditError, match=r"pd_annual x lgd must be below 1 .* got 1 "
                                                 r"\(position 2\)"):
            fair_spread([0.5, 1.0], 1.0, exact=True)

    @pytest.mark.parametrize(("args", "message"), [
        ((1.2, 0.5), "pd_annual must be between 0 and 1, got 1.2"),
        ((0.1, -0.5), "lgd must be between 0 and 1, got -0.5"),
    ])
    def test_bad_arguments(self, args, message):
        with pytest.raises(GpuCreditError, match=message):
            fair_spread(*args)


class TestExpectedLoss:
    def test_by_hand(self):
        # 2.93% x 45% x $100m = $1,318,500.
        assert expected_loss(0.0293, 0.45, 100e6) == pytest.approx(1_318_500.0, rel=1e-12)
        # Default exposure of 1 gives the loss rate: 10% x 40% = 4%.
        assert expected_loss(0.10, 0.40) == pytest.approx(0.04, rel=1e-14)

    def test_loss_rate_equals_approximate_fair_spread(self):
        assert expected_loss(0.03, 0.55) == fair_spread(0.03, 0.55)

    def test_tables_broadcast(self):
        pd_path = np.array([[0.01, 0.02, 0.03], [0.05, 0.10, 0.15]])
        lgd = np.array([0.4, 0.6])[:, None]
        ead = np.array([100.0, 90.0, 80.0])
        np.testing.assert_allclose(expected_loss(pd_path, lgd, ead),
                                   [[0.4, 0.72, 0.96], [3.0, 5.4, 7.2]])

    @pytest.mark.parametrize(("args", "message"), [
        ((-0.1, 0.5), "pd must be between 0 and 1, got -0.1"),
        ((0.1, 1.5), "lgd must be between 0 and 1, got 1.5"),
        ((0.1, 0.5, -5.0), "ead must be >= 0, got -5"),
    ])
    def test_bad_arguments(self, args, message):
        with pytest.raises(GpuCreditError, match=message):
            expected_loss(*args)


class TestMispricingBp:
    def test_by_hand(self):
        # (6.00% - 1.20%) x 10,000 = 480bp; (1.0% - 2.5%) x 10,000 = -150bp.
        assert mispricing_bp(0.06, 0.012) == pytest.approx(480.0, rel=1e-12)
        np.testing.assert_allclose(mispricing_bp([0.06, 0.01], [0.012, 0.025]), [480.0, -150.0])

    def test_against_merton_fair_spread(self):
        # Hull's firm: the Merton spread is -ln(9.395387 / 9.512294) = 0.012367 (123.7bp);
        # a quoted 600bp is 476.3bp rich.
        fair = merton_solve(3.0, 0.80, 10.0, 0.05, 1.0).spread
        assert round(mispricing_bp(0.06, fair), 1) == 476.3

    def test_bad_arguments(self):
        with pytest.raises(GpuCreditError, match="quoted_spread must be a finite number"):
            mispricing_bp(float("nan"), 0.01)
        with pytest.raises(GpuCreditError, match="fair_spread must be a number"):
            mispricing_bp(0.05, "wide")


# --------------------------------------------------------------------------- rating buckets

# S&P Global Ratings, "Default, Transition, and Recovery: 2024 Annual Global Corporate
# Default And Rating Transition Study": global corporate average one-year default rates by
# rating category, 1981-2024, in percent as printed.
SP_2024_PERCENT = {"AAA": 0.00, "AA": 0.02, "A": 0.05, "BBB": 0.14, "BB": 0.56, "B": 2.93,
                   "CCC/C": 26.12}


class TestDefaultRateTable:
    def test_default_rates_are_the_published_figures(self):
        table = default_rate_table()
        assert list(table.index) == list(SP_2024_PERCENT)
        np.testing.assert_allclose(table["Default rate"], np.array([*SP_2024_PERCENT.values()])
                                   / 100, rtol=0, atol=1e-15)
        assert dict(SP_GLOBAL_ONE_YEAR_DEFAULT_RATES) == pytest.approx(
            {k: v / 100 for k, v in SP_2024_PERCENT.items()})

    def test_edges_are_geometric_midpoints(self):
        t = default_rate_table()
        # AAA/AA: sqrt(0.00005 x 0.0002) = sqrt(1e-8) = 0.0001 (zero replaced by 0.005%);
        # BBB/BB: sqrt(0.0014 x 0.0056) = sqrt(7.84e-6) = 0.0028;
        # BB/B: sqrt(0.0056 x 0.0293) = sqrt(1.6408e-4) = 0.012809.
        assert t.loc["AAA", "PD to"] == pytest.approx(0.0001)
        assert t.loc["BBB", "PD to"] == pytest.approx(0.0028)
        assert round(t.loc["BB", "PD to"], 6) == 0.012809
        assert t.loc["AAA", "PD from"] == 0.0 and t.loc["CCC/C", "PD to"] == 1.0
        np.testing.assert_array_equal(t["PD from"].to_numpy()[1:], t["PD to"].to_numpy()[:-1])
        assert isinstance(t, pd.DataFrame) and t.index.name == "Rating"

    def test_custom_table_and_zero_rate(self):
        t = default_rate_table({"IG": 0.0, "HY": 0.04}, zero_rate=0.0001)
        # sqrt(0.0001 x 0.04) = sqrt(4e-6) = 0.002
        assert t.loc["IG", "PD to"] == pytest.approx(0.002)

    @pytest.mark.parametrize(("rates", "message"), [
        ({"A": 0.01}, "default_rates must map at least two ratings"),
        ({"A": 0.02, "B": 0.01}, "default_rates must increase strictly"),
        ({"AAA": 0.0, "AA": 0.0}, "default_rates must increase strictly"),
        ({"A": 0.01, "B": 1.5}, r"default_rates must be between 0 and 1, got 1.5 \(position 2\)"),
    ])
    def test_bad_tables(self, rates, message):
        with pytest.raises(GpuCreditError, match=message):
            default_rate_table(rates)

    def test_bad_zero_rate(self):
        with pytest.raises(GpuCreditError, match="zero_rate must be > 0 and < 1, got 0"):
            default_rate_table(zero_rate=0.0)


class TestRatingBucket:
    def test_each_rating_default_rate_lands_in_its_own_bucket(self):
        for rating, pct in SP_2024_PERCENT.items():
            assert rating_bucket(pct / 100) == rating

    def test_by_hand_around_the_edges(self):
        # BBB/BB edge at 0.28%, B/CCC edge at sqrt(0.0293 x 0.2612) = 8.748%.
        assert rating_bucket(0.00279) == "BBB" and rating_bucket(0.00281) == "BB"
        assert rating_bucket(0.0874) == "B" and rating_bucket(0.0875) == "CCC/C"
        assert rating_bucket(1.0) == "CCC/C" and rating_bucket(0.0) == "AAA"

    def test_hull_firm_is_ccc(self):
        assert rating_bucket(merton_solve(3.0, 0.80, 10.0, 0.05, 1.0).pd) == "CCC/C"

    def test_shapes_and_missing_values(self):
        assert type(rating_bucket(0.01)) is str
        out = rating_bucket([[0.0001, float("nan")], [0.02, 0.5]])
        assert out.shape == (2, 2) and out.dtype == object
        assert out.tolist() == [["AA", None], ["B", "CCC/C"]]

    @PROPS
    @given(st.lists(probabilities, min_size=2, max_size=30))
    def test_monotone_in_pd(self, pds):
        order = list(SP_2024_PERCENT)
        pds = np.sort(pds)
        ranks = [order.index(b) for b in rating_bucket(pds)]
        assert ranks == sorted(ranks)

    @PROPS
    @given(probabilities)
    def test_agrees_with_the_table(self, p):
        t = default_rate_table()
        (row,) = t.index[(t["PD from"] <= p) & ((p < t["PD to"]) | (t["PD to"] == 1.0))]
        assert rating_bucket(p) == row

    @pytest.mark.parametrize(("value", "message"), [
        (1.2, "pd_annual must be between 0 and 1, got 1.2"),
        ([0.1, -0.01], r"pd_annual must be between 0 and 1, got -0.01 \(position 2\)"),
        (float("inf"), "pd_annual must be a finite number, got inf"),
        ("high", "pd_annual must be a number or an array of numbers"),
    ])
    def test_bad_arguments(self, value, message):
        with pytest.raises(GpuCreditError, match=message):
            rating_bucket(value)
