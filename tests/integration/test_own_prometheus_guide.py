"""docs/own-prometheus.md is true: its YAML blocks run against a real node_exporter and
Prometheus, its forecaster config validates and forecasts node_exporter data (or says why not),
its defaults table is the built-in defaults."""

from __future__ import annotations

import asyncio
import copy
import json
import re
import shlex
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import aiohttp
import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest

from demo.stack import free_port, http_get, spawn, terminate, wait_until
from promcast_common.config import validate
from promcast_common.durations import format_duration
from promcast_forecaster.config import BUILTIN_DEFAULTS, ForecasterConfig
from promcast_forecaster.service import Forecaster
from promcast_forecaster.source import PrometheusSource
from promcast_forecaster.staleness import default_staleness
from tests.helpers.paths import ROOT
from tests.helpers.processes import need
from tests.helpers.dashboard_queries import COMPARISON, DASHBOARDS, queries

GUIDE = ROOT / "docs" / "own-prometheus.md"
# The addresses the guide uses, replaced by the test's free ports.
NODE_ADDR, FORECASTER_ADDR, PROM_URL = "127.0.0.1:9100", "127.0.0.1:9185", "http://127.0.0.1:9090"


def yaml_blocks() -> list[dict]:
    text = GUIDE.read_text(encoding="utf-8")
    return [yaml.safe_load(b) for b in re.findall(r"^```yaml\n(.*?)^```", text, re.M | re.S)]


def blocks_with(key: str) -> list[dict]:
    return [b for b in yaml_blocks() if key in b]


def forecaster_config(prom_url: str) -> dict:
    """The guide's forecaster config with the Kubernetes targets added, as a user would."""
    [base] = [b for b in blocks_with("prometheus") if "targets" in b]
    cfg = copy.deepcopy(base)
    for extra in blocks_with("targets"):
        if "prometheus" not in extra:
            cfg["targets"] += extra["targets"]
    cfg["prometheus"]["url"] = prom_url
    return cfg


def test_every_yaml_block_parses_and_is_used():
    blocks = yaml_blocks()
    assert all(isinstance(b, dict) for b in blocks)
    kinds = [
        k
        for b in blocks
        for k in ("scrape_configs", "prometheus", "targets", "datasources", "recommendations")
        if k in b
    ]
    assert len(kinds) >= len(blocks)  # no block the tests below ignore
    [grafana] = blocks_with("datasources")
    forecaster_ds = [d for d in grafana["datasources"] if "forecaster" in d["name"]]
    assert forecaster_ds and all(d["jsonData"]["manageAlerts"] is False for d in forecaster_ds)
    assert {d["url"] for d in grafana["datasources"]} == {PROM_URL, f"http://{FORECASTER_ADDR}"}
    forecaster_jobs = [
        j
        for b in blocks_with("scrape_configs")
        for j in b["scrape_configs"]
        if j["job_name"] == "promcast-forecaster"
    ]
    assert forecaster_jobs and all(j["honor_labels"] is True for j in forecaster_jobs)


def test_recommendations_and_remote_write_blocks_are_valid_configs():
    [recs] = blocks_with("recommendations")
    cfg = validate(ForecasterConfig, {**forecaster_config(PROM_URL), **recs}, "guide")
    cfg = cfg.recommendations
    assert cfg.identity_labels == ["instance"] and cfg.resource_labels == ["instance"]
    [remote] = blocks_with("remote_write")
    rw = validate(ForecasterConfig, remote, "guide")
    vm = urllib.parse.urlsplit(rw.prometheus.url)
    assert rw.remote_write.url == f"{vm.scheme}://{vm.netloc}/api/v1/write", "one store"


@pytest.mark.integration
def test_the_vmalert_command_is_valid_with_the_rule_file(tmp_path: Path):
    need("vmalert")
    text = GUIDE.read_text(encoding="utf-8")
    [command] = re.findall(r"^```sh\n(vmalert .*?)^```", text, re.M | re.S)
    argv = shlex.split(command.replace("\\\n", " "))
    argv = [
        f"-rule={ROOT / 'rules' / 'promcast.rules.yml'}" if a.startswith("-rule=") else a
        for a in argv
    ]
    out = subprocess.run([*argv, "-dryRun"], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]


