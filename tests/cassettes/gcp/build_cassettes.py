"""Writes the Cloud Monitoring cassettes in this folder from hand-built responses.

The responses follow the documented REST shapes of ``projects.timeSeries.list``
(ListTimeSeriesResponse: ``timeSeries`` with ``metric``, ``resource``, ``metadata``,
``metricKind``, ``valueType``, ``points`` newest first, and ``nextPageToken``; errors as
``{"error": {"code", "message", "status"}}``). The requests carry the query parameters the
provider sends. Run it after changing a scenario:
``.venv/bin/python tests/cassettes/gcp/build_cassettes.py``; tests play the YAML files with
record_mode="none", so a request that is not listed here fails the test.
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
HISTORY = (dt.datetime(2026, 11, 23, 10, tzinfo=dt.timezone.utc).timestamp(),
           dt.datetime(2026, 11, 23, 11, tzinfo=dt.timezone.utc).timestamp(), 600.0)

WEB_1 = ("1111111111111111111", "web-1", "europe-west1-b", {"workload": "checkout"}, "e2-standard-4")
BATCH_1 = ("2222222222222222222", "batch-1", "us-central1-a", {}, "n2-highcpu-8")
NODE = {"project_id": "shop-prod", "location": "europe-west1", "cluster_name": "shop",
        "node_name": "gke-shop-pool-1-abcd"}
CONTAINER = {"project_id": "shop-prod", "location": "europe-west1-b", "cluster_name": "shop",
             "namespace_name": "cart", "pod_name": "cart-7d9f-x2", "container_name": "app"}
GIB = 2**30


def stamp(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def points(ends: list[float], values: list[float], kind: str = "doubleValue") -> list[dict]:
    """Aligned GAUGE points, newest first as the API returns them; int64 values are strings."""
    out = []
    for end, value in sorted(zip(ends, values), reverse=True):
        cell = {kind: str(int(value)) if kind == "int64Value" else value}
        out.append({"interval": {"startTime": stamp(end), "endTime": stamp(end)}, "value": cell})
    return out


def gce(metric: str, instance: tuple, pts: list[dict], metric_labels: dict | None = None,
        with_metadata: bool = True, project: str = "shop-prod", value_type: str = "DOUBLE") -> dict:
    iid, name, zone, user_labels, machine_type = instance
    series = {"metric": {"type": metric, "labels": metric_labels or {}},
              "resource": {"type": "gce_instance",
                           "labels": {"project_id": project, "instance_id": iid, "zone": zone}},
              "metricKind": "GAUGE", "valueType": value_type, "points": pts}
    if with_metadata:
        series["metadata"] = {"systemLabels": {"name": name, "machine_type": machine_type},
                              "userLabels": user_labels}
    return series


def k8s(metric: str, kind: str, labels: dict, pts: list[dict], metric_labels: dict | None = None,
        value_type: str = "DOUBLE") -> dict:
    return {"metric": {"type": metric, "labels": metric_labels or {}},
            "resource": {"type": kind, "labels": labels},
            "metricKind": "GAUGE", "valueType": value_type, "points": pts}


def request(project: str, filter_: str, start: float, end: float, step: float,
            token: str | None = None) -> str:
    params = {"filter": filter_, "interval.startTime": stamp(start), "interval.endTime": stamp(end),
              "aggregation.alignmentPeriod": f"{int(step)}s",
              "aggregation.perSeriesAligner": "ALIGN_MEAN", "view": "FULL",
              "pageSize": str(PAGE_SIZE)}
    if token:
        params["pageToken"] = token
    return BASE.format(project) + "?" + urlencode(params)


def interaction(uri: str, body: dict, code: int = 200) -> dict:
    return {"request": {"body": None, "headers": {}, "method": "GET", "uri": uri},
            "response": {"status": {"code": code, "message": "OK" if code == 200 else "Forbidden"},
                         "headers": {"Content-Type": ["application/json; charset=UTF-8"]},
                         "body": {"string": json.dumps(body, indent=1)}}}


def filt(metric: str, select: str = "") -> str:
    clause = f'metric.type = "{metric}"'
    return f"{clause} AND {select}" if select else clause


NON_EVICTABLE = 'metric.label.memory_type = "non-evictable"'


def shop_prod(now: float, bump: float) -> list[dict]:
    """Every query of the compute, gke_nodes and gke_containers groups; CPU comes in two pages."""
    end = (now // 300) * 300
    ends = [end - 600, end - 300, end]
    win = (end - 900, end, 300)
    q = lambda f, token=None: request("shop-prod", f, *win, token=token)  # noqa: E731
    cpu = "compute.googleapis.com/instance/cpu/utilization"
    out = [
        interaction(q(filt(cpu)), {"timeSeries": [
            gce(cpu, WEB_1, points(ends, [0.30, 0.35, 0.40 + bump]), {"instance_name": "web-1"})],
            "nextPageToken": "page-2", "unit": "10^2.%"}),
        # The newest point of batch-1 is not there yet (Monitoring lags): the one before counts.
        interaction(q(filt(cpu), "page-2"), {"timeSeries": [
            gce(cpu, BATCH_1, points(ends[:2], [0.90, 0.80 + bump]), {"instance_name": "batch-1"})],
            "unit": "10^2.%"}),
    ]
    cores = "compute.googleapis.com/instance/cpu/reserved_cores"
    out.append(interaction(q(filt(cores)), {"timeSeries": [
        gce(cores, inst, points(ends, [n] * 3), {"instance_name": inst[1]})
        for inst, n in ((WEB_1, 4.0), (BATCH_1, 2.0))]}))
    # Memory: the balloon driver's ram_used / ram_size. The ram_size series come without
    # metadata and without the instance_name label: names and workloads join by instance id.
    ram_used = "compute.googleapis.com/instance/memory/balloon/ram_used"
    ram_size = "compute.googleapis.com/instance/memory/balloon/ram_size"
    out.append(interaction(q(filt(ram_used)), {"timeSeries": [
        gce(ram_used, inst, points(ends, used, "int64Value"), {"instance_name": inst[1]},
            value_type="INT64")
        for inst, used in ((WEB_1, [8 * GIB, 9 * GIB, (9.6 + 16 * bump) * GIB]),
                           (BATCH_1, [2 * GIB, 3 * GIB, 4 * GIB]))]}))
    out.append(interaction(q(filt(ram_size)), {"timeSeries": [
        gce(ram_size, inst, points(ends, [size] * 3, "int64Value"), with_metadata=False,
            value_type="INT64") for inst, size in ((WEB_1, 16 * GIB), (BATCH_1, 8 * GIB))]}))
    node_cpu = "kubernetes.io/node/cpu/allocatable_utilization"
    node_mem = "kubernetes.io/node/memory/allocatable_utilization"
    out.append(interaction(q(filt(node_cpu)), {"timeSeries": [
        k8s(node_cpu, "k8s_node", NODE, points(ends, [0.5, 0.6, 0.7]))]}))
    out.append(interaction(q(filt(node_mem, NON_EVICTABLE)), {"timeSeries": [
        k8s(node_mem, "k8s_node", NODE, points(ends, [0.2, 0.25, 0.3]),
            {"memory_type": "non-evictable"})]}))
    for metric, value in (("kubernetes.io/node/ephemeral_storage/used_bytes", 20e9),
                          ("kubernetes.io/node/ephemeral_storage/total_bytes", 100e9)):
        out.append(interaction(q(filt(metric)), {"timeSeries": [
            k8s(metric, "k8s_node", NODE, points(ends, [value] * 3, "int64Value"),
                value_type="INT64")]}))
    c_cpu = "kubernetes.io/container/cpu/limit_utilization"
    c_mem = "kubernetes.io/container/memory/limit_utilization"
    out.append(interaction(q(filt(c_cpu)), {"timeSeries": [
        k8s(c_cpu, "k8s_container", CONTAINER, points(ends, [0.1, 0.1, 0.15]))]}))
    out.append(interaction(q(filt(c_mem, NON_EVICTABLE)), {"timeSeries": [
        k8s(c_mem, "k8s_container", CONTAINER, points(ends, [0.7, 0.72, 0.75]),
            {"memory_type": "non-evictable"})]}))
    return out


ALL_FILTERS = [
    filt("compute.googleapis.com/instance/cpu/utilization"),
    filt("compute.googleapis.com/instance/cpu/reserved_cores"),
    filt("compute.googleapis.com/instance/memory/balloon/ram_used"),
    filt("compute.googleapis.com/instance/memory/balloon/ram_size"),
    filt("kubernetes.io/node/cpu/allocatable_utilization"),
    filt("kubernetes.io/node/memory/allocatable_utilization", NON_EVICTABLE),
    filt("kubernetes.io/node/ephemeral_storage/used_bytes"),
    filt("kubernetes.io/node/ephemeral_storage/total_bytes"),
    filt("kubernetes.io/container/cpu/limit_utilization"),
    filt("kubernetes.io/container/memory/limit_utilization", NON_EVICTABLE),
]


def shop_dev(now: float, fail: bool) -> list[dict]:
    """One instance's CPU and nothing else; on the second refresh the project refuses access."""
    end = (now // 300) * 300
    win = (end - 900, end, 300)
    cpu = ALL_FILTERS[0]
    if fail:
        return [interaction(request("shop-dev", cpu, *win), {"error": {
            "code": 403, "status": "PERMISSION_DENIED",
            "message": "Permission monitoring.timeSeries.list denied (or the resource may not exist)."}},
            code=403)]
    dev = ("3333333333333333333", "dev-1", "europe-west4-a", {"workload": "sandbox"}, "e2-micro")
    out = [interaction(request("shop-dev", cpu, *win), {"timeSeries": [
        gce("compute.googleapis.com/instance/cpu/utilization", dev, points([end], [0.05]),
            {"instance_name": "dev-1"}, project="shop-dev")]})]
    out += [interaction(request("shop-dev", f, *win), {}) for f in ALL_FILTERS[1:]]
    return out


def history() -> list[dict]:
    """Backfill of shop-prod's compute group; one series' points are split over two pages."""
    start, end, step = HISTORY
    grid = [start + i * step for i in range(int((end - start) // step) + 1)]
    win = (start - step, end, step)
    q = lambda f, token=None: request("shop-prod", f, *win, token=token)  # noqa: E731
    cpu = "compute.googleapis.com/instance/cpu/utilization"
    values = [round(0.1 * (i + 1), 2) for i in range(len(grid))]
    out = [
        interaction(q(ALL_FILTERS[0]), {"timeSeries": [
            gce(cpu, WEB_1, points(grid[4:], values[4:]), {"instance_name": "web-1"})],
            "nextPageToken": "h-2"}),
        interaction(q(ALL_FILTERS[0], "h-2"), {"timeSeries": [
            gce(cpu, WEB_1, points(grid[:4], values[:4]), {"instance_name": "web-1"})]}),
    ]
    out += [interaction(q(f), {}) for f in ALL_FILTERS[1:4]]
    return out


class _Dumper(yaml.SafeDumper):
    """Response bodies as literal blocks, so the JSON reads as the API returns it."""


_Dumper.add_representer(str, lambda dumper, s: dumper.represent_scalar(
    "tag:yaml.org,2002:str", s, style="|" if "\n" in s else None))


def write(name: str, interactions: list[dict]) -> None:
    text = yaml.dump({"interactions": interactions, "version": 1}, Dumper=_Dumper,
                     sort_keys=False, width=200)
    (HERE / name).write_text("# Generated by build_cassettes.py from hand-built responses.\n" + text)


def main() -> None:
    write("refresh.yaml", shop_prod(NOW_1, 0.0) + shop_dev(NOW_1, False)
          + shop_prod(NOW_2, 0.05) + shop_dev(NOW_2, True))
    write("history.yaml", history())


if __name__ == "__main__":
    main()
