"""The deal-model workbook: one GPU-backed loan, defined once and read through its handle.

Three sheets in the usual modelling conventions (see :mod:`gpucredit.excel.styles`):

* **Inputs** - every assumption once, blue on light yellow, each a defined name
  (``gpus``, ``rent0``, ``annual_rate`` ...) with its unit and source, and a data
  validation rule (a range, a whole number, a date or a list) that Excel enforces as the
  analyst types. Below them the facility as ``GPU_FACILITY`` reads it (field names and
  formulas pointing at the inputs) and one cell, ``facility``, holding
  ``=GPU_FACILITY(facility_fields, periods_per_year, start_date)``: the loan is defined
  once, evaluated once by the core, and every ``GPU_`` cell reads it through that handle.
* **Calcs** - time runs left to right (one column per period, with its period-end date),
  one formula per row (the same formula in every period column). The period table is
  ``GPU_FACILITY_SCHEDULE`` transposed (one array formula: revenue, CFADS, the debt
  schedule, DSCR, LLCR, collateral values, LTV); below it, green native-Excel checks
  compute the same lines independently from the inputs, so the analyst sees the
  arithmetic (trend rent, GPU-hours, the annuity by ``PMT``, DSCR = CFADS / debt service,
  the residual curve, LTV) and that the add-in agrees with it. The sheet has a fixed
  number of period columns (:data:`GRID_YEARS` years by default); the loan's periods
  follow its tenor (``n_periods = tenor_years x periods_per_year``): columns after the
  tenor are empty, and data validation holds the tenor to the columns there are, a limit
  stated on both sheets.
* **Outputs** - the metrics a credit committee asks for from ``GPU_FACILITY_METRICS``
  (minimum DSCR, LLCR, debt capacity at the sizing DSCR, WAL, breakeven rent, maximum
  LTV before and after the liquidation haircut ...), each beside its native check and
  their difference, every metric of the facility as a table, and line charts of DSCR,
  LTV and residual value.

Only plain ranges and defined names are used (no Excel tables or structured references),
so the workbook calculates in Excel with the add-in, in ``gpucredit recalc-workbook``
(the ``formulas`` engine) and - its native cells - in LibreOffice.

The native checks are a second, independent calculation of the same figures in plain
Excel (closed forms for the annuity, the trend rent and the exponential-with-floor
curve); they carry no result of their own into the ``GPU_`` cells.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from openpyxl import Workbook
from openpyxl.chart import LineChart, Reference
from openpyxl.chart.series import SeriesLabel
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.formula import ArrayFormula

from gpucredit import debt, presets
from gpucredit.errors import GpuCreditError
from gpucredit.excel import styles as st
from gpucredit.excel.files import staged_files
from gpucredit.udfs import METRIC_FIELDS

__all__ = ["GRID_YEARS", "INPUTS", "InputSpec", "build_model_workbook"]

FIRST_COL = 3
"""Column of period 1 on the Calcs sheet (A: labels, B: units)."""

_SECTION = Font(name="Calibri", size=11, bold=True)
"""Section headings: bold, in the workbook's font."""

GRID_YEARS = 7
"""Years of period columns the Calcs sheet has by default: room for the tenor to grow
from the illustrative five years without a new model (longer loans: ``columns``)."""


@dataclass(frozen=True)
class InputSpec:
    """One input of the deal model: its defined name, label, value, unit and source."""

    name: str
    label: str
    value: object
    unit: str
    fmt: str | None
    source: str


