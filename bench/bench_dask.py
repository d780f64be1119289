"""Benchmark the Dask engine against the local engine on one machine.

Run ``python bench/bench_dask.py`` (``--quick`` for a smoke run of a few tens of seconds).
Three measurements, printed as tables:

1. **Same tape, both engines.** A generated tape (2,000 facilities, every GPU model,
   payment frequency, rate type and amortisation) recalculated with the Monte Carlo
   (1,000 paths) and the scenario grid, by the local engine (one process) and by the
   Dask engine on a local cluster of two single-threaded worker processes. Wall times
   and their ratio; CPU-seconds of each engine (for Dask: workers, nannies, scheduler
   and client), which other processes on a shared machine do not inflate, Dask's extra
   CPU per chunk and the speed-up they imply on idle cores; a check that the tables are
   equal.
2. **What Dask adds per chunk.** (a) a chunk that does nothing (one tape row in,
   ``len`` out): the round trip of one chunk alone (submit, schedule, run, gather) and
   the wall time per chunk of many in flight; (b) the pickled size of a real chunk's
   rows and result and the time to pickle and unpickle them (the bytes that cross the
   network); (c) real one-facility chunks through both engines: Dask's extra CPU per
   chunk, ``(CPU_dask - CPU_local) / N``, client, scheduler, nannies and workers
   included.
3. **Cost of a 120-month facility.** Monthly ten-year loans without the Monte Carlo and
   with 1,000 and 4,000 paths: seconds per facility, the cost of 1,000 more paths, the
   extrapolation to 10,000 paths, the peak memory (tracemalloc) of a chunk and the size
   of a facility's results - the inputs of the estimate in ``docs/scale.md``.

Each timing is the fastest of ``--repeat`` runs (2; 1 with ``--quick``), local and Dask
runs interleaved. The machine's load average is printed at the start and the end. On a
shared machine wall times mislead: Linux groups a session's processes for CPU shares
(``kernel.sched_autogroup_enabled``), so when another session is busy, the two Dask
workers share about the one core the local engine had alone. The CPU-seconds are not
inflated by other processes and give the speed-up on idle cores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import pickle
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import psutil  # a dependency of distributed

try:
    from gpucredit.distributed import dask_mapper
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from gpucredit.distributed import dask_mapper

from gpucredit.engine import RecalcOptions, recalc, run_chunk
from gpucredit.tape.validate import validate_file

VALUATION = dt.date(2026, 11, 21)
_MODELS = ("A100", "H100", "H200", "B200", "GB200")
_UNIT_COST = {"A100": 15_000, "H100": 28_000, "H200": 32_000, "B200": 40_000,
              "GB200": 42_000}


def tape_frame(n: int, seed: int = 0, *, monthly_ten_years: bool = False) -> pd.DataFrame:
    """``n`` illustrative facilities (the same pattern as tests/test_distributed.py).

    ``monthly_ten_years``: every loan monthly, maturing 2036-11-20 (120 periods from the
    valuation date), for the per-facility cost at 120 months.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        model = _MODELS[i % 5]
        gpus = int(rng.integers(64, 20_000))
        cost = _UNIT_COST[model] * gpus
        floating, miner, contracted = i % 3 == 0, i % 4 == 0, i % 2 == 0
        rows.append({
            "facility_id": f"F{i:06d}", "borrower": f"Borrower {i % 97}",
            "borrower_type": "miner" if miner else "neocloud", "gpu_model": model,
            "gpu_count": gpus, "delivery_date": f"202{4 + i % 2}-0{1 + i % 9}-15",
            "gpu_unit_cost": _UNIT_COST[model], "commitment": round(0.8 * cost),
            "drawn_amount": round(0.75 * cost), "origination_date": "2025-01-15",
            "maturity_date": "2036-11-20" if monthly_ten_years else f"20{28 + i % 4}-06-30",
            "rate_type": "floating" if floating else "fixed",
            "fixed_rate": "" if floating else round(0.07 + 0.04 * rng.random(), 4),
            "spread": round(0.05 + 0.02 * rng.random(), 4) if floating else "",
            "amortization": ("annuity", "straight_line", "bullet", "sculpted")[i % 4],
            "periods_per_year": 12 if monthly_ten_years else (4, 12, 2, 1)[(i // 3) % 4],
            "utilization": round(0.7 + 0.25 * rng.random(), 3),
            "contracted_share": 0.6 if contracted else 0.0,
            "contract_rate": 2.5 if contracted else "",
            "contract_end_date": "2028-12-31" if contracted else "",
            "btc_held": 100.0 if miner else 0.0, "hashrate_ph": 500.0 if miner else 0.0,
            "quoted_spread": int(rng.integers(300, 900)),
        })
    return pd.DataFrame(rows)


def load(frame: pd.DataFrame, folder: Path, name: str):
    """Validate a generated tape as the command line does: typed rows and assumptions."""
    path = folder / f"{name}.csv"
    frame.to_csv(path, index=False)
    report, good = validate_file(path)
    if report.exit_status != 0:
        raise SystemExit(f"generated tape rejected: {report.summary()}")
    rows = good.assign(_row=good.index, _sheet="").reset_index(drop=True)
    return rows, dict(report.assumptions, valuation_date=VALUATION)


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


def table(title: str, rows: list[tuple[str, str]]) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"\n{title}")
    print("-" * (width + 16))
    for label, value in rows:
        print(f"{label:<{width}}  {value:>12}")


def cpu_seconds(procs) -> float:
    """User + system CPU time of processes (those that ended count nothing)."""
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
    return total


def _noop(chunk) -> int:
    return len(chunk)


def best(repeat: int, fn, *args, clock=time.perf_counter, **kwargs):
    """Fastest of ``repeat`` timed calls (other processes only ever slow a run down)."""
    runs = []
    for _ in range(repeat):
        start = clock()
        out = fn(*args, **kwargs)
        runs.append((clock() - start, out))
    return min(t for t, _ in runs), runs[-1][1]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    ap.add_argument("--facilities", type=int, help="facilities on the tape (2,000)")
    ap.add_argument("--paths", type=int, help="Monte Carlo paths (1,000)")
    ap.add_argument("--chunk-size", type=int, help="facilities per chunk (100)")
    ap.add_argument("--workers", type=int, default=2, help="Dask worker processes (2)")
    ap.add_argument("--repeat", type=int, help="runs of each timing, the fastest kept (2)")
    args = ap.parse_args(argv)
    n_fac = args.facilities or (200 if args.quick else 2_000)
    paths = args.paths or (200 if args.quick else 1_000)
    chunk = args.chunk_size or (25 if args.quick else 100)
    repeat = args.repeat or (1 if args.quick else 2)
    workers = args.workers
    n_small = 20 if args.quick else 40  # one-facility chunks, section 2
    n_noop = 200 if args.quick else 1_000  # no-op chunks, section 2
    n_est = 40 if args.quick else 200  # 120-month facilities, section 3

    load_before = os.getloadavg()
    print(f"gpucredit Dask benchmark: {os.cpu_count()} cores, load average "
          f"{load_before[0]:.2f} / {load_before[1]:.2f} (1 / 5 min); fastest of {repeat} "
          f"run(s) kept")
    folder = Path(tempfile.mkdtemp(prefix="bench_dask_"))
    rows, assumptions = load(tape_frame(n_fac), folder, "tape")
    opts = RecalcOptions(n_paths=paths, seed=7, chunk_size=chunk)

    # warm both engines up (imports, first-call costs) on a few facilities
    warm = RecalcOptions(n_paths=50, chunk_size=2)
    recalc(rows.head(4), assumptions, warm)
    t_start, (mapper, close) = timed(dask_mapper, None, n_workers=workers)
    try:
        recalc(rows.head(4 * workers), assumptions, warm, mapper=mapper)

        # 1. the same tape on both engines, runs interleaved so both see the same load;
        # CPU-seconds too (this process: client and scheduler; its children: the workers
        # and their nannies), which other processes on the machine do not inflate
        me = psutil.Process()
        cluster_procs = me.children(recursive=True)
        t_local = t_dask = cpu_local = cpu_dask = cpu_workers = float("inf")
        for _ in range(repeat):
            c0 = cpu_seconds([me])
            t, res_local = timed(recalc, rows, assumptions, opts)
            t_local, cpu_local = min(t_local, t), min(cpu_local, cpu_seconds([me]) - c0)
            c0, w0 = cpu_seconds([me]), cpu_seconds(cluster_procs)
            t, res_dask = timed(recalc, rows, assumptions, opts, mapper=mapper)
            w1 = cpu_seconds(cluster_procs)
            t_dask = min(t_dask, t)
            cpu_dask = min(cpu_dask, cpu_seconds([me]) - c0 + w1 - w0)
            cpu_workers = min(cpu_workers, w1 - w0)
        for name in ("metrics", "periods", "scenarios"):
            pd.testing.assert_frame_equal(getattr(res_dask, name), getattr(res_local, name),
                                          check_exact=True)
        n_chunks = -(-n_fac // chunk)
        table(f"1. {n_fac:,} facilities, {paths:,} paths, scenarios on, chunks of {chunk} "
              f"({n_chunks} chunks)", [
                  ("local engine, 1 process, wall (s)", f"{t_local:.2f}"),
                  (f"Dask, {workers} worker processes, wall (s)", f"{t_dask:.2f}"),
                  ("speed-up local / Dask, wall", f"{t_local / t_dask:.2f}x"),
                  ("parallel efficiency, wall", f"{t_local / t_dask / workers:.0%}"),
                  ("Dask local cluster start-up, not in the above (s)", f"{t_start:.2f}"),
                  ("local engine per facility, wall (ms)", f"{1e3 * t_local / n_fac:.1f}"),
                  ("local engine, CPU (s)", f"{cpu_local:.2f}"),
                  ("Dask, CPU of workers + nannies (s)", f"{cpu_workers:.2f}"),
                  ("Dask, CPU of all (workers, nannies, scheduler, client) (s)",
                   f"{cpu_dask:.2f}"),
                  ("Dask's extra CPU per chunk (ms)",
                   f"{1e3 * (cpu_dask - cpu_local) / n_chunks:.0f}"),
                  (f"speed-up on {workers} idle cores, local CPU / (worker CPU / {workers})",
                   f"{cpu_local / (cpu_workers / workers):.2f}x"),
                  ("tables equal", "yes"),
              ])

        # 2. Dask's own cost per chunk: chunks that do nothing, then real tiny ones
        tiny = [rows.iloc[[i % n_fac]] for i in range(n_noop)]
        lat = [timed(lambda c=one: list(mapper(_noop, [c])))[0] for one in tiny[:30]]
        t_many, got = best(repeat, lambda: list(mapper(_noop, tiny)))
        assert sorted(i for i, _ in got) == list(range(n_noop))
        one = rows.head(chunk)
        res = run_chunk(one, assumptions, opts)
        t_ser, blobs = best(3, lambda: [pickle.dumps(x, protocol=5) for x in (one, res)])
        t_de, _ = best(3, lambda: [pickle.loads(b) for b in blobs])
        small = RecalcOptions(n_paths=paths, seed=7, chunk_size=1)
        sub = rows.head(n_small)
        t_small_local = t_small_dask = cpu_small_local = cpu_small_dask = float("inf")
        for _ in range(repeat):
            c0 = cpu_seconds([me])
            t_small_local = min(t_small_local, timed(recalc, sub, assumptions, small)[0])
            cpu_small_local = min(cpu_small_local, cpu_seconds([me]) - c0)
            c0 = cpu_seconds([me, *cluster_procs])
            t_small_dask = min(t_small_dask,
                               timed(recalc, sub, assumptions, small, mapper=mapper)[0])
            cpu_small_dask = min(cpu_small_dask, cpu_seconds([me, *cluster_procs]) - c0)
        extra = (cpu_small_dask - cpu_small_local) / n_small
        table("2. Dask's cost per chunk", [
            ("no-op chunk alone, round trip, median (ms)",
             f"{1e3 * statistics.median(lat):.1f}"),
            (f"no-op chunks, {n_noop:,} in flight, wall per chunk (ms)",
             f"{1e3 * t_many / n_noop:.2f}"),
            (f"chunk of {chunk}: rows pickled (kB)", f"{len(blobs[0]) / 1e3:.0f}"),
            (f"chunk of {chunk}: result pickled (kB)", f"{len(blobs[1]) / 1e3:.0f}"),
            (f"chunk of {chunk}: pickle + unpickle both (ms)", f"{1e3 * (t_ser + t_de):.1f}"),
            (f"1-facility chunks x {n_small}, local, wall / CPU (s)",
             f"{t_small_local:.2f} / {cpu_small_local:.2f}"),
            (f"1-facility chunks x {n_small}, Dask {workers} workers, wall / CPU (s)",
             f"{t_small_dask:.2f} / {cpu_small_dask:.2f}"),
            ("Dask's extra CPU per 1-facility chunk (ms)", f"{1e3 * extra:.1f}"),
        ])
    finally:
        close()

    # 3. cost of a 120-month facility, linearity in paths, and the memory of one chunk
    est_rows, est_assumptions = load(tape_frame(n_est, seed=1, monthly_ten_years=True),
                                     folder, "tape120")
    cpu = time.process_time  # one single-threaded process: its CPU time is its cost
    t0, r0 = best(repeat, recalc, est_rows, est_assumptions,
                  RecalcOptions(n_paths=0, chunk_size=chunk), clock=cpu)
    t1, _ = best(repeat, recalc, est_rows, est_assumptions,
                 RecalcOptions(n_paths=paths, seed=7, chunk_size=chunk), clock=cpu)
    t4, _ = best(repeat, recalc, est_rows, est_assumptions,
                 RecalcOptions(n_paths=4 * paths, seed=7, chunk_size=chunk), clock=cpu)
    periods = len(r0.periods) / max(1, len(r0.metrics))
    per_fac0, per_fac1, per_fac4 = t0 / n_est, t1 / n_est, t4 / n_est
    mc_per_1000 = (per_fac1 - per_fac0) * 1_000 / paths
    marginal = (per_fac4 - per_fac1) * 1_000 / (3 * paths)  # per 1,000 more paths
    n_direct = min(20, n_est)
    t10k, _ = best(repeat, run_chunk, est_rows.head(n_direct), est_assumptions,
                   RecalcOptions(n_paths=10_000, seed=7), clock=cpu)
    one_chunk = est_rows.head(chunk)
    peak = {}
    for label, sub_rows, n_paths in ((f"one chunk of {len(one_chunk)}, {paths:,} paths",
                                      one_chunk, paths),
                                     ("one chunk of 10, 10,000 paths", est_rows.head(10),
                                      10_000)):
        tracemalloc.start()
        res = run_chunk(sub_rows, est_assumptions, RecalcOptions(n_paths=n_paths, seed=7))
        peak[label] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    result_bytes = len(pickle.dumps(res, protocol=5)) / 10
    table(f"3. {n_est} monthly ten-year facilities ({periods:.0f} periods each), local, "
          "CPU time", [
        ("per facility, no Monte Carlo (ms)", f"{1e3 * per_fac0:.1f}"),
        (f"per facility, {paths:,} paths (ms)", f"{1e3 * per_fac1:.1f}"),
        (f"per facility, {4 * paths:,} paths (ms)", f"{1e3 * per_fac4:.1f}"),
        (f"Monte Carlo per 1,000 paths, 0 to {paths:,} paths (ms)", f"{1e3 * mc_per_1000:.1f}"),
        (f"Monte Carlo per 1,000 paths, {paths:,} to {4 * paths:,} paths (ms)",
         f"{1e3 * marginal:.1f}"),
        (f"per facility, 10,000 paths, measured on {n_direct} (ms)",
         f"{1e3 * t10k / n_direct:.1f}"),
        *((f"peak memory of {label} (MB)", f"{b / 1e6:.0f}") for label, b in peak.items()),
        ("result pickled, per facility (kB)", f"{result_bytes / 1e3:.1f}"),
    ])
    # cross-check: extrapolate from the largest run at the marginal cost of a path
    at_10k = per_fac4 + (10_000 - 4 * paths) / 1_000 * marginal
    measured = t10k / n_direct
    load_after = os.getloadavg()
    print(f"\nPer facility at 10,000 paths x 120 months: {measured:.3f} core-seconds measured "
          f"(extrapolated from {4 * paths:,} paths: {at_10k:.3f}); 100,000 facilities: "
          f"{100_000 * measured / 3600:,.1f} core-hours.")
    print(f"Load average at the end: {load_after[0]:.2f} / {load_after[1]:.2f} (1 / 5 min).")


if __name__ == "__main__":  # the guard also keeps Dask's spawned workers from rerunning it
    main()
