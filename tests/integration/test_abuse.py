"""Abuse of the HTTP side, against real started services on loopback: what an attacker on the
network (or a careless dashboard) can send must neither leak a secret nor take the service down.

Every loop here is bounded; the generous client timeouts bound a test that would otherwise hang,
they do not measure speed (benchmarks/api_burst.py does).
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import socket
import subprocess
import sys
import time

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from demo.stack import free_port, terminate
from promcast_forecaster.selector import SelectorError, matcher_fn, parse_selector
from tests.helpers.forecaster import disk_prometheus_and_config

pytestmark = pytest.mark.integration

SECRET = "s3cr3t-Value-42"  # must never come back from the API
SECRET_METRIC = "disk_ratio"  # a secret that happens to be a valid query
ENV = {"PROMCAST_ABUSE_SECRET": SECRET, "PROMCAST_ABUSE_METRIC": SECRET_METRIC}
READ_TIMEOUT = 3  # --web.read-timeout of the services started here
MAX_CONNECTIONS = 8
BOUND = 30  # seconds after which a test gives up instead of hanging


def _env() -> dict:
    return {**os.environ, **ENV}


def _start(work, name: str, argv: list[str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = work / f"{name}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [*argv, f"--web.listen-address=127.0.0.1:{port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=work,
            env=_env(),
            start_new_session=True,
        )
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-2000:]
        try:
            if requests.get(f"{url}/-/ready", timeout=2).status_code == 200:
                return proc, url
        except requests.RequestException:
            pass
        time.sleep(0.25)
    terminate([proc])
    raise TimeoutError(f"{name} not ready")


@pytest.fixture(scope="module")
def forecaster(tmp_path_factory):
    """A forecaster over real Prometheus, with small limits so that abuse hits them quickly."""
    work = tmp_path_factory.mktemp("abuse")
    prom, cfg = disk_prometheus_and_config(work)
    proc, url = _start(
        work,
        "forecaster",
        [
            sys.executable,
            "-m",
            "promcast_forecaster",
            "--config.file",
            str(cfg),
            f"--web.read-timeout={READ_TIMEOUT}s",
            f"--web.max-connections={MAX_CONNECTIONS}",
            "--query.max-samples=50000",
            "--query.max-series=1",
        ],
    )
    try:
        yield url
    finally:
        terminate([proc])
        prom.stop()


@pytest.fixture
def hanging_forecaster(tmp_path):
    """A forecaster whose Prometheus accepts connections and never answers, so that every ad-hoc
    forecast holds its API slot until --query.timeout."""
    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen(64)
    cfg = tmp_path / "forecaster.yml"
    cfg.write_text(
        yaml.safe_dump(
            {"prometheus": {"url": f"http://127.0.0.1:{hang.getsockname()[1]}", "timeout": "60s"}}
        )
    )
    proc, url = _start(
        tmp_path,
        "forecaster",
        [
            sys.executable,
            "-m",
            "promcast_forecaster",
            "--config.file",
            str(cfg),
            "--query.timeout=5s",
            "--query.max-concurrency=1",
            "--query.max-queued=0",
        ],
    )
    try:
        yield url
    finally:
        terminate([proc])
        hang.close()


@pytest.fixture(scope="module")
def exporter(tmp_path_factory):
    work = tmp_path_factory.mktemp("abuse-exporter")
    proc, url = _start(
        work,
        "exporter",
        [
            sys.executable,
            "-m",
            "promcast_exporter",
            f"--web.read-timeout={READ_TIMEOUT}s",
            f"--web.max-connections={MAX_CONNECTIONS}",
        ],
    )
    try:
        yield url
    finally:
        terminate([proc])


def _adhoc(url: str, body: dict) -> requests.Response:
    return requests.post(f"{url}/api/v1/forecast", json=body, timeout=BOUND)


# --- D1: environment variables are expanded in the config file only ----------------------------


@pytest.mark.parametrize("field", ["step", "model", "horizon", "capacity", "history", "timeout"])
def test_adhoc_bodies_never_expand_the_environment(forecaster, field):
    body = {"query": 'disk_ratio{host="a"}', "horizon": "1d", field: "${PROMCAST_ABUSE_SECRET}"}
    resp = _adhoc(forecaster, body)
    assert SECRET not in resp.text
    assert resp.status_code == 400, resp.text


def test_adhoc_query_is_sent_as_written(forecaster):
    # Expanded, the query would be the valid `disk_ratio` and succeed; as written it is not PromQL.
    resp = _adhoc(forecaster, {"query": "${PROMCAST_ABUSE_METRIC}", "horizon": "1d"})
    assert resp.status_code == 400, resp.text
    assert resp.json()["status"] == "error"


def test_adhoc_forecast_still_works(forecaster):
    resp = _adhoc(forecaster, {"query": 'disk_ratio{host="a"}', "horizon": "1d"})
    assert resp.status_code == 200, resp.text
    (series,) = resp.json()["data"]["series"]
    assert series["labels"]["host"] == "a"


# --- D2: user regexes have RE2 semantics (linear time), anchored as Prometheus anchors them ----


def test_catastrophic_regex_is_answered_and_health_with_it(forecaster):
    evil = {"match[]": '{__name__=~"promcast_((.+)+)+!"}'}
    with cf.ThreadPoolExecutor(2) as pool:
        series = pool.submit(
            requests.get, f"{forecaster}/api/v1/series", params=evil, timeout=BOUND
        )
        spaces = pool.submit(
            requests.get,
            f"{forecaster}/api/v1/query",
            timeout=BOUND,
            params={"query": " " * 8000 + "{"},
        )
        health = pool.submit(requests.get, f"{forecaster}/-/healthy", timeout=BOUND)
        assert health.result().status_code == 200
        resp = series.result()
        assert spaces.result().status_code == 400
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"] == []


def test_regexes_are_re2_and_fully_anchored():
    labels = {"__name__": "up", "job": "node-exporter"}
    assert matcher_fn('up{job=~"node.*"}')(labels)
    assert not matcher_fn('up{job=~"node"}')(labels)  # anchored at both ends
    assert matcher_fn('up{job=~"node|node-exporter"}')(labels)  # the alternation as a whole
    assert not matcher_fn('up{job=~"exporter|node"}')(labels)
    assert matcher_fn('up{job!~"node"}')(labels)
    # Perl-only constructs Prometheus (RE2) refuses are refused here too, with the reason.
    for bad in (r'up{job=~"(?=node).*"}', r'up{job=~"(n)\\1"}'):
        with pytest.raises(SelectorError, match="invalid regular expression"):
            parse_selector(bad)


def test_the_number_of_selectors_per_request_is_bounded(forecaster):
    resp = requests.post(
        f"{forecaster}/api/v1/series",
        timeout=BOUND,
        data=[("match[]", f'{{host="h{i}"}}') for i in range(101)],
    )
    assert resp.status_code == 400
    assert "at most 100" in resp.json()["error"]


def test_long_selectors_are_parsed_in_linear_time():
    # 8,000 spaces (what fits in a URL) made the selector parser itself backtrack for half an
    # hour (cubic); a subprocess bounds the test if that ever comes back.
    code = (
        "from promcast_forecaster.selector import SelectorError, parse_selector\n"
        "try:\n    parse_selector(' ' * 8000 + '{')\nexcept SelectorError:\n    pass\n"
    )
    subprocess.run([sys.executable, "-c", code], timeout=BOUND, check=True)


# --- D11: bounded work from the API ------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value, limit",
    [
        ("horizon", "100y", "max_horizon_points"),
        ("history", "100y", "max_history_points"),
        ("max_series", 10**9, "max_series_per_target"),
    ],
)
def test_adhoc_work_is_bounded_by_the_limits(forecaster, field, value, limit):
    resp = _adhoc(forecaster, {"query": 'disk_ratio{host="a"}', "horizon": "1d", field: value})
    assert resp.status_code == 400, resp.text
    assert limit in resp.json()["error"]


def test_adhoc_query_with_too_many_series_is_refused(forecaster):
    resp = _adhoc(forecaster, {"query": "disk_ratio", "horizon": "1d"})  # two series, limit one
    assert resp.status_code == 400, resp.text
    assert "--query.max-series" in resp.json()["error"]


def test_adhoc_history_is_bounded_by_max_samples(forecaster):
    # 60,001 points per series is within limits.max_history_points but over --query.max-samples
    resp = _adhoc(
        forecaster,
        {"query": 'disk_ratio{host="a"}', "horizon": "1h", "step": "1s", "history": "60000s"},
    )
    assert resp.status_code == 400, resp.text
    assert "--query.max-samples=50000" in resp.json()["error"]


def test_query_range_points_and_samples_are_bounded(forecaster):
    now = time.time()
    huge = requests.get(
        f"{forecaster}/api/v1/query_range",
        timeout=BOUND,
        params={"query": "promcast_forecast_mean", "start": 0, "end": 1e15, "step": 1},
    )
    assert huge.status_code == 400
    assert "11000 points" in huge.json()["error"]
    # 10 curves x 10,000 points is over --query.max-samples=50000
    many = requests.get(
        f"{forecaster}/api/v1/query_range",
        timeout=BOUND,
        params={
            "query": '{__name__=~"promcast_forecast_.*"}',
            "start": now,
            "end": now + 9999,
            "step": 1,
        },
    )
    assert many.status_code == 422, many.text
    assert many.json()["errorType"] == "execution"
    assert "--query.max-samples" in many.json()["error"]


def _samples(url: str) -> dict:
    text = requests.get(f"{url}/metrics", timeout=BOUND).text
    return {
        (s.name, s.labels.get("reason")): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def test_api_work_beyond_the_limits_is_refused_and_timed_out(hanging_forecaster):
    """One slot, no queue: while one ad-hoc forecast holds the slot, another is refused at once
    (503 and Retry-After); the first times out at --query.timeout (503); health answers."""
    body = {"query": "up", "horizon": "1h"}
    with cf.ThreadPoolExecutor(1) as pool:
        first = pool.submit(_adhoc, hanging_forecaster, body)
        deadline = time.monotonic() + BOUND
        while (
            _samples(hanging_forecaster)[("promcast_forecaster_api_in_flight_requests", None)] < 1
        ):
            assert time.monotonic() < deadline and not first.done()
            time.sleep(0.05)
        refused = _adhoc(hanging_forecaster, body)
        health = requests.get(f"{hanging_forecaster}/-/healthy", timeout=BOUND)
        timed_out = first.result()
    assert health.status_code == 200
    assert refused.status_code == 503, refused.text
    assert refused.json()["errorType"] == "unavailable"
    assert "--query.max-concurrency" in refused.json()["error"]
    assert int(refused.headers["Retry-After"]) > 0
    assert timed_out.status_code == 503, timed_out.text
    assert timed_out.json()["errorType"] == "timeout"
    samples = _samples(hanging_forecaster)
    assert samples[("promcast_forecaster_api_rejected_requests_total", "overload")] == 1
    assert samples[("promcast_forecaster_api_rejected_requests_total", "timeout")] == 1
    assert samples[("promcast_forecaster_api_in_flight_requests", None)] == 0


# --- D16: idle and trickling connections are closed, open connections are capped -------------


def _closed_by_server(sock: socket.socket, trickle: bytes = b"") -> bool:
    """True once the server closes ``sock``; sends ``trickle`` a byte at a time meanwhile."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + BOUND
    sent = 0
    while time.monotonic() < deadline:
        try:
            if sock.recv(4096) == b"":
                return True
        except socket.timeout:
            pass
        except OSError:
            return True
        if trickle:
            try:
                sock.send(trickle[sent % len(trickle) : sent % len(trickle) + 1])
            except OSError:
                return True
            sent += 1
    return False