# The illustrative deal: an H100 fleet financed like CoreWeave's DDTL 2.0 (docs/sources.md).
INPUTS: tuple[tuple[str, tuple[InputSpec, ...]], ...] = (
    ("Fleet", (
        InputSpec("gpu_model", "GPU model", "H100", "", None,
                  "Illustrative; =GPU_PRESET(gpu_model) shows the preset"),
        InputSpec("gpus", "GPUs", 4096, "GPUs", st.INTEGER, "Illustrative fleet size"),
        InputSpec("cost_per_gpu", "Cost per GPU", 30000, "USD", st.USD,
                  "gpucredit H100 preset: between used $22-28k and the $40k+ peak"),
        InputSpec("age0", "Age at the start", 0.0, "years", st.NUMBER, "New GPUs"),
        InputSpec("economic_life_years", "Economic life", 5.0, "years", st.NUMBER,
                  "docs/sources.md: hyperscalers depreciate GPUs over 5-6 years"),
    )),
    ("Timing", (
        InputSpec("start_date", "Closing date", dt.datetime(2026, 6, 30), "", st.DATE,
                  "Illustrative; period ends are month ends from it"),
        InputSpec("periods_per_year", "Periods a year", 4, "", st.INTEGER, "Quarterly"),
        InputSpec("tenor_years", "Tenor", 5, "years", st.INTEGER,
                  "Illustrative (CoreWeave DDTL 2.0 runs five years)"),
    )),
    ("Revenue", (
        InputSpec("rent0", "Market rent today", 2.42, "USD / GPU-hour", st.USD_CENTS,
                  "H100 spot mid-2026 (SemiAnalysis, trade press; docs/sources.md)"),
        InputSpec("rent_deflation", "Annual rent deflation", 0.20, "a year", st.PCT1,
                  "docs/sources.md: inference unit cost falls 20-40% a year"),
        InputSpec("utilization", "Utilization of merchant GPUs", 0.80, "", st.PCT1,
                  "Illustrative"),
        InputSpec("contracted_share", "Share of GPUs under contract", 0.60, "", st.PCT1,
                  "Illustrative take-or-pay share"),
        InputSpec("contract_rate", "Contract rate", 2.65, "USD / GPU-hour", st.USD_CENTS,
                  "H100 one-year contract mid-2026 (docs/sources.md)"),
        InputSpec("contract_periods", "Contract runs for", 8, "periods", st.INTEGER,
                  "Illustrative: two years"),
    )),
    ("Costs", (
        InputSpec("kw_per_gpu", "Power per GPU, all-in", 1.3, "kW", st.NUMBER,
                  "DGX H100 about 10.2 kW for 8 GPUs (docs/sources.md)"),
        InputSpec("pue", "PUE", 1.3, "", st.NUMBER, "docs/sources.md: 1.1-1.2 hyperscale, "
                  "1.4-1.6 typical"),
        InputSpec("price_per_kwh", "Electricity price", 0.08, "USD / kWh", st.USD_CENTS,
                  "About the US industrial average 2024 (EIA)"),
        InputSpec("colocation_per_kw_month", "Colocation", 184.0, "USD / kW-month", st.USD,
                  "CBRE North America H2-2024 asking rate (docs/sources.md)"),
        InputSpec("other_opex_per_gpu_year", "Other cash opex", 1000.0, "USD / GPU-year",
                  st.USD, "Illustrative (staff, network, insurance)"),
        InputSpec("maintenance_capex_per_gpu_year", "Maintenance capex", 0.0,
                  "USD / GPU-year", st.USD, "Illustrative"),
    )),
    ("Debt", (
        InputSpec("loan_amount", "Loan amount", 73_728_000.0, "USD", st.USD,
                  "60% of fleet cost (illustrative advance rate)"),
        InputSpec("annual_rate", "Interest rate (nominal annual)", 0.11, "a year", st.PCT,
                  "CoreWeave DDTL 2.0 about 11% effective (docs/sources.md)"),
        InputSpec("amortization", "Repayment profile", "annuity", "", None,
                  "annuity, straight_line or bullet (the native check follows each)"),
        InputSpec("target_dscr", "Sizing DSCR", 1.30, "x", st.MULTIPLE,
                  "Sizing cases are often 1.20-1.40x"),
        InputSpec("covenant_dscr", "Lock-up DSCR covenant", 1.20, "x", st.MULTIPLE,
                  "docs/sources.md: lock-up 1.10-1.25x"),
    )),
    ("Collateral", (
        InputSpec("curve_family", "Residual-value curve", "exponential_floor", "", None,
                  "docs/sources.md fit to the practitioner resale curve (its parameters "
                  "are the two below)"),
        InputSpec("curve_lam", "Curve decay (lambda)", 0.46, "a year", st.NUMBER,
                  "docs/sources.md: lambda about 0.46"),
        InputSpec("curve_floor", "Curve floor", 0.03, "of cost", st.PCT1,
                  "docs/sources.md: floor about 3%"),
        InputSpec("market_absorption", "Secondary market absorbs", 2000.0, "GPUs / month",
                  st.INTEGER, "Illustrative (our estimate)"),
        InputSpec("months_to_sell", "Liquidation horizon", 6.0, "months", st.NUMBER,
                  "Illustrative"),
        InputSpec("install_haircut", "Installation-dependency discount", 0.15, "", st.PCT1,
                  "docs/sources.md: 10-25% where buyers need liquid cooling"),
        InputSpec("sale_cost_rate", "De-installation and sale costs", 0.05, "", st.PCT1,
                  "docs/sources.md: 3-8%"),
    )),
    ("Pricing", (
        InputSpec("quoted_spread", "Quoted spread", 0.06, "a year", st.PCT,
                  "CoreWeave DDTL 2.0: SOFR + 6.00-6.50% (docs/sources.md)"),
        InputSpec("recovery", "Recovery rate", 0.40, "", st.PCT1,
                  "Illustrative (a market convention)"),
    )),
)


