"""Regime changes (level shifts, trend changes) and the damped-trend candidate for long horizons,
on synthetic series with known breaks (fixed seeds)."""

import numpy as np
import pytest

from promcast_forecaster.models import make_model
from promcast_forecaster.models.auto import LONG_HORIZON_CANDIDATE
from promcast_forecaster.models.fast_hw import FastHoltWinters
from promcast_forecaster.models.metrics import mase, mase_scale
from promcast_forecaster.models.regimes import MAX_BLOCKS, SinceBreak, block_size, newest_break
from tests.helpers.metrics import published

M = 24  # hourly series, daily season


def seasonal(n, t_len, seed, noise=1.0):
    rng = np.random.default_rng(seed)
    t = np.arange(t_len)
    return 50 + 5 * np.sin(2 * np.pi * t / M)[None, :] + rng.normal(0, noise, (n, t_len))


def test_a_level_shift_is_found_where_it_happened():
    y = seasonal(20, 60 * M, seed=1)
    at = 60 * M - 15 * M
    y[:, at:] += 4.0  # four noise sds: a move any on-call engineer would see on a graph
    assert (newest_break(y, M) == at).all()


def test_a_trend_change_is_found_where_it_happened():
    y = seasonal(20, 60 * M, seed=2)
    at = 60 * M - 20 * M
    y[:, at:] += 0.02 * np.arange(20 * M)  # from flat to growing ~0.5 a day
    found = newest_break(y, M)
    assert (found >= 0).all()
    assert np.abs(found - at).max() <= 2 * M  # the slope needs a few days to stand out


def test_the_newest_of_several_regimes_is_kept():
    y = seasonal(5, 80 * M, seed=3)
    y[:, 20 * M :] += 10.0
    y[:, 60 * M :] -= 6.0
    assert (newest_break(y, M) == 60 * M).all()


def test_series_without_a_break_are_left_alone():
    t = np.arange(60 * M)
    calm = seasonal(200, 60 * M, seed=4)
    growing = calm + 0.01 * t  # a steady trend is one regime, not a break
    spiky = calm.copy()
    spiky[:, 30 * M] += 80.0  # one incident is not a new regime
    gappy = calm.copy()
    gappy[:, 10 * M : 12 * M] = np.nan
    for y in (calm, growing, spiky, gappy):
        assert (newest_break(y, M) == -1).all()
    assert (newest_break(np.full((3, 60 * M), np.nan), M) == -1).all()
    assert (newest_break(calm[:, : 7 * M], M) == -1).all()  # too short to tell


