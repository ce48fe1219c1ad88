"""Both console scripts: --help, and a missing or invalid config exits 2 listing every problem."""

import subprocess
import sys

import pytest

MODULES = ["exporter", "forecaster"]


def run(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", f"promcast_{module}", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("module", MODULES)
def test_help_lists_prometheus_style_flags(module):
    out = run(module, "--help")
    assert out.returncode == 0
    for flag in ("--config.file", "--web.listen-address", "--log.level"):
        assert flag in out.stdout


@pytest.mark.parametrize("module", MODULES)
def test_missing_config_file_exits_2(module, tmp_path):
    out = run(module, "--config.file", str(tmp_path / "nope.yml"))
    assert out.returncode == 2
    assert "nope.yml" in out.stderr and "cannot read" in out.stderr


@pytest.mark.parametrize("module", MODULES)
def test_not_yaml_exits_2_with_position(module, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("targets: [\n  - name: x\n")
    out = run(module, "--config.file", str(bad))
    assert out.returncode == 2
    assert "line" in out.stderr and "not valid YAML" in out.stderr


def test_forecaster_lists_every_problem_with_its_path(tmp_path):
    bad = tmp_path / "f.yml"
    bad.write_text(
        "prometheus:\n  url: localhost:9090\n  timout: 5s\n"
        "targets:\n"
        "  - name: disk usage\n    query: up\n"
        "  - name: cpu\n    query: up\n    step: 5x\n    levels: [80, 120]\n"
        "  - query: up\n"
    )
    out = run("forecaster", "--config.file", str(bad), "check-config")
    assert out.returncode == 2
    for expected in (
        "prometheus.url",
        "prometheus.timout: unknown key",
        "targets[0].name",
        "targets[1].step",
        "targets[1].levels",
        "targets[2].name: Field required",
    ):
        assert expected in out.stderr, out.stderr


def test_forecaster_cross_field_checks(tmp_path):
    bad = tmp_path / "f.yml"
    bad.write_text(
        "targets:\n"
        "  - {name: a, query: up, step: 1h, horizons: [5m]}\n"
        "  - {name: a, query: up, step: 1s, history: 30d}\n"
    )
    out = run("forecaster", "--config.file", str(bad), "check-config")
    assert out.returncode == 2
    assert "horizon 5m is shorter than the step 1h" in out.stderr
    assert "already used by targets[0]" in out.stderr
    assert "over limits.max_history_points=100000" in out.stderr


def test_exporter_rejects_unknown_keys_and_bad_values(tmp_path):
    bad = tmp_path / "e.yml"
    bad.write_text(
        "providers:\n  demo:\n    refresh_interval: soon\n    anchor: yesterday\n  dmeo: {}\n"
    )
    out = run("exporter", "--config.file", str(bad))
    assert out.returncode == 2
    for expected in ("providers.demo.refresh_interval", "providers.demo.anchor", "providers.dmeo"):
        assert expected in out.stderr, out.stderr


def test_env_secrets_are_expanded_and_missing_ones_reported(tmp_path, monkeypatch):
    from promcast_common.config import ConfigError, load_config
    from promcast_forecaster.config import ForecasterConfig

    cfg = tmp_path / "f.yml"
    cfg.write_text("prometheus:\n  url: ${PROM_URL}\n")
    monkeypatch.setenv("PROM_URL", "http://prom.example:9090")
    assert load_config(ForecasterConfig, cfg).prometheus.url == "http://prom.example:9090"
    monkeypatch.delenv("PROM_URL")
    with pytest.raises(
        ConfigError, match="prometheus.url: environment variable PROM_URL is not set"
    ):
        load_config(ForecasterConfig, cfg)


def test_demo_config_is_valid():
    out = run("forecaster", "--config.file", "demo/forecaster.yml", "check-config")
    assert out.returncode == 0, out.stderr
    assert "4 target(s)" in out.stdout


SHOW_POOLS = """
import json, sys
from promcast_forecaster.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
import os, scipy.linalg, threadpoolctl  # scipy's own BLAS loads only now, after the limit
print(json.dumps({"pools": [p["num_threads"] for p in threadpoolctl.threadpool_info()],
                  "env": os.environ.get("OPENBLAS_NUM_THREADS")}))
"""


def pools(env_extra: dict, *argv: str) -> dict:
    import json
    import os

    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run(
        [sys.executable, "-c", SHOW_POOLS, *argv, "--config.file", "/nonexistent", "check-config"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, **env_extra},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_forecaster_caps_every_math_library_pool_even_those_loaded_later():
    seen = pools({})
    assert seen["pools"] and set(seen["pools"]) == {1}, seen
    assert pools({}, "--fit.math-threads", "2")["env"] == "2"
    # 0 leaves the libraries (and the environment the user gave them) alone.
    assert pools({}, "--fit.math-threads", "0")["env"] is None
    assert pools({"OPENBLAS_NUM_THREADS": "3"}, "--fit.math-threads", "0")["env"] == "3"
