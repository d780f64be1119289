"""Cell styles and number formats shared by every workbook gpucredit writes.

One place for the modelling conventions, so the deal model, the loan-tape template and
the results workbook look alike and an analyst reads them the same way:

* **Inputs** (numbers a person types or overrides): blue font on a light-yellow fill.
* **Calculations** (formulas): black font, no fill.
* **Checks** (a native-formula cross-check beside a ``GPU_`` calculation, or a
  difference that should be zero): green font.
* **Headers** of tables and time lines: bold white on dark blue; **titles** bold and large.
* **Number formats**: USD, percent, multiples such as ``1.25x``, dates, plain counts.

Use it in three steps::

    wb = openpyxl.Workbook()
    add_named_styles(wb)                     # once per workbook (idempotent)
    style_cell(ws["C4"], INPUT, USD)         # a named style, then a number format

Named styles (rather than loose Font/Fill objects) keep styles.xml small and let a user
restyle every input cell at once in Excel (Home > Cell Styles).

Examples
--------
>>> import openpyxl
>>> wb = openpyxl.Workbook()
>>> add_named_styles(wb)
>>> cell = wb.active["B2"]
>>> cell.value = 0.08
>>> style_cell(cell, INPUT, PCT)
>>> cell.style, cell.number_format, cell.font.color.rgb
('gpu input', '0.00%', '000000FF')
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable
from pathlib import Path

from openpyxl.styles import Alignment, Border, Font, NamedStyle, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.properties import PageSetupProperties

__all__ = [
    "CALC",
    "CHECK",
    "DATE",
    "HEADER",
    "INPUT",
    "INTEGER",
    "MULTIPLE",
    "NOTE",
    "NUMBER",
    "PCT",
    "PCT1",
    "RATE",
    "TITLE",
    "USD",
    "USD_CENTS",
    "USD_M",
    "add_named_styles",
    "fix_font_order",
    "set_widths",
    "style_cell",
    "style_header_row",
]

# ----------------------------------------------------------------------------- colours
BLUE = "0000FF"
"""Input font colour (the usual banking/FAST convention: blue = hard-coded input)."""
LIGHT_YELLOW = "FFF2CC"
"""Input fill colour."""
GREEN = "00803C"
"""Cross-check font colour."""
HEADER_FILL = "1F3864"
"""Header fill (dark blue); header text is white."""
GREY = "595959"
"""Notes and units."""

# ----------------------------------------------------------------------------- formats
USD = '"$"#,##0;[Red]-"$"#,##0'
"""Whole US dollars, negatives in red."""
USD_CENTS = '"$"#,##0.00;[Red]-"$"#,##0.00'
"""US dollars and cents (rents per GPU-hour, prices)."""
USD_M = '"$"#,##0.0,,"m";[Red]-"$"#,##0.0,,"m"'
"""US dollars shown in millions (the value stays in dollars)."""
PCT = "0.00%"
"""Percent with two decimals (rates, spreads)."""
PCT1 = "0.0%"
"""Percent with one decimal (utilization, haircuts, LTV)."""
RATE = "0.0000%"
"""Percent with four decimals (per-period rates)."""
MULTIPLE = '0.00"x"'
"""Multiples such as DSCR, LLCR: ``1.25x``."""
DATE = "yyyy-mm-dd"
"""Dates, ISO order (unambiguous in every locale)."""
INTEGER = "#,##0"
"""Counts (GPUs, periods)."""
NUMBER = "#,##0.00"
"""Plain numbers with two decimals."""

# ----------------------------------------------------------------------------- styles
INPUT = "gpu input"
"""Named style for input cells: blue font, light-yellow fill, thin border."""
CALC = "gpu calc"
"""Named style for calculated cells: black font."""
CHECK = "gpu check"
"""Named style for native-formula cross-checks: green italic font."""
HEADER = "gpu header"
"""Named style for header cells: bold white on dark blue, centred, wrapped."""
TITLE = "gpu title"
"""Named style for a sheet title: bold, 14 pt."""
NOTE = "gpu note"
"""Named style for notes, units and sources: grey italic."""

_thin = Side(style="thin", color="BFBFBF")


def _named_styles() -> list[NamedStyle]:
    return [
        NamedStyle(name=INPUT, font=Font(name="Calibri", size=11, color=BLUE),
                   fill=PatternFill("solid", fgColor=LIGHT_YELLOW),
                   border=Border(left=_thin, right=_thin, top=_thin, bottom=_thin)),
        NamedStyle(name=CALC, font=Font(name="Calibri", size=11, color="000000")),
        NamedStyle(name=CHECK, font=Font(name="Calibri", size=11, color=GREEN, italic=True)),
        NamedStyle(name=HEADER, font=Font(name="Calibri", size=11, bold=True, color="FFFFFF"),
                   fill=PatternFill("solid", fgColor=HEADER_FILL),
                   alignment=Alignment(horizontal="center", vertical="center",
                                       wrap_text=True)),
        NamedStyle(name=TITLE, font=Font(name="Calibri", size=14, bold=True)),
        NamedStyle(name=NOTE, font=Font(name="Calibri", size=10, italic=True, color=GREY)),
    ]


def add_named_styles(wb) -> None:
    """Register the gpucredit named styles in an openpyxl workbook (idempotent).

    Parameters
    ----------
    wb : openpyxl.Workbook
        The workbook; styles already present (by name) are left alone.
    """
    present = set(wb.named_styles)
    for style in _named_styles():
        if style.name not in present:
            wb.add_named_style(style)


def style_cell(cell, style: str, number_format: str | None = None) -> None:
    """Give a cell one of the named styles and, optionally, a number format.

    Parameters
    ----------
    cell : openpyxl.cell.Cell
        The cell (its workbook must have had :func:`add_named_styles`).
    style : str
        :data:`INPUT`, :data:`CALC`, :data:`CHECK`, :data:`HEADER`, :data:`TITLE` or
        :data:`NOTE`.
    number_format : str, optional
        :data:`USD`, :data:`PCT`, :data:`MULTIPLE`, :data:`DATE` ... (the named style's
        own format, General, when omitted).
    """
    cell.style = style
    if number_format is not None:
        cell.number_format = number_format


def style_header_row(ws, row: int, first_col: int, labels: Iterable[str]) -> None:
    """Write header labels along a row, styled :data:`HEADER`.

    >>> import openpyxl
    >>> wb = openpyxl.Workbook(); add_named_styles(wb)
    >>> style_header_row(wb.active, 1, 2, ["Period", "CFADS"])
    >>> wb.active["C1"].value, wb.active["C1"].style
    ('CFADS', 'gpu header')
    """
    for j, label in enumerate(labels):
        cell = ws.cell(row=row, column=first_col + j, value=label)
        cell.style = HEADER


def set_widths(ws, widths: dict[int | str, float]) -> None:
    """Set column widths, keyed by column number (1 = A) or letter.

    >>> import openpyxl
    >>> ws = openpyxl.Workbook().active
    >>> set_widths(ws, {1: 30, "B": 12})
    >>> ws.column_dimensions["A"].width, ws.column_dimensions["B"].width
    (30.0, 12.0)
    """
    for col, width in widths.items():
        letter = get_column_letter(col) if isinstance(col, int) else col
        ws.column_dimensions[letter].width = width


# The order the Open XML SDK's schema gives a font's children (CT_Font). openpyxl writes
# ``name`` first, which Excel accepts but the SDK validator reports as an error.
_FONT_ORDER = ("b", "i", "strike", "condense", "extend", "outline", "shadow", "u",
               "vertAlign", "sz", "color", "name", "family", "charset", "scheme")
_FONT = re.compile(r"<font>(?P<body>.*?)</font>", re.S)
_CHILD = re.compile(r"<(?P<tag>\w+)\b[^>]*/>")


def print_setup(ws, *, landscape: bool, fit_height: int = 0,
                title_rows: str | None = None) -> None:
    """Print a sheet one page wide (``fit_height`` pages tall, 0: as many as needed),
    with narrow side margins and ``title_rows`` (e.g. ``"4:4"``) repeated on every page."""
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = fit_height
    ws.page_margins.left = ws.page_margins.right = 0.4
    if title_rows:
        ws.print_title_rows = title_rows


def _ordered_fonts(xml: str) -> str:
    def fix(m: re.Match) -> str:
        children = [c.group(0) for c in _CHILD.finditer(m["body"])]
        if "".join(children) != re.sub(r">\s+<", "><", m["body"].strip()):
            return m.group(0)  # not the simple shape this expects: leave it alone
        children.sort(key=lambda c: _FONT_ORDER.index(_CHILD.match(c)["tag"])
                      if _CHILD.match(c)["tag"] in _FONT_ORDER else len(_FONT_ORDER))
        return "<font>" + "".join(children) + "</font>"

    return _FONT.sub(fix, xml)


def fix_font_order(path) -> None:
    """Rewrite a saved workbook's ``xl/styles.xml`` so fonts pass schema validation.

    openpyxl writes each font's elements in an order the Open XML SDK validator
    (``npx @ooxml-tools/validate``) flags; this puts them in the schema's order. Nothing
    else changes. The file is replaced whole (written aside, then renamed).

    Parameters
    ----------
    path : str or Path
        An ``.xlsx``/``.xlsm`` file written by openpyxl.

    Examples
    --------
    >>> _ordered_fonts('<font><name val="Calibri"/><b val="1"/><sz val="11"/></font>')
    '<font><b val="1"/><sz val="11"/><name val="Calibri"/></font>'
    """
    path = Path(path)
    with zipfile.ZipFile(path) as zin:
        styles = zin.read("xl/styles.xml").decode("utf-8")
        fixed = _ordered_fonts(styles)
        if fixed == styles:
            return
        from gpucredit.excel.files import staged_files

        with staged_files() as staging, zipfile.ZipFile(staging.output(path), "w") as zout:
            for info in zin.infolist():
                data = (fixed.encode("utf-8") if info.filename == "xl/styles.xml"
                        else zin.read(info.filename))
                zout.writestr(info, data, compress_type=info.compress_type)
