"""Benchmark the batch engine with the book's Monte Carlo at scale: time and peak memory.

Run ``python bench/bench_portfolio.py`` from the repository root (``--quick`` for a smoke
run; ``--sizes 10000 100000`` for issue 10's targets). The demo tape's 15 facilities are
copied (with new ids) to tapes of each size; each size runs in a fresh child process:

    recalc(rows, assumptions, RecalcOptions(n_paths=P), periods_sink=PeriodsWriter(...),
           spool=folder)

with the scenario grid, the per-period table streamed to Parquet (or CSV if pyarrow is
missing), the metrics and scenario tables spooled to disk (as ``gpucredit recalc`` does)
and the portfolio tables, and prints its wall time, the time per 1,000
facilities, the child's peak resident memory (``ru_maxrss``) and the ratio of the peak
memory of each size to the smallest's (issue 10: at most 1.5x from 10,000 to 100,000
facilities). Writing the results workbook is not included (``bench_tape.py`` times it).
``--workers N`` runs the chunks in N worker processes (:mod:`gpucredit.processes`); the
peak memory of the largest worker is then printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _descendants() -> tuple[float, float]:
    """The largest peak resident memory (VmHWM, MB) of this process's live descendants
    (the workers start from a server process, so they are not our children) and the CPU
    seconds they used."""
    status, cpu = {}, {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            fields = dict(line.split(":", 1) for line in (proc / "status").read_text()
                          .splitlines())
            stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, ValueError):
            continue
        status[int(fields["Pid"])] = fields
        cpu[int(fields["Pid"])] = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    mine, grew = {os.getpid()}, True
    while grew:
        found = {p for p, f in status.items() if int(f["PPid"]) in mine} - mine
        grew = bool(found)
        mine |= found
    others = mine - {os.getpid()}
    peaks = [int(status[p].get("VmHWM", "0 kB").split()[0]) for p in others]
    return max(peaks, default=0) / 1024, sum(cpu[p] for p in others)


def child(n_fac: int, n_paths: int, out_dir: str, workers: int = 1) -> dict:
    import pandas as pd

    from gpucredit.engine import RecalcOptions, recalc
    from gpucredit.processes import process_mapper
    from gpucredit.streaming import PeriodsWriter
    from gpucredit.tape.validate import validate_file

    report, good = validate_file(ROOT / "workbooks" / "demo_tape.xlsx")
    base = good.reset_index(drop=True)
    reps = -(-n_fac // len(base))
    rows = pd.concat([base] * reps, ignore_index=True).head(n_fac).copy()
    rows["facility_id"] = [f"{fid}-{i:06d}" for i, fid in enumerate(rows["facility_id"])]
    try:
        import pyarrow  # noqa: F401
        target = Path(out_dir) / "periods.parquet"
    except ImportError:
        target = Path(out_dir) / "periods.csv"
    t0, cpu0 = time.perf_counter(), time.process_time()
    mapper, close = process_mapper(workers) if workers > 1 else (None, lambda: None)
    try:
        with PeriodsWriter(target) as sink:
            res = recalc(rows, report.assumptions, RecalcOptions(n_paths=n_paths, seed=7),
                         periods_sink=sink, spool=Path(out_dir), mapper=mapper)
        workers_mb, workers_cpu = _descendants()
    finally:
        close()
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    es = res.portfolio_summary.set_index("measure").loc["es_999", "value"]
    return {"facilities": len(res.metrics), "wall": wall, "cpu": cpu, "periods_rows": sink.rows,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "worker_rss_mb": workers_mb, "worker_cpu": workers_cpu,
            "es_999": float(es), "file": target.suffix}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    ap.add_argument("--sizes", type=int, nargs="+", help="facilities per tape (10,000)")
    ap.add_argument("--paths", type=int, help="Monte Carlo paths (1,000)")
    ap.add_argument("--workers", type=int, default=1,
                    help="worker processes (1: the local engine in the process)")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(int(args.child[0]), int(args.child[1]), args.child[2],
                               int(args.child[3]))))
        return
    sizes = args.sizes or ([150, 600] if args.quick else [10_000])
    n_paths = args.paths or (128 if args.quick else 1_000)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          f"{n_paths:,} paths; demo tape rows copied; {args.workers} worker(s)")
    first = None
    for n in sizes:
        with tempfile.TemporaryDirectory() as d:
            out = subprocess.run([sys.executable, __file__, "--child", str(n), str(n_paths),
                                  d, str(args.workers)], capture_output=True, text=True,
                                 check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        first = first or r["rss_mb"]
        print(f"  {r['facilities']:>7,} facilities: {r['wall']:7.1f} s "
              f"({1000 * r['wall'] / r['facilities']:.2f} s per 1,000; this process's "
              f"CPU {r['cpu']:.1f} s), peak RSS "
              f"{r['rss_mb']:7.0f} MB ({r['rss_mb'] / first:.2f}x the first size"
              + (f"; largest worker {r['worker_rss_mb']:.0f} MB, workers' CPU "
                 f"{r['worker_cpu']:.1f} s" if args.workers > 1 else "")
              + "), "
              f"{r['periods_rows']:,} period rows to {r['file']}, ES 99.9% "
              f"${r['es_999'] / 1e9:,.2f}bn")


if __name__ == "__main__":
    main()
