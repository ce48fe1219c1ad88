"""CPU of the anomaly detector against an earlier version of it, both in this process.

The earlier version is ``forecaster/anomaly/detector.py`` as committed at ``--base`` (default
``main``), loaded from git into a module of its own; both score the same inputs, alternately,
best of ``--repeat`` runs of process time (CPU, so other processes on the machine count less
than with wall time). Inputs:

- ``fleet``: a healthy synthetic target of 256 series, 7 days at 5m (a daily cycle and
  autocorrelated noise, seed 11), scored as one target, as the service does every cycle;
- ``nab``: the 58 labelled NAB series at their native steps, each scored on its own (skipped
  without ``../shared/data/nab``);
- ``month``: ``--month-series`` series (default 1,000) of 28 days at 1 h, calibrated on the whole
  28 days, as the service scores a target whose ``history`` is 28d;
- ``year``: ``--year-series`` series (default 100) of 365 days at 1 h, calibrated on the whole
  year (a long-horizon target); a version without a bound on the calibration needs ~77M window
  values a row, so ``--year-base-series`` (default 2) rows are given to the base version and
  this one alike, and this version also scores all ``--year-series``.

Peak memory is numpy's allocations traced by ``tracemalloc`` during each run (the first run of
each version; tracing costs time, so it is a separate run from the timed ones).

Run from the repo root:  .venv/bin/python benchmarks/anomaly_speed.py [--base main]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from types import ModuleType
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from promcast_forecaster.anomaly import detector as current

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _verify import run
from anomaly_quality import DATA, FOR_SECONDS, load

ROOT = Path(__file__).resolve().parents[1]
DETECTOR = "forecaster/anomaly/detector.py"


def load_version(rev: str, into: Path) -> ModuleType:
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:{DETECTOR}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = into / "detector_base.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("detector_base", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def fleet() -> tuple[np.ndarray, np.ndarray, float]:
    step = 300.0
    ts = 1_700_006_400 + step * np.arange(int(7 * 86400 / step))
    rng = np.random.default_rng(11)
    noise = np.zeros((256, ts.size))
    shocks = rng.normal(0, 1, noise.shape)
    for t in range(1, ts.size):
        noise[:, t] = 0.8 * noise[:, t - 1] + shocks[:, t]
    level = rng.uniform(20, 60, (256, 1))
    return level + 10 * np.sin(2 * np.pi * ts / 86400) + noise, ts, step


def hourly(series: int, days: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A healthy hourly target: a daily cycle and AR(1) noise with Student-t(3) shocks."""
    step = 3600.0
    ts = 1_700_006_400 + step * np.arange(days * 24)
    rng = np.random.default_rng(seed)
    shocks = rng.standard_t(3, (series, ts.size))
    noise = np.zeros_like(shocks)
    for t in range(1, ts.size):
        noise[:, t] = 0.8 * noise[:, t - 1] + shocks[:, t]
    return 40 + 10 * np.sin(2 * np.pi * ts / 86400) + noise, ts


def whole_history(x: np.ndarray, ts: np.ndarray) -> Callable[[ModuleType], object]:
    """Score ``x`` calibrated on its whole span, as the service does with the target's history."""
    span = float(ts[-1] - ts[0]) + 3600.0
    return lambda m: m.detect(x, ts, m.DetectorSettings(step=3600.0, calibration=span))


def peak_mib(case: Callable[[ModuleType], object], module: ModuleType) -> float:
    tracemalloc.start()
    try:
        case(module)
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def timed(case: Callable[[ModuleType], object], module: ModuleType) -> float:
    started = time.process_time()
    case(module)
    return time.process_time() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="main", help="git revision of the earlier detector")
    parser.add_argument("--repeat", type=int, default=3, help="runs per version (best kept)")
    parser.add_argument("--cases", default="fleet,nab,month,year", help="comma-separated")
    parser.add_argument("--month-series", type=int, default=1000)
    parser.add_argument("--year-series", type=int, default=100)
    parser.add_argument("--year-base-series", type=int, default=2)
    args = parser.parse_args(argv)
    wanted = set(args.cases.split(","))
    cases: dict[str, Callable[[ModuleType], object]] = {}
    alone: dict[str, Callable[[ModuleType], object]] = {}  # this version only
    x, ts, step = fleet()
    cases["fleet"] = lambda m: m.detect(x, ts, m.DetectorSettings(step=step))
    if DATA.is_dir():
        series = load(None)

        def nab(m: ModuleType) -> None:
            for s in series:
                m.detect(s.values[None], s.timestamps, m.DetectorSettings(s.step, FOR_SECONDS))

        cases["nab"] = nab
    if "month" in wanted:
        cases["month"] = whole_history(*hourly(args.month_series, 28, 12))
    if "year" in wanted:
        x, ts = hourly(args.year_series, 365, 13)
        cases["year (base rows)"] = whole_history(x[: args.year_base_series], ts)
        alone["year"] = whole_history(x, ts)
    cases = {k: v for k, v in cases.items() if k.split(" ")[0] in wanted}
    with tempfile.TemporaryDirectory() as tmp:
        base = load_version(args.base, Path(tmp))
        for name, case in cases.items():
            before = after = float("inf")
            for _ in range(args.repeat):  # alternate, so a busy spell hits both
                before = min(before, timed(case, base))
                after = min(after, timed(case, current))
            mem = f"peak {peak_mib(case, base):.0f} -> {peak_mib(case, current):.0f} MiB"
            print(
                f"{name}: {args.base} {before:.2f}s, this version {after:.2f}s of CPU "
                f"(best of {args.repeat}): ratio {after / before:.2f}; {mem}",
                flush=True,
            )
        for name, case in alone.items():
            cpu = timed(case, current)
            print(f"{name}: this version {cpu:.2f}s of CPU, peak {peak_mib(case, current):.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
