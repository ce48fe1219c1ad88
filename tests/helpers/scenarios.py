"""The alert scenarios shared by the Prometheus and the VictoriaMetrics end-to-end tests: the
series each scenario backfills, the forecaster config, and the alerts each must raise."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import yaml

from demo.stack import (
    EXPORTER_LABELS,
)
from promcast_common.durations import parse_duration
from promcast_common.openmetrics import write_openmetrics


ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules" / "promcast.rules.yml"
# The runbook: docs/runbook.md once it has moved there, the README's section until then.
RUNBOOK_PAGE = next(p for p in (ROOT / "docs" / "runbook.md", ROOT / "README.md") if p.exists())
RUNBOOK = "https://github.com/promcast/promcast/blob/main/docs/runbook.md#"
STEP = 300.0  # raw samples every 5 minutes
DAYS = 30  # the budget integrates spend since the 1st of the month
EVAL = 10.0  # Prometheus' evaluation interval, and the step alert history is derived at
FORECASTER_LABELS = {"job": "promcast-forecaster", "instance": "promcast-forecaster"}
BUDGET = 20000.0


def forecaster_config(prometheus_url: str) -> dict:
    """The demo's targets (demo/forecaster.yml) over the scenarios, plus a monthly budget."""
    demo = yaml.safe_load((ROOT / "demo" / "forecaster.yml").read_text())
    targets = {t["name"]: t for t in demo["targets"]}
    spend = 'promcast_cost_hourly_rate_usd{cost_type="billed"}'
    return {
        "prometheus": {"url": prometheus_url, "timeout": "10s"},
        "defaults": demo["defaults"],
        "targets": [
            targets["disk_usage"],
            # Spend per scenario and service, with the demo's whole-day horizons: the forecasts
            # of the days ahead carry the spike at once, and the alert must not depend on them.
            {**targets["cloud_spend"], "query": f"sum by (scenario, provider, service) ({spend})"},
        ],
        "budgets": [
            {
                "name": "cloud-monthly",
                "amount": BUDGET,
                "spend_rate": f"sum by (scenario, provider) ({spend})",
            }
        ],
    }


# -- scenario data -----------------------------------------------------------------------------

Series = tuple[str, dict[str, str], np.ndarray, np.ndarray]


