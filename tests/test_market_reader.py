"""Tests for gpucredit.tape.market_reader and market_schema: good files read, hostile and
malformed files refused with the file, row and column named."""

from __future__ import annotations

import datetime as dt

import openpyxl
import pytest

from gpucredit.tape.guards import TapeError
from gpucredit.tape.market_reader import MarketFileError, read_market
from gpucredit.tape.market_schema import COLUMNS, match_market_header

HEAD = "Series,Date,GPU model,Value,Kind,Tenor (months),Condition,Source\n"
GOOD = HEAD + (
    "rent,2026-01-05,H100,2.31,spot,,,idx\n"
    "rent,2026-01-12,H100,2.29,spot,,,idx\n"
    "rent,2026-01-05,H100,2.60,contract,,,idx\n"
    "forward,2026-01-05,H100,2.20,,3,,curve\n"
    "forward,2026-01-05,H100,2.00,,12,,curve\n"
    "used_price,2026-01-05,H100,24000,,,used,sale\n"
    "used_price,2026-01-05,H100,26000,,,used,sale\n"
    "btc,2026-01-05,,90000,,,,exchange\n"
    "hashprice,2026-01-05,,45.5,,,,pool\n")


def _csv(tmp_path, text, name="market.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def _refused(tmp_path, text) -> MarketFileError:
    with pytest.raises(MarketFileError) as e:
        read_market(_csv(tmp_path, text))
    return e.value


def test_good_csv_reads_every_series(tmp_path):
    m = read_market(_csv(tmp_path, GOOD))
    assert m.counts() == {"rent": 3, "forward": 2, "used_price": 2, "btc": 1, "hashprice": 1}
    assert m.rents["rent"].tolist() == [2.31, 2.29, 2.60]
    assert m.rents["row"].tolist() == [2, 3, 4]
    assert m.forwards["tenor_months"].tolist() == [3.0, 12.0]
    assert m.forwards["as_of"].iloc[0] == dt.datetime(2026, 1, 5)
    assert m.btc["price"].iloc[0] == 90000 and m.hashprice["hashprice"].iloc[0] == 45.5
    assert m.used_prices["condition"].tolist() == ["used", "used"]


def test_market_sheet_of_a_workbook(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.title = "Tape"
    ws = wb.create_sheet("Market")
    ws.append(["Market data"])  # a title above the header
    ws.append(["Series", "Date", "GPU model", "Value", "Kind", "Source"])
    ws.append(["rent", dt.datetime(2026, 1, 5), "H100", 2.31, "Spot", "idx"])
    ws.append(["rent", dt.datetime(2026, 2, 5), "H100", "2.2x", "spot", "idx"])
    p = tmp_path / "m.xlsx"
    wb.save(p)
    with pytest.raises(MarketFileError) as e:
        read_market(p)
    assert "m.xlsx, sheet 'Market', row 4, column D (Value): '2.2x' is not a number" in str(e.value)
    ws["D4"] = 2.2
    wb.save(p)
    m = read_market(p)
    assert m.rents["rent"].tolist() == [2.31, 2.2] and m.rents["kind"].tolist() == ["spot"] * 2


def test_wrong_columns(tmp_path):
    err = _refused(tmp_path, "Date,Model,Price\n2026-01-05,H100,2.3\n")
    assert "no 'Series' column" in str(err) and "no 'Source' column" in str(err)


def test_duplicate_columns(tmp_path):
    err = _refused(tmp_path, "Series,Date,Value,Price,Source\nbtc,2026-01-05,1,2,x\n")
    assert "columns C and D both hold Value" in str(err)


def test_text_in_numbers_and_dates(tmp_path):
    err = _refused(tmp_path, HEAD + "rent,2026-01-05,H100,two,spot,,,x\n"
                                    "rent,5 Jan,H100,2.1,spot,,,x\n")
    text = str(err)
    assert "market.csv, row 2, column D (Value): 'two' is not a number" in text
    assert "row 3, column B (Date): '5 Jan' is not a date" in text


def test_bad_choices_and_ranges(tmp_path):
    err = _refused(tmp_path, HEAD + "rnt,2026-01-05,H100,2.1,spot,,,x\n"
                                    "rent,2026-01-05,H100,-2.1,spot,,,x\n"
                                    "rent,2026-01-06,H100,2.1,lease,,,x\n")
    text = str(err)
    assert "row 2, column A (Series): 'rnt' is not one of rent" in text
    assert "row 3, column D (Value): Value must be > 0, got -2.1" in text
    assert "row 4, column E (Kind): 'lease' is not one of spot, contract" in text


def test_missing_needed_cells(tmp_path):
    err = _refused(tmp_path, HEAD + "rent,2026-01-05,,2.1,,,,\nforward,2026-01-05,H100,2,,,,c\n")
    text = str(err)
    assert "row 2, column C (GPU model): a rent row needs GPU model" in text
    assert "row 2, column E (Kind): a rent row needs Kind" in text
    assert "row 2, column H (Source): a rent row needs Source" in text
    assert "row 3, column F (Tenor (months)): a forward row needs Tenor (months)" in text


def test_unsorted_dates(tmp_path):
    err = _refused(tmp_path, HEAD + "rent,2026-02-05,H100,2.1,spot,,,x\n"
                                    "rent,2026-01-05,H100,2.2,spot,,,x\n"
                                    "rent,2026-01-01,A100,1.2,spot,,,x\n")
    assert ("row 3, column B (Date): 2026-01-05 comes after 2026-02-05 in the rent series "
            "(H100, spot): sort the rows by date") in str(err)
    assert "row 4" not in str(err)  # A100 is its own series


def test_duplicate_dates(tmp_path):
    err = _refused(tmp_path, HEAD + "btc,2026-01-05,,9e4,,,,x\nbtc,2026-01-05,,9.1e4,,,,x\n")
    assert "row 3, column B (Date): 2026-01-05 appears twice in the btc series" in str(err)


def test_same_day_used_sales_are_fine_but_tenors_must_rise(tmp_path):
    err = _refused(tmp_path, HEAD + "forward,2026-01-05,H100,2.2,,6,,c\n"
                                    "forward,2026-01-05,H100,2.1,,6,,c\n")
    assert "6 appears twice in the forward series (H100, the curve as of 2026-01-05)" in str(err)


def test_no_rows(tmp_path):
    assert "no observations" in str(_refused(tmp_path, HEAD))


@pytest.mark.parametrize(("content", "words"), [
    (b"%PDF-1.7 rest", "not a spreadsheet"),
    (b"PK\x03\x04 truncated zip", "damaged"),
    (bytes.fromhex("d0cf11e0a1b11ae1") + "EncryptedPackage".encode("utf-16-le"),
     "password-protected"),
])
def test_hostile_files_refused_by_the_tape_guards(tmp_path, content, words):
    p = tmp_path / "market.xlsx"
    p.write_bytes(content)
    with pytest.raises(TapeError, match=words):
        read_market(p)


def test_every_column_matches_its_own_label():
    assert all(match_market_header(c.label) == c.name for c in COLUMNS)


def test_market_template_round_trips_the_bundled_data(tmp_path):
    import pandas as pd

    from gpucredit.excel.market_template import bundled_market_rows, write_market_template
    from gpucredit.market_cli import demo_market_path

    csv = read_market(demo_market_path())
    p = write_market_template(tmp_path / "market.xlsx", bundled_market_rows())
    book = read_market(p)
    assert book.sheet == "Market" and book.counts() == csv.counts()
    pd.testing.assert_frame_equal(book.rents.drop(columns="row"),
                                  csv.rents.drop(columns="row"))
    blank = write_market_template(tmp_path / "blank.xlsx")
    with pytest.raises(MarketFileError, match="no observations"):
        read_market(blank)


def test_docs_list_the_declared_columns():
    from pathlib import Path

    from gpucredit.tape.market_schema import columns_markdown

    text = (Path(__file__).parents[1] / "docs" / "market.md").read_text()
    block = text.split("a test keeps them equal -->\n", 1)[1].split("\n<!-- end columns")[0]
    assert block == columns_markdown()


def test_blank_series_is_refused_not_dropped(tmp_path):
    err = _refused(tmp_path, HEAD + ",2026-01-05,H100,2.1,spot,,,x\n")
    assert "row 2, column A (Series): Series is blank" in str(err)
