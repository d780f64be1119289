"""Hostile and broken tape files (gpucredit.tape.guards through read_tape / validate_file).

Every file is built at test time (tests/hostile). For each: the analyst's message, the
reason code, that it ends within seconds (and, for the heavy ones, in bounded memory in a
child process that must not be killed by a signal), and that the input is unchanged.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest
from tests import hostile as H

from gpucredit.errors import GpuCreditError
from gpucredit.tape import TapeError, TapeLimits, read_tape, validate_file
from gpucredit.tape.guards import (
    _beyond_pattern,
    _le_regex,
    check_csv,
    check_file,
    column_letter,
    column_number,
    inspect_workbook,
    parse_range,
    scan_sheet,
    sniff,
)

ROOT = Path(__file__).resolve().parents[1]


def refused(path: Path, code: str, *fragments: str, limits: TapeLimits | None = None,
            seconds: float = 10.0) -> TapeError:
    """read_tape refuses ``path`` with ``code`` and a message holding ``fragments``, fast,
    leaving the file unchanged; validate_file turns the same reason into exit status 2."""
    before = H.sha256(path) if path.is_file() else None
    t = time.perf_counter()
    with pytest.raises(TapeError) as info:
        read_tape(path, limits=limits)
    elapsed = time.perf_counter() - t
    err = info.value
    assert err.code == code, str(err)
    assert str(err).startswith(path.name), str(err)
    for frag in fragments:
        assert frag in str(err), f"{frag!r} not in {err}"
    assert elapsed < seconds
    assert isinstance(err, GpuCreditError)
    report, good = validate_file(path, limits=limits)
    assert report.exit_status == 2 and len(good) == 0
    assert report.issues[0].message == str(err)
    if before is not None:
        assert H.sha256(path) == before
    return err


CHILD = textwrap.dedent("""
    import json, resource, sys, time
    from gpucredit.tape import read_tape, TapeError, TapeLimits
    t = time.perf_counter()
    try:
        df, src = read_tape(sys.argv[1], limits=TapeLimits(**json.loads(sys.argv[2])))
        out = {"ok": True, "rows": len(df), "engine": src.engine,
               "warnings": [i.message for i in src.issues]}
    except TapeError as e:
        out = {"ok": False, "code": e.code, "message": str(e)}
    out["seconds"] = time.perf_counter() - t
    # Peak memory of this process: VmHWM is reset by exec (ru_maxrss is not, on Linux).
    try:
        with open("/proc/self/status") as f:
            hwm = next(int(x.split()[1]) for x in f if x.startswith("VmHWM:"))
    except (OSError, StopIteration):
        hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out["maxrss_mb"] = hwm / 1024
    print(json.dumps(out))
