"""The publisher on its own: results handed to it become catalogue series on /metrics (read back
by value through a fresh registry) and on the remote-write queue, with no scheduler running."""

from __future__ import annotations

import asyncio
import math

import aiohttp
import numpy as np
import pytest

from promcast_common.catalogue import Families
from promcast_common.config import validate
from promcast_forecaster import __version__
from promcast_forecaster.budgets import Projection
from promcast_forecaster.config import ForecasterConfig
from promcast_forecaster.engine import forecast_target, select_series
from promcast_forecaster.health import RECOMMENDATIONS, HealthTracker
from promcast_forecaster.planning.plan import TargetPlanner
from promcast_forecaster.publish.collector import MetricsCollector
from promcast_forecaster.publish.publisher import Publisher
from promcast_forecaster.publish.pusher import RemoteWritePusher
from promcast_forecaster.publish.series import api_families, publish_budget, publish_result
from promcast_forecaster.recommend_config import Recommendations
from promcast_forecaster.recommend.report import Report
from promcast_forecaster.source import RawSeries
from tests.helpers.metrics import registry

STEP = 3600.0
END = 1_790_000_000.0 // STEP * STEP


def config(**extra) -> ForecasterConfig:
    return validate(
        ForecasterConfig,
        {
            "defaults": {
                "step": "1h",
                "history": "2d",
                "season": 0,
                "horizons": ["1h", "1d"],
                "capacity": 0.9,
                "lead_time": "1d",
            },
            "targets": [
                {
                    "name": "disk",
                    "query": "disk_ratio",
                    "scenarios": [{"name": "plus", "multiply": 1.2}],
                },
                {"name": "idle", "query": "up"},
            ],
            **extra,
        },
    )


def disk_result(cfg: ForecasterConfig):
    """A forecast of two hosts' disks at END: "a" grows, "b" is flat."""
    t = cfg.resolved_targets()[0]
    ts = END - STEP * np.arange(t.points)[::-1]
    raw = [
        RawSeries({"host": "a"}, ts, 0.5 + 0.004 * np.arange(t.points)),
        RawSeries({"host": "b"}, ts, np.full(t.points, 0.3)),
    ]
    return forecast_target(t, select_series(raw, t).series, END, END)


def components(cfg: ForecasterConfig) -> tuple[HealthTracker, Publisher, RemoteWritePusher]:
    targets = cfg.resolved_targets()
    health = HealthTracker()
    health.configure([t.name for t in targets] + [b.name for b in cfg.budgets], set())
    publisher = Publisher(health)
    publisher.configure(targets, set())
    return health, publisher, RemoteWritePusher(publisher)


