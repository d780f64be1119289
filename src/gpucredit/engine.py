"""The batch engine: the core applied to chunks of a validated loan tape.

One pure function, :func:`run_chunk`, takes a chunk of tape rows (typed and defaulted by
:mod:`gpucredit.tape.validate`), the market assumptions and the run options, and returns
that chunk's tables. :func:`recalc` splits a tape into chunks, maps :func:`run_chunk`
over them with any ``map``-like callable (the built-in ``map`` locally, a distributed
executor elsewhere) and combines the results into a
:class:`~gpucredit.engine_result.RecalcResult`.

Nothing in a chunk's results depends on the other chunks: the market every facility reads
derives from the seed alone (:mod:`gpucredit.market`) and a facility's own draws from the
seed and its id (:mod:`gpucredit.montecarlo`), so results never depend on how the tape is
chunked or ordered. Each chunk also returns its per-path losses
(:class:`gpucredit.portfolio.LossVectors`), summed into the book's loss distribution.

This module converts tape rows into :class:`gpucredit.model.Facilities` and tabulates;
every formula lives in the core modules it calls.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from gpucredit import (
    __version__,
    collateral,
    credit,
    curves,
    marketfit,
    model,
    montecarlo,
    portfolio,
    pricing,
    ratings,
    rents,
)
from gpucredit.engine_result import RecalcResult
from gpucredit.errors import GpuCreditError
from gpucredit.periods import add_months, periods_between_days
from gpucredit.presets import get_preset
from gpucredit.spool import SpooledTable
from gpucredit.tape import schema

__all__ = ["ChunkResult", "RecalcOptions", "combine", "facilities_from_rows", "local_mapper",
           "recalc", "run_chunk", "split"]

DAYS_PER_YEAR = 365.25
"""Day count of tenors, ages and contract terms (calendar years of 365.25 days)."""

_CURVE_PARAMS = {  # curve parameter -> the Assumptions cell that holds it
    "life": "curve_life", "salvage": "curve_salvage", "rate": "curve_rate",
    "lam": "curve_lam", "floor": "curve_floor", "hold_years": "curve_hold_years",
    "steepness": "curve_steepness",
}

IDENTITY_COLUMNS = ("borrower", "borrower_type", "gpu_model", "gpu_count", "commitment",
                    "drawn_amount", "availability_end_date", "maturity_date",
                    "periods_per_year", "amortization", "rate_type", "source")
"""Tape columns repeated at the front of the results' metrics table."""


@dataclass(frozen=True)
class RecalcOptions:
    """How a tape is recalculated.

    Attributes
    ----------
    n_paths : int
        Monte Carlo paths per facility (0: no Monte Carlo).
    seed : int
        Seed of the Monte Carlo: it alone fixes the shared market; with a facility's
        id, that facility's own draws (its customers' defaults).
    run_scenarios : bool
        Run the deterministic scenario grid (:data:`gpucredit.scenarios.STANDARD_SCENARIOS`).
    chunk_size : int
        Facilities per chunk.
    worst : int
        How many facilities the Summary and the charts show as the worst.
    facility_contributions : bool or None
        Keep each facility's per-path losses (8 bytes a facility and path) for its
        contribution to the book's expected shortfall. None: when they take at most
        :data:`FACILITY_LOSSES_MAX_BYTES` for the whole tape; otherwise contributions
        are by group (borrower, customer, generation, borrower type) only.
    market_model : dict, optional
        :class:`~gpucredit.montecarlo.MarketModel` fields calibrated from market data
        (:meth:`gpucredit.marketfit.MarketFit.market_model_kwargs`); they win over the
        tape's assumptions. None: the tape's assumptions and the cited defaults.
    forward_curves : DataFrame, optional
        Forward rows of a market file (:attr:`gpucredit.tape.market_reader.MarketData.forwards`):
        facilities of a GPU model with a spot curve take their merchant rent path from it
        (:func:`facilities_from_rows`). None: every facility's rent follows its trend.
    """

    n_paths: int = 0
    seed: int = 0
    run_scenarios: bool = True
    chunk_size: int = 2_000
    worst: int = 10
    facility_contributions: bool | None = None
    market_model: dict | None = None
    forward_curves: pd.DataFrame | None = None


FACILITY_LOSSES_MAX_BYTES = 256 * 2**20
"""Largest tape-wide per-facility loss matrix kept for facility ES contributions."""


@dataclass
class ChunkResult:
    """The tables of one chunk (see :class:`~gpucredit.engine_result.RecalcResult`)."""

    metrics: pd.DataFrame
    periods: pd.DataFrame
    scenarios: pd.DataFrame
    errors: list[dict] = field(default_factory=list)
    losses: portfolio.LossVectors | None = None
    """The chunk's per-path discounted losses (total, by group, by facility if kept)."""


# --------------------------------------------------------------------------- tape -> model


def _date(x) -> dt.date:
    return pd.Timestamp(x).date()


def _blank(v) -> bool:
    """A blank cell: None, NaN, NaT, pandas NA or empty text."""
    return v is None or (not isinstance(v, str) and bool(pd.isna(v))) or v == ""


def _assumption(assumptions: dict, name: str):
    """An assumption's value; blank or missing takes the schema's declared default (a
    blank valuation date is the date of the run)."""
    v = assumptions.get(name)
    if not _blank(v):
        return v
    if name == "valuation_date":
        return dt.date.today()
    return schema.assumption(name).default


_NUMBERS = {  # Facilities field -> (tape column, its value when the cell is blank)
    "gpus": ("gpu_count", np.nan), "gpu_unit_cost": ("gpu_unit_cost", np.nan),
    "utilization": ("utilization", np.nan), "debt": ("drawn_amount", np.nan),
    "rate_floor": ("rate_floor", 0.0), "target_dscr": ("sculpt_dscr", 1.30),
    "cash_sweep": ("cash_sweep", 0.0), "commitment": ("commitment", np.nan),
    "advance_rate": ("advance_rate", np.nan), "rent_deflation": ("rent_deflation", np.nan),
    "contracted_share": ("contracted_share", 0.0), "contract_rate": ("contract_rate", 0.0),
    "pue": ("pue", np.nan), "power_price": ("power_price", np.nan),
    "colocation_rate": ("colocation_rate", np.nan), "other_opex": ("other_opex", 0.0),
    "maintenance_capex": ("maintenance_capex", 0.0), "tax_rate": ("tax_rate", 0.0),
    "dscr_lockup": ("dscr_lockup", np.nan), "dscr_default": ("dscr_default", np.nan),
    "llcr_lockup": ("llcr_lockup", np.nan), "market_absorption": ("market_absorption", np.nan),
    "liquidation_months": ("liquidation_months", np.nan),
    "install_haircut": ("install_haircut", np.nan), "sale_costs": ("sale_costs", np.nan),
    "btc_held": ("btc_held", 0.0), "hashrate_ph": ("hashrate_ph", 0.0),
    "termination_payment_months": ("termination_payment_months", 0.0),
    "releasing_lag_months": ("releasing_lag_months", 6.0),
    "releasing_rent_factor": ("releasing_rent_factor", 0.85),
    "dsra_amount": ("dsra_amount", 0.0), "liquidity_facility": ("liquidity_facility", 0.0),
    "mining_efficiency": ("mining_efficiency", 17.5),
}
"""Numeric Facilities fields copied from a tape column, and the value a blank cell takes."""

