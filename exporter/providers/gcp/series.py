"""Which Cloud Monitoring metrics promcast reads, and how their series become catalogue series.

Compute Engine (``gce_instance``): CPU utilisation and reserved cores from the hypervisor, memory
in use as the balloon driver's ram_used / ram_size.
Compute Engine guests (group ``guest``): what only software inside the VM can see, published by
Google's Ops Agent (or the legacy Monitoring agent) under ``agent.googleapis.com``
(cloud.google.com/monitoring/api/metrics_opsagent). ``disk/bytes_used`` has one series per file
system ``device`` and ``state`` (free, used, reserved): used becomes the disk's used bytes, the sum
of the three its size. ``memory/percent_used{state="used"}`` (0-100) becomes the memory ratio and
replaces the balloon estimate for a VM that has it: it is the guest's own view. A VM without an
agent has no such series, which is not an error: it keeps its hypervisor series.
Devices that are not disks are left out: virtual file systems (tmpfs, udev, ...) that the legacy
agent and Ops Agent < 2.0 report (2.x does not), and loop devices, which hold snap packages'
squashfs images: read-only and always full, they would forecast as disks that ran out.
GKE (``k8s_node``, ``k8s_container``): the share of the node's allocatable CPU and memory in
use, the node's ephemeral storage, and a container's CPU and memory as a share of its limit.
Memory uses ``memory_type="non-evictable"``: the part the kubelet cannot reclaim, i.e. the
working set that runs a node or container out of memory (evictable page cache is not).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from .monitoring import parse_time, point_value

GROUPS = ("compute", "guest", "gke_nodes", "gke_containers")
HistorySeries = tuple[str, dict[str, str], np.ndarray]
USED, SIZE = "promcast_resource_disk_used_bytes", "promcast_resource_disk_size_bytes"
MEMORY_RATIO = "promcast_resource_memory_utilization_ratio"


@dataclass(frozen=True)
class Query:
    key: str
    metric_type: str
    group: str  # the config switch that turns it on (one of GROUPS)
    select: str = ""  # an extra filter clause on metric labels
    split: tuple[str, ...] = ()  # metric labels telling apart one resource's series of the metric

    def filter(self) -> str:
        clause = f'metric.type = "{self.metric_type}"'
        return f"{clause} AND {self.select}" if self.select else clause


NON_EVICTABLE = 'metric.label.memory_type = "non-evictable"'
STATE_USED = 'metric.label.state = "used"'
QUERIES = (
    Query("cpu", "compute.googleapis.com/instance/cpu/utilization", "compute"),
    Query("vcpus", "compute.googleapis.com/instance/cpu/reserved_cores", "compute"),
    Query("ram_used", "compute.googleapis.com/instance/memory/balloon/ram_used", "compute"),
    Query("ram_size", "compute.googleapis.com/instance/memory/balloon/ram_size", "compute"),
    # All three states: the size is their sum.
    Query("disk", "agent.googleapis.com/disk/bytes_used", "guest", split=("device", "state")),
    Query("agent_memory", "agent.googleapis.com/memory/percent_used", "guest", STATE_USED),
    Query("node_cpu", "kubernetes.io/node/cpu/allocatable_utilization", "gke_nodes"),
    Query(
        "node_memory",
        "kubernetes.io/node/memory/allocatable_utilization",
        "gke_nodes",
        NON_EVICTABLE,
    ),
    Query("node_disk_used", "kubernetes.io/node/ephemeral_storage/used_bytes", "gke_nodes"),
    Query("node_disk_size", "kubernetes.io/node/ephemeral_storage/total_bytes", "gke_nodes"),
    Query("container_cpu", "kubernetes.io/container/cpu/limit_utilization", "gke_containers"),
    Query(
        "container_memory",
        "kubernetes.io/container/memory/limit_utilization",
        "gke_containers",
        NON_EVICTABLE,
    ),
)
# Queries whose values map one to one onto a catalogue series (and its `device`, for disks).
DIRECT: dict[str, tuple[str, str | None]] = {
    "cpu": ("promcast_resource_cpu_utilization_ratio", None),
    "vcpus": ("promcast_resource_vcpus", None),
    "ram_size": ("promcast_resource_memory_bytes", None),
    "node_cpu": ("promcast_resource_cpu_utilization_ratio", None),
    "node_memory": ("promcast_resource_memory_utilization_ratio", None),
    "node_disk_used": ("promcast_resource_disk_used_bytes", "ephemeral"),
    "node_disk_size": ("promcast_resource_disk_size_bytes", "ephemeral"),
    "container_cpu": ("promcast_resource_cpu_utilization_ratio", None),
    "container_memory": ("promcast_resource_memory_utilization_ratio", None),
}
_ZONE = re.compile(r"([a-z]+-[a-z]+\d+)-[a-z]")
# Guest devices that are not disks: loop devices (snap packages' squashfs images, always full),
# RAM disks, and the virtual file systems the legacy agent reports by their source name.
_NOT_A_DISK = re.compile(
    r"(?:/dev/)?(?:loop\d+|ram\d+|zram\d+|tmpfs|devtmpfs|udev|shm|none|"
    r"overlay|rootfs|proc|sysfs|devpts|cgroup2?|mqueue|hugetlbfs|squashfs)"
)


def is_disk(device: str) -> bool:
    """Whether an agent's ``device`` label is a file system on a disk ("/dev/sda1", "sda1",
    "C:"), not a loop device or a virtual file system ("/dev/loop3", "tmpfs", "udev")."""
    return bool(device) and not _NOT_A_DISK.fullmatch(device)


def region_of(location: str) -> str:
    """A zone's region ("europe-west1-b" -> "europe-west1"); regions stay as they are."""
    m = _ZONE.fullmatch(location)
    return m.group(1) if m else location


