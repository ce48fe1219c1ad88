"""Nothing silent while history builds up: series not forecast yet, and budgets without data,
say so in a series and in the log."""

import asyncio
import logging

import numpy as np
from prometheus_client import CollectorRegistry

from promcast_common.config import validate
from promcast_forecaster.config import ForecasterConfig
from promcast_forecaster.engine import forecast_target, select_series
from promcast_forecaster.service import Forecaster
from promcast_forecaster.source import RawSeries

STEP = 3600.0
END = 1_790_000_000.0 // STEP * STEP


def config(**extra):
    return validate(
        ForecasterConfig,
        {
            "targets": [{"name": "disk", "query": "disk_ratio", "step": "1h", "history": "2d"}],
            **extra,
        },
    )


class Answers:
    """Answers query_range from a function of (query, start, end, step), recording the calls."""

    def __init__(self, answer):
        self.answer, self.calls = answer, []

    async def query_range(self, query, start, end, step, timeout=None):
        self.calls.append((query, start, end))
        return self.answer(query, start, end, step)


def sample(fc, name, labels):
    reg = CollectorRegistry()
    reg.register(fc)
    return reg.get_sample_value(name, labels)


def test_series_with_too_few_points_say_how_much_more_history_they_need():
    t = config().resolved_targets()[0]
    ts = END - STEP * np.arange(t.points)[::-1]
    raw = [
        RawSeries({"host": "old"}, ts, np.linspace(0.1, 0.5, len(ts))),
        RawSeries({"host": "new"}, ts[-1:], np.array([0.2])),
        RawSeries({"host": "newer"}, ts[-2:], np.array([0.2, 0.3])),
        RawSeries({"host": "gone"}, ts[:2], np.array([0.2, 0.3])),
    ]  # stopped reporting
    res = forecast_target(t, select_series(raw, t).series, END, END)
    assert [s.labels["host"] for s in res.series] == ["old"] and res.skipped == 3
    assert {lab["host"]: sec for lab, sec in res.waiting} == {"new": 2 * STEP, "newer": STEP}


def test_a_target_waiting_for_history_publishes_and_logs_why(caplog):
    fc = Forecaster(config())
    now = END + 1200  # 20 minutes past the newest grid point

    def answer(query, start, end, step):
        if start == end == now:  # what the query returns right now
            return [
                RawSeries({"instance": "n1", "mountpoint": "/"}, np.array([now]), np.array([0.4]))
            ]
        return []  # no sample near any point of the 1 h grid yet: a new exporter

    with caplog.at_level(logging.INFO):
        assert asyncio.run(fc.run_cycle(fc.targets[0], Answers(answer), at=now))
    labels = {"instance": "n1", "mountpoint": "/", "target": "disk"}
    # Three grid points are needed: the next three hours from the newest one.
    assert sample(fc, "promcast_forecaster_history_needed_seconds", labels) == 3 * STEP - 1200
    assert (
        sample(fc, "promcast_forecaster_target_series", {"target": "disk", "state": "forecast"})
        == 0
    )
    warning = [r for r in caplog.records if "without enough history" in r.getMessage()]
    assert warning and warning[0].levelno == logging.WARNING
    assert "instance=n1,mountpoint=/ needs 2h40m more" in warning[0].examples


def test_once_forecast_a_series_no_longer_waits():
    fc = Forecaster(config())

    def answer(query, start, end, step):
        ts = np.arange(start, end + 1, step)
        return [RawSeries({"host": "a"}, ts, np.linspace(0.1, 0.5, len(ts)))]

    assert asyncio.run(fc.run_cycle(fc.targets[0], Answers(answer), at=END))
    assert (
        sample(fc, "promcast_forecaster_history_needed_seconds", {"host": "a", "target": "disk"})
        is None
    )
    assert (
        sample(fc, "promcast_forecaster_target_series", {"target": "disk", "state": "forecast"})
        == 1
    )


def test_a_budget_without_spend_data_says_so(caplog):
    cfg = config(budgets=[{"name": "cloud", "spend_rate": "sum(cost_rate)", "amount": 1000}])
    fc = Forecaster(cfg)
    with caplog.at_level(logging.INFO):
        assert asyncio.run(fc.run_budget_cycle(cfg.budgets[0], Answers(lambda *a: []), at=END))
    assert (
        sample(fc, "promcast_forecaster_target_series", {"target": "cloud", "state": "forecast"})
        == 0
    )
    assert sample(fc, "promcast_forecaster_target_up", {"target": "cloud"}) == 1
    msgs = [r for r in caplog.records if "budget has no spend data" in r.getMessage()]
    assert msgs and msgs[0].levelno == logging.WARNING and msgs[0].query == "sum(cost_rate)"
    assert "no series" in msgs[0].getMessage()
