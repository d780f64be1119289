"""The book's loss distribution: expected loss, VaR, expected shortfall and who drives it.

Every facility of a run reads the same simulated market (:mod:`gpucredit.market`), so on
each path the book loses the sum of its facilities' discounted losses
(:func:`gpucredit.montecarlo.simulate` with ``return_losses=True``). A chunk of the tape
reduces its facilities to :class:`LossVectors` - the book's per-path loss, one vector
(one number a path) per group (borrower, customer, GPU generation, borrower type) and,
when asked, each facility's losses for its contribution - and chunks combine by summing
(:func:`combine`), in any order, on any worker.

:func:`measures` gives EL, VaR and ES at 95%, 99% and 99.9% with standard errors;
:func:`contributions` each facility's (or group's) Euler contribution to ES, which sum
to the book's ES; :func:`concentration` the groups' shares; :func:`histogram` the
distribution as a table for a chart.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gpucredit.errors import GpuCreditError

__all__ = ["DIMENSIONS", "LEVELS", "LossVectors", "combine", "concentration",
           "contributions", "from_facilities", "histogram", "measures", "own_figures",
           "summary", "tail_weights"]

LEVELS = (0.95, 0.99, 0.999)
"""Confidence levels of VaR and ES: 99.9% is the Basel IRB level (BCBS, "International
Convergence of Capital Measurement", June 2006, para. 272), 95% and 99% the usual
internal ones."""

DIMENSIONS = ("borrower", "customer", "generation", "borrower_type")
"""Groups the book's loss is broken down by."""


@dataclass
class LossVectors:
    """Per-path discounted losses of some facilities of one run.

    Losses are held in whole US cents (int64): integer sums are exact, so chunks combine
    to the same cent in any order, on any worker (a float sum would depend on the
    order). Rounding each facility's loss to the cent is the only approximation.

    Attributes
    ----------
    total : ndarray (P,) int64
        Sum over the facilities of the discounted loss on each path, cents.
    groups : dict
        ``(dimension, name) -> (P,)`` the same sum over the facilities of one group.
    facility_ids : list of str
        Facilities whose losses are kept in ``blocks``.
    blocks : list of ndarray (F_i, P) int64, or None
        Each facility's discounted loss on each path, cents (for its ES contribution),
        chunk by chunk (the facilities of ``facility_ids`` in order; never copied into
        one array); None when not kept (big tapes: 8 bytes a facility and path).
    own : ndarray (F, 1 + len(LEVELS)) or None
        Each kept facility's own figures, USD: its mean loss, then its standalone ES at
        each of :data:`LEVELS` (:func:`own_figures`). They depend on the facility alone,
        so each chunk computes its own, where its losses are.
    """

    total: np.ndarray
    groups: dict = field(default_factory=dict)
    facility_ids: list = field(default_factory=list)
    blocks: list | None = None
    own: np.ndarray | None = None

    @property
    def n_paths(self) -> int:
        return int(self.total.shape[0])

    @property
    def total_usd(self) -> np.ndarray:
        """The book's loss on each path, USD."""
        return self.total / 100.0

    @property
    def facility(self) -> np.ndarray | None:
        """The kept facilities' losses ``(F, P)`` in cents as one array (a copy when
        there are several blocks), or None."""
        if self.blocks is None:
            return None
        return self.blocks[0] if len(self.blocks) == 1 else np.concatenate(self.blocks)


def from_facilities(facility_ids: Iterable[str], losses: np.ndarray,
                    labels: Mapping[str, Iterable[str]] | None = None, *,
                    keep_facilities: bool = True) -> LossVectors:
    """Reduce facilities' per-path losses ``(F, P)`` to :class:`LossVectors`.

    ``labels`` maps a dimension (:data:`DIMENSIONS`) to each facility's group name.

    >>> lv = from_facilities(["A", "B"], np.array([[1.0, 0.0], [2.0, 3.004]]),
    ...                      {"borrower": ["X", "X"]})
    >>> lv.total_usd, lv.groups[("borrower", "X")]
    (array([3., 3.]), array([300, 300]))
    """
    ids = [str(i) for i in facility_ids]
    losses = np.rint(np.asarray(losses, dtype=float) * 100.0).astype(np.int64)
    if losses.ndim != 2 or losses.shape[0] != len(ids):
        raise GpuCreditError(f"losses must be one row per facility ({len(ids)}), got an "
                             f"array of shape {losses.shape}", argument="losses")
    groups = {}
    for dim, names in (labels or {}).items():
        names = np.asarray([str(n) for n in names], dtype=object)
        for name in sorted(set(names)):
            groups[(dim, name)] = losses[names == name].sum(axis=0)
    if not keep_facilities:
        return LossVectors(total=losses.sum(axis=0), groups=groups)
    return LossVectors(total=losses.sum(axis=0), groups=groups, facility_ids=ids,
                       blocks=[losses], own=own_figures(losses))


def combine(parts: Iterable[LossVectors]) -> LossVectors:
    """Sum the chunks' vectors (the facilities of different chunks are different).

    >>> a = from_facilities(["A"], [[1.0, 2.0]], {"borrower": ["X"]})
    >>> b = from_facilities(["B"], [[0.5, 0.0]], {"borrower": ["X"]})
    >>> c = combine([a, b])
    >>> c.total_usd, c.groups[("borrower", "X")], c.facility.shape
    (array([1.5, 2. ]), array([150, 200]), (2, 2))
    """
    parts = [p for p in parts if p is not None]
    if not parts:
        raise GpuCreditError("no facility losses to combine", argument="losses")
    n = {p.n_paths for p in parts}
    if len(n) != 1:
        raise GpuCreditError(f"chunks ran different numbers of paths: {sorted(n)}",
                             argument="n_paths")
    total = np.sum([p.total for p in parts], axis=0)
    groups: dict = {}
    for p in parts:
        for key, vec in p.groups.items():
            groups[key] = groups[key] + vec if key in groups else vec.copy()
    if not all(p.blocks is not None for p in parts):
        return LossVectors(total=total, groups=groups)
    return LossVectors(total=total, groups=groups,
                       facility_ids=[i for p in parts for i in p.facility_ids],
                       blocks=[b for p in parts for b in p.blocks],
                       own=np.concatenate([p.own for p in parts]))


def tail_weights(total: np.ndarray, level: float) -> np.ndarray:
    """Weights ``w_p`` with ``ES = sum_p w_p L_p``: the worst ``k = (1 - level) P`` paths
    count ``1 / k`` each, the next one the fraction left over (Rockafellar-Uryasev).

    Ties are broken by path index, so the weights of every facility and group come from
    the same set of paths and their contributions add up to the book's ES.

    >>> tail_weights(np.array([5.0, 1.0, 3.0, 0.0]), 0.5)
    array([0.5, 0. , 0.5, 0. ])
    """
    n = total.shape[0]
    k = (1.0 - level) * n
    if abs(k - round(k)) < 1e-9:
        k = float(round(k))
    order = np.argsort(-total, kind="stable")
    w = np.zeros(n)
    whole = math.floor(k)
    w[order[:whole]] = 1.0
    if whole < n and k > whole:
        w[order[whole]] = k - whole
    return w / k


def measures(total: np.ndarray, levels: Iterable[float] = LEVELS) -> pd.DataFrame:
    """EL, VaR and ES of a per-path loss vector, with Monte Carlo standard errors.

    Returns
    -------
    DataFrame
        One row per measure (``expected_loss``, ``var_95``, ``es_95`` ...), columns
        ``value`` (USD), ``se`` (USD) and ``level``.

    Notes
    -----
    VaR at level q is the empirical q-quantile (the ``ceil(qP)``-th smallest loss); its
    standard error is read off the distribution-free binomial confidence interval of a
    quantile, ``(L_(j) - L_(i)) / (2 x 1.96)`` with ``i, j = qP -/+ 1.96 sqrt(q(1-q)P)``
    (order statistics). ES at q is the mean of the worst ``(1-q) P`` losses (a fraction
    of a path pro rata); its standard error
    ``sqrt((Var(L | L >= VaR) + q (ES - VaR)^2) / ((1 - q) P))`` is the asymptotic
    variance of the tail-mean estimator (J. Manistre and G. Hancock, "Variance of the CTE
    estimator", *North American Actuarial Journal* 9(2), 2005).

    Examples
    --------
    >>> m = measures(np.arange(1000.0), levels=[0.99])
    >>> m.loc[["expected_loss", "var_99", "es_99"], "value"].tolist()
    [499.5, 989.0, 994.5]
    """
    total = np.asarray(total, dtype=float)
    n = total.shape[0]
    srt = np.sort(total)
    rows = [("expected_loss", total.mean(),
             total.std(ddof=1) / math.sqrt(n) if n > 1 else math.nan, math.nan)]
    for q in levels:
        tag = f"{q * 100:g}".replace(".", "")
        idx = min(n - 1, max(0, math.ceil(q * n - 1e-9) - 1))
        var = srt[idx]
        half = 1.96 * math.sqrt(q * (1 - q) * n)
        lo = min(n - 1, max(0, math.floor(q * n - half)))
        hi = min(n - 1, max(0, math.ceil(q * n + half)))
        es = float((tail_weights(total, q) * total).sum())
        tail = srt[idx:]
        var_tail = tail.var(ddof=1) if tail.size > 1 else 0.0
        es_se = math.sqrt((var_tail + q * (es - var) ** 2) / max((1 - q) * n, 1e-12))
        rows += [(f"var_{tag}", var, (srt[hi] - srt[lo]) / (2 * 1.96), q),
                 (f"es_{tag}", es, es_se, q)]
    return pd.DataFrame(rows, columns=["measure", "value", "se", "level"]).set_index("measure")


def contributions(lv: LossVectors, level: float = 0.99) -> pd.DataFrame:
    """Each facility's expected loss and Euler contribution to ES at ``level``.

    The contribution of facility f is ``sum_p w_p L_fp`` with the book's tail weights
    (:func:`tail_weights`): its mean loss on the book's worst paths. They sum to the book's
    ES (the Euler allocation of ES; D. Tasche, "Risk contributions and performance
    measurement", TU München, 1999). ``standalone_es`` is the facility's own ES.

    >>> lv = from_facilities(["A", "B"], np.array([[4.0, 0.0, 0.0, 0.0],
    ...                                             [0.0, 3.0, 1.0, 0.0]]))
    >>> contributions(lv, 0.5)[["expected_loss", "es_contribution", "standalone_es"]]
                 expected_loss  es_contribution  standalone_es
    facility_id
    A                     1.00              2.0            2.0
    B                     1.00              1.5            2.0
    """
    if lv.blocks is None:
        raise GpuCreditError("the facilities' per-path losses were not kept (a big tape): "
                             "use the group contributions of concentration()",
                             argument="facility_contributions")
    w = tail_weights(lv.total, level)
    es = float((w * lv.total_usd).sum())
    contrib = np.concatenate([_weighted_rows(b, w) for b in lv.blocks])
    if level in LEVELS:
        mean, standalone = lv.own[:, 0], lv.own[:, 1 + LEVELS.index(level)]
    else:
        mean, standalone = (np.concatenate(x) for x in zip(
            *(own_figures(b, (level,)).T for b in lv.blocks), strict=True))
    return pd.DataFrame({
        "expected_loss": mean,
        "es_contribution": contrib,
        "es_share": contrib / es if es > 0 else np.nan,
        "standalone_es": standalone,
    }, index=pd.Index(lv.facility_ids, name="facility_id"))


def _weighted_rows(cents: np.ndarray, w: np.ndarray, rows: int = 256) -> np.ndarray:
    """``sum_p w_p L_fp`` (USD) of each row, a block of rows at a time (bounded
    temporaries) and row by row (not a BLAS product, so a facility's figure never
    depends on its neighbours)."""
    return np.concatenate([(cents[a:a + rows] / 100.0 * w).sum(axis=1)
                           for a in range(0, cents.shape[0], rows)] or [np.empty(0)])


def own_figures(cents: np.ndarray, levels: Iterable[float] = LEVELS,
                rows: int = 256) -> np.ndarray:
    """Each facility's mean loss and standalone ES at ``levels`` (USD), ``(F, 1 +
    len(levels))``: from its own losses alone (cents, ``(F, P)``), sorted once.

    The standalone ES at q weights the facility's losses, worst first, with the tail
    weights of :func:`tail_weights` in the same order (``1/k`` each for the worst
    ``k = (1 - q) P`` paths, the fraction left over for the next).
    """
    levels = tuple(levels)
    n_p = cents.shape[1]
    w_desc = [np.sort(tail_weights(np.zeros(n_p), q))[::-1] for q in levels]
    out = np.empty((cents.shape[0], 1 + len(levels)))
    for a in range(0, cents.shape[0], rows):
        loss = cents[a:a + rows] / 100.0
        out[a:a + rows, 0] = loss.mean(axis=1)
        loss = -np.sort(-loss, axis=1)
        for j, w in enumerate(w_desc):
            out[a:a + rows, 1 + j] = (loss * w).sum(axis=1)
    return out


def concentration(lv: LossVectors, exposure: pd.DataFrame | None = None,
                  level: float = 0.99) -> pd.DataFrame:
    """The book's loss by group: EL, ES contribution and share, the group's own ES.

    ``exposure`` (optional) is indexed by ``(dimension, group)`` with columns
    ``facilities`` and ``debt`` to show beside the losses.

    >>> lv = from_facilities(["A", "B"], np.array([[4.0, 0.0], [0.0, 2.0]]),
    ...                      {"generation": ["hopper", "ampere"]})
    >>> concentration(lv, level=0.5)[["expected_loss", "es_contribution"]]
                            expected_loss  es_contribution
    dimension  group
    generation ampere                 1.0              0.0
               hopper                 2.0              4.0
    """
    w = tail_weights(lv.total, level)
    es = float((w * lv.total_usd).sum())
    order = np.sort(w)[::-1]
    rows = []
    for (dim, name), cents in sorted(lv.groups.items()):
        vec = cents / 100.0
        rows.append((dim, name, vec.mean(), float((w * vec).sum()),
                     float((-np.sort(-vec) * order).sum())))
    out = pd.DataFrame(rows, columns=["dimension", "group", "expected_loss",
                                      "es_contribution", "standalone_es"])
    out = out.set_index(["dimension", "group"])
    out.insert(2, "es_share", out["es_contribution"] / es if es > 0 else np.nan)
    if exposure is not None and not out.empty:
        out = exposure.reindex(out.index).join(out)
    return out


def histogram(total: np.ndarray, bins: int = 40) -> pd.DataFrame:
    """The loss distribution as a table: equal-width bins from 0 to the largest loss.

    Columns ``loss_from``, ``loss_to`` (USD), ``paths``, ``probability`` and
    ``exceedance`` (probability that the loss exceeds ``loss_to``, the bucket's upper
    edge: the chart's "P(loss > x)" at x = ``loss_to``).

    >>> histogram(np.array([0.0, 0.0, 1.0, 2.0]), bins=2)[["loss_to", "paths"]]
       loss_to  paths
    0      1.0      2
    1      2.0      2
    """
    total = np.asarray(total, dtype=float)
    top = float(total.max()) if total.size and total.max() > 0 else 1.0
    edges = np.linspace(0.0, top, bins + 1)
    counts, _ = np.histogram(total, bins=edges)
    n = max(total.size, 1)
    exceed = np.array([(total > e).mean() for e in edges[1:]])
    return pd.DataFrame({"loss_from": edges[:-1], "loss_to": edges[1:], "paths": counts,
                         "probability": counts / n, "exceedance": exceed})


def summary(lv: LossVectors, levels: Iterable[float] = LEVELS) -> pd.DataFrame:
    """:func:`measures` of the book, and the diversification: the sum of the
    facilities' (else the borrowers') standalone ES beside the book's ES."""
    out = measures(lv.total_usd, levels)
    extra = []
    for q in levels:
        tag = f"{q * 100:g}".replace(".", "")
        w = np.sort(tail_weights(lv.total, q))[::-1]
        # math.fsum: exactly rounded, so the order of the facilities does not matter
        if lv.blocks is not None:
            own = lv.own[:, 1 + LEVELS.index(q)] if q in LEVELS else np.concatenate(
                [own_figures(b, (q,))[:, 1] for b in lv.blocks])
            standalone = math.fsum(own)
            label = f"sum_standalone_es_{tag}"
        else:
            vecs = [v / 100.0 for (d, _), v in lv.groups.items() if d == "borrower"]
            standalone = math.fsum((-np.sort(-v) * w).sum() for v in vecs) if vecs \
                else math.nan
            label = f"sum_borrower_es_{tag}"
        extra.append((label, standalone, math.nan, q))
    extra.append(("n_paths", float(lv.n_paths), math.nan, math.nan))
    return pd.concat([out, pd.DataFrame(extra, columns=["measure", "value", "se", "level"]
                                        ).set_index("measure")])
