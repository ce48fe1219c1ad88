"""What a cycle reads from the query API, on top of :mod:`promcast_forecaster.source`: a target's
history on its step grid (cached between refits, so only the newest steps are fetched), its
capacities, what its query returns right now, and a budget's spend so far."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import numpy as np

from promcast_forecaster.config import Budget
from promcast_forecaster.source import (
    PrometheusSource,
    QueryError,
    RawSeries,
    SourceUnavailable,
    TooManySeries,
)
from promcast_forecaster.targets import ResolvedTarget

log = logging.getLogger("promcast.forecaster")


def merge_history(
    old: list[RawSeries], new: list[RawSeries], start: float
) -> list[RawSeries] | None:
    """The cached history, where newly read points replace and extend it, cut to ``start``;
    None when the new read has a series the cache lacks (it needs its whole history read).

    A cached series absent from the new read keeps its history: its newest sample is late or
    was missed, which does not end a series (the staleness does, in :func:`promcast_forecaster.engine.select_series`).
    Dropping it here would make every cycle whose newest step is late lose series and refit."""
    fresh = {tuple(sorted(s.labels.items())): s for s in new}
    cached = {tuple(sorted(s.labels.items())) for s in old}
    if any(k not in cached for k in fresh):
        return None
    out = []
    for s in old:
        n = fresh.get(tuple(sorted(s.labels.items())))
        if n is None or not len(n.timestamps):
            ts, vs = s.timestamps, s.values
        else:
            keep = s.timestamps < n.timestamps[0]
            ts = np.concatenate([s.timestamps[keep], n.timestamps])
            vs = np.concatenate([s.values[keep], n.values])
        recent = ts >= start
        if recent.any():
            out.append(RawSeries(s.labels, ts[recent], vs[recent]))
    return out


@dataclass
class Reading:
    """A target's history up to ``end`` (the newest point of its step grid at or before the
    cycle's instant), and its capacities when its capacity is a query."""

    raw: list[RawSeries]
    capacity: list[RawSeries] | None
    end: float


class Reader:
    def __init__(self) -> None:
        self.history: dict[str, tuple[float, list]] = {}  # target -> (end of last read, series)
        # The running service's source, for ad-hoc forecasts; None when not running.
        self.source: PrometheusSource | None = None

    def keep(self, kept: set[str]) -> None:
        """Forget the history of every target not in ``kept`` (removed, changed, or read from
        another server)."""
        for name in [n for n in self.history if n not in kept]:
            del self.history[name]

    async def read(
        self,
        target: ResolvedTarget,
        source: PrometheusSource,
        now: float,
        refit_due: bool,
        cache: bool = True,
        max_series: int | None = None,
    ) -> Reading:
        """Query the target's history on its step grid, and its capacity query. ``cache``: keep
        the history for the next cycle and, unless ``refit_due``, fetch only its newest steps."""
        end = (now // target.step) * target.step
        start = end - (target.points - 1) * target.step
        raw = None
        cached = self.history.get(target.name) if cache else None
        if cached is not None and not refit_due:
            # Between refits only the newest steps are fetched: a fleet's whole history every
            # few minutes would cost Prometheus far more than the forecast. They go back a
            # staleness from the last read, so samples that came late (a delayed scrape or
            # remote write) still fill the steps that lacked them.
            since = max(start, cached[0] - target.staleness_seconds // target.step * target.step)
            new = await source.query_range(target.query, since, end, target.step, target.timeout)
            raw = await asyncio.get_running_loop().run_in_executor(
                None, merge_history, cached[1], new, start
            )
        if raw is None:
            bound = {} if max_series is None else {"max_series": max_series}
            raw = await source.query_range(
                target.query, start, end, target.step, target.timeout, **bound
            )
        if cache:
            self.history[target.name] = (end, raw)
        cap = None
        if isinstance(target.capacity, str):
            # Capacity as a query (e.g. a disk's size): its newest value per matching series,
            # read within the target query's series limit (or as many series as that query
            # returned, some of which max_series may then drop).
            limit = max(target.max_series if max_series is None else max_series, len(raw))
            why_limit = (
                "the target's max_series, or the series its query returned if more"
                if max_series is None
                else "the ad-hoc forecast's limit: the lowest of "
                "the body's max_series, --query.max-series and --query.max-samples / "
                "history points"
            )
            try:
                cap = await source.query_range(
                    target.capacity, end, end, target.step, target.timeout, max_series=limit
                )
            except TooManySeries:
                raise QueryError(
                    f"target {target.name}: its capacity query {target.capacity!r} returns more "
                    f"than {limit} series ({why_limit}); narrow it to the series the target "
                    "forecasts"
                ) from None
        return Reading(raw, cap, end)

    async def current(
        self, target: ResolvedTarget, source: PrometheusSource, now: float
    ) -> list[RawSeries]:
        """The series the target's query returns at ``now``; none when that read fails (it only
        explains an empty history, the cycle stands)."""
        try:
            return await source.query_range(target.query, now, now, target.step, target.timeout)
        except (SourceUnavailable, QueryError) as exc:
            log.info(
                "could not look for series without history yet",
                extra={"target": target.name, "err": str(exc)},
            )
            return []

    async def spend(
        self,
        budget: Budget,
        target: ResolvedTarget,
        period_start: float,
        end: float,
        source: PrometheusSource,
    ) -> tuple[list[RawSeries], bool]:
        """A budget's spend so far this period: the ``spent`` query's newest value per series,
        or else (True) the spend rate per hour over the period's steps so far."""
        if budget.spent:
            return await source.query_range(
                budget.spent, end, end, target.step, target.timeout
            ), False
        raw = await source.query_range(
            budget.spend_rate, period_start, end, target.step, target.timeout
        )
        return raw, True
