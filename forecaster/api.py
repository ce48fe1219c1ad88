"""The forecaster's HTTP API beside /metrics.

- A read-only, Prometheus-compatible query API over the forecast curves (``/api/v1/query_range``,
  ``/api/v1/query``, ``/api/v1/series``, ``/api/v1/labels``, ``/api/v1/label/<name>/values``), so
  Grafana can add the forecaster as a Prometheus datasource and draw forecasts and their bands
  beyond "now". Queries are series selectors; PromQL functions are not evaluated (instant
  queries of plain arithmetic are, so Grafana's datasource test ``1+1`` passes). An instant
  query of a range selector (``name{...}[1d]``) returns the curves' points in that range, which
  is how prometheus-api-client's ``get_metric_range_data`` reads a period.
- A JSON API: ``GET /api/v1/forecasts?target=...`` (the latest results) and
  ``POST /api/v1/forecast`` (an ad-hoc query forecast synchronously).

Every request that does work passes a :class:`QueryGate`, as Prometheus' query engine bounds its
queries: at most ``--query.max-concurrency`` run at once, in as many threads off the event loop
(so /-/healthy and /metrics answer under any burst), ``--query.max-queued`` wait, and any more
get 503 at once; each is cut at ``--query.timeout``. What one request may hold is bounded too:
``--query.max-samples`` per answer, ``--query.max-series`` per ad-hoc forecast.
"""

from __future__ import annotations

import ast
import asyncio
import datetime as dt
import json
import math
import operator
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterator, TypeVar

import numpy as np
from aiohttp import web
from prometheus_client.core import Metric

from promcast_common.durations import format_duration, parse_duration
from promcast_forecaster import __version__
from promcast_forecaster import curves as cv
from promcast_forecaster.publish.series import api_families
from promcast_forecaster.selector import SelectorError, any_matcher_fn, matcher_fn, split_range

if TYPE_CHECKING:
    from promcast_forecaster.service import Forecaster

Handler = Callable[[web.Request], Awaitable[web.Response]]
T = TypeVar("T")


@dataclass(frozen=True)
class QueryLimits:
    """The ``--query.*`` flags."""

    timeout: float = 120.0
    max_concurrency: int = 2
    max_queued: int = 8
    max_samples: int = 1_000_000
    max_series: int = 1000


class Overloaded(Exception):
    pass


class TimedOut(Exception):
    pass


class QueryGate:
    """Admission and a bounded thread pool for API work; also a collector of its own series."""

    def __init__(self, limits: QueryLimits) -> None:
        self.limits = limits
        self.pool = ThreadPoolExecutor(limits.max_concurrency, thread_name_prefix="promcast-api")
        self._slots = asyncio.Semaphore(limits.max_concurrency)
        self.in_flight = 0
        self.rejected = {"overload": 0, "timeout": 0}

    async def run(self, work: Callable[[], Awaitable[T]]) -> T:
        """``work()`` once a slot is free, within the timeout; Overloaded when the queue is full."""
        if self.in_flight >= self.limits.max_concurrency + self.limits.max_queued:
            self.rejected["overload"] += 1
            raise Overloaded()
        self.in_flight += 1
        try:
            return await asyncio.wait_for(self._in_slot(work), timeout=self.limits.timeout)
        except asyncio.TimeoutError:
            # A thread already running goes on to its end (threads cannot be stopped), but it
            # holds one of the pool's max_concurrency threads, so the CPU stays bounded.
            self.rejected["timeout"] += 1
            raise TimedOut() from None
        finally:
            self.in_flight -= 1

    async def _in_slot(self, work: Callable[[], Awaitable[T]]) -> T:
        async with self._slots:
            return await work()

    async def offload(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.pool, partial(fn, *args))

    def close(self) -> None:
        """Drop the work still queued at shutdown: a backlog of answers nobody will read must not
        keep the process alive (Python finishes a pool's queued work before it exits)."""
        self.pool.shutdown(wait=False, cancel_futures=True)

    def collect(self) -> Iterator[Metric]:
        yield from api_families(self.in_flight, self.rejected)

    def refusal(self, exc: Exception) -> web.Response:
        lim = self.limits
        if isinstance(exc, Overloaded):
            resp = _bad(
                f"too many API requests at once: {lim.max_concurrency} running "
                f"(--query.max-concurrency) and {lim.max_queued} waiting "
                "(--query.max-queued); retry later",
                503,
                "unavailable",
            )
            resp.headers["Retry-After"] = "5"
            return resp
        return _bad(
            f"query timed out after {format_duration(lim.timeout)} (--query.timeout)",
            503,
            "timeout",
        )


