"""The deal-model workbook: its conventions, its validity, and two engines that agree.

* Layout and conventions: inputs styled and named, the facility defined once
  (GPU_FACILITY) and its period table one array formula across time, native checks
  below it, periods that follow the tenor, no structured references, three charts.
* Open XML validity: ``npx @ooxml-tools/validate`` finds nothing beyond openpyxl's one
  known default-font finding (none at all after :func:`styles.fix_font_order`).
* Two ways to compute it: LibreOffice (a real spreadsheet engine, which cannot see the
  add-in) computes the native cells; ``recalc_workbooks`` (the ``formulas`` engine with
  the GPU_ functions registered) computes the GPU_ cells. Both are compared with the core
  called directly on the inputs read back from the workbook, and with each other.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import openpyxl
import pytest
from openpyxl.formula.translate import Translator
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.formula import ArrayFormula
from tests import libreoffice as lo

from gpucredit import collateral as coll
from gpucredit import coverage, curves, debt, fleet, pricing, rents, udfs
from gpucredit.errors import GpuCreditError
from gpucredit.excel import styles as st
from gpucredit.excel.model_template import INPUTS, SCHEDULE_ROWS, build_model_workbook
from gpucredit.excel.recalc import recalc_workbooks

N = 20  # periods of the default loan (five years of quarters)
COLUMNS = 28  # period columns of the default model (seven years of quarters)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    return build_model_workbook(tmp_path_factory.mktemp("model") / "deal_model.xlsx")


@pytest.fixture(scope="module")
def wb(model_path):
    return openpyxl.load_workbook(model_path)


def _cells(wb, name):
    """(sheet title, list of coordinates) of a defined name."""
    [(sheet, ref)] = list(wb.defined_names[name].destinations)
    ws = wb[sheet]
    cells = ws[ref.replace("$", "")]
    if isinstance(cells, tuple):
        flat = [c for row in (cells if isinstance(cells[0], tuple) else (cells,)) for c in row]
    else:
        flat = [cells]
    return sheet, [c.coordinate for c in flat]


def _values(wb_formulas, wb_values, name):
    sheet, coords = _cells(wb_formulas, name)
    return [wb_values[sheet][c].value for c in coords]


def _row_by_label(ws, label):
    for row in ws.iter_rows(min_col=1, max_col=2):
        for cell in row:
            if cell.value == label:
                return cell.row
    raise KeyError(label)


def _row_values(ws_values, row, n=N):
    return [ws_values.cell(row, 3 + j).value for j in range(n)]


def _outputs(ws_values, column):
    """Outputs sheet: metric label -> the value in ``column`` (2: GPU_, 3: native)."""
    return {ws_values.cell(r, 1).value: ws_values.cell(r, column).value
            for r in range(5, ws_values.max_row + 1) if ws_values.cell(r, 1).value}


@pytest.fixture(scope="module")
def inputs(wb):
    return {spec.name: wb["Inputs"][_cells(wb, spec.name)[1][0]].value
            for _, specs in INPUTS for spec in specs}


@pytest.fixture(scope="module")
def core(inputs):
    """The core called directly on the workbook's inputs (annual rates, m periods a year)."""
    x = inputs
    m = x["periods_per_year"]
    t = np.arange(1, N + 1)
    rent = rents.trend_path(x["rent0"], x["rent_deflation"], N, m)
    share = np.where(t <= x["contract_periods"], x["contracted_share"], 0.0)
    flows = fleet.cfads(
        x["gpus"], x["utilization"], rent, m, contracted_share=share,
        contract_rate=x["contract_rate"], kw_per_gpu=x["kw_per_gpu"], pue=x["pue"],
        price_per_kwh=x["price_per_kwh"], colocation_per_kw_month=x["colocation_per_kw_month"],
        other_opex_per_gpu_year=x["other_opex_per_gpu_year"],
        maintenance_capex_per_gpu_year=x["maintenance_capex_per_gpu_year"])
    sched = debt.schedule(x["loan_amount"], x["annual_rate"], N, m, x["amortization"])
    residual = curves.residual_value(x["age0"] + t / m, x["curve_family"], lam=x["curve_lam"],
                                     floor=x["curve_floor"])
    market = x["gpus"] * x["cost_per_gpu"] * residual
    liq = coll.liquidation_value(market, x["gpus"], x["market_absorption"],
                                 x["months_to_sell"], install_haircut=x["install_haircut"],
                                 sale_cost_rate=x["sale_cost_rate"])
    dscr = coverage.dscr(flows.cfads, sched.debt_service)
    owed = {"accrued_interest": sched.interest}  # the core's LTV: debt and the period's interest
    return {
        "rent": rent, "flows": flows, "sched": sched, "dscr": dscr,
        "residual": residual, "market": market, "liq": liq,
        "ltv": coll.ltv(sched.opening, market, **owed),
        "ltv_liq": coll.ltv(sched.opening, liq.recovery, **owed),
        "llcr": coverage.llcr(flows.cfads, sched.opening, x["annual_rate"], m)[0],
        "capacity": debt.debt_capacity(flows.cfads, x["annual_rate"], x["target_dscr"], m),
        "wal": debt.wal(sched.principal, m),
        "breakeven": coverage.breakeven_rent(flows.merchant_gpu_hours,
                                             flows.cfads - flows.merchant_revenue,
                                             sched.debt_service, 1.0),
        "hazard": pricing.hazard_rate(x["quoted_spread"], x["recovery"]),
    }


