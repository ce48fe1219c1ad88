"""The forecast curves as Prometheus-style series: what the future-curve datasource serves.

Each forecast series becomes ``promcast_forecast_mean`` and, per level, ``promcast_forecast_lower``
/ ``promcast_forecast_upper`` (with ``level``) whose samples lie in the future, at the times they
forecast; no ``horizon`` label, since the time axis is the horizon.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Mapping

import numpy as np

from promcast_forecaster.engine import TargetResult

MAX_POINTS = 11000  # per series, as Prometheus limits query_range


@dataclass(frozen=True)
class Curve:
    labels: dict[str, str]
    start: float
    step: float
    values: np.ndarray

    def points_within(self, start: float, end: float, step: float) -> int:
        """How many of the times ``start, start + step, ... <= end`` the curve covers (an upper
        bound on what :meth:`at` gives for them), counted without building them."""
        lo = max(start, self.start)
        hi = min(end + step * 1e-9, self.start + len(self.values) * self.step)
        if hi <= lo:
            return 0
        return max(0, math.ceil((hi - start) / step) - math.ceil((lo - start) / step))

    def at(self, times: np.ndarray) -> np.ndarray:
        """Value of the curve at each time: the newest point at or before it, NaN outside."""
        k = np.floor((times - self.start) / self.step + 1e-9).astype(np.int64)
        ok = (k >= 0) & (k < len(self.values))
        out = np.full(times.shape, np.nan)
        out[ok] = self.values[k[ok]]
        return out

    def between(self, first: float, last: float) -> tuple[np.ndarray, np.ndarray]:
        """The curve's own points (times, values) from ``first`` to ``last`` inclusive, as a
        range selector reads raw samples in Prometheus 2."""
        times = self.start + self.step * np.arange(len(self.values))
        ok = (times >= first - 1e-6) & (times <= last + 1e-6) & np.isfinite(self.values)
        return times[ok], self.values[ok]


def curves(results: Iterable[TargetResult]) -> Iterator[Curve]:
    for res in results:
        if not res.curves:
            continue
        for key, matrix in res.curves.items():
            if key == "mean":
                name, extra = "promcast_forecast_mean", {}
            else:
                side, level = key.split("-")
                name, extra = f"promcast_forecast_{side}", {"level": level}
            for row, s in enumerate(res.series):
                yield Curve(
                    {"__name__": name, **s.labels, **extra},
                    res.curve_start,
                    res.target.step,
                    matrix[row],
                )


def select(
    results: Iterable[TargetResult], match: Callable[[Mapping[str, str]], bool]
) -> list[Curve]:
    return [c for c in curves(results) if match(c.labels)]


def format_value(v: float) -> str:
    """Sample values as Prometheus writes them in JSON."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return f"{v:.7g}"  # curves are kept as float32: more digits would be noise


class RawJSON(str):
    """Text that is already JSON, to be written into an answer as it is."""


class TooManySamples(ValueError):
    def __init__(self, samples: int, limit: int) -> None:
        self.samples, self.limit = samples, limit
        super().__init__(f"the answer would hold {samples} samples, over the limit of {limit}")


def matrix(
    selected: list[Curve], start: float, end: float, step: float, max_samples: int | None = None
) -> list[dict]:
    """The curves' samples at ``start, start + step, ... <= end``; the size of the answer is
    checked before anything is built, so a huge range or step count costs nothing."""
    if not all(math.isfinite(v) for v in (start, end, step)):
        raise ValueError("start, end and step must be finite")
    if (end - start) / step + 1 > MAX_POINTS:
        raise ValueError(
            f"exceeded maximum resolution of {MAX_POINTS} points per timeseries; "
            "try decreasing the query resolution (?step=XX)"
        )
    if max_samples is not None:
        samples = sum(c.points_within(start, end, step) for c in selected)
        if samples > max_samples:
            raise TooManySamples(samples, max_samples)
    times = np.arange(start, end + step * 1e-9, step)
    out = []
    for c in selected:
        vals = c.at(times)
        ok = np.isfinite(vals)
        if ok.any():
            # Written as JSON text at once: a list per sample would make millions of objects
            # that the garbage collector then walks while holding the GIL (stalling the loop).
            out.append(
                {
                    "metric": c.labels,
                    "values": RawJSON(
                        "["
                        + ",".join(
                            f'[{t!r},"{format_value(v)}"]'
                            for t, v in zip(times[ok].tolist(), vals[ok].tolist())
                        )
                        + "]"
                    ),
                }
            )
    return out


def range_matrix(selected: list[Curve], at: float, seconds: float) -> list[dict]:
    """What an instant query of a range selector (``name[1d]`` at ``at``) returns: each curve's
    points in ``[at - seconds, at]``, as prometheus-api-client's ``get_metric_range_data`` reads
    a period one chunk at a time. The work is bounded by the curves' own length, whatever the
    range asked for."""
    out = []
    for c in selected:
        times, vals = c.between(at - seconds, at)
        if len(times):
            out.append(
                {
                    "metric": c.labels,
                    "values": [[float(t), format_value(float(v))] for t, v in zip(times, vals)],
                }
            )
    return out


def vector(selected: list[Curve], at: float, max_samples: int | None = None) -> list[dict]:
    if max_samples is not None and len(selected) > max_samples:
        raise TooManySamples(len(selected), max_samples)
    out = []
    for c in selected:
        v = float(c.at(np.array([at]))[0])
        if not math.isnan(v):
            out.append({"metric": c.labels, "value": [at, format_value(v)]})
    return out
