"""Seasonal naive, optionally with drift: the baseline every other model must beat, and the
fallback for any series another model cannot handle.

With drift, each season repeats the last observed one shifted by the seasonal change, so a disk
that grows a little every day is forecast to keep growing (plain seasonal naive never crosses a
threshold the series has not reached yet). The change per season is the least-squares slope of the
season means, not the textbook (last season - first season) / seasons: that one rests on two
seasons, and one quiet last day (batch jobs off, a holiday) would be extrapolated for weeks until a
spend that never stops is forecast at zero. The slope is shrunk towards zero by how far it stands
out from the season means' own scatter (factor ``1 - (2 / t)^2`` for its t-statistic, zero below
t = 2), so noise is not extrapolated and a real trend (t of 10 keeps 96%) is. With fewer than
three seasons there is no scatter to judge by and the slope is used as it is.
Intervals come from the empirical distribution of one-season-ahead errors, widened with the number
of seasons ahead as the series' own history says: the spread of its two-seasons-ahead errors
against its one-season-ahead errors gives the exponent of the growth, between 0 (a level with
noise around it: the errors of a month ahead are those of a day ahead) and 1/2 (a random walk,
the textbook's sqrt). The estimate is trusted in proportion to the seasons behind it (none below
six, fully from twelve) and leans towards 1/2 otherwise: too narrow a band a month ahead is the
worse mistake. A spend that rises and falls with batch days around a steady level no longer gets
a band that reaches zero a month ahead.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from .arrays import clean, row_blocks
from .base import (
    DEFAULT_LEVELS,
    Capabilities,
    Forecast,
    ModelBase,
    as_2d,
    check_levels,
    interval_keys,
    shape_like,
)


class SeasonalNaive(ModelBase):
    capabilities = Capabilities(vectorised=True)

    def __init__(self, season_length: int = 1, drift: bool = False, intervals: bool = True) -> None:
        if season_length < 1:
            raise ValueError(f"season_length must be >= 1, got {season_length}")
        self.season_length = int(season_length)
        self.drift = drift
        # Without intervals nothing of history size is kept and predict gives the mean only (for
        # callers that score or combine means, like auto's backtest).
        self.intervals = intervals
        self.notes: list[str] = []

    @property
    def name(self) -> str:
        return "seasonal_naive_drift" if self.drift else "seasonal_naive"

    def fit(self, y: np.ndarray) -> "SeasonalNaive":
        arr, self._single = as_2d(y)
        n, t = arr.shape
        m = self.season_length
        if t < 2 * m:
            # One season cannot tell seasonality from noise: repeat the last value instead.
            self.notes = [
                f"history of {t} points is shorter than two seasons ({2 * m}): non-seasonal"
            ] * n
            m = 1
        else:
            self.notes = []
        self._m = m
        k = t // m
        last = newest_per_phase(arr, m)
        newest = _last_finite(arr)
        last = np.where(np.isnan(last), newest[:, None], last)
        self._last = last
        # Season-on-season differences, a block of rows at a time (no full-size temporaries); kept
        # only for the intervals.
        resid = np.empty((n, t - m) if t > m else (n, 1)) if self.intervals else None
        d = np.zeros(n)
        self._widen = np.full(n, RANDOM_WALK_EXPONENT)
        # Seasons apart of the errors compared for the widening: two keeps the most independent
        # samples (a longer lag of one path underestimates a random walk's growth).
        lag = 2 if k >= MIN_WIDENING_SEASONS else 0
        trust = min(1.0, (k - 4) / (FULL_WIDENING_SEASONS - 4))
        with warnings.catch_warnings():  # all-NaN rows are expected; they yield NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            for a, b in row_blocks(n, t) if self.intervals or self.drift else []:
                if t > m:
                    block = clean(arr[a:b])
                    diffs = block[:, m:] - block[:, :-m]
                else:
                    diffs = np.full((b - a, 1), np.nan)
                if self.drift:
                    d[a:b] = season_slope(clean(arr[a:b, t - k * m :]).reshape(b - a, k, m)) / m
                if resid is not None:
                    resid[a:b] = diffs
                    if lag >= 2:
                        far = (
                            block[:, lag * m :] - block[:, : -lag * m] - (d[a:b] * lag * m)[:, None]
                        )
                        e = widening_exponent(diffs - (d[a:b] * m)[:, None], far, lag)
                        self._widen[a:b] = RANDOM_WALK_EXPONENT + (e - RANDOM_WALK_EXPONENT) * trust
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
                widen = seasons_ahead[None, :] ** self._widen[:, None]
                lo_key, hi_key = interval_keys(lv)
                out[lo_key] = mean + np.nan_to_num(lo_q)[:, None] * widen
                out[hi_key] = mean + np.nan_to_num(hi_q)[:, None] * widen
        return shape_like(out, self._single)


# How intervals widen when the history cannot tell: like a random walk's, sqrt(seasons ahead).
RANDOM_WALK_EXPONENT = 0.5
# Seasons of history below which the widening is not estimated, and from which it is fully trusted.
MIN_WIDENING_SEASONS, FULL_WIDENING_SEASONS = 6, 12


def widening_exponent(near: np.ndarray, far: np.ndarray, lag: int) -> np.ndarray:
    """Per row, how the error spread grows with the seasons ahead, from the 10-90% range of
    one-season-ahead errors ``near`` and ``lag``-seasons-ahead errors ``far``: the exponent e of
    spread(lag) = spread(1) * lag**e, within [0, 1/2]; 1/2 where a row has no spread to compare."""
    q_near = np.nanquantile(near, [0.1, 0.9], axis=1)
    q_far = np.nanquantile(far, [0.1, 0.9], axis=1)
    s_near, s_far = q_near[1] - q_near[0], q_far[1] - q_far[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        e = np.log(s_far / s_near) / np.log(lag)
    ok = np.isfinite(e) & (s_near > 0)
    return np.where(ok, np.clip(e, 0.0, RANDOM_WALK_EXPONENT), RANDOM_WALK_EXPONENT)


# Below this t-statistic a slope is indistinguishable from the season means' scatter.
MIN_SLOPE_T = 2.0


def season_slope(seasons: np.ndarray) -> np.ndarray:
    """Per row, the change per season of ``seasons`` (rows, k seasons, m phases): the
    least-squares slope of the season means over their index, shrunk by its t-statistic (see the
    module's docstring). Seasons without data are left out; a row with fewer than two is 0."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean(seasons, axis=2)
    ok = np.isfinite(means)
    cnt = ok.sum(axis=1)
    x = np.broadcast_to(np.arange(means.shape[1], dtype=float), means.shape)
    y = np.where(ok, means, 0.0)
    w = ok.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        xm = (x * w).sum(axis=1) / cnt
        ym = y.sum(axis=1) / cnt
        dx = np.where(ok, x - xm[:, None], 0.0)
        sxx = (dx * dx).sum(axis=1)
        slope = (dx * (y - ym[:, None])).sum(axis=1) / sxx
        fitted = ym[:, None] + slope[:, None] * (x - xm[:, None])
        sse = (np.where(ok, y - fitted, 0.0) ** 2).sum(axis=1)
        se = np.sqrt(sse / (cnt - 2) / sxx)
        tstat = np.abs(slope) / se
        shrink = np.where(cnt >= 3, np.clip(1.0 - (MIN_SLOPE_T / tstat) ** 2, 0.0, 1.0), 1.0)
        # A perfectly straight line (se 0) keeps its slope whole.
        shrink = np.where((cnt >= 3) & (se == 0), 1.0, shrink)
    return np.where(cnt >= 2, np.nan_to_num(slope * shrink), 0.0)


def newest_per_phase(arr: np.ndarray, m: int) -> np.ndarray:
    """The newest finite value of each row at each phase of the last ``t // m`` whole seasons,
    (n, m) with the newest season's phase order; NaN where none of them has one.

    Seasons are read from the newest back and only while a gap is left to fill: a series
    without gaps reads one season, not its whole history."""
    t = arr.shape[1]
    k = t // m
    last = clean(arr[:, t - m : t]) if k else np.full((arr.shape[0], m), np.nan)
    for back in range(2, k + 1):
        gaps = np.isnan(last)
        if not gaps.any():
            break
        last = np.where(gaps, clean(arr[:, t - back * m : t - (back - 1) * m]), last)
    return last


def _last_finite(arr: np.ndarray) -> np.ndarray:
    """The newest finite value of each row (NaN for a row with none)."""
    finite = np.isfinite(arr)
    idx = arr.shape[1] - 1 - np.argmax(finite[:, ::-1], axis=1)
    vals = arr[np.arange(arr.shape[0]), idx]
    return np.where(finite.any(axis=1), vals, np.nan)
