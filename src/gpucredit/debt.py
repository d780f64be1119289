"""Debt schedules: floating rates, amortisation profiles, sculpting, sizing and WAL.

Conventions (``gpucredit.periods``, ``docs/methodology.md``):

* Periods ``t = 1..T``; interest and principal are paid at the **end** of each period,
  draws are made at the **start** of a period and bear interest for the whole period.
* ``annual_rate`` is a nominal annual rate compounded once a period: the per-period rate
  is ``r_t = annual_rate_t / periods_per_year``. A call with ``periods_per_year=1`` and a
  per-period rate therefore works on per-period rates (``r / 1 = r``).
* ``annual_rate`` may be a facility parameter (a scalar, or ``(F,)``: one rate per
  facility) or a rate path (``(T,)`` or ``(F, T)``; ``r_t`` applies to period t). In a
  portfolio a 1-D array as long as the number of facilities is read as one rate per
  facility; pass a path shared by every facility as ``(1, T)`` (the rule of
  :mod:`gpucredit.coverage`).
* Results are arrays shaped ``(T,)`` for one facility and ``(F, T)`` for a portfolio,
  computed for all facilities at once. Scalars in give scalars out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from gpucredit._checks import (
    check_finite,
    check_periods_per_year,
    check_same_periods,
    common_shape,
    facility_count,
    param,
    param_or_path,
    series,
    where,
)
from gpucredit.errors import GpuCreditError

__all__ = [
    "KINDS",
    "DebtSchedule",
    "debt_capacity",
    "floating_rate",
    "schedule",
    "sculpt",
    "size_debt",
    "wal",
]

KINDS = ("annuity", "straight_line", "bullet", "custom")
"""The amortisation profiles :func:`schedule` knows."""


# --------------------------------------------------------------------------- shape helpers


def _first(values: np.ndarray, mask: np.ndarray) -> tuple[float, str]:
    """The first value where ``mask`` holds and its position, e.g. ``(5.0, " (facility 2)")``.

    Positions are in analyst terms: ``facility f`` for a facility parameter ``(F, 1)``,
    ``period t`` for a path ``(T,)``, ``facility f, period t`` for a table.
    """
    values, mask = np.broadcast_arrays(values, mask)
    if values.ndim == 0:
        return float(values), ""
    idx = tuple(np.argwhere(mask)[0])
    if values.ndim == 1:
        return float(values[idx]), f" (period {idx[0] + 1})"
    if values.shape[1] == 1:
        return float(values[idx]), f" (facility {idx[0] + 1})"
    return float(values[idx]), f" ({where(values, mask)})"


def _whole(x, name: str, low: int) -> np.ndarray:
    """A facility parameter of whole numbers ``>= low`` (``()`` or ``(F, 1)``)."""
    arr = param(x, name, low)
    frac = arr != np.round(arr)
    if frac.any():
        value, pos = _first(arr, frac)
        raise GpuCreditError(f"{name} must be a whole number of periods, got {value:g}{pos}",
                             argument=name, value=value)
    return arr


def _col(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A facility parameter as a column ``(..., 1)`` against arrays of ``shape``."""
    return np.broadcast_to(x, (*shape[:-1], 1))


def _per_facility(x: np.ndarray):
    """A per-facility result: a Python float for one facility, else the ``(F,)`` array."""
    x = np.asarray(x, dtype=float)
    return float(x) if x.ndim == 0 else x


def _per_period_rate(annual_rate, periods_per_year, *, n_fac, n_periods) -> np.ndarray:
    """``annual_rate / m``, each above -100% a period so balances and discounts stay sane."""
    m = check_periods_per_year(periods_per_year)
    rate = param_or_path(annual_rate, "annual_rate", n_fac=n_fac, n_periods=n_periods,
                          low=-m, low_open=True)
    return rate / m


# --------------------------------------------------------------------------- floating rate


