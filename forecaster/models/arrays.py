"""Array helpers shared by the models (and the benchmarks' baselines): infinite values as gaps,
gap filling for libraries that cannot take NaN, and row blocks that bound temporaries on whole-fleet
matrices."""

from __future__ import annotations

import numpy as np


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
    row = row[ok[0] :]
    ok = ok - ok[0]
    if ok.size == row.size:
        return row
    return np.interp(np.arange(row.size), ok, row[ok])
