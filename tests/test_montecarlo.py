"""Tests for gpucredit.montecarlo.

Oracles: closed forms (log-normal terminal law via scipy.stats.lognorm, the bivariate
normal and bivariate t CDFs of scipy.stats, the exact OU variance and autocorrelation),
a hand-worked deterministic facility (arithmetic in the test), and a plain per-path loop
written here that recomputes every credit metric from the facility's driver paths.
Monte Carlo estimates must sit within 4 standard errors of the closed form. Invariants
(reproducibility, chunking, facility order and subsets, bounds) go to hypothesis.
Every test runs with warnings as errors.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from gpucredit.errors import GpuCreditError
from gpucredit.montecarlo import (
    BLOCK_PATHS,
    FacilityExposure,
    MarketModel,
    facility_drivers,
    gbm_prob_below,
    simulate,
    simulate_drivers,
)

pytestmark = pytest.mark.filterwarnings("error")

Q05 = stats.norm.ppf(0.05)


# --------------------------------------------------------------------------- helpers


def innovations(model: MarketModel, btc: np.ndarray, shock: np.ndarray, m: int):
    """Recover the standard-normal innovations from driver paths (model without jumps)."""
    dt = 1.0 / m
    logs = np.log(np.concatenate([np.full((btc.shape[0], 1), model.btc_price0), btc], axis=1))
    eps_b = (np.diff(logs, axis=1) - (model.btc_drift - model.btc_vol**2 / 2) * dt) / (
        model.btc_vol * math.sqrt(dt))
    k, s = model.rent_kappa, model.rent_sigma
    a = math.exp(-k * dt)
    b = s * math.sqrt((1 - math.exp(-2 * k * dt)) / (2 * k))
    x = np.concatenate([np.zeros((shock.shape[0], 1)), np.log(shock)], axis=1)
    eps_r = (x[:, 1:] - a * x[:, :-1]) / b
    return eps_b.ravel(), eps_r.ravel()


def within(estimate: float, truth: float, se: float, k: float = 4.0) -> bool:
    return abs(estimate - truth) <= k * se


def naive_metrics(ex: FacilityExposure, model: MarketModel, n_paths: int, seed: int,
                  m: int, default_dscr: float = 1.0) -> pd.DataFrame:
    """Every metric recomputed path by path and period by period with Python floats."""
    out = {}
    T = ex.n_periods
    beta = model.collateral_beta
    for f, fid in enumerate(ex.facility_ids):
        btc, shock = facility_drivers(model, fid, n_paths, T, m, seed)
        n1 = ncov = nltv = ndef = 0
        losses, rates, mins = [], [], []
        for p in range(n_paths):
            tau = None
            hit1 = hitcov = hitltv = False
            mn = math.inf
            for t in range(T):
                s_ = float(shock[p, t])
                price = float(btc[p, t])
                cf = (ex.merchant_revenue[f, t] * s_ + ex.other_cfads[f, t]
                      + ex.mining_cfads[f, t] * price / model.btc_price0)
                cover = ex.collateral_value[f, t] * s_**beta + ex.btc_held[f] * price
                if ex.debt_outstanding[f, t] > cover:
                    hitltv = True
                ds = ex.debt_service[f, t]
                if ds > 0:
                    d = cf / ds
                    mn = min(mn, d)
                    hit1 |= d < 1.0
                    hitcov |= d < ex.covenant_dscr[f]
                    if tau is None and d < default_dscr:
                        tau = t
            n1 += hit1
            ncov += hitcov
            nltv += hitltv
            mins.append(mn if mn < math.inf else math.nan)
            if tau is None:
                losses.append(0.0)
                continue
            ndef += 1
            ead = ex.debt_outstanding[f, tau]
            rec = (ex.liquidation_factor[f] * ex.collateral_value[f, tau] * shock[p, tau]**beta
                   + (1 - ex.crypto_haircut[f]) * ex.btc_held[f] * btc[p, tau])
            loss = max(ead - rec, 0.0)
            losses.append(loss)
            rates.append(loss / ead if ead > 0 else 0.0)
        losses_desc = sorted(losses, reverse=True)
        out[fid] = {
            "p_dscr_below_1": n1 / n_paths,
            "p_dscr_below_covenant": ncov / n_paths,
            "p_ltv_above_1": nltv / n_paths,
            "pd": ndef / n_paths,
            "lgd": sum(rates) / len(rates) if rates else math.nan,
            "expected_loss": sum(losses) / n_paths,
            "cvar_95": tail_mean(losses_desc, 0.05),
            "cvar_99": tail_mean(losses_desc, 0.01),
            "min_dscr_q05": type7(mins, 0.05),
            "min_dscr_q50": type7(mins, 0.50),
            "min_dscr_q95": type7(mins, 0.95),
        }
    return pd.DataFrame.from_dict(out, orient="index")


def tail_mean(desc: list[float], tail: float) -> float:
    """Mean of the worst `tail` share, a fractional last path counted pro rata."""
    k = tail * len(desc)
    if abs(k - round(k)) < 1e-9:
        k = round(k)
    whole = math.floor(k)
    total = sum(desc[:whole])
    if whole < len(desc):
        total += (k - whole) * desc[whole]
    return total / k


def type7(values: list[float], q: float) -> float:
    """Hyndman-Fan type 7 quantile (linear interpolation between order statistics)."""
    if any(math.isnan(v) for v in values):
        return math.nan
    xs = sorted(values)
    h = (len(xs) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


def exposure(ids=("A",), T=12, **kw) -> FacilityExposure:
    base = dict(merchant_revenue=np.full(T, 100.0), other_cfads=np.full(T, -10.0),
                debt_service=np.full(T, 70.0), debt_outstanding=np.linspace(1000, 100, T),
                collateral_value=np.linspace(900, 300, T), liquidation_factor=0.6)
    base.update(kw)
    return FacilityExposure(facility_ids=ids, **base)


# --------------------------------------------------------------------------- strategies

models = st.builds(
    MarketModel,
    btc_drift=st.floats(-0.3, 0.3),
    btc_vol=st.floats(0.0, 1.0),
    rent_kappa=st.floats(0.0, 4.0),
    rent_sigma=st.floats(0.0, 0.6),
    jump_years=st.lists(st.floats(-1.0, 3.0), max_size=3).map(tuple),
    jump_size=st.floats(0.0, 0.5),
    rho=st.floats(-1.0, 1.0),
    copula=st.sampled_from(["gaussian", "t"]),
    t_df=st.floats(2.5, 10.0),
    collateral_beta=st.floats(0.0, 2.0),
)


@st.composite
def exposures(draw, max_facilities: int = 3, max_periods: int = 8):
    n_fac = draw(st.integers(1, max_facilities))
    T = draw(st.integers(1, max_periods))
    money = st.floats(0.0, 1000.0)

    def table(elements):
        return np.array(draw(st.lists(st.lists(elements, min_size=T, max_size=T),
                                      min_size=n_fac, max_size=n_fac)))

    def per_fac(elements):
        return np.array(draw(st.lists(elements, min_size=n_fac, max_size=n_fac)))

    ids = draw(st.lists(st.text("ABCxyz0123-", min_size=1, max_size=6), min_size=n_fac,
                        max_size=n_fac, unique=True))
    return FacilityExposure(
        facility_ids=ids,
        merchant_revenue=table(money),
        other_cfads=table(st.floats(-300.0, 300.0)),
        mining_cfads=table(money),
        debt_service=table(st.sampled_from([0.0, 50.0, 100.0, 400.0])),
        debt_outstanding=table(money),
        collateral_value=table(money),
        liquidation_factor=per_fac(st.floats(0.0, 1.0)),
        btc_held=per_fac(st.floats(0.0, 0.01)),
        covenant_dscr=per_fac(st.floats(0.5, 2.0)),
        crypto_haircut=per_fac(st.floats(0.0, 1.0)),
    )


# --------------------------------------------------------------------------- closed form


class TestGbmProbBelow:
    def test_matches_scipy_lognormal(self):
        # ln S_T ~ N(ln S0 + (mu - s^2/2) T, s^2 T): scipy's lognorm with s = sigma sqrt(T),
        # scale = S0 exp((mu - s^2/2) T).
        for s0, b, mu, sig, t in [(90_000, 45_000, 0.0, 0.6, 1.0),
                                  (90_000, 100_000, 0.2, 0.5, 2.5),
                                  (50, 20, -0.1, 1.2, 0.25)]:
            dist = stats.lognorm(s=sig * math.sqrt(t), scale=s0 * math.exp((mu - sig**2 / 2) * t))
            assert gbm_prob_below(s0, b, mu, sig, t) == pytest.approx(dist.cdf(b), rel=1e-12)

    def test_hand_worked(self):
        # ln(0.5) = -0.693147; (mu - s^2/2) T = -0.18; d = (-0.693147 + 0.18) / 0.6 = -0.855245
        assert gbm_prob_below(90_000, 45_000, 0.0, 0.6, 1.0) == pytest.approx(
            stats.norm.cdf((math.log(0.5) + 0.18) / 0.6), abs=1e-15)

    def test_scalar_in_scalar_out_and_broadcasts(self):
        assert isinstance(gbm_prob_below(1.0, 1.0, 0.0, 0.5, 1.0), float)
        p = gbm_prob_below(1.0, [0.5, 1.0, 2.0], 0.0, 0.5, 1.0)
        assert p.shape == (3,) and np.all(np.diff(p) > 0)

    @pytest.mark.parametrize("args, msg", [
        ((0.0, 1.0, 0.0, 0.5, 1.0), "btc0 must be > 0, got 0"),
        ((1.0, -1.0, 0.0, 0.5, 1.0), "barrier must be > 0, got -1"),
        ((1.0, 1.0, 0.0, 0.0, 1.0), "sigma must be > 0, got 0"),
        ((1.0, 1.0, 0.0, 0.5, [1.0, 0.0]), r"years must be > 0, got 0 \(position 2\)"),
        ((1.0, [1.0, 2.0], 0.0, 0.5, [1.0, 2.0, 3.0]), "must broadcast together"),
    ])
    def test_errors(self, args, msg):
        with pytest.raises(GpuCreditError, match=msg):
            gbm_prob_below(*args)


# --------------------------------------------------------------------------- the market


class TestMarketModel:
    def test_defaults_follow_domain(self):
        mm = MarketModel()
        assert 0.50 <= mm.btc_vol <= 0.70          # DOMAIN: BTC vol 50-70%
        assert 0.20 <= mm.jump_size <= 0.30        # DOMAIN: J 20-30%
        assert mm.rho in (0.0, 0.3, 0.6)           # DOMAIN: rho stress inputs
        assert 4 <= mm.t_df <= 6                   # DOMAIN: nu 4-6
        assert mm.jump_years[:2] == (0.25, 1.25)   # Rubin, then annual cadence
        assert np.allclose(np.diff(mm.jump_years), 1.0)

    def test_stationary_sd(self):
        assert MarketModel(rent_kappa=2.0, rent_sigma=0.4).rent_stationary_sd == \
            pytest.approx(0.4 / 2.0)
        assert MarketModel(rent_kappa=0.0).rent_stationary_sd == math.inf

    def test_jump_years_sorted_tuple(self):
        assert MarketModel(jump_years=[2.0, 0.5]).jump_years == (0.5, 2.0)
        assert MarketModel(jump_years=()).jump_years == ()

    @pytest.mark.parametrize("kw, msg", [
        (dict(btc_price0=0.0), "btc_price0 must be > 0, got 0"),
        (dict(btc_vol=-0.1), "btc_vol must be >= 0, got -0.1"),
        (dict(rent_kappa=-1.0), "rent_kappa must be >= 0, got -1"),
        (dict(rent_sigma=float("nan")), "rent_sigma must be a finite number, got nan"),
        (dict(jump_size=1.0), "jump_size must be >= 0 and < 1, got 1"),
        (dict(rho=-1.2), "rho must be between -1 and 1, got -1.2"),
        (dict(copula="clayton"), "copula must be 'gaussian' or 't', got 'clayton'"),
        (dict(t_df=2.0), "t_df must be > 2, got 2"),
        (dict(collateral_beta=-1.0), "collateral_beta must be >= 0, got -1"),
        (dict(jump_years=(1.0, float("inf"))),
         r"jump_years must be a finite number, got inf \(position 2\)"),
        (dict(rho=[0.1, 0.2]), "rho must be a single number"),
        (dict(btc_vol=True), "btc_vol must be a number, got True"),
    ])
    def test_errors(self, kw, msg):
        with pytest.raises(GpuCreditError, match=msg):
            MarketModel(**kw)


class TestSimulateDrivers:
    def test_shapes_and_reproducible(self):
        btc, shock = simulate_drivers(None, 5, 7, 4, rng=3)
        assert btc.shape == shock.shape == (5, 7)
        btc2, shock2 = simulate_drivers(None, 5, 7, 4, rng=np.random.default_rng(3))
        assert np.array_equal(btc, btc2) and np.array_equal(shock, shock2)

    def test_deterministic_limits_by_hand(self):
        # No volatility: S_t = 90,000 e^(0.1 t); launches at 0.5 and 1.5 hit the periods
        # starting at or after them (quarterly: periods 3-6 and 7-8): 1, 1, .8, .8, .8, .8,
        # .64, .64.
        mm = MarketModel(btc_vol=0.0, btc_drift=0.1, rent_sigma=0.0, jump_years=(0.5, 1.5),
                         jump_size=0.2)
        btc, shock = simulate_drivers(mm, 3, 8, 4, rng=0)
        t = np.arange(1, 9) / 4
        assert np.allclose(btc, 90_000 * np.exp(0.1 * t), rtol=1e-14, atol=0)
        assert np.allclose(shock, [1, 1, .8, .8, .8, .8, .64, .64], rtol=1e-14, atol=0)

    def test_launches_at_or_before_today_are_ignored(self):
        mm = MarketModel(rent_sigma=0.0, jump_years=(-1.0, 0.0, 1.0))
        _, shock = simulate_drivers(mm, 1, 3, 1, rng=0)
        assert np.allclose(shock, [[1.0, 0.75, 0.75]])

    @pytest.mark.parametrize("copula", ["gaussian", "t"])
    def test_gbm_terminal_probability_matches_closed_form(self, copula):
        # The t copula keeps normal margins: BTC stays log-normal under either copula.
        mm = MarketModel(btc_drift=0.05, btc_vol=0.6, rho=0.5, copula=copula)
        n = 20_000
        btc, _ = simulate_drivers(mm, n, 24, 12, rng=11)
        for col, barrier in [(11, 60_000.0), (23, 45_000.0), (23, 120_000.0)]:
            years = (col + 1) / 12
            p = gbm_prob_below(mm.btc_price0, barrier, mm.btc_drift, mm.btc_vol, years)
            se = math.sqrt(p * (1 - p) / n)
            assert within(float(np.mean(btc[:, col] < barrier)), p, se)

    @pytest.mark.parametrize("rho", [-0.4, 0.0, 0.3, 0.6, 0.9])
    def test_gaussian_joint_tail_matches_bivariate_normal_cdf(self, rho):
        mm = MarketModel(rho=rho, jump_years=())
        btc, shock = simulate_drivers(mm, 4000, 120, 12, rng=5)
        eb, er = innovations(mm, btc, shock, 12)
        p_hat = float(np.mean((eb < Q05) & (er < Q05)))
        p = stats.multivariate_normal(mean=[0, 0], cov=[[1, rho], [rho, 1]]).cdf([Q05, Q05])
        assert within(p_hat, p, math.sqrt(p * (1 - p) / eb.size))
        assert within(float(np.corrcoef(eb, er)[0, 1]), rho, (1 - rho**2) / math.sqrt(eb.size))

    @pytest.mark.parametrize("rho, df", [(0.0, 5.0), (0.3, 4.0), (0.6, 6.0)])
    def test_t_copula_joint_tail_matches_bivariate_t_cdf(self, rho, df):
        # P(U_b < 5%, U_r < 5%) = P(T_1 < t_nu^-1(5%), T_2 < t_nu^-1(5%)), (T_1, T_2)
        # bivariate t with shape matrix [[1, rho], [rho, 1]].
        mm = MarketModel(rho=rho, copula="t", t_df=df, jump_years=())
        btc, shock = simulate_drivers(mm, 4000, 120, 12, rng=6)
        eb, er = innovations(mm, btc, shock, 12)
        p_hat = float(np.mean((eb < Q05) & (er < Q05)))
        c = stats.t.ppf(0.05, df)
        p = stats.multivariate_t(loc=[0, 0], shape=[[1, rho], [rho, 1]], df=df).cdf(
            [c, c], random_state=0)
        assert within(p_hat, p, math.sqrt(p * (1 - p) / eb.size))
        # margins stay standard normal
        assert within(float(np.mean(eb < Q05)), 0.05, math.sqrt(0.05 * 0.95 / eb.size))

    def test_t_copula_has_more_joint_tail_than_gaussian(self):
        n = 4000
        gauss = MarketModel(rho=0.3, jump_years=())
        tcop = replace(gauss, copula="t")
        probs = {}
        for mm in (gauss, tcop):
            eb, er = innovations(mm, *simulate_drivers(mm, n, 120, 12, rng=9), 12)
            probs[mm.copula] = float(np.mean((eb < Q05) & (er < Q05)))
        se = math.sqrt(2 * probs["t"] / (n * 120))
        assert probs["t"] - probs["gaussian"] > 8 * se

    @settings(max_examples=50, deadline=None)
    @given(lo=st.floats(0.0, 0.8), step=st.floats(0.1, 0.2))
    def test_raising_rho_never_lowers_joint_stress(self, lo, step):
        # Common random numbers: same rng seed, so only rho differs between the runs.
        probs = []
        for rho in (lo, min(lo + step, 1.0)):
            mm = MarketModel(rho=rho, jump_years=())
            eb, er = innovations(mm, *simulate_drivers(mm, 2000, 120, 12, rng=21), 12)
            probs.append(np.mean((eb < Q05) & (er < Q05)))
        assert probs[1] >= probs[0]

    def test_ou_variance_and_autocorrelation(self):
        # Var x_t = sigma^2 (1 - e^(-2 kappa t)) / (2 kappa); stationary limit
        # sigma^2 / (2 kappa); corr(x_t, x_t+dt) -> e^(-kappa dt) once stationary.
        mm = MarketModel(rent_kappa=1.5, rent_sigma=0.3, jump_years=())
        n = 20_000
        _, shock = simulate_drivers(mm, n, 60, 12, rng=4)
        x = np.log(shock)
        for col in (0, 5, 59):
            t = (col + 1) / 12
            v = 0.3**2 * (1 - math.exp(-2 * 1.5 * t)) / (2 * 1.5)
            assert within(float(x[:, col].var()), v, v * math.sqrt(2 / (n - 1)))
        v_inf = 0.3**2 / 3.0
        assert within(float(x[:, -1].var()), v_inf, v_inf * math.sqrt(2 / (n - 1)))
        a = math.exp(-1.5 / 12)
        r = float(np.corrcoef(x[:, -2], x[:, -1])[0, 1])
        assert within(r, a, (1 - a**2) / math.sqrt(n))
        assert within(float(x[:, -1].mean()), 0.0, math.sqrt(v_inf / n))

    def test_zero_kappa_is_a_random_walk(self):
        mm = MarketModel(rent_kappa=0.0, rent_sigma=0.4, jump_years=())
        n = 20_000
        _, shock = simulate_drivers(mm, n, 24, 12, rng=8)
        v = 0.4**2 * 2.0  # sigma^2 t at t = 2 years
        assert within(float(np.log(shock[:, -1]).var()), v, v * math.sqrt(2 / (n - 1)))

    @pytest.mark.parametrize("args, msg", [
        ((None, 0, 5, 12), "n_paths must be a whole number >= 1, got 0"),
        ((None, 10, 2.5, 12), "n_periods must be a whole number >= 1, got 2.5"),
        ((None, 10, 5, 52), "periods_per_year must be one of 1, 2, 4, 12, got 52"),
        (("model", 10, 5, 12), "model must be a MarketModel, got str"),
    ])
    def test_errors(self, args, msg):
        with pytest.raises(GpuCreditError, match=msg):
            simulate_drivers(*args)


class TestFacilityDrivers:
    def test_more_paths_extend_fewer(self):
        for mm in (MarketModel(), MarketModel(copula="t")):
            a_btc, a_shock = facility_drivers(mm, "X", 1500, 6, 12, seed=2)
            b_btc, b_shock = facility_drivers(mm, "X", 2100, 6, 12, seed=2)
            assert np.array_equal(a_btc, b_btc[:1500])
            assert np.array_equal(a_shock, b_shock[:1500])

    def test_streams_differ_by_id_and_seed(self):
        a, _ = facility_drivers(None, "X", 10, 6, 12, seed=2)
        b, _ = facility_drivers(None, "Y", 10, 6, 12, seed=2)
        c, _ = facility_drivers(None, "X", 10, 6, 12, seed=3)
        assert not np.array_equal(a, b) and not np.array_equal(a, c)

    def test_seed_must_be_non_negative(self):
        with pytest.raises(GpuCreditError, match="seed must be a whole number >= 0, got -1"):
            facility_drivers(None, "X", 10, 6, 12, seed=-1)


# --------------------------------------------------------------------------- exposures


class TestFacilityExposure:
    def test_broadcasts_and_freezes(self):
        ex = exposure(ids=("A", "B"), T=4, covenant_dscr=[1.1, 1.25])
        assert ex.n_facilities == 2 and ex.n_periods == 4
        assert ex.merchant_revenue.shape == ex.mining_cfads.shape == (2, 4)
        assert ex.liquidation_factor.shape == ex.btc_held.shape == (2,)
        assert np.array_equal(ex.covenant_dscr, [1.1, 1.25])
        with pytest.raises(ValueError):
            ex.merchant_revenue[0, 0] = 1.0
        with pytest.raises(AttributeError):
            ex.btc_held = 1.0

    def test_single_id_string(self):
        ex = exposure(ids="ONE", T=3)
        assert ex.facility_ids == ("ONE",)

    def test_select_keeps_rows(self):
        ex = exposure(ids=("A", "B", "C"), T=2, btc_held=[1.0, 2.0, 3.0])
        sub = ex.select(["C", "A"])
        assert sub.facility_ids == ("C", "A")
        assert np.array_equal(sub.btc_held, [3.0, 1.0])
        with pytest.raises(GpuCreditError, match="facility_ids has no facility 'Z'"):
            ex.select(["Z"])

    @pytest.mark.parametrize("kw, msg", [
        (dict(debt_service=np.array([[1.0, -1.0]])),
         r"debt_service must be >= 0, got -1 \(facility 1, period 2\)"),
        (dict(merchant_revenue=np.ones(3)),
         "merchant_revenue has 3 periods but debt_service has 2"),
        (dict(debt_outstanding=np.ones((3, 2))),
         "debt_outstanding has 3 facility rows but facility_ids has 2"),
        (dict(liquidation_factor=1.5), "liquidation_factor must be between 0 and 1, got 1.5"),
        (dict(covenant_dscr=[1.2, 0.0]), r"covenant_dscr must be > 0, got 0 \(position 2\)"),
        (dict(btc_held=[1.0, 2.0, 3.0]), r"btc_held must be a single value or one value per "
                                         r"facility \(2\)"),
        (dict(mining_cfads=-1.0), "mining_cfads must be >= 0, got -1"),
        (dict(facility_ids=["A", "A"]), "facility_ids must be unique, got 'A' twice"),
        (dict(facility_ids=[]), "facility_ids must name at least one facility"),
        (dict(collateral_value=np.ones((2, 2, 2))), "collateral_value must be a series"),
    ])
    def test_errors(self, kw, msg):
        base = dict(facility_ids=["A", "B"], merchant_revenue=np.ones(2),
                    debt_service=np.ones(2), debt_outstanding=np.ones(2),
                    collateral_value=np.ones(2), liquidation_factor=0.5)
        base.update(kw)
        with pytest.raises(GpuCreditError, match=msg):
            FacilityExposure(**base)


# --------------------------------------------------------------------------- simulate


class TestSimulateHandWorked:
    def test_deterministic_facilities(self):
        # No volatility: every path is the base case times the launch step (a launch at
        # 1.0 year, annual periods: shock 1, .75, .75). BTC stays at 90,000; 0.001 BTC held
        # is worth 90. Facility A:
        #   CFADS = 100 s_t + 40 = 140, 115, 115; DS 100, 120, 100
        #   DSCR = 1.40, 0.958333, 1.15  -> default in period 2 (below 1.20 covenant too)
        #   EAD = 200; recovery = 0.6 x (200 x .75) + (1 - 0.2) x 90 = 90 + 72 = 162
        #   loss = 38, LGD = 0.19, EL rate = 38 / 300
        #   LTV: 300/340, 200/240, 100/202.5, never above 1
        # Facility B: DS 100 every period: DSCR 1.40, 1.15, 1.15 -> no default, covenant
        #   breached; debt 400 in period 1 > 250 + 90 -> LTV above 1.
        mm = MarketModel(btc_vol=0.0, rent_sigma=0.0, jump_years=(1.0,), jump_size=0.25)
        ex = FacilityExposure(
            facility_ids=["A", "B"], merchant_revenue=[100.0, 100.0, 100.0],
            mining_cfads=[40.0, 40.0, 40.0],
            debt_service=[[100.0, 120.0, 100.0], [100.0, 100.0, 100.0]],
            debt_outstanding=[[300.0, 200.0, 100.0], [400.0, 200.0, 100.0]],
            collateral_value=[250.0, 200.0, 150.0], liquidation_factor=0.6,
            btc_held=0.001, crypto_haircut=0.2, covenant_dscr=1.2)
        res = simulate(ex, mm, n_paths=50, seed=3, periods_per_year=1)
        a, b = res.loc["A"], res.loc["B"]
        assert a.pd == 1.0 and a.p_dscr_below_1 == 1.0 and a.p_dscr_below_covenant == 1.0
        assert a.p_ltv_above_1 == 0.0
        assert a.lgd == pytest.approx(0.19, rel=1e-12)
        assert a.expected_loss == pytest.approx(38.0, rel=1e-12)
        assert a.cvar_95 == pytest.approx(38.0, rel=1e-12)
        assert a.cvar_99 == pytest.approx(38.0, rel=1e-12)
        assert a.el_rate == pytest.approx(38.0 / 300.0, rel=1e-12)
        assert a.min_dscr_q05 == a.min_dscr_q95 == pytest.approx(115 / 120, rel=1e-12)
        assert a.pd_se == 0.0 and a.el_se == pytest.approx(0.0, abs=1e-9)
        assert b.pd == 0.0 and math.isnan(b.lgd) and b.expected_loss == 0.0
        assert b.p_dscr_below_covenant == 1.0 and b.p_ltv_above_1 == 1.0
        assert b.min_dscr_q50 == pytest.approx(1.15, rel=1e-12)
        assert list(res.columns) == [
            "p_dscr_below_1", "p_dscr_below_covenant", "p_ltv_above_1", "pd", "pd_se", "lgd",
            "expected_loss", "el_se", "el_rate", "cvar_95", "cvar_99", "min_dscr_q05",
            "min_dscr_q50", "min_dscr_q95", "n_paths", "seed"]
        assert res.index.name == "facility_id" and (res.n_paths == 50).all()

    def test_collateral_beta_and_drift(self):
        # Quarterly periods, no volatility, BTC drifting at 10% a year. A launch at 0.25
        # years (J = 0.5) hits period 2 (it starts at 0.25): shocks 1, 0.5.
        #   CFADS = 200, 0 against DS 100, 100 -> default in period 2; EAD = 1,000
        #   GPU collateral = 800 x 0.5^beta = 800 x 0.25 = 200, x 0.5 recovered = 100
        #   treasury = 0.01 x 90,000 e^(0.1 x 0.5) = 946.14, x (1 - 0.5) recovered = 473.07
        #   loss = 1,000 - 100 - 473.07 = 426.93
        mm = MarketModel(btc_vol=0.0, btc_drift=0.1, rent_sigma=0.0, jump_years=(0.25,),
                         jump_size=0.5, collateral_beta=2.0)
        ex = FacilityExposure(facility_ids="C", merchant_revenue=[200.0, 0.0],
                              debt_service=[100.0, 100.0], debt_outstanding=[1000.0, 1000.0],
                              collateral_value=[800.0, 800.0], liquidation_factor=0.5,
                              btc_held=0.01, crypto_haircut=0.5)
        res = simulate(ex, mm, n_paths=10, seed=0, periods_per_year=4).loc["C"]
        treasury = 0.01 * 90_000 * math.exp(0.1 * 0.5) * 0.5
        loss = 1000.0 - (800 * 0.25 * 0.5 + treasury)
        assert res.expected_loss == pytest.approx(loss, rel=1e-12)
        assert res.lgd == pytest.approx(loss / 1000.0, rel=1e-12)

    def test_recovery_is_capped_at_exposure(self):
        # Collateral far above the debt: the default loses nothing, LGD 0 (not negative).
        mm = MarketModel(btc_vol=0.0, rent_sigma=0.0, jump_years=())
        ex = FacilityExposure(facility_ids="R", merchant_revenue=[0.0], debt_service=[1.0],
                              debt_outstanding=[10.0], collateral_value=[1e6],
                              liquidation_factor=0.5)
        res = simulate(ex, mm, n_paths=5, seed=0, periods_per_year=12).loc["R"]
        assert res.pd == 1.0 and res.lgd == 0.0 and res.expected_loss == 0.0

    def test_no_debt_service_has_no_dscr(self):
        ex = exposure(T=6, debt_service=np.zeros(6))
        res = simulate(ex, n_paths=100, seed=0).loc["A"]
        assert res.pd == 0.0 and res.p_dscr_below_1 == 0.0
        assert math.isnan(res.min_dscr_q50) and math.isnan(res.lgd)


class TestSimulateAgainstLoop:
    @settings(max_examples=40, deadline=None)
    @given(ex=exposures(), mm=models, seed=st.integers(0, 2**32),
           m=st.sampled_from([1, 4, 12]), n=st.sampled_from([1, 7, 40, 100]),
           default_dscr=st.sampled_from([1.0, 1.05, 0.8]))
    def test_matches_plain_loop(self, ex, mm, seed, m, n, default_dscr):
        res = simulate(ex, mm, n_paths=n, seed=seed, periods_per_year=m,
                       default_dscr=default_dscr)
        ref = naive_metrics(ex, mm, n, seed, m, default_dscr)
        for col in ref.columns:
            assert np.allclose(res[col].to_numpy(), ref[col].to_numpy(), rtol=1e-9,
                               atol=1e-9, equal_nan=True), col

    def test_cvar_on_a_larger_sample(self):
        ex = exposure(ids=("A", "B"), T=12, mining_cfads=np.full(12, 30.0), btc_held=0.002,
                      other_cfads=np.full(12, -40.0))
        mm = MarketModel(rho=0.6, copula="t")
        res = simulate(ex, mm, n_paths=1500, seed=12)
        ref = naive_metrics(ex, mm, 1500, 12, 12)
        assert 0 < res.pd.min() < 1
        for col in ref.columns:
            assert np.allclose(res[col], ref[col], rtol=1e-9, atol=1e-9, equal_nan=True), col


class TestSimulateInvariants:
    def test_same_seed_same_result_other_seed_differs(self):
        ex = exposure(ids=("A", "B"))
        r1 = simulate(ex, n_paths=300, seed=4)
        r2 = simulate(ex, n_paths=300, seed=4)
        pd.testing.assert_frame_equal(r1, r2, check_exact=True)
        r3 = simulate(ex, n_paths=300, seed=5)
        assert not np.array_equal(r1.expected_loss, r3.expected_loss)

    @pytest.mark.parametrize("copula", ["gaussian", "t"])
    def test_chunking_and_memory_budget_do_not_change_results(self, copula):
        ex = exposure(ids=("A", "B", "C"), T=24, mining_cfads=np.full(24, 20.0),
                      btc_held=[0.0, 0.001, 0.002])
        mm = MarketModel(copula=copula)
        n = 2 * BLOCK_PATHS + 300
        ref = simulate(ex, mm, n_paths=n, seed=1)
        for kw in (dict(chunk_paths=BLOCK_PATHS), dict(chunk_paths=2 * BLOCK_PATHS),
                   dict(chunk_paths=4 * BLOCK_PATHS), dict(max_bytes=1),
                   dict(max_bytes=BLOCK_PATHS * 24 * 48 * 2)):
            pd.testing.assert_frame_equal(simulate(ex, mm, n_paths=n, seed=1, **kw), ref,
                                          check_exact=True)

    @settings(max_examples=25, deadline=None)
    @given(data=st.data())
    def test_order_and_subset_do_not_change_a_facility(self, data):
        ids = ["F1", "F2", "F3", "F4", "F5"]
        rng = np.random.default_rng(0)
        ex = exposure(ids=ids, T=12, merchant_revenue=rng.uniform(50, 150, (5, 12)),
                      mining_cfads=rng.uniform(0, 40, (5, 12)), btc_held=rng.uniform(0, .01, 5))
        full = simulate(ex, n_paths=200, seed=9)
        chosen = data.draw(st.lists(st.sampled_from(ids), min_size=1, max_size=5, unique=True))
        part = simulate(ex.select(chosen), n_paths=200, seed=9, max_bytes=1)
        pd.testing.assert_frame_equal(part, full.loc[chosen], check_exact=True)

    @settings(max_examples=40, deadline=None)
    @given(ex=exposures(), mm=models, seed=st.integers(0, 1000))
    def test_bounds(self, ex, mm, seed):
        res = simulate(ex, mm, n_paths=64, seed=seed, periods_per_year=4)
        for col in ("p_dscr_below_1", "p_dscr_below_covenant", "p_ltv_above_1", "pd"):
            assert res[col].between(0, 1).all()
        lgd = res.lgd.dropna()
        assert lgd.between(0, 1).all()
        assert (res.lgd.isna() == (res.pd == 0)).all()
        tol = 1e-9 * (1 + res.cvar_99.abs())
        assert (res.expected_loss >= 0).all()
        assert (res.expected_loss <= res.cvar_95 + tol).all()
        assert (res.cvar_95 <= res.cvar_99 + tol).all()
        assert (res.cvar_99 <= ex.debt_outstanding.max(axis=1) + tol).all()
        assert (res.min_dscr_q05.dropna() <= res.min_dscr_q50.dropna() + 1e-12).all()
        assert (res.min_dscr_q50.dropna() <= res.min_dscr_q95.dropna() + 1e-12).all()
        # pd is the first DSCR < 1 with default_dscr = 1
        assert (res.pd == res.p_dscr_below_1).all()

    def test_huge_cushion_never_defaults(self):
        ex = exposure(ids=("rich",), T=120, merchant_revenue=np.full(120, 10.0),
                      other_cfads=np.full(120, 1e6), debt_service=np.full(120, 100.0))
        mm = MarketModel(rho=0.6, copula="t", btc_vol=0.9, rent_sigma=0.6)
        res = simulate(ex, mm, n_paths=2000, seed=0).loc["rich"]
        assert res.pd == 0.0 and res.expected_loss == 0.0 and res.cvar_99 == 0.0
        assert math.isnan(res.lgd)

    def test_short_every_period_always_defaults_in_period_one(self):
        # CFADS = 50 against debt service 100 in every state: default in period 1, so
        # loss = D_1 - 0.4 x C_1 x s_1 with s_1 the first-period rent shock of each path.
        ex = exposure(ids=("poor",), T=24, merchant_revenue=np.zeros(24),
                      other_cfads=np.full(24, 50.0), debt_service=np.full(24, 100.0),
                      liquidation_factor=0.4)
        res = simulate(ex, n_paths=3000, seed=2).loc["poor"]
        assert res.pd == 1.0 and res.p_dscr_below_1 == 1.0
        _, shock = facility_drivers(None, "poor", 3000, 24, 12, 2)
        d1, c1 = ex.debt_outstanding[0, 0], ex.collateral_value[0, 0]
        loss = np.maximum(d1 - 0.4 * c1 * shock[:, 0], 0.0)
        assert res.expected_loss == pytest.approx(loss.mean(), rel=1e-12)
        assert res.lgd == pytest.approx((loss / d1).mean(), rel=1e-12)

    def test_higher_rho_raises_pd_of_a_miner_host(self):
        # Half the CFADS from mining, half from merchant GPU rent: joint falls break it.
        T = 36
        ex = exposure(ids=("miner",), T=T, merchant_revenue=np.full(T, 60.0),
                      mining_cfads=np.full(T, 60.0), other_cfads=np.zeros(T),
                      debt_service=np.full(T, 75.0))
        pds = []
        for rho in (-0.3, 0.0, 0.3, 0.6, 0.9):
            mm = MarketModel(rho=rho, jump_years=(), btc_vol=0.5)
            pds.append(simulate(ex, mm, n_paths=4000, seed=1).pd.iloc[0])
        assert all(b >= a for a, b in itertools.pairwise(pds))
        assert pds[-1] - pds[0] > 0.05

    def test_default_dscr_above_one_defaults_more(self):
        ex = exposure(ids=("A",), T=24)
        r1 = simulate(ex, n_paths=500, seed=0).loc["A"]
        r2 = simulate(ex, n_paths=500, seed=0, default_dscr=1.05).loc["A"]
        assert r2.pd >= r1.pd and r2.p_dscr_below_1 == r1.p_dscr_below_1


class TestSimulateErrors:
    @pytest.mark.parametrize("kw, msg", [
        (dict(n_paths=0), "n_paths must be a whole number >= 1, got 0"),
        (dict(seed=-3), "seed must be a whole number >= 0, got -3"),
        (dict(seed=1.5), "seed must be a whole number >= 0, got 1.5"),
        (dict(periods_per_year=3), "periods_per_year must be one of 1, 2, 4, 12, got 3"),
        (dict(chunk_paths=1000), "chunk_paths must be a positive multiple of 1024 .*got 1000"),
        (dict(chunk_paths=0), "chunk_paths must be a whole number >= 1, got 0"),
        (dict(max_bytes=0), "max_bytes must be a whole number >= 1, got 0"),
        (dict(default_dscr=0.0), "default_dscr must be > 0, got 0"),
        (dict(model=object()), "model must be a MarketModel, got object"),
    ])
    def test_bad_arguments(self, kw, msg):
        with pytest.raises(GpuCreditError, match=msg):
            simulate(exposure(), **kw)

    def test_exposure_type(self):
        with pytest.raises(GpuCreditError, match="exposure must be a FacilityExposure, got dict"):
            simulate({})