def _validation_rules() -> dict[str, tuple]:
    """Data validation of each input: (type, operator, formula1, formula2, prompt).

    Ranges are the ones the core accepts (shares in [0, 1], rates below 100% ...); lists
    come from the core's own tables (GPU presets, repayment profiles). The tenor and
    periods a year are held to the Calcs sheet's ``{columns}`` period columns.
    """
    share = ("decimal", "between", "0", "1", "a share from 0 to 1 (0% to 100%)")
    positive = ("decimal", "greaterThan", "0", None, "a number above 0")
    non_negative = ("decimal", "greaterThanOrEqual", "0", None, "a number of 0 or more")
    rules = {spec.name: non_negative for _, specs in INPUTS for spec in specs}
    grid = ("{cell}*{other}<={columns},MOD({cell}*{other},1)=0")

    def listed(values):
        return ("list", None, '"' + ",".join(values) + '"', None,
                "one of " + ", ".join(values))

    rules.update({
        "gpu_model": listed(list(presets.PRESETS)),
        "amortization": listed([k for k in debt.KINDS if k != "custom"]),
        "curve_family": listed(["exponential_floor"]),
        "gpus": ("whole", "greaterThan", "0", None, "a whole number of GPUs above 0"),
        "cost_per_gpu": positive, "rent0": positive, "kw_per_gpu": positive,
        "economic_life_years": positive,
        "contract_periods": ("whole", "between", "0", "n_periods",
                             "a whole number of periods from 0 to the tenor"),
        "start_date": ("date", "greaterThan", "1", None, "a date"),
        "periods_per_year": ("custom", None, "AND(OR({cell}=1,{cell}=2,{cell}=4,{cell}=12),"
                             + grid.replace("{other}", "tenor_years") + ")", None,
                             "1, 2, 4 or 12, with tenor x periods a year a whole number of "
                             "at most {columns}, the Calcs sheet's period columns"),
        "tenor_years": ("custom", None, "AND({cell}>0,"
                        + grid.replace("{other}", "periods_per_year") + ")", None,
                        "years, with tenor x periods a year a whole number of at most "
                        "{columns}, the Calcs sheet's period columns (a longer loan is a "
                        "new model)"),
        "rent_deflation": ("decimal", "between", "0", "0.99", "a share a year from 0 to 0.99"),
        "utilization": share, "contracted_share": share, "install_haircut": share,
        "sale_cost_rate": share, "curve_floor": share, "recovery": share,
        "pue": ("decimal", "between", "1", "3", "a PUE from 1 to 3"),
        "annual_rate": ("decimal", "between", "0", "1", "an annual rate from 0 to 1"),
        "quoted_spread": ("decimal", "between", "0", "1", "a spread a year from 0 to 1"),
        "target_dscr": positive, "covenant_dscr": ("decimal", "greaterThan", "1.05", None,
                                                   "a DSCR above 1.05x (the default "
                                                   "covenant)"),
        "loan_amount": positive, "market_absorption": positive, "months_to_sell": positive,
    })
    return rules


def build_model_workbook(path, *, periods_per_year: int = 4, tenor_years: int = 5,
                         columns: int | None = None) -> Path:
    """Write the deal-model workbook.

    Parameters
    ----------
    path : str or Path
        Where to write it (``.xlsx``); written to a temporary file beside it first and
        renamed, so it appears whole or not at all.
    periods_per_year : {1, 2, 4, 12}, default 4
        The model's grid, written as the ``periods_per_year`` input.
    tenor_years : int, default 5
        The loan's tenor in years, written as the ``tenor_years`` input.
    columns : int, optional
        Period columns on the Calcs sheet: the longest loan the workbook can model
        (``tenor_years x periods_per_year`` may not exceed it; data validation holds it
        there). Default :data:`GRID_YEARS` years of periods, or the tenor if longer.

    Returns
    -------
    Path
        The path written.

    Examples
    --------
    >>> import tempfile, pathlib, openpyxl
    >>> out = build_model_workbook(pathlib.Path(tempfile.mkdtemp()) / "model.xlsx")
    >>> openpyxl.load_workbook(out).sheetnames
    ['Inputs', 'Calcs', 'Outputs']
    """
    m, tenor = periods_per_year, tenor_years
    if m not in (1, 2, 4, 12):
        raise GpuCreditError(f"periods_per_year must be 1, 2, 4 or 12, got {m!r}",
                             argument="periods_per_year", value=m)
    if not isinstance(tenor, int) or tenor < 1:
        raise GpuCreditError(f"tenor_years must be a whole number of years, got {tenor!r}",
                             argument="tenor_years", value=tenor)
    n = max(GRID_YEARS * m, tenor * m) if columns is None else columns
    if not isinstance(n, int) or not 2 <= n <= 240:
        raise GpuCreditError(f"columns must be a whole number from 2 to 240, got {n!r}",
                             argument="columns", value=n)
    if tenor * m > n:
        raise GpuCreditError(f"the tenor ({tenor} years) x periods a year ({m}) = "
                             f"{tenor * m} periods does not fit in {n} columns",
                             argument="columns", value=n)
    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise GpuCreditError(f"the deal model is an .xlsx workbook, got {path.name}",
                             argument="path", value=str(path))
    wb = _workbook(n, {"periods_per_year": m, "tenor_years": tenor,
                       "contract_periods": min(_default("contract_periods"), tenor * m)})
    path.parent.mkdir(parents=True, exist_ok=True)
    with staged_files() as staging:
        tmp = staging.output(path)
        wb.save(tmp)
        st.fix_font_order(tmp)
    return path


def _default(name: str):
    return next(spec.value for _, specs in INPUTS for spec in specs if spec.name == name)


# =============================================================================== building

class _Names:
    """Defined names of the workbook, added as the sheets are laid out."""

    def __init__(self, wb: Workbook):
        self.wb = wb

    def add(self, name: str, sheet: str, ref: str) -> None:
        self.wb.defined_names[name] = DefinedName(name, attr_text=f"{sheet}!{ref}")


