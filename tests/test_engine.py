"""Tests of gpucredit.engine: the chunk function's contract and the tape -> model conversion.

The contract of :func:`gpucredit.engine.run_chunk` (issue 4): one pure function from a
chunk of validated tape rows to that chunk's tables, so that

* the metrics, periods and scenarios tables - Monte Carlo included - are identical
  whatever the chunk size and whatever the order of the tape rows (a facility's Monte
  Carlo stream derives from the seed and its id alone);
* the input frame and the assumptions are left as they were;
* a facility the core rejects is reported, and the others are still computed.

The conversion :func:`gpucredit.engine.facilities_from_rows` is checked by hand on small
tapes valued on 2026-06-30: remaining tenor and interest-only periods in calendar periods,
contract periods, GPU age (days / 365.25, the module's documented day count), the floating
rate max(base, floor) + spread, and the preset fallbacks for blank cells.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import functools

import numpy as np
import pandas as pd
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from tests import hostile as H

from gpucredit.engine import (
    DAYS_PER_YEAR,
    ChunkResult,
    RecalcOptions,
    facilities_from_rows,
    local_mapper,
    recalc,
    run_chunk,
    split,
)
from gpucredit.errors import GpuCreditError
from gpucredit.presets import get_preset
from gpucredit.spool import SpooledTable
from gpucredit.tape import schema
from gpucredit.tape.validate import validate

VALUATION = dt.date(2026, 6, 30)
TABLES = ("metrics", "periods", "scenarios")
SORT_KEYS = {"periods": ["facility_id", "period"], "scenarios": ["facility_id", "scenario"]}


# --------------------------------------------------------------------------- tapes


def typed_rows(records: list[dict], **assumptions) -> tuple[pd.DataFrame, dict]:
    """Validate hand-written records as the CLI does; the typed rows and assumptions.

    The rows carry ``_row`` and ``_sheet`` as the CLI's rows do; the assumptions are the
    validator's defaults with the valuation date fixed on 2026-06-30 and ``assumptions``
    on top.
    """
    report = validate(pd.DataFrame(records))
    assert not report.errors, [i.message for i in report.errors]
    good = report.good
    rows = good.assign(_row=good.index, _sheet="Tape").reset_index(drop=True)
    return rows, {**report.assumptions, "valuation_date": VALUATION, **assumptions}


def full_rows(n: int) -> tuple[pd.DataFrame, dict]:
    """``n`` facilities varied in every branch of the engine (tests/hostile full_row):
    payment frequencies 1, 4 and 12, the four amortisation profiles, fixed and floating,
    contracted and merchant, miners with BTC and hashrate, Merton inputs, quoted spreads."""
    header, *body = H.full_tape(n, labels=False)
    return typed_rows([dict(zip(header, r, strict=True)) for r in body])


BASE = {
    "facility_id": "A", "borrower": "Acme Compute", "borrower_type": "neocloud",
    "gpu_model": "H100", "gpu_count": 1000, "delivery_date": dt.date(2024, 6, 30),
    "gpu_unit_cost": 30_000.0, "commitment": 20e6, "origination_date": dt.date(2025, 6, 30),
    "maturity_date": dt.date(2029, 6, 30), "rate_type": "fixed", "fixed_rate": 0.09,
    "amortization": "annuity", "periods_per_year": 4, "quoted_spread": 500.0,
}


def one(**changes) -> dict:
    return {**BASE, **changes}


def convert(records: list[dict], m: int, **assumptions):
    rows, a = typed_rows(records, **assumptions)
    fac, errors = facilities_from_rows(rows, a, m)
    assert errors == []
    return fac


def sorted_table(res, name: str) -> pd.DataFrame:
    frame = getattr(res, name)
    if name == "metrics":
        return frame.sort_index()
    return frame.sort_values(SORT_KEYS[name], kind="stable").reset_index(drop=True)


def assert_same_tables(a, b, names=TABLES) -> None:
    for name in names:
        pd.testing.assert_frame_equal(sorted_table(a, name), sorted_table(b, name),
                                      check_exact=True, obj=name)


@pytest.fixture(scope="module")
def tape():
    return full_rows(8)


@pytest.fixture(scope="module")
def whole(tape):
    """The tape in one chunk, with scenarios and 48 Monte Carlo paths."""
    rows, a = tape
    return recalc(rows, a, RecalcOptions(n_paths=48, seed=11, chunk_size=len(rows)))


# --------------------------------------------------------------------------- invariance


@pytest.mark.slow
@pytest.mark.parametrize("chunk_size", [1, 3])
def test_chunk_size_does_not_change_any_table(tape, whole, chunk_size):
    # The tape mixes payment frequencies, so chunks of 1 and 3 group facilities
    # differently from one chunk of all 8: every value must still be the same.
    rows, a = tape
    res = recalc(rows, a, RecalcOptions(n_paths=48, seed=11, chunk_size=chunk_size))
    assert list(res.metrics.index) == list(rows["facility_id"])
    assert res.metrics["mc_pd"].notna().all()
    assert_same_tables(whole, res)


@pytest.mark.slow
def test_row_order_does_not_change_any_table(tape, whole):
    rows, a = tape
    shuffled = rows.iloc[np.random.default_rng(5).permutation(len(rows))]
    res = recalc(shuffled.reset_index(drop=True), a,
                 RecalcOptions(n_paths=48, seed=11, chunk_size=len(rows)))
    assert list(res.metrics.index) == list(shuffled["facility_id"])  # tape order kept
    assert_same_tables(whole, res)


@functools.cache
def _one_chunk_reference():
    """The 8-facility tape and its results in one chunk (no scenarios: kept fast)."""
    rows, a = full_rows(8)
    options = RecalcOptions(n_paths=8, seed=3, run_scenarios=False, chunk_size=len(rows))
    return rows, a, recalc(rows, a, options)


# No shrinking: each example is a whole recalculation, and the first failure already
# names the table, the column and the facilities.
@settings(max_examples=25, deadline=None,
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(order=st.permutations(range(8)), chunk_size=st.integers(1, 9))
def test_order_and_chunking_never_change_results(order, chunk_size):
    rows, a, reference = _one_chunk_reference()
    res = recalc(rows.iloc[list(order)].reset_index(drop=True), a,
                 RecalcOptions(n_paths=8, seed=3, run_scenarios=False, chunk_size=chunk_size))
    assert_same_tables(reference, res, names=("metrics", "periods"))


def test_plcr_does_not_depend_on_the_other_facilities_of_the_chunk():
    # Regression: PLCR summed CFADS to the end of the chunk's grid (the longest tenor or
    # life in the group) instead of the facility's own asset life, so a 2-year loan's PLCR
    # grew when a 7-year loan on the same frequency shared its chunk.
    short = one(facility_id="SHORT", maturity_date=dt.date(2028, 6, 30))
    long_ = one(facility_id="LONG", maturity_date=dt.date(2033, 6, 30),
                origination_date=dt.date(2026, 6, 1))
    rows, a = typed_rows([short, long_])
    options = RecalcOptions(run_scenarios=False)
    alone = run_chunk(rows.iloc[[0]], a, options).metrics.loc["SHORT", "plcr"]
    together = run_chunk(rows, a, options).metrics.loc["SHORT", "plcr"]
    assert together == alone


def test_run_chunk_equals_its_chunks_put_together(tape):
    rows, a = tape
    options = RecalcOptions(n_paths=16, seed=2, run_scenarios=False)
    whole = run_chunk(rows, a, options)
    parts = [run_chunk(c, a, options) for c in split(rows, 3)]
    joined = pd.concat([p.metrics for p in parts]).sort_index()
    # chunks' PD-by-year columns run to their own longest tenor: compare in one order
    pd.testing.assert_frame_equal(whole.metrics.sort_index(), joined[whole.metrics.columns],
                                  check_exact=True)
    periods = pd.concat([p.periods for p in parts]).sort_values(["facility_id", "period"])
    pd.testing.assert_frame_equal(
        whole.periods.sort_values(["facility_id", "period"]).reset_index(drop=True),
        periods.reset_index(drop=True), check_exact=True)


def test_monte_carlo_market_derives_from_the_seed_only():
    twin = one(facility_id="TWIN-1", fixed_rate=0.14, gpu_count=700)
    rows, a = typed_rows([twin, {**twin, "facility_id": "TWIN-2"},
                          one(facility_id="OTHER", gpu_model="B200", gpu_unit_cost=40_000.0)])
    mc = ["mc_min_dscr_q05", "mc_min_dscr_q50", "mc_min_dscr_q95"]

    def mc_of(frame, seed, fid):
        return run_chunk(frame, a, RecalcOptions(n_paths=200, seed=seed,
                                                 run_scenarios=False)).metrics.loc[fid, mc]

    base = mc_of(rows, 7, "TWIN-1")
    assert base.notna().all() and base.iloc[0] < base.iloc[2]  # the paths do spread out
    # The same facility alone, or beside a changed neighbour: the same paths.
    pd.testing.assert_series_equal(mc_of(rows.iloc[[0]], 7, "TWIN-1"), base, check_exact=True)
    changed = rows.copy()
    changed.loc[2, "utilization"] = 0.5
    pd.testing.assert_series_equal(mc_of(changed, 7, "TWIN-1"), base, check_exact=True)
    # Identical inputs under another id read the same market (one market for the book,
    # and no contract customer of their own here): the same results. Another seed:
    # other paths.
    pd.testing.assert_series_equal(mc_of(rows, 7, "TWIN-2"), base, check_exact=True,
                                   check_names=False)
    assert not np.allclose(mc_of(rows, 8, "TWIN-1").to_numpy(), base.to_numpy())


# --------------------------------------------------------------------------- purity


def test_run_chunk_leaves_its_inputs_alone(tape):
    rows, a = tape
    rows_before, a_before = rows.copy(deep=True), copy.deepcopy(a)
    options = RecalcOptions(n_paths=16, seed=4)
    first = run_chunk(rows, a, options)
    pd.testing.assert_frame_equal(rows, rows_before, check_exact=True)
    assert a == a_before
    second = run_chunk(rows, a, options)  # same arguments, same answer
    assert_same_tables(first, second)
    assert first.errors == second.errors == []


def test_run_chunk_of_an_empty_chunk(tape):
    rows, a = tape
    res = run_chunk(rows.iloc[:0], a, RecalcOptions())
    assert isinstance(res, ChunkResult)
    assert res.metrics.empty and res.periods.empty and res.scenarios.empty
    assert res.errors == []


# --------------------------------------------------------------------------- recalc


def test_progress_reaches_the_total(tape):
    rows, a = tape
    calls = []
    recalc(rows, a, RecalcOptions(chunk_size=3, run_scenarios=False),
           progress=lambda done, total: calls.append((done, total)))
    assert calls == [(3, 8), (6, 8), (8, 8)]


def test_chunks_finishing_in_any_order(tape, whole):
    rows, a = tape

    def backwards(fn, chunks):
        for i in reversed(range(len(chunks))):
            yield i, fn(chunks[i])

    res = recalc(rows, a, RecalcOptions(n_paths=48, seed=11, chunk_size=3), mapper=backwards)
    assert list(res.metrics.index) == list(rows["facility_id"])
    assert list(dict.fromkeys(res.periods["facility_id"])) == list(rows["facility_id"])
    assert_same_tables(whole, res)


def test_a_lost_chunk_is_an_error_not_a_partial_result(tape):
    rows, a = tape

    def loses_one(fn, chunks):
        yield from list(local_mapper(fn, chunks))[1:]

    with pytest.raises(GpuCreditError, match="only 2 of 3 chunks came back"):
        recalc(rows, a, RecalcOptions(chunk_size=3, run_scenarios=False), mapper=loses_one)


# --------------------------------------------------------------------------- spooled tables

SPOOLED_TOO = ("scenario_summary", "summary_totals", "summary_by_type", "worst",
               "residual_curves", "errors", "portfolio_summary", "portfolio_contributions",
               "portfolio_concentration", "portfolio_distribution")


@pytest.mark.parametrize("chunk_size", [1, 3, 8])
def test_spooled_tables_equal_the_kept_ones(tape, whole, tmp_path, chunk_size):
    # Chunks finishing backwards: the spool still writes them in tape order.
    rows, a = tape

    def backwards(fn, chunks):
        for i in reversed(range(len(chunks))):
            yield i, fn(chunks[i])

    res = recalc(rows, a, RecalcOptions(n_paths=48, seed=11, chunk_size=chunk_size),
                 mapper=backwards, spool=tmp_path)
    assert isinstance(res.metrics, SpooledTable) and len(res.metrics) == len(rows)
    assert len(list(res.metrics.pieces())) == -(-len(rows) // chunk_size)
    pd.testing.assert_frame_equal(res.metrics.read(), whole.metrics, check_exact=True)
    pd.testing.assert_frame_equal(res.scenarios.read(), whole.scenarios, check_exact=True)
    pd.testing.assert_frame_equal(res.periods.read(), whole.periods, check_exact=True)
    for name in SPOOLED_TOO:
        pd.testing.assert_frame_equal(getattr(res, name), getattr(whole, name),
                                      check_exact=True, obj=name)
    assert res.run_info == whole.run_info


def test_a_failed_spooled_run_removes_its_pieces(tape, tmp_path):
    rows, a = tape

    def fails_late(fn, chunks):
        yield 0, fn(chunks[0])
        raise RuntimeError("worker lost")

    with pytest.raises(RuntimeError, match="worker lost"):
        recalc(rows, a, RecalcOptions(chunk_size=3, run_scenarios=True), mapper=fails_late,
               spool=tmp_path)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("size", [0, -1])
def test_chunk_size_below_one(tape, size):
    rows, _ = tape
    with pytest.raises(GpuCreditError, match=f"chunk size must be at least 1, got {size}"):
        list(split(rows, size))


def test_split_keeps_every_row_once(tape):
    rows, _ = tape
    chunks = list(split(rows, 3))
    assert [len(c) for c in chunks] == [3, 3, 2]
    pd.testing.assert_frame_equal(pd.concat(chunks), rows)


def test_validation_errors_are_carried_to_the_results(tape):
    rows, a = tape
    checked = pd.DataFrame([{"sheet": "Tape", "row": 12, "column": "AC (Utilization)",
                             "facility_id": "BAD-1", "value": "1.2", "severity": "error",
                             "message": "Row 12, column AC (Utilization): 120% is above 100%"}])
    res = recalc(rows, a, RecalcOptions(run_scenarios=False), errors=checked)
    assert list(res.errors.columns) == ["sheet", "row", "column", "facility_id", "value",
                                        "severity", "message"]
    assert res.errors.iloc[0].to_dict() == checked.iloc[0].to_dict()
    assert len(res.metrics) == len(rows)


# --------------------------------------------------------------------------- rejections


def test_a_facility_the_core_rejects_does_not_stop_the_others(tape):
    rows, a = tape
    bad = rows.copy()
    victim = bad.loc[1, "facility_id"]
    same_frequency = bad.loc[bad["periods_per_year"] == bad.loc[1, "periods_per_year"],
                             "facility_id"]
    assert len(same_frequency) > 1  # the rejected facility shares its group
    bad.loc[1, "gpu_count"] = -5  # past the validator, the core refuses it
    res = run_chunk(bad, a, RecalcOptions(n_paths=16, seed=1))
    assert victim not in res.metrics.index
    assert sorted(res.metrics.index) == sorted(set(rows["facility_id"]) - {victim})
    assert victim not in set(res.periods["facility_id"])
    assert victim not in set(res.scenarios["facility_id"])
    [err] = res.errors
    assert err["facility_id"] == victim and err["severity"] == "error"
    assert err["column"] == "gpus" and err["row"] == rows.loc[1, "_row"]
    assert err["sheet"] == "Tape"
    assert "gpus must be >= 0, got -5" in err["message"]


def test_matured_loan_rejected_with_a_message_others_computed():
    matured = one(facility_id="OLD", origination_date=dt.date(2023, 1, 1),
                  maturity_date=dt.date(2026, 3, 31))
    on_the_day = one(facility_id="TODAY", origination_date=dt.date(2023, 1, 1),
                     maturity_date=VALUATION)
    rows, a = typed_rows([matured, one(facility_id="LIVE"), on_the_day])
    res = run_chunk(rows, a, RecalcOptions(run_scenarios=False))
    assert list(res.metrics.index) == ["LIVE"]
    by_id = {e["facility_id"]: e for e in res.errors}
    assert set(by_id) == {"OLD", "TODAY"}
    assert by_id["OLD"]["message"] == (
        "the loan matured on 2026-03-31, on or before the valuation date 2026-06-30: "
        "nothing left to recalculate")
    assert by_id["OLD"]["column"] == "maturity_date"
    assert "matured on 2026-06-30" in by_id["TODAY"]["message"]


def test_unknown_gpu_model_is_rejected_by_facilities_from_rows():
    rows, a = typed_rows([one(facility_id="X"), one(facility_id="Y")])
    rows["gpu_model"] = rows["gpu_model"].astype(object)
    rows.loc[1, "gpu_model"] = "Z999"
    fac, errors = facilities_from_rows(rows, a, 4)
    assert list(fac.ids) == ["X"]
    [err] = errors
    assert err["facility_id"] == "Y" and "Z999" in err["message"]


def test_all_rows_rejected_gives_no_facilities():
    rows, a = typed_rows([one(facility_id="OLD", origination_date=dt.date(2023, 1, 1),
                              maturity_date=dt.date(2026, 3, 31))])
    fac, errors = facilities_from_rows(rows, a, 4)
    assert fac is None and len(errors) == 1


DEFAULTED = ("interest_only_periods", "rate_floor", "sculpt_dscr", "cash_sweep",
             "contracted_share", "other_opex", "maintenance_capex", "tax_rate", "btc_held",
             "hashrate_ph", "termination_payment_months", "releasing_lag_months",
             "releasing_rent_factor", "dsra_amount", "liquidity_facility", "mining_efficiency")
"""Optional numeric tape columns whose blank the conversion itself fills."""


def test_blank_numbers_take_the_schema_defaults():
    """A frame that did not pass the validator may hold blank numbers, or lack their
    columns: each of :data:`DEFAULTED` then converts as the schema's default written in."""
    rows, a = typed_rows([
        one(facility_id="A", interest_only_periods=6, rate_floor=0.01, cash_sweep=0.5,
            releasing_lag_months=3.0, releasing_rent_factor=0.7, mining_efficiency=20.0),
        one(facility_id="B", rate_type="floating", fixed_rate=None, spread=0.06,
            amortization="sculpted", sculpt_dscr=1.5, dsra_amount=1e6, tax_rate=0.2)])
    defaults = {name: schema.column(name).default for name in DEFAULTED}
    assert None not in defaults.values()
    expected, _ = facilities_from_rows(rows.assign(**defaults), a, 4)
    tape, _ = facilities_from_rows(rows, a, 4)
    assert not np.array_equal(tape.amortization_start, expected.amortization_start)
    blank, errors = facilities_from_rows(rows.assign(**dict.fromkeys(DEFAULTED, np.nan)), a, 4)
    missing, _ = facilities_from_rows(rows.drop(columns=list(DEFAULTED)), a, 4)
    assert errors == []
    for fac in (blank, missing):
        for f in dataclasses.fields(fac):
            np.testing.assert_equal(getattr(fac, f.name), getattr(expected, f.name),
                                    err_msg=f.name)


