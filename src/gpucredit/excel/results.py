"""The results workbook of a batch recalculation: what a risk team opens every morning.

:func:`write_results` presents a :class:`gpucredit.engine_result.RecalcResult` as an Excel
workbook. It computes no finance: every number comes from the engine, and the only
formulas it writes are sums and counts on the Summary sheet, native Excel formulas over
the Metrics sheet placed beside the engine's own figure, so that an analyst (and
LibreOffice in the tests) sees the workbook's totals agree with the core's.

Sheets
------
Summary
    Run information; portfolio totals (a live ``SUM``/``COUNTIF`` formula over Metrics,
    gpucredit's figure and their difference); totals by borrower type (``COUNTIF``/
    ``SUMIF``); the worst facilities.
Metrics
    One row per facility: identity, coverage, collateral, Monte Carlo (``mc_`` columns)
    and pricing. Covenant breaches are highlighted by conditional-formatting rules that
    compare each cell with the facility's own covenant cells (amber: minimum DSCR below
    the lock-up level; red: below the default level; red: LTV above 100% ...).
Periods (Periods 2, ...)
    Every facility-period in long format. More than ``max_period_rows`` rows (default
    200,000, about 1,700 facilities of ten monthly years) make a workbook too heavy to
    open: the sheet then holds the periods of the worst facilities and every period goes
    to ``<name>_periods.csv`` beside the workbook, written in the same all-or-nothing step.
    Rows beyond one sheet's limit (Excel's 1,048,576 rows) continue on "Periods 2" ...
Scenarios, Scenario summary
    The deterministic stress grid, per facility (long) and per scenario.
Charts, Chart data
    Native Excel charts: DSCR paths of the facilities with the lowest minimum DSCR,
    liquidation-LTV paths of those with the highest, residual-value curves by GPU model;
    the data they plot, laid out periods down, facilities across.
Errors
    Rejected rows and warnings ("No errors" when there are none).
Assumptions
    The market assumptions the run used.

Speed
-----
openpyxl writes about 100,000 cells a second here (PLATFORM.md; measured 1.25 million
cells in 10-20 s even in ``write_only`` mode), too slow for a 10,000-facility tape. So
openpyxl writes the workbook's frame (styles, headers, formulas, conditional formats,
charts) in ``write_only`` mode, and the data rows of the big tables are then streamed
into the saved package as plain sheet XML (numbers, inline strings, dates as serial
numbers), several times faster (:mod:`gpucredit.excel.sheet_stream`). The chunks of XML
are deflated in a thread while the next is built (zlib lets the interpreter go
meanwhile); with ``mapper`` (the processes engine's workers) the rows are rendered in
other processes, a spooled table's pieces read there.

Safety
------
The workbook and any CSV beside it are written under temporary names in the target folder
and moved into place together only when all are complete (:func:`staged_files`): a failure
leaves neither a partial file nor a temporary one. Text from the tape is always written as
text: a borrower called ``=HYPERLINK(...)`` stays a string, never a formula.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.chart import BarChart, Reference, ScatterChart, Series
from openpyxl.comments import Comment
from openpyxl.formatting.rule import ColorScaleRule, FormulaRule
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.pagebreak import Break
from openpyxl.worksheet.properties import PageSetupProperties

from gpucredit import __version__
from gpucredit.engine_result import RecalcResult
from gpucredit.errors import GpuCreditError
from gpucredit.excel import styles as st
from gpucredit.excel.files import staged_files
from gpucredit.excel.sheet_stream import (
    Block,
    Rendered,
    clean_text,
    escape_xml,
    lines_height,
    rendering,
    rewrite_package,
    sheet_part_names,
    splice,
    table_columns,
    table_head,
    table_parts,
    text_lines,
    with_id,
)
from gpucredit.spool import SpooledTable
from gpucredit.tape import schema

__all__ = [
    "DEFAULT_MAX_PERIOD_ROWS",
    "EXCEL_MAX_ROWS",
    "clean_text",
    "column_format",
    "column_label",
    "escape_xml",
    "periods_csv_path",
    "periods_parquet_path",
    "rewrite_package",
    "staged_files",
    "write_results",
]

EXCEL_MAX_ROWS = 1_048_576
"""Rows of one Excel worksheet."""
DEFAULT_MAX_PERIOD_ROWS = 200_000
"""Facility-periods the workbook holds before they go to a CSV beside it (see module doc)."""
HEADER_ROWS = 3
"""Rows above a table's data: title, note, column headers."""
CHART_FACILITIES = 5
"""Facilities drawn in each path chart."""
_PAGE_CHARS = 250


# Excel's own "Bad" (red) and "Neutral" (amber) cell styles, for breaches.
_RED = {"fill": PatternFill("solid", fgColor="FFC7CE", bgColor="FFC7CE"),
        "font": Font(color="9C0006")}
_AMBER = {"fill": PatternFill("solid", fgColor="FFEB9C", bgColor="FFEB9C"),
          "font": Font(color="9C5700")}


# =============================================================================== text

def _cell(ws, value=None, style: str | None = None, fmt: str | None = None) -> WriteOnlyCell:
    """A write-only cell; text (however it starts) stays text, never a formula."""
    if isinstance(value, float) and not math.isfinite(value):
        value = None
    elif isinstance(value, np.floating):
        value = float(value) if np.isfinite(value) else None
    elif isinstance(value, np.integer):
        value = int(value)
    elif isinstance(value, np.bool_):
        value = bool(value)
    elif isinstance(value, (dt.datetime, pd.Timestamp)):
        if pd.isna(value):
            value = None
        elif value.tzinfo is not None:
            value = value.isoformat()
        else:
            value = pd.Timestamp(value).to_pydatetime()
            if value.time() == dt.time():
                value = value.date()
    elif value is not None and not isinstance(value, (str, int, float, bool, dt.date)):
        value = str(value)
    is_text = isinstance(value, str)
    cell = WriteOnlyCell(ws, clean_text(value) if is_text else value)
    if is_text:
        cell.data_type = "s"
    if style is not None:
        cell.style = style
    if fmt is not None and not is_text:
        cell.number_format = fmt
    if isinstance(value, dt.date) and fmt is None:
        timed = isinstance(value, dt.datetime) and value.time() != dt.time()
        cell.number_format = "yyyy-mm-dd hh:mm:ss" if timed else st.DATE
    return cell


def _formula(ws, text: str, fmt: str | None = None, style: str | None = st.CALC):
    cell = WriteOnlyCell(ws, text)
    if style is not None:
        cell.style = style
    if fmt is not None:
        cell.number_format = fmt
    return cell


# =============================================================================== columns

_ACRONYMS = {"dscr": "DSCR", "llcr": "LLCR", "plcr": "PLCR", "ltv": "LTV", "lgd": "LGD",
             "pd": "PD", "wal": "WAL", "usd": "USD", "mc": "MC", "id": "ID", "gpu": "GPU",
             "gpus": "GPUs", "btc": "BTC", "bp": "bp", "pue": "PUE", "cfads": "CFADS",
             "el": "EL", "cvar": "CVaR", "var": "VaR", "pct": "%", "kw": "kW", "ph": "PH/s",
             "sofr": "SOFR", "irr": "IRR", "npv": "NPV", "p": "P"}

