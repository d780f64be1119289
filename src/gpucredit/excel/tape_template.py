"""The loan-tape template: an Excel workbook an analyst fills in, generated from the schema.

Every column, label, unit, number format, allowed value, range, default and description
comes from :mod:`gpucredit.tape.schema`; the GPU presets from :mod:`gpucredit.presets`.
Change the schema and regenerate (``gpucredit template tape -o FILE.xlsx``); never edit
``workbooks/loan_tape_template.xlsx`` by hand.

Sheets
------
Instructions
    How to fill the tape in (percentages, dates, units, blanks), what happens on
    validation, and a reference table of every column.
Tape
    The tape as an Excel Table (``LoanTape``) whose header row holds the schema labels,
    each with its description as a note. Input cells are blue on light yellow (the
    modelling convention for hard-coded inputs), number formats follow each column's unit,
    and data validation offers the allowed values of every enumerated column and checks
    the range of every number and date (Excel enforces it when typing; the validator
    checks everything again, including pasted values).
Assumptions
    Market data for the whole tape (valuation date, base rate, BTC price, rents, curve
    parameters ...), each value a named cell whose name is the assumption's, e.g.
    ``base_rate`` -> ``Assumptions!$B$7``; below them the GPU presets for reference.
Sources
    The public deals and calibration sources the defaults and the demo tape lean on.

The workbook is deterministic: building it twice gives the same bytes (fixed document
dates and zip timestamps), so the committed copy only changes when the schema does.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment
from openpyxl.utils import get_column_letter
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.table import Table, TableStyleInfo

from gpucredit import __version__
from gpucredit.excel import styles as st
from gpucredit.excel.files import staged_files
from gpucredit.excel.market_template import add_market_sheet
from gpucredit.excel.sheet_stream import clean_text, rewrite_package
from gpucredit.presets import presets_frame
from gpucredit.tape import schema

__all__ = [
    "BUILD_DATE",
    "PUBLIC_SOURCES",
    "TABLE_NAME",
    "TEMPLATE_ROWS",
    "build_tape_template",
    "save_workbook",
    "tape_workbook",
]

TABLE_NAME = "LoanTape"
"""Name of the Excel Table holding the tape."""
TEMPLATE_ROWS = 200
"""Empty rows the template's table offers (it grows as rows are typed or pasted below)."""
VALIDATION_ROWS = 5000
"""Rows below the header that carry data validation and input styling."""
BUILD_DATE = dt.datetime(2026, 1, 1)
"""Creation date stamped on generated workbooks (fixed, for reproducible files)."""