def floating_rate(base_rate, spread, floor=0.0):
    """All-in annual rate of a floating-rate loan: floored base rate plus spread.

    Parameters
    ----------
    base_rate : float or array_like
        Base rate (e.g. term SOFR) as a decimal: a scalar, a path ``(T,)`` shared by all
        facilities, or ``(F, T)``. A 1-D array is always a path over periods here.
    spread : float or array_like, shape (F,)
        Margin over the base rate as a decimal (0.065 = 650 bp), one per facility or one
        for all.
    floor : float or array_like (F,) or None, default 0.0
        Floor on the **base rate** (not on the all-in rate); ``None`` for no floor. The
        default 0% is the SOFR floor of CoreWeave's DDTL 2.0 (docs/sources.md, "Deals").

    Returns
    -------
    float or ndarray
        ``max(base, floor) + spread``: a float for scalars, ``(F,)`` for a scalar base and
        per-facility spreads, else ``(T,)`` or ``(F, T)`` (rows = facilities).

    Notes
    -----
    ``rate_t = max(base_t, floor) + spread``, the convention of leveraged loans and of the
    CoreWeave DDTL 2.0 (SOFR + 6.00-6.50%, 0% floor). The result is an annual rate: pass
    it to :func:`schedule` as ``annual_rate``.

    Examples
    --------
    SOFR below the floor pays the floor: max(-0.5%, 0%) + 6.5% = 6.5%.

    >>> floating_rate(-0.005, 0.065)
    0.065
    >>> floating_rate([0.043, 0.038, -0.001], 0.0625).round(4)
    array([0.1055, 0.1005, 0.0625])
    >>> floating_rate(0.043, [0.0225, 0.045]).round(4)
    array([0.0655, 0.088 ])
    """
    base = check_finite(base_rate, "base_rate")
    if base.ndim > 2:
        raise GpuCreditError(
            f"base_rate must be a rate, a path (periods) or a table (facilities x periods), "
            f"got an array of shape {base.shape}", argument="base_rate", value=base_rate)
    sp = param(spread, "spread")
    fl = -np.inf if floor is None else param(floor, "floor")
    facility_count(base_rate=base, spread=sp, floor=np.asarray(fl))
    out = np.maximum(base, fl) + sp
    if base.ndim == 0 and out.ndim == 2:
        out = out[:, 0]
    return float(out) if out.ndim == 0 else out


# --------------------------------------------------------------------------- the schedule


@dataclass(frozen=True, eq=False)
class DebtSchedule:
    """A debt schedule: balances and payments each period.

    Every array is ``(T,)`` for one facility or ``(F, T)`` for a portfolio, period t in
    column ``t - 1``. Identities: ``closing = opening + draw - principal``,
    ``debt_service = interest + principal``, ``interest = r_t x (opening + draw)``,
    ``opening_{t+1} = closing_t``.

    Attributes
    ----------
    opening : ndarray
        Balance at the start of the period, before the period's draw.
    draw : ndarray
        Amount drawn at the start of the period.
    interest : ndarray
        Interest paid at the end of the period.
    principal : ndarray
        Principal repaid at the end of the period (negative where a sculpted schedule
        capitalises interest).
    debt_service : ndarray
        ``interest + principal``.
    closing : ndarray
        Balance at the end of the period.
    periods_per_year : int
        Periods a year (1, 2, 4 or 12).
    """

    opening: np.ndarray
    draw: np.ndarray
    interest: np.ndarray
    principal: np.ndarray
    debt_service: np.ndarray
    closing: np.ndarray
    periods_per_year: int

    @property
    def n_periods(self) -> int:
        """Number of periods T."""
        return int(self.opening.shape[-1])

    @property
    def debt(self):
        """Total lent: the opening balance of period 1 plus every draw (float or ``(F,)``).

        For a sculpted schedule this is the debt capacity.
        """
        return _per_facility(self.opening[..., 0] + self.draw.sum(axis=-1))

    @property
    def wal(self):
        """Weighted average life in years (:func:`wal` of the principal)."""
        return wal(self.principal, self.periods_per_year)

    def to_frame(self) -> pd.DataFrame:
        """The schedule as a table, one row per period (long format for portfolios).

        Columns ``period, opening_balance, draw, interest, principal, debt_service,
        closing_balance``, with a leading ``facility`` column (1..F) for a portfolio.

        Examples
        --------
        >>> frame = schedule(300.0, 0.10, 3, 1, "straight_line").to_frame()
        >>> frame[["period", "opening_balance", "interest", "principal", "closing_balance"]]
           period  opening_balance  interest  principal  closing_balance
        0       1            300.0      30.0      100.0            200.0
        1       2            200.0      20.0      100.0            100.0
        2       3            100.0      10.0      100.0              0.0
        """
        columns = {
            "opening_balance": self.opening, "draw": self.draw, "interest": self.interest,
            "principal": self.principal, "debt_service": self.debt_service,
            "closing_balance": self.closing,
        }
        n_t = self.n_periods
        if self.opening.ndim == 1:
            data = {"period": np.arange(1, n_t + 1)} | columns
        else:
            n_f = self.opening.shape[0]
            data = {"facility": np.repeat(np.arange(1, n_f + 1), n_t),
                    "period": np.tile(np.arange(1, n_t + 1), n_f)}
            data |= {k: v.ravel() for k, v in columns.items()}
        return pd.DataFrame(data)


