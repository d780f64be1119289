"""Regenerate the golden demo metrics: ``make golden`` (deliberately, after a model change).

Runs ``make demo``'s recalculation (the bundled demo tape, 2,000 paths, seed 7) and keeps the
columns a credit committee reads. Review the diff of ``tests/golden/demo_metrics.csv``
before committing it: every changed number is a changed verdict.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "demo_metrics.csv"
DEMO = ROOT / "workbooks" / "demo_tape.xlsx"
PATHS, SEED = 2000, 7
COLUMNS = [
    "facility_id", "rating_bucket", "rating_reason", "pd_tenor", "pd_annual",
    "pd_annual_bound", "merton_pd", "spread_implied_pd", "fair_spread_bp",
    "quoted_spread_bp", "mispricing_bp", "mc_pd", "mc_pd_payment", "mc_pd_refinancing",
    "mc_pd_customer_driven", "mc_lgd", "mc_expected_loss", "mc_pv_expected_loss",
    "debt", "min_dscr", "avg_dscr", "llcr", "market_value", "liquidation_value",
    "ltv_market", "ltv_liquidation", "life_gap_years", "breakeven_rent",
]


def demo_metrics(folder: Path) -> pd.DataFrame:
    """The demo's metrics table as ``gpucredit recalc`` writes it to CSV."""
    from click.testing import CliRunner

    from gpucredit.cli import main

    out = CliRunner().invoke(main, ["recalc", str(DEMO), "-o", str(folder / "r.xlsx"),
                                    "--csv", str(folder / "csv"), "--paths", str(PATHS),
                                    "--seed", str(SEED), "--quiet"])
    if out.exit_code != 0:
        raise RuntimeError(f"gpucredit recalc failed ({out.exit_code}): {out.output}")
    metrics = pd.read_csv(folder / "csv" / "metrics.csv")
    return metrics[[c for c in COLUMNS if c in metrics]]


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        demo_metrics(Path(tmp)).to_csv(GOLDEN, index=False, float_format="%.10g")
    print(f"wrote {GOLDEN.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
