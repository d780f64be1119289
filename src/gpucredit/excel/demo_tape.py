"""The bundled demo loan tape: illustrative facilities modelled on public GPU-financing deals.

:func:`build_demo_tape` fills the loan-tape template (:mod:`gpucredit.excel.tape_template`)
with :data:`DEMO_FACILITIES`: fourteen facilities whose terms (size, coupon or spread,
floor, tenor, amortisation, lease length, loan-to-cost) are modelled on the deals listed in
docs/sources.md "Deals to build a realistic demo tape from". The borrowers are invented
("Northwind Compute", "Cobalt Ridge Mining" ...): they are not the companies whose deals
they borrow from. Each row's ``source`` cell names the public fact it leans on, and the
Sources sheet lists row -> fact.

How the deals are scaled
------------------------
The tape finances GPU fleets, so each deal gets a fleet whose cost (GPUs x cost per GPU)
matches the deal's size at a plausible loan-to-cost: 80-90% for secured facilities, up to
85% for the lease-backed bond (the deal's own figure), 85-95% for converts that are not
secured on the fleet. Costs per GPU, rents, utilization, PUE, power and colocation prices
are our assumptions within the ranges docs/sources.md gives: H100 $26-33k a GPU (higher in
2023), contract rents $2.2-4.3 an hour by model and vintage, merchant rents at the
presets' mid-2026 levels, utilization 0.70-0.95, PUE 1.2-1.5, power $0.04-0.09/kWh
(miners at the low end), colocation $150-220/kW-month (0 for a miner's own site).
Contracts of facilities lent against investment-grade contracts run to the loan's
maturity, as such facilities are sized to the contracted payments; the others leave
merchant exposure. Balance-sheet figures for the Merton model (total debt, equity value
and volatility) are round illustrative numbers for the kind of borrower, not any company's.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from gpucredit.excel.market_template import bundled_market_rows
from gpucredit.excel.tape_template import (
    PUBLIC_SOURCES,
    save_workbook,
    tape_workbook,
)
from gpucredit.tape import schema

__all__ = ["DEMO_ASSUMPTIONS", "DEMO_FACILITIES", "build_demo_tape", "demo_frame"]

D = dt.date

DEMO_ASSUMPTIONS = {
    "valuation_date": D(2026, 6, 30),
    "base_rate": 0.043,
    "risk_free_rate": 0.042,
    "btc_price": 100_000.0,
}
"""Assumptions of the demo tape (the rest take the schema's defaults).

SOFR and the Treasury yield near 4.3% and 4.2% are illustrative mid-2026 levels; BTC at
$100,000 is the schema's illustrative default.
"""

_NORTHWIND = {"borrower": "Northwind Compute", "borrower_type": "neocloud",
              "borrower_debt": 18e9, "equity_value": 60e9, "equity_vol": 0.95}
_TIDEWATER = {"borrower": "Tidewater Digital", "borrower_type": "miner",
              "borrower_debt": 5e9, "equity_value": 6e9, "equity_vol": 1.10}
_COBALT = {"borrower": "Cobalt Ridge Mining", "borrower_type": "miner",
           "borrower_debt": 2.6e9, "equity_value": 7e9, "equity_vol": 1.00}

DEMO_FACILITIES: tuple[dict, ...] = (
    {   # CoreWeave DDTL 1.0: $2.3bn, 2023, March 2028, ~15% effective
        "facility_id": "NWC-DDTL1", **_NORTHWIND, "source_key": "cw_ddtl1",
        "counterparty_rating": "A+", "termination_payment_months": 6, "seniority": "secured",
        "source": "CoreWeave DDTL 1.0: $2.3bn (2023), maturing Mar 2028, about 15% effective",
        "gpu_model": "H100", "gpu_count": 82_000, "delivery_date": D(2023, 9, 30),
        "gpu_unit_cost": 33_000, "commitment": 2.3e9, "drawn_amount": 1.25e9,
        "origination_date": D(2023, 8, 1), "maturity_date": D(2028, 3, 31),
        "rate_type": "fixed", "fixed_rate": 0.15, "amortization": "straight_line",
        "periods_per_year": 4, "contracted_share": 0.85, "contract_rate": 2.85,
        "contract_end_date": D(2028, 6, 30), "ig_contracts": True, "merchant_rent": 2.42,
        "utilization": 0.80, "pue": 1.35, "power_price": 0.075, "colocation_rate": 184,
        "other_opex": 1_500, "maintenance_capex": 600, "quoted_spread": 1_070,
    },
    {   # CoreWeave DDTL 2.0, investment-grade contracts: SOFR+6.00-6.50%, 0% floor
        "facility_id": "NWC-DDTL2-IG", **_NORTHWIND, "source_key": "cw_ddtl2",
        "counterparty_rating": "AA-", "termination_payment_months": 6, "seniority": "secured",
        "source": "CoreWeave DDTL 2.0 (May 2024): SOFR+6.00-6.50% against investment-grade "
                  "contracts, 0% floor, May 2029",
        "gpu_model": "H100", "gpu_count": 248_000, "delivery_date": D(2024, 9, 30),
        "gpu_unit_cost": 28_500, "commitment": 6.0e9, "drawn_amount": 4.9e9,
        "origination_date": D(2024, 5, 17), "maturity_date": D(2029, 5, 17),
        "rate_type": "floating", "spread": 0.0625, "rate_floor": 0.0,
        "amortization": "annuity", "periods_per_year": 12, "contracted_share": 0.90,
        "contract_rate": 2.75, "contract_end_date": D(2029, 6, 30), "ig_contracts": True,
        "merchant_rent": 2.42, "utilization": 0.85, "pue": 1.30, "power_price": 0.07,
        "colocation_rate": 175, "other_opex": 1_200, "maintenance_capex": 500,
        "quoted_spread": 625,
    },
    {   # CoreWeave DDTL 2.0, non-IG contracts: SOFR+13%, 0% floor
        "facility_id": "NWC-DDTL2-NIG", **_NORTHWIND, "source_key": "cw_ddtl2",
        "counterparty_rating": "BB-", "termination_payment_months": 3, "seniority": "secured",
        "source": "CoreWeave DDTL 2.0 (May 2024): SOFR+13% against non-investment-grade "
                  "contracts, 0% floor, May 2029",
        "gpu_model": "H200", "gpu_count": 60_000, "delivery_date": D(2025, 3, 31),
        "gpu_unit_cost": 31_500, "commitment": 1.6e9, "drawn_amount": 1.2e9,
        "origination_date": D(2024, 5, 17), "maturity_date": D(2029, 5, 17),
        "rate_type": "floating", "spread": 0.13, "rate_floor": 0.0,
        "amortization": "annuity", "periods_per_year": 12, "contracted_share": 0.70,
        "contract_rate": 3.10, "contract_end_date": D(2029, 6, 30), "ig_contracts": False,
        "merchant_rent": 2.80, "utilization": 0.80, "pue": 1.30, "power_price": 0.07,
        "colocation_rate": 175, "other_opex": 1_200, "maintenance_capex": 500,
        "quoted_spread": 1_300,
    },
    {   # A later CoreWeave draw: each draw matures five years after drawing
        "facility_id": "NWC-DDTL2-ADD", **_NORTHWIND, "source_key": "cw_ddtl2",
        "counterparty_rating": "A-", "termination_payment_months": 6, "seniority": "secured",
        "source": "CoreWeave DDTL 2.0 upsize: +$3bn, each draw maturing five years after "
                  "drawing",
        "gpu_model": "GB200", "gpu_count": 40_000, "delivery_date": D(2025, 9, 30),
        "gpu_unit_cost": 42_000, "commitment": 1.4e9, "drawn_amount": 0.9e9,
        "origination_date": D(2025, 10, 1), "maturity_date": D(2030, 10, 1),
        "rate_type": "floating", "spread": 0.065, "rate_floor": 0.0,
        "amortization": "straight_line", "periods_per_year": 4,
        "interest_only_periods": 4, "contracted_share": 0.85, "contract_rate": 4.30,
        "contract_end_date": D(2030, 12, 31), "ig_contracts": True, "merchant_rent": 5.00,
        "utilization": 0.85, "pue": 1.25, "power_price": 0.07, "colocation_rate": 200,
        "other_opex": 1_800, "maintenance_capex": 800, "quoted_spread": 650,
    },
    {   # CoreWeave 9.000% senior notes due 2031, $1.75bn (unsecured, bullet)
        "facility_id": "NWC-SN31", **_NORTHWIND, "source_key": "cw_notes",
        "counterparty_rating": "A-", "seniority": "senior_unsecured",
        "source": "CoreWeave 9.000% senior notes due 2031 ($1.75bn)",
        "gpu_model": "B200", "gpu_count": 52_000, "delivery_date": D(2025, 6, 30),
        "gpu_unit_cost": 40_000, "commitment": 1.75e9,
        "origination_date": D(2025, 7, 22), "maturity_date": D(2031, 2, 1),
        "rate_type": "fixed", "fixed_rate": 0.09, "amortization": "bullet",
        "periods_per_year": 2, "contracted_share": 0.80, "contract_rate": 4.20,
        "contract_end_date": D(2031, 6, 30), "ig_contracts": True, "merchant_rent": 4.50,
        "utilization": 0.85, "pue": 1.25, "power_price": 0.07, "colocation_rate": 200,
        "other_opex": 1_600, "maintenance_capex": 700, "quoted_spread": 480,
    },
    {   # TeraWulf 7.75% senior secured notes due 2030, $3.2bn; 50% excess-cash-flow offer
        "facility_id": "TWD-SSN30", **_TIDEWATER, "source_key": "twf_notes",
        "counterparty_rating": "B", "backstop_rating": "AA+", "termination_payment_months": 12,
        "dsra_amount": 124e6, "seniority": "secured",
        "source": "TeraWulf 7.75% senior secured notes due 2030 ($3.2bn), 50% excess cash "
                  "flow offer",
        "gpu_model": "GB200", "gpu_count": 95_000, "delivery_date": D(2026, 3, 31),
        "gpu_unit_cost": 42_000, "commitment": 3.2e9,
        "origination_date": D(2025, 10, 15), "maturity_date": D(2030, 10, 15),
        "rate_type": "fixed", "fixed_rate": 0.0775, "amortization": "bullet",
        "periods_per_year": 4, "contracted_share": 1.0, "contract_rate": 2.30,
        "contract_end_date": D(2035, 10, 31), "ig_contracts": True, "merchant_rent": 5.00,
        "utilization": 0.90, "pue": 1.25, "power_price": 0.045, "colocation_rate": 0,
        "other_opex": 900, "maintenance_capex": 500, "cash_sweep": 0.5,
        "quoted_spread": 340,
    },
    {   # TeraWulf / Fluidstack JV: ~8%, amortisation rising $19m (2026) -> $85m (2031)
        "facility_id": "LSJ-JV31", "borrower": "Lakeshore Compute JV",
        "counterparty_rating": "B", "backstop_rating": "AA+", "termination_payment_months": 12,
        "dsra_amount": 60e6, "seniority": "secured",
        "borrower_type": "other", "source_key": "twf_jv",
        "source": "TeraWulf/Fluidstack JV: about 8%, amortisation rising from $19m (2026) "
                  "to $85m (2031), $1.8bn hyperscaler backstop",
        "gpu_model": "GB200", "gpu_count": 24_000, "delivery_date": D(2026, 1, 31),
        "gpu_unit_cost": 42_000, "commitment": 0.85e9,
        "origination_date": D(2025, 12, 15), "maturity_date": D(2031, 12, 15),
        "rate_type": "fixed", "fixed_rate": 0.08, "amortization": "sculpted",
        "sculpt_dscr": 1.40, "periods_per_year": 4, "contracted_share": 1.0,
        "contract_rate": 2.20, "contract_end_date": D(2035, 12, 31), "ig_contracts": True,
        "merchant_rent": 5.00, "utilization": 0.90, "pue": 1.25, "power_price": 0.045,
        "colocation_rate": 0, "other_opex": 900, "maintenance_capex": 500,
        "quoted_spread": 380,
    },
    {   # Cipher 7.125% senior secured notes due 2030, $1.4bn, Fitch BB-
        "facility_id": "CRM-SSN30", **_COBALT, "source_key": "cifr_notes",
        "counterparty_rating": "B", "backstop_rating": "AA+", "termination_payment_months": 12,
        "dsra_amount": 50e6, "seniority": "secured",
        "source": "Cipher 7.125% senior secured notes due 2030 ($1.4bn, Fitch BB-)",
        "gpu_model": "H200", "gpu_count": 55_000, "delivery_date": D(2025, 12, 31),
        "gpu_unit_cost": 32_000, "commitment": 1.4e9,
        "origination_date": D(2025, 11, 15), "maturity_date": D(2030, 11, 15),
        "rate_type": "fixed", "fixed_rate": 0.07125, "amortization": "bullet",
        "periods_per_year": 2, "contracted_share": 0.95, "contract_rate": 2.40,
        "contract_end_date": D(2035, 11, 30), "ig_contracts": True, "merchant_rent": 2.80,
        "utilization": 0.85, "pue": 1.30, "power_price": 0.04, "colocation_rate": 0,
        "other_opex": 900, "maintenance_capex": 500, "quoted_spread": 290,
    },
    {   # Cipher 0% converts due 2031, $1.1bn; the miner row with BTC and hashrate
        "facility_id": "CRM-CV31", **_COBALT, "source_key": "cifr_conv",
        "counterparty_rating": "BB", "seniority": "senior_unsecured",
        "source": "Cipher 0% convertible notes due 2031 ($1.1bn)",
        "gpu_model": "H100", "gpu_count": 45_000, "delivery_date": D(2025, 9, 30),
        "gpu_unit_cost": 27_500, "commitment": 1.1e9,
        "origination_date": D(2025, 9, 30), "maturity_date": D(2031, 10, 1),
        "rate_type": "fixed", "fixed_rate": 0.0, "amortization": "bullet",
        "periods_per_year": 2, "contracted_share": 0.80, "contract_rate": 2.30,
        "contract_end_date": D(2031, 12, 31), "ig_contracts": False, "merchant_rent": 2.42,
        "utilization": 0.75, "pue": 1.35, "power_price": 0.04, "colocation_rate": 0,
        "other_opex": 900, "maintenance_capex": 500, "btc_held": 1_200,
        "hashrate_ph": 23_000, "quoted_spread": 450,
    },
    {   # IREN 3.50% converts due 2029, $500m
        "facility_id": "IBE-CV29", "borrower": "Ironbark Energy", "borrower_type": "miner",
        "counterparty_rating": "AAA", "seniority": "senior_unsecured",
        "source_key": "iren_conv", "source": "IREN 3.50% convertible notes due 2029 ($500m)",
        "gpu_model": "B200", "gpu_count": 14_000, "delivery_date": D(2025, 3, 31),
        "gpu_unit_cost": 39_000, "commitment": 0.5e9,
        "origination_date": D(2024, 12, 10), "maturity_date": D(2029, 12, 15),
        "rate_type": "fixed", "fixed_rate": 0.035, "amortization": "bullet",
        "periods_per_year": 2, "contracted_share": 0.60, "contract_rate": 4.00,
        "contract_end_date": D(2028, 12, 31), "ig_contracts": True, "merchant_rent": 4.50,
        "utilization": 0.80, "pue": 1.20, "power_price": 0.04, "colocation_rate": 0,
        "other_opex": 1_000, "maintenance_capex": 600, "borrower_debt": 3e9,
        "equity_value": 9e9, "equity_vol": 1.05, "quoted_spread": 420,
    },
    {   # Core Scientific 3.00% converts due 2029, $400m; hosting under 12-year leases
        "facility_id": "CPD-CV29", "borrower": "Copperline Data", "borrower_type": "miner",
        "counterparty_rating": "BB-", "seniority": "senior_unsecured",
        "source_key": "cors_conv",
        "source": "Core Scientific 3.00% convertible notes due 2029 ($400m)",
        "gpu_model": "H100", "gpu_count": 17_000, "delivery_date": D(2024, 12, 31),
        "gpu_unit_cost": 27_000, "commitment": 0.4e9,
        "origination_date": D(2024, 9, 10), "maturity_date": D(2029, 9, 1),
        "rate_type": "fixed", "fixed_rate": 0.03, "amortization": "bullet",
        "periods_per_year": 2, "contracted_share": 0.90, "contract_rate": 2.50,
        "contract_end_date": D(2036, 12, 31), "ig_contracts": False, "merchant_rent": 2.42,
        "utilization": 0.80, "pue": 1.30, "power_price": 0.045, "colocation_rate": 0,
        "other_opex": 900, "maintenance_capex": 500, "borrower_debt": 1.2e9,
        "equity_value": 4.5e9, "equity_vol": 0.85, "quoted_spread": 400,
    },
    {   # Hut 8 River Bend: $3.25bn at Treasuries+213bp to 2042, 85% LTC, 15-year lease
        # from the first hall's commissioning in Q2 2027 (so to mid-2042)
        "facility_id": "HRB-BOND42", "borrower": "Harbour Eight River Bend (project SPV)",
        "counterparty_rating": "B", "backstop_rating": "AA+", "termination_payment_months": 12,
        "dsra_amount": 170e6, "seniority": "secured",
        "borrower_type": "other", "source_key": "hut8_rb",
        "source": "Hut 8 River Bend: $3.25bn at Treasuries+213bp to 2042, up to 85% "
                  "loan-to-cost, 15-year lease",
        "gpu_model": "GB200", "gpu_count": 91_000, "delivery_date": D(2026, 6, 30),
        "gpu_unit_cost": 42_000, "commitment": 3.25e9,
        "origination_date": D(2026, 1, 15), "maturity_date": D(2042, 1, 15),
        "rate_type": "fixed", "fixed_rate": 0.0633, "amortization": "annuity",
        "periods_per_year": 12, "interest_only_periods": 6, "contracted_share": 1.0,
        "contract_rate": 1.10, "contract_end_date": D(2042, 6, 30), "ig_contracts": True,
        "merchant_rent": 5.00, "utilization": 0.90, "pue": 1.20, "power_price": 0.045,
        "colocation_rate": 0, "other_opex": 600, "maintenance_capex": 300,
        "quoted_spread": 213,
    },
    {   # A Lambda-like GPU-backed facility priced at the wide end of later facilities
        "facility_id": "LKC-GPU29", "borrower": "Larkspur Cloud", "borrower_type": "neocloud",
        "counterparty_rating": "BBB", "termination_payment_months": 3, "seniority": "secured",
        "source_key": "cw_later",
        "source": "Later neocloud facilities: SOFR+2.25% to +4.5% against strong-counterparty "
                  "contracts (wide end)",
        "gpu_model": "H100", "gpu_count": 12_000, "delivery_date": D(2025, 2, 28),
        "gpu_unit_cost": 27_000, "commitment": 0.27e9, "drawn_amount": 0.25e9,
        "origination_date": D(2025, 3, 1), "maturity_date": D(2029, 3, 1),
        "rate_type": "floating", "spread": 0.045, "rate_floor": 0.0,
        "amortization": "annuity", "periods_per_year": 12, "contracted_share": 0.60,
        "contract_rate": 2.60, "contract_end_date": D(2027, 12, 31), "ig_contracts": False,
        "merchant_rent": 2.42, "utilization": 0.85, "pue": 1.40, "power_price": 0.085,
        "colocation_rate": 210, "other_opex": 1_400, "maintenance_capex": 600,
        "quoted_spread": 450,
    },
    {   # A Crusoe-like delayed-draw facility at the tight end, strong counterparty
        "facility_id": "CRA-DDTL30", "borrower": "Cinder Ridge AI", "borrower_type": "neocloud",
        "counterparty_rating": "A-", "termination_payment_months": 6, "seniority": "secured",
        "source_key": "cw_later",
        "source": "Later neocloud facilities: SOFR+2.25% to +4.5% against strong-counterparty "
                  "contracts (tight end), delayed draws",
        "gpu_model": "B200", "gpu_count": 30_000, "delivery_date": D(2025, 12, 31),
        "gpu_unit_cost": 40_000, "commitment": 1.0e9, "drawn_amount": 0.6e9,
        "origination_date": D(2025, 9, 30), "maturity_date": D(2030, 9, 30),
        "rate_type": "floating", "spread": 0.0225, "rate_floor": 0.0,
        "amortization": "straight_line", "periods_per_year": 4, "contracted_share": 0.95,
        "contract_rate": 4.10, "contract_end_date": D(2030, 12, 31), "ig_contracts": True,
        "merchant_rent": 4.50, "utilization": 0.90, "pue": 1.25, "power_price": 0.06,
        "colocation_rate": 150, "other_opex": 1_500, "maintenance_capex": 700,
        "quoted_spread": 225,
    },
    {   # A Nebius-like A100 fleet on a four-year life, merchant rents only
        "facility_id": "NLC-A100-27", "borrower": "Nordlys Cloud", "borrower_type": "neocloud",
        "seniority": "secured",
        "source_key": "lives",
        "source": "Nebius depreciates GPUs over 4 years; A100-SXM4 resale prices fall 28% a "
                  "year (SpotWire)",
        "gpu_model": "A100", "gpu_count": 8_000, "delivery_date": D(2023, 3, 31),
        "gpu_unit_cost": 15_000, "residual_curve": "declining_balance",
        "commitment": 0.1e9, "drawn_amount": 0.03e9,
        "origination_date": D(2023, 6, 30), "maturity_date": D(2027, 12, 31),
        "rate_type": "fixed", "fixed_rate": 0.105, "amortization": "annuity",
        "periods_per_year": 4, "merchant_rent": 1.10, "utilization": 0.70, "pue": 1.50,
        "power_price": 0.09, "colocation_rate": 220, "other_opex": 700,
        "maintenance_capex": 300, "quoted_spread": 650,
    },
)
"""The demo facilities: schema values plus ``source_key`` (a key of
:data:`gpucredit.excel.tape_template.PUBLIC_SOURCES`)."""


def demo_frame() -> pd.DataFrame:
    """The demo facilities as a frame in the schema's column order (blank: NaN/None).

    >>> df = demo_frame()
    >>> len(df) >= 12, sorted(df["borrower_type"].unique())
    (True, ['miner', 'neocloud', 'other'])
    >>> bool(((df["drawn_amount"].fillna(df["commitment"]))
    ...       <= df["gpu_count"] * df["gpu_unit_cost"]).all())
    True
    """
    names = [c.name for c in schema.COLUMNS]
    rows = [{k: v for k, v in f.items() if k != "source_key"} for f in DEMO_FACILITIES]
    return pd.DataFrame(rows).reindex(columns=names)


def _deal_rows() -> list[tuple]:
    facts = {key: (fact, source) for key, _, fact, source in PUBLIC_SOURCES}
    out = []
    for i, f in enumerate(DEMO_FACILITIES):
        fact, source = facts[f["source_key"]]
        out.append((f["facility_id"], f"Tape row {i + 2}: {f['borrower']} (illustrative)",
                    fact, source))
    return out


def build_demo_tape(path) -> Path:
    """Write the demo tape: the template filled with :data:`DEMO_FACILITIES`.

    Parameters
    ----------
    path : str or Path
        The ``.xlsx`` file to write (replaced if it exists; its folder must exist).

    Returns
    -------
    Path
        ``path``.

    Examples
    --------
    >>> import pathlib, tempfile, openpyxl
    >>> p = build_demo_tape(pathlib.Path(tempfile.mkdtemp()) / "demo.xlsx")
    >>> ws = openpyxl.load_workbook(p)["Tape"]
    >>> ws["A2"].value, ws["B2"].value
    ('NWC-DDTL1', 'Northwind Compute')
    """
    wb = tape_workbook(demo_frame(), assumptions=DEMO_ASSUMPTIONS, deal_rows=_deal_rows(),
                       market=bundled_market_rows())
    return save_workbook(wb, path)


def _main(argv: list[str] | None = None) -> int:
    """``python -m gpucredit.excel.demo_tape [FOLDER]``: regenerate the committed workbooks
    (the tape template, the demo tape and the deal model)."""
    import sys

    from gpucredit.excel.model_template import build_model_workbook
    from gpucredit.excel.tape_template import build_tape_template

    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0] if args else "workbooks")
    for p in (build_tape_template(folder / "loan_tape_template.xlsx"),
              build_demo_tape(folder / "demo_tape.xlsx"),
              build_model_workbook(folder / "deal_model.xlsx")):
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(_main())
