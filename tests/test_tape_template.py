"""Tests for gpucredit.excel.tape_template: the loan-tape template follows the schema.

The oracle is the schema itself (gpucredit.tape.schema) and the presets table: every
label, note, number format, validation list and range in the workbook must be the one the
schema declares; the tape reader must read the template back; LibreOffice must open it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import openpyxl
import pytest
from tests import libreoffice as lo

from gpucredit.excel import results, tape_template
from gpucredit.excel.styles import INPUT
from gpucredit.excel.tape_template import (
    PUBLIC_SOURCES,
    TABLE_NAME,
    TEMPLATE_ROWS,
    build_tape_template,
)
from gpucredit.presets import presets_frame
from gpucredit.tape import schema
from gpucredit.tape.reader import read_tape

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    path = build_tape_template(tmp_path_factory.mktemp("tpl") / "template.xlsx")
    return path, openpyxl.load_workbook(path)


def validations_by_column(ws) -> dict[str, list]:
    """Column letter -> the data validations whose range starts in row 2 of it."""
    out: dict[str, list] = {}
    for dv in ws.data_validations.dataValidation:
        for rng in str(dv.sqref).split():
            letter = "".join(ch for ch in rng.split(":")[0] if ch.isalpha())
            out.setdefault(letter, []).append(dv)
    return out


class TestTapeSheet:
    def test_sheets(self, template):
        _, wb = template
        assert wb.sheetnames == ["Instructions", "Tape", "Assumptions", "Sources", "Market"]
        assert wb.active.title == "Instructions"

    def test_headers_are_the_schema_labels(self, template):
        _, wb = template
        ws = wb["Tape"]
        assert [c.value for c in ws[1]] == [c.label for c in schema.COLUMNS]

    def test_table(self, template):
        _, wb = template
        ws = wb["Tape"]
        table = ws.tables[TABLE_NAME]
        last = openpyxl.utils.get_column_letter(len(schema.COLUMNS))
        assert table.ref == f"A1:{last}{TEMPLATE_ROWS + 1}"
        assert [c.name for c in table.tableColumns] == [c.label for c in schema.COLUMNS]
        assert table.tableStyleInfo.name == "TableStyleMedium2"
        assert ws.freeze_panes == "C2"

    def test_notes_carry_the_descriptions(self, template):
        _, wb = template
        ws = wb["Tape"]
        for j, c in enumerate(schema.COLUMNS, start=1):
            note = ws.cell(1, j).comment
            assert note is not None, c.name
            assert c.description in note.text and c.name in note.text
            assert f"Enter {c.expectation()}." in note.text

    def test_inputs_are_blue_and_formatted_by_unit(self, template):
        _, wb = template
        ws = wb["Tape"]
        for j, c in enumerate(schema.COLUMNS, start=1):
            cell = ws.cell(2, j)
            assert cell.style == INPUT
            assert cell.font.color.rgb == "000000FF"
            assert cell.number_format == c.number_format, c.name
        assert ws.cell(TEMPLATE_ROWS + 1, 1).style == INPUT

    def test_every_enum_column_has_its_list(self, template):
        _, wb = template
        dvs = validations_by_column(wb["Tape"])
        for j, c in enumerate(schema.COLUMNS, start=1):
            if not (c.choices or c.type == "bool"):
                continue
            letter = openpyxl.utils.get_column_letter(j)
            (dv,) = dvs[letter]
            items = [str(x) for x in c.choices] if c.choices else ["TRUE", "FALSE"]
            assert dv.type == "list"
            assert dv.formula1 == '"' + ",".join(items) + '"'
            assert str(dv.sqref) == f"{letter}2:{letter}{tape_template.VALIDATION_ROWS + 1}"
            assert dv.allow_blank is (not c.required)

    def test_numbers_and_dates_have_their_ranges(self, template):
        _, wb = template
        dvs = validations_by_column(wb["Tape"])
        checked = 0
        for j, c in enumerate(schema.COLUMNS, start=1):
            if c.choices or c.type not in ("int", "float", "date"):
                continue
            letter = openpyxl.utils.get_column_letter(j)
            (dv,) = dvs[letter]
            checked += 1
            if c.type == "date":
                assert (dv.type, dv.operator) == ("date", "between")
                assert dv.formula1 == f"DATE({c.min.year},{c.min.month},{c.min.day})"
                continue
            if c.min_open or c.max_open:
                # strict bounds: a custom formula, e.g. AND(ISNUMBER(H2),H2>0,H2<=500000)
                assert dv.type == "custom"
                assert f"{letter}2{'>' if c.min_open else '>='}" in dv.formula1
                continue
            assert dv.type == ("whole" if c.type == "int" else "decimal")
            assert float(dv.formula1) == c.min and float(dv.formula2) == c.max
        assert checked >= 30

    def test_strict_bound_formula(self, template):
        _, wb = template
        j = [c.name for c in schema.COLUMNS].index("gpu_unit_cost") + 1
        letter = openpyxl.utils.get_column_letter(j)
        (dv,) = validations_by_column(wb["Tape"])[letter]
        assert dv.formula1 == f"AND(ISNUMBER({letter}2),{letter}2>0,{letter}2<=500000)"

    def test_facility_id_must_be_unique(self, template):
        _, wb = template
        (dv,) = validations_by_column(wb["Tape"])["A"]
        assert dv.type == "custom" and dv.formula1.startswith("COUNTIF($A$2:$A$")


class TestAssumptions:
    def test_named_cells_resolve(self, template):
        _, wb = template
        ws = wb["Assumptions"]
        for a in schema.ASSUMPTIONS:
            name = wb.defined_names[a.name]
            ((sheet, ref),) = list(name.destinations)
            assert sheet == "Assumptions"
            cell = ws[ref.replace("$", "")]
            assert ws.cell(cell.row, 1).value == a.label
            assert cell.value == a.default, a.name
            assert cell.style == INPUT

    def test_presets_table(self, template):
        _, wb = template
        ws = wb["Assumptions"]
        table = ws.tables["GpuPresets"]
        rows = list(ws[table.ref])
        header = [c.value for c in rows[0]]
        frame = presets_frame()
        got = {r[0].value: {h: c.value for h, c in zip(header, r, strict=True)}
               for r in rows[1:]}
        assert list(got) == list(frame.index)
        for model, row in frame.iterrows():
            assert got[model]["List price (USD)"] == row["list_price_usd"]
            # openpyxl writes 16 significant digits: equal to the last unit or so
            assert got[model]["kW per GPU"] == pytest.approx(row["kw_per_gpu"], rel=1e-15)
            assert got[model]["Rent (USD/GPU-hour)"] == row["rent_usd_per_hour"]
            assert got[model]["Curve parameters"] == row["curve_params"]

    def test_reader_reads_the_template(self, template):
        path, _ = template
        frame, source = read_tape(path)
        assert len(frame) == 0
        assert list(frame.columns) == [c.name for c in schema.COLUMNS]
        expected = {a.name: a.default for a in schema.ASSUMPTIONS if a.default is not None}
        assert {k: source.assumptions.get(k) for k in expected} == pytest.approx(expected)
        assert not [i for i in source.issues if i.severity == "error"]


class TestOtherSheets:
    def test_sources(self, template):
        _, wb = template
        text = [c.value for row in wb["Sources"].iter_rows() for c in row if c.value]
        for key, _, fact, source in PUBLIC_SOURCES:
            assert key in text and fact in text and source in text

    def test_instructions_list_every_column(self, template):
        _, wb = template
        names = {c.value for c in wb["Instructions"]["C"]}
        assert {c.name for c in schema.COLUMNS} <= names
        text = " ".join(str(c.value) for row in wb["Instructions"].iter_rows() for c in row
                        if c.value)
        assert "type 8% (or 0.08)" in text and "gpucredit validate" in text

    def test_print_setup(self, template):
        _, wb = template
        for ws in wb.worksheets:
            assert ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
        assert wb["Tape"].page_setup.orientation == "landscape"


class TestFile:
    def test_reproducible(self, tmp_path):
        a = build_tape_template(tmp_path / "a.xlsx").read_bytes()
        b = build_tape_template(tmp_path / "b.xlsx").read_bytes()
        assert hashlib.sha256(a).digest() == hashlib.sha256(b).digest()

    def test_committed_copy_is_current(self, tmp_path):
        """workbooks/loan_tape_template.xlsx is regenerated whenever the schema changes:
        python -m gpucredit.excel.demo_tape workbooks"""
        fresh = build_tape_template(tmp_path / "t.xlsx").read_bytes()
        assert (ROOT / "workbooks" / "loan_tape_template.xlsx").read_bytes() == fresh

    def test_failure_leaves_nothing(self, tmp_path, monkeypatch):
        target = tmp_path / "t.xlsx"
        target.write_bytes(b"old")

        def broken(source, target, parts=None, **kw):
            Path(target).write_bytes(b"half a zip")
            raise OSError("disk full")

        monkeypatch.setattr(tape_template, "rewrite_package", broken)
        with pytest.raises(OSError, match="disk full"):
            build_tape_template(target)
        assert [p.name for p in tmp_path.iterdir()] == ["t.xlsx"]
        assert target.read_bytes() == b"old"

    def test_missing_folder(self, tmp_path):
        with pytest.raises(results.GpuCreditError, match="does not exist"):
            build_tape_template(tmp_path / "no" / "t.xlsx")

    def test_unknown_columns_refused(self):
        import pandas as pd

        with pytest.raises(KeyError, match="colour"):
            tape_template.tape_workbook(pd.DataFrame({"colour": ["red"]}))

    @pytest.mark.slow
    def test_passes_open_xml_schema_validation(self, template):
        path, _ = template
        assert lo.open_xml_findings(path) == []

    @pytest.mark.libreoffice
    def test_libreoffice_opens_it(self, template, tmp_path):
        path, _ = template
        pdf = lo.to_pdf(path, tmp_path)
        assert lo.pdf_pages(pdf) >= 4
        recalc = openpyxl.load_workbook(lo.recalculate(path, tmp_path / "x"))
        assert recalc["Tape"]["A1"].value == "Facility ID"
        assert "base_rate" in recalc.defined_names
