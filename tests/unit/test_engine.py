"""One target's cycle on arrays: alignment, horizons, exhaustion, labels, bad data."""

import math

import numpy as np
import pytest

from promcast_common.config import validate
from promcast_forecaster.config import ForecasterConfig
from promcast_forecaster.engine import (
    align,
    exhaustion_seconds,
    forecast_target,
    match_capacity,
    output_labels,
    select_series,
    series_hash,
)
from promcast_forecaster.models import ModelBase, SeasonalNaive
from promcast_forecaster.source import RawSeries
from tests.helpers.metrics import published

STEP = 3600.0


def target(**over):
    spec = {
        "name": "disk",
        "query": "x",
        "step": "1h",
        "history": "10d",
        "season": "1d",
        "horizons": ["1d", "3d"],
        "capacity": 0.9,
        "lead_time": "7d",
        **over,
    }
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
    raw = [RawSeries({"__name__": "u", "host": "a"}, ts, y), RawSeries({"host": "b"}, ts, flat)]
    res = forecast_target(t, select_series(raw, t).series, end, end + 60)
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
    assert exhaustion_seconds(path, 0.4, 0.9, "above", 60, 30) == 150  # the grid lags now
    assert exhaustion_seconds(path, 0.92, 0.9, "above", 60, 0) == 0  # already crossed
    assert math.isinf(exhaustion_seconds(path, 0.4, 1.5, "above", 60, 0))
    assert math.isnan(exhaustion_seconds(path, 0.4, None, "above", 60, 0))  # no capacity, no claim
    assert exhaustion_seconds(-path, -0.4, -0.9, "below", 60, 0) == 180  # free space falling


def test_gaps_nan_inf_and_empty_series():
    t = target()
    ts, end = grid(t)
    y = daily_growth(ts, 0.5, 0.01)
    y[50:80] = np.nan
    y[100] = np.inf
    keep = np.isfinite(y) | np.isinf(y)
    series = [
        RawSeries({"host": "gappy"}, ts[keep], y[keep]),
        RawSeries({"host": "dead"}, ts, np.full_like(ts, np.nan)),
        RawSeries({"host": "one"}, ts[-1:], np.array([0.2])),
    ]
    res = forecast_target(t, select_series(series, t).series, end, end)
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
        "exported_target": "db",
        "target": "disk",
    }


def test_align_places_points_on_the_grid():
    m = align([RawSeries({}, np.array([100.0, 300.0]), np.array([1.0, 3.0]))], 100.0, 100.0, 4)
    assert np.array_equal(np.isnan(m[0]), [False, True, False, True])


def test_seasonal_naive_repeats_the_last_season_and_handles_2d():
    y = np.tile([1.0, 2.0, 3.0], 4)
    fc = SeasonalNaive(3).fit(np.vstack([y, y + 10])).predict(5, [80])
    assert np.allclose(fc["mean"], [[1, 2, 3, 1, 2], [11, 12, 13, 11, 12]])
    assert fc["lower-80"].shape == (2, 5)


def test_keep_drop_collisions_and_the_cap():
    ts = np.arange(5.0)
    raw = [
        RawSeries({"__name__": "m", "host": f"h{i}", "pod": f"p{i % 2}"}, ts, ts) for i in range(6)
    ]
    sel = select_series(raw, target(drop_labels=["host"]))
    assert sorted(s.labels["pod"] for s in sel.series) == ["p0", "p1"] and sel.collided == 4
    sel = select_series(raw, target(keep_labels=["host"], max_series=4))
    assert len(sel.series) == 4 and sel.over_cap == 2
    assert all(set(s.labels) == {"host", "target"} for s in sel.series)
    again = select_series(list(reversed(raw)), target(keep_labels=["host"], max_series=4))
    assert [s.labels for s in again.series] == [s.labels for s in sel.series]  # stable choice


def test_shards_partition_the_series_exactly():
    ts = np.arange(5.0)
    raw = [RawSeries({"host": f"h{i}"}, ts, ts) for i in range(200)]
    t = target(max_series=150)
    whole = {series_hash(s.labels) for s in select_series(raw, t).series}
    parts = [{series_hash(s.labels) for s in select_series(raw, t, i, 3).series} for i in range(3)]
    assert set.union(*parts) == whole and sum(map(len, parts)) == len(whole) == 150
    assert all(len(p) > 30 for p in parts)


