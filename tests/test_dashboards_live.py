"""Every panel query of every generated dashboard returns data from a real Prometheus holding
the demo fleet, its rules and the forecaster's results: the check Grafana itself cannot run here."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse

import pytest

from demo.stack import Stack, http_get
from tests.dashboard_queries import (PanelQuery, generated, interpolate, load, queries, time_range,
                                     variable_defaults)

pytestmark = pytest.mark.integration

READY_SERIES = "promcast_forecast_exhaustion_seconds"
# Recording rules and the first forecast cycles land a few evaluations after the forecaster's
# first results; a query gets this long to show data before it counts as empty.
SETTLE = 45
POINTS = 1000  # about a panel's width in pixels, like Grafana's own step choice


@pytest.fixture(scope="module")
def stack(demo_stack: Stack) -> Stack:
    deadline = time.monotonic() + 90
    while not demo_stack.query(READY_SERIES):
        if time.monotonic() > deadline:
            pytest.fail(f"{READY_SERIES} not in Prometheus within 90 s; see {demo_stack.workdir}")
        time.sleep(1)
    return demo_stack


def run(stack: Stack, q: PanelQuery, window: tuple[float, float]) -> list[dict]:
    if q.instant:
        params = {"query": q.expr}
        api = "query"
    else:
        start, end = window
        step = max(15, int((end - start) / POINTS))
        # Align the start so the last evaluation falls on `end`, as Grafana does.
        params = {"query": q.expr, "start": end - ((end - start) // step) * step, "end": end,
                  "step": step}
        api = "query_range"
    url = f"{stack.url('prometheus')}/api/v1/{api}?" + urllib.parse.urlencode(params)
    try:
        body = json.loads(http_get(url, timeout=30))
    except urllib.error.HTTPError as e:
        raise AssertionError(f"{q}\n{e.read().decode()}") from None
    return body["data"]["result"]


CASES = [(path, q) for path in generated() for q in queries(path)]


@pytest.mark.parametrize("path,q", CASES, ids=[str(q) for _, q in CASES])
def test_panel_query_returns_data(stack, path, q):
    deadline = time.monotonic() + SETTLE
    while True:
        result = run(stack, q, time_range(path))
        if result or time.monotonic() > deadline:
            break
        time.sleep(2)
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
        metric, label = var["query"][len("label_values("):-1].rsplit(",", 1)
        metric = interpolate(metric, defaults)
        url = (f"{stack.url('prometheus')}/api/v1/label/{label.strip()}/values?"
               + urllib.parse.urlencode({"match[]": metric}))
        values = json.loads(http_get(url))["data"]
        assert values, f"variable {var['name']} has no values"
        default = var["current"].get("value")
        if isinstance(default, str) and default != "$__all":
            assert default in values, f"default {default!r} of {var['name']} not in {values}"