def on_grid(series: dict[str, Any], grid: np.ndarray, step: float) -> np.ndarray:
    """The series' aligned points placed on ``grid`` (every ``step`` seconds) by their end
    time, NaN elsewhere."""
    out = np.full(len(grid), np.nan)
    if not len(grid):
        return out
    for point in series.get("points", []):
        value = point_value(point)
        if value is None:
            continue
        end = parse_time(point["interval"]["endTime"])
        i = round((end - grid[0]) / step)
        if 0 <= i < len(grid) and abs(end - grid[i]) <= step / 2:
            out[i] = value
    return out


@dataclass
class _Resource:
    labels: dict[str, str]  # region, and workload/resource_id for GKE
    # query key (and the values of its split labels: ("disk", device, state)) -> values on the grid
    values: dict[str | tuple[str, ...], np.ndarray]


class Assembler:
    """Collects one project's raw series and turns them into catalogue series on a time grid.

    With view=FULL the API pages by points, so one series may arrive in several pages: the
    pieces are merged, never counted twice.
    """

    def __init__(self, project: str, grid: np.ndarray, step: float, workload_label: str) -> None:
        self.project = project
        self.grid = grid
        self.step = step
        self.workload_label = workload_label
        self.resources: dict[tuple[str, ...], _Resource] = {}
        # An instance's name and workload label may come with some of its series only (metadata
        # is not always attached): they are joined by instance id.
        self.names: dict[str, str] = {}
        self.workloads: dict[str, str] = {}
        self.machine_types: dict[str, str] = {}

    def add(self, query: Query, series: dict[str, Any]) -> None:
        ident, labels = self._identify(series)
        if ident is None:
            return
        key: str | tuple[str, ...] = query.key
        if query.split:
            metric_labels = series.get("metric", {}).get("labels", {})
            key = (query.key, *(metric_labels.get(name, "") for name in query.split))
            if query.key == "disk" and not is_disk(key[1]):
                return
        res = self.resources.setdefault(ident, _Resource(labels, {}))
        values = on_grid(series, self.grid, self.step)
        before = res.values.get(key)
        res.values[key] = (
            values if before is None else np.where(np.isfinite(values), values, before)
        )

    def _identify(self, series: dict[str, Any]) -> tuple[tuple[str, ...] | None, dict[str, str]]:
        resource = series.get("resource", {})
        rl = resource.get("labels", {})
        kind = resource.get("type", "")
        if kind == "gce_instance":
            iid = rl.get("instance_id", "")
            meta = series.get("metadata", {})
            name = series.get("metric", {}).get("labels", {}).get("instance_name") or meta.get(
                "systemLabels", {}
            ).get("name")
            if name:
                self.names[iid] = name
            workload = meta.get("userLabels", {}).get(self.workload_label)
            if workload:
                self.workloads[iid] = workload
            machine_type = meta.get("systemLabels", {}).get("machine_type")
            if machine_type:
                self.machine_types[iid] = machine_type
            return ("gce", iid), {"region": region_of(rl.get("zone", ""))}
        if kind == "k8s_node":
            return (
                (
                    "k8s_node",
                    rl.get("cluster_name", ""),
                    rl.get("location", ""),
                    rl.get("node_name", ""),
                ),
                {
                    "region": region_of(rl.get("location", "")),
                    "workload": rl.get("cluster_name", ""),
                    "resource_id": rl.get("node_name", ""),
                },
            )
        if kind == "k8s_container":
            rid = "/".join(rl.get(k, "") for k in ("namespace_name", "pod_name", "container_name"))
            return (
                ("k8s_container", rl.get("cluster_name", ""), rl.get("location", ""), rid),
                {
                    "region": region_of(rl.get("location", "")),
                    "workload": rl.get("cluster_name", ""),
                    "resource_id": rid,
                },
            )
        return None, {}

    def _labels(self, ident: tuple[str, ...], res: _Resource) -> dict[str, str]:
        labels = {
            "provider": "gcp",
            "account": self.project,
            "workload": "",
            "resource_id": "",
            **res.labels,
        }
        if ident[0] == "gce":
            iid = ident[1]
            labels["resource_id"] = self.names.get(iid, iid)
            labels["workload"] = self.workloads.get(iid, "")
        return labels

    def series(self) -> Iterator[HistorySeries]:
        """(catalogue name, labels, values on the grid) of every resource seen."""
        for ident, res in self.resources.items():
            labels = self._labels(ident, res)
            for key, values in res.values.items():
                if key in DIRECT:
                    name, device = DIRECT[key]
                    yield name, labels if device is None else {**labels, "device": device}, values
            yield from _disks(labels, res.values)
            memory = _memory_ratio(res.values)
            if memory is not None:
                yield MEMORY_RATIO, labels, memory
            machine_type = self.machine_types.get(ident[1]) if ident[0] == "gce" else None
            if machine_type and res.values:
                # Present while the instance reports anything; the lifecycle (spot or not) is
                # not in the metadata, so it stays empty.
                seen = np.isfinite(np.vstack(list(res.values.values()))).any(axis=0)
                yield (
                    "promcast_resource_info",
                    {**labels, "instance_type": machine_type, "lifecycle": ""},
                    np.where(seen, 1.0, np.nan),
                )