def _assemble(amount, draw, principal, closing, rate, periods_per_year) -> DebtSchedule:
    opening = np.concatenate([_col(amount, closing.shape), closing[..., :-1]], axis=-1)
    interest = rate * (opening + draw)
    return DebtSchedule(opening=opening, draw=draw, interest=interest, principal=principal,
                        debt_service=interest + principal, closing=closing,
                        periods_per_year=periods_per_year)


def _from_closing(amount, draw, closing, rate, periods_per_year) -> DebtSchedule:
    """Complete a schedule from its balance path and the period rates."""
    opening = np.concatenate([_col(amount, closing.shape), closing[..., :-1]], axis=-1)
    return _assemble(amount, draw, opening + draw - closing, closing, rate, periods_per_year)


def _from_principal(amount, draw, principal, maturity, rate, periods_per_year) -> DebtSchedule:
    """Complete a schedule from principal payments; period ``maturity`` repays the rest.

    Principal is kept as given (so it is exactly zero where it should be) and the balance
    accumulated from it; the maturity payment is the whole remaining balance, which
    absorbs floating-point dust and leaves exactly 0.
    """
    shape = principal.shape
    t = np.arange(1, shape[-1] + 1)
    balance = _col(amount, shape) + np.cumsum(draw - principal, axis=-1)
    closing = np.where(t >= maturity, 0.0, balance)
    before = np.concatenate([_col(amount, shape), balance[..., :-1]], axis=-1)
    principal = np.where(t == maturity, before + draw, np.where(t > maturity, 0.0, principal))
    return _assemble(amount, draw, principal, closing, rate, periods_per_year)


def _sinking_share(rate: np.ndarray, n_left: np.ndarray) -> np.ndarray:
    """Share of the balance repaid by a level payment over ``n_left`` periods at ``rate``.

    ``r / ((1 + r)^n - 1)``, or ``1 / n`` when ``r = 0``; computed with expm1/log1p.
    """
    n_left = np.maximum(n_left, 1.0)
    growth = np.expm1(n_left * np.log1p(rate))
    zero = growth == 0.0
    return np.where(zero, 1.0 / n_left, rate / np.where(zero, 1.0, growth))


