"""The per-period table written chunk by chunk, so memory does not grow with the tape.

:func:`gpucredit.engine.recalc` hands each chunk's periods table to a ``periods_sink``
(in tape order) instead of keeping it; :class:`PeriodsWriter` is such a sink. It writes
Parquet (through pyarrow, the ``parquet`` extra: columnar, compressed, read back by
``pandas.read_parquet``) or CSV, to a temporary file beside the target that replaces the
target only when the run completes: the output is written whole or not at all.

    with PeriodsWriter("out/periods.parquet") as sink:
        result = recalc(rows, assumptions, options, periods_sink=sink)

Only this module imports pyarrow, and only when Parquet is written: the core stays
importable with numpy, pandas and scipy alone.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from gpucredit.errors import GpuCreditError

__all__ = ["PeriodsWriter"]


class PeriodsWriter:
    """Append tables with the same columns to one Parquet or CSV file.

    Parameters
    ----------
    path : str or Path
        The file to write; ``.parquet`` (or ``.pq``) writes Parquet, anything else CSV.
    format : {"parquet", "csv"}, optional
        Overrides the choice by suffix.

    Examples
    --------
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> with PeriodsWriter(f"{d}/p.csv") as w:
    ...     w(pd.DataFrame({"facility_id": ["A"], "period": [1]}))
    ...     w(pd.DataFrame({"facility_id": ["B"], "period": [1]}))
    >>> pd.read_csv(f"{d}/p.csv").facility_id.tolist(), w.rows
    (['A', 'B'], 2)
    """

    def __init__(self, path, format: str | None = None):
        self.path = Path(path)
        fmt = format or ("parquet" if self.path.suffix.lower() in (".parquet", ".pq")
                         else "csv")
        if fmt not in ("parquet", "csv"):
            raise GpuCreditError(f"periods format must be 'parquet' or 'csv', got {fmt!r}",
                                 argument="format", value=fmt)
        self.format = fmt
        self.rows = 0
        self._tmp = self.path.with_name(f".{self.path.name}.partial")
        self._writer = None
        self._schema = None
        self._columns = None

    def __enter__(self) -> PeriodsWriter:
        return self

    def __call__(self, frame: pd.DataFrame) -> None:
        """Append one chunk's rows (its columns must match the first chunk's)."""
        if frame.empty:
            return
        if self._columns is None:
            self._columns = list(frame.columns)
        elif list(frame.columns) != self._columns:
            raise GpuCreditError("a chunk's periods table has other columns than the "
                                 "first chunk's", argument="periods")
        if self.format == "parquet":
            self._parquet(frame)
        else:
            frame.to_csv(self._tmp, mode="a", header=self.rows == 0, index=False)
        self.rows += len(frame)

    def _parquet(self, frame: pd.DataFrame) -> None:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise GpuCreditError("writing Parquet needs pyarrow: pip install "
                                 "'gpucredit[parquet]' (or write CSV)",
                                 argument="format", value="parquet") from None
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._writer is None:
            self._schema = table.schema
            self._writer = pq.ParquetWriter(self._tmp, self._schema)
        self._writer.write_table(table.cast(self._schema))

    def close(self) -> None:
        """Finish the file and put it in place."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self.rows == 0 and not self._tmp.exists():
            pd.DataFrame(columns=self._columns or []).to_csv(self._tmp, index=False) \
                if self.format == "csv" else self._empty_parquet()
        os.replace(self._tmp, self.path)

    def _empty_parquet(self) -> None:
        pd.DataFrame(columns=self._columns or []).to_parquet(self._tmp, index=False)

    def abort(self) -> None:
        """Drop the partial file; the target is left as it was."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._tmp.unlink(missing_ok=True)

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
