"""Harmonic regression for long cycles: a year of daily data as a smooth shape, vectorised.

A yearly cycle seen two to eight times cannot be learnt phase by phase (365 values from a few
noisy repeats, and a holiday or an incident in one year is copied into every other); Prophet and
dynamic harmonic regression learn it as a few Fourier terms instead. Here each series is

    y_t = level + slope * t + season(t) + year(t) + e_t

with ``season`` the main (weekly) cycle as a full set of Fourier terms, ``year`` each longer cycle
as K Fourier pairs, fitted by least squares on a design matrix shared by the fleet (the normal
equations of every row from one matrix product), robustly: Huber weights, so an incident or a
holiday does not bend the yearly shape. Per series:

- K (0, 3, 6 or 10 pairs) by a small-sample AIC, so a series without a yearly cycle keeps none;
- how the level goes on, by a holdout at the horizon (the newest ``horizon`` steps forecast from
  the history before them, at two origins): the fit's own line through the whole history, or a
  local line through the history less its seasons with weights halving every year back (where
  the series is going now, after a change of growth or level), each carried on linearly, damped
  (the slope fades over about one horizon) or flat;
- the residuals of the newest season (where the series is now, against that line) are carried
  into the forecast and fade as fast as the residuals' own season-to-season autocorrelation
  says (for a flat trend they stay: that is the level);
- the scale: a series that never reaches zero is also fitted on the log scale (a weekly swing
  that grows with the level) and keeps it where the same holdout, measured on the original
  scale, is clearly better.

Intervals widen with the steps ahead as the holdout's errors did: at the first step the spread of
a value around the mean of the season before it, then a variance growing linearly (a random
walk's) so that its mean over the holdout is the holdout's mean squared error, and on beyond it
at the same rate; the band is the in-sample residuals' own quantile (heavy tails stay heavy)
times that spread, taken back from the log scale where the series is on it.
"""

from __future__ import annotations

import warnings
from typing import Callable, Sequence

import numpy as np

from .arrays import clean
from .base import DEFAULT_LEVELS, Capabilities, Forecast, ModelBase, as_2d, check_levels, shape_like
from .multi_season import MIN_CYCLES

