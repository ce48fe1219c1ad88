"""A second, longer seasonal cycle for any model, vectorised over the fleet.

Hourly metrics repeat daily and weekly, daily ones weekly and yearly; the models here learn one
season. ``Deseasonalised`` takes the longer cycle out as a per-series profile: each complete
cycle's deviation from its own mean (so a cycle at another level, such as a year after a regime
change, neither shifts nor dominates it), smoothed over one short season so only the long cycle's
shape is left, the median of those over the cycles, shrunk by how consistently they agree. The
inner model forecasts what is left with the short season, and the profile is added back along
the forecast. Whether a series keeps the long cycle is not decided here: ``auto`` backtests the
model with and without it.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Callable, Sequence

import numpy as np

from .arrays import clean, row_blocks
from .base import DEFAULT_LEVELS, Forecast, Model, ModelBase, as_2d, check_levels, shape_like

#: Complete cycles of history a long season needs before it is learnt (with fewer, one cycle's
#: noise would be repeated as if it were the pattern).
MIN_CYCLES = 2


def seasonal_profile(arr: np.ndarray, period: int, smooth: int) -> np.ndarray:
    """Per row, the long cycle's profile (n, period) by phase ``t % period`` of the row's own
    time index, mean 0, shrunk by how consistently the cycles repeat it (see
    :func:`_shrinkage`); zeros for rows with fewer than :data:`MIN_CYCLES` complete cycles."""
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
            # Each cycle smoothed on its own, so the spread between cycles is measured on the
            # same (smoothed) scale as the profile it is compared with.
            dev = _circular_mean(dev.reshape((b - a) * k, period), max(1, int(smooth)))
            dev = dev.reshape(b - a, k, period)
            enough = np.isfinite(dev).sum(axis=1) >= MIN_CYCLES
            prof = np.where(enough, np.nanmedian(dev, axis=1), np.nan)
            # A row whose own history (from its first value) is shorter than the cycles learns none.
            first = np.argmax(np.isfinite(arr[a:b]), axis=1)
            prof[t_len - first < MIN_CYCLES * period] = np.nan
            prof = prof - np.nanmean(prof, axis=1, keepdims=True)
            prof = prof * _shrinkage(prof, dev)[:, None]
        out[a:b] = np.nan_to_num(prof)
    # Phase of the row's own index: column j of the cycles is time start + j.
    return np.roll(out, start % period, axis=1)


def _shrinkage(prof: np.ndarray, dev: np.ndarray) -> np.ndarray:
    """Per row, how much of the profile to keep: 1 - (its estimation noise / its own size), at
    least 0. The noise is the spread of the cycles around the profile over the number of cycles
    (the variance of a mean, widened for a median), so a cycle seen a few times that disagrees
    with itself is mostly dropped and one that repeats clearly is kept whole (the James-Stein
    idea, as seasonal naive shrinks its drift)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        cycles = np.isfinite(dev).sum(axis=1)  # (rows, period)
        # A median of three or more values varies about pi/2 times as much as their mean.
        efficiency = np.where(cycles >= 3, np.pi / 2, 1.0)
        noise = np.nanmean(efficiency * np.nanvar(dev, axis=1) / np.maximum(cycles, 1), axis=1)
        signal = np.nanmean(prof**2, axis=1)
        keep = 1.0 - noise / signal
    return np.clip(np.nan_to_num(keep, nan=0.0), 0.0, 1.0)


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
        return (sums[:, width : width + period] - sums[:, :period]) / (
            counts[:, width : width + period] - counts[:, :period]
        )


class Deseasonalised(ModelBase):
    """``make_inner()`` fitted on the series less their ``period``-step profile, which
    ``predict`` adds back; ``smooth`` (the inner model's season) is the profile's smoothing."""

    def __init__(
        self, make_inner: Callable[[], Model], period: int, smooth: int, label: str | None = None
    ) -> None:
        if period < 2:
            raise ValueError(f"a second season must span at least two steps, got {period}")
        self.inner = make_inner()
        self.period, self.smooth = int(period), int(smooth)
        self.name = label or f"{self.inner.name}(+{self.period})"
        self.capabilities = dataclasses.replace(
            self.inner.capabilities, multi_seasonal=True, online_update=False
        )

    def fit(self, y: np.ndarray) -> "Deseasonalised":
        arr, self._single = as_2d(y)
        self._t_len = arr.shape[1]
        self._profile = seasonal_profile(arr, self.period, self.smooth)
        phase = np.arange(self._t_len) % self.period
        self.inner.fit(arr - self._profile[:, phase])
        short = arr.shape[1] // self.period < MIN_CYCLES
        self.notes = [
            f"fewer than {MIN_CYCLES} cycles of {self.period} steps: that season left out"
            if short
            else ""
            for _ in range(arr.shape[0])
        ]
        return self

    def row_models(self, n: int) -> list[str]:
        return [f"{name}(+{self.period})" for name in self.inner.row_models(n)]

    def row_notes(self, n: int) -> list[str]:
        inner = self.inner.row_notes(n)
        return ["; ".join(filter(None, [a, b])) for a, b in zip(inner, super().row_notes(n))]

    def predict(self, h: int, levels: Sequence[int] = DEFAULT_LEVELS) -> Forecast:
        levels = check_levels(levels)
        fc = self.inner.predict(h, levels)
        phase = (self._t_len + np.arange(h)) % self.period
        add = self._profile[:, phase]
        return shape_like({k: np.atleast_2d(v) + add for k, v in fc.items()}, self._single)
