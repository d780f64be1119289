"""gpucredit.market: the book's shared market (what tests/test_montecarlo.py does not cover)."""

from __future__ import annotations

import numpy as np

from gpucredit import market


def test_ou_path_is_the_linear_filter_bit_for_bit():
    """The OU recursion loop gives exactly scipy.signal.lfilter's numbers (the filter it
    replaced), along the last axis and along a middle one."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(3)
    a, b = market._ou_coefficients(0.8, 0.35, 1 / 12)
    for shape, axis in (((64, 7, 120), -1), ((256, 180, 5), 1)):
        eps = rng.standard_normal(shape)
        assert np.array_equal(market.ou_path(eps, a, b, axis=axis),
                              lfilter([b], [1.0, -a], eps, axis=axis))
