"""Tests for gpucredit.portfolio and the book's loss distribution from the Monte Carlo.

Oracles: numpy's own quantiles and sorted means (VaR, ES), the repeated-sampling spread
of the estimators (standard errors), and the facility-level Monte Carlo (a one-facility
book is that facility). Invariants (contributions add up, ES is subadditive, chunks
combine in any order) go to hypothesis.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gpucredit import portfolio
from gpucredit.errors import GpuCreditError
from gpucredit.montecarlo import FacilityExposure, MarketModel, simulate

pytestmark = pytest.mark.filterwarnings("error")

loss_matrices = st.integers(1, 5).flatmap(lambda f: st.integers(2, 60).flatmap(
    lambda p: arrays(float, (f, p), elements=st.floats(0, 1e3))))
levels = st.sampled_from([0.5, 0.9, 0.95, 0.99, 0.999])


class TestMeasures:
    def test_against_numpy(self):
        x = np.random.default_rng(0).lognormal(size=5000)
        m = portfolio.measures(x)
        assert m.loc["expected_loss", "value"] == pytest.approx(x.mean())
        for q, tag in ((0.95, "95"), (0.99, "99"), (0.999, "999")):
            assert m.loc[f"var_{tag}", "value"] == np.quantile(x, q, method="inverted_cdf")
            k = round((1 - q) * x.size)
            assert m.loc[f"es_{tag}", "value"] == pytest.approx(np.sort(x)[::-1][:k].mean())

    def test_standard_errors_match_the_spread_of_repeated_estimates(self):
        rng = np.random.default_rng(1)
        est = {"expected_loss": [], "var_99": [], "es_99": []}
        ses = {k: [] for k in est}
        for _ in range(200):
            m = portfolio.measures(rng.lognormal(size=4000), levels=[0.99])
            for k in est:
                est[k].append(m.loc[k, "value"])
                ses[k].append(m.loc[k, "se"])
        for k in est:
            ratio = np.mean(ses[k]) / np.std(est[k], ddof=1)
            assert 0.7 < ratio < 1.4, (k, ratio)

    def test_fractional_tail_counts_pro_rata(self):
        # 10 paths at 95%: k = 0.5 path, so ES is the largest loss.
        x = np.arange(10.0)
        assert portfolio.measures(x, [0.95]).loc["es_95", "value"] == 9.0
        assert portfolio.tail_weights(x, 0.85).tolist()[-2:] == pytest.approx([0.5 / 1.5,
                                                                                1 / 1.5])


class TestContributions:
    @settings(max_examples=60, deadline=None)
    @given(loss=loss_matrices, level=levels)
    def test_contributions_sum_to_es_and_es_is_subadditive(self, loss, level):
        lv = portfolio.from_facilities([f"F{i}" for i in range(loss.shape[0])], loss)
        es = float(portfolio.tail_weights(lv.total, level) @ lv.total_usd)
        c = portfolio.contributions(lv, level)
        assert c.es_contribution.sum() == pytest.approx(es, rel=1e-9, abs=1e-6)
        cents = np.rint(loss * 100) / 100  # the book keeps whole cents
        assert es == pytest.approx(np.sort(cents.sum(axis=0))[::-1] @ np.sort(
            portfolio.tail_weights(lv.total, level))[::-1], rel=1e-12, abs=1e-9)
        assert es <= c.standalone_es.sum() * (1 + 1e-9) + 1e-6
        assert (c.es_contribution <= c.standalone_es * (1 + 1e-9) + 1e-6).all()

    @settings(max_examples=30, deadline=None)
    @given(loss=loss_matrices, data=st.data())
    def test_chunks_combine_in_any_order(self, loss, data):
        ids = [f"F{i}" for i in range(loss.shape[0])]
        labels = {"borrower": [f"B{i % 2}" for i in range(len(ids))]}
        whole = portfolio.from_facilities(ids, loss, labels)
        cut = data.draw(st.integers(0, len(ids)))
        parts = [portfolio.from_facilities(ids[:cut], loss[:cut],
                                           {"borrower": labels["borrower"][:cut]}),
                 portfolio.from_facilities(ids[cut:], loss[cut:],
                                           {"borrower": labels["borrower"][cut:]})]
        for order in (parts, parts[::-1]):
            got = portfolio.combine([p for p in order if p.facility_ids])
            assert np.array_equal(got.total, whole.total)  # exact: integer cents
            for key, vec in whole.groups.items():
                assert np.array_equal(got.groups[key], vec)

    def test_concentration_groups_add_up(self):
        rng = np.random.default_rng(2)
        loss = rng.exponential(size=(6, 500)) * (rng.random((6, 500)) < 0.1)
        labels = {"generation": ["hopper", "hopper", "blackwell", "ampere", "hopper", "rubin"]}
        lv = portfolio.from_facilities(list("ABCDEF"), loss, labels)
        table = portfolio.concentration(lv)
        es = portfolio.measures(lv.total_usd, [0.99]).loc["es_99", "value"]
        assert table.es_contribution.sum() == pytest.approx(es)
        assert table.es_share.sum() == pytest.approx(1.0)
        assert table.expected_loss.sum() == pytest.approx(lv.total_usd.mean())

    def test_histogram_counts_every_path(self):
        x = np.random.default_rng(3).exponential(size=777)
        h = portfolio.histogram(x, bins=25)
        assert h.paths.sum() == 777 and h.probability.sum() == pytest.approx(1.0)
        # P(loss > x) at each bucket's upper edge: what is left above it
        assert h.exceedance.iloc[0] == pytest.approx(np.mean(x > h.loss_to.iloc[0]))
        assert h.exceedance.iloc[0] == pytest.approx(1 - h.probability.iloc[0])
        assert h.exceedance.iloc[-1] == 0.0

    def test_errors(self):
        with pytest.raises(GpuCreditError, match="one row per facility"):
            portfolio.from_facilities(["A"], np.ones((2, 3)))
        with pytest.raises(GpuCreditError, match="different numbers of paths"):
            portfolio.combine([portfolio.from_facilities(["A"], np.ones((1, 3))),
                               portfolio.from_facilities(["B"], np.ones((1, 4)))])
        lv = portfolio.from_facilities(["A"], np.ones((1, 3)), keep_facilities=False)
        with pytest.raises(GpuCreditError, match="per-path losses were not kept"):
            portfolio.contributions(lv)


# --------------------------------------------------------------------------- from the MC


def book(ids, generations, T=48, **kw) -> FacilityExposure:
    """Merchant-exposed facilities that default on a deep fall in their GPUs' rents."""
    base = dict(merchant_revenue=np.full(T, 100.0), other_cfads=np.full(T, -20.0),
                mining_cfads=np.full(T, 0.0), debt_service=np.full(T, 55.0),
                debt_outstanding=np.linspace(2000, 200, T),
                collateral_value=np.linspace(1800, 400, T), liquidation_factor=0.5)
    base.update(kw)
    return FacilityExposure(facility_ids=ids, generation=generations, **base)


