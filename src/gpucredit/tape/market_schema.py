"""The market data file: its columns, declared once.

One table holds every kind of market observation an analyst has, one observation a row,
the ``Series`` column saying which kind it is:

============  =================================================  ========================
Series        What a row is                                      Value is
============  =================================================  ========================
rent          a rent index or quote on a date (spot or contract)  USD per GPU-hour
forward       a forward-curve point: as-of date, tenor            USD per GPU-hour
used_price    a used-GPU sale or listing on a date                USD per GPU
btc           the BTC price on a date                             USD per BTC
hashprice     the hashprice on a date                             USD per PH/s per day
============  =================================================  ========================

The same columns serve a CSV file and the ``Market`` sheet of a workbook; the reader
(:mod:`gpucredit.tape.market_reader`), the documentation (``docs/market.md``) and the
report read this declaration. Headers match regardless of case, spacing, underscores and
a unit in brackets (:func:`gpucredit.tape.schema.header_key`).

Examples
--------
>>> match_market_header("GPU model"), match_market_header("Tenor (months)")
('gpu_model', 'tenor_months')
>>> [c.name for c in COLUMNS if "forward" in c.needed_by]
['series', 'date', 'gpu_model', 'value', 'tenor_months', 'source']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gpucredit.tape.schema import header_key

__all__ = ["COLUMNS", "SERIES", "SERIES_UNITS", "MarketColumn", "column", "columns_markdown",
           "match_market_header"]

SERIES = ("rent", "forward", "used_price", "btc", "hashprice")
"""The kinds of market series, the choices of the ``Series`` column."""

SERIES_UNITS = {
    "rent": "USD per GPU-hour",
    "forward": "USD per GPU-hour",
    "used_price": "USD per GPU",
    "btc": "USD per BTC",
    "hashprice": "USD per PH/s per day",
}
"""Unit of the ``Value`` column for each series."""

_GPU_SERIES = ("rent", "forward", "used_price")


@dataclass(frozen=True)
class MarketColumn:
    """One column of the market data file.

    Attributes
    ----------
    name : str
        Canonical name (the frame's column).
    label : str
        Header as the template writes it.
    kind : str
        ``"choice"``, ``"date"``, ``"number"`` or ``"text"``.
    doc : str
        What the column holds, for the documentation and the template's notes.
    needed_by : tuple of str
        Series whose rows must fill this column.
    aliases : tuple of str
        Other headers accepted.
    choices : tuple of str
        Allowed values of a choice column (case ignored).
    low : float or None
        Lowest allowed number.
    low_open : bool
        Whether ``low`` itself is refused (``> low`` rather than ``>= low``).
    """

    name: str
    label: str
    kind: str
    doc: str
    needed_by: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    low: float | None = None
    low_open: bool = False


COLUMNS = (
    MarketColumn("series", "Series", "choice",
                 "Which kind of observation the row is: " + ", ".join(SERIES) + ".",
                 needed_by=SERIES, aliases=("type", "data", "series type"), choices=SERIES),
    MarketColumn("date", "Date", "date",
                 "Date of the observation; for a forward-curve point, the curve's as-of date.",
                 needed_by=SERIES, aliases=("as of", "as of date", "observation date",
                                            "trade date")),
    MarketColumn("gpu_model", "GPU model", "text",
                 "GPU model the row is about (H100, A100, B200 ...).",
                 needed_by=_GPU_SERIES, aliases=("model", "gpu")),
    MarketColumn("value", "Value", "number",
                 "The observation in the series' unit: rent or forward rent in USD per "
                 "GPU-hour, used price in USD per GPU, BTC in USD, hashprice in USD per PH/s "
                 "per day.", needed_by=SERIES, aliases=("price", "rent", "level"),
                 low=0.0, low_open=True),
    MarketColumn("kind", "Kind", "choice",
                 "Spot (on-demand) or contract (term) rent; rent rows must say which, "
                 "forward rows may.", needed_by=("rent",),
                 aliases=("spot or contract", "rent kind", "basis"),
                 choices=("spot", "contract")),
    MarketColumn("tenor_months", "Tenor (months)", "number",
                 "Months from the as-of date to the forward point (0 = spot).",
                 needed_by=("forward",), aliases=("tenor", "months"), low=0.0),
    MarketColumn("condition", "Condition", "text",
                 "Condition of a used GPU sold or listed (new, used, refurbished).",
                 aliases=("state",)),
    MarketColumn("source", "Source", "text",
                 "Where the figure was published (publisher, title, date or address): "
                 "every row must cite one.", needed_by=SERIES,
                 aliases=("reference", "citation", "notes")),
)
"""The columns of the market data file, in template order."""

_BY_NAME = {c.name: c for c in COLUMNS}
_HEADERS = {header_key(h): c.name for c in COLUMNS
            for h in (c.name, c.label, *c.aliases)}


def column(name: str) -> MarketColumn:
    """The column called ``name``.

    >>> column("tenor_months").label
    'Tenor (months)'
    """
    return _BY_NAME[name]


def match_market_header(text: Any) -> str | None:
    """The market column a header names, or ``None``.

    >>> match_market_header(" SERIES "), match_market_header("Value (USD)"), \
match_market_header("colour")
    ('series', 'value', None)
    """
    if text is None:
        return None
    return _HEADERS.get(header_key(text))


def columns_markdown() -> str:
    """The columns as a Markdown table, for ``docs/market.md`` (kept equal by a test).

    >>> columns_markdown().splitlines()[0]
    '| Header | Also accepted | Kind | Needed by | What it holds |'
    """
    lines = ["| Header | Also accepted | Kind | Needed by | What it holds |",
             "|---|---|---|---|---|"]
    for c in COLUMNS:
        needed = "all" if c.needed_by == SERIES else (", ".join(c.needed_by) or "-")
        kind = c.kind + (f" ({', '.join(c.choices)})" if c.choices else "")
        lines.append(f"| {c.label} | {', '.join(c.aliases)} | {kind} | {needed} | {c.doc} |")
    return "\n".join(lines)