def test_monte_carlo_without_a_quoted_spread():
    # Regression: with --paths, a facility without a quoted spread (an optional column)
    # made pricing.mispricing_bp raise on NaN and the whole chunk failed.
    # A facility that does not default with certainty (where it does, the fair spread
    # is deliberately blank, with a note).
    rows, a = typed_rows([one(facility_id="PRICED", commitment=8e6),
                          one(facility_id="UNPRICED", commitment=8e6, quoted_spread=None)])
    res = run_chunk(rows, a, RecalcOptions(n_paths=32, seed=1, run_scenarios=False))
    assert res.errors == []
    m = res.metrics
    assert np.isnan(m.loc["UNPRICED", "mispricing_bp"])
    assert np.isnan(m.loc["UNPRICED", "quoted_spread_bp"])
    assert np.isfinite(m.loc["UNPRICED", "fair_spread_bp"])
    assert m.loc["PRICED", "mispricing_bp"] == pytest.approx(
        500.0 - m.loc["PRICED", "fair_spread_bp"], abs=1e-9)


# --------------------------------------------------------------------------- by hand


@pytest.mark.parametrize(("m", "maturity", "expected"), [
    # Valuation 2026-06-30; periods counted on the calendar, a part period counts whole.
    (4, dt.date(2029, 6, 30), 12),   # 36 months / 3 (1,096 days: 2028-02-29 inside)
    (4, dt.date(2031, 6, 30), 20),   # 60 months / 3
    (4, dt.date(2029, 7, 15), 13),   # 12 quarters and 15 days
    (4, dt.date(2026, 9, 30), 1),    # one quarter
    (4, dt.date(2026, 7, 1), 1),     # one day left: one period
    (12, dt.date(2027, 6, 30), 12),  # one year of months
    (12, dt.date(2028, 6, 30), 24),  # two years of months (731 days)
    (2, dt.date(2027, 12, 31), 3),   # 18 months / 6 (549 days)
    (2, dt.date(2029, 6, 30), 6),    # 36 months / 6
    (1, dt.date(2029, 6, 30), 3),    # three years (1,096 days)
    (1, dt.date(2031, 6, 30), 5),    # five years (1,826 days)
])
def test_remaining_tenor_in_periods(m, maturity, expected):
    fac = convert([one(periods_per_year=m, maturity_date=maturity)], m)
    assert list(fac.tenor) == [expected]


