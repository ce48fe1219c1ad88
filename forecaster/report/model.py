"""The content of a report, independent of how it is read or drawn. Every list is already cut to
what a reader can take in (the soonest, the largest): the model never holds a whole fleet."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Period:
    since: float
    until: float

    @property
    def seconds(self) -> float:
        return self.until - self.since


@dataclass
class Curve:
    """One line of a plot."""

    label: str
    t: np.ndarray
    y: np.ndarray


@dataclass
class BudgetLine:
    name: str
    currency: str
    amount: float
    spent: float
    projected: float
    lower: float
    upper: float
    level: int
    overrun_probability: float
    period_end: float


@dataclass
class Risk:
    target: str
    subject: str
    exhaustion_at: float  # Unix time
    lead_time: float  # seconds
    order_by: float  # Unix time: exhaustion minus lead time
    within: bool  # the order-by date has passed: it runs out within its lead time


@dataclass
class ForecastPoint:
    at: float
    mean: float
    bands: dict[int, tuple[float, float]]  # level -> (lower, upper)


@dataclass
class ScenarioDate:
    scenario: str
    exhaustion_at: float
    order_by: float


@dataclass
class CapacityItem:
    target: str
    subject: str
    labels: dict[str, str]
    history: Curve | None
    forecast: list[ForecastPoint]
    capacity: float | None
    exhaustion_at: float  # +inf: not within the horizon
    lead_time: float
    order_by: float
    scenarios: list[ScenarioDate] = field(default_factory=list)
    image: str = ""


@dataclass
class CostAnomaly:
    target: str
    subject: str
    score: float


@dataclass
class CostSection:
    total: float = 0.0
    by_provider: list[tuple[str, float]] = field(default_factory=list)
    by_service: list[tuple[str, float]] = field(default_factory=list)
    by_account: list[tuple[str, float]] = field(default_factory=list)
    daily: Curve | None = None  # spend per day, all providers
    daily_by_provider: list[Curve] = field(default_factory=list)
    full_days: int = 0  # leading days of ``daily`` wholly in the period
    trend_per_day: float = float("nan")  # change of the daily spend per day (least squares)
    change_ratio: float = float("nan")  # second half of the period against the first
    anomalies: list[CostAnomaly] = field(default_factory=list)
    image: str = ""


@dataclass
class QualityRow:
    target: str
    series: int
    mase_median: float
    mase_p90: float
    coverage: dict[int, float]  # level -> mean coverage
    models: list[tuple[str, int]]
    ok: bool


@dataclass
class Recommendation:
    kind: str
    action: str
    subject: str
    labels: dict[str, str]
    monthly_saving: float
    confidence: float
    effort_hours: float
    evidence: Curve | None = None
    evidence_level: float | None = None  # a line on the evidence plot (peak, commitment)
    evidence_label: str = ""
    image: str = ""

    @property
    def roi(self) -> float:
        """First-year saving over the cost of the effort (inf when it takes no effort)."""
        return (
            float("inf") if self.effort_cost <= 0 else 12 * self.monthly_saving / self.effort_cost
        )

    effort_cost: float = 0.0


@dataclass
class Source:
    kind: str  # exporter provider | forecaster target | scrape job
    name: str
    ok: bool
    age: float  # seconds since its last success at the report's end; nan: unknown
    detail: str = ""


@dataclass
class ApiCalls:
    provider: str
    api: str
    calls: float
    cost: float


@dataclass
class Report:
    period: Period
    generated_at: float
    prometheus: str
    version: str
    notes: list[str] = field(default_factory=list)  # what is missing or down, said on page 1
    reachable: bool = True
    # executive
    spend_period: float = float("nan")
    month_to_date: float = float("nan")
    budgets: list[BudgetLine] = field(default_factory=list)
    risks: list[Risk] = field(default_factory=list)
    savings_monthly: float = 0.0
    savings_confidence: float = float("nan")
    recommendations_total: int = 0
    saved_since_last: float = 0.0
    resolved_since_last: int = 0
    # sections
    capacity: list[CapacityItem] = field(default_factory=list)
    cost: CostSection = field(default_factory=CostSection)
    quality: list[QualityRow] = field(default_factory=list)
    quality_thresholds: dict[str, float] = field(default_factory=dict)
    quality_image: str = ""
    recommendations: list[Recommendation] = field(default_factory=list)
    engineer_hourly_usd: float = 0.0
    sources: list[Source] = field(default_factory=list)
    api_calls: list[ApiCalls] = field(default_factory=list)
    config_yaml: str = ""
    builds: list[tuple[str, str]] = field(default_factory=list)  # (component, version) seen

    @property
    def has_data(self) -> bool:
        return bool(
            self.capacity
            or self.cost.daily is not None
            or self.quality
            or self.recommendations
            or self.budgets
        )
