"""Harmonic regression for long cycles: a year of daily data as a smooth shape, vectorised.

A yearly cycle seen two to eight times cannot be learnt phase by phase (365 values from a few
noisy repeats, and a holiday or an incident in one year is copied into every other); Prophet and
dynamic harmonic regression learn it as a few Fourier terms instead. Here each series is

    y_t = level + slope * t + season(t) + year(t) + e_t

with ``season`` the main (weekly) cycle as a full set of Fourier terms, ``year`` each longer cycle
as K Fourier pairs, fitted by least squares on a design matrix shared by the fleet (one batched
solve per group of rows with the same choice), robustly: Huber weights, so an incident or a
holiday does not bend the yearly shape. Per series:

- K (0, 3, 6 or 10 pairs) by a small-sample AIC, so a series without a yearly cycle keeps none;
- the trend by a holdout at the horizon (the newest ``horizon`` steps forecast from the rest):
  linear, damped (the slope fades over about one horizon) or flat (the level of the newest
  season carried on), the last being where a series changed level;
- the residuals of the newest season (where the series is now, against the regression) are
  carried into the forecast and fade as fast as the residuals' own season-to-season
  autocorrelation says (for the flat trend they stay: that is the level).

Intervals widen with the steps ahead as the holdout's errors did: the in-sample spread at the
first step, growing like a random walk's variance to the holdout's mean squared error over the
holdout (never narrower than the in-sample spread), and on beyond it at the same rate; the band
is the in-sample residuals' own quantile (heavy tails stay heavy) times that spread.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from .arrays import clean, row_blocks
from .base import DEFAULT_LEVELS, Capabilities, Forecast, ModelBase, as_2d, check_levels, shape_like
from .multi_season import MIN_CYCLES

#: Fourier pairs tried for each long cycle (0: none). Ten pairs draw a year's shape at the
#: resolution of about a month, as Prophet's default does.
ORDERS = (0, 3, 6, 10)
#: The main season's terms: a full set (as many as seasonal dummies) up to this many pairs.
MAX_SHORT_ORDER = 12
TRENDS = ("linear", "damped", "flat")
HUBER_K = 1.345  # the usual Huber constant: 95% efficiency on normal errors
IRLS_STEPS = 2


class HarmonicRegression(ModelBase):
    """Trend + Fourier seasons fitted by robust least squares, per series, on the whole fleet."""

    name = "harmonic"
    capabilities = Capabilities(vectorised=True, multi_seasonal=True, long_cycles=True)

    def __init__(
        self,
        season_length: int = 1,
        seasons: Sequence[int] = (),
        horizon: int | None = None,
        orders: Sequence[int] = ORDERS,
    ) -> None:
        if season_length < 1:
            raise ValueError(f"season_length must be >= 1, got {season_length}")
        self.season_length = int(season_length)
        self.seasons = tuple(sorted({int(p) for p in seasons if int(p) > self.season_length}))
        self.horizon = horizon
        self.orders = tuple(sorted({int(k) for k in orders if int(k) >= 0})) or (0,)
        self.notes: list[str] = []

    # -- fit ------------------------------------------------------------------------------------
    def fit(self, y: np.ndarray) -> "HarmonicRegression":
        arr, self._single = as_2d(y)
        arr = clean(arr)
        n, t_len = arr.shape
        self._t_len = t_len
        m = self.season_length
        h = max(int(self.horizon or 2 * m), 1)
        valid = np.isfinite(arr)
        first = np.where(valid.any(axis=1), np.argmax(valid, axis=1), t_len)
        # Long cycles the history holds at least MIN_CYCLES of; rows shorter than that get none.
        self._long = [p for p in self.seasons if t_len >= MIN_CYCLES * p]
        order = self._choose_orders(arr, first)
        holdout = min(h, t_len // 3)
        trend = np.full(n, TRENDS.index("damped"))
        err_ms = np.full(n, np.nan)
        if holdout >= max(m, 2) and t_len - holdout > 2 * max(m, 2):
            trend, err_ms = self._choose_trend(arr, first, order, holdout)
        self._order, self._trend, self._holdout = order, trend, holdout
        self._state = self._fit_rows(arr, order, trend)
        resid = self._state["resid"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            sigma = np.sqrt(np.nanmean(resid**2, axis=1))
            z = np.abs(resid) / sigma[:, None]
            self._z = {}
            for lv in DEFAULT_LEVELS:
                self._z[lv] = np.nanquantile(z, lv / 100, axis=1)
        self._z_rows = z  # other levels ask for their own quantile in predict
        sigma = np.where(np.isfinite(sigma) & (sigma > 0), sigma, np.nan)
        # Variance added per step ahead, so that the mean variance over the holdout matches its
        # mean squared error; without a holdout, the random walk's growth over a season.
        k_mean = (holdout + 1) / 2
        grow = np.where(np.isfinite(err_ms), np.maximum(err_ms - sigma**2, 0.0) / k_mean, np.nan)
        grow = np.where(np.isfinite(grow), grow, sigma**2 / max(m, 1))
        self._sigma, self._grow = sigma, grow
        enough = valid.sum(axis=1) >= 2 * self._width(ORDERS[-1] if self._long else 0)
        self._dead = ~enough | ~np.isfinite(sigma)
        self.notes = [self._note(i) for i in range(n)]
        return self

    def row_models(self, n: int) -> list[str]:
        """``harmonic(+365)`` for a row that kept the yearly terms, as other models name the long
        cycle they use."""
        cycles = "".join(f"(+{p})" for p in self._long)
        return [f"{self.name}{cycles if k else ''}" for k in self._order[:n]]

    def _note(self, i: int) -> str:
        if self._dead[i]:
            return "too little history for a harmonic regression"
        pairs = int(self._order[i])
        year = f"{pairs} Fourier pairs per {'/'.join(map(str, self._long))} steps" if pairs else ""
        return "; ".join(filter(None, [f"{TRENDS[self._trend[i]]} trend", year]))

    def _width(self, order: int) -> int:
        return 2 + 2 * _short_order(self.season_length) + 2 * order * len(self._long)

    def _design(self, t: np.ndarray, order: int, trend: bool, t_len: int) -> np.ndarray:
        """Columns: level, slope (time over the fitted length, so the solve is well scaled), the
        main season's Fourier terms, ``order`` pairs per long cycle."""
        cols = [np.ones_like(t, dtype=float)]
        if trend:
            cols.append(t / max(t_len, 1))
        cols += _fourier(t, self.season_length, _short_order(self.season_length))
        for p in self._long:
            cols += _fourier(t, p, min(order, p // 2))
        return np.stack(cols, axis=1)

    def _choose_orders(self, arr: np.ndarray, first: np.ndarray) -> np.ndarray:
        """Per row, the long cycles' Fourier order with the smallest AICc of a linear-trend fit;
        0 for rows whose own history holds fewer than MIN_CYCLES of the shortest long cycle."""
        n, t_len = arr.shape
        if not self._long:
            return np.zeros(n, dtype=np.int64)
        t = np.arange(t_len, dtype=float)
        best = np.full(n, np.inf)
        order = np.zeros(n, dtype=np.int64)
        for k in self.orders:
            x = self._design(t, k, True, t_len)
            beta, w = _robust_fit(arr, x)
            resid = arr - beta @ x.T
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                count = np.isfinite(resid).sum(axis=1)
                rss = np.nansum(w * resid**2, axis=1)
                p = x.shape[1]
                aicc = count * np.log(np.maximum(rss, 1e-300) / np.maximum(count, 1)) + 2 * p
                aicc += 2 * p * (p + 1) / np.maximum(count - p - 1, 1)
            better = aicc < best
            order[better], best[better] = k, aicc[better]
        order[t_len - first < MIN_CYCLES * min(self._long)] = 0
        return order

    def _fit_rows(self, arr: np.ndarray, order: np.ndarray, trend: np.ndarray) -> dict:
        """Coefficients and residuals per row, one batched solve per (order, with slope) group."""
        n, t_len = arr.shape
        t = np.arange(t_len, dtype=float)
        width = self._width(max(self.orders))
        beta = np.zeros((n, width))
        resid = np.full((n, t_len), np.nan)
        sloped = trend != TRENDS.index("flat")
        for k in np.unique(order):
            for with_slope in (True, False):
                rows = np.flatnonzero((order == k) & (sloped == with_slope))
                if rows.size == 0:
                    continue
                x = self._design(t, int(k), with_slope, t_len)
                b, _ = _robust_fit(arr[rows], x)
                resid[rows] = arr[rows] - b @ x.T
                beta[rows, : x.shape[1]] = b
        return {"beta": beta, "resid": resid, "t_len": t_len, "rho": _season_rho(resid, self)}

    def _forecast_rows(
        self, state: dict, order: np.ndarray, trend: np.ndarray, h: int
    ) -> np.ndarray:
        """Mean forecasts (n, h) from a fit: the regression along the future steps, the slope
        as the trend says, and the newest season's residual carried on (fading unless flat)."""
        t_len = state["t_len"]
        n = order.size
        m = max(self.season_length, 2)
        k = np.arange(1, h + 1, dtype=float)
        out = np.full((n, h), np.nan)
        flat = TRENDS.index("flat")
        damped = TRENDS.index("damped")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            offset = np.nanmean(state["resid"][:, -m:], axis=1)
        offset = np.nan_to_num(offset)
        rho = state["rho"]
        # A damped slope adds up to about one horizon's worth of steps in all.
        phi = 1.0 - 1.0 / max(h, m)
        damped_k = phi * (1 - phi**k) / (1 - phi)
        for kk in np.unique(order):
            for tr in range(len(TRENDS)):
                rows = np.flatnonzero((order == kk) & (trend == tr))
                if rows.size == 0:
                    continue
                reach = damped_k if tr == damped else k
                t_future = (t_len - 1) + reach
                phase_t = (t_len - 1) + k
                x = self._design(phase_t, int(kk), tr != flat, t_len)
                if tr != flat:
                    x[:, 1] = t_future / t_len
                b = state["beta"][rows, : x.shape[1]]
                fade = np.ones((rows.size, h)) if tr == flat else rho[rows, None] ** k[None, :]
                out[rows] = b @ x.T + offset[rows, None] * fade
        return out

    def _choose_trend(
        self, arr: np.ndarray, first: np.ndarray, order: np.ndarray, holdout: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per row, the trend whose forecast of the newest ``holdout`` steps from the history
        before them had the smallest mean absolute error (damped on ties), and that forecast's
        mean squared error (what the interval growth is calibrated on)."""
        n, t_len = arr.shape
        train, test = arr[:, :-holdout], arr[:, -holdout:]
        saved = self._long
        self._long = [p for p in saved if train.shape[1] >= MIN_CYCLES * p]
        # The holdout fit keeps a row's order where its shorter history still holds the cycles.
        short = (train.shape[1] - first) < MIN_CYCLES * min(saved, default=1)
        sub_order = np.where(short | (not self._long), 0, order)
        errors, sq = [], []
        for tr in range(len(TRENDS)):
            trend = np.full(n, tr)
            state = self._fit_rows(train, sub_order, trend)
            fc = self._forecast_rows(state, sub_order, trend, holdout)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                errors.append(np.nanmean(np.abs(test - fc), axis=1))
                sq.append(np.nanmean((test - fc) ** 2, axis=1))
        self._long = saved
        mae = np.nan_to_num(np.stack(errors), nan=np.inf)  # (trends, n)
        mae[TRENDS.index("damped")] *= 0.999  # ties go to the middle way
        trend = np.argmin(mae, axis=0)
        err_ms = np.stack(sq)[trend, np.arange(n)]
        return trend, err_ms

    # -- predict --------------------------------------------------------------------------------
    def predict(self, h: int, levels: Sequence[int] = DEFAULT_LEVELS) -> Forecast:
        levels = check_levels(levels)
        mean = self._forecast_rows(self._state, self._order, self._trend, h)
        k = np.arange(1, h + 1, dtype=float)
        spread = np.sqrt(self._sigma[:, None] ** 2 + self._grow[:, None] * (k[None, :] - 1))
        out: Forecast = {"mean": mean}
        for lv in levels:
            if lv in self._z:
                z = self._z[lv]
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    z = np.nanquantile(self._z_rows, lv / 100, axis=1)
            out[f"lower-{lv}"] = mean - z[:, None] * spread
            out[f"upper-{lv}"] = mean + z[:, None] * spread
        for key in out:
            out[key][self._dead] = np.nan
        return shape_like(out, self._single)


def _short_order(m: int) -> int:
    """Pairs for the main season: all of them (the same fit as seasonal dummies) up to a cap."""
    return 0 if m < 2 else min(m // 2, MAX_SHORT_ORDER)


def _fourier(t: np.ndarray, period: int, order: int) -> list[np.ndarray]:
    """``order`` cosine/sine pairs of ``period`` at times ``t``; the sine of the Nyquist pair of
    an even period is zero everywhere and is left out of the span by being identically zero."""
    cols = []
    for j in range(1, order + 1):
        angle = 2 * np.pi * j * t / period
        cols.append(np.cos(angle))
        sine = np.sin(angle)
        if 2 * j == period:
            sine = np.zeros_like(t, dtype=float)  # a zero column: the ridge keeps the solve sound
        cols.append(sine)
    return cols


def _robust_fit(arr: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, Huber-weighted least squares of ``arr`` (n, T; NaN: no observation) on the
    shared design ``x`` (T, p): coefficients (n, p) and the final weights (n, T)."""
    n, t_len = arr.shape
    p = x.shape[1]
    valid = np.isfinite(arr)
    y = np.where(valid, arr, 0.0)
    w = valid.astype(float)
    beta = np.zeros((n, p))
    ridge = 1e-9 * t_len * np.eye(p)
    for step in range(IRLS_STEPS + 1):
        for a, b in row_blocks(n, t_len * p):
            xw = w[a:b, :, None] * x[None]  # (rows, T, p)
            gram = np.einsum("ntp,tq->npq", xw, x) + ridge
            rhs = np.einsum("ntp,nt->np", xw, y[a:b])
            beta[a:b] = np.linalg.solve(gram, rhs[..., None])[..., 0]
        if step == IRLS_STEPS:
            break
        resid = np.where(valid, y - beta @ x.T, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(resid, axis=1, keepdims=True)
            mad = 1.4826 * np.nanmedian(np.abs(resid - med), axis=1, keepdims=True)
        cut = HUBER_K * np.where(np.isfinite(mad) & (mad > 0), mad, np.inf)
        ratio = np.abs(np.nan_to_num(resid)) / cut
        w = np.where(valid, np.minimum(1.0, 1.0 / np.maximum(ratio, 1e-12)), 0.0)
    return beta, w


def _season_rho(resid: np.ndarray, model: HarmonicRegression) -> np.ndarray:
    """Per row and step, how much of the newest residual level survives one more step: the lag-1
    autocorrelation of the season means of the residuals (so the weekly swing is not counted),
    taken to the power 1/season, between 0 and 1."""
    m = max(model.season_length, 2)
    n, t_len = resid.shape
    k = t_len // m
    if k < 4:
        return np.zeros(n)
    blocks = resid[:, t_len - k * m :].reshape(n, k, m)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmean(blocks, axis=2)
        a, b = means[:, :-1], means[:, 1:]
        ok = np.isfinite(a) & np.isfinite(b)
        a = np.where(ok, a - np.nanmean(np.where(ok, a, np.nan), axis=1, keepdims=True), 0.0)
        b = np.where(ok, b - np.nanmean(np.where(ok, b, np.nan), axis=1, keepdims=True), 0.0)
        r = (a * b).sum(axis=1) / np.sqrt((a**2).sum(axis=1) * (b**2).sum(axis=1))
    r = np.clip(np.nan_to_num(r), 0.0, 0.999)
    return r ** (1.0 / m)
