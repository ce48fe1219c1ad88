"""A file that was readable at start-up and is not any more (a token or CA bundle being rotated,
a volume unmounted) fails each cycle loudly: logged with the key, counted, retried. It used to
leave the service alive but never forecasting, with nothing logged until SIGTERM."""

import asyncio
import logging
import time

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from demo.stack import free_port
from promcast_common.config import validate
from promcast_forecaster.config import ForecasterConfig
from promcast_forecaster.service import Forecaster
from promcast_forecaster.source import PrometheusSource

TARGET = {
    "name": "disk",
    "query": "disk_ratio",
    "step": "1h",
    "history": "2d",
    "season": "1d",
    "horizons": ["1d"],
}


def sample(fc: Forecaster, name: str, labels: dict) -> float | None:
    registry = CollectorRegistry()
    registry.register(fc)
    return registry.get_sample_value(name, labels)


def logged(caplog) -> str:
    """The captured log lines with their context fields, as the logfmt output shows them."""
    return "\n".join(f"{r.getMessage()} {getattr(r, 'err', '')}" for r in caplog.records)


def test_a_tls_file_gone_after_start_fails_each_cycle_with_its_key(caplog):
    # validate() without the file check stands for a config that was fine when loaded.
    cfg = validate(
        ForecasterConfig,
        {
            "prometheus": {
                "url": f"https://127.0.0.1:{free_port()}",
                "tls_config": {"ca_file": "/nonexistent/ca.pem"},
            },
            "targets": [TARGET],
        },
    )
    fc = Forecaster(cfg)

    async def two_cycles() -> list[bool]:
        async with aiohttp.ClientSession() as session:
            src = PrometheusSource.from_config(cfg.prometheus, session)
            return [await fc.run_cycle(fc.targets[0], src) for _ in range(2)]

    with caplog.at_level(logging.ERROR):
        assert asyncio.run(two_cycles()) == [False, False]
    assert "cannot use tls_config.ca_file /nonexistent/ca.pem" in logged(caplog)
    assert (
        sample(fc, "promcast_forecaster_cycles_total", {"target": "disk", "result": "error"}) == 2
    )
    assert fc.ready()[0]  # attempted: /-/ready tells the truth instead of waiting forever


@pytest.mark.integration
def test_an_unreadable_remote_write_token_is_logged_and_counted(start_prometheus, tmp_path, caplog):
    end = int(time.time() // 3600 * 3600 - 3600)
    prom = start_prometheus(
        "# TYPE disk_ratio gauge\n"
        + "".join(
            f'disk_ratio{{host="a"}} 0.5 {t}\n' for t in range(end - 3 * 86400, end + 1, 3600)
        )
    )
    cfg = validate(
        ForecasterConfig,
        {
            "prometheus": {"url": prom.url},
            "remote_write": {
                "url": f"{prom.url}/api/v1/write",
                "bearer_token_file": str(tmp_path / "rotated-away"),
            },
            "targets": [TARGET],
        },
    )
    fc = Forecaster(cfg)

    async def one_cycle() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(fc.run(stop))
        deadline = time.monotonic() + 60
        while not fc.health["disk"].attempted and time.monotonic() < deadline and not task.done():
            await asyncio.sleep(0.05)
        stop.set()
        await task

    with caplog.at_level(logging.ERROR):
        asyncio.run(one_cycle())
    assert fc.health["disk"].up  # the forecast itself is made and served on /metrics
    assert "remote_write.bearer_token_file" in logged(caplog) and "rotated-away" in logged(caplog)
    assert fc.remote_write is None  # nothing queued for a receiver it cannot authenticate to


def test_background_work_that_dies_is_logged_at_once_not_at_shutdown(caplog):
    import os
    import signal

    from aiohttp import web

    from promcast_common.http import serve

    async def background(stop: asyncio.Event) -> None:
        raise RuntimeError("cannot start the cycles")

    async def main() -> bool:
        task = asyncio.create_task(serve(web.Application(), f"127.0.0.1:{free_port()}", background))
        deadline = time.monotonic() + 30
        while "cannot start the cycles" not in caplog.text and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        seen_while_running = "cannot start the cycles" in caplog.text and not task.done()
        os.kill(os.getpid(), signal.SIGTERM)  # serve's handler stops it
        await task
        return seen_while_running

    with caplog.at_level(logging.ERROR):
        assert asyncio.run(main())
    assert "background work stopped with an error" in caplog.text
