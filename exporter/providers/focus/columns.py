"""FOCUS (1.0-1.2) columns the ``focus`` provider can break costs down by, and their labels.

Kept free of heavy imports: the config validates ``dimensions`` and ``tag_keys`` against it.
"""

from __future__ import annotations

import re

# FOCUS column -> label. The first six are the catalogue's COST_LABELS (always exposed, empty
# when not configured), the others are added as extra labels of the cost series.
DIMENSIONS: dict[str, str] = {
    "ProviderName": "provider",
    "BillingAccountId": "billing_account",
    "SubAccountId": "sub_account",
    "ServiceName": "service",
    "RegionId": "region",
    "ChargeCategory": "charge_category",
    "ServiceCategory": "service_category",
    "ServiceSubcategory": "service_subcategory",
    "PricingCategory": "pricing_category",
    "ChargeFrequency": "charge_frequency",
    "ChargeClass": "charge_class",
    "CommitmentDiscountCategory": "commitment_discount_category",
    "CommitmentDiscountType": "commitment_discount_type",
    "BillingAccountName": "billing_account_name",
    "SubAccountName": "sub_account_name",
    "RegionName": "region_name",
    "AvailabilityZone": "availability_zone",
    "PublisherName": "publisher",
    "InvoiceIssuerName": "invoice_issuer",
    "ResourceType": "resource_type",
}
FIXED = (
    "ProviderName",
    "BillingAccountId",
    "SubAccountId",
    "ServiceName",
    "RegionId",
    "ChargeCategory",
)
DEFAULT_DIMENSIONS = list(FIXED)
# Text columns that, with the parsed charge (its periods, amounts and labels), tell one line item
# from another (FOCUS has no line-item id): a row equal in all of them in a second file is the
# same charge, counted once. Numbers and times are compared parsed, so a CSV and a parquet copy
# of one export match.
IDENTITY = (
    "BillingAccountId",
    "SubAccountId",
    "ProviderName",
    "InvoiceIssuerName",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ResourceId",
    "SkuId",
    "SkuPriceId",
    "ServiceName",
    "RegionId",
    "AvailabilityZone",
    "CommitmentDiscountId",
    "Tags",
)

# FOCUS allowed values; files differ in case (e.g. "Usage-based"), so values are matched ignoring
# case and written with the spec's spelling, and one charge never splits into two series.
ALLOWED_VALUES: dict[str, tuple[str, ...]] = {
    "ChargeCategory": ("Usage", "Purchase", "Tax", "Credit", "Adjustment"),
    "ChargeClass": ("Correction",),
    "ChargeFrequency": ("One-Time", "Recurring", "Usage-Based"),
    "PricingCategory": ("Standard", "Dynamic", "Committed", "Other"),
    "CommitmentDiscountCategory": ("Spend", "Usage"),
    "ServiceCategory": (
        "AI and Machine Learning",
        "Analytics",
        "Business Applications",
        "Compute",
        "Databases",
        "Developer Tools",
        "Multicloud",
        "Identity",
        "Integration",
        "Internet of Things",
        "Management and Governance",
        "Media",
        "Migration",
        "Mobile",
        "Networking",
        "Security",
        "Storage",
        "Web",
        "Other",
    ),
}
CANONICAL: dict[str, dict[str, str]] = {
    col: {v.lower(): v for v in values} for col, values in ALLOWED_VALUES.items()
}

_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")


def tag_label(key: str) -> str:
    """``tag_<key>`` with characters Prometheus does not allow in label names replaced by ``_``
    (so ``ms:Department`` becomes ``tag_ms_Department``)."""
    return "tag_" + _LABEL_CHARS.sub("_", key.strip())
