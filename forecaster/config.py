"""The forecaster's YAML config (``--config.file``): where Prometheus is, defaults, targets.

A target is one PromQL query; every series it returns is forecast. Fields a target leaves out
come from ``defaults``.
"""

from __future__ import annotations

import math
import re
from typing import Literal, Optional, Union

from pydantic import Field, field_validator, model_validator

from promcast_common.config import Duration, Strict
from promcast_common.httpclient import HTTPClientConfig, check_http_url
from promcast_common.durations import format_duration
from promcast_forecaster.calendar_effects import DAY, HolidaySettings
from promcast_forecaster.planning_config import Autoscaling, Scenario, check_planning
from promcast_forecaster.recommend_config import Recommendations
from promcast_forecaster.report_config import ReportConfig
from promcast_forecaster.seasons import MAX_SEASONS
from promcast_forecaster.targets import ResolvedTarget
from promcast_forecaster.validators import LabelNames, ModelName, PromQL

_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_:-]*$")
# Prometheus caps a query's timeout at its own --query.timeout (2m by default); more than an hour
# is a typo (a number of seconds where a duration was meant) and would hold a target that long.
MAX_TIMEOUT = 3600.0
_NULLABLE = frozenset({"min", "max"})


class PrometheusSource(HTTPClientConfig):
    """Where to read from; authentication, TLS and proxy as in Prometheus' own http_config."""

    url: str = "http://127.0.0.1:9090"
    timeout: Duration = Field(
        30.0, gt=0, le=MAX_TIMEOUT, description="Per query; a slow target cannot hold the rest."
    )
    body_size_limit: int = Field(
        64 << 20,
        ge=1 << 16,
        le=1 << 32,
        description="Largest answer read from the server, in "
        "bytes; a larger one fails the query, naming the query and this key.",
    )

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        return check_http_url(v).rstrip("/")


