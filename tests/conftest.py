"""Shared fixtures: real Prometheus processes on free loopback ports, stopped by pid, and the
demo stack. They import the process handling (demo/) only when a test asks for them, so unit
tests load none of it; the helpers themselves are in tests/helpers/."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import pytest
import yaml

if TYPE_CHECKING:
    from demo.history import HistoryPrometheus
    from demo.stack import Stack
    from tests.helpers.processes import PrometheusProc

# The folder a test lives in says what it needs: `-m "not integration and not e2e"` runs the
# unit tests alone.
_FOLDER_MARKS = {"integration": "integration", "e2e": "e2e"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        folder = item.path.parent.name
        if folder in _FOLDER_MARKS:
            item.add_marker(_FOLDER_MARKS[folder])


@pytest.fixture(autouse=True)
def _root_logger_restored() -> Iterator[None]:
    """A test that runs a command in-process sets the root logger's level and handler
    (``--log.level``); later tests, in whatever order they run, must not inherit them."""
    root = logging.getLogger()
    level, handlers = root.level, root.handlers[:]
    yield
    root.setLevel(level)
    root.handlers[:] = handlers


@pytest.fixture
def start_prometheus(tmp_path: Path) -> Iterator[Callable[..., PrometheusProc]]:
    """Factory: a real Prometheus with optional backfilled OpenMetrics and scrape configs."""
    from demo.stack import free_port
    from tests.helpers.processes import PrometheusProc, backfill, need

    started: list[PrometheusProc] = []

    def start(
        openmetrics: str | None = None,
        scrape_configs: list | None = None,
        rule_files: list[str] | None = None,
        name: str = "prom",
    ) -> PrometheusProc:
        need("prometheus")
        workdir = tmp_path / name
        workdir.mkdir()
        cfg = {
            "global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
            "scrape_configs": scrape_configs or [],
            "rule_files": rule_files or [],
        }
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
    from demo.stack import Stack, missing_binaries

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
    from demo.history import ANCHOR, HistoryPrometheus
    from demo.stack import missing_binaries

    missing = missing_binaries()
    if missing:
        pytest.skip(f"missing {', '.join(missing)} (Debian packages; `make test` installs them)")
    prom = HistoryPrometheus(
        tmp_path_factory.mktemp("report-history"), ANCHOR, days=15, down=("azure",)
    )
    prom.start()
    yield prom
    prom.stop()
