"""Capacity pools (a hypervisor, a project's quota) and their used and usable amounts."""

from __future__ import annotations

from dataclasses import dataclass, field

MIB = 1024**2
GIB = 1024**3
KINDS = ("cpu", "memory", "disk")  # series units: vCPUs, bytes, bytes


@dataclass(frozen=True)
class Pool:
    scope: str  # hypervisor | project
    name: str
    id: str
    used: dict[str, float] = field(default_factory=dict)
    # usable capacity per kind; a kind without capacity is unlimited (quota -1) or unknown
    capacity: dict[str, float] = field(default_factory=dict)
    allocation_ratio: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RegionUsage:
    """Everything one cloud region reported in one refresh."""

    pools: tuple[Pool, ...]
    # (scope, api) pairs the numbers came from, e.g. ("hypervisor", "placement")
    sources: tuple[tuple[str, str], ...]
    taken_at: float