def test_capacity_per_series_from_a_query():
    series = [
        RawSeries({"host": "a", "dev": "x"}, np.arange(2.0), np.zeros(2)),
        RawSeries({"host": "b", "dev": "x"}, np.arange(2.0), np.zeros(2)),
    ]
    caps = match_capacity(
        series, [RawSeries({"__name__": "size", "host": "a"}, np.array([1.0]), np.array([100.0]))]
    )
    assert caps[0] == 100 and np.isnan(caps[1])
    assert list(match_capacity(series, [RawSeries({}, np.array([1.0]), np.array([7.0]))])) == [7, 7]


def test_anomaly_score_of_the_newest_point_from_the_history_alone():
    from promcast_forecaster.anomaly.replay import ReplaySettings, replay
    from promcast_forecaster.engine import anomaly_settings

    t = target(history="5d")
    ts, end = grid(t)
    rng = np.random.default_rng(1)
    y = 0.5 + 0.05 * np.sin(2 * np.pi * ts / 86400) + 0.01 * rng.standard_normal(len(ts))
    normal = forecast_target(t, select_series([RawSeries({"h": "x"}, ts, y)], t).series, end, end)
    assert normal.series[0].anomaly_score < 1
    y[-1] += 0.4  # far outside anything the series did
    spiky = forecast_target(t, select_series([RawSeries({"h": "x"}, ts, y)], t).series, end, end)
    s = spiky.series[0]
    assert s.anomaly_score > 2  # well past the page (each statistic has a quarter of the budget)
    # The expected value (published so rules can tell a rise from a drop) is the normal level.
    assert (
        abs(s.expected - normal.series[0].expected) < 1e-9 and abs(s.expected - y[-1] + 0.4) < 0.05
    )
    # Nothing is carried between cycles: a restarted service computes the same score, and the
    # replay of ``promcast-forecaster anomalies`` gives it for that point too.
    again = forecast_target(t, select_series([RawSeries({"h": "x"}, ts, y)], t).series, end, end)
    assert again.series[0].anomaly_score == s.anomaly_score
    (rec,) = replay([("x", ts, y)], ReplaySettings(anomaly_settings(t)))
    assert rec.score[-1] == pytest.approx(s.anomaly_score) and rec.expected[-1] == pytest.approx(
        s.expected
    )


def test_merge_history_appends_new_points_and_cuts_old_ones():
    from promcast_forecaster.reader import merge_history

    old = [
        RawSeries({"h": "a"}, np.array([0.0, 1, 2, 3]), np.array([0.0, 1, 2, 3])),
        RawSeries({"h": "b"}, np.array([0.0, 1]), np.array([5.0, 5])),
    ]
    new = [RawSeries({"h": "a"}, np.array([3.0, 4]), np.array([30.0, 40]))]
    merged = {s.labels["h"]: s for s in merge_history(old, new, start=1)}
    assert list(merged["a"].timestamps) == [1, 2, 3, 4] and list(merged["a"].values) == [
        1,
        2,
        30,
        40,
    ]
    # No new point: its newest sample is late or missed, which does not end it (the staleness
    # decides that); only what fell out of the window is cut.
    assert list(merged["b"].timestamps) == [1] and list(merged["b"].values) == [5]
    assert "b" not in {s.labels["h"] for s in merge_history(old, new, start=2)}
    assert (
        merge_history(old, [RawSeries({"h": "new"}, np.array([4.0]), np.array([1.0]))], 1) is None
    )


def test_auto_publishes_its_choice_and_backtest_and_is_only_updated_between_refits():
    t = target(model="auto", history="8d", horizons=["6h"], fit_every="1h")
    ts, end = grid(t)
    rng = np.random.default_rng(3)
    raw = [
        RawSeries(
            {"h": str(i)},
            ts,
            daily_growth(ts, 0.3 + 0.05 * i, 0.01) + 0.01 * rng.standard_normal(len(ts)),
        )
        for i in range(4)
    ]
    first = forecast_target(t, select_series(raw, t).series, end, end)
    s = first.series[0]
    assert s.model and np.isfinite(s.backtest_mase)
    assert set(s.backtest_coverage) <= {80, 95}
    model = first.fitted.model
    model.fit = None  # a refit now would fail: only update() may be used between refits
    again = forecast_target(t, select_series(raw, t).series, end, end + 600, fitted=first.fitted)
    assert not again.refitted and again.fitted.model is model
    assert [x.model for x in again.series] == [x.model for x in first.series]


