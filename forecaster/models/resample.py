"""Long horizons from downsampled history.

A 90-day forecast at 5-minute steps would be 26,000 steps from a model that has seen two weeks;
averaging blocks of ``factor`` steps (e.g. 12 for 5m -> 1h, 288 for 5m -> 1d) shortens the series
so a model can see months, and the season shrinks by the same factor, so a weekly pattern stays a
season of 168 hourly or 7 daily steps. The coarse forecast is spread back onto the fine grid.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Callable, Sequence

import numpy as np

from .arrays import clean
from .base import DEFAULT_LEVELS, Forecast, Model, ModelBase, as_2d, check_levels, shape_like


def downsample(arr: np.ndarray, factor: int) -> np.ndarray:
    """Means over blocks of ``factor`` steps, aligned so the newest block ends at the newest step."""
    arr2, single = as_2d(arr)
    arr2 = clean(arr2)
    n, t_len = arr2.shape
    blocks = t_len // factor
    tail = arr2[:, t_len - blocks * factor :].reshape(n, blocks, factor)
    with warnings.catch_warnings():  # an all-gap block is a gap
        warnings.simplefilter("ignore", RuntimeWarning)
        out = np.nanmean(tail, axis=2)
    return out[0] if single else out


class Downsampled(ModelBase):
    """Fit ``make_inner(coarse_season_length)`` on block means and repeat its forecast per block."""

    def __init__(self, make_inner: Callable[[int], Model], season_length: int, factor: int) -> None:
        if factor < 1:
            raise ValueError(f"downsampling factor must be >= 1, got {factor}")
        self.factor = int(factor)
        self.inner = make_inner(max(1, season_length // self.factor))
        self.name = f"{self.inner.name}@{self.factor}x"
        # What the inner model is, except that new data means new block means: a full fit.
        self.capabilities = dataclasses.replace(self.inner.capabilities, online_update=False)

    def fit(self, y: np.ndarray) -> "Downsampled":
        arr, self._single = as_2d(y)
        self.inner.fit(downsample(arr, self.factor))
        return self

    def row_models(self, n: int) -> list[str]:
        return [f"{name}@{self.factor}x" for name in self.inner.row_models(n)]

    def row_notes(self, n: int) -> list[str]:
        return self.inner.row_notes(n)

    def predict(self, h: int, levels: Sequence[int] = DEFAULT_LEVELS) -> Forecast:
        levels = check_levels(levels)
        coarse_h = -(-h // self.factor)
        coarse = self.inner.predict(coarse_h, levels)
        out = {
            k: np.repeat(np.atleast_2d(v), self.factor, axis=-1)[:, :h] for k, v in coarse.items()
        }
        return shape_like(out, self._single)
