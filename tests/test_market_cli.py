"""Tests for gpucredit.market_cli, gpucredit.market_report and gpucredit.excel.fit_report:
the demo run end to end, outputs whole or not at all, clear refusals."""

from __future__ import annotations

import json

import numpy as np
import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from gpucredit.market_cli import calibrate, demo_market_path
from gpucredit.market_report import fit_report_tables
from gpucredit.marketfit import calibrate_market
from gpucredit.residual_bands import fit_bands, used_price_points
from gpucredit.tape.market_reader import read_market

DEMO_ARGS = ["--min-points", "8", "--skip-short", "--band-min-points", "5"]


def test_bundled_data_set_reads_and_cites_every_row():
    data = read_market(demo_market_path())
    for frame in (data.rents, data.used_prices, data.btc):
        assert frame["source"].str.len().min() > 20  # a citation, not a placeholder
    assert set(data.rents["gpu_model"]) >= {"H100", "A100", "B200"}
    assert len(data.used_prices) >= 8


def test_demo_run_writes_report_and_json(tmp_path):
    out, js = tmp_path / "fit.xlsx", tmp_path / "p.json"
    res = CliRunner().invoke(calibrate, ["--demo", "-o", str(out), "--json", str(js),
                                         *DEMO_ARGS])
    assert res.exit_code == 0, res.output
    assert "Market model calibration" in res.output and "rent_kappa" in res.output
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["Parameters", "Rents", "Bands", "Data"]
    assert len(wb["Rents"]._charts) == 1 and len(wb["Bands"]._charts) == 1
    params = [wb["Parameters"].cell(r, 1).value for r in range(5, 12)]
    assert params[:5] == ["btc_vol", "rent_kappa", "rent_sigma", "jump_size", "rho"]
    payload = json.loads(js.read_text())
    assert set(payload["choices"]) == {"btc_vol", "rent_kappa", "rent_sigma", "jump_size",
                                       "rho"}
    # what the Monte Carlo takes is exactly what the choices call fitted
    assert set(payload["market_model"]) == {k for k, v in payload["choices"].items()
                                            if v == "fitted"}
    assert payload["fit"]["rent_fits"]["H100"]["n_points"] == 10


def test_bad_file_refused_and_nothing_written(tmp_path):
    bad = tmp_path / "market.csv"
    bad.write_text("Series,Date,GPU model,Value,Kind,Source\nrent,2026-01-05,H100,abc,spot,x\n")
    out = tmp_path / "fit.xlsx"
    res = CliRunner().invoke(calibrate, [str(bad), "-o", str(out)])
    assert res.exit_code == 2
    assert "market.csv, row 2, column D (Value): 'abc' is not a number" in res.output
    assert not out.exists() and bad.read_text().startswith("Series")


def test_short_series_stops_without_skip(tmp_path):
    res = CliRunner().invoke(calibrate, ["--demo", "-o", str(tmp_path / "f.xlsx")])
    assert res.exit_code == 2
    assert "observation; fitting it needs at least 10" in res.output


def test_output_may_not_be_the_input(tmp_path):
    src = tmp_path / "m.csv"
    src.write_text(demo_market_path().read_text())
    res = CliRunner().invoke(calibrate, [str(src), "-o", str(src)])
    assert res.exit_code == 2 and "is the market file itself" in res.output
    assert src.read_text() == demo_market_path().read_text()


