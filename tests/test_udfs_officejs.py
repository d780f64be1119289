"""The UDFs through the Office.js path used by xlwings Lite and xlwings Server.

A child process runs with ``XLWINGS_ON_SERVER=true`` and ``XLWINGS_LICENSE_KEY=
noncommercial`` (the free PolyForm Noncommercial key), so ``xw.func`` is xlwings' Office.js
implementation; ``xlwings.server.custom_functions_meta`` gives the JSON Excel registers
and ``custom_functions_call`` answers the 2-D payloads Excel sends: integers where COM
gives floats, 0 for empty cells, serial numbers for dates, error objects for error cells.
Every answer must survive ``json.dumps(..., allow_nan=False)`` (Office.js fails the whole
call on inf, shows NaN as #NUM!).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.util
import inspect
import json
import math
import sys
from pathlib import Path

import numpy as np
import numpy_financial as npf
import pytest

from gpucredit import udfs

HERE = Path(__file__).resolve().parent


def _harness():
    name = "gpucredit_excel_runtime_harness"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE / "excel_runtime" / "harness.py")
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


h = _harness()
EMPTY = [[None]]  # what Excel sends for an omitted optional argument
DIV0 = {"type": "Error", "basicValue": "#DIV/0!", "errorType": "Div0"}
NA = {"type": "Error", "errorType": "NotAvailable"}
"""A real #N/A as xlwings' Office.js engine writes it (runtime 1.4): charts skip it."""


def value_error(message):
    """What Excel shows for a call that failed: #VALUE! carrying the message."""
    return {"$excel_error": "#VALUE!", "message": message, "exception": "XlwingsError"}


def serial(d: dt.date) -> int:
    """Excel's serial number of a date (1900 system): days since 1899-12-30."""
    return (d - dt.date(1899, 12, 30)).days


@pytest.fixture(scope="module")
def rt():
    with h.Runtime("officejs") as runtime:
        yield runtime


@pytest.fixture(scope="module")
def meta(rt):
    return rt.request("meta")


def call(rt, name, *args, **kw):
    out = rt.call(name, *args, **kw)
    json.dumps(out, allow_nan=False)  # what goes back to Excel must be strict JSON
    return out


# ----------------------------------------------------------------------------- registration

def test_runtime_is_the_officejs_one(rt):
    assert rt.info["pro"] is True


def test_meta_lists_every_function_once(meta):
    ids = [f["id"] for f in meta["functions"]]
    assert sorted(ids) == udfs.udf_names()
    assert [f["name"] for f in meta["functions"]] == ids  # no namespace of ours
    assert meta["allowErrorForDataTypeAny"] is True


def test_meta_of_every_function(meta):
    for f in meta["functions"]:
        fn = getattr(udfs, f["id"])
        params = inspect.signature(fn).parameters
        assert f["description"] and len(f["description"]) <= 255
        assert f["result"] == {"dimensionality": "matrix", "type": "any"}
        assert f["options"] == {"requiresAddress": True, "requiresParameterAddresses": True}
        assert [p["name"] for p in f["parameters"]] == list(params)
        for p in f["parameters"]:
            assert p["description"] and not p["description"].startswith("Positional")
            if "customEnumId" in p:  # a dropdown: Excel sends one text value
                assert (p["dimensionality"], p["type"]) == ("scalar", "string")
            else:
                assert p["dimensionality"] == "matrix" and p["type"] == "any"
            optional = params[p["name"]].default is not inspect.Parameter.empty
            assert p.get("optional", False) is optional, (f["id"], p["name"])


