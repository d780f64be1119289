"""Tests for gpucredit.calibration.

Oracles: synthetic data generated here with ``math`` expressions written independently
of gpucredit.curves (the fit must recover the parameters); scipy.optimize.curve_fit and
scipy.stats.linregress as independent fitters; docs/sources.md's practitioner resale curve
(its fit: lambda about 0.46, floor about 3%) and its observed H100 rents.
"""

from __future__ import annotations

import datetime as dt
import math
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.optimize import curve_fit
from scipy.stats import linregress
from tests.strategies import fractions, positive

from gpucredit.calibration import FitResult, RentTrendFit, fit_curve, fit_jump, fit_rent_trend
from gpucredit.errors import GpuCreditError

AGES = np.linspace(0.25, 8.0, 32)

# Independent expressions of each family (the module's own forms are not reused).
EXPR = {
    "straight_line": lambda a, life, salvage: max(salvage, 1 - (1 - salvage) * a / life),
    "declining_balance": lambda a, rate: (1 - rate) ** a,
    "exponential_floor": lambda a, lam, floor: floor + (1 - floor) * math.exp(-lam * a),
    "logistic": lambda a, hold_years, steepness, floor: floor + (1 - floor)
    * (1 + math.exp(-steepness * hold_years)) / (1 + math.exp(steepness * (a - hold_years))),
}


def _synth(family, params, ages=AGES, steps=(), jump=0.0):
    return np.array([EXPR[family](a, **params) * (1 - jump) ** sum(0 < s <= a for s in steps)
                     for a in ages])


# Practitioner resale curve, docs/sources.md: midpoints of 60-65%, 40-45%, 25-35%, 15-20%, 10-15%
PRACTITIONER_AGES = [1, 2, 3, 4, 5]
PRACTITIONER_VALUES = [0.625, 0.425, 0.30, 0.175, 0.125]


class TestFitCurve:
    def test_practitioner_curve_gives_domain_fit(self):
        res = fit_curve(PRACTITIONER_AGES, PRACTITIONER_VALUES, "exponential_floor")
        assert res.params["lam"] == pytest.approx(0.46, abs=0.03)
        assert 0.0 <= res.params["floor"] <= 0.08
        assert res.rmse < 0.03 and res.r_squared > 0.97 and res.n_points == 5

    def test_practitioner_curve_matches_scipy_curve_fit(self):
        popt, _ = curve_fit(lambda a, lam, f: f + (1 - f) * np.exp(-lam * a),
                            np.array(PRACTITIONER_AGES, float), PRACTITIONER_VALUES,
                            p0=[0.5, 0.05], bounds=([0, 0], [np.inf, 1]))
        res = fit_curve(PRACTITIONER_AGES, PRACTITIONER_VALUES)
        assert res.params["lam"] == pytest.approx(popt[0], rel=1e-4)
        assert res.params["floor"] == pytest.approx(popt[1], abs=1e-5)

    @pytest.mark.parametrize(("family", "params"), [
        ("straight_line", {"life": 4.5, "salvage": 0.15}),
        ("declining_balance", {"rate": 0.35}),
        ("exponential_floor", {"lam": 0.7, "floor": 0.1}),
        ("logistic", {"hold_years": 2.5, "steepness": 1.7, "floor": 0.08}),
    ])
    def test_recovers_known_parameters(self, family, params):
        res = fit_curve(AGES, _synth(family, params), family)
        assert isinstance(res, FitResult) and res.family == family
        for k, v in params.items():
            assert res.params[k] == pytest.approx(v, rel=1e-5, abs=1e-7)
        assert res.rmse < 1e-8

    def test_rmse_and_r_squared_by_hand(self):
        # fit a declining balance to points off the curve; recompute the statistics
        ages, values = [1.0, 2.0, 3.0], [0.75, 0.45, 0.35]
        res = fit_curve(ages, values, "declining_balance")
        fitted = [(1 - res.params["rate"]) ** a for a in ages]
        resid = [f - v for f, v in zip(fitted, values, strict=True)]
        mean = sum(values) / 3
        assert res.rmse == pytest.approx(math.sqrt(sum(r * r for r in resid) / 3))
        sst = sum((v - mean) ** 2 for v in values)
        assert res.r_squared == pytest.approx(1 - sum(r * r for r in resid) / sst)

    def test_fixed_floor_zero_is_declining_balance(self):
        # V = e^{-lam a} with the floor fixed at 0: lam = -ln(1 - 0.3)
        values = [0.7 ** a for a in AGES]
        res = fit_curve(AGES, values, "exponential_floor", fixed={"floor": 0.0})
        assert res.params == pytest.approx({"lam": -math.log(0.7), "floor": 0.0})

    def test_fixed_half_life_leaves_jump(self):
        values = _synth("declining_balance", {"rate": 1 - 0.5 ** 0.5}, steps=[2.0], jump=0.2)
        res = fit_curve(AGES, values, "declining_balance", fixed={"half_life": 2.0},
                        step_ages=[2.0])
        assert list(res.params) == ["half_life", "jump"]
        assert res.params["jump"] == pytest.approx(0.2)

    def test_fits_jump_with_curve(self):
        values = _synth("exponential_floor", {"lam": 0.3, "floor": 0.05}, steps=[1.5, 3.2],
                        jump=0.22)
        res = fit_curve(AGES, values, "exponential_floor", step_ages=[1.5, 3.2])
        assert res.params == pytest.approx({"lam": 0.3, "floor": 0.05, "jump": 0.22})
        assert res.step_ages == (1.5, 3.2)
        np.testing.assert_allclose(res.predict(AGES), values, atol=1e-9)

    def test_fit_only_some(self):
        values = _synth("logistic", {"hold_years": 2.0, "steepness": 3.0, "floor": 0.1})
        res = fit_curve(AGES, values, "logistic", fit=["hold_years", "floor"],
                        fixed={"steepness": 3.0})
        assert res.params == pytest.approx({"steepness": 3.0, "hold_years": 2.0, "floor": 0.1})

    def test_initial(self):
        values = _synth("straight_line", {"life": 3.0, "salvage": 0.2})
        res = fit_curve(AGES, values, "straight_line", initial={"life": 2.0})
        assert res.params == pytest.approx({"life": 3.0, "salvage": 0.2})

    def test_attrition_held_fixed(self):
        values = [0.9 ** a * 0.8 ** a for a in AGES]
        res = fit_curve(AGES, values, "declining_balance", attrition_rate=0.1)
        assert res.params["rate"] == pytest.approx(0.2)
        np.testing.assert_allclose(res.predict(AGES), values)

    def test_predict_portfolio_shape(self):
        res = fit_curve(PRACTITIONER_AGES, PRACTITIONER_VALUES)
        assert res.predict(np.ones((3, 4))).shape == (3, 4)
        assert isinstance(res.predict(1.0), float)


