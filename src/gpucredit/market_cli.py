"""``gpucredit calibrate``: calibrate the market model from a market data file.

Reads the file (:func:`gpucredit.tape.market_reader.read_market`), calibrates
(:func:`gpucredit.marketfit.calibrate_market`), bands the used-GPU prices
(:func:`gpucredit.residual_bands.fit_bands`), prints the parameters and writes the fit
report workbook and, on request, the parameters as JSON for the Monte Carlo. Every output
is written whole or not at all; the input is never touched.

Registered on the main CLI with ``main.add_command(calibrate)`` (see docs/market.md).
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from gpucredit.errors import GpuCreditError

if TYPE_CHECKING:
    import pandas as pd

# The fitting, reporting and reading modules are imported by the commands that use them:
# every other command (and `gpucredit --version`) starts without them.

__all__ = ["DEMO_MARKET", "calibrate", "market_from"]

EXIT_UNUSABLE = 2


def demo_market_path() -> Path:
    """The bundled market data set (published points, each with its source)."""
    return Path(str(resources.files("gpucredit") / "data" / "market_demo.csv"))


DEMO_MARKET = "market_demo.csv"


def _fail(message: str) -> None:
    Console(stderr=True, highlight=False, width=110).print(
        Text.assemble(("error:", "bold red"), " ", message), soft_wrap=True)
    sys.exit(EXIT_UNUSABLE)


def _fmt(v) -> str:
    return "-" if v is None or not math.isfinite(v) else f"{v:.4g}"


def _print(tables, fit, console: Console) -> None:
    table = Table(title="Market model calibration", show_lines=False)
    for name in ("parameter", "estimate", "s.e.", "default", "Monte Carlo takes"):
        table.add_column(name, justify="left" if name in ("parameter", "Monte Carlo takes")
                         else "right")
    for rec in tables.parameters.itertuples(index=False):
        table.add_row(rec.parameter, _fmt(rec.estimate), _fmt(rec.se), _fmt(rec.default),
                      rec.monte_carlo)
    console.print(table)
    for model, f in fit.rent_fits.items():
        console.print(f"{model}: {f.n_points} rents {f.origin.date()} to {f.last_date.date()}, "
                      f"trend {f.rent0:.2f} USD/h at the start, deflation "
                      f"{f.deflation:.1%} +/- {f.deflation_se:.1%} a year")
    for note in fit.notes:
        console.print(Text(f"note: {note}", style="dim"))


def market_from(path: Path, sheet: str | None = None
                ) -> tuple[dict, pd.DataFrame | None, str]:
    """What a ``recalc --market`` file gives the run: market-model fields, forward curves.

    A ``.json`` file is what ``calibrate --json`` wrote (its ``market_model``; no curves);
    any other file is read (:func:`~gpucredit.tape.market_reader.read_market`) and its
    rent series calibrated here with ``calibrate``'s defaults: spot rents, series of at
    least 10 points, shorter ones left out. Only fields known well enough are taken
    (:meth:`~gpucredit.marketfit.MarketFit.market_model_kwargs`); ``jump_size`` is never
    taken, since the batch keeps generation step-downs in the base rent trend. The
    file's forward rows are returned for the facilities' merchant rent paths
    (:attr:`gpucredit.engine.RecalcOptions.forward_curves`).

    Returns
    -------
    (dict, DataFrame or None, str)
        ``MarketModel`` field -> value, the forward rows (None: none), and a line for
        the results' Run section.
    """
    from gpucredit.marketfit import calibrate_market
    from gpucredit.montecarlo import MarketModel
    from gpucredit.tape.market_reader import read_market

    path = Path(path)
    forwards = None
    if path.suffix.lower() == ".json":
        kwargs, choices = _from_json(path)
    else:
        data = read_market(path, sheet)
        kwargs, choices = {}, {}
        if len(data.rents):
            fit = calibrate_market(data.rents, data.btc, short="skip")
            kwargs, choices = fit.market_model_kwargs(), fit.model_choices()
        forwards = data.forwards if len(data.forwards) else None
    kwargs = {k: v for k, v in kwargs.items() if k != "jump_size"}
    try:
        replace(MarketModel(), **kwargs)
    except (TypeError, GpuCreditError) as exc:
        raise GpuCreditError(f"{path.name}: its market model cannot be used: {exc}",
                             argument="market", value=str(path)) from None
    return kwargs, forwards, _taken(path, kwargs, choices, forwards)


def _taken(path: Path, kwargs: dict, choices: dict, forwards: pd.DataFrame | None) -> str:
    """One line saying what the run takes from the market file."""
    text = (f"fitted from {path.name}: " + ", ".join(f"{k} {v:.4g}" for k, v in kwargs.items())
            if kwargs else f"cited defaults ({path.name} fits no parameter well enough)")
    left = [k for k in choices if k not in kwargs and k != "jump_size"]
    if kwargs and left:
        text += "; defaults for " + ", ".join(left)
    if forwards is not None:
        text += ("; merchant rents of " + ", ".join(sorted(forwards["gpu_model"].unique()))
                 + " from their forward curves (the latest on or before the valuation date)")
    return text


def _from_json(path: Path) -> tuple[dict, dict]:
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        kwargs = {str(k): float(v) for k, v in payload["market_model"].items()}
        choices = dict(payload.get("choices", {}))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
        raise GpuCreditError(f"{path.name} is not a parameters file written by 'gpucredit "
                             "calibrate --json' (it needs a market_model object of numbers)",
                             argument="market", value=str(path)) from None
    bad = [k for k, v in kwargs.items() if not math.isfinite(v)]
    if bad:
        raise GpuCreditError(f"{path.name}: market_model {', '.join(bad)} must be numbers",
                             argument="market", value=str(path))
    return kwargs, choices


def _outputs_differ(inputs: list[Path], outputs: list[Path]) -> None:
    for o in outputs:
        for i in inputs:
            if o.resolve() == i.resolve():
                _fail(f"the output {o.name} is the market file itself: choose another name")


@click.command("calibrate")
@click.argument("market", required=False, type=click.Path(path_type=Path))
@click.option("--demo", is_flag=True, help="Use the bundled market data set (published "
              "points with their sources).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("market_fit.xlsx"), show_default=True, help="Fit report workbook.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Also write the parameters (and MarketModel fields) as JSON.")
@click.option("--sheet", default=None, help="Worksheet of a workbook (default: Market).")
@click.option("--kind", type=click.Choice(["spot", "contract"]), default="spot",
              show_default=True, help="Which rent series of each GPU model to fit.")
@click.option("--min-points", type=click.IntRange(min=4), default=10, show_default=True,
              help="Fewest observations a series needs.")
@click.option("--skip-short", is_flag=True, help="Leave out series shorter than --min-points "
              "(with a note) instead of stopping.")
@click.option("--bootstrap", type=click.IntRange(min=0), default=0, show_default=True,
              help="Parametric bootstrap samples (bias of kappa, standard errors); 200 suits "
                   "a few years of data.")
@click.option("--band-min-points", type=click.IntRange(min=3), default=8, show_default=True,
              help="Fewest used prices for a GPU model's own band.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
def calibrate(market, demo, output, json_path, sheet, kind, min_points, skip_short, bootstrap,
              band_min_points, seed):
    """Calibrate the market model from a market data file (CSV or a Market sheet).

    \b
    Example:
      gpucredit calibrate --demo -o market_fit.xlsx --min-points 8 --skip-short
    """
    from gpucredit.excel.files import staged_files
    from gpucredit.excel.fit_report import write_fit_report
    from gpucredit.market_report import fit_report_tables
    from gpucredit.marketfit import calibrate_market
    from gpucredit.residual_bands import fit_bands, used_price_points
    from gpucredit.tape.market_reader import read_market

    if demo == (market is not None):
        _fail("give a market file or --demo (one of them)")
    path = demo_market_path() if demo else market
    outputs = [output] + ([json_path] if json_path else [])
    _outputs_differ([path], outputs)
    try:
        data = read_market(path, sheet)
        fit = calibrate_market(data.rents, data.btc, kind=kind, min_points=min_points,
                               n_boot=bootstrap, seed=seed,
                               short="skip" if skip_short else "error")
        bands = None
        if len(data.used_prices):
            bands = fit_bands(used_price_points(data.used_prices), min_points=band_min_points)
        tables = fit_report_tables(data.rents, fit, bands, seed=seed)
    except GpuCreditError as exc:
        _fail(f"{Path(path).name}: {exc}")
        return
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 110)
    _print(tables, fit, console)
    observations = _observations(data)
    for o in outputs:
        o.parent.mkdir(parents=True, exist_ok=True)
    with staged_files() as staging:
        write_fit_report(staging.output(output), tables, observations,
                         title=f"Market calibration: {Path(path).name}")
        if json_path:
            payload = {"market_model": fit.market_model_kwargs(),
                       "choices": fit.model_choices(), "fit": fit.to_dict(),
                       "source": str(Path(path).name)}
            staging.output(json_path).write_text(json.dumps(payload, indent=2))
    console.print(f"wrote {output}" + (f" and {json_path}" if json_path else ""))


def _observations(data):
    import pandas as pd

    parts = []
    for series, frame, value in (("rent", data.rents, "rent"),
                                 ("forward", data.forwards.rename(columns={"as_of": "date"}),
                                  "rent"),
                                 ("used_price", data.used_prices, "price"),
                                 ("btc", data.btc, "price"),
                                 ("hashprice", data.hashprice, "hashprice")):
        if len(frame):
            part = frame.rename(columns={value: "value"}).copy()
            part.insert(0, "series", series)
            parts.append(part)
    cols = ["row", "series", "date", "gpu_model", "kind", "tenor_months", "condition", "value",
            "source"]
    if not parts:
        return pd.DataFrame(columns=cols)
    out = pd.concat(parts, ignore_index=True)
    return out.reindex(columns=cols).sort_values("row")
