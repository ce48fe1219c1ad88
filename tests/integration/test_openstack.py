"""The openstack provider against a local fake of Keystone, Nova and Placement that serves
recorded responses of the documented shapes (tests/fixtures/openstack/): both capacity paths
(os-hypervisors before microversion 2.88, Placement), project quotas, a failing region and a
failing cloud that leave the others served, call counts, and an exposition promtool accepts."""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from demo.stack import free_port
from promcast_exporter.config import ExporterConfig
from promcast_common.config import ConfigError, validate
from promcast_exporter.providers.openstack.api import OpenStackError
from promcast_exporter.providers.openstack.provider import OpenStackProvider
from promcast_exporter.providers.openstack.regions import CloudSpec
from tests.helpers.metrics import exposition, refreshed, samples
from tests.helpers.processes import promtool_check

FIXTURES = Path(__file__).parents[1] / "fixtures" / "openstack"
PASSWORD = "os-Pa55-w0rd"
GIB, MIB = 1024**3, 1024**2
RP_NODE = "5e2f0c4a-0b7e-4a4c-9f43-3c5a3b1d2e01"
RP_PCI = "9b1d7f3e-7c55-4f0e-8a7e-0d6c1b2a3f04"
ROUTES = {
    "/identity/v3": "identity_version.json",
    "/identity/v3/projects": "projects.json",
    "/old/compute/v2.1": "compute_versions_old.json",
    "/new/compute/v2.1": "compute_versions_new.json",
    "/new/placement": "placement_root.json",
    "/new/placement/resource_providers": "resource_providers.json",
    f"/new/placement/resource_providers/{RP_NODE}/inventories": "inventories_cmp-new-1.json",
    f"/new/placement/resource_providers/{RP_NODE}/usages": "usages_cmp-new-1.json",
    f"/new/placement/resource_providers/{RP_PCI}/inventories": "inventories_pci.json",
}
ROUTES["/new/volume"] = ROUTES["/new/volume/v3/p-web"] = "volume_versions.json"
for _p in ("p-web", "p-batch"):
    ROUTES[f"/new/volume/v3/p-web/os-quota-sets/{_p}"] = f"volume_quota_set_{_p}.json"
for _r in ("old", "new"):
    for _p in ("p-web", "p-batch"):
        ROUTES[f"/{_r}/compute/v2.1/os-quota-sets/{_p}/detail"] = f"quota_set_detail_{_p}.json"


def _microversion(headers) -> tuple[int, int]:
    value = (
        headers.get("OpenStack-API-Version", "").replace("compute", "").strip()
        or headers.get("X-OpenStack-Nova-API-Version", "")
        or "2.1"
    )
    major, minor = value.split(".")
    return int(major), int(minor)