def _encoded(data: Any) -> bytes:
    """The success envelope as JSON, encoded a series at a time: ``json.dumps`` holds the GIL for
    the whole of one call, so a single call over a large answer, even in a worker thread, would
    stall the event loop (and /-/healthy) for as long."""

    def enc(obj: Any, depth: int) -> str:
        if isinstance(obj, cv.RawJSON):
            return obj
        if depth < 4 and isinstance(obj, dict):
            return (
                "{"
                + ",".join(f"{json.dumps(str(k))}:{enc(v, depth + 1)}" for k, v in obj.items())
                + "}"
            )
        if depth < 3 and isinstance(obj, list):
            return "[" + ",".join(enc(v, depth + 1) for v in obj) + "]"
        return json.dumps(obj)

    return enc({"status": "success", "data": data}, 0).encode()


def _ok(data: Any) -> web.Response:
    return web.json_response({"status": "success", "data": data})


def _bad(error: str, status: int = 400, kind: str = "bad_data") -> web.Response:
    return web.json_response({"status": "error", "errorType": kind, "error": error}, status=status)


def _time(value: str | None, default: float) -> float:
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError:
        try:
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise ValueError(f"cannot parse {value!r} to a valid timestamp") from None


def _step(value: str | None) -> float:
    if not value:
        raise ValueError("missing step")
    try:
        step = float(value)
    except ValueError:
        step = parse_duration(value)
    if step <= 0:
        raise ValueError("zero or negative query resolution step widths are not accepted")
    return step


