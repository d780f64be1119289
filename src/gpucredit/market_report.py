"""The tables of a market fit report, computed once here for every face to present.

:func:`fit_report_tables` turns a calibration (:mod:`gpucredit.marketfit`) and residual
bands (:mod:`gpucredit.residual_bands`) into plain DataFrames: the parameters with their
standard errors and the Monte Carlo's defaults, each generation's history with its fitted
trend and a simulated fan, the bands against the preset curves, and the collateral value
and LTV at the band edges. The Excel writer (:mod:`gpucredit.excel.fit_report`) and the
CLI only lay them out.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import numpy as np
import pandas as pd

from gpucredit.marketfit import MarketFit, simulate_rent_fan
from gpucredit.residual_bands import ResidualBands, band_collateral

__all__ = ["FitReportTables", "fit_report_tables"]

_UNITS = {
    "btc_vol": ("per year (log returns)", "GBM maximum likelihood on irregular dates"),
    "rent_kappa": ("per year", "OU exact likelihood; pooled over generations"),
    "rent_sigma": ("per square-root year", "OU exact likelihood; pooled over generations"),
    "jump_size": ("share of rent lost per launch", "step term at successor launches"),
    "rho": ("correlation", "innovations of BTC and rent on common dates"),
    "btc_drift": ("per year (log)", "GBM maximum likelihood"),
    "trend_deflation": ("per year", "log-linear trend with OU errors; pooled"),
}


@dataclass
class FitReportTables:
    """Everything a fit report shows, as DataFrames.

    Attributes
    ----------
    parameters : DataFrame
        ``parameter, estimate, se, default, monte_carlo, unit, method``.
    correlation : DataFrame
        Cross-generation correlation (and ``se`` as a second frame in ``correlation_se``).
    correlation_se : DataFrame
    history : dict
        GPU model -> DataFrame ``date, observed, trend, q05, q50, q95``: the observations
        with the fitted trend, then the fan after the last one, drawn with the parameters
        the Monte Carlo takes (fitted where the data support them, else its defaults) and
        the step down at each future launch of the model's successors.
    bands : DataFrame or None
        Index ``age``; band edges (``q10`` ...) and the preset curves (``preset H100`` ...).
    band_points : DataFrame or None
        ``gpu_model, age, value`` observed.
    collateral : DataFrame or None
        Per model with a preset: value per GPU and LTV at each band edge by age, for a
        loan of ``advance`` times the launch price.
    basis : DataFrame
    notes : list of str
    """

    parameters: pd.DataFrame
    correlation: pd.DataFrame
    correlation_se: pd.DataFrame
    history: dict = field(default_factory=dict)
    bands: pd.DataFrame | None = None
    band_points: pd.DataFrame | None = None
    collateral: pd.DataFrame | None = None
    basis: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list = field(default_factory=list)


def _parameters(fit: MarketFit, max_rel_se: float) -> pd.DataFrame:
    from gpucredit.montecarlo import MarketModel

    defaults = {f.name: f.default for f in fields(MarketModel)}
    choices = fit.model_choices(max_rel_se)
    table = fit.parameters().reset_index()
    table["default"] = [defaults.get(p, np.nan) for p in table["parameter"]]
    table["monte_carlo"] = [
        ("fitted value" if choices[p] == "fitted" else f"default: {choices[p]}")
        if p in choices else "not a Monte Carlo input" for p in table["parameter"]]
    table["unit"] = [_UNITS[p][0] for p in table["parameter"]]
    table["method"] = [_UNITS[p][1] for p in table["parameter"]]
    return table


def _history(rents: pd.DataFrame, fit: MarketFit, fan_years: float, seed: int,
             max_rel_se: float) -> dict:
    """Observations and trend, then the fan the Monte Carlo would draw: the fitted trend,
    with kappa, sigma and the jump it takes (fitted or default) and the presets' future
    launches."""
    from gpucredit.montecarlo import MarketModel
    from gpucredit.presets import PRESETS

    take = {**{k: getattr(MarketModel(), k) for k in fit.MODEL_FIELDS},
            **fit.market_model_kwargs(max_rel_se)}
    out = {}
    for model, f in fit.rent_fits.items():
        kind = f.name.split()[1]
        obs = rents[(rents["gpu_model"] == model) & (rents["kind"] == kind)].sort_values("date")
        hist = pd.DataFrame({"date": obs["date"].to_numpy(), "observed": obs["rent"].to_numpy(),
                             "trend": f.trend(obs["date"])})
        preset = PRESETS.get(str(model).upper())
        future = [d for d in (preset.successor_dates if preset else ())
                  if pd.Timestamp(d) > f.last_date]
        mc = replace(f, rent_kappa=take["rent_kappa"], rent_sigma=take["rent_sigma"])
        fan = simulate_rent_fan(mc, years=fan_years, quantiles=(0.05, 0.5, 0.95), seed=seed,
                                launch_dates=future, jump=take["jump_size"]).reset_index()
        out[model] = pd.concat([hist, fan], ignore_index=True)[
            ["date", "observed", "trend", "q05", "q50", "q95"]]
    return out


def _bands(bands: ResidualBands, ages: np.ndarray) -> pd.DataFrame:
    from gpucredit.presets import PRESETS

    table = bands.table("all", ages)
    table.columns = [f"band {c} (all)" for c in table.columns]
    for model in bands.models:
        if model != "all":
            own = bands.table(model, ages)
            for c in own.columns:
                table[f"band {c} ({model})"] = own[c].to_numpy()
    for model in sorted(set(bands.points["gpu_model"])):
        preset = PRESETS.get(str(model).upper())
        if preset is not None:
            table[f"preset {preset.name}"] = np.asarray(preset.residual_value(ages), float)
    return table


def _collateral(bands: ResidualBands, ages: np.ndarray, advance: float) -> pd.DataFrame:
    from gpucredit.presets import PRESETS

    rows = []
    for model in sorted(set(bands.points["gpu_model"])):
        preset = PRESETS.get(str(model).upper())
        if preset is None:
            continue
        cost = preset.list_price_usd
        at = band_collateral(bands, model, ages, cost=cost, debt=advance * cost)
        for q, row in at.iterrows():
            for age, value, ltv in zip(ages, np.atleast_1d(row["value"]),
                                       np.atleast_1d(row["ltv"]), strict=True):
                rows.append((model, q, float(age), float(value), float(ltv)))
    return pd.DataFrame(rows, columns=["gpu_model", "quantile", "age", "value_per_gpu", "ltv"])


def fit_report_tables(rents: pd.DataFrame, fit: MarketFit, bands: ResidualBands | None = None,
                      *, fan_years=3.0, max_age=6.0, advance=0.5, max_rel_se=0.5, seed=0
                      ) -> FitReportTables:
    """The tables of a market fit report.

    Parameters
    ----------
    rents : DataFrame
        The observed rents (``date, gpu_model, kind, rent``).
    fit : MarketFit
        :func:`gpucredit.marketfit.calibrate_market`.
    bands : ResidualBands, optional
        :func:`gpucredit.residual_bands.fit_bands`.
    fan_years : float, default 3
        Horizon of the simulated fan after the last observation.
    max_age : float, default 6
        Oldest age in the band table (years, by quarter).
    advance : float, default 0.5
        Loan as a share of the launch price for the illustrative LTVs at the band edges.
    max_rel_se : float, default 0.5
        Largest relative standard error for a parameter to reach the Monte Carlo
        (:meth:`MarketFit.market_model_kwargs`).
    seed : int, default 0

    Returns
    -------
    FitReportTables
    """
    gens = list(fit.generations)
    ages = np.arange(0.0, max_age + 1e-9, 0.25)
    tables = FitReportTables(
        parameters=_parameters(fit, max_rel_se),
        correlation=pd.DataFrame(fit.corr, index=gens, columns=gens),
        correlation_se=pd.DataFrame(fit.corr_se, index=gens, columns=gens),
        history=_history(rents, fit, fan_years, seed, max_rel_se),
        basis=fit.basis, notes=list(fit.notes))
    if bands is not None:
        tables.bands = _bands(bands, ages)
        tables.band_points = bands.points[["gpu_model", "age", "value"]].copy()
        tables.collateral = _collateral(bands, np.arange(1.0, max_age + 1e-9), advance)
    return tables
