"""The UDFs through classic xlwings: the path Windows desktop Excel takes.

On Linux ``xw.func`` does nothing, so these tests run ``gpucredit.udfs`` in a child
process where xlwings' real classic machinery is installed with COM stubbed
(``tests/excel_runtime/harness.py``): registration metadata (``__xlfunc__``), the VBA
that "Import Python UDFs" writes (against a golden file), ``xlwings.conversion`` on COM
values, and whole calls through ``xlwings.udfs.call_udf`` - the function the VBA
wrappers call - with COM Range arguments holding what Excel's COM server returns
(floats, None for empty cells, error codes as ints, ``pywintypes.TimeType`` dates).

Expected numbers come from independent sources: numpy-financial, scipy, closed forms
worked by hand in the test.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import inspect
import math
import os
import re
import sys
from pathlib import Path

import numpy as np
import numpy_financial as npf
import pytest
from scipy.stats import norm

from gpucredit import udfs

HERE = Path(__file__).resolve().parent
GOLDEN_VBA = HERE.parent / "src" / "gpucredit" / "excel" / "xlwings_udfs.bas"  # in the add-in


def _harness():
    name = "gpucredit_excel_runtime_harness"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE / "excel_runtime" / "harness.py")
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


h = _harness()
rng, MISSING = h.rng, h.MISSING


@pytest.fixture(scope="module")
def rt():
    with h.Runtime("classic") as runtime:
        yield runtime


@pytest.fixture(scope="module")
def meta(rt):
    return rt.request("meta")


def comdate(y, m, d):
    return {"$comdate": dt.datetime(y, m, d).isoformat()}


def finite_or_text(rows):
    return all(isinstance(v, str) or (isinstance(v, (int, float)) and math.isfinite(v))
               or isinstance(v, dt.date) for row in rows for v in row)


# ----------------------------------------------------------------------------- registration

def test_runtime_is_classic_xlwings(rt):
    assert rt.info["pro"] is False  # no licence needed: the BSD-licensed classic path


def test_every_gpu_function_is_registered(meta):
    assert sorted(meta) == udfs.udf_names()
    assert len(meta) >= 20


def test_metadata_of_every_function(meta):
    for name, info in meta.items():
        assert name.startswith("GPU_") and info["name"] == name
        assert info["category"] == "gpucredit"
        assert 0 < len(info["doc"]) <= 255, name  # Excel's MacroOptions limit
        assert "\n" not in info["doc"].strip(), name
        for arg in info["args"]:
            assert not arg["doc"].startswith("Positional argument"), (name, arg["name"])
            assert 0 < len(arg["doc"]) <= 255, (name, arg["name"])
            assert arg["options"] == {"ndim": 2, "err_to_str": True}, (name, arg["name"])
            assert not arg["vararg"]


def test_optional_arguments_are_those_with_python_defaults(meta):
    for name, info in meta.items():
        params = inspect.signature(getattr(udfs, name)).parameters
        assert [a["name"] for a in info["args"]] == list(params)
        for arg in info["args"]:
            has_default = params[arg["name"]].default is not inspect.Parameter.empty
            assert arg["optional"] is has_default, (name, arg["name"])
            if has_default:
                assert arg["default"] is None  # omitted: the core's own default applies


def test_heavy_functions_are_not_run_in_the_function_wizard(meta):
    assert meta["GPU_MONTE_CARLO"]["call_in_wizard"] is False
    assert meta["GPU_DSCR"]["call_in_wizard"] is True


# ----------------------------------------------------------------------------- generated VBA

def test_generated_vba_matches_golden_file(rt):
    vba = rt.request("vba")
    if os.environ.get("GPUCREDIT_REGEN_GOLDEN") == "1":
        GOLDEN_VBA.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN_VBA.write_text(vba, newline="")
    assert vba == GOLDEN_VBA.read_text(), (
        "the VBA wrappers changed: check the diff, then regenerate with "
        "GPUCREDIT_REGEN_GOLDEN=1, then rewrite the add-in: gpucredit addin windows -o addin")


def test_vba_declares_each_function_with_its_optional_arguments(rt):
    vba = rt.request("vba")
    declared = dict(re.findall(r"^Function (GPU_\w+)\((.*)\)\s*$", vba, re.M))
    assert sorted(declared) == udfs.udf_names()
    for name, args in declared.items():
        params = inspect.signature(getattr(udfs, name)).parameters
        expected = ", ".join(("Optional " if p.default is not inspect.Parameter.empty else "")
                             + p.name for p in params.values())
        assert args == expected
        assert f'XLPy.CallUDF("gpucredit.udfs", "{name}", ' in vba
    # an add-in calls back with ActiveWorkbook (its own ThisWorkbook is the add-in)
    assert "ActiveWorkbook, Application.Caller" in vba


# ----------------------------------------------------------------------------- conversion

def test_reading_a_com_range_with_empty_cells_errors_and_dates(rt):
    value = [[100.0, None, comdate(2025, 3, 1)], [h.COM_ERRORS["#DIV/0!"], "", 7.0]]
    got = rt.request("read_range", value=value, options={"ndim": 2, "err_to_str": True})
    assert got == [[100.0, None, dt.datetime(2025, 3, 1)], ["#DIV/0!", None, 7.0]]


def test_without_err_to_str_an_error_cell_would_read_as_empty(rt):
    # Why every gpucredit argument sets err_to_str: the default hides errors as None.
    got = rt.request("read", value=[[h.COM_ERRORS["#N/A"], 1.0]], options={"ndim": 2})
    assert got == [[None, 1.0]]


def test_writing_results_as_excel_receives_them(rt):
    got = rt.request("write", value=[["Launch", dt.date(2022, 3, 22)], [1.5, ""]], options={})
    assert got[0][0] == "Launch" and got[1] == [1.5, ""]
    assert got[0][1].replace(tzinfo=None) == dt.datetime(2022, 3, 22)
    assert rt.request("write", value=2.5, options={}) == [[2.5]]


# ----------------------------------------------------------------------------- whole calls

def test_dscr_column_with_an_empty_cell_and_a_zero_debt_service(rt):
    cfads = [[125.0], [137.5], [None], [90.0]]
    ds = [[100.0], [110.0], [None], [0.0]]
    got = rt.call("GPU_DSCR", rng(cfads), rng(ds))
    # by hand: 125/100, 137.5/110; empty/empty counts 0/0 -> no value; 90/0 -> no value
    assert got == [[1.25], [1.25], ["#N/A"], ["#N/A"]]


def test_dscr_row_spills_as_a_row_and_a_block_as_a_block(rt):
    assert rt.call("GPU_DSCR", rng([[120.0, 90.0]]), rng([[100.0, 100.0]])) == [[1.2, 0.9]]
    got = rt.call("GPU_DSCR", rng([[120.0, 90.0], [50.0, 60.0]]),
                  rng([[100.0, 100.0], [40.0, 40.0]]))
    assert got == [[1.2, 0.9], [1.25, 1.5]]


def test_a_single_dscr_with_zero_debt_service_is_a_message(rt):
    assert rt.call("GPU_DSCR", rng(100.0), rng(0.0)) == [["#GPU! debt service is zero"]]


def test_error_and_text_cells_give_messages_not_tracebacks(rt):
    got = rt.call("GPU_DSCR", rng([[100.0], [h.COM_ERRORS["#DIV/0!"]]]),
                  rng([[80.0], [80.0]]))
    assert got == [["#GPU! cfads holds the error #DIV/0! (row 2 of the range)"]]
    got = rt.call("GPU_DSCR", rng([[100.0, "CFADS"]]), rng([[80.0, 80.0]]))
    assert got == [["#GPU! cfads must be a number, got 'CFADS' (column 2 of the range)"]]
    got = rt.call("GPU_DSCR", rng([[1.0], [2.0]]), rng([[1.0], [2.0], [3.0]]))
    assert got[0][0].startswith("#GPU! cfads has 2 periods but debt_service has 3")


def test_omitted_optional_argument_takes_the_default(rt):
    principal = [[0.0], [50.0], [50.0]]
    # WAL by hand: (2 x 50 + 3 x 50) / 100 = 2.5 periods; the default period is a month
    monthly = [[pytest.approx(2.5 / 12, rel=1e-12)]]
    assert rt.call("GPU_WAL", rng(principal), MISSING) == monthly
    # quarterly: 2.5 periods / 4
    assert rt.call("GPU_WAL", rng(principal), rng(4.0)) == [[0.625]]
    # an empty cell passed for the optional argument is the default too
    assert rt.call("GPU_WAL", rng(principal), rng(None)) == monthly


def test_annuity_schedule_against_numpy_financial(rt):
    got = rt.call("GPU_DEBT_SCHEDULE", rng(0.01), rng(12.0), rng(1_000_000.0), MISSING,
                  MISSING, MISSING)
    header, *rows = got
    assert header == ["Period", "Opening balance", "Draw", "Interest", "Principal",
                      "Debt service", "Closing balance"]
    per = np.arange(1, 13)
    np.testing.assert_allclose([r[5] for r in rows], -npf.pmt(0.01, 12, 1_000_000), rtol=1e-12)
    np.testing.assert_allclose([r[3] for r in rows], -npf.ipmt(0.01, per, 12, 1_000_000),
                               rtol=1e-10)
    np.testing.assert_allclose([r[4] for r in rows], -npf.ppmt(0.01, per, 12, 1_000_000),
                               rtol=1e-10)
    assert rows[-1][6] == pytest.approx(0.0, abs=1e-6)


def test_llcr_and_debt_capacity_against_npv(rt):
    cfads = [125.0, 137.5, 150.0]
    pv = npf.npv(0.10, [0.0, *cfads])  # flows at the end of periods 1..3
    got = rt.call("GPU_LLCR", rng(0.10), rng([[c] for c in cfads]), rng(250.0))
    assert got[0][0] == pytest.approx(pv / 250.0, rel=1e-12)
    got = rt.call("GPU_DEBT_CAPACITY", rng(0.10), rng([[c] for c in cfads]), rng(1.25))
    assert got[0][0] == pytest.approx(pv / 1.25, rel=1e-12)


def test_sculpted_table_has_every_dscr_at_target(rt):
    cfads = [[125.0], [137.5], [150.0]]
    header, *rows = rt.call("GPU_SCULPT", rng(0.10), rng(cfads), rng(1.25))
    ds = [r[header.index("Debt service")] for r in rows]
    np.testing.assert_allclose(np.array([c[0] for c in cfads]) / ds, 1.25, rtol=1e-12)


def test_element_wise_function_with_a_blank_gives_na(rt):
    """A blank input row has no value: "#N/A", which the add-in's GpuValue turns into a
    real #N/A (tests/test_addin.py runs that VBA)."""
    got = rt.call("GPU_HAZARD_RATE", rng([[0.015], [None], [0.03]]), rng(0.4))
    assert got == [[pytest.approx(0.015 / 0.6)], ["#N/A"], [pytest.approx(0.05)]]


