"""The forecaster's HTTP API against a running service: the future-curve datasource queried with
prometheus-api-client as Grafana would, and the JSON API."""

import datetime as dt
import sys
import time

import pytest
import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect

from demo.stack import free_port, spawn, terminate
from tests.helpers.forecaster import disk_prometheus_and_config

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def forecaster(tmp_path_factory):
    work = tmp_path_factory.mktemp("api")
    prom, cfg = disk_prometheus_and_config(work)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = spawn(
        work,
        "forecaster",
        [
            sys.executable,
            "-m",
            "promcast_forecaster",
            "--config.file",
            str(cfg),
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        f"{url}/-/ready",
    )
    try:
        yield url
    finally:
        terminate([proc])
        prom.stop()


def test_grafana_style_range_query_draws_the_future(forecaster):
    client = PrometheusConnect(url=forecaster, disable_ssl=True)
    now = dt.datetime.now(dt.timezone.utc)
    mean = client.custom_query_range(
        'promcast_forecast_mean{target="disk", host="a"}',
        start_time=now,
        end_time=now + dt.timedelta(days=2),
        step="3600",
    )
    assert len(mean) == 1
    assert mean[0]["metric"] == {
        "__name__": "promcast_forecast_mean",
        "host": "a",
        "target": "disk",
    }
    points = [(float(t), float(v)) for t, v in mean[0]["values"]]
    assert len(points) >= 47
    assert all(t > time.time() - 3600 for t, _ in points)
    assert points[-1][1] > points[0][1]  # the growing disk keeps growing
    upper = client.custom_query_range(
        'promcast_forecast_upper{target="disk",host="a",level="95"}',
        start_time=now,
        end_time=now + dt.timedelta(days=2),
        step="3600",
    )
    lower = client.custom_query_range(
        'promcast_forecast_lower{target="disk",host="a",level="95"}',
        start_time=now,
        end_time=now + dt.timedelta(days=2),
        step="3600",
    )
    for (_, m), (_, u), (_, lo) in zip(points, upper[0]["values"], lower[0]["values"]):
        assert float(lo) <= m <= float(u)


def test_prometheus_api_client_reads_the_future_in_chunks_and_the_current_value(forecaster):
    # get_metric_range_data sends instant queries of `name{labels}[<chunk>s]`, one per chunk.
    client = PrometheusConnect(url=forecaster, disable_ssl=True)
    now = dt.datetime.now(dt.timezone.utc)
    labels = {"target": "disk", "host": "a"}
    chunks = client.get_metric_range_data(
        "promcast_forecast_mean",
        label_config=labels,
        start_time=now,
        end_time=now + dt.timedelta(days=3),
        chunk_size=dt.timedelta(days=1),
    )
    assert len(chunks) == 3
    assert all(c["metric"] == {"__name__": "promcast_forecast_mean", **labels} for c in chunks)
    points = sorted((float(t), float(v)) for c in chunks for t, v in c["values"])
    assert len(points) >= 71 and len({t for t, _ in points}) == len(points)
    assert now.timestamp() - 1 <= points[0][0] and points[-1][0] <= now.timestamp() + 3 * 86400 + 1
    # The same values as a range query at the curve's own times.
    curve = client.custom_query_range(
        'promcast_forecast_mean{target="disk",host="a"}',
        start_time=dt.datetime.fromtimestamp(points[0][0], dt.timezone.utc),
        end_time=dt.datetime.fromtimestamp(points[-1][0], dt.timezone.utc),
        step="3600",
    )
    assert [(float(t), float(v)) for t, v in curve[0]["values"]] == points
    [current] = client.get_current_metric_value("promcast_forecast_mean", label_config=labels)
    assert float(current["value"][1]) == pytest.approx(points[0][1], abs=0.05)
    r = requests.get(
        f"{forecaster}/api/v1/query_range",
        params={"query": "promcast_forecast_mean[1d]", "start": "0", "end": "10", "step": "1"},
    )
    assert r.status_code == 400 and "range vector" in r.json()["error"]


def test_instant_query_labels_and_series(forecaster):
    client = PrometheusConnect(url=forecaster, disable_ssl=True)
    tomorrow = time.time() + 86400
    res = client.custom_query(
        '{__name__=~"promcast_forecast_(mean|upper)", host="b"}', params={"time": tomorrow}
    )
    assert {r["metric"]["__name__"] for r in res} == {
        "promcast_forecast_mean",
        "promcast_forecast_upper",
    }
    assert all(
        float(r["value"][1]) == pytest.approx(0.3, abs=0.02)
        for r in res
        if r["metric"]["__name__"] == "promcast_forecast_mean"
    )
    assert client.get_label_values("host") == ["a", "b"]
    assert set(client.all_metrics()) == {
        "promcast_forecast_mean",
        "promcast_forecast_lower",
        "promcast_forecast_upper",
    }
    series = requests.get(
        f"{forecaster}/api/v1/series", params={"match[]": 'promcast_forecast_lower{host="a"}'}
    ).json()["data"]
    assert sorted(s["level"] for s in series) == ["80", "95", "99"]  # 99: the anomaly level
    labels = requests.post(f"{forecaster}/api/v1/labels").json()["data"]
    assert {"__name__", "host", "level", "target"} <= set(labels)


def test_functions_are_refused_with_a_clear_error(forecaster):
    client = PrometheusConnect(url=forecaster, disable_ssl=True)
    with pytest.raises(PrometheusApiClientException, match="only series selectors"):
        client.custom_query("rate(promcast_forecast_mean[5m])")
    r = requests.get(
        f"{forecaster}/api/v1/query_range",
        params={"query": "promcast_forecast_mean", "start": "0", "end": "100000", "step": "1"},
    )
    assert r.status_code == 400 and "maximum resolution" in r.json()["error"]


def test_grafana_datasource_health_check_is_answered(forecaster):
    # Grafana's "Save & test" of a Prometheus datasource runs the instant query 1+1 and shows an
    # error unless it gets the scalar 2 back.
    r = requests.post(f"{forecaster}/api/v1/query", data={"query": "1+1", "time": "1700000000"})
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {"resultType": "scalar", "result": [1700000000.0, "2"]}
    assert (
        requests.get(f"{forecaster}/api/v1/query", params={"query": "-(2.5 * 4) / 2"}).json()[
            "data"
        ]["result"][1]
        == "-5"
    )
    # Like Prometheus: IEEE arithmetic, not errors.
    assert [
        requests.get(f"{forecaster}/api/v1/query", params={"query": q}).json()["data"]["result"][1]
        for q in ("1/0", "2^10000", "2^3^2")
    ] == ["+Inf", "+Inf", "512"]
    for expr in ("1 + promcast_forecast_mean", "__import__('os')", "(1).real", "[1]", "9" * 400):
        r = requests.get(f"{forecaster}/api/v1/query", params={"query": expr})
        assert r.status_code == 400, expr


def test_json_api_results_and_adhoc_forecast(forecaster):
    body = requests.get(f"{forecaster}/api/v1/forecasts", params={"target": "disk"}).json()
    [result] = body["data"]
    by_host = {s["labels"]["host"]: s for s in result["series"]}
    assert set(by_host["a"]["horizons"]) == {"1d", "3d"}
    assert 0 < by_host["a"]["exhaustion_seconds"] < 3 * 86400
    assert by_host["b"]["exhaustion_seconds"] == "+Inf"
    assert (
        requests.get(f"{forecaster}/api/v1/forecasts", params={"target": "nope"}).status_code == 404
    )

    r = requests.post(
        f"{forecaster}/api/v1/forecast",
        json={"query": 'disk_ratio{host="a"}', "horizon": "6h", "step": "1h"},
    )
    assert r.status_code == 200, r.text
    [s] = r.json()["data"]["series"]
    assert s["model"] and len(s["curve"]["timestamps"]) == 6 and len(s["curve"]["upper-95"]) == 6
    bad = requests.post(f"{forecaster}/api/v1/forecast", json={"query": "up", "horizon": "soon"})
    assert bad.status_code == 400 and "horizons" in bad.json()["error"]
    bad = requests.post(f"{forecaster}/api/v1/forecast", json={"query": "rate(x[", "horizon": "1h"})
    # Refused before it reaches Prometheus, by the same PromQL check as check-config.
    assert bad.status_code == 400 and "query: not valid PromQL" in bad.json()["error"]


def test_health_and_readiness(forecaster):
    assert requests.get(f"{forecaster}/-/healthy").status_code == 200
    assert requests.get(f"{forecaster}/-/ready").status_code == 200