def test_enumerated_arguments_are_dropdowns(meta):
    enums = {e["id"]: [v["stringValue"] for v in e["values"]] for e in meta["enums"]}
    assert "min_dscr" in enums["GPU_FACILITY_METRICS.FIELD"]
    assert "pd" in enums["GPU_FACILITY_MC.FIELD"]
    params = {(f["id"], p["name"]): p for f in meta["functions"] for p in f["parameters"]}
    assert params[("GPU_FACILITY_METRICS", "field")]["customEnumId"] == \
        "GPU_FACILITY_METRICS.FIELD"
    # every argument that takes one of a fixed list of words
    from gpucredit import curves, debt, fleet
    from gpucredit.udfs import _PRESET_FIELDS

    cfads_lines = [f.name for f in dataclasses.fields(fleet.FleetCashFlows)]
    for (func, arg), words in {("GPU_DEBT_SCHEDULE", "kind"): list(debt.KINDS),
                               ("GPU_RESIDUAL_VALUE", "family"): list(curves.FAMILIES),
                               ("GPU_FIT_CURVE", "family"): list(curves.FAMILIES),
                               ("GPU_PRESET", "field"): list(_PRESET_FIELDS),
                               ("GPU_CFADS", "line"): cfads_lines,
                               ("GPU_MONTE_CARLO", "copula"): ["gaussian", "t"]}.items():
        assert enums[params[(func, arg)]["customEnumId"]] == words, (func, arg)


def test_a_dropdown_value_arrives_as_text(rt):
    handle = call(rt, "GPU_FACILITY", [["gpus", 100], ["gpu_unit_cost", 30000],
                                       ["merchant_rent", 2.4], ["utilization", 0.85],
                                       ["debt", 1e6], ["annual_rate", 0.1], ["tenor", 24]],
                  EMPTY, EMPTY)[0][0]
    got = call(rt, "GPU_FACILITY_METRICS", [[handle]], "min_dscr", EMPTY)
    assert isinstance(got[0][0], float)


# ----------------------------------------------------------------------------- payloads

def test_integers_and_zeros_for_empty_cells(rt):
    # Office.js keeps integers and sends 0 for the empty cells at the end of the range.
    got = call(rt, "GPU_DSCR", [[125], [137.5], [0], [0]], [[100], [110], [0], [0]])
    assert got == [[1.25], [1.25], [NA], [NA]]


def test_a_single_cell_gives_a_single_value(rt):
    assert call(rt, "GPU_DSCR", [[120]], [[100]]) == [[1.2]]
    assert call(rt, "GPU_DSCR", [[120]], [[0]]) == value_error("debt service is zero")


def test_error_cells_arrive_as_error_objects(rt):
    got = call(rt, "GPU_DSCR", [[100], [DIV0]], [[80], [80]])
    assert got == value_error("cfads holds the error #DIV/0! (row 2 of the range)")


def test_omitted_optional_arguments_take_the_defaults(rt):
    monthly = [[pytest.approx(2.5 / 12)]]  # (2 x 50 + 3 x 50) / 100 periods of a month
    assert call(rt, "GPU_WAL", [[0], [50], [50]], EMPTY) == monthly
    # An optional argument pointing at an empty cell arrives as 0 from some Office.js
    # builds; where 0 is not a valid value (periods a year) it means "use the default".
    assert call(rt, "GPU_WAL", [[0], [50], [50]], [[0]]) == monthly
    assert call(rt, "GPU_WAL", [[0], [50], [50]], [[1]]) == [[2.5]]


def test_confidence_zero_means_default(rt):
    default = call(rt, "GPU_CRYPTO_HAIRCUT", [[0.6]], [[10]], EMPTY)
    assert call(rt, "GPU_CRYPTO_HAIRCUT", [[0.6]], [[10]], [[0]]) == default
    assert call(rt, "GPU_CRYPTO_HAIRCUT", [[0.6]], [[10]], [[0.95]]) != default


def test_serial_dates(rt):
    got = call(rt, "GPU_STEP_AGES", [[serial(dt.date(2024, 1, 1))]],
               [[serial(dt.date(2025, 3, 1)), serial(dt.date(2026, 10, 1))]])
    expected = [(dt.date(2025, 3, 1) - dt.date(2024, 1, 1)).days / 365.25,
                (dt.date(2026, 10, 1) - dt.date(2024, 1, 1)).days / 365.25]
    assert got == [[pytest.approx(e, rel=1e-12) for e in expected]]


