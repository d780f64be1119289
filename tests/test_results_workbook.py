"""Tests for gpucredit.excel.results (the results workbook) and gpucredit.excel.csv_out.

The RecalcResult is built by hand from small frames (the engine is tested elsewhere); the
oracles are those frames themselves: LibreOffice recomputes the Summary's native formulas
and the totals must equal pandas' sums of the input, the Chart data must equal the input
periods, and every value read back must equal the value written.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import os
import zipfile

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from python_calamine import CalamineWorkbook
from tests import libreoffice as lo

from gpucredit.engine_result import RecalcResult
from gpucredit.errors import GpuCreditError
from gpucredit.excel import csv_out, results, sheet_stream
from gpucredit.excel.results import (
    EXCEL_MAX_ROWS,
    HEADER_ROWS,
    clean_text,
    periods_csv_path,
    write_results,
)
from gpucredit.spool import SpooledTable

INJECTIONS = ['=HYPERLINK("http://x","y")', "+1", "-2", "@SUM(A1)"]
FIRST = HEADER_ROWS + 1  # first data row of a table sheet


# --------------------------------------------------------------------------- fixtures

def make_result(*, errors: bool = True) -> RecalcResult:
    """Five facilities, two with monthly and three with quarterly periods."""
    ids = ["NW-1", "NW-2", "CR-1", "HB-1", "LK-1"]
    metrics = pd.DataFrame({
        "borrower": ["Northwind Compute", *INJECTIONS],
        "borrower_type": ["neocloud", "neocloud", "miner", "other", "miner"],
        "gpu_model": ["H100", "H200", "B200", "GB200", "A100"],
        "gpu_count": [1000, 2000, 500, 800, 1200],
        "drawn_amount": [10_000_000.01, 25_000_000.0, 12_345_678.91, 7_700_000.0, 3_300_000.0],
        "debt": [10_000_000.01, 25_000_000.0, 12_345_678.91, 7_700_000.0, 3_300_000.0],
        "min_dscr": [1.5, 1.1, 0.9, np.nan, 1.3],
        "dscr_lockup": [1.2] * 5,
        "dscr_default": [1.05] * 5,
        "first_breach_lockup": [0, 3, 2, 0, 0],
        "first_breach_default": [0, 0, 5, 0, 0],
        "market_value": [20e6, 30e6, 11e6, 9e6, 4e6],
        "liquidation_value": [14e6, 21e6, 8.25e6, 6.3e6, 2.8e6],
        "max_ltv_liquidation": [0.5, 0.9, 1.2, 1.05, 0.7],
        "maturity_date": pd.to_datetime(["2029-05-17"] * 5),
        "mc_pd": [0.01, 0.05, 0.2, 0.1, 0.03],
        "mc_expected_loss": [1000.5, 2000.25, 30000.0, 4000.0, 500.0],
    }, index=pd.Index(ids, name="facility_id"))
    rows = []
    for fid, m, n in (("NW-1", 12, 6), ("NW-2", 12, 6), ("CR-1", 4, 4), ("HB-1", 4, 4),
                      ("LK-1", 4, 4)):
        for t in range(1, n + 1):
            rows.append({"facility_id": fid, "period": t,
                         "date": pd.Timestamp("2026-06-30") + pd.DateOffset(months=12 // m * t),
                         "year": t / m, "cfads": 1_000_000.0 + 1000 * t,
                         "debt_service": 800_000.0, "dscr": round(1.0 + 0.05 * t
                                                                  + ids.index(fid) / 10, 4),
                         "ltv_liquidation": round(0.6 + 0.1 * t - ids.index(fid) / 50, 4)})
    periods = pd.DataFrame(rows)
    scenarios = pd.DataFrame({"facility_id": np.repeat(ids, 2),
                              "scenario": ["base", "joint"] * 5,
                              "min_dscr": [1.5, 0.8, 1.1, 0.7, 0.9, 0.5, 2.0, 1.2, 1.3, 0.95],
                              "max_ltv_liquidation": [0.5, 1.1] * 5,
                              "first_breach": [0, 3] * 5})
    scenario_summary = pd.DataFrame({"scenario": ["base", "joint"],
                                     "facilities_breaching": [1, 4],
                                     "debt_in_breach": [12_345_678.91, 45_645_678.92]})
    summary_totals = pd.DataFrame({"item": ["facilities", "debt", "debt_weighted_min_dscr"],
                                   "value": [5, metrics["debt"].sum(), 1.234]})
    by_type = pd.DataFrame({"borrower_type": ["miner", "neocloud", "other"],
                            "debt_weighted_min_dscr": [1.0, 1.2, np.nan]})
    worst = metrics.loc[["CR-1", "NW-2"], ["borrower", "min_dscr", "max_ltv_liquidation"]]
    ages = np.arange(0, 3.25, 0.25)
    curves = pd.DataFrame({"H100": 0.03 + 0.97 * np.exp(-0.46 * ages), "A100": 0.72 ** ages},
                          index=pd.Index(ages, name="age_years"))
    errs = pd.DataFrame({"sheet": ["Tape", "Tape"], "row": [14, 15], "column": ["H", "B"],
                         "facility_id": ["XX-9", "=cmd|' /C calc'!A0"],
                         "value": [1.2, "@SUM(A1)"], "severity": ["error", "warning"],
                         "message": ["Row 14, column H (Utilization): 120% is above 100%",
                                     "+ a warning"]}) if errors else pd.DataFrame()
    return RecalcResult(
        metrics=metrics, periods=periods, scenarios=scenarios,
        scenario_summary=scenario_summary, summary_totals=summary_totals,
        summary_by_type=by_type, worst=worst, residual_curves=curves, errors=errs,
        assumptions={"valuation_date": dt.date(2026, 6, 30), "base_rate": 0.043,
                     "btc_price": 100_000.0, "curve_presets": ["H100", "A100"]},
        run_info={"input_file": "demo_tape.xlsx", "input_sha256": "ab" * 32,
                  "run_at": dt.datetime(2026, 7, 1, 8, 30), "paths": 1000, "seed": 7})


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    result = make_result()
    path = write_results(result, tmp_path_factory.mktemp("wb") / "results.xlsx",
                         chart_facilities=3)
    return result, path, openpyxl.load_workbook(path)


def summary_rows(ws) -> dict[str, tuple]:
    """Label in column A -> the row's values from column B on."""
    out = {}
    for row in ws.iter_rows(values_only=True):
        if isinstance(row[0], str):
            out.setdefault(row[0], tuple(row[1:]))
    return out


