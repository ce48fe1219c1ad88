"""Anomaly alerting quality on every labelled NAB set, per category and overall.

Every method turns a series into a score per sample, computed only from the past, and alerts as
a Prometheus rule ``score > 1`` with ``for: 15m`` evaluated at every sample would: pending at
the first sample above 1, firing once pending for 15 minutes (4 consecutive samples at 5m, one
sample at 30m and 1h steps; see promcast_forecaster.anomaly.for_points). The first 15% of each series is warm-up: no alert
counted there (the promcast detector has its own cold start on top, see docs/anomalies.md).

- A page is a maximal run of alerting samples (an alert episode).
- A labelled window is caught when at least one page overlaps it.
- A page that overlaps no window is a false page; false pages per series-month divide by the
  scored span (after warm-up) of all series of the category, in 30-day months.
- recall = windows caught / windows; precision = windows caught / (windows caught + false
  pages), i.e. of the incidents on-call was paged for, how many were real; F1 of the two.

Methods, all with the same warm-up and ``for:``:

- ``promcast``: ``promcast-forecaster anomalies`` with its defaults (forecaster/anomaly: page
  budget 0.5 per series per 30 days, minimum effect 10% of the usual range, both directions,
  calibrated on 7 days), i.e. what the service publishes for a target with default settings.
- ``zscore``: |x - mean| / (3 sd) over the previous day of samples.
- ``mad``: |x - median| / (3 * 1.4826 MAD) over the previous day.
- ``band``: |x - mean| / (2 sd) over the previous day.

Data: ``../shared/data/nab`` (realAWSCloudwatch, realTraffic, realAdExchange, realTweets,
artificialWithAnomaly, artificialNoAnomaly), read through the ``anomalies`` command's CSV reader
at each file's own median step. ``--resample 30m`` (or ``1h``) averages every series onto a
coarser grid first, to check the method holds at other steps; ``--split`` also reports the two
halves of each category (files in alternate order) to show how much the figures move between
sets.

Run from the repo root:  .venv/bin/python benchmarks/anomaly_quality.py [--resample 1h] [--split]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from promcast_common.durations import format_duration, parse_duration
from promcast_forecaster.anomaly.detector import (
    DetectorSettings,
    alert_points,
    episodes,
    for_points,
)
from promcast_forecaster.anomaly.replay import ReplaySettings, replay
from promcast_forecaster.offline.series import read_csv, step_seconds, to_series

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _verify import require, run

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "nab"
LABELS = ("realAWSCloudwatch_windows.json", "more_windows.json")
CATEGORIES = (
    "realAWSCloudwatch",
    "realTraffic",
    "realAdExchange",
    "realTweets",
    "artificialWithAnomaly",
    "artificialNoAnomaly",
)
METHODS = ("promcast", "zscore", "mad", "band")
NOTES = "## Notes"  # from this heading on, ANOMALY_RESULTS.md is kept across --write runs
FOR_SECONDS = 900.0
WARMUP = 0.15
MONTH = 30 * 86400.0


@dataclass
class Series:
    category: str
    name: str
    step: float
    timestamps: np.ndarray
    values: np.ndarray
    windows: list[tuple[float, float]]


@dataclass
class Row:
    method: str
    category: str
    caught: int = 0
    windows: int = 0
    false_pages: int = 0
    months: float = 0.0
    seconds: float = 0.0

    def add(self, other: "Row") -> None:
        self.caught += other.caught
        self.windows += other.windows
        self.false_pages += other.false_pages
        self.months += other.months
        self.seconds += other.seconds

    @property
    def recall(self) -> float:
        return self.caught / self.windows if self.windows else 0.0

    @property
    def precision(self) -> float:
        pages = self.caught + self.false_pages
        return self.caught / pages if pages else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def false_per_month(self) -> float:
        return self.false_pages / self.months if self.months else 0.0


def load(resample: float | None) -> list[Series]:
    import pandas as pd

    labels: dict[str, list] = {}
    for name in LABELS:
        labels.update(json.loads((DATA / "labels" / name).read_text()))
    out = []
    for category in CATEGORIES:
        for path in sorted((DATA / category).glob("*.csv")):
            frame = pd.read_csv(path)
            frame.insert(0, "series_id", path.name)
            # Through the command's reader, so the benchmark reads files exactly as it does.
            raw = read_csv(io.StringIO(frame.to_csv(index=False)))
            step = resample or step_seconds(None, raw)
            (grid,), _ = to_series(raw, step, 10**7)
            stamps = grid.last_ts - step * np.arange(grid.values.size)[::-1]
            spans = labels.get(f"{category}/{path.name}", [])
            windows = [tuple(pd.Timestamp(t, tz="UTC").timestamp() for t in span) for span in spans]
            out.append(Series(category, path.name, step, stamps, grid.values, windows))
    return out


def baseline_score(
    method: str, values: np.ndarray, step: float, width: float | None = None
) -> np.ndarray:
    """A rolling band over the previous day of samples (past only), ``width`` spreads wide
    (default: the method's own, 3 or 2)."""
    import pandas as pd

    day = max(3, int(86400 / step))
    past = pd.Series(values).shift(1).rolling(day, min_periods=max(2, day // 4))
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "mad":
            med = past.median().to_numpy()
            mad = (
                pd.Series(values)
                .shift(1)
                .rolling(day, min_periods=max(2, day // 4))
                .apply(lambda w: np.nanmedian(np.abs(w - np.nanmedian(w))), raw=True)
                .to_numpy()
            )
            return np.abs(values - med) / ((width or 3.0) * 1.4826 * mad)
        k = width or (3.0 if method == "zscore" else 2.0)
        return np.abs(values - past.mean().to_numpy()) / (k * past.std().to_numpy())


def alerts_for(
    method: str, series: list[Series], knob: float | None = None
) -> tuple[dict[str, np.ndarray], float]:
    """Alert points per series; ``knob`` is promcast's page budget per series per 30 days (the
    target's budget scaled with it) or a baseline's band width (default: the method's own)."""
    started = time.monotonic()
    out: dict[str, np.ndarray] = {}
    by_step: dict[tuple[str, float], list[Series]] = {}
    for s in series:
        by_step.setdefault((s.category, s.step), []).append(s)
    for (_, step), group in by_step.items():
        if method == "promcast":
            # One category at one step is one target: its series share the target's budget.
            detector = DetectorSettings(step=step, for_seconds=FOR_SECONDS)
            if knob is not None:
                scale = knob / detector.series_budget
                detector = replace(
                    detector, series_budget=knob, target_budget=detector.target_budget * scale
                )
            settings = ReplaySettings(detector, warmup=WARMUP)
            for rec in replay([(s.name, s.timestamps, s.values) for s in group], settings):
                require(
                    not rec.error, f"promcast: series {rec.series_id} was not scored: {rec.error}"
                )
                out[rec.series_id] = rec.alert
        else:
            for s in group:
                score = baseline_score(method, s.values, step, knob)
                score[: int(np.ceil(WARMUP * s.values.size))] = np.nan
                out[s.name] = alert_points(score, for_points(FOR_SECONDS, step))
    return out, time.monotonic() - started


def evaluate(method: str, series: list[Series], alerts: dict[str, np.ndarray]) -> dict[str, Row]:
    rows: dict[str, Row] = {}
    for s in series:
        row = rows.setdefault(s.category, Row(method, s.category))
        first = int(np.ceil(WARMUP * s.values.size))
        alert = alerts[s.name].copy()
        alert[:first] = 0
        pages = [(s.timestamps[a], s.timestamps[b]) for a, b in episodes(alert)]
        hit = [any(a <= w1 and b >= w0 for w0, w1 in s.windows) for a, b in pages]
        row.false_pages += hit.count(False)
        row.windows += len(s.windows)
        row.caught += sum(any(a <= w1 and b >= w0 for a, b in pages) for w0, w1 in s.windows)
        row.months += (s.timestamps[-1] - s.timestamps[first]) / MONTH
    return rows


def table(rows: list[Row]) -> str:
    lines = [
        "| category | method | windows caught | false pages | false pages / series-month "
        "| precision | recall | F1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.category} | {r.method} | {r.caught}/{r.windows} | {r.false_pages} "
            f"| {r.false_per_month:.2f} | {r.precision:.2f} | {r.recall:.2f} "
            f"| {r.f1:.2f} |"
        )
    return "\n".join(lines)


def targets(rows: list[Row]) -> list[str]:
    """The issue's targets, each with whether this run meets it."""
    by = {(r.method, r.category): r for r in rows}
    overall = by[("promcast", "overall")]
    checks = [
        (f"overall F1 {overall.f1:.2f} >= 0.6", overall.f1 >= 0.6),
        (f"overall recall {overall.recall:.2f} >= 0.6", overall.recall >= 0.6),
    ]
    for c in CATEGORIES:
        r = by.get(("promcast", c))
        if r is None:
            continue
        checks.append(
            (
                f"{c}: {r.false_per_month:.2f} false pages / series-month <= 0.5",
                r.false_per_month <= 0.5,
            )
        )
        others = [by[(m, c)].f1 for m in METHODS[1:] if (m, c) in by]
        # Without a baseline in the run (--methods promcast) there is nothing to be above.
        if r.windows and others:
            checks.append(
                (f"{c}: F1 {r.f1:.2f} above every baseline ({max(others):.2f})", r.f1 > max(others))
            )
    r = by.get(("promcast", "artificialNoAnomaly"))
    if r is not None:
        checks.append((f"artificialNoAnomaly: {r.false_pages} pages == 0", r.false_pages == 0))
    return [f"- [{'x' if ok else ' '}] {text}" for text, ok in checks]


def measure(series: list[Series], methods: list[str], label: str = "") -> list[Row]:
    rows: list[Row] = []
    for method in methods:
        alerts, seconds = alerts_for(method, series)
        per = evaluate(method, series, alerts)
        total = Row(method, "overall" + label, seconds=seconds)
        for c in CATEGORIES:
            if c in per:
                per[c].category += label
                rows.append(per[c])
                total.add(per[c])
        total.seconds = seconds
        rows.append(total)
        print(
            f"{method}{label}: F1 {total.f1:.2f}, {total.caught}/{total.windows} windows, "
            f"{total.false_pages} false pages, {seconds:.1f}s",
            file=sys.stderr,
            flush=True,
        )
    return sorted(
        rows, key=lambda r: (r.category.startswith("overall"), r.category, methods.index(r.method))
    )


# Each method's one knob, swept from its default towards more pages: promcast's page budget per
# series per 30 days; a baseline's band width in spreads (zscore stands for band too: the same
# statistic, 2 or 3 sd wide).
FRONTIER = {
    "promcast": (0.5, 1, 2, 4, 8, 16, 32),
    "zscore": (15, 10, 8, 6, 5, 4, 3, 2),
    "mad": (30, 20, 15, 10, 8, 6, 4, 3),
}


def frontier(series: list[Series], methods: list[str], cap: float = 0.5) -> str:
    """Every method at every setting of its knob (windows caught against false pages), and
    each method's best F1 among the settings that keep every category within ``cap`` false
    pages per series-month: the methods compared at the same paging rate, not each at the
    rate its default happens to give."""
    lines = [
        "| method | setting | windows caught | false pages | false pages / series-month "
        "| worst category | F1 |",
        "|---|---|---|---|---|---|---|",
    ]
    swept = [m for m in FRONTIER if m in methods or (m == "zscore" and "band" in methods)]
    best: dict[str, tuple[float, str]] = {}
    for method in swept:
        for knob in FRONTIER[method]:
            per = evaluate(method, series, alerts_for(method, series, knob)[0])
            total = Row(method, "overall")
            for row in per.values():
                total.add(row)
            worst = max(r.false_per_month for r in per.values())
            setting = f"budget {knob:g}" if method == "promcast" else f"{knob:g} spreads"
            lines.append(
                f"| {method} | {setting} | {total.caught}/{total.windows} | {total.false_pages} "
                f"| {total.false_per_month:.2f} | {worst:.2f} | {total.f1:.2f} |"
            )
            print(f"frontier {method} {setting}: F1 {total.f1:.2f}", file=sys.stderr, flush=True)
            if worst <= cap and total.f1 > best.get(method, (-1.0, ""))[0]:
                best[method] = (total.f1, f"{setting}: {total.caught}/{total.windows} windows")
    summary = [
        f"- {m}: best F1 {best[m][0]:.2f} ({best[m][1]})"
        if m in best
        else f"- {m}: no setting within the cap"
        for m in swept
    ]
    return (
        "\n".join(lines)
        + f"\n\nBest F1 with every category at most {cap:g} false pages per series-month:\n\n"
        + "\n".join(summary)
    )


def write_results(command: str, text: str) -> None:
    """Rewrite the results file with this run's tables, keeping its hand-written notes."""
    path = ROOT / "benchmarks" / "ANOMALY_RESULTS.md"
    old = path.read_text() if path.is_file() else ""
    notes = old[old.index(NOTES) :] if NOTES in old else ""
    path.write_text(
        "# Anomaly alerting quality (NAB, every labelled set)\n\n"
        + __doc__.split("\n\n", 1)[1].split("Run from")[0].strip()
        + "\n\n"
        + f"Command (repo root): `{command}`\n\n"
        + text
        + "\n"
        + ("\n" + notes if notes else "")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--methods", default=",".join(METHODS), help=f"comma-separated, of {', '.join(METHODS)}"
    )
    parser.add_argument(
        "--resample",
        default="",
        help="comma-separated coarser steps (e.g. 30m,1h): measure there too",
    )
    parser.add_argument("--split", action="store_true", help="also report each half of the files")
    parser.add_argument(
        "--frontier",
        action="store_true",
        help="also sweep each method's knob (promcast's budget, a baseline's band width) at "
        "native steps: windows caught against false pages",
    )
    parser.add_argument(
        "--write",
        action="store_true",
        help="also write the tables to benchmarks/ANOMALY_RESULTS.md",
    )
    args = parser.parse_args(argv)
    if not all((DATA / c).is_dir() for c in CATEGORIES):
        print(
            f"skipped: {DATA.parent} (../shared/data relative to the repo root) is absent",
            file=sys.stderr,
        )
        return 0
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown method(s) {unknown}; use {', '.join(METHODS)}")
    sections = []
    series = load(None)
    rows = measure(series, methods)
    sections.append(
        "### Native steps (5m; realAdExchange 1h; realTraffic its median 5-10m)\n\n"
        + table(rows)
        + ("\n\nTargets:\n\n" + "\n".join(targets(rows)) if "promcast" in methods else "")
    )
    if args.split:
        for half in (0, 1):
            part = [s for i, s in enumerate(series) if i % 2 == half]
            sections.append(
                f"### Half {half + 1} of the files (alternate files)\n\n"
                + table(
                    [
                        r
                        for r in measure(part, methods, f" (half {half + 1})")
                        if r.category.startswith("overall")
                    ]
                )
            )
    if args.frontier:
        sections.append(
            "### Every method at every setting of its knob (native steps)\n\n"
            + frontier(series, methods)
        )
    for text in [t for t in args.resample.split(",") if t]:
        step = parse_duration(text)
        coarse = load(step)
        sections.append(
            f"### Resampled to {format_duration(step)}\n\n"
            + table([r for r in measure(coarse, methods, f" @{format_duration(step)}")])
        )
    text = "\n\n".join(sections)
    print(text)
    if args.write:
        extra = "".join(
            f" --{k} {v}" for k, v in (("methods", args.methods), ("resample", args.resample)) if v
        )
        write_results(
            ".venv/bin/python benchmarks/anomaly_quality.py"
            + extra
            + (" --split" if args.split else "")
            + (" --frontier" if args.frontier else "")
            + " --write",
            text,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
