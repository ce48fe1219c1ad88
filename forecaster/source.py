"""Reading series from a Prometheus-compatible query API (Prometheus, VictoriaMetrics, Thanos,
Mimir) with ``query_range``."""

from __future__ import annotations

import asyncio
import json
import re
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import numpy as np

from promcast_common.httpclient import (
    ClientConfigUnavailable,
    basic_auth_header,
    request_options,
    ssl_context,
)

if TYPE_CHECKING:
    from promcast_forecaster.config import PrometheusSource as SourceConfig


CHUNK_POINTS = 1000  # at most, per series and request
FIRST_CHUNK_POINTS = 50
MAX_SAMPLES = 500_000  # per request, roughly: bounds the memory of one JSON answer
# The largest answer read, whatever the server sends: the first (small) read of a query with a
# million series, or a server that never stops, would otherwise take the memory of the host.
BODY_SIZE_LIMIT = 64 << 20


class SourceUnavailable(Exception):
    """The server could not be reached or failed (network, timeout, 5xx): worth retrying."""


class QueryError(Exception):
    """The server rejected the query (bad PromQL, too many points): retrying will not help."""


class TooManySeries(QueryError):
    """The query returns more series than the caller allowed (``max_series``)."""

    def __init__(self, query: str, limit: int) -> None:
        self.limit = limit
        super().__init__(f"the query {query!r} returns more than {limit} series")


@dataclass(frozen=True)
class RawSeries:
    labels: dict[str, str]
    timestamps: np.ndarray
    values: np.ndarray