def test_a_result_handed_to_the_publisher_is_served_by_value_with_its_health_and_settings():
    cfg = config()
    health, publisher, pusher = components(cfg)
    result = disk_result(cfg)
    publisher.update_result(result)
    publisher.update_plan("disk", TargetPlanner(result.target).plan(result))
    health.succeeded("disk", started=0.0)
    reg = registry(MetricsCollector(publisher, pusher))

    a = {s.labels["host"]: s for s in result.series}["a"]
    lab = {"host": "a", "target": "disk"}
    assert reg.get_sample_value("promcast_forecast_observed", lab) == a.observed
    assert reg.get_sample_value("promcast_forecast_capacity", lab) == 0.9
    assert reg.get_sample_value("promcast_forecast_exhaustion_seconds", lab) == a.exhaustion_seconds
    assert (
        reg.get_sample_value("promcast_forecast_mean", {**lab, "horizon": "1d"}) == a.mean[86400.0]
    )
    lo, hi = a.bounds[(86400.0, 80)]
    assert (
        reg.get_sample_value("promcast_forecast_lower", {**lab, "horizon": "1d", "level": "80"})
        == lo
    )
    assert (
        reg.get_sample_value("promcast_forecast_upper", {**lab, "horizon": "1d", "level": "80"})
        == hi
    )
    assert (
        reg.get_sample_value(
            "promcast_forecast_model_info", {**lab, "model": a.model, "reason": a.reason}
        )
        == 1
    )
    assert (
        reg.get_sample_value(
            "promcast_forecaster_target_series", {"target": "disk", "state": "forecast"}
        )
        == 2
    )
    # The scenario's own series, from the plan the publisher was handed.
    assert reg.get_sample_value(
        "promcast_scenario_forecast_mean", {**lab, "scenario": "plus", "horizon": "1d"}
    ) == pytest.approx(1.2 * a.mean[86400.0])
    assert reg.get_sample_value("promcast_capacity_order_by_timestamp_seconds", lab) is not None
    # Health and the settings rules compare with, for every configured target.
    assert reg.get_sample_value("promcast_forecaster_target_up", {"target": "disk"}) == 1
    assert (
        reg.get_sample_value(
            "promcast_forecaster_cycles_total", {"target": "disk", "result": "success"}
        )
        == 1
    )
    assert reg.get_sample_value("promcast_forecaster_target_up", {"target": "idle"}) == 0
    assert reg.get_sample_value("promcast_target_lead_time_seconds", {"target": "idle"}) == 86400
    assert (
        reg.get_sample_value("promcast_forecaster_last_fit_timestamp_seconds", {"target": "disk"})
        == result.fitted.fitted_at
    )
    # No result yet for "idle": nothing but its health and settings.
    assert (
        reg.get_sample_value(
            "promcast_forecaster_target_series", {"target": "idle", "state": "forecast"}
        )
        is None
    )
    assert (
        reg.get_sample_value(
            "promcast_build_info", {"component": "forecaster", "version": __version__}
        )
        == 1
    )


def test_remote_write_series_only_when_a_queue_is_configured():
    cfg = config()
    _, publisher, pusher = components(cfg)
    reg = registry(MetricsCollector(publisher, pusher))
    assert reg.get_sample_value("promcast_forecaster_remote_write_pending_samples") is None

    async def connected() -> tuple[float | None, float | None, int]:
        async with aiohttp.ClientSession() as session:
            pusher.connect(
                validate(
                    ForecasterConfig, {"remote_write": {"url": "http://127.0.0.1:9/api/v1/write"}}
                ).remote_write,
                session,
            )
            pusher.push("disk")
            pending = pusher.queue.pending
            return (
                reg.get_sample_value("promcast_forecaster_remote_write_pending_samples"),
                reg.get_sample_value(
                    "promcast_forecaster_remote_write_samples_total", {"result": "sent"}
                ),
                pending,
            )

    pending_series, sent, pending = asyncio.run(connected())
    assert pending > 0 and pending_series == pending and sent == 0


class Recorder:
    """Stands in for remote write's queue: keeps what is put, sends nothing."""

    samples = {"sent": 0}
    failed_requests = pending = 0

    def __init__(self) -> None:
        self.put_series: list = []

    def put(self, series) -> None:
        self.put_series.extend(series)


def test_the_pusher_queues_what_metrics_shows_for_one_name_stamped_at_a_replayed_instant():
    cfg = config()
    health, publisher, pusher = components(cfg)
    publisher.update_result(disk_result(cfg))
    health.succeeded("disk", started=0.0)
    pusher.queue, pusher.replay_stamps = Recorder(), True
    pusher.push("disk", at=END)

    series = pusher.queue.put_series
    by_name: dict[str, list] = {}
    for s in series:
        by_name.setdefault(dict(s.labels)["__name__"], []).append(s)
    # Stamped at the replayed instant, with each of /metrics' samples for "disk".
    assert {ts for s in series for ts, _ in s.samples} == {int(END * 1000)}
    exposed = {m.name: m for m in publisher.families(pusher.queue, ["disk"])}
    for name in (
        "promcast_forecast_observed",
        "promcast_forecaster_target_up",
        "promcast_target_info",
        "promcast_build_info",
    ):
        values = sorted(v for s in by_name[name] for _, v in s.samples)
        assert values == sorted(s.value for s in exposed[name].samples)
    # Only "disk" and the service's own series: "idle" is queued after its own cycle.
    assert not [s for s in series if dict(s.labels).get("target") == "idle"]


