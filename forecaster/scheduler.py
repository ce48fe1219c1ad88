"""The service's loops: one per target, budget, the recommendations and the scheduled report,
each on its own interval; epochs between reloads; shutdown.

Each cycle goes one way: the reader reads, the engine fits (off the event loop, in the fit
slots), the publisher takes the results, the health tracker records the outcome, and the
remote-write pusher queues what was published. A failing or slow target never holds up the
others; an unreachable Prometheus is retried with backoff while the last good results stay
published and marked stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from functools import partial
from typing import Awaitable, Callable

import aiohttp

from promcast_common.config import ConfigError, validate
from promcast_common.durations import format_duration
from promcast_forecaster import __version__
from promcast_forecaster.budgets import period_bounds, project, spent_per_series
from promcast_forecaster.config import Budget, ForecasterConfig, ResolvedTarget
from promcast_forecaster.engine import (
    CapacityError,
    FittedModel,
    TargetResult,
    forecast_target,
    history_needed,
    log_waiting,
    match_capacity,
    select_series,
)
from promcast_forecaster.health import RECOMMENDATIONS, REPORT, HealthTracker
from promcast_forecaster.interrupt import Interrupted, run_interruptible, stoppable
from promcast_forecaster.planning.plan import TargetPlanner
from promcast_forecaster.publish.publisher import Publisher
from promcast_forecaster.publish.pusher import RemoteWritePusher
from promcast_forecaster.reader import Reader
from promcast_forecaster.instance_catalog import load_catalog
from promcast_forecaster.recommend.runner import Runner
from promcast_forecaster.source import (
    PrometheusSource,
    QueryError,
    RawSeries,
    SourceUnavailable,
    TooManySeries,
)

log = logging.getLogger("promcast.forecaster")
MAX_BACKOFF = 300.0


class Scheduler:
    def __init__(
        self,
        cfg: ForecasterConfig,
        reader: Reader,
        health: HealthTracker,
        publisher: Publisher,
        pusher: RemoteWritePusher,
        shard_index: int = 0,
        shard_count: int = 1,
    ) -> None:
        if not 0 <= shard_index < shard_count:
            raise ValueError(f"--shard.index must be in [0, {shard_count}), got {shard_index}")
        self.shard_index, self.shard_count = shard_index, shard_count
        self.reader, self.health, self.publisher, self.pusher = reader, health, publisher, pusher
        self.planners: dict[str, TargetPlanner] = {}
        self._pending: ForecasterConfig | None = None  # a reloaded config, applied between runs
        self._reloaded = asyncio.Event()
        self._running = False
        self.version = 0
        # Set when the service stops: running fits end at their next checkpoint.
        self.stop_fits = threading.Event()
        self._targets_by_name: dict[str, ResolvedTarget] = {}
        self.cfg: ForecasterConfig | None = None
        self._configure(cfg)

    def _configure(self, cfg: ForecasterConfig) -> None:
        """Take ``cfg``, keeping the state (results, history, health, planner) of every target,
        budget and the recommendations whose settings it does not change: a reload that adds
        one target neither refits nor resets the `for:` timers of the others."""
        old = self.cfg
        old_targets = self._targets_by_name
        old_budgets = {b.name: b for b in old.budgets} if old else {}
        self.cfg = cfg
        self.targets = cfg.resolved_targets()
        self._targets_by_name = {t.name: t for t in self.targets}
        kept = {t.name for t in self.targets if old_targets.get(t.name) == t}
        kept |= {b.name for b in cfg.budgets if old_budgets.get(b.name) == b}
        if old is not None and cfg.recommendations and old.recommendations == cfg.recommendations:
            kept.add(RECOMMENDATIONS)
        if old is not None and old.prometheus != cfg.prometheus:
            kept = set()  # history read from another server says nothing about this one
        self.publisher.configure(self.targets, kept)
        self.reader.keep(kept)
        for name in [n for n in self.planners if n not in kept]:
            del self.planners[name]
        # Planning (scenarios, order-by dates, replicas) per target; planners keep the
        # autoscaling stabilisation state, so plans are made once per cycle, not per scrape.
        for t in self.targets:
            self.planners.setdefault(t.name, TargetPlanner(t))
        # Read once per config: the instance catalogue changes with a restart or a reload.
        self.catalog = (
            load_catalog(
                cfg.recommendations.instance_types_file, cfg.recommendations.builtin_instance_types
            )
            if cfg.recommendations
            else None
        )
        self.health.configure(
            [t.name for t in self.targets]
            + [b.name for b in cfg.budgets]
            + ([RECOMMENDATIONS] if cfg.recommendations else [])
            + ([REPORT] if cfg.report.interval else []),
            kept,
        )
        self._fit_slots = asyncio.Semaphore(cfg.max_concurrency)
        self.version += 1

    def apply(self, cfg: ForecasterConfig) -> None:
        """Use a reloaded config: at once when not running, else as soon as the cycles in
        flight are done (they finish on the config they started with)."""
        if cfg == self.cfg and self._pending is None:
            log.info("config unchanged; nothing to reload")
            return
        if not self._running:
            self._configure(cfg)
            return
        self._pending = cfg
        self._reloaded.set()

    async def run(self, stop: asyncio.Event) -> None:
        self._running = True
        self.stop_fits = threading.Event()  # this run's: fits abandoned before stay stopped
        try:
            async with aiohttp.ClientSession() as session:
                while not stop.is_set():
                    if self._pending is not None:
                        cfg, self._pending = self._pending, None
                        self._configure(cfg)
                    if self.pusher.outdated(self.cfg.remote_write):
                        # Samples still queued for a receiver no longer configured are dropped.
                        self.pusher.connect(self.cfg.remote_write, session)
                    self._reloaded.clear()
                    epoch = asyncio.Event()
                    work = asyncio.ensure_future(self._run_epoch(session, epoch))
                    waits = [asyncio.ensure_future(e.wait()) for e in (stop, self._reloaded)]
                    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                    for w in waits:
                        w.cancel()
                    epoch.set()
                    if stop.is_set():
                        # Stopping: cycles in progress are abandoned (their results would never
                        # be served) and their fits end at the next checkpoint, so SIGTERM is
                        # prompt however large the refit that was running. A reload lets them
                        # finish on the config they started with.
                        self.stop_fits.set()
                        work.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await work
        finally:
            self._running = False
            self.reader.source = None

    async def _run_epoch(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        """Every loop of the current config until ``stop`` (shutdown or a reload)."""
        source = PrometheusSource.from_config(self.cfg.prometheus, session)
        self.reader.source = source
        queue = self.pusher.queue
        await asyncio.gather(
            *([queue.run(stop)] if queue else []),
            *(
                self._loop(t.name, t.infer_every, partial(self.run_cycle, t, source), stop)
                for t in self.targets
            ),
            *(
                self._loop(
                    b.name,
                    self.cfg.budget_target(b, b.step).infer_every,
                    partial(self.run_budget_cycle, b, source),
                    stop,
                )
                for b in self.cfg.budgets
            ),
            *(
                [
                    self._loop(
                        RECOMMENDATIONS,
                        self.cfg.recommendations.interval,
                        partial(self.run_recommendations_cycle, source),
                        stop,
                    )
                ]
                if self.cfg.recommendations
                else []
            ),
            *(
                [
                    self._loop(
                        REPORT,
                        self.cfg.report.interval,
                        partial(self._report_then_wait, source),
                        stop,
                    )
                ]
                if self.cfg.report.interval
                else []
            ),
            stop.wait(),
        )  # with no targets, ad-hoc forecasts still need the source

    async def forecast_adhoc(
        self, spec: dict, max_series: int, max_samples: int, offload: Callable[..., Awaitable]
    ) -> TargetResult:
        """Forecast an ad-hoc query now (``POST /api/v1/forecast``): ``query`` and ``horizon``
        are required; any other target field may be given, the rest come from ``defaults``.

        The body is request input: validated as a target (with the config's ``limits``) but never
        expanded from the environment. At most ``max_series`` series are read (the lower of that,
        the body's ``max_series`` and what keeps series x history points within ``max_samples``);
        the fit runs through ``offload``, off the event loop."""
        if not isinstance(spec, dict) or "query" not in spec or "horizon" not in spec:
            raise ValueError(
                'the body needs "query" and "horizon", e.g. {"query": "up", "horizon": "1h"}'
            )
        fields = {k: v for k, v in spec.items() if k != "horizon"}
        fields.update(name="adhoc", horizons=[spec["horizon"]])
        try:
            cfg = validate(
                ForecasterConfig,
                {**self.cfg.model_dump(exclude={"targets"}), "targets": [fields]},
                "request body",
            )
        except ConfigError as exc:
            raise ValueError(
                "; ".join(
                    p.replace("targets[0] (adhoc): ", "").replace("targets[0].", "")
                    for p in exc.problems
                )
            ) from None
        target = cfg.resolved_targets()[0]
        source = self.reader.source
        if source is None:
            raise ValueError("the forecaster is not connected to Prometheus yet")
        allowed = min(target.max_series, max_series, max_samples // target.points)
        if allowed < 1:
            raise ValueError(
                f"history {format_duration(target.history)} at step "
                f"{format_duration(target.step)} is {target.points} points per series, "
                f"over --query.max-samples={max_samples}; raise step or shorten history"
            )
        stop = self.stop_fits

        async def watched(fn: Callable, *args: object) -> TargetResult:
            # In the API's bounded pool, but ended at a checkpoint once the service stops, so
            # an API request's fit holds up SIGTERM no more than a cycle's does.
            try:
                return await offload(stoppable(stop, fn), *args)
            except Interrupted:
                raise SourceUnavailable("the forecaster is shutting down") from None

        try:
            return await self._forecast(
                target, source, cache=False, max_series=allowed, offload=watched
            )
        except TooManySeries as exc:
            raise ValueError(
                f"{exc}: at most {allowed}, the lowest of the body's max_series, "
                f"--query.max-series={max_series} and --query.max-samples="
                f"{max_samples} / {target.points} history points; narrow the query"
            ) from None
        except (SourceUnavailable, QueryError) as exc:
            raise ValueError(str(exc)) from None

    async def _forecast(
        self,
        target: ResolvedTarget,
        source: PrometheusSource,
        cache: bool = True,
        now: float | None = None,
        max_series: int | None = None,
        offload: Callable[..., Awaitable] | None = None,
    ) -> TargetResult:
        """Read the target's history through the reader, then fit and predict off the loop (in
        the fit slots, or through ``offload``)."""
        now = time.time() if now is None else now
        previous = self.publisher.results.get(target.name) if cache else None
        refit_due = (
            previous is None or previous.fitted is None or not previous.fitted.current(target, now)
        )
        reading = await self.reader.read(target, source, now, refit_due, cache, max_series)
        raw = reading.raw
        # Selecting, joining the capacities (a dict lookup per series, but a fleet's worth) and
        # fitting all run off the event loop.
        work = partial(
            self._select_and_fit,
            target,
            raw,
            reading.capacity,
            reading.end,
            now,
            previous.fitted if previous else None,
            cache,
        )
        if offload is not None:
            return await offload(work)
        async with self._fit_slots:
            log.debug(
                "fitting", extra={"target": target.name, "series": len(raw), "model": target.model}
            )
            return await run_interruptible(self.stop_fits, work)

    def _select_and_fit(
        self,
        target: ResolvedTarget,
        raw: list[RawSeries],
        cap: list[RawSeries] | None,
        end: float,
        now: float,
        fitted: FittedModel | None,
        backtest: bool,
    ) -> TargetResult:
        sel = select_series(raw, target, self.shard_index, self.shard_count, end=end)
        capacities = None
        if cap is not None:
            try:
                capacities = match_capacity(sel.series, cap)
            except CapacityError as exc:
                raise QueryError(
                    f"target {target.name}: its capacity query {target.capacity!r}: {exc}"
                ) from None
        # Uncached runs (budgets, ad-hoc forecasts) publish no backtest: none is made.
        result = forecast_target(
            target, sel.series, end, now, capacities, fitted, backtest=backtest
        )
        result.over_cap, result.collided, result.retired = sel.over_cap, sel.collided, sel.retired
        return result

    async def _loop(
        self, name: str, interval: float, cycle: Callable[[], Awaitable[bool]], stop: asyncio.Event
    ) -> None:
        failures = 0
        while not stop.is_set():
            ok = await cycle()
            failures = 0 if ok else failures + 1
            # Retry a failed cycle sooner, backing off up to the interval.
            wait = interval if ok else min(interval, MAX_BACKOFF, 2.0**failures)
            try:
                await asyncio.wait_for(stop.wait(), timeout=wait)
            except asyncio.TimeoutError:
                pass

    async def _guarded(
        self, name: str, work: Callable[[], Awaitable[dict]], at: float | None = None
    ) -> bool:
        """Run one cycle of a target or budget, keeping its health; True on success. Never
        raises: a failure is logged and counted, and the last good results stay published."""
        try:
            return await self._run_and_record(name, work)
        finally:
            self.version += 1  # what /metrics shows changes with every cycle, good or bad
            self.pusher.push(name, at)

    async def _run_and_record(self, name: str, work: Callable[[], Awaitable[dict]]) -> bool:
        started = time.monotonic()
        try:
            summary = await work()
        except Exception as exc:  # one target's failure must not stop the service
            expected = isinstance(exc, (SourceUnavailable, QueryError))
            kind = (
                "source unavailable"
                if isinstance(exc, SourceUnavailable)
                else "query rejected"
                if isinstance(exc, QueryError)
                else "cycle failed"
            )
            stale = self.publisher.has_results(name)
            self.health.failed(name, started, stale)
            log.error(
                kind + ("; keeping the last good results" if stale else ""),
                extra={"target": name, "err": str(exc) if expected else repr(exc)},
                exc_info=not expected,
            )
            return False
        duration = self.health.succeeded(name, started)
        log.info("cycle done", extra={"target": name, "duration_s": round(duration, 3), **summary})
        return True

    async def run_cycle(
        self, target: ResolvedTarget, source: PrometheusSource, at: float | None = None
    ) -> bool:
        """One query + fit + predict for a target; True on success. Never raises. ``at``
        replays the cycle as it would have run at that past instant (default: the clock)."""

        async def work() -> dict:
            result = await self._forecast(target, source, now=at)
            if not result.series and not result.waiting:
                result.waiting = await self._not_on_grid_yet(target, source, result.made_at)
            log_waiting(target.name, result.waiting)
            self.publisher.update_result(result)
            self.publisher.update_plan(target.name, self.planners[target.name].plan(result))
            self.health.count_series(
                target.name, result.over_cap, result.collided, result.fit_reason
            )
            closest = min(
                (
                    s.exhaustion_seconds
                    for s in result.series
                    if not math.isnan(s.exhaustion_seconds)
                ),
                default=math.inf,
            )
            return {
                "mode": f"fit ({result.fit_reason})" if result.refitted else "infer",
                "series": len(result.series),
                "skipped": result.skipped,
                "retired": result.retired,
                "waiting_for_history": len(result.waiting),
                "closest_exhaustion_s": closest,
            }

        return await self._guarded(target.name, work, at)

    async def _not_on_grid_yet(
        self, target: ResolvedTarget, source: PrometheusSource, now: float
    ) -> list[tuple[dict[str, str], float]]:
        """When a target's history read returned nothing, the series its query returns now:
        they exist but have no sample near a point of the step grid yet (a new exporter read at
        a 1 h step), and wait for history rather than being silently absent."""
        end = (now // target.step) * target.step
        raw = await self.reader.current(target, source, now)
        sel = select_series(raw, target, self.shard_index, self.shard_count)
        return history_needed(sel.series, target, end, now)

    async def run_recommendations_cycle(
        self, source: PrometheusSource, at: float | None = None
    ) -> bool:
        """Rightsizing, idle resources and commitments (forecaster/recommend), refreshed on
        their own interval; True on success. Never raises: the last good report stays. ``at``
        replays the cycle at a past instant, as in :meth:`run_cycle`."""

        async def work() -> dict:
            async def offload(fn, *args):  # fits share the targets' concurrency limit
                async with self._fit_slots:
                    return await run_interruptible(self.stop_fits, fn, *args)

            report = await Runner(
                self.cfg.recommendations, source, self.catalog, offload=offload
            ).run(at)
            self.publisher.update_report(report)
            return report.summary()

        return await self._guarded(RECOMMENDATIONS, work)

    async def run_report_cycle(self, source: PrometheusSource, at: float | None = None) -> bool:
        """Write the scheduled report for the period ending now (or ``at``) and deliver it; True
        on success. Never raises: a failed delivery is logged and counted on its health."""

        async def work() -> dict:
            from promcast_forecaster.report.schedule import write_scheduled

            now = time.time() if at is None else at
            report, files = await write_scheduled(
                self.cfg.report, self.cfg, source, now, __version__
            )
            return {"files": ",".join(str(f) for f in files), "notes": len(report.notes)}

        return await self._guarded(REPORT, work)

    async def _report_then_wait(self, source: PrometheusSource) -> bool:
        # A failed delivery is not retried sooner than the interval: each try writes and
        # sends a whole report.
        await self.run_report_cycle(source)
        return True

    async def run_budget_cycle(
        self, budget: Budget, source: PrometheusSource, at: float | None = None
    ) -> bool:
        """Project a budget to its period's end; True on success. Never raises. ``at`` replays
        the cycle at a past instant, as in :meth:`run_cycle`."""

        async def work() -> dict:
            now = time.time() if at is None else at
            start, end = period_bounds(now, budget.period)
            # The horizon moves with every cycle: nothing fitted or read before is reused.
            target = self.cfg.budget_target(budget, end - now)
            result = await self._forecast(target, source, cache=False, now=now)
            raw, per_hour = await self.reader.spend(
                budget, target, start, result.curve_start, source
            )
            spent = spent_per_series(raw, per_hour, target, result)
            projections = project(result, spent, budget.amount, now, end)
            log_waiting(budget.name, result.waiting, "budget")
            if not projections:
                log.warning(
                    "budget has no spend data to project: its spend_rate query returned "
                    + ("series with too little history" if result.waiting else "no series"),
                    extra={"target": budget.name, "query": budget.spend_rate},
                )
            self.publisher.update_budget(budget.name, (budget, end, projections, result.waiting))
            worst = max((p.overrun_probability for p in projections), default=0.0)
            return {"series": len(projections), "max_overrun_probability": round(worst, 3)}

        return await self._guarded(budget.name, work, at)
