"""The loan-tape schema: every column of a facility and every market assumption, declared once.

The template (``gpucredit template tape``), the reader, the validator and ``docs/tape.md``
all come from the declarations here, so a column is added, renamed or re-ranged in one
place. Each :class:`Column` carries its name (snake_case, used in code and accepted as a
header), the header label the template writes, its type, unit, allowed values or range,
whether it is required or what a blank means, a one-line description, an example and the
source of its default. :data:`ASSUMPTIONS` declares the market data of the template's
Assumptions sheet the same way, and :data:`RULES` lists the checks that involve more than
one column.

Conventions (analyst's terms)
-----------------------------
* **Percent columns** (unit ``%``) hold decimals, as an Excel cell formatted as a
  percentage does: 8% is entered as ``8%`` or ``0.08``; text such as ``"8%"`` or
  ``"800bp"`` is understood. A bare ``8`` in a percent column means 800% and is refused
  by the range check, never silently divided by 100.
* **Spreads** of the loan (``spread``, ``rate_floor``) are percentages like the rates;
  only ``quoted_spread``, the market's price of the credit, is in basis points (450 =
  4.50%), as bond desks quote it.
* **Dates** are Excel dates, Excel serial numbers or ISO text (``2026-06-30``).
* **Money** is in USD; rents in USD per GPU-hour; power in kW per GPU.
* A **blank** cell takes the column's default; where the default depends on the GPU
  model (``merchant_rent``, ``kw_per_gpu``, ``residual_curve``) a blank is left empty for
  the engine to fill from the GPU preset (:mod:`gpucredit.presets`) or, for the merchant
  rent, from the Assumptions sheet.

This module needs only the standard library and pandas; it imports nothing from the
finance core.

Examples
--------
>>> column("utilization").unit, column("utilization").default
('%', 0.85)
>>> [c.name for c in COLUMNS if c.group == "Borrower"]
['facility_id', 'borrower', 'borrower_type', 'source']
>>> match_header("Utilization (%)"), match_header("GPU MODEL"), match_header("gpu_count")
('utilization', 'gpu_model', 'gpu_count')
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = [
    "ASSUMPTIONS",
    "ASSUMPTION_GROUPS",
    "COLUMNS",
    "FORMULA_PREFIXES",
    "GROUPS",
    "RULES",
    "TYPES",
    "Assumption",
    "Column",
    "Field",
    "Rule",
    "assumption",
    "column",
    "columns_by_group",
    "header_key",
    "is_formula_like",
    "match_assumption",
    "match_header",
    "render_markdown",
    "required_columns",
    "write_docs",
]

TYPES = ("str", "int", "float", "date", "enum", "bool")
"""The value types a field may have."""

GROUPS = ("Borrower", "Collateral", "Loan", "Revenue", "Costs", "Covenants", "Haircut",
          "Crypto", "Pricing")
"""Column groups, in template order."""

ASSUMPTION_GROUPS = ("Market", "Rents", "Curves", "Haircut", "Crypto", "Credit", "Monte Carlo")
"""Groups of the Assumptions sheet, in template order."""

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet treat text as a formula (OWASP CSV injection)."""

MIN_DATE = dt.date(2000, 1, 1)
MAX_DATE = dt.date(2100, 12, 31)

_UNIT_FORMATS = {
    "%": "0.00%",
    "USD": "#,##0",
    "USD/GPU": "#,##0",
    "USD/GPU-hour": "#,##0.00",
    "USD/kWh": "0.000",
    "USD/kW-month": "#,##0.00",
    "USD/GPU-year": "#,##0",
    "x": '0.00"x"',
    "kW": "0.000",
    "bp": "#,##0",
    "BTC": "#,##0.00",
    "PH/s": "#,##0.0",
    "J/TH": "0.0",
    "BTC/block": "0.000",
    "T": "#,##0.0",
    "years": "0.00",
    "days": "#,##0",
    "months": "0.0",
    "GPUs": "#,##0",
    "GPUs/month": "#,##0",
    "periods": "0",
}

_UNIT_SUFFIXES = {"kW": " kW", "BTC": " BTC", "PH/s": " PH/s", "days": " days",
                  "years": " years", "months": " months", "GPUs/month": " GPUs a month"}


def header_key(text: Any) -> str:
    """Normalise a header for matching: lower case, units in brackets and everything but
    letters and digits dropped.

    >>> header_key(" Facility ID "), header_key("facility_id"), header_key("Cost per GPU (USD)")
    ('facilityid', 'facilityid', 'costpergpu')
    """
    s = str(text).strip().lower()
    s = re.sub(r"\s*[\(\[][^\)\]]*[\)\]]\s*$", "", s)
    return re.sub(r"[^0-9a-z]+", "", s)


def is_formula_like(text: Any) -> bool:
    """Whether ``text`` is a string a spreadsheet would run as a formula (``= + - @``, tab,
    carriage return first).

    >>> is_formula_like("=HYPERLINK(\\"http://x\\")"), is_formula_like("Acme"), is_formula_like(5)
    (True, False, False)
    """
    return isinstance(text, str) and text.startswith(FORMULA_PREFIXES)


def _fmt_number(x: float, decimals: int = 2) -> str:
    """A number for messages: thousands separated; small values keep their digits.

    >>> _fmt_number(20000000), _fmt_number(1234.5), _fmt_number(0.045), _fmt_number(120.00000001)
    ('20,000,000', '1,234.5', '0.045', '120')
    """
    x = float(x)
    if x.is_integer():
        return f"{int(x):,}"
    if abs(x) >= 1000:
        return f"{x:,.{decimals}f}".rstrip("0").rstrip(".")
    text = f"{x:.8g}"
    return text if "e" not in text else f"{x:.3g}"


