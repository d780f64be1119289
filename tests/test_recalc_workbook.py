"""Workbook recalculation without Excel (gpucredit.excel.recalc).

Expected values are worked by hand in each test or come from numpy-financial; the deal
model's GPU_ cells are checked against the core in test_model_template.py.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy_financial as npf
import openpyxl
import pytest
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.formula import ArrayFormula
from python_calamine import CalamineWorkbook

from gpucredit import udfs
from gpucredit.errors import GpuCreditError
from gpucredit.excel.recalc import (
    MAX_COMPRESSION_RATIO,
    recalc_workbook,
    recalc_workbooks,
    register_gpu_functions,
)


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def small_book(path: Path, *, sheet: str = "Calcs") -> Path:
    """CFADS and debt service in A1:B4, GPU_ and native formulas beside them."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    for i, (cf, ds) in enumerate([(125.0, 100.0), (137.5, 110.0), (90.0, 0.0),
                                  (None, None)], start=1):
        ws.cell(i, 1, cf)
        ws.cell(i, 2, ds)
    ws["C1"] = ArrayFormula("C1:C4", "=GPU_DSCR(A1:A4,B1:B4)")
    ws["D1"] = "=SUM(C1:C2)"
    ws["E1"] = "=GPU_DSCR(A1,B3)"
    ws["E2"] = "=GPU_WAL(A1:A3,4)"
    ws["E3"] = "=NO_SUCH_FUNCTION(1)"
    ws["E4"] = "=GPU_HAZARD_RATE(rate_in,0.4)"
    ws["F1"] = "=PMT(0.01,12,-1000)"
    ws["F2"] = '="a<b & c"'
    ws["G1"] = 0.015
    wb.defined_names["rate_in"] = DefinedName("rate_in", attr_text=f"'{sheet}'!$G$1")
    wb.save(path)
    return path


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    d = tmp_path_factory.mktemp("small")
    src = small_book(d / "in.xlsx", sheet="My Calcs")
    before = digest(src)
    [res] = recalc_workbooks(src, d / "out.xlsx")
    assert digest(src) == before  # the input is never modified
    return res, openpyxl.load_workbook(res.output, data_only=True)["My Calcs"]


def test_every_gpu_function_is_registered_once():
    import formulas

    names = register_gpu_functions()
    assert names == udfs.udf_names() == register_gpu_functions()
    assert all(n in formulas.get_functions() for n in names)


def test_array_formula_spills_and_native_formulas_use_it(computed):
    res, ws = computed
    assert res.ok and res.error is None
    # by hand: 125/100, 137.5/110; 90/0 and the empty row have no value
    # (an empty text result reads back as None in openpyxl)
    # a DSCR with no debt service and one with no inputs: real #N/A, as charts skip
    assert [ws[f"C{i}"].value for i in range(1, 5)] == [1.25, 1.25, "#N/A", "#N/A"]
    assert ws["D1"].value == 2.5
    assert ws["F1"].value == pytest.approx(-npf.pmt(0.01, 12, 1000), rel=1e-12)
    assert ws["F2"].value == "a<b & c"


def test_gpu_scalar_results_and_defined_names(computed):
    _, ws = computed
    # WAL of principal 125, 137.5, 90 at 4 periods a year: sum(t P) / sum(P) / 4
    wal = (1 * 125 + 2 * 137.5 + 3 * 90) / (125 + 137.5 + 90) / 4
    assert ws["E2"].value == pytest.approx(wal, rel=1e-12)
    assert ws["E4"].value == pytest.approx(0.015 / 0.6, rel=1e-12)


def test_cell_errors_are_counted_and_listed(computed):
    res, ws = computed
    assert ws["E1"].value == "#VALUE!"  # a real error value, its reason in the report
    assert ws["E3"].value == "#NAME?"
    assert res.error_cells == 2
    assert res.cell_errors == ["My Calcs!E1: #VALUE! (debt service is zero)",
                               "My Calcs!E3: #NAME?"]
    assert res.formula_cells == 8 and res.gpu_cells == 4


def test_formulas_are_kept_with_their_values(computed):
    res, _ = computed
    ws = openpyxl.load_workbook(res.output)["My Calcs"]
    assert isinstance(ws["C1"].value, ArrayFormula)
    assert ws["C1"].value.text == "=GPU_DSCR(A1:A4,B1:B4)"
    assert ws["D1"].value == "=SUM(C1:C2)"
    with zipfile.ZipFile(res.output) as zf:
        assert "fullCalcOnLoad" not in zf.read("xl/workbook.xml").decode()


