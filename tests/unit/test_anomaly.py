"""Anomaly scores and the walk-forward replay: the score definition, no look-ahead, the ``for``
rule, detection on synthetic series, and the ``anomalies`` CLI round trip."""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import numpy as np
import pytest

from forecaster import anomaly
from forecaster.anomaly import Settings, alert_points, anomaly_score, episodes, walk_forward

HOUR = 3600.0
DAY_STEPS = 24
START = 1_700_000_000 - 1_700_000_000 % 86400


def seasonal(days: int = 12, seed: int = 0, noise: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    k = np.arange(days * DAY_STEPS)
    return 20 + 5 * np.sin(2 * np.pi * k / DAY_STEPS) + rng.normal(0, noise, k.size)


def hourly(values: np.ndarray, sid: str = "s") -> tuple[str, np.ndarray, np.ndarray]:
    return sid, START + HOUR * np.arange(values.size), values


def settings(**kw) -> Settings:
    # Hourly samples keep the tests fast; three samples above 1 make an alert, as 15m at 5m does.
    base = dict(step=HOUR, fit_every=3 * HOUR, history=7 * 86400.0, season=86400.0,
                for_seconds=3 * HOUR)
    base.update(kw)
    return Settings(**base)


# -- the score -----------------------------------------------------------------------------------
def test_score_is_distance_in_half_widths_of_the_side_hit() -> None:
    obs = np.array([10.0, 12.0, 14.0, 9.0, 6.0, 10.0])
    got = anomaly_score(obs, 10.0, 8.0, 14.0)  # asymmetric band: lower side 2, upper side 4
    np.testing.assert_allclose(got, [0.0, 0.5, 1.0, 0.5, 2.0, 0.0])


def test_score_zero_width_and_missing() -> None:
    got = anomaly_score([5.0, 5.1, 4.9, np.nan, 5.0], [5.0, 5.0, 5.0, 5.0, np.nan], 5.0, 5.0)
    assert got[0] == 0.0 and math.isinf(got[1]) and math.isinf(got[2])
    assert np.isnan(got[3]) and np.isnan(got[4])


def test_score_broadcasts_over_series() -> None:
    got = anomaly_score(np.full((3, 4), 2.0), np.zeros((3, 1)), -1.0, np.array([1.0, 2.0, 4.0, 8.0]))
    assert got.shape == (3, 4)
    np.testing.assert_allclose(got[0], [2.0, 1.0, 0.5, 0.25])


# -- the for rule --------------------------------------------------------------------------------
def test_for_rule_needs_consecutive_samples_and_nan_resets() -> None:
    score = np.array([2, 2, 0.5, 2, 2, 2, 2, np.nan, 2, 2, 2, 1.0])
    np.testing.assert_array_equal(alert_points(score, 3), [0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0])
    assert episodes(alert_points(score, 3)) == [(5, 6), (10, 10)]
    assert anomaly.for_points(900, 300) == 3
    assert anomaly.for_points(0, 300) == 1


# -- the replay ----------------------------------------------------------------------------------
@pytest.mark.parametrize("model, per_instant", [
    *[(name, False) for name in sorted(anomaly.ROW_WISE_MODELS)], (anomaly.DEFAULT_MODEL, True),
])
def test_replay_never_uses_the_future(model: str, per_instant: bool,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    if per_instant:  # the path taken by models that learn across rows (auto, global_gbm)
        monkeypatch.setattr(anomaly, "ROW_WISE_MODELS", frozenset())
    base = seasonal()
    cut = 200
    changed = base.copy()
    changed[cut + 1:] += 50 * np.random.default_rng(1).normal(size=changed.size - cut - 1)
    other = seasonal(seed=3)
    s = settings(model=model)
    a = walk_forward([hourly(base, "a"), hourly(other, "b")], s)
    b = walk_forward([hourly(changed, "a"), hourly(other, "b")], s)
    for key in ("expected", "lower", "upper", "score"):
        np.testing.assert_array_equal(getattr(a[0], key)[:cut + 1], getattr(b[0], key)[:cut + 1])
        np.testing.assert_array_equal(getattr(a[1], key), getattr(b[1], key))  # rows independent
    assert not np.array_equal(a[0].score[cut + 1:], b[0].score[cut + 1:])


def test_refits_follow_the_wall_clock_and_scores_start_after_warmup() -> None:
    values = seasonal()
    rec = walk_forward([hourly(values)], settings(warmup=0.15))[0]
    first = math.ceil(0.15 * values.size)
    assert rec.first_scored == first
    assert np.isnan(rec.score[:first]).all() and np.isfinite(rec.score[first:]).all()
    origins = anomaly.refit_origins(rec.timestamps, first, 3 * HOUR)
    assert origins[0] == first - 1
    assert all(rec.timestamps[o] % (3 * HOUR) == 0 for o in origins[1:])


def test_a_spike_alerts_and_a_clean_seasonal_series_does_not() -> None:
    clean = seasonal(seed=5)
    spiky = seasonal(seed=5)
    spiky[229:235] += 15  # six hours far outside the usual range, from just after a refit
    out = walk_forward([hourly(clean, "clean"), hourly(spiky, "spiky")], settings())
    assert out[0].alert.sum() == 0
    eps = episodes(out[1].alert)
    assert eps and 229 <= eps[0][0] <= 234 <= eps[0][1] + 3


def test_gaps_are_not_scored_and_break_the_for_rule() -> None:
    values = seasonal(seed=2)
    values[229:232] += 15  # three hours out of range, all forecast by the refit at 228
    full = walk_forward([hourly(values)], settings())[0]
    values[230] = np.nan  # a missed scrape in the middle of the incident
    gappy = walk_forward([hourly(values)], settings())[0]
    assert full.alert[231] == 1
    assert 230 not in gappy.scored and gappy.alert[229:232].sum() == 0


def test_a_series_too_short_is_reported_not_raised() -> None:
    out = walk_forward([hourly(np.array([1.0, 2.0]), "tiny"), hourly(seasonal(), "ok")], settings())
    assert out[0].error and not out[1].error


# -- the CLI -------------------------------------------------------------------------------------
def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="promcast-forecaster")
    anomaly.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["anomalies", *argv])