_ROW_COLUMNS = ("facility_id", "_sheet", "_row", "gpu_model", "rate_type", "amortization",
                "residual_curve", "counterparty_rating", "backstop_rating", "ig_contracts",
                "seniority")
"""Tape columns :func:`facilities_from_rows` reads row by row (texts and ratings); it
reads the dates (:func:`_days`) and the numbers (:func:`_numbers`) a column at a time."""

_DATE_COLUMNS = ("maturity_date", "origination_date", "delivery_date",
                 "availability_end_date", "contract_end_date")
_REQUIRED_DATES = ("maturity_date", "origination_date", "delivery_date")


def facilities_from_rows(rows: pd.DataFrame, assumptions: dict, periods_per_year: int,
                         forwards: pd.DataFrame | None = None
                         ) -> tuple[model.Facilities, list[dict]]:
    """Convert tape rows (all on one payment frequency) into model inputs.

    Dates become periods from the valuation date: the remaining tenor is the number of
    periods (a part period counts whole) to maturity, the contract runs the periods to
    its end, interest-only periods already elapsed since origination are used up, the
    GPUs' age is the years since delivery. Blank GPU-dependent cells (power, rent,
    residual curve) take the GPU preset's figures (:mod:`gpucredit.presets`) or the
    Assumptions sheet's. The residual curve is the preset's (fitted to used prices, with
    its low/high band) when the row leaves it blank or names the preset's family; another
    family takes the Assumptions sheet's parameters for that family (the family's
    documented defaults). Generation step-downs apply only to rows that fill
    ``generation_jump``: at each successor's volume date after delivery. With
    ``forwards`` (a market file's forward rows), a facility whose GPU model has a spot
    curve on or before the valuation date takes its merchant rent path from the curve
    (:func:`_forward_rents`). An availability
    period still running at the valuation date draws the undrawn commitment (commitment -
    drawn amount) in equal parts at the start of its periods, each draw buying GPUs at the
    drawn amount per GPU (:func:`gpucredit.model._draws`); a blank one draws nothing more.

    Texts and ratings are read row by row; dates and numbers a column at a time, for the
    rows kept (:func:`_tape_periods`, :func:`_tape_numbers`).

    Returns
    -------
    (Facilities, list of dict)
        The inputs of the rows that could be converted, and one error record per row
        that could not (e.g. a loan already matured at the valuation date).
    """
    m = int(periods_per_year)
    valuation = _date(_assumption(assumptions, "valuation_date"))
    cols: dict[str, list] = {k: [] for k in (
        "ids", "floating", "amortization", "residual_curve", "counterparty_rating",
        "backstop_rating", "seniority", "generation")}
    errors: list[dict] = []
    kept: list[int] = []  # position in ``rows`` of each converted row
    presets: list = []  # its GPU preset
    curve_params: list[dict] = []  # its residual curve's parameters
    days = {name: _days(rows, name) for name in _DATE_COLUMNS}
    today = np.datetime64(valuation, "D")
    present = [c for c in _ROW_COLUMNS if c in rows.columns]
    # plain dicts: a pandas row lookup costs 50x more
    for i, row in enumerate(rows[present].to_dict("records")):
        fid = str(row["facility_id"])
        try:
            preset = get_preset(str(row["gpu_model"]))
            if days["maturity_date"][i] <= today:
                matured = days["maturity_date"][i].item()
                raise GpuCreditError(
                    f"the loan matured on {matured}, on or before the valuation date "
                    f"{valuation}: nothing left to recalculate",
                    argument="maturity_date", value=matured)
            rated = {k: _rating(row, k) for k in ("counterparty_rating", "backstop_rating")}
            if rated["counterparty_rating"] is None and row.get("ig_contracts") is True:
                rated["counterparty_rating"] = IG_FLOOR  # "investment grade", no rating
        except GpuCreditError as exc:
            errors.append(_error(row, exc))
            continue
        kept.append(i)
        presets.append(preset)
        family, params = _curve(row.get("residual_curve"), preset, assumptions)
        curve_params.append(params)
        values = {
            "ids": fid, "floating": str(row["rate_type"]) == "floating",
            "amortization": str(row["amortization"]), "residual_curve": str(family),
            **rated,
            "seniority": "secured" if _blank(row.get("seniority")) else str(row["seniority"]),
            "generation": _GENERATION[preset.architecture],
        }
        for k, v in values.items():
            cols[k].append(v)
    if not kept:
        return None, errors
    texts = ("ids", "amortization", "residual_curve", "counterparty_rating", "backstop_rating",
             "seniority", "generation")
    arrays = {k: (v if k in texts else np.asarray(v)) for k, v in cols.items()}
    at = np.asarray(kept)
    kept_days = {name: d[at] for name, d in days.items()}
    arrays.update(_tape_periods(kept_days, valuation, m))
    elapsed = arrays.pop("elapsed")
    numbers, rent_given, stepped = _tape_numbers(rows, at, presets, arrays, elapsed,
                                                 assumptions)
    arrays.update(numbers)
    models = [p.name for p in presets]  # GPU model of each row (its forward curve)
    if forwards is not None and len(forwards):
        arrays["merchant_rent_path"], arrays["merchant_rent"] = _forward_rents(
            forwards, valuation, m, models, rent_given, arrays)
    btc_price = float(_assumption(assumptions, "btc_price"))
    fac = model.Facilities(
        **arrays, step_ages=_step_ages(models, kept_days["delivery_date"], stepped),
        curve_params=_param_arrays(curve_params),
        residual_curve_low=[p.curve_low[0] for p in presets],
        residual_curve_high=[p.curve_high[0] for p in presets],
        curve_params_low=_param_arrays([p.curve_low[1] for p in presets]),
        curve_params_high=_param_arrays([p.curve_high[1] for p in presets]),
        base_rate=float(_assumption(assumptions, "base_rate")),
        price_vol_monthly=float(_assumption(assumptions, "price_vol_monthly")),
        impact_coefficient=float(_assumption(assumptions, "impact_coefficient")),
        attrition_rate=float(_assumption(assumptions, "attrition_rate")),
        btc_price=btc_price,
        **{k: float(_assumption(assumptions, k)) for k in (
            "recovery_senior_unsecured", "recovery_subordinated", "refi_max_ltv",
            "refi_min_dscr", "refi_tenor_years", "refi_spread")},
        network_difficulty=float(_assumption(assumptions, "network_difficulty")) * 1e12,
        fees_per_block=float(_assumption(assumptions, "fees_per_block")),
        default_counterparty_rating=ratings.parse_rating(
            _assumption(assumptions, "default_counterparty_rating")),
    )
    return fac, errors


