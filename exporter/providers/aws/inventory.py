"""What runs in one account and region: EC2 instances (size from DescribeInstanceTypes, spot or
on-demand), RDS instances, EBS volumes and application load balancers, with the workload tag.

The inventory names the resources CloudWatch is asked about and the instance types priced, so
one listing per interval serves all three.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from botocore.exceptions import ClientError
from prometheus_client.core import Metric

from promcast_common.catalogue import Families

from .meter import Meter

log = logging.getLogger(__name__)
MIB = 1024**2
GIB = 1024**3
TYPES_PER_CALL = 100  # DescribeInstanceTypes' limit
LIVE_STATES = ["pending", "running"]


@dataclass(frozen=True)
class Resource:
    kind: str  # ec2 | rds | ebs | alb
    resource_id: str  # instance id, DB identifier, volume id, load balancer name
    workload: str = ""
    instance_type: str = ""  # EC2 type or RDS class
    lifecycle: str = ""  # on-demand | spot | scheduled (EC2), on-demand (RDS)
    vcpus: float | None = None
    memory_bytes: float | None = None
    size_bytes: float | None = None  # EBS volume size, RDS allocated storage
    device: str = ""  # EBS: the attachment's device ("" when unattached)
    attached_to: str = ""  # EBS: the instance id it is attached to
    dimension: str = ""  # CloudWatch dimension value when it differs from the id


@dataclass
class Inventory:
    account: str
    region: str
    resources: list[Resource] = field(default_factory=list)

    def labels(self, r: Resource) -> dict[str, str]:
        """The catalogue's resource labels; an attached volume belongs to its instance."""
        return {
            "provider": "aws",
            "account": self.account,
            "region": self.region,
            "workload": r.workload,
            "resource_id": r.attached_to or r.resource_id,
        }

    def families(self, prices: dict[tuple[str, str], float]) -> Iterator[Metric]:
        out = Families()
        for r in self.resources:
            lab = self.labels(r)
            if r.kind in ("ec2", "rds"):
                out.add(
                    "promcast_resource_info",
                    {**lab, "instance_type": r.instance_type, "lifecycle": r.lifecycle},
                    1,
                )
                if r.vcpus is not None:
                    out.add("promcast_resource_vcpus", lab, r.vcpus)
                if r.memory_bytes is not None:
                    out.add("promcast_resource_memory_bytes", lab, r.memory_bytes)
            if r.kind == "ec2" and (self.region, r.instance_type) in prices:
                out.add(
                    "promcast_resource_price_per_hour_usd",
                    lab,
                    prices[(self.region, r.instance_type)],
                )
            if r.size_bytes is not None:
                out.add(
                    "promcast_resource_disk_size_bytes",
                    {**lab, "device": disk_device(r)},
                    r.size_bytes,
                )
        return iter(out)

    def instance_types(self) -> set[str]:
        return {r.instance_type for r in self.resources if r.kind == "ec2"}


def disk_device(r: Resource) -> str:
    """The ``device`` label of a resource's disk series."""
    if r.kind == "rds":
        return "storage"
    return r.device or r.resource_id


