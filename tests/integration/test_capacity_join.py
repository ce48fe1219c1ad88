"""Capacity queries at fleet scale: a target's series are joined to their capacity series by
index, off the event loop, within the target's series limit, so that /-/healthy answers during
the join (it used to be N x M label comparisons on the loop: 3,000 x 20,000 blocked it a minute).
"""

from __future__ import annotations

import asyncio
import logging
import math
import subprocess
import sys
import threading
import time

import aiohttp
import numpy as np
import pytest
import requests
import yaml
from prometheus_client import CollectorRegistry

from demo.stack import free_port, terminate
from promcast_common.config import validate
from promcast_forecaster import engine, source
from promcast_forecaster.config import ForecasterConfig
from promcast_forecaster.engine import MAX_CAPACITY_LABEL_SETS, CapacityError, match_capacity
from promcast_forecaster.service import Forecaster
from promcast_forecaster.source import PrometheusSource, RawSeries
from tests.helpers.fake_prometheus import FakePrometheus, fleet_answers, matrix

STEP = 3600.0
END = 1_790_000_000.0 // STEP * STEP  # a fixed anchor for the in-process cycles
BOUND = 120  # seconds after which a test gives up instead of hanging


class CountingLabels(dict):
    """A series' labels that count how often the join reads them."""

    reads = 0

    def get(self, key, default=None):
        CountingLabels.reads += 1
        return super().get(key, default)


def one_point(value: float) -> tuple[np.ndarray, np.ndarray]:
    return np.array([END]), np.array([value])


def test_the_join_reads_each_series_labels_once_per_label_scheme_not_once_per_capacity_series():
    n, m = 300, 3000
    series = [
        RawSeries(CountingLabels(host=f"h{i}", dev="sda", target="t"), *one_point(0))
        for i in range(n)
    ]
    caps = [
        RawSeries({"__name__": "size", "host": f"h{j}", "dev": "sda"}, *one_point(j))
        for j in range(m)
    ]
    CountingLabels.reads = 0
    out = match_capacity(series, caps)
    assert list(out) == list(range(n))
    # Two labels per lookup, one label scheme: 2 reads per series. Scanning the capacity
    # series for each series read them n x m x 2 = 1.8 million times.
    assert CountingLabels.reads == 2 * n


def test_the_first_matching_capacity_series_wins_across_label_schemes():
    series = [
        RawSeries({"host": "a", "dev": "x"}, *one_point(0)),
        RawSeries({"host": "b", "dev": "y"}, *one_point(0)),
        RawSeries({"host": "c", "dev": "z"}, *one_point(0)),
    ]
    caps = [
        RawSeries({"host": "b", "dev": "y"}, *one_point(5.0)),
        RawSeries({"host": "a"}, *one_point(1.0)),
        RawSeries({"host": "a", "dev": "x"}, *one_point(2.0)),  # later: loses to host=a
        RawSeries({"host": "b"}, *one_point(6.0)),  # later: loses to host,dev
        RawSeries({"host": "a"}, *one_point(3.0)),  # a duplicate, later
        RawSeries({"host": "c"}, *one_point(-1.0)),  # unusable: ignored
        RawSeries({"host": "c", "dev": "z", "x": "1"}, *one_point(7.0)),
    ]  # x not on c
    assert list(match_capacity(series, caps)[:2]) == [1.0, 5.0]
    assert math.isnan(match_capacity(series, caps)[2])
    # A label-less capacity series applies to every series not matched before it.
    assert list(match_capacity(series, [caps[0], RawSeries({}, *one_point(9.0))])) == [
        9.0,
        5.0,
        9.0,
    ]


def test_a_capacity_result_with_too_many_label_schemes_is_refused_by_name():
    caps = [RawSeries({f"l{j}": "v"}, *one_point(1.0)) for j in range(MAX_CAPACITY_LABEL_SETS + 1)]
    with pytest.raises(CapacityError, match="different sets of label names"):
        match_capacity([RawSeries({"l0": "v"}, *one_point(0))], caps)
    assert match_capacity([RawSeries({"l0": "v"}, *one_point(0))], caps[:-1])[0] == 1.0


def fleet_config(url: str, max_series: int, **target) -> dict:
    return {
        "prometheus": {"url": url, "timeout": "60s"},
        "limits": {"max_series_per_target": max(max_series, 10)},
        "targets": [
            {
                "name": "disks",
                "query": "used",
                "capacity": "size",
                "step": "1h",
                "history": "6h",
                "season": 0,
                "horizons": ["1h"],
                "model": "seasonal_naive",
                "staleness": "1d",
                "max_series": max_series,
                **target,
            }
        ],
    }