PUBLIC_SOURCES: tuple[tuple[str, str, str, str], ...] = (
    # key, topic, fact, source
    ("cw_ddtl1", "Deal", "CoreWeave DDTL 1.0: $2.3bn delayed-draw term loan (2023), maturing "
     "March 2028, about 15% effective rate.",
     "CoreWeave, Inc., Form S-1 (SEC, March 2025), description of indebtedness"),
    ("cw_ddtl2", "Deal", "CoreWeave DDTL 2.0: $7.6bn (May 2024), SOFR+6.00-6.50% against "
     "investment-grade contracts, SOFR+13% non-IG, 0% floor, about 11% effective, May 2029; "
     "later +$3bn with each draw maturing five years after drawing.",
     "CoreWeave, Inc., Form S-1 (SEC, March 2025), description of indebtedness"),
    ("cw_later", "Deal", "Later CoreWeave facilities priced tighter, SOFR+2.25% to +4.5%, "
     "against strong-counterparty contracts.", "CoreWeave 10-Q filings and press releases, 2025"),
    ("cw_notes", "Deal", "CoreWeave senior notes: 9.000% due 2031 ($1.75bn); the 2030 notes "
     "about 10% effective.", "CoreWeave press releases, May and July 2025"),
    ("twf_notes", "Deal", "TeraWulf: 7.75% senior secured notes due 2030 ($3.2bn) with a 50% "
     "excess-cash-flow offer.", "TeraWulf Inc. notes offering press release, October 2025"),
    ("twf_jv", "Deal", "TeraWulf / Fluidstack JV financing about 8%, amortisation rising from "
     "$19m (2026) to $85m (2031); a hyperscaler backstop of $1.8bn.",
     "TeraWulf Inc. press releases, August and October 2025"),
    ("cifr_notes", "Deal", "Cipher: 7.125% senior secured notes due 2030 ($1.4bn, Fitch BB-).",
     "Cipher Mining Inc. press release 2025; Fitch Ratings rating action"),
    ("cifr_conv", "Deal", "Cipher: 0% convertible notes due 2031 ($1.1bn).",
     "Cipher Mining Inc. convertible notes press release, 2025"),
    ("iren_conv", "Deal", "IREN: 3.50% convertible notes due 2029 ($500m) and later converts.",
     "IREN Ltd convertible notes press release, December 2024"),
    ("cors_conv", "Deal", "Core Scientific: 3.00% convertible notes due 2029 ($400m).",
     "Core Scientific, Inc. convertible notes press release, September 2024"),
    ("hut8_rb", "Deal", "Hut 8 River Bend: $3.25bn of bonds at Treasuries+213bp to 2042, up to "
     "85% loan-to-cost, against a 15-year lease from the first hall's commissioning "
     "(Q2 2027).",
     "Hut 8 Corp. River Bend financing press release"),
    ("neoclouds", "Deal", "Neoclouds (CoreWeave, Crusoe, Lambda, Nebius) finance GPU fleets; "
     "AI data-centre debt rose about 112% to about $25bn in 2025.",
     "Company filings; financial press, 2025 (context only)"),
    ("rents", "Rents", "H100 rent: about $4.70/hr at launch, above $8 at the 2023 peak, $2.85 "
     "early 2024, $2.99 on-demand Oct 2024, $1.70 one-year contract at the Oct 2025 trough, "
     "$2.35 Mar 2026, about $2.65 contract / $2.42 spot mid-2026.",
     "SemiAnalysis GPU rental reports 2024-2026; Silicon Data SDH100RT index; trade press"),
    ("epoch", "Rents", "FLOP/s per dollar doubles every 2.07-2.95 years: $/FLOP falls about "
     "21-28% a year; inference cost falls 20-40% a year.",
     "Hobbhahn and Besiroglu, Trends in GPU price-performance, Epoch AI, 2022"),
    ("power", "Costs", "DGX H100 about 10.2 kW for 8 GPUs (700 W TDP each), DGX B200 about "
     "14.3 kW, GB200 NVL72 about 120 kW; PUE 1.1-1.2 hyperscale, 1.4-1.6 typical.",
     "NVIDIA DGX H100 and DGX B200 datasheets; GB200 NVL72 reference; "
     "Uptime Institute survey 2024"),
    ("colo", "Costs", "Colocation asking rate $184/kW-month (North America, 250-500 kW, H2-2024); "
     "global average about $217 in Q1-2025.",
     "CBRE North America Data Center Trends H2 2024; CBRE Global Data Center Trends 2025"),
    ("lives", "Collateral", "Depreciation lives: Microsoft and Alphabet 6 years, Meta 5.5, "
     "Amazon 5-6, CoreWeave 6, Nebius 4; critics argue 2-3.",
     "Microsoft, Alphabet, Meta, Amazon 10-Ks; CoreWeave S-1; Nebius 20-F"),
    ("resale", "Collateral", "Used H100 SXM $22-28k against a $40k+ peak; annual resale decay "
     "A100-PCIe -54%, A100-SXM4 -28%, V100 -37%.", "SpotWire used-GPU price data (CC BY 4.0)"),
    ("curve", "Collateral", "Practitioner residual curve: 60-65% of cost after year 1, 40-45% "
     "year 2, 25-35% year 3, 15-20% year 4, 10-15% year 5 (weak source).",
     "Practitioner commentary (weak source)"),
    ("firesale", "Haircut", "Fire-sale discounts: industry-wide constrained buyers; distressed "
     "aircraft sales; specialised capital sold for about a third of replacement cost; forced "
     "liquidation about 70-80% of orderly value.",
     "Shleifer-Vishny (1992, 2011); Pulvino (1998); Ramey-Shapiro (2001); appraisal practice"),
    ("covenants", "Covenants", "Lock-up DSCR 1.10-1.25x, default 1.00-1.05x, LLCR lock-up "
     "about 1.50x.", "Yescombe, Principles of Project Finance, 2nd ed., 2014, ch. 14"),
    ("crypto", "Crypto", "BTC volatility 50-70% a year; crypto loans open at 75% LTV and "
     "liquidate at 86%; Basel risk weight 1,250% for unbacked crypto; block subsidy 3.125 BTC "
     "since April 2024.",
     "Coinbase Borrow documentation; BCBS d545 (2022); Bitcoin Core consensus rules"),
    ("ratings", "Pricing", "Average cumulative default rates by rating, 1-15 years.",
     "S&P Global Ratings, 2023 and 2024 Annual Global Corporate Default And Rating "
     "Transition Studies"),
)
"""Public facts behind the defaults and the demo tape: (key, topic, fact, source)."""