@dataclass(frozen=True)
class Field:
    """One typed input: a tape column or an assumption.

    Attributes
    ----------
    name : str
        snake_case name, used in code, in the results and as an accepted header.
    label : str
        Header label the template writes.
    type : str
        One of :data:`TYPES`.
    description : str
        One line for the header note and the docs.
    example : object
        A typical value (shown in the docs and the template's notes).
    unit : str
        ``USD``, ``USD/GPU-hour``, ``%`` (decimal shown as a percentage), ``x`` (a
        multiple), ``kW``, ``bp`` ...; empty for text and dates.
    default : object
        Value a blank takes; ``None``: a blank stays blank (see ``blank``).
    required : bool
        A blank is an error.
    choices : tuple
        Allowed values of an ``enum`` (or of an ``int`` with a fixed set).
    synonyms : Mapping[str, object]
        Other spellings accepted for a choice, keyed by :func:`header_key` of the spelling.
    min, max : float or datetime.date, optional
        Inclusive bounds (``min_open``/``max_open`` make them strict).
    ask : str
        Noun phrase used in messages: "enter {ask}".
    blank : str
        What a blank means, in words, when it is neither required nor defaulted to a value.
    source : str
        Where the default or the range comes from.
    """

    name: str
    label: str
    type: str
    description: str
    example: Any = None
    unit: str = ""
    default: Any = None
    required: bool = False
    choices: tuple = ()
    synonyms: Mapping[str, Any] = field(default_factory=dict)
    min: Any = None
    max: Any = None
    min_open: bool = False
    max_open: bool = False
    ask: str = ""
    blank: str = ""
    source: str = ""

    def __post_init__(self):
        if self.type not in TYPES:
            raise ValueError(f"{self.name}: unknown type {self.type!r}")
        object.__setattr__(self, "synonyms", MappingProxyType(dict(self.synonyms)))
        if self.type == "date":
            if self.min is None:
                object.__setattr__(self, "min", MIN_DATE)
            if self.max is None:
                object.__setattr__(self, "max", MAX_DATE)
        if not self.ask:
            first, _, rest = self.label.partition(" ")
            if first[1:] == first[1:].lower() and not any(ch.isdigit() for ch in first):
                first = first.lower()
            object.__setattr__(self, "ask", f"the {first} {rest}".strip())

    @property
    def percent(self) -> bool:
        """Whether the field is a decimal shown as a percentage."""
        return self.unit == "%"

    @property
    def number_format(self) -> str:
        """Excel number format for the field's cells.

        >>> column("utilization").number_format, column("delivery_date").number_format
        ('0.00%', 'yyyy-mm-dd')
        """
        if self.type == "date":
            return "yyyy-mm-dd"
        if self.type in ("str", "enum", "bool"):
            return "General" if self.type == "bool" else "@"
        if self.type == "int" and self.unit not in _UNIT_FORMATS:
            return "#,##0"
        return _UNIT_FORMATS.get(self.unit, "General")

    def show(self, value: Any) -> str:
        """A value as an analyst reads it in this field (120%, $1,250,000, 1.25x ...).

        >>> column("utilization").show(1.2), column("commitment").show(2.3e9)
        ('120%', '$2,300,000,000')
        >>> column("pue").show(1.3), column("maturity_date").show(dt.date(2029, 5, 1))
        ('1.3x', '2029-05-01')
        """
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "blank"
        if isinstance(value, dt.datetime):
            return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
        if isinstance(value, dt.date):
            return value.isoformat()
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, str):
            return f'"{value}"'
        try:
            x = float(value)
        except (TypeError, ValueError):
            return repr(value)
        if not math.isfinite(x):
            return str(x)
        if self.percent:
            return _fmt_number(x * 100, 4) + "%"
        if self.unit in ("USD", "USD/GPU", "USD/GPU-year"):
            sign = "-" if x < 0 else ""
            return f"{sign}${_fmt_number(abs(x))}"
        if self.unit.startswith("USD/"):
            sign = "-" if x < 0 else ""
            return f"{sign}${_fmt_number(abs(x), 4)}"
        if self.unit == "x":
            return _fmt_number(x, 4) + "x"
        if self.unit == "bp":
            return _fmt_number(x, 2) + "bp"
        return _fmt_number(x, 6) + _UNIT_SUFFIXES.get(self.unit, "")

    def expectation(self) -> str:
        """What the field accepts, in words (used in messages and notes).

        >>> column("utilization").expectation()
        'between 0% and 100%'
        >>> column("gpu_count").expectation()
        'a whole number, between 1 and 5,000,000'
        >>> column("borrower_type").expectation()
        'one of neocloud, miner, other'
        """
        if self.choices:
            return "one of " + ", ".join(str(c) for c in self.choices)
        if self.type == "bool":
            return "TRUE or FALSE"
        if self.type in ("str",):
            return "text"
        parts = []
        if self.type == "int":
            parts.append("a whole number")
        if self.type == "date":
            return f"a date between {self.show(self.min)} and {self.show(self.max)}"
        lo, hi = self.min, self.max
        if lo is not None and hi is not None and not (self.min_open or self.max_open):
            parts.append(f"between {self.show(lo)} and {self.show(hi)}")
        else:
            if lo is not None:
                parts.append(("more than " if self.min_open else "at least ") + self.show(lo))
            if hi is not None:
                parts.append(("less than " if self.max_open else "at most ") + self.show(hi))
        return ", ".join(parts) if parts else "a number"

    def note(self) -> str:
        """Header note for the template: description, unit, what is accepted, default.

        >>> print(column("pue").note())
        Power usage effectiveness of the site: facility power / IT power.
        Unit: x. Enter between 1x and 3x. Blank: 1.3x.
        """
        lines = [self.description]
        bits = []
        if self.unit:
            bits.append(f"Unit: {self.unit}.")
        bits.append(f"Enter {self.expectation()}.")
        if self.required:
            bits.append("Required.")
        elif self.default is not None:
            bits.append(f"Blank: {self.show(self.default).strip(chr(34))}.")
        elif self.blank:
            bits.append(f"Blank: {self.blank}.")
        lines.append(" ".join(bits))
        return "\n".join(lines)

    def choice_key(self, value: Any) -> str:
        """Key under which a spelling of a choice is matched (case, spaces, _ and - ignored)."""
        return header_key(value)


@dataclass(frozen=True)
class Column(Field):
    """A column of the loan tape (see :class:`Field`).

    Attributes
    ----------
    group : str
        One of :data:`GROUPS`.
    unique : bool
        Values must differ between rows (the facility id).
    aliases : tuple of str
        Other headers accepted for the column (matched by :func:`header_key`).
    default_from : str, optional
        A blank takes this other column's value (e.g. the drawn amount: the commitment).
    fallback : str, optional
        A blank takes this assumption, formatted with the row (e.g.
        ``"merchant_rent_{gpu_model}"``), when the Assumptions sheet sets it.
    """

    group: str = ""
    unique: bool = False
    aliases: tuple[str, ...] = ()
    default_from: str | None = None
    fallback: str | None = None

    def __post_init__(self):
        super().__post_init__()
        if self.group not in GROUPS:
            raise ValueError(f"{self.name}: unknown group {self.group!r}")


@dataclass(frozen=True)
class Assumption(Field):
    """A market assumption of the Assumptions sheet, a named cell in the template.

    Attributes
    ----------
    group : str
        One of :data:`ASSUMPTION_GROUPS`.
    """

    group: str = ""

    def __post_init__(self):
        super().__post_init__()
        if self.group not in ASSUMPTION_GROUPS:
            raise ValueError(f"{self.name}: unknown group {self.group!r}")


@dataclass(frozen=True)
class Rule:
    """A check involving more than one column (implemented in :mod:`gpucredit.tape.validate`).

    Attributes
    ----------
    id : str
        Short identifier.
    severity : str
        ``"error"`` (the row is rejected) or ``"warning"`` (reported, the row is computed).
    columns : tuple of str
        Columns the rule reads; the message points at the first.
    text : str
        The rule in words, for the docs.
    """

    id: str
    severity: str
    columns: tuple[str, ...]
    text: str


_GPU_MODELS = ("A100", "H100", "H200", "B200", "GB200")
_CURVES = ("straight_line", "declining_balance", "exponential_floor", "logistic")
_RATING_SOURCE = ("S&P Global Ratings' scale (AAA, AA+ ... B-, CCC+ ... C; checked when the "
                  "row is computed); default rates by rating from S&P's 2023 Annual Global "
                  "Corporate Default And Rating Transition Study (gpucredit.ratings)")

# ----------------------------------------------------------------------------- the columns

