"""The anomaly detector (page budget, one page per incident, minimum effect, direction, cold
start), the replay and the ``anomalies`` CLI round trip. Fixed seeds and fixed anchors."""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import numpy as np
import pytest

from promcast_forecaster.anomaly.detector import (
    DetectorSettings,
    alert_points,
    detect,
    episodes,
    for_points,
    statistic_scores,
    tail_quantile,
)

from promcast_forecaster.anomaly.replay import ReplaySettings, replay
from promcast_forecaster.anomaly import cli as anomaly_cli
from promcast_forecaster.anomaly.detector import nan_quantile

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
START = 1_700_000_000 - 1_700_000_000 % 86400


def grid(days: float, step: float) -> np.ndarray:
    return START + step * np.arange(int(days * DAY / step))


def seasonal(ts: np.ndarray, seed: int = 0, noise: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 20 + 5 * np.sin(2 * np.pi * ts / DAY) + rng.normal(0, noise, ts.size)


def pages(values: np.ndarray, ts: np.ndarray, settings: DetectorSettings, **kw) -> list:
    det = detect(values, ts, settings, **kw)
    return [episodes(a) for a in alert_points(det.score, settings.for_points)]


# -- the for rule --------------------------------------------------------------------------------
def test_for_rule_needs_consecutive_samples_and_nan_resets() -> None:
    score = np.array([2, 2, 0.5, 2, 2, 2, 2, np.nan, 2, 2, 2, 1.0])
    np.testing.assert_array_equal(alert_points(score, 3), [0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0])
    assert episodes(alert_points(score, 3)) == [(5, 6), (10, 10)]
    # As Prometheus: pending at the first sample, firing once pending for the whole for:.
    assert for_points(900, 300) == 4 and for_points(900, 3600) == 1 and for_points(0, 300) == 1
    assert for_points(3 * 3600, 3600) == 4 and for_points(900, 60) == 16


@pytest.mark.filterwarnings("ignore:All-NaN slice")
def test_nan_quantile_is_numpys() -> None:
    a = np.random.default_rng(1).normal(size=(4, 6, 9))
    a[a > 0.8] = np.nan
    a[0, 0] = np.nan
    for q in (0.1, 0.5, 0.9):
        np.testing.assert_allclose(nan_quantile(a, q), np.nanquantile(a, q, axis=-1))


# -- calibration ---------------------------------------------------------------------------------
def test_tail_quantile_extrapolates_and_needs_enough_blocks() -> None:
    sample = np.random.default_rng(2).exponential(size=(1, 168))
    rare, rarer = tail_quantile(sample, 1e-3, 48)[0], tail_quantile(sample, 1e-4, 48)[0]
    assert sample.max() < rare < rarer  # beyond anything a week showed, further for rarer
    assert math.isnan(tail_quantile(sample[:, :40], 1e-3, 48)[0])


@pytest.mark.parametrize("blocks", [56, 168])
def test_a_threshold_from_few_maxima_is_crossed_at_most_at_its_rate(blocks: int) -> None:
    # Generalised Pareto maxima of shape 0.25 (a bursty metric's tail) and the probability of a
    # spike's share at the default budget: averaged over many calibrations, the true chance of
    # crossing the estimated threshold is at most p. Taken at face value (the scale as fitted)
    # a week of 3-hour blocks (56) crossed 2.5 times as often.
    shape, p = 0.25, 0.1 * 3600 / (30 * DAY)
    u = np.random.default_rng(6).random((4000, blocks))
    sample = (u**-shape - 1) / shape
    q = tail_quantile(sample, p, 8)
    crossed = (1 + shape * q) ** (-1 / shape)
    assert crossed.mean() <= p, crossed.mean() / p


def ar1(rng: np.random.Generator, shape: tuple[int, int], phi: float, df: float) -> np.ndarray:
    e = rng.standard_t(df, shape)
    x = np.zeros(shape)
    for t in range(1, shape[1]):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    return x


@pytest.mark.parametrize(
    "step, days, phi, df, calibration",
    [
        (MINUTE, 12, 0.9, 3, 7 * DAY),  # 1m samples, autocorrelated, heavy-tailed
        (300.0, 40, 0.0, 2, 7 * DAY),  # 5m, iid but barely finite variance
        (300.0, 40, 0.95, 3, 7 * DAY),  # 5m, strongly autocorrelated bursts
        (HOUR, 240, 0.9, 3, 7 * DAY),  # 1h: for: 15m is a single sample
        # The whole 240 days as calibration, as a long-horizon target's history: capped at
        # MAX_CALIBRATION_BLOCKS hourly maxima, the budget still holds.
        (HOUR, 240, 0.9, 3, 240 * DAY),
    ],
)
def test_chance_pages_stay_within_the_budget(
    step: float, days: int, phi: float, df: float, calibration: float
) -> None:
    ts = grid(days, step)
    x = seasonal(ts, noise=0) + ar1(np.random.default_rng(3), (8, ts.size), phi, df)
    pages, allowed = chance_pages(x, ts, DetectorSettings(step=step, calibration=calibration))
    # The budget bounds the expected count; a Poisson count may exceed its mean by chance, so
    # allow three standard deviations (a broken calibration pages several times the budget).
    assert pages <= allowed + 3 * math.sqrt(allowed), (pages, allowed)


def test_a_target_of_heavy_tailed_series_stays_within_its_budget() -> None:
    # The default settings on targets of 48 series of AR 0.9 noise with t3 shocks at 5m: the
    # target's budget binds (12 a month, a quarter page per series). Four targets, so that a
    # calibration paging half again the budget is told from Poisson noise: thresholds from a
    # week's maxima taken at face value paged 73 times here against 45 allowed; the predictive
    # tail pays for the short calibration.
    ts = grid(30, 300.0)
    pages, allowed = 0, 0.0
    for seed in (3, 5, 7, 11):
        x = seasonal(ts, noise=0) + ar1(np.random.default_rng(seed), (48, ts.size), 0.9, 3)
        n, budget = chance_pages(x, ts, DetectorSettings(step=300.0))
        pages, allowed = pages + n, allowed + budget
    assert pages <= allowed + 3 * math.sqrt(allowed), (pages, allowed)


def chance_pages(x: np.ndarray, ts: np.ndarray, s: DetectorSettings) -> tuple[int, float]:
    """Pages the rule sends on ``x`` (pure noise: every page is a chance page) and the
    expected count the target's budget allows over the scored span."""
    det = detect(x, ts, s)
    pages = sum(len(episodes(a)) for a in alert_points(det.score, s.for_points))
    first = int(np.argmax(np.isfinite(det.score).any(axis=0)))
    months = x.shape[0] * (ts.size - first) * s.step / (30 * DAY)
    return pages, s.budget(x.shape[0]) * months


def test_a_target_shares_its_budget_across_series() -> None:
    # One reference and one statistic: thresholds compare directly.
    s = DetectorSettings(step=300.0, season=0, level_window=0)
    assert s.budget(1) == 0.5 and s.budget(24) == 0.5 and s.budget(1000) == pytest.approx(0.012)
    ts = grid(6, 300.0)
    x = seasonal(ts)[None]
    alone = detect(x, ts, s, series_in_target=1).threshold
    crowded = detect(x, ts, s, series_in_target=10_000).threshold
    ok = np.isfinite(alone)
    assert ok.any() and (crowded[ok] > alone[ok]).all()


# -- detection -----------------------------------------------------------------------------------
def test_no_look_ahead() -> None:
    # Every prefix scores as the whole series did up to its end, also in the middle of an
    # incident (the service sees only prefixes; the replay sees the whole series).
    ts = grid(8, 300.0)
    y = seasonal(ts)
    at = int(6.4 * DAY / 300)
    y[at : at + 30] += 15
    s = DetectorSettings(300.0)
    full = detect(y[None], ts, s)
    assert np.isfinite(full.score[0, at - 50 :]).all()
    for cut in (at - 1, at + 1, at + 2, at + 3, at + 4, at + 10, at + 35):
        part = detect(y[None, : cut + 1], ts[: cut + 1], s)
        for key in ("expected", "score", "threshold"):
            np.testing.assert_array_equal(getattr(part, key)[0], getattr(full, key)[0, : cut + 1])


def test_cold_start_no_score_before_the_history_needed() -> None:
    for step in (MINUTE, 300.0, HOUR):
        s = DetectorSettings(step=step)
        ts = grid(s.history_needed() / DAY + 1, step)
        det = detect(seasonal(ts)[None], ts, s)
        first = int(np.argmax(np.isfinite(det.score[0])))
        assert np.isfinite(det.score[0, first:]).all()
        assert (first + 1) * step <= s.history_needed() + s.block_seconds
        assert first * step >= s.cold_start_blocks * s.block_seconds


def test_an_incident_pages_once_and_a_clean_series_never() -> None:
    ts = grid(8, 300.0)
    clean, spiky = seasonal(ts, seed=5), seasonal(ts, seed=5)
    at = int(6.4 * DAY / 300)
    spiky[at : at + 12] += 15  # an hour far outside the usual range
    found = pages(np.vstack([clean, spiky]), ts, DetectorSettings(step=300.0))
    assert found[0] == []
    assert len(found[1]) == 1 and at <= found[1][0][0] <= at + 3


@pytest.mark.filterwarnings("ignore:All-NaN slice")
def test_a_series_without_an_incident_scores_as_with_a_second_pass() -> None:
    # Its second pass is skipped: the score must be the best pair's score of the full second
    # pass (statistic_scores always runs it), next to a series that has an incident.
    ts = grid(8, 300.0)
    clean, spiky = seasonal(ts, seed=5), seasonal(ts, seed=5)
    spiky[int(6.4 * DAY / 300) :][:12] += 15
    s = DetectorSettings(step=300.0)
    det = detect(np.vstack([clean, spiky]), ts, s)
    full = statistic_scores(np.vstack([clean, spiky]), ts, s)
    best = np.nanmax(np.stack([v[0] for v in full.values()]), axis=0)
    ok = np.isfinite(det.score[0])
    assert ok.sum() > ts.size // 2
    np.testing.assert_array_equal(det.score[0, ok], best[ok])


def test_a_long_incident_does_not_page_again_when_it_ends() -> None:
    # Three hours at a new level: without masking, the reference would settle on the incident's
    # level, and the return to normal would page a second time as a drop.
    ts = grid(8, 300.0)
    y = seasonal(ts, seed=6)
    at = int(6.3 * DAY / 300)
    y[at : at + 36] += 15
    det = detect(y[None], ts, DetectorSettings(step=300.0))
    found = episodes(alert_points(det.score, 3)[0])
    assert len(found) == 1 and found[0][0] <= at + 3
    # The incident does not become the reference: the expected value stays near normal.
    normal = seasonal(ts, seed=6)[at : at + 36]
    assert np.abs(det.expected[0, at + 12 : at + 36] - normal[12:]).max() < 3


def test_an_incident_is_not_carried_into_the_next_day() -> None:
    ts = grid(10, 300.0)
    y = seasonal(ts, seed=7)
    at = int(6.5 * DAY / 300)
    y[at : at + 24] += 15  # two hours; a seasonal model would forecast them again a day later
    found = pages(y[None], ts, DetectorSettings(step=300.0))[0]
    assert len(found) == 1 and found[0][0] <= at + 3


def test_a_sustained_shift_too_small_for_single_samples_pages_once() -> None:
    # Three hours 4.5 noise sds up: single samples stay within what the noise does by chance,
    # the median of an hour does not; the sustained statistic pages it, once. (4 sds paged
    # before the threshold paid for its 56 three-hour maxima, at the price of the budget.)
    ts = grid(8, 300.0)
    y = seasonal(ts, seed=13, noise=1.0)
    at = int(6.4 * DAY / 300)
    y[at : at + 36] += 4.5
    spikes_only = DetectorSettings(step=300.0, level_window=0)
    assert pages(y[None], ts, spikes_only)[0] == []
    found = pages(y[None], ts, DetectorSettings(step=300.0))[0]
    assert len(found) == 1 and at <= found[0][0] <= at + 18
    s = DetectorSettings(step=300.0)
    # Its blocks are longer than the span one value depends on (the window and the one before).
    assert s.level_block_seconds > 2 * s.level_points * s.step


def bursts(seed: int, sign: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Eight days at 5m with a three-hour spell of one-sample bursts at 6.4 days: every third
    sample 7 noise sds away, so no four consecutive samples are (the for: of 15m) and the
    median of an hour barely moves."""
    ts = grid(8, 300.0)
    y = seasonal(ts, seed=seed, noise=1.0)
    at = int(6.4 * DAY / 300)
    y[at : at + 36 : 3] += sign * 7.0
    return ts, y, at


def test_a_spell_of_bursts_too_short_for_the_for_pages_once() -> None:
    ts, y, at = bursts(15, 1.0)
    found = pages(y[None], ts, DetectorSettings(step=300.0))[0]
    assert len(found) == 1 and at <= found[0][0] <= at + 36
    # Neither single samples nor the median of an hour see it: it is the noise statistic.
    alert = alert_points(
        statistic_scores(y[None], ts, DetectorSettings(step=300.0))["noise/seasonal"], 4
    )
    assert alert[0, at : at + 48].any()
    # The same spell pointing down does not page an "up" target.
    ts, y, at = bursts(15, -1.0)
    assert pages(y[None], ts, DetectorSettings(step=300.0, direction="up"))[0] == []
    assert len(pages(y[None], ts, DetectorSettings(step=300.0, direction="down"))[0]) == 1
    # A blip shorter than the for: never pages, however large (the rule's for: is the user's).
    ts, y, at = bursts(15, 0.0)
    for length, height in ((1, 15.0), (1, 40.0), (3, 15.0)):
        blip = y.copy()
        blip[at : at + length] += height
        assert pages(blip[None], ts, DetectorSettings(step=300.0))[0] == []
    # With a for: of one sample the spike statistic sees every burst; at a 1h step the noise
    # statistic's blocks would be too few in a week for its tail: none there.
    assert DetectorSettings(step=1800.0).noise_points == 0
    assert DetectorSettings(step=HOUR, for_seconds=3 * HOUR).noise_points == 0
    # Nor where the for: is longer than its window (a cost target's 3h at 5m).
    long_for = DetectorSettings(step=300.0, for_seconds=3 * HOUR)
    assert long_for.noise_points == 0
    assert len(pages(y[None], ts, long_for)[0]) <= 1
    assert DetectorSettings(step=MINUTE).noise_points == 60


@pytest.mark.parametrize("level_window", [3600.0, 0.0])
def test_an_incident_near_the_threshold_pages_once(level_window: float) -> None:
    # Three hours 4.25 noise sds up (3.5 before the threshold paid for its few maxima): the
    # score hovers around 1 and would page at every flicker across it; once paged, the
    # incident's samples keep the alert firing until it ends.
    ts = grid(8, 300.0)
    y = seasonal(ts, seed=14, noise=1.0)
    at = int(6.4 * DAY / 300)
    y[at : at + 36] += 4.25
    s = DetectorSettings(step=300.0, level_window=level_window)
    found = pages(y[None], ts, s)[0]
    assert len(found) == 1 and at <= found[0][0] <= at + 6
    assert found[0][1] <= at + 36 + 2 * s.level_points + s.for_points  # ends with the incident


def test_a_deviation_small_against_the_usual_range_or_capacity_does_not_page() -> None:
    ts = grid(8, 300.0)
    y = seasonal(ts, seed=8, noise=0.01)  # range ~10, noise 0.01
    at = int(6.22 * DAY / 300)  # at the daily peak, where the cycle is flat for an hour
    y[at : at + 12] += 0.8  # far beyond the noise, under 10% of the daily range
    assert pages(y[None], ts, DetectorSettings(step=300.0))[0] == []
    assert len(pages(y[None], ts, DetectorSettings(step=300.0, min_effect=0.0))[0]) == 1
    # Against a configured capacity of 100, even 5 is under a tenth: no page.
    y[at : at + 12] += 4.2
    assert pages(y[None], ts, DetectorSettings(step=300.0), capacity=np.array([100.0]))[0] == []
    assert len(pages(y[None], ts, DetectorSettings(step=300.0))[0]) == 1


@pytest.mark.parametrize("direction, rise, drop", [("up", 1, 0), ("down", 0, 1), ("both", 1, 1)])
def test_direction(direction: str, rise: int, drop: int) -> None:
    ts = grid(8, 300.0)
    up, down = seasonal(ts, seed=9), seasonal(ts, seed=9)
    at = int(6.5 * DAY / 300)
    up[at : at + 12] += 15
    down[at : at + 12] -= 15
    found = pages(np.vstack([up, down]), ts, DetectorSettings(step=300.0, direction=direction))
    assert (len(found[0]), len(found[1])) == (rise, drop)


# -- replay and CLI ------------------------------------------------------------------------------
def test_replay_is_the_detector_and_reports_short_series() -> None:
    ts = grid(5, HOUR)
    y = seasonal(ts)
    s = ReplaySettings(DetectorSettings(step=HOUR))
    out = replay([("tiny", ts[:10], y[:10]), ("ok", ts, y)], s)
    assert out[0].error.startswith("too short") and not out[1].error
    np.testing.assert_array_equal(
        out[1].score, detect(y[None], ts, s.detector, series_in_target=2).score[0]
    )


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="promcast-forecaster")
    anomaly_cli.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["anomalies", *argv])


def write_input(path: Path) -> None:
    ts = grid(6, HOUR)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["series_id", "timestamp", "value"])
        for sid, values in (("web-1", seasonal(ts, seed=7)), ("web-2", seasonal(ts, seed=8))):
            if sid == "web-2":
                values[130:134] += 15
            for t, v in zip(ts, values):
                stamp = np.datetime_as_string(np.datetime64(int(t), "s")) + "Z"
                w.writerow([sid, stamp, f"{v:.4f}"])
        w.writerow(["junk", stamp, "n/a"])
        w.writerow(["tiny", stamp, "3.5"])


def test_cli_round_trip_skips_bad_series(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src, out = tmp_path / "in.csv", tmp_path / "scores.csv"
    write_input(src)
    assert anomaly_cli.run(parse(["--input", str(src), "--out", str(out), "--step", "1h"])) == 0
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert tuple(rows[0]) == anomaly_cli.OUTPUT_COLUMNS
    assert {r["series_id"] for r in rows} == {"web-1", "web-2"}
    alerts = [r for r in rows if r["alert"] == "1"]
    assert alerts and {r["series_id"] for r in alerts} == {"web-2"}
    assert all(float(r["score"]) > 1 for r in alerts)
    err = capsys.readouterr().err
    assert "junk" in err and "tiny" in err
    assert "anomalies: 2 series" in err and "2 skipped" in err and "1 pages" in err
    assert f"{len(rows)} points scored" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--input", "/nonexistent/in.csv"], "not found"),
        (["--input", "IN", "--for", "soon"], "--for"),
        (["--input", "IN", "--budget", "0"], "--budget"),
        (["--input", "IN", "--min-effect", "-1"], "--min-effect"),
        (["--input", "IN", "--warmup", "1.5"], "--warmup"),
    ],
)
def test_cli_bad_input_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture, argv: list[str], message: str
) -> None:
    src = tmp_path / "in.csv"
    write_input(src)
    argv = [str(src) if a == "IN" else a for a in argv]
    assert anomaly_cli.run(parse([*argv, "--out", str(tmp_path / "o.csv")])) == 2
    err = capsys.readouterr().err
    assert "error" in err and message in err
