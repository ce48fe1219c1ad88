"""Scale-out as the sharded Kubernetes overlay runs it: N forecaster shards publish exactly what
one instance publishes, written back to Prometheus and to VictoriaMetrics; and with three real
shard processes scraped by a real Prometheus, a shard that dies leaves its series stale and
PromcastForecasterStale firing for it alone while the other shards keep going."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import aiohttp
import pytest
import yaml

from demo.stack import free_port, http_get, spawn, terminate, wait_until
from promcast_common.config import validate
from promcast_forecaster.config import ForecasterConfig
from promcast_forecaster.remote_write import drain
from promcast_forecaster.service import Forecaster
from promcast_forecaster.source import PrometheusSource
from rules.config import load as load_alerting
from rules.generate import rule_groups
from tests.helpers.vm_fixture import start_victoria_metrics  # noqa: F401 - a fixture

pytestmark = pytest.mark.integration

HOSTS = 24
SHARDS = 3
STEP = 300


def history_end() -> int:
    return int(time.time() // STEP * STEP - STEP)


def history(end: int, days: float = 2) -> list[str]:
    """disk_ratio for HOSTS hosts, each growing at its own rate (some cross 0.9 soon)."""
    lines = []
    for h in range(HOSTS):
        level, per_day = 0.3 + 0.025 * h, 0.004 * (h % 6)
        lines += [
            f'disk_ratio{{host="h{h:02d}"}} {level + per_day * (t - end) / 86400:.5f} {t}'
            for t in range(end - int(days * 86400), end + 1, STEP)
        ]
    return lines


def openmetrics(end: int) -> str:
    return "# TYPE disk_ratio gauge\n" + "\n".join(history(end)) + "\n"


def query(url: str, promql: str) -> list[dict]:
    body = http_get(f"{url}/api/v1/query?" + urllib.parse.urlencode({"query": promql}), timeout=10)
    return json.loads(body)["data"]["result"]


def forecast_samples(url: str) -> set[tuple]:
    """Every promcast_forecast_* series (not the forecaster's self-monitoring) with its value."""
    res = query(url, '{__name__=~"promcast_forecast_.+"}')
    return {(tuple(sorted(r["metric"].items())), r["value"][1]) for r in res}


def settings(read_url: str, write_url: str) -> ForecasterConfig:
    return validate(
        ForecasterConfig,
        {
            "prometheus": {"url": read_url, "timeout": "10s"},
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


def run_and_write_back(cfg: ForecasterConfig, shard: int, shards: int, at: float) -> int:
    """One cycle of one instance at a fixed instant, its results remote-written; its series."""
    fc = Forecaster(cfg, shard, shards)

    async def run() -> None:
        async with aiohttp.ClientSession() as session:
            fc.connect_remote_write(session)
            source = PrometheusSource.from_config(cfg.prometheus, session)
            assert await fc.run_cycle(fc.targets[0], source, at=at)
            assert await drain(fc.remote_write, 30)

    asyncio.run(run())
    samples = fc.remote_write.samples
    assert samples["sent"] > 0 and samples["rejected"] == samples["too_old"] == 0
    return len(fc.results["disk"].series)


@pytest.mark.parametrize("backend", ["prometheus", "victoria-metrics"])
def test_shards_write_back_exactly_what_one_instance_writes(
    backend, start_prometheus, start_victoria_metrics
):
    end = history_end()
    if backend == "prometheus":
        single = start_prometheus(openmetrics(end), name="single")
        sharded = start_prometheus(name="sharded")
        flush = lambda: None  # noqa: E731 - remote-written samples are searchable at once
    else:
        single, sharded = start_victoria_metrics("single"), start_victoria_metrics("sharded")
        body = "\n".join(
            f"{line.rsplit(' ', 1)[0]} {int(line.rsplit(' ', 1)[1]) * 1000}"
            for line in history(end)
        )
        urllib.request.urlopen(
            urllib.request.Request(  # loopback
                f"{single.url}/api/v1/import/prometheus", data=body.encode(), method="POST"
            ),
            timeout=30,
        )

        def flush() -> None:
            single.flush()
            sharded.flush()

    flush()
    # Every instance reads the history from `single`; one instance writes back there, the
    # shards into `sharded`, and the two backends must then hold the same forecast series.
    alone = run_and_write_back(settings(single.url, f"{single.url}/api/v1/write"), 0, 1, end)
    per_shard = [
        run_and_write_back(settings(single.url, f"{sharded.url}/api/v1/write"), i, SHARDS, end)
        for i in range(SHARDS)
    ]
    assert alone == HOSTS and sum(per_shard) == HOSTS and all(per_shard)

    def both_complete() -> bool:
        flush()
        hosts = [
            {m["metric"]["host"] for m in query(b.url, "promcast_forecast_exhaustion_seconds")}
            for b in (single, sharded)
        ]
        return all(len(h) == HOSTS for h in hosts)

    wait_until(both_complete, 30, f"forecasts written back to {backend}")
    one, many = forecast_samples(single.url), forecast_samples(sharded.url)
    assert len(one) > HOSTS
    assert many == one


def stale_alert_rules(path: Path, threshold_s: int) -> Path:
    """The shipped health alerts generated with the forecaster's staleness threshold lowered to
    `threshold_s` (the alerting config's way), evaluated every second and with no `for:` (a test
    cannot wait 15 minutes); the alert's expression is the shipped one."""
    config = path.with_name("alerting.yml")
    config.write_text(yaml.safe_dump({"thresholds": {"forecaster_stale_seconds": threshold_s}}))
    groups = {g["name"]: g for g in rule_groups(load_alerting(config))}
    kept = [groups["promcast.health.alerts"]]
    for group in kept:
        group["interval"] = "1s"
        for rule in group["rules"]:
            if rule.get("alert") == "PromcastForecasterStale":
                rule["for"] = "0s"
    path.write_text(yaml.safe_dump({"groups": kept}))
    return path


def test_a_dead_shard_goes_stale_and_alerts_while_the_others_keep_going(tmp_path, start_prometheus):
    ports = [free_port() for _ in range(SHARDS)]
    instances = [f"127.0.0.1:{p}" for p in ports]
    prom = start_prometheus(
        openmetrics(history_end()),
        scrape_configs=[
            {
                "job_name": "promcast-forecaster",
                "honor_labels": True,
                "scrape_interval": "1s",
                "static_configs": [{"targets": instances}],
            }
        ],
        rule_files=[str(stale_alert_rules(tmp_path / "stale.rules.yml", threshold_s=10))],
    )
    cfg = tmp_path / "forecaster.yml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "prometheus": {"url": prom.url, "timeout": "10s"},
                "defaults": {
                    "step": "1h",
                    "history": "2d",
                    "season": "1d",
                    "horizons": ["1d"],
                    "capacity": 0.9,
                    "infer_every": "1s",
                    "fit_every": "1h",
                },
                "targets": [{"name": "disk", "query": "disk_ratio"}],
            }
        )
    )
    procs = []
    try:
        for i, port in enumerate(ports):
            procs.append(
                spawn(
                    tmp_path,
                    f"shard{i}",
                    [
                        sys.executable,
                        "-m",
                        "promcast_forecaster",
                        f"--config.file={cfg}",
                        f"--web.listen-address=127.0.0.1:{port}",
                        f"--shard.index={i}",
                        f"--shard.count={SHARDS}",
                    ],
                    f"http://127.0.0.1:{port}/-/healthy",
                )
            )

        def per_instance(promql: str) -> dict[str, float]:
            return {r["metric"]["instance"]: float(r["value"][1]) for r in query(prom.url, promql)}

        def all_shards_scraped() -> bool:
            counts = per_instance("count by (instance) (promcast_forecast_exhaustion_seconds)")
            return len(counts) == SHARDS and sum(counts.values()) == HOSTS

        wait_until(all_shards_scraped, 60, "every shard's forecasts in Prometheus")
        shares = per_instance("count by (instance) (promcast_forecast_exhaustion_seconds)")
        assert all(shares.values())
        # Before its first cycle a shard reports its last success as 0: with `for: 0s` the alert
        # is active for that moment, and must clear once every shard has completed a cycle.
        wait_until(
            lambda: query(prom.url, 'ALERTS{alertname="PromcastForecasterStale"}') == [],
            30,
            "no PromcastForecasterStale while every shard runs",
        )

        dead = instances[1]
        terminate([procs[1]])
        wait_until(
            lambda: bool(
                query(prom.url, 'ALERTS{alertname="PromcastForecasterStale",alertstate="firing"}')
            ),
            60,
            "PromcastForecasterStale for the dead shard",
        )
        firing = query(prom.url, 'ALERTS{alertname="PromcastForecasterStale",alertstate="firing"}')
        assert {(a["metric"]["instance"], a["metric"]["target"]) for a in firing} == {
            (dead, "disk")
        }
        # The dead shard's series are stale (gone from instant queries), the others' are not.
        assert per_instance('up{job="promcast-forecaster"}') == {
            i: (0.0 if i == dead else 1.0) for i in instances
        }
        assert per_instance("count by (instance) (promcast_forecast_exhaustion_seconds)") == {
            i: n for i, n in shares.items() if i != dead
        }
        # ...and the live shards keep completing cycles.
        cycles = 'promcast_forecaster_cycles_total{result="success",target="disk"}'
        before = per_instance(cycles)
        assert set(before) == set(instances) - {dead}
        wait_until(
            lambda: all(v > before[i] for i, v in per_instance(cycles).items()),
            30,
            "cycles of the live shards",
        )
        still = query(prom.url, 'ALERTS{alertname="PromcastForecasterStale"}')
        assert {a["metric"]["instance"] for a in still} == {dead}
    finally:
        terminate(procs)
