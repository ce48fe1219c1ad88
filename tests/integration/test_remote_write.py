"""Remote write: the wire format, batching and retries against a scripted local receiver, and the
round trip through a real Prometheus 2.42 and a real VictoriaMetrics."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import urllib.parse
from typing import Callable

import aiohttp
import cramjam
import pytest
from prometheus_client.core import Metric

from demo.stack import free_port, http_get, wait_until
from promcast_common.catalogue import Families
from promcast_common.logs import LogfmtFormatter
from promcast_forecaster.remote_write import (
    RemoteWriter,
    Series,
    WriteRequest,
    WriteStats,
    batches,
    decode_write_request,
    encode_write_request,
    families_to_timeseries,
    now_ms,
)
from tests.helpers.vm_fixture import start_victoria_metrics  # noqa: F401 - a fixture
from tests.helpers.remote_write import Receiver, receiver

HOUR_MS = 3_600_000


def series(name: str, *samples: tuple[int, float], **labels: str) -> Series:
    return Series(tuple(sorted({**labels, "__name__": name}.items())), tuple(samples))


def many(count: int, ts: int) -> list[Series]:
    return [series("promcast_test", (ts, float(i)), i=str(i)) for i in range(count)]


def forecast_families() -> list[Metric]:
    out = Families()
    lab = {"target": "disk", "instance": "db-1", "mountpoint": "/data"}
    out.add("promcast_forecast_mean", {**lab, "horizon": "1h"}, 42.5)
    out.add("promcast_forecast_mean", {**lab, "horizon": "1d"}, 1e12)
    out.add("promcast_forecast_exhaustion_seconds", lab, math.inf)
    out.add("promcast_forecast_observed", lab, math.nan)
    return list(out)


# Both backends must show exactly these series and values (NaN skipped, +Inf kept).
EXPECTED = {
    ("promcast_forecast_mean", "1h"): "42.5",
    ("promcast_forecast_mean", "1d"): "1000000000000",
    ("promcast_forecast_exhaustion_seconds", None): "+Inf",
}


async def write_to(url: str, data: list[Series], **kwargs: object) -> WriteStats:
    kwargs = {"min_backoff": 0.01, "max_backoff": 0.05, "timeout": 5.0, **kwargs}
    async with aiohttp.ClientSession() as session:
        return await RemoteWriter(url, session, **kwargs).write(data)


def scripted(
    *script: tuple[int, str, dict[str, str]] | int,
    data: list[Series],
    echo_auth: bool = False,
    **kwargs: object,
) -> tuple[WriteStats, Receiver]:
    async def go() -> tuple[WriteStats, Receiver]:
        async with receiver(*script, echo_auth=echo_auth) as rec:
            return await write_to(rec.url, data, **kwargs), rec

    return asyncio.run(go())


def logfmt(caplog: pytest.LogCaptureFixture) -> str:
    """The log as the services print it, key/value extras included."""
    fmt = LogfmtFormatter()
    return "\n".join(fmt.format(r) for r in caplog.records)


# -- wire format and conversion ----------------------------------------------------------------


def test_encoding_round_trip_sorts_labels_and_keeps_values() -> None:
    ts = now_ms()
    data = families_to_timeseries(forecast_families(), ts)
    req = WriteRequest()
    req.ParseFromString(bytes(cramjam.snappy.decompress_raw(encode_write_request(data))))
    got = {}
    for s in req.timeseries:
        names = [lab.name for lab in s.labels]
        assert names == sorted(names) and "__name__" in names
        labels = {lab.name: lab.value for lab in s.labels}
        assert [(smp.timestamp, smp.value) for smp in s.samples] == [
            (ts, smp.value) for smp in s.samples
        ]
        got[(labels["__name__"], labels.get("horizon"))] = s.samples[0].value
    # NaN (the observed value) is skipped, +Inf is kept.
    assert got == {k: float(v) for k, v in EXPECTED.items()}
    assert decode_write_request(encode_write_request(data)) == data


def test_conversion_drops_empty_labels_and_duplicates() -> None:
    fam = Metric("promcast_test", "help", "gauge")
    fam.add_sample("promcast_test", {"b": "1", "a": "", "Z": "z"}, 1.0)
    fam.add_sample("promcast_test", {"b": "1", "Z": "z"}, 2.0)  # the same series: last one wins
    assert families_to_timeseries([fam], 1000) == [
        series("promcast_test", (1000, 2.0), b="1", Z="z")
    ]
    assert (
        families_to_timeseries([fam], 1000)[0].labels[0][0] == "Z"
    )  # byte order, as the spec says


def test_future_timestamp_is_stamped_now(caplog: pytest.LogCaptureFixture) -> None:
    before = now_ms()
    data = families_to_timeseries(forecast_families(), before + HOUR_MS)
    assert all(before <= s.samples[0][0] <= now_ms() for s in data)
    assert "in the future" in caplog.text


def test_batches_keep_order_and_split_long_series() -> None:
    long = series("promcast_test", *((i, float(i)) for i in range(5)))
    got = list(batches([series("promcast_first", (0, 0.0)), long], 2))
    assert [[len(s.samples) for s in b] for b in got] == [[1, 1], [2], [2]]
    assert [smp for b in got for s in b if s.labels == long.labels for smp in s.samples] == list(
        long.samples
    )


def test_round_trips_1000_series_of_60_samples() -> None:
    ts = now_ms()
    data = [
        series("promcast_test", *((ts - 1000 * j, float(j)) for j in range(60, 0, -1)), i=str(i))
        for i in range(1000)
    ]
    assert decode_write_request(encode_write_request(data)) == data


# -- retries, drops, batching against a scripted receiver --------------------------------------


def test_retries_503_then_succeeds() -> None:
    stats, rec = scripted(503, 503, 204, data=many(10, now_ms()))
    assert stats == WriteStats(sent=10, requests=3, retries=2)
    headers = rec.requests[0][0]
    assert headers["Content-Encoding"] == "snappy"
    assert headers["Content-Type"] == "application/x-protobuf"
    assert headers["X-Prometheus-Remote-Write-Version"] == "0.1.0"
    assert headers["User-Agent"].startswith("promcast/")


def test_400_drops_the_batch_without_retry(caplog: pytest.LogCaptureFixture) -> None:
    stats, rec = scripted((400, "out of bounds", {}), data=many(10, now_ms()))
    assert stats == WriteStats(dropped=10, requests=1)
    assert "status=400" in logfmt(caplog) and 'response="out of bounds"' in logfmt(caplog)


def test_batches_of_bounded_size() -> None:
    stats, rec = scripted(204, data=many(5000, now_ms()), max_samples_per_request=2000)
    assert rec.samples_per_request() == [2000, 2000, 1000]
    assert stats == WriteStats(sent=5000, requests=3)


def test_honours_retry_after_within_the_time_budget() -> None:
    started = time.monotonic()
    stats, _ = scripted((429, "slow down", {"Retry-After": "1"}), 204, data=many(3, now_ms()))
    assert stats == WriteStats(sent=3, requests=2, retries=1)
    assert time.monotonic() - started >= 1.0
    # A Retry-After beyond the budget gives up at once instead of blocking the next cycle.
    stats, _ = scripted(
        (503, "", {"Retry-After": "3600"}), data=many(3, now_ms()), max_retry_time=5
    )
    assert stats == WriteStats(failed=3, requests=1)


def test_network_errors_are_retried_then_failed(caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{free_port()}/api/v1/write"  # nothing listens there
    stats = asyncio.run(write_to(url, many(4, now_ms()), max_retries=2, max_samples_per_request=2))
    assert stats == WriteStats(failed=4, requests=6, retries=4)
    assert "giving up" in caplog.text


def test_future_samples_are_refused(caplog: pytest.LogCaptureFixture) -> None:
    ts = now_ms()
    data = [
        series("promcast_test", (ts, 1.0), (ts + HOUR_MS, 2.0)),
        series("promcast_later", (ts + HOUR_MS, 3.0)),
    ]
    stats, rec = scripted(204, data=data)
    assert stats == WriteStats(sent=1, dropped=2, requests=1)
    assert rec.requests[0][1] == [series("promcast_test", (ts, 1.0))]
    assert "future" in caplog.text


@pytest.mark.parametrize(
    "auth",
    [
        {"bearer_token": "t0ken-SECRET"},
        {"basic_auth": ("promcast", "pa55-SECRET")},
        {"url_userinfo": "promcast:pa55-SECRET"},
    ],
)
def test_secrets_never_logged(auth: dict, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def go() -> tuple[WriteStats, Receiver, str]:
        async with receiver(500, 401, echo_auth=True) as rec:
            kwargs = dict(auth)
            url = rec.url
            if "url_userinfo" in kwargs:
                url = url.replace("//", f"//{kwargs.pop('url_userinfo')}@")
            async with aiohttp.ClientSession() as session:
                writer = RemoteWriter(url, session, min_backoff=0.01, **kwargs)
                return await writer.write(many(2, now_ms())), rec, repr(writer)

    stats, rec, shown = asyncio.run(go())
    assert stats == WriteStats(dropped=2, requests=2, retries=1)
    assert rec.requests[0][0]["Authorization"].split()[0] in ("Bearer", "Basic")  # auth was sent
    text = logfmt(caplog) + caplog.text + shown
    assert "SECRET" not in text and rec.requests[0][0]["Authorization"].split()[1] not in text
    assert "<redacted>" in text


# -- real backends -----------------------------------------------------------------------------


def instant(base: str, promql: str, at: float) -> dict[tuple[str, str | None], str]:
    query = urllib.parse.urlencode({"query": promql, "time": f"{at:.3f}"})
    result = json.loads(http_get(f"{base}/api/v1/query?{query}", timeout=10))["data"]["result"]
    return {(r["metric"]["__name__"], r["metric"].get("horizon")): r["value"][1] for r in result}


def assert_round_trip(base: str, write_url: str, flush: Callable[[], None] = lambda: None) -> None:
    ts = now_ms()
    data = families_to_timeseries(forecast_families(), ts)
    assert asyncio.run(write_to(write_url, data)) == WriteStats(sent=3, requests=1)
    flush()
    promql = '{__name__=~"promcast_forecast_.*", target="disk"}'
    wait_until(lambda: len(instant(base, promql, ts / 1000)) == len(EXPECTED), 15, "written series")
    assert instant(base, promql, ts / 1000) == EXPECTED
    got = json.loads(
        http_get(
            f"{base}/api/v1/query?"
            + urllib.parse.urlencode(
                {"query": 'promcast_forecast_mean{horizon="1h"}', "time": f"{ts / 1000:.3f}"}
            )
        )
    )
    assert got["data"]["result"][0]["metric"] == {
        "__name__": "promcast_forecast_mean",
        "target": "disk",
        "instance": "db-1",
        "mountpoint": "/data",
        "horizon": "1h",
    }


@pytest.mark.integration
def test_prometheus_round_trip(start_prometheus) -> None:
    prom = start_prometheus()
    assert_round_trip(prom.url, f"{prom.url}/api/v1/write")


@pytest.mark.integration
def test_prometheus_out_of_bounds_drops_one_batch(
    start_prometheus, caplog: pytest.LogCaptureFixture
) -> None:
    prom = start_prometheus()
    ts = now_ms()
    data = [
        series("promcast_first", (ts, 1.0)),
        series("promcast_old", (ts - 2 * HOUR_MS, 2.0)),
        series("promcast_later", (ts, 3.0)),
    ]
    stats = asyncio.run(write_to(f"{prom.url}/api/v1/write", data, max_samples_per_request=1))
    assert stats == WriteStats(sent=2, dropped=1, requests=3)
    assert 'status=400 response="out of bounds"' in logfmt(caplog)
    assert instant(prom.url, '{__name__=~"promcast_.*"}', ts / 1000) == {
        ("promcast_first", None): "1",
        ("promcast_later", None): "3",
    }


@pytest.mark.integration
def test_victoria_metrics_round_trip(start_victoria_metrics) -> None:
    vm = start_victoria_metrics()
    assert_round_trip(vm.url, f"{vm.url}/api/v1/write", vm.flush)
