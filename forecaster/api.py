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
"""

from __future__ import annotations

import ast
import datetime as dt
import math
import operator
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable

import numpy as np
from aiohttp import web

from exporter.core.durations import parse_duration
from forecaster import __version__
from forecaster import curves as cv
from forecaster.selector import SelectorError, matcher_fn, split_range

if TYPE_CHECKING:
    from forecaster.service import Forecaster

Handler = Callable[[web.Request], Awaitable[web.Response]]


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
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.Mod: np.fmod, ast.Pow: operator.pow,
    ast.USub: operator.neg, ast.UAdd: operator.pos}


def _constant(expr: str) -> float | None:
    """The value of a PromQL expression made only of numbers and arithmetic (Grafana's datasource
    check sends ``1+1``), with IEEE results like Prometheus (``1/0`` is +Inf); None otherwise."""
    try:
        tree = ast.parse(expr.replace("^", "**"), mode="eval").body
    except SyntaxError:
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
    except (ValueError, OverflowError):  # OverflowError: an integer literal beyond float's range
        return None


async def _params(request: web.Request) -> dict[str, Any]:
    """Query-string and form parameters together, as Prometheus accepts both (Grafana POSTs)."""
    params: dict[str, Any] = {k: request.query.getall(k) for k in request.query}
    if request.method == "POST" and request.content_type == "application/x-www-form-urlencoded":
        form = await request.post()
        for k in form:
            params.setdefault(k, []).extend(str(v) for v in form.getall(k))
    return {k: (v if k == "match[]" else v[-1]) for k, v in params.items()}


def add_routes(app: web.Application, forecaster: "Forecaster") -> None:
    def results() -> list:
        return list(forecaster.results.values())

    def guarded(fn: Callable[[dict[str, Any]], Any]) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            try:
                return _ok(fn(await _params(request)))
            except (SelectorError, ValueError) as exc:
                return _bad(str(exc))

        return handler

    def query_range(p: dict[str, Any]) -> dict:
        if split_range(p.get("query", ""))[1] is not None:  # as Prometheus answers it
            raise ValueError("invalid expression type \"range vector\" for range query, must be "
                             "Scalar or instant Vector")
        match = matcher_fn(p.get("query", ""))
        start, end = _time(p.get("start"), math.nan), _time(p.get("end"), math.nan)
        if math.isnan(start) or math.isnan(end):
            raise ValueError("start and end are required")
        if end < start:
            raise ValueError("end timestamp must not be before start time")
        return {"resultType": "matrix",
                "result": cv.matrix(cv.select(results(), match), start, end, _step(p.get("step")))}

    def query(p: dict[str, Any]) -> dict:
        at = _time(p.get("time"), time.time())
        constant = _constant(p.get("query", ""))
        if constant is not None:
            return {"resultType": "scalar", "result": [at, cv.format_value(constant)]}
        selector, seconds = split_range(p.get("query", ""))
        match = matcher_fn(selector)
        if seconds is not None:  # name[1d]: the raw points of the day before `time`
            return {"resultType": "matrix",
                    "result": cv.range_matrix(cv.select(results(), match), at, seconds)}
        return {"resultType": "vector", "result": cv.vector(cv.select(results(), match), at)}

    def selected_labels(p: dict[str, Any]) -> list[dict[str, str]]:
        matchers = [matcher_fn(m) for m in p.get("match[]", [])]
        return [c.labels for c in cv.curves(results())
                if not matchers or any(m(c.labels) for m in matchers)]

    def series(p: dict[str, Any]) -> list[dict[str, str]]:
        if not p.get("match[]"):
            raise ValueError("no match[] parameter provided")
        unique = {tuple(sorted(lab.items())): lab for lab in selected_labels(p)}
        return list(unique.values())

    def labels(p: dict[str, Any]) -> list[str]:
        return sorted({k for lab in selected_labels(p) for k in lab})

    async def label_values(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        try:
            p = await _params(request)
            return _ok(sorted({lab[name] for lab in selected_labels(p) if name in lab}))
        except (SelectorError, ValueError) as exc:
            return _bad(str(exc))

    async def buildinfo(_: web.Request) -> web.Response:
        # Grafana asks for this to decide which Prometheus features it may use.
        return _ok({"version": "2.42.0", "revision": f"promcast-{__version__}",
                    "branch": "promcast", "application": "promcast-forecaster"})

    async def empty(_: web.Request) -> web.Response:
        return _ok({} if _.path.endswith("metadata") else [])

    async def forecasts(request: web.Request) -> web.Response:
        wanted = request.query.get("target")
        if wanted and wanted not in forecaster.results:
            return _bad(f"no results for target {wanted!r}; known: "
                        f"{', '.join(sorted(forecaster.results)) or 'none yet'}", 404, "not_found")
        return _ok([result_json(r) for name, r in sorted(forecaster.results.items())
                    if not wanted or name == wanted])

    async def adhoc(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _bad("the body must be a JSON object")
        try:
            result = await forecaster.forecast_adhoc(body)
        except ValueError as exc:
            return _bad(str(exc))
        return _ok(result_json(result, with_curves=True))

    for path, fn in (("/api/v1/query_range", query_range), ("/api/v1/query", query),
                     ("/api/v1/series", series), ("/api/v1/labels", labels)):
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
    out = {"target": t.name, "made_at": result.made_at, "step": t.step, "skipped": result.skipped,
           "series": []}
    for row, s in enumerate(result.series):
        item = {"labels": s.labels, "observed": _num(s.observed), "model": s.model, "reason": s.reason,
                "exhaustion_seconds": _num(s.exhaustion_seconds),
                "horizons": {t.horizon_label(h): {
                    "mean": _num(m),
                    **{f"{side}_{lv}": _num(s.bounds[(h, lv)][i])
                       for lv in t.levels for i, side in enumerate(("lower", "upper"))}}
                    for h, m in s.mean.items()}}
        if with_curves and result.curves:
            times = result.curve_start + t.step * np.arange(1, result.curves["mean"].shape[1])
            item["curve"] = {"timestamps": times.tolist(), **{
                k: [_num(float(v)) for v in m[row, 1:]] for k, m in result.curves.items()}}
        out["series"].append(item)
    return out
