"""Seasonal naive, optionally with drift: the baseline every other model must beat, and the
fallback for any series another model cannot handle.

With drift, each season repeats the last observed one shifted by the average seasonal change, so a
disk that grows a little every day is forecast to keep growing (plain seasonal naive never crosses
a threshold the series has not reached yet). Intervals come from the empirical distribution of
one-season-ahead errors, widened like a random walk (sqrt of the number of seasons ahead).
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from ._util import clean, row_blocks
from .base import DEFAULT_LEVELS, Forecast, as_2d, check_levels, interval_keys, shape_like


class SeasonalNaive:
    def __init__(self, season_length: int = 1, drift: bool = False, intervals: bool = True) -> None:
        if season_length < 1:
            raise ValueError(f"season_length must be >= 1, got {season_length}")
        self.season_length = int(season_length)
        self.drift = drift
        # Without intervals nothing of history size is kept and predict gives the mean only (for
        # callers that score or combine means, like auto's backtest).
        self.intervals = intervals
        self.note = ""

    @property
    def name(self) -> str:
        return "seasonal_naive_drift" if self.drift else "seasonal_naive"

    def fit(self, y: np.ndarray) -> "SeasonalNaive":
        arr, self._single = as_2d(y)
        n, t = arr.shape
        m = self.season_length
        if t < 2 * m:
            # One season cannot tell seasonality from noise: repeat the last value instead.
            self.note = f"history of {t} points is shorter than two seasons ({2 * m}): non-seasonal"
            m = 1
        self._m = m
        k = t // m
        last = None
        for i in range(k):  # newest observed value at each phase of the season
            cur = clean(arr[:, t - (k - i) * m:t - (k - i - 1) * m])
            last = cur if last is None else np.where(np.isnan(cur), last, cur)
        newest = _last_finite(arr)
        last = np.where(np.isnan(last), newest[:, None], last)
        self._last = last
        # Season-on-season differences, a block of rows at a time (no full-size temporaries); kept
        # only for the intervals.
        resid = np.empty((n, t - m) if t > m else (n, 1)) if self.intervals else None
        d = np.zeros(n)
        with warnings.catch_warnings():  # all-NaN rows are expected; they yield NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            for a, b in row_blocks(n, t) if self.intervals or self.drift else []:
                if t > m:
                    block = clean(arr[a:b])
                    diffs = block[:, m:] - block[:, :-m]
                else:
                    diffs = np.full((b - a, 1), np.nan)
                if self.drift:
                    d[a:b] = np.nanmean(diffs, axis=1) / m
                if resid is not None:
                    resid[a:b] = diffs
        self._d = np.nan_to_num(d)
        if resid is not None:
            resid -= (self._d * m)[:, None]
        self._resid = resid
        return self

    def predict(self, h: int, levels: Sequence[int] = DEFAULT_LEVELS) -> Forecast:
        levels = check_levels(levels)
        m = self._m
        steps = np.arange(h)
        seasons_ahead = steps // m + 1
        mean = self._last[:, steps % m] + self._d[:, None] * (seasons_ahead * m)[None, :]
        out: Forecast = {"mean": mean}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for lv in levels if self.intervals else []:
                lo_q, hi_q = np.nanquantile(
                    self._resid, [(100 - lv) / 200, (100 + lv) / 200], axis=1
                )
                widen = np.sqrt(seasons_ahead)[None, :]
                lo_key, hi_key = interval_keys(lv)
                out[lo_key] = mean + np.nan_to_num(lo_q)[:, None] * widen
                out[hi_key] = mean + np.nan_to_num(hi_q)[:, None] * widen
        return shape_like(out, self._single)


def _last_finite(arr: np.ndarray) -> np.ndarray:
    """The newest finite value of each row (NaN for a row with none)."""
    finite = np.isfinite(arr)
    idx = arr.shape[1] - 1 - np.argmax(finite[:, ::-1], axis=1)
    vals = arr[np.arange(arr.shape[0]), idx]
    return np.where(finite.any(axis=1), vals, np.nan)
