"""Any sktime forecaster by class name (config ``model: sktime:ThetaForecaster``).

sktime is optional and heavy, so it is imported only when such a model is asked for, and a missing
installation or an unknown class name is a clear ValueError at configuration time.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .base import Capabilities
from .per_series import PerSeriesModel

_KNOWN_SEASONAL_ARGS = ("sp", "season_length", "seasonal_period")


@functools.lru_cache(maxsize=64)  # the registry walk takes seconds; classes do not change
def _forecaster_class(name: str) -> type:
    try:
        from sktime.registry import all_estimators
    except ImportError as exc:
        raise ValueError(
            f"model 'sktime:{name}' needs sktime, which is not installed "
            "(pip install 'promcast[sktime]')"
        ) from exc
    found = dict(all_estimators(estimator_types="forecaster"))
    if name not in found:
        close = sorted(k for k in found if name.lower()[:5] in k.lower())[:8]
        hint = f"; did you mean one of {close}?" if close else ""
        raise ValueError(f"sktime has no forecaster named {name!r}{hint}")
    return found[name]


def _tag(cls: type, tag: str) -> Any:
    get = getattr(cls, "get_class_tag", None)  # every sktime estimator has it; a stub may not
    return get(tag, False) if callable(get) else False


class SktimeModel(PerSeriesModel):
    min_seasons = 0.0

    def __init__(self, class_name: str, season_length: int = 1, **params: Any) -> None:
        super().__init__(season_length)
        self.class_name = class_name
        self.name = f"sktime:{class_name}"
        self._cls = _forecaster_class(class_name)
        self.params = params
        # The class says what it is through sktime's own tags; rows are still fitted one by one
        # and gaps interpolated first, whatever the class could take.
        self.capabilities = Capabilities(
            per_series_library=True,
            handles_missing=False,
            intervals=bool(_tag(self._cls, "capability:pred_int")),
        )

    def _make(self) -> Any:
        import inspect

        kwargs = dict(self.params)
        accepted = inspect.signature(self._cls.__init__).parameters
        for arg in _KNOWN_SEASONAL_ARGS:
            if arg in accepted and arg not in kwargs and self.season_length > 1:
                kwargs[arg] = self.season_length
        return self._cls(**kwargs)

    def _fit_one(self, row: np.ndarray) -> Any:
        import pandas as pd

        series = pd.Series(row, index=pd.RangeIndex(row.size))
        est = self._make()
        est.fit(series)
        return est, row

    def _predict_one(self, state: Any, h: int) -> tuple[np.ndarray, np.ndarray]:
        est, row = state
        fh = np.arange(1, h + 1)
        mean = np.asarray(est.predict(fh=fh), dtype=float).ravel()
        if est.get_tag("capability:pred_int", False):
            try:
                iv = est.predict_interval(fh=fh, coverage=0.95)
                vals = np.asarray(iv, dtype=float)
                return mean, (vals[:, 1] - vals[:, 0]) / (2 * 1.96)
            except (NotImplementedError, ValueError):
                pass
        return mean, self._resid_sigma(np.diff(row), h)
