"""The one list of every series promcast publishes: name, type, help, labels.

Rules, dashboards, docs and both services are tested against this module, so a renamed
series cannot drift. Series whose labels include those of a user's PromQL query (forecasts)
say so with ``passthrough=True``: their fixed labels are listed, the source labels vary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping

from prometheus_client.core import Metric

RESOURCE_LABELS = ("provider", "account", "region", "workload", "resource_id")
OPENSTACK_POOL_LABELS = ("provider", "cloud", "region", "scope", "name", "id")
COST_LABELS = (
    "provider",
    "billing_account",
    "sub_account",
    "service",
    "region",
    "charge_category",
    "cost_type",
)


@dataclass(frozen=True)
class MetricSpec:
    name: str
    type: str  # gauge | counter | info
    help: str
    labels: tuple[str, ...] = ()
    passthrough: bool = False
    component: str = "exporter"  # exporter | forecaster

    def family(self) -> Metric:
        """An empty family to fill with :meth:`add`; counters keep their ``_total``."""
        base = self.name[: -len("_total")] if self.type == "counter" else self.name
        return Metric(base, self.help, self.type)

    def add(self, family: Metric, labels: Mapping[str, str], value: float) -> None:
        missing = [k for k in self.labels if k not in labels]
        if missing:
            raise ValueError(f"{self.name}: labels {missing} missing from sample {dict(labels)}")
        if not self.passthrough:
            extra = [k for k in labels if k not in self.labels]
            if extra:
                raise ValueError(f"{self.name}: labels {extra} are not in the catalogue")
        family.add_sample(self.name, dict(labels), float(value))


def _specs(component: str, *specs: tuple) -> list[MetricSpec]:
    return [MetricSpec(*s, component=component) for s in specs]


_EXPORTER = _specs(
    "exporter",
    # utilisation and inventory
    (
        "promcast_resource_cpu_utilization_ratio",
        "gauge",
        "CPU in use as a fraction of the resource's vCPUs (0-1).",
        RESOURCE_LABELS,
    ),
    (
        "promcast_resource_memory_utilization_ratio",
        "gauge",
        "Memory in use as a fraction of the resource's memory (0-1).",
        RESOURCE_LABELS,
    ),
    (
        "promcast_resource_disk_used_bytes",
        "gauge",
        "Bytes used on the resource's data disk.",
        RESOURCE_LABELS + ("device",),
    ),
    (
        "promcast_resource_disk_size_bytes",
        "gauge",
        "Size of the resource's data disk in bytes.",
        RESOURCE_LABELS + ("device",),
    ),
    ("promcast_resource_vcpus", "gauge", "vCPUs of the resource.", RESOURCE_LABELS),
    (
        "promcast_resource_memory_bytes",
        "gauge",
        "Memory of the resource in bytes.",
        RESOURCE_LABELS,
    ),
    (
        "promcast_resource_price_per_hour_usd",
        "gauge",
        "On-demand list price of the resource per hour in US dollars.",
        RESOURCE_LABELS,
    ),
    (
        "promcast_resource_info",
        "gauge",
        "Inventory facts about a resource; the value is always 1.",
        RESOURCE_LABELS + ("instance_type", "lifecycle"),
    ),
    # cost: the COST_LABELS are always present (empty when a file provider is not configured to
    # break down by one); billing-file providers add their configured dimensions
    # (service_category, pricing_category, tag_<key>, ...), `billing_period` and `source` (focus,
    # cur: the same cloud may come from both), hence passthrough.
    (
        "promcast_cost_hourly_rate_usd",
        "gauge",
        "Spend per hour in US dollars over the newest complete billing hour, by FOCUS cost type "
        "(billed, effective, list; CUR files also net).",
        COST_LABELS,
        True,
    ),
    (
        "promcast_cost_month_to_date_usd",
        "gauge",
        "Spend since the start of the current calendar month (UTC) in US dollars; billing files "
        "give it for the billing period holding the present (`billing_period`, YYYY-MM) only, so "
        "sums never mix months.",
        COST_LABELS,
        True,
    ),
    (
        "promcast_cost_billing_period_usd",
        "gauge",
        "Spend of each billing period the billing files hold (`billing_period`, YYYY-MM; final "
        "once the period has closed): last month's bill. Never sum it across periods.",
        COST_LABELS,
        True,
    ),
    (
        "promcast_billing_data_last_timestamp_seconds",
        "gauge",
        "End of the newest billing hour the provider has reported, as a Unix timestamp.",
        ("provider",),
        True,
    ),
    # provider: aws
    (
        "promcast_cost_month_end_forecast_usd",
        "gauge",
        "The cloud's own forecast of the month's spend at its end (spend of the complete days so "
        "far plus the forecast of the rest; AWS Cost Explorer), `bound` mean, lower or upper of the "
        "`level` percent interval. For comparison with promcast's forecasts.",
        ("provider", "billing_account", "cost_type", "bound", "level"),
    ),
    (
        "promcast_cost_month_to_date_estimated_ratio",
        "gauge",
        "Share of the month-to-date spend the cloud still marks as estimated (0-1).",
        ("provider", "billing_account", "cost_type"),
    ),
    (
        "promcast_resource_disk_busy_ratio",
        "gauge",
        "Share of time the resource's disk had I/O in progress (0-1; EBS: 1 - VolumeIdleTime).",
        RESOURCE_LABELS + ("device",),
    ),
    (
        "promcast_resource_requests_per_second",
        "gauge",
        "Requests per second served by the resource (load balancers: RequestCount over the period).",
        RESOURCE_LABELS,
    ),
    (
        "promcast_resource_response_time_seconds",
        "gauge",
        "Mean time the resource's targets took to answer a request.",
        RESOURCE_LABELS,
    ),
    # provider: gcp
    # provider: openstack
    # Capacity pools (a hypervisor, a project's quota), not instances: promcast_resource_* keeps
    # one instance's size; these pair a used and a capacity gauge with identical labels, so
    # `used / capacity` is a utilisation and `capacity:` of a forecast target can point at it.
    (
        "promcast_openstack_cpu_used_vcpus",
        "gauge",
        "vCPUs in use: allocated on the hypervisor (scope=hypervisor), or the project's cores quota "
        "usage (scope=project).",
        OPENSTACK_POOL_LABELS,
    ),
    (
        "promcast_openstack_cpu_capacity_vcpus",
        "gauge",
        "Usable vCPUs: Placement's (total - reserved) * allocation_ratio, or the host's vCPUs from "
        "os-hypervisors before microversion 2.88 (see promcast_openstack_capacity_source_info); for a "
        "project its cores quota (absent when unlimited).",
        OPENSTACK_POOL_LABELS,
    ),
    (
        "promcast_openstack_memory_used_bytes",
        "gauge",
        "Memory in use in bytes, on the hypervisor or in the project's ram quota.",
        OPENSTACK_POOL_LABELS,
    ),
    (
        "promcast_openstack_memory_capacity_bytes",
        "gauge",
        "Usable memory in bytes: Placement MEMORY_MB (total - reserved) * allocation_ratio or the "
        "host's memory_mb; for a project its ram quota (absent when unlimited).",
        OPENSTACK_POOL_LABELS,
    ),
    (
        "promcast_openstack_disk_used_bytes",
        "gauge",
        "Disk in use in bytes: the hypervisor's local (or shared-provider) DISK_GB, or the project's "
        "volume gigabytes quota usage when volume quotas are read.",
        OPENSTACK_POOL_LABELS,
    ),
    (
        "promcast_openstack_disk_capacity_bytes",
        "gauge",
        "Usable disk in bytes: Placement DISK_GB (total - reserved) * allocation_ratio or the host's "
        "local_gb; for a project its volume gigabytes quota (absent when unlimited).",
        OPENSTACK_POOL_LABELS,
    ),
    (
        "promcast_openstack_allocation_ratio",
        "gauge",
        "Placement overcommit ratio of the hypervisor's resource (cpu, memory, disk).",
        OPENSTACK_POOL_LABELS + ("resource",),
    ),
    (
        "promcast_openstack_capacity_source_info",
        "gauge",
        "The API a region's numbers of a scope came from (placement, os-hypervisors, os-quota-sets); "
        "the value is always 1.",
        ("provider", "cloud", "region", "scope", "api"),
    ),
    # self-monitoring
    (
        "promcast_exporter_refresh_success",
        "gauge",
        "1 if the provider's last refresh succeeded, 0 if the exporter serves an older snapshot.",
        ("provider",),
    ),
    (
        "promcast_exporter_refresh_duration_seconds",
        "gauge",
        "Duration of the provider's last refresh.",
        ("provider",),
    ),
    (
        "promcast_exporter_last_refresh_success_timestamp_seconds",
        "gauge",
        "When the provider last refreshed successfully, as a Unix timestamp.",
        ("provider",),
    ),
    (
        "promcast_exporter_refresh_errors_total",
        "counter",
        "Failed refreshes of the provider.",
        ("provider",),
    ),
    (
        "promcast_exporter_api_calls_total",
        "counter",
        "Calls made to the provider's APIs (some, like AWS Cost Explorer, are billed per call).",
        ("provider", "api"),
    ),
    (
        "promcast_exporter_api_cost_usd_total",
        "counter",
        "Estimated cost in US dollars of the provider's billed API calls, at list prices (AWS Cost "
        "Explorer $0.01 per request, CloudWatch GetMetricData $0.01 per 1,000 metrics).",
        ("provider", "api"),
    ),
    (
        "promcast_exporter_part_refresh_success",
        "gauge",
        "1 if the last refresh of a part of the provider (one API, account or region) succeeded, "
        "0 if the part serves older data; account and region are empty for global parts.",
        ("provider", "part", "account", "region"),
    ),
    (
        "promcast_exporter_part_last_success_timestamp_seconds",
        "gauge",
        "When the part of the provider last refreshed successfully, as a Unix timestamp (0: never).",
        ("provider", "part", "account", "region"),
    ),
    (
        "promcast_exporter_bad_rows_total",
        "counter",
        "Rows of a billing file left out of every total because they could not be used, by reason; "
        "a new version of the file adds only the bad rows it has beyond the previous one. "
        "`promcast-exporter bad-rows` lists each with its line.",
        ("provider", "file", "reason"),
    ),
    (
        "promcast_exporter_skipped_files_total",
        "counter",
        "Versions of a billing file that could not be read (reason corrupt: not a readable gzip, "
        "parquet or CSV file; changing: rewritten during every attempt to read it; unreadable: "
        "the file system refused it); the provider publishes the other files and the file's last "
        "good version, if any, and its refresh counts as failed.",
        ("provider", "file", "reason"),
    ),
    (
        "promcast_exporter_duplicate_rows_total",
        "counter",
        "Line items of a billing file already read from another file (a CSV extract beside its "
        "parquet file, two exports of one period), counted once, in the file read first.",
        ("provider", "file"),
    ),
)

_FORECAST_LABELS = ("target",)
_FORECASTER = _specs(
    "forecaster",
    (
        "promcast_forecast_mean",
        "gauge",
        "Point forecast of the target's series for now + horizon, in the series' own unit. "
        "Stamped when made; shift it with `offset` to compare with the actual.",
        _FORECAST_LABELS + ("horizon",),
        True,
    ),
    (
        "promcast_forecast_lower",
        "gauge",
        "Lower bound of the forecast's central prediction interval at `level` percent.",
        _FORECAST_LABELS + ("horizon", "level"),
        True,
    ),
    (
        "promcast_forecast_upper",
        "gauge",
        "Upper bound of the forecast's central prediction interval at `level` percent.",
        _FORECAST_LABELS + ("horizon", "level"),
        True,
    ),
    (
        "promcast_forecast_observed",
        "gauge",
        "Newest observed value the model saw for the series.",
        _FORECAST_LABELS,
        True,
    ),
    (
        "promcast_forecast_capacity",
        "gauge",
        "Capacity threshold configured for the target, in the series' unit.",
        _FORECAST_LABELS,
        True,
    ),
    (
        "promcast_forecast_exhaustion_seconds",
        "gauge",
        "Seconds until the point forecast crosses the capacity threshold; +Inf when it does not "
        "within the largest horizon, 0 when it already has.",
        _FORECAST_LABELS,
        True,
    ),
    (
        "promcast_forecast_anomaly_score",
        "gauge",
        "How far the newest observation is from its expected value, as a share of the page "
        "threshold calibrated on the series' own history for the target's page budget (and of its "
        "minimum effect): 0 as expected, above 1 for the rule's for: is a page.",
        _FORECAST_LABELS,
        True,
    ),
    (
        "promcast_forecast_expected",
        "gauge",
        "The anomaly detector's expected value for the newest observation (recent level or "
        "seasonal profile, incidents left out): the centre the anomaly score is measured from "
        "(observed above it: the anomaly is a rise).",
        _FORECAST_LABELS,
        True,
    ),
    (
        "promcast_forecast_backtest_mase",
        "gauge",
        "Scaled error of the chosen model in the series' own rolling-origin backtest: the absolute "
        "error over seasonal naive's in-sample mean absolute error, averaged over the backtest "
        "points less the largest 20% (below 1: better than seasonal naive; one spike cannot "
        "dominate it).",
        _FORECAST_LABELS,
        True,
    ),
    (
        "promcast_forecast_backtest_coverage_ratio",
        "gauge",
        "Share of backtest points inside the `level` percent interval (ideal: level/100).",
        _FORECAST_LABELS + ("level",),
        True,
    ),
    (
        "promcast_forecast_history_to_season_ratio",
        "gauge",
        "The series' own history (from its first sample on the grid) over the target's season; "
        "below 2 its seasonal shape is the target's other series' (model fleet_profile, alone or "
        "in an ensemble with seasonal naive) where the fleet's backtest preferred it.",
        _FORECAST_LABELS,
        True,
    ),
    (
        "promcast_forecast_model_info",
        "gauge",
        "The model that produced the series' forecast and why; the value is always 1.",
        _FORECAST_LABELS + ("model", "reason"),
        True,
    ),
    (
        "promcast_forecast_regime_change_timestamp_seconds",
        "gauge",
        "When the series' newest regime began: the newest level shift or trend change found in its "
        "history at the last fit (absent when none was). Whether the forecast starts there is in "
        'promcast_forecast_model_info (model "...(since break)").',
        _FORECAST_LABELS,
        True,
    ),
    (
        "promcast_target_lead_time_seconds",
        "gauge",
        "Lead time configured for the target: how early exhaustion must be known.",
        ("target",),
    ),
    (
        "promcast_target_horizon_seconds",
        "gauge",
        "Largest horizon forecast for the target.",
        ("target",),
    ),
    (
        "promcast_target_staleness_seconds",
        "gauge",
        "How long a series of the target may go without a sample before it is retired (not "
        'forecast, scored or published; counted as state="retired" in '
        "promcast_forecaster_target_series).",
        ("target",),
    ),
    (
        "promcast_target_info",
        "gauge",
        "The target's identity_labels (comma-separated): the source labels that name one of its "
        "series to a person, for alert texts and dashboards; the value is always 1.",
        ("target", "identity_labels"),
    ),
    # budgets
    (
        "promcast_budget_amount",
        "gauge",
        "The budget for the period, in `currency`.",
        _FORECAST_LABELS + ("budget", "currency"),
        True,
    ),
    (
        "promcast_budget_spend",
        "gauge",
        "Spend so far in the budget's period, in `currency`.",
        _FORECAST_LABELS + ("budget", "currency"),
        True,
    ),
    (
        "promcast_budget_projected_spend",
        "gauge",
        "Projected spend at the end of the budget's period: spend so far plus the forecast.",
        _FORECAST_LABELS + ("budget", "currency"),
        True,
    ),
    (
        "promcast_budget_projected_spend_lower",
        "gauge",
        "Lower bound of the projected spend at `level` percent.",
        _FORECAST_LABELS + ("budget", "currency", "level"),
        True,
    ),
    (
        "promcast_budget_projected_spend_upper",
        "gauge",
        "Upper bound of the projected spend at `level` percent.",
        _FORECAST_LABELS + ("budget", "currency", "level"),
        True,
    ),
    (
        "promcast_budget_overrun_probability_ratio",
        "gauge",
        "Probability (0-1) that spend exceeds the budget by the period's end.",
        _FORECAST_LABELS + ("budget", "currency"),
        True,
    ),
    (
        "promcast_budget_period_end_timestamp_seconds",
        "gauge",
        "End of the budget's current period, as a Unix timestamp.",
        _FORECAST_LABELS + ("budget", "currency"),
        True,
    ),
    # recommendations (forecaster/recommend): resource labels pass through from the
    # `recommendations.labels` config; spend-series labels for commitments.
    (
        "promcast_recommendation_monthly_saving_usd",
        "gauge",
        "Estimated monthly saving of a recommendation in US dollars at on-demand list prices and "
        "hours_per_month (default 730); negative: what the change costs more (an upsize).",
        ("kind", "action"),
        True,
    ),
    (
        "promcast_recommendation_confidence_ratio",
        "gauge",
        "Confidence of a recommendation (0-1): share of the history window with data times the "
        "backtest coverage of the forecast interval relative to its level (0.5 when not backtested).",
        ("kind", "action"),
        True,
    ),
    (
        "promcast_recommendation_settings_info",
        "gauge",
        "How recommendations are computed (horizon, interval level, headroom, model, idle days, "
        "commitment quantile, hours per month, instance catalogue snapshot) and the labels that "
        "name a resource (identity_labels, comma-separated: alert texts use them); always 1.",
        (
            "horizon",
            "level",
            "headroom",
            "model",
            "idle_days",
            "commitment_quantile",
            "hours_per_month",
            "catalogue",
            "identity_labels",
        ),
    ),
    (
        "promcast_recommendation_skipped_series",
        "gauge",
        "Resources or spend series left out of the last run, by kind: rightsizing and commitment "
        "(too little data, size or price unknown), retired (stopped reporting for longer than "
        "the staleness), unnamed (a series lacks one of recommendations.identity_labels).",
        ("kind",),
    ),
    (
        "promcast_rightsizing_info",
        "gauge",
        "A resource's rightsizing: current and recommended instance type, action, the forecast "
        "horizon and interval level sized for, headroom, model, price source; always 1.",
        (
            "current_type",
            "recommended_type",
            "action",
            "horizon",
            "level",
            "model",
            "price_source",
            "basis",
            "headroom",
        ),
        True,
    ),
    (
        "promcast_rightsizing_required_vcpus",
        "gauge",
        "vCPUs the resource needs: highest forecast upper bound of CPU over the horizon x its "
        "vCPUs x (1 + headroom).",
        ("current_type", "recommended_type", "action", "horizon", "level"),
        True,
    ),
    (
        "promcast_rightsizing_required_memory_bytes",
        "gauge",
        "Memory the resource needs, computed like the vCPUs (its current memory without memory data).",
        ("current_type", "recommended_type", "action", "horizon", "level"),
        True,
    ),
    (
        "promcast_rightsizing_recommended_vcpus",
        "gauge",
        "vCPUs of the recommended instance type.",
        ("current_type", "recommended_type", "action", "horizon", "level"),
        True,
    ),
    (
        "promcast_rightsizing_recommended_memory_bytes",
        "gauge",
        "Memory of the recommended instance type in bytes.",
        ("current_type", "recommended_type", "action", "horizon", "level"),
        True,
    ),
    (
        "promcast_rightsizing_recommended_price_per_hour_usd",
        "gauge",
        "On-demand price per hour of the recommended type: catalogue price scaled by the resource's "
        "own price over its type's catalogue price (regional level).",
        ("current_type", "recommended_type", "action", "horizon", "level"),
        True,
    ),
    (
        "promcast_rightsizing_monthly_saving_usd",
        "gauge",
        "Monthly saving of moving to the recommended type (negative: extra cost of an upsize).",
        ("current_type", "recommended_type", "action", "horizon", "level"),
        True,
    ),
    (
        "promcast_rightsizing_forecast_peak_ratio",
        "gauge",
        "Highest upper bound of the utilisation forecast over the horizon (`dimension` cpu or "
        "memory), as a fraction of the current size.",
        ("current_type", "recommended_type", "action", "horizon", "level", "dimension"),
        True,
    ),
    (
        "promcast_idle_monthly_cost_usd",
        "gauge",
        "Monthly list cost of a resource whose utilisation stayed below the idle or "
        "over-provisioned thresholds (`state`) for `days` days.",
        ("state", "days"),
        True,
    ),
    (
        "promcast_idle_cpu_quantile_ratio",
        "gauge",
        "The configured CPU quantile (default 0.99) over the idle window of a flagged resource.",
        ("state", "days"),
        True,
    ),
    (
        "promcast_commitment_hourly_usd",
        "gauge",
        "Recommended commitment per hour, in on-demand US dollars of spend it covers.",
        ("option", "term", "discount"),
        True,
    ),
    (
        "promcast_commitment_expected_hourly_spend_usd",
        "gauge",
        "Mean forecast on-demand spend per hour over the option's term (at most max_horizon).",
        ("option", "term", "discount"),
        True,
    ),
    (
        "promcast_commitment_coverage_ratio",
        "gauge",
        "Share of the expected spend the recommended commitment covers.",
        ("option", "term", "discount"),
        True,
    ),
    (
        "promcast_commitment_utilization_ratio",
        "gauge",
        "Share of the recommended commitment expected to be used.",
        ("option", "term", "discount"),
        True,
    ),
    (
        "promcast_commitment_monthly_saving_usd",
        "gauge",
        "Expected monthly saving of the recommended commitment at the option's discount.",
        ("option", "term", "discount"),
        True,
    ),
    # planning: autoscaling, scenarios, lead time
    (
        "promcast_capacity_order_by_timestamp_seconds",
        "gauge",
        "When capacity must be ordered to be in place before the forecast exhaustion: exhaustion "
        "time minus the target's lead_time, as a Unix timestamp (+Inf: no exhaustion within the "
        "horizon). Only for series with a capacity.",
        _FORECAST_LABELS,
        True,
    ),
    (
        "promcast_capacity_lead_time_margin_seconds",
        "gauge",
        "Seconds from now until the order-by date (exhaustion minus lead_time): negative means "
        "capacity can no longer arrive in time.",
        _FORECAST_LABELS,
        True,
    ),
    (
        "promcast_scenario_forecast_mean",
        "gauge",
        "Point forecast for now + horizon under the growth scenario `scenario` (the baseline is "
        "promcast_forecast_mean).",
        _FORECAST_LABELS + ("scenario", "horizon"),
        True,
    ),
    (
        "promcast_scenario_forecast_lower",
        "gauge",
        "Lower bound of the `level` percent interval under the growth scenario `scenario`.",
        _FORECAST_LABELS + ("scenario", "horizon", "level"),
        True,
    ),
    (
        "promcast_scenario_forecast_upper",
        "gauge",
        "Upper bound of the `level` percent interval under the growth scenario `scenario`.",
        _FORECAST_LABELS + ("scenario", "horizon", "level"),
        True,
    ),
    (
        "promcast_scenario_exhaustion_seconds",
        "gauge",
        "Seconds until the scenario's point forecast crosses the capacity; +Inf when it does not "
        "within the largest horizon, 0 when the series already has.",
        _FORECAST_LABELS + ("scenario",),
        True,
    ),
    (
        "promcast_scenario_capacity_order_by_timestamp_seconds",
        "gauge",
        "Order-by date (exhaustion minus lead_time, Unix timestamp) under the growth scenario "
        "`scenario`.",
        _FORECAST_LABELS + ("scenario",),
        True,
    ),
    (
        "promcast_autoscaling_recommended_replicas",
        "gauge",
        "Replicas to run now for the forecast demand (upper bound of the autoscaling level over the "
        "scale-up lead time and window, per-replica capacity, headroom), clamped to the min/max "
        "replicas and stabilised for scale-down. For KEDA's Prometheus scaler or the HPA.",
        _FORECAST_LABELS,
        True,
    ),
    (
        "promcast_autoscaling_required_replicas",
        "gauge",
        "Replicas the forecast demand needs before clamping and stabilisation (above max_replicas: "
        "the maximum is too low).",
        _FORECAST_LABELS,
        True,
    ),
    # self-monitoring
    (
        "promcast_forecaster_target_up",
        "gauge",
        "1 if the target's (or budget's) last cycle succeeded, 0 if it failed (its last good "
        "results are kept).",
        ("target",),
    ),
    (
        "promcast_forecaster_results_stale",
        "gauge",
        "1 if the target's published results come from an older cycle because the latest failed.",
        ("target",),
    ),
    (
        "promcast_forecaster_last_success_timestamp_seconds",
        "gauge",
        "When the target last completed a cycle, as a Unix timestamp.",
        ("target",),
    ),
    (
        "promcast_forecaster_last_fit_timestamp_seconds",
        "gauge",
        "When the target's models were last chosen and fitted (every fit_every; cycles in between "
        "update them with new data), as a Unix timestamp.",
        ("target",),
    ),
    (
        "promcast_forecaster_cycle_duration_seconds",
        "gauge",
        "Duration of the target's last cycle (query, fit, predict).",
        ("target",),
    ),
    (
        "promcast_forecaster_cycles_total",
        "counter",
        "Cycles run per target and their result (success, error).",
        ("target", "result"),
    ),
    (
        "promcast_forecaster_target_series",
        "gauge",
        "Series of the target's (or budget's) last cycle by state: forecast, skipped (not enough "
        "history yet), dropped (cardinality cap or label collision), retired (no sample for longer "
        "than the target's staleness: stopped reporting); a budget with 0 forecast has no spend "
        "data.",
        ("target", "state"),
    ),
    (
        "promcast_forecaster_fits_total",
        "counter",
        "Times the target's models were chosen and fitted, by reason: first (nothing fitted yet), "
        "schedule (fit_every elapsed), settings (the target's model settings changed), series (a "
        "series appeared or was retired). Cycles in between only update the fitted models.",
        ("target", "reason"),
    ),
    (
        "promcast_forecaster_history_needed_seconds",
        "gauge",
        "A series the target's query returns but that is not forecast yet: how much more history "
        "it needs (seconds) before it is.",
        _FORECAST_LABELS,
        True,
    ),
    (
        "promcast_forecaster_remote_write_samples_total",
        "counter",
        "Samples queued for remote write, by result: sent; rejected (refused by the receiver, or "
        "stamped in the future); too_old (older than max_sample_age when their turn came, so "
        "dropped unsent); overflow (the oldest, dropped to keep the queue within queue_capacity).",
        ("result",),
    ),
    (
        "promcast_forecaster_remote_write_failed_requests_total",
        "counter",
        "Remote-write requests that got no answer (timeout, refused connection) or a 429/5xx; "
        "their samples stay queued and are retried with backoff.",
        (),
    ),
    (
        "promcast_forecaster_remote_write_pending_samples",
        "gauge",
        "Samples waiting in the remote-write queue.",
        (),
    ),
    (
        "promcast_forecaster_dropped_series_total",
        "counter",
        "Series left out by reason: max_series (the cardinality cap), label_collision (identical "
        "after keep_labels/drop_labels).",
        ("target", "reason"),
    ),
    (
        "promcast_forecaster_api_in_flight_requests",
        "gauge",
        "API requests (queries, ad-hoc forecasts) running or waiting for a slot.",
        (),
    ),
    (
        "promcast_forecaster_api_rejected_requests_total",
        "counter",
        "API requests answered 503 by reason: overload (over --query.max-concurrency plus "
        "--query.max-queued), timeout (over --query.timeout).",
        ("reason",),
    ),
)

_COMMON = [
    MetricSpec(
        "promcast_build_info",
        "gauge",
        "Version of the promcast component; the value is always 1.",
        ("component", "version"),
        component="both",
    ),
    MetricSpec(
        "promcast_config_last_reload_successful",
        "gauge",
        "Whether the last config reload (SIGHUP or POST /-/reload) worked (1) or was "
        "refused, the service keeping its previous config (0).",
        (),
        component="both",
    ),
    MetricSpec(
        "promcast_config_last_reload_success_timestamp_seconds",
        "gauge",
        "When the config was last loaded successfully (at start or by a reload), as a "
        "Unix timestamp.",
        (),
        component="both",
    ),
]

CATALOGUE: dict[str, MetricSpec] = {s.name: s for s in _EXPORTER + _FORECASTER + _COMMON}


def spec(name: str) -> MetricSpec:
    try:
        return CATALOGUE[name]
    except KeyError:
        raise KeyError(f"{name} is not in the metric catalogue (common/catalogue.py)") from None


def names(component: str | None = None) -> list[str]:
    """Every catalogued name, or those one component ("exporter", "forecaster") publishes."""
    return [
        n for n, s in CATALOGUE.items() if component is None or s.component in (component, "both")
    ]


class Families:
    """Metric families under construction, keyed by name, each sample checked against the
    catalogue. Families from several sources merge, so each name is exposed exactly once."""

    def __init__(self) -> None:
        self._by_name: dict[str, Metric] = {}

    def add(self, name: str, labels: Mapping[str, str], value: float) -> None:
        s = spec(name)
        fam = self._by_name.get(name)
        if fam is None:
            fam = self._by_name[name] = s.family()
        s.add(fam, labels, value)

    def merge(self, families: Iterable[Metric]) -> None:
        for fam in families:
            mine = self._by_name.get(fam.name) or self._by_name.get(fam.name + "_total")
            if mine is None:
                key = fam.name + "_total" if fam.type == "counter" else fam.name
                mine = self._by_name[key] = Metric(fam.name, fam.documentation, fam.type)
            mine.samples.extend(fam.samples)

    def __iter__(self) -> Iterator[Metric]:
        return iter(list(self._by_name.values()))

    def __len__(self) -> int:
        return len(self._by_name)
