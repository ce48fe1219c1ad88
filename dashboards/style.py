"""The promcast house style for Grafana dashboards, in one place.

Dashboard files (``*.dashboard.py``) build their panels with the helpers here, so every panel
queries a datasource variable (``${datasource}``, Prometheus; ``${forecaster}`` for the forecast
curves beyond "now"), has a unit and uses the same colours and threshold shape. :func:`render` turns a grafanalib ``Dashboard`` into the JSON Grafana 10/11 expects:
grafanalib 0.7.1 emits an old schema (version 12, legacy keys, bar gauges in the Grafana 6
layout, a base threshold step of the *string* ``"null"``), and every correction of that lives
in :func:`render` rather than in each dashboard.
"""

from __future__ import annotations

import functools
import json
import string
from typing import Any, Iterable, Sequence

import attr
from grafanalib._gen import DashboardEncoder
from grafanalib.core import (
    Annotations,
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
    Time,
    TimeSeries,
)

from rules.config import AlertingConfig
from rules.config import load as load_alerting_config

# Grafana 10.4 / 11 write this version; older Grafana refuses nothing newer than it knows, but
# migrates anything older, so generate the current one and skip the migrations.
SCHEMA_VERSION = 39
PANEL_TYPES = frozenset({"timeseries", "stat", "table", "bargauge"})

DATASOURCE_VARIABLE = "datasource"
DATASOURCE = {"type": "prometheus", "uid": "${%s}" % DATASOURCE_VARIABLE}
# The uid the provisioned datasource keeps (dashboards/provisioning/datasources/promcast.yml).
PROVISIONED_DATASOURCE_UID = "promcast-prometheus"
# The forecaster's future-curve API is a second Prometheus-type datasource
# (dashboards/provisioning/datasources/forecaster.yml): it answers series selectors only, with
# samples at the times they forecast, so Grafana draws forecasts beyond "now".
FORECASTER_VARIABLE = "forecaster"
FORECASTER = {"type": "prometheus", "uid": "${%s}" % FORECASTER_VARIABLE}
PROVISIONED_FORECASTER_UID = "promcast-forecaster"
# The datasource variable offers the datasources whose name matches this (Grafana's /re/flags).
FORECASTER_NAME_REGEX = "/forecaster/i"
# A panel whose queries go to both datasources.
MIXED = {"type": "datasource", "uid": "-- Mixed --"}

# Dashboard uids: links between dashboards and alert rules' dashboard_url name them.
EXPLORER_UID = "promcast-forecast-explorer"
# Legend of a forecast series, whatever its label scheme: promcast's resource series carry
# resource_id, cost series service, CloudWatch instance_id, Kubernetes namespace and pod,
# node_exporter instance and mountpoint (a label a series lacks shows as nothing).
SERIES_LEGEND = (
    "{{target}} {{resource_id}}{{service}}{{instance_id}} {{namespace}} {{pod}} "
    "{{mountpoint}} {{instance}}"
)

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
    BAND = {"80": "light-blue", "95": "super-light-blue"}  # interval bounds by level


def alert_threshold(name: str) -> float:
    """A threshold of the alerting config (``rules/source/config.yml``) the alerts compare against, so
    a dashboard's colours turn where the alert fires; regenerate the dashboards after changing it."""
    return alerting_config().thresholds[name]


@functools.cache
def alerting_config() -> AlertingConfig:
    return load_alerting_config()


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
    return [
        {
            "type": "value",
            "options": {
                str(int(v) if float(v).is_integer() else v): {
                    "text": text,
                    "color": colour,
                    "index": i,
                }
                for i, (v, (text, colour)) in enumerate(sorted(mapping.items()))
            },
        }
    ]


# -- queries ----------------------------------------------------------------------------------


def query(
    expr: str,
    legend: str = "",
    *,
    instant: bool = False,
    table: bool = False,
    datasource: dict[str, str] = DATASOURCE,
) -> Target:
    """One PromQL query of a panel; refIds are given by the panel helpers in order."""
    return Target(
        expr=expr,
        legendFormat=legend,
        instant=instant or table,
        format="table" if table else "time_series",
        datasource=dict(datasource),
    )


