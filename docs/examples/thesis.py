"""The project's thesis on one illustrative loan: the numbers of docs/worked_example.md.

Run from the repository root (the tables in the document are this script's output):

    .venv/bin/python docs/examples/thesis.py            # the document's settings
    .venv/bin/python docs/examples/thesis.py --paths 20000

The loan: a neocloud borrows 70% of the cost of 1,000 H100s ($30,000 each) as a 5-year
monthly annuity at SOFR + 6.50%, and rents the GPUs at $2.40 an hour, 80% utilized. The
miner variant is the same fleet and loan held by a bitcoin miner that also self-mines and
keeps a BTC treasury. Every other input is a gpucredit default, documented where it is
defined (rent deflation 25% a year, exponential residual curve, CBRE colocation rate ...).
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass

from gpucredit import collateral
from gpucredit.model import Facilities, evaluate, simulate
from gpucredit.montecarlo import MarketModel
from gpucredit.scenarios import Scenario, run_scenarios

PERIODS_PER_YEAR = 12
SOFR = 0.04
"""Illustrative flat SOFR path (an assumption of this example, not a forecast)."""

GPUS = 1_000
UNIT_COST = 30_000.0
LOAN_TO_COST = 0.70

LOAN = Facilities(
    ids=["neocloud"], gpus=GPUS, gpu_unit_cost=UNIT_COST, merchant_rent=2.40,
    utilization=0.80, debt=LOAN_TO_COST * GPUS * UNIT_COST, annual_rate=0.0, tenor=60,
    floating=True, base_rate=SOFR, spread=0.065, amortization="annuity")

# The miner variant: 1.5 EH/s of self-mining at a hashcost of $15 per PH/s per day (a
# modern fleet of about 15 J/TH on $0.04/kWh power: 15 kW x 24 h x $0.04 = $14.40, plus
# $0.60 of other costs), a difficulty of 1.5e14 with no fees, and a treasury of 100 BTC.
# Illustrative figures of ours.
MINER = LOAN.replace(ids=["miner"], hashrate_ph=1_500.0, mining_efficiency=15.0,
                     mining_power_price=0.04, hashcost_per_ph_day=0.60,
                     network_difficulty=1.5e14, fees_per_block=0.0, btc_held=100.0)

DEFLATIONS = (0.0, 0.20, 0.25, 0.30, 0.40)
"""Annual rent deflation of the coverage table: flat rents, docs/sources.md's 20-40% grid and
the model's 25% base case."""

TRENDS = (0.25, 0.12)
"""Rent trends of the Monte Carlo table: the model's base case, and the all-in H100
decline of about 12% a year observed early 2024 - mid 2026 (docs/sources.md; the trend
gpucredit.montecarlo.MarketModel recommends when no generation launches are simulated)."""

RHOS = (0.0, 0.6)
"""Correlations compared (docs/sources.md: stress rho at 0, 0.3, 0.6)."""

N_PATHS = 100_000
SEED = 2026


# --------------------------------------------------------------------------- the numbers