# ----------------------------------------------------------------------------- conventions

def test_three_sheets_and_every_input_named_and_styled(wb):
    assert wb.sheetnames == ["Inputs", "Calcs", "Outputs"]
    for _, specs in INPUTS:
        for spec in specs:
            sheet, [coord] = _cells(wb, spec.name)
            cell = wb[sheet][coord]
            assert sheet == "Inputs" and cell.value == spec.value
            assert cell.style == st.INPUT
            assert cell.font.color.rgb == "00" + st.BLUE
            assert cell.fill.fgColor.rgb == "00" + st.LIGHT_YELLOW


def test_calcs_time_runs_left_to_right_with_the_schedule_and_native_checks(wb):
    ws = wb["Calcs"]
    arrays = [c.value for row in ws.iter_rows() for c in row if isinstance(c.value, ArrayFormula)]
    [schedule] = arrays  # the facility's whole period table: one array formula
    assert schedule.text == f"=TRANSPOSE(GPU_FACILITY_SCHEDULE(facility,FALSE,{COLUMNS}))"
    top = _row_by_label(ws, SCHEDULE_ROWS[0][1])
    last = get_column_letter(2 + COLUMNS)
    assert schedule.ref == f"C{top}:{last}{top + len(SCHEDULE_ROWS) - 1}"
    checks = [r for r in range(1, ws.max_row + 1) if ws.cell(r, 3).style == st.CHECK]
    assert len(checks) >= 15
    for r in checks:
        assert "GPU_" not in ws.cell(r, 3).value  # native: independent of the add-in


def test_the_facility_is_defined_once_and_read_through_its_handle(wb):
    formulas = [c.value.text if isinstance(c.value, ArrayFormula) else c.value
                for ws in wb.worksheets for row in ws.iter_rows() for c in row
                if isinstance(c.value, (str, ArrayFormula))]
    gpu = [f for f in formulas if f.startswith("=") and "GPU_" in f]
    assert sum("GPU_FACILITY(" in f for f in gpu) == 1
    assert not any("GPU_CFADS" in f for f in gpu)
    for f in gpu:
        if "GPU_FACILITY_" in f:
            assert re.search(r"GPU_FACILITY_\w+\(facility[,)]", f), f
    sheet, [handle] = _cells(wb, "facility")
    assert wb[sheet][handle].value == "=GPU_FACILITY(facility_fields,periods_per_year,start_date)"


def test_schedule_labels_are_the_functions_columns():
    handle = udfs.GPU_FACILITY([["gpus", 10.0], ["gpu_unit_cost", 1.0], ["merchant_rent", 2.0],
                                ["utilization", 0.8], ["debt", 5.0], ["annual_rate", 0.1],
                                ["tenor", 4.0]], 4, [[dt.date(2026, 6, 30)]])
    header = udfs.GPU_FACILITY_SCHEDULE(handle)[0]
    assert [label.removesuffix(" (the schedule's own)") for _, label, _, _ in SCHEDULE_ROWS] \
        == header


