"""A table too big to hold, kept on disk in the pieces it was made in and read back in pieces.

A large run's metrics and scenario tables grow with the tape (about 3 kB a facility). The
engine (:func:`gpucredit.engine.recalc` with ``spool=``) appends each chunk's tables to a
:class:`SpooledTable` as soon as the chunks before it are in, and keeps in memory only the
few columns the summaries need; the results workbook and the CSV tables then read the
table back piece by piece (:meth:`SpooledTable.pieces`), and whatever needs every facility
at once reads only its columns (:meth:`SpooledTable.read`).

The pieces are pickles: private scratch files this process writes and reads back (in the
output plan's staging folder on the command line, :meth:`gpucredit.outputs.OutputPlan.
scratch`), never an output. Pickle gives every column back with its exact dtype (Python
dates, mixed object columns), which Parquet would not, and needs nothing beyond pandas.

Examples
--------
>>> import tempfile
>>> table = SpooledTable(tempfile.mkdtemp(), "metrics")
>>> table.append(pd.DataFrame({"debt": [1.0, 2.0]}, index=["A", "B"]))
>>> table.append(pd.DataFrame({"debt": [3.0], "mc_pd": [0.1]}, index=["C"]))
>>> len(table), table.columns
(3, ['debt', 'mc_pd'])
>>> table.read(["mc_pd"]).mc_pd.tolist()
[nan, nan, 0.1]
>>> table.remove()
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

__all__ = ["SpooledPiece", "SpooledTable"]


@dataclass(frozen=True)
class SpooledPiece:
    """One piece of a :class:`SpooledTable`, to be read where it is needed: its file, the
    columns to read it with and its rows (small and picklable, for a worker process on
    the same machine)."""

    path: Path
    columns: tuple[str, ...]
    rows: int

    def read(self) -> pd.DataFrame:
        """The piece with :attr:`columns` (blanks where it had none)."""
        piece = pd.read_pickle(self.path)
        wanted = list(self.columns)
        return piece.reindex(columns=wanted) if list(piece.columns) != wanted else piece


class SpooledTable:
    """Frames with the same meaning appended to files in ``folder``, read back in order.

    Parameters
    ----------
    folder : str or Path
        An existing private folder (the files are named ``<name>-<n>.pkl``).
    name : str
        The table's name, for its files.
    keep_index : bool, default True
        Read back with each piece's index (the metrics' ``facility_id``); False: a fresh
        ``RangeIndex``, as a long table concatenated with ``ignore_index``.

    Notes
    -----
    Pieces may lack columns other pieces have (a chunk of short loans has fewer PD-by-year
    columns); they read back with the union of the columns, in :attr:`columns`' order (set
    it to reorder), blanks where a piece had none: what ``pandas.concat`` would give.
    """

    def __init__(self, folder, name: str, *, keep_index: bool = True):
        self.folder = Path(folder)
        self.name = name
        self.keep_index = keep_index
        self._files: list[Path] = []
        self._lengths: list[int] = []  # rows of each file
        self._columns: dict[str, None] = {}

    def append(self, frame: pd.DataFrame) -> None:
        """Write one piece (an empty frame adds nothing)."""
        if frame.empty:
            return
        path = self.folder / f"{self.name}-{len(self._files):06d}.pkl"
        frame.to_pickle(path)
        self._files.append(path)
        self._lengths.append(len(frame))
        self._columns.update(dict.fromkeys(map(str, frame.columns)))

    def __len__(self) -> int:
        return sum(self._lengths)

    @property
    def empty(self) -> bool:
        return not any(self._lengths) or not self._columns

    @property
    def columns(self) -> list[str]:
        """Every piece's columns, in order of first appearance unless set."""
        return list(self._columns)

    @columns.setter
    def columns(self, order: list[str]) -> None:
        self._columns = dict.fromkeys(order)

    def pieces(self, columns: list[str] | None = None) -> Iterator[pd.DataFrame]:
        """The pieces in order, each with ``columns`` (default all), one at a time."""
        for piece in self.handles(columns):
            yield piece.read()

    def handles(self, columns: list[str] | None = None) -> list[SpooledPiece]:
        """The pieces in order, unread (:class:`SpooledPiece`), each to be read with
        ``columns`` (default all)."""
        wanted = tuple(self.columns if columns is None else columns)
        return [SpooledPiece(path, wanted, n)
                for path, n in zip(self._files, self._lengths, strict=True)]

    def read(self, columns: list[str] | None = None) -> pd.DataFrame:
        """The whole table, or only ``columns`` of it (what fits in memory)."""
        parts = list(self.pieces(columns))
        if not parts:
            return pd.DataFrame(columns=self.columns if columns is None else columns)
        return pd.concat(parts, ignore_index=not self.keep_index)

    def remove(self) -> None:
        """Delete the pieces' files (the folder is the caller's)."""
        for path in self._files:
            path.unlink(missing_ok=True)
        self._files.clear()
        self._lengths.clear()
