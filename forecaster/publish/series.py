"""Results as series of the one catalogue: forecasts, budgets, plans, recommendations, and the
service's own health. Each function adds to a :class:`Families` and reads only the result it is
given, so a test builds the series of any result without a running service."""

from __future__ import annotations

import math
from typing import Mapping

from promcast_common.catalogue import Families
from promcast_common.durations import format_duration
from promcast_forecaster import __version__
from promcast_forecaster.budgets import Projection
from promcast_forecaster.config import Budget
from promcast_forecaster.engine import TargetResult
from promcast_forecaster.health import TargetHealth
from promcast_forecaster.planning.plan import Plan
from promcast_forecaster.recommend.report import Report
from promcast_forecaster.remote_write import WriteQueue
from promcast_forecaster.targets import ResolvedTarget


def publish_service(out: Families, queue: WriteQueue | None) -> None:
    """The series that belong to no target: the build and remote write's own health."""
    out.add("promcast_build_info", {"component": "forecaster", "version": __version__}, 1)
    if queue is not None:
        for outcome, n in queue.samples.items():
            out.add("promcast_forecaster_remote_write_samples_total", {"result": outcome}, n)
        out.add("promcast_forecaster_remote_write_failed_requests_total", {}, queue.failed_requests)
        out.add("promcast_forecaster_remote_write_pending_samples", {}, queue.pending)


def api_families(in_flight: int, rejected: Mapping[str, int]) -> Families:
    """The query API's own load: requests in flight, and those it refused by reason (the API
    serves them from its own collector, beside the service's)."""
    out = Families()
    out.add("promcast_forecaster_api_in_flight_requests", {}, in_flight)
    for reason, n in rejected.items():
        out.add("promcast_forecaster_api_rejected_requests_total", {"reason": reason}, n)
    return out


def publish_health(out: Families, name: str, h: TargetHealth) -> None:
    """One target's (budget's, the recommendations' or the report's) cycles and their outcome."""
    lab = {"target": name}
    out.add("promcast_forecaster_target_up", lab, 1 if h.up else 0)
    out.add("promcast_forecaster_results_stale", lab, 1 if h.stale else 0)
    out.add("promcast_forecaster_last_success_timestamp_seconds", lab, h.last_success)
    out.add("promcast_forecaster_cycle_duration_seconds", lab, h.duration)
    out.add("promcast_forecaster_cycles_total", {**lab, "result": "success"}, h.successes)
    out.add("promcast_forecaster_cycles_total", {**lab, "result": "error"}, h.errors)
    for reason, n in h.dropped.items():
        out.add("promcast_forecaster_dropped_series_total", {**lab, "reason": reason}, n)


def publish_settings(out: Families, target: ResolvedTarget, h: TargetHealth) -> None:
    """A target's settings the rules compare with (lead time, horizon, staleness, identity
    labels), and its fits by reason."""
    name = target.name
    out.add("promcast_target_lead_time_seconds", {"target": name}, target.lead_time)
    out.add("promcast_target_horizon_seconds", {"target": name}, max(target.horizons))
    out.add("promcast_target_staleness_seconds", {"target": name}, target.staleness_seconds)
    out.add(
        "promcast_target_info",
        {"target": name, "identity_labels": ",".join(target.identity_labels)},
        1,
    )
    for reason, n in h.fits.items():
        out.add("promcast_forecaster_fits_total", {"target": name, "reason": reason}, n)