def column_of(ws, label: str, header_row: int = HEADER_ROWS) -> int:
    for cell in ws[header_row]:
        if cell.value == label:
            return cell.column
    raise AssertionError(f"no column {label!r} on {ws.title}")


# --------------------------------------------------------------------------- structure

class TestStructure:
    def test_sheets(self, written):
        _, _, wb = written
        assert wb.sheetnames == ["Summary", "Metrics", "Periods", "Scenarios",
                                 "Scenario summary", "Charts", "Chart data", "Errors",
                                 "Assumptions"]

    def test_metrics_rows_and_header(self, written):
        result, _, wb = written
        ws = wb["Metrics"]
        assert ws.cell(HEADER_ROWS, 1).value == "Facility ID"
        assert ws.freeze_panes == f"C{FIRST}"
        ids = [ws.cell(r, 1).value for r in range(FIRST, FIRST + len(result.metrics))]
        assert ids == list(result.metrics.index)
        assert ws.cell(FIRST + len(result.metrics), 1).value is None
        # every header names its column in a note
        assert ws.cell(HEADER_ROWS, column_of(ws, "Min DSCR")).comment.text == \
            "Column: min_dscr"

    def test_values_exact(self, written):
        result, _, wb = written
        ws = wb["Metrics"]
        for key, label in (("drawn_amount", "Drawn amount"), ("min_dscr", "Min DSCR"),
                           ("mc_expected_loss", "MC expected loss")):
            c = column_of(ws, label)
            got = [ws.cell(FIRST + i, c).value for i in range(len(result.metrics))]
            want = [None if pd.isna(v) else v for v in result.metrics[key]]
            assert got == want

    def test_number_formats(self, written):
        _, _, wb = written
        ws = wb["Metrics"]
        formats = {label: ws.cell(FIRST, column_of(ws, label)).number_format
                   for label in ("Min DSCR", "Max LTV (liquidation)", "Debt", "Maturity date",
                                 "MC PD", "GPUs", "First lock-up breach (period)")}
        assert formats == {"Min DSCR": '0.00"x"', "Max LTV (liquidation)": "0.0%",
                           "Debt": '"$"#,##0;[Red]-"$"#,##0', "Maturity date": "yyyy-mm-dd",
                           "MC PD": "0.00%", "GPUs": "#,##0",
                           "First lock-up breach (period)": '0;-0;"–"'}
        assert ws.cell(FIRST, column_of(ws, "Maturity date")).value == dt.datetime(2029, 5, 17)

    def test_no_errors_sheet_says_so(self, tmp_path):
        wb = openpyxl.load_workbook(write_results(make_result(errors=False),
                                                  tmp_path / "r.xlsx"))
        assert wb["Errors"].cell(FIRST, 1).value == "No errors"

    def test_errors_rows(self, written):
        result, _, wb = written
        ws = wb["Errors"]
        got = [[ws.cell(FIRST + i, j + 1).value for j in range(result.errors.shape[1])]
               for i in range(len(result.errors))]
        assert got == result.errors.astype(object).values.tolist()

    def test_periods_and_scenarios(self, written):
        result, _, wb = written
        ws = wb["Periods"]
        n = len(result.periods)
        dscr = column_of(ws, "DSCR")
        assert [ws.cell(FIRST + i, dscr).value for i in range(n)] == \
            result.periods["dscr"].tolist()
        assert ws.cell(FIRST + n, 1).value is None
        ws = wb["Scenarios"]
        assert ws.max_row == HEADER_ROWS + len(result.scenarios)

    def test_assumptions_and_run_info(self, written):
        _, _, wb = written
        got = {r[0]: r[1] for r in wb["Assumptions"].iter_rows(min_row=FIRST, values_only=True)}
        assert got["Base rate (SOFR)"] == 0.043
        assert got["Valuation date"] == dt.datetime(2026, 6, 30)
        assert got["Curve presets"] == "['H100', 'A100']"
        rows = summary_rows(wb["Summary"])
        assert rows["Input SHA-256"][0] == "ab" * 32
        assert rows["Run at"][0] == dt.datetime(2026, 7, 1, 8, 30)

    def test_summary_formulas(self, written):
        _, _, wb = written
        rows = summary_rows(wb["Summary"])
        assert rows["Drawn amount"][0] == "=SUM('Metrics'!$F$4:$F$8)"
        assert rows["Facilities computed"][0] == "=COUNTA('Metrics'!$A$4:$A$8)"
        assert rows["Facilities breaching lock-up"][0] == \
            "=COUNTIF('Metrics'!$K$4:$K$8,\">0\")"
        assert rows["miner"][0].startswith("=COUNTIF('Metrics'!$C$4:$C$8,$A")
        # the engine's own figure where it has one, else the Metrics table's
        assert rows["Debt modelled"][3] == "engine summary"
        assert rows["Drawn amount"][3] == "Metrics table"
        assert rows["Debt weighted min DSCR"][1] == 1.234

    def test_engine_labels_are_matched(self, tmp_path):
        """The engine may name its totals in words; they still sit beside the formula."""
        res = make_result()
        res.summary_totals = pd.DataFrame({
            "item": ["Facilities computed", "Debt outstanding (USD)", "Portfolio LTV, market"],
            "value": [5, 58_345_678.92, 1.3]})
        ws = openpyxl.load_workbook(write_results(res, tmp_path / "r.xlsx"))["Summary"]
        rows = summary_rows(ws)
        assert rows["Debt modelled"][1] == 58_345_678.92
        assert rows["Debt modelled"][3] == "engine summary"
        assert rows["Facilities computed"][3] == "engine summary"
        assert rows["Portfolio LTV, market"][1] == 1.3
        cell = next(r[2] for r in ws.iter_rows() if r[0].value == "Portfolio LTV, market")
        assert cell.number_format == "0.0%"

    def test_calamine_reads_it(self, written):
        _, path, _ = written
        grid = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Metrics").to_python()
        assert grid[FIRST - 1][:2] == ["NW-1", "Northwind Compute"]
        assert [r[1] for r in grid[FIRST:FIRST + 4]] == INJECTIONS