COLUMNS: tuple[Column, ...] = (
    # Borrower ------------------------------------------------------------------------
    Column("facility_id", "Facility ID", "str",
           "Unique identifier of the facility; results and errors refer to it.",
           example="NC-DDTL-2", required=True, unique=True, group="Borrower",
           aliases=("facility", "id", "loan id", "deal id"),
           ask="a facility identifier, different on every row"),
    Column("borrower", "Borrower", "str", "Borrower's name.",
           example="Northcloud Compute (illustrative)", required=True, group="Borrower",
           aliases=("borrower name", "obligor"), ask="the borrower's name"),
    Column("borrower_type", "Borrower type", "enum",
           "Neocloud (GPU cloud), bitcoin miner turning AI host, or other.",
           example="neocloud", required=True, choices=("neocloud", "miner", "other"),
           synonyms={"bitcoinminer": "miner", "btcminer": "miner", "minerhost": "miner",
                     "gpucloud": "neocloud", "aicloud": "neocloud"},
           group="Borrower", ask="the borrower's type"),
    Column("source", "Source", "str",
           "The public fact the row leans on (free text), e.g. 'CoreWeave DDTL 2.0, May 2024'.",
           example="CoreWeave DDTL 2.0 (May 2024): SOFR+6.00-6.50% against IG contracts",
           group="Borrower", aliases=("sources", "note", "notes", "comment"),
           blank="no source given"),
    # Collateral ----------------------------------------------------------------------
    Column("gpu_model", "GPU model", "enum", "NVIDIA GPU model of the fleet.",
           example="H100", required=True, choices=_GPU_MODELS,
           synonyms={"a100sxm": "A100", "a100sxm4": "A100", "a100pcie": "A100",
                     "a10080gb": "A100", "h100sxm": "H100", "h100sxm5": "H100",
                     "h100pcie": "H100", "h10080gb": "H100", "h200sxm": "H200",
                     "b200sxm": "B200", "dgxb200": "B200", "gb200nvl72": "GB200",
                     "nvl72": "GB200"},
           group="Collateral", aliases=("gpu", "model", "gpu type"), ask="the GPU model"),
    Column("gpu_count", "GPUs", "int", "Number of GPUs financed.", example=16384,
           unit="GPUs", required=True, min=1, max=5_000_000, group="Collateral",
           aliases=("gpu count", "number of gpus", "gpus financed", "units"),
           ask="the number of GPUs"),
    Column("delivery_date", "Delivery date", "date",
           "Date the GPUs were delivered; their age is measured from it.",
           example=dt.date(2024, 6, 30), required=True, group="Collateral",
           aliases=("delivered", "in service date", "install date"),
           ask="the date the GPUs were delivered"),
    Column("gpu_unit_cost", "Cost per GPU", "float",
           "Price paid per GPU, system cost included (servers, networking), in USD.",
           example=30_000, unit="USD/GPU", required=True, min=0, max=500_000, min_open=True,
           group="Collateral", aliases=("unit cost", "cost per gpu", "gpu cost", "price per gpu"),
           ask="the cost of one GPU in USD (not the fleet's total)",
           source="GB200 NVL72 racks cost about $3m for 72 GPUs (~$42k a GPU): "
                  "the $500k ceiling catches totals entered as unit costs"),
    Column("residual_curve", "Residual-value curve", "enum",
           "Family of the residual-value curve of the GPUs (share of cost left at each age).",
           example="exponential_floor", choices=_CURVES,
           synonyms={"straight": "straight_line", "linear": "straight_line",
                     "declining": "declining_balance", "exponential": "declining_balance",
                     "exponentialwithfloor": "exponential_floor", "expfloor": "exponential_floor",
                     "holdthenfall": "logistic", "scurve": "logistic"},
           group="Collateral", aliases=("curve", "residual value curve", "depreciation curve"),
           blank="the GPU model's preset curve (gpucredit.presets)",
           ask="a residual-value curve"),
    Column("generation_jump", "Generation step-down", "float",
           "Share of value lost at each successor generation's volume launch (J).",
           example=0.25, unit="%", min=0, max=1, max_open=True,
           group="Collateral", aliases=("generation jump", "step down", "jump"),
           blank="no step-downs: the preset curves are fitted to used prices that already "
                 "reflect successor launches",
           ask="the value lost at each new GPU generation",
           source="practitioner view of a 20-30% step-down at each successor's volume "
                  "launch (GPU Lease Rate Index residual guide, 2026, as reported)"),
    # Loan ----------------------------------------------------------------------------
    Column("commitment", "Commitment", "float", "Total commitment of the facility in USD.",
           example=7_600_000_000, unit="USD", required=True, min=0, max=1e12, min_open=True,
           group="Loan", aliases=("facility size", "commitment amount", "limit"),
           ask="the facility's commitment in USD"),
    Column("drawn_amount", "Drawn amount", "float", "Amount drawn today, in USD.",
           example=5_000_000_000, unit="USD", min=0, max=1e12, default_from="commitment",
           blank="fully drawn (the commitment)", group="Loan",
           aliases=("drawn", "outstanding", "balance", "drawn balance"),
           ask="the amount drawn in USD"),
    Column("availability_end_date", "Availability period end", "date",
           "Last day the undrawn commitment (commitment - drawn amount) may be drawn. After "
           "the valuation date, the undrawn amount is drawn in equal parts at the start of "
           "each period until then, each draw buying GPUs at today's drawn amount per GPU "
           "(the lender's base case for a delayed-draw term loan: full utilisation).",
           example=dt.date(2027, 6, 30), group="Loan",
           aliases=("draw period end", "draw end date", "availability end",
                    "availability end date", "draw period end date", "commitment expiry"),
           blank="no further draws: the undrawn commitment is not available",
           ask="the last day of the availability (draw) period",
           source="our assumption, a lender's base case for a delayed-draw term loan: the "
                  "commitment is drawn in full; docs/sources.md: Basel III also counts "
                  "undrawn commitments as exposure (a 40% credit conversion factor)"),
    Column("origination_date", "Origination (first draw) date", "date",
           "Date of the first draw; interest and amortisation run from it.",
           example=dt.date(2024, 5, 17), required=True, group="Loan",
           aliases=("origination", "first draw date", "closing date", "start date"),
           ask="the date of the first draw"),
    Column("maturity_date", "Maturity date", "date", "Final maturity of the facility.",
           example=dt.date(2029, 5, 17), required=True, group="Loan",
           aliases=("maturity", "final maturity"), ask="the final maturity date"),
    Column("rate_type", "Rate type", "enum",
           "Fixed coupon, or floating: base rate (SOFR) + spread.",
           example="floating", required=True, choices=("fixed", "floating"),
           synonyms={"float": "floating", "floater": "floating", "variable": "floating",
                     "sofr": "floating", "fix": "fixed"},
           group="Loan", aliases=("interest type", "coupon type"), ask="fixed or floating"),
    Column("fixed_rate", "Fixed rate", "float",
           "Annual coupon of a fixed-rate loan (required when the rate type is fixed).",
           example=0.0775, unit="%", min=0, max=0.5, group="Loan",
           aliases=("coupon", "fixed coupon", "interest rate"),
           blank="none (floating-rate loans)", ask="the annual fixed rate"),
    Column("spread", "Spread over base", "float",
           "Margin over the base rate of a floating-rate loan (required when floating): "
           "SOFR + 6.00% is 6.00%.",
           example=0.0625, unit="%", min=0, max=0.5, group="Loan",
           aliases=("margin", "spread over sofr", "loan spread"),
           blank="none (fixed-rate loans)", ask="the margin over the base rate"),
    Column("rate_floor", "Base-rate floor", "float",
           "Floor on the base rate of a floating-rate loan.",
           example=0.0, unit="%", default=0.0, min=0, max=0.2, group="Loan",
           aliases=("floor", "sofr floor"), ask="the floor on the base rate",
           source="docs/sources.md: CoreWeave DDTL 2.0 has a 0% floor"),
    Column("amortization", "Amortisation", "enum",
           "Repayment profile: level annuity, straight-line (equal principal), bullet at "
           "maturity, or sculpted to a target DSCR.",
           example="annuity", required=True,
           choices=("annuity", "straight_line", "bullet", "sculpted"),
           synonyms={"level": "annuity", "mortgage": "annuity", "levelpayment": "annuity",
                     "linear": "straight_line", "equalprincipal": "straight_line",
                     "balloon": "bullet", "interestonly": "bullet", "sculpt": "sculpted",
                     "sculpting": "sculpted"},
           group="Loan", aliases=("amortisation", "repayment", "amortization type"),
           ask="the repayment profile"),
    Column("periods_per_year", "Periods a year", "int",
           "Payment periods a year: 1 annual, 2 semi-annual, 4 quarterly, 12 monthly.",
           example=4, default=4, choices=(1, 2, 4, 12),
           synonyms={"annual": 1, "annually": 1, "yearly": 1, "semiannual": 2,
                     "semiannually": 2, "quarterly": 4, "monthly": 12},
           group="Loan", aliases=("frequency", "payment frequency", "periods"),
           ask="the payment periods a year", source="quarterly payments are the norm"),
    Column("interest_only_periods", "Interest-only periods", "int",
           "Periods after the first draw with interest only, before amortisation starts.",
           example=4, unit="periods", default=0, min=0, max=600, group="Loan",
           aliases=("io periods", "grace periods", "amortization start"),
           ask="the number of interest-only periods"),
    Column("sculpt_dscr", "Sculpting DSCR", "float",
           "Target DSCR of a sculpted repayment (used when the amortisation is sculpted).",
           example=1.30, unit="x", default=1.30, min=1, max=5, min_open=True, group="Loan",
           aliases=("target dscr",), ask="the target DSCR for sculpting",
           source="our assumption: above the 1.10-1.25x lock-up range of docs/sources.md"),
    # Revenue -------------------------------------------------------------------------
    Column("contracted_share", "Contracted share", "float",
           "Share of the GPUs under take-or-pay contract until the contract end.",
           example=0.8, unit="%", default=0.0, min=0, max=1, group="Revenue",
           aliases=("contracted", "contract share", "take or pay share"),
           ask="the share of GPUs under contract"),
    Column("contract_rate", "Contract rate", "float",
           "Contract rent in USD per GPU-hour (required when a share is contracted).",
           example=2.65, unit="USD/GPU-hour", min=0, max=50, min_open=True, group="Revenue",
           aliases=("contract rent", "contract price"),
           blank="none (no contract)", ask="the contract rent per GPU-hour",
           source="docs/sources.md: H100 about $2.65/hr on contract mid-2026"),
    Column("contract_end_date", "Contract end date", "date",
           "End of the take-or-pay contract (required when a share is contracted).",
           example=dt.date(2028, 12, 31), group="Revenue",
           aliases=("contract end", "contract maturity"),
           blank="none (no contract)", ask="the contract's end date"),
    Column("ig_contracts", "Investment-grade contracts", "bool",
           "TRUE when the contract customers are investment grade and their rating is not "
           "given: the customer is then taken at BBB-, the lowest investment-grade notch. "
           "Ignored when the counterparty rating is given (give it: it is more precise).",
           example=None, group="Revenue",
           aliases=("ig contracts", "investment grade", "ig counterparty"),
           blank="not known: the counterparty rating, else the Assumptions sheet's default",
           ask="TRUE if the contract counterparties are investment grade"),
    Column("counterparty_rating", "Counterparty rating", "str",
           "Rating of the contract customer on S&P's scale (e.g. AA-, BBB+, BB); its default "
           "stops the contracted revenue.",
           example="A-", group="Revenue",
           aliases=("customer rating", "offtaker rating", "contract counterparty rating"),
           blank="no rated customer: with a contract, the Assumptions sheet's default "
                 "counterparty rating",
           ask="the contract customer's rating on S&P's scale", source=_RATING_SOURCE),
    Column("backstop_rating", "Backstop rating", "str",
           "Rating of a guarantor of the contract payments (e.g. a hyperscaler backstop); "
           "the contract stops only when customer and backstop both default.",
           example="AA+", group="Revenue",
           aliases=("guarantor rating", "backstop"), blank="no backstop",
           ask="the backstop's rating on S&P's scale", source=_RATING_SOURCE),
    Column("termination_payment_months", "Termination payment", "float",
           "Months of contracted revenue the customer owes on early termination (received "
           "at its default times its recovery rate).",
           example=6, unit="months", default=0.0, min=0, max=240, group="Revenue",
           aliases=("termination months", "termination fee months"),
           ask="the months of contracted revenue owed on termination",
           source="0: nothing assumed unless the contract says so"),
    Column("releasing_lag_months", "Re-leasing lag", "float",
           "Months the GPUs of a defaulted contract earn nothing before they are re-leased.",
           example=6, unit="months", default=6.0, min=0, max=120, group="Revenue",
           aliases=("relet lag", "re-lease lag", "downtime months"),
           ask="the months before the GPUs are re-leased",
           source="our estimate: about the 6-month orderly liquidation horizon of used-GPU "
                  "appraisals (SpotWire valuator, orderly 180 days)"),
    Column("releasing_rent_factor", "Re-leasing rent factor", "float",
           "Rent of the re-leased GPUs as a share of the market rent then.",
           example=0.85, unit="%", default=0.85, min=0, max=1, min_open=True, group="Revenue",
           aliases=("relet rent factor", "re-lease rent factor"),
           ask="the re-leased rent as a share of the market rent",
           source="our estimate: a distressed re-lease at a 15% discount, between SpotWire's "
                  "broker (85%) and orderly (100%) realisation factors"),
    Column("merchant_rent", "Merchant rent", "float",
           "Today's market rent for the GPU model in USD per GPU-hour.",
           example=2.42, unit="USD/GPU-hour", min=0, max=50, min_open=True, group="Revenue",
           aliases=("market rent", "spot rent", "rent"), fallback="merchant_rent_{gpu_model}",
           blank="the Assumptions sheet's merchant rent for the GPU model, else the GPU "
                 "preset (gpucredit.presets)",
           ask="today's market rent per GPU-hour",
           source="docs/sources.md: H100 about $2.42 spot mid-2026"),
    Column("rent_deflation", "Rent deflation", "float",
           "Annual decline of the market rent trend.",
           example=0.25, unit="%", default=0.25, min=0, max=0.9, group="Revenue",
           aliases=("deflation", "rent decline", "annual rent decline"),
           ask="the annual decline of market rents",
           source="docs/sources.md: $/FLOP falls about 21-28% a year (Epoch AI); inference costs "
                  "20-40% a year"),
    Column("utilization", "Utilization", "float",
           "Share of the merchant (uncontracted) GPUs rented on average.",
           example=0.85, unit="%", default=0.85, min=0, max=1, group="Revenue",
           aliases=("utilisation", "util"), ask="the share of GPUs rented",
           source="our assumption; no published fleet-wide figure in docs/sources.md"),
    # Costs ---------------------------------------------------------------------------
    Column("kw_per_gpu", "Power per GPU", "float",
           "All-in IT power per GPU in kW (servers, networking; before PUE).",
           example=1.275, unit="kW", min=0, max=5, min_open=True, group="Costs",
           aliases=("kw per gpu", "power per gpu", "kw"),
           blank="the GPU model's preset (gpucredit.presets)", ask="the power per GPU in kW",
           source="docs/sources.md: DGX H100 about 10.2 kW for 8 GPUs, DGX B200 about 14.3 kW"),
    Column("pue", "PUE", "float",
           "Power usage effectiveness of the site: facility power / IT power.",
           example=1.3, unit="x", default=1.3, min=1, max=3, group="Costs",
           aliases=("power usage effectiveness",), ask="the site's PUE",
           source="docs/sources.md: 1.1-1.2 hyperscale, 1.4-1.6 typical; 1.3 between them"),
    Column("power_price", "Power price", "float", "Electricity price in USD per kWh.",
           example=0.08, unit="USD/kWh", default=0.08, min=0, max=1, group="Costs",
           aliases=("electricity price", "power cost", "usd per kwh"),
           ask="the electricity price per kWh",
           source="EIA Electric Power Monthly table 5.6: US industrial average about "
                  "$0.08/kWh in 2024 (estimate; use the site's tariff)"),
    Column("colocation_rate", "Colocation rate", "float",
           "Colocation rent in USD per kW of IT load a month (0 for an owned site).",
           example=184, unit="USD/kW-month", default=184.0, min=0, max=1000, group="Costs",
           aliases=("colocation", "colo rate", "colo"), ask="the colocation rent per kW-month",
           source="CBRE North America H2-2024 asking rate $184/kW-month (docs/sources.md)"),
    Column("other_opex", "Other opex", "float",
           "Other cash operating costs (staff, network, insurance) in USD per GPU a year.",
           example=1200, unit="USD/GPU-year", default=0.0, min=0, max=100_000, group="Costs",
           aliases=("opex", "other operating costs"),
           ask="other operating costs per GPU a year"),
    Column("maintenance_capex", "Maintenance capex", "float",
           "Maintenance capital spending (spares, replacements) in USD per GPU a year.",
           example=500, unit="USD/GPU-year", default=0.0, min=0, max=100_000, group="Costs",
           aliases=("maintenance", "capex"), ask="maintenance capex per GPU a year"),
    Column("tax_rate", "Cash tax rate", "float",
           "Cash tax rate on taxable cash flow.",
           example=0.21, unit="%", default=0.0, min=0, max=0.6, group="Costs",
           aliases=("tax", "tax rate"), ask="the cash tax rate",
           source="0: accelerated GPU depreciation usually shelters early cash flows; "
                  "21% is the US federal rate"),
    # Covenants -----------------------------------------------------------------------
    Column("dscr_lockup", "DSCR lock-up", "float",
           "DSCR below which distributions are blocked.",
           example=1.20, unit="x", default=1.20, min=0.5, max=5, group="Covenants",
           aliases=("lockup dscr", "dscr lockup covenant"), ask="the lock-up DSCR",
           source="docs/sources.md: lock-up DSCR 1.10-1.25x"),
    Column("dscr_default", "DSCR default", "float",
           "DSCR below which the facility is in default.",
           example=1.05, unit="x", default=1.05, min=0.5, max=5, group="Covenants",
           aliases=("default dscr", "dscr default covenant"), ask="the default DSCR",
           source="docs/sources.md: default DSCR 1.00-1.05x"),
    Column("llcr_lockup", "LLCR lock-up", "float",
           "LLCR below which distributions are blocked.",
           example=1.50, unit="x", default=1.50, min=0.5, max=5, group="Covenants",
           aliases=("lockup llcr",), ask="the lock-up LLCR",
           source="docs/sources.md: LLCR lock-up about 1.50x"),
    Column("advance_rate", "Advance rate", "float",
           "Share of the collateral's eligible value the borrowing base lends against.",
           example=0.75, unit="%", default=0.75, min=0, max=1, min_open=True,
           group="Covenants", aliases=("ltc", "loan to cost", "advance"),
           ask="the advance rate",
           source="our assumption; docs/sources.md: Hut 8 River Bend up to 85% loan-to-cost"),
    Column("cash_sweep", "Cash sweep", "float",
           "Share of CFADS after debt service that prepays the loan.",
           example=0.5, unit="%", default=0.0, min=0, max=1, group="Covenants",
           aliases=("sweep", "excess cash flow sweep"), ask="the cash sweep share",
           source="docs/sources.md: TeraWulf's notes carry a 50% excess-cash-flow offer"),
    # Haircut -------------------------------------------------------------------------
    Column("liquidation_months", "Months to liquidate", "float",
           "Months the lender takes to sell the repossessed GPUs.",
           example=6, unit="months", default=6.0, min=0, max=60, min_open=True,
           group="Haircut", aliases=("liquidation horizon", "months to sell"),
           ask="the months taken to sell the GPUs",
           source="docs/sources.md: the time factor reaches 1.0 at 180 days"),
    Column("market_absorption", "Market absorption", "float",
           "GPUs of this model the secondary market absorbs a month at the going price.",
           example=5000, unit="GPUs/month", default=5000.0, min=0, max=10_000_000,
           min_open=True, group="Haircut",
           aliases=("absorption", "monthly absorption"),
           ask="the GPUs the secondary market absorbs a month",
           source="our estimate; docs/sources.md gives no figure"),
    Column("install_haircut", "Installation haircut", "float",
           "Discount for buyers who need liquid-cooled, fitted capacity to use the GPUs.",
           example=0.15, unit="%", default=0.15, min=0, max=0.9, group="Haircut",
           aliases=("install haircut",), ask="the installation haircut",
           source="docs/sources.md: 10-25% where buyers need liquid-cooled capacity"),
    Column("sale_costs", "Sale costs", "float",
           "De-installation, logistics and sale costs as a share of value.",
           example=0.05, unit="%", default=0.05, min=0, max=0.5, group="Haircut",
           aliases=("sale cost", "selling costs"), ask="the sale costs",
           source="docs/sources.md: de-install and logistics 3-8%"),
    Column("dsra_amount", "Debt service reserve", "float",
           "Cash in the debt service reserve account (DSRA) today, in USD.",
           example=60_000_000, unit="USD", default=0.0, min=0, max=1e11, group="Loan",
           aliases=("dsra", "debt service reserve account", "reserve account"),
           ask="the debt service reserve in USD",
           source="0: no reserve unless the facility has one (project finance usually "
                  "funds 6 months of debt service; Yescombe 2014, ch. 14)"),
    Column("liquidity_facility", "Liquidity facility", "float",
           "Undrawn liquidity facility that pays debt service when cash flow falls short, "
           "in USD.",
           example=0.0, unit="USD", default=0.0, min=0, max=1e11, group="Loan",
           aliases=("liquidity line", "revolver available"),
           ask="the liquidity facility in USD", source="0: none unless the facility has one"),
    Column("seniority", "Seniority", "enum",
           "Secured by the GPUs, or an unsecured claim on the borrower as a whole (senior "
           "unsecured notes, converts) or a subordinated one.",
           example="secured", default="secured",
           choices=("secured", "senior_unsecured", "subordinated"),
           synonyms={"seniorsecured": "secured", "unsecured": "senior_unsecured",
                     "convertible": "senior_unsecured", "sub": "subordinated",
                     "junior": "subordinated"},
           group="Loan", aliases=("ranking", "security"), ask="the facility's seniority",
           source="an unsecured loss uses the Assumptions' recovery by seniority"),
    # Crypto --------------------------------------------------------------------------
    Column("btc_held", "BTC held", "float", "Bitcoin on the borrower's balance sheet.",
           example=0.0, unit="BTC", default=0.0, min=0, max=21_000_000, group="Crypto",
           aliases=("btc", "bitcoin held", "btc holdings"), ask="the bitcoin held"),
    Column("hashrate_ph", "Self-mining hashrate", "float",
           "Self-mining capacity of a miner in PH/s (1 EH/s = 1,000 PH/s).",
           example=0.0, unit="PH/s", default=0.0, min=0, max=10_000_000, group="Crypto",
           aliases=("hashrate", "hash rate"), ask="the self-mining hashrate in PH/s"),
    Column("mining_efficiency", "Mining efficiency", "float",
           "Energy efficiency of the self-mining fleet, in joules per terahash; its power "
           "is paid at the row's power price and PUE.",
           example=17.5, unit="J/TH", default=17.5, min=1, max=200, group="Crypto",
           aliases=("fleet efficiency", "j/th", "joules per terahash"),
           ask="the mining fleet's efficiency in J/TH",
           source="Bitmain Antminer S21 specification: 17.5 J/TH (200 TH/s, 3,500 W)"),
    # Pricing -------------------------------------------------------------------------
    Column("borrower_debt", "Borrower total debt", "float",
           "Borrower's total debt in USD, for the Merton model's default point.",
           example=12_000_000_000, unit="USD", min=0, max=1e13, group="Pricing",
           default_from="drawn_amount", aliases=("total debt",),
           blank="this facility's drawn amount", ask="the borrower's total debt"),
    Column("equity_value", "Equity value", "float",
           "Market value of the borrower's equity in USD (listed borrowers; for Merton).",
           example=40_000_000_000, unit="USD", min=0, max=1e14, min_open=True,
           group="Pricing", aliases=("market cap", "market capitalisation"),
           blank="no Merton estimate", ask="the equity market value"),
    Column("equity_vol", "Equity volatility", "float",
           "Annual volatility of the borrower's share price (for Merton).",
           example=0.8, unit="%", min=0, max=5, min_open=True, group="Pricing",
           aliases=("equity volatility", "stock volatility"),
           blank="no Merton estimate", ask="the annual equity volatility"),
    Column("quoted_spread", "Quoted spread", "float",
           "Spread the market or the deal pays over the risk-free rate, in basis points.",
           example=450, unit="bp", min=0, max=5000, group="Pricing",
           aliases=("market spread", "spread bp"),
           blank="no mispricing reported", ask="the quoted spread in basis points (450 = 4.50%)"),
)

