"""A many-facility model in native Excel formulas only, for recalc-workbook's speed bench
and its cross-check against LibreOffice.

One row of inputs per facility on ``Inputs`` (rent per GPU-hour, annual rent deflation,
GPUs, utilisation, opex share, loan amount, annual rate, tenor in months); on ``Calcs``
a block of six rows per facility over ``periods`` monthly columns - period, rent,
revenue, CFADS, debt service (PMT while the loan runs), DSCR - and two summary cells
(minimum DSCR, NPV of CFADS). Every formula cell is native: LibreOffice computes all of
them, so its values are an independent oracle.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openpyxl
from openpyxl.utils import get_column_letter as col

LINES = ("Period", "Rent", "Revenue", "CFADS", "Debt service", "DSCR")


def build(path: Path, facilities: int = 100, periods: int = 60, seed: int = 7) -> int:
    """Write the model to ``path``; returns its number of formula cells."""
    rng = np.random.default_rng(seed)
    wb = openpyxl.Workbook()
    inputs = wb.active
    inputs.title = "Inputs"
    inputs.append(["Facility", "Rent", "Deflation", "GPUs", "Utilisation", "Opex share",
                   "Amount", "Rate", "Tenor"])
    for f in range(facilities):
        inputs.append([f"F{f + 1:03d}", round(rng.uniform(1.5, 3.0), 2),
                       round(rng.uniform(0.1, 0.35), 3), int(rng.integers(256, 4096)),
                       round(rng.uniform(0.6, 0.95), 2), round(rng.uniform(0.2, 0.45), 2),
                       round(rng.uniform(5e6, 6e7), -3), round(rng.uniform(0.06, 0.14), 4),
                       int(rng.integers(min(24, periods), periods + 1))])
    calcs = wb.create_sheet("Calcs")
    n = 0
    last = col(2 + periods)
    for f in range(facilities):
        i, top = f + 2, f * 7 + 1  # inputs row, first row of the block
        calcs.cell(top, 1, f"F{f + 1:03d}")
        for k, name in enumerate(LINES):
            calcs.cell(top + k, 2, name)
        for t in range(1, periods + 1):
            c = col(2 + t)
            p, r, v, cf, ds = (f"{c}{top + k}" for k in range(5))
            calcs[p] = f"={col(1 + t)}{top}+1" if t > 1 else "=1"
            calcs[r] = f"=Inputs!$B${i}*(1-Inputs!$C${i})^(({p}-1)/12)"
            calcs[v] = f"={r}*Inputs!$D${i}*Inputs!$E${i}*730"
            calcs[cf] = f"={v}*(1-Inputs!$F${i})"
            pmt = f"PMT(Inputs!$H${i}/12,Inputs!$I${i},-Inputs!$G${i})"
            calcs[ds] = f"=IF({p}<=Inputs!$I${i},{pmt},0)"
            calcs[f"{c}{top + 5}"] = f'=IF({ds}>0,{cf}/{ds},"")'
            n += 6
        calcs.cell(top, 3 + periods, f"=MIN(C{top + 5}:{last}{top + 5})")
        calcs.cell(top + 1, 3 + periods, f"=NPV(Inputs!$H${i}/12,C{top + 3}:{last}{top + 3})")
        n += 2
    wb.save(path)
    return n
