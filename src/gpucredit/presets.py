"""GPU model presets: price, power, dates, rent and a default residual-value curve.

A preset fills in what an analyst would otherwise look up for a GPU model: the price per
GPU, the all-in power draw per GPU, the launch date, the dates at which successor
generations reach volume (for :func:`gpucredit.curves.generation_steps`), a typical
current rent and a default curve. Every figure carries its source in
``GpuPreset.sources``; figures marked "estimate" are ours, not published numbers.
They are starting points for a facility's own inputs, never a substitute for them.

Successor steps count architecture generations only (Hopper, Blackwell, Rubin, Feynman),
the launches docs/sources.md names as knocking down the previous generation's value; mid-cycle
refreshes (H200, Blackwell Ultra, Rubin Ultra) are not steps. The default curves are
market curves fitted to resale prices that already reflect successor launches, so they
carry no steps: add ``step_ages`` to a gentler base curve rather than to these, or the
launches count twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd

from gpucredit.curves import residual_value, step_ages_from_dates
from gpucredit.errors import GpuCreditError

__all__ = [
    "GENERATIONS",
    "PRESETS",
    "GpuPreset",
    "get_preset",
    "preset_step_ages",
    "presets_frame",
]

GENERATIONS: Mapping[str, dt.date] = MappingProxyType({
    "Hopper": dt.date(2023, 3, 1),
    "Blackwell": dt.date(2025, 3, 1),
    "Rubin": dt.date(2026, 10, 1),
    "Feynman": dt.date(2028, 10, 1),
})
"""Volume date of each NVIDIA architecture generation (when it ships in volume).

Sources: Hopper - H100 announced March 2022, broadly rentable in clouds from early 2023
(estimate of the month); Blackwell - docs/sources.md "Blackwell 2025", volume shipments from
early 2025 (estimate of the month); Rubin - docs/sources.md "Rubin late 2026" (estimate of the
month); Feynman - NVIDIA's GTC 2025 roadmap puts it in 2028 (estimate of the month).
"""

_GENERATION_SOURCE = (
    "volume dates: our estimates of the month from docs/sources.md (Hopper 2022, Blackwell 2025, "
    "Rubin late 2026) and NVIDIA's GTC 2025 roadmap (Feynman 2028)")

_DEFAULT_CURVE = ("logistic", {"hold_years": 2.03, "steepness": 0.3285, "floor": 0.0})
_LOW_CURVE = ("logistic", {"hold_years": 2.30, "steepness": 0.462, "floor": 0.0})
_HIGH_CURVE = ("logistic", {"hold_years": 1.75, "steepness": 0.2357, "floor": 0.0})
"""The data-centre GPUs' residual band: "hold then fall" curves fitted to used prices.

Evidence (share of the price new, by the model's years since volume shipments):

* used H100 SXM at $22-28k in the first half of 2026 against a $40k+ peak, about 3.1
  years after the H100's volume date (March 2023): 55% / 62.5% / 70% of the peak price
  (runlocalai.co Pulse, "NVIDIA B200 production ramps - used H100 SXM softens to
  ~$22-25k", Q1 2026; computeforecast.com, "The secondary market for AI hardware", 2026:
  used H100s $15-28k; docs/sources.md). SpotWire's valuator data (spotwire.ai,
  valuator_data.json, as of 2026-06-04, CC BY 4.0) price an H100 80GB PCIe at $20,000
  against a $30,000 anchor: 67%, inside the band;
