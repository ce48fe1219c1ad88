"""promcast / Self-monitoring: is promcast itself healthy? Forecaster cycles, failures, stale
targets, series per target and those dropped by the cardinality cap, remote write; exporter
refreshes, billing data age and the billed API calls the exporter makes, and their cost."""

from dashboards.style import (
    Colour,
    Unit,
    alert_threshold,
    flag_stat,
    promcast_dashboard,
    query,
    query_variable,
    stat,
    templating,
    thresholds,
    timeseries,
)

T = '{target=~"$target"}'
P = '{provider=~"$provider"}'
# Read from the alert thresholds of rules/promcast.rules.yml, so the colours turn when the
# staleness alerts fire (a changed threshold shows as out-of-date JSON until regenerated).
FORECASTER_STALE = thresholds(
    Colour.GOOD, (alert_threshold("forecaster_stale_seconds"), Colour.BAD)
)
EXPORTER_STALE = thresholds(Colour.GOOD, (alert_threshold("exporter_stale_seconds"), Colour.BAD))
BILLING_STALE = thresholds(
    Colour.GOOD, (alert_threshold("billing_data_max_age_seconds"), Colour.BAD)
)
PROBLEMS = thresholds(Colour.GOOD, (1, Colour.BAD))


def per_hour(counter: str, by: str) -> str:
    """Events per hour of a counter, summed by ``by``: counters restart with the service."""
    return f"sum by ({by}) (increase({counter}[1h]))"


