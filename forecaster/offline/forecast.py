"""Forecasting series read from a file the way the service forecasts a target: in batches, each
model's output kept inside its limits, and one series that breaks its model retried alone, then
forecast by seasonal naive, and only reported as an error if even that fails; the others are never
affected."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from promcast_forecaster.calendar_effects import HolidayAdjusted, HolidayCalendar
from promcast_forecaster.limits import Limits, enforce, limits_for
from promcast_forecaster.offline.series import Series


@dataclass
class Result:
    forecasts: dict[str, np.ndarray] = field(default_factory=dict)  # per key: (h,)
    model: str = ""
    note: str = ""
    error: str = ""


def forecast_series(
    series: Sequence[Series],
    name: str,
    season: int,
    horizon: int,
    levels: list[int],
    *,
    grid_step: float,
    options: dict[str, Any] | None = None,
    batch: int = 500,
    lower: float | None = None,
    upper: float | None = None,
    progress: Callable[[int], None] | None = None,
    holidays: HolidayCalendar | None = None,
) -> dict[str, Result]:
    """Every series' forecast (or why there is none), ``batch`` series fitted together, each
    forecast inside ``lower`` / ``upper``; ``progress`` is told how many series each batch had.
    ``grid_step`` is the series' step in seconds, which places each row on the clock (see
    :func:`forecast_chunk`) and ``holidays`` on its days."""
    size = max(1, batch)
    results: dict[str, Result] = {}
    for start in range(0, len(series), size):
        chunk = series[start : start + size]
        results.update(
            forecast_chunk(chunk, name, season, horizon, levels, options or {}, grid_step, holidays)
        )
        if progress is not None:
            progress(len(chunk))
    by_id = {s.series_id: s for s in series}
    for sid, res in results.items():  # every model, fallbacks included, as the service does
        if res.forecasts:
            res.forecasts = bounded(res.forecasts, by_id[sid].values, lower, upper)
    return results


def bounded(
    forecast: dict[str, np.ndarray], history: np.ndarray, lower: float | None, upper: float | None
) -> dict[str, np.ndarray]:
    """The forecast inside the bounds given (always, unlike the service's history-aware
    limits: they were asked for explicitly), ordered, without zero-width intervals."""
    noise = limits_for(history[None, :]).noise
    bounds = Limits(
        np.array([-np.inf if lower is None else lower]),
        np.array([np.inf if upper is None else upper]),
        noise,
    )
    return {
        k: v[0] for k, v in enforce({k: v[None, :] for k, v in forecast.items()}, bounds).items()
    }


def _matrix(chunk: Sequence[Series]) -> np.ndarray:
    width = max(s.values.size for s in chunk)
    mat = np.full((len(chunk), width), np.nan)
    for i, s in enumerate(chunk):
        mat[i, width - s.values.size :] = s.values
    return mat


def forecast_chunk(
    chunk: Sequence[Series],
    name: str,
    season: int,
    horizon: int,
    levels: list[int],
    options: dict[str, Any],
    grid_step: float,
    holidays: HolidayCalendar | None = None,
) -> dict[str, Result]:
    from promcast_forecaster.models import make_model, model_capabilities

    try:
        matrix = _matrix(chunk)
        # Rows are right-aligned on each series' newest sample: column 0 of row i is that sample
        # less the matrix's width in steps. Models that learn a seasonal shape across the rows
        # (auto's short histories) get each row's phase on the clock, so series ending at
        # different times of day share one daily shape.
        starts = np.array([s.last_ts - (matrix.shape[1] - 1) * grid_step for s in chunk])
        if season > 1 and model_capabilities(name).per_series_choice:
            options = {**options, "phases": np.round(starts / grid_step).astype(np.int64) % season}
        model = make_model(name, season, horizon=horizon, levels=levels, **options)
        if holidays is not None:
            model = HolidayAdjusted(model, holidays, grid_step, season).at(starts)
        model.fit(matrix)
        fc = model.predict(horizon, levels)
        return _results(chunk, model, fc, name)
    except Exception:  # noqa: BLE001 - isolate the series that broke the batch below
        if len(chunk) > 1:
            out: dict[str, Result] = {}
            for s in chunk:
                out.update(
                    forecast_chunk([s], name, season, horizon, levels, options, grid_step, holidays)
                )
            return out
    series = chunk[0]
    if name == "seasonal_naive":
        return {series.series_id: Result(error="seasonal naive failed on this series")}
    fallback = forecast_chunk([series], "seasonal_naive", season, horizon, levels, {}, grid_step)
    res = fallback[series.series_id]
    if not res.error:
        res.note = f"{name} failed on this series; seasonal naive used"
    return fallback


def _results(
    chunk: Sequence[Series], model: Any, fc: dict[str, np.ndarray], name: str
) -> dict[str, Result]:
    chosen = model.row_models(len(chunk))
    notes = model.row_notes(len(chunk))
    out = {}
    for i, s in enumerate(chunk):
        row = {k: np.asarray(v, dtype=float)[i] for k, v in fc.items()}
        if not np.isfinite(row["mean"]).all():
            out[s.series_id] = Result(error="model produced no finite forecast")
            continue
        out[s.series_id] = Result(forecasts=row, model=chosen[i], note=notes[i])
    return out
