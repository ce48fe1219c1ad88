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
from exporter.core.catalogue import CATALOGUE
from tests.conftest import need
from tests.dashboard_queries import DASHBOARDS, generated, load, panels, queries

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
        f"{committed.name} is out of date: run python dashboards/generate.py and commit it")


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
    out = subprocess.run([sys.executable, str(DASHBOARDS / "generate.py"), "--check"],
                         capture_output=True, text=True, cwd=ROOT.parent)
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
    assert p["datasource"] == style.DATASOURCE
    assert p["targets"], "a panel without a query"
    assert len({t["refId"] for t in p["targets"]}) == len(p["targets"])
    for t in p["targets"]:
        assert t["datasource"] == style.DATASOURCE
        assert t["expr"].strip()
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
    variables = {v["name"]: v for v in d["templating"]["list"]}
    ds = variables[style.DATASOURCE_VARIABLE]
    assert ds["type"] == "datasource" and ds["query"] == "prometheus"
    for v in variables.values():
        if v["type"] == "query":
            assert v["datasource"] == style.DATASOURCE, v["name"]
    boxes = [(p["gridPos"], p["title"]) for p in panels(d)]
    for i, (a, ta) in enumerate(boxes):
        for b, tb in boxes[i + 1:]:
            overlap = (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
                       and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])
            assert not overlap, f"{ta!r} overlaps {tb!r}"


def test_capacity_overview_has_the_target_variable_and_the_issue_panels():
    d = load(DASHBOARDS / "capacity.json")
    target = next(v for v in d["templating"]["list"] if v["name"] == "target")
    assert target["query"] == "label_values(promcast_target_lead_time_seconds, target)"
    exprs = " ".join(t["expr"] for p in panels(d) for t in p["targets"])
    for needed in ("promcast_forecast_exhaustion_seconds", "promcast_target_lead_time_seconds",
                   "promcast_forecast_observed", "promcast_forecast_capacity",
                   "promcast_forecast_mean", "offset $horizon",
                   "resource:promcast_resource_disk_utilization:ratio",
                   "provider_service:promcast_cost_hourly_rate_usd:sum",
                   "promcast_forecaster_target_up", "promcast_forecaster_results_stale"):
        assert needed in exprs, needed
    table = next(p for p in panels(d) if p["type"] == "table")
    assert table["fieldConfig"]["defaults"]["unit"] in {"s", "dtdurations"}
    assert table["options"]["sortBy"][0]["desc"] is False  # soonest first


# -- series names -----------------------------------------------------------------------------

STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
PROMCAST_NAME = re.compile(r"(?<![\w:$])promcast_\w+")
RULE_NAME = re.compile(r"(?<![\w:$])[a-zA-Z_]\w*:\w+:\w+")


def recorded_names() -> set[str]:
    names = set()
    for path in (ROOT / "rules").glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            names |= {r["record"] for r in group["rules"] if "record" in r}
    return names


def series_names(expr: str) -> set[str]:
    code = STRINGS.sub('""', expr)  # label values are not series names
    return set(PROMCAST_NAME.findall(code)) | set(RULE_NAME.findall(code))


def test_series_name_extraction():
    assert series_names('sum(rate(promcast_x_total{a="promcast_y"}[5m:1m])) / a:b_c:sum'
                        ) == {"promcast_x_total", "a:b_c:sum"}


@pytest.mark.parametrize("path", JSON, ids=lambda p: p.name)
def test_every_series_queried_is_catalogued_or_recorded(path):
    d = load(path)
    known = set(CATALOGUE) | recorded_names()
    exprs = [t["expr"] for p in panels(d) for t in p["targets"]]
    exprs += [v["query"] for v in d["templating"]["list"] if v["type"] == "query"]
    used = set().union(*(series_names(e) for e in exprs))
    assert used, "no promcast series queried at all"
    unknown = sorted(used - known)
    assert not unknown, f"not in exporter/core/catalogue.py nor a rules/ record: {unknown}"


@pytest.mark.parametrize("path", JSON, ids=lambda p: p.name)
def test_every_query_parses_as_promql(path, tmp_path):
    """promtool parses rule expressions offline: every panel query becomes a throwaway rule."""
    need("promtool")
    rules = [{"record": f"dashboard_check:query:{i}", "expr": q.expr}
             for i, q in enumerate(queries(path))]
    rule_file = tmp_path / "panels.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    out = subprocess.run(["promtool", "check", "rules", str(rule_file)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


# -- the quirks render() corrects -------------------------------------------------------------

def test_render_refuses_legacy_graph_panels_and_panels_without_a_unit():
    graph = Dashboard(title="t", panels=[Graph(title="g", targets=[Target(expr="up", refId="A")])])
    with pytest.raises(ValueError, match="graph"):
        style.render(graph)
    unitless = Dashboard(title="t", panels=[TimeSeries(title="u", targets=[Target(expr="up",
                                                                                  refId="A")])])
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
    assert p["fieldConfig"]["defaults"]["thresholds"]["steps"][0] == {"color": "green",
                                                                      "value": None}
    (t,) = p["targets"]
    assert t["refId"] == "A" and t["datasource"] == style.DATASOURCE
    assert not {"query", "target", "metric", "step", "intervalFactor"} & set(t)


def test_thresholds_must_increase():
    with pytest.raises(ValueError):
        style.thresholds("green", (2, "red"), (1, "orange"))