@pytest.mark.parametrize(("m", "origination", "io", "expected_start"), [
    # Elapsed whole periods since origination use up the interest-only periods;
    # amortisation starts the period after the interest-only ones left.
    (4, dt.date(2025, 6, 30), 6, 3),    # 4 quarters elapsed, 2 left: starts in period 3
    (4, dt.date(2025, 8, 15), 8, 6),    # 3 whole quarters elapsed (Nov, Feb, May 15): 5 left
    (4, dt.date(2024, 6, 30), 4, 1),    # 8 quarters elapsed: none left
    (12, dt.date(2026, 3, 31), 3, 1),   # 3 months elapsed (Apr, May, Jun month-ends)
    (12, dt.date(2026, 6, 1), 3, 4),    # 0 whole months elapsed (29 days): 3 left
    (4, dt.date(2026, 6, 30), 0, 1),    # no interest-only period
])
def test_interest_only_periods_left(m, origination, io, expected_start):
    fac = convert([one(periods_per_year=m, origination_date=origination,
                       interest_only_periods=io)], m)
    assert list(fac.amortization_start) == [expected_start]


def test_interest_only_covering_the_tenor_starts_in_the_last_period():
    # 40 interest-only quarters, 4 used up, on a 13-quarter remaining tenor: amortisation
    # (a bullet in effect) in the last period, min(io_left + 1, tenor) = min(37, 13) = 13.
    fac = convert([one(maturity_date=dt.date(2029, 7, 15), interest_only_periods=40)], 4)
    assert list(fac.amortization_start) == [min(40 - 4 + 1, 13)]


