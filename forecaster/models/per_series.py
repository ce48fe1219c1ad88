"""The loop for models whose library fits one series at a time.

Each row is cleaned (gaps interpolated, leading NaNs dropped); a row the library cannot handle (too
short, constant, all NaN, a failed optimiser) is forecast by seasonal naive instead and the reason
is kept in ``notes`` so the engine can report it per series.
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np

from ..interrupt import checkpoint
from .arrays import fill_gaps
from .intervals import horizon_widening, nanstd_rows, normal_intervals
from .base import DEFAULT_LEVELS, Capabilities, Forecast, ModelBase, as_2d, check_levels, shape_like
from .seasonal_naive import SeasonalNaive


class SeriesUnfit(Exception):
    """A row this model cannot fit; the message says why (it becomes the per-series note)."""


class PerSeriesModel(ModelBase):
    name = "per_series"
    # Gaps are interpolated before the library sees a row (it cannot take NaN).
    capabilities = Capabilities(per_series_library=True, handles_missing=False)
    #: fewest points (after dropping leading NaNs) the library needs, in seasons
    min_seasons: float = 2.0

    def __init__(self, season_length: int = 1) -> None:
        if season_length < 1:
            raise ValueError(f"season_length must be >= 1, got {season_length}")
        self.season_length = int(season_length)
        self.notes: list[str] = []
        self.fallback: list[bool] = []

    # -- to implement -------------------------------------------------------------------------
    def _fit_one(self, row: np.ndarray) -> Any:
        """Fit one clean row; return whatever ``_predict_one`` needs. Raise SeriesUnfit to fall back."""
        raise NotImplementedError

    def _predict_one(self, state: Any, h: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean forecast of one row and its standard deviation per step ahead."""
        raise NotImplementedError

    def _resid_sigma(self, resid: np.ndarray, h: int) -> np.ndarray:
        """Per-step spread from one-step residuals, for libraries that give no forecast variance."""
        sd = nanstd_rows(np.asarray(resid, dtype=float)[None, :])[0]
        return sd * horizon_widening(h, self.season_length)

    # -- shared -------------------------------------------------------------------------------
    def fit(self, y: np.ndarray) -> "PerSeriesModel":
        arr, self._single = as_2d(y)
        self._arr = arr
        self._states: list[Any] = []
        self.notes, self.fallback = [], []
        need = int(np.ceil(self.min_seasons * self.season_length)) + 2
        for row in arr:
            checkpoint()
            clean_row = fill_gaps(row)
            note, state = "", None
            if clean_row.size < need:
                note = (
                    f"{self.name}: {clean_row.size} points, fewer than two seasons ({need}); "
                    "seasonal naive used"
                )
            elif np.ptp(clean_row) == 0:
                note = f"{self.name}: constant series; seasonal naive used"
            else:
                if self.season_length > 1 and clean_row.size < 2 * self.season_length + 2:
                    note = (
                        f"{self.name}: {clean_row.size} points, fewer than two seasons; "
                        "fitted without a season"
                    )
                try:
                    with warnings.catch_warnings():
                        # Optimisers warn on nearly every real series; the backtest judges fit.
                        warnings.simplefilter("ignore")
                        state = self._fit_one(clean_row)
                except SeriesUnfit as exc:
                    note = f"{self.name}: {exc}; seasonal naive used"
                except (ValueError, np.linalg.LinAlgError, FloatingPointError, IndexError) as exc:
                    note = f"{self.name} failed ({type(exc).__name__}: {exc}); seasonal naive used"
            self._states.append(state)
            self.notes.append(note)
            self.fallback.append(state is None)
        if any(self.fallback):
            rows = np.flatnonzero(self.fallback)
            self._fallback = SeasonalNaive(self.season_length).fit(arr[rows])
            self._fallback_rows = rows
        return self

    def predict(self, h: int, levels: Sequence[int] = DEFAULT_LEVELS) -> Forecast:
        levels = check_levels(levels)
        n = len(self._states)
        out: Forecast = {"mean": np.empty((n, h))}
        for lv in levels:
            out[f"lower-{lv}"] = np.empty((n, h))
            out[f"upper-{lv}"] = np.empty((n, h))
        for i, state in enumerate(self._states):
            if state is None:
                continue
            checkpoint()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    mean, sigma = self._predict_one(state, h)
            except (ValueError, np.linalg.LinAlgError, FloatingPointError, IndexError) as exc:
                self._states[i] = None
                self.notes[i] = f"{self.name} predict failed ({exc}); seasonal naive used"
                self.fallback[i] = True
                continue
            if not np.all(np.isfinite(mean)):
                self._states[i] = None
                self.notes[i] = f"{self.name} produced non-finite forecasts; seasonal naive used"
                self.fallback[i] = True
                continue
            sigma = np.nan_to_num(np.asarray(sigma, dtype=float))
            for k, v in normal_intervals(np.asarray(mean, dtype=float), sigma, levels).items():
                out[k][i] = v
        rows = np.flatnonzero(self.fallback)
        if rows.size:
            if not hasattr(self, "_fallback_rows") or not np.array_equal(rows, self._fallback_rows):
                self._fallback = SeasonalNaive(self.season_length).fit(self._arr[rows])
                self._fallback_rows = rows
            fb = self._fallback.predict(h, levels)
            for k in out:
                out[k][rows] = fb[k]
        return shape_like(out, self._single)
