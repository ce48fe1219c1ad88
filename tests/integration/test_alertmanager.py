"""amtool validates the Alertmanager config and where every alert is routed; a real Alertmanager
applies the inhibitions. Alerts from rules to receivers end to end: tests/test_e2e_scenarios.py."""

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.helpers.processes import need

ROOT = Path(__file__).resolve().parents[2]
# The shipped default (no secret needed) and the same plus PagerDuty, Opsgenie and Slack.
BASE = ROOT / "alertmanager" / "alertmanager.yml"
CONFIG = ROOT / "alertmanager" / "integrations.yml"

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


@pytest.mark.parametrize("path", [BASE, CONFIG], ids=lambda p: p.name)
def test_config_is_valid(path):
    out = amtool("check-config", str(path))
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_default_config_needs_no_secret_and_the_integrations_add_only_their_routes():
    """alertmanager.yml works as shipped; integrations.yml is it plus one route per team to the
    receivers that need a secret file, and nothing else differs (no drift between the two)."""
    base, full = yaml.safe_load(BASE.read_text()), yaml.safe_load(CONFIG.read_text())
    text = BASE.read_text()
    assert "_file:" not in text.replace("credentials_file", ""), "a receiver needing a secret"
    kinds = {k for r in base["receivers"] for k in r if k != "name"}
    assert kinds == {"webhook_configs"}
    secret_receivers = [r for r in full["receivers"] if r not in base["receivers"]]
    assert {r["name"] for r in secret_receivers} == {"pagerduty", "opsgenie", "slack-finops"}
    assert [r for r in full["receivers"] if r in base["receivers"]] == base["receivers"]
    for key in set(base) | set(full):
        if key not in ("route", "receivers"):
            assert base.get(key) == full.get(key), key
    strip = lambda route: {k: v for k, v in route.items() if k != "routes"}  # noqa: E731
    assert strip(base["route"]) == strip(full["route"])
    assert [strip(r) for r in base["route"]["routes"]] == [
        strip(r) for r in full["route"]["routes"]
    ]
    extra = {r["receiver"] for parent in full["route"]["routes"] for r in parent.get("routes", [])}
    assert extra == {r["name"] for r in secret_receivers}


@pytest.mark.parametrize("path", [BASE, CONFIG], ids=lambda p: p.name)
def test_repeat_intervals_stay_within_the_notification_log_retention(path):
    """Alertmanager keeps its notification log for --data.retention (120h by default) and
    warns at every start about a longer repeat_interval (it cannot honour it)."""
    from promcast_common.durations import parse_duration

    def intervals(route):
        if "repeat_interval" in route:
            yield route["repeat_interval"]
        for child in route.get("routes", []):
            yield from intervals(child)

    found = list(intervals(yaml.safe_load(path.read_text())["route"]))
    assert found and all(parse_duration(i) <= 120 * 3600 for i in found), found


@pytest.mark.parametrize(
    "severity,receiver", [("critical", "oncall"), ("warning", "chat"), ("info", "ticket")]
)
def test_default_routes_by_severity_for_every_team(severity, receiver):
    for team in ("sre", "finops", "other"):
        out = amtool(
            "config",
            "routes",
            "test",
            f"--config.file={BASE}",
            f"--verify.receivers={receiver}",
            "alertname=Anything",
            f"severity={severity}",
            f"team={team}",
        )
        assert out.returncode == 0, out.stdout + out.stderr


