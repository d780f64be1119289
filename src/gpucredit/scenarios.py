"""Deterministic stress: named scenarios and tornado sensitivities.

A :class:`Scenario` is a set of shocks to a facility's inputs: absolute overrides (the
rent deflation, a generation step-down) and relative shocks (multiply the merchant rent,
add to the install haircut ...). :meth:`Scenario.apply` turns a
:class:`~gpucredit.model.Facilities` into the stressed one, and :func:`run_scenarios`
evaluates every scenario through the whole pipeline (:func:`gpucredit.model.evaluate`,
one call per scenario, vectorised across facilities) into a long table of minimum DSCR,
LLCR, maximum LTV, first covenant breach and loss given default. :func:`scenario_summary`
aggregates that table over a portfolio, and :func:`tornado` ranks the inputs by how far
each moves a metric.

:data:`STANDARD_SCENARIOS` are the grid of docs/sources.md ("Correlated stress"): the base case,
rent deflation of 20, 30 and 40% a year, a generation step-down, BTC -50% and the joint
case. The correlation ``rho`` of a scenario moves only the Monte Carlo
(:mod:`gpucredit.montecarlo`), which :func:`run_scenarios` and :func:`tornado` run when
given ``n_paths``.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gpucredit import collateral, coverage, fleet, model, montecarlo
from gpucredit._checks import check_periods_per_year, check_range, where
from gpucredit.errors import GpuCreditError
from gpucredit.model import Facilities

__all__ = [
    "DEFAULT_DRIVERS",
    "DETERMINISTIC_METRICS",
    "MONTE_CARLO_METRICS",
    "SHOCKS",
    "SHOCK_HELP",
    "STANDARD_SCENARIOS",
    "Driver",
    "Scenario",
    "ScenarioTally",
    "default_drivers",
    "run_scenarios",
    "scenario_summary",
    "scenario_table",
    "standard_scenarios",
    "step_down_period",
    "tornado",
]

# Each shock: (bounds on the shock itself, what it does). The order is the order in
# which :meth:`Scenario.apply` applies them and the order of :func:`scenario_table`.
_SHOCK_SPECS: dict[str, tuple[dict, str]] = {
    "rent_deflation": (dict(high=1, high_open=True),
                       "annual merchant-rent deflation, replaces the facility's"),
    "rent_deflation_add": ({}, "added to the annual rent deflation (after any override)"),
    "merchant_rent_mult": (dict(low=0), "multiplies today's merchant rent"),
    "utilization_mult": (dict(low=0), "multiplies utilization (result clipped to [0, 1])"),
    "utilization_add": (dict(low=-1, high=1),
                        "added to utilization after the multiplier (result clipped to [0, 1])"),
    "power_price_mult": (dict(low=0), "multiplies the power price"),
    "pue_add": ({}, "added to PUE (result floored at 1)"),
    "haircut_add": (dict(low=-1, high=1),
                    "added to the install haircut (result clipped to [0, 1])"),
    "base_rate_add": ({}, "added to the base rate (floating facilities only feel it)"),
    "step_down": (dict(low=0, high=1),
                  "share of merchant rents and collateral values lost at the step-down"),
    "step_down_period_years": (dict(low=0), "years from now at which the step-down lands"),
    "btc_price_mult": (dict(low=0), "multiplies the BTC price"),
    "customer_default_years": (dict(low=0),
                               "years from now at which the contract customer defaults "
                               "(no backstop pays; termination claim, then re-leasing)"),
    "rho": (dict(low=-1, high=1), "BTC / GPU-rent correlation (Monte Carlo only)"),
}

SHOCKS: tuple[str, ...] = tuple(_SHOCK_SPECS)
"""The shocks a :class:`Scenario` may carry, in the order they are applied."""

SHOCK_HELP: dict[str, str] = {k: help_ for k, (_, help_) in _SHOCK_SPECS.items()}
"""One line of help per shock, for the faces (template headers, scenario sheet legend)."""


def _core_default(func, name: str) -> float:
    """The default of ``func``'s keyword ``name``: a ``None`` field means that default."""
    return inspect.signature(func).parameters[name].default


def _shock_value(x, name: str, scenario: str, **bounds) -> float:
    if isinstance(x, bool) or isinstance(x, str):
        raise GpuCreditError(f"{name} of scenario {scenario!r} must be a number, got {x!r}",
                             argument=name, value=x)
    arr = check_range(x, f"{name} of scenario {scenario!r}", **bounds)
    if arr.ndim != 0:
        raise GpuCreditError(
            f"{name} of scenario {scenario!r} must be a single number (a scenario shocks "
            f"every facility alike), got an array of shape {arr.shape}",
            argument=name, value=x)
    return float(arr)


def _out(x: np.ndarray):
    """Scalars stay scalars (a single facility's field), arrays stay arrays."""
    x = np.asarray(x, dtype=float)
    return float(x) if x.ndim == 0 else x


def _below(x: np.ndarray, high: float, field: str, scenario: str) -> np.ndarray:
    """Raise unless every shocked value is below ``high``, naming scenario and facility."""
    bad = x >= high
    if bad.any():
        value = float(x[tuple(np.argwhere(bad)[0])]) if bad.ndim else float(x)
        pos = where(x, bad).replace("position", "facility")
        raise GpuCreditError(
            f"{field} under scenario {scenario!r} must be below {high:g}, got {value:g}"
            + (f" ({pos})" if pos else ""), argument=field, value=value)
    return x