def redact(url: str) -> str:
    """The URL without any user:password@ part, for logs and error messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    return urlunsplit(parts._replace(netloc=f"{host}:{parts.port}" if parts.port else host))


class PrometheusSource:
    def __init__(
        self,
        url: str,
        timeout: float,
        session: aiohttp.ClientSession,
        config: "SourceConfig | None" = None,
    ) -> None:
        parts = urlsplit(url)
        # Credentials in the URL become basic auth, so the URL itself can be logged safely.
        self._url_auth = (
            {"Authorization": basic_auth_header(parts.username, parts.password or "")}
            if parts.username is not None
            else {}
        )
        self.url = redact(url).rstrip("/")
        self.timeout = timeout
        self.session = session
        self.config = config
        self.body_size_limit = config.body_size_limit if config is not None else BODY_SIZE_LIMIT
        self._ssl: ssl.SSLContext | None = None  # built at the first query (see _tls)

    @classmethod
    def from_config(
        cls, config: "SourceConfig", session: aiohttp.ClientSession
    ) -> "PrometheusSource":
        return cls(config.url, config.timeout, session, config)

    async def query_range(
        self,
        query: str,
        start: float,
        end: float,
        step: float,
        timeout: float | None = None,
        max_series: int | None = None,
    ) -> list[RawSeries]:
        """Series of a range query; ``timeout`` bounds each request (default: the source's).
        With ``max_series``, TooManySeries as soon as the first (small) read has more.

        Long ranges are read in chunks, each turned into arrays before the next is asked for: a
        fleet's history as one JSON answer would hold every sample as Python objects at once
        (and pass Prometheus' 11,000-point and 50M-sample limits).
        """
        n_points = int(round((end - start) / step)) + 1
        parts: dict[tuple, list[RawSeries]] = {}
        # A first small read tells how many series the query has; later reads are sized so that
        # one answer holds about MAX_SAMPLES samples whatever the fleet's size.
        size, first = min(FIRST_CHUNK_POINTS, n_points), 0
        while first < n_points:
            last = min(n_points, first + size) - 1
            chunk = await self._query_range_once(
                query, start + first * step, start + last * step, step, timeout or self.timeout
            )
            for s in chunk:
                parts.setdefault(tuple(sorted(s.labels.items())), []).append(s)
            if max_series is not None and len(parts) > max_series:
                raise TooManySeries(query, max_series)
            first = last + 1
            size = max(10, min(CHUNK_POINTS, MAX_SAMPLES // max(1, len(chunk))))
        return [
            p[0]
            if len(p) == 1
            else RawSeries(
                p[0].labels,
                np.concatenate([s.timestamps for s in p]),
                np.concatenate([s.values for s in p]),
            )
            for p in parts.values()
        ]

    async def _query_range_once(
        self, query: str, start: float, end: float, step: float, timeout: float
    ) -> list[RawSeries]:
        # Whole milliseconds: Prometheus parses no exponent ("1.2096e+06s" is rejected).
        params = {
            "query": query,
            "start": f"{start:.3f}",
            "end": f"{end:.3f}",
            "step": f"{step:g}",
            "timeout": f"{max(1, round(timeout * 1000))}ms",
        }
        where = self.url
        options: dict = {"headers": {}}
        if self.config is not None:
            # A TLS or secret file that cannot be read fails each cycle (logged, counted,
            # retried), not the service's start: the file may be mounted a moment later.
            try:
                if self._ssl is None and self.url.startswith("https://"):
                    self._ssl = ssl_context(self.config.tls_config)
                options = request_options(self.config, self.url, self._ssl)
            except ClientConfigUnavailable as exc:
                raise SourceUnavailable(str(exc)) from None
        options["headers"] = options["headers"] or self._url_auth
        if self.session.closed:
            # The service is stopping: an API request that was still reading gets an answer
            # saying so, not a traceback.
            raise SourceUnavailable(f"cannot query {where}: the forecaster is shutting down")
        try:
            async with self.session.post(
                f"{self.url}/api/v1/query_range",
                data=params,
                # The server stops at `timeout`; the client allows a little more for the answer.
                timeout=aiohttp.ClientTimeout(total=timeout + 2),
                **options,
            ) as resp:
                raw = await _read_bounded(resp, self.body_size_limit, where, query)
                # Decoding a large answer takes a while: in a worker thread, so the event loop
                # (/-/healthy, the API, other targets) is not held up by it.
                body, series = await asyncio.get_running_loop().run_in_executor(
                    None, parse_matrix, raw
                )
                if resp.status in (401, 403):
                    raise SourceUnavailable(
                        f"{where} refused the credentials (HTTP {resp.status}); "
                        "check bearer_token / basic_auth"
                    )
                if resp.status >= 500 or resp.status == 429:
                    raise SourceUnavailable(
                        f"{where} answered HTTP {resp.status}: {body.get('error', '')}"
                    )
                if resp.status != 200 or body.get("status") != "success":
                    raise QueryError(
                        f"{body.get('errorType', 'error')}: "
                        f"{body.get('error', f'HTTP {resp.status}')}"
                    )
        except (aiohttp.ClientError, TimeoutError, ssl.SSLError) as exc:
            raise SourceUnavailable(
                f"cannot query {where}: {exc.__class__.__name__} {exc}"
            ) from None
        if series is None:
            data = body.get("data")
            kind = data.get("resultType") if isinstance(data, dict) else None
            raise QueryError(f"expected a range vector (matrix), got {kind!r}")
        return series


async def _read_bounded(resp: aiohttp.ClientResponse, limit: int, where: str, query: str) -> bytes:
    """The body of ``resp``; QueryError once it is over ``limit`` bytes (read no further)."""

    def too_large() -> QueryError:
        return QueryError(
            f"the answer of {where} to {query!r} is over prometheus.body_size_limit="
            f"{limit} bytes; narrow the query (fewer series) or raise the limit"
        )

    if resp.content_length is not None and resp.content_length > limit:
        raise too_large()
    chunks, size = [], 0
    async for chunk in resp.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > limit:
            raise too_large()
        chunks.append(chunk)
    return b"".join(chunks)


# How Prometheus and VictoriaMetrics begin a range query's answer, up to the first series.
_MATRIX_HEAD = re.compile(
    r'\s*\{\s*"status"\s*:\s*"success"\s*,\s*(?:"isPartial"\s*:\s*'
    r'(?:true|false)\s*,\s*)?"data"\s*:\s*\{\s*"resultType"\s*:\s*'
    r'"matrix"\s*,\s*"result"\s*:\s*\[\s*'
)
_DECODER = json.JSONDecoder()


def _decode(raw: bytes) -> tuple[dict, list | None]:
    """The answer's JSON object, and its ``data.result`` list when it is a matrix in the usual
    layout, decoded a series at a time: ``json.loads`` holds the GIL for the whole of one call,
    so one call over a large answer, even in a worker thread, would stall the event loop (and
    /-/healthy) for as long. Any other layout is decoded whole (its size is bounded)."""
    text = raw.decode("utf-8", errors="replace")
    head = _MATRIX_HEAD.match(text)
    if head is None:
        return json.loads(text), None
    items, pos = [], head.end()
    more = not text.startswith("]", pos)
    while more:
        item, pos = _DECODER.raw_decode(text, pos)
        items.append(item)
        pos = _skip(text, pos)
        more = text.startswith(",", pos)
        if more:
            pos = _skip(text, pos + 1)
    if not text.startswith("]", pos):
        raise ValueError(f"unexpected {text[pos : pos + 20]!r} in the result list")
    # What follows the list (the closing braces, warnings) is checked and read as JSON too.
    return json.loads(text[: head.end()] + text[pos:]), items


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def parse_matrix(raw: bytes) -> tuple[dict, list[RawSeries] | None]:
    """A query API answer: its JSON object ({} when it is none) and, for a matrix, its series
    (None for anything else). Malformed series are a QueryError naming the series."""
    try:
        body, result = _decode(raw)
    except (ValueError, RecursionError):
        return {}, None
    if not isinstance(body, dict):
        return {}, None
    data = body.get("data")
    if result is None and isinstance(data, dict):
        result = data.get("result")
    if (
        not isinstance(data, dict)
        or data.get("resultType") != "matrix"
        or not isinstance(result, list)
    ):
        return body, None
    out = []
    for item in result:
        try:
            metric = {str(k): str(v) for k, v in item.get("metric", {}).items()}
            # float() and numpy read "NaN" and "+Inf" as Prometheus writes them.
            values = item.get("values", [])
            pairs = np.asarray(values, dtype=float).reshape(-1, 2)
            if len(values) != len(pairs):
                raise ValueError("values are not [timestamp, value] pairs")
        except (AttributeError, TypeError, ValueError) as exc:
            raise QueryError(f"malformed series in the answer: {str(item)[:200]} ({exc})") from None
        out.append(RawSeries(metric, pairs[:, 0].copy(), pairs[:, 1].copy()))
    return body, out
