"""The recalc-workbook sandbox (gpucredit.excel.sandbox, gpucredit.excel.budgets).

Hostile workbooks are built here with openpyxl (and, for external-link parts, by editing
the package the way Excel writes it). A secret workbook is planted beside the input and
in folders above it, holding a marker string; the output package is searched for that
marker (and for the secret file's own bytes) after every run. Contract (issue 13 item 2):
the cell shows an error value, the run names the cell, the input is unchanged, previous
outputs are untouched when a file fails, and no temporary file is left anywhere.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import openpyxl
import pytest
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.formula import ArrayFormula

from gpucredit.excel.budgets import MAX_PATHS, MAX_PERIODS, MAX_TEXT
from gpucredit.excel.recalc import recalc_workbook, recalc_workbooks
from gpucredit.excel.sandbox import MAX_FORMULA_CELLS, MAX_REFERENCE_CELLS, _tarjan

MARKER = "TOPSECRET-5f0c1e"


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def plant_secret(path: Path) -> bytes:
    """A workbook holding MARKER (the file the sandbox must never read); its bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = openpyxl.Workbook()
    wb.active.title = "Sheet1"
    wb.active["A1"] = MARKER
    wb.active["A2"] = 42.0
    wb.save(path)
    return path.read_bytes()


def unpacked(path: Path) -> bytes:
    """Every part of a package, decompressed and joined (what a grep of it would see)."""
    with zipfile.ZipFile(path) as zf:
        return b"\n".join(zf.read(n) for n in zf.namelist())


def add_external_link(src: Path, dst: Path, target: str) -> None:
    """``src`` with an external-link part pointing at ``target``, as Excel writes one."""
    ns = "http://schemas.openxmlformats.org"
    link = (f'<externalLink xmlns="{ns}/spreadsheetml/2006/main" '
            f'xmlns:r="{ns}/officeDocument/2006/relationships"><externalBook r:id="rId1">'
            '<sheetNames><sheetName val="Sheet1"/></sheetNames></externalBook></externalLink>')
    link_rels = (f'<Relationships xmlns="{ns}/package/2006/relationships"><Relationship '
                 f'Id="rId1" Type="{ns}/officeDocument/2006/relationships/externalLinkPath" '
                 f'Target="{target}" TargetMode="External"/></Relationships>')
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", (
                    b'<Override PartName="/xl/externalLinks/externalLink1.xml" '
                    b'ContentType="application/vnd.openxmlformats-officedocument.'
                    b'spreadsheetml.externalLink+xml"/></Types>'))
            if info.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(b"</Relationships>", (
                    f'<Relationship Id="rId99" Type="{ns}/officeDocument/2006/relationships/'
                    'externalLink" Target="externalLinks/externalLink1.xml"/>'
                    "</Relationships>").encode())
            if info.filename == "xl/workbook.xml":
                data = data.replace(b"<definedNames", (
                    b'<externalReferences><externalReference r:id="rId99"/>'
                    b"</externalReferences><definedNames"), 1)
            zout.writestr(info, data)
        zout.writestr("xl/externalLinks/externalLink1.xml", link)
        zout.writestr("xl/externalLinks/_rels/externalLink1.xml.rels", link_rels)


def leftovers() -> set[str]:
    return {p for p in os.listdir(tempfile.gettempdir()) if p.startswith("gpucredit-recalc-")}


