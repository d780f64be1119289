"""Tests of gpucredit.credit: PD bounds, the risky-annuity fair spread, the verdict."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from gpucredit import credit, pricing, ratings


class TestPdUpperBound:
    @given(st.integers(1, 5000), st.data())
    def test_bound_is_the_binomial_tail_quantile(self, n, data):
        # Oracle: scipy's binomial cdf. At the bound, k or fewer defaults have 5% chance.
        k = data.draw(st.integers(0, n - 1))
        p_u = credit.pd_upper_bound(k, n)
        assert stats.binom.cdf(k, n, p_u) == pytest.approx(0.05, abs=1e-9)

    def test_no_default_closed_form(self):
        assert credit.pd_upper_bound(0, 1000) == pytest.approx(1 - 0.05 ** (1 / 1000))

    def test_all_default_is_one(self):
        assert credit.pd_upper_bound(50, 50) == 1.0

    @pytest.mark.parametrize("p", [0.001, 0.01, 0.05, 0.3])
    def test_bound_covers_the_true_pd(self, p):
        # Exact frequentist coverage: the probability (binomial pmf) of drawing a k
        # whose bound falls below the true p is at most 5%.
        k = np.arange(301)
        below = credit.pd_upper_bound(k, np.full(k.shape, 300)) < p
        assert stats.binom.pmf(k[below], 300, p).sum() <= 0.05


class TestFairSpread:
    def test_two_period_loan_by_hand(self):
        # A 2-year annual loan of 100 amortising 50 a year; default in year 1 w.p. 10%,
        # in year 2 w.p. 10% (of those alive); LGD 40%; risk-free 5%. Balances at risk:
        # 100 in year 1, 50 in year 2.
        df = np.array([1 / 1.05, 1 / 1.05 ** 2])
        surv_start = np.array([1.0, 0.9])
        pv_el = 0.1 * 0.4 * 100 * df[0] + 0.9 * 0.1 * 0.4 * 50 * df[1]
        annuity = (df * surv_start * np.array([100.0, 50.0]) * (1 - 0.1)).sum()
        s = credit.fair_spread(pv_el, annuity)
        # The spread paid on surviving balances, discounted, equals the PV of losses.
        paid = s * annuity
        assert paid == pytest.approx(pv_el, rel=1e-12)
        assert 0.04 < s < 0.05

    def test_late_default_on_small_balance_is_cheap(self):
        # The old spread, PD_annual x LGD, ignores when default hits; the risky annuity
        # weighs the loss by the balance then outstanding.
        pv_el_late = 0.3 * 0.5 * 10.0      # 30% default, at the end, on a balance of 10
        annuity = 5 * 60.0                  # five years, average balance 60
        s = credit.fair_spread(pv_el_late, annuity)
        naive = pricing.fair_spread(ratings.annualised_pd(0.3, 5.0), 0.5)
        assert s < 0.2 * naive

    def test_no_exposure_has_no_spread(self):
        assert np.isnan(credit.fair_spread(0.0, 0.0))


def test_spread_implied_pd_matches_the_credit_triangle():
    h = pricing.hazard_rate(0.045, 0.4)
    assert credit.spread_implied_pd(0.045, 0.6, 3.0) == pytest.approx(
        pricing.pd_from_hazard(h, 3.0), rel=1e-12)


def _mc(k, n=2000, lgd=0.5, el=1e6, **extra):
    k = np.atleast_1d(k)
    frame = pd.DataFrame({"pd": k / n, "n_defaults": k, "n_paths": n,
                          "pv_expected_loss": el, "risky_annuity": 200e6, "lgd": lgd,
                          **extra},
                         index=pd.Index([f"F{i}" for i in range(len(k))], name="facility_id"))
    return frame


class TestVerdict:
    def test_zero_defaults_show_their_bound_not_zero(self):
        v = credit.verdict(_mc([0], n=300), [4.0]).iloc[0]
        assert v.pd_annual == 0.0
        assert v.pd_annual_bound == pytest.approx(
            ratings.annualised_pd(1 - 0.05 ** (1 / 300), 4.0))
        assert v.rating_bucket.endswith("or better") or v.rating_bucket.endswith("bound)")
        assert v.rating != "AAA"  # 300 paths cannot support AAA over four years
        assert "no default in 300 paths" in v.rating_reason

    @given(st.lists(st.integers(1, 2000), min_size=2, max_size=6))
    def test_more_defaults_never_rate_better(self, ks):
        ks = sorted(ks)
        v = credit.verdict(_mc(ks), np.full(len(ks), 5.0))
        idx = [ratings.NOTCHES.index(r) for r in v["rating"]]
        assert idx == sorted(idx)

    def test_annualised_pd_and_its_error(self):
        v = credit.verdict(_mc([200], n=1000), [4.0]).iloc[0]
        assert v.pd_annual == pytest.approx(1 - 0.8 ** 0.25)
        # Delta method against a finite difference of the annualisation.
        se_t = np.sqrt(0.2 * 0.8 / 1000)
        eps = 1e-6
        slope = (ratings.annualised_pd(0.2 + eps, 4.0) -
                 ratings.annualised_pd(0.2 - eps, 4.0)) / (2 * eps)
        assert v.pd_annual_se == pytest.approx(se_t * slope, rel=1e-6)

    def test_fair_spread_identity_and_mispricing(self):
        v = credit.verdict(_mc([100], el=3e6), [5.0], quoted_spread_bp=[450.0]).iloc[0]
        assert v.fair_spread_bp * 1e-4 * 200e6 == pytest.approx(3e6)
        assert v.mispricing_bp == pytest.approx(450.0 - 150.0)

    def test_three_pds_side_by_side(self):
        ctx = pd.DataFrame({"seniority": ["senior_unsecured"]},
                           index=pd.Index(["F0"], name="facility_id"))
        v = credit.verdict(_mc([100], lgd=0.05), [5.0], quoted_spread_bp=[300.0],
                           merton_pd=[0.02], context=ctx).iloc[0]
        # The market's reading of the spread: ISDA's 40% recovery, not the model's LGD.
        assert v.spread_implied_pd == pytest.approx(1 - np.exp(-0.03 / 0.6))
        assert v.merton_pd == 0.02

    def test_secured_spread_read_at_seventy_percent_recovery(self):
        v = credit.verdict(_mc([100]), [5.0], quoted_spread_bp=[300.0]).iloc[0]
        assert v.spread_implied_pd == pytest.approx(1 - np.exp(-0.03 / 0.3))

    def test_few_defaults_rate_on_the_bound(self):
        v = credit.verdict(_mc([3], n=2000), [6.0]).iloc[0]
        assert v.pd_annual > 0
        bound_notch = ratings.rating_from_pd(v.pd_annual_bound, 6.0)
        assert v.rating == bound_notch
        assert v.rating_bucket in (f"{bound_notch} or better", "AAA (upper bound)")
        assert v.rating_reason.startswith("3 defaults in 2,000 paths: PD < ")

    def test_near_certain_default_has_no_fair_spread(self):
        v = credit.verdict(_mc([1990]), [5.0], quoted_spread_bp=[500.0]).iloc[0]
        assert np.isnan(v.fair_spread_bp) and np.isnan(v.mispricing_bp)
        assert v.fair_spread_note.startswith("none: defaults in 95%+")

    @pytest.mark.parametrize(("shares", "expect"), [
        ({"pd_payment": 0.3, "pd_refinancing": 0.05, "pd_customer_driven": 0.0}, "payment:"),
        ({"pd_payment": 0.0, "pd_refinancing": 0.4, "pd_customer_driven": 0.0}, "refinancing:"),
        ({"pd_payment": 0.0, "pd_refinancing": 0.0, "pd_customer_driven": 0.2}, "customer:"),
    ])
    def test_reason_names_the_dominant_door(self, shares, expect):
        ctx = pd.DataFrame({"refinancing_ltv_market": [1.8], "maturity_date": ["2030-10-01"],
                            "counterparty_rating": ["BB-"], "min_dscr": [1.1]},
                           index=pd.Index(["F0"], name="facility_id"))
        v = credit.verdict(_mc([500], **shares), [5.0], context=ctx).iloc[0]
        assert v.rating_reason.startswith(expect)
        if expect == "refinancing:":
            assert "LTV 180% at 2030-10-01" in v.rating_reason
        if expect == "customer:":
            assert "BB-" in v.rating_reason


def test_weak_link_caps_the_rating_at_the_contract_support():
    ctx = pd.DataFrame({"contracted_share": [0.9, 0.9, 0.2],
                        "counterparty_rating": ["B", "BB", "B"],
                        "backstop_rating": ["AA+", None, None]},
                       index=pd.Index(["F0", "F1", "F2"], name="facility_id"))
    v = credit.verdict(_mc([0, 0, 0], n=100_000), [5.0] * 3, context=ctx)
    assert v["rating"].tolist()[:2] == ["AA+", "BB"]
    assert v["rating_bucket"].iloc[0] == "AA+ (capped: backstop)"
    assert v["rating_reason"].iloc[1].endswith("capped at the customer's BB")
    assert v["rating"].iloc[2] not in ("B", "BB")  # a mostly merchant facility: no cap
