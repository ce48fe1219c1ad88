"""promcast / Capacity overview: what runs out first, how sure the forecast is, what it costs,
and whether the forecaster itself is healthy."""

from dashboards.style import (
    SERIES_LEGEND,
    Colour,
    Unit,
    anomalous,
    anomaly_markers,
    bargauge,
    column,
    explorer_link,
    flag_stat,
    forecast_vs_actual,
    promcast_dashboard,
    query,
    query_variable,
    series_colour,
    stat,
    table,
    templating,
    thresholds,
    timeseries,
)

T = '{target=~"$target"}'
# Series with a capacity: `+ 0 * capacity` keeps only those (cost series have no exhaustion
# to speak of) and drops __name__, so the table's queries share their label columns.
EXHAUSTION = f"(promcast_forecast_exhaustion_seconds{T} + 0 * promcast_forecast_capacity{T})"
LEAD_TIME = "on (target) group_left () promcast_target_lead_time_seconds"
SHARE_OF_LEAD_TIME = f"{EXHAUSTION} / {LEAD_TIME}"
WITHIN_LEAD_TIME = f"promcast_forecast_exhaustion_seconds{T} < {LEAD_TIME}"
# node_exporter's real filesystems (not memory-backed or image layers), and the forecasts of them.
FILESYSTEMS = 'fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs"'
FORECAST_DISKS = 'mountpoint!=""'