class TargetFields(Strict):
    """What a target can set; everything here may also be given in ``defaults``."""

    step: Optional[Duration] = Field(None, gt=0)
    history: Optional[Duration] = Field(None, gt=0)
    season: Optional[Duration] = Field(None, ge=0, description="0 for none")
    seasons: Optional[list[Duration]] = Field(
        None,
        max_length=MAX_SEASONS,
        description="Longer cycles besides season that auto (and mstl) try, each kept per "
        "series where the history holds two of them and the backtest prefers it. Default: those "
        "that make sense at the step (a week below daily steps, a year at daily steps); [] for none.",
    )
    horizons: Optional[list[Duration]] = None
    levels: Optional[list[int]] = None
    anomaly_level: Optional[int] = Field(
        None,
        gt=0,
        lt=100,
        description="An extra interval level forecast (not published) for "
        "the forecast explorer's API; the anomaly score no longer depends on it (see anomaly_budget).",
    )
    anomaly_budget: Optional[float] = Field(
        None,
        gt=0,
        description="Chance anomaly pages allowed per series per 30 days: the score "
        "crosses 1 for anomaly_for this rarely on the series' own normal behaviour.",
    )
    anomaly_target_budget: Optional[float] = Field(
        None,
        gt=0,
        description="Chance anomaly pages allowed per 30 days across all series of the "
        "target; each series gets min(anomaly_budget, this / series).",
    )
    anomaly_min_effect: Optional[float] = Field(
        None,
        ge=0,
        description="Smallest deviation that pages, as a share of the series' usual "
        "range (of its capacity where one is configured).",
    )
    anomaly_direction: Optional[Literal["up", "down", "both"]] = Field(
        None,
        description="Which deviations score: up (CPU, spend), down (traffic, revenue) or both.",
    )
    anomaly_for: Optional[Duration] = Field(
        None,
        ge=0,
        description="The for: of the alerting rule reading this target's score "
        "(PromcastUtilizationAnomaly 15m, PromcastCostAnomaly 3h): the budget is calibrated for it.",
    )
    model: Optional[ModelName] = None
    infer_every: Optional[Duration] = Field(
        None,
        gt=0,
        description="How often forecasts are updated from the fitted models and new data.",
    )
    fit_every: Optional[Duration] = Field(
        None, gt=0, description="How often models are chosen and fitted again (the costly part)."
    )
    lead_time: Optional[Duration] = Field(None, ge=0)
    capacity: Optional[Union[float, PromQL]] = Field(
        None, description="A number, or a PromQL query giving each series its own capacity."
    )
    capacity_direction: Optional[Literal["above", "below"]] = None
    min: Optional[float] = Field(
        None,
        description="Lowest value a forecast or bound may take (default 0: gauges like CPU, "
        "bytes or spend cannot go negative); null for none. Applies to each series whose history "
        "never went below it.",
    )
    max: Optional[Union[float, Literal["capacity"]]] = Field(
        None,
        description="Highest value a forecast or bound may take: a number, or `capacity` "
        "(each series' capacity); null (the default) for none. Applies to each series whose "
        "history never went above it.",
    )
    keep_labels: Optional[list[str]] = Field(None, description="Publish only these source labels.")
    drop_labels: Optional[list[str]] = Field(
        None, description="Publish all source labels but these."
    )
    max_series: Optional[int] = Field(None, ge=1, description="Cardinality cap per target.")
    staleness: Optional[Duration] = Field(
        None,
        gt=0,
        description="A series without a sample for this long has stopped reporting: "
        "it is retired (counted, not forecast or scored). Default: 3 steps, at least 1h; a "
        "shorter gap (a late or missed scrape) keeps the series.",
    )
    timeout: Optional[Duration] = Field(
        None,
        gt=0,
        le=MAX_TIMEOUT,
        description="Query timeout for this target (default: prometheus.timeout).",
    )
    scenarios: Optional[list[Scenario]] = Field(
        None, description="What-ifs on the forecast, published as promcast_scenario_* series."
    )
    autoscaling: Optional[Autoscaling] = Field(None, description="Publish recommended replicas.")
    holidays: Optional[HolidaySettings] = Field(
        None,
        description="Public holidays as their own day type ({country: DE, subdivision: BY, "
        "timezone: Europe/Berlin}): each series' holiday effect is learnt from the holidays in "
        "its history and put on the holidays ahead where a leave-one-holiday-out backtest keeps "
        "it. Steps of a day or less.",
    )
    identity_labels: Optional[LabelNames] = Field(
        None,
        description="The source labels that name a series to a person (node_exporter: "
        "[instance, mountpoint]; CloudWatch: [instance_id]; Kubernetes: [namespace, pod]); "
        "published in promcast_target_info for alert texts and dashboards.",
    )

    @field_validator("levels")
    @classmethod
    def _levels(cls, v: Optional[list[int]]) -> Optional[list[int]]:
        if v is not None:
            if not v:
                raise ValueError("needs at least one level")
            bad = [lv for lv in v if not 0 < lv < 100]
            if bad:
                raise ValueError(f"levels are percentages between 0 and 100, got {bad}")
        return v

    @field_validator("capacity")
    @classmethod
    def _capacity(cls, v: Optional[Union[float, str]]) -> Optional[Union[float, str]]:
        if isinstance(v, float) and not (math.isfinite(v) and v >= 0):
            raise ValueError(f"a capacity is a finite number >= 0 (or a PromQL query), got {v}")
        return v

    @field_validator("horizons")
    @classmethod
    def _horizons(cls, v: Optional[list[float]]) -> Optional[list[float]]:
        if v is not None and (not v or any(h <= 0 for h in v)):
            raise ValueError("needs at least one positive horizon")
        return v


BUILTIN_DEFAULTS = TargetFields(
    step=300.0,
    history=7 * 86400.0,
    season=86400.0,
    horizons=[3600.0, 6 * 3600.0, 86400.0],
    levels=[80, 95],
    anomaly_level=99,
    anomaly_budget=0.5,
    anomaly_target_budget=12.0,
    anomaly_min_effect=0.1,
    anomaly_direction="both",
    anomaly_for=900.0,
    model="auto_fast",
    infer_every=300.0,
    fit_every=3600.0,
    lead_time=86400.0,
    capacity=None,
    capacity_direction="above",
    min=0.0,
    max=None,
    keep_labels=None,
    drop_labels=[],
    max_series=10000,
    staleness=None,
    timeout=None,
    scenarios=[],
    autoscaling=None,
    identity_labels=[],
    holidays=None,
)


class Target(TargetFields):
    name: str
    query: PromQL

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"must match {_NAME.pattern} (it becomes a label value), got {v!r}")
        return v


