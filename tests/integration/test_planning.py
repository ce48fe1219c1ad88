"""Capacity planning without Prometheus: the replica formula, clamping and stabilisation,
scenario transforms and their exhaustion, order-by dates, config errors and the series."""

from __future__ import annotations

import math

import numpy as np
import pytest

from promcast_common.catalogue import Families
from promcast_common.config import ConfigError, validate
from promcast_forecaster.config import ForecasterConfig, ResolvedTarget
from promcast_forecaster.engine import SeriesForecast, TargetResult
from promcast_forecaster.planning.autoscaling import (
    Stabilizer,
    clamp_replicas,
    peak_demand,
    required_replicas,
)
from promcast_forecaster.planning_config import Scenario
from promcast_forecaster.planning.leadtime import lead_time_margin, order_by_timestamp
from promcast_forecaster.planning.plan import TargetPlanner
from promcast_forecaster.publish.series import publish_plan
from promcast_forecaster.planning.scenarios import MONTH_SECONDS, affine, apply_scenario

HOUR = 3600.0
NOW = 1_790_000_000.0  # a whole hour, so the grid ends exactly now


# -- autoscaling ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "demand, capacity, headroom, expected",
    [
        (100, 10, 0.0, 10),  # exactly ten replicas' worth: not eleven
        (101, 10, 0.0, 11),
        (100, 10, 0.2, 12),
        (100, 10, 0.1, 11),  # 100 * 1.1 / 10 is 11.000000000000002 in floating point
        (0.7, 0.1, 0.0, 7),  # 0.7 / 0.1 is 6.999999999999999
        (0, 10, 0.5, 0),
        (-5, 10, 0.0, 0),  # a forecast below zero needs no replicas, not minus one
    ],
)
def test_required_replicas_known_answers(demand, capacity, headroom, expected):
    assert required_replicas(demand, capacity, headroom) == expected


def test_required_replicas_nan_and_bad_capacity():
    assert np.isnan(required_replicas(np.nan, 10))
    with pytest.raises(ValueError, match="per_replica_capacity must be positive"):
        required_replicas(1.0, 0)


def test_clamping_keeps_nan():
    got = clamp_replicas(np.array([0, 5, 50, np.nan]), 2, 20)
    assert got[:3].tolist() == [2, 5, 20] and np.isnan(got[3])


def test_peak_demand_covers_now_to_reach_including_the_observation():
    # column k at 0 + 60k; now = 30 s after the grid's end, reach 120 s: up to t = 150 -> k <= 3
    upper = np.array([[9.0, 1.0, 2.0, 3.0, 50.0], [1.0, 1.0, 7.0, 1.0, 50.0], [np.nan] * 5])
    got = peak_demand(upper, 0.0, 60.0, 30.0, 120.0)
    assert got[:2].tolist() == [9.0, 7.0] and np.isnan(got[2])
    # a reach beyond the curve uses the whole curve
    assert peak_demand(upper[:1], 0.0, 60.0, 0.0, 1e9).tolist() == [50.0]


def test_stabilisation_scales_up_at_once_and_down_after_the_window():
    st = Stabilizer(300)
    seq = [(0, 10), (60, 4), (300, 4), (360, 3), (420, 12), (480, 2)]
    got = [st.update(t, {"a": float(v)})["a"] for t, v in seq]
    assert got == [10, 10, 10, 4, 12, 12]
    # a cycle without a recommendation keeps the window's highest; a gone series is forgotten
    assert st.update(540, {"a": math.nan}) == {"a": 12}
    assert st.update(600, {"b": 1.0}) == {"b": 1.0} and "a" not in st._seen


# -- scenarios and lead time ---------------------------------------------------------------------
def test_affine_transforms_in_the_documented_order():
    times = np.array([NOW, NOW + MONTH_SECONDS, NOW + 2 * MONTH_SECONDS])
    f, o = affine(Scenario(name="growth", trend_per_month=0.05), times, NOW)
    assert np.allclose(f, [1, 1.05, 1.1025]) and np.allclose(o, 0)
    s = Scenario(
        name="mix",
        multiply=2,
        add=1,
        trend_per_month=0.1,
        step={"at": NOW + MONTH_SECONDS, "add": 3},
    )
    f, o = affine(s, times, NOW)
    # v -> ((2v + 1) * 1.1^months) + 3 from the step on
    assert np.allclose(f, [2, 2.2, 2.42]) and np.allclose(o, [1, 1.1 + 3, 1.21 + 3])
    f, o = affine(Scenario(name="x", add=1, step={"at": NOW + 1, "multiply": 1.5}), times, NOW)
    assert np.allclose(f, [1, 1.5, 1.5]) and np.allclose(o, [1, 1.5, 1.5])


