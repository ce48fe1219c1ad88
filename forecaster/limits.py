"""What every published forecast satisfies, whichever model made it.

- **Physical limits**: a gauge that cannot go below zero (CPU, bytes, requests, spend) is never
  forecast below zero, and one with a ceiling (a disk's size) never above it. A limit applies to
  a series only when its own history respects it: a series that went below the configured
  minimum is not the kind of gauge the minimum is about (a temperature, a delta), and clipping
  it would hide what it does.
- **Ordered intervals**: the point forecast lies inside every interval, and a wider level's
  interval contains a narrower one's (models that fit bands and means separately, or clipping,
  could break either).
- **No zero-width interval on a series that varies**: an empirical band over errors that are
  mostly exactly zero (an idle VM that spikes now and then) has width zero, which claims a
  certainty the history does not support. Such a band is widened to the series' step-to-step
  noise (a normal band whose sigma is estimated from the mean absolute one-step change).

The engine applies :func:`enforce` to every model's output, the seasonal-naive fallback and the
backtest folds alike, so the accuracy published is that of what is published.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
import numpy as np

from promcast_forecaster.models.intervals import normal_quantile
from promcast_forecaster.models.base import Forecast, interval_keys

# For white noise of sigma s the mean absolute one-step change is 2 s / sqrt(pi).
_SIGMA_PER_MEAN_ABS_CHANGE = math.sqrt(math.pi) / 2
# An interval narrower than this share of its noise floor carries no information: it is replaced
# by the floor. Wider ones are the model's own estimate and are kept.
DEGENERATE_SHARE = 0.01


@dataclass(frozen=True)
class Limits:
    """Per series (row): the lowest and highest value a forecast may take (-inf/+inf: none),
    and the noise scale of its history (0 for a constant series)."""

    lower: np.ndarray
    upper: np.ndarray
    noise: np.ndarray


def limits_for(
    history: np.ndarray, minimum: float | None = None, maximum: float | np.ndarray | None = None
) -> Limits:
    """The limits of each row of ``history`` (series x time, NaN for gaps): ``minimum`` and
    ``maximum`` (a number, or one value per row, NaN for none) where the row's own history
    stays within them."""
    arr = np.where(np.isfinite(history), history, np.nan)
    n = arr.shape[0]
    with warnings.catch_warnings():  # all-NaN rows are expected; they get no limits
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanmin(arr, axis=1), np.nanmax(arr, axis=1)
        noise = _SIGMA_PER_MEAN_ABS_CHANGE * np.nanmean(np.abs(np.diff(arr, axis=1)), axis=1)
        # No two neighbouring samples (a series seen every other step): its spread instead.
        noise = np.where(np.isfinite(noise) & (noise > 0), noise, np.nanstd(arr, axis=1))
    lo = np.full(n, -np.inf)
    if minimum is not None:
        lo = np.where(np.isfinite(low) & (low >= minimum), float(minimum), -np.inf)
    hi = np.full(n, np.inf)
    if maximum is not None:
        cap = np.broadcast_to(np.asarray(maximum, dtype=float), (n,))
        hi = np.where(np.isfinite(cap) & np.isfinite(high) & (high <= cap), cap, np.inf)
    return Limits(lo, hi, np.nan_to_num(noise))


def enforce(fc: Forecast, limits: Limits) -> Forecast:
    """``fc`` (rows x steps, with the levels its ``lower-L`` keys name) with the limits, ordered
    intervals and noise floor applied; keys and shapes are kept, NaN stays NaN (no data)."""
    levels = [int(k.split("-", 1)[1]) for k in fc if k.startswith("lower-")]
    lo_b, hi_b = limits.lower[:, None], limits.upper[:, None]
    mean = np.clip(np.atleast_2d(np.asarray(fc["mean"], dtype=float)), lo_b, hi_b)
    out: Forecast = {**fc, "mean": mean}
    prev_lo, prev_hi = mean, mean
    for lv in sorted(levels):
        lo_key, hi_key = interval_keys(lv)
        lo = np.clip(
            np.minimum(np.atleast_2d(np.asarray(fc[lo_key], dtype=float)), prev_lo), lo_b, hi_b
        )
        hi = np.clip(
            np.maximum(np.atleast_2d(np.asarray(fc[hi_key], dtype=float)), prev_hi), lo_b, hi_b
        )
        # Judged after clipping: a band entirely below zero is clipped to nothing at zero.
        half = normal_quantile(lv) * limits.noise[:, None]
        degenerate = (hi - lo) < 2 * DEGENERATE_SHARE * half
        lo = np.clip(np.where(degenerate, np.minimum(lo, mean - half), lo), lo_b, hi_b)
        hi = np.clip(np.where(degenerate, np.maximum(hi, mean + half), hi), lo_b, hi_b)
        out[lo_key], out[hi_key] = lo, hi
        prev_lo, prev_hi = lo, hi
    return out