def _days(rows: pd.DataFrame, name: str) -> np.ndarray:
    """Date column ``name`` as days (datetime64[D]; NaT where blank, or everywhere when the
    rows lack the column): :func:`_date` of each cell, in one pass."""
    column = rows.get(name)
    if column is None:
        return np.full(len(rows), np.datetime64("NaT"), dtype="datetime64[D]")
    if isinstance(column.dtype, np.dtype) and column.dtype.kind == "M":  # naive datetimes
        return column.to_numpy().astype("datetime64[D]")
    return np.array([np.datetime64("NaT") if _blank(v) else _date(v) for v in column],
                    dtype="datetime64[D]")


def _tape_periods(days: dict[str, np.ndarray], valuation: dt.date, m: int
                  ) -> dict[str, np.ndarray]:
    """The date-derived Facilities fields of rows whose dates are ``days`` (their
    :data:`_DATE_COLUMNS`, datetime64[D]), and the periods ``elapsed`` since origination.

    The remaining ``tenor`` (a part period counts whole), the ``contract_periods`` ended
    by the contract's end, the ``availability_periods`` left (those starting before its end,
    a part period counting whole; 0 when blank or over by the valuation date: the undrawn
    commitment is no longer available) and the GPUs' ``age0`` in years since delivery
    (365.25-day years)."""
    for name in _REQUIRED_DATES:
        if np.isnat(days[name]).any():
            raise ValueError(f"{name} is blank on a row to convert (a required column)")
    today = np.datetime64(valuation, "D")
    contract_end, available_until = days["contract_end_date"], days["availability_end_date"]
    origination = days["origination_date"]
    return {
        "tenor": periods_between_days(today, days["maturity_date"], m, whole=False),
        "elapsed": np.where(origination < today, periods_between_days(
            origination, today, m, whole=True), 0),
        "contract_periods": np.where(np.isnat(contract_end) | (contract_end <= today), 0,
                                     periods_between_days(today, contract_end, m,
                                                           whole=True)),
        "availability_periods": np.where(
            np.isnat(available_until) | (available_until <= today), 0,
            periods_between_days(today, available_until, m, whole=False)),
        "age0": np.maximum(0.0, (today - days["delivery_date"]).astype(np.int64)
                           / DAYS_PER_YEAR),
    }


def _numbers(rows: pd.DataFrame, at: np.ndarray, name: str, default=np.nan) -> np.ndarray:
    """Column ``name`` of the rows at positions ``at`` as floats, a blank cell (:func:`_blank`)
    or a column the rows lack taking ``default``."""
    if name not in rows.columns:
        return np.full(len(at), default, dtype=float)
    column = rows[name]
    if column.dtype.kind in "biuf":  # numbers, nullable or Arrow-backed: a blank is NaN
        x = column.to_numpy(dtype=float, na_value=np.nan)[at]
        return np.where(np.isnan(x), default, x)
    return np.array([default if _blank(v) else float(v) for v in column.iloc[at]],
                    dtype=float)