_LABELS = {
    "facility_id": "Facility ID",
    "undrawn": "Undrawn commitment (today)", "expected_draws": "Expected draws",
    "gpus_bought": "GPUs bought by the draws",
    "min_dscr": "Min DSCR", "avg_dscr": "Average DSCR", "llcr": "LLCR (now)",
    "plcr": "PLCR (now)", "min_llcr": "Min LLCR",
    "first_breach_lockup": "First lock-up breach (period)",
    "first_breach_default": "First default breach (period)",
    "first_collateral_shortfall": "First collateral shortfall (period)",
    "min_headroom_pct": "Min headroom to lock-up (%)",
    "min_headroom_usd": "Min headroom to lock-up (USD)",
    "breakeven_rent": "Breakeven rent (1.00x)", "breakeven_rent_lockup": "Breakeven rent (lock-up)",
    "breakeven_utilization": "Breakeven utilization", "breakeven_deflation": "Breakeven deflation",
    "ltv_market": "LTV now (market)", "ltv_liquidation": "LTV now (liquidation)",
    "max_ltv_market": "Max LTV (market)", "max_ltv_liquidation": "Max LTV (liquidation)",
    "lgd_now": "LGD now", "lgd_at_breach": "LGD at first breach",
    "min_dscr_combined": "Min DSCR with mining", "wal_to_life": "WAL / economic life",
    "mc_pd": "MC PD", "mc_lgd": "MC LGD", "mc_expected_loss": "MC expected loss",
    "mc_p_dscr_below_1": "MC P(DSCR < 1)", "mc_p_ltv_above_1": "MC P(LTV > 100%)",
    "year": "Years from valuation", "date": "Period end",
    "pd_tenor": "PD over the tenor", "pd_annual": "PD a year (model)",
    "pd_annual_se": "PD a year, std error", "pd_annual_bound": "PD a year, 95% bound",
    "rating": "Rating (notch)", "rating_bucket": "Rating", "rating_reason": "Why this rating",
    "fair_spread_bp": "Fair spread", "fair_spread_se_bp": "Fair spread, std error",
    "quoted_spread_bp": "Quoted spread", "mispricing_bp": "Quoted - fair",
    "spread_implied_pd": "PD a year implied by the quoted spread",
    "merton_pd": "PD a year (Merton, from equity)",
    "gpucredit_version": "gpucredit version", "sha256": "SHA-256", "input_sha256": "Input SHA-256",
}

_PCT2_TOKENS = {"pd", "rate", "spread", "prob", "probability"}
_PCT1_TOKENS = {"ltv", "lgd", "haircut", "pct", "share", "utilization", "deflation",
                "residual", "headroom"}
_USD_TOKENS = {"usd", "value", "amount", "debt", "cfads", "revenue", "opex", "capex", "tax",
               "interest", "principal", "balance", "draw", "draws", "undrawn", "loss",
               "capacity", "service", "commitment", "cost", "el", "var", "cvar", "exposure",
               "treasury", "cash"}
_COUNT_TOKENS = {"gpus", "count", "facilities", "period", "periods", "tenor", "paths", "seed",
                 "rows", "breaching"}
_BREACH_FORMAT = '0;-0;"–"'
"""A breach period: 0 (never) shows as a dash."""


def column_label(key: str) -> str:
    """Header label of a results column: the tape schema's label, a known label, or the
    name in words.

    >>> column_label("gpu_model"), column_label("max_ltv_liquidation"), column_label("mc_cvar_99")
    ('GPU model', 'Max LTV (liquidation)', 'MC CVaR 99')
    """
    key = str(key)
    if key in _LABELS:
        return _LABELS[key]
    with contextlib.suppress(KeyError):
        return schema.column(key).label
    words = [_ACRONYMS.get(w, w) for w in key.split("_") if w]
    if not words:
        return key
    words[0] = words[0][:1].upper() + words[0][1:]
    return " ".join(words)


def column_format(key: str, dtype=None) -> str:
    """Excel number format of a results column, from the tape schema or the column's name.

    >>> column_format("min_dscr"), column_format("max_ltv_liquidation"), column_format("debt")
    ('0.00"x"', '0.0%', '"$"#,##0;[Red]-"$"#,##0')
    >>> column_format("fair_spread_bp"), column_format("first_breach_lockup")
    ('#,##0" bp"', '0;-0;"–"')
    >>> column_format("min_headroom_usd"), column_format("Portfolio LTV, market")
    ('"$"#,##0;[Red]-"$"#,##0', '0.0%')
    >>> column_format("mc_p_dscr_below_1"), column_format("rating_reason")
    ('0.00%', 'General')
    """
    key = str(key)
    with contextlib.suppress(KeyError):
        col = schema.column(key)
        fmt = col.number_format
        if col.unit in ("USD", "USD/GPU", "USD/GPU-year"):
            return st.USD
        return "General" if fmt == "@" else fmt
    tokens = set(re.split(r"[^0-9a-z]+", key.lower())) - {""}
    if "date" in tokens:
        return st.DATE
    if "bp" in tokens:
        return '#,##0" bp"'
    if "years" in tokens or key in ("year", "wal_to_life"):
        return "0.00"
    if key.startswith(("p_", "mc_p_")):  # P(DSCR < 1) is a probability, not a DSCR
        return st.PCT
    if tokens & {"rating", "reason", "seniority", "bucket", "status", "bound"} and not (
            tokens & {"pd"}):
        return "General"
    if tokens & {"dscr", "llcr", "plcr"}:
        return st.MULTIPLE
    if key.startswith(("first_breach", "first_collateral")):
        return _BREACH_FORMAT
    if "usd" in tokens:
        return st.USD
    if key.startswith(("p_", "mc_p_")) or tokens & _PCT2_TOKENS:
        return st.PCT
    if tokens & _PCT1_TOKENS:
        return st.PCT1
    if "rent" in tokens:
        return st.USD_CENTS
    if tokens & _USD_TOKENS:
        return st.USD
    if tokens & _COUNT_TOKENS:
        return st.INTEGER
    if dtype is not None and pd.api.types.is_integer_dtype(dtype):
        return st.INTEGER
    if dtype is not None and pd.api.types.is_float_dtype(dtype):
        return st.NUMBER
    return "General"


# =============================================================================== sheets

@dataclass
class _Book:
    """The workbook being framed, and the data blocks to stream in after saving."""

    wb: Workbook
    blocks: list[Block] = field(default_factory=list)
    _style_ids: dict = field(default_factory=dict)
    rendered: Rendered | None = None  # the workers that render the blocks, if any

    def add_block(self, block: Block) -> None:
        self.blocks.append(block)
        if self.rendered is not None:
            self.rendered.start(block)

    def style_id(self, ws, fmt: str, wrap: bool = False) -> int:
        key = (fmt, wrap)
        if key not in self._style_ids:
            cell = WriteOnlyCell(ws)
            cell.number_format = fmt
            if wrap:  # bottom-aligned as the row's other cells: its last line beside them
                cell.alignment = Alignment(wrap_text=True)
            self._style_ids[key] = cell.style_id
        return self._style_ids[key]


def _sheet(book: _Book, title: str, *, landscape: bool = True, widths: dict | None = None,
           freeze: str | None = None, tab: str | None = None):
    ws = book.wb.create_sheet(title)
    if widths:
        st.set_widths(ws, widths)
    if freeze:
        ws.freeze_panes = freeze
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.5
    if tab:
        ws.sheet_properties.tabColor = tab
    return ws


@dataclass
class _Layout:
    """Where a table's columns and rows sit, for formulas and rules that refer to them."""

    sheet: str
    letters: dict[str, str]
    first_row: int
    last_row: int

    def range(self, key: str, absolute: bool = True) -> str:
        c = self.letters[key]
        if absolute:
            return f"{quote_sheetname(self.sheet)}!${c}${self.first_row}:${c}${self.last_row}"
        return f"{c}{self.first_row}:{c}{self.last_row}"


def _display_width(series: pd.Series, fmt: str) -> float:
    """Characters a column needs to show its widest value in ``fmt`` (never ``###``)."""
    if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
        sample = series.iloc[:2000].dropna().astype(str)
        return float(sample.str.len().max()) if len(sample) else 0.0
    if not pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(
            series.dtype):
        return 10.0
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    if not values.size:
        return 0.0
    big = float(np.abs(values).max())
    text = {st.USD: f"-${big:,.0f}", st.USD_CENTS: f"-${big:,.2f}", st.PCT: f"-{big:.2%}",
            st.PCT1: f"-{big:.1%}", st.MULTIPLE: f"-{big:.2f}x", st.INTEGER: f"-{big:,.0f}",
            st.NUMBER: f"-{big:,.2f}", "0.00": f"-{big:.2f}"}.get(fmt, f"{big:.6g}")
    return float(len(text))


