"""promtool checks the rules and runs their unit tests (firing and must-not-fire cases)."""

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import need

RULES = Path(__file__).resolve().parent.parent / "rules"
RUNBOOK = "https://github.com/promcast/promcast/blob/main/README.md#"
# Grafana's base URL, read in every dashboard_url from the series the rules record for it.
GRAFANA_BASE = '{{ with query "promcast:promcast_grafana:config" }}{{ . | first | label "url" }}{{ end }}'


def promtool(*args: str, cwd: Path = RULES) -> subprocess.CompletedProcess:
    need("promtool")
    return subprocess.run(["promtool", *args], capture_output=True, text=True, cwd=cwd)


def test_rules_are_valid():
    out = promtool("check", "rules", *[p.name for p in RULES.glob("*.yml")])
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("case", sorted(p.name for p in (RULES / "tests").glob("*.test.yml")))
def test_rule_unit_tests_pass(case):
    out = promtool("test", "rules", case, cwd=RULES / "tests")
    assert out.returncode == 0, out.stdout + out.stderr


def alerts():
    for path in RULES.glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            yield from (r for r in group["rules"] if "alert" in r)


def test_every_alert_follows_the_conventions_and_has_firing_and_quiet_cases():
    tests = "".join(p.read_text() for p in (RULES / "tests").glob("*.test.yml"))
    for rule in alerts():
        name = rule["alert"]
        assert name.startswith("Promcast") and name[0].isupper(), name
        assert "for" in rule, f"{name}: needs an explicit for:"
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        ann = rule["annotations"]
        assert "{{" not in ann["summary"], f"{name}: summary must be fixed text"
        assert "{{" in ann["description"], f"{name}: description should be templated"
        assert ann["runbook_url"] == RUNBOOK + name.lower(), name
        assert ann["dashboard_url"].startswith(GRAFANA_BASE + "/d/"), (
            f"{name}: dashboard_url must start with Grafana's configured base URL, {GRAFANA_BASE}")
        assert rule["labels"].get("team"), f"{name}: needs a team label (Alertmanager routes on it)"
        assert f"alertname: {name}" in tests, f"{name}: no promtool test case"
        readme = (RULES.parent / "README.md").read_text()
        assert f"### {name}" in readme, f"{name}: no runbook section in README.md"


def alert_rule_tests():
    for path in (RULES / "tests").glob("*.test.yml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            yield from case.get("alert_rule_test", [])


def test_every_alert_has_a_firing_and_a_must_not_fire_evaluation():
    fires, quiet = set(), set()
    for t in alert_rule_tests():
        (fires if t.get("exp_alerts") else quiet).add(t["alertname"])
    names = {r["alert"] for r in alerts()}
    assert names - fires == set(), "alerts without a firing promtool case"
    assert names - quiet == set(), "alerts without a must-not-fire promtool case"
    assert (fires | quiet) - names == set(), "promtool cases for alerts that do not exist"


def test_thresholds_are_series_not_numbers_in_alert_bodies():
    """Every alert reads its thresholds from the promcast.thresholds group (or a per-target
    series from the forecaster config), so tuning never means editing an alert expression."""
    import re
    recorded = set()
    for path in RULES.glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            if group["name"] == "promcast.thresholds":
                recorded |= {r["labels"]["threshold"] for r in group["rules"]
                             if r["record"] == "promcast:promcast_alert_threshold:config"}
    for rule in alerts():
        used = set(re.findall(r'threshold="([a-z0-9_]+)"', rule["expr"]))
        assert used <= recorded, f"{rule['alert']}: unknown thresholds {used - recorded}"
        # No bare comparisons against literal numbers (730 h a month is a unit, not a threshold).
        assert not re.search(r"[<>]=?\s*[0-9]", rule["expr"]), rule["alert"]


def test_a_broken_rule_file_is_caught(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("groups:\n- name: x\n  rules:\n  - alert: X\n    expr: rate(up[5m]\n")
    out = promtool("check", "rules", str(bad))
    assert out.returncode == 1


def test_grafana_base_url_is_recorded_once_as_a_url():
    records = [r for path in RULES.glob("*.yml") for g in yaml.safe_load(path.read_text())["groups"]
               for r in g["rules"] if r.get("record") == "promcast:promcast_grafana:config"]
    assert len(records) == 1, "one promcast:promcast_grafana:config record (the alerts read `first`)"
    assert records[0]["labels"]["url"].startswith(("http://", "https://"))
    assert not records[0]["labels"]["url"].endswith("/"), "the links add /d/..., so no trailing /"
