"""Bands per step ahead and per level, from the backtest's own errors at those steps."""

from __future__ import annotations

import numpy as np
import pytest

from promcast_forecaster.models.auto import AutoForecaster
from promcast_forecaster.models.lead_bands import LeadBands, lead_buckets

H = 48


@pytest.mark.parametrize("h", [1, 2, 5, 48, 365])
def test_lead_buckets_cover_every_step_once_doubling_in_width(h: int) -> None:
    buckets = lead_buckets(h)
    assert buckets[0][0] == 0 and buckets[-1][1] == h
    assert all(a[1] == b[0] for a, b in zip(buckets, buckets[1:]))
    widths = [b - a for a, b in buckets]
    assert all(w2 <= 2 * w1 for w1, w2 in zip(widths, widths[1:]))


def _mixed_fleet(seed: int, n: int = 2000) -> np.ndarray:
    """Half random walks (errors grow with the step ahead), half noise around a level (errors as
    large one step ahead as forty): one shape of growth for the whole fleet fits neither."""
    rng = np.random.default_rng(seed)
    t = 12 * H
    walk = np.cumsum(rng.normal(0, 1, (n, t)), axis=1)
    walk[n // 2 :] = 0.0
    return 100 + walk + rng.normal(0, 2, (n, t))


def test_each_series_band_widens_as_its_own_errors_grow() -> None:
    y = _mixed_fleet(3)
    train, test = y[:, :-H], y[:, -H:]
    model = AutoForecaster(1, horizon=H, candidates=["seasonal_naive"]).fit(train)
    assert model.scores["folds"] == 3  # a large fleet: few errors per series
    # 1,000 series of each kind: one block each, and a random walk's block is one draw of its level.
    fc = model.predict(H, [80, 95])
    walks, flat = slice(0, 1000), slice(1000, 2000)
    late, early = slice(2 * H // 3, H), slice(0, H // 6)
    for lv in (80, 95):
        inside = (test >= fc[f"lower-{lv}"]) & (test <= fc[f"upper-{lv}"])
        # Far out, the random walks' band is as wide as their errors there ...
        assert abs(inside[walks, late].mean() - lv / 100) < 0.04, lv
        # ... and close in, the flat series' band is as wide as theirs.
        assert abs(inside[flat, early].mean() - lv / 100) < 0.04, lv
    width = fc["upper-80"] - fc["lower-80"]
    assert np.median(width[walks, -1] / width[walks, 0]) > 1.8
    assert np.median(width[flat, -1] / width[flat, 0]) < 1.3


def test_the_levels_widen_each_by_its_own_errors() -> None:
    # Close in the errors are mostly small with rare large ones; far out they are normal: the 95%
    # band is many times the 80% one close in, about 1.5 times far out.
    rng = np.random.default_rng(5)
    folds, n = 4, 300
    close = np.where(rng.random((folds, n, 8)) < 0.1, rng.normal(0, 20, (folds, n, 8)), 0.0)
    close += rng.normal(0, 1, (folds, n, 8))
    far = rng.normal(0, 4, (folds, n, 40))
    bands = LeadBands(np.concatenate([close, far], axis=2))
    ratio = bands.half_width(95, 48) / bands.half_width(80, 48)
    assert np.median(ratio[:, 3]) > 4
    assert 1.3 < np.median(ratio[:, -1]) < 1.8


def test_bands_never_narrow_with_the_step_ahead_and_keep_widening_beyond_the_backtest() -> None:
    rng = np.random.default_rng(6)
    resid = np.cumsum(rng.normal(0, 1, (3, 50, 24)), axis=2)
    bands = LeadBands(resid)
    half = bands.half_width(80, 96)
    assert (np.diff(half, axis=1) >= 0).all()
    assert (half[:, -1] > 1.8 * half[:, 23]).all()  # four times the steps: twice the spread
    assert (bands.half_width(95, 96) >= half).all()


def test_each_levels_calibration_is_computed_once_per_backtest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # predict asks for the bands at every infer cycle; their calibration changes only at refit.
    resid = np.random.default_rng(3).normal(size=(3, 50, 12))
    bands = LeadBands(resid)
    calls: list[int] = []
    real = LeadBands._calibrate

    def counted(self: LeadBands, level: int) -> tuple[np.ndarray, np.ndarray]:
        calls.append(level)
        return real(self, level)

    monkeypatch.setattr(LeadBands, "_calibrate", counted)
    first = bands.half_width(80, 12)
    for _ in range(3):
        np.testing.assert_array_equal(bands.half_width(80, 12), first)
        bands.half_width(95, 24)
    assert calls == [80, 95]