def schedule(amount, annual_rate, n_periods, periods_per_year, kind: str = "annuity", *,
             principal=None, draws=None, amortization_start=1, horizon=None) -> DebtSchedule:
    """Amortisation schedule of a term loan: annuity, straight-line, bullet or custom.

    Parameters
    ----------
    amount : float or array_like (F,)
        Balance drawn at closing (start of period 1), ``>= 0``. May be 0 when ``draws``
        builds the balance.
    annual_rate : float or array_like
        Nominal annual rate (decimal), compounded each period: a facility parameter
        (scalar or ``(F,)``) or a path (``(T,)`` or ``(F, T)``), e.g. from
        :func:`floating_rate`. With ``periods_per_year=1`` it is a per-period rate.
    n_periods : int or array_like (F,) of int
        Tenor in periods: the balance is 0 at the end of period ``n_periods``. Facilities
        may have different tenors; the arrays then run to the longest (or ``horizon``)
        and are zero after each facility's maturity.
    periods_per_year : int
        1, 2, 4 or 12.
    kind : {"annuity", "straight_line", "bullet", "custom"}, default "annuity"
        ``annuity``: level payment (interest + principal); ``straight_line``: level
        principal; ``bullet``: interest only, all principal at maturity; ``custom``: the
        profile given in ``principal``.
    principal : array_like (T,) or (F, T), optional
        Only with ``kind="custom"``: the repayment profile as non-negative weights, scaled
        so they repay the whole debt (``amount`` plus all draws): fractions adding to 1
        and amounts adding to the debt are both used as they are. Put a balloon in the
        maturity period. Weights must be zero before ``amortization_start`` and after
        maturity.
    draws : array_like (T,) or (F, T), optional
        Delayed draws: amount drawn at the **start** of each period (``>= 0``), which
        bears interest from that period on. Draws after maturity are refused.
    amortization_start : int or array_like (F,) of int, default 1
        First period with scheduled principal; periods ``1 .. amortization_start - 1``
        are interest-only. Ignored by ``bullet``.
    horizon : int, optional
        Number of periods in the result (``>= n_periods``); default the length of
        ``draws`` or ``principal`` if given, else of a rate path, else the longest
        ``n_periods``. A 1-D ``annual_rate`` at least as long as the tenor (and not one
        rate per facility) is a path.

    Returns
    -------
    DebtSchedule
        Arrays ``(T,)`` for one facility, ``(F, T)`` for a portfolio.

    Raises
    ------
    GpuCreditError
        For a negative amount, a tenor or start that is not a whole number in range, an
        unknown ``kind``, a custom profile that repays more than has been drawn, or
        series covering different periods or facilities.

    Notes
    -----
    With per-period rate ``r_t = annual_rate_t / m``, balance ``B_t = opening_t + draw_t``
    on which period t accrues, maturity ``n``, first amortising period ``k``:

    * interest ``I_t = r_t B_t``; closing ``= B_t - P_t``; debt service ``= I_t + P_t``.
    * **annuity**: from ``k`` the payment is level over the ``N = n - k + 1`` amortising
      periods: ``A r / (1 - (1 + r)^-N)`` with ``A = B_k`` (``numpy_financial.pmt``); the
      closing balance after ``j`` amortising periods is
      ``A (1 - ((1 + r)^j - 1) / ((1 + r)^N - 1))``. With a rate path or draws the payment
      is re-levelled every period on the balance at the current rate over the periods
      left: ``P_t = B_t r_t / ((1 + r_t)^(n - t + 1) - 1)`` (with a constant rate and no
      later draws this is the same level annuity).
    * **straight_line**: ``P_t = B_t / (n - t + 1)`` from ``k``, i.e. each draw is repaid
      in equal parts over the amortising periods left when it is drawn.
    * **bullet**: ``P_t = 0`` before ``n``, ``P_n = B_n``.
    * **custom**: ``P_t = w_t / sum(w) x (amount + sum(draws))``.

    The maturity payment repays the whole balance, so the closing balance of period ``n``
    is exactly 0. Annuity and straight-line principal is never negative.

    Examples
    --------
    $1,000 at 12% a year, monthly, 12 months: payment $88.85 (``numpy_financial.pmt``).

    >>> s = schedule(1000.0, 0.12, 12, 12)
    >>> round(float(s.debt_service[0]), 2), round(float(s.interest[0]), 2)
    (88.85, 10.0)
    >>> float(s.closing[-1])
    0.0

    A $100m five-year bullet at 9% paid semi-annually: WAL = tenor = 5 years.

    >>> b = schedule(100e6, 0.09, 10, 2, "bullet")
    >>> float(b.interest[0]), float(b.principal[-1]), b.wal
    (4500000.0, 100000000.0, 5.0)

    Two facilities at once, one rate each:

    >>> schedule([1000.0, 2000.0], [0.06, 0.08], 4, 4, "straight_line").principal
    array([[250., 250., 250., 250.],
           [500., 500., 500., 500.]])
    """
    m = check_periods_per_year(periods_per_year)
    if kind not in KINDS:
        raise GpuCreditError(
            f"kind must be one of {', '.join(repr(k) for k in KINDS)}, got {kind!r}",
            argument="kind", value=kind)
    if (principal is not None) != (kind == "custom"):
        raise GpuCreditError(
            "principal (the repayment profile) is given with kind='custom' and only then, "
            f"got kind={kind!r} {'without' if principal is None else 'with'} principal",
            argument="principal", value=principal)

    amt = param(amount, "amount", 0)
    tenor = _whole(n_periods, "n_periods", 1)
    start = _whole(amortization_start, "amortization_start", 1)
    profiles = {name: series(x, name, 0) for name, x in (("draws", draws),
                                                          ("principal", principal))
                if x is not None}
    n_fac = facility_count(amount=amt, n_periods=tenor, amortization_start=start, **profiles)
    n_t = _grid_periods(horizon, profiles, np.shape(annual_rate), n_fac, tenor)
    for name, arr in profiles.items():
        check_same_periods(**{"the schedule": np.empty(n_t), name: arr})
    draw = profiles.get("draws", np.zeros(n_t))
    rate = _per_period_rate(annual_rate, m, n_fac=n_fac, n_periods=n_t)
    shape = common_shape(amount=amt, annual_rate=rate, n_periods=tenor,
                          amortization_start=start, **(profiles | {"draws": draw}))
    _check_in_grid(tenor, start, kind, n_t)

    t = np.arange(1, n_t + 1)
    late = (t > tenor) & (draw > 0)
    if late.any():
        value, pos = _first(draw, late)
        raise GpuCreditError(f"draws must be zero after maturity (n_periods), got {value:g}{pos}",
                             argument="draws", value=value)
    draw = np.broadcast_to(draw, shape).astype(float)
    rate_b = np.broadcast_to(rate, shape)
    if kind == "bullet":
        return _from_principal(amt, draw, np.zeros(shape), tenor, rate_b, m)
    if kind == "straight_line":
        return _straight_line(amt, draw, tenor, start, rate_b, m)
    if kind == "custom":
        weights = np.broadcast_to(profiles["principal"], shape)
        return _custom(amt, draw, weights, tenor, start, rate_b, m)
    if draws is None and (rate.ndim == 0 or rate.shape[-1] == 1):
        return _annuity_closed_form(amt, draw, tenor, start, rate, rate_b, m)
    return _annuity_relevelled(amt, draw, tenor, start, rate_b, m)