# --------------------------------------------------------------------------- formula injection

class TestFormulaInjection:
    def test_tape_text_stays_text_everywhere(self, written):
        _, _, wb = written
        found = []
        for ws in wb.worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    if cell.value in INJECTIONS or (isinstance(cell.value, str)
                                                    and cell.value.startswith("=cmd")):
                        found.append((ws.title, cell.data_type, cell.value))
        sheets = {s for s, _, _ in found}
        assert {"Metrics", "Summary", "Errors"} <= sheets
        assert all(dtype == "s" for _, dtype, _ in found), found

    def test_raw_xml_has_no_formula_from_tape(self, written):
        _, path, _ = written
        with zipfile.ZipFile(path) as zf:
            xml = "".join(zf.read(n).decode() for n in zf.namelist()
                          if n.startswith("xl/worksheets/sheet"))
        assert "<f>HYPERLINK" not in xml and "<f>SUM(A1)" not in xml
        assert "<f>cmd" not in xml


# --------------------------------------------------------------------------- rules & charts

class TestConditionalFormatting:
    def rules(self, ws) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for cf in ws.conditional_formatting:
            for rule in cf.rules:
                out.setdefault(str(cf.sqref), []).extend(rule.formula or [rule.type])
        return out

    def test_metrics_rules_compare_with_the_rows_covenants(self, written):
        _, _, wb = written
        ws = wb["Metrics"]
        letter = {lab: openpyxl.utils.get_column_letter(column_of(ws, lab))
                  for lab in ("Min DSCR", "DSCR lock-up", "DSCR default",
                              "Max LTV (liquidation)", "First lock-up breach (period)",
                              "MC PD")}
        rules = self.rules(ws)
        d = letter["Min DSCR"]
        assert rules[f"{d}4:{d}8"] == [
            f"AND(ISNUMBER(${d}4),${d}4<${letter['DSCR default']}4)",
            f"AND(ISNUMBER(${d}4),${d}4<${letter['DSCR lock-up']}4)"]
        ltv = letter["Max LTV (liquidation)"]
        assert rules[f"{ltv}4:{ltv}8"] == [f"AND(ISNUMBER(${ltv}4),${ltv}4>1)"]
        b = letter["First lock-up breach (period)"]
        assert rules[f"{b}4:{b}8"] == [f"AND(ISNUMBER(${b}4),${b}4>0)"]
        assert rules[f"{letter['MC PD']}4:{letter['MC PD']}8"] == ["colorScale"]

    def test_fills(self, written):
        _, _, wb = written
        ws = wb["Metrics"]
        fills = [r.dxf.fill.fgColor.rgb for cf in ws.conditional_formatting for r in cf.rules
                 if r.dxf is not None]
        assert {"00FFC7CE", "00FFEB9C"} <= set(fills)

    def test_other_sheets_have_rules(self, written):
        _, _, wb = written
        for name in ("Periods", "Scenarios", "Summary", "Errors"):
            assert self.rules(wb[name]), name


