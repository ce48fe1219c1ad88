"""The harmonic regression for long cycles (a year of daily data) and how auto offers it, on
synthetic daily series from fixed seeds."""

from __future__ import annotations

import argparse
import csv
import warnings
from pathlib import Path

import numpy as np
import pytest

from promcast_forecaster.models import make_model
from promcast_forecaster.offline import cli as offline_cli
from promcast_forecaster.models import auto as auto_module
from promcast_forecaster.models.auto import FAST_CANDIDATES, AutoForecaster
from promcast_forecaster.models.harmonic import HarmonicRegression
from promcast_forecaster.models.metrics import coverage, mase, mase_scale
from tests.helpers.daily import synthetic_daily
from tests.helpers.models import model_arrays

YEAR = 365


def _mase(name: str, y: np.ndarray, h: int) -> tuple[float, object]:
    train, test = y[:, :-h], y[:, -h:]
    model = make_model(name, 7, horizon=h, seasons=(YEAR,)).fit(train)
    fc = model.predict(h, [80])
    return float(np.mean(mase(test, fc["mean"], mase_scale(train, 7)))), model


@pytest.mark.parametrize("seed, h, bound", [(20, 365, 0.8), (2, 365, 0.75), (20, 90, 1.0)])
def test_auto_chooses_it_and_forecasts_a_year_better_than_without_it(
    monkeypatch: pytest.MonkeyPatch, seed: int, h: int, bound: float
) -> None:
    y = synthetic_daily(seed=seed)
    score, model = _mase("auto_fast", y, h)
    assert "harmonic" in model.scores["candidates"]
    # Alone, or as part of a combination the backtest preferred out of sample.
    assert "harmonic(+365)" in model.chosen[0]
    assert score < bound
    # The engine without a model for long cycles (its yearly profile is a median of cycles).
    monkeypatch.setattr(auto_module, "models_with", lambda capability: ())
    before, old = _mase("auto_fast", y, h)
    assert "harmonic" not in old.scores["candidates"]
    assert before > bound and score < 0.9 * before


def test_intervals_widen_with_the_horizon_and_cover_the_held_out_year() -> None:
    hits = {80: [], 95: []}
    for seed in (20, 1, 2):
        y = synthetic_daily(seed=seed)
        train, test = y[:, :-YEAR], y[:, -YEAR:]
        fc = HarmonicRegression(7, seasons=(YEAR,), horizon=YEAR).fit(train).predict(YEAR)
        width = fc["upper-80"] - fc["lower-80"]
        assert (np.diff(width) >= -1e-9).all()
        assert (fc["upper-95"] - fc["lower-95"] > width).all()
        for lv in hits:
            hits[lv].append(coverage(test, fc[f"lower-{lv}"], fc[f"upper-{lv}"])[0])
    assert 0.72 <= np.mean(hits[80]) <= 0.9
    assert 0.9 <= np.mean(hits[95]) <= 1.0
    # Where the level wanders (a random walk on top), errors grow with the steps ahead: so does
    # the band, as far as the holdout measured it.
    walk = y + np.cumsum(np.random.default_rng(0).normal(0, 8, y.shape), axis=1)
    fc = HarmonicRegression(7, seasons=(YEAR,), horizon=YEAR).fit(walk[:, :-YEAR]).predict(YEAR)
    width = fc["upper-80"] - fc["lower-80"]
    assert (np.diff(width) >= -1e-9).all() and width[0, -1] > 2 * width[0, 0]


def test_the_future_does_not_reach_the_fit() -> None:
    y = synthetic_daily(years=4, seed=3)
    t_len = y.shape[1] - YEAR
    other = y.copy()
    other[:, t_len:] = 1e9  # what happens after the origin
    a = HarmonicRegression(7, seasons=(YEAR,), horizon=90).fit(y[:, :t_len]).predict(90)
    b = HarmonicRegression(7, seasons=(YEAR,), horizon=90).fit(other[:, :t_len]).predict(90)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    # Its own choice of trend is judged on a holdout inside the history it is given.
    calls: list[int] = []
    model = HarmonicRegression(7, seasons=(YEAR,), horizon=90)
    real = model._fit_rows
    model._fit_rows = lambda arr, order: calls.append(arr.shape[1]) or real(arr, order)
    model.fit(y[:, :t_len])
    assert t_len in calls and all(c == t_len or c <= t_len - 90 for c in calls)


def test_incidents_do_not_bend_the_yearly_shape() -> None:
    y = synthetic_daily(years=4, seed=4)[:, :-YEAR]
    rng = np.random.default_rng(0)
    spiky = y.copy()
    spiky[0, rng.choice(y.shape[1] - 30, 25, replace=False)] += 2000.0  # 25 incidents
    clean = HarmonicRegression(7, seasons=(YEAR,), horizon=YEAR).fit(y).predict(YEAR)["mean"]
    hit = HarmonicRegression(7, seasons=(YEAR,), horizon=YEAR).fit(spiky).predict(YEAR)["mean"]
    # 25 x 2000 spread over the fit would move a least-squares level by ~35; Huber weights not.
    assert np.abs(hit - clean).mean() < 0.1 * mase_scale(y, 7)[0] * 10


