"""The vectorised Theta method: season, drift, smoothing weight and gaps, for a whole fleet."""

from __future__ import annotations

import numpy as np

from promcast_forecaster.models import make_model, model_capabilities
from promcast_forecaster.models.fast_theta import SMOOTH_WINDOW, FastTheta, seasonal

M = 24


def _fleet(seed: int = 3, days: int = 20) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(days * M)
    return np.stack(
        [
            100 + 15 * np.sin(2 * np.pi * t / M) + rng.normal(0, 1, t.size),  # seasonal
            50 + rng.normal(0, 2, t.size),  # noise around a level
            10 + 0.5 * t + rng.normal(0, 0.5, t.size),  # a trend
        ]
    )


def test_is_registered_and_vectorised() -> None:
    assert model_capabilities("fast_theta").vectorised
    assert isinstance(make_model("fast_theta", M), FastTheta)


def test_season_is_taken_out_only_where_the_series_has_one() -> None:
    y = _fleet()
    t = np.arange(y.shape[1])
    flat = y - np.polyfit(t, y.T, 1)[0][:, None] * t  # as the model looks: without the trend
    assert seasonal(flat, M, np.isfinite(y).sum(axis=1)).tolist() == [True, False, False]
    model = FastTheta(M).fit(y)
    assert np.abs(model._index[1]).max() == 0.0
    assert np.abs(model._index[0]).max() > 10
    assert np.abs(model._index[2]).max() == 0.0  # a trend is no season


def test_forecasts_follow_season_level_and_trend() -> None:
    y = _fleet(days=21)
    train, test = y[:, :-M], y[:, -M:]
    fc = FastTheta(M).fit(train).predict(M, [80, 95])
    err = np.abs(fc["mean"] - test).mean(axis=1)
    naive = np.abs(train[:, -M:] - test).mean(axis=1)
    assert err[0] < 3 and err[1] < 3
    # Theta extrapolates half the trend's slope: still well ahead of repeating yesterday.
    assert err[2] < naive[2]
    width80 = fc["upper-80"] - fc["lower-80"]
    assert (np.diff(width80, axis=1) >= -1e-9).all()  # bands widen with the step ahead
    assert ((fc["upper-95"] - fc["lower-95"]) > width80).all()


def test_rows_are_independent_and_gaps_coast() -> None:
    y = _fleet()
    y[1, 100:130] = np.nan
    y[2, :50] = np.nan  # a series that started later
    together = FastTheta(M).fit(y).predict(M, [80])
    for i in range(3):
        alone = FastTheta(M).fit(y[i : i + 1]).predict(M, [80])
        assert np.allclose(alone["mean"], together["mean"][i : i + 1])
    assert np.isfinite(together["mean"]).all()


def test_an_empty_row_forecasts_nothing() -> None:
    y = _fleet()
    y[0] = np.nan
    fc = FastTheta(M).fit(y).predict(M, [80])
    assert np.isnan(fc["mean"][0]).all() and np.isfinite(fc["mean"][1:]).all()


def test_a_history_longer_than_the_smoothing_window_keeps_its_phase() -> None:
    # The season and the smoothing are read from the newest SMOOTH_WINDOW steps, which start at
    # another phase than the history does: the forecast must still be in phase.
    rng = np.random.default_rng(8)
    t = np.arange(SMOOTH_WINDOW + 5 * M + 7)
    y = 20 + 10 * np.sin(2 * np.pi * t / M) + rng.normal(0, 0.2, t.size)
    ahead = np.arange(t.size, t.size + M)
    fc = FastTheta(M).fit(y).predict(M, [80])["mean"]
    assert np.abs(fc - (20 + 10 * np.sin(2 * np.pi * ahead / M))).max() < 1.0
