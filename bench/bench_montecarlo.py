"""Benchmark gpucredit.montecarlo.simulate against a plain per-path Python loop.

Run ``python bench/bench_montecarlo.py`` (``--quick`` for a fast smoke run). Two cases:

(a) one facility, 10,000 paths x 120 months: time of ``simulate`` (target < 0.5 s);
(b) 1,000 facilities x 1,000 paths x 120 months: time and peak memory (target < 2 GB),
    measured twice - tracemalloc around the call (numpy reports its buffers to it) and
    the peak resident set size (``ru_maxrss``) of a fresh child process that runs only
    that call.

The reference is the same model written as a plain loop: per path, one numpy call for
its normals, then a Python loop over periods with ``math`` functions. It runs on a sample
of paths (and facilities) and is scaled up linearly; the table says so.
"""

from __future__ import annotations

import argparse
import math
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

try:
    from gpucredit.montecarlo import FacilityExposure, MarketModel, simulate
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from gpucredit.montecarlo import FacilityExposure, MarketModel, simulate

T = 120
M = 12


def portfolio(n_fac: int, n_periods: int = T, seed: int = 0) -> FacilityExposure:
    """Illustrative GPU hosts: a contract to the loan's maturity, a merchant leg deflating
    25% a year, mining at a third of them, a level annuity sized at 1.6x first-period DSCR.
    """
    rng = np.random.default_rng(seed)
    k = np.arange(n_periods)
    t = (k + 1) / M
    size = rng.uniform(0.5, 2.0, n_fac)[:, None] * 1e6
    tenor = rng.integers(48, n_periods + 1, n_fac)[:, None]
    live = k < tenor
    merchant = size * rng.uniform(0.2, 0.6, n_fac)[:, None] * np.exp(-0.25 * t)
    other = size * (0.6 * live - 0.15)
    miner = rng.random(n_fac) < 0.3
    mining = size * 0.25 * miner[:, None] * np.ones(n_periods)
    r = 0.10 / M
    level = (merchant[:, :1] + other[:, :1] + mining[:, :1]) / 1.6
    debt0 = level * (1 - (1 + r) ** -tenor) / r
    balance = np.where(live, debt0 * ((1 + r) ** tenor - (1 + r) ** k)
                       / ((1 + r) ** tenor - 1), 0.0)
    return FacilityExposure(
        facility_ids=[f"FAC-{i:05d}" for i in range(n_fac)],
        merchant_revenue=merchant, other_cfads=other, mining_cfads=mining,
        debt_service=np.where(live, level, 0.0), debt_outstanding=balance * (1 + r),
        collateral_value=size * 55.0 * (0.03 + 0.97 * np.exp(-0.46 * t)),
        liquidation_factor=0.55, btc_held=np.where(miner, size[:, 0] / 1e4, 0.0))