@pytest.mark.parametrize(("m", "contract_end", "expected"), [
    (4, dt.date(2028, 12, 31), 10),   # 30 months / 3
    (12, dt.date(2028, 12, 31), 30),  # 30 months
    (4, dt.date(2026, 5, 31), 0),     # ended before the valuation date
    (1, dt.date(2029, 6, 30), 3),
])
def test_contract_periods_to_the_contract_end(m, contract_end, expected):
    fac = convert([one(periods_per_year=m, contracted_share=0.5, contract_rate=2.5,
                       contract_end_date=contract_end)], m)
    assert list(fac.contract_periods) == [expected]


def test_no_contract_means_no_contract_periods():
    fac = convert([one()], 4)
    assert list(fac.contract_periods) == [0]
    assert list(fac.contracted_share) == [0.0]


def test_gpu_age_in_years_since_delivery():
    # Days from delivery to the valuation date over 365.25 (the module's day count).
    records = [one(facility_id="A", delivery_date=dt.date(2024, 6, 30)),   # 730 days
               one(facility_id="B", delivery_date=dt.date(2025, 12, 31)),  # 181 days
               one(facility_id="C", delivery_date=dt.date(2026, 9, 1))]    # not yet delivered
    fac = convert(records, 4)
    assert DAYS_PER_YEAR == 365.25
    np.testing.assert_allclose(fac.age0, [730 / 365.25, 181 / 365.25, 0.0], rtol=0, atol=1e-15)