@dataclass(frozen=True)
class Scenario:
    """A named set of shocks to facilities' inputs.

    Every shock is optional (``None``: not shocked) and a single number: a scenario
    shocks every facility alike. Build user-defined scenarios from a spreadsheet row with
    :meth:`from_mapping`.

    Parameters
    ----------
    name : str
        Short identifier, shown in the results (e.g. ``"deflation_30"``).
    description : str, default ""
        What the scenario means, in the analyst's words (shown in the results workbook).
    rent_deflation : float, optional
        Annual merchant-rent trend deflation, < 1: **replaces** each facility's
        ``rent_deflation`` (0.30 = rents fall 30% a year).
    rent_deflation_add : float, optional
        Added to the (possibly overridden) deflation; the result must stay below 1.
    merchant_rent_mult : float, optional
        Multiplies today's merchant rent, >= 0 (contract rates are untouched).
    utilization_mult : float, optional
        Multiplies utilization, >= 0; the result is clipped to [0, 1].
    utilization_add : float, optional
        Added to utilization after the multiplier, in [-1, 1] (0.10 = ten points); the
        result is clipped to [0, 1].
    power_price_mult : float, optional
        Multiplies the power price, >= 0. A facility without one takes the default of
        :func:`gpucredit.fleet.cfads` (``price_per_kwh``).
    pue_add : float, optional
        Added to PUE; the result is floored at 1 (no site uses less than its IT load).
        A facility without one takes the default of :func:`gpucredit.fleet.cfads`.
    haircut_add : float, optional
        Added to the install haircut, in [-1, 1]; the result is clipped to [0, 1]. A
        facility without one takes the default of
        :func:`gpucredit.collateral.liquidation_value` (``install_haircut``).
    base_rate_add : float, optional
        Added to the base rate (scalar, per facility or a path alike). Only floating
        facilities feel it, as in :func:`gpucredit.model.evaluate`.
    step_down : float, optional
        A generation step-down: the share of merchant rents **and** collateral values
        lost from ``step_down_period_years`` on, in [0, 1]. **Replaces** any step-down
        the facilities carry (:class:`~gpucredit.model.Facilities` holds one).
    step_down_period_years : float, optional
        Years from now at which the step-down lands, >= 0; required with ``step_down``.
    btc_price_mult : float, optional
        Multiplies the BTC price, >= 0 (self-mining revenue and treasury value move
        with it; in the Monte Carlo so does the starting price).
    customer_default_years : float, optional
        Years from now at which each facility's contract customer defaults, >= 0: its
        contract revenue stops (unless a backstop guarantees it), it pays its termination
        claim at its recovery rate, and the GPUs re-lease at the market rent x
        ``releasing_rent_factor`` after ``releasing_lag_months``
        (``Facilities.customer_default_period``, same timing as the step-down).
    rho : float, optional
        Correlation of BTC and GPU-rent innovations in [-1, 1], for the Monte Carlo
        only (deterministic metrics do not depend on it).

    Notes
    -----
    :meth:`apply` applies overrides before relative shocks, in the order of
    :data:`SHOCKS`. A step-down landing ``y`` years from now hits every period that
    starts at or after ``y``: with ``m`` periods a year, periods
    ``t >= ceil(y m) + 1`` (the timing of :func:`gpucredit.rents.generation_jumps` and of
    the Monte Carlo's generation launches).

    Examples
    --------
    >>> s = Scenario("stress", "Rents -20% and 40% deflation",
    ...              merchant_rent_mult=0.8, rent_deflation=0.4)
    >>> s.shocks
    {'rent_deflation': 0.4, 'merchant_rent_mult': 0.8}
    >>> Scenario("bad", utilization_add=1.5)
    Traceback (most recent call last):
    ...
    gpucredit.errors.GpuCreditError: utilization_add of scenario 'bad' must be between ... got 1.5
    """

    name: str
    description: str = ""
    rent_deflation: float | None = None
    rent_deflation_add: float | None = None
    merchant_rent_mult: float | None = None
    utilization_mult: float | None = None
    utilization_add: float | None = None
    power_price_mult: float | None = None
    pue_add: float | None = None
    haircut_add: float | None = None
    base_rate_add: float | None = None
    step_down: float | None = None
    step_down_period_years: float | None = None
    btc_price_mult: float | None = None
    customer_default_years: float | None = None
    rho: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise GpuCreditError(f"a scenario needs a name (a non-empty text), got "
                                 f"{self.name!r}", argument="name", value=self.name)
        if not isinstance(self.description, str):
            raise GpuCreditError(f"description of scenario {self.name!r} must be text, got "
                                 f"{self.description!r}", argument="description",
                                 value=self.description)
        for shock, (bounds, _) in _SHOCK_SPECS.items():
            value = getattr(self, shock)
            if value is not None:
                object.__setattr__(self, shock, _shock_value(value, shock, self.name,
                                                             **bounds))
        if (self.step_down is None) != (self.step_down_period_years is None):
            given, missing = (("step_down", "step_down_period_years")
                              if self.step_down is not None
                              else ("step_down_period_years", "step_down"))
            raise GpuCreditError(f"scenario {self.name!r} gives {given} without {missing}: "
                                 f"a step-down needs both its size and its date",
                                 argument=missing, value=None)

    @property
    def shocks(self) -> dict[str, float]:
        """The shocks set, in application order."""
        return {k: getattr(self, k) for k in SHOCKS if getattr(self, k) is not None}

    @classmethod
    def from_mapping(cls, row: Mapping[str, object]) -> Scenario:
        """A scenario from a mapping such as a spreadsheet row.

        Blank cells (``None``, NaN or empty text) leave a shock unset; an unknown key
        raises (a mistyped column would otherwise be silently ignored).

        Examples
        --------
        >>> Scenario.from_mapping({"name": "s1", "btc_price_mult": 0.5,
        ...                        "rho": float("nan")}).shocks
        {'btc_price_mult': 0.5}
        >>> Scenario.from_mapping({"name": "s2", "rent_mult": 0.5})
        Traceback (most recent call last):
        ...
        gpucredit.errors.GpuCreditError: scenario 's2' has an unknown shock 'rent_mult'; ...
        """
        if not isinstance(row, Mapping):
            raise GpuCreditError(f"a scenario must be a mapping of shocks, got "
                                 f"{type(row).__name__}", argument="row", value=row)
        name = row.get("name")
        known = {"name", "description", *SHOCKS}
        for key in row:
            if key not in known:
                raise GpuCreditError(
                    f"scenario {name!r} has an unknown shock {key!r}; the shocks are "
                    f"{', '.join(SHOCKS)}", argument=str(key), value=row[key])

        def blank(v) -> bool:
            return v is None or (isinstance(v, str) and not v.strip()) or (
                isinstance(v, float) and math.isnan(v))

        kwargs = {k: v for k, v in row.items() if not blank(v)}
        if "description" not in kwargs:
            kwargs["description"] = ""
        return cls(**kwargs)

    def apply(self, fac: Facilities, periods_per_year: int) -> Facilities:
        """The facilities under this scenario.

        Parameters
        ----------
        fac : Facilities
            The base-case inputs.
        periods_per_year : int
            1, 2, 4 or 12: the grid the facilities will be evaluated on (it dates the
            step-down).

        Returns
        -------
        Facilities
            A copy with the shocked fields replaced (scalars stay scalars, per-facility
            arrays stay arrays); the input is not changed.

        Notes
        -----
        With ``x`` the facility's value (or the core default where it has none):

        * ``rent_deflation = override + rent_deflation_add`` (must stay below 1);
        * ``merchant_rent = x merchant_rent_mult``;
        * a given ``merchant_rent_path`` (a forward curve) takes both shocks:
          ``path_t x merchant_rent_mult x ((1 - d') / (1 - d))^((t-1)/m)``, d and d' the
          deflation before and after, so the curve tilts as a trend path would;
        * ``utilization = clip(x utilization_mult + utilization_add, 0, 1)``;
        * ``power_price = x power_price_mult``;
        * ``pue = max(x + pue_add, 1)``;
        * ``install_haircut = clip(x + haircut_add, 0, 1)``;
        * ``base_rate = x + base_rate_add``;
        * ``step_down``, and ``step_down_period = ceil(step_down_period_years m) + 1``;
        * ``btc_price = x btc_price_mult``.

        Examples
        --------
        >>> fac = Facilities(gpus=1000, gpu_unit_cost=30_000, merchant_rent=2.4,
        ...                  utilization=[0.85, 0.95], debt=18e6, annual_rate=0.10,
        ...                  tenor=48)
        >>> s = Scenario("s", utilization_add=0.10, haircut_add=0.05, step_down=0.25,
        ...              step_down_period_years=1.0)
        >>> out = s.apply(fac, 12)
        >>> out.utilization, round(out.install_haircut, 2), out.step_down_period
        (array([0.95, 1.  ]), 0.2, 13)
        """
        if not isinstance(fac, Facilities):
            raise GpuCreditError(f"fac must be a Facilities, got {type(fac).__name__}",
                                 argument="fac", value=fac)
        m = check_periods_per_year(periods_per_year)
        name = self.name
        ch: dict[str, object] = {}
        if self.rent_deflation is not None or self.rent_deflation_add is not None:
            d = (np.asarray(self.rent_deflation) if self.rent_deflation is not None
                 else check_range(fac.rent_deflation, "rent_deflation"))
            d = d + (self.rent_deflation_add or 0.0)
            ch["rent_deflation"] = _out(_below(d, 1.0, "rent_deflation", name))
        if self.merchant_rent_mult is not None:
            ch["merchant_rent"] = _out(check_range(fac.merchant_rent, "merchant_rent", 0)
                                       * self.merchant_rent_mult)
        if self.utilization_mult is not None or self.utilization_add is not None:
            u = check_range(fac.utilization, "utilization", 0, 1)
            u = u * (1.0 if self.utilization_mult is None else self.utilization_mult)
            u = u + (self.utilization_add or 0.0)
            ch["utilization"] = _out(np.clip(u, 0.0, 1.0))
        if self.power_price_mult is not None:
            p = (fac.power_price if fac.power_price is not None
                 else _core_default(fleet.cfads, "price_per_kwh"))
            ch["power_price"] = _out(check_range(p, "power_price", 0) * self.power_price_mult)
        if self.pue_add is not None:
            p = fac.pue if fac.pue is not None else _core_default(fleet.cfads, "pue")
            ch["pue"] = _out(np.maximum(check_range(p, "pue", 1) + self.pue_add, 1.0))
        if self.haircut_add is not None:
            h = (fac.install_haircut if fac.install_haircut is not None
                 else _core_default(collateral.liquidation_value, "install_haircut"))
            h = check_range(h, "install_haircut", 0, 1) + self.haircut_add
            ch["install_haircut"] = _out(np.clip(h, 0.0, 1.0))
        if self.base_rate_add is not None:
            ch["base_rate"] = _out(check_range(fac.base_rate, "base_rate")
                                   + self.base_rate_add)
        if self.step_down is not None:
            ch["step_down"] = self.step_down
            ch["step_down_period"] = step_down_period(self.step_down_period_years, m)
        if self.btc_price_mult is not None:
            ch["btc_price"] = _out(check_range(fac.btc_price, "btc_price", 0)
                                   * self.btc_price_mult)
        if self.customer_default_years is not None:
            ch["customer_default_period"] = step_down_period(self.customer_default_years, m)
        if fac.merchant_rent_path is not None and ("rent_deflation" in ch
                                                   or "merchant_rent" in ch):
            ch["merchant_rent_path"] = _shocked_path(
                fac, ch.get("rent_deflation"),
                1.0 if self.merchant_rent_mult is None else self.merchant_rent_mult, m)
        return fac.replace(**ch)

    def stress_market(self, market: montecarlo.MarketModel) -> montecarlo.MarketModel:
        """The Monte Carlo market under this scenario: its ``rho``, BTC price times the mult.

        Examples
        --------
        >>> m = Scenario("j", rho=0.6, btc_price_mult=0.5).stress_market(
        ...     montecarlo.MarketModel(btc_price0=90_000.0))
        >>> m.rho, m.btc_price0
        (0.6, 45000.0)
        """
        if not isinstance(market, montecarlo.MarketModel):
            raise GpuCreditError(f"market must be a MarketModel, got {type(market).__name__}",
                                 argument="market", value=market)
        changes: dict[str, float] = {}
        if self.rho is not None:
            changes["rho"] = self.rho
        if self.btc_price_mult is not None:
            changes["btc_price0"] = market.btc_price0 * self.btc_price_mult
        return dataclasses.replace(market, **changes) if changes else market


