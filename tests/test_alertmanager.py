"""amtool validates the Alertmanager config and where each severity is routed."""

import subprocess
from pathlib import Path

import pytest

from tests.conftest import need

CONFIG = Path(__file__).resolve().parent.parent / "alertmanager" / "alertmanager.yml"


def amtool(*args: str) -> subprocess.CompletedProcess:
    need("amtool")
    return subprocess.run(["amtool", *args], capture_output=True, text=True)


def test_config_is_valid():
    out = amtool("check-config", str(CONFIG))
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("labels,receiver", [
    (["alertname=PromcastCapacityExhaustionSoon", "severity=warning", "target=disk_usage"], "chat"),
    (["alertname=PromcastCapacityExhaustionSoon", "severity=critical", "target=disk_usage"], "oncall"),
    (["alertname=Anything", "severity=info"], "chat"),
    (["alertname=NoSeverity"], "chat"),
])
def test_routes(labels, receiver):
    out = amtool("config", "routes", "test", f"--config.file={CONFIG}",
                 f"--verify.receivers={receiver}", *labels)
    assert out.returncode == 0, out.stdout + out.stderr


def test_a_wrong_expectation_fails():
    out = amtool("config", "routes", "test", f"--config.file={CONFIG}", "--verify.receivers=oncall",
                 "severity=warning")
    assert out.returncode == 1
