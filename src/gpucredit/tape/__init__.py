"""The loan tape: one schema, a hardened reader and a validator.

A loan tape is one row per facility (see ``docs/tape.md``, generated from
:mod:`gpucredit.tape.schema`). This package reads it from ``.xlsx``, ``.xlsm`` or ``.csv``
after checking the file is safe to parse (:mod:`gpucredit.tape.guards`), types and
validates every cell in one pass (:mod:`gpucredit.tape.validate`) and hands the good rows,
typed and defaulted, to the engine. It knows nothing of the finance core.

The schema needs only pandas; reading workbooks needs the ``excel`` extra (openpyxl,
defusedxml, python-calamine), imported when a workbook is read.

Main entry points
-----------------
* :func:`validate_file` - read and validate a tape file: ``(report, good_rows)``.
* :func:`read_tape` - raw values and where each came from.
* :func:`gpucredit.tape.validate.validate` - validate a raw frame (import it from the
  submodule: the package attribute ``validate`` is the module).
* :func:`report_to_frame` - the issues as a table (the Errors sheet).
* :func:`sanitise_text`, :func:`write_text_cell` - keep tape text from becoming formulas.
* :data:`COLUMNS`, :data:`ASSUMPTIONS`, :data:`RULES` - the schema.
"""

from gpucredit.tape.guards import TapeError, TapeLimits
from gpucredit.tape.issues import Issue
from gpucredit.tape.reader import TapeSource, read_tape
from gpucredit.tape.schema import ASSUMPTIONS, COLUMNS, RULES, Assumption, Column
from gpucredit.tape.validate import (
    ValidationReport,
    empty_frame,
    report_to_frame,
    sanitise_text,
    validate_file,
    write_text_cell,
)

__all__ = [
    "ASSUMPTIONS",
    "COLUMNS",
    "RULES",
    "Assumption",
    "Column",
    "Issue",
    "TapeError",
    "TapeLimits",
    "TapeSource",
    "ValidationReport",
    "empty_frame",
    "read_tape",
    "report_to_frame",
    "sanitise_text",
    "validate_file",
    "write_text_cell",
]
