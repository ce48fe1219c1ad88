"""One target's planning outputs per cycle, and their series.

Scenario results go to their own series names (``promcast_scenario_*``) rather than to the
baseline's names with a ``scenario`` label: every existing selector, rule and dashboard query
on ``promcast_forecast_*`` would otherwise pick the scenarios up too (an exhaustion alert would
fire once per scenario), so the baseline series stay exactly as they were.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


from promcast_common.catalogue import Families
from promcast_forecaster.targets import ResolvedTarget
from promcast_forecaster.engine import TargetResult, exhaustion_seconds, publish_horizons
from promcast_forecaster.planning.autoscaling import (Stabilizer, clamp_replicas, peak_demand,
                                             required_replicas)
from promcast_forecaster.planning.config import autoscaling_level, autoscaling_reach
from promcast_forecaster.planning.leadtime import lead_time_margin, order_by_timestamp
from promcast_forecaster.planning.scenarios import apply_scenario


@dataclass
class ScenarioForecast:
    name: str
    mean: dict[float, float]                                # horizon (s) -> point forecast
    bounds: dict[tuple[float, int], tuple[float, float]]    # (horizon, level) -> (lower, upper)
    exhaustion_seconds: float
    order_by: float


@dataclass
class SeriesPlan:
    labels: dict[str, str]
    order_by: float = math.nan        # NaN: the series has no capacity
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
            curves = apply_scenario(result.curves, result.curve_start, t.step, result.made_at, scenario)
            for i, (sp, s) in enumerate(zip(plan.series, result.series)):
                cap = None if math.isnan(s.capacity) else s.capacity
                ex = float(exhaustion_seconds(curves["mean"][i, 1:], s.observed, cap, t.capacity_direction,
                                        t.step, lag))
                steps = list(zip(t.horizons, t.horizon_steps))
                sp.scenarios.append(ScenarioForecast(
                    scenario.name,
                    {hz: float(curves["mean"][i, k]) for hz, k in steps},
                    {(hz, lv): (float(curves[f"lower-{lv}"][i, k]), float(curves[f"upper-{lv}"][i, k]))
                     for hz, k in steps for lv in t.levels},
                    ex, order_by_timestamp(result.made_at, ex, t.lead_time) if cap is not None else math.nan))
        if t.autoscaling is not None and self.stabilizer is not None:
            self._autoscale(plan, result)
        return plan

    def _autoscale(self, plan: Plan, result: TargetResult) -> None:
        t, a = self.target, self.target.autoscaling
        assert a is not None and self.stabilizer is not None
        demand = peak_demand(result.curves[f"upper-{autoscaling_level(t)}"], result.curve_start,
                             t.step, result.made_at, autoscaling_reach(t))
        need = required_replicas(demand, a.per_replica_capacity, a.headroom)
        clamped = clamp_replicas(need, a.min_replicas, a.max_replicas)
        keys = [tuple(sorted(sp.labels.items())) for sp in plan.series]
        stable = self.stabilizer.update(result.made_at, dict(zip(keys, map(float, clamped))))
        for sp, key, n in zip(plan.series, keys, need):
            sp.required_replicas = float(n)
            sp.recommended_replicas = stable.get(key, math.nan)


def _labels(labels: dict[str, str], **extra: str) -> dict[str, str]:
    """Labels plus ``extra``; a source label of the same name is kept as ``exported_<name>``,
    as Prometheus does for clashing scrape labels."""
    out = dict(labels)
    for k in extra:
        if k in out:
            out[f"exported_{k}"] = out.pop(k)
    out.update(extra)
    return out


def publish_plan(out: Families, plan: Plan) -> None:
    """A target's planning results as series (stamped at scrape time, like the forecasts)."""
    t = plan.target
    for sp in plan.series:
        lab = sp.labels
        if not math.isnan(sp.order_by):
            out.add("promcast_capacity_order_by_timestamp_seconds", lab, sp.order_by)
            out.add("promcast_capacity_lead_time_margin_seconds", lab, sp.margin)
        for sc in sp.scenarios:
            sl = _labels(lab, scenario=sc.name)
            if not math.isnan(sc.exhaustion_seconds):  # NaN: the series has no capacity
                out.add("promcast_scenario_exhaustion_seconds", sl, sc.exhaustion_seconds)
            if not math.isnan(sc.order_by):
                out.add("promcast_scenario_capacity_order_by_timestamp_seconds", sl, sc.order_by)
            publish_horizons(out, "promcast_scenario_forecast", sl, t, sc.mean, sc.bounds)
        if not math.isnan(sp.required_replicas):
            out.add("promcast_autoscaling_required_replicas", lab, sp.required_replicas)
        if not math.isnan(sp.recommended_replicas):
            out.add("promcast_autoscaling_recommended_replicas", lab, sp.recommended_replicas)