def test_step_dates_from_yaml_dates_and_iso_strings():
    import datetime as dt

    midnight = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc).timestamp()
    assert Scenario(name="a", step={"at": dt.date(2026, 12, 1), "add": 1}).step.at == midnight
    assert Scenario(name="a", step={"at": "2026-12-01T00:00:00Z", "add": 1}).step.at == midnight


def target(**fields) -> ResolvedTarget:
    base = {
        "name": "disk",
        "query": "disk_ratio",
        "step": "1h",
        "history": "2d",
        "season": "1d",
        "horizons": ["1d", "3d"],
        "capacity": 0.875,
        "lead_time": "6h",
        "levels": [80, 95],
    }
    return validate(ForecasterConfig, {"targets": [{**base, **fields}]}).resolved_targets()[0]


def linear_result(
    t: ResolvedTarget,
    made_at: float = NOW,
    observed: float = 0.5,
    slope: float = 1 / 64,
    spread: float = 1 / 16,
) -> TargetResult:
    """One series "a" growing ``slope`` per step from ``observed``; values exact in float32."""
    width = max(t.horizon_steps) + 1
    mean = observed + slope * np.arange(width)
    curves = {"mean": mean}
    for lv in t.predict_levels:
        curves[f"lower-{lv}"] = mean - spread * np.r_[0, np.ones(width - 1)]
        curves[f"upper-{lv}"] = mean + spread * np.r_[0, np.ones(width - 1)]
    r = TargetResult(t, made_at)
    r.curve_start = made_at
    r.curves = {k: v[None, :].astype(np.float32) for k, v in curves.items()}
    cap = t.capacity if isinstance(t.capacity, float) else math.nan
    exhaustion = 24 * HOUR if cap == 0.875 else math.inf  # 0.5 + 24/64 = 0.875
    r.series = [
        SeriesForecast(
            {"host": "a", "target": t.name},
            observed,
            {},
            {},
            exhaustion,
            "seasonal_naive_drift",
            capacity=cap,
        )
    ]
    return r


def test_order_by_and_margin():
    assert order_by_timestamp(1000.0, 86400.0, 3600.0) == 1000.0 + 82800.0
    assert order_by_timestamp(1000.0, math.inf, 3600.0) == math.inf
    assert lead_time_margin(3600.0, 7200.0) == -3600.0
    plan = TargetPlanner(target()).plan(linear_result(target()))
    assert plan.series[0].order_by == NOW + 24 * HOUR - 6 * HOUR
    assert plan.series[0].margin == 18 * HOUR


def test_scenario_forecasts_and_their_exhaustion():
    t = target(
        scenarios=[
            {"name": "traffic_plus_25", "multiply": 1.25},  # 1.25 (0.5 + k/64) >= 0.875 at k=13
            {"name": "plus", "add": 0.125},  # 0.625 + k/64 >= 0.875 at k=16
            {"name": "launch", "step": {"at": NOW + 10 * HOUR, "add": 0.25}},  # at k=10
            {"name": "flat", "multiply": 0.5},  # never within 3 days
        ]
    )
    plan = TargetPlanner(t).plan(linear_result(t))
    by = {s.name: s for s in plan.series[0].scenarios}
    assert {n: s.exhaustion_seconds / HOUR for n, s in by.items()} == {
        "traffic_plus_25": 13,
        "plus": 16,
        "launch": 10,
        "flat": math.inf,
    }
    assert by["launch"].order_by == NOW + 4 * HOUR
    assert by["flat"].order_by == math.inf
    day = 86400.0
    assert by["plus"].mean[day] == pytest.approx(0.625 + 24 / 64)
    assert by["traffic_plus_25"].bounds[(day, 95)] == pytest.approx(
        (1.25 * (0.5 + 24 / 64 - 1 / 16), 1.25 * (0.5 + 24 / 64 + 1 / 16))
    )