# ============================================================================== helpers

def _dv_number(v) -> str:
    if isinstance(v, dt.date):
        return f"DATE({v.year},{v.month},{v.day})"
    return repr(float(v)) if not float(v).is_integer() else str(int(v))


def _validation(f: schema.Field, first_cell: str) -> DataValidation | None:
    """Excel data validation mirroring the field's type, choices and range."""
    blank_ok = not f.required
    message = clean_text(f"Enter {f.expectation()}.")[:255]
    kw = {"allow_blank": blank_ok, "showErrorMessage": True, "errorStyle": "stop",
          "errorTitle": clean_text(f.label)[:32], "error": message}
    if f.choices:
        items = ",".join(str(c) for c in f.choices)
        return DataValidation(type="list", formula1=f'"{items}"', **kw)
    if f.type == "bool":
        return DataValidation(type="list", formula1='"TRUE,FALSE"', **kw)
    if f.type == "date":
        return DataValidation(type="date", operator="between", formula1=_dv_number(f.min),
                              formula2=_dv_number(f.max), **kw)
    if f.type not in ("int", "float"):
        return None
    kind = "whole" if f.type == "int" else "decimal"
    lo, hi = f.min, f.max
    if lo is not None and hi is not None and (f.min_open or f.max_open):
        lo_op = ">" if f.min_open else ">="
        hi_op = "<" if f.max_open else "<="
        formula = (f"AND(ISNUMBER({first_cell}),{first_cell}{lo_op}{_dv_number(lo)},"
                   f"{first_cell}{hi_op}{_dv_number(hi)})")
        return DataValidation(type="custom", formula1=formula, **kw)
    if lo is not None and hi is not None:
        return DataValidation(type=kind, operator="between", formula1=_dv_number(lo),
                              formula2=_dv_number(hi), **kw)
    if lo is not None:
        op = "greaterThan" if f.min_open else "greaterThanOrEqual"
        return DataValidation(type=kind, operator=op, formula1=_dv_number(lo), **kw)
    if hi is not None:
        op = "lessThan" if f.max_open else "lessThanOrEqual"
        return DataValidation(type=kind, operator=op, formula1=_dv_number(hi), **kw)
    return DataValidation(type=kind, operator="between", formula1="-1E+300",
                          formula2="1E+300", **kw)


