"""How big a batch run is, and whether it fits, decided before any work starts.

A run's size is its facilities, its Monte Carlo paths and its periods (the longest
facility's, from the valuation date to maturity). :func:`estimate_bytes` turns a size into
the memory the run needs at its peak; :func:`check_run` refuses a run over the limits with
a message in the analyst's terms, e.g. "10,000,000 paths x 15 facilities x 120 months
needs about 7.7 GB; the limit is 4.0 GB".

The estimate is the one place that knows the engine's appetite: when the Monte Carlo
changes, update :data:`BYTES_PER_FACILITY_PATH` and :data:`MC_WORKING_BYTES` (the
measurement is described with each).

Examples
--------
>>> size = RunSize(facilities=15, paths=10_000_000, periods=120, periods_per_year=12)
>>> round(estimate_bytes(size) / 1e9, 1)
7.7
>>> check_run(size, max_memory=4 * 10**9)
Traceback (most recent call last):
...
gpucredit.errors.GpuCreditError: 10,000,000 paths x 15 facilities x 120 months needs about
7.7 GB of memory; the limit is 4.0 GB (--max-memory). Use fewer --paths, ...
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpucredit.errors import GpuCreditError

__all__ = ["BYTES_PER_FACILITY_PATH", "BYTES_PER_FACILITY_PERIOD", "DEFAULT_MAX_MEMORY",
           "MAX_PATHS", "MAX_PERIODS", "MC_WORKING_BYTES", "RunSize", "check_run",
           "estimate_bytes", "parse_bytes", "run_size"]

MAX_PATHS = 10_000_000
"""Monte Carlo paths per facility: the maximum of the tape's ``mc_paths`` assumption."""
MAX_PERIODS = 1_200
"""Periods of one facility: a hundred years of months, far beyond any GPU loan."""
DEFAULT_MAX_MEMORY = 4 * 10**9
"""Memory a run may plan to use unless ``--max-memory`` says otherwise (4 GB: half of an
analyst's 8 GB laptop, the smallest machine the batch is meant for)."""
BYTES_PER_FACILITY_PATH = 48
"""Memory per facility and path of the Monte Carlo's results held at once for a chunk:
``gpucredit.montecarlo.simulate`` keeps loss, loss rate and minimum DSCR per path (3 x 8
bytes), sorts the losses for the CVaR (8) and copies the DSCRs for their quantiles (8),
with 8 to spare for temporaries. Measured with ``tracemalloc`` on 3 facilities at 100,000
and 400,000 paths: about 20 bytes per facility-path in practice, so this is an upper
bound."""
MC_WORKING_BYTES = 192 * 2**20
"""The Monte Carlo's working memory for draws and paths: its ``max_bytes`` budget (64 MiB)
for a pass's cells, plus a path chunk's shared market and the cached monthly blocks it
is cut from. Measured: ``simulate`` peaked at 173-195 MB (``tracemalloc``) on the demo
tape at 100,000 paths; the process's peak RSS grew 148 MB from 1,000 to 50,000 paths and
35 bytes per facility-path beyond."""
BYTES_PER_FACILITY_PERIOD = 600
"""Memory per facility-period of the periods table and its copies while results are
written (about 40 columns of 8 bytes, the facility id, and pandas' copies)."""
BASE_BYTES = 300 * 2**20
"""The process itself: Python, numpy, pandas, openpyxl and the tape (measured ~210 MB)."""


@dataclass(frozen=True)
class RunSize:
    """The size of a batch run.

    Attributes
    ----------
    facilities : int
        Facilities to compute.
    paths : int
        Monte Carlo paths per facility (0: none).
    periods : int
        Periods of the longest facility.
    periods_per_year : int
        Its payment frequency (12: the periods are months), for the message.
    chunk_size : int
        Facilities computed together (their Monte Carlo results are held at once).
    """

    facilities: int
    paths: int
    periods: int
    periods_per_year: int = 12
    chunk_size: int = 2_000


