"""Publish forecasts by Prometheus remote write 1.0 (snappy-compressed protobuf over HTTP POST).

The protobuf message classes are built at run time from a descriptor, so the only dependencies
are ``protobuf`` and ``cramjam`` (raw snappy blocks) and no generated code is committed.

Samples are stamped with the time the forecast was made, never with a future time: a
remote-written sample an hour ahead of the newest stored one makes Prometheus 2.42 reject every
later write and scrape until the clock catches up (measured on 2.42).
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import logging
import math
import ssl
import time
from collections import deque
from dataclasses import dataclass
from typing import Awaitable, Iterable, Iterator, Mapping, Sequence

import aiohttp
import cramjam
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from prometheus_client.core import Metric
from yarl import URL

from promcast_common.httpclient import (
    ClientConfigUnavailable,
    HTTPClientConfig,
    request_options,
    ssl_context,
)
from promcast_forecaster import __version__

log = logging.getLogger(__name__)

# Clocks of the forecaster and the receiver drift a little; beyond this a timestamp is a bug.
MAX_AHEAD_MS = 5_000
# Enough of an error body to carry Prometheus' reason ("out of bounds", ...), not a whole page.
MAX_MESSAGE_CHARS = 512
REDACTED = "<redacted>"


# -- wire format -------------------------------------------------------------------------------


def _write_request_class() -> type:
    """The remote write 1.0 WriteRequest with the field numbers of the spec, reduced to what a
    sample writer sends (no exemplars, histograms or metadata)."""
    fdp = descriptor_pb2.FileDescriptorProto(
        name="promcast/remote_write.proto", package="prometheus", syntax="proto3"
    )
    f = descriptor_pb2.FieldDescriptorProto
    scalar, repeated = f.LABEL_OPTIONAL, f.LABEL_REPEATED

    def message(name: str, *fields: tuple[str, int, int, int, str]) -> None:
        msg = fdp.message_type.add(name=name)
        for fname, number, label, ftype, type_name in fields:
            msg.field.add(
                name=fname,
                number=number,
                label=label,
                type=ftype,
                **({"type_name": type_name} if type_name else {}),
            )

    message(
        "Label", ("name", 1, scalar, f.TYPE_STRING, ""), ("value", 2, scalar, f.TYPE_STRING, "")
    )
    message(
        "Sample",
        ("value", 1, scalar, f.TYPE_DOUBLE, ""),
        ("timestamp", 2, scalar, f.TYPE_INT64, ""),
    )
    message(
        "TimeSeries",
        ("labels", 1, repeated, f.TYPE_MESSAGE, ".prometheus.Label"),
        ("samples", 2, repeated, f.TYPE_MESSAGE, ".prometheus.Sample"),
    )
    message("WriteRequest", ("timeseries", 1, repeated, f.TYPE_MESSAGE, ".prometheus.TimeSeries"))
    # A private pool: another library registering prometheus.* in the default pool cannot clash.
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(fdp.SerializeToString())
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("prometheus.WriteRequest"))


WriteRequest = _write_request_class()


@dataclass(frozen=True, slots=True)
class Series:
    """One series to write: labels sorted by name (``__name__`` included) and
    ``(timestamp_ms, value)`` samples in time order."""

    labels: tuple[tuple[str, str], ...]
    samples: tuple[tuple[int, float], ...]


def encode_write_request(series: Sequence[Series]) -> bytes:
    """A WriteRequest, serialised and compressed as one raw snappy block (not the framed format)."""
    req = WriteRequest()
    for s in series:
        ts = req.timeseries.add()
        for name, value in s.labels:
            ts.labels.add(name=name, value=value)
        for timestamp, value in s.samples:
            ts.samples.add(value=value, timestamp=timestamp)
    return bytes(cramjam.snappy.compress_raw(req.SerializeToString()))


def decode_write_request(body: bytes) -> list[Series]:
    """The inverse of :func:`encode_write_request`, for receivers and tests."""
    req = WriteRequest()
    req.ParseFromString(bytes(cramjam.snappy.decompress_raw(body)))
    return [
        Series(
            tuple((lab.name, lab.value) for lab in ts.labels),
            tuple((smp.timestamp, smp.value) for smp in ts.samples),
        )
        for ts in req.timeseries
    ]


# -- from client_python families ---------------------------------------------------------------


def now_ms() -> int:
    return int(time.time() * 1000)


def families_to_timeseries(families: Iterable[Metric], timestamp_ms: int) -> list[Series]:
    """Every sample of the families as a series stamped ``timestamp_ms`` (the time the values
    were computed, i.e. now). NaN samples are skipped: Prometheus would store them as values
    that every comparison treats as false, and its staleness marker is itself a NaN. +Inf and
    -Inf are kept (an exhaustion time of +Inf means "not within the horizon"). Empty label
    values are left out, as Prometheus treats them as absent."""
    timestamp_ms = int(timestamp_ms)
    limit = now_ms() + MAX_AHEAD_MS
    if timestamp_ms > limit:
        # The values describe now; only their stamp is wrong, so stamp them now.
        log.warning(
            "remote write timestamp is in the future; stamping the samples now",
            extra={"timestamp_ms": timestamp_ms, "ahead_ms": timestamp_ms - limit + MAX_AHEAD_MS},
        )
        timestamp_ms = limit - MAX_AHEAD_MS
    out: dict[tuple[tuple[str, str], ...], Series] = {}
    skipped = 0
    for family in families:
        for sample in family.samples:
            if math.isnan(sample.value):
                skipped += 1
                continue
            labels = {k: str(v) for k, v in sample.labels.items() if v != ""}
            labels["__name__"] = sample.name
            key = tuple(sorted(labels.items()))
            # One sample per series and timestamp: a second, different value would make
            # Prometheus reject the whole request as a duplicate sample.
            out[key] = Series(key, ((timestamp_ms, float(sample.value)),))
    if skipped:
        log.debug("skipped NaN samples", extra={"samples": skipped})
    return list(out.values())


def batches(series: Iterable[Series], max_samples: int) -> Iterator[list[Series]]:
    """Consecutive batches of at most ``max_samples`` samples, in the given order (a series'
    samples must reach Prometheus in time order); a longer series is split across batches."""
    batch: list[Series] = []
    size = 0
    for s in series:
        samples = s.samples
        while samples:
            room = max_samples - size
            part, samples = samples[:room], samples[room:]
            batch.append(s if len(part) == len(s.samples) else Series(s.labels, part))
            size += len(part)
            if size >= max_samples:
                yield batch
                batch, size = [], 0
    if batch:
        yield batch


def refuse_future(series: Iterable[Series], url: str) -> tuple[list[Series], int]:
    """The series without samples stamped ahead of the local clock, and how many were left
    out. Unlike :func:`families_to_timeseries` these are not re-stamped: a series' several
    future samples would collapse onto one timestamp and their values would no longer mean
    what their stamps say."""
    limit = now_ms() + MAX_AHEAD_MS
    out, refused = [], 0
    for s in series:
        kept = tuple(smp for smp in s.samples if smp[0] <= limit)
        refused += len(s.samples) - len(kept)
        if kept:
            out.append(s if len(kept) == len(s.samples) else Series(s.labels, kept))
    if refused:
        log.error(
            "refusing samples stamped in the future; a receiver would reject later writes",
            extra={"url": url, "samples": refused, "max_ahead_ms": MAX_AHEAD_MS},
        )
    return out, refused


# -- the writer --------------------------------------------------------------------------------


@dataclass
class WriteStats:
    """Samples ``sent`` (2xx), ``dropped`` (refused: a 4xx answer or a future timestamp, never
    retried), ``failed`` (retries exhausted); HTTP ``requests`` made, of which ``retries``."""

    sent: int = 0
    dropped: int = 0
    failed: int = 0
    requests: int = 0
    retries: int = 0


def _retryable(status: int) -> bool:
    # 429 and 5xx are the receiver's way to say "later"; any other 4xx will never succeed.
    return status == 429 or status >= 500


@dataclass(frozen=True, slots=True)
class Attempt:
    """One POST: the HTTP ``status`` (None when no answer came: refused, reset, timed out), the
    receiver's or the client's ``reason`` (secrets redacted) and a ``Retry-After`` in seconds."""

    status: int | None
    reason: str
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        return self.status is None or _retryable(self.status)

    def context(self) -> dict[str, object]:
        return {
            "status": self.status if self.status is not None else "none",
            "response": self.reason,
        }


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class RemoteWriter:
    """POSTs series to a remote-write endpoint (Prometheus ``/api/v1/write`` with
    ``--web.enable-remote-write-receiver``, VictoriaMetrics ``/api/v1/write``) in bounded
    batches, one at a time so each series' samples arrive in order. :meth:`write` never raises:
    what did not arrive is counted and logged.

    Each batch is retried on 429, 5xx and network errors with exponential backoff from
    ``min_backoff`` to ``max_backoff`` seconds (longer when the server sends ``Retry-After``),
    at most ``max_retries`` times and while the waits fit in ``max_retry_time`` seconds."""

    def __init__(
        self,
        url: str,
        session: aiohttp.ClientSession,
        *,
        timeout: float = 10.0,
        max_samples_per_request: int = 2000,
        max_retries: int = 3,
        min_backoff: float = 0.5,
        max_backoff: float = 5.0,
        max_retry_time: float = 30.0,
        headers: Mapping[str, str] | None = None,
        bearer_token: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        client: HTTPClientConfig | None = None,
        client_key: str = "",
    ) -> None:
        if max_samples_per_request < 1:
            raise ValueError(
                f"max_samples_per_request must be at least 1, got {max_samples_per_request}"
            )
        if max_retries < 0:
            raise ValueError(f"max_retries must not be negative, got {max_retries}")
        parsed = URL(url)
        if parsed.user is not None:
            # Credentials in the URL become basic auth, so the URL itself is safe to log.
            if basic_auth is not None:
                raise ValueError("give basic auth either in the URL or as basic_auth, not both")
            basic_auth = (parsed.user, parsed.password or "")
            parsed = parsed.with_user(None)
        if bearer_token and basic_auth:
            raise ValueError("give either a bearer token or basic auth, not both")
        if (
            client is not None
            and (bearer_token or basic_auth)
            and (client.bearer_token or client.bearer_token_file or client.basic_auth)
        ):
            raise ValueError(
                "give the credentials either in the URL / arguments or in the "
                "client config, not both"
            )
        self.url = str(parsed)
        # Authentication from files, TLS and proxy (read per request: rotated secrets apply).
        self.client, self.client_key = client, client_key
        self._ssl: ssl.SSLContext | None = None
        self.session = session
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.max_samples = max_samples_per_request
        self.max_retries = max_retries
        self.min_backoff, self.max_backoff = min_backoff, max_backoff
        self.max_retry_time = max_retry_time
        self._secrets: list[str] = []
        auth: dict[str, str] = {}
        if bearer_token:
            auth["Authorization"] = f"Bearer {bearer_token}"
            self._secrets.append(bearer_token)
        elif basic_auth:
            encoded = base64.b64encode(":".join(basic_auth).encode()).decode()
            auth["Authorization"] = f"Basic {encoded}"
            # The encoded form leaks the password as surely as the password itself.
            self._secrets += [s for s in (basic_auth[1], encoded) if s]
        self._headers = {
            **(headers or {}),
            **auth,
            "Content-Encoding": "snappy",
            "Content-Type": "application/x-protobuf",
            "X-Prometheus-Remote-Write-Version": "0.1.0",
            "User-Agent": f"promcast/{__version__}",
        }

    def __repr__(self) -> str:
        return f"RemoteWriter(url={self.url!r})"

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    async def write(self, series: Iterable[Series]) -> WriteStats:
        stats = WriteStats()
        for batch in batches(self._refuse_future(series, stats), self.max_samples):
            await self._send(batch, stats)
        log.debug("remote write done", extra={"url": self.url, **stats.__dict__})
        return stats

    def _refuse_future(self, series: Iterable[Series], stats: WriteStats) -> Iterator[Series]:
        kept, refused = refuse_future(series, self.url)
        stats.dropped += refused
        return iter(kept)

    async def attempt(self, batch: Sequence[Series]) -> Attempt:
        """POST one batch once: what happened, for the caller to retry, drop or count."""
        body = encode_write_request(batch)
        status, retry_after = None, None
        try:
            options = self._client_options()
        except ClientConfigUnavailable as exc:
            return Attempt(None, str(exc))
        headers = {**self._headers, **options.pop("headers")}
        try:
            async with self.session.post(
                self.url,
                data=body,
                headers=headers,
                **options,
                timeout=self.timeout,
                allow_redirects=False,
            ) as resp:
                status = resp.status
                if 200 <= status < 300:
                    return Attempt(status, "")
                reason = (await resp.text(errors="replace")).strip()[:MAX_MESSAGE_CHARS]
                retry_after = _retry_after(resp.headers.get("Retry-After"))
        except (aiohttp.ClientError, asyncio.TimeoutError, ssl.SSLError) as exc:
            reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
        return Attempt(status, self._redact(reason), retry_after)

    def check_client(self) -> None:
        """ClientConfigUnavailable if the client config's files cannot be used now."""
        self._client_options()

    def _client_options(self) -> dict:
        """Headers, TLS context and proxy of the client config for one request."""
        if self.client is None:
            return {"headers": {}}
        if self._ssl is None and self.url.startswith("https://"):
            self._ssl = ssl_context(self.client.tls_config, self.client_key)
        options = request_options(self.client, self.url, self._ssl, self.client_key)
        auth = options["headers"].get("Authorization", "")
        if auth:
            # The header's credential part leaks the secret as surely as the secret itself.
            secret = auth.split(" ", 1)[-1]
            self._secrets += [x for x in (secret,) if x not in self._secrets]
            if auth.startswith("Basic "):
                plain = base64.b64decode(secret).decode(errors="replace").split(":", 1)[-1]
                self._secrets += [x for x in (plain,) if x and x not in self._secrets]
        return options

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """The wait before retry number ``attempt + 1``: doubling from ``min_backoff`` up to
        ``max_backoff``, or longer when the receiver asked for it."""
        wait = min(self.max_backoff, self.min_backoff * 2 ** min(attempt, 32))
        return wait if retry_after is None else max(wait, retry_after)

    async def _send(self, batch: list[Series], stats: WriteStats) -> None:
        samples = sum(len(s.samples) for s in batch)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_retry_time
        attempt = 0
        while True:
            stats.requests += 1
            result = await self.attempt(batch)
            if result.ok:
                stats.sent += samples
                return
            ctx = {"url": self.url, **result.context(), "samples": samples, "attempt": attempt + 1}
            if not result.retryable:
                # e.g. Prometheus' "out of bounds" / "out of order sample": resending the same
                # samples gets the same answer, so drop this batch and go on with the next.
                log.error("remote write rejected; dropping the batch", extra=ctx)
                stats.dropped += samples
                return
            wait = self.backoff(attempt, result.retry_after)
            if attempt >= self.max_retries or loop.time() + wait > deadline:
                log.error("remote write failed; giving up on the batch", extra=ctx)
                stats.failed += samples
                return
            log.warning(
                "remote write failed; retrying", extra={**ctx, "retry_in_s": round(wait, 3)}
            )
            attempt += 1
            stats.retries += 1
            await asyncio.sleep(wait)


