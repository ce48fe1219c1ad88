"""Every panel and annotation query of every generated dashboard returns data from a real
Prometheus holding the demo fleet, its rules and the forecaster's results, or, for the forecast
curves, from the forecaster's future-curve API: the check Grafana itself cannot run here."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
from dataclasses import replace

import pytest

from dashboards import style
from demo.stack import Stack, http_get
from promcast_common.catalogue import CATALOGUE
from tests.helpers.dashboard_queries import (
    COMPARISON,
    PanelQuery,
    generated,
    interpolate,
    load,
    queries,
    time_range,
    variable_defaults,
)

pytestmark = pytest.mark.integration

READY_SERIES = "promcast_forecast_exhaustion_seconds"
# A target's first anomaly score needs the forecast made one step earlier for the newest
# observation: it comes within minutes for the 5-minute CPU target (the explorer's default), and
# at the next full hour for the hourly disk and spend targets.
ANOMALY = "promcast_forecast_anomaly_score"
FIRST_SCORE_WITHIN = 6 * 60
# The recommendations cycle reads two weeks of the fleet and fits its forecasts once at start:
# seconds alone, minutes on a busy machine, so their panels wait for its first report.
RECOMMENDATIONS = "promcast_recommendation_monthly_saving_usd"
FIRST_REPORT_WITHIN = 10 * 60
HOURLY = 3600
# Recording rules and the first forecast cycles land a few evaluations after the forecaster's
# first results; a query gets this long to show data before it counts as empty.
SETTLE = 45
POINTS = 1000  # about a panel's width in pixels, like Grafana's own step choice
# Grafana's step over a week or more is longer than Prometheus' 5-minute lookback, so on a stack
# started minutes ago a series could fall between two steps; a shorter step sees it.
MAX_STEP = 240
# Where each datasource variable points in the demo stack.
SERVERS = {style.DATASOURCE_VARIABLE: "prometheus", style.FORECASTER_VARIABLE: "forecaster"}
# Series the demo does not produce, and why: a query of them must be accepted, and may be empty.
ABSENT_IN_DEMO = {
    "promcast_exporter_api_calls_total": "the demo provider calls no cloud API",
    "promcast_exporter_api_cost_usd_total": "the demo provider calls no cloud API",
    "promcast_forecaster_remote_write_samples_total": "the demo forecaster is scraped, it does not remote-write",
}
# Queries of node_exporter filesystems and their forecasts: the demo runs no node_exporter
# (tests/test_own_prometheus_guide.py runs them against a real one and requires their data).
NODE_EXPORTER_ONLY = {
    "node_filesystem_": "the demo runs no node_exporter",
    'mountpoint!=""': "the demo forecasts no node_exporter filesystem",
}


def wait_for_series(stack: Stack, expr: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not stack.query(expr):
        if time.monotonic() > deadline:
            pytest.fail(f"{expr} not in Prometheus within {timeout:.0f} s; see {stack.workdir}")
        time.sleep(2)


@pytest.fixture(scope="module")
def stack(demo_stack: Stack) -> Stack:
    wait_for_series(demo_stack, READY_SERIES, 90)
    wait_for_series(demo_stack, ANOMALY, FIRST_SCORE_WITHIN)
    wait_for_series(demo_stack, RECOMMENDATIONS, FIRST_REPORT_WITHIN)
    return demo_stack


def forecaster_uptime(stack: Stack) -> float:
    """Seconds since the forecaster's first scrape, up to an hour."""
    (r,) = stack.query(
        'time() - min_over_time(timestamp(promcast_build_info{component="forecaster"})[1h:10s])'
    )
    return float(r["value"][1])


def run(stack: Stack, q: PanelQuery, window: tuple[float, float]) -> list[dict]:
    if q.instant:
        params = {"query": q.expr}
        api = "query"
    else:
        start, end = window
        step = min(MAX_STEP, max(15, int((end - start) / POINTS)))
        # Align the start so the last evaluation falls on `end`, as Grafana does.
        params = {
            "query": q.expr,
            "start": end - ((end - start) // step) * step,
            "end": end,
            "step": step,
        }
        api = "query_range"
    url = f"{stack.url(SERVERS[q.datasource])}/api/v1/{api}?" + urllib.parse.urlencode(params)
    try:
        body = json.loads(http_get(url, timeout=30))
    except urllib.error.HTTPError as e:
        raise AssertionError(f"{q}\n{e.read().decode()}") from None
    return body["data"]["result"]


CASES = [(path, q) for path in generated() for q in queries(path)]


# Annotations mark exceptions (an anomaly score above 1) that the demo fleet need not have at
# test time: the query must be accepted and the series under its comparison must have data.


def test_the_series_absent_in_the_demo_are_catalogued():
    assert set(ABSENT_IN_DEMO) <= set(CATALOGUE)


@pytest.mark.parametrize("path,q", CASES, ids=[str(q) for _, q in CASES])
def test_panel_query_returns_data(stack, path, q):
    absent = [
        reason
        for name, reason in {**ABSENT_IN_DEMO, **NODE_EXPORTER_ONLY}.items()
        if name in q.expr
    ]
    if absent:
        if not run(stack, q, time_range(path)):  # accepted, though empty here
            pytest.skip(f"no data in the demo: {absent[0]}")
        return
    if q.panel.startswith("annotation "):
        run(stack, q, time_range(path))
        assert COMPARISON.search(q.expr), f"an annotation marks where a series crosses a value: {q}"
        q = replace(q, expr=COMPARISON.sub("", q.expr))
    deadline = time.monotonic() + SETTLE
    while True:
        result = run(stack, q, time_range(path))
        if result or time.monotonic() > deadline:
            break
        time.sleep(2)
    if not result and ANOMALY in q.expr and forecaster_uptime(stack) < HOURLY:
        pytest.skip("an hourly target scores its first anomaly at the next full hour")
    assert result, f"no data: {q}"
    assert any(r.get("value") or r.get("values") for r in result), f"empty series: {q}"


@pytest.mark.parametrize("path", generated(), ids=lambda p: p.name)
def test_variables_resolve_to_values(stack, path):
    """Query variables (``label_values(metric, label)``) have values and contain the default."""
    dashboard = load(path)
    defaults = variable_defaults(dashboard)
    for var in dashboard["templating"]["list"]:
        if var["type"] != "query":
            continue
        metric, label = var["query"][len("label_values(") : -1].rsplit(",", 1)
        metric, label = interpolate(metric, defaults), interpolate(label, defaults)
        url = (
            f"{stack.url('prometheus')}/api/v1/label/{label.strip()}/values?"
            + urllib.parse.urlencode({"match[]": metric})
        )
        values = json.loads(http_get(url))["data"]
        assert values, f"variable {var['name']} has no values"
        default = var["current"].get("value")
        if isinstance(default, str) and default != "$__all":
            assert default in values, f"default {default!r} of {var['name']} not in {values}"
