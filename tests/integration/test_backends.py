"""The forecaster reading from and writing back (remote write) to a real Prometheus 2.42 and a
real VictoriaMetrics 1.79."""

import asyncio
import json
import time
import urllib.parse
import urllib.request

import aiohttp
import pytest

from demo.stack import http_get
from promcast_common.config import validate
from promcast_forecaster.config import ForecasterConfig
from promcast_forecaster.remote_write import drain
from promcast_forecaster.service import Forecaster
from promcast_forecaster.source import PrometheusSource
from tests.helpers.forecaster import history
from tests.helpers.metrics import exposition, samples
from tests.helpers.vm_fixture import start_victoria_metrics  # noqa: F401 - a fixture

pytestmark = pytest.mark.integration


def config(read_url: str, write_url: str) -> ForecasterConfig:
    return validate(
        ForecasterConfig,
        {
            "prometheus": {"url": read_url},
            "remote_write": {"url": write_url},
            "defaults": {
                "step": "1h",
                "history": "2d",
                "season": "1d",
                "horizons": ["1d", "3d"],
                "capacity": 0.9,
                "lead_time": "7d",
            },
            "targets": [{"name": "disk", "query": "disk_ratio"}],
        },
    )


def cycle_with_write_back(cfg: ForecasterConfig) -> Forecaster:
    fc = Forecaster(cfg)

    async def run():
        async with aiohttp.ClientSession() as session:
            fc.connect_remote_write(session)
            assert await fc.run_cycle(
                fc.targets[0], PrometheusSource.from_config(cfg.prometheus, session)
            )
            assert await drain(fc.remote_write, 30)

    asyncio.run(run())
    return fc


def query(url: str, promql: str) -> list[dict]:
    return json.loads(http_get(f"{url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})))[
        "data"
    ]["result"]


def check_written_back(url: str, fc: Forecaster) -> None:
    res = query(url, 'promcast_forecast_exhaustion_seconds{target="disk"}')
    by_host = {r["metric"]["host"]: float(r["value"][1]) for r in res}
    expected = {s.labels["host"]: s.exhaustion_seconds for s in fc.results["disk"].series}
    assert by_host.keys() == {"a", "b"}
    assert by_host["b"] == expected["b"] == float("inf")
    assert by_host["a"] == pytest.approx(expected["a"])
    bands = query(url, 'promcast_forecast_upper{target="disk",horizon="3d"}')
    assert {r["metric"]["level"] for r in bands} == {"80", "95"}
    counts = fc.remote_write.samples
    assert counts["sent"] > 0 and counts["rejected"] == counts["too_old"] == 0
    assert samples(exposition(fc), "promcast_forecaster_remote_write_samples_total", result="sent")


def test_prometheus_read_and_remote_write(start_prometheus):
    prom = start_prometheus(history())
    fc = cycle_with_write_back(config(prom.url, f"{prom.url}/api/v1/write"))
    check_written_back(prom.url, fc)


def test_victoria_metrics_read_and_remote_write(start_victoria_metrics):
    vm = start_victoria_metrics()
    # History through VictoriaMetrics' Prometheus-text import (it takes millisecond timestamps).
    lines = [line for line in history(days=2.5).splitlines() if not line.startswith("#")]
    body = "\n".join(
        f"{line.rsplit(' ', 1)[0]} {int(line.rsplit(' ', 1)[1]) * 1000}" for line in lines
    )
    urllib.request.urlopen(
        urllib.request.Request(  # loopback
            f"{vm.url}/api/v1/import/prometheus", data=body.encode(), method="POST"
        ),
        timeout=30,
    )
    vm.flush()
    fc = cycle_with_write_back(config(vm.url, f"{vm.url}/api/v1/write"))
    assert len(fc.results["disk"].series) == 2
    deadline = time.monotonic() + 20  # new series become searchable after a flush
    while time.monotonic() < deadline and not query(vm.url, "promcast_forecast_exhaustion_seconds"):
        vm.flush()
        time.sleep(0.5)
    check_written_back(vm.url, fc)
