"""Reading series from a Prometheus-compatible query API (Prometheus, VictoriaMetrics, Thanos,
Mimir) with ``query_range``."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
import numpy as np


class SourceUnavailable(Exception):
    """The server could not be reached or failed (network, timeout, 5xx): worth retrying."""


class QueryError(Exception):
    """The server rejected the query (bad PromQL, too many points): retrying will not help."""


@dataclass(frozen=True)
class RawSeries:
    labels: dict[str, str]
    timestamps: np.ndarray
    values: np.ndarray


class PrometheusSource:
    def __init__(self, url: str, timeout: float, session: aiohttp.ClientSession) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = session

    async def query_range(self, query: str, start: float, end: float, step: float) -> list[RawSeries]:
        params = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}",
                  "timeout": f"{self.timeout:g}s"}
        try:
            async with self.session.post(
                f"{self.url}/api/v1/query_range", data=params,
                timeout=aiohttp.ClientTimeout(total=self.timeout + 5),
            ) as resp:
                try:
                    body = await resp.json(content_type=None)
                except ValueError:
                    body = {}
                if resp.status >= 500 or resp.status == 429:
                    raise SourceUnavailable(f"{self.url} answered HTTP {resp.status}: "
                                            f"{body.get('error', '') if isinstance(body, dict) else ''}")
                if resp.status != 200 or body.get("status") != "success":
                    raise QueryError(f"{body.get('errorType', 'error')}: "
                                     f"{body.get('error', f'HTTP {resp.status}')}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SourceUnavailable(f"cannot query {self.url}: {exc.__class__.__name__} {exc}") from None
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
