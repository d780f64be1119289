"""Benchmark the cash-flow pipeline: 10,000 facilities x 120 months, vectorised vs loops.

Run ``python bench/bench_pipeline.py`` (``--quick`` for a 500-facility smoke run;
``--help`` for the sizes). Issue 2's benchmark: the whole pipeline - residual-value curve,
rent path, CFADS, level-annuity schedule, DSCR, LLCR, breakeven rent - for every facility,
timed (best of ``--repeat``) in two vectorised forms:

* **lean**: the listed steps composed from the core functions
  (``curves.residual_value``, ``rents.trend_path``, ``fleet.cfads``, ``debt.schedule``,
  ``coverage.dscr / min_dscr / llcr / breakeven_rent``), one call each for the portfolio;
* **evaluate()**: :func:`gpucredit.model.evaluate`, which also prices the collateral
  (liquidation haircut, LTV, LGD), tests covenants, sizes debt capacity, computes PLCR and
  breakeven utilization, and finds the breakeven deflation rate by bisection.

Side by side, in the same run, three per-facility loops, each timed on a sample of
facilities and scaled linearly to the full portfolio (the table says so):

* **plain Python loop**: written here, floats and ``math`` only, a loop over periods per
  facility - what an analyst would write without the package;
* **core functions per facility**: the lean composition called once per facility;
* **evaluate() per facility**: ``evaluate`` on one facility at a time.

The vectorised results are checked against the plain loop (largest absolute difference
of minimum DSCR, LLCR at period 1 and breakeven rent), so the comparison is of the same
arithmetic. When ``evaluate()`` misses the 1-second target the script profiles one call
with cProfile and prints where the time goes. It leaves the environment as it finds it:
the numpy version and thread settings are printed, not changed.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import math
import os
import platform
import pstats
import sys
import time
from pathlib import Path

import numpy as np

try:
    import gpucredit
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import gpucredit
from gpucredit import coverage, curves, debt, fleet, rents
from gpucredit.model import Facilities, evaluate
from gpucredit.periods import ages

M = 12          # monthly periods
T = 120         # ten years of them; every loan runs the whole grid
TARGET_SECONDS = 1.0
TARGET_RATIO = 50.0
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


# --------------------------------------------------------------------------- the portfolio

def portfolio(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Illustrative merchant GPU facilities (H100-like, docs/sources.md's figures as ranges).

    Rents $2.0-3.5/GPU-hour deflating 10-30% a year (inference cost falls 20-40% a year),
    utilization 70-95%, 1.1-1.6 kW per GPU at PUE 1.1-1.6, power $0.05-0.12/kWh,
    colocation $150-220/kW-month (CBRE $184, global average $217), GPUs $22-40k, debt
    20-50% of cost at 7-14% over 5-10 years (every facility runs the 120-month grid; the
    loan stops at its tenor), GPUs 0-2 years old, residual curve exponential with a floor
    (lambda 0.3-0.6 around docs/sources.md's 0.46, floor 0-6%).
    """
    rng = np.random.default_rng(seed)
    gpus = rng.integers(256, 8_192, n).astype(float)
    unit_cost = rng.uniform(22_000, 40_000, n)
    return {
        "gpus": gpus, "unit_cost": unit_cost,
        "rent0": rng.uniform(2.0, 3.5, n), "deflation": rng.uniform(0.10, 0.30, n),
        "util": rng.uniform(0.70, 0.95, n),
        "debt": gpus * unit_cost * rng.uniform(0.2, 0.5, n),
        "rate": rng.uniform(0.07, 0.14, n), "tenor": rng.integers(60, T + 1, n),
        "age0": rng.uniform(0.0, 2.0, n), "lam": rng.uniform(0.3, 0.6, n),
        "floor": rng.uniform(0.0, 0.06, n),
        "kw": rng.uniform(1.1, 1.6, n), "pue": rng.uniform(1.1, 1.6, n),
        "price": rng.uniform(0.05, 0.12, n), "colo": rng.uniform(150.0, 220.0, n),
    }


def subset(p: dict[str, np.ndarray], idx) -> dict[str, np.ndarray]:
    return {k: v[idx] for k, v in p.items()}


def facilities(p: dict[str, np.ndarray]) -> Facilities:
    """The same facilities as :func:`gpucredit.model.evaluate` takes them."""
    return Facilities(
        gpus=p["gpus"], gpu_unit_cost=p["unit_cost"], merchant_rent=p["rent0"],
        utilization=p["util"], debt=p["debt"], annual_rate=p["rate"], tenor=p["tenor"],
        age0=p["age0"], rent_deflation=p["deflation"], kw_per_gpu=p["kw"], pue=p["pue"],
        power_price=p["price"], colocation_rate=p["colo"], other_opex=0.0,
        maintenance_capex=0.0, residual_curve="exponential_floor",
        curve_params={"lam": p["lam"], "floor": p["floor"]}, economic_life_years=5.0)