def test_other_readers_see_the_values(computed):
    res, _ = computed
    rows = CalamineWorkbook.from_path(str(res.output)).get_sheet_by_name("My Calcs").to_python()
    assert rows[0][2] == 1.25 and rows[0][3] == 2.5


def test_values_only_copy_has_no_formulas(tmp_path):
    src = small_book(tmp_path / "in.xlsx")
    [res] = recalc_workbooks([src], tmp_path / "static.xlsx", values_only=True)
    ws = openpyxl.load_workbook(res.output)["Calcs"]
    assert ws["C1"].value == 1.25 and ws["D1"].value == 2.5
    assert ws["E1"].value == "#VALUE!"


def test_values_only_drops_the_calculation_chain(tmp_path):
    # Excel-saved workbooks carry xl/calcChain.xml listing formula cells; a copy without
    # formulas must not keep it (Excel would call the file damaged).
    src = small_book(tmp_path / "in.xlsx")
    excelish = tmp_path / "excelish.xlsx"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(excelish, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", b'<Override PartName="/xl/calcChain.xml" '
                                    b'ContentType="application/vnd.openxmlformats-'
                                    b'officedocument.spreadsheetml.calcChain+xml"/></Types>')
            if info.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(b"</Relationships>", b'<Relationship Id="rId99" '
                                    b'Type="http://schemas.openxmlformats.org/officeDocument/'
                                    b'2006/relationships/calcChain" Target="calcChain.xml"/>'
                                    b"</Relationships>")
            zout.writestr(info, data)
        zout.writestr("xl/calcChain.xml", '<calcChain xmlns="http://schemas.openxmlformats.org'
                      '/spreadsheetml/2006/main"><c r="C1" i="1"/></calcChain>')
    [kept] = recalc_workbooks([excelish], tmp_path / "kept.xlsx")
    [static] = recalc_workbooks([excelish], tmp_path / "static.xlsx", values_only=True)
    with zipfile.ZipFile(kept.output) as zf:
        assert "xl/calcChain.xml" in zf.namelist()
    with zipfile.ZipFile(static.output) as zf:
        assert "xl/calcChain.xml" not in zf.namelist()
        assert b"calcChain" not in zf.read("[Content_Types].xml")
        assert b"calcChain" not in zf.read("xl/_rels/workbook.xml.rels")


def test_array_ranges_are_fitted_like_excel(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    for i in range(3):
        ws.cell(i + 1, 1, 100.0 + i)
        ws.cell(i + 1, 7, 100.0)
    # a 3-row result in a 2-row range is cut; in a 4-row range padded with #N/A
    ws["B1"] = ArrayFormula("B1:B2", "=GPU_DSCR(A1:A3,G1:G3)")
    ws["C1"] = ArrayFormula("C1:C4", "=GPU_DSCR(A1:A3,G1:G3)")
    # a table (header + 3 rows x 7 columns) in a 2 x 3 range keeps its top-left corner
    ws["D1"] = ArrayFormula("D1:F2", "=GPU_DEBT_SCHEDULE(0,3,300)")
    wb.save(tmp_path / "in.xlsx")
    [res] = recalc_workbooks([tmp_path / "in.xlsx"], tmp_path / "out.xlsx")
    out = openpyxl.load_workbook(res.output, data_only=True).active
    assert [out[f"B{i}"].value for i in (1, 2, 3)] == [1.0, 1.01, None]
    assert [out[f"C{i}"].value for i in (1, 2, 3, 4)] == [1.0, 1.01, 1.02, "#N/A"]
    assert [[c.value for c in row] for row in out["D1:F2"]] == [
        ["Period", "Opening balance", "Draw"], [1, 300, 0]]


def test_dates_from_a_gpu_function_become_serial_numbers(tmp_path):
    wb = openpyxl.Workbook()
    wb.active["A1"] = '=GPU_PRESET("H100","launch_date")'
    wb.save(tmp_path / "in.xlsx")
    [res] = recalc_workbooks([tmp_path / "in.xlsx"], tmp_path / "out.xlsx")
    # the H100 preset's launch date, 2022-03-22, is Excel serial 44642
    assert openpyxl.load_workbook(res.output, data_only=True).active["A1"].value == 44642


def test_a_folder_in_and_a_folder_out(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    small_book(src / "a.xlsx")
    small_book(src / "b.xlsx")
    (src / "~$a.xlsx").write_bytes(b"lock file")  # Excel's lock files are skipped
    (src / "notes.txt").write_text("not a workbook")
    results = recalc_workbooks(src, tmp_path / "out")
    assert [r.source.name for r in results] == ["a.xlsx", "b.xlsx"]
    assert all(r.ok for r in results)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.xlsx", "b.xlsx"]


def test_an_output_named_like_another_kind_of_file_is_refused(tmp_path):
    """``-o results.csv`` was taken for a folder and created as one."""
    src = small_book(tmp_path / "in.xlsx")
    for name in ("results.csv", "results.xls", "results.ods"):
        with pytest.raises(GpuCreditError, match=r"names a \.\w+ file.*\.xlsx or \.xlsm"):
            recalc_workbooks([src], tmp_path / name)
        assert not (tmp_path / name).exists()
    (tmp_path / "v1.csv").mkdir()  # an existing folder of that name is a folder
    [res] = recalc_workbooks([src], tmp_path / "v1.csv")
    assert res.ok and res.output == tmp_path / "v1.csv" / "in.xlsx"


def test_a_broken_file_fails_alone_and_leaves_nothing(tmp_path):
    good = small_book(tmp_path / "good.xlsx")
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(good.read_bytes()[:300])  # truncated
    text = tmp_path / "text.xlsx"
    text.write_text("just text")
    out = tmp_path / "out"
    results = recalc_workbooks([broken, good, text], out)
    assert [r.ok for r in results] == [False, True, False]
    assert results[0].error == ("not a valid workbook (not a zip archive: corrupt, "
                                "truncated, encrypted or not an Excel file)")
    assert results[2].error.startswith("not a valid workbook")
    assert sorted(p.name for p in out.iterdir()) == ["good.xlsx"]  # no partial or temp files


def test_zip_bomb_is_refused(tmp_path):
    src = small_book(tmp_path / "in.xlsx")
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info.filename))
        zout.writestr("xl/padding.bin", b"\0" * (MAX_COMPRESSION_RATIO * 2 * 100_000))
    res = recalc_workbook(bomb, tmp_path / "out.xlsx")
    assert not res.ok and "times its packed size" in res.error
    assert not (tmp_path / "out.xlsx").exists()


