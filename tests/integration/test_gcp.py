"""The gcp provider against hand-built Cloud Monitoring cassettes (tests/cassettes/gcp/, written
by build_cassettes.py from the documented timeSeries.list response shapes), played with
record_mode="none": every request must be in the cassette, with the same query parameters."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
import vcr
from google.auth.credentials import AnonymousCredentials

from promcast_exporter.cli import build_providers
from promcast_exporter.config import ExporterConfig
from promcast_common.collector import SnapshotCollector
from promcast_common.config import ConfigError, validate
from promcast_common.openmetrics import write_openmetrics
from promcast_exporter.providers.gcp.monitoring import session_for
from promcast_exporter.providers.gcp.provider import GcpBillingProvider, GcpMonitoringProvider
from promcast_exporter.providers.gcp.series import QUERIES, Assembler, is_disk, region_of
from tests.cassettes.gcp.build_cassettes import (
    ALL_FILTERS,
    DEV_DISKS,
    DEV_MEMORY_PERCENT,
    GIB,
    HISTORY,
    HISTORY_DISK_SIZE,
    HISTORY_DISK_STEP,
    HISTORY_DISK_USED,
    NOW_1,
    NOW_2,
    PAGE_SIZE,
    WEB_DISK_GROWTH,
    WEB_DISKS,
    WEB_MEMORY_PERCENT,
)
from tests.helpers.billing import HEADER, focus_row, ledger_totals
from tests.helpers.metrics import exposition, parse_om, refreshed, samples, value
from tests.helpers.processes import load_into_tsdb, promtool_check

CASSETTES = Path(__file__).resolve().parents[1] / "cassettes" / "gcp"
PLAYER = vcr.VCR(
    cassette_library_dir=str(CASSETTES),
    record_mode="none",
    match_on=("method", "scheme", "host", "port", "path", "query"),
)
ALL_GROUPS = ("compute", "guest", "gke_nodes", "gke_containers")
USED, SIZE = "promcast_resource_disk_used_bytes", "promcast_resource_disk_size_bytes"
CPU, MEM = "promcast_resource_cpu_utilization_ratio", "promcast_resource_memory_utilization_ratio"


def provider(projects, groups=ALL_GROUPS):
    """A provider on anonymous credentials whose session remembers every URL it requested."""
    session = session_for(AnonymousCredentials())
    sent: list[str] = []
    session.hooks["response"].append(lambda resp, *a, **k: sent.append(resp.request.url))
    p = GcpMonitoringProvider(
        300, projects, step=300, lookback=900, groups=groups, page_size=PAGE_SIZE, session=session
    )
    return p, sent


def params(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def exposition_at(p, now, collector=None) -> str:
    """/metrics after a refresh of ``p`` at ``now`` (through ``collector``, to keep its state)."""
    return exposition(refreshed(p, at=(now,), collector=collector))


def test_refresh_reads_every_project_pages_and_maps_onto_the_catalogue(caplog):
    p, sent = provider(["shop-prod", "shop-dev"])
    with PLAYER.use_cassette("refresh.yaml") as cassette:
        collector = SnapshotCollector([p])
        text = exposition_at(p, NOW_1, collector)
        first = list(sent)
        # The requests: one per metric and project, the interval ending at the newest complete
        # 5-minute period, ALIGN_MEAN over the step, and the page token of the page before.
        assert len(first) == 14 + 12
        q = params(first[0])
        assert urlsplit(first[0]).path == "/v3/projects/shop-prod/timeSeries"
        assert q == {
            "filter": ALL_FILTERS[0],
            "interval.startTime": "2026-11-23T11:50:00Z",
            "interval.endTime": "2026-11-23T12:05:00Z",
            "aggregation.alignmentPeriod": "300s",
            "aggregation.perSeriesAligner": "ALIGN_MEAN",
            "view": "FULL",
            "pageSize": "1000",
        }
        assert params(first[1]) == {**q, "pageToken": "page-2"}
        assert [params(u)["filter"] for u in first[:14]] == (
            ALL_FILTERS[:1] + ALL_FILTERS[:5] + ALL_FILTERS[4:]
        )  # CPU and agent disk: two pages
        assert params(first[6])["pageToken"] == "disk-2"
        assert [u for u in first[:14] if "pageToken" in params(u)] == [first[1], first[6]]

        web = {
            "provider": "gcp",
            "account": "shop-prod",
            "region": "europe-west1",
            "workload": "checkout",
            "resource_id": "web-1",
        }
        batch = {**web, "region": "us-central1", "workload": "", "resource_id": "batch-1"}
        cpu, mem = CPU, MEM
        assert value(text, cpu, **web) == pytest.approx(0.40)
        assert value(text, cpu, **batch) == pytest.approx(
            0.80
        )  # its newest point lags: the one before
        assert value(text, "promcast_resource_vcpus", **web) == 4
        # Memory in use: the Ops Agent's percent_used{state="used"} as a ratio where the VM runs
        # the agent (the guest's own view wins over the balloon estimate of 0.60), else ram_used /
        # ram_size; the ram_size series carry neither the instance name nor metadata, so they are
        # joined to the others by instance id.
        assert value(text, mem, **web) == pytest.approx(WEB_MEMORY_PERCENT[-1] / 100)
        assert value(text, mem, **batch) == pytest.approx(0.5)
        assert value(text, "promcast_resource_memory_bytes", **batch) == 8 * GIB
        assert value(text, "promcast_resource_memory_bytes", **web) == 16 * GIB
        # Guest file systems (Ops Agent): used bytes and size (used + free + reserved) per device;
        # the snap's squashfs loop device is left out. batch-1 has no agent: CPU, no disk.
        for device in ("/dev/sda1", "/dev/sdb"):
            used, free, reserved = WEB_DISKS[device]
            assert value(text, USED, **web, device=device) == used
            assert value(text, SIZE, **web, device=device) == used + free + reserved
        assert value(text, SIZE, **web, device="/dev/sda1") == 10 * GIB
        for name in (USED, SIZE):
            assert {
                s.labels["device"]
                for s in samples(text, name)
                if s.labels["resource_id"] == "web-1"
            } == {"/dev/sda1", "/dev/sdb"}
            assert not [s for s in samples(text, name) if s.labels["resource_id"] == "batch-1"]
        # The machine type from the series' metadata, for rightsizing.
        assert (
            value(
                text, "promcast_resource_info", **batch, instance_type="n2-highcpu-8", lifecycle=""
            )
            == 1
        )
        assert (
            value(
                text, "promcast_resource_info", **web, instance_type="e2-standard-4", lifecycle=""
            )
            == 1
        )
        node = {
            "provider": "gcp",
            "account": "shop-prod",
            "region": "europe-west1",
            "workload": "shop",
            "resource_id": "gke-shop-pool-1-abcd",
        }
        assert value(text, cpu, **node) == pytest.approx(0.7)
        assert value(text, mem, **node) == pytest.approx(0.3)
        assert value(text, "promcast_resource_disk_used_bytes", **node, device="ephemeral") == 20e9
        assert value(text, "promcast_resource_disk_size_bytes", **node, device="ephemeral") == 100e9
        container = {**node, "resource_id": "cart/cart-7d9f-x2/app"}
        assert value(text, cpu, **container) == pytest.approx(0.15)
        assert value(text, mem, **container) == pytest.approx(0.75)
        dev = {
            "provider": "gcp",
            "account": "shop-dev",
            "region": "europe-west4",
            "workload": "sandbox",
            "resource_id": "dev-1",
        }
        assert value(text, cpu, **dev) == pytest.approx(0.05)
        # dev-1 runs the legacy Monitoring agent: devices without /dev, tmpfs and udev left out;
        # memory from the agent alone (no balloon series).
        used, free, reserved = DEV_DISKS["sda1"]
        assert value(text, USED, **dev, device="sda1") == used
        assert value(text, SIZE, **dev, device="sda1") == used + free + reserved
        assert {
            s.labels["device"] for s in samples(text, USED) if s.labels["resource_id"] == "dev-1"
        } == {"sda1"}
        assert value(text, mem, **dev) == pytest.approx(DEV_MEMORY_PERCENT / 100)
        assert not [
            s
            for s in samples(text, "promcast_resource_memory_bytes")
            if s.labels["resource_id"] == "dev-1"
        ]
        assert (
            value(
                text,
                "promcast_exporter_api_calls_total",
                provider="gcp",
                api="monitoring.timeSeries.list",
            )
            == 26
        )
        promtool_check(text)

        # Second refresh: shop-dev refuses access. Its last good series stay, marked by its
        # part's success gauge (as every provider's parts); shop-prod is updated; the refresh
        # as a whole counts as failed while a part is.
        caplog.set_level(logging.ERROR)
        text = exposition_at(p, NOW_2, collector)
        assert len(sent) == 26 + 14 + 1
        assert value(text, cpu, **web) == pytest.approx(0.45)
        assert value(text, mem, **web) == pytest.approx(WEB_MEMORY_PERCENT[-1] / 100 + 0.05)
        used, free, reserved = WEB_DISKS["/dev/sdb"]
        assert value(text, USED, **web, device="/dev/sdb") == used + WEB_DISK_GROWTH
        assert value(text, SIZE, **web, device="/dev/sdb") == used + free + reserved
        assert value(text, cpu, **dev) == pytest.approx(0.05)
        assert value(text, USED, **dev, device="sda1") == DEV_DISKS["sda1"][0]
        assert (
            value(
                text,
                "promcast_exporter_part_refresh_success",
                part="monitoring",
                account="shop-dev",
            )
            == 0
        )
        assert (
            value(
                text,
                "promcast_exporter_part_refresh_success",
                part="monitoring",
                account="shop-prod",
            )
            == 1
        )
        assert value(
            text, "promcast_exporter_part_last_success_timestamp_seconds", account="shop-dev"
        ) < value(
            text, "promcast_exporter_part_last_success_timestamp_seconds", account="shop-prod"
        )
        assert value(text, "promcast_exporter_refresh_success", provider="gcp") == 0
        err = next(r for r in caplog.records if getattr(r, "project", None) == "shop-dev")
        assert "HTTP 403 PERMISSION_DENIED" in err.err and "promcast-viewer-role.yaml" in err.err
        promtool_check(text)
        assert cassette.all_played


def test_guest_group_switched_off_sends_no_agent_request():
    p, sent = provider(["shop-prod"], groups=("compute", "gke_nodes", "gke_containers"))
    with PLAYER.use_cassette("refresh.yaml") as cassette:
        text = exposition_at(p, NOW_1)
        unplayed = [
            req.uri for i, (req, _) in enumerate(cassette.data) if not cassette.play_counts[i]
        ]
    assert len(sent) == 11
    assert not [u for u in sent if "agent.googleapis.com" in params(u)["filter"]]
    # Of shop-prod's requests at NOW_1, exactly the agent ones (disk in two pages, memory) were
    # left in the cassette.
    prod_now_1 = [
        u
        for u in unplayed
        if "/projects/shop-prod/" in u and params(u)["interval.endTime"] == "2026-11-23T12:05:00Z"
    ]
    assert sorted(params(u)["filter"] for u in prod_now_1) == sorted(
        [ALL_FILTERS[4], ALL_FILTERS[4], ALL_FILTERS[5]]
    )
    web = {"account": "shop-prod", "resource_id": "web-1"}
    assert value(text, MEM, **web) == pytest.approx(0.60)  # the balloon estimate again
    assert {s.labels["device"] for s in samples(text, USED)} == {"ephemeral"}  # GKE node only
    promtool_check(text)


def test_every_project_failing_fails_the_refresh():
    p, sent = provider(["shop-dev"])
    with PLAYER.use_cassette("refresh.yaml"):
        text = exposition_at(p, NOW_2)
    assert len(sent) == 1
    assert value(text, "promcast_exporter_refresh_success", provider="gcp") == 0
    assert not samples(text, "promcast_resource_cpu_utilization_ratio")


def test_a_request_not_in_the_cassette_fails_that_project(caplog):
    p, _ = provider(["shop-prod", "not-recorded"])
    caplog.set_level(logging.ERROR)
    with PLAYER.use_cassette("refresh.yaml"):
        text = exposition_at(p, NOW_1)
    assert (
        value(
            text,
            "promcast_exporter_part_refresh_success",
            part="monitoring",
            account="not-recorded",
        )
        == 0
    )
    assert (
        value(
            text, "promcast_exporter_part_refresh_success", part="monitoring", account="shop-prod"
        )
        == 1
    )
    assert any(getattr(r, "project", None) == "not-recorded" for r in caplog.records)


def test_history_merges_a_series_split_over_pages_onto_the_step_grid(tmp_path):
    start, end, step = HISTORY
    p, sent = provider(["shop-prod"], groups=("compute", "guest"))
    with PLAYER.use_cassette("history.yaml") as cassette:
        found = list(p.history(start, end, step))
        assert cassette.all_played
    assert len(sent) == 7 and params(sent[1])["pageToken"] == "h-2"
    assert params(sent[0])["aggregation.alignmentPeriod"] == "600s"
    assert params(sent[0])["interval.startTime"] == "2026-11-23T09:50:00Z"
    assert params(sent[0])["interval.endTime"] == "2026-11-23T11:00:00Z"
    by_name = {name: (labels, t, v) for name, labels, t, v in found}
    assert len(by_name) == len(found) == 4
    labels, t, v = by_name["promcast_resource_cpu_utilization_ratio"]
    assert labels == {
        "provider": "gcp",
        "account": "shop-prod",
        "region": "europe-west1",
        "workload": "checkout",
        "resource_id": "web-1",
    }
    assert list(t) == [start + i * step for i in range(7)]
    np.testing.assert_allclose(v, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    info_labels, _, present = by_name["promcast_resource_info"]
    assert list(present) == [1.0] * 7
    assert info_labels == {**labels, "instance_type": "e2-standard-4", "lifecycle": ""}
    # The guest disk backfills like the rest: the file system filling up, its size constant.
    disk = {**labels, "device": "/dev/sda1"}
    used_labels, _, used = by_name[USED]
    size_labels, _, size = by_name[SIZE]
    assert used_labels == size_labels == disk
    np.testing.assert_allclose(used, [HISTORY_DISK_USED + i * HISTORY_DISK_STEP for i in range(7)])
    np.testing.assert_allclose(size, [HISTORY_DISK_SIZE] * 7)
    out = tmp_path / "h.om"
    with open(out, "w", encoding="utf-8") as f:
        write_openmetrics(found, f)
    load_into_tsdb(out, tmp_path)


def test_guest_devices_that_are_not_disks_are_left_out():
    # Ops Agent 2.x: the device's path; legacy agent: without /dev; Windows: the drive.
    for device in ("/dev/sda1", "/dev/nvme0n1p1", "/dev/mapper/vg00-lv_root", "sda1", "C:"):
        assert is_disk(device), device
    # Snap packages' squashfs loop devices, RAM disks, and the virtual file systems the legacy
    # agent reports by name.
    for device in (
        "/dev/loop0",
        "loop12",
        "/dev/ram0",
        "tmpfs",
        "udev",
        "devtmpfs",
        "none",
        "overlay",
        "",
    ):
        assert not is_disk(device), device


def test_guest_disk_size_needs_the_free_state_and_reserved_counts_zero_when_absent():
    """Without a reserved series the size is used + free. A device whose free series is missing
    gets no size (it would look full), only its used bytes."""
    grid = np.array([0.0, 60.0])
    a = Assembler("p", grid, 60, "workload")
    disk = next(q for q in QUERIES if q.key == "disk")
    res = {"type": "gce_instance", "labels": {"instance_id": "9", "zone": "europe-west1-b"}}

    def pt(v: float) -> list[dict]:  # at 0s and 60s, newest first
        return [
            {"interval": {"endTime": f"1970-01-01T00:0{i}:00Z"}, "value": {"doubleValue": v}}
            for i in (1, 0)
        ]

    for device, state, v in (("C:", "used", 30.0), ("C:", "free", 70.0), ("D:", "used", 5.0)):
        a.add(
            disk,
            {
                "metric": {"labels": {"device": device, "state": state}},
                "resource": res,
                "points": pt(v),
            },
        )
    out = {
        (name, labels["device"]): list(values)
        for name, labels, values in a.series()
        if name in (USED, SIZE)
    }
    assert out == {
        (USED, "C:"): [30.0, 30.0],
        (SIZE, "C:"): [100.0, 100.0],
        (USED, "D:"): [5.0, 5.0],
    }


def test_region_of_zone_and_region():
    assert region_of("europe-west1-b") == "europe-west1"
    assert region_of("northamerica-northeast1-a") == "northamerica-northeast1"
    assert region_of("europe-west1") == "europe-west1"
    assert region_of("") == ""


def test_spend_is_the_focus_provider_under_the_gcp_billing_name(tmp_path):
    (tmp_path / "gcp.csv").write_text(
        HEADER
        + "\n"
        + focus_row()
        + "\n"
        + focus_row(billed="0.75", service="Cloud Storage")
        + "\n"
    )
    cfg = validate(
        ExporterConfig,
        {
            "providers": {
                "demo": {"enabled": False},
                "gcp": {
                    "enabled": True,
                    "projects": ["shop-prod"],
                    "metrics": ["compute"],
                    "billing": {"enabled": True, "paths": [str(tmp_path)]},
                },
            }
        },
    )
    monitoring, billing = build_providers(cfg)
    assert isinstance(monitoring, GcpMonitoringProvider) and monitoring.refresh_interval == 300
    assert isinstance(billing, GcpBillingProvider) and billing.refresh_interval == 3600
    assert ledger_totals(billing)["billed"] == Decimal("2.00")
    text = exposition(refreshed(billing))
    mtd = samples(text, "promcast_cost_billing_period_usd")
    assert {(s.labels["source"], s.labels["provider"]) for s in mtd} == {("gcp-billing", "gcp")}
    assert value(text, "promcast_exporter_refresh_success", provider="gcp-billing") == 1
    promtool_check(text)


def test_config_errors_name_their_keys():
    with pytest.raises(ConfigError) as err:
        validate(
            ExporterConfig,
            {
                "providers": {
                    "gcp": {
                        "enabled": True,
                        "projects": ["Shop Prod", "shop-prod", "shop-prod"],
                        "step": "30s",
                        "metrics": ["gke"],
                        "refresh_interval": "often",
                        "credentials": "/tmp/key.json",
                    }
                }
            },
        )
    text = str(err.value)
    for expected in (
        "providers.gcp.projects: not a project id: 'Shop Prod'",
        "providers.gcp.step: Input should be greater than or equal to 60",
        "providers.gcp.metrics[0]",
        "providers.gcp.refresh_interval: not a duration",
        "providers.gcp.credentials: unknown key",
    ):
        assert expected in text, text
    with pytest.raises(ConfigError, match="providers.gcp: projects: at least one project id"):
        validate(ExporterConfig, {"providers": {"gcp": {"enabled": True}}})
    with pytest.raises(ConfigError, match="providers.gcp.projects: project listed more than once"):
        validate(ExporterConfig, {"providers": {"gcp": {"projects": ["shop-prod", "shop-prod"]}}})
    cfg = validate(
        ExporterConfig, {"providers": {"gcp": {"enabled": True, "projects": ["shop-prod"]}}}
    )
    g = cfg.providers.gcp
    assert (g.refresh_interval, g.step, g.lookback, g.metrics) == (
        300,
        300,
        900,
        ["compute", "guest", "gke_nodes"],
    )
    assert GcpMonitoringProvider(300, ["shop-prod"]).queries == [
        q for q in QUERIES if q.group in ("compute", "guest", "gke_nodes")
    ]


def test_credentials_come_from_the_default_chain_and_are_never_logged(
    tmp_path, monkeypatch, caplog
):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    sa = {
        "type": "service_account",
        "project_id": "shop-prod",
        "private_key_id": "k-123",
        "private_key": key,
        "client_email": "promcast@shop-prod.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(sa))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    p = GcpMonitoringProvider(300, ["shop-prod"], groups=("compute",))
    caplog.set_level(logging.DEBUG)
    with PLAYER.use_cassette("history.yaml"):  # holds no token exchange: the refresh must fail
        text = exposition_at(p, NOW_1)
    assert value(text, "promcast_exporter_refresh_success", provider="gcp") == 0
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "shop-prod" in logged
    body = "".join(key.splitlines()[1:-1])
    assert body[:40] not in logged and "PRIVATE KEY" not in logged


def test_the_role_file_grants_exactly_the_permissions_used():
    import yaml

    from promcast_exporter.providers.gcp.monitoring import API

    role = yaml.safe_load(
        (
            Path(__file__).resolve().parents[2] / "deploy" / "gcp" / "promcast-viewer-role.yaml"
        ).read_text()
    )
    # The api labels counted are the IAM permissions each call needs (see exporter/providers/gcp/billing_store.py).
    assert set(role["includedPermissions"]) == {API, "storage.objects.list", "storage.objects.get"}
    assert role["stage"] == "GA" and role["title"]


def test_backfill_command_writes_the_history_promtool_loads(tmp_path, monkeypatch):
    from promcast_exporter import cli
    from promcast_exporter.providers.gcp import provider as gcp_provider

    # The command finds credentials through ADC; here they are anonymous, the API the cassette.
    monkeypatch.setattr(
        gcp_provider, "default_session", lambda timeout: session_for(AnonymousCredentials())
    )
    config = tmp_path / "exporter.yml"
    config.write_text(
        json.dumps(
            {
                "providers": {
                    "demo": {"enabled": False},
                    "gcp": {
                        "enabled": True,
                        "projects": ["shop-prod"],
                        "metrics": ["compute", "guest"],
                        "page_size": PAGE_SIZE,
                    },
                }
            }
        )
    )
    out = tmp_path / "gcp.om"
    start = HISTORY[0]
    with PLAYER.use_cassette("history.yaml") as cassette:
        code = cli.main(
            [
                "--config.file",
                str(config),
                "--log.level",
                "warn",
                "backfill",
                "--since",
                "2026-11-23T10:00:00Z",
                "--until",
                "2026-11-23T11:00:00Z",
                "--step",
                "10m",
                "--out",
                str(out),
                "--label",
                "job=promcast-exporter",
            ]
        )
        assert cassette.all_played
    assert code == 0
    rows = [
        r for r in parse_om(out.read_text()) if r[0] == "promcast_resource_cpu_utilization_ratio"
    ]
    assert [(r[2], r[3]) for r in rows] == [
        (round(0.1 * (i + 1), 2), int(start) + 600 * i) for i in range(7)
    ]
    assert rows[0][1]["job"] == "promcast-exporter" and rows[0][1]["resource_id"] == "web-1"
    # The guest disk series backfill too, with the device label.
    for name, expected in (
        (USED, [HISTORY_DISK_USED + i * HISTORY_DISK_STEP for i in range(7)]),
        (SIZE, [HISTORY_DISK_SIZE] * 7),
    ):
        rows = [r for r in parse_om(out.read_text()) if r[0] == name]
        assert [r[3] for r in rows] == [int(start) + 600 * i for i in range(7)]
        assert [r[2] for r in rows] == pytest.approx(expected, rel=1e-6)  # 7 digits written
        assert {(r[1]["resource_id"], r[1]["device"], r[1]["job"]) for r in rows} == {
            ("web-1", "/dev/sda1", "promcast-exporter")
        }
    load_into_tsdb(out, tmp_path)


def test_documented_examples_are_valid_configs():
    import re

    import yaml

    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()

    def blocks_of(heading: str) -> list[str]:
        start = doc.index(heading)
        end = start + len(heading) + re.search(r"\n#{2,4} ", doc[start + len(heading) :]).start()
        return re.findall(r"```yaml\n(.*?)```", doc[start:end], re.S)

    (gcp_block,), (azure_block,) = blocks_of("\n### GCP\n"), blocks_of("\n### Azure\n")
    gcp, azure = (
        validate(ExporterConfig, yaml.safe_load(b)).providers for b in (gcp_block, azure_block)
    )
    assert gcp.gcp.enabled and gcp.gcp.billing.enabled and azure.azure.enabled
