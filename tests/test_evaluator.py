"""gpucredit's own workbook evaluator (gpucredit.excel.evaluator) against LibreOffice.

The oracle is LibreOffice, an independent spreadsheet engine, recalculating the same
workbook: every formula of :data:`BATTERY` (each function the evaluator computes, its
operators, Excel's coercion, comparison and error rules, implicit intersection, array
formulas, omitted arguments) must give LibreOffice's value - numbers to 1e-12, text,
logical values and error codes exactly.
"""

from __future__ import annotations

import datetime as dt
import statistics
import zipfile

import openpyxl
import pytest
from openpyxl.worksheet.formula import ArrayFormula
from tests import libreoffice as lo
from tests import native_model

from gpucredit.excel import evaluator, recalc
from gpucredit.excel.model_template import build_model_workbook
from gpucredit.excel.sandbox import formula_shape, sandbox

DATA = [  # Data!A1:C6: numbers, text, a number written as text, logical values, blanks
    (1.5, "x", 10),
    (2, "3", None),
    (-4.25, True, 7),
    (None, "abc", 0.1),
    (8, False, "Abc"),
    (dt.date(2024, 1, 31), 0.2, 3),
]

BATTERY = [
    # operators, precedence, coercion
    "=1+2*3-4/8", "=-2^2", "=2^-1", "=2^3^2", "=50%", "=-50%^2", "=(1+2)*3",
    "=0.1+0.2-0.3", "=1/0", '="3"+1', '="a"+1', "=TRUE+TRUE",
    "=Data!B2*2", "=Data!A4+1", '="n"&1/3', '="s"&0.000001',
    '=Data!B1&Data!A4', "=Data!A1:A3*2",
    # comparison
    "=1=1", '="abc"="ABC"', '="a"<"b"', '=1<"a"', "=Data!A4=0", '=Data!A4=""',
    "=Data!A4=FALSE", "=0.1+0.2=0.3", "=1<>2", "=2>=2", '=2<="10"',
    # aggregates: ranges skip text and logicals, direct arguments are read
    "=SUM(Data!B2)", "=MIN(Data!A1:A6)",
    "=MAX(Data!C1:C6)", "=MIN(Data!B1:B2)", "=AVERAGE(Data!A1:A5)", "=AVERAGE(Data!B1)",
    '=COUNT(1,"2","x",TRUE)', "=COUNTA(Data!A1:C6)",
    "=SUM(Data!A1:A6,Data!C1:C6)", "=COUNT(Data!A1:A6,Data!C1:C6)", "=SUM(Data!A1:A3,10)",
    "=SUMPRODUCT(Data!A1:A3,Data!C1:C3)",
    "=SUMPRODUCT(Data!A1:A2,Data!C1:C3)", "=SUM(Data!A1:A2/2)",
    # logical
    "=AND(TRUE,1)", "=AND(Data!B3:B5)", "=OR(FALSE,0)", '=AND("x")', "=NOT(0)",
    "=IF(1,2,3)", "=IF(0,2)", "=IF(Data!A4,1,2)", '=IF("TRUE",1,2)', '=IF("x",1,2)',
    "=IF(1,,3)", "=IFERROR(1/0,7)", "=IFERROR(5,7)",
    "=_xlfn.IFNA(NA(),8)", "=_xlfn.IFNA(1/0,8)", "=IF(1/0>1,1,2)", "=IF(FALSE,1/0,9)",
    # information
    "=ISNUMBER(Data!A1)", "=ISNUMBER(Data!B2)", "=ISTEXT(Data!B1)", "=ISBLANK(Data!A4)",
    "=ISLOGICAL(Data!B3)", "=ISERROR(1/0)", "=ISERR(NA())", "=ISNA(NA())", "=ISERROR(5)",
    # maths
    "=ABS(-3)", "=EXP(1)", "=LN(10)", "=LOG(100)", "=LOG(8,2)", "=LOG10(1000)",
    "=SQRT(16)", "=POWER(2,10)", "=MOD(7,3)", "=MOD(-7,3)", "=MOD(1,0)",
    "=INT(-2.5)", "=SIGN(-3)", "=ROUND(2.675,2)", "=ROUND(-2.5,0)", "=ROUND(1234.5,-2)",
    "=ROUNDUP(2.121,2)", "=ROUNDDOWN(-2.129,2)", "=PI()", "=EXP(1000)",
    # finance
    "=PMT(0.01,12,-1000)", "=PMT(0,12,1200)", "=PMT(0.05/12,60,100000,0,1)",
    "=PMT(0.01,12,-1000,500)", "=FV(0.01,12,-100)", "=PV(0.01,12,-100)",
    "=IRR({-100,60,60})", "=IRR(Data!A1:A3)", "=IRR({-1000,300,400,500},0.2)",
    "=NPV(0.1,100,200,300)", "=NPV(0.1,Data!C1:C6)", "=NPV(0.05,Data!A1:A6,5)",
    # dates (serial numbers)
    "=EOMONTH(DATE(2024,1,15),1)", "=EOMONTH(Data!A6,-2)", "=EDATE(DATE(2024,1,31),1)",
    "=DATE(2023,14,1)", "=DATE(2024,3,0)", "=YEAR(Data!A6)", "=MONTH(45000)", "=DAY(45000)",
    "=EOMONTH(DATE(2024,1,15),2.9)",
    # lookup and shape
    "=COLUMNS(Data!A1:C6)", "=ROWS(Data!A1:C6)", "=INDEX(Data!A1:C6,2,3)",
    "=INDEX(Data!C1:C6,4)", "=INDEX(Data!A1:C1,3)",
    "=MATCH(7,Data!C1:C6,0)", '=MATCH("abc",Data!B1:B6,0)', '=MATCH("a*",Data!B1:B6,0)',
    "=MATCH(5,{1,3,5,7},1)", "=MATCH(4,{1,3,5,7})", "=MATCH(0,{1,3,5,7},1)",
    "=SUM({1,2;3,4})", "=INDEX({1,2;3,4},2,1)",
    '=VLOOKUP("abc",Data!B1:C6,2,FALSE)', "=VLOOKUP(2,Data!A1:C3,3,FALSE)",
    "=VLOOKUP(5,{1,10;3,30;7,70},2)", "=VLOOKUP(5,{1,10;3,30;7,70},2,TRUE)",
    "=VLOOKUP(0,{1,10;3,30},2)", '=VLOOKUP("zz",Data!B1:C6,2,FALSE)',
    "=VLOOKUP(2,Data!A1:C3,0,FALSE)", '=HLOOKUP("x",Data!B1:C6,4,FALSE)',
    "=HLOOKUP(2,{1,2,3;10,20,30},2,0)", "=HLOOKUP(2.5,{1,2,3;10,20,30},2)",
    # criteria
    '=COUNTIF(Data!C1:C6,">5")', '=COUNTIF(Data!A1:C6,"abc")', '=COUNTIF(Data!A1:C6,"<>7")',
    '=COUNTIF(Data!C1:C6,7)', '=COUNTIF(Data!B1:B6,"a?c")', '=COUNTIF(Data!B1:B6,TRUE)',
    '=COUNTIF(Data!A1:A6,"<"&2)', '=COUNTIF(Data!A1:C6,"")', '=SUMIF(Data!C1:C6,">1")',
    '=SUMIF(Data!B1:B6,"abc",Data!C1:C6)', '=COUNTIFS(Data!A1:A6,">0",Data!C1:C6,"<8")',
    '=SUMIFS(Data!C1:C6,Data!A1:A6,">0",Data!B1:B6,"<>x")', '=COUNTIFS(Data!A1:A6,">0")',
    '=SUMIFS(Data!C1:C6,Data!A1:A5,">0")',
    # text
    '=LEN("abcd")', '=UPPER("aB")', '=LOWER("aB")', '=TRIM("  a   b ")', '=LEFT("abc",2)',
    '=RIGHT("abc")', '=MID("abcdef",2,3)', "=LEN(Data!A1)",
    # implicit intersection: a column range read from row 3, a row range from column C
    "=Data!$C$1:$C$6*1", "=Data!$A$3:$C$3+0",
]

