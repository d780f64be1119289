"""The deal-model workbook: one GPU-backed loan, calculated with the ``GPU_`` functions.

Three sheets in the usual modelling conventions (see :mod:`gpucredit.excel.styles`):

* **Inputs** - every assumption once, blue on light yellow, each a defined name
  (``gpus``, ``rent0``, ``annual_rate`` ...) with its unit and source, and a data
  validation rule (a range, a whole number, a date or a list) that Excel enforces as the
  analyst types. The number of periods follows the tenor: ``n_periods = tenor_years x
  periods_per_year``, and the two inputs are validated against the Calcs sheet's period
  columns, so changing one cannot silently change the tenor.
* **Calcs** - time runs left to right (one column per period, with its period-end date),
  one formula per row (the same formula in every period column). Each
  key line is calculated by a ``GPU_`` function (an array formula across the row) and
  checked by a native-Excel formula in the row below it (the "check" rows, green), so
  the analyst sees the add-in and plain Excel agree: market rent, revenue and CFADS,
  the debt schedule against ``PMT``, DSCR, residual value, LTV.
* **Outputs** - the metrics a credit committee asks for (minimum DSCR, LLCR, debt
  capacity at the target DSCR, WAL, breakeven rent, maximum LTV before and after the
  liquidation haircut, the hazard rate the quoted spread implies), each beside its
  native check and their difference, and line charts of DSCR, LTV and residual value.

Only plain ranges and defined names are used (no Excel tables or structured references),
so the workbook calculates in Excel with the add-in, in ``gpucredit recalc-workbook``
(the ``formulas`` engine) and - its native cells - in LibreOffice.

The native checks are a second, independent calculation of the same figures in plain
Excel (closed forms for the annuity, the trend rent and the exponential-with-floor
curve); they carry no result of their own into the ``GPU_`` rows.
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

from gpucredit import curves, debt, presets
from gpucredit.errors import GpuCreditError
from gpucredit.excel import styles as st
from gpucredit.excel.files import staged_files

__all__ = ["INPUTS", "InputSpec", "build_model_workbook"]

FIRST_COL = 3
"""Column of period 1 on the Calcs sheet (A: labels, B: units)."""


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
                  "annuity, straight_line or bullet"),
        InputSpec("target_dscr", "Sizing DSCR", 1.30, "x", st.MULTIPLE,
                  "Sizing cases are often 1.20-1.40x"),
        InputSpec("covenant_dscr", "Lock-up DSCR covenant", 1.20, "x", st.MULTIPLE,
                  "docs/sources.md: lock-up 1.10-1.25x"),
    )),
    ("Collateral", (
        InputSpec("curve_family", "Residual-value curve", "exponential_floor", "", None,
                  "docs/sources.md fit to the practitioner resale curve"),
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
    come from the core's own tables (GPU presets, repayment profiles, curve families).
    """
    share = ("decimal", "between", "0", "1", "a share from 0 to 1 (0% to 100%)")
    positive = ("decimal", "greaterThan", "0", None, "a number above 0")
    non_negative = ("decimal", "greaterThanOrEqual", "0", None, "a number of 0 or more")
    rules = {name: non_negative for _, specs in INPUTS for spec in specs
             for name in [spec.name]}

    def listed(values):
        return ("list", None, '"' + ",".join(values) + '"', None,
                "one of " + ", ".join(values))

    rules.update({
        "gpu_model": listed(list(presets.PRESETS)),
        "amortization": listed([k for k in debt.KINDS if k != "custom"]),
        "curve_family": listed(list(curves.FAMILIES)),
        "gpus": ("whole", "greaterThan", "0", None, "a whole number of GPUs above 0"),
        "cost_per_gpu": positive, "rent0": positive, "kw_per_gpu": positive,
        "contract_periods": ("whole", "between", "0", "n_periods",
                             "a whole number of periods from 0 to the tenor"),
        "start_date": ("date", "greaterThan", "1", None, "a date"),
        "periods_per_year": ("custom", None, "AND(OR({cell}=1,{cell}=2,{cell}=4,{cell}=12),"
                             "{cell}*tenor_years={columns})", None,
                             "1, 2, 4 or 12, with tenor x periods a year = {columns}, the "
                             "Calcs sheet's period columns (to change them, generate the "
                             "model again)"),
        "tenor_years": ("custom", None, "AND({cell}>0,{cell}*periods_per_year={columns})",
                        None, "years, with tenor x periods a year = {columns}, the Calcs "
                        "sheet's period columns (to change them, generate the model again)"),
        "rent_deflation": ("decimal", "between", "0", "0.99", "a share a year from 0 to 0.99"),
        "utilization": share, "contracted_share": share, "install_haircut": share,
        "sale_cost_rate": share, "curve_floor": share, "recovery": share,
        "pue": ("decimal", "between", "1", "3", "a PUE from 1 to 3"),
        "annual_rate": ("decimal", "between", "0", "1", "an annual rate from 0 to 1"),
        "quoted_spread": ("decimal", "between", "0", "1", "a spread a year from 0 to 1"),
        "target_dscr": positive, "covenant_dscr": positive, "loan_amount": positive,
        "market_absorption": positive, "months_to_sell": positive,
    })
    return rules


