"""A real VictoriaMetrics single-node process on a free loopback port, stopped by pid, and
vmalert's replay of the real rule file over what it holds."""

from __future__ import annotations

import datetime as dt
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest
import yaml

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

    def start(name: str = "vm", retention: str = "1d") -> VictoriaMetricsProc:
        need("victoria-metrics")
        workdir = tmp_path / name
        workdir.mkdir()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        vm = VictoriaMetricsProc(url, port, workdir, None)
        started.append(vm)
        vm.proc = spawn(
            workdir,
            "victoria-metrics",
            [
                "victoria-metrics",
                f"-httpListenAddr=127.0.0.1:{port}",
                f"-storageDataPath={workdir / 'data'}",
                f"-retentionPeriod={retention}",
                "-search.latencyOffset=0s",
                "-search.disableCache",
            ],
            f"{url}/health",
        )
        return vm

    yield start
    for vm in started:
        vm.stop()


def rfc3339(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def replay_rules(
    vm: VictoriaMetricsProc, rules: Path, start: float, end: float, workdir: Path
) -> None:
    """vmalert evaluates the rule file over ``start``..``end`` every minute (its replay mode,
    which runs each alert's real ``for:``) and writes recordings and ``ALERTS`` back.

    Recording rules first, alerts next, each a replay of its own: a replay evaluates groups one
    after the other with no pause, and an alert would read recording-rule results the storage
    has not made searchable yet. Replay mode cannot run the ``query`` template function, so
    annotations using it are left out of the copy vmalert reads; expressions, ``for:`` and
    labels are the real ones."""
    need("vmalert")
    groups = yaml.safe_load(rules.read_text())["groups"]
    for kind in ("record", "alert"):
        chosen = [{**g, "rules": [dict(r) for r in g["rules"] if kind in r]} for g in groups]
        for rule in (r for g in chosen for r in g["rules"]):
            annotations = dict(rule.get("annotations", {}))
            rule["annotations"] = {k: v for k, v in annotations.items() if "query " not in v}
        rule_file = workdir / f"vmalert-{kind}.yml"
        rule_file.write_text(yaml.safe_dump({"groups": [g for g in chosen if g["rules"]]}))
        out = subprocess.run(
            [
                "vmalert",
                f"-rule={rule_file}",
                f"-datasource.url={vm.url}",
                f"-remoteWrite.url={vm.url}",
                f"-replay.timeFrom={rfc3339(start)}",
                f"-replay.timeTo={rfc3339(end)}",
                "-replay.disableProgressBar",
                # The query step must be the evaluation interval: with the default 5m step,
                # replay sees a gap between points that resets every `for:` to pending.
                "-evaluationInterval=1m",
                "-datasource.queryStep=1m",
                # Recording rules read each other within a group; alerts read only recordings.
                f"-replay.rulesDelay={'0.3s' if kind == 'record' else '0s'}",
                f"-httpListenAddr=127.0.0.1:{free_port()}",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=workdir,
        )
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        vm.flush()
        time.sleep(1)  # VictoriaMetrics makes new series searchable about a second after a flush
    vm.flush()
