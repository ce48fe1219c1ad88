"""The anomaly detector's work on a fleet: the tail fit reads one sort of its sample, and rows
are scored in chunks bounded by memory, without changing a score. Fixed seeds and anchors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from promcast_forecaster.anomaly import detector
from promcast_forecaster.anomaly.detector import (
    MAX_CALIBRATION_BLOCKS,
    MAX_WINDOW_VALUES,
    SHAPE_MARGIN,
    SHAPE_RANGE,
    TAIL_SHARE,
    DetectorSettings,
    detect,
    row_chunk,
    tail_quantile,
)

HOUR, DAY = 3600.0, 86400.0
START = 1_700_000_000 - 1_700_000_000 % 86400


def tail_quantile_by_definition(sample: np.ndarray, p: float, need: int) -> np.ndarray:
    """The tail quantile as its docstring defines it, with numpy's own quantile and a sort of
    the whole excess array: what the one-sort version must reproduce."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        have = np.isfinite(sample).sum(axis=-1)
        u = np.nanquantile(sample, 1 - TAIL_SHARE, axis=-1)
        exc = sample - u[..., None]
        exc = np.where(exc > 0, exc, np.nan)
        k = np.isfinite(exc).sum(axis=-1)
        srt = np.sort(exc, axis=-1)
        kk = np.maximum(k, 1)[..., None]
        i = np.arange(1, srt.shape[-1] + 1)
        weight = np.where(i <= kk, 1 - (i - 0.35) / kk, 0.0)
        vals = np.where(np.isfinite(srt), srt, 0.0)
        a0 = vals.sum(axis=-1) / kk[..., 0]
        a1 = (vals * weight).sum(axis=-1) / kk[..., 0]
        den = a0 - 2 * a1
        shape = np.where(den > 0, 2 - a0 / den, 0.0)
        scale = np.where(den > 0, 2 * a0 * a1 / den, a0)
        shape = shape + SHAPE_MARGIN * (1 + np.clip(shape, 0, None)) / np.sqrt(np.maximum(k, 1))
        shape = np.clip(shape, *SHAPE_RANGE) + 1 / np.maximum(k, 1)
        ratio = np.maximum(k / np.maximum(have, 1) / p, 1.0)
        growth = np.where(shape > 1e-6, (ratio**shape - 1) / np.maximum(shape, 1e-6), np.log(ratio))
        q = u + np.where(k > 0, scale * growth, 0.0)
    return np.where(have >= need, q, np.nan)


def test_tail_quantile_is_its_definition_on_gaps_ties_and_short_rows() -> None:
    rng = np.random.default_rng(11)
    sample = rng.standard_t(3, size=(5, 7, 120))
    sample[rng.random(sample.shape) < 0.2] = np.nan  # gaps
    sample[0, :, :60] = np.nan  # a young series: the padded calibration window
    sample[1] = np.round(sample[1])  # ties at the threshold
    sample[2, 0] = 4.0  # constant: no excess at all
    sample[3, 1] = np.nan  # nothing at all
    sample[4, 2, :3] = [1.0, 2.0, 3.0]  # almost nothing
    sample[4, 2, 3:] = np.nan
    for p, need in ((1e-3, 1), (1e-5, 48)):
        got = tail_quantile(sample, p, need)
        want = tail_quantile_by_definition(sample, p, need)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=0)


def test_row_chunks_keep_the_calibration_windows_bounded() -> None:
    # A block per step and the whole history as calibration: the service at a 1 h step.
    ts = START + HOUR * np.arange(28 * 24 + 1)
    settings = DetectorSettings(step=HOUR, calibration=28 * DAY)
    rows = row_chunk(ts, settings)
    assert 1 <= rows < detector.ROW_CHUNK
    assert rows * ts.size * settings.calibration_blocks <= MAX_WINDOW_VALUES
    # A year and more of history: the calibration is capped, so a row's windows grow with its
    # blocks only, not with their square, and several rows still fit in one chunk.
    long_ts = START + HOUR * np.arange(400 * 24)
    long = DetectorSettings(step=HOUR, calibration=400 * DAY)
    assert long.calibration_blocks == MAX_CALIBRATION_BLOCKS
    assert row_chunk(long_ts, long) == MAX_WINDOW_VALUES // (long_ts.size * MAX_CALIBRATION_BLOCKS)
    assert row_chunk(long_ts, long) >= 8


def test_a_long_history_is_calibrated_on_a_bounded_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 60 days at 1 h with the whole history as calibration: uncapped, every threshold would
    # read the 1,440 hourly maxima before it (and the sustained statistic's 240).
    widths: list[int] = []
    previous = detector._previous_blocks

    def recording(per_block: np.ndarray, count: int) -> np.ndarray:
        widths.append(count)
        return previous(per_block, count)

    monkeypatch.setattr(detector, "_previous_blocks", recording)
    ts = START + HOUR * np.arange(60 * 24)
    x = 10 + np.random.default_rng(4).standard_t(3, (2, ts.size))
    det = detect(x, ts, DetectorSettings(step=HOUR, calibration=60 * DAY))
    assert widths and max(widths) == MAX_CALIBRATION_BLOCKS
    assert np.isfinite(det.score[:, -1]).all()


@pytest.mark.parametrize("step, days", [(HOUR, 7), (HOUR, 14), (300.0, 7), (300.0, 14)])
def test_the_cap_changes_no_score_where_the_history_is_short(
    monkeypatch: pytest.MonkeyPatch, step: float, days: int
) -> None:
    # Up to two weeks of hourly blocks the cap is not reached: the default week of history
    # (and a fortnight) scores exactly as with no cap at all.
    rng = np.random.default_rng(6)
    ts = START + step * np.arange(int(days * DAY / step))
    x = 10 + np.sin(2 * np.pi * ts / DAY)[None, :] + rng.standard_t(3, (4, ts.size))
    x[rng.random(x.shape) < 0.02] = np.nan
    x[1, -40:-30] += 30  # an incident
    settings = DetectorSettings(step=step, calibration=days * DAY)
    capped = detect(x, ts, settings)
    monkeypatch.setattr(detector, "MAX_CALIBRATION_BLOCKS", 10**9)
    uncapped = detect(x, ts, settings)
    for field in ("expected", "score", "threshold", "min_effect"):
        np.testing.assert_array_equal(getattr(capped, field), getattr(uncapped, field))
    assert np.nanmax(capped.score[1]) > 1


@pytest.mark.parametrize("limit", [1, 3 * 170 * 168])
def test_chunking_the_rows_never_changes_a_score(
    monkeypatch: pytest.MonkeyPatch, limit: int
) -> None:
    rng = np.random.default_rng(5)
    ts = START + HOUR * np.arange(170)
    x = 10 + np.sin(2 * np.pi * ts / DAY)[None, :] + rng.standard_t(3, (7, ts.size))
    x[rng.random(x.shape) < 0.02] = np.nan
    x[2, 120:130] += 8  # an incident
    settings = DetectorSettings(step=HOUR, calibration=7 * DAY)
    whole = detect(x, ts, settings, series_in_target=50)
    monkeypatch.setattr(detector, "MAX_WINDOW_VALUES", limit)
    assert row_chunk(ts, settings) < x.shape[0]
    chunked = detect(x, ts, settings, series_in_target=50)
    for field in ("expected", "score", "threshold", "min_effect"):
        np.testing.assert_array_equal(getattr(chunked, field), getattr(whole, field))
    assert np.nanmax(whole.score[2]) > 1  # the comparison covers a page, not only calm rows