def step_down_period(years: float, periods_per_year: int) -> int:
    """First period hit by a step-down landing ``years`` from now: ``ceil(y m) + 1``.

    A period is hit when it starts at or after the landing date (period ``t`` starts at
    ``(t - 1) / m`` years).

    >>> step_down_period(1.0, 12), step_down_period(0.5, 1), step_down_period(0.0, 4)
    (13, 2, 1)
    """
    m = check_periods_per_year(periods_per_year)
    y = check_range(years, "step_down_period_years", 0)
    if y.ndim:
        raise GpuCreditError(f"step_down_period_years must be a single number, got an array "
                             f"of shape {y.shape}", argument="step_down_period_years",
                             value=years)
    return math.ceil(float(y) * m - 1e-9) + 1


# --------------------------------------------------------------------------- the grid


def standard_scenarios(*, deflation_add: Sequence[float] = (0.05, 0.10, 0.15),
                       step_down: float = 0.25, step_down_years: float = 1.0,
                       btc_price_mult: float = 0.5, joint_deflation_add: float = 0.15,
                       joint_rho: float = 0.6, customer_default_years: float = 1.0
                       ) -> tuple[Scenario, ...]:
    """The deterministic stress grid: every scenario a stress on each facility's own base.

    Parameters
    ----------
    deflation_add : sequence of float, default (0.05, 0.10, 0.15)
        Percentage points of annual merchant-rent deflation added to each facility's own
        assumption (25% a year by default, the middle of Epoch AI's 21-28% a year
        price-performance gains; 20-40% a year for inference cost): +15pp reaches the
        40% end of that range from the 25% base.
    step_down : float, default 0.25
        Share of rents and values lost when a successor generation reaches volume
        (20-30% per launch, practitioner view, as reported).
    step_down_years : float, default 1.0
        When it lands, years from now (NVIDIA's roadmap: Rubin late 2026, then annual).
    btc_price_mult : float, default 0.5
        BTC price multiplier (-50%): at 60% annual volatility BTC ends a year below half
        its price with probability about 20% (:func:`gpucredit.montecarlo.gbm_prob_below`).
        Only facilities with self-mining or a BTC treasury feel it; the name says so.
    joint_deflation_add : float, default 0.15
        Deflation added in the joint case (the 40% end of the range from a 25% base).
    joint_rho : float, default 0.6
        BTC / GPU-rent correlation of the joint case in the Monte Carlo (no published
        estimate; a stress input at 0, 0.3 and 0.6).
    customer_default_years : float, default 1.0
        When the contract customer defaults in the customer-default scenario.

    Returns
    -------
    tuple of Scenario
        ``base``, ``rent_deflation_+5pp``, ``rent_deflation_+10pp``,
        ``rent_deflation_+15pp``, ``generation_step_-25%_1y``, ``customer_default_1y``,
        ``btc_-50%_miners``, ``joint_stress`` (names follow the sizes).

    Examples
    --------
    >>> [s.name for s in standard_scenarios()]
    ['base', 'rent_deflation_+5pp', 'rent_deflation_+10pp', 'rent_deflation_+15pp', \
'generation_step_-25%_1y', 'customer_default_1y', 'btc_-50%_miners', 'joint_stress']
    >>> standard_scenarios()[-1].shocks
    {'rent_deflation_add': 0.15, 'step_down': 0.25, 'step_down_period_years': 1.0, \
'btc_price_mult': 0.5, 'customer_default_years': 1.0, 'rho': 0.6}
    """
    def pct(x: float) -> str:
        return f"{round(100 * x):d}"

    def yrs(x: float) -> str:
        return f"{x:g}y"

    out = [Scenario(
        "base",
        "The facilities as entered: their own rent deflation, utilization, contracts, "
        "costs, rates and BTC price. No extra stress.")]
    for d in deflation_add:
        out.append(Scenario(
            f"rent_deflation_+{pct(d)}pp",
            f"Merchant GPU rents deflate {pct(d)} percentage points a year faster than "
            f"each facility's own assumption (25% + {pct(d)}pp = {pct(0.25 + d)}% a year "
            f"for a facility at the default). Contracted revenue holds until contracts "
            f"end.", rent_deflation_add=d))
    out.append(Scenario(
        f"generation_step_-{pct(step_down)}%_{yrs(step_down_years)}",
        f"A successor GPU generation reaches volume {step_down_years:g} year(s) from now "
        f"and takes {pct(step_down)}% off merchant rents and off the fleet's market value "
        f"at once, on top of the rent trend (20-30% per launch; Rubin late 2026, then an "
        f"annual cadence).",
        step_down=step_down, step_down_period_years=step_down_years))
    out.append(Scenario(
        f"customer_default_{yrs(customer_default_years)}",
        f"The contract customer defaults {customer_default_years:g} year(s) from now: "
        f"contract revenue stops (unless a backstop guarantees it), the customer pays its "
        f"termination claim at its recovery rate, and the GPUs earn nothing for the "
        f"re-leasing lag, then re-lease at the market rent x the re-leasing factor. "
        f"Facilities without a contract running then are unchanged.",
        customer_default_years=customer_default_years))
    out.append(Scenario(
        f"btc_-{pct(1 - btc_price_mult)}%_miners",
        f"BTC falls {pct(1 - btc_price_mult)}% today and stays there: self-mining revenue "
        f"falls in proportion and a BTC treasury loses as much value. Only facilities "
        f"with self-mining or BTC feel it; GPU rents follow the base case.",
        btc_price_mult=btc_price_mult))
    out.append(Scenario(
        "joint_stress",
        f"Everything at once on each facility's own base: rents deflate "
        f"{pct(joint_deflation_add)}pp a year faster, a successor generation takes "
        f"{pct(step_down)}% off rents and values at {step_down_years:g} year(s), the "
        f"contract customer defaults at {customer_default_years:g} year(s), BTC falls "
        f"{pct(1 - btc_price_mult)}%. In the Monte Carlo, BTC and GPU rents move with "
        f"correlation {joint_rho:g}.",
        rent_deflation_add=joint_deflation_add, step_down=step_down,
        step_down_period_years=step_down_years, btc_price_mult=btc_price_mult,
        customer_default_years=customer_default_years, rho=joint_rho))
    return tuple(out)