def test_floating_rate_is_floored_base_plus_spread():
    # Base rate (SOFR) 4.3% from the Assumptions.
    #   B: spread 6%, floor 5%: max(4.3%, 5%) + 6% = 11.0%; C: floor 0%: 4.3% + 6% = 10.3%;
    #   A: fixed 9%. Interest in period 1 = balance x rate / 4 on a quarterly grid.
    records = [one(facility_id="A", amortization="bullet"),
               one(facility_id="B", rate_type="floating", fixed_rate=None, spread=0.06,
                   rate_floor=0.05, commitment=10e6, amortization="bullet"),
               one(facility_id="C", rate_type="floating", fixed_rate=None, spread=0.06,
                   rate_floor=0.0, commitment=12e6, amortization="bullet")]
    rows, a = typed_rows(records, base_rate=0.043)
    fac, _ = facilities_from_rows(rows, a, 4)
    assert list(fac.floating) == [False, True, True]
    assert fac.base_rate == 0.043
    np.testing.assert_array_equal(fac.spread, [0.0, 0.06, 0.06])
    np.testing.assert_array_equal(fac.rate_floor, [0.0, 0.05, 0.0])
    res = run_chunk(rows, a, RecalcOptions(run_scenarios=False))
    first = res.periods[res.periods["period"] == 1].set_index("facility_id")
    assert first.loc["A", "interest"] == pytest.approx(20e6 * 0.09 / 4, abs=1e-6)     # 450,000
    assert first.loc["B", "interest"] == pytest.approx(10e6 * 0.110 / 4, abs=1e-6)    # 275,000
    assert first.loc["C", "interest"] == pytest.approx(12e6 * 0.103 / 4, abs=1e-6)    # 309,000


