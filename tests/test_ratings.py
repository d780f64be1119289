"""Tests of gpucredit.ratings: S&P default term structures, notches, PD -> rating."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gpucredit import ratings
from gpucredit.errors import GpuCreditError


class TestCumulativeDefaultProbability:
    def test_whole_years_reproduce_the_printed_table(self):
        # Oracle: the S&P table itself (percent), read back at whole years.
        for name, printed in ratings.SP_CUMULATIVE_DEFAULT_RATES.items():
            label = "CCC" if name == "CCC/C" else name
            got = ratings.cumulative_default_probability(label, np.arange(1, 16))[0]
            np.testing.assert_allclose(got * 100, printed, atol=1e-9)

    def test_blank_obligor_never_defaults(self):
        got = ratings.cumulative_default_probability([None, "", float("nan")], [1, 30])
        assert (got == 0).all()

    def test_half_year_is_constant_hazard_within_the_year(self):
        p1 = ratings.SP_CUMULATIVE_DEFAULT_RATES["B"][0] / 100
        got = ratings.cumulative_default_probability("B", 0.5)[0, 0]
        assert got == pytest.approx(1 - (1 - p1) ** 0.5, rel=1e-12)

    def test_beyond_fifteen_years_the_late_hazard_continues(self):
        s10, s15 = (1 - np.array(ratings.SP_CUMULATIVE_DEFAULT_RATES["BB"])[[9, 14]] / 100)
        h = np.log(s10 / s15) / 5
        got = ratings.cumulative_default_probability("BB", 20)[0, 0]
        assert got == pytest.approx(1 - s15 * np.exp(-5 * h), rel=1e-12)

    @given(st.floats(0.1, 30))
    def test_rating_scale_is_monotone(self, years):
        scale = ratings.notch_table(years)["Annualised PD"].to_numpy()
        assert np.all(np.diff(scale) >= -1e-15)

    def test_raw_table_keeps_the_sample_quirk(self):
        # S&P's AAA pool defaulted more often than AA's over 3 years: kept as printed
        # for obligors, smoothed only on the rating scale.
        aaa, aa = ratings.cumulative_default_probability(["AAA", "AA"], 3)[:, 0]
        assert aaa > aa

    @given(st.sampled_from(ratings.NOTCHES), st.floats(0, 20), st.floats(0, 20))
    def test_cumulative_pd_never_falls_with_horizon(self, notch, a, b):
        lo, hi = sorted((a, b))
        p = ratings.cumulative_default_probability(notch, [lo, hi])[0]
        assert p[0] <= p[1] + 1e-15

    def test_notches_sit_between_their_neighbours(self):
        p = dict(zip(ratings.NOTCHES,
                     ratings.cumulative_default_probability(list(ratings.NOTCHES), 5)[:, 0],
                     strict=True))
        assert p["A"] < p["A-"] < p["BBB+"] < p["BBB"]

    def test_unknown_rating_is_named(self):
        with pytest.raises(GpuCreditError, match=r"S&P's scale.*'Baa2'"):
            ratings.cumulative_default_probability("Baa2", 1)


class TestRatingFromPd:
    @pytest.mark.parametrize("name", ["AA", "A", "BBB", "BB", "B", "CCC/C"])
    @pytest.mark.parametrize("years", [1, 3, 7])
    def test_a_category_own_rate_gets_that_category(self, name, years):
        cum = ratings.cumulative_default_probability(name, years)[0, 0]
        assert ratings.rating_from_pd(ratings.annualised_pd(cum, years), years) == name

    @given(st.floats(0, 1), st.floats(0, 1), st.floats(1, 15))
    def test_higher_pd_never_better_rating(self, a, b, years):
        lo, hi = sorted((a, b))
        r = ratings.rating_from_pd([lo, hi], years)
        assert ratings.NOTCHES.index(r[0]) <= ratings.NOTCHES.index(r[1])

    def test_missing_pd_has_no_rating(self):
        assert ratings.rating_from_pd(float("nan")) is None


def test_annualised_pd_compounds_back():
    p = ratings.annualised_pd(np.array([0.0, 0.2, 1.0]), 4.0)
    np.testing.assert_allclose(1 - (1 - p) ** 4, [0.0, 0.2, 1.0], atol=1e-15)


def test_parse_rating_aliases():
    assert [ratings.parse_rating(x) for x in ("ccc-", "CC", "bbb+")] == ["CCC/C", "CCC/C",
                                                                          "BBB+"]
