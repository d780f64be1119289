"""Calendar arithmetic: the vectorised month steps against the scalar ones, and the engine's
period counts against a count taken one period at a time."""

import datetime as dt

import numpy as np
import pytest

from gpucredit.periods import add_months, add_months_days, periods_between

_RNG = np.random.default_rng(20261207)
DAYS = sorted({dt.date(2020, 1, 1) + dt.timedelta(int(d)) for d in _RNG.integers(0, 4000, 400)}
              | {dt.date(y, m, 1) - dt.timedelta(1) for y in (2024, 2025) for m in range(1, 13)}
              | {dt.date(2024, 2, 29), dt.date(2028, 2, 29)})


@pytest.mark.parametrize("months", [0, 1, 3, 6, 12, 13, 25, -1, -14])
def test_add_months_days_is_add_months_on_every_day(months):
    got = add_months_days(np.array(DAYS, dtype="datetime64[D]"), months)
    assert [d.item() for d in got] == [add_months(d, months) for d in DAYS]


def _one_period_at_a_time(start, end, m, whole):
    step, n = 12 // m, 0
    if whole:  # periods fully ended by ``end``
        while add_months(start, (n + 1) * step) <= end:
            n += 1
        return n
    while add_months(start, n * step) < end:  # periods until one ends on or after ``end``
        n += 1
    return n


@pytest.mark.parametrize("m", [1, 2, 4, 12])
@pytest.mark.parametrize("whole", [True, False])
def test_periods_between_counts_the_periods(m, whole):
    pairs = [(DAYS[i], DAYS[j]) for i, j in _RNG.integers(0, len(DAYS), (300, 2)) if i <= j]
    pairs += [(dt.date(2026, 1, 31), dt.date(2026, 2, 28)), (dt.date(2024, 2, 29),
                                                             dt.date(2025, 2, 28))]
    assert [periods_between(s, e, m, whole=whole) for s, e in pairs] == \
        [_one_period_at_a_time(s, e, m, whole) for s, e in pairs]