def _write(cell, value, number_format: str | None = None, style: str | None = None) -> None:
    """Put a value in a cell; text always stays text (never a formula)."""
    if isinstance(value, np.generic):
        value = value.item()
    if (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        value = None
    if isinstance(value, pd.Timestamp):
        value = value.date() if value == value.normalize() else value.to_pydatetime()
    if isinstance(value, str):
        cell.value = clean_text(value)
        cell.data_type = "s"
    else:
        cell.value = value
    if style:
        cell.style = style
    if number_format:
        cell.number_format = number_format


def _fit_height(ws, row: int, merged_to: int | None = None) -> None:
    """Set a row's height so its wrapped text shows whole (LibreOffice and Excel do not
    grow rows that a file gives no height)."""
    lines = 1
    cells = [ws.cell(row, 1)] if merged_to else list(ws[row])
    for cell in cells:
        if not isinstance(cell.value, str) or not cell.value:
            continue
        last = merged_to or cell.column
        width = sum(ws.column_dimensions[get_column_letter(c)].width or 8.43
                    for c in range(cell.column, last + 1))
        per_line = max(width * 1.15 - 2, 4)
        lines = max(lines, sum(math.ceil(max(len(part), 1) / per_line)
                               for part in cell.value.split("\n")))
    ws.row_dimensions[row].height = 15 * min(lines, 12) + 2


def _width_for(f: schema.Field, values: Sequence = ()) -> float:
    """Column width: the header's longest word, the widest choice, example or value."""
    longest_word = max((len(w) for w in f.label.split()), default=8)
    shown = [len(f.show(v).strip('"')) for v in values if v is not None and v == v]
    shown += [len(str(c)) + 3 for c in f.choices]  # room for the drop-down arrow
    if f.example is not None:
        shown.append(len(f.show(f.example).strip('"')))
    need = max([longest_word + 2, 10, *[s + 2 for s in shown]])
    return float(min(need, 60 if f.type == "str" else 42))


# ============================================================================== sheets

def _instructions(wb: Workbook, demo: bool) -> None:
    ws = wb.active
    ws.title = "Instructions"
    st.set_widths(ws, {1: 14, 2: 30, 3: 22, 4: 9, 5: 14, 6: 10, 7: 34, 8: 24, 9: 70})
    st.print_setup(ws, landscape=True, title_rows=None)
    title = "gpucredit demo loan tape" if demo else "gpucredit loan-tape template"
    _write(ws["A1"], title, style=st.TITLE)
    _write(ws["A2"], f"Generated by gpucredit {__version__} from the tape schema "
                     "(gpucredit.tape.schema); regenerate it rather than editing its structure.",
           style=st.NOTE)
    lines = [
        "How to fill it in",
        "1. One row per facility on the Tape sheet. The tape is an Excel Table: type or paste "
        "rows directly below it and it grows. Required columns are marked in the table below.",
        "2. Blue figures on light yellow are inputs. Each header carries a note (hover over it) "
        "with the column's meaning, unit, what it accepts and what a blank means.",
        "3. Percentages are decimals, as in any cell formatted as a percentage: type 8% (or "
        "0.08). A bare 8 means 800% and is refused, never divided by 100. The loan spread and "
        "floor are percentages too; only the Quoted spread is in basis points (450 = 4.50%).",
        "4. Dates: Excel dates, Excel serial numbers or ISO text such as 2026-06-30.",
        "5. Units: money in USD (costs per GPU, not fleet totals, where the header says 'per "
        "GPU'); rents in USD per GPU-hour; power in kW per GPU; colocation in USD per kW-month.",
        "6. A blank cell takes the default shown below; where it depends on the GPU model "
        "(merchant rent, power, residual curve) it comes from the Assumptions sheet or the GPU "
        "presets at its foot.",
        "7. Market data for the whole tape (valuation date, base rate, BTC price, rents, curve "
        "parameters) go on the Assumptions sheet; every value there is a named cell.",
        "8. Observed market data (rent and forward quotes, used-GPU prices, BTC and hashprice, "
        "each with its source) go on the Market sheet, one observation a row. gpucredit "
        "calibrate TAPE.xlsx fits the market model to them; recalc --market TAPE.xlsx runs the "
        "Monte Carlo on the parameters the data support.",
        "",
        "What happens on validation",
        "gpucredit validate TAPE.xlsx checks every cell in one pass and lists each problem with "
        "its sheet, row, column, value and what is expected. An error rejects its row (the "
        "other rows are computed; --strict stops instead); a warning is reported and the row "
        "is computed. Text starting with = + - or @ is kept as text, never run as a formula.",
        "gpucredit recalc TAPE.xlsx -o RESULTS.xlsx computes every facility and writes the "
        "results workbook. This workbook's data validation helps while typing; the validator "
        "checks everything again, pasted values included.",
    ]
    if demo:
        lines += ["", "About this demo",
                  "The borrowers are illustrative: invented names whose terms are modelled on "
                  "the public deals listed on the Sources sheet (each row's Source cell says "
                  "which). Fleet sizes, rents and costs are our assumptions, scaled so that GPU "
                  "count x cost per GPU matches each deal's size and loan-to-cost."]
    r = 4
    for text in lines:
        if text in ("How to fill it in", "What happens on validation", "About this demo"):
            _write(ws.cell(r, 1), text, style=st.TITLE)
        elif text:
            c = ws.cell(r, 1)
            _write(c, text)
            c.alignment = Alignment(wrap_text=True, vertical="top")
            ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=9)
            _fit_height(ws, r, merged_to=9)
        r += 1
    r += 1
    _write(ws.cell(r, 1), "Columns of the Tape sheet", style=st.TITLE)
    r += 1
    heads = ("Group", "Header", "Name", "Type", "Unit", "Required", "Accepts", "Blank means",
             "Description")
    st.style_header_row(ws, r, 1, heads)
    for c in schema.COLUMNS:
        r += 1
        blank = ("required" if c.required else c.show(c.default).strip('"')
                 if c.default is not None else
                 (f"= {c.default_from}" if c.default_from else (c.blank or "blank")))
        values = (c.group, c.label, c.name, c.type, c.unit, "yes" if c.required else "",
                  c.expectation(), blank, c.description)
        for j, v in enumerate(values, start=1):
            cell = ws.cell(r, j)
            _write(cell, v)
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        _fit_height(ws, r)


