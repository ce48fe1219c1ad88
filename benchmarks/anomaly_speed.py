"""CPU of the anomaly detector against an earlier version of it, both in this process.

The earlier version is ``forecaster/anomaly/detector.py`` as committed at ``--base`` (default
``main``), loaded from git into a module of its own; both score the same inputs, alternately,
best of ``--repeat`` runs of process time (CPU, so other processes on the machine count less
than with wall time). Inputs:

- ``fleet``: a healthy synthetic target of 256 series, 7 days at 5m (a daily cycle and
  autocorrelated noise, seed 11), scored as one target, as the service does every cycle;
- ``nab``: the 58 labelled NAB series at their native steps, each scored on its own (skipped
  without ``../shared/data/nab``).

Run from the repo root:  .venv/bin/python benchmarks/anomaly_speed.py [--base main]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
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


def timed(case: Callable[[ModuleType], object], module: ModuleType) -> float:
    started = time.process_time()
    case(module)
    return time.process_time() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="main", help="git revision of the earlier detector")
    parser.add_argument("--repeat", type=int, default=3, help="runs per version (best kept)")
    args = parser.parse_args(argv)
    cases: dict[str, Callable[[ModuleType], object]] = {}
    x, ts, step = fleet()
    cases["fleet"] = lambda m: m.detect(x, ts, m.DetectorSettings(step=step))
    if DATA.is_dir():
        series = load(None)

        def nab(m: ModuleType) -> None:
            for s in series:
                m.detect(s.values[None], s.timestamps, m.DetectorSettings(s.step, FOR_SECONDS))

        cases["nab"] = nab
    with tempfile.TemporaryDirectory() as tmp:
        base = load_version(args.base, Path(tmp))
        for name, case in cases.items():
            before = after = float("inf")
            for _ in range(args.repeat):  # alternate, so a busy spell hits both
                before = min(before, timed(case, base))
                after = min(after, timed(case, current))
            print(
                f"{name}: {args.base} {before:.2f}s, this version {after:.2f}s of CPU "
                f"(best of {args.repeat}): ratio {after / before:.2f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