@pytest.fixture
def own_tmp(tmp_path, monkeypatch):
    """This test's own temporary folder, so that other runs on the machine (whose
    recalc-workbook folders come and go in the shared one) do not show as leftovers."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def linked(tmp_path):
    """A workbook in deep/er/ that links a secret beside it, above it and by index."""
    here = tmp_path / "deep" / "er"
    secrets = [plant_secret(here / "secret.xlsx"), plant_secret(tmp_path / "x" / "[f].xlsx"),
               plant_secret(tmp_path / "x" / "f.xlsx")]
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Calcs"
    ws["A1"] = 5.0
    ws["B1"] = "='[secret.xlsx]Sheet1'!A1"
    ws["B2"] = "=[1]Sheet1!A2+1"
    ws["B3"] = "='../../x/[f.xlsx]Sheet1'!A1"
    ws["B4"] = "=SUM([secret.xlsx]Sheet1!A2, A1)"
    ws["B5"] = '=WEBSERVICE("http://127.0.0.1:9/")'
    ws["B6"] = "=INDIRECT(\"'[secret.xlsx]Sheet1'!A1\")"
    ws["B7"] = "=outside*2"
    ws["B8"] = "=secret.xlsx!Total"
    ws["B9"] = "=A1*3"  # a plain formula still computes
    ws["C1"] = "=IFERROR(B1,\"cut\")"
    wb.defined_names["outside"] = DefinedName("outside", attr_text="[secret.xlsx]Sheet1!$A$2")
    plain = here / "plain.xlsx"
    wb.save(plain)
    src = here / "linked.xlsx"
    add_external_link(plain, src, "secret.xlsx")
    return src, secrets


def test_links_outside_the_file_are_never_followed(linked, tmp_path, own_tmp):
    src, secrets = linked
    before, temps = digest(src), leftovers()
    out = tmp_path / "out" / "values.xlsx"
    out.parent.mkdir()
    [res] = recalc_workbooks([src], out)
    assert res.ok, res.error
    ws = openpyxl.load_workbook(out, data_only=True)["Calcs"]
    assert [ws[f"B{i}"].value for i in range(1, 9)] == ["#REF!"] * 8
    assert ws["B9"].value == 15 and ws["C1"].value == "cut"
    cut = "\n".join(res.findings)
    for cell, what in [("B1", "links to '[secret.xlsx]Sheet1'!A1"),
                       ("B2", "links to [1]Sheet1!A2"),
                       ("B3", "links to '../../x/[f.xlsx]Sheet1'!A1"),
                       ("B4", "links to [secret.xlsx]Sheet1!A2"),
                       ("B5", "calls WEBSERVICE, which reaches outside the workbook"),
                       ("B6", "calls INDIRECT, which reaches outside the workbook"),
                       ("B8", "links to secret.xlsx!Total")]:
        assert f"Calcs!{cell}: {what}, " in cut or f"Calcs!{cell}: {what}" in cut, cell
    assert "defined name outside: links to [secret.xlsx]Sheet1!$A$2" in cut
    data = unpacked(out)
    assert MARKER.encode() not in data
    for secret in secrets:
        assert secret not in out.read_bytes()
    assert digest(src) == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["values.xlsx"]
    assert leftovers() == temps


def test_values_only_copy_of_a_linked_book_holds_no_secret(linked, tmp_path):
    src, _ = linked
    [res] = recalc_workbooks([src], tmp_path / "static.xlsx", values_only=True)
    assert res.ok and MARKER.encode() not in unpacked(res.output)
    assert openpyxl.load_workbook(res.output)["Calcs"]["B1"].value == "#REF!"


def test_an_addin_prefix_is_not_a_link(tmp_path):
    # Excel writes add-in functions as [n]!NAME when the workbook links the add-in file
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"], ws["A2"] = 150.0, 100.0
    ws["B1"] = "=[1]!GPU_DSCR(A1,A2)"
    ws["B2"] = "='C:\\addins\\gpucredit.xlam'!GPU_DSCR(A1,A2)"
    ws["B3"] = "=[1]!OTHER_FUNC(A1)"
    wb.save(tmp_path / "in.xlsx")
    [res] = recalc_workbooks([tmp_path / "in.xlsx"], tmp_path / "out.xlsx")
    out = openpyxl.load_workbook(res.output, data_only=True).active
    assert (out["B1"].value, out["B2"].value, out["B3"].value) == (1.5, 1.5, "#REF!")
    assert res.findings == ["Sheet!B3: calls [1]!OTHER_FUNC, a function in another file; "
                            "shown as #REF!"]
    # the formula itself is kept as written
    assert openpyxl.load_workbook(res.output).active["B1"].value == "=[1]!GPU_DSCR(A1,A2)"


def test_circular_references_are_errors_and_named(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Loop"
    ws["A1"] = "=B1+1"
    ws["B1"] = "=A1*2"
    ws["C1"] = "=C1+1"
    ws["D1"] = "=SUM(A1:C1)"  # depends on the loop, is not on it
    ws["E1"] = 7.0
    ws["F1"] = "=E1*2"
    ws["G1"] = "=SUM(G2:G3)"
    ws["G2"] = "=G1"  # a loop through a range
    wb.save(tmp_path / "in.xlsx")
    [res] = recalc_workbooks([tmp_path / "in.xlsx"], tmp_path / "out.xlsx")
    out = openpyxl.load_workbook(res.output, data_only=True).active
    assert [out[c].value for c in ("A1", "B1", "C1", "D1", "F1", "G1", "G2")] == [
        "#VALUE!", "#VALUE!", "#VALUE!", "#VALUE!", 14, "#VALUE!", "#VALUE!"]
    assert res.findings == [f"Loop!{c}: a circular reference; shown as #VALUE!"
                            for c in ("A1", "B1", "C1", "G1", "G2")]


def test_iterative_calculation_is_named_not_silently_skipped(tmp_path):
    wb = openpyxl.Workbook()
    wb.active["A1"] = "=0.5*A1+1"
    wb.calculation.iterate = True
    wb.save(tmp_path / "in.xlsx")
    [res] = recalc_workbooks([tmp_path / "in.xlsx"], tmp_path / "out.xlsx")
    assert res.findings == ["Sheet!A1: a circular reference (the workbook asks for iterative "
                            "calculation, which this tool does not do); shown as #VALUE!"]


def test_tarjan_finds_exactly_the_cycles():
    # 0->1->2->0 is a cycle, 3 points into it, 4 loops on itself, 5 is alone
    assert _tarjan([[1], [2], [0], [0], [4], []]) == {0, 1, 2, 4}
    # a long chain does not recurse (the search is iterative)
    n = 50_000
    assert _tarjan([[i + 1] for i in range(n - 1)] + [[]]) == set()
    assert _tarjan([[i + 1] for i in range(n - 1)] + [[0]]) == set(range(n))


def test_one_cell_cannot_take_the_machine(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Big"
    ws["A1"] = '=REPT("x",1000000000)'
    ws["A6"] = "=1+(2"  # unreadable: this cell alone fails
    ws["A2"] = f'=REPT("ab",{MAX_TEXT // 2})'  # 32,766 characters: allowed
    ws["A3"] = "=A2&A2"
    ws["A4"] = '=SUBSTITUTE(A2,"a",REPT("y",1000))'
    ws["A5"] = "=LEN(A2)"
    ws["B1"] = f"=GPU_DEBT_SCHEDULE(0.01,{MAX_PERIODS * 10_000},100)"
    ws["B2"] = "=GPU_RENT_PATH(2,0.2,100000000,12)"
    ws["C1"], ws["C2"], ws["C3"], ws["C4"], ws["C5"] = 100.0, 40.0, 50.0, 500.0, 900.0
    ws["B3"] = f"=GPU_MONTE_CARLO(C1,C2,C3,C4,C5,,{MAX_PATHS * 100},1,12)"
    wb.save(tmp_path / "in.xlsx")
    [res] = recalc_workbooks([tmp_path / "in.xlsx"], tmp_path / "out.xlsx")
    assert res.ok, res.error
    out = openpyxl.load_workbook(res.output, data_only=True).active
    assert [out[c].value for c in ("A1", "A3", "A4", "B1", "B2", "B3")] == ["#VALUE!"] * 6
    assert out["A5"].value == MAX_TEXT - 1 and out["A6"].value == "#NAME?"
    assert res.findings == ["Big!A6: a formula this tool cannot read (ParenthesesError); "
                            "shown as #NAME?"]
    errors = "\n".join(res.cell_errors)
    assert ("Big!A1: #VALUE! (a text of 1,000,000,000 characters; a cell holds at most "
            "32,767)") in errors
    assert "Big!A3: #VALUE! (a text of 65,532 characters" in errors
    # 32,766 characters of "abab..." with each of the 16,383 a's grown by 999
    assert "Big!A4: #VALUE! (a text of 16,399,383 characters" in errors
    assert (f"Big!B1: #VALUE! (GPU_DEBT_SCHEDULE asks for n_periods = "
            f"{MAX_PERIODS * 10_000:,}; at most {MAX_PERIODS:,})") in errors
    assert "Big!B2: #VALUE! (GPU_RENT_PATH asks for n_periods = 100,000,000" in errors
    assert f"Big!B3: #VALUE! (GPU_MONTE_CARLO asks for n_paths = {MAX_PATHS * 100:,}" in errors


def test_whole_columns_are_cut_to_the_used_area(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    for i in range(1, 6):
        ws.cell(i, 1, float(i))
    calc = wb.create_sheet("Calc")
    calc["B1"] = "=SUM(Sheet!A:A)"
    calc["B2"] = "=SUM(Sheet!A1:XFD1048576)-B1"
    calc["B3"] = "=SUM(Sheet!1:2)+SUM(Sheet!A1:XFD2)"
    wb.save(tmp_path / "in.xlsx")
    [res] = recalc_workbooks([tmp_path / "in.xlsx"], tmp_path / "out.xlsx")
    out = openpyxl.load_workbook(res.output, data_only=True)["Calc"]
    assert [out[c].value for c in ("B1", "B2", "B3")] == [15, 0, 6]
    assert res.findings == []


def test_a_reference_over_budget_is_refused_by_cell(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"], ws["ZZ1000"] = 1.0, 2.0  # a used area of 702 x 1,000 cells
    ws["B1"] = "=SUM(A1:ZZ1000)"
    ws["B2"] = "=SUM(A1:A2)"
    wb.save(tmp_path / "in.xlsx")
    [res] = recalc_workbooks([tmp_path / "in.xlsx"], tmp_path / "out.xlsx")
    assert res.findings == [
        f"Sheet!B1: refers to A1:ZZ1000 on Sheet, 702,000 used cells: more than the "
        f"{MAX_REFERENCE_CELLS:,} one reference may cover; shown as #REF!"]
    out = openpyxl.load_workbook(res.output, data_only=True).active
    assert (out["B1"].value, out["B2"].value) == ("#REF!", 1)


def test_too_many_formula_cells_fail_the_file_alone(tmp_path):
    big = tmp_path / "big.xlsx"
    wb = openpyxl.Workbook()
    wb.active["A1"] = ArrayFormula("A1:Z100000", "=1")  # 2.6 million cells
    wb.save(big)
    out = tmp_path / "out"
    out.mkdir()
    (out / "big.xlsx").write_bytes(b"yesterday's results")
    before = digest(big)
    [res] = recalc_workbooks([big], out)
    assert not res.ok
    assert res.error == (f"refused: the workbook holds 2,600,000 formula cells, more than the "
                         f"{MAX_FORMULA_CELLS:,} this tool computes in one file")
    assert (out / "big.xlsx").read_bytes() == b"yesterday's results"
    assert sorted(os.listdir(out)) == ["big.xlsx"] and digest(big) == before


NAMES = ["Bob's", "Deal (v2) #1", "Ünïcode & <x>", "2024", "A!B"]  # [ ] are not legal


def test_sheet_and_file_names_with_legal_odd_characters(tmp_path):
    wb = openpyxl.Workbook()
    sheets = [wb.active] + [wb.create_sheet() for _ in NAMES[1:]]
    for i, (ws, name) in enumerate(zip(sheets, NAMES, strict=True)):
        ws.title = name
        ws["A1"] = float(i + 1)
    quoted = ["'" + n.replace("'", "''") + "'" for n in NAMES]
    sheets[0]["B1"] = "=" + "+".join(f"{q}!A1" for q in quoted)  # 1+2+3+4+5
    sheets[1]["B1"] = f"={quoted[0]}!B1*2"
    sheets[2]["B1"] = ArrayFormula("B1:B2", f"=GPU_DSCR({quoted[3]}!A1:A2,{quoted[1]}!A1:A2)")
    sheets[3]["A2"], sheets[1]["A2"] = 6.0, 3.0
    sheets[4]["B1"] = "=bobs_total+1"
    wb.defined_names["bobs_total"] = DefinedName("bobs_total", attr_text=f"{quoted[0]}!$B$1")
    src = tmp_path / "Deal model [v2].xlsx"
    wb.save(src)
    [res] = recalc_workbooks([src], tmp_path / "out")
    assert res.ok and res.findings == [] and res.error_cells == 0, res
    assert res.output == tmp_path / "out" / "Deal model [v2].xlsx"
    out = openpyxl.load_workbook(res.output, data_only=True)
    assert out["Bob's"]["B1"].value == 15 and out["Deal (v2) #1"]["B1"].value == 30
    assert [out["Ünïcode & <x>"][c].value for c in ("B1", "B2")] == [4 / 2, 6 / 3]
    assert out["A!B"]["B1"].value == 16


def test_a_failed_file_leaves_previous_outputs_and_no_temporary_files(tmp_path, linked):
    out = tmp_path / "out.xlsx"
    out.write_bytes(b"previous results")
    res = recalc_workbook(tmp_path / "missing.xlsx", out)
    assert not res.ok and out.read_bytes() == b"previous results"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "out.xlsx", "x"]


def run_cli(*args) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("gpucredit")
    return subprocess.run([str(exe), "recalc-workbook", *map(str, args)], capture_output=True,
                          text=True, timeout=300, check=False)


def test_cli_reports_every_cut_cell_and_exits_1(linked, tmp_path):
    src, _ = linked
    named = src.with_name("Deal model [v2] \x1b]0;pwned\x07.xlsx")  # markup and an escape
    named.write_bytes(src.read_bytes())
    out = tmp_path / "values.xlsx"
    proc = run_cli(named, "-o", out)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "\x1b" not in proc.stdout + proc.stderr
    assert "Deal model [v2] \\x1b]0;pwned\\x07.xlsx -> " in proc.stdout
    assert "(10 formulas, 0 GPU_, 8 with an error)" in proc.stdout
    assert "  cut Calcs!B1: links to '[secret.xlsx]Sheet1'!A1, outside this workbook; " \
           "shown as #REF!" in proc.stderr
    assert proc.stderr.count("  cut ") == 8  # B1-B6, B8 and the name
    assert MARKER.encode() not in unpacked(out)


def test_cli_values_only_and_exit_0_when_nothing_is_cut(tmp_path):
    wb = openpyxl.Workbook()
    wb.active["A1"], wb.active["A2"], wb.active["B1"] = 150.0, 100.0, "=GPU_DSCR(A1,A2)"
    wb.save(tmp_path / "in.xlsx")
    proc = run_cli(tmp_path / "in.xlsx", "-o", tmp_path / "static.xlsx", "--values-only")
    assert proc.returncode == 0 and proc.stderr == ""
    assert openpyxl.load_workbook(tmp_path / "static.xlsx").active["B1"].value == 1.5


def test_cli_exit_2_when_nothing_is_written(tmp_path):
    (tmp_path / "bad.xlsx").write_text("not a workbook")
    proc = run_cli(tmp_path / "bad.xlsx", "-o", tmp_path / "out.xlsx")
    assert proc.returncode == 2 and "not a valid workbook" in proc.stderr
    assert not (tmp_path / "out.xlsx").exists()


def test_cli_memory_limit_refuses_the_file_in_plain_words(tmp_path):
    wb = openpyxl.Workbook()
    wb.active["A1"] = ArrayFormula("A1:A3000", '=REPT("x",32000)')  # about 100 MB of text
    wb.save(tmp_path / "big.xlsx")
    (tmp_path / "out.xlsx").write_bytes(b"previous results")
    proc = run_cli(tmp_path / "big.xlsx", "-o", tmp_path / "out.xlsx", "--memory-limit", "0.1")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "computing it needs more than 0.1 GiB of memory, the limit for one workbook" \
        in proc.stderr
    assert (tmp_path / "out.xlsx").read_bytes() == b"previous results"
    assert sorted(os.listdir(tmp_path)) == ["big.xlsx", "out.xlsx"]


def test_formulas_of_one_shape_are_rewritten_as_if_each_were_read_alone():
    """The rewriter tokenizes one formula per R1C1 shape and refills the rest: every
    refilled cell must come out exactly as reading it alone (quoted sheet names and
    strings that look like references, whole columns cut to the used area, mixed $
    marks, names, a link outside the file in some cells of a shape)."""
    from gpucredit.excel.sandbox import _Rewriter

    rw = _Rewriter(["Calcs", "Q1 2024", "B2"], {"RATE"}, {"CALCS": (40, 8), "Q1 2024": (9, 3),
                                                          "B2": (5, 5)})
    formulas = [
        "{c}{r}*'Q1 2024'!$B{r}+SUM(A:A)",
        'IF({c}{r}="A1",B2!$A$1,rate*{c}$2)',
        "'Q1 2024'!{c}{r}:{c}{r2}&\"'x\"&{c}{r}",
        "SUM($A{r}:{c}{r})+[1]Sheet1!A{r}",
        "LOG10({c}{r})+'B2'!C{r}",
    ]
    for template in formulas:
        for r in range(3, 9):
            for c in "CDEF":
                text = template.format(c=c, r=r, r2=r + 2)
                col = ord(c) - 64
                assert rw.formula(text, "Calcs", r, col) == rw._tokenized(text, "Calcs"), text
    assert len(rw.shapes) >= 3  # the shapes were cached, so refilled cells were compared
