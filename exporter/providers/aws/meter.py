"""Every AWS call the provider makes, counted, and what the billed ones cost.

Prices are AWS's public list prices (us-east-1, 2024-2026): Cost Explorer $0.01 per request
(each page of a paginated answer is a request), CloudWatch GetMetricData $0.01 per 1,000
metrics requested (counted per call, pages included, so the estimate errs high). EC2, RDS,
ELB, STS and Pricing calls are free.
"""

from __future__ import annotations

from typing import Callable

PER_REQUEST_USD = {
    "ce:GetCostAndUsage": 0.01,
    "ce:GetCostForecast": 0.01,
    "ce:GetDimensionValues": 0.01,
}
PER_METRIC_USD = {"cloudwatch:GetMetricData": 0.01 / 1000}
BILLED = tuple(PER_REQUEST_USD) + tuple(PER_METRIC_USD)


class Meter:
    """Counts calls through the provider's ``count_call`` and adds up their estimated cost."""

    def __init__(self, count_call: Callable[[str, int], None]) -> None:
        self._count = count_call
        self.cost_usd: dict[str, float] = {api: 0.0 for api in BILLED}

    def call(self, api: str, metrics: int = 0) -> None:
        self._count(api, 1)
        usd = PER_REQUEST_USD.get(api, 0.0) + PER_METRIC_USD.get(api, 0.0) * metrics
        if usd:
            self.cost_usd[api] = self.cost_usd.get(api, 0.0) + usd
