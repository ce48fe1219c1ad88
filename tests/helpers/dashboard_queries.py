"""Reading the generated dashboards as Grafana would: their panels, the PromQL of each panel and
annotation with the dashboard's variables resolved, the datasource each query goes to, and the
time range each query covers."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"

# Grafana's built-in interval variables, at the values a ~1000-pixel panel over a day gets.
BUILTINS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1d"}
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)")
_RELATIVE = re.compile(r"^now(?:([+-])(\d+)([smhdw]))?$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def generated() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # collapsed rows hold theirs


def datasource_variable(datasource: dict[str, str]) -> str:
    """The variable a ``{"uid": "${name}"}`` datasource reference names."""
    m = _VARIABLE.fullmatch(datasource["uid"])
    if not m:
        raise ValueError(f"datasource {datasource} is not a variable")
    return m.group(1) or m.group(2)


def variable_defaults(dashboard: dict[str, Any]) -> dict[str, str]:
    """Each variable at its default: ``All`` becomes the variable's regex (allValue)."""
    values = dict(BUILTINS)
    for var in dashboard["templating"]["list"]:
        current = var.get("current", {}).get("value")
        if isinstance(current, list):
            current = current[0] if len(current) == 1 else "|".join(current)
        if current == "$__all":
            current = var.get("allValue") or ".+"
        values[var["name"]] = current or ""
    return values


def interpolate(expr: str, values: dict[str, str]) -> str:
    def sub(m: re.Match) -> str:
        name = m.group(1) or m.group(2)
        if name not in values:
            raise KeyError(f"unknown variable ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(sub, expr)


def resolve_time(expr: str, now: float) -> float:
    """``now``, ``now-7d``, ``now+1d`` (what the dashboards use) as a Unix time."""
    m = _RELATIVE.match(expr)
    if not m:
        raise ValueError(f"unsupported time {expr!r}")
    if not m.group(1):
        return now
    delta = int(m.group(2)) * _SECONDS[m.group(3)]
    return now + delta if m.group(1) == "+" else now - delta


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str
    panel: str  # the panel's title, or "annotation <name>"
    ref_id: str
    expr: str  # with the variables resolved
    instant: bool
    datasource: str = "datasource"  # the datasource variable the query goes to

    def __str__(self) -> str:
        return f"{self.dashboard} / {self.panel} / {self.ref_id}: {self.expr}"


def queries(path: Path, overrides: dict[str, str] | None = None) -> list[PanelQuery]:
    """Every panel query and annotation query, as Grafana sends them at the defaults (or with
    the variables in ``overrides`` picked)."""
    dashboard = load(path)
    values = {**variable_defaults(dashboard), **(overrides or {})}
    found = [
        PanelQuery(
            dashboard["title"],
            panel["title"],
            t["refId"],
            interpolate(t["expr"], values),
            bool(t.get("instant")),
            datasource_variable(t["datasource"]),
        )
        for panel in panels(dashboard)
        for t in panel.get("targets", [])
        if not t.get("hide")
    ]
    found += [
        PanelQuery(
            dashboard["title"],
            f"annotation {a['name']}",
            "-",
            interpolate(a["expr"], values),
            False,
            datasource_variable(a["datasource"]),
        )
        for a in dashboard["annotations"]["list"]
        if a.get("expr")
    ]
    return found


def time_range(path: Path, now: float | None = None) -> tuple[float, float]:
    t = load(path)["time"]
    now = time.time() if now is None else now
    return resolve_time(t["from"], now), resolve_time(t["to"], now)


# A panel query's trailing threshold comparison (`... > 0.8`), which the live checks strip to see
# whether the series behind it exist.
COMPARISON = re.compile(r"\s*(?:[<>]=?|[!=]=)\s*[-+.\deE]+\s*$")