def test_every_model_reports_backtest_accuracy_kept_between_refits():
    # Models that do not backtest themselves are scored on the newest blocks of their history,
    # so the forecast-quality alert and the explorer's accuracy panels work for every target.
    t = target(model="seasonal_naive_drift", history="8d", horizons=["6h", "1d"], fit_every="1h")
    ts, end = grid(t)
    rng = np.random.default_rng(4)
    steady = daily_growth(ts, 0.3, 0.01) + 0.005 * rng.standard_normal(len(ts))
    erratic = steady + np.where(rng.random(len(ts)) < 0.3, 0.2, 0.0)  # bursts a day-ago can't tell
    raw = [RawSeries({"h": "steady"}, ts, steady), RawSeries({"h": "erratic"}, ts, erratic)]
    first = forecast_target(t, select_series(raw, t).series, end, end)
    by = {s.labels["h"]: s for s in first.series}
    assert 0 < by["steady"].backtest_mase < by["erratic"].backtest_mase
    assert set(by["steady"].backtest_coverage) == {80, 95}
    assert all(0 <= c <= 1 for s in by.values() for c in s.backtest_coverage.values())
    again = forecast_target(t, select_series(raw, t).series, end, end + 600, fitted=first.fitted)
    assert not again.refitted
    assert [s.backtest_mase for s in again.series] == [s.backtest_mase for s in first.series]
    # Budgets and ad-hoc forecasts publish no accuracy: they make no backtest.
    unscored = forecast_target(t, select_series(raw, t).series, end, end, backtest=False)
    assert all(math.isnan(s.backtest_mase) and not s.backtest_coverage for s in unscored.series)


def test_too_short_a_history_has_no_backtest_rather_than_a_made_up_one():
    t = target(model="seasonal_naive_drift", history="1d", horizons=["1d"])
    ts, end = grid(t)
    first = forecast_target(
        t, select_series([RawSeries({"h": "a"}, ts, 0.5 + 0 * ts)], t).series, end, end
    )
    assert np.isnan(first.series[0].backtest_mase) and first.series[0].backtest_coverage == {}


def test_a_failing_model_falls_back_and_is_not_backtested(monkeypatch, caplog):
    # The published forecast is then seasonal naive's: a backtest of the broken model would only
    # fail again and report the accuracy of a model that forecast nothing.
    from promcast_forecaster import engine

    class Broken:
        name = "broken"

        def fit(self, data):
            raise RuntimeError("no convergence")

    monkeypatch.setattr(engine, "make_model", lambda *a, **k: Broken())
    t = target(history="5d")
    ts, end = grid(t)
    result = forecast_target(
        t, select_series([RawSeries({"h": "x"}, ts, 0.5 + 0 * ts)], t).series, end, end
    )
    (s,) = result.series
    assert s.model == "seasonal_naive" and s.reason.startswith("fallback: ")
    assert math.isnan(s.backtest_mase) and s.backtest_coverage == {}
    assert "backtest failed" not in caplog.text


def test_series_that_stopped_reporting_are_retired_after_the_staleness():
    t = target()
    assert t.staleness_seconds == 3 * STEP  # default: three steps, at least an hour
    ts, end = grid(t)
    raw = [
        RawSeries({"h": f"h{i}"}, ts[: len(ts) - lag], np.ones(len(ts) - lag))
        for i, lag in enumerate([0, 1, 3, 4, 48])
    ]
    sel = select_series(raw, t, end=end)
    # Up to the staleness behind (late, missed scrapes) a series stays; beyond it, it is retired.
    assert sorted(s.labels["h"] for s in sel.series) == ["h0", "h1", "h2"] and sel.retired == 2
    assert len(select_series(raw, t).series) == 5  # without a grid end nothing is judged stale
    # Retired series take no place under the cap: the live ones are kept.
    capped = select_series(raw, target(max_series=3), end=end)
    assert len(capped.series) == 3 and capped.over_cap == 0
    # Each shard counts the retired series of its own share: the shards add up to one instance.
    shards = [select_series(raw, t, i, 2, end=end) for i in range(2)]
    assert sum(s.retired for s in shards) == 2
    assert sum(len(s.series) for s in shards) == 3
    assert len(select_series(raw, target(staleness="5d"), end=end).series) == 5