def _tape_numbers(rows: pd.DataFrame, at: np.ndarray, presets: list, arrays: dict,
                  elapsed: np.ndarray, assumptions: dict
                  ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The numeric Facilities fields of the rows at positions ``at`` (``presets``: their
    GPU presets; ``arrays``: their ``floating`` and ``tenor``; ``elapsed``: their periods
    elapsed since origination), and which rows give a merchant rent and which a
    generation jump (their positions in ``at``).

    A fixed-rate row has no spread, a floating one no fixed rate; the interest-only
    periods left start the amortisation; a blank rent takes the Assumptions sheet's rent
    for the GPU model, else the preset's; a blank kW per GPU the preset's; a blank
    generation jump is 0."""
    num = functools.partial(_numbers, rows, at)
    out = {field: num(name, default) for field, (name, default) in _NUMBERS.items()}
    floating = arrays["floating"]
    out["annual_rate"] = np.where(floating, 0.0, num("fixed_rate"))
    out["spread"] = np.where(floating, num("spread", 0.0), 0.0)
    io_left = np.maximum(0, num("interest_only_periods", 0).astype(np.int64) - elapsed)
    out["amortization_start"] = np.minimum(io_left + 1, arrays["tenor"])
    rent, kw, jump = num("merchant_rent"), num("kw_per_gpu"), num("generation_jump")
    rent_given = ~np.isnan(rent)
    out["merchant_rent"] = _filled(rent, presets, lambda p: _assumed_rent(p, assumptions))
    out["kw_per_gpu"] = _filled(kw, presets, lambda p: p.kw_per_gpu)
    out["generation_jump"] = np.where(np.isnan(jump), 0.0, jump)
    return out, rent_given, np.flatnonzero(~np.isnan(jump))


def _filled(x: np.ndarray, presets: list, value: Callable) -> np.ndarray:
    """``x`` with each NaN replaced, in place, by ``value`` of its row's preset."""
    blank = np.flatnonzero(np.isnan(x))
    x[blank] = [value(presets[j]) for j in blank]
    return x


def _assumed_rent(preset, assumptions: dict) -> float:
    """A blank rent: the Assumptions sheet's rent for the GPU model, else the preset's."""
    market = assumptions.get(f"merchant_rent_{preset.name.lower()}")
    return preset.rent_usd_per_hour if _blank(market) else float(market)


def _param_arrays(params: list[dict]) -> dict[str, np.ndarray]:
    """Each curve parameter over the rows whose curves have ``params`` (NaN where a row's
    family has no such parameter)."""
    return {k: np.asarray([p.get(k, np.nan) for p in params], dtype=float)
            for k in _CURVE_PARAMS}


def _step_ages(models: list[str], deliveries: np.ndarray, stepped: np.ndarray
               ) -> np.ndarray:
    """Successor step ages of each row (NaN-padded; NaN for the rows not ``stepped``): one
    vectorised call per GPU model."""
    by_model: dict[str, list[int]] = {}  # GPU model -> its stepped rows
    for i in stepped.tolist():
        by_model.setdefault(models[i], []).append(i)
    per_model = {name: (idx, get_preset(name).step_ages(deliveries[idx]))
                 for name, idx in by_model.items()}
    width = max([1] + [a.shape[-1] for _, a in per_model.values()])
    steps = np.full((len(models), width), np.nan)
    for idx, ages in per_model.values():
        steps[idx, :ages.shape[-1]] = ages
    return steps


def _forward_rents(forwards: pd.DataFrame, valuation: dt.date, m: int, models: list[str],
                   rent_given: np.ndarray, arrays: dict) -> tuple[np.ndarray | None, np.ndarray]:
    """Merchant rent paths from forward curves, and the rents today they start from.

    A facility whose GPU model has a spot curve on or before the valuation date
    (:func:`gpucredit.marketfit.forward_curve_at`) follows the curve for its tenors and
    its own ``rent_deflation`` beyond (:func:`gpucredit.rents.forward_path`). A tape
    rent moves the whole curve to it, :math:`\\beta = \\ln(r_0 / F(0))`: the facility earns
    its own rent today and the curve's changes after; a blank rent takes the curve's
    level. Other facilities keep the trend (their rows are NaN).
    """
    rent = arrays["merchant_rent"].astype(float)
    width = int(arrays["tenor"].max())
    path = np.full((len(models), width), np.nan)
    for name in sorted(set(models)):
        curve = marketfit.forward_curve_at(forwards, name, valuation)
        if curve is None:
            continue
        _, tenors, level = curve
        rows = np.flatnonzero(np.asarray(models) == name)
        # the curve's rent today is its first point (forward_path is flat before it)
        basis = np.where(rent_given[rows], np.log(rent[rows] / level[0]), 0.0)
        path[rows] = rents.forward_path(tenors, np.broadcast_to(level, (rows.size, level.size)),
                                        width, m, arrays["rent_deflation"][rows], basis)
        rent[rows] = path[rows, 0]
    return (path if np.isfinite(path).any() else None), rent


IG_FLOOR = "BBB-"
"""The customer's rating when the tape says only that its contracts are investment grade
(``ig_contracts`` TRUE, no ``counterparty_rating``): the lowest investment-grade notch,
the prudent reading of "investment grade" (S&P's scale: BBB- and above)."""


_GENERATION = {"Ampere": "ampere", "Hopper": "hopper", "Blackwell": "blackwell",
               "Rubin": "rubin"}
"""GPU architecture of a preset -> the generation whose rent index it follows."""


def _rating(row, name: str) -> str | None:
    """A rating cell on S&P's scale (None when blank); a bad one names its column."""
    try:
        return ratings.parse_rating(None if _blank(row.get(name)) else row.get(name))
    except GpuCreditError as exc:
        raise GpuCreditError(str(exc).replace("rating must", f"{name} must", 1),
                             argument=name, value=row.get(name)) from None


def _curve(family, preset, assumptions: dict) -> tuple[str, dict]:
    """The residual curve of a row: the GPU preset's (fitted to used prices) when the tape
    leaves the family blank or names the preset's own family; otherwise the named family
    with the Assumptions sheet's parameters for it, whose defaults are the family's
    documented ones (:mod:`gpucredit.curves`)."""
    if _blank(family) or str(family) == preset.curve_family:
        return preset.curve_family, dict(preset.curve_params)
    accepted = curves.family_parameters(str(family))
    return str(family), {k: float(_assumption(assumptions, a))
                         for k, a in _CURVE_PARAMS.items() if k in accepted}


def _error(row, exc: GpuCreditError) -> dict:
    return {"sheet": row.get("_sheet", ""), "row": row.get("_row", ""),
            "column": exc.argument or "", "facility_id": str(row.get("facility_id", "")),
            "value": "" if exc.value is None else str(exc.value), "severity": "error",
            "message": str(exc)}


def _market(assumptions: dict, fitted: dict | None = None) -> montecarlo.MarketModel:
    """The market model of the run: the tape's assumptions, then the fields calibrated
    from market data (``fitted``) over them."""
    copula = str(_assumption(assumptions, "copula"))
    optional = {name: float(_optional_assumption(assumptions, name))
                for name in ("generation_correlation", "customer_correlation")
                if _optional_assumption(assumptions, name) is not None}
    model = montecarlo.MarketModel(
        btc_price0=float(_assumption(assumptions, "btc_price")),
        btc_vol=float(_assumption(assumptions, "btc_vol")),
        rho=float(_assumption(assumptions, "rho")),
        copula="t" if copula in ("t", "student_t") else "gaussian",
        t_df=float(_assumption(assumptions, "copula_df")),
        jump_years=(),  # generation steps are in the base trend and the residual curve
        **optional,
    )
    return dataclasses.replace(model, **fitted) if fitted else model


def _optional_assumption(assumptions: dict, name: str):
    """An assumption the schema may not declare yet: its value, its default or None."""
    try:
        return _assumption(assumptions, name)
    except KeyError:
        v = assumptions.get(name)
        return None if _blank(v) else v


def _generations(rows: pd.DataFrame) -> list[str]:
    """Each row's GPU generation (its preset's architecture, lower case)."""
    names = rows["gpu_model"].astype(str).tolist()
    arch = {name: get_preset(name).architecture.lower() for name in set(names)}
    gen = {name: a if a in montecarlo.GENERATIONS else montecarlo.GENERATIONS[-1]
           for name, a in arch.items()}
    return [gen[name] for name in names]


LABEL_COLUMNS = ("borrower", "customer", "counterparty_rating", "borrower_type", "gpu_model")
"""The tape columns :func:`_labels` reads."""


def _labels(rows: pd.DataFrame) -> dict[str, list[str]]:
    """Each facility's group in every :data:`gpucredit.portfolio.DIMENSIONS`."""
    def column(name, fallback):
        if name not in rows:
            return [fallback] * len(rows)
        values = rows[name].tolist()
        text = {v: fallback if _blank(v) else str(v) for v in set(values)}
        return [text[v] for v in values]

    customer = column("customer", "")
    rating = column("counterparty_rating", "no rated customer")
    return {"borrower": column("borrower", "unknown"),
            "customer": [c or r for c, r in zip(customer, rating, strict=True)],
            "generation": _generations(rows),
            "borrower_type": column("borrower_type", "unknown")}


def _monte_carlo(ev, group: pd.DataFrame, assumptions: dict, options: RecalcOptions,
                 m: int) -> tuple[pd.DataFrame, portfolio.LossVectors]:
    """The facilities' Monte Carlo table and their per-path losses for the book."""
    treasury_haircut = collateral.crypto_haircut(
        float(_assumption(assumptions, "btc_vol")),
        float(_assumption(assumptions, "crypto_horizon_days")),
        float(_assumption(assumptions, "crypto_confidence")))
    ex = model.exposure(ev, treasury_haircut)
    rows = group.set_index(group["facility_id"].astype(str)).loc[list(ex.facility_ids)]
    gens = _generations(rows)
    if tuple(gens) != ex.generation:
        ex = dataclasses.replace(ex, generation=gens)
    mc, losses = montecarlo.simulate(ex, _market(assumptions, options.market_model),
                                     options.n_paths,
                                     options.seed, m, return_losses=True)
    keep = options.facility_contributions is not False
    return mc, portfolio.from_facilities(ex.facility_ids, losses, _labels(rows),
                                         keep_facilities=keep)


# --------------------------------------------------------------------------- one chunk


def run_chunk(rows: pd.DataFrame, assumptions: dict, options: RecalcOptions) -> ChunkResult:
    """Recalculate a chunk of validated tape rows: a pure function of its arguments.

    Facilities are grouped by payment frequency; each group runs through
    :func:`gpucredit.model.evaluate`, the scenario grid, the Monte Carlo and pricing in
    vectorised calls. A facility the core rejects (a :class:`GpuCreditError`) is
    reported in the errors and the rest of its group is still computed.
    """
    metrics, periods, grids, errors, losses = [], [], [], [], []
    valuation = _date(_assumption(assumptions, "valuation_date"))
    for m, group in rows.groupby("periods_per_year", sort=True):
        fac, errs = facilities_from_rows(group, assumptions, int(m), options.forward_curves)
        errors += errs
        if fac is None:
            continue
        fac, ev, errs = _evaluate_isolating(fac, int(m), group)
        errors += errs
        if ev is None:
            continue
        table = _with_dates(ev.metrics.copy(), valuation, int(m))
        if options.n_paths > 0:
            mc, lv = _monte_carlo(ev, group, assumptions, options, int(m))
            losses.append(lv)
            table = table.join(mc.drop(columns=["n_paths", "seed"]).add_prefix("mc_"))
        table = table.join(_pricing(table, group.set_index("facility_id"), assumptions,
                                    options.n_paths))
        metrics.append(table)
        frame = ev.periods_frame()
        frame.insert(2, "date", _period_dates(valuation, frame["period"].to_numpy(), int(m)))
        periods.append(frame)
        if options.run_scenarios:
            from gpucredit import scenarios
            grids.append(scenarios.run_scenarios(fac, int(m), base=ev))
    metrics_df = pd.concat(metrics) if metrics else pd.DataFrame()
    if not metrics_df.empty:
        ident = rows.set_index("facility_id")[[c for c in IDENTITY_COLUMNS if c in rows]]
        ident.index = ident.index.astype(str)
        metrics_df = ident.join(metrics_df, how="inner")
        metrics_df = metrics_df[_column_order(metrics_df.columns)]
    return ChunkResult(
        metrics=metrics_df,
        periods=pd.concat(periods, ignore_index=True) if periods else pd.DataFrame(),
        scenarios=pd.concat(grids, ignore_index=True) if grids else pd.DataFrame(),
        errors=errors,
        losses=portfolio.combine(losses) if losses else None,
    )


def _evaluate_isolating(fac: model.Facilities, m: int, rows: pd.DataFrame):
    """Evaluate a group; if the core rejects it, find and report the facilities at fault."""
    try:
        return fac, model.evaluate(fac, m), []
    except GpuCreditError:
        pass
    good, errors = [], []
    by_id = rows.set_index(rows["facility_id"].astype(str))
    for i, fid in enumerate(fac.ids):
        one = _select(fac, [i])
        try:
            model.evaluate(one, m)
            good.append(i)
        except GpuCreditError as exc:
            errors.append(_error(by_id.loc[fid], exc))
    if not good:
        return fac, None, errors
    fac = _select(fac, good)
    return fac, model.evaluate(fac, m), errors


def _select(fac: model.Facilities, idx: list[int]) -> model.Facilities:
    n = fac.n
    changes = {}
    for name in model.Facilities.__dataclass_fields__:
        v = getattr(fac, name)
        if name.startswith("curve_params"):  # curve_params, curve_params_low/_high
            changes[name] = {k: np.asarray(a)[idx] for k, a in v.items()}
        elif isinstance(v, (list, tuple)) and len(v) == n:
            changes[name] = [v[i] for i in idx]
        elif isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] == n:
            changes[name] = v[idx]
    return fac.replace(**changes)