def test_report_tables_follow_the_core():
    data = read_market(demo_market_path())
    fit = calibrate_market(data.rents, data.btc, min_points=8, short="skip")
    bands = fit_bands(used_price_points(data.used_prices), min_points=5)
    t = fit_report_tables(data.rents, fit, bands, fan_years=2)
    hist = t.history["H100"]
    assert hist["observed"].notna().sum() == 10 and hist["q50"].notna().sum() == 24
    np.testing.assert_allclose(hist["trend"].iloc[:10],
                               fit.rent_fits["H100"].trend(hist["date"].iloc[:10]))
    c = t.collateral[(t.collateral["gpu_model"] == "H100") & (t.collateral["quantile"] == 0.1)]
    # LTV of a loan of half the launch price = 0.5 x launch price / value
    np.testing.assert_allclose(c["ltv"], 0.5 * 30_000 / c["value_per_gpu"])
    np.testing.assert_allclose(c["value_per_gpu"],
                               30_000 * bands.value("H100", c["age"].to_numpy(), 0.1))
    assert t.bands.filter(like="preset").shape[1] == 2
    # the fan steps down by the Monte Carlo's default jump (25%: the fitted one is refused)
    # at Rubin's volume date (2026-10-01, gpucredit.presets.GENERATIONS)
    fan = hist.iloc[10:].set_index("date")
    before, after = fan.index[fan.index < "2026-10-01"][-1], fan.index[fan.index > "2026-10-01"][0]
    years = (after - before).total_seconds() / 86400 / 365.25
    d = fit.rent_fits["H100"].deflation
    assert fan.loc[after, "trend"] / fan.loc[before, "trend"] == pytest.approx(
        0.75 * (1 - d) ** years)


@pytest.mark.parametrize("flags", [[], ["--demo", "x.csv"]])
def test_exactly_one_source(flags, tmp_path):
    res = CliRunner().invoke(calibrate, [*flags, "-o", str(tmp_path / "f.xlsx")])
    assert res.exit_code == 2 and "give a market file or --demo" in res.output


def test_report_has_the_observations_with_sources(tmp_path):
    out = tmp_path / "fit.xlsx"
    CliRunner().invoke(calibrate, ["--demo", "-o", str(out), *DEMO_ARGS])
    data = pd.read_excel(out, sheet_name="Data", header=2, engine="openpyxl")
    assert len(data) == 27 and data["source"].notna().all()


# --------------------------------------------------------------------------- recalc --market

def _history_csv(path):
    """A long synthetic history (tests.test_marketfit's exact simulation) as a market file."""
    from tests.test_marketfit import _simulate

    rents, btc = _simulate(11)
    rows = [("rent", d.date().isoformat(), g, v, "spot", "synthetic")
            for d, g, v in rents[["date", "gpu_model", "rent"]].itertuples(index=False)]
    rows += [("btc", d.date().isoformat(), "", v, "", "synthetic")
             for d, v in btc.itertuples(index=False)]
    pd.DataFrame(rows, columns=["Series", "Date", "GPU model", "Value", "Kind", "Source"]) \
        .to_csv(path, index=False)
    return path


def test_market_file_feeds_the_fitted_parameters_and_no_jump(tmp_path):
    from gpucredit.market_cli import market_from

    path = _history_csv(tmp_path / "history.csv")
    data = read_market(path)
    fit = calibrate_market(data.rents, data.btc, short="skip")
    expected = {k: v for k, v in fit.market_model_kwargs().items() if k != "jump_size"}
    kwargs, forwards, text = market_from(path)
    assert kwargs == expected and {"btc_vol", "rent_sigma", "rho"} <= set(kwargs)
    assert text.startswith("fitted from history.csv: ") and "jump_size" not in kwargs
    assert forwards is None  # a history with no forward rows sets no rent paths
    # the JSON 'calibrate --json' writes gives the same
    js = tmp_path / "p.json"
    res = CliRunner().invoke(calibrate, [str(path), "-o", str(tmp_path / "f.xlsx"),
                                         "--json", str(js)])
    assert res.exit_code == 0, res.output
    assert market_from(js)[0] == expected