def _tape(wb: Workbook, rows: pd.DataFrame | None, n_rows: int) -> None:
    ws = wb.create_sheet("Tape")
    cols = schema.COLUMNS
    last_col = get_column_letter(len(cols))
    data = rows if rows is not None else pd.DataFrame(columns=[c.name for c in cols])
    n = max(len(data), 1) if rows is not None else n_rows
    for j, c in enumerate(cols, start=1):
        head = ws.cell(1, j)
        _write(head, c.label, style=st.HEADER)
        note = Comment(clean_text(f"{c.label} ({c.name})\n{c.note()}"), "gpucredit")
        note.width, note.height = 320, 140
        head.comment = note
        values = data[c.name].tolist() if c.name in data else []
        ws.column_dimensions[get_column_letter(j)].width = _width_for(c, values)
    ws.row_dimensions[1].height = 45
    for j, c in enumerate(cols, start=1):
        letter = get_column_letter(j)
        values = data[c.name].tolist() if c.name in data else []
        fmt = c.number_format
        for i in range(n):
            v = values[i] if i < len(values) else None
            _write(ws.cell(2 + i, j), v, fmt, st.INPUT)
        dv = _validation(c, f"{letter}2")
        if c.unique:
            dv = DataValidation(
                type="custom", allow_blank=True, showErrorMessage=True, errorStyle="stop",
                formula1=f"COUNTIF(${letter}$2:${letter}${VALIDATION_ROWS + 1},{letter}2)=1",
                errorTitle=c.label[:32], error=f"Enter {c.ask}."[:255])
        if dv is not None:
            dv.add(f"{letter}2:{letter}{VALIDATION_ROWS + 1}")
            ws.add_data_validation(dv)
    table = Table(displayName=TABLE_NAME, ref=f"A1:{last_col}{n + 1}")
    table.tableStyleInfo = TableStyleInfo(name="TableStyleMedium2", showRowStripes=True,
                                          showColumnStripes=False, showFirstColumn=False,
                                          showLastColumn=False)
    ws.add_table(table)
    ws.freeze_panes = "C2"
    st.print_setup(ws, landscape=True, title_rows="1:1")
    total = sum(ws.column_dimensions[get_column_letter(j)].width for j in range(1, len(cols) + 1))
    ws.page_setup.fitToWidth = max(1, math.ceil(total / 260))
    ws.print_title_cols = "A:B"