def test_output_arguments(tmp_path):
    a = small_book(tmp_path / "a.xlsx")
    b = small_book(tmp_path / "b.xlsx")
    with pytest.raises(GpuCreditError, match="2 workbooks to compute but the output"):
        recalc_workbooks([a, b], tmp_path / "one.xlsx")
    with pytest.raises(GpuCreditError, match="no input workbooks given"):
        recalc_workbooks([], tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GpuCreditError, match=r"holds no \.xlsx or \.xlsm workbook"):
        recalc_workbooks(tmp_path / "empty", tmp_path / "out")
    (tmp_path / "sub").mkdir()
    small_book(tmp_path / "sub" / "a.xlsx")
    with pytest.raises(GpuCreditError, match=r"two inputs share the name a\.xlsx"):
        recalc_workbooks([a, tmp_path / "sub" / "a.xlsx"], tmp_path / "out")
    res = recalc_workbook(a, a)
    assert not res.ok and "would overwrite the input" in res.error
    res = recalc_workbook(tmp_path / "missing.xlsx", tmp_path / "o.xlsx")
    assert not res.ok and "file not found" in res.error


def test_output_is_a_valid_zip_with_every_part(computed):
    res, _ = computed
    with zipfile.ZipFile(res.output) as zf:
        assert zf.testzip() is None
        names = set(zf.namelist())
    with zipfile.ZipFile(res.source) as zf:
        assert names == set(zf.namelist())
    assert isinstance(io.BytesIO(res.output.read_bytes()), io.BytesIO)


@pytest.mark.libreoffice
def test_native_model_agrees_with_libreoffice_cell_by_cell(tmp_path):
    """The bench's native-formula model (rent path, revenue, CFADS, PMT, DSCR, MIN, NPV)
    computed by recalc-workbook and by LibreOffice, an independent engine: every cell."""
    from tests import libreoffice as lo
    from tests import native_model

    lo.require_soffice()
    src = tmp_path / "native.xlsx"
    cells = native_model.build(src, facilities=3, periods=24)
    [res] = recalc_workbooks([src], tmp_path / "ours.xlsx")
    assert res.ok and res.formula_cells == cells and res.findings == []
    theirs = lo.recalculate(src, tmp_path / "lo")
    a = openpyxl.load_workbook(res.output, data_only=True)["Calcs"]
    b = openpyxl.load_workbook(theirs, data_only=True)["Calcs"]
    compared = 0
    for ra, rb in zip(a.iter_rows(), b.iter_rows(), strict=True):
        for x, y in zip(ra, rb, strict=True):
            if isinstance(y.value, (int, float)):
                assert x.value == pytest.approx(y.value, rel=1e-12), x.coordinate
                compared += 1
            else:
                assert x.value == y.value or (x.value in (None, "") and y.value in (None, ""))
    assert compared > cells * 0.9