def test_only_plain_ranges_and_defined_names(wb):
    for ws in wb.worksheets:
        assert not ws.tables
        for row in ws.iter_rows():
            for cell in row:
                text = cell.value.text if isinstance(cell.value, ArrayFormula) else cell.value
                if isinstance(text, str) and text.startswith("="):
                    assert "[" not in text, cell.coordinate  # no structured references


def test_outputs_have_three_line_charts(wb):
    charts = wb["Outputs"]._charts
    assert len(charts) == 3
    titles = [c.title.tx.rich.p[0].r[0].t for c in charts]
    assert titles == ["DSCR against the lock-up covenant",
                      "LTV before and after the liquidation haircut",
                      "Residual value of the GPUs"]
    assert all(type(c).__name__ == "LineChart" for c in charts)


def test_bad_arguments(tmp_path):
    with pytest.raises(GpuCreditError, match="columns must be a whole number"):
        build_model_workbook(tmp_path / "m.xlsx", columns=1)
    with pytest.raises(GpuCreditError, match=r"= 20 periods does not fit in 12 columns"):
        build_model_workbook(tmp_path / "m.xlsx", columns=12)
    with pytest.raises(GpuCreditError, match=r"\.xlsx workbook"):
        build_model_workbook(tmp_path / "m.xls")


def test_shipped_copy_matches_the_builder(tmp_path):
    shipped = Path(__file__).resolve().parents[1] / "workbooks" / "deal_model.xlsx"
    fresh = openpyxl.load_workbook(build_model_workbook(tmp_path / "m.xlsx"))
    old = openpyxl.load_workbook(shipped)
    for name in fresh.sheetnames:
        a = [[c.value.text if isinstance(c.value, ArrayFormula) else c.value for c in row]
             for row in fresh[name].iter_rows()]
        b = [[c.value.text if isinstance(c.value, ArrayFormula) else c.value for c in row]
             for row in old[name].iter_rows()]
        assert a == b, f"workbooks/deal_model.xlsx is stale ({name}): rebuild it"


# ----------------------------------------------------------------------------- schema

KNOWN_OPENPYXL_FINDING = "x:fonts[1]/x:font[1]"  # the default font's color element


def _validate(path: Path) -> list[str]:
    npx = shutil.which("npx")
    if npx is None:
        if lo.in_ci():
            pytest.fail("npx (node) is missing: the Open XML schema check must run in CI")
        pytest.skip("npx (node) is not installed")
    proc = subprocess.run([npx, "--yes", "@ooxml-tools/validate", str(path)],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "NO_UPDATE_NOTIFIER": "1"})
    out = proc.stdout + proc.stderr
    assert "Found" in out, out[-2000:]
    return [line for line in out.splitlines() if line.startswith("./")]


@pytest.mark.slow
def test_template_and_recalculated_copies_pass_the_open_xml_schema(model_path, tmp_path):
    [kept] = recalc_workbooks([model_path], tmp_path / "kept.xlsx")
    [static] = recalc_workbooks([model_path], tmp_path / "static.xlsx", values_only=True)
    for path in (model_path, kept.output, static.output):
        findings = [f for f in _validate(path) if KNOWN_OPENPYXL_FINDING not in f]
        assert findings == [], (path.name, findings)


# ----------------------------------------------------------------------------- two engines

@pytest.fixture(scope="module")
def by_libreoffice(model_path, tmp_path_factory):
    out = lo.recalculate(model_path, tmp_path_factory.mktemp("lo"))
    return openpyxl.load_workbook(out, data_only=True)


@pytest.fixture(scope="module")
def by_recalc(model_path, tmp_path_factory):
    [res] = recalc_workbooks([model_path], tmp_path_factory.mktemp("recalc") / "m.xlsx")
    assert res.ok and res.error_cells == 0, res
    return openpyxl.load_workbook(res.output, data_only=True)


