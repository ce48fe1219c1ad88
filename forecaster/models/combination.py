"""Forecast combination for ``auto``: which rule to combine its candidates by, chosen per series
out of sample.

A rule is "the best k candidates by backtest MASE, weighted equally", "... weighted by the
inverse of their MASE", or "the best candidate and the baseline (seasonal naive), half each":
a choice that the backtest cannot tell from the baseline's ranks first, yet the two often err in
opposite directions (a learnt shape against last season's values). The M-competitions' most
robust gain is such a combination, but picking
the combination that scored best on the very folds that ranked the candidates flatters it (the
ranking has already seen the errors it is judged on). Here each rule is judged the way it will be
used: for every fold, the candidates are ranked on the *other* folds, the rule builds its forecast
from that ranking, and the held-out fold scores it. A series keeps the rule with the best such
score; the single best candidate is the rule k = 1 and wins ties, so a combination has to earn
its place. The chosen rule is then applied to the ranking on all folds.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple, Sequence

import numpy as np

from .metrics import mase

# A combination must beat the single best candidate's out-of-sample score by this share: a gain
# smaller than that is within what the fold-to-fold noise makes of nothing.
MARGIN = 0.01


class Rule(NamedTuple):
    k: int  # the best k candidates by the ranking
    inverse: bool = False  # weighted by the inverse of their score (else equally)
    baseline: bool = False  # half the weight on the baseline, half on the k


def rules(max_k: int, baseline: bool = False) -> list[Rule]:
    """From the single best up to the best ``max_k``, and with ``baseline`` (when combining at
    all) the best one with the baseline."""
    out = [Rule(k) for k in range(1, max_k + 1)]
    out += [Rule(k, inverse=True) for k in range(2, max_k + 1)]
    return out + ([Rule(1, baseline=True)] if baseline and max_k > 1 else [])


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


def _rule_weights(score: np.ndarray, rule: Rule, baseline: int | None) -> np.ndarray:
    w = rule_weights(score, rule.k, rule.inverse)
    if rule.baseline:
        if baseline is None:
            raise ValueError(f"rule {rule} needs the index of the baseline candidate")
        w *= 0.5
        w[baseline] += 0.5
    return w


def per_fold_mase(actual: np.ndarray, fc: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """MASE per candidate, fold and series: forecasts (C, F, n, h) -> (C, F, n), inf if unscored."""
    out = np.stack([mase(actual, fc[c], scale) for c in range(fc.shape[0])])
    return np.where(np.isfinite(out), out, np.inf)


def choose_rule(
    actual: np.ndarray,
    fc: np.ndarray,
    scale: np.ndarray,
    fold_scores: np.ndarray,
    candidate_rules: Sequence[Rule],
    baseline: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per series, the weights (C, n) of the rule with the best out-of-sample MASE, and the index
    of that rule in ``candidate_rules`` (n,). ``fold_scores`` (C, F, n) from :func:`per_fold_mase`;
    ``baseline``: the candidate a :class:`Rule` with ``baseline`` combines with. With a single
    fold there is nothing to hold out, and the single best is kept."""
    c_count, f_count, n = fold_scores.shape
    if f_count < 2 or len(candidate_rules) < 2:
        return rule_weights(mean_score(fold_scores), 1, False), np.zeros(n, dtype=int)
    oos = np.zeros((len(candidate_rules), n))
    for f in range(f_count):
        ranking = mean_score(np.delete(fold_scores, f, axis=1))
        for r, rule in enumerate(candidate_rules):
            w = _rule_weights(ranking, rule, baseline)
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
    for r, rule in enumerate(candidate_rules):
        rows = best == r
        if rows.any():
            weights[:, rows] = _rule_weights(ranking[:, rows], rule, baseline)
    return weights, best


def wins_most_folds(
    actual: np.ndarray, fc: np.ndarray, scale: np.ndarray, weights: np.ndarray, other: np.ndarray
) -> np.ndarray:
    """Series (n,) whose forecast by ``weights`` (C, n) over the candidates ``fc`` (C, F, n, h)
    scored better than the one by ``other`` on more than half of the folds where both were
    scored (a tie is no win). The mean alone is mostly the fold that held an incident."""
    mine = mase(actual, np.einsum("cn,cfnh->fnh", weights, fc), scale)  # (F, n)
    theirs = mase(actual, np.einsum("cn,cfnh->fnh", other, fc), scale)
    scored = np.isfinite(mine) & np.isfinite(theirs)
    wins = (mine < theirs) & scored
    return 2 * wins.sum(axis=0) > scored.sum(axis=0)


def mean_score(fold_scores: np.ndarray) -> np.ndarray:
    """Mean over folds (C, F, n) -> (C, n), ignoring folds a candidate could not be scored on;
    inf where it was scored on none."""
    finite = np.where(np.isfinite(fold_scores), fold_scores, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(finite, axis=1)
    return np.where(np.isfinite(mean), mean, np.inf)
