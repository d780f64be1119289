"""Tests for gpucredit.residual_bands: bands hold the stated share of observations, a
known decline is recovered, ages and values by hand, collateral and LTV at the edges."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from gpucredit.errors import GpuCreditError
from gpucredit.residual_bands import (
    band_collateral,
    fit_bands,
    quantile_line,
    used_price_points,
)


def _points(seed, n=300, rate=0.3, sd=0.2, model="H100"):
    rng = np.random.default_rng(seed)
    age = rng.uniform(0.2, 5.0, n)
    value = 0.9 * (1 - rate) ** age * np.exp(rng.normal(0, sd, n))
    return pd.DataFrame({"gpu_model": model, "age": age, "value": value})


@pytest.mark.parametrize(("seed", "qs"), [(1, (0.1, 0.5, 0.9)), (2, (0.05, 0.95)),
                                         (3, (0.25, 0.75))])
def test_bands_hold_the_stated_share(seed, qs):
    pts = _points(seed)
    bands = fit_bands(pts, qs)
    lo = bands.value("H100", pts["age"].to_numpy(), qs[0])
    hi = bands.value("H100", pts["age"].to_numpy(), qs[-1])
    inside = ((pts["value"] >= lo - 1e-9) & (pts["value"] <= hi + 1e-9)).sum()
    # Koenker-Bassett: each edge is off its share by at most p = 2 points
    target = (qs[-1] - qs[0]) * len(pts)
    assert target - 2 <= inside <= target + 4
    below = (pts["value"] < lo - 1e-9).sum()
    assert below <= qs[0] * len(pts) <= below + 2 + (np.isclose(pts["value"], lo)).sum()


def test_recovers_a_known_decline():
    bands = fit_bands(_points(4, n=2000, rate=0.35), (0.1, 0.5, 0.9))
    assert bands.lines.loc[("H100", 0.5), "rate"] == pytest.approx(0.35, abs=0.02)
    # lognormal noise sd 0.2: the 10% edge sits exp(-1.2816 x 0.2) below the median
    ratio = bands.value("H100", 2.0, 0.1) / bands.value("H100", 2.0, 0.5)
    assert ratio == pytest.approx(np.exp(-1.2816 * 0.2), abs=0.03)


def test_quantile_line_matches_median_of_a_constant():
    a, b = quantile_line([0, 0, 0, 1, 1, 1], [1, 2, 9, 1, 2, 9], 0.5)
    assert (a, b) == pytest.approx((2.0, 0.0), abs=1e-9)


def test_models_without_enough_points_use_the_pool():
    pts = pd.concat([_points(5), _points(6, n=4, model="B200")])
    bands = fit_bands(pts)
    assert bands.models == ("H100", "all")
    assert bands.value("B200", 1.0, 0.5) == bands.value("all", 1.0, 0.5)


def test_used_price_points_by_hand():
    used = pd.DataFrame({"date": pd.to_datetime(["2025-03-22", "2024-03-22"]),
                         "gpu_model": ["H100", "X1"], "price": [24_000.0, 5_000.0]})
    pts = used_price_points(used, launch={"X1": (dt.date(2023, 3, 22), 10_000.0)})
    # H100 preset: launched 22 March 2022 at $30,000
    assert pts["age"].tolist() == pytest.approx([1096 / 365.25, 366 / 365.25])
    assert pts["value"].tolist() == pytest.approx([0.8, 0.5])


def test_unknown_model_and_sales_before_launch_refused():
    with pytest.raises(GpuCreditError, match="no launch date and price for X9"):
        used_price_points(pd.DataFrame({"date": [pd.Timestamp("2025-01-01")],
                                        "gpu_model": ["X9"], "price": [1.0]}))
    with pytest.raises(GpuCreditError, match="before the model's launch"):
        used_price_points(pd.DataFrame({"date": [pd.Timestamp("2021-01-01")],
                                        "gpu_model": ["H100"], "price": [1.0]}))


def test_too_few_or_rising_prices_refused():
    with pytest.raises(GpuCreditError, match="at least 8 used prices, got 3"):
        fit_bands(_points(7, n=3))
    rising = pd.DataFrame({"gpu_model": "H100", "age": np.arange(10.0),
                           "value": 0.1 * 1.2 ** np.arange(10.0)})
    with pytest.raises(GpuCreditError, match="rises with age"):
        fit_bands(rising)


def test_collateral_and_ltv_at_the_edges():
    bands = fit_bands(_points(8), (0.1, 0.5, 0.9))
    out = band_collateral(bands, "H100", [1.0, 2.0], cost=2e6, debt=[1e6, 8e5])
    for q in (0.1, 0.5, 0.9):
        v = 2e6 * bands.value("H100", np.array([1.0, 2.0]), q)
        np.testing.assert_allclose(out.loc[q, "value"], v)
        np.testing.assert_allclose(out.loc[q, "ltv"], np.array([1e6, 8e5]) / v)
    assert out.loc[0.1, "ltv"][0] > out.loc[0.9, "ltv"][0]