def _width_sample(table: pd.DataFrame | SpooledTable) -> pd.DataFrame:
    """The rows :func:`_display_width` reads: a frame itself; of a spooled table, its
    first 2,000 rows and one more holding each number column's largest magnitude."""
    if not isinstance(table, SpooledTable) or table.empty:
        return table_head(table)
    head, big, taken = [], {}, 0
    for piece in table_parts(table):
        if taken < 2000:
            head.append(piece.iloc[:2000 - taken])
            taken += len(head[-1])
        for c, series in piece.items():
            if pd.api.types.is_numeric_dtype(series.dtype) and \
                    not pd.api.types.is_bool_dtype(series.dtype):
                mag = np.abs(series.to_numpy(dtype=float, na_value=np.nan))
                mag = np.where(np.isfinite(mag), mag, -1.0)
                j = int(mag.argmax())
                if mag[j] >= 0 and mag[j] > big.get(c, (-1.0, None))[0]:
                    big[c] = (mag[j], series.iloc[j])
    sample = pd.concat(head)
    return pd.concat([sample, sample.iloc[:1].assign(**{c: v for c, (_, v) in big.items()})]) \
        if big else sample


def _widths(frame: pd.DataFrame, labels: Sequence[str], formats: Sequence[str]) -> dict:
    """Column widths: the widest value (capped at 48) or the header's longest word."""
    out = {}
    for j, (label, fmt) in enumerate(zip(labels, formats, strict=True)):
        need = _display_width(frame.iloc[:, j], fmt) + 2 if len(frame) else 0.0
        longest_word = max((len(w) for w in str(label).split()), default=8)
        out[j + 1] = round(min(max(need, longest_word + 2, 9.0), 48.0), 1)
    return out


def _header_height(labels: Sequence[str], widths: dict) -> float:
    """Row height (points) for wrapped header labels: 15 points a line, at most 4 lines."""
    lines = max([1] + [text_lines(str(label), widths.get(j, 10.0) - 1.0)
                       for j, label in enumerate(labels, start=1)])
    return lines_height(min(lines, 4))


def _table_sheet(book: _Book, title: str, frame: pd.DataFrame, *, heading: str, note: str,
                 freeze_cols: int = 1, tab: str | None = None, wrap: Sequence[str] = (),
                 widths: dict | None = None) -> tuple[object, _Layout]:
    """A sheet with a title, a note, a header row (with each column's name as a comment)
    and the frame's rows streamed in after saving."""
    keys = table_columns(frame)
    labels = [column_label(k) for k in keys]
    head = table_head(frame)
    formats = [column_format(k, head.iloc[:, j].dtype) for j, k in enumerate(keys)]
    auto = _widths(_width_sample(frame), labels, formats)
    auto.update(widths or {})
    freeze = f"{get_column_letter(freeze_cols + 1)}{HEADER_ROWS + 1}"
    ws = _sheet(book, title, widths=auto, freeze=freeze, tab=tab)
    ws.row_dimensions[HEADER_ROWS].height = _header_height(labels, auto)
    ws.append([_cell(ws, heading, st.TITLE)])
    ws.append([_cell(ws, note, st.NOTE)])
    header = []
    for key, label in zip(keys, labels, strict=True):
        cell = _cell(ws, label, st.HEADER)
        comment = Comment(f"Column: {key}", "gpucredit")
        comment.width, comment.height = 180, 40
        cell.comment = comment
        header.append(cell)
    ws.append(header)
    n = len(frame)
    last = HEADER_ROWS + max(n, 1)
    letters = {k: get_column_letter(j + 1) for j, k in enumerate(keys)}
    if keys:
        ws.auto_filter.ref = f"A{HEADER_ROWS}:{get_column_letter(len(keys))}{last}"
        ws.print_title_rows = f"{HEADER_ROWS}:{HEADER_ROWS}"
        # Wide tables print over several pages across (about 250 characters a landscape
        # page stays legible), the identifying columns repeated on each.
        ws.page_setup.fitToWidth = max(1, math.ceil(sum(auto.values()) / _PAGE_CHARS))
        if ws.page_setup.fitToWidth > 1:
            ws.print_title_cols = f"A:{get_column_letter(freeze_cols)}"
    styles = [book.style_id(ws, fmt, wrap=k in wrap) for k, fmt in zip(keys, formats, strict=True)]
    if n:
        book.add_block(Block(title, frame if isinstance(frame, SpooledTable)
                              else frame.reset_index(drop=True), styles, HEADER_ROWS + 1,
                              wrap={j: auto[j + 1] for j, k in enumerate(keys) if k in wrap}))
    return ws, _Layout(title, letters, HEADER_ROWS + 1, last)


# ----------------------------------------------------------------------------- rules

def _flag(ws, layout: _Layout, key: str, condition: str, colour: dict, *,
          stop: bool = False) -> None:
    """Highlight ``key``'s cells where ``condition`` holds; ``{x}`` stands for the cell and
    ``{other}`` columns for the same row's cell of another column."""
    if key not in layout.letters:
        return
    row = layout.first_row
    refs = {k: f"${c}{row}" for k, c in layout.letters.items()}
    formula = condition.format(x=refs[key], **refs)
    ws.conditional_formatting.add(layout.range(key, absolute=False),
                                  FormulaRule(formula=[formula], stopIfTrue=stop, **colour))


def _covenant_rules(ws, layout: _Layout) -> None:
    """Covenant breaches and collateral shortfalls, as live conditional-formatting rules."""
    have = layout.letters
    for key in ("min_dscr", "min_dscr_combined", "dscr"):
        if "dscr_default" in have:
            _flag(ws, layout, key, "AND(ISNUMBER({x}),{x}<{dscr_default})", _RED, stop=True)
        else:
            _flag(ws, layout, key, "AND(ISNUMBER({x}),{x}<1)", _RED, stop=True)
        if "dscr_lockup" in have:
            _flag(ws, layout, key, "AND(ISNUMBER({x}),{x}<{dscr_lockup})", _AMBER)
    for key in ("llcr", "min_llcr"):
        if "llcr_lockup" in have:
            _flag(ws, layout, key, "AND(ISNUMBER({x}),{x}<{llcr_lockup})", _AMBER)
        _flag(ws, layout, key, "AND(ISNUMBER({x}),{x}<1)", _RED, stop=True)
    for key in ("ltv_market", "ltv_liquidation", "max_ltv_market", "max_ltv_liquidation"):
        _flag(ws, layout, key, "AND(ISNUMBER({x}),{x}>1)", _RED)
    for key in ("first_breach_default", "first_collateral_shortfall", "first_breach"):
        _flag(ws, layout, key, "AND(ISNUMBER({x}),{x}>0)", _RED)
    _flag(ws, layout, "first_breach_lockup", "AND(ISNUMBER({x}),{x}>0)", _AMBER)
    _flag(ws, layout, "mispricing_bp", "AND(ISNUMBER({x}),{x}<0)", _AMBER)
    for key in ("mc_pd", "mc_p_dscr_below_1", "mc_p_ltv_above_1"):
        if key in have:
            ws.conditional_formatting.add(
                layout.range(key, absolute=False),
                ColorScaleRule(start_type="num", start_value=0, start_color="FFFFFF",
                               end_type="num", end_value=1, end_color="F8696B"))


# ----------------------------------------------------------------------------- summary

