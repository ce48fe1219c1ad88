"""The forecaster service against a real Prometheus: a cycle, a bad target beside good ones,
Prometheus going away and coming back, and the process surviving it and stopping on SIGTERM."""

import asyncio
import math
import signal
import subprocess
import sys
import time

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from demo.stack import free_port, http_get, wait_until
from promcast_common.config import validate
from promcast_forecaster.config import ForecasterConfig
from promcast_forecaster.service import Forecaster
from promcast_forecaster.source import PrometheusSource, SourceUnavailable
from tests.helpers.processes import need
from tests.helpers.forecaster import forecast_lines, history
from tests.helpers.metrics import exposition, samples, value

pytestmark = pytest.mark.integration


def config(url: str) -> ForecasterConfig:
    return validate(
        ForecasterConfig,
        {
            "prometheus": {"url": url, "timeout": "5s"},
            "defaults": {
                "step": "1h",
                "history": "2d",
                "season": "1d",
                "horizons": ["1d", "3d"],
                "capacity": 0.9,
                "lead_time": "7d",
            },
            "targets": [
                {"name": "disk", "query": "disk_ratio"},
                # Parses (check-config passes it) but Prometheus refuses it when evaluating.
                {"name": "broken", "query": 'label_replace(disk_ratio, "x", "$1", "host", "(")'},
            ],
        },
    )


async def cycle(fc: Forecaster) -> dict[str, bool]:
    async with aiohttp.ClientSession() as session:
        src = PrometheusSource.from_config(fc.cfg.prometheus, session)
        return {t.name: await fc.run_cycle(t, src) for t in fc.targets}


def test_cycle_publishes_forecasts_and_isolates_a_broken_target(start_prometheus):
    prom = start_prometheus(history())
    fc = Forecaster(config(prom.url))
    assert asyncio.run(cycle(fc)) == {"disk": True, "broken": False}
    series = {s.labels["host"]: s for s in fc.results["disk"].series}
    assert 1.0 * 86400 < series["a"].exhaustion_seconds < 3.0 * 86400
    assert math.isinf(series["b"].exhaustion_seconds)
    assert fc.health["broken"].errors == 1 and not fc.health["broken"].up
    text = exposition(fc)
    assert value(text, "promcast_forecaster_target_up", target="broken") == 0.0
    assert value(text, "promcast_forecast_exhaustion_seconds", host="b", target="disk") == math.inf
    assert samples(
        text, "promcast_forecast_upper", horizon="3d", host="a", level="95", target="disk"
    )
    need("promtool")
    check = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_prometheus_down_keeps_last_results_marked_stale_then_recovers(start_prometheus):
    prom = start_prometheus(history())
    fc = Forecaster(config(prom.url))
    assert asyncio.run(cycle(fc))["disk"]
    before = fc.results["disk"]
    prom.stop()
    assert not asyncio.run(cycle(fc))["disk"]
    assert fc.results["disk"] is before
    text = exposition(fc)
    assert value(text, "promcast_forecaster_results_stale", target="disk") == 1.0
    assert samples(text, "promcast_forecast_exhaustion_seconds", host="a", target="disk")
    prom.start()
    assert asyncio.run(cycle(fc))["disk"]
    assert value(exposition(fc), "promcast_forecaster_results_stale", target="disk") == 0.0


def test_service_keeps_running_without_prometheus_and_stops_on_sigterm(tmp_path):
    dead = free_port()  # nothing listens here
    cfg = tmp_path / "f.yml"
    cfg.write_text(
        f"prometheus: {{url: 'http://127.0.0.1:{dead}', timeout: 2s}}\n"
        "targets: [{name: disk, query: disk_ratio, step: 5m, history: 1d}]\n"
    )
    port = free_port()
    log = open(tmp_path / "f.log", "wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "promcast_forecaster",
            "--config.file",
            str(cfg),
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=log,
    )
    try:
        metrics = f"http://127.0.0.1:{port}/metrics"

        def retried() -> bool:
            found = samples(
                http_get(metrics).decode(),
                "promcast_forecaster_cycles_total",
                result="error",
                target="disk",
            )
            return [s.value for s in found] == [2.0]

        wait_until(retried, 30, "two failed cycles", proc)  # it retried with backoff
        assert proc.poll() is None
        text = http_get(metrics).decode()
        assert value(text, "promcast_forecaster_target_up", target="disk") == 0.0
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - started < 10
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    text = (tmp_path / "f.log").read_text()
    assert "source unavailable" in text and f"127.0.0.1:{dead}" in text


