"""The promcast house style for Grafana dashboards, in one place.

Dashboard files (``*.dashboard.py``) build their panels with the helpers here, so every panel
queries the ``${datasource}`` variable, has a unit and uses the same colours and threshold
shape. :func:`render` turns a grafanalib ``Dashboard`` into the JSON Grafana 10/11 expects:
grafanalib 0.7.1 emits an old schema (version 12, legacy keys, bar gauges in the Grafana 6
layout, a base threshold step of the *string* ``"null"``), and every correction of that lives
in :func:`render` rather than in each dashboard.
"""

from __future__ import annotations

import json
import string
from typing import Any, Iterable, Sequence

import attr
from grafanalib.core import (
    BarGauge,
    Dashboard,
    GridPos,
    Panel,
    Stat,
    Table,
    TableSortByField,
    Target,
    Template,
    Templating,
    TimeSeries,
)
from grafanalib._gen import DashboardEncoder

# Grafana 10.4 / 11 write this version; older Grafana refuses nothing newer than it knows, but
# migrates anything older, so generate the current one and skip the migrations.
SCHEMA_VERSION = 39
PANEL_TYPES = frozenset({"timeseries", "stat", "table", "bargauge"})

DATASOURCE_VARIABLE = "datasource"
DATASOURCE = {"type": "prometheus", "uid": "${%s}" % DATASOURCE_VARIABLE}
# The uid the provisioned datasource keeps (dashboards/provisioning/datasources/promcast.yml).
PROVISIONED_DATASOURCE_UID = "promcast-prometheus"

TAGS = ["promcast"]  # every promcast dashboard carries it; Grafana's dashboard list filters on it


class Unit:
    """Grafana unit ids: one name per kind of value promcast publishes."""

    SECONDS = "s"
    DURATION = "dtdurations"  # "3 days, 4 hours": time to exhaustion, lead times
    RATIO = "percentunit"  # 0-1 shown as percent: utilisation
    USD = "currencyUSD"
    USD_PER_HOUR = "currencyUSD"  # Grafana has no rate-of-money unit; titles say "per hour"
    COUNT = "short"
    STATE = "none"  # 0/1 flags, shown through value mappings


class Colour:
    GOOD = "green"
    WARN = "orange"
    BAD = "red"
    NEUTRAL = "text"
    FORECAST = "blue"


def thresholds(base: str, *steps: tuple[float, str]) -> list[dict[str, Any]]:
    """Threshold steps in the Grafana 10/11 shape: the base step has the value JSON null.

    ``thresholds(Colour.GOOD, (0.8, Colour.WARN), (1, Colour.BAD))``.
    """
    values = [v for v, _ in steps]
    if values != sorted(values):
        raise ValueError(f"threshold values must increase: {values}")
    return [{"color": base, "value": None}] + [{"color": c, "value": v} for v, c in steps]


def value_text(mapping: dict[float, tuple[str, str]]) -> list[dict[str, Any]]:
    """Value mappings for 0/1 flags: ``{1: ("up", Colour.GOOD), 0: ("down", Colour.BAD)}``."""
    return [{
        "type": "value",
        "options": {str(int(v) if float(v).is_integer() else v): {"text": text, "color": colour,
                                                                  "index": i}
                    for i, (v, (text, colour)) in enumerate(sorted(mapping.items()))},
    }]


# -- queries ----------------------------------------------------------------------------------

def query(expr: str, legend: str = "", *, instant: bool = False, table: bool = False) -> Target:
    """One PromQL query of a panel; refIds are given by the panel helpers in order."""
    return Target(expr=expr, legendFormat=legend, instant=instant or table,
                  format="table" if table else "time_series", datasource=DATASOURCE)


def _with_ref_ids(queries: Sequence[Target]) -> list[Target]:
    if not queries:
        raise ValueError("a panel needs at least one query")
    letters = string.ascii_uppercase
    return [attr.evolve(q, refId=q.refId or letters[i]) for i, q in enumerate(queries)]


