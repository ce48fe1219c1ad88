"""Anomaly alerting quality on the 17 NAB realAWSCloudwatch series and their 30 labelled windows.

Every method turns a series into a score per 5-minute sample, computed only from the past, and
alerts as a Prometheus rule ``score > 1`` with ``for: 15m`` would (3 consecutive samples). The
first 15% of each series is warm-up: not scored, no alerts counted.

- An alert episode is a maximal run of alerting samples.
- A labelled window is caught when at least one episode overlaps it.
- An episode that overlaps no window is a false page.
- recall = windows caught / all windows.
- precision, two readings: per page, windows caught / (windows caught + false pages), i.e. of the
  incidents on-call was paged for, how many were real (one real incident counts once however
  many episodes it produced); per episode, episodes overlapping a window / all episodes.
  F1 (pages) and F1 (episodes) are the harmonic means with recall; the per-page F1 is the
  headline number (the z-score baseline measured elsewhere at F1 0.27 uses that reading).

Methods: ``zscore`` is the usual baseline, |x - mean| / (3 sd) over the previous day of samples;
``promcast:<model>`` is the forecaster's walk-forward replay (forecaster/anomaly.py: refit every
hour on 7 days, season 1 day, the widest of ``--levels`` drives the score), i.e. exactly what
the service would have published.

Run from the repo root:  .venv/bin/python benchmarks/anomaly_quality.py [--methods a,b]

A method's row counts only when it scored every series past its warm-up; a series it could not
score makes the benchmark exit 1 naming the method and the series.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forecaster.anomaly import (
    DEFAULT_LEVELS, DEFAULT_MODEL, Settings, alert_points, episodes, for_points, walk_forward,
)
from exporter.core.durations import parse_duration
from forecaster.offline import _read_csv, _to_series

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _verify import require, run

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "nab"
SERIES_DIR = DATA / "realAWSCloudwatch"
LABELS = DATA / "labels" / "realAWSCloudwatch_windows.json"
NOTES = "## Notes"  # from this heading on, ANOMALY_RESULTS.md is kept across --write runs
STEP = 300.0
FOR_SECONDS = 900.0
WARMUP = 0.15
DEFAULT_METHODS = ("zscore", "promcast:seasonal_naive", "promcast:fast_hw", "promcast:drift",
                   f"promcast:{DEFAULT_MODEL}")


@dataclass
class Row:
    method: str
    caught: int
    windows: int
    false_pages: int
    episodes: int
    seconds: float

    @property
    def recall(self) -> float:
        return self.caught / self.windows if self.windows else 0.0

    @property
    def precision_pages(self) -> float:
        pages = self.caught + self.false_pages
        return self.caught / pages if pages else 0.0

    @property
    def precision_episodes(self) -> float:
        return (self.episodes - self.false_pages) / self.episodes if self.episodes else 0.0

    def f1(self, precision: float) -> float:
        r = self.recall
        return 2 * precision * r / (precision + r) if precision + r else 0.0


def load() -> tuple[list[tuple[str, np.ndarray, np.ndarray]], dict[str, list[tuple[float, float]]]]:
    """Each series on its regular 5-minute grid (gaps NaN), and its windows in unix seconds."""
    import pandas as pd

    series = []
    for path in sorted(SERIES_DIR.glob("*.csv")):
        frame = pd.read_csv(path)
        frame.insert(0, "series_id", path.name)
        # Through the CLI's reader, so the benchmark reads the files exactly as the command does.
        raw = _read_csv(io.StringIO(frame.to_csv(index=False)))
        (grid,), _ = _to_series(raw, STEP, 10**6)
        stamps = grid.last_ts - STEP * np.arange(grid.values.size)[::-1]
        series.append((path.name, stamps, grid.values))
    labels = json.loads(LABELS.read_text())
    windows = {}
    for key, spans in labels.items():
        name = key.split("/")[-1]
        windows[name] = [tuple(pd.Timestamp(t, tz="UTC").timestamp() for t in span) for span in spans]
    return series, windows


def zscore_alerts(values: np.ndarray, first: int) -> np.ndarray:
    """The baseline: 3-sigma band of the previous day (past samples only), held for 15 minutes."""
    import pandas as pd

    day = int(86400 / STEP)
    past = pd.Series(values).shift(1).rolling(day, min_periods=day // 4)
    mu, sd = past.mean().to_numpy(), past.std().to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.abs(values - mu) / (3 * sd)
    score[:first] = np.nan
    return alert_points(score, for_points(FOR_SECONDS, STEP))


def evaluate(method: str, alerts: dict[str, tuple[np.ndarray, np.ndarray]],
             windows: dict[str, list[tuple[float, float]]], seconds: float) -> Row:
    caught = false_pages = n_episodes = total = 0
    for name, spans in windows.items():
        total += len(spans)
        stamps, alert = alerts.get(name, (np.empty(0), np.empty(0, dtype=np.int8)))
        eps = [(stamps[a], stamps[b]) for a, b in episodes(alert)]
        n_episodes += len(eps)
        hit = [any(a <= w1 and b >= w0 for w0, w1 in spans) for a, b in eps]
        false_pages += hit.count(False)
        caught += sum(any(a <= w1 and b >= w0 for a, b in eps) for w0, w1 in spans)
    return Row(method, caught, total, false_pages, n_episodes, seconds)


def run_method(method: str, series, windows, levels: tuple[int, ...] = DEFAULT_LEVELS,
               fit_every: float = 3600.0) -> Row:
    started = time.monotonic()
    alerts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if method == "zscore":
        for name, stamps, values in series:
            first = int(np.ceil(WARMUP * values.size))
            alerts[name] = (stamps, zscore_alerts(values, first))
    elif method.startswith("promcast:"):
        settings = Settings(step=STEP, model=method.split(":", 1)[1], for_seconds=FOR_SECONDS,
                            warmup=WARMUP, levels=levels, fit_every=fit_every)
        for rec in walk_forward(series, settings):
            require(not rec.error, f"{method}: series {rec.series_id} was not scored: {rec.error}")
            alerts[rec.series_id] = (rec.timestamps, rec.alert)
    else:
        raise SystemExit(f"unknown method {method!r}; use zscore or promcast:<model>")
    unscored = sorted(name for name, _, _ in series if name not in alerts)
    require(not unscored, f"{method}: no scores for {unscored}")
    return evaluate(method, alerts, windows, time.monotonic() - started)


def table(rows: list[Row]) -> str:
    lines = ["| method | windows caught | false pages | episodes | precision (pages) | recall "
             "| F1 (pages) | precision (episodes) | F1 (episodes) | wall time |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        pp, pe = r.precision_pages, r.precision_episodes
        lines.append(f"| {r.method} | {r.caught}/{r.windows} | {r.false_pages} | {r.episodes} "
                     f"| {pp:.2f} | {r.recall:.2f} | {r.f1(pp):.2f} | {pe:.2f} | {r.f1(pe):.2f} "
                     f"| {r.seconds:.1f}s |")
    return "\n".join(lines)


def write_results(args: argparse.Namespace, text: str) -> None:
    """Rewrite the results file with this run's table, keeping its hand-written notes section."""
    path = ROOT / "benchmarks" / "ANOMALY_RESULTS.md"
    old = path.read_text() if path.is_file() else ""
    notes = old[old.index(NOTES):] if NOTES in old else ""
    command = (f".venv/bin/python benchmarks/anomaly_quality.py --methods {args.methods} "
               f"--levels '{args.levels}' --fit-every {args.fit_every} --write")
    path.write_text(
        "# Anomaly alerting quality (NAB realAWSCloudwatch, 17 series, 30 windows)\n\n"
        + __doc__.split("\n\n", 1)[1].split("Run from")[0].strip() + "\n\n"
        + f"Command (repo root): `{command}`\n\n" + text + "\n" + ("\n" + notes if notes else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                        help="comma-separated: zscore, promcast:<model> (e.g. promcast:auto)")
    parser.add_argument("--levels", default=",".join(map(str, DEFAULT_LEVELS)) + ";80,95",
                        help="interval levels (the widest drives the score); several sets "
                             "separated by ';' replay each promcast method once per set")
    parser.add_argument("--fit-every", default="1h", help="refit interval of the replay")
    parser.add_argument("--write", action="store_true",
                        help="also write the table to benchmarks/ANOMALY_RESULTS.md")
    args = parser.parse_args(argv)
    if not SERIES_DIR.is_dir() or not LABELS.is_file():
        print(f"skipped: {DATA.parent} (../shared/data relative to the repo root) is absent",
              file=sys.stderr)
        return 0
    series, windows = load()
    rows = []
    level_sets = [tuple(int(x) for x in part.split(",")) for part in args.levels.split(";") if part]
    for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
        for levels in level_sets if method.startswith("promcast:") else [()]:
            row = run_method(method, series, windows, levels, parse_duration(args.fit_every))
            if levels:
                row.method += f" (levels {','.join(map(str, levels))})"
            rows.append(row)
            print(table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    text = table(rows)
    print(text)
    if args.write:
        write_results(args, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
