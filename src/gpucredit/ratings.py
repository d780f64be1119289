"""Agency ratings as default probabilities: the S&P scale, its default term structures.

One table carries the whole module: S&P Global Ratings' global corporate average
cumulative default rates by rating category over horizons of 1 to 15 years
(:data:`SP_CUMULATIVE_DEFAULT_RATES`). From it:

* :func:`cumulative_default_probability` gives the cumulative default probability of an
  obligor rated, say, ``"AA-"`` at any horizon (a contract customer or a backstop in the
  Monte Carlo);
* :func:`rating_from_pd` maps a facility's annualised PD over its tenor to the notch
  whose historical default rate over the same horizon is nearest (on the log scale);
* :func:`notch_table` shows the whole scale at one horizon.

Notches (``+``/``-``) are our interpolation between rating categories: S&P publishes
cumulative rates by modifier too, but the letter-category table is the one reproduced
here; a ``+`` notch sits one third of the way (geometrically) from its category's rate
towards the better category's, a ``-`` notch one third towards the worse one's.

Conventions: probabilities are decimals; horizons are years (fractions allowed);
ratings are text on S&P's scale (``"AAA"`` .. ``"CCC/C"``; ``"CCC+"``, ``"CCC"``,
``"CCC-"``, ``"CC"`` and ``"C"`` all read as ``"CCC/C"``). Fitch's scale is the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import pandas as pd

from gpucredit._checks import check_range
from gpucredit.errors import GpuCreditError

__all__ = [
    "CATEGORIES",
    "NOTCHES",
    "SP_CUMULATIVE_DEFAULT_RATES",
    "annualised_pd",
    "cumulative_default_probability",
    "notch_table",
    "parse_rating",
    "rating_from_pd",
]

SP_CUMULATIVE_DEFAULT_RATES: Mapping[str, tuple[float, ...]] = MappingProxyType({
    # Years:   1       2       3       4       5       6       7       8       9      10
    #         11      12      13      14      15        (percent)
    "AAA": (0.00, 0.03, 0.13, 0.24, 0.35, 0.46, 0.52, 0.60, 0.66, 0.72,
            0.75, 0.78, 0.81, 0.85, 0.88),
    "AA": (0.02, 0.05, 0.10, 0.18, 0.27, 0.36, 0.45, 0.52, 0.59, 0.66,
           0.72, 0.77, 0.81, 0.86, 0.90),
    "A": (0.05, 0.13, 0.21, 0.32, 0.44, 0.57, 0.73, 0.86, 0.99, 1.13,
          1.25, 1.36, 1.47, 1.57, 1.68),
    "BBB": (0.15, 0.41, 0.70, 1.06, 1.42, 1.78, 2.09, 2.40, 2.70, 3.00,
            3.27, 3.51, 3.74, 3.98, 4.22),
    "BB": (0.60, 1.86, 3.34, 4.79, 6.10, 7.30, 8.31, 9.22, 10.00, 10.69,
           11.32, 11.84, 12.31, 12.70, 13.08),
    "B": (3.20, 7.33, 10.57, 13.02, 14.86, 16.31, 17.45, 18.40, 19.21, 19.93,
          20.55, 21.06, 21.51, 21.96, 22.39),
    "CCC/C": (26.55, 36.47, 41.54, 44.26, 45.98, 47.15, 48.08, 48.77, 49.53, 50.10,
              50.56, 50.94, 51.39, 51.78, 52.24),
})
"""Global corporate average cumulative default rates by rating category, percent.