class TestFitJump:
    def test_straight_line_with_step(self):
        # 6-year straight line to 0, one 30% step at age 2, written out by hand
        ages = [1, 2, 3, 4]
        values = [5 / 6, 0.7 * 4 / 6, 0.7 * 3 / 6, 0.7 * 2 / 6]
        res = fit_jump(ages, values, [2.0], family="straight_line", life=6.0)
        assert res.params == pytest.approx({"life": 6.0, "jump": 0.3})

    def test_noisy_jump_close(self):
        rng = np.random.default_rng(5)
        values = _synth("exponential_floor", {"lam": 0.46, "floor": 0.03}, steps=[2.0, 4.0],
                        jump=0.25) * np.exp(rng.normal(0, 0.02, AGES.size))
        res = fit_jump(AGES, values, [2.0, 4.0])  # curve at the documented defaults
        assert res.params["jump"] == pytest.approx(0.25, abs=0.03)
        assert list(res.params) == ["jump"]


@settings(max_examples=40, deadline=None)
@given(lam=fractions(0.05, 2.0), floor=fractions(0.0, 0.5), jump=fractions(0.0, 0.6),
       step=fractions(0.5, 6.0))
def test_recovers_exponential_floor_with_step(lam, floor, jump, step):
    # J is identified only if value is left to lose at the step (e.g. lam 2, floor 0 and a
    # step at age 4 leave 0.03% of cost: any J fits the points equally well).
    assume(floor + (1 - floor) * np.exp(-lam * step) > 0.05)
    values = _synth("exponential_floor", {"lam": lam, "floor": floor}, steps=[step], jump=jump)
    res = fit_curve(AGES, values, "exponential_floor", step_ages=[step])
    np.testing.assert_allclose(res.predict(AGES), values, atol=1e-6)
    assert res.params["jump"] == pytest.approx(jump, abs=1e-4)


@settings(max_examples=40, deadline=None)
@given(life=positive(1.0, 7.0), salvage=fractions(0.0, 0.5))
def test_recovers_straight_line(life, salvage):
    res = fit_curve(AGES, _synth("straight_line", {"life": life, "salvage": salvage}),
                    "straight_line")
    assert res.params == pytest.approx({"life": life, "salvage": salvage}, rel=1e-4, abs=1e-6)


@settings(max_examples=25, deadline=None)
@given(hold=fractions(0.5, 4.0), k=fractions(0.7, 4.0), floor=fractions(0.0, 0.3))
def test_recovers_logistic(hold, k, floor):
    values = _synth("logistic", {"hold_years": hold, "steepness": k, "floor": floor})
    res = fit_curve(AGES, values, "logistic")
    np.testing.assert_allclose(res.predict(AGES), values, atol=1e-6)


