"""Tests of gpucredit.processes: the batch engine on this machine's cores.

The oracle is the local engine: the workers run the same chunk function, so every table
must come back equal, whatever the chunk size or the order chunks finish in.
"""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
from tests.test_cli import tape_rows, write_tape
from tests.test_engine import TABLES, full_rows

from gpucredit.engine import RecalcOptions, recalc
from gpucredit.errors import GpuCreditError
from gpucredit.processes import process_mapper

SUMMARIES = ("scenario_summary", "summary_totals", "summary_by_type", "worst",
             "portfolio_summary", "portfolio_concentration", "portfolio_contributions")


@pytest.fixture(scope="module")
def tape():
    return full_rows(6)


@pytest.mark.parametrize(("chunk_size", "warm"), [(1, False), (4, False), (2, True)])
def test_equals_the_local_engine(tape, chunk_size, warm):
    """Same tables as the local engine, with workers started at the first chunk or ahead
    (``warm``: while the command line reads the tape)."""
    rows, a = tape
    options = RecalcOptions(n_paths=32, seed=5, chunk_size=chunk_size)
    local = recalc(rows, a, options)
    mapper, close = process_mapper(2, warm=warm)
    try:
        got = recalc(rows, a, options, mapper=mapper)
    finally:
        close()
    for name in TABLES + SUMMARIES:
        pd.testing.assert_frame_equal(getattr(got, name), getattr(local, name),
                                      check_exact=True, obj=name)


@pytest.mark.parametrize(("engine", "rows", "workers", "expected"), [
    ("processes", 10_000, 2, 1667),  # six chunks, not five: no worker idles at the end
    ("processes", 1_000, 2, 500),
    ("processes", 8_000, 2, 2000),   # four already: unchanged
    ("processes", 3, 4, 1),
    ("local", 10_000, 2, 2000),
])
def test_cli_chunks_even_out_over_the_workers(monkeypatch, engine, rows, workers, expected):
    from gpucredit import cli, processes

    monkeypatch.setattr(processes, "default_workers", lambda: workers)
    assert cli._chunk_size(engine, rows, 2000) == expected


def test_a_chunk_that_raises_stops_the_run():
    mapper, close = process_mapper(1)
    try:
        with pytest.raises(ZeroDivisionError):
            list(mapper(reciprocal, [1, 0, 2]))
    finally:
        close()


def reciprocal(x):
    """1 / x in a worker (a module-level function: workers receive it by reference)."""
    return 1 / x


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_bad_worker_counts(workers):
    with pytest.raises(GpuCreditError, match="workers must be a whole number >= 1"):
        process_mapper(workers)


def test_cli_engine_processes_writes_what_the_local_engine_writes(tmp_path):
    tape = write_tape(tmp_path / "tape.xlsx", tape_rows(5))
    args = ["recalc", str(tape), "--chunk-size", "2", "--paths", "50", "--quiet"]
    for engine in ("local", "processes"):
        run = subprocess.run([sys.executable, "-m", "gpucredit.cli", *args, "-o",
                              str(tmp_path / f"{engine}.xlsx"), "--csv", str(tmp_path / engine),
                              "--engine", engine], capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr
    for name in ("metrics", "periods", "scenarios", "scenario_summary", "worst"):
        assert (tmp_path / "processes" / f"{name}.csv").read_bytes() == \
            (tmp_path / "local" / f"{name}.csv").read_bytes(), name
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "local", "local.xlsx", "processes", "processes.xlsx", "tape.xlsx"]  # no staging left
