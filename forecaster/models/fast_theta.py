"""The Theta method fitted to a whole fleet at once in numpy (Assimakopoulos & Nikolopoulos 2000,
as Hyndman & Billah 2003 show it: simple exponential smoothing with a drift of half the slope of
the series' linear trend), on the series with its season taken out where the season is there.

It is the per-series ``theta`` (statsmodels) without the per-series cost, so ``auto`` can combine
it with the other candidates on fleets of thousands. What each series gets:

- the season: additive phase means (each cycle's deviation from its own mean, averaged over the
  cycles), taken out only where the autocorrelation at one season is significant at 90% by the
  classical test of the M-competitions' Theta benchmark (Bartlett's bound over the lower lags);
- the smoothing weight: the one of a small grid with the least one-step squared error;
- intervals: SES's (the error grows as ``1 + alpha^2 (k - 1)``) around the forecast.

A gap (NaN) updates nothing: the level coasts over it, as in ``fast_hw``.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from .arrays import clean_shared, row_blocks
from .base import DEFAULT_LEVELS, Capabilities, Forecast, ModelBase, as_2d, check_levels, shape_like
from .intervals import normal_intervals

ALPHAS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
# Steps of history the smoothing weight is chosen on (a weight of 0.05 forgets a step within a
# few hundred): the fit's loop is bounded by this, not by the history's length.
SMOOTH_WINDOW = 2048
# One-sided 90% normal quantile of the seasonality test.
SEASON_Z = 1.645


class FastTheta(ModelBase):
    name = "fast_theta"
    capabilities = Capabilities(vectorised=True)

    def __init__(self, season_length: int = 1, horizon: int | None = None) -> None:
        if season_length < 1:
            raise ValueError(f"season_length must be >= 1, got {season_length}")
        self.season_length = int(season_length)
        self.horizon = horizon

    def fit(self, y: np.ndarray) -> "FastTheta":
        arr, self._single = as_2d(y)
        arr = clean_shared(arr)
        n, t_len = arr.shape
        m = self.season_length
        valid = np.isfinite(arr)
        count = valid.sum(axis=1)
        first = np.where(count > 0, np.argmax(valid, axis=1), t_len)
        self._index = np.zeros((n, max(m, 1)))
        self._slope = np.zeros(n)
        # Season and slope a block of rows at a time: their temporaries (an FFT of every row)
        # would be several times the fleet's matrix at once.
        for a, b in row_blocks(n, t_len):
            self._index[a:b], self._slope[a:b] = _season_and_slope(arr[a:b], valid[a:b], m)
        phase = np.arange(t_len) % max(m, 1)

        alphas = np.asarray(ALPHAS)[:, None]
        # The smoothing runs over the newest SMOOTH_WINDOW steps only (from the first value in
        # them): the level forgets older ones, and a long history costs no more than that.
        begin = np.maximum(first, t_len - SMOOTH_WINDOW)
        seen = valid[:, max(0, t_len - SMOOTH_WINDOW) :].copy()
        seen[np.arange(seen.shape[1])[None, :] < (begin - (t_len - seen.shape[1]))[:, None]] = False
        begin = np.where(seen.any(axis=1), np.argmax(seen, axis=1) + t_len - seen.shape[1], t_len)
        del seen
        at_first = np.minimum(begin, t_len - 1)
        start = np.take_along_axis(arr, at_first[:, None], axis=1)[:, 0]
        start = start - self._index[np.arange(n), phase[at_first]]
        level = np.repeat(np.nan_to_num(start)[None, :], len(ALPHAS), axis=0)
        sse = np.zeros((len(ALPHAS), n))
        t0 = int(begin.min(initial=t_len))
        err = np.empty_like(level)
        for t in range(t0, t_len):
            ok = valid[:, t] & (t > begin)
            yt = arr[:, t] - self._index[:, phase[t]]
            # In place, as few passes over (grid, series) as the step needs: this loop is the fit.
            np.subtract(yt[None, :], level, out=err)
            err *= ok[None, :]  # a gap (NaN * 0 is NaN) is cleared below
            if not ok.all():
                err[:, ~ok] = 0.0
            sse += err * err
            err *= alphas
            level += err
        best = np.argmin(sse, axis=0)
        cols = np.arange(n)
        self._alpha = np.asarray(ALPHAS)[best]
        self._level = np.where(count > 0, level[best, cols], np.nan)
        used = np.clip(t_len - begin, 1, None)
        self._sigma = np.sqrt(sse[best, cols] / np.maximum(np.minimum(count, used) - 1, 1))
        self._count = np.minimum(count, used)
        self._t_len = t_len
        return self

    def predict(self, h: int, levels: Sequence[int] = DEFAULT_LEVELS) -> Forecast:
        levels = check_levels(levels)
        k = np.arange(1, h + 1)[None, :]
        a = self._alpha[:, None]
        # Hyndman & Billah's drift: half the trend's slope, growing as SES's level catches up.
        steps = np.minimum(self._count, 100_000)[:, None]
        drift = 0.5 * self._slope[:, None] * (k - 1 + 1 / a - (1 - a) ** steps / a)
        phase = (self._t_len + k[0] - 1) % self._index.shape[1]
        mean = self._level[:, None] + drift + self._index[:, phase]
        sigma = self._sigma[:, None] * np.sqrt(1 + a * a * (k - 1))
        return shape_like(normal_intervals(mean, sigma, levels), self._single)


def _season_and_slope(arr: np.ndarray, valid: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Seasonal index (n, m), zero where the series has no season, and the linear slope of the
    series with the season taken out (n,)."""
    n, t_len = arr.shape
    if m <= 1:
        return np.zeros((n, 1)), _ols_slope(arr, valid)
    # A trend correlates a series with itself at every lag, and within each cycle looks like a
    # ramp: the season is looked for in what the linear trend leaves.
    t = np.arange(t_len)[None, :]
    # The season as the newest cycles show it (and an FFT a few times shorter on long histories).
    offset = max(0, t_len - max(SMOOTH_WINDOW, 4 * m))
    flat = arr[:, offset:] - _ols_slope(arr, valid)[:, None] * t[:, offset:]
    keep = seasonal(flat, m, valid[:, offset:].sum(axis=1))
    index = np.where(keep[:, None], np.roll(seasonal_index(flat, m), offset % m, axis=1), 0.0)
    return index, _ols_slope(arr - index[:, t[0] % m], valid)