def _grid_periods(horizon, profiles: dict, rate_shape: tuple, n_fac, tenor) -> int:
    """Periods in a schedule: ``horizon``, else a profile's or rate path's, else the tenor."""
    if horizon is not None:
        if np.ndim(horizon) != 0:
            raise GpuCreditError(f"horizon must be a single number of periods, got {horizon!r}",
                                 argument="horizon", value=horizon)
        return int(_whole(horizon, "horizon", 1))
    if profiles:
        return next(iter(profiles.values())).shape[-1]
    longest = int(np.max(tenor))
    if len(rate_shape) == 2 and rate_shape[-1] != 1:
        return rate_shape[-1]
    if len(rate_shape) == 1 and rate_shape[0] != n_fac and rate_shape[0] >= longest:
        return rate_shape[0]  # a 1-D rate at least as long as the tenor is a rate path
    return longest


def _check_in_grid(tenor, start, kind, n_t) -> None:
    long = tenor > n_t
    if long.any():
        value, pos = _first(tenor, long)
        raise GpuCreditError(
            f"n_periods must be at most the number of periods in the schedule ({n_t}), "
            f"got {value:g}{pos}", argument="n_periods", value=value)
    late = start > tenor
    if kind != "bullet" and late.any():
        value, pos = _first(start, late)
        raise GpuCreditError(f"amortization_start must be between 1 and n_periods, got "
                             f"{value:g}{pos}", argument="amortization_start", value=value)


def _annuity_closed_form(amt, draw, tenor, start, rate, rate_b, m) -> DebtSchedule:
    t = np.arange(1, draw.shape[-1] + 1)
    n_amort = tenor - start + 1
    done = np.clip(t - start + 1, 0, n_amort)
    log_growth = np.log1p(rate)
    total = np.expm1(n_amort * log_growth)
    zero = total == 0.0
    repaid = np.where(zero, done / n_amort,
                      np.expm1(done * log_growth) / np.where(zero, 1.0, total))
    closing = np.where(t >= tenor, 0.0, amt * (1.0 - repaid))
    return _from_closing(amt, draw, np.broadcast_to(closing, draw.shape), rate_b, m)


