"""Backtest accuracy for models that do not backtest themselves (``auto`` does, with its own
folds): the model is fitted again at the newest few origins of the history and scored on the
blocks after them, per series. The scores are what the forecast-quality alert and the explorer's
accuracy panels read, so every target has them, not only ``auto`` ones.

Run at refit time only (every ``fit_every``). Vectorised models (``capabilities.vectorised``) fit
a whole fleet in milliseconds and get three folds; the others (statsmodels and sktime fit series one
by one, the gradient-boosted global model trains on the fleet) get one, so the backtest costs at
most one extra fit.
"""

from __future__ import annotations

import warnings
from typing import Callable, Sequence

import numpy as np

from promcast_forecaster.interrupt import checkpoint
from promcast_forecaster.models.base import Capabilities, Forecast, interval_keys
from promcast_forecaster.models.metrics import mase_scale, trimmed_scaled_error

FOLDS = 3
# A fold must leave this share of the history to fit on: a model fitted on a sliver of the
# series is not the model being judged.
MIN_TRAIN_SHARE = 0.5

Scores = dict[str, object]  # {"mase": rows, "coverage": {level: rows}}, as auto's ``scores``


def holdout_scores(
    build: Callable[[int], object],
    capabilities: Capabilities,
    data: np.ndarray,
    season: int,
    horizon: int,
    levels: Sequence[int],
    post: Callable[[Forecast, np.ndarray], Forecast] | None = None,
) -> Scores:
    """Scaled error (the absolute error over seasonal naive's in-sample error before each origin,
    averaged over the backtest points less the largest few, see :func:`trimmed_scaled_error`) and interval
    coverage per row over up to :data:`FOLDS` consecutive blocks of ``horizon`` steps at the
    end of ``data``; ``build(h)`` makes an unfitted model for an ``h``-step forecast. Empty when
    the history is too short to leave a fold."""
    n_steps = data.shape[1]
    min_train = max(2 * season, int(np.ceil(MIN_TRAIN_SHARE * n_steps)))
    h = min(horizon, n_steps - min_train)
    if h < 1:
        return {}
    folds = FOLDS if capabilities.vectorised else 1
    origins = [o for o in (n_steps - k * h for k in range(folds, 0, -1)) if o >= min_train]
    errors, inside = [], {lv: [] for lv in levels}  # errors: (n, h) per fold, already scaled
    for o in origins:
        checkpoint()
        train, actual = data[:, :o], data[:, o : o + h]
        fc = build(h).fit(train).predict(h, levels)
        if post is not None:
            fc = post(fc, train)
        errors.append(
            np.abs(actual - np.asarray(fc["mean"])[:, :h]) / mase_scale(train, season)[:, None]
        )
        for lv in levels:
            lo, hi = (np.asarray(fc[k])[:, :h] for k in interval_keys(lv))
            inside[lv].append(np.where(np.isnan(actual), np.nan, (actual >= lo) & (actual <= hi)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows with no actual in any fold
        return {
            "mase": trimmed_scaled_error(np.hstack(errors), 0.0, np.ones(data.shape[0])),
            "coverage": {lv: np.nanmean(np.hstack(v), axis=1) for lv, v in inside.items()},
        }