def test_staleness_shorter_than_the_step_is_refused():
    from promcast_common.config import ConfigError

    with pytest.raises(
        ConfigError, match=r"targets\[0\] \(disk\): staleness 30m is shorter than the step 1h"
    ):
        target(staleness="30m")
    assert target(step="5m", history="1d").staleness_seconds == 3600  # at least an hour
    assert (
        target(step="1d", history="30d", season="7d", horizons=["7d"]).staleness_seconds
        == 3 * 86400
    )


def test_a_late_newest_step_keeps_every_series_and_the_fitted_models():
    # The newest grid step without a sample (a late scrape, or data written some minutes ago)
    # must neither drop the series nor make the infer cycle refit.
    t = target(history="5d", fit_every="1h")
    ts, end = grid(t)
    rng = np.random.default_rng(7)
    raw = [
        RawSeries(
            {"h": f"h{i}"},
            ts,
            0.5 + 0.1 * np.sin(2 * np.pi * ts / 86400) + 0.01 * rng.standard_normal(len(ts)),
        )
        for i in range(4)
    ]
    first = forecast_target(t, select_series(raw, t, end=end).series, end, end + 60)
    assert first.refitted and first.fit_reason == "first"
    late = [RawSeries(s.labels, s.timestamps[:-1], s.values[:-1]) for s in raw]
    again = forecast_target(
        t, select_series(late, t, end=end).series, end, end + 360, fitted=first.fitted
    )
    assert len(again.series) == 4 and not again.refitted and again.fit_reason == ""
    assert all(s.observed_at == end - STEP for s in again.series)
    assert all(s.observed_at == end for s in first.series)
    # One series retired: the set changed, so the models are fitted again, and it says why.
    gone = forecast_target(
        t, select_series(late[:3], t, end=end).series, end, end + 420, fitted=again.fitted
    )
    assert gone.refitted and gone.fit_reason == "series" and len(gone.series) == 3
    later = forecast_target(
        t, select_series(raw, t, end=end).series, end, end + 3700, fitted=first.fitted
    )
    assert later.refitted and later.fit_reason == "schedule"


def test_a_late_observation_keeps_the_score_of_its_own_instant():
    from promcast_forecaster.anomaly.detector import HELD_SCORE

    t = target(history="5d")
    ts, end = grid(t)
    rng = np.random.default_rng(1)
    y = 0.5 + 0.05 * np.sin(2 * np.pi * ts / 86400) + 0.01 * rng.standard_normal(len(ts))
    y[-2] += 0.3

    def one(n, e):
        return forecast_target(
            t, select_series([RawSeries({"h": "x"}, ts[:n], y[:n])], t, end=e).series, e, e
        )

    prev = one(len(ts) - 1, end - STEP)
    # The grid moved on but the newest step is late: the newest observation is the one the
    # previous cycle already scored, and it keeps that score.
    late = one(len(ts) - 1, end)
    assert late.series[0].anomaly_score == pytest.approx(prev.series[0].anomaly_score)
    assert late.series[0].anomaly_score > 1
    arrived = one(len(ts), end)
    # A normal observation opens no new page: the spike's incident, which paged, lasts until
    # the series has been back for a window, and keeps its alert firing just above 1 till then.
    assert arrived.series[0].anomaly_score == pytest.approx(HELD_SCORE)


def test_one_huge_series_does_not_ruin_the_others_global_gbm_forecasts():
    # One series near 1e300 in a fleet used to pull the shared trees' leaves to ~1e296 for every
    # series; now it is left out of training and falls back alone, saying why.
    t = target(model="global_gbm", capacity=None, history="8d", horizons=["1d"])
    ts, end = grid(t)
    rng = np.random.default_rng(3)
    raw = [
        RawSeries(
            {"h": str(i)}, ts, 49.5 + 5 * np.sin(2 * np.pi * ts / 86400) + rng.normal(0, 1, ts.size)
        )
        for i in range(8)
    ]
    raw.append(RawSeries({"h": "huge"}, ts, 1e300 * (1 + 0.01 * rng.normal(size=ts.size))))
    result = forecast_target(t, select_series(raw, t).series, end, end, backtest=False)
    by_host = {s.labels["h"]: s for s in result.series}
    for i in range(8):
        s = by_host[str(i)]
        assert s.model == "global_gbm" and 35 < s.mean[86400.0] < 65, (i, s.mean)
        assert all(35 < b < 65 for pair in s.bounds.values() for b in pair if b == b), s.bounds
    huge = by_host["huge"]
    assert "seasonal naive" in huge.reason and "1e+150" in huge.reason
    assert math.isfinite(huge.mean[86400.0])


