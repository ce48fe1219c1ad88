"""Joining a target's series to its capacity series: the index the engine uses against the scan
it replaced (every capacity series compared with every series), as a ratio.

    .venv/bin/python benchmarks/capacity_join.py [--series 3000] [--capacity 20000] [--repeat 3]

The series look like node_exporter disks (instance, device, mountpoint, plus the target label);
the first ``--series`` capacity series match them, the rest belong to hosts the target does not
forecast. Both ways must give the same capacities; the scan is timed once (it takes minutes at the
defaults), the index ``--repeat`` times (best kept).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from promcast_forecaster.engine import match_capacity  # noqa: E402
from promcast_forecaster.source import RawSeries  # noqa: E402


def scan(series: list[RawSeries], capacity: list[RawSeries]) -> np.ndarray:
    """The join as it was: for each capacity series, every series compared label by label."""
    out = np.full(len(series), np.nan)
    for cap in capacity:
        want = {k: v for k, v in cap.labels.items() if k != "__name__"}
        value = cap.values[-1] if len(cap.values) else np.nan
        if not (np.isfinite(value) and value >= 0):
            continue
        for i, s in enumerate(series):
            if np.isnan(out[i]) and all(s.labels.get(k) == v for k, v in want.items()):
                out[i] = value
    return out


def disks(n: int, m: int) -> tuple[list[RawSeries], list[RawSeries]]:
    one = np.array([0.0])

    def labels(i: int) -> dict[str, str]:
        return {
            "instance": f"host-{i // 4}:9100",
            "device": f"/dev/sd{'abcd'[i % 4]}",
            "mountpoint": f"/data{i % 4}",
        }

    series = [RawSeries({**labels(i), "target": "disks"}, one, one) for i in range(n)]
    capacity = [
        RawSeries({"__name__": "node_filesystem_size_bytes", **labels(j)}, one, np.array([1e9 + j]))
        for j in range(m)
    ]
    return series, capacity


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=3000)
    ap.add_argument("--capacity", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    series, capacity = disks(args.series, args.capacity)
    best = float("inf")
    for _ in range(args.repeat):
        started = time.perf_counter()
        indexed = match_capacity(series, capacity)
        best = min(best, time.perf_counter() - started)
    started = time.perf_counter()
    scanned = scan(series, capacity)
    old = time.perf_counter() - started
    assert np.array_equal(indexed, scanned, equal_nan=True), "the two joins disagree"
    print(f"{args.series} series x {args.capacity} capacity series")
    print(f"  scan (before):  {old:.3f} s")
    print(f"  index (now):    {best:.4f} s")
    print(f"  ratio scan/index: {old / best:.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