STANDARD_SCENARIOS: tuple[Scenario, ...] = standard_scenarios()
"""The stress grid with its default sizes (:func:`standard_scenarios`)."""


def scenario_table(scenarios: Sequence[Scenario] = STANDARD_SCENARIOS) -> pd.DataFrame:
    """One row per scenario: its description and every shock (NaN where not set).

    For the results workbook's scenario sheet.

    Examples
    --------
    >>> t = scenario_table()
    >>> t.loc["joint_stress", ["rent_deflation_add", "btc_price_mult", "rho"]].tolist()
    [0.15, 0.5, 0.6]
    >>> bool(np.isnan(t.loc["base", "rho"]))
    True
    """
    scenarios = _check_scenarios(scenarios)
    rows = [{"description": s.description,
             **{k: (np.nan if getattr(s, k) is None else getattr(s, k)) for k in SHOCKS}}
            for s in scenarios]
    return pd.DataFrame(rows, index=pd.Index([s.name for s in scenarios], name="scenario"))


def _check_scenarios(scenarios) -> list[Scenario]:
    if isinstance(scenarios, Scenario):
        scenarios = [scenarios]
    if isinstance(scenarios, str | bytes | Mapping) or not isinstance(scenarios, Sequence):
        raise GpuCreditError(f"scenarios must be a list of Scenario, got "
                             f"{type(scenarios).__name__}", argument="scenarios",
                             value=scenarios)
    out = list(scenarios)
    if not out:
        raise GpuCreditError("scenarios must hold at least one Scenario, got none",
                             argument="scenarios", value=scenarios)
    seen: set[str] = set()
    for i, s in enumerate(out):
        if not isinstance(s, Scenario):
            raise GpuCreditError(f"scenarios must hold Scenario objects, got "
                                 f"{type(s).__name__} (position {i + 1})",
                                 argument="scenarios", value=s)
        if s.name in seen:
            raise GpuCreditError(f"scenario names must be unique, {s.name!r} appears twice "
                                 f"(position {i + 1})", argument="scenarios", value=s.name)
        seen.add(s.name)
    return out


# --------------------------------------------------------------------------- run


DETERMINISTIC_METRICS: tuple[str, ...] = (
    "debt", "min_dscr", "avg_dscr", "min_dscr_combined", "llcr", "min_llcr",
    "ltv_market", "ltv_liquidation", "max_ltv_market", "max_ltv_liquidation",
    "first_breach", "first_breach_lockup", "first_collateral_shortfall", "lgd",
    "lgd_period", "breakeven_rent", "breakeven_utilization", "breakeven_deflation",
    "market_value", "liquidation_value", "treasury_value",
)
"""Columns of :func:`run_scenarios` (and metrics of :func:`tornado`) without Monte Carlo."""

# Monte Carlo result columns kept by run_scenarios, under their names there.
_MC_COLUMNS = {"pd": "pd", "pd_se": "pd_se", "lgd": "lgd_mc",
               "expected_loss": "expected_loss", "el_se": "el_se", "el_rate": "el_rate",
               "p_dscr_below_covenant": "p_dscr_below_covenant",
               "p_ltv_above_1": "p_ltv_above_1", "cvar_95": "cvar_95", "cvar_99": "cvar_99",
               "min_dscr_q05": "min_dscr_q05", "min_dscr_q50": "min_dscr_q50"}

MONTE_CARLO_METRICS: tuple[str, ...] = tuple(_MC_COLUMNS.values())
"""Columns :func:`run_scenarios` adds when given ``n_paths`` (see
:func:`gpucredit.montecarlo.simulate`; its ``lgd`` is renamed ``lgd_mc``)."""

_INT_COLUMNS = ("first_breach", "first_breach_lockup", "first_collateral_shortfall",
                "lgd_period")


def _metrics_frame(ev: model.Evaluation) -> pd.DataFrame:
    """The deterministic columns of one evaluated scenario, one row per facility."""
    met = ev.metrics
    sched = ev.schedule
    # Payment default: the first period with DSCR below 1.00x (the test of
    # gpucredit.coverage.covenant_headroom, as model.evaluate uses for lgd_at_breach).
    below_one = np.atleast_1d(coverage.covenant_headroom(ev.flows.cfads, sched.debt_service,
                                                         1.0).first_breach)
    at = np.where(below_one > 0, below_one - 1, 0)
    rows = np.arange(len(ev.ids))
    out = pd.DataFrame({
        "debt": met["debt"].to_numpy(),
        "min_dscr": met["min_dscr"].to_numpy(),
        "avg_dscr": met["avg_dscr"].to_numpy(),
        "min_dscr_combined": met["min_dscr_combined"].to_numpy(),
        "llcr": met["llcr"].to_numpy(),
        "min_llcr": met["min_llcr"].to_numpy(),
        "ltv_market": met["ltv_market"].to_numpy(),
        "ltv_liquidation": met["ltv_liquidation"].to_numpy(),
        "max_ltv_market": met["max_ltv_market"].to_numpy(),
        "max_ltv_liquidation": met["max_ltv_liquidation"].to_numpy(),
        "first_breach": met["first_breach_default"].to_numpy(),
        "first_breach_lockup": met["first_breach_lockup"].to_numpy(),
        "first_collateral_shortfall": met["first_collateral_shortfall"].to_numpy(),
        "lgd": ev.lgd[rows, at],
        "lgd_period": at + 1,
        "breakeven_rent": met["breakeven_rent"].to_numpy(),
        "breakeven_utilization": met["breakeven_utilization"].to_numpy(),
        "breakeven_deflation": met["breakeven_deflation"].to_numpy(),
        "market_value": met["market_value"].to_numpy(),
        "liquidation_value": met["liquidation_value"].to_numpy(),
        "treasury_value": met["treasury_value"].to_numpy(),
    })
    for c in _INT_COLUMNS:
        out[c] = out[c].astype(np.int64)
    return out[list(DETERMINISTIC_METRICS)]