def test_a_model_giving_non_finite_or_absurd_rows_falls_back_per_series(monkeypatch):
    from promcast_forecaster import engine

    class Wild(ModelBase):
        """Forecasts each series' level, except an overflow for the one at 0.6 and a runaway
        (a billion times its level) for the one at 0.7."""

        name = "wild"

        def fit(self, data):
            self.level = np.round(np.nanmean(data, axis=1), 1)
            return self

        def predict(self, h, levels):
            mean = np.repeat(self.level[:, None], h, axis=1)
            mean[self.level == 0.6, 3] = np.inf
            mean[self.level == 0.7, :] = 0.7e9
            out = {"mean": mean}
            for lv in levels:
                out[f"lower-{lv}"], out[f"upper-{lv}"] = mean - 0.1, mean + 0.1
            return out

    monkeypatch.setattr(engine, "make_model", lambda *a, **k: Wild())
    t = target(history="5d", capacity=None)
    ts, end = grid(t)
    raw = [RawSeries({"h": str(lv)}, ts, lv + 0.01 * np.sin(ts / 3600)) for lv in (0.5, 0.6, 0.7)]
    result = forecast_target(t, select_series(raw, t).series, end, end, backtest=False)
    by_level = {s.labels["h"]: s for s in result.series}
    assert by_level["0.5"].model == "wild" and by_level["0.5"].mean[86400.0] == 0.5
    assert by_level["0.6"].model == "seasonal_naive"
    assert by_level["0.6"].reason == "fallback: wild gave non-finite mean"
    assert by_level["0.7"].model == "seasonal_naive"
    assert by_level["0.7"].reason.startswith("fallback: wild gave mean over 1000x")
    for s in result.series:
        assert abs(s.mean[86400.0] - float(s.labels["h"])) < 0.05, s


def test_a_series_without_a_matching_capacity_publishes_no_exhaustion():
    # It used to read as +Inf ("never exhausted"), the same as a series far from its capacity.

    t = target(capacity="size_bytes")
    ts, end = grid(t)
    raw = [RawSeries({"host": h}, ts, daily_growth(ts, 0.8, 0.05)) for h in ("a", "b", "c")]
    sel = select_series(raw, t).series
    caps = match_capacity(
        sel,
        [
            RawSeries({"host": "a"}, ts[-1:], np.array([0.9])),
            RawSeries({"host": "b"}, ts[-1:], np.array([-5.0])),
        ],
    )
    result = forecast_target(t, sel, end, end, caps, backtest=False)
    by_host = {s.labels["host"]: s for s in result.series}
    assert 0 < by_host["a"].exhaustion_seconds < 3 * 86400
    assert math.isnan(by_host["b"].capacity)  # a negative capacity is no threshold
    assert math.isnan(by_host["b"].exhaustion_seconds) and math.isnan(
        by_host["c"].exhaustion_seconds
    )

    registry = published(result)
    sample = lambda h: registry.get_sample_value(  # noqa: E731
        "promcast_forecast_exhaustion_seconds", {"host": h, "target": "disk"}
    )
    assert 0 < sample("a") < 3 * 86400
    assert sample("b") is None and sample("c") is None
    assert registry.get_sample_value("promcast_forecast_observed", {"host": "c", "target": "disk"})


def test_one_spike_in_the_backtest_window_does_not_make_a_good_forecast_look_bad():
    # The forecast-quality ticket used to stay open until a spike left the backtest window: a
    # mean of absolute errors is one spike's. The published score leaves out the largest 20%.
    from promcast_forecaster.backtest import holdout_scores
    from promcast_forecaster.models import make_model
    from promcast_forecaster.models.metrics import mase_scale

    rng = np.random.default_rng(4)
    k = np.arange(10 * 24)
    y = 10 + 3 * np.sin(2 * np.pi * k / 24) + rng.normal(0, 0.2, k.size)
    spiky = y.copy()
    spiky[-30] += 80  # one hour, inside the newest backtest block
    data = np.vstack([y, spiky])
    scores = holdout_scores(
        lambda h: make_model("seasonal_naive", 24),
        make_model("seasonal_naive", 24).capabilities,
        data,
        24,
        24,
        [80],
    )
    assert scores["mase"][1] < 1.5  # the alert threshold (backtest_mase_max)
    assert scores["mase"][1] <= 1.5 * scores["mase"][0]
    # What the mean made of it: far over the threshold.
    naive = np.concatenate([data[:, -72 - 24 : -24], data[:, -24:]], axis=1)
    mean_err = np.abs(spiky[-72:] - naive[1, :72]).mean() / mase_scale(spiky[None, :-72], 24)[0]
    assert mean_err > 1.5