class TestFitCurveErrors:
    def test_too_few_points(self):
        with pytest.raises(GpuCreditError) as err:
            fit_curve([1.0, 2.0], [0.6, 0.4], "exponential_floor")
        assert str(err.value) == ("fit_curve needs more points than fitted parameters: "
                                  "2 parameters (lam, floor) but 2 points")

    def test_mismatched_lengths(self):
        with pytest.raises(GpuCreditError) as err:
            fit_curve([1.0, 2.0, 3.0], [0.6, 0.4])
        assert str(err.value) == "ages has 3 points but values has 2: give one value per age"

    def test_negative_age(self):
        with pytest.raises(GpuCreditError, match=re.escape("ages must be >= 0, got -1 "
                                                           "(position 1)")):
            fit_curve([-1.0, 2.0, 3.0], [0.6, 0.4, 0.3])

    def test_nan_value(self):
        with pytest.raises(GpuCreditError, match="values must be a finite number, got nan"):
            fit_curve([1.0, 2.0, 3.0], [0.6, np.nan, 0.3])

    def test_unknown_family(self):
        with pytest.raises(GpuCreditError, match="family must be one of"):
            fit_curve([1, 2, 3], [0.6, 0.4, 0.3], "gompertz")

    def test_fixed_unknown(self):
        with pytest.raises(GpuCreditError) as err:
            fit_curve([1, 2, 3], [0.6, 0.4, 0.3], fixed={"life": 4.0})
        assert str(err.value) == ("fixed names life, which the exponential_floor curve does "
                                  "not take; it takes floor, lam")

    def test_fit_and_fixed_overlap(self):
        with pytest.raises(GpuCreditError, match="fit names floor, which is also fixed"):
            fit_curve([1, 2, 3], [0.6, 0.4, 0.3], fit=["floor"], fixed={"floor": 0.0})

    def test_jump_without_steps(self):
        with pytest.raises(GpuCreditError, match="fit names jump, which cannot be fitted"):
            fit_curve([1, 2, 3], [0.6, 0.4, 0.3], fit=["jump"])

    def test_nothing_to_fit(self):
        with pytest.raises(GpuCreditError, match="nothing to fit"):
            fit_curve([1, 2, 3], [0.6, 0.4, 0.3], "declining_balance", fixed={"rate": 0.3})

    def test_per_facility_steps_refused(self):
        with pytest.raises(GpuCreditError, match=re.escape("step_ages must be one list")):
            fit_curve([1, 2, 3], [0.6, 0.4, 0.3], step_ages=[[1.0], [2.0]])


# Observed H100 rents, docs/sources.md (SemiAnalysis and trade press); the dates are our
# reading of "launch", "2023 peak", "early 2024", "Oct 2024", "Oct 2025", "Mar 2026",
# "mid-2026" (spot).
H100_DATES = ["2023-03-01", "2023-08-01", "2024-02-01", "2024-10-15", "2025-10-15",
              "2026-03-15", "2026-06-15"]
H100_RENTS = [4.70, 8.00, 2.85, 2.99, 1.70, 2.35, 2.42]