""")


def in_child(path: Path, timeout: float = 120, **limits) -> dict:
    """read_tape in a separate interpreter: it must exit normally (no SIGABRT, no kill)."""
    before = H.sha256(path)
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path), json.dumps(limits)],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert H.sha256(path) == before
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ not a (whole) workbook


def test_truncated_zip_is_damaged(tmp_path):
    p = H.make_truncated(tmp_path / "tape.xlsx")
    refused(p, "damaged", "is damaged", "not a complete zip archive", "truncated")


def test_corrupt_zip_data_is_damaged(tmp_path):
    p = H.make_corrupt(tmp_path / "tape.xlsx")
    with zipfile.ZipFile(p) as z:  # the archive's structure itself is intact
        assert "xl/worksheets/sheet1.xml" in z.namelist()
    refused(p, "damaged", "is damaged", "xl/worksheets/sheet1.xml")


@pytest.mark.parametrize(("maker", "words"), [
    (H.make_pdf, "it looks like a PDF document"),
    (H.make_png, "it looks like a PNG image"),
    (H.make_random, "it looks like a binary file of unknown type"),
])
def test_not_a_spreadsheet(tmp_path, maker, words):
    p = maker(tmp_path / "demo.xlsx")
    err = refused(p, "not_spreadsheet", words)
    assert str(err).startswith("demo.xlsx is not a spreadsheet: ")


def test_not_a_spreadsheet_under_csv_name(tmp_path):
    refused(H.make_pdf(tmp_path / "tape.csv"), "not_spreadsheet", "a PDF document")


def test_gzip_and_html(tmp_path):
    p = tmp_path / "tape.xlsx"
    p.write_bytes(b"\x1f\x8b\x08\x00" + bytes(40))
    refused(p, "not_spreadsheet", "a gzip archive")
    p.write_bytes(b"<!DOCTYPE html><html><body>Sign in</body></html>")
    refused(p, "not_spreadsheet", "a web page (HTML)")


def test_empty_file(tmp_path):
    refused(H.make_empty(tmp_path / "tape.xlsx"), "empty", "is empty (0 bytes)")


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(TapeError, match=r"^nope.xlsx was not found \(looked for ") as e:
        read_tape(tmp_path / "nope.xlsx")
    assert e.value.code == "missing"
    (tmp_path / "dir.xlsx").mkdir()
    with pytest.raises(TapeError, match=r"^dir\.xlsx is a folder, not a file") as e:
        read_tape(tmp_path / "dir.xlsx")
    assert e.value.code == "not_a_file"


def test_file_above_size_limit(tmp_path):
    p = H.make_small(tmp_path / "tape.xlsx")
    refused(p, "too_big", "above the 1.0 KB limit", "TapeLimits.max_file_bytes",
            limits=TapeLimits(max_file_bytes=1024))


@pytest.mark.parametrize(("names", "words"), [
    ({"word/document.xml": b"<w/>"}, "it is a Word document"),
    ({"ppt/presentation.xml": b"<p/>"}, "it is a PowerPoint presentation"),
    ({"notes.txt": b"hello"}, "a zip archive without an Excel workbook"),
])
def test_zip_that_is_not_a_workbook(tmp_path, names, words):
    p = H.rezip(tmp_path / "tape.xlsx", list(names.items()))
    refused(p, "not_spreadsheet", words)


def test_opendocument_and_xlsb(tmp_path):
    p = H.rezip(tmp_path / "tape.xlsx", [("mimetype", b"application/vnd.oasis"),
                                         ("content.xml", b"<office/>")])
    refused(p, "unsupported", "OpenDocument spreadsheet (.ods): save it as .xlsx")
    p = H.rezip(tmp_path / "tape2.xlsx", [("[Content_Types].xml", b"<Types/>"),
                                          ("xl/workbook.bin", b"\x00\x01")])
    refused(p, "unsupported", "Excel binary workbook (.xlsb)")


# ------------------------------------------------------------------ protected and legacy


def test_encrypted_workbook(tmp_path):
    p = H.make_encrypted(tmp_path / "demo.xlsx")
    err = refused(p, "encrypted")
    assert str(err).startswith("demo.xlsx is password-protected (encrypted): save an "
                               "unprotected copy")


def test_legacy_xls(tmp_path):
    refused(H.make_legacy_xls(tmp_path / "tape.xls"), "legacy_xls",
            "old-format Excel 97-2003 workbook (.xls)", "save it as .xlsx")


def test_bare_ole_signature(tmp_path):
    refused(H.make_ole_bare(tmp_path / "tape.xlsx"), "encrypted",
            "either password-protected (encrypted) or an old-format (.xls) workbook")


def test_zip_level_encryption(tmp_path):
    base = H.package_members(H.make_small(tmp_path / "base.xlsx"))
    members = [(*m, 1) if m[0] == "xl/workbook.xml" else m for m in H.zip_members(base)]
    p = H.raw_zip(tmp_path / "tape.xlsx", members)
    refused(p, "encrypted", "encrypted at the zip level")


# --------------------------------------------------------------------------- XML attacks


def test_entity_bomb_in_shared_strings(tmp_path):
    p = H.make_entity_bomb(tmp_path / "tape.xlsx")
    err = refused(p, "entity", "xl/sharedStrings.xml", "<!DOCTYPE", "entity bomb", seconds=5)
    assert "was refused" in str(err)


def test_external_entity_in_sheet(tmp_path):
    p = H.make_external_entity(tmp_path / "tape.xlsx")
    refused(p, "entity", "xl/worksheets/sheet1.xml", "read files from this computer")


def test_doctype_after_a_long_comment_is_still_found(tmp_path):
    members = H.package_members(H.make_small(tmp_path / "base.xlsx"))
    padded = []
    for name, data in members:
        if name == "xl/styles.xml":
            data = (b'<?xml version="1.0"?>\n<!--' + b"x" * 30_000 + b"-->\n"
                    + b'<!DOCTYPE s [<!ENTITY a "b">]>' + data.split(b"\n", 1)[1])
        padded.append((name, data))
    refused(H.rezip(tmp_path / "tape.xlsx", padded), "entity", "xl/styles.xml")


def test_overlong_prolog(tmp_path):
    members = H.package_members(H.make_small(tmp_path / "base.xlsx"))
    padded = [(n, b'<?xml version="1.0"?>\n<!--' + b"x" * 70_000 + b"-->" + d.split(b"\n", 1)[1])
              if n == "xl/styles.xml" else (n, d) for n, d in members]
    refused(H.rezip(tmp_path / "tape.xlsx", padded), "entity", "before its first element",
            "TapeLimits.max_prolog_bytes")


# ------------------------------------------------------------------------------ zip bombs


def test_zip_bomb_two_gigabytes(tmp_path):
    p = H.make_zip_bomb(tmp_path / "tape.xlsx")
    assert p.stat().st_size < 5 * 2**20  # 2 GB of zeros in a few MB
    with zipfile.ZipFile(p) as z:
        assert z.getinfo("xl/media/padding.bin").file_size == 2 << 30
    err = refused(p, "zip_bomb", "looks like a zip bomb", "xl/media/padding.bin",
                  "TapeLimits.max_compression_ratio", seconds=5)
    assert "It was not opened" in str(err)
    out = in_child(p)
    assert not out["ok"] and out["code"] == "zip_bomb"
    assert out["seconds"] < 5 and out["maxrss_mb"] < 250


def test_total_uncompressed_size_limit(tmp_path):
    p = H.make_small(tmp_path / "tape.xlsx")
    refused(p, "zip_bomb", "expands to", "TapeLimits.max_uncompressed_bytes",
            limits=TapeLimits(max_uncompressed_bytes=4096))


def test_zip_bomb_lying_about_its_size(tmp_path):
    """The sheet claims 20 KB but inflates to 64 MB: reading stops at the claimed size and
    the checksum gives it away."""
    p = H.make_lying_bomb(tmp_path / "tape.xlsx")
    refused(p, "damaged", "is damaged")
    out = in_child(p)
    assert out["code"] == "damaged" and out["maxrss_mb"] < 250


def test_too_many_parts_and_parts_stored_twice(tmp_path):
    p = H.make_small(tmp_path / "tape.xlsx")
    refused(p, "zip_bomb", "more than the 3 a workbook may have",
            limits=TapeLimits(max_members=3))
    members = H.zip_members(H.package_members(p))
    dup = H.raw_zip(tmp_path / "dup.xlsx", [*members, members[0]])
    refused(dup, "damaged", "is stored twice")


def test_unsupported_compression(tmp_path):
    members = H.zip_members(H.package_members(H.make_small(tmp_path / "base.xlsx")))
    members[0] = (*members[0][:4], 12)  # bzip2: not what Excel writes
    refused(H.raw_zip(tmp_path / "tape.xlsx", members), "unsupported",
            "compression method Excel does not write")


def test_missing_parts(tmp_path):
    members = H.package_members(H.make_small(tmp_path / "base.xlsx"))
    no_wb = [(n, d) for n, d in members if n != "xl/workbook.xml"]
    refused(H.rezip(tmp_path / "a.xlsx", no_wb), "damaged",
            "the workbook part xl/workbook.xml is missing")
    no_sheet = [(n, d) for n, d in members if n != "xl/worksheets/sheet1.xml"]
    refused(H.rezip(tmp_path / "b.xlsx", no_sheet), "damaged", "points to a missing part")
    no_ct = [(n, d) for n, d in members if n != "[Content_Types].xml"]
    refused(H.rezip(tmp_path / "c.xlsx", no_ct), "not_spreadsheet",
            "zip archive without an Excel workbook")


# --------------------------------------------------------------- sheets spanning too much


def test_sheet_declaring_a_million_rows_by_16384_columns(tmp_path):
    """The declared dimension and a cell in its far corner: python-calamine would allocate
    17 billion cells and abort the process; the guard refuses first, in a child process
    that must exit normally."""
    p = H.make_huge_extent(tmp_path / "tape.xlsx")
    err = refused(p, "too_many_columns", "XFD1048576", "column 16,384",
                  "the sheet declares A1:XFD1048576", "Delete stray cells", seconds=5)
    assert "was refused" in str(err)
    out = in_child(p)
    assert out == out | {"ok": False, "code": "too_many_columns"}
    assert out["seconds"] < 5 and out["maxrss_mb"] < 250


def test_calamine_alone_aborts_on_that_file(tmp_path):
    """Why the guard exists: python-calamine, given the file directly, kills the process."""
    p = H.make_huge_extent(tmp_path / "tape.xlsx")
    code = ("import sys, python_calamine as pc\n"
            "pc.CalamineWorkbook.from_path(sys.argv[1]).get_sheet_by_name('Tape')\n")
    proc = subprocess.run([sys.executable, "-c", code, str(p)], capture_output=True,
                          timeout=120, env={**os.environ, "RUST_BACKTRACE": "0"})
    if proc.returncode == 0:
        pytest.skip("this python-calamine no longer aborts on a huge sheet")
    assert proc.returncode == -signal.SIGABRT, proc.returncode
    assert b"memory allocation" in proc.stderr


def test_far_row_only(tmp_path):
    p = H.make_huge_extent(tmp_path / "tape.xlsx", declared="A1:E3", far="A1048576")
    refused(p, "too_many_rows", "reaches row 1,048,576 (cell A1048576)",
            "limit of 200,000 rows", "TapeLimits.max_rows")


def test_declared_dimension_alone_is_only_reported(tmp_path):
    """A sheet declaring A1:XFD1048576 over a few cells reads fine; the declaration is
    reported as ignored."""
    p = H.make_huge_extent(tmp_path / "tape.xlsx", far=None)
    df, src = read_tape(p)
    assert len(df) == 2 and src.engine == "calamine"
    assert any("declares its data span A1:XFD1048576" in i.message for i in src.issues)


def test_sparse_area_above_cell_limit(tmp_path):
    p = H.make_huge_extent(tmp_path / "tape.xlsx", declared="A1:E3", far="ALL150000")
    refused(p, "too_many_cells", "span 150,000 rows by 1,000 columns",
            "TapeLimits.max_cells")


def test_duplicate_reference_attribute_cannot_smuggle_a_far_cell(tmp_path):
    """python-calamine takes the last of two r attributes: the scan checks every one."""
    xml = H.huge_extent_sheet("A1:E3", None).replace(
        b'<c r="A1" t="inlineStr">', b'<c r="A1" r="XFD1048576" t="inlineStr">')
    p = H.write_xlsx(tmp_path / "tape.xlsx", {"Tape": []}, sheet_xml={"Tape": xml})
    out = in_child(p)
    assert out["ok"] is False and out["code"] == "too_many_columns", out


def test_prefixed_cells_go_to_the_streaming_reader(tmp_path):
    """Cells written as <x:c> (a namespace prefix) are read by python-calamine by local
    name; the fast scan does not bound them, so openpyxl's streaming reader takes over."""
    ns = H.MAIN_NS
    xml = (f'<?xml version="1.0"?><x:worksheet xmlns:x="{ns}"><x:sheetData>'
           '<x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>facility_id</x:t></x:is></x:c>'
           '<x:c r="B1" t="inlineStr"><x:is><x:t>gpu_count</x:t></x:is></x:c></x:row>'
           '<x:row r="2"><x:c r="A2" t="inlineStr"><x:is><x:t>F1</x:t></x:is></x:c>'
           '<x:c r="B2"><x:v>8</x:v></x:c></x:row>'
           '</x:sheetData></x:worksheet>').encode()
    p = H.write_xlsx(tmp_path / "tape.xlsx", {"Tape": []}, sheet_xml={"Tape": xml})
    df, src = read_tape(p)
    assert src.engine == "openpyxl"
    assert df.loc[2, "facility_id"] == "F1" and df.loc[2, "gpu_count"] == 8
    far = xml.replace(b'<x:c r="B2">', b'<x:c r="XFD2">')
    p2 = H.write_xlsx(tmp_path / "far.xlsx", {"Tape": []}, sheet_xml={"Tape": far})
    out = in_child(p2)
    assert out["code"] == "too_many_columns", out


