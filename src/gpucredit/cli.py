"""The ``gpucredit`` command: templates, validation and batch recalculation.

A thin face: it reads arguments, calls the tape reader, the engine and the writers, and
prints. Exit status: 0 every facility computed, 1 some facilities rejected (the rest are
computed and the rejects listed), 2 the input is unusable (nothing written).
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

try:
    import click
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text
except ImportError as exc:  # pragma: no cover - exercised only without the cli extra
    raise SystemExit(
        f"gpucredit's command line needs its extra: pip install 'gpucredit[cli]' ({exc})"
    ) from None

import pandas as pd

from gpucredit import __version__
from gpucredit.errors import GpuCreditError

EXIT_OK, EXIT_REJECTED, EXIT_UNUSABLE = 0, 1, 2

# Piped output (make, logs) gets a fixed width wide enough for the summary tables.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 110)
err_console = Console(stderr=True, highlight=False,
                      width=None if sys.stderr.isatty() else 110)


def _fail(message: str, code: int = EXIT_UNUSABLE):
    """One line on stderr (never wrapped, tape text never read as markup), then exit."""
    err_console.print(Text.assemble(("error:", "bold red"), " ", message), soft_wrap=True)
    sys.exit(code)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _parent_folder(path: Path) -> None:
    """Create the output's folder if it is missing (a new results folder is expected)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _fail(f"cannot create the folder {path.parent} for {path.name}: {exc.strerror}")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


class _Group(click.Group):
    """Turn any error escaping a command into one readable line (no traceback)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except GpuCreditError as exc:
            _fail(str(exc))
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort,
                SystemExit):
            raise
        except KeyboardInterrupt:
            _fail("interrupted: nothing was written", EXIT_UNUSABLE)
        except MemoryError:
            _fail("ran out of memory: try a smaller --chunk-size or fewer --paths")
        except Exception as exc:
            if os.environ.get("GPUCREDIT_DEBUG"):
                raise
            _fail(f"unexpected {type(exc).__name__}: {exc}. Nothing was written. "
                  "Set GPUCREDIT_DEBUG=1 to see the details and report them.")


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gpucredit")
def main():
    """gpucredit: credit analytics for loans secured on GPU clusters.

    \b
    Typical night run:
      gpucredit validate tape.xlsx
      gpucredit recalc tape.xlsx -o results.xlsx --paths 2000 --seed 7
    """


# --------------------------------------------------------------------------- templates


@main.group()
def template():
    """Write a blank workbook to fill in (loan tape or deal model)."""


@template.command("tape")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="Where to write the loan-tape template (.xlsx).")
def template_tape(output: Path):
    """The loan-tape template: instructions, the tape table, assumptions and sources."""
    from gpucredit.excel.tape_template import build_tape_template

    _parent_folder(output)
    path = build_tape_template(output)
    console.print(f"Loan-tape template written to [bold]{path}[/]")


@template.command("model")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="Where to write the deal-model workbook (.xlsx).")
def template_model(output: Path):
    """The deal-model workbook built on the GPU_ worksheet functions."""
    from gpucredit.excel.model_template import build_model_workbook

    _parent_folder(output)
    path = build_model_workbook(output)
    console.print(f"Deal-model workbook written to [bold]{path}[/]")


# --------------------------------------------------------------------------- validate


class _Loaded:
    """A validated tape: the rows to compute, the report, the errors as a table."""

    def __init__(self, report, good):
        from gpucredit.tape.validate import report_to_frame

        self.report = report
        self.rows = good.assign(_row=good.index, _sheet=report.sheet or "").reset_index(
            drop=True)
        self.rejected = report.rejected
        self.assumptions = report.assumptions
        frame = report_to_frame(report)
        self.report_frame = pd.DataFrame({
            "sheet": frame["Sheet"], "row": frame["Row"],
            "column": (frame["Column"] + " (" + frame["Header"] + ")").where(
                frame["Header"] != "", frame["Column"]),
            "facility_id": frame["Facility"], "value": frame["Value"],
            "severity": frame["Severity"], "message": frame["Message"]})


def _load(tape: Path, strict: bool) -> _Loaded:
    from gpucredit.tape.validate import validate_file

    report, good = validate_file(tape, strict=strict)
    return _Loaded(report, good)


def _print_issues(loaded: _Loaded, limit: int = 50) -> None:
    _print_issues_frame(loaded.report_frame, limit)


def _print_issues_frame(frame: pd.DataFrame, limit: int = 50) -> None:
    """The problems table: validation issues and facilities the engine rejected."""
    if frame.empty:
        return
    table = Table(title=f"Problems found ({len(frame)})", show_lines=False)
    for col in ("severity", "sheet", "row", "column", "facility_id", "message"):
        table.add_column(col.replace("_", " ").title(), overflow="fold",
                         max_width=70 if col == "message" else None)
    for _, r in frame.head(limit).iterrows():
        style = "red" if r["severity"] == "error" else "yellow"
        table.add_row(*(escape(str(r.get(c, ""))) if str(r.get(c, "")) not in ("nan", "<NA>")
                        else "" for c in ("severity", "sheet", "row", "column", "facility_id",
                                          "message")), style=style)
    console.print(table)
    if len(frame) > limit:
        console.print(f"... and {len(frame) - limit} more (all are in the Errors sheet).")


@main.command()
@click.argument("tape", type=click.Path(path_type=Path))
@click.option("--strict", is_flag=True, help="Treat any rejected row as a failed tape.")
def validate(tape: Path, strict: bool):
    """Check a loan tape (.xlsx, .xlsm, .csv) and list every problem in one pass."""
    loaded = _load(tape, strict)
    _print_issues(loaded)
    console.print(Text(loaded.report.summary()))
    sys.exit(loaded.report.exit_status)


# --------------------------------------------------------------------------- recalc


def _summary_table(result) -> None:
    totals = Table(title="Portfolio", show_header=False)
    totals.add_column("item")
    totals.add_column("value", justify="right")
    for _, r in result.summary_totals.iterrows():
        v = r["value"]
        if "USD" in r["item"]:
            text = f"{v / 1e6:,.1f}m"
        elif "LTV" in r["item"]:
            text = f"{v:.0%}"
        elif "DSCR" in r["item"]:
            text = f"{v:.2f}x"
        else:
            text = f"{v:,.0f}"
        totals.add_row(r["item"].replace(" (USD)", " (USD)"), text)
    console.print(totals)
    worst = result.worst
    if worst.empty:
        return
    table = Table(title=f"Worst {len(worst)} facilities by minimum DSCR")
    cols = [("Facility", None), ("GPU", "gpu_model"), ("Debt $m", "debt"),
            ("Min DSCR", "min_dscr"), ("Breach", "first_breach_default"),
            ("Max LTV liq.", "max_ltv_liquidation"), ("Breakeven", "breakeven_rent"),
            ("PD", "mc_pd")]
    cols = [(h, c) for h, c in cols if c is None or c in worst]
    for h, _ in cols:
        table.add_column(h, no_wrap=True,
                         justify="left" if h in ("Facility", "GPU") else "right")
    for fid, r in worst.iterrows():
        table.add_row(*(escape(str(fid)) if c is None else escape(_cell(c, r[c]))
                        for _, c in cols))
    console.print(table)
    console.print("Breach: first period below the default covenant. Breakeven: flat merchant "
                  "rent per GPU-hour for a 1.00x minimum DSCR ('contract' when the contracted "
                  "revenue alone covers it). PD: Monte Carlo, over the tenor.")


def _cell(column: str, v) -> str:
    """One value of the worst-facilities table, in the analyst's units."""
    if v is None or v != v:
        return "n/a"
    if column == "debt":
        return f"{v / 1e6:,.0f}"
    if column == "min_dscr":
        return f"{v:.2f}x"
    if column == "first_breach_default":
        return "none" if not v else f"period {int(v)}"
    if column in ("max_ltv_liquidation", "mc_pd"):
        return f"{v:.0%}"
    if column == "breakeven_rent":
        return "contract" if v <= 0 else f"${v:.2f}"
    return str(v)


