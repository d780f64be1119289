"""The ``Market`` sheet: where an analyst types or pastes market observations in a workbook.

:func:`add_market_sheet` adds the sheet to any workbook (the loan-tape template, a deal
model) with the columns of :mod:`gpucredit.tape.market_schema`, drop-down lists for the
series and the rent kind, and the unit of each series; :func:`write_market_template` saves
it as a workbook of its own, optionally filled with the bundled data set.
:func:`gpucredit.tape.market_reader.read_market` reads it back.
"""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pandas as pd
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.table import Table, TableStyleInfo

from gpucredit.excel import styles as st
from gpucredit.excel.files import staged_files
from gpucredit.tape.market_schema import COLUMNS, SERIES, SERIES_UNITS, column

__all__ = ["add_market_sheet", "bundled_market_rows", "write_market_template"]

_HEADER_ROW = 4
_WIDTHS = {"series": 12, "date": 12, "gpu_model": 11, "value": 12, "kind": 10,
           "tenor_months": 14, "condition": 12, "source": 90}


def add_market_sheet(wb, rows: pd.DataFrame | None = None, *, blank_rows=200):
    """Add a ``Market`` sheet to ``wb`` (an openpyxl workbook) and return it.

    Parameters
    ----------
    wb : openpyxl.Workbook
    rows : DataFrame, optional
        Observations to fill in, with the market columns' names (``series, date, ...``).
    blank_rows : int, default 200
        Rows below the data that keep the drop-down lists and input styling.

    Returns
    -------
    openpyxl.worksheet.worksheet.Worksheet
    """
    st.add_named_styles(wb)
    ws = wb.create_sheet("Market")
    ws["A1"] = "Market data"
    st.style_cell(ws["A1"], st.TITLE)
    units = "; ".join(f"{s}: {u}" for s, u in SERIES_UNITS.items())
    ws["A2"] = f"One observation a row, each with its source. Value units - {units}."
    st.style_cell(ws["A2"], st.NOTE)
    st.style_header_row(ws, _HEADER_ROW, 1, [c.label for c in COLUMNS])
    n = 0 if rows is None else len(rows)
    for i in range(n):
        for j, col in enumerate(COLUMNS, start=1):
            v = rows.iloc[i].get(col.name)
            if v is not None and not (isinstance(v, float) and v != v):
                ws.cell(_HEADER_ROW + 1 + i, j, v.to_pydatetime() if isinstance(
                    v, pd.Timestamp) else v)
    last = _HEADER_ROW + max(n, 1) + blank_rows
    for j, col in enumerate(COLUMNS, start=1):
        letter = openpyxl.utils.get_column_letter(j)
        ws.column_dimensions[letter].width = _WIDTHS[col.name]
        fmt = st.DATE if col.kind == "date" else None
        for r in range(_HEADER_ROW + 1, last + 1):
            st.style_cell(ws.cell(r, j), st.INPUT, fmt)
    _lists(ws, last)
    if n:
        ref = f"A{_HEADER_ROW}:{openpyxl.utils.get_column_letter(len(COLUMNS))}{_HEADER_ROW + n}"
        table = Table(displayName="MarketData", ref=ref)
        table.tableStyleInfo = TableStyleInfo(name="TableStyleLight1", showRowStripes=True)
        ws.add_table(table)
    ws.freeze_panes = f"A{_HEADER_ROW + 1}"
    st.print_setup(ws, landscape=True, title_rows=f"{_HEADER_ROW}:{_HEADER_ROW}")
    return ws


def bundled_market_rows() -> pd.DataFrame:
    """The bundled market data set (``gpucredit/data/market_demo.csv``: published points,
    each with its source) as rows for :func:`add_market_sheet`."""
    from importlib import resources

    raw = pd.read_csv(resources.files("gpucredit") / "data" / "market_demo.csv")
    raw.columns = [c.name for c in COLUMNS]
    raw["date"] = pd.to_datetime(raw["date"])
    return raw


def _lists(ws, last: int) -> None:
    for name, choices in (("series", SERIES), ("kind", column("kind").choices)):
        j = [c.name for c in COLUMNS].index(name) + 1
        letter = openpyxl.utils.get_column_letter(j)
        dv = DataValidation(type="list", formula1='"' + ",".join(choices) + '"',
                            allow_blank=True, showErrorMessage=True,
                            errorTitle=column(name).label,
                            error=f"Choose one of: {', '.join(choices)}")
        dv.add(f"{letter}{_HEADER_ROW + 1}:{letter}{last}")
        ws.add_data_validation(dv)


def write_market_template(path, rows: pd.DataFrame | None = None) -> Path:
    """Save a workbook holding only the ``Market`` sheet (whole or not at all).

    Parameters
    ----------
    path : str or Path
    rows : DataFrame, optional
        Observations to fill in (e.g. the bundled data set).
    """
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    add_market_sheet(wb, rows)
    target = Path(path)
    with staged_files() as staging:
        tmp = staging.output(target)
        wb.save(tmp)
        st.fix_font_order(tmp)
    return target
