"""promcast / Capacity overview: what runs out first, how sure the forecast is, what it costs,
and whether the forecaster itself is healthy."""

from grafanalib.core import Dashboard, Time

from dashboards.style import (
    TAGS,
    Colour,
    Unit,
    bargauge,
    column,
    flow,
    query,
    query_variable,
    series_colour,
    stat,
    table,
    templating,
    thresholds,
    timeseries,
    value_text,
)

T = '{target=~"$target"}'
FORECAST = '{target=~"$target", horizon="$horizon"}'
BAND_80 = '{target=~"$target", horizon="$horizon", level="80"}'
# Forecasts are stamped when they are made; shifting by the horizon draws each one at the time
# it is about, over the actual. The dashboard's range runs a day into the future to show them.
SHIFT = "offset $horizon"
SERIES = "{{target}} {{resource_id}}{{service}}"
WITHIN_LEAD_TIME = ("promcast_forecast_exhaustion_seconds%s < on (target) group_left () "
                    "promcast_target_lead_time_seconds" % T)

dashboard = Dashboard(
    title="promcast / Capacity overview",
    uid="promcast-capacity",
    description="Time to exhaustion per series against its target's lead time, forecasts "
                "against actuals, utilisation, spend and forecaster health.",
    tags=[*TAGS, "capacity"],
    timezone="utc",
    refresh="1m",
    time=Time("now-7d", "now+1d"),
    templating=templating(
        query_variable("target", "Target",
                       "label_values(promcast_target_lead_time_seconds, target)"),
        query_variable("horizon", "Horizon", 'label_values(promcast_forecast_mean%s, horizon)' % T,
                       multi=False, default="1d"),
    ),
    panels=flow([
        stat("Exhausted within lead time",
             query(f"count({WITHIN_LEAD_TIME}) or vector(0)", instant=True),
             unit=Unit.COUNT, w=5,
             steps=thresholds(Colour.GOOD, (1, Colour.BAD)),
             description="Series forecast to cross their capacity sooner than their target's "
                         "lead time: the ones PromcastCapacityExhaustionSoon pages about."),
        stat("Soonest exhaustion",
             query(f"min(target:promcast_forecast_exhaustion_seconds:min{T})", instant=True),
             unit=Unit.DURATION, w=5,
             description="Shortest time until any selected series crosses its capacity "
                         "(Infinity: none within the forecast horizon)."),
        stat("Forecaster targets",
             query(f"promcast_forecaster_target_up{T}", "{{target}}", instant=True),
             unit=Unit.STATE, w=5, text_mode="value_and_name",
             steps=thresholds(Colour.BAD, (1, Colour.GOOD)),
             mappings=value_text({0: ("failing", Colour.BAD), 1: ("up", Colour.GOOD)})),
        stat("Published results",
             query(f"promcast_forecaster_results_stale{T}", "{{target}}", instant=True),
             unit=Unit.STATE, w=5, text_mode="value_and_name",
             steps=thresholds(Colour.GOOD, (1, Colour.WARN)),
             mappings=value_text({0: ("fresh", Colour.GOOD), 1: ("stale", Colour.WARN)})),
        stat("Since last good cycle",
             query(f"max(time() - promcast_forecaster_last_success_timestamp_seconds{T})",
                   instant=True),
             unit=Unit.SECONDS, w=4,
             description="Age of the oldest selected target's last successful cycle."),

        table("Time to exhaustion",
              # `+ 0` drops __name__, so the three queries share their label columns and the
              # merge makes one row per series.
              query(f"promcast_forecast_exhaustion_seconds{T} + 0", table=True),
              query(f"(promcast_forecast_exhaustion_seconds{T} >= bool 0) "
                    "* on (target) group_left () promcast_target_lead_time_seconds", table=True),
              query(f"promcast_forecast_exhaustion_seconds{T} "
                    "/ on (target) group_left () promcast_target_lead_time_seconds", table=True),
              unit=Unit.DURATION, w=14, h=10, sort_by="Time to exhaustion",
              hide=("Time", "job", "instance"),
              overrides=[
                  column("Value #A", display="Time to exhaustion"),
                  column("Value #B", display="Lead time"),
                  column("Value #C", display="Share of lead time", unit=Unit.RATIO,
                         cell="color-background",
                         steps=thresholds(Colour.BAD, (1, Colour.WARN), (2, Colour.GOOD))),
              ],
              description="Every forecast series, soonest first. Red: exhaustion comes sooner "
                          "than the target's lead time; orange: within twice the lead time."),
        bargauge("Utilisation of capacity",
                 query(f"topk(15, promcast_forecast_observed{T} / promcast_forecast_capacity{T})",
                       SERIES, instant=True),
                 unit=Unit.RATIO, w=10, h=10, min=0, max=1,
                 steps=thresholds(Colour.GOOD, (0.8, Colour.WARN), (1, Colour.BAD)),
                 description="Newest observed value as a share of the target's capacity, "
                             "highest first."),

        timeseries("Forecast vs actual ($horizon ahead)",
                   query(f"promcast_forecast_observed{T}", SERIES + " actual"),
                   query(f"promcast_forecast_mean{FORECAST} {SHIFT}", SERIES + " forecast"),
                   query(f"promcast_forecast_lower{BAND_80} {SHIFT}", SERIES + " 80% low"),
                   query(f"promcast_forecast_upper{BAND_80} {SHIFT}", SERIES + " 80% high"),
                   unit=Unit.COUNT, w=24, h=9,
                   overrides=[series_colour(".* forecast$", Colour.FORECAST, dashed=True),
                              series_colour(".* 80% (low|high)$", Colour.NEUTRAL, dashed=True)],
                   description="The forecast made one horizon ago, drawn at the time it is "
                               "about, over what was observed. Pick one target: the units of "
                               "targets differ."),

        timeseries("Disk utilisation",
                   query("resource:promcast_resource_disk_utilization:ratio",
                         "{{resource_id}} {{device}}"),
                   unit=Unit.RATIO, min=0, max=1, show_thresholds=True,
                   steps=thresholds(Colour.GOOD, (0.8, Colour.WARN), (0.9, Colour.BAD))),
        timeseries("Spend per hour (billed)",
                   query("provider_service:promcast_cost_hourly_rate_usd:sum",
                         "{{provider}} {{service}}"),
                   unit=Unit.USD_PER_HOUR, stack=True),
    ]),
)
