"""Read what the analyses need from Prometheus and run them: one call per refresh."""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from promcast_forecaster.recommend import commitments, idle, sizing
from promcast_forecaster.instance_catalog import Catalog, load_catalog
from promcast_forecaster.recommend_config import Recommendations
from promcast_forecaster.recommend.forecasts import analysis_target, forecast
from promcast_forecaster.recommend.report import Report
from promcast_forecaster.staleness import is_stale

log = logging.getLogger("promcast.forecaster.recommend")
LOOKBACK = 2 * 3600.0
_SELECTOR = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})?$", re.DOTALL)


def _key(labels: dict[str, str], names: list[str]) -> tuple:
    return tuple(labels.get(n, "") for n in names)


def _window(expr: str, seconds: float) -> str:
    """``expr`` over the last ``seconds`` as a range: raw samples for a plain selector, a
    subquery for any other expression."""
    d = f"{int(seconds)}s"
    return f"{expr}[{d}]" if _SELECTOR.match(expr.strip()) else f"({expr})[{d}:]"


class Runner:
    """Runs the analyses against a source (anything with ``query_range``)."""

    def __init__(
        self,
        cfg: Recommendations,
        source: Any,
        catalog: Catalog | None = None,
        offload: Callable | None = None,
    ) -> None:
        self.cfg = cfg
        self.source = source
        self.catalog = catalog or load_catalog(cfg.instance_types_file, cfg.builtin_instance_types)
        self._offload = offload

    async def _blocking(self, fn: Callable, *args: Any) -> Any:
        if self._offload is not None:
            return await self._offload(fn, *args)
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    async def _instant(
        self, query: str, at: float, lookback: float = LOOKBACK
    ) -> dict[tuple, float]:
        """Each series' newest finite value within ``lookback`` before ``at``: sizes and prices
        change rarely, and a scrape gap or a late backfill must not drop a resource. With no
        lookback, one evaluation at ``at`` (a window function over days needs no more)."""
        raw = await self.source.query_range(query, at - lookback, at, 300.0, self.cfg.timeout)
        out = {}
        for s in raw:
            ok = np.isfinite(s.values)
            if ok.any():
                out[_key(s.labels, self.cfg.resource_labels)] = float(s.values[ok][-1])
        return out

    async def run(self, now: float | None = None) -> Report:
        now = time.time() if now is None else now
        cfg = self.cfg
        report = Report(cfg, now, self.catalog.snapshot)
        if cfg.rightsizing.enabled or cfg.idle.enabled:
            await self._resources(report, now)
        if cfg.commitments.enabled:
            await self._commitments(report, now)
        log.info("recommendations done", extra=report.summary())
        return report

    async def _resources(self, report: Report, now: float) -> None:
        cfg, r = self.cfg, self.cfg.rightsizing
        at = (now // r.step) * r.step
        names = cfg.resource_labels
        vcpus = await self._instant(r.vcpus, at)
        memory = await self._instant(r.memory_bytes, at)
        price = await self._instant(r.price, at)
        info_raw = await self.source.query_range(r.info, at - LOOKBACK, at, 300.0, cfg.timeout)
        # The newest type wins when a resource was resized within the lookback.
        info_raw.sort(key=lambda s: s.timestamps[-1] if len(s.timestamps) else 0.0)
        types = {_key(s.labels, names): s.labels.get("instance_type", "") for s in info_raw}
        target = analysis_target(
            "rightsizing_cpu",
            r.cpu,
            r.step,
            r.history,
            r.season,
            r.horizon,
            [r.level],
            r.model,
            cfg.timeout,
            cfg.staleness,
        )
        start = at - (target.points - 1) * r.step
        cpu_raw = await self.source.query_range(r.cpu, start, at, r.step, cfg.timeout)
        # A resource that stopped reporting is gone (deleted, or no longer monitored): neither
        # idle nor oversized, and its price has vanished with it.
        alive = [s for s in cpu_raw if not is_stale(s.timestamps, at, cfg.staleness_seconds)]
        report.skipped["retired"] += len(cpu_raw) - len(alive)
        cpu_raw = self._named(alive, report)
        # Old enough: its first sample within the history read.
        first = {
            _key(s.labels, names): float(s.timestamps[np.isfinite(s.values)][0])
            for s in cpu_raw
            if np.isfinite(s.values).any()
        }
        if r.enabled:
            long_enough = [
                s for s in cpu_raw if at - first.get(_key(s.labels, names), at) >= r.min_history
            ]
            report.skipped["rightsizing"] += len(cpu_raw) - len(long_enough)
            cpu_fc, skipped = await self._blocking(forecast, target, long_enough, now)
            report.skipped["rightsizing"] += skipped
            # Memory only where there is a CPU forecast to size against.
            wanted = {_key(o.labels, names) for o in cpu_fc}
            mem_raw = [
                s
                for s in await self.source.query_range(r.memory, start, at, r.step, cfg.timeout)
                if _key(s.labels, names) in wanted
            ]
            mem_target = target.model_copy(update={"name": "rightsizing_memory", "query": r.memory})
            mem_fc, _ = await self._blocking(forecast, mem_target, mem_raw, now)
            mem = {_key(o.labels, names): o for o in mem_fc}
            for o in cpu_fc:
                k = _key(o.labels, names)
                m = mem.get(k)
                labels = {n: o.labels.get(n, "") for n in names}
                res = sizing.Resource(
                    labels,
                    vcpus.get(k, math.nan),
                    memory.get(k, math.nan),
                    price.get(k, math.nan),
                    types.get(k, ""),
                )
                conf = min(o.confidence(r.level), m.confidence(r.level) if m else 1.0)
                z = sizing.size(
                    res,
                    sizing.peak_upper(o.curves, r.level),
                    sizing.peak_upper(m.curves, r.level) if m else math.nan,
                    conf,
                    o.model,
                    self.catalog,
                    r,
                    cfg.hours_per_month,
                )
                if z is None:
                    report.skipped["rightsizing"] += 1
                else:
                    report.sizings.append(z)
            unsized = [z for z in report.sizings if z.action == "unknown_provider"]
            if unsized:
                log.warning(
                    "resources not sized: no known provider",
                    extra={
                        "resources": len(unsized),
                        "example": unsized[0].labels,
                        "why": unsized[0].detail(),
                        "known": self.catalog.providers,
                    },
                )
        if cfg.idle.enabled:
            i = cfg.idle
            span = i.days * 86400

            def over_span(quantile: float, expr: str) -> Any:
                return self._instant(
                    f"quantile_over_time({quantile:g}, {_window(expr, span)})", at, lookback=0.0
                )

            cpu95 = await over_span(0.95, r.cpu)
            q = cpu95 if i.cpu_quantile == 0.95 else await over_span(i.cpu_quantile, r.cpu)
            mem95 = await over_span(0.95, r.memory)
            for s in cpu_raw:
                k = _key(s.labels, names)
                recent = s.timestamps >= at - span
                share = float(np.isfinite(s.values[recent]).sum() / max(1, round(span / r.step)))
                p = price.get(k, math.nan)
                if math.isnan(p) and types.get(k):
                    known = self.catalog.get(s.labels.get("provider", ""), types[k])
                    p = known.price_per_hour if known else math.nan
                u = idle.Usage(
                    {n: s.labels.get(n, "") for n in names},
                    q.get(k, math.nan),
                    cpu95.get(k, math.nan),
                    mem95.get(k, math.nan),
                    at - first.get(k, at),
                    share,
                    p,
                )
                found = idle.classify(u, i, cfg.hours_per_month)
                if found is not None:
                    report.idle.append(found)

    def _named(self, series: list[Any], report: Report) -> list[Any]:
        """The series that carry every identity label; the others cannot be told apart or
        named in a recommendation: skipped (kind ``unnamed``), and the log says which label
        is missing and where to fix it."""
        named, missing = [], {}
        for s in series:
            absent = [n for n in self.cfg.identity_labels if not s.labels.get(n)]
            if absent:
                missing.setdefault(absent[0], s.labels)
            else:
                named.append(s)
        if missing:
            report.skipped["unnamed"] += len(series) - len(named)
            label, example = next(iter(missing.items()))
            log.warning(
                "resources skipped: their CPU series lack an identity label",
                extra={
                    "missing_label": label,
                    "resources": len(series) - len(named),
                    "example": example,
                    "identity_labels": self.cfg.identity_labels,
                    "fix": "make recommendations.rightsizing.cpu keep the label, or "
                    "set recommendations.identity_labels to labels it has",
                },
            )
        return named

    async def _commitments(self, report: Report, now: float) -> None:
        c = self.cfg.commitments
        horizon = min(max(o.term for o in c.options), c.max_horizon)
        target = analysis_target(
            "commitments",
            c.spend,
            c.step,
            c.history,
            c.season,
            horizon,
            [50, 80, 95],
            c.model,
            self.cfg.timeout,
            self.cfg.staleness,
        )
        at = (now // c.step) * c.step
        raw = await self.source.query_range(
            c.spend, at - (target.points - 1) * c.step, at, c.step, self.cfg.timeout
        )
        outlooks, skipped = await self._blocking(forecast, target, raw, now)
        report.skipped["commitment"] += skipped
        for o in outlooks:
            labels = {k: v for k, v in o.labels.items() if k != "target"}
            steps = max(1, int(round(min(horizon, c.max_horizon) / c.step)))
            for opt in c.options:
                if any(labels.get(k) != v for k, v in opt.match.items()):
                    continue
                term_steps = min(steps, max(1, int(round(opt.term / c.step))))
                curves = {k: v[:term_steps] for k, v in o.curves.items()}
                report.plans.append(
                    commitments.plan(
                        labels,
                        curves,
                        opt,
                        c.quantile,
                        self.cfg.hours_per_month,
                        o.confidence(95),
                        o.model,
                    )
                )
