"""What a worksheet call costs on top of the core: classic COM path, Office.js path.

For one scalar call and one array call over 10,000 facilities, it times, in one run:

* ``core``      - the bare core function on numpy arrays;
* ``udf``       - the GPU_ function called as plain Python with 2-D lists (gpucredit's own
  conversion: lists of cells in, lists of cells out);
* ``classic``   - ``xlwings.udfs.call_udf`` in a child process with COM stubbed, the
  function Excel's VBA wrappers call (xlwings' conversion of COM values both ways);
* ``officejs``  - ``xlwings.server.custom_functions_call`` in a child process with the
  Office.js runtime (what xlwings Lite runs in Pyodide, minus the browser).

Each figure is the best of several repetitions; the child processes time their calls
themselves, so the pipe between processes is not counted. Excel's own cost (COM
marshalling, the Office.js bridge, recalculation) comes on top and is not measured here.

Run: ``python bench/bench_udfs.py`` (``make bench`` runs every benchmark).
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gpucredit import coverage, pricing, udfs  # noqa: E402

N_FAC = 10_000
N_PER = 12
REPEAT = 5


def _harness():
    spec = importlib.util.spec_from_file_location(
        "gpucredit_excel_runtime_harness", ROOT / "tests" / "excel_runtime" / "harness.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def best(fn, repeat: int = REPEAT) -> float:
    t = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        t = min(t, time.perf_counter() - t0)
    return t


def cases():
    rng = np.random.default_rng(7)
    spreads = rng.uniform(0.01, 0.10, N_FAC)
    cfads = rng.uniform(50.0, 150.0, (N_FAC, N_PER))
    ds = np.full((N_FAC, N_PER), 100.0)
    return [
        # name, UDF, core call, cells for the UDF, core arguments
        ("GPU_HAZARD_RATE, one cell", "GPU_HAZARD_RATE",
         lambda: pricing.hazard_rate(0.045, 0.4), ([[0.045]], [[0.4]])),
        (f"GPU_HAZARD_RATE, {N_FAC:,} x 1", "GPU_HAZARD_RATE",
         lambda: pricing.hazard_rate(spreads, 0.4), ([[s] for s in spreads.tolist()], [[0.4]])),
        ("GPU_DSCR, one cell", "GPU_DSCR",
         lambda: coverage.dscr(np.array([120.0]), np.array([100.0])), ([[120.0]], [[100.0]])),
        (f"GPU_DSCR, {N_FAC:,} x {N_PER}", "GPU_DSCR",
         lambda: coverage.dscr(cfads, ds), (cfads.tolist(), ds.tolist())),
    ]


def main() -> None:
    h = _harness()
    rows = []
    with h.Runtime("classic") as classic, h.Runtime("officejs") as officejs:
        for label, name, core_call, cells in cases():
            fn = getattr(udfs, name)
            t_core = best(core_call)
            t_udf = best(lambda fn=fn, cells=cells: fn(*cells))
            t_classic = classic.request("time", func=name, args=[h.rng(c) for c in cells],
                                        repeat=REPEAT)["seconds"]
            t_js = officejs.request("time", func=name, args=list(cells),
                                    repeat=REPEAT)["seconds"]
            rows.append((label, t_core, t_udf, t_classic, t_js))
    print(f"Worksheet-call overhead (best of {REPEAT}; seconds, and ratio to the bare core)")
    print(f"{'call':<28}{'core':>11}{'udf':>20}{'classic COM':>20}{'Office.js':>20}")
    for label, t_core, t_udf, t_classic, t_js in rows:
        cells = "".join(f"{t:>11.6f} ({t / t_core:>5.0f}x)" for t in (t_udf, t_classic, t_js))
        print(f"{label:<28}{t_core:>11.6f}{cells}")


if __name__ == "__main__":
    main()