def test_three_shards_publish_exactly_what_one_instance_publishes(start_prometheus):
    end = int(time.time() // 300 * 300 - 300)
    lines = ["# TYPE disk_ratio gauge"]
    for host in range(30):
        lines += [
            f'disk_ratio{{host="h{host}"}} {0.3 + host / 100 + 0.01 * (t - end) / 86400:.5f} {t}'
            for t in range(end - 2 * 86400, end + 1, 300)
        ]
    prom = start_prometheus("\n".join(lines) + "\n")
    cfg = config(prom.url)
    single = Forecaster(cfg)
    shards = [Forecaster(cfg, i, 3) for i in range(3)]
    for fc in [single, *shards]:
        assert asyncio.run(cycle(fc))["disk"]
    union = [forecast_lines(s) for s in shards]
    assert set.union(*union) == forecast_lines(single)
    assert sum(len(u) for u in union) == len(forecast_lines(single))
    assert all(u for u in union)  # every shard got some of the series


def test_capacity_from_a_query_and_the_cardinality_cap(start_prometheus):
    end = int(time.time() // 300 * 300 - 300)
    lines = ["# TYPE used_bytes gauge"]
    lines += [
        f'used_bytes{{host="{h}"}} {v + 1e6 * (t - end) / 86400:.0f} {t}'
        for h, v in (("a", 8e6), ("b", 1e6), ("c", 5e6))
        for t in range(end - 2 * 86400, end + 1, 300)
    ]
    lines += ["# TYPE size_bytes gauge"]
    lines += [
        f'size_bytes{{host="{h}"}} {v:.0f} {t}'
        for h, v in (("a", 1e7), ("b", 2e6), ("c", 1e9))
        for t in range(end - 2 * 86400, end + 1, 300)
    ]
    prom = start_prometheus("\n".join(lines) + "\n")
    cfg = validate(
        ForecasterConfig,
        {
            "prometheus": {"url": prom.url},
            "targets": [
                {
                    "name": "bytes",
                    "query": "used_bytes",
                    "capacity": "size_bytes",
                    "step": "1h",
                    "history": "2d",
                    "horizons": ["3d"],
                    "max_series": 2,
                }
            ],
        },
    )
    fc = Forecaster(cfg)
    assert asyncio.run(cycle(fc))["bytes"]
    res = fc.results["bytes"]
    assert res.over_cap == 1 and len(res.series) == 2
    for s in res.series:
        expected = {"a": 2 * 86400, "b": 86400, "c": math.inf}[s.labels["host"]]
        assert s.capacity == {"a": 1e7, "b": 2e6, "c": 1e9}[s.labels["host"]]
        if math.isinf(expected):
            assert math.isinf(s.exhaustion_seconds)
        else:
            assert s.exhaustion_seconds == pytest.approx(expected, abs=3 * 3600)
    text = exposition(fc)
    assert (
        value(text, "promcast_forecaster_dropped_series_total", reason="max_series", target="bytes")
        == 1.0
    )
    assert value(text, "promcast_forecaster_target_series", state="dropped", target="bytes") == 1.0


class ScriptedSource:
    """A stand-in for Prometheus that answers each query from a script, or hangs."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.calls = []

    async def query_range(self, query, start, end, step, timeout=None):
        self.calls.append((start, end))
        answer = self.answers.pop(0)
        if answer == "hang":
            await asyncio.sleep(timeout + 1)
            raise SourceUnavailable("timed out")
        import numpy as np
        from promcast_forecaster.source import RawSeries

        ts = np.arange(max(start, end - 47 * step), end + 1, step)
        return [RawSeries({"host": h}, ts, np.linspace(0.1, 0.5, len(ts))) for h in answer]


class StoppingFleet:
    """A stand-in for Prometheus whose series report hourly until their own last sample."""

    def __init__(self, last: dict[str, float]):
        self.last = last
        self.calls = []

    async def query_range(self, query, start, end, step, timeout=None):
        import numpy as np
        from promcast_forecaster.source import RawSeries

        self.calls.append((start, end))
        out = []
        for host, last in self.last.items():
            ts = np.arange(start, min(end, last) + 1, step)
            if len(ts):
                out.append(
                    RawSeries({"host": host}, ts, 0.5 + 0.1 * np.sin(2 * np.pi * ts / 86400))
                )
        return out


def test_a_stopped_series_is_kept_through_late_steps_then_retired_without_flapping():
    # A source that stops: its series used to vanish from every infer cycle (the new steps have
    # no sample) and come back at every refit (the history still has it), 20 -> 0 -> 20.

    cfg = validate(
        ForecasterConfig,
        {
            "targets": [
                {
                    "name": "t",
                    "query": "x",
                    "step": "1h",
                    "history": "2d",
                    "season": "1d",
                    "fit_every": "6h",
                    "infer_every": "5m",
                }
            ]
        },
    )
    fc = Forecaster(cfg)
    t = fc.targets[0]
    e = 1_790_000_000 // 3600 * 3600
    src = StoppingFleet({"a": math.inf, "b": e})
    counts, reasons = [], []
    for at in (e + 60, e + 360, e + 3660, e + 7260, e + 10860, e + 14460, e + 14760, e + 36120):
        assert asyncio.run(fc.run_cycle(t, src, at=at))
        counts.append(len(fc.results["t"].series))
        reasons.append(fc.results["t"].fit_reason)
    # Kept while its newest sample is up to the staleness (3 steps) behind, then retired once;
    # the refit on schedule reads the whole history and does not bring it back.
    assert counts == [2, 2, 2, 2, 2, 1, 1, 1]
    assert reasons == ["first", "", "", "", "", "series", "", "schedule"]
    assert src.calls[1][0] == e - 3 * 3600  # infer reads go back a staleness, for late samples
    reg = CollectorRegistry()
    reg.register(fc)
    value = lambda name, **lab: reg.get_sample_value(name, {"target": "t", **lab})  # noqa: E731
    assert value("promcast_forecaster_target_series", state="retired") == 1
    assert value("promcast_forecaster_target_series", state="forecast") == 1
    assert value("promcast_target_staleness_seconds") == 3 * 3600
    assert [
        value("promcast_forecaster_fits_total", reason=r) for r in ("first", "series", "schedule")
    ] == [1, 1, 1]
    assert value("promcast_forecast_observed", host="b") is None
    assert value("promcast_forecast_observed", host="a") is not None
    # A whole source that stopped: everything retired, nothing fitted or counted as a fit.
    src.last["a"] = e + 36000
    for at in (e + 50460, e + 50760):
        assert asyncio.run(fc.run_cycle(t, src, at=at))
        assert not fc.results["t"].series and fc.results["t"].retired == 2
        assert not fc.results["t"].refitted
    assert sum(fc.health["t"].fits.values()) == 3


def test_newest_sample_minutes_before_the_newest_step_keeps_every_series(start_prometheus):
    # The fleet benchmark lost all its series in the infer cycle: its data ended minutes before
    # the cycle's newest grid step, which then had no sample within Prometheus' 5-minute
    # lookback. A real Prometheus here, the data's newest sample 20 minutes before that step.

    e = int(time.time() // 3600 * 3600) - 3600
    newest = e - 20 * 60
    lines = ["# TYPE cpu_ratio gauge"]
    for i in range(20):
        lines += [
            f'cpu_ratio{{host="h{i}"}} {0.3 + i / 100 + 0.1 * math.sin(t / 13751):.4f} {t}'
            for t in range(e - 3 * 86400, newest + 1, 300)
        ]
    for i in range(5):  # stopped reporting two days before: retired, never forecast
        lines += [
            f'cpu_ratio{{host="gone{i}"}} 0.1 {t}' for t in range(e - 3 * 86400, e - 2 * 86400, 300)
        ]
    prom = start_prometheus("\n".join(lines) + "\n")
    cfg = validate(
        ForecasterConfig,
        {
            "prometheus": {"url": prom.url},
            "targets": [
                {
                    "name": "cpu",
                    "query": "cpu_ratio",
                    "step": "1h",
                    "history": "3d",
                    "season": "1d",
                    "horizons": ["1h", "1d"],
                    "fit_every": "1h",
                    "model": "fast_hw",
                }
            ],
        },
    )
    fc = Forecaster(cfg)

    async def cycles():
        async with aiohttp.ClientSession() as session:
            src = PrometheusSource.from_config(cfg.prometheus, session)
            out = []
            for at in (e + 60, e + 360, e + 660):  # a fit, then two infer cycles in the same step
                assert await fc.run_cycle(fc.targets[0], src, at=at)
                out.append(fc.results["cpu"])
            return out

    fit, infer, again = asyncio.run(cycles())
    assert [len(r.series) for r in (fit, infer, again)] == [20, 20, 20]
    assert fit.refitted and not infer.refitted and not again.refitted
    assert {r.retired for r in (fit, infer, again)} == {5}
    assert all(s.observed_at == e - 3600 for s in again.series)  # the newest step is late
    reg = CollectorRegistry()
    reg.register(fc)
    for i in range(20):
        for horizon in ("1h", "1d"):
            v = reg.get_sample_value(
                "promcast_forecast_mean", {"host": f"h{i}", "target": "cpu", "horizon": horizon}
            )
            assert v is not None and 0.1 < v < 0.7, (i, horizon, v)
    assert (
        reg.get_sample_value(
            "promcast_forecast_mean", {"host": "gone0", "target": "cpu", "horizon": "1h"}
        )
        is None
    )
    assert (
        reg.get_sample_value("promcast_forecaster_fits_total", {"target": "cpu", "reason": "first"})
        == 1
    )
    assert (
        reg.get_sample_value(
            "promcast_forecaster_target_series", {"target": "cpu", "state": "retired"}
        )
        == 5
    )


def test_a_slow_target_does_not_delay_the_others():
    cfg = validate(
        ForecasterConfig,
        {
            "targets": [
                {"name": "slow", "query": "x", "timeout": "2s", "step": "1h", "history": "2d"},
                {"name": "fast", "query": "y", "step": "1h", "history": "2d"},
            ]
        },
    )
    fc = Forecaster(cfg)
    slow, fast = fc.targets
    sources = {"slow": ScriptedSource(["hang"]), "fast": ScriptedSource([["a"]])}
    finished = {}

    async def both():
        async def one(t):
            ok = await fc.run_cycle(t, sources[t.name])
            finished[t.name] = (ok, time.monotonic())

        await asyncio.gather(one(slow), one(fast))

    asyncio.run(both())
    assert finished["fast"][0] and not finished["slow"][0]
    assert finished["fast"][1] < finished["slow"][1]  # the fast one did not wait for the slow one


def test_long_ranges_are_read_in_chunks_that_join_exactly(start_prometheus, monkeypatch):
    import numpy as np
    from promcast_forecaster import source

    prom = start_prometheus(history())
    end = time.time() // 300 * 300
    start = end - 2 * 86400

    async def read():
        async with aiohttp.ClientSession() as session:
            src = PrometheusSource(prom.url, 10, session)
            return {
                s.labels["host"]: s for s in await src.query_range("disk_ratio", start, end, 300)
            }

    monkeypatch.setattr(source, "FIRST_CHUNK_POINTS", 10_000)
    monkeypatch.setattr(source, "CHUNK_POINTS", 10_000)
    whole = asyncio.run(read())
    monkeypatch.setattr(source, "FIRST_CHUNK_POINTS", 7)
    monkeypatch.setattr(source, "CHUNK_POINTS", 100)
    monkeypatch.setattr(source, "MAX_SAMPLES", 2 * 30)  # two series: 30 points per later read
    chunked = asyncio.run(read())
    assert whole.keys() == chunked.keys() == {"a", "b"}
    for host in whole:
        assert len(whole[host].timestamps) > 500
        assert np.array_equal(whole[host].timestamps, chunked[host].timestamps)
        assert np.array_equal(whole[host].values, chunked[host].values)


def test_between_refits_only_new_steps_are_read_and_models_are_reused():
    cfg = validate(
        ForecasterConfig,
        {
            "targets": [
                {
                    "name": "t",
                    "query": "x",
                    "step": "5m",
                    "history": "4h",
                    "season": "1h",
                    "fit_every": "1h",
                    "infer_every": "5m",
                }
            ]
        },
    )
    fc = Forecaster(cfg)
    t = fc.targets[0]
    src = ScriptedSource([["a", "b"], ["a", "b"], ["a", "b", "c"], ["a", "b", "c"]])
    assert asyncio.run(fc.run_cycle(t, src))
    first = fc.results["t"]
    assert first.refitted
    assert asyncio.run(fc.run_cycle(t, src))
    second = fc.results["t"]
    assert not second.refitted and second.fitted.model is first.fitted.model
    (s1, e1), (s2, e2) = src.calls[:2]
    assert s2 > s1 and e2 - s2 <= t.staleness_seconds  # the newest steps, not 4 h again
    assert len(second.series) == 2
    # A new series needs its whole history: the next read is full, and the model is fitted anew.
    assert asyncio.run(fc.run_cycle(t, src))
    assert src.calls[3][0] == src.calls[0][0] or src.calls[3][0] < src.calls[2][0]
    assert fc.results["t"].refitted and len(fc.results["t"].series) == 3


@pytest.mark.parametrize("hour", [1, 9, 17])  # fixed instants, at several phases of the day
def test_the_first_cycle_after_a_start_already_scores_the_newest_observation(hour):
    # The score needs no previous cycle: a spike happening across a deploy is not missed, and
    # a restart publishes what the running service would have (no page of its own).
    import numpy as np
    from promcast_forecaster.source import RawSeries

    class Spiking:
        async def query_range(self, query, start, end, step, timeout=None):
            ts = np.arange(end - 3 * 86400, end + 1, step)
            noise = np.random.default_rng(3).normal(0, 0.01, len(ts))
            calm = 0.5 + 0.1 * np.sin(2 * np.pi * ts / 86400) + noise
            return [
                RawSeries({"host": "calm"}, ts, calm),
                RawSeries({"host": "spike"}, ts, np.where(ts == end, 3.0, calm)),
            ]

    cfg = validate(
        ForecasterConfig,
        {"targets": [{"name": "t", "query": "x", "step": "1h", "history": "3d", "season": "1d"}]},
    )
    fc = Forecaster(cfg)
    at = 1_796_515_200 + hour * 3600 + 60  # a midnight UTC, plus the hour
    assert asyncio.run(fc.run_cycle(fc.targets[0], Spiking(), at=at))
    by_host = {s.labels["host"]: s for s in fc.results["t"].series}
    assert by_host["spike"].anomaly_score > 3 and by_host["calm"].anomaly_score < 1
    # The expected value is the normal level, not the spike: within the daily swing of the
    # calm series (at a 1 h step it trails a steep daily slope by up to about two steps).
    assert abs(by_host["spike"].expected - by_host["calm"].observed) < 0.1
    assert samples(exposition(fc), "promcast_forecast_anomaly_score", host="spike", target="t")


def test_the_score_needs_no_second_fit_whatever_the_model(monkeypatch):
    # The score comes from the history alone, so a costly model is fitted once per cycle and
    # the first cycle after a start already publishes it.
    import numpy as np
    from promcast_forecaster import engine
    from promcast_forecaster.source import RawSeries

    fits = []
    real = engine.forecast_target
    monkeypatch.setattr(
        "promcast_forecaster.scheduler.forecast_target",
        lambda *a, **k: fits.append(a[0].model) or real(*a, **k),
    )

    class Steady:
        async def query_range(self, query, start, end, step, timeout=None):
            ts = np.arange(end - 3 * 86400, end + 1, step)
            return [RawSeries({"host": "a"}, ts, 0.5 + 0.1 * np.sin(2 * np.pi * ts / 86400))]

    cfg = validate(
        ForecasterConfig,
        {
            "targets": [
                {
                    "name": "t",
                    "query": "x",
                    "step": "1h",
                    "history": "3d",
                    "season": "1d",
                    "model": "theta",
                }
            ]
        },
    )
    fc = Forecaster(cfg)
    assert asyncio.run(fc.run_cycle(fc.targets[0], Steady()))
    assert fits == ["theta"] and fc.results["t"].series[0].anomaly_score < 1