# ------------------------------------------------------------------------ the assumptions


def _rent_assumption(model: str) -> Assumption:
    return Assumption(
        f"merchant_rent_{model.lower()}", f"Merchant rent {model}", "float",
        f"Market rent of the {model} in USD per GPU-hour for tape rows that leave it blank.",
        example=2.42 if model == "H100" else None, unit="USD/GPU-hour", min=0, max=50,
        min_open=True, group="Rents", blank="the GPU preset's rent (gpucredit.presets)",
        ask=f"the {model} market rent per GPU-hour")


ASSUMPTIONS: tuple[Assumption, ...] = (
    Assumption("valuation_date", "Valuation date", "date",
               "Date the tape is valued at: ages, remaining tenors and paths start here.",
               example=dt.date(2026, 6, 30), group="Market", blank="the date of the run"),
    Assumption("base_rate", "Base rate (SOFR)", "float",
               "Base rate of floating-rate loans, held flat.",
               example=0.04, unit="%", default=0.04, min=-0.05, max=0.25, group="Market",
               source="illustrative: replace with the current 3-month term SOFR (CME)"),
    Assumption("risk_free_rate", "Risk-free rate", "float",
               "Risk-free rate for pricing (Merton, fair spreads).",
               example=0.04, unit="%", default=0.04, min=-0.05, max=0.25, group="Market",
               source="illustrative: replace with the Treasury yield of the loans' tenor"),
    Assumption("btc_price", "BTC price", "float", "Bitcoin price in USD.",
               example=100_000, unit="USD", default=100_000.0, min=0, max=1e8,
               min_open=True, group="Market",
               source="illustrative: replace with today's price"),
    *(_rent_assumption(m) for m in _GPU_MODELS),
    Assumption("rent_index_h100", "H100 rent index", "float",
               "Today's H100 rental index (e.g. Silicon Data SDH100RT), for reference and "
               "rent scenarios.",
               example=2.42, unit="USD/GPU-hour", default=2.42, min=0, max=50,
               min_open=True, group="Rents",
               source="docs/sources.md: H100 about $2.42 spot, $2.65 contract mid-2026"),
    Assumption("curve_life", "Straight-line life", "float",
               "Useful life of the straight-line curve in years.",
               example=6.0, unit="years", default=6.0, min=0, max=30, min_open=True,
               group="Curves",
               source="docs/sources.md: Microsoft, Alphabet, CoreWeave depreciate over 6 years"),
    Assumption("curve_salvage", "Straight-line salvage", "float",
               "Salvage value at the end of the straight-line life, share of cost.",
               example=0.0, unit="%", default=0.0, min=0, max=1, max_open=True,
               group="Curves"),
    Assumption("curve_rate", "Declining-balance rate", "float",
               "Annual decline d of the declining-balance curve.",
               example=0.30, unit="%", default=0.30, min=0, max=1, min_open=True,
               max_open=True, group="Curves",
               source="docs/sources.md: d = 20/30/40% a year (half-lives 3.1, 1.9, 1.4 years)"),
    Assumption("curve_lam", "Exponential decay (lambda)", "float",
               "Decay rate lambda of the exponential-with-floor curve, a year.",
               example=0.46, default=0.46, min=0, max=10, min_open=True, group="Curves",
               source="docs/sources.md: fit to the practitioner curve, lambda about 0.46"),
    Assumption("curve_floor", "Exponential floor", "float",
               "Floor F of the exponential-with-floor curve, share of cost.",
               example=0.03, unit="%", default=0.03, min=0, max=1, max_open=True,
               group="Curves", source="docs/sources.md: fit to the practitioner curve, F about 3%"),
    Assumption("curve_hold_years", "Logistic hold", "float",
               "Years the logistic 'hold then fall' curve holds its value.",
               example=2.0, unit="years", default=2.0, min=0, max=20, group="Curves",
               source="docs/sources.md: value holds about two years, then drops"),
    Assumption("curve_steepness", "Logistic steepness", "float",
               "Steepness of the logistic curve's fall, a year.",
               example=2.0, default=2.0, min=0, max=20, min_open=True, group="Curves",
               source="our assumption"),
    Assumption("attrition_rate", "Physical attrition", "float",
               "Share of GPUs lost for good a year (after repairs and warranty swaps).",
               example=0.03, unit="%", default=0.03, min=0, max=1, max_open=True,
               group="Curves",
               source="our estimate: Meta's Llama 3 run (2024) saw GPU faults at about 9% "
                      "of GPUs a year, most of them repaired or replaced under warranty; a "
                      "third taken as lost for good (set 0.09 to stress)"),
    Assumption("price_vol_monthly", "Used-GPU price volatility", "float",
               "Monthly volatility of used-GPU prices (sigma_m of the impact haircut).",
               example=0.10, unit="%", default=0.10, min=0, max=2, group="Haircut",
               ask="the monthly volatility of used-GPU prices",
               source="our estimate (about 35% a year); docs/sources.md gives none"),
    Assumption("impact_coefficient", "Impact coefficient (Y)", "float",
               "Coefficient Y of the square-root price-impact law.",
               example=0.75, default=0.75, min=0, max=5, group="Haircut",
               source="docs/sources.md: Y about 0.5-1"),
    Assumption("btc_vol", "BTC volatility", "float", "Annual volatility of the BTC price.",
               example=0.55, unit="%", default=0.55, min=0, max=3, min_open=True,
               group="Crypto",
               source="docs/sources.md: 50-70% a year (realised 40-55% in calm years)"),
    Assumption("crypto_horizon_days", "Crypto liquidation horizon", "float",
               "Days to sell crypto collateral (VaR horizon of the crypto haircut).",
               example=10, unit="days", default=10.0, min=0, max=365, min_open=True,
               group="Crypto", source="Basel market-risk VaR horizon of 10 days"),
    Assumption("crypto_confidence", "Crypto haircut confidence", "float",
               "One-sided confidence level of the crypto haircut.",
               example=0.99, unit="%", default=0.99, min=0.5, max=1, min_open=True,
               max_open=True, group="Crypto"),
    Assumption("network_difficulty", "Network difficulty", "float",
               "Bitcoin network difficulty, in trillions, held flat.",
               example=146.4, unit="T", default=146.4, min=0, max=1e6, min_open=True,
               group="Crypto",
               source="146.4 trillion at the first difficulty adjustment of 2026 (the "
                      "Bitcoin blockchain, block 931,392; as reported)"),
    Assumption("fees_per_block", "Transaction fees per block", "float",
               "Transaction fees a block pays miners on top of the subsidy, in BTC.",
               example=0.025, unit="BTC/block", default=0.025, min=0, max=10,
               group="Crypto",
               source="our estimate: fees were about 1% of the 3.125 BTC subsidy in 2025 "
                      "(the Bitcoin blockchain, as reported)"),
    Assumption("default_counterparty_rating", "Default counterparty rating", "str",
               "Rating assumed for a contract customer the tape leaves unrated.",
               example="B+", default="B+", group="Credit",
               source="our estimate: an unrated AI customer as a typical speculative-grade "
                      "credit (S&P's rated speculative-grade issuers centre on B+/B)"),
    Assumption("customer_correlation", "Customer asset correlation", "float",
               "Correlation of contract customers' defaults with the systematic market "
               "factor (one-factor model).",
               example=0.24, unit="%", default=0.24, min=0, max=0.99, group="Credit",
               source="Basel II (2006) para. 272: corporate asset correlation 12-24%, 24% at "
                      "the low PDs of investment-grade customers"),
    Assumption("generation_correlation", "Cross-generation rent correlation", "float",
               "Correlation of the rent-index innovations of different GPU generations.",
               example=0.7, unit="%", default=0.7, min=-1, max=1, group="Credit",
               source="our estimate (no published figure): generations share demand; "
                      "stress at 0.5 and 0.9"),
    Assumption("recovery_senior_unsecured", "Recovery, senior unsecured", "float",
               "Recovery rate of senior unsecured claims (notes, converts, a customer's "
               "termination payment).",
               example=0.38, unit="%", default=0.38, min=0, max=1, group="Credit",
               source="Moody's Annual Default Study 1920-2023 (Feb 2024): senior unsecured "
                      "bonds recover about 37-40% (as reported)"),
    Assumption("recovery_subordinated", "Recovery, subordinated", "float",
               "Recovery rate of subordinated claims.",
               example=0.28, unit="%", default=0.28, min=0, max=1, group="Credit",
               source="Moody's Annual Default Study 1920-2023 (Feb 2024): subordinated bonds "
                      "recover about 25-30% (as reported)"),
    Assumption("refi_max_ltv", "Refinancing maximum LTV", "float",
               "Largest loan-to-value (on market value) a refinancing lender offers at a "
               "balloon.",
               example=0.65, unit="%", default=0.65, min=0, max=2, min_open=True,
               group="Credit",
               source="lenders advance 60-70% of GPU hardware value (GPU Lease Rate Index "
                      "residual guide, 2026, as reported); 65% the middle"),
    Assumption("refi_min_dscr", "Refinancing minimum DSCR", "float",
               "Smallest DSCR of the refinanced debt a refinancing lender accepts.",
               example=1.25, unit="x", default=1.25, min=0, max=5, min_open=True,
               group="Credit",
               source="top of the 1.10-1.25x lock-up range (Yescombe 2014, ch. 14)"),
    Assumption("refi_tenor_years", "Refinancing tenor", "float",
               "Tenor of the refinanced debt, amortising as an annuity (longer where a "
               "contract runs on after maturity: the lender amortises over its term; "
               "unsecured notes refinance as bullets, tested on interest cover).",
               example=3.0, unit="years", default=3.0, min=0.25, max=30, group="Credit",
               source="our estimate: within the economic life GPUs have left at a balloon; "
                      "CoreWeave's later draws mature five years after drawing (S-1, 2025)"),
    Assumption("refi_spread", "Refinancing spread", "float",
               "Spread over the base rate of the refinanced debt.",
               example=0.06, unit="%", default=0.06, min=0, max=0.5, group="Credit",
               source="CoreWeave DDTL 2.0: SOFR+6.00-6.50% against IG contracts (Form S-1, "
                      "March 2025, as reported)"),
    Assumption("rho", "BTC/rent correlation", "float",
               "Correlation between the BTC and GPU-rent drivers.",
               example=0.3, default=0.3, min=-1, max=1, group="Monte Carlo",
               source="docs/sources.md: no published estimate; stress at 0, 0.3, 0.6"),
    Assumption("copula", "Copula", "enum",
               "Dependence between the drivers: Gaussian, or Student-t (tail dependence).",
               example="gaussian", default="gaussian", choices=("gaussian", "student_t"),
               synonyms={"normal": "gaussian", "t": "student_t", "student": "student_t"},
               group="Monte Carlo",
               source="docs/sources.md: offer a Student-t beside the Gaussian"),
    Assumption("copula_df", "Student-t degrees of freedom", "float",
               "Degrees of freedom nu of the Student-t copula.",
               example=5, default=5.0, min=2, max=100, min_open=True, group="Monte Carlo",
               ask="the degrees of freedom of the Student-t copula",
               source="docs/sources.md: nu 4-6"),
    Assumption("mc_paths", "Monte Carlo paths", "int", "Number of simulated paths.",
               example=1000, default=1000, min=1, max=10_000_000, group="Monte Carlo",
               ask="the number of Monte Carlo paths"),
    Assumption("mc_seed", "Monte Carlo seed", "int",
               "Seed of the simulation; each facility's stream derives from it and its id.",
               example=7, default=7, min=0, max=2**32 - 1, group="Monte Carlo",
               ask="the Monte Carlo seed"),
)