def test_literal_numbers_typed_into_the_formula(rt):
    # =GPU_HAZARD_RATE(0.015, 0.4): COM passes plain floats, not ranges
    assert rt.call("GPU_HAZARD_RATE", 0.015, 0.4) == [[pytest.approx(0.025)]]


def test_crypto_haircut_against_the_var_formula(rt):
    z = norm.ppf(0.99)
    expected = 1 - math.exp(-z * 0.6 * math.sqrt(10 / 365))
    assert rt.call("GPU_CRYPTO_HAIRCUT", rng(0.6), rng(10.0), MISSING)[0][0] == \
        pytest.approx(expected, rel=1e-12)
    z95 = norm.ppf(0.95)
    got = rt.call("GPU_CRYPTO_HAIRCUT", rng([[0.6], [0.8]]), rng(10.0), rng(0.95))
    np.testing.assert_allclose([g[0] for g in got],
                               [1 - math.exp(-z95 * s * math.sqrt(10 / 365)) for s in (0.6, 0.8)],
                               rtol=1e-12)


def test_hashprice_by_hand(rt):
    difficulty, price = 1.2e14, 100_000.0
    by_hand = 86_400 * 1e15 / (difficulty * 2**32) * (3.125 + 0.02) * price
    got = rt.call("GPU_HASHPRICE", rng(difficulty), rng(price), MISSING, rng(0.02))
    assert got[0][0] == pytest.approx(by_hand, rel=1e-12)


