"""Benchmark the loan-tape batch, stage by stage: issue 4's 10,000-facility tape.

Run ``python bench/bench_tape.py`` from the repository root (``--quick`` for a smoke run
of 1,000 facilities and a 10,000-row read; ``--help`` for the sizes). It builds, in a
temporary folder that is removed at the end, an .xlsx tape of ``--facilities`` facilities
(every schema column filled with values varied around docs/sources.md's figures: H100 to GB200
fleets of 512-16,384 GPUs at $25,000-30,000, loans at 70% of cost, fixed 7-11% or
floating SOFR + 6-8%, the four amortisation profiles on 1, 4 and 12 payments a year,
contracted and merchant fleets, miners holding BTC; built by ``tests/hostile``'s
streaming writer) and an Assumptions sheet fixing the valuation date on 2026-06-30, then
times each stage of ``gpucredit recalc``:

1. **read** with gpucredit's reader (:func:`gpucredit.tape.read_tape`: the file guards,
   then python-calamine), and beside it the same sheet read by python-calamine alone and
   by openpyxl in read-only mode, with the ratio openpyxl / calamine;
2. **validate** (:func:`gpucredit.tape.validate.validate`: types, ranges, rules);
3. **compute** without Monte Carlo (:func:`gpucredit.engine.recalc`, the scenario grid
   included as the command line runs it; and, for reference, without the grid), then
   with ``--paths`` Monte Carlo paths (1,000 by default);
4. **write** the results workbook (:func:`gpucredit.excel.results.write_results`) and
   the CSV tables.

Then it builds a ``--rows``-row tape (100,000 by default) and times reading it, against
issue 4's target of under 5 seconds, and validating it.

Each row of the table gives the wall time (best of ``--repeat`` for the reads, one run
for the longer stages), the time per 1,000 facilities and the process's peak resident
memory so far. Timings are wall-clock on whatever else the machine is doing: the load
average is printed first. Nothing in the environment is changed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/hostile's builders
try:
    import gpucredit
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import gpucredit

import numpy as np
import openpyxl
import pandas as pd
import python_calamine
from tests import hostile as H

from gpucredit.engine import RecalcOptions, recalc
from gpucredit.excel.csv_out import write_csv_tables
from gpucredit.excel.results import DEFAULT_MAX_PERIOD_ROWS, write_results
from gpucredit.tape import read_tape
from gpucredit.tape.validate import validate

VALUATION = dt.date(2026, 6, 30)
READ_TARGET_SECONDS = 5.0


def peak_mb() -> float:
    """Peak resident memory of this process so far, MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_tape(path: Path, n: int) -> Path:
    """An .xlsx tape of ``n`` facilities with every schema column, plus Assumptions."""
    return H.write_xlsx(path, {"Tape": H.full_tape(n),
                               "Assumptions": [["Assumption", "Value"],
                                               ["Valuation date", VALUATION]]},
                        dimensions={"Tape": f"A1:{H.col_letter(len(H.full_header()))}{n + 1}"})


