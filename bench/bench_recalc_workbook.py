"""recalc-workbook against LibreOffice headless, side by side in one run (issue 11 item 5).

Two workbooks, each computed both ways, best of ``--repeat`` wall-clock runs:

* ``deal model``   - ``gpucredit template model`` (GPU_ functions and native checks;
  LibreOffice cannot see the add-in, so its GPU_ cells are #NAME? there and it computes
  the native cells only);
* ``native N``     - ``tests/native_model.py``: N facilities x 60 months of native
  formulas (rent path, revenue, CFADS, PMT debt service, DSCR, MIN and NPV);
* ``deal batch K`` - K copies of the deal model with other utilizations, as a risk team
  refreshes a folder of deals: one ``gpucredit recalc-workbook FOLDER`` (one compile of
  the shared template, :mod:`gpucredit.excel.templates`) against one ``soffice`` call
  converting them all.

``gpucredit`` is timed as a user runs it: the installed ``gpucredit recalc-workbook``
command in a fresh process (start-up and imports included). LibreOffice is timed the same
way: ``soffice --headless --convert-to xlsx`` with its own profile, set to recalculate on
load. Printed: both wall times and their ratio, both CPU times (the process trees'
user + system seconds, steadier than wall time on a shared machine) and their ratio, the
targets (deal model within 1.5x, native model within 5x), the peak memory of a child,
and the largest relative difference between the two engines' values over every native
formula cell of the native model (the cross-check).

Run: ``python bench/bench_recalc_workbook.py [--facilities 100] [--repeat 2] [--quick]``.
"""

from __future__ import annotations

import argparse
import math
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import openpyxl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import libreoffice as lo  # noqa: E402
from tests import native_model  # noqa: E402

GPUCREDIT = Path(sys.executable).with_name("gpucredit")


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _gpucredit(src: Path, out: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process tree) of one run of the command."""
    t0, c0 = time.perf_counter(), _cpu()
    proc = subprocess.run([str(GPUCREDIT), "recalc-workbook", str(src), "-o", str(out),
                           "--time-limit", "7200", "--memory-limit", "8"],
                          capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"gpucredit failed: {proc.stderr}")
    return time.perf_counter() - t0, _cpu() - c0


def _libreoffice(src: Path, outdir: Path) -> tuple[float, float, Path]:
    """One workbook, or every workbook of a folder in one soffice call."""
    sources = sorted(src.glob("*.xlsx")) if src.is_dir() else [src]
    t0, c0 = time.perf_counter(), _cpu()
    out = lo.convert(sources, "xlsx", outdir, timeout=7200)
    return time.perf_counter() - t0, _cpu() - c0, out[0]


def _deal_batch(deal: Path, folder: Path, copies: int) -> Path:
    """``copies`` deal models differing in their utilization input."""
    folder.mkdir()
    for k in range(copies):
        wb = openpyxl.load_workbook(deal)
        sheet, cell = next(iter(wb.defined_names["utilization"].destinations))
        wb[sheet][cell.replace("$", "")] = 0.6 + 0.35 * k / max(copies - 1, 1)
        wb.save(folder / f"deal{k:02d}.xlsx")
    return folder


def _max_rel_diff(a: Path, b: Path, sheet: str) -> tuple[float, int]:
    wa = openpyxl.load_workbook(a, data_only=True, read_only=True)[sheet]
    wb = openpyxl.load_workbook(b, data_only=True, read_only=True)[sheet]
    worst, n = 0.0, 0
    for ra, rb in zip(wa.iter_rows(values_only=True), wb.iter_rows(values_only=True),
                      strict=False):
        for x, y in zip(ra, rb, strict=False):
            if isinstance(x, (int, float)) and isinstance(y, (int, float)):
                n += 1
                worst = max(worst, abs(x - y) / max(abs(y), 1e-300) if y else abs(x))
            elif x != y and not (x in (None, "") and y in (None, "")):
                return math.inf, n
    return worst, n


def _peak_children_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def run_case(name: str, src: Path, work: Path, repeat: int, target: float | None,
             check_sheet: str | None) -> None:
    out = work / (f"g_{name}" if src.is_dir() else f"g_{name}.xlsx")
    g, g_cpu = min(_gpucredit(src, out) for _ in range(repeat))
    peak = _peak_children_mb()
    runs = [_libreoffice(src, work / f"lo_{name}_{k}") for k in range(repeat)]
    lo_t, lo_cpu, lo_out = min(runs, key=lambda r: r[0])
    ratio, cpu_ratio = g / lo_t, g_cpu / max(lo_cpu, 1e-9)
    verdict = "" if target is None else \
        f"  (target {target:.1f}x {'met' if ratio <= target else 'NOT met'})"
    print(f"{name:<16} wall: gpucredit {g:8.2f} s  LibreOffice {lo_t:8.2f} s  ratio "
          f"{ratio:6.2f}x{verdict}")
    print(f"{'':<16} CPU:  gpucredit {g_cpu:8.2f} s  LibreOffice {lo_cpu:8.2f} s  ratio "
          f"{cpu_ratio:6.2f}x  peak RSS of any child so far {peak:,.0f} MB")
    if check_sheet:
        worst, n = _max_rel_diff(work / f"g_{name}.xlsx", lo_out, check_sheet)
        print(f"{'':<16} cross-check: {n:,} numeric cells, largest relative difference "
              f"{worst:.1e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--facilities", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--copies", type=int, default=10, help="deal models in the batch case")
    ap.add_argument("--quick", action="store_true", help="10 facilities, one repetition")
    args = ap.parse_args()
    if args.quick:
        args.facilities, args.repeat, args.copies = 10, 1, 3
    if lo.soffice() is None:
        raise SystemExit("LibreOffice (soffice) is not installed: nothing to compare with")
    work = Path(tempfile.mkdtemp(prefix="bench-recalc-"))
    try:
        deal = work / "deal_model.xlsx"
        subprocess.run([str(GPUCREDIT), "template", "model", "-o", str(deal)], check=True,
                       capture_output=True)
        native = work / "native.xlsx"
        cells = native_model.build(native, facilities=args.facilities)
        print(f"native model: {args.facilities} facilities, {cells:,} formula cells; "
              f"best of {args.repeat}")
        run_case("deal model", deal, work, args.repeat, 1.5, None)
        batch = _deal_batch(deal, work / "deals", args.copies)
        run_case(f"deal batch {args.copies}", batch, work, args.repeat, None, None)
        run_case(f"native {args.facilities}", native, work, args.repeat, 5.0, "Calcs")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