def write_input(path: Path) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["series_id", "timestamp", "value"])
        for sid, values in (("web-1", seasonal(seed=7)), ("web-2", seasonal(seed=8))):
            if sid == "web-2":
                values[229:235] += 15
            for k, v in enumerate(values):
                stamp = np.datetime_as_string(np.datetime64(int(START + HOUR * k), "s")) + "Z"
                w.writerow([sid, stamp, f"{v:.4f}"])
        w.writerow(["junk", stamp, "n/a"])
        w.writerow(["tiny", stamp, "3.5"])


CLI_ARGS = ["--step", "1h", "--fit-every", "3h", "--for", "3h"]


def test_cli_round_trip_skips_bad_series(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src, out = tmp_path / "in.csv", tmp_path / "scores.csv"
    write_input(src)
    assert anomaly.run(parse(["--input", str(src), "--out", str(out), *CLI_ARGS])) == 0
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == anomaly.OUTPUT_COLUMNS
    assert {r["series_id"] for r in rows} == {"web-1", "web-2"}
    n = 12 * DAY_STEPS
    assert sum(r["series_id"] == "web-1" for r in rows) == n - math.ceil(0.15 * n)
    alerts = [r for r in rows if r["alert"] == "1"]
    assert alerts and {r["series_id"] for r in alerts} == {"web-2"}
    assert all(float(r["score"]) > 1 for r in alerts)
    err = capsys.readouterr().err
    assert "junk" in err and "tiny" in err
    assert "anomalies: 2 series" in err and "2 skipped" in err
    assert f"{len(rows)} points scored" in err


@pytest.mark.parametrize("argv, message", [
    (["--input", "/nonexistent/in.csv"], "not found"),
    (["--input", "IN", "--for", "soon"], "--for"),
    (["--input", "IN", "--model", "nope"], "unknown model"),
    (["--input", "IN", "--levels", "80,100"], "--levels"),
    (["--input", "IN", "--warmup", "1.5"], "--warmup"),
])
def test_cli_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture, argv: list[str],
                               message: str) -> None:
    src = tmp_path / "in.csv"
    write_input(src)
    argv = [str(src) if a == "IN" else a for a in argv]
    assert anomaly.run(parse([*argv, "--out", str(tmp_path / "o.csv")])) == 2
    err = capsys.readouterr().err
    assert "error" in err and message in err


def test_a_long_outage_leaves_points_unscored_without_losing_the_series() -> None:
    values = seasonal(days=20)
    values[100:300] = np.nan  # longer than the 7-day history window
    rec = walk_forward([hourly(values)], settings(warmup=0.05))[0]
    assert not rec.error
    assert np.isfinite(rec.score[-50:]).all()