RULES: tuple[Rule, ...] = (
    Rule("duplicate_id", "error", ("facility_id",),
         "Each facility id appears on one row only; every row sharing an id is rejected."),
    Rule("maturity_after_origination", "error", ("maturity_date", "origination_date"),
         "The maturity date is after the origination date."),
    Rule("drawn_within_commitment", "error", ("drawn_amount", "commitment"),
         "The drawn amount is at most the commitment."),
    Rule("availability_before_maturity", "error", ("availability_end_date", "maturity_date"),
         "The availability period ends on or before the maturity date."),
    Rule("draws_need_drawn_fleet", "error",
         ("availability_end_date", "drawn_amount", "commitment"),
         "Undrawn commitment still available after the valuation date needs an amount drawn "
         "today: the draws buy GPUs at the drawn amount per GPU."),
    Rule("draws_on_scheduled_loan", "error",
         ("availability_end_date", "amortization", "cash_sweep"),
         "Undrawn commitment still available after the valuation date is modelled on an "
         "annuity, straight-line or bullet loan without a cash sweep."),
    Rule("fixed_needs_rate", "error", ("fixed_rate", "rate_type"),
         "A fixed-rate loan has a fixed rate."),
    Rule("floating_needs_spread", "error", ("spread", "rate_type"),
         "A floating-rate loan has a spread."),
    Rule("contract_needs_rate", "error", ("contract_rate", "contracted_share"),
         "A contracted share above 0% comes with a contract rate."),
    Rule("contract_needs_end", "error", ("contract_end_date", "contracted_share"),
         "A contracted share above 0% comes with a contract end date."),
    Rule("contract_end_after_origination", "error", ("contract_end_date", "origination_date"),
         "With a contracted share above 0%, the contract ends on or after the origination date."),
    Rule("default_below_lockup", "error", ("dscr_default", "dscr_lockup"),
         "The default DSCR is at most the lock-up DSCR."),
    Rule("spread_on_fixed", "warning", ("spread", "rate_type"),
         "A spread on a fixed-rate loan is ignored (check the rate type)."),
    Rule("sculpt_below_lockup", "warning", ("sculpt_dscr", "dscr_lockup"),
         "A sculpted loan's target DSCR below the lock-up DSCR locks up every period."),
    Rule("interest_only_covers_tenor", "warning",
         ("interest_only_periods", "maturity_date", "origination_date", "periods_per_year"),
         "Interest-only periods that cover the whole tenor make the loan a bullet."),
    Rule("delivery_after_maturity", "warning", ("delivery_date", "maturity_date"),
         "GPUs delivered after the loan matures."),
    Rule("loan_above_cost", "warning", ("commitment", "gpu_count", "gpu_unit_cost"),
         "The commitment exceeds the cost of the GPUs (loan-to-cost above 100%)."),
    Rule("quoted_spread_in_bp", "warning", ("quoted_spread",),
         "A quoted spread below 1bp is probably a decimal: enter 450 for 4.50%."),
    Rule("merton_inputs_pair", "warning", ("equity_value", "equity_vol"),
         "The Merton model needs both the equity value and its volatility."),
    Rule("matured_before_valuation", "error", ("maturity_date",),
         "The facility has matured on or before the valuation date."),
)

