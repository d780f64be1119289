"""The credit verdict: PD, its bound, the rating and why, the fair spread, the mispricing.

The Monte Carlo (:mod:`gpucredit.montecarlo`) says on how many paths a facility defaults,
when, and through which door (a payment it cannot make, a balloon it cannot refinance,
a customer whose default takes the contracted revenue with it), what each default
loses, and how much is outstanding while the facility lives. This module turns those
counts into what a credit committee reads:

* :func:`pd_upper_bound`: a PD estimated from a finite number of paths, with its
  one-sided 95% Clopper-Pearson bound, so that no default in N paths never reads as a
  bare 0%;
* :func:`fair_spread`: the spread whose present value over the expected outstanding
  balance equals the present value of expected losses (the risky annuity);
* :func:`spread_implied_pd`: the PD that the quoted spread prices, the reduced-form view
  beside the model's and Merton's;
* :func:`verdict`: all of it per facility, with the notch from
  :func:`gpucredit.ratings.rating_from_pd` and a one-line reason for it.

Every figure here is a decimal (0.05 = 5%) but the spreads in basis points that
:func:`verdict` reports for the tables.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import special

from gpucredit import ratings
from gpucredit._checks import check_range
from gpucredit.errors import GpuCreditError

__all__ = [
    "CHANNELS",
    "fair_spread",
    "pd_text",
    "pd_upper_bound",
    "reason",
    "spread_implied_pd",
    "verdict",
]

MIN_DEFAULTS = 10
"""Fewer defaulted paths than this and the PD is too noisy to rate on: the rating rests on
the PD's 95% upper bound instead (a Poisson count of 10 has a relative error of about 30%)."""

NEARLY_CERTAIN = 0.95
"""A tenor PD at or above this has no meaningful fair spread: the loss, not a spread, is the
measure (the risky annuity shrinks to the few periods before an almost certain default)."""

STANDARD_RECOVERY = {"secured": 0.70, "senior_unsecured": 0.40, "subordinated": 0.20}
"""Recovery conventions the market quotes spreads with, by seniority: 40% senior unsecured
and 20% subordinated (ISDA standard CDS contracts), 70% first-lien secured loans (ISDA
loan-only CDS). The spread-implied PD uses them, so that it is the market's reading of
the quoted spread, independent of the model's LGD."""

CHANNELS = {"payment": "pd_payment", "refinancing": "pd_refinancing",
            "customer": "pd_customer_driven"}
"""The doors to default the Monte Carlo tells apart, and the column holding each one's
share of paths (see :func:`verdict`)."""


def pd_upper_bound(n_defaults, n_paths, confidence: float = 0.95):
    """One-sided upper confidence bound of a PD estimated as defaults / paths.

    Parameters
    ----------
    n_defaults : int or array_like
        Paths that defaulted, 0 <= k <= n.
    n_paths : int or array_like
        Paths simulated, n >= 1.
    confidence : float, default 0.95
        One-sided confidence level, in (0, 1).

    Returns
    -------
    float or ndarray
        The Clopper-Pearson bound :math:`p_u` with :math:`P(X \\le k \\mid p_u) = 1 -
        \\text{confidence}`, i.e. the ``confidence`` quantile of Beta(k + 1, n - k); 1
        when every path defaults.

    Notes
    -----
    With no default, :math:`p_u = 1 - (1 - c)^{1/n}`, close to the "rule of three"
    :math:`3/n` at 95%. C. J. Clopper and E. S. Pearson, "The use of confidence or
    fiducial limits illustrated in the case of the binomial", *Biometrika* 26(4), 1934.

    Examples
    --------
    >>> round(pd_upper_bound(0, 2000), 6)            # 1 - 0.05 ** (1 / 2000)
    0.001497
    >>> round(pd_upper_bound(10, 1000), 4)
    0.0169
    """
    k = np.asarray(check_range(n_defaults, "n_defaults", 0), dtype=float)
    n = np.asarray(check_range(n_paths, "n_paths", 1), dtype=float)
    c = float(check_range(confidence, "confidence", 0, 1, low_open=True, high_open=True))
    if np.any(k > n):
        raise GpuCreditError("n_defaults cannot exceed n_paths", argument="n_defaults",
                             value=float(np.max(k)))
    out = np.where(k >= n, 1.0, special.betaincinv(k + 1, np.maximum(n - k, 1e-300), c))
    return float(out) if out.ndim == 0 else out


