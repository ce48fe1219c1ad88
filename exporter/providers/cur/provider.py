"""The ``cur`` provider: cost series from AWS Cost and Usage Reports (CUR 2.0 and legacy),
parquet or CSV, with Athena-style column names (``line_item_unblended_cost``) or legacy ones
(``lineItem/UnblendedCost``).

Grouped by service (``product_product_name``, else ``line_item_product_code``), payer and linked
account, region and a FOCUS charge category derived from the line-item type. Cost types:
``unblended`` (exposed as cost_type="billed"), ``amortized`` ("effective", AWS's documented
amortisation of reservations and Savings Plans) and ``net`` ("net": net unblended cost, which
equals unblended for accounts without discounts, where AWS leaves the column out).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Callable, Sequence

from promcast_common.catalogue import COST_LABELS
from promcast_exporter.billing.files import BadRow, MissingColumns, find_column, money, stamp, text
from promcast_exporter.billing.clouds import AWS_COST_TYPES
from promcast_exporter.billing.ledger import BillingFileProvider, Charge, FuncBinding, month_start

COST_TYPES = AWS_COST_TYPES
CURRENCY = "USD"
ZERO = Decimal(0)

# Roles by their legacy names; the Athena / CUR 2.0 name is derived (see ``athena``).
COLUMNS: dict[str, tuple[str, ...]] = {
    "unblended": ("lineItem/UnblendedCost",),
    "type": ("lineItem/LineItemType",),
    "start": ("lineItem/UsageStartDate",),
    "end": ("lineItem/UsageEndDate",),
    "period": ("bill/BillingPeriodStartDate",),
    "currency": ("lineItem/CurrencyCode",),
    "payer": ("bill/PayerAccountId",),
    "account": ("lineItem/UsageAccountId",),
    "product_name": ("product/ProductName",),
    "product_code": ("lineItem/ProductCode",),
    "region": ("product/regionCode", "product/region"),
    "net": ("lineItem/NetUnblendedCost",),
    "ri_effective": ("reservation/EffectiveCost",),
    "ri_unused_upfront": ("reservation/UnusedAmortizedUpfrontFeeForBillingPeriod",),
    "ri_unused_recurring": ("reservation/UnusedRecurringFee",),
    "ri_arn": ("reservation/ReservationARN",),
    "sp_effective": ("savingsPlan/SavingsPlanEffectiveCost",),
    "sp_commitment": ("savingsPlan/TotalCommitmentToDate",),
    "sp_used": ("savingsPlan/UsedCommitment",),
    # A line item's identity (AWS: LineItemId is unique within its TimeInterval): the same
    # line item in two files (a CSV extract beside its parquet file) is counted once.
    "line_item_id": ("identity/LineItemId",),
    "time_interval": ("identity/TimeInterval",),
}
REQUIRED = ("unblended", "type", "start", "end")

# Line-item type -> FOCUS ChargeCategory; anything else is an Adjustment.
CATEGORY = {
    "Usage": "Usage",
    "DiscountedUsage": "Usage",
    "SavingsPlanCoveredUsage": "Usage",
    "SavingsPlanNegation": "Usage",
    "Tax": "Tax",
    "Credit": "Credit",
    "Refund": "Credit",
    "BundledDiscount": "Credit",
    "Discount": "Credit",
    "EdpDiscount": "Credit",
    "PrivateRateDiscount": "Credit",
    "RIFee": "Purchase",
    "Fee": "Purchase",
    "SavingsPlanRecurringFee": "Purchase",
    "SavingsPlanUpfrontFee": "Purchase",
}


def athena(legacy: str) -> str:
    """``lineItem/UnblendedCost`` -> ``line_item_unblended_cost``, as Athena and CUR 2.0 name
    it (every capital starts a word, so ``ReservationARN`` -> ``reservation_a_r_n``)."""
    return "_".join(re.sub(r"(?<!^)([A-Z])", r"_\1", part).lower() for part in legacy.split("/"))


class CurLayout:
    labels = tuple(label for label in COST_LABELS if label != "cost_type")

    def __init__(self, cost_types: Sequence[str]) -> None:
        self.wanted = list(cost_types)
        self.cost_types = tuple(COST_TYPES[c] for c in self.wanted)

    def bind(self, header: list[str], notes: list[str]) -> FuncBinding:
        found: dict[str, str] = {}
        for role, legacy in COLUMNS.items():
            col = find_column(header, *(n for name in legacy for n in (athena(name), name)))
            if col is not None:
                found[role] = col
        missing = [athena(COLUMNS[r][0]) for r in REQUIRED if r not in found]
        if missing:
            raise MissingColumns(missing)
        for role, why in (
            ("period", "billing periods are taken from the usage start month"),
            ("currency", "amounts are taken as USD"),
            ("payer", "label billing_account is empty"),
            ("account", "label sub_account is empty"),
            ("region", "label region is empty"),
        ):
            if role not in found:
                notes.append(f"no {athena(COLUMNS[role][0])} column; {why}")
        if "net" in self.wanted and "net" not in found:
            notes.append(
                "no line_item_net_unblended_cost column (the account has no discounts); "
                "net cost equals unblended cost"
            )
        columns = list(found.values())
        at = {role: i for i, role in enumerate(found)}

        def cell(cells: tuple[Any, ...], role: str) -> Any:
            return cells[at[role]] if role in at else None

        def amount(cells: tuple[Any, ...], role: str, line_type: str) -> Decimal:
            if role not in at:
                raise BadRow(
                    "missing_column",
                    f"{athena(COLUMNS[role][0])} is needed for the "
                    f"amortized cost of a {line_type} line item",
                )
            return money(cells[at[role]], athena(COLUMNS[role][0]))

        def amortized(cells: tuple[Any, ...], line_type: str, unblended: Decimal) -> Decimal:
            # AWS's documented amortized-cost formula for CUR line items.
            if line_type == "SavingsPlanCoveredUsage":
                return amount(cells, "sp_effective", line_type)
            if line_type == "SavingsPlanRecurringFee":
                return amount(cells, "sp_commitment", line_type) - amount(
                    cells, "sp_used", line_type
                )
            if line_type in ("SavingsPlanNegation", "SavingsPlanUpfrontFee"):
                return ZERO
            if line_type == "DiscountedUsage":
                return amount(cells, "ri_effective", line_type)
            if line_type == "RIFee":
                return amount(cells, "ri_unused_upfront", line_type) + amount(
                    cells, "ri_unused_recurring", line_type
                )
            if line_type == "Fee" and text(cell(cells, "ri_arn")):
                return ZERO  # an upfront reservation fee: amortized into DiscountedUsage
            return unblended

        compute: dict[str, Callable[[tuple[Any, ...], str, Decimal], Decimal]] = {
            "unblended": lambda cells, line_type, unblended: unblended,
            "amortized": amortized,
            "net": (lambda cells, line_type, unblended: money(cells[at["net"]], found["net"]))
            if "net" in at
            else (lambda cells, line_type, unblended: unblended),
        }
        steps = [compute[c] for c in self.wanted]

        def group_key(cells: tuple[Any, ...], line_type: str) -> tuple[str, ...]:
            service = text(cell(cells, "product_name")) or text(cell(cells, "product_code"))
            return (
                "aws",
                text(cell(cells, "payer")),
                text(cell(cells, "account")),
                service,
                text(cell(cells, "region")),
                CATEGORY.get(line_type, "Adjustment"),
            )

        # Rows repeat a few hundred label combinations: build each key once.
        key_at = [
            at[r] for r in ("payer", "account", "product_name", "product_code", "region") if r in at
        ]
        keys: dict[tuple[Any, ...], tuple[str, ...]] = {}

        def parse(cells: tuple[Any, ...]) -> Charge:
            unblended = money(cells[at["unblended"]], found["unblended"])
            line_type = text(cells[at["type"]])
            start = stamp(cells[at["start"]], found["start"])
            end = stamp(cells[at["end"]], found["end"])
            if "period" in at:
                period = stamp(cells[at["period"]], found["period"])
            else:
                period = month_start(start)
            if "currency" in at and text(cells[at["currency"]]).upper() != CURRENCY:
                raise BadRow(
                    "unknown_currency",
                    f"{found['currency']}={cells[at['currency']]!r}; "
                    f"the cost series are in {CURRENCY}",
                )
            amounts = tuple(step(cells, line_type, unblended) for step in steps)
            raw = tuple(cells[i] for i in key_at) + (line_type,)
            key = keys.get(raw)
            if key is None:
                key = keys[raw] = group_key(cells, line_type)
            return key, period, start, end, amounts

        # The ledger adds the parsed charge (its times and amounts) to these cells: LineItemId
        # is unique only within its time interval, which some files lack.
        identity = tuple(at[r] for r in ("line_item_id", "time_interval") if r in at)
        return FuncBinding(columns, parse, identity if "line_item_id" in at else ())


class CurProvider(BillingFileProvider):
    name = "cur"

    def __init__(
        self,
        refresh_interval: float,
        paths: Sequence[str],
        cost_types: Sequence[str] = ("unblended", "amortized", "net"),
    ) -> None:
        super().__init__(refresh_interval, paths, CurLayout(cost_types))