# -- panels -----------------------------------------------------------------------------------
# Each helper takes the size in grid units (24 wide); :func:`flow` places panels left to right.

def _common(title: str, description: str, queries: Sequence[Target], w: int, h: int) -> dict:
    return dict(title=title, description=description or None, targets=_with_ref_ids(queries),
                dataSource=DATASOURCE, gridPos=GridPos(h=h, w=w, x=0, y=0))


def timeseries(title: str, *queries: Target, unit: str, description: str = "", w: int = 12,
               h: int = 8, steps: list[dict] | None = None, min: int | None = None,
               max: int | None = None, stack: bool = False, overrides: list[dict] | None = None,
               show_thresholds: bool = False) -> TimeSeries:
    return TimeSeries(
        **_common(title, description, queries, w, h), unit=unit,
        thresholds=steps or thresholds(Colour.GOOD),
        thresholdsStyleMode="dashed" if show_thresholds else "off",
        valueMin=min, valueMax=max, fillOpacity=30 if stack else 10,
        stacking={"mode": "normal", "group": "A"} if stack else {"mode": "none"},
        legendDisplayMode="table", legendPlacement="right", legendCalcs=["lastNotNull"],
        tooltipMode="multi", tooltipSort="desc", overrides=overrides or [], spanNulls=True,
    )


def stat(title: str, *queries: Target, unit: str, description: str = "", w: int = 6, h: int = 4,
         steps: list[dict] | None = None, mappings: list[dict] | None = None,
         no_value: str = "no data", text_mode: str = "auto") -> Stat:
    return Stat(
        **_common(title, description, queries, w, h), format=unit,
        thresholds=steps or thresholds(Colour.GOOD), mappings=mappings or [],
        colorMode="background" if steps else "value", graphMode="none",
        reduceCalc="lastNotNull", noValue=no_value, textMode=text_mode,
    )


def table(title: str, *queries: Target, unit: str, description: str = "", w: int = 12,
          h: int = 8, overrides: list[dict] | None = None, sort_by: str | None = None,
          hide: Iterable[str] = ("Time",)) -> Table:
    """A table of instant queries, one row per series: the queries' value columns are merged
    on their labels, so every query must return the same label set (no ``__name__``)."""
    panel = Table(
        **_common(title, description, queries, w, h), unit=unit, overrides=overrides or [],
        thresholds=thresholds(Colour.NEUTRAL), filterable=True,
        transformations=[
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {"excludeByName": {c: True for c in hide}}},
        ],
    )
    if sort_by:
        panel.sortBy = [TableSortByField(displayName=sort_by, desc=False)]
    return panel


def bargauge(title: str, *queries: Target, unit: str, description: str = "", w: int = 12,
             h: int = 8, min: float = 0, max: float | None = None,
             steps: list[dict] | None = None) -> BarGauge:
    return BarGauge(
        **_common(title, description, queries, w, h), format=unit, min=min, max=max,
        thresholds=steps or thresholds(Colour.GOOD), calc="lastNotNull",
        displayMode="gradient", orientation="horizontal",
    )


def column(name: str, *, display: str, unit: str | None = None,
           steps: list[dict] | None = None, cell: str | None = None) -> dict[str, Any]:
    """A field override for a table column or a series, found by its name in the frame."""
    props = [{"id": "displayName", "value": display}]
    if unit:
        props.append({"id": "unit", "value": unit})
    if steps:
        props.append({"id": "thresholds", "value": {"mode": "absolute", "steps": steps}})
    if cell:
        props.append({"id": "custom.cellOptions", "value": {"type": cell}})
    return {"matcher": {"id": "byName", "options": name}, "properties": props}