def _close(got, expected, rtol=1e-9):
    np.testing.assert_allclose(np.asarray(got, dtype=float), np.asarray(expected, dtype=float),
                               rtol=rtol, atol=1e-9)


@pytest.mark.libreoffice
def test_native_checks_computed_by_libreoffice_match_the_core(wb, by_libreoffice, core,
                                                             inputs):
    v = by_libreoffice
    calcs = v["Calcs"]
    _close(_row_values(calcs, _row_by_label(wb["Calcs"], "Market rent: rent0 x (1 - deflation)"
                                            "^((t-1)/m)")), core["rent"])
    _close(_values(wb, v, "cfads_chk")[:N], core["flows"].cfads)
    _close(_values(wb, v, "mhours_chk")[:N], core["flows"].merchant_gpu_hours)
    _close(_values(wb, v, "ds_chk")[:N], core["sched"].debt_service)
    _close(_values(wb, v, "principal_chk")[:N], core["sched"].principal)
    _close(_values(wb, v, "dscr_chk")[:N], core["dscr"])
    _close(_values(wb, v, "ltv_chk")[:N], core["ltv"])
    native = _outputs(v["Outputs"], 3)
    _close(native["LLCR at period 1"], core["llcr"])
    _close(native["Debt capacity at the sizing DSCR"], core["capacity"])
    _close(native["Weighted average life"], core["wal"])
    _close(native["Breakeven market rent (min DSCR 1.00x)"], core["breakeven"])
    _close(native["Minimum DSCR"], np.nanmin(core["dscr"]))
    _close(native["Hazard rate implied by the quoted spread"], core["hazard"])
    below = np.flatnonzero(core["dscr"] < inputs["covenant_dscr"]) + 1
    assert native["First period below the lock-up covenant"] == below[0] > 0
    # LibreOffice cannot see the add-in: the GPU_ cells are #NAME? there
    assert _values(wb, v, "dscr")[0] == "#NAME?"
    # after the tenor every native row is empty
    assert set(_row_values(calcs, _row_by_label(wb["Calcs"], "Period"), COLUMNS)[N:]) <= {None, ""}


def test_gpu_cells_computed_by_recalc_match_the_core(wb, by_recalc, core):
    v = by_recalc
    calcs = v["Calcs"]
    _close(_row_values(calcs, _row_by_label(wb["Calcs"], "Revenue")), core["flows"].revenue)
    _close(_values(wb, v, "cfads")[:N], core["flows"].cfads)
    _close(_values(wb, v, "debt_service")[:N], core["sched"].debt_service)
    _close(_values(wb, v, "principal")[:N], core["sched"].principal)
    _close(_values(wb, v, "dscr")[:N], core["dscr"])
    _close(_values(wb, v, "residual")[:N], core["residual"])
    _close(_row_values(calcs, _row_by_label(wb["Calcs"], "Liquidation value")),
           core["liq"].recovery)
    _close(_values(wb, v, "ltv")[:N], core["ltv"])
    _close(_values(wb, v, "ltv_liq")[:N], core["ltv_liq"])
    # the schedule fills its fixed range with empty cells after the tenor, never #N/A
    assert set(_values(wb, v, "dscr")[N:]) <= {None, ""}
    gpu = _outputs(v["Outputs"], 2)
    _close(gpu["Minimum DSCR"], np.nanmin(core["dscr"]))
    _close(gpu["LLCR at period 1"], core["llcr"])
    _close(gpu["Debt capacity at the sizing DSCR"], core["capacity"])
    _close(gpu["Weighted average life"], core["wal"])
    _close(gpu["Breakeven market rent (min DSCR 1.00x)"], core["breakeven"])
    _close(gpu["Maximum LTV on market value"], np.max(core["ltv"]))
    _close(gpu["Hazard rate implied by the quoted spread"], core["hazard"])
    assert gpu["GPU_ functions agree with the native checks"] == "OK"