def build_model_workbook(path, *, n_periods: int | None = None, periods_per_year: int = 4,
                         tenor_years: int = 5) -> Path:
    """Write the deal-model workbook.

    Parameters
    ----------
    path : str or Path
        Where to write it (``.xlsx``); written to a temporary file beside it first and
        renamed, so it appears whole or not at all.
    n_periods : int, optional
        Period columns on the Calcs sheet: the loan's tenor and the model's horizon.
        Default (and, when given, it must be) ``tenor_years x periods_per_year``; the
        workbook's data validation then holds the two inputs to it.
    periods_per_year : {1, 2, 4, 12}, default 4
        The model's grid, written as the ``periods_per_year`` input.
    tenor_years : int, default 5
        The loan's tenor in years, written as the ``tenor_years`` input.

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
    if periods_per_year not in (1, 2, 4, 12):
        raise GpuCreditError(f"periods_per_year must be 1, 2, 4 or 12, got "
                             f"{periods_per_year!r}", argument="periods_per_year",
                             value=periods_per_year)
    if not isinstance(tenor_years, int) or tenor_years < 1:
        raise GpuCreditError(f"tenor_years must be a whole number of years, got "
                             f"{tenor_years!r}", argument="tenor_years", value=tenor_years)
    tenor, m = tenor_years, periods_per_year
    n_periods = tenor * m if n_periods is None else n_periods
    if not isinstance(n_periods, int) or not 2 <= n_periods <= 240:
        raise GpuCreditError(f"n_periods must be a whole number from 2 to 240, got "
                             f"{n_periods!r}", argument="n_periods", value=n_periods)
    if tenor * m != n_periods:
        raise GpuCreditError(f"n_periods must be the tenor ({tenor} years) x periods a year "
                             f"({m}) = {tenor * m}, got {n_periods}", argument="n_periods",
                             value=n_periods)
    path = Path(path)
    if path.suffix.lower() != ".xlsx":
        raise GpuCreditError(f"the deal model is an .xlsx workbook, got {path.name}",
                             argument="path", value=str(path))
    wb = _workbook(n_periods, {"periods_per_year": m, "tenor_years": tenor,
                               "contract_periods": min(_default("contract_periods"),
                                                       n_periods)})
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
    for ws, tall in ((inputs, False), (calcs, True), (outputs, False)):
        _print_setup(ws, tall)
    return wb


def _print_setup(ws, tall: bool) -> None:
    """Landscape, one page wide (and one page tall unless the sheet is long), A4 paper,
    the sheet's name and page number in the footer."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.oddFooter.left.text = "&A"
    ws.oddFooter.right.text = "Page &P of &N"
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0 if tall else 1