def _period_dates(valuation: dt.date, period: np.ndarray, m: int) -> np.ndarray:
    months = 12 // m
    lookup = {int(p): add_months(valuation, int(p) * months) for p in np.unique(period)}
    return np.array([lookup[int(p)] for p in period], dtype=object)


_PERIOD_COLUMNS = ("first_breach_lockup", "first_breach_default", "first_collateral_shortfall")
"""Metrics that are a period number (0: never); each gains a ``<name>_date`` beside it."""


def _with_dates(table: pd.DataFrame, valuation: dt.date, m: int) -> pd.DataFrame:
    """The end date of each breach period (blank for never), beside its period number:
    monthly and semiannual facilities then read on one calendar."""
    for col in (c for c in _PERIOD_COLUMNS if c in table):
        periods = table[col].to_numpy()
        breached = periods > 0
        dates = np.full(len(periods), None, dtype=object)
        dates[breached] = _period_dates(valuation, periods[breached], m)
        table.insert(table.columns.get_loc(col) + 1, f"{col}_date", list(dates))
    return table


def _pricing(metrics: pd.DataFrame, rows: pd.DataFrame, assumptions: dict,
             n_paths: int) -> pd.DataFrame:
    """Merton from equity, then the credit verdict (:func:`gpucredit.credit.verdict`)."""
    idx = metrics.index
    tape = rows.reindex(idx)
    out = _merton(metrics, tape, assumptions)
    if n_paths <= 0:
        return out
    mc = metrics[[c for c in metrics if c.startswith("mc_")]]
    mc = mc.rename(columns=lambda c: c[3:]).assign(n_paths=n_paths)
    quoted = (pd.to_numeric(tape["quoted_spread"], errors="coerce").to_numpy(float)
              if "quoted_spread" in tape else None)
    context = metrics.join(tape[[c for c in ("counterparty_rating", "backstop_rating",
                                             "contracted_share", "seniority",
                                             "maturity_date") if c in tape]])
    if "maturity_date" in context:
        context["maturity_date"] = [_date(d).isoformat() if not _blank(d) else ""
                                    for d in context["maturity_date"]]
    verdict = credit.verdict(mc, metrics["tenor_years"].to_numpy(float), quoted,
                             out.get("merton_pd"), context)
    return out.join(verdict.drop(columns=["merton_pd"]))