def test_a_scenario_leaves_the_observation_alone():
    curves = {"mean": np.array([[1.0, 1.0, 1.0]])}
    got = apply_scenario(curves, NOW, HOUR, NOW, Scenario(name="x", multiply=2, add=1))
    assert got["mean"].tolist() == [[1.0, 3.0, 3.0]]


def test_planner_recommends_replicas_and_stabilises():
    # Requests per second: 0.5 -> +1/64 per hour, upper bound +1/16; 0.05 per replica.
    t = target(
        capacity=None,
        horizons=["1h", "6h"],
        infer_every="1h",
        autoscaling={
            "per_replica_capacity": 0.05,
            "headroom": 0.0,
            "min_replicas": 2,
            "max_replicas": 40,
            "scale_up_lead_time": "1h",
            "level": 95,
            "scale_down_stabilization": "2h",
        },
    )
    planner = TargetPlanner(t)
    sp = planner.plan(linear_result(t)).series[0]
    # cover now .. now + 1h lead + 1h window: columns 0..2, peak upper 0.5 + 2/64 + 1/16 = 0.59375
    assert sp.required_replicas == 12 and sp.recommended_replicas == 12
    assert math.isnan(sp.order_by)  # no capacity, no order-by date
    # an hour later the demand has halved: the stabilisation window still holds 12
    sp = planner.plan(linear_result(t, NOW + HOUR, observed=0.25)).series[0]
    assert sp.required_replicas == 7 and sp.recommended_replicas == 12
    sp = planner.plan(linear_result(t, NOW + 4 * HOUR, observed=0.0, spread=0.0)).series[0]
    assert sp.required_replicas == 1 and sp.recommended_replicas == 2  # clamped to min_replicas


def test_publish_plan_series_and_label_clash():
    t = target(
        scenarios=[{"name": "plus", "add": 0.125}],
        autoscaling={"per_replica_capacity": 0.1, "max_replicas": 5, "scale_up_lead_time": "1h"},
    )
    result = linear_result(t)
    result.series[0].labels = {"host": "a", "scenario": "mine", "target": "disk"}
    out = Families()
    publish_plan(out, TargetPlanner(t).plan(result))
    samples = {f.name: f.samples for f in out}
    assert set(samples) == {
        "promcast_capacity_order_by_timestamp_seconds",
        "promcast_capacity_lead_time_margin_seconds",
        "promcast_scenario_exhaustion_seconds",
        "promcast_scenario_capacity_order_by_timestamp_seconds",
        "promcast_scenario_forecast_mean",
        "promcast_scenario_forecast_lower",
        "promcast_scenario_forecast_upper",
        "promcast_autoscaling_required_replicas",
        "promcast_autoscaling_recommended_replicas",
    }
    ex = samples["promcast_scenario_exhaustion_seconds"][0]
    assert ex.labels == {
        "host": "a",
        "exported_scenario": "mine",
        "scenario": "plus",
        "target": "disk",
    }
    assert len(samples["promcast_scenario_forecast_upper"]) == 2 * 2  # horizons x levels
    rec = samples["promcast_autoscaling_recommended_replicas"][0]
    assert rec.value == 5 and samples["promcast_autoscaling_required_replicas"][0].value == 6


# -- config --------------------------------------------------------------------------------------
def problems(**fields) -> list[str]:
    base = {"name": "api", "query": "rps", "step": "5m", "horizons": ["1h"], "levels": [80, 95]}
    with pytest.raises(ConfigError) as err:
        validate(ForecasterConfig, {"targets": [{**base, **fields}]})
    return err.value.problems