def test_gaps_short_and_empty_rows() -> None:
    y = synthetic_daily(years=3, n=4, seed=5)
    y[1, ::3] = np.nan  # a third of the days missing
    y[2, :-120] = np.nan  # four months of history: no yearly cycle for it
    y[3] = np.nan
    model = HarmonicRegression(7, seasons=(YEAR,), horizon=60).fit(y)
    fc = model.predict(60, [80, 95])
    assert np.isfinite(fc["mean"][:3]).all() and np.isnan(fc["mean"][3]).all()
    assert model.row_models(4)[:3] == ["harmonic(+365)", "harmonic(+365)", "harmonic"]
    assert "too little history" in model.row_notes(4)[3]


def test_absurd_values_leave_their_row_without_a_forecast_and_the_others_untouched() -> None:
    y = synthetic_daily(years=3, n=4, seed=12)
    good = HarmonicRegression(7, seasons=(YEAR,), horizon=60).fit(y[2:]).predict(60)
    y[0] *= 1e200
    y[1, ::2] = -1e308
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and says nothing on the way
        fc = HarmonicRegression(7, seasons=(YEAR,), horizon=60).fit(y).predict(60)
    for row in fc["mean"][:2]:  # whole or nothing, never half a forecast
        assert np.isnan(row).all() or np.isfinite(row).all()
    assert np.isnan(fc["mean"][1]).all()
    for key in good:
        np.testing.assert_allclose(fc[key][2:], good[key])


def test_a_level_shift_is_carried_on_at_the_new_level() -> None:
    y = synthetic_daily(years=4, seed=6)
    y[:, -300:] += 500.0  # a migration ten months before the end of the history
    train, test = y[:, :-60], y[:, -60:]
    fc = HarmonicRegression(7, seasons=(YEAR,), horizon=60).fit(train).predict(60)["mean"]
    assert abs(float(np.mean(fc - test))) < 0.2 * 500.0  # at least 80% of the shift carried on


def test_five_minute_and_young_daily_fleets_never_pay_for_it() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(8064)
    five_min = 10 + np.sin(2 * np.pi * t / 288) + rng.normal(0, 0.3, (3, t.size))
    model = AutoForecaster(288, horizon=288, candidates=FAST_CANDIDATES, seasons=(2016,))
    assert "harmonic" not in model.fit(five_min).scores["candidates"]
    young = synthetic_daily(years=2.1, seed=7)  # under two years before the newest origin
    model = AutoForecaster(7, horizon=90, candidates=FAST_CANDIDATES, seasons=(YEAR,))
    assert "harmonic" not in model.fit(young).scores["candidates"]
    old = synthetic_daily(years=2.6, seed=7)
    assert "harmonic" in model.fit(old).scores["candidates"]


def test_a_swing_that_scales_with_the_level_is_fitted_on_the_log_scale() -> None:
    rng = np.random.default_rng(8)
    t = np.arange(6 * YEAR)
    level = np.exp(4 + t / (2 * YEAR))  # growth of 65% a year
    shape = (1 + 0.4 * np.sin(2 * np.pi * t / YEAR)) * (1 + 0.5 * (t % 7 < 5))
    y = (level * shape * np.exp(rng.normal(0, 0.05, t.size)))[None, :]
    model = HarmonicRegression(7, seasons=(YEAR,), horizon=YEAR).fit(y[:, :-YEAR])
    assert "log scale" in model.row_notes(1)[0]
    fc = model.predict(YEAR)
    assert (fc["lower-80"] > 0).all()  # a band on the log scale never goes below zero
    scale = mase_scale(y[:, :-YEAR], 7)
    score = mase(y[:, -YEAR:], fc["mean"], scale)[0]
    naive = make_model("seasonal_naive", 7).fit(y[:, :-YEAR]).predict(YEAR)["mean"]
    assert score < 0.25 * mase(y[:, -YEAR:], naive, scale)[0]


def test_a_year_ahead_is_judged_on_year_long_folds_with_a_year_of_history_before_each() -> None:
    y = synthetic_daily(years=3.1, seed=9)  # 1,132 days: room for two such folds, not three
    model = AutoForecaster(7, horizon=YEAR, candidates=FAST_CANDIDATES, seasons=(YEAR,)).fit(y)
    assert model.scores["horizon"] == YEAR and model.scores["folds"] == 2
    # Short horizons keep at least their three folds (one series affords more).
    assert AutoForecaster(7, horizon=30, candidates=FAST_CANDIDATES).fit(y).scores["folds"] >= 3


def test_offline_with_only_a_daily_step_finds_the_week_and_the_year(tmp_path: Path) -> None:
    y = synthetic_daily(years=4, seed=10)[0]
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    start = 1_500_000_000 - 1_500_000_000 % 86400
    with src.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["series_id", "timestamp", "value"])
        w.writerows(["site", start + 86400 * k, f"{v:.3f}"] for k, v in enumerate(y))
    parser = argparse.ArgumentParser(prog="promcast-forecaster")
    offline_cli.add_parser(parser.add_subparsers(dest="command"))
    argv = ["--input", str(src), "--step", "1d", "--horizon", "365d", "--model", "auto_fast"]
    assert offline_cli.run(parser.parse_args(["offline", *argv, "--out", str(out)])) == 0
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == YEAR and all("harmonic(+365)" in r["model"] for r in rows)


def test_a_fitted_fleet_keeps_a_tenth_of_its_history_at_most() -> None:
    y = synthetic_daily(n=20, seed=13)
    model = HarmonicRegression(7, seasons=(YEAR,), horizon=YEAR).fit(y)
    assert sum(a.nbytes for a in model_arrays(model)) < 0.15 * y.nbytes
