"""The interface every model implements; models know nothing of Prometheus.

``fit(y)`` takes one series as a 1-D array or many aligned series as a 2-D array (one row per
series, NaN for gaps). ``predict(h, levels)`` returns arrays of the same rank: ``"mean"`` and, for
each level L, ``"lower-L"`` and ``"upper-L"`` (central L% prediction interval), with ``h`` steps
on the last axis.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

Forecast = dict[str, np.ndarray]
DEFAULT_LEVELS: tuple[int, ...] = (80, 95)


class Model(Protocol):
    name: str

    def fit(self, y: np.ndarray) -> "Model": ...

    def predict(self, h: int, levels: Sequence[int] = DEFAULT_LEVELS) -> Forecast: ...


def as_2d(y: np.ndarray) -> tuple[np.ndarray, bool]:
    """The series as float rows, and whether the caller passed a single 1-D series."""
    arr = np.asarray(y, dtype=float)
    if arr.ndim == 1:
        return arr[None, :], True
    if arr.ndim != 2:
        raise ValueError(f"expected a 1-D or 2-D array of series, got shape {arr.shape}")
    return arr, False


def shape_like(forecast: Forecast, single: bool) -> Forecast:
    return {k: (v[0] if single else v) for k, v in forecast.items()}


def check_levels(levels: Sequence[int]) -> list[int]:
    out = [int(lv) for lv in levels]
    bad = [lv for lv in out if not 0 < lv < 100]
    if bad:
        raise ValueError(f"interval levels must be between 0 and 100 (percent), got {bad}")
    return out


def interval_keys(level: int) -> tuple[str, str]:
    return f"lower-{level}", f"upper-{level}"
