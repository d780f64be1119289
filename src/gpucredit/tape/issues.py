"""One problem found in a tape, located the way an analyst looks for it.

Examples
--------
>>> i = make_issue("error", "120% is above 100%: enter the share of GPUs rented",
...                sheet="Tape", row=14, column="H", header="Utilization",
...                field="utilization", value=1.2, facility_id="NC-1", check="range")
>>> print(i.message)
Row 14, column H (Utilization): 120% is above 100%: enter the share of GPUs rented
>>> i.location
'Row 14, column H (Utilization)'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ERROR", "SEVERITIES", "WARNING", "Issue", "make_issue"]

ERROR = "error"
WARNING = "warning"
SEVERITIES = (ERROR, WARNING)


@dataclass(frozen=True)
class Issue:
    """A problem in a tape: where it is, what was found and what is expected.

    Attributes
    ----------
    severity : str
        ``"error"`` (the row, or the file when ``row`` is ``None``, is rejected) or
        ``"warning"`` (reported only).
    problem : str
        What is wrong and what is expected, without the location.
    message : str
        The location and the problem in one sentence, ready to show.
    sheet : str or None
        Worksheet name (``None`` for CSV files and file-level problems).
    row : int or None
        Spreadsheet row number (as Excel shows it), ``None`` for file-level problems.
    column : str or None
        Column letter(s), or a cell reference for assumptions.
    header : str or None
        The header as written in the file (or the schema label).
    field : str or None
        The schema name of the column or assumption.
    facility_id : str or None
        The row's facility id, when it has one.
    value : object
        The value found.
    check : str
        What was checked: ``file``, ``header``, ``required``, ``type``, ``range``,
        ``choice``, ``unique`` or a rule id of :data:`gpucredit.tape.schema.RULES`.
    """

    severity: str
    problem: str
    message: str
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    header: str | None = None
    field: str | None = None
    facility_id: str | None = None
    value: Any = None
    check: str = ""

    @property
    def location(self) -> str:
        """Where the problem is, e.g. ``"Row 14, column H (Utilization)"``."""
        return _location(self.row, self.column, self.header, self.sheet, self.check)

    @property
    def is_error(self) -> bool:
        """Whether the issue rejects its row (or the file)."""
        return self.severity == ERROR


def _location(row, column, header, sheet, check) -> str:
    head = f" ({header})" if header else ""
    if check == "assumption":
        where = f"{sheet} sheet" if sheet else "Assumptions"
        return f"{where}, cell {column}{head}" if column else f"{where}{head}"
    if row is not None and column:
        return f"Row {row}, column {column}{head}"
    if row is not None:
        return f"Row {row}{head}"
    if column:
        return f"Column {column}{head}"
    return ""


def make_issue(severity: str, problem: str, *, sheet: str | None = None, row: int | None = None,
               column: str | None = None, header: str | None = None, field: str | None = None,
               facility_id: str | None = None, value: Any = None, check: str = "") -> Issue:
    """Build an :class:`Issue`, composing its message from the location and the problem."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {severity!r}")
    loc = _location(row, column, header, sheet, check)
    message = f"{loc}: {problem}" if loc else problem
    return Issue(severity, problem, message, sheet, row, column, header, field, facility_id,
                 value, check)
