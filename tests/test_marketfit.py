"""Tests for gpucredit.marketfit: round trips (simulate from known parameters with an
independent simulator written here, calibrate, recover within standard errors), coverage
of the standard errors over many samples, and the closed forms of the simple estimators."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gpucredit.errors import GpuCreditError
from gpucredit.marketfit import (
    calibrate_market,
    fit_basis,
    fit_btc,
    fit_rent_cycle,
    simulate_rent_fan,
)

YEAR = 365.25
TRUE = {"kappa": (2.0, 1.2), "sigma": (0.35, 0.30), "deflation": (0.20, 0.30),
        "jump": 0.25, "corr": 0.7, "btc_vol": 0.6, "rho": 0.4, "rent0": (3.0, 1.4)}
LAUNCH = pd.Timestamp("2025-06-01")


def _dates(rng, n=300, start="2023-01-02"):
    gaps = rng.integers(4, 11, n - 1)  # irregular: 4 to 10 days apart
    return pd.Timestamp(start) + pd.to_timedelta(np.concatenate([[0], np.cumsum(gaps)]), "D")


def _simulate(seed, n=800):
    """Two OU rent cycles and log BTC driven by correlated Brownian motions, stepped
    exactly: the joint covariance of the three integrals over each gap, by hand."""
    rng = np.random.default_rng(seed)
    dates = _dates(rng, n)
    t = np.asarray((dates - dates[0]).days) / YEAR
    k = np.array([*TRUE["kappa"], 0.0])
    s = np.array([*TRUE["sigma"], TRUE["btc_vol"]])
    c, r = TRUE["corr"], TRUE["rho"]
    R = np.array([[1, c, r], [c, 1, r * c], [r, r * c, 1]])
    z = np.zeros((n, 3))
    z[0, :2] = rng.standard_normal(2) * s[:2] / np.sqrt(2 * k[:2])
    z[0, :2] = np.linalg.cholesky(R[:2, :2]) @ rng.standard_normal(2) * s[:2] / np.sqrt(
        2 * k[:2])
    for i in range(1, n):
        h = t[i] - t[i - 1]
        cov = np.empty((3, 3))
        for a in range(3):
            for b in range(3):
                kk = k[a] + k[b]
                integral = (1 - math.exp(-kk * h)) / kk if kk > 0 else h
                cov[a, b] = R[a, b] * s[a] * s[b] * integral
        z[i] = np.exp(-k * h) * z[i - 1] + np.linalg.cholesky(cov) @ rng.standard_normal(3)
    steps = (dates >= LAUNCH).astype(float)
    rents = {}
    for g, name in enumerate(("H100", "A100")):
        trend = (math.log(TRUE["rent0"][g]) + t * math.log(1 - TRUE["deflation"][g])
                 + steps * math.log(1 - TRUE["jump"]))
        rents[name] = np.exp(trend + z[:, g])
    btc = 90_000 * np.exp(z[:, 2])
    frame = pd.concat([pd.DataFrame({"date": dates, "gpu_model": m, "kind": "spot",
                                     "rent": v}) for m, v in rents.items()])
    return frame, pd.DataFrame({"date": dates, "price": btc})


def _within(est, se, true, z=3.0):
    return abs(est - true) <= z * se


class TestRoundTrip:
    @pytest.mark.parametrize("seed", [1, 2, 3])
    def test_recovers_every_parameter_within_its_errors(self, seed):
        rents, btc = _simulate(seed)
        fit = calibrate_market(rents, btc, launch_dates={"H100": [LAUNCH], "A100": [LAUNCH]})
        for g, m in enumerate(("H100", "A100")):
            f = fit.rent_fits[m]
            assert _within(f.rent_kappa, f.rent_kappa_se, TRUE["kappa"][g])
            assert _within(f.rent_sigma, f.rent_sigma_se, TRUE["sigma"][g])
            assert _within(f.deflation, f.deflation_se, TRUE["deflation"][g])
            assert _within(f.jump_size, f.jump_se, TRUE["jump"])
            # the errors are informative, not wide enough to pass anything
            assert f.rent_sigma_se < 0.1 * f.rent_sigma and f.jump_se < 0.15
        assert _within(fit.corr[0, 1], fit.corr_se[0, 1], TRUE["corr"])
        assert _within(fit.btc_vol, fit.btc_vol_se, TRUE["btc_vol"])
        # BTC drives H100 with rho and A100 with rho x corr (see _simulate)
        for m, true in (("H100", TRUE["rho"]), ("A100", TRUE["rho"] * TRUE["corr"])):
            rho, se, _ = fit.rho_by_model[m]
            assert _within(rho, se, true)
        assert fit.rho in (fit.rho_by_model["H100"][0], fit.rho_by_model["A100"][0])
        assert fit.corr_se[0, 1] < 0.1 and fit.rho_se < 0.1

    def test_standard_errors_cover_about_95_percent(self):
        hits = {"kappa": 0, "sigma": 0, "deflation": 0, "jump": 0}
        n = 40
        for seed in range(100, 100 + n):
            rents, _ = _simulate(seed, n=500)
            part = rents[rents["gpu_model"] == "H100"]
            f = fit_rent_cycle(part["date"], part["rent"], launch_dates=[LAUNCH])
            hits["kappa"] += _within(f.rent_kappa, f.rent_kappa_se, TRUE["kappa"][0], 1.96)
            hits["sigma"] += _within(f.rent_sigma, f.rent_sigma_se, TRUE["sigma"][0], 1.96)
            hits["deflation"] += _within(f.deflation, f.deflation_se, TRUE["deflation"][0],
                                         1.96)
            hits["jump"] += _within(f.jump_size, f.jump_se, TRUE["jump"], 1.96)
        for name, h in hits.items():  # binomial(40, 0.95): 32 or more with 99.9%
            assert h >= 32, (name, h)

    def test_market_model_names(self):
        rents, btc = _simulate(4)
        fit = calibrate_market(rents, btc, launch_dates={"H100": [LAUNCH], "A100": [LAUNCH]})
        kw = fit.market_model_kwargs()
        assert set(kw) == {"btc_vol", "rent_kappa", "rent_sigma", "jump_size", "rho"}
        from dataclasses import fields

        from gpucredit.montecarlo import MarketModel
        assert set(kw) <= {f.name for f in fields(MarketModel)}
        d = fit.to_dict()
        assert d["generations"] == ["A100", "H100"] and len(d["corr"]) == 2
        assert d["rent_fits"]["H100"]["launch_dates"] == ["2025-06-01"]
        import json
        json.dumps(d)  # plain values only


class TestClosedForms:
    def test_btc_by_hand(self):
        dates = pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-04", "2026-01-05"]
                               + [f"2026-01-{d:02d}" for d in range(6, 12)])
        p = np.array([100, 102, 99, 101, 103, 101, 104, 102, 103, 105.0])
        fit = fit_btc(dates, p)
        dt = np.diff((dates - dates[0]).days.to_numpy()) / YEAR
        r = np.diff(np.log(p))
        mu = r.sum() / dt.sum()
        var = np.mean((r - mu * dt) ** 2 / dt)
        assert fit.btc_drift == pytest.approx(mu)
        assert fit.btc_vol == pytest.approx(math.sqrt(var))
        assert fit.btc_vol_se == pytest.approx(math.sqrt(var) / math.sqrt(2 * 9))

    def test_no_launch_inside_leaves_jump_nan(self):
        rents, _ = _simulate(5)
        part = rents[(rents["gpu_model"] == "H100") & (rents["date"] < LAUNCH)]
        f = fit_rent_cycle(part["date"], part["rent"], launch_dates=[LAUNCH])
        assert math.isnan(f.jump_size) and f.launch_dates == ()

    def test_basis_by_hand(self):
        r = pd.DataFrame({
            "date": pd.to_datetime(["2026-01-01"] * 2 + ["2026-02-01"] * 2 + ["2026-03-01"]),
            "gpu_model": "H100", "kind": ["spot", "contract"] * 2 + ["spot"],
            "rent": [2.0, 2.2, 2.1, 2.4, 2.0]})
        b = fit_basis(r)
        lr = [math.log(2.2 / 2.0), math.log(2.4 / 2.1)]
        assert b.loc["H100", "n_pairs"] == 2
        assert b.loc["H100", "basis"] == pytest.approx(sum(lr) / 2)
        assert b.loc["H100", "basis_se"] == pytest.approx(abs(lr[0] - lr[1]) / 2)


class TestRefusals:
    def test_series_too_short(self):
        with pytest.raises(GpuCreditError, match="the H100 spot rent series has 5 obs"):
            calibrate_market(pd.DataFrame({
                "date": pd.date_range("2026-01-01", periods=5, freq="W"),
                "gpu_model": "H100", "kind": "spot", "rent": [2.0, 2.1, 2.0, 1.9, 2.0]}))

    def test_unsorted_dates(self):
        with pytest.raises(GpuCreditError, match="increasing and unrepeated"):
            fit_rent_cycle(pd.to_datetime(["2026-01-02", "2026-01-01"] * 6), [2.0] * 12)


def test_fan_starts_from_the_last_cycle_and_widens():
    rents, _ = _simulate(6)
    part = rents[rents["gpu_model"] == "H100"]
    f = fit_rent_cycle(part["date"], part["rent"], launch_dates=[LAUNCH])
    fan = simulate_rent_fan(f, years=2, n_paths=4000)
    width = np.log(fan["q95"] / fan["q05"])
    assert width.iloc[0] < width.iloc[-1]
    stationary = 2 * 1.645 * f.rent_sigma / math.sqrt(2 * f.rent_kappa)
    assert width.iloc[-1] == pytest.approx(stationary, rel=0.1)
    med0 = fan["trend"].iloc[0] * math.exp(f.last_cycle * math.exp(-f.rent_kappa / 12))
    assert fan["q50"].iloc[0] == pytest.approx(med0, rel=0.02)


def test_bootstrap_removes_most_of_the_small_sample_bias_of_kappa():
    # 2.5 years of weekly-ish quotes: maximum likelihood overstates kappa on average
    plain, boot = [], []
    for seed in range(200, 206):
        rents, _ = _simulate(seed, n=130)
        part = rents[rents["gpu_model"] == "H100"]
        plain.append(fit_rent_cycle(part["date"], part["rent"]).rent_kappa)
        boot.append(fit_rent_cycle(part["date"], part["rent"], n_boot=40, seed=seed)
                    .rent_kappa)
    assert np.mean(plain) > TRUE["kappa"][0] + 1.0
    assert abs(np.mean(boot) - TRUE["kappa"][0]) < abs(np.mean(plain) - TRUE["kappa"][0])


def test_only_supported_parameters_reach_the_monte_carlo():
    from gpucredit.marketfit import MarketFit
    fit = MarketFit(btc_vol=0.55, btc_vol_se=0.05, rent_kappa=34.0, rent_kappa_se=75.0,
                    rent_sigma=0.3, rent_sigma_se=0.01, jump_size=-0.45, jump_size_se=0.1)
    assert fit.market_model_kwargs() == {"btc_vol": 0.55, "rent_sigma": 0.3}
    why = fit.model_choices()
    assert why["rent_kappa"].startswith("too uncertain")
    assert why["jump_size"] == "estimate -0.45 outside [0, 1]"
    assert why["rho"] == "not estimated"


def test_short_series_skipped_with_a_note_when_asked():
    rents, btc = _simulate(9, n=60)
    short = pd.DataFrame({"date": pd.to_datetime(["2026-01-01"]), "gpu_model": "B200",
                          "kind": "spot", "rent": [5.0]})
    fit = calibrate_market(pd.concat([rents, short]), btc.iloc[:3], short="skip")
    assert set(fit.rent_fits) == {"A100", "H100"}
    assert any(n.startswith("B200: 1 rent observations") for n in fit.notes)
    assert any(n.startswith("BTC: 3 prices") for n in fit.notes)


def test_forward_curve_from_file_rows_feeds_forward_path(tmp_path):
    from gpucredit.marketfit import forward_curve
    from gpucredit.rents import forward_path
    from gpucredit.tape.market_reader import read_market

    p = tmp_path / "fwd.csv"
    p.write_text("Series,Date,GPU model,Value,Tenor (months),Source\n"
                 "forward,2026-05-01,H100,2.50,0,x\nforward,2026-05-01,H100,2.30,6,x\n"
                 "forward,2026-06-01,H100,2.40,0,x\nforward,2026-06-01,H100,2.20,6,x\n"
                 "forward,2026-06-01,H100,2.00,12,x\n")
    day, tenors, rents = forward_curve(read_market(p).forwards, "H100", as_of="2026-06-15")
    assert str(day.date()) == "2026-06-01" and tenors.tolist() == [0, 6, 12]
    path = forward_path(tenors, rents, 8, 4, deflation=0.2)
    assert path[[0, 2, 4]] == pytest.approx([2.40, 2.20, 2.00])
    assert path[6] == pytest.approx(2.00 * 0.8 ** 0.5)
    with pytest.raises(GpuCreditError, match="no forward curve for H100 on or before 2026-04-01"):
        forward_curve(read_market(p).forwards, "H100", as_of="2026-04-01")


def test_forward_curve_at_rolls_the_curve_to_the_valuation_date(tmp_path):
    """A curve dated 2026-05-31 seen on 2026-06-30: 30 days = 12 x 30 / 365.25 months
    elapsed; the point at 0 is the log-linear rent there, passed tenors drop out, contract
    curves and other models are not used."""
    from gpucredit.marketfit import forward_curve_at
    from gpucredit.tape.market_reader import read_market

    p = tmp_path / "fwd.csv"
    p.write_text("Series,Date,GPU model,Value,Kind,Tenor (months),Source\n"
                 "forward,2026-05-31,H100,2.40,spot,0,x\n"
                 "forward,2026-05-31,H100,2.10,spot,6,x\n"
                 "forward,2026-05-31,H100,1.90,spot,12,x\n"
                 "forward,2026-06-30,H100,9.99,contract,0,x\n"
                 "forward,2026-06-30,H100,9.99,contract,6,x\n"
                 "forward,2026-07-31,H100,5.00,spot,0,a curve after the valuation date\n"
                 "forward,2026-05-31,A100,1.20,,0,x\n")
    forwards = read_market(p).forwards
    day, tenors, rents = forward_curve_at(forwards, "H100", "2026-06-30")
    e = 12 * 30 / 365.25
    assert str(day.date()) == "2026-05-31"
    assert tenors == pytest.approx([0.0, 6 - e, 12 - e])
    w = e / 6
    assert rents == pytest.approx([2.40 ** (1 - w) * 2.10 ** w, 2.10, 1.90])
    assert forward_curve_at(forwards, "A100", "2026-06-30")[2].tolist() == [1.20]
    assert forward_curve_at(forwards, "B200", "2026-06-30") is None
    same_day = forward_curve_at(forwards, "H100", "2026-05-31")
    assert same_day[1].tolist() == [0, 6, 12] and same_day[2].tolist() == [2.40, 2.10, 1.90]
