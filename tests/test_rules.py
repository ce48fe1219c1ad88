"""promtool checks the rules and runs their unit tests (firing and must-not-fire cases)."""

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import need

RULES = Path(__file__).resolve().parent.parent / "rules"
RUNBOOK = "https://github.com/promcast/promcast/blob/main/README.md#"
# Grafana's base URL, read in every dashboard_url from the series the rules record for it.
GRAFANA_BASE = '{{ with query "promcast:promcast_grafana:config" }}{{ . | first | label "url" }}{{ end }}'
DASHBOARDS = RULES.parent / "dashboards"


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
        runbook = (RULES.parent / "docs" / "runbook.md").read_text()
        assert f"\n### {name}\n" in runbook, f"{name}: no section in docs/runbook.md"


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


# -- dashboard links -----------------------------------------------------------------------------

# A dashboard_url after the base: /d/<uid>/<slug>, then var-NAME=VALUE parameters, where VALUE is
# literal text or one label of the alert, `{{ $labels.x }}`; `{{ if }}`/`{{ else if }}`/`{{ end }}`
# around parameters choose among them (a label the alert may lack), and are skipped here.
LINK_PATH = re.compile(r"/d/(?P<uid>[^/?{]+)/(?P<slug>[^/?{]+)(?P<query>\?.*)?")
LINK_PARAM = re.compile(r"[?&](?P<name>[^=&{}]+)=(?P<value>\{\{ \$labels\.\w+ \}\}|[^&{]+)")
LABEL_VALUE = re.compile(r"\{\{ \$labels\.(\w+) \}\}")
# label_values(<selector>, <label>): the label a query variable lists ($name: another variable's).
LABEL_VALUES = re.compile(r"label_values\((?:.*,)?\s*(\$?\w+)\s*\)")


def grafana_slug(title: str) -> str:
    """Grafana's slug of a title: lowercased, every run of other characters one '-'."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def generated_dashboards() -> dict[str, dict]:
    return {d["uid"]: d for d in (json.loads(p.read_text()) for p in DASHBOARDS.glob("*.json"))}


def link_problems(url: str, dashboards: dict[str, dict]) -> list[str]:
    """What is wrong with a dashboard_url: its dashboard must be a generated one under its
    Grafana slug, and each var-NAME a variable of it, fed a value that variable can take."""
    if not url.startswith(GRAFANA_BASE):
        return ["does not start with Grafana's base URL"]
    path = LINK_PATH.fullmatch(url[len(GRAFANA_BASE):])
    if path is None:
        return [f"not /d/<uid>/<slug>[?...]: {url[len(GRAFANA_BASE):]}"]
    dashboard = dashboards.get(path["uid"])
    if dashboard is None:
        return [f"no generated dashboard has uid {path['uid']!r} (dashboards/*.json)"]
    problems = []
    if path["slug"] != grafana_slug(dashboard["title"]):
        problems.append(f"slug {path['slug']!r}, Grafana's is {grafana_slug(dashboard['title'])!r}")
    variables = {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}
    query = path["query"] or ""
    # Outside the template actions only parameters remain: each must be a var-NAME=VALUE.
    bare = re.sub(r"\{\{-? (?:if|else if|else|end|with)\b[^}]*\}\}", "", query)
    params = list(LINK_PARAM.finditer(bare))
    if "".join(m[0] for m in params) != bare:
        problems.append(f"parameters other than var-NAME=VALUE or `{{{{ $labels.x }}}}`: {query}")
    literal: dict[str, str] = {}
    for m in params:
        name, value = m["name"], m["value"]
        if not name.startswith("var-"):
            problems.append(f"{name}: not a dashboard variable (var-NAME)")
            continue
        var = variables.get(name[4:])
        if var is None:
            problems.append(f"{name}: {dashboard['uid']} has no variable {name[4:]!r} "
                            f"(it has {sorted(variables)})")
            continue
        label = LABEL_VALUE.fullmatch(value)
        if var["type"] == "custom":
            options = var["query"].split(",")
            if label or value not in options:
                problems.append(f"{name}={value}: not one of the options {options}")
            literal[var["name"]] = value
        elif var["type"] == "query" and label:
            # The alert's label must be the label the variable lists (its label_values).
            lists = LABEL_VALUES.search(var["query"])
            listed = lists and lists[1]
            if listed and listed.startswith("$"):
                listed = literal.get(listed[1:])
            if listed != label[1]:
                problems.append(f"{name}={value}: the variable lists the label {listed!r}")
        else:
            problems.append(f"{name}={value}: set a query variable from one of the alert's labels")
    return problems


def test_every_dashboard_url_opens_a_generated_dashboard_with_its_variables():
    dashboards = generated_dashboards()
    assert {"promcast-capacity", "promcast-cost", "promcast-self"} <= set(dashboards)
    problems = {rule["alert"]: link_problems(rule["annotations"]["dashboard_url"], dashboards)
                for rule in alerts()}
    assert {name: p for name, p in problems.items() if p} == {}


@pytest.mark.parametrize("path", [
    # The old budget links: the capacity overview, under a slug Grafana does not give it.
    "/d/promcast-capacity/promcast-capacity?var-target={{ $labels.target }}",
    # The cost dashboard has no `target` variable (its forecasts are cost_target).
    "/d/promcast-cost/promcast-cost-and-budget?var-target={{ $labels.target }}",
    "/d/promcast-cost/promcast-cost-and-budget?var-budget={{ $labels.target }}",
    "/d/promcast-cost/promcast-cost-and-budget?var-budget=b1&from=now-7d",
    "/d/promcast-budget/promcast-budget?var-budget={{ $labels.budget }}",
    "/d/promcast-forecast-explorer/promcast-forecast-explorer?var-target={{ $labels.target }}"
    "&var-by=resource&var-series={{ $labels.resource_id }}",
    "/d/promcast-forecast-explorer/promcast-forecast-explorer?var-target={{ $labels.target }}"
    "{{ if $labels.service }}&var-by=service&var-series={{ $labels.resource_id }}{{ end }}",
])
def test_a_link_to_a_missing_dashboard_or_variable_is_caught(path):
    assert link_problems(GRAFANA_BASE + path, generated_dashboards())