dashboard = promcast_dashboard(
    title="promcast / Capacity overview",
    uid="promcast-capacity",
    description="Time to exhaustion per series against its target's lead time, forecasts "
    "against actuals, utilisation, spend and forecaster health.",
    tags=["capacity"],
    refresh="1m",
    # A day into the future: the forecast made a horizon ago is drawn at the time it is about.
    time=("now-7d", "now+1d"),
    annotations=[anomaly_markers(T)],
    templating=templating(
        query_variable(
            "target", "Target", "label_values(promcast_target_lead_time_seconds, target)"
        ),
        query_variable(
            "horizon",
            "Horizon",
            "label_values(promcast_forecast_mean%s, horizon)" % T,
            multi=False,
            default="1d",
        ),
    ),
    panels=[
        stat(
            "Exhausted within lead time",
            query(f"count({WITHIN_LEAD_TIME}) or vector(0)", instant=True),
            unit=Unit.COUNT,
            w=4,
            steps=thresholds(Colour.GOOD, (1, Colour.BAD)),
            description="Series forecast to cross their capacity sooner than their target's "
            "lead time: the ones PromcastCapacityExhaustionSoon pages about.",
        ),
        stat(
            "Soonest exhaustion",
            query(f"min(target:promcast_forecast_exhaustion_seconds:min{T})", instant=True),
            unit=Unit.DURATION,
            w=4,
            description="Shortest time until any selected series crosses its capacity "
            "(Infinity: none within the forecast horizon).",
        ),
        stat(
            "Anomalous series",
            query(f"count({anomalous(T)}) or vector(0)", instant=True),
            unit=Unit.COUNT,
            w=4,
            steps=thresholds(Colour.GOOD, (1, Colour.WARN)),
            description="Series whose newest value deviates from its expected value by more than its page "
            "threshold (anomaly score above 1).",
        ),
        flag_stat(
            "Forecaster targets",
            f"promcast_forecaster_target_up{T}",
            "{{target}}",
            w=4,
            ok=(1, "up"),
            problem=(0, "failing", Colour.BAD),
        ),
        flag_stat(
            "Published results",
            f"promcast_forecaster_results_stale{T}",
            "{{target}}",
            w=4,
            ok=(0, "fresh"),
            problem=(1, "stale", Colour.WARN),
        ),
        stat(
            "Since last good cycle",
            query(
                f"max(time() - promcast_forecaster_last_success_timestamp_seconds{T})", instant=True
            ),
            unit=Unit.SECONDS,
            w=4,
            description="Age of the oldest selected target's last successful cycle.",
        ),
        table(
            "Time to exhaustion",
            query(EXHAUSTION, table=True),
            query(f"({EXHAUSTION} >= bool 0) * {LEAD_TIME}", table=True),
            query(SHARE_OF_LEAD_TIME, table=True),
            unit=Unit.DURATION,
            w=14,
            h=10,
            sort_by="Time to exhaustion",
            # `instance` stays: node_exporter series are named by it (and mountpoint).
            hide=("Time", "job"),
            overrides=[
                column(
                    "Value #A",
                    display="Time to exhaustion",
                    links=[explorer_link("${__data.fields.target}", "${__data.fields.%s}")],
                ),
                column("Value #B", display="Lead time"),
                column(
                    "Value #C",
                    display="Share of lead time",
                    unit=Unit.RATIO,
                    cell="color-background",
                    steps=thresholds(Colour.BAD, (1, Colour.WARN), (2, Colour.GOOD)),
                ),
            ],
            description="Every series with a capacity, soonest first, coloured by its time "
            "to exhaustion as a share of the target's lead time (red: sooner "
            "than the lead time; orange: within twice). Click a time to open "
            "the series in the forecast explorer.",
        ),
        bargauge(
            "Top risks: share of lead time left",
            query(f"sort(bottomk(10, {SHARE_OF_LEAD_TIME} < +Inf))", SERIES_LEGEND, instant=True),
            unit=Unit.RATIO,
            w=10,
            h=10,
            min=0,
            max=2,
            steps=thresholds(Colour.BAD, (1, Colour.WARN), (2, Colour.GOOD)),
            links=[explorer_link("${__field.labels.target}", "${__field.labels.%s}")],
            description="The ten series that run out soonest relative to their lead time "
            "(time to exhaustion / lead time; below 100%: too late to add "
            "capacity the usual way). Series not forecast to run out within "
            "the horizon are left out.",
        ),
        bargauge(
            "Utilisation of capacity",
            query(
                f"sort_desc(topk(15, promcast_forecast_observed{T} "
                f"/ promcast_forecast_capacity{T}))",
                SERIES_LEGEND,
                instant=True,
            ),
            unit=Unit.RATIO,
            w=10,
            h=9,
            min=0,
            max=1,
            steps=thresholds(Colour.GOOD, (0.8, Colour.WARN), (1, Colour.BAD)),
            links=[explorer_link("${__field.labels.target}", "${__field.labels.%s}")],
            description="Newest observed value as a share of the target's capacity, highest first.",
        ),
        forecast_vs_actual(
            "Forecast vs actual ($horizon ahead)",
            'target=~"$target"',
            unit=Unit.COUNT,
            w=14,
            description="The forecast made one horizon ago, drawn at the time "
            "it is about, over what was observed. Pick one target: "
            "the units of targets differ. Red markers: series "
            "past their anomaly page threshold.",
        ),
        timeseries(
            "Disk utilisation",
            query(
                "resource:promcast_resource_disk_utilization:ratio", "{{resource_id}} {{device}}"
            ),
            query(
                f"1 - node_filesystem_avail_bytes{{{FILESYSTEMS}}} "
                f"/ node_filesystem_size_bytes{{{FILESYSTEMS}}}",
                "{{instance}} {{mountpoint}}",
            ),
            query(
                f"promcast_forecast_mean{{{T[1:-1]}, {FORECAST_DISKS}, "
                f'horizon="$horizon"}} offset $horizon',
                "{{instance}} {{mountpoint}} forecast",
            ),
            unit=Unit.RATIO,
            min=0,
            max=1,
            show_thresholds=True,
            steps=thresholds(Colour.GOOD, (0.8, Colour.WARN), (0.9, Colour.BAD)),
            overrides=[series_colour(".* forecast$", Colour.FORECAST, dashed=True)],
            description="Used share of promcast's resource disks (by resource_id and "
            "device) and of node_exporter filesystems (by instance and "
            "mountpoint), with the forecast made $horizon ago for each "
            "moment of a target forecasting filesystems (series with a "
            "mountpoint, e.g. 1 - avail / size). Their time to exhaustion "
            "is in the table above.",
        ),
        timeseries(
            "Spend per hour (billed)",
            query("provider_service:promcast_cost_hourly_rate_usd:sum", "{{provider}} {{service}}"),
            unit=Unit.USD_PER_HOUR,
            stack=True,
        ),
    ],
)