def _merton(metrics: pd.DataFrame, tape: pd.DataFrame, assumptions: dict) -> pd.DataFrame:
    """Merton's one-year PD, distance to default and spread from the borrower's equity."""
    out = pd.DataFrame(index=metrics.index)
    if not {"equity_value", "equity_vol"} <= set(tape.columns):
        return out
    eq = pd.to_numeric(tape["equity_value"], errors="coerce").to_numpy(float)
    vol = pd.to_numeric(tape["equity_vol"], errors="coerce").to_numpy(float)
    total = tape.get("borrower_debt")
    debt_face = pd.to_numeric(total, errors="coerce").to_numpy(float) if total is not None \
        else metrics["debt"].to_numpy(float)
    debt_face = np.where(np.isfinite(debt_face), debt_face, metrics["debt"].to_numpy(float))
    have = np.isfinite(eq) & np.isfinite(vol) & (debt_face > 0)
    out["merton_pd"] = np.nan
    out["merton_distance_to_default"] = np.nan
    out["merton_spread_bp"] = np.nan
    if have.any():
        res = pricing.merton_solve(eq[have], vol[have], debt_face[have],
                                   float(_assumption(assumptions, "risk_free_rate")), 1.0)
        out.loc[have, "merton_pd"] = np.asarray(res.pd, dtype=float)
        out.loc[have, "merton_distance_to_default"] = np.asarray(res.distance_to_default,
                                                                 dtype=float)
        out.loc[have, "merton_spread_bp"] = np.asarray(res.spread, dtype=float) * 1e4
    return out


# --------------------------------------------------------------------------- whole tape


def split(rows: pd.DataFrame, chunk_size: int) -> Iterator[pd.DataFrame]:
    """Consecutive chunks of at most ``chunk_size`` rows."""
    if chunk_size < 1:
        raise GpuCreditError(f"chunk size must be at least 1, got {chunk_size}",
                             argument="chunk_size", value=chunk_size)
    for start in range(0, len(rows), chunk_size):
        yield rows.iloc[start:start + chunk_size]


def local_mapper(fn: Callable[[pd.DataFrame], ChunkResult], chunks: list[pd.DataFrame]
                 ) -> Iterator[tuple[int, ChunkResult]]:
    """Run the chunks one after the other in this process (the local engine)."""
    for i, chunk in enumerate(chunks):
        yield i, fn(chunk)


def recalc(rows: pd.DataFrame, assumptions: dict, options: RecalcOptions = RecalcOptions(),
           *, errors: pd.DataFrame | None = None, run_info: dict | None = None,
           mapper: Callable[..., Iterable[tuple[int, ChunkResult]]] | None = None,
           progress: Callable[[int, int], None] | None = None,
           periods_sink: Callable[[pd.DataFrame], None] | None = None,
           spool: Path | None = None) -> RecalcResult:
    """Recalculate every facility of a validated tape and tabulate the results.

    Parameters
    ----------
    rows : DataFrame
        Validated, typed tape rows (one per facility).
    assumptions : dict
        Market assumptions (:data:`gpucredit.tape.schema.ASSUMPTIONS` names).
    options : RecalcOptions
    errors : DataFrame, optional
        Validation problems to carry into the results' Errors table.
    run_info : dict, optional
        Input file, hash ... for the Summary.
    mapper : callable, optional
        ``mapper(fn, chunks)`` yielding ``(chunk index, fn(chunk))`` in any order, as
        chunks finish: :func:`local_mapper` by default; a distributed engine
        (:func:`gpucredit.distributed.dask_mapper`) plugs in here. ``fn`` is picklable.
    progress : callable, optional
        ``progress(done_facilities, total_facilities)`` as each chunk finishes.
    periods_sink : callable, optional
        ``periods_sink(frame)`` receives each chunk's per-period table, in tape order,
        as soon as the chunks before it are in (e.g. a
        :class:`gpucredit.streaming.PeriodsWriter`); the result's ``periods`` is then
        empty, so memory does not grow with the tape's periods.
    spool : Path, optional
        A private folder: each chunk's metrics and scenario tables are written there, in
        tape order, as soon as the chunks before it are in, and the result's ``metrics``
        and ``scenarios`` (and, without a ``periods_sink``, its ``periods``) are
        :class:`gpucredit.spool.SpooledTable` read back in pieces; memory keeps only the
        columns the summaries need (:data:`SUMMARY_COLUMNS`). The
        files are the caller's to remove with the folder (on failure they are removed).
    """
    chunks = list(split(rows, options.chunk_size))
    if options.facility_contributions is None:
        keep = len(rows) * options.n_paths * 8 <= FACILITY_LOSSES_MAX_BYTES
        options = dataclasses.replace(options, facility_contributions=keep)
    fn = functools.partial(run_chunk, assumptions=assumptions, options=options)
    order = {fid: i for i, fid in enumerate(rows["facility_id"].astype(str))}
    release = _Release(order, periods_sink, spool)
    try:
        results = _gather(chunks, fn, mapper, progress, release, len(rows))
        return combine(results, rows, assumptions, options, errors=errors,
                       run_info=run_info, spooled=release.spooled,
                       scenario_tally=release.scenario_tally)
    except BaseException:
        release.remove()
        raise


def _gather(chunks, fn, mapper, progress, release: _Release, total: int
            ) -> list[ChunkResult]:
    """Every chunk's result, in tape order, each released (:class:`_Release`) as soon as
    the chunks before it are in."""
    results: dict[int, ChunkResult] = {}
    done = released = 0
    for i, res in (mapper or local_mapper)(fn, chunks):
        results[i] = res
        while released in results:
            release(results[released])
            released += 1
        done += len(chunks[i])
        if progress is not None:
            progress(done, total)
    if len(results) != len(chunks):
        raise GpuCreditError(f"only {len(results)} of {len(chunks)} chunks came back: "
                             "nothing written", argument="engine", value=len(results))
    return [results[i] for i in range(len(chunks))]


SUMMARY_COLUMNS = ("borrower_type", "gpu_model", "debt", "commitment", "market_value",
                   "liquidation_value", "first_breach_default", "min_dscr",
                   "mc_pv_expected_loss", "mc_expected_loss")
"""The metrics a spooled run keeps in memory: the Summary's totals, the worst facilities'
order, the exposures of the portfolio tables and the GPU models' residual curves."""