def test_detection_work_is_bounded_by_the_number_of_blocks():
    assert block_size(8064, 288) == 288
    assert block_size(100_000, 1) == 196  # a long unseasonal history: blocks of many steps
    assert 100_000 // block_size(100_000, 1) <= MAX_BLOCKS
    y = seasonal(2, 100_000 // M * M, seed=5)
    y[:, -20_000:] += 3.0
    assert (np.abs(newest_break(y, M) - (y.shape[1] - 20_000)) <= block_size(y.shape[1], M)).all()


def test_forecasting_from_the_newest_regime_beats_the_whole_history():
    h = 3 * M
    y = seasonal(30, 60 * M + h, seed=6)
    y[:, 45 * M :] += 0.04 * np.arange(15 * M + h)  # flat for 45 days, then growing ~1 a day
    train, test = y[:, :-h], y[:, -h:]
    scale = mase_scale(train, M)
    whole = make_model("seasonal_naive_drift", M).fit(train).predict(h)["mean"]
    cut_model = SinceBreak(lambda: make_model("seasonal_naive_drift", M), M).fit(train)
    cut = cut_model.predict(h)["mean"]
    assert (np.abs(cut_model.breaks - 45 * M) <= 2 * M).all()
    # The whole history's slope averages 45 flat days in: the growth is underestimated.
    assert np.mean(mase(test, cut, scale)) < 0.7 * np.mean(mase(test, whole, scale))
    assert f"regime change {cut_model.age[0]} steps ago" in cut_model.row_notes(30)[0]


def test_auto_keeps_the_cut_where_its_backtest_prefers_it_and_says_so():
    h = M
    broken = seasonal(10, 70 * M + h, seed=7)
    broken[:, 40 * M :] += 0.05 * np.arange(30 * M + h)  # growth starts 30 days before the end
    calm = seasonal(10, 70 * M + h, seed=8)
    y = np.vstack([broken, calm])
    train, test = y[:, :-h], y[:, -h:]
    model = make_model("auto_fast", M, horizon=h).fit(train)
    cut_rows = np.array(["(since break)" in c for c in model.chosen])
    # fast_hw alone follows new growth well too: the backtest picks per series, mostly the cut.
    assert cut_rows[:10].sum() >= 6 and not cut_rows[10:].any()
    for used, note in zip(cut_rows[:10], model.notes[:10]):
        assert ("the forecast uses the history since then" in note) == used
        assert used or "forecasting from the whole history did better" in note
    assert not any("regime change" in n for n in model.notes[10:])
    plain = make_model("auto_fast", M, horizon=h, regimes=False).fit(train)
    assert not any("since break" in c for c in plain.scores["candidates"])
    scale = mase_scale(train, M)
    err_cut = mase(test[:10], model.predict(h)["mean"][:10], scale[:10])
    err_plain = mase(test[:10], plain.predict(h)["mean"][:10], scale[:10])
    assert np.mean(err_cut) < np.mean(err_plain)


def test_auto_adds_no_regime_candidates_to_a_fleet_without_breaks():
    y = seasonal(20, 40 * M, seed=9)
    model = make_model("auto_fast", M, horizon=M).fit(y)
    assert not any("since break" in c for c in model.scores["candidates"])
    assert not any("regime" in n for n in model.notes)


def test_the_damped_candidate_is_tried_only_at_long_horizons():
    rng = np.random.default_rng(10)
    t = np.arange(3 * 365)
    y = (100 + 0.05 * t + 10 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 2, t.size))[None, :]
    short = make_model("auto_fast", 7, horizon=7).fit(y)
    assert LONG_HORIZON_CANDIDATE not in short.scores["candidates"]
    long = make_model("auto_fast", 7, horizon=90).fit(y)
    assert LONG_HORIZON_CANDIDATE in long.scores["candidates"]
    fc = long.predict(365)
    width = fc["upper-80"][0] - fc["lower-80"][0]
    # Honest widening: a year ahead is less certain than a month ahead, beyond the backtest too.
    # (Never narrower: equal up to rounding where the backtest's step profile is flat.)
    assert width[364] > width[89] >= width[29] - 1e-9 and width[29] > 0
    assert (fc["lower-95"] <= fc["lower-80"]).all() and (fc["upper-80"] <= fc["upper-95"]).all()


def test_the_damped_trend_carries_growth_further_than_fast_hw():
    t = np.arange(400)
    y = (100 + 0.5 * t + 3 * np.sin(2 * np.pi * t / 7))[None, :]
    damped = make_model("fast_hw_damped", 7, horizon=90).fit(y)
    assert damped.name == "fast_hw_damped"
    assert isinstance(damped, FastHoltWinters)
    far_damped = damped.predict(90)["mean"][0, -1]
    far_plain = make_model("fast_hw", 7, horizon=90).fit(y).predict(90)["mean"][0, -1]
    truth = 100 + 0.5 * (400 + 89)
    assert abs(far_damped - truth) < abs(far_plain - truth)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, 1e300])
def test_hostile_values_do_not_break_detection(bad):
    y = seasonal(3, 40 * M, seed=11)
    y[0, 100] = bad
    y[1, :] = bad
    out = newest_break(y, M)
    assert out.shape == (3,) and out.dtype.kind == "i"


def test_the_regime_change_is_published_with_its_time():

    from promcast_common.config import validate
    from promcast_forecaster.config import ForecasterConfig
    from promcast_forecaster.engine import forecast_target, select_series
    from promcast_forecaster.source import RawSeries

    step = 3600.0
    spec = {
        "name": "load",
        "query": "x",
        "step": "1h",
        "history": "30d",
        "season": "1d",
        "horizons": ["1d"],
        "model": "auto_fast",
    }
    t = validate(ForecasterConfig, {"targets": [spec]}).resolved_targets()[0]
    end = 1_790_000_000.0 // step * step
    ts = end - step * np.arange(t.points)[::-1]
    calm, moved = seasonal(2, t.points, seed=12)
    at = t.points - 10 * M
    moved[at:] += 6.0
    raw = [RawSeries({"host": "calm"}, ts, calm), RawSeries({"host": "moved"}, ts, moved)]
    result = forecast_target(t, select_series(raw, t).series, end, end + 60, backtest=False)

    registry = published(result)
    value = lambda host: registry.get_sample_value(  # noqa: E731
        "promcast_forecast_regime_change_timestamp_seconds", {"host": host, "target": "load"}
    )
    assert value("moved") == ts[at]
    assert value("calm") is None


