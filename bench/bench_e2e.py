"""Benchmark ``gpucredit recalc`` end to end, tape to results workbook, against the code
before issue 10.

Run ``python bench/bench_e2e.py`` from the repository root (``--quick`` for a smoke run
of 500 facilities; ``--help`` for the sizes). Issue 10's target: 10,000 facilities x
1,000 paths, tape to results workbook, at least 4x faster than the code at commit
:data:`BASELINE` on the same tape in the same run.

It copies the bundled demo tape's 15 facilities (new ids, every other sheet as it is) into
an .xlsx tape of ``--facilities`` rows, extracts the baseline's ``src`` with
``git archive`` into a temporary folder, and then times, side by side, each command in
a fresh process (``python -c "from gpucredit.cli import main; main()" recalc TAPE -o
results.xlsx --paths 1000 --seed 7 --quiet`` with ``PYTHONPATH`` set to the code under
test):

1. **before**: the baseline's command line;
2. **now, CSV periods**: this checkout's, the default;
3. **now, Parquet periods**: ``--periods-format parquet`` (needs pyarrow);
4. **now, Parquet + processes**: ``--engine processes`` as well (one worker per core).

Rounds alternate the commands (before, then each mode, ``--repeat`` times) so that the
machine's other work falls on all of them alike; each row prints the best wall time, the
CPU seconds of that run (the children's rusage: the command and every process it started,
the workers included, since the bench adopts their orphans and reaps them) and the ratio
of the baseline's best to its best. The last line says whether the best mode meets the
4x target. The load average is printed first: on a shared machine the ratios, measured
in one run, are what carries over.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

BASELINE = "1e04c84"
"""The last commit before issue 10 (as ``bench_montecarlo.py``)."""

ROOT = Path(__file__).resolve().parents[1]
TARGET = 4.0
COMMAND = "from gpucredit.cli import main; main()"


def write_tape(path: Path, n_fac: int) -> Path:
    """The demo tape with its Tape sheet's rows copied to ``n_fac`` facilities (new ids);
    the Assumptions and every other sheet as they are."""
    import openpyxl
    from openpyxl.utils import get_column_letter

    wb = openpyxl.load_workbook(ROOT / "workbooks" / "demo_tape.xlsx")
    ws = wb["Tape"]
    rows = [list(r) for r in ws.iter_rows(min_row=2, values_only=True) if r[0] is not None]
    ws.delete_rows(2, ws.max_row)
    for i in range(n_fac):
        row = list(rows[i % len(rows)])
        row[0] = f"{row[0]}-{i:06d}"
        ws.append(row)
    for table in ws.tables.values():  # the tape's Excel table bounds the rows read
        table.ref = f"A1:{get_column_letter(ws.max_column)}{n_fac + 1}"
        if table.autoFilter is not None:
            table.autoFilter.ref = table.ref
    wb.save(path)
    return path


def baseline_src(folder: Path) -> Path:
    """The baseline's ``src`` folder, extracted with ``git archive``."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", BASELINE,
                              "src"], capture_output=True, check=True).stdout
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as t:
        t.extractall(folder, filter="data")
    return folder / "src"


def adopt_orphans() -> None:
    """Make this process the reaper of its descendants' orphans (Linux), so that the CPU
    of the worker processes a command starts from a server process (``--engine
    processes``) is counted in the children's rusage once they are reaped."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def reap() -> None:
    """Wait for every orphan adopted (they end with the command that started them)."""
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def run(src: Path, tape: Path, out: Path, extra: list[str], n_paths: int,
        n_fac: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the children) of one command in a fresh process."""
    env = dict(os.environ, PYTHONPATH=str(src))
    cmd = [sys.executable, "-c", COMMAND, "recalc", str(tape), "-o", str(out),
           "--paths", str(n_paths), "--seed", "7", "--quiet", *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    reap()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd[3:])} failed ({done.returncode}):\n{done.stderr}")
    said = " ".join(done.stdout.split())
    if f"({n_fac} facilities computed" not in said:
        raise SystemExit(f"{' '.join(cmd[3:])} did not compute {n_fac} facilities:\n{said}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="500 facilities, one round")
    ap.add_argument("--facilities", type=int, help="facilities on the tape (10,000)")
    ap.add_argument("--paths", type=int, default=1_000, help="Monte Carlo paths (1,000)")
    ap.add_argument("--repeat", type=int, help="rounds, best of (2; --quick 1)")
    ap.add_argument("--no-baseline", action="store_true",
                    help="time only this checkout's modes (no ratio, no target)")
    args = ap.parse_args()
    n_fac = args.facilities or (500 if args.quick else 10_000)
    repeat = args.repeat or (1 if args.quick else 2)
    try:
        import pyarrow  # noqa: F401
        parquet = True
    except ImportError:
        parquet = False
    now = ROOT / "src"
    modes = [("now, CSV periods", now, [])]
    if parquet:
        modes += [("now, Parquet periods", now, ["--periods-format", "parquet"]),
                  ("now, Parquet + processes", now,
                   ["--periods-format", "parquet", "--engine", "processes"])]
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          f"{n_fac:,} facilities (the demo tape's copied) x {args.paths:,} paths; "
          f"best of {repeat}" + ("" if parquet else "; no pyarrow: Parquet modes skipped"))
    adopt_orphans()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        t0 = time.perf_counter()
        tape = write_tape(d / "tape.xlsx", n_fac)
        print(f"tape written in {time.perf_counter() - t0:.1f} s "
              f"({tape.stat().st_size / 1e6:.1f} MB)")
        if not args.no_baseline:
            modes.insert(0, (f"before ({BASELINE})", baseline_src(d / "baseline"), []))
        best: dict[str, tuple[float, float]] = {}
        for _ in range(repeat):
            for label, src, extra in modes:
                out = d / "out" / "results.xlsx"
                wall, cpu = run(src, tape, out, extra, args.paths, n_fac)
                if label not in best or wall < best[label][0]:
                    best[label] = (wall, cpu)
                for f in out.parent.iterdir():  # the next command starts from nothing
                    f.unlink()
    old = best.get(f"before ({BASELINE})", (None,))[0]
    print(f"{'command':<30} {'wall s':>8} {'CPU s':>8} {'vs before':>10}")
    for label, _, _ in modes:
        wall, cpu = best[label]
        ratio = f"{old / wall:9.2f}x" if old else ""
        print(f"{label:<30} {wall:8.1f} {cpu:8.1f} {ratio:>10}")
    if old:
        fastest = min(best[m[0]][0] for m in modes[1:])
        verdict = "met" if old / fastest >= TARGET else "MISSED"
        print(f"target: at least {TARGET:.0f}x the baseline, best mode {old / fastest:.2f}x: "
              f"{verdict}")


if __name__ == "__main__":
    main()
