"""promcast / Cost and budget: spend by provider, service and billing account, month to date
against each budget with its projection and overrun probability, cost anomalies and the spend
forecast."""

from dashboards.style import (
    Colour,
    Unit,
    anomaly_markers,
    bargauge,
    forecast_curves,
    forecast_vs_actual,
    promcast_dashboard,
    query,
    query_variable,
    series_colour,
    stat,
    templating,
    thresholds,
    timeseries,
)

P = '{provider=~"$provider"}'
B = '{budget=~"$budget"}'
# Cost targets are those whose series keep the `service` label (resource series never have it).
COST = 'target=~"$cost_target", provider=~"$provider"'
RATE = "provider_service:promcast_cost_hourly_rate_usd:sum" + P
DAILY = "provider_service:promcast_cost_daily_usd:sum" + P
MONTH_TO_DATE = "provider_service:promcast_cost_month_to_date_usd:sum" + P
BUDGET_LEGEND = "{{budget}}"
# Share of the budget: orange from 90%, red above it; the probability of an overrun likewise.
BUDGET_STEPS = thresholds(Colour.GOOD, (0.9, Colour.WARN), (1, Colour.BAD))
PROBABILITY_STEPS = thresholds(Colour.GOOD, (0.2, Colour.WARN), (0.5, Colour.BAD))

