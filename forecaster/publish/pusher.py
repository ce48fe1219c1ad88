"""Remote write of what ``/metrics`` shows, queued after every cycle and sent beside the
cycles (the queue and the wire format are :mod:`promcast_forecaster.remote_write`'s)."""

from __future__ import annotations

import logging

import aiohttp

from promcast_common.httpclient import ClientConfigUnavailable
from promcast_forecaster.config import RemoteWrite
from promcast_forecaster.publish.publisher import Publisher
from promcast_forecaster.remote_write import (
    RemoteWriter,
    WriteQueue,
    families_to_timeseries,
    now_ms,
)

log = logging.getLogger("promcast.forecaster")


class RemoteWritePusher:
    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher
        # Remote write's queue (with `remote_write` configured), sending beside the cycles.
        self.queue: WriteQueue | None = None
        self.cfg: RemoteWrite | None = None  # the config the queue was made for
        # A cycle replayed at a past instant (`at=`) remote-writes its results stamped now, as a
        # live cycle's; True stamps them at that instant instead, to backfill a receiver that
        # takes old samples (VictoriaMetrics; Prometheus refuses them after about an hour).
        self.replay_stamps = False

    def outdated(self, rw: RemoteWrite | None) -> bool:
        """Whether the queue must be (re)made for ``rw``: none yet, or another receiver."""
        return self.queue is None or self.cfg != rw

    def connect(self, rw: RemoteWrite | None, session: aiohttp.ClientSession) -> None:
        """Set up remote write's queue on ``session`` (with `remote_write` configured).
        Samples still queued for a receiver no longer configured are dropped."""
        self.cfg = rw
        self.queue = None
        if rw is None:
            return
        writer = make_writer(rw, session)
        try:
            writer.check_client()
        except ClientConfigUnavailable as exc:
            # A token file gone since start-up: nothing is sent (the results stay on /metrics)
            # until a reload or restart finds it again; said at once, not at shutdown.
            self.cfg = None
            log.error("remote write not possible", extra={"err": str(exc)})
            return
        self.queue = WriteQueue(writer, capacity=rw.queue_capacity, max_age=rw.max_sample_age)

    def push(self, name: str, at: float | None = None) -> None:
        """Queue for remote write what /metrics shows for ``name`` after its cycle, good or bad,
        with the service's own series: a remote-write-only setup then has the health series
        (a failed cycle leaves last_success where it was, and PromcastForecasterStale fires)
        and the lead times the capacity alerts compare with, not only the forecasts. Stamped
        now (or at the replayed instant, see ``replay_stamps``), never in the future. Never waits:
        the queue sends beside the cycles."""
        if self.queue is None:
            return
        try:
            out = self.publisher.families(self.queue, [name])
            stamp = at * 1000 if at is not None and self.replay_stamps else now_ms()
            self.queue.put(families_to_timeseries(out, stamp))
        except Exception as exc:  # /metrics still has the results
            log.error(
                "could not queue the cycle's results for remote write",
                extra={"target": name, "err": repr(exc)},
                exc_info=True,
            )


def make_writer(cfg: RemoteWrite, session: aiohttp.ClientSession) -> RemoteWriter:
    """The remote writer for the config: authentication, TLS and proxy from its client config,
    secrets read per request and redacted from what is logged."""
    return RemoteWriter(
        cfg.url,
        session,
        timeout=cfg.timeout,
        headers=cfg.headers,
        max_samples_per_request=cfg.max_samples_per_request,
        min_backoff=cfg.min_backoff,
        max_backoff=cfg.max_backoff,
        client=cfg,
        client_key="remote_write",
    )
