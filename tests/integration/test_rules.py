"""promtool checks the rules and runs their unit tests (firing and must-not-fire cases)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from promcast_common.config import ConfigError
from rules import config as alerting
from rules import generate
from tests.helpers.processes import need

RULES = Path(__file__).resolve().parents[2] / "rules"
SHIPPED = RULES / "promcast.rules.yml"
DEFAULTS = alerting.load()
RUNBOOK = "https://github.com/promcast/promcast/blob/main/docs/runbook.md#"
# Grafana's base URL, the start of every dashboard_url.
GRAFANA_BASE = DEFAULTS.grafana_url
DASHBOARDS = RULES.parent / "dashboards"


def runbook_text() -> str:
    """The runbook: docs/runbook.md once it has moved there, the README's section until then."""
    moved = RULES.parent / "docs" / "runbook.md"
    return (moved if moved.exists() else RULES.parent / "README.md").read_text()


def promtool(*args: str, cwd: Path = RULES) -> subprocess.CompletedProcess:
    need("promtool")
    return subprocess.run(["promtool", *args], capture_output=True, text=True, cwd=cwd)


def test_rules_are_valid():
    out = promtool("check", "rules", SHIPPED.name)
    assert out.returncode == 0, out.stdout + out.stderr


def test_shipped_rules_are_generated_from_the_template_and_the_defaults():
    assert SHIPPED.read_text() == generate.render(DEFAULTS), (
        "rules/promcast.rules.yml is out of date: run python rules/generate.py and commit it"
    )
    check = subprocess.run(
        [sys.executable, str(RULES / "generate.py"), "--check"], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_check_mode_reports_a_stale_rules_file(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "promcast.rules.yml"
    stale.write_text(SHIPPED.read_text().replace("for: 15m", "for: 20m", 1))
    monkeypatch.setattr(generate, "OUTPUT", stale)
    monkeypatch.setattr(generate, "ROOT", tmp_path)
    assert generate.main(["--check"]) == 1
    assert "promcast.rules.yml is out of date" in capsys.readouterr().out
    assert generate.main([]) == 0 and generate.main(["--check"]) == 0


@pytest.mark.parametrize("case", sorted(p.name for p in (RULES / "tests").glob("*.test.yml")))
def test_rule_unit_tests_pass(case):
    out = promtool("test", "rules", case, cwd=RULES / "tests")
    assert out.returncode == 0, out.stdout + out.stderr


def alerts():
    for group in yaml.safe_load(SHIPPED.read_text())["groups"]:
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
            f"{name}: dashboard_url must start with Grafana's configured base URL, {GRAFANA_BASE}"
        )
        assert rule["labels"].get("team"), f"{name}: needs a team label (Alertmanager routes on it)"
        assert f"alertname: {name}" in tests, f"{name}: no promtool test case"
        assert f"\n### {name}\n" in runbook_text(), f"{name}: no runbook section"


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


def test_thresholds_are_config_values_never_recorded_series_or_bare_numbers():
    """Alerts compare against numbers of the alerting config: no recorded threshold read with
    scalar() (a missing series would silence the alert), and no literal in an alert body."""
    known = set(DEFAULTS.thresholds)
    for group in generate.template_groups():
        for rule in group["rules"]:
            used = set(re.findall(r"%\{thresholds\.([a-z0-9_]+)\}", rule["expr"]))
            assert used <= known, f"{generate.rule_name(rule)}: unknown thresholds {used - known}"
            if "alert" in rule:
                # 730 h a month is a unit, not a threshold.
                assert not re.search(r"[<>]=?\s*[0-9]", rule["expr"]), rule["alert"]
    shipped = yaml.safe_load(SHIPPED.read_text())["groups"]
    for rule in (r for g in shipped for r in g["rules"]):
        assert "scalar(" not in rule["expr"] and ":config" not in rule["expr"], generate.rule_name(
            rule
        )
    # The defaults are still recorded as series for other readers (the forecaster's report).
    (records,) = [g["rules"] for g in shipped if g["name"] == "promcast.thresholds"]
    assert {r["labels"]["threshold"]: r["expr"] for r in records} == {
        name: f"vector({alerting.number_text(v)})" for name, v in DEFAULTS.thresholds.items()
    }


def test_a_broken_rule_file_is_caught(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("groups:\n- name: x\n  rules:\n  - alert: X\n    expr: rate(up[5m]\n")
    out = promtool("check", "rules", str(bad))
    assert out.returncode == 1


def test_runbook_links_point_at_the_runbook_in_docs():
    assert DEFAULTS.runbook_url("PromcastForecasterStale") == RUNBOOK + "promcastforecasterstale"


# -- the alerting config ---------------------------------------------------------------------------


def generate_with(tmp_path: Path, config: dict) -> Path:
    cfg = tmp_path / "alerting.yml"
    cfg.write_text(yaml.safe_dump(config))
    out = tmp_path / "promcast.rules.yml"
    assert generate.main(["--config", str(cfg), "--out", str(out)]) == 0
    # Users check their own generated file in CI the same way.
    assert generate.main(["--check", "--config", str(cfg), "--out", str(out)]) == 0
    return out


def generated_alert(path: Path, name: str) -> dict:
    return next(
        r
        for g in yaml.safe_load(path.read_text())["groups"]
        for r in g["rules"]
        if r.get("alert") == name
    )


def test_a_user_file_sets_thresholds_teams_links_and_selectors(tmp_path):
    out = generate_with(
        tmp_path,
        {
            "thresholds": {"forecaster_stale_seconds": 1800},
            "teams": {"health": "observability"},
            "runbook_url_pattern": "https://wiki.example/runbooks/%s",
            "grafana_url": "https://grafana.example",
            "selectors": {"forecaster": 'job="promcast-forecaster"'},
        },
    )
    stale = generated_alert(out, "PromcastForecasterStale")
    assert "> 1800" in stale["expr"]
    assert (
        'promcast_forecaster_last_success_timestamp_seconds{job="promcast-forecaster"}[1d]'
        in stale["expr"]
    )
    assert stale["labels"]["team"] == "observability"
    assert (
        stale["annotations"]["runbook_url"]
        == "https://wiki.example/runbooks/promcastforecasterstale"
    )
    assert stale["annotations"]["dashboard_url"].startswith(
        "https://grafana.example/d/promcast-self/"
    )
    # What the file does not set keeps the defaults.
    exporter = generated_alert(out, "PromcastExporterRefreshStale")
    assert "> 10800" in exporter["expr"]
    assert generated_alert(out, "PromcastCapacityExhaustionSoon")["labels"]["team"] == "sre"
    assert promtool("check", "rules", str(out)).returncode == 0


@pytest.mark.parametrize(
    "config,problem",
    [
        (
            {"thresholds": {"forecaster_stale_secs": 1}},
            "thresholds.forecaster_stale_secs: unknown name",
        ),
        (
            {"thresholds": {"backtest_mase_max": "high"}},
            "thresholds.backtest_mase_max: Input should be",
        ),
        (
            {"thresholds": {"backtest_mase_max": float("nan")}},
            "thresholds.backtest_mase_max: must be a finite",
        ),
        ({"thresholds": {"backtest_mase_max": 1.2345678}}, "more than 6 significant digits"),
        ({"teams": {"capacity": ""}}, "teams.capacity: String should have at least 1 character"),
        ({"teams": {"storage": "x"}}, "teams.storage: unknown name"),
        ({"grafana_url": "http://grafana:3000/"}, "grafana_url: must not end with /"),
        ({"grafana_url": "grafana:3000"}, "grafana_url: must be an http:// or https:// URL"),
        (
            {"runbook_url_pattern": "https://wiki.example/runbooks"},
            "runbook_url_pattern: must contain %s",
        ),
        ({"selectors": {"exporter": 'job="x'}}, "selectors.exporter: not valid label matchers"),
        (
            {"overrides": [{"match": {}, "thresholds": {"backtest_mase_max": 3}}]},
            "overrides[0].match: Dictionary should have at least 1 item",
        ),
        (
            {"overrides": [{"match": {"__name__": "x"}, "thresholds": {"backtest_mase_max": 3}}]},
            "overrides[0].match.__name__",
        ),
        (
            {"overrides": [{"match": {"target": "x"}, "thresholds": {"backtest_mase": 3}}]},
            "overrides[0].thresholds.backtest_mase: unknown threshold",
        ),
        ({"colour": "red"}, "colour: unknown key"),
    ],
)
def test_a_bad_alerting_config_is_refused_with_the_key_path(tmp_path, config, problem):
    path = tmp_path / "alerting.yml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError) as err:
        alerting.load(path)
    assert any(problem in p for p in err.value.problems), err.value.problems
    assert str(path) in str(err.value)


def test_the_cli_reports_a_bad_config_and_writes_nothing(tmp_path, capsys):
    cfg = tmp_path / "alerting.yml"
    cfg.write_text("grafana_url: 'ftp://x'\n")
    out = tmp_path / "out.yml"
    assert generate.main(["--config", str(cfg), "--out", str(out)]) == 2
    assert "grafana_url: must be an http" in capsys.readouterr().err and not out.exists()


# A target whose forecasts are known to be rough gets its own MASE limit; a resource_id label
# value with `$` and quotes must reach the rule unchanged.
OVERRIDES = [
    {"match": {"target": "noisy"}, "thresholds": {"backtest_mase_max": 3}},
    {"match": {"target": "noisy", "resource_id": 'a"$1'}, "thresholds": {"backtest_mase_max": 1}},
    {
        "match": {"target": "strict"},
        "thresholds": {"backtest_mase_max": 1.2, "backtest_coverage_min_ratio": 0.9},
    },
]

OVERRIDE_CASES = """
rule_files: [promcast.rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'promcast_forecast_backtest_mase{target="noisy", resource_id="a"}'
        values: '2x200'
      - series: 'promcast_forecast_backtest_mase{target="noisy", resource_id="b"}'
        values: '4x200'
      - series: 'promcast_forecast_backtest_mase{target="strict", resource_id="c"}'
        values: '1.3x200'
      - series: 'promcast_forecast_backtest_mase{target="plain", resource_id="d"}'
        values: '1.6x200'
      - series: 'promcast_forecast_backtest_mase{target="plain", resource_id="e"}'
        values: '1.4x200'
      - series: 'promcast_forecast_backtest_coverage_ratio{target="strict", resource_id="c", level="80"}'
        values: '0.8x200'
      - series: 'promcast_forecast_backtest_coverage_ratio{target="plain", resource_id="d", level="80"}'
        values: '0.8x200'
    promql_expr_test:
      - eval_time: 3h
        expr: count by (target, resource_id, level) (ALERTS{alertname="PromcastForecastQualityDegraded", alertstate="firing"})
        exp_samples:
          - {labels: '{target="noisy", resource_id="b"}', value: 1}
          - {labels: '{target="strict", resource_id="c"}', value: 1}
          - {labels: '{target="strict", resource_id="c", level="80"}', value: 1}
          - {labels: '{target="plain", resource_id="d"}', value: 1}
"""


def test_per_target_overrides_change_the_threshold_for_their_series_only(tmp_path):
    out = generate_with(tmp_path, {"overrides": OVERRIDES})
    rule = generated_alert(out, "PromcastForecastQualityDegraded")
    assert 'label_replace(vector(1), "target", "noisy", "", "")' in rule["expr"]
    # An alert reading none of the overridden thresholds is left as it is.
    assert generated_alert(out, "PromcastForecasterStale") == generated_alert(
        SHIPPED, "PromcastForecasterStale"
    )
    cases = tmp_path / "overrides.test.yml"
    cases.write_text(OVERRIDE_CASES)
    res = promtool("test", "rules", cases.name, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr


def test_an_override_on_a_label_value_with_dollar_and_quotes_is_exact(tmp_path):
    out = generate_with(
        tmp_path,
        {
            "overrides": [
                {"match": {"resource_id": 'a"$1'}, "thresholds": {"backtest_mase_max": 10}}
            ]
        },
    )
    cases = tmp_path / "dollar.test.yml"
    cases.write_text("""
rule_files: [promcast.rules.yml]
tests:
  - interval: 1m
    input_series:
      - series: 'promcast_forecast_backtest_mase{target="t", resource_id="a\\"$1"}'
        values: '4x200'
      - series: 'promcast_forecast_backtest_mase{target="t", resource_id="a"}'
        values: '4x200'
    promql_expr_test:
      - eval_time: 3h
        expr: count by (target, resource_id) (ALERTS{alertname="PromcastForecastQualityDegraded", alertstate="firing"})
        exp_samples:
          - {labels: '{target="t", resource_id="a"}', value: 1}
""")
    res = promtool("test", "rules", cases.name, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert '"a\\"$$1"' in generated_alert(out, "PromcastForecastQualityDegraded")["expr"]


# -- dashboard links -----------------------------------------------------------------------------

# A dashboard_url after the base: /d/<uid>/<slug>, then var-NAME=VALUE parameters, where VALUE is
# literal text or one label of the alert, `{{ $labels.x }}`; `{{ if }}`/`{{ else if }}`/`{{ end }}`
# around parameters choose among them (a label the alert may lack), and are skipped here, as are
# `with`, `range` and variable assignments.
LINK_PATH = re.compile(r"/d/(?P<uid>[^/?{]+)/(?P<slug>[^/?{]+)(?P<query>\?.*)?")
LINK_PARAM = re.compile(
    r"[?&](?P<name>[^=&{}]+)=(?P<value>\{\{ \$labels\.\w+ \}\}"
    r"|\{\{ \$[kv] \}\}|[^&{]+)"
)
# Template actions between parameters (a `}` inside them is part of a string, not their end),
# and the identity-label loop's name and value: `range $k, $v := $labels` over the labels
# promcast_target_info names, `var-by={{ $k }}&var-series={{ $v }}`.
ACTION = re.compile(r"\{\{-? (?:if|else if|else|end|with|range|\$\w+ :?=)(?:[^}]|\}(?!\}))*\}\}")
IDENTITY_VALUE = re.compile(r"\{\{ \$([kv]) \}\}")
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
    path = LINK_PATH.fullmatch(url[len(GRAFANA_BASE) :])
    if path is None:
        return [f"not /d/<uid>/<slug>[?...]: {url[len(GRAFANA_BASE) :]}"]
    dashboard = dashboards.get(path["uid"])
    if dashboard is None:
        return [f"no generated dashboard has uid {path['uid']!r} (dashboards/*.json)"]
    problems = []
    if path["slug"] != grafana_slug(dashboard["title"]):
        problems.append(f"slug {path['slug']!r}, Grafana's is {grafana_slug(dashboard['title'])!r}")
    variables = {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}
    query = path["query"] or ""
    # Outside the template actions only parameters remain: each must be a var-NAME=VALUE.
    bare = ACTION.sub("", query)
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
            problems.append(
                f"{name}: {dashboard['uid']} has no variable {name[4:]!r} "
                f"(it has {sorted(variables)})"
            )
            continue
        label = LABEL_VALUE.fullmatch(value)
        identity = IDENTITY_VALUE.fullmatch(value)
        if identity:
            # An identity label's name picks the label variable, its value the series variable
            # listing that label's values (`$by`); the promtool cases check rendered links.
            lists = LABEL_VALUES.search(var.get("query", ""))
            if identity[1] == "k" and var["type"] != "custom":
                problems.append(f"{name}={value}: a label's name needs a variable of label choices")
            if identity[1] == "v" and not (
                var["type"] == "query" and lists and lists[1].startswith("$")
            ):
                problems.append(
                    f"{name}={value}: a label's value needs a variable listing the "
                    "values of the chosen label ($by)"
                )
            continue
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
    problems = {
        rule["alert"]: link_problems(rule["annotations"]["dashboard_url"], dashboards)
        for rule in alerts()
    }
    assert {name: p for name, p in problems.items() if p} == {}


@pytest.mark.parametrize(
    "path",
    [
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
        # An identity label's name where its value belongs, and the reverse.
        "/d/promcast-forecast-explorer/promcast-forecast-explorer?var-target={{ $labels.target }}"
        "{{ range $k, $v := $labels }}&var-series={{ $k }}{{ end }}",
        "/d/promcast-forecast-explorer/promcast-forecast-explorer?var-target={{ $labels.target }}"
        "{{ range $k, $v := $labels }}&var-by={{ $v }}{{ end }}",
    ],
)
def test_a_link_to_a_missing_dashboard_or_variable_is_caught(path):
    assert link_problems(GRAFANA_BASE + path, generated_dashboards())
