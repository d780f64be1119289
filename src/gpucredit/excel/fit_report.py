"""The market fit report: a workbook laying out :class:`~gpucredit.market_report.FitReportTables`.

Sheets:

* **Parameters** - each calibrated parameter with its standard error, the Monte Carlo's
  cited default and which of the two the Monte Carlo takes (and why); the cross-generation
  correlation matrix; the spot/contract basis; the notes of the fit.
* **Rents** - per generation, the observed rents, the fitted trend and the simulated fan
  (5%, 50%, 95%) after the last observation, as a native scatter chart over a table.
* **Bands** - the residual bands of value against age with the observed used prices and
  the preset curves, as a native chart; the collateral value per GPU and the LTV at each
  band edge.
* **Data** - every observation of the market file with its source.

The writer computes nothing: every number comes from the tables. The file is written
whole or not at all (:func:`gpucredit.excel.files.staged_files`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
from openpyxl.chart import Reference, ScatterChart, Series

from gpucredit.excel import styles as st
from gpucredit.excel.files import staged_files
from gpucredit.market_report import FitReportTables

__all__ = ["write_fit_report"]

_DASH = {"q05": "dash", "q95": "dash", "q50": "sysDot"}
_COLOURS = ("1F3864", "C00000", "70AD47", "7F6000", "7030A0", "ED7D31", "2E75B6", "595959")


def _put(ws, row: int, col: int, value, style=None, fmt=None):
    cell = ws.cell(row=row, column=col)
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        value = None
    elif isinstance(value, np.generic):
        value = value.item()
    elif isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    cell.value = value
    if style:
        st.style_cell(cell, style, fmt)
    elif fmt:
        cell.number_format = fmt
    return cell


def _frame(ws, frame: pd.DataFrame, row: int, col: int = 1, formats=None) -> int:
    """A DataFrame as a header row and values from (row, col); returns the next free row."""
    formats = formats or {}
    st.style_header_row(ws, row, col, [str(c) for c in frame.columns])
    for i, rec in enumerate(frame.itertuples(index=False), start=row + 1):
        for j, (name, v) in enumerate(zip(frame.columns, rec, strict=True)):
            _put(ws, i, col + j, v, fmt=formats.get(name))
    return row + len(frame) + 2


def _chart(title: str, x_title: str, y_title: str, y_fmt: str, x_fmt: str) -> ScatterChart:
    chart = ScatterChart()
    chart.title, chart.style = title, 2
    chart.height, chart.width = 10.0, 22.0
    chart.x_axis.title, chart.y_axis.title = x_title, y_title
    chart.x_axis.number_format, chart.y_axis.number_format = x_fmt, y_fmt
    chart.x_axis.delete = chart.y_axis.delete = False
    chart.display_blanks = "gap"
    chart.legend.position = "b"
    return chart


def _series(ws, chart, col: int, xcol: int, first: int, last: int, *, markers=False,
            dash=None, colour=None) -> None:
    y = Reference(ws, min_col=col, min_row=first - 1, max_row=last)
    x = Reference(ws, min_col=xcol, min_row=first, max_row=last)
    s = Series(y, x, title_from_data=True)
    s.smooth = False
    if markers:
        s.marker.symbol, s.marker.size = "circle", 6
        s.graphicalProperties.line.noFill = True
        if colour:
            s.marker.graphicalProperties.solidFill = colour
            s.marker.graphicalProperties.line.solidFill = colour
    else:
        s.marker.symbol = "none"
        s.graphicalProperties.line.width = 19050
        if dash:
            s.graphicalProperties.line.dashStyle = dash
        if colour:
            s.graphicalProperties.line.solidFill = colour
    chart.series.append(s)


def _parameters_sheet(wb, t: FitReportTables, title: str) -> None:
    ws = wb.active
    ws.title = "Parameters"
    _put(ws, 1, 1, title, st.TITLE)
    _put(ws, 2, 1, "Each parameter with its standard error; the Monte Carlo takes the fitted "
                   "value only when the data support it, else its cited default.", st.NOTE)
    fmts = {"estimate": "0.0000", "se": "0.0000", "default": "0.0000"}
    row = _frame(ws, t.parameters, 4, formats=fmts)
    if len(t.correlation):
        _put(ws, row, 1, "Correlation of the generations' rent cycles (standard errors "
                         "below)", st.NOTE)
        row = _frame(ws, t.correlation.reset_index(names="generation"), row + 1,
                     formats={c: "0.000" for c in t.correlation.columns})
        row = _frame(ws, t.correlation_se.reset_index(names="generation"), row,
                     formats={c: "0.000" for c in t.correlation.columns})
    if len(t.basis):
        _put(ws, row, 1, "Spot/contract basis: mean log(contract/spot) on dates quoting both",
             st.NOTE)
        row = _frame(ws, t.basis.reset_index(names="gpu_model"), row + 1,
                     formats={"basis": "0.0000", "basis_se": "0.0000", "premium": st.PCT,
                              "first": st.DATE, "last": st.DATE})
    _put(ws, row, 1, "Notes", st.HEADER)
    for i, note in enumerate(t.notes, start=row + 1):
        _put(ws, i, 1, note, st.NOTE)
    st.set_widths(ws, {"A": 18, "B": 12, "C": 12, "D": 12, "E": 48, "F": 28, "G": 44})


def _rents_sheet(wb, t: FitReportTables) -> None:
    ws = wb.create_sheet("Rents")
    _put(ws, 1, 1, "Rent history, fitted trend and simulated fan", st.TITLE)
    _put(ws, 2, 1, "Observed rents (markers), the fitted trend with its generation steps, and "
                   "5% / 50% / 95% of simulated rents after the last observation.", st.NOTE)
    chart_col = openpyxl.utils.get_column_letter(1 + 7 * len(t.history) + 1)
    for k, (model, hist) in enumerate(t.history.items()):
        col = 1 + 7 * k  # one block of six columns per generation, side by side
        first, last = 5, 4 + len(hist)
        _put(ws, 3, col, f"{model} (USD per GPU-hour)", st.NOTE)
        _frame(ws, hist.rename(columns={"q05": "5%", "q50": "median", "q95": "95%"}), 4, col,
               formats={"date": st.DATE, **{c: st.USD_CENTS for c in
                                            ("observed", "trend", "5%", "median", "95%")}})
        chart = _chart(f"{model} rent: history, trend and fan", "Date", "USD per GPU-hour",
                       '"$"0.00', "yyyy-mm")
        _series(ws, chart, col + 1, col, first, last, markers=True, colour=_COLOURS[1])
        _series(ws, chart, col + 2, col, first, last, colour=_COLOURS[0])
        for j, q in enumerate(("q05", "q50", "q95"), start=3):
            _series(ws, chart, col + j, col, first, last, dash=_DASH[q], colour=_COLOURS[2])
        ws.add_chart(chart, f"{chart_col}{4 + 21 * k}")
        st.set_widths(ws, {col: 12, **{col + j: 10 for j in range(1, 6)}})
    if not t.history:
        _put(ws, 4, 1, "No rent series was long enough to fit.", st.NOTE)


def _bands_sheet(wb, t: FitReportTables) -> None:
    ws = wb.create_sheet("Bands")
    _put(ws, 1, 1, "Residual value against age: quantile bands from used-GPU prices", st.TITLE)
    _put(ws, 2, 1, "Value = price / launch price. Band edges are quantile regressions of log "
                   "value on age; presets are the default curves of gpucredit.presets.",
         st.NOTE)
    if t.bands is None:
        _put(ws, 4, 1, "No used-GPU prices to band.", st.NOTE)
        return
    bands = t.bands.reset_index()
    top = 28  # the chart sits above the tables, wide enough to read
    first, last = top + 1, top + len(bands)
    _frame(ws, bands, top, 1, formats={c: "0%" for c in bands.columns if c != "age"})
    pts = t.band_points.reset_index(drop=True)
    pcol = len(bands.columns) + 2
    _frame(ws, pts.rename(columns={"value": "observed"}), top, pcol,
           formats={"age": "0.00", "observed": "0%"})
    chart = _chart("Used-GPU prices against the bands and the preset curves", "Age (years)",
                   "Share of launch price", "0%", "0.0")
    chart.height, chart.width = 12.0, 26.0
    for j, name in enumerate(bands.columns[1:], start=2):
        dash = "dash" if name.startswith("preset") else None
        _series(ws, chart, j, 1, first, last, dash=dash, colour=_COLOURS[(j - 2) % 8])
    _series(ws, chart, pcol + 2, pcol + 1, top + 1, top + len(pts), markers=True,
            colour="000000")
    ws.add_chart(chart, "A4")
    row = max(last, top + len(pts)) + 3
    if t.collateral is not None and len(t.collateral):
        _put(ws, row, 1, "Collateral at the band edges: value per GPU and LTV of a loan of half "
                         "the launch price", st.NOTE)
        _frame(ws, t.collateral, row + 1, 1,
               formats={"quantile": "0%", "age": "0.0", "value_per_gpu": st.USD, "ltv": "0%"})
    st.set_widths(ws, {c: 13 for c in range(1, pcol + 4)})


def _data_sheet(wb, observations: pd.DataFrame) -> None:
    ws = wb.create_sheet("Data")
    _put(ws, 1, 1, "Every observation read, with its source", st.TITLE)
    _frame(ws, observations, 3, 1, formats={"date": st.DATE})
    st.set_widths(ws, {"A": 11, "B": 12, "C": 10, "D": 12, "E": 10, "F": 10, "G": 12,
                       "H": 100})


def write_fit_report(path, tables: FitReportTables, observations: pd.DataFrame, *,
                     title="Market calibration") -> Path:
    """Write the fit report workbook.

    Parameters
    ----------
    path : str or Path
        The ``.xlsx`` to write (replaced whole; left untouched if writing fails).
    tables : FitReportTables
        :func:`gpucredit.market_report.fit_report_tables`.
    observations : DataFrame
        The market file's rows with their sources, for the Data sheet.
    title : str
        Title on the Parameters sheet.

    Returns
    -------
    Path
    """
    wb = openpyxl.Workbook()
    st.add_named_styles(wb)
    _parameters_sheet(wb, tables, title)
    _rents_sheet(wb, tables)
    _bands_sheet(wb, tables)
    _data_sheet(wb, observations)
    for ws in wb.worksheets:  # one page wide each, for print and PDF
        ws.page_setup.orientation = "landscape"
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    target = Path(path)
    with staged_files() as staging:
        tmp = staging.output(target)
        wb.save(tmp)
        st.fix_font_order(tmp)
    return target
