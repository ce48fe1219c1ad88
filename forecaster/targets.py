"""A target as the engine, planning and recommendations see it: every field resolved.

It lives apart from ``promcast_forecaster.config`` so that the parts which consume a resolved target
(engine, planning, recommendations) do not import the config file's schema, which in turn
imports their config sections: one direction, no cycle.
"""

from __future__ import annotations

from typing import Literal, Optional, Union

from promcast_common.config import Strict
from promcast_common.durations import format_duration
from promcast_forecaster.calendar_effects import HolidaySettings
from promcast_forecaster.planning_config import Autoscaling, Scenario
from promcast_forecaster.seasons import candidate_cycles, cycles_in_steps
from promcast_forecaster.staleness import default_staleness


class ResolvedTarget(Strict):
    """A target with every field filled in from ``defaults`` and the built-in defaults."""

    name: str
    query: str
    step: float
    history: float
    season: float
    horizons: list[float]
    seasons: Optional[list[float]] = None
    levels: list[int]
    anomaly_level: int
    anomaly_budget: float = 0.5
    anomaly_target_budget: float = 12.0
    anomaly_min_effect: float = 0.1
    anomaly_direction: Literal["up", "down", "both"] = "both"
    anomaly_for: float = 900.0
    model: str
    infer_every: float
    fit_every: float
    lead_time: float
    capacity: Optional[Union[float, str]]
    capacity_direction: Literal["above", "below"]
    min: Optional[float] = 0.0
    max: Optional[Union[float, Literal["capacity"]]] = None
    keep_labels: Optional[list[str]]
    drop_labels: list[str]
    max_series: int
    timeout: Optional[float]
    scenarios: list[Scenario] = []
    autoscaling: Optional[Autoscaling] = None
    staleness: Optional[float] = None
    identity_labels: list[str] = []
    holidays: Optional[HolidaySettings] = None

    @property
    def staleness_seconds(self) -> float:
        """How long a series may go without a sample before it is retired."""
        return self.staleness if self.staleness is not None else default_staleness(self.step)

    @property
    def horizon_steps(self) -> list[int]:
        return [max(1, int(round(h / self.step))) for h in self.horizons]

    @property
    def season_length(self) -> int:
        return max(1, int(round(self.season / self.step))) if self.season else 1

    @property
    def extra_seasons(self) -> tuple[int, ...]:
        """The longer cycles (in steps) besides the season, for models that take several."""
        if self.season_length <= 1:
            return ()
        cycles = self.seasons if self.seasons is not None else candidate_cycles(self.step)
        return tuple(p for p in cycles_in_steps(cycles, self.step) if p > self.season_length)

    @property
    def points(self) -> int:
        return int(self.history // self.step) + 1

    @property
    def predict_levels(self) -> list[int]:
        """The published levels plus the anomaly score's."""
        return sorted(set(self.levels) | {self.anomaly_level})

    def horizon_label(self, h: float) -> str:
        return format_duration(h)
