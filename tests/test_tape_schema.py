"""The loan-tape schema (gpucredit.tape.schema): one declaration, consistent everywhere."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from gpucredit.tape.convert import coerce, coerce_value
from gpucredit.tape.schema import (
    ASSUMPTION_GROUPS,
    ASSUMPTIONS,
    COLUMNS,
    GROUPS,
    RULES,
    TYPES,
    Column,
    assumption,
    column,
    columns_by_group,
    header_key,
    is_formula_like,
    match_assumption,
    match_header,
    render_markdown,
    required_columns,
)

ROOT = Path(__file__).resolve().parents[1]
FIELDS = COLUMNS + ASSUMPTIONS


def test_names_are_snake_case_and_unique():
    names = [f.name for f in FIELDS]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", n) for n in names)
    labels = [c.label for c in COLUMNS]
    assert len({header_key(x) for x in labels}) == len(labels)


def test_brief_columns_are_declared():
    wanted = """facility_id borrower borrower_type gpu_model gpu_count delivery_date gpu_unit_cost
        commitment drawn_amount origination_date maturity_date rate_type fixed_rate spread
        rate_floor amortization periods_per_year interest_only_periods contracted_share
        contract_rate contract_end_date merchant_rent rent_deflation utilization kw_per_gpu pue
        power_price colocation_rate other_opex maintenance_capex tax_rate dscr_lockup
        dscr_default llcr_lockup advance_rate residual_curve generation_jump liquidation_months
        market_absorption install_haircut sale_costs btc_held hashrate_ph equity_value
        equity_vol quoted_spread source""".split()
    have = {c.name for c in COLUMNS}
    assert set(wanted) <= have, set(wanted) - have
    assert {"valuation_date", "base_rate", "btc_price", "btc_vol", "rho", "mc_paths",
            "mc_seed"} <= {a.name for a in ASSUMPTIONS}


@pytest.mark.parametrize("f", FIELDS, ids=lambda f: f.name)
def test_field_declaration_is_complete(f):
    assert f.type in TYPES and f.label and f.description and f.ask
    assert f.description.endswith(".")
    if isinstance(f, Column):
        assert f.group in GROUPS
    else:
        assert f.group in ASSUMPTION_GROUPS
    if f.type == "enum":
        assert f.choices, "an enum lists its choices"
    if f.required:
        assert f.default is None, "a required column has no default"
    else:
        assert f.default is not None or f.blank or getattr(f, "default_from", None), \
            "an optional field says what a blank means"
    if f.min is not None and f.max is not None:
        assert f.min < f.max


@pytest.mark.parametrize("f", FIELDS, ids=lambda f: f.name)
def test_example_and_default_pass_their_own_checks(f):
    for value in (f.example, f.default):
        if value is None:
            continue
        got, problem = coerce_value(f, value)
        assert problem is None, (value, problem)
        if f.type == "date":
            assert got == value
        elif f.type in ("float", "int"):
            assert got == pytest.approx(value)
        else:
            assert got == value


@pytest.mark.parametrize("f", [f for f in FIELDS if f.synonyms], ids=lambda f: f.name)
def test_synonyms_point_at_choices(f):
    for spelling, target in f.synonyms.items():
        assert target in f.choices
        assert coerce_value(f, spelling) == (target, None)


def test_whole_number_columns_always_have_a_value():
    # The validated frame stores them as int64: each is required or defaulted.
    for c in COLUMNS:
        if c.type == "int":
            assert c.required or c.default is not None, c.name


def test_defaults_from_other_columns_come_earlier():
    order = [c.name for c in COLUMNS]
    for c in COLUMNS:
        if c.default_from:
            assert order.index(c.default_from) < order.index(c.name)
            assert column(c.default_from).type == c.type


def test_fallbacks_name_an_assumption_per_gpu_model():
    for c in COLUMNS:
        if c.fallback:
            for model in column("gpu_model").choices:
                assumption(c.fallback.format(gpu_model=model.lower()))


def test_percent_fields_and_excel_formats():
    assert column("utilization").percent and not column("pue").percent
    assert column("quoted_spread").unit == "bp"
    for f in FIELDS:
        fmt = f.number_format
        assert fmt
        if f.percent:
            assert fmt.endswith("%")
        if f.type == "date":
            assert fmt == "yyyy-mm-dd"


def test_assumption_names_are_valid_excel_defined_names():
    for a in ASSUMPTIONS:
        n = a.name
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", n)
        assert not re.fullmatch(r"[A-Za-z]{1,3}[0-9]+", n), "looks like a cell reference"
        assert not re.fullmatch(r"[rRcC]([0-9]*)?", n) and not re.fullmatch(r"R\d+C\d+", n)
        assert len(n) <= 255
        assert match_assumption(a.label) == n == match_assumption(n.upper())


def test_rules_refer_to_declared_columns():
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    for r in RULES:
        assert r.severity in ("error", "warning")
        for name in r.columns:
            column(name)


def test_header_matching():
    assert match_header("Cost per GPU (USD)") == "gpu_unit_cost"
    assert match_header("Origination (first draw) date") == "origination_date"
    assert match_header("  GPU   MODEL ") == "gpu_model"
    assert match_header("utilisation") == "utilization"
    assert match_header("Spread [%]") == "spread"
    assert match_header("something else") is None and match_header(None) is None
    assert header_key("Facility-ID") == "facilityid"


def test_lookup_helpers():
    assert required_columns() == tuple(c.name for c in COLUMNS if c.required)
    groups = columns_by_group()
    assert list(groups) == list(GROUPS)
    assert sum(len(v) for v in groups.values()) == len(COLUMNS)
    with pytest.raises(KeyError, match="no assumption 'nope'"):
        assumption("nope")


def test_show_and_expectation_in_analyst_terms():
    assert column("utilization").show(0.085) == "8.5%"
    assert column("commitment").show(-2.5e6) == "-$2,500,000"
    assert column("contract_rate").show(2.65) == "$2.65"
    assert column("kw_per_gpu").show(1.275) == "1.275 kW"
    assert column("quoted_spread").show(450) == "450bp"
    assert column("ig_contracts").show(True) == "TRUE"
    assert column("borrower").show("Acme") == '"Acme"'
    assert column("maturity_date").show(dt.datetime(2029, 5, 1)) == "2029-05-01"
    assert column("fixed_rate").expectation() == "between 0% and 50%"
    assert column("advance_rate").expectation() == "more than 0%, at most 100%"
    assert column("periods_per_year").expectation() == "one of 1, 2, 4, 12"
    assert column("ig_contracts").expectation() == "TRUE or FALSE"


def test_notes_for_the_template():
    assert column("gpu_count").note() == ("Number of GPUs financed.\nUnit: GPUs. Enter a whole "
                                          "number, between 1 and 5,000,000. Required.")
    assert column("drawn_amount").note().endswith("Blank: fully drawn (the commitment).")


def test_availability_end_is_declared_once_beside_the_amounts():
    names = [c.name for c in COLUMNS]
    at = names.index("availability_end_date")
    assert names[at - 2:at] == ["commitment", "drawn_amount"]
    c = column("availability_end_date")
    assert (c.type, c.group, c.required, c.default) == ("date", "Loan", False, None)
    for header in ("Availability period end", "draw period end", "Draw End Date",
                   "availability_end", "Availability end"):
        assert match_header(header) == "availability_end_date", header
    assert c.note().endswith(
        "Blank: no further draws: the undrawn commitment is not available.")
    rules = {r.id: r for r in RULES if "availability_end_date" in r.columns}
    assert set(rules) == {"availability_before_maturity", "draws_need_drawn_fleet",
                          "draws_on_scheduled_loan"}
    assert {r.severity for r in rules.values()} == {"error"}


def test_formula_prefixes():
    for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\t=1"):
        assert is_formula_like(text)
    assert not is_formula_like("Acme") and not is_formula_like(-1)


def test_bad_declarations_are_refused():
    with pytest.raises(ValueError, match="unknown type"):
        Column("x", "X", "decimal", "An x.", group="Loan")
    with pytest.raises(ValueError, match="unknown group"):
        Column("x", "X", "float", "An x.", group="Nowhere")


def test_coerce_follows_the_declared_type():
    for c in COLUMNS:
        if c.example is None:
            continue
        got = coerce(c, pd.Series([c.example, None], dtype=object))
        assert got.problems == {} and list(got.blank) == [False, True], c.name


def test_docs_are_generated_from_the_schema():
    committed = (ROOT / "docs" / "tape.md").read_text(encoding="utf-8")
    assert committed == render_markdown(), (
        "docs/tape.md is out of date: run python -m gpucredit.tape.make_docs")
    for c in COLUMNS:
        assert f"| `{c.name}` | {c.label} |" in committed


def test_schema_imports_without_the_excel_extra_or_the_core():
    code = ("import sys, gpucredit.tape.schema, gpucredit.tape\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('openpyxl', 'defusedxml', 'python_calamine')]\n"
            "core = [m for m in sys.modules if m.startswith('gpucredit.') and "
            "not m.startswith(('gpucredit.tape', 'gpucredit.errors'))]\n"
            "print(bad, core)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[] []"

