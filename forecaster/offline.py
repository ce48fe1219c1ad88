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
import contextlib
import csv
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence, TextIO

import numpy as np

from promcast_common.durations import format_duration, parse_duration
from promcast_forecaster.calendar_effects import HolidayAdjusted, HolidayCalendar, parse_holidays_flag
from promcast_forecaster.limits import Limits, enforce, limits_for
from promcast_forecaster.seasons import MAX_SEASONS, candidate_seasons

REQUIRED_COLUMNS = ("series_id", "timestamp", "value")


class UsageError(Exception):
    """Bad input file or arguments: reported as one line, exit status 2."""


@dataclass
class Series:
    series_id: str
    last_ts: float
    values: np.ndarray


@dataclass
class Result:
    forecasts: dict[str, np.ndarray] = field(default_factory=dict)  # per key: (h,)
    model: str = ""
    note: str = ""
    error: str = ""


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
    p.add_argument("--model", default="auto", help="model name (auto, fast_hw, sktime:ThetaForecaster, ...)")
    p.add_argument("--season-length", default=None,
                   help="seasons in steps or as durations, comma-separated, the main one first "
                        "(7,365 or 1w,1y); the longer ones are tried per series and kept where the "
                        "backtest prefers them (default: from the step: a day and a week below "
                        "daily steps, a week and a year at daily steps)")
    p.add_argument("--holidays", default=None, metavar="COUNTRY[-SUBDIVISION][@TIMEZONE]",
                   help="public holidays as their own day type (DE, DE-BY, AU-VIC@Australia/"
                        "Melbourne; steps of a day or less): each series' holiday effect is learnt "
                        "from its past holidays and kept where a leave-one-holiday-out backtest "
                        "prefers it; a timestamp is the start of the period its value is for")
    p.add_argument("--lower-bound", type=float, default=None, help="clip forecasts below (e.g. 0)")
    p.add_argument("--upper-bound", type=float, default=None, help="clip forecasts above (capacity)")
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
        from .models import make_model, model_capabilities

        make_model(args.model, season)  # an unknown model name is a usage error, not N failures
        several = extra and model_capabilities(args.model).multi_seasonal
        calendar = _calendar(args.holidays, step)
    except UsageError as exc:
        print(f"promcast-forecaster offline: error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"promcast-forecaster offline: error: {exc}", file=sys.stderr)
        return 2

    results: dict[str, Result] = {sid: Result(error=reason) for sid, reason in bad.items()}
    progress = Progress(len(series), sys.stderr)
    options: dict[str, Any] = {"seasons": extra} if several else {}
    for start in range(0, len(series), max(1, args.batch)):
        chunk = series[start:start + max(1, args.batch)]
        results.update(_forecast_chunk(chunk, args.model, season, horizon, levels, options, step,
                                       calendar))
        progress.advance(len(chunk))
    progress.close()
    by_id = {s.series_id: s for s in series}
    for sid, res in results.items():  # every model, fallbacks included, as the service does
        if res.forecasts:
            res.forecasts = _bounded(res.forecasts, by_id[sid].values, args.lower_bound,
                                     args.upper_bound)

    try:
        written = _write(args.out, series, results, horizon, step, levels, raw["iso"])
    except OSError as exc:
        print(f"promcast-forecaster offline: error: cannot write {args.out}: {exc}", file=sys.stderr)
        return 2
    _report(results, written, time.monotonic() - started, args.out, step, horizon)
    return 0 if written or not results else 1


# -- input ---------------------------------------------------------------------------------------
def _parse_levels(text: str) -> list[int]:
    try:
        levels = sorted({int(float(x)) for x in str(text).split(",") if x.strip()})
    except ValueError as exc:
        raise UsageError(f"--levels must be comma-separated percentages, got {text!r}") from exc
    if not levels or any(not 0 < lv < 100 for lv in levels):
        raise UsageError(f"--levels must be between 0 and 100 (exclusive), got {text!r}")
    return levels


def read_csv(path: str) -> dict[str, Any]:
    import pandas as pd

    try:
        frame = pd.read_csv(path, dtype={"series_id": str}, keep_default_na=True)
    except FileNotFoundError as exc:
        raise UsageError(f"input file {path!r} not found") from exc
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, IsADirectoryError) as exc:
        raise UsageError(f"cannot parse {path!r} as CSV: {exc}") from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise UsageError(
            f"{path!r} lacks column(s) {missing}; expected header {','.join(REQUIRED_COLUMNS)}"
        )
    if frame.empty:
        raise UsageError(f"{path!r} has a header but no rows")
    ts_raw = frame["timestamp"]
    numeric = pd.to_numeric(ts_raw, errors="coerce")
    iso = bool(numeric.isna().mean() > 0.5)
    if iso:
        parsed = pd.to_datetime(ts_raw, utc=True, errors="coerce", format="mixed")
        seconds = (parsed - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    else:
        seconds = numeric.astype(float)
    if seconds.isna().all():
        raise UsageError(f"no parseable timestamps in {path!r} (use ISO 8601 or unix seconds)")
    values = pd.to_numeric(frame["value"], errors="coerce")  # junk values become gaps
    return {
        "series_id": frame["series_id"].fillna("").astype(str).to_numpy(),
        "ts": seconds.to_numpy(dtype=float),
        "value": values.to_numpy(dtype=float),
        "iso": iso,
    }


def step_seconds(text: str | None, raw: dict[str, Any]) -> float:
    if text:
        try:
            step = parse_duration(text)
        except ValueError as exc:
            raise UsageError(f"--step: {exc}") from exc
        if step <= 0:
            raise UsageError("--step must be positive")
        return step
    sid, ts = raw["series_id"], raw["ts"]
    order = np.lexsort((ts, sid))
    same = sid[order][1:] == sid[order][:-1]
    d = np.diff(ts[order])[same]
    diffs = d[np.isfinite(d) & (d > 0)]
    if diffs.size == 0:
        raise UsageError("cannot infer the step from the data; pass --step (e.g. 5m)")
    return float(np.median(diffs))


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
                raise UsageError(f"--season-length: {item!r} is neither a number of steps nor a "
                                 f"duration ({exc})") from exc
        if k < 1:
            raise UsageError(f"--season-length must be >= 1 step each, got {item!r}")
        seasons.append(k)
    if len(seasons) > 1 + MAX_SEASONS:
        raise UsageError(f"--season-length takes the main season and at most {MAX_SEASONS} longer "
                         f"ones, got {len(seasons)} seasons")
    return seasons[0], tuple(sorted({k for k in seasons[1:] if k > seasons[0]}))


def to_series(raw: dict[str, Any], step: float, max_points: int) -> tuple[list[Series], dict[str, str]]:
    sid, ts, val = raw["series_id"], raw["ts"], raw["value"]
    order = np.lexsort((ts, sid))
    sid, ts, val = sid[order], ts[order], val[order]
    bounds = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1], True])
    out, bad = [], {}
    for a, b in zip(bounds[:-1], bounds[1:]):
        name, t, v = sid[a], ts[a:b], val[a:b]
        ok_t = np.isfinite(t)
        t, v = t[ok_t], v[ok_t]
        if t.size == 0:
            bad[name] = "no parseable timestamps"
            continue
        if not np.isfinite(v).any():
            bad[name] = "no numeric values"
            continue
        last = t[-1]
        idx = np.round((last - t) / step).astype(np.int64)  # steps before the newest sample
        keep = idx < max_points
        idx, v = idx[keep], v[keep]
        length = int(idx.max()) + 1
        sums = np.bincount(idx, weights=np.where(np.isfinite(v), v, 0.0), minlength=length)
        counts = np.bincount(idx, weights=np.isfinite(v).astype(float), minlength=length)
        with np.errstate(invalid="ignore", divide="ignore"):
            grid = np.where(counts > 0, sums / counts, np.nan)[::-1]  # duplicates averaged
        out.append(Series(name, float(last), grid))
    return out, bad


