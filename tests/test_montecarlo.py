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
from gpucredit.market import GENERATIONS, market_block
from gpucredit.montecarlo import (
    BLOCK_PATHS,
    FacilityExposure,
    MarketModel,
    gbm_prob_below,
    idiosyncratic_normals,
    market_paths,
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


def market_for(model: MarketModel, n_paths: int, T: int, m: int, seed: int, gen: str):
    """The facility's market by explicit loops over the monthly paths: BTC / S0 and the
    rent shock averaged over each period's months and at each period's last month, and
    the generation's systematic factor at each period end."""
    k = 12 // m
    btc, shock = market_paths(model, n_paths, T * k, 12, seed, gen)
    btc = btc / model.btc_price0
    g = GENERATIONS.index(gen)
    factor = np.concatenate([market_block(model, seed, b, T * k).factor[g]
                             for b in range(math.ceil(n_paths / BLOCK_PATHS))])
    mean = lambda a: np.array([[a[p, t * k:(t + 1) * k].mean() for t in range(T)]  # noqa
                               for p in range(n_paths)])
    end = lambda a: a[:n_paths, k - 1:T * k:k]  # noqa: E731
    return mean(btc), end(btc), mean(shock), end(shock), end(factor)


def phi(x: float) -> float:
    """Standard normal CDF."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def grid_pd(curve, t: int, m: int) -> float:
    """Cumulative PD at the end of 0-based period t: linear in years, flat after."""
    years = (t + 1) / m
    pts = [0.0, *curve]
    k = min(math.floor(years), len(curve))
    if k >= len(curve):
        return pts[-1]
    return pts[k] * (1 - (years - k)) + pts[k + 1] * (years - k)


def default_period(curve, u: float, T: int, m: int) -> int:
    for t in range(T):
        if grid_pd(curve, t, m) >= u:
            return t
    return T


def naive_metrics(ex: FacilityExposure, model: MarketModel, n_paths: int, seed: int,
                  m: int, default_dscr: float = 1.0) -> pd.DataFrame:
    """Every metric recomputed path by path and period by period with Python floats."""
    out = {}
    beta = model.collateral_beta
    r = model.customer_correlation
    for f, fid in enumerate(ex.facility_ids):
        T = int(ex.n_periods_f[f])
        bm, be, sm, se, fe = market_for(model, n_paths, T, m, seed, ex.generation[f])
        idio = np.concatenate([idiosyncratic_normals(seed, fid, b)
                               for b in range(math.ceil(n_paths / BLOCK_PATHS))], axis=1)
        n1 = ncov = nltv = ndef = nrefi = ncust = nstop = 0
        losses, pvs, rates, mins, taus = [], [], [], [], []
        h = ex.crypto_haircut[f]
        for p in range(n_paths):
            y = fe[p, T - 1]
            uc = phi(math.sqrt(r) * y + math.sqrt(1 - r) * idio[0, p])
            ub = phi(math.sqrt(r) * y + math.sqrt(1 - r) * idio[1, p])
            tc = default_period(ex.counterparty_pd[f], uc, T, m)
            tb = default_period(ex.backstop_pd[f], ub, T, m)
            stop = max(tc, tb) if ex.has_backstop[f] else tc
            if not ex.contract_revenue[f, :T].any():
                stop = tc = T
            nstop += stop < T
            reserve, units = ex.liquidity[f], ex.btc_held[f]
            tau = None
            hit1 = hitcov = hitltv = False
            mn = math.inf
            cfs, units_at = [], []
            for t in range(T):
                s_, price = float(sm[p, t]), float(be[p, t]) * model.btc_price0
                cf = (ex.merchant_revenue[f, t] * s_ + ex.other_cfads[f, t]
                      + ex.mining_cfads[f, t] * bm[p, t])
                if t < stop:
                    cf += ex.contract_revenue[f, t]
                if t == stop and stop == tc:
                    cf += ex.termination_payment[f, t]
                if t >= stop + ex.relet_lag[f]:
                    cf += ex.relet_revenue[f, t] * s_
                cfs.append(cf)
                units_at.append(units)
                cover = ex.collateral_value[f, t] * float(se[p, t]) ** beta \
                    + ex.btc_held[f] * price
                hitltv |= ex.debt_outstanding[f, t] > cover
                ds = ex.debt_service[f, t]
                need = default_dscr * ds - cf if ds > 0 else -max(cf, 0.0)
                if ds > 0:
                    d = cf / ds
                    mn = min(mn, d)
                    hit1 |= d < 1.0
                    hitcov |= d < ex.covenant_dscr[f]
                sale = (1 - h) * price
                if ex.liquidity[f] == 0 and ex.btc_held[f] == 0:
                    short = ds > 0 and cf / ds < default_dscr  # no liquidity: DSCR decides
                else:
                    short = need > reserve + units * sale
                if tau is None and short:
                    tau = t
                if need <= reserve:
                    reserve = min(ex.liquidity[f], reserve - need)
                else:
                    units = max(units - (need - reserve) / sale, 0.0) if sale > 0 else 0.0
                    reserve = 0.0
            b = int(ex.balloon_period[f])
            refi = False
            if 0 <= b < T and (tau is None or tau > b):
                cover_b = (ex.collateral_value[f, b] * float(se[p, b]) ** beta
                           + units_at[b] * float(be[p, b]) * model.btc_price0)
                amount = max(ex.debt_outstanding[f, b] - ex.debt_service[f, b], 0.0)
                # An unsecured note refinances on cover alone: no LTV test.
                secured = math.isnan(ex.unsecured_recovery[f])
                refi = ((secured and ex.debt_outstanding[f, b] > ex.refi_max_ltv[f] * cover_b)
                        or cfs[b] < ex.refi_min_dscr[f] * ex.refi_debt_service_factor[f]
                        * amount)
                if refi:
                    tau = b
            n1 += hit1
            ncov += hitcov
            nltv += hitltv
            mins.append(mn if mn < math.inf else math.nan)
            if tau is None:
                losses.append(0.0)
                pvs.append(0.0)
                continue
            taus.append(tau)
            ndef += 1
            nrefi += refi
            ncust += stop <= tau
            ead = ex.debt_outstanding[f, tau]
            if math.isnan(ex.unsecured_recovery[f]):
                rec = (ex.liquidation_factor[f] * ex.collateral_value[f, tau]
                       * float(se[p, tau]) ** beta
                       + (1 - h) * units_at[tau] * float(be[p, tau]) * model.btc_price0)
                loss = max(ead - rec, 0.0)
            else:
                loss = (1 - ex.unsecured_recovery[f]) * ead
            losses.append(loss)
            pvs.append(loss * (1 + ex.discount_rate[f]) ** -(tau + 1))
            rates.append(loss / ead if ead > 0 else 0.0)
        losses_desc = sorted(losses, reverse=True)
        annuity = exposure_years = 0.0
        for t in range(T):
            surv = 1 - sum(1 for x in taus if x <= t) / n_paths
            exposure_years += ex.debt_outstanding[f, t] * surv / m
            annuity += ex.debt_outstanding[f, t] * surv / m * (1 + ex.discount_rate[f]) ** -(t + 1)
        row = {
            "p_dscr_below_1": n1 / n_paths,
            "p_dscr_below_covenant": ncov / n_paths,
            "p_ltv_above_1": nltv / n_paths,
            "pd": ndef / n_paths,
            "pd_payment": (ndef - nrefi) / n_paths,
            "pd_refinancing": nrefi / n_paths,
            "pd_customer_driven": ncust / n_paths,
            "p_contract_stop": nstop / n_paths,
            "n_defaults": ndef,
            "lgd": sum(rates) / len(rates) if rates else math.nan,
            "expected_loss": sum(losses) / n_paths,
            "pv_expected_loss": sum(pvs) / n_paths,
            "risky_annuity": annuity,
            "expected_exposure_years": exposure_years,
            "cvar_95": tail_mean(losses_desc, 0.05),
            "cvar_99": tail_mean(losses_desc, 0.01),
            "min_dscr_q05": type7(mins, 0.05),
            "min_dscr_q50": type7(mins, 0.50),
            "min_dscr_q95": type7(mins, 0.95),
        }
        for year in range(1, math.ceil(T / m) + 1):
            end_t = min(year * m, T) - 1
            row[f"cum_pd_y{year}"] = sum(1 for x in taus if x <= end_t) / n_paths
        out[fid] = row
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
    generation_correlation=st.floats(0.0, 1.0),
    customer_correlation=st.floats(0.0, 0.9),
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
        **draw(credit_terms(n_fac, T, table, per_fac)),
    )


@st.composite
def credit_terms(draw, n_fac, T, table, per_fac):
    """Customer, backstop, liquidity, refinancing, seniority and discounting terms."""
    years = draw(st.integers(1, 4))
    curve = st.lists(st.floats(0.0, 0.4), min_size=years, max_size=years).map(
        lambda x: np.minimum(np.cumsum(x), 1.0))
    if not draw(st.booleans()):
        return {}
    return dict(
        contract_revenue=table(st.sampled_from([0.0, 60.0, 150.0])),
        relet_revenue=table(st.sampled_from([0.0, 40.0])),
        termination_payment=table(st.sampled_from([0.0, 100.0])),
        relet_lag=per_fac(st.integers(0, 3)),
        counterparty_pd=np.array([draw(curve) for _ in range(n_fac)]),
        backstop_pd=np.array([draw(curve) for _ in range(n_fac)]),
        has_backstop=per_fac(st.booleans()),
        liquidity=per_fac(st.sampled_from([0.0, 50.0, 300.0])),
        unsecured_recovery=per_fac(st.sampled_from([math.nan, 0.0, 0.4])),
        balloon_period=per_fac(st.integers(-1, T - 1)),
        refi_max_ltv=per_fac(st.floats(0.3, 1.5)),
        refi_min_dscr=per_fac(st.sampled_from([0.0, 1.2])),
        refi_debt_service_factor=per_fac(st.sampled_from([0.0, 0.05, 0.3])),
        generation=per_fac(st.sampled_from(GENERATIONS)).tolist(),
        discount_rate=per_fac(st.sampled_from([0.0, 0.01])),
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
        assert 0.50 <= mm.btc_vol <= 0.70          # docs/sources.md: BTC vol 50-70%
        assert 0.20 <= mm.jump_size <= 0.30        # docs/sources.md: J 20-30%
        assert mm.rho in (0.0, 0.3, 0.6)           # docs/sources.md: rho stress inputs
        assert 4 <= mm.t_df <= 6                   # docs/sources.md: nu 4-6
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

    def test_gbm_terminal_probability_matches_closed_form(self):
        mm = MarketModel(btc_drift=0.05, btc_vol=0.6, rho=0.5)
        n = 20_000
        btc, _ = simulate_drivers(mm, n, 24, 12, rng=11)
        for col, barrier in [(11, 60_000.0), (23, 45_000.0), (23, 120_000.0)]:
            years = (col + 1) / 12
            p = gbm_prob_below(mm.btc_price0, barrier, mm.btc_drift, mm.btc_vol, years)
            se = math.sqrt(p * (1 - p) / n)
            assert within(float(np.mean(btc[:, col] < barrier)), p, se)

    def test_t_copula_keeps_monthly_margins_and_variance_but_fattens_the_horizon(self):
        # One chi-square per path: each month's innovation is still N(0, 1) (so the first
        # month is exactly log-normal), the innovations stay uncorrelated (so the
        # 24-month log return keeps the GBM's variance), but they share W, so the
        # 24-month law is a scale mixture with fatter tails: P(|z| > 2.576) > 1%.
        mm = MarketModel(btc_drift=0.05, btc_vol=0.6, rho=0.5, copula="t", t_df=4.0)
        n = 20_000
        btc, _ = simulate_drivers(mm, n, 24, 12, rng=11)
        for barrier in (80_000.0, 100_000.0):
            p = gbm_prob_below(mm.btc_price0, barrier, mm.btc_drift, mm.btc_vol, 1 / 12)
            assert within(float(np.mean(btc[:, 0] < barrier)), p, math.sqrt(p * (1 - p) / n))
        z = (np.log(btc[:, 23] / mm.btc_price0) - (0.05 - 0.18) * 2) / (0.6 * math.sqrt(2))
        assert abs(float(z.var()) - 1.0) < 0.08
        assert float(np.mean(np.abs(z) > 2.576)) > 0.01 + 4 * math.sqrt(0.01 * 0.99 / n)

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


class TestMarketPaths:
    def test_more_paths_extend_fewer(self):
        for mm in (MarketModel(), MarketModel(copula="t")):
            a_btc, a_shock = market_paths(mm, 1500, 6, 12, seed=2)
            b_btc, b_shock = market_paths(mm, 2100, 6, 12, seed=2)
            assert np.array_equal(a_btc, b_btc[:1500])
            assert np.array_equal(a_shock, b_shock[:1500])

    def test_paths_differ_by_seed_and_generation(self):
        a, sa = market_paths(None, 10, 6, 12, seed=2)
        c, _ = market_paths(None, 10, 6, 12, seed=3)
        b, sb = market_paths(None, 10, 6, 12, seed=2, generation="blackwell")
        assert not np.array_equal(a, c) and np.array_equal(a, b)
        assert not np.array_equal(sa, sb)


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
        # 1.0 year, annual periods: shock 1, .75, .75). BTC stays at 90,000. Facility A
        # holds 0.00005 BTC (worth 4.5, 3.6 after the 20% haircut):
        #   CFADS = 100 s_t + 40 = 140, 115, 115; DS 100, 120, 100
        #   DSCR = 1.40, 0.958333, 1.15; period 2 is short by 5 > 3.6 of treasury: default
        #   EAD = 200; recovery = 0.6 x (200 x .75) + 3.6 = 93.6
        #   loss = 106.4, LGD = 0.532, EL rate = 106.4 / 300
        #   LTV: 300/254.5 above 1
        #   risky annuity = 300 x 1 (survives period 1 only, annual, undiscounted)
        # Facility A2: A with 0.001 BTC (72 after the haircut): the treasury pays the 5.
        # Facility B: DS 100 every period: DSCR 1.40, 1.15, 1.15 -> no default, covenant
        #   breached; debt 400 in period 1 > 250 + 90 -> LTV above 1.
        mm = MarketModel(btc_vol=0.0, rent_sigma=0.0, jump_years=(1.0,), jump_size=0.25)
        ex = FacilityExposure(
            facility_ids=["A", "A2", "B"], merchant_revenue=[100.0, 100.0, 100.0],
            mining_cfads=[40.0, 40.0, 40.0],
            debt_service=[[100.0, 120.0, 100.0]] * 2 + [[100.0, 100.0, 100.0]],
            debt_outstanding=[[300.0, 200.0, 100.0]] * 2 + [[400.0, 200.0, 100.0]],
            collateral_value=[250.0, 200.0, 150.0], liquidation_factor=0.6,
            btc_held=[0.00005, 0.001, 0.001], crypto_haircut=0.2, covenant_dscr=1.2)
        res = simulate(ex, mm, n_paths=50, seed=3, periods_per_year=1)
        a, a2, b = res.loc["A"], res.loc["A2"], res.loc["B"]
        assert a.pd == 1.0 and a.p_dscr_below_1 == 1.0 and a.p_dscr_below_covenant == 1.0
        assert a.pd_payment == 1.0 and a.pd_refinancing == 0.0 and a.n_defaults == 50
        assert a.p_ltv_above_1 == 1.0
        assert a.lgd == pytest.approx(0.532, rel=1e-12)
        assert a.expected_loss == pytest.approx(106.4, rel=1e-12)
        assert a.pv_expected_loss == pytest.approx(106.4, rel=1e-12)
        assert a.cvar_95 == pytest.approx(106.4, rel=1e-12)
        assert a.cvar_99 == pytest.approx(106.4, rel=1e-12)
        assert a.el_rate == pytest.approx(106.4 / 300.0, rel=1e-12)
        assert a.risky_annuity == a.expected_exposure_years == pytest.approx(300.0)
        assert (a.cum_pd_y1, a.cum_pd_y2, a.cum_pd_y3) == (0.0, 1.0, 1.0)
        assert a.min_dscr_q05 == a.min_dscr_q95 == pytest.approx(115 / 120, rel=1e-12)
        assert a.pd_se == 0.0 and a.el_se == pytest.approx(0.0, abs=1e-9)
        assert a2.pd == 0.0 and a2.p_dscr_below_1 == 1.0
        assert a2.risky_annuity == pytest.approx(600.0)
        assert b.pd == 0.0 and math.isnan(b.lgd) and b.expected_loss == 0.0
        assert b.p_dscr_below_covenant == 1.0 and b.p_ltv_above_1 == 1.0
        assert b.min_dscr_q50 == pytest.approx(1.15, rel=1e-12)
        assert list(res.columns) == [
            "p_dscr_below_1", "p_dscr_below_covenant", "p_ltv_above_1", "pd", "pd_se",
            "pd_payment", "pd_refinancing", "pd_customer_driven", "p_contract_stop",
            "n_defaults", "lgd", "expected_loss", "el_se", "el_rate", "pv_expected_loss",
            "pv_el_se", "risky_annuity", "expected_exposure_years", "cvar_95", "cvar_99",
            "min_dscr_q05", "min_dscr_q50", "min_dscr_q95", "n_paths", "seed",
            "cum_pd_y1", "cum_pd_y2", "cum_pd_y3"]
        assert res.index.name == "facility_id" and (res.n_paths == 50).all()

    def test_collateral_beta_and_drift(self):
        # Quarterly periods, no volatility, BTC drifting at 10% a year. A launch at 0.25
        # years (J = 0.5) hits period 2 (it starts at 0.25): shocks 1, 0.5.
        #   CFADS = 200, 0 against DS 100, 100 -> default in period 2; EAD = 1,000
        #   GPU collateral = 800 x 0.5^beta = 800 x 0.25 = 200, x 0.5 recovered = 100
        #   treasury = 0.001 x 90,000 e^(0.1 x 0.5) = 94.61, x (1 - 0.5) = 47.31: it cannot
        #   pay the 100 short, and is recovered at default
        #   loss = 1,000 - 100 - 47.31 = 852.69
        mm = MarketModel(btc_vol=0.0, btc_drift=0.1, rent_sigma=0.0, jump_years=(0.25,),
                         jump_size=0.5, collateral_beta=2.0)
        ex = FacilityExposure(facility_ids="C", merchant_revenue=[200.0, 0.0],
                              debt_service=[100.0, 100.0], debt_outstanding=[1000.0, 1000.0],
                              collateral_value=[800.0, 800.0], liquidation_factor=0.5,
                              btc_held=0.001, crypto_haircut=0.5)
        res = simulate(ex, mm, n_paths=10, seed=0, periods_per_year=4).loc["C"]
        treasury = 0.001 * 90_000 * math.exp(0.1 * 0.5) * 0.5
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
        # a payment default is a DSCR < 1 (default_dscr = 1) that liquidity cannot pay
        assert (res.pd_payment <= res.p_dscr_below_1).all()
        dry = (ex.btc_held == 0) & (ex.liquidity == 0)
        assert (res.pd_payment[dry] == res.p_dscr_below_1[dry]).all()
        dry &= ex.balloon_period < 0
        assert (res.pd[dry] == res.p_dscr_below_1[dry]).all()
        assert np.allclose(res.pd_payment + res.pd_refinancing, res.pd)

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
        _, shock = market_paths(None, 3000, 24, 12, seed=2)
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


# --------------------------------------------------------------------------- credit terms


def contract_exposure(ids=("A",), T=36, **kw) -> FacilityExposure:
    """A contract-backed facility: without its contract it cannot pay its debt."""
    base = dict(merchant_revenue=np.full(T, 20.0), other_cfads=np.full(T, -10.0),
                contract_revenue=np.full(T, 90.0), relet_revenue=np.full(T, 45.0),
                relet_lag=3, debt_service=np.full(T, 70.0),
                debt_outstanding=np.linspace(2000, 100, T),
                collateral_value=np.linspace(1500, 300, T), liquidation_factor=0.6,
                counterparty_pd=[0.05, 0.11, 0.18], backstop_pd=[0.001, 0.003, 0.006])
    base.update(kw)
    return FacilityExposure(facility_ids=ids, **base)


class TestCreditTerms:
    """Common random numbers make each comparison pathwise: the PD cannot rise."""

    def run(self, ex, **kw):
        return simulate(ex, MarketModel(jump_years=()), n_paths=2000, seed=5, **kw)

    def test_better_customer_rating_never_raises_pd(self):
        worse = contract_exposure(counterparty_pd=[0.10, 0.20, 0.30])
        better = contract_exposure(counterparty_pd=[0.01, 0.03, 0.06])
        a, b = self.run(worse).iloc[0], self.run(better).iloc[0]
        assert b.pd <= a.pd and b.p_contract_stop <= a.p_contract_stop
        assert a.pd - b.pd > 0.05 and a.pd_customer_driven > b.pd_customer_driven

    def test_a_backstop_never_raises_pd(self):
        alone, backed = contract_exposure(), contract_exposure(has_backstop=True)
        a, b = self.run(alone).iloc[0], self.run(backed).iloc[0]
        assert b.pd <= a.pd and b.p_contract_stop < a.p_contract_stop

    @pytest.mark.parametrize("reserve", [0.0, 50.0, 200.0, 1000.0])
    def test_a_larger_reserve_never_raises_pd(self, reserve):
        small = self.run(contract_exposure(liquidity=reserve)).iloc[0]
        large = self.run(contract_exposure(liquidity=reserve + 100.0)).iloc[0]
        assert large.pd <= small.pd

    def test_a_looser_refinancing_ltv_never_raises_pd(self):
        T = 24
        pds = []
        for ltv in (0.5, 0.8, 1.0, 1.5):
            ex = exposure(T=T, balloon_period=T - 1, refi_max_ltv=ltv,
                          debt_outstanding=np.full(T, 600.0))
            pds.append(self.run(ex).iloc[0])
        assert all(b.pd <= a.pd for a, b in itertools.pairwise(pds))
        assert pds[0].pd_refinancing > pds[-1].pd_refinancing

    def test_refinancing_coverage_test(self):
        # CFADS in the balloon period is about 90; the refinanced 540 at a factor of 0.1
        # costs 54 a period: 1.2x coverage needs 64.8 (passes), 2x needs 108 (fails).
        T = 12
        base = dict(T=T, balloon_period=T - 1, refi_max_ltv=10.0, refi_debt_service_factor=0.1,
                    debt_outstanding=np.full(T, 600.0), debt_service=np.full(T, 60.0),
                    other_cfads=np.zeros(T), merchant_revenue=np.zeros(T),
                    mining_cfads=np.zeros(T), contract_revenue=np.full(T, 90.0))
        ok = self.run(exposure(refi_min_dscr=1.2, **base)).iloc[0]
        bad = self.run(exposure(refi_min_dscr=2.0, **base)).iloc[0]
        assert ok.pd == 0.0 and bad.pd == bad.pd_refinancing == 1.0
        assert bad.cum_pd_y1 == 1.0

    def test_unsecured_loses_one_minus_recovery(self):
        ex = exposure(T=6, other_cfads=np.full(6, -100.0), unsecured_recovery=0.4,
                      debt_outstanding=np.full(6, 500.0))
        res = self.run(ex).iloc[0]
        assert res.pd == 1.0 and res.lgd == pytest.approx(0.6)
        assert res.expected_loss == pytest.approx(300.0)

    def test_fair_spread_identity_and_discounting(self):
        ex = contract_exposure(discount_rate=0.008)
        res = self.run(ex).iloc[0]
        spread = res.pv_expected_loss / res.risky_annuity
        assert spread * res.risky_annuity == pytest.approx(res.pv_expected_loss)
        assert 0 < res.pv_expected_loss < res.expected_loss
        assert res.risky_annuity < res.expected_exposure_years

    def test_cum_pd_by_year_rises_to_pd(self):
        res = self.run(contract_exposure()).iloc[0]
        years = [res[f"cum_pd_y{y}"] for y in (1, 2, 3)]
        assert years == sorted(years) and years[-1] == res.pd

    def test_customer_defaults_follow_the_rating_term_structure(self):
        # No market dependence (r = 0): the contract stops within 3 years with the
        # 3-year cumulative PD, within the binomial standard error.
        ex = contract_exposure(T=36)
        res = simulate(ex, MarketModel(jump_years=(), customer_correlation=0.0),
                       n_paths=4096, seed=2).iloc[0]
        assert within(res.p_contract_stop, 0.18, math.sqrt(0.18 * 0.82 / 4096))

    def test_customer_defaults_cluster_in_weak_markets(self):
        # With r > 0 the customer's default is more likely on paths where its generation's
        # rents fell: P(stop | weak market) > P(stop).
        ex = contract_exposure(T=36, merchant_revenue=np.zeros(36), other_cfads=np.zeros(36),
                               relet_revenue=np.zeros(36), debt_service=np.full(36, 80.0))
        mm = MarketModel(jump_years=(), customer_correlation=0.5)
        _, losses = simulate(ex, mm, n_paths=4096, seed=2, return_losses=True)
        _, shock = market_paths(mm, 4096, 36, 12, seed=2)
        weak = shock[:, -1] < np.quantile(shock[:, -1], 0.2)
        stopped = losses[0] > 0
        assert stopped[weak].mean() > stopped.mean() + 0.05

    def test_two_facilities_on_one_generation_see_one_market(self):
        # Same terms, different ids, same generation: identical market, so identical
        # merchant-only results; another generation differs.
        ex = exposure(ids=("A", "B", "C"), T=24, generation=["hopper", "hopper", "rubin"])
        _, losses = simulate(ex, n_paths=1500, seed=4, return_losses=True)
        assert np.array_equal(losses[0], losses[1]) and not np.array_equal(losses[0], losses[2])


class TestMarketTail:
    def test_t_copula_joint_tail_at_24_months_exceeds_gaussian(self):
        # BTC and the hopper index at 24 months, each below its own 2.5% quantile together
        # (1% is too few paths to tell): one chi-square per path keeps the t's tail
        # dependence over the horizon (a chi-square per period averaged it away).
        n = 30 * BLOCK_PATHS
        joint = {}
        for copula in ("gaussian", "t"):
            mm = MarketModel(rho=0.3, copula=copula, t_df=4.0, jump_years=())
            btc, shock = market_paths(mm, n, 24, 12, seed=1)
            qb, qs = np.quantile(btc[:, -1], 0.025), np.quantile(shock[:, -1], 0.025)
            joint[copula] = float(np.mean((btc[:, -1] <= qb) & (shock[:, -1] <= qs)))
        se = math.sqrt((joint["t"] + joint["gaussian"]) / n)  # of the difference
        assert joint["t"] - joint["gaussian"] > 3.5 * se
