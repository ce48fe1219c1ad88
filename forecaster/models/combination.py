"""Forecast combination for ``auto``: which rule to combine its candidates by, chosen per series
out of sample.

A rule is "the best k candidates by backtest MASE, weighted equally" or "... weighted by the
inverse of their MASE". The M-competitions' most robust gain is such a combination, but picking
the combination that scored best on the very folds that ranked the candidates flatters it (the
ranking has already seen the errors it is judged on). Here each rule is judged the way it will be
used: for every fold, the candidates are ranked on the *other* folds, the rule builds its forecast
from that ranking, and the held-out fold scores it. A series keeps the rule with the best such
score; the single best candidate is the rule k = 1 and wins ties, so a combination has to earn
its place. The chosen rule is then applied to the ranking on all folds.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from .metrics import mase

# A combination must beat the single best candidate's out-of-sample score by this share: a gain
# smaller than that is within what the fold-to-fold noise makes of nothing.
MARGIN = 0.01


def rules(max_k: int) -> list[tuple[int, bool]]:
    """(k, inverse-error weights?) from the single best up to the best ``max_k``."""
    out = [(k, False) for k in range(1, max_k + 1)]
    return out + [(k, True) for k in range(2, max_k + 1)]


def rule_weights(score: np.ndarray, k: int, inverse: bool) -> np.ndarray:
    """Weights (C, n) over candidates from their scores (C, n; lower is better, inf = unusable)."""
    c, n = score.shape
    k = min(k, c)
    order = np.argsort(score, axis=0, kind="stable")[:k]  # (k, n)
    top = np.take_along_axis(score, order, axis=0)
    usable = np.isfinite(top)
    usable[0] = True  # the best always counts (an all-unusable row falls back on it)
    if inverse:
        w = np.where(usable, 1.0 / np.maximum(top, 1e-9), 0.0)
    else:
        w = usable.astype(float)
    w[0] = np.where(w.sum(axis=0) > 0, w[0], 1.0)  # nothing scored: the first, alone
    w /= w.sum(axis=0, keepdims=True)
    out = np.zeros((c, n))
    np.put_along_axis(out, order, w, axis=0)
    return out


def per_fold_mase(actual: np.ndarray, fc: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """MASE per candidate, fold and series: forecasts (C, F, n, h) -> (C, F, n), inf if unscored."""
    out = np.stack([mase(actual, fc[c], scale) for c in range(fc.shape[0])])
    return np.where(np.isfinite(out), out, np.inf)


def choose_rule(
    actual: np.ndarray,
    fc: np.ndarray,
    scale: np.ndarray,
    fold_scores: np.ndarray,
    candidate_rules: Sequence[tuple[int, bool]],
) -> tuple[np.ndarray, np.ndarray]:
    """Per series, the weights (C, n) of the rule with the best out-of-sample MASE, and the index
    of that rule in ``candidate_rules`` (n,). ``fold_scores`` (C, F, n) from :func:`per_fold_mase`;
    with a single fold there is nothing to hold out, and the single best is kept."""
    c_count, f_count, n = fold_scores.shape
    if f_count < 2 or len(candidate_rules) < 2:
        return rule_weights(mean_score(fold_scores), 1, False), np.zeros(n, dtype=int)
    oos = np.zeros((len(candidate_rules), n))
    for f in range(f_count):
        ranking = mean_score(np.delete(fold_scores, f, axis=1))
        for r, (k, inverse) in enumerate(candidate_rules):
            w = rule_weights(ranking, k, inverse)
            combo = np.einsum("cn,cnh->nh", w, fc[:, f])
            got = mase(actual[f], combo, scale[f])
            oos[r] += np.where(np.isfinite(got), got, 0.0)
    oos /= f_count
    best = np.argmin(oos, axis=0)
    single = oos[0]
    # A combination replaces the single best only when clearly ahead of it.
    best = np.where(oos[best, np.arange(n)] < single * (1 - MARGIN), best, 0)
    ranking = mean_score(fold_scores)
    weights = np.zeros((c_count, n))
    for r, (k, inverse) in enumerate(candidate_rules):
        rows = best == r
        if rows.any():
            weights[:, rows] = rule_weights(ranking[:, rows], k, inverse)
    return weights, best


def mean_score(fold_scores: np.ndarray) -> np.ndarray:
    """Mean over folds (C, F, n) -> (C, n), ignoring folds a candidate could not be scored on;
    inf where it was scored on none."""
    finite = np.where(np.isfinite(fold_scores), fold_scores, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(finite, axis=1)
    return np.where(np.isfinite(mean), mean, np.inf)