@main.command()
@click.argument("tape", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="Results workbook to write (.xlsx).")
@click.option("--paths", type=click.IntRange(min=0), default=None,
              help="Monte Carlo paths per facility (0: none) [default: the tape's "
                   "Assumptions, else 0].")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Monte Carlo seed; with the facility id it fixes each facility's paths "
                   "[default: the tape's Assumptions, else 0].")
@click.option("--csv", "csv_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Also write each table as CSV into this folder.")
@click.option("--strict", is_flag=True, help="Stop (exit 2) if any row is rejected.")
@click.option("--no-scenarios", is_flag=True, help="Skip the deterministic scenario grid.")
@click.option("--chunk-size", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Facilities per chunk of work.")
@click.option("--engine", type=click.Choice(["local", "dask"]), default="local",
              show_default=True, help="Where chunks run: this process, or a Dask cluster.")
@click.option("--scheduler", default=None,
              help="Dask scheduler address (with --engine dask); default a local cluster.")
@click.option("--quiet", is_flag=True, help="No progress bar or summary.")
def recalc(tape: Path, output: Path, paths: int | None, seed: int | None,
           csv_dir: Path | None,
           strict: bool, no_scenarios: bool, chunk_size: int, engine: str,
           scheduler: str | None, quiet: bool):
    """Recompute every facility of a loan tape and write a results workbook."""
    from gpucredit.engine import RecalcOptions
    from gpucredit.engine import recalc as run

    if tape.exists() and _same_file(tape, output):
        _fail(f"the output {output} is the input tape: choose another file name "
              "(the input is never overwritten)")
    started = time.perf_counter()
    loaded = _load(tape, strict)
    if loaded.report.exit_status == EXIT_UNUSABLE:
        _print_issues(loaded)
        _fail(f"{loaded.report.summary().rstrip('.')}: nothing written")
    if csv_dir is not None:
        _parent_folder(csv_dir / "x")  # fail before computing if the folder cannot be made
    # Monte Carlo settings the tape's Assumptions sheet gives, unless the command does.
    on_sheet = loaded.report.source.assumptions if loaded.report.source else {}
    if paths is None:
        paths = int(loaded.assumptions["mc_paths"]) if "mc_paths" in on_sheet else 0
    if seed is None:
        seed = int(loaded.assumptions["mc_seed"]) if "mc_seed" in on_sheet else 0
    options = RecalcOptions(n_paths=paths, seed=seed, run_scenarios=not no_scenarios,
                            chunk_size=chunk_size)
    run_info = {"input_file": str(tape), "input_sha256": _sha256(tape),
                "run_started": time.strftime("%Y-%m-%d %H:%M:%S"), "engine": engine}
    mapper, close = _mapper(engine, scheduler)
    try:
        result = _run_with_progress(run, loaded, options, run_info, mapper, quiet)
    finally:
        close()
    if result.metrics.empty:
        _print_issues_frame(result.errors)
        _fail(f"no facility of {tape.name} could be computed: nothing written")
    from gpucredit.excel.results import write_results

    _parent_folder(output)
    out = write_results(result, output)
    if csv_dir is not None:
        from gpucredit.excel.csv_out import write_csv_tables

        try:
            write_csv_tables(result, csv_dir)
        except BaseException:
            out.unlink(missing_ok=True)  # both outputs or neither
            raise
    elapsed = time.perf_counter() - started
    if not quiet:
        _summary_table(result)
        _print_issues_frame(result.errors, limit=10)
    rejected = len(result.errors[result.errors["severity"] == "error"]["facility_id"].unique())
    console.print(f"Results written to [bold]{out}[/] "
                  f"({len(result.metrics)} facilities computed, {rejected} rejected, "
                  f"{elapsed:.1f} s).")
    if csv_dir is not None:
        console.print(f"CSV tables written to [bold]{csv_dir}[/].")
    sys.exit(EXIT_REJECTED if rejected else EXIT_OK)


def _mapper(engine: str, scheduler: str | None):
    if engine == "local":
        return None, lambda: None
    from gpucredit.distributed import dask_mapper

    return dask_mapper(scheduler)


def _run_with_progress(run, loaded, options, run_info, mapper, quiet: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    total = len(loaded.rows)
    if quiet or total <= options.chunk_size:
        return run(loaded.rows, loaded.assumptions, options, errors=loaded.report_frame,
                   run_info=run_info, mapper=mapper)
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=err_console,
                  transient=True) as bar:
        task = bar.add_task("facilities", total=total)
        return run(loaded.rows, loaded.assumptions, options, errors=loaded.report_frame,
                   run_info=run_info, mapper=mapper,
                   progress=lambda done, _total: bar.update(task, completed=done))


# --------------------------------------------------------------------------- workbooks


@main.command("recalc-workbook")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Output file (one input) or folder (several inputs or a folder).")
def recalc_workbook(inputs: tuple[Path, ...], output: Path):
    """Compute workbooks that use the GPU_ functions, without Excel, and save the values."""
    from gpucredit.excel.recalc import recalc_workbooks

    results = recalc_workbooks(list(inputs), output)
    failed = 0
    for r in results:
        if getattr(r, "error", None):
            failed += 1
            err_console.print(f"[red]{r.source}[/]: {r.error}")
        else:
            console.print(f"{r.source} -> [bold]{r.output}[/]")
    sys.exit(EXIT_REJECTED if failed and failed < len(results) else
             EXIT_UNUSABLE if failed else EXIT_OK)


if __name__ == "__main__":  # pragma: no cover
    main()


# --------------------------------------------------------------------------- add-in files
# (owned by the add-in work: the implementation is gpucredit.excel.addin)


@main.group("addin")
def addin():
    """Write the Excel add-in files (Windows .xlam, xlwings Lite main.py)."""


@addin.command("windows")
@click.option("-o", "--output", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Folder to write gpucredit.xlam into.")
def addin_windows(out_dir: Path):
    """Write gpucredit.xlam for the xlwings installed here (its DLL name, its VBA)."""
    from gpucredit.excel.addin import write_windows

    try:
        made = write_windows(out_dir)
    except GpuCreditError as exc:
        err_console.print(f"error: {exc}", markup=False, highlight=False)
        sys.exit(EXIT_UNUSABLE)
    console.print(f"{made.path} (xlwings {made.xlwings_version}: "
                  f"{', '.join(made.dll_names)})", markup=False, highlight=False)


@addin.command("lite")
@click.option("-o", "--output", "out_dir", type=click.Path(path_type=Path), required=True,
              help="Folder to write main.py and requirements.txt into.")
@click.option("--wheel-url", default=None,
              help="HTTPS address of this version's wheel, until it is on PyPI.")
def addin_lite(out_dir: Path, wheel_url: str | None):
    """Write xlwings Lite's main.py and requirements.txt, pinned to this version."""
    from gpucredit.excel.addin import write_lite

    try:
        written = write_lite(out_dir, wheel_url)
    except GpuCreditError as exc:
        err_console.print(f"error: {exc}", markup=False, highlight=False)
        sys.exit(EXIT_UNUSABLE)
    for path in written:
        console.print(str(path), markup=False, highlight=False)
