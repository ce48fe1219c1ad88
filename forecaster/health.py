"""The health of every loop the service runs: whether its last cycle succeeded, when one last
did, how long it took, its errors and dropped series, and readiness (every loop has tried once).

The tracker only records what the scheduler tells it; the publisher reads it to build the
health series."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

RECOMMENDATIONS = "recommendations"  # the `target` label of their health series
REPORT = "report"  # ... and of the scheduled reports' health series


@dataclass
class TargetHealth:
    up: bool = False
    stale: bool = False
    attempted: bool = False
    last_success: float = 0.0
    duration: float = 0.0
    successes: int = 0
    errors: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: {"max_series": 0, "label_collision": 0})
    fits: dict[str, int] = field(default_factory=dict)  # by reason (engine.fit_reason)


class HealthTracker(Mapping[str, TargetHealth]):
    """The health of each loop by name (target, budget, ``recommendations``, ``report``), in the
    order the config lists them."""

    def __init__(self) -> None:
        self._by_name: dict[str, TargetHealth] = {}

    def __getitem__(self, name: str) -> TargetHealth:
        return self._by_name[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def configure(self, names: list[str], kept: set[str]) -> None:
        """Track ``names``; those in ``kept`` keep their health (a reload that does not change
        them neither resets their counters nor their `for:` timers), the others start afresh."""
        self._by_name = {
            n: self._by_name[n] if n in kept and n in self._by_name else TargetHealth()
            for n in names
        }

    def succeeded(self, name: str, started: float) -> float:
        """Record a good cycle that began at ``started`` (``time.monotonic()``); its duration."""
        h = self._by_name[name]
        h.up, h.stale, h.attempted = True, False, True
        h.last_success, h.successes = time.time(), h.successes + 1
        h.duration = time.monotonic() - started
        return h.duration

    def failed(self, name: str, started: float, stale: bool) -> None:
        """Record a failed cycle; ``stale``: the last good results are still served."""
        h = self._by_name[name]
        h.up, h.attempted = False, True
        h.stale = stale
        h.errors += 1
        h.duration = time.monotonic() - started

    def count_series(self, name: str, over_cap: int, collided: int, fit_reason: str | None) -> None:
        """Series a cycle dropped (over ``max_series``, or colliding labels) and why it fitted."""
        h = self._by_name[name]
        h.dropped["max_series"] += over_cap
        h.dropped["label_collision"] += collided
        if fit_reason:
            h.fits[fit_reason] = h.fits.get(fit_reason, 0) + 1

    def ready(self) -> tuple[bool, str]:
        pending = [n for n, h in self._by_name.items() if not h.attempted]
        if pending:
            return False, f"waiting for the first cycle of: {', '.join(pending)}"
        return True, "ready"