def _annuity_relevelled(amt, draw, tenor, start, rate_b, m) -> DebtSchedule:
    # A recursion over periods: each payment is levelled on the balance the last one left.
    shape = draw.shape
    principal = np.zeros(shape)
    balance = _col(amt, shape)[..., 0].astype(float)
    tenor_f, start_f = _col(tenor, shape)[..., 0], _col(start, shape)[..., 0]
    for i in range(shape[-1]):
        t = i + 1
        accruing = balance + draw[..., i]
        share = _sinking_share(rate_b[..., i], tenor_f - t + 1)
        paid = np.where((t >= start_f) & (t <= tenor_f), accruing * share, 0.0)
        principal[..., i] = paid
        balance = accruing - paid
    return _from_principal(amt, draw, principal, tenor, rate_b, m)


def _straight_line(amt, draw, tenor, start, rate_b, m) -> DebtSchedule:
    t = np.arange(1, draw.shape[-1] + 1)
    tranche = draw.copy()
    tranche[..., 0] += _col(amt, draw.shape)[..., 0]
    # Each tranche is repaid in equal parts over the amortising periods left when it is
    # drawn (over all of them if drawn before amortisation starts).
    periods_left = np.maximum(tenor - np.maximum(t, start) + 1, 1)
    principal = np.cumsum(tranche / periods_left, axis=-1)
    principal = np.where((t >= start) & (t <= tenor), principal, 0.0)
    return _from_principal(amt, draw, principal, tenor, rate_b, m)


def _custom(amt, draw, weights, tenor, start, rate_b, m) -> DebtSchedule:
    t = np.arange(1, draw.shape[-1] + 1)
    outside = (weights > 0) & ((t < start) | (t > tenor))
    if outside.any():
        value, pos = _first(weights, outside)
        raise GpuCreditError("principal must be zero before amortization_start and after "
                             f"n_periods, got {value:g}{pos}", argument="principal", value=value)
    debt = _col(amt, draw.shape) + draw.sum(axis=-1, keepdims=True)
    total = weights.sum(axis=-1, keepdims=True)
    missing = (total == 0) & (debt > 0)
    if missing.any():
        _, pos = _first(debt, missing)
        raise GpuCreditError(f"principal must have a positive total to repay the debt, got 0"
                             f"{pos}", argument="principal", value=0.0)
    principal = weights * np.where(total > 0, debt / np.where(total > 0, total, 1.0), 0.0)
    balance = _col(amt, draw.shape) + np.cumsum(draw - principal, axis=-1)
    short = balance < -1e-9 * np.maximum(debt, 1.0)
    if short.any():
        value, pos = _first(balance, short)
        raise GpuCreditError(
            f"principal repays more than has been drawn: the balance would be {value:,.2f}"
            f"{pos}; move repayments after the draws", argument="principal", value=value)
    return _from_principal(amt, draw, principal, tenor, rate_b, m)


# --------------------------------------------------------------------------- sculpting


def _sculpt_inputs(cfads, annual_rate, target_dscr, periods_per_year, amount=None):
    m = check_periods_per_year(periods_per_year)
    cf = series(cfads, "cfads")
    target = param(target_dscr, "target_dscr", 0, low_open=True)
    amt = None if amount is None else param(amount, "amount", 0)
    extra = {} if amt is None else {"amount": amt}
    n_t = cf.shape[-1]
    n_fac = facility_count(cfads=cf, target_dscr=target, **extra)
    rate = _per_period_rate(annual_rate, m, n_fac=n_fac, n_periods=n_t)
    shape = common_shape(cfads=cf, annual_rate=rate, target_dscr=target, **extra)
    shape = (*shape[:-1], n_t)
    service = np.broadcast_to(np.maximum(cf, 0.0) / target, shape)
    growth = np.cumprod(np.broadcast_to(1.0 + rate, shape), axis=-1)
    pv = service / growth
    return m, amt, rate, shape, service, growth, pv


