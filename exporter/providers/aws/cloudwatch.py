"""CloudWatch utilisation of the inventoried resources through GetMetricData.

Up to 500 queries go in one request (the API's limit), answers are paged with NextToken, and the
values are turned into the catalogue's resource series here (percent -> ratio, free -> used,
sums -> per second) rather than with metric math, which CloudWatch would bill as more metrics.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import numpy as np
from prometheus_client.core import Metric

from promcast_common.catalogue import Families

from .inventory import Inventory, Resource, disk_device
from .meter import Meter

MAX_QUERIES = 500
LIVE_PERIODS = 4  # look back this many periods: CloudWatch publishes a few minutes late
# CloudWatch keeps 1-minute data 15 days, 5-minute data 63 days, then hourly (455 days): a
# request for older data must use a period it still has.
RETENTION = ((15 * 86400, 60), (63 * 86400, 300), (455 * 86400, 3600))


@dataclass(frozen=True)
class Query:
    id: str
    resource: Resource
    namespace: str
    metric: str
    dimension: str
    stat: str
    series: str
    convert: Callable[[float, float], float]  # (value, period seconds) -> series value
    device: bool = False  # the series has a ``device`` label


def _pct(v: float, period: float) -> float:
    return v / 100.0


def _plain(v: float, period: float) -> float:
    return v


def _idle_to_busy(v: float, period: float) -> float:
    return min(max(1.0 - v / period, 0.0), 1.0)


def _per_second(v: float, period: float) -> float:
    return v / period


# (kind, namespace, dimension, metric, statistic, series, conversion, has device)
PLAN: tuple[tuple[str, str, str, str, str, str, Callable, bool], ...] = (
    (
        "ec2",
        "AWS/EC2",
        "InstanceId",
        "CPUUtilization",
        "Average",
        "promcast_resource_cpu_utilization_ratio",
        _pct,
        False,
    ),
    (
        "rds",
        "AWS/RDS",
        "DBInstanceIdentifier",
        "CPUUtilization",
        "Average",
        "promcast_resource_cpu_utilization_ratio",
        _pct,
        False,
    ),
    (
        "rds",
        "AWS/RDS",
        "DBInstanceIdentifier",
        "FreeStorageSpace",
        "Average",
        "promcast_resource_disk_used_bytes",
        None,
        True,
    ),
    (
        "rds",
        "AWS/RDS",
        "DBInstanceIdentifier",
        "FreeableMemory",
        "Average",
        "promcast_resource_memory_utilization_ratio",
        None,
        False,
    ),
    (
        "ebs",
        "AWS/EBS",
        "VolumeId",
        "VolumeIdleTime",
        "Sum",
        "promcast_resource_disk_busy_ratio",
        _idle_to_busy,
        True,
    ),
    (
        "alb",
        "AWS/ApplicationELB",
        "LoadBalancer",
        "RequestCount",
        "Sum",
        "promcast_resource_requests_per_second",
        _per_second,
        False,
    ),
    (
        "alb",
        "AWS/ApplicationELB",
        "LoadBalancer",
        "TargetResponseTime",
        "Average",
        "promcast_resource_response_time_seconds",
        _plain,
        False,
    ),
)


def _relative_to(r: Resource, metric: str) -> Callable[[float, float], float] | None:
    """Free bytes -> used share or used bytes, which need the resource's size."""
    if metric == "FreeStorageSpace" and r.size_bytes:
        size = r.size_bytes
        return lambda v, period: max(size - v, 0.0)
    if metric == "FreeableMemory" and r.memory_bytes:
        memory = r.memory_bytes
        return lambda v, period: min(max(1.0 - v / memory, 0.0), 1.0)
    return None


def plan_queries(inv: Inventory) -> list[Query]:
    out: list[Query] = []
    for r in inv.resources:
        for kind, ns, dim, metric, stat, series, convert, device in PLAN:
            if kind != r.kind:
                continue
            convert = convert or _relative_to(r, metric)
            if convert is None:  # e.g. an RDS class of unknown memory
                continue
            out.append(Query(f"q{len(out)}", r, ns, metric, dim, stat, series, convert, device))
    return out