_TOTALS = (
    # key, label, how, Metrics column, criterion, other names of the engine's item
    ("facilities", "Facilities computed", "count", "facility_id", None, ()),
    ("gpu_count", "GPUs financed", "sum", "gpu_count", None, ()),
    ("commitment", "Commitment", "sum", "commitment", None, ("Commitments (USD)",)),
    ("drawn_amount", "Drawn amount", "sum", "drawn_amount", None, ()),
    ("debt", "Debt modelled", "sum", "debt", None, ("Debt outstanding (USD)",)),
    ("market_value", "Collateral at market value", "sum", "market_value", None,
     ("Collateral market value (USD)",)),
    ("liquidation_value", "Collateral at liquidation value", "sum", "liquidation_value",
     None, ("Collateral liquidation value (USD)",)),
    ("debt_capacity", "Sculpted debt capacity", "sum", "debt_capacity", None, ()),
    ("min_headroom_usd", "Headroom to lock-up, sum of minima", "sum", "min_headroom_usd",
     None, ()),
    ("mc_pv_expected_loss", "Expected loss, present value (Monte Carlo)", "sum",
     "mc_pv_expected_loss", None, ("Expected loss, Monte Carlo, present value (USD)",)),
    ("mc_expected_loss", "Expected loss, undiscounted (Monte Carlo)", "sum",
     "mc_expected_loss", None, ("Expected loss, Monte Carlo, undiscounted (USD)",)),
    ("facilities_breaching_lockup", "Facilities breaching lock-up", "countif",
     "first_breach_lockup", ">0", ()),
    ("facilities_breaching_default", "Facilities breaching default", "countif",
     "first_breach_default", ">0", ("Facilities breaching the default covenant", "breaching")),
    ("facilities_ltv_above_100", "Facilities with liquidation LTV above 100%", "countif",
     "max_ltv_liquidation", ">1", ()),
)
"""Portfolio totals the Summary recomputes with native formulas over the Metrics sheet.
The engine's ``summary_totals`` item of the same key, label or other name (case, spaces and
punctuation ignored) is shown beside the formula as gpucredit's figure."""

_BY_TYPE_KEYS = ("facilities", "drawn_amount", "debt", "market_value", "liquidation_value",
                 "facilities_breaching_lockup", "facilities_breaching_default",
                 "mc_expected_loss")
"""The totals the Summary also breaks down by borrower type (SUMIF/COUNTIF formulas)."""
_BY_TYPE_LABELS = {"facilities": "Facilities", "debt": "Debt modelled",
                   "market_value": "Market value", "liquidation_value": "Liquidation value",
                   "facilities_breaching_lockup": "Breaching lock-up",
                   "facilities_breaching_default": "Breaching default",
                   "mc_expected_loss": "Expected loss (MC, undiscounted)"}


def _norm(text) -> str:
    return re.sub(r"[^0-9a-z]+", "", str(text).lower())


def _names(spec) -> set[str]:
    key, label, _, col, _, aliases = spec
    return {_norm(n) for n in (key, label, col, *aliases)}


def _pandas_total(metrics: pd.DataFrame, how: str, col: str, criterion: str | None) -> float:
    """The figure a total's formula should give, from the Metrics table (presentation)."""
    series = metrics[col]
    if how == "count":
        return float(series.notna().sum())
    values = pd.to_numeric(series, errors="coerce")
    if how == "sum":
        with np.errstate(over="ignore", invalid="ignore"):
            return float(values.sum(skipna=True))
    limit = float(criterion[1:])
    return float((values > limit).sum())


def _total_formula(layout: _Layout, how: str, col: str, criterion: str | None,
                   type_cell: str | None = None) -> str:
    rng = layout.range(col)
    if type_cell is None:
        if how == "count":
            return f"=COUNTA({rng})"
        if how == "sum":
            return f"=SUM({rng})"
        return f'=COUNTIF({rng},"{criterion}")'
    types = layout.range("borrower_type")
    if how == "count":
        return f"=COUNTIF({types},{type_cell})"
    if how == "sum":
        return f"=SUMIF({types},{type_cell},{rng})"
    return f'=COUNTIFS({types},{type_cell},{rng},"{criterion}")'


def _engine_items(frame: pd.DataFrame) -> dict[str, object]:
    if frame is None or frame.empty or not {"item", "value"} <= set(frame.columns):
        return {}
    return dict(zip(frame["item"].astype(str), frame["value"], strict=True))


def _by_type_frame(frame: pd.DataFrame) -> pd.DataFrame:
    if frame is None or frame.empty:
        return pd.DataFrame()
    if "borrower_type" not in frame.columns:
        frame = frame.reset_index()
        if "borrower_type" not in frame.columns:
            frame = frame.rename(columns={frame.columns[0]: "borrower_type"})
    return frame


_SUMMARY_WIDTHS = {1: 42, 2: 20, 3: 20, 4: 16, 5: 18, 6: 24, 7: 16, 8: 16, 9: 16, 10: 16,
                   11: 16, 12: 16, 13: 64}
"""Summary column widths; the 13th holds the worst facilities' reasons, wrapped."""


def _summary_rows(ws, result: RecalcResult, metrics: pd.DataFrame, mlay: _Layout,
                  notes: list[str]) -> tuple[list[list], list[_Layout], dict[int, float]]:
    """The Summary sheet as rows of cells, the tables to format, and tall header rows."""
    rows: list[list] = []
    formats: list[_Layout] = []
    heights: dict[int, float] = {}

    def add(*cells):
        rows.append(list(cells))

    def header(*labels):
        heights[len(rows) + 1] = _header_height(labels, _SUMMARY_WIDTHS)
        add(*(_cell(ws, h, st.HEADER) for h in labels))

    def heading(text):
        add()
        add(_cell(ws, text, st.TITLE))

    add(_cell(ws, "Loan-tape recalculation", st.TITLE))
    add(_cell(ws, "Column B of the totals is a live Excel formula over the Metrics sheet; "
                  "column C is gpucredit's own figure; D is their difference (0: they agree).",
              st.NOTE))

    heading("Run")
    info = {"gpucredit_version": __version__, **(result.run_info or {})}
    for key, value in info.items():
        cell = _cell(ws, value, fmt=_info_format(key, value))
        cell.alignment = Alignment(horizontal="left")
        add(_cell(ws, column_label(key)), cell)

    heading("Portfolio totals")
    header("Item", "Workbook formula", "gpucredit", "Difference", "gpucredit figure from")
    engine = _engine_items(result.summary_totals)
    used = set()
    for spec in _TOTALS:
        _, label, how, col, crit, _ = spec
        if col not in mlay.letters:
            continue
        r = len(rows) + 1
        fmt = st.INTEGER if how != "sum" else column_format(col)
        match = next((k for k in engine if _norm(k) in _names(spec) and k not in used), None)
        if match is not None:
            core, origin = engine[match], "engine summary"
            used.add(match)
        else:
            core, origin = _pandas_total(metrics, how, col, crit), "Metrics table"
        add(_cell(ws, label), _formula(ws, _total_formula(mlay, how, col, crit), fmt),
            _cell(ws, core, st.CALC, fmt), _formula(ws, f"=B{r}-C{r}", fmt, st.CHECK),
            _cell(ws, origin, st.NOTE))
    others = [(k, v) for k, v in engine.items() if k not in used]
    if others:
        heading("Other portfolio figures (gpucredit)")
        for key, value in others:
            add(_cell(ws, column_label(key)), None,
                _cell(ws, value, st.CALC, column_format(key)))

    types = metrics["borrower_type"].dropna().astype(str).unique().tolist() \
        if "borrower_type" in metrics else []
    if types:
        heading("By borrower type")
        spec = sorted((t for t in _TOTALS if t[0] in _BY_TYPE_KEYS and t[3] in mlay.letters),
                      key=lambda t: _BY_TYPE_KEYS.index(t[0]))
        extra = _by_type_frame(result.summary_by_type)
        shown = set().union(*(_names(t) for t in spec)) | {"borrowertype"}
        extra_cols = [c for c in extra.columns if _norm(c) not in shown]
        header("Borrower type", *(_BY_TYPE_LABELS.get(t[0], t[1]) for t in spec),
               *(column_label(c) for c in extra_cols))
        lookup = extra.set_index(extra["borrower_type"].astype(str)) if len(extra) else extra
        for t in sorted(types):
            r = len(rows) + 1
            cells = [_cell(ws, t)]
            for _, _, how, col, crit, _ in spec:
                fmt = st.INTEGER if how != "sum" else column_format(col)
                cells.append(_formula(ws, _total_formula(mlay, how, col, crit, f"$A{r}"), fmt))
            for c in extra_cols:
                value = lookup.at[t, c] if t in lookup.index else None
                cells.append(_cell(ws, value, st.CALC, column_format(c, extra[c].dtype)))
            add(*cells)

    if "rating" in mlay.letters:
        from gpucredit.ratings import NOTCHES

        present = set(metrics["rating"].dropna().astype(str))
        heading("Ratings")
        header("Rating", "Facilities", "Debt modelled", "Expected loss (MC, undiscounted)")
        for notch in (n for n in NOTCHES if n in present):
            r = len(rows) + 1
            ratings = mlay.range("rating")
            cells = [_cell(ws, notch), _formula(ws, f"=COUNTIF({ratings},$A{r})", st.INTEGER)]
            for col in ("debt", "mc_expected_loss"):
                cells.append(_formula(ws, f"=SUMIF({ratings},$A{r},{mlay.range(col)})", st.USD)
                             if col in mlay.letters else None)
            add(*cells)

    worst = result.worst
    if worst is not None and len(worst):
        worst = with_id(worst)
        heading("Worst facilities")
        first = len(rows) + 2
        header(*(column_label(c) for c in worst.columns))
        for values in worst.itertuples(index=False):
            cells = [_cell(ws, v, None, column_format(c, worst[c].dtype))
                     for c, v in zip(worst.columns, values, strict=True)]
            _wrap_long_text(cells, heights, len(rows) + 1)
            add(*cells)
        letters = {str(c): get_column_letter(j + 1) for j, c in enumerate(worst.columns)}
        formats.append(_Layout("Summary", letters, first, first + len(worst) - 1))

    if notes:
        heading("Notes")
        for text in notes:
            add(_cell(ws, text, st.NOTE))
    return rows, formats, heights


