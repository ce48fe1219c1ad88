"""promcast / Recommendations: rightsizing, idle and over-provisioned resources and commitments,
ranked by their estimated monthly saving (forecaster `recommendations:`)."""

from grafanalib.core import TableSortByField

from dashboards.style import (
    Colour,
    Unit,
    column,
    promcast_dashboard,
    query,
    stat,
    table,
    thresholds,
    timeseries,
)

SAVING = "promcast_recommendation_monthly_saving_usd"


def by_saving(panel, display: str):
    """Largest saving first (the house table sorts ascending)."""
    panel.sortBy = [TableSortByField(displayName=display, desc=True)]
    return panel


dashboard = promcast_dashboard(
    title="promcast / Recommendations",
    uid="promcast-recommendations",
    description="Rightsizing from forecast upper bounds, idle and over-provisioned resources, "
    "and commitment coverage, with estimated monthly savings at on-demand list "
    "prices (730 h a month) and their confidence.",
    tags=["cost", "recommendations"],
    refresh="5m",
    time=("now-7d", "now"),
    panels=[
        stat(
            "Monthly saving available",
            query(f"sum({SAVING} > 0) or vector(0)", instant=True),
            unit=Unit.USD,
            w=6,
            description="Sum of the positive savings of every recommendation (the best "
            "commitment option per spend series; idle resources counted once).",
        ),
        stat(
            "Type changes recommended",
            query('count(promcast_rightsizing_info{action!="keep"}) or vector(0)', instant=True),
            unit=Unit.COUNT,
            w=6,
        ),
        stat(
            "Idle resources, monthly cost",
            query('sum(promcast_idle_monthly_cost_usd{state="idle"}) or vector(0)', instant=True),
            unit=Unit.USD,
            w=6,
            steps=thresholds(Colour.GOOD, (1, Colour.WARN)),
        ),
        stat(
            "Best commitment saving",
            query(
                "sum(max without (option, term, discount) "
                "(promcast_commitment_monthly_saving_usd)) or vector(0)",
                instant=True,
            ),
            unit=Unit.USD,
            w=6,
        ),
        by_saving(
            table(
                "Recommendations by monthly saving",
                query(f"{SAVING} + 0", table=True),
                query("promcast_recommendation_confidence_ratio + 0", table=True),
                unit=Unit.USD,
                w=24,
                h=10,
                hide=("Time", "job", "instance"),
                overrides=[
                    column("Value #A", display="Monthly saving"),
                    column(
                        "Value #B",
                        display="Confidence",
                        unit=Unit.RATIO,
                        cell="color-background",
                        steps=thresholds(Colour.BAD, (0.5, Colour.WARN), (0.8, Colour.GOOD)),
                    ),
                ],
                description="Every recommendation, largest saving first; a negative saving is what "
                "an upsize costs more. Confidence: data share x backtest coverage.",
            ),
            "Monthly saving",
        ),
        by_saving(
            table(
                "Rightsizing",
                query("promcast_rightsizing_monthly_saving_usd + 0", table=True),
                query("promcast_rightsizing_required_vcpus + 0", table=True),
                query("promcast_rightsizing_recommended_vcpus + 0", table=True),
                unit=Unit.USD,
                w=24,
                h=10,
                hide=("Time", "job", "instance"),
                overrides=[
                    column("Value #A", display="Monthly saving"),
                    column("Value #B", display="vCPUs needed", unit=Unit.COUNT),
                    column("Value #C", display="vCPUs of the type", unit=Unit.COUNT),
                ],
                description="Needed: the highest upper bound of the utilisation forecast over the "
                "horizon x the current size x (1 + headroom); the type: the cheapest "
                "catalogue type of the provider that has it.",
            ),
            "Monthly saving",
        ),
        by_saving(
            table(
                "Idle and over-provisioned",
                query("promcast_idle_monthly_cost_usd + 0", table=True),
                query("promcast_idle_cpu_quantile_ratio + 0", table=True),
                unit=Unit.USD,
                w=12,
                h=9,
                hide=("Time", "job", "instance"),
                overrides=[
                    column("Value #A", display="Monthly cost"),
                    column("Value #B", display="CPU quantile", unit=Unit.RATIO),
                ],
                description="Resources whose utilisation stayed below the idle or over-provisioned "
                "thresholds for the configured days, with what they cost a month.",
            ),
            "Monthly cost",
        ),
        by_saving(
            table(
                "Commitments",
                query("promcast_commitment_monthly_saving_usd + 0", table=True),
                query("promcast_commitment_hourly_usd + 0", table=True),
                query("promcast_commitment_coverage_ratio + 0", table=True),
                unit=Unit.USD,
                w=12,
                h=9,
                hide=("Time", "job", "instance"),
                overrides=[
                    column("Value #A", display="Monthly saving"),
                    column("Value #B", display="Commit per hour"),
                    column("Value #C", display="Coverage", unit=Unit.RATIO),
                ],
                description="Per spend series and option: the hourly on-demand spend to commit to "
                "(a low quantile of the forecast spend over the term).",
            ),
            "Monthly saving",
        ),
        timeseries(
            "Savings by kind",
            query(f"sum by (kind) ({SAVING} > 0)", "{{kind}}"),
            unit=Unit.USD,
            w=24,
            stack=True,
        ),
    ],
)