class TestCharts:
    def test_three_charts(self, written):
        _, _, wb = written
        charts = wb["Charts"]._charts
        assert len(charts) == 3
        # 3 worst facilities + the dashed 1.00x / 100% line; 2 GPU models
        assert [len(c.series) for c in charts] == [4, 4, 2]

    def test_chart_data_is_the_worst_facilities_periods(self, written):
        result, _, wb = written
        ws = wb["Chart data"]
        header = [c.value for c in ws[3]]
        # lowest minimum DSCR first: CR-1 (0.90x), NW-2 (1.10x), LK-1 (1.30x)
        assert header[:5] == ["Years", "CR-1 +1", "NW-2 =HYPERLINK(\"http://x\",\"y\")",
                              "LK-1 @SUM(A1)", "1.00x"]
        years = sorted(set(result.periods.loc[result.periods.facility_id.isin(
            ["CR-1", "NW-2", "LK-1"]), "year"].round(9)))
        got_years = [ws.cell(4 + i, 1).value for i in range(len(years))]
        assert got_years == pytest.approx(years, abs=1e-12)
        p = result.periods.set_index(["facility_id", "year"])["dscr"]
        for i, y in enumerate(years):
            for j, fid in enumerate(["CR-1", "NW-2", "LK-1"], start=2):
                want = next((v for (f, yy), v in p.items() if f == fid and abs(yy - y) < 1e-9),
                            None)
                assert ws.cell(4 + i, j).value == want

    def test_residual_block(self, written):
        result, _, wb = written
        ws = wb["Chart data"]
        row3 = [c.value for c in ws[3]]
        start = row3.index("Age (years)") + 1
        assert row3[start:start + 2] == ["H100", "A100"]
        got = [ws.cell(4 + i, start + 2).value for i in range(len(result.residual_curves))]
        assert got == pytest.approx(result.residual_curves["A100"].tolist(), rel=1e-15)


# --------------------------------------------------------------------------- LibreOffice

@pytest.fixture(scope="module")
def recalculated(written, tmp_path_factory):
    """The results workbook after LibreOffice computed its formulas (cached values)."""
    _, path, _ = written
    out = lo.recalculate(path, tmp_path_factory.mktemp("lo"))
    return openpyxl.load_workbook(out, data_only=True)


@pytest.mark.libreoffice
class TestLibreOffice:
    def test_totals_equal_pandas_sums(self, written, recalculated):
        result, _, _ = written
        m = result.metrics
        rows = summary_rows(recalculated["Summary"])
        expected = {
            "Facilities computed": 5,
            "GPUs financed": 1000 + 2000 + 500 + 800 + 1200,
            "Drawn amount": m["drawn_amount"].sum(),
            "Debt modelled": m["debt"].sum(),
            "Collateral at market value": 74e6,
            "Collateral at liquidation value": m["liquidation_value"].sum(),
            "Expected loss, undiscounted (Monte Carlo)": 37500.75,
            "Facilities breaching lock-up": 2,
            "Facilities breaching default": 1,
            "Facilities with liquidation LTV above 100%": 2,
        }
        for label, want in expected.items():
            formula, core, diff, _ = rows[label][:4]
            assert formula == pytest.approx(want, abs=0.005), label
            assert core == pytest.approx(want, abs=0.005), label
            assert diff == pytest.approx(0, abs=0.005), label

    def test_by_type_equals_groupby(self, written, recalculated):
        result, _, _ = written
        m = result.metrics
        rows = summary_rows(recalculated["Summary"])
        for t, g in m.groupby("borrower_type"):
            facilities, drawn, debt, mv, lv, lockup, default, el = rows[t][:8]
            assert facilities == len(g)
            assert drawn == pytest.approx(g["drawn_amount"].sum(), abs=0.005)
            assert debt == pytest.approx(g["debt"].sum(), abs=0.005)
            assert mv == pytest.approx(g["market_value"].sum(), abs=0.005)
            assert lv == pytest.approx(g["liquidation_value"].sum(), abs=0.005)
            assert lockup == (g["first_breach_lockup"] > 0).sum()
            assert default == (g["first_breach_default"] > 0).sum()
            assert el == pytest.approx(g["mc_expected_loss"].sum(), abs=0.005)
        assert rows["miner"][8] == 1.0 and rows["other"][8] is None

    def test_renders_to_pdf(self, written, tmp_path):
        _, path, _ = written
        pdf = lo.to_pdf(path, tmp_path)
        assert lo.pdf_pages(pdf) >= 9  # every sheet prints at least one page


