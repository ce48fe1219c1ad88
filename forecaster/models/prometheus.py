"""What PromQL itself can forecast, reimplemented as Prometheus 2.42 computes it, vectorised.

``drift`` is ``predict_linear(v[window], t)``: an ordinary least-squares line through the samples
in the range window (gaps are simply absent samples), extrapolated from the newest step.
``prom_holt_winters`` is ``holt_winters(v[window], sf, tf)``: Prometheus's double exponential
smoothing, which returns the smoothed level at the newest sample and no extrapolation, so as a
forecast it is a flat line at that level. Both are here as the baselines users already have.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from .arrays import clean
from .intervals import normal_intervals
from .base import DEFAULT_LEVELS, Capabilities, Forecast, ModelBase, as_2d, check_levels, shape_like


def _window(arr: np.ndarray, window: int | None) -> np.ndarray:
    return arr if window is None or window >= arr.shape[1] else arr[:, -window:]


class Drift(ModelBase):
    """Least-squares line over the window (Prometheus ``predict_linear``)."""

    name = "drift"
    capabilities = Capabilities(vectorised=True)

    def __init__(self, season_length: int = 1, window: int | None = None) -> None:
        self.window = window

    def fit(self, y: np.ndarray) -> "Drift":
        arr, self._single = as_2d(y)
        arr = clean(_window(arr, self.window))
        t = arr.shape[1]
        x = np.arange(t, dtype=float)[None, :]
        ok = ~np.isnan(arr)
        cnt = ok.sum(axis=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            xm = np.where(ok, x, 0).sum(axis=1) / cnt
            ym = np.nansum(arr, axis=1) / cnt
            dx = np.where(ok, x - xm[:, None], 0.0)
            dy = np.where(ok, arr - ym[:, None], 0.0)
            sxx = (dx * dx).sum(axis=1)
            slope = np.where(sxx > 0, (dx * dy).sum(axis=1) / np.where(sxx > 0, sxx, 1), 0.0)
            resid = np.where(ok, dy - slope[:, None] * dx, np.nan)
            self._sigma = np.nan_to_num(np.nanstd(resid, axis=1))
        self._slope = np.nan_to_num(slope)
        self._intercept = ym + self._slope * (t - 1 - xm)  # fitted value at the newest step
        self._n, self._xm_end, self._sxx = cnt, (t - 1) - xm, sxx
        return self

    def predict(self, h: int, levels: Sequence[int] = DEFAULT_LEVELS) -> Forecast:
        levels = check_levels(levels)
        k = np.arange(1, h + 1, dtype=float)[None, :]
        mean = self._intercept[:, None] + self._slope[:, None] * k
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            # Classical prediction error of a regression line: grows with distance from the data.
            lever = 1 + 1 / self._n[:, None] + (self._xm_end[:, None] + k) ** 2 / self._sxx[:, None]
            sigma = self._sigma[:, None] * np.sqrt(np.nan_to_num(lever, nan=1.0, posinf=1.0))
        return shape_like(normal_intervals(mean, sigma, levels), self._single)


class PromHoltWinters(ModelBase):
    """Prometheus ``holt_winters(v[window], sf, tf)``: flat forecast at the smoothed level."""

    name = "prom_holt_winters"
    capabilities = Capabilities(vectorised=True)

    def __init__(
        self, season_length: int = 1, sf: float = 0.5, tf: float = 0.5, window: int | None = None
    ) -> None:
        if not (0 < sf < 1 and 0 < tf < 1):
            raise ValueError("holt_winters factors must be strictly between 0 and 1")
        self.sf, self.tf, self.window = sf, tf, window

    def fit(self, y: np.ndarray) -> "PromHoltWinters":
        arr, self._single = as_2d(y)
        arr = clean(_window(arr, self.window))
        n = arr.shape[0]
        # Samples absent from a range vector are skipped, so each row runs over its own samples.
        s1 = np.full(n, np.nan)
        s0 = np.full(n, np.nan)
        b = np.full(n, np.nan)
        seen = np.zeros(n, dtype=int)
        resid = np.full(arr.shape, np.nan)
        for j in range(arr.shape[1]):
            v = arr[:, j]
            ok = ~np.isnan(v)
            first = ok & (seen == 0)
            second = ok & (seen == 1)
            later = ok & (seen >= 1)
            s1 = np.where(first, v, s1)
            b = np.where(second, v - s1, b)
            # calcTrendValue: the first update keeps the initial trend, later ones smooth it.
            trend = np.where(seen == 1, b, self.tf * (s1 - s0) + (1 - self.tf) * b)
            b = np.where(later, trend, b)
            resid[:, j] = np.where(later, v - s1, np.nan)
            new_s1 = self.sf * v + (1 - self.sf) * (s1 + b)
            s0 = np.where(later, s1, s0)
            s1 = np.where(later, new_s1, s1)
            seen += ok
        self._level = s1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            self._sigma = np.nan_to_num(np.nanstd(resid, axis=1))
        return self

    def predict(self, h: int, levels: Sequence[int] = DEFAULT_LEVELS) -> Forecast:
        levels = check_levels(levels)
        mean = np.repeat(self._level[:, None], h, axis=1)
        sigma = self._sigma[:, None] * np.sqrt(np.arange(1, h + 1))[None, :]
        return shape_like(normal_intervals(mean, sigma, levels), self._single)