def debt_capacity(cfads, annual_rate, target_dscr, periods_per_year):
    """Debt a CFADS profile supports at a target DSCR: NPV of CFADS / target.

    Parameters
    ----------
    cfads : array_like, shape (T,) or (F, T)
        Cash flow available for debt service over the loan's tenor, one value per period.
    annual_rate : float or array_like
        Debt rate (nominal annual, compounded each period): a facility parameter or a
        path, as in :func:`schedule`.
    target_dscr : float or array_like (F,)
        Target DSCR, ``> 0`` (sizing cases are often 1.20-1.40x; the covenant levels of
        docs/sources.md are lock-up 1.10-1.25x and default 1.00-1.05x).
    periods_per_year : int
        1, 2, 4 or 12.

    Returns
    -------
    float or ndarray (F,)
        ``sum_t max(CFADS_t, 0) / target / prod_{i<=t} (1 + r_i)``.

    Notes
    -----
    docs/sources.md, "Sculpting": debt service ``DS_t = CFADS_t / target``, debt capacity = NPV
    of that debt service at the debt rate, discounting period t by
    ``prod_{i<=t} (1 + r_i)``, ``r_i = annual_rate_i / m``. Debt service cannot be
    negative: periods of negative CFADS contribute nothing (see :func:`sculpt`).

    Examples
    --------
    CFADS of 120 a year for 2 years, target 1.20x, 10%: 100/1.1 + 100/1.21 = 173.55.

    >>> round(debt_capacity([120.0, 120.0], 0.10, 1.2, 1), 2)
    173.55
    """
    *_, pv = _sculpt_inputs(cfads, annual_rate, target_dscr, periods_per_year)
    return _per_facility(pv.sum(axis=-1))


def sculpt(cfads, annual_rate, target_dscr, periods_per_year, *, amount=None) -> DebtSchedule:
    """Sculpted repayment: debt service follows CFADS at a constant DSCR.

    Parameters
    ----------
    cfads : array_like, shape (T,) or (F, T)
        CFADS over the tenor; the schedule has the same periods.
    annual_rate : float or array_like
        Debt rate, as in :func:`schedule`.
    target_dscr : float or array_like (F,)
        Target DSCR, ``> 0``.
    periods_per_year : int
        1, 2, 4 or 12.
    amount : float or array_like (F,), optional
        Debt to sculpt, ``>= 0``; default the debt capacity. A smaller amount (e.g. the
        result of :func:`size_debt` when the advance rate binds) keeps the CFADS-shaped
        profile, every DSCR then being ``target x capacity / amount``.

    Returns
    -------
    DebtSchedule
        The sculpted schedule; its ``debt`` (opening balance of period 1) is the debt
        capacity (or ``amount``).

    Raises
    ------
    GpuCreditError
        If ``target_dscr <= 0``, ``amount`` is negative or positive against zero
        capacity, or the rate path covers other periods than ``cfads``.

    Notes
    -----
    docs/sources.md, "Sculpting": ``DS_t = max(CFADS_t, 0) / target``; the opening balance of
    period t is the PV of the debt service still to come,
    ``O_t = sum_{s>=t} DS_s / prod_{t<=i<=s} (1 + r_i)``, so ``O_1`` is the capacity;
    ``I_t = r_t O_t``, ``P_t = DS_t - I_t``, closing ``C_t = O_{t+1}`` and ``C_T = 0``
    exactly (``C_t = O_t - P_t`` to rounding). Debt service is exactly
    ``max(CFADS_t, 0) / target``, so every period with positive CFADS has
    ``DSCR_t = target``; with no negative CFADS, ``LLCR_t = target`` at every t too.

    Negative CFADS: debt service cannot be negative, so such a period has
    ``DS_t = 0`` (no DSCR) and its interest is capitalised: ``P_t = -I_t < 0`` and the
    balance grows. The same happens whenever ``CFADS_t / target < I_t``.

    Examples
    --------
    >>> s = sculpt([120.0, 240.0], 0.10, 1.2, 1)
    >>> round(s.debt, 2), s.debt_service.round(2).tolist()
    (256.2, [100.0, 200.0])
    >>> s.closing.round(2).tolist()
    [181.82, 0.0]
    """
    m, amt, rate, shape, service, growth, pv = _sculpt_inputs(
        cfads, annual_rate, target_dscr, periods_per_year, amount)
    remaining = np.cumsum(pv[..., ::-1], axis=-1)[..., ::-1]
    before = np.concatenate([np.ones((*shape[:-1], 1)), growth[..., :-1]], axis=-1)
    opening = remaining * before
    if amt is not None:
        capacity = opening[..., :1]
        impossible = (capacity == 0) & (amt > 0)
        if impossible.any():
            _, pos = _first(amt, impossible)
            raise GpuCreditError(
                f"amount cannot be sculpted: CFADS is never positive, so the debt capacity "
                f"is 0{pos}", argument="amount", value=amount)
        scale = np.where(capacity > 0, amt / np.where(capacity > 0, capacity, 1.0), 0.0)
        opening, service = opening * scale, service * scale
    # Debt service is kept exactly CFADS / target (never negative); the balance is the PV
    # of what is left, so the closing balance of the last period is exactly 0.
    closing = np.concatenate([opening[..., 1:], np.zeros((*shape[:-1], 1))], axis=-1)
    interest = np.broadcast_to(rate, shape) * opening
    return DebtSchedule(opening=opening, draw=np.zeros(shape), interest=interest,
                        principal=service - interest, debt_service=np.array(service),
                        closing=closing, periods_per_year=m)