def test_dates_arrive_as_com_dates_or_serial_numbers(rt):
    # 2024-01-01 delivery; successors 2025-03-01 (a COM date) and serial 46296 (2026-10-01)
    got = rt.call("GPU_STEP_AGES", rng(comdate(2024, 1, 1)),
                  rng([[comdate(2025, 3, 1), 46296.0, None]]))
    expected = [(dt.date(2025, 3, 1) - dt.date(2024, 1, 1)).days / 365.25,
                (dt.date(2026, 10, 1) - dt.date(2024, 1, 1)).days / 365.25]
    assert got[0][:2] == [pytest.approx(e, rel=1e-12) for e in expected]
    assert got[0][2] == ""


def test_rent_trend_fit_against_a_log_linear_regression(rt):
    dates = [dt.date(2024, 1, 15), dt.date(2024, 10, 1), dt.date(2025, 10, 1),
             dt.date(2026, 3, 1)]
    rents = [2.85, 2.99, 1.70, 2.35]
    years = np.array([(d - dates[0]).days / 365.25 for d in dates])
    slope, _ = np.polyfit(years, np.log(rents), 1)
    got = rt.call("GPU_FIT_RENT_TREND",
                  rng([[comdate(d.year, d.month, d.day)] for d in dates]),
                  rng([[r] for r in rents]), MISSING)
    table = dict((row[0], row[1]) for row in got[1:])
    assert table["Annual deflation"] == pytest.approx(1 - math.exp(slope), rel=1e-9)
    assert table["Origin"].replace(tzinfo=None) == dt.datetime(2024, 1, 15)
    assert table["Points"] == 4


