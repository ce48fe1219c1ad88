"""The fast path: additive Holt-Winters fitted to thousands of series at once in numpy.

Every series runs through the same recursion for a small grid of smoothing parameters; the arrays
are (grid, series), so a time step costs a handful of vector operations whatever the fleet size.
Each series then keeps the grid point with the smallest multi-step error on its own newest
history (two rolling origins, up to one season ahead), or seasonal naive when that did better, so
the fast path is never knowingly worse than the baseline.

The recursion is the error-correction form (Hyndman et al., *Forecasting with Exponential
Smoothing*, ch. 3): ``l += phi*b + alpha*e``, ``b = phi*b + alpha*beta*e``, ``s += gamma*e``.
A gap (NaN) updates nothing, so the state simply coasts over it.

Holdout errors are gathered while the recursion runs rather than from saved state: a seasonal
index is not touched again until a season later, so within a holdout window of at most one season
the current seasonal entry still equals the one the origin would have used.
"""

from __future__ import annotations

import itertools
import warnings
from typing import Sequence

import numpy as np

from .arrays import clean_shared
from .intervals import normal_intervals
from .base import DEFAULT_LEVELS, Capabilities, Forecast, ModelBase, as_2d, check_levels, shape_like
from .seasonal_naive import SeasonalNaive

ALPHAS = (0.05, 0.2, 0.5)
GAMMAS = (0.05, 0.2)
TRENDS = ((0.0, 1.0), (0.05, 0.9))  # (beta, phi): none, and a damped trend that fades in ~10 steps
# For horizons of months: a trend that carries on for ~50 steps (phi 0.98: the damped forecast
# adds up to phi / (1 - phi) steps of the current trend) or ~20, learnt slowly so that one
# season's swing is not taken for growth; no trend stays on the grid, so a flat series stays flat.
LONG_TRENDS = ((0.0, 1.0), (0.01, 0.98), (0.05, 0.95))