@pytest.mark.parametrize("service", ["forecaster", "exporter"])
def test_idle_and_trickling_connections_are_closed(service, request):
    url = request.getfixturevalue(service)
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as idle:
        assert _closed_by_server(idle)
    with socket.create_connection((host, int(port))) as headers:
        headers.send(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n")
        assert _closed_by_server(headers, trickle=b"X-Slow: aaaa\r\n")
    with socket.create_connection((host, int(port))) as body:
        body.send(
            b"POST /api/v1/forecast HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000\r\n\r\n{"
        )
        assert _closed_by_server(body, trickle=b" ")
    assert requests.get(f"{url}/-/healthy", timeout=BOUND).status_code == 200


@pytest.fixture(params=["forecaster", "exporter"])
def capped(request, tmp_path):
    """A service with a long read timeout, so that held connections stay held."""
    proc, url = _start(
        tmp_path,
        request.param,
        [
            sys.executable,
            "-m",
            f"promcast_{request.param}",
            "--web.read-timeout=5m",
            f"--web.max-connections={MAX_CONNECTIONS}",
        ],
    )
    try:
        yield url
    finally:
        terminate([proc])


def test_open_connections_are_capped(capped):
    url = capped
    host, port = url.removeprefix("http://").split(":")
    held = [socket.create_connection((host, int(port))) for _ in range(MAX_CONNECTIONS)]
    try:
        for s in held:  # each is accepted and answered: the server has seen all of them
            s.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
            s.settimeout(BOUND)
            assert s.recv(4096).startswith(b"HTTP/1.1 200")
        with socket.create_connection((host, int(port))) as extra:
            extra.sendall(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
            extra.settimeout(BOUND)
            try:
                answer = extra.recv(4096)
            except ConnectionResetError:
                answer = b""
            assert answer == b""
    finally:
        for s in held:
            s.close()
    deadline = time.monotonic() + BOUND  # the slots come back as the server notices the closes
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/-/healthy", timeout=BOUND).status_code == 200:
                break
        except requests.ConnectionError:
            time.sleep(0.1)
    else:
        pytest.fail("no connection accepted after the held ones closed")


def test_limits_have_flags_and_config_checks(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "promcast_forecaster", "--help"], capture_output=True, text=True
    )
    for flag in (
        "--web.read-timeout",
        "--web.max-connections",
        "--query.timeout",
        "--query.max-concurrency",
        "--query.max-queued",
        "--query.max-samples",
        "--query.max-series",
    ):
        assert flag in out.stdout
    out = subprocess.run(
        [sys.executable, "-m", "promcast_exporter", "--help"], capture_output=True, text=True
    )
    assert "--web.read-timeout" in out.stdout and "--web.max-connections" in out.stdout
    cfg = tmp_path / "f.yml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "targets": [
                    {
                        "name": "t",
                        "query": "up",
                        "step": "5m",
                        "horizons": ["100y"],
                        "max_series": 10**9,
                    }
                ]
            }
        )
    )
    out = subprocess.run(
        [sys.executable, "-m", "promcast_forecaster", "--config.file", str(cfg), "check-config"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert (
        "targets[0] (t).horizons: forecasting" in out.stderr
        and "limits.max_horizon_points" in out.stderr
    )
    assert (
        "targets[0] (t): max_series" in out.stderr and "limits.max_series_per_target" in out.stderr
    )