def _wrap_long_text(cells: list, heights: dict[int, float], row: int) -> None:
    """Wrap a Summary row's text wider than its column (a rating's reason), and make the
    row tall enough for it: printed, text running on past the table would widen the page
    and shrink everything on it."""
    lines = 1
    for j, cell in enumerate(cells, start=1):
        width = _SUMMARY_WIDTHS.get(j, 10.0)
        if isinstance(cell.value, str) and text_lines(cell.value, width) > 1:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            lines = max(lines, text_lines(cell.value, width))
    if lines > 1:  # the row's other cells at its top too, beside the wrapped text's first line
        heights[row] = lines_height(lines)
        for cell in cells:
            if not cell.alignment.wrap_text:
                cell.alignment = Alignment(vertical="top")


_CREDIT_COLUMNS = (
    "facility_id", "borrower", "borrower_type", "gpu_model", "counterparty_rating",
    "backstop_rating", "seniority", "debt", "rating_bucket", "rating_reason", "pd_annual",
    "pd_annual_bound", "mc_pd_payment", "mc_pd_refinancing", "mc_pd_customer_driven",
    "merton_pd", "spread_implied_pd", "fair_spread_bp", "quoted_spread_bp", "mispricing_bp",
    "mc_pv_expected_loss", "mc_expected_loss", "mc_lgd",
)
"""The Credit sheet: the verdict and what it rests on, facility by facility."""


def _credit_sheet(book: _Book, metrics: pd.DataFrame) -> None:
    """Facilities by expected loss, the three PDs side by side, spreads and the reason."""
    if "rating_bucket" not in metrics:
        return
    cols = [c for c in _CREDIT_COLUMNS if c in metrics]
    frame = metrics[cols]
    loss = next((c for c in ("mc_pv_expected_loss", "mc_expected_loss") if c in frame), None)
    if loss is not None:
        frame = frame.iloc[np.argsort(-pd.to_numeric(frame[loss], errors="coerce")
                                      .fillna(-np.inf).to_numpy(), kind="stable")]
    widths = {cols.index("rating_reason") + 1: 70} if "rating_reason" in cols else None
    ws, layout = _table_sheet(
        book, "Credit", frame, heading="Credit verdict: facilities by expected loss",
        note="Three PDs a year side by side: the model's (Monte Carlo, real-world), Merton's "
             "(from the borrower's equity) and the one the quoted spread prices (risk-"
             "neutral). A facility with no default in the run is rated on its 95% bound. "
             "Fair spread: PV of expected loss over the risky annuity.",
        freeze_cols=2 if "borrower" in cols else 1, tab="7030A0",
        wrap=("rating_reason",), widths=widths)
    _flag(ws, layout, "mispricing_bp", "AND(ISNUMBER({x}),{x}<0)", _AMBER)


def _collateral_note(metrics: pd.DataFrame) -> list[str]:
    """What a liquidation LTV above 100% beside a good rating means, said on the Summary
    when the tape has such facilities (a credit committee asks)."""
    need = {"max_ltv_liquidation", "rating_bucket"}
    if not need <= set(metrics):
        return []
    under = pd.to_numeric(metrics["max_ltv_liquidation"], errors="coerce") > 1
    if not under.any():
        return []
    return [f"Liquidation LTV: {int(under.sum())} of {len(metrics)} facilities owe more than "
            "their GPUs would fetch in a forced sale at some point of their life. A rating "
            "does not rest on that sale alone: contracted revenue (the customer's and the "
            "backstop's credit), reserves and refinancing count too; each facility's reason "
            "is on the Credit sheet."]


_MEASURE_LABELS = {"expected_loss": "Expected loss", "n_paths": "Paths"}


def _measure_label(key: str) -> str:
    """'es_999' -> 'Expected shortfall 99.9%' (and VaR, standalone sums)."""
    if key in _MEASURE_LABELS:
        return _MEASURE_LABELS[key]
    m = re.fullmatch(r"(sum_standalone_)?(var|es)_(\d+)", key)
    if not m:
        return column_label(key)
    digits = m.group(3)
    level = f"{int(digits[:2])}{'.' + digits[2:] if len(digits) > 2 else ''}%"
    name = "VaR" if m.group(2) == "var" else "Expected shortfall"
    if m.group(1):
        return f"Sum of facilities' standalone ES {level} (no diversification)"
    return f"{name} {level}"


def _frame_of(result, name: str) -> pd.DataFrame:
    value = getattr(result, name, None)
    return value if isinstance(value, pd.DataFrame) else pd.DataFrame()


def _portfolio_sheets(book: _Book, result: RecalcResult, metrics: pd.DataFrame) -> None:
    """The book's loss distribution: measures, the histogram as a native chart, and who
    drives the tail (ES contributions by facility and concentration by group)."""
    measures = _frame_of(result, "portfolio_summary")
    hist = _frame_of(result, "portfolio_distribution")
    if measures.empty:
        return
    ws = _sheet(book, "Portfolio", landscape=False, tab="C55A11",
                widths={1: 52, 2: 18, 3: 16, 4: 14, 5: 14})
    ws.append([_cell(ws, "Portfolio loss distribution", st.TITLE)])
    ws.append([_cell(ws, "Per simulated path, the sum of every facility's discounted loss: "
                         "one market shared by the whole book. Standard errors from the "
                         "paths; ES = mean loss beyond VaR.", st.NOTE)])
    ws.append([])
    ws.append([_cell(ws, h, st.HEADER) for h in ("Measure", "Loss (USD)", "Std error (USD)",
                                                "Share of debt")])
    debt = float(pd.to_numeric(metrics.get("debt", pd.Series(dtype=float)),
                               errors="coerce").sum())
    frame = measures.set_index(measures.columns[0]) if "value" in measures else measures
    for key, row in frame.iterrows():
        value = float(row["value"])
        if key == "n_paths":
            ws.append([_cell(ws, "Paths"), _cell(ws, int(value), st.CALC, st.INTEGER)])
            continue
        se = row.get("se", np.nan)
        ws.append([_cell(ws, _measure_label(str(key))), _cell(ws, value, st.CALC, st.USD),
                   _cell(ws, None if not np.isfinite(se) else float(se), st.CALC, st.USD),
                   _cell(ws, value / debt if debt > 0 else None, st.CALC, st.PCT)])
    if hist.empty:
        return
    ws.append([])
    top = len(frame) + 6
    ws.append([_cell(ws, h, st.HEADER) for h in ("x: bucket upper edge (USD m)",
                                                "Loss from (USD)", "Loss to (USD)",
                                                "Probability", "P(loss > x)")])
    for _, row in hist.iterrows():
        ws.append([_cell(ws, f"{row['loss_to'] / 1e6:,.0f}"),
                   _cell(ws, float(row["loss_from"]), None, st.USD),
                   _cell(ws, float(row["loss_to"]), None, st.USD),
                   _cell(ws, float(row["probability"]), None, st.PCT),
                   _cell(ws, float(row["exceedance"]), None, st.PCT)])
    chart = BarChart()
    chart.type, chart.grouping, chart.gapWidth = "col", "clustered", 10
    chart.title = "Portfolio loss: probability that the book loses more than x"
    chart.x_axis.title = "x: loss, USD million (bucket upper edge)"
    chart.y_axis.title = "P(loss > x)"
    chart.y_axis.number_format = "0%"
    chart.x_axis.delete = chart.y_axis.delete = False
    chart.height, chart.width, chart.legend = 9.0, 18.0, None
    chart.add_data(Reference(ws, min_col=5, min_row=top, max_row=top + len(hist)),
                   titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=top + 1, max_row=top + len(hist)))
    ws.add_chart(chart, f"A{top + len(hist) + 2}")
    ws.row_breaks.append(Break(id=top + len(hist) + 1))  # printed whole, on a page of its own

    contrib = _frame_of(result, "portfolio_contributions")
    if not contrib.empty:
        sort = "es_contribution" if "es_contribution" in contrib else contrib.columns[-1]
        contrib = contrib.sort_values(sort, ascending=False, kind="stable")
        _table_sheet(book, "ES contributions", contrib,
                     heading="Who drives the tail: each facility's share of the book's ES",
                     note="Euler contributions: a facility's mean loss on the paths beyond "
                          "the book's VaR; they sum to the book's expected shortfall.")
    conc = _frame_of(result, "portfolio_concentration")
    if not conc.empty:
        _table_sheet(book, "Concentration", conc,
                     heading="Concentration: the book's loss by borrower, customer, GPU "
                             "generation and borrower type",
                     note="Expected loss and ES contribution of each group, beside its "
                          "facilities and debt.", freeze_cols=2)


