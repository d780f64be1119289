"""Benchmark the batch engine with the book's Monte Carlo at scale: time and peak memory.

Run ``python bench/bench_portfolio.py`` from the repository root (``--quick`` for a smoke
run; ``--sizes 10000 100000`` for issue 10's targets). The demo tape's 15 facilities are
copied (with new ids) to tapes of each size; each size runs in a fresh child process:

    recalc(rows, assumptions, RecalcOptions(n_paths=P), periods_sink=PeriodsWriter(...))

with the scenario grid, the per-period table streamed to Parquet (or CSV if pyarrow is
missing) and the portfolio tables, and prints its wall time, the time per 1,000
facilities, the child's peak resident memory (``ru_maxrss``) and the ratio of the peak
memory of each size to the smallest's (issue 10: at most 1.5x from 10,000 to 100,000
facilities). Writing the results workbook is not included (``bench_tape.py`` times it).
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


def child(n_fac: int, n_paths: int, out_dir: str) -> dict:
    import pandas as pd

    from gpucredit.engine import RecalcOptions, recalc
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
    t0 = time.perf_counter()
    with PeriodsWriter(target) as sink:
        res = recalc(rows, report.assumptions, RecalcOptions(n_paths=n_paths, seed=7),
                     periods_sink=sink)
    wall = time.perf_counter() - t0
    es = res.portfolio_summary.set_index("measure").loc["es_999", "value"]
    return {"facilities": len(res.metrics), "wall": wall, "periods_rows": sink.rows,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "es_999": float(es), "file": target.suffix}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    ap.add_argument("--sizes", type=int, nargs="+", help="facilities per tape (10,000)")
    ap.add_argument("--paths", type=int, help="Monte Carlo paths (1,000)")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(int(args.child[0]), int(args.child[1]), args.child[2])))
        return
    sizes = args.sizes or ([150, 600] if args.quick else [10_000])
    n_paths = args.paths or (128 if args.quick else 1_000)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          f"{n_paths:,} paths; demo tape rows copied")
    first = None
    for n in sizes:
        with tempfile.TemporaryDirectory() as d:
            out = subprocess.run([sys.executable, __file__, "--child", str(n), str(n_paths),
                                  d], capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        first = first or r["rss_mb"]
        print(f"  {r['facilities']:>7,} facilities: {r['wall']:7.1f} s "
              f"({1000 * r['wall'] / r['facilities']:.2f} s per 1,000), peak RSS "
              f"{r['rss_mb']:7.0f} MB ({r['rss_mb'] / first:.2f}x the first size), "
              f"{r['periods_rows']:,} period rows to {r['file']}, ES 99.9% "
              f"${r['es_999'] / 1e9:,.2f}bn")


if __name__ == "__main__":
    main()
