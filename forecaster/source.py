"""Reading series from a Prometheus-compatible query API (Prometheus, VictoriaMetrics, Thanos,
Mimir) with ``query_range``."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import numpy as np

from exporter.core.httpclient import (ClientConfigUnavailable, basic_auth_header,
                                      request_options, ssl_context)

if TYPE_CHECKING:
    from forecaster.config import PrometheusSource as SourceConfig


CHUNK_POINTS = 1000        # at most, per series and request
FIRST_CHUNK_POINTS = 50
MAX_SAMPLES = 500_000      # per request, roughly: bounds the memory of one JSON answer


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
    def __init__(self, url: str, timeout: float, session: aiohttp.ClientSession,
                 config: "SourceConfig | None" = None) -> None:
        parts = urlsplit(url)
        # Credentials in the URL become basic auth, so the URL itself can be logged safely.
        self._url_auth = ({"Authorization": basic_auth_header(parts.username, parts.password or "")}
                          if parts.username is not None else {})
        self.url = redact(url).rstrip("/")
        self.timeout = timeout
        self.session = session
        self.config = config
        self._ssl: ssl.SSLContext | None = None  # built at the first query (see _tls)

    @classmethod
    def from_config(cls, config: "SourceConfig", session: aiohttp.ClientSession) -> "PrometheusSource":
        return cls(config.url, config.timeout, session, config)

    async def query_range(self, query: str, start: float, end: float, step: float,
                          timeout: float | None = None,
                          max_series: int | None = None) -> list[RawSeries]:
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
            chunk = await self._query_range_once(query, start + first * step, start + last * step,
                                                 step, timeout or self.timeout)
            for s in chunk:
                parts.setdefault(tuple(sorted(s.labels.items())), []).append(s)
            if max_series is not None and len(parts) > max_series:
                raise TooManySeries(query, max_series)
            first = last + 1
            size = max(10, min(CHUNK_POINTS, MAX_SAMPLES // max(1, len(chunk))))
        return [p[0] if len(p) == 1 else RawSeries(
                    p[0].labels, np.concatenate([s.timestamps for s in p]),
                    np.concatenate([s.values for s in p]))
                for p in parts.values()]

    async def _query_range_once(self, query: str, start: float, end: float, step: float,
                                timeout: float) -> list[RawSeries]:
        # Whole milliseconds: Prometheus parses no exponent ("1.2096e+06s" is rejected).
        params = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}",
                  "timeout": f"{max(1, round(timeout * 1000))}ms"}
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
        try:
            async with self.session.post(
                f"{self.url}/api/v1/query_range", data=params,
                # The server stops at `timeout`; the client allows a little more for the answer.
                timeout=aiohttp.ClientTimeout(total=timeout + 2), **options,
            ) as resp:
                try:
                    body = await resp.json(content_type=None)
                except ValueError:
                    body = {}
                if resp.status in (401, 403):
                    raise SourceUnavailable(f"{where} refused the credentials (HTTP {resp.status}); "
                                            "check bearer_token / basic_auth")
                if resp.status >= 500 or resp.status == 429:
                    raise SourceUnavailable(f"{where} answered HTTP {resp.status}: "
                                            f"{body.get('error', '') if isinstance(body, dict) else ''}")
                if resp.status != 200 or body.get("status") != "success":
                    raise QueryError(f"{body.get('errorType', 'error')}: "
                                     f"{body.get('error', f'HTTP {resp.status}')}")
        except (aiohttp.ClientError, TimeoutError, ssl.SSLError) as exc:
            raise SourceUnavailable(f"cannot query {where}: {exc.__class__.__name__} {exc}") from None
        data = body.get("data", {})
        if data.get("resultType") != "matrix":
            raise QueryError(f"expected a range vector (matrix), got {data.get('resultType')!r}")
        out = []
        for item in data.get("result", []):
            vals = item.get("values", [])
            ts = np.array([float(v[0]) for v in vals])
            ys = np.array([float(v[1]) for v in vals])  # float() reads "NaN" and "+Inf" too
            out.append(RawSeries(dict(item.get("metric", {})), ts, ys))
        return out