def test_merton_table_satisfies_the_merton_equations(rt):
    e, se, d, r, t = 3.0e9, 0.8, 10.0e9, 0.05, 1.0
    got = rt.call("GPU_MERTON", rng(e), rng(se), rng(d), rng(r), rng(t))
    assert got[0] == ["Measure", "Value"]
    table = {row[0]: row[1] for row in got[1:]}
    assert list(table) == ["Asset value", "Asset volatility", "Distance to default", "PD",
                           "Debt value", "Spread"]
    v, sv = table["Asset value"], table["Asset volatility"]
    d1 = (math.log(v / d) + (r + sv**2 / 2) * t) / (sv * math.sqrt(t))
    d2 = d1 - sv * math.sqrt(t)
    assert v * norm.cdf(d1) - d * math.exp(-r * t) * norm.cdf(d2) == pytest.approx(e, rel=1e-8)
    assert norm.cdf(d1) * sv * v == pytest.approx(se * e, rel=1e-8)
    assert table["PD"] == pytest.approx(norm.cdf(-d2), rel=1e-8)
    assert table["Debt value"] == pytest.approx(v - e, rel=1e-9)


def test_residual_value_of_a_declining_balance_curve(rt):
    got = rt.call("GPU_RESIDUAL_VALUE", rng([[0.0], [1.0], [2.0]]), rng("declining_balance"),
                  rng(0.3), MISSING, MISSING, MISSING, MISSING, MISSING)
    np.testing.assert_allclose([g[0] for g in got], [1.0, 0.7, 0.49], rtol=1e-12)