def _assumptions(wb: Workbook, values: dict | None) -> None:
    ws = wb.create_sheet("Assumptions")
    st.set_widths(ws, {1: 30, 2: 16, 3: 15, 4: 70, 5: 50, 6: 24, 7: 12, 8: 12, 9: 20})
    st.print_setup(ws, landscape=True)
    _write(ws["A1"], "Assumptions: market data for the whole tape", style=st.TITLE)
    _write(ws["A2"], "Each value is a named cell (its name is in column F). A blank takes the "
                     "default shown in the description.", style=st.NOTE)
    values = values or {}
    r = 3
    for group in schema.ASSUMPTION_GROUPS:
        fields = [a for a in schema.ASSUMPTIONS if a.group == group]
        if not fields:
            continue
        r += 1
        _write(ws.cell(r, 1), group, style=st.TITLE)
        r += 1
        st.style_header_row(ws, r, 1, ("Assumption", "Value", "Unit", "Description",
                                       "Source", "Named cell"))
        for a in fields:
            r += 1
            value = values.get(a.name, a.default)
            _write(ws.cell(r, 1), a.label)
            _write(ws.cell(r, 2), value, a.number_format if a.type != "enum" else None,
                   st.INPUT)
            _write(ws.cell(r, 3), a.unit, style=st.NOTE)
            desc = ws.cell(r, 4)
            _write(desc, a.note().replace("\n", " "))
            desc.alignment = Alignment(wrap_text=True, vertical="top")
            src = ws.cell(r, 5)
            _write(src, a.source, style=st.NOTE)
            src.alignment = Alignment(wrap_text=True, vertical="top")
            _write(ws.cell(r, 6), a.name, style=st.NOTE)
            _fit_height(ws, r)
            wb.defined_names[a.name] = DefinedName(a.name, attr_text=f"Assumptions!$B${r}")
            dv = _validation(a, f"B{r}")
            if dv is not None:
                dv.add(f"B{r}")
                ws.add_data_validation(dv)
    r += 2
    _write(ws.cell(r, 1), "GPU presets (gpucredit.presets): what a blank rent, power or curve "
                          "takes; for reference", style=st.TITLE)
    r += 1
    presets = presets_frame(sources=True).reset_index()
    heads = {"gpu_model": "Model", "architecture": "Architecture",
             "list_price_usd": "List price (USD)", "successors": "Successor volume dates",
             "curve_params": "Curve parameters", "curve_family": "Curve family",
             "kw_per_gpu": "kW per GPU", "launch_date": "Launch date",
             "rent_usd_per_hour": "Rent (USD/GPU-hour)"}
    fmts = {"list_price_usd": "#,##0", "kw_per_gpu": "0.000", "launch_date": st.DATE,
            "rent_usd_per_hour": "0.00"}
    keys = list(heads)
    first = r
    st.style_header_row(ws, r, 1, [heads[k] for k in keys])
    for row in presets.itertuples(index=False):
        r += 1
        for j, k in enumerate(keys, start=1):
            cell = ws.cell(r, j)
            _write(cell, getattr(row, k), fmts.get(k), st.CALC)
            if k == "successors":
                cell.alignment = Alignment(wrap_text=True, vertical="top")
    table = Table(displayName="GpuPresets", ref=f"A{first}:{get_column_letter(len(keys))}{r}")
    table.tableStyleInfo = TableStyleInfo(name="TableStyleLight9", showRowStripes=True)
    ws.add_table(table)
    r += 1
    for row in presets.itertuples():
        r += 1
        cell = ws.cell(r, 1)
        _write(cell, f"{row.gpu_model}: price - {row.source_list_price_usd}; power - "
                     f"{row.source_kw_per_gpu}; rent - {row.source_rent_usd_per_hour}; curve - "
                     f"{row.source_curve}", style=st.NOTE)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=6)
        _fit_height(ws, r, merged_to=6)


def _sources(wb: Workbook, deal_rows: Sequence[tuple] | None) -> None:
    ws = wb.create_sheet("Sources")
    st.set_widths(ws, {1: 16, 2: 34, 3: 84, 4: 44})
    st.print_setup(ws, landscape=True)
    _write(ws["A1"], "Sources: the public facts behind the defaults and the demo tape",
           style=st.TITLE)
    _write(ws["A2"], "Every calibration default names its source in the schema "
                     "(docs/tape.md); docs/sources.md collects the figures.", style=st.NOTE)
    r = 4
    if deal_rows:
        _write(ws.cell(r, 1), "Demo rows and the public fact each is modelled on",
               style=st.TITLE)
        r += 1
        st.style_header_row(ws, r, 1, ("Facility ID", "Tape row", "Modelled on (public fact)",
                                       "Source"))
        for row in deal_rows:
            r += 1
            for j, v in enumerate(row, start=1):
                cell = ws.cell(r, j)
                _write(cell, v)
                cell.alignment = Alignment(wrap_text=True, vertical="top")
            _fit_height(ws, r)
        r += 2
    _write(ws.cell(r, 1), "Public deals and calibration sources", style=st.TITLE)
    r += 1
    st.style_header_row(ws, r, 1, ("Key", "Topic", "Fact", "Source"))
    for key, topic, fact, source in PUBLIC_SOURCES:
        r += 1
        for j, v in enumerate((key, topic, fact, source), start=1):
            cell = ws.cell(r, j)
            _write(cell, v)
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        _fit_height(ws, r)


