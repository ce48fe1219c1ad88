"""Regime changes on series whose breaks are known: how often the detector finds them, how far off
it places them, how often it cries wolf, and what the backtested cut does to the forecast.

Synthetic hourly series (a daily cycle, noise, 60 days of history, the newest 48 hours held out),
200 of each kind, fixed seeds: calm ones (noise, a steady trend), ones with a level shift or a
trend change 10-40 days before the end, and two kinds a detector must not mistake for a break
(a random walk; one large incident). Per kind: the share with a break reported in the training
history, the median distance to the true break in hours, the share of series whose forecast uses
the cut, and ``auto_fast``'s mean MASE on the held-out hours with regime candidates and without
(``regimes=False``), with the ratio.

Run from the repo root:  .venv/bin/python benchmarks/regime_changes.py [--series 200]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _verify import require, run

from promcast_forecaster.models import make_model
from promcast_forecaster.models.metrics import mase, mase_scale
from promcast_forecaster.models.regimes import newest_break

M = 24
DAYS = 60
H = 48
KINDS = ("calm", "steady trend", "level shift", "trend change", "random walk", "one incident")


def fleet(kind: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` series of one kind (history plus the held-out hours) and each one's true break
    index (-1: none)."""
    rng = np.random.default_rng(seed)
    t_len = DAYS * M + H
    t = np.arange(t_len)
    amp = rng.uniform(1, 5, (n, 1))
    y = 50 + amp * np.sin(2 * np.pi * (t[None, :] / M + rng.uniform(0, 1, (n, 1))))
    y = y + rng.normal(0, 1, (n, t_len))
    breaks = np.full(n, -1)
    at = t_len - H - rng.integers(10 * M, 40 * M, n)
    after = t[None, :] >= at[:, None]
    if kind == "steady trend":
        y += rng.uniform(-0.02, 0.02, (n, 1)) * t[None, :]
    elif kind == "level shift":
        y += after * rng.choice([-1, 1], (n, 1)) * rng.uniform(2, 6, (n, 1))
        breaks = at
    elif kind == "trend change":
        y += (
            after
            * (t[None, :] - at[:, None])
            * rng.choice([-1, 1], (n, 1))
            * rng.uniform(0.01, 0.05, (n, 1))
        )
        breaks = at
    elif kind == "random walk":
        y += np.cumsum(rng.normal(0, 0.3, (n, t_len)), axis=1)
    elif kind == "one incident":
        y += (after & (t[None, :] < at[:, None] + 6)) * 20.0  # six hours far off, then back
    return y, breaks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--series", type=int, default=200, help="series per kind")
    args = parser.parse_args(argv)
    print(
        "| kind | break reported | median distance (h) | forecast uses the cut | "
        "auto_fast MASE with regimes | without | ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for k, kind in enumerate(KINDS):
        y, truth = fleet(kind, args.series, seed=100 + k)
        train, test = y[:, :-H], y[:, -H:]
        found = newest_break(train, M)
        reported = found >= 0
        known = reported & (truth >= 0)
        dist = f"{np.median(np.abs(found[known] - truth[known])):.0f}" if known.any() else ""
        scale = mase_scale(train, M)
        scores = {}
        for regimes in (True, False):
            model = make_model("auto_fast", M, horizon=H, regimes=regimes).fit(train)
            mean = np.asarray(model.predict(H)["mean"])
            require(
                bool(np.isfinite(mean).all()),
                f"auto_fast (regimes={regimes}) left non-finite forecasts on {kind!r}",
            )
            scores[regimes] = float(np.mean(mase(test, mean, scale)))
            if regimes:
                cut = np.mean(["(since break)" in c for c in model.chosen])
        print(
            f"| {kind} | {reported.mean():.1%} | {dist} | {cut:.1%} | {scores[True]:.3f} | "
            f"{scores[False]:.3f} | {scores[True] / scores[False]:.3f} |"
        )
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
