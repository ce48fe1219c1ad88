"""The service publishes the planning series from a real Prometheus, and a target's baseline
series stay exactly what they are without planning."""

import asyncio
import math
import subprocess

import aiohttp
import pytest

from promcast_common.config import validate
from promcast_forecaster.config import ForecasterConfig
from promcast_forecaster.service import Forecaster
from promcast_forecaster.source import PrometheusSource
from tests.helpers.anchors import ANCHORS, TIME_OF_DAY
from tests.helpers.forecaster import forecast_lines, history
from tests.helpers.metrics import exposition, value
from tests.helpers.processes import need

pytestmark = pytest.mark.integration

PLANNING = {
    "scenarios": [
        {"name": "traffic_plus_20", "multiply": 1.2},
        {"name": "launch", "step": {"at": "2026-12-01", "add": 0.1}},
        {"name": "growth", "trend_per_month": 0.05},
    ],
    "autoscaling": {
        "per_replica_capacity": 0.1,
        "headroom": 0.2,
        "min_replicas": 1,
        "max_replicas": 50,
        "scale_up_lead_time": "1h",
        "window": "1h",
    },
}


def config(url: str, planning: dict) -> ForecasterConfig:
    return validate(
        ForecasterConfig,
        {
            "prometheus": {"url": url, "timeout": "5s"},
            "defaults": {
                "step": "1h",
                "history": "2d",
                "season": "1d",
                "horizons": ["1d", "3d"],
                "capacity": 0.9,
                "lead_time": "1d",
            },
            "targets": [{"name": "disk", "query": "disk_ratio", **planning}],
        },
    )


def run(fc: Forecaster, at: float) -> bool:
    async def go() -> bool:
        async with aiohttp.ClientSession() as session:
            src = PrometheusSource.from_config(fc.cfg.prometheus, session)
            return await fc.run_cycle(fc.targets[0], src, at=at)

    return asyncio.run(go())


# Before and after the "launch" scenario's date, and on the first day of a month.
@pytest.mark.parametrize("day", ["wednesday", "monday-first-of-month", "sunday-in-december"])
def test_service_publishes_planning_series_and_leaves_the_baseline_alone(start_prometheus, day):
    at = ANCHORS[day] + TIME_OF_DAY
    prom = start_prometheus(history(now=at))
    plain, planned = Forecaster(config(prom.url, {})), Forecaster(config(prom.url, PLANNING))
    assert run(plain, at) and run(planned, at)
    assert forecast_lines(planned) == forecast_lines(plain)

    text = exposition(planned)
    a = {s.labels["host"]: s for s in planned.results["disk"].series}["a"]
    plan = {sp.labels["host"]: sp for sp in planned.plans["disk"].series}
    # "a" crosses 0.9 in ~2 days, beyond its 1-day lead time: order about a day from now
    assert 86400 < a.exhaustion_seconds < 3 * 86400
    assert plan["a"].order_by == pytest.approx(at + a.exhaustion_seconds - 86400)
    assert (
        value(text, "promcast_capacity_lead_time_margin_seconds", host="b", target="disk")
        == math.inf
    )
    by = {s.name: s for s in plan["a"].scenarios}
    # 1.2 x 0.8 is past 0.9: crossed at the first forecast step (the observation is untouched)
    assert 0 < by["traffic_plus_20"].exhaustion_seconds <= 3600
    assert 0 < by["growth"].exhaustion_seconds <= a.exhaustion_seconds
    assert (
        'promcast_scenario_forecast_upper{horizon="3d",host="a",level="95",'
        'scenario="launch",target="disk"}'
    ) in text
    assert (
        value(
            text, "promcast_scenario_exhaustion_seconds", host="b", scenario="growth", target="disk"
        )
        == math.inf
    )
    # "a" is at 0.8 and grows 0.05/day; upper 95% bound over the next 2 h, x1.2, per 0.1
    assert 10 <= plan["a"].recommended_replicas <= 11
    assert (
        f'promcast_autoscaling_recommended_replicas{{host="a",target="disk"}} '
        f"{plan['a'].recommended_replicas}"
    ) in text
    need("promtool")
    check = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
