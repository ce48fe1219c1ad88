"""Why the promcast detector misses labelled NAB windows, and what its false pages are.

For every labelled window the detector does not catch, and for every page outside a window,
prints the category, the file, the largest ``for:``-held score inside the span, the
statistic-reference pair that came closest (``spike/level``, ``sustained/seasonal``, ...) and a
crude kind of the event read from the data around it:

- ``unscored``: the span lies before the detector's first score or in the benchmark's warm-up;
- ``zero``: the span drops to (near) zero, which the day before never did;
- ``stuck``: a run of identical values at least four times longer than any the day before;
- ``shift``: the level after the span's middle differs from the day before by > 3 robust sd;
- ``spike``: a sample > 6 robust sd from the day before's median, the level unchanged;
- ``variance``: the sample-to-sample noise is > 2x (or < 0.5x) the day before's;
- ``trend``: the slope over the span differs from the day before's by > 3 robust sd per span;
- ``subtle``: none of these.

Then it counts the kinds. The classification is a heuristic for diagnosis, not a label.

Run from the repo root:  .venv/bin/python benchmarks/anomaly_misses.py [--resample 1h]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from promcast_common.durations import parse_duration
from promcast_forecaster.anomaly.detector import (
    DetectorSettings,
    episodes,
    for_points,
    statistic_scores,
)
from promcast_forecaster.anomaly.replay import ReplaySettings, replay

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _verify import run
from anomaly_quality import DATA, FOR_SECONDS, WARMUP, Series, load

DAY = 86400.0


def held(score: np.ndarray, points: int) -> np.ndarray:
    """The score the rule's ``for:`` sees: the smallest over the last ``points`` samples."""
    x = np.nan_to_num(score, nan=0.0)
    out = x.copy()
    for k in range(1, points):
        out[k:] = np.minimum(out[k:], x[:-k])
        out[:k] = 0.0
    return out


def robust_sd(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    if x.size < 3:
        return float("nan")
    mad = 1.4826 * np.median(np.abs(x - np.median(x)))
    return float(mad) if mad > 0 else float(np.std(x)) or float("nan")


def longest_run(x: np.ndarray) -> int:
    same = np.r_[False, np.diff(x) == 0]
    best = run_len = 0
    for s in same:
        run_len = run_len + 1 if s else 0
        best = max(best, run_len)
    return best + 1


def kind(s: Series, a: int, b: int, first_scored: int) -> str:
    """A crude kind of the event between indices ``a`` and ``b`` (see the module docstring)."""
    if b < first_scored:
        return "unscored"
    day = max(3, int(DAY / s.step))
    before = s.values[max(0, a - day) : a]
    inside = s.values[a : b + 1]
    mid = (a + b) // 2
    later = s.values[mid : min(s.values.size, mid + max(3, (b - a) // 2))]
    before, inside = before[np.isfinite(before)], inside[np.isfinite(inside)]
    later = later[np.isfinite(later)]
    if before.size < 3 or inside.size < 3:
        return "unscored"
    med, sd = float(np.median(before)), robust_sd(before)
    span = float(np.ptp(before)) or abs(med) or 1.0
    if np.nanmin(inside) <= 0.02 * span + min(0.0, np.min(before)) < np.min(before):
        return "zero"
    if longest_run(inside) >= max(4, 4 * longest_run(before)):
        return "stuck"
    if not np.isfinite(sd) or sd == 0:
        sd = span * 0.01 or 1.0
    if later.size and abs(float(np.median(later)) - med) > 3 * sd:
        return "shift"
    if np.max(np.abs(inside - med)) > 6 * sd:
        return "spike"
    noise_b = robust_sd(np.diff(before))
    noise_i = robust_sd(np.diff(inside))
    if np.isfinite(noise_b) and noise_b > 0 and not 0.5 <= noise_i / noise_b <= 2:
        return "variance"
    slope_b = np.polyfit(np.arange(before.size), before, 1)[0] * inside.size
    slope_i = np.polyfit(np.arange(inside.size), inside, 1)[0] * inside.size
    if abs(slope_i - slope_b) > 3 * sd:
        return "trend"
    return "subtle"


def diagnose(series: list[Series]) -> tuple[list[str], Counter, Counter]:
    lines: list[str] = []
    missed: Counter = Counter()
    false: Counter = Counter()
    groups: dict[tuple[str, float], list[Series]] = {}
    for s in series:
        groups.setdefault((s.category, s.step), []).append(s)
    for (category, step), group in groups.items():
        settings = DetectorSettings(step=step, for_seconds=FOR_SECONDS)
        points = for_points(FOR_SECONDS, step)
        recs = replay(
            [(s.name, s.timestamps, s.values) for s in group],
            ReplaySettings(settings, warmup=WARMUP),
        )
        for s, rec in zip(group, recs):
            if rec.error:
                lines.append(f"{category} {s.name}: not scored ({rec.error})")
                continue
            scored = np.flatnonzero(np.isfinite(rec.score))
            first = max(int(np.ceil(WARMUP * s.values.size)), scored[0] if scored.size else 0)
            parts = statistic_scores(s.values[None], s.timestamps, settings, len(group))
            parts = {k: held(v[0], points) for k, v in parts.items()}
            total = held(rec.score, points)
            alert = rec.alert.copy()
            alert[: int(np.ceil(WARMUP * s.values.size))] = 0
            pages = episodes(alert)
            ts = s.timestamps
            for w0, w1 in s.windows:
                a = int(np.searchsorted(ts, w0))
                b = int(np.searchsorted(ts, w1, side="right")) - 1
                if any(ts[p0] <= w1 and ts[p1] >= w0 for p0, p1 in pages):
                    continue
                k = kind(s, a, b, first)
                missed[(category, k)] += 1
                best = max(parts, key=lambda n: float(np.max(parts[n][a : b + 1], initial=0)))
                lines.append(
                    f"MISS  {category:22s} {s.name:38s} held score "
                    f"{float(np.max(total[a : b + 1], initial=0)):5.2f} closest {best:18s} "
                    f"({float(np.max(parts[best][a : b + 1], initial=0)):.2f}) kind {k}"
                )
            for p0, p1 in pages:
                if any(ts[p0] <= w1 and ts[p1] >= w0 for w0, w1 in s.windows):
                    continue
                which = max(parts, key=lambda n: float(parts[n][p0]))
                k = kind(s, p0, min(s.values.size - 1, p1 + max(1, int(3600 / step))), first)
                false[(category, k)] += 1
                lines.append(
                    f"FALSE {category:22s} {s.name:38s} at {np.datetime64(int(ts[p0]), 's')} "
                    f"by {which:18s} kind {k}"
                )
    return lines, missed, false


def summary(title: str, counts: Counter) -> str:
    kinds = Counter()
    for (_, k), n in counts.items():
        kinds[k] += n
    by_cat = Counter()
    for (c, _), n in counts.items():
        by_cat[c] += n
    return (
        f"{title}: {sum(counts.values())}; by kind: "
        + ", ".join(f"{k} {n}" for k, n in kinds.most_common())
        + "; by category: "
        + ", ".join(f"{c} {n}" for c, n in by_cat.most_common())
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resample", default="", help="a coarser step (e.g. 1h) to diagnose at")
    args = parser.parse_args(argv)
    if not DATA.is_dir():
        print(f"skipped: {DATA} is absent", file=sys.stderr)
        return 0
    series = load(parse_duration(args.resample) if args.resample else None)
    lines, missed, false = diagnose(series)
    print("\n".join(lines))
    print()
    print(summary("missed windows", missed))
    print(summary("false pages", false))
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
