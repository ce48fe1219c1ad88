"""Recommendations against a real Prometheus holding ten days of the demo fleet: the runner, the
service's series and the `recommend` CLI's table, JSON and CSV."""

from __future__ import annotations

import asyncio
import csv
import io
import json

import numpy as np
import pytest
import yaml

from promcast_common.openmetrics import write_openmetrics
from promcast_exporter.providers.demo.provider import samples
from tests.helpers import metrics
from tests.helpers.anchors import ANCHORS, TIME_OF_DAY


pytestmark = pytest.mark.integration
DAY = 86400.0
SETTINGS = {
    "rightsizing": {"history": "9d", "horizon": "7d", "model": "seasonal_naive_drift"},
    "idle": {"days": 7, "cpu_max_ratio": 0.1, "cpu_quantile": 0.95},
    "commitments": {
        "history": "9d",
        "max_horizon": "30d",
        "model": "seasonal_naive_drift",
        "spend": 'sum by (provider) (promcast_cost_hourly_rate_usd{cost_type="list"})',
    },
}


def history_before(anchor: float) -> tuple[float, np.ndarray]:
    """The analyses' instant on the anchor's day and ten days of 10-minute steps before it."""
    now = anchor + TIME_OF_DAY
    return now, np.arange(now // 600 * 600 - 10 * DAY, now - 600, 600.0)


@pytest.fixture(scope="module")
def prom(tmp_path_factory):
    """One Prometheus holding ten days of the demo fleet before each anchor (each window is the
    fleet as it looks at its own anchor; the windows do not overlap)."""
    from demo.stack import free_port
    from tests.helpers.processes import PrometheusProc, backfill, need

    need("prometheus")
    need("promtool")
    out = io.StringIO()

    def windows():
        for anchor in ANCHORS.values():
            _, t = history_before(anchor)
            yield from ((n, lab, t, v) for n, lab, v in samples(anchor, t))

    write_openmetrics(windows(), out)
    work = tmp_path_factory.mktemp("recommend")
    (work / "prometheus.yml").write_text(yaml.safe_dump({"global": {"scrape_interval": "15s"}}))
    backfill(out.getvalue(), work / "data")
    port = free_port()
    p = PrometheusProc(f"http://127.0.0.1:{port}", port, work, None, retention="5y")
    p.start()
    yield p
    p.stop()


@pytest.mark.parametrize("anchor", list(ANCHORS.values()), ids=list(ANCHORS))
def test_runner_against_prometheus_with_demo_history(prom, anchor):
    import aiohttp
    from prometheus_client import CollectorRegistry, generate_latest

    from promcast_common.config import validate
    from promcast_forecaster.config import ForecasterConfig
    from promcast_forecaster.service import Forecaster
    from promcast_forecaster.source import PrometheusSource

    cfg = validate(ForecasterConfig, {"prometheus": {"url": prom.url}, "recommendations": SETTINGS})
    fc = Forecaster(cfg)

    async def cycle():
        async with aiohttp.ClientSession() as session:
            return await fc.run_recommendations_cycle(
                PrometheusSource.from_config(cfg.prometheus, session), at=history_before(anchor)[0]
            )

    assert asyncio.run(cycle())
    report = fc.report
    by_id = {z.labels["resource_id"]: z for z in report.sizings}
    assert len(by_id) == 20, report.skipped
    # The CI runners (8 vCPU at ~8% CPU) need far less; the growing ML box cannot shrink.
    ci = by_id["ci-1"]
    assert ci.action == "downsize" and ci.monthly_saving > 0 and ci.recommended.vcpus < 8
    assert ci.price_source == "price_series" and ci.current_type == "Standard_D8s_v5"
    assert by_id["ml-1"].action in {"keep", "upsize", "no_fitting_type"}
    states = {f.labels["resource_id"]: f.state for f in report.idle}
    assert states.get("bastion-1") == "idle" and states.get("ci-1") == "overprovisioned"
    assert "web-1" not in states
    plans = {(p.labels["provider"], p.option.name): p for p in report.plans}
    assert {prov for prov, _ in plans} == {"aws", "gcp", "azure"}
    for p in plans.values():
        assert 0 < p.hourly_commitment < p.expected_spend and 0 < p.coverage <= 1
    reg = CollectorRegistry()
    reg.register(fc)
    text = generate_latest(reg).decode()
    assert metrics.value(text, "promcast_forecaster_target_up", target="recommendations") == 1.0
    assert metrics.samples(text, "promcast_recommendation_monthly_saving_usd", kind="idle")
    assert metrics.samples(text, "promcast_rightsizing_info")


def test_cli_prints_a_ranked_table_and_writes_json_and_csv(prom, tmp_path, capsys):
    from promcast_forecaster.cli import main

    cfg = tmp_path / "f.yml"
    cfg.write_text(yaml.safe_dump({"prometheus": {"url": prom.url}, "recommendations": SETTINGS}))
    at = f"--time={history_before(ANCHORS['sunday-in-december'])[0]:.0f}"
    assert (
        main(
            [
                "--config.file",
                str(cfg),
                "--log.level",
                "warn",
                "recommend",
                at,
                "--out",
                str(tmp_path / "r.json"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["#", "kind", "subject"]
    assert "bastion-1" in out and "730 h a month" in out
    data = json.loads((tmp_path / "r.json").read_text())["recommendations"]
    savings = [r["monthly_saving_usd"] for r in data]
    assert savings == sorted(savings, reverse=True) and savings[0] > 0
    assert (
        main(
            [
                "--config.file",
                str(cfg),
                "--log.level",
                "warn",
                "recommend",
                at,
                "--top",
                "3",
                "--out",
                str(tmp_path / "r.csv"),
            ]
        )
        == 0
    )
    assert len(list(csv.DictReader((tmp_path / "r.csv").open()))) == len(data)
    assert len(capsys.readouterr().out.splitlines()) == 1 + 3 + 2
