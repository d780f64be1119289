"""Facilities as objects: GPU_FACILITY handles through both xlwings runtimes.

Each runtime runs in its own process (tests/excel_runtime/harness.py): classic xlwings
with COM stubbed, and the Office.js code xlwings Lite runs. Expected numbers come from
the core called directly (gpucredit.model.evaluate / simulate): the face must add nothing
to them, only carry them into cells. Independent checks of the core's numbers live in
tests/test_model.py.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from gpucredit import model, udfs

HERE = Path(__file__).resolve().parent


def _harness():
    name = "gpucredit_excel_runtime_harness"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE / "excel_runtime" / "harness.py")
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


h = _harness()
E = [[None]]
FAC = [["gpus", 1000.0], ["gpu_unit_cost", 30000.0], ["merchant_rent", 2.4],
       ["utilization", 0.85], ["debt", 18e6], ["annual_rate", 0.1], ["tenor", 48.0]]
CORE = model.Facilities(gpus=1000, gpu_unit_cost=30000, merchant_rent=2.4, utilization=0.85,
                        debt=18e6, annual_rate=0.1, tenor=48)
START = dt.date(2026, 1, 31)


def serial(d: dt.date) -> int:
    return (d - dt.date(1899, 12, 30)).days


class Officejs:
    """Calls as xlwings Lite sends them (omitted: [[None]])."""

    def __init__(self, rt):
        self.rt = rt

    def __call__(self, name, *args):
        return self.rt.call(name, *[E if a is None else a for a in args])


class Classic:
    """Calls as the VBA wrappers send them (omitted: COM's missing; cells: Ranges)."""

    def __init__(self, rt):
        self.rt = rt

    def __call__(self, name, *args):
        return self.rt.call(name, *[h.MISSING if a is None else h.rng(a) for a in args])


@pytest.fixture(scope="module", params=["officejs", "classic"])
def xl(request):
    with h.Runtime(request.param) as rt:
        yield (Officejs if request.param == "officejs" else Classic)(rt)


def _handle(out):
    assert isinstance(out, list) and isinstance(out[0][0], str), out
    return out[0][0]


def test_handle_changes_with_inputs_and_only_then(xl):
    a = _handle(xl("GPU_FACILITY", FAC, None, None))
    assert a.startswith("gpu.fac:")
    assert a == _handle(xl("GPU_FACILITY", FAC, None, None))  # recalculated: same text
    cheaper = [r if r[0] != "merchant_rent" else ["merchant_rent", 2.0] for r in FAC]
    assert _handle(xl("GPU_FACILITY", cheaper, None, None)) != a
    assert _handle(xl("GPU_FACILITY", FAC, [[4]], None)) != a  # another time grid
    assert _handle(xl("GPU_FACILITY", FAC, [[12]], None)) == a  # 12 is the default


def test_metrics_are_the_cores(xl):
    a = _handle(xl("GPU_FACILITY", FAC, None, None))
    expected = model.evaluate(CORE, 12).metrics.iloc[0]
    for field in ("min_dscr", "llcr", "plcr", "breakeven_rent", "max_ltv_market"):
        got = xl("GPU_FACILITY_METRICS", [[a]], [[field]], None)
        assert got == [[pytest.approx(expected[field], rel=1e-12)]], field
    table = xl("GPU_FACILITY_METRICS", [[a]], None, None)
    assert table[0] == ["Metric", "Value"]
    assert dict(map(tuple, table[1:]))["min_dscr"] == pytest.approx(expected["min_dscr"])
    assert xl("GPU_FACILITY_METRICS", [[a]], None, [[False]]) == table[1:]


def test_schedule_spills_dated_periods_that_follow_the_tenor(xl):
    a = _handle(xl("GPU_FACILITY", FAC, None, [[serial(START)]]))
    header, *rows = xl("GPU_FACILITY_SCHEDULE", [[a]], None)
    assert header[:2] == ["Period", "Period end"]
    assert len(rows) == 48  # the tenor, in months
    ends = [r[1] for r in rows]
    first, last = ends[0], ends[-1]
    if isinstance(first, (int, float)):  # Office.js: serial numbers
        first, last = (dt.date(1899, 12, 30) + dt.timedelta(days=int(v)) for v in (first, last))
    else:
        first, last = first.date(), last.date()
    assert (first, last) == (dt.date(2026, 2, 28), dt.date(2030, 1, 31))  # month ends kept
    ev = model.evaluate(CORE, 12)
    col = header.index("DSCR")
    np.testing.assert_allclose([r[col] for r in rows], ev.dscr[0, :48], rtol=1e-12)
    col = header.index("Closing balance")
    np.testing.assert_allclose([r[col] for r in rows], ev.schedule.closing[0, :48],
                               rtol=1e-12, atol=1e-6)


def test_portfolio_lists_each_handle(xl):
    a = _handle(xl("GPU_FACILITY", FAC, None, None))
    b = _handle(xl("GPU_FACILITY", [r if r[0] != "debt" else ["debt", 9e6] for r in FAC],
                   None, None))
    got = xl("GPU_PORTFOLIO", [[a], [None], [b]], [["debt,min_dscr"]], None)
    assert got[0] == ["Facility", "debt", "min_dscr"]
    assert [r[:2] for r in got[1:]] == [[a, 18e6], [b, 9e6]]


def test_monte_carlo_is_the_cores(xl):
    a = _handle(xl("GPU_FACILITY", FAC, None, None))
    got = xl("GPU_FACILITY_MC", [[a]], [[500]], [[3]], [["pd"]], None)
    expected = model.simulate(CORE, 12, n_paths=500, seed=3).iloc[0]["pd"]
    assert got == [[pytest.approx(expected, rel=1e-12)]]


def _error_text(out) -> str:
    """The message of a failed call, whichever way the runtime shows it."""
    if isinstance(out, dict):  # Office.js: #VALUE! with the message
        assert out["$excel_error"] == "#VALUE!" and out["exception"] == "XlwingsError"
        return out["message"]
    text = out[0][0] if isinstance(out, list) else out
    assert text.startswith(udfs.ERROR_PREFIX)
    return text.removeprefix(udfs.ERROR_PREFIX)


def test_bad_handles_and_budgets_are_refused_clearly(xl):
    assert "must be a gpu.fac handle" in _error_text(
        xl("GPU_FACILITY_METRICS", [["not a handle"]], None, None))
    gone = "gpu.fac:000000000000"
    assert "no longer in memory" in _error_text(xl("GPU_FACILITY_SCHEDULE", [[gone]], None))
    long = [r if r[0] != "tenor" else ["tenor", 1e8] for r in FAC]
    assert "at most 1,200" in _error_text(xl("GPU_FACILITY", long, None, None))
    a = _handle(xl("GPU_FACILITY", FAC, None, None))
    assert "at most 200,000 paths" in _error_text(
        xl("GPU_FACILITY_MC", [[a]], [[1e8]], None, None, None))
    # 100,000 paths x 60 periods (the tenor's 48 months, the asset's 5-year life) is over
    # the 5,000,000 path-periods one cell may ask for: refused before any simulation
    assert "100,000 paths x 60 periods is 6,000,000 path-periods" in _error_text(
        xl("GPU_FACILITY_MC", [[a]], [[1e5]], None, None, None))
    two = [["gpus", "debt", "gpu_unit_cost", "merchant_rent", "utilization", "annual_rate",
            "tenor"], [1000.0, 1e6, 3e4, 2.4, 0.85, 0.1, 48.0], [500.0, 1e6, 3e4, 2.4, 0.85,
                                                                  0.1, 48.0]]
    assert "one facility" in _error_text(xl("GPU_FACILITY", two, None, None))


# ----------------------------------------------------------------------------- in process

def test_monte_carlo_runs_once_per_inputs(monkeypatch):
    """The cache: recalculating a GPU_FACILITY_MC cell does not rerun the simulation."""
    calls = []
    real = model.simulate

    @functools.wraps(real)  # the face reads the core's defaults from its signature
    def counting(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(model, "simulate", counting)
    a = udfs.GPU_FACILITY(FAC, None, None)
    first = udfs.GPU_FACILITY_MC([[a]], [[300]], [[11]], None, None)
    assert udfs.GPU_FACILITY_MC([[a]], [[300]], [[11]], None, None) == first
    assert len(calls) == 1
    udfs.GPU_FACILITY_MC([[a]], [[300]], [[12]], None, None)  # another seed: a new run
    assert len(calls) == 2


def test_facility_cache_is_bounded():
    from gpucredit.excel import handles

    assert udfs._FACILITIES.capacity == handles.CAPACITY
    assert udfs._RESULTS.capacity == handles.CAPACITY
    for k in range(handles.CAPACITY + 5):
        udfs._FACILITIES.put("gpu.test", k, k)
    assert len(udfs._FACILITIES) == handles.CAPACITY


def test_schedule_fills_a_fixed_range_with_empty_cells_after_the_tenor(xl):
    a = _handle(xl("GPU_FACILITY", FAC, None, [[serial(START)]]))
    rows = xl("GPU_FACILITY_SCHEDULE", [[a]], [[False]], [[60]])
    assert len(rows) == 60 and rows[:48] == xl("GPU_FACILITY_SCHEDULE", [[a]], [[False]])
    assert all(v in ("", None) for r in rows[48:] for v in r)  # empty, not #N/A
    short = _error_text(xl("GPU_FACILITY_SCHEDULE", [[a]], None, [[12]]))
    assert "periods is 12 but the facility runs 48 periods" in short