def test_blank_gpu_cells_take_the_preset():
    records = [one(facility_id="H", gpu_model="H100"),
               one(facility_id="G", gpu_model="GB200", gpu_unit_cost=42_000.0),
               one(facility_id="B", gpu_model="B200", kw_per_gpu=1.5, merchant_rent=3.0,
                   gpu_unit_cost=40_000.0)]
    fac = convert(records, 4, merchant_rent_gb200=4.2)
    # kW per GPU: the preset's when blank (H100 1.275, GB200 1.6667), the tape's if given.
    np.testing.assert_array_equal(
        fac.kw_per_gpu, [get_preset("H100").kw_per_gpu, get_preset("GB200").kw_per_gpu, 1.5])
    assert get_preset("GB200").kw_per_gpu == pytest.approx(1.6667, abs=1e-4)
    # Rent: the Assumptions' rent for the model, else the preset's, else the tape's.
    np.testing.assert_array_equal(fac.merchant_rent,
                                  [get_preset("H100").rent_usd_per_hour, 4.2, 3.0])


def test_residual_curve_blank_takes_preset_named_takes_assumptions():
    """Regression: naming a curve family silently changed its parameters and added
    generation steps (NLC-A100 -32%). The preset's own family keeps the preset's
    parameters; another family takes the Assumptions' (its documented defaults); steps
    only where the row fills generation_jump."""
    records = [one(facility_id="P", gpu_model="A100", gpu_unit_cost=15_000.0),
               one(facility_id="N", gpu_model="H100", residual_curve="declining_balance",
                   delivery_date=dt.date(2024, 3, 1)),
               one(facility_id="S", gpu_model="A100", residual_curve="declining_balance",
                   gpu_unit_cost=15_000.0),
               one(facility_id="J", gpu_model="H100", generation_jump=0.2,
                   delivery_date=dt.date(2024, 3, 1))]
    fac = convert(records, 4, curve_rate=0.35)
    a100, h100 = get_preset("A100"), get_preset("H100")
    assert fac.residual_curve == [a100.curve_family, "declining_balance",
                                  "declining_balance", h100.curve_family]
    assert fac.curve_params["rate"][0] == a100.curve_params["rate"]   # preset: 0.28
    assert fac.curve_params["rate"][1] == 0.35                        # the Assumptions'
    assert fac.curve_params["rate"][2] == a100.curve_params["rate"]   # the preset's family
    assert np.isnan(fac.step_ages[:3]).all()                           # no steps unasked
    np.testing.assert_array_equal(fac.generation_jump, [0.0, 0.0, 0.0, 0.2])
    steps = fac.step_ages[3][~np.isnan(fac.step_ages[3])]
    np.testing.assert_allclose(steps, h100.step_ages(dt.date(2024, 3, 1)))
    # Every row carries its model's low/high residual band.
    assert fac.residual_curve_low == [a100.curve_low[0], h100.curve_low[0],
                                      a100.curve_low[0], h100.curve_low[0]]


def test_facilities_keep_tape_order_and_ids():
    records = [one(facility_id=f"F{i}", gpu_count=100 * (i + 1)) for i in range(4)]
    fac = convert(records, 4)
    assert list(fac.ids) == ["F0", "F1", "F2", "F3"]
    np.testing.assert_array_equal(fac.gpus, [100, 200, 300, 400])
    np.testing.assert_array_equal(fac.debt, [20e6] * 4)  # drawn amount defaults to commitment


def test_period_dates_follow_month_ends():
    # A valuation on a month end (2026-06-30) pays on month ends: Sep 30, Dec 31, Mar 31.
    rows, a = typed_rows([one(maturity_date=dt.date(2027, 6, 30))])
    res = run_chunk(rows, a, RecalcOptions(run_scenarios=False))
    assert list(res.periods["date"]) == [dt.date(2026, 9, 30), dt.date(2026, 12, 31),
                                         dt.date(2027, 3, 31), dt.date(2027, 6, 30)]


# --------------------------------------------------------------------------- the book (mc)

PORTFOLIO_TABLES = ("portfolio_summary", "portfolio_contributions",
                    "portfolio_concentration", "portfolio_distribution")


@pytest.mark.slow
@pytest.mark.parametrize("chunk_size", [1, 3])
def test_portfolio_tables_do_not_depend_on_chunks(tape, whole, chunk_size):
    rows, a = tape
    res = recalc(rows, a, RecalcOptions(n_paths=48, seed=11, chunk_size=chunk_size))
    for name in PORTFOLIO_TABLES:
        assert not getattr(whole, name).empty, name
        pd.testing.assert_frame_equal(getattr(res, name), getattr(whole, name),
                                      check_exact=True, obj=name)


def test_portfolio_is_the_sum_of_its_facilities(tape, whole):
    summary = whole.portfolio_summary.set_index("measure")["value"]
    contrib = whole.portfolio_contributions.set_index("facility_id")
    assert list(contrib.index) == list(whole.metrics.index)
    # undiscounted MC expected loss and the book's (discounted at the facilities' rates)
    assert summary["expected_loss"] <= whole.metrics["mc_expected_loss"].sum() + 1.0
    assert summary["expected_loss"] == pytest.approx(
        whole.metrics["mc_pv_expected_loss"].sum(), abs=0.01 * len(contrib))
    assert contrib["es_contribution"].sum() == pytest.approx(summary["es_99"])
    assert summary["es_99"] <= summary["sum_standalone_es_99"] + 1e-6
    conc = whole.portfolio_concentration.set_index(["dimension", "group"])
    for dim in ("borrower", "customer", "generation", "borrower_type"):
        part = conc.loc[dim]
        assert part["es_contribution"].sum() == pytest.approx(summary["es_99"])
        assert part["facilities"].sum() == len(contrib)
    assert whole.portfolio_distribution["paths"].sum() == 48