def test_defaults_table_is_the_builtin_defaults():
    text = GUIDE.read_text(encoding="utf-8")
    table = dict(re.findall(r"^\| `(\w+)` \| (.+?) \|$", text, re.M))

    def shown(v: object) -> str:
        if isinstance(v, list):
            return "[" + ", ".join(shown(x) for x in v) + "]"
        return format_duration(v) if isinstance(v, float) else str(v)

    durations = {"step", "history", "season", "infer_every", "fit_every", "lead_time"}
    for field in (
        "step",
        "history",
        "season",
        "horizons",
        "levels",
        "anomaly_level",
        "model",
        "infer_every",
        "fit_every",
        "lead_time",
        "capacity_direction",
        "max_series",
    ):
        value = getattr(BUILTIN_DEFAULTS, field)
        want = shown(float(value) if field in durations else value)
        assert table[field] == f"`{want}`", field
    assert BUILTIN_DEFAULTS.capacity is None and table["capacity"].startswith("none")
    assert BUILTIN_DEFAULTS.min == 0 and table["min"].startswith("`0`")
    assert BUILTIN_DEFAULTS.max is None and table["max"].startswith("none")
    assert BUILTIN_DEFAULTS.identity_labels == [] and table["identity_labels"].startswith("none")
    assert BUILTIN_DEFAULTS.staleness is None and table["staleness"].startswith(
        "three steps, at least `1h`"
    )
    assert (default_staleness(60.0), default_staleness(86400.0)) == (3600.0, 3 * 86400.0)
    src = ForecasterConfig()
    assert (
        f"`{src.prometheus.url}`" in text and f"`{format_duration(src.prometheus.timeout)}`" in text
    )
    assert f"`max_concurrency` to `{src.max_concurrency}`" in text


