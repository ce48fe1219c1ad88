"""Forecasting models behind one interface (see :mod:`promcast_forecaster.models.base`), registered by name.

Adding a model: a module with its class (``name``, ``capabilities``, ``fit``, ``predict``; derive
from :class:`~promcast_forecaster.models.base.ModelBase` for the rest) and one ``register`` line below.
Optional libraries (statsmodels, scikit-learn, sktime) are imported by the models when they fit,
so ``import promcast_forecaster.models`` stays cheap and the numpy models work without the extras.
"""

from __future__ import annotations

from typing import Any

from .auto import FAST_CANDIDATES, AutoForecaster
from .base import DEFAULT_LEVELS, Capabilities, Forecast, Model, ModelBase
from .fast_hw import LONG_TRENDS, FastHoltWinters
from .fast_theta import FastTheta
from .global_gbm import GlobalGBM
from .harmonic import HarmonicRegression
from .prometheus import Drift, PromHoltWinters
from .registry import (
    is_model_name,
    make_model,
    model_capabilities,
    model_names,
    register,
    register_prefix,
)
from .seasonal_naive import SeasonalNaive
from . import statsmodels_models as _sm

__all__ = [
    "DEFAULT_LEVELS",
    "Capabilities",
    "Forecast",
    "Model",
    "ModelBase",
    "SeasonalNaive",
    "is_model_name",
    "make_model",
    "model_capabilities",
    "model_names",
    "register",
]


def _auto_fast(m: int, **kwargs: Any) -> Model:
    kwargs.setdefault("candidates", FAST_CANDIDATES)
    # A target's first days are too short to backtest on; a capacity forecast must still see a
    # disk that grows (the limits keep a falling series from going below its minimum).
    kwargs.setdefault("untested", "seasonal_naive_drift")
    return AutoForecaster(m, name="auto_fast", **kwargs)


def _sktime(class_name: str, m: int, **options: Any) -> Model:
    from .sktime_adapter import SktimeModel

    return SktimeModel(class_name, m, **options)


register("seasonal_naive", lambda m, **_: SeasonalNaive(m))
register("seasonal_naive_drift", lambda m, **_: SeasonalNaive(m, drift=True))
register("drift", lambda m, window=None, **_: Drift(m, window=window))
register("prom_holt_winters", lambda m, window=None, **_: PromHoltWinters(m, window=window))
register("holt_winters", lambda m, **_: _sm.HoltWinters(m))
register("damped", lambda m, **_: _sm.HoltWinters(m, damped=True))
register("ets", lambda m, **_: _sm.AutoETS(m))
register("theta", lambda m, **_: _sm.Theta(m))
register(
    "mstl", lambda m, seasons=(), **_: _sm.MSTLModel(m, periods=(m, *seasons) if seasons else None)
)
register("sarima", lambda m, **_: _sm.Sarima(m))
register("fast_hw", lambda m, horizon=None, **_: FastHoltWinters(m, horizon=horizon))
register(
    "fast_hw_damped",
    lambda m, horizon=None, **_: FastHoltWinters(
        m, horizon=horizon, trends=LONG_TRENDS, name="fast_hw_damped"
    ),
)
register("fast_theta", lambda m, horizon=None, **_: FastTheta(m, horizon=horizon))
register(
    "harmonic",
    lambda m, seasons=(), horizon=None, **_: HarmonicRegression(
        m, seasons=seasons, horizon=horizon
    ),
)
register("global_gbm", lambda m, horizon=None, **_: GlobalGBM(m, horizon=horizon))
register("auto", lambda m, **kw: AutoForecaster(m, **kw))
register("auto_fast", _auto_fast)
register_prefix("sktime", _sktime, "<ClassName>")
