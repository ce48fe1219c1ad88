"""The reader on its own: a target's history read whole at a refit and only its newest steps
between refits, capacities within the series limit, and a budget's spend."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from promcast_common.config import validate
from promcast_forecaster.config import ForecasterConfig
from promcast_forecaster.reader import Reader
from promcast_forecaster.source import QueryError, RawSeries, SourceUnavailable, TooManySeries

STEP = 3600.0
END = 1_790_000_000.0 // STEP * STEP


class Answers:
    """Answers query_range with one series per host on the asked grid, recording each call."""

    def __init__(self, hosts=("a", "b"), fail: type[Exception] | None = None) -> None:
        self.hosts, self.fail, self.calls = hosts, fail, []

    async def query_range(self, query, start, end, step, timeout=None, max_series=None):
        self.calls.append((query, start, end, max_series))
        if self.fail is not None:
            raise self.fail(query, 1) if self.fail is TooManySeries else self.fail("down")
        ts = np.arange(start, end + 1, step)
        return [
            RawSeries({"host": h}, ts, np.full(len(ts), float(i))) for i, h in enumerate(self.hosts)
        ]


def target(**fields):
    cfg = validate(
        ForecasterConfig,
        {
            "targets": [
                {
                    "name": "disk",
                    "query": "disk_ratio",
                    "step": "1h",
                    "history": "1d",
                    "season": 0,
                    "staleness": "2h",
                    **fields,
                }
            ]
        },
    )
    return cfg.resolved_targets()[0]


def read(reader, t, source, now, refit_due, **kw):
    return asyncio.run(reader.read(t, source, now, refit_due, **kw))


def test_between_refits_only_the_newest_steps_are_read_and_merged_into_the_cache():
    t, src, reader = target(), Answers(), Reader()
    first = read(reader, t, src, END + 600, refit_due=True)
    start = END - (t.points - 1) * STEP
    assert first.end == END and src.calls == [("disk_ratio", start, END, None)]
    assert [len(s.timestamps) for s in first.raw] == [t.points, t.points]

    later = read(reader, t, src, END + 3 * STEP, refit_due=False)
    # From a staleness (2 h) before the last read, so late samples still fill their steps.
    assert src.calls[-1] == ("disk_ratio", END - 2 * STEP, END + 3 * STEP, None)
    assert later.end == END + 3 * STEP
    assert [s.timestamps[0] for s in later.raw] == [start + 3 * STEP] * 2  # cut to the window
    assert [len(s.timestamps) for s in later.raw] == [t.points, t.points]
    assert reader.history["disk"][0] == END + 3 * STEP

    read(reader, t, src, END + 4 * STEP, refit_due=True)  # a refit reads it all again
    assert src.calls[-1][1] == END + 4 * STEP - (t.points - 1) * STEP


def test_an_uncached_read_leaves_no_history_and_honours_its_series_limit():
    t, src, reader = target(), Answers(), Reader()
    read(reader, t, src, END, refit_due=True, cache=False, max_series=7)
    assert src.calls[-1][3] == 7 and reader.history == {}


def test_a_capacity_query_is_read_at_the_newest_step_within_the_series_limit():
    t, src = target(capacity="disk_size", max_series=1), Answers()
    got = read(Reader(), t, src, END, refit_due=True)
    assert src.calls[-1] == ("disk_size", END, END, 2)  # the two series the query returned
    assert [s.labels["host"] for s in got.capacity] == ["a", "b"]

    class TooMany(Answers):
        async def query_range(self, query, start, end, step, timeout=None, max_series=None):
            if query == "disk_size":
                raise TooManySeries(query, max_series)
            return await super().query_range(query, start, end, step, timeout, max_series)

    with pytest.raises(
        QueryError,
        match=r"target disk: its capacity query 'disk_size' returns "
        r"more than 2 series .* narrow it",
    ):
        read(Reader(), t, TooMany(), END, refit_due=True)


def test_what_the_query_returns_now_is_empty_when_that_read_fails():
    t = target()
    assert len(asyncio.run(Reader().current(t, Answers(), END))) == 2
    assert asyncio.run(Reader().current(t, Answers(fail=SourceUnavailable), END)) == []


def test_a_budget_reads_its_spent_query_or_else_its_rate_over_the_period():
    cfg = validate(
        ForecasterConfig,
        {
            "budgets": [
                {"name": "m", "spend_rate": "rate_usd", "amount": 10, "spent": "mtd_usd"},
                {"name": "r", "spend_rate": "rate_usd", "amount": 10},
            ]
        },
    )
    with_spent, rate_only = cfg.budgets
    t = cfg.budget_target(with_spent, 86400)
    src = Answers()
    _, per_hour = asyncio.run(Reader().spend(with_spent, t, END - 5 * STEP, END, src))
    assert not per_hour and src.calls[-1][:3] == ("mtd_usd", END, END)
    _, per_hour = asyncio.run(Reader().spend(rate_only, t, END - 5 * STEP, END, src))
    assert per_hour and src.calls[-1][:3] == ("rate_usd", END - 5 * STEP, END)


def test_keep_forgets_the_history_of_other_targets():
    reader = Reader()
    reader.history = {"disk": (END, []), "mem": (END, [])}
    reader.keep({"disk"})
    assert set(reader.history) == {"disk"}
