"""Valid required arguments for every worksheet function, as 2-D lists of cells.

Shared by the runtime-equality test and the fuzzer (tests/test_udfs_runtimes.py,
tests/test_udfs_fuzz.py). ``HANDLE`` stands for a facility handle that the test makes
first, in the same runtime, with ``GPU_FACILITY(FACILITY)``.
"""

from __future__ import annotations

HANDLE = "$handle"

FACILITY = [["gpus", 1000.0], ["gpu_unit_cost", 30000.0], ["merchant_rent", 2.4],
            ["utilization", 0.85], ["debt", 18e6], ["annual_rate", 0.1], ["tenor", 24.0]]

_CF = [[120.0], [125.0], [130.0], [110.0]]
_DS = [[100.0], [100.0], [100.0], [100.0]]
_ROW = [[1.0e6, 0.98e6, 0.96e6, 0.94e6]]

REQUIRED: dict[str, list] = {
    "GPU_BREAKEVEN_RENT": [[[5000.0], [5000.0]], [[100.0], [100.0]], [[9000.0], [9000.0]]],
    "GPU_BREAKEVEN_UTILIZATION": [[[20000.0], [20000.0]], [[100.0], [100.0]],
                                  [[9000.0], [9000.0]]],
    "GPU_CFADS": [[[1000.0]], [[0.85]], [[2.4, 2.3, 2.2]]],
    "GPU_CRYPTO_HAIRCUT": [[[0.6]], [[10.0]]],
    "GPU_DEBT_CAPACITY": [[[0.01]], _CF, [[1.3]]],
    "GPU_DEBT_SCHEDULE": [[[0.01]], [[12.0]], [[1.0e6]]],
    "GPU_DSCR": [_CF, _DS],
    "GPU_FACILITY": [FACILITY],
    "GPU_FACILITY_MC": [[[HANDLE]]],
    "GPU_FACILITY_METRICS": [[[HANDLE]]],
    "GPU_FACILITY_SCHEDULE": [[[HANDLE]]],
    "GPU_FAIR_SPREAD": [[[0.02]], [[0.6]]],
    "GPU_FIT_CURVE": [[[1.0], [2.0], [3.0], [4.0]], [[0.62], [0.42], [0.30], [0.18]]],
    "GPU_FIT_RENT_TREND": [[[45000.0], [45200.0], [45400.0], [45600.0]],
                           [[2.9], [2.6], [2.4], [2.2]]],
    "GPU_HAIRCUT": [[[3.0e7]], [[1000.0]], [[2000.0]], [[6.0]]],
    "GPU_HASHPRICE": [[[1.2e14]], [[95000.0]]],
    "GPU_HAZARD_RATE": [[[0.045]], [[0.4]]],
    "GPU_LIQUIDATION_VALUE": [[[3.0e7]], [[1000.0]], [[2000.0]], [[6.0]]],
    "GPU_LLCR": [[[0.01]], _CF, [[300.0]]],
    "GPU_LTV": [[[80.0], [90.0]], [[100.0], [0.0]]],
    "GPU_MERTON": [[[3.0]], [[0.8]], [[10.0]], [[0.05]], [[1.0]]],
    "GPU_MONTE_CARLO": [_ROW, [[-2.0e5] * 4], [[5.0e5] * 4], [[1.0e7, 9.0e6, 8.0e6, 7.0e6]],
                        [[1.2e7, 1.1e7, 1.0e7, 9.0e6]]],
    "GPU_PLCR": [[[0.01]], _CF, [[300.0]]],
    "GPU_PORTFOLIO": [[[HANDLE], [HANDLE]]],
    "GPU_PRESET": [[["H100"]]],
    "GPU_RENT_PATH": [[[2.4]], [[0.3]], [[6.0]]],
    "GPU_RESIDUAL_VALUE": [[[0.0], [1.0], [2.0]]],
    "GPU_SCENARIOS": [FACILITY],
    "GPU_SCULPT": [[[0.01]], _CF, [[1.3]]],
    "GPU_STEP_AGES": [[[45292.0]], [[45717.0], [46296.0]]],
    "GPU_WAL": [[[0.0], [50.0], [50.0]]],
}
"""Required arguments of each function (every optional one is left to the caller)."""

CHEAP_OPTIONALS: dict[str, dict[str, list]] = {
    "GPU_MONTE_CARLO": {"n_paths": [[200.0]]},
    "GPU_FACILITY_MC": {"n_paths": [[200.0]]},
}
"""Optional arguments pinned so that a test call stays fast (paths, not defaults)."""
