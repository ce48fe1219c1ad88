"""A series with less than two seasons of history: forecast from the fleet's seasonal shape where
the fleet's own backtest prefers it, said in its note and published; long series untouched."""

from __future__ import annotations

import numpy as np

from promcast_common.config import validate
from promcast_forecaster.config import ForecasterConfig
from promcast_forecaster.engine import forecast_target, select_series
from promcast_forecaster.models import make_model
from promcast_forecaster.models.metrics import mase, mase_scale
from promcast_forecaster.source import RawSeries
from tests.helpers.metrics import published

M, T, H = 24, 24 * 14, 48


def fleet(n: int = 40, seed: int = 1) -> np.ndarray:
    """Hourly series sharing a daily shape, each at its own level and amplitude."""
    rng = np.random.default_rng(seed)
    t = np.arange(T + H)
    shape = np.sin(2 * np.pi * t / M) + 0.5 * np.sin(4 * np.pi * t / M)
    return (
        rng.uniform(50, 150, (n, 1))
        + rng.uniform(5, 20, (n, 1)) * shape[None, :]
        + rng.normal(0, 4, (n, T + H))
    )


def test_short_series_are_forecast_better_than_today_and_say_so():
    y = fleet()
    train, test = y[:, :T].copy(), y[:, T:]
    scale = mase_scale(train, M)
    short = np.arange(0, len(y), 2)
    train[short, : T - 12] = np.nan  # half a day of history
    for name in ("auto_fast", "auto"):
        today = make_model(name, M, horizon=H, fleet_short_history=False).fit(train)
        model = make_model(name, M, horizon=H).fit(train)
        before, after = today.predict(H), model.predict(H)
        assert np.mean(mase(test[short], after["mean"][short], scale[short])) < 0.6 * np.mean(
            mase(test[short], before["mean"][short], scale[short])
        )
        rows = model.row_models(len(y))
        assert all("fleet_profile" in rows[i] for i in short), rows
        assert all(
            "shorter than two seasons" in model.row_notes(len(y))[i]
            and "longer series of the target cut to 12 points" in model.row_notes(len(y))[i]
            for i in short
        )
        # Long series keep exactly what they had: the fleet's shape is only for short ones.
        long_rows = np.arange(1, len(y), 2)
        assert np.array_equal(after["mean"][long_rows], before["mean"][long_rows])
        assert [rows[i] for i in long_rows] == [today.row_models(len(y))[i] for i in long_rows]
        # Its published backtest is the fleet backtest's score of the choice at its length.
        said = float(model.row_notes(len(y))[short[0]].split("fleet_profile ")[-1].split(",")[0])
        assert abs(model.backtest_scores()["mase"][short[0]] - said) < 1e-3
        lo, hi = after["lower-80"][short], after["upper-80"][short]
        assert (lo < after["mean"][short]).all() and (hi > after["mean"][short]).all()


def test_without_a_shared_shape_the_fleet_backtest_keeps_seasonal_naive():
    rng = np.random.default_rng(3)
    t = np.arange(T + H)
    # Every series its own phase: the fleet's median shape is flat and forecasts nothing.
    y = (
        100
        + 10 * np.sin(2 * np.pi * (t[None, :] / M + rng.uniform(0, 1, (30, 1))))
        + rng.normal(0, 1, (30, T + H))
    )
    train = y[:, :T].copy()
    train[::2, : T - 36] = np.nan
    model = make_model("auto_fast", M, horizon=H).fit(train)
    assert all(model.row_models(30)[i] == "seasonal_naive" for i in range(0, 30, 2))
    assert "seasonal_naive by a backtest of 15 longer series" in model.row_notes(30)[0]


