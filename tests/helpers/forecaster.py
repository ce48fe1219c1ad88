"""A forecaster's test world: disk history for Prometheus, a real Prometheus holding it with a
config file for the forecaster as a process, and the forecast lines a forecaster serves."""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from demo.stack import free_port
from promcast_forecaster.service import Forecaster
from tests.helpers.metrics import exposition
from tests.helpers.processes import PrometheusProc, backfill, need


def history(days: float = 3, step: float = 300, now: float | None = None) -> str:
    """disk_ratio for two hosts: "a" grows 5%/day from 0.65 and crosses 0.9 in ~2 days; the
    newest sample a step before ``now`` (default: the wall clock, for live services)."""
    end = int((time.time() if now is None else now) // step * step - step)
    lines = ["# TYPE disk_ratio gauge"]
    for host, level, per_day in (("a", 0.80, 0.05), ("b", 0.30, 0.0)):
        for t in range(end - int(days * 86400), end + 1, int(step)):
            lines.append(
                f'disk_ratio{{host="{host}"}} {level + per_day * (t - end) / 86400:.5f} {t}'
            )
    return "\n".join(lines) + "\n"


def disk_prometheus_and_config(work: Path) -> tuple[object, Path]:
    """A real Prometheus in ``work`` holding :func:`history`, and a forecaster config file for
    its disk target (for tests that start the forecaster as a process)."""
    need("prometheus")
    need("promtool")
    (work / "prometheus.yml").write_text(yaml.safe_dump({"scrape_configs": []}))
    backfill(history(), work / "data")
    port = free_port()
    prom = PrometheusProc(f"http://127.0.0.1:{port}", port, work, None)
    prom.start()
    cfg = work / "forecaster.yml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "prometheus": {"url": prom.url},
                "defaults": {"step": "1h", "history": "2d", "season": "1d", "capacity": 0.9},
                "targets": [{"name": "disk", "query": "disk_ratio", "horizons": ["1d", "3d"]}],
            }
        )
    )
    return prom, cfg


def forecast_lines(fc: Forecaster) -> set[str]:
    return {
        line
        for line in exposition(fc).splitlines()
        if line.startswith("promcast_forecast_") and not line.startswith("promcast_forecaster_")
    }
