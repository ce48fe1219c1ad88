"""Predictive autoscaling: replicas for the forecast demand, as KEDA or the HPA consume them.

    replicas = ceil(peak upper bound over [now, now + lead time + window]
                    / per_replica_capacity * (1 + headroom)), clamped to [min, max],
    then the highest such value over the scale-down stabilisation window.

The peak starts *now* rather than at ``now + lead time``: a scale-up only lands after the lead
time, but a scale-down takes effect at once, so the replicas must still cover what is expected
before new ones could start. The newest observation is part of the curve, which makes the
recommendation at least as large as a reactive one sized on the current load.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Hashable

import numpy as np

# Demand exactly at a multiple of the capacity needs exactly that many replicas, not one more
# because of a rounding error in the division.
_EPS = 1e-9


def required_replicas(
    demand: np.ndarray | float, per_replica_capacity: float, headroom: float = 0.0
) -> np.ndarray:
    """Replicas that serve ``demand`` with ``headroom`` spare (NaN where the demand is not
    finite); not clamped."""
    if per_replica_capacity <= 0:
        raise ValueError(f"per_replica_capacity must be positive, got {per_replica_capacity}")
    need = np.asarray(demand, dtype=float) * (1.0 + headroom) / per_replica_capacity
    with np.errstate(invalid="ignore"):
        out = np.ceil(need - _EPS)
    return np.where(np.isfinite(need), np.maximum(out, 0.0), np.nan)


def clamp_replicas(
    replicas: np.ndarray | float, min_replicas: int, max_replicas: int
) -> np.ndarray:
    """``replicas`` within [min, max]; NaN stays NaN (no recommendation rather than a guess)."""
    return np.clip(np.asarray(replicas, dtype=float), min_replicas, max_replicas)


def peak_demand(
    upper: np.ndarray, curve_start: float, step: float, now: float, reach: float
) -> np.ndarray:
    """Per row, the highest value of ``upper`` (column k at ``curve_start + k * step``, column 0
    the newest observation) from the newest observation up to ``now + reach``."""
    upper = np.atleast_2d(np.asarray(upper, dtype=float))
    last = int(math.ceil((now + reach - curve_start) / step - _EPS))
    last = min(max(last, 0), upper.shape[1] - 1)
    window = upper[:, : last + 1]
    finite = np.isfinite(window).any(axis=1)
    out = np.full(upper.shape[0], np.nan)
    out[finite] = np.nanmax(window[finite], axis=1)
    return out


class Stabilizer:
    """Scale-down stabilisation as the HPA does it: the published value is the highest
    recommendation of the last ``window`` seconds, so replicas go up at once and down only
    after the demand has stayed lower for the whole window."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._seen: dict[Hashable, deque[tuple[float, float]]] = {}

    def update(self, now: float, recommendations: dict[Hashable, float]) -> dict[Hashable, float]:
        """Record this cycle's recommendations (NaN: none this cycle) and return the stabilised
        ones; keys absent this cycle are forgotten, as their series have gone."""
        out = {}
        for key in list(self._seen):
            if key not in recommendations:
                del self._seen[key]
        for key, value in recommendations.items():
            seen = self._seen.setdefault(key, deque())
            if not math.isnan(value):
                seen.append((now, value))
            while seen and seen[0][0] < now - self.window:
                seen.popleft()
            if seen:
                out[key] = max(v for _, v in seen)
        return out