# -- forecasting ---------------------------------------------------------------------------------
def _bounded(forecast: dict[str, np.ndarray], history: np.ndarray, lower: float | None,
             upper: float | None) -> dict[str, np.ndarray]:
    """The forecast inside the bounds given (always, unlike the service's history-aware
    limits: they were asked for explicitly), ordered, without zero-width intervals."""
    noise = limits_for(history[None, :]).noise
    bounds = Limits(np.array([-np.inf if lower is None else lower]),
                    np.array([np.inf if upper is None else upper]), noise)
    return {k: v[0] for k, v in enforce({k: v[None, :] for k, v in forecast.items()}, bounds).items()}


def _matrix(chunk: Sequence[Series]) -> np.ndarray:
    width = max(s.values.size for s in chunk)
    mat = np.full((len(chunk), width), np.nan)
    for i, s in enumerate(chunk):
        mat[i, width - s.values.size:] = s.values
    return mat


def _forecast_chunk(
    chunk: Sequence[Series], name: str, season: int, horizon: int, levels: list[int],
    options: dict[str, Any], step: float, holidays: HolidayCalendar | None = None,
) -> dict[str, Result]:
    from .models import make_model, model_capabilities

    try:
        matrix = _matrix(chunk)
        # Rows are right-aligned on each series' newest sample: column 0 of row i is that sample
        # less the matrix's width in steps. Models that learn a seasonal shape across the rows
        # (auto's short histories) get each row's phase on the clock, so series ending at
        # different times of day share one daily shape.
        starts = np.array([s.last_ts - (matrix.shape[1] - 1) * step for s in chunk])
        if season > 1 and model_capabilities(name).per_series_choice:
            options = {**options, "phases": np.round(starts / step).astype(np.int64) % season}
        model = make_model(name, season, horizon=horizon, levels=levels, **options)
        if holidays is not None:
            model = HolidayAdjusted(model, holidays, step, season).at(starts)
        model.fit(matrix)
        fc = model.predict(horizon, levels)
        return _results(chunk, model, fc, name)
    except Exception:  # noqa: BLE001 - isolate the series that broke the batch below
        if len(chunk) > 1:
            out: dict[str, Result] = {}
            for s in chunk:
                out.update(_forecast_chunk([s], name, season, horizon, levels, options, step,
                                           holidays))
            return out
    series = chunk[0]
    if name == "seasonal_naive":
        return {series.series_id: Result(error="seasonal naive failed on this series")}
    fallback = _forecast_chunk([series], "seasonal_naive", season, horizon, levels, {}, step)
    res = fallback[series.series_id]
    if not res.error:
        res.note = f"{name} failed on this series; seasonal naive used"
    return fallback