# --------------------------------------------------------------------------- the pipelines

SCALARS = ("min_dscr", "llcr", "breakeven_rent")


def lean(p: dict) -> dict[str, np.ndarray]:
    """The listed steps composed from the core functions: one call each, any number of
    facilities (arrays ``(F,)`` give ``(F, T)`` paths; scalars give ``(T,)``).

    Returns every period's residual value, market value, CFADS (with its line items in
    ``fleet.cfads``'s result), schedule, DSCR and LLCR, and per facility the minimum
    DSCR, LLCR at period 1 and the breakeven rent.
    """
    residual = curves.residual_value(ages(T, M, p["age0"]), "exponential_floor",
                                     lam=p["lam"], floor=p["floor"])
    value = np.asarray(p["gpus"] * p["unit_cost"])[..., None] * residual  # market value
    rent = rents.trend_path(p["rent0"], p["deflation"], T, M)
    cf = fleet.cfads(p["gpus"], p["util"], rent, M, kw_per_gpu=p["kw"], pue=p["pue"],
                     price_per_kwh=p["price"], colocation_per_kw_month=p["colo"])
    sched = debt.schedule(p["debt"], p["rate"], p["tenor"], M, "annuity", horizon=T)
    ds = sched.debt_service
    llcr = coverage.llcr(cf.cfads, sched.opening, p["rate"], M)
    return {
        "value": value, "cfads": cf.cfads, "closing": sched.closing,
        "dscr": coverage.dscr(cf.cfads, ds), "llcr_path": llcr,
        "min_dscr": np.asarray(coverage.min_dscr(cf.cfads, ds)),
        "llcr": llcr[..., 0],
        "breakeven_rent": np.asarray(coverage.breakeven_rent(cf.merchant_gpu_hours,
                                                             cf.other_cfads, ds)),
    }


def plain_loop(g, cost, rent0, deflation, util, amount, annual_rate, n, age0, lam, floor,
               kw, pue, price, colo):
    """One facility in plain Python: a loop over periods with floats and ``math``.

    The same quantities as :func:`lean`, period by period: residual value
    ``F + (1 - F) e^(-lambda age)`` and market value; rent ``rent0 (1 - d)^((t-1)/m)``;
    revenue GPUs x utilization x rent x 8760/m; power GPUs x kW x PUE x hours x $/kWh;
    colocation GPUs x kW x $/kW-month x 12/m; CFADS; level annuity
    ``A r / (1 - (1 + r)^-n)`` with its balance, interest and principal; DSCR; LLCR at
    every period by backward discounting; the breakeven rent
    ``max_t (DS_t - other CFADS_t) / merchant GPU-hours_t``.
    """
    hours = 8760.0 / M
    r = annual_rate / M
    payment = amount * r / (1.0 - (1.0 + r) ** -n)
    power = g * kw * pue * hours * price
    colocation = g * kw * colo * 12.0 / M
    sold = g * util * hours
    value, rents_, revenues, flows, openings, interests, principals, closings, services, \
        dscrs = ([] for _ in range(10))
    balance, min_dscr, breakeven = amount, math.inf, -math.inf
    for t in range(1, T + 1):
        residual = floor + (1.0 - floor) * math.exp(-lam * (age0 + t / M))
        rent = rent0 * (1.0 - deflation) ** ((t - 1) / M)
        revenue = sold * rent
        cfads = revenue - power - colocation
        opening = balance
        if t <= n:
            interest = opening * r
            principal = opening if t == n else payment - interest
            service = interest + principal
            dscr = cfads / service
            min_dscr = min(min_dscr, dscr)
            breakeven = max(breakeven, (service - (cfads - revenue)) / sold)
        else:
            interest = principal = service = 0.0
            dscr = math.nan
        balance = opening - principal
        value.append(g * cost * residual)
        rents_.append(rent)
        revenues.append(revenue)
        flows.append(cfads)
        openings.append(opening)
        interests.append(interest)
        principals.append(principal)
        closings.append(balance)
        services.append(service)
        dscrs.append(dscr)
    llcr, pv = [math.nan] * T, 0.0
    for i in range(n - 1, -1, -1):  # LLCR_t: CFADS t..maturity discounted at the debt rate
        pv = (pv + flows[i]) / (1.0 + r)
        llcr[i] = pv / openings[i]
    return {"value": value, "rent": rents_, "revenue": revenues, "cfads": flows,
            "opening": openings, "interest": interests, "principal": principals,
            "closing": closings, "debt_service": services, "dscr": dscrs,
            "llcr_path": llcr, "min_dscr": min_dscr, "llcr": llcr[0],
            "breakeven_rent": breakeven}