dashboard = promcast_dashboard(
    title="promcast / Self-monitoring",
    uid="promcast-self",
    description="Health of promcast itself: forecaster cycles, failures, stale targets, series "
    "per target and dropped series, remote write; exporter refreshes, billing data "
    "age, billed API calls and their cost.",
    tags=["self-monitoring"],
    refresh="1m",
    time=("now-1d", "now"),
    templating=templating(
        query_variable(
            "target", "Target or budget", "label_values(promcast_forecaster_target_up, target)"
        ),
        query_variable(
            "provider",
            "Exporter provider",
            "label_values(promcast_exporter_refresh_success, provider)",
        ),
    ),
    panels=[
        stat(
            "Failing targets",
            query(f"count(promcast_forecaster_target_up{T} == 0) or vector(0)", instant=True),
            unit=Unit.COUNT,
            w=4,
            steps=PROBLEMS,
            description="Targets and budgets whose last forecaster cycle failed.",
        ),
        stat(
            "Stale results",
            query(f"sum(promcast_forecaster_results_stale{T})", instant=True),
            unit=Unit.COUNT,
            w=4,
            steps=thresholds(Colour.GOOD, (1, Colour.WARN)),
            description="Targets publishing an older cycle's results because the latest failed.",
        ),
        stat(
            "Oldest good cycle",
            query(
                f"max(time() - promcast_forecaster_last_success_timestamp_seconds{T})", instant=True
            ),
            unit=Unit.SECONDS,
            w=4,
            steps=FORECASTER_STALE,
            description="Red beyond the PromcastForecasterStale threshold (15 min).",
        ),
        stat(
            "Series forecast",
            query(
                'sum(promcast_forecaster_target_series{target=~"$target", state="forecast"})',
                instant=True,
            ),
            unit=Unit.COUNT,
            w=4,
        ),
        stat(
            "Failing providers",
            query(f"count(promcast_exporter_refresh_success{P} == 0) or vector(0)", instant=True),
            unit=Unit.COUNT,
            w=4,
            steps=PROBLEMS,
            description="Exporter providers serving an older snapshot after a failed refresh.",
        ),
        stat(
            "Oldest billing data",
            query("max(time() - promcast_billing_data_last_timestamp_seconds)", instant=True),
            unit=Unit.SECONDS,
            w=4,
            steps=BILLING_STALE,
            description="Age of the newest billing hour of the provider that lags most; red "
            "beyond the PromcastBillingDataStale threshold (2 days).",
        ),
        flag_stat(
            "Forecaster targets",
            f"promcast_forecaster_target_up{T}",
            "{{target}}",
            ok=(1, "up"),
            problem=(0, "failing", Colour.BAD),
            w=8,
        ),
        flag_stat(
            "Exporter providers",
            f"promcast_exporter_refresh_success{P}",
            "{{provider}}",
            ok=(1, "refreshed"),
            problem=(0, "failing", Colour.BAD),
            w=6,
        ),
        stat(
            "Failing provider parts",
            query(
                f"count(promcast_exporter_part_refresh_success{P} == 0) or vector(0)", instant=True
            ),
            unit=Unit.COUNT,
            w=4,
            steps=PROBLEMS,
            description="APIs, accounts or regions of a provider whose last refresh failed "
            "(the rest of the provider keeps refreshing).",
        ),
        stat(
            "Versions",
            query("promcast_build_info", "{{component}} {{version}}", instant=True),
            unit=Unit.STATE,
            w=6,
            text_mode="name",
        ),
        timeseries(
            "Cycle duration",
            query(f"promcast_forecaster_cycle_duration_seconds{T}", "{{target}}"),
            unit=Unit.SECONDS,
            w=8,
            description="Duration of each target's last cycle (query, fit, predict).",
        ),
        timeseries(
            "Failed cycles per hour",
            query(
                per_hour(
                    'promcast_forecaster_cycles_total{target=~"$target", result="error"}', "target"
                ),
                "{{target}}",
            ),
            unit=Unit.COUNT,
            w=8,
            steps=PROBLEMS,
            show_thresholds=True,
        ),
        timeseries(
            "Since last good cycle",
            query(f"time() - promcast_forecaster_last_success_timestamp_seconds{T}", "{{target}}"),
            unit=Unit.SECONDS,
            w=8,
            steps=FORECASTER_STALE,
            show_thresholds=True,
            description="Red line: the PromcastForecasterStale threshold.",
        ),
        timeseries(
            "Series per target",
            query(f"promcast_forecaster_target_series{T}", "{{target}} {{state}}"),
            unit=Unit.COUNT,
            w=8,
            stack=True,
            description="Cardinality of each target's last cycle: forecast, skipped "
            "(no usable data), dropped (cap, label collisions) and retired "
            "(stopped reporting for longer than the staleness).",
        ),
        timeseries(
            "Dropped series per hour",
            query(
                per_hour(f"promcast_forecaster_dropped_series_total{T}", "target, reason"),
                "{{target}} {{reason}}",
            ),
            unit=Unit.COUNT,
            w=8,
            steps=thresholds(Colour.GOOD, (1, Colour.WARN)),
            show_thresholds=True,
            description="Series left out by the cardinality cap (max_series) or because "
            "they collide after keep_labels/drop_labels.",
        ),
        timeseries(
            "Remote write samples per second",
            query(
                "sum by (result) "
                "(rate(promcast_forecaster_remote_write_samples_total[$__rate_interval]))",
                "{{result}}",
            ),
            unit=Unit.COUNT,
            w=8,
            description="Only with remote_write configured: samples sent, rejected by "
            "the receiver, dropped as too old after an outage, and dropped "
            "because the queue was full.",
        ),
        timeseries(
            "Exporter refresh duration",
            query(f"promcast_exporter_refresh_duration_seconds{P}", "{{provider}}"),
            unit=Unit.SECONDS,
            w=8,
        ),
        timeseries(
            "Since last successful refresh",
            query(
                f"time() - promcast_exporter_last_refresh_success_timestamp_seconds{P}",
                "{{provider}}",
            ),
            unit=Unit.SECONDS,
            w=8,
            steps=EXPORTER_STALE,
            show_thresholds=True,
            description="Red line: the PromcastExporterRefreshStale threshold (3 h).",
        ),
        timeseries(
            "Refresh errors per hour",
            query(
                per_hour(f"promcast_exporter_refresh_errors_total{P}", "provider"), "{{provider}}"
            ),
            unit=Unit.COUNT,
            w=8,
            steps=PROBLEMS,
            show_thresholds=True,
        ),
        timeseries(
            "Billed API calls per hour",
            query(
                per_hour(f"promcast_exporter_api_calls_total{P}", "provider, api"),
                "{{provider}} {{api}}",
            ),
            unit=Unit.COUNT,
            w=8,
            description="Calls to the providers' APIs; some (AWS Cost Explorer) are "
            "charged per request, so a rise costs money.",
        ),
        timeseries(
            "Billed API cost per hour",
            query(
                per_hour(f"promcast_exporter_api_cost_usd_total{P}", "provider, api"),
                "{{provider}} {{api}}",
            ),
            unit=Unit.USD,
            w=8,
            description="What those calls cost at list prices (estimated by the "
            "exporter), per provider and API.",
        ),
        timeseries(
            "Billing data age",
            query("time() - promcast_billing_data_last_timestamp_seconds", "{{provider}}"),
            unit=Unit.SECONDS,
            w=8,
            steps=BILLING_STALE,
            show_thresholds=True,
            description="Age of each cloud's newest billed hour; red line: the "
            "PromcastBillingDataStale threshold.",
        ),
    ],
)
