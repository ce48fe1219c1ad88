"""Alerting end to end over backfilled scenarios: a real Prometheus 2.42 evaluates the real
``rules/promcast.rules.yml`` over backfilled history, the real forecaster produces every forecast
series, and a real Alertmanager running the real ``alertmanager/alertmanager.yml`` delivers to a
local sink standing in for each receiver (``demo.stack.local_alertmanager_config``: only receiver
URLs and secrets change). Four scenarios share one Prometheus and Alertmanager, told apart by a
``scenario`` label: a disk filling up, a budget overrun, a cost spike and a healthy fleet.

How the real ``for:`` durations (1 minute to 3 hours) pass in about a minute, without changing a rule
-------------------------------------------------------------------------------------------------
Prometheus writes ``ALERTS_FOR_STATE{<alert labels>} = <active since>`` at every evaluation of a
pending or firing alert and, when it starts, restores each active alert's pending time from that
series (``RestoreForState``, run after the second evaluation of each group: when the last sample
is at most ``--rules.alert.for-outage-tolerance`` (1h) old and the alert has been active for its
whole ``for:``, it fires at the next evaluation). So the test gives Prometheus the history it would
have written had it been running with these rules while the scenario unfolded, and restarts it:

1. Each scenario's raw series (30 days at 5 minutes, up to a second ago) are backfilled with
   ``promtool tsdb create-blocks-from openmetrics``.
2. The real forecaster (``promcast_forecaster.service.Forecaster``, same object throughout) replays its
   cycles over the last :func:`window` (the longest ``for:`` in the rules, plus a step and a margin),
   one every ``infer_every``, reading that Prometheus exactly as it does live; what its
   ``/metrics`` showed after each cycle is backfilled at that instant. The recording rules are
   backfilled over the same window with ``promtool tsdb create-blocks-from rules``.
3. Prometheus evaluates every alert expression of the real rule file over the window
   (``query_range`` at the evaluation interval, as its rule manager would) and the test writes the
   ``ALERTS_FOR_STATE`` samples of each run of consecutive true evaluations that reaches now.
4. Prometheus restarts with the rules, the forecaster keeps running live (it already holds the
   replayed cycles, so anomaly scores continue) and is scraped, and the restored alerts fire.
   It runs in a thread of this process, the one server not started and stopped by pid: a new
   process would start without the previous cycles, and publish no anomaly score for an hour.

Nothing is scaled: an alert fires only if the real expression held at every evaluation for its
real ``for:`` (a shorter run leaves pending time, and the alert does not fire within the test).
The one flag changed is ``--rules.alert.for-grace-period`` (default 10m): Prometheus skips restoring
alerts whose ``for:`` is shorter than it, which would leave the 1-minute
``PromcastCapacityExhaustionSoon`` to wait out its minute while its critical sibling fires; at 1m
every promcast alert is restored (it only delays alerts with less than a minute left). The
evaluation interval is 10s (rule files set none; production's default is 1m). Exact ``for:``
boundaries, one evaluation before and after, are the promtool cases in ``rules/tests``.
Alertmanager keeps its real timing (30 s group_wait), so deliveries arrive about a minute in.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import yaml

from demo.stack import (
    free_port,
    http_get,
    local_alertmanager_config,
    prometheus_argv,
    spawn,
    terminate,
    wait_until,
)
from promcast_common.durations import parse_duration
from tests.helpers.processes import backfill, need

from tests.helpers.scenarios import (
    ROOT,
    RULES,
    RUNBOOK_PAGE,
    RUNBOOK,
    EVAL,
    FORECASTER_LABELS,
    forecaster_config,
    scenarios,
    om_text,
    Expected,
    AFTER_THE_TEST,
    EXPECTED,
    alert_rules,
    grafana_base,
    window,
    Series,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


# -- processes ---------------------------------------------------------------------------------


class Prometheus:
    """One data directory, restarted with a new config and new blocks between phases."""

    def __init__(self, workdir: Path) -> None:
        self.workdir, self.data = workdir, workdir / "prometheus-data"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, config: dict) -> None:
        path = self.workdir / "prometheus.yml"
        path.write_text(
            yaml.safe_dump(
                {
                    "global": {
                        "scrape_interval": f"{EVAL:g}s",
                        "evaluation_interval": f"{EVAL:g}s",
                    },
                    **config,
                }
            )
        )
        self.proc = spawn(
            self.workdir,
            "prometheus",
            prometheus_argv(path, self.data, self.port, "--rules.alert.for-grace-period=1m"),
            f"{self.url}/-/ready",
            60,
        )

    def stop(self) -> None:
        if self.proc is not None:
            terminate([self.proc])
            self.proc = None

    def api(self, path: str, **params: object) -> object:
        body = json.loads(
            http_get(f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}", 30)
        )
        assert body["status"] == "success", f"Prometheus /api/v1/{path} {params}: {body}"
        return body["data"]


class LiveForecaster:
    """The forecaster service in this process: the same object replays the past cycles and then
    runs live, serving /metrics, so its state (the previous forecasts anomaly scores compare
    against) carries over exactly as in a service that has been up all along. It runs in its own
    thread and event loop; :meth:`stop` ends it as SIGTERM would."""

    def __init__(self, cfg: dict) -> None:
        from promcast_forecaster.config import ForecasterConfig
        from promcast_forecaster.service import Forecaster

        self.forecaster = Forecaster(ForecasterConfig.model_validate(cfg))
        self.cfg = self.forecaster.cfg
        self.port = free_port()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._up = threading.Event()

    def replay(self, instants: np.ndarray) -> list[Series]:
        """Run every target's and budget's cycle at each past instant; returns the forecast
        series /metrics would have shown right after each, stamped at that instant."""
        return asyncio.run(self._replay(instants))

    async def _replay(self, instants: np.ndarray) -> list[Series]:
        import aiohttp

        from promcast_forecaster.source import PrometheusSource

        samples: dict[tuple, list[tuple[float, float]]] = {}
        async with aiohttp.ClientSession() as session:
            source = PrometheusSource.from_config(self.cfg.prometheus, session)
            for t in instants:
                for target in self.forecaster.targets:
                    assert await self.forecaster.run_cycle(target, source, at=float(t)), (
                        f"forecaster cycle of {target.name} at {t:.0f} failed (see the log above)"
                    )
                for budget in self.cfg.budgets:
                    assert await self.forecaster.run_budget_cycle(budget, source, at=float(t)), (
                        f"budget cycle of {budget.name} at {t:.0f} failed (see the log above)"
                    )
                for family in self.forecaster.collect():
                    for s in family.samples:
                        # Self-monitoring describes the replaying process, not that instant;
                        # the live service publishes it from now on.
                        if s.name.startswith(("promcast_forecaster_", "promcast_build_info")):
                            continue
                        # Scraped with honor_labels, as in the demo: series without a job or
                        # instance of their own get the scrape's.
                        labels = {**FORECASTER_LABELS, **s.labels}
                        key = (s.name, tuple(sorted(labels.items())))
                        samples.setdefault(key, []).append((float(t), s.value))
        return [
            (name, dict(labels), np.array([p[0] for p in pts]), np.array([p[1] for p in pts]))
            for (name, labels), pts in samples.items()
        ]

    def start(self) -> None:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)
        self._thread.start()
        if not self._up.wait(15):
            raise TimeoutError(f"forecaster did not listen on 127.0.0.1:{self.port} within 15s")

    async def _serve(self) -> None:
        from aiohttp import web
        from prometheus_client import CollectorRegistry

        from promcast_common.http import make_app

        registry = CollectorRegistry()
        registry.register(self.forecaster)
        f = self.forecaster
        runner = web.AppRunner(
            make_app(registry, "promcast forecaster", f.ready, lambda: f.version)
        )
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        self._up.set()
        try:
            await f.run(self._stop)
        finally:
            await runner.cleanup()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(15)


def alerts_for_state(prom: Prometheus, start: float, end: float) -> tuple[str, dict[str, float]]:
    """What Prometheus' rule manager would have written evaluating every alert of the rule file
    every ``EVAL`` seconds from ``start`` to ``end``: ``ALERTS_FOR_STATE`` for each series whose
    expression holds at ``end``, over its run of consecutive true evaluations (value: when the
    run began). Returns the OpenMetrics text and, per alertname, the longest run in seconds."""
    lines, longest = ["# TYPE ALERTS_FOR_STATE gauge"], {}
    last = start + (end - start) // EVAL * EVAL  # the newest evaluation on the query's grid
    for rule in alert_rules():
        templated = [k for k, v in rule.get("labels", {}).items() if "{{" in str(v)]
        assert not templated, f"{rule['alert']}: templated labels {templated} are not replayed here"
        result = prom.api("query_range", query=rule["expr"], start=start, end=end, step=EVAL)
        for series in result["result"]:
            times = np.array([float(t) for t, _ in series["values"]])
            if abs(times[-1] - last) > EVAL / 2:
                continue  # not true now: nothing to restore
            # The run reaching now: walk back while evaluations are consecutive.
            gaps = np.flatnonzero(np.diff(times) > EVAL * 1.5)
            run = times[gaps[-1] + 1 :] if gaps.size else times
            labels = {k: v for k, v in series["metric"].items() if k != "__name__"}
            labels.update(rule.get("labels", {}), alertname=rule["alert"])
            text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            lines += [f"ALERTS_FOR_STATE{{{text}}} {run[0]:.0f} {t:.3f}" for t in run]
            longest[rule["alert"]] = max(longest.get(rule["alert"], 0.0), run[-1] - run[0])
    return "\n".join(lines) + "\n# EOF\n", longest


# -- the run -----------------------------------------------------------------------------------


@dataclass
class World:
    sink_log: Path
    alertmanager: str
    prometheus: Prometheus
    for_runs: dict[str, float]

    def notifications(self) -> list[dict]:
        if not self.sink_log.exists():
            return []
        return [json.loads(line) for line in self.sink_log.read_text().splitlines() if line]

    def am_alerts(self) -> list[dict]:
        return json.loads(http_get(f"{self.alertmanager}/api/v2/alerts", 10))


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    for binary in ("prometheus", "promtool", "prometheus-alertmanager"):
        need(binary)
    work = tmp_path_factory.mktemp("scenarios")
    prom = Prometheus(work)
    procs: list[subprocess.Popen] = []
    live: LiveForecaster | None = None
    try:
        now = time.time()
        backfill(om_text(scenarios(now)), prom.data)

        # The receivers: a sink, and Alertmanager with the real config pointed at it.
        sink_port, am_port = free_port(), free_port()
        sink, am = f"http://127.0.0.1:{sink_port}", f"http://127.0.0.1:{am_port}"
        sink_log = work / "notifications.jsonl"
        procs.append(
            spawn(
                work,
                "sink",
                [
                    sys.executable,
                    str(ROOT / "demo" / "webhook_sink.py"),
                    f"--listen=127.0.0.1:{sink_port}",
                    f"--out={sink_log}",
                ],
                f"{sink}/-/healthy",
            )
        )
        (work / "alertmanager.yml").write_text(
            yaml.safe_dump(local_alertmanager_config(sink, work / "secrets"), sort_keys=False)
        )
        procs.append(
            spawn(
                work,
                "alertmanager",
                [
                    "prometheus-alertmanager",
                    f"--config.file={work / 'alertmanager.yml'}",
                    f"--storage.path={work / 'alertmanager-data'}",
                    f"--web.listen-address=127.0.0.1:{am_port}",
                    "--cluster.listen-address=",
                ],
                f"{am}/-/ready",
            )
        )

        # History: the forecaster's past cycles and the recording rules over the window.
        prom.start({})
        live = LiveForecaster(forecaster_config(prom.url))
        start = now - window()
        infer_every = min(t.infer_every for t in live.forecaster.targets)
        # Cycles ending now, so that the newest replayed forecasts are fresh when the live
        # forecaster takes over.
        forecasts = live.replay(
            time.time() - infer_every * np.arange(window() // infer_every)[::-1]
        )
        rules_out = work / "rule-blocks"
        subprocess.run(
            [
                "promtool",
                "tsdb",
                "create-blocks-from",
                "rules",
                f"--url={prom.url}",
                f"--start={start:.0f}",
                f"--end={time.time():.0f}",
                f"--eval-interval={EVAL:g}s",
                f"--output-dir={rules_out}",
                "--quiet",
                str(RULES),
            ],
            check=True,
            capture_output=True,
        )
        prom.stop()
        backfill(om_text(forecasts), prom.data)
        for block in rules_out.iterdir():
            shutil.move(str(block), prom.data / block.name)

        # What the rule manager would have recorded while the scenarios unfolded.
        prom.start({})
        state, for_runs = alerts_for_state(prom, start, time.time())
        prom.stop()
        backfill(state, prom.data)

        # Live: the rules, Alertmanager, and the forecaster scraped as in the demo.
        live.start()
        prom.start(
            {
                "rule_files": [str(RULES)],
                "alerting": {
                    "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]
                },
                "scrape_configs": [
                    {
                        "job_name": "promcast-forecaster",
                        "honor_labels": True,
                        "static_configs": [{"targets": [f"127.0.0.1:{live.port}"]}],
                        "relabel_configs": [
                            {
                                "target_label": "instance",
                                "replacement": FORECASTER_LABELS["instance"],
                            }
                        ],
                    }
                ],
            }
        )
        yield World(sink_log, am, prom, for_runs)
    finally:
        prom.stop()
        if live is not None:
            live.stop()
        terminate(list(reversed(procs)))


def delivered(world: World) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for n in world.notifications():
        out.setdefault(n["receiver"], []).append(n)
    return out


def test_each_scenario_reaches_its_receiver_and_the_healthy_fleet_sends_nothing(world):
    wanted = {e.receiver for e in EXPECTED if e.receiver and e.receiver not in AFTER_THE_TEST}
    wait_until(
        lambda: wanted <= set(delivered(world)),
        120,
        f"notifications to {sorted(wanted)} (got {sorted(delivered(world))})",
    )
    # Inhibited and unexpected alerts would have been flushed with the same group_wait.
    time.sleep(5)
    got = delivered(world)
    assert set(got) == wanted, {r: [n["summary"] for n in ns] for r, ns in got.items()}
    by_receiver = {
        e.receiver: e for e in EXPECTED if e.receiver and e.receiver not in AFTER_THE_TEST
    }
    for receiver, notes in got.items():
        e = by_receiver[receiver]
        for n in notes:
            assert (
                n["integration"]
                == {"pagerduty": "pagerduty", "opsgenie": "opsgenie", "slack-finops": "slack"}[
                    receiver
                ]
            ), n
            check_payload(e, n)
    # Alertmanager received exactly the expected alerts: none from the healthy fleet, none that
    # routes elsewhere (info alerts wait 5 minutes before a ticket, so this is the check for them).
    names = {(a["labels"].get("scenario"), a["labels"]["alertname"]) for a in world.am_alerts()}
    assert names == {(e.scenario, e.alertname) for e in EXPECTED}


def check_payload(e: Expected, n: dict) -> None:
    """The integration's own payload carries the title, the description and both links."""
    p, target = n["payload"], e.labels["target"]
    title = f"[FIRING:1] {e.alertname} ({target})"
    links = {RUNBOOK + e.alertname.lower(), dashboard_url(e)}
    if n["integration"] == "pagerduty":
        assert p["event_action"] == "trigger" and p["payload"]["summary"] == title, p
        assert p["payload"]["severity"] == e.labels["severity"]
        assert p["routing_key"] == "local-sink-not-a-secret", "read from routing_key_file"
        assert {link["href"] for link in p["links"]} == links
        text = p["payload"]["custom_details"]["firing"]
    elif n["integration"] == "opsgenie":
        assert p["message"] == title and p["priority"] == "P1", p
        assert set(p["tags"]) == {"promcast", e.labels["team"]}
        text = p["description"]
    else:
        a = p["attachments"][0]
        assert p["channel"] == "#finops" and a["title"] == title, p
        assert a["title_link"] == dashboard_url(e)
        assert {act["url"] for act in a["actions"]} == links
        text = a["text"]
    assert re.search(e.description, " ".join(text.split())), text
    assert RUNBOOK + e.alertname.lower() in text and dashboard_url(e) in text


