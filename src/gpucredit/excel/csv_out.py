"""Each table of a recalculated tape as a CSV file, for other tools.

:func:`write_csv_tables` writes one file per table of a
:class:`gpucredit.engine_result.RecalcResult` into a folder, whole or not at all: every
file is written under a temporary name in the folder and the set is moved into place only
when all are complete (:func:`gpucredit.excel.files.staged_files`).

Text that a spreadsheet would run as a formula (it begins with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return: the OWASP "CSV injection" list, :data:`gpucredit.tape.schema.
FORMULA_PREFIXES`) is written with a leading apostrophe, the convention Excel and
LibreOffice read as "this is text". Numbers are never touched, so a negative headroom stays
a number. Pass ``escape_formulas=False`` for files only programs will read.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pandas as pd

from gpucredit.engine_result import RecalcResult
from gpucredit.errors import GpuCreditError
from gpucredit.excel.files import staged_files
from gpucredit.spool import SpooledTable
from gpucredit.tape.schema import is_formula_like

__all__ = ["TABLES", "escape_formula_text", "write_csv", "write_csv_tables", "write_table"]

TABLES = ("metrics", "periods", "scenarios", "scenario_summary", "summary_totals",
          "summary_by_type", "worst", "residual_curves", "errors", "assumptions", "run_info")
"""The tables written, each to ``<name>.csv``, in this order."""


def escape_formula_text(value):
    """``value`` with an apostrophe in front if a spreadsheet would read it as a formula.

    >>> escape_formula_text("=HYPERLINK(\\"http://x\\")"), escape_formula_text("-2")
    ('\\'=HYPERLINK("http://x")', "'-2")
    >>> escape_formula_text("Northwind Compute"), escape_formula_text(-2.5)
    ('Northwind Compute', -2.5)
    """
    return "'" + value if is_formula_like(value) else value


def _escaped(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        series = out[col]
        if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
            out[col] = series.map(escape_formula_text).astype(object)
    out.columns = [escape_formula_text(str(c)) for c in out.columns]
    return out


def write_csv(frame: pd.DataFrame, path, *, escape_formulas: bool = True) -> Path:
    """Write one table to ``path`` as UTF-8 CSV (no index column; dates in ISO form).

    Parameters
    ----------
    frame : DataFrame
        The table; a named or non-default index becomes the first column(s).
    path : str or Path
        The file (written directly: stage it with
        :func:`gpucredit.excel.files.staged_files` for an all-or-nothing write).
    escape_formulas : bool, default True
        Prefix formula-like text with an apostrophe (see the module docstring).

    Returns
    -------
    Path

    Examples
    --------
    >>> import pathlib, tempfile
    >>> p = write_csv(pd.DataFrame({"borrower": ["=1+1", "Acme"], "debt": [-2.0, 3.5]}),
    ...               pathlib.Path(tempfile.mkdtemp()) / "t.csv")
    >>> print(p.read_text(encoding="utf-8").strip())
    borrower,debt
    '=1+1,-2.0
    Acme,3.5
    """
    path = Path(path)
    if frame is None:
        frame = pd.DataFrame()
    if any(n is not None for n in frame.index.names):
        frame = frame.reset_index()
    if escape_formulas:
        frame = _escaped(frame)
    frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\n",
                 date_format="%Y-%m-%d")
    return path


def _write_pieces(table: SpooledTable, path: Path, escape_formulas: bool) -> None:
    """A spooled table written piece by piece: one header, then each piece's rows."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        for i, piece in enumerate(table.pieces()):
            if table.keep_index:
                piece = piece.reset_index()
            if escape_formulas:
                piece = _escaped(piece)
            piece.to_csv(handle, index=False, header=i == 0, lineterminator="\n",
                         date_format="%Y-%m-%d")
        if table.empty:
            handle.write("\n")


def write_table(table: pd.DataFrame | SpooledTable, path, *,
                escape_formulas: bool = True) -> Path:
    """:func:`write_csv` for a table held in memory or spooled to disk (written piece by
    piece, never whole in memory)."""
    if isinstance(table, SpooledTable):
        _write_pieces(table, Path(path), escape_formulas)
        return Path(path)
    return write_csv(table, path, escape_formulas=escape_formulas)


def _dict_frame(items: dict | None) -> pd.DataFrame:
    items = items or {}
    return pd.DataFrame({"item": [str(k) for k in items],
                         "value": [v if isinstance(v, str | int | float) else str(v)
                                   for v in items.values()]})


def write_csv_tables(result: RecalcResult, folder, *, escape_formulas: bool = True) -> list[Path]:
    """Write every table of ``result`` as ``<table>.csv`` in ``folder``, all or none.

    Parameters
    ----------
    result : RecalcResult
        The engine's tables.
    folder : str or Path
        Destination folder; created if missing (its parent must exist). Files of the same
        names are replaced; other files are left alone.
    escape_formulas : bool, default True
        Prefix formula-like text with an apostrophe (see the module docstring).

    Returns
    -------
    list of Path
        The files written, in the order of :data:`TABLES`.

    Raises
    ------
    GpuCreditError
        ``result`` is not a RecalcResult, or the folder's parent does not exist.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> empty = pd.DataFrame()
    >>> res = RecalcResult(metrics=pd.DataFrame({"debt": [1.0]}, index=pd.Index(["A"],
    ...                    name="facility_id")), periods=empty, scenarios=empty,
    ...                    scenario_summary=empty, summary_totals=empty, summary_by_type=empty,
    ...                    worst=empty, residual_curves=empty, errors=empty)
    >>> paths = write_csv_tables(res, pathlib.Path(tempfile.mkdtemp()) / "tables")
    >>> [p.name for p in paths][:3]
    ['metrics.csv', 'periods.csv', 'scenarios.csv']
    >>> paths[0].read_text(encoding="utf-8").splitlines()
    ['facility_id,debt', 'A,1.0']
    """
    if not isinstance(result, RecalcResult):
        raise GpuCreditError(f"result must be a RecalcResult, got {type(result).__name__}",
                             argument="result", value=type(result).__name__)
    folder = Path(folder)
    if not folder.parent.is_dir():
        raise GpuCreditError(f"cannot write CSV tables to {folder}: the folder "
                             f"{folder.parent} does not exist", argument="folder",
                             value=str(folder))
    created = not folder.exists()
    folder.mkdir(exist_ok=True)
    targets = [folder / f"{name}.csv" for name in TABLES]
    try:
        with staged_files() as staging:
            for name, target in zip(TABLES, targets, strict=True):
                table = getattr(result, name)
                if isinstance(table, dict) or table is None:
                    table = _dict_frame(table)
                elif isinstance(table, SpooledTable):
                    _write_pieces(table, staging.output(target), escape_formulas)
                    continue
                elif not isinstance(table, pd.DataFrame):
                    raise GpuCreditError(f"result.{name} must be a DataFrame, got "
                                         f"{type(table).__name__}", argument=name,
                                         value=type(table).__name__)
                write_csv(table, staging.output(target), escape_formulas=escape_formulas)
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    return targets