def test_fast_hw_skips_empty_leading_columns_without_changing_the_forecast():
    # A matrix of series cut at their breaks starts with columns no row has data in.
    y = seasonal(4, 20 * M, seed=13)
    padded = np.hstack([np.full((4, 3 * M), np.nan), y])
    plain = make_model("fast_hw", M, horizon=M).fit(y).predict(M)
    skipped = make_model("fast_hw", M, horizon=M).fit(padded).predict(M)
    for key in plain:
        np.testing.assert_allclose(skipped[key], plain[key], rtol=1e-12)


def test_a_fleet_that_all_chose_the_cut_is_still_forecast_everywhere():
    # The cut candidate is fitted only for the series that chose it; when that is every series
    # there is no other candidate to take the no-data check from.
    rng = np.random.default_rng(14)
    t = np.arange(61 * M)
    y = 50 + 5 * np.sin(2 * np.pi * t / M)[None, :] + rng.normal(0, 0.5, (5, t.size))
    y[:, 30 * M :] += 0.1 * np.arange(t.size - 30 * M)
    model = make_model(
        "auto", M, horizon=M, candidates=["seasonal_naive", "seasonal_naive_drift"], ensemble=False
    ).fit(y[:, :-M])
    assert model.chosen == ["seasonal_naive_drift(since break)"] * 5
    fc = model.predict(M)
    assert all(np.isfinite(v).all() for v in fc.values())
    assert np.abs(fc["mean"] - y[:, -M:]).mean() < 1.5


def test_a_failing_detector_costs_the_series_nothing_but_the_regime_series(monkeypatch):
    import promcast_forecaster.engine as engine
    from promcast_common.config import validate
    from promcast_forecaster.config import ForecasterConfig
    from promcast_forecaster.source import RawSeries

    def broken(*_args, **_kwargs):
        raise MemoryError("simulated")

    monkeypatch.setattr(engine, "newest_break", broken)
    spec = {
        "name": "load",
        "query": "x",
        "step": "1h",
        "history": "10d",
        "season": "1d",
        "horizons": ["1d"],
    }
    t = validate(ForecasterConfig, {"targets": [spec]}).resolved_targets()[0]
    end = 1_790_000_000.0 // 3600 * 3600
    ts = end - 3600 * np.arange(t.points)[::-1]
    raw = [RawSeries({"host": "a"}, ts, seasonal(1, t.points, seed=15)[0])]
    result = engine.forecast_target(
        t, engine.select_series(raw, t).series, end, end, backtest=False
    )
    assert len(result.series) == 1 and np.isfinite(result.series[0].mean[86400.0])
    assert np.isnan(result.series[0].regime_change_at)


def test_a_cut_that_changes_nothing_is_not_a_candidate():
    # Seasonal naive reads only the newest season: cut a month back, it forecasts the same.
    y = seasonal(10, 60 * M, seed=16)
    y[:, 30 * M :] += 5.0
    model = make_model("auto_fast", M, horizon=M).fit(y)
    assert np.isinf(model.scores["candidates"]["seasonal_naive(since break)"]).all()
    assert np.isfinite(model.scores["candidates"]["fast_hw(since break)"]).all()
    assert not any("seasonal_naive(since break)" in c for c in model.chosen)


def test_a_series_the_final_fit_finds_no_break_in_is_not_named_after_a_cut():
    # The backtest may choose the cut from the breaks found before its oldest origin; where the
    # whole history then shows none, nothing is cut and the name must not say otherwise.
    broken = seasonal(1, 70 * M, seed=7)
    broken[:, 40 * M :] += 0.05 * np.arange(30 * M)
    y = np.vstack([broken, seasonal(1, 70 * M, seed=8)])
    model = SinceBreak(lambda: FastHoltWinters(M), M).fit(y)
    assert model.breaks[0] > 0 and model.breaks[1] < 0
    assert model.row_models(2) == ["fast_hw(since break)", "fast_hw"]
