"""One target's planning outputs per cycle: order-by dates, scenarios and replicas as a
:class:`Plan` (the publisher turns it into series)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from promcast_forecaster.targets import ResolvedTarget
from promcast_forecaster.engine import TargetResult, exhaustion_seconds
from promcast_forecaster.planning.autoscaling import (
    Stabilizer,
    clamp_replicas,
    peak_demand,
    required_replicas,
)
from promcast_forecaster.planning_config import autoscaling_level, autoscaling_reach
from promcast_forecaster.planning.leadtime import lead_time_margin, order_by_timestamp
from promcast_forecaster.planning.scenarios import apply_scenario


@dataclass
class ScenarioForecast:
    name: str
    mean: dict[float, float]  # horizon (s) -> point forecast
    bounds: dict[tuple[float, int], tuple[float, float]]  # (horizon, level) -> (lower, upper)
    exhaustion_seconds: float
    order_by: float


@dataclass
class SeriesPlan:
    labels: dict[str, str]
    order_by: float = math.nan  # NaN: the series has no capacity
    margin: float = math.nan
    scenarios: list[ScenarioForecast] = field(default_factory=list)
    required_replicas: float = math.nan
    recommended_replicas: float = math.nan


@dataclass
class Plan:
    target: ResolvedTarget
    made_at: float
    series: list[SeriesPlan] = field(default_factory=list)


class TargetPlanner:
    """Planning for one target; keeps the autoscaling stabilisation state between cycles."""

    def __init__(self, target: ResolvedTarget) -> None:
        self.target = target
        a = target.autoscaling
        self.stabilizer = Stabilizer(a.scale_down_stabilization) if a is not None else None

    def plan(self, result: TargetResult) -> Plan:
        t = self.target
        plan = Plan(t, result.made_at, [SeriesPlan(s.labels) for s in result.series])
        if not result.series or not result.curves:
            return plan
        lag = result.made_at - result.curve_start
        for sp, s in zip(plan.series, result.series):
            if not math.isnan(s.capacity):
                sp.order_by = order_by_timestamp(result.made_at, s.exhaustion_seconds, t.lead_time)
                sp.margin = lead_time_margin(s.exhaustion_seconds, t.lead_time)
        for scenario in t.scenarios:
            curves = apply_scenario(
                result.curves, result.curve_start, t.step, result.made_at, scenario
            )
            for i, (sp, s) in enumerate(zip(plan.series, result.series)):
                cap = None if math.isnan(s.capacity) else s.capacity
                ex = float(
                    exhaustion_seconds(
                        curves["mean"][i, 1:], s.observed, cap, t.capacity_direction, t.step, lag
                    )
                )
                steps = list(zip(t.horizons, t.horizon_steps))
                sp.scenarios.append(
                    ScenarioForecast(
                        scenario.name,
                        {hz: float(curves["mean"][i, k]) for hz, k in steps},
                        {
                            (hz, lv): (
                                float(curves[f"lower-{lv}"][i, k]),
                                float(curves[f"upper-{lv}"][i, k]),
                            )
                            for hz, k in steps
                            for lv in t.levels
                        },
                        ex,
                        order_by_timestamp(result.made_at, ex, t.lead_time)
                        if cap is not None
                        else math.nan,
                    )
                )
        if t.autoscaling is not None and self.stabilizer is not None:
            self._autoscale(plan, result)
        return plan

    def _autoscale(self, plan: Plan, result: TargetResult) -> None:
        t, a = self.target, self.target.autoscaling
        assert a is not None and self.stabilizer is not None
        demand = peak_demand(
            result.curves[f"upper-{autoscaling_level(t)}"],
            result.curve_start,
            t.step,
            result.made_at,
            autoscaling_reach(t),
        )
        need = required_replicas(demand, a.per_replica_capacity, a.headroom)
        clamped = clamp_replicas(need, a.min_replicas, a.max_replicas)
        keys = [tuple(sorted(sp.labels.items())) for sp in plan.series]
        stable = self.stabilizer.update(result.made_at, dict(zip(keys, map(float, clamped))))
        for sp, key, n in zip(plan.series, keys, need):
            sp.required_replicas = float(n)
            sp.recommended_replicas = stable.get(key, math.nan)