#: Fourier pairs tried for each long cycle (0: none). Ten pairs draw a year's shape at the
#: resolution of about a month, as Prophet's default does.
ORDERS = (0, 3, 6, 10)
#: The main season's terms: a full set (as many as seasonal dummies) up to this many pairs.
MAX_SHORT_ORDER = 12
#: How the level goes on, chosen per series by the holdout: the line through the whole history
#: or the local one (recent history weighted, see ``HALF_LIFE_CYCLES``), carried on with its
#: slope, with its slope fading, or flat.
OPTIONS = tuple(
    (line, trend) for line in ("whole", "local") for trend in ("linear", "damped", "flat")
)
DEFAULT_OPTION = OPTIONS.index(("local", "damped"))
#: The local level line's weights halve every this many long cycles (a year on daily data), or
#: every LOCAL_SEASONS seasons without a long cycle.
HALF_LIFE_CYCLES = 1.0
LOCAL_SEASONS = 26
#: Holdout origins the option is judged on (each a horizon back from the previous one).
ORIGINS = 2
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
        # Long cycles the history holds at least MIN_CYCLES of; rows shorter than that get none.
        self._long = [p for p in self.seasons if t_len >= MIN_CYCLES * p]
        # A row of absurd values (1e200) overflows its own fit: it ends up without a finite
        # forecast (the engine's fallback takes it), silently, never stopping the others.
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            positive = np.nanmin(arr, axis=1) > 0
            fits = [self._fit_scale(arr, _identity)]
            if positive.any():
                # Counts and rates whose weekly swing scales with their level (a quiet year has
                # a smaller one) are additive on the log scale; the holdout says which rows are.
                logged = np.log(np.where(positive[:, None], arr, np.nan))
                fits.append(self._fit_scale(logged, np.exp))
        mae = np.stack([f["mae"] for f in fits])  # (scales, n)
        mae[0] *= 0.99  # the plain scale unless the log scale is clearly better
        self._scale = np.argmin(np.nan_to_num(mae, nan=np.inf), axis=0)
        self._fits = fits
        pick = self._scale
        for key in ("order", "option", "dead"):
            stacked = np.stack([f[key] for f in fits])
            setattr(self, f"_{key}", stacked[pick, np.arange(n)])
        self.notes = [self._note(i) for i in range(n)]
        return self

    def _fit_scale(self, arr: np.ndarray, inverse: Callable[[np.ndarray], np.ndarray]) -> dict:
        """The whole fit on one scale (``arr`` already transformed; ``inverse`` maps back, where
        the holdout errors are measured)."""
        n, t_len = arr.shape
        m = self.season_length
        h = max(int(self.horizon or 2 * m), 1)
        valid = np.isfinite(arr)
        first = np.where(valid.any(axis=1), np.argmax(valid, axis=1), t_len)
        order = self._choose_orders(arr, first)
        holdout = min(h, t_len // 3)
        option = np.full(n, DEFAULT_OPTION)
        err_ms, mae = np.full(n, np.nan), np.full(n, np.nan)
        if holdout >= max(m, 2) and t_len - holdout > 2 * max(m, 2):
            option, err_ms, mae = self._choose_option(arr, first, order, holdout, inverse)
        state = self._fit_rows(arr, order)
        resid = np.full((n, t_len), np.nan)
        for j, (line, _) in enumerate(OPTIONS):
            resid[option == j] = state["resid"][line][option == j]
        # The first steps ahead miss by what a residual differs from the mean of the season
        # before it (the level the forecast starts from): that is the spread at step one.
        near = resid - _trailing_mean(resid, max(m, 2))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            sigma = np.sqrt(np.nanmean(near**2, axis=1))
            z = np.abs(near) / sigma[:, None]
            # Every whole level a caller may ask for, so the residuals need not be kept.
            quantiles = np.nanquantile(z, np.arange(1, 100) / 100, axis=1).T  # (n, 99)
        # predict needs only the newest season of residuals: a fleet of long histories is big.
        state["resid"] = {key: r[:, -max(m, 2) :].copy() for key, r in state["resid"].items()}
        sigma = np.where(np.isfinite(sigma) & (sigma > 0), sigma, np.nan)
        # Variance added per step ahead, so that the mean variance over the holdout matches its
        # mean squared error; without a holdout, the random walk's growth over a season.
        k_mean = (holdout + 1) / 2
        grow = np.where(np.isfinite(err_ms), np.maximum(err_ms - sigma**2, 0.0) / k_mean, np.nan)
        grow = np.where(np.isfinite(grow), grow, sigma**2 / max(m, 1))
        enough = valid.sum(axis=1) >= 2 * self._width(ORDERS[-1] if self._long else 0)
        return {
            "order": order,
            "option": option,
            "state": state,
            "sigma": sigma,
            "grow": grow,
            "quantiles": quantiles,
            "dead": ~enough | ~np.isfinite(sigma),
            "mae": mae,
            "inverse": inverse,
        }

    def row_models(self, n: int) -> list[str]:
        """``harmonic(+365)`` for a row that kept the yearly terms, as other models name the long
        cycle they use."""
        cycles = "".join(f"(+{p})" for p in self._long)
        return [f"{self.name}{cycles if k else ''}" for k in self._order[:n]]

    def _note(self, i: int) -> str:
        if self._dead[i]:
            return "no harmonic regression: too little history, or values too large to fit"
        pairs = int(self._order[i])
        year = f"{pairs} Fourier pairs per {'/'.join(map(str, self._long))} steps" if pairs else ""
        line, trend = OPTIONS[self._option[i]]
        level = "the recent history's" if line == "local" else "the whole history's"
        scale = "on the log scale" if self._scale[i] else ""
        return "; ".join(filter(None, [f"{trend} trend from {level} level line", year, scale]))

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
            beta, w = _robust_fit(arr, x, steps=1)  # one reweighting is enough to rank orders
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

    def _fit_rows(self, arr: np.ndarray, order: np.ndarray) -> dict:
        """Per row: the seasonal part along the history and on, from one robust fit with a
        linear trend (one batched solve per order), and two level lines to carry it on: that
        fit's own trend over the whole history, and a local one fitted to the history less its
        seasons with weights halving every :data:`HALF_LIFE_CYCLES` long cycles (where the
        series is going now, after a change of growth or level)."""
        n, t_len = arr.shape
        t = np.arange(t_len, dtype=float)
        width = self._width(max(self.orders))
        beta = np.zeros((n, width))
        weights = np.zeros((n, t_len))
        for k in np.unique(order):
            rows = np.flatnonzero(order == k)
            x = self._design(t, int(k), True, t_len)
            beta[rows, : x.shape[1]], weights[rows] = _robust_fit(arr[rows], x)
        seasonal = self._seasonal(beta, order, t, t_len)
        lines = {"whole": (beta[:, 0], beta[:, 1])}
        half_life = HALF_LIFE_CYCLES * (
            max(self._long) if self._long else LOCAL_SEASONS * max(self.season_length, 1)
        )
        decay = 0.5 ** ((t_len - 1 - t) / half_life)
        lines["local"] = _line_fit(arr - seasonal, t / t_len, weights * decay[None, :])
        resid = {}
        for key, (a, b) in lines.items():
            resid[key] = arr - seasonal - (a[:, None] + b[:, None] * t[None, :] / t_len)
        return {
            "beta": beta,
            "lines": lines,
            "resid": resid,
            "t_len": t_len,
            "rho": {key: _season_rho(r, self) for key, r in resid.items()},
        }

    def _seasonal(
        self, beta: np.ndarray, order: np.ndarray, t: np.ndarray, t_len: int
    ) -> np.ndarray:
        """The fitted seasonal terms (everything but level and slope) per row at times ``t``."""
        out = np.zeros((beta.shape[0], t.size))
        for k in np.unique(order):
            rows = np.flatnonzero(order == k)
            x = self._design(t, int(k), True, t_len)
            out[rows] = beta[rows, 2 : x.shape[1]] @ x[:, 2:].T
        return out

    def _forecast_rows(
        self, state: dict, order: np.ndarray, option: np.ndarray, h: int
    ) -> np.ndarray:
        """Mean forecasts (n, h) from a fit: the seasonal terms along the future steps, the
        option's level line carried on as its trend says, and the newest season's residual
        from that line (fading as the residuals' autocorrelation says, unless the trend is flat:
        then it is the level)."""
        t_len = state["t_len"]
        n = order.size
        m = max(self.season_length, 2)
        k = np.arange(1, h + 1, dtype=float)
        future = self._seasonal(state["beta"], order, (t_len - 1) + k, t_len)
        phi = 1.0 - 1.0 / max(h, m)  # a damped slope adds about one horizon of steps in all
        reach = {
            "linear": k,
            "damped": phi * (1 - phi**k) / (1 - phi),
            "flat": np.zeros(h),
        }
        out = np.full((n, h), np.nan)
        for j, (line, trend) in enumerate(OPTIONS):
            rows = option == j
            if not rows.any():
                continue
            a, b = (v[rows] for v in state["lines"][line])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                offset = np.nan_to_num(np.nanmean(state["resid"][line][rows, -m:], axis=1))
            fade = np.ones(h) if trend == "flat" else state["rho"][line][rows, None] ** k
            now = a + b * (t_len - 1) / t_len
            out[rows] = (
                future[rows]
                + now[:, None]
                + (b / t_len)[:, None] * reach[trend][None, :]
                + offset[:, None] * fade
            )
        return out

    def _choose_option(
        self,
        arr: np.ndarray,
        first: np.ndarray,
        order: np.ndarray,
        holdout: int,
        inverse: Callable[[np.ndarray], np.ndarray],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row, the level line and trend whose forecasts of the newest ``holdout`` steps (from
        up to :data:`ORIGINS` origins, ``holdout`` apart) had the smallest mean absolute error
        (the default option on ties), and that option's mean squared error (what the interval
        growth is calibrated on)."""
        n, t_len = arr.shape
        saved = self._long
        abs_err = np.zeros((len(OPTIONS), n))
        sq_err = np.zeros((len(OPTIONS), n))
        used = 0
        for origin in range(ORIGINS):
            end = t_len - origin * holdout
            train, test = arr[:, : end - holdout], arr[:, end - holdout : end]
            if train.shape[1] < 2 * max(self.season_length, 2) + holdout // 2 and used:
                break
            self._long = [p for p in saved if train.shape[1] >= MIN_CYCLES * p]
            # A row keeps its order where its shorter history still holds the cycles.
            short = (train.shape[1] - first) < MIN_CYCLES * min(saved, default=1)
            sub_order = np.where(short | (not self._long), 0, order)
            state = self._fit_rows(train, sub_order)
            for j in range(len(OPTIONS)):
                fc = self._forecast_rows(state, sub_order, np.full(n, j), holdout)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    abs_err[j] += np.nanmean(np.abs(inverse(test) - inverse(fc)), axis=1)
                    sq_err[j] += np.nanmean((test - fc) ** 2, axis=1)
            used += 1
        self._long = saved
        mae = np.nan_to_num(abs_err / used, nan=np.inf)
        mae[DEFAULT_OPTION] *= 0.999  # ties go to the middle way
        option = np.argmin(mae, axis=0)
        rows = np.arange(n)
        return option, sq_err[option, rows] / used, abs_err[option, rows] / used

    # -- predict --------------------------------------------------------------------------------
    def predict(self, h: int, levels: Sequence[int] = DEFAULT_LEVELS) -> Forecast:
        levels = check_levels(levels)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return self._predict(h, levels)

    def _predict(self, h: int, levels: list[int]) -> Forecast:
        n = self._scale.size
        out: Forecast = {"mean": np.full((n, h), np.nan)}
        for lv in levels:
            out[f"lower-{lv}"], out[f"upper-{lv}"] = (
                np.full((n, h), np.nan),
                np.full((n, h), np.nan),
            )
        k = np.arange(1, h + 1, dtype=float)
        for which, fit in enumerate(self._fits):
            rows = self._scale == which
            if not rows.any():
                continue
            mean = self._forecast_rows(fit["state"], fit["order"], fit["option"], h)[rows]
            spread = np.sqrt(fit["sigma"][rows, None] ** 2 + fit["grow"][rows, None] * (k - 1))
            back = fit["inverse"]
            out["mean"][rows] = back(mean)
            for lv in levels:
                z = fit["quantiles"][rows, lv - 1]
                out[f"lower-{lv}"][rows] = back(mean - z[:, None] * spread)
                out[f"upper-{lv}"][rows] = back(mean + z[:, None] * spread)
        # A row is forecast whole or not at all (the engine's fallback takes it then): one that
        # overflowed somewhere along the horizon is not half a forecast.
        broken = self._dead | ~np.all([np.isfinite(v).all(axis=1) for v in out.values()], axis=0)
        for key in out:
            out[key][broken] = np.nan
        return shape_like(out, self._single)


def _identity(x: np.ndarray) -> np.ndarray:
    return x


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


def _robust_fit(
    arr: np.ndarray, x: np.ndarray, steps: int = IRLS_STEPS
) -> tuple[np.ndarray, np.ndarray]:
    """Per row, Huber-weighted least squares of ``arr`` (n, T; NaN: no observation) on the
    shared design ``x`` (T, p): coefficients (n, p) and the final weights (n, T).

    Every row's normal equations come from one matrix product with the design's column
    products (T, p*p), so the fleet costs a few BLAS calls per iteration, not one per row."""
    n, t_len = arr.shape
    p = x.shape[1]
    valid = np.isfinite(arr)
    y = np.where(valid, arr, 0.0)
    w = valid.astype(float)
    products = (x[:, :, None] * x[:, None, :]).reshape(t_len, p * p)
    ridge = 1e-9 * t_len * np.eye(p)
    for step in range(steps + 1):
        gram = (w @ products).reshape(n, p, p) + ridge
        beta = np.linalg.solve(gram, ((w * y) @ x)[..., None])[..., 0]
        if step == steps:
            break
        resid = np.where(valid, y - beta @ x.T, np.nan)
        med = _row_median(resid)[:, None]
        mad = 1.4826 * _row_median(np.abs(resid - med))[:, None]
        cut = HUBER_K * np.where(np.isfinite(mad) & (mad > 0), mad, np.inf)
        ratio = np.abs(np.nan_to_num(resid)) / cut
        w = np.where(valid, np.minimum(1.0, 1.0 / np.maximum(ratio, 1e-12)), 0.0)
    return beta, w


def _row_median(x: np.ndarray) -> np.ndarray:
    """Per row, the median of the finite values (NaN for none), by one sort of the matrix
    (NaN sorts last) rather than a median per row."""
    count = np.isfinite(x).sum(axis=1)
    if (count == x.shape[1]).all():
        return np.median(x, axis=1)  # a partition per row, no full sort
    ordered = np.sort(x, axis=1)
    rows = np.arange(x.shape[0])
    lo = ordered[rows, np.maximum(count - 1, 0) // 2]
    hi = ordered[rows, np.minimum(count // 2, x.shape[1] - 1)]
    return np.where(count > 0, (lo + hi) / 2, np.nan)


def _line_fit(y: np.ndarray, x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, intercept and slope (n,) of the weighted least-squares line of ``y`` (n, T; NaN
    ignored) on ``x`` (T,)."""
    w = np.where(np.isfinite(y), w, 0.0)
    y = np.nan_to_num(y)
    sw = np.maximum(w.sum(axis=1), 1e-300)
    mx = (w * x).sum(axis=1) / sw
    my = (w * y).sum(axis=1) / sw
    dx = x[None, :] - mx[:, None]
    sxx = (w * dx**2).sum(axis=1)
    slope = np.where(
        sxx > 0, (w * dx * (y - my[:, None])).sum(axis=1) / np.maximum(sxx, 1e-300), 0.0
    )
    return my - slope * mx, slope


def _trailing_mean(x: np.ndarray, width: int) -> np.ndarray:
    """Per row, the mean of the ``width`` values before each step (NaN ignored; NaN where none)."""
    ok = np.isfinite(x)
    zero = np.zeros((x.shape[0], 1))
    sums = np.concatenate([zero, np.cumsum(np.where(ok, x, 0.0), axis=1)], axis=1)
    counts = np.concatenate([zero, np.cumsum(ok, axis=1)], axis=1)
    lo = np.maximum(np.arange(x.shape[1]) - width, 0)
    hi = np.arange(x.shape[1])
    total, count = sums[:, hi] - sums[:, lo], counts[:, hi] - counts[:, lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


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
