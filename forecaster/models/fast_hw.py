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

import copy
import itertools
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .arrays import clean_shared, row_blocks
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
        arr, single = as_2d(y)
        # Read only below: no copy unless there are infinities.
        self._fit_ends(clean_shared(arr), [arr.shape[1]], [self])
        self._single = single
        return self

    def fit_prefixes(self, y: np.ndarray, ends: Sequence[int]) -> list["FastHoltWinters"]:
        """Fitted copies of this model, one per entry of ``ends``: the one for ``end`` is exactly
        ``fit(y[:, :end])``.

        A backtest fits the same model on the history before each of its origins; the recursion
        is the same up to each origin, so it runs once over the history and each fit's state is
        taken at its end. That holds for the rows whose start-up window (the first seasons, see
        :func:`_initial_state`) lies before every end; any other row (one that joined late) is
        fitted once per end as ``fit`` would."""
        arr, single = as_2d(y)
        ends = [int(e) for e in ends]
        if any(e < 1 or e > arr.shape[1] for e in ends):
            raise ValueError(f"ends must lie in 1..{arr.shape[1]}, got {ends}")
        models = [copy.copy(self) for _ in ends]
        self._fit_ends(clean_shared(arr), ends, models)
        for model in models:
            model._single = single
        return models

    def _fit_ends(self, arr: np.ndarray, ends: list[int], models: list["FastHoltWinters"]) -> None:
        n = arr.shape[0]
        m = self.season_length
        first = _first_finite(arr)
        start_seasons = {_start_seasons(end, m) for end in ends}
        states: dict[int, _EndState] = {}
        late = np.ones(n, dtype=bool)
        if len(start_seasons) == 1:
            late = first + start_seasons.pop() * m > min(ends)
            if not late.all():  # one pass for every row; the late ones are redone below
                states = self._recursion(arr, first, ends)
        for end in ends:
            if not late.any():
                break
            if late.all():
                states[end] = self._recursion(arr[:, :end], np.minimum(first, end), [end])[end]
                continue
            redo = self._recursion(arr[late, :end], np.minimum(first[late], end), [end])[end]
            for key, value in vars(redo).items():
                getattr(states[end], key)[late] = value
        for end, model in zip(ends, models):
            model._finish(arr[:, :end], np.minimum(first, end), states[end])

    def _origins(self, t_len: int) -> tuple[int, list[int]]:
        """The holdout length and the origins of the grid's holdout windows in a history."""
        hold = self._holdout_len(t_len)
        return hold, [t_len - hold * (k + 1) for k in range(self.origins)]

    def _recursion(
        self, arr: np.ndarray, first: np.ndarray, ends: list[int]
    ) -> dict[int, "_EndState"]:
        """Run every grid point's recursion over ``arr`` up to the largest of ``ends``, and keep
        for each end the state of the grid point with the smallest holdout error before it."""
        n = arr.shape[0]
        m = self.season_length
        grid = self._grid()
        g = len(grid)
        alpha, beta, gamma, phi, seasonal = (grid[:, j][:, None] for j in range(5))
        alpha_beta = alpha * beta

        level0, season0 = _initial_state(arr, first, m, _start_seasons(min(ends), m))
        lvl = np.repeat(level0[None, :], g, axis=0)
        trend = np.zeros((g, n))
        season = season0.T[:, None, :] * seasonal[None, :, :]  # (phase, grid, series)
        sse = np.zeros((g, n))
        cnt = np.zeros(n)
        warm = first + m  # errors before a full season has been seen are initialisation noise
        warming_until = int(warm.max(initial=0))
        trackers = [_Holdout(end, *self._origins(end), phi, g, n) for end in ends]
        states: dict[int, _EndState] = {}
        # Scratch arrays: each step works in place, with the operations in the order of
        # ``level + phi * trend + alpha * e0`` etc. (left to right), so the numbers are those of
        # the plain expressions bit for bit, without a temporary per operation.
        pt, lp, err, tmp = (np.empty((g, n)) for _ in range(4))

        def keep(tracker: "_Holdout") -> None:
            states[tracker.end] = tracker.state(lvl, trend, season, sse, cnt)

        # Before the first value of any row nothing is updated (the trend starts at 0, so the
        # level does not move): a matrix of young or cut series skips its empty columns.
        t_start = min(
            [int(first.min(initial=max(ends)))] + [o for tr in trackers for o in tr.origins]
        )
        t_end = max(ends)
        for t in range(max(t_start, 0), t_end):
            snapshot = None
            for tracker in trackers:
                if t == tracker.end:
                    keep(tracker)
                if t in tracker.origins:
                    snapshot = snapshot or (lvl.copy(), trend.copy())
                    tracker.origin_state, tracker.origin_at = snapshot, t
            s = season[t % m]
            yt = arr[:, t]
            ok = ~np.isnan(yt)
            gaps = np.flatnonzero(~ok)
            # err = y - (level + phi * trend + season); e0: err, 0 where y is missing
            np.multiply(phi, trend, out=pt)
            np.add(lvl, pt, out=lp)
            np.add(lp, s, out=err)
            np.subtract(yt, err, out=err)
            if gaps.size:
                err[:, gaps] = 0.0
            errors: dict[tuple[int, int], np.ndarray] = {}
            for tracker in trackers:
                tracker.add(t, yt, ok, s, errors)
            np.multiply(err, err, out=tmp)  # 0 where y is missing
            use = ok
            if t < warming_until:
                use = ok & (t >= warm)
                tmp[:, ~use] = 0.0
            sse += tmp
            cnt += use
            np.multiply(alpha, err, out=tmp)
            np.add(lp, tmp, out=lvl)  # level + phi * trend + alpha * e0
            np.multiply(alpha_beta, err, out=tmp)
            np.add(pt, tmp, out=trend)  # phi * trend + alpha * beta * e0
            np.multiply(gamma, err, out=tmp)
            np.add(s, tmp, out=s)  # the season entry just used: += gamma * e0
        for tracker in trackers:
            if tracker.end not in states:
                keep(tracker)
        return states

    def _finish(self, arr: np.ndarray, first: np.ndarray, state: "_EndState") -> None:
        """Set the fitted model from the recursion's state at the end of ``arr``."""
        n, t_len = arr.shape
        m = self.season_length
        length = t_len - first
        hold, origins = self._origins(t_len)
        # Too short to learn a season and still hold some history out: the baseline is safer.
        short = length < 2 * m + hold * self.origins
        sn_err = _seasonal_naive_holdout(arr, origins, hold, m)
        use_sn = short | (sn_err < state.hold_err) | ~np.isfinite(state.level)
        self.grid_choice = state.best
        self.params = self._grid()[state.best]
        self._level = state.level
        self._trend = state.trend
        self._season = state.season  # (series, phase)
        self._sigma = np.sqrt(state.sse / np.maximum(state.cnt, 1))
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