def timed(fn: Callable, repeat: int = 1):
    """(best wall time of ``repeat`` calls, the last call's result)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        result = None  # let the previous result go before the next call
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def calamine_raw(path: Path) -> list:
    wb = python_calamine.CalamineWorkbook.from_path(str(path))
    return wb.get_sheet_by_name("Tape").to_python()


def openpyxl_read_only(path: Path) -> list:
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        return list(wb["Tape"].iter_rows(values_only=True))
    finally:
        wb.close()


class Table:
    """Rows of the report, printed as they come."""

    HEAD = f"{'stage':<44} {'size':>9} {'seconds':>9} {'s / 1k':>8} {'peak MB':>8}  note"

    def __init__(self) -> None:
        print(self.HEAD)
        print("-" * len(self.HEAD))

    def row(self, stage: str, size: int, seconds: float, note: str = "") -> None:
        per_k = seconds / size * 1000 if size else float("nan")
        print(f"{stage:<44} {size:>9,} {seconds:>9.2f} {per_k:>8.3f} {peak_mb():>8.0f}  {note}",
              flush=True)


def environment() -> None:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"gpucredit {gpucredit.__version__}, Python {platform.python_version()}, "
          f"numpy {np.__version__}, pandas {pd.__version__}, "
          f"python-calamine {metadata.version('python-calamine')}, "
          f"openpyxl {openpyxl.__version__}")
    print(f"{platform.platform()}, {os.cpu_count()} CPUs, load average "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (compare runs on an idle machine)")
    print()


def run(n: int, n_rows: int, paths: int, repeat: int, folder: Path) -> bool:
    environment()
    start = time.perf_counter()
    tape = write_tape(folder / "tape.xlsx", n)
    print(f"Built {tape.name}: {n:,} facilities x {len(H.full_header())} columns, "
          f"{tape.stat().st_size / 1e6:.1f} MB, in {time.perf_counter() - start:.1f} s")
    print()
    table = Table()

    seconds, (df, source) = timed(lambda: read_tape(tape), repeat)
    assert len(df) == n, f"read {len(df)} rows, expected {n}"
    table.row("read: gpucredit reader (guards + calamine)", n, seconds)
    raw_seconds, raw = timed(lambda: calamine_raw(tape), repeat)
    assert len(raw) == n + 1
    del raw
    table.row("read: python-calamine alone", n, raw_seconds)
    op_seconds, rows = timed(lambda: openpyxl_read_only(tape), 1)
    assert len(rows) == n + 1
    del rows
    table.row("read: openpyxl read-only", n, op_seconds,
              f"{op_seconds / raw_seconds:.1f}x calamine alone, "
              f"{op_seconds / seconds:.1f}x gpucredit's reader")

    seconds, report = timed(lambda: validate(df, source), 1)
    assert not report.errors, report.summary()
    table.row("validate", n, seconds, report.summary().split(": ", 1)[1])
    good = report.good
    facilities = good.assign(_row=good.index, _sheet=report.sheet or "").reset_index(drop=True)
    del df

    def compute(n_paths: int, scenarios: bool = True):
        return recalc(facilities, report.assumptions,
                      RecalcOptions(n_paths=n_paths, seed=7, run_scenarios=scenarios))

    seconds, result = timed(lambda: compute(0, scenarios=False), 1)
    table.row("compute: no Monte Carlo, no scenario grid", n, seconds,
              f"{len(result.metrics):,} computed, {len(result.periods):,} periods")
    seconds, result = timed(lambda: compute(0), 1)
    table.row("compute: no Monte Carlo (scenario grid on)", n, seconds,
              f"{len(result.scenarios):,} facility-scenarios")
    result = None
    seconds, result = timed(lambda: compute(paths), 1)
    table.row(f"compute: {paths:,} Monte Carlo paths", n, seconds,
              f"{len(result.metrics):,} computed")

    out = folder / "results.xlsx"
    seconds, _ = timed(lambda: write_results(result, out), 1)
    aside = " + every period in a CSV beside it" if len(result.periods) > \
        DEFAULT_MAX_PERIOD_ROWS else ""
    table.row("write: results workbook", n, seconds,
              f"{out.stat().st_size / 1e6:.1f} MB{aside}")
    seconds, _ = timed(lambda: write_csv_tables(result, folder / "csv"), 1)
    table.row("write: CSV tables", n, seconds)
    result = None

    start = time.perf_counter()
    big = write_tape(folder / f"tape_{n_rows}.xlsx", n_rows)
    built = time.perf_counter() - start
    seconds, (df, source) = timed(lambda: read_tape(big), repeat)
    assert len(df) == n_rows
    met = seconds < READ_TARGET_SECONDS
    table.row(f"read {n_rows:,}-row tape (gpucredit reader)", n_rows, seconds,
              f"target < {READ_TARGET_SECONDS:.0f} s: {'met' if met else 'MISSED'} "
              f"({big.stat().st_size / 1e6:.1f} MB, built in {built:.1f} s)")
    seconds, report = timed(lambda: validate(df, source), 1)
    table.row(f"validate {n_rows:,}-row tape", n_rows, seconds)
    print()
    print(f"Reading {n_rows:,} rows: {'met' if met else 'MISSED'} the {READ_TARGET_SECONDS:.0f} s "
          "target.")
    return met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 1,000 facilities, 200 paths, a 10,000-row read")
    parser.add_argument("--facilities", type=int, default=None,
                        help="facilities on the tape (default 10,000)")
    parser.add_argument("--rows", type=int, default=None,
                        help="rows of the big tape for the read target (default 100,000)")
    parser.add_argument("--paths", type=int, default=None,
                        help="Monte Carlo paths per facility (default 1,000)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="best of N for the reads (default 3; 1 with --quick)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="write the tapes and results into this folder and keep them")
    args = parser.parse_args(argv)
    n = args.facilities or (1_000 if args.quick else 10_000)
    n_rows = args.rows or (10_000 if args.quick else 100_000)
    paths = args.paths if args.paths is not None else (200 if args.quick else 1_000)
    repeat = args.repeat or (1 if args.quick else 3)
    if min(n, n_rows, repeat) < 1 or paths < 0:
        parser.error("sizes must be positive")
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        run(n, n_rows, paths, repeat, args.keep)
        return 0
    folder = Path(tempfile.mkdtemp(prefix="gpucredit-bench-tape-"))
    try:
        run(n, n_rows, paths, repeat, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