def _default_market(fac: Facilities) -> montecarlo.MarketModel:
    """The market :func:`gpucredit.model.simulate` would use for the base facilities."""
    btc0 = float(np.ravel(check_range(fac.btc_price, "btc_price", 0, low_open=True))[0])
    return montecarlo.MarketModel(jump_years=(), btc_price0=btc0)


def _simulate(ev: model.Evaluation, market: montecarlo.MarketModel, n_paths: int, seed: int,
              m: int) -> pd.DataFrame:
    """The Monte Carlo of evaluated facilities, one call per distinct tenor.

    :func:`gpucredit.model.exposure` pads every facility to the longest tenor, and a
    facility's random draws depend on the number of periods simulated; simulating each
    tenor group on its own tenor makes a facility's results independent of the other
    facilities in the portfolio (the same as running it alone).
    """
    ex = model.exposure(ev)
    tenors = np.asarray(ev.tenor)
    parts = []
    for n_t in np.unique(tenors):
        ids = [ev.ids[i] for i in np.flatnonzero(tenors == n_t)]
        sub = ex if len(ids) == len(ev.ids) else ex.select(ids)
        if sub.n_periods != n_t:
            sub = dataclasses.replace(sub, **{
                f.name: getattr(sub, f.name)[:, :n_t] for f in dataclasses.fields(sub)
                if np.ndim(getattr(sub, f.name)) == 2})
        parts.append(montecarlo.simulate(sub, market, n_paths, seed, m))
    return pd.concat(parts).loc[ev.ids]


def run_scenarios(fac: Facilities, periods_per_year: int,
                  scenarios: Sequence[Scenario] = STANDARD_SCENARIOS, *,
                  horizon: int | None = None, n_paths: int | None = None,
                  market: montecarlo.MarketModel | None = None,
                  seed: int = 0, base: model.Evaluation | None = None) -> pd.DataFrame:
    """Every facility under every scenario: a long table of credit metrics.

    Parameters
    ----------
    fac : Facilities
        The base-case inputs (one facility or a portfolio).
    periods_per_year : int
        1, 2, 4 or 12.
    scenarios : sequence of Scenario, default STANDARD_SCENARIOS
        Scenarios to run, names unique (a single Scenario is accepted).
    horizon : int, optional
        Periods to model, as :func:`gpucredit.model.evaluate`.
    n_paths : int, optional
        If given, also run the Monte Carlo (:func:`gpucredit.montecarlo.simulate`) with
        this many paths per facility and scenario, adding :data:`MONTE_CARLO_METRICS`.
    market : MarketModel, optional
        The Monte Carlo market; default ``MarketModel(jump_years=(), btc_price0=...)``
        at the first facility's BTC price, as :func:`gpucredit.model.simulate`. Each
        scenario applies its ``rho`` and BTC multiplier to it
        (:meth:`Scenario.stress_market`).
    seed : int, default 0
        Monte Carlo seed. Every scenario uses the same seed: the same random streams
        (common random numbers), so differences between scenarios are not noise.
    base : Evaluation, optional
        ``model.evaluate(fac, periods_per_year, horizon)`` when the caller has it: a
        scenario that shocks nothing takes it instead of evaluating the same inputs again.

    Returns
    -------
    pandas.DataFrame
        One row per (scenario, facility), scenarios in the order given and facilities
        in their order, columns ``facility_id``, ``scenario``, then
        :data:`DETERMINISTIC_METRICS`:

        ``debt``
            Amount scheduled at the start (for ``sculpted`` facilities with debt 0: the
            capacity at the target DSCR under the scenario).
        ``min_dscr``, ``avg_dscr``, ``min_dscr_combined``
            Over the tenor; combined adds self-mining CFADS (miners).
        ``llcr``, ``min_llcr``
            LLCR at period 1 and its minimum over the tenor.
        ``ltv_market``, ``ltv_liquidation``
            LTV now on market value and on liquidation value.
        ``max_ltv_market``, ``max_ltv_liquidation``
            Their maxima over the tenor.
        ``first_breach``, ``first_breach_lockup``
            First period (1-based; 0 = never) with DSCR below the default covenant
            (``dscr_default``) and below the lock-up covenant.
        ``first_collateral_shortfall``
            First period the liquidation value falls short of the debt (0 = never).
        ``lgd``, ``lgd_period``
            Loss given default if the borrower defaults at its first period with DSCR
            below 1.00x (a payment default), or, if there is none, now (period 1); and
            that period.
        ``breakeven_rent``, ``breakeven_utilization``, ``breakeven_deflation``
            Flat merchant rent, utilization and annual deflation for a minimum DSCR of
            1.00x under the scenario.
        ``market_value``, ``liquidation_value``, ``treasury_value``
            Collateral values now and the BTC treasury's value, USD.

    Notes
    -----
    One :func:`gpucredit.model.evaluate` call per scenario on the stressed facilities
    (:meth:`Scenario.apply`), vectorised across facilities; the metrics are those of
    ``Evaluation.metrics``. ``rho`` moves only the Monte Carlo columns. The Monte Carlo
    runs once per scenario and distinct tenor (each facility on its own tenor), so a
    facility's results are the same in any portfolio and alone.

    The debt schedule is rebuilt under each scenario as the model builds it: annuity,
    straight-line and bullet schedules do not depend on cash flows, but a ``sculpted``
    facility is re-sculpted to the stressed CFADS, which hides the stress in its DSCR.
    Stress sculpted facilities with care.

    Examples
    --------
    >>> fac = Facilities(gpus=1000, gpu_unit_cost=30_000, merchant_rent=2.4,
    ...                  utilization=0.85, debt=18e6, annual_rate=0.10, tenor=48)
    >>> res = run_scenarios(fac, 12)
    >>> res.set_index("scenario")[["min_dscr", "first_breach", "lgd"]].round(2)
                             min_dscr  first_breach   lgd
    scenario
    base                         0.32            27  0.07
    rent_deflation_+5pp          0.07            22  0.08
    rent_deflation_+10pp        -0.14            18  0.07
    rent_deflation_+15pp        -0.30            16  0.04
    generation_step_-25%_1y      0.05            15  0.28
    customer_default_1y          0.32            27  0.07
    btc_-50%_miners              0.32            27  0.07
    joint_stress                -0.41            13  0.26
    """
    if not isinstance(fac, Facilities):
        raise GpuCreditError(f"fac must be a Facilities, got {type(fac).__name__}",
                             argument="fac", value=fac)
    m = check_periods_per_year(periods_per_year)
    scenarios = _check_scenarios(scenarios)
    if n_paths is not None and market is None:
        market = _default_market(fac)
    frames = []
    for s in scenarios:
        ev = base if base is not None and not s.shocks else model.evaluate(s.apply(fac, m),
                                                                            m, horizon)
        frame = _metrics_frame(ev)
        if n_paths is not None:
            mc = _simulate(ev, s.stress_market(market), n_paths, seed, m)
            for src, dst in _MC_COLUMNS.items():
                frame[dst] = mc[src].to_numpy()
        frame.insert(0, "scenario", s.name)
        frame.insert(0, "facility_id", ev.ids)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def scenario_summary(results: pd.DataFrame, debt=None) -> pd.DataFrame:
    """Portfolio aggregates of :func:`run_scenarios`' table, one row per scenario.

    Parameters
    ----------
    results : pandas.DataFrame
        The long table of :func:`run_scenarios` (columns ``facility_id``, ``scenario``,
        ``min_dscr``, ``first_breach`` ...).
    debt : pandas.Series, array_like or float, optional
        The weights (exposure, USD, >= 0): a Series indexed by facility id, one value
        per facility in the order they appear within each scenario, or one number for
        equal weights. Default: the table's own ``debt`` column (so a re-sculpted
        facility weighs what it borrows under each scenario).

    Returns
    -------
    pandas.DataFrame
        Index ``scenario`` (in order of appearance); columns:

        ``facilities``, ``total_debt``
            Number of facilities and the sum of the weights.
        ``facilities_breaching``, ``debt_in_breach``, ``share_debt_in_breach``
            Facilities with DSCR below the default covenant in some period
            (``first_breach > 0``), their debt and its share of the total.
        ``facilities_in_lockup``
            Facilities with DSCR below the lock-up covenant in some period.
        ``avg_min_dscr``, ``worst_min_dscr``
            Debt-weighted average and minimum of ``min_dscr`` (facilities without debt
            service, whose DSCR is NaN, left out).
        ``avg_min_dscr_combined``
            Debt-weighted average of ``min_dscr_combined`` (miners' hosting plus mining).
        ``max_ltv_market``, ``max_ltv_liquidation``
            Largest facility ``max_ltv_market`` and ``max_ltv_liquidation``.
        ``avg_lgd``
            Debt-weighted average of ``lgd``.

        With Monte Carlo columns present, also ``avg_pd`` (debt-weighted) and
        ``expected_loss`` (sum, USD).

    Notes
    -----
    Debt-weighted average of x: ``sum_i D_i x_i / sum_i D_i`` over the facilities where
    x is a number; NaN when their debt sums to 0.

    Examples
    --------
    >>> res = pd.DataFrame({"facility_id": ["a", "b"], "scenario": ["s", "s"],
    ...     "debt": [100.0, 300.0], "min_dscr": [1.5, 0.9],
    ...     "min_dscr_combined": [1.5, 0.9], "max_ltv_market": [0.8, 1.1],
    ...     "max_ltv_liquidation": [1.0, 1.4], "first_breach": [0, 7],
    ...     "first_breach_lockup": [0, 3], "lgd": [0.0, 0.5]})
    >>> row = scenario_summary(res).loc["s"]
    >>> [float(row[k]) for k in ("debt_in_breach", "avg_min_dscr", "avg_lgd")]
    [300.0, 1.05, 0.375]
    """
    if not isinstance(results, pd.DataFrame):
        raise GpuCreditError(f"results must be the DataFrame of run_scenarios, got "
                             f"{type(results).__name__}", argument="results", value=results)
    needed = ["facility_id", "scenario", "min_dscr", "min_dscr_combined", "max_ltv_market",
              "max_ltv_liquidation", "first_breach", "first_breach_lockup", "lgd"]
    if debt is None:
        needed.append("debt")
    missing = [c for c in needed if c not in results.columns]
    if missing:
        raise GpuCreditError(f"results lacks the column(s) {', '.join(missing)}: pass the "
                             f"table of run_scenarios", argument="results", value=missing)
    tally = ScenarioTally()
    tally.add(results, debt)
    return tally.frame()


