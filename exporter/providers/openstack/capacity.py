"""Hypervisor capacity and usage, from Placement or from Nova's os-hypervisors.

Nova's compute API microversion 2.88 removed ``vcpus``, ``memory_mb``, ``local_gb`` and their
``_used`` counterparts from os-hypervisors and points to Placement, whose inventories say what the
scheduler really allows: ``(total - reserved) * allocation_ratio`` per resource class. Placement is
therefore preferred wherever the catalog has it; os-hypervisors (raw host totals, no overcommit) is
the path for clouds without Placement in their catalog.
"""

from __future__ import annotations

from typing import Literal

from .api import Api, OpenStackError
from .pools import GIB, MIB, Pool

CapacityApi = Literal["auto", "placement", "nova"]
# Placement resource class -> (kind, factor to the series' unit)
RESOURCE_CLASSES = {"VCPU": ("cpu", 1), "MEMORY_MB": ("memory", MIB), "DISK_GB": ("disk", GIB)}
# os-hypervisors fields (microversion < 2.88) -> (kind, total field, used field, factor)
NOVA_FIELDS = (
    ("cpu", "vcpus", "vcpus_used", 1),
    ("memory", "memory_mb", "memory_mb_used", MIB),
    ("disk", "local_gb", "local_gb_used", GIB),
)


def choose(api: Api, wanted: CapacityApi) -> str:
    """``placement`` or ``os-hypervisors``: the API the region's hypervisors are read from."""
    if wanted == "placement":
        return "placement"
    if wanted == "nova":
        return "os-hypervisors"
    return "placement" if api.has_service("placement") else "os-hypervisors"


def hypervisors(api: Api, source: str) -> list[Pool]:
    return from_placement(api) if source == "placement" else from_nova(api)


def from_placement(api: Api) -> list[Pool]:
    """One pool per resource provider with VCPU, MEMORY_MB or DISK_GB inventory: compute nodes,
    and shared-storage providers (which hold DISK_GB for several nodes) under their own name."""
    _, body = api.get("placement", "/resource_providers", "placement.resource_providers")
    pools = []
    for rp in body.get("resource_providers") or []:
        base = f"/resource_providers/{rp['uuid']}"
        _, inv = api.get("placement", f"{base}/inventories", "placement.inventories")
        inventories = {
            rc: i for rc, i in (inv.get("inventories") or {}).items() if rc in RESOURCE_CLASSES
        }
        if not inventories:
            continue  # e.g. a nested provider of VGPUs or bandwidth: saves its usages call
        _, use = api.get("placement", f"{base}/usages", "placement.usages")
        usages = use.get("usages") or {}
        used, capacity, ratio = {}, {}, {}
        for rc, i in inventories.items():
            kind, factor = RESOURCE_CLASSES[rc]
            r = float(i.get("allocation_ratio", 1.0))
            capacity[kind] = (float(i["total"]) - float(i.get("reserved", 0))) * r * factor
            used[kind] = float(usages.get(rc, 0)) * factor
            ratio[kind] = r
        pools.append(
            Pool("hypervisor", rp.get("name") or rp["uuid"], rp["uuid"], used, capacity, ratio)
        )
    return pools


def from_nova(api: Api) -> list[Pool]:
    """os-hypervisors/detail without a microversion (2.1 semantics, which keep the fields), unless
    clouds.yaml sets ``compute_default_microversion``."""
    pools = []
    for h in api.pages("compute", "/os-hypervisors/detail", "hypervisors", "compute.hypervisors"):
        if any(total not in h for _, total, _, _ in NOVA_FIELDS):
            raise OpenStackError(
                f"{api.where}: compute: os-hypervisors answered without vcpus/memory_mb/local_gb "
                "(compute API microversion 2.88 or later removed them, e.g. through "
                "compute_default_microversion in clouds.yaml); set capacity_api: placement (or "
                "auto) so capacity comes from the Placement API"
            )
        used, capacity = {}, {}
        for kind, total, in_use, factor in NOVA_FIELDS:
            capacity[kind] = float(h[total] or 0) * factor
            used[kind] = float(h.get(in_use) or 0) * factor
        pools.append(
            Pool(
                "hypervisor",
                str(h.get("hypervisor_hostname") or h["id"]),
                str(h["id"]),
                used,
                capacity,
            )
        )
    return pools
