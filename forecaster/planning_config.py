"""The ``scenarios:`` and ``autoscaling:`` blocks of a forecaster target, and their checks
against the rest of the target (levels, horizons), which need the resolved target.

They sit beside :mod:`promcast_forecaster.targets`, on the config's level, rather than in the planning
package: a resolved target carries them, and the planning package runs on the engine's results,
so it sits above the engine and the resolved target, never below.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Optional, Protocol

from pydantic import BeforeValidator, Field, field_validator, model_validator

from promcast_common.config import Duration, Strict
from promcast_common.durations import format_duration

_SCENARIO_NAME = re.compile(r"^[a-zA-Z0-9_.:-]+$")


def _timestamp(value: Any) -> float:
    """Unix seconds from a YAML date (``2026-12-01``), datetime or ISO string; naive is UTC."""
    if isinstance(value, bool):
        raise ValueError(f"not a date: {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"not a date: {value!r} (use e.g. 2026-12-01 or 2026-12-01T09:00:00Z)"
            ) from None
    if not isinstance(value, dt.datetime):
        raise ValueError(f"not a date: {value!r}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.timestamp()


Timestamp = Annotated[float, BeforeValidator(_timestamp)]


class StepChange(Strict):
    """A one-off change from a date on (a launch, a migration): add to or multiply the forecast."""

    at: Timestamp = Field(description="From this date (UTC) on.")
    add: Optional[float] = Field(None, description="Added, in the series' unit.")
    multiply: Optional[float] = Field(None, gt=0, description="Factor (1.1 = 10% more).")

    @model_validator(mode="after")
    def _one(self) -> "StepChange":
        if (self.add is None) == (self.multiply is None):
            raise ValueError("a step needs exactly one of add, multiply")
        return self


class Scenario(Strict):
    """A what-if applied to the baseline forecast, in this order: ``multiply``, ``add``,
    ``trend_per_month`` (compounded from now), then ``step`` from its date on."""

    name: str = Field(description="Published as the `scenario` label.")
    multiply: Optional[float] = Field(None, gt=0, description="Factor on the whole forecast.")
    add: Optional[float] = Field(
        None, description="Added to the whole forecast, in the series' unit."
    )
    trend_per_month: Optional[float] = Field(
        None, gt=-1, description="Growth per month (0.05 = 5%), compounded from now."
    )
    step: Optional[StepChange] = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _SCENARIO_NAME.match(v):
            raise ValueError(
                f"must match {_SCENARIO_NAME.pattern} (it becomes a label value), got {v!r}"
            )
        return v

    @model_validator(mode="after")
    def _something(self) -> "Scenario":
        if all(getattr(self, k) is None for k in ("multiply", "add", "trend_per_month", "step")):
            raise ValueError(
                f"scenario {self.name!r} changes nothing: set at least one of "
                "multiply, add, trend_per_month, step"
            )
        return self


class Autoscaling(Strict):
    """Recommended replicas from the forecast: enough for the upper bound of the forecast demand
    until new replicas are serving and the next recommendation is out."""

    per_replica_capacity: float = Field(
        gt=0,
        description="Demand one replica serves at its target load, in the series' unit "
        "(e.g. requests per second per pod).",
    )
    headroom: float = Field(0.0, ge=0, description="Spare share on top (0.2 = 20%).")
    min_replicas: int = Field(1, ge=0)
    max_replicas: int = Field(
        ge=1,
        description="Required: a runaway forecast must not ask for "
        "more than the workload may ever have.",
    )
    scale_up_lead_time: Duration = Field(
        300.0,
        ge=0,
        description="From the metric to a serving replica: scrape and query lag, "
        "scheduling, image pull, start-up and readiness.",
    )
    window: Optional[Duration] = Field(
        None,
        ge=0,
        description="How long after the lead time the replicas must still cover the "
        "demand (default: the target's infer_every, until the next recommendation).",
    )
    level: Optional[int] = Field(
        None,
        description="Interval whose upper bound is sized for "
        "(default: the target's highest level).",
    )
    scale_down_stabilization: Duration = Field(
        300.0,
        ge=0,
        description="Publish the highest recommendation of this window, so a dip "
        "does not remove replicas that are needed again minutes later (as the HPA's "
        "behavior.scaleDown.stabilizationWindowSeconds).",
    )

    @model_validator(mode="after")
    def _range(self) -> "Autoscaling":
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas ({self.min_replicas}) is above max_replicas ({self.max_replicas})"
            )
        return self


class _Planned(Protocol):
    """The fields of a resolved target the checks read (avoids importing promcast_forecaster.config)."""

    levels: list[int]
    anomaly_level: int
    horizons: list[float]
    infer_every: float
    scenarios: list[Scenario]
    autoscaling: Optional[Autoscaling]


def autoscaling_level(target: _Planned) -> int:
    a = target.autoscaling
    return a.level if a is not None and a.level is not None else max(target.levels)


def autoscaling_reach(target: _Planned) -> float:
    """Seconds ahead the recommendation must cover: lead time plus window."""
    a = target.autoscaling
    if a is None:
        return 0.0
    return a.scale_up_lead_time + (target.infer_every if a.window is None else a.window)


def check_planning(where: str, target: _Planned) -> list[str]:
    """Problems between the planning blocks and the rest of a resolved target, each prefixed
    with ``where`` (e.g. ``targets[2] (api)``)."""
    problems = []
    names = [s.name for s in target.scenarios]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        problems.append(f"{where}.scenarios: names must be unique, {', '.join(dupes)} used twice")
    a = target.autoscaling
    if a is not None:
        level = autoscaling_level(target)
        if level not in set(target.levels) | {target.anomaly_level}:
            problems.append(
                f"{where}.autoscaling.level: {level} is not forecast; add it to the "
                f"target's levels {target.levels}"
            )
        reach = autoscaling_reach(target)
        if reach > max(target.horizons):
            problems.append(
                f"{where}.autoscaling: scale_up_lead_time + window is {format_duration(reach)}, beyond "
                f"the target's largest horizon {format_duration(max(target.horizons))}; add a "
                "horizon at least that long or shorten the window"
            )
    return problems
