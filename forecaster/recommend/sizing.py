"""Rightsizing: the size a resource needs over the next period, from the forecast's upper bound
(not a past percentile) plus headroom, and the cheapest catalogue type that has it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from promcast_forecaster.instance_catalog import GIB, Catalog, InstanceType
from promcast_forecaster.recommend_config import Rightsizing


@dataclass
class Resource:
    """What is known about a resource now: its size, price and type (any may be missing)."""

    labels: dict[str, str]
    vcpus: float = math.nan
    memory_bytes: float = math.nan
    price_per_hour: float = math.nan  # from the price series (on-demand list price)
    instance_type: str = ""


@dataclass
class Sizing:
    labels: dict[str, str]
    current_type: str
    vcpus: float
    memory_bytes: float
    current_price: float
    price_source: str  # price_series | catalogue
    cpu_peak: float  # highest upper bound of the CPU forecast (ratio)
    memory_peak: float  # the same for memory; NaN: no memory data
    required_vcpus: float
    required_memory_bytes: float
    recommended: InstanceType | None
    recommended_price: float  # catalogue price x the resource's regional factor
    action: str  # keep | downsize | upsize | change_type | no_fitting_type
    # | unknown_provider
    monthly_saving: float  # negative: what the change costs more
    confidence: float
    model: str
    basis: str  # what the size was computed from

    @property
    def recommended_type(self) -> str:
        return self.recommended.name if self.recommended else ""

    def detail(self) -> str:
        if self.action == "unknown_provider":
            return unknown_provider(self.labels)
        if self.action == "no_fitting_type":
            return (
                f"{self.current_type or '?'}: needs {self.required_vcpus:.1f} vCPU, "
                f"{self.required_memory_bytes / GIB:.1f} GiB; no catalogue type is that big"
            )
        if self.action == "keep":
            return f"{self.current_type or '?'} fits ({self.required_vcpus:.1f} vCPU needed)"
        r = self.recommended
        return (
            f"{self.current_type or '?'} -> {r.name} ({r.vcpus:g} vCPU, "
            f"{r.memory_bytes / GIB:g} GiB; needs {self.required_vcpus:.1f} vCPU, "
            f"{self.required_memory_bytes / GIB:.1f} GiB)"
        )


def unknown_provider(labels: dict[str, str]) -> str:
    """Why a resource was not sized: what its ``provider`` label lacks, and what to do."""
    if "provider" not in labels:
        return (
            "no provider label: the instance catalogue is per provider; add `provider` to "
            "recommendations.labels and make the rightsizing queries keep it"
        )
    if not labels["provider"]:
        return (
            "the series has no provider label (or it is empty): make the rightsizing "
            "queries return one that the instance catalogue knows"
        )
    return (
        f"provider {labels['provider']!r} is not in the instance catalogue; add its types "
        "with instance_types_file"
    )


def peak_upper(curves: dict[str, np.ndarray], level: int) -> float:
    """The highest upper bound of the ``level`` interval over the horizon (not below 0)."""
    upper = curves.get(f"upper-{level}")
    if upper is None or not np.isfinite(upper).any():
        return math.nan
    return max(0.0, float(np.nanmax(upper)))


def size(
    resource: Resource,
    cpu_peak: float,
    memory_peak: float,
    confidence: float,
    model: str,
    catalog: Catalog,
    settings: Rightsizing,
    hours_per_month: float,
) -> Sizing | None:
    """The recommendation for one resource; None when it cannot be sized (no CPU forecast, or
    neither its size nor its type is known, or no price)."""
    provider = resource.labels.get("provider", "")
    current = catalog.get(provider, resource.instance_type) if resource.instance_type else None
    vcpus = resource.vcpus if resource.vcpus > 0 else (current.vcpus if current else math.nan)
    memory = (
        resource.memory_bytes
        if resource.memory_bytes > 0
        else (current.memory_bytes if current else math.nan)
    )
    if math.isnan(cpu_peak) or math.isnan(vcpus):
        return None
    if provider not in catalog.providers:
        # The catalogue is per provider: without a known one no type can be compared, and
        # "nothing is big enough" or "keep" would both be wrong.
        return Sizing(
            resource.labels,
            resource.instance_type,
            vcpus,
            memory,
            resource.price_per_hour,
            "price_series",
            cpu_peak,
            memory_peak,
            cpu_peak * vcpus * (1 + settings.headroom),
            math.nan,
            None,
            math.nan,
            "unknown_provider",
            0.0,
            confidence,
            model,
            "cpu forecast",
        )
    if not math.isnan(resource.price_per_hour):
        price, source = resource.price_per_hour, "price_series"
    elif current is not None:
        price, source = current.price_per_hour, "catalogue"
    else:
        return None
    # Catalogue prices are one reference region's: scale them by how this resource's own price
    # compares with its type's catalogue price, so a saving is not a regional difference.
    factor = price / current.price_per_hour if current and current.price_per_hour > 0 else 1.0
    grow = 1 + settings.headroom
    need_cpu = cpu_peak * vcpus * grow
    if math.isnan(memory_peak) or math.isnan(memory):
        # Without memory data the memory cannot be shrunk safely: keep at least what it has.
        need_mem, basis = (memory if not math.isnan(memory) else 0.0), "cpu forecast; memory kept"
    else:
        need_mem, basis = memory_peak * memory * grow, "cpu and memory forecasts"
    best = catalog.cheapest_fitting(provider, need_cpu, need_mem, current.arch if current else None)
    fits_now = vcpus >= need_cpu - 1e-9 and (math.isnan(memory) or memory >= need_mem - 1)
    new_price = best.price_per_hour * factor if best else math.nan
    saving = (price - new_price) * hours_per_month if best else 0.0
    if best is None:
        action, saving = ("keep" if fits_now else "no_fitting_type"), 0.0
    elif fits_now and (
        best.name == resource.instance_type or saving < settings.min_monthly_saving_usd
    ):
        action, saving, best, new_price = "keep", 0.0, current, price
    elif fits_now:
        action = "downsize"
    else:
        action = "upsize" if new_price >= price else "change_type"
    return Sizing(
        resource.labels,
        resource.instance_type,
        vcpus,
        memory,
        price,
        source,
        cpu_peak,
        memory_peak,
        need_cpu,
        need_mem,
        best,
        new_price,
        action,
        saving,
        confidence,
        model,
        basis,
    )
