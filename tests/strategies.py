"""Shared hypothesis strategies for gpucredit's tests.

Import with ``from tests.strategies import ...`` (``python -m pytest`` from the repository
root puts the root on ``sys.path``). Add strategies here when more than one test module
needs them; keep each one small and named for what it draws.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

# ----------------------------------------------------------------------------- numbers

def fractions(low: float = 0.0, high: float = 1.0, *, exclude_high: bool = False):
    """Floats in [low, high] (or [low, high) with ``exclude_high``), no NaN or inf."""
    return st.floats(low, high, exclude_max=exclude_high, allow_nan=False,
                     allow_infinity=False)


def positive(low: float = 1e-3, high: float = 1e3):
    """Finite floats in [low, high], for sizes, rents, lives and the like."""
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


periods_per_year = st.sampled_from([1, 2, 4, 12])
"""The period frequencies gpucredit accepts."""


# ----------------------------------------------------------------------------- ages

def age_grids(*, max_age: float = 15.0, min_size: int = 2, max_size: int = 30):
    """Ascending 1-D float arrays of ages in years in [0, max_age] (repeats allowed)."""
    return hnp.arrays(
        float, st.integers(min_size, max_size),
        elements=st.floats(0.0, max_age, allow_nan=False, allow_infinity=False),
    ).map(np.sort)


def step_age_lists(*, max_age: float = 12.0, max_size: int = 4):
    """Lists of generation step ages in years, some possibly <= 0 (already passed)."""
    return st.lists(st.floats(-2.0, max_age, allow_nan=False, allow_infinity=False),
                    max_size=max_size)


# ----------------------------------------------------------------------------- curves

CURVE_PARAMS = {
    "straight_line": st.fixed_dictionaries(
        {"life": positive(0.25, 15.0), "salvage": fractions()}),
    "declining_balance": st.one_of(
        st.fixed_dictionaries({"rate": fractions(0.0, 0.99)}),
        st.fixed_dictionaries({"half_life": positive(0.1, 20.0)})),
    "exponential_floor": st.fixed_dictionaries(
        {"lam": fractions(0.0, 5.0), "floor": fractions()}),
    "logistic": st.fixed_dictionaries(
        {"hold_years": fractions(0.0, 8.0), "steepness": fractions(0.0, 20.0),
         "floor": fractions()}),
}
"""Valid parameters of each residual-value curve family, by family name."""


@st.composite
def curve_family_params(draw):
    """A ``(family, params)`` pair: a family name and valid parameters for it."""
    family = draw(st.sampled_from(sorted(CURVE_PARAMS)))
    return family, draw(CURVE_PARAMS[family])