class RemoteWrite(HTTPClientConfig):
    """Push results to a remote-write receiver (Prometheus with --web.enable-remote-write-receiver,
    Mimir/Thanos receive, VictoriaMetrics) after every cycle, stamped at that moment."""

    url: str
    timeout: Duration = Field(10.0, gt=0, le=MAX_TIMEOUT)
    headers: dict[str, str] = {}
    max_samples_per_request: int = Field(2000, ge=1)
    queue_capacity: int = Field(
        200_000,
        ge=1,
        le=10_000_000,
        description=(
            "Samples held while the receiver is slow or down; past it the oldest are dropped."
        ),
    )
    max_sample_age: Duration = Field(
        3000.0,
        gt=0,
        le=90 * 86400.0,
        description=(
            "Samples older than this are dropped, not sent: Prometheus refuses samples about an "
            "hour older than its newest unless out_of_order_time_window is set."
        ),
    )
    min_backoff: Duration = Field(0.5, gt=0, le=3600.0)
    max_backoff: Duration = Field(30.0, gt=0, le=3600.0)

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        return check_http_url(v).rstrip("/")

    @model_validator(mode="after")
    def _backoffs(self) -> "RemoteWrite":
        if self.min_backoff > self.max_backoff:
            raise ValueError(
                f"min_backoff ({format_duration(self.min_backoff)}) is longer than "
                f"max_backoff ({format_duration(self.max_backoff)})"
            )
        return self


class Budget(Strict):
    """A spend budget for a period: its projection at the period's end comes from a forecast of
    the spend rate, added to what has been spent so far."""

    name: str
    spend_rate: PromQL = Field(
        description="PromQL: spend per hour (e.g. a sum of hourly cost rates)."
    )
    spent: Optional[PromQL] = Field(
        None,
        description="PromQL: spend so far this period (e.g. "
        "month-to-date); default: the spend rate integrated since the start.",
    )
    amount: float = Field(gt=0)
    period: Literal["month", "quarter"] = "month"
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    step: Duration = Field(3600.0, gt=0)
    history: Duration = Field(28 * 86400.0, gt=0)
    season: Duration = Field(86400.0, ge=0)
    model: Optional[ModelName] = None
    levels: Optional[list[int]] = None
    infer_every: Optional[Duration] = Field(None, gt=0)
    fit_every: Optional[Duration] = Field(None, gt=0)

    _name = field_validator("name")(Target._name.__func__)  # type: ignore[attr-defined]


# The longest a budget period can be: its projection forecasts up to that far ahead.
LONGEST_PERIOD = {"month": 31 * 86400.0, "quarter": 92 * 86400.0}


class Limits(Strict):
    """Ceilings on the work any one target, budget or ad-hoc forecast can cause, so that a typo in
    the config (``horizons: [100y]``) or a request cannot take the memory of the host."""

    max_series_per_target: int = Field(
        10_000, ge=1, description="Highest max_series a target may set; also caps the default."
    )
    max_history_points: int = Field(
        100_000, ge=2, description="history / step: points read per series."
    )
    max_horizon_points: int = Field(
        11_000,
        ge=1,
        description="Longest horizon / step: points forecast per series (11,000 "
        "is also Prometheus' limit on points per series in one query).",
    )


