"""What a batch recalculation produces: the tables every output (workbook, CSV) is made from.

The engine (:mod:`gpucredit.engine`) fills a :class:`RecalcResult`; the results workbook
writer (:mod:`gpucredit.excel.results`) and the CSV writer only present it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from gpucredit.spool import SpooledTable

__all__ = ["RecalcResult"]


@dataclass
class RecalcResult:
    """A recalculated loan tape, as tables.

    Attributes
    ----------
    metrics : DataFrame
        One row per computed facility, index ``facility_id``. Identity columns first
        (``borrower``, ``borrower_type``, ``gpu_model``, ``gpu_count``, ``drawn_amount``
        ...), then the metrics of :func:`gpucredit.model.evaluate` (``min_dscr``,
        ``llcr``, ``max_ltv_liquidation``, ``first_breach_lockup`` ...), the covenant
        levels used (``dscr_lockup``, ``dscr_default``), the Monte Carlo summary
        (columns prefixed ``mc_``: ``mc_pd``, ``mc_lgd``, ``mc_expected_loss``,
        ``mc_p_dscr_below_1`` ...) when paths were run, and pricing (``fair_spread_bp``,
        ``quoted_spread_bp``, ``mispricing_bp``, ``rating_bucket``, ``merton_pd`` ...).
    periods : DataFrame
        Long format, one row per facility-period: ``facility_id``, ``period``, ``date``
        (period end), ``year`` and the columns of
        :meth:`gpucredit.model.Evaluation.periods_frame` (``cfads``, ``debt_service``,
        ``dscr``, ``ltv_market``, ``ltv_liquidation`` ...). Can exceed Excel's
        1,048,576 rows for big tapes.
    scenarios : DataFrame
        Long format, one row per facility and scenario: ``facility_id``, ``scenario``,
        ``min_dscr``, ``llcr``, ``max_ltv_market``, ``max_ltv_liquidation``,
        ``first_breach``, ``lgd`` ...
    scenario_summary : DataFrame
        One row per scenario: portfolio aggregates (debt-weighted min DSCR, facilities
        breaching, debt in breach, expected loss ...).
    summary_totals : DataFrame
        Portfolio totals: two columns ``item`` and ``value``.
    summary_by_type : DataFrame
        One row per borrower type.
    worst : DataFrame
        The worst facilities (lowest minimum DSCR, highest liquidation LTV), with the
        columns an analyst scans first.
    residual_curves : DataFrame
        Residual value (share of cost) by age in years (index ``age_years``) for each
        GPU model on the tape (one column per model), for the chart.
    errors : DataFrame
        Rejected rows and warnings: ``sheet``, ``row``, ``column``, ``facility_id``,
        ``value``, ``severity``, ``message``.
    assumptions : dict
        The market assumptions used (valuation date, base rate, BTC price ...).
    run_info : dict
        Input file, its SHA-256, run time, paths, seed, engine, gpucredit version.
    portfolio_summary : DataFrame
        The book's loss distribution (:func:`gpucredit.portfolio.summary`): one row per
        measure (``expected_loss``, ``var_95``, ``es_95``, ``var_99``, ``es_99``,
        ``var_999``, ``es_999``, ``sum_standalone_es_99`` ..., ``n_paths``), columns
        ``measure``, ``value`` (USD of discounted loss), ``se``, ``level``. Empty without
        a Monte Carlo.
    portfolio_contributions : DataFrame
        One row per facility: its groups (``borrower``, ``customer``, ``generation``,
        ``borrower_type``), ``expected_loss``, ``es_contribution`` to the book's ES at
        99% (they sum to it), ``es_share``, ``standalone_es``. Empty when the tape is too
        big to keep per-facility losses (see ``RecalcOptions.facility_contributions``).
    portfolio_concentration : DataFrame
        One row per ``dimension`` and ``group``: ``facilities``, ``debt``,
        ``expected_loss``, ``es_contribution``, ``es_share``, ``standalone_es``.
    portfolio_distribution : DataFrame
        The book's loss as a histogram for a chart: ``loss_from``, ``loss_to``,
        ``paths``, ``probability``, ``exceedance``.

    Notes
    -----
    A run spooled to disk (:func:`gpucredit.engine.recalc` with ``spool=``) holds
    ``metrics`` and ``scenarios`` as :class:`gpucredit.spool.SpooledTable`: the same
    tables, read back in pieces (``pieces()``) or by columns (``read(columns)``).
    """

    metrics: pd.DataFrame | SpooledTable
    periods: pd.DataFrame
    scenarios: pd.DataFrame | SpooledTable
    scenario_summary: pd.DataFrame
    summary_totals: pd.DataFrame
    summary_by_type: pd.DataFrame
    worst: pd.DataFrame
    residual_curves: pd.DataFrame
    errors: pd.DataFrame
    assumptions: dict = field(default_factory=dict)
    run_info: dict = field(default_factory=dict)
    portfolio_summary: pd.DataFrame = field(default_factory=pd.DataFrame)
    portfolio_contributions: pd.DataFrame = field(default_factory=pd.DataFrame)
    portfolio_concentration: pd.DataFrame = field(default_factory=pd.DataFrame)
    portfolio_distribution: pd.DataFrame = field(default_factory=pd.DataFrame)