def test_big_tapes_keep_group_contributions_only(tape):
    rows, a = tape
    res = recalc(rows, a, RecalcOptions(n_paths=16, seed=2, run_scenarios=False,
                                        facility_contributions=False))
    assert res.portfolio_contributions.empty and not res.portfolio_concentration.empty
    assert "sum_borrower_es_99" in set(res.portfolio_summary["measure"])


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_periods_streamed_to_a_file_equal_the_kept_table(tape, tmp_path, suffix):
    from gpucredit.streaming import PeriodsWriter

    rows, a = tape
    options = RecalcOptions(n_paths=8, seed=3, run_scenarios=False, chunk_size=3)
    kept = recalc(rows, a, options)
    target = tmp_path / f"periods{suffix}"
    with PeriodsWriter(target) as sink:
        streamed = recalc(rows, a, options, periods_sink=sink)
    assert streamed.periods.empty
    back = pd.read_parquet(target) if suffix == ".parquet" else pd.read_csv(target)
    assert len(back) == len(kept.periods)
    assert list(back["facility_id"]) == list(kept.periods["facility_id"])
    for col in ("period", "cfads", "dscr"):
        np.testing.assert_allclose(back[col].to_numpy(float),
                                   kept.periods[col].to_numpy(float), rtol=1e-15)
    pd.testing.assert_frame_equal(streamed.metrics, kept.metrics, check_exact=True)


def test_a_failed_run_leaves_no_periods_file(tmp_path):
    from gpucredit.streaming import PeriodsWriter

    target = tmp_path / "periods.parquet"
    target.write_text("before")
    with pytest.raises(RuntimeError), PeriodsWriter(target) as sink:
        sink(pd.DataFrame({"facility_id": ["A"], "period": [1]}))
        raise RuntimeError("stop")
    assert target.read_text() == "before"
    assert not list(tmp_path.glob(".periods*"))


def test_customer_credit_columns_reach_the_model():
    """The tape's customer, backstop, liquidity and seniority columns and the Credit
    assumptions become Facilities fields (issue 9; interface with the Monte Carlo)."""
    records = [one(facility_id="C", contracted_share=0.5, contract_rate=2.6,
                   contract_end_date=dt.date(2028, 6, 30), counterparty_rating="aa-",
                   backstop_rating="AA+", termination_payment_months=6, dsra_amount=5e6,
                   seniority="senior_unsecured", gpu_model="GB200"),
               one(facility_id="D")]
    fac = convert(records, 4, refi_max_ltv=0.6)
    assert fac.counterparty_rating == ["AA-", None]
    assert fac.backstop_rating == ["AA+", None]
    np.testing.assert_array_equal(fac.termination_payment_months, [6.0, 0.0])
    np.testing.assert_array_equal(fac.releasing_lag_months, [6.0, 6.0])    # the defaults
    np.testing.assert_array_equal(fac.releasing_rent_factor, [0.85, 0.85])
    np.testing.assert_array_equal(fac.dsra_amount, [5e6, 0.0])
    assert fac.seniority == ["senior_unsecured", "secured"]
    assert fac.generation == ["blackwell", "hopper"]
    assert fac.refi_max_ltv == 0.6 and fac.recovery_senior_unsecured == 0.38
    assert fac.default_counterparty_rating == "B+"


def test_a_bad_rating_rejects_its_row_and_names_the_column():
    rows, a = typed_rows([one(facility_id="X", counterparty_rating="AAA-"), one(facility_id="Y")])
    fac, errors = facilities_from_rows(rows, a, 4)
    assert list(fac.ids) == ["Y"]
    assert errors[0]["column"] == "counterparty_rating"
    assert "counterparty_rating must be on S&P's scale" in errors[0]["message"]


def test_forward_curves_set_the_merchant_rent_paths():
    """An H100 spot curve dated the valuation date: a blank-rent H100 facility earns the
    curve at its tenors and 25% a year less beyond; a tape rent of 2.00 moves the curve to
    it (x 2.00 / 2.40); the B200 facility keeps its trend."""
    forwards = pd.DataFrame({"as_of": pd.Timestamp(VALUATION), "gpu_model": "H100",
                             "kind": "spot", "tenor_months": [0.0, 6.0, 12.0],
                             "rent": [2.40, 2.10, 1.90]})
    rows, a = typed_rows([one(facility_id="A"), one(facility_id="B", merchant_rent=2.00),
                          one(facility_id="C", gpu_model="B200", merchant_rent=3.00)])
    fac, errors = facilities_from_rows(rows, a, 4, forwards)
    assert errors == []
    path = fac.merchant_rent_path
    assert path[0, [0, 2, 4, 6]] == pytest.approx([2.40, 2.10, 1.90, 1.90 * 0.75 ** 0.5])
    assert path[0, 1] == pytest.approx((2.40 * 2.10) ** 0.5)
    assert path[1, [0, 2, 4]] == pytest.approx(np.array([2.40, 2.10, 1.90]) * 2.00 / 2.40)
    assert np.isnan(path[2]).all()
    assert fac.merchant_rent.tolist() == pytest.approx([2.40, 2.00, 3.00])
    plain, _ = facilities_from_rows(rows, a, 4)
    assert plain.merchant_rent_path is None
    ours = run_chunk(rows, a, RecalcOptions(forward_curves=forwards)).metrics
    trend = run_chunk(rows, a, RecalcOptions()).metrics
    ours, trend = ours["min_dscr"], trend["min_dscr"]
    assert ours["C"] == trend["C"] and ours["A"] != trend["A"]