EXCEL_NOT_LIBREOFFICE = [
    # Where LibreOffice departs from Excel, Excel's documented result is the oracle
    # (Microsoft's function reference, support.microsoft.com): LibreOffice treats TRUE
    # and FALSE as the numbers 1 and 0 (in ranges, in text, in comparisons), reports an
    # illegal argument as #VALUE! where Excel says #NUM! or #REF!, and computes 0^0 and
    # odd roots of negative numbers.
    ("=0^0", "#NUM!"),                       # POWER: "0^0 ... #NUM!"
    ("=(-8)^(1/3)", "#NUM!"),                # a negative base, a fractional power
    ('="x"&1.5&TRUE', "x1.5TRUE"),           # a logical value as text is TRUE/FALSE
    ('="e"&1E+20', "e1E+20"),
    ('="z"<TRUE', True),                     # numbers < text < logical values
    ("=SUM(Data!A1:C6)", 45349.55),          # SUM: "logical values ... in the reference
    ('=SUM(Data!B2,"3",TRUE)', 4.0),         # are ignored"; "=SUM("3", 2, TRUE) returns 6"
    ("=COUNT(Data!A1:C6)", 10.0),            # COUNT: numbers and dates in a reference
    ('=COUNT(Data!B1:B6,TRUE,"1")', 3.0),    # ... logical values, numbers as text typed in
    ("=LN(0)", "#NUM!"),
    ("=SQRT(-1)", "#NUM!"),                  # SQRT: "If number is negative ... #NUM!"
    ("=INDEX(Data!A1:C6,9,1)", "#REF!"),     # INDEX: "not within array ... #REF!"
    ("=IRR({100,200})", "#NUM!"),            # IRR: no sign change, no rate: "#NUM!"
    ("=VLOOKUP(2,Data!A1:C3,4,FALSE)", "#REF!"),  # VLOOKUP: "greater than the number of
    # columns in table_array ... #REF!"
    ('=CONCATENATE("a",1,TRUE)', "a1TRUE"),
]