def test_cells_without_references_go_to_the_streaming_reader(tmp_path):
    xml = (f'<?xml version="1.0"?><worksheet xmlns="{H.MAIN_NS}"><sheetData>'
           '<row><c t="inlineStr"><is><t>facility_id</t></is></c>'
           '<c t="inlineStr"><is><t>gpu_count</t></is></c></row>'
           '<row><c t="inlineStr"><is><t>F1</t></is></c><c><v>16</v></c></row>'
           '</sheetData></worksheet>').encode()
    p = H.write_xlsx(tmp_path / "tape.xlsx", {"Tape": []}, sheet_xml={"Tape": xml})
    df, src = read_tape(p)
    assert src.engine == "openpyxl"
    assert list(df.index) == [2] and df.loc[2, "gpu_count"] == 16
    many = xml.replace(b"<row><c t", b'<row r="250000"><c t', 1)
    many = many.replace(b"<sheetData><row r", b"<sheetData><row r")
    p2 = H.write_xlsx(tmp_path / "far.xlsx", {"Tape": []}, sheet_xml={"Tape": many})
    out = in_child(p2)
    assert out["code"] == "too_many_rows", out


# ------------------------------------------------------------------- a million-row tape


@pytest.mark.slow
def test_million_row_csv_is_refused_quickly(tmp_path):
    p = H.make_million_rows_csv(tmp_path / "tape.csv")
    out = in_child(p)
    assert out["ok"] is False and out["code"] == "too_many_rows"
    assert "about 1,000,002 rows, beyond the limit of 200,000 rows" in out["message"]
    assert out["seconds"] < 10 and out["maxrss_mb"] < 800