def _info_format(key: str, value) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        return None
    return st.INTEGER if isinstance(value, int | np.integer) else column_format(key)


# ----------------------------------------------------------------------------- charts

def _worst_ids(metrics: pd.DataFrame, key: str, k: int, *, largest: bool) -> list[str]:
    if key not in metrics or "facility_id" not in metrics:
        return []
    values = pd.to_numeric(metrics[key], errors="coerce")
    order = values.dropna().sort_values(ascending=not largest, kind="stable")
    return metrics.loc[order.index[:k], "facility_id"].astype(str).tolist()


def _path_block(periods: pd.DataFrame, ids: list[str], value: str) -> pd.DataFrame:
    """Years down the rows, one column per facility (``value`` of each facility-period)."""
    if not ids or value not in periods or "facility_id" not in periods:
        return pd.DataFrame()
    x = "year" if "year" in periods else "period"
    sub = periods.loc[periods["facility_id"].astype(str).isin(ids),
                      ["facility_id", x, value]].copy()
    sub["facility_id"] = sub["facility_id"].astype(str)
    sub[x] = pd.to_numeric(sub[x], errors="coerce").round(9)
    block = sub.pivot_table(index=x, columns="facility_id", values=value, aggfunc="first",
                            dropna=False)
    return block.reindex(columns=[i for i in ids if i in block.columns]).sort_index()


def _scatter(title: str, x_title: str, y_title: str, y_format: str) -> ScatterChart:
    chart = ScatterChart()
    chart.title = title
    chart.style = 2
    chart.scatterStyle = "line"
    chart.height, chart.width = 10.0, 24.0
    chart.x_axis.title, chart.y_axis.title = x_title, y_title
    chart.y_axis.number_format = y_format
    chart.x_axis.number_format = "0.0"
    chart.x_axis.delete = chart.y_axis.delete = False
    chart.display_blanks = "span"
    chart.legend.position = "b"
    return chart


def _line(series: Series, dashed: bool = False) -> Series:
    series.marker.symbol = "none"
    series.smooth = False
    series.graphicalProperties.line.width = 19050
    if dashed:
        series.graphicalProperties.line.dashStyle = "dash"
        series.graphicalProperties.line.solidFill = "C00000"
    return series


def _charts(book: _Book, result: RecalcResult, periods: pd.DataFrame, metrics: pd.DataFrame,
            k: int, notes: list[str]) -> None:
    names = (dict(zip(metrics["facility_id"].astype(str), metrics["borrower"].astype(str),
                      strict=True)) if {"facility_id", "borrower"} <= set(metrics) else {})

    def title_of(i):
        return f"{i} {names[i]}" if i in names else str(i)

    dscr_ids = _worst_ids(metrics, "min_dscr", k, largest=False)
    ltv_ids = _worst_ids(metrics, "max_ltv_liquidation", k, largest=True)
    blocks = [
        ("dscr", _path_block(periods, dscr_ids, "dscr"), 1.0,
         f"DSCR: the {len(dscr_ids)} lowest minimum DSCRs",
         "Years from valuation", "DSCR", st.MULTIPLE, "1.00x"),
        ("ltv", _path_block(periods, ltv_ids, "ltv_liquidation"), 1.0,
         f"Liquidation LTV: the {len(ltv_ids)} highest peaks",
         "Years from valuation", "LTV (liquidation value)", "0%", "100%"),
    ]
    curves = result.residual_curves
    if curves is not None and len(curves):
        curves = curves.copy()
        curves.index = pd.to_numeric(curves.index, errors="coerce")
        curves.columns = [str(c) for c in curves.columns]
        blocks.append(("residual", curves, None, "Residual value by GPU model",
                       "Age (years)", "Share of cost", "0%", None))

    charts = _sheet(book, "Charts", landscape=False, tab="70AD47")
    data = book.wb.create_sheet("Chart data")
    charts.page_setup.fitToHeight = 1
    charts.append([_cell(charts, "Charts", st.TITLE)])
    charts.append([_cell(charts, "Each chart plots the Chart data sheet; the red dashed line "
                                 "marks a DSCR of 1.00x or an LTV of 100%.", st.NOTE)])

    # Lay the blocks side by side on the Chart data sheet: x in the first column, one
    # column per facility (or GPU model), then the reference level.
    grid: dict[tuple[int, int], object] = {}
    col = 1
    placed = []
    for name, block, level, *_ in blocks:
        if block.empty:
            continue
        n_rows = len(block)
        grid[(3, col)] = ("Years" if name != "residual" else "Age (years)", st.HEADER, None)
        xs = block.index.to_numpy(dtype=float)
        for i, x in enumerate(xs):
            grid[(4 + i, col)] = (float(x), None, "0.00")
        for j, key in enumerate(block.columns, start=1):
            label = title_of(key) if name != "residual" else key
            grid[(3, col + j)] = (label, st.HEADER, None)
            fmt = st.MULTIPLE if name == "dscr" else st.PCT1
            for i, v in enumerate(block[key].to_numpy(dtype=float)):
                grid[(4 + i, col + j)] = (v, None, fmt)
        last = col + len(block.columns)
        if level is not None:
            last += 1
            grid[(3, last)] = ("1.00x" if name == "dscr" else "100%", st.HEADER, None)
            for i in range(n_rows):
                grid[(4 + i, last)] = (level, None, None)
        grid[(2, col)] = ({"dscr": "DSCR paths", "ltv": "Liquidation LTV paths",
                           "residual": "Residual-value curves"}[name], st.NOTE, None)
        placed.append((name, col, last, n_rows))
        col = last + 2
    max_row = max((r for r, _ in grid), default=1)
    max_col = max((c for _, c in grid), default=1)
    widths = {c: 14 for c in range(1, max_col + 1)}
    st.set_widths(data, widths)
    data.row_dimensions[3].height = _header_height(  # the series' names, wrapped
        [grid[(3, c)][0] if (3, c) in grid else "" for c in range(1, max_col + 1)], widths)
    data.append([_cell(data, "Chart data", st.TITLE)])
    for r in range(2, max_row + 1):
        data.append([(_cell(data, *grid[(r, c)]) if (r, c) in grid else None)
                     for c in range(1, max_col + 1)])

    specs = {b[0]: b for b in blocks}
    anchor_row = 4
    for name, first, last, n_rows in placed:
        _, _, level, title, x_title, y_title, y_fmt, _ = specs[name]
        chart = _scatter(title, x_title, y_title, y_fmt)
        xs = np.asarray(specs[name][1].index, dtype=float)
        if np.isfinite(xs).any() and np.nanmin(xs) >= 0:
            chart.x_axis.scaling.min = 0
            chart.x_axis.scaling.max = max(float(np.ceil(np.nanmax(xs) * 2) / 2), 0.5)
        xref = Reference(data, min_col=first, min_row=4, max_row=3 + n_rows)
        for c in range(first + 1, last + 1):
            yref = Reference(data, min_col=c, min_row=3, max_row=3 + n_rows)
            is_level = level is not None and c == last
            chart.series.append(_line(Series(yref, xref, title_from_data=True),
                                      dashed=is_level))
        charts.add_chart(chart, f"A{anchor_row}")
        anchor_row += 21
    if not placed:
        charts.append([_cell(charts, "No period data to chart.", st.NOTE)])
    for name, block, *_ in blocks:
        if block.empty and name != "residual":
            notes.append(f"Charts: no {name.upper()} paths to draw (no periods or no "
                         f"{'min_dscr' if name == 'dscr' else 'max_ltv_liquidation'} column).")