def test_a_shorter_tenor_empties_the_columns_after_it(model_path, tmp_path):
    wb = openpyxl.load_workbook(model_path)
    sheet, [cell] = _cells(wb, "tenor_years")
    wb[sheet][cell].value = 3  # 12 quarters
    wb.save(tmp_path / "short.xlsx")
    [res] = recalc_workbooks([tmp_path / "short.xlsx"], tmp_path / "out.xlsx")
    assert res.ok and res.error_cells == 0, res
    v = openpyxl.load_workbook(res.output, data_only=True)
    periods = _values(wb, v, "period")
    assert periods[:12] == list(range(1, 13)) and set(periods[12:]) <= {None, ""}
    for name in ("dscr", "debt_service", "dscr_chk", "ds_chk", "period_end"):
        values = _values(wb, v, name)
        assert None not in values[:12] and "" not in values[:12], name
        assert set(values[12:]) <= {None, ""}, name
    assert _values(wb, v, "principal_chk")[11] == pytest.approx(
        _values(wb, v, "principal")[11], rel=1e-9)  # repaid at the new maturity
    assert _outputs(v["Outputs"], 2)["GPU_ functions agree with the native checks"] == "OK"


@pytest.mark.libreoffice
def test_the_native_debt_check_follows_each_repayment_profile(model_path, inputs, tmp_path):
    """Straight line and bullet too: LibreOffice's plain-Excel debt rows equal the core's
    schedule, and the add-in's rows agree with them (the Outputs flag says OK)."""
    wb = openpyxl.load_workbook(model_path)
    sheet, [cell] = _cells(wb, "amortization")
    paths = []
    for kind in ("straight_line", "bullet"):
        wb[sheet][cell].value = kind
        wb.save(tmp_path / f"{kind}.xlsx")
        paths.append(tmp_path / f"{kind}.xlsx")
    by_lo = lo.convert(paths, "xlsx", tmp_path / "lo")
    results = recalc_workbooks(paths, tmp_path / "recalc")
    for kind, lo_out, res in zip(("straight_line", "bullet"), by_lo, results, strict=True):
        sched = debt.schedule(inputs["loan_amount"], inputs["annual_rate"], N,
                              inputs["periods_per_year"], kind)
        v = openpyxl.load_workbook(lo_out, data_only=True)
        balloon = np.where(np.arange(1, N + 1) == N, sched.principal, 0.0) \
            if kind == "bullet" else 0.0  # refinanced, as the facility counts it
        _close(_values(wb, v, "principal_chk")[:N], sched.principal)
        _close(_values(wb, v, "ds_chk")[:N], sched.debt_service - balloon)
        mine = openpyxl.load_workbook(res.output, data_only=True)
        assert _outputs(mine["Outputs"], 2)["GPU_ functions agree with the native checks"] \
            == "OK", kind


@pytest.mark.libreoffice
def test_libreoffice_and_recalc_agree_cell_by_cell(wb, by_libreoffice, by_recalc):
    """Every native cell LibreOffice computed has the same value in the recalc output."""
    compared = 0
    for name in wb.sheetnames:
        for row in wb[name].iter_rows():
            for cell in row:
                formula = cell.value.text if isinstance(cell.value, ArrayFormula) else cell.value
                if not (isinstance(formula, str) and formula.startswith("=")):
                    continue
                if "GPU_" in formula or (name == "Outputs" and cell.column != 3):
                    continue  # uses the add-in (on Outputs only column C is native)
                a = by_libreoffice[name][cell.coordinate].value
                b = by_recalc[name][cell.coordinate].value
                if isinstance(a, str) and a.startswith("#"):
                    continue  # depends on a GPU_ cell: LibreOffice cannot compute it
                if isinstance(a, (int, float)) and isinstance(b, (int, float)):
                    assert b == pytest.approx(a, rel=1e-9, abs=1e-6), (name, cell.coordinate)
                else:
                    assert a == b or (a in (None, "") and b in (None, "")), \
                        (name, cell.coordinate, a, b)
                compared += 1
    assert compared > 200


# ----------------------------------------------------------------------------- inputs, time