@pytest.mark.slow
def test_million_row_csv_reads_when_the_limit_allows(tmp_path):
    p = H.make_million_rows_csv(tmp_path / "tape.csv")
    out = in_child(p, max_rows=1_100_000)
    assert out["ok"] is True and out["rows"] == 1_000_000
    assert out["seconds"] < 10 and out["maxrss_mb"] < 1000


@pytest.mark.slow
def test_million_row_xlsx_is_refused_quickly(tmp_path):
    p = H.make_million_rows_xlsx(tmp_path / "tape.xlsx")
    out = in_child(p)
    assert out["ok"] is False and out["code"] == "too_many_rows"
    assert "reaches row 200,00" in out["message"] and "TapeLimits.max_rows" in out["message"]
    assert out["seconds"] < 10 and out["maxrss_mb"] < 400


# --------------------------------------------------------------------------------- CSV


def test_csv_with_nul_bytes_is_not_text(tmp_path):
    p = tmp_path / "tape.csv"
    p.write_bytes(b"facility_id,borrower\nF1,Ac\x00me\n")
    refused(p, "not_text", "is not a text file (it contains NUL bytes)")


def test_csv_encodings(tmp_path):
    p = tmp_path / "tape.csv"
    p.write_bytes("facility_id,borrower\nF1,Société Générale\n".encode("cp1252"))
    df, src = read_tape(p)
    assert df.loc[2, "borrower"] == "Société Générale" and src.encoding == "cp1252"
    assert any("not UTF-8" in i.message and i.severity == "warning" for i in src.issues)
    p.write_bytes("facility_id\tborrower\r\nF1\tSociété\r\n".encode("utf-16"))
    df, src = read_tape(p)
    assert src.encoding == "utf-16" and src.delimiter == "\t"
    assert df.loc[2, "borrower"] == "Société"
    p.write_bytes(b"\xef\xbb\xbffacility_id,borrower\nF1,Acme\n")
    df, src = read_tape(p)
    assert src.encoding == "utf-8-sig" and list(df.columns) == ["facility_id", "borrower"]
    assert check_csv(p).text.startswith("facility_id")