def _battery(path):
    wb = openpyxl.Workbook()
    data = wb.active
    data.title = "Data"
    for row in DATA:
        data.append(row)
    ws = wb.create_sheet("F")
    for i, f in enumerate(BATTERY, start=1):
        ws.cell(i, 2, f)
    for i, (f, _) in enumerate(EXCEL_NOT_LIBREOFFICE, start=len(BATTERY) + 1):
        ws.cell(i, 3, f)
    n = len(BATTERY) + len(EXCEL_NOT_LIBREOFFICE)
    ws[f"D{n + 1}"] = ArrayFormula(f"D{n + 1}:E{n + 3}", "=Data!A1:A2*Data!C1:C3")
    ws[f"D{n + 5}"] = ArrayFormula(f"D{n + 5}:F{n + 5}", "=TRANSPOSE(Data!C1:C3)+{1,2,3}")
    ws[f"D{n + 7}"] = ArrayFormula(f"D{n + 7}:D{n + 9}", "=IF(Data!C1:C3>5,\"big\",\"small\")")
    ws[f"D{n + 11}"] = ArrayFormula(f"D{n + 11}:D{n + 11}", "=SUM(Data!A1:A3*Data!C1:C3)")
    ws[f"D{n + 13}"] = ArrayFormula(f"D{n + 13}:D{n + 14}", "=ABS(Data!A3:A4)")
    ws[f"D{n + 16}"] = ArrayFormula(f"D{n + 16}:D{n + 18}",
                                    '=IFERROR(1/(Data!C1:C3-7),"x")')
    wb.save(path)
    return path


def _same(ours, theirs) -> bool:
    if isinstance(theirs, dt.datetime):  # LibreOffice gives DATE's cell a date format
        theirs = (theirs - dt.datetime(1899, 12, 30)).total_seconds() / 86400
    if isinstance(theirs, bool) or isinstance(ours, bool):
        return ours is theirs or (ours == theirs and type(ours) is type(theirs))
    if isinstance(theirs, (int, float)) and isinstance(ours, (int, float)):
        return ours == pytest.approx(theirs, rel=1e-12, abs=1e-300)
    return ours == theirs or (ours in (None, "") and theirs in (None, ""))