_OPERATORS: dict[type, Callable[..., Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: np.fmod,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def _constant(expr: str) -> float | None:
    """The value of a PromQL expression made only of numbers and arithmetic (Grafana's datasource
    check sends ``1+1``), with IEEE results like Prometheus (``1/0`` is +Inf); None otherwise."""
    try:
        tree = ast.parse(expr.replace("^", "**"), mode="eval").body
    except (SyntaxError, RecursionError, MemoryError):
        return None

    def value(node: ast.AST) -> np.float64:
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return np.float64(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](value(node.operand))
        raise ValueError("not a constant")

    try:
        with np.errstate(all="ignore"):
            return float(value(tree))
    except (ValueError, OverflowError, RecursionError):
        # OverflowError: an integer literal beyond float's range; RecursionError: 1+1+...+1
        return None


async def _params(request: web.Request) -> dict[str, Any]:
    """Query-string and form parameters together, as Prometheus accepts both (Grafana POSTs)."""
    params: dict[str, Any] = {k: request.query.getall(k) for k in request.query}
    if request.method == "POST" and request.content_type == "application/x-www-form-urlencoded":
        form = await request.post()
        for k in form:
            params.setdefault(k, []).extend(str(v) for v in form.getall(k))
    return {k: (v if k == "match[]" else v[-1]) for k, v in params.items()}


def add_routes(app: web.Application, forecaster: "Forecaster", gate: QueryGate) -> None:
    limits = gate.limits

    async def answer(compute: Callable[[], Any]) -> web.Response:
        """``compute()`` run and JSON-encoded in the gate's pool; errors as Prometheus words them."""
        try:
            body = await gate.run(lambda: gate.offload(lambda: _encoded(compute())))
        except (Overloaded, TimedOut) as exc:
            return gate.refusal(exc)
        except cv.TooManySamples as exc:
            return _bad(
                f"query processing would load too many samples into memory: {exc.samples} "
                f"samples, over --query.max-samples={exc.limit}; narrow the selector or "
                "raise step",
                422,
                "execution",
            )
        except (SelectorError, ValueError) as exc:
            return _bad(str(exc))
        return web.Response(body=body, content_type="application/json")

    def guarded(fn: Callable[[dict[str, Any], list], Any]) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            try:
                params = await _params(request)
            except ValueError as exc:
                return _bad(str(exc))
            # The results are read here, on the loop, where cycles replace them.
            results = list(forecaster.results.values())
            return await answer(lambda: fn(params, results))

        return handler

    def query_range(p: dict[str, Any], results: list) -> dict:
        if split_range(p.get("query", ""))[1] is not None:  # as Prometheus answers it
            raise ValueError(
                'invalid expression type "range vector" for range query, must be '
                "Scalar or instant Vector"
            )
        match = matcher_fn(p.get("query", ""))
        start, end = _time(p.get("start"), math.nan), _time(p.get("end"), math.nan)
        if math.isnan(start) or math.isnan(end):
            raise ValueError("start and end are required")
        if end < start:
            raise ValueError("end timestamp must not be before start time")
        return {
            "resultType": "matrix",
            "result": cv.matrix(
                cv.select(results, match), start, end, _step(p.get("step")), limits.max_samples
            ),
        }

    def query(p: dict[str, Any], results: list) -> dict:
        at = _time(p.get("time"), time.time())
        constant = _constant(p.get("query", ""))
        if constant is not None:
            return {"resultType": "scalar", "result": [at, cv.format_value(constant)]}
        selector, seconds = split_range(p.get("query", ""))
        match = matcher_fn(selector)
        if seconds is not None:  # name[1d]: the raw points of the day before `time`
            return {
                "resultType": "matrix",
                "result": cv.range_matrix(cv.select(results, match), at, seconds),
            }
        return {
            "resultType": "vector",
            "result": cv.vector(cv.select(results, match), at, limits.max_samples),
        }

    def selected_labels(p: dict[str, Any], results: list) -> list[dict[str, str]]:
        match = any_matcher_fn(p.get("match[]", []))
        return [c.labels for c in cv.curves(results) if match is None or match(c.labels)]

    def series(p: dict[str, Any], results: list) -> list[dict[str, str]]:
        if not p.get("match[]"):
            raise ValueError("no match[] parameter provided")
        unique = {tuple(sorted(lab.items())): lab for lab in selected_labels(p, results)}
        return list(unique.values())

    def labels(p: dict[str, Any], results: list) -> list[str]:
        return sorted({k for lab in selected_labels(p, results) for k in lab})

    async def label_values(request: web.Request) -> web.Response:
        name = request.match_info["name"]

        def values(p: dict[str, Any], results: list) -> list[str]:
            return sorted({lab[name] for lab in selected_labels(p, results) if name in lab})

        return await guarded(values)(request)

    async def buildinfo(_: web.Request) -> web.Response:
        # Grafana asks for this to decide which Prometheus features it may use.
        return _ok(
            {
                "version": "2.42.0",
                "revision": f"promcast-{__version__}",
                "branch": "promcast",
                "application": "promcast-forecaster",
            }
        )

    async def empty(_: web.Request) -> web.Response:
        return _ok({} if _.path.endswith("metadata") else [])

    async def forecasts(request: web.Request) -> web.Response:
        wanted = request.query.get("target")
        if wanted and wanted not in forecaster.results:
            return _bad(
                f"no results for target {wanted!r}; known: "
                f"{', '.join(sorted(forecaster.results)) or 'none yet'}",
                404,
                "not_found",
            )
        chosen = [
            r for name, r in sorted(forecaster.results.items()) if not wanted or name == wanted
        ]
        return await answer(lambda: [result_json(r) for r in chosen])

    async def adhoc(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _bad("the body must be a JSON object")

        async def work() -> bytes:
            result = await forecaster.forecast_adhoc(
                body, limits.max_series, limits.max_samples, gate.offload
            )
            return await gate.offload(lambda: _encoded(result_json(result, with_curves=True)))

        try:
            encoded = await gate.run(work)
        except (Overloaded, TimedOut) as exc:
            return gate.refusal(exc)
        except ValueError as exc:
            return _bad(str(exc))
        return web.Response(body=encoded, content_type="application/json")

    for path, fn in (
        ("/api/v1/query_range", query_range),
        ("/api/v1/query", query),
        ("/api/v1/series", series),
        ("/api/v1/labels", labels),
    ):
        app.router.add_route("GET", path, guarded(fn))
        app.router.add_route("POST", path, guarded(fn))
    app.router.add_route("*", "/api/v1/label/{name}/values", label_values)
    app.router.add_get("/api/v1/status/buildinfo", buildinfo)
    app.router.add_get("/api/v1/metadata", empty)
    app.router.add_route("*", "/api/v1/query_exemplars", empty)
    app.router.add_get("/api/v1/forecasts", forecasts)
    app.router.add_post("/api/v1/forecast", adhoc)


def _num(v: float) -> float | str:
    return cv.format_value(v) if not math.isfinite(v) else v


def result_json(result: Any, with_curves: bool = False) -> dict:
    t = result.target
    out = {
        "target": t.name,
        "made_at": result.made_at,
        "step": t.step,
        "skipped": result.skipped,
        "series": [],
    }
    for row, s in enumerate(result.series):
        item = {
            "labels": s.labels,
            "observed": _num(s.observed),
            "model": s.model,
            "reason": s.reason,
            "exhaustion_seconds": _num(s.exhaustion_seconds),
            "horizons": {
                t.horizon_label(h): {
                    "mean": _num(m),
                    **{
                        f"{side}_{lv}": _num(s.bounds[(h, lv)][i])
                        for lv in t.levels
                        for i, side in enumerate(("lower", "upper"))
                    },
                }
                for h, m in s.mean.items()
            },
        }
        if with_curves and result.curves:
            times = result.curve_start + t.step * np.arange(1, result.curves["mean"].shape[1])
            item["curve"] = {
                "timestamps": times.tolist(),
                **{k: [_num(float(v)) for v in m[row, 1:]] for k, m in result.curves.items()},
            }
        out["series"].append(item)
    return out