def publish_result(out: Families, result: TargetResult) -> None:
    """A target's forecasts as series: no timestamps, so Prometheus stamps them at scrape time
    (never in the future); ``horizon`` says how far ahead each value looks."""
    t = result.target
    name = t.name
    out.add(
        "promcast_forecaster_target_series",
        {"target": name, "state": "forecast"},
        len(result.series),
    )
    out.add(
        "promcast_forecaster_target_series", {"target": name, "state": "skipped"}, result.skipped
    )
    out.add(
        "promcast_forecaster_target_series",
        {"target": name, "state": "dropped"},
        result.over_cap + result.collided,
    )
    out.add(
        "promcast_forecaster_target_series", {"target": name, "state": "retired"}, result.retired
    )
    publish_waiting(out, result.waiting)
    for s in result.series:
        lab = s.labels
        out.add("promcast_forecast_observed", lab, s.observed)
        if not math.isnan(s.exhaustion_seconds):  # NaN: no capacity, nothing to cross
            out.add("promcast_forecast_exhaustion_seconds", lab, s.exhaustion_seconds)
        if not math.isnan(s.anomaly_score):
            out.add("promcast_forecast_anomaly_score", lab, s.anomaly_score)
            out.add("promcast_forecast_expected", lab, s.expected)
        if not math.isnan(s.capacity):
            out.add("promcast_forecast_capacity", lab, s.capacity)
        out.add("promcast_forecast_model_info", {**lab, "model": s.model, "reason": s.reason}, 1)
        if not math.isnan(s.history_seasons):
            out.add("promcast_forecast_history_to_season_ratio", lab, s.history_seasons)
        if not math.isnan(s.backtest_mase):
            out.add("promcast_forecast_backtest_mase", lab, s.backtest_mase)
        for lv, cov in s.backtest_coverage.items():
            if not math.isnan(cov):
                out.add("promcast_forecast_backtest_coverage_ratio", {**lab, "level": str(lv)}, cov)
        if not math.isnan(s.regime_change_at):  # NaN: no regime change in the history
            out.add("promcast_forecast_regime_change_timestamp_seconds", lab, s.regime_change_at)
        publish_horizons(out, "promcast_forecast", lab, t, s.mean, s.bounds)


def publish_horizons(
    out: Families,
    family: str,
    labels: Mapping[str, str],
    target: ResolvedTarget,
    mean: Mapping[float, float],
    bounds: Mapping[tuple[float, int], tuple[float, float]],
) -> None:
    """Point forecasts and interval bounds per horizon as ``<family>_mean``, ``_lower`` and
    ``_upper`` (the forecasts themselves, and each scenario's)."""
    for hz, value in mean.items():
        hl = {**labels, "horizon": target.horizon_label(hz)}
        out.add(f"{family}_mean", hl, value)
        for lv in target.levels:
            lo, hi = bounds[(hz, lv)]
            out.add(f"{family}_lower", {**hl, "level": str(lv)}, lo)
            out.add(f"{family}_upper", {**hl, "level": str(lv)}, hi)


def publish_budget(
    out: Families,
    budget: Budget,
    period_end: float,
    projections: list[Projection],
    waiting: list[tuple[dict[str, str], float]] = (),
) -> None:
    """A budget's projections, and how many series it has (0 projected: no spend data)."""
    out.add(
        "promcast_forecaster_target_series",
        {"target": budget.name, "state": "forecast"},
        len(projections),
    )
    out.add(
        "promcast_forecaster_target_series",
        {"target": budget.name, "state": "skipped"},
        len(waiting),
    )
    publish_waiting(out, waiting)
    for p in projections:
        lab = {
            **p.labels,
            "target": budget.name,
            "budget": budget.name,
            "currency": budget.currency,
        }
        out.add("promcast_budget_amount", lab, budget.amount)
        out.add("promcast_budget_spend", lab, p.spent)
        out.add("promcast_budget_projected_spend", lab, p.projected)
        for lv, (lo, hi) in p.bounds.items():
            out.add("promcast_budget_projected_spend_lower", {**lab, "level": str(lv)}, lo)
            out.add("promcast_budget_projected_spend_upper", {**lab, "level": str(lv)}, hi)
        out.add("promcast_budget_overrun_probability_ratio", lab, p.overrun_probability)
        out.add("promcast_budget_period_end_timestamp_seconds", lab, period_end)


def publish_waiting(out: Families, waiting: list[tuple[dict[str, str], float]]) -> None:
    for labels, seconds in waiting:
        out.add("promcast_forecaster_history_needed_seconds", labels, seconds)


def scenario_labels(labels: dict[str, str], **extra: str) -> dict[str, str]:
    """Labels plus ``extra``; a source label of the same name is kept as ``exported_<name>``,
    as Prometheus does for clashing scrape labels."""
    out = dict(labels)
    for k in extra:
        if k in out:
            out[f"exported_{k}"] = out.pop(k)
    out.update(extra)
    return out