class _Release:
    """What happens to a chunk's tables once the chunks before it are in: its periods go
    to the sink (or, without one, to the spool), its metrics and scenarios, put in tape
    order, to the spool (memory keeps their summary columns). Without either, the chunk
    is kept whole."""

    def __init__(self, order: dict, periods_sink, spool: Path | None):
        from gpucredit.scenarios import ScenarioTally

        self.order, self.periods_sink = order, periods_sink
        self.spooled = None if spool is None else {
            "metrics": SpooledTable(spool, "metrics"),
            "scenarios": SpooledTable(spool, "scenarios", keep_index=False)}
        # a spooled run's scenario summary, tallied as its scenario rows are spooled
        self.scenario_tally = None if spool is None else ScenarioTally()
        if self.spooled is not None and periods_sink is None:
            self.spooled["periods"] = SpooledTable(spool, "periods", keep_index=False)

    def __call__(self, res: ChunkResult) -> None:
        if self.periods_sink is not None:
            self.periods_sink(_ordered(res.periods, self.order))
            res.periods = pd.DataFrame()
        if self.spooled is None:
            return
        if "periods" in self.spooled:
            self.spooled["periods"].append(_ordered(res.periods, self.order))
            res.periods = pd.DataFrame()
        metrics = _in_order(res.metrics, self.order)
        grid = _ordered(res.scenarios, self.order)
        self.spooled["metrics"].append(metrics)
        self.spooled["scenarios"].append(grid)
        if not grid.empty:
            self.scenario_tally.add(grid, metrics["debt"])
        res.metrics = metrics[[c for c in SUMMARY_COLUMNS if c in metrics]]
        res.scenarios = pd.DataFrame()

    def remove(self) -> None:
        for table in (self.spooled or {}).values():
            table.remove()


def combine(results: list[ChunkResult], rows: pd.DataFrame, assumptions: dict,
            options: RecalcOptions, *, errors: pd.DataFrame | None = None,
            run_info: dict | None = None, spooled: dict | None = None,
            scenario_tally=None) -> RecalcResult:
    """Put the chunks' tables together, in tape order, and summarise the portfolio.

    With ``spooled`` (the run's :class:`~gpucredit.spool.SpooledTable` of metrics,
    scenarios and periods), the chunks hold only the metrics' summary columns, the
    result's tables are the spooled ones and the scenario summary is
    ``scenario_tally``'s (:class:`gpucredit.scenarios.ScenarioTally`, fed the chunks'
    scenario rows as they were spooled).
    """
    order = {fid: i for i, fid in enumerate(rows["facility_id"].astype(str))}
    parts = [m for m in _take_tables(results, "metrics") if not m.empty]
    metrics = pd.concat(parts) if parts else pd.DataFrame()
    del parts
    if not metrics.empty and spooled is None:  # tape order, house column order, one copy
        metrics = metrics.iloc[np.argsort([order[i] for i in metrics.index], kind="stable"),
                               [metrics.columns.get_loc(c)
                                for c in _column_order(metrics.columns)]]
    periods = _ordered(pd.concat(_take_tables(results, "periods"), ignore_index=True)
                       if results else pd.DataFrame(), order)
    grid = pd.concat(_take_tables(results, "scenarios"), ignore_index=True) if results \
        else pd.DataFrame()
    if spooled is None:  # a spooled run's chunks were put in tape order as they came in
        grid = _ordered(grid, order)
    err_rows = [e for r in results for e in r.errors]
    err = pd.concat([errors if errors is not None else pd.DataFrame(),
                     pd.DataFrame(err_rows)], ignore_index=True)
    for col in ("sheet", "row", "column", "facility_id", "value", "severity", "message"):
        if col not in err:
            err[col] = pd.Series(dtype=object)
    info = {"gpucredit_version": __version__, "facilities_on_tape": len(rows),
            "facilities_computed": len(metrics), "monte_carlo_paths": options.n_paths,
            "seed": options.seed, **(run_info or {})}
    totals, by_type, worst = _summary(metrics, options.worst)
    if spooled is not None:
        spooled["metrics"].columns = _column_order(spooled["metrics"].columns)
        worst = _worst_rows(worst, spooled["metrics"]) if len(worst) else worst
    tables = {"periods": periods, "metrics": metrics, "scenarios": grid, **(spooled or {})}
    return RecalcResult(
        **tables,
        scenario_summary=_scenario_summary(grid, metrics, scenario_tally),
        summary_totals=totals, summary_by_type=by_type, worst=worst,
        residual_curves=_residual_curves(metrics), errors=err[
            ["sheet", "row", "column", "facility_id", "value", "severity", "message"]],
        assumptions=_used(assumptions, options), run_info=info,
        **_portfolio_tables(_take_losses(results), rows, metrics))


def _take_tables(results: list[ChunkResult], name: str) -> list[pd.DataFrame]:
    """The chunks' ``name`` tables, released from the chunks: once concatenated they are
    held once, not twice (peak memory at the end of a large run)."""
    parts = [getattr(r, name) for r in results]
    for r in results:
        setattr(r, name, pd.DataFrame())
    return parts


def _take_losses(results: list[ChunkResult]) -> list:
    """The chunks' loss vectors, released from the chunks (combined once, not held twice)."""
    parts = [r.losses for r in results]
    for r in results:
        r.losses = None
    return parts


def _portfolio_tables(parts: list, rows: pd.DataFrame, metrics: pd.DataFrame) -> dict:
    """The book's loss distribution tables (empty without a Monte Carlo)."""
    parts[:] = [p for p in parts if p is not None]
    if not parts or metrics.empty:
        return {}
    lv = portfolio.combine(parts)
    parts.clear()  # the chunks' vectors are in lv now
    labelled = [c for c in ("facility_id", *LABEL_COLUMNS) if c in rows]  # not the tape
    computed = rows.loc[rows["facility_id"].astype(str).isin(metrics.index), labelled]
    labels = pd.DataFrame(_labels(computed), index=computed["facility_id"].astype(str))
    debt = metrics["debt"].reindex(labels.index)
    exposure = pd.concat({dim: pd.DataFrame({"facilities": labels.groupby(dim).size(),
                                             "debt": debt.groupby(labels[dim]).sum()})
                          for dim in portfolio.DIMENSIONS}, names=["dimension", "group"])
    tables = {
        "portfolio_summary": portfolio.summary(lv).reset_index(),
        "portfolio_concentration": portfolio.concentration(lv, exposure).reset_index(),
        "portfolio_distribution": portfolio.histogram(lv.total_usd),
    }
    if lv.blocks is not None:
        contrib = portfolio.contributions(lv)
        order = {fid: i for i, fid in enumerate(metrics.index)}
        contrib = contrib.iloc[np.argsort([order[i] for i in contrib.index], kind="stable")]
        tables["portfolio_contributions"] = labels.join(contrib, how="right").reset_index(
            names="facility_id")
    return tables


