"""Long horizons from a coarse read of a fine series, as docs/long-horizons.md describes: a real
Prometheus holds hourly samples, a daily-step target reads them through an ``avg_over_time``
subquery and forecasts a month ahead."""

from __future__ import annotations

import asyncio
import datetime as dt

import aiohttp
import numpy as np
import pytest

from promcast_common.config import validate
from promcast_forecaster.config import ForecasterConfig
from promcast_forecaster.engine import forecast_target, select_series
from promcast_forecaster.source import PrometheusSource

HOUR, DAY = 3600.0, 86400.0
# A fixed past instant: Prometheus keeps the backfilled blocks by their own age, not the clock's.
ANCHOR = dt.datetime(2026, 3, 2, tzinfo=dt.timezone.utc).timestamp()
DAYS = 84


def hourly_visits() -> tuple[np.ndarray, np.ndarray]:
    """Hourly samples with a daily shape and busier weekends, ending at ANCHOR."""
    ts = ANCHOR - HOUR * np.arange(DAYS * 24)[::-1]
    hour = (ts % DAY) / HOUR
    weekend = ((ts // DAY + 3) % 7) >= 5  # 1970-01-01 was a Thursday
    rng = np.random.default_rng(0)
    values = 100 + 20 * np.sin(2 * np.pi * hour / 24) + 40 * weekend + rng.normal(0, 2, ts.size)
    return ts, values


def test_a_daily_step_target_reads_a_long_range_through_a_subquery(start_prometheus) -> None:
    ts, values = hourly_visits()
    text = "# TYPE visits gauge\n" + "".join(
        f'visits{{site="a"}} {v:.3f} {t:.0f}\n' for t, v in zip(ts, values)
    )
    prom = start_prometheus(text)
    spec = {
        "name": "visits",
        "query": 'avg_over_time(visits{site="a"}[1d:1h])',
        "step": "1d",
        "history": "70d",
        "season": "7d",
        "horizons": ["30d"],
        "model": "auto_fast",
    }
    target = validate(ForecasterConfig, {"targets": [spec]}).resolved_targets()[0]
    end = ANCHOR
    start = end - (target.points - 1) * target.step

    async def read():
        async with aiohttp.ClientSession() as session:
            src = PrometheusSource(prom.url, 10, session)
            return await src.query_range(target.query, start, end, target.step)

    (raw,) = asyncio.run(read())
    assert raw.timestamps.size == target.points
    # Each daily point is the mean of the hourly samples of the day before it (Prometheus 2
    # includes both ends of the range: 25 samples).
    stored = np.round(values, 3)
    for t, v in zip(raw.timestamps, raw.values):
        day = (ts >= t - DAY) & (ts <= t)
        assert v == pytest.approx(stored[day].mean(), rel=1e-9)
    (fc,) = forecast_target(target, select_series([raw], target).series, end, end + 60).series
    weekend_days = {k for k in range(1, 31) if ((end + k * DAY - 1) // DAY + 3) % 7 >= 5}
    expected = 100 + 40 * (30 in weekend_days)
    assert fc.mean[30 * DAY] == pytest.approx(expected, abs=8)
    lo, hi = fc.bounds[(30 * DAY, 95)]
    assert lo < fc.mean[30 * DAY] < hi


def test_the_documented_long_horizon_target_is_valid() -> None:
    import re
    from pathlib import Path

    import yaml

    doc = (Path(__file__).resolve().parents[2] / "docs" / "long-horizons.md").read_text()
    block = re.search(r"```yaml\n(targets:.*?)```", doc, re.S).group(1)
    (target,) = validate(ForecasterConfig, yaml.safe_load(block)).resolved_targets()
    assert (target.step, target.season_length, target.extra_seasons) == (DAY, 7, (365,))
    assert target.horizon_steps == [30, 90, 365] and target.points == 731
