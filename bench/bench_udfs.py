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

A second table shows what a facility handle saves: making ``GPU_FACILITY`` (the core's
``model.evaluate``) and a first ``GPU_FACILITY_MC`` (``model.simulate``) beside reading a
metric or the cached simulation through the handle, in both runtimes, in the same run.

A third table shows what loading costs before the first call: ``import gpucredit.udfs``
(every Excel session that loads the add-in, xlwings Lite, recalc-workbook) and ``import
gpucredit.cli`` (every command), each in a fresh interpreter, beside a bare interpreter,
with the heavy libraries each left loaded (none of scipy.stats, scipy.optimize and
scipy.signal is needed to load them; tests/test_startup.py holds that).

Run: ``python bench/bench_udfs.py`` (``make bench`` runs every benchmark).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from gpucredit import coverage, model, pricing, udfs  # noqa: E402

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


FACILITY = [["gpus", 4096.0], ["gpu_unit_cost", 30000.0], ["merchant_rent", 2.42],
            ["utilization", 0.8], ["debt", 73.728e6], ["annual_rate", 0.11], ["tenor", 60.0]]
MC_PATHS = 5000


def handles() -> None:
    """A facility defined once: the core's cost beside the handle's, both runtimes."""
    h = _harness()
    fac = model.Facilities(**{k: v for k, v in FACILITY})
    t_eval = best(lambda: model.evaluate(fac, 12))
    t_sim = best(lambda: model.simulate(fac, 12, n_paths=MC_PATHS, seed=1), repeat=2)
    rows = []
    with h.Runtime("classic") as classic, h.Runtime("officejs") as officejs:
        for kind, rt, wrap, empty in (("classic", classic, h.rng, h.MISSING),
                                      ("Office.js", officejs, lambda c: c, [[None]])):
            made = rt.request("time", func="GPU_FACILITY", args=[wrap(FACILITY), empty, empty],
                              repeat=1)
            handle = [[made["result"][0][0]]]
            metric = rt.request("time", func="GPU_FACILITY_METRICS",
                                args=[wrap(handle), wrap([["min_dscr"]]), empty],
                                repeat=REPEAT)["seconds"]
            mc_args = [wrap(handle), wrap([[MC_PATHS]]), wrap([[1]]), wrap([["pd"]]), empty]
            first = rt.request("time", func="GPU_FACILITY_MC", args=mc_args, repeat=1)
            again = rt.request("time", func="GPU_FACILITY_MC", args=mc_args,
                               repeat=REPEAT)["seconds"]
            rows.append((kind, made["seconds"], metric, first["seconds"], again))
    print(f"\nA facility defined once (60 monthly periods; Monte Carlo {MC_PATHS:,} paths)")
    print(f"core model.evaluate {t_eval:.4f} s; core model.simulate {t_sim:.4f} s")
    print(f"{'runtime':<12}{'GPU_FACILITY':>14}{'METRICS(h)':>22}{'MC first':>14}"
          f"{'MC cached':>24}")
    for kind, made, metric, first, again in rows:
        print(f"{kind:<12}{made:>14.4f}{metric:>12.6f} ({t_eval / metric:>5.0f}x less)"
              f"{first:>14.4f}{again:>12.6f} ({first / again:>5.0f}x less)")


STARTUP = [("bare interpreter", "pass"), ("import gpucredit.udfs", "import gpucredit.udfs"),
           ("import gpucredit.cli", "import gpucredit.cli")]
HEAVY = ["numpy", "pandas", "scipy.special", "scipy.stats", "scipy.optimize", "scipy.signal",
         "xlwings"]


def startup(repeat: int = REPEAT) -> None:
    """Import time of the worksheet functions and the CLI, each in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
    print(f"\nStart-up (fresh interpreter each time; best of {repeat}, wall seconds)")
    print(f"{'':<24}{'seconds':>9}  heavy libraries loaded")
    for label, code in STARTUP:
        probe = (f"{code}\nimport json, sys\n"
                 f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
        t, loaded = float("inf"), []
        for _ in range(repeat):
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", probe], env=env, check=True,
                                 capture_output=True, text=True).stdout
            t = min(t, time.perf_counter() - t0)
            loaded = json.loads(out.splitlines()[-1])
        print(f"{label:<24}{t:>9.3f}  {', '.join(loaded) or '-'}")


if __name__ == "__main__":
    main()
    handles()
    startup()
