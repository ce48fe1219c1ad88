"""A fleet-level model: one gradient-boosted regressor learns from every series of a target.

Single series are often too short or too noisy to learn much from; the fleet shares patterns
(daily load shape, how spikes decay). The model is *direct* over the horizon: one row per
(series, forecast origin, step ahead) with the step as a feature, so there is no recursive error
build-up. Everything is scaled per series (minus the level of the last season, divided by the
series' spread) so big and small series teach the same shapes. Features: recent lags, the values
one and two seasons (and one week) before the target time, rolling mean/spread, the recent slope,
and the target's phase within the season and the week. Trained with absolute loss, because spikes
in metrics would otherwise dominate and MASE is an absolute-error score.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from ._util import clean
from .base import DEFAULT_LEVELS, Forecast, as_2d, check_levels, interval_keys, shape_like
from .seasonal_naive import SeasonalNaive

RECENT_LAGS = (1, 2, 3, 6)


class GlobalGBM:
    name = "global_gbm"

    def __init__(
        self,
        season_length: int = 1,
        horizon: int | None = None,
        max_rows: int = 25_000,
        max_iter: int = 100,
        seed: int = 0,
    ) -> None:
        if season_length < 1:
            raise ValueError(f"season_length must be >= 1, got {season_length}")
        self.season_length = int(season_length)
        self.horizon = horizon
        self.max_rows = max_rows
        self.max_iter = max_iter
        self.seed = seed
        self.notes: list[str] = []

    # -- features -------------------------------------------------------------------------------
    def _prepare(self, arr: np.ndarray) -> None:
        self._arr = arr
        n, t_len = arr.shape
        zero = np.zeros((n, 1))
        filled = np.nan_to_num(arr)
        self._cs = np.concatenate([zero, np.cumsum(filled, axis=1)], axis=1)
        self._cs2 = np.concatenate([zero, np.cumsum(filled * filled, axis=1)], axis=1)
        self._cn = np.concatenate([zero, np.cumsum(~np.isnan(arr), axis=1)], axis=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            scale = np.nanstd(arr, axis=1)
        self._scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)

    def _window_stats(self, rows: np.ndarray, end: np.ndarray, w: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std of each row's ``w`` values before column ``end`` (NaN where none)."""
        start = np.maximum(end - w, 0)
        cnt = self._cn[rows, end] - self._cn[rows, start]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (self._cs[rows, end] - self._cs[rows, start]) / cnt
            var = (self._cs2[rows, end] - self._cs2[rows, start]) / cnt - mean * mean
        return np.where(cnt > 0, mean, np.nan), np.sqrt(np.maximum(np.where(cnt > 1, var, np.nan), 0))

    def _value(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        t_len = self._arr.shape[1]
        ok = (cols >= 0) & (cols < t_len)
        return np.where(ok, self._arr[rows, np.clip(cols, 0, t_len - 1)], np.nan)

    def _features(
        self, rows: np.ndarray, origin: np.ndarray, step: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Feature matrix, level and scale for forecasting column ``origin + step - 1``."""
        m = self.season_length
        week = 7 * m
        lw = m if m > 1 else 12
        level, spread = self._window_stats(rows, origin, lw)
        prev_level, _ = self._window_stats(rows, origin - lw, lw)
        short, _ = self._window_stats(rows, origin, max(1, lw // 12))
        level = np.where(np.isnan(level), self._value(rows, origin - 1), level)
        scale = self._scale[rows]
        target = origin + step - 1
        rel = lambda v: (v - level) / scale  # noqa: E731 - reads better than a def here
        cols = [
            step.astype(float),
            spread / scale,
            (level - prev_level) / scale,
            rel(short),
        ]
        cols += [rel(self._value(rows, origin - lag)) for lag in RECENT_LAGS]
        season_ref = target - m * np.ceil(step / m).astype(int)
        cols += [rel(self._value(rows, season_ref)), rel(self._value(rows, season_ref - m))]
        week_ref = target - week * np.ceil(step / week).astype(int)
        cols.append(rel(self._value(rows, week_ref)))
        for period in (m, week):
            ang = 2 * np.pi * (target % period) / period
            cols += [np.sin(ang), np.cos(ang)]
        return np.column_stack(cols), level, scale

    # -- fit / predict --------------------------------------------------------------------------
    def fit(self, y: np.ndarray) -> "GlobalGBM":
        from sklearn.ensemble import HistGradientBoostingRegressor

        arr, self._single = as_2d(y)
        arr = clean(arr)
        self._prepare(arr)
        n, t_len = arr.shape
        m = self.season_length
        h = int(self.horizon or m if m > 1 else (self.horizon or 12))
        h = max(1, min(h, t_len // 3))
        self._h = h
        rng = np.random.default_rng(self.seed)
        # Origins need a season of context before them and h targets after them.
        lo = min(max(m, 12), t_len - h - 1)
        # Neighbouring origins teach nearly the same thing: a few rows per observed point suffice.
        n_rows = int(min(self.max_rows, 4 * np.isfinite(arr).sum()))
        rows = rng.integers(0, n, n_rows)
        origin = rng.integers(max(lo, 1), max(t_len - h + 1, lo + 2), n_rows)
        origin = np.minimum(origin, t_len - 1)
        step = rng.integers(1, h + 1, n_rows)
        keep = origin + step - 1 < t_len
        rows, origin, step = rows[keep], origin[keep], step[keep]
        x, level, scale = self._features(rows, origin, step)
        target = (self._value(rows, origin + step - 1) - level) / scale
        ok = np.isfinite(target)
        self._model = None
        self.notes = [""] * n
        if ok.sum() < 50:
            self.notes = ["global_gbm: too little history to train on; seasonal naive used"] * n
            self._fallback = SeasonalNaive(m).fit(arr)
            return self
        self._model = HistGradientBoostingRegressor(
            loss="absolute_error",
            max_iter=self.max_iter,
            learning_rate=0.1,
            max_leaf_nodes=31,
            min_samples_leaf=40,
            early_stopping=False,
            random_state=self.seed,
        ).fit(x[ok], target[ok])
        # In-sample scaled errors per step give the standalone intervals (auto recalibrates them).
        resid = target[ok] - self._model.predict(x[ok])
        self._resid_by_step = (step[ok], resid)
        self._fallback = SeasonalNaive(m).fit(arr)
        return self

    def predict(self, h: int, levels: Sequence[int] = DEFAULT_LEVELS) -> Forecast:
        levels = check_levels(levels)
        if self._model is None:
            return shape_like(self._fallback.predict(h, levels), self._single)
        n, t_len = self._arr.shape
        rows = np.repeat(np.arange(n), h)
        step = np.tile(np.arange(1, h + 1), n)
        origin = np.full(rows.size, t_len)
        x, level, scale = self._features(rows, origin, step)
        scaled = self._model.predict(x).reshape(n, h)
        level, scale = level.reshape(n, h), scale.reshape(n, h)
        mean = level + scaled * scale
        out: Forecast = {"mean": mean}
        steps_seen, resid = self._resid_by_step
        for lv in levels:
            q = _quantiles_by_step(steps_seen, resid, h, lv)
            lo_key, hi_key = interval_keys(lv)
            out[lo_key] = mean + q[0][None, :] * scale
            out[hi_key] = mean + q[1][None, :] * scale
        bad = ~np.all(np.isfinite(mean), axis=1)
        if bad.any():
            fb = self._fallback.predict(h, levels)
            for key in out:
                out[key][bad] = fb[key][bad]
            for i in np.flatnonzero(bad):
                self.notes[i] = "global_gbm: no usable recent history; seasonal naive used"
        return shape_like(out, self._single)


def _quantiles_by_step(steps: np.ndarray, resid: np.ndarray, h: int, level: int) -> np.ndarray:
    """Lower/upper residual quantiles for each step 1..h, pooled over neighbouring steps."""
    out = np.zeros((2, h))
    probs = [(100 - level) / 200, (100 + level) / 200]
    for k in range(1, h + 1):
        near = np.abs(steps - k) <= max(1, k // 4)
        sample = resid[near] if near.sum() >= 30 else resid
        out[:, k - 1] = np.quantile(sample, probs) if sample.size else 0.0
    return out
