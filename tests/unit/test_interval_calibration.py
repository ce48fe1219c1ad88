"""Interval calibration on backtest errors: each series' band quantile shrunk to the fleet's."""

from __future__ import annotations

import numpy as np
import pytest

from promcast_forecaster.models import lead_bands
from promcast_forecaster.models.auto import AutoForecaster
from promcast_forecaster.models.intervals import FLEET_PRIOR_ERRORS, shrink_to_fleet
from promcast_forecaster.models.metrics import coverage

M = 24


def test_few_errors_lean_on_the_fleet_many_on_the_series() -> None:
    own = np.array([1.0, 3.0, np.nan])
    few = shrink_to_fleet(own, 2.0, effective=FLEET_PRIOR_ERRORS)
    assert np.allclose(few, [1.5, 2.5, 2.0])  # half and half; no errors of its own: the fleet's
    many = shrink_to_fleet(own, 2.0, effective=100 * FLEET_PRIOR_ERRORS)
    assert abs(many[0] - 1.0) < 0.02 and abs(many[1] - 3.0) < 0.02
    assert np.allclose(shrink_to_fleet(own, np.nan, 8), own, equal_nan=True)


def _fleet(seed: int) -> np.ndarray:
    """Series alike in noise: any difference between their bands is estimation noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(15 * M)
    return 100 + 10 * np.sin(2 * np.pi * t / M)[None, :] + rng.normal(0, 3, (200, t.size))


def _bands(y: np.ndarray) -> tuple[np.ndarray, float]:
    train, test = y[:, :-M], y[:, -M:]
    # 200 series: the configured three folds, so each series has few errors of its own.
    model = AutoForecaster(M, horizon=M, candidates=["seasonal_naive", "fast_hw"]).fit(train)
    assert model.scores["folds"] == 3
    fc = model.predict(M, [80])
    width = (fc["upper-80"] - fc["lower-80"]).mean(axis=1)
    return width, float(np.nanmean(coverage(test, fc["lower-80"], fc["upper-80"])))


def test_shrinking_to_the_fleet_steadies_bands_and_coverage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    y = _fleet(11)
    width, cov = _bands(y)
    monkeypatch.setattr(lead_bands, "shrink_to_fleet", lambda own, fleet, effective: own)
    alone_width, alone_cov = _bands(y)
    spread = np.std(width) / np.mean(width)
    alone_spread = np.std(alone_width) / np.mean(alone_width)
    assert spread < 0.95 * alone_spread
    assert abs(cov - 0.8) <= abs(alone_cov - 0.8) + 0.01
    assert abs(cov - 0.8) < 0.05


def test_a_series_alone_keeps_its_own_conformal_band(monkeypatch: pytest.MonkeyPatch) -> None:
    # Alone, the fleet's quantile is its own (with the same finite-sample margin).
    y = _fleet(12)[:1]
    model = AutoForecaster(M, horizon=M, candidates=["seasonal_naive", "fast_hw"], folds=3)
    fc = model.fit(y[:, :-M]).predict(M, [80])
    monkeypatch.setattr(lead_bands, "shrink_to_fleet", lambda own, fleet, effective: own)
    alone = model.predict(M, [80])
    assert np.allclose(fc["upper-80"], alone["upper-80"])
