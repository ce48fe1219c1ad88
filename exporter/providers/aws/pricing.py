"""On-demand list prices of EC2 instance types from the Pricing API (GetProducts).

The Pricing API answers only in us-east-1 (and two other regions) whatever region is priced,
and prices change a few times a year, so each (region, type) is asked for once per pricing
interval and kept; a type that is not found stays unpriced rather than failing the rest.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Iterable

from .meter import Meter

log = logging.getLogger(__name__)
PRICING_REGION = "us-east-1"


def _filters(region: str, instance_type: str, operating_system: str) -> list[dict[str, str]]:
    # One product per type and region: shared tenancy, no pre-installed software, capacity
    # used (not reserved-but-unused), no licence bundled.
    terms = {
        "regionCode": region,
        "instanceType": instance_type,
        "operatingSystem": operating_system,
        "tenancy": "Shared",
        "preInstalledSw": "NA",
        "capacitystatus": "Used",
    }
    return [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in terms.items()]


def hourly_price(product_json: str) -> float | None:
    """The on-demand USD price per hour of one GetProducts PriceList entry."""
    product = json.loads(product_json)
    for term in product.get("terms", {}).get("OnDemand", {}).values():
        for dim in term.get("priceDimensions", {}).values():
            usd = dim.get("pricePerUnit", {}).get("USD")
            if usd is not None and dim.get("unit", "Hrs").startswith("Hr"):
                return float(usd)
    return None


def fetch_prices(
    pricing: Any, meter: Meter, wanted: Iterable[tuple[str, str]], operating_system: str
) -> dict[tuple[str, str], float]:
    """Price per hour of each (region, instance type) found."""
    out: dict[tuple[str, str], float] = {}
    for region, itype in sorted(set(wanted)):
        kwargs: dict[str, Any] = {
            "ServiceCode": "AmazonEC2",
            "FormatVersion": "aws_v1",
            "Filters": _filters(region, itype, operating_system),
        }
        found: list[float] = []
        while True:
            meter.call("pricing:GetProducts")
            page = pricing.get_products(**kwargs)
            found += [p for p in map(hourly_price, page.get("PriceList", [])) if p]
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
        if found:
            out[(region, itype)] = min(found)
        else:
            log.warning(
                "no on-demand price found; its price series is left out",
                extra={
                    "provider": "aws",
                    "region": region,
                    "instance_type": itype,
                    "operating_system": operating_system,
                },
            )
    return out
