"""Fleet economics: GPU-hours, revenue, power, colocation and CFADS period by period.

Conventions (``gpucredit.periods``, ``docs/methodology.md``):

* Periods ``t = 1..T`` of ``8760 / m`` hours each (``m = periods_per_year``); every flow
  is the total for the period, in USD, paid at its end.
* ``gpus`` and the cost parameters are facility parameters: a scalar, or ``(F,)`` for a
  portfolio. ``merchant_rent`` is a period series: ``(T,)`` (shared by every facility) or
  ``(F, T)``; it fixes the number of periods.
* Arguments documented as "a facility parameter or a path" (utilization, contracted
  share, contract rate, power price, per-GPU costs) take a scalar, ``(F,)``, ``(T,)`` or
  ``(F, T)``. In a portfolio a 1-D array as long as the number of facilities is one value
  per facility; pass a path shared by every facility as ``(1, T)`` (the rule of
  :mod:`gpucredit.coverage` and :mod:`gpucredit.debt`).
* Scalars in give scalars out; otherwise results are ``(T,)`` or ``(F, T)``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from gpucredit._checks import (
    check_periods_per_year,
    check_range,
    common_shape,
    facility_count,
    param,
    param_or_path,
    series,
)
from gpucredit.periods import period_hours

__all__ = [
    "MACRS_5_YEAR",
    "FleetCashFlows",
    "cash_tax",
    "cfads",
    "colocation_cost",
    "gpu_hours",
    "power_cost",
    "revenue",
    "tax_depreciation",
]


# --------------------------------------------------------------------------- argument shapes


def _resolve(*, params: dict, either: dict, paths: dict, n_periods_from: str | None = None):
    """Check and shape arguments given as ``{name: (value, low, high)}``.

    ``params`` are facility parameters (``()`` or ``(F, 1)``), ``paths`` period series (a
    1-D array is a path; a scalar stays a scalar), ``either`` facility parameters or paths
    (:func:`gpucredit._checks.param_or_path`). ``n_periods_from`` names the path that fixes
    the number of periods. Returns the arrays and their common shape, whose trailing
    axis is 1 when no argument runs over periods.
    """
    out = {name: param(v, name, lo, hi) for name, (v, lo, hi) in params.items()}
    for name, (v, lo, hi) in paths.items():
        arr = check_range(v, name, lo, hi)
        out[name] = arr if arr.ndim == 0 else series(arr, name)
    n_fac = facility_count(**out)
    if n_periods_from is not None:
        n_t = out[n_periods_from].shape[-1]
    else:
        lengths = [a.shape[-1] for a in out.values() if a.ndim >= 1 and a.shape[-1] != 1]
        n_t = lengths[0] if lengths else None
    for name, (v, lo, hi) in either.items():
        out[name] = param_or_path(v, name, n_fac=n_fac, n_periods=n_t, low=lo, high=hi)
    shape = common_shape(**out)
    if n_periods_from is not None and (not shape or shape[-1] != n_t):
        shape = (*shape[:-1], n_t)
    return out, shape


def _result(x: np.ndarray):
    """A float for a scalar result, ``(F,)`` when nothing varied by period, else the array."""
    if np.ndim(x) == 0:
        return float(x)
    return x[:, 0] if x.ndim == 2 and x.shape[1] == 1 else x


# --------------------------------------------------------------------------- the formulas
# Each formula lives here once; the public functions check arguments and call these.


def _gpu_hours(gpus, utilization, hours):
    return gpus * utilization * hours


def _power(gpus, kw_per_gpu, pue, price_per_kwh, load_factor, hours):
    return gpus * kw_per_gpu * pue * hours * price_per_kwh * load_factor


def _colocation(gpus, kw_per_gpu, rate_per_kw_month, m):
    return gpus * kw_per_gpu * rate_per_kw_month * 12.0 / m


# --------------------------------------------------------------------------- building blocks


def gpu_hours(gpus, utilization, periods_per_year):
    """GPU-hours sold in a period: GPUs x utilization x hours in the period.

    Parameters
    ----------
    gpus : float or array_like (F,)
        GPUs installed, ``>= 0``.
    utilization : float or array_like
        Share of the hours sold, in [0, 1]: a facility parameter or a path.
    periods_per_year : int
        1, 2, 4 or 12; a period lasts ``8760 / m`` hours.

    Returns
    -------
    float or ndarray
        ``gpus x utilization x 8760 / m``.

    Examples
    --------
    1,000 GPUs 85% utilized over a 730-hour month: 620,500 GPU-hours.

    >>> gpu_hours(1000, 0.85, 12)
    620500.0
    >>> gpu_hours(1000, [0.5, 0.75, 1.0], 4)
    array([1095000., 1642500., 2190000.])
    """
    m = check_periods_per_year(periods_per_year)
    a, _ = _resolve(params={"gpus": (gpus, 0, None)},
                    either={"utilization": (utilization, 0, 1)}, paths={})
    return _result(_gpu_hours(a["gpus"], a["utilization"], period_hours(m)))


def revenue(gpus, utilization, rent, periods_per_year, *, contracted_share=0.0,
            contract_rate=0.0, contracted_utilization=1.0):
    """Rental revenue in a period: contracted (take-or-pay) plus merchant.

    Parameters
    ----------
    gpus : float or array_like (F,)
        GPUs installed, ``>= 0``.
    utilization : float or array_like
        Utilization of the merchant (uncontracted) GPUs, in [0, 1]: a facility parameter
        or a path.
    rent : float or array_like
        Merchant (market) rent in USD per GPU-hour, ``>= 0``: a scalar, a path ``(T,)``
        shared by every facility, or ``(F, T)``.
    periods_per_year : int
        1, 2, 4 or 12.
    contracted_share : float or array_like, default 0.0
        Share of the GPUs under a take-or-pay contract, in [0, 1]: a facility parameter
        or a path (e.g. ``RentSplit.contracted_share_path`` from
        :func:`gpucredit.rents.contracted_merchant`, 0 after the contract ends).
    contract_rate : float or array_like, default 0.0
        Contract rate in USD per GPU-hour, ``>= 0``: a facility parameter or a path.
    contracted_utilization : float or array_like, default 1.0
        Share of the contracted hours paid for, in [0, 1]; 1 for take-or-pay (docs/sources.md,
        "Cash flows and coverage": contracted revenue is take-or-pay at the contract rate).

    Returns
    -------
    float or ndarray
        Revenue in USD for each period.

    Notes
    -----
    With ``H = 8760 / m`` hours, ``s_t`` the contracted share and ``u_t`` utilization:

    ``revenue_t = GPUs x s_t x u_c x H x contract_rate_t
    + GPUs x (1 - s_t) x u_t x H x rent_t``.

    Utilization applies to the merchant GPUs only: contracted GPUs are paid for every
    hour whether used or not. With no contract this is docs/sources.md's
    ``GPUs x utilization x rent x hours``.

    Examples
    --------
    1,000 H100s, 85% utilized, $2.00 an hour, a 730-hour month:
    1,000 x 0.85 x 2.00 x 730 = $1,241,000.

    >>> revenue(1000, 0.85, 2.00, 12)
    1241000.0

    Half contracted at $2.65: 500 x 730 x 2.65 + 500 x 0.85 x 730 x 2.00 = 1,587,750.

    >>> revenue(1000, 0.85, 2.00, 12, contracted_share=0.5, contract_rate=2.65)
    1587750.0
    """
    m = check_periods_per_year(periods_per_year)
    a, _ = _resolve(
        params={"gpus": (gpus, 0, None)},
        either={"utilization": (utilization, 0, 1),
                "contracted_share": (contracted_share, 0, 1),
                "contract_rate": (contract_rate, 0, None),
                "contracted_utilization": (contracted_utilization, 0, 1)},
        paths={"rent": (rent, 0, None)})
    hours = period_hours(m)
    share = a["contracted_share"]
    contracted = _gpu_hours(a["gpus"] * share, a["contracted_utilization"], hours)
    merchant = _gpu_hours(a["gpus"] * (1.0 - share), a["utilization"], hours)
    return _result(contracted * a["contract_rate"] + merchant * a["rent"])


def power_cost(gpus, kw_per_gpu, pue, price_per_kwh, periods_per_year, load_factor=1.0):
    """Electricity bill in a period: GPUs x kW x PUE x hours x $/kWh x load factor.

    Parameters
    ----------
    gpus : float or array_like (F,)
        GPUs installed, ``>= 0``.
    kw_per_gpu : float or array_like (F,)
        IT power per GPU in kW, all-in (server, network share), ``>= 0``. H100: about
        1.3 kW (a DGX H100 draws about 10.2 kW for 8 GPUs; DGX B200 about 14.3 kW),
        docs/sources.md "Cash flows and coverage".
    pue : float or array_like (F,)
        Power usage effectiveness, facility power over IT power, ``>= 1``: 1.1-1.2 at
        hyperscale sites, 1.4-1.6 typical (docs/sources.md).
    price_per_kwh : float or array_like
        Electricity price in USD per kWh, ``>= 0``: a facility parameter or a path.
    periods_per_year : int
        1, 2, 4 or 12.
    load_factor : float or array_like (F,), default 1.0
        Average draw as a share of ``kw_per_gpu``, in [0, 1]. The default 1 (full draw
        every hour) is conservative, an assumption of ours.

    Returns
    -------
    float or ndarray
        Power cost in USD for each period.

    Notes
    -----
    ``power_t = GPUs x kW x PUE x (8760 / m) x price_t x load_factor``.

    Examples
    --------
    1,000 GPUs x 1.3 kW x PUE 1.3 x 730 h x $0.08/kWh = $98,696 a month.

    >>> round(power_cost(1000, 1.3, 1.3, 0.08, 12), 2)
    98696.0
    """
    m = check_periods_per_year(periods_per_year)
    a, _ = _resolve(
        params={"gpus": (gpus, 0, None), "kw_per_gpu": (kw_per_gpu, 0, None),
                "pue": (pue, 1, None), "load_factor": (load_factor, 0, 1)},
        either={"price_per_kwh": (price_per_kwh, 0, None)}, paths={})
    return _result(_power(a["gpus"], a["kw_per_gpu"], a["pue"], a["price_per_kwh"],
                          a["load_factor"], period_hours(m)))


def colocation_cost(gpus, kw_per_gpu, rate_per_kw_month, periods_per_year):
    """Colocation rent in a period: GPUs x kW x $/kW-month x months in the period.

    Parameters
    ----------
    gpus : float or array_like (F,)
        GPUs installed, ``>= 0``.
    kw_per_gpu : float or array_like (F,)
        IT power per GPU in kW, ``>= 0`` (H100 about 1.3 kW, docs/sources.md).
    rate_per_kw_month : float or array_like
        Colocation rate in USD per kW of IT capacity per month, ``>= 0``: a facility
        parameter or a path. CBRE North America H2-2024 asking rate $184/kW-month
        (250-500 kW requirements); global average Q1-2025 about $217 (docs/sources.md).
    periods_per_year : int
        1, 2, 4 or 12.

    Returns
    -------
    float or ndarray
        Colocation cost in USD for each period.

    Notes
    -----
    ``colocation_t = GPUs x kW x rate_t x 12 / m``: colocation is priced on contracted IT
    kW, whatever the utilization; the electricity itself is :func:`power_cost`.

    Examples
    --------
    1,000 GPUs x 1.3 kW x $184 = $239,200 a month; a quarter is three months.

    >>> round(colocation_cost(1000, 1.3, 184.0, 12), 2)
    239200.0
    >>> round(colocation_cost(1000, 1.3, 184.0, 4), 2)
    717600.0
    """
    m = check_periods_per_year(periods_per_year)
    a, _ = _resolve(
        params={"gpus": (gpus, 0, None), "kw_per_gpu": (kw_per_gpu, 0, None)},
        either={"rate_per_kw_month": (rate_per_kw_month, 0, None)}, paths={})
    return _result(_colocation(a["gpus"], a["kw_per_gpu"], a["rate_per_kw_month"], m))


# --------------------------------------------------------------------------- CFADS


@dataclass(frozen=True, eq=False)
class FleetCashFlows:
    """A fleet's cash flows period by period, from GPU-hours to CFADS.

    Every attribute is an array ``(T,)`` for one facility or ``(F, T)`` for a portfolio,
    in USD per period unless it says GPU-hours or USD per GPU-hour.

    Attributes
    ----------
    contracted_gpu_hours : ndarray
        GPU-hours paid at the contract rate.
    merchant_capacity_gpu_hours : ndarray
        Uncontracted GPU-hours available for sale, before utilization.
    merchant_gpu_hours : ndarray
        GPU-hours sold at the merchant rent (capacity x utilization); the slope of
        CFADS in the merchant rent, for :func:`gpucredit.coverage.breakeven_rent`.
    merchant_rent : ndarray
        Merchant rent, USD per GPU-hour.
    contracted_revenue, merchant_revenue, revenue : ndarray
        Revenue from the contract, from the market, and their sum.
    power, colocation, other_opex : ndarray
        Cash operating costs.
    maintenance_capex : ndarray
        Maintenance capital expenditure.
    tax : ndarray
        Cash tax.
    working_capital_change : ndarray
        Increase in working capital (consumes cash).
    cfads : ndarray
        Cash flow available for debt service.
    """

    contracted_gpu_hours: np.ndarray
    merchant_capacity_gpu_hours: np.ndarray
    merchant_gpu_hours: np.ndarray
    merchant_rent: np.ndarray
    contracted_revenue: np.ndarray
    merchant_revenue: np.ndarray
    revenue: np.ndarray
    power: np.ndarray
    colocation: np.ndarray
    other_opex: np.ndarray
    maintenance_capex: np.ndarray
    tax: np.ndarray
    working_capital_change: np.ndarray
    cfads: np.ndarray

    @property
    def opex(self) -> np.ndarray:
        """Cash operating costs: power + colocation + other opex."""
        return self.power + self.colocation + self.other_opex

    @property
    def ebitda(self) -> np.ndarray:
        """Revenue less cash operating costs."""
        return self.revenue - self.opex

    @property
    def other_cfads(self) -> np.ndarray:
        """CFADS other than merchant revenue: ``cfads - merchant_revenue``.

        With :attr:`merchant_gpu_hours` it writes CFADS as linear in the merchant rent,
        the form :func:`gpucredit.coverage.breakeven_rent` takes (exact when no cash tax
        is paid; with tax, the tax at the modelled rent is held fixed).
        """
        return self.cfads - self.merchant_revenue

    def to_frame(self) -> pd.DataFrame:
        """The cash flows as a table, one row per period (long format for portfolios).

        Columns ``period`` and one per attribute, with a leading ``facility`` column
        (1..F) for a portfolio.

        Examples
        --------
        >>> cf = cfads(1000, 0.85, [2.0, 1.8], 12)
        >>> cf.to_frame()[["period", "revenue", "cfads"]].round(0)
           period    revenue     cfads
        0       1  1241000.0  903104.0
        1       2  1116900.0  779004.0
        """
        columns = {f.name: getattr(self, f.name) for f in fields(self)}
        n_t = self.cfads.shape[-1]
        if self.cfads.ndim == 1:
            return pd.DataFrame({"period": np.arange(1, n_t + 1)} | columns)
        n_f = self.cfads.shape[0]
        data = {"facility": np.repeat(np.arange(1, n_f + 1), n_t),
                "period": np.tile(np.arange(1, n_t + 1), n_f)}
        return pd.DataFrame(data | {k: v.ravel() for k, v in columns.items()})


MACRS_5_YEAR = (0.20, 0.32, 0.192, 0.1152, 0.1152, 0.0576)
"""US tax depreciation of 5-year property (computers and peripheral equipment): MACRS
general depreciation system, 200% declining balance, half-year convention. IRS
Publication 946 (2024), Table A-1 and Appendix B (asset class 00.12, information
systems: 5-year recovery)."""


def tax_depreciation(cost, age_start, periods_per_year, schedule=MACRS_5_YEAR):
    """Tax depreciation of a fleet, USD per period, by the tax year the period falls in.

    Parameters
    ----------
    cost : float or array_like (F,)
        Depreciable cost of the fleet (GPUs x cost per GPU), USD, >= 0.
    age_start : array_like, shape (T,) or (F, T)
        Age in years at the start of each period (years since delivery, the placed-in-
        service date).
    periods_per_year : int
        1, 2, 4 or 12.
    schedule : sequence of float, default :data:`MACRS_5_YEAR`
        Share of cost deducted in tax years 1, 2, ... after delivery.

    Returns
    -------
    ndarray
        ``cost x schedule[floor(age_start)] / m``; zero once the schedule has run out.

    Examples
    --------
    >>> tax_depreciation(1_000.0, [0.0, 0.5, 1.0, 6.0], 2)
    array([100., 100., 160.,   0.])
    """
    m = check_periods_per_year(periods_per_year)
    c = param(cost, "cost", 0)
    a = check_range(age_start, "age_start", 0)
    rates = np.concatenate([np.asarray(schedule, dtype=float), [0.0]])
    year = np.minimum(np.floor(a + 1e-9).astype(int), rates.size - 1)
    return c * rates[year] / m


def cash_tax(ebitda, depreciation, interest, tax_rate):
    """Cash tax on taxable income, with losses carried forward, period by period.

    Parameters
    ----------
    ebitda, depreciation, interest : array_like, shape (T,) or (F, T)
        Revenue less cash opex; tax depreciation; interest paid (USD per period).
    tax_rate : float or array_like (F,)
        Tax rate in [0, 1] (21%: the US federal rate, 26 U.S.C. § 11(b)).

    Returns
    -------
    ndarray
        Tax paid each period, >= 0.

    Notes
    -----
    With :math:`L_t` the loss carried into period t (:math:`L_1 = 0`):

    .. math:: y_t = EBITDA_t - D_t - I_t, \\quad
              \\text{tax}_t = r \\max(y_t - L_t, 0), \\quad
              L_{t+1} = \\max(L_t - y_t, 0)

    Losses carry forward without limit and are used in full (the 80%-of-income limit of
    26 U.S.C. § 172(a) since 2018 is left out, a simplification); nothing is carried back.

    Examples
    --------
    >>> cash_tax([100.0, 50.0, 200.0], [150.0, 0.0, 0.0], [0.0, 0.0, 50.0], 0.2)
    array([ 0.,  0., 30.])
    """
    y = np.asarray(ebitda, dtype=float) - np.asarray(depreciation, dtype=float) \
        - np.asarray(interest, dtype=float)
    r = param(tax_rate, "tax_rate", 0, 1)
    r = r[..., 0] if np.ndim(r) == 2 and y.ndim == 1 else r
    tax = np.zeros_like(y)
    loss = np.zeros(y.shape[:-1])
    for t in range(y.shape[-1]):  # the carry-forward runs through time
        income = y[..., t] - loss
        loss = np.maximum(-income, 0.0)
        tax[..., t] = np.maximum(income, 0.0)
    return tax * r


def cfads(gpus, utilization, merchant_rent, periods_per_year, *, contracted_share=0.0,
          contract_rate=0.0, contracted_utilization=1.0, kw_per_gpu=1.3, pue=1.3,
          price_per_kwh=0.08, load_factor=1.0, colocation_per_kw_month=184.0,
          other_opex_per_gpu_year=0.0, maintenance_capex_per_gpu_year=0.0, tax_rate=0.0,
          tax_depreciation=0.0, working_capital_change=None,
          working_share=1.0) -> FleetCashFlows:
    """Cash flow available for debt service of a GPU fleet, period by period.

    Parameters
    ----------
    gpus : float or array_like (F,) or (F, T)
        GPUs installed, ``>= 0``: one number per facility, or a 2-D array of the GPUs
        installed each period (a fleet growing with delayed draws).
    utilization : float or array_like
        Utilization of the merchant (uncontracted) GPUs, in [0, 1]: a facility parameter
        or a path.
    merchant_rent : array_like, shape (T,) or (F, T)
        Market rent in USD per GPU-hour (``>= 0``) each period, e.g. from
        :mod:`gpucredit.rents`; its length sets the number of periods T.
    periods_per_year : int
        1, 2, 4 or 12.
    contracted_share : float or array_like, default 0.0
        Share of the GPUs under take-or-pay contract each period, in [0, 1] (e.g.
        ``RentSplit.contracted_share_path``): a facility parameter or a path.
    contract_rate : float or array_like, default 0.0
        Contract rate, USD per GPU-hour (``>= 0``): a facility parameter or a path.
    contracted_utilization : float or array_like, default 1.0
        Share of contracted hours paid for, in [0, 1]; 1 = take-or-pay (docs/sources.md).
    kw_per_gpu : float or array_like (F,), default 1.3
        IT power per GPU in kW, all-in: H100 about 1.3 kW (DGX H100 about 10.2 kW for 8
        GPUs; DGX B200 about 14.3 kW), docs/sources.md "Cash flows and coverage".
    pue : float or array_like (F,), default 1.3
        Power usage effectiveness, ``>= 1``. docs/sources.md gives 1.1-1.2 at hyperscale and
        1.4-1.6 typical; 1.3, between the two, is our estimate for a modern colocation
        site.
    price_per_kwh : float or array_like, default 0.08
        Electricity price, USD per kWh (``>= 0``): a facility parameter or a path. $0.08
        is about the US average retail price to industrial users in 2024 (EIA, Electric
        Power Monthly, table 5.6); an estimate, not in docs/sources.md: use the site's tariff.
    load_factor : float or array_like (F,), default 1.0
        Average power draw as a share of ``kw_per_gpu``, in [0, 1]; 1 (full draw, our
        conservative assumption).
    colocation_per_kw_month : float or array_like, default 184.0
        Colocation rate, USD per kW of IT load per month (``>= 0``; 0 for an owned site):
        a facility parameter or a path. CBRE North America H2-2024 asking rate
        $184/kW-month (250-500 kW); global Q1-2025 average about $217 (docs/sources.md).
    other_opex_per_gpu_year : float or array_like, default 0.0
        Other cash opex (staff, network transit, insurance, software), USD per GPU per
        year (``>= 0``): a facility parameter or a path. No public benchmark in docs/sources.md,
        so 0 by default: set it from the borrower's model.
    maintenance_capex_per_gpu_year : float or array_like, default 0.0
        Maintenance capex (replacing failed GPUs and parts), USD per GPU per year
        (``>= 0``): a facility parameter or a path. 0 by default; a starting point is
        the physical attrition of about 9% a year (docs/sources.md) times the replacement cost.
    tax_rate : float or array_like (F,), default 0.0
        Cash tax rate on positive taxable income, in [0, 1]. 0 by default: GPU fleets
        carry large tax depreciation early on; set it (e.g. US federal 21%) to test.
    tax_depreciation : float or array_like, default 0.0
        Tax-deductible non-cash charges (tax depreciation), USD per period (``>= 0``):
        a facility parameter or a path.
    working_capital_change : array_like, shape (T,) or (F, T), optional
        Increase in working capital each period, USD (positive consumes cash, negative
        releases it); default none.
    working_share : float or array_like, default 1.0
        Share of the installed GPUs still working, in [0, 1]: a facility parameter or a
        path, e.g. the physical attrition since delivery
        (:func:`gpucredit.curves.attrition`, about 9% a year: Meta, "The Llama 3 Herd of
        Models", 2024, section 3.3.4, our annualisation). Revenue, power, other opex and
        maintenance capex count the working GPUs; colocation is paid on the kW reserved
        for the installed fleet (a colocation lease does not shrink with failures).

    Returns
    -------
    FleetCashFlows
        Each line ``(T,)`` for one facility, ``(F, T)`` for a portfolio.

    Raises
    ------
    GpuCreditError
        Negative GPUs, costs or rents; utilization or shares outside [0, 1]; PUE below 1;
        series that cover different periods or facilities.

    Notes
    -----
    With ``H = 8760 / m`` hours a period, ``s_t`` the contracted share, ``u_t`` merchant
    utilization (docs/sources.md, "Cash flows and coverage"), and GPUs the working GPUs
    (installed x ``working_share``) except in colocation:

    * contracted revenue ``= GPUs x s_t x u_c x H x contract_rate_t``;
    * merchant GPU-hours ``= GPUs x (1 - s_t) x u_t x H``, revenue ``= hours x rent_t``;
    * power ``= GPUs x kW x PUE x H x price_t x load_factor``;
    * colocation ``= GPUs x kW x colocation_rate_t x 12 / m``;
    * other opex ``= GPUs x other_opex_per_gpu_year / m``; maintenance capex likewise;
    * cash tax ``= tax_rate x max(revenue - power - colocation - other opex -
      tax_depreciation, 0)``, period by period, with no loss carry-forward and no
      interest deduction (CFADS is before financing) - a simple, conservative choice;
    * ``CFADS = revenue - power - colocation - other opex - maintenance capex - tax
      - working capital increase``.

    Examples
    --------
    1,000 H100s, 85% utilized at $2.00 for a month: revenue 1,241,000; power
    1,000 x 1.3 x 1.3 x 730 x 0.08 = 98,696; colocation 1,000 x 1.3 x 184 = 239,200;
    CFADS = 1,241,000 - 98,696 - 239,200 = 903,104.

    >>> cf = cfads(1000, 0.85, [2.00], 12)
    >>> float(cf.revenue[0]), round(float(cf.power[0]), 2), round(float(cf.cfads[0]), 2)
    (1241000.0, 98696.0, 903104.0)
    """
    m = check_periods_per_year(periods_per_year)
    if working_capital_change is None:
        working_capital_change = 0.0
    fleet_path = np.ndim(gpus) == 2  # GPUs installed each period
    a, shape = _resolve(
        params={**({} if fleet_path else {"gpus": (gpus, 0, None)}),
                "kw_per_gpu": (kw_per_gpu, 0, None),
                "pue": (pue, 1, None), "load_factor": (load_factor, 0, 1),
                "tax_rate": (tax_rate, 0, 1)},
        either={**({"gpus": (gpus, 0, None)} if fleet_path else {}),
                "utilization": (utilization, 0, 1),
                "contracted_share": (contracted_share, 0, 1),
                "contract_rate": (contract_rate, 0, None),
                "contracted_utilization": (contracted_utilization, 0, 1),
                "price_per_kwh": (price_per_kwh, 0, None),
                "colocation_per_kw_month": (colocation_per_kw_month, 0, None),
                "other_opex_per_gpu_year": (other_opex_per_gpu_year, 0, None),
                "maintenance_capex_per_gpu_year": (maintenance_capex_per_gpu_year, 0, None),
                "tax_depreciation": (tax_depreciation, 0, None),
                "working_share": (working_share, 0, 1)},
        paths={"merchant_rent": (series(merchant_rent, "merchant_rent"), 0, None),
               "working_capital_change": (working_capital_change, None, None)},
        n_periods_from="merchant_rent")
    hours = period_hours(m)
    installed, share = a["gpus"], a["contracted_share"]
    g = installed * a["working_share"]
    contracted_hours = _gpu_hours(g * share, a["contracted_utilization"], hours)
    capacity = _gpu_hours(g, 1.0 - share, hours)
    merchant_hours = capacity * a["utilization"]
    contracted_rev = contracted_hours * a["contract_rate"]
    merchant_rev = merchant_hours * a["merchant_rent"]
    rev = contracted_rev + merchant_rev
    power = _power(g, a["kw_per_gpu"], a["pue"], a["price_per_kwh"], a["load_factor"], hours)
    colo = _colocation(installed, a["kw_per_gpu"], a["colocation_per_kw_month"], m)
    other = g * a["other_opex_per_gpu_year"] / m
    maintenance = g * a["maintenance_capex_per_gpu_year"] / m
    taxable = rev - power - colo - other - a["tax_depreciation"]
    tax = a["tax_rate"] * np.maximum(taxable, 0.0)
    wc = a["working_capital_change"]
    cash = rev - power - colo - other - maintenance - tax - wc

    def full(x):
        return np.array(np.broadcast_to(x, shape), dtype=float)

    return FleetCashFlows(
        contracted_gpu_hours=full(contracted_hours), merchant_capacity_gpu_hours=full(capacity),
        merchant_gpu_hours=full(merchant_hours), merchant_rent=full(a["merchant_rent"]),
        contracted_revenue=full(contracted_rev), merchant_revenue=full(merchant_rev),
        revenue=full(rev), power=full(power), colocation=full(colo), other_opex=full(other),
        maintenance_capex=full(maintenance), tax=full(tax), working_capital_change=full(wc),
        cfads=full(cash))
