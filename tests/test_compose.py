"""docker-compose.yml is valid and everything it mounts exists and fits together: Prometheus'
config (checked by promtool), the forecaster's config (the demo's targets), Grafana's
provisioning and the generated dashboards. No Docker engine runs here, so this is as far as the
compose stack can be checked."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dashboards import style
from tests.conftest import need

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"


def compose(*args: str) -> subprocess.CompletedProcess:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (Debian package docker-compose; "
                    "`make test` installs it)")
    return subprocess.run(["docker-compose", "-f", str(COMPOSE), *args], cwd=ROOT,
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def resolved() -> dict:
    """The compose file as docker-compose resolves it: absolute host paths, defaults filled."""
    out = compose("config")
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)


def mounts(service: dict) -> dict[str, Path]:
    """Container path -> host path of a service's bind mounts (named volumes left out)."""
    found = {}
    for volume in service.get("volumes", []):
        host, container = volume.split(":")[:2]
        if host.startswith("/"):
            found[container] = Path(host)
    return found


def test_compose_config_is_valid():
    out = compose("config", "-q")
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_stack_has_its_services_and_everything_mounted_exists(resolved):
    services = resolved["services"]
    assert set(services) >= {"prometheus", "alertmanager", "grafana", "exporter", "forecaster"}
    assert services["prometheus"]["image"] == "prom/prometheus:v2.42.0"
    assert services["alertmanager"]["image"] == "prom/alertmanager:v0.25.0"
    assert services["grafana"]["image"].startswith("grafana/grafana:11.")
    for name, service in services.items():
        for container, host in mounts(service).items():
            assert host.exists(), f"{name}: {host} (mounted at {container}) does not exist"


def test_services_run_the_installed_console_scripts(resolved):
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11")
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    for name, port in (("exporter", 9184), ("forecaster", 9185)):
        service = resolved["services"][name]
        assert service["entrypoint"] == [f"promcast-{name}"]
        assert f"promcast-{name}" in scripts
        assert f"--web.listen-address=0.0.0.0:{port}" in service["command"]
        assert Path(service["build"]["context"]) == ROOT
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile and "pip install" in dockerfile


def test_prometheus_config_is_valid_and_its_rule_files_are_mounted(resolved, tmp_path):
    need("promtool")
    service = resolved["services"]["prometheus"]
    mounted = mounts(service)
    config_path = mounted["/etc/prometheus/prometheus.yml"]
    config = yaml.safe_load(config_path.read_text())
    # promtool resolves rule files on this machine: point them at the mounted host files.
    config["rule_files"] = [str(mounted[f]) for f in config["rule_files"]]
    local = tmp_path / "prometheus.yml"
    local.write_text(yaml.safe_dump(config))
    out = subprocess.run(["promtool", "check", "config", str(local)], capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert jobs["promcast-forecaster"]["honor_labels"] is True
    assert jobs["promcast-forecaster"]["static_configs"][0]["targets"] == ["forecaster:9185"]
    exporter = jobs["promcast-exporter"]
    assert exporter["static_configs"][0]["targets"] == ["exporter:9184"]
    assert {"target_label": "instance", "replacement": "promcast-exporter"} in [
        {k: r[k] for k in ("target_label", "replacement")} for r in exporter["relabel_configs"]]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "alertmanager:9093"]


def test_forecaster_config_is_valid_and_forecasts_the_demo_targets(resolved):
    host = mounts(resolved["services"]["forecaster"])["/etc/promcast/forecaster.yml"]
    ours = yaml.safe_load(host.read_text())
    demo = yaml.safe_load((ROOT / "demo" / "forecaster.yml").read_text())
    assert ours["prometheus"]["url"] == "http://prometheus:9090"
    assert (ours["defaults"], ours["targets"]) == (demo["defaults"], demo["targets"])
    out = subprocess.run([sys.executable, "-m", "forecaster", "--config.file", str(host),
                          "check-config"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr


def test_grafana_provisions_the_datasource_and_the_generated_dashboards(resolved):
    mounted = mounts(resolved["services"]["grafana"])
    datasources = mounted["/etc/grafana/provisioning/datasources"]
    (ds,) = yaml.safe_load((datasources / "promcast.yml").read_text())["datasources"]
    assert ds["type"] == "prometheus" and ds["url"] == "http://prometheus:9090"
    assert ds["uid"] == style.PROVISIONED_DATASOURCE_UID and ds["isDefault"] is True
    providers = mounted["/etc/grafana/provisioning/dashboards"]
    (provider,) = yaml.safe_load((providers / "promcast.yml").read_text())["providers"]
    assert provider["type"] == "file"
    folder = mounted[provider["options"]["path"]]
    assert folder == ROOT / "dashboards"
    assert sorted(folder.glob("*.json")), "no generated dashboards in the provisioned folder"
    home = Path(resolved["services"]["grafana"]["environment"]
                ["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert (folder / home.relative_to(provider["options"]["path"])).exists(), home