class ScenarioTally:
    """:func:`scenario_summary` fed the long table a piece at a time, in table order,
    holding a few numbers a scenario instead of the rows.

    Every sum adds its terms one after another in table order (not pairwise), so the
    figures are the same to the last bit however the table is cut into pieces: the batch
    engine feeds each chunk's rows as the chunks before it are in, and keeps none.

    >>> res = pd.DataFrame({"facility_id": ["a", "b"], "scenario": ["s", "s"],
    ...     "debt": [100.0, 300.0], "min_dscr": [1.5, 0.9],
    ...     "min_dscr_combined": [1.5, 0.9], "max_ltv_market": [0.8, 1.1],
    ...     "max_ltv_liquidation": [1.0, 1.4], "first_breach": [0, 7],
    ...     "first_breach_lockup": [0, 3], "lgd": [0.0, 0.5]})
    >>> t = ScenarioTally()
    >>> t.add(res.iloc[:1]); t.add(res.iloc[1:])
    >>> t.frame().equals(scenario_summary(res))
    True
    """

    def __init__(self) -> None:
        self._by: dict[str, _Tally] = {}

    def add(self, results: pd.DataFrame, debt=None) -> None:
        """Tally rows of :func:`run_scenarios`' table (``debt`` as in
        :func:`scenario_summary`: weights for these rows)."""
        names = [str(n) for n in pd.unique(results["scenario"])]  # in order of appearance
        weights = _weights(results, debt, names)
        scenario = results["scenario"]
        for name in names:  # one scenario's rows at a time (a big grid is not copied whole)
            at = (scenario == name).to_numpy()
            self._by.setdefault(name, _Tally()).add(results[at], weights[at])

    def __len__(self) -> int:
        """Rows tallied."""
        return sum(t.n for t in self._by.values())

    def frame(self) -> pd.DataFrame:
        """The summary: one row per scenario, in order of appearance."""
        out = pd.DataFrame.from_dict({name: t.row() for name, t in self._by.items()},
                                     orient="index")
        out.index.name = "scenario"
        return out


_WEIGHTED = {"avg_min_dscr": "min_dscr", "avg_min_dscr_combined": "min_dscr_combined",
             "avg_lgd": "lgd", "avg_pd": "pd"}
"""Debt-weighted averages of the summary and the column each averages."""
_EXTREMES = {"worst_min_dscr": ("min_dscr", np.fmin),
             "max_ltv_market": ("max_ltv_market", np.fmax),
             "max_ltv_liquidation": ("max_ltv_liquidation", np.fmax)}
"""Smallest or largest number of a column (NaN left out)."""


def _then(acc: float, x: np.ndarray) -> float:
    """``acc + x[0] + x[1] + ...``, one term after another (np.cumsum adds in order;
    np.sum pairs terms up, so its result would depend on where a table is cut)."""
    return float(np.cumsum(np.concatenate(([acc], x)))[-1]) if x.size else acc