def test_gpu_errors_are_error_values_that_excel_functions_see(tmp_path):
    """IFERROR, ISERROR and ISNA see a failed GPU_ call and a missing value inside a
    spilled array (a real #N/A, which charts skip); COUNT skips them."""
    wb = openpyxl.Workbook()
    ws = wb.active
    for i, (cf, ds) in enumerate([(125.0, 100.0), (90.0, 0.0)], start=1):
        ws.cell(i, 1, cf)
        ws.cell(i, 2, ds)
    ws["C1"] = ArrayFormula("C1:C2", "=GPU_DSCR(A1:A2,B1:B2)")
    ws["D1"] = '=IFERROR(GPU_DSCR(A2,B2),"none")'
    ws["D2"] = "=ISERROR(GPU_DSCR(A2,B2))"
    ws["D3"] = "=ISNA(C2)"
    ws["D4"] = "=COUNT(C1:C2)"
    ws["D5"] = "=ISERROR(GPU_DSCR(A1,B1))"
    wb.save(tmp_path / "in.xlsx")
    [res] = recalc_workbooks(tmp_path / "in.xlsx", tmp_path / "out.xlsx")
    got = openpyxl.load_workbook(res.output, data_only=True).active
    assert [got[f"D{i}"].value for i in range(1, 6)] == ["none", True, True, 1, False]
    assert got["C2"].value == "#N/A" and res.error_cells == 0


# ----------------------------------------------------------------- outputs under attack

def test_an_output_that_is_not_a_file_is_never_replaced(tmp_path):
    """A FIFO or a folder where the output should go is refused, and stays what it was
    (as /dev/null would, were it named)."""
    import os
    import stat

    src = small_book(tmp_path / "in.xlsx")
    fifo = tmp_path / "f.xlsx"
    os.mkfifo(fifo)
    folder = tmp_path / "d.xlsx"
    folder.mkdir()
    for target, kind in ((fifo, "a named pipe (FIFO)"), (folder, "a folder")):
        [res] = recalc_workbooks(src, target)
        assert not res.ok and f"is {kind}, not a file" in res.error, res.error
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and folder.is_dir()


def test_a_replaced_output_keeps_its_permissions(tmp_path):
    import os

    src = small_book(tmp_path / "in.xlsx")
    out = tmp_path / "out.xlsx"
    out.write_bytes(b"yesterday")
    out.chmod(0o600)
    [res] = recalc_workbooks(src, out)
    assert res.ok and os.stat(out).st_mode & 0o777 == 0o600
    assert out.read_bytes() != b"yesterday"


def test_a_failed_write_is_worded_for_the_analyst_and_leaves_nothing(tmp_path, monkeypatch):
    import gpucredit.excel.recalc as rw

    src = small_book(tmp_path / "in.xlsx")
    out = tmp_path / "out.xlsx"
    out.write_bytes(b"yesterday")

    def full(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(rw, "_write_zip", full)
    [res] = recalc_workbooks(src, out)
    assert res.error == f"could not write {out}: the disk is full; nothing written"
    assert out.read_bytes() == b"yesterday"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.xlsx", "out.xlsx"]


def test_a_strict_open_xml_workbook_is_refused_by_name(tmp_path):
    src = small_book(tmp_path / "in.xlsx")
    strict = tmp_path / "strict.xlsx"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(strict, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "xl/workbook.xml":
                data = data.replace(b"http://schemas.openxmlformats.org/spreadsheetml/2006/main",
                                    b"http://purl.oclc.org/ooxml/spreadsheetml/main")
            zout.writestr(info, data)
    [res] = recalc_workbooks(strict, tmp_path / "out.xlsx")
    assert "Strict Open XML" in res.error and "Save As > Excel Workbook" in res.error
    assert not (tmp_path / "out.xlsx").exists()


def test_the_command_names_every_cell_in_error_with_its_reason(tmp_path):
    from click.testing import CliRunner

    from gpucredit.cli import main

    wb = openpyxl.Workbook()
    wb.active["A1"] = "=GPU_RENT_PATH(2.4,0.3,100000000)"
    wb.active["A2"] = "=GPU_DSCR(90,0)"
    wb.save(tmp_path / "in.xlsx")
    res = CliRunner().invoke(main, ["recalc-workbook", str(tmp_path / "in.xlsx"), "-o",
                                    str(tmp_path / "out.xlsx")])
    text = " ".join(res.output.split())
    assert "Sheet!A1: #VALUE! (GPU_RENT_PATH asks for n_periods = 100,000,000" in text
    assert "Sheet!A2: #VALUE! (debt service is zero)" in text
