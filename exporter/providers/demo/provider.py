"""The demo provider: serves the synthetic fleet live and writes its past for backfill."""

from __future__ import annotations

from typing import Iterator

import numpy as np
from prometheus_client.core import Metric

from promcast_common.catalogue import Families
from promcast_common.collector import Provider

from . import fleet
from .fleet import FLEET, HOUR, MANAGED

Sample = tuple[str, dict[str, str], np.ndarray]


def _month_start(t: np.ndarray) -> np.ndarray:
    return (
        t.astype("datetime64[s]").astype("datetime64[M]").astype("datetime64[s]").astype(np.int64)
    )


def _cost_lines() -> Iterator[tuple[dict[str, str], str, object]]:
    """(labels without cost_type, provider, how to compute its list cost per hour)."""
    groups: dict[tuple[str, str, str], list[fleet.Resource]] = {}
    for r in FLEET:
        groups.setdefault((r.provider, r.account, r.region), []).append(r)
    for (provider, account, region), members in sorted(groups.items()):
        labels = {
            "provider": provider,
            "billing_account": account,
            "sub_account": account,
            "service": fleet.SERVICE_NAMES[provider],
            "region": region,
            "charge_category": "Usage",
        }
        yield labels, provider, members
    for i, (provider, account, service, region, base) in enumerate(MANAGED):
        labels = {
            "provider": provider,
            "billing_account": account,
            "sub_account": account,
            "service": service,
            "region": region,
            "charge_category": "Usage",
        }
        yield labels, provider, (1000 + i, base)


def _hourly_costs(
    how: object, hours: np.ndarray, anchor: float, provider: str
) -> dict[str, np.ndarray]:
    """List, effective and billed cost of each hour starting at ``hours``."""
    if isinstance(how, tuple):
        seed, base = how
        lst = fleet.managed_cost_per_hour(seed, base, hours, anchor)
        eff = lst
    else:
        lst = sum(fleet.instance_cost_per_hour(r, hours) for r in how)
        eff = sum(
            fleet.instance_cost_per_hour(r, hours)
            * (fleet.SPOT_FACTOR if r.lifecycle == "spot" else fleet.EFFECTIVE_FACTOR[provider])
            for r in how
        )
    return {"list": lst, "effective": eff, "billed": eff}


def samples(anchor: float, t: np.ndarray) -> Iterator[Sample]:
    """Every demo series evaluated at the times ``t`` (Unix seconds, ascending)."""
    t = np.asarray(t, dtype=float)
    for r in FLEET:
        lab = r.labels
        const = np.ones_like(t)
        yield "promcast_resource_cpu_utilization_ratio", lab, fleet.cpu_utilization(r, t, anchor)
        yield (
            "promcast_resource_memory_utilization_ratio",
            lab,
            fleet.memory_utilization(r, t, anchor),
        )
        disk = {**lab, "device": "data"}
        yield "promcast_resource_disk_used_bytes", disk, fleet.disk_used_bytes(r, t, anchor)
        yield "promcast_resource_disk_size_bytes", disk, const * r.disk_gib * fleet.GIB
        yield "promcast_resource_vcpus", lab, const * r.vcpus
        yield "promcast_resource_memory_bytes", lab, const * r.memory_gib * fleet.GIB
        yield "promcast_resource_price_per_hour_usd", lab, const * r.price_per_hour
        yield (
            "promcast_resource_info",
            {**lab, "instance_type": r.instance_type, "lifecycle": r.lifecycle},
            const,
        )

    # Billing reports whole hours: at time t the newest complete hour is the one before floor(t).
    newest_end = np.floor(t / HOUR) * HOUR
    first = _month_start(t[:1] - HOUR)[0]
    hours = np.arange(first, newest_end[-1], HOUR)
    idx = np.searchsorted(hours, newest_end - HOUR)  # index of the newest complete hour
    month_idx = np.searchsorted(hours, _month_start(newest_end - HOUR))
    for labels, provider, how in _cost_lines():
        per_type = _hourly_costs(how, hours, anchor, provider)
        for cost_type, cost in per_type.items():
            lab = {**labels, "cost_type": cost_type}
            cum = np.concatenate([[0.0], np.cumsum(cost)])
            yield "promcast_cost_hourly_rate_usd", lab, cost[np.minimum(idx, len(cost) - 1)]
            # Spend of complete hours from the month's start; 0 until its first hour completes.
            yield (
                "promcast_cost_month_to_date_usd",
                lab,
                np.maximum(cum[idx + 1] - cum[month_idx], 0.0),
            )
    for provider in sorted({r.provider for r in FLEET}):
        yield "promcast_billing_data_last_timestamp_seconds", {"provider": provider}, newest_end


class DemoProvider(Provider):
    name = "demo"

    def __init__(self, refresh_interval: float, anchor: float) -> None:
        super().__init__(refresh_interval)
        self.anchor = anchor

    def history(
        self, start: float, end: float, step: float
    ) -> Iterator[tuple[str, dict[str, str], np.ndarray, np.ndarray]]:
        """The fleet is a pure function of time, so its past is exact."""
        t = np.arange(start, end + 1, step)
        return ((name, labels, t, v) for name, labels, v in samples(self.anchor, t))

    def refresh(self, now: float) -> list[Metric]:
        out = Families()
        for name, labels, values in samples(self.anchor, np.array([now])):
            out.add(name, labels, float(values[0]))
        return list(out)
