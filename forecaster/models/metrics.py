"""Accuracy scores shared by the automatic choice and the benchmarks (per series, NaN-aware)."""

from __future__ import annotations

import warnings

import numpy as np

from .arrays import row_blocks


def mase_scale(history: np.ndarray, season_length: int) -> np.ndarray:
    """In-sample mean absolute error of seasonal naive per row: the MASE denominator.

    Falls back to lag 1 when the history holds fewer than two seasons, and to a tiny positive
    number for a constant row so a perfect forecast scores 0 and any miss scores large.
    """
    blocks = row_blocks(*history.shape) if history.ndim == 2 else []
    if len(blocks) > 1:  # rows are independent: a block at a time bounds the temporaries
        return np.concatenate([mase_scale(history[a:b], season_length) for a, b in blocks])
    h = np.where(np.isfinite(history), history, np.nan)
    lag = season_length if h.shape[-1] > 2 * season_length else 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        scale = np.nanmean(np.abs(h[..., lag:] - h[..., :-lag]), axis=-1)
        if lag > 1:
            one = np.nanmean(np.abs(np.diff(h, axis=-1)), axis=-1)
            scale = np.where(np.isfinite(scale) & (scale > 0), scale, one)
        level = np.nanmean(np.abs(h), axis=-1)
    tiny = np.where(np.isfinite(level) & (level > 0), level * 1e-6, 1e-9)
    return np.where(np.isfinite(scale) & (scale > 0), scale, tiny)


def mase(actual: np.ndarray, forecast: np.ndarray, scale: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.abs(actual - forecast), axis=-1) / scale


# Share of a row's backtest errors (the largest) left out of the published accuracy.
TRIM_SHARE = 0.2


def trimmed_scaled_error(actual: np.ndarray, forecast: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The published accuracy: the mean of |actual - forecast| / ``scale`` over every backtest
    point (all leading axes but the row, and the horizon) after leaving out the largest
    :data:`TRIM_SHARE` of them. Rows are the second-to-last axis.

    One spike in the backtest blocks (and a seasonal model repeating it a season later) is a
    few points: trimmed, it cannot make an accurate model look bad until it leaves the backtest
    window; a model that misses a large share of the points still scores high."""
    err = np.abs(np.asarray(actual, dtype=float) - np.asarray(forecast, dtype=float))
    err = np.moveaxis(err / np.expand_dims(scale, -1), -2, 0)
    err = err.reshape(err.shape[0], -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        cut = np.nanquantile(err, 1 - TRIM_SHARE, axis=1, keepdims=True)
        return np.nanmean(np.where(err <= cut, err, np.nan), axis=1)


def smape(actual: np.ndarray, forecast: np.ndarray) -> np.ndarray:
    """Symmetric MAPE in percent (0..200); steps where both are zero count as perfect."""
    den = np.abs(actual) + np.abs(forecast)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ratio = np.where(den > 0, 2 * np.abs(actual - forecast) / np.where(den > 0, den, 1), 0.0)
        ratio = np.where(np.isnan(actual), np.nan, ratio)
        return 100 * np.nanmean(ratio, axis=-1)


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Share of observed points inside [lower, upper], per row (NaN actuals ignored)."""
    inside = (actual >= lower) & (actual <= upper)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.where(np.isnan(actual), np.nan, inside), axis=-1)
