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

import functools
import warnings
from typing import Callable, Sequence

import numpy as np

from ..interrupt import checkpoint
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
from .seasonal_naive import SeasonalNaive

RECENT_LAGS = (1, 2, 3, 6)
# Series with a value beyond this are not learnt from: their squares (in the running sums) overflow,
# so their scale and features are meaningless, and one such series would push the shared trees'
# leaves to astronomical values for every series. They are forecast by seasonal naive instead.
MAX_MAGNITUDE = 1e150
# Feature rows (one per series and step) that predict builds and scores at a time.
PREDICT_BLOCK_ROWS = 1 << 16


class GlobalGBM(ModelBase):
    name = "global_gbm"
    # One regressor for the whole fleet: a row's forecast depends on what the others taught it.
    capabilities = Capabilities(learns_across_series=True)

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
    # Nothing of full history size is kept: running sums are computed block by block of series at
    # just the columns the sampled rows ask for, and predict keeps the running sums at the
    # forecast origin plus the last week of values (all its features look back at most a week).
    def _prepare(self, arr: np.ndarray) -> None:
        n, t_len = arr.shape
        scale, magnitude = np.empty(n), np.empty(n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for a, b in row_blocks(n, t_len):
                block = clean(arr[a:b])
                magnitude[a:b] = np.nanmax(np.abs(block), axis=1)
                scale[a:b] = np.nanstd(block, axis=1)
        self._too_large = np.flatnonzero(magnitude > MAX_MAGNITUDE)
        self._scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)

    @staticmethod
    def _prefix_sums(arr: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Sum, sum of squares and count of the finite values before column ``cols[k, i]`` of row
        ``rows[i]``: (3, *cols.shape), as if indexing the (n, t_len + 1) cumulative-sum tables."""
        n, t_len = arr.shape
        # Negative columns wrap around and out-of-range ones raise, as when indexing the tables.
        cols = np.arange(t_len + 1)[None, :][np.zeros_like(cols), cols]
        out = np.empty((3,) + cols.shape)
        order = np.argsort(rows, kind="stable")
        blocks = row_blocks(n, t_len + 1)
        bounds = np.searchsorted(rows[order], [a for a, _ in blocks] + [n])
        for k, (a, b) in enumerate(blocks):
            pick = order[bounds[k] : bounds[k + 1]]
            if pick.size == 0:
                continue
            block = clean(arr[a:b])
            if block.size and np.nanmax(np.abs(block), initial=0) > MAX_MAGNITUDE:
                block = np.where(np.abs(block) > MAX_MAGNITUDE, np.nan, block)  # see MAX_MAGNITUDE
            zero = np.zeros((b - a, 1))
            filled = np.nan_to_num(block)
            r, c = rows[pick] - a, cols[:, pick]
            out[0][:, pick] = np.concatenate([zero, np.cumsum(filled, axis=1)], axis=1)[r, c]
            out[1][:, pick] = np.concatenate([zero, np.cumsum(filled * filled, axis=1)], axis=1)[
                r, c
            ]
            out[2][:, pick] = np.concatenate([zero, np.cumsum(~np.isnan(block), axis=1)], axis=1)[
                r, c
            ]
        return out

    @staticmethod
    def _window_stats(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std of the values between two columns, from their running sums (3, 2, k): NaN
        where there are none."""
        cnt = sums[2, 0] - sums[2, 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (sums[0, 0] - sums[0, 1]) / cnt
            var = (sums[1, 0] - sums[1, 1]) / cnt - mean * mean
        return np.where(cnt > 0, mean, np.nan), np.sqrt(
            np.maximum(np.where(cnt > 1, var, np.nan), 0)
        )

    @staticmethod
    def _value(
        data: np.ndarray, first_col: int, t_len: int, rows: np.ndarray, cols: np.ndarray
    ) -> np.ndarray:
        """Values at (rows, cols) of a history of ``t_len`` columns of which ``data`` holds the
        columns from ``first_col`` on; NaN outside the history."""
        ok = (cols >= 0) & (cols < t_len)
        if (ok & (cols < first_col)).any():
            raise RuntimeError("global_gbm: a feature looks back further than the history kept")
        vals = data[rows, np.clip(cols - first_col, 0, data.shape[1] - 1)]
        return np.where(ok, np.where(np.isfinite(vals), vals, np.nan), np.nan)

    def _windows(self, origin: np.ndarray) -> list[np.ndarray]:
        """Column pairs (end, start) of the windows the features summarise, in _features' order."""
        lw = self._lw()
        out = []
        for end, w in ((origin, lw), (origin - lw, lw), (origin, max(1, lw // 12))):
            out += [end, np.maximum(end - w, 0)]
        return out

    def _lw(self) -> int:
        m = self.season_length
        return m if m > 1 else 12

    def _features(
        self,
        sums: np.ndarray,
        value: Callable[[np.ndarray, np.ndarray], np.ndarray],
        rows: np.ndarray,
        origin: np.ndarray,
        step: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Feature matrix, level and scale for forecasting column ``origin + step - 1``, given the
        running sums at ``self._windows(origin)`` (3, 6, k) and a ``value(rows, cols)`` lookup."""
        m = self.season_length
        week = 7 * m
        level, spread = self._window_stats(sums[:, 0:2])
        prev_level, _ = self._window_stats(sums[:, 2:4])
        short, _ = self._window_stats(sums[:, 4:6])
        level = np.where(np.isnan(level), value(rows, origin - 1), level)
        scale = self._scale[rows]
        target = origin + step - 1
        rel = lambda v: (v - level) / scale  # noqa: E731 - reads better than a def here
        cols = [
            step.astype(float),
            spread / scale,
            (level - prev_level) / scale,
            rel(short),
        ]
        cols += [rel(value(rows, origin - lag)) for lag in RECENT_LAGS]
        season_ref = target - m * np.ceil(step / m).astype(int)
        cols += [rel(value(rows, season_ref)), rel(value(rows, season_ref - m))]
        week_ref = target - week * np.ceil(step / week).astype(int)
        cols.append(rel(value(rows, week_ref)))
        for period in (m, week):
            ang = 2 * np.pi * (target % period) / period
            cols += [np.sin(ang), np.cos(ang)]
        return np.column_stack(cols), level, scale

    def _lookback(self) -> int:
        """How far before the forecast origin predict's features read values (see _features)."""
        return max(7 * self.season_length, max(RECENT_LAGS) + 1)

    # -- fit / predict --------------------------------------------------------------------------
    def fit(self, y: np.ndarray) -> "GlobalGBM":
        from sklearn.ensemble import HistGradientBoostingRegressor

        arr, self._single = as_2d(y)  # cleaned block by block or value by value, never copied
        self._prepare(arr)
        n, t_len = arr.shape
        self._n, self._t_len = n, t_len
        m = self.season_length
        h = int(self.horizon or m if m > 1 else (self.horizon or 12))
        h = max(1, min(h, t_len // 3))
        self._h = h
        rng = np.random.default_rng(self.seed)
        # Origins need a season of context before them and h targets after them.
        lo = min(max(m, 12), t_len - h - 1)
        # Neighbouring origins teach nearly the same thing: a few rows per observed point suffice.
        observed = sum(int(np.isfinite(arr[a:b]).sum()) for a, b in row_blocks(n, t_len))
        n_rows = int(min(self.max_rows, 4 * observed))
        trainable = np.setdiff1d(np.arange(n), self._too_large)
        if not trainable.size:
            n_rows = 0
        rows = trainable[rng.integers(0, max(trainable.size, 1), n_rows)]
        origin = rng.integers(max(lo, 1), max(t_len - h + 1, lo + 2), n_rows)
        origin = np.minimum(origin, t_len - 1)
        step = rng.integers(1, h + 1, n_rows)
        keep = origin + step - 1 < t_len
        rows, origin, step = rows[keep], origin[keep], step[keep]
        value = functools.partial(self._value, arr, 0, t_len)
        sums = self._prefix_sums(arr, rows, np.stack(self._windows(origin)))
        x, level, scale = self._features(sums, value, rows, origin, step)
        target = (value(rows, origin + step - 1) - level) / scale
        ok = np.isfinite(target)
        self._model = None
        self.notes = [""] * n
        if ok.sum() < 50:
            self.notes = ["global_gbm: too little history to train on; seasonal naive used"] * n
            self._fallback = SeasonalNaive(m).fit(arr)
            self._fallback_rows = np.arange(n)
            return self
        # A feature without a single value (the week lag on less than a week of history) stops
        # HistGradientBoosting's binning: it is left out, at fit and at predict.
        train = x[ok]
        self._columns = np.flatnonzero(~np.isnan(train).all(axis=0))
        train = train[:, self._columns]
        self._model = HistGradientBoostingRegressor(
            loss="absolute_error",
            max_iter=self.max_iter,
            learning_rate=0.1,
            max_leaf_nodes=31,
            min_samples_leaf=40,
            early_stopping=False,
            random_state=self.seed,
        )
        checkpoint()  # the boosting itself is one library call: abandoned, not interrupted, on stop
        self._model.fit(train, target[ok])
        # In-sample scaled errors per step give the standalone intervals (auto recalibrates them).
        resid = target[ok] - self._model.predict(train)
        self._resid_by_step = (step[ok], resid)
        # What predict needs from the history: running sums at the forecast origin, the last week.
        all_rows = np.arange(n)
        origin_cols = np.array([int(c) for c in self._windows(np.array(t_len))])
        self._origin_sums = self._prefix_sums(arr, all_rows, origin_cols[:, None].repeat(n, axis=1))
        first_col = max(0, t_len - self._lookback())
        self._tail, self._tail_from = clean(arr[:, first_col:]), first_col
        # Rows with no level at the origin cannot be forecast; seasonal naive takes them (only they
        # are fitted, so the fallback costs nothing for a healthy fleet).
        _, level, _ = self._features(
            self._origin_sums, self._tail_value, all_rows, np.full(n, t_len), np.ones(n, dtype=int)
        )
        self._fallback_rows = np.union1d(np.flatnonzero(~np.isfinite(level)), self._too_large)
        self._fallback = (
            SeasonalNaive(m).fit(arr[self._fallback_rows]) if self._fallback_rows.size else None
        )
        for i in self._too_large:
            self.notes[i] = (
                f"global_gbm: values beyond {MAX_MAGNITUDE:g} cannot be scaled "
                "with the fleet; seasonal naive used"
            )
        return self

    def _tail_value(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        return self._value(self._tail, self._tail_from, self._t_len, rows, cols)

    def predict(self, h: int, levels: Sequence[int] = DEFAULT_LEVELS) -> Forecast:
        levels = check_levels(levels)
        if self._model is None:
            return shape_like(self._fallback.predict(h, levels), self._single)
        n, t_len = self._n, self._t_len
        mean, scale = np.empty((n, h)), np.empty((n, h))
        # One feature row per (series, step): built and scored a block of series at a time.
        for a, b in row_blocks(n, h, PREDICT_BLOCK_ROWS):
            checkpoint()
            rows = np.repeat(np.arange(a, b), h)
            step = np.tile(np.arange(1, h + 1), b - a)
            origin = np.full(rows.size, t_len)
            sums = self._origin_sums[:, :, rows]
            x, level, sc = self._features(sums, self._tail_value, rows, origin, step)
            scaled = self._model.predict(x[:, self._columns]).reshape(b - a, h)
            level, sc = level.reshape(b - a, h), sc.reshape(b - a, h)
            mean[a:b] = level + scaled * sc
            scale[a:b] = sc
        out: Forecast = {"mean": mean}
        steps_seen, resid = self._resid_by_step
        for lv in levels:
            q = _quantiles_by_step(steps_seen, resid, h, lv)
            lo_key, hi_key = interval_keys(lv)
            out[lo_key] = mean + q[0][None, :] * scale
            out[hi_key] = mean + q[1][None, :] * scale
        bad = ~np.all(np.isfinite(mean), axis=1)
        bad[self._too_large] = True
        if bad.any():
            # Only rows without a level at the origin can get here (see fit), and those have a
            # fallback fitted; anything else would stay non-finite rather than be made up.
            covered = np.isin(self._fallback_rows, np.flatnonzero(bad))
            if covered.any():
                fb = self._fallback.predict(h, levels)
                for key in out:
                    out[key][self._fallback_rows[covered]] = fb[key][covered]
                for i in self._fallback_rows[covered]:
                    self.notes[i] = (
                        self.notes[i] or "global_gbm: no usable recent history; seasonal naive used"
                    )
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
