"""Forecasting models behind one interface (see :mod:`forecaster.models.base`).

Library-backed models are imported when first asked for, so ``import forecaster.models`` stays
cheap and the numpy models work without the optional extras.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from .base import DEFAULT_LEVELS, Forecast, Model
from .seasonal_naive import SeasonalNaive

__all__ = ["DEFAULT_LEVELS", "Forecast", "Model", "SeasonalNaive", "MODEL_NAMES", "make_model"]


def _statsmodels(cls_name: str, **fixed: Any) -> Callable[..., Model]:
    def build(m: int, **_: Any) -> Model:
        from . import statsmodels_models

        return getattr(statsmodels_models, cls_name)(m, **fixed)

    return build


def _fast_hw(m: int, horizon: int | None = None, **_: Any) -> Model:
    from .fast_hw import FastHoltWinters

    return FastHoltWinters(m, horizon=horizon)


def _global_gbm(m: int, horizon: int | None = None, **_: Any) -> Model:
    from .global_gbm import GlobalGBM

    return GlobalGBM(m, horizon=horizon)


def _drift(m: int, window: int | None = None, **_: Any) -> Model:
    from .prometheus import Drift

    return Drift(m, window=window)


def _prom_hw(m: int, window: int | None = None, **_: Any) -> Model:
    from .prometheus import PromHoltWinters

    return PromHoltWinters(m, window=window)


def _auto(m: int, **kwargs: Any) -> Model:
    from ..auto import AutoForecaster

    return AutoForecaster(m, **kwargs)


# The service's default: auto's choice among the candidates fitted for a whole fleet at once in
# numpy, so it needs no optional extra and costs a few vectorised fits per refit.
FAST_CANDIDATES: tuple[str, ...] = ("seasonal_naive", "seasonal_naive_drift", "fast_hw")


def _auto_fast(m: int, **kwargs: Any) -> Model:
    from ..auto import AutoForecaster

    kwargs.setdefault("candidates", FAST_CANDIDATES)
    # A target's first days are too short to backtest on; a capacity forecast must still see a
    # disk that grows (the limits keep a falling series from going below its minimum).
    kwargs.setdefault("untested", "seasonal_naive_drift")
    model = AutoForecaster(m, **kwargs)
    model.name = "auto_fast"
    return model


_BUILDERS: dict[str, Callable[..., Model]] = {
    "seasonal_naive": lambda m, **_: SeasonalNaive(m),
    "seasonal_naive_drift": lambda m, **_: SeasonalNaive(m, drift=True),
    "drift": _drift,
    "prom_holt_winters": _prom_hw,
    "holt_winters": _statsmodels("HoltWinters"),
    "damped": _statsmodels("HoltWinters", damped=True),
    "ets": _statsmodels("AutoETS"),
    "theta": _statsmodels("Theta"),
    "mstl": _statsmodels("MSTLModel"),
    "sarima": _statsmodels("Sarima"),
    "fast_hw": _fast_hw,
    "global_gbm": _global_gbm,
    "auto": _auto,
    "auto_fast": _auto_fast,
}
MODEL_NAMES: tuple[str, ...] = tuple(_BUILDERS) + ("sktime:<ClassName>",)


def make_model(
    name: str,
    season_length: int,
    *,
    horizon: int | None = None,
    levels: Sequence[int] = DEFAULT_LEVELS,
    downsample: int = 1,
    **options: Any,
) -> Model:
    """A model by its config name; unknown names raise ValueError listing the known ones.

    ``horizon`` (steps) tells models that tune themselves on a holdout how far ahead matters;
    ``levels`` is passed to ``auto`` so it calibrates those intervals; ``downsample`` > 1 fits on
    block means of that many steps (long horizons), with ``season_length`` in original steps.
    Other ``options`` go to the model (e.g. ``window`` for drift, ``candidates`` for auto).
    """
    if downsample > 1:
        from .resample import Downsampled

        coarse_h = None if horizon is None else -(-horizon // downsample)
        return Downsampled(
            lambda m: make_model(name, m, horizon=coarse_h, levels=levels, **options),
            season_length,
            downsample,
        )
    if name.startswith("sktime:"):
        from .sktime_adapter import SktimeModel

        return SktimeModel(name.split(":", 1)[1], season_length, **options)
    builder = _BUILDERS.get(name)
    if builder is None:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(MODEL_NAMES)}")
    if name in ("auto", "auto_fast"):
        return builder(season_length, horizon=horizon, levels=levels, **options)
    return builder(season_length, horizon=horizon, **options)