# ============================================================================== build

def tape_workbook(rows: pd.DataFrame | None = None, *, assumptions: dict | None = None,
                  deal_rows: Sequence[tuple] | None = None,
                  n_rows: int = TEMPLATE_ROWS,
                  market: pd.DataFrame | None = None) -> Workbook:
    """The tape workbook (Instructions, Tape, Assumptions, Sources, Market), empty or
    filled.

    Parameters
    ----------
    rows : DataFrame, optional
        Facilities to fill in, one column per schema name (missing columns stay blank);
        ``None`` for the empty template.
    assumptions : dict, optional
        Assumption name -> value for the Assumptions sheet (default: each one's default).
    deal_rows : sequence of tuples, optional
        (facility id, tape row, fact, source) for the Sources sheet of a filled tape.
    n_rows : int, default 200
        Empty rows of the template's table (ignored when ``rows`` is given).
    market : DataFrame, optional
        Market observations for the Market sheet (columns of
        :mod:`gpucredit.tape.market_schema`); ``recalc --market`` and ``calibrate`` read
        the sheet. None: the sheet is left for the analyst to fill.

    Returns
    -------
    openpyxl.Workbook
    """
    if rows is not None:
        unknown = [c for c in rows.columns if c not in {c.name for c in schema.COLUMNS}]
        if unknown:
            raise KeyError(f"rows has columns the tape schema does not know: {unknown}")
    wb = Workbook()
    st.add_named_styles(wb)
    wb.properties.creator = f"gpucredit {__version__}"
    wb.properties.title = "gpucredit loan tape" if rows is not None else \
        "gpucredit loan-tape template"
    wb.properties.created = BUILD_DATE
    wb.properties.modified = BUILD_DATE
    _instructions(wb, demo=rows is not None)
    _tape(wb, rows, n_rows)
    _assumptions(wb, assumptions)
    _sources(wb, deal_rows)
    add_market_sheet(wb, market)
    wb.active = 0
    return wb


def save_workbook(wb: Workbook, path) -> Path:
    """Save an openpyxl workbook whole or not at all, with reproducible bytes.

    The workbook is saved beside ``path`` under a temporary name, its package rewritten with
    fixed zip timestamps and document dates, and moved onto ``path`` only when complete.
    """
    path = Path(path)
    with staged_files() as staging:
        raw = staging.scratch(path)
        wb.save(raw)
        rewrite_package(raw, staging.output(path))
    return path


def build_tape_template(path, *, n_rows: int = TEMPLATE_ROWS) -> Path:
    """Write the empty loan-tape template.

    Parameters
    ----------
    path : str or Path
        The ``.xlsx`` file to write (replaced if it exists; its folder must exist).
    n_rows : int, default 200
        Empty rows of the tape table (it grows when rows are typed or pasted below it).

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import pathlib, tempfile, openpyxl
    >>> p = build_tape_template(pathlib.Path(tempfile.mkdtemp()) / "tape.xlsx")
    >>> wb = openpyxl.load_workbook(p)
    >>> wb.sheetnames
    ['Instructions', 'Tape', 'Assumptions', 'Sources', 'Market']
    >>> wb["Tape"]["A1"].value, list(wb["Tape"].tables)
    ('Facility ID', ['LoanTape'])
    >>> wb.defined_names["base_rate"].attr_text.startswith("Assumptions!$B$")
    True
    """
    return save_workbook(tape_workbook(n_rows=n_rows), path)
