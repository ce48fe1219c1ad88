"""``promcast-forecaster offline``: forecast a CSV of series without Prometheus.

Input is a long CSV ``series_id,timestamp,value`` (ISO timestamps or unix seconds); output is a long
CSV ``series_id,timestamp,mean,lower_80,upper_80,...,model`` with one row per series and step.
Each series is snapped onto its own grid ending at its newest sample (so series need not share a
clock), gaps become NaN for the models to handle. A series that breaks its model is retried alone,
then forecast by seasonal naive, and only reported as an error if even that fails; the others are
never affected. Bad files and arguments exit with status 2 and one clear message.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Any

from promcast_common.durations import format_duration, parse_duration
from promcast_forecaster.calendar_effects import HolidayCalendar, parse_holidays_flag
from promcast_forecaster.offline.forecast import Result, forecast_series
from promcast_forecaster.offline.output import Progress, write_forecasts
from promcast_forecaster.offline.series import UsageError, read_csv, step_seconds, to_series
from promcast_forecaster.seasons import MAX_SEASONS, candidate_seasons


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "offline",
        help="forecast series from a CSV file (no Prometheus needed)",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--input", required=True, help="long CSV with columns series_id,timestamp,value")
    p.add_argument("--out", default="-", help="output CSV path (default: stdout)")
    p.add_argument("--horizon", required=True, help="steps ahead (48) or a duration (2d)")
    p.add_argument("--step", default=None, help="grid step, e.g. 5m or 1h (default: inferred)")
    p.add_argument("--levels", default="80,95", help="interval levels in percent (default 80,95)")
    p.add_argument(
        "--model", default="auto", help="model name (auto, fast_hw, sktime:ThetaForecaster, ...)"
    )
    p.add_argument(
        "--season-length",
        default=None,
        help="seasons in steps or as durations, comma-separated, the main one first "
        "(7,365 or 1w,1y); the longer ones are tried per series and kept where the "
        "backtest prefers them (default: from the step: a day and a week below "
        "daily steps, a week and a year at daily steps)",
    )
    p.add_argument(
        "--holidays",
        default=None,
        metavar="COUNTRY[-SUBDIVISION][@TIMEZONE]",
        help="public holidays as their own day type (DE, DE-BY, AU-VIC@Australia/"
        "Melbourne; steps of a day or less): each series' holiday effect is learnt "
        "from its past holidays and kept where a leave-one-holiday-out backtest "
        "prefers it; a timestamp is the start of the period its value is for",
    )
    p.add_argument("--lower-bound", type=float, default=None, help="clip forecasts below (e.g. 0)")
    p.add_argument(
        "--upper-bound", type=float, default=None, help="clip forecasts above (capacity)"
    )
    p.add_argument("--max-points", type=int, default=20_000, help="newest points kept per series")
    p.add_argument("--batch", type=int, default=500, help="series fitted together")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    try:
        levels = _parse_levels(args.levels)
        raw = read_csv(args.input)
        step = step_seconds(args.step, raw)
        horizon = _parse_horizon(args.horizon, step)
        season, extra = _parse_seasons(args.season_length, step)
        series, bad = to_series(raw, step, args.max_points)
        from promcast_forecaster.models import make_model, model_capabilities

        make_model(args.model, season)  # an unknown model name is a usage error, not N failures
        several = extra and model_capabilities(args.model).multi_seasonal
        calendar = _calendar(args.holidays, step)
    except UsageError as exc:
        print(f"promcast-forecaster offline: error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"promcast-forecaster offline: error: {exc}", file=sys.stderr)
        return 2

    progress = Progress(len(series), sys.stderr)
    options: dict[str, Any] = {"seasons": extra} if several else {}
    results: dict[str, Result] = {sid: Result(error=reason) for sid, reason in bad.items()}
    results.update(
        forecast_series(
            series,
            args.model,
            season,
            horizon,
            levels,
            options=options,
            batch=args.batch,
            lower=args.lower_bound,
            upper=args.upper_bound,
            progress=progress.advance,
            grid_step=step,
            holidays=calendar,
        )
    )
    progress.close()

    try:
        written = write_forecasts(args.out, series, results, horizon, step, levels, raw["iso"])
    except OSError as exc:
        print(
            f"promcast-forecaster offline: error: cannot write {args.out}: {exc}", file=sys.stderr
        )
        return 2
    _report(results, written, time.monotonic() - started, args.out, step, horizon)
    return 0 if written or not results else 1


def _parse_levels(text: str) -> list[int]:
    try:
        levels = sorted({int(float(x)) for x in str(text).split(",") if x.strip()})
    except ValueError as exc:
        raise UsageError(f"--levels must be comma-separated percentages, got {text!r}") from exc
    if not levels or any(not 0 < lv < 100 for lv in levels):
        raise UsageError(f"--levels must be between 0 and 100 (exclusive), got {text!r}")
    return levels


def _parse_horizon(text: str, step: float) -> int:
    try:
        h = int(text)
    except ValueError:
        try:
            h = math.ceil(parse_duration(text) / step)
        except ValueError as exc:
            raise UsageError(f"--horizon must be a number of steps or a duration: {exc}") from exc
    if h < 1:
        raise UsageError(f"--horizon must be at least one step, got {text!r}")
    return h


def _calendar(text: str | None, step: float) -> HolidayCalendar | None:
    if not text:
        return None
    if step > 86400:
        raise UsageError(f"--holidays needs a step of a day or less, got {format_duration(step)}")
    try:
        settings = parse_holidays_flag(text)
    except ValueError as exc:  # pydantic's error lists each bad part with its reason
        errors = getattr(exc, "errors", lambda: [])()
        why = "; ".join(str(e.get("msg", "")).removeprefix("Value error, ") for e in errors) or exc
        raise UsageError(f"--holidays {text!r}: {why}") from None
    return HolidayCalendar(settings, stamp="start")


def _parse_seasons(text: str | None, step: float) -> tuple[int, tuple[int, ...]]:
    """The main season and the longer ones (steps) from ``--season-length``: numbers of steps or
    durations, comma-separated; without it, the cycles that make sense at ``step``."""
    if text is None or not str(text).strip():
        found = candidate_seasons(step)
        return (found[0], found[1:]) if found else (1, ())
    seasons = []
    for item in str(text).split(","):
        item = item.strip()
        try:
            k = int(item)
        except ValueError:
            try:
                k = int(round(parse_duration(item) / step))
            except ValueError as exc:
                raise UsageError(
                    f"--season-length: {item!r} is neither a number of steps nor a duration ({exc})"
                ) from exc
        if k < 1:
            raise UsageError(f"--season-length must be >= 1 step each, got {item!r}")
        seasons.append(k)
    if len(seasons) > 1 + MAX_SEASONS:
        raise UsageError(
            f"--season-length takes the main season and at most {MAX_SEASONS} longer "
            f"ones, got {len(seasons)} seasons"
        )
    return seasons[0], tuple(sorted({k for k in seasons[1:] if k > seasons[0]}))


def _report(
    results: dict[str, Result], written: int, elapsed: float, out: str, step: float, h: int
) -> None:
    errors = {k: r.error for k, r in results.items() if r.error}
    notes = {k: r.note for k, r in results.items() if r.note and not r.error}
    lines = [f"series {k}: error: {v}" for k, v in sorted(errors.items())]
    lines += [f"series {k}: {v}" for k, v in sorted(notes.items())]
    for line in lines[:20]:
        print(line, file=sys.stderr)
    if len(lines) > 20:
        print(f"... and {len(lines) - 20} more series with notes", file=sys.stderr)
    print(
        f"offline: {written} series forecast {h} steps of {format_duration(step)}, "
        f"{len(notes)} with notes, {len(errors)} failed, in {elapsed:.1f}s -> "
        f"{'stdout' if out == '-' else out}",
        file=sys.stderr,
    )