def publish_plan(out: Families, plan: Plan) -> None:
    """A target's planning results as series (stamped at scrape time, like the forecasts).

    Scenario results go to their own series names (``promcast_scenario_*``) rather than to the
    baseline's names with a ``scenario`` label: every existing selector, rule and dashboard query
    on ``promcast_forecast_*`` would otherwise pick the scenarios up too (an exhaustion alert
    would fire once per scenario), so the baseline series stay exactly as they were."""
    t = plan.target
    for sp in plan.series:
        lab = sp.labels
        if not math.isnan(sp.order_by):
            out.add("promcast_capacity_order_by_timestamp_seconds", lab, sp.order_by)
            out.add("promcast_capacity_lead_time_margin_seconds", lab, sp.margin)
        for sc in sp.scenarios:
            sl = scenario_labels(lab, scenario=sc.name)
            if not math.isnan(sc.exhaustion_seconds):  # NaN: the series has no capacity
                out.add("promcast_scenario_exhaustion_seconds", sl, sc.exhaustion_seconds)
            if not math.isnan(sc.order_by):
                out.add("promcast_scenario_capacity_order_by_timestamp_seconds", sl, sc.order_by)
            publish_horizons(out, "promcast_scenario_forecast", sl, t, sc.mean, sc.bounds)
        if not math.isnan(sp.required_replicas):
            out.add("promcast_autoscaling_required_replicas", lab, sp.required_replicas)
        if not math.isnan(sp.recommended_replicas):
            out.add("promcast_autoscaling_recommended_replicas", lab, sp.recommended_replicas)


def publish_report(out: Families, report: Report) -> None:
    """The report as series (see the `# recommendations` entries of the catalogue)."""
    s = report.settings
    r = s.rightsizing
    out.add(
        "promcast_recommendation_settings_info",
        {
            "horizon": format_duration(r.horizon),
            "level": str(r.level),
            "headroom": f"{r.headroom:g}",
            "model": r.model,
            "idle_days": f"{s.idle.days:g}",
            "commitment_quantile": f"{s.commitments.quantile:g}",
            "hours_per_month": f"{s.hours_per_month:g}",
            "catalogue": report.catalogue,
            "identity_labels": ",".join(s.identity_labels),
        },
        1,
    )
    for kind, n in report.skipped.items():
        out.add("promcast_recommendation_skipped_series", {"kind": kind}, n)
    for z in report.sizings:
        lab = {
            **z.labels,
            "current_type": z.current_type,
            "recommended_type": z.recommended_type,
            "action": z.action,
            "horizon": format_duration(r.horizon),
            "level": str(r.level),
        }
        out.add(
            "promcast_rightsizing_info",
            {
                **lab,
                "model": z.model,
                "price_source": z.price_source,
                "basis": z.basis,
                "headroom": f"{r.headroom:g}",
            },
            1,
        )
        out.add("promcast_rightsizing_required_vcpus", lab, z.required_vcpus)
        out.add("promcast_rightsizing_required_memory_bytes", lab, z.required_memory_bytes)
        out.add("promcast_rightsizing_monthly_saving_usd", lab, z.monthly_saving)
        for dim, peak in (("cpu", z.cpu_peak), ("memory", z.memory_peak)):
            if not math.isnan(peak):
                out.add("promcast_rightsizing_forecast_peak_ratio", {**lab, "dimension": dim}, peak)
        if z.recommended is not None:
            out.add("promcast_rightsizing_recommended_vcpus", lab, z.recommended.vcpus)
            out.add(
                "promcast_rightsizing_recommended_memory_bytes", lab, z.recommended.memory_bytes
            )
            out.add("promcast_rightsizing_recommended_price_per_hour_usd", lab, z.recommended_price)
    for f in report.idle:
        lab = {**f.labels, "state": f.state, "days": f"{f.days:g}"}
        if not math.isnan(f.monthly_cost):
            out.add("promcast_idle_monthly_cost_usd", lab, f.monthly_cost)
        out.add("promcast_idle_cpu_quantile_ratio", lab, f.cpu_quantile)
    for p in report.plans:
        lab = {
            **p.labels,
            "option": p.option.name,
            "term": format_duration(p.option.term),
            "discount": f"{p.option.discount:g}",
        }
        out.add("promcast_commitment_hourly_usd", lab, p.hourly_commitment)
        out.add("promcast_commitment_expected_hourly_spend_usd", lab, p.expected_spend)
        out.add("promcast_commitment_coverage_ratio", lab, p.coverage)
        out.add("promcast_commitment_utilization_ratio", lab, p.utilization)
        out.add("promcast_commitment_monthly_saving_usd", lab, p.monthly_saving)
    for rec in report.recommendations():
        lab = {**rec.labels, "kind": rec.kind, "action": rec.action}
        out.add("promcast_recommendation_monthly_saving_usd", lab, rec.monthly_saving)
        out.add("promcast_recommendation_confidence_ratio", lab, rec.confidence)
