"""The interface every model implements; models know nothing of Prometheus.

``fit(y)`` takes one series as a 1-D array or many aligned series as a 2-D array (one row per
series, NaN for gaps). ``predict(h, levels)`` returns arrays of the same rank: ``"mean"`` and, for
each level L, ``"lower-L"`` and ``"upper-L"`` (central L% prediction interval), with ``h`` steps
on the last axis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import numpy as np

Forecast = dict[str, np.ndarray]
DEFAULT_LEVELS: tuple[int, ...] = (80, 95)


@dataclass(frozen=True)
class Capabilities:
    """What a model is, declared by the model itself (like sktime's tags), so that no caller keeps
    a list of model names: the engine, the backtest and ``auto`` read these.

    A wrapper (downsampling, ``auto``, an ``sktime:`` class) reports the capabilities of what it
    wraps, so it is classified by what it does, not by its name.
    """

    #: One numpy fit covers the whole matrix of series at milliseconds per series: extra
    #: backtest folds are affordable, and ``auto`` tries longer cycles with it.
    vectorised: bool = False
    #: Fits series one at a time through a library (about 10-100 ms each): left out of ``auto``'s
    #: default candidates on large fleets.
    per_series_library: bool = False
    #: A row's forecast depends on the other rows (one model learnt from the fleet, or intervals
    #: calibrated across it): rows cannot be fitted in arbitrary batches.
    learns_across_series: bool = False
    #: ``update`` brings a fitted model up to date with new data, keeping its choices and
    #: parameters, more cheaply than ``fit``.
    online_update: bool = False
    #: Its own prediction intervals (otherwise a caller must calibrate them).
    intervals: bool = True
    #: Gaps (NaN) are handled by the model itself rather than interpolated before the fit.
    handles_missing: bool = True
    #: Models several seasonal cycles at once (e.g. daily and weekly).
    multi_seasonal: bool = False
    #: Backtests itself and publishes per-series accuracy (``backtest_scores``).
    self_backtest: bool = False
    #: Chooses among models per series (``row_models`` differs between rows).
    per_series_choice: bool = False
    #: Learns cycles many seasons long (a year of daily steps) itself, as smooth shapes, from the
    #: ``seasons`` it is given: ``auto`` offers it where the history holds two such cycles.
    long_cycles: bool = False

    @property
    def rows_independent(self) -> bool:
        """Each row's forecast depends only on that row, so rows can be batched freely."""
        return not self.learns_across_series

    def as_dict(self) -> dict[str, bool]:
        return {k: bool(getattr(self, k)) for k in self.__dataclass_fields__}


class Model(Protocol):
    name: str
    capabilities: Capabilities

    def fit(self, y: np.ndarray) -> "Model": ...

    def predict(self, h: int, levels: Sequence[int] = DEFAULT_LEVELS) -> Forecast: ...

    def update(self, y: np.ndarray) -> "Model": ...

    def row_models(self, n: int) -> list[str]: ...

    def row_notes(self, n: int) -> list[str]: ...

    def backtest_scores(self) -> dict[str, Any]: ...


class ModelBase:
    """What every model shares: its capabilities, and the per-row report the engine publishes
    (which model forecast each row, why, and the model's own backtest where it has one).

    Subclasses set ``name`` and ``capabilities`` and keep ``notes`` (one string per row, or none).
    """

    name: str = "model"
    capabilities: Capabilities = Capabilities()
    notes: Sequence[str] = ()

    def fit(self, y: np.ndarray) -> Any:  # pragma: no cover - every model implements it
        raise NotImplementedError

    def update(self, y: np.ndarray) -> Any:
        """New data for a fitted model; without ``online_update`` that is a new fit."""
        return self.fit(y)

    def row_models(self, n: int) -> list[str]:
        """The model that forecast each of ``n`` rows (``auto`` names its choice per row)."""
        return [self.name] * n

    def row_notes(self, n: int) -> list[str]:
        """Why each row was forecast as it was ("" when there is nothing to say)."""
        notes = [str(x) for x in self.notes][:n]
        return notes + [""] * (n - len(notes))

    def backtest_scores(self) -> dict[str, Any]:
        """Per-series accuracy from the model's own backtest; empty when it has none."""
        return {}


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
