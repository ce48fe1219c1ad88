"""The health tracker on its own: what each loop's cycles did, readiness, and what a reload
keeps."""

from __future__ import annotations

import time

from promcast_forecaster.health import HealthTracker


def tracker(*names: str) -> HealthTracker:
    health = HealthTracker()
    health.configure(list(names), set())
    return health


def test_not_ready_until_every_loop_has_tried_once_whatever_the_outcome():
    health = tracker("disk", "aws-month", "recommendations")
    assert health.ready() == (
        False,
        "waiting for the first cycle of: disk, aws-month, recommendations",
    )
    health.succeeded("disk", time.monotonic())
    health.failed("aws-month", time.monotonic(), stale=False)
    assert health.ready() == (False, "waiting for the first cycle of: recommendations")
    health.failed("recommendations", time.monotonic(), stale=False)
    assert health.ready() == (True, "ready")


def test_a_failure_after_a_success_keeps_its_time_and_says_whether_results_are_stale():
    health = tracker("disk")
    before = time.time()
    duration = health.succeeded("disk", time.monotonic() - 2.0)
    h = health["disk"]
    assert h.up and not h.stale and h.successes == 1 and h.errors == 0
    assert h.last_success >= before and duration >= 2.0 and h.duration == duration
    last = h.last_success
    health.failed("disk", time.monotonic(), stale=True)
    assert not h.up and h.stale and h.errors == 1 and h.successes == 1
    assert h.last_success == last  # what PromcastForecasterStale measures from
    health.succeeded("disk", time.monotonic())
    assert h.up and not h.stale and h.successes == 2


def test_dropped_series_and_fits_are_counted_by_reason():
    health = tracker("disk")
    health.count_series("disk", over_cap=3, collided=1, fit_reason="first")
    health.count_series("disk", over_cap=2, collided=0, fit_reason="")  # a reused fit
    health.count_series("disk", over_cap=0, collided=0, fit_reason="schedule")
    assert health["disk"].dropped == {"max_series": 5, "label_collision": 1}
    assert health["disk"].fits == {"first": 1, "schedule": 1}


def test_a_reload_keeps_the_health_of_what_it_did_not_change_in_the_new_order():
    health = tracker("disk", "mem")
    health.failed("disk", time.monotonic(), stale=False)
    health.failed("mem", time.monotonic(), stale=False)
    health.configure(["cpu", "mem", "disk"], kept={"disk"})
    assert list(health) == ["cpu", "mem", "disk"] and len(health) == 3
    assert health["disk"].errors == 1  # kept: its counters and `for:` timers go on
    assert health["mem"].errors == 0 and not health["mem"].attempted  # changed: afresh
    health.configure(["disk"], kept=set())
    assert list(health) == ["disk"] and health["disk"].errors == 0
