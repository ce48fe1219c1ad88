"""One target's cycle on arrays: alignment, horizons, exhaustion, labels, bad data."""

import math

import numpy as np
import pytest

from exporter.core.config import validate
from forecaster.config import ForecasterConfig
from forecaster.engine import align, exhaustion_seconds, forecast_target, output_labels
from forecaster.models import SeasonalNaive
from forecaster.source import RawSeries

STEP = 3600.0


def target(**over):
    spec = {"name": "disk", "query": "x", "step": "1h", "history": "10d", "season": "1d",
            "horizons": ["1d", "3d"], "capacity": 0.9, "lead_time": "7d", **over}
    return validate(ForecasterConfig, {"targets": [spec]}).resolved_targets()[0]


def grid(t):
    end = 1_790_000_000.0 // STEP * STEP
    ts = end - STEP * np.arange(t.points)[::-1]
    return ts, end


def daily_growth(ts, start_level, per_day, amp=0.02):
    return start_level + per_day * (ts - ts[-1]) / 86400 + amp * np.sin(2 * np.pi * ts / 86400)


def test_growing_series_is_forecast_to_cross_its_capacity_at_the_right_time():
    t = target()
    ts, end = grid(t)
    y = daily_growth(ts, 0.80, 0.05)  # 0.8 now, +5%/day: crosses 0.9 in about two days
    flat = np.full_like(ts, 0.3)
    res = forecast_target(t, [RawSeries({"__name__": "u", "host": "a"}, ts, y),
                              RawSeries({"host": "b"}, ts, flat)], end, end + 60)
    by_host = {s.labels["host"]: s for s in res.series}
    assert 1.5 * 86400 < by_host["a"].exhaustion_seconds < 2.5 * 86400
    assert math.isinf(by_host["b"].exhaustion_seconds)
    assert by_host["a"].mean[86400.0] == pytest.approx(0.85, abs=0.03)
    lo, hi = by_host["a"].bounds[(86400.0, 80)]
    lo95, hi95 = by_host["a"].bounds[(86400.0, 95)]
    assert lo95 <= lo <= by_host["a"].mean[86400.0] <= hi <= hi95
    assert by_host["a"].labels == {"host": "a", "target": "disk"}
    assert by_host["a"].model == "seasonal_naive_drift"


def test_exhaustion_edges():
    path = np.array([0.5, 0.8, 0.95, 1.0])
    assert exhaustion_seconds(path, 0.4, 0.9, "above", 60, 0) == 180
    assert exhaustion_seconds(path, 0.4, 0.9, "above", 60, 30) == 150   # the grid lags now
    assert exhaustion_seconds(path, 0.92, 0.9, "above", 60, 0) == 0     # already crossed
    assert math.isinf(exhaustion_seconds(path, 0.4, 1.5, "above", 60, 0))
    assert math.isinf(exhaustion_seconds(path, 0.4, None, "above", 60, 0))
    assert exhaustion_seconds(-path, -0.4, -0.9, "below", 60, 0) == 180  # free space falling


def test_gaps_nan_inf_and_empty_series():
    t = target()
    ts, end = grid(t)
    y = daily_growth(ts, 0.5, 0.01)
    y[50:80] = np.nan
    y[100] = np.inf
    keep = np.isfinite(y) | np.isinf(y)
    series = [RawSeries({"host": "gappy"}, ts[keep], y[keep]),
              RawSeries({"host": "dead"}, ts, np.full_like(ts, np.nan)),
              RawSeries({"host": "one"}, ts[-1:], np.array([0.2]))]
    res = forecast_target(t, series, end, end)
    assert [s.labels["host"] for s in res.series] == ["gappy"]
    assert res.skipped == 2
    assert all(np.isfinite(v) for v in res.series[0].mean.values())


def test_short_history_falls_back_to_non_seasonal_and_says_why():
    t = target(history="30h")
    ts, end = grid(t)
    res = forecast_target(t, [RawSeries({"host": "a"}, ts, daily_growth(ts, 0.5, 0.01))], end, end)
    assert "shorter than two seasons" in res.series[0].reason


def test_label_clash_keeps_source_target_as_exported_target():
    assert output_labels({"__name__": "m", "target": "db"}, "disk") == {
        "exported_target": "db", "target": "disk"}


def test_align_places_points_on_the_grid():
    m = align([RawSeries({}, np.array([100.0, 300.0]), np.array([1.0, 3.0]))], 100.0, 100.0, 4)
    assert np.array_equal(np.isnan(m[0]), [False, True, False, True])


def test_seasonal_naive_repeats_the_last_season_and_handles_2d():
    y = np.tile([1.0, 2.0, 3.0], 4)
    fc = SeasonalNaive(3).fit(np.vstack([y, y + 10])).predict(5, [80])
    assert np.allclose(fc["mean"], [[1, 2, 3, 1, 2], [11, 12, 13, 11, 12]])
    assert fc["lower-80"].shape == (2, 5)