def _shape(
    ts: np.ndarray, seed: int, base: float, daily: float, noise: float, incident: float
) -> np.ndarray:
    """``base`` with a daily cycle, bounded noise and four one-hour incidents days ago.

    The noise is clipped so that a new point never leaves the band the past incidents set for
    the 99% interval: healthy series stay quiet on every run, not on most runs.
    """
    rng = np.random.default_rng(seed)
    phase = 2 * np.pi * (ts % 86400) / 86400
    y = base + daily * np.sin(phase) + np.clip(rng.normal(0, noise / 2, ts.size), -noise, noise)
    for days_ago in (11, 9, 7, 5):
        start = (ts[-1] // 3600 - 24 * days_ago) * 3600 + 3600 * (seed % 12)
        y[(ts >= start) & (ts < start + 3600)] += incident
    return y


def scenarios(now: float) -> list[Series]:
    """Every raw series of the four scenarios, strictly before ``now``."""
    ts = now - 1 - STEP * np.arange(int(DAYS * 86400 / STEP))[::-1]
    out: list[Series] = []
    size = 500e9

    def disk(scenario: str, resource: str, ratio: np.ndarray) -> None:
        lab = {
            **EXPORTER_LABELS,
            "scenario": scenario,
            "provider": "aws",
            "account": "111",
            "region": "us-east-1",
            "workload": resource.split("-")[0],
            "resource_id": resource,
            "device": "data",
        }
        out.append(("promcast_resource_disk_size_bytes", lab, ts, np.full(ts.size, size)))
        out.append(("promcast_resource_disk_used_bytes", lab, ts, ratio * size))

    def cost(scenario: str, provider: str, service: str, rate: np.ndarray) -> None:
        out.append(
            (
                "promcast_cost_hourly_rate_usd",
                {
                    **EXPORTER_LABELS,
                    "scenario": scenario,
                    "provider": provider,
                    "billing_account": f"{provider}-billing",
                    "sub_account": f"{provider}-prod",
                    "service": service,
                    "region": "eu-west-1",
                    "charge_category": "usage",
                    "cost_type": "billed",
                },
                ts,
                rate,
            )
        )

    days_left = (now - ts) / 86400
    # A log disk growing 3 points of its size a day, at 87% now: it crosses 90% in about a day.
    disk("disk_filling", "logs-1", _shape(ts, 1, 0.87, 0.004, 0.002, 0.05) - 0.03 * days_left)
    # Steady spend of $80/h against a $20,000 month: an overrun whatever the day of the month.
    cost("budget_overrun", "azure", "vm", _shape(ts, 2, 80, 8, 0.5, 10))
    # $10/h of EC2 running away six hours ago: $8/h more every hour (billing data moves by the
    # hour). A jump that then stays flat would page for only about two hours: once a few hours
    # of the new level are in the history, they widen the 99% band of seasonal naive to cover it.
    hours_in = np.floor((ts - (now // 3600 - 6) * 3600) / 3600) + 1
    cost("cost_spike", "aws", "ec2", _shape(ts, 3, 10, 2, 0.2, 4) + 8 * np.clip(hours_in, 0, None))
    # A healthy fleet: disks far from full, spend well under budget, fresh exporter and billing.
    disk("healthy", "web-1", _shape(ts, 4, 0.40, 0.01, 0.002, 0.05))
    disk("healthy", "web-2", _shape(ts, 5, 0.55, 0.01, 0.002, 0.05))
    cost("healthy", "gcp", "compute", _shape(ts, 6, 5, 1, 0.1, 3))
    lab = {**EXPORTER_LABELS, "scenario": "healthy", "provider": "gcp"}
    out.append(
        ("promcast_exporter_last_refresh_success_timestamp_seconds", lab, ts, ts // 900 * 900)
    )
    out.append(
        ("promcast_billing_data_last_timestamp_seconds", lab, ts, ts // 3600 * 3600 - 6 * 3600)
    )
    return out


def om_text(series: list[Series]) -> str:
    buf = io.StringIO()
    write_openmetrics(series, buf)
    return buf.getvalue()


# -- expected outcome --------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    scenario: str
    alertname: str
    labels: dict
    receiver: str | None  # None: inhibited, never delivered
    description: str  # a regular expression for the templated description


# Receivers whose route waits longer than the test does: tickets group for 5 minutes
# (alertmanager.yml); that such alerts reach Alertmanager, routed there, is checked instead.
AFTER_THE_TEST = {"ticket"}
EXPECTED = [
    Expected(
        "disk_filling",
        "PromcastCapacityExhaustionImminent",
        {
            "severity": "critical",
            "team": "sre",
            "target": "disk_usage",
            "resource_id": "logs-1",
            **EXPORTER_LABELS,
        },
        "pagerduty",
        r"logs-1 \(target disk_usage\) is forecast to cross its capacity in (\d+d )?\d+h \d+m "
        r"\d+s, within half the lead time; the optimistic bound of the forecast crosses it too\.",
    ),
    Expected(
        "disk_filling",
        "PromcastCapacityExhaustionSoon",
        {
            "severity": "warning",
            "team": "sre",
            "target": "disk_usage",
            "resource_id": "logs-1",
            **EXPORTER_LABELS,
        },
        None,
        r"logs-1 \(target disk_usage\) is forecast to cross its capacity in .*",
    ),
    Expected(
        "budget_overrun",
        "PromcastBudgetOverrunCertain",
        {
            "severity": "critical",
            "team": "finops",
            "target": "cloud-monthly",
            "budget": "cloud-monthly",
            "provider": "azure",
            "currency": "USD",
            **FORECASTER_LABELS,
        },
        "opsgenie",
        r"Budget cloud-monthly \(target cloud-monthly\): the lower bound of the projected spend "
        r"is \d+(\.\d+)?% of its amount \(USD\); an overrun is all but certain without action\.",
    ),
    Expected(
        "budget_overrun",
        "PromcastBudgetOverrunForecast",
        {
            "severity": "warning",
            "team": "finops",
            "target": "cloud-monthly",
            "budget": "cloud-monthly",
            "provider": "azure",
            "currency": "USD",
            **FORECASTER_LABELS,
        },
        None,
        r"Budget cloud-monthly \(target cloud-monthly\) is projected to end the period at "
        r"\d+(\.\d+)?% of its amount \(USD\)\.",
    ),
    Expected(
        "cost_spike",
        "PromcastCostAnomaly",
        {
            "severity": "warning",
            "team": "finops",
            "target": "cloud_spend",
            "provider": "aws",
            "service": "ec2",
            **FORECASTER_LABELS,
        },
        "slack-finops",
        r"ec2 \(aws, target cloud_spend\) has spent above its page threshold for 3 hours: "
        r"anomaly score \d+\.\d\d \(1 is the threshold\), above the expected value\.",
    ),
    # No PromcastForecastQualityDegraded ticket for the spike: the published backtest error
    # leaves out the largest fifth of the backtest points, so six hours of a runaway cost do not
    # make the model look bad for as long as they stay in the backtest window.
]


def rule_docs() -> Iterator[dict]:
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        yield from group["rules"]


def alert_rules() -> list[dict]:
    return [r for r in rule_docs() if "alert" in r]


def grafana_base() -> str:
    """Grafana's base URL as the alerting config sets it (what every dashboard_url starts with)."""
    from rules.config import load

    return load().grafana_url


def window() -> float:
    """How far back the forecaster is replayed: the longest ``for:``, plus one step of the
    slowest target (anomaly scores need a previous forecast to compare with), plus a margin."""
    longest = max(parse_duration(r["for"]) for r in alert_rules())
    return longest + 3600 + 1800
