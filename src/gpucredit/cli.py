"""The ``gpucredit`` command: templates, validation and batch recalculation.

A thin face: it reads arguments, calls the tape reader, the engine and the writers, and
prints. Exit status: 0 every facility computed, 1 some facilities rejected (the rest are
computed and the rejects listed), 2 the input is unusable (nothing written).
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from gpucredit import _starting  # first: Ctrl-C while the libraries load exits cleanly

try:
    import click
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text
except ImportError as exc:  # pragma: no cover - exercised only without the cli extra
    raise SystemExit(
        f"gpucredit's command line needs its extra: pip install \"gpucredit[cli]\" ({exc})"
    ) from None

from gpucredit import __version__
from gpucredit.errors import GpuCreditError
from gpucredit.outputs import OutputError, OutputPlan, os_error_words

if TYPE_CHECKING:
    import pandas as pd

EXIT_OK, EXIT_REJECTED, EXIT_UNUSABLE = 0, 1, 2

# Piped output (make, logs) gets a fixed width wide enough for the summary tables.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 110)
err_console = Console(stderr=True, highlight=False,
                      width=None if sys.stderr.isatty() else 110)


# C0 and C1 controls, DEL, and the invisible characters that reorder or hide text (bidi
# overrides, zero-width spaces, the BOM): shown as escapes so that no tape, workbook or file
# name can clear the screen, retitle the window, forge a hyperlink or disguise an id.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069"
                     "\ufeff]")


def shown(value) -> str:
    """``value`` as text safe for a terminal: control and invisible characters escaped.

    >>> print(shown("FAC\x1b]0;pwned\x07-1"), shown("A\u200bB"), shown("[v2] [/]"))
    FAC\\x1b]0;pwned\\x07-1 A\\u200bB [v2] [/]
    """
    def esc(m: re.Match) -> str:
        c = ord(m.group())
        return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"

    return _UNSAFE.sub(esc, str(value))


def _say(*parts, stderr: bool = False) -> None:
    """Print plain text and ``(text, style)`` pairs; never read as markup or emoji codes."""
    text = Text.assemble(*((shown(p[0]), p[1]) if isinstance(p, tuple) else shown(p)
                           for p in parts))
    (err_console if stderr else console).print(text, soft_wrap=True)


def _fail(message: str, code: int = EXIT_UNUSABLE):
    """One line on stderr (never wrapped, tape text never read as markup), then exit."""
    _say(("error:", "bold red"), " ", message, stderr=True)
    sys.exit(code)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP, handled like Ctrl-C (SIGINT)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signal_name = signal.Signals(signum).name


def _raise_interrupted(signum, _frame):
    raise Interrupted(signum)


@contextlib.contextmanager
def _signals() -> None:
    """SIGTERM and SIGHUP end a run as Ctrl-C does; a file-size limit is an error, not a kill.

    Without this SIGTERM (``kill``, a batch scheduler's time limit) and SIGHUP (a closed
    terminal) end the process at once, leaving staging files behind, and SIGXFSZ kills it
    without a word where ``write`` would otherwise report EFBIG.
    """
    wanted = {getattr(signal, n): _raise_interrupted for n in ("SIGTERM", "SIGHUP")
              if hasattr(signal, n)}
    if hasattr(signal, "SIGXFSZ"):
        wanted[signal.SIGXFSZ] = signal.SIG_IGN
    old = {}
    with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
        for sig, handler in wanted.items():
            old[sig] = signal.signal(sig, handler)
    # Errors raised while a failed writer's leftovers are garbage-collected (openpyxl's
    # write-only sheets closing after a full disk) repeat the error already reported, as
    # tracebacks: kept out of the analyst's terminal unless debugging.
    hook = sys.unraisablehook
    if not os.environ.get("GPUCREDIT_DEBUG"):
        sys.unraisablehook = lambda _unraisable: None
    try:
        yield
    finally:
        sys.unraisablehook = hook
        for sig, handler in old.items():
            signal.signal(sig, handler)


_PLAN: list[OutputPlan] = []  # the running command's output plan, for failure messages


def _outcome() -> str:
    return _PLAN[-1].outcome() if _PLAN else "nothing written"


def _os_error(exc: OSError) -> str:
    """An OS error in plain words, naming the file the user gave (never a staging file)."""
    plan = _PLAN[-1] if _PLAN else None
    if plan is not None and (plan.writing is not None or exc.filename):
        name = plan.user_name(exc.filename)
        if plan.writing is not None or name != str(exc.filename):
            return f"cannot write {name}: {os_error_words(exc)}. {_outcome().capitalize()}"
    where = f" {exc.filename}" if exc.filename else ""
    return f"cannot use{where}: {os_error_words(exc)}. {_outcome().capitalize()}"


def _explain(exc: BaseException) -> tuple[str, int]:
    """The one line (and exit status) for an error that ends a command."""
    if isinstance(exc, OutputError):
        return f"{exc}. Nothing written", EXIT_UNUSABLE
    if isinstance(exc, GpuCreditError):
        return (f"{str(exc).rstrip('.')}. {_outcome().capitalize()}" if _PLAN else str(exc),
                EXIT_UNUSABLE)
    if isinstance(exc, KeyboardInterrupt):
        return (f"interrupted ({getattr(exc, 'signal_name', 'Ctrl-C')}): {_outcome()}",
                EXIT_UNUSABLE)
    if isinstance(exc, MemoryError):
        return ("ran out of memory: try a smaller --chunk-size or fewer --paths. "
                f"{_outcome().capitalize()}", EXIT_UNUSABLE)
    if isinstance(exc, OSError):
        return _os_error(exc), EXIT_UNUSABLE
    return (f"unexpected {type(exc).__name__}: {exc}. {_outcome().capitalize()}. "
            "Set GPUCREDIT_DEBUG=1 to see the details and report them.", EXIT_UNUSABLE)


class _Group(click.Group):
    """Turn any error escaping a command into one readable line (no traceback)."""

    def invoke(self, ctx):
        try:
            with _signals():
                try:
                    return super().invoke(ctx)
                except (click.ClickException, click.exceptions.Exit,
                        click.exceptions.Abort, SystemExit):
                    raise
                except BaseException as exc:
                    if os.environ.get("GPUCREDIT_DEBUG") and not isinstance(
                            exc, GpuCreditError | KeyboardInterrupt | MemoryError):
                        raise
                    message, code = _explain(exc)
                # The failed writers' objects are freed here, while their close errors
                # (already reported above) are kept out of the terminal.
                gc.collect()
            _fail(message, code)
        finally:
            _PLAN.clear()


def _planned(inputs, *outputs) -> OutputPlan:
    """Declare and check a command's outputs (``(path, what, unit, optional)``)."""
    plan = OutputPlan(inputs=inputs)
    for path, what, unit, optional in outputs:
        plan.add(path, what, unit=unit, optional=optional)
    _PLAN.append(plan)
    plan.check()
    return plan


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

    _write_one(output, "loan-tape template", build_tape_template)


