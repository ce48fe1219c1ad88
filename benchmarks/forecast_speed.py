"""Fit + predict throughput and peak memory on fleets of synthetic-but-realistic series.

Series are 8,064 points (four weeks at 5-minute steps) with daily and weekly patterns of random
strength and phase, slow trends, level shifts, spikes, scrape gaps and scales from 1 to 10^6, so
no method gets an easy fleet. Each (method, fleet size) runs in its own child process so peak RSS
(data included: the service holds the matrix too) is that method's alone. Methods too slow for
the whole fleet run on a subsample and their rate is extrapolated, labelled as such.

Run from the repo root:  .venv/bin/python benchmarks/forecast_speed.py [--large]
(--large adds the 10,000-series fleet; the 1,000-series fleet always runs.)

A row counts only when every series it timed got a finite forecast over the whole horizon; a
method that fails or leaves series without one makes the benchmark exit 1 saying which.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _verify import require, run

POINTS = 8064
SEASON = 288
HORIZON = 288
# Per-series methods run one series at a time until this many seconds are used (at least one
# series); their rate is extrapolated to the fleet.
BUDGET_SECONDS = {"statsforecast AutoETS": 120.0}
# promcast methods: model name and options. "+week" is what a target with this much history at a
# 5-minute step now does by default: it also tries the weekly cycle (two weeks fit in the history).
PROMCAST = {
    "promcast fast_hw": ("fast_hw", {}),
    "promcast auto": ("auto", {}),
    "promcast auto_fast": ("auto_fast", {}),
    "promcast auto_fast +week": ("auto_fast", {"seasons": (7 * SEASON,)}),
}


def synthetic_fleet(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(POINTS)
    day = np.sin(2 * np.pi * (t[None, :] / SEASON + rng.uniform(0, 1, (n, 1))))
    week = np.sin(2 * np.pi * (t[None, :] / (7 * SEASON) + rng.uniform(0, 1, (n, 1))))
    noise = rng.uniform(0.05, 0.5, (n, 1)) * rng.standard_normal((n, POINTS))
    y = (
        rng.uniform(0, 1, (n, 1)) * day
        + rng.uniform(0, 0.5, (n, 1)) * week
        + rng.normal(0, 0.0002, (n, 1)) * t[None, :]
        + noise
    )
    shift_at = rng.integers(0, POINTS, n)
    y += (t[None, :] >= shift_at[:, None]) * rng.normal(0, 0.5, (n, 1)) * (rng.random((n, 1)) < 0.3)
    spikes = rng.random((n, POINTS)) < 0.001
    y += spikes * rng.exponential(5, (n, POINTS))
    y = (y + 3) * 10 ** rng.uniform(0, 6, (n, 1))
    y[rng.random((n, POINTS)) < 0.005] = np.nan
    return y


def _rss_kib(field: str) -> int | None:
    """``VmRSS`` or ``VmHWM`` (peak) of this process from /proc, in KiB (None elsewhere)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Start the process' peak RSS again from its current RSS (Linux): building the synthetic
    matrix peaks far above what the method needs, and would hide the method's own peak."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def _run_one(method: str, n: int) -> dict:
    fleet = synthetic_fleet(n)
    rss_before = _rss_kib("VmRSS") if _reset_peak_rss() else None
    t0 = time.perf_counter()
    used = n
    forecast = 0  # series with a finite forecast over the whole horizon
    if method in BUDGET_SECONDS:
        import _baselines

        _baselines.statsforecast_auto_ets(fleet[:1, : 2 * SEASON], SEASON, 12, [80])  # JIT warm-up
        t0 = time.perf_counter()
        for used in range(1, n + 1):
            fc = _baselines.statsforecast_auto_ets(
                fleet[used - 1 : used], SEASON, HORIZON, [80, 95]
            )
            forecast += _complete(fc["mean"])
            if time.perf_counter() - t0 > BUDGET_SECONDS[method]:
                break
    else:
        from promcast_forecaster.models import make_model

        name, options = PROMCAST[method]
        fc = (
            make_model(name, SEASON, horizon=HORIZON, **options)
            .fit(fleet)
            .predict(HORIZON, (80, 95))
        )
        forecast = _complete(fc["mean"])
    secs = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    method_peak = _rss_kib("VmHWM") if rss_before is not None else None
    return {
        "method": method,
        "n": n,
        "used": used,
        "secs": secs,
        "peak_gib": peak_kib / 2**20,
        # While the method ran: the process' peak RSS (the input matrix included), and that
        # peak less the RSS before it started (the method's own memory).
        "method_peak_gib": None if method_peak is None else method_peak / 2**20,
        "own_gib": None if method_peak is None else (method_peak - rss_before) / 2**20,
        "input_gib": fleet.nbytes / 2**30,
        "forecast": forecast,
    }


def _complete(mean: np.ndarray) -> int:
    """Rows of a forecast that cover the horizon with finite values."""
    mean = np.atleast_2d(np.asarray(mean, dtype=float))
    return int((mean.shape[1] == HORIZON) * np.isfinite(mean).all(axis=1).sum())


def _child(method: str, n: int) -> dict | str:
    proc = subprocess.run(
        [sys.executable, __file__, "--one", method, str(n)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        return f"failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--large", action="store_true", help="also run 10,000 series")
    parser.add_argument("--one", nargs=2, metavar=("METHOD", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--methods", default="promcast fast_hw,promcast auto,statsforecast AutoETS")
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(_run_one(args.one[0], int(args.one[1]))))
        return 0
    sizes = [1000] + ([10000] if args.large else [])
    methods = [m.strip() for m in args.methods.split(",")]
    print(f"series of {POINTS} points, season {SEASON}, horizon {HORIZON}, {os.cpu_count()} cpus\n")
    print("| method | series | fitted | wall s | series/s | series/min | peak RSS GiB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    problems = []
    for n in sizes:
        for method in methods:
            res = _child(method, n)
            if isinstance(res, str):
                print(f"| {method} | {n} | | {res} | | | |")
                problems.append(f"{method} on {n} series {res}")
                continue
            if res["forecast"] != res["used"]:
                problems.append(
                    f"{method} on {n} series: {res['used'] - res['forecast']} of the "
                    f"{res['used']} series it timed have no finite {HORIZON}-step forecast"
                )
            rate = res["used"] / res["secs"]
            label = method if res["used"] == n else f"{method} (on {res['used']}, extrapolated)"
            wall = res["secs"] * n / res["used"]
            print(
                f"| {label} | {n} | {res['used']} | {wall:.1f} | {rate:.3g} | {60 * rate:.3g} | "
                f"{res['peak_gib']:.2f} |"
            )
            sys.stdout.flush()
    require(not problems, "; ".join(problems))
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