_BY_NAME: Mapping[str, Column] = MappingProxyType({c.name: c for c in COLUMNS})
_ASSUMPTION_BY_NAME: Mapping[str, Assumption] = MappingProxyType({a.name: a for a in ASSUMPTIONS})


def _header_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for c in COLUMNS:
        for text in (c.name, c.label, *c.aliases):
            key = header_key(text)
            if key in index and index[key] != c.name:
                raise ValueError(f"header {text!r} matches both {index[key]} and {c.name}")
            index[key] = c.name
    return index


_HEADERS: Mapping[str, str] = MappingProxyType(_header_index())


def _assumption_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for a in ASSUMPTIONS:  # the first assumption a text designates wins, as in the list
        for text in (a.name, a.label):
            index.setdefault(header_key(text), a.name)
    return index


_ASSUMPTION_KEYS: Mapping[str, str] = MappingProxyType(_assumption_index())


def column(name: str) -> Column:
    """The column called ``name``.

    >>> column("spread").label
    'Spread over base'
    >>> column("sofr")
    Traceback (most recent call last):
    ...
    KeyError: "no tape column 'sofr'"
    """
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no tape column {name!r}") from None


def assumption(name: str) -> Assumption:
    """The assumption called ``name``.

    >>> assumption("btc_vol").default
    0.55
    """
    try:
        return _ASSUMPTION_BY_NAME[name]
    except KeyError:
        raise KeyError(f"no assumption {name!r}") from None


