"""Every model behind make_model: shapes, gaps, fallbacks and the behaviour that defines it."""

from __future__ import annotations

import numpy as np
import pytest

from promcast_forecaster.models import make_model, model_names
from promcast_forecaster.models.prometheus import Drift, PromHoltWinters
from promcast_forecaster.models.resample import downsample
from tests.helpers.models import model_arrays

M = 24  # hourly steps, daily season


def seasonal_fleet(n: int = 4, days: int = 14, noise: float = 0.3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(days * M)
    amp = rng.uniform(2, 5, (n, 1))
    return 20 + amp * np.sin(2 * np.pi * t / M)[None, :] + rng.normal(0, noise, (n, t.size))


FAST = [
    "seasonal_naive",
    "seasonal_naive_drift",
    "drift",
    "prom_holt_winters",
    "fast_hw",
    "global_gbm",
]
SLOW = ["holt_winters", "damped", "theta", "mstl", "sarima"]


@pytest.mark.parametrize("name", FAST + SLOW)
def test_every_model_forecasts_2d_and_1d_with_ordered_intervals(name: str) -> None:
    y = seasonal_fleet(n=2, days=10)
    y[0, 40:45] = np.nan  # a scrape gap
    fc = make_model(name, M, horizon=12).fit(y).predict(12, levels=(80, 95))
    assert set(fc) == {"mean", "lower-80", "upper-80", "lower-95", "upper-95"}
    for arr in fc.values():
        assert arr.shape == (2, 12) and np.isfinite(arr).all()
    assert (fc["lower-95"] <= fc["lower-80"] + 1e-9).all()
    assert (fc["lower-80"] <= fc["mean"] + 1e-9).all() and (
        fc["mean"] <= fc["upper-80"] + 1e-9
    ).all()
    assert (fc["upper-80"] <= fc["upper-95"] + 1e-9).all()
    one = make_model(name, M, horizon=12).fit(y[1]).predict(12)
    assert one["mean"].shape == (12,)


@pytest.mark.parametrize(
    "name", ["fast_hw", "holt_winters", "theta", "global_gbm", "mstl", "sarima"]
)
def test_seasonal_models_learn_the_daily_shape(name: str) -> None:
    y = seasonal_fleet(n=2, days=14, noise=0.2)
    fc = make_model(name, M, horizon=M).fit(y).predict(M)["mean"]
    t = np.arange(14 * M, 15 * M)
    truth = (
        y[:, :M].mean(axis=1, keepdims=True) * 0
        + 20
        + ((y[:, : M * 13].reshape(2, 13, M).mean(axis=1) - 20)[:, t % M])
    )
    assert np.abs(fc - truth).mean() < 0.6


def test_drift_is_prometheus_predict_linear() -> None:
    # predict_linear over a window = least-squares line through the window, extrapolated.
    rng = np.random.default_rng(3)
    y = 5 + 0.5 * np.arange(100) + rng.normal(0, 1, 100)
    fc = Drift(window=50).fit(y).predict(10)["mean"]
    slope, intercept = np.polyfit(np.arange(50), y[-50:], 1)
    expected = intercept + slope * np.arange(50, 60)
    np.testing.assert_allclose(fc, expected, rtol=1e-9)


def test_drift_skips_gaps_like_a_range_vector() -> None:
    y = np.arange(20, dtype=float)
    y[5:9] = np.nan
    np.testing.assert_allclose(Drift().fit(y).predict(3)["mean"], [20, 21, 22])


def test_prom_holt_winters_matches_prometheus_recursion() -> None:
    y = np.array([1.0, 3, 2, 5, 4, 6])
    sf, tf = 0.5, 0.3
    # Prometheus 2.42 funcHoltWinters, transcribed literally.
    s1, b, s0 = y[0], y[1] - y[0], 0.0
    for i in range(1, len(y)):
        b = b if i == 1 else tf * (s1 - s0) + (1 - tf) * b
        s0, s1 = s1, sf * y[i] + (1 - sf) * (s1 + b)
    fc = PromHoltWinters(sf=sf, tf=tf).fit(y).predict(4)["mean"]
    np.testing.assert_allclose(fc, [s1] * 4)


def test_fast_hw_is_vectorised_and_matches_per_series_fits() -> None:
    y = seasonal_fleet(n=6, days=12)
    together = make_model("fast_hw", M, horizon=M).fit(y).predict(M)["mean"]
    alone = np.stack([make_model("fast_hw", M, horizon=M).fit(row).predict(M)["mean"] for row in y])
    np.testing.assert_allclose(together, alone, rtol=1e-9)


def _prefix_fleet() -> np.ndarray:
    """Series of every kind a backtest meets: whole, gappy, joining late, joining after some
    ends, empty, and one with an infinity."""
    y = seasonal_fleet(n=8, days=14, seed=3)
    y[1, 40:60] = np.nan
    y[2, : 3 * M] = np.nan  # joins late, but its first seasons lie before every end below
    y[3, : 9 * M] = np.nan  # its first seasons straddle the ends: fitted per end
    y[4] = np.nan
    y[5, 30] = np.inf
    y[6, : 13 * M] = np.nan  # nothing at all before the earliest ends
    return y


@pytest.mark.parametrize("name", ["fast_hw", "fast_hw_damped"])
@pytest.mark.parametrize(
    ("season", "ends"),
    [
        (M, [11 * M, 12 * M, 13 * M, 14 * M]),  # a backtest's folds and the whole history
        (M, [9 * M + 5, 14 * M - 1]),  # ends off the season's grid
        (M, [3 * M, 14 * M]),  # fewer start-up seasons at the first end: fitted per end
        (1, [200, 300, 14 * M]),  # no season
    ],
)
def test_fast_hw_fit_prefixes_equals_a_fit_on_each_prefix(
    name: str, season: int, ends: list[int]
) -> None:
    """The one-pass fit of several prefixes (auto's backtest folds) must not change a single
    number, note or parameter against fitting each prefix on its own."""
    y = _prefix_fleet()
    fits = make_model(name, season, horizon=M).fit_prefixes(y, ends)
    assert len(fits) == len(ends)
    for end, got in zip(ends, fits):
        want = make_model(name, season, horizon=M).fit(y[:, :end])
        a, b = got.predict(M, (80, 95)), want.predict(M, (80, 95))
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{key} at end {end}")
        assert got.notes == want.notes
        np.testing.assert_array_equal(got.params, want.params)


def test_fast_hw_fit_prefixes_rejects_ends_outside_the_history() -> None:
    with pytest.raises(ValueError, match="ends must lie in 1..48"):
        make_model("fast_hw", M).fit_prefixes(seasonal_fleet(n=2, days=2), [24, 49])


@pytest.mark.parametrize("season", [1, 5, M])
def test_seasonal_naive_reads_back_only_as_far_as_its_gaps_need(season: int) -> None:
    """newest_per_phase stops at the first season back that leaves no gap: the values must be
    those of reading every season from the oldest on (the definition)."""
    from promcast_forecaster.models.seasonal_naive import newest_per_phase

    rng = np.random.default_rng(7)
    y = rng.normal(size=(6, 10 * season + 3))
    y[rng.random(y.shape) < 0.3] = np.nan
    y[1, -3 * season :] = np.nan  # a gap of three seasons
    y[2] = np.nan
    y[3, -1] = np.inf
    y[4, : -2 * season] = np.nan  # only the newest seasons
    t, k = y.shape[1], y.shape[1] // season
    want = None
    for i in range(k):
        cur = np.where(np.isfinite(y), y, np.nan)[
            :, t - (k - i) * season : t - (k - i - 1) * season
        ]
        want = cur if want is None else np.where(np.isnan(cur), want, cur)
    np.testing.assert_array_equal(newest_per_phase(y, season), want)


def test_fast_hw_prefers_a_flat_level_for_noise_and_tracks_a_trend() -> None:
    rng = np.random.default_rng(5)
    noise = 50 + rng.normal(0, 5, 12 * M)
    trend = 10 + 0.2 * np.arange(12 * M) + rng.normal(0, 0.2, 12 * M)
    model = make_model("fast_hw", M, horizon=M).fit(np.stack([noise, trend]))
    fc = model.predict(M)["mean"]
    assert abs(fc[0].mean() - 50) < 2.5 and fc[0].std() < 2.5  # no echo of yesterday's noise
    assert fc[1, -1] > trend[-1]  # keeps growing


def test_short_and_constant_and_empty_rows_fall_back_without_breaking_the_others() -> None:
    y = seasonal_fleet(n=4, days=10)
    y[1, :-30] = np.nan  # 30 points: shorter than two seasons
    y[2] = 7.0
    y[3] = np.nan
    for name in ["holt_winters", "theta", "fast_hw", "mstl"]:
        model = make_model(name, M, horizon=12).fit(y)
        fc = model.predict(12)
        assert np.isfinite(fc["mean"][:3]).all(), name
        np.testing.assert_allclose(fc["mean"][2], 7.0)
        assert "two seasons" in model.notes[1], (name, model.notes)


def test_infinite_values_are_treated_as_gaps() -> None:
    y = seasonal_fleet(n=2)
    y[0, 100] = np.inf
    y[1, 200] = -np.inf
    for name in ["fast_hw", "global_gbm", "theta", "seasonal_naive", "drift"]:
        fc = make_model(name, M, horizon=12).fit(y).predict(12)
        assert np.isfinite(fc["mean"]).all() and np.abs(fc["mean"]).max() < 100, name


def test_sarima_refuses_long_seasons_with_a_reason() -> None:
    y = seasonal_fleet(n=1, days=4).repeat(4, axis=1)  # 96-step season
    model = make_model("sarima", 96).fit(y)
    assert np.isfinite(model.predict(5)["mean"]).all()
    assert "too long for SARIMA" in model.notes[0]


def test_mstl_uses_the_weekly_season_when_history_allows() -> None:
    t = np.arange(28 * M)
    weekly = np.where((t // M) % 7 >= 5, -8.0, 0.0)  # quiet weekends
    y = 30 + 4 * np.sin(2 * np.pi * t / M) + weekly
    fc = make_model("mstl", M).fit(y[None, :]).predict(7 * M)["mean"][0]
    future = np.arange(28 * M, 35 * M)
    truth = 30 + 4 * np.sin(2 * np.pi * future / M) + np.where((future // M) % 7 >= 5, -8.0, 0.0)
    assert np.abs(fc - truth).mean() < 1.0


def test_downsampled_long_horizon_keeps_weekly_shape() -> None:
    t = np.arange(8 * 7 * M)  # 8 weeks hourly
    y = 100 + np.where((t // M) % 7 >= 5, -30.0, 0.0)
    coarse = downsample(y, M)
    assert coarse.shape == (56,)
    fc = make_model("seasonal_naive", 7 * M, downsample=M).fit(y).predict(30 * M)["mean"]
    assert fc.shape == (30 * M,)
    future = np.arange(t.size, t.size + 30 * M)
    np.testing.assert_allclose(fc, 100 + np.where((future // M) % 7 >= 5, -30.0, 0.0))


def test_unknown_names_list_the_known_ones() -> None:
    with pytest.raises(ValueError, match="fast_hw"):
        make_model("prophecy", M)
    assert "auto" in model_names() and "sktime:<ClassName>" in model_names()


def test_sktime_by_name_or_a_clear_error() -> None:
    try:
        import sktime  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="needs sktime"):
            make_model("sktime:ThetaForecaster", M)
        return
    with pytest.raises(ValueError, match="no forecaster named"):
        make_model("sktime:NoSuchForecaster", M)
    y = seasonal_fleet(n=2, days=6)
    fc = make_model("sktime:NaiveForecaster", M).fit(y).predict(6)
    assert fc["mean"].shape == (2, 6) and np.isfinite(fc["upper-95"]).all()


def test_global_gbm_keeps_nothing_history_sized_and_blocks_change_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from promcast_forecaster.models import arrays, global_gbm

    y = seasonal_fleet(n=30, days=40)  # 960 points: the last week is a small part of it
    y[3, 100:130] = np.nan
    y[4, -2 * M :] = np.nan  # no recent level: seasonal naive takes this row
    y[5, 7] = np.inf
    whole = make_model("global_gbm", M, horizon=M).fit(y)
    fc = whole.predict(M)
    # Training rows are sampled (max_rows), and what predict needs is the last week of values:
    # no table as wide as the history (running sums, a cleaned copy) outlives fit.
    assert whole._resid_by_step[0].size <= whole.max_rows
    kept = {k: v for k, v in vars(whole).items() if k != "_fallback"}
    assert max(a.shape[-1] for a in model_arrays(kept) if a.ndim > 1) <= 7 * M < y.shape[1]
    # Seasonal naive (with its history of residuals) is fitted for the row that needs it only.
    assert list(whole._fallback_rows) == [4] and whole._fallback._last.shape[0] == 1
    assert np.isfinite(fc["mean"]).all()
    # Running sums computed a few rows at a time, and predict in small blocks, give the same bits.
    monkeypatch.setattr(arrays, "BLOCK_VALUES", 3 * y.shape[1])
    monkeypatch.setattr(global_gbm, "PREDICT_BLOCK_ROWS", 5 * M)
    blocked = make_model("global_gbm", M, horizon=M).fit(y).predict(M)
    for key in fc:
        np.testing.assert_array_equal(blocked[key], fc[key])


@pytest.mark.parametrize("drift", [False, True])
def test_seasonal_naive_without_intervals_keeps_no_history(drift: bool) -> None:
    from promcast_forecaster.models.seasonal_naive import SeasonalNaive

    y = seasonal_fleet(n=5, days=12)
    y[1, 30:40] = np.nan
    y[2, -3] = np.inf
    full = SeasonalNaive(M, drift=drift).fit(y).predict(30)
    lean = SeasonalNaive(M, drift=drift, intervals=False).fit(y)
    assert max(a.shape[-1] for a in model_arrays(lean) if a.ndim > 1) <= M  # the last season only
    out = lean.predict(30)
    assert set(out) == {"mean"}
    np.testing.assert_array_equal(out["mean"], full["mean"])


def test_global_gbm_learns_from_less_than_a_week_of_history():
    # Its week-lag feature has no value then; it must still train on the others (not fall back),
    # or auto would lose it on every target with a few days of 5-minute history.
    rng = np.random.default_rng(0)
    t = np.arange(1500)  # about 5 days at 5 minutes
    y = 0.4 + 0.1 * np.sin(2 * np.pi * t / 288)[None, :] + 0.02 * rng.standard_normal((50, t.size))
    model = make_model("global_gbm", 288, horizon=288).fit(y)
    assert not any("seasonal naive used" in note for note in model.notes)
    mean = model.predict(288, [80])["mean"]
    expected = 0.4 + 0.1 * np.sin(2 * np.pi * np.arange(1500, 1788) / 288)
    assert np.abs(mean - expected).mean() < 0.03


def _daily(days: int, seed: int, level: float = 4.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    hours = np.arange(days * 24)
    return level + np.sin(2 * np.pi * hours / 24) + 0.1 * rng.standard_normal(hours.size)


def test_seasonal_naive_drift_does_not_extrapolate_one_quiet_last_day() -> None:
    """A spend that never stops, whose last day was quiet (batch jobs off): the textbook drift
    (last season - first season) sinks it to zero within a month; the season means' slope,
    shrunk by how far it stands out from their scatter, keeps it near its level; two weeks of
    history show that the band need not grow."""
    y = _daily(14, 1)
    y[-24:] -= 1.5
    f = make_model("seasonal_naive_drift", season_length=24).fit(y).predict(30 * 24, [80, 95])
    assert f["mean"][-24:].mean() > 2.0
    assert f["lower-80"].min() > 0, "a level with noise around it gets no band reaching zero"


def test_seasonal_naive_drift_keeps_a_real_trend_whole() -> None:
    y = _daily(9, 2) + 0.05 * np.arange(9 * 24)  # 1.2 a day
    f = make_model("seasonal_naive_drift", season_length=24).fit(y).predict(10 * 24, [80])
    per_day = (f["mean"][-24:].mean() - f["mean"][:24].mean()) / 9
    assert per_day == pytest.approx(1.2, rel=0.05)


def test_seasonal_naive_intervals_widen_as_the_history_says() -> None:
    """Noise around a level: a fortnight ahead is about as uncertain as a day ahead. A random
    walk: the spread grows like sqrt(seasons ahead), as the textbook's seasonal naive assumes.
    Short histories cannot tell the two apart and keep the sqrt."""
    rng = np.random.default_rng(3)
    hours = np.arange(20 * 24)
    level = 4 + np.sin(2 * np.pi * hours / 24) + 0.3 * rng.standard_normal((100, hours.size))
    walk = np.cumsum(rng.standard_normal((100, hours.size)), axis=1)

    def growth(y: np.ndarray) -> float:
        f = make_model("seasonal_naive", season_length=24).fit(y).predict(16 * 24, [80])
        w = f["upper-80"] - f["lower-80"]
        return float(np.median(w[:, -1] / w[:, 0]))

    assert growth(level) < 1.3
    assert 2.5 < growth(walk) <= 4.0 + 1e-9  # sqrt(16) = 4
    assert growth(level[:, : 5 * 24]) == pytest.approx(np.sqrt(16))
