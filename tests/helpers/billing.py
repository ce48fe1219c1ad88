"""Billing test data: the shared FOCUS sample and AWS CUR files, rows of hand-made files,
and the exact totals a ledger holds."""

from __future__ import annotations

import csv
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from promcast_exporter.billing.ledger import period_label
from promcast_common.collector import Provider
from promcast_exporter.providers.cur.provider import CurProvider
from promcast_exporter.providers.focus.columns import DEFAULT_DIMENSIONS
from promcast_exporter.providers.focus.provider import FocusProvider
from tests.helpers.paths import SHARED_DATA

FOCUS_SAMPLE = SHARED_DATA / "focus" / "focus_sample.csv"


# The sample's column sums, to the last digit the file has (checked against the file below too).
SAMPLE_TOTALS = {
    "billed": Decimal("20.52022672899"),
    "effective": Decimal("14.97651418586"),
    "list": Decimal("20.39090575119"),
}


HEADER = (
    "BilledCost,EffectiveCost,ListCost,BillingCurrency,BillingPeriodStart,ChargePeriodStart,"
    "ChargePeriodEnd,ProviderName,BillingAccountId,SubAccountId,ServiceName,RegionId,"
    "ChargeCategory,Tags"
)


def focus_row(
    billed="1.25",
    effective="1.00",
    listed="1.50",
    currency="USD",
    start="2024-09-03 10:00:00",
    end="2024-09-03 11:00:00",
    service="Compute Engine",
    tags='"{""env"": ""prod""}"',
) -> str:
    return (
        f"{billed},{effective},{listed},{currency},2024-09-01 00:00:00,{start},{end},Google,"
        f"ba-1,proj-1,{service},europe-west1,Usage,{tags}"
    )


def focus(paths, dims=DEFAULT_DIMENSIONS, tags=()) -> FocusProvider:
    return FocusProvider(3600, [str(p) for p in paths], dims, tags)


def ledger_totals(provider: Provider) -> dict[str, Decimal]:
    """Exact totals per cost type over every group and billing period."""
    ledger = provider.load()
    out = defaultdict(Decimal)
    for amounts in ledger.totals.values():
        for cost_type, amount in zip(ledger.cost_types, amounts):
            out[cost_type] += amount
    return dict(out)


CUR_DIR = SHARED_DATA / "aws_cur"


MONTHLY_UNBLENDED = {
    "2018-10": Decimal("4064.4831315379"),
    "2018-11": Decimal("3505.3269681268"),
    "2018-12": Decimal("408.3759924354"),
}


def monthly(provider: CurProvider, cost_type: str) -> dict[str, Decimal]:
    ledger = provider.load()
    i = ledger.cost_types.index(cost_type)
    out: dict[str, Decimal] = {}
    for (_, p), amounts in ledger.totals.items():
        label = period_label(ledger.periods[p])
        out[label] = out.get(label, Decimal(0)) + amounts[i]
    return out


LEGACY = [
    "identity/LineItemId",
    "bill/PayerAccountId",
    "bill/BillingPeriodStartDate",
    "lineItem/UsageAccountId",
    "lineItem/LineItemType",
    "lineItem/UsageStartDate",
    "lineItem/UsageEndDate",
    "lineItem/ProductCode",
    "lineItem/CurrencyCode",
    "lineItem/UnblendedCost",
    "lineItem/NetUnblendedCost",
    "product/ProductName",
    "product/region",
    "reservation/EffectiveCost",
    "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod",
    "reservation/UnusedRecurringFee",
    "reservation/ReservationARN",
    "savingsPlan/SavingsPlanEffectiveCost",
    "savingsPlan/TotalCommitmentToDate",
    "savingsPlan/UsedCommitment",
]


def legacy_row(
    i: int,
    line_type: str,
    unblended: str,
    net: str,
    product: str,
    *rest: str,
    currency: str = "USD",
    start: str = "2018-10-01T00:00:00Z",
) -> list[str]:
    ri_eff, ri_up, ri_rec, arn, sp_eff, sp_com, sp_used = rest
    return [
        f"id{i}",
        "999999999999",
        "2018-10-01T00:00:00Z",
        "111111111111",
        line_type,
        start,
        "2018-10-01T01:00:00Z",
        "AmazonEC2",
        currency,
        unblended,
        net,
        product,
        "us-east-1",
        ri_eff,
        ri_up,
        ri_rec,
        arn,
        sp_eff,
        sp_com,
        sp_used,
    ]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path