def match_header(text: Any) -> str | None:
    """The column a header names (by name, label or alias; case, spaces, underscores and a
    trailing unit in brackets ignored), or ``None``.

    >>> match_header("Facility ID"), match_header("FACILITY_ID"), match_header("Notes ")
    ('facility_id', 'facility_id', 'source')
    >>> match_header("Colour") is None
    True
    """
    if text is None:
        return None
    return _HEADERS.get(header_key(text))


def match_assumption(text: Any) -> str | None:
    """The assumption a label or name designates, or ``None``.

    >>> match_assumption("Base rate (SOFR)"), match_assumption("btc_price")
    ('base_rate', 'btc_price')
    """
    if text is None:
        return None
    return _ASSUMPTION_KEYS.get(header_key(text))


def required_columns() -> tuple[str, ...]:
    """Names of the columns a tape must have.

    >>> required_columns()[:3]
    ('facility_id', 'borrower', 'borrower_type')
    """
    return tuple(c.name for c in COLUMNS if c.required)


def columns_by_group() -> dict[str, tuple[Column, ...]]:
    """Columns grouped as in the template, groups in :data:`GROUPS` order.

    >>> [c.name for c in columns_by_group()["Crypto"]]
    ['btc_held', 'hashrate_ph', 'mining_efficiency']
    """
    return {g: tuple(c for c in COLUMNS if c.group == g) for g in GROUPS}