def _column_order(columns) -> list[str]:
    """The chunks' columns with the PD-by-year columns (as many as a chunk's longest
    tenor has years) in year order after the other Monte Carlo columns."""
    cum = sorted((c for c in columns if c.startswith("mc_cum_pd_y")),
                 key=lambda c: int(c.removeprefix("mc_cum_pd_y")))
    rest = [c for c in columns if not c.startswith("mc_cum_pd_y")]
    at = max((i + 1 for i, c in enumerate(rest) if c.startswith("mc_")), default=len(rest))
    return rest[:at] + cum + rest[at:]


def _used(assumptions: dict, options: RecalcOptions) -> dict:
    """The assumptions as the run used them: the paths and seed actually run win over
    the tape's cells (a flag may have overridden them)."""
    used = dict(assumptions)
    used["mc_paths"] = options.n_paths
    used["mc_seed"] = options.seed
    return used


def _scenario_summary(grid: pd.DataFrame, metrics: pd.DataFrame, tally=None) -> pd.DataFrame:
    """The scenario summary of the grid, or of the ``tally`` a spooled run kept instead."""
    if tally is not None:
        return tally.frame() if len(tally) else pd.DataFrame()
    if grid.empty:
        return pd.DataFrame()
    from gpucredit import scenarios

    return scenarios.scenario_summary(grid, metrics["debt"])


def _in_order(metrics: pd.DataFrame, order: dict) -> pd.DataFrame:
    """A chunk's metrics (index ``facility_id``) in tape order."""
    if metrics.empty:
        return metrics
    return metrics.iloc[np.argsort([order[i] for i in metrics.index], kind="stable")]


def _ordered(frame: pd.DataFrame, order: dict) -> pd.DataFrame:
    if frame.empty:
        return frame
    key = frame["facility_id"].map(order)
    return frame.iloc[np.lexsort((np.arange(len(frame)), key.to_numpy()))].reset_index(
        drop=True)


def _summary(metrics: pd.DataFrame, n_worst: int):
    if metrics.empty:
        empty = pd.DataFrame(columns=["item", "value"])
        return empty, pd.DataFrame(), pd.DataFrame()
    debt = metrics["debt"]
    breach = metrics["first_breach_default"] > 0
    items = [
        ("Facilities computed", len(metrics)),
        ("Debt outstanding (USD)", float(debt.sum())),
        ("Commitments (USD)", float(metrics["commitment"].sum()))
        if "commitment" in metrics else None,
        ("Collateral market value (USD)", float(metrics["market_value"].sum())),
        ("Collateral liquidation value (USD)", float(metrics["liquidation_value"].sum())),
        ("Portfolio LTV, market", float(debt.sum() / metrics["market_value"].sum())),
        ("Portfolio LTV, after liquidation haircut",
         float(debt.sum() / metrics["liquidation_value"].sum())),
        ("Facilities breaching the default covenant", int(breach.sum())),
        ("Debt of facilities breaching the default covenant (USD)", float(debt[breach].sum())),
        ("Lowest minimum DSCR", float(metrics["min_dscr"].min())),
    ]
    if "mc_pv_expected_loss" in metrics:  # the Portfolio sheet's expected loss
        items.append(("Expected loss, Monte Carlo, present value (USD)",
                      float(metrics["mc_pv_expected_loss"].sum())))
    if "mc_expected_loss" in metrics:
        items.append(("Expected loss, Monte Carlo, undiscounted (USD)",
                      float(metrics["mc_expected_loss"].sum())))
    totals = pd.DataFrame([i for i in items if i is not None], columns=["item", "value"])
    by_type = metrics.groupby("borrower_type").agg(
        facilities=("debt", "size"), debt=("debt", "sum"),
        market_value=("market_value", "sum"), liquidation_value=("liquidation_value", "sum"),
        min_dscr=("min_dscr", "min"),
        breaching=("first_breach_default", lambda s: int((s > 0).sum())))
    # Worst by what the lender stands to lose (blanks last), then by coverage.
    keys = [k for k in ("mc_pv_expected_loss", "min_dscr") if k in metrics]
    worst = metrics.sort_values(keys, ascending=[k == "min_dscr" for k in keys],
                                na_position="last").head(n_worst)
    return totals, by_type.reset_index(), _worst_table(worst)


WORST_COLUMNS = ("borrower", "borrower_type", "gpu_model", "debt", "rating_bucket",
                 "pd_annual", "mc_pv_expected_loss", "fair_spread_bp", "quoted_spread_bp",
                 "min_dscr", "ltv_market", "rating_reason")
"""The columns of the worst facilities' table (the Summary's and the command line's)."""


def _worst_table(worst: pd.DataFrame) -> pd.DataFrame:
    return _pd_shown(worst)[[c for c in WORST_COLUMNS if c in worst]]


def _worst_rows(worst: pd.DataFrame, table: SpooledTable) -> pd.DataFrame:
    """The worst facilities' whole rows, found in the spooled metrics (the summary chose
    them from its few columns), as the table :func:`_summary` gives."""
    ids = set(worst.index)
    rows = pd.concat([p[p.index.isin(ids)] for p in table.pieces()])
    return _worst_table(rows.loc[worst.index])


def _pd_shown(rows: pd.DataFrame) -> pd.DataFrame:
    """The PD a year as a table shows it: where too few paths defaulted to rate on the
    estimate (:data:`gpucredit.credit.MIN_DEFAULTS`), the 95% bound the rating rests on,
    as the text "< 0.09%" - never a bare 0.00%."""
    if not {"pd_annual", "pd_annual_bound", "mc_n_defaults"} <= set(rows):
        return rows
    on_bound = (rows["mc_n_defaults"] < credit.MIN_DEFAULTS) & rows["pd_annual_bound"].notna()
    shown = rows["pd_annual"].astype(object)
    shown[on_bound] = [f"< {credit.pd_text(b)}" for b in rows.loc[on_bound, "pd_annual_bound"]]
    return rows.assign(pd_annual=shown)


def _residual_curves(metrics: pd.DataFrame) -> pd.DataFrame:
    """Each tape GPU model's preset residual curve (share of cost) by age, for the chart."""
    if metrics.empty or "gpu_model" not in metrics:
        return pd.DataFrame()
    age = np.round(np.arange(0, 8.01, 0.25), 2)
    data = {}
    for name in sorted(set(metrics["gpu_model"].astype(str))):
        preset = get_preset(name)
        data[name] = np.asarray(preset.residual_value(age), dtype=float)
    return pd.DataFrame(data, index=pd.Index(age, name="age_years"))