@pytest.mark.parametrize(
    "fields, expected",
    [
        (
            {"autoscaling": {"per_replica_capacity": 10, "max_replicas": 5, "level": 90}},
            "targets[0] (api).autoscaling.level: 90 is not forecast; add it to the target's levels [80, 95]",
        ),
        (
            {
                "autoscaling": {
                    "per_replica_capacity": 10,
                    "max_replicas": 5,
                    "scale_up_lead_time": "50m",
                    "window": "15m",
                }
            },
            "targets[0] (api).autoscaling: scale_up_lead_time + window is 1h5m, beyond the target's "
            "largest horizon 1h; add a horizon at least that long or shorten the window",
        ),
        (
            {"autoscaling": {"per_replica_capacity": 10, "max_replicas": 5, "min_replicas": 6}},
            "targets[0].autoscaling: min_replicas (6) is above max_replicas (5)",
        ),
        (
            {"autoscaling": {"per_replica_capacity": 10}},
            "targets[0].autoscaling.max_replicas: Field required",
        ),
        (
            {"autoscaling": {"per_replica_capacity": 0, "max_replicas": 5}},
            "targets[0].autoscaling.per_replica_capacity: Input should be greater than 0",
        ),
        (
            {"scenarios": [{"name": "noop"}]},
            "targets[0].scenarios[0]: scenario 'noop' changes nothing: set at least one of multiply, add, "
            "trend_per_month, step",
        ),
        (
            {"scenarios": [{"name": "a", "multiply": 2}, {"name": "a", "add": 1}]},
            "targets[0] (api).scenarios: names must be unique, a used twice",
        ),
        (
            {"scenarios": [{"name": "s", "step": {"at": "2026-12-01", "add": 1, "multiply": 2}}]},
            "targets[0].scenarios[0].step: a step needs exactly one of add, multiply",
        ),
        (
            {"scenarios": [{"name": "s", "step": {"at": "next week", "add": 1}}]},
            "targets[0].scenarios[0].step.at: not a date: 'next week' (use e.g. 2026-12-01 or "
            "2026-12-01T09:00:00Z)",
        ),
        (
            {"scenarios": [{"name": "bad name", "multiply": 2}]},
            "targets[0].scenarios[0].name: must match ^[a-zA-Z0-9_.:-]+$ (it becomes a label value), got 'bad name'",
        ),
        (
            {"scenarios": [{"name": "s", "trend_per_month": -1}]},
            "targets[0].scenarios[0].trend_per_month: Input should be greater than -1",
        ),
    ],
)
def test_config_errors_say_where_and_what(fields, expected):
    got = problems(**fields)
    # a cross-field problem found alone is reported under "(top level): "
    assert any(p.removeprefix("(top level): ") == expected for p in got), got


def test_defaults_apply_and_a_target_can_opt_out():
    cfg = validate(
        ForecasterConfig,
        {
            "defaults": {"scenarios": [{"name": "growth", "trend_per_month": 0.05}]},
            "targets": [{"name": "a", "query": "x"}, {"name": "b", "query": "y", "scenarios": []}],
            "budgets": [{"name": "spend", "spend_rate": "z", "amount": 10}],
        },
    )
    a, b = cfg.resolved_targets()
    assert [s.name for s in a.scenarios] == ["growth"] and b.scenarios == []
    assert a.autoscaling is None
    assert cfg.budget_target(cfg.budgets[0], 86400).scenarios  # resolvable; budgets ignore it


def test_kubernetes_examples_query_catalogued_series_with_valid_promql(tmp_path):
    """The KEDA query is valid PromQL (promtool) and every example reads a catalogued series."""
    import re
    import subprocess
    from pathlib import Path

    import yaml

    from promcast_common.catalogue import CATALOGUE
    from tests.helpers.processes import need

    kube = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
    docs = {p.name: yaml.safe_load(p.read_text()) for p in kube.glob("*.yaml")}
    assert set(docs) == {"keda-scaledobject.yaml", "prometheus-adapter-values.yaml", "hpa.yaml"}
    query = docs["keda-scaledobject.yaml"]["spec"]["triggers"][0]["metadata"]["query"]
    adapter = docs["prometheus-adapter-values.yaml"]["rules"]["external"][0]
    for text in (query, adapter["seriesQuery"]):
        for name in re.findall(r"\bpromcast_[a-z_]+", text):
            assert name in CATALOGUE, name
    metric = docs["hpa.yaml"]["spec"]["metrics"][0]["external"]["metric"]["name"]
    assert metric == adapter["name"]["as"]
    need("promtool")
    rules = tmp_path / "r.yml"
    rules.write_text(
        yaml.safe_dump(
            {"groups": [{"name": "x", "rules": [{"record": "x:keda:query", "expr": query}]}]}
        )
    )
    out = subprocess.run(["promtool", "check", "rules", str(rules)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