def run_plain_loop(p: dict) -> list[dict]:
    keys = ("gpus", "unit_cost", "rent0", "deflation", "util", "debt", "rate", "tenor",
            "age0", "lam", "floor", "kw", "pue", "price", "colo")
    columns = [p[k].tolist() for k in keys]
    return [plain_loop(*row) for row in zip(*columns, strict=True)]


def stacked(results: list[dict]) -> dict[str, np.ndarray]:
    """Per-facility results (untimed) as arrays: (F,) scalars and (F, T) paths."""
    keys = (*SCALARS, "value", "cfads", "closing", "dscr", "llcr_path")
    return {k: np.array([np.asarray(r[k], dtype=float) for r in results]) for k in keys}


def run_lean_per_facility(p: dict) -> list[dict]:
    return [lean({k: v[i].item() for k, v in p.items()}) for i in range(len(p["gpus"]))]


def run_evaluate_per_facility(p: dict) -> list:
    return [evaluate(facilities(subset(p, [i])), M) for i in range(len(p["gpus"]))]


# --------------------------------------------------------------------------- timing

CPU_SECONDS: dict[int, float] = {}
"""Process CPU time of the best run, by id of the result (the table prints it beside the
wall-clock time: on a busy machine wall time grows while CPU time barely moves)."""


def best_of(fn, repeat: int):
    """Best wall-clock time of ``repeat`` runs, and the result of the last run."""
    best, cpu, result = math.inf, math.inf, None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        wall, used = time.perf_counter() - t0, time.process_time() - c0
        if wall < best:
            best, cpu = wall, used
    CPU_SECONDS[id(result)] = cpu
    return best, result


def max_diff(a: dict, b: dict, keys) -> str:
    """Largest absolute difference per key (NaN where both are NaN, e.g. after maturity)."""
    parts = []
    for k in keys:
        x, y = np.asarray(a[k], dtype=float), np.asarray(b[k], dtype=float)
        both = np.isnan(x) & np.isnan(y)
        diff = np.where(both, 0.0, np.abs(x - y))  # NaN on one side only stays NaN
        parts.append(f"{k} {np.max(diff):.1e}")
    return ", ".join(parts)


def environment() -> str:
    threads = ", ".join(f"{v}={os.environ.get(v, 'unset')}" for v in THREAD_VARS)
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # the config layout differs across numpy versions
        blas = "unknown"
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return (f"python {platform.python_version()}, numpy {np.__version__} (BLAS {blas}), "
            f"gpucredit {getattr(gpucredit, '__version__', '?')}\n"
            f"CPUs: {os.cpu_count()} ({usable} usable); threads: {threads}\n"
            "(the pipeline is elementwise numpy and runs on one thread; BLAS threads are "
            "not used)")