def _inputs_sheet(ws, names: _Names, n: int, values: dict) -> None:
    ws["A1"] = "GPU-backed loan: deal model"
    st.style_cell(ws["A1"], st.TITLE)
    ws["A2"] = ("Inputs are blue on yellow; every input is a defined name used by the Calcs "
                "and Outputs sheets. Calculations use the gpucredit add-in's GPU_ functions, "
                "each checked by a native formula.")
    st.style_cell(ws["A2"], st.NOTE)
    st.style_header_row(ws, 4, 1, ["Input", "Value", "Unit", "Name", "Source"])
    rules = _validation_rules()
    r = 5
    for section, specs in INPUTS:
        ws.cell(r, 1, section).font = Font(bold=True)
        r += 1
        for spec in specs:
            ws.cell(r, 1, spec.label)
            cell = ws.cell(r, 2, values.get(spec.name, spec.value))
            st.style_cell(cell, st.INPUT, spec.fmt)
            ws.cell(r, 3, spec.unit)
            ws.cell(r, 4, spec.name)
            st.style_cell(ws.cell(r, 4), st.NOTE)
            ws.cell(r, 5, spec.source)
            st.style_cell(ws.cell(r, 5), st.NOTE)
            names.add(spec.name, "Inputs", f"$B${r}")
            _validate(ws, cell, rules[spec.name], n)
            r += 1
        r += 1
    ws.cell(r, 1, "Derived").font = Font(bold=True)
    r += 1
    derived = (
        ("n_periods", "Periods modelled (the loan's tenor)", "=tenor_years*periods_per_year",
         "periods", st.INTEGER, f"Tenor x periods a year; the Calcs sheet has {n} period "
         "columns"),
        ("rate_per_period", "Interest rate per period", "=annual_rate/periods_per_year",
         "a period", st.RATE, "The GPU_ functions take rates per period"),
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
    st.set_widths(ws, {1: 34, 2: 16, 3: 16, 4: 30, 5: 70})
    ws.freeze_panes = "A5"
    ws.print_title_rows = "4:4"


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


# Each Calcs row: (key, label, unit, kind, formula, format). kind: "gpu" (one array formula
# across the row), "native" (the same formula in every period column; {c} is the column,
# {p} the previous one), "check" (a native cross-check, styled green), "head" (a section
# title). One formula per row: every period column holds the same formula.
def _calc_rows(n: int) -> list[tuple]:
    last = get_column_letter(FIRST_COL + n - 1)
    first = get_column_letter(FIRST_COL)

    def row(key):  # the period range of a row, filled in when rows get numbers
        return f"{{{key}}}"

    cf_args = ("gpus,utilization,{rent},periods_per_year,{share},contract_rate,kw_per_gpu,"
               "pue,price_per_kwh,colocation_per_kw_month,other_opex_per_gpu_year,"
               "maintenance_capex_per_gpu_year,0")

    def cfads_line(line):
        return "=GPU_CFADS(" + cf_args.format(rent=row("rent"), share=row("share")) + \
            f',"{line}")'

    hours = "hours_per_period"
    return [
        ("period", "Period", "", "native", "=N({p}{r})+1", st.INTEGER),
        ("period_end", "Period end", "date", "native",
         "=EOMONTH(start_date,{c}{period}*12/periods_per_year)", st.DATE),
        ("years", "Years from start", "years", "native", "={c}{period}/periods_per_year",
         st.NUMBER),
        ("age", "Asset age at period end", "years", "native", "=age0+{c}{years}", st.NUMBER),
        ("h_rev", "Revenue and costs", None, "head", None, None),
        ("rent", "Market rent", "USD / GPU-hour", "gpu",
         "=GPU_RENT_PATH(rent0,rent_deflation,n_periods,periods_per_year)", st.USD_CENTS),
        ("rent_chk", "  check: rent0 x (1 - deflation)^((t-1)/m)", "USD / GPU-hour", "check",
         "=rent0*(1-rent_deflation)^(({c}{period}-1)/periods_per_year)", st.USD_CENTS),
        ("share", "Share of GPUs under contract", "", "native",
         "=IF({c}{period}<=contract_periods,contracted_share,0)", st.PCT1),
        ("mhours", "GPU-hours sold at the market rent", "GPU-hours", "gpu",
         cfads_line("merchant_gpu_hours"), st.INTEGER),
        ("mhours_chk", "  check: GPUs x (1 - share) x utilization x hours", "GPU-hours",
         "check", f"=gpus*(1-{{c}}{{share}})*utilization*{hours}", st.INTEGER),
        ("mrev", "Merchant revenue", "USD", "gpu", cfads_line("merchant_revenue"), st.USD),
        ("revenue", "Revenue", "USD", "gpu", cfads_line("revenue"), st.USD),
        ("revenue_chk", "  check: contracted + merchant revenue", "USD", "check",
         f"=gpus*{{c}}{{share}}*{hours}*contract_rate+{{c}}{{mhours_chk}}*{{c}}{{rent_chk}}",
         st.USD),
        ("power", "Power", "USD", "gpu", cfads_line("power"), st.USD),
        ("colo", "Colocation", "USD", "gpu", cfads_line("colocation"), st.USD),
        ("opex", "Other opex", "USD", "gpu", cfads_line("other_opex"), st.USD),
        ("capex", "Maintenance capex", "USD", "gpu", cfads_line("maintenance_capex"), st.USD),
        ("cfads", "CFADS", "USD", "gpu", cfads_line("cfads"), st.USD),
        ("cfads_chk", "  check: revenue - power - colocation - opex - capex", "USD", "check",
         f"={{c}}{{revenue_chk}}-gpus*kw_per_gpu*pue*{hours}*price_per_kwh"
         "-gpus*kw_per_gpu*colocation_per_kw_month*12/periods_per_year"
         "-gpus*(other_opex_per_gpu_year+maintenance_capex_per_gpu_year)/periods_per_year",
         st.USD),
        ("other", "  other CFADS (CFADS - merchant revenue)", "USD", "check",
         "={c}{cfads_chk}-{c}{mhours_chk}*{c}{rent_chk}", st.USD),
        ("h_debt", "Debt (GPU_DEBT_SCHEDULE, transposed: one line per row)", None, "head",
         None, None),
        ("sched", "Debt schedule", "", "schedule",
         "=TRANSPOSE(GPU_DEBT_SCHEDULE(loan_amount,rate_per_period,n_periods,amortization))",
         st.USD),
        ("sched_opening", None, None, "schedule_row", None, st.USD),
        ("sched_draw", None, None, "schedule_row", None, st.USD),
        ("sched_interest", None, None, "schedule_row", None, st.USD),
        ("principal", None, None, "schedule_row", None, st.USD),
        ("debt_service", None, None, "schedule_row", None, st.USD),
        ("sched_closing", None, None, "schedule_row", None, st.USD),
        ("opening_chk", "  check: opening balance (native)", "USD", "check",
         "=IF({c}{period}=1,loan_amount,{p}{closing_chk})", st.USD),
        ("ds_chk", "  check: debt service = PMT (annuity)", "USD", "check",
         "=PMT(rate_per_period,n_periods,-loan_amount)", st.USD),
        ("principal_chk", "  check: principal = payment - interest", "USD", "check",
         "={c}{ds_chk}-{c}{opening_chk}*rate_per_period", st.USD),
        ("closing_chk", "  check: closing balance", "USD", "check",
         "={c}{opening_chk}-{c}{principal_chk}", st.USD),
        ("h_cov", "Coverage", None, "head", None, None),
        ("dscr", "DSCR", "x", "gpu", f"=GPU_DSCR({row('cfads')},{row('debt_service')})",
         st.MULTIPLE),
        ("dscr_chk", "  check: CFADS / debt service", "x", "check",
         '=IF({c}{ds_chk}=0,"",{c}{cfads_chk}/{c}{ds_chk})', st.MULTIPLE),
        ("covenant", "Lock-up covenant", "x", "native", "=covenant_dscr", st.MULTIPLE),
        ("rent_needed", "  check: market rent needed for DSCR 1.00x", "USD / GPU-hour",
         "check", "=({c}{ds_chk}-{c}{other})/{c}{mhours_chk}", st.USD_CENTS),
        ("h_coll", "Collateral", None, "head", None, None),
        ("residual", "Residual value", "of cost", "gpu",
         f"=GPU_RESIDUAL_VALUE({row('age')},curve_family,curve_lam,curve_floor)", st.PCT1),
        ("residual_chk", "  check: floor + (1 - floor) e^(-lambda age)", "of cost", "check",
         '=IF(curve_family="exponential_floor",'
         "curve_floor+(1-curve_floor)*EXP(-curve_lam*{c}{age}),\"\")", st.PCT1),
        ("market_value", "Market value", "USD", "native",
         "=gpus*cost_per_gpu*{c}{residual}", st.USD),
        ("market_value_chk", "  check: market value (native curve)", "USD", "check",
         "=gpus*cost_per_gpu*{c}{residual_chk}", st.USD),
        ("liq_value", "Liquidation value", "USD", "gpu",
         f"=GPU_LIQUIDATION_VALUE({row('market_value')},gpus,market_absorption,"
         "months_to_sell,install_haircut,sale_cost_rate)", st.USD),
        ("haircut", "Liquidation haircut", "of value", "gpu",
         f"=GPU_HAIRCUT({row('market_value')},gpus,market_absorption,months_to_sell,"
         "install_haircut,sale_cost_rate)", st.PCT1),
        ("ltv", "LTV on market value", "", "gpu",
         f"=GPU_LTV({row('sched_opening')},{row('market_value')})", st.PCT1),
        ("ltv_chk", "  check: opening balance / market value", "", "check",
         '=IF({c}{market_value_chk}=0,"",{c}{opening_chk}/{c}{market_value_chk})', st.PCT1),
        ("ltv_liq", "LTV after the liquidation haircut", "", "gpu",
         f"=GPU_LTV({row('sched_opening')},{row('liq_value')})", st.PCT1),
    ], first, last


def _calcs_sheet(ws, names: _Names, n: int) -> dict[str, int]:
    specs, first, last = _calc_rows(n)
    ws["A1"] = "Calculations - time runs left to right, one formula per row"
    st.style_cell(ws["A1"], st.TITLE)
    ws["A2"] = ("Black rows: GPU_ functions (array formulas across the row). Green rows: "
                "native Excel checks of the row above. Column C is period 1.")
    st.style_cell(ws["A2"], st.NOTE)
    rows: dict[str, int] = {}
    r = 4
    for key, *_ in specs:
        rows[key] = r
        r += 1
    ranges = {k: f"${first}${v}:${last}${v}" for k, v in rows.items()}
    cols = [get_column_letter(FIRST_COL + j) for j in range(n)]
    sched_labels = ["Period", "Opening balance", "Draw", "Interest", "Principal",
                    "Debt service", "Closing balance"]
    for key, label, unit, kind, formula, fmt in specs:
        r = rows[key]
        if kind == "head":
            ws.cell(r, 1, label).font = Font(bold=True)
            continue
        if kind == "schedule_row":
            continue
        if kind == "schedule":
            ws.cell(r, 1, "Debt schedule (labels from the function)")
            span = f"B{r}:{last}{r + len(sched_labels) - 1}"
            ws.cell(r, 2).value = ArrayFormula(span, formula.format(**ranges))
            for i in range(len(sched_labels)):
                for j in range(n + 1):
                    cell = ws.cell(r + i, 2 + j)
                    st.style_cell(cell, st.CALC, None if j == 0 else
                                  (st.INTEGER if i == 0 else fmt))
            continue
        ws.cell(r, 1, label)
        ws.cell(r, 2, unit)
        st.style_cell(ws.cell(r, 2), st.NOTE)
        style = st.CHECK if kind == "check" else st.CALC
        if kind == "gpu":
            ws.cell(r, FIRST_COL).value = ArrayFormula(f"{first}{r}:{last}{r}",
                                                       formula.format(**ranges))
        for j, c in enumerate(cols):
            cell = ws.cell(r, FIRST_COL + j)
            if kind in ("native", "check"):
                prev = get_column_letter(FIRST_COL + j - 1)  # column B (units) for period 1
                cell.value = formula.format(c=c, p=prev, r=r, **rows)
            st.style_cell(cell, style, fmt)
    for key in ("cfads", "debt_service", "dscr", "principal", "mhours", "other", "residual",
                "ltv", "ltv_liq", "period", "period_end", "cfads_chk", "ds_chk", "dscr_chk",
                "principal_chk", "rent_needed", "ltv_chk", "mhours_chk", "market_value"):
        names.add(key if key not in ("other",) else "other_cfads", "Calcs", ranges[key])
    st.set_widths(ws, {1: 52, 2: 16, **{FIRST_COL + j: 13 for j in range(n)}})
    ws.freeze_panes = ws.cell(rows["period_end"] + 1, FIRST_COL)
    ws.print_title_cols = "A:B"
    ws.print_title_rows = f"{rows['period']}:{rows['period_end']}"
    return rows


_OUTPUTS = (
    # label, GPU_ formula, native check formula, format, note
    ("Minimum DSCR", "=MIN(dscr)", "=MIN(dscr_chk)", st.MULTIPLE, ""),
    ("Average DSCR", "=AVERAGE(dscr)", "=AVERAGE(dscr_chk)", st.MULTIPLE,
     "Over the periods with debt service"),
    ("Periods below the lock-up covenant", '=COUNTIF(dscr,"<"&covenant_dscr)',
     '=COUNTIF(dscr_chk,"<"&covenant_dscr)', st.INTEGER, ""),
    ("LLCR at period 1", "=GPU_LLCR(cfads,loan_amount,rate_per_period)",
     "=NPV(rate_per_period,cfads_chk)/loan_amount", st.MULTIPLE,
     "PV of CFADS to maturity at the debt rate / loan"),
    ("Debt capacity at the sizing DSCR", "=GPU_DEBT_CAPACITY(cfads,rate_per_period,target_dscr)",
     "=NPV(rate_per_period,cfads_chk)/target_dscr", st.USD,
     "Sculpted: PV of CFADS / target (check valid while CFADS >= 0)"),
    ("Weighted average life", "=GPU_WAL(principal,periods_per_year)",
     "=SUMPRODUCT(period,principal_chk)/SUM(principal_chk)/periods_per_year", st.NUMBER,
     "Years"),
    ("Breakeven market rent (min DSCR 1.00x)",
     "=GPU_BREAKEVEN_RENT(mhours,other_cfads,debt_service,1)", "=MAX(rent_needed)",
     st.USD_CENTS, "Flat rent on merchant GPU-hours, USD per GPU-hour"),
    ("Maximum LTV on market value", "=MAX(ltv)", "=MAX(ltv_chk)", st.PCT1, ""),
    ("Maximum LTV after the liquidation haircut", "=MAX(ltv_liq)", "", st.PCT1,
     "Forced sale: time to sell, price impact, install discount, costs"),
    ("Hazard rate implied by the quoted spread", "=GPU_HAZARD_RATE(quoted_spread,recovery)",
     "=quoted_spread/(1-recovery)", st.PCT, "Credit triangle: spread / (1 - recovery)"),
    ("Cumulative PD over the tenor", "=1-EXP(-B{hazard}*n_periods/periods_per_year)",
     "=1-EXP(-C{hazard}*n_periods/periods_per_year)", st.PCT,
     "Constant hazard rate"),
)


def _outputs_sheet(ws, calcs, rows: dict[str, int], n: int) -> None:
    ws["A1"] = "Outputs"
    st.style_cell(ws["A1"], st.TITLE)
    ws["A2"] = ("Column B: calculated with the GPU_ functions. Column C: the same figure "
                "with native Excel formulas. Column D: their difference (should be 0).")
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
    diffs = ",".join(f"ABS(D{i})" for i in range(5, r - 1) if ws.cell(i, 4).value)
    st.style_cell(ws.cell(r, 2, f'=IF(MAX({diffs})<0.000001,"OK","CHECK")'), st.CHECK)
    st.style_cell(ws.cell(r, 5, "OK when every difference in column D is below 0.000001"),
                  st.NOTE)
    st.set_widths(ws, {1: 44, 2: 18, 3: 18, 4: 14, 5: 60})

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
        ws.add_chart(ch, anchor)

    base = r + 2
    chart("DSCR against the lock-up covenant", "DSCR (x)", ["dscr", "covenant"],
          ["DSCR", "Lock-up covenant"], f"A{base}", "0.00")
    chart("LTV before and after the liquidation haircut", "LTV", ["ltv", "ltv_liq"],
          ["LTV on market value", "LTV after haircut"], f"A{base + 16}", "0%")
    chart("Residual value of the GPUs", "Share of cost", ["residual"],
          ["Residual value"], f"A{base + 32}", "0%")