def run_size(rows, assumptions: dict, paths: int, chunk_size: int) -> RunSize:
    """The size of a run on validated tape rows (``maturity_date``, ``periods_per_year``).

    The periods are those of the longest facility from the valuation date to maturity
    (:func:`gpucredit.periods.periods_between_days`, as the engine counts them); its
    payment frequency names them in the message. A row whose maturity or frequency is not
    usable is left out (the engine rejects it itself, with its reason).
    """
    import pandas as pd

    from gpucredit.periods import periods_between_days

    valuation = assumptions.get("valuation_date")
    longest, per_year = 0, 12
    if valuation is None or not len(rows):
        return RunSize(len(rows), int(paths), longest, per_year, int(chunk_size))
    today = np.datetime64(pd.Timestamp(valuation).date(), "D")
    maturity = pd.to_datetime(rows["maturity_date"], errors="coerce").to_numpy(
        dtype="datetime64[D]")
    freq = pd.to_numeric(rows["periods_per_year"], errors="coerce").to_numpy(dtype=float)
    periods = np.zeros(len(rows), dtype=np.int64)
    for m in (1, 2, 4, 12):
        at = (freq == m) & ~np.isnat(maturity)
        if at.any():
            periods[at] = periods_between_days(today, maturity[at], m, whole=False)
    first = int(np.argmax(periods))  # the first row of the longest
    if periods[first] > 0:
        longest, per_year = int(periods[first]), int(freq[first])
    return RunSize(len(rows), int(paths), longest, per_year, int(chunk_size))


def estimate_bytes(size: RunSize) -> int:
    """Peak memory of a run, in bytes.

    Notes
    -----
    ``BASE + min(F, chunk) x P x BYTES_PER_FACILITY_PATH + MC_WORKING (when P > 0)
    + F x T x BYTES_PER_FACILITY_PERIOD``: the process, one chunk's Monte Carlo results
    and working buffer, and every facility-period (F facilities, P paths, T periods).
    """
    chunk = min(size.facilities, size.chunk_size)
    mc = chunk * size.paths * BYTES_PER_FACILITY_PATH + MC_WORKING_BYTES if size.paths else 0
    return BASE_BYTES + mc + size.facilities * size.periods * BYTES_PER_FACILITY_PERIOD


_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9,
          "gb": 10**9, "t": 10**12, "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30,
          "tib": 2**40}


def parse_bytes(text: str) -> int:
    """``"16GB"``, ``"512 MiB"`` or ``"2e9"`` as bytes.

    >>> parse_bytes("16GB"), parse_bytes("512 MiB"), parse_bytes("2e9")
    (16000000000, 536870912, 2000000000)
    """
    s = str(text).strip().lower().replace(" ", "")
    num = s.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = s[len(num):]
    try:
        value = float(num) * _UNITS[unit]
    except (ValueError, KeyError):
        raise GpuCreditError(f"memory must be a size such as 4GB, 512MiB or 2e9 bytes, got "
                             f"{text!r}", argument="max_memory", value=text) from None
    if not value > 0:
        raise GpuCreditError(f"memory must be more than 0, got {text!r}",
                             argument="max_memory", value=text)
    return int(value)


def _gb(n: float) -> str:
    return f"{n / 1e9:.1f} GB"


def _span(size: RunSize) -> str:
    unit = {12: "months", 4: "quarters", 2: "half-years", 1: "years"}.get(
        size.periods_per_year, "periods")
    return f"{size.paths:,} paths x {size.facilities:,} facilities x {size.periods:,} {unit}"


def check_run(size: RunSize, *, max_memory: int = DEFAULT_MAX_MEMORY) -> int:
    """Refuse a run over the limits before it starts; return its estimated bytes.

    Raises
    ------
    GpuCreditError
        More paths than :data:`MAX_PATHS`, a facility longer than :data:`MAX_PERIODS`
        periods, or an estimate (:func:`estimate_bytes`) above ``max_memory``.
    """
    if size.paths > MAX_PATHS:
        raise GpuCreditError(f"{size.paths:,} Monte Carlo paths asked; the limit is "
                             f"{MAX_PATHS:,} per facility", argument="paths", value=size.paths)
    if size.periods > MAX_PERIODS:
        raise GpuCreditError(f"a facility runs {size.periods:,} periods from the valuation "
                             f"date; the limit is {MAX_PERIODS:,}: check its maturity date",
                             argument="periods", value=size.periods)
    need = estimate_bytes(size)
    if need > max_memory:
        raise GpuCreditError(
            f"{_span(size)} needs about {_gb(need)} of memory; the limit is "
            f"{_gb(max_memory)} (--max-memory). Use fewer --paths, a smaller --chunk-size "
            f"(facilities computed together; now {size.chunk_size:,}), or raise "
            "--max-memory", argument="max_memory", value=need)
    return need