class ForecasterConfig(Strict):
    prometheus: PrometheusSource = PrometheusSource()
    limits: Limits = Limits()
    remote_write: Optional[RemoteWrite] = None
    max_concurrency: int = Field(4, ge=1, le=256, description="Targets fitted at the same time.")
    defaults: TargetFields = TargetFields()
    targets: list[Target] = []
    budgets: list[Budget] = []
    recommendations: Optional[Recommendations] = Field(
        None, description="Rightsizing, idle resources and commitments (forecaster/recommend)."
    )
    report: ReportConfig = Field(
        ReportConfig(),
        description="HTML/PDF reports: their content and, with interval and directory, a schedule.",
    )

    @model_validator(mode="after")
    def _check_targets(self) -> "ForecasterConfig":
        problems = []
        seen: dict[str, int] = {}
        for i, t in enumerate(self.targets):
            if t.name in seen:
                problems.append(
                    f"targets[{i}].name: {t.name!r} is already used by targets[{seen[t.name]}]"
                )
            seen.setdefault(t.name, i)
            r = self._resolve(t)
            if r.history < 2 * r.step:
                problems.append(f"targets[{i}] ({t.name}): history must cover at least two steps")
            problems += self._check_points(f"targets[{i}] ({t.name})", r)
            explicit = t.max_series or self.defaults.max_series
            if explicit is not None and explicit > self.limits.max_series_per_target:
                problems.append(
                    f"targets[{i}] ({t.name}): max_series {explicit} is over "
                    f"limits.max_series_per_target={self.limits.max_series_per_target}"
                )
            if r.staleness_seconds < r.step:
                problems.append(
                    f"targets[{i}] ({t.name}): staleness {format_duration(r.staleness_seconds)} "
                    f"is shorter than the step {format_duration(r.step)}: every series "
                    "would be retired between two samples"
                )
            if t.keep_labels is not None and t.drop_labels is not None:
                problems.append(
                    f"targets[{i}] ({t.name}): set keep_labels or drop_labels, not both"
                )
            if r.max == "capacity" and (r.capacity is None or r.capacity_direction != "above"):
                problems.append(
                    f"targets[{i}] ({t.name}): max: capacity needs a capacity with "
                    "capacity_direction: above"
                )
            elif isinstance(r.max, float) and r.min is not None and r.max <= r.min:
                problems.append(
                    f"targets[{i}] ({t.name}): max ({r.max:g}) must be above min ({r.min:g})"
                )
            for h in r.horizons:
                if h < r.step:
                    problems.append(
                        f"targets[{i}] ({t.name}): horizon {format_duration(h)} is shorter "
                        f"than the step {format_duration(r.step)}"
                    )
            problems += self._check_horizon(
                f"targets[{i}] ({t.name}).horizons", max(r.horizons), r.step
            )
            problems += _check_season(f"targets[{i}] ({t.name})", r.season, r.step)
            if r.holidays is not None and r.step > DAY:
                problems.append(
                    f"targets[{i}] ({t.name}).holidays: a step of "
                    f"{format_duration(r.step)} holds a holiday among ordinary days; "
                    "holidays need a step of a day or less (remove the key or lower step)"
                )
            problems += check_planning(f"targets[{i}] ({t.name})", r)
        for i, b in enumerate(self.budgets):
            problems += self._check_horizon(
                f"budgets[{i}] ({b.name}).step", LONGEST_PERIOD[b.period], b.step
            )
            problems += _check_season(f"budgets[{i}] ({b.name})", b.season, b.step)
            if b.name in seen:
                problems.append(
                    f"budgets[{i}].name: {b.name!r} is already the name of a target or budget"
                )
            seen.setdefault(b.name, i)
        if self.recommendations is not None and "recommendations" in seen:
            problems.append(
                'recommendations: their health series carry target="recommendations", '
                "already the name of a target or budget; rename that one"
            )
        if self.report.interval and "report" in seen:
            problems.append(
                'report: the scheduled reports\' health series carry target="report", '
                "already the name of a target or budget; rename that one"
            )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _check_points(self, where: str, r: ResolvedTarget) -> list[str]:
        problems = []
        if r.history / r.step > self.limits.max_history_points:
            problems.append(
                f"{where}: history {format_duration(r.history)} is "
                f"{r.history / r.step:.0f} steps of {format_duration(r.step)}, over "
                f"limits.max_history_points={self.limits.max_history_points} (raise step)"
            )
        return problems

    def _check_horizon(self, where: str, horizon: float, step: float) -> list[str]:
        points = horizon / step
        if points <= self.limits.max_horizon_points:
            return []
        return [
            f"{where}: forecasting {format_duration(horizon)} at a {format_duration(step)} step "
            f"is {points:.0f} points per series, over limits.max_horizon_points "
            f"({self.limits.max_horizon_points}); shorten the horizon or raise the step"
        ]

    def _resolve(self, t: Target) -> ResolvedTarget:
        merged = BUILTIN_DEFAULTS.model_dump()
        for given in (self.defaults, t):
            # An explicit null means "none" for the limits; elsewhere it means "not set".
            merged.update(
                {
                    k: v
                    for k, v in given.model_dump().items()
                    if v is not None or (k in _NULLABLE and k in given.model_fields_set)
                }
            )
        merged["max_series"] = min(merged["max_series"], self.limits.max_series_per_target)
        return ResolvedTarget.model_validate(merged)

    def resolved_targets(self) -> list[ResolvedTarget]:
        return [self._resolve(t) for t in self.targets]

    def budget_target(self, b: Budget, horizon: float) -> ResolvedTarget:
        """The spend-rate forecast behind a budget, reaching ``horizon`` (the period's end)."""
        fields = {
            "name": b.name,
            "query": b.spend_rate,
            "step": b.step,
            "history": b.history,
            "season": b.season,
            "model": b.model,
            "levels": b.levels,
            "infer_every": b.infer_every,
            "fit_every": b.fit_every,
            "horizons": [max(horizon, b.step)],
        }
        return self._resolve(
            Target.model_validate({k: v for k, v in fields.items() if v is not None})
        )


def _check_season(where: str, season: float, step: float) -> list[str]:
    """A season must span at least two steps: one step repeats every step (it is no season), and
    a shorter one cannot be seen at this resolution at all."""
    if 0 < season < 2 * step:
        return [
            f"{where}: season {format_duration(season)} spans fewer than two steps of "
            f"{format_duration(step)}; set season: 0 for none, or a shorter step"
        ]
    return []