class FastHoltWinters(ModelBase):
    name = "fast_hw"
    capabilities = Capabilities(vectorised=True)

    def __init__(
        self,
        season_length: int = 1,
        horizon: int | None = None,
        origins: int = 2,
        trends: Sequence[tuple[float, float]] = TRENDS,
        name: str = "fast_hw",
    ) -> None:
        if season_length < 1:
            raise ValueError(f"season_length must be >= 1, got {season_length}")
        self.name = name
        self.trends = tuple((float(b), float(p)) for b, p in trends)
        self.season_length = int(season_length)
        self.horizon = horizon
        self.origins = max(1, int(origins))
        self.notes: list[str] = []

    def _grid(self) -> np.ndarray:
        """Rows of (alpha, beta, gamma, phi, seasonal?); the non-seasonal rows matter because many
        machine metrics have no daily shape, and a smoothed level beats echoing yesterday's noise."""
        gammas = GAMMAS if self.season_length > 1 else (0.0,)
        rows = [
            (a, b, g, p, 1.0) for a, g, (b, p) in itertools.product(ALPHAS, gammas, self.trends)
        ]
        if self.season_length > 1:
            rows += [(a, b, 0.0, p, 0.0) for a, (b, p) in itertools.product(ALPHAS, self.trends)]
        return np.array(rows)

    def fit(self, y: np.ndarray) -> "FastHoltWinters":
        arr, self._single = as_2d(y)
        arr = clean_shared(arr)  # read only below: no copy unless there are infinities
        n, t_len = arr.shape
        m = self.season_length
        grid = self._grid()
        g = len(grid)
        alpha, beta, gamma, phi, seasonal = (grid[:, j][:, None] for j in range(5))

        valid = ~np.isnan(arr)
        has = valid.any(axis=1)
        first = np.where(has, np.argmax(valid, axis=1), t_len)
        length = t_len - first
        hold = self._holdout_len(t_len)
        origins = [t_len - hold * (k + 1) for k in range(self.origins)]
        # Too short to learn a season and still hold some history out: the baseline is safer.
        short = length < 2 * m + hold * self.origins

        level0, season0 = _initial_state(arr, first, m)
        lvl = np.repeat(level0[None, :], g, axis=0)
        trend = np.zeros((g, n))
        season = season0.T[:, None, :] * seasonal[None, :, :]  # (phase, grid, series)
        sse = np.zeros((g, n))
        cnt = np.zeros(n)
        hold_err = np.zeros((g, n))
        hold_cnt = np.zeros(n)
        damp_sum = np.cumsum(phi ** np.arange(1, hold + 1)[None, :], axis=1)  # (grid, hold)
        origin_state: tuple[np.ndarray, np.ndarray] | None = None
        origin_at = -1
        warm = first + m  # errors before a full season has been seen are initialisation noise

        # Before the first value of any row nothing is updated (the trend starts at 0, so the
        # level does not move): a matrix of young or cut series skips its empty columns.
        t_start = int(min(first.min(initial=t_len), *origins)) if t_len else 0
        for t in range(max(t_start, 0), t_len):
            if t in origins:
                origin_state, origin_at = (lvl.copy(), trend.copy()), t
            s = season[t % m]
            yt = arr[:, t]
            ok = valid[:, t]
            err = yt[None, :] - (lvl + phi * trend + s)
            e0 = np.where(ok[None, :], err, 0.0)
            if origin_state is not None and t - origin_at < hold:
                k = t - origin_at
                fc = origin_state[0] + damp_sum[:, k : k + 1] * origin_state[1] + s
                hold_err += np.where(ok[None, :], np.abs(yt[None, :] - fc), 0.0)
                hold_cnt += ok
            use = ok & (t >= warm)
            sse += np.where(use[None, :], e0 * e0, 0.0)
            cnt += use
            lvl = lvl + phi * trend + alpha * e0
            trend = phi * trend + alpha * beta * e0
            season[t % m] = s + gamma * e0

        best = np.argmin(hold_err, axis=0)
        cols = np.arange(n)
        sn_err = _seasonal_naive_holdout(arr, origins, hold, m)
        use_sn = short | (sn_err < hold_err[best, cols]) | ~np.isfinite(lvl[best, cols])
        self.grid_choice = best
        self.params = grid[best]
        self._level = lvl[best, cols]
        self._trend = trend[best, cols]
        self._season = season[:, best, cols].T  # (series, phase)
        self._sigma = np.sqrt(sse[best, cols] / np.maximum(cnt, 1))
        self._t_len = t_len
        self._use_sn = use_sn
        self.notes = [
            (
                f"{self.name}: {length[i]} points, fewer than two seasons plus the holdout "
                f"({2 * m + hold * self.origins}); seasonal naive used"
                if short[i]
                else (f"{self.name}: seasonal naive did better on the holdout" if use_sn[i] else "")
            )
            for i in range(n)
        ]
        if use_sn.any():
            self._sn = SeasonalNaive(m).fit(arr[use_sn])
        return self

    def _holdout_len(self, t_len: int) -> int:
        h = self.horizon or self.season_length
        if self.season_length > 1:
            h = min(h, self.season_length)
        return int(max(1, min(h, t_len // (2 * self.origins + 2) or 1)))

    def predict(self, h: int, levels: Sequence[int] = DEFAULT_LEVELS) -> Forecast:
        levels = check_levels(levels)
        m = self.season_length
        k = np.arange(1, h + 1)
        alpha, beta, gamma, phi = (self.params[:, j][:, None] for j in range(4))
        damp = np.cumsum(phi ** k[None, :], axis=1)
        phase = (self._t_len + k - 1) % m
        mean = self._level[:, None] + damp * self._trend[:, None] + self._season[:, phase]
        # Forecast variance of the additive model (Hyndman et al. 2008, table 6.1), class 1.
        c = alpha * (1 + beta * damp[:, :-1]) + gamma * ((k[:-1] % m) == 0)[None, :]
        var_ratio = np.concatenate([np.ones((len(mean), 1)), 1 + np.cumsum(c * c, axis=1)], axis=1)
        sigma = self._sigma[:, None] * np.sqrt(var_ratio)
        out = normal_intervals(mean, sigma, levels)
        if self._use_sn.any():
            fb = self._sn.predict(h, levels)
            for key in out:
                out[key][self._use_sn] = fb[key]
        return shape_like(out, self._single)


def _initial_state(arr: np.ndarray, first: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Level and seasonal indices (by absolute phase t % m) from the first seasons of each row."""
    n, t_len = arr.shape
    k = int(max(1, min(3, (t_len // m) // 2)))
    idx = np.minimum(first[:, None] + np.arange(k * m)[None, :], t_len - 1)
    win = np.take_along_axis(arr, idx, axis=1)
    beyond = (first[:, None] + np.arange(k * m)[None, :]) >= t_len
    win = np.where(beyond, np.nan, win)
    with warnings.catch_warnings():  # all-NaN phases are expected in gappy rows
        warnings.simplefilter("ignore", RuntimeWarning)
        level = np.nan_to_num(np.nanmean(win, axis=1))
        rel = np.nanmean((win - level[:, None]).reshape(n, k, m), axis=1)
        centre = np.nan_to_num(np.nanmean(rel, axis=1))
    rel = np.nan_to_num(rel - centre[:, None]) if m > 1 else np.zeros((n, 1))
    phase_idx = (np.arange(m)[None, :] - first[:, None]) % m
    return level, np.take_along_axis(rel, phase_idx, axis=1)


def _seasonal_naive_holdout(arr: np.ndarray, origins: list[int], hold: int, m: int) -> np.ndarray:
    """Sum of absolute errors of seasonal naive over the same holdout windows as the grid."""
    total = np.zeros(arr.shape[0])
    for o in origins:
        sn = SeasonalNaive(m, intervals=False).fit(arr[:, :o]).predict(hold)["mean"]
        actual = arr[:, o : o + hold]
        total += np.nansum(np.abs(actual - sn), axis=1)
    return np.nan_to_num(total, nan=np.inf)
