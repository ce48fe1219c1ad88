"""The ``gcp`` provider: Compute Engine (hypervisor and, with the Ops Agent, guest) and GKE
utilisation from Cloud Monitoring, per project.

Spend is not read here: GCP's Cloud Billing FOCUS export (BigQuery, exported to files or GCS)
is read by :class:`GcpBillingProvider`, the ``focus`` provider under another name, so both
billing paths share one layout and one ledger.
"""

from __future__ import annotations

import logging
from typing import Any, Iterator, Sequence

import numpy as np
from prometheus_client.core import Metric

from promcast_common.catalogue import Families
from promcast_common.collector import Provider
from promcast_common.parts import Part, Parts
from promcast_exporter.providers.focus.provider import FocusProvider

from .monitoring import MonitoringClient, Window, default_session
from .series import GROUPS, QUERIES, Assembler, HistorySeries

log = logging.getLogger(__name__)
MIN_STEP = 60  # Cloud Monitoring's smallest alignment period


class GcpBillingProvider(FocusProvider):
    """GCP spend from its FOCUS export files: the focus layout and ledger, ``source="gcp-billing"``."""

    name = "gcp-billing"


class GcpMonitoringProvider(Provider):
    """Reads every configured project each refresh; a failing project keeps its last good series
    (and says so in ``promcast_exporter_part_refresh_success{part="monitoring"}``) while the others are updated."""

    name = "gcp"

    def __init__(
        self,
        refresh_interval: float,
        projects: Sequence[str],
        *,
        step: float = 300,
        lookback: float = 900,
        groups: Sequence[str] = ("compute", "guest", "gke_nodes"),
        workload_label: str = "workload",
        timeout: float = 30.0,
        page_size: int = 100000,
        session: Any = None,
    ) -> None:
        super().__init__(refresh_interval)
        unknown = set(groups) - set(GROUPS)
        if unknown:
            raise ValueError(f"unknown metric group(s) {sorted(unknown)}; choose from {GROUPS}")
        if step < MIN_STEP:
            raise ValueError(
                f"step must be at least {MIN_STEP}s (Cloud Monitoring's smallest "
                f"alignment period), got {step}s"
            )
        self.projects = list(projects)
        self.step = float(step)
        self.lookback = max(float(lookback), self.step)
        self.queries = [q for q in QUERIES if q.group in groups]
        self.workload_label = workload_label
        self.timeout = timeout
        self.page_size = page_size
        self._session = session
        # One part per project, read at every refresh; its data: the newest value per series.
        self.parts = Parts(self.name, "GCP")
        for project in self.projects:
            self.parts.add(
                Part("monitoring", account=project, context={"project": project}, key=project)
            )

    def _client(self) -> MonitoringClient:
        if self._session is None:
            self._session = default_session(self.timeout)
        return MonitoringClient(self._session, self.count_call, self.timeout, self.page_size)

    def _read(
        self, client: MonitoringClient, project: str, grid: np.ndarray, step: float
    ) -> Iterator[HistorySeries]:
        window = Window(float(grid[0]) - step, float(grid[-1]), step)
        assembler = Assembler(project, grid, step, self.workload_label)
        for query in self.queries:
            for series in client.list_time_series(project, query.filter(), window):
                assembler.add(query, series)
        return assembler.series()

    def refresh(self, now: float) -> list[Metric]:
        client = self._client()
        end = (now // self.step) * self.step  # the newest complete alignment period ends here
        n = int(self.lookback // self.step)
        grid = end - self.step * np.arange(n - 1, -1, -1, dtype=float)

        def read(part: Part, now: float) -> list[tuple[str, dict[str, str], float]]:
            latest = []
            for name, labels, values in self._read(client, part.key, grid, self.step):
                known = np.flatnonzero(np.isfinite(values))
                if len(known):  # the newest aligned point: Monitoring lags a few minutes
                    latest.append((name, labels, float(values[known[-1]])))
            log.debug(
                "project read",
                extra={"provider": self.name, "project": part.key, "series": len(latest)},
            )
            return latest

        self.parts.run_due(now, read)
        out = Families()
        for part in self.parts:
            for name, labels, value in part.data or []:
                out.add(name, labels, value)
        self.parts.report(out)
        return self.parts.finish(
            list(out),
            all_failed=lambda problems: RuntimeError(
                f"every project failed ({', '.join(self.projects)}); see the log lines above for "
                "each project's error"
            ),
        )

    def history(
        self, start: float, end: float, step: float
    ) -> Iterator[tuple[str, dict[str, str], np.ndarray, np.ndarray]]:
        if step < MIN_STEP:
            raise ValueError(
                f"--step must be at least {MIN_STEP}s for gcp (Cloud Monitoring's "
                f"smallest alignment period), got {step}s"
            )
        client = self._client()
        t = np.arange(start, end + 1, step, dtype=float)
        if not len(t):
            return
        failed = []
        for project in self.projects:
            try:
                # Gathered whole per project, so a project failing half-way adds nothing.
                found = list(self._read(client, project, t, step))
            except Exception as exc:  # noqa: BLE001 - one project must not lose the others
                failed.append(project)
                log.error(
                    "history of the project failed; writing the other projects' history",
                    extra={"provider": self.name, "project": project, "err": str(exc)},
                )
                continue
            for name, labels, values in found:
                if np.isfinite(values).any():
                    yield name, labels, t, values
        if len(failed) == len(self.projects):
            raise RuntimeError(f"history failed for every project ({', '.join(failed)})")