# --------------------------------------------------------------------------- big tapes

class TestPeriodsOverflow:
    def test_periods_go_to_csv_beyond_the_limit(self, tmp_path):
        result = make_result()
        path = write_results(result, tmp_path / "r.xlsx", max_period_rows=10,
                             chart_facilities=1)
        csv = periods_csv_path(path)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["r.xlsx", "r_periods.csv"]
        back = pd.read_csv(csv)
        assert len(back) == len(result.periods)
        assert back["dscr"].tolist() == result.periods["dscr"].tolist()
        wb = openpyxl.load_workbook(path)
        ws = wb["Periods"]
        shown = {ws.cell(r, 1).value for r in range(FIRST, ws.max_row + 1)}
        # the worst by min DSCR (CR-1), by LTV (CR-1) and the engine's worst (CR-1, NW-2)
        assert shown == {"CR-1", "NW-2"}
        assert "r_periods.csv" in ws.cell(2, 1).value
        notes = [r[0] for r in wb["Summary"].iter_rows(values_only=True) if r[0]]
        assert any("r_periods.csv" in n for n in notes)

    def test_periods_split_over_sheets(self, tmp_path):
        result = make_result()
        wb = openpyxl.load_workbook(write_results(result, tmp_path / "r.xlsx",
                                                  rows_per_sheet=10))
        sheets = [s for s in wb.sheetnames if s.startswith("Periods")]
        assert sheets == ["Periods", "Periods 2", "Periods 3"]
        ids = [wb[s].cell(r, 1).value for s in sheets
               for r in range(FIRST, wb[s].max_row + 1)]
        assert ids == result.periods["facility_id"].tolist()
        assert not (tmp_path / "r_periods.csv").exists()

    def test_default_limit_keeps_each_sheet_within_excel(self):
        assert results.DEFAULT_MAX_PERIOD_ROWS + HEADER_ROWS <= EXCEL_MAX_ROWS

    @pytest.mark.slow
    def test_thousands_of_facilities(self, tmp_path):
        n, t = 1500, 40
        ids = [f"F{i:05d}" for i in range(n)]
        rng = np.random.default_rng(3)
        metrics = pd.DataFrame({"borrower_type": rng.choice(["neocloud", "miner"], n),
                                "debt": rng.uniform(1e6, 1e9, n),
                                "min_dscr": rng.uniform(0.5, 2, n)},
                               index=pd.Index(ids, name="facility_id"))
        periods = pd.DataFrame({"facility_id": np.repeat(ids, t),
                                "period": np.tile(np.arange(1, t + 1), n),
                                "year": np.tile(np.arange(1, t + 1) / 4, n),
                                "dscr": rng.uniform(0.5, 2, n * t)})
        empty = pd.DataFrame()
        res = RecalcResult(metrics=metrics, periods=periods, scenarios=empty,
                           scenario_summary=empty, summary_totals=empty,
                           summary_by_type=empty, worst=empty, residual_curves=empty,
                           errors=empty)
        path = write_results(res, tmp_path / "big.xlsx")
        book = CalamineWorkbook.from_path(str(path))
        grid = book.get_sheet_by_name("Periods").to_python()
        assert len(grid) == HEADER_ROWS + n * t
        assert grid[-1][0] == ids[-1] and grid[-1][3] == periods["dscr"].iloc[-1]


# --------------------------------------------------------------------------- round trip

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
_float = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(_text, _float, st.booleans()), min_size=1, max_size=8))
def test_values_round_trip(tmp_path, rows):
    """Whatever text and numbers the engine hands over come back as written."""
    n = len(rows)
    metrics = pd.DataFrame({"borrower": [r[0] for r in rows],
                            "debt": [r[1] for r in rows],
                            "ig": [r[2] for r in rows]},
                           index=pd.Index([f"id{i}" for i in range(n)], name="facility_id"))
    empty = pd.DataFrame()
    res = RecalcResult(metrics=metrics, periods=empty, scenarios=empty,
                       scenario_summary=empty, summary_totals=empty, summary_by_type=empty,
                       worst=empty, residual_curves=empty, errors=empty)
    path = write_results(res, tmp_path / "rt.xlsx")
    ws = openpyxl.load_workbook(path)["Metrics"]
    for i, (text, number, flag) in enumerate(rows):
        want = clean_text(text) or None
        assert ws.cell(FIRST + i, 2).value == want
        if want is not None:
            assert ws.cell(FIRST + i, 2).data_type == "s"
        got = ws.cell(FIRST + i, 3).value
        assert (got == number and math.copysign(1, got) == math.copysign(1, number)) or \
            (got == 0 and number == 0)
        assert ws.cell(FIRST + i, 4).value is flag


# --------------------------------------------------------------------------- all or nothing