def _disks(labels: dict[str, str], values: dict[Any, np.ndarray]) -> Iterator[HistorySeries]:
    """A guest's file systems: used bytes, and size = used + free + reserved (the agent's states
    sum to the file system's size). No size without a free series, which would make a disk look
    full; a reserved state that is not reported counts 0."""
    devices = dict.fromkeys(k[1] for k in values if isinstance(k, tuple) and k[0] == "disk")
    for device in devices:
        used, free, reserved = (
            values.get(("disk", device, state)) for state in ("used", "free", "reserved")
        )
        disk = {**labels, "device": device}
        if used is not None:
            yield USED, disk, used
            if free is not None:
                yield SIZE, disk, used + free + (0.0 if reserved is None else reserved)


def _memory_ratio(values: dict[Any, np.ndarray]) -> np.ndarray | None:
    """Memory in use: the agent's percent_used{state="used"} as a ratio when the VM reports it in
    the window (the guest's own view), else the balloon driver's ram_used / ram_size. One source
    per series: filling the agent's gaps from the balloon would mix two measures in one series."""
    agent = values.get("agent_memory")
    if agent is not None and np.isfinite(agent).any():
        return agent / 100.0
    used, size = values.get("ram_used"), values.get("ram_size")
    if used is None or size is None:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(size > 0, used / size, np.nan)
