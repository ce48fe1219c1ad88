"""promtool checks the rules and runs their unit tests (firing and must-not-fire cases)."""

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import need

RULES = Path(__file__).resolve().parent.parent / "rules"


def promtool(*args: str, cwd: Path = RULES) -> subprocess.CompletedProcess:
    need("promtool")
    return subprocess.run(["promtool", *args], capture_output=True, text=True, cwd=cwd)


def test_rules_are_valid():
    out = promtool("check", "rules", *[p.name for p in RULES.glob("*.yml")])
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("case", sorted(p.name for p in (RULES / "tests").glob("*.test.yml")))
def test_rule_unit_tests_pass(case):
    out = promtool("test", "rules", case, cwd=RULES / "tests")
    assert out.returncode == 0, out.stdout + out.stderr


def alerts():
    for path in RULES.glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            yield from (r for r in group["rules"] if "alert" in r)


def test_every_alert_follows_the_conventions_and_has_firing_and_quiet_cases():
    tests = "".join(p.read_text() for p in (RULES / "tests").glob("*.test.yml"))
    for rule in alerts():
        name = rule["alert"]
        assert name.startswith("Promcast") and name[0].isupper(), name
        assert "for" in rule, f"{name}: needs an explicit for:"
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        ann = rule["annotations"]
        assert "{{" not in ann["summary"], f"{name}: summary must be fixed text"
        assert "{{" in ann["description"], f"{name}: description should be templated"
        assert ann["runbook_url"].endswith("#" + name.lower()), name
        assert f"alertname: {name}" in tests, f"{name}: no promtool test case"
        readme = (RULES.parent / "README.md").read_text()
        assert f"### {name}" in readme, f"{name}: no runbook section in README.md"


def test_a_broken_rule_file_is_caught(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("groups:\n- name: x\n  rules:\n  - alert: X\n    expr: rate(up[5m]\n")
    out = promtool("check", "rules", str(bad))
    assert out.returncode == 1
