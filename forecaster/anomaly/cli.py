"""``promcast-forecaster anomalies``: replay a CSV of series through the service's anomaly
detector (no Prometheus) and write every score, and where the alerting rule would have fired."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import Any, Sequence

import numpy as np

from promcast_common.durations import format_duration, parse_duration
from promcast_forecaster.anomaly.detector import DetectorSettings
from promcast_forecaster.anomaly.replay import DEFAULT_WARMUP, ReplaySettings, Scored, replay
from promcast_forecaster.offline.output import Progress, csv_output, format_ts
from promcast_forecaster.offline.series import UsageError, read_csv, step_seconds, to_series

log = logging.getLogger(__name__)
DEFAULTS = DetectorSettings(step=300.0)
OUTPUT_COLUMNS = ("series_id", "timestamp", "value", "expected", "threshold", "score", "alert")


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "anomalies",
        help="replay a CSV of series through the service's anomaly detector (no Prometheus)",
        description="Score every observation of each series as the service would have when it "
        "was the newest, and mark where the alerting rule 'score > 1 for --for' would "
        "have fired. The series of one file share the --target-budget.",
    )
    p.add_argument("--input", required=True, help="long CSV with columns series_id,timestamp,value")
    p.add_argument("--out", default="-", help="output CSV path (default: stdout)")
    p.add_argument("--step", default=None, help="sample interval, e.g. 5m (default: inferred)")
    p.add_argument(
        "--history",
        default="7d",
        help="history the threshold is calibrated on, as the target's history (default 7d)",
    )
    p.add_argument("--season", default="1d", help="season length, 0 for none (default 1d)")
    p.add_argument(
        "--for", dest="for_", default="15m", help="the alerting rule's for: duration (default 15m)"
    )
    p.add_argument(
        "--budget",
        type=float,
        default=DEFAULTS.series_budget,
        help="chance pages per 30 days per series (default %(default)s)",
    )
    p.add_argument(
        "--target-budget",
        type=float,
        default=DEFAULTS.target_budget,
        help="chance pages per 30 days across all series of the file (default %(default)s)",
    )
    p.add_argument(
        "--min-effect",
        type=float,
        default=DEFAULTS.min_effect,
        help="smallest deviation that pages, as a share of the series' usual range "
        "(default %(default)s)",
    )
    p.add_argument(
        "--direction",
        choices=("up", "down", "both"),
        default=DEFAULTS.direction,
        help="which deviations page (default %(default)s)",
    )
    p.add_argument(
        "--warmup",
        type=float,
        default=DEFAULT_WARMUP,
        help="leading share of each series left unscored on top of the detector's own "
        "cold start (default 0)",
    )
    p.add_argument(
        "--max-points", type=int, default=1_000_000, help="newest points kept per series"
    )
    p.set_defaults(func=run)


def settings_from_args(args: argparse.Namespace, step: float) -> ReplaySettings:
    """The replay's settings from the command line; :class:`UsageError` names the bad flag."""
    d = {}
    for flag, attr in (("--history", "history"), ("--season", "season"), ("--for", "for_")):
        try:
            d[attr] = parse_duration(getattr(args, attr))
        except ValueError as exc:
            raise UsageError(f"{flag}: {exc}") from exc
    if d["history"] <= 0:
        raise UsageError("--history must be positive")
    for flag, value in (("--budget", args.budget), ("--target-budget", args.target_budget)):
        if not value > 0 or not np.isfinite(value):
            raise UsageError(f"{flag} must be a positive number of pages per 30 days, got {value}")
    if not 0 <= args.min_effect < np.inf:
        raise UsageError(f"--min-effect must be a share >= 0, got {args.min_effect}")
    if not 0 <= args.warmup < 1:
        raise UsageError(f"--warmup must be a share in [0, 1), got {args.warmup}")
    if args.max_points < 3:
        raise UsageError("--max-points must be at least 3")
    det = DetectorSettings(
        step=step,
        for_seconds=d["for_"],
        series_budget=args.budget,
        target_budget=args.target_budget,
        min_effect=args.min_effect,
        direction=args.direction,
        season=d["season"],
        calibration=d["history"],
    )
    return ReplaySettings(det, warmup=args.warmup)


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    try:
        settings_from_args(args, 300.0)  # argument errors before the (possibly large) file is read
        raw = read_csv(args.input)
        step = step_seconds(args.step, raw)
        settings = settings_from_args(args, step)
        grids, bad = to_series(raw, step, args.max_points)
    except (UsageError, ValueError) as exc:
        print(f"promcast-forecaster anomalies: error: {exc}", file=sys.stderr)
        return 2
    series = [
        (g.series_id, g.last_ts - step * np.arange(g.values.size)[::-1], g.values) for g in grids
    ]
    progress = Progress(len(series), sys.stderr)
    results = replay(series, settings, progress=progress.advance)
    progress.close()
    for sid, reason in bad.items():
        results.append(
            Scored(sid, *([np.empty(0)] * 5), np.empty(0, dtype=np.int8), 0, error=reason)
        )
    try:
        points = write_scores(args.out, results, raw["iso"])
    except OSError as exc:
        print(
            f"promcast-forecaster anomalies: error: cannot write {args.out}: {exc}", file=sys.stderr
        )
        return 2
    _report(results, points, settings, time.monotonic() - started, args.out)
    return 0 if any(not r.error for r in results) else 1


def write_scores(path: str, results: Sequence[Scored], iso: bool) -> int:
    """Write the scored points as CSV (``OUTPUT_COLUMNS``); returns the number of rows."""
    rows = 0
    with csv_output(path, OUTPUT_COLUMNS) as writer:
        for rec in results:
            if rec.error:
                continue
            for i in rec.scored:
                writer.writerow(
                    [
                        rec.series_id,
                        format_ts(rec.timestamps[i], iso),
                        f"{rec.values[i]:.6g}",
                        f"{rec.expected[i]:.6g}",
                        f"{rec.threshold[i]:.6g}",
                        f"{rec.score[i]:.4g}",
                        int(rec.alert[i]),
                    ]
                )
                rows += 1
    return rows


def _report(
    results: Sequence[Scored], points: int, settings: ReplaySettings, elapsed: float, out: str
) -> None:
    failed = [r for r in results if r.error]
    for r in sorted(failed, key=lambda r: r.series_id)[:20]:
        print(f"series {r.series_id}: skipped: {r.error}", file=sys.stderr)
        # Info, not warning: the line above already tells the user; this is for log collectors.
        log.info("series skipped", extra={"series_id": r.series_id, "reason": r.error})
    if len(failed) > 20:
        print(f"... and {len(failed) - 20} more skipped series", file=sys.stderr)
    pages = sum(len(r.pages) for r in results if not r.error)
    det = settings.detector
    print(
        f"anomalies: {len(results) - len(failed)} series, {points} points scored, {pages} pages "
        f"(score > 1 for {format_duration(det.for_seconds)}), {len(failed)} skipped, "
        f"in {elapsed:.1f}s -> {'stdout' if out == '-' else out}",
        file=sys.stderr,
    )
