"""One implementation, end to end: the service scores a real Prometheus' history cycle by cycle,
its published scores go back into Prometheus, and the real ``PromcastUtilizationAnomaly``
expression, evaluated by Prometheus at every sample, is true exactly where the replay of
``promcast-forecaster anomalies`` scores above 1, so the rule fires on the samples the replay
flags.

Firing is derived from the expression's values the way Prometheus' rule manager does it for a
rule evaluated at every sample: pending at the first true evaluation, firing once it has been
pending for the whole ``for:`` (:func:`promcast_forecaster.anomaly.for_points`); the exact ``for:``
boundaries of the rule itself are covered by its ``promtool test rules`` cases."""

from __future__ import annotations

import asyncio
import io
import json
import urllib.parse

import aiohttp
import numpy as np
import pytest
import yaml

from demo.history import ANCHOR
from demo.stack import http_get
from promcast_common.config import validate
from promcast_forecaster.anomaly.detector import alert_points, episodes, for_points
from promcast_forecaster.anomaly.replay import ReplaySettings, replay
from promcast_forecaster.config import ForecasterConfig
from promcast_forecaster.engine import anomaly_settings
from promcast_forecaster.service import Forecaster
from promcast_forecaster.source import PrometheusSource
from tests.helpers.paths import ROOT
from tests.helpers.processes import backfill

pytestmark = pytest.mark.integration

RULES = ROOT / "rules" / "promcast.rules.yml"
STEP = 300.0
END = ANCHOR  # a fixed past instant: the newest raw sample
DAYS = 3.5
WINDOW = 8 * 3600.0  # the service runs a cycle every step over the last 8 hours


def raw_series() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    ts = END - STEP * np.arange(int(DAYS * 86400 / STEP))[::-1]
    out = {}
    for seed, host in enumerate(("calm", "incident")):
        rng = np.random.default_rng(seed)
        y = 50 + 10 * np.sin(2 * np.pi * ts / 86400) + rng.normal(0, 1, ts.size)
        if host == "incident":
            y[(ts > END - 6 * 3600) & (ts <= END - 5 * 3600)] += 30  # an hour far above
            y[(ts > END - 3 * 3600) & (ts <= END - 1 * 3600)] -= 25  # two hours far below
        out[host] = (ts, y)
    return out


def om(series: list[tuple[str, dict, np.ndarray, np.ndarray]]) -> str:
    """OpenMetrics text for promtool (the catalogue's writer knows only promcast's own names)."""
    buf = io.StringIO()
    for name in dict.fromkeys(n for n, *_ in series):
        buf.write(f"# TYPE {name} gauge\n")
        for n, labels, ts, values in series:
            if n != name:
                continue
            lab = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            for t, v in zip(ts, values):
                if np.isfinite(v):
                    buf.write(f"{name}{{{lab}}} {float(v)!r} {float(t):.3f}\n")
    buf.write("# EOF\n")
    return buf.getvalue()


def rule(name: str) -> dict:
    return next(
        r
        for g in yaml.safe_load(RULES.read_text())["groups"]
        for r in g["rules"]
        if r.get("alert") == name or r.get("record") == name
    )


def api(url: str, path: str, **params: object) -> object:
    body = json.loads(http_get(f"{url}/api/v1/{path}?{urllib.parse.urlencode(params)}", 30))
    assert body["status"] == "success", body
    return body["data"]


def test_the_rule_fires_where_the_replay_flags(start_prometheus) -> None:
    data = raw_series()
    prom = start_prometheus(om([("app_load", {"host": h}, ts, y) for h, (ts, y) in data.items()]))
    cfg = validate(
        ForecasterConfig,
        {
            "prometheus": {"url": prom.url},
            "targets": [
                {
                    "name": "t",
                    "query": "app_load",
                    "step": "5m",
                    "history": "4d",
                    "season": "1d",
                    "model": "seasonal_naive",
                    "horizons": ["1h"],
                }
            ],
        },
    )
    fc = Forecaster(cfg)
    target = fc.targets[0]
    instants = np.arange(END - WINDOW + STEP, END + 1, STEP)

    async def cycles() -> dict[str, list[float]]:
        published: dict[str, list[float]] = {h: [] for h in data}
        async with aiohttp.ClientSession() as session:
            source = PrometheusSource(prom.url, 10, session)
            for t in instants:
                assert await fc.run_cycle(target, source, at=float(t))
                by_host = {s.labels["host"]: s.anomaly_score for s in fc.results["t"].series}
                for h in data:
                    published[h].append(by_host[h])
        return published

    published = asyncio.run(cycles())

    # The replay of the same series with the target's settings: the same score at every instant.
    ts = data["calm"][0]
    recs = {
        r.series_id: r
        for r in replay([(h, *data[h]) for h in data], ReplaySettings(anomaly_settings(target)))
    }
    at = np.searchsorted(ts, instants)
    for h in data:
        np.testing.assert_allclose(published[h], recs[h].score[at], rtol=1e-9)

    # What the service published goes back into Prometheus, and the real alert expression (as
    # generated in rules/promcast.rules.yml) is evaluated there.
    scores = [
        (
            "promcast_forecast_anomaly_score",
            {"host": h, "target": "t"},
            instants,
            np.asarray(published[h]),
        )
        for h in data
    ]
    prom.stop()
    backfill(om(scores), prom.workdir / "data")
    prom.start()
    alert = rule("PromcastUtilizationAnomaly")
    result = api(
        prom.url, "query_range", query=alert["expr"], start=instants[0], end=END, step=STEP
    )["result"]
    true = {h: np.zeros(instants.size) for h in data}
    for series in result:
        for t, _ in series["values"]:
            true[series["metric"]["host"]][int(round((float(t) - instants[0]) / STEP))] = 2.0

    need = for_points(float(alert["for"].rstrip("m")) * 60, STEP)
    for h in data:
        np.testing.assert_array_equal(true[h] > 1, recs[h].score[at] > 1)
        np.testing.assert_array_equal(alert_points(true[h], need), recs[h].alert[at])
    assert episodes(recs["calm"].alert[at]) == []
    assert len(episodes(recs["incident"].alert[at])) == 2  # the rise and the dip, once each
