"""The forecaster service: one loop per target, each on its own interval, publishing the newest
good results of every target on /metrics.

A failing or slow target never holds up the others; an unreachable Prometheus is retried with
backoff while the last good results stay published and marked stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Awaitable, Callable, Iterator

import aiohttp
import numpy as np
from prometheus_client.core import Metric

from promcast_common.catalogue import Families
from promcast_common.config import ConfigError, validate
from promcast_common.durations import format_duration
from promcast_common.httpclient import ClientConfigUnavailable
from promcast_forecaster import __version__
from promcast_forecaster.budgets import Projection, period_bounds, project
from promcast_forecaster.config import Budget, ForecasterConfig, RemoteWrite, ResolvedTarget
from promcast_forecaster.engine import (CapacityError, FittedModel, TargetResult, forecast_target,
                              history_needed, log_waiting, match_capacity, merge_history,
                              publish_horizons, select_series)
from promcast_forecaster.interrupt import Interrupted, run_interruptible, stoppable
from promcast_forecaster.planning.plan import Plan, TargetPlanner, publish_plan
from promcast_forecaster.recommend.catalog import load_catalog
from promcast_forecaster.recommend.report import Report, publish_report
from promcast_forecaster.recommend.runner import Runner
from promcast_forecaster.remote_write import RemoteWriter, WriteQueue, families_to_timeseries, now_ms
from promcast_forecaster.source import (PrometheusSource, QueryError, RawSeries, SourceUnavailable,
                              TooManySeries)

log = logging.getLogger("promcast.forecaster")
MAX_BACKOFF = 300.0
RECOMMENDATIONS = "recommendations"  # the `target` label of their health series
REPORT = "report"                    # ... and of the scheduled reports' health series


@dataclass
class TargetHealth:
    up: bool = False
    stale: bool = False
    attempted: bool = False
    last_success: float = 0.0
    duration: float = 0.0
    successes: int = 0
    errors: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: {"max_series": 0, "label_collision": 0})
    fits: dict[str, int] = field(default_factory=dict)  # by reason (engine.fit_reason)


class Forecaster:
    def __init__(self, cfg: ForecasterConfig, shard_index: int = 0, shard_count: int = 1) -> None:
        if not 0 <= shard_index < shard_count:
            raise ValueError(f"--shard.index must be in [0, {shard_count}), got {shard_index}")
        self.shard_index, self.shard_count = shard_index, shard_count
        self.results: dict[str, TargetResult] = {}
        self.plans: dict[str, Plan] = {}
        self.projections: dict[str, tuple[Budget, float, list[Projection]]] = {}
        self.report: Report | None = None
        self.health: dict[str, TargetHealth] = {}
        self._history: dict[str, tuple[float, list]] = {}  # target -> (end of last read, series)
        self.planners: dict[str, TargetPlanner] = {}
        self._source: PrometheusSource | None = None
        # Remote write's queue (with `remote_write` configured), sending beside the cycles.
        self.remote_write: WriteQueue | None = None
        self._pending: ForecasterConfig | None = None  # a reloaded config, applied between runs
        self._reloaded = asyncio.Event()
        self._running = False
        # A cycle replayed at a past instant (`at=`) remote-writes its results stamped now, as a
        # live cycle's; True stamps them at that instant instead, to backfill a receiver that
        # takes old samples (VictoriaMetrics; Prometheus refuses them after about an hour).
        self.replay_stamps = False
        self.version = 0
        # Set when the service stops: running fits end at their next checkpoint.
        self._stop_fits = threading.Event()
        self._configure(cfg)

    def _configure(self, cfg: ForecasterConfig) -> None:
        """Take ``cfg``, keeping the state (results, history, health, planner) of every target,
        budget and the recommendations whose settings it does not change: a reload that adds
        one target neither refits nor resets the `for:` timers of the others."""
        old = getattr(self, "cfg", None)
        old_targets = getattr(self, "_targets_by_name", {})
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
        if RECOMMENDATIONS not in kept:
            self.report = None
        for state in (self.results, self.plans, self.projections, self._history, self.planners):
            for name in [n for n in state if n not in kept]:
                del state[name]
        # Planning (scenarios, order-by dates, replicas) per target; planners keep the
        # autoscaling stabilisation state, so plans are made once per cycle, not per scrape.
        for t in self.targets:
            self.planners.setdefault(t.name, TargetPlanner(t))
        # Read once per config: the instance catalogue changes with a restart or a reload.
        self.catalog = (load_catalog(cfg.recommendations.instance_types_file,
                                     cfg.recommendations.builtin_instance_types)
                        if cfg.recommendations else None)
        self.health = {n: self.health[n] if n in kept else TargetHealth()
                       for n in [t.name for t in self.targets] + [b.name for b in cfg.budgets]
                       + ([RECOMMENDATIONS] if cfg.recommendations else [])
                       + ([REPORT] if cfg.report.interval else [])}
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
        self._stop_fits = threading.Event()  # this run's: fits abandoned before stay stopped
        try:
            async with aiohttp.ClientSession() as session:
                while not stop.is_set():
                    if self._pending is not None:
                        cfg, self._pending = self._pending, None
                        self._configure(cfg)
                    if self.remote_write is None or self._remote_write_cfg != self.cfg.remote_write:
                        # Samples still queued for a receiver no longer configured are dropped.
                        self.connect_remote_write(session)
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
                        self._stop_fits.set()
                        work.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await work
        finally:
            self._running = False
            self._source = None

    async def _run_epoch(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        """Every loop of the current config until ``stop`` (shutdown or a reload)."""
        source = PrometheusSource.from_config(self.cfg.prometheus, session)
        self._source = source
        await asyncio.gather(
            *([self.remote_write.run(stop)] if self.remote_write else []),
            *(self._loop(t.name, t.infer_every, partial(self.run_cycle, t, source), stop)
              for t in self.targets),
            *(self._loop(b.name, self.cfg.budget_target(b, b.step).infer_every,
                         partial(self.run_budget_cycle, b, source), stop)
              for b in self.cfg.budgets),
            *([self._loop(RECOMMENDATIONS, self.cfg.recommendations.interval,
                          partial(self.run_recommendations_cycle, source), stop)]
              if self.cfg.recommendations else []),
            *([self._loop(REPORT, self.cfg.report.interval,
                          partial(self._report_then_wait, source), stop)]
              if self.cfg.report.interval else []),
            stop.wait())  # with no targets, ad-hoc forecasts still need the source

    def connect_remote_write(self, session: aiohttp.ClientSession) -> None:
        """Set up remote write's queue on ``session`` (with `remote_write` configured);
        :meth:`run` does it, tests and replays call it to drive the queue themselves."""
        rw = self._remote_write_cfg = self.cfg.remote_write
        self.remote_write = None
        if rw is None:
            return
        writer = make_writer(rw, session)
        try:
            writer.check_client()
        except ClientConfigUnavailable as exc:
            # A token file gone since start-up: nothing is sent (the results stay on /metrics)
            # until a reload or restart finds it again; said at once, not at shutdown.
            self._remote_write_cfg = None
            log.error("remote write not possible", extra={"err": str(exc)})
            return
        self.remote_write = WriteQueue(writer, capacity=rw.queue_capacity, max_age=rw.max_sample_age)

    async def forecast_adhoc(self, spec: dict, max_series: int, max_samples: int,
                             offload: Callable[..., Awaitable]) -> TargetResult:
        """Forecast an ad-hoc query now (``POST /api/v1/forecast``): ``query`` and ``horizon``
        are required; any other target field may be given, the rest come from ``defaults``.

        The body is request input: validated as a target (with the config's ``limits``) but never
        expanded from the environment. At most ``max_series`` series are read (the lower of that,
        the body's ``max_series`` and what keeps series x history points within ``max_samples``);
        the fit runs through ``offload``, off the event loop."""
        if not isinstance(spec, dict) or "query" not in spec or "horizon" not in spec:
            raise ValueError('the body needs "query" and "horizon", e.g. '
                             '{"query": "up", "horizon": "1h"}')
        fields = {k: v for k, v in spec.items() if k != "horizon"}
        fields.update(name="adhoc", horizons=[spec["horizon"]])
        try:
            cfg = validate(ForecasterConfig, {**self.cfg.model_dump(exclude={"targets"}),
                                              "targets": [fields]}, "request body")
        except ConfigError as exc:
            raise ValueError("; ".join(p.replace("targets[0] (adhoc): ", "").replace("targets[0].", "")
                                       for p in exc.problems)) from None
        target = cfg.resolved_targets()[0]
        if self._source is None:
            raise ValueError("the forecaster is not connected to Prometheus yet")
        allowed = min(target.max_series, max_series, max_samples // target.points)
        if allowed < 1:
            raise ValueError(f"history {format_duration(target.history)} at step "
                             f"{format_duration(target.step)} is {target.points} points per series, "
                             f"over --query.max-samples={max_samples}; raise step or shorten history")
        stop = self._stop_fits

        async def watched(fn: Callable, *args: object) -> TargetResult:
            # In the API's bounded pool, but ended at a checkpoint once the service stops, so
            # an API request's fit holds up SIGTERM no more than a cycle's does.
            try:
                return await offload(stoppable(stop, fn), *args)
            except Interrupted:
                raise SourceUnavailable("the forecaster is shutting down") from None

        try:
            return await self._forecast(target, self._source, cache=False, max_series=allowed,
                                        offload=watched)
        except TooManySeries as exc:
            raise ValueError(f"{exc}: at most {allowed}, the lowest of the body's max_series, "
                             f"--query.max-series={max_series} and --query.max-samples="
                             f"{max_samples} / {target.points} history points; narrow the query"
                             ) from None
        except (SourceUnavailable, QueryError) as exc:
            raise ValueError(str(exc)) from None

    async def _forecast(self, target: ResolvedTarget, source: PrometheusSource,
                        cache: bool = True, now: float | None = None, max_series: int | None = None,
                        offload: Callable[..., Awaitable] | None = None) -> TargetResult:
        """Query the target's history on its step grid, then fit and predict off the loop (in
        the fit slots, or through ``offload``)."""
        now = time.time() if now is None else now
        end = (now // target.step) * target.step
        start = end - (target.points - 1) * target.step
        previous = self.results.get(target.name) if cache else None
        raw = None
        cached = self._history.get(target.name) if cache else None
        refit_due = (previous is None or previous.fitted is None
                     or not previous.fitted.current(target, now))
        if cached is not None and not refit_due:
            # Between refits only the newest steps are fetched: a fleet's whole history every
            # few minutes would cost Prometheus far more than the forecast. They go back a
            # staleness from the last read, so samples that came late (a delayed scrape or
            # remote write) still fill the steps that lacked them.
            since = max(start, cached[0] - target.staleness_seconds // target.step * target.step)
            new = await source.query_range(target.query, since, end, target.step, target.timeout)
            raw = await asyncio.get_running_loop().run_in_executor(
                None, merge_history, cached[1], new, start)
        if raw is None:
            bound = {} if max_series is None else {"max_series": max_series}
            raw = await source.query_range(target.query, start, end, target.step, target.timeout,
                                           **bound)
        if cache:
            self._history[target.name] = (end, raw)
        cap = None
        if isinstance(target.capacity, str):
            # Capacity as a query (e.g. a disk's size): its newest value per matching series,
            # read within the target query's series limit (or as many series as that query
            # returned, some of which max_series may then drop).
            limit = max(target.max_series if max_series is None else max_series, len(raw))
            why_limit = ("the target's max_series, or the series its query returned if more"
                         if max_series is None else "the ad-hoc forecast's limit: the lowest of "
                         "the body's max_series, --query.max-series and --query.max-samples / "
                         "history points")
            try:
                cap = await source.query_range(target.capacity, end, end, target.step,
                                               target.timeout, max_series=limit)
            except TooManySeries:
                raise QueryError(
                    f"target {target.name}: its capacity query {target.capacity!r} returns more "
                    f"than {limit} series ({why_limit}); narrow it to the series the target "
                    "forecasts") from None
        # Selecting, joining the capacities (a dict lookup per series, but a fleet's worth) and
        # fitting all run off the event loop.
        work = partial(self._select_and_fit, target, raw, cap, end, now,
                       previous.fitted if previous else None, cache)
        if offload is not None:
            return await offload(work)
        async with self._fit_slots:
            log.debug("fitting", extra={"target": target.name, "series": len(raw),
                                        "model": target.model})
            return await run_interruptible(self._stop_fits, work)

    def _select_and_fit(self, target: ResolvedTarget, raw: list[RawSeries],
                        cap: list[RawSeries] | None, end: float, now: float,
                        fitted: FittedModel | None, backtest: bool) -> TargetResult:
        sel = select_series(raw, target, self.shard_index, self.shard_count, end=end)
        capacities = None
        if cap is not None:
            try:
                capacities = match_capacity(sel.series, cap)
            except CapacityError as exc:
                raise QueryError(f"target {target.name}: its capacity query "
                                 f"{target.capacity!r}: {exc}") from None
        # Uncached runs (budgets, ad-hoc forecasts) publish no backtest: none is made.
        result = forecast_target(target, sel.series, end, now, capacities, fitted, backtest=backtest)
        result.over_cap, result.collided, result.retired = sel.over_cap, sel.collided, sel.retired
        return result

    async def _loop(self, name: str, interval: float, cycle: Callable[[], Awaitable[bool]],
                    stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            ok = await cycle()
            failures = 0 if ok else failures + 1
            # Retry a failed cycle sooner, backing off up to the interval.
            wait = interval if ok else min(interval, MAX_BACKOFF, 2.0 ** failures)
            try:
                await asyncio.wait_for(stop.wait(), timeout=wait)
            except asyncio.TimeoutError:
                pass

    async def _guarded(self, name: str, work: Callable[[], Awaitable[dict]],
                       at: float | None = None) -> bool:
        """Run one cycle of a target or budget, keeping its health; True on success. Never
        raises: a failure is logged and counted, and the last good results stay published."""
        try:
            return await self._run_and_record(name, work)
        finally:
            self.version += 1  # what /metrics shows changes with every cycle, good or bad
            self._push(name, at)

    async def _run_and_record(self, name: str, work: Callable[[], Awaitable[dict]]) -> bool:
        health = self.health[name]
        started = time.monotonic()
        try:
            summary = await work()
        except Exception as exc:  # one target's failure must not stop the service
            expected = isinstance(exc, (SourceUnavailable, QueryError))
            kind = ("source unavailable" if isinstance(exc, SourceUnavailable)
                    else "query rejected" if isinstance(exc, QueryError) else "cycle failed")
            health.up, health.attempted = False, True
            health.stale = (name in self.results or name in self.projections
                            or (name == RECOMMENDATIONS and self.report is not None))
            health.errors += 1
            health.duration = time.monotonic() - started
            log.error(kind + ("; keeping the last good results" if health.stale else ""),
                      extra={"target": name, "err": str(exc) if expected else repr(exc)},
                      exc_info=not expected)
            return False
        health.up, health.stale, health.attempted = True, False, True
        health.last_success, health.successes = time.time(), health.successes + 1
        health.duration = time.monotonic() - started
        log.info("cycle done", extra={"target": name, "duration_s": round(health.duration, 3), **summary})
        return True

    async def run_cycle(self, target: ResolvedTarget, source: PrometheusSource,
                        at: float | None = None) -> bool:
        """One query + fit + predict for a target; True on success. Never raises. ``at``
        replays the cycle as it would have run at that past instant (default: the clock)."""
        async def work() -> dict:
            result = await self._forecast(target, source, now=at)
            if not result.series and not result.waiting:
                result.waiting = await self._not_on_grid_yet(target, source, result.made_at)
            log_waiting(target.name, result.waiting)
            self.results[target.name] = result
            self.plans[target.name] = self.planners[target.name].plan(result)
            dropped = self.health[target.name].dropped
            dropped["max_series"] += result.over_cap
            dropped["label_collision"] += result.collided
            fits = self.health[target.name].fits
            if result.fit_reason:
                fits[result.fit_reason] = fits.get(result.fit_reason, 0) + 1
            closest = min((s.exhaustion_seconds for s in result.series
                           if not math.isnan(s.exhaustion_seconds)), default=math.inf)
            return {"mode": f"fit ({result.fit_reason})" if result.refitted else "infer",
                    "series": len(result.series), "skipped": result.skipped,
                    "retired": result.retired, "waiting_for_history": len(result.waiting),
                    "closest_exhaustion_s": closest}

        return await self._guarded(target.name, work, at)

    async def _not_on_grid_yet(self, target: ResolvedTarget, source: PrometheusSource,
                               now: float) -> list[tuple[dict[str, str], float]]:
        """When a target's history read returned nothing, the series its query returns now:
        they exist but have no sample near a point of the step grid yet (a new exporter read at
        a 1 h step), and wait for history rather than being silently absent."""
        end = (now // target.step) * target.step
        try:
            raw = await source.query_range(target.query, now, now, target.step, target.timeout)
        except (SourceUnavailable, QueryError) as exc:  # only an explanation: the cycle stands
            log.info("could not look for series without history yet",
                     extra={"target": target.name, "err": str(exc)})
            return []
        sel = select_series(raw, target, self.shard_index, self.shard_count)
        return history_needed(sel.series, target, end, now)

    async def run_recommendations_cycle(self, source: PrometheusSource,
                                        at: float | None = None) -> bool:
        """Rightsizing, idle resources and commitments (forecaster/recommend), refreshed on
        their own interval; True on success. Never raises: the last good report stays. ``at``
        replays the cycle at a past instant, as in :meth:`run_cycle`."""
        async def work() -> dict:
            async def offload(fn, *args):  # fits share the targets' concurrency limit
                async with self._fit_slots:
                    return await run_interruptible(self._stop_fits, fn, *args)

            report = await Runner(self.cfg.recommendations, source, self.catalog,
                                  offload=offload).run(at)
            self.report = report
            return report.summary()

        return await self._guarded(RECOMMENDATIONS, work)

    async def run_report_cycle(self, source: PrometheusSource, at: float | None = None) -> bool:
        """Write the scheduled report for the period ending now (or ``at``) and deliver it; True
        on success. Never raises: a failed delivery is logged and counted on its health."""
        async def work() -> dict:
            from promcast_forecaster.report.schedule import write_scheduled

            now = time.time() if at is None else at
            report, files = await write_scheduled(self.cfg.report, self.cfg, source, now, __version__)
            return {"files": ",".join(str(f) for f in files), "notes": len(report.notes)}

        return await self._guarded(REPORT, work)

    async def _report_then_wait(self, source: PrometheusSource) -> bool:
        # A failed delivery is not retried sooner than the interval: each try writes and
        # sends a whole report.
        await self.run_report_cycle(source)
        return True

    async def run_budget_cycle(self, budget: Budget, source: PrometheusSource,
                               at: float | None = None) -> bool:
        """Project a budget to its period's end; True on success. Never raises. ``at`` replays
        the cycle at a past instant, as in :meth:`run_cycle`."""
        async def work() -> dict:
            now = time.time() if at is None else at
            start, end = period_bounds(now, budget.period)
            # The horizon moves with every cycle: nothing fitted or read before is reused.
            target = self.cfg.budget_target(budget, end - now)
            result = await self._forecast(target, source, cache=False, now=now)
            spent = await self._spent(budget, target, result, start, source)
            projections = project(result, spent, budget.amount, now, end)
            log_waiting(budget.name, result.waiting, "budget")
            if not projections:
                log.warning("budget has no spend data to project: its spend_rate query returned "
                            + ("series with too little history" if result.waiting else "no series"),
                            extra={"target": budget.name, "query": budget.spend_rate})
            self.projections[budget.name] = (budget, end, projections, result.waiting)
            worst = max((p.overrun_probability for p in projections), default=0.0)
            return {"series": len(projections), "max_overrun_probability": round(worst, 3)}

        return await self._guarded(budget.name, work, at)

    def _push(self, name: str, at: float | None = None) -> None:
        """Queue for remote write what /metrics shows for ``name`` after its cycle, good or bad,
        with the service's own series: a remote-write-only setup then has the health series
        (a failed cycle leaves last_success where it was, and PromcastForecasterStale fires)
        and the lead times the capacity alerts compare with, not only the forecasts. Stamped
        now (or at the replayed instant, see ``replay_stamps``), never in the future. Never waits:
        the queue sends beside the cycles."""
        if self.remote_write is None:
            return
        try:
            out = Families()
            self._publish_service(out)
            self._publish(out, name)
            stamp = at * 1000 if at is not None and self.replay_stamps else now_ms()
            self.remote_write.put(families_to_timeseries(out, stamp))
        except Exception as exc:  # /metrics still has the results
            log.error("could not queue the cycle's results for remote write",
                      extra={"target": name, "err": repr(exc)}, exc_info=True)

    async def _spent(self, budget: Budget, target: ResolvedTarget, result: TargetResult,
                     period_start: float, source: PrometheusSource) -> np.ndarray:
        """Spend so far this period for each forecast series: the ``spent`` query's newest
        value, or else the spend rate integrated over the period's steps so far."""
        end = result.curve_start
        if budget.spent:
            raw = await source.query_range(budget.spent, end, end, target.step, target.timeout)
            per_hour = False
        else:
            raw = await source.query_range(budget.spend_rate, period_start, end, target.step,
                                           target.timeout)
            per_hour = True
        sel = select_series(raw, target)
        totals = {tuple(sorted(s.labels.items())):
                  float(np.nansum(s.values) * target.step / 3600 if per_hour else s.values[-1])
                  for s in sel.series if len(s.values)}
        return np.array([totals.get(tuple(sorted(s.labels.items())), 0.0) for s in result.series])

    def ready(self) -> tuple[bool, str]:
        pending = [n for n, h in self.health.items() if not h.attempted]
        if pending:
            return False, f"waiting for the first cycle of: {', '.join(pending)}"
        return True, "ready"

    def collect(self) -> Iterator[Metric]:
        out = Families()
        self._publish_service(out)
        for name in self.health:
            self._publish(out, name)
        yield from out

    def _publish_service(self, out: Families) -> None:
        """The series that belong to no target: the build and remote write's own health."""
        out.add("promcast_build_info", {"component": "forecaster", "version": __version__}, 1)
        queue = self.remote_write
        if queue is not None:
            for outcome, n in queue.samples.items():
                out.add("promcast_forecaster_remote_write_samples_total", {"result": outcome}, n)
            out.add("promcast_forecaster_remote_write_failed_requests_total", {}, queue.failed_requests)
            out.add("promcast_forecaster_remote_write_pending_samples", {}, queue.pending)

    def _publish(self, out: Families, name: str) -> None:
        """Everything /metrics shows for one target, budget or the recommendations: their
        health, settings the rules compare with (lead time) and their newest good results."""
        self._publish_health(out, name)
        target = self._targets_by_name.get(name)
        if target is not None:
            out.add("promcast_target_lead_time_seconds", {"target": name}, target.lead_time)
            out.add("promcast_target_horizon_seconds", {"target": name}, max(target.horizons))
            out.add("promcast_target_staleness_seconds", {"target": name}, target.staleness_seconds)
            out.add("promcast_target_info", {"target": name,
                                             "identity_labels": ",".join(target.identity_labels)}, 1)
            for reason, n in self.health[name].fits.items():
                out.add("promcast_forecaster_fits_total", {"target": name, "reason": reason}, n)
            result = self.results.get(name)
            if result is not None:
                publish_result(out, result)
                if name in self.plans:
                    publish_plan(out, self.plans[name])
                if result.fitted is not None:
                    out.add("promcast_forecaster_last_fit_timestamp_seconds", {"target": name},
                            result.fitted.fitted_at)
        elif name in self.projections:
            publish_budget(out, *self.projections[name])
        elif name == RECOMMENDATIONS and self.report is not None:
            publish_report(out, self.report)

    def _publish_health(self, out: Families, name: str) -> None:
        h = self.health[name]
        lab = {"target": name}
        out.add("promcast_forecaster_target_up", lab, 1 if h.up else 0)
        out.add("promcast_forecaster_results_stale", lab, 1 if h.stale else 0)
        out.add("promcast_forecaster_last_success_timestamp_seconds", lab, h.last_success)
        out.add("promcast_forecaster_cycle_duration_seconds", lab, h.duration)
        out.add("promcast_forecaster_cycles_total", {**lab, "result": "success"}, h.successes)
        out.add("promcast_forecaster_cycles_total", {**lab, "result": "error"}, h.errors)
        for reason, n in h.dropped.items():
            out.add("promcast_forecaster_dropped_series_total", {**lab, "reason": reason}, n)


def publish_result(out: Families, result: TargetResult) -> None:
    """A target's forecasts as series: no timestamps, so Prometheus stamps them at scrape time
    (never in the future); ``horizon`` says how far ahead each value looks."""
    t = result.target
    name = t.name
    out.add("promcast_forecaster_target_series", {"target": name, "state": "forecast"}, len(result.series))
    out.add("promcast_forecaster_target_series", {"target": name, "state": "skipped"}, result.skipped)
    out.add("promcast_forecaster_target_series", {"target": name, "state": "dropped"},
            result.over_cap + result.collided)
    out.add("promcast_forecaster_target_series", {"target": name, "state": "retired"}, result.retired)
    publish_waiting(out, result.waiting)
    for s in result.series:
        lab = s.labels
        out.add("promcast_forecast_observed", lab, s.observed)
        if not math.isnan(s.exhaustion_seconds):  # NaN: no capacity, nothing to cross
            out.add("promcast_forecast_exhaustion_seconds", lab, s.exhaustion_seconds)
        if not math.isnan(s.anomaly_score):
            out.add("promcast_forecast_anomaly_score", lab, s.anomaly_score)
            out.add("promcast_forecast_expected", lab, s.expected)
        if not math.isnan(s.capacity):
            out.add("promcast_forecast_capacity", lab, s.capacity)
        out.add("promcast_forecast_model_info", {**lab, "model": s.model, "reason": s.reason}, 1)
        if not math.isnan(s.history_seasons):
            out.add("promcast_forecast_history_to_season_ratio", lab, s.history_seasons)
        if not math.isnan(s.backtest_mase):
            out.add("promcast_forecast_backtest_mase", lab, s.backtest_mase)
        for lv, cov in s.backtest_coverage.items():
            if not math.isnan(cov):
                out.add("promcast_forecast_backtest_coverage_ratio", {**lab, "level": str(lv)}, cov)
        publish_horizons(out, "promcast_forecast", lab, t, s.mean, s.bounds)


def publish_budget(out: Families, budget: Budget, period_end: float, projections: list[Projection],
                   waiting: list[tuple[dict[str, str], float]] = ()) -> None:
    """A budget's projections, and how many series it has (0 projected: no spend data)."""
    out.add("promcast_forecaster_target_series", {"target": budget.name, "state": "forecast"},
            len(projections))
    out.add("promcast_forecaster_target_series", {"target": budget.name, "state": "skipped"},
            len(waiting))
    publish_waiting(out, waiting)
    for p in projections:
        lab = {**p.labels, "target": budget.name, "budget": budget.name, "currency": budget.currency}
        out.add("promcast_budget_amount", lab, budget.amount)
        out.add("promcast_budget_spend", lab, p.spent)
        out.add("promcast_budget_projected_spend", lab, p.projected)
        for lv, (lo, hi) in p.bounds.items():
            out.add("promcast_budget_projected_spend_lower", {**lab, "level": str(lv)}, lo)
            out.add("promcast_budget_projected_spend_upper", {**lab, "level": str(lv)}, hi)
        out.add("promcast_budget_overrun_probability_ratio", lab, p.overrun_probability)
        out.add("promcast_budget_period_end_timestamp_seconds", lab, period_end)


def publish_waiting(out: Families, waiting: list[tuple[dict[str, str], float]]) -> None:
    for labels, seconds in waiting:
        out.add("promcast_forecaster_history_needed_seconds", labels, seconds)


def make_writer(cfg: RemoteWrite, session: aiohttp.ClientSession) -> RemoteWriter:
    """The remote writer for the config: authentication, TLS and proxy from its client config,
    secrets read per request and redacted from what is logged."""
    return RemoteWriter(cfg.url, session, timeout=cfg.timeout, headers=cfg.headers,
                        max_samples_per_request=cfg.max_samples_per_request,
                        min_backoff=cfg.min_backoff, max_backoff=cfg.max_backoff,
                        client=cfg, client_key="remote_write")