def test_dates_come_back_as_serial_numbers_or_formatted_numbers(rt):
    launch = serial(dt.date(2022, 3, 22))  # the H100 preset's launch date
    got = call(rt, "GPU_PRESET", [["H100"]], EMPTY)
    assert ["Launch date", launch] in got
    got = call(rt, "GPU_PRESET", [["H100"]], EMPTY, date_format="yyyy-mm-dd")
    assert ["Launch date", {"type": "FormattedNumber", "basicValue": launch,
                            "numberFormat": "yyyy-mm-dd"}] in got


def test_annuity_schedule_against_numpy_financial(rt):
    header, *rows = call(rt, "GPU_DEBT_SCHEDULE", [[0.01]], [[12]], [[1000000]], EMPTY, EMPTY,
                         EMPTY)
    assert header[5] == "Debt service"
    np.testing.assert_allclose([r[5] for r in rows], -npf.pmt(0.01, 12, 1_000_000), rtol=1e-12)
    np.testing.assert_allclose([r[3] for r in rows],
                               -npf.ipmt(0.01, np.arange(1, 13), 12, 1_000_000), rtol=1e-10)


def test_llcr_with_a_row_of_cash_flows(rt):
    cfads = [125, 137.5, 150]
    got = call(rt, "GPU_LLCR", [[0.1]], [cfads], [[250]])
    assert got[0][0] == pytest.approx(npf.npv(0.1, [0, *cfads]) / 250, rel=1e-12)


def test_text_arguments(rt):
    got = call(rt, "GPU_RESIDUAL_VALUE", [[0], [1], [2]], [["declining_balance"]], [[0.3]],
               EMPTY, EMPTY, EMPTY, EMPTY, EMPTY)
    np.testing.assert_allclose([g[0] for g in got], [1.0, 0.7, 0.49], rtol=1e-12)
    got = call(rt, "GPU_RESIDUAL_VALUE", [[1]], [[42]], EMPTY, EMPTY, EMPTY, EMPTY, EMPTY, EMPTY)
    assert got == value_error("family must be text, got 42")


def test_bad_arguments_give_messages(rt):
    got = call(rt, "GPU_HAZARD_RATE", [[0.02]], [[1.5]])
    assert got["$excel_error"] == "#VALUE!" and got["message"].startswith("recovery must be")
    got = call(rt, "GPU_DEBT_SCHEDULE", [[0.01]], [[2.5]], [[1000]], EMPTY, EMPTY, EMPTY)
    assert got == value_error("n_periods must be a whole number, got 2.5")


def test_no_nan_or_inf_ever_reaches_excel(rt):
    # Zero collateral against debt, zero debt service, zero opening balance: no value
    assert call(rt, "GPU_LTV", [[100], [100]], [[0], [50]], EMPTY) == [[NA], [2.0]]
    assert call(rt, "GPU_LTV", [[100]], [[0]], EMPTY) == \
        value_error("collateral value is zero while debt is owed")
    assert call(rt, "GPU_LLCR", [[0.1]], [[10], [10]], [[0]]) == \
        value_error("opening balance is zero")


def test_monte_carlo_summary_is_finite_and_reproducible(rt):
    n = 24
    rev = [[1.0e6 * 0.98**t for t in range(n)]]
    other = [[-2.0e5] * n]
    ds = [[5.0e5] * n]
    owed = [[1.0e7 * (1 - t / n) for t in range(n)]]
    value = [[1.2e7 * 0.97**t for t in range(n)]]
    args = (rev, other, ds, owed, value, [[0.7]], [[2048]], [[7]], [[12]], EMPTY, EMPTY,
            EMPTY, EMPTY)
    first = call(rt, "GPU_MONTE_CARLO", *args)
    assert first == call(rt, "GPU_MONTE_CARLO", *args)
    table = dict((r[0], r[1]) for r in first[1:])
    assert table["Paths"] == 2048 and table["Seed"] == 7
    assert 0.0 <= table["PD over the tenor"] <= 1.0