@template.command("model")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="Where to write the deal-model workbook (.xlsx).")
def template_model(output: Path):
    """The deal-model workbook built on the GPU_ worksheet functions."""
    from gpucredit.excel.model_template import build_model_workbook

    _write_one(output, "deal-model workbook", build_model_workbook)


def _write_one(output: Path, what: str, build) -> None:
    """Write one workbook through an output plan (checked, staged, published whole)."""
    plan = _planned([], (output, what, what, False))
    with plan:
        build(plan.stage(plan.targets[0]))
        plan.publish()
    _say(f"{what[0].upper()}{what[1:]} written to ", (str(output), "bold"))


# --------------------------------------------------------------------------- validate


class _Loaded:
    """A validated tape: the rows to compute, the report, the errors as a table."""

    def __init__(self, report, good):
        import pandas as pd

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
        table.add_row(*(Text(shown(r.get(c, ""))) if str(r.get(c, "")) not in ("nan", "<NA>")
                        else "" for c in ("severity", "sheet", "row", "column", "facility_id",
                                          "message")), style=style)
    console.print(table)
    if len(frame) > limit:
        _say(f"... and {len(frame) - limit} more (all are in the Errors sheet).")


@main.command()
@click.argument("tape", type=click.Path(path_type=Path))
@click.option("--strict", is_flag=True, help="Treat any rejected row as a failed tape.")
def validate(tape: Path, strict: bool):
    """Check a loan tape (.xlsx, .xlsm, .csv) and list every problem in one pass."""
    loaded = _load(tape, strict)
    _print_issues(loaded)
    _say(loaded.report.summary())
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
        totals.add_row(Text(shown(r["item"])), text)
    console.print(totals)
    worst = result.worst
    if worst.empty:
        return
    ranked = "expected loss" if "mc_pv_expected_loss" in worst else "minimum DSCR"
    table = Table(title=f"Worst {len(worst)} facilities by {ranked}")
    cols = [("Facility", None), ("GPU", "gpu_model"), ("Debt $m", "debt"),
            ("Rating", "rating_bucket"), ("PD/yr", "pd_annual"),
            ("EL $m", "mc_pv_expected_loss"), ("Fair", "fair_spread_bp"),
            ("Quoted", "quoted_spread_bp"), ("Min DSCR", "min_dscr"), ("LTV", "ltv_market")]
    cols = [(h, c) for h, c in cols if c is None or c in worst]
    for h, _ in cols:
        table.add_column(h, no_wrap=True,
                         justify="left" if h in ("Facility", "GPU", "Rating") else "right")
    for fid, r in worst.iterrows():
        table.add_row(*(Text(shown(fid if c is None else _cell(c, r[c]))) for _, c in cols))
    console.print(table)
    console.print("PD/yr: Monte Carlo, annualised over the tenor (\"< x\": too few defaults in "
                  "the run to estimate it; x is its 95% bound). EL: present value of the "
                  "expected loss. Fair and quoted spreads in bp (fair: PV of expected loss over "
                  "the risky annuity). LTV: today, market value. Why each rating: Credit sheet.")


