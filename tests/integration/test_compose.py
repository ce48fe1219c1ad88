"""docker-compose.yml is valid and everything it mounts exists and fits together: Prometheus'
config (checked by promtool), the forecaster's config (the demo's targets), Grafana's
provisioning and the generated dashboards. No Docker engine runs here, so this is as far as the
compose stack can be checked."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dashboards import style
from tests.helpers.processes import need

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
INTEGRATIONS = ROOT / "docker-compose.integrations.yml"
LOCK = ROOT / "requirements.lock"
# The services whose image is built here (the promcast image); every other image is pulled.
BUILT = {"exporter", "forecaster", "webhook"}


def compose(
    *args: str, files: tuple[Path, ...] = (COMPOSE,), env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    if shutil.which("docker-compose") is None:
        pytest.skip(
            "docker-compose is not installed (Debian package docker-compose; "
            "`make test` installs it)"
        )
    # Without the variables a user might have exported: the defaults are what is tested.
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PROMCAST_", "GRAFANA_", "COMPOSE_"))
    }
    return subprocess.run(
        ["docker-compose", *[a for f in files for a in ("-f", str(f))], *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**clean, **(env or {})},
    )


def resolve(**kwargs: object) -> dict:
    out = compose("config", **kwargs)
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)


@pytest.fixture(scope="module")
def resolved() -> dict:
    """The compose file as docker-compose resolves it: absolute host paths, defaults filled."""
    return resolve()


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
    assert services["prometheus"]["image"].startswith("prom/prometheus:v2.42.0")
    assert services["alertmanager"]["image"].startswith("prom/alertmanager:v0.25.0")
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
    assert "FROM python:3.11" in dockerfile and "pip install" in dockerfile


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
    out = subprocess.run(
        ["promtool", "check", "config", str(local)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    assert jobs["promcast-forecaster"]["honor_labels"] is True
    assert jobs["promcast-forecaster"]["static_configs"][0]["targets"] == ["forecaster:9185"]
    exporter = jobs["promcast-exporter"]
    assert exporter["static_configs"][0]["targets"] == ["exporter:9184"]
    assert {"target_label": "instance", "replacement": "promcast-exporter"} in [
        {k: r[k] for k in ("target_label", "replacement")} for r in exporter["relabel_configs"]
    ]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "alertmanager:9093"
    ]


def test_forecaster_config_is_valid_and_forecasts_the_demo_targets(resolved):
    host = mounts(resolved["services"]["forecaster"])["/etc/promcast/forecaster.yml"]
    ours = yaml.safe_load(host.read_text())
    demo = yaml.safe_load((ROOT / "demo" / "forecaster.yml").read_text())
    assert ours["prometheus"]["url"] == "http://prometheus:9090"
    assert (ours["defaults"], ours["targets"]) == (demo["defaults"], demo["targets"])
    out = subprocess.run(
        [sys.executable, "-m", "promcast_forecaster", "--config.file", str(host), "check-config"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
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
    home = Path(
        resolved["services"]["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    )
    assert (folder / home.relative_to(provider["options"]["path"])).exists(), home


# -- safe by default ---------------------------------------------------------------------------


def published(service: dict) -> list[tuple[str, str]]:
    """(host address, host port) of each published port."""
    out = []
    for port in service.get("ports", []):
        if isinstance(port, dict):  # the long form docker-compose config prints
            out.append((port.get("host_ip", ""), str(port.get("published"))))
        else:
            parts = str(port).split(":")
            out.append((parts[0] if len(parts) == 3 else "", parts[-2] if len(parts) > 1 else ""))
    return out


def test_every_port_is_published_on_loopback_only_unless_asked(resolved):
    ports = {name: published(s) for name, s in resolved["services"].items()}
    assert all(
        ports[n] for n in ("prometheus", "alertmanager", "grafana", "exporter", "forecaster")
    )
    for name, binds in ports.items():
        assert all(host == "127.0.0.1" for host, _ in binds), (name, binds)
    # One variable moves them all, for a host behind its own reverse proxy or firewall.
    moved = resolve(env={"PROMCAST_BIND_ADDRESS": "10.1.2.3"})
    for name, service in moved["services"].items():
        assert all(host == "10.1.2.3" for host, _ in published(service)), name


def test_prometheus_exposes_neither_the_lifecycle_api_nor_the_remote_write_receiver(resolved):
    command = resolved["services"]["prometheus"]["command"]
    assert "--web.enable-lifecycle" not in command
    assert "--web.enable-remote-write-receiver" not in command


def test_grafana_password_from_a_secret_and_no_anonymous_access_unless_asked(resolved):
    grafana = resolved["services"]["grafana"]
    env = grafana["environment"]
    assert "GF_SECURITY_ADMIN_PASSWORD" not in env
    secret = env["GF_SECURITY_ADMIN_PASSWORD__FILE"]
    name = Path(secret).name
    assert secret == f"/run/secrets/{name}"
    assert name in [s if isinstance(s, str) else s["source"] for s in grafana["secrets"]]
    assert Path(resolved["secrets"][name]["file"]) == ROOT / "secrets" / name
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert env.get("GF_USERS_ALLOW_SIGN_UP") == "false"
    asked = resolve(env={"GRAFANA_ANONYMOUS": "true"})["services"]["grafana"]["environment"]
    assert (
        asked["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
        and asked["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    )
    assert "secrets/" in (ROOT / ".gitignore").read_text()


def test_images_are_pinned(resolved):
    """A digest, or an exact release tag (x.y.z) where no digest could be checked; never a
    moving tag. The promcast image is built here from a base pinned by digest."""
    for name, service in resolved["services"].items():
        image = service["image"]
        if name in BUILT:
            assert image == "promcast:latest" and "build" in service, name
            continue
        assert re.fullmatch(r"[\w./-]+:v?\d+\.\d+\.\d+(@sha256:[0-9a-f]{64})?", image), image
    base = re.search(r"^FROM (\S+)", (ROOT / "Dockerfile").read_text(), re.M).group(1)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+@sha256:[0-9a-f]{64}", base), base


def test_the_image_installs_from_the_hashed_lock_with_the_extras_the_configs_use():
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11")
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--require-hashes -r requirements.lock" in dockerfile
    assert "--no-deps" in dockerfile  # the project itself adds nothing unlocked
    pins = {}
    for block in re.split(r"\n(?=[a-z0-9])", LOCK.read_text(), flags=re.I):
        m = re.match(r"([A-Za-z0-9_.-]+)==(\S+)", block)
        if m:
            assert "--hash=sha256:" in block, m.group(1)
            pins[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(2)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = (
        project["dependencies"]
        + project["optional-dependencies"]["models"]
        + project["optional-dependencies"]["focus"]
    )
    for requirement in wanted:
        name = re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.-]+", requirement).group(0)).lower()
        assert name in pins, f"{requirement} is not in requirements.lock (`make lock`)"
    assert {"setuptools", "wheel"} <= pins.keys()  # the build backend, for --no-build-isolation


def test_every_service_has_a_healthcheck(resolved):
    for name, service in resolved["services"].items():
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] == "CMD", name
        port = re.search(r"127\.0\.0\.1:(\d+)/", " ".join(test)).group(1)
        listen = " ".join(service.get("command", []))
        assert port in listen or any(p == port for _, p in published(service)), (name, port)


def test_alertmanager_receivers_reach_the_webhook_service(resolved):
    services = resolved["services"]
    webhook = services["webhook"]
    listen = webhook["command"][webhook["command"].index("--listen") + 1]
    port = listen.rsplit(":", 1)[1]
    assert listen.startswith("0.0.0.0:")
    assert Path(webhook["volumes"][0].split(":")[0]) == ROOT / "demo" / "webhook_sink.py"
    mounted = mounts(services["alertmanager"])
    for config in ("alertmanager.yml", "integrations.yml"):
        cfg = yaml.safe_load((mounted["/etc/alertmanager"] / config).read_text())
        urls = [c["url"] for r in cfg["receivers"] for c in r.get("webhook_configs", [])]
        assert urls and all(u.startswith(f"http://webhook:{port}/") for u in urls), urls


def test_the_integrations_override_mounts_every_secret_its_config_reads(tmp_path):
    both = resolve(files=(COMPOSE, INTEGRATIONS))
    am = both["services"]["alertmanager"]
    config_path = next(a.split("=", 1)[1] for a in am["command"] if a.startswith("--config.file="))
    host = mounts(am)["/etc/alertmanager"] / Path(config_path).name
    cfg = yaml.safe_load(host.read_text())
    read = {
        Path(c[k]).name
        for r in cfg["receivers"]
        for kind, confs in r.items()
        if kind != "name"
        for c in confs
        for k in c
        if k.endswith("_file")
    }
    assert read == {"pagerduty_routing_key", "opsgenie_api_key", "slack_webhook_url"}
    assert (
        set(
            am["secrets"]
            if isinstance(am["secrets"][0], str)
            else [s["source"] for s in am["secrets"]]
        )
        == read
    )
    for name in read:
        assert Path(both["secrets"][name]["file"]) == ROOT / "secrets" / name
    # Without the override, Alertmanager reads the config that needs no secret.
    assert (
        "--config.file=/etc/alertmanager/alertmanager.yml"
        in resolve()["services"]["alertmanager"]["command"]
    )


class FakeRegistry:
    """The OCI distribution API's manifest endpoint behind Docker Hub's anonymous token flow."""

    def __init__(self, manifests: dict[str, bytes]) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        registry = self
        self.tokens_issued = 0

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                base = f"http://127.0.0.1:{self.server.server_address[1]}"
                if self.path.startswith("/token?"):
                    registry.tokens_issued += 1
                    return self.answer(200, b'{"token": "anonymous-pull"}', "application/json")
                m = re.fullmatch(r"/v2/(.+)/manifests/(.+)", self.path)
                if not m or f"{m[1]}:{m[2]}" not in manifests:
                    return self.answer(404, b"{}", "application/json")
                if self.headers.get("Authorization") != "Bearer anonymous-pull":
                    return self.answer(
                        401,
                        b"{}",
                        "application/json",
                        {
                            "WWW-Authenticate": f'Bearer realm="{base}/token",service="registry",'
                            f'scope="repository:{m[1]}:pull"'
                        },
                    )
                body = manifests[f"{m[1]}:{m[2]}"]
                digest = "sha256:" + __import__("hashlib").sha256(body).hexdigest()
                self.answer(
                    200,
                    body,
                    "application/vnd.oci.image.index.v1+json",
                    {"Docker-Content-Digest": digest},
                )

            def answer(self, status, body, kind, headers=None):
                self.send_response(status)
                self.send_header("Content-Type", kind)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def pin_images(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "docker" / "pin_images.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_pin_images_writes_each_tags_index_digest_and_keeps_the_tag(tmp_path):
    import hashlib

    text = COMPOSE.read_text()
    pulled = {
        m.group(1): m.group(2)
        for m in re.finditer(r"^\s*image:\s*([\w./-]+):([\w.-]+?)(?:@sha256:\w+)?\s*$", text, re.M)
        if m.group(1) != "promcast"
    }
    assert pulled, "the compose file pulls no image"
    manifests = {}
    for name, tag in pulled.items():
        repo = name if "/" in name else f"library/{name}"
        manifests[f"{repo}:{tag}"] = f'{{"manifests": ["{name}:{tag}"]}}'.encode()
    registry = FakeRegistry(manifests)
    try:
        copy = tmp_path / "docker-compose.yml"
        copy.write_text(text)
        assert pin_images("--file", str(copy), "--check").returncode == (
            0
            if all(
                "@sha256:" in line
                for line in text.splitlines()
                if "image:" in line and "promcast" not in line
            )
            else 1
        )
        done = pin_images("--file", str(copy), "--registry", registry.url)
        assert done.returncode == 0, done.stderr
        pinned = copy.read_text()
        for name, tag in pulled.items():
            repo = name if "/" in name else f"library/{name}"
            digest = hashlib.sha256(manifests[f"{repo}:{tag}"]).hexdigest()
            assert f"image: {name}:{tag}@sha256:{digest}\n" in pinned
        assert pinned.count("image: promcast:latest\n") == text.count("image: promcast:latest\n")
        assert registry.tokens_issued == len(pulled)
        assert pin_images("--file", str(copy), "--check").returncode == 0
        assert pin_images("--file", str(copy), "--registry", registry.url).returncode == 0
        assert copy.read_text() == pinned  # pinning again changes nothing while the tags stay
        # A tag the registry does not know leaves the file as it was, and says which.
        copy.write_text(text.replace(f"{name}:{tag}", f"{name}:0.0.0-missing", 1))
        before = copy.read_text()
        failed = pin_images("--file", str(copy), "--registry", registry.url)
        assert (
            failed.returncode == 1
            and "0.0.0-missing" in failed.stderr
            and "HTTP 404" in failed.stderr
        )
        assert copy.read_text() == before
    finally:
        registry.server.shutdown()