def get_metric_data(
    cw: Any,
    meter: Meter,
    queries: Sequence[Query],
    start: float,
    end: float,
    period: int,
    newest_first: bool = False,
) -> dict[str, tuple[list, list]]:
    """(timestamps, values) per query id, over [start, end) at ``period`` seconds."""
    out: dict[str, tuple[list, list]] = {q.id: ([], []) for q in queries}
    for i in range(0, len(queries), MAX_QUERIES):
        batch = queries[i : i + MAX_QUERIES]
        kwargs: dict[str, Any] = {
            "MetricDataQueries": [
                {
                    "Id": q.id,
                    "ReturnData": True,
                    "MetricStat": {
                        "Metric": {
                            "Namespace": q.namespace,
                            "MetricName": q.metric,
                            "Dimensions": [
                                {
                                    "Name": q.dimension,
                                    "Value": q.resource.dimension or q.resource.resource_id,
                                }
                            ],
                        },
                        "Period": period,
                        "Stat": q.stat,
                    },
                }
                for q in batch
            ],
            "StartTime": dt.datetime.fromtimestamp(start, dt.timezone.utc),
            "EndTime": dt.datetime.fromtimestamp(end, dt.timezone.utc),
            "ScanBy": "TimestampDescending" if newest_first else "TimestampAscending",
        }
        while True:
            meter.call("cloudwatch:GetMetricData", metrics=len(batch))
            page = cw.get_metric_data(**kwargs)
            for res in page.get("MetricDataResults", []):
                ts, vs = out[res["Id"]]
                ts += [t.timestamp() for t in res.get("Timestamps", [])]
                vs += list(res.get("Values", []))
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
    return out


def _labels(inv: Inventory, q: Query) -> dict[str, str]:
    lab = inv.labels(q.resource)
    return {**lab, "device": disk_device(q.resource)} if q.device else lab


@dataclass
class Utilisation:
    """Newest value of each query (last good CloudWatch answer for one account and region)."""

    inventory: Inventory
    values: list[tuple[Query, float]]

    def families(self) -> Iterator[Metric]:
        out = Families()
        for q, v in self.values:
            out.add(q.series, _labels(self.inventory, q), v)
        return iter(out)


def latest(cw: Any, meter: Meter, inv: Inventory, now: float, period: int) -> Utilisation:
    queries = plan_queries(inv)
    end = now // period * period
    data = (
        get_metric_data(
            cw, meter, queries, end - LIVE_PERIODS * period, end, period, newest_first=True
        )
        if queries
        else {}
    )
    values = []
    for q in queries:
        ts, vs = data[q.id]
        if ts:
            newest = int(np.argmax(ts))
            values.append((q, q.convert(float(vs[newest]), period)))
    return Utilisation(inv, values)


def history_period(start: float, now: float, step: float) -> int:
    """The CloudWatch period for a history from ``start``: about the step, and one CloudWatch
    still keeps for data that old."""
    period = max(60, int(-(-step // 60) * 60))
    for age, keeps in RETENTION:
        if now - start <= age:
            return int(-(-period // keeps) * keeps)
    return int(-(-period // 3600) * 3600)


def history(
    cw: Any, meter: Meter, inv: Inventory, t: np.ndarray, now: float
) -> Iterator[tuple[str, dict[str, str], np.ndarray]]:
    """Each series at the times ``t``: the value of the newest period complete at t, NaN where
    CloudWatch has none."""
    queries = plan_queries(inv)
    if not queries or not len(t):
        return
    step = float(t[1] - t[0]) if len(t) > 1 else 60.0
    period = history_period(float(t[0]), now, step)
    wanted = np.floor(t / period) * period - period  # start of the newest complete period
    data = get_metric_data(
        cw, meter, queries, float(wanted.min()), float(wanted.max()) + period, period
    )
    for q in queries:
        ts, vs = data[q.id]
        if not ts:
            continue
        by_start = {int(a): b for a, b in zip(ts, vs)}
        values = np.array(
            [
                q.convert(float(by_start[int(w)]), period) if int(w) in by_start else np.nan
                for w in wanted
            ],
            dtype=float,
        )
        yield q.series, _labels(inv, q), values
