"""Tests for gpucredit.excel.demo_tape: the bundled demo loan tape.

Oracles: the tape validator (the demo must pass it with no error and no warning), the
public deal terms in docs/sources.md "Deals to build a realistic demo tape from" (restated here
by hand, each with its source), and the calibration ranges docs/sources.md gives.
"""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from tests import libreoffice as lo

from gpucredit.excel.demo_tape import DEMO_FACILITIES, build_demo_tape, demo_frame
from gpucredit.excel.tape_template import PUBLIC_SOURCES
from gpucredit.tape import schema
from gpucredit.tape.validate import validate_file

ROOT = Path(__file__).resolve().parents[1]
REAL_NAMES = ("coreweave", "terawulf", "cipher", "iren", "core scientific", "hut 8",
              "lambda", "crusoe", "nebius", "fluidstack")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    path = build_demo_tape(tmp_path_factory.mktemp("demo") / "demo.xlsx")
    report, good = validate_file(path)
    return path, report, good


def by_id(good, fid):
    return good.set_index("facility_id").loc[fid]


class TestValidates:
    def test_no_errors_no_warnings(self, demo):
        _, report, good = demo
        assert report.exit_status == 0
        assert [i.message for i in report.issues] == []
        assert len(good) == len(DEMO_FACILITIES) >= 12

    def test_assumptions_read(self, demo):
        path, _, _ = demo
        wb = openpyxl.load_workbook(path)
        ref = wb.defined_names["valuation_date"].attr_text
        sheet, cell = ref.split("!")
        assert wb[sheet][cell.replace("$", "")].value.date().isoformat() == "2026-06-30"


class TestMix:
    def test_borrower_types_models_profiles(self, demo):
        _, _, good = demo
        assert set(good["borrower_type"]) == {"neocloud", "miner", "other"}
        assert set(good["gpu_model"]) == {"A100", "H100", "H200", "B200", "GB200"}
        assert set(good["amortization"]) == {"annuity", "straight_line", "bullet", "sculpted"}
        assert {4, 12} <= set(good["periods_per_year"])
        assert set(good["rate_type"]) == {"fixed", "floating"}

    def test_a_miner_with_bitcoin_and_hashrate(self, demo):
        _, _, good = demo
        miners = good[(good["borrower_type"] == "miner") & (good["btc_held"] > 0)
                      & (good["hashrate_ph"] > 0)]
        assert len(miners) >= 1

    def test_delayed_draws(self, demo):
        _, _, good = demo
        assert (good["drawn_amount"] < good["commitment"]).sum() >= 3

    def test_illustrative_borrowers_only(self, demo):
        _, _, good = demo
        for name in good["borrower"]:
            assert not any(real in name.lower() for real in REAL_NAMES), name


class TestRealistic:
    def test_fleet_cost_matches_the_debt(self, demo):
        """Loan-to-cost between 75% and 95%: secured deals 80-90%, River Bend up to 85%."""
        _, _, good = demo
        ltc = good["commitment"] / (good["gpu_count"] * good["gpu_unit_cost"])
        assert ltc.between(0.75, 0.95).all(), ltc.to_dict()

    def test_ranges(self, demo):
        _, _, good = demo
        h100 = good.loc[good["gpu_model"] == "H100", "gpu_unit_cost"]
        # used H100 $22-28k, peak $40k+ (docs/sources.md); 2023 deliveries bought near the peak
        assert h100.between(25_000, 35_000).all()
        assert good["utilization"].between(0.70, 0.95).all()
        assert good["pue"].between(1.2, 1.5).all()
        assert good["power_price"].between(0.04, 0.09).all()
        colo = good["colocation_rate"]
        assert ((colo == 0) | colo.between(130, 220)).all()  # 0: a miner's own site
        contracted = good[good["contracted_share"] > 0]
        assert contracted["contract_rate"].between(1.0, 6.0).all()

    def test_every_row_has_a_source(self, demo):
        path, _, good = demo
        assert good["source"].str.len().min() > 20
        keys = {k for k, *_ in PUBLIC_SOURCES}
        assert {f["source_key"] for f in DEMO_FACILITIES} <= keys
        wb = openpyxl.load_workbook(path)
        rows = {r[0]: r for r in wb["Sources"].iter_rows(values_only=True) if r[0]}
        facts = {k: fact for k, _, fact, _ in PUBLIC_SOURCES}
        for f in DEMO_FACILITIES:
            assert rows[f["facility_id"]][2] == facts[f["source_key"]]