def test_every_function_and_rule_agrees_with_libreoffice(tmp_path):
    lo.require_soffice()
    src = _battery(tmp_path / "battery.xlsx")
    with zipfile.ZipFile(src) as zf:
        evaluator.evaluate(zf, sandbox(zf).parts)  # computed here, not handed over
    [res] = recalc.recalc_workbooks([src], tmp_path / "ours.xlsx")
    assert res.ok, res.error
    theirs = lo.recalculate(src, tmp_path / "lo")
    a = openpyxl.load_workbook(res.output, data_only=True)["F"]
    b = openpyxl.load_workbook(theirs, data_only=True)["F"]
    formulas = openpyxl.load_workbook(src)["F"]
    cells = {c.coordinate: c.value for row in formulas.iter_rows() for c in row
             if c.value is not None and c.column != 3}
    for anchor, ref in formulas.array_formulae.items():  # every cell an array fills
        for row in formulas[ref]:
            for c in row:
                cells.setdefault(c.coordinate, f"(in {anchor}'s array)")
    assert sum(1 for v in cells.values() if isinstance(v, str) and v.startswith("(in")) >= 10
    wrong = []
    for coordinate, formula in cells.items():
        x, y = a[coordinate].value, b[coordinate].value
        if not _same(x, y):
            text = getattr(formula, "text", formula)
            wrong.append(f"{coordinate} {text}: ours {x!r}, LibreOffice {y!r}")
    assert not wrong, "\n".join(wrong)
    for i, (f, expected) in enumerate(EXCEL_NOT_LIBREOFFICE, start=len(BATTERY) + 1):
        assert _same(a.cell(i, 3).value, expected), (f, a.cell(i, 3).value)


def test_the_project_workbooks_are_computed_here(tmp_path):
    """The deal model (GPU_ functions, legacy array formulas, defined names, dates) and the
    bench's native model need nothing the evaluator hands over to the formulas engine."""
    deal = build_model_workbook(tmp_path / "deal.xlsx")
    native = tmp_path / "native.xlsx"
    native_model.build(native, facilities=3, periods=12)
    for path in (deal, native):
        with zipfile.ZipFile(path) as zf:
            res = evaluator.evaluate(zf, sandbox(zf).parts)
        assert res.values


def test_formulas_of_one_shape_compile_once(tmp_path):
    """The 12 monthly cells of a row differ only by their column: one R1C1 shape."""
    native = tmp_path / "native.xlsx"
    cells = native_model.build(native, facilities=3, periods=12)
    with zipfile.ZipFile(native) as zf:
        cut = sandbox(zf)
        book = evaluator._read(zf, cut.parts)
    formulas = book[2]
    shapes = {(f.sheet, f.area is not None, formula_shape(f.text, f.row, f.col)[0])
              for f in formulas}
    assert len(formulas) == cells and len(shapes) <= 3 * 8 + 1


def test_a_function_it_does_not_compute_goes_to_the_formulas_engine(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"], ws["A2"], ws["A3"] = -100.0, 60.0, 60.0
    ws["B1"] = "=STDEV(A1:A3)"
    ws["B2"] = "=A1*2"
    wb.save(tmp_path / "stdev.xlsx")
    with zipfile.ZipFile(tmp_path / "stdev.xlsx") as zf, pytest.raises(
            evaluator.Unsupported, match="STDEV"):
        evaluator.evaluate(zf, sandbox(zf).parts)
    [res] = recalc.recalc_workbooks([tmp_path / "stdev.xlsx"], tmp_path / "out.xlsx")
    out = openpyxl.load_workbook(res.output, data_only=True).active
    assert res.ok and out["B1"].value == pytest.approx(statistics.stdev([-100, 60, 60]))
    assert out["B2"].value == -200


def test_a_formula_nested_too_deeply_fails_in_its_own_cell(tmp_path):
    """1,500 nested parentheses exhaust Python's recursion: that cell (and the cells
    reading it) are #VALUE! with the reason, the others computed, the run completes; a
    chain of 5,000 cells each reading the one above is computed in order, not by
    recursion."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"] = 1
    ws["B1"] = "=" + "(" * 1500 + "A1+1" + ")" * 1500
    ws["B2"] = "=" + "IF(A1," * 60 + "1" + ",0)" * 60
    ws["B3"] = "=B1*2"
    for r in range(2, 5002):
        ws[f"A{r}"] = f"=A{r - 1}+1"
    wb.save(tmp_path / "deep.xlsx")
    [res] = recalc.recalc_workbooks([tmp_path / "deep.xlsx"], tmp_path / "out.xlsx")
    out = openpyxl.load_workbook(res.output, data_only=True).active
    assert res.ok and out["B1"].value == "#VALUE!" and out["B3"].value == "#VALUE!"
    assert out["B2"].value == 1 and out["A5001"].value == 5001
    assert any("Sheet!B1: #VALUE! (a formula nested more deeply" in e for e in res.cell_errors)