def _workbook(n: int, values: dict) -> Workbook:
    wb = Workbook()
    st.add_named_styles(wb)
    names = _Names(wb)
    inputs = wb.active
    inputs.title = "Inputs"
    calcs = wb.create_sheet("Calcs")
    outputs = wb.create_sheet("Outputs")
    _inputs_sheet(inputs, names, n, values)
    rows = _calcs_sheet(calcs, names, n)
    _outputs_sheet(outputs, calcs, rows, n)
    wb.calculation.fullCalcOnLoad = True
    for ws in (inputs, calcs, outputs):
        _footer(ws)
    st.print_setup(inputs, landscape=True, title_rows="4:4")
    st.print_setup(calcs, landscape=True, fit_height=1,
                   title_rows=f"{rows['period']}:{rows['period_end']}")
    calcs.page_setup.fitToWidth = 0  # as many pages wide as the periods need, one tall
    calcs.print_title_cols = "A:B"  # labels and units on every page
    st.print_setup(outputs, landscape=True, fit_height=1)
    return wb


def _footer(ws) -> None:
    """A4 paper, the sheet's name and page number in the footer."""
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.oddFooter.left.text = "&A"
    ws.oddFooter.right.text = "Page &P of &N"


def _grid_note(n: int) -> str:
    return (f"The Calcs sheet has {n} period columns: tenor x periods a year may be at most "
            f"{n} (data validation holds it there); columns after the tenor stay empty.")


def _inputs_sheet(ws, names: _Names, n: int, values: dict) -> None:
    ws["A1"] = "GPU-backed loan: deal model"
    st.style_cell(ws["A1"], st.TITLE)
    ws["A2"] = ("Inputs are blue on yellow; every input is a defined name. The facility is "
                "defined once below (GPU_FACILITY) and read through its handle by the Calcs "
                "and Outputs sheets, each GPU_ figure checked by a native formula.")
    st.style_cell(ws["A2"], st.NOTE)
    ws["A3"] = _grid_note(n)
    st.style_cell(ws["A3"], st.NOTE)
    st.style_header_row(ws, 4, 1, ["Input", "Value", "Unit", "Name", "Source"])
    rules = _validation_rules()
    r = 5
    for section, specs in INPUTS:
        ws.cell(r, 1, section).font = _SECTION
        r += 1
        for spec in specs:
            cell = _input_row(ws, r, spec, values.get(spec.name, spec.value))
            names.add(spec.name, "Inputs", f"$B${r}")
            _validate(ws, cell, rules[spec.name], n)
            r += 1
        r += 1
    r = _derived_rows(ws, names, r, n)
    _facility_rows(ws, names, r + 1)
    st.set_widths(ws, {1: 34, 2: 22, 3: 16, 4: 30, 5: 70})
    ws.freeze_panes = "A5"


def _input_row(ws, r: int, spec: InputSpec, value):
    ws.cell(r, 1, spec.label)
    cell = ws.cell(r, 2, value)
    st.style_cell(cell, st.INPUT, spec.fmt)
    ws.cell(r, 3, spec.unit)
    st.style_cell(ws.cell(r, 4, spec.name), st.NOTE)
    st.style_cell(ws.cell(r, 5, spec.source), st.NOTE)
    return cell


def _derived_rows(ws, names: _Names, r: int, n: int) -> int:
    ws.cell(r, 1, "Derived").font = _SECTION
    r += 1
    derived = (
        ("n_periods", "Periods modelled (the loan's tenor)", "=tenor_years*periods_per_year",
         "periods", st.INTEGER, f"Tenor x periods a year; at most {n}, the Calcs sheet's "
         "period columns"),
        ("rate_per_period", "Interest rate per period", "=annual_rate/periods_per_year",
         "a period", st.RATE, "Native checks use rates per period, as PMT does"),
        ("hours_per_period", "Hours in a period", "=8760/periods_per_year", "hours",
         st.NUMBER, "8,760 hours a year (gpucredit.periods)"),
    )
    for name, label, value, unit, fmt, note in derived:
        ws.cell(r, 1, label)
        st.style_cell(ws.cell(r, 2, value), st.CALC, fmt)
        ws.cell(r, 3, unit)
        st.style_cell(ws.cell(r, 4, name), st.NOTE)
        st.style_cell(ws.cell(r, 5, note), st.NOTE)
        names.add(name, "Inputs", f"$B${r}")
        r += 1
    return r


# GPU_FACILITY's fields (gpucredit.model.Facilities) and the inputs that fill them.
FACILITY_FIELDS: tuple[tuple[str, str], ...] = (
    ("gpus", "=gpus"), ("gpu_unit_cost", "=cost_per_gpu"), ("age0", "=age0"),
    ("economic_life_years", "=economic_life_years"), ("merchant_rent", "=rent0"),
    ("rent_deflation", "=rent_deflation"), ("utilization", "=utilization"),
    ("contracted_share", "=contracted_share"), ("contract_rate", "=contract_rate"),
    ("contract_periods", "=contract_periods"), ("kw_per_gpu", "=kw_per_gpu"),
    ("pue", "=pue"), ("power_price", "=price_per_kwh"),
    ("colocation_rate", "=colocation_per_kw_month"),
    ("other_opex", "=other_opex_per_gpu_year"),
    ("maintenance_capex", "=maintenance_capex_per_gpu_year"), ("tax_rate", "0"),
    ("debt", "=loan_amount"), ("annual_rate", "=annual_rate"), ("tenor", "=n_periods"),
    ("amortization", "=amortization"), ("target_dscr", "=target_dscr"),
    ("dscr_lockup", "=covenant_dscr"), ("residual_curve", "=curve_family"),
    ("lam", "=curve_lam"), ("floor", "=curve_floor"),
    ("market_absorption", "=market_absorption"), ("liquidation_months", "=months_to_sell"),
    ("install_haircut", "=install_haircut"), ("sale_costs", "=sale_cost_rate"),
)


