"""The shared HTTP side: /metrics rendered once per snapshot, gzip, health and readiness."""

import asyncio
import gzip

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from promcast_common.catalogue import Families
from promcast_common.http import make_app, parse_listen_address


class Counting:
    def __init__(self):
        self.collects = 0
        self.value = 1.0

    def collect(self):
        self.collects += 1
        out = Families()
        out.add("promcast_exporter_refresh_success", {"provider": "x"}, self.value)
        return iter(out)


def scrape_twice_then_change():
    source = Counting()
    reg = CollectorRegistry()
    reg.register(source)
    version = [0]
    app = make_app(reg, "t", lambda: (version[0] > 0, "waiting"), lambda: version[0])

    async def run():
        async with TestClient(TestServer(app)) as client:
            assert (await client.get("/-/ready")).status == 503
            version[0] = 1
            assert (await client.get("/-/ready")).status == 200
            bodies = [await (await client.get("/metrics")).text() for _ in range(2)]
            collects_after_two = source.collects
            source.value = 0.0
            version[0] = 2
            changed = await (await client.get("/metrics")).text()
            gz = await client.get(
                "/metrics", headers={"Accept-Encoding": "gzip"}, auto_decompress=False
            )
            raw = await gz.read()
            return bodies, collects_after_two, changed, gz.headers.get("Content-Encoding"), raw

    return asyncio.run(run())


def test_metrics_are_rendered_once_per_version_and_gzip_is_served():
    bodies, collects, changed, encoding, raw = scrape_twice_then_change()
    assert bodies[0] == bodies[1] and 'provider="x"} 1.0' in bodies[0]
    assert collects == 1  # both scrapes of one version were answered from one render
    assert 'provider="x"} 0.0' in changed
    assert encoding == "gzip" and 'provider="x"} 0.0' in gzip.decompress(raw).decode()


def test_listen_address():
    assert parse_listen_address(":9184") == ("0.0.0.0", 9184)
    assert parse_listen_address("127.0.0.1:1") == ("127.0.0.1", 1)