def test_bad_family_is_a_message(rt):
    got = rt.call("GPU_RESIDUAL_VALUE", rng(1.0), rng("linear"), MISSING, MISSING, MISSING,
                  MISSING, MISSING, MISSING)
    assert got[0][0].startswith("#GPU! family must be one of")


def test_results_never_hold_nan_or_inf(rt):
    calls = [
        ("GPU_DSCR", rng([[1.0], [0.0]]), rng([[0.0], [0.0]])),
        ("GPU_LTV", rng([[100.0], [100.0]]), rng([[0.0], [50.0]]), MISSING),
        ("GPU_LLCR", rng(0.1), rng([[10.0], [10.0]]), rng(0.0)),
        ("GPU_WAL", rng([[0.0], [0.0]]), MISSING),
    ]
    for name, *args in calls:
        assert finite_or_text(rt.call(name, *args)), name


# ----------------------------------------------------------------------------- more functions

def test_cfads_lines_by_hand(rt):
    # 1,000 GPUs, 80% utilization, monthly (730 hours), rents 2.00 and 1.90, 50% contracted
    # at 2.50; 1.3 kW, PUE 1.2, $0.10/kWh, colocation $150/kW-month, opex $1,200/GPU-year
    gpus, util, hours, share, contract = 1000, 0.8, 730.0, 0.5, 2.5
    rents_ = [2.0, 1.9]
    args = [rng(float(gpus)), rng(util), rng([rents_]), rng(12.0), rng(share), rng(contract),
            rng(1.3), rng(1.2), rng(0.10), rng(150.0), rng(1200.0), MISSING, MISSING]
    revenue = [gpus * hours * (share * contract + (1 - share) * util * r) for r in rents_]
    power = gpus * 1.3 * 1.2 * hours * 0.10
    colo = gpus * 1.3 * 150.0 * 1  # one month a period
    opex = gpus * 1200.0 / 12
    got = rt.call("GPU_CFADS", *args, rng("revenue"))
    np.testing.assert_allclose(got[0], revenue, rtol=1e-12)
    got = rt.call("GPU_CFADS", *args, MISSING)  # the default line is CFADS
    np.testing.assert_allclose(got[0], [r - power - colo - opex for r in revenue], rtol=1e-12)
    assert rt.call("GPU_CFADS", *args, rng("ebitda"))[0][0].startswith("#GPU! line must be")


def test_rent_path_by_hand(rt):
    got = rt.call("GPU_RENT_PATH", rng(2.4), rng(0.3), rng(3.0), rng(4.0), MISSING, MISSING,
                  MISSING)
    np.testing.assert_allclose(got[0], [2.4 * 0.7 ** ((t - 1) / 4) for t in (1, 2, 3)],
                               rtol=1e-12)
    # fully contracted for 2 periods at 2.65, then the market
    got = rt.call("GPU_RENT_PATH", rng(2.4), rng(0.3), rng(3.0), rng(4.0), rng(2.65), rng(2.0),
                  MISSING)
    np.testing.assert_allclose(got[0], [2.65, 2.65, 2.4 * 0.7 ** 0.5], rtol=1e-12)


def test_plcr_counts_cash_flows_after_the_loan(rt):
    cf = [110.0, 110.0, 110.0]
    got = rt.call("GPU_PLCR", rng(0.1), rng([cf]), rng(100.0))
    assert got[0][0] == pytest.approx(npf.npv(0.1, [0.0, *cf]) / 100.0, rel=1e-12)


