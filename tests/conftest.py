"""Shared fixtures: real Prometheus processes on free loopback ports, stopped by pid."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest
import yaml

from demo.history import ANCHOR, HistoryPrometheus
from demo.stack import Stack, free_port, missing_binaries, prometheus_argv, spawn, terminate

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


def need(binary: str) -> None:
    if shutil.which(binary) is None:
        pytest.skip(f"{binary} is not installed (Debian package; `make test` installs it)")


@dataclass
class PrometheusProc:
    url: str
    port: int
    workdir: Path
    proc: subprocess.Popen | None
    retention: str = "90d"

    def stop(self) -> None:
        if self.proc is not None:
            terminate([self.proc])
            self.proc = None

    def start(self) -> None:
        """(Re)start on the same port and data, e.g. after :meth:`stop`."""
        self.proc = spawn(self.workdir, "prometheus", prometheus_argv(
            self.workdir / "prometheus.yml", self.workdir / "data", self.port,
            retention=self.retention), f"{self.url}/-/ready", 60)


def backfill(openmetrics: str, data_dir: Path) -> None:
    """Load OpenMetrics text (past timestamps only) into a TSDB directory with promtool."""
    src = data_dir.parent / "backfill.om"
    src.write_text(openmetrics if openmetrics.endswith("# EOF\n") else openmetrics + "# EOF\n")
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics",
                    "--max-block-duration=720h", str(src), str(data_dir)],
                   check=True, stdout=subprocess.DEVNULL)


@pytest.fixture
def start_prometheus(tmp_path: Path) -> Iterator[Callable[..., PrometheusProc]]:
    """Factory: a real Prometheus with optional backfilled OpenMetrics and scrape configs."""
    started: list[PrometheusProc] = []

    def start(openmetrics: str | None = None, scrape_configs: list | None = None,
              rule_files: list[str] | None = None, name: str = "prom") -> PrometheusProc:
        need("prometheus")
        workdir = tmp_path / name
        workdir.mkdir()
        cfg = {"global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
               "scrape_configs": scrape_configs or [], "rule_files": rule_files or []}
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(cfg))
        if openmetrics:
            need("promtool")
            backfill(openmetrics, workdir / "data")
        port = free_port()
        p = PrometheusProc(f"http://127.0.0.1:{port}", port, workdir, None)
        started.append(p)
        p.start()
        return p

    yield start
    for p in started:
        p.stop()


@pytest.fixture(scope="session")
def demo_stack(tmp_path_factory) -> Iterator[Stack]:
    """The whole demo stack, once per test run: the end-to-end and dashboard tests share it."""
    missing = missing_binaries()
    if missing:
        pytest.skip(f"missing {', '.join(missing)} (Debian packages; `make test` installs them)")
    # Fifteen days of history cover every demo target's history window and the dashboards' week.
    s = Stack(tmp_path_factory.mktemp("stack"), days=15, interval="20s")
    s.start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def report_history(tmp_path_factory) -> Iterator[HistoryPrometheus]:
    """Prometheus holding 15 days of the demo fleet up to a fixed instant (demo.history.ANCHOR)
    and the forecaster's results at that instant, with the exporter's provider azure failing:
    what a report of the week before the anchor reads."""
    missing = missing_binaries()
    if missing:
        pytest.skip(f"missing {', '.join(missing)} (Debian packages; `make test` installs them)")
    prom = HistoryPrometheus(tmp_path_factory.mktemp("report-history"), ANCHOR, days=15,
                             down=("azure",))
    prom.start()
    yield prom
    prom.stop()