def test_the_default_config_starts_without_warnings_and_delivers_to_the_webhook_service(tmp_path):
    """The shipped file as is, but for the compose network's `webhook` host, which is this
    machine here, and group waits of a second (30 s and 5 min in the file): Alertmanager starts
    without a warning and every severity reaches the sink."""
    import json
    import sys
    import time
    import urllib.request

    from demo.stack import free_port, spawn, terminate

    need("prometheus-alertmanager")
    sink_port, port = free_port(), free_port()
    text = BASE.read_text().replace("http://webhook:9096/", f"http://127.0.0.1:{sink_port}/")
    assert f"127.0.0.1:{sink_port}" in text
    text = re.sub(r"group_wait: \S+", "group_wait: 1s", text)
    text = text.replace("templates/*.tmpl", str(ROOT / "alertmanager" / "templates" / "*.tmpl"))
    (tmp_path / "am.yml").write_text(text)
    sink_log = tmp_path / "notifications.jsonl"
    url = f"http://127.0.0.1:{port}"
    procs = [
        spawn(
            tmp_path,
            "sink",
            [
                sys.executable,
                str(ROOT / "demo" / "webhook_sink.py"),
                f"--listen=127.0.0.1:{sink_port}",
                f"--out={sink_log}",
            ],
            f"http://127.0.0.1:{sink_port}/-/healthy",
        )
    ]
    try:
        procs.append(
            spawn(
                tmp_path,
                "alertmanager",
                [
                    "prometheus-alertmanager",
                    f"--config.file={tmp_path / 'am.yml'}",
                    f"--storage.path={tmp_path / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--cluster.listen-address=",
                ],
                f"{url}/-/ready",
            )
        )
        log = (tmp_path / "alertmanager.log").read_text()
        assert "level=warn" not in log and "level=error" not in log, log
        alerts = [
            {"labels": {"alertname": f"Test{sev}", "severity": sev, "team": "sre", "target": "t"}}
            for sev in ("critical", "warning", "info")
        ]
        urllib.request.urlopen(
            urllib.request.Request(  # loopback only
                f"{url}/api/v2/alerts",
                json.dumps(alerts).encode(),
                {"Content-Type": "application/json"},
            ),
            timeout=5,
        ).read()

        def received() -> set[str]:
            if not sink_log.exists():
                return set()
            return {json.loads(line)["receiver"] for line in sink_log.read_text().splitlines()}

        deadline = time.monotonic() + 30
        while received() != {"oncall", "chat", "ticket"} and time.monotonic() < deadline:
            time.sleep(1)
        assert received() == {"oncall", "chat", "ticket"}
        log = (tmp_path / "alertmanager.log").read_text()
        assert "level=warn" not in log and "level=error" not in log, log
    finally:
        terminate(procs)


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
    out = amtool(
        "config",
        "routes",
        "test",
        f"--config.file={CONFIG}",
        f"--verify.receivers={receiver}",
        f"alertname={rule['alert']}",
        *[f"{k}={v}" for k, v in labels.items()],
        "target=t",
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize(
    "labels,receiver",
    [
        (
            ["alertname=PromcastCapacityExhaustionSoon", "severity=warning", "target=disk_usage"],
            "chat",
        ),
        (
            ["alertname=PromcastCapacityExhaustionSoon", "severity=critical", "target=disk_usage"],
            "oncall",
        ),
        (["alertname=Anything", "severity=info"], "ticket"),
        (["alertname=Anything", "severity=warning", "team=finops"], "slack-finops"),
        (["alertname=Anything", "severity=critical", "team=sre"], "pagerduty"),
        (["alertname=Anything", "severity=critical", "team=finops"], "opsgenie"),
        (["alertname=NoSeverity"], "chat"),
    ],
)
def test_routes(labels, receiver):
    out = amtool(
        "config",
        "routes",
        "test",
        f"--config.file={CONFIG}",
        f"--verify.receivers={receiver}",
        *labels,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_a_wrong_expectation_fails():
    out = amtool(
        "config",
        "routes",
        "test",
        f"--config.file={CONFIG}",
        "--verify.receivers=oncall",
        "severity=warning",
    )
    assert out.returncode == 1


def test_every_inhibition_names_existing_alerts():
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

    from demo.stack import free_port, local_alertmanager_config, spawn, terminate

    need("prometheus-alertmanager")
    # Nothing listens on the discard port: what is inhibited is read back, not delivered.
    cfg = local_alertmanager_config("http://127.0.0.1:9", tmp_path / "secrets", CONFIG)
    (tmp_path / "am.yml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = spawn(
        tmp_path,
        "alertmanager",
        [
            "prometheus-alertmanager",
            f"--config.file={tmp_path / 'am.yml'}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        f"{url}/-/ready",
    )
    disk = {"target": "disk_usage", "resource_id": "logs-1", "device": "data", "team": "sre"}
    alerts = {
        "imminent": {
            "alertname": "PromcastCapacityExhaustionImminent",
            "severity": "critical",
            **disk,
        },
        "soon": {"alertname": "PromcastCapacityExhaustionSoon", "severity": "warning", **disk},
        "soon-other": {
            "alertname": "PromcastCapacityExhaustionSoon",
            "severity": "warning",
            **disk,
            "resource_id": "logs-2",
        },
        "fc-stale": {
            "alertname": "PromcastForecasterStale",
            "severity": "warning",
            "target": "cpu_utilization",
            "team": "sre",
        },
        "anomaly": {
            "alertname": "PromcastUtilizationAnomaly",
            "severity": "warning",
            "target": "cpu_utilization",
            "resource_id": "web-1",
            "team": "sre",
        },
        "ex-stale": {
            "alertname": "PromcastExporterRefreshStale",
            "severity": "warning",
            "provider": "aws",
            "team": "sre",
        },
        "billing-aws": {
            "alertname": "PromcastBillingDataStale",
            "severity": "warning",
            "provider": "aws",
            "team": "finops",
        },
        "billing-gcp": {
            "alertname": "PromcastBillingDataStale",
            "severity": "warning",
            "provider": "gcp",
            "team": "finops",
        },
    }
    try:
        body = json.dumps([{"labels": v} for v in alerts.values()]).encode()
        req = urllib.request.Request(
            f"{url}/api/v2/alerts", body, {"Content-Type": "application/json"}
        )
        urllib.request.urlopen(req, timeout=5).read()  # loopback only
        expected = {"soon", "anomaly", "billing-aws"}
        deadline = time.monotonic() + 20
        while True:
            got = json.loads(urllib.request.urlopen(f"{url}/api/v2/alerts", timeout=5).read())
            inhibited = {
                k
                for k, v in alerts.items()
                for a in got
                if a["labels"] == v and a["status"]["inhibitedBy"]
            }
            if inhibited == expected or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert inhibited == expected
    finally:
        terminate([proc])


def test_every_receiver_can_be_pointed_at_the_local_sink(tmp_path):
    """The demo and the end-to-end tests reroute every integration of the real config; a kind
    they cannot reroute must stop them rather than page someone for real."""
    from demo.stack import local_alertmanager_config

    cfg = local_alertmanager_config("http://127.0.0.1:1", tmp_path / "secrets", CONFIG)
    urls = [
        c.get("url")
        or c.get("api_url")
        or (tmp_path / "secrets" / f"{r['name']}-slack-url").read_text()
        for r in cfg["receivers"]
        for k, v in r.items()
        if k != "name"
        for c in v
    ]
    assert urls and all(u.startswith("http://127.0.0.1:1/") for u in urls), urls
    (tmp_path / "am.yml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    assert amtool("check-config", str(tmp_path / "am.yml")).returncode == 0
    bad = yaml.safe_load(CONFIG.read_text())
    bad["receivers"].append({"name": "mail", "email_configs": [{"to": "oncall@example.com"}]})
    (tmp_path / "bad.yml").write_text(yaml.safe_dump(bad))
    with pytest.raises(ValueError, match="'mail' uses email_configs"):
        local_alertmanager_config("http://127.0.0.1:1", tmp_path / "secrets", tmp_path / "bad.yml")