def test_recalc_with_a_market_file_runs_the_fitted_market(tmp_path):
    from gpucredit.cli import main

    js = tmp_path / "p.json"
    js.write_text(json.dumps({"market_model": {"rent_sigma": 0.6, "btc_vol": 0.9}}))
    runs = {}
    for name, extra in (("fitted", ["--market", str(js)]), ("plain", [])):
        out = tmp_path / name
        res = CliRunner().invoke(main, ["recalc", "workbooks/demo_tape.xlsx", "-o",
                                        str(out / "r.xlsx"), "--csv", str(out), "--paths",
                                        "200", "--seed", "3", "--no-scenarios", "--quiet",
                                        *extra])
        assert res.exit_code == 0, res.output
        runs[name] = (res.output, pd.read_csv(out / "metrics.csv", index_col="facility_id"),
                      pd.read_excel(out / "r.xlsx", sheet_name="Summary", header=None,
                                      engine="openpyxl"))
    said, fitted, summary = runs["fitted"]
    assert "Market model fitted from p.json: rent_sigma 0.6, btc_vol 0.9" in " ".join(
        said.split())
    assert any("fitted from p.json" in str(v) for v in summary.to_numpy().ravel())
    # a wider rent cycle and BTC: more paths default somewhere in the book, none fewer
    plain = runs["plain"][1]
    assert (fitted["mc_pd"] >= plain["mc_pd"] - 0.05).all()
    assert fitted["mc_pd"].sum() > plain["mc_pd"].sum()
    # the deterministic figures are the market file's business not at all
    pd.testing.assert_series_equal(fitted["min_dscr"], plain["min_dscr"])


@pytest.mark.parametrize("content", ["not json", '{"market_model": {"rent_sigma": "x"}}',
                                     '{"market_model": {"warp_factor": 9}}',
                                     '{"market_model": {"rent_sigma": -1}}'])
def test_recalc_refuses_a_bad_market_file_and_writes_nothing(tmp_path, content):
    from gpucredit.cli import main

    js = tmp_path / "p.json"
    js.write_text(content)
    out = tmp_path / "r.xlsx"
    res = CliRunner().invoke(main, ["recalc", "workbooks/demo_tape.xlsx", "-o", str(out),
                                    "--paths", "10", "--market", str(js), "--quiet"])
    assert res.exit_code == 2 and "--market p.json" in res.output, res.output
    assert not out.exists()


def test_recalc_takes_merchant_rents_from_a_forward_curve(tmp_path):
    """A market file of one H100 spot curve (no rent history): the H100 facilities'
    cash flows follow it, every other facility's are unchanged, and the run says so."""
    from gpucredit.cli import main

    curve = tmp_path / "curve.csv"
    curve.write_text("Series,Date,GPU model,Value,Kind,Tenor (months),Source\n" + "".join(
        f"forward,2026-06-30,H100,{r},spot,{t},broker curve\n"
        for t, r in ((0, 2.42), (6, 2.30), (12, 2.20), (24, 2.00), (36, 1.85))))
    runs = {}
    for name, extra in (("curve", ["--market", str(curve)]), ("plain", [])):
        out = tmp_path / name
        res = CliRunner().invoke(main, ["recalc", "workbooks/demo_tape.xlsx", "-o",
                                        str(out / "r.xlsx"), "--csv", str(out), "--paths",
                                        "100", "--quiet", *extra])
        assert res.exit_code == 0, res.output
        runs[name] = (res.output, pd.read_csv(out / "metrics.csv", index_col="facility_id"))
    said, with_curve = runs["curve"]
    plain = runs["plain"][1]
    assert "merchant rents of H100 from their forward curves" in " ".join(said.split())
    h100 = with_curve["gpu_model"] == "H100"
    others = with_curve.index[~h100]
    pd.testing.assert_series_equal(with_curve.loc[others, "min_dscr"],
                                   plain.loc[others, "min_dscr"])
    # the curve falls about 8% a year against the 25% trend: merchant H100s earn more
    lkc = "LKC-GPU29"
    assert with_curve.loc[lkc, "min_dscr"] > plain.loc[lkc, "min_dscr"]