class TestAtomicWrite:
    def test_failure_mid_write_leaves_nothing(self, tmp_path, monkeypatch):
        def broken(block):
            yield b'<row r="4"><c r="A4"><v>1</v></c></row>'
            raise OSError("disk full")

        monkeypatch.setattr(sheet_stream, "_rows_xml", broken)
        with pytest.raises(OSError, match="disk full"):
            write_results(make_result(), tmp_path / "r.xlsx")
        assert list(tmp_path.iterdir()) == []

    def test_failure_keeps_the_previous_file(self, tmp_path, monkeypatch):
        target = tmp_path / "r.xlsx"
        target.write_bytes(b"previous results")
        monkeypatch.setattr(openpyxl.Workbook, "save",
                            lambda self, f: (_ for _ in ()).throw(OSError("no space")))
        with pytest.raises(OSError, match="no space"):
            write_results(make_result(), target)
        assert target.read_bytes() == b"previous results"
        assert [p.name for p in tmp_path.iterdir()] == ["r.xlsx"]

    def test_csv_overflow_failure_leaves_neither_file(self, tmp_path, monkeypatch):
        monkeypatch.setattr(results, "rewrite_package",
                            lambda *a, **k: (_ for _ in ()).throw(OSError("boom")))
        with pytest.raises(OSError, match="boom"):
            write_results(make_result(), tmp_path / "r.xlsx", max_period_rows=5)
        assert list(tmp_path.iterdir()) == []

    def test_output_permissions_follow_umask(self, tmp_path):
        path = write_results(make_result(), tmp_path / "r.xlsx")
        mask = os.umask(0)
        os.umask(mask)
        assert path.stat().st_mode & 0o777 == 0o666 & ~mask


class TestBadArguments:
    def test_not_a_result(self, tmp_path):
        with pytest.raises(GpuCreditError, match="result must be a RecalcResult, got dict"):
            write_results({}, tmp_path / "r.xlsx")

    def test_table_not_a_frame(self, tmp_path):
        res = make_result()
        res.periods = [1, 2]
        with pytest.raises(GpuCreditError, match=r"result\.periods must be a DataFrame, got list"):
            write_results(res, tmp_path / "r.xlsx")

    def test_missing_folder(self, tmp_path):
        with pytest.raises(GpuCreditError, match=r"the folder .*nowhere does not exist"):
            write_results(make_result(), tmp_path / "nowhere" / "r.xlsx")

    def test_metrics_without_ids(self, tmp_path):
        res = make_result()
        res.metrics = res.metrics.reset_index(drop=True)
        with pytest.raises(GpuCreditError, match="facility_id index or column"):
            write_results(res, tmp_path / "r.xlsx")

    @pytest.mark.parametrize(("kw", "msg"), [
        ({"rows_per_sheet": 0}, "rows_per_sheet must be >= 1, got 0"),
        ({"max_period_rows": -1}, "max_period_rows must be >= 0 or None, got -1")])
    def test_limits(self, tmp_path, kw, msg):
        with pytest.raises(GpuCreditError, match=msg):
            write_results(make_result(), tmp_path / "r.xlsx", **kw)


# --------------------------------------------------------------------------- spooled tables

def spooled(result: RecalcResult, folder, sizes=(1, 2, 2)) -> RecalcResult:
    """``result`` with its metrics and scenarios spooled in pieces of ``sizes`` rows, the
    first piece without a Monte Carlo column (as a chunk of short loans lacks PD-by-year
    columns)."""
    tables = {"metrics": SpooledTable(folder, "metrics"),
              "scenarios": SpooledTable(folder, "scenarios", keep_index=False)}
    for name, table in tables.items():
        frame, start = getattr(result, name), 0
        for i, size in enumerate(sizes * (2 if name == "scenarios" else 1)):
            piece = frame.iloc[start:start + size]
            table.append(piece.drop(columns=["mc_pd"]) if name == "metrics" and i == 0
                         else piece.reset_index(drop=True) if name == "scenarios" else piece)
            start += size
    tables["metrics"].columns = list(result.metrics.columns)
    tables["periods"] = SpooledTable(folder, "periods", keep_index=False)
    for piece in np.array_split(np.arange(len(result.periods)), 3):
        tables["periods"].append(result.periods.iloc[piece].reset_index(drop=True))
    return dataclasses.replace(result, **tables)


@pytest.mark.parametrize("scenarios", [True, False])
def test_a_spooled_result_writes_the_same_files(tmp_path, scenarios):
    kept = make_result()
    if not scenarios:  # a run with --no-scenarios spools an empty table
        kept = dataclasses.replace(kept, scenarios=pd.DataFrame())
    kept.metrics.loc["NW-1", "mc_pd"] = np.nan  # its piece has no such column
    kept.metrics.loc["CR-1", "debt"] = 123_456_789.0  # a wider column beyond the first piece
    back = spooled(kept, tmp_path)
    assert len(list(back.metrics.pieces())) == 3
    write_results(kept, tmp_path / "kept.xlsx")
    write_results(back, tmp_path / "back.xlsx")
    with zipfile.ZipFile(tmp_path / "kept.xlsx") as a, \
            zipfile.ZipFile(tmp_path / "back.xlsx") as b:
        assert a.namelist() == b.namelist()
        differ = [n for n in a.namelist() if a.read(n) != b.read(n)]
    assert differ in ([], ["docProps/core.xml"])  # only the time it was made
    assert len(list(back.periods.pieces())) == 3
    for name, kept_csv, back_csv in zip(
            csv_out.TABLES, csv_out.write_csv_tables(kept, tmp_path / "kept"),
            csv_out.write_csv_tables(back, tmp_path / "back"), strict=True):
        assert back_csv.read_bytes() == kept_csv.read_bytes(), name