def run_book(ex, model, n=4096, seed=3):
    frame, losses = simulate(ex, model, n_paths=n, seed=seed, return_losses=True)
    return frame, portfolio.from_facilities(ex.facility_ids, losses)


class TestBookFromMonteCarlo:
    def test_one_facility_book_is_that_facility(self):
        ex = book(["A"], ["hopper"])
        frame, lv = run_book(ex, MarketModel(jump_years=()))
        m = portfolio.measures(lv.total_usd)  # to the cent: losses are rounded to cents
        assert m.loc["expected_loss", "value"] == pytest.approx(frame.expected_loss.iloc[0],
                                                                abs=0.005)
        assert m.loc["es_99", "value"] == pytest.approx(frame.cvar_99.iloc[0], abs=0.005)
        assert m.loc["es_95", "value"] == pytest.approx(frame.cvar_95.iloc[0], abs=0.005)

    def test_two_facilities_on_one_generation_lose_on_the_same_paths(self):
        ex = book(["A", "B"], ["blackwell", "blackwell"])
        _, lv = run_book(ex, MarketModel(jump_years=()), n=1024)
        assert np.array_equal(lv.facility[0], lv.facility[1])
        assert np.allclose(portfolio.contributions(lv).es_contribution.diff().iloc[1], 0)

    @pytest.mark.parametrize("field, low, high", [("generation_correlation", 0.1, 0.95),
                                                   ("rho", 0.0, 0.8)])
    def test_more_correlation_fattens_the_tail_but_keeps_el(self, field, low, high):
        # Each facility hangs on one driver only (its generation's rents, or BTC with an
        # unsecured recovery), so correlation moves losses together without changing
        # any facility's own loss distribution: EL stays, the 99.9% tail grows.
        ids = [f"F{i}" for i in range(8)]
        if field == "generation_correlation":
            ex = book(ids, ["ampere", "hopper", "blackwell", "rubin"] * 2)
        else:
            gpu = np.arange(8) % 2 == 0
            ex = book(ids, "hopper", other_cfads=np.full(48, -10.0),
                      merchant_revenue=np.where(gpu[:, None], 100.0, np.zeros((8, 48))),
                      mining_cfads=np.where(gpu[:, None], 0.0, np.full((8, 48), 100.0)),
                      unsecured_recovery=np.where(gpu, np.nan, 0.4))
        out = {}
        for value in (low, high):
            mm = MarketModel(jump_years=(), btc_vol=0.5, **{field: value})
            _, lv = run_book(ex, mm, n=8192, seed=11)
            out[value] = portfolio.measures(lv.total_usd)
        lo, hi = out[low], out[high]
        gap = hi.loc["es_999", "value"] - lo.loc["es_999", "value"]
        assert gap > 3 * math.hypot(lo.loc["es_999", "se"], hi.loc["es_999", "se"])
        assert hi.loc["var_999", "value"] > lo.loc["var_999", "value"]
        se = math.hypot(lo.loc["expected_loss", "se"], hi.loc["expected_loss", "se"])
        assert abs(hi.loc["expected_loss", "value"] - lo.loc["expected_loss", "value"]) \
            < 4 * se
