"""The anomaly benchmark's own bookkeeping (the measurement itself needs ../shared/data)."""

from __future__ import annotations

import importlib.util
import sys

from tests.helpers.paths import ROOT

BENCH = ROOT / "benchmarks" / "anomaly_quality.py"


def load_benchmark():
    spec = importlib.util.spec_from_file_location("anomaly_quality", BENCH)
    module = importlib.util.module_from_spec(spec)
    # Registered before it runs: its dataclasses look their module up by name.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_targets_without_baselines_skip_the_comparison() -> None:
    aq = load_benchmark()
    rows = [
        aq.Row("promcast", "realTweets", caught=3, windows=4, months=2.0),
        aq.Row("promcast", "overall", caught=3, windows=4, months=2.0),
    ]
    lines = aq.targets(rows)
    assert not any("above every baseline" in line for line in lines)
    assert "- [x] realTweets: 0.00 false pages / series-month <= 0.5" in lines


def test_targets_compare_with_the_baselines_measured() -> None:
    aq = load_benchmark()
    rows = [
        aq.Row("promcast", "realTweets", caught=3, windows=4, false_pages=1, months=2.0),
        aq.Row("zscore", "realTweets", caught=4, windows=4, false_pages=40, months=2.0),
        aq.Row("promcast", "overall", caught=3, windows=4, false_pages=1, months=2.0),
    ]
    lines = aq.targets(rows)
    assert "- [x] realTweets: F1 0.75 above every baseline (0.17)" in lines