class _Tally:
    """One scenario's running counts, sums (in table order) and extremes."""

    def __init__(self) -> None:
        self.n = self.n_breach = self.n_lockup = 0
        self.debt = self.breach_debt = 0.0
        self.sums = {k: [0.0, 0.0] for k in _WEIGHTED}  # sum of w x, sum of w (x not NaN)
        self.extremes = dict.fromkeys(_EXTREMES, np.nan)
        self.expected_loss: float | None = None
        self.has_pd = False

    def add(self, g: pd.DataFrame, w: np.ndarray) -> None:
        breach = g["first_breach"].to_numpy() > 0
        self.n += len(g)
        self.debt = _then(self.debt, w)
        self.n_breach += int(breach.sum())
        self.breach_debt = _then(self.breach_debt, w[breach])
        self.n_lockup += int((g["first_breach_lockup"].to_numpy() > 0).sum())
        self.has_pd = self.has_pd or "pd" in g.columns
        for key, col in _WEIGHTED.items():
            if col in g.columns:
                x = g[col].to_numpy(dtype=float)
                ok = ~np.isnan(x)
                acc = self.sums[key]
                acc[:] = _then(acc[0], x[ok] * w[ok]), _then(acc[1], w[ok])
        for key, (col, pick) in _EXTREMES.items():
            x = g[col].to_numpy(dtype=float)
            self.extremes[key] = float(pick.reduce(x, initial=self.extremes[key])) \
                if x.size else self.extremes[key]
        if "expected_loss" in g.columns:
            self.expected_loss = _then(self.expected_loss or 0.0,
                                       g["expected_loss"].to_numpy(dtype=float))

    def row(self) -> dict:
        avg = {k: (s / t if t > 0 else np.nan) for k, (s, t) in self.sums.items()}
        row = {
            "facilities": self.n,
            "total_debt": self.debt,
            "facilities_breaching": self.n_breach,
            "debt_in_breach": self.breach_debt,
            "share_debt_in_breach": self.breach_debt / self.debt if self.debt > 0 else np.nan,
            "facilities_in_lockup": self.n_lockup,
            "avg_min_dscr": avg["avg_min_dscr"],
            "worst_min_dscr": self.extremes["worst_min_dscr"],
            "avg_min_dscr_combined": avg["avg_min_dscr_combined"],
            "max_ltv_market": self.extremes["max_ltv_market"],
            "max_ltv_liquidation": self.extremes["max_ltv_liquidation"],
            "avg_lgd": avg["avg_lgd"],
        }
        if self.has_pd:
            row["avg_pd"] = avg["avg_pd"]
        if self.expected_loss is not None:
            row["expected_loss"] = self.expected_loss
        return row


def _weights(results: pd.DataFrame, debt, names: list[str]) -> np.ndarray:
    if debt is None:
        return check_range(results["debt"].to_numpy(dtype=float), "debt", 0)
    if isinstance(debt, pd.Series):
        ids = pd.Index(results["facility_id"].astype(str))
        keyed = pd.Series(debt.to_numpy(), index=debt.index.astype(str))
        unknown = sorted(set(ids[~ids.isin(keyed.index)]))
        if unknown:
            raise GpuCreditError(f"debt has no value for facility {unknown[0]!r}",
                                 argument="debt", value=unknown[0])
        if keyed.index.is_unique:  # a position per row, without .loc's label lookups
            keyed = keyed.iloc[keyed.index.get_indexer(ids)]
        else:
            keyed = keyed.loc[ids]
        return check_range(keyed.to_numpy(dtype=float), "debt", 0)
    d = check_range(debt, "debt", 0)
    per_scenario = len(results) // max(len(names), 1)
    if d.ndim == 0:
        return np.full(len(results), float(d))
    if d.ndim != 1 or d.size != per_scenario or per_scenario * len(names) != len(results):
        raise GpuCreditError(
            f"debt must be one value per facility ({per_scenario}), got an array of shape "
            f"{d.shape}", argument="debt", value=d.shape)
    return np.tile(d, len(names))


# --------------------------------------------------------------------------- tornado


@dataclass(frozen=True)
class Driver:
    """One bar of a tornado: a scenario shock and its low and high values.

    Parameters
    ----------
    name : str
        Label of the bar (e.g. ``"rent"``).
    shock : str
        The :class:`Scenario` shock it moves (one of :data:`SHOCKS`).
    low, high : float
        The shock's two values (e.g. 0.8 and 1.2 for ``merchant_rent_mult``).
    description : str, default ""
        What the bar means.

    Examples
    --------
    >>> Driver("rent", "merchant_rent_mult", 0.8, 1.2).monte_carlo_only
    False
    >>> Driver("rent", "rent_mult", 0.8, 1.2)
    Traceback (most recent call last):
    ...
    gpucredit.errors.GpuCreditError: shock of driver 'rent' must be one of rent_deflation, ...
    """

    name: str
    shock: str
    low: float
    high: float
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise GpuCreditError(f"a driver needs a name, got {self.name!r}",
                                 argument="name", value=self.name)
        if self.shock not in SHOCKS or self.shock in ("step_down", "step_down_period_years"):
            allowed = [s for s in SHOCKS if s not in ("step_down", "step_down_period_years")]
            raise GpuCreditError(
                f"shock of driver {self.name!r} must be one of {', '.join(allowed)}, got "
                f"{self.shock!r}", argument="shock", value=self.shock)
        for end in ("low", "high"):
            scenario = self.scenario(end)
            object.__setattr__(self, end, getattr(scenario, self.shock))

    @property
    def monte_carlo_only(self) -> bool:
        """Whether the driver moves only Monte Carlo metrics (the correlation)."""
        return self.shock == "rho"

    def scenario(self, end: str) -> Scenario:
        """The one-shock scenario at the ``"low"`` or ``"high"`` end."""
        value = getattr(self, end)
        return Scenario(f"{self.name} {end}", self.description, **{self.shock: value})


def default_drivers(*, rent: float = 0.20, utilization: float = 0.10,
                    power_price: float = 0.30, pue: float = 0.20, haircut: float = 0.10,
                    base_rate: float = 0.02,
                    rho: tuple[float, float] = (0.0, 0.6)) -> tuple[Driver, ...]:
    """The seven tornado drivers of docs/sources.md, each size a parameter.

    Parameters
    ----------
    rent : float, default 0.20
        Merchant rent -/+ 20% (multiplier ``1 -/+ rent``). docs/sources.md: the October 2025
        H100 trough ($1.70) sat about 30% below trend and rents swung $2.35-$2.65
        within 2026; 20% is a one-sided move of that order.
    utilization : float, default 0.10
        Utilization -/+ 10 points (added, clipped to [0, 1]). Our estimate of a plausible
        swing in merchant GPU occupancy; docs/sources.md gives no figure.
    power_price : float, default 0.30
        Power price -/+ 30% (multiplier). Our estimate: US industrial tariffs range
        roughly that far around the $0.08/kWh default of :func:`gpucredit.fleet.cfads`
        (EIA, Electric Power Monthly, table 5.6).
    pue : float, default 0.20
        PUE -/+ 0.2 (added, floored at 1). docs/sources.md: 1.1-1.2 at hyperscale, 1.4-1.6
        typical, around the 1.3 default.
    haircut : float, default 0.10
        Install haircut -/+ 10 points (clipped to [0, 1]). docs/sources.md: 10-25% where buyers
        need liquid-cooled capacity, around the 0.15 default.
    base_rate : float, default 0.02
        Base rate -/+ 200 bp (floating facilities only). Our estimate of a rate shock;
        SOFR rose by more than 500 bp in 2022-23.
    rho : (float, float), default (0.0, 0.6)
        Correlation low and high, Monte Carlo only. docs/sources.md: no published estimate;
        stress at 0, 0.3 and 0.6.

    Returns
    -------
    tuple of Driver
        ``rent``, ``utilization``, ``power_price``, ``pue``, ``haircut``, ``base_rate``,
        ``correlation``.

    Examples
    --------
    >>> [(d.name, d.low, d.high) for d in default_drivers()][:2]
    [('rent', 0.8, 1.2), ('utilization', -0.1, 0.1)]
    """
    lo_rho, hi_rho = rho
    return (
        Driver("rent", "merchant_rent_mult", 1.0 - rent, 1.0 + rent,
               f"Merchant rent -/+{round(100 * rent)}%"),
        Driver("utilization", "utilization_add", -utilization, utilization,
               f"Utilization -/+{round(100 * utilization)} points"),
        Driver("power_price", "power_price_mult", 1.0 - power_price, 1.0 + power_price,
               f"Power price -/+{round(100 * power_price)}%"),
        Driver("pue", "pue_add", -pue, pue, f"PUE -/+{pue:g}"),
        Driver("haircut", "haircut_add", -haircut, haircut,
               f"Install haircut -/+{round(100 * haircut)} points"),
        Driver("base_rate", "base_rate_add", -base_rate, base_rate,
               f"Base rate -/+{round(10_000 * base_rate)} bp (floating facilities)"),
        Driver("correlation", "rho", lo_rho, hi_rho,
               f"BTC / GPU-rent correlation {lo_rho:g} vs {hi_rho:g} (Monte Carlo only)"),
    )


