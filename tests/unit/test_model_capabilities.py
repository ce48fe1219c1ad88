"""Models declare what they are; every caller reads the declaration, none keeps a list of names.

A model registered here, in the test, is one class plus one ``register`` call: the config accepts
it, the backtest, ``auto`` and the engine classify it by its capabilities.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator

import numpy as np
import pytest

from promcast_common.config import validate
from promcast_forecaster.backtest import FOLDS, holdout_scores
from promcast_forecaster.config import ForecasterConfig
from promcast_forecaster.engine import forecast_target, select_series
from promcast_forecaster.models import (
    Capabilities,
    ModelBase,
    SeasonalNaive,
    make_model,
    model_capabilities,
    model_names,
    register,
)
from promcast_forecaster.models import auto as auto_module
from promcast_forecaster.models import registry, sktime_adapter
from promcast_forecaster.models.auto import AutoForecaster
from promcast_forecaster.source import RawSeries

M = 24
HOUR = 3600.0


class Counting(ModelBase):
    """Seasonal naive under another name and declared capabilities, counting its fits."""

    fits: list[int] = []

    def __init__(self, name: str, capabilities: Capabilities, season_length: int) -> None:
        self.name, self.capabilities = name, capabilities
        self._inner = SeasonalNaive(season_length)

    def fit(self, y: np.ndarray) -> "Counting":
        Counting.fits.append(np.atleast_2d(y).shape[0])
        self._inner.fit(y)
        self.notes = [f"{self.name} row {i}" for i in range(np.atleast_2d(y).shape[0])]
        return self

    def predict(self, h: int, levels=(80, 95)):
        return self._inner.predict(h, levels)


KINDS = {
    "test_rowwise": Capabilities(vectorised=True),
    "test_fleetwide": Capabilities(vectorised=True, learns_across_series=True),
    "test_slow": Capabilities(per_series_library=True, handles_missing=False),
    "test_chooser": Capabilities(
        vectorised=True, per_series_choice=True, self_backtest=True, online_update=True
    ),
}


class Chooser(Counting):
    """A model that names a choice per row, backtests itself and updates online."""

    updates = 0

    def row_models(self, n: int) -> list[str]:
        return [f"pick{i % 2}" for i in range(n)]

    def backtest_scores(self) -> dict:
        n = len(self.notes)
        return {"mase": np.full(n, 0.25), "coverage": {80: np.full(n, 0.8)}}

    def update(self, y: np.ndarray) -> "Chooser":
        Chooser.updates += 1
        return self.fit(y)


@pytest.fixture()
def test_models() -> Iterator[None]:
    for name, caps in KINDS.items():
        cls = Chooser if name == "test_chooser" else Counting
        register(name, lambda m, _n=name, _c=caps, _cls=cls, **_: _cls(_n, _c, m))
    Counting.fits = []
    yield
    for name in KINDS:
        registry.unregister(name)


def fleet(n: int = 3, days: int = 10, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(days * M)
    return 20 + 3 * np.sin(2 * np.pi * t / M)[None, :] + rng.normal(0, 0.3, (n, t.size))


def test_registered_model_is_known_to_the_config_and_the_registry(test_models: None) -> None:
    assert "test_rowwise" in model_names()
    assert model_capabilities("test_slow") == KINDS["test_slow"]
    spec = {
        "name": "t",
        "query": "x",
        "step": "1h",
        "history": "10d",
        "season": "1d",
        "horizons": ["1d"],
        "model": "test_rowwise",
    }
    assert (
        validate(ForecasterConfig, {"targets": [spec]}).resolved_targets()[0].model
        == "test_rowwise"
    )


def test_backtest_folds_follow_the_vectorised_capability(test_models: None) -> None:
    y = fleet()
    for name, folds in (("test_rowwise", FOLDS), ("test_slow", 1)):
        Counting.fits = []
        caps = model_capabilities(name)
        holdout_scores(lambda h, _n=name: make_model(_n, M, horizon=h), caps, y, M, 12, [80])
        assert len(Counting.fits) == folds, name


def test_auto_leaves_out_per_series_library_candidates_on_a_large_fleet(
    test_models: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        auto_module, "DEFAULT_CANDIDATES", ("seasonal_naive", "test_rowwise", "test_slow")
    )
    monkeypatch.setattr(auto_module, "PER_SERIES_LIMIT", 2)
    model = AutoForecaster(M, horizon=12).fit(fleet(n=3))
    assert set(model.scores["candidates"]) == {"seasonal_naive", "test_rowwise"}
    assert all("['test_slow'] skipped for speed" in note for note in model.notes)
    # What auto is follows its candidates: one per-series candidate makes it not vectorised.
    assert not model.capabilities.vectorised and model.capabilities.per_series_library
    fast = AutoForecaster(M, candidates=["seasonal_naive", "test_rowwise"])
    assert fast.capabilities.vectorised and fast.capabilities.learns_across_series


def test_engine_publishes_the_models_own_choice_notes_and_backtest(test_models: None) -> None:
    spec = {
        "name": "t",
        "query": "x",
        "step": "1h",
        "history": "10d",
        "season": "1d",
        "horizons": ["1d"],
        "model": "test_chooser",
        "fit_every": "1d",
    }
    t = validate(ForecasterConfig, {"targets": [spec]}).resolved_targets()[0]
    end = 1_790_000_000.0 // HOUR * HOUR
    ts = end - HOUR * np.arange(t.points)[::-1]
    y = fleet(n=2, days=t.points // M + 1)[:, -t.points :]
    raw = [RawSeries({"host": h}, ts, y[i]) for i, h in enumerate("ab")]
    sel = select_series(raw, t).series
    res = forecast_target(t, sel, end, end + 60)
    assert [s.model for s in res.series] == ["pick0", "pick1"]
    assert [s.reason for s in res.series] == ["test_chooser row 0", "test_chooser row 1"]
    assert [s.backtest_mase for s in res.series] == [0.25, 0.25]
    assert len(Counting.fits) == 1  # its own backtest: the engine fitted it once
    again = forecast_target(t, sel, end + HOUR, end + HOUR + 60, fitted=res.fitted)
    assert not again.refitted and Chooser.updates == 1  # online update, not a new fit


def test_a_wrapper_reports_what_it_wraps(test_models: None) -> None:
    coarse = make_model("test_fleetwide", M, downsample=4)
    assert coarse.capabilities == dataclasses.replace(KINDS["test_fleetwide"], online_update=False)
    coarse.fit(fleet(n=2))
    assert coarse.row_models(2) == ["test_fleetwide@4x"] * 2
    assert coarse.row_notes(2) == ["test_fleetwide row 0", "test_fleetwide row 1"]
    assert make_model("auto_fast", M, downsample=4).capabilities.vectorised


def test_sktime_models_report_their_class_tags(monkeypatch: pytest.MonkeyPatch) -> None:
    class WithIntervals:
        @classmethod
        def get_class_tag(cls, tag: str, default=None):
            return {"capability:pred_int": True}.get(tag, default)

    class Without(WithIntervals):
        @classmethod
        def get_class_tag(cls, tag: str, default=None):
            return default

    classes = {"WithIntervals": WithIntervals, "Without": Without}
    monkeypatch.setattr(sktime_adapter, "_forecaster_class", classes.__getitem__)
    with_iv = model_capabilities("sktime:WithIntervals")
    assert with_iv.intervals and with_iv.per_series_library and not with_iv.vectorised
    assert not model_capabilities("sktime:Without").intervals
    # Through auto it is a per-series candidate, left out on large fleets like statsmodels ones.
    assert AutoForecaster(
        M, candidates=["seasonal_naive", "sktime:Without"]
    ).capabilities.per_series_library


def test_builtin_models_declare_what_they_are() -> None:
    caps = {n: model_capabilities(n) for n in model_names() if ":" not in n}
    vectorised = {n for n, c in caps.items() if c.vectorised}
    assert vectorised == {
        "seasonal_naive",
        "seasonal_naive_drift",
        "drift",
        "prom_holt_winters",
        "fast_hw",
        "fast_hw_damped",
        "fast_theta",
        "harmonic",
        "auto_fast",
    }
    assert {n for n, c in caps.items() if c.long_cycles} == {"harmonic"}
    assert {n for n, c in caps.items() if c.per_series_library} >= {
        "theta",
        "holt_winters",
        "damped",
        "ets",
        "mstl",
        "sarima",
        "auto",
    }
    assert {n for n, c in caps.items() if c.learns_across_series} == {
        "global_gbm",
        "auto",
        "auto_fast",
    }
    assert caps["mstl"].multi_seasonal and not caps["fast_hw"].multi_seasonal