# ------------------------------------------------------------------------ unit pieces


def test_sniff_kinds():
    assert sniff(b"") == "empty"
    assert sniff(b"PK\x03\x04") == "zip"
    assert sniff(b"\xef\xbb\xbf<?xml version='1.0'?><Workbook/>") == "xml"
    assert sniff("Borrower;Société\n".encode("cp1252")) == "text"
    assert sniff(b"\xff\xfeA\x00") == "text16"


def test_column_letters_round_trip():
    for n in (1, 2, 26, 27, 52, 53, 702, 703, 16384):
        assert column_number(column_letter(n)) == n
    assert parse_range("B2:AA10") == (2, 2, 10, 27)
    assert parse_range("not a range") is None


@pytest.mark.parametrize("bound", ["A", "Z", "AZ", "BH", "ZZ", "AAA", "XFD"])
def test_column_bound_regex_matches_exactly_the_columns_up_to_it(bound):
    import re

    rx = re.compile(_le_regex(bound, "A", "Z", "A"))
    limit = column_number(bound)
    for n in {1, 2, 25, 26, 27, 51, 52, 53, 60, 701, 702, 703, 1000, 16384, limit - 1, limit,
              limit + 1}:
        if n < 1:
            continue
        assert bool(rx.fullmatch(column_letter(n))) == (n <= limit), (bound, n)


