"""The generated dashboards are what their sources produce, follow the house style, and query
only series that exist (the metric catalogue or a recording rule)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest
import yaml
from grafanalib.core import Dashboard, Graph, Target, TimeSeries

from dashboards import generate, style
from promcast_common.catalogue import CATALOGUE
from promcast_forecaster.selector import parse_selector
from tests.helpers.processes import need
from tests.helpers.dashboard_queries import (
    DASHBOARDS,
    datasource_variable,
    generated,
    load,
    panels,
    queries,
)

ROOT = DASHBOARDS.parent
SOURCES = generate.sources()
JSON = generated()


def test_there_are_dashboards_and_each_json_has_its_source():
    assert SOURCES, "no dashboards/*.dashboard.py"
    assert {generate.output_path(s) for s in SOURCES} == set(JSON)


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_regenerating_gives_exactly_the_committed_json(source):
    committed = generate.output_path(source)
    assert committed.read_text() == generate.render(source), (
        f"{committed.name} is out of date: run python dashboards/generate.py and commit it"
    )


def test_colours_turn_at_the_alerting_config_thresholds(monkeypatch):
    """The dashboards take their numbers from the alerting config the rules are generated from,
    not from the rules file."""
    from rules.config import load

    assert "promcast.rules" not in (DASHBOARDS / "style.py").read_text()
    shipped = load()
    changed = shipped.model_copy(
        update={
            "thresholds": {
                **shipped.thresholds,
                "forecaster_stale_seconds": 1234,
                "anomaly_score_max": 2,
            }
        }
    )
    monkeypatch.setattr(style, "alerting_config", lambda: changed)
    text = generate.render(DASHBOARDS / "self.dashboard.py")
    assert '"value": 1234' in text and '"value": 900' not in text
    assert 'promcast_forecast_anomaly_score{target=~\\"$target\\"} > 2' in generate.render(
        DASHBOARDS / "capacity.dashboard.py"
    )


def test_check_mode_lists_a_stale_file_and_exits_1(tmp_path, capsys):
    source = SOURCES[0]
    shutil.copy(source, tmp_path / source.name)
    assert generate.main(["--dir", str(tmp_path)]) == 0
    assert generate.main(["--check", "--dir", str(tmp_path)]) == 0
    out = generate.output_path(tmp_path / source.name)
    out.write_text(out.read_text().replace("promcast", "promcats", 1))
    capsys.readouterr()
    assert generate.main(["--check", "--dir", str(tmp_path)]) == 1
    assert out.name in capsys.readouterr().out


def test_generator_runs_as_a_script():
    out = subprocess.run(
        [sys.executable, str(DASHBOARDS / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT.parent,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_generated_json_is_sorted_indented_and_ends_with_a_newline():
    for path in JSON:
        text = path.read_text()
        assert text == style.dumps(load(path)), path.name


# -- house style ------------------------------------------------------------------------------


def all_panels():
    return [(path.name, p) for path in JSON for p in panels(load(path))]


def ids(item):
    return f"{item[0]}:{item[1]['title']}"


@pytest.mark.parametrize("panel", all_panels(), ids=ids)
def test_panel_follows_the_house_style(panel):
    _, p = panel
    assert p["type"] in {"timeseries", "stat", "table", "bargauge"}, "no legacy graph/singlestat"
    defaults = p["fieldConfig"]["defaults"]
    assert defaults.get("unit"), "every panel has a unit"
    assert p["targets"], "a panel without a query"
    assert len({t["refId"] for t in p["targets"]}) == len(p["targets"])
    for t in p["targets"]:
        assert t["datasource"] in (style.DATASOURCE, style.FORECASTER), "datasource variables only"
        assert t["expr"].strip()
    sources = {t["datasource"]["uid"] for t in p["targets"]}
    assert p["datasource"] == (style.MIXED if len(sources) > 1 else p["targets"][0]["datasource"])
    for steps in threshold_steps(p):
        assert steps[0]["value"] is None, f"base threshold step must be null: {steps[0]}"
        assert all(isinstance(s["value"], (int, float)) for s in steps[1:]), steps
    pos = p["gridPos"]
    assert 0 <= pos["x"] and pos["x"] + pos["w"] <= 24 and pos["h"] > 0


def threshold_steps(panel: dict):
    field_config = panel["fieldConfig"]
    yield field_config["defaults"]["thresholds"]["steps"]
    for override in field_config.get("overrides", []):
        for prop in override["properties"]:
            if prop["id"] == "thresholds":
                yield prop["value"]["steps"]


@pytest.mark.parametrize("path", JSON, ids=lambda p: p.name)
def test_dashboard_follows_the_house_style(path):
    d = load(path)
    assert d["schemaVersion"] >= 36
    assert d["uid"] and d["id"] is None
    assert d["title"].startswith("promcast / ")
    assert "promcast" in d["tags"]
    assert d["links"] == style.dashboard_links()
    variables = {v["name"]: v for v in d["templating"]["list"]}
    ds = variables[style.DATASOURCE_VARIABLE]
    assert ds["type"] == "datasource" and ds["query"] == "prometheus"
    for v in variables.values():
        if v["type"] == "query":
            assert v["datasource"] == style.DATASOURCE, v["name"]
    for q in queries(path):
        assert variables[q.datasource]["type"] == "datasource", q
    if style.FORECASTER_VARIABLE in variables:
        assert variables[style.FORECASTER_VARIABLE]["regex"] == style.FORECASTER_NAME_REGEX
    for a in d["annotations"]["list"]:
        assert a["datasource"] == style.DATASOURCE and a["enable"], a["name"]
    boxes = [(p["gridPos"], p["title"]) for p in panels(d)]
    for i, (a, ta) in enumerate(boxes):
        for b, tb in boxes[i + 1 :]:
            overlap = (
                a["x"] < b["x"] + b["w"]
                and b["x"] < a["x"] + a["w"]
                and a["y"] < b["y"] + b["h"]
                and b["y"] < a["y"] + a["h"]
            )
            assert not overlap, f"{ta!r} overlaps {tb!r}"


def test_dashboard_uids_are_unique():
    uids = [load(path)["uid"] for path in JSON]
    assert len(uids) == len(set(uids)), uids


@pytest.mark.parametrize("path", JSON, ids=lambda p: p.name)
def test_forecaster_queries_are_plain_selectors_of_the_curves_it_serves(path):
    """The future-curve API evaluates no PromQL: selectors of the curve series only."""
    for q in queries(path):
        if q.datasource == style.FORECASTER_VARIABLE:
            matchers = {m.label: m.value for m in parse_selector(q.expr)}
            assert matchers["__name__"] in {
                "promcast_forecast_mean",
                "promcast_forecast_lower",
                "promcast_forecast_upper",
            }, q
            assert "horizon" not in matchers, f"curves have no horizon label: {q}"


def exprs_of(path) -> str:
    d = load(path)
    return " ".join(
        [t["expr"] for p in panels(d) for t in p["targets"]]
        + [a["expr"] for a in d["annotations"]["list"]]
    )


def test_capacity_overview_has_the_target_variable_and_the_issue_panels():
    d = load(DASHBOARDS / "capacity.json")
    target = next(v for v in d["templating"]["list"] if v["name"] == "target")
    assert target["query"] == "label_values(promcast_target_lead_time_seconds, target)"
    exprs = " ".join(t["expr"] for p in panels(d) for t in p["targets"])
    for needed in (
        "promcast_forecast_exhaustion_seconds",
        "promcast_target_lead_time_seconds",
        "promcast_forecast_observed",
        "promcast_forecast_capacity",
        "promcast_forecast_mean",
        "offset $horizon",
        "resource:promcast_resource_disk_utilization:ratio",
        "provider_service:promcast_cost_hourly_rate_usd:sum",
        "promcast_forecaster_target_up",
        "promcast_forecaster_results_stale",
    ):
        assert needed in exprs, needed
    table = next(p for p in panels(d) if p["type"] == "table")
    assert table["fieldConfig"]["defaults"]["unit"] in {"s", "dtdurations"}
    assert table["options"]["sortBy"][0]["desc"] is False  # soonest first
    assert "promcast_forecast_anomaly_score" in exprs_of(DASHBOARDS / "capacity.json")
    assert any(p["title"].startswith("Top risks") for p in panels(d))


def explorer_links(dashboard: dict) -> list[str]:
    found = []
    for p in panels(dashboard):
        defaults = p["fieldConfig"]["defaults"]
        found += [link["url"] for link in defaults.get("links", [])]
        found += [
            link["url"]
            for o in p["fieldConfig"].get("overrides", [])
            for prop in o["properties"]
            if prop["id"] == "links"
            for link in prop["value"]
        ]
    return [u for u in found if f"/d/{style.EXPLORER_UID}" in u]


def test_capacity_links_open_the_explorer_with_its_variables_filled():
    explorer = load(DASHBOARDS / "explorer.json")
    assert explorer["uid"] == style.EXPLORER_UID
    names = {v["name"] for v in explorer["templating"]["list"]}
    links = explorer_links(load(DASHBOARDS / "capacity.json"))
    assert len(links) >= 2, "the exhaustion table and the charts link to the explorer"
    for url in links:
        params = re.findall(r"var-(\w+)=", url)
        assert {"target", "series"} <= set(params) and set(params) <= names, url
        assert "${datasource:queryparam}" in url  # the same Prometheus


def test_forecast_explorer_has_the_issue_variables_and_panels():
    d = load(DASHBOARDS / "explorer.json")
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert {"target", "series", "horizon", style.FORECASTER_VARIABLE} <= set(variables)
    assert variables["target"]["multi"] is False  # one target: units differ between them
    assert d["time"]["to"].startswith("now+"), "the range reaches beyond now"
    curves = [
        q
        for q in queries(DASHBOARDS / "explorer.json")
        if q.datasource == style.FORECASTER_VARIABLE
    ]
    drawn = {
        (q.expr.split("{")[0], ('level="95"' in q.expr) or ('level="80"' in q.expr)) for q in curves
    }
    assert drawn == {
        ("promcast_forecast_mean", False),
        ("promcast_forecast_lower", True),
        ("promcast_forecast_upper", True),
    }
    assert {'level="80"', 'level="95"'} <= {
        lv for q in curves for lv in re.findall(r'level="\d+"', q.expr)
    }
    exprs = exprs_of(DASHBOARDS / "explorer.json")
    for needed in (
        "offset $horizon",
        "promcast_forecast_model_info",
        "promcast_forecast_backtest_mase",
        "promcast_forecast_backtest_coverage_ratio",
        "promcast_forecast_anomaly_score",
    ):
        assert needed in exprs, needed
    (anomalies,) = d["annotations"]["list"]
    assert anomalies["expr"].startswith("promcast_forecast_anomaly_score")
    assert anomalies["expr"].endswith("> 1")


def test_cost_dashboard_uses_the_recording_rules_budgets_anomalies_and_forecast():
    exprs = exprs_of(DASHBOARDS / "cost.json")
    for needed in (
        "provider_service:promcast_cost_hourly_rate_usd:sum",
        "provider_billing_account:promcast_cost_hourly_rate_usd:sum",
        "provider_service:promcast_cost_month_to_date_usd:sum",
        "provider_billing_account:promcast_cost_month_to_date_usd:sum",
        "provider_service:promcast_cost_daily_usd:sum",
        "promcast_budget_amount",
        "promcast_budget_spend",
        "promcast_budget_projected_spend",
        "promcast_budget_projected_spend_lower",
        "promcast_budget_projected_spend_upper",
        "promcast_budget_overrun_probability_ratio",
        "promcast_forecast_anomaly_score",
        "offset $horizon",
    ):
        assert needed in exprs, needed
    assert any(q.datasource == style.FORECASTER_VARIABLE for q in queries(DASHBOARDS / "cost.json"))


def test_self_monitoring_covers_cycles_failures_cardinality_api_calls_and_remote_write():
    exprs = exprs_of(DASHBOARDS / "self.json")
    for needed in (
        "promcast_forecaster_cycle_duration_seconds",
        'promcast_forecaster_cycles_total{target=~"$target", result="error"}',
        "promcast_forecaster_results_stale",
        "promcast_forecaster_target_series",
        "promcast_forecaster_dropped_series_total",
        "promcast_forecaster_remote_write_samples_total",
        "promcast_exporter_refresh_success",
        "promcast_exporter_api_calls_total",
        "promcast_exporter_api_cost_usd_total",
        "promcast_exporter_last_refresh_success_timestamp_seconds",
    ):
        assert needed in exprs, needed


def test_the_forecaster_datasource_is_provisioned_for_the_dashboards():
    folder = ROOT / "dashboards" / "provisioning" / "datasources"
    by_uid = {
        ds["uid"]: ds
        for f in folder.glob("*.yml")
        for ds in yaml.safe_load(f.read_text())["datasources"]
    }
    ds = by_uid[style.PROVISIONED_FORECASTER_UID]
    assert ds["type"] == "prometheus" and not ds["isDefault"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    port = next(
        c.rsplit(":", 1)[1]
        for c in compose["services"]["forecaster"]["command"]
        if c.startswith("--web.listen-address=")
    )
    assert ds["url"] == f"http://forecaster:{port}"
    pattern, flags = style.FORECASTER_NAME_REGEX[1:].rsplit("/", 1)
    pick = re.compile(pattern, re.I if "i" in flags else 0)
    assert pick.search(ds["name"]), "the ${forecaster} variable offers it"
    assert not any(
        pick.search(other["name"])
        for uid, other in by_uid.items()
        if uid != style.PROVISIONED_FORECASTER_UID
    )


def test_the_demo_and_compose_forecasters_are_the_same_but_for_prometheus():
    # The dashboards are proven on the demo stack; compose must feed them the same way (budgets
    # for the cost panels, recommendations for their dashboard and tickets).
    demo, compose = (
        yaml.safe_load((ROOT / f / "forecaster.yml").read_text()) for f in ("demo", "docker")
    )
    for cfg in (demo, compose):
        cfg["prometheus"].pop("url")
    assert demo == compose
    assert demo["budgets"] and demo["recommendations"]


# -- series names -----------------------------------------------------------------------------

STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
PROMCAST_NAME = re.compile(r"(?<![\w:$])promcast_\w+")
RULE_NAME = re.compile(r"(?<![\w:$])[a-zA-Z_]\w*:\w+:\w+")


def recorded_names() -> set[str]:
    names = set()
    for group in yaml.safe_load((ROOT / "rules" / "promcast.rules.yml").read_text())["groups"]:
        names |= {r["record"] for r in group["rules"] if "record" in r}
    return names


def series_names(expr: str) -> set[str]:
    code = STRINGS.sub('""', expr)  # label values are not series names
    return set(PROMCAST_NAME.findall(code)) | set(RULE_NAME.findall(code))


def test_series_name_extraction():
    assert series_names('sum(rate(promcast_x_total{a="promcast_y"}[5m:1m])) / a:b_c:sum') == {
        "promcast_x_total",
        "a:b_c:sum",
    }


@pytest.mark.parametrize("path", JSON, ids=lambda p: p.name)
def test_every_series_queried_is_catalogued_or_recorded(path):
    d = load(path)
    known = set(CATALOGUE) | recorded_names()
    exprs = [q.expr for q in queries(path)]  # panels and annotations
    exprs += [v["query"] for v in d["templating"]["list"] if v["type"] == "query"]
    used = set().union(*(series_names(e) for e in exprs))
    assert used, "no promcast series queried at all"
    unknown = sorted(used - known)
    assert not unknown, f"not in common/catalogue.py nor a rules/ record: {unknown}"


@pytest.mark.parametrize("path", JSON, ids=lambda p: p.name)
def test_every_query_parses_as_promql(path, tmp_path):
    """promtool parses rule expressions offline: every panel query becomes a throwaway rule."""
    need("promtool")
    rules = [
        {"record": f"dashboard_check:query:{i}", "expr": q.expr}
        for i, q in enumerate(queries(path))
    ]
    rule_file = tmp_path / "panels.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    out = subprocess.run(
        ["promtool", "check", "rules", str(rule_file)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr


# -- the quirks render() corrects -------------------------------------------------------------


def test_render_refuses_legacy_graph_panels_and_panels_without_a_unit():
    graph = Dashboard(title="t", panels=[Graph(title="g", targets=[Target(expr="up", refId="A")])])
    with pytest.raises(ValueError, match="graph"):
        style.render(graph)
    unitless = Dashboard(
        title="t", panels=[TimeSeries(title="u", targets=[Target(expr="up", refId="A")])]
    )
    with pytest.raises(ValueError, match="no unit"):
        style.render(unitless)


def test_render_fixes_grafanalib_defaults():
    panel = style.bargauge("b", style.query("up"), unit=style.Unit.RATIO, max=1)
    d = style.render(Dashboard(title="t", panels=style.flow([panel])))
    assert d["schemaVersion"] == style.SCHEMA_VERSION
    assert "rows" not in d and "style" not in d
    (p,) = d["panels"]
    assert "fieldOptions" not in p["options"]  # the Grafana 6 layout
    assert p["fieldConfig"]["defaults"]["unit"] == "percentunit"
    assert p["fieldConfig"]["defaults"]["thresholds"]["steps"][0] == {
        "color": "green",
        "value": None,
    }
    (t,) = p["targets"]
    assert t["refId"] == "A" and t["datasource"] == style.DATASOURCE
    assert not {"query", "target", "metric", "step", "intervalFactor"} & set(t)


def test_render_makes_a_panel_of_both_datasources_mixed():
    panel = style.timeseries(
        "t", style.query("up"), style.curve('promcast_forecast_mean{a="b"}'), unit=style.Unit.COUNT
    )
    (p,) = style.render(Dashboard(title="t", panels=style.flow([panel])))["panels"]
    assert p["datasource"] == style.MIXED
    assert [t["datasource"] for t in p["targets"]] == [style.DATASOURCE, style.FORECASTER]
    assert datasource_variable(p["targets"][1]["datasource"]) == style.FORECASTER_VARIABLE


def test_thresholds_must_increase():
    with pytest.raises(ValueError):
        style.thresholds("green", (2, "red"), (1, "orange"))
