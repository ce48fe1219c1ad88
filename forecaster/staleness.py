"""When a series has stopped reporting.

A forecast needs a stable series set: a late or missed scrape (the newest step without a sample)
must not drop a series for a cycle, or its alerts' ``for:`` timers reset and the target refits.
A series whose newest sample is older than the staleness has stopped reporting: it is retired
(counted, never forecast, scored or recommended) instead of being extrapolated as if alive.

Kept free of other forecaster imports: both config modules use it.
"""

from __future__ import annotations

import numpy as np

STALENESS_STEPS = 3  # steps without a sample before a series is retired ...
MIN_STALENESS = 3600.0  # ... but never less than this: short steps have short gaps too


def default_staleness(step: float) -> float:
    """The staleness used when none is configured: three steps, at least an hour."""
    return max(STALENESS_STEPS * step, MIN_STALENESS)


def newest_timestamp(timestamps: np.ndarray) -> float:
    """The newest sample's timestamp (-inf for a series without samples)."""
    return float(timestamps.max()) if len(timestamps) else -np.inf


def is_stale(timestamps: np.ndarray, end: float, staleness: float) -> bool:
    """True when the series' newest sample is more than ``staleness`` seconds before ``end``."""
    return end - newest_timestamp(timestamps) > staleness
