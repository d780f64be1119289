"""Benchmark the book's Monte Carlo against the per-facility Monte Carlo it replaced.

Run ``python bench/bench_montecarlo.py`` from the repository root (``--quick`` for a
smoke run; ``--help`` for the sizes). On one illustrative book (GPU hosts on three
generations, tenors of 2 to 10 years, contracts at a third, mining at a fifth), in one
run, side by side:

1. **before**: ``gpucredit.montecarlo.simulate`` as it was at commit :data:`BASELINE`
   (every facility drew its own BTC and rent paths, a chi-square per period, simulated
   to the longest tenor of the batch), loaded from git under another module name;
2. **now**: ``simulate`` on the same book (one market shared by the book, each facility
   to its own maturity, customer defaults drawn per facility), with the ratio;
3. the **floor** of the random numbers alone: drawing the market's blocks and every
   facility's own normals, and the ratio of the Monte Carlo to it; beside it, a second
   floor, one numpy pass over every (facility, path, period) cell, since the shared
   market makes the draws tiny and the cells are what is left.

Each time is the best of ``--repeat`` runs, wall clock on whatever else the machine is
doing (the load average is printed first).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

try:
    from gpucredit import market, montecarlo
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from gpucredit import market, montecarlo

BASELINE = "1e04c84"
"""The last commit before issue 10: its montecarlo.py is the reference."""

ROOT = Path(__file__).resolve().parents[1]
T = 120


def book(n_fac: int, seed: int = 0) -> dict:
    """Illustrative GPU hosts: a merchant leg deflating 25% a year, a contract at a third,
    mining at a fifth, a level annuity at 1.5x first-period DSCR over 2-10 years."""
    rng = np.random.default_rng(seed)
    k = np.arange(T)
    size = rng.uniform(0.5, 2.0, n_fac)[:, None] * 1e6
    tenor = rng.integers(24, T + 1, n_fac)
    live = k[None, :] < tenor[:, None]
    merchant = np.where(live, size * rng.uniform(0.4, 0.9, n_fac)[:, None]
                        * np.exp(-0.25 * (k + 1) / 12), 0.0)
    contract = np.where(live & (np.arange(n_fac) % 3 == 0)[:, None], 0.5 * size, 0.0)
    mining = np.where(live & (np.arange(n_fac) % 5 == 0)[:, None], 0.3 * size, 0.0)
    other = np.where(live, -0.2 * size, 0.0)
    r = 0.10 / 12
    level = (merchant[:, 0] + contract[:, 0] + mining[:, 0] + other[:, 0]) / 1.5
    debt0 = level * (1 - (1 + r) ** -tenor) / r
    balance = np.where(live, debt0[:, None] * ((1 + r) ** tenor[:, None] - (1 + r) ** k)
                       / ((1 + r) ** tenor[:, None] - 1), 0.0)
    return dict(facility_ids=[f"FAC-{i:06d}" for i in range(n_fac)],
                merchant_revenue=merchant, other_cfads=other, mining_cfads=mining,
                debt_service=np.where(live, level[:, None], 0.0),
                debt_outstanding=balance, collateral_value=np.where(live, 1.1 * balance, 0.0),
                liquidation_factor=0.6, btc_held=np.where(np.arange(n_fac) % 5 == 0, 50.0, 0.0),
                contract=contract, generation=[market.GENERATIONS[i % 3] for i in range(n_fac)])


def baseline_module():
    """``montecarlo.py`` at :data:`BASELINE`, imported as ``montecarlo_before``."""
    try:
        src = subprocess.run(["git", "-C", str(ROOT), "show",
                              f"{BASELINE}:src/gpucredit/montecarlo.py"],
                             capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(os.environ.get("TMPDIR", "/tmp")) / "montecarlo_before.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("montecarlo_before", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["montecarlo_before"] = mod
    spec.loader.exec_module(mod)
    return mod


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def draw_floor(n_fac_contract: int, ids, n_paths: int, months: int) -> None:
    """The random numbers alone: the market's blocks (uncached) and the facilities' own."""
    model = montecarlo.MarketModel(jump_years=())
    for b in range(math.ceil(n_paths / market.BLOCK_PATHS)):
        market._draw_block(model, 1, b, months)
        for fid in ids[:n_fac_contract]:
            montecarlo.idiosyncratic_normals(1, fid, b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    ap.add_argument("--facilities", type=int, help="facilities in the book (2,000)")
    ap.add_argument("--paths", type=int, help="Monte Carlo paths (1,000)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per timing (best of)")
    args = ap.parse_args()
    n_fac = args.facilities or (200 if args.quick else 2_000)
    n_paths = args.paths or (256 if args.quick else 1_000)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
          f"{n_fac:,} facilities x {n_paths:,} paths, tenors 24-{T} months")
    spec = book(n_fac)
    contract = spec.pop("contract")
    gens = spec.pop("generation")
    now_ex = montecarlo.FacilityExposure(
        **{**spec, "other_cfads": spec["other_cfads"]}, contract_revenue=contract,
        generation=gens, counterparty_pd=[0.002, 0.006, 0.012, 0.02, 0.03])
    model = montecarlo.MarketModel(jump_years=())
    t_now = best(lambda: montecarlo.simulate(now_ex, model, n_paths, 1, 12), args.repeat)
    cells = int(now_ex.n_periods_f.sum()) * n_paths
    rows = [("now: one market, own maturities", t_now)]
    before = baseline_module()
    if before is not None:
        old_ex = before.FacilityExposure(**{**spec, "other_cfads": spec["other_cfads"]
                                            + contract})
        t_old = best(lambda: before.simulate(old_ex, before.MarketModel(jump_years=()),
                                             n_paths, 1, 12), args.repeat)
        rows.insert(0, (f"before ({BASELINE}): per-facility paths", t_old))
    n_contract = int((contract.sum(axis=1) > 0).sum())
    ids = [fid for fid, c in zip(spec["facility_ids"], contract.sum(axis=1) > 0,
                                 strict=True) if c]
    t_draw = best(lambda: draw_floor(n_contract, ids, n_paths, T), args.repeat)
    scratch = np.empty(cells)
    t_pass = best(lambda: np.multiply(scratch, 1.0001, out=scratch), args.repeat)
    rows += [("floor: drawing the random numbers", t_draw),
             ("floor: one pass over the cells", t_pass)]
    for name, t in rows:
        print(f"  {name:<42} {t:8.2f} s")
    if before is not None:
        print(f"  speed-up now / before: {t_old / t_now:6.1f}x")
    print(f"  Monte Carlo / drawing its random numbers: {t_now / t_draw:6.1f}x")
    print(f"  Monte Carlo / one pass over its {cells:,} cells: {t_now / t_pass:6.1f}x")


if __name__ == "__main__":
    main()