def test_breakevens_by_hand(rt):
    hours = [[1000.0], [800.0]]
    other = [[-100.0], [-50.0]]
    ds = [[1500.0], [1200.0]]
    # flat rent R with R h_t + other_t >= DS_t in every period: max_t (DS_t - other_t) / h_t
    expected = max((1500 + 100) / 1000, (1200 + 50) / 800)
    got = rt.call("GPU_BREAKEVEN_RENT", rng(hours), rng(other), rng(ds), MISSING)
    assert got[0][0] == pytest.approx(expected, rel=1e-12)
    # at a 1.2x threshold: max_t (1.2 DS_t - other_t) / h_t
    got = rt.call("GPU_BREAKEVEN_RENT", rng(hours), rng(other), rng(ds), rng(1.2))
    assert got[0][0] == pytest.approx(max((1800 + 100) / 1000, (1440 + 50) / 800), rel=1e-12)
    rev = [[3000.0], [2500.0]]
    got = rt.call("GPU_BREAKEVEN_UTILIZATION", rng(rev), rng(other), rng(ds), MISSING)
    assert got[0][0] == pytest.approx(max(1600 / 3000, 1250 / 2500), rel=1e-12)


def test_liquidation_value_and_haircut_by_hand(rt):
    mv, q, a, months = 250e6, 10_000.0, 1_000.0, 3.0
    days = months * 365.25 / 12
    f_time = 1 - 0.6155 * math.exp(-days / 57.15)
    impact = 0.75 * 0.10 * math.sqrt(q / (a * months))
    recovery = mv * f_time * (1 - impact) * (1 - 0.15) - 0.05 * mv
    got = rt.call("GPU_LIQUIDATION_VALUE", rng(mv), rng(q), rng(a), rng(months), MISSING,
                  MISSING, MISSING, MISSING)
    assert got[0][0] == pytest.approx(recovery, rel=1e-12)
    got = rt.call("GPU_HAIRCUT", rng([[mv], [mv / 2]]), rng(q), rng(a), rng(months), rng(0.0),
                  MISSING, MISSING, MISSING)
    by_hand = [1 - (m * f_time * (1 - impact) - 0.05 * m) / m for m in (mv, mv / 2)]
    np.testing.assert_allclose([g[0] for g in got], by_hand, rtol=1e-12)


def test_fair_spread_both_conventions(rt):
    assert rt.call("GPU_FAIR_SPREAD", rng(0.02), rng(0.6), MISSING) == \
        [[pytest.approx(0.012, rel=1e-12)]]
    assert rt.call("GPU_FAIR_SPREAD", rng(0.02), rng(0.6), rng(True)) == \
        [[pytest.approx(-math.log(1 - 0.012), rel=1e-12)]]


def test_fit_curve_recovers_known_parameters(rt):
    ages = [0.5, 1.0, 2.0, 3.0, 4.0, 5.0]
    values = [0.05 + 0.95 * math.exp(-0.5 * a) for a in ages]  # exponential floor, exact
    got = rt.call("GPU_FIT_CURVE", rng([[a] for a in ages]), rng([[v] for v in values]),
                  MISSING)
    table = {row[0]: row[1] for row in got[1:]}
    assert table["Family"] == "exponential_floor"
    assert table["lam"] == pytest.approx(0.5, rel=1e-6)
    assert table["floor"] == pytest.approx(0.05, rel=1e-6)
    assert table["Points"] == 6 and table["RMSE"] < 1e-8


def test_preset_field_and_table(rt):
    from gpucredit import presets

    h100 = presets.get_preset("H100")
    assert rt.call("GPU_PRESET", rng("h100"), rng("kw_per_gpu")) == [[h100.kw_per_gpu]]
    table = rt.call("GPU_PRESET", rng("H100"), MISSING)
    assert table[0] == ["Field", "Value"]
    assert ["List price (USD)", h100.list_price_usd] in table
    assert rt.call("GPU_PRESET", rng("H100"), rng("colour"))[0][0].startswith(
        "#GPU! field must be one of")