class TestPublicTerms:
    """Each modelled deal keeps the public terms of docs/sources.md's deal list."""

    def test_coreweave_like(self, demo):
        _, _, good = demo
        d1 = by_id(good, "NWC-DDTL1")  # $2.3bn, Mar 2028, ~15% effective
        assert (d1.commitment, d1.maturity_date.strftime("%Y-%m"), d1.fixed_rate) == \
            (2.3e9, "2028-03", 0.15)
        ig, nig = by_id(good, "NWC-DDTL2-IG"), by_id(good, "NWC-DDTL2-NIG")
        assert ig.commitment + nig.commitment == 7.6e9  # DDTL 2.0: $7.6bn
        assert 0.06 <= ig.spread <= 0.065 and ig.ig_contracts  # SOFR+6.00-6.50% IG
        assert nig.spread == 0.13 and not nig.ig_contracts  # SOFR+13% non-IG
        assert ig.rate_floor == nig.rate_floor == 0.0  # 0% floor
        assert ig.maturity_date.strftime("%Y-%m") == "2029-05"  # May 2029
        notes = by_id(good, "NWC-SN31")  # 9.000% 2031, $1.75bn
        assert (notes.fixed_rate, notes.commitment, notes.maturity_date.year) == \
            (0.09, 1.75e9, 2031)

    def test_miners_like(self, demo):
        _, _, good = demo
        expected = {  # coupon, size, maturity year
            "TWD-SSN30": (0.0775, 3.2e9, 2030),  # TeraWulf 7.75% 2030 $3.2bn
            "CRM-SSN30": (0.07125, 1.4e9, 2030),  # Cipher 7.125% 2030 $1.4bn
            "CRM-CV31": (0.0, 1.1e9, 2031),  # Cipher 0% converts 2031 $1.1bn
            "IBE-CV29": (0.035, 0.5e9, 2029),  # IREN 3.50% converts 2029 $500m
            "CPD-CV29": (0.03, 0.4e9, 2029),  # Core Scientific 3.00% 2029 $400m
        }
        for fid, (coupon, size, year) in expected.items():
            row = by_id(good, fid)
            assert (row.fixed_rate, row.commitment, row.maturity_date.year) == \
                (coupon, size, year), fid
        assert by_id(good, "TWD-SSN30").cash_sweep == 0.5  # 50% excess-cash-flow offer
        jv = by_id(good, "LSJ-JV31")  # Fluidstack JV about 8%, amortising to 2031
        assert (jv.fixed_rate, jv.maturity_date.year, jv.amortization) == \
            (0.08, 2031, "sculpted")

    def test_river_bend_like(self, demo):
        _, _, good = demo
        rb = by_id(good, "HRB-BOND42")
        assert rb.commitment == 3.25e9 and rb.maturity_date.year == 2042
        assert rb.commitment / (rb.gpu_count * rb.gpu_unit_cost) == pytest.approx(0.85,
                                                                                  abs=0.005)
        # Treasuries + 213bp: the coupon is a Treasury yield of 4.0-4.5% plus 2.13%
        assert 0.0613 <= rb.fixed_rate <= 0.0663 and rb.quoted_spread == 213
        # A 15-year base term from the first data hall's commissioning in Q2 2027: the
        # lease outlasts the bonds.
        lease_years = (rb.contract_end_date - pd.Timestamp(2027, 6, 30)).days / 365.25
        assert lease_years == pytest.approx(15, abs=0.3)
        assert rb.contract_end_date > rb.maturity_date


class TestFile:
    def test_frame_uses_schema_columns(self):
        assert list(demo_frame().columns) == [c.name for c in schema.COLUMNS]

    def test_committed_copy_is_current(self, tmp_path):
        """Regenerate with: python -m gpucredit.excel.demo_tape workbooks"""
        fresh = build_demo_tape(tmp_path / "d.xlsx").read_bytes()
        assert (ROOT / "workbooks" / "demo_tape.xlsx").read_bytes() == fresh

    def test_tape_table_covers_the_rows(self, demo):
        path, _, _ = demo
        ws = openpyxl.load_workbook(path)["Tape"]
        last = openpyxl.utils.get_column_letter(len(schema.COLUMNS))
        assert ws.tables["LoanTape"].ref == f"A1:{last}{len(DEMO_FACILITIES) + 1}"

    @pytest.mark.slow
    def test_passes_open_xml_schema_validation(self, demo):
        path, _, _ = demo
        assert lo.open_xml_findings(path) == []

    @pytest.mark.libreoffice
    def test_libreoffice_renders_it(self, demo, tmp_path):
        path, _, _ = demo
        assert lo.pdf_pages(lo.to_pdf(path, tmp_path)) >= 4