def _tags(tags: Iterable[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or () if "Key" in t}


class InstanceTypes:
    """vCPUs and memory per instance type: they never change, so each is asked for once."""

    def __init__(self) -> None:
        self.known: dict[str, tuple[float, float] | None] = {}

    def lookup(self, ec2: Any, meter: Meter, names: Iterable[str]) -> None:
        missing = sorted({n for n in names if n and n not in self.known})
        for i in range(0, len(missing), TYPES_PER_CALL):
            self._batch(ec2, meter, missing[i : i + TYPES_PER_CALL])

    def _batch(self, ec2: Any, meter: Meter, batch: list[str]) -> None:
        try:
            for page in _pages(
                ec2,
                "describe_instance_types",
                meter,
                "ec2:DescribeInstanceTypes",
                InstanceTypes=batch,
            ):
                for t in page.get("InstanceTypes", []):
                    self.known[t["InstanceType"]] = (
                        float(t["VCpuInfo"]["DefaultVCpus"]),
                        float(t["MemoryInfo"]["SizeInMiB"]) * MIB,
                    )
        except ClientError as exc:
            # One unknown name (e.g. an RDS class without an EC2 twin) fails the whole batch:
            # ask one by one to find it; a single unknown name is remembered as unknown.
            if exc.response["Error"]["Code"] != "InvalidInstanceType":
                raise
            if len(batch) > 1:
                for name in batch:
                    self._batch(ec2, meter, [name])
        for name in batch:
            self.known.setdefault(name, None)

    def size(self, name: str) -> tuple[float | None, float | None]:
        found = self.known.get(name)
        return found if found is not None else (None, None)


def _pages(client: Any, op: str, meter: Meter, api: str, **kwargs: Any) -> Iterator[dict]:
    for page in client.get_paginator(op).paginate(**kwargs):
        meter.call(api)
        yield page


def list_resources(
    clients: dict[str, Any], meter: Meter, workload_tag: str, types: InstanceTypes
) -> list[Resource]:
    """Every resource in one account and region; ``clients`` has ec2, rds and elbv2."""
    ec2, rds, elb = clients["ec2"], clients["rds"], clients["elbv2"]
    raw = [
        i
        for page in _pages(
            ec2,
            "describe_instances",
            meter,
            "ec2:DescribeInstances",
            Filters=[{"Name": "instance-state-name", "Values": LIVE_STATES}],
        )
        for res in page.get("Reservations", [])
        for i in res.get("Instances", [])
    ]
    dbs = [
        d
        for page in _pages(rds, "describe_db_instances", meter, "rds:DescribeDBInstances")
        for d in page.get("DBInstances", [])
    ]
    # RDS classes are EC2 types with a "db." prefix (same vCPUs and memory).
    types.lookup(
        ec2,
        meter,
        [i["InstanceType"] for i in raw] + [d["DBInstanceClass"].removeprefix("db.") for d in dbs],
    )
    out: list[Resource] = []
    workload_of: dict[str, str] = {}
    for i in raw:
        vcpus, memory = types.size(i["InstanceType"])
        workload = _tags(i.get("Tags")).get(workload_tag, "")
        workload_of[i["InstanceId"]] = workload
        out.append(
            Resource(
                "ec2",
                i["InstanceId"],
                workload,
                i["InstanceType"],
                i.get("InstanceLifecycle", "on-demand"),
                vcpus,
                memory,
            )
        )
    for d in dbs:
        vcpus, memory = types.size(d["DBInstanceClass"].removeprefix("db."))
        out.append(
            Resource(
                "rds",
                d["DBInstanceIdentifier"],
                _tags(d.get("TagList")).get(workload_tag, ""),
                d["DBInstanceClass"],
                "on-demand",
                vcpus,
                memory,
                size_bytes=float(d.get("AllocatedStorage", 0)) * GIB or None,
            )
        )
    for page in _pages(
        ec2,
        "describe_volumes",
        meter,
        "ec2:DescribeVolumes",
        Filters=[{"Name": "status", "Values": ["in-use", "available"]}],
    ):
        for v in page.get("Volumes", []):
            att = next(iter(v.get("Attachments") or []), {})
            owner = att.get("InstanceId", "")
            workload = workload_of.get(owner) or _tags(v.get("Tags")).get(workload_tag, "")
            out.append(
                Resource(
                    "ebs",
                    v["VolumeId"],
                    workload,
                    size_bytes=float(v["Size"]) * GIB,
                    device=att.get("Device", ""),
                    attached_to=owner,
                )
            )
    for page in _pages(
        elb, "describe_load_balancers", meter, "elasticloadbalancing:DescribeLoadBalancers"
    ):
        for lb in page.get("LoadBalancers", []):
            if lb.get("Type") == "application":
                # CloudWatch's LoadBalancer dimension is the ARN's tail: app/<name>/<id>.
                out.append(
                    Resource(
                        "alb",
                        lb["LoadBalancerName"],
                        dimension=lb["LoadBalancerArn"].split(":loadbalancer/", 1)[-1],
                    )
                )
    return out
