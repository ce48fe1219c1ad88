"""Intervals from residuals, shared by the models and the engine's limits: normal quantiles,
symmetric normal bands, and how error spread widens with the step ahead."""

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


# How many effective errors of its own a series needs before its own quantile counts as much as
# the fleet's (a prior's weight, in errors).
FLEET_PRIOR_ERRORS = 24


def shrink_to_fleet(own: np.ndarray, fleet: float, effective: float) -> np.ndarray:
    """A band quantile per series (``own``, from ``effective`` independent-ish errors each) pulled
    towards the ``fleet``'s quantile of the same normalised errors, in proportion to how few
    errors the series has: a 95% quantile from three folds is mostly the one worst block, and
    over-covers as often as it under-covers; the fleet's is steady. A series alone is its fleet."""
    if not np.isfinite(fleet):
        return own
    w = effective / (effective + FLEET_PRIOR_ERRORS)
    return np.where(np.isfinite(own), w * own + (1 - w) * fleet, fleet)