def profile_evaluate(fac: Facilities, top: int = 14) -> str:
    prof = cProfile.Profile()
    prof.enable()
    evaluate(fac, M)
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("cumulative").print_stats(top)
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if "ncalls" in line)
    return "\n".join(lines[start:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 500 facilities, small loop samples")
    parser.add_argument("--facilities", type=int, help="portfolio size (default 10,000)")
    parser.add_argument("--loop-sample", type=int,
                        help="facilities the plain loop runs (default 500; quick 100)")
    parser.add_argument("--repeat", type=int, default=3, help="best of N (default 3)")
    parser.add_argument("--no-profile", action="store_true",
                        help="skip the cProfile of evaluate() when it misses a target")
    args = parser.parse_args(argv)
    n = args.facilities or (500 if args.quick else 10_000)
    n_plain = min(n, args.loop_sample or (100 if args.quick else 500))
    n_core = min(n, 40 if args.quick else 200)
    n_eval = min(n, 10 if args.quick else 40)
    repeat = args.repeat

    print(__doc__.splitlines()[0])
    print(environment())
    if hasattr(os, "getloadavg"):
        print("load average before the run (other work on the machine slows every timing): "
              + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(f"portfolio: {n:,} facilities x {T} monthly periods; best of {repeat}\n")
    p = portfolio(n)
    fac = facilities(p)
    lean(subset(p, slice(0, 10)))  # warm-up: imports, first allocations
    evaluate(facilities(subset(p, slice(0, 10))), M)

    t_lean, res_lean = best_of(lambda: lean(p), repeat)
    t_eval, ev = best_of(lambda: evaluate(fac, M), repeat)
    t_plain, res_plain = best_of(lambda: run_plain_loop(subset(p, slice(0, n_plain))),
                                 repeat)
    t_core, res_core = best_of(lambda: run_lean_per_facility(subset(p, slice(0, n_core))),
                               repeat)
    t_evloop, res_evloop = best_of(lambda: run_evaluate_per_facility(subset(p, slice(0, n_eval))),
                          repeat)
    loops = {  # name: (time scaled to the portfolio, facilities actually run)
        "plain Python loop": (t_plain * n / n_plain, n_plain),
        "core functions per facility": (t_core * n / n_core, n_core),
        "evaluate() per facility": (t_evloop * n / n_eval, n_eval),
    }

    cpu = [CPU_SECONDS[id(r)] for r in (res_lean, ev)]
    cpu += [CPU_SECONDS[id(r)] * n / k for r, k in ((res_plain, n_plain), (res_core, n_core),
                                                    (res_evloop, n_eval))]
    rows = [("vectorised lean (core functions)", t_lean),
            ("vectorised evaluate() (full pipeline)", t_eval)]
    rows += [(f"{name} [ran {k:,}, scaled x{n / k:g}]", t) for name, (t, k) in loops.items()]
    width = max(len(r[0]) for r in rows)
    print(f"{'path':<{width}}  {'time s':>9}  {'per facility':>12}  {'CPU s':>9}")
    for (name, t), c in zip(rows, cpu, strict=True):
        print(f"{name:<{width}}  {t:9.3f}  {t / n * 1e6:9.1f} us  {c:9.3f}")

    print(f"\nspeed-up = loop time / vectorised time (target >= {TARGET_RATIO:g}x), wall clock "
          "(CPU time in brackets):")
    print(f"{'':<24}" + "".join(f"{name:>30}" for name in loops))
    for name, t, c in (("vectorised lean", t_lean, cpu[0]),
                       ("vectorised evaluate()", t_eval, cpu[1])):
        cells = [f"{lt / t:.1f}x ({lc / c:.1f}x)" for (lt, _), lc in zip(loops.values(), cpu[2:],
                                                                         strict=True)]
        print(f"{name:<24}" + "".join(f"{cell:>30}" for cell in cells))

    # The same arithmetic: compare on the facilities the loops ran (comparison untimed).
    plain = stacked(res_plain)
    paths = ("value", "cfads", "closing", "dscr", "llcr_path")
    lean_s = {k: np.asarray(v)[:n_plain] for k, v in res_lean.items()}
    eval_s = {"min_dscr": ev.metrics.min_dscr.to_numpy()[:n_plain],
              "llcr": ev.metrics.llcr.to_numpy()[:n_plain],
              "breakeven_rent": ev.metrics.breakeven_rent.to_numpy()[:n_plain],
              "value": ev.market_value[:n_plain], "cfads": ev.flows.cfads[:n_plain],
              "closing": ev.schedule.closing[:n_plain], "dscr": ev.dscr[:n_plain],
              "llcr_path": ev.llcr[:n_plain]}
    core = stacked(res_core)
    print(f"\nsame answers (largest absolute difference against the plain loop; ratios "
          f"in x, money in USD) on its {n_plain:,} facilities:")
    for name, res, k in (("lean", lean_s, n_plain), ("evaluate()", eval_s, n_plain),
                         (f"core per facility ({n_core})", core, n_core)):
        ref = {key: v[:k] for key, v in plain.items()}
        print(f"  {name:<24} {max_diff(res, ref, SCALARS)}")
        print(f"  {'':<24} every period: {max_diff(res, ref, paths)}")
    print(f"  (ranges in the sample: min DSCR {plain['min_dscr'].min():.2f} to "
          f"{plain['min_dscr'].max():.2f}, LLCR {plain['llcr'].min():.2f} to "
          f"{plain['llcr'].max():.2f}, breakeven rent ${plain['breakeven_rent'].min():.2f} "
          f"to ${plain['breakeven_rent'].max():.2f}/GPU-hour)")

    plain_scaled = loops["plain Python loop"][0]
    print(f"\ntargets: under {TARGET_SECONDS:g} s, and >= {TARGET_RATIO:g}x the plain loop "
          "(wall clock)")
    for name, t in (("lean", t_lean), ("evaluate()", t_eval)):
        ratio = plain_scaled / t
        print(f"  {name:<11} {t:6.3f} s {'met' if t < TARGET_SECONDS else 'MISSED':>7};  "
              f"{ratio:6.1f}x {'met' if ratio >= TARGET_RATIO else 'MISSED':>7}")
    if n != 10_000:
        print(f"  (a smoke run of {n:,} facilities, not issue 2's 10,000 x {T})")

    if (t_eval >= TARGET_SECONDS or plain_scaled / t_eval < TARGET_RATIO) \
            and not args.no_profile:
        print("\nevaluate() misses a target; where its time goes (cProfile of one call, "
              "by cumulative time):")
        print(profile_evaluate(fac))
    return 0


if __name__ == "__main__":
    sys.exit(main())
