"""Golden test: the demo's credit verdict, as a credit committee reads it, stays as reviewed.

FinancePy's golden-test style: ``make golden`` saves the demo run's key metrics to
``tests/golden/demo_metrics.csv`` (deliberately, after a reviewed model change); this test
recomputes them and diffs. A failure is a changed verdict: regenerate only after reading
what changed and why.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests.golden.regenerate import COLUMNS, GOLDEN, demo_metrics


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    return demo_metrics(tmp_path_factory.mktemp("golden"))


@pytest.fixture(scope="module")
def golden():
    return pd.read_csv(GOLDEN)


def test_golden_has_every_column(golden):
    assert list(golden.columns) == [c for c in COLUMNS if c in golden.columns]
    assert {"rating_bucket", "pd_annual", "fair_spread_bp", "rating_reason"} <= set(golden)


def test_same_facilities_in_the_same_order(fresh, golden):
    assert fresh["facility_id"].tolist() == golden["facility_id"].tolist()


def test_text_columns_unchanged(fresh, golden):
    for col in ("rating_bucket", "rating_reason"):
        assert fresh[col].fillna("").tolist() == golden[col].fillna("").tolist(), col


def test_numbers_unchanged(fresh, golden):
    for col in golden.columns:
        if not pd.api.types.is_numeric_dtype(golden[col]):
            continue
        a = pd.to_numeric(fresh[col], errors="coerce").to_numpy(float)
        b = golden[col].to_numpy(float)
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9, equal_nan=True, err_msg=col)
