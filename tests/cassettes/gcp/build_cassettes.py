"""Writes the Cloud Monitoring cassettes in this folder from hand-built responses.

The responses follow the documented REST shapes of ``projects.timeSeries.list``
(ListTimeSeriesResponse: ``timeSeries`` with ``metric``, ``resource``, ``metadata``,
``metricKind``, ``valueType``, ``points`` newest first, and ``nextPageToken``; errors as
``{"error": {"code", "message", "status"}}``). The requests carry the query parameters the
provider sends. Run it after changing a scenario:
``.venv/bin/python tests/cassettes/gcp/build_cassettes.py``; tests play the YAML files with
record_mode="none", so a request that is not listed here fails the test.

Guest metrics follow the Ops Agent metric list (cloud.google.com/monitoring/api/metrics_opsagent):
``agent.googleapis.com/disk/bytes_used`` (GAUGE, DOUBLE, By; labels ``device`` and ``state``, one
of free, used, reserved; summing the states gives the file system's size), the Ops Agent 2.x
writing the device's full path (``/dev/sda1``) and no virtual devices, the legacy Monitoring
agent writing it without ``/dev`` and with tmpfs / udev; ``agent.googleapis.com/memory/
percent_used`` (GAUGE, DOUBLE, %, 0-100; ``state`` one of buffered, cached, free, slab, used).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from urllib.parse import urlencode

import yaml

HERE = Path(__file__).resolve().parent
BASE = "https://monitoring.googleapis.com/v3/projects/{}/timeSeries"
PAGE_SIZE = 1000
# Two refreshes (step 5m, lookback 15m) and one backfill window (step 10m).
NOW_1 = dt.datetime(2026, 11, 23, 12, 7, 30, tzinfo=dt.timezone.utc).timestamp()
NOW_2 = NOW_1 + 300
HISTORY = (
    dt.datetime(2026, 11, 23, 10, tzinfo=dt.timezone.utc).timestamp(),
    dt.datetime(2026, 11, 23, 11, tzinfo=dt.timezone.utc).timestamp(),
    600.0,
)

WEB_1 = (
    "1111111111111111111",
    "web-1",
    "europe-west1-b",
    {"workload": "checkout"},
    "e2-standard-4",
)
BATCH_1 = ("2222222222222222222", "batch-1", "us-central1-a", {}, "n2-highcpu-8")
NODE = {
    "project_id": "shop-prod",
    "location": "europe-west1",
    "cluster_name": "shop",
    "node_name": "gke-shop-pool-1-abcd",
}
CONTAINER = {
    "project_id": "shop-prod",
    "location": "europe-west1-b",
    "cluster_name": "shop",
    "namespace_name": "cart",
    "pod_name": "cart-7d9f-x2",
    "container_name": "app",
}
GIB = 2**30
# Ops Agent file systems of web-1: device -> (used, free, reserved) bytes at NOW_1. /dev/loop0 is a
# snap package's squashfs image (read-only, always full): the provider leaves it out.
WEB_DISKS = {
    "/dev/sda1": (6 * GIB, 3.5 * GIB, 0.5 * GIB),
    "/dev/sdb": (150 * GIB, 90 * GIB, 10 * GIB),
    "/dev/loop0": (64 * GIB / 1024, 0.0, 0.0),
}
WEB_DISK_GROWTH = 1 * GIB  # /dev/sdb's used bytes at NOW_2 are this much more (free this much less)
WEB_MEMORY_PERCENT = (40.0, 41.0, 42.0)  # agent memory/percent_used, state=used (balloon says 60%)
# dev-1 (project shop-dev) runs the legacy Monitoring agent: devices without /dev, and tmpfs / udev
# (virtual file systems) reported too, which the provider leaves out.
DEV_DISKS = {
    "sda1": (4 * GIB, 5 * GIB, 1 * GIB),
    "tmpfs": (0.1 * GIB, 1.9 * GIB, 0.0),
    "udev": (0.0, 2 * GIB, 0.0),
}
DEV_MEMORY_PERCENT = 30.0
DISK = "agent.googleapis.com/disk/bytes_used"
MEMORY_PERCENT = "agent.googleapis.com/memory/percent_used"
STATE_USED = 'metric.label.state = "used"'


def stamp(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def points(ends: list[float], values: list[float], kind: str = "doubleValue") -> list[dict]:
    """Aligned GAUGE points, newest first as the API returns them; int64 values are strings."""
    out = []
    for end, value in sorted(zip(ends, values), reverse=True):
        cell = {kind: str(int(value)) if kind == "int64Value" else value}
        out.append({"interval": {"startTime": stamp(end), "endTime": stamp(end)}, "value": cell})
    return out


def gce(
    metric: str,
    instance: tuple,
    pts: list[dict],
    metric_labels: dict | None = None,
    with_metadata: bool = True,
    project: str = "shop-prod",
    value_type: str = "DOUBLE",
) -> dict:
    iid, name, zone, user_labels, machine_type = instance
    series = {
        "metric": {"type": metric, "labels": metric_labels or {}},
        "resource": {
            "type": "gce_instance",
            "labels": {"project_id": project, "instance_id": iid, "zone": zone},
        },
        "metricKind": "GAUGE",
        "valueType": value_type,
        "points": pts,
    }
    if with_metadata:
        series["metadata"] = {
            "systemLabels": {"name": name, "machine_type": machine_type},
            "userLabels": user_labels,
        }
    return series


def k8s(
    metric: str,
    kind: str,
    labels: dict,
    pts: list[dict],
    metric_labels: dict | None = None,
    value_type: str = "DOUBLE",
) -> dict:
    return {
        "metric": {"type": metric, "labels": metric_labels or {}},
        "resource": {"type": kind, "labels": labels},
        "metricKind": "GAUGE",
        "valueType": value_type,
        "points": pts,
    }


def request(
    project: str, filter_: str, start: float, end: float, step: float, token: str | None = None
) -> str:
    params = {
        "filter": filter_,
        "interval.startTime": stamp(start),
        "interval.endTime": stamp(end),
        "aggregation.alignmentPeriod": f"{int(step)}s",
        "aggregation.perSeriesAligner": "ALIGN_MEAN",
        "view": "FULL",
        "pageSize": str(PAGE_SIZE),
    }
    if token:
        params["pageToken"] = token
    return BASE.format(project) + "?" + urlencode(params)


def interaction(uri: str, body: dict, code: int = 200) -> dict:
    return {
        "request": {"body": None, "headers": {}, "method": "GET", "uri": uri},
        "response": {
            "status": {"code": code, "message": "OK" if code == 200 else "Forbidden"},
            "headers": {"Content-Type": ["application/json; charset=UTF-8"]},
            "body": {"string": json.dumps(body, indent=1)},
        },
    }


def filt(metric: str, select: str = "") -> str:
    clause = f'metric.type = "{metric}"'
    return f"{clause} AND {select}" if select else clause


NON_EVICTABLE = 'metric.label.memory_type = "non-evictable"'


def disk_series(
    instance: tuple,
    disks: dict,
    ends: list[float],
    project: str = "shop-prod",
    grow: float = 0.0,
    grown: str = "",
) -> list[dict]:
    """One agent disk/bytes_used series per device and state (values constant over ``ends``;
    ``grown``'s used bytes are ``grow`` more and its free bytes ``grow`` less)."""
    out = []
    for device, states in disks.items():
        for state, value in zip(("used", "free", "reserved"), states):
            if device == grown:
                value += grow if state == "used" else -grow if state == "free" else 0.0
            out.append(
                gce(
                    DISK,
                    instance,
                    points(ends, [value] * len(ends)),
                    {"device": device, "state": state},
                    project=project,
                )
            )
    return out


def shop_prod(now: float, bump: float) -> list[dict]:
    """Every query of the compute, gke_nodes and gke_containers groups; CPU comes in two pages."""
    end = (now // 300) * 300
    ends = [end - 600, end - 300, end]
    win = (end - 900, end, 300)
    q = lambda f, token=None: request("shop-prod", f, *win, token=token)  # noqa: E731
    cpu = "compute.googleapis.com/instance/cpu/utilization"
    out = [
        interaction(
            q(filt(cpu)),
            {
                "timeSeries": [
                    gce(
                        cpu,
                        WEB_1,
                        points(ends, [0.30, 0.35, 0.40 + bump]),
                        {"instance_name": "web-1"},
                    )
                ],
                "nextPageToken": "page-2",
                "unit": "10^2.%",
            },
        ),
        # The newest point of batch-1 is not there yet (Monitoring lags): the one before counts.
        interaction(
            q(filt(cpu), "page-2"),
            {
                "timeSeries": [
                    gce(
                        cpu,
                        BATCH_1,
                        points(ends[:2], [0.90, 0.80 + bump]),
                        {"instance_name": "batch-1"},
                    )
                ],
                "unit": "10^2.%",
            },
        ),
    ]
    cores = "compute.googleapis.com/instance/cpu/reserved_cores"
    out.append(
        interaction(
            q(filt(cores)),
            {
                "timeSeries": [
                    gce(cores, inst, points(ends, [n] * 3), {"instance_name": inst[1]})
                    for inst, n in ((WEB_1, 4.0), (BATCH_1, 2.0))
                ]
            },
        )
    )
    # Memory: the balloon driver's ram_used / ram_size. The ram_size series come without
    # metadata and without the instance_name label: names and workloads join by instance id.
    ram_used = "compute.googleapis.com/instance/memory/balloon/ram_used"
    ram_size = "compute.googleapis.com/instance/memory/balloon/ram_size"
    out.append(
        interaction(
            q(filt(ram_used)),
            {
                "timeSeries": [
                    gce(
                        ram_used,
                        inst,
                        points(ends, used, "int64Value"),
                        {"instance_name": inst[1]},
                        value_type="INT64",
                    )
                    for inst, used in (
                        (WEB_1, [8 * GIB, 9 * GIB, (9.6 + 16 * bump) * GIB]),
                        (BATCH_1, [2 * GIB, 3 * GIB, 4 * GIB]),
                    )
                ]
            },
        )
    )
    out.append(
        interaction(
            q(filt(ram_size)),
            {
                "timeSeries": [
                    gce(
                        ram_size,
                        inst,
                        points(ends, [size] * 3, "int64Value"),
                        with_metadata=False,
                        value_type="INT64",
                    )
                    for inst, size in ((WEB_1, 16 * GIB), (BATCH_1, 8 * GIB))
                ]
            },
        )
    )
    # Guest metrics (Ops Agent): only web-1 runs the agent, batch-1 has none (no series at all).
    # The disk series come in two pages; the pieces are keyed by device and state.
    disks = disk_series(
        WEB_1, WEB_DISKS, ends, grow=WEB_DISK_GROWTH if bump else 0.0, grown="/dev/sdb"
    )
    out.append(
        interaction(
            q(filt(DISK)), {"timeSeries": disks[:4], "nextPageToken": "disk-2", "unit": "By"}
        )
    )
    out.append(interaction(q(filt(DISK), "disk-2"), {"timeSeries": disks[4:], "unit": "By"}))
    mem = [p + 100 * bump for p in WEB_MEMORY_PERCENT]
    out.append(
        interaction(
            q(filt(MEMORY_PERCENT, STATE_USED)),
            {
                "timeSeries": [gce(MEMORY_PERCENT, WEB_1, points(ends, mem), {"state": "used"})],
                "unit": "%",
            },
        )
    )
    node_cpu = "kubernetes.io/node/cpu/allocatable_utilization"
    node_mem = "kubernetes.io/node/memory/allocatable_utilization"
    out.append(
        interaction(
            q(filt(node_cpu)),
            {"timeSeries": [k8s(node_cpu, "k8s_node", NODE, points(ends, [0.5, 0.6, 0.7]))]},
        )
    )
    out.append(
        interaction(
            q(filt(node_mem, NON_EVICTABLE)),
            {
                "timeSeries": [
                    k8s(
                        node_mem,
                        "k8s_node",
                        NODE,
                        points(ends, [0.2, 0.25, 0.3]),
                        {"memory_type": "non-evictable"},
                    )
                ]
            },
        )
    )
    for metric, value in (
        ("kubernetes.io/node/ephemeral_storage/used_bytes", 20e9),
        ("kubernetes.io/node/ephemeral_storage/total_bytes", 100e9),
    ):
        out.append(
            interaction(
                q(filt(metric)),
                {
                    "timeSeries": [
                        k8s(
                            metric,
                            "k8s_node",
                            NODE,
                            points(ends, [value] * 3, "int64Value"),
                            value_type="INT64",
                        )
                    ]
                },
            )
        )
    c_cpu = "kubernetes.io/container/cpu/limit_utilization"
    c_mem = "kubernetes.io/container/memory/limit_utilization"
    out.append(
        interaction(
            q(filt(c_cpu)),
            {
                "timeSeries": [
                    k8s(c_cpu, "k8s_container", CONTAINER, points(ends, [0.1, 0.1, 0.15]))
                ]
            },
        )
    )
    out.append(
        interaction(
            q(filt(c_mem, NON_EVICTABLE)),
            {
                "timeSeries": [
                    k8s(
                        c_mem,
                        "k8s_container",
                        CONTAINER,
                        points(ends, [0.7, 0.72, 0.75]),
                        {"memory_type": "non-evictable"},
                    )
                ]
            },
        )
    )
    return out


ALL_FILTERS = [
    filt("compute.googleapis.com/instance/cpu/utilization"),
    filt("compute.googleapis.com/instance/cpu/reserved_cores"),
    filt("compute.googleapis.com/instance/memory/balloon/ram_used"),
    filt("compute.googleapis.com/instance/memory/balloon/ram_size"),
    filt(DISK),
    filt(MEMORY_PERCENT, STATE_USED),
    filt("kubernetes.io/node/cpu/allocatable_utilization"),
    filt("kubernetes.io/node/memory/allocatable_utilization", NON_EVICTABLE),
    filt("kubernetes.io/node/ephemeral_storage/used_bytes"),
    filt("kubernetes.io/node/ephemeral_storage/total_bytes"),
    filt("kubernetes.io/container/cpu/limit_utilization"),
    filt("kubernetes.io/container/memory/limit_utilization", NON_EVICTABLE),
]


def shop_dev(now: float, fail: bool) -> list[dict]:
    """One instance's CPU and the legacy Monitoring agent's guest metrics (no balloon memory); on
    the second refresh the project refuses access."""
    end = (now // 300) * 300
    win = (end - 900, end, 300)
    cpu = ALL_FILTERS[0]
    if fail:
        return [
            interaction(
                request("shop-dev", cpu, *win),
                {
                    "error": {
                        "code": 403,
                        "status": "PERMISSION_DENIED",
                        "message": "Permission monitoring.timeSeries.list denied (or the resource may not exist).",
                    }
                },
                code=403,
            )
        ]
    dev = ("3333333333333333333", "dev-1", "europe-west4-a", {"workload": "sandbox"}, "e2-micro")
    out = [
        interaction(
            request("shop-dev", cpu, *win),
            {
                "timeSeries": [
                    gce(
                        "compute.googleapis.com/instance/cpu/utilization",
                        dev,
                        points([end], [0.05]),
                        {"instance_name": "dev-1"},
                        project="shop-dev",
                    )
                ]
            },
        )
    ]
    guest = {
        filt(DISK): {"timeSeries": disk_series(dev, DEV_DISKS, [end], project="shop-dev")},
        filt(MEMORY_PERCENT, STATE_USED): {
            "timeSeries": [
                gce(
                    MEMORY_PERCENT,
                    dev,
                    points([end], [DEV_MEMORY_PERCENT]),
                    {"state": "used"},
                    project="shop-dev",
                )
            ]
        },
    }
    out += [interaction(request("shop-dev", f, *win), guest.get(f, {})) for f in ALL_FILTERS[1:]]
    return out


HISTORY_DISK_USED, HISTORY_DISK_STEP, HISTORY_DISK_SIZE = 5 * GIB, GIB / 4, 10 * GIB


def history() -> list[dict]:
    """Backfill of shop-prod's compute and guest groups; one series' points are split over two
    pages. web-1's root file system fills up: used grows by HISTORY_DISK_STEP a step."""
    start, end, step = HISTORY
    grid = [start + i * step for i in range(int((end - start) // step) + 1)]
    win = (start - step, end, step)
    q = lambda f, token=None: request("shop-prod", f, *win, token=token)  # noqa: E731
    cpu = "compute.googleapis.com/instance/cpu/utilization"
    values = [round(0.1 * (i + 1), 2) for i in range(len(grid))]
    out = [
        interaction(
            q(ALL_FILTERS[0]),
            {
                "timeSeries": [
                    gce(cpu, WEB_1, points(grid[4:], values[4:]), {"instance_name": "web-1"})
                ],
                "nextPageToken": "h-2",
            },
        ),
        interaction(
            q(ALL_FILTERS[0], "h-2"),
            {
                "timeSeries": [
                    gce(cpu, WEB_1, points(grid[:4], values[:4]), {"instance_name": "web-1"})
                ]
            },
        ),
    ]
    out += [interaction(q(f), {}) for f in ALL_FILTERS[1:4]]
    used = [HISTORY_DISK_USED + i * HISTORY_DISK_STEP for i in range(len(grid))]
    out.append(
        interaction(
            q(ALL_FILTERS[4]),
            {
                "timeSeries": [
                    gce(DISK, WEB_1, points(grid, values), {"device": "/dev/sda1", "state": state})
                    for state, values in (
                        ("used", used),
                        ("free", [HISTORY_DISK_SIZE - u for u in used]),
                        ("reserved", [0.0] * len(grid)),
                    )
                ]
            },
        )
    )
    out.append(interaction(q(ALL_FILTERS[5]), {}))
    return out


class _Dumper(yaml.SafeDumper):
    """Response bodies as literal blocks, so the JSON reads as the API returns it."""


_Dumper.add_representer(
    str,
    lambda dumper, s: dumper.represent_scalar(
        "tag:yaml.org,2002:str", s, style="|" if "\n" in s else None
    ),
)


def write(name: str, interactions: list[dict]) -> None:
    text = yaml.dump(
        {"interactions": interactions, "version": 1}, Dumper=_Dumper, sort_keys=False, width=200
    )
    (HERE / name).write_text(
        "# Generated by build_cassettes.py from hand-built responses.\n" + text
    )


def main() -> None:
    write(
        "refresh.yaml",
        shop_prod(NOW_1, 0.0)
        + shop_dev(NOW_1, False)
        + shop_prod(NOW_2, 0.05)
        + shop_dev(NOW_2, True),
    )
    write("history.yaml", history())


if __name__ == "__main__":
    main()