def ltv_over_tenor(fac: Facilities = LOAN) -> list[dict]:
    """Document LTV (debt / orderly market value) against liquidation LTV, by year."""
    ev = evaluate(fac, PERIODS_PER_YEAR)
    cost = GPUS * UNIT_COST
    debt0 = float(ev.metrics["debt"].iloc[0])
    liq0 = collateral.liquidation_value(cost, GPUS, fac.market_absorption,
                                        fac.liquidation_months).recovery
    rows = [dict(when="closing (at cost)", debt=debt0, value=cost, ltv_docs=debt0 / cost,
                 liquidation=liq0, ltv_liquidation=debt0 / liq0)]
    s = ev.schedule
    for year in range(1, int(ev.tenor[0]) // PERIODS_PER_YEAR + 1):
        t = year * PERIODS_PER_YEAR - 1
        owed = float(s.opening[0, t] + s.draw[0, t] + s.interest[0, t])
        rows.append(dict(when=f"month {t + 1}", debt=owed,
                         value=float(ev.market_value[0, t]),
                         ltv_docs=float(ev.ltv_market[0, t]),
                         liquidation=float(ev.liquidation_value[0, t]),
                         ltv_liquidation=float(ev.ltv_liquidation[0, t])))
    return rows


def haircut_buildup(fac: Facilities = LOAN) -> list[dict]:
    """The liquidation haircut term by term, for this fleet and for a ten times larger one."""
    cases = [(f"{GPUS:,} GPUs over {fac.liquidation_months:g} months", GPUS,
              fac.liquidation_months),
             (f"{GPUS:,} GPUs in 1 month", GPUS, 1.0),
             (f"{10 * GPUS:,} GPUs over {fac.liquidation_months:g} months", 10 * GPUS,
              fac.liquidation_months)]
    rows = []
    for label, units, months in cases:
        mv = units * UNIT_COST
        liq = collateral.liquidation_value(mv, units, fac.market_absorption, months)
        rows.append(dict(case=label, time_factor=liq.time_factor,
                         impact=liq.impact_haircut, install=liq.install_haircut,
                         costs=liq.costs / mv, recovery=liq.recovery / mv,
                         haircut=liq.haircut))
    return rows


def deflation_table(fac: Facilities = LOAN) -> tuple[list[dict], float]:
    """Coverage at flat rents and under 20-40% annual rent deflation; breakeven deflation."""
    scenarios = [Scenario(f"{round(100 * d)}%", rent_deflation=d) for d in DEFLATIONS]
    res = run_scenarios(fac, PERIODS_PER_YEAR, scenarios)
    ev = evaluate(fac, PERIODS_PER_YEAR)
    rows = []
    for d, (_, r) in zip(DEFLATIONS, res.iterrows(), strict=True):
        rows.append(dict(deflation=d, min_dscr=r.min_dscr, avg_dscr=r.avg_dscr,
                         first_breach=int(r.first_breach), lgd=r.lgd,
                         lgd_period=int(r.lgd_period)))
    breakeven = float(ev.metrics["breakeven_deflation"].iloc[0])
    return rows, breakeven


@dataclass(frozen=True)
class McRow:
    borrower: str
    trend: float
    rho: float | None
    pd: float
    pd_se: float
    lgd: float
    el_rate: float
    el_rate_se: float
    p_ltv: float
    min_dscr_combined: float


def correlation_table(n_paths: int = N_PATHS, seed: int = SEED) -> list[McRow]:
    """PD, LGD and expected loss of the miner at rho 0 and 0.6, and of the neocloud.

    Every run has its own seed, so two runs' estimates are independent and the standard
    error of a difference is ``sqrt(se_1^2 + se_2^2)``.
    """
    rows = []
    run = 0
    for trend in TRENDS:
        for fac, rhos in ((LOAN, (0.0,)), (MINER, RHOS)):
            stressed = fac.replace(rent_deflation=trend)
            det = evaluate(stressed, PERIODS_PER_YEAR).metrics.iloc[0]
            for rho in rhos:
                market = MarketModel(jump_years=(), rho=rho)
                mc = simulate(stressed, PERIODS_PER_YEAR, market, n_paths=n_paths,
                              seed=seed + run).iloc[0]
                run += 1
                debt0 = float(det["debt"])
                rows.append(McRow(
                    borrower=str(stressed.ids[0]), trend=trend,
                    rho=rho if fac is MINER else None, pd=float(mc["pd"]),
                    pd_se=float(mc["pd_se"]), lgd=float(mc["lgd"]),
                    el_rate=float(mc["el_rate"]), el_rate_se=float(mc["el_se"]) / debt0,
                    p_ltv=float(mc["p_ltv_above_1"]),
                    min_dscr_combined=float(det["min_dscr_combined"])))
    return rows


def claims(ltv: list[dict], deflation: list[dict], mc: list[McRow]) -> dict[str, float]:
    """The headline claims as numbers (tests/test_scenarios.py checks them)."""
    miner = {(r.trend, r.rho): r for r in mc if r.borrower == "miner"}
    out = {
        "min_ltv_gap": min(r["ltv_liquidation"] - r["ltv_docs"] for r in ltv),
        "ltv_docs_at_closing": ltv[0]["ltv_docs"],
        "max_ltv_liquidation": max(r["ltv_liquidation"] for r in ltv),
        "flat_min_dscr": deflation[0]["min_dscr"],
        "worst_deflated_min_dscr": max(r["min_dscr"] for r in deflation[1:]),
    }
    for trend in TRENDS:
        lo, hi = miner[(trend, RHOS[0])], miner[(trend, RHOS[1])]
        key = round(100 * trend)
        out[f"pd_z_{key}"] = (hi.pd - lo.pd) / math.hypot(hi.pd_se, lo.pd_se)
        out[f"el_z_{key}"] = (hi.el_rate - lo.el_rate) / math.hypot(hi.el_rate_se,
                                                                     lo.el_rate_se)
    return out


# --------------------------------------------------------------------------- printing


def _table(headers: list[str], rows: list[list[str]], align: str) -> str:
    """A markdown table; ``align`` holds 'l' or 'r' per column."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells):
        return "| " + " | ".join(c.ljust(w) if a == "l" else c.rjust(w)
                                 for c, w, a in zip(cells, widths, align, strict=True)) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if a == "r" else (":" + "-" * (w + 1))
                          for w, a in zip(widths, align, strict=True)) + "|"
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def _m(x: float) -> str:
    return f"${x / 1e6:,.1f}m"


def _pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f}%"


def _month(t: int) -> str:
    return "never" if t == 0 else f"month {t}"


def compute(n_paths: int = N_PATHS, seed: int = SEED) -> dict:
    """Every number of the worked example, with the headline claims."""
    ltv = ltv_over_tenor()
    deflation, breakeven = deflation_table()
    mc = correlation_table(n_paths, seed)
    return dict(ltv=ltv, buildup=haircut_buildup(), deflation=deflation,
                breakeven_deflation=breakeven, mc=mc, n_paths=n_paths,
                claims=claims(ltv, deflation, mc))


def render(res: dict) -> str:
    """The worked example's tables, as markdown."""
    c = res["claims"]
    out = ["### 1. LTV on the loan documents and after a liquidation haircut\n"]
    out.append(_table(
        ["", "debt owed", "market value", "LTV (documents)", "liquidation value",
         "LTV (liquidation)"],
        [[r["when"], _m(r["debt"]), _m(r["value"]), _pct(r["ltv_docs"]),
          _m(r["liquidation"]), _pct(r["ltv_liquidation"])] for r in res["ltv"]],
        "lrrrrr"))
    out.append("\nThe haircut, term by term (shares of market value):\n")
    out.append(_table(
        ["sale", "time factor", "impact", "install", "costs", "recovery", "haircut"],
        [[r["case"], f"{r['time_factor']:.3f}", _pct(r["impact"]), _pct(r["install"]),
          _pct(r["costs"]), _pct(r["recovery"]), _pct(r["haircut"])]
         for r in res["buildup"]], "lrrrrrr"))
    out.append("\n### 2. DSCR under rent deflation\n")
    out.append(_table(
        ["rent deflation a year", "min DSCR", "average DSCR", "first breach (1.05x)",
         "LGD at payment default"],
        [[_pct(r["deflation"], 0) + (" (base case)" if r["deflation"] == 0.25 else ""),
          f"{r['min_dscr']:.2f}x", f"{r['avg_dscr']:.2f}x", _month(r["first_breach"]),
          "-" if r["min_dscr"] >= 1 else f"{_pct(r['lgd'])} (month {r['lgd_period']})"]
         for r in res["deflation"]], "lrrrr"))
    out.append(f"\nBreakeven deflation (minimum DSCR exactly 1.00x): "
               f"{_pct(res['breakeven_deflation'])} a year.")
    out.append(f"\n### 3. PD of the miner variant with correlation 0 and 0.6 "
               f"({res['n_paths']:,} paths a run)\n")
    out.append(_table(
        ["borrower", "rent trend", "rho", "base-case min DSCR", "PD", "s.e.", "LGD",
         "EL / debt", "s.e.", "P(LTV > 100%)"],
        [[r.borrower, _pct(r.trend, 0), "-" if r.rho is None else f"{r.rho:g}",
          f"{r.min_dscr_combined:.2f}x", _pct(r.pd, 2), _pct(r.pd_se, 2), _pct(r.lgd),
          _pct(r.el_rate, 2), _pct(r.el_rate_se, 2), _pct(r.p_ltv)] for r in res["mc"]],
        "llrrrrrrrr"))
    out.append("\nrho 0.6 against rho 0 for the miner, in standard errors of the "
               "difference:\n")
    out.append(_table(
        ["rent trend", "PD", "EL / debt"],
        [[_pct(t, 0), f"{c[f'pd_z_{round(100 * t)}']:+.1f}",
          f"{c[f'el_z_{round(100 * t)}']:+.1f}"] for t in TRENDS], "lrr"))
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=N_PATHS, help="Monte Carlo paths a run")
    parser.add_argument("--seed", type=int, default=SEED, help="first seed")
    args = parser.parse_args(argv)
    sys.stdout.write(render(compute(args.paths, args.seed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