def _results(chunk: Sequence[Series], model: Any, fc: dict[str, np.ndarray], name: str) -> dict[str, Result]:
    chosen = model.row_models(len(chunk))
    notes = model.row_notes(len(chunk))
    out = {}
    for i, s in enumerate(chunk):
        row = {k: np.asarray(v, dtype=float)[i] for k, v in fc.items()}
        if not np.isfinite(row["mean"]).all():
            out[s.series_id] = Result(error="model produced no finite forecast")
            continue
        out[s.series_id] = Result(forecasts=row, model=chosen[i], note=notes[i])
    return out


# -- output --------------------------------------------------------------------------------------
def _write(
    path: str, series: Sequence[Series], results: dict[str, Result], horizon: int, step: float,
    levels: list[int], iso: bool,
) -> int:
    header = ["series_id", "timestamp", "mean"]
    for lv in levels:
        header += [f"lower_{lv}", f"upper_{lv}"]
    header.append("model")
    written = 0
    with csv_output(path, header) as writer:
        for s in series:
            res = results.get(s.series_id)
            if res is None or res.error:
                continue
            stamps = s.last_ts + step * np.arange(1, horizon + 1)
            cols = [res.forecasts["mean"]]
            for lv in levels:
                cols += [res.forecasts[f"lower-{lv}"], res.forecasts[f"upper-{lv}"]]
            for k in range(horizon):
                writer.writerow([s.series_id, format_ts(stamps[k], iso)]
                                + [f"{c[k]:.6g}" for c in cols] + [res.model])
            written += 1
    return written


@contextlib.contextmanager
def csv_output(path: str, header: Sequence[str]) -> Iterator[Any]:
    """A CSV writer on ``path`` (``-``: stdout) with its header written."""
    fh: TextIO = sys.stdout if path == "-" else open(path, "w", newline="", encoding="utf-8")
    try:
        writer = csv.writer(fh)
        writer.writerow(header)
        yield writer
    finally:
        if fh is not sys.stdout:
            fh.close()


def format_ts(seconds: float, iso: bool) -> str:
    if not iso:
        return f"{seconds:.0f}" if float(seconds).is_integer() else f"{seconds:.3f}"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def _report(results: dict[str, Result], written: int, elapsed: float, out: str, step: float, h: int) -> None:
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


class Progress:
    """A one-line progress bar on stderr, only when it is a terminal (logs stay clean)."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total, self.done, self.stream = total, 0, stream
        self.enabled = total > 0 and getattr(stream, "isatty", lambda: False)()
        self.started = time.monotonic()

    def advance(self, k: int) -> None:
        self.done += k
        if not self.enabled:
            return
        frac = self.done / self.total
        bar = "#" * int(30 * frac)
        rate = self.done / max(time.monotonic() - self.started, 1e-9)
        self.stream.write(f"\r[{bar:<30}] {self.done}/{self.total} series ({rate:.0f}/s)")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
