"""The newest good results of every target, budget and the recommendations, and the series
they make: what ``/metrics`` shows and what remote write sends, built in one place."""

from __future__ import annotations

from typing import Iterable

from promcast_common.catalogue import Families
from promcast_forecaster.budgets import Projection
from promcast_forecaster.config import Budget
from promcast_forecaster.engine import TargetResult
from promcast_forecaster.health import RECOMMENDATIONS, HealthTracker
from promcast_forecaster.planning.plan import Plan
from promcast_forecaster.publish.series import (
    publish_budget,
    publish_health,
    publish_plan,
    publish_report,
    publish_result,
    publish_service,
    publish_settings,
)
from promcast_forecaster.recommend.report import Report
from promcast_forecaster.remote_write import WriteQueue
from promcast_forecaster.targets import ResolvedTarget

# A budget's newest projection: the budget, its period's end, a projection per series, and the
# series still waiting for history.
BudgetProjection = tuple[Budget, float, list[Projection], list[tuple[dict[str, str], float]]]


class Publisher:
    """Holds the results the scheduler hands it, replacing a name's results only with newer
    good ones (a failed cycle leaves the last good results published), and builds their series
    with the health the tracker keeps."""

    def __init__(self, health: HealthTracker) -> None:
        self.health = health
        self.results: dict[str, TargetResult] = {}
        self.plans: dict[str, Plan] = {}
        self.projections: dict[str, BudgetProjection] = {}
        self.report: Report | None = None
        self._targets: dict[str, ResolvedTarget] = {}

    def configure(self, targets: list[ResolvedTarget], kept: set[str]) -> None:
        """Publish for ``targets`` from now on, keeping the results of the names in ``kept``."""
        self._targets = {t.name: t for t in targets}
        if RECOMMENDATIONS not in kept:
            self.report = None
        for state in (self.results, self.plans, self.projections):
            for name in [n for n in state if n not in kept]:
                del state[name]

    def update_result(self, result: TargetResult) -> None:
        self.results[result.target.name] = result

    def update_plan(self, name: str, plan: Plan) -> None:
        self.plans[name] = plan

    def update_budget(self, name: str, projection: BudgetProjection) -> None:
        self.projections[name] = projection

    def update_report(self, report: Report) -> None:
        self.report = report

    def has_results(self, name: str) -> bool:
        """Whether ``name`` has good results to keep serving (after a failed cycle: stale)."""
        return (
            name in self.results
            or name in self.projections
            or (name == RECOMMENDATIONS and self.report is not None)
        )

    def families(self, queue: WriteQueue | None, names: Iterable[str] | None = None) -> Families:
        """The service's own series (``queue``: remote write's, when configured) and everything
        shown for ``names`` (default: every target, budget, the recommendations and report)."""
        out = Families()
        publish_service(out, queue)
        for name in self.health if names is None else names:
            self._publish(out, name)
        return out

    def _publish(self, out: Families, name: str) -> None:
        """Everything shown for one target, budget or the recommendations: their health,
        settings the rules compare with (lead time) and their newest good results."""
        publish_health(out, name, self.health[name])
        target = self._targets.get(name)
        if target is not None:
            publish_settings(out, target, self.health[name])
            result = self.results.get(name)
            if result is not None:
                publish_result(out, result)
                if name in self.plans:
                    publish_plan(out, self.plans[name])
                if result.fitted is not None:
                    out.add(
                        "promcast_forecaster_last_fit_timestamp_seconds",
                        {"target": name},
                        result.fitted.fitted_at,
                    )
        elif name in self.projections:
            publish_budget(out, *self.projections[name])
        elif name == RECOMMENDATIONS and self.report is not None:
            publish_report(out, self.report)
