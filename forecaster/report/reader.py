"""Queries for a report, each answered or recorded as a problem: a report is written whatever
Prometheus says, and says on its first page what it could not read."""

from __future__ import annotations

import logging
import math
import re

from promcast_forecaster.source import PrometheusSource, QueryError, RawSeries, SourceUnavailable

log = logging.getLogger("promcast.report")
# Forecaster results are read as their newest value this far back from the period's end: a
# forecaster that stopped longer ago than that has nothing current to report.
RESULT_LOOKBACK = "6h"
MAX_POINTS = 300  # per plotted series: a picture needs no more


def matchers(labels: dict[str, str], skip: tuple[str, ...] = ("__name__",)) -> str:
    """``{a="x",b="y"}`` selecting exactly these label values (escaped for PromQL)."""

    def esc(v: str) -> str:
        return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    inner = ",".join(f'{k}="{esc(v)}"' for k, v in sorted(labels.items()) if k not in skip)
    return "{" + inner + "}"


def step_for(seconds: float, floor: float = 300.0) -> float:
    """A step giving at most MAX_POINTS points over ``seconds``, a multiple of ``floor``."""
    return max(floor, math.ceil(seconds / MAX_POINTS / floor) * floor)


_DURATION_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def promql_duration(seconds: float) -> str:
    s = max(1, int(round(seconds)))
    for unit, size in _DURATION_UNITS:
        if s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"


class Reader:
    """Instant and range queries against one source; failures become ``problems``."""

    def __init__(self, source: PrometheusSource) -> None:
        self.source = source
        self.problems: list[str] = []
        self.unreachable = False
        self.answered = 0

    async def instant(self, query: str, at: float) -> list[RawSeries]:
        return await self._ask(query, at, at, 60.0)

    async def values(self, query: str, at: float) -> list[tuple[dict[str, str], float]]:
        """Each series' value at ``at`` (NaN-free)."""
        out = []
        for s in await self.instant(query, at):
            if len(s.values) and not math.isnan(s.values[-1]):
                out.append((s.labels, float(s.values[-1])))
        return out

    async def scalar(self, query: str, at: float) -> float:
        vals = await self.values(query, at)
        return vals[0][1] if vals else float("nan")

    async def range(self, query: str, start: float, end: float, step: float) -> list[RawSeries]:
        return await self._ask(query, start, end, step)

    async def _ask(self, query: str, start: float, end: float, step: float) -> list[RawSeries]:
        if self.unreachable:
            return []  # one clear note, not one time-out per query
        try:
            out = await self.source.query_range(query, start, end, step)
        except SourceUnavailable as exc:
            self.unreachable = True
            self.problems.append(
                f"Prometheus could not be reached: {exc}. Every section below "
                "is empty; check the URL (--prometheus.url) and that it is up."
            )
            log.error("report source unavailable", extra={"err": str(exc)})
            return []
        except QueryError as exc:
            self.problems.append(f"query refused: {_short(query)}: {exc}")
            log.warning("report query refused", extra={"query": query, "err": str(exc)})
            return []
        self.answered += 1
        return out


def _short(query: str) -> str:
    q = re.sub(r"\s+", " ", query)
    return q if len(q) <= 120 else q[:117] + "..."