class FakeCloud:
    """Keystone, Nova and Placement on one loopback port; ``down`` is a port nobody listens on."""

    def __init__(self) -> None:
        self.port, self.down = free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.requests: Counter[str] = Counter()
        cloud = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet test output
                pass

            def _send(self, status: int, body: object, headers: dict | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                path = self.path.split("?")[0].rstrip("/")
                cloud.requests[f"POST {path}"] += 1
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                pw = body["auth"]["identity"]["password"]["user"]["password"]
                if path != "/identity/v3/auth/tokens" or pw != PASSWORD:
                    return self._send(
                        401,
                        {
                            "error": {
                                "code": 401,
                                "title": "Unauthorized",
                                "message": "The request you have made requires authentication.",
                            }
                        },
                    )
                self._send(201, cloud.fixture("token.json"), {"X-Subject-Token": "tok-123"})

            def do_GET(self) -> None:
                path = self.path.split("?")[0].rstrip("/")
                cloud.requests[f"GET {path}"] += 1
                if path.endswith("/os-hypervisors/detail"):
                    new = path.startswith("/new/") and _microversion(self.headers) >= (2, 88)
                    return self._send(
                        200,
                        cloud.fixture(
                            "hypervisors_detail_v2.88.json"
                            if new
                            else "hypervisors_detail_v2.1.json"
                        ),
                    )
                if path in ROUTES:
                    return self._send(200, cloud.fixture(ROUTES[path]))
                self._send(404, {"itemNotFound": {"code": 404, "message": f"{path} not found"}})

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def fixture(self, name: str) -> object:
        text = (FIXTURES / name).read_text()
        return json.loads(
            text.replace("{base}", self.base).replace("{down}", f"http://127.0.0.1:{self.down}")
        )

    def clouds_yaml(self, tmp_path: Path, **lab_extra) -> str:
        def cloud(password: str) -> dict:
            return {
                "auth": {
                    "auth_url": f"{self.base}/identity/v3",
                    "username": "promcast",
                    "password": password,
                    "project_name": "web",
                    "user_domain_name": "Default",
                    "project_domain_name": "Default",
                },
                "identity_api_version": 3,
                "connect_retries": 0,
                "status_code_retries": 0,
            }

        clouds = {
            "lab": {
                **cloud(PASSWORD),
                "regions": ["RegionOld", "RegionNew", "RegionDown"],
                **lab_extra,
            },
            "edge": {**cloud("wrong-password"), "region_name": "RegionNew"},
        }
        path = tmp_path / "clouds.yaml"
        path.write_text(yaml.safe_dump({"clouds": clouds}))
        return str(path)


@pytest.fixture
def cloud() -> Iterator[FakeCloud]:
    c = FakeCloud()
    c.thread.start()
    yield c
    c.server.shutdown()
    c.server.server_close()


def by(text: str, name: str, **match) -> dict[tuple, float]:
    """{(region, scope, name): value} of the series' samples whose labels include ``match``."""
    return {
        (s.labels["region"], s.labels.get("scope"), s.labels.get("name")): s.value
        for s in samples(text, name)
        if all(s.labels.get(k) == v for k, v in match.items())
    }


def regions_up(text: str) -> dict[str, float]:
    return {
        s.labels["region"]: s.value for s in samples(text, "promcast_exporter_part_refresh_success")
    }


def provider(clouds_file: str, *specs: CloudSpec, **kw) -> OpenStackProvider:
    return OpenStackProvider(
        300, list(specs) or [CloudSpec("lab")], config_file=clouds_file, timeout=5, **kw
    )


def test_both_capacity_paths_projects_and_a_failing_region(cloud, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    p = provider(cloud.clouds_yaml(tmp_path), CloudSpec("lab"), CloudSpec("edge"))
    text = exposition(refreshed(p))
    promtool_check(text)

    # RegionOld has no Placement in its catalog: raw host totals from os-hypervisors (< 2.88).
    cap = by(text, "promcast_openstack_cpu_capacity_vcpus", cloud="lab", scope="hypervisor")
    used = by(text, "promcast_openstack_cpu_used_vcpus", cloud="lab", scope="hypervisor")
    assert cap[("RegionOld", "hypervisor", "cmp-old-1")] == 64
    assert used[("RegionOld", "hypervisor", "cmp-old-1")] == 48
    mem = by(text, "promcast_openstack_memory_capacity_bytes", scope="hypervisor")
    assert mem[("RegionOld", "hypervisor", "cmp-old-2")] == 262144 * MIB
    disk_used = by(text, "promcast_openstack_disk_used_bytes", scope="hypervisor")
    assert disk_used[("RegionOld", "hypervisor", "cmp-old-1")] == 200 * GIB

    # RegionNew: Placement, usable = (total - reserved) * allocation_ratio; the PCI child
    # provider has none of VCPU/MEMORY_MB/DISK_GB and is left out.
    assert cap[("RegionNew", "hypervisor", "cmp-new-1")] == (32 - 2) * 4.0
    assert used[("RegionNew", "hypervisor", "cmp-new-1")] == 90
    assert mem[("RegionNew", "hypervisor", "cmp-new-1")] == (131072 - 4096) * 1.5 * MIB
    assert (
        by(text, "promcast_openstack_disk_capacity_bytes")[("RegionNew", "hypervisor", "cmp-new-1")]
        == 500 * GIB
    )
    assert disk_used[("RegionNew", "hypervisor", "cmp-new-1")] == 120 * GIB
    assert not any("pci" in k[2] for k in cap)
    ratio = {
        s.labels["resource"]: s.value for s in samples(text, "promcast_openstack_allocation_ratio")
    }
    assert ratio == {"cpu": 4.0, "memory": 1.5, "disk": 1.0}
    node = [
        s
        for s in samples(text, "promcast_openstack_cpu_used_vcpus")
        if s.labels["name"] == "cmp-new-1"
    ][0]
    assert node.labels == {
        "provider": "openstack",
        "cloud": "lab",
        "region": "RegionNew",
        "scope": "hypervisor",
        "name": "cmp-new-1",
        "id": RP_NODE,
    }
    sources = {
        (s.labels["region"], s.labels["scope"]): s.labels["api"]
        for s in samples(text, "promcast_openstack_capacity_source_info")
    }
    assert sources == {
        ("RegionOld", "hypervisor"): "os-hypervisors",
        ("RegionNew", "hypervisor"): "placement",
        ("RegionOld", "project"): "os-quota-sets",
        ("RegionNew", "project"): "os-quota-sets",
    }

    # Projects: quota limits and usage; an unlimited quota (-1) has no capacity series.
    pcap = by(text, "promcast_openstack_cpu_capacity_vcpus", scope="project", region="RegionNew")
    pused = by(text, "promcast_openstack_cpu_used_vcpus", scope="project", region="RegionNew")
    assert pcap == {("RegionNew", "project", "web"): 20}
    assert pused == {("RegionNew", "project", "web"): 12, ("RegionNew", "project", "batch"): 40}
    assert (
        by(text, "promcast_openstack_memory_capacity_bytes", scope="project", region="RegionNew")[
            ("RegionNew", "project", "batch")
        ]
        == 102400 * MIB
    )

    # The unreachable region and the cloud with bad credentials fail alone, and say so.
    up = {
        (s.labels["account"], s.labels["region"]): s.value
        for s in samples(text, "promcast_exporter_part_refresh_success")
    }
    assert up == {
        ("lab", "RegionOld"): 1,
        ("lab", "RegionNew"): 1,
        ("lab", "RegionDown"): 0,
        ("edge", "RegionNew"): 0,
    }
    # Like every provider's: the refresh counts as failed while a part is.
    assert [s.value for s in samples(text, "promcast_exporter_refresh_success")] == [0]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert any("lab/RegionDown" in r.err and "reachable" in r.err for r in errors)
    assert any("edge/RegionNew" in r.err and "credentials" in r.err for r in errors)
    assert PASSWORD not in caplog.text and "wrong-password" not in caplog.text

    # Calls: counted per API, matching what the server saw.
    calls = {s.labels["api"]: s.value for s in samples(text, "promcast_exporter_api_calls_total")}
    # attempts count too: RegionDown's refused call is one of the two resource_providers calls
    assert calls["placement.resource_providers"] == 2
    assert cloud.requests["GET /new/placement/resource_providers"] == 1
    assert calls["placement.inventories"] == 2 and calls["placement.usages"] == 1
    assert (
        calls["compute.hypervisors"]
        == cloud.requests["GET /old/compute/v2.1/os-hypervisors/detail"]
        == 1
    )
    assert calls["compute.quota_sets"] == 4 and calls["identity.projects"] == 2
    assert calls["identity.tokens"] >= 2


def test_a_failed_region_keeps_its_last_good_numbers(cloud, tmp_path):
    p = provider(cloud.clouds_yaml(tmp_path), CloudSpec("lab", ("RegionOld", "RegionNew")))
    first = exposition(refreshed(p))
    assert regions_up(first) == {"RegionOld": 1, "RegionNew": 1}
    del ROUTES["/new/placement/resource_providers"]  # Placement starts failing in RegionNew
    try:
        second = exposition(refreshed(p))
    finally:
        ROUTES["/new/placement/resource_providers"] = "resource_providers.json"
    assert regions_up(second) == {"RegionOld": 1, "RegionNew": 0}
    cap = by(second, "promcast_openstack_cpu_capacity_vcpus", scope="hypervisor")
    assert cap[("RegionNew", "hypervisor", "cmp-new-1")] == 120  # the last good value


def test_a_region_no_longer_listed_is_down_not_current(cloud, tmp_path, monkeypatch):
    p = provider(cloud.clouds_yaml(tmp_path), CloudSpec("lab", ("RegionOld", "RegionNew")))
    exposition(refreshed(p))
    listed = p._regions

    def without_new():  # clouds.yaml dropped RegionNew (or its cloud stopped resolving)
        refs, failed = listed()
        return [r for r in refs if r.region != "RegionNew"], failed

    monkeypatch.setattr(p, "_regions", without_new)
    second = exposition(refreshed(p))
    assert regions_up(second) == {"RegionOld": 1, "RegionNew": 0}


def test_all_regions_failing_is_a_failed_refresh(cloud, tmp_path):
    p = provider(cloud.clouds_yaml(tmp_path), CloudSpec("edge"))
    text = exposition(refreshed(p))
    assert [s.value for s in samples(text, "promcast_exporter_refresh_success")] == [0]


def test_os_hypervisors_at_2_88_points_to_placement(cloud, tmp_path):
    clouds = cloud.clouds_yaml(tmp_path, compute_default_microversion="2.88")
    p = provider(clouds, CloudSpec("lab", ("RegionNew",)), capacity_api="nova", projects=False)
    with pytest.raises(OpenStackError) as err:  # the only region fails: the refresh fails
        p.refresh(0)
    outcome = str(err.value)
    assert "2.88" in outcome and "capacity_api: placement" in outcome and "lab/RegionNew" in outcome


def test_volume_quotas_give_project_disk(cloud, tmp_path):
    p = provider(
        cloud.clouds_yaml(tmp_path),
        CloudSpec("lab", ("RegionNew",)),
        volume_quotas=True,
        hypervisors=False,
    )
    text = exposition(refreshed(p))
    promtool_check(text)
    assert by(text, "promcast_openstack_disk_used_bytes", scope="project") == {
        ("RegionNew", "project", "web"): 300 * GIB,
        ("RegionNew", "project", "batch"): 50 * GIB,
    }
    assert by(text, "promcast_openstack_disk_capacity_bytes", scope="project") == {
        ("RegionNew", "project", "web"): 1000 * GIB
    }
    assert cloud.requests["GET /new/volume/v3/p-web/os-quota-sets/p-batch"] == 1


def test_config_and_wiring(tmp_path):
    from promcast_exporter.cli import build_providers

    cfg = validate(
        ExporterConfig,
        {
            "providers": {
                "demo": {"enabled": False},
                "openstack": {
                    "enabled": True,
                    "clouds": [{"cloud": "lab", "regions": ["RegionOne"]}],
                    "refresh_interval": "10m",
                    "capacity_api": "placement",
                },
            }
        },
    )
    (p,) = build_providers(cfg)
    assert isinstance(p, OpenStackProvider) and p.refresh_interval == 600
    assert p.clouds == [CloudSpec("lab", ("RegionOne",))] and p.capacity_api == "placement"
    assert validate(ExporterConfig, {}).providers.openstack.refresh_interval == 300
    with pytest.raises(ConfigError) as err:
        validate(
            ExporterConfig,
            {"providers": {"openstack": {"capacity_api": "nova-2.88", "clouds": [{}]}}},
        )
    problems = "\n".join(err.value.problems)
    assert (
        "providers.openstack.capacity_api" in problems
        and "providers.openstack.clouds[0].cloud" in problems
    )


def test_the_documented_examples_are_valid_configs():
    import re

    from promcast_forecaster.config import ForecasterConfig

    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    section = doc[doc.index("\n### OpenStack\n") :]
    exporter_block, target_block = re.findall(r"```yaml\n(.*?)```", section, re.S)[:2]
    cfg = validate(ExporterConfig, yaml.safe_load(exporter_block)).providers.openstack
    assert cfg.enabled and cfg.clouds[0].regions == ["RegionOne", "RegionTwo"]
    target = validate(
        ForecasterConfig,
        {"prometheus": {"url": "http://127.0.0.1:9090"}, **yaml.safe_load(target_block)},
    ).targets[0]
    assert "promcast_openstack_cpu_capacity_vcpus" in str(target.capacity)
    from promcast_common.catalogue import CATALOGUE

    assert set(
        re.findall(r"promcast_openstack_[a-z_]+", target.query + str(target.capacity))
    ) <= set(CATALOGUE)
