"""Helpers shared by the models: cleaning input rows and turning residuals into intervals."""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from .base import Forecast, interval_keys

# Standard-normal quantiles without pulling scipy into the import path of every model.
_Z = {50: 0.6745, 80: 1.2816, 90: 1.6449, 95: 1.9600, 98: 2.3263, 99: 2.5758}


def normal_quantile(level: int) -> float:
    """Upper quantile z of a central ``level`` % normal interval."""
    if level in _Z:
        return _Z[level]
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + level / 200)


def clean(arr: np.ndarray) -> np.ndarray:
    """Infinite values become gaps: one +Inf sample must not poison a whole fit."""
    return np.where(np.isfinite(arr), arr, np.nan)


# Whole-fleet matrices are big (10,000 series of 8,064 points are 645 MB of float64): helpers
# that would need full-size temporaries work on blocks of rows of about this many values (8 MB).
BLOCK_VALUES = 1 << 20


def row_blocks(n: int, width: int, block_values: int | None = None) -> list[tuple[int, int]]:
    """``(start, stop)`` row ranges covering ``n`` rows of ``width`` values in blocks of about
    ``block_values`` (default :data:`BLOCK_VALUES`)."""
    step = max(1, (block_values or BLOCK_VALUES) // max(int(width), 1))
    return [(a, min(n, a + step)) for a in range(0, n, step)]


def clean_shared(arr: np.ndarray) -> np.ndarray:
    """``clean(arr)`` without the copy when there is nothing to clean.

    The result may be ``arr`` itself: only for callers that never write into it. Rows are computed
    independently either way, so the values are exactly those of :func:`clean`.
    """
    n, width = arr.shape
    if all(not np.isinf(arr[a:b]).any() for a, b in row_blocks(n, width)):
        return arr
    return clean(arr)


def fill_gaps(row: np.ndarray) -> np.ndarray:
    """A row without leading NaNs and with inner gaps linearly interpolated.

    Per-series libraries cannot take NaN; interpolation is the least surprising fill for metrics
    scraped at a fixed interval, and leading gaps are simply history we never had.
    """
    row = clean(np.asarray(row, dtype=float))
    ok = np.flatnonzero(~np.isnan(row))
    if ok.size == 0:
        return row[:0]
    row = row[ok[0]:]
    ok = ok - ok[0]
    if ok.size == row.size:
        return row
    return np.interp(np.arange(row.size), ok, row[ok])


def nanstd_rows(resid: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        sd = np.nanstd(resid, axis=-1)
    return np.nan_to_num(sd)


def normal_intervals(mean: np.ndarray, sigma: np.ndarray, levels: Sequence[int]) -> Forecast:
    """Symmetric normal intervals; ``sigma`` broadcasts against ``mean`` (per step or per row)."""
    out: Forecast = {"mean": mean}
    for lv in levels:
        z = normal_quantile(lv)
        lo, hi = interval_keys(lv)
        out[lo] = mean - z * sigma
        out[hi] = mean + z * sigma
    return out


def horizon_widening(h: int, season_length: int) -> np.ndarray:
    """How one-step error spread grows with the step ahead, for models without an analytic form.

    Random-walk growth (sqrt of steps) until a full season ahead: past that the seasonal pattern,
    not the last value, anchors the forecast, so the spread stops growing as fast.
    """
    k = np.arange(1, h + 1, dtype=float)
    return np.sqrt(np.minimum(k, max(season_length, 1)))
