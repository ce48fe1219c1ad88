import datetime as dt

import numpy as np
import pytest

from promcast_common.config import validate
from promcast_forecaster.budgets import period_bounds, project
from promcast_forecaster.config import ForecasterConfig
from promcast_forecaster.engine import forecast_target, select_series
from promcast_forecaster.source import RawSeries
from tests.helpers.anchors import ANCHORS, TIME_OF_DAY
from tests.helpers.metrics import samples


def ts(*args):
    return dt.datetime(*args, tzinfo=dt.timezone.utc).timestamp()


@pytest.mark.parametrize(
    "now,period,start,end",
    [
        (ts(2026, 11, 23, 10), "month", ts(2026, 11, 1), ts(2026, 12, 1)),
        (ts(2026, 12, 31, 23), "month", ts(2026, 12, 1), ts(2027, 1, 1)),
        (ts(2026, 11, 23), "quarter", ts(2026, 10, 1), ts(2027, 1, 1)),
        (ts(2026, 2, 1), "quarter", ts(2026, 1, 1), ts(2026, 4, 1)),
    ],
)
def test_period_bounds(now, period, start, end):
    assert period_bounds(now, period) == (start, end)


def budget_result(rate_per_hour: float, now: float, period_end: float):
    cfg = validate(
        ForecasterConfig,
        {"budgets": [{"name": "cloud", "spend_rate": "x", "amount": 1000, "history": "7d"}]},
    )
    b = cfg.budgets[0]
    target = cfg.budget_target(b, period_end - now)
    end = now // 3600 * 3600
    times = end - 3600 * np.arange(target.points)[::-1]
    rng = np.random.default_rng(0)
    rate = rate_per_hour * (1 + 0.2 * np.sin(2 * np.pi * times / 86400)) + rng.normal(
        0, 0.05, len(times)
    )
    series = select_series([RawSeries({"provider": "aws"}, times, rate)], target).series
    return forecast_target(target, series, end, now)


def test_projection_adds_the_forecast_to_what_was_spent():
    now = ts(2026, 11, 21)
    end = ts(2026, 12, 1)  # 10 days = 240 hours left
    res = budget_result(2.0, now, end)
    [p] = project(res, np.array([400.0]), 1000, now, end)
    assert p.projected == pytest.approx(400 + 2.0 * 240, rel=0.03)
    lo80, hi80 = p.bounds[80]
    lo95, hi95 = p.bounds[95]
    assert lo95 <= lo80 <= p.projected <= hi80 <= hi95
    assert p.overrun_probability < 0.05  # ~880 of 1000
    [over] = project(res, np.array([700.0]), 1000, now, end)  # ~1180 of 1000
    assert over.overrun_probability > 0.95
    [edge] = project(res, np.array([1000.0 - 2.0 * 240]), 1000, now, end)
    assert 0.2 < edge.overrun_probability < 0.8


@pytest.mark.integration
@pytest.mark.parametrize(
    "anchor,with_spent_query",
    [(a, True) for a in ANCHORS.values()] + [(ANCHORS["monday-last-of-month"], False)],
    ids=[*ANCHORS, "monday-last-of-month-no-spent-query"],
)
def test_budget_cycle_against_prometheus(start_prometheus, anchor, with_spent_query):
    import asyncio

    from prometheus_client import CollectorRegistry, generate_latest

    from promcast_forecaster.budgets import period_bounds
    from promcast_forecaster.service import Forecaster

    now = anchor + TIME_OF_DAY
    start, end = period_bounds(now, "month")
    last = int(now // 300 * 300 - 300)
    lines = ["# TYPE rate_usd gauge"]
    lines += [f'rate_usd{{provider="aws"}} 10 {t}' for t in range(last - 30 * 86400, last + 1, 300)]
    lines += ["# TYPE mtd_usd gauge"]
    lines += [
        f'mtd_usd{{provider="aws"}} {10 * max(0, t - start) / 3600:.2f} {t}'
        for t in range(last - 2 * 86400, last + 1, 300)
    ]
    prom = start_prometheus("\n".join(lines) + "\n")
    remaining_h = (end - now) / 3600
    spent_h = (now - start) / 3600
    cfg = validate(
        ForecasterConfig,
        {
            "prometheus": {"url": prom.url},
            "budgets": [
                {
                    "name": "aws-month",
                    "spend_rate": "rate_usd",
                    "amount": 10 * (spent_h + remaining_h) * 0.9,
                    **({"spent": "mtd_usd"} if with_spent_query else {}),
                    "history": "14d",
                }
            ],
        },
    )
    fc = Forecaster(cfg)

    async def run():
        import aiohttp
        from promcast_forecaster.source import PrometheusSource

        async with aiohttp.ClientSession() as session:
            return await fc.run_budget_cycle(
                cfg.budgets[0], PrometheusSource.from_config(cfg.prometheus, session), at=now
            )

    assert asyncio.run(run())
    _, period_end, [p], _ = fc.projections["aws-month"]
    assert period_end == end
    assert p.spent == pytest.approx(10 * spent_h, rel=0.05, abs=15)
    assert p.projected == pytest.approx(10 * (spent_h + remaining_h), rel=0.05, abs=15)
    assert p.overrun_probability > 0.9  # a flat $10/h overshoots a budget 10% short
    reg = CollectorRegistry()
    reg.register(fc)
    text = generate_latest(reg).decode()
    assert samples(
        text,
        "promcast_budget_overrun_probability_ratio",
        budget="aws-month",
        currency="USD",
        provider="aws",
        target="aws-month",
    )