@pytest.mark.parametrize("bound", [1, 9, 10, 99, 100, 101, 100001, 199999, 200000])
def test_row_bound_regex_matches_exactly_the_rows_up_to_it(bound):
    import re

    rx = re.compile(_le_regex(str(bound), "0", "9", "1"))
    for n in {1, 2, 9, 10, 11, 99, 100, 101, 1000, 100001, 100002, 200000, 200001, 10**6,
              bound - 1, bound, bound + 1}:
        if n < 1:
            continue
        assert bool(rx.fullmatch(str(n))) == (n <= bound), (bound, n)
    assert not rx.fullmatch("0") and not rx.fullmatch("01")


def test_beyond_pattern_flags_only_references_outside_the_bounds():
    pat = _beyond_pattern(5, 100)
    assert pat.search(b'<c r="E100">') is None
    assert pat.search(b'<c r="F1">') is not None
    assert pat.search(b'<c r="A101">') is not None
    assert pat.search(b"<c r = 'XFD1'>") is not None  # spaces and single quotes too
    assert pat.search(b'<row r="5000">') is None  # row elements hold digits only


def test_scan_measures_the_real_extent(tmp_path):
    p = H.write_xlsx(tmp_path / "t.xlsx", {"Tape": H.SMALL_TAPE},
                     dimensions={"Tape": "A1:B2"})  # understated on purpose
    info = inspect_workbook(p)
    scan = scan_sheet(info, info.sheets[0])
    assert (scan.max_row, scan.max_col, scan.fast) == (4, 5, True)
    assert scan.max_row >= 3 and scan.cells == 15


def test_check_file_reads_by_content_not_extension(tmp_path):
    p = H.make_small(tmp_path / "tape.csv")
    fc = check_file(p)
    assert fc.kind == "xlsx" and "despite its name" in fc.notes[0]
    q = tmp_path / "tape.xlsx"
    q.write_text("facility_id,borrower\nF1,Acme\n")
    df, src = read_tape(q)
    assert src.kind == "csv" and df.loc[2, "borrower"] == "Acme"
    assert any("is a text (CSV) file despite its name" in i.message for i in src.issues)


def test_inexact_bounds_above_the_cell_limit_go_to_the_streaming_reader(tmp_path):
    """With an understated dimension the row bound doubles past the last row (1,001 ->
    1,024): above max_cells that bound is only an upper bound, so openpyxl counts the
    real cells instead of the file being refused."""
    rows = [[f"h{j}" for j in range(30)]] + [[i * 30 + j for j in range(30)]
                                             for i in range(1000)]
    p = H.write_xlsx(tmp_path / "t.xlsx", {"Tape": rows}, dimensions={"Tape": "A1"})
    info = inspect_workbook(p)
    scan = scan_sheet(info, info.sheets[0], TapeLimits(max_cells=30_100))
    assert (scan.max_row, scan.max_col, scan.exact, scan.fast) == (1024, 30, False, False)
    df, src = read_tape(p, limits=TapeLimits(max_cells=30_100))  # 1,001 x 30 = 30,030 cells
    assert src.engine == "openpyxl" and df.shape == (1000, 30)
    assert df.iloc[-1, -1] == 999 * 30 + 29
    refused(p, "too_many_cells", "holds more than 30,000 cells",
            limits=TapeLimits(max_cells=30_000))
    df, src = read_tape(p)  # within the default limits the fast reader is used
    assert src.engine == "calamine" and df.shape == (1000, 30)