S&P Global Ratings, "Default, Transition, and Recovery: 2023 Annual Global Corporate
Default And Rating Transition Study" (28 March 2024), the table of global corporate
average cumulative default rates by rating category, 1981-2023, horizons of 1 to 15
years, issuer-weighted static-pool averages. Transcribed as printed (percent, two
decimals). The one-year figures agree to within a few hundredths of a percent with the
2024 study's one-year rates used by :data:`gpucredit.pricing.SP_GLOBAL_ONE_YEAR_DEFAULT_RATES`.
AAA's 0.00% at one year means no AAA issuer defaulted within a year in the sample, not
that the risk is zero.
"""

CATEGORIES: tuple[str, ...] = tuple(SP_CUMULATIVE_DEFAULT_RATES)
"""Rating categories, best first."""

NOTCHES: tuple[str, ...] = (
    "AAA", "AA+", "AA", "AA-", "A+", "A", "A-", "BBB+", "BBB", "BBB-",
    "BB+", "BB", "BB-", "B+", "B", "B-", "CCC/C",
)
"""The notched scale, best first (CCC and below are one bucket, as in S&P's tables)."""

_ZERO_RATE = 0.00005
"""Stand-in for a printed 0.00% when interpolating on the log scale: half the last
printed digit (0.005%), the most a rate printed as 0.00% can be."""

_ALIASES = {"CCC+": "CCC/C", "CCC": "CCC/C", "CCC-": "CCC/C", "CC": "CCC/C", "C": "CCC/C",
            "CCC/C": "CCC/C", "AAA": "AAA"}


def parse_rating(text) -> str | None:
    """Canonical notch of a rating text, or None for a blank.

    >>> parse_rating(" aa- "), parse_rating("CCC+"), parse_rating("")
    ('AA-', 'CCC/C', None)
    >>> parse_rating("AAA-")
    Traceback (most recent call last):
    ...
    gpucredit.errors.GpuCreditError: rating must be on S&P's scale (AAA, AA+, AA, AA- ... \
B-, CCC/C), got 'AAA-'
    """
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return None
    key = str(text).strip().upper()
    if not key:
        return None
    if key in _ALIASES:
        return _ALIASES[key]
    if key in NOTCHES:
        return key
    raise GpuCreditError(
        f"rating must be on S&P's scale (AAA, AA+, AA, AA- ... B-, CCC/C), got {text!r}",
        argument="rating", value=text)


def _category_curves() -> np.ndarray:
    """(7, 16) cumulative default probabilities at years 0..15, as decimals."""
    rates = np.array(list(SP_CUMULATIVE_DEFAULT_RATES.values()), dtype=float) / 100.0
    return np.concatenate([np.zeros((rates.shape[0], 1)), rates], axis=1)


def _notch_curves() -> np.ndarray:
    """(17, 16) cumulative default probabilities of every notch at years 0..15.

    A notch's curve is interpolated geometrically between its category and the adjacent
    one, year by year: ``p(+) = p_c^(2/3) p_better^(1/3)``, ``p(-) = p_c^(2/3)
    p_worse^(1/3)`` (printed zeros floored at :data:`_ZERO_RATE`).
    """
    cat = np.maximum(_category_curves(), _ZERO_RATE)
    cat[:, 0] = 0.0
    out = []
    for name in NOTCHES:
        base = name.rstrip("+-")
        i = CATEGORIES.index(base if base in CATEGORIES else "CCC/C")
        if name.endswith("+"):
            out.append(cat[i] ** (2 / 3) * cat[i - 1] ** (1 / 3))
        elif name.endswith("-"):
            out.append(cat[i] ** (2 / 3) * cat[i + 1] ** (1 / 3))
        else:
            out.append(_category_curves()[i])
    return np.array(out)


_CURVES = _notch_curves()


def _at_years(curves: np.ndarray, years: np.ndarray) -> np.ndarray:
    """Cumulative PD at (fractional) ``years`` for each row of ``curves`` (years 0..15).

    Log-survival is interpolated linearly between whole years (a constant hazard within
    each year); beyond 15 years the hazard of years 11 to 15 continues.
    """
    log_s = np.log1p(-np.minimum(curves, 1 - 1e-12))
    grid = np.arange(curves.shape[1], dtype=float)
    last = grid[-1]
    tail_hazard = (log_s[:, -6] - log_s[:, -1]) / 5.0
    inside = np.minimum(years, last)
    out = np.empty((curves.shape[0], years.size))
    for k in range(curves.shape[0]):
        out[k] = np.interp(inside, grid, log_s[k])
    out -= tail_hazard[:, None] * np.maximum(years - last, 0.0)[None, :]
    return -np.expm1(out)


def cumulative_default_probability(ratings, years) -> np.ndarray:
    """Cumulative default probability of obligors with the given ratings at horizons.

    Parameters
    ----------
    ratings : str or sequence of str
        Ratings on S&P's scale (:func:`parse_rating`); a blank (None, "", NaN) means no
        obligor and gives zeros.
    years : float or array_like
        Horizons in years, >= 0.

    Returns
    -------
    ndarray, shape (F, Y)
        ``P(default by year y)``: one row per rating (F = 1 for a single str), one column
        per horizon.

    Notes
    -----
    Between whole years the survival probability is interpolated log-linearly (constant
    hazard within a year); beyond 15 years the average hazard of years 11-15 continues:
    :math:`S(t) = S(15) e^{-h (t - 15)}`, :math:`h = \\ln(S(10)/S(15))/5`.
    Source: :data:`SP_CUMULATIVE_DEFAULT_RATES`; notches interpolated (module notes).

    Examples
    --------
    >>> cumulative_default_probability("BBB", [1, 5, 10]).round(4)
    array([[0.0015, 0.0142, 0.03  ]])
    >>> cumulative_default_probability(["AA-", None], 2.5).round(5)
    array([[0.00098],
           [0.     ]])
    """
    names = [ratings] if isinstance(ratings, str) or ratings is None else list(ratings)
    yrs = np.atleast_1d(check_range(years, "years", 0)).astype(float)
    parsed = [parse_rating(r) for r in names]
    rows = np.array([NOTCHES.index(p) if p else -1 for p in parsed], dtype=int)
    table = _at_years(_CURVES, yrs)
    out = np.where(rows[:, None] >= 0, table[np.maximum(rows, 0)], 0.0)
    return out


def annualised_pd(pd_horizon, years):
    """The constant annual PD that compounds to ``pd_horizon`` over ``years``.

    .. math:: p_a = 1 - (1 - PD_T)^{1/T}

    >>> round(float(annualised_pd(0.0975, 2.0)), 4)
    0.05
    """
    p = np.asarray(check_range(pd_horizon, "pd_horizon", 0, 1), dtype=float)
    t = np.asarray(check_range(years, "years", 0, low_open=True), dtype=float)
    out = -np.expm1(np.log1p(-np.minimum(p, 1.0 - 1e-15)) / t)
    out = np.where(p >= 1.0, 1.0, out)
    return float(out) if out.ndim == 0 else out


def _scale_at(years: np.ndarray) -> np.ndarray:
    """(F, 17) annualised default rate of every notch at each facility's horizon.

    Where the sample has a better rating default more often than a worse one (AAA above
    AA at 3 to 6 years: few AAA issuers), the better notch takes the worse one's rate
    (a running minimum up the scale), so that the scale is monotone.
    """
    horizon = np.maximum(years, 1.0)
    cum = _at_years(_CURVES, np.unique(horizon))
    cum = np.minimum.accumulate(cum[::-1], axis=0)[::-1]
    cum = cum[:, np.searchsorted(np.unique(horizon), horizon)]
    return -np.expm1(np.log1p(-cum.T) / horizon[:, None])


def rating_from_pd(pd_annual, years=1.0):
    """The notch whose historical default rate over the same horizon matches a PD.

    Parameters
    ----------
    pd_annual : float or array_like
        Annualised probability of default (:func:`annualised_pd` of the tenor PD), in
        [0, 1]; NaN gives None.
    years : float or array_like, default 1
        The horizon (the facility's tenor in years); horizons under a year use one year.

    Returns
    -------
    str or ndarray of object
        A notch of :data:`NOTCHES` for each PD.

    Notes
    -----
    Each notch's annualised cumulative default rate at horizon T,
    :math:`a_k = 1 - (1 - CDR_k(T))^{1/T}`, is compared on the log scale: the PD gets
    notch k when :math:`\\sqrt{a_{k-1} a_k} \\le p < \\sqrt{a_k a_{k+1}}` (geometric
    midpoints; a zero rate floored at 0.005%). Matching the horizon matters: the
    historical cumulative rates of investment-grade issuers grow faster than linearly
    with the horizon, those of speculative-grade issuers slower.

    Examples
    --------
    >>> rating_from_pd(0.0015, 1.0), rating_from_pd(0.30, 1.0)
    ('BBB', 'CCC/C')
    >>> rating_from_pd([0.001, 0.03, float("nan")], 5.0).tolist()
    ['A', 'B', None]
    """
    p = np.atleast_1d(np.asarray(pd_annual, dtype=float))
    missing = np.isnan(p)
    p = check_range(np.where(missing, 0.0, p), "pd_annual", 0, 1)
    yrs = np.broadcast_to(np.atleast_1d(check_range(years, "years", 0)), p.shape).astype(float)
    rates = np.maximum(_scale_at(yrs.ravel()), _ZERO_RATE)
    edges = np.sqrt(rates[:, :-1] * rates[:, 1:])
    idx = (p.ravel()[:, None] >= edges).sum(axis=1)
    labels = np.array([*NOTCHES, None], dtype=object)
    out = labels[np.where(missing.ravel(), len(NOTCHES), idx)].reshape(p.shape)
    return out[0] if np.ndim(pd_annual) == 0 else out


def notch_table(years: float = 1.0) -> pd.DataFrame:
    """The rating scale at one horizon: each notch's cumulative and annualised default
    rate, as :func:`rating_from_pd` compares them (monotone down the scale).

    >>> notch_table(5.0).loc[["BBB", "BB"], "Cumulative PD"].round(4).tolist()
    [0.0142, 0.061]
    """
    yrs = float(check_range(years, "years", 0, low_open=True))
    annual = _scale_at(np.array([yrs]))[0]
    horizon = max(yrs, 1.0)
    return pd.DataFrame({"Cumulative PD": -np.expm1(np.log1p(-annual) * horizon),
                         "Annualised PD": annual},
                        index=pd.Index(NOTCHES, name="Rating"))

