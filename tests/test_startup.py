"""What loading the worksheet functions and the command line costs: the imports they pull in.

Every Excel session that loads the add-in, xlwings Lite in the browser and every
``gpucredit recalc-workbook`` import :mod:`gpucredit.udfs` first; ``gpucredit --version``
and every command import :mod:`gpucredit.cli`. scipy.stats (0.33 s) and scipy.optimize
(0.22 s) are imported by the functions that use them, not by the modules; scipy.signal
(0.9 s with the scipy.stats it loads) by none: the rent cycle's OU recursion is
:func:`gpucredit.market.ou_path`; and the CLI leaves pandas (0.2 s) to the commands
that build frames:
``import gpucredit.udfs`` fell from 1.05 s to 0.51 s, ``import gpucredit.cli`` from
0.42 s to 0.08 s. The normal distribution comes from
``scipy.special`` (``ndtr``, ``ndtri``), bit for bit what ``scipy.stats.norm`` computes;
the tests below hold both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from scipy.special import ndtr, ndtri

SRC = Path(__file__).resolve().parents[1] / "src"

HEAVY = ["scipy.stats", "scipy.optimize", "scipy.signal"]

# The deal model's inputs (gpucredit template model): what its GPU_FACILITY receives.
DEAL_FACILITY = [
    ["gpus", 4096], ["gpu_unit_cost", 30000], ["age0", 0], ["economic_life_years", 5],
    ["merchant_rent", 2.42], ["rent_deflation", 0.2], ["utilization", 0.8],
    ["contracted_share", 0.6], ["contract_rate", 2.65], ["contract_periods", 8],
    ["kw_per_gpu", 1.3], ["pue", 1.3], ["power_price", 0.08], ["colocation_rate", 184],
    ["other_opex", 1000], ["maintenance_capex", 0], ["tax_rate", 0], ["debt", 73728000],
    ["annual_rate", 0.11], ["tenor", 20.0], ["amortization", "annuity"], ["target_dscr", 1.3],
    ["dscr_lockup", 1.2], ["residual_curve", "exponential_floor"], ["lam", 0.46],
    ["floor", 0.03], ["market_absorption", 2000], ["liquidation_months", 6],
    ["install_haircut", 0.15], ["sale_costs", 0.05],
]


def _loaded_after(code: str, watch: list[str]) -> list[str]:
    """Run ``code`` in a fresh interpreter; which of ``watch`` it left in sys.modules."""
    probe = (f"import json, sys\n{code}\n"
             f"print(json.dumps([m for m in {watch!r} if m in sys.modules]))\n")
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))}
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         env=env, timeout=120, check=True)
    return json.loads(res.stdout.splitlines()[-1])


def test_udfs_import_leaves_out_stats_optimize_signal():
    """Loading the add-in (Excel, xlwings Lite, recalc-workbook) imports none of them."""
    assert _loaded_after("import gpucredit.udfs", HEAVY) == []


def test_deal_model_functions_compute_without_stats_optimize_signal():
    """The deal model's GPU_ functions import none of them, nor the batch engine (and its
    tape reader), to compute: recalc-workbook's child process needs no more preloaded
    than gpucredit.udfs."""
    code = (
        "from gpucredit import udfs\n"
        f"h = udfs.GPU_FACILITY({DEAL_FACILITY!r}, [[4]], [[46203]])\n"
        "out = [udfs.GPU_HAZARD_RATE([[0.06]], [[0.4]]), h, udfs.GPU_FACILITY_METRICS(h),\n"
        "       udfs.GPU_FACILITY_METRICS(h, [['min_dscr']]),\n"
        "       udfs.GPU_FACILITY_SCHEDULE(h, [[False]], [[28]])]\n"
        "assert udfs.ERROR_PREFIX not in repr(out), out\n"
    )
    assert _loaded_after(code, [*HEAVY, "gpucredit.engine", "gpucredit.tape"]) == []


def test_cli_import_leaves_out_the_numeric_stack():
    """``gpucredit --version`` and every command start without numpy, pandas or scipy:
    each command imports what it uses."""
    assert _loaded_after("import gpucredit.cli", ["numpy", "pandas", "scipy"]) == []


def assert_same_bits(actual, desired) -> None:
    """Equal bit for bit (the sign of zero included); NaN where the other is NaN (its
    payload may differ)."""
    a, d = np.atleast_1d(np.asarray(actual, dtype=float)), np.atleast_1d(desired)
    np.testing.assert_array_equal(np.isnan(a), np.isnan(d))
    ok = ~np.isnan(a)
    np.testing.assert_array_equal(a[ok].view(np.int64), d[ok].view(np.int64))


class TestNormalFromSpecial:
    """``scipy.special`` gives the normal distribution bit for bit as ``scipy.stats.norm``
    does (which calls the same functions), tails and edge values included."""

    X = np.concatenate([np.linspace(-40.0, 40.0, 200_001), -np.logspace(-300, 2.6, 2_000),
                        np.logspace(-300, 2.6, 2_000),
                        [0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 1e308, -1e308]])
    Q = np.concatenate([np.linspace(0.0, 1.0, 200_001), np.logspace(-323, -1, 2_000),
                        1.0 - np.logspace(-16, -1, 2_000),
                        [np.nextafter(1.0, 0.0), 5e-324, -0.0, -0.5, 1.5, np.inf, np.nan]])

    def test_cdf(self):
        assert_same_bits(ndtr(self.X), stats.norm.cdf(self.X))

    def test_ppf(self):
        assert_same_bits(ndtri(self.Q), stats.norm.ppf(self.Q))

    def test_pdf(self):
        x = self.X
        with np.errstate(over="ignore"):
            pdf = np.exp(-x**2 / 2.0) / np.sqrt(2 * np.pi)  # as in gpucredit.pricing
            assert_same_bits(pdf, stats.norm.pdf(x))

    @pytest.mark.parametrize("x", [0.3, -2.5, 0.0, 1e-300])
    def test_scalars(self, x):
        assert type(ndtr(x)) is type(stats.norm.cdf(x))
        assert_same_bits(ndtr(x), stats.norm.cdf(x))
        assert_same_bits(ndtri(abs(x) % 1), stats.norm.ppf(abs(x) % 1))