def curve(selector: str, legend: str = "") -> Target:
    """A query of the forecaster's future-curve datasource: a plain series selector (no
    functions, operators or ``offset``), answered with the forecast at the times it is about."""
    return query(selector, legend, datasource=FORECASTER)


def _with_ref_ids(queries: Sequence[Target]) -> list[Target]:
    if not queries:
        raise ValueError("a panel needs at least one query")
    letters = string.ascii_uppercase
    return [attr.evolve(q, refId=q.refId or letters[i]) for i, q in enumerate(queries)]


# -- panels -----------------------------------------------------------------------------------
# Each helper takes the size in grid units (24 wide); :func:`flow` places panels left to right.


def _common(title: str, description: str, queries: Sequence[Target], w: int, h: int) -> dict:
    return dict(
        title=title,
        description=description or None,
        targets=_with_ref_ids(queries),
        dataSource=DATASOURCE,
        gridPos=GridPos(h=h, w=w, x=0, y=0),
    )


def timeseries(
    title: str,
    *queries: Target,
    unit: str,
    description: str = "",
    w: int = 12,
    h: int = 8,
    steps: list[dict] | None = None,
    min: int | None = None,
    max: int | None = None,
    stack: bool = False,
    overrides: list[dict] | None = None,
    show_thresholds: bool = False,
) -> TimeSeries:
    return TimeSeries(
        **_common(title, description, queries, w, h),
        unit=unit,
        thresholds=steps or thresholds(Colour.GOOD),
        thresholdsStyleMode="dashed" if show_thresholds else "off",
        valueMin=min,
        valueMax=max,
        fillOpacity=30 if stack else 10,
        stacking={"mode": "normal", "group": "A"} if stack else {"mode": "none"},
        legendDisplayMode="table",
        legendPlacement="right",
        legendCalcs=["lastNotNull"],
        tooltipMode="multi",
        tooltipSort="desc",
        overrides=overrides or [],
        spanNulls=True,
    )


def stat(
    title: str,
    *queries: Target,
    unit: str,
    description: str = "",
    w: int = 6,
    h: int = 4,
    steps: list[dict] | None = None,
    mappings: list[dict] | None = None,
    no_value: str = "no data",
    text_mode: str = "auto",
) -> Stat:
    return Stat(
        **_common(title, description, queries, w, h),
        format=unit,
        thresholds=steps or thresholds(Colour.GOOD),
        mappings=mappings or [],
        colorMode="background" if steps else "value",
        graphMode="none",
        reduceCalc="lastNotNull",
        noValue=no_value,
        textMode=text_mode,
    )


def table(
    title: str,
    *queries: Target,
    unit: str,
    description: str = "",
    w: int = 12,
    h: int = 8,
    overrides: list[dict] | None = None,
    sort_by: str | None = None,
    hide: Iterable[str] = ("Time",),
) -> Table:
    """A table of instant queries, one row per series: the queries' value columns are merged
    on their labels, so every query must return the same label set (no ``__name__``)."""
    panel = Table(
        **_common(title, description, queries, w, h),
        unit=unit,
        overrides=overrides or [],
        thresholds=thresholds(Colour.NEUTRAL),
        filterable=True,
        transformations=[
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {"excludeByName": {c: True for c in hide}}},
        ],
    )
    if sort_by:
        panel.sortBy = [TableSortByField(displayName=sort_by, desc=False)]
    return panel


def bargauge(
    title: str,
    *queries: Target,
    unit: str,
    description: str = "",
    w: int = 12,
    h: int = 8,
    min: float = 0,
    max: float | None = None,
    steps: list[dict] | None = None,
    links: list[dict] | None = None,
) -> BarGauge:
    return BarGauge(
        **_common(title, description, queries, w, h),
        format=unit,
        min=min,
        max=max,
        thresholds=steps or thresholds(Colour.GOOD),
        calc="lastNotNull",
        displayMode="gradient",
        orientation="horizontal",
        dataLinks=links or [],
    )


