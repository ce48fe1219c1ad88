"""One report from a forecaster config and a period: read, build, draw, write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from promcast_forecaster.report.build import build_report
from promcast_forecaster.report.model import Period, Report
from promcast_forecaster.report.reader import Reader
from promcast_forecaster.report.render import write
from promcast_forecaster.source import PrometheusSource

MAX_PERIOD = 400 * 86400.0  # a report summarises; a longer period is a different question


def period_of(since: float, until: float, now: float) -> Period:
    """A checked period: ``since`` before ``until``, not in the future, at most MAX_PERIOD."""
    until = min(until, now)
    if since >= until:
        raise ValueError("the period must start before it ends (and before now)")
    if until - since > MAX_PERIOD:
        raise ValueError(
            f"the period is {(until - since) / 86400:.0f} days; reports cover at most "
            f"{MAX_PERIOD / 86400:.0f}"
        )
    return Period(since, until)


async def read(cfg: Any, period: Period, version: str = "") -> Report:
    async with aiohttp.ClientSession() as session:
        reader = Reader(PrometheusSource.from_config(cfg.prometheus, session))
        return await build_report(reader, period, cfg.report, cfg, version)


async def generate(
    cfg: Any,
    period: Period,
    out: Path,
    pdf: bool = True,
    browser: str | None = None,
    version: str = "",
) -> tuple[Report, list[Path]]:
    report = await read(cfg, period, version)
    return report, write(report, out, pdf=pdf, browser=browser)
