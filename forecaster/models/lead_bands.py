"""Bands calibrated per step ahead and per level on the backtest's own out-of-sample errors.

Three layers, so that a few folds still give a steady band:

- **How each series' errors grow with the step ahead**: the variance of its backtest errors as
  ``a + b * k`` for the step ahead ``k`` (``a, b >= 0``), fitted by least squares on the mean
  squared error at every step. Two numbers per series from every error it has: a random walk's
  band widens with the square root of the steps ahead, a well-captured seasonal series' barely
  at all, each by its own errors (one shape shared by the fleet made the first too narrow far
  out and the second too narrow close in).
- **The level's shape per lead bucket, for the fleet**: errors divided by that spread should be
  alike at every step; where they are not (spiky close in, a level shift far out), the quantile
  at each level in each bucket of steps (1, 2, 3-4, 5-8, ...) corrects it, separately for 80% and
  95%: the two levels need not widen alike.
- **Each series' own tail**: the split-conformal quantile of its normalised errors at the level,
  with the finite-sample margin for the folds it has, shrunk towards the fleet's (see
  :func:`~promcast_forecaster.models.intervals.shrink_to_fleet`).

Beyond the steps the backtest covered (a horizon longer than the history could backtest), the
variance keeps growing in proportion to the steps ahead (a random walk's growth, the honest
assumption where nothing was measured), and the level's shape stays that of the last bucket.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from .intervals import shrink_to_fleet

# Errors within a fold are correlated: a fold counts as at most this many independent errors.
ERRORS_PER_FOLD = 8


def lead_buckets(h: int) -> list[tuple[int, int]]:
    """Half-open step ranges covering ``h`` steps, doubling in width (1, 1, 2, 4, 8, ...): the
    first steps, where errors change fastest, are resolved finely; far ones pool many steps."""
    edges, width = [0, min(1, h)], 1
    while edges[-1] < h:
        edges.append(min(h, edges[-1] + width))
        width *= 2
    return list(zip(edges[:-1], edges[1:]))


def _quantile(x: np.ndarray, level: int, eff: float, axis: int | None = None) -> np.ndarray:
    """The conformal quantile at ``level`` % from ``eff`` effective scores (NaN ignored)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanquantile(x, min(1.0, level / 100 * (eff + 1) / eff), axis=axis)


class LeadBands:
    """Band half-widths per series and step from backtest residuals ``(folds, series, steps)``."""

    def __init__(self, resid: np.ndarray) -> None:
        folds, n, steps = resid.shape
        self.steps = steps
        self.buckets = lead_buckets(steps)
        self.effective = max(2, folds * min(steps, ERRORS_PER_FOLD))
        self.var, self.intercept, self.slope = _variance_growth(resid)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            self.scores = np.abs(resid) / self._spread(steps)[None]
        # Each level's calibration, computed once: predict asks for it at every infer cycle,
        # and it changes only with the backtest's errors (a new LeadBands at each refit).
        self._by_level: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _spread(self, h: int) -> np.ndarray:
        """Each series' error spread per step (n, h)."""
        return _spread(self.var, self.intercept, self.slope, self.steps, h)

    def _calibrated(self, level: int) -> tuple[np.ndarray, np.ndarray]:
        """The fleet's quantile per step (steps,) and each series' multiplier on it (n,)."""
        if level not in self._by_level:
            self._by_level[level] = self._calibrate(level)
        return self._by_level[level]

    def _calibrate(self, level: int) -> tuple[np.ndarray, np.ndarray]:
        n = self.scores.shape[1]
        pooled = self.effective * n
        per_bucket = np.array(
            [_quantile(self.scores[:, :, a:b], level, pooled) for a, b in self.buckets]
        )
        per_bucket = np.maximum.accumulate(np.nan_to_num(per_bucket, nan=1.0))
        per_step = _per_step(self.buckets, np.where(per_bucket > 0, per_bucket, 1e-9))
        flat = np.moveaxis(self.scores / per_step[None, None, :], 1, 0).reshape(n, -1)
        own = _quantile(flat, level, self.effective, axis=1)
        fleet = float(_quantile(flat, level, pooled))
        return per_step, np.nan_to_num(shrink_to_fleet(own, fleet, self.effective), nan=1.0)

    def half_width(self, level: int, h: int) -> np.ndarray:
        """Half-width (n, h) of the central ``level`` % band, never narrower further out."""
        per_step, mult = self._calibrated(level)
        shape = np.concatenate([per_step, np.full(max(0, h - per_step.size), per_step[-1])])[:h]
        half = self._spread(h) * mult[:, None] * shape[None, :]
        return np.maximum.accumulate(half, axis=1)


def _spread(
    var: np.ndarray, intercept: np.ndarray, slope: np.ndarray, steps: int, h: int
) -> np.ndarray:
    """Error spread per series and step (n, h) from the variance growth; beyond the ``steps``
    backtested, the variance grows at least in proportion to the steps ahead."""
    k = np.arange(1, h + 1, dtype=float)
    rel = intercept[:, None] + slope[:, None] * k[None, :]
    if h > steps:
        beyond = (intercept + slope * steps)[:, None] * k[None, :] / steps
        rel = np.where(k[None, :] > steps, np.maximum(rel, beyond), rel)
    return np.sqrt(var[:, None] * np.maximum(rel, 1e-12))


def _variance_growth(resid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per series: the mean squared error ``var`` and the variance at step k as
    ``var * (intercept + slope * k)``, least squares on the mean squared error per step, with
    ``slope >= 0`` and ``intercept >= 0`` (so the spread never shrinks with the step ahead)."""
    steps = resid.shape[2]
    k = np.arange(1, steps + 1, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        msq = np.nanmean(resid**2, axis=0)  # (n, steps)
        var = np.nanmean(msq, axis=1)
        var = np.where(np.isfinite(var) & (var > 0), var, 1e-18)
        rel = msq / var[:, None]
        kk = np.where(np.isfinite(rel), k[None, :], np.nan)
        kmean = np.nanmean(kk, axis=1)
        dev = kk - kmean[:, None]
        slope = np.nansum(dev * (rel - 1), axis=1) / np.nansum(dev**2, axis=1)
    kmean = np.nan_to_num(kmean, nan=1.0)
    slope = np.clip(np.nan_to_num(slope), 0.0, 1.0 / np.maximum(kmean, 1.0))
    return var, 1.0 - slope * kmean, slope


def _per_step(buckets: Sequence[tuple[int, int]], values: np.ndarray) -> np.ndarray:
    """Bucket values spread over the steps, linear between bucket centres."""
    centres = np.array([(a + b - 1) / 2 for a, b in buckets])
    return np.interp(np.arange(buckets[-1][1], dtype=float), centres, values)


def honest_coverage(resid: np.ndarray, levels: Sequence[int]) -> dict[int, np.ndarray]:
    """Per-series coverage of each fold's residuals by bands calibrated on the other folds only
    (empty with fewer than two folds: nothing to check against)."""
    folds, _, steps = resid.shape
    if folds < 2:
        return {}
    hits: dict[int, list[np.ndarray]] = {lv: [] for lv in levels}
    for f in range(folds):
        bands = LeadBands(np.delete(resid, f, axis=0))
        r = resid[f]
        for lv in levels:
            half = bands.half_width(lv, steps)
            hits[lv].append(np.where(np.isnan(r), np.nan, np.abs(r) <= half))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return {lv: np.nanmean(np.concatenate(hits[lv], axis=1), axis=1) for lv in levels}