def loop_reference(ex: FacilityExposure, f: int, model: MarketModel, n_paths: int,
                   seed: int) -> dict[str, float]:
    """The same metrics path by path, period by period (Gaussian copula)."""
    rng = np.random.default_rng([seed, f])
    dt = 1.0 / M
    a = math.exp(-model.rent_kappa * dt)
    b = model.rent_sigma * math.sqrt((1 - math.exp(-2 * model.rent_kappa * dt))
                                     / (2 * model.rent_kappa))
    drift = (model.btc_drift - model.btc_vol**2 / 2) * dt
    vol = model.btc_vol * math.sqrt(dt)
    c = math.sqrt(1 - model.rho**2)
    launches = [s for s in model.jump_years if s > 0]
    mr, oc, mc = (ex.merchant_revenue[f].tolist(), ex.other_cfads[f].tolist(),
                  ex.mining_cfads[f].tolist())
    ds, out, cv = (ex.debt_service[f].tolist(), ex.debt_outstanding[f].tolist(),
                   ex.collateral_value[f].tolist())
    held, lf = float(ex.btc_held[f]), float(ex.liquidation_factor[f])
    ch = float(ex.crypto_haircut[f])
    n = ex.n_periods
    losses, mins, n_def = [], [], 0
    for _ in range(n_paths):
        z = rng.standard_normal((2, n)).tolist()
        log_s, x, mn, lost, defaulted = 0.0, 0.0, math.inf, 0.0, False
        for t in range(n):
            log_s += drift + vol * z[0][t]
            x = a * x + b * (model.rho * z[0][t] + c * z[1][t])
            jumps = sum(1 for s in launches if s <= t / M)
            shock = math.exp(x) * (1 - model.jump_size) ** jumps
            price = model.btc_price0 * math.exp(log_s)
            cf = mr[t] * shock + oc[t] + mc[t] * price / model.btc_price0
            if ds[t] > 0:
                d = cf / ds[t]
                mn = min(mn, d)
                if d < 1 and not defaulted:
                    defaulted = True
                    rec = lf * cv[t] * shock + (1 - ch) * held * price
                    lost = max(out[t] - rec, 0.0)
        n_def += defaulted
        losses.append(lost)
        mins.append(mn)
    losses.sort(reverse=True)
    k = max(1, round(0.05 * n_paths))
    return {"pd": n_def / n_paths, "el": sum(losses) / n_paths,
            "cvar_95": sum(losses[:k]) / k, "min_dscr_q50": float(np.median(mins))}


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    best, result = math.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def child_peak_rss(n_fac: int, n_paths: int) -> tuple[float, float]:
    """Peak RSS (MiB) of a fresh process after imports, and after running simulate.

    Linux carries a parent's peak RSS into ``ru_maxrss`` of a child it forks, so this
    runs before the parent allocates anything large; where ``/proc`` exists the child's
    own high-water mark (VmHWM) is read instead, which starts afresh at exec.
    """
    code = f"""
import resource, sys
sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
import bench_montecarlo as b

def peak():
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

ex = b.portfolio({n_fac})
base = peak()
b.simulate(ex, b.MarketModel(), n_paths={n_paths}, seed=1)
print(base, peak())
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    base, peak = (float(v) for v in res.stdout.split())
    return base, peak


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    args = parser.parse_args(argv)
    model = MarketModel()
    q = args.quick
    a_paths, a_loop = (2_000, 200) if q else (10_000, 1_000)
    b_fac, b_paths = (50, 1_000) if q else (1_000, 1_000)
    b_loop_fac, b_loop_paths = (2, 100) if q else (10, 200)

    base_rss, peak_rss = child_peak_rss(b_fac, b_paths)  # first: see its docstring
    rows = []
    # (a) one facility
    one = portfolio(1)
    simulate(one, model, n_paths=1_000, seed=0)  # warm up (imports, first allocations)
    t_vec, _ = timed(lambda: simulate(one, model, n_paths=a_paths, seed=1), repeat=3)
    t_t, _ = timed(lambda: simulate(one, MarketModel(copula="t"), n_paths=a_paths, seed=1))
    t_loop, _ = timed(lambda: loop_reference(one, 0, model, a_loop, 1))
    t_loop_scaled = t_loop * a_paths / a_loop
    rows.append((f"(a) 1 facility x {a_paths:,} paths x {T} months", t_vec, t_loop_scaled,
                 f"loop ran {a_loop} paths, scaled x{a_paths / a_loop:g}"))
    rows.append(("    same, t copula (scipy stdtr/ndtri)", t_t, None, "no loop reference"))

    # (b) portfolio
    book = portfolio(b_fac)
    t_book, res = timed(lambda: simulate(book, model, n_paths=b_paths, seed=1))
    tracemalloc.start()  # a second run for memory, so tracing cannot slow the timed one
    simulate(book, model, n_paths=b_paths, seed=1)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    t_loop, _ = timed(lambda: [loop_reference(book, f, model, b_loop_paths, 1)
                               for f in range(b_loop_fac)])
    scale = (b_fac / b_loop_fac) * (b_paths / b_loop_paths)
    rows.append((f"(b) {b_fac:,} facilities x {b_paths:,} paths x {T} months", t_book,
                 t_loop * scale,
                 f"loop ran {b_loop_fac} facilities x {b_loop_paths} paths, scaled x{scale:g}"))

    width = max(len(r[0]) for r in rows)
    print(f"{'case':<{width}}  {'simulate s':>10}  {'loop s':>10}  {'ratio':>7}  note")
    for name, tv, tl, note in rows:
        loop = f"{tl:10.2f}" if tl is not None else f"{'-':>10}"
        ratio = f"{tl / tv:6.0f}x" if tl is not None else f"{'-':>7}"
        print(f"{name:<{width}}  {tv:10.3f}  {loop}  {ratio}  {note}")
    print()
    print(f"(a) target < 0.5 s: {'met' if t_vec < 0.5 else 'MISSED'} ({t_vec:.3f} s)")
    print(f"(b) peak memory, tracemalloc (numpy buffers during simulate): "
          f"{traced_peak / 2**20:,.0f} MiB")
    print(f"(b) peak RSS of a child process running only (b): {peak_rss:,.0f} MiB "
          f"(after imports and building the exposure: {base_rss:,.0f} MiB)")
    print(f"(b) target < 2 GB: {'met' if peak_rss < 2048 else 'MISSED'}")
    print(f"(b) the book's mean pd {res.pd.mean():.3f}, mean el_rate {res.el_rate.mean():.3f}"
          " (illustrative facilities, default MarketModel)")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process (all cases and the loop): {own:,.0f} MiB")


if __name__ == "__main__":
    main()