def column(
    name: str,
    *,
    display: str,
    unit: str | None = None,
    steps: list[dict] | None = None,
    cell: str | None = None,
    links: list[dict] | None = None,
) -> dict[str, Any]:
    """A field override for a table column or a series, found by its name in the frame."""
    props = [{"id": "displayName", "value": display}]
    if unit:
        props.append({"id": "unit", "value": unit})
    if steps:
        props.append({"id": "thresholds", "value": {"mode": "absolute", "steps": steps}})
    if cell:
        props.append({"id": "custom.cellOptions", "value": {"type": cell}})
    if links:
        props.append({"id": "links", "value": links})
    return {"matcher": {"id": "byName", "options": name}, "properties": props}


def series_colour(regex: str, colour: str, *, dashed: bool = False) -> dict[str, Any]:
    """Colour the time series whose display name matches ``regex``."""
    props = [{"id": "color", "value": {"mode": "fixed", "fixedColor": colour}}]
    if dashed:
        props.append({"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}})
    return {"matcher": {"id": "byRegexp", "options": regex}, "properties": props}


def flag_stat(
    title: str,
    expr: str,
    legend: str,
    *,
    ok: tuple[int, str],
    problem: tuple[int, str, str],
    description: str = "",
    w: int = 5,
    h: int = 4,
) -> Stat:
    """A 0/1 flag per series shown as a word: ``ok=(1, "up")``, ``problem=(0, "failing",
    Colour.BAD)``."""
    ok_value, ok_text = ok
    bad_value, bad_text, bad_colour = problem
    colours = {ok_value: Colour.GOOD, bad_value: bad_colour}
    return stat(
        title,
        query(expr, legend, instant=True),
        unit=Unit.STATE,
        w=w,
        h=h,
        description=description,
        text_mode="value_and_name",
        steps=thresholds(colours[0], (1, colours[1])),
        mappings=value_text({ok_value: (ok_text, Colour.GOOD), bad_value: (bad_text, bad_colour)}),
    )


def explorer_link(target: str, field: str) -> dict[str, Any]:
    """A data link opening the forecast explorer on one series. ``target`` is a Grafana link
    expression, e.g. ``${__data.fields.target}`` in a table; ``field`` what names a label's
    value there (``${__data.fields.%s}`` in a table, ``${__field.labels.%s}`` in a chart).

    A link cannot tell per row which labels are the target's identity_labels (alerts can, see
    the rules), so it selects by ``resource_id`` and ``instance``: one resource of promcast's
    exporter, or one node_exporter host (all its mountpoints); a label a series lacks matches
    it as empty."""
    url = (
        f"/d/{EXPLORER_UID}?${{{DATASOURCE_VARIABLE}:queryparam}}&var-target={target}"
        f"&var-by=resource_id&var-series={field % 'resource_id'}"
        f"&var-by2=instance&var-series2={field % 'instance'}"
    )
    return {"title": "Open in the forecast explorer", "url": url, "targetBlank": False}


def _forecast_overrides(levels: Sequence[str]) -> list[dict[str, Any]]:
    return [series_colour(".* forecast$", Colour.FORECAST, dashed=True)] + [
        series_colour(f".* {lv}% (low|high)$", Colour.BAND[lv], dashed=True) for lv in levels
    ]


def forecast_vs_actual(
    title: str,
    selector: str,
    *,
    unit: str,
    horizon: str = "$horizon",
    levels: Sequence[str] = ("80",),
    description: str = "",
    w: int = 24,
    h: int = 9,
) -> TimeSeries:
    """What was observed, and the forecast made ``horizon`` ago for each moment, from
    Prometheus alone: forecasts are stamped when made, so ``offset`` moves them to the time they
    are about (past the last sample when the range reaches into the future).

    ``selector`` is the inside of a label selector, e.g. ``target=~"$target"``."""
    shift = f"offset {horizon}"
    queries = [
        query(f"promcast_forecast_observed{{{selector}}}", SERIES_LEGEND + " actual"),
        query(
            f'promcast_forecast_mean{{{selector}, horizon="{horizon}"}} {shift}',
            SERIES_LEGEND + " forecast",
        ),
    ]
    for lv in levels:
        band = f'{{{selector}, horizon="{horizon}", level="{lv}"}}'
        queries += [
            query(f"promcast_forecast_{side}{band} {shift}", f"{SERIES_LEGEND} {lv}% {end}")
            for side, end in (("lower", "low"), ("upper", "high"))
        ]
    return timeseries(
        title,
        *queries,
        unit=unit,
        w=w,
        h=h,
        description=description,
        overrides=_forecast_overrides(levels),
    )


def forecast_curves(
    title: str,
    selector: str,
    *,
    unit: str,
    actual: Target | None = None,
    levels: Sequence[str] = ("80", "95"),
    description: str = "",
    w: int = 24,
    h: int = 10,
) -> TimeSeries:
    """The actual from Prometheus and the whole forecast curve with its bands from the
    forecaster's future-curve datasource, drawn beyond "now" (the dashboard's range must reach
    into the future). ``selector`` as for :func:`forecast_vs_actual`."""
    queries = [
        actual or query(f"promcast_forecast_observed{{{selector}}}", SERIES_LEGEND + " actual"),
        curve(f"promcast_forecast_mean{{{selector}}}", SERIES_LEGEND + " forecast"),
    ]
    for lv in levels:
        band = f'{{{selector}, level="{lv}"}}'
        queries += [
            curve(f"promcast_forecast_{side}{band}", f"{SERIES_LEGEND} {lv}% {end}")
            for side, end in (("lower", "low"), ("upper", "high"))
        ]
    return timeseries(
        title,
        *queries,
        unit=unit,
        w=w,
        h=h,
        description=description,
        overrides=_forecast_overrides(levels),
    )


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


def query_variable(
    name: str,
    label: str,
    query: str,
    *,
    multi: bool = True,
    default: str | None = None,
    all_value: str = ".+",
) -> Template:
    """A variable filled from Prometheus; ``All`` is the regex ``all_value`` (``.+``) so it
    suits ``=~``; ``.*`` also matches series without the label."""
    return Template(
        name=name,
        label=label,
        query=query,
        dataSource=DATASOURCE,
        includeAll=multi,
        multi=multi,
        allValue=all_value if multi else None,
        default=default if default is not None else ("$__all" if multi else None),
        refresh=2,
    )  # on time range change: targets come and go


def custom_variable(name: str, label: str, values: Sequence[str], default: str) -> Template:
    """A fixed list of choices, e.g. which label tells a target's series apart."""
    if default not in values:
        raise ValueError(f"default {default!r} of {name} is not one of {list(values)}")
    return Template(name=name, label=label, query=",".join(values), type="custom", default=default)


def templating(*variables: Template, forecaster: bool = False) -> Templating:
    """The datasource variable first (every query uses it), the forecaster's future-curve
    datasource when the dashboard draws forecast curves, then the dashboard's own."""
    ds = Template(
        name=DATASOURCE_VARIABLE, label="Data source", query="prometheus", type="datasource"
    )
    extra = (
        [
            Template(
                name=FORECASTER_VARIABLE,
                label="Forecast curves",
                query="prometheus",
                type="datasource",
                regex=FORECASTER_NAME_REGEX,
            )
        ]
        if forecaster
        else []
    )
    return Templating(list=[ds, *extra, *variables])


_no_variables = templating  # `promcast_dashboard()` takes a parameter of the same name


def annotation(
    name: str,
    expr: str,
    *,
    title: str,
    text: str = "",
    tags: str = "target",
    colour: str = Colour.BAD,
    step: str = "5m",
) -> dict[str, Any]:
    """A Prometheus annotation query: a marker wherever ``expr`` returns a sample."""
    return {
        "name": name,
        "datasource": dict(DATASOURCE),
        "enable": True,
        "hide": False,
        "iconColor": colour,
        "expr": expr,
        "step": step,
        "titleFormat": title,
        "textFormat": text,
        "tagKeys": tags,
        "useValueForTime": False,
    }


def anomalous(selector: str) -> str:
    """The series of ``selector`` (``{...}``) whose anomaly score is past the alerts' threshold."""
    return f"promcast_forecast_anomaly_score{selector} > {alert_threshold('anomaly_score_max')}"


def anomaly_markers(
    selector: str,
    *,
    name: str = "Anomalies",
    title: str = SERIES_LEGEND,
    what: str = "",
    tags: str = "target",
) -> dict[str, Any]:
    """A marker wherever a series of ``selector`` was past its anomaly page threshold."""
    return annotation(
        name,
        anomalous(selector),
        title=f"{title} anomalous",
        tags=tags,
        text=f"{what}past its anomaly page threshold (anomaly score above "
        f"{alert_threshold('anomaly_score_max')})",
    )


def dashboard_links() -> list[dict[str, Any]]:
    """Every promcast dashboard in a menu, carrying the variables (not the time range: each
    dashboard looks at its own span, some into the future)."""
    return [
        {
            "title": "promcast",
            "type": "dashboards",
            "tags": list(TAGS),
            "asDropdown": True,
            "includeVars": True,
            "keepTime": False,
            "targetBlank": False,
            "icon": "external link",
            "tooltip": "",
            "url": "",
        }
    ]


# -- dashboards -------------------------------------------------------------------------------


def promcast_dashboard(
    title: str,
    uid: str,
    description: str,
    *,
    tags: Sequence[str],
    refresh: str,
    time: tuple[str, str],
    panels: Sequence[Panel],
    templating: Templating | None = None,
    annotations: Sequence[dict[str, Any]] = (),
) -> Dashboard:
    """A promcast dashboard: UTC (billing periods and forecasts are UTC), the shared tag and the
    menu of the others, panels flowed into the grid in the order given."""
    return Dashboard(
        title=title,
        uid=uid,
        description=description,
        tags=[*TAGS, *tags],
        timezone="utc",
        refresh=refresh,
        time=Time(*time),
        links=dashboard_links(),
        annotations=Annotations(list=list(annotations)),
        templating=templating if templating is not None else _no_variables(),
        panels=flow(panels),
    )


# -- rendering: grafanalib 0.7.1 -> Grafana 10/11 JSON ----------------------------------------

_LEGACY_DASHBOARD_KEYS = ("rows", "style", "hideControls", "sharedCrosshair", "__inputs")
# maxDataPoints: grafanalib's default of 100 makes a week-long panel step by ~2 h; without it
# Grafana derives the resolution from the panel's width.
_LEGACY_PANEL_KEYS = (
    "span",
    "height",
    "minSpan",
    "error",
    "editable",
    "columns",
    "fontSize",
    "styles",
    "cacheTimeout",
    "repeat",
    "repeatDirection",
    "maxPerRow",
    "maxDataPoints",
)
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
        raise ValueError(
            f"panel {panel.get('title')!r}: type {kind!r} is not one of {sorted(PANEL_TYPES)}"
        )
    if kind == "bargauge":
        _fix_bargauge(panel)
    if kind == "table":
        _fix_table(panel)
    for key in _LEGACY_PANEL_KEYS:
        panel.pop(key, None)
    _drop_nulls(panel)
    panel["targets"] = [_fix_target(t) for t in panel["targets"]]
    sources = {t["datasource"]["uid"] for t in panel["targets"]}
    panel["datasource"] = dict(panel["targets"][0]["datasource"] if len(sources) == 1 else MIXED)
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
    target["datasource"] = dict(target.get("datasource") or DATASOURCE)
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
    options["reduceOptions"] = {"calcs": legacy["calcs"], "values": legacy["values"], "fields": ""}
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
        # No fixed current value: Grafana selects the default Prometheus datasource (or the
        # first one the regex lets through).
        var.update(current={}, datasource=None, refresh=1)
    elif var["type"] == "query":
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
