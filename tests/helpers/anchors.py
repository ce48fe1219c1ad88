"""Fixed dates the date-sensitive suites run at, instead of the wall-clock date.

The demo fleet and the analyses on it (recommendations, budgets, planning) depend on the weekday
and the month: a suite run at "today" checks something different every day and can fail on one
day only. These anchors (00:00 UTC) cover a weekday, a weekend day, the first and the last day of
a month and the last day of a 28-day month, and they lie more than two weeks apart, so one
Prometheus can hold ten days of history before each of them without the windows overlapping.
"""

from __future__ import annotations

import datetime as dt

DAY = 86400.0
# The time of day the analyses run at: afternoon, mid-hour, so neither a day nor an hour starts.
TIME_OF_DAY = 13 * 3600.0 + 7 * 60.0


def _utc(date: str) -> float:
    return dt.datetime.fromisoformat(date).replace(tzinfo=dt.timezone.utc).timestamp()


ANCHORS: dict[str, float] = {
    "sat-last-of-28-day-february": _utc("2026-02-28"),
    "wednesday": _utc("2026-03-18"),
    "monday-first-of-month": _utc("2026-06-01"),
    "monday-last-of-month": _utc("2026-08-31"),
    "sunday-in-december": _utc("2026-12-06"),
}
