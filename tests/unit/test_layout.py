"""The tests' own layout: unit tests start no process and load no process handling, helpers come
from tests/helpers (never from another test module)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
# Helpers that start processes or import the demo stack's process handling.
PROCESS_HELPERS = {
    "tests.helpers.processes",
    "tests.helpers.forecaster",
    "tests.helpers.remote_write",
    "tests.helpers.vm_fixture",
}


def _imported(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_unit_tests_import_no_process_handling():
    offenders = {
        path.name: sorted(
            m
            for m in _imported(path)
            if m in PROCESS_HELPERS or m.startswith(("demo.stack", "demo.history"))
        )
        for path in sorted((TESTS / "unit").glob("test_*.py"))
    }
    assert {k: v for k, v in offenders.items() if v} == {}, (
        "a test that needs a real process belongs in tests/integration"
    )


def test_test_modules_import_helpers_not_other_test_modules():
    offenders = {
        str(path.relative_to(TESTS)): sorted(
            m
            for m in _imported(path)
            if m.startswith("tests.") and m.rpartition(".")[2].startswith("test_")
        )
        for path in sorted(TESTS.rglob("*.py"))
    }
    assert {k: v for k, v in offenders.items() if v} == {}, "move shared code to tests/helpers"


def test_conftest_and_light_helpers_load_no_process_handling():
    # A fresh interpreter: in this one, other tests may have imported the demo stack already.
    code = (
        "import sys, tests.conftest, tests.helpers.metrics, tests.helpers.paths, "
        "tests.helpers.billing, tests.helpers.models, tests.helpers.anchors; "
        "print(sorted(m for m in sys.modules if m == 'demo' or m.startswith('demo.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