def _facility_rows(ws, names: _Names, r: int) -> None:
    """The facility as GPU_FACILITY reads it, and the one cell holding its handle."""
    ws.cell(r, 1, "Facility (what GPU_FACILITY reads: fields from the inputs above)").font = \
        _SECTION
    formats = {spec.name: spec.fmt for _, specs in INPUTS for spec in specs}
    ws.cell(r + 1, 1, "Handle")
    handle = ws.cell(r + 1, 2, "=GPU_FACILITY(facility_fields,periods_per_year,start_date)")
    st.style_cell(handle, st.CALC)
    st.style_cell(ws.cell(r + 1, 4, "facility"), st.NOTE)
    st.style_cell(ws.cell(r + 1, 5, "Every GPU_FACILITY_ cell reads the loan through this "
                                    "handle; it changes whenever an input does"), st.NOTE)
    names.add("facility", "Inputs", f"$B${r + 1}")
    first = r + 2
    for i, (field, formula) in enumerate(FACILITY_FIELDS):
        st.style_cell(ws.cell(first + i, 1, field), st.NOTE)
        value = float(formula) if not formula.startswith("=") else formula
        fmt = formats.get(formula.removeprefix("="), st.INTEGER if field == "tenor" else None)
        st.style_cell(ws.cell(first + i, 2, value), st.CALC, fmt)
        if field == "tax_rate":
            st.style_cell(ws.cell(first + i, 5, "No cash tax in this model"), st.NOTE)
    last = first + len(FACILITY_FIELDS) - 1
    names.add("facility_fields", "Inputs", f"$A${first}:$B${last}")


def _validate(ws, cell, rule: tuple, n_columns: int) -> None:
    """Attach one input's data validation (see :func:`_validation_rules`)."""
    kind, operator, f1, f2, prompt = rule
    f1 = f1.format(cell=cell.coordinate, columns=n_columns)
    prompt = prompt.format(columns=n_columns)
    dv = DataValidation(type=kind, operator=operator, formula1=f1, formula2=f2,
                        allow_blank=False, showErrorMessage=True, showInputMessage=True,
                        errorTitle="gpucredit deal model", error=f"Enter {prompt}.",
                        promptTitle="Allowed", prompt=f"Enter {prompt}."[:255])
    ws.add_data_validation(dv)
    dv.add(cell)


# =============================================================================== Calcs

# GPU_FACILITY_SCHEDULE's columns, transposed into rows: (key, label, unit, format).
SCHEDULE_ROWS: tuple[tuple[str, str, str, str], ...] = (
    ("s_period", "Period (the schedule's own)", "", st.INTEGER),
    ("s_period_end", "Period end (the schedule's own)", "date", st.DATE),
    ("revenue", "Revenue", "USD", st.USD),
    ("opex", "Opex", "USD", st.USD),
    ("mcapex", "Maintenance capex", "USD", st.USD),
    ("tax", "Tax", "USD", st.USD),
    ("cfads", "CFADS", "USD", st.USD),
    ("opening", "Opening balance", "USD", st.USD),
    ("draw", "Draw", "USD", st.USD),
    ("interest", "Interest", "USD", st.USD),
    ("principal", "Principal", "USD", st.USD),
    ("sweep", "Sweep", "USD", st.USD),
    ("balloon", "Balloon", "USD", st.USD),
    ("debt_service", "Debt service", "USD", st.USD),
    ("closing", "Closing balance", "USD", st.USD),
    ("dscr", "DSCR", "x", st.MULTIPLE),
    ("llcr", "LLCR", "x", st.MULTIPLE),
    ("residual", "Residual value", "of cost", st.PCT1),
    ("market_value", "Market value", "USD", st.USD),
    ("liq_value", "Liquidation value", "USD", st.USD),
    ("ltv", "LTV (market)", "", st.PCT1),
    ("ltv_liq", "LTV (liquidation)", "", st.PCT1),
    ("lgd", "LGD", "", st.PCT1),
)

_PERIOD = '=IF({c}{period}="","",{formula})'
"""A native row's formula: empty after the tenor (the period row is empty there)."""


