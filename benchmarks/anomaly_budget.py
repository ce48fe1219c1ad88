"""Chance pages per series-month on synthetic noise, against the page budget.

The detector promises at most ``series_budget`` (default 0.5) chance pages per series per
30 days, calibrated on the series' own past. This script generates noise with no incident in
it (fixed seeds), runs the detector with its defaults (or another calibration), and counts the
pages a rule ``score > 1`` held for ``for: 15m`` would send, per series-month after the cold
start. Kinds of noise:

- ``white``: Gaussian white noise on a flat level.
- ``ar-t3``: AR(1) 0.9 noise with Student-t (3 degrees of freedom) shocks.
- ``bursty``: Gaussian noise whose variance switches between a quiet and a 4-times-louder
  regime (a two-state Markov chain, a few switches a day).
- ``seasonal``: a daily sine of amplitude 10 plus the ``ar-t3`` noise.

Columns: the calibration blocks of the spike statistic (hourly maxima) and of the sustained
statistic (its longer blocks), pages, series-months, pages per series-month and the upper end
of a Poisson 95% interval for it (the budget holds within sampling error when the rate's lower
end, here the ``lo`` column, is at or under the budget).

Run from the repo root:  .venv/bin/python benchmarks/anomaly_budget.py [--series 8] [--seeds 1]
"""

from __future__ import annotations

import argparse
import math
import sys
import numpy as np

from promcast_forecaster.anomaly.detector import (
    DAY,
    DetectorSettings,
    alert_points,
    calibration_blocks,
    detect,
    episodes,
)

START = 1_600_000_000.0
STEPS = {"1m": 60.0, "5m": 300.0, "30m": 1800.0, "1h": 3600.0}
# Days of history per step: enough series-months for the rate to mean something, at a bounded
# cost (the 1m grid has 1,440 samples a day).
DAYS = {"1m": 21, "5m": 60, "30m": 180, "1h": 240}


def ar1(rng: np.random.Generator, e: np.ndarray, phi: float) -> np.ndarray:
    x = np.zeros_like(e)
    for t in range(1, e.shape[1]):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    return x


def noise(kind: str, ts: np.ndarray, series: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (series, ts.size)
    if kind == "white":
        return 50 + rng.normal(0, 1, shape)
    if kind == "ar-t3":
        return 50 + ar1(rng, rng.standard_t(3, shape), 0.9)
    if kind == "bursty":
        step = ts[1] - ts[0]
        switch = min(0.5, 4 * step / DAY)  # about four regime switches a day
        flips = rng.random(shape) < switch
        loud = np.cumsum(flips, axis=1) % 2 == 1
        return 50 + rng.normal(0, 1, shape) * np.where(loud, 4.0, 1.0)
    if kind == "seasonal":
        cycle = 10 * np.sin(2 * np.pi * ts / DAY)
        return 50 + cycle + ar1(rng, rng.standard_t(3, shape), 0.9)
    raise ValueError(f"unknown noise kind {kind!r}")


def chance_pages(kind: str, step: str, calibration_days: float, series: int, seed: int) -> dict:
    dt = STEPS[step]
    days = max(DAYS[step], calibration_days + 30)
    ts = START + dt * np.arange(int(days * DAY / dt))
    s = DetectorSettings(step=dt, calibration=calibration_days * DAY)
    x = noise(kind, ts, series, seed)
    det = detect(x, ts, s, series_in_target=1)
    pages = sum(len(episodes(a)) for a in alert_points(det.score, s.for_points))
    scored = np.isfinite(det.score).any(axis=0)
    first = int(np.argmax(scored)) if scored.any() else ts.size
    months = series * (ts.size - first) * dt / (30 * DAY)
    return {
        "spike": s.calibration_blocks,
        "sustained": calibration_blocks(s.calibration, s.level_block_seconds),
        "pages": pages,
        "months": months,
    }


def poisson_interval(n: int) -> tuple[float, float]:
    """A 95% interval for a Poisson mean from a count (Wilson-Hilferty approximations)."""
    lo = 0.0 if n == 0 else n * (1 - 1 / (9 * n) - 1.96 / (3 * math.sqrt(n))) ** 3
    m = n + 1
    hi = m * (1 - 1 / (9 * m) + 1.96 / (3 * math.sqrt(m))) ** 3
    return lo, hi


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default="white,ar-t3,bursty,seasonal")
    parser.add_argument("--steps", default="1m,5m,30m,1h")
    parser.add_argument("--calibration", default="7,28", help="calibration windows in days")
    parser.add_argument("--series", type=int, default=8, help="series per case")
    parser.add_argument("--seeds", type=int, default=1, help="seeds per case (7, 8, ...)")
    args = parser.parse_args(argv)
    budget = DetectorSettings(step=60.0).series_budget
    print(
        f"budget {budget} chance pages per series-month; {args.series} series x {args.seeds} seeds"
    )
    print(
        f"{'noise':9} {'step':>4} {'calib':>5} {'spike':>5} {'sust':>4} {'pages':>5}"
        f" {'months':>7} {'rate':>5} {'lo':>5} {'hi':>5}  verdict"
    )
    over = 0
    for kind in args.kinds.split(","):
        for step in args.steps.split(","):
            for cal in (float(c) for c in args.calibration.split(",")):
                runs = [
                    chance_pages(kind, step, cal, args.series, 7 + i) for i in range(args.seeds)
                ]
                pages = sum(r["pages"] for r in runs)
                months = sum(r["months"] for r in runs)
                lo, hi = (v / months for v in poisson_interval(pages))
                rate = pages / months
                verdict = "ok" if lo <= budget else "OVER"
                over += verdict == "OVER"
                print(
                    f"{kind:9} {step:>4} {cal:5.0f} {runs[0]['spike']:5d}"
                    f" {runs[0]['sustained']:4d} {pages:5d} {months:7.1f} {rate:5.2f}"
                    f" {lo:5.2f} {hi:5.2f}  {verdict}",
                    flush=True,
                )
    print(f"cases over budget beyond sampling error: {over}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
