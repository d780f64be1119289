"""Tests for gpucredit.curves.

Oracles: hand-worked values (arithmetic in the test), closed forms written here with
``math`` (not the module's expressions), docs/sources.md's half-lives found by a root search
with scipy, and hypothesis properties: every curve lies in [0, 1] and never rises with
age, with and without generation steps and attrition.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq
from tests.strategies import (
    CURVE_PARAMS,
    age_grids,
    curve_family_params,
    fractions,
    step_age_lists,
)

from gpucredit.curves import (
    FAMILIES,
    attrition,
    declining_balance,
    exponential_floor,
    family_parameters,
    generation_steps,
    logistic,
    residual_value,
    step_ages_from_dates,
    straight_line,
)
from gpucredit.errors import GpuCreditError
from gpucredit.periods import ages as period_ages

FUNCS = {"straight_line": straight_line, "declining_balance": declining_balance,
         "exponential_floor": exponential_floor, "logistic": logistic}


class TestStraightLine:
    def test_hand_example(self):
        # life 5, salvage 10%: loses 90% / 5 = 18% of cost a year
        assert straight_line(2.0, life=5.0, salvage=0.1) == pytest.approx(1 - 0.18 * 2)
        assert straight_line(5.0, life=5.0, salvage=0.1) == pytest.approx(0.1)
        assert straight_line(7.0, life=5.0, salvage=0.1) == pytest.approx(0.1)

    def test_default_is_six_year_life_to_zero(self):
        assert straight_line(1.5) == pytest.approx(1 - 1.5 / 6)
        assert straight_line(6.0) == 0.0

    def test_scalar_in_float_out(self):
        assert type(straight_line(1.0)) is float

    def test_portfolio_shapes(self):
        # two facilities, quarterly grid over two years, ages 0.5 and 2 at the start
        age = period_ages(8, 4, age0=[0.5, 2.0])
        got = straight_line(age, life=[4.0, 3.0], salvage=[0.0, 0.25])
        assert got.shape == (2, 8)
        for f, (life, s) in enumerate([(4.0, 0.0), (3.0, 0.25)]):
            for t in range(8):
                a = age[f, t]
                assert got[f, t] == pytest.approx(max(s, 1 - (1 - s) * a / life))

    def test_shared_grid_with_facility_params(self):
        got = straight_line(np.array([0.0, 1.0, 2.0]), life=[2.0, 4.0])
        np.testing.assert_allclose(got, [[1.0, 0.5, 0.0], [1.0, 0.75, 0.5]])

    def test_scalar_age_with_facility_params(self):
        np.testing.assert_allclose(straight_line(1.0, life=[2.0, 4.0]), [0.5, 0.75])

    @pytest.mark.parametrize(("kwargs", "message"), [
        ({"life": 0.0}, "life must be > 0, got 0"),
        ({"salvage": 1.5}, "salvage must be between 0 and 1, got 1.5"),
        ({"life": [5.0, -1.0]}, "life must be > 0, got -1 (position 2)"),
    ])
    def test_bad_parameters(self, kwargs, message):
        with pytest.raises(GpuCreditError) as err:
            straight_line(1.0, **kwargs)
        assert str(err.value) == message

    def test_negative_age(self):
        with pytest.raises(GpuCreditError, match=r"age must be >= 0, got -1 \(position 2\)"):
            straight_line([1.0, -1.0])

    def test_facilities_that_do_not_line_up(self):
        with pytest.raises(GpuCreditError, match="does not line up"):
            straight_line(np.ones((3, 4)), life=[4.0, 5.0])


class TestDecliningBalance:
    @pytest.mark.parametrize(("rate", "half_life"), [(0.20, 3.1), (0.30, 1.9), (0.40, 1.4)])
    def test_domain_half_lives(self, rate, half_life):
        # docs/sources.md: d = 20/30/40% a year gives half-lives of 3.1, 1.9, 1.4 years.
        # Find where the curve crosses one half by root search, not by formula.
        age_half = brentq(lambda a: declining_balance(a, rate=rate) - 0.5, 0.0, 50.0)
        assert round(age_half, 1) == half_life
        # and the closed form ln 2 / -ln(1 - d)
        assert age_half == pytest.approx(math.log(2) / -math.log(1 - rate))

    def test_rate_is_lost_each_whole_year(self):
        # 30% a year: 0.7, 0.49, 0.343
        got = declining_balance([1.0, 2.0, 3.0], rate=0.3)
        np.testing.assert_allclose(got, [0.7, 0.49, 0.343])

    def test_half_life_form(self):
        a = np.array([0.0, 1.0, 2.5, 5.0])
        np.testing.assert_allclose(declining_balance(a, half_life=2.5),
                                   [1.0, 0.5 ** 0.4, 0.5, 0.25])

    def test_default_rate_is_thirty_percent(self):
        assert declining_balance(1.0) == pytest.approx(0.7)

    def test_zero_rate_holds_value(self):
        np.testing.assert_array_equal(declining_balance([0.0, 10.0], rate=0.0), [1.0, 1.0])

    def test_both_forms_refused(self):
        with pytest.raises(GpuCreditError, match="takes rate or half_life, not both"):
            declining_balance(1.0, rate=0.2, half_life=3.0)

    @pytest.mark.parametrize(("kwargs", "message"), [
        ({"rate": 1.0}, "rate must be >= 0 and < 1, got 1"),
        ({"rate": -0.1}, "rate must be >= 0 and < 1, got -0.1"),
        ({"half_life": 0.0}, "half_life must be > 0, got 0"),
    ])
    def test_bad_parameters(self, kwargs, message):
        with pytest.raises(GpuCreditError) as err:
            declining_balance(1.0, **kwargs)
        assert str(err.value) == message


class TestExponentialFloor:
    def test_closed_form(self):
        for a in (0.0, 0.5, 1.0, 3.0, 7.0):
            expected = 0.1 + 0.9 * math.exp(-0.5 * a)
            assert exponential_floor(a, lam=0.5, floor=0.1) == pytest.approx(expected)

    def test_domain_defaults_track_practitioner_curve(self):
        # docs/sources.md's fit (lambda 0.46, floor 3%) against its own bands, year by year.
        bands = {1: (0.60, 0.65), 2: (0.40, 0.45), 3: (0.25, 0.35), 4: (0.15, 0.20),
                 5: (0.10, 0.15)}
        for year, (low, high) in bands.items():
            assert low - 0.03 <= exponential_floor(float(year)) <= high + 0.03

    def test_new_is_worth_cost_exactly(self):
        assert exponential_floor(0.0, lam=0.9, floor=0.37) == 1.0

    def test_tends_to_floor(self):
        assert exponential_floor(200.0, lam=0.46, floor=0.03) == pytest.approx(0.03)

    def test_bad_floor(self):
        with pytest.raises(GpuCreditError, match=r"floor must be between 0 and 1, got -0.2"):
            exponential_floor(1.0, floor=-0.2)


class TestLogistic:
    def test_new_is_worth_cost_exactly(self):
        assert logistic(0.0, hold_years=3.0, steepness=1.3, floor=0.2) == 1.0

    def test_value_at_hold_years(self):
        # at a = h: F + (1 - F)(1 + e^-kh) / 2 ; h = 2, k = 1.5, F = 0.1
        expected = 0.1 + 0.9 * (1 + math.exp(-3.0)) / 2
        assert logistic(2.0, hold_years=2.0, steepness=1.5, floor=0.1) == pytest.approx(expected)

    def test_closed_form(self):
        h, k, f = 1.5, 3.0, 0.05
        for a in (0.3, 1.0, 2.2, 4.0):
            expected = f + (1 - f) * (1 + math.exp(-k * h)) / (1 + math.exp(k * (a - h)))
            assert logistic(a, hold_years=h, steepness=k, floor=f) == pytest.approx(expected)

    def test_holds_then_falls(self):
        v = logistic(np.array([0.5, 1.0, 3.0, 4.0]))  # defaults: h = 2, k = 2
        assert v[0] > 0.95 and v[1] > 0.85 and v[2] < 0.15 and v[3] < 0.02

    def test_no_overflow_for_old_steep_curves(self):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            v = logistic(np.array([0.0, 500.0]), hold_years=1.0, steepness=50.0, floor=0.04)
        np.testing.assert_allclose(v, [1.0, 0.04])

    def test_flat_when_not_steep(self):
        np.testing.assert_array_equal(logistic([0.0, 3.0, 9.0], steepness=0.0), [1, 1, 1])


class TestGenerationSteps:
    def test_hand_example(self):
        # J = 25%: after one step 0.75, after two 0.5625; a step applies from its age on
        got = generation_steps([0.0, 0.99, 1.0, 2.0, 3.5], step_ages=[1.0, 3.0])
        np.testing.assert_allclose(got, [1.0, 1.0, 0.75, 0.75, 0.5625])

    def test_steps_already_passed_at_purchase_are_ignored(self):
        assert generation_steps(2.0, step_ages=[-1.0, 0.0, 1.5], jump=0.2) == pytest.approx(0.8)

    def test_per_facility_steps_with_nan_padding(self):
        steps = [[1.0, 2.0, 3.0], [0.5, np.nan, np.nan], [np.nan, np.nan, np.nan]]
        got = generation_steps(np.array([0.0, 1.0, 2.5]), steps, jump=[0.1, 0.5, 0.3])
        expected = [[1.0, 0.9, 0.81], [1.0, 0.5, 0.5], [1.0, 1.0, 1.0]]
        np.testing.assert_allclose(got, expected)

    def test_per_facility_steps_with_facility_ages(self):
        age = period_ages(2, 1, age0=[0.0, 1.0])  # [[1, 2], [2, 3]]
        got = generation_steps(age, [[1.5], [2.5]], jump=0.2)
        np.testing.assert_allclose(got, [[1.0, 0.8], [1.0, 0.8]])

    def test_scalar_age_per_facility_steps(self):
        np.testing.assert_allclose(generation_steps(2.0, [[1.0], [3.0]], jump=0.4), [0.6, 1.0])

    def test_single_step_as_scalar(self):
        assert generation_steps(2.0, 1.0, jump=0.3) == pytest.approx(0.7)

    def test_no_steps(self):
        assert generation_steps(5.0, []) == 1.0

    def test_infinite_step_refused(self):
        with pytest.raises(GpuCreditError, match="step_ages must be finite numbers or NaN"):
            generation_steps(1.0, [1.0, np.inf])

    def test_three_dimensional_steps_refused(self):
        with pytest.raises(GpuCreditError, match=r"got an array of shape \(1, 1, 1\)"):
            generation_steps(1.0, np.ones((1, 1, 1)))

    def test_rows_must_match_facilities(self):
        with pytest.raises(GpuCreditError, match="step ages have 3 facility rows"):
            generation_steps(np.ones((2, 4)), np.ones((3, 1)))

    def test_bad_jump(self):
        msg = "jump must be between 0 and 1, got 1.5"
        with pytest.raises(GpuCreditError, match=re.escape(msg)):
            generation_steps(1.0, [0.5], jump=1.5)


class TestStepAgesFromDates:
    def test_leap_year(self):
        # 2024 is a leap year: 366 days / 365.25
        got = step_ages_from_dates(dt.date(2024, 1, 1), [dt.date(2025, 1, 1)])
        np.testing.assert_allclose(got, [366 / 365.25])

    @pytest.mark.parametrize("delivery", [
        "2023-06-30", dt.date(2023, 6, 30), np.datetime64("2023-06-30"),
        pd.Timestamp("2023-06-30"), dt.datetime(2023, 6, 30)])
    def test_date_types(self, delivery):
        succ = [pd.Timestamp("2025-03-01"), "2026-10-01"]
        days = [(dt.date(2025, 3, 1) - dt.date(2023, 6, 30)).days,
                (dt.date(2026, 10, 1) - dt.date(2023, 6, 30)).days]
        np.testing.assert_allclose(step_ages_from_dates(delivery, succ),
                                   np.array(days) / 365.25)

    def test_per_facility_and_missing(self):
        got = step_ages_from_dates(["2024-01-01", "2026-01-01"],
                                   [["2025-01-01", None], ["2025-01-01", "2027-01-01"]])
        assert got.shape == (2, 2)
        assert got[0, 0] == pytest.approx(366 / 365.25)
        assert np.isnan(got[0, 1])
        assert got[1, 0] == pytest.approx(-365 / 365.25)
        assert got[1, 1] == pytest.approx(365 / 365.25)

    def test_feeds_generation_steps(self):
        steps = step_ages_from_dates("2024-01-01", ["2023-01-01", "2025-06-01"])
        # the 2023 successor predates delivery and is ignored; at age 2 one step has passed
        assert generation_steps(2.0, steps, jump=0.3) == pytest.approx(0.7)

    def test_numbers_refused(self):
        with pytest.raises(GpuCreditError, match="successor_dates must be dates"):
            step_ages_from_dates("2024-01-01", [2025.5])

    def test_bad_string_refused(self):
        with pytest.raises(GpuCreditError, match="delivery_date must be dates"):
            step_ages_from_dates("next spring", ["2025-01-01"])

    def test_missing_delivery_refused(self):
        with pytest.raises(GpuCreditError, match="delivery_date must be a date, got None"):
            step_ages_from_dates(None, ["2025-01-01"])


class TestAttrition:
    def test_closed_form(self):
        assert attrition(2.5, rate=0.09) == pytest.approx(0.91 ** 2.5)

    def test_default_nine_percent(self):
        assert attrition(1.0) == pytest.approx(0.91)

    def test_bad_rate(self):
        msg = "rate must be between 0 and 1, got 1.2"
        with pytest.raises(GpuCreditError, match=re.escape(msg)):
            attrition(1.0, rate=1.2)


class TestResidualValue:
    @pytest.mark.parametrize("family", FAMILIES)
    def test_dispatches_to_family(self, family):
        a = np.linspace(0, 8, 9)
        np.testing.assert_array_equal(residual_value(a, family), FUNCS[family](a))

    def test_family_names_case_insensitive(self):
        assert residual_value(3.0, "Straight_Line") == straight_line(3.0)

    def test_composition_is_the_product(self):
        a = np.array([0.5, 1.5, 2.5, 4.0])
        got = residual_value(a, "exponential_floor", lam=0.3, floor=0.1,
                             step_ages=[1.0, 3.0], jump=0.2, attrition_rate=0.09)
        # curve x one 20% step per successor passed x 91% survival a year
        expected = [(0.1 + 0.9 * math.exp(-0.3 * x)) * 0.8 ** (int(x >= 1) + int(x >= 3))
                    * 0.91 ** x for x in a]
        np.testing.assert_allclose(got, expected)

    def test_portfolio_with_per_facility_everything(self):
        age = period_ages(4, 1, age0=[0.0, 1.0])
        got = residual_value(age, "declining_balance", rate=[0.2, 0.4],
                             step_ages=[[2.0], [np.nan]], jump=0.5, attrition_rate=[0.0, 0.1])
        expected = [[0.8 ** t * (0.5 if t >= 2 else 1.0) for t in (1, 2, 3, 4)],
                    [0.6 ** t * 0.9 ** t for t in (2, 3, 4, 5)]]
        np.testing.assert_allclose(got, expected)

    def test_family_parameters(self):
        assert family_parameters("logistic") == ("hold_years", "steepness", "floor")
        assert family_parameters("declining_balance") == ("rate", "half_life")

    def test_unknown_family(self):
        with pytest.raises(GpuCreditError) as err:
            residual_value(1.0, "sigmoid")
        assert str(err.value) == ("family must be one of straight_line, declining_balance, "
                                  "exponential_floor, logistic, got 'sigmoid'")

    def test_parameter_of_another_family(self):
        with pytest.raises(GpuCreditError) as err:
            residual_value(1.0, "straight_line", lam=0.4)
        assert str(err.value) == ("lam is not a parameter of the straight_line curve; its "
                                  "parameters are life, salvage")

    def test_bad_attrition_rate_named(self):
        with pytest.raises(GpuCreditError, match="attrition_rate must be between 0 and 1"):
            residual_value(1.0, attrition_rate=-0.1)

    def test_facilities_that_do_not_line_up(self):
        with pytest.raises(GpuCreditError, match="does not line up"):
            residual_value(np.ones(3), "straight_line", life=[4.0, 5.0],
                           step_ages=[[1.0], [2.0], [3.0]])

    def test_negative_age(self):
        with pytest.raises(GpuCreditError, match=re.escape("age must be >= 0, got -0.5")):
            residual_value(-0.5)


# --------------------------------------------------------------------------- properties

def _check_curve(v: np.ndarray):
    assert np.all(v >= 0.0) and np.all(v <= 1.0)
    assert np.all(np.diff(v) <= 0.0), "value rose with age"


@settings(max_examples=100, deadline=None)
@given(fp=curve_family_params(), age=age_grids())
def test_every_family_in_unit_interval_and_never_rises(fp, age):
    family, params = fp
    _check_curve(residual_value(age, family, **params))


@settings(max_examples=100, deadline=None)
@given(fp=curve_family_params(), age=age_grids(), steps=step_age_lists(),
       jump=fractions(), attrition_rate=fractions())
def test_with_steps_and_attrition_in_unit_interval_and_never_rises(fp, age, steps, jump,
                                                                  attrition_rate):
    family, params = fp
    _check_curve(residual_value(age, family, step_ages=steps, jump=jump,
                                attrition_rate=attrition_rate, **params))


@settings(max_examples=50, deadline=None)
@given(family=st.sampled_from(["straight_line", "exponential_floor", "logistic"]),
       data=st.data())
def test_new_asset_worth_its_cost(family, data):
    params = data.draw(CURVE_PARAMS[family])
    assert residual_value(0.0, family, **params) == 1.0


@settings(max_examples=50, deadline=None)
@given(fp=curve_family_params(), age=age_grids(max_size=6))
def test_portfolio_rows_equal_single_facility_runs(fp, age):
    # (F,) parameters with an (F, T) age table give what F separate calls give
    family, params = fp
    table = np.vstack([age, age + 1.0])
    facility = {k: [v, v] for k, v in params.items()}
    got = residual_value(table, family, **facility)
    for f in range(2):
        np.testing.assert_allclose(got[f], residual_value(table[f], family, **params))