* once a generation is displaced its price falls at a steady rate: SpotWire measured
  A100-SXM4 -28% a year (base), V100 -37% (low); the high end falls 21% a year, the
  price-performance gain of top GPUs (Hobbhahn and Besiroglu, "Trends in GPU
  price-performance", Epoch AI, 2022).

Each curve is the logistic family (:func:`gpucredit.curves.logistic`, floor 0) whose
tail falls at that rate (steepness ``k = -ln(1 - d)``: 0.462, 0.3285, 0.2357) and whose
centre ``h`` puts it at 55%, 62.5% and 70% at 3.1 years (solved by root finding, rounded
to 2-4 decimals). The base curve gives 88% after one year, 76% after two, 52% after four.
The practitioner curve (60-65% after a year ... 10-15% after five; GPU Lease Rate Index,
"H100 residual value guide", January 2026, as reported) sits well below the used prices
actually paid, so it is not the base; run it as a stress with a ``residual_curve``.
Blackwell has no used market yet: its presets take its predecessor's curves (our
estimate). The curves carry no generation steps: the used prices already reflect the
launches that happened, and the tail's rate the launches to come.
"""
_DEFAULT_CURVE_SOURCE = (
    "logistic fitted to used H100 SXM at $22-28k (H1 2026, about 3.1 years after volume) "
    "against a $40k+ peak (runlocalai.co Pulse Q1 2026; computeforecast.com 2026), tail "
    "falling 28% a year as SpotWire's A100-SXM4 (spotwire.ai, CC BY 4.0)")
_BAND_SOURCE = (
    "low: 55% at 3.1 years ($22k / $40k), tail -37% a year (SpotWire V100); high: 70% "
    "($28k / $40k), tail -21% a year (Epoch AI top-GPU price-performance, 2022)")
_A100_BAND = (("declining_balance", {"rate": 0.37}), ("declining_balance", {"rate": 0.21}))
_A100_BAND_SOURCE = (
    "low: -37% a year (SpotWire V100, as the A100's successor-displaced tail at its "
    "worst); high: -21% a year (Epoch AI top-GPU price-performance, 2022)")


@dataclass(frozen=True)
class GpuPreset:
    """One GPU model's figures, each with its source.

    Attributes
    ----------
    name : str
        Model name, e.g. ``"H100"``.
    architecture : str
        NVIDIA architecture generation (a key of :data:`GENERATIONS`).
    list_price_usd : float
        Price per GPU in USD (system price per GPU where sold in systems).
    kw_per_gpu : float
        All-in power draw per GPU in kW (system power / GPUs: CPUs, NICs, fans included;
        before PUE).
    launch_date : datetime.date
        Announcement date of the model.
    successors : tuple of (str, datetime.date)
        Successor generations and their volume dates, oldest first.
    rent_usd_per_hour : float
        Typical rent per GPU-hour, mid-2026.
    curve_family : str
        Default residual-value curve family (one of :data:`gpucredit.curves.FAMILIES`).
    curve_params : Mapping[str, float]
        Parameters of the default curve (the base of the band).
    curve_low, curve_high : tuple of (str, Mapping[str, float])
        Family and parameters of the low and high ends of the residual band.
    sources : Mapping[str, str]
        Source of each figure, keyed by attribute name.
    """

    name: str
    architecture: str
    list_price_usd: float
    kw_per_gpu: float
    launch_date: dt.date
    successors: tuple[tuple[str, dt.date], ...]
    rent_usd_per_hour: float
    curve_family: str
    curve_params: Mapping[str, float] = field(default_factory=dict)
    curve_low: tuple = (_LOW_CURVE[0], _LOW_CURVE[1])
    curve_high: tuple = (_HIGH_CURVE[0], _HIGH_CURVE[1])
    sources: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "curve_params", MappingProxyType(dict(self.curve_params)))
        object.__setattr__(self, "sources", MappingProxyType(dict(self.sources)))
        for side in ("curve_low", "curve_high"):
            fam, params = getattr(self, side)
            object.__setattr__(self, side, (fam, MappingProxyType(dict(params))))

    @property
    def successor_dates(self) -> tuple[dt.date, ...]:
        """Volume dates of the successor generations, oldest first."""
        return tuple(d for _, d in self.successors)

    def step_ages(self, delivery_date, *, days_per_year=365.25) -> np.ndarray:
        """Ages in years, for a fleet delivered on ``delivery_date``, at which successor
        generations reach volume (see :func:`gpucredit.curves.step_ages_from_dates`).

        >>> get_preset("H100").step_ages("2024-03-01").round(2)
        array([1.  , 2.58, 4.59])
        """
        return step_ages_from_dates(delivery_date, self.successor_dates,
                                    days_per_year=days_per_year)

    def residual_value(self, age, **overrides):
        """The default curve at ``age``; keyword arguments override its parameters or add
        steps and attrition (see :func:`gpucredit.curves.residual_value`).

        >>> round(get_preset("A100").residual_value(1.0), 2)
        0.72
        """
        kwargs = {**self.curve_params, **overrides}
        return residual_value(age, self.curve_family, **kwargs)

    def band(self, age, **overrides) -> tuple:
        """Residual value at ``age`` on the low, base and high curves (attrition and steps
        through ``overrides``, as :meth:`residual_value`).

        >>> [round(v, 3) for v in get_preset("H100").band(3.1)]
        [0.55, 0.625, 0.7]
        """
        base = self.residual_value(age, **overrides)
        low, high = (residual_value(age, fam, **{**params, **overrides})
                     for fam, params in (self.curve_low, self.curve_high))
        return low, base, high


def _successors(architecture: str) -> tuple[tuple[str, dt.date], ...]:
    names = list(GENERATIONS)
    later = names[names.index(architecture) + 1:]
    return tuple((g, GENERATIONS[g]) for g in later)


_PRESET_LIST = [
    GpuPreset(
        name="A100",
        architecture="Ampere",
        list_price_usd=15_000.0,
        kw_per_gpu=6.5 / 8,
        launch_date=dt.date(2020, 5, 14),
        successors=tuple((g, GENERATIONS[g]) for g in GENERATIONS),
        rent_usd_per_hour=1.10,
        curve_family="declining_balance",
        curve_params={"rate": 0.28},
        curve_low=_A100_BAND[0],
        curve_high=_A100_BAND[1],
        sources={
            "list_price_usd": "estimate: A100 80GB street price about $15k (trade press)",
            "kw_per_gpu": "NVIDIA DGX A100 datasheet: 6.5 kW max for 8 GPUs",
            "launch_date": "NVIDIA GTC 2020 announcement, 14 May 2020",
            "successors": _GENERATION_SOURCE,
            "rent_usd_per_hour": "estimate: A100 on-demand rents about $1.0-1.3/hr, mid-2026",
            "curve": "SpotWire (spotwire.ai, CC BY 4.0) measured A100-SXM4 resale prices "
                     "falling 28% a year",
            "curve_band": _A100_BAND_SOURCE,
        },
    ),
    GpuPreset(
        name="H100",
        architecture="Hopper",
        list_price_usd=30_000.0,
        kw_per_gpu=10.2 / 8,
        launch_date=dt.date(2022, 3, 22),
        successors=_successors("Hopper"),
        rent_usd_per_hour=2.42,
        curve_family=_DEFAULT_CURVE[0],
        curve_params=_DEFAULT_CURVE[1],
        sources={
            "list_price_usd": "estimate: between used H100 SXM at $22-28k and the $40k+ peak "
                              "(docs/sources.md)",
            "kw_per_gpu": "docs/sources.md: DGX H100 about 10.2 kW for 8 GPUs (700 W TDP each)",
            "launch_date": "NVIDIA GTC 2022 announcement, 22 March 2022 (docs/sources.md: Hopper "
                           "2022)",
            "successors": _GENERATION_SOURCE,
            "rent_usd_per_hour": "docs/sources.md: $2.42 spot mid-2026, $2.65 contract "
                                 "(SemiAnalysis and trade press)",
            "curve": _DEFAULT_CURVE_SOURCE,
            "curve_band": _BAND_SOURCE,
        },
    ),
    GpuPreset(
        name="H200",
        architecture="Hopper",
        list_price_usd=32_000.0,
        kw_per_gpu=10.2 / 8,
        launch_date=dt.date(2023, 11, 13),
        successors=_successors("Hopper"),
        rent_usd_per_hour=2.80,
        curve_family=_DEFAULT_CURVE[0],
        curve_params=_DEFAULT_CURVE[1],
        sources={
            "list_price_usd": "estimate: a small premium over the H100 (trade press $30-40k)",
            "kw_per_gpu": "estimate: same 700 W TDP and DGX chassis as the H100 "
                          "(DGX H100 10.2 kW / 8, docs/sources.md)",
            "launch_date": "NVIDIA SC23 announcement, 13 November 2023",
            "successors": _GENERATION_SOURCE,
            "rent_usd_per_hour": "estimate: a premium of about 15% over the H100's $2.42 "
                                 "mid-2026 spot rent (docs/sources.md)",
            "curve": _DEFAULT_CURVE_SOURCE,
            "curve_band": _BAND_SOURCE,
        },
    ),
    GpuPreset(
        name="B200",
        architecture="Blackwell",
        list_price_usd=40_000.0,
        kw_per_gpu=14.3 / 8,
        launch_date=dt.date(2024, 3, 18),
        successors=_successors("Blackwell"),
        rent_usd_per_hour=4.50,
        curve_family=_DEFAULT_CURVE[0],
        curve_params=_DEFAULT_CURVE[1],
        sources={
            "list_price_usd": "estimate: top of NVIDIA's $30-40k guidance for Blackwell "
                              "(J. Huang to CNBC, March 2024)",
            "kw_per_gpu": "docs/sources.md: DGX B200 about 14.3 kW for 8 GPUs",
            "launch_date": "NVIDIA GTC 2024 announcement, 18 March 2024",
            "successors": _GENERATION_SOURCE,
            "rent_usd_per_hour": "estimate: B200 rents about $4-5/hr, mid-2026",
            "curve": _DEFAULT_CURVE_SOURCE,
            "curve_band": _BAND_SOURCE,
        },
    ),
    GpuPreset(
        name="GB200",
        architecture="Blackwell",
        list_price_usd=42_000.0,
        kw_per_gpu=120.0 / 72,
        launch_date=dt.date(2024, 3, 18),
        successors=_successors("Blackwell"),
        rent_usd_per_hour=5.00,
        curve_family=_DEFAULT_CURVE[0],
        curve_params=_DEFAULT_CURVE[1],
        sources={
            "list_price_usd": "estimate: a GB200 NVL72 rack at about $3m (trade press) / 72 "
                              "GPUs",
            "kw_per_gpu": "docs/sources.md: GB200 NVL72 about 120 kW for 72 GPUs",
            "launch_date": "NVIDIA GTC 2024 announcement, 18 March 2024",
            "successors": _GENERATION_SOURCE,
            "rent_usd_per_hour": "estimate: GB200 rents about $4.5-5.5/hr, mid-2026",
            "curve": _DEFAULT_CURVE_SOURCE,
            "curve_band": _BAND_SOURCE,
        },
    ),
]

PRESETS: Mapping[str, GpuPreset] = MappingProxyType({p.name: p for p in _PRESET_LIST})
"""The presets keyed by model name: A100, H100, H200, B200, GB200."""


def get_preset(name: str) -> GpuPreset:
    """The preset for a GPU model, matched case-insensitively.

    Parameters
    ----------
    name : str
        Model name, e.g. ``"H100"`` or ``"h100"``.

    Returns
    -------
    GpuPreset

    Examples
    --------
    >>> get_preset("h100").kw_per_gpu
    1.275
    >>> get_preset("H800")
    Traceback (most recent call last):
    ...
    gpucredit.errors.GpuCreditError: name must be a GPU model with a preset (A100, ...), got 'H800'
    """
    key = name.strip().upper() if isinstance(name, str) else None
    if key not in PRESETS:
        raise GpuCreditError(
            f"name must be a GPU model with a preset ({', '.join(PRESETS)}), got {name!r}",
            argument="name", value=name)
    return PRESETS[key]


def preset_step_ages(name: str, delivery_date, *, days_per_year=365.25) -> np.ndarray:
    """Step ages for a fleet of ``name`` GPUs delivered on ``delivery_date``.

    Parameters
    ----------
    name : str
        GPU model (see :func:`get_preset`).
    delivery_date : date-like or array_like of date-like
        One delivery date, or one per facility ``(F,)``.
    days_per_year : float, default 365.25
        Days in a year.

    Returns
    -------
    ndarray
        Years after delivery at which each successor generation reaches volume: ``(k,)``
        or ``(F, k)``; ready for ``step_ages=`` in :func:`gpucredit.curves.residual_value`.
        Successors already at volume on delivery give negative ages (ignored by the curves).

    Examples
    --------
    >>> preset_step_ages("B200", "2025-03-01").round(2)
    array([1.59, 3.59])
    """
    return get_preset(name).step_ages(delivery_date, days_per_year=days_per_year)


def _curve_text(curve) -> str:
    family, params = curve
    return family + " (" + ", ".join(f"{k}={v:g}" for k, v in params.items()) + ")"


def presets_frame(*, sources: bool = False) -> pd.DataFrame:
    """The presets as a table, one row per model (for templates and documentation).

    Parameters
    ----------
    sources : bool, default False
        Add a ``source_<figure>`` column with the source of each figure.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``gpu_model``; columns ``architecture``, ``list_price_usd``,
        ``kw_per_gpu``, ``launch_date``, ``successors`` (text: ``"Blackwell 2025-03-01;
        ..."``), ``rent_usd_per_hour``, ``curve_family``, ``curve_params`` (text:
        ``"rate=0.28"``), ``curve_low`` and ``curve_high`` (the band, as text).

    Examples
    --------
    >>> float(presets_frame().loc["B200", "kw_per_gpu"])
    1.7875
    >>> list(presets_frame().index)
    ['A100', 'H100', 'H200', 'B200', 'GB200']
    """
    rows = []
    for p in PRESETS.values():
        row = {
            "gpu_model": p.name,
            "architecture": p.architecture,
            "list_price_usd": p.list_price_usd,
            "kw_per_gpu": p.kw_per_gpu,
            "launch_date": p.launch_date,
            "successors": "; ".join(f"{g} {d.isoformat()}" for g, d in p.successors),
            "rent_usd_per_hour": p.rent_usd_per_hour,
            "curve_family": p.curve_family,
            "curve_params": ", ".join(f"{k}={v:g}" for k, v in p.curve_params.items()),
            "curve_low": _curve_text(p.curve_low),
            "curve_high": _curve_text(p.curve_high),
        }
        if sources:
            row.update({f"source_{k}": v for k, v in p.sources.items()})
        rows.append(row)
    return pd.DataFrame(rows).set_index("gpu_model")
