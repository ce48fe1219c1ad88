"""Short histories forecast from what the fleet has learnt.

A series with less than two seasons of its own history cannot tell its seasonal shape from noise:
seasonal naive repeats its last, noisy day (or, below one day, its newest value), and no backtest
of its own can say whether anything does better. Its target's other series can: their seasonal
profiles (each cycle's mean by phase, less the series' mean, over its spread), their median over
the fleet, is the shape a new series most likely shares. The short series is fitted to it by
least squares (its own level, and how strongly it follows the shape, at least not at all), and
the fitted shape is its forecast from its newest level.

Whether the fleet's shape is used is also a backtest, on the fleet: the target's long series are
cut to the short series' length at an earlier origin and forecast by seasonal naive, by the
fleet's shape and by the mean of both; the best of the three at that length (seasonal naive on
ties) is used for every short series of about that length, and its errors there give the
interval. Series with two seasons or more never take this path: a global model hurt long series
before, and their own backtest decides for them.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from .arrays import clean
from .intervals import normal_quantile
from .base import (
    DEFAULT_LEVELS,
    Capabilities,
    Forecast,
    ModelBase,
    as_2d,
    check_levels,
    interval_keys,
)
from .metrics import mase, mase_scale
from .seasonal_naive import SeasonalNaive

NAME = "fleet_profile"
#: Long series whose profiles make the fleet's: bounds the work of a large fleet.
MAX_PROFILE_ROWS = 2000
#: Newest cycles of each long series in its profile: the shape of now, not of a year ago.
PROFILE_CYCLES = 8
#: Long series a fleet needs before its shape is trusted over a new series' own.
MIN_FLEET = 3
#: The choices at one length, in order of preference on ties.
CHOICES = ("seasonal_naive", NAME, f"ensemble(seasonal_naive+{NAME})")
#: Each choice's weight on the fleet's shape (the rest on seasonal naive).
FLEET_WEIGHT = dict(zip(CHOICES, (0.0, 1.0, 0.5)))


def phases(n: int, t_len: int, m: int, offsets: np.ndarray | None) -> np.ndarray:
    """(n, t_len) phase of each step in the season: column j of row i is ``(j + offsets[i]) % m``."""
    off = np.zeros(n, dtype=np.int64) if offsets is None else np.asarray(offsets, dtype=np.int64)
    return (np.arange(t_len)[None, :] + off[:, None]) % m


def fleet_shape(
    arr: np.ndarray, m: int, rows: np.ndarray, offsets: np.ndarray | None
) -> np.ndarray:
    """The fleet's normalised seasonal profile (m,) from ``rows`` of ``arr`` (their newest
    :data:`PROFILE_CYCLES` cycles): the median over rows of (mean by phase - mean) / spread."""
    rows = rows[:: max(1, rows.size // MAX_PROFILE_ROWS)][:MAX_PROFILE_ROWS]
    width = min(arr.shape[1], PROFILE_CYCLES * m)
    block = clean(arr[rows, -width:])
    base = np.zeros(len(rows), dtype=np.int64) if offsets is None else np.asarray(offsets)[rows]
    ph = phases(len(rows), width, m, base + arr.shape[1] - width)
    ok = np.isfinite(block)
    key = (np.arange(len(rows))[:, None] * m + ph)[ok]
    sums = np.bincount(key, weights=block[ok], minlength=len(rows) * m).reshape(len(rows), m)
    counts = np.bincount(key, minlength=len(rows) * m).reshape(len(rows), m).astype(float)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        prof = sums / counts
        prof = (prof - np.nanmean(prof, axis=1, keepdims=True)) / np.nanstd(block, axis=1)[:, None]
        prof[~np.isfinite(prof)] = np.nan
        shape = np.nanmedian(prof, axis=0)
    shape = np.nan_to_num(shape)
    return shape - shape.mean()


class FleetProfile(ModelBase):
    """Each row fitted to the fleet's ``shape`` (m,) as ``level + strength * shape[phase]``; its
    intervals are ``spread * quantile`` of the errors the fleet backtest saw (``quantiles``:
    level -> normalised error)."""

    capabilities = Capabilities(vectorised=True, learns_across_series=True)
    name = NAME

    def __init__(
        self,
        shape: np.ndarray,
        offsets: np.ndarray | None = None,
        quantiles: dict[int, float | np.ndarray] | None = None,
        rows: np.ndarray | None = None,
        donors: np.ndarray | None = None,
    ) -> None:
        self.shape = np.asarray(shape, dtype=float)
        self.m = self.shape.size
        self.offsets = offsets
        self.quantiles = dict(quantiles or {})
        # The rows it forecasts (default all): in a fleet of long series only the few short ones,
        # so a refit costs their newest two seasons, not the fleet's history.
        self.rows = rows
        # The long series the shape is learnt from, again at every fit: the grid moves between
        # a service's cycles, so a shape kept by column would drift off the clock.
        self.donors = donors

    def fit(self, y: np.ndarray) -> "FleetProfile":
        arr, self._single = as_2d(y)
        n, t_len = arr.shape
        self._n, self._t_len = n, t_len
        if self.donors is not None:
            self.shape = fleet_shape(arr, self.m, np.asarray(self.donors), self.offsets)
        sel = np.arange(n) if self.rows is None else np.asarray(self.rows)
        width = min(t_len, 2 * self.m)  # a short series' whole history
        block = clean(arr[sel, t_len - width :])
        base = np.zeros(n, dtype=np.int64) if self.offsets is None else np.asarray(self.offsets)
        self._sel, self._off = sel, base[sel] + t_len
        p = self.shape[phases(sel.size, width, self.m, base[sel] + t_len - width)]
        ok = np.isfinite(block)
        cnt = ok.sum(axis=1)
        with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            pm = np.where(ok, p, 0.0).sum(axis=1) / cnt
            ym = np.nanmean(block, axis=1)
            dp = np.where(ok, p - pm[:, None], 0.0)
            strength = (dp * np.where(ok, block - ym[:, None], 0.0)).sum(axis=1) / (dp**2).sum(
                axis=1
            )
            self.strength = np.clip(np.nan_to_num(strength), 0.0, None)
            resid = block - self.strength[:, None] * p
            # The level of the newest season (or all there is): a short series is often young
            # and still moving.
            recent = np.where(np.arange(width)[None, :] >= width - self.m, resid, np.nan)
            level = np.nanmean(recent, axis=1)
            self.level = np.where(np.isfinite(level), level, np.nanmean(resid, axis=1))
            self.spread = np.nan_to_num(np.nanstd(block, axis=1))
        return self

    def predict(self, h: int, levels: Sequence[int] = DEFAULT_LEVELS) -> Forecast:
        """Forecasts of the rows it serves; NaN on the others."""
        levels = check_levels(levels)
        future = phases(self._sel.size, h, self.m, self._off)
        part = self.level[:, None] + self.strength[:, None] * self.shape[future]
        full = {"mean": part}
        for lv in levels:
            # One quantile for all rows, or one per row (each row's length had its own backtest).
            q = np.asarray(self.quantiles.get(lv, normal_quantile(lv)), dtype=float)
            q = np.broadcast_to(q, (self._n,))[self._sel] if q.ndim else np.full(self._sel.size, q)
            q = np.where(np.isfinite(q), q, normal_quantile(lv))[:, None]
            lo, hi = interval_keys(lv)
            full[lo] = part - q * self.spread[:, None]
            full[hi] = part + q * self.spread[:, None]
        out: Forecast = {}
        for key, values in full.items():
            out[key] = np.full((self._n, h), np.nan)
            out[key][self._sel] = values
        return {k: (v[0] if self._single else v) for k, v in out.items()}


def short_history_choice(
    arr: np.ndarray,
    m: int,
    long_rows: np.ndarray,
    length: int,
    h: int,
    offsets: np.ndarray | None,
    levels: Sequence[int],
) -> tuple[str, dict[int, float], dict[str, float]]:
    """Backtest on the fleet: ``long_rows`` cut to ``length`` steps before an origin ``h`` steps
    from the end, forecast by each of :data:`CHOICES` (the shape learnt from the history before
    the origin); the best by mean MASE (seasonal naive on ties), its normalised error quantiles
    per level, and every choice's mean MASE."""
    t_len = arr.shape[1]
    origin = t_len - h
    rows = long_rows[:: max(1, long_rows.size // MAX_PROFILE_ROWS)][:MAX_PROFILE_ROWS]
    shape = fleet_shape(arr[:, :origin], m, rows, offsets)
    width = max(
        length, 2 * m
    )  # seasonal naive sees the short row on a grid of two seasons at least
    window = np.full((rows.size, width), np.nan)
    window[:, -length:] = arr[rows, origin - length : origin]
    actual = arr[rows, origin : origin + h]
    scale = mase_scale(arr[rows, :origin], m)
    base = np.zeros(rows.size, dtype=np.int64) if offsets is None else np.asarray(offsets)[rows]
    row_off = base + origin - width
    sn = SeasonalNaive(m, intervals=False).fit(window).predict(h, [80])["mean"]
    fleet = FleetProfile(shape, row_off).fit(window)
    fp = fleet.predict(h, [80])["mean"]
    forecasts = {CHOICES[0]: sn, CHOICES[1]: fp, CHOICES[2]: (sn + fp) / 2}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        scores = {c: float(np.nanmean(mase(actual, f, scale))) for c, f in forecasts.items()}
    best = CHOICES[0]
    for c in CHOICES[1:]:
        if np.isfinite(scores[c]) and scores[c] < 0.99 * scores[best]:
            best = c
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        z = (
            np.abs(actual - forecasts[best])
            / np.where(fleet.spread > 0, fleet.spread, np.nan)[:, None]
        )
        # Errors within one series are strongly correlated: the effective sample is nearer the
        # number of series than series x steps, and the finite-sample conformal margin uses it.
        k = max(1, rows.size)
        quantiles = {
            lv: float(np.nanquantile(z, min(1.0, lv / 100 * (k + 1) / k))) for lv in levels
        }
    quantiles = {lv: q if np.isfinite(q) else normal_quantile(lv) for lv, q in quantiles.items()}
    return best, quantiles, scores
