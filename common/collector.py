"""client_python's custom-collector pattern with snapshots.

A provider builds a :class:`Snapshot` (the metric families it wants to expose) in ``refresh()``;
a background refresher replaces the snapshot atomically and ``collect()`` only reads it, so a
scrape never waits for a cloud API. On a failed refresh the last good snapshot stays and the
provider's success gauge says so.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
from prometheus_client.core import Metric

from .catalogue import Families

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    families: tuple[Metric, ...] = ()
    taken_at: float = 0.0


class Provider:
    """Base of every data source. Subclasses set ``name`` and implement ``refresh``."""

    name: str = "provider"

    def __init__(self, refresh_interval: float) -> None:
        self.refresh_interval = refresh_interval
        self.api_calls: dict[str, int] = {}

    def refresh(self, now: float) -> list[Metric]:
        """Metric families for the snapshot; build them with :class:`Families`."""
        raise NotImplementedError

    def history(
        self, start: float, end: float, step: float
    ) -> Iterator[tuple[str, dict[str, str], np.ndarray, np.ndarray]] | None:
        """Past samples for ``backfill``: (name, labels, timestamps, values) per series, times in
        ``[start, end]`` every ``step`` seconds, NaN where unknown; None if the provider has no
        history (live-only APIs)."""
        return None

    def count_call(self, api: str, n: int = 1) -> None:
        self.api_calls[api] = self.api_calls.get(api, 0) + n


class PartialRefresh(Exception):
    """Raised by ``refresh`` when some of a provider's parts failed (an account, a region, one
    API) and the others have new data: the snapshot is replaced with ``families`` (the failed
    parts' last good data included), but the refresh counts as failed, so the success gauge
    shows that part of the data is older than it should be."""

    def __init__(self, families: list[Metric], failed: str) -> None:
        super().__init__(f"failed parts: {failed}")
        self.families = families


def add_part(
    out: Families,
    provider: str,
    part: str,
    ok: bool,
    last_success: float,
    account: str = "",
    region: str = "",
) -> None:
    """The health of one part of a provider (an API, an account, a project, a region), in the
    series every provider shares: what the self-monitoring dashboard's failing parts read."""
    lab = {"provider": provider, "part": part, "account": account, "region": region}
    out.add("promcast_exporter_part_refresh_success", lab, 1 if ok else 0)
    out.add("promcast_exporter_part_last_success_timestamp_seconds", lab, last_success)


@dataclass
class _State:
    snapshot: Snapshot = field(default_factory=Snapshot)
    success: bool = False
    duration: float = 0.0
    last_success: float = 0.0
    errors: int = 0


class SnapshotCollector:
    """Exposes the newest snapshot of every provider plus their refresh health."""

    def __init__(self, providers: list[Provider]) -> None:
        self.providers = providers
        self._state = {p.name: _State() for p in providers}
        self._lock = threading.Lock()
        self.version = 0  # bumped by every refresh: what /metrics shows changes only then

    def refresh_one(self, provider: Provider, now: float | None = None) -> bool:
        started = time.monotonic()
        now = time.time() if now is None else now
        try:
            families = provider.refresh(now)
        except PartialRefresh as partial:
            with self._lock:
                st = self._state[provider.name]
                st.snapshot, st.success = Snapshot(tuple(partial.families), now), False
                st.duration = time.monotonic() - started
                st.errors += 1
                self.version += 1
            log.warning(
                "refresh partly failed; the failed parts serve their last good data",
                extra={"provider": provider.name, "err": str(partial)},
            )
            return False
        except Exception as exc:  # noqa: BLE001 - a provider must never take the exporter down
            with self._lock:
                st = self._state[provider.name]
                st.success, st.duration = False, time.monotonic() - started
                st.errors += 1
                self.version += 1
            log.error(
                "refresh failed; serving the last good snapshot",
                extra={"provider": provider.name, "err": repr(exc)},
            )
            return False
        snap = Snapshot(tuple(families), now)
        with self._lock:
            st = self._state[provider.name]
            st.snapshot, st.success = snap, True
            st.duration, st.last_success = time.monotonic() - started, time.time()
            self.version += 1
        log.debug(
            "refreshed",
            extra={
                "provider": provider.name,
                "families": len(families),
                "duration_s": round(st.duration, 3),
            },
        )
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Refresh each provider on its own interval until ``stop`` is set."""
        await asyncio.gather(*(self._loop(p, stop) for p in self.providers))

    async def _loop(self, provider: Provider, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            await loop.run_in_executor(None, self.refresh_one, provider)
            try:
                await asyncio.wait_for(stop.wait(), timeout=provider.refresh_interval)
            except asyncio.TimeoutError:
                pass

    def ready(self) -> tuple[bool, str]:
        with self._lock:
            # A partial refresh (PartialRefresh) has published a snapshot too: ready.
            pending = [
                n
                for n, st in self._state.items()
                if st.last_success == 0 and not st.snapshot.taken_at
            ]
        if pending:
            return False, f"waiting for the first refresh of: {', '.join(pending)}"
        return True, "ready"

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            states = [(p, self._state[p.name]) for p in self.providers]
            out = Families()
            for p, st in states:
                out.merge(st.snapshot.families)
                lab = {"provider": p.name}
                out.add("promcast_exporter_refresh_success", lab, 1 if st.success else 0)
                out.add("promcast_exporter_refresh_duration_seconds", lab, st.duration)
                out.add(
                    "promcast_exporter_last_refresh_success_timestamp_seconds", lab, st.last_success
                )
                out.add("promcast_exporter_refresh_errors_total", lab, st.errors)
                for api, n in sorted(p.api_calls.items()):
                    out.add("promcast_exporter_api_calls_total", {**lab, "api": api}, n)
        yield from out