@pytest.mark.parametrize("periods_format", ["csv", "parquet"])
def test_every_period_beside_a_spooled_workbook(tmp_path, periods_format):
    """Too many periods for the workbook: all of them go to the file beside it, piece by
    piece from the spool, the same as from memory; Parquet keeps the types."""
    kept = make_result()
    kept.metrics.loc["NW-1", "mc_pd"] = np.nan  # its spooled piece has no such column
    (tmp_path / "kept").mkdir()
    (tmp_path / "back").mkdir()
    a = write_results(kept, tmp_path / "kept" / "r.xlsx", max_period_rows=10,
                      chart_facilities=1, periods_format=periods_format)
    b = write_results(spooled(kept, tmp_path), tmp_path / "back" / "r.xlsx",
                      max_period_rows=10, chart_facilities=1, periods_format=periods_format)
    name = f"r_periods.{periods_format}"
    assert sorted(p.name for p in a.parent.iterdir()) == ["r.xlsx", name]
    if periods_format == "csv":
        assert (a.parent / name).read_bytes() == (b.parent / name).read_bytes()
    else:  # one row group from memory, one a piece from the spool: the same table
        for folder in (a.parent, b.parent):
            pd.testing.assert_frame_equal(pd.read_parquet(folder / name),
                                          kept.periods.reset_index(drop=True))
    with zipfile.ZipFile(a) as x, zipfile.ZipFile(b) as y:
        assert [n for n in x.namelist() if x.read(n) != y.read(n)] in (
            [], ["docProps/core.xml"])
    ws = openpyxl.load_workbook(a)["Periods"]
    assert name in ws.cell(2, 1).value


@pytest.mark.parametrize("ahead", [None, 0, 1])
def test_rendered_in_worker_processes_the_same_bytes(tmp_path, monkeypatch, ahead):
    """The big sheets' rows rendered by worker processes (the processes engine's
    mapper), spooled pieces read there: every part byte for byte the in-process one's,
    whether the rendering fetched ahead runs to the end of a block or stops at its budget
    (nothing, or one piece ahead) and the writer takes over."""
    from gpucredit.processes import process_mapper

    if ahead is not None:
        monkeypatch.setattr(sheet_stream, "RENDER_AHEAD_BYTES", ahead)
    kept = make_result()
    kept.metrics.loc["NW-1", "mc_pd"] = np.nan  # its spooled piece has no such column
    back = spooled(kept, tmp_path)
    here = write_results(back, tmp_path / "here.xlsx")
    mapper, close = process_mapper(2)
    try:
        there = write_results(back, tmp_path / "there.xlsx", mapper=mapper)
    finally:
        close()
    with zipfile.ZipFile(here) as a, zipfile.ZipFile(there) as b:
        assert a.namelist() == b.namelist()
        differ = [n for n in a.namelist() if a.read(n) != b.read(n)]
    assert differ in ([], ["docProps/core.xml"])  # only the time it was made
    ws = openpyxl.load_workbook(there, read_only=True)["Metrics"]
    ids = [r[0] for r in ws.iter_rows(min_row=FIRST, values_only=True)]
    assert ids == list(kept.metrics.index)  # the pieces in order, every row once


def test_a_long_reason_gets_a_row_tall_enough(tmp_path):
    """The Credit sheet wraps each rating's reason in its 70-wide column: a reason of 200
    characters takes a row three lines tall (Excel and LibreOffice keep a row's written
    height, so text wrapped into a 15-point row would run over the rows below); a short
    one keeps the default height."""
    result = make_result()
    result.metrics["rating_bucket"] = "BB-"
    result.metrics["rating_reason"] = ["no default in 2,000 paths", "x" * 200, "", "y" * 71,
                                       "z" * 70]
    ws = openpyxl.load_workbook(write_results(result, tmp_path / "r.xlsx"))["Credit"]
    ids = [ws.cell(r, 1).value for r in range(FIRST, FIRST + 5)]
    height = {fid: ws.row_dimensions[FIRST + i].height for i, fid in enumerate(ids)}
    assert height["NW-2"] == 15 * 3 + 3
    assert height["HB-1"] == 15 * 2 + 3  # 71 characters: two lines
    assert height["NW-1"] is None and height["LK-1"] is None  # one line (70 fits)
    reason = ws.cell(FIRST + ids.index("NW-2"), [c.value for c in ws[HEADER_ROWS]].index(
        "Why this rating") + 1)
    assert reason.alignment.wrap_text


