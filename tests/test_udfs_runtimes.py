"""Every worksheet function means the same through both xlwings runtimes.

One test drives every function with its optional arguments left out, pointed at empty
cells, and set to 0, through classic xlwings (COM values, ``xlwings.udfs.call_udf``) and
through the Office.js code xlwings Lite runs (``custom_functions_call``), and compares
what Excel would show. What each runtime sends (tests/excel_runtime/harness.py):

* omitted: COM's "missing" marker (classic), ``[[None]]`` (Office.js); xlwings maps both
  to the parameter's default;
* an empty cell: a Range whose value is ``None`` (classic); JavaScript ``null``, Pyodide's
  ``JsNull`` in xlwings Lite, which xlwings reads as ``None`` so that "empty Excel cells
  trigger optional-argument defaults" (``xlwings.pro.udfs_officejs.js_to_none``);
* zero: ``0.0`` (classic) and ``0`` (Office.js);
* an empty cell as Excel desktop's Office.js sends it for an optional argument, ``0``
  (OfficeDev/office-js #4702, #5262), which must mean what classic's empty cell means
  except for the arguments of ``udfs.ZERO_IS_A_VALUE``, where 0 is read as 0.

The runtimes show results differently, so answers are compared after a small
normalisation: an error is ``("error", message)`` (classic ``#GPU! message`` text,
Office.js ``#VALUE!`` with the message); a missing value is ``"missing"`` (classic empty,
Office.js ``#N/A``); a date is its serial number.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import inspect
import math
import sys
from pathlib import Path

import pytest

from gpucredit import udfs

HERE = Path(__file__).resolve().parent


def _load(name, file):
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE / "excel_runtime" / file)
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


h = _load("gpucredit_excel_runtime_harness", "harness.py")
samples = _load("gpucredit_excel_runtime_samples", "samples.py")
NAMES = udfs.udf_names()


def test_samples_cover_every_function():
    assert sorted(samples.REQUIRED) == NAMES
    for name, args in samples.REQUIRED.items():
        params = inspect.signature(getattr(udfs, name)).parameters.values()
        required = [p for p in params if p.default is inspect.Parameter.empty]
        assert len(args) == len(required), name


def canon(value):
    """What Excel shows, in a form both runtimes share (module docstring)."""
    if isinstance(value, dict) and "$excel_error" in value:
        return ("error", value["message"])
    rows = value if isinstance(value, list) else [[value]]  # classic: a scalar is one cell
    if len(rows) == 1 and len(rows[0]) == 1 and isinstance(rows[0][0], str) \
            and rows[0][0].startswith(udfs.ERROR_PREFIX):
        return ("error", rows[0][0].removeprefix(udfs.ERROR_PREFIX))
    return [[_cell(v) for v in row] for row in rows]


def _cell(value):
    if isinstance(value, dict):
        if value.get("type") == "Error":
            return "missing" if value["errorType"] == "NotAvailable" else value["errorType"]
        if value.get("type") == "FormattedNumber":
            return _cell(value["basicValue"])
    if isinstance(value, str):
        return "missing" if value == "#N/A" else value  # classic: GpuValue makes it #N/A
    if isinstance(value, dt.datetime):
        return _cell((value - dt.datetime(1899, 12, 30)).total_seconds() / 86400.0)
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return pytest.approx(float(value), rel=1e-9, abs=1e-12)
    return value


def _runtime_args(kind, rt, name, optional_as):
    """Required sample arguments plus every optional one as ``optional_as`` says."""
    args = []
    for a in samples.REQUIRED[name]:
        if a and a[0] and a[0][0] == samples.HANDLE:
            a = [[_handle(kind, rt)] for _ in a]
        args.append(a if kind == "officejs" else h.rng(a))
    params = list(inspect.signature(getattr(udfs, name)).parameters)
    for _ in params[len(args):]:
        args.append(optional_as[kind])
    return args


_HANDLES = {}


def _handle(kind, rt):
    if kind not in _HANDLES:
        facility = samples.FACILITY
        out = rt.call("GPU_FACILITY", *([facility, [[None]], [[None]]] if kind == "officejs"
                                        else [h.rng(facility), h.MISSING, h.MISSING]))
        _HANDLES[kind] = out[0][0]
    return _HANDLES[kind]


OMITTED = {"officejs": [[None]], "classic": h.MISSING}
EMPTY_CELL = {"officejs": [[h.JSNULL]], "classic": h.rng([[None]])}
ZERO = {"officejs": [[0]], "classic": h.rng([[0.0]])}


@pytest.fixture(scope="module")
def runtimes():
    with h.Runtime("officejs") as js, h.Runtime("classic") as com:
        yield {"officejs": js, "classic": com}


def _answers(runtimes, name, optional_as):
    return {kind: canon(rt.call(name, *_runtime_args(kind, rt, name, optional_as)))
            for kind, rt in runtimes.items()}


@pytest.mark.parametrize("name", NAMES)
def test_omitted_empty_and_zero_mean_the_same_in_both_runtimes(runtimes, name):
    omitted = _answers(runtimes, name, OMITTED)
    empty = _answers(runtimes, name, EMPTY_CELL)
    zero = _answers(runtimes, name, ZERO)
    # the handle differs between runtimes only if its inputs did: they did not
    assert omitted["officejs"] == omitted["classic"], name
    assert empty["officejs"] == empty["classic"], name
    assert empty["classic"] == omitted["classic"], name  # an empty cell is "left out"
    assert zero["officejs"] == zero["classic"], name
    assert not (isinstance(omitted["classic"], tuple) and omitted["classic"][0] == "error"), \
        (name, omitted["classic"])  # the samples are valid: defaults give an answer


EMPTY_AS_ZERO = {"officejs": [[0]], "classic": h.rng([[None]])}
"""An empty cell as Excel desktop's Office.js sends it (OfficeDev/office-js #4702, #5262),
beside the same empty cell through classic xlwings."""


@pytest.mark.parametrize("name", NAMES)
def test_a_build_that_sends_0_for_an_empty_cell_differs_only_where_0_is_a_value(runtimes,
                                                                                  name):
    params = list(inspect.signature(getattr(udfs, name)).parameters)
    zero_is_a_value = udfs.ZERO_IS_A_VALUE.get(name, ())
    assert set(zero_is_a_value) <= set(params), name
    for i in range(len(samples.REQUIRED[name]), len(params)):  # one optional at a time
        got = {}
        for kind, rt in runtimes.items():
            args = _runtime_args(kind, rt, name, OMITTED)
            args[i] = EMPTY_AS_ZERO[kind]
            got[kind] = canon(rt.call(name, *args))
        if params[i] in zero_is_a_value:  # documented: 0 is read as 0, not as empty
            args = _runtime_args("classic", runtimes["classic"], name, OMITTED)
            args[i] = ZERO["classic"]
            assert got["officejs"] == canon(runtimes["classic"].call(name, *args)), \
                (name, params[i])
        else:
            assert got["officejs"] == got["classic"], (name, params[i])


def test_docs_list_every_argument_where_0_is_a_value():
    text = (HERE.parent / "docs" / "excel.md").read_text()
    for name, args in udfs.ZERO_IS_A_VALUE.items():
        line = f"- `{name}`: " + ", ".join(f"`{a}`" for a in args)
        assert line in text, line


def _finite(value) -> bool:
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return not isinstance(value, float) or math.isfinite(value)


LABEL_TABLES = {  # function -> (index of its field argument, a key and the row it labels)
    "GPU_MERTON": (5, "pd", "PD"),
    "GPU_FIT_CURVE": (3, "rmse", "RMSE"),
    "GPU_FIT_RENT_TREND": (3, "deflation", "Annual deflation"),
    "GPU_MONTE_CARLO": (13, "pd", "PD over the tenor"),
    "GPU_FACILITY_METRICS": (1, "min_dscr", "min_dscr"),
    "GPU_FACILITY_MC": (3, "pd", "PD over the tenor"),
}


@pytest.mark.parametrize("name", sorted(LABEL_TABLES))
def test_every_label_table_has_a_field_selector_and_drops_its_header(runtimes, name):
    index, key, label = LABEL_TABLES[name]
    for kind, rt in runtimes.items():
        args = _runtime_args(kind, rt, name, OMITTED)
        table = canon(rt.call(name, *args))
        assert table[0][1] in ("Value",), (name, kind, table[0])
        row = next(r for r in table if r[0] == label)
        args[index] = [[key]] if kind == "officejs" else h.rng([[key]])
        assert canon(rt.call(name, *args)) == [[row[1]]], (name, kind)
        args[index] = OMITTED[kind]
        args[index + 1] = [[False]] if kind == "officejs" else h.rng([[False]])
        assert canon(rt.call(name, *args)) == table[1:], (name, kind)
