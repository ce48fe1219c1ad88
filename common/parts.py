"""A provider's parts: pieces of its data refreshed, failing and reported independently.

A provider whose data comes from several APIs, accounts, projects or regions declares one
:class:`Part` for each; :class:`Parts` schedules them (each on its own interval, a failed one
retried sooner or later as the part says), runs them so that one failing never costs the
others their new data, keeps each part's last good data, logs a failure with the part's context
and what to do, and reports every part in the series all providers share
(``promcast_exporter_part_refresh_success`` and
``promcast_exporter_part_last_success_timestamp_seconds``). :meth:`Parts.finish` ends a
refresh: the families as they are, or :class:`~promcast_common.collector.PartialRefresh` while a
part is failing.
"""

from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from prometheus_client.core import Metric

from .catalogue import Families
from .collector import PartialRefresh, add_part

log = logging.getLogger(__name__)


@dataclass
class Part:
    """One independently refreshed piece of a provider's data.

    ``interval``: seconds between runs (0: every refresh). ``retry_after``: after a failure the
    part is due again after ``min(interval, retry_after)`` (0, the default: at the next refresh;
    longer for billed APIs, whose failed call would otherwise be paid for again every refresh).
    ``account`` and ``region`` are the labels of its health series; ``context`` is what its log
    lines say about it; ``key`` is the provider's own handle (an account config, a region)."""

    kind: str
    interval: float = 0.0
    retry_after: float = 0.0
    account: str = ""
    region: str = ""
    context: dict[str, str] = field(default_factory=dict)
    key: Any = None
    last_attempt: float = -math.inf
    last_success: float = 0.0
    ok: bool | None = None  # None: not run yet
    data: Any = None  # the last good data
    error: str = ""

    def due(self, now: float) -> bool:
        wait = self.interval if self.ok is not False else min(self.interval, self.retry_after)
        return now - self.last_attempt >= wait

    def where(self) -> str:
        """The part in one phrase, for the refresh's summary of what failed."""
        who = self.account or self.context.get("account", "")
        return " ".join(x for x in (self.kind, who, self.region) if x)


def _generic_why(exc: Exception, part: Part) -> tuple[str, str]:
    return str(exc) or repr(exc), "see the error; the part keeps its last good data"


class Parts:
    """Schedules, runs, retries and reports the parts of one provider.

    ``title`` starts the failure log line ("AWS part failed; ..."); ``why(exc, part)`` turns an
    error into (what went wrong, what to do), without secrets."""

    def __init__(
        self,
        provider: str,
        title: str,
        why: Callable[[Exception, Part], tuple[str, str]] = _generic_why,
    ) -> None:
        self.provider = provider
        self.title = title
        self.why = why
        self.parts: list[Part] = []

    def add(self, part: Part) -> Part:
        self.parts.append(part)
        return part

    def find(self, kind: str, key: Any) -> Part | None:
        return next((p for p in self.parts if p.kind == kind and p.key == key), None)

    def __iter__(self):
        return iter(self.parts)

    # -- running ----------------------------------------------------------------------------

    def run(self, part: Part, now: float, work: Callable[[Part, float], Any]) -> bool:
        """Run one part now: its data on success; on failure its last good data stays and the
        failure is logged. Never raises."""
        part.last_attempt = now
        try:
            data = work(part, now)
        except Exception as exc:  # noqa: BLE001 - one part must not cost the others their data
            what, todo = self.why(exc, part)
            part.ok, part.error = False, what
            log.error(
                f"{self.title} part failed; serving its last good data",
                extra={
                    "provider": self.provider,
                    **part.context,
                    "err": what,
                    "action": todo,
                    "last_success": part.last_success or "never",
                },
            )
            return False
        part.ok, part.error, part.data, part.last_success = True, "", data, now
        return True

    def run_due(
        self, now: float, work: Callable[[Part, float], Any], kinds: Sequence[str] | None = None
    ) -> None:
        """Run the parts that are due, kind by kind in the order of ``kinds`` (all if None)."""
        for kind in kinds if kinds is not None else [None]:
            for part in self.parts:
                if (kind is None or part.kind == kind) and part.due(now):
                    self.run(part, now, work)

    def run_parallel(
        self,
        parts: Iterable[Part],
        now: float,
        work: Callable[[Part, float], Any],
        max_workers: int,
    ) -> None:
        """Run ``parts`` at once on up to ``max_workers`` threads (independent remote APIs)."""
        parts = list(parts)
        if not parts:
            return
        with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(parts)))) as pool:
            list(pool.map(lambda p: self.run(p, now, work), parts))

    def mark_down(self, part: Part, reason: str) -> None:
        """A part that could not even be tried (its target disappeared): failing, data kept."""
        part.ok, part.error = False, reason

    # -- reporting --------------------------------------------------------------------------

    def failing(self) -> list[Part]:
        return [p for p in self.parts if p.ok is False]

    def report(self, out: Families, account: Callable[[Part], str] | None = None) -> None:
        """Every part's health series (``account`` may resolve the label at report time)."""
        for part in self.parts:
            add_part(
                out,
                self.provider,
                part.kind,
                bool(part.ok),
                part.last_success,
                account(part) if account else part.account,
                part.region,
            )

    def finish(
        self,
        families: list[Metric],
        extra_failures: Sequence[str] = (),
        all_failed: Callable[[list[str]], Exception] | None = None,
    ) -> list[Metric]:
        """End a refresh: ``families`` when every part is good; PartialRefresh (the snapshot is
        replaced, the refresh counts as failed) while some part or ``extra_failures`` (things
        that failed before they became parts) fail; ``all_failed(problems)`` raised instead
        when given and no part succeeded."""
        failing = self.failing()
        if all_failed is not None and not any(p.ok for p in self.parts):
            raise all_failed([p.error for p in failing] + list(extra_failures))
        if failing or extra_failures:
            raise PartialRefresh(
                families, ", ".join([p.where() for p in failing] + list(extra_failures))
            )
        return families