# =============================================================================== writer

def periods_parquet_path(path) -> Path:
    """Where every period goes as Parquet (``periods_format="parquet"``).

    >>> periods_parquet_path("out/results.xlsx").as_posix()
    'out/results_periods.parquet'
    """
    path = Path(path)
    return path.with_name(path.stem + "_periods.parquet")


def periods_csv_path(path) -> Path:
    """Where :func:`write_results` puts every facility-period when the workbook cannot.

    >>> periods_csv_path("out/results.xlsx").as_posix()
    'out/results_periods.csv'
    """
    path = Path(path)
    return path.with_name(path.stem + "_periods.csv")


_READ_COLUMNS = ("facility_id", "borrower", "borrower_type", "gpu_model", "rating",
                 "min_dscr", "max_ltv_liquidation",
                 *(t[3] for t in _TOTALS), *_CREDIT_COLUMNS)
"""The metrics the sheets other than Metrics read (totals, credit, charts, notes): all a
spooled run's workbook holds in memory at once."""


def _check(result) -> tuple[pd.DataFrame | SpooledTable, pd.DataFrame]:
    """The metrics to write (a frame with ``facility_id`` first, or a spooled table), and
    the columns of them the other sheets read."""
    if not isinstance(result, RecalcResult):
        raise GpuCreditError(f"result must be a RecalcResult, got {type(result).__name__}",
                             argument="result", value=type(result).__name__)
    for name in ("metrics", "periods", "scenarios", "scenario_summary", "summary_totals",
                 "summary_by_type", "worst", "residual_curves", "errors"):
        value = getattr(result, name)
        spoolable = name in ("metrics", "periods", "scenarios") and \
            isinstance(value, SpooledTable)
        if value is not None and not isinstance(value, pd.DataFrame) and not spoolable:
            raise GpuCreditError(f"result.{name} must be a DataFrame, got "
                                 f"{type(value).__name__}", argument=name,
                                 value=type(value).__name__)
    if isinstance(result.metrics, SpooledTable):
        table = result.metrics
        return table, with_id(table.read([c for c in dict.fromkeys(_READ_COLUMNS)
                                           if c in table.columns]))
    metrics = with_id(result.metrics if result.metrics is not None else pd.DataFrame())
    if len(metrics) and "facility_id" not in metrics:
        raise GpuCreditError("result.metrics must have a facility_id index or column",
                             argument="metrics", value=list(metrics.columns)[:5])
    return metrics, metrics


def write_results(result: RecalcResult, path, *,
                  max_period_rows: int | None = DEFAULT_MAX_PERIOD_ROWS,
                  rows_per_sheet: int = EXCEL_MAX_ROWS - HEADER_ROWS,
                  chart_facilities: int = CHART_FACILITIES,
                  periods_format: str = "csv", mapper=None) -> Path:
    """Write a recalculated loan tape as a results workbook, whole or not at all.

    Parameters
    ----------
    result : RecalcResult
        The engine's tables (:mod:`gpucredit.engine_result`).
    path : str or Path
        The ``.xlsx`` file to write (replaced if it exists; its folder must exist).
    max_period_rows : int or None, default 200,000
        Facility-periods the workbook holds. Above it the Periods sheet holds the periods of
        the worst facilities (those on the Summary and in the charts) and every period is
        written beside the workbook (``periods_format``). ``None``: no limit.
    rows_per_sheet : int, default 1,048,573
        Data rows on one Periods sheet (Excel's row limit less the 3 header rows); more
        continue on "Periods 2", "Periods 3" ...
    chart_facilities : int, default 5
        Facilities drawn in each path chart.
    periods_format : {"csv", "parquet"}, default "csv"
        The file every period goes to when they are too many for the workbook:
        :func:`periods_csv_path` or :func:`periods_parquet_path` (pyarrow, the ``parquet``
        extra: columnar, typed, read by ``pandas.read_parquet``).
    mapper : callable, optional
        Renders the big tables' rows as sheet XML in worker processes on this machine:
        ``mapper(fn, tasks)`` yielding ``(task index, fn(task))`` in any order, such as
        :func:`gpucredit.processes.process_mapper`'s (spooled tables are read from their
        files in the workers). The workbook's bytes are the same; this process only
        deflates them. Default: rendered here.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    GpuCreditError
        ``result`` is not a RecalcResult of DataFrames, or the target folder does not
        exist.

    Notes
    -----
    Presentation only: the Summary's formulas are ``COUNTA``, ``SUM``, ``COUNTIF``,
    ``SUMIF`` and ``COUNTIFS`` over the Metrics sheet. A total shows the engine's figure
    beside its formula when ``summary_totals`` has an item of the same key (``facilities``,
    ``drawn_amount``, ``debt``, ``market_value``, ``liquidation_value``,
    ``mc_expected_loss``, ``facilities_breaching_lockup`` ...); otherwise the sum of the
    Metrics column as gpucredit holds it. Conditional formats (Metrics, Periods, Scenarios,
    the worst facilities): minimum DSCR below the row's ``dscr_default`` red, below its
    ``dscr_lockup`` amber (1.00x when the covenant columns are absent); LLCR below
    ``llcr_lockup`` amber; any LTV above 100% red; a first lock-up breach amber, a first
    default breach or collateral shortfall red; a negative mispricing amber; Monte Carlo
    probabilities shaded white (0) to red (1).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import pandas as pd
    >>> metrics = pd.DataFrame({"borrower": ["Northwind Compute"], "borrower_type": ["neocloud"],
    ...                         "debt": [1e8], "min_dscr": [1.1]},
    ...                        index=pd.Index(["NW-1"], name="facility_id"))
    >>> empty = pd.DataFrame()
    >>> res = RecalcResult(metrics=metrics, periods=empty, scenarios=empty,
    ...                    scenario_summary=empty, summary_totals=empty, summary_by_type=empty,
    ...                    worst=empty, residual_curves=empty, errors=empty)
    >>> out = write_results(res, pathlib.Path(tempfile.mkdtemp()) / "results.xlsx")
    >>> import openpyxl
    >>> openpyxl.load_workbook(out, read_only=True).sheetnames[:3]
    ['Summary', 'Metrics', 'Periods']
    """
    table, metrics = _check(result)
    path = Path(path)
    if max_period_rows is not None and int(max_period_rows) < 0:
        raise GpuCreditError(f"max_period_rows must be >= 0 or None, got {max_period_rows}",
                             argument="max_period_rows", value=max_period_rows)
    if int(rows_per_sheet) < 1:
        raise GpuCreditError(f"rows_per_sheet must be >= 1, got {rows_per_sheet}",
                             argument="rows_per_sheet", value=rows_per_sheet)
    with staged_files() as staging, rendering(mapper) as rendered:
        frame_path = staging.scratch(path)
        final_path = staging.output(path)
        book = _Book(Workbook(write_only=True), rendered=rendered)
        st.add_named_styles(book.wb)
        book.wb.properties.creator = f"gpucredit {__version__}"
        book.wb.properties.title = "Loan-tape recalculation results"
        notes: list[str] = []
        summary = _sheet(book, "Summary", tab="1F3864",
                         widths=_SUMMARY_WIDTHS)

        mws, mlay = _table_sheet(
            book, "Metrics", table, heading="Metrics: one row per facility",
            note="Red: minimum DSCR below the facility's default covenant, LTV above 100%, a "
                 "default breach; amber: below the lock-up covenant. Periods count from the "
                 "valuation date (0 or -: never).",
            freeze_cols=2 if "borrower" in metrics else 1, tab="2F5597")
        _covenant_rules(mws, mlay)
        _credit_sheet(book, metrics)
        _portfolio_sheets(book, result, metrics)

        periods = result.periods if result.periods is not None else pd.DataFrame()
        periods = _periods_sheets(book, staging, result, metrics, periods, path,
                                  max_period_rows, int(rows_per_sheet), chart_facilities,
                                  notes, periods_format)

        scen = result.scenarios if result.scenarios is not None else pd.DataFrame()
        sws, slay = _table_sheet(
            book, "Scenarios", scen, heading="Scenarios: one row per facility and scenario",
            note="Deterministic stresses (rent deflation, generation step-down, BTC fall, the "
                 "joint case). Red: DSCR below 1.00x or LTV above 100%.",
            freeze_cols=2 if "scenario" in table_columns(scen) else 1)
        _covenant_rules(sws, slay)
        ssum = result.scenario_summary if result.scenario_summary is not None \
            else pd.DataFrame()
        ssum = ssum.reset_index() if not isinstance(ssum.index, pd.RangeIndex) else ssum
        qws, qlay = _table_sheet(book, "Scenario summary", ssum,
                                 heading="Scenario summary: the portfolio under each scenario",
                                 note="Portfolio aggregates computed by gpucredit.")
        _covenant_rules(qws, qlay)

        _charts(book, result, periods, metrics, int(chart_facilities), notes)
        _errors_sheet(book, result)
        _assumptions_sheet(book, result)

        notes += _collateral_note(metrics)
        rows, formats, heights = _summary_rows(summary, result, metrics, mlay, notes)
        for r, height in heights.items():
            summary.row_dimensions[r].height = height
        for row in rows:
            summary.append(row)
        for layout in formats:
            _covenant_rules(summary, layout)

        try:
            book.wb.save(frame_path)
        except BaseException:
            _discard(book.wb)
            raise
        parts = sheet_part_names(frame_path)
        rewrite_package(frame_path, final_path,
                        {parts[b.sheet]: splice(b, rendered and rendered.chunks(k))
                         for k, b in enumerate(book.blocks)})
    return path