@dataclass
class _EndState:
    """Per series, the chosen grid point's state at the end of one fit's history."""

    best: np.ndarray  # (series,) grid index
    level: np.ndarray
    trend: np.ndarray
    season: np.ndarray  # (series, phase)
    sse: np.ndarray
    cnt: np.ndarray
    hold_err: np.ndarray  # the chosen grid point's holdout error


class _Holdout:
    """The holdout errors of one fit (a history ending at ``end``) gathered while the shared
    recursion runs: one origin's state at a time, as in a fit of that history alone."""

    def __init__(self, end: int, hold: int, origins: list[int], phi: np.ndarray, g: int, n: int):
        self.end, self.hold, self.origins = end, hold, origins
        self.damp_sum = np.cumsum(phi ** np.arange(1, hold + 1)[None, :], axis=1)  # (grid, hold)
        self.origin_state: tuple[np.ndarray, np.ndarray] | None = None
        self.origin_at = -1
        self.err = np.zeros((g, n))

    def add(
        self,
        t: int,
        yt: np.ndarray,
        ok: np.ndarray,
        s: np.ndarray,
        errors: dict[tuple[int, int], np.ndarray],
    ) -> None:
        """Add step ``t``'s holdout errors; ``errors`` holds this step's errors by (origin,
        steps ahead), the same for every fit whose holdout shares that origin."""
        if t >= self.end or self.origin_state is None or t - self.origin_at >= self.hold:
            return
        k = t - self.origin_at
        err = errors.get((self.origin_at, k))
        if err is None:
            fc = self.origin_state[0] + self.damp_sum[:, k : k + 1] * self.origin_state[1] + s
            err = errors[self.origin_at, k] = np.where(ok[None, :], np.abs(yt[None, :] - fc), 0.0)
        self.err += err

    def state(
        self,
        lvl: np.ndarray,
        trend: np.ndarray,
        season: np.ndarray,
        sse: np.ndarray,
        cnt: np.ndarray,
    ) -> _EndState:
        best = np.argmin(self.err, axis=0)
        cols = np.arange(best.size)
        return _EndState(
            best=best,
            level=lvl[best, cols],
            trend=trend[best, cols],
            season=season[:, best, cols].T,
            sse=sse[best, cols],
            cnt=cnt.copy(),
            hold_err=self.err[best, cols],
        )


def _first_finite(arr: np.ndarray) -> np.ndarray:
    """Per row, the column of the first value (the row's length if it has none)."""
    n, t_len = arr.shape
    first = np.full(n, t_len)
    for a, b in row_blocks(n, t_len):
        valid = ~np.isnan(arr[a:b])
        first[a:b] = np.where(valid.any(axis=1), np.argmax(valid, axis=1), t_len)
    return first


def _start_seasons(t_len: int, m: int) -> int:
    """How many seasons from each row's first value set its initial level and seasonal indices."""
    return int(max(1, min(3, (t_len // m) // 2)))


def _initial_state(
    arr: np.ndarray, first: np.ndarray, m: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Level and seasonal indices (by absolute phase t % m) from the first ``k`` seasons of each
    row."""
    n, t_len = arr.shape
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
