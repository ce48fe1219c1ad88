"""The forecaster service, wired from its components: the scheduler runs one loop per target
and calls the reader, the engine and the publisher in that order; the health tracker records
each cycle; the ``/metrics`` collector and the remote-write pusher read what the publisher holds.

:class:`Forecaster` only wires them, and is what the command line, the API and the tests hold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Awaitable, Callable, Iterator

from promcast_forecaster.health import HealthTracker
from promcast_forecaster.publish.collector import MetricsCollector
from promcast_forecaster.publish.publisher import Publisher
from promcast_forecaster.publish.pusher import RemoteWritePusher
from promcast_forecaster.reader import Reader
from promcast_forecaster.scheduler import Scheduler

if TYPE_CHECKING:  # the facade hands these through; it builds none of them
    import asyncio

    import aiohttp
    from prometheus_client.core import Metric

    from promcast_forecaster.config import ForecasterConfig, ResolvedTarget
    from promcast_forecaster.engine import TargetResult
    from promcast_forecaster.planning.plan import Plan, TargetPlanner
    from promcast_forecaster.publish.publisher import BudgetProjection
    from promcast_forecaster.recommend.report import Report
    from promcast_forecaster.remote_write import WriteQueue


class Forecaster:
    def __init__(self, cfg: ForecasterConfig, shard_index: int = 0, shard_count: int = 1) -> None:
        self.health = HealthTracker()
        self.reader = Reader()
        self.publisher = Publisher(self.health)
        self.pusher = RemoteWritePusher(self.publisher)
        self.collector = MetricsCollector(self.publisher, self.pusher)
        self.scheduler = Scheduler(
            cfg, self.reader, self.health, self.publisher, self.pusher, shard_index, shard_count
        )
        # The scheduler's entry points, as the command line, the API and replays call them.
        self.apply = self.scheduler.apply
        self.run_cycle = self.scheduler.run_cycle
        self.run_budget_cycle = self.scheduler.run_budget_cycle
        self.run_recommendations_cycle = self.scheduler.run_recommendations_cycle
        self.run_report_cycle = self.scheduler.run_report_cycle
        self.ready = self.health.ready

    async def run(self, stop: asyncio.Event) -> None:
        await self.scheduler.run(stop)

    async def forecast_adhoc(
        self, spec: dict, max_series: int, max_samples: int, offload: Callable[..., Awaitable]
    ) -> TargetResult:
        return await self.scheduler.forecast_adhoc(spec, max_series, max_samples, offload)

    def collect(self) -> Iterator[Metric]:
        return self.collector.collect()

    def connect_remote_write(self, session: aiohttp.ClientSession) -> None:
        """Set up remote write's queue on ``session`` (with `remote_write` configured): the
        service does it when it runs, tests and replays to drive the queue themselves."""
        self.pusher.connect(self.cfg.remote_write, session)

    @property
    def cfg(self) -> ForecasterConfig:
        return self.scheduler.cfg

    @property
    def targets(self) -> list[ResolvedTarget]:
        return self.scheduler.targets

    @property
    def planners(self) -> dict[str, TargetPlanner]:
        return self.scheduler.planners

    @property
    def version(self) -> int:
        """Changes whenever what /metrics shows may have: a cycle ran, or a reload."""
        return self.scheduler.version

    @property
    def results(self) -> dict[str, TargetResult]:
        return self.publisher.results

    @property
    def plans(self) -> dict[str, Plan]:
        return self.publisher.plans

    @property
    def projections(self) -> dict[str, BudgetProjection]:
        return self.publisher.projections

    @property
    def report(self) -> Report | None:
        return self.publisher.report

    @report.setter
    def report(self, report: Report) -> None:
        self.publisher.update_report(report)

    @property
    def remote_write(self) -> WriteQueue | None:
        return self.pusher.queue

    @property
    def replay_stamps(self) -> bool:
        """Whether replayed cycles (``at=``) remote-write stamped at their own instant."""
        return self.pusher.replay_stamps

    @replay_stamps.setter
    def replay_stamps(self, value: bool) -> None:
        self.pusher.replay_stamps = value