def test_the_engine_publishes_each_series_history_in_seasons():
    y = fleet(n=6)
    spec = {
        "name": "cpu",
        "query": "x",
        "step": "1h",
        "history": "14d",
        "season": "1d",
        "horizons": ["1d"],
    }
    t = validate(ForecasterConfig, {"targets": [spec]}).resolved_targets()[0]
    end = 1_790_000_000.0 // 3600 * 3600
    ts = end - 3600 * np.arange(t.points)[::-1]
    vals = y[:, -t.points :]
    raw = [
        RawSeries(
            {"host": str(i)}, ts[-12:] if i == 0 else ts, vals[i, -12:] if i == 0 else vals[i]
        )
        for i in range(6)
    ]
    result = forecast_target(t, select_series(raw, t).series, end, end, backtest=False)

    registry = published(result)
    seasons = lambda h: registry.get_sample_value(  # noqa: E731
        "promcast_forecast_history_to_season_ratio", {"host": h, "target": "cpu"}
    )
    assert seasons("0") == 0.5
    assert seasons("1") == t.points / 24
    by_host = {s.labels["host"]: s for s in result.series}
    assert (
        "fleet_profile" in by_host["0"].model and "shorter than two seasons" in by_host["0"].reason
    )


def test_offline_places_rows_on_the_clock_so_series_ending_at_other_hours_share_the_shape(tmp_path):
    import argparse
    import csv

    from promcast_forecaster.offline import cli as offline

    rng = np.random.default_rng(5)
    anchor = 1_700_000_000 - 1_700_000_000 % 86400  # a midnight UTC
    path = tmp_path / "in.csv"
    truth = {}
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["series_id", "timestamp", "value"])
        for i in range(12):
            lag = int(rng.integers(0, 24))  # each series ends at another hour
            hours = 12 if i == 0 else T
            end = anchor + (T - lag) * 3600
            for k in range(-hours, H):
                ts = end + k * 3600
                v = 100 + 20 * np.sin(2 * np.pi * (ts % 86400) / 86400) + rng.normal(0, 2)
                if k < 0:
                    w.writerow([f"s{i}", int(ts), f"{v:.3f}"])
                elif i == 0:
                    truth[int(ts)] = v
    parser = argparse.ArgumentParser()
    offline.add_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "out.csv"
    assert (
        offline.run(
            parser.parse_args(
                [
                    "offline",
                    "--input",
                    str(path),
                    "--horizon",
                    str(H),
                    "--step",
                    "1h",
                    "--season-length",
                    "24",
                    "--model",
                    "auto_fast",
                    "--out",
                    str(out),
                ]
            )
        )
        == 0
    )
    rows = [r for r in csv.DictReader(out.open()) if r["series_id"] == "s0"]
    assert rows and rows[0]["model"] == "fleet_profile"
    err = np.mean([abs(float(r["mean"]) - truth[int(float(r["timestamp"]))]) for r in rows])
    # The daily swing is +-20: the shape out of place (rows not put on the clock) misses by 8.
    assert err < 4


def test_between_refits_the_short_series_keep_the_fleet_shape_and_take_new_data():
    y = fleet(n=10)
    train = y[:, :T].copy()
    train[0, : T - 12] = np.nan
    model = make_model("auto_fast", M, horizon=H).fit(train)
    assert model.row_models(10)[0] == "fleet_profile"
    later = y[:, 6 : T + 6].copy()  # six more hours; the short series now has 18
    later[0, : T - 18] = np.nan
    fc = model.update(later).predict(H)
    assert model.row_models(10)[0] == "fleet_profile"
    truth = y[0, T + 6 :]
    assert np.mean(np.abs(fc["mean"][0, : H - 6] - truth)) < 8  # amplitude up to 20, noise 4


def test_a_target_of_new_series_only_has_no_fleet_to_learn_from_and_says_so():
    y = fleet(n=6)
    train = y[:, :T].copy()
    train[:4, : T - 12] = np.nan  # four new series, two old ones
    model = make_model("auto_fast", M, horizon=H).fit(train)
    assert model.row_models(6)[:4] == ["seasonal_naive"] * 4
    assert "fewer than 3 series with two seasons plus a horizon" in model.row_notes(6)[0]
