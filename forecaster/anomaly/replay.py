"""Walk-forward replay of the anomaly detector over whole series: what the service would have
published for every sample, and where the alerting rule would have fired.

The detector (:mod:`promcast_forecaster.anomaly.detector`) is causal, so running it once over a whole
series gives every point the score the service computes when that point is the newest: the same
function, the same settings, no look-ahead. The service sees only its target's ``history``;
the replay calibrates on the same ``history`` of blocks before each point, so the two agree on
every point when the target's history covers the replayed span and differ only through masks
(a point flagged before the service's window began) over longer spans.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from promcast_forecaster.anomaly.detector import DetectorSettings, alert_points, detect, episodes

DEFAULT_WARMUP = 0.0


@dataclass
class Scored:
    """One series' replay; arrays cover every grid point, NaN where not scored."""

    series_id: str
    timestamps: np.ndarray
    values: np.ndarray
    expected: np.ndarray
    threshold: np.ndarray
    score: np.ndarray
    alert: np.ndarray
    first_scored: int
    error: str = ""

    @property
    def scored(self) -> np.ndarray:
        """Indices of points with a score (after warm-up and the detector's cold start)."""
        idx = np.arange(self.first_scored, self.values.size)
        return idx[np.isfinite(self.score[idx])]

    @property
    def pages(self) -> list[tuple[int, int]]:
        """(first, last) index of every alert episode: each is one page."""
        return episodes(self.alert)


@dataclass
class ReplaySettings:
    """The detector's settings, and the leading share of each series left out of the count
    (``warmup``: a benchmark convention; the detector's own cold start applies regardless)."""

    detector: DetectorSettings
    warmup: float = DEFAULT_WARMUP


def replay(
    series: Sequence[tuple[str, np.ndarray, np.ndarray]],
    settings: ReplaySettings,
    progress: Callable[[int], None] | None = None,
) -> list[Scored]:
    """Score each ``(series_id, timestamps, values)`` (a regular grid at the detector's step, NaN
    for gaps) as one target; a series that cannot be scored comes back with ``error`` set."""
    det = settings.detector
    out = []
    for sid, ts, vals in series:
        ts, vals = np.asarray(ts, dtype=float), np.asarray(vals, dtype=float)
        n = vals.size
        first = min(n, math.ceil(settings.warmup * n))
        nan = np.full(n, np.nan)
        rec = Scored(sid, ts, vals, nan.copy(), nan.copy(), nan.copy(), np.zeros(n, np.int8), first)
        out.append(rec)
        needed = det.history_needed()
        span = float(ts[-1] - ts[0]) + det.step if n else 0.0
        if span <= needed:
            rec.error = (
                f"too short: {span / 3600:.4g}h of data, the detector needs more than "
                f"{needed / 3600:.4g}h at a {det.step:g}s step before its first score"
            )
        else:
            d = detect(vals[None], ts, det, series_in_target=len(series))
            rec.expected, rec.threshold, rec.score = d.expected[0], d.threshold[0], d.score[0]
            rec.score[:first] = np.nan
            rec.alert = alert_points(rec.score, det.for_points)
        if progress is not None:
            progress(1)
    return out
