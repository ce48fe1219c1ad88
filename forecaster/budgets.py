"""Budget projection: spend so far plus the forecast spend until the period's end, with bounds
and the probability of exceeding the budget."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import numpy as np

from promcast_forecaster.engine import TargetResult, select_series
from promcast_forecaster.source import RawSeries
from promcast_forecaster.targets import ResolvedTarget

_Z = {80: 1.2815515655446004, 90: 1.6448536269514722, 95: 1.959963984540054, 99: 2.5758293035489}


def period_bounds(now: float, period: str) -> tuple[float, float]:
    """Start and end (UTC) of the calendar month or quarter containing ``now``."""
    t = dt.datetime.fromtimestamp(now, dt.timezone.utc)
    months = 1 if period == "month" else 3
    first_month = t.month if months == 1 else 3 * ((t.month - 1) // 3) + 1
    start = dt.datetime(t.year, first_month, 1, tzinfo=dt.timezone.utc)
    nxt = first_month + months
    end = dt.datetime(t.year + (nxt - 1) // 12, (nxt - 1) % 12 + 1, 1, tzinfo=dt.timezone.utc)
    return start.timestamp(), end.timestamp()


def _normal_sf(x: float) -> float:
    return 0.5 * math.erfc(x / math.sqrt(2))


def _z(level: int) -> float:
    if level in _Z:
        return _Z[level]
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + level / 200)


@dataclass
class Projection:
    labels: dict[str, str]
    spent: float
    projected: float
    bounds: dict[int, tuple[float, float]] = field(default_factory=dict)
    overrun_probability: float = math.nan


def project(
    result: TargetResult, spent: np.ndarray, amount: float, now: float, period_end: float
) -> list[Projection]:
    """One projection per forecast series: ``spent[i]`` plus the forecast rate (per hour)
    summed over the steps up to ``period_end``.

    The interval bounds are summed step by step, i.e. forecast errors are taken as fully
    correlated over the period: spend drifts together, so independent errors would give bands
    far too narrow. The overrun probability treats the total as normal with the width of the
    widest interval.
    """
    t = result.target
    hours_per_step = t.step / 3600.0
    # Column k of a curve is the value at curve_start + k*step; count the steps still ahead.
    n = int(max(0, math.ceil((period_end - result.curve_start) / t.step)))
    out = []
    for i, s in enumerate(result.series):
        ahead = min(n, result.curves["mean"].shape[1] - 1)

        def total(key: str, i: int = i, ahead: int = ahead) -> float:
            return float(np.nansum(np.maximum(result.curves[key][i, 1 : ahead + 1], 0)))

        mean = spent[i] + total("mean") * hours_per_step
        p = Projection(s.labels, float(spent[i]), float(mean))
        for lv in t.levels:
            p.bounds[lv] = (
                spent[i] + total(f"lower-{lv}") * hours_per_step,
                spent[i] + total(f"upper-{lv}") * hours_per_step,
            )
        widest = max(t.levels)
        lo, hi = p.bounds[widest]
        sd = (hi - lo) / (2 * _z(widest))
        if sd > 0:
            p.overrun_probability = _normal_sf((amount - mean) / sd)
        else:
            p.overrun_probability = 1.0 if mean > amount else 0.0
        out.append(p)
    return out


def spent_per_series(
    raw: list[RawSeries], per_hour: bool, target: ResolvedTarget, result: TargetResult
) -> np.ndarray:
    """Spend so far this period for each of ``result``'s series, from what the reader read:
    the ``spent`` query's newest value, or (``per_hour``) the spend rate integrated over the
    period's steps so far."""
    sel = select_series(raw, target)
    totals = {
        tuple(sorted(s.labels.items())): float(
            np.nansum(s.values) * target.step / 3600 if per_hour else s.values[-1]
        )
        for s in sel.series
        if len(s.values)
    }
    return np.array([totals.get(tuple(sorted(s.labels.items())), 0.0) for s in result.series])
