"""The demo fleet: deterministic, realistic, one disk filling up; expositions promtool accepts."""

import subprocess
import sys
import time

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from promcast_common.collector import SnapshotCollector
from promcast_exporter.providers.demo import fleet
from promcast_exporter.providers.demo.provider import DemoProvider, samples
from tests.helpers import metrics
from tests.helpers.anchors import ANCHORS
from tests.helpers.metrics import exposition, value
from tests.helpers.processes import need

ANCHOR = 1_790_000_000.0  # a fixed instant: the fleet is a pure function of it
# The calendar-sensitive properties hold whatever the date: checked at every fixed anchor, plus
# one that is not midnight.
EVERY_ANCHOR = pytest.mark.parametrize(
    "anchor", [ANCHOR, *ANCHORS.values()], ids=["mid-day", *ANCHORS]
)


def series(name: str, resource: str, t: np.ndarray, anchor: float = ANCHOR) -> np.ndarray:
    for n, lab, v in samples(anchor, t):
        if n == name and lab.get("resource_id") == resource:
            return v
    raise KeyError((name, resource))


def test_deterministic_and_live_matches_history():
    t = ANCHOR + np.arange(0, 3600, 60.0)
    first = [v.copy() for _, _, v in samples(ANCHOR, t)]
    again = [v for _, _, v in samples(ANCHOR, t)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    # One instant evaluated alone equals the same instant inside a batch (live == backfill).
    single = [v[0] for _, _, v in samples(ANCHOR, t[7:8])]
    assert np.allclose(single, [v[7] for v in first])


def test_about_twenty_resources_with_sizes_and_prices():
    assert 18 <= len(fleet.FLEET) <= 25
    assert len({r.resource_id for r in fleet.FLEET}) == len(fleet.FLEET)
    assert {r.provider for r in fleet.FLEET} == {"aws", "gcp", "azure"}


@EVERY_ANCHOR
def test_one_disk_fills_within_ten_days_the_others_do_not(anchor):
    t = anchor + np.arange(0, 10 * 86400, 3600.0)
    full_soon = []
    for r in fleet.FLEET:
        used = series("promcast_resource_disk_used_bytes", r.resource_id, t, anchor)
        if (used >= 0.99 * r.disk_gib * fleet.GIB).any():
            full_soon.append(r.resource_id)
    assert full_soon == ["logs-1"]


@EVERY_ANCHOR
def test_cpu_has_daily_and_weekly_seasonality_noise_and_spikes(anchor):
    t = anchor + np.arange(0, 14 * 86400, 300.0)
    cpu = series("promcast_resource_cpu_utilization_ratio", "api-1", t, anchor)
    assert ((cpu >= 0) & (cpu <= 1)).all()
    daily = cpu.reshape(14, 288)
    profile = daily.mean(axis=0)
    offset_h = next(r.utc_offset_h for r in fleet.FLEET if r.resource_id == "api-1")
    assert profile.max() - profile.min() > 0.15  # a clear daily cycle
    lag_day = np.corrcoef(cpu[:-288], cpu[288:])[0, 1]
    lag_half = np.corrcoef(cpu[:-144], cpu[144:])[0, 1]
    assert lag_day > 0.5 > lag_half  # peaks repeat a day later
    # Weekends where its users are (1970-01-01, local day 0, was a Thursday).
    weekday = ((t + offset_h * 3600) // 86400 + 3) % 7
    assert cpu[weekday >= 5].mean() < 0.85 * cpu[weekday < 5].mean()  # quieter weekends
    residual = cpu - np.tile(profile, 14)
    assert np.std(residual) > 0.01  # noise
    # A few spikes in four weeks (about one hour in sixty has one: some weeks have few).
    t4 = anchor + np.arange(0, 28 * 86400, 300.0)
    cpu4 = series("promcast_resource_cpu_utilization_ratio", "api-1", t4, anchor)
    assert (cpu4 - np.tile(cpu4.reshape(28, 288).mean(axis=0), 28) > 0.1).sum() >= 3


@EVERY_ANCHOR
def test_month_to_date_accumulates_the_hourly_rate_and_resets_monthly(anchor):
    t = np.arange(anchor - 40 * 86400, anchor, 3600.0)
    per = {}
    for n, lab, v in samples(anchor, t):
        if (
            lab.get("cost_type") == "billed"
            and lab["service"] == "Amazon Elastic Compute Cloud"
            and lab["region"] == "us-east-1"
        ):
            per[n] = v
    rate, mtd = per["promcast_cost_hourly_rate_usd"], per["promcast_cost_month_to_date_usd"]
    steps = np.diff(mtd)
    resets = np.flatnonzero(steps < 0)
    # Month of the newest complete hour at each sample: it changes exactly where mtd resets.
    month = (t - 3600).astype("datetime64[s]").astype("datetime64[M]")
    assert np.array_equal(resets, np.flatnonzero(month[1:] != month[:-1]))
    assert 1 <= len(resets) <= 2  # 40 days hold one or two month starts
    keep = np.ones(len(steps), dtype=bool)
    keep[resets] = False
    assert np.allclose(steps[keep], rate[1:][keep])


@EVERY_ANCHOR
def test_every_cloud_spends_every_hour(anchor):
    """Managed services never stop: whatever the day, no provider's hourly spend reaches zero
    (commitment recommendations stand on that floor)."""
    t = np.arange(anchor - 28 * 86400, anchor, 3600.0)
    spend: dict[str, np.ndarray] = {}
    for n, lab, v in samples(anchor, t):
        if n == "promcast_cost_hourly_rate_usd" and lab["cost_type"] == "list":
            spend[lab["provider"]] = spend.get(lab["provider"], 0) + v
    assert set(spend) == {"aws", "gcp", "azure"}
    assert all(v.min() > 0.5 for v in spend.values())


def demo_exposition() -> str:
    provider = DemoProvider(15, ANCHORS["wednesday"])
    collector = SnapshotCollector([provider])
    assert collector.refresh_one(provider)
    return exposition(collector)


def test_exposition_passes_promtool_check_metrics():
    need("promtool")
    text = demo_exposition()
    assert value(text, "promcast_exporter_refresh_success", provider="demo") == 1.0
    out = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_failed_refresh_keeps_the_last_snapshot():
    provider = DemoProvider(15, ANCHORS["wednesday"])
    collector = SnapshotCollector([provider])
    assert collector.refresh_one(provider)
    provider.refresh = lambda now: 1 / 0  # type: ignore[method-assign]
    assert not collector.refresh_one(provider)
    reg = CollectorRegistry()
    reg.register(collector)
    text = generate_latest(reg).decode()
    assert metrics.samples(text, "promcast_resource_cpu_utilization_ratio")
    assert value(text, "promcast_exporter_refresh_success", provider="demo") == 0.0
    assert value(text, "promcast_exporter_refresh_errors_total", provider="demo") == 1.0


def test_backfill_is_past_only_and_loads_into_a_tsdb(tmp_path):
    need("promtool")
    out = tmp_path / "h.om"
    started = time.time()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "promcast_exporter",
            "--log.level",
            "warn",
            "backfill",
            "--days",
            "0.5",
            "--out",
            str(out),
            "--label",
            "job=promcast-exporter",
        ],
        check=True,
    )
    text = out.read_text()
    assert text.endswith("# EOF\n")
    stamps = [int(line.rsplit(" ", 1)[1]) for line in text.splitlines() if not line.startswith("#")]
    assert max(stamps) < started and min(stamps) >= started - 0.5 * 86400 - 600
    assert 'job="promcast-exporter"' in text
    res = subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", str(out), str(tmp_path / "data")],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("bad", ["job", "=x", "1a=b"])
def test_backfill_rejects_bad_labels(bad, tmp_path):
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "promcast_exporter",
            "backfill",
            "--out",
            str(tmp_path / "x"),
            "--label",
            bad,
        ],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2 and "NAME=VALUE" in res.stderr