def _native_rows() -> list[tuple]:
    """Native rows: (key, label, unit, kind, formula, format); {c} is the column, {p} the
    previous one, {r} the row, {key} another row's number."""
    hours = "hours_per_period"

    def on(formula):
        return _PERIOD.replace("{formula}", formula)

    return [
        ("rent_chk", "Market rent: rent0 x (1 - deflation)^((t-1)/m)", "USD / GPU-hour",
         "check", on("rent0*(1-rent_deflation)^(({c}{period}-1)/periods_per_year)"),
         st.USD_CENTS),
        ("share", "Share of GPUs under contract", "", "check",
         on("IF({c}{period}<=contract_periods,contracted_share,0)"), st.PCT1),
        ("mhours_chk", "Merchant GPU-hours: GPUs x (1 - share) x utilization x hours",
         "GPU-hours", "check",
         on(f"gpus*(1-{{c}}{{share}})*utilization*{hours}"), st.INTEGER),
        ("revenue_chk", "Revenue: contracted + merchant", "USD", "check",
         on(f"gpus*{{c}}{{share}}*{hours}*contract_rate+{{c}}{{mhours_chk}}*{{c}}{{rent_chk}}"),
         st.USD),
        ("cfads_chk", "CFADS: revenue - power - colocation - opex - capex", "USD", "check",
         on(f"{{c}}{{revenue_chk}}-gpus*kw_per_gpu*pue*{hours}*price_per_kwh"
            "-gpus*kw_per_gpu*colocation_per_kw_month*12/periods_per_year"
            "-gpus*(other_opex_per_gpu_year+maintenance_capex_per_gpu_year)/periods_per_year"),
         st.USD),
        ("other", "Other CFADS: CFADS - merchant revenue", "USD", "check",
         on("{c}{cfads_chk}-{c}{mhours_chk}*{c}{rent_chk}"), st.USD),
        ("opening_chk", "Opening balance: loan, then last closing", "USD", "check",
         on("IF({c}{period}=1,loan_amount,{p}{closing_chk})"), st.USD),
        ("interest_chk", "Interest: opening x rate per period", "USD", "check",
         on("{c}{opening_chk}*rate_per_period"), st.USD),
        ("principal_chk", "Principal: annuity PMT - interest; straight line opening / "
         "periods left; bullet all at the end", "USD", "check",
         on('IF(amortization="straight_line",{c}{opening_chk}/(n_periods-{c}{period}+1),'
            'IF(amortization="bullet",IF({c}{period}=n_periods,{c}{opening_chk},0),'
            "PMT(rate_per_period,n_periods,-loan_amount)-{c}{interest_chk}))"), st.USD),
        ("balloon_chk", "Balloon: a bullet's final principal, refinanced (not in DSCR)", "USD",
         "check", on('IF(AND(amortization="bullet",{c}{period}=n_periods),'
                     "{c}{principal_chk},0)"), st.USD),
        ("ds_chk", "Debt service: interest + principal - balloon", "USD", "check",
         on("{c}{interest_chk}+{c}{principal_chk}-{c}{balloon_chk}"), st.USD),
        ("closing_chk", "Closing balance: opening - principal", "USD", "check",
         on("{c}{opening_chk}-{c}{principal_chk}"), st.USD),
        ("dscr_chk", "DSCR = CFADS / debt service", "x", "check",
         on('IF({c}{ds_chk}=0,"",{c}{cfads_chk}/{c}{ds_chk})'), st.MULTIPLE),
        ("covenant", "Lock-up covenant", "x", "check", on("covenant_dscr"), st.MULTIPLE),
        ("breach_chk", "Period number where DSCR is below the lock-up covenant", "", "check",
         on('IF(AND(ISNUMBER({c}{dscr_chk}),{c}{dscr_chk}<{c}{covenant}),{c}{period},"")'),
         st.INTEGER),
        ("rent_needed", "Rent needed for DSCR 1.00x: (debt service - other) / GPU-hours",
         "USD / GPU-hour", "check",
         on("MAX(0,({c}{ds_chk}-{c}{other})/{c}{mhours_chk})"), st.USD_CENTS),
        ("residual_chk", "Residual value: floor + (1 - floor) e^(-lambda age)", "of cost",
         "check", on("curve_floor+(1-curve_floor)*EXP(-curve_lam*{c}{age})"), st.PCT1),
        ("market_value_chk", "Market value: GPUs x cost x residual", "USD", "check",
         on("gpus*cost_per_gpu*{c}{residual_chk}"), st.USD),
        ("ltv_chk", "LTV: (opening balance + interest) / market value", "", "check",
         on('IF({c}{market_value_chk}=0,"",({c}{opening_chk}+{c}{interest_chk})'
            "/{c}{market_value_chk})"), st.PCT1),
    ]


def _time_rows() -> list[tuple]:
    return [
        ("period", "Period", "", "native",
         '=IF(COLUMNS($B{r}:{p}{r})<=n_periods,COLUMNS($B{r}:{p}{r}),"")', st.INTEGER),
        ("period_end", "Period end", "date", "native",
         _PERIOD.replace("{formula}", "EOMONTH(start_date,{c}{period}*12/periods_per_year)"),
         st.DATE),
        ("age", "Asset age at period end", "years", "native",
         _PERIOD.replace("{formula}", "age0+{c}{period}/periods_per_year"), st.NUMBER),
    ]


def _layout(n: int) -> tuple[list[tuple], dict[str, int]]:
    """Every Calcs row in order, as (key, label, unit, kind, formula, format), and the
    row number of each key."""
    specs = _time_rows()
    specs.append(("h_fac", "Facility: GPU_FACILITY_SCHEDULE(facility, FALSE, "
                  f"{n}), transposed - one line per row, empty after the tenor", None,
                  "head", None, None))
    specs += [(key, label, unit, "schedule", None, fmt) for key, label, unit, fmt in
              SCHEDULE_ROWS]
    specs.append(("h_chk", "Native checks: plain Excel from the inputs, independent of the "
                  "add-in", None, "head", None, None))
    specs += _native_rows()
    rows, r = {}, 4
    for spec in specs:
        if spec[3] == "head":
            r += 1  # a blank row above each section
        rows[spec[0]] = r
        r += 1
    return specs, rows


