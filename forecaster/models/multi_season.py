"""A second, longer seasonal cycle for any model, vectorised over the fleet.

Hourly metrics repeat daily and weekly, daily ones weekly and yearly; the models here learn one
season. ``Deseasonalised`` takes the longer cycle out as a per-series profile (the median over
the history's complete cycles of each cycle's deviation from its own mean, so a cycle at another
level, such as a year after a regime change, neither shifts nor dominates it), smoothed over one
short season so it keeps only the long cycle's shape; the inner model forecasts what is left with
the short season, and the profile is added back along the forecast. Whether a series keeps the
long cycle is not decided here: ``auto`` backtests the model with and without it.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Callable, Sequence

import numpy as np

from ._util import clean, row_blocks
from .base import DEFAULT_LEVELS, Forecast, Model, ModelBase, as_2d, check_levels, shape_like

#: Complete cycles of history a long season needs before it is learnt (with fewer, one cycle's
#: noise would be repeated as if it were the pattern).
MIN_CYCLES = 2


def seasonal_profile(arr: np.ndarray, period: int, smooth: int) -> np.ndarray:
    """Per row, the long cycle's profile (n, period) by phase ``t % period`` of the row's own
    time index, mean 0; zeros for rows with fewer than :data:`MIN_CYCLES` complete cycles."""
    n, t_len = arr.shape
    k = t_len // period
    out = np.zeros((n, period))
    if k < MIN_CYCLES:
        return out
    start = t_len - k * period
    for a, b in row_blocks(n, t_len):  # no fleet-sized temporaries
        cycles = clean(arr[a:b, start:]).reshape(b - a, k, period)
        with warnings.catch_warnings():  # all-NaN cycles and phases are expected in gappy rows
            warnings.simplefilter("ignore", RuntimeWarning)
            dev = cycles - np.nanmean(cycles, axis=2, keepdims=True)
            enough = np.isfinite(dev).sum(axis=1) >= MIN_CYCLES
            prof = np.where(enough, np.nanmedian(dev, axis=1), np.nan)
            prof = _circular_mean(prof, max(1, int(smooth)))
            prof = prof - np.nanmean(prof, axis=1, keepdims=True)
        out[a:b] = np.nan_to_num(prof)
    # Phase of the row's own index: column j of the cycles is time start + j.
    return np.roll(out, start % period, axis=1)


def _circular_mean(prof: np.ndarray, width: int) -> np.ndarray:
    """Centred moving mean over ``width`` phases, wrapping around the cycle, ignoring NaN."""
    if width <= 1:
        return prof
    period = prof.shape[1]
    half = width // 2
    idx = np.arange(-half, period + width - half) % period  # the cycle, wrapped at both ends
    wrapped = prof[:, idx]
    ok = np.isfinite(wrapped)
    zero = np.zeros((prof.shape[0], 1))
    sums = np.concatenate([zero, np.cumsum(np.where(ok, wrapped, 0.0), axis=1)], axis=1)
    counts = np.concatenate([zero, np.cumsum(ok, axis=1)], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sums[:, width:width + period] - sums[:, :period]) / (
            counts[:, width:width + period] - counts[:, :period])


class Deseasonalised(ModelBase):
    """``make_inner()`` fitted on the series less their ``period``-step profile, which
    ``predict`` adds back; ``smooth`` (the inner model's season) is the profile's smoothing."""

    def __init__(self, make_inner: Callable[[], Model], period: int, smooth: int,
                 label: str | None = None) -> None:
        if period < 2:
            raise ValueError(f"a second season must span at least two steps, got {period}")
        self.inner = make_inner()
        self.period, self.smooth = int(period), int(smooth)
        self.name = label or f"{self.inner.name}+{self.period}"
        self.capabilities = dataclasses.replace(self.inner.capabilities, multi_seasonal=True,
                                                online_update=False)

    def fit(self, y: np.ndarray) -> "Deseasonalised":
        arr, self._single = as_2d(y)
        self._t_len = arr.shape[1]
        self._profile = seasonal_profile(arr, self.period, self.smooth)
        phase = np.arange(self._t_len) % self.period
        self.inner.fit(arr - self._profile[:, phase])
        short = arr.shape[1] // self.period < MIN_CYCLES
        self.notes = [f"fewer than {MIN_CYCLES} cycles of {self.period} steps: that season left out"
                      if short else "" for _ in range(arr.shape[0])]
        return self

    def row_models(self, n: int) -> list[str]:
        return [f"{name}+{self.period}" for name in self.inner.row_models(n)]

    def row_notes(self, n: int) -> list[str]:
        inner = self.inner.row_notes(n)
        return ["; ".join(filter(None, [a, b])) for a, b in zip(inner, super().row_notes(n))]

    def predict(self, h: int, levels: Sequence[int] = DEFAULT_LEVELS) -> Forecast:
        levels = check_levels(levels)
        fc = self.inner.predict(h, levels)
        phase = (self._t_len + np.arange(h)) % self.period
        add = self._profile[:, phase]
        return shape_like({k: np.atleast_2d(v) + add for k, v in fc.items()}, self._single)