def test_the_join_and_the_decoding_run_off_the_event_loop(monkeypatch):
    """In-process, against a query API on loopback: while the join and the decoding of the
    capacity answer run, the event loop keeps turning (each waits, in its thread, for three
    turns of the loop; on the loop's own thread they would wait for ever, up to BOUND)."""
    ticks = [0]
    seen: dict[str, tuple[bool, bool]] = {}

    def waits_for_the_loop(name, real):
        def wrapper(*args):
            first = ticks[0]
            deadline = time.monotonic() + BOUND
            while ticks[0] < first + 3 and time.monotonic() < deadline:
                time.sleep(0.001)
            seen[name] = (threading.get_ident() != loop_thread[0], ticks[0] >= first + 3)
            return real(*args)

        return wrapper

    loop_thread = [0]
    monkeypatch.setattr(
        "promcast_forecaster.scheduler.match_capacity",
        waits_for_the_loop("join", engine.match_capacity),
    )
    monkeypatch.setattr(
        "promcast_forecaster.source.parse_matrix", waits_for_the_loop("decode", source.parse_matrix)
    )

    async def main(url):
        loop_thread[0] = threading.get_ident()
        stop = asyncio.Event()

        async def ticker():
            while not stop.is_set():
                ticks[0] += 1
                await asyncio.sleep(0.001)

        tick = asyncio.ensure_future(ticker())
        cfg = validate(ForecasterConfig, fleet_config(url, 50))
        fc = Forecaster(cfg)
        async with aiohttp.ClientSession() as session:
            ok = await fc.run_cycle(
                fc.targets[0], PrometheusSource.from_config(cfg.prometheus, session), at=END + 60
            )
        stop.set()
        await tick
        return fc, ok

    with FakePrometheus(fleet_answers(40, 50)) as prom:
        fc, ok = asyncio.run(main(prom.url))
    assert ok
    assert seen == {"join": (True, True), "decode": (True, True)}
    caps = {s.labels["host"]: s.capacity for s in fc.results["disks"].series}
    assert len(caps) == 40 and set(caps.values()) == {1.0}


def cycle_errors(fc: Forecaster) -> float:
    reg = CollectorRegistry()
    reg.register(fc)
    return reg.get_sample_value(
        "promcast_forecaster_cycles_total", {"target": "disks", "result": "error"}
    )


def test_a_capacity_query_over_the_series_limit_fails_the_cycle_naming_target_and_query(caplog):
    async def main(url, max_series):
        cfg = validate(ForecasterConfig, fleet_config(url, max_series))
        fc = Forecaster(cfg)
        async with aiohttp.ClientSession() as session:
            ok = await fc.run_cycle(
                fc.targets[0], PrometheusSource.from_config(cfg.prometheus, session), at=END + 60
            )
        return fc, ok

    with FakePrometheus(fleet_answers(20, 500)) as prom, caplog.at_level(logging.ERROR):
        fc, ok = asyncio.run(main(prom.url, 100))
        assert not ok and cycle_errors(fc) == 1
        errors = [r.err for r in caplog.records if hasattr(r, "err")]
        assert errors and "target disks" in errors[0] and "'size'" in errors[0]
        assert "more than 100 series" in errors[0] and "max_series" in errors[0]
        # As many capacity series as the target's query returned are allowed, some of which
        # max_series then drops.
        fc, ok = asyncio.run(main(prom.url, 500))
        assert ok and len(fc.results["disks"].series) == 20


def test_health_answers_while_a_fleet_is_joined_to_its_capacities(tmp_path):
    """The defect as found, against a forecaster process: 3,000 series joined to 20,000 capacity
    series. Between the capacity answer leaving the query API and the cycle's next query (sent
    right after the join: the series have too little history to fit, so the cycle asks which
    series exist now), /-/healthy must keep answering. Blocked in the join, the
    loop answered nothing until the join was over, and the next query followed at once."""
    with FakePrometheus(fleet_answers(3000, 20000, usable=False)) as prom:
        cfg = tmp_path / "forecaster.yml"
        cfg.write_text(yaml.safe_dump(fleet_config(prom.url, 20000)))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        stop = threading.Event()
        probes: list[tuple[float, float]] = []

        def probe():
            while not stop.is_set():
                sent = time.monotonic()
                try:
                    ok = requests.get(f"{url}/-/healthy", timeout=BOUND).status_code == 200
                except requests.RequestException:
                    time.sleep(0.05)
                    continue
                if ok:
                    probes.append((sent, time.monotonic()))

        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        log = tmp_path / "forecaster.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "promcast_forecaster",
                    "--config.file",
                    str(cfg),
                    f"--web.listen-address=127.0.0.1:{port}",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            deadline = time.monotonic() + BOUND
            while not any(
                t > min(prom.times("size"), default=math.inf) for t in prom.times("used")
            ):
                assert time.monotonic() < deadline, log.read_text()[-2000:]
                assert proc.poll() is None, log.read_text()[-2000:]
                time.sleep(0.1)
        finally:
            stop.set()
            prober.join(BOUND)
            terminate([proc])
    joined_from = prom.times("size")[0]
    joined_by = [t for t in prom.times("used", "asked") if t > joined_from][0]
    during = [p for p in probes if p[0] >= joined_from and p[1] <= joined_by]
    # Relative to the join's own length, not a count or a time: how busy the machine is scales
    # both. A blocked loop leaves one gap spanning most of the join; a free one only probe-sized gaps.
    edges = [joined_from, *(answered for _, answered in during), joined_by]
    longest = max(b - a for a, b in zip(edges, edges[1:]))
    print(
        f"health answered {len(during)} times during a {joined_by - joined_from:.2f} s join, "
        f"longest silence {longest:.2f} s"
    )
    assert longest < 0.5 * (joined_by - joined_from), (len(probes), log.read_text()[-2000:])
    assert "Traceback" not in log.read_text()