def series_colour(regex: str, colour: str, *, dashed: bool = False) -> dict[str, Any]:
    """Colour the time series whose display name matches ``regex``."""
    props = [{"id": "color", "value": {"mode": "fixed", "fixedColor": colour}}]
    if dashed:
        props.append({"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}})
    return {"matcher": {"id": "byRegexp", "options": regex}, "properties": props}


def flow(panels: Sequence[Panel]) -> list[Panel]:
    """Place panels left to right in a 24-unit grid, wrapping to a new row when one is full."""
    placed, x, y, row_h = [], 0, 0, 0
    for p in panels:
        pos = p.gridPos
        if x + pos.w > 24:
            x, y, row_h = 0, y + row_h, 0
        p.gridPos = GridPos(h=pos.h, w=pos.w, x=x, y=y)
        x, row_h = x + pos.w, max(row_h, pos.h)
        placed.append(p)
    return placed


# -- variables --------------------------------------------------------------------------------

def query_variable(name: str, label: str, query: str, *, multi: bool = True,
                   default: str | None = None) -> Template:
    """A variable filled from Prometheus; ``All`` is the regex ``.+`` so it suits ``=~``."""
    return Template(name=name, label=label, query=query, dataSource=DATASOURCE,
                    includeAll=multi, multi=multi, allValue=".+" if multi else None,
                    default=default if default is not None else ("$__all" if multi else None),
                    refresh=2)  # on time range change: targets come and go


def templating(*variables: Template) -> Templating:
    """The datasource variable first (every query uses it), then the dashboard's own."""
    ds = Template(name=DATASOURCE_VARIABLE, label="Data source", query="prometheus",
                  type="datasource")
    return Templating(list=[ds, *variables])


# -- rendering: grafanalib 0.7.1 -> Grafana 10/11 JSON ----------------------------------------

_LEGACY_DASHBOARD_KEYS = ("rows", "style", "hideControls", "sharedCrosshair", "__inputs")
# maxDataPoints: grafanalib's default of 100 makes a week-long panel step by ~2 h; without it
# Grafana derives the resolution from the panel's width.
_LEGACY_PANEL_KEYS = ("span", "height", "minSpan", "error", "editable", "columns", "fontSize",
                      "styles", "cacheTimeout", "repeat", "repeatDirection", "maxPerRow",
                      "maxDataPoints")
# Keys grafanalib writes on every target that belong to Graphite or to Grafana < 7.
_LEGACY_TARGET_KEYS = ("query", "target", "metric", "step", "intervalFactor")
_LEGACY_STEP_KEYS = ("op", "yaxis", "line", "index")


def render(dashboard: Dashboard) -> dict[str, Any]:
    """The dashboard as Grafana 10/11 JSON data, ids assigned and grafanalib's quirks fixed."""
    data = json.loads(json.dumps(dashboard.auto_panel_ids().to_json_data(), cls=DashboardEncoder))
    for key in _LEGACY_DASHBOARD_KEYS:
        data.pop(key, None)
    data["schemaVersion"] = SCHEMA_VERSION
    data["id"] = None  # provisioning assigns ids; a fixed one clashes across Grafana instances
    data["panels"] = [_fix_panel(p) for p in data["panels"]]
    picker = data["timepicker"]
    for key in ("nowDelay", "time_options"):  # gone from Grafana's time picker
        picker.pop(key, None)
    for var in data["templating"]["list"]:
        _fix_variable(var)
    return data


def _fix_panel(panel: dict[str, Any]) -> dict[str, Any]:
    kind = panel.get("type")
    if kind not in PANEL_TYPES:
        # `graph` and `singlestat` are gone from Grafana 11 (auto-migrated, lossy); refuse them.
        raise ValueError(f"panel {panel.get('title')!r}: type {kind!r} is not one of "
                         f"{sorted(PANEL_TYPES)}")
    if kind == "bargauge":
        _fix_bargauge(panel)
    if kind == "table":
        _fix_table(panel)
    for key in _LEGACY_PANEL_KEYS:
        panel.pop(key, None)
    _drop_nulls(panel)
    panel["datasource"] = dict(DATASOURCE)
    panel["targets"] = [_fix_target(t) for t in panel["targets"]]
    defaults = panel.setdefault("fieldConfig", {}).setdefault("defaults", {})
    _drop_nulls(defaults)
    _drop_nulls(defaults.get("custom", {}))
    if kind == "stat" and "color" not in defaults:
        defaults["color"] = {"mode": "thresholds"}  # grafanalib writes null: no colouring at all
    if not defaults.get("unit"):
        raise ValueError(f"panel {panel['title']!r} has no unit")
    steps = defaults.get("thresholds", {}).get("steps")
    if not steps:
        defaults["thresholds"] = {"mode": "absolute", "steps": thresholds(Colour.GOOD)}
    else:
        for step in steps:
            for key in _LEGACY_STEP_KEYS:
                step.pop(key, None)
        steps[0]["value"] = None  # grafanalib's Threshold writes the string "null" here
    return panel


def _drop_nulls(d: dict[str, Any]) -> None:
    for key in [k for k, v in d.items() if v is None]:
        del d[key]


def _fix_target(target: dict[str, Any]) -> dict[str, Any]:
    for key in _LEGACY_TARGET_KEYS:
        target.pop(key, None)
    target["datasource"] = dict(DATASOURCE)
    target["editorMode"] = "code"
    target["range"] = not target["instant"]
    if not target.get("interval"):
        target.pop("interval", None)
    return target


def _fix_bargauge(panel: dict[str, Any]) -> None:
    """grafanalib writes the Grafana 6 ``options.fieldOptions`` layout; Grafana 7+ reads the
    unit, range and thresholds from ``fieldConfig.defaults`` and the reduction from
    ``options.reduceOptions``."""
    options = panel["options"]
    legacy = options.pop("fieldOptions")
    defaults = panel.setdefault("fieldConfig", {}).setdefault("defaults", {})
    for key in ("unit", "min", "max", "decimals", "links"):
        if legacy["defaults"].get(key) is not None:
            defaults[key] = legacy["defaults"][key]
    defaults["thresholds"] = {"mode": "absolute", "steps": legacy["thresholds"]}
    defaults["mappings"] = legacy["mappings"]
    panel["fieldConfig"].setdefault("overrides", [])
    options["reduceOptions"] = {"calcs": legacy["calcs"], "values": legacy["values"],
                                "fields": ""}
    if legacy.get("limit") is not None:
        options["reduceOptions"]["limit"] = legacy["limit"]
    options["showUnfilled"] = True
    options["valueMode"] = "color"


def _fix_table(panel: dict[str, Any]) -> None:
    """grafanalib puts colour and mappings beside ``fieldConfig`` and uses the cell
    ``displayMode`` Grafana 10.1 replaced with ``cellOptions``."""
    defaults = panel["fieldConfig"]["defaults"]
    defaults["color"] = panel.pop("color")
    defaults["mappings"] = panel.pop("mappings")
    custom = defaults["custom"]
    custom["cellOptions"] = {"type": custom.pop("displayMode")}
    panel["options"].setdefault("cellHeight", "sm")


def _fix_variable(var: dict[str, Any]) -> None:
    if var["type"] == "datasource":
        # No fixed current value: Grafana selects the default Prometheus datasource.
        var.update(current={}, datasource=None, regex="", refresh=1)
    else:
        var["datasource"] = dict(DATASOURCE)
        var["definition"] = var["query"]
    for key in ("useTags", "tagsQuery", "tagValuesQuery", "auto", "auto_min", "auto_count"):
        var.pop(key, None)
    var["regex"] = var["regex"] or ""
    var.get("current", {}).pop("tags", None)
    if var.get("current", {}).get("value") == "$__all":
        var["current"] = {"selected": True, "text": ["All"], "value": ["$__all"]}


def dumps(data: dict[str, Any]) -> str:
    """The committed form: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(data, sort_keys=True, indent=2) + "\n"
