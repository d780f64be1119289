"""Hostile arguments for every worksheet function, through both xlwings runtimes.

A seeded fuzzer, bounded in time (:data:`SECONDS` per runtime), replaces the arguments of
valid calls (tests/excel_runtime/samples.py) with what a spreadsheet can hold: huge and
tiny numbers, negative counts, 10^8 periods or paths, text, formulas as text, booleans,
error cells, dates, empty ranges, large blocks, ranges of the wrong shape. Every call
must come back as Excel would show it, within the budgets below:

* no exception escapes: classic answers without ``call_udf`` raising; Office.js raises
  nothing but ``xlwings.XlwingsError`` (whose message Excel shows on #VALUE!);
* no message worded as a bug ("unexpected ...");
* no non-finite number in any cell;
* each call within :data:`CALL_SECONDS` of wall time, and the runtime process within
  :data:`PEAK_RSS_BYTES` of resident memory at its peak (``VmHWM``).
"""

from __future__ import annotations

import importlib.util
import inspect
import math
import random
import sys
import time
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

SECONDS = 12.0
"""Fuzzing time per runtime."""
CALL_SECONDS = 20.0
"""Budget of one call, wall time through the runtime (IPC included): the largest Monte
Carlo one cell may ask for (udfs.LIMITS) takes about 4 s, on a 2-core machine shared with
other work."""
PEAK_RSS_BYTES = 1_500_000_000
"""Budget of the runtime process's peak resident memory over the whole run."""

COM_ERRORS = list(h.COM_ERRORS.values())
JS_ERRORS = [{"type": "Error", "basicValue": k, "errorType": t} for k, t in
             (("#DIV/0!", "Div0"), ("#N/A", "NotAvailable"), ("#REF!", "Ref"),
              ("#VALUE!", "Value"), ("#NUM!", "Num"))]


def _scalar(rng: random.Random, kind: str):
    pick = rng.randrange(16)
    if pick == 0:
        return rng.choice([1e308, -1e308, 1e-308, 5e-324])
    if pick == 1:
        return rng.choice([1e8, 1e9, 2**53, -1e8, 123456789.5])
    if pick == 2:
        return rng.choice([-1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 12.0, 13.0])
    if pick == 3:
        return rng.choice(["", " ", "abc", "=1+1", "#REF!", "1e400", "NaN", "inf", "H100",
                           "gaussian", "bullet", "min_dscr", "2024-02-30", "\x1b[2J",
                           "x" * 5000])
    if pick == 4:
        return rng.choice([True, False])
    if pick == 5:
        return rng.choice(COM_ERRORS if kind == "classic" else JS_ERRORS)
    if pick == 6:
        return None
    if pick == 7:
        return rng.choice(["gpu.fac:000000000000", "gpu.fac:", "gpu.mc:abc"])
    return rng.uniform(-1e6, 1e6) if pick < 12 else rng.uniform(0, 2)


def _block(rng: random.Random, kind: str, sample):
    shape = rng.randrange(6)
    if shape == 0:
        rows, cols = 1, 1
    elif shape == 1:
        rows, cols = len(sample), len(sample[0])
    elif shape == 2:
        rows, cols = rng.randrange(1, 300), 1
    elif shape == 3:
        rows, cols = 1, rng.randrange(1, 300)
    elif shape == 4:
        rows, cols = rng.randrange(1, 40), rng.randrange(1, 40)
    else:
        rows, cols = len(sample), len(sample[0]) + 1
    return [[_scalar(rng, kind) for _ in range(cols)] for _ in range(rows)]


def _mutate(rng: random.Random, kind: str, args: list) -> list:
    out = [list(map(list, a)) if isinstance(a, list) else a for a in args]
    many = rng.random() < 0.3  # mostly one argument at a time, so calls get past the first
    for i in rng.sample(range(len(out)), k=rng.randrange(1, len(out) + 1) if many else 1):
        if rng.random() < 0.5 and isinstance(out[i], list) and out[i] and out[i][0]:
            r, c = rng.randrange(len(out[i])), rng.randrange(len(out[i][0]))
            out[i][r][c] = _scalar(rng, kind)
        else:
            out[i] = _block(rng, kind, out[i] if isinstance(out[i], list) else [[None]])
    return out


def _args(name: str, handle: str) -> list:
    params = list(inspect.signature(getattr(udfs, name)).parameters)
    req = [[[handle for _ in row] for row in a] if a[0][0] == samples.HANDLE else a
           for a in samples.REQUIRED[name]]
    return req + [[[None]] for _ in params[len(req):]]


def _send(kind: str, args: list) -> list:
    if kind == "officejs":
        return args
    return [h.rng(a) for a in args]


def _cells(value):
    if isinstance(value, list):
        for v in value:
            yield from _cells(v)
    else:
        yield value


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["classic", "officejs"])
def test_hostile_arguments_never_break_a_call(kind):
    rng = random.Random(20261206)
    names = udfs.udf_names()
    calls, problems = 0, []
    with h.Runtime(kind) as rt:
        facility = samples.FACILITY
        made = rt.call("GPU_FACILITY", *_send(kind, [facility, [[None]], [[None]]]))
        handle = made[0][0]
        deadline = time.monotonic() + SECONDS
        while time.monotonic() < deadline:
            name = names[calls % len(names)]
            args = _mutate(rng, kind, _args(name, handle))
            t0 = time.perf_counter()
            try:
                out = rt.call(name, *_send(kind, args))
            except h.RuntimeError_ as exc:  # an exception escaped xlwings' call
                problems.append((name, args, f"raised: {str(exc)[:300]}"))
                continue
            finally:
                calls += 1
            took = time.perf_counter() - t0
            if took > CALL_SECONDS:
                problems.append((name, args, f"took {took:.1f} s"))
            if isinstance(out, dict) and "$excel_error" in out:
                if out["exception"] != "XlwingsError":
                    problems.append((name, args, f"{out['exception']} escaped"))
                message = out["message"]
            else:
                message = next((v for v in _cells(out) if isinstance(v, str)
                                and v.startswith(udfs.ERROR_PREFIX)), "")
                bad = [v for v in _cells(out) if isinstance(v, float) and not math.isfinite(v)]
                if bad:
                    problems.append((name, args, f"non-finite {bad[:3]}"))
            if "unexpected" in message:
                problems.append((name, args, message))
        peak = _peak_rss(rt.proc.pid)
    assert calls > 100, calls
    assert peak < PEAK_RSS_BYTES, f"{peak / 1e9:.2f} GB"
    shown = "\n".join(f"{n}: {why} <- {str(a)[:200]}" for n, a, why in problems[:15])
    assert not problems, f"{len(problems)} of {calls} calls:\n{shown}"
