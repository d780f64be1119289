"""Reading tapes (gpucredit.tape.reader): headers, dates, .xlsx/.xlsm/.csv, Excel Tables
versus plain ranges, blank rows, the Assumptions sheet, speed.

Workbooks are written by openpyxl (as an analyst's Excel would save them) or by the
part-by-part writer in tests/hostile; expected values are the cells written.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.table import Table
from tests import hostile as H

from gpucredit.tape import TapeError, read_tape
from gpucredit.tape.schema import COLUMNS, match_header
from gpucredit.tape.validate import validate


def _openpyxl_book(path, rows, *, title="Tape", start="A1", table=None, totals=False,
                   extra_sheets=(), assumptions=None, names=None, macro=False):
    wb = openpyxl.Workbook()
    wb.active.title = extra_sheets[0] if extra_sheets else title
    for name in extra_sheets[1:]:
        wb.create_sheet(name)
    ws = wb.create_sheet(title) if extra_sheets else wb.active
    r0 = openpyxl.utils.cell.coordinate_to_tuple(start)
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            if v is not None:
                ws.cell(r0[0] + i, r0[1] + j, v)
    if table:
        last = openpyxl.utils.get_column_letter(r0[1] + len(rows[0]) - 1)
        ref = f"{start}:{last}{r0[0] + len(rows) - 1}"
        t = Table(displayName=table, ref=ref)
        if totals:
            t.totalsRowCount = 1
        ws.add_table(t)
    if assumptions is not None:
        a = wb.create_sheet("Assumptions")
        for row in assumptions:
            a.append(row)
    for name, target in (names or {}).items():
        wb.defined_names[name] = DefinedName(name, attr_text=target)
    wb.save(path)
    if macro:  # mark the package macro-enabled as Excel does for .xlsm
        members = H.package_members(path)
        members = [(n, d.replace(b"spreadsheetml.sheet.main+xml",
                                 b"ms-excel.sheet.macroEnabled.main+xml"))
                   if n == "[Content_Types].xml" else (n, d) for n, d in members]
        H.rezip(path, members)
    return path


# --------------------------------------------------------------------------------- headers


@pytest.mark.parametrize("header", [
    "Facility ID", "facility_id", "FACILITY ID", "  facility   id ", "Facility-ID",
    "facility_ID (text)", "Loan ID", "facilityid"])
def test_header_variants_match(tmp_path, header):
    p = tmp_path / "t.csv"
    p.write_text(f"{header},GPU Model\nF1,H100\n")
    df, src = read_tape(p)
    assert list(df.columns) == ["facility_id", "gpu_model"]
    assert src.columns["facility_id"].header == header.strip()
    assert src.columns["facility_id"].letter == "A"


def test_every_label_name_and_alias_reads_back(tmp_path):
    for c in COLUMNS:
        for text in (c.label, c.name, c.label.upper(), c.name.replace("_", " "), *c.aliases):
            assert match_header(text) == c.name, (text, c.name)


def test_unknown_and_duplicate_and_headerless_columns(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("facility_id,Colour,Utilization,utilisation,,\nF1,red,0.8,0.9,,x\n")
    df, src = read_tape(p)
    assert "Colour" in df.columns and src.columns["Colour"].field is None
    dup = [i for i in src.issues if i.check == "header" and i.severity == "error"]
    assert dup[0].message == ("Column D (utilisation): columns C and D both hold Utilization: "
                              "keep one and delete or rename the other")
    headerless = [i for i in src.issues if "no header" in i.message]
    assert headerless[0].column == "F" and headerless[0].row == 2


# ------------------------------------------------------------------------------- dates


def test_dates_as_dates_serials_and_text(tmp_path):
    rows = [["facility_id", "delivery_date", "maturity_date", "origination_date"],
            ["F1", dt.date(2024, 6, 30), 45473, "2024-06-30"],
            ["F2", dt.datetime(2024, 6, 30, 0, 0), 45473.0, "30 Jun 2024"]]
    p = H.write_xlsx(tmp_path / "t.xlsx", {"Tape": rows})
    df, _ = read_tape(p)
    assert df.loc[2, "delivery_date"] == dt.date(2024, 6, 30)  # a date cell stays a date
    assert df.loc[2, "maturity_date"] == 45473  # a serial stays a number
    assert df.loc[2, "origination_date"] == "2024-06-30"  # text stays text
    from gpucredit.tape.convert import coerce
    from gpucredit.tape.schema import column

    for name in ("delivery_date", "maturity_date", "origination_date"):
        got = coerce(column(name), df[name]).values
        assert list(got.dt.date) == [dt.date(2024, 6, 30)] * 2, name


def test_1904_date_system(tmp_path):
    # 2024-06-30 is serial 44011 counted from 1904-01-01 (1,462 days after 1899-12-30).
    assert (dt.date(2024, 6, 30) - dt.date(1904, 1, 1)).days == 44011
    rows = [["facility_id", "delivery_date"], ["F1", 44011]]
    p = H.write_xlsx(tmp_path / "t.xlsx", {"Tape": rows}, date1904=True)
    df, src = read_tape(p)
    assert src.date1904 is True
    from gpucredit.tape.convert import coerce
    from gpucredit.tape.schema import column

    got = coerce(column("delivery_date"), df["delivery_date"], date1904=True).values
    assert got.iloc[0].date() == dt.date(2024, 6, 30)


# ------------------------------------------------------------------- formats and layouts


def test_xlsm_reads_like_xlsx(tmp_path):
    p = _openpyxl_book(tmp_path / "t.xlsm", H.SMALL_TAPE, macro=True)
    df, src = read_tape(p)
    assert src.kind == "xlsm" and list(df["facility_id"]) == ["F1", "F2"]


def test_xlsx_written_by_openpyxl(tmp_path):
    p = _openpyxl_book(tmp_path / "t.xlsx", H.SMALL_TAPE)
    df, src = read_tape(p)
    assert src.kind == "xlsx" and src.engine == "calamine" and src.sheet == "Tape"
    assert df.loc[3].tolist() == ["F2", "Hash Co", "miner", "H200", 512]


def test_excel_table_with_totals_row_away_from_a1(tmp_path):
    rows = [*H.SMALL_TAPE, ["Total", None, None, None, 1536]]
    p = _openpyxl_book(tmp_path / "t.xlsx", rows, start="B4", table="Tape", totals=True)
    # Cells outside the table (a note) are not read.
    wb = openpyxl.load_workbook(p)
    wb["Tape"]["B2"] = "Loan tape as of 30 June 2026"
    wb["Tape"]["H5"] = "scratch note"
    wb.save(p)
    df, src = read_tape(p)
    assert src.table == "Tape" and src.header_row == 4
    assert list(df.index) == [5, 6]  # the totals row (7) is left out
    assert list(df["facility_id"]) == ["F1", "F2"]
    assert src.columns["facility_id"].letter == "B"
    assert "scratch note" not in df.to_numpy().ravel().tolist()


def test_plain_range_with_a_title_and_blank_rows(tmp_path):
    rows = [["Loan tape - illustrative"], [], H.SMALL_TAPE[0], H.SMALL_TAPE[1], [],
            [None, None, None, None, None], H.SMALL_TAPE[2]]
    p = _openpyxl_book(tmp_path / "t.xlsx", rows, start="C2")
    df, src = read_tape(p)
    assert src.table is None and src.header_row == 4
    assert list(df.index) == [5, 8]
    assert src.columns["gpu_count"].letter == "G"


def test_header_in_first_non_empty_row_without_schema_names(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("\n\nfoo,bar\n1,2\n")
    df, src = read_tape(p)
    assert src.header_row == 3 and list(df.columns) == ["foo", "bar"]


def test_sheet_selection(tmp_path):
    p = _openpyxl_book(tmp_path / "t.xlsx", H.SMALL_TAPE, extra_sheets=("Instructions",))
    df, src = read_tape(p)
    assert src.sheet == "Tape" and len(df) == 2
    df, src = read_tape(p, sheet="instructions")
    assert src.sheet == "Instructions" and len(df) == 0
    df, src = read_tape(p, sheet=1)
    assert src.sheet == "Tape"
    with pytest.raises(TapeError, match="has no sheet called 'Loans': its sheets are "
                                        "'Instructions', 'Tape'") as e:
        read_tape(p, sheet="Loans")
    assert e.value.code == "no_sheet"


def test_first_visible_sheet_without_a_tape_sheet(tmp_path):
    p = H.write_xlsx(tmp_path / "t.xlsx", {"Hidden": [["x"]], "Loans": H.SMALL_TAPE},
                     states={"Hidden": "hidden"})
    df, src = read_tape(p)
    assert src.sheet == "Loans" and len(df) == 2


def test_formula_cells_give_their_cached_values_and_errors_their_codes(tmp_path):
    rows = [["facility_id", "gpu_count", "commitment"],
            ["F1", H.Formula("4*256", 1024.0), H.ExcelError("#N/A")]]
    p = H.write_xlsx(tmp_path / "t.xlsx", {"Tape": rows})
    df, _ = read_tape(p)
    assert df.loc[2, "gpu_count"] == 1024 and df.loc[2, "commitment"] == "#N/A"


# --------------------------------------------------------------------------------- CSV


@pytest.mark.parametrize(("text", "delim"), [
    ("facility_id;borrower\nF1;Acme, Inc\n", ";"),
    ("facility_id\tborrower\nF1\tAcme, Inc\n", "\t"),
    ('facility_id,borrower\nF1,"Acme, Inc"\n', ","),
    ("sep=|\nfacility_id|borrower\nF1|Acme, Inc\n", "|"),
])
def test_csv_delimiters(tmp_path, text, delim):
    p = tmp_path / "t.csv"
    p.write_text(text)
    df, src = read_tape(p)
    assert src.delimiter == delim
    assert df["borrower"].tolist() == ["Acme, Inc"]
    assert df.index.tolist() == [3 if text.startswith("sep=") else 2]


def test_csv_ragged_row_names_the_row(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("facility_id,borrower\nF1,Acme\nF2,Acme, Inc\n")
    with pytest.raises(TapeError, match=r"row 3 has 3 values but the rows above have 2\. "
                                        r"Check for an unquoted comma"):
        read_tape(p)


def test_csv_keeps_formula_like_text_as_text(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text('facility_id,borrower\nF1,"=HYPERLINK(""http://x"",""y"")"\nF2,@SUM(1)\n')
    df, _ = read_tape(p)
    assert df["borrower"].tolist() == ['=HYPERLINK("http://x","y")', "@SUM(1)"]


def test_empty_csv_and_header_only(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("\n\n")
    df, _ = read_tape(p)
    assert df.empty
    p.write_text("facility_id,borrower\n")
    df, _ = read_tape(p)
    assert df.empty and list(df.columns) == ["facility_id", "borrower"]


# ------------------------------------------------------------------------- assumptions


def test_assumptions_from_named_cells(tmp_path):
    p = _openpyxl_book(tmp_path / "t.xlsx", H.SMALL_TAPE,
                       assumptions=[["Assumption", "Value"], ["BTC price", 95000],
                                    ["Base rate (SOFR)", 0.043], ["note", "x"]],
                       names={"btc_price": "Assumptions!$B$2",
                              "BASE_RATE": "'Assumptions'!$B$3", "unrelated": "Tape!$A$1"})
    _, src = read_tape(p)
    assert src.assumptions == {"btc_price": 95000, "base_rate": 0.043}
    assert src.assumption_cells == {"btc_price": "Assumptions!B2", "base_rate": "Assumptions!B3"}


def test_assumptions_from_label_value_pairs(tmp_path):
    p = _openpyxl_book(tmp_path / "t.xlsx", H.SMALL_TAPE,
                       assumptions=[["Market data"], ["BTC volatility", None, "55%"],
                                    ["mc_paths", 2000], ["Copula", "Student-t"]])
    _, src = read_tape(p)
    assert src.assumptions == {"btc_vol": "55%", "mc_paths": 2000, "copula": "Student-t"}
    assert src.assumption_cells["btc_vol"] == "Assumptions!C2"


def test_named_cell_on_a_missing_sheet_is_reported(tmp_path):
    p = _openpyxl_book(tmp_path / "t.xlsx", H.SMALL_TAPE, names={"rho": "Market!$B$2"})
    _, src = read_tape(p)
    assert "rho" not in src.assumptions
    assert any("points to a sheet 'Market' that does not exist" in i.message
               for i in src.issues)


# -------------------------------------------------------------------------------- speed


@pytest.mark.slow
def test_hundred_thousand_rows_read_whole_with_the_fast_reader(tmp_path):
    """The whole schema (51 columns, about 4.4 million cells) for 100,000 facilities.

    Correctness only: its speed (under 5 s) is measured in bench/bench_tape.py, beside
    openpyxl, not asserted in a unit test on a shared machine.
    """
    p = H.write_xlsx(tmp_path / "big.xlsx", {"Tape": H.full_tape(100_000)}, compresslevel=1)
    df, src = read_tape(p)
    assert df.shape == (100_000, len(COLUMNS)) and src.engine == "calamine"
    report = validate(df, src)
    assert report.exit_status == 0 and len(report.good) == 100_000


# --------------------------------------------------------------------------- issue 13


def _issue13_report(path):
    from gpucredit.tape.validate import report_to_frame, validate_file

    digest = H.sha256(path)
    report, good = validate_file(path)
    assert H.sha256(path) == digest
    return report, good, " | ".join(report_to_frame(report)["Message"])


def test_rows_below_and_cells_beside_the_table_are_reported(tmp_path):
    from gpucredit.tape.guards import column_letter

    rows = [list(r) for r in H.full_tape(5)]
    width = len(rows[0])
    rows[1] = rows[1] + [None, "a note beside"]
    path = H.write_xlsx(tmp_path / "t.xlsx", {"Tape": rows}, tables={
        "Tape": [{"name": "Tape", "ref": f"A1:{column_letter(width)}4"}]})
    report, good, said = _issue13_report(path)
    assert len(good) == 3
    assert ("rows 5 to 6 below the table 'Tape' (which ends on row 4) hold data that was "
            "not read") in said
    assert f"column {column_letter(width + 2)} beside the table 'Tape'" in said
    assert report.warnings


def test_a_table_with_nothing_around_it_draws_no_warning(tmp_path):
    from gpucredit.tape.guards import column_letter

    rows = [list(r) for r in H.full_tape(3)]
    path = H.write_xlsx(tmp_path / "t.xlsx", {"Tape": rows}, tables={
        "Tape": [{"name": "Tape", "ref": f"A1:{column_letter(len(rows[0]))}4"}]})
    _, good, said = _issue13_report(path)
    assert len(good) == 3 and "not read" not in said


def test_a_renamed_tape_sheet_is_found_by_its_header(tmp_path):
    path = H.write_xlsx(tmp_path / "t.xlsx", {
        "Instructions": [["How to fill in the tape"], ["Column", "Meaning"]],
        "Loans": [list(r) for r in H.full_tape(2)]})
    report, good, said = _issue13_report(path)
    assert len(good) == 2 and report.sheet == "Loans"
    assert "has no sheet called 'Tape': the tape was read from the sheet 'Loans'" in said


def test_a_missing_tape_sheet_says_so(tmp_path):
    path = H.write_xlsx(tmp_path / "t.xlsx", {
        "Instructions": [["How to fill in the tape"], ["Column", "Meaning"]],
        "Sources": [["Source", "Link"]]})
    report, good, said = _issue13_report(path)
    assert report.exit_status == 2 and good.empty
    assert ("has no sheet called 'Tape' and no sheet whose header names loan-tape columns "
            "(its sheets are 'Instructions', 'Sources'): was the Tape sheet renamed or "
            "deleted?") in said
    assert " | " not in said   # that one message, no complaint about Instructions' columns


def test_strict_open_xml_says_so(tmp_path):
    plain = H.write_xlsx(tmp_path / "plain.xlsx", {"Tape": [list(r) for r in H.full_tape(2)]})
    strict = [(n, b.replace(b"http://schemas.openxmlformats.org/spreadsheetml/2006/main",
                            b"http://purl.oclc.org/ooxml/spreadsheetml/main").replace(
        b"http://schemas.openxmlformats.org/officeDocument/2006/relationships",
        b"http://purl.oclc.org/ooxml/officeDocument/relationships"))
        for n, b in H.package_members(plain)]
    path = H.rezip(tmp_path / "strict.xlsx", strict)
    report, good, said = _issue13_report(path)
    assert report.exit_status == 2 and good.empty
    assert "is saved as a Strict Open XML Spreadsheet" in said
    assert "no worksheet" not in said


_NO_VALUE = ("this cell holds a formula with no calculated value (the file was saved "
             "without calculating): open it in Excel and save it, or type the value")


def test_formula_cells_never_calculated_say_so(tmp_path):
    from gpucredit.tape.guards import column_letter

    rows = [list(r) for r in H.full_tape(3)]
    gpus = [c.name for c in COLUMNS].index("gpu_count")
    letter = openpyxl.utils.get_column_letter(gpus + 1)
    rows[1][gpus] = H.Formula("B2*2")            # GPUs by a formula, saved without its value
    rows[2][gpus] = H.Formula("B3*2", cached=8)  # calculated: read as its value
    rows[0].append(H.Formula("1+1"))             # a header never calculated
    rows[1].append("x")
    path = H.write_xlsx(tmp_path / "t.xlsx", {"Tape": rows})
    report, good, said = _issue13_report(path)
    assert report.exit_status == 1 and sorted(good.index) == [3, 4]
    assert good.loc[3, "gpu_count"] == 8
    row2 = [i for i in report.issues if i.row == 2]
    assert [(i.severity, i.column, i.field, i.message) for i in row2] == [
        ("error", letter, "gpu_count", f"Row 2, column {letter} (GPUs): {_NO_VALUE}"),
        ("warning", column_letter(len(rows[0])), None, f"Row 2, column "
         f"{column_letter(len(rows[0]))}: this column holds data but has no header: it was "
         "ignored; give it a header if it belongs to the tape")]
    assert (f"the sheet 'Tape' has formula cells that were never calculated "
            f"({column_letter(len(rows[0]))}1), "
            "outside the tape's values: they were read as blank") in said


@pytest.mark.parametrize("header, warned", [
    ("Maturity date (extended)", '"(extended)" is not a unit'),
    ("Utilization (target)", '"(target)" is not a unit'),
    ("Utilization (%)", None),
    ("Cost per GPU (USD)", None),
])
def test_a_bracket_that_is_not_a_unit_is_named(tmp_path, header, warned):
    rows = [list(r) for r in H.full_tape(2, labels=True)]
    target = {"Maturity date (extended)": "maturity_date",
              "Utilization (target)": "utilization", "Utilization (%)": "utilization",
              "Cost per GPU (USD)": "gpu_unit_cost"}[header]
    rows[0][[c.name for c in COLUMNS].index(target)] = header
    path = H.write_xlsx(tmp_path / "t.xlsx", {"Tape": rows})
    _, good, said = _issue13_report(path)
    assert len(good) == 2
    if warned:
        assert f'the header "{header}" was read as' in said and warned in said
    else:
        assert "is not a unit" not in said


@pytest.mark.parametrize("header", ["Drawn amount [USD m]", "Commitment (USD mn)",
                                    "Cost per GPU ('000)", "Commitment (USD bn)"])
def test_a_scaled_amount_column_is_refused_not_read_a_million_times_too_small(tmp_path,
                                                                               header):
    """An amount column whose header scales it (thousands, millions, billions) would be
    read as whole dollars: the tape stops with the column named; "[m]" elsewhere (not an
    amount) is not taken for millions."""
    rows = [list(r) for r in H.full_tape(2, labels=True)]
    target = {"Drawn a": "drawn_amount", "Commitm": "commitment",
              "Cost pe": "gpu_unit_cost"}[header[:7]]
    rows[0][[c.name for c in COLUMNS].index(target)] = header
    path = H.write_xlsx(tmp_path / "t.xlsx", {"Tape": rows})
    report, good, said = _issue13_report(path)
    assert good.empty and report.exit_status == 2
    assert f'the header "{header}" says its amounts are scaled' in said
    assert "give them in full (USD 4.9bn as 4900000000)" in said


# ---------------------------------------------------- a renamed or missing Tape sheet

DEMO = Path(__file__).resolve().parents[1] / "workbooks" / "demo_tape.xlsx"


def _renamed_demo(tmp_path, new_name: str) -> Path:
    """The demo tape with its Tape sheet renamed as Excel would (workbook.xml only)."""
    members = [(n, d.replace(b'<sheet name="Tape" ',
                             f'<sheet name="{new_name}" '.encode()))
               if n == "xl/workbook.xml" else (n, d) for n, d in H.package_members(DEMO)]
    return H.rezip(tmp_path / "renamed.xlsx", members)


@pytest.mark.parametrize("new_name", ["Loans", "Tape (2)"])
def test_a_renamed_demo_tape_sheet_is_read_by_its_table(tmp_path, new_name):
    from gpucredit.tape import report_to_frame, validate_file

    expected, _ = validate_file(DEMO)
    path = _renamed_demo(tmp_path, new_name)
    digest = H.sha256(path)
    report, good = validate_file(path)
    assert H.sha256(path) == digest
    assert report.sheet == new_name and report.exit_status == 0
    assert report.accepted == expected.accepted and len(good) == 15
    assert list(report_to_frame(report)["Message"]) == [
        f"renamed.xlsx has no sheet called 'Tape': the tape was read from the sheet "
        f"{new_name!r}, which holds the loan-tape table 'LoanTape'; rename that sheet 'Tape' "
        f"if it is the tape"]
    assert [i.severity for i in report.issues] == ["warning"]


def test_a_renamed_sheet_without_a_table_is_read_by_its_header_row(tmp_path):
    # The Instructions list each column by label and by name in one row, and a table of
    # presets has a few tape-like headers: neither is a tape's header.
    instructions = [["How to fill it in"], ["Section", "Column", "Name", "Type"]] + [
        ["Loan", c.label, c.name, c.type] for c in COLUMNS]
    presets = [["Model", "Architecture", "List price (USD)", "Curve family", "kW per GPU",
                "Launch date", "Rent (USD/GPU-hour)", "Notes", "Source"], ["H100"] * 9]
    path = H.write_xlsx(tmp_path / "t.xlsx", {
        "Instructions": instructions, "Presets": presets,
        "Loans": [["Loan tape, June"], []] + [list(r) for r in H.full_tape(3)]})
    report, good, said = _issue13_report(path)
    assert report.sheet == "Loans" and len(good) == 3 and report.exit_status == 0
    assert said == (f"t.xlsx has no sheet called 'Tape': the tape was read from the sheet "
                    f"'Loans', whose row 3 is headed with {len(COLUMNS)} loan-tape columns; "
                    f"rename that sheet 'Tape' if it is the tape")


def test_only_instructions_and_assumptions_is_a_clear_error(tmp_path):
    wb = openpyxl.load_workbook(DEMO)
    for name in ("Tape", "Sources", "Market"):
        del wb[name]
    wb.save(tmp_path / "t.xlsx")
    report, good, said = _issue13_report(tmp_path / "t.xlsx")
    assert report.exit_status == 2 and good.empty
    assert said == ("t.xlsx has no sheet called 'Tape' and no sheet whose header names "
                    "loan-tape columns (its sheets are 'Instructions', 'Assumptions'): was "
                    "the Tape sheet renamed or deleted? Name the sheet holding the tape "
                    "'Tape'.")


def _openpyxl_formulas(tmp_path) -> Path:
    """The demo tape saved by openpyxl with formulas it cannot calculate in two cells: the
    drawn amount of row 3 (optional: its blank would take the commitment) and the GPUs of
    row 4 (required)."""
    wb = openpyxl.load_workbook(DEMO)
    ws = wb["Tape"]
    header = [c.value for c in ws[1]]
    ws.cell(3, header.index("Drawn amount") + 1).value = "=4900000000"
    ws.cell(4, header.index("GPUs") + 1).value = "=80000+2000"
    ws.cell(5, header.index("Commitment") + 1).value = "=SUM(1,2)"
    path = tmp_path / "formulas.xlsx"
    wb.save(path)
    return path


def test_formulas_saved_by_openpyxl_without_values_are_errors_on_their_cells(tmp_path):
    from gpucredit.tape import report_to_frame, validate_file

    path = _openpyxl_formulas(tmp_path)
    digest = H.sha256(path)
    report, good = validate_file(path)
    assert H.sha256(path) == digest
    frame = report_to_frame(report)
    assert list(zip(frame["Severity"], frame["Row"], frame["Column"], frame["Message"],
                    strict=True)) == [
        ("error", 3, "L", f"Row 3, column L (Drawn amount): {_NO_VALUE}"),
        ("error", 4, "F", f"Row 4, column F (GPUs): {_NO_VALUE}"),
        ("error", 5, "K", f"Row 5, column K (Commitment): {_NO_VALUE}"),
    ]
    assert report.exit_status == 1 and report.rejected_rows == [3, 4, 5]
    assert len(good) == 12 and not {3, 4, 5} & set(good.index)


def test_a_text_formula_calculated_to_nothing_is_a_blank(tmp_path):
    # Excel saves a formula whose result is "" as t="str" with an empty value: calculated.
    import re

    rows = [list(r) for r in H.full_tape(2)]
    path = H.write_xlsx(tmp_path / "t.xlsx", {"Tape": rows})
    members = []
    for n, d in H.package_members(path):
        if n == "xl/worksheets/sheet1.xml":  # D2, the Source: an optional text
            d, hits = re.subn(rb'<c r="D2"[^>]*>.*?</c>',
                              b'<c r="D2" t="str"><f>IF(1,"","x")</f><v></v></c>', d)
            assert hits == 1
        members.append((n, d))
    H.rezip(path, members)
    report, good, said = _issue13_report(path)
    assert "formula" not in said and len(good) == 2 and report.exit_status == 0
    assert pd.isna(good.loc[2, "source"]) and good.loc[3, "source"] == "illustrative"