def test_a_pd_rated_on_its_bound_is_shown_as_the_bound():
    """Fewer than credit.MIN_DEFAULTS defaulted paths: the worst table shows "< bound",
    never a bare 0.00%; enough defaults: the estimate itself."""
    from gpucredit.engine import _pd_shown

    rows = pd.DataFrame({"pd_annual": [0.0, 0.0012, 0.02],
                         "pd_annual_bound": [0.0009, 0.0031, 0.025],
                         "mc_n_defaults": [0, 9, 40]})
    assert _pd_shown(rows)["pd_annual"].tolist() == ["< 0.09%", "< 0.31%", 0.02]
    assert _pd_shown(rows.drop(columns="mc_n_defaults")).equals(rows.drop(
        columns="mc_n_defaults"))


# --------------------------------------------------------------------------- delayed draws


@pytest.mark.parametrize(("m", "end", "expected"), [
    (4, dt.date(2027, 6, 30), 4),     # a year of quarters
    (12, dt.date(2027, 6, 30), 12),
    (4, dt.date(2026, 10, 15), 2),    # a part period counts: a draw at its start
    (4, VALUATION, 0),                # over on the valuation date
    (4, dt.date(2025, 12, 31), 0),    # over before it
    (4, None, 0),                     # blank: no further draws
])
def test_availability_periods_to_the_availability_end(m, end, expected):
    fac = convert([one(periods_per_year=m, drawn_amount=15e6, availability_end_date=end)], m)
    assert list(fac.availability_periods) == [expected]


def _ddtl_run(**changes):
    """1,000 H100s, 20m committed, 15m drawn, no attrition (so revenue counts the GPUs
    installed), with 32 Monte Carlo paths."""
    rows, a = typed_rows([one(facility_id="DDTL", drawn_amount=15e6, **changes)],
                         attrition_rate=0.0)
    return run_chunk(rows, a, RecalcOptions(n_paths=32, seed=3))


def test_undrawn_commitment_is_drawn_over_the_availability_period():
    res = _ddtl_run(availability_end_date=dt.date(2027, 6, 30))
    m = res.metrics.loc["DDTL"]
    # 20m committed, 15m drawn: 5m over 4 quarters, each 1.25m buying 1.25m / 15,000 GPUs
    # (15m over 1,000 GPUs: the financed fleet's debt per GPU).
    assert (m["undrawn"], m["expected_draws"], m["debt"]) == (5e6, 5e6, 20e6)
    assert m["gpus_bought"] == pytest.approx(5e6 / 15_000)
    assert m["availability_end_date"] == pd.Timestamp(2027, 6, 30)
    p = res.periods.set_index("period")
    np.testing.assert_allclose(p["draw"].iloc[:6], [1.25e6] * 4 + [0.0] * 2)
    np.testing.assert_allclose(p["opening_balance"].iloc[0], 15e6)
    plain = _ddtl_run().periods.set_index("period")
    # Each draw adds 1.25m / 15,000 = 83.3 GPUs to the 1,000: 13/12 of the revenue, then
    # 14/12, 15/12 and 16/12 from the last draw on.
    np.testing.assert_allclose((p["revenue"] / plain["revenue"]).iloc[:6],
                               np.array([13, 14, 15, 16, 16, 16]) / 12)
    assert p["market_value"].iloc[3] > plain["market_value"].iloc[3]
    assert not res.errors and "mc_pd" in res.metrics


@pytest.mark.parametrize("end", [None, dt.date(2026, 3, 31), VALUATION])
def test_no_availability_left_is_todays_result(end):
    """A blank availability end, or one over by the valuation date, draws nothing: the
    same tables as a tape without the column's effect (undrawn shown, not drawn)."""
    plain = _ddtl_run()
    res = _ddtl_run(availability_end_date=end)
    pd.testing.assert_frame_equal(res.periods, plain.periods, check_exact=True)
    cols = [c for c in plain.metrics if c != "availability_end_date"]
    pd.testing.assert_frame_equal(res.metrics[cols], plain.metrics[cols], check_exact=True)
    assert res.metrics.loc["DDTL", "undrawn"] == 5e6
    assert res.metrics.loc["DDTL", "expected_draws"] == 0.0


def test_investment_grade_contracts_without_a_rating_are_taken_at_bbb_minus():
    """ig_contracts TRUE and no counterparty rating: the customer is BBB-, the lowest
    investment-grade notch; a rating given wins; FALSE leaves the default to the model."""
    rows, a = typed_rows([one(facility_id="A", ig_contracts=True),
                          one(facility_id="B", ig_contracts=True, counterparty_rating="AA-"),
                          one(facility_id="C", ig_contracts=False)])
    fac, errors = facilities_from_rows(rows, a, 4)
    assert errors == []
    assert list(fac.counterparty_rating) == ["BBB-", "AA-", None]
