"""Run sizes and limits (gpucredit.limits), checked before any work starts."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests import hostile as H

from gpucredit.errors import GpuCreditError
from gpucredit.limits import (
    BASE_BYTES,
    MAX_PATHS,
    MAX_PERIODS,
    RunSize,
    check_run,
    estimate_bytes,
    parse_bytes,
)

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "workbooks" / "demo_tape.xlsx"
SCRIPT = Path(sys.executable).with_name("gpucredit")


def test_paths_over_the_limit_are_refused():
    with pytest.raises(GpuCreditError, match=r"10,000,001 Monte Carlo paths asked; the limit "
                                             r"is 10,000,000 per facility"):
        check_run(RunSize(facilities=1, paths=MAX_PATHS + 1, periods=12))


def test_periods_over_the_limit_are_refused():
    with pytest.raises(GpuCreditError, match=r"runs 1,201 periods .* the limit is 1,200"):
        check_run(RunSize(facilities=1, paths=0, periods=MAX_PERIODS + 1))


def test_memory_message_in_the_analysts_terms():
    size = RunSize(facilities=15, paths=10_000_000, periods=120, periods_per_year=12)
    with pytest.raises(GpuCreditError) as err:
        check_run(size, max_memory=4 * 10**9)
    assert str(err.value).startswith(
        "10,000,000 paths x 15 facilities x 120 months needs about 7.7 GB of memory; the "
        "limit is 4.0 GB (--max-memory)")
    quarterly = RunSize(facilities=2, paths=10_000_000, periods=40, periods_per_year=4,
                        chunk_size=1)
    assert check_run(quarterly, max_memory=4 * 10**9) == estimate_bytes(quarterly)


def test_the_estimate_grows_with_the_chunk_not_the_whole_tape():
    one = RunSize(facilities=10_000, paths=100_000, periods=60, chunk_size=1)
    many = RunSize(facilities=10_000, paths=100_000, periods=60, chunk_size=2_000)
    assert estimate_bytes(many) - estimate_bytes(one) == 1_999 * 100_000 * 48
    assert estimate_bytes(RunSize(facilities=0, paths=0, periods=0)) == BASE_BYTES


@pytest.mark.parametrize("text, value", [("16GB", 16 * 10**9), ("512 MiB", 512 * 2**20),
                                         ("2e9", 2 * 10**9), ("1.5g", 1_500_000_000)])
def test_parse_bytes(text, value):
    assert parse_bytes(text) == value


@pytest.mark.parametrize("text", ["", "lots", "4 parsecs", "-1GB", "0"])
def test_parse_bytes_refuses_what_is_not_a_size(text):
    with pytest.raises(GpuCreditError, match="memory must be"):
        parse_bytes(text)


def _peak_mb(args) -> tuple[int, float, str]:
    proc = subprocess.Popen([str(SCRIPT), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    out = proc.stdout.read().decode()
    proc.stdout.close()
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss * 1024, out


@pytest.mark.slow
def test_the_estimate_bounds_a_real_runs_peak_memory(tmp_path):
    # The demo tape (15 facilities) with 100,000 paths: the process's measured peak (its
    # maximum resident set) stays under the estimate, and the estimate is not wildly
    # pessimistic (within 4x), so the limit refuses only what would really be big.
    code, peak, out = _peak_mb(["recalc", DEMO, "-o", tmp_path / "r.xlsx", "--paths",
                                "100000", "--no-scenarios", "--quiet"])
    assert code == 0, out
    need = estimate_bytes(RunSize(facilities=15, paths=100_000, periods=187))
    assert peak < need < 4 * peak, (peak, need)


def test_the_documented_maximum_on_the_demo_is_refused_at_once(tmp_path):
    # `--paths 10000000` on the 15-facility demo ran for minutes into gigabytes.
    digest = H.sha256(DEMO)
    started = time.perf_counter()
    code, peak, out = _peak_mb(["recalc", DEMO, "-o", tmp_path / "r.xlsx", "--paths",
                                "10000000"])
    said = " ".join(out.split())
    assert code == 2
    assert re.search(r"10,000,000 paths x 15 facilities x \d+ months needs about "
                     r"[\d.]+ GB of memory; the limit is 4\.0 GB \(--max-memory\)", said), said
    assert "Nothing written" in said
    assert time.perf_counter() - started < 60
    assert peak < 1e9
    assert H.sha256(DEMO) == digest
    assert list(tmp_path.iterdir()) == []


def test_a_bad_max_memory_is_refused_before_the_tape_is_read(tmp_path):
    code, _, out = _peak_mb(["recalc", tmp_path / "missing.xlsx", "-o", tmp_path / "r.xlsx",
                             "--max-memory", "lots"])
    assert code == 2
    assert "memory must be a size such as 4GB" in " ".join(out.split())
    assert list(tmp_path.iterdir()) == []