def size_debt(cost, advance_rate, cfads, annual_rate, target_dscr, periods_per_year):
    """Debt size: the lesser of the advance-rate limit and the sculpted debt capacity.

    Parameters
    ----------
    cost : float or array_like (F,)
        Cost of the assets financed (USD), ``>= 0``.
    advance_rate : float or array_like (F,)
        Loan-to-cost limit, in [0, 1] (e.g. Hut 8 River Bend: up to 85% loan-to-cost,
        docs/sources.md "Deals").
    cfads, annual_rate, target_dscr, periods_per_year
        As in :func:`debt_capacity`.

    Returns
    -------
    float or ndarray (F,)
        ``min(advance_rate x cost, debt_capacity(...))``.

    Notes
    -----
    docs/sources.md, "Debt sizing = min(advance rate x cost, sculpted capacity)". Pass the
    result to :func:`sculpt` as ``amount`` for the repayment profile.

    Examples
    --------
    Cost 300, 80% advance = 240; capacity 173.55 (see :func:`debt_capacity`) binds.

    >>> round(size_debt(300.0, 0.8, [120.0, 120.0], 0.10, 1.2, 1), 2)
    173.55
    >>> size_debt(200.0, 0.8, [120.0, 120.0], 0.10, 1.2, 1)
    160.0
    """
    c = param(cost, "cost", 0)
    adv = param(advance_rate, "advance_rate", 0, 1)
    capacity = np.asarray(debt_capacity(cfads, annual_rate, target_dscr, periods_per_year))
    capacity = capacity[:, None] if capacity.ndim else capacity
    facility_count(cost=c, advance_rate=adv, cfads=capacity)
    out = np.minimum(adv * c, capacity)
    return _per_facility(out[:, 0] if out.ndim else out)


# --------------------------------------------------------------------------- WAL


def wal(principal, periods_per_year):
    """Weighted average life of a repayment profile, in years.

    Parameters
    ----------
    principal : array_like, shape (T,) or (F, T)
        Principal repaid at the end of periods ``1..T``.
    periods_per_year : int
        1, 2, 4 or 12.

    Returns
    -------
    float or ndarray (F,)
        ``sum_t (t / m) P_t / sum_t P_t``; NaN where no principal is repaid.

    Notes
    -----
    docs/sources.md, "WAL = sum(t x principal_t) / sum(principal_t)", with t converted to years
    (``t / m``, flows at period end). A bullet's WAL is its tenor; level principal over
    T periods has WAL ``(T + 1) / (2m)``.

    Examples
    --------
    >>> wal([0.0, 0.0, 0.0, 100.0], 4)
    1.0
    >>> wal([25.0, 25.0, 25.0, 25.0], 4)
    0.625
    >>> wal([0.0, 0.0], 12)
    nan
    """
    m = check_periods_per_year(periods_per_year)
    p = series(principal, "principal")
    t = np.arange(1, p.shape[-1] + 1) / m
    total = p.sum(axis=-1)
    weighted = (p * t).sum(axis=-1)
    out = np.divide(weighted, total, out=np.full(np.shape(total), np.nan), where=total != 0)
    return _per_facility(out)