_CALC_NAMES = ("period", "period_end", "cfads", "debt_service", "dscr", "principal", "mhours_chk",
               "residual", "ltv", "ltv_liq", "cfads_chk", "ds_chk", "dscr_chk", "breach_chk",
               "principal_chk", "rent_needed", "ltv_chk", "covenant")


def _calcs_sheet(ws, names: _Names, n: int) -> dict[str, int]:
    specs, rows = _layout(n)
    first, last = get_column_letter(FIRST_COL), get_column_letter(FIRST_COL + n - 1)
    ws["A1"] = "Calculations - time runs left to right, one formula per row"
    st.style_cell(ws["A1"], st.TITLE)
    ws["A2"] = ("Black rows: the facility's period table from the gpucredit add-in "
                "(GPU_FACILITY_SCHEDULE). Green rows: the same lines in plain Excel.")
    st.style_cell(ws["A2"], st.NOTE)
    ws["A3"] = _grid_note(n)
    st.style_cell(ws["A3"], st.NOTE)
    top = rows[SCHEDULE_ROWS[0][0]]
    ws.cell(top, FIRST_COL).value = ArrayFormula(
        f"{first}{top}:{last}{top + len(SCHEDULE_ROWS) - 1}",
        f"=TRANSPOSE(GPU_FACILITY_SCHEDULE(facility,FALSE,{n}))")
    for key, label, unit, kind, formula, fmt in specs:
        _calc_row(ws, rows, n, key, label, unit, kind, formula, fmt)
    for key in _CALC_NAMES:
        names.add(key, "Calcs", f"${first}${rows[key]}:${last}${rows[key]}")
    st.set_widths(ws, {1: 58, 2: 14, **{FIRST_COL + j: 13 for j in range(n)}})
    ws.freeze_panes = ws.cell(rows["period_end"] + 1, FIRST_COL)
    return rows


def _calc_row(ws, rows, n, key, label, unit, kind, formula, fmt) -> None:
    r = rows[key]
    if kind == "head":
        ws.cell(r, 1, label).font = _SECTION
        return
    ws.cell(r, 1, label)
    st.style_cell(ws.cell(r, 2, unit), st.NOTE)
    style = st.CHECK if kind == "check" else st.CALC
    for j in range(n):
        cell = ws.cell(r, FIRST_COL + j)
        if formula is not None:
            c, p = get_column_letter(FIRST_COL + j), get_column_letter(FIRST_COL + j - 1)
            cell.value = formula.format(c=c, p=p, r=r, **rows)
        st.style_cell(cell, style, fmt)


# =============================================================================== Outputs

def _metric(field: str) -> str:
    return f'=GPU_FACILITY_METRICS(facility,"{field}")'


_OUTPUTS = (
    # label, GPU_ formula, native check formula, format, note
    ("Minimum DSCR", _metric("min_dscr"), "=MIN(dscr_chk)", st.MULTIPLE, ""),
    ("Average DSCR", _metric("avg_dscr"), "=AVERAGE(dscr_chk)", st.MULTIPLE,
     "Over the periods with debt service"),
    ("Periods below the lock-up covenant", '=COUNTIF(dscr,"<"&covenant_dscr)',
     '=COUNTIF(dscr_chk,"<"&covenant_dscr)', st.INTEGER, ""),
    ("First period below the lock-up covenant", _metric("first_breach_lockup"),
     "=IF(COUNT(breach_chk)=0,0,MIN(breach_chk))",
     st.INTEGER, "0: never"),
    ("LLCR at period 1", _metric("llcr"), "=NPV(rate_per_period,cfads_chk)/loan_amount",
     st.MULTIPLE, "PV of CFADS to maturity at the debt rate / loan"),
    ("Debt capacity at the sizing DSCR", _metric("debt_capacity"),
     "=NPV(rate_per_period,cfads_chk)/target_dscr", st.USD,
     "Sculpted: PV of CFADS / target (check valid while CFADS >= 0)"),
    ("Weighted average life", _metric("wal_years"),
     "=SUMPRODUCT(period,principal_chk)/SUM(principal_chk)/periods_per_year",
     st.NUMBER, "Years"),
    ("Breakeven market rent (min DSCR 1.00x)", _metric("breakeven_rent"),
     "=MAX(rent_needed)", st.USD_CENTS, "Flat rent on merchant GPU-hours, USD per GPU-hour"),
    ("Maximum LTV on market value", _metric("max_ltv_market"), "=MAX(ltv_chk)", st.PCT1,
     "Debt and the period's interest / market value"),
    ("Maximum LTV after the liquidation haircut", _metric("max_ltv_liquidation"), "",
     st.PCT1, "Forced sale: time to sell, price impact, install discount, costs"),
    ("Hazard rate implied by the quoted spread", "=GPU_HAZARD_RATE(quoted_spread,recovery)",
     "=quoted_spread/(1-recovery)", st.PCT, "Credit triangle: spread / (1 - recovery)"),
    ("Cumulative PD over the tenor", "=1-EXP(-B{hazard}*n_periods/periods_per_year)",
     "=1-EXP(-C{hazard}*n_periods/periods_per_year)", st.PCT,
     "Constant hazard rate"),
)


