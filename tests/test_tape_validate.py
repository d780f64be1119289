"""Validation (gpucredit.tape.validate and .convert): every rule, with its message.

Each test writes a small CSV tape whose column order is fixed (BASE), so that the column
letters in the expected messages are those an analyst would see opening the file.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests import hostile as H

from gpucredit.tape import report_to_frame, sanitise_text, validate_file, write_text_cell
from gpucredit.tape.convert import coerce, coerce_value, parse_date_text, parse_number_text
from gpucredit.tape.guards import column_letter
from gpucredit.tape.schema import ASSUMPTIONS, COLUMNS, RULES, column
from gpucredit.tape.validate import IMPLEMENTED_RULES, empty_frame, validate

BASE = {
    "facility_id": "F1", "borrower": "Acme Compute", "borrower_type": "neocloud",
    "gpu_model": "H100", "gpu_count": "1024", "delivery_date": "2024-06-30",
    "gpu_unit_cost": "30000", "commitment": "20000000", "origination_date": "2024-07-01",
    "maturity_date": "2029-07-01", "rate_type": "fixed", "fixed_rate": "9%",
    "amortization": "annuity",
}  # columns A..M; extra columns follow from N


def tape(tmp_path, *rows: dict, headers: dict | None = None, drop=(), strict=False,
         valuation_date=None, name="tape.csv"):
    """Write rows (BASE updated by each dict) as a CSV and validate it."""
    keys = [k for k in BASE if k not in drop]
    for r in rows:
        keys += [k for k in r if k not in keys and k not in drop]
    headers = headers or {}
    lines = [",".join(headers.get(k, k) for k in keys)]
    for i, r in enumerate(rows, start=1):
        full = {**BASE, "facility_id": f"F{i}", **r}
        lines.append(",".join(_csv(full.get(k, "")) for k in keys))
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = H.sha256(p)
    report, good = validate_file(p, strict=strict, valuation_date=valuation_date)
    assert H.sha256(p) == before  # the input is never modified
    return report, good


def _csv(v) -> str:
    s = "" if v is None else str(v)
    return f'"{s}"' if "," in s else s


def messages(report, severity=None) -> list[str]:
    return [i.message for i in report.issues if severity is None or i.severity == severity]


# ------------------------------------------------------------------------- a good tape


def test_valid_row_gets_every_default(tmp_path):
    report, good = tape(tmp_path, {})
    assert report.exit_status == 0 and report.issues == []
    assert report.accepted == ["F1"] and report.rejected == []
    row = good.loc[2]
    assert list(good.columns) == [c.name for c in COLUMNS]
    for c in COLUMNS:
        if c.name in BASE or c.default is None:
            continue
        assert row[c.name] == c.default, c.name
    assert row["fixed_rate"] == 0.09 and row["gpu_count"] == 1024
    assert row["drawn_amount"] == 20_000_000 == row["borrower_debt"]  # default_from chain
    assert math.isnan(row["merchant_rent"]) and math.isnan(row["kw_per_gpu"])
    assert pd.isna(row["residual_curve"]) and pd.isna(row["spread"])
    assert row["maturity_date"] == pd.Timestamp("2029-07-01")
    assert good.dtypes["gpu_count"] == np.int64 and good.dtypes["periods_per_year"] == np.int64
    assert str(good.dtypes["maturity_date"]) == "datetime64[ns]"
    assert good.dtypes["ig_contracts"] == np.dtype(bool)
    assert report.summary() == "tape.csv: 1 facilities read, 1 accepted, 0 rejected " \
                               "(0 errors, 0 warnings)"


def test_typed_frame_matches_empty_frame(tmp_path):
    _, good = tape(tmp_path, {})
    assert (good.dtypes == empty_frame().dtypes).all()


def test_bad_row_does_not_stop_good_rows(tmp_path):
    report, good = tape(tmp_path, {}, {"utilization": "120%"}, {"gpu_model": "H100 SXM"})
    assert report.exit_status == 1
    assert report.rejected == ["F2"] and report.rejected_rows == [3]
    assert list(good["facility_id"]) == ["F1", "F3"] and list(good.index) == [2, 4]
    assert good.loc[4, "gpu_model"] == "H100"  # a synonym, normalised


def test_strict_stops_everything(tmp_path):
    report, good = tape(tmp_path, {}, {"utilization": "120%"}, strict=True)
    assert report.exit_status == 2 and len(good) == 0 and not report.usable
    assert report.summary().endswith("stopped: --strict and errors found")


def test_every_problem_of_a_row_in_one_pass(tmp_path):
    report, _ = tape(tmp_path, {"gpu_count": "many", "utilization": "2", "gpu_model": "V100",
                                "borrower": ""})
    assert [i.column for i in report.errors] == ["B", "D", "E", "N"]
    assert all(i.row == 2 and i.facility_id == "F1" for i in report.errors)


def test_blank_rows_and_rows_of_spaces_are_skipped(tmp_path):
    p = tmp_path / "t.csv"
    keys = list(BASE)
    p.write_text(",".join(keys) + "\n" + ",".join(BASE.values()) + "\n" + " , ,  ,"
                 + "," * (len(keys) - 4) + "\n\n" + ",".join(BASE.values()).replace("F1", "F2")
                 + "\n")
    report, good = validate_file(p)
    assert report.issues == [] and list(good.index) == [2, 5] and report.rows_read == 2


# ----------------------------------------------------------------------------- headers


def test_missing_required_column_names_the_closest_header(tmp_path):
    report, good = tape(tmp_path, {"GPU cnt": "1024"}, drop=("gpu_count",))
    assert report.exit_status == 2 and len(good) == 0
    assert report.file_errors[0].message == (
        'the required column GPUs is missing; the closest header found is "GPU cnt" in '
        'column M: rename it "GPUs"')
    assert report.rejected == ["F1"]


def test_missing_required_column_without_a_close_header(tmp_path):
    report, _ = tape(tmp_path, {}, drop=("borrower_type",))
    assert report.file_errors[0].message == (
        'the required column Borrower type is missing; add a column headed "Borrower type" '
        "(or borrower_type)")


def test_unknown_column_is_a_warning(tmp_path):
    report, good = tape(tmp_path, {"Utilisaton": "0.8", "Colour": "red"})
    assert messages(report, "warning") == [
        'Column N (Utilisaton): this column is not part of the loan-tape schema and was ignored'
        ' (did you mean "Utilization"?)',
        "Column O (Colour): this column is not part of the loan-tape schema and was ignored"]
    assert report.exit_status == 0 and "Colour" not in good.columns


def test_header_held_twice_is_a_file_error(tmp_path):
    report, _ = tape(tmp_path, {"utilization": "0.8", "Utilisation": "0.9"})
    assert report.exit_status == 2
    assert report.file_errors[0].message == (
        "Column O (Utilisation): columns N and O both hold Utilization: keep one and delete "
        "or rename the other")


# ------------------------------------------------------------------------------- cells


@pytest.mark.parametrize(("change", "expected"), [
    ({"borrower": ""},
     "Row 2, column B (borrower): this required cell is blank: enter the borrower's name"),
    ({"gpu_count": "abc"},
     'Row 2, column E (gpu_count): "abc" is not a number: enter the number of GPUs, a whole '
     "number, between 1 and 5,000,000"),
    ({"gpu_count": "10.5"},
     "Row 2, column E (gpu_count): 10.5 is not a whole number: enter the number of GPUs, a "
     "whole number, between 1 and 5,000,000"),
    ({"gpu_count": "0"},
     "Row 2, column E (gpu_count): 0 is below 1: enter the number of GPUs, a whole number, "
     "between 1 and 5,000,000"),
    ({"gpu_unit_cost": "0"},
     "Row 2, column G (gpu_unit_cost): $0 must be more than $0: enter the cost of one GPU in "
     "USD (not the fleet's total), more than $0, at most $500,000"),
    ({"gpu_unit_cost": "491520000"},
     "Row 2, column G (gpu_unit_cost): $491,520,000 is above $500,000: enter the cost of one "
     "GPU in USD (not the fleet's total), more than $0, at most $500,000"),
    ({"utilization": "120%"},
     "Row 2, column N (utilization): 120% is above 100%: enter the share of GPUs rented, "
     "between 0% and 100%"),
    ({"utilization": "85"},
     "Row 2, column N (utilization): 8,500% is above 100%: enter the share of GPUs rented, "
     "between 0% and 100% (85% is entered as 85% or 0.85)"),
    ({"utilization": "0,85"},
     'Row 2, column N (utilization): "0,85" uses a decimal comma: enter 0.85'),
    ({"utilization": "-5%"},
     "Row 2, column N (utilization): -5% is below 0%: enter the share of GPUs rented, between "
     "0% and 100%"),
    ({"pue": "0.9"},
     "Row 2, column N (pue): 0.9x is below 1x: enter the site's PUE, between 1x and 3x"),
    ({"power_price": "8%"},
     'Row 2, column N (power_price): "8%" is a percentage but Power price is in USD/kWh: '
     "enter the electricity price per kWh, between $0 and $1"),
    ({"commitment": "#N/A"},
     "Row 2, column H (commitment): #N/A is an Excel error, not a value: fix the formula that "
     "fills this cell"),
    ({"gpu_model": "H10"},
     'Row 2, column D (gpu_model): "H10" is not allowed: enter the GPU model, one of A100, '
     'H100, H200, B200, GB200 (did you mean "H100"?)'),
    ({"borrower_type": "bank"},
     'Row 2, column C (borrower_type): "bank" is not allowed: enter the borrower\'s type, one '
     "of neocloud, miner, other"),
    ({"periods_per_year": "3"},
     "Row 2, column N (periods_per_year): 3 is not allowed: enter the payment periods a year, "
     "one of 1, 2, 4, 12"),
    ({"delivery_date": "06/07/2024"},
     'Row 2, column F (delivery_date): "06/07/2024" is ambiguous (6 July or 7 June 2024?): '
     "enter it as 2024-07-06 or 2024-06-07"),
    ({"delivery_date": "2024-02-30"},
     'Row 2, column F (delivery_date): "2024-02-30" is not a valid date: enter a date such as '
     "2024-06-30"),
    ({"delivery_date": "2024"},
     "Row 2, column F (delivery_date): 2024 is not a date: as an Excel serial number it would "
     "be 1905-07-16; enter the date the GPUs were delivered, a date such as 2024-06-30"),
    ({"delivery_date": "1999-12-31"},
     "Row 2, column F (delivery_date): 1999-12-31 is before 2000-01-01: enter the date the "
     "GPUs were delivered, a date between 2000-01-01 and 2100-12-31"),
    ({"ig_contracts": "maybe"},
     'Row 2, column N (ig_contracts): "maybe" is not TRUE or FALSE: enter TRUE if the '
     "contract counterparties are investment grade"),
])
def test_cell_messages(tmp_path, change, expected):
    report, good = tape(tmp_path, change)
    assert messages(report) == [expected]
    assert report.errors[0].severity == "error" and report.rejected == ["F1"]
    assert len(good) == 0 and report.exit_status == 2


@pytest.mark.parametrize(("change", "name", "value"), [
    ({"utilization": "0.85"}, "utilization", 0.85),
    ({"utilization": "85%"}, "utilization", 0.85),
    ({"spread": "625bp", "rate_type": "floating", "fixed_rate": ""}, "spread", 0.0625),
    ({"commitment": "$20,000,000"}, "commitment", 20_000_000.0),
    ({"other_opex": "(0)"}, "other_opex", 0.0),
    ({"pue": "1.25x"}, "pue", 1.25),
    ({"quoted_spread": "450bp"}, "quoted_spread", 450.0),
    ({"gpu_model": "h200"}, "gpu_model", "H200"),
    ({"gpu_model": "GB200 NVL72"}, "gpu_model", "GB200"),
    ({"amortization": "Straight line"}, "amortization", "straight_line"),
    ({"amortization": "STRAIGHT-LINE"}, "amortization", "straight_line"),
    ({"rate_type": "SOFR", "spread": "6%", "fixed_rate": ""}, "rate_type", "floating"),
    ({"periods_per_year": "quarterly"}, "periods_per_year", 4),
    ({"periods_per_year": "12"}, "periods_per_year", 12),
    ({"delivery_date": "45473"}, "delivery_date", pd.Timestamp("2024-06-30")),
    ({"delivery_date": "30 Jun 2024"}, "delivery_date", pd.Timestamp("2024-06-30")),
    ({"delivery_date": "June 30, 2024"}, "delivery_date", pd.Timestamp("2024-06-30")),
    ({"delivery_date": "30/06/2024"}, "delivery_date", pd.Timestamp("2024-06-30")),
    ({"delivery_date": "2024/06/30"}, "delivery_date", pd.Timestamp("2024-06-30")),
    ({"delivery_date": "2024-06-30T00:00:00"}, "delivery_date", pd.Timestamp("2024-06-30")),
    ({"ig_contracts": "yes"}, "ig_contracts", True),
    ({"ig_contracts": "FALSE"}, "ig_contracts", False),
    ({"borrower": "=HYPERLINK(\"http://evil\")"}, "borrower", '=HYPERLINK("http://evil")'),
    ({"facility_id": " 1001 "}, "facility_id", "1001"),
])
def test_accepted_spellings(tmp_path, change, name, value):
    report, good = tape(tmp_path, change)
    assert report.errors == [], messages(report)
    assert good.iloc[0][name] == value


# ---------------------------------------------------------------------- the cross rules

RULE_CASES = {
    "duplicate_id": (
        [{"facility_id": "DUP"}, {}, {"facility_id": "DUP"}],
        'Row 2, column A (facility_id): the facility id "DUP" also appears on row 4: give each '
        "facility its own id"),
    "maturity_after_origination": (
        [{"maturity_date": "2024-01-01"}],
        "Row 2, column J (maturity_date): 2024-01-01 is not after the origination date "
        "2024-07-01 (column I): the loan must mature after its first draw"),
    "drawn_within_commitment": (
        [{"drawn_amount": "25000000"}],
        "Row 2, column N (drawn_amount): $25,000,000 is more than the commitment $20,000,000 "
        "(column H): the drawn amount cannot exceed the commitment"),
    "availability_before_maturity": (
        [{"drawn_amount": "15000000", "availability_end_date": "2029-12-31"}],
        "Row 2, column O (availability_end_date): 2029-12-31 is after the maturity date "
        "2029-07-01 (column J): the commitment cannot be drawn after the loan is repaid"),
    "draws_need_drawn_fleet": (
        [{"drawn_amount": "0", "availability_end_date": "2027-06-30"}],
        "Row 2, column N (drawn_amount): nothing is drawn but $20,000,000 is available until "
        "2027-06-30 (column O): the draws buy GPUs at the drawn amount per GPU; enter the "
        "amount drawn today"),
    "draws_on_scheduled_loan": (
        [{"drawn_amount": "15000000", "availability_end_date": "2027-06-30",
          "cash_sweep": "50%"}],
        "Row 2, column O (availability_end_date): undrawn commitment is available until "
        "2027-06-30 but the loan has a cash sweep of 50%: delayed draws are modelled on an "
        "annuity, straight-line or bullet loan without a cash sweep; leave the availability "
        "end blank or change the repayment terms"),
    "fixed_needs_rate": (
        [{"fixed_rate": ""}],
        "Row 2, column L (fixed_rate): this cell is blank but the loan is fixed-rate (column K): "
        "enter the annual fixed rate"),
    "floating_needs_spread": (
        [{"rate_type": "floating", "fixed_rate": ""}],
        "Row 2 (Spread over base): this cell is blank but the loan is floating-rate (column K): "
        "enter the margin over the base rate"),
    "contract_needs_rate": (
        [{"contracted_share": "80%", "contract_end_date": "2028-12-31"}],
        "Row 2 (Contract rate): this cell is blank but 80% of the GPUs are contracted "
        "(column N): enter the contract rent per GPU-hour"),
    "contract_needs_end": (
        [{"contracted_share": "80%", "contract_rate": "2.65"}],
        "Row 2 (Contract end date): this cell is blank but 80% of the GPUs are contracted "
        "(column N): enter the contract's end date"),
    "contract_end_after_origination": (
        [{"contracted_share": "0.5", "contract_rate": "2.65",
          "contract_end_date": "2024-03-31"}],
        "Row 2, column P (contract_end_date): 2024-03-31 is before the origination date "
        "2024-07-01 (column I): a contract that ended before the loan cannot back it; set the "
        "contracted share to 0% or correct the date"),
    "default_below_lockup": (
        [{"dscr_default": "1.3"}],
        "Row 2, column N (dscr_default): 1.3x is above the lock-up DSCR 1.2x (its default) "
        "(DSCR lock-up): the default covenant is the lower trigger"),
    "spread_on_fixed": (
        [{"spread": "6%"}],
        "Row 2, column N (spread): a spread of 6% on a fixed-rate loan (column K) is ignored: "
        "check the rate type"),
    "sculpt_below_lockup": (
        [{"amortization": "sculpted", "sculpt_dscr": "1.15"}],
        "Row 2, column N (sculpt_dscr): sculpting to 1.15x, below the lock-up DSCR 1.2x "
        "(DSCR lock-up), locks up every period"),
    "interest_only_covers_tenor": (
        [{"interest_only_periods": "20"}],
        "Row 2, column N (interest_only_periods): 20 interest-only periods cover the whole "
        "tenor of 20 periods: the loan is repaid as a bullet"),
    "delivery_after_maturity": (
        [{"delivery_date": "2030-01-01"}],
        "Row 2, column F (delivery_date): 2030-01-01 is after the maturity date 2029-07-01 "
        "(column J): the GPUs arrive after the loan is repaid"),
    "loan_above_cost": (
        [{"commitment": "40000000"}],
        "Row 2, column H (commitment): $40,000,000 is more than the GPUs' cost $30,720,000 "
        "(GPUs x cost per GPU): loan-to-cost 130%; check the cost per GPU"),
    "quoted_spread_in_bp": (
        [{"quoted_spread": "0.045"}],
        "Row 2, column N (quoted_spread): 0.045bp looks like a decimal: the quoted spread is in "
        "basis points, 450 for 4.50%"),
    "merton_inputs_pair": (
        [{"equity_value": "40000000000"}],
        "Row 2 (Equity volatility): this cell is blank but Equity value (column N) is given: "
        "the Merton model needs both, and is skipped for this facility"),
    "matured_before_valuation": (
        [{"maturity_date": "2026-06-30"}],
        "Row 2, column J (maturity_date): 2026-06-30 is on or before the valuation date "
        "2026-06-30: the facility has matured and has nothing left to recalculate"),
}


def test_every_rule_has_a_case_and_an_implementation():
    ids = {r.id for r in RULES}
    assert set(RULE_CASES) == ids == IMPLEMENTED_RULES


@pytest.mark.parametrize("rule_id", sorted(RULE_CASES))
def test_rule(tmp_path, rule_id):
    rows, expected = RULE_CASES[rule_id]
    rule = next(r for r in RULES if r.id == rule_id)
    report, good = tape(tmp_path, *rows, valuation_date=dt.date(2026, 6, 30))
    hits = [i for i in report.issues if i.check == rule_id]
    assert hits and hits[0].message == expected
    assert all(i.severity == rule.severity for i in hits)
    if rule.severity == "error":
        assert hits[0].facility_id in report.rejected
        assert hits[0].row not in good.index
    else:
        assert report.rejected == [] and len(good) == len(rows)
        assert report.exit_status == 0


def test_delayed_draw_rules_look_only_at_availability_still_running(tmp_path):
    over = {"drawn_amount": "0", "availability_end_date": "2026-06-30", "cash_sweep": "50%"}
    sculpted = {"drawn_amount": "15000000", "availability_end_date": "2027-06-30",
                "amortization": "sculpted"}
    fully_drawn = {"availability_end_date": "2027-06-30", "cash_sweep": "50%"}
    report, good = tape(tmp_path, over, sculpted, fully_drawn,
                        valuation_date=dt.date(2026, 6, 30))
    hits = [i for i in report.issues if i.check.startswith("draws_")]
    assert [(i.row, i.check) for i in hits] == [(3, "draws_on_scheduled_loan")]
    assert hits[0].problem == (
        "undrawn commitment is available until 2027-06-30 but the loan is sculpted: delayed "
        "draws are modelled on an annuity, straight-line or bullet loan without a cash "
        "sweep; leave the availability end blank or change the repayment terms")
    assert list(good["facility_id"]) == ["F1", "F3"]


def test_duplicates_reject_every_copy(tmp_path):
    report, good = tape(tmp_path, {"facility_id": "X"}, {"facility_id": "X"},
                        {"facility_id": "X"}, {})
    dup = [i for i in report.issues if i.check == "duplicate_id"]
    assert [i.row for i in dup] == [2, 3, 4]
    assert dup[1].problem.endswith("also appears on rows 2, 4: give each facility its own id")
    assert report.rejected == ["X", "X", "X"] and list(good["facility_id"]) == ["F4"]


def test_lockup_below_default_points_at_the_lockup(tmp_path):
    report, _ = tape(tmp_path, {"dscr_lockup": "1.0"})
    assert messages(report) == [
        "Row 2, column N (dscr_lockup): 1x is below the default DSCR 1.05x (its default when "
        "blank) (DSCR default): the lock-up covenant is the higher trigger; enter the default "
        "DSCR too"]


def test_rules_skip_rows_whose_inputs_are_wrong(tmp_path):
    report, _ = tape(tmp_path, {"maturity_date": "not a date"})
    assert [i.check for i in report.issues] == ["type"]


def test_valuation_date_from_the_assumptions(tmp_path):
    rows = [list(BASE), list(BASE.values())]
    p = H.write_xlsx(tmp_path / "t.xlsx", {
        "Tape": rows, "Assumptions": [["Valuation date", dt.date(2030, 1, 1)]]})
    report, good = validate_file(p)
    assert [i.check for i in report.issues] == ["matured_before_valuation"]
    assert report.assumptions["valuation_date"] == dt.date(2030, 1, 1)
    # the only facility has matured: nothing is left to compute
    assert report.exit_status == 2 and len(good) == 0


# ------------------------------------------------------------------------- assumptions


def test_assumptions_are_typed_and_defaulted(tmp_path):
    rows = [list(BASE), list(BASE.values())]
    p = H.write_xlsx(tmp_path / "t.xlsx", {
        "Tape": rows,
        "Assumptions": [["BTC volatility", "60%"], ["Monte Carlo paths", 5000],
                        ["merchant_rent_h100", 2.10], ["Copula", "Student t"]]})
    report, good = validate_file(p)
    a = report.assumptions
    assert a["btc_vol"] == 0.6 and a["mc_paths"] == 5000 and a["copula"] == "student_t"
    for spec in ASSUMPTIONS:
        if spec.name not in ("btc_vol", "mc_paths", "merchant_rent_h100", "copula"):
            assert a[spec.name] == spec.default, spec.name
    assert good.loc[2, "merchant_rent"] == 2.10  # the blank took the Assumptions rent


def test_bad_assumption_makes_the_tape_unusable(tmp_path):
    rows = [list(BASE), list(BASE.values())]
    p = H.write_xlsx(tmp_path / "t.xlsx", {"Tape": rows,
                                            "Assumptions": [["BTC price", "n/a"]]})
    report, good = validate_file(p)
    assert report.exit_status == 2 and len(good) == 0
    assert report.file_errors[0].message == (
        'Assumptions sheet, cell B1 (BTC price): "n/a" is not a number: enter the BTC price, '
        "more than $0, at most $100,000,000")


# ----------------------------------------------------------------------- output helpers


def test_report_to_frame(tmp_path):
    report, _ = tape(tmp_path, {"utilization": "120%", "borrower": "=cmd|' /C calc'!A0"})
    frame = report_to_frame(report)
    assert list(frame.columns) == ["Severity", "Sheet", "Row", "Column", "Header", "Facility",
                                   "Value", "Problem", "Message"]
    rec = frame.iloc[0].to_dict()
    assert rec["Row"] == 2 and rec["Column"] == "N" and rec["Facility"] == "F1"
    assert rec["Value"] == "120%" and rec["Severity"] == "error"
    assert rec["Message"] == report.issues[0].message


def test_formula_like_text_stays_text_when_written(tmp_path):
    assert sanitise_text("=1+1") == "'=1+1"
    assert sanitise_text("-5") == "'-5" and sanitise_text("@x") == "'@x"
    assert sanitise_text("Acme") == "Acme" and sanitise_text(None) is None
    wb = openpyxl.Workbook()
    ws = wb.active
    write_text_cell(ws["A1"], "=HYPERLINK(\"http://evil\",\"x\")")
    write_text_cell(ws["A2"], "plain")
    p = tmp_path / "out.xlsx"
    wb.save(p)
    back = openpyxl.load_workbook(p)
    assert back.active["A1"].data_type == "s"
    assert back.active["A1"].value == "=HYPERLINK(\"http://evil\",\"x\")"
    from python_calamine import CalamineWorkbook

    rows = CalamineWorkbook.from_path(p).get_sheet_by_index(0).to_python()
    assert rows[0][0] == "=HYPERLINK(\"http://evil\",\"x\")"  # text, not a computed value


def test_validate_a_frame_built_by_hand():
    df = pd.DataFrame([{**BASE, "Utilization": "0.9"}])
    report = validate(df)
    assert report.exit_status == 0 and report.good.loc[2, "utilization"] == 0.9


def test_unreadable_file_gives_a_report(tmp_path):
    p = H.make_pdf(tmp_path / "tape.xlsx")
    report, good = validate_file(p)
    assert report.exit_status == 2 and report.rows_read == 0 and len(good) == 0
    assert report.issues[0].message.startswith("tape.xlsx is not a spreadsheet")
    assert report.summary().startswith("tape.xlsx: unusable - tape.xlsx is not a spreadsheet")
    assert list(report_to_frame(report)["Severity"]) == ["error"]


# ------------------------------------------------------------------ properties of coercion


@settings(max_examples=80, deadline=None)
@given(st.floats(0, 1, allow_nan=False))
def test_percent_text_and_decimal_agree(x):
    f = column("utilization")
    as_text = f"{x * 100:.10f}%"
    got = coerce(f, pd.Series([x, as_text], dtype=object)).values
    assert got.iloc[0] == x
    assert got.iloc[1] == pytest.approx(x, abs=1e-12)


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 10**12))
def test_thousands_separators_and_dollars(n):
    f = column("commitment")
    for text in (f"{n:,}", f"${n:,}", f"{n}", f"USD {n:,}"):
        assert parse_number_text(text, f) == (float(n), None)


@settings(max_examples=80, deadline=None)
@given(st.dates(dt.date(2000, 1, 1), dt.date(2100, 12, 31)))
def test_every_date_form_gives_the_same_date(d):
    f = column("maturity_date")
    serial = (d - dt.date(1899, 12, 30)).days
    raw = [d, dt.datetime.combine(d, dt.time(13, 5)), serial, float(serial) + 0.25,
           d.isoformat(), d.strftime("%d %b %Y"), str(serial)]
    got = coerce(f, pd.Series(raw, dtype=object))
    assert got.problems == {}
    assert all(v.date() == d for v in got.values)
    if d.day > 12:
        assert parse_date_text(d.strftime("%d/%m/%Y")) == (d, None)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([c for c in COLUMNS if c.type == "float" and c.min is not None
                        and c.max is not None]), st.floats(-1e13, 1e13, allow_nan=False))
def test_range_check_agrees_with_the_bounds(c, x):
    got = coerce(c, pd.Series([x], dtype=object))
    lo_ok = x > c.min if c.min_open else x >= c.min
    hi_ok = x < c.max if c.max_open else x <= c.max
    assert (0 in got.problems) == (not (lo_ok and hi_ok))


def test_coerce_value_for_assumptions():
    a = {x.name: x for x in ASSUMPTIONS}
    assert coerce_value(a["valuation_date"], "2026-06-30") == (dt.date(2026, 6, 30), None)
    assert coerce_value(a["mc_seed"], 42.0) == (42, None)
    assert coerce_value(a["rho"], None) == (None, None)
    assert coerce_value(a["rho"], 1.5)[1] == (
        "1.5 is above 1: enter the BTC/rent correlation, between -1 and 1")


def test_issue_says_which_check_failed(tmp_path):
    report, _ = tape(tmp_path, {"gpu_count": "x", "utilization": "2", "gpu_model": "V100",
                                "borrower": "", "delivery_date": "1999-01-01"})
    assert {i.column: i.check for i in report.issues} == {
        "B": "required", "D": "choice", "E": "type", "F": "range", "N": "range"}


# --------------------------------------------------------------------------- issue 13


def _issue13_tape(tmp_path, cells: dict, n: int = 4, name: str = "t.xlsx"):
    """``n`` valid facilities with ``cells`` {(row, column name): value} planted."""
    rows = [list(r) for r in H.full_tape(n)]
    names = [c.name for c in COLUMNS]
    for (row, col), value in cells.items():
        rows[row - 1][names.index(col)] = value
    path = H.write_xlsx(tmp_path / name, {"Tape": rows, "Assumptions": [
        ["Assumption", "Value"], ["Valuation date", dt.date(2026, 6, 30)]]})
    digest = H.sha256(path)
    report, good = validate_file(path)
    assert H.sha256(path) == digest
    return report, good, report_to_frame(report)


@pytest.mark.parametrize("column_name", ["facility_id", "borrower"])
@pytest.mark.parametrize("value, words", [
    (H.ExcelError("#VALUE!"), "holds the Excel error #VALUE!"),
    (H.ExcelError("#REF!"), "holds the Excel error #REF!"),
    ("#N/A", "holds the Excel error #N/A"),
    (True, "holds the logical value TRUE, not text"),
    (False, "holds the logical value FALSE, not text"),
])
def test_error_values_and_booleans_in_text_columns_name_the_cell(tmp_path, column_name,
                                                                 value, words):
    report, good, frame = _issue13_tape(tmp_path, {(3, column_name): value})
    letter = "A" if column_name == "facility_id" else "B"
    hit = frame[(frame["Row"] == 3) & frame["Message"].str.contains(words, regex=False)]
    assert len(hit) == 1, frame.to_string()
    assert hit["Column"].iloc[0] == letter and hit["Severity"].iloc[0] == "error"
    assert report.exit_status == 1
    assert len(good) == 3


@pytest.mark.parametrize("twin, words", [
    ("FAC-000001\u200b", "an invisible character (U+200B zero width space)"),
    ("FAC\u2011000001", "a look-alike dash (U+2011 non-breaking hyphen)"),
    ("fac-000001", "upper and lower case"),
    ("ＦＡＣ-000001", "the Unicode form of a character"),
])
def test_look_alike_ids_are_the_same_facility(tmp_path, twin, words):
    _report, good, frame = _issue13_tape(tmp_path, {(4, "facility_id"): twin})
    hits = frame[frame["Message"].str.contains("looks the same as", regex=False)]
    assert sorted(hits["Row"]) == [2, 4], frame.to_string()
    assert all(words in m for m in hits["Message"])
    assert "FAC-000001" not in set(good["facility_id"]) and twin not in set(
        good["facility_id"])
    assert len(good) == 2


def test_an_invisible_character_alone_is_a_warning(tmp_path):
    _report, good, frame = _issue13_tape(tmp_path, {(2, "facility_id"): "FAC\u200b-1"})
    hit = frame[frame["Message"].str.contains("holds an invisible character", regex=False)]
    assert list(hit["Severity"]) == ["warning"]
    assert len(good) == 4


@pytest.mark.parametrize("text", ["2024-06-30 25:00", "2024-06-30 12:60", "30/06/2024 24:00",
                                  "2024-06-30T23:59:61"])
def test_impossible_date_text_is_refused(tmp_path, text):
    # Refused whichever check sees it first (an impossible time, or no date at all).
    _report, good, frame = _issue13_tape(tmp_path, {(3, "origination_date"): text})
    letter = column_letter([c.name for c in COLUMNS].index("origination_date") + 1)
    hit = frame[(frame["Row"] == 3) & (frame["Column"] == letter)
                & frame["Message"].str.contains(f'"{text}" is not a', regex=False)]
    assert list(hit["Severity"]) == ["error"], frame.to_string()
    assert len(good) == 3


def test_possible_date_text_with_a_time_is_still_read(tmp_path):
    _report, good, frame = _issue13_tape(tmp_path, {(3, "origination_date"): "2024-06-30 23:59"})
    assert not frame["Message"].str.contains("not a real date").any()
    assert len(good) == 4


@pytest.mark.parametrize("fid, name", [
    ("FAC\x1b-1", "U+001B escape"),
    ("FAC\x07-1", "U+0007 bell"),
    ("FAC-\x85001", "U+0085 control character"),
])
def test_a_control_character_in_a_csv_id_is_named(tmp_path, fid, name):
    report, good = tape(tmp_path, {"facility_id": fid}, {})
    assert messages(report, "warning") == [
        f"Row 2, column A (facility_id): the facility id holds an invisible character "
        f"({name}): retype it"]
    hit = next(i for i in report.issues if i.severity == "warning")
    assert (hit.sheet, hit.row, hit.column) == (None, 2, "A")
    assert len(good) == 2


@pytest.mark.parametrize("written, name", [
    ("FAC_x001B_-1", "U+001B escape"),   # how an .xlsx stores ESC in text
    ("FAC_x0007_-1", "U+0007 bell"),
])
def test_a_control_character_in_an_xlsx_id_is_named(tmp_path, written, name):
    _report, good, frame = _issue13_tape(tmp_path, {(3, "facility_id"): written})
    assert list(frame["Message"]) == [
        f"Row 3, column A (Facility ID): the facility id holds an invisible character "
        f"({name}): retype it"]
    assert list(frame["Severity"]) == ["warning"] and len(good) == 4


def test_an_id_differing_only_by_a_control_character_is_the_same_facility(tmp_path):
    _report, good, frame = _issue13_tape(tmp_path, {(4, "facility_id"): "FAC-000001_x001B_"})
    hits = frame[frame["Message"].str.contains("looks the same as", regex=False)]
    assert sorted(hits["Row"]) == [2, 4], frame.to_string()
    assert all("an invisible character (U+001B escape)" in m for m in hits["Message"])
    assert len(good) == 2