dashboard = promcast_dashboard(
    title="promcast / Cost and budget",
    uid="promcast-cost",
    description="Spend by provider, service and billing account (billed cost), month to date "
    "against budget with the projection to the period's end and the probability "
    "of an overrun, cost anomalies and the spend forecast.",
    tags=["cost"],
    refresh="5m",
    # Two weeks back for the weekly pattern, a week ahead for the spend forecast.
    time=("now-14d", "now+7d"),
    annotations=[
        anomaly_markers(
            "{%s}" % COST,
            name="Cost anomalies",
            title="{{provider}} {{service}} spend",
            what="spend ",
            tags="target,provider,service",
        )
    ],
    templating=templating(
        query_variable(
            "provider",
            "Provider",
            "label_values(provider_service:promcast_cost_hourly_rate_usd:sum, provider)",
        ),
        query_variable("budget", "Budget", "label_values(promcast_budget_amount, budget)"),
        query_variable(
            "cost_target",
            "Cost forecast",
            'label_values(promcast_forecast_observed{service!=""}, target)',
        ),
        query_variable(
            "horizon",
            "Horizon",
            'label_values(promcast_forecast_mean{target=~"$cost_target"}, horizon)',
            multi=False,
            default="1d",
        ),
        forecaster=True,
    ),
    panels=[
        stat(
            "Spend per hour",
            query(f"sum({RATE})", instant=True),
            unit=Unit.USD_PER_HOUR,
            w=4,
            description="Billed cost of the newest complete billing hour.",
        ),
        stat("Spend over the last 24 h", query(f"sum({DAILY})", instant=True), unit=Unit.USD, w=4),
        stat(
            "Month to date",
            query(f"sum({MONTH_TO_DATE})", instant=True),
            unit=Unit.USD,
            w=4,
            description="Billed spend since the start of the calendar month (UTC).",
        ),
        stat(
            "Budget",
            query(f"promcast_budget_amount{B}", BUDGET_LEGEND, instant=True),
            unit=Unit.USD,
            w=4,
            text_mode="value_and_name",
            description="Each budget's amount for its period (in its currency).",
        ),
        stat(
            "Projected share of budget",
            query(
                f"promcast_budget_projected_spend{B} / promcast_budget_amount{B}",
                BUDGET_LEGEND,
                instant=True,
            ),
            unit=Unit.RATIO,
            w=4,
            steps=BUDGET_STEPS,
            text_mode="value_and_name",
            description="Spend so far plus the forecast spend until the period's end, as a "
            "share of the budget.",
        ),
        stat(
            "Overrun probability",
            query(f"promcast_budget_overrun_probability_ratio{B}", BUDGET_LEGEND, instant=True),
            unit=Unit.RATIO,
            w=4,
            steps=PROBABILITY_STEPS,
            text_mode="value_and_name",
            description="Probability that spend exceeds the budget by the period's end.",
        ),
        timeseries(
            "Month to date against budget",
            query(f"promcast_budget_spend{B}", BUDGET_LEGEND + " spent"),
            query(f"promcast_budget_amount{B}", BUDGET_LEGEND + " budget"),
            query(f"promcast_budget_projected_spend{B}", BUDGET_LEGEND + " projected"),
            *[
                query(
                    f'promcast_budget_projected_spend_{side}{{budget=~"$budget", level="95"}}',
                    f"{BUDGET_LEGEND} projected 95% {end}",
                )
                for side, end in (("lower", "low"), ("upper", "high"))
            ],
            unit=Unit.USD,
            w=16,
            h=9,
            overrides=[
                series_colour(".* budget$", Colour.BAD, dashed=True),
                series_colour(".* projected$", Colour.FORECAST, dashed=True),
                series_colour(".* projected 95% (low|high)$", Colour.BAND["95"], dashed=True),
            ],
            description="Spend so far in each budget's period, the budget, and the "
            "projection of spend at the period's end with its 95% bounds, "
            "as the forecaster saw them over time.",
        ),
        bargauge(
            "Projected spend at period end",
            query(
                f"promcast_budget_projected_spend{B} / promcast_budget_amount{B}",
                BUDGET_LEGEND,
                instant=True,
            ),
            unit=Unit.RATIO,
            w=8,
            h=9,
            max=1.2,
            steps=BUDGET_STEPS,
            description="Projection as a share of each budget: red beyond 100%.",
        ),
        timeseries(
            "Spend per hour by provider",
            query(f"sum by (provider) ({RATE})", "{{provider}}"),
            unit=Unit.USD_PER_HOUR,
            stack=True,
            w=8,
        ),
        timeseries(
            "Spend per hour by service",
            query(RATE, "{{provider}} {{service}}"),
            unit=Unit.USD_PER_HOUR,
            stack=True,
            w=8,
        ),
        timeseries(
            "Spend per hour by billing account",
            query(
                "provider_billing_account:promcast_cost_hourly_rate_usd:sum" + P,
                "{{provider}} {{billing_account}}",
            ),
            unit=Unit.USD_PER_HOUR,
            stack=True,
            w=8,
        ),
        bargauge(
            "Month to date by service",
            query(f"sort_desc({MONTH_TO_DATE})", "{{provider}} {{service}}", instant=True),
            unit=Unit.USD,
            w=8,
            h=9,
        ),
        bargauge(
            "Month to date by billing account",
            query(
                "sort_desc(provider_billing_account:promcast_cost_month_to_date_usd:sum" + P + ")",
                "{{provider}} {{billing_account}}",
                instant=True,
            ),
            unit=Unit.USD,
            w=8,
            h=9,
        ),
        bargauge(
            "Last 24 h by service",
            query(f"sort_desc({DAILY})", "{{provider}} {{service}}", instant=True),
            unit=Unit.USD,
            w=8,
            h=9,
        ),
        forecast_curves(
            "Spend per hour: forecast beyond now",
            COST,
            unit=Unit.USD_PER_HOUR,
            actual=query(RATE, "{{provider}} {{service}} actual"),
            w=16,
            description="Billed spend per hour (Prometheus) and the newest forecast "
            "with its 80% and 95% bands (the forecaster's "
            "future-curve datasource); red markers: cost anomalies.",
        ),
        timeseries(
            "Cost anomaly score",
            query(f"promcast_forecast_anomaly_score{{{COST}}}", "{{provider}} {{service}}"),
            unit=Unit.COUNT,
            w=8,
            show_thresholds=True,
            steps=thresholds(Colour.GOOD, (1, Colour.BAD)),
            description="Above 1 (red line): spend is above its expected value by more than its page threshold; "
            "PromcastCostAnomaly fires after 3 h above it and its forecast.",
        ),
        forecast_vs_actual(
            "Spend per hour: forecast made $horizon ago vs actual",
            COST,
            unit=Unit.USD_PER_HOUR,
            description="Each forecast drawn at the time it is about, shifted "
            "with offset (Prometheus only).",
        ),
    ],
)
