"""What `make demo` does, asserted: demo history -> Prometheus -> forecaster -> rules ->
Alertmanager -> webhook, with real processes on loopback."""

import time

import pytest

from demo.stack import Stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack(demo_stack: Stack) -> Stack:
    return demo_stack


def wait_for(fn, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"not true within {timeout}s")


def test_filling_disk_pages_chat_with_labels_and_annotations(stack):
    def exhaustion_alerts():
        return [
            (n["receiver"], a)
            for n in stack.notifications()
            for a in n["payload"]["alerts"]
            if a["labels"]["alertname"] == "PromcastCapacityExhaustionSoon"
        ]

    received = wait_for(exhaustion_alerts, 150)
    receivers = {r for r, _ in received}
    assert receivers == {"chat"}  # warning -> chat, never on-call
    alert = received[0][1]
    assert alert["status"] == "firing"
    assert alert["labels"]["target"] == "disk_usage"
    assert alert["labels"]["resource_id"] == "logs-1"
    assert alert["labels"]["severity"] == "warning"
    assert alert["labels"]["job"] == "promcast-exporter"  # source labels survive the forecaster
    ann = alert["annotations"]
    assert ann["summary"] == "Capacity will be exhausted within the lead time"
    assert ann["description"].startswith("logs-1 (target disk_usage) is forecast to cross")
    assert ann["runbook_url"].endswith("#promcastcapacityexhaustionsoon")
    # Only the filling disk: no other resource is forecast to run out within its lead time.
    assert {a["labels"]["resource_id"] for _, a in received} == {"logs-1"}


def test_every_target_is_forecast_and_history_is_one_series_with_live_data(stack):
    counts = wait_for(
        lambda: stack.query('promcast_forecaster_target_series{state="forecast"}'), 60
    )
    by_target = {r["metric"]["target"]: float(r["value"][1]) for r in counts}
    # The budget counts its series too (0 would say it has no spend data).
    assert by_target == {
        "disk_usage": 20,
        "cpu_utilization": 20,
        "memory_utilization": 20,
        "cloud_spend": 9,
        "cloud_monthly": 1,
    }
    # Backfilled history and scraped samples share labels, so each resource is one series.
    assert len(stack.query("promcast_resource_cpu_utilization_ratio")) == 20
    assert len(stack.query("count_over_time(promcast_resource_cpu_utilization_ratio[10d])")) == 20
    closest = stack.query("bottomk(1, promcast_forecast_exhaustion_seconds)")[0]
    assert closest["metric"]["resource_id"] == "logs-1"
    assert 0 < float(closest["value"][1]) < 7 * 86400