@pytest.mark.integration
def test_guide_config_against_node_exporter_and_prometheus(start_prometheus, tmp_path: Path):
    need("prometheus-node-exporter")
    node_port = free_port()
    node = spawn(
        tmp_path,
        "node_exporter",
        ["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{node_port}"],
        f"http://127.0.0.1:{node_port}/metrics",
    )
    served = Served()
    server = ThreadingHTTPServer(("127.0.0.1", 0), served.handler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    forecaster_addr = f"127.0.0.1:{server.server_address[1]}"
    try:
        jobs = []
        for block in blocks_with("scrape_configs"):
            for job in block["scrape_configs"]:
                text = yaml.safe_dump(job).replace(NODE_ADDR, f"127.0.0.1:{node_port}")
                job = yaml.safe_load(text.replace(FORECASTER_ADDR, forecaster_addr))
                job["scrape_interval"] = "1s"  # only so the test needs seconds of history
                jobs.append(job)
        [rules] = [b["rule_files"] for b in blocks_with("rule_files")]
        assert [Path(r).name for r in rules] == ["promcast.rules.yml"]
        prom = start_prometheus(
            scrape_configs=jobs, rule_files=[str(ROOT / "rules" / "promcast.rules.yml")]
        )

        cfg_file = tmp_path / "forecaster.yml"
        cfg_file.write_text(yaml.safe_dump(forecaster_config(prom.url)))
        check = subprocess.run(
            [
                sys.executable,
                "-m",
                "promcast_forecaster",
                "--config.file",
                str(cfg_file),
                "check-config",
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        assert check.returncode == 0, check.stdout + check.stderr

        def up() -> bool:
            body = http_get(f"{prom.url}/api/v1/query?query=up%7Bjob%3D%22node%22%7D%3D%3D1")
            return b'"result":[]' not in body

        wait_until(up, 30, "Prometheus scraping node_exporter")

        # As configured (hour steps for disks): too little history yet, so nothing is forecast,
        # and the forecaster says per disk how much longer it needs.
        guide = validate(ForecasterConfig, forecaster_config(prom.url), str(cfg_file))
        fc, published = run_cycle(guide)
        assert published["node_disk"]["forecast"] == 0
        waiting = fc.results["node_disk"].waiting
        assert len(waiting) == raw_count(prom.url, guide, "node_disk")
        reg = registry_of(fc)
        for labels, _ in waiting:
            needed = reg.get_sample_value("promcast_forecaster_history_needed_seconds", labels)
            assert needed is not None and 0 < needed <= 3 * 3600, labels

        # The same targets at a step of seconds: real node_exporter series are forecast.
        short = forecaster_config(prom.url)
        for t in short["targets"]:
            t.update(step="2s", history="1m", season="0s", horizons=["10s"])
        # Already above this capacity: PromcastCapacityExhaustionSoon goes pending on every disk.
        [disk_target] = [t for t in short["targets"] if t["name"] == "node_disk"]
        disk_target["capacity"] = 0.0
        scrapes = 'count_over_time(up{job="node"}[1m]) >= 12'
        wait_until(
            lambda: raw_count(prom.url, None, scrapes) == 1,
            30,
            "twelve scrapes: three points of a 2 s grid one step back, rate() over two",
        )
        fc, published = run_cycle(validate(ForecasterConfig, short, "short steps"))
        assert published["node_memory"]["forecast"] == 1
        assert published["node_cpu"]["forecast"] == 1
        assert published["node_disk"]["forecast"] == raw_count(prom.url, guide, "node_disk")
        # kube-state-metrics is not scraped here: its targets run and publish nothing.
        assert published["namespace_pods"] == {"forecast": 0, "skipped": 0}
        disk = fc.results["node_disk"].series
        assert all({"instance", "mountpoint"} <= set(s.labels) for s in disk)

        # The recommendations example's queries keep the label that names a host.
        [recs] = blocks_with("recommendations")
        for key in ("cpu", "memory"):
            got = instant(prom.url, recs["recommendations"]["rightsizing"][key])
            assert got and all(r["metric"].get("instance") for r in got), (key, got)

        # Prometheus scrapes these results (honor_labels): the rules and dashboards read them.
        served.registry = registry_of(fc)
        wait_until(
            lambda: (
                raw_count(prom.url, None, 'promcast_forecast_observed{target="node_disk"}')
                == len(disk)
            ),
            30,
            "Prometheus scraping the forecaster",
        )
        if disk:
            # The alert text names each disk by instance and mountpoint, not by an address alone.
            def pending() -> list[dict]:
                alerts = json.loads(http_get(f"{prom.url}/api/v1/alerts"))["data"]["alerts"]
                return [
                    a
                    for a in alerts
                    if a["labels"]["alertname"] == "PromcastCapacityExhaustionSoon"
                    and a["labels"]["target"] == "node_disk"
                ]

            wait_until(lambda: len(pending()) == len(disk), 30, "the exhaustion alert pending")
            for alert in pending():
                lab = alert["labels"]
                assert alert["annotations"]["description"].startswith(
                    f"instance={lab['instance']} mountpoint={lab['mountpoint']} (target node_disk) "
                    "is forecast to cross its capacity in 0s"
                ), alert

        # The explorer with `$by` left at resource_id, which node_exporter series lack: every
        # query is accepted, and those of the series themselves return every disk.
        for q in queries(
            DASHBOARDS / "explorer.json", {"target": "node_disk", "by": "resource_id"}
        ):
            if q.datasource != "datasource":
                continue
            result = instant(prom.url, q.expr)
            if q.expr.startswith(("promcast_forecast_observed{", "promcast_forecast_model_info{")):
                assert len(result) == len(disk), q
        if not disk:
            pytest.skip(
                "node_exporter reports no real filesystem here (all are tmpfs, overlay...):"
                " the dashboards' disk checks need one"
            )
        # The capacity overview and the explorer on node_disk: every query about its forecasts
        # and capacity returns data, the disk panel included (by instance + mountpoint).
        [horizon] = [t["horizons"][0] for t in short["targets"] if t["name"] == "node_disk"]
        views = {
            "capacity.json": {"target": "node_disk", "horizon": horizon},
            "explorer.json": {
                "target": "node_disk",
                "horizon": horizon,
                "by": "instance",
                "by2": "mountpoint",
            },
        }
        checked = []
        for name, picked in views.items():
            for q in queries(DASHBOARDS / name, picked):
                if q.datasource != "datasource" or any(x in q.expr for x in NOT_NODE):
                    continue
                expr = COMPARISON.sub("", q.expr) if q.panel.startswith("annotation ") else q.expr
                if ANOMALY in expr:  # accepted; no score before 48 hourly blocks of history
                    instant(prom.url, expr)
                    continue
                assert wait_for_data(prom.url, expr, SETTLE), f"no data for node_disk: {q}"
                checked.append(q.panel)
        assert {
            "Disk utilisation",
            "Time to exhaustion",
            "Top risks: share of lead time left",
            "Soonest exhaustion",
            "Forecast vs actual ($horizon ahead)",
        } <= set(checked), checked
        # Each disk has a name of its own in the charts' legends (instance and mountpoint).
        capacity = json.loads((DASHBOARDS / "capacity.json").read_text())
        [risks] = [p for p in capacity["panels"] if p["title"].startswith("Top risks")]
        legend = risks["targets"][0]["legendFormat"]

        def shown(labels: dict[str, str]) -> str:
            return " ".join(
                re.sub(r"\{\{(\w+)\}\}", lambda m: labels.get(m[1], ""), legend).split()
            )

        names = {shown(s.labels) for s in disk}
        assert len(names) == len(disk), names
        # An alert's link selects one disk by its identity labels: the explorer shows only it.
        one = disk[0].labels
        link = {
            "target": "node_disk",
            "by": "instance",
            "series": one["instance"],
            "by2": "mountpoint",
            "series2": one["mountpoint"],
        }
        observed = [
            q
            for q in queries(DASHBOARDS / "explorer.json", link)
            if q.expr.startswith("promcast_forecast_observed{")
        ]
        for q in observed:
            got = instant(prom.url, q.expr)
            assert [(r["metric"]["instance"], r["metric"]["mountpoint"]) for r in got] == [
                (one["instance"], one["mountpoint"])
            ], q
        assert observed
    finally:
        server.shutdown()
        server.server_close()
        terminate([node])


# Queries of promcast's own exporter series (resources, spend), which a node_exporter setup
# does not have.
NOT_NODE = ("promcast_resource_", "promcast_cost_", "provider_service:")
# The anomaly detector scores a series only after days of history (docs/anomalies.md, "Cold
# start"): the test's seconds of node_exporter data have none.
ANOMALY = "promcast_forecast_anomaly_score"
# Forecasts are drawn a horizon after they were made (`offset`), and recording rules run
# every 5 s: the time a query gets to return data.
SETTLE = 30


def instant(url: str, expr: str) -> list[dict]:
    body = json.loads(http_get(f"{url}/api/v1/query?query={urllib.parse.quote(expr)}"))
    assert body["status"] == "success", (expr, body)
    return body["data"]["result"]


def wait_for_data(url: str, expr: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not instant(url, expr):
        if time.monotonic() > deadline:
            return False
        time.sleep(1)
    return True


class Served:
    """The forecaster's /metrics for Prometheus to scrape, as the service would serve it."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # the http.server API
                body = generate_latest(served.registry)
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        return Handler


def registry_of(fc: Forecaster) -> CollectorRegistry:
    reg = CollectorRegistry()
    reg.register(fc)
    return reg


def raw_count(url: str, cfg: ForecasterConfig | None, target_or_query: str) -> int:
    """Series Prometheus returns now for a target's query (or a query, without ``cfg``)."""
    query = (
        [t.query for t in cfg.targets if t.name == target_or_query][0] if cfg else target_or_query
    )
    body = http_get(f"{url}/api/v1/query?query={urllib.parse.quote(query)}")
    return len(json.loads(body)["data"]["result"])


def run_cycle(cfg: ForecasterConfig) -> tuple[Forecaster, dict[str, dict[str, float]]]:
    fc = Forecaster(cfg)

    async def cycle() -> None:
        async with aiohttp.ClientSession() as session:
            src = PrometheusSource.from_config(cfg.prometheus, session)
            for t in fc.targets:
                assert await fc.run_cycle(t, src), t.name

    asyncio.run(cycle())
    reg = registry_of(fc)
    return fc, {
        t.name: {
            state: reg.get_sample_value(
                "promcast_forecaster_target_series", {"target": t.name, "state": state}
            )
            or 0
            for state in ("forecast", "skipped")
        }
        for t in fc.targets
    }
