"""Bitcoin miners turned AI hosts: hashprice, mining revenue, BTC treasury, combined cover.

A miner that borrows against GPUs services the debt from three pockets: hosting revenue,
bitcoin mining and its crypto treasury. When BTC falls and GPU rents fall together all
three shrink at once (docs/sources.md, "Correlated stress"). This module prices the mining
leg and the treasury and combines them with hosting into one coverage view:

* :func:`hashprice` - USD per PH/s per day from difficulty, BTC price, subsidy and fees;
* :func:`mining_revenue` - revenue per period of a fleet of ``hashrate_ph`` PH/s;
* :func:`btc_holdings_value` and :func:`haircut_btc_value` - the treasury, marked to
  market and after a value-at-risk haircut;
* :func:`btc_liquidation_price` - the BTC price at which a BTC-backed loan is liquidated;
* :func:`combined_coverage` - DSCR from hosting plus mining, and a liquidity-adjusted
  DSCR in which the haircut treasury is sold pro rata to debt service.

Conventions as in ``gpucredit.collateral``: facility parameters scalar or ``(F,)``,
period series ``(T,)`` or ``(F, T)``; a period is ``365 / periods_per_year`` days
(the 8,760-hour year of ``gpucredit.periods``). This module imports
``gpucredit.collateral`` (for :func:`~gpucredit.collateral.crypto_haircut`), never the
reverse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpucredit._checks import check_periods_per_year, check_range
from gpucredit.collateral import (
    _broadcast,
    _check_periods,
    _out,
    _param_or_table,
    _safe_ratio,
    _series_or_scalar,
    crypto_haircut,
)
from gpucredit.periods import HOURS_PER_YEAR

__all__ = [
    "CombinedCoverage",
    "btc_holdings_value",
    "btc_liquidation_price",
    "combined_coverage",
    "haircut_btc_value",
    "hashprice",
    "mining_cfads",
    "mining_revenue",
    "power_cost_per_ph_day",
]

_SECONDS_PER_DAY = 86_400.0
_HASHES_PER_PH = 1e15
_HASHES_PER_DIFFICULTY = 2.0**32  # Bitcoin protocol: expected hashes per block at difficulty 1


def hashprice(difficulty, btc_price, subsidy=3.125, fees_per_block=0.0):
    """Hashprice: USD earned per PH/s of hashrate per day (elementwise).

    Parameters
    ----------
    difficulty : float or array_like
        Bitcoin network difficulty, > 0.
    btc_price : float or array_like
        BTC price in USD, >= 0.
    subsidy : float or array_like, default 3.125
        Block subsidy in BTC: 3.125 since the April 2024 halving (docs/sources.md, "Correlated
        stress"); 1.5625 after the next halving (expected 2028).
    fees_per_block : float or array_like, default 0.0
        Average transaction fees per block in BTC, >= 0.

    Returns
    -------
    float or ndarray
        USD per PH/s per day.

    Notes
    -----
    A block at difficulty D takes :math:`D \\cdot 2^{32}` hashes on average, so one PH/s
    finds :math:`86{,}400 \\cdot 10^{15} / (D \\cdot 2^{32})` blocks a day (docs/sources.md):

    .. math:: HP = \\frac{86{,}400 \\times 10^{15}}{D \\times 2^{32}}
              \\,(\\text{subsidy} + \\text{fees}) \\, P_{BTC}

    Examples
    --------
    >>> round(hashprice(1.0e14, 100_000.0), 2)
    62.86
    >>> hashprice([1.0e14, 1.2e14], 100_000.0, fees_per_block=0.05).round(2)
    array([63.87, 53.23])
    """
    d = check_range(difficulty, "difficulty", 0, low_open=True)
    p = check_range(btc_price, "btc_price", 0)
    s = check_range(subsidy, "subsidy", 0)
    f = check_range(fees_per_block, "fees_per_block", 0)
    _broadcast(difficulty=d, btc_price=p, subsidy=s, fees_per_block=f)
    blocks_per_ph_day = _SECONDS_PER_DAY * _HASHES_PER_PH / (d * _HASHES_PER_DIFFICULTY)
    return _out(blocks_per_ph_day * (s + f) * p)


def power_cost_per_ph_day(efficiency_j_per_th, price_per_kwh, overhead=1.0):
    """Electricity cost of mining, USD per PH/s of hashrate per day (elementwise).

    Parameters
    ----------
    efficiency_j_per_th : float or array_like
        Energy per terahash of the ASIC fleet, J/TH, > 0: the Antminer S21 draws 3,500 W
        for 200 TH/s, 17.5 J/TH (Bitmain specification).
    price_per_kwh : float or array_like
        Electricity price, USD per kWh, >= 0.
    overhead : float or array_like, default 1.0
        Site power over ASIC power (cooling, transformers), >= 1; 1 counts the ASICs'
        draw at the wall only.

    Returns
    -------
    float or ndarray
        USD per PH/s per day.

    Notes
    -----
    One PH/s is 1,000 TH/s, so at ``e`` J/TH it draws ``1,000 e`` W = ``e`` kW:

    .. math:: c = e \\times 24 \\times p \\times o

    Examples
    --------
    An S21 fleet at $0.05/kWh: 17.5 kW a PH/s, 420 kWh a day, $21.

    >>> round(power_cost_per_ph_day(17.5, 0.05), 2)
    21.0
    """
    e = check_range(efficiency_j_per_th, "efficiency_j_per_th", 0, low_open=True)
    p = check_range(price_per_kwh, "price_per_kwh", 0)
    o = check_range(overhead, "overhead", 1)
    _broadcast(efficiency_j_per_th=e, price_per_kwh=p, overhead=o)
    return _out(e * 24.0 * p * o)


def mining_revenue(hashrate_ph, hashprice, periods_per_year, uptime=1.0, *, pool_fee=0.0):
    """Mining revenue per period of a fleet of ``hashrate_ph`` PH/s.

    Parameters
    ----------
    hashrate_ph : float or array_like (F,) or (F, T)
        Installed hashrate in PH/s, >= 0: one per facility, or a table if it changes.
    hashprice : float or array_like (T,) or (F, T)
        USD per PH/s per day in each period (from :func:`hashprice`), >= 0.
    periods_per_year : int
        1, 2, 4 or 12.
    uptime : float or array_like (F,) or (F, T), default 1.0
        Share of the period the machines hash, in [0, 1] (curtailment, outages).
    pool_fee : float or array_like (F,) or (F, T), default 0.0
        Pool fee as a share of revenue, in [0, 1] (set to your pool's FPPS fee).

    Returns
    -------
    float or ndarray
        USD per period.

    Notes
    -----
    .. math:: \\text{revenue}_t = H \\cdot HP_t \\cdot u \\cdot (1 - \\phi) \\cdot 365 / m

    A period lasts :math:`365/m` days: the 8,760-hour year of ``gpucredit.periods``
    divided by 24 (calendar months are not used).

    Examples
    --------
    >>> round(mining_revenue(1_000.0, 50.0, 12), 2)    # 1 EH/s at $50/PH/day, a month
    1520833.33
    >>> mining_revenue([1_000.0, 500.0], [50.0, 40.0], 4, uptime=0.9).round(2)
    array([[4106250., 3285000.],
           [2053125., 1642500.]])
    """
    m = check_periods_per_year(periods_per_year)
    h = _param_or_table(hashrate_ph, "hashrate_ph", 0)
    hp = _series_or_scalar(hashprice, "hashprice", 0)
    u = _param_or_table(uptime, "uptime", 0, 1)
    fee = _param_or_table(pool_fee, "pool_fee", 0, 1)
    _broadcast(hashrate_ph=h, hashprice=hp, uptime=u, pool_fee=fee)
    days = HOURS_PER_YEAR / 24.0 / m
    return _out(h * hp * u * (1.0 - fee) * days)


def mining_cfads(hashrate_ph, hashprice, periods_per_year, uptime=1.0, *, pool_fee=0.0,
                 hashcost_per_ph_day=0.0):
    """Self-mining cash flow per period: revenue less the cash cost of hashing.

    Parameters
    ----------
    hashrate_ph, hashprice, periods_per_year, uptime, pool_fee
        As in :func:`mining_revenue`.
    hashcost_per_ph_day : float or array_like (F,) or (F, T), default 0.0
        Cash cost of mining (power above all), USD per PH/s per day while hashing, >= 0.
        Listed miners publish it as "hashcost" in their monthly updates; 0 by default, so
        set it from the borrower's reports.

    Returns
    -------
    float or ndarray
        USD per period (negative when hashprice is below hashcost).

    Notes
    -----
    .. math:: \\text{CFADS}^{mining}_t = \\text{revenue}_t - H \\cdot c \\cdot u \\cdot 365 / m

    Examples
    --------
    >>> round(mining_cfads(1_000.0, 50.0, 12, hashcost_per_ph_day=30.0), 2)
    608333.33
    """
    m = check_periods_per_year(periods_per_year)
    revenue = np.asarray(mining_revenue(hashrate_ph, hashprice, m, uptime, pool_fee=pool_fee))
    h = _param_or_table(hashrate_ph, "hashrate_ph", 0)
    u = _param_or_table(uptime, "uptime", 0, 1)
    c = _param_or_table(hashcost_per_ph_day, "hashcost_per_ph_day", 0)
    days = HOURS_PER_YEAR / 24.0 / m
    return _out(revenue - h * c * u * days)


def btc_holdings_value(btc_held, btc_price):
    """Mark-to-market value of a BTC treasury along a price path.

    Parameters
    ----------
    btc_held : float or array_like (F,) or (F, T)
        BTC held, >= 0: one per facility, or a table if holdings change.
    btc_price : float or array_like (T,) or (F, T)
        BTC price in USD per period (a path), >= 0.

    Returns
    -------
    float or ndarray
        USD value per period.

    Examples
    --------
    >>> btc_holdings_value([1_000.0, 500.0], [100_000.0, 50_000.0])
    array([[1.0e+08, 5.0e+07],
           [5.0e+07, 2.5e+07]])
    """
    b = _param_or_table(btc_held, "btc_held", 0)
    p = _series_or_scalar(btc_price, "btc_price", 0)
    _broadcast(btc_held=b, btc_price=p)
    return _out(b * p)


def haircut_btc_value(btc_held, btc_price, *, annual_vol=0.60, horizon_days=10.0,
                      confidence=0.99):
    """BTC treasury value after a value-at-risk haircut: what a forced sale can count on.

    Parameters
    ----------
    btc_held, btc_price
        As in :func:`btc_holdings_value`.
    annual_vol : float or array_like, default 0.60
        Annual BTC volatility, >= 0: docs/sources.md, "Correlated stress", puts it at 50-70%
        (realised 40-55% in calm years, spikes to 70-80%); 0.60 is the middle.
    horizon_days : float or array_like, default 10
        Days to sell, >= 0 (the Basel market-risk VaR horizon).
    confidence : float or array_like, default 0.99
        One-sided confidence, in (0.5, 1) (the Basel VaR level).

    Returns
    -------
    float or ndarray
        USD per period.

    Notes
    -----
    .. math:: V = B \\, P_t \\, (1 - H), \\qquad H = 1 - e^{-z\\sigma\\sqrt{h/365}}

    with :math:`H` from :func:`gpucredit.collateral.crypto_haircut` (20.6% at the
    defaults).

    Examples
    --------
    >>> round(haircut_btc_value(1_000.0, 100_000.0) / 1e6, 2)
    79.37
    """
    v = np.asarray(btc_holdings_value(btc_held, btc_price))
    h = np.asarray(crypto_haircut(annual_vol, horizon_days, confidence))
    _broadcast(value=v, haircut=h)
    return _out(v * (1.0 - h))


def btc_liquidation_price(loan_balance, btc_pledged, *, liquidation_ltv=0.86):
    """BTC price at which a BTC-backed loan reaches its liquidation LTV (elementwise).

    Parameters
    ----------
    loan_balance : float or array_like
        Loan balance with accrued interest, USD, >= 0.
    btc_pledged : float or array_like
        BTC pledged as collateral, >= 0.
    liquidation_ltv : float or array_like, default 0.86
        LTV at which the lender sells the BTC, in (0, 1] (Coinbase-style terms, see
        :class:`gpucredit.collateral.CryptoLenderTerms`).

    Returns
    -------
    float or ndarray
        USD per BTC; NaN where no BTC is pledged (no price triggers a liquidation),
        0 where nothing is owed.

    Notes
    -----
    .. math:: P_{liq} = L / (B \\cdot LTV_{liq})

    Examples
    --------
    >>> round(btc_liquidation_price(43e6, 1_000.0), 2)
    50000.0
    """
    lb = check_range(loan_balance, "loan_balance", 0)
    b = check_range(btc_pledged, "btc_pledged", 0)
    lt = check_range(liquidation_ltv, "liquidation_ltv", 0, 1, low_open=True)
    _broadcast(loan_balance=lb, btc_pledged=b, liquidation_ltv=lt)
    return _out(_safe_ratio(lb, b * lt))


@dataclass(frozen=True)
class CombinedCoverage:
    """Debt-service coverage of a miner that hosts GPUs, mines and holds BTC.

    All arrays ``(T,)`` or ``(F, T)``; NaN in periods with no debt service.

    Attributes
    ----------
    hosting_dscr : ndarray
        Hosting CFADS / debt service: the GPU deal on its own.
    dscr : ndarray
        (Hosting + mining CFADS) / debt service.
    treasury_available : ndarray
        Haircut treasury the miner could apply to the debt, USD.
    treasury_cover : ndarray
        ``treasury_available / total debt service``: the support the treasury gives per
        unit of debt service when it is sold pro rata to debt service.
    liquidity_adjusted_dscr : ndarray
        ``dscr + treasury_cover``.
    """

    hosting_dscr: np.ndarray
    dscr: np.ndarray
    treasury_available: np.ndarray
    treasury_cover: np.ndarray
    liquidity_adjusted_dscr: np.ndarray


def combined_coverage(hosting_cfads, mining_cfads, debt_service, treasury_value=0.0, *,
                      treasury_haircut=0.21, treasury_available_share=1.0) -> CombinedCoverage:
    """Coverage of GPU debt from hosting plus mining, with and without the BTC treasury.

    Parameters
    ----------
    hosting_cfads : float or array_like (T,) or (F, T)
        CFADS of the GPU hosting business per period, USD (may be negative).
    mining_cfads : float or array_like (T,) or (F, T)
        Mining CFADS per period (revenue less power and mining opex), USD (may be
        negative).
    debt_service : float or array_like (T,) or (F, T)
        Interest plus principal due per period, USD, >= 0.
    treasury_value : float or array_like (F,) or (F, T), default 0.0
        Mark-to-market value of the crypto treasury (one value per facility, or a path
        such as :func:`btc_holdings_value`), USD, >= 0.
    treasury_haircut : float or array_like (F,), default 0.21
        Haircut on the treasury, in [0, 1]: 0.21 rounds up
        ``crypto_haircut(0.60, 10, 0.99)`` = 20.6% (BTC volatility 60%, docs/sources.md "Correlated
        stress"; 10-day 99% VaR). Use 0 if ``treasury_value`` is already haircut.
    treasury_available_share : float or array_like (F,), default 1.0
        Share of the treasury free to support this debt, in [0, 1]: exclude BTC pledged
        to other lenders or earmarked for convertible notes. No calibration: the default
        assumes all of it is unencumbered.

    Returns
    -------
    CombinedCoverage
        Per-period hosting DSCR, combined DSCR, available treasury, treasury cover and
        liquidity-adjusted DSCR.

    Notes
    -----
    With hosting and mining CFADS :math:`C^h_t, C^m_t`, debt service :math:`DS_t`, total
    debt service over the periods given :math:`\\Sigma DS = \\sum_s DS_s`, and the haircut
    treasury :math:`L_t = V_t (1 - H) \\alpha` (its value at period t's price):

    .. math::

        DSCR_t = \\frac{C^h_t + C^m_t}{DS_t}, \\qquad
        DSCR^{liq}_t = \\frac{C^h_t + C^m_t + L_t \\, DS_t / \\Sigma DS}{DS_t}
                     = DSCR_t + \\frac{L_t}{\\Sigma DS}

    The treasury is a reserve that can be sold once, not a cash flow that recurs. The
    liquidity-adjusted ratio sells it pro rata to debt service: in period t the miner
    sells the share :math:`DS_t / \\Sigma DS` of its (available, haircut) holdings at
    that period's price, so over the tenor every coin is counted exactly once and a BTC
    crash in period t lowers that period's support. Counting the whole treasury in every
    period, the other common choice, would count it T times. The treasury term
    :math:`L_t / \\Sigma DS` is also the share of all the debt service the treasury could
    repay at period t's price. Pass only the remaining periods to measure from a later
    date. A period without debt service has no DSCR (NaN, never inf).

    Examples
    --------
    >>> cov = combined_coverage([8.0, 7.0], [4.0, 2.0], [10.0, 10.0], treasury_value=10.0,
    ...                         treasury_haircut=0.2)
    >>> cov.hosting_dscr, cov.dscr
    (array([0.8, 0.7]), array([1.2, 0.9]))
    >>> cov.treasury_cover, cov.liquidity_adjusted_dscr
    (array([0.4, 0.4]), array([1.6, 1.3]))
    """
    ch = _series_or_scalar(hosting_cfads, "hosting_cfads")
    cm = _series_or_scalar(mining_cfads, "mining_cfads")
    ds = _series_or_scalar(debt_service, "debt_service", 0)
    ch, cm, ds = (np.atleast_1d(x) for x in (ch, cm, ds))
    _check_periods(hosting_cfads=ch, mining_cfads=cm, debt_service=ds)
    tv = _param_or_table(treasury_value, "treasury_value", 0)
    hc = _param_or_table(treasury_haircut, "treasury_haircut", 0, 1)
    share = _param_or_table(treasury_available_share, "treasury_available_share", 0, 1)
    shape = _broadcast(hosting_cfads=ch, mining_cfads=cm, debt_service=ds,
                       treasury_value=tv, treasury_haircut=hc,
                       treasury_available_share=share)
    ds = np.broadcast_to(ds, shape)
    total = ds.sum(axis=-1, keepdims=True)
    available = np.broadcast_to(tv * (1.0 - hc) * share, shape)
    cover = np.where(ds > 0, _safe_ratio(available, total), np.nan)
    dscr = _safe_ratio(ch + cm, ds)
    return CombinedCoverage(
        hosting_dscr=_safe_ratio(ch, ds), dscr=dscr, treasury_available=available.copy(),
        treasury_cover=cover, liquidity_adjusted_dscr=dscr + cover)
