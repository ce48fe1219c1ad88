"""Idle and over-provisioned resources: utilisation below thresholds for N days, and what they
cost a month. A fact about the past (no forecast): a resource must have N days of data."""

from __future__ import annotations

import math
from dataclasses import dataclass

from promcast_forecaster.recommend_config import Idle


@dataclass
class Usage:
    """A resource's utilisation over the last ``days`` (computed by Prometheus over raw samples)."""

    labels: dict[str, str]
    cpu_quantile: float  # the configured quantile (default 0.99) of CPU
    cpu_p95: float
    memory_p95: float  # NaN: no memory data
    age_seconds: float  # since its first sample within the history read
    data_share: float  # share of the window with samples
    price_per_hour: float


@dataclass
class IdleFinding:
    labels: dict[str, str]
    state: str  # idle | overprovisioned
    days: float
    monthly_cost: float
    cpu_quantile: float
    cpu_p95: float
    memory_p95: float
    confidence: float

    @property
    def action(self) -> str:
        # Idle: stop or delete it (the whole cost goes). Over-provisioned: the rightsizing
        # recommendation says what to move to; on its own it is a review.
        return "stop" if self.state == "idle" else "review"

    def detail(self, quantile: float) -> str:
        q = "peak" if quantile >= 1 else f"p{quantile * 100:g}"
        mem = "" if math.isnan(self.memory_p95) else f", memory p95 {self.memory_p95:.0%}"
        return (
            f"{self.state} for {self.days:g}d: CPU {q} {self.cpu_quantile:.1%}, "
            f"p95 {self.cpu_p95:.1%}{mem}"
        )


def classify(u: Usage, settings: Idle, hours_per_month: float) -> IdleFinding | None:
    """Idle when the CPU quantile stayed below ``cpu_max_ratio``; over-provisioned when CPU and
    memory p95 stayed below theirs (memory unknown: CPU alone); None otherwise, or when the
    resource is younger than ``days`` (it has not had the time to prove anything)."""
    if u.age_seconds < settings.days * 86400 or math.isnan(u.cpu_quantile):
        return None
    if u.cpu_quantile < settings.cpu_max_ratio:
        state = "idle"
    elif u.cpu_p95 < settings.overprovisioned_cpu_p95_ratio and (
        math.isnan(u.memory_p95) or u.memory_p95 < settings.overprovisioned_memory_p95_ratio
    ):
        state = "overprovisioned"
    else:
        return None
    cost = u.price_per_hour * hours_per_month if not math.isnan(u.price_per_hour) else math.nan
    return IdleFinding(
        u.labels,
        state,
        settings.days,
        cost,
        u.cpu_quantile,
        u.cpu_p95,
        u.memory_p95,
        max(0.0, min(1.0, u.data_share)),
    )
