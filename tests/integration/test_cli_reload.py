"""Both services as processes: SIGHUP and POST /-/reload reload the config (a bad one is refused
and the running one kept), a busy listen address is one line and exit 1, and the exporter's
check-config."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from demo.stack import free_port, http_get, spawn, terminate, wait_until

ROOT = Path(__file__).resolve().parents[2]


def run(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", f"promcast_{module}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = http_get(f"{url}/metrics", timeout=10).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
    }


def value(url: str, name: str, **labels: str) -> float | None:
    return samples(url).get((name, tuple(sorted(labels.items()))))


def post(url: str) -> tuple[int, str]:
    req = urllib.request.Request(url, data=b"", method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # loopback only
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def service(tmp_path: Path) -> Iterator:
    procs: list[subprocess.Popen] = []

    def start(module: str, config: Path, *flags: str) -> tuple[subprocess.Popen, str]:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = spawn(
            tmp_path,
            module,
            [
                sys.executable,
                "-m",
                f"promcast_{module}",
                "--config.file",
                str(config),
                f"--web.listen-address=127.0.0.1:{port}",
                *flags,
            ],
            f"{url}/-/healthy",
        )
        procs.append(proc)
        return proc, url

    yield start
    terminate(procs)


# Prometheus is not running: the targets' cycles fail, which is all a reload test needs.
FORECASTER = """prometheus: {{url: "http://127.0.0.1:{port}", timeout: 1s}}
defaults: {{step: 1h, history: 2d, season: 1d, horizons: [1d], infer_every: 1h}}
targets:
{targets}"""


def forecaster_config(path: Path, *names: str, port: int = 9) -> Path:
    path.write_text(
        FORECASTER.format(
            port=port, targets="".join(f"  - {{name: {n}, query: up}}\n" for n in names)
        )
    )
    return path


def test_a_reload_keeps_the_state_of_what_it_does_not_change(tmp_path: Path) -> None:
    from promcast_common.config import load_config
    from promcast_forecaster.config import ForecasterConfig
    from promcast_forecaster.service import Forecaster

    def load(*names: str, port: int = 9) -> ForecasterConfig:
        return load_config(
            ForecasterConfig, forecaster_config(tmp_path / "f.yml", *names, port=port)
        )

    fc = Forecaster(load("disk", "mem"))
    for name in ("disk", "mem"):
        fc.health[name].errors = 3
        fc.reader.history[name] = (0.0, [])
    fc.apply(load("disk", "mem", "cpu"))
    assert [fc.health[n].errors for n in ("disk", "mem", "cpu")] == [3, 3, 0]
    assert set(fc.reader.history) == {"disk", "mem"} and set(fc.planners) == {"disk", "mem", "cpu"}
    fc.apply(load("disk"))
    assert set(fc.health) == set(fc.reader.history) == set(fc.planners) == {"disk"}
    fc.apply(load("disk", port=10))  # the same target read from elsewhere: its state goes
    assert fc.health["disk"].errors == 0 and not fc.reader.history


def test_forecaster_reloads_on_sighup_and_keeps_its_config_when_the_new_one_is_bad(
    service, tmp_path: Path
) -> None:
    cfg = forecaster_config(tmp_path / "f.yml", "disk")
    proc, url = service("forecaster", cfg)
    up = "promcast_forecaster_target_up"
    wait_until(
        lambda: value(url, "promcast_forecaster_cycles_total", target="disk", result="error") == 1,
        20,
        "the first (failing) cycle",
    )
    assert value(url, up, target="cpu") is None

    forecaster_config(cfg, "disk", "cpu")
    proc.send_signal(signal.SIGHUP)
    wait_until(lambda: value(url, up, target="cpu") is not None, 20, "the reloaded target")
    assert value(url, "promcast_config_last_reload_successful") == 1

    cfg.write_text("targets: [{name: broken}]\n")  # no query: refused
    proc.send_signal(signal.SIGHUP)
    wait_until(
        lambda: value(url, "promcast_config_last_reload_successful") == 0, 20, "the refused reload"
    )
    assert value(url, up, target="cpu") is not None and proc.poll() is None
    log = (tmp_path / "forecaster.log").read_text()
    assert "config reload failed" in log and "targets[0].query" in log
    # Without --web.enable-lifecycle, /-/reload is refused as Prometheus refuses it.
    assert post(f"{url}/-/reload")[0] == 403


def test_exporter_reloads_on_post_with_the_lifecycle_api(service, tmp_path: Path) -> None:
    cfg = tmp_path / "e.yml"
    cfg.write_text("providers: {demo: {enabled: true}}\n")
    _, url = service("exporter", cfg, "--web.enable-lifecycle")
    success = "promcast_exporter_refresh_success"
    wait_until(lambda: value(url, success, provider="demo") == 1, 30, "the demo provider")

    cfg.write_text("providers: {demo: {enabled: false}}\n")
    assert post(f"{url}/-/reload") == (200, "config reloaded\n")
    assert value(url, success, provider="demo") is None
    assert value(url, "promcast_config_last_reload_successful") == 1

    cfg.write_text("providers: {dmeo: {}}\n")
    status, body = post(f"{url}/-/reload")
    assert status == 500 and "providers.dmeo" in body
    assert value(url, "promcast_config_last_reload_successful") == 0


@pytest.mark.parametrize("module", ["exporter", "forecaster"])
def test_a_busy_port_is_one_line_and_exit_1(module: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        address = f"127.0.0.1:{busy.getsockname()[1]}"
        out = run(module, f"--web.listen-address={address}")
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: cannot listen on {address} (--web.listen-address): address already in use"
    ], out.stderr


def test_exporter_check_config(tmp_path: Path) -> None:
    good = tmp_path / "good.yml"
    good.write_text("providers: {demo: {enabled: true}}\n")
    out = run("exporter", "--config.file", str(good), "check-config")
    assert out.returncode == 0 and "OK" in out.stdout and "demo" in out.stdout, out.stderr
    bad = tmp_path / "bad.yml"
    bad.write_text("providers:\n  demo: {refresh_interval: soon}\n")
    out = run("exporter", "--config.file", str(bad), "check-config")
    assert out.returncode == 2 and "providers.demo.refresh_interval" in out.stderr