# -- the queue beside the cycles ---------------------------------------------------------------


class WriteQueue:
    """Remote write beside the forecasting cycles, as Prometheus' own remote write runs beside
    rule evaluation: :meth:`put` only appends to a bounded in-memory queue and never waits, and
    :meth:`run` sends the queue in order, one batch at a time, retrying each batch with backoff
    until it is delivered, refused, or too old to be accepted. A receiver that is down, slow or
    never answers therefore delays only the queue, never a cycle, and the samples of an outage
    are sent once the receiver is back, in time order (which Prometheus requires per series).

    What is not delivered is counted in :attr:`samples` by result: ``sent``; ``rejected`` (a 4xx
    answer, or stamped in the future: resending cannot help); ``too_old`` (older than
    ``max_age`` seconds when their turn came: Prometheus refuses samples more than about an hour
    older than its newest unless ``out_of_order_time_window`` is set, and one such sample makes it
    refuse the whole request); ``overflow`` (the oldest samples, dropped to keep the queue within
    ``capacity`` samples). :attr:`failed_requests` counts requests that got no 2xx/4xx answer."""

    RESULTS = ("sent", "rejected", "too_old", "overflow")

    def __init__(
        self, writer: RemoteWriter, *, capacity: int = 200_000, max_age: float = 3000.0
    ) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        if max_age <= 0:
            raise ValueError(f"max_age must be positive, got {max_age}")
        self.writer = writer
        self.capacity = capacity
        self.max_age_ms = int(max_age * 1000)
        self.samples = dict.fromkeys(self.RESULTS, 0)
        self.failed_requests = 0
        self._queue: deque[Series] = deque()
        self._pending = 0
        self._wake = asyncio.Event()

    @property
    def pending(self) -> int:
        """Samples waiting to be sent (the batch in flight included)."""
        return self._pending

    def put(self, series: Iterable[Series]) -> None:
        """Queue series for sending; never blocks. Past ``capacity`` the oldest samples go."""
        kept, refused = refuse_future(series, self.writer.url)
        self.samples["rejected"] += refused
        for s in kept:
            self._queue.append(s)
            self._pending += len(s.samples)
        overflow = 0
        while self._pending > self.capacity and self._queue:
            overflow += self._pop()
        if overflow:
            self.samples["overflow"] += overflow
            log.error(
                "remote write queue full; dropped its oldest samples",
                extra={"url": self.writer.url, "samples": overflow, "capacity": self.capacity},
            )
        if self._queue:
            self._wake.set()

    def _pop(self, count: int = 1) -> int:
        n = 0
        for _ in range(count):
            n += len(self._queue.popleft().samples)
        self._pending -= n
        return n

    def _expire(self) -> None:
        """Drop what the receiver would refuse as too old. The queue is in time order, so
        expired samples sit at its front."""
        cutoff = now_ms() - self.max_age_ms
        expired = 0
        while self._queue and self._queue[0].samples[-1][0] < cutoff:
            expired += self._pop()
        if self._queue and self._queue[0].samples[0][0] < cutoff:
            head = self._queue[0]
            kept = tuple(smp for smp in head.samples if smp[0] >= cutoff)
            expired += len(head.samples) - len(kept)
            self._pending -= len(head.samples) - len(kept)
            self._queue[0] = Series(head.labels, kept)
        if expired:
            self.samples["too_old"] += expired
            log.error(
                "remote write samples too old for the receiver; dropped",
                extra={
                    "url": self.writer.url,
                    "samples": expired,
                    "max_age_s": self.max_age_ms / 1000,
                },
            )

    def _head(self) -> list[Series]:
        """The front of the queue, up to the writer's samples per request (at least one series)."""
        batch: list[Series] = []
        size = 0
        for s in self._queue:
            if batch and size + len(s.samples) > self.writer.max_samples:
                break
            batch.append(s)
            size += len(s.samples)
        return batch

    async def run(self, stop: asyncio.Event) -> None:
        """Send until ``stop`` is set; a request in flight then is abandoned (its samples are
        lost with the rest of the queue: the forecaster keeps no state across restarts)."""
        failures = 0
        while not stop.is_set():
            self._expire()
            if not self._queue:
                self._wake.clear()
                await _first(stop.wait(), self._wake.wait())
                continue
            batch = self._head()
            sending = asyncio.ensure_future(self.writer.attempt(batch))
            await _first(stop.wait(), sending)
            if not sending.done():
                sending.cancel()
                break
            result = sending.result()
            samples = sum(len(s.samples) for s in batch)
            if result.ok or not result.retryable:
                self._pop(len(batch))
                failures = 0
                if result.ok:
                    self.samples["sent"] += samples
                else:
                    self.samples["rejected"] += samples
                    log.error(
                        "remote write rejected; dropping the batch",
                        extra={"url": self.writer.url, **result.context(), "samples": samples},
                    )
                continue
            self.failed_requests += 1
            wait = self.writer.backoff(failures, result.retry_after)
            failures += 1
            log.warning(
                "remote write failed; retrying",
                extra={
                    "url": self.writer.url,
                    **result.context(),
                    "samples": samples,
                    "pending": self._pending,
                    "attempt": failures,
                    "retry_in_s": round(wait, 3),
                },
            )
            try:
                await asyncio.wait_for(stop.wait(), timeout=wait)
            except asyncio.TimeoutError:
                pass


async def drain(queue: WriteQueue, timeout: float) -> bool:
    """Send what ``queue`` holds now, for at most ``timeout`` seconds; True when it is empty.
    For a replay, a test or a last flush: a running service's queue runs on its own."""
    stop = asyncio.Event()
    task = asyncio.ensure_future(queue.run(stop))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while queue.pending and loop.time() < deadline and not task.done():
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await task
    return not queue.pending


async def _first(*aws: Awaitable[object]) -> None:
    """Wait until the first of ``aws`` is done; the others are cancelled unless they are futures
    the caller holds (those are left running for the caller to look at)."""
    tasks = [a if isinstance(a, asyncio.Future) else asyncio.ensure_future(a) for a in aws]
    owned = [t for t, a in zip(tasks, aws) if t is not a]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in owned:
            t.cancel()