def seasonal_index(arr: np.ndarray, m: int) -> np.ndarray:
    """Additive seasonal index (n, m) by absolute phase ``t % m``: the mean over whole cycles of
    each cycle's deviation from its own mean, centred (0 where a phase was never seen)."""
    n, t_len = arr.shape
    cycles = t_len // m
    if cycles < 1:
        return np.zeros((n, m))
    start = t_len - cycles * m  # whole cycles aligned on the newest point
    block = arr[:, start:].reshape(n, cycles, m)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        dev = block - np.nanmean(block, axis=2, keepdims=True)
        idx = np.nan_to_num(np.nanmean(dev, axis=1))
    idx -= idx.mean(axis=1, keepdims=True)
    return np.roll(idx, start % m, axis=1)  # column p is phase p of the absolute clock


def seasonal(arr: np.ndarray, m: int, count: np.ndarray) -> np.ndarray:
    """Rows (n,) whose autocorrelation at lag ``m`` exceeds the 90% bound
    ``z * sqrt((1 + 2 sum_{k<m} r_k^2) / T)``, with at least two cycles of data."""
    n, t_len = arr.shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(arr, axis=1, keepdims=True)
    x = np.nan_to_num(arr - mean)
    size = 1 << int(np.ceil(np.log2(2 * t_len)))
    spec = np.fft.rfft(x, size, axis=1)
    acov = np.fft.irfft(spec * np.conj(spec), size, axis=1)[:, : m + 1]
    r = acov / np.where(acov[:, :1] > 0, acov[:, :1], 1.0)
    bound = SEASON_Z * np.sqrt((1 + 2 * (r[:, 1:m] ** 2).sum(axis=1)) / np.maximum(count, 1))
    return (count >= 2 * m) & (r[:, m] > bound)


def _ols_slope(y: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Least-squares slope per row over its observed points (0 with fewer than two), from sums
    (matrix products: this runs on the whole fleet in every fit)."""
    t = np.arange(y.shape[1], dtype=float)
    w = valid.astype(float)
    y0 = np.where(valid, y, 0.0)
    cnt = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        tm = (w @ t) / cnt
        ym = y0.sum(axis=1) / cnt
        sxy = (y0 @ t) - cnt * tm * ym
        sxx = (w @ (t * t)) - cnt * tm * tm
        slope = sxy / sxx
    return np.where((cnt >= 2) & np.isfinite(slope) & (sxx > 0), slope, 0.0)