def test_an_answer_over_the_body_size_limit_is_refused_naming_query_and_key():
    big = matrix([({"__name__": "used", "host": f"h{i}"}, [(END, 1.0)]) for i in range(5000)])

    async def read(url, limit):
        cfg = validate(ForecasterConfig, {"prometheus": {"url": url, "body_size_limit": limit}})
        async with aiohttp.ClientSession() as session:
            return await PrometheusSource.from_config(cfg.prometheus, session).query_range(
                "used", END, END, STEP
            )

    with FakePrometheus({"used": big}) as prom:
        with pytest.raises(
            source.QueryError, match=r"'used' is over prometheus.body_size_limit=65536"
        ):
            asyncio.run(read(prom.url, 65536))
        assert len(asyncio.run(read(prom.url, len(big)))) == 5000


def test_malformed_series_in_an_answer_are_a_query_error():
    with pytest.raises(source.QueryError, match="malformed series"):
        source.parse_matrix(
            b'{"status":"success","data":{"resultType":"matrix","result":'
            b'[{"metric":{},"values":[[1,"x"]]}]}}'
        )
    with pytest.raises(source.QueryError, match="malformed series"):
        source.parse_matrix(
            b'{"status":"success","data":{"resultType":"matrix","result":'
            b'[{"metric":{},"values":[[1],[2]]}]}}'
        )
    assert source.parse_matrix(b"[1]") == ({}, None)
    # Decoded a series at a time, but as strictly as JSON: a missing comma, a trailing one or
    # an unclosed list is no answer.
    for broken in (b'[{"metric":{}} {"metric":{}}]}}', b'[{"metric":{}},]}}', b'[{"metric":{}}'):
        assert source.parse_matrix(
            b'{"status":"success","data":{"resultType":"matrix","result":' + broken
        ) == ({}, None)
    # VictoriaMetrics' layout (isPartial), whitespace, warnings after the result.
    body, series = source.parse_matrix(
        b'{"status":"success","isPartial":false,"data":{"resultType":'
        b'"matrix","result":[ {"metric":{"a":"b"},"values":[[1,"NaN"],'
        b'[2,"+Inf"]]} ,\n{"metric":{}}]},"warnings":["w"]}'
    )
    assert body["warnings"] == ["w"]
    assert series[0].labels == {"a": "b"} and list(series[0].timestamps) == [1, 2]
    assert np.isnan(series[0].values[0]) and series[0].values[1] == np.inf
    assert len(series[1].values) == 0


def test_the_adhoc_capacity_query_is_bounded_like_its_query(tmp_path):
    with FakePrometheus(fleet_answers(3, 50)) as prom:
        cfg = tmp_path / "forecaster.yml"
        cfg.write_text(yaml.safe_dump({"prometheus": {"url": prom.url}}))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "promcast_forecaster",
                "--config.file",
                str(cfg),
                f"--web.listen-address={url[7:]}",
                "--query.max-series=10",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + BOUND
            while True:
                assert proc.poll() is None and time.monotonic() < deadline
                try:
                    if requests.get(f"{url}/-/ready", timeout=5).ok:
                        break
                except requests.RequestException:
                    time.sleep(0.2)
            body = {"query": "used", "horizon": "1h", "step": "1h", "history": "6h", "season": 0}
            resp = requests.post(
                f"{url}/api/v1/forecast", json={**body, "capacity": "size"}, timeout=BOUND
            )
            assert resp.status_code == 400, resp.text
            error = resp.json()["error"]
            assert "capacity query 'size' returns more than 10 series" in error
            assert "--query.max-series" in error
            resp = requests.post(
                f"{url}/api/v1/forecast", json={**body, "capacity": 2}, timeout=BOUND
            )
            assert resp.status_code == 200, resp.text
        finally:
            terminate([proc])