def test_every_input_has_data_validation(wb):
    ws = wb["Inputs"]
    covered = {}
    for dv in ws.data_validations.dataValidation:
        for rng in dv.sqref.ranges:
            covered[rng.coord] = dv
    for _, specs in INPUTS:
        for spec in specs:
            dv = covered[_cells(wb, spec.name)[1][0]]
            assert dv.showErrorMessage and dv.error and dv.prompt, spec.name
    lists = {spec.name: covered[_cells(wb, spec.name)[1][0]].formula1
             for _, specs in INPUTS for spec in specs
             if covered[_cells(wb, spec.name)[1][0]].type == "list"}
    assert set(lists) == {"gpu_model", "amortization", "curve_family"}
    assert "H100" in lists["gpu_model"] and "annuity" in lists["amortization"]


def test_periods_follow_the_tenor_up_to_the_columns_there_are(wb):
    ws = wb["Inputs"]
    n_cell = _cells(wb, "n_periods")[1][0]
    assert ws[n_cell].value == "=tenor_years*periods_per_year"
    rules = {rng.coord: dv for dv in ws.data_validations.dataValidation
             for rng in dv.sqref.ranges}
    ppy = rules[_cells(wb, "periods_per_year")[1][0]]
    tenor = rules[_cells(wb, "tenor_years")[1][0]]
    assert ppy.type == tenor.type == "custom"
    assert f"tenor_years<={COLUMNS}" in ppy.formula1
    assert f"periods_per_year<={COLUMNS}" in tenor.formula1
    assert f"at most {COLUMNS}" in tenor.prompt
    # the limit is stated on both sheets
    assert f"tenor x periods a year may be at most {COLUMNS}" in ws["A3"].value
    assert f"tenor x periods a year may be at most {COLUMNS}" in wb["Calcs"]["A3"].value
    assert len(_cells(wb, "period")[1]) == COLUMNS


def test_another_grid_is_a_new_model(tmp_path):
    monthly = openpyxl.load_workbook(build_model_workbook(
        tmp_path / "m.xlsx", periods_per_year=12, tenor_years=4))
    inputs = monthly["Inputs"]
    assert inputs[_cells(monthly, "periods_per_year")[1][0]].value == 12
    assert inputs[_cells(monthly, "tenor_years")[1][0]].value == 4
    assert len(_cells(monthly, "period")[1]) == 84  # seven years of months
    with pytest.raises(GpuCreditError, match="periods_per_year must be 1, 2, 4 or 12"):
        build_model_workbook(tmp_path / "x.xlsx", periods_per_year=3)


def test_one_formula_per_row(wb):
    """Every period column of a native row holds the same formula, moved along the row."""
    ws = wb["Calcs"]
    rows = 0
    for r in range(4, ws.max_row + 1):
        first = ws.cell(r, 3).value
        if not (isinstance(first, str) and first.startswith("=")):
            continue
        for j in range(1, COLUMNS):
            cell = ws.cell(r, 3 + j)
            moved = Translator(first, origin="C" + str(r)).translate_formula(cell.coordinate)
            assert cell.value == moved, (r, cell.coordinate, cell.value, moved)
        rows += 1
    assert rows >= 20


def test_a_row_of_period_end_dates(wb, by_recalc):
    got = _values(wb, by_recalc, "period_end")
    assert [d.date() for d in got[:5]] == [
        dt.date(*t) for t in
        ((2026, 9, 30), (2026, 12, 31), (2027, 3, 31), (2027, 6, 30), (2027, 9, 30))]
    assert got[N - 1].date() == dt.date(2031, 6, 30)  # five years on
    assert set(got[N:]) <= {None, ""}  # then the tenor ends


def test_print_setup(wb):
    for name in wb.sheetnames:
        ws = wb[name]
        assert ws.page_setup.orientation == "landscape"
        assert int(ws.page_setup.paperSize) == int(ws.PAPERSIZE_A4)
        assert ws.sheet_properties.pageSetUpPr.fitToPage
        assert ws.oddFooter.right.text == "Page &P of &N"
    assert wb["Inputs"].page_setup.fitToWidth == wb["Outputs"].page_setup.fitToWidth == 1
    calcs = wb["Calcs"]  # one page tall, as many wide as the periods need
    assert calcs.page_setup.fitToHeight == 1 and calcs.page_setup.fitToWidth == 0
    assert calcs.print_title_cols == "$A:$B"  # labels and units on every page
    assert calcs.print_title_rows == "$4:$5"  # the period and date rows too