def fair_spread(pv_expected_loss, risky_annuity):
    """The spread that pays for expected loss over the expected life of the exposure.

    Parameters
    ----------
    pv_expected_loss : float or array_like
        Present value today of the expected loss, USD: the mean over paths of each
        default's loss discounted from its date, >= 0.
    risky_annuity : float or array_like
        :math:`\\sum_t DF_t \\, E[B_t 1\\{\\tau > t\\}] \\, \\Delta t`, USD-years: the
        discounted expected outstanding balance while the facility has not defaulted,
        > 0.

    Returns
    -------
    float or ndarray
        The fair spread s per year; NaN where the risky annuity is zero.

    Notes
    -----
    A lender paid a spread s on the balance outstanding receives, in present value,
    :math:`s \\times \\text{risky annuity}`; it breaks even on credit when that equals
    the present value of expected losses:

    .. math:: s = \\frac{PV(EL)}{\\sum_t DF_t\\,E[B_t 1\\{\\tau > t\\}]\\,\\Delta t}

    the premium-leg / protection-leg balance of a credit default swap (J. Hull and A.
    White, "Valuing credit default swaps I: no counterparty default risk", *Journal of
    Derivatives* 8(1), 2000), here on an amortising balance. Unlike PD x LGD per year
    it weighs a late default on a small balance by that balance: with the real-world PD
    of the Monte Carlo it is the actuarial break-even spread, which market spreads
    exceed by the risk and liquidity premia.

    Examples
    --------
    >>> fair_spread(1_500_000.0, 300e6)                # 1.5m of PV loss over 300m-years
    0.005
    """
    el = np.asarray(check_range(pv_expected_loss, "pv_expected_loss", 0), dtype=float)
    ann = np.asarray(check_range(risky_annuity, "risky_annuity", 0), dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(ann > 0, el / np.where(ann > 0, ann, 1.0), np.nan)
    return float(out) if out.ndim == 0 else out


def spread_implied_pd(spread, lgd, years=1.0):
    """The PD over ``years`` that a credit spread prices at a given LGD.

    .. math:: h = s / LGD, \\qquad PD_T = 1 - e^{-h T}

    (the credit triangle, :func:`gpucredit.pricing.hazard_rate`). A risk-neutral PD: it
    carries the risk premium, so it sits above a real-world PD.

    >>> round(spread_implied_pd(0.03, 0.6), 4)
    0.0488
    """
    s = np.asarray(check_range(spread, "spread", 0), dtype=float)
    loss = np.asarray(check_range(lgd, "lgd", 0, 1, low_open=True), dtype=float)
    t = np.asarray(check_range(years, "years", 0), dtype=float)
    out = -np.expm1(-(s / loss) * t)
    return float(out) if out.ndim == 0 else out


def _pct(x: float) -> str:
    if not np.isfinite(x):
        return "n/a"
    return f"{x:.0%}" if abs(x) >= 0.1 else f"{x:.1%}"


def pd_text(x: float) -> str:
    """An annual PD as the verdict words it: two decimals of a percent, three below 0.01%.

    >>> pd_text(0.0009), pd_text(0.00004)
    ('0.09%', '0.004%')
    """
    return f"{x:.2%}" if x >= 0.0001 else f"{x:.3%}"


def reason(row: Mapping) -> str:
    """One line that says why a facility got its rating, from its verdict row (a Series
    or a dict).

    The dominant door to default names the reason; a facility that never defaults says
    so, with the bound its rating rests on. The fields read are those :func:`verdict`
    writes, plus, when present, ``min_dscr``, ``first_breach_default_date``,
    ``refinancing_ltv_market``, ``maturity_date``, ``counterparty_rating`` and
    ``seniority``.

    >>> reason(pd.Series({"n_defaults": 0, "n_paths": 2000, "pd_annual_bound": 0.0004,
    ...                   "min_dscr": 1.9}))
    'no default in 2,000 paths: PD < 0.04%/yr at 95%; min DSCR 1.90x'
    """
    n, k = int(row.get("n_paths", 0)), int(row.get("n_defaults", 0))
    dscr = row.get("min_dscr", np.nan)
    dscr_txt = f"min DSCR {dscr:.2f}x" if np.isfinite(dscr) else "no scheduled debt service"
    if k < MIN_DEFAULTS:
        seen = "no default" if k == 0 else f"{k} default{'s' if k > 1 else ''}"
        return (f"{seen} in {n:,} paths: PD < {pd_text(row['pd_annual_bound'])}/yr at "
                f"95%; {dscr_txt}")
    shares = {c: float(row.get(col, 0.0) or 0.0) for c, col in CHANNELS.items()}
    channel = max(shares, key=shares.get)
    share = shares[channel]
    if channel == "refinancing":
        ltv = row.get("refinancing_ltv_market", np.nan)
        when = row.get("maturity_date", "")
        ltv_txt = f"base-case LTV {_pct(ltv)}" if np.isfinite(ltv) else "collateral short"
        text = f"refinancing: balloon not refinanced in {_pct(share)} of paths ({ltv_txt}"
        text += f" at {when})" if when else ")"
    elif channel == "customer":
        cp = row.get("counterparty_rating") or "unrated"
        text = (f"customer: {cp} contract customer's default leaves debt service unpaid in "
                f"{_pct(share)} of paths")
    else:
        when = row.get("first_breach_default_date", "")
        text = f"payment: CFADS and reserves short of debt service in {_pct(share)} of paths"
        text += f"; base case breaches from {when}" if when else f"; {dscr_txt}"
    if str(row.get("seniority", "secured")) not in ("secured", "", "nan"):
        text += f"; unsecured, LGD {_pct(row.get('lgd', np.nan))}"
    return text


_REASON_FIELDS = ("n_paths", "n_defaults", "min_dscr", "pd_annual_bound", *CHANNELS.values(),
                  "refinancing_ltv_market", "maturity_date", "counterparty_rating",
                  "first_breach_default_date", "seniority", "lgd")
"""Every field :func:`reason` reads."""

WEAK_LINK_SHARE = 0.5
"""Contracted share of revenue from which a facility's rating is capped at its contract
support's: the better of the customer's and the backstop's rating (the weak-link
approach of S&P's project finance methodology: a project that depends on a counterparty
is rated no higher than that counterparty)."""


def _weak_link(context: pd.DataFrame | None, idx) -> tuple[list, list]:
    """Each facility's rating cap and whose it is (None where no cap applies)."""
    if context is None or "contracted_share" not in context:
        return [None] * len(idx), [None] * len(idx)
    ctx = context.reindex(idx)
    share = pd.to_numeric(ctx["contracted_share"], errors="coerce").to_numpy(dtype=float)
    ratings_of = ctx[[c for c in ("counterparty_rating", "backstop_rating") if c in ctx]]
    caps, whos = [], []
    for r, supported in zip(ratings_of.to_dict("records"), share >= WEAK_LINK_SHARE,
                            strict=True):
        if not supported:
            caps.append(None)
            whos.append(None)
            continue
        found = [(ratings.parse_rating(r.get(col)), who) for col, who in
                 (("counterparty_rating", "customer"), ("backstop_rating", "backstop"))
                 if isinstance(r.get(col), str) and r.get(col).strip()]
        if not found:
            caps.append(None)
            whos.append(None)
            continue
        best = min(found, key=lambda f: ratings.NOTCHES.index(f[0]))
        caps.append(best[0])
        whos.append(best[1])
    return caps, whos


def verdict(mc: pd.DataFrame, tenor_years, quoted_spread_bp=None, merton_pd=None,
            context: pd.DataFrame | None = None, *, confidence: float = 0.95
            ) -> pd.DataFrame:
    """Per facility: PD over the tenor and a year, its bound, rating, spreads and reason.

    Parameters
    ----------
    mc : DataFrame
        The Monte Carlo's facility table (index ``facility_id``) with ``pd``,
        ``n_defaults``, ``n_paths``, ``pv_expected_loss``, ``risky_annuity``, ``lgd`` and,
        when the model separates them, ``pd_payment``, ``pd_refinancing``,
        ``pd_customer_driven``, ``pv_el_se``.
    tenor_years : array_like
        Each facility's remaining tenor in years (> 0), in ``mc``'s order.
    quoted_spread_bp : array_like, optional
        The spread the facility pays, in basis points (NaN where none is quoted).
    merton_pd : array_like, optional
        Merton's one-year PD from the borrower's equity (NaN where not available).
    context : DataFrame, optional
        Deterministic metrics for the reasons (see :func:`reason`), same index.
    confidence : float, default 0.95
        Confidence of the PD bound.

    Returns
    -------
    DataFrame
        ``pd_tenor``, ``pd_annual`` (the constant annual PD compounding to ``pd_tenor``),
        ``pd_annual_se``, ``pd_annual_bound`` (from the Clopper-Pearson bound of the
        tenor PD), ``rating`` (the notch of ``pd_annual`` at the tenor, or of the bound
        when fewer than :data:`MIN_DEFAULTS` paths default; never better than the
        contract support's rating, :data:`WEAK_LINK_SHARE`), ``rating_bucket`` (the
        same, written "A- or better", or "AAA (upper bound)", when it rests on the
        bound), ``rating_reason``,
        ``fair_spread_bp`` and its standard error ``fair_spread_se_bp`` (blank, with
        ``fair_spread_note`` saying why, when the tenor PD reaches
        :data:`NEARLY_CERTAIN`),
        ``quoted_spread_bp``, ``mispricing_bp`` (quoted - fair), ``spread_implied_pd``
        (annual, at the market's recovery convention for the facility's seniority,
        :data:`STANDARD_RECOVERY`), ``merton_pd``.

    Notes
    -----
    :math:`PD_a = 1 - (1 - PD_T)^{1/T}`; its standard error by the delta method,
    :math:`se(PD_a) = se(PD_T) (1 - PD_T)^{1/T - 1} / T`. The rating compares
    :math:`PD_a` with each notch's annualised historical default rate over the same
    horizon (:func:`gpucredit.ratings.rating_from_pd`). Fair spread:
    :func:`fair_spread`; its standard error is that of PV(EL) over the risky annuity.

    Examples
    --------
    >>> mc = pd.DataFrame({"pd": [0.0, 0.2], "n_defaults": [0, 400],
    ...                    "n_paths": [2000, 2000], "pv_expected_loss": [0.0, 6e6],
    ...                    "risky_annuity": [400e6, 300e6], "lgd": [float("nan"), 0.4]},
    ...                   index=pd.Index(["A", "B"], name="facility_id"))
    >>> v = verdict(mc, [5.0, 5.0], quoted_spread_bp=[250.0, 400.0])
    >>> v[["rating_bucket", "fair_spread_bp", "mispricing_bp"]]
                      rating_bucket  fair_spread_bp  mispricing_bp
    facility_id
    A            AAA (upper bound)             0.0          250.0
    B                           B-           200.0          200.0
    """
    idx = mc.index
    n = np.asarray(mc["n_paths"], dtype=float)
    k = np.asarray(mc["n_defaults"], dtype=float)
    years = np.broadcast_to(np.asarray(check_range(tenor_years, "tenor_years", 0,
                                                   low_open=True), dtype=float), k.shape)
    pd_t = k / n
    pd_a = np.asarray(ratings.annualised_pd(pd_t, years), dtype=float)
    se_t = np.sqrt(pd_t * (1 - pd_t) / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        se_a = np.where(pd_t < 1, se_t * (1 - pd_t) ** (1 / years - 1) / years, np.nan)
    bound = np.asarray(ratings.annualised_pd(pd_upper_bound(k, n, confidence), years))
    on_bound = k < MIN_DEFAULTS
    notch = np.asarray(ratings.rating_from_pd(np.where(on_bound, bound, pd_a), years),
                       dtype=object)
    bound_txt = np.where(notch == "AAA", " (upper bound)", " or better")
    bucket = np.where(on_bound, np.char.add(notch.astype(str), bound_txt), notch)
    fair = np.asarray(fair_spread(mc["pv_expected_loss"], mc["risky_annuity"]), dtype=float)
    ann = np.asarray(mc["risky_annuity"], dtype=float)
    fair_se = (np.asarray(mc["pv_el_se"], dtype=float) / np.where(ann > 0, ann, np.nan)
               if "pv_el_se" in mc else np.full(len(idx), np.nan))
    quoted = (np.full(len(idx), np.nan) if quoted_spread_bp is None
              else np.asarray(quoted_spread_bp, dtype=float))
    seniority = (context["seniority"].reindex(idx).fillna("secured").astype(str)
                 if context is not None and "seniority" in context
                 else pd.Series("secured", index=idx))
    market_lgd = 1.0 - seniority.map(STANDARD_RECOVERY).fillna(STANDARD_RECOVERY["secured"])
    implied = np.full(len(idx), np.nan)
    has_q = np.isfinite(quoted)
    implied[has_q] = spread_implied_pd(quoted[has_q] / 1e4, market_lgd.to_numpy()[has_q])
    certain = pd_t >= NEARLY_CERTAIN
    fair = np.where(certain, np.nan, fair)
    fair_se = np.where(certain, np.nan, fair_se)
    out = pd.DataFrame({
        "pd_tenor": pd_t, "pd_annual": pd_a, "pd_annual_se": se_a,
        "pd_annual_bound": bound, "rating": notch, "rating_bucket": bucket,
        "fair_spread_bp": fair * 1e4, "fair_spread_se_bp": fair_se * 1e4,
        "fair_spread_note": np.where(certain, f"none: defaults in {NEARLY_CERTAIN:.0%}+ of "
                                              "paths", ""),
        "quoted_spread_bp": quoted, "mispricing_bp": quoted - fair * 1e4,
        "spread_implied_pd": implied,
        "merton_pd": (np.full(len(idx), np.nan) if merton_pd is None
                      else np.asarray(merton_pd, dtype=float)),
    }, index=idx)
    cap, who = _weak_link(context, idx)
    capped = np.array([c is not None and ratings.NOTCHES.index(r) < ratings.NOTCHES.index(c)
                       for r, c in zip(notch, cap, strict=True)])
    out["rating"] = np.where(capped, cap, notch)
    out["rating_bucket"] = np.where(capped, [f"{c} (capped: {w})" for c, w in
                                             zip(cap, who, strict=True)], bucket)
    rows = out.join(mc.drop(columns=[c for c in out if c in mc]), how="left")
    if context is not None:
        rows = rows.join(context.drop(columns=[c for c in rows if c in context]), how="left")
    read = [c for c in _REASON_FIELDS if c in rows]  # dicts of what reason() reads: fast rows
    reasons = [reason(r) for r in rows[read].to_dict("records")]
    reasons = [f"{t}; capped at the {w}'s {c}" if k else t
               for t, k, c, w in zip(reasons, capped, cap, who, strict=True)]
    out.insert(out.columns.get_loc("rating_bucket") + 1, "rating_reason", reasons)
    return out
