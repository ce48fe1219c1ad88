"""A real VictoriaMetrics single-node process on a free loopback port, stopped by pid."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest

from demo.stack import free_port, http_get, spawn, terminate
from tests.helpers.processes import need


@dataclass
class VictoriaMetricsProc:
    url: str
    port: int
    workdir: Path
    proc: subprocess.Popen | None

    def flush(self) -> None:
        """Make what was just written searchable now rather than after ~10 s."""
        http_get(f"{self.url}/internal/force_flush")

    def stop(self) -> None:
        if self.proc is not None:
            terminate([self.proc])
            self.proc = None


@pytest.fixture
def start_victoria_metrics(tmp_path: Path) -> Iterator[Callable[..., VictoriaMetricsProc]]:
    """Factory: VictoriaMetrics with its own data dir. Queries see samples at once: by default
    it hides the newest 30 s, which would hide everything a test has just written."""
    started: list[VictoriaMetricsProc] = []

    def start(name: str = "vm") -> VictoriaMetricsProc:
        need("victoria-metrics")
        workdir = tmp_path / name
        workdir.mkdir()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        vm = VictoriaMetricsProc(url, port, workdir, None)
        started.append(vm)
        vm.proc = spawn(workdir, "victoria-metrics", [
            "victoria-metrics", f"-httpListenAddr=127.0.0.1:{port}",
            f"-storageDataPath={workdir / 'data'}", "-retentionPeriod=1d",
            "-search.latencyOffset=0s", "-search.disableCache",
        ], f"{url}/health")
        return vm

    yield start
    for vm in started:
        vm.stop()