def test_both_runtimes_give_the_same_answers(rt):
    """The same inputs through Office.js and through classic COM give equal cells."""
    with h.Runtime("classic") as classic:
        cases = [
            ("GPU_DSCR", ([[125.0], [137.5]], [[100.0], [110.0]])),
            ("GPU_HASHPRICE", ([[1.2e14]], [[95000.0]], None, None)),
            ("GPU_MERTON", ([[3.0]], [[0.8]], [[10.0]], [[0.05]], [[1.0]])),
            ("GPU_FIT_CURVE", ([[1.0], [2.0], [3.0], [4.0], [5.0]],
                               [[0.62], [0.42], [0.30], [0.18], [0.12]], None)),
        ]
        for name, args in cases:
            js = call(rt, name, *[EMPTY if a is None else a for a in args])
            com = classic.call(name, *[h.MISSING if a is None else h.rng(a) for a in args])
            assert js == com, name
            assert all(isinstance(v, str) or math.isfinite(v) for row in js for v in row)


# ----------------------------------------------------------------------------- xlwings Lite

def test_lite_main_py_registers_every_function(rt, meta):
    lite = rt.request("meta_file", path=str(HERE.parent / "addin" / "lite" / "main.py"))
    assert lite == meta


# ----------------------------------------------------------------------------- properties

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

cells = st.one_of(st.integers(-1000, 1000), st.floats(-1e6, 1e6, allow_nan=False))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), rows=st.integers(1, 4), cols=st.integers(1, 5))
def test_dscr_follows_the_conversion_rules_for_any_range(rt, data, rows, cols):
    """Any block of integers and floats (0 standing for empty cells): each cell is
    cfads / debt service, an empty cell where debt service is 0 (a message for a single
    cell), the input's shape kept."""
    cf = data.draw(st.lists(st.lists(cells, min_size=cols, max_size=cols), min_size=rows,
                            max_size=rows))
    debt_service = st.one_of(st.just(0), st.integers(0, 1000), st.floats(1e-3, 1e6))
    ds = data.draw(st.lists(st.lists(debt_service, min_size=cols, max_size=cols),
                            min_size=rows, max_size=rows))
    got = call(rt, "GPU_DSCR", cf, ds)
    if rows == cols == 1 and ds[0][0] == 0:
        assert got == value_error("debt service is zero")
        return
    expected = [[(NA if d == 0 else c / d) for c, d in zip(rc, rd, strict=True)]
                for rc, rd in zip(cf, ds, strict=True)]
    assert len(got) == rows and all(len(r) == cols for r in got)
    for g_row, e_row in zip(got, expected, strict=True):
        for g, e in zip(g_row, e_row, strict=True):
            assert g == e if isinstance(e, dict) else g == pytest.approx(e, rel=1e-12,
                                                                         abs=1e-300)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spreads=st.lists(st.one_of(st.none(), st.floats(0, 0.5)), min_size=1, max_size=8),
       recovery=st.floats(0, 0.95))
def test_element_wise_blank_in_blank_out(rt, spreads, recovery):
    got = call(rt, "GPU_HAZARD_RATE", [[s] for s in spreads], [[recovery]])
    if len(spreads) == 1:
        got = [[got[0][0]]]
    for s, (g,) in zip(spreads, got, strict=True):
        if s is None:  # a missing value: #N/A inside an array, blank as a single cell
            assert g == (NA if len(spreads) > 1 else "")
        else:
            assert g == pytest.approx(s / (1 - recovery), rel=1e-12, abs=1e-300)
