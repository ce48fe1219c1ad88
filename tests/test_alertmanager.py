"""amtool validates the Alertmanager config and where every alert is routed; a real Alertmanager
applies the inhibitions."""

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import need

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "alertmanager" / "alertmanager.yml"

# Where each (severity, team) goes: critical pages on-call, warning goes to chat, info to tickets.
RECEIVER = {
    ("critical", "sre"): "pagerduty",
    ("critical", "finops"): "opsgenie",
    ("critical", None): "oncall",
    ("warning", "sre"): "chat",
    ("warning", "finops"): "slack-finops",
    ("warning", None): "chat",
    ("info", "sre"): "ticket",
    ("info", "finops"): "ticket",
    ("info", None): "ticket",
}


def amtool(*args: str) -> subprocess.CompletedProcess:
    need("amtool")
    return subprocess.run(["amtool", *args], capture_output=True, text=True)


def rule_alerts() -> list[dict]:
    """Every alerting rule of rules/*.yml, so a new alert cannot miss its routing test."""
    out = []
    for path in sorted((ROOT / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            out += [r for r in group["rules"] if "alert" in r]
    return out


def test_config_is_valid():
    out = amtool("check-config", str(CONFIG))
    assert out.returncode == 0, out.stdout + out.stderr


def test_secrets_come_from_files():
    cfg = yaml.safe_load(CONFIG.read_text())
    text = CONFIG.read_text()
    for key in ("routing_key:", "service_key:", "api_key:", "api_url:"):
        assert f" {key}" not in text.replace(key[:-1] + "_file:", ""), key
    kinds = {k for r in cfg["receivers"] for k in r if k.endswith("_configs")}
    assert {"pagerduty_configs", "opsgenie_configs", "slack_configs", "webhook_configs"} <= kinds


@pytest.mark.parametrize("rule", rule_alerts(), ids=lambda r: r["alert"])
def test_every_promcast_alert_is_routed_by_severity_and_team(rule):
    labels = rule["labels"]
    assert labels.get("team"), f"{rule['alert']}: needs a team label for routing"
    receiver = RECEIVER[(labels["severity"], labels["team"])]
    out = amtool("config", "routes", "test", f"--config.file={CONFIG}",
                 f"--verify.receivers={receiver}", f"alertname={rule['alert']}",
                 *[f"{k}={v}" for k, v in labels.items()], "target=t")
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("labels,receiver", [
    (["alertname=PromcastCapacityExhaustionSoon", "severity=warning", "target=disk_usage"], "chat"),
    (["alertname=PromcastCapacityExhaustionSoon", "severity=critical", "target=disk_usage"], "oncall"),
    (["alertname=Anything", "severity=info"], "ticket"),
    (["alertname=Anything", "severity=warning", "team=finops"], "slack-finops"),
    (["alertname=Anything", "severity=critical", "team=sre"], "pagerduty"),
    (["alertname=Anything", "severity=critical", "team=finops"], "opsgenie"),
    (["alertname=NoSeverity"], "chat"),
])
def test_routes(labels, receiver):
    out = amtool("config", "routes", "test", f"--config.file={CONFIG}",
                 f"--verify.receivers={receiver}", *labels)
    assert out.returncode == 0, out.stdout + out.stderr


def test_a_wrong_expectation_fails():
    out = amtool("config", "routes", "test", f"--config.file={CONFIG}", "--verify.receivers=oncall",
                 "severity=warning")
    assert out.returncode == 1


def test_every_inhibition_names_existing_alerts():
    import re
    names = {r["alert"] for r in rule_alerts()}
    cfg = yaml.safe_load(CONFIG.read_text())
    for rule in cfg["inhibit_rules"]:
        for m in rule["source_matchers"] + rule["target_matchers"]:
            name = re.fullmatch(r'alertname(=~?)"(.*)"', m)
            if name:
                pattern = name.group(2)
                assert any(re.fullmatch(pattern, n) for n in names), m


def test_inhibitions_in_a_real_alertmanager(tmp_path):
    """Post alerts to a real Alertmanager running this config; read back which are inhibited."""
    import json
    import time
    import urllib.request

    from demo.stack import free_port, spawn, terminate

    need("prometheus-alertmanager")
    cfg = yaml.safe_load(CONFIG.read_text())
    cfg["templates"] = [str(CONFIG.parent / t) for t in cfg["templates"]]
    (tmp_path / "am.yml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = spawn(tmp_path, "alertmanager", [
        "prometheus-alertmanager", f"--config.file={tmp_path / 'am.yml'}",
        f"--storage.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address="], f"{url}/-/ready")
    disk = {"target": "disk_usage", "resource_id": "logs-1", "device": "data", "team": "sre"}
    alerts = {
        "imminent": {"alertname": "PromcastCapacityExhaustionImminent", "severity": "critical", **disk},
        "soon": {"alertname": "PromcastCapacityExhaustionSoon", "severity": "warning", **disk},
        "soon-other": {"alertname": "PromcastCapacityExhaustionSoon", "severity": "warning",
                       **disk, "resource_id": "logs-2"},
        "fc-stale": {"alertname": "PromcastForecasterStale", "severity": "warning",
                     "target": "cpu_utilization", "team": "sre"},
        "anomaly": {"alertname": "PromcastUtilizationAnomaly", "severity": "warning",
                    "target": "cpu_utilization", "resource_id": "web-1", "team": "sre"},
        "ex-stale": {"alertname": "PromcastExporterRefreshStale", "severity": "warning",
                     "provider": "aws", "team": "sre"},
        "billing-aws": {"alertname": "PromcastBillingDataStale", "severity": "warning",
                        "provider": "aws", "team": "finops"},
        "billing-gcp": {"alertname": "PromcastBillingDataStale", "severity": "warning",
                        "provider": "gcp", "team": "finops"},
    }
    try:
        body = json.dumps([{"labels": v} for v in alerts.values()]).encode()
        req = urllib.request.Request(f"{url}/api/v2/alerts", body,
                                     {"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=5).read()  # noqa: S310 - loopback only
        expected = {"soon", "anomaly", "billing-aws"}
        deadline = time.monotonic() + 20
        while True:
            got = json.loads(urllib.request.urlopen(f"{url}/api/v2/alerts", timeout=5).read())
            inhibited = {k for k, v in alerts.items() for a in got
                         if a["labels"] == v and a["status"]["inhibitedBy"]}
            if inhibited == expected or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert inhibited == expected
    finally:
        terminate([proc])


# -- end to end: a real Prometheus evaluates the rules, a real Alertmanager routes to a sink ----

SCENARIOS = {
    # A disk filling up: critical (pages the SRE on-call), its warning inhibited.
    "disk_filling": (
        """
promcast_target_lead_time_seconds{target="disk_usage"} 604800
promcast_forecast_exhaustion_seconds{target="disk_usage",resource_id="logs-1"} 86400
promcast_forecast_lower{target="disk_usage",resource_id="logs-1",horizon="3d",level="80"} 0.95
promcast_forecast_observed{target="disk_usage",resource_id="logs-1"} 0.85
promcast_forecast_capacity{target="disk_usage",resource_id="logs-1"} 0.9
""", {"pagerduty": {"PromcastCapacityExhaustionImminent"}}),
    # A budget overrun even in the optimistic case: FinOps on-call, the warning inhibited.
    "budget_overrun": (
        """
promcast_budget_amount{target="cloud_spend",budget="team-a",currency="USD"} 1000
promcast_budget_projected_spend{target="cloud_spend",budget="team-a",currency="USD"} 1200
promcast_budget_projected_spend_lower{target="cloud_spend",budget="team-a",currency="USD",level="95"} 1050
""", {"opsgenie": {"PromcastBudgetOverrunCertain"}}),
    # A cost spike above the forecast: FinOps chat.
    "cost_spike": (
        """
promcast_forecast_anomaly_score{target="cloud_spend",provider="aws",service="ec2"} 3
promcast_forecast_observed{target="cloud_spend",provider="aws",service="ec2"} 150
promcast_forecast_mean{target="cloud_spend",provider="aws",service="ec2",horizon="1d"} 100
""", {"slack-finops": {"PromcastCostAnomaly"}}),
    # A healthy fleet: nothing is sent.
    "healthy": (
        """
promcast_target_lead_time_seconds{target="disk_usage"} 604800
promcast_forecast_exhaustion_seconds{target="disk_usage",resource_id="web-1"} +Inf
promcast_forecast_lower{target="disk_usage",resource_id="web-1",horizon="3d",level="80"} 0.3
promcast_forecast_observed{target="disk_usage",resource_id="web-1"} 0.35
promcast_forecast_capacity{target="disk_usage",resource_id="web-1"} 0.9
promcast_forecast_anomaly_score{target="disk_usage",resource_id="web-1"} 0.4
promcast_forecast_backtest_mase{target="disk_usage",resource_id="web-1"} 0.8
promcast_forecast_backtest_coverage_ratio{target="disk_usage",resource_id="web-1",level="80"} 0.78
promcast_budget_amount{target="cloud_spend",budget="team-a",currency="USD"} 1000
promcast_budget_projected_spend{target="cloud_spend",budget="team-a",currency="USD"} 800
promcast_budget_projected_spend_lower{target="cloud_spend",budget="team-a",currency="USD",level="95"} 700
promcast_forecast_anomaly_score{target="cloud_spend",provider="aws",service="ec2"} 0.5
promcast_forecast_observed{target="cloud_spend",provider="aws",service="ec2"} 100
promcast_forecast_mean{target="cloud_spend",provider="aws",service="ec2",horizon="1d"} 100
promcast_forecaster_last_success_timestamp_seconds{target="disk_usage"} NOW
promcast_exporter_last_refresh_success_timestamp_seconds{provider="aws"} NOW
promcast_billing_data_last_timestamp_seconds{provider="aws"} NOW
""", {}),
}


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_scenario_end_to_end(scenario, tmp_path):
    """The rules (with `for:` set to 0s so the test takes seconds) in a real Prometheus scraping
    the scenario's series, alerts routed by a real Alertmanager running this config (every
    receiver pointed at a local webhook sink under its own name)."""
    import http.server
    import json
    import sys
    import threading
    import time

    from demo.stack import free_port, prometheus_argv, spawn, terminate

    for binary in ("prometheus", "prometheus-alertmanager"):
        need(binary)
    text, expected = SCENARIOS[scenario]

    class Metrics(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's API
            body = text.replace("NOW", f"{time.time():.0f}").lstrip().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    ports = {n: free_port() for n in ("metrics", "sink", "am", "prom")}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", ports["metrics"]), Metrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    procs = []
    out = tmp_path / "notifications.jsonl"
    try:
        sink = f"http://127.0.0.1:{ports['sink']}"
        procs.append(spawn(tmp_path, "sink", [
            sys.executable, str(ROOT / "demo" / "webhook_sink.py"),
            f"--listen=127.0.0.1:{ports['sink']}", f"--out={out}"], f"{sink}/-/healthy"))

        cfg = yaml.safe_load(CONFIG.read_text())
        cfg["templates"] = [str(CONFIG.parent / t) for t in cfg["templates"]]
        cfg["route"].update(group_wait="2s", group_interval="2s")
        for r in cfg["route"]["routes"]:
            r.pop("group_wait", None)
        cfg["receivers"] = [{"name": r["name"], "webhook_configs": [
            {"url": f"{sink}/{r['name']}", "send_resolved": False}]} for r in cfg["receivers"]]
        (tmp_path / "am.yml").write_text(yaml.safe_dump(cfg, sort_keys=False))
        am = f"http://127.0.0.1:{ports['am']}"
        procs.append(spawn(tmp_path, "alertmanager", [
            "prometheus-alertmanager", f"--config.file={tmp_path / 'am.yml'}",
            f"--storage.path={tmp_path / 'am-data'}", f"--web.listen-address=127.0.0.1:{ports['am']}",
            "--cluster.listen-address="], f"{am}/-/ready"))

        rules = []
        for path in sorted((ROOT / "rules").glob("*.yml")):
            doc = yaml.safe_load(path.read_text())
            for group in doc["groups"]:
                for rule in group["rules"]:
                    if "alert" in rule:
                        rule["for"] = "0s"
            (tmp_path / path.name).write_text(yaml.safe_dump(doc, sort_keys=False))
            rules.append(str(tmp_path / path.name))
        (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": rules,
            "alerting": {"alertmanagers": [{"static_configs": [
                {"targets": [f"127.0.0.1:{ports['am']}"]}]}]},
            "scrape_configs": [{"job_name": "scenario", "static_configs": [
                {"targets": [f"127.0.0.1:{ports['metrics']}"]}]}],
        }))
        procs.append(spawn(tmp_path, "prometheus", prometheus_argv(
            tmp_path / "prometheus.yml", tmp_path / "data", ports["prom"]),
            f"http://127.0.0.1:{ports['prom']}/-/ready", 60))

        def received() -> dict[str, set[str]]:
            if not out.exists():
                return {}
            got: dict[str, set[str]] = {}
            for line in out.read_text().splitlines():
                n = json.loads(line)
                for a in n["payload"]["alerts"]:
                    got.setdefault(n["receiver"], set()).add(a["labels"]["alertname"])
                    assert a["annotations"]["runbook_url"].endswith(a["labels"]["alertname"].lower())
                    assert a["annotations"]["dashboard_url"].startswith("http://")
            return got

        deadline = time.monotonic() + 30
        while expected and received() != expected and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(8)  # long enough for anything inhibited or unexpected to arrive too
        assert received() == expected
    finally:
        server.shutdown()
        terminate(list(reversed(procs)))