def _discard(wb: Workbook) -> None:
    """Close a write-only workbook that will not be saved, removing its temporary files."""
    for ws in wb.worksheets:
        with contextlib.suppress(Exception):
            if not ws.closed:
                ws.close()
        with contextlib.suppress(Exception):
            ws._writer.cleanup()


def _periods_sheets(book, staging, result, metrics, periods, path, max_period_rows,
                    rows_per_sheet, k, notes, periods_format="csv") -> pd.DataFrame:
    """The Periods sheets, and the file of every period when they are too many for the
    workbook; returns the periods the workbook shows (the charts draw from them)."""
    n = len(periods)
    companion = periods_parquet_path(path) if periods_format == "parquet" \
        else periods_csv_path(path)
    if max_period_rows is None or n <= max_period_rows:
        shown = periods.read() if isinstance(periods, SpooledTable) else periods
    else:
        keep = set(_worst_ids(metrics, "min_dscr", k, largest=False)) | set(
            _worst_ids(metrics, "max_ltv_liquidation", k, largest=True))
        if result.worst is not None and len(result.worst):
            keep |= set(with_id(result.worst)["facility_id"].astype(str))
        shown = pd.concat([p[p["facility_id"].astype(str).isin(keep)]
                           for p in table_parts(periods) if "facility_id" in p],
                          ignore_index=True).iloc[:max_period_rows] \
            if "facility_id" in table_columns(periods) else table_head(periods).iloc[:0]
        _write_all_periods(periods, staging.output(companion), periods_format)
        notes.append(f"Periods: {n:,} facility-periods exceed the {max_period_rows:,} rows "
                     f"the workbook holds; the Periods sheet shows the {len(keep):,} worst "
                     f"facilities' {len(shown):,} periods and all of them are in "
                     f"{companion.name} beside this workbook.")
    chunks = [shown.iloc[i:i + rows_per_sheet] for i in range(0, len(shown), rows_per_sheet)]
    chunks = chunks or [shown]
    if len(chunks) > 1:
        notes.append(f"Periods: {len(shown):,} rows continue over {len(chunks)} sheets "
                     f"(Periods, Periods 2 ...), {rows_per_sheet:,} rows each.")
    for i, chunk in enumerate(chunks, start=1):
        title = "Periods" if i == 1 else f"Periods {i}"
        note = ("Every period of every facility (flows at period end; years from the valuation "
                "date). Red: DSCR below the facility's default level (1.00x here), LTV above "
                "100%.")
        if len(chunks) > 1:
            note += f" Part {i} of {len(chunks)}."
        if len(shown) < n:
            note = (f"The worst facilities only: all {n:,} facility-periods are in "
                    f"{companion.name}. ") + note
        ws, layout = _table_sheet(book, title, chunk, heading=f"{title}: schedules in long "
                                  "format", note=note,
                                  freeze_cols=2 if "period" in chunk else 1)
        _covenant_rules(ws, layout)
    return shown


def _write_all_periods(periods, target: Path, periods_format: str) -> None:
    """Every period, piece by piece, as CSV (formula-like text escaped) or Parquet."""
    if periods_format == "parquet":
        from gpucredit.streaming import PeriodsWriter

        with PeriodsWriter(target, "parquet") as sink:
            for piece in table_parts(periods):
                sink(piece)
        return
    from gpucredit.excel.csv_out import write_table

    write_table(periods, target)


def _errors_sheet(book: _Book, result: RecalcResult) -> None:
    errors = result.errors if result.errors is not None else pd.DataFrame()
    if errors.empty:
        errors = pd.DataFrame({"message": ["No errors"]})
    if not isinstance(errors.index, pd.RangeIndex):
        errors = errors.reset_index()
    ws, layout = _table_sheet(
        book, "Errors", errors, heading="Errors and warnings",
        note="Rows the validator rejected (errors) or computed with a remark (warnings), "
             "with the sheet, row and column of the tape they refer to.",
        wrap=("message",), widths={len(errors.columns): 90} if "message" in errors else None,
        tab="C00000")
    if "severity" in layout.letters:
        col = layout.letters["severity"]
        ws.conditional_formatting.add(
            f"A{layout.first_row}:{get_column_letter(len(errors.columns))}{layout.last_row}",
            FormulaRule(formula=[f'${col}{layout.first_row}="error"'], **_RED))


def _assumptions_sheet(book: _Book, result: RecalcResult) -> None:
    ws = _sheet(book, "Assumptions", landscape=False, widths={1: 34, 2: 22, 3: 16, 4: 28})
    ws.append([_cell(ws, "Assumptions used", st.TITLE)])
    ws.append([_cell(ws, "The market assumptions of this run (from the tape's Assumptions "
                         "sheet, else gpucredit's defaults).", st.NOTE)])
    ws.append([_cell(ws, h, st.HEADER) for h in ("Assumption", "Value", "Unit", "Name")])
    items = result.assumptions or {}
    if not items:
        ws.append([_cell(ws, "None recorded.", st.NOTE)])
    for key, value in items.items():
        try:
            field_ = schema.assumption(str(key))
            label, unit, fmt = field_.label, field_.unit, field_.number_format
            fmt = None if fmt in ("@", "General") else fmt
        except KeyError:
            label, unit, fmt = column_label(str(key)), "", _info_format(str(key), value)
        if isinstance(value, list | tuple | dict | set):
            value = str(value)
        ws.append([_cell(ws, label), _cell(ws, value, st.CALC, fmt), _cell(ws, unit, st.NOTE),
                   _cell(ws, str(key), st.NOTE)])
