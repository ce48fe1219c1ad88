"""Remote write beside the cycles: a receiver that accepts connections and never answers stalls
only the queue, an outage's samples reach a real Prometheus once it is back, what is too old is
dropped and counted, and a remote-write-only setup carries every series the alerts need, so the
capacity and health alerts fire on VictoriaMetrics evaluated by vmalert."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Iterator

import aiohttp
import pytest
import yaml
from prometheus_client import CollectorRegistry

from demo.stack import http_get, wait_until
from promcast_common.config import validate
from promcast_forecaster.config import ForecasterConfig
from promcast_forecaster.remote_write import RemoteWriter, Series, WriteQueue, drain, now_ms
from promcast_forecaster.service import Forecaster
from promcast_forecaster.source import PrometheusSource
from tests.helpers.forecaster import history
from tests.helpers.processes import need
from tests.helpers.remote_write import receiver
from tests.helpers.vm_fixture import replay_rules, start_victoria_metrics  # noqa: F401 - a fixture

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules" / "promcast.rules.yml"
MINUTE_MS = 60_000


def sample(name: str, ts: int, value: float, **labels: str) -> Series:
    return Series(tuple(sorted({**labels, "__name__": name}.items())), ((ts, value),))


@contextlib.contextmanager
def silent_receiver() -> Iterator[str]:
    """A remote-write URL whose server accepts every connection (the kernel's backlog does)
    and never answers: requests hang until the client gives up."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/api/v1/write"


def forecaster_config(
    read_url: str, write_url: str, capacity: float = 0.9, **remote_write: object
) -> ForecasterConfig:
    return validate(
        ForecasterConfig,
        {
            "prometheus": {"url": read_url, "timeout": "5s"},
            "remote_write": {"url": write_url, **remote_write},
            "defaults": {
                "step": "1h",
                "history": "2d",
                "season": "1d",
                "horizons": ["1d", "3d"],
                "capacity": capacity,
                "lead_time": "7d",
                "infer_every": "1s",
            },
            "targets": [
                {"name": "disk", "query": "disk_ratio"},
                {
                    "name": "broken",
                    # parses, but Prometheus refuses it: the cycle fails at run time
                    "query": 'label_replace(disk_ratio, "x", "$1", "host", "(")',
                },
            ],
        },
        "test",
    )


def value(fc: Forecaster, name: str, labels: dict[str, str] | None = None) -> float | None:
    reg = CollectorRegistry()
    reg.register(fc)
    return reg.get_sample_value(name, labels or {})


# -- the queue ---------------------------------------------------------------------------------


def test_put_never_waits_and_a_full_queue_drops_its_oldest_samples() -> None:
    async def go() -> tuple[WriteQueue, list[Series]]:
        async with aiohttp.ClientSession() as session:
            queue = WriteQueue(RemoteWriter("http://127.0.0.1:1/api/v1/write", session), capacity=5)
            ts = now_ms()
            data = [sample("promcast_test", ts + i, float(i)) for i in range(8)]
            queue.put(data)
            return queue, list(queue._queue)

    queue, held = asyncio.run(go())
    assert queue.pending == 5 and queue.samples["overflow"] == 3
    assert [s.samples[0][1] for s in held] == [3.0, 4.0, 5.0, 6.0, 7.0]


def test_silent_receiver_is_counted_and_the_samples_wait_for_it() -> None:
    """Each request times out and counts as failed; nothing is lost while the samples are
    young enough, and they go out when a receiver answers."""

    async def go() -> tuple[WriteQueue, list]:
        async with aiohttp.ClientSession() as session:
            with silent_receiver() as url:
                queue = WriteQueue(
                    RemoteWriter(url, session, timeout=0.2, min_backoff=0.01, max_backoff=0.02)
                )
                queue.put([sample("promcast_test", now_ms(), 1.0)])
                assert not await drain(queue, 1.5)
                failed = queue.failed_requests
            async with receiver(204) as rec:
                queue.writer.url = rec.url
                assert await drain(queue, 10)
                return queue, [failed, rec.requests]

    queue, (failed, requests) = asyncio.run(go())
    assert failed >= 2 and queue.failed_requests == failed
    assert queue.samples == {"sent": 1, "rejected": 0, "too_old": 0, "overflow": 0}
    assert len(requests) == 1


@pytest.mark.integration
def test_outage_samples_reach_prometheus_when_it_is_back_and_too_old_ones_are_counted(
    start_prometheus,
) -> None:
    prom = start_prometheus()
    base = now_ms()
    prom.stop()

    async def go() -> WriteQueue:
        async with aiohttp.ClientSession() as session:
            queue = WriteQueue(
                RemoteWriter(
                    f"{prom.url}/api/v1/write",
                    session,
                    timeout=2,
                    min_backoff=0.05,
                    max_backoff=0.2,
                ),
                max_age=3000,
            )
            stop = asyncio.Event()
            task = asyncio.ensure_future(queue.run(stop))
            # Two "cycles" during the outage, and one sample Prometheus would refuse as out of
            # bounds: sent in the same request it would make the whole request fail.
            queue.put([sample("promcast_test", base - 2 * 3_600_000, 0.0, cycle="old")])
            queue.put([sample("promcast_test", base - 2 * MINUTE_MS, 1.0, cycle="first")])
            queue.put([sample("promcast_test", base - MINUTE_MS, 2.0, cycle="second")])
            for _ in range(200):
                if queue.failed_requests >= 2:
                    break
                await asyncio.sleep(0.05)
            await asyncio.get_running_loop().run_in_executor(None, prom.start)
            for _ in range(400):
                if not queue.pending:
                    break
                await asyncio.sleep(0.05)
            stop.set()
            await task
            return queue

    queue = asyncio.run(go())
    assert queue.failed_requests >= 2
    assert queue.samples == {"sent": 2, "rejected": 0, "too_old": 1, "overflow": 0}
    for cycle, ts, want in (
        ("first", base - 2 * MINUTE_MS, "1"),
        ("second", base - MINUTE_MS, "2"),
    ):
        got = json.loads(
            http_get(
                f"{prom.url}/api/v1/query?"
                + urllib.parse.urlencode(
                    {"query": f'promcast_test{{cycle="{cycle}"}}[1s]', "time": f"{ts / 1000:.3f}"}
                )
            )
        )
        # Stored at the time the sample was made, not when it finally arrived.
        assert got["data"]["result"][0]["values"] == [[ts / 1000, want]]


# -- the service -------------------------------------------------------------------------------


@pytest.mark.integration
def test_silent_receiver_does_not_stall_forecasting(start_prometheus) -> None:
    """With a 30 s remote-write timeout, a push inside the cycle would hold every cycle for
    at least 30 s; beside the cycle, the 1 s cycles go on and the queue just grows."""
    prom = start_prometheus(history())
    with silent_receiver() as url:
        fc = Forecaster(forecaster_config(prom.url, url, timeout="30s"))

        async def go() -> None:
            stop = asyncio.Event()
            task = asyncio.ensure_future(fc.run(stop))
            for _ in range(600):
                if fc.health["disk"].successes >= 3:
                    break
                await asyncio.sleep(0.05)
            stop.set()
            await task

        asyncio.run(go())
    assert fc.health["disk"].successes >= 3
    assert value(fc, "promcast_forecaster_remote_write_pending_samples") > 0
    assert value(fc, "promcast_forecaster_remote_write_samples_total", {"result": "sent"}) == 0


@pytest.mark.integration
def test_every_cycle_pushes_health_lead_time_and_results_failed_ones_too(start_prometheus) -> None:
    prom = start_prometheus(history())

    async def go() -> list[Series]:
        async with receiver(204) as rec:
            fc = Forecaster(forecaster_config(prom.url, rec.url))
            async with aiohttp.ClientSession() as session:
                fc.connect_remote_write(session)
                src = PrometheusSource.from_config(fc.cfg.prometheus, session)
                assert [await fc.run_cycle(t, src) for t in fc.targets] == [True, False]
                assert await drain(fc.remote_write, 10)
            return [s for _, data in rec.requests for s in data]

    written = {
        (dict(s.labels)["__name__"], dict(s.labels).get("target")): s.samples[0][1]
        for s in asyncio.run(go())
    }
    for name in (
        "promcast_forecaster_target_up",
        "promcast_forecaster_results_stale",
        "promcast_forecaster_last_success_timestamp_seconds",
        "promcast_forecaster_cycle_duration_seconds",
        "promcast_target_lead_time_seconds",
        "promcast_target_horizon_seconds",
    ):
        assert (name, "disk") in written and (name, "broken") in written, name
    assert written[("promcast_forecaster_target_up", "broken")] == 0
    assert written[("promcast_forecaster_last_success_timestamp_seconds", "broken")] == 0
    assert written[("promcast_target_lead_time_seconds", "disk")] == 7 * 86400
    assert ("promcast_forecast_exhaustion_seconds", "disk") in written
    assert ("promcast_build_info", None) in written


# -- alerts from remote write alone: VictoriaMetrics + vmalert ---------------------------------


def vm_import(url: str, text: str) -> None:
    """Prometheus text with second timestamps, through VictoriaMetrics' import (milliseconds)."""
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    body = "\n".join(
        f"{line.rsplit(' ', 1)[0]} {int(line.rsplit(' ', 1)[1]) * 1000}" for line in lines
    )
    urllib.request.urlopen(
        urllib.request.Request(  # loopback
            f"{url}/api/v1/import/prometheus", data=body.encode(), method="POST"
        ),
        timeout=30,
    )


@pytest.mark.integration
def test_capacity_and_stale_alerts_fire_on_victoria_metrics_with_vmalert(
    start_victoria_metrics, tmp_path: Path
) -> None:
    """No scrape at all: the forecaster reads VictoriaMetrics and writes back to it, and vmalert
    evaluates the real rule file over the last 12 minutes (its replay mode, which runs each
    alert's real `for:`). `disk` host a is over its capacity (0.8 of 0.7), so its time to
    exhaustion (0) is inside its 7-day lead time; `broken` never completes a cycle."""
    need("vmalert")
    vm = start_victoria_metrics()
    vm_import(vm.url, history(days=2.5))
    vm.flush()
    cfg = forecaster_config(vm.url, f"{vm.url}/api/v1/write", capacity=0.7, max_sample_age="1d")
    fc = Forecaster(cfg)
    fc.replay_stamps = True  # each replayed cycle's results at its own instant
    end = time.time() // 60 * 60 - 60
    start = end - 12 * 60

    async def replay() -> None:
        async with aiohttp.ClientSession() as session:
            fc.connect_remote_write(session)
            src = PrometheusSource.from_config(cfg.prometheus, session)
            for at in range(int(start), int(end) + 1, 60):
                for target in fc.targets:
                    await fc.run_cycle(target, src, at=at)
            assert await drain(fc.remote_write, 30)

    asyncio.run(replay())
    assert fc.remote_write.samples["sent"] > 0
    vm.flush()
    replay_rules(vm, RULES, start, end, tmp_path)

    def firing() -> set[tuple[str, str, str]]:
        got = json.loads(
            http_get(
                f"{vm.url}/api/v1/query?"
                + urllib.parse.urlencode(
                    {"query": 'ALERTS{alertstate="firing"}', "time": f"{end:.0f}"}
                ),
                timeout=10,
            )
        )
        return {
            (r["metric"]["alertname"], r["metric"].get("target", ""), r["metric"].get("host", ""))
            for r in got["data"]["result"]
        }

    wait_until(lambda: bool(firing()), 20, "vmalert's ALERTS series in VictoriaMetrics")
    alerts = firing()
    assert ("PromcastCapacityExhaustionSoon", "disk", "a") in alerts
    assert ("PromcastForecasterStale", "broken", "") in alerts
    assert not {a for a in alerts if a[0] == "PromcastForecasterStale" and a[1] == "disk"}
    assert not {a for a in alerts if a[0].startswith("PromcastCapacityExhaustion") and a[2] == "b"}


# -- the documentation -------------------------------------------------------------------------


def test_the_documented_remote_write_example_is_valid_and_shows_the_defaults() -> None:
    import re

    from promcast_forecaster.config import RemoteWrite

    doc = (ROOT / "docs" / "configuration.md").read_text()
    block = re.search(r"```yaml\n(remote_write:\n.*?)```", doc, re.S).group(1)
    cfg = validate(ForecasterConfig, yaml.safe_load(block), "docs/configuration.md").remote_write
    assert cfg == RemoteWrite(url=cfg.url)
    with pytest.raises(Exception, match="min_backoff"):
        validate(
            ForecasterConfig,
            {
                "remote_write": {
                    "url": "http://x/api/v1/write",
                    "min_backoff": "1m",
                    "max_backoff": "1s",
                }
            },
            "t",
        )