def _cell(column: str, v) -> str:
    """One value of the worst-facilities table, in the analyst's units."""
    if v is None or v != v:
        return "n/a"
    if isinstance(v, str):  # already worded (e.g. a PD shown as its bound, "< 0.09%")
        return v
    if column == "min_dscr":
        return f"{v:.2f}x"
    if column in ("debt", "mc_pv_expected_loss"):
        return f"{v / 1e6:,.0f}"
    if column in ("fair_spread_bp", "quoted_spread_bp"):
        return f"{v:,.0f}"
    if column == "pd_annual":
        return f"{v:.2%}"
    if column in ("max_ltv_liquidation", "mc_pd", "ltv_market"):
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
              help="Monte Carlo seed: it alone fixes the market every facility shares; with "
                   "a facility's id, that facility's own draws [default: the tape's "
                   "Assumptions, else 0].")
@click.option("--csv", "csv_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Also write each table as CSV into this folder.")
@click.option("--strict", is_flag=True, help="Stop (exit 2) if any row is rejected.")
@click.option("--no-scenarios", is_flag=True, help="Skip the deterministic scenario grid.")
@click.option("--chunk-size", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Facilities per chunk of work.")
@click.option("--engine", type=click.Choice(["local", "processes", "dask"]), default="local",
              show_default=True, help="Where chunks run: this process, one worker process "
              "per core of this machine, or a Dask cluster.")
@click.option("--scheduler", default=None,
              help="Dask scheduler address (with --engine dask); default a local cluster.")
@click.option("--max-memory", default="4GB", show_default=True,
              help="Memory the run may need (estimated before it starts): 16GB, 512MiB ...")
@click.option("--market", "market_file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Market data (CSV, a workbook's Market sheet, or the JSON "
              "of 'calibrate --json'): the Monte Carlo takes the parameters it fits well, and "
              "facilities of a GPU model with a forward curve take their rents from it.")
@click.option("--periods-format", type=click.Choice(["csv", "parquet"]), default="csv",
              show_default=True, help="The file beside the workbook that holds every "
              "facility-period when they are too many for the workbook: CSV, or Parquet "
              "(columnar and typed, for pandas; needs pyarrow, the 'parquet' extra).")
@click.option("--quiet", is_flag=True, help="No progress bar or summary.")
def recalc(tape: Path, output: Path, paths: int | None, seed: int | None,
           csv_dir: Path | None,
           strict: bool, no_scenarios: bool, chunk_size: int, engine: str,
           scheduler: str | None, max_memory: str, market_file: Path | None,
           periods_format: str, quiet: bool):
    """Recompute every facility of a loan tape and write a results workbook."""
    from gpucredit import limits

    memory = limits.parse_bytes(max_memory)
    plan = _recalc_plan(tape, output, csv_dir, market_file)
    started = time.perf_counter()
    # The processes engine's workers start (their server imports the engine) while this
    # process imports it and reads the tape, instead of after.
    early = _mapper(engine, scheduler, warm=True) if engine == "processes" else None
    try:
        from gpucredit.engine import RecalcOptions
        from gpucredit.engine import recalc as run

        fitted, forwards, market_text = _market_model(market_file)
        loaded = _load(tape, strict)
        if loaded.report.exit_status == EXIT_UNUSABLE:
            _print_issues(loaded)
            _fail(f"{loaded.report.summary().rstrip('.')}: {plan.outcome()}")
        # Monte Carlo settings the tape's Assumptions sheet gives, unless the command does.
        on_sheet = loaded.report.source.assumptions if loaded.report.source else {}
        if paths is None:
            paths = int(loaded.assumptions["mc_paths"]) if "mc_paths" in on_sheet else 0
        if seed is None:
            seed = int(loaded.assumptions["mc_seed"]) if "mc_seed" in on_sheet else 0
        limits.check_run(limits.run_size(loaded.rows, loaded.assumptions, paths, chunk_size),
                         max_memory=memory)
        options = RecalcOptions(n_paths=paths, seed=seed, run_scenarios=not no_scenarios,
                                chunk_size=_chunk_size(engine, len(loaded.rows), chunk_size),
                                market_model=fitted,
                                forward_curves=forwards)
        run_info = {"input_file": shown(tape), "input_sha256": _sha256(tape),
                    "run_started": time.strftime("%Y-%m-%d %H:%M:%S"), "engine": engine}
        if market_file is not None:
            run_info["market_model"] = market_text
        with plan:  # the run's spooled tables live in the plan's staging, removed at the end
            mapper, close = early or _mapper(engine, scheduler)
            early = None  # closed here
            try:
                result = _run_with_progress(run, loaded, options, run_info, mapper, quiet,
                                            plan.scratch())
                if result.metrics.empty:
                    _print_issues_frame(result.errors)
                    _fail(f"no facility of {tape.name} could be computed: {plan.outcome()}")
                # The processes engine's workers also render the workbook's big sheets.
                _write_recalc(plan, result, periods_format,
                              mapper if engine == "processes" else None)
            finally:
                close()
    finally:
        if early is not None:
            early[1]()
    elapsed = time.perf_counter() - started
    if not quiet:
        _summary_table(result)
        _print_issues_frame(result.errors, limit=10)
    rejected = len(result.errors[result.errors["severity"] == "error"]["facility_id"].unique())
    _say("Results written to ", (str(output), "bold"),
         f" ({len(result.metrics)} facilities computed, {rejected} rejected, "
         f"{elapsed:.1f} s).")
    spill = [t for t in plan.published if t.optional]
    if spill:
        _say("Every facility-period written to ", (str(spill[0].path), "bold"),
             " (too many for the workbook).")
    if csv_dir is not None:
        _say("CSV tables written to ", (str(csv_dir), "bold"), ".")
    sys.exit(EXIT_REJECTED if rejected else EXIT_OK)


def _market_model(market_file: Path | None) -> tuple[dict | None, object, str]:
    """What a ``--market`` file gives the run: the Monte Carlo's market fields, the
    forward curves for merchant rents, and a line saying so (Nones: no file)."""
    if market_file is None:
        return None, None, ""
    from gpucredit.market_cli import market_from

    try:
        fitted, forwards, text = market_from(market_file)
    except GpuCreditError as exc:
        _fail(f"--market {market_file.name}: {exc}: nothing written")
    _say("Market model ", (text, "bold"), ".")
    return fitted or None, forwards, text


def _recalc_plan(tape: Path, output: Path, csv_dir: Path | None,
                 market_file: Path | None = None) -> OutputPlan:
    """Every file ``recalc`` may write, checked against the tape and each other."""
    from gpucredit.excel import results
    from gpucredit.excel.csv_out import TABLES

    # Every companion file the results writer may put beside the workbook (it names
    # them); a file it writes that is not declared here is never published.
    outputs = [(output, "results workbook", "workbook", False)] + [
        (companion(output), f"periods file ({companion(output).suffix}) written beside the "
         "workbook for large tapes", "workbook", True)
        for companion in (getattr(results, n, None) for n in ("periods_csv_path",
                                                              "periods_parquet_path"))
        if companion is not None]
    if csv_dir is not None:
        outputs += [(csv_dir / f"{name}.csv", f"CSV table {name}.csv", "csv", False)
                    for name in TABLES]
    inputs = [(tape, "input tape")] + ([(market_file, "market file")] if market_file else [])
    plan = _planned(inputs, *outputs)
    if output.suffix.lower() != ".xlsx":
        _fail(f"the results workbook {output} must be named .xlsx (it is an Excel "
              "workbook; use --csv for CSV tables): nothing written")
    return plan


def _write_recalc(plan: OutputPlan, result, periods_format: str = "csv",
                  mapper=None) -> None:
    """Write the workbook (and CSV tables) into staging, then publish them together."""
    from gpucredit.excel.results import write_results

    write_results(result, plan.stage(plan.targets[0]), periods_format=periods_format,
                  mapper=mapper)
    csv = [t for t in plan.targets if t.unit == "csv"]
    if csv:
        from gpucredit.excel.csv_out import write_csv_tables

        write_csv_tables(result, plan.stage(csv[0]).parent)
    plan.publish()


def _chunk_size(engine: str, n_rows: int, chunk_size: int) -> int:
    """``chunk_size``, or with the processes engine at most that many rows a chunk in a
    number of chunks that is a multiple of the workers, so that no worker idles through
    the last round: 10,000 rows on two workers make six chunks of 1,667, not five of
    2,000 (each chunk also costs about 0.4 s whatever its size, so not more chunks)."""
    if engine != "processes" or n_rows < 1:
        return chunk_size
    from gpucredit.processes import default_workers

    workers = default_workers()
    chunks = -(-n_rows // chunk_size)
    chunks = -(-chunks // workers) * workers
    return max(1, -(-n_rows // chunks))


def _mapper(engine: str, scheduler: str | None, warm: bool = False):
    if engine == "local":
        return None, lambda: None
    if engine == "processes":
        from gpucredit.processes import process_mapper

        return process_mapper(warm=warm)
    from gpucredit.distributed import dask_mapper

    return dask_mapper(scheduler)


def _run_with_progress(run, loaded, options, run_info, mapper, quiet: bool, spool: Path):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    total = len(loaded.rows)
    if quiet or total <= options.chunk_size:
        return run(loaded.rows, loaded.assumptions, options, errors=loaded.report_frame,
                   run_info=run_info, mapper=mapper, spool=spool)
    with Progress("[progress.description]{task.description}", BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=err_console,
                  transient=True) as bar:
        task = bar.add_task("facilities", total=total)
        return run(loaded.rows, loaded.assumptions, options, errors=loaded.report_frame,
                   run_info=run_info, mapper=mapper, spool=spool,
                   progress=lambda done, _total: bar.update(task, completed=done))


# --------------------------------------------------------------------------- workbooks


@main.command("recalc-workbook")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="Output file (one input) or folder (several inputs or a folder).")
@click.option("--values-only", is_flag=True,
              help="Replace every formula by its value: a copy readable without the add-in.")
@click.option("--memory-limit", type=click.FloatRange(min=0.1), default=4.0, show_default=True,
              help="GiB of memory one workbook's computation may use.")
@click.option("--time-limit", type=click.FloatRange(min=1), default=1800, show_default=True,
              help="Seconds one workbook's computation may take.")
def recalc_workbook(inputs: tuple[Path, ...], output: Path, values_only: bool,
                    memory_limit: float, time_limit: float):
    """Compute workbooks that use the GPU_ functions, without Excel, and save the values.

    Nothing outside a workbook is read: links to other files, web functions and
    circular references become error values, each reported with its cell. Exit status:
    0 every workbook written with nothing cut, 1 some workbook failed or had cells cut
    (the rest written), 2 none written.
    """
    from gpucredit.excel.recalc import recalc_workbooks

    try:
        results = recalc_workbooks(list(inputs), output, values_only=values_only,
                                   memory_bytes=int(memory_limit * 2**30), seconds=time_limit)
    except GpuCreditError as exc:
        _fail(_shown(str(exc)))
    failed = cut = 0
    for r in results:
        if r.error:
            failed += 1
            err_console.print(Text.assemble((_shown(str(r.source)), "red"), ": ",
                                            _shown(r.error)), soft_wrap=True)
            continue
        console.print(Text.assemble(_shown(str(r.source)), " -> ",
                                    (_shown(str(r.output)), "bold"),
                                    f" ({r.formula_cells:,} formulas, {r.gpu_cells:,} GPU_, "
                                    f"{r.error_cells:,} with an error)"), soft_wrap=True)
        cut += bool(r.findings)
        for line in r.findings:
            err_console.print(Text.assemble(("  cut ", "yellow"), _shown(line)),
                              soft_wrap=True)
        _print_cell_errors(r)
    sys.exit(EXIT_UNUSABLE if failed == len(results) else
             EXIT_REJECTED if failed or cut else EXIT_OK)


_CELL_ERRORS_SHOWN = 10
"""Cells with an error listed per workbook in the terminal (all are in the result)."""


def _print_cell_errors(r) -> None:
    """The cells that hold an error, each with its reason (a GPU_ call refused over its
    budget, a bad argument ...), so that a #VALUE! is never left unexplained."""
    for line in r.cell_errors[:_CELL_ERRORS_SHOWN]:
        err_console.print(Text.assemble(("  error ", "yellow"), _shown(line)), soft_wrap=True)
    more = r.error_cells - min(len(r.cell_errors), _CELL_ERRORS_SHOWN)
    if more > 0:
        err_console.print(f"  ... and {more:,} more cells with an error", soft_wrap=True)


def _shown(text: str) -> str:
    """Text from a workbook or a file name as plain characters: control characters are
    written escaped (\\x1b), never sent to the terminal."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                   for ch in text)


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


# --------------------------------------------------------------------------- market data
# (the implementation is gpucredit.market_cli)

from gpucredit.market_cli import calibrate  # noqa: E402

main.add_command(calibrate)

_starting.loaded()  # the commands handle signals themselves from here


if __name__ == "__main__":  # pragma: no cover
    main()
