"""The memory and time ceiling around one workbook's computation (gpucredit.excel.bounded)."""

from __future__ import annotations

import os
import time

import openpyxl
import pytest
from openpyxl.worksheet.formula import ArrayFormula

from gpucredit.errors import GpuCreditError
from gpucredit.excel import recalc
from gpucredit.excel.bounded import run_bounded


def test_the_result_comes_back():
    assert run_bounded(sum, [1, 2, 3]) == 6


def test_memory_over_the_ceiling_is_a_refusal_not_a_crash():
    with pytest.raises(GpuCreditError, match=r"needs more than 0\.1 GiB of memory"):
        run_bounded(bytearray, 2**30, memory_bytes=100 * 2**20)
    assert run_bounded(len, bytearray(10)) == 10  # this process is unharmed


def test_time_over_the_ceiling_is_a_refusal():
    t0 = time.monotonic()
    with pytest.raises(GpuCreditError, match=r"takes longer than 1 seconds"):
        run_bounded(time.sleep, 30, seconds=1)
    assert time.monotonic() - t0 < 10


def test_other_errors_keep_their_words():
    with pytest.raises(GpuCreditError, match="bad input"):
        run_bounded(_raise, GpuCreditError("bad input"))
    with pytest.raises(RuntimeError, match="ZeroDivisionError: integer division or modulo by zero"):
        run_bounded(divmod, 1, 0)


def _raise(exc):
    raise exc


def test_a_workbook_over_the_memory_ceiling_fails_alone(tmp_path):
    # 3,000 cells of 32,000 characters each: every cell within budget, the whole
    # workbook about 100 MB of text - over a ceiling of 64 MiB
    wb = openpyxl.Workbook()
    wb.active["A1"] = ArrayFormula("A1:A3000", '=REPT("x",32000)')
    wb.save(tmp_path / "big.xlsx")
    small = openpyxl.Workbook()
    small.active["A1"] = "=1+1"
    small.save(tmp_path / "small.xlsx")
    out = tmp_path / "out"
    big, ok = recalc.recalc_workbooks([tmp_path / "big.xlsx", tmp_path / "small.xlsx"], out,
                                      memory_bytes=64 * 2**20)
    assert not big.ok and "needs more than 0.1 GiB of memory" in big.error
    assert ok.ok and sorted(os.listdir(out)) == ["small.xlsx"]