def _outputs_sheet(ws, calcs, rows: dict[str, int], n: int) -> None:
    ws["A1"] = "Outputs"
    st.style_cell(ws["A1"], st.TITLE)
    ws["A2"] = ("Column B: the facility's metrics from the add-in (GPU_FACILITY_METRICS). "
                "Column C: the same figure in plain Excel. Column D: their difference.")
    st.style_cell(ws["A2"], st.NOTE)
    st.style_header_row(ws, 4, 1, ["Metric", "GPU_ functions", "Native check", "Difference",
                                   "Note"])
    hazard_row = 5 + [o[0] for o in _OUTPUTS].index("Hazard rate implied by the quoted spread")
    r = 5
    for label, gpu, native, fmt, note in _OUTPUTS:
        ws.cell(r, 1, label)
        st.style_cell(ws.cell(r, 2, gpu.format(hazard=hazard_row)), st.CALC, fmt)
        if native:
            st.style_cell(ws.cell(r, 3, native.format(hazard=hazard_row)), st.CHECK, fmt)
            st.style_cell(ws.cell(r, 4, f"=B{r}-C{r}"), st.CHECK, "0.00E+00")
        st.style_cell(ws.cell(r, 5, note), st.NOTE)
        r += 1
    r += 1
    ws.cell(r, 1, "GPU_ functions agree with the native checks")
    diffs = ",".join(f"ABS(D{i})/MAX(1,ABS(C{i}))" for i in range(5, r - 1)
                     if ws.cell(i, 4).value)
    st.style_cell(ws.cell(r, 2, f'=IF(MAX({diffs})<0.000001,"OK","CHECK")'), st.CHECK)
    st.style_cell(ws.cell(r, 5, "OK when every difference in column D is below 0.000001 "
                                "(relative above 1)"), st.NOTE)
    _metrics_table(ws)
    st.set_widths(ws, {1: 44, 2: 18, 3: 18, 4: 14, 5: 52, 7: 26, 8: 16})
    _charts(ws, calcs, rows, n, r + 2)


def _metric_format(key: str) -> str:
    """Number format of one facility metric, from its name."""
    if key.startswith("breakeven_rent"):
        return st.USD_CENTS
    if key.startswith("first_"):
        return st.INTEGER
    if "dscr" in key or "llcr" in key or "plcr" in key:
        return st.MULTIPLE
    if any(w in key for w in ("ltv", "lgd", "haircut", "pct", "utilization", "deflation")):
        return st.PCT1
    if key in ("debt", "min_headroom_usd", "debt_capacity", "market_value",
               "liquidation_value", "borrowing_base", "required_prepayment", "balloon"):
        return st.USD
    return st.NUMBER


def _metrics_table(ws) -> None:
    """Every metric of the facility (GPU_FACILITY_METRICS without a field), beside."""
    ws.cell(3, 7, "Every metric of the facility").font = _SECTION
    last = 4 + len(METRIC_FIELDS)
    ws.cell(4, 7).value = ArrayFormula(f"G4:H{last}", "=GPU_FACILITY_METRICS(facility)")
    st.style_cell(ws.cell(4, 7), st.HEADER)
    st.style_cell(ws.cell(4, 8), st.HEADER)
    for i, key in enumerate(METRIC_FIELDS, start=5):
        st.style_cell(ws.cell(i, 7), st.CALC)
        st.style_cell(ws.cell(i, 8), st.CALC, _metric_format(key))


def _charts(ws, calcs, rows: dict[str, int], n: int, base: int) -> None:
    first, last = FIRST_COL, FIRST_COL + n - 1
    period_ref = Reference(calcs, min_col=first, max_col=last, min_row=rows["period"])

    def chart(title, y_title, keys, labels, anchor, fmt):
        ch = LineChart()
        ch.title = title
        ch.y_axis.title = y_title
        ch.x_axis.title = "Period"
        ch.y_axis.number_format = fmt
        ch.height, ch.width = 7.5, 16
        for key, label in zip(keys, labels, strict=True):
            ref = Reference(calcs, min_col=first, max_col=last, min_row=rows[key])
            ch.add_data(ref, from_rows=True, titles_from_data=False)
            ch.series[-1].tx = SeriesLabel(v=label)
            ch.series[-1].smooth = False
        ch.set_categories(period_ref)
        ch.display_blanks = "gap"
        ws.add_chart(ch, anchor)

    chart("DSCR against the lock-up covenant", "DSCR (x)", ["dscr", "covenant"],
          ["DSCR", "Lock-up covenant"], f"A{base}", "0.00")
    chart("LTV before and after the liquidation haircut", "LTV", ["ltv", "ltv_liq"],
          ["LTV on market value", "LTV after haircut"], f"A{base + 16}", "0%")
    chart("Residual value of the GPUs", "Share of cost", ["residual"],
          ["Residual value"], f"A{base + 32}", "0%")
