"""Physical limits, ordered intervals and the noise floor that every published forecast obeys."""

import numpy as np
import pytest

from promcast_common.config import ConfigError, validate
from promcast_forecaster.config import ForecasterConfig
from promcast_forecaster.engine import forecast_target, select_series
from promcast_forecaster.limits import Limits, enforce, limits_for
from promcast_forecaster.source import RawSeries

STEP = 3600.0
END = 1_790_000_000.0 // STEP * STEP


def target(**over):
    spec = {
        "name": "cpu",
        "query": "x",
        "step": "1h",
        "history": "10d",
        "season": "1d",
        "horizons": ["1h", "1d", "3d"],
        **over,
    }
    return validate(ForecasterConfig, {"targets": [spec]}).resolved_targets()[0]


def run(t, rows):
    ts = END - STEP * np.arange(t.points)[::-1]
    raw = [RawSeries({"host": name}, ts, y[-t.points :]) for name, y in rows.items()]
    res = forecast_target(t, select_series(raw, t).series, END, END)
    return {s.labels["host"]: s for s in res.series}, res


def falling(points):
    """A gauge that falls towards zero: every trend-following model goes negative."""
    t = np.arange(points)
    return np.maximum(0.0, 50 - 50 * t / points) + 0.5 * (1 + np.sin(2 * np.pi * t / 24))


def all_values(s):
    return list(s.mean.values()) + [v for pair in s.bounds.values() for v in pair]


def test_a_gauge_that_never_went_negative_is_never_forecast_negative_by_default():
    t = target(model="seasonal_naive_drift")
    by_host, res = run(t, {"a": falling(t.points)})
    assert min(all_values(by_host["a"])) >= 0
    assert np.nanmin(res.curves["lower-95"]) >= 0 and np.nanmin(res.curves["mean"]) >= 0


def test_min_null_and_a_history_below_the_minimum_leave_the_forecast_unclipped():
    falling_target = target(model="seasonal_naive_drift", min=None)
    by_host, _ = run(falling_target, {"a": falling(falling_target.points)})
    assert min(all_values(by_host["a"])) < 0
    t = target(model="seasonal_naive_drift")  # min 0, but this series is a temperature
    by_host, _ = run(t, {"t": falling(t.points) - 20})
    assert min(all_values(by_host["t"])) < -20


def test_max_caps_forecasts_and_bounds_at_a_number_or_the_capacity():
    t = target(model="seasonal_naive_drift", max=60)
    rising = 100 - falling(t.points)  # 50 .. 100, growing
    rising = rising * 0.55  # stays under 60 in the history
    by_host, _ = run(t, {"r": rising})
    assert max(all_values(by_host["r"])) <= 60
    cap = target(model="seasonal_naive_drift", capacity=58, max="capacity")
    by_host, _ = run(cap, {"r": rising})
    assert max(all_values(by_host["r"])) <= 58
    assert by_host["r"].exhaustion_seconds < np.inf  # a capped forecast still reaches capacity


def test_max_capacity_needs_a_capacity_above_and_max_must_exceed_min():
    with pytest.raises(ConfigError, match="max: capacity needs a capacity"):
        target(max="capacity")
    with pytest.raises(ConfigError, match=r"max \(0\) must be above min \(0\)"):
        target(max=0)


def test_the_point_forecast_lies_inside_nested_intervals_whatever_the_model_returns():
    mean = np.array([[5.0, 5.0, 5.0]])
    fc = {
        "mean": mean,
        "lower-80": np.array([[6.0, 4.0, 1.0]]),
        "upper-80": np.array([[7.0, 6.0, 2.0]]),
        "lower-95": np.array([[4.5, 4.5, 0.0]]),
        "upper-95": np.array([[9.0, 5.5, 9.0]]),
    }
    out = enforce(fc, Limits(np.array([-np.inf]), np.array([np.inf]), np.array([0.0])))
    assert (out["lower-95"] <= out["lower-80"]).all() and (out["lower-80"] <= out["mean"]).all()
    assert (out["mean"] <= out["upper-80"]).all() and (out["upper-80"] <= out["upper-95"]).all()
    np.testing.assert_array_equal(out["lower-80"], [[5.0, 4.0, 1.0]])
    np.testing.assert_array_equal(out["upper-95"], [[9.0, 6.0, 9.0]])


def test_an_idle_series_that_spikes_gets_intervals_of_nonzero_width():
    t = target(model="seasonal_naive")
    idle = np.full(t.points, 3.0)
    idle[::37] = 40.0  # mostly constant, so the empirical error quantiles are exactly zero
    flat = np.full(t.points, 7.0)
    by_host, _ = run(t, {"idle": idle, "flat": flat})
    for (hz, lv), (lo, hi) in by_host["idle"].bounds.items():
        assert hi > lo, (hz, lv)
        assert lo >= 0
    # A series that never varied keeps its exact forecast: nothing to be unsure about.
    assert all(lo == hi == 7.0 for lo, hi in by_host["flat"].bounds.values())


def test_limits_follow_each_series_history():
    hist = np.array([[0.0, 1.0, np.nan, 2.0], [-1.0, 0.0, 1.0, 2.0], [np.nan] * 4])
    lim = limits_for(hist, 0.0, np.array([5.0, 1.0, np.nan]))
    assert lim.lower.tolist() == [0.0, -np.inf, -np.inf]
    assert lim.upper.tolist() == [5.0, np.inf, np.inf]  # the second went above its cap
    assert lim.noise[0] > 0 and lim.noise[2] == 0


def test_the_backtest_scores_the_bounded_forecast():
    t = target(model="seasonal_naive_drift")
    y = falling(t.points)
    y[-120:] = 0.0  # reached zero: an unbounded drift forecast keeps falling below it
    bounded, _ = run(t, {"a": y})
    unbounded, _ = run(target(model="seasonal_naive_drift", min=None), {"a": y})
    assert bounded["a"].backtest_mase < unbounded["a"].backtest_mase


def test_a_band_clipped_to_nothing_at_the_minimum_is_widened_upwards():
    fc = {
        "mean": np.array([[-3.0, 0.5]]),
        "lower-80": np.array([[-5.0, -1.0]]),
        "upper-80": np.array([[-1.0, 0.5]]),
    }
    lim = limits_for(np.array([[0.0, 2.0, 0.0, 2.0, np.nan, 1.0]]), 0.0)
    out = enforce(fc, lim)
    assert out["mean"][0, 0] == 0 and out["lower-80"][0, 0] == 0
    assert out["upper-80"][0, 0] > 0


def test_a_series_seen_every_other_step_still_has_a_noise_scale():
    hist = np.array([[1.0, np.nan, 3.0, np.nan, 2.0, np.nan, 5.0]])
    assert limits_for(hist).noise[0] > 0
