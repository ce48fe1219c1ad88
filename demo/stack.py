"""Start the whole promcast stack on 127.0.0.1 from real binaries: Prometheus (with the rules and
28 days of backfilled demo history), Alertmanager (routed to a local webhook sink), the exporter
and the forecaster. Used by ``make demo`` and by the end-to-end tests; every process is started
on a free port in a work directory and stopped by pid."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

ROOT = Path(__file__).resolve().parent.parent
BINARIES = {
    "prometheus": "prometheus",
    "promtool": "promtool",
    "alertmanager": "prometheus-alertmanager",
    "amtool": "amtool",
}
EXPORTER_LABELS = {"job": "promcast-exporter", "instance": "promcast-exporter"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def missing_binaries() -> list[str]:
    return [b for b in BINARIES.values() if shutil.which(b) is None]


def http_get(url: str, timeout: float = 2.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback only
        return resp.read()


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    proc: subprocess.Popen | None = None,
    log: Path | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text()[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"{what} exited with status {proc.returncode}:\n{tail}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s")


def spawn(
    workdir: Path, name: str, argv: list[str], ready_url: str, timeout: float = 30
) -> subprocess.Popen:
    """Start a process logging to ``workdir/name.log`` and wait until ``ready_url`` answers."""
    log = workdir / f"{name}.log"
    with open(log, "ab") as out:
        # Own process group: Ctrl-C reaches only the demo, which then stops children in order.
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True
        )
    try:
        wait_until(lambda: bool(http_get(ready_url)), timeout, name, proc, log)
    except BaseException:
        terminate([proc])
        raise
    return proc


def terminate(procs: list[subprocess.Popen], grace: float = 15) -> None:
    """SIGTERM each process group, then SIGKILL what is still running after ``grace`` seconds."""
    for proc in procs:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    for proc in procs:
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def prometheus_argv(
    config: Path, data: Path, port: int, *flags: str, retention: str = "90d"
) -> list[str]:
    # Retention counts back from the newest block, not from now: history spread over months
    # (the tests' fixed dates) needs a longer one than the demo's.
    return [
        "prometheus",
        f"--config.file={config}",
        f"--storage.tsdb.path={data}",
        f"--storage.tsdb.retention.time={retention}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-remote-write-receiver",
        "--web.enable-lifecycle",
        *flags,
    ]


def backfilled_prometheus(work: Path, openmetrics: Path) -> tuple[subprocess.Popen, str]:
    """A Prometheus on a free loopback port over ``openmetrics`` backfilled into ``work/data``,
    scraping nothing; returns the process and its URL once ready."""
    subprocess.run(
        [
            "promtool",
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--max-block-duration=720h",
            str(openmetrics),
            str(work / "data"),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    (work / "prometheus.yml").write_text(yaml.safe_dump({"scrape_configs": []}))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = spawn(
        work,
        "prometheus",
        prometheus_argv(work / "prometheus.yml", work / "data", port),
        f"{url}/-/ready",
        60,
    )
    return proc, url


# The config with every integration (PagerDuty, Opsgenie, Slack): locally they all post to the sink.
ALERTMANAGER_CONFIG = ROOT / "alertmanager" / "integrations.yml"
# Secret-file keys of each integration; locally they point at dummy files, as nothing leaves the host.
_SECRET_FILES = {
    "pagerduty_configs": ("routing_key_file", "service_key_file"),
    "opsgenie_configs": ("api_key_file",),
    "slack_configs": (),
    "webhook_configs": (),
}


def local_alertmanager_config(
    sink_url: str, secrets_dir: Path, source: Path = ALERTMANAGER_CONFIG
) -> dict:
    """The Alertmanager config ``source`` with every receiver delivering to the local webhook sink
    (``demo/webhook_sink.py``) and nothing else changed: routes, inhibitions, templates and each
    integration's payload stay the real ones. Webhooks post to ``SINK/<receiver>``; PagerDuty
    (``url``), Opsgenie (``api_url``) and Slack (the URL in ``api_url_file``) post to
    ``SINK/<receiver>/<integration>``; secret files are replaced by dummy files in
    ``secrets_dir``. Template paths become absolute, so the result can be written anywhere."""
    cfg = yaml.safe_load(source.read_text())
    secrets_dir.mkdir(parents=True, exist_ok=True)
    dummy = secrets_dir / "dummy-secret"
    # No trailing newline: Alertmanager 0.25 sends api_key_file's content verbatim in Opsgenie's
    # Authorization header, where a newline is refused before anything is sent.
    dummy.write_text("local-sink-not-a-secret")
    cfg["templates"] = [str(source.parent / t) for t in cfg.get("templates", [])]
    for receiver in cfg.get("receivers", []):
        name = receiver["name"]
        for kind, integrations in receiver.items():
            if kind == "name":
                continue
            if kind not in _SECRET_FILES:
                raise ValueError(
                    f"{source}: receiver {name!r} uses {kind}, which cannot be pointed "
                    "at the local sink; support it in demo/stack.py "
                    "local_alertmanager_config before running the demo or the tests"
                )
            for conf in integrations:
                for key in _SECRET_FILES[kind]:
                    if key in conf:
                        conf[key] = str(dummy)
                auth = conf.get("http_config", {}).get("authorization", {})
                if "credentials_file" in auth:
                    auth["credentials_file"] = str(dummy)
                if kind == "webhook_configs":
                    conf.pop("url_file", None)
                    conf["url"] = f"{sink_url}/{name}"
                elif kind == "pagerduty_configs":
                    conf["url"] = f"{sink_url}/{name}/pagerduty"
                elif kind == "opsgenie_configs":
                    # Alertmanager appends the API path (v2/alerts) to api_url as is.
                    conf["api_url"] = f"{sink_url}/{name}/opsgenie/"
                else:
                    # Slack's webhook URL is itself the secret: a file holding the sink's URL.
                    conf.pop("api_url", None)
                    url_file = secrets_dir / f"{name}-slack-url"
                    url_file.write_text(f"{sink_url}/{name}/slack")
                    conf["api_url_file"] = str(url_file)
    return cfg


@dataclass
class Stack:
    workdir: Path
    anchor: float = field(default_factory=lambda: (time.time() // 86400) * 86400)
    days: float = 28
    interval: str = "30s"
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def notifications_file(self) -> Path:
        return self.workdir / "notifications.jsonl"

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, progress: Callable[[str], None] = lambda _: None) -> "Stack":
        self.workdir.mkdir(parents=True, exist_ok=True)
        for name in ("prometheus", "alertmanager", "sink", "exporter", "forecaster"):
            self.ports[name] = free_port()
        try:
            progress(f"backfilling {self.days:g} days of demo history")
            self._backfill()
            progress("starting the webhook sink, Alertmanager and Prometheus")
            self._start_sink()
            self._start_alertmanager()
            self._start_prometheus()
            progress("starting the exporter and the forecaster")
            self._start_exporter()
            self._start_forecaster()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        terminate(list(reversed(self.procs.values())))
        self.procs.clear()

    def __enter__(self) -> "Stack":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- components ------------------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str], ready_url: str, timeout: float = 30) -> None:
        self.procs[name] = spawn(self.workdir, name, argv, ready_url, timeout)

    def _python(self, module: str) -> list[str]:
        return [sys.executable, "-m", f"promcast_{module}"]

    def _exporter_config(self) -> Path:
        path = self.workdir / "exporter.yml"
        path.write_text(
            yaml.safe_dump(
                {"providers": {"demo": {"anchor": self.anchor, "refresh_interval": "15s"}}}
            )
        )
        return path

    def _backfill(self) -> None:
        om = self.workdir / "history.om"
        data = self.workdir / "prometheus-data"
        if data.exists():
            shutil.rmtree(data)
        labels = [arg for k, v in EXPORTER_LABELS.items() for arg in ("--label", f"{k}={v}")]
        subprocess.run(
            self._python("exporter")
            + [
                "--config.file",
                str(self._exporter_config()),
                "--log.level",
                "warn",
                "backfill",
                "--days",
                str(self.days),
                "--out",
                str(om),
                *labels,
            ],
            check=True,
        )
        # One pass over the file per block: large blocks keep a 28-day import to seconds.
        subprocess.run(
            [
                "promtool",
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                "--max-block-duration=720h",
                str(om),
                str(data),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        om.unlink()

    def _start_sink(self) -> None:
        self._spawn(
            "sink",
            [
                sys.executable,
                str(ROOT / "demo" / "webhook_sink.py"),
                "--listen",
                f"127.0.0.1:{self.ports['sink']}",
                "--out",
                str(self.notifications_file),
            ],
            f"{self.url('sink')}/-/healthy",
        )

    def _start_alertmanager(self) -> None:
        cfg = local_alertmanager_config(self.url("sink"), self.workdir / "secrets")
        # Deliver within seconds instead of the production 30 s, so the demo shows a page quickly.
        cfg["route"]["group_wait"] = "5s"
        path = self.workdir / "alertmanager.yml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        port = self.ports["alertmanager"]
        self._spawn(
            "alertmanager",
            [
                "prometheus-alertmanager",
                f"--config.file={path}",
                f"--storage.path={self.workdir / 'alertmanager-data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            f"{self.url('alertmanager')}/-/ready",
        )

    def _start_prometheus(self) -> None:
        cfg = {
            "global": {"scrape_interval": "10s", "evaluation_interval": "10s"},
            "rule_files": [str(ROOT / "rules" / "promcast.rules.yml")],
            "alerting": {
                "alertmanagers": [
                    {"static_configs": [{"targets": [f"127.0.0.1:{self.ports['alertmanager']}"]}]}
                ]
            },
            "scrape_configs": [
                {
                    "job_name": "promcast-exporter",
                    "static_configs": [{"targets": [f"127.0.0.1:{self.ports['exporter']}"]}],
                    # One stable instance label, the same the backfilled history carries.
                    "relabel_configs": [
                        {"target_label": "instance", "replacement": EXPORTER_LABELS["instance"]}
                    ],
                },
                # honor_labels keeps the forecast series' own job/instance (those of the source).
                {
                    "job_name": "promcast-forecaster",
                    "honor_labels": True,
                    "static_configs": [{"targets": [f"127.0.0.1:{self.ports['forecaster']}"]}],
                },
                {
                    "job_name": "prometheus",
                    "static_configs": [{"targets": [f"127.0.0.1:{self.ports['prometheus']}"]}],
                },
            ],
        }
        path = self.workdir / "prometheus.yml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        self._spawn(
            "prometheus",
            prometheus_argv(path, self.workdir / "prometheus-data", self.ports["prometheus"]),
            f"{self.url('prometheus')}/-/ready",
            timeout=60,
        )

    def _start_exporter(self) -> None:
        self._spawn(
            "exporter",
            self._python("exporter")
            + [
                "--config.file",
                str(self._exporter_config()),
                f"--web.listen-address=127.0.0.1:{self.ports['exporter']}",
            ],
            f"{self.url('exporter')}/-/ready",
        )

    def _start_forecaster(self) -> None:
        cfg = yaml.safe_load((ROOT / "demo" / "forecaster.yml").read_text())
        cfg["prometheus"]["url"] = self.url("prometheus")
        cfg.setdefault("defaults", {})["infer_every"] = self.interval
        path = self.workdir / "forecaster.yml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        self._spawn(
            "forecaster",
            self._python("forecaster")
            + [
                "--config.file",
                str(path),
                f"--web.listen-address=127.0.0.1:{self.ports['forecaster']}",
            ],
            f"{self.url('forecaster')}/-/healthy",
        )

    # -- reading back ----------------------------------------------------------------------
    def notifications(self) -> list[dict]:
        if not self.notifications_file.exists():
            return []
        return [
            json.loads(line) for line in self.notifications_file.read_text().splitlines() if line
        ]

    def query(self, promql: str) -> list[dict]:
        url = f"{self.url('prometheus')}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        return json.loads(http_get(url, timeout=10))["data"]["result"]

    def firing_alerts(self) -> list[dict]:
        alerts = json.loads(http_get(f"{self.url('prometheus')}/api/v1/alerts"))["data"]["alerts"]
        return [a for a in alerts if a["state"] == "firing"]
