"""Dynamic arrays in recalc-workbook: spill ranges that grow, shrink or are blocked.

The workbooks are written by XlsxWriter's ``write_dynamic_array_formula``, an independent
writer of Excel's dynamic-array format (the ``cm`` cell attribute and ``xl/metadata.xml``),
with the stored spill range and cached values of a calculation that no longer holds.
"""

from __future__ import annotations

import zipfile

import numpy as np
import openpyxl
import pytest
import xlsxwriter

from gpucredit import udfs
from gpucredit.excel import spill
from gpucredit.excel.recalc import recalc_workbooks

PATH = np.ravel(udfs.GPU_RENT_PATH(2.4, 0.3, 5, 12))  # five monthly rents, a row
FORMULA = "=TRANSPOSE(GPU_RENT_PATH(A1,A2,A3,12))"  # the same five, a column


def _book(path, stored: str, extra=None, *, dynamic: bool = True):
    wb = xlsxwriter.Workbook(path)
    ws = wb.add_worksheet("Model")
    for cell, v in (("A1", 2.4), ("A2", 0.3), ("A3", 5)):
        ws.write(cell, v)
    first, last = stored.split(":")
    write = ws.write_dynamic_array_formula if dynamic else ws.write_array_formula
    write(stored, FORMULA, None, 9.9)
    r0, r1 = int(first[1:]), int(last[1:])
    for r in range(r0 + 1, r1 + 1):  # the old spill's cached values
        ws.write(f"C{r}", 9.9)
    ws.write_formula("F1", "=SUM(C1:C20)")
    ws.write_formula("F2", "=C5")
    for cell, v in (extra or {}).items():
        ws.write(cell, v)
    wb.close()
    return path


def _run(tmp_path, src):
    [res] = recalc_workbooks([src], tmp_path / "out.xlsx")
    wb = openpyxl.load_workbook(tmp_path / "out.xlsx", data_only=True)
    formulas = openpyxl.load_workbook(tmp_path / "out.xlsx")["Model"]
    return res, wb["Model"], formulas


def test_the_metadata_marks_the_dynamic_formula(tmp_path):
    src = _book(tmp_path / "in.xlsx", "C1:C3")
    with zipfile.ZipFile(src) as zf:
        assert spill.dynamic_anchors(zf) == {"Model": [spill.Anchor(1, 3, (1, 3, 3, 3))]}
    legacy = _book(tmp_path / "legacy.xlsx", "C1:C3", dynamic=False)
    with zipfile.ZipFile(legacy) as zf:
        assert spill.dynamic_anchors(zf) == {}


def test_a_result_larger_than_its_stored_range_spills_and_is_read(tmp_path):
    res, ws, formulas = _run(tmp_path, _book(tmp_path / "in.xlsx", "C1:C3"))
    assert res.ok and res.error_cells == 0
    assert [ws[f"C{r}"].value for r in range(1, 6)] == pytest.approx(PATH)
    assert ws["C6"].value is None
    assert formulas["C1"].value.ref == "C1:C5"
    assert ws["F1"].value == pytest.approx(PATH.sum())  # cells reading the spill see it all
    assert ws["F2"].value == pytest.approx(PATH[4])


def test_a_result_smaller_than_its_stored_range_empties_the_rest(tmp_path):
    res, ws, formulas = _run(tmp_path, _book(tmp_path / "in.xlsx", "C1:C9"))
    assert res.ok and res.error_cells == 0
    assert [ws[f"C{r}"].value for r in range(1, 6)] == pytest.approx(PATH)
    assert [ws[f"C{r}"].value for r in range(6, 10)] == [None] * 4  # the stale 9.9s
    assert formulas["C1"].value.ref == "C1:C5"
    assert ws["F1"].value == pytest.approx(PATH.sum())


def test_a_blocked_spill_is_spill_error_with_its_reason(tmp_path):
    res, ws, formulas = _run(tmp_path, _book(tmp_path / "in.xlsx", "C1:C3", {"C4": "note"}))
    assert ws["C1"].value == "#SPILL!"
    assert [ws[f"C{r}"].value for r in (2, 3)] == [None, None] and ws["C4"].value == "note"
    assert ws["F1"].value == "#SPILL!"  # as in Excel, a cell reading it is an error too
    assert formulas["C1"].value.ref == "C1"
    assert any("Model!C1: #SPILL! (the result needs C1:C5 and C4 is not empty" in e
               for e in res.cell_errors)


def test_a_legacy_array_formula_keeps_its_range(tmp_path):
    """Ctrl+Shift+Enter ranges are the user's: Excel truncates or pads (#N/A), no spill."""
    res, ws, formulas = _run(tmp_path, _book(tmp_path / "in.xlsx", "C1:C3", dynamic=False))
    assert res.ok
    assert [ws[f"C{r}"].value for r in range(1, 4)] == pytest.approx(PATH[:3])
    assert formulas["C1"].value.ref == "C1:C3"


def test_a_one_cell_array_formula_gets_its_value(tmp_path):
    res, ws, _ = _run(tmp_path, _book(tmp_path / "in.xlsx", "C1:C1", dynamic=False))
    assert res.ok and res.error_cells == 0
    assert ws["C1"].value == pytest.approx(PATH[0])


def test_fit_and_refs():
    a = spill.Anchor(2, 3, (2, 3, 4, 3))
    assert spill.fit(a, (5, 2), {(2, 3), (7, 5)}) == ((2, 3, 6, 4), None)
    assert spill.fit(a, (5, 2), {(6, 4), (3, 4)}) == ((2, 3, 6, 4), "D3")
    assert spill.ref_of((2, 3, 6, 4)) == "C2:D6" and spill.ref_of((2, 3, 2, 3)) == "C2"
    assert spill.area_of("$C$2:$D$6") == (2, 3, 6, 4) and spill.area_of("C2") == (2, 3, 2, 3)