def test_a_failing_render_fails_the_write(tmp_path):
    """A render task that fails while fetched ahead (a worker lost) fails the write where
    its block is written: the error reaches the caller, and no workbook is left."""
    def mapper(fn, tasks):
        for i, task in enumerate(tasks):
            if i == 1:
                raise RuntimeError("worker lost")
            yield i, fn(task)

    back = spooled(make_result(), tmp_path)
    target = tmp_path / "out" / "results.xlsx"
    target.parent.mkdir()
    with pytest.raises(RuntimeError, match="worker lost"):
        write_results(back, target, mapper=mapper)
    assert list(target.parent.iterdir()) == []


def test_a_failing_deflate_thread_fails_the_write(tmp_path, monkeypatch):
    """Chunks are deflated in a thread: its error reaches the caller, nothing is left."""
    def text_not_bytes(block):
        yield '<row r="4"><c r="A4"><v>1</v></c></row>'  # the handle takes bytes only

    monkeypatch.setattr(sheet_stream, "_rows_xml", text_not_bytes)
    with pytest.raises(TypeError):
        write_results(make_result(), tmp_path / "r.xlsx")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- CSV tables

class TestCsvTables:
    def test_every_table(self, tmp_path):
        result = make_result()
        paths = csv_out.write_csv_tables(result, tmp_path / "tables")
        assert [p.name for p in paths] == [f"{t}.csv" for t in csv_out.TABLES]
        metrics = pd.read_csv(paths[0])
        assert metrics["facility_id"].tolist() == list(result.metrics.index)
        assert metrics["drawn_amount"].tolist() == result.metrics["drawn_amount"].tolist()
        # formula-like text is marked as text with an apostrophe; numbers are untouched
        assert metrics["borrower"].tolist()[1:] == ["'" + s for s in INJECTIONS]
        periods = pd.read_csv(paths[1])
        assert periods["dscr"].tolist() == result.periods["dscr"].tolist()
        curves = pd.read_csv(tmp_path / "tables" / "residual_curves.csv")
        assert curves["age_years"].tolist() == result.residual_curves.index.tolist()
        info = pd.read_csv(tmp_path / "tables" / "run_info.csv")
        assert dict(zip(info["item"], info["value"], strict=True))["seed"] == "7"

    def test_unescaped_for_programs(self, tmp_path):
        paths = csv_out.write_csv_tables(make_result(), tmp_path / "t", escape_formulas=False)
        assert pd.read_csv(paths[0])["borrower"].tolist()[1:] == INJECTIONS

    def test_all_or_nothing(self, tmp_path, monkeypatch):
        calls = []
        real = csv_out.write_csv

        def flaky(frame, path, **kw):
            calls.append(path)
            if len(calls) == 4:
                raise OSError("disk full")
            return real(frame, path, **kw)

        monkeypatch.setattr(csv_out, "write_csv", flaky)
        with pytest.raises(OSError, match="disk full"):
            csv_out.write_csv_tables(make_result(), tmp_path / "tables")
        assert list(tmp_path.iterdir()) == []

    def test_existing_folder_keeps_other_files(self, tmp_path, monkeypatch):
        (tmp_path / "notes.txt").write_text("mine")
        (tmp_path / "metrics.csv").write_text("old")
        monkeypatch.setattr(csv_out, "write_csv",
                            lambda *a, **k: (_ for _ in ()).throw(OSError("stop")))
        with pytest.raises(OSError):
            csv_out.write_csv_tables(make_result(), tmp_path)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.csv", "notes.txt"]
        assert (tmp_path / "metrics.csv").read_text() == "old"

    def test_bad_arguments(self, tmp_path):
        with pytest.raises(GpuCreditError, match="result must be a RecalcResult, got str"):
            csv_out.write_csv_tables("x", tmp_path)
        with pytest.raises(GpuCreditError, match=r"the folder .*missing does not exist"):
            csv_out.write_csv_tables(make_result(), tmp_path / "missing" / "tables")


@pytest.mark.slow
def test_passes_open_xml_schema_validation(written):
    """The rows streamed into the package are valid SpreadsheetML (Open XML SDK)."""
    _, path, _ = written
    assert lo.open_xml_findings(path) == []


def test_a_rating_beside_a_liquidation_ltv_above_100_is_explained():
    from gpucredit.excel.results import _collateral_note

    metrics = pd.DataFrame({"max_ltv_liquidation": [1.6, 0.7, np.nan],
                            "rating_bucket": ["AA+", "BB", "A"]})
    [note] = _collateral_note(metrics)
    assert note.startswith("Liquidation LTV: 1 of 3 facilities owe more than their GPUs")
    assert "Credit sheet" in note
    assert _collateral_note(metrics.assign(max_ltv_liquidation=0.5)) == []
    assert _collateral_note(metrics.drop(columns="rating_bucket")) == []
