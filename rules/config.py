"""The alerting config: thresholds, per-series overrides, selectors, team labels, the runbook URL
pattern and Grafana's URL, from which the rules and the dashboards' colours are generated.

The defaults are ``rules/source/config.yml``; a user's file is laid over them (mappings merge key by
key, anything else is replaced) and the result is validated with every problem and its key path
reported at once, like the services' configs.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, Field

from promcast_common.config import Strict, read_config_file, validate

DEFAULTS = Path(__file__).resolve().parent / "source" / "config.yml"

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# Bounds what a config can make the generator write (one rule branch per override).
MAX_OVERRIDES = 100


def number_text(value: float) -> str:
    """A threshold as PromQL (and the mixin's jsonnet) writes it: integers whole, others with
    ``%g``, which both Python and jsonnet print alike."""
    return str(int(value)) if float(value).is_integer() else "%g" % value


def _threshold(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    if not float(value).is_integer() and float("%g" % value) != value:
        raise ValueError(
            f"{value!r} has more than 6 significant digits; write it as "
            f"{'%g' % value} or a whole number"
        )
    if float(value).is_integer() and abs(value) >= 2**53:
        raise ValueError("is too large to be written exactly")
    return int(value) if float(value).is_integer() else value


Threshold = Annotated[float, AfterValidator(_threshold)]


def _label_name(name: str) -> str:
    if not _LABEL_NAME.fullmatch(name) or name.startswith("__"):
        raise ValueError(f"{name!r} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*, not __...)")
    return name


def _selector(text: str) -> str:
    """Label matchers as written inside ``{...}``, checked by parsing them as Prometheus does."""
    import promql_parser  # a compiled extension, only needed when a config is loaded

    text = text.strip()
    if not text:
        return ""
    if len(text) > 1024:
        raise ValueError("is longer than 1024 characters")
    try:
        parsed = promql_parser.parse("promcast_selector_check{" + text + "}")
    except ValueError as exc:
        raise ValueError(f"not valid label matchers (as inside {{...}}): {exc}") from None
    if not isinstance(parsed, promql_parser.VectorSelector):
        raise ValueError('must be label matchers only, e.g. job="promcast-exporter"')
    return text


def _url(value: str) -> str:
    if not re.fullmatch(r"https?://[^\s{}'\"<>]+", value):
        raise ValueError("must be an http:// or https:// URL without spaces, quotes or braces")
    return value


def _grafana_url(value: str) -> str:
    value = _url(value)
    if value.endswith("/"):
        raise ValueError("must not end with / (the links add /d/...)")
    return value


def _runbook_pattern(value: str) -> str:
    if value.count("%s") != 1 or value.replace("%s", "").count("%"):
        raise ValueError("must contain %s (the alert's name in lower case) once and no other %")
    _url(value.replace("%s", "x"))
    return value


LabelName = Annotated[str, AfterValidator(_label_name)]
Selector = Annotated[str, AfterValidator(_selector)]
LabelValue = Annotated[str, Field(min_length=1, max_length=256)]


def _label_value(value: str) -> str:
    if not value.isprintable():
        raise ValueError("must be printable text (no control characters)")
    return value


class Override(Strict):
    """Thresholds of their own for the series whose labels have these exact values."""

    match: dict[LabelName, Annotated[str, Field(max_length=1024), AfterValidator(_label_value)]] = (
        Field(min_length=1)
    )
    thresholds: dict[str, Threshold] = Field(min_length=1)


class Selectors(Strict):
    exporter: Selector = ""
    forecaster: Selector = ""


class AlertingConfig(Strict):
    thresholds: dict[str, Threshold]
    overrides: list[Override] = Field(default=[], max_length=MAX_OVERRIDES)
    selectors: Selectors = Selectors()
    teams: dict[str, LabelValue]
    runbook_url_pattern: Annotated[str, AfterValidator(_runbook_pattern)]
    grafana_url: Annotated[str, AfterValidator(_grafana_url)]

    def runbook_url(self, alert: str) -> str:
        return self.runbook_url_pattern % alert.lower()


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        return {**base, **{k: _merge(base.get(k), v) for k, v in over.items()}}
    return over


def _unknown_names(data: dict, defaults: dict) -> list[str]:
    """Threshold and team names the defaults do not have: a typo would otherwise be a
    threshold no rule reads."""
    problems = []
    for section in ("thresholds", "teams"):
        known = sorted(defaults[section])
        problems += [
            f"{section}.{name}: unknown name (one of: {', '.join(known)})"
            for name in (data.get(section) or {})
            if name not in defaults[section]
        ]
    for i, override in enumerate(data.get("overrides") or []):
        if isinstance(override, dict) and isinstance(override.get("thresholds"), dict):
            problems += [
                f"overrides[{i}].thresholds.{name}: unknown threshold (one of: "
                f"{', '.join(sorted(defaults['thresholds']))})"
                for name in override["thresholds"]
                if name not in defaults["thresholds"]
            ]
    return problems


def load(path: str | Path | None = None) -> AlertingConfig:
    """The shipped defaults, with the file at ``path`` (if any) laid over them."""
    defaults = yaml.safe_load(DEFAULTS.read_text())
    if path is None:
        return validate(AlertingConfig, defaults, str(DEFAULTS))
    user, problems = read_config_file(path)
    problems += _unknown_names(user, defaults)
    return validate(AlertingConfig, _merge(defaults, user), str(path), problems)