class TestFitRentTrend:
    def test_exact_trend(self):
        # 30% a year from $4: 4, 2.8, 1.96, 1.372
        res = fit_rent_trend([0, 1, 2, 3], [4.0, 2.8, 1.96, 1.372])
        assert isinstance(res, RentTrendFit)
        assert res.deflation == pytest.approx(0.3)
        assert res.rent0 == pytest.approx(4.0)
        assert res.log_rmse == pytest.approx(0.0, abs=1e-12)
        assert res.deflation_se == pytest.approx(0.0, abs=1e-9)

    def test_matches_linregress(self):
        years = np.array([0.0, 0.4, 1.1, 1.9, 2.5, 3.2])
        rents = np.array([4.7, 5.5, 2.9, 3.0, 1.7, 2.4])
        ref = linregress(years, np.log(rents))
        res = fit_rent_trend(years, rents)
        assert res.deflation == pytest.approx(1 - math.exp(ref.slope))
        assert res.deflation_se == pytest.approx(math.exp(ref.slope) * ref.stderr)
        assert res.rent0 == pytest.approx(math.exp(ref.intercept))
        assert res.r_squared == pytest.approx(ref.rvalue ** 2)
        resid = np.log(rents) - (ref.intercept + ref.slope * years)
        assert res.log_rmse == pytest.approx(math.sqrt(np.mean(resid ** 2)))

    def test_domain_h100_rents(self):
        # docs/sources.md: inference cost and rents fall 20-40% a year; Epoch AI's $/FLOP
        # 21-28%. The V-shaped history should land in a plausible band around those.
        res = fit_rent_trend(H100_DATES, H100_RENTS)
        assert 0.15 <= res.deflation <= 0.40
        assert res.deflation_se < res.deflation
        assert res.origin == pd.Timestamp("2023-03-01") and res.n_points == 7

    @pytest.mark.parametrize("convert", [
        lambda s: s,
        lambda s: [dt.date.fromisoformat(x) for x in s],
        lambda s: np.array(s, dtype="datetime64[D]"),
        lambda s: pd.to_datetime(s),
        lambda s: [pd.Timestamp(x) for x in s],
    ])
    def test_date_types_agree(self, convert):
        ref = fit_rent_trend(H100_DATES, H100_RENTS)
        res = fit_rent_trend(convert(H100_DATES), H100_RENTS)
        assert res.deflation == pytest.approx(ref.deflation)
        assert res.rent0 == pytest.approx(ref.rent0)

    def test_dates_equal_years(self):
        # dates one Julian year apart give the same fit as years 0, 1, 2
        days = [0, 365.25, 730.5]
        dates = [np.datetime64("2024-01-01T00:00") + np.timedelta64(int(d * 24 * 60), "m")
                 for d in days]
        a = fit_rent_trend(dates, [3.0, 2.5, 1.5])
        b = fit_rent_trend([0.0, 1.0, 2.0], [3.0, 2.5, 1.5])
        assert a.deflation == pytest.approx(b.deflation)
        assert a.rent0 == pytest.approx(b.rent0)

    def test_origin_moves_rent0_only(self):
        a = fit_rent_trend(H100_DATES, H100_RENTS)
        b = fit_rent_trend(H100_DATES, H100_RENTS, origin="2026-06-15")
        assert b.deflation == pytest.approx(a.deflation)
        years = (dt.date(2026, 6, 15) - dt.date(2023, 3, 1)).days / 365.25
        assert b.rent0 == pytest.approx(a.rent0 * (1 - a.deflation) ** years)
        assert b.predict("2026-06-15") == pytest.approx(b.rent0)
        assert a.predict(["2026-06-15"])[0] == pytest.approx(b.rent0)

    def test_predict_years(self):
        res = fit_rent_trend([0, 1, 2], [4.0, 3.0, 2.25])
        assert res.predict(3.0) == pytest.approx(2.25 * 0.75)

    def test_non_positive_rent(self):
        with pytest.raises(GpuCreditError) as err:
            fit_rent_trend([0, 1, 2], [2.0, -1.0, 1.0])
        assert str(err.value) == "rents must be > 0, got -1 (position 2)"

    def test_mismatched_lengths(self):
        with pytest.raises(GpuCreditError) as err:
            fit_rent_trend([0, 1, 2, 3], [2.0, 1.5, 1.0])
        assert str(err.value) == "times has 4 points but rents has 3: give one rent per time"

    def test_too_few(self):
        with pytest.raises(GpuCreditError) as err:
            fit_rent_trend(["2024-01-01", "2025-01-01"], [2.0, 1.5])
        assert str(err.value) == ("fit_rent_trend needs at least 3 rents to fit a trend and "
                                  "its error, got 2")

    def test_same_times(self):
        with pytest.raises(GpuCreditError, match="times must not all be the same"):
            fit_rent_trend([1, 1, 1], [2.0, 1.5, 1.0])

    def test_numbers_mixed_with_dates(self):
        with pytest.raises(GpuCreditError, match="times must be dates"):
            fit_rent_trend(["2024-01-01", 2025, "2026-01-01"], [2.0, 1.5, 1.0])

    def test_missing_date(self):
        with pytest.raises(GpuCreditError, match="times must all be dates"):
            fit_rent_trend(["2024-01-01", None, "2026-01-01"], [2.0, 1.5, 1.0])

    def test_numeric_origin_with_dates(self):
        with pytest.raises(GpuCreditError, match="origin must be a date"):
            fit_rent_trend(H100_DATES, H100_RENTS, origin=0.0)


@settings(max_examples=60, deadline=None)
@given(d=fractions(-0.3, 0.9), rent0=positive(0.5, 10.0), n=st.integers(3, 12),
       spacing=fractions(0.1, 1.0))
def test_rent_trend_recovers_deflation(d, rent0, n, spacing):
    years = [i * spacing for i in range(n)]
    rents = [rent0 * (1 - d) ** y for y in years]
    res = fit_rent_trend(years, rents)
    assert res.deflation == pytest.approx(d, abs=1e-9)
    assert res.rent0 == pytest.approx(rent0, rel=1e-9)