DEFAULT_DRIVERS: tuple[Driver, ...] = default_drivers()
"""The tornado drivers with their default sizes (:func:`default_drivers`)."""


def tornado(fac: Facilities, periods_per_year: int, metric: str = "min_dscr",
            drivers: Sequence[Driver] = DEFAULT_DRIVERS, *, horizon: int | None = None,
            n_paths: int | None = None, market: montecarlo.MarketModel | None = None,
            seed: int = 0) -> pd.DataFrame:
    """Tornado sensitivities of a metric, facility by facility.

    Parameters
    ----------
    fac : Facilities
        The base-case inputs (one facility or a portfolio).
    periods_per_year : int
        1, 2, 4 or 12.
    metric : str, default "min_dscr"
        A column of :func:`run_scenarios`: one of :data:`DETERMINISTIC_METRICS` (e.g.
        ``min_dscr``, ``llcr``, ``max_ltv_liquidation``, ``lgd``) or, with ``n_paths``,
        of :data:`MONTE_CARLO_METRICS` (e.g. ``pd``, ``expected_loss``, ``el_rate``).
    drivers : sequence of Driver, default DEFAULT_DRIVERS
        The bars (:func:`default_drivers` sets their sizes).
    horizon : int, optional
        Periods to model, as :func:`gpucredit.model.evaluate`.
    n_paths, market, seed
        The Monte Carlo, as :func:`run_scenarios`; required for a Monte Carlo metric.
        The base and every shocked run share the seed (common random numbers).

    Returns
    -------
    pandas.DataFrame
        One row per (facility, driver): ``facility_id``, ``driver``, ``shock`` (the
        scenario field moved), ``low_shock``, ``high_shock`` (its two values),
        ``metric_low``, ``metric_high`` (the metric at each), ``base`` (the metric
        unshocked) and ``swing = |metric_high - metric_low|``. Facilities keep their
        order; within a facility, rows are sorted by swing, largest first (NaN last).

    Notes
    -----
    Each end of each driver is a one-shock :class:`Scenario` run through
    :func:`run_scenarios` (one evaluation per scenario, vectorised across facilities).
    The correlation moves only Monte Carlo metrics, so for a deterministic metric the
    drivers that move only ``rho`` are left out (their swing would be 0 by
    construction); for a Monte Carlo metric all drivers are run.

    Examples
    --------
    >>> fac = Facilities(gpus=1000, gpu_unit_cost=30_000, merchant_rent=2.4,
    ...                  utilization=0.85, debt=18e6, annual_rate=0.10, tenor=48)
    >>> t = tornado(fac, 12)
    >>> t["driver"].tolist()
    ['rent', 'utilization', 'power_price', 'pue', 'haircut', 'base_rate']
    >>> t[["metric_low", "base", "metric_high"]].iloc[0].round(2).tolist()
    [0.11, 0.32, 0.53]
    """
    if not isinstance(metric, str) or metric not in (DETERMINISTIC_METRICS
                                                     + MONTE_CARLO_METRICS):
        raise GpuCreditError(
            f"metric must be one of {', '.join(DETERMINISTIC_METRICS + MONTE_CARLO_METRICS)}"
            f", got {metric!r}", argument="metric", value=metric)
    is_mc = metric in MONTE_CARLO_METRICS
    if is_mc and n_paths is None:
        raise GpuCreditError(f"metric {metric!r} comes from the Monte Carlo: give n_paths",
                             argument="n_paths", value=None)
    if isinstance(drivers, Driver):
        drivers = [drivers]
    drivers = list(drivers)
    for i, d in enumerate(drivers):
        if not isinstance(d, Driver):
            raise GpuCreditError(f"drivers must hold Driver objects, got "
                                 f"{type(d).__name__} (position {i + 1})",
                                 argument="drivers", value=d)
    if len({d.name for d in drivers}) != len(drivers):
        raise GpuCreditError("driver names must be unique", argument="drivers",
                             value=[d.name for d in drivers])
    if not is_mc:
        drivers = [d for d in drivers if not d.monte_carlo_only]
    if not drivers:
        raise GpuCreditError(f"no driver moves the deterministic metric {metric!r} (the "
                             f"correlation moves only Monte Carlo metrics)",
                             argument="drivers", value=None)
    runs = [Scenario("base")] + [d.scenario(e) for d in drivers for e in ("low", "high")]
    res = run_scenarios(fac, periods_per_year, runs, horizon=horizon,
                        n_paths=n_paths if is_mc else None, market=market, seed=seed)
    n = len(res) // len(runs)
    values = res[metric].to_numpy(dtype=float).reshape(len(runs), n)
    ids = res["facility_id"].to_numpy()[:n]
    k = len(drivers)
    low, high = values[1::2], values[2::2]  # (drivers, facilities)
    out = pd.DataFrame({
        "facility_id": np.repeat(ids, k),
        "driver": np.tile([d.name for d in drivers], n),
        "shock": np.tile([d.shock for d in drivers], n),
        "low_shock": np.tile([d.low for d in drivers], n),
        "high_shock": np.tile([d.high for d in drivers], n),
        "metric_low": low.T.ravel(),
        "metric_high": high.T.ravel(),
        "base": np.repeat(values[0], k),
    })
    out["swing"] = np.abs(out["metric_high"] - out["metric_low"])
    out["_facility"] = np.repeat(np.arange(n), k)
    out["_key"] = out["swing"].fillna(-np.inf)
    out = out.sort_values(["_facility", "_key"], ascending=[True, False], kind="stable")
    return out.drop(columns=["_facility", "_key"]).reset_index(drop=True)


def _shocked_path(fac: Facilities, deflation, mult: float, m: int) -> np.ndarray:
    """A forward-curve rent path under a scenario's rent shocks (see :meth:`Scenario.apply`)."""
    path = np.asarray(fac.merchant_rent_path, dtype=float)
    d_old = np.broadcast_to(check_range(fac.rent_deflation, "rent_deflation"), path.shape[:1])
    d_new = d_old if deflation is None else np.broadcast_to(
        np.asarray(deflation, dtype=float), path.shape[:1])
    tilt = ((1.0 - d_new[:, None]) / (1.0 - d_old[:, None])) ** (np.arange(path.shape[1]) / m)
    return path * mult * tilt