def test_a_targets_anomaly_keys_reach_the_detector():
    from promcast_forecaster.engine import anomaly_settings

    s = anomaly_settings(
        target(
            anomaly_budget=0.2,
            anomaly_target_budget=4,
            anomaly_min_effect=0.3,
            anomaly_direction="up",
            anomaly_for="3h",
        )
    )
    assert (s.series_budget, s.target_budget, s.min_effect, s.direction, s.for_seconds) == (
        0.2,
        4.0,
        0.3,
        "up",
        3 * 3600.0,
    )
    assert (s.step, s.season, s.calibration) == (STEP, 86400.0, 10 * 86400.0)
    d = anomaly_settings(target())
    assert (d.series_budget, d.target_budget, d.min_effect, d.direction, d.for_seconds) == (
        0.5,
        12.0,
        0.1,
        "both",
        900.0,
    )


def test_a_cycle_on_the_same_grid_and_data_reuses_the_anomaly_scores(monkeypatch):
    import promcast_forecaster.engine as engine

    calls = []
    real = engine.detect

    def counted(*args, **kwargs):
        calls.append(args[0].shape)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "detect", counted)
    t = target(history="5d", fit_every="1h")
    ts, end = grid(t)
    rng = np.random.default_rng(3)
    y = 0.5 + 0.05 * np.sin(2 * np.pi * ts / 86400) + 0.01 * rng.standard_normal(len(ts))
    y[-1] += 0.3

    def cycle(values, fitted, now, timestamps=ts, grid_end=end, tgt=t):
        raw = [
            RawSeries({"h": "x"}, timestamps, values),
            RawSeries({"h": "y"}, timestamps, 1 - values),
        ]
        return forecast_target(tgt, select_series(raw, tgt).series, grid_end, now, fitted=fitted)

    first = cycle(y, None, end + 60)
    assert len(calls) == 1 and first.series[0].anomaly_score > 1
    # An infer cycle five minutes later on the same grid and data: the same scores, not recomputed.
    infer = cycle(y, first.fitted, end + 360)
    assert not infer.refitted and len(calls) == 1
    assert [s.anomaly_score for s in infer.series] == [s.anomaly_score for s in first.series]
    assert [s.expected for s in infer.series] == [s.expected for s in first.series]
    # A late sample that changed one point, a moved grid, other settings: scored again.
    late = y.copy()
    late[-2] += 0.01
    cycle(late, infer.fitted, end + 420)
    assert len(calls) == 2
    moved = cycle(np.r_[y[1:], y[-1]], infer.fitted, end + STEP + 60, ts + STEP, end + STEP)
    assert len(calls) == 3 and moved.series
    other = target(history="5d", fit_every="1h", anomaly_for="2h")
    cycle(y, moved.fitted, end + 60, tgt=other)
    assert len(calls) == 4


def test_a_failed_anomaly_scoring_is_not_remembered(monkeypatch):
    import promcast_forecaster.engine as engine

    real = engine.detect
    monkeypatch.setattr(engine, "detect", lambda *a, **k: 1 / 0)
    t = target(history="5d", fit_every="1h")
    ts, end = grid(t)
    y = 0.5 + 0.05 * np.sin(2 * np.pi * ts / 86400)
    raw = [RawSeries({"h": "x"}, ts, y)]
    first = forecast_target(t, select_series(raw, t).series, end, end + 60)
    assert math.isnan(first.series[0].anomaly_score) and first.fitted.anomalies is None
    monkeypatch.setattr(engine, "detect", real)
    again = forecast_target(t, select_series(raw, t).series, end, end + 360, fitted=first.fitted)
    assert math.isfinite(again.series[0].anomaly_score)
