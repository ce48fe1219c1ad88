"""A deterministic synthetic fleet for the demo and the tests.

Every value is a pure function of (resource, time, anchor), vectorised over time, so the live
exporter and ``backfill`` agree exactly and a test can recompute what Prometheus stored. The
anchor is the demo's "now": trends are measured from it, so the disk that fills up is always
about to fill up whenever the demo runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GIB = 2**30
DAY = 86400.0
HOUR = 3600.0


@dataclass(frozen=True)
class Resource:
    resource_id: str
    workload: str
    provider: str
    account: str
    region: str
    instance_type: str
    vcpus: int
    memory_gib: int
    disk_gib: int
    price_per_hour: float
    cpu_base: float  # mean CPU fraction at the anchor
    cpu_daily: float  # amplitude of the daily cycle
    cpu_growth: float  # relative growth per day
    mem_base: float
    disk_at_anchor: float  # used fraction of the disk at the anchor
    disk_per_day: float  # fraction of the disk written per day
    utc_offset_h: int = 0  # where the users are: shifts the daily peak
    lifecycle: str = "on-demand"

    @property
    def seed(self) -> int:
        return int.from_bytes(self.resource_id.encode()[:8].ljust(8, b"\0"), "little") % (2**31)

    @property
    def labels(self) -> dict[str, str]:
        return {
            "provider": self.provider,
            "account": self.account,
            "region": self.region,
            "workload": self.workload,
            "resource_id": self.resource_id,
        }


def _r(
    rid,
    workload,
    provider,
    account,
    region,
    itype,
    vcpus,
    mem,
    disk,
    price,
    cpu,
    daily,
    growth,
    memb,
    d0,
    dday,
    tz=0,
    life="on-demand",
) -> Resource:
    return Resource(
        rid,
        workload,
        provider,
        account,
        region,
        itype,
        vcpus,
        mem,
        disk,
        price,
        cpu,
        daily,
        growth,
        memb,
        d0,
        dday,
        tz,
        life,
    )


AWS, GCP, AZ = "aws", "gcp", "azure"
FLEET: tuple[Resource, ...] = (
    _r(
        "web-1",
        "web",
        AWS,
        "111111111111",
        "us-east-1",
        "m6i.large",
        2,
        8,
        50,
        0.096,
        0.32,
        0.22,
        0.004,
        0.45,
        0.30,
        0.002,
        -5,
    ),
    _r(
        "web-2",
        "web",
        AWS,
        "111111111111",
        "us-east-1",
        "m6i.large",
        2,
        8,
        50,
        0.096,
        0.30,
        0.22,
        0.004,
        0.44,
        0.31,
        0.002,
        -5,
    ),
    _r(
        "web-3",
        "web",
        AWS,
        "111111111111",
        "eu-west-1",
        "m6i.large",
        2,
        8,
        50,
        0.107,
        0.28,
        0.20,
        0.004,
        0.43,
        0.29,
        0.002,
        1,
    ),
    _r(
        "api-1",
        "api",
        AWS,
        "111111111111",
        "us-east-1",
        "c6i.xlarge",
        4,
        8,
        100,
        0.170,
        0.38,
        0.20,
        0.006,
        0.55,
        0.35,
        0.003,
        -5,
    ),
    _r(
        "api-2",
        "api",
        AWS,
        "111111111111",
        "us-east-1",
        "c6i.xlarge",
        4,
        8,
        100,
        0.170,
        0.36,
        0.20,
        0.006,
        0.54,
        0.34,
        0.003,
        -5,
    ),
    _r(
        "api-3",
        "api",
        AWS,
        "222222222222",
        "eu-west-1",
        "c6i.xlarge",
        4,
        8,
        100,
        0.190,
        0.34,
        0.18,
        0.006,
        0.52,
        0.36,
        0.003,
        1,
    ),
    _r(
        "checkout-1",
        "checkout",
        AWS,
        "111111111111",
        "us-east-1",
        "m6i.xlarge",
        4,
        16,
        100,
        0.192,
        0.25,
        0.18,
        0.003,
        0.48,
        0.22,
        0.001,
        -5,
    ),
    _r(
        "db-1",
        "database",
        AWS,
        "111111111111",
        "us-east-1",
        "r6i.2xlarge",
        8,
        64,
        1000,
        0.504,
        0.42,
        0.15,
        0.003,
        0.78,
        0.58,
        0.004,
        -5,
    ),
    _r(
        "db-2",
        "database",
        AWS,
        "222222222222",
        "eu-west-1",
        "r6i.2xlarge",
        8,
        64,
        1000,
        0.564,
        0.35,
        0.12,
        0.003,
        0.76,
        0.52,
        0.004,
        1,
    ),
    _r(
        "cache-1",
        "cache",
        AWS,
        "111111111111",
        "us-east-1",
        "r6g.large",
        2,
        16,
        20,
        0.101,
        0.18,
        0.10,
        0.002,
        0.82,
        0.10,
        0.000,
        -5,
    ),
    _r(
        "search-1",
        "search",
        GCP,
        "billing-0A1B2C",
        "europe-west1",
        "n2-standard-8",
        8,
        32,
        500,
        0.388,
        0.40,
        0.18,
        0.005,
        0.66,
        0.48,
        0.004,
        1,
    ),
    _r(
        "search-2",
        "search",
        GCP,
        "billing-0A1B2C",
        "europe-west1",
        "n2-standard-8",
        8,
        32,
        500,
        0.388,
        0.39,
        0.18,
        0.005,
        0.65,
        0.47,
        0.004,
        1,
    ),
    _r(
        "queue-1",
        "queue",
        GCP,
        "billing-0A1B2C",
        "europe-west1",
        "e2-standard-4",
        4,
        16,
        200,
        0.134,
        0.22,
        0.12,
        0.002,
        0.40,
        0.25,
        0.002,
        1,
    ),
    _r(
        "batch-1",
        "batch",
        GCP,
        "billing-0A1B2C",
        "us-central1",
        "c2-standard-16",
        16,
        64,
        200,
        0.835,
        0.55,
        -0.30,
        0.002,
        0.50,
        0.40,
        0.003,
        -6,
        "spot",
    ),
    _r(
        "batch-2",
        "batch",
        GCP,
        "billing-0A1B2C",
        "us-central1",
        "c2-standard-16",
        16,
        64,
        200,
        0.835,
        0.52,
        -0.30,
        0.002,
        0.48,
        0.41,
        0.003,
        -6,
        "spot",
    ),
    _r(
        "ml-1",
        "ml",
        AZ,
        "sub-7f3e",
        "westeurope",
        "Standard_D16s_v5",
        16,
        64,
        512,
        0.864,
        0.55,
        0.10,
        0.008,
        0.70,
        0.55,
        0.004,
        1,
    ),
    _r(
        "logs-1",
        "logging",
        AZ,
        "sub-7f3e",
        "westeurope",
        "Standard_E4s_v5",
        4,
        32,
        1024,
        0.277,
        0.30,
        0.08,
        0.003,
        0.60,
        0.86,
        0.022,
        1,
    ),
    _r(
        "ci-1",
        "ci",
        AZ,
        "sub-7f3e",
        "westeurope",
        "Standard_D8s_v5",
        8,
        32,
        256,
        0.432,
        0.08,
        0.01,
        0.000,
        0.20,
        0.35,
        0.001,
        1,
    ),
    _r(
        "ci-2",
        "ci",
        AZ,
        "sub-7f3e",
        "westeurope",
        "Standard_D8s_v5",
        8,
        32,
        256,
        0.432,
        0.07,
        0.01,
        0.000,
        0.19,
        0.34,
        0.001,
        1,
    ),
    _r(
        "bastion-1",
        "ops",
        AWS,
        "222222222222",
        "eu-west-1",
        "t3.small",
        2,
        2,
        20,
        0.023,
        0.03,
        0.01,
        0.000,
        0.30,
        0.40,
        0.000,
        1,
    ),
)
"""20 resources; ``logs-1``'s disk fills up about six days after the anchor, ``ci-*`` are idle
(rightsizing material), ``batch-*`` run at night (negative daily amplitude)."""

# Managed services billed by usage, not by instance: (provider, account, service, region, $/h).
MANAGED: tuple[tuple[str, str, str, str, float], ...] = (
    (AWS, "111111111111", "Amazon Simple Storage Service", "us-east-1", 1.85),
    (AWS, "111111111111", "AWS Data Transfer", "us-east-1", 0.92),
    (AWS, "222222222222", "Amazon CloudWatch", "eu-west-1", 0.31),
    (GCP, "billing-0A1B2C", "Cloud Storage", "europe-west1", 0.74),
    (GCP, "billing-0A1B2C", "BigQuery", "us-central1", 1.12),
    (AZ, "sub-7f3e", "Azure Monitor", "westeurope", 0.22),
)
SERVICE_NAMES = {AWS: "Amazon Elastic Compute Cloud", GCP: "Compute Engine", AZ: "Virtual Machines"}
# Effective cost after committed-use discounts, as a fraction of the list price.
EFFECTIVE_FACTOR = {AWS: 0.72, GCP: 0.80, AZ: 0.85}
SPOT_FACTOR = 0.35


def _hash_uniform(seed: int, index: np.ndarray, salt: int) -> np.ndarray:
    """Counter-based uniform numbers in [0, 1): the same (seed, index, salt) always gives the
    same number, so any instant can be recomputed without replaying a random stream."""
    x = index.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(
        seed * 1_000_003 + salt * 7919
    )
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) / float(2**53)


def _noise(seed: int, t: np.ndarray, salt: int, period: float = 60.0) -> np.ndarray:
    """Standard normal noise, constant within each ``period`` (Box-Muller on hashed uniforms)."""
    idx = np.floor(t / period).astype(np.int64)
    u1 = np.maximum(_hash_uniform(seed, idx, salt), 1e-12)
    u2 = _hash_uniform(seed, idx, salt + 1)
    return np.sqrt(-2 * np.log(u1)) * np.cos(2 * np.pi * u2)


def _daily(t: np.ndarray, utc_offset_h: int) -> np.ndarray:
    """Business-hours shape in [-0.5, 0.5]: peak mid-afternoon local time, trough at night."""
    local_h = ((t / HOUR) + utc_offset_h) % 24
    return 0.5 * np.cos(2 * np.pi * (local_h - 15) / 24)


def _weekly(t: np.ndarray, utc_offset_h: int) -> np.ndarray:
    """1 on weekdays, 0.7 on Saturday and Sunday (1970-01-01 was a Thursday)."""
    local_day = np.floor((t / HOUR + utc_offset_h) / 24).astype(np.int64)
    weekday = (local_day + 3) % 7  # 0 = Monday
    return np.where(weekday >= 5, 0.7, 1.0)


def _spikes(seed: int, t: np.ndarray, salt: int) -> np.ndarray:
    """Occasional 15-minute bursts: about one hour in sixty has one, at a random minute."""
    hour = np.floor(t / HOUR).astype(np.int64)
    has = _hash_uniform(seed, hour, salt) < 1 / 60
    start = _hash_uniform(seed, hour, salt + 1) * 45 * 60
    into = t - hour * HOUR
    return np.where(has & (into >= start) & (into < start + 15 * 60), 1.0, 0.0)


def cpu_utilization(r: Resource, t: np.ndarray, anchor: float) -> np.ndarray:
    days = (t - anchor) / DAY
    level = r.cpu_base * (1 + r.cpu_growth * days)
    value = (level + r.cpu_daily * _daily(t, r.utc_offset_h)) * _weekly(t, r.utc_offset_h)
    value += 0.02 * _noise(r.seed, t, 1) + 0.15 * _spikes(r.seed, t, 3)
    return np.clip(value, 0.005, 1.0)


def memory_utilization(r: Resource, t: np.ndarray, anchor: float) -> np.ndarray:
    days = (t - anchor) / DAY
    value = r.mem_base * (1 + 0.5 * r.cpu_growth * days) + 0.04 * _daily(t, r.utc_offset_h)
    value += 0.01 * _noise(r.seed, t, 5, period=300.0)
    return np.clip(value, 0.01, 0.99)


def disk_used_bytes(r: Resource, t: np.ndarray, anchor: float) -> np.ndarray:
    """Steady growth plus a daily log-rotation sawtooth (written all day, trimmed at 02:00)."""
    days = (t - anchor) / DAY
    local_h = ((t / HOUR) + r.utc_offset_h + 22) % 24  # hours since 02:00 local
    saw = r.disk_per_day * 0.3 * (local_h / 24 - 0.5)
    frac = r.disk_at_anchor + r.disk_per_day * days + saw + 0.0005 * _noise(r.seed, t, 7, 300.0)
    return np.round(np.clip(frac, 0.01, 1.0) * r.disk_gib * GIB)


def instance_cost_per_hour(r: Resource, t: np.ndarray) -> np.ndarray:
    """List price per hour while the instance runs (batch instances stop on some nights)."""
    off = (r.workload == "batch") & (
        _hash_uniform(r.seed, np.floor(t / DAY).astype(np.int64), 11) < 0.1
    )
    return np.where(off, 0.0, r.price_per_hour)


def managed_cost_per_hour(seed: int, base: float, t: np.ndarray, anchor: float) -> np.ndarray:
    """Usage-billed services follow traffic: a daily cycle, slow growth and some noise."""
    days = (t - anchor) / DAY
    hourly = np.floor(t / HOUR) * HOUR
    value = base * (1 + 0.004 * days) * (1 + 0.5 * _daily(hourly, 0)) * _weekly(hourly, 0)
    return np.maximum(value * (1 + 0.05 * _noise(seed, hourly, 13, HOUR)), 0.0)
