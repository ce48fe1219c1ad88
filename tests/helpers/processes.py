"""Real processes for integration tests: Prometheus on a free loopback port (stopped by pid),
promtool, and the exporter as a subprocess."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from demo.stack import prometheus_argv, spawn, terminate


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
        self.proc = spawn(
            self.workdir,
            "prometheus",
            prometheus_argv(
                self.workdir / "prometheus.yml",
                self.workdir / "data",
                self.port,
                retention=self.retention,
            ),
            f"{self.url}/-/ready",
            60,
        )


def backfill(openmetrics: str, data_dir: Path) -> None:
    """Load OpenMetrics text (past timestamps only) into a TSDB directory with promtool."""
    src = data_dir.parent / "backfill.om"
    src.write_text(openmetrics if openmetrics.endswith("# EOF\n") else openmetrics + "# EOF\n")
    subprocess.run(
        [
            "promtool",
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--max-block-duration=720h",
            str(src),
            str(data_dir),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def promtool_check(text: str) -> None:
    need("promtool")
    out = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr


def load_into_tsdb(om: Path, tmp_path: Path) -> None:
    need("promtool")
    res = subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(om), str(tmp_path / "tsdb")],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr


def run_exporter(tmp_path: Path, config: dict, *args: str) -> subprocess.CompletedProcess:
    cfg = tmp_path / "exporter.yml"
    cfg.write_text(yaml.safe_dump(config))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "promcast_exporter",
            "--config.file",
            str(cfg),
            "--log.level",
            "warn",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
