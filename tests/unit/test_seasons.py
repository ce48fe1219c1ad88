"""Several seasonalities, found rather than configured: the cycles tried per step, the long
cycle's profile, auto keeping it where the backtest prefers it, and the target and CLI settings."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import pytest

from promcast_common.config import validate
from promcast_forecaster.offline import cli
from promcast_forecaster.config import ForecasterConfig
from promcast_forecaster.engine import forecast_target, select_series
from promcast_forecaster.models import make_model
from promcast_forecaster.models.multi_season import Deseasonalised, seasonal_profile
from promcast_forecaster.seasons import candidate_seasons
from promcast_forecaster.source import RawSeries

DAY = 86400.0


def daily(
    years: float, yearly: float = 30.0, weekly: float = 10.0, seed: int = 0, n: int = 1
) -> np.ndarray:
    """Daily series with a weekly and a yearly cycle (a summer peak) and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(years * 365))
    base = 100 + yearly * np.sin(2 * np.pi * t / 365) + weekly * (t % 7 >= 5)
    return base[None, :] + rng.normal(0, 3, (n, t.size))


def test_cycles_tried_follow_the_step() -> None:
    assert candidate_seasons(300) == (288, 2016)
    assert candidate_seasons(3600) == (24, 168)
    assert candidate_seasons(DAY) == (7, 365)
    assert candidate_seasons(7 * DAY) == (52,)
    assert candidate_seasons(7 * 3600) == (24,)  # a day is not a whole number of 7h steps


def test_profile_is_the_long_cycle_by_phase_of_the_rows_own_index() -> None:
    t = np.arange(1000)
    y = 50 + 10 * np.sin(2 * np.pi * t / 100)  # 10 cycles, the first one starting mid-way
    prof = seasonal_profile(y[None, 30:], 100, 1)
    np.testing.assert_allclose(prof[0, (np.arange(970)) % 100], y[30:] - 50, atol=1e-9)
    assert not seasonal_profile(y[None, :150], 100, 1).any()  # under two cycles: none learnt


def test_deseasonalised_continues_the_long_cycle() -> None:
    y = daily(3, weekly=0.0)[:, :-90]
    actual = daily(3, weekly=0.0)[:, -90:]
    plain = make_model("seasonal_naive", 7).fit(y).predict(90)["mean"]
    both = Deseasonalised(lambda: make_model("seasonal_naive", 7), 365, 7).fit(y)
    fc = both.predict(90, [80])
    assert np.abs(fc["mean"] - actual).mean() < 0.5 * np.abs(plain - actual).mean()
    assert (fc["lower-80"] <= fc["mean"]).all() and both.capabilities.multi_seasonal
    assert both.row_models(1) == ["seasonal_naive(+365)"]


def test_auto_keeps_the_yearly_cycle_where_history_and_backtest_support_it() -> None:
    y = daily(3.2, n=2, seed=1)
    model = make_model("auto_fast", 7, horizon=60, seasons=(365,)).fit(y)
    assert model.scores["seasons"] == [7, 365]
    assert any(c.endswith("(+365)") for c in model.scores["candidates"])
    assert all("(+365)" in c for c in model.chosen)
    # The same fleet with less than two years before the newest backtest origin: not tried.
    short = make_model("auto_fast", 7, horizon=60, seasons=(365,)).fit(y[:, -700:])
    assert short.scores["seasons"] == [7]
    assert not any("(+365)" in c for c in short.chosen)


def test_target_finds_the_yearly_cycle_and_says_so() -> None:
    spec = {
        "name": "visits",
        "query": "x",
        "step": "1d",
        "history": "1200d",
        "season": "7d",
        "horizons": ["30d", "90d"],
    }
    cfg = validate(ForecasterConfig, {"targets": [spec, {**spec, "name": "weekly", "seasons": []}]})
    t, weekly_only = cfg.resolved_targets()
    assert t.extra_seasons == (365,) and weekly_only.extra_seasons == ()
    end = 1_790_000_000.0 // DAY * DAY
    ts = end - DAY * np.arange(t.points)[::-1]
    y = daily(t.points / 365 + 0.01, seed=2)[0, -t.points :]
    sel = select_series([RawSeries({"site": "a"}, ts, y)], t).series
    (found,) = forecast_target(t, sel, end, end + 60).series
    assert "(+365)" in found.model
    (plain,) = forecast_target(weekly_only, sel, end, end + 60).series
    assert "+365" not in plain.model


def _daily_csv(path: Path, values: np.ndarray) -> None:
    start = 1_500_000_000 - 1_500_000_000 % 86400
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["series_id", "timestamp", "value"])
        for k, v in enumerate(values):
            w.writerow(["site", int(start + DAY * k), f"{v:.3f}"])


def _offline(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="promcast-forecaster")
    cli.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["offline", *argv])


@pytest.mark.parametrize("seasons", [None, "7,365", "1w,365d"])
def test_offline_infers_or_takes_several_seasons(tmp_path: Path, seasons: str | None) -> None:
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    _daily_csv(src, daily(3.2, seed=3)[0])
    argv = ["--input", str(src), "--horizon", "60d", "--model", "auto_fast", "--out", str(out)]
    argv += ["--season-length", seasons] if seasons else []
    assert cli.run(_offline(argv)) == 0
    with out.open() as fh:
        models = {r["model"] for r in csv.DictReader(fh)}
    assert len(models) == 1 and "(+365)" in models.pop()


@pytest.mark.parametrize(
    "seasons, error",
    [
        ("7,yearly", "'yearly' is neither a number of steps nor a duration"),
        ("7,14,28,91,365", "at most 3 longer ones, got 5 seasons"),
    ],
)
def test_offline_rejects_seasons_it_cannot_use(
    tmp_path: Path, capsys: pytest.CaptureFixture, seasons: str, error: str
) -> None:
    src = tmp_path / "in.csv"
    _daily_csv(src, daily(1)[0])
    argv = ["--input", str(src), "--horizon", "7", "--season-length", seasons]
    assert cli.run(_offline(argv)) == 2
    assert error in capsys.readouterr().err


def test_a_target_cannot_ask_for_many_seasons() -> None:
    spec = {
        "name": "t",
        "query": "x",
        "step": "1h",
        "season": "1d",
        "seasons": ["2d", "3d", "1w", "2w"],
        "horizons": ["1d"],
    }
    with pytest.raises(Exception, match="seasons"):
        validate(ForecasterConfig, {"targets": [spec]})


def test_profile_smoothing_is_a_wrapped_moving_mean() -> None:
    rng = np.random.default_rng(4)
    y = np.tile(rng.normal(0, 1, 50), 4)[None, :]  # the same cycle four times: nothing to shrink
    prof = seasonal_profile(y, 50, 5)
    raw = seasonal_profile(y, 50, 1)[0]
    expect = np.array([raw[(np.arange(j - 2, j + 3)) % 50].mean() for j in range(50)])
    np.testing.assert_allclose(prof[0], expect - expect.mean(), atol=1e-9)


def test_a_cycle_that_does_not_repeat_is_shrunk_away() -> None:
    rng = np.random.default_rng(5)
    pattern = 3 * np.sin(2 * np.pi * np.arange(100) / 100)
    repeating = np.tile(pattern, 3) + rng.normal(0, 0.3, 300)
    noise = rng.normal(0, 3, 300)  # three cycles of noise: any "profile" in it is chance
    prof = seasonal_profile(np.stack([repeating, noise]), 100, 1)
    assert np.abs(prof[0] - pattern).max() < 0.6
    assert np.sqrt(np.mean(prof[1] ** 2)) < 0.1 * noise.std()