def test_a_reload_keeps_only_the_results_of_what_it_did_not_change():
    cfg = config(recommendations={})
    health, publisher, _ = components(cfg)
    result = disk_result(cfg)
    publisher.update_result(result)
    publisher.update_report(Report(Recommendations(), END, "builtin"))
    assert publisher.has_results("disk") and publisher.has_results(RECOMMENDATIONS)
    assert not publisher.has_results("idle")
    publisher.configure(cfg.resolved_targets(), {"disk"})
    assert publisher.has_results("disk") and publisher.report is None
    publisher.configure(cfg.resolved_targets(), set())
    assert not publisher.results


def test_budget_series_say_how_many_series_were_projected_and_which_wait():
    cfg = validate(
        ForecasterConfig,
        {
            "budgets": [
                {"name": "aws-month", "spend_rate": "rate_usd", "amount": 1000, "currency": "EUR"}
            ]
        },
    )
    budget = cfg.budgets[0]
    out = Families()
    p = Projection(
        {"provider": "aws", "target": "aws-month"}, 400.0, 900.0, {80: (850.0, 950.0)}, 0.1
    )
    publish_budget(out, budget, END, [p], [({"provider": "gcp", "target": "aws-month"}, 7200.0)])
    reg = registry(_Served(out))
    lab = {"provider": "aws", "target": "aws-month", "budget": "aws-month", "currency": "EUR"}
    assert reg.get_sample_value("promcast_budget_amount", lab) == 1000
    assert reg.get_sample_value("promcast_budget_projected_spend", lab) == 900
    assert (
        reg.get_sample_value("promcast_budget_projected_spend_upper", {**lab, "level": "80"}) == 950
    )
    assert reg.get_sample_value("promcast_budget_period_end_timestamp_seconds", lab) == END
    assert (
        reg.get_sample_value(
            "promcast_forecaster_target_series", {"target": "aws-month", "state": "skipped"}
        )
        == 1
    )
    assert (
        reg.get_sample_value(
            "promcast_forecaster_history_needed_seconds", {"provider": "gcp", "target": "aws-month"}
        )
        == 7200
    )


def test_a_series_without_capacity_or_score_publishes_no_nan():
    cfg = validate(
        ForecasterConfig,
        {"targets": [{"name": "up", "query": "up", "step": "1h", "history": "2d", "season": 0}]},
    )
    t = cfg.resolved_targets()[0]
    ts = END - STEP * np.arange(t.points)[::-1]
    result = forecast_target(
        t, select_series([RawSeries({"i": "x"}, ts, np.ones(t.points))], t).series, END, END
    )
    out = Families()
    publish_result(out, result)
    values = [s.value for m in out for s in m.samples]
    assert values and not any(math.isnan(v) for v in values)
    assert "promcast_forecast_capacity" not in {m.name for m in out}


class _Served:
    """Families as a collector, to read them back through a registry."""

    def __init__(self, out: Families) -> None:
        self.out = out

    def collect(self):
        yield from self.out


def test_the_query_apis_load_is_published_from_the_same_catalogue():
    reg = registry(_Served(api_families(2, {"overloaded": 3, "timeout": 0})))
    assert reg.get_sample_value("promcast_forecaster_api_in_flight_requests") == 2
    assert (
        reg.get_sample_value(
            "promcast_forecaster_api_rejected_requests_total", {"reason": "overloaded"}
        )
        == 3
    )
    assert (
        reg.get_sample_value(
            "promcast_forecaster_api_rejected_requests_total", {"reason": "timeout"}
        )
        == 0
    )