# The dashboard each expected alert opens and the variables its labels select (the rules'
# dashboard_url; tests/integration/test_rules.py checks every alert's link against the generated
# dashboards).
CAPACITY_LINK = "/d/promcast-capacity/promcast-capacity-overview?var-target={target}"
BUDGET_LINK = (
    "/d/promcast-cost/promcast-cost-and-budget?var-budget={budget}&var-provider={provider}"
)
DASHBOARD_PATHS = {
    "PromcastCapacityExhaustionImminent": CAPACITY_LINK,
    "PromcastCapacityExhaustionSoon": CAPACITY_LINK,
    "PromcastBudgetOverrunCertain": BUDGET_LINK,
    "PromcastBudgetOverrunForecast": BUDGET_LINK,
    "PromcastCostAnomaly": "/d/promcast-cost/promcast-cost-and-budget?var-cost_target={target}&var-provider={provider}",
    "PromcastForecastQualityDegraded": "/d/promcast-forecast-explorer/promcast-forecast-explorer"
    "?var-target={target}&var-by=service&var-series={service}",
}


def dashboard_url(e: Expected) -> str:
    return grafana_base() + DASHBOARD_PATHS[e.alertname].format(**e.labels)


@pytest.mark.parametrize("e", EXPECTED, ids=lambda e: f"{e.scenario}-{e.alertname}")
def test_alert_labels_annotations_and_inhibition(world, e):
    """Every expected alert reaches Alertmanager with its labels and annotations; the warnings
    a critical alert for the same series covers are inhibited, never delivered."""
    wait_until(
        lambda: any(a["labels"]["alertname"] == e.alertname for a in world.am_alerts()),
        90,
        f"{e.alertname} in Alertmanager",
    )
    matching = [a for a in world.am_alerts() if a["labels"]["alertname"] == e.alertname]
    # One alert per series, except forecast quality: its MASE and each interval's coverage.
    assert matching and (len(matching) == 1 or e.alertname == "PromcastForecastQualityDegraded"), (
        matching
    )
    alert = matching[0]
    assert alert["labels"]["scenario"] == e.scenario
    assert e.labels.items() <= alert["labels"].items(), alert["labels"]
    rule = next(r for r in alert_rules() if r["alert"] == e.alertname)
    ann = alert["annotations"]
    assert ann["summary"] == rule["annotations"]["summary"]
    assert re.fullmatch(e.description, ann["description"]), ann["description"]
    assert ann["runbook_url"] == RUNBOOK + e.alertname.lower()
    assert f"\n### {e.alertname}\n" in RUNBOOK_PAGE.read_text(), "the runbook section must exist"
    assert ann["dashboard_url"] == dashboard_url(e)
    assert re.fullmatch(r"https?://[^/]+(/.*)?", grafana_base())
    link = urllib.parse.urlsplit(ann["dashboard_url"])
    uid = link.path.split("/")[2]
    dashboards = [json.loads(p.read_text()) for p in (ROOT / "dashboards").glob("*.json")]
    dashboard = next(d for d in dashboards if d["uid"] == uid)
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    params = urllib.parse.parse_qsl(link.query)
    assert params and all(k.startswith("var-") and k[4:] in variables and v for k, v in params)
    # The restored pending time covered the rule's real for: (see the module docstring).
    assert world.for_runs[e.alertname] >= parse_duration(rule["for"])
    if e.receiver is None:
        wait_until(
            lambda: any(
                a["status"]["inhibitedBy"]
                for a in world.am_alerts()
                if a["labels"]["alertname"] == e.alertname
            ),
            60,
            f"{e.alertname} inhibited",
        )
    else:
        assert alert["status"]["state"] == "active", alert["status"]
        assert [r["name"] for r in alert["receivers"]] == [e.receiver], alert["receivers"]


def test_prometheus_fires_exactly_the_expected_alerts_and_keeps_nothing_pending(world):
    """Prometheus' side: the expected alerts are firing (their restored pending time covered
    their for:), and no other alert is even pending, the healthy fleet's included."""

    def states() -> dict[tuple[str | None, str], str]:
        return {
            (a["labels"].get("scenario"), a["labels"]["alertname"]): a["state"]
            for a in world.prometheus.api("alerts")["alerts"]
        }

    expected = {(e.scenario, e.alertname): "firing" for e in EXPECTED}
    wait_until(lambda: states() == expected, 90, f"Prometheus alerts to be {expected}")