def test_scenario_grid_from_a_two_column_facility(rt):
    from gpucredit import model, scenarios

    facility = [["gpus", 4096.0], ["gpu_unit_cost", 30000.0], ["merchant_rent", 2.42],
                ["utilization", 0.8], ["debt", 7.0e7], ["annual_rate", 0.11],
                ["tenor", 20.0], ["residual_curve", "exponential_floor"], ["lam", 0.5],
                ["contract_rate", None]]
    got = rt.call("GPU_SCENARIOS", rng(facility), rng(4.0), rng("min_dscr, first_breach"),
                  MISSING, MISSING)
    assert got[0] == ["scenario", "min_dscr", "first_breach"]
    assert [r[0] for r in got[1:]] == [s.name for s in scenarios.STANDARD_SCENARIOS]
    # the face passes the core's answer through unchanged
    fac = model.Facilities(gpus=4096.0, gpu_unit_cost=30000.0, merchant_rent=2.42,
                           utilization=0.8, debt=7.0e7, annual_rate=0.11, tenor=20.0,
                           residual_curve="exponential_floor", curve_params={"lam": 0.5})
    core = scenarios.run_scenarios(fac, 4)
    assert [r[1] for r in got[1:]] == pytest.approx(core["min_dscr"].tolist(), rel=1e-12)
    bad = rt.call("GPU_SCENARIOS", rng([["gpus", 1.0], ["colour", 2.0]]), rng(4.0), MISSING,
                  MISSING, MISSING)
    assert bad[0][0].startswith("#GPU! unknown facility field 'colour' (row 2)")


def test_excel_docs_list_every_function_and_argument(meta):
    text = (HERE.parent / "docs" / "excel.md").read_text()
    for name, info in meta.items():
        sig = ", ".join((f"[{a['name']}]" if a["optional"] else a["name"])
                        for a in info["args"])
        assert f"### `{name}({sig})`" in text, name
        for a in info["args"]:
            assert f"- `{a['name']}`" in text and a["doc"] in text, (name, a["name"])


def _text(got):
    return got[0][0] if isinstance(got, list) else got


def test_a_call_in_the_old_rate_last_order_fails_naming_the_new_order(rt):
    cf = rng([[125.0], [137.5], [150.0]])
    old_calls = {  # before release 11 the rate came after the cash flows
        "GPU_LLCR": (cf, rng(250.0), rng(0.1)),
        "GPU_PLCR": (cf, rng(250.0), rng(0.1)),
        "GPU_DEBT_CAPACITY": (cf, rng(0.1), rng(1.25)),
        "GPU_SCULPT": (cf, rng(0.1), rng(1.25)),
        "GPU_DEBT_SCHEDULE": (rng(1.0e6), rng(0.01), rng(12.0), MISSING, MISSING, MISSING),
    }
    for name, args in old_calls.items():
        text = _text(rt.call(name, *args))
        assert text.startswith("#GPU! rate must be a rate per period from -0.1 to 1"), text
        assert f"rate comes first, as in PMT: {name}(rate, " in text, text
    # cash flows in USD millions pass the range check but not the shapes: still refused
    text = _text(rt.call("GPU_LLCR", rng([[0.5], [0.6]]), rng(2.0), rng(0.1)))
    assert text.startswith("#GPU! rate must be one value or one value per period"), text
    assert "GPU_LLCR(rate, cfads, opening_balance)" in text
    # the new order computes; a negative rate inside the range is a rate
    assert _text(rt.call("GPU_LLCR", rng(-0.01), cf, rng(250.0))) == pytest.approx(
        npf.npv(-0.01, [0.0, 125.0, 137.5, 150.0]) / 250.0, rel=1e-12)


def test_merton_keeps_its_black_scholes_order_and_refuses_a_rate_above_100_percent(rt):
    ok = rt.call("GPU_MERTON", rng(3.0), rng(0.8), rng(10.0), rng(0.05), rng(1.0),
                 rng("pd"), MISSING)
    assert 0 < _text(ok) < 1
    bad = _text(rt.call("GPU_MERTON", rng(3.0), rng(0.8), rng(0.05), rng(10.0), rng(1.0),
                        rng("pd"), MISSING))
    assert bad.startswith("#GPU! rate must be an annual risk-free rate (e.g. 0.04), got 10")