# ------------------------------------------------------------------------------- the docs

_DOC_INTRO = """\
# The loan tape

<!-- Generated by `python -m gpucredit.tape.make_docs` from
     src/gpucredit/tape/schema.py: edit the schema, not this file. -->

A loan tape is one row per facility: who borrows, what GPUs secure the loan, the loan's
terms, the revenue and costs of the fleet, the covenants, the haircut inputs, crypto
holdings and market pricing. gpucredit reads it from an Excel workbook (`.xlsx`,
`.xlsm`) or a CSV file, checks every cell, and computes the good rows.

## How to fill it in

* Start from the template (`gpucredit template tape -o tape.xlsx`): the tape is an Excel
  Table on the **Tape** sheet; market data sit on the **Assumptions** sheet as named cells.
  A plain range works too: the header is the first row that names at least two columns
  (usually the first non-empty row) of the sheet called `Tape`. With no such sheet (it was
  renamed), the tape is read from the sheet holding the template's table, else from the
  sheet whose header row names the most tape columns, and a warning says which.
* Headers are matched ignoring case, spaces, underscores and a unit in brackets: `Facility
  ID`, `facility_id` and `FACILITY ID (text)` are the same column. The labels, names and
  aliases below are all accepted. Columns the schema does not know are reported and ignored.
  Amounts are read as written, in whole dollars: a header that scales them (`Drawn amount
  [USD m]`, `(USD '000)`) stops the tape with the column named, never read a million times
  too small.
* **Percentages** are decimals, as in a cell formatted as a percentage: 8% is entered as
  `8%` or `0.08` (text such as `8%` or `800bp` is understood too). A bare `8` means 800%
  and is refused, never divided by 100 behind your back. The loan spread and floor are
  percentages like the rates; only the **quoted spread** is in basis points (450 = 4.50%).
* **Dates** may be Excel dates, Excel serial numbers (45,473 is 2024-06-30) or text in ISO
  form (`2024-06-30`); `30 Jun 2024` and unambiguous day/month orders are read too, and an
  ambiguous `06/07/2024` is refused with a question.
* **Choices** are matched ignoring case, spaces, `-` and `_` (`Straight line` is
  `straight_line`); a few synonyms are accepted (`quarterly` for 4 periods a year,
  `SOFR` for floating).
* A **blank** takes the default shown below. *Required* columns cannot be blank.
* Text that starts with `=`, `+`, `-` or `@` is kept as text; gpucredit never writes it
  back as a formula.

## What happens to mistakes

Every problem is found in one pass and reported with its sheet, row, column, value and
what is expected, in words such as

    Row 14, column H (Utilization): 120% is above 100%: enter the share of GPUs rented,
    between 0% and 100%

An *error* rejects its row (the other rows are computed; `--strict` stops the run instead);
a *warning* is reported and the row is computed. A missing required column rejects the
whole file and names the closest header found.

Files are checked before any parser opens them: a file that is not a spreadsheet, a damaged
or truncated zip, a password-protected workbook, an XML entity bomb, a zip bomb, a sheet
reaching beyond the row limit (200,000 rows by default) or spreading stray cells across a
million rows by 16,384 columns each end in a clear message, never a crash.
"""


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _default_text(f: Field) -> str:
    if f.required:
        return "**required**"
    if f.default is not None:
        return f.show(f.default).strip('"')
    if isinstance(f, Column) and f.default_from:
        return f"= {f.default_from}"
    return f.blank or "blank"


def _example_text(f: Field) -> str:
    return "" if f.example is None else f.show(f.example).strip('"')


def _field_table(fields: Iterable[Field], with_aliases: bool) -> list[str]:
    head = "| Name | Label | Type | Unit | Accepts | Default | Example | Description |"
    rows = [head, "|" + "---|" * 8]
    for f in fields:
        desc = f.description
        if f.source:
            desc += f" *Source: {f.source}.*"
        if with_aliases and isinstance(f, Column) and f.aliases:
            desc += " Also read as: " + ", ".join(f"`{a}`" for a in f.aliases) + "."
        rows.append("| " + " | ".join(_cell(x) for x in (
            f"`{f.name}`", f.label, f.type, f.unit, f.expectation(), _default_text(f),
            _example_text(f), desc)) + " |")
    return rows


def render_markdown() -> str:
    """The loan-tape documentation (``docs/tape.md``), generated from the declarations.

    >>> text = render_markdown()
    >>> "| `utilization` | Utilization |" in text and "## Assumptions sheet" in text
    True
    """
    out = [_DOC_INTRO]
    out.append("## Columns\n")
    for group, cols in columns_by_group().items():
        out.append(f"### {group}\n")
        out.extend(_field_table(cols, with_aliases=True))
        out.append("")
    out.append("## Checks across columns\n")
    out.append("| Rule | Severity | Columns | Check |")
    out.append("|---|---|---|---|")
    for r in RULES:
        out.append(f"| `{r.id}` | {r.severity} | "
                   + ", ".join(f"`{c}`" for c in r.columns) + f" | {_cell(r.text)} |")
    out.append("")
    out.append("## Assumptions sheet\n")
    out.append("Market data for the whole tape. In the template each value is a named cell "
               "(the name is the one below); a sheet called `Assumptions` with the label or "
               "the name in one cell and the value in the next cell to its right works too. "
               "A blank takes the default.\n")
    for group in ASSUMPTION_GROUPS:
        out.append(f"### {group}\n")
        out.extend(_field_table((a for a in ASSUMPTIONS if a.group == group),
                                with_aliases=False))
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def write_docs(path: str | Path = "docs/tape.md") -> Path:
    """Write :func:`render_markdown` to ``path`` (whole file, replaced atomically).

    >>> import tempfile, pathlib
    >>> p = write_docs(pathlib.Path(tempfile.mkdtemp()) / "tape.md")
    >>> p.read_text(encoding="utf-8").startswith("# The loan tape")
    True
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_markdown(), encoding="utf-8")
    tmp.replace(path)
    return path
