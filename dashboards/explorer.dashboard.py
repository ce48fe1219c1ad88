"""promcast / Forecast explorer: one target's series, their actuals against the forecast (the
whole curve beyond "now" from the forecaster, and the forecast made a horizon ago from Prometheus
alone), anomalies, and how good the chosen model was in its backtest."""

from dashboards.style import (
    EXPLORER_UID,
    SERIES_LEGEND,
    Colour,
    Unit,
    anomaly_markers,
    column,
    custom_variable,
    forecast_curves,
    forecast_vs_actual,
    promcast_dashboard,
    query,
    query_variable,
    stat,
    table,
    templating,
    thresholds,
    timeseries,
)

# Which label tells the target's series apart: the forecaster keeps the labels of the target's
# query, so promcast's resource series carry resource_id, cost series service, node_exporter
# series instance (+ mountpoint for disks), CloudWatch instance_id, Kubernetes namespace + pod
# (a target's identity_labels, in promcast_target_info, say which).
SERIES_LABELS = (
    "resource_id",
    "service",
    "instance",
    "mountpoint",
    "instance_id",
    "namespace",
    "pod",
)
# A second label for schemes that need two (instance + mountpoint, namespace + pod); `target`,
# its default, selects nothing more. Alert links set both pairs from the identity_labels.
SELECTOR = 'target="$target", $by=~"$series", $by2=~"$series2"'
S = "{%s}" % SELECTOR
# One table row per series: the model's labels joined onto each accuracy value.
MODEL = "ignoring (model, reason) group_left (model, reason) promcast_forecast_model_info" + S
COVERAGE = (
    f'sum without (level) (promcast_forecast_backtest_coverage_ratio{{{SELECTOR}, level="%s"}})'
)
# The coverage a well-calibrated interval reaches is its level: red far below, orange below.
COVERAGE_STEPS = {
    lv: thresholds(
        Colour.BAD,
        (round(int(lv) / 100 - 0.15, 2), Colour.WARN),
        (round(int(lv) / 100 - 0.05, 2), Colour.GOOD),
    )
    for lv in ("80", "95")
}
MASE_STEPS = thresholds(Colour.GOOD, (1, Colour.WARN), (1.5, Colour.BAD))

dashboard = promcast_dashboard(
    title="promcast / Forecast explorer",
    uid=EXPLORER_UID,
    description="One target's series: actual against the forecast with its 80% and 95% bands "
    "beyond now, the forecast made a horizon ago, anomalies, and the model's "
    "backtest accuracy.",
    tags=["forecast"],
    refresh="1m",
    # A week into the future: the longest demo horizon; curves end where the forecast does.
    time=("now-7d", "now+7d"),
    annotations=[anomaly_markers(S)],
    templating=templating(
        # The demo's busiest target: daily cycles, anomalies, a day-long forecast curve.
        query_variable(
            "target",
            "Target",
            "label_values(promcast_target_lead_time_seconds, target)",
            multi=False,
            default="cpu_utilization",
        ),
        custom_variable("by", "Series label", SERIES_LABELS, default="resource_id"),
        # All is `.*`, which also matches series without the `$by` label: every series of the
        # target shows whatever its label scheme, until one is picked.
        query_variable(
            "series",
            "Series",
            'label_values(promcast_forecast_observed{target="$target"}, $by)',
            all_value=".*",
        ),
        custom_variable("by2", "and label", ("target",) + SERIES_LABELS, default="target"),
        query_variable(
            "series2",
            "Value",
            'label_values(promcast_forecast_observed{target="$target"}, $by2)',
            all_value=".*",
        ),
        query_variable(
            "horizon",
            "Horizon",
            'label_values(promcast_forecast_mean{target="$target"}, horizon)',
            multi=False,
            default="1d",
        ),
        forecaster=True,
    ),
    panels=[
        stat(
            "Soonest exhaustion",
            query(f"min(promcast_forecast_exhaustion_seconds{S})", instant=True),
            unit=Unit.DURATION,
            w=4,
            description="Time until the first selected series crosses the target's capacity "
            "(Infinity: not within the horizon; no value: no capacity set).",
        ),
        stat(
            "Lead time",
            query('promcast_target_lead_time_seconds{target="$target"}', instant=True),
            unit=Unit.DURATION,
            w=4,
            description="How early the target's exhaustion must be known.",
        ),
        stat(
            "Highest anomaly score",
            query(f"max(promcast_forecast_anomaly_score{S})", instant=True),
            unit=Unit.COUNT,
            w=4,
            steps=thresholds(Colour.GOOD, (1, Colour.WARN)),
            description="Distance of the newest value from its forecast, in half-widths of "
            "the anomaly interval: above 1 it is outside.",
        ),
        stat(
            "Median backtest MASE",
            query(f"quantile(0.5, promcast_forecast_backtest_mase{S})", instant=True),
            unit=Unit.COUNT,
            w=4,
            steps=MASE_STEPS,
            description="Mean absolute scaled error of the chosen models in their backtests: "
            "below 1 beats seasonal naive.",
        ),
        *[
            stat(
                f"{lv}% interval coverage",
                query(f"avg({COVERAGE % lv})", instant=True),
                unit=Unit.RATIO,
                w=4,
                steps=COVERAGE_STEPS[lv],
                description=f"Share of backtest points inside the {lv}% interval; "
                f"well calibrated: {lv}%.",
            )
            for lv in ("80", "95")
        ],
        forecast_curves(
            "Actual and forecast beyond now",
            SELECTOR,
            unit=Unit.COUNT,
            description="The observed values (Prometheus) and the newest forecast "
            "with its 80% and 95% bands up to the largest horizon "
            "(the forecaster's future-curve datasource). Pick one "
            "series to read the bands; red markers: anomalies.",
        ),
        forecast_vs_actual(
            "Forecast made $horizon ago vs actual (Prometheus only)",
            SELECTOR,
            unit=Unit.COUNT,
            levels=("80", "95"),
            description="Each forecast drawn at the time it is about, shifted "
            "with offset: works without the forecaster datasource, "
            "and shows how past forecasts did.",
        ),
        timeseries(
            "Anomaly score",
            query(f"promcast_forecast_anomaly_score{S}", SERIES_LEGEND),
            unit=Unit.COUNT,
            w=10,
            show_thresholds=True,
            steps=thresholds(Colour.GOOD, (1, Colour.BAD)),
            description="Above 1 (red line): the newest value is outside the anomaly "
            "interval of what was forecast for it.",
        ),
        table(
            "Models and backtest accuracy",
            # A row per series even without a backtest (only model auto backtests); `+ 0`
            # drops __name__ so every query has the same label columns.
            query(f"promcast_forecast_model_info{S} + 0", table=True),
            query(f"promcast_forecast_backtest_mase{S} * {MODEL}", table=True),
            *[query(f"{COVERAGE % lv} * {MODEL}", table=True) for lv in ("80", "95")],
            unit=Unit.COUNT,
            w=14,
            sort_by="MASE",
            hide=("Time", "job", "instance", "Value #A"),
            overrides=[
                column("Value #B", display="MASE", steps=MASE_STEPS, cell="color-text"),
                *[
                    column(
                        f"Value #{ref}",
                        display=f"{lv}% coverage",
                        unit=Unit.RATIO,
                        steps=COVERAGE_STEPS[lv],
                        cell="color-text",
                    )
                    for ref, lv in (("C", "80"), ("D", "95"))
                ],
            ],
            description="The model the forecaster chose per series and why (a fallback "
            "says so), its backtest MASE and interval coverage (red: far below "
            "the level).",
        ),
    ],
)
