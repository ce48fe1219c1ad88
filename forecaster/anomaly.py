"""Anomaly scores, and ``promcast-forecaster anomalies``: replay a CSV through the live scoring.

Score
    ``anomaly_score(observed, mean, lower, upper)`` is what the service publishes: the distance of
    the observation from the value forecast for that instant, in units of the half-width of the
    widest configured prediction interval on the observation's side (upper edge when the
    observation is at or above the mean, lower edge otherwise). 0 at the mean, 1 on the edge,
    above 1 outside; a zero-width side scores 0 when hit exactly and +Inf otherwise. Measuring per
    side keeps asymmetric bands honest (CPU near 0 % has a short lower side and a long upper one).

Walk-forward replay
    :func:`walk_forward` does what the service does, never looking ahead: every ``fit_every`` (the
    first grid point of each wall-clock bucket of that length, as a service started on the hour
    would) the model is refitted on the ``history`` window ending at that instant (NaN where the
    series did not exist yet, as the service's query would return), and the path up to the next
    refit is forecast with intervals. Every later observation (one per infer cycle) is scored
    against that path. Models that learn across series (``auto``, ``global_gbm``) are fitted once
    per refit instant on the rows the service would hold then, so no row can lend them another
    row's future; models that fit each row on its own (``ROW_WISE_MODELS``) fit the windows of
    many instants as rows of one vectorised call, which gives the same numbers much faster. The first ``warmup`` share of each series is not scored.

    ``alert`` follows a Prometheus rule ``score > 1`` with ``for: D``: it is 1 once the score has
    stayed above 1 for ``ceil(D / step)`` consecutive samples (15m at 5m steps = 3 samples); a
    missing sample or a score at or below 1 resets it. An alert episode is a maximal run of alert
    points. (A real rule evaluated continuously fires on the 4th such sample, 15 minutes after
    the first; counting samples keeps the replay independent of the evaluation interval.)

Method (defaults) and why
    Model ``seasonal_naive_drift`` (the service's default model, so the replay is what a default
    target publishes), scored on the widest of levels ``80,99``.

    - Intervals must be honest in the tail, because a page is a tail event. Seasonal naive's
      bands are empirical quantiles of the series' own day-over-day changes over the history
      window: asymmetric where the data is (CPU near 0 %), heavy-tailed where the data is, and a
      past burst widens them only as much as it moves a quantile. Models with normal bands from
      residual variance (``fast_hw``, ``drift``) forecast the mean better but their 99 % band is
      far too narrow for bursty metrics, so they page several times as often (measured in
      ``benchmarks/ANOMALY_RESULTS.md``).
    - The widest level drives the score, and for paging it should be 99: at one sample every 5
      minutes a calibrated 95 % band is crossed about 14 times a day by chance, and with
      autocorrelated errors three crossings in a row are common; a 99 % band crossed for 15
      minutes is rare unless the series really left its usual range. The service scores on
      ``max(levels)`` of the target, so a target meant to page should configure ``levels: [80,
      99]`` (the service's built-in default is 80,95; then ``--levels 80,95`` replays it).
    - Measured on 17 real cloud-monitoring series (benchmarks/ANOMALY_RESULTS.md): 11/30 labelled
      windows with 15 false pages, against 11/30 with 42 for a rolling 3-sigma band; at 95 % the
      same model catches 18/30 but pages 99 times. Known weakness: seasonal naive forecasts
      yesterday's incident again today, so an incident can page once more a day later.
    - The score itself is the service's definition, unchanged; no smoothing or extra rule is
      applied here that the service would not apply, so what the replay flags is what Prometheus
      would have alerted on.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from exporter.core.durations import format_duration, parse_duration

log = logging.getLogger(__name__)

DEFAULT_MODEL = "seasonal_naive_drift"
DEFAULT_LEVELS: tuple[int, ...] = (80, 99)
DEFAULT_FIT_EVERY = 3600.0
DEFAULT_HISTORY = 7 * 86400.0
DEFAULT_SEASON = 86400.0
DEFAULT_FOR = 900.0
DEFAULT_WARMUP = 0.15
# Models whose fit treats every row on its own: refits at different instants can then share one
# vectorised fit (rows never see each other). Any other model (auto, global_gbm learn across
# rows) is fitted per refit instant on exactly the rows the service would hold at that moment.
ROW_WISE_MODELS = frozenset({"seasonal_naive", "seasonal_naive_drift", "drift",
                             "prom_holt_winters", "fast_hw"})
ROW_CHUNK = 256  # rows per vectorised fit: bounds memory at history_points x 256 floats
MIN_HISTORY_POINTS = 3  # as the engine: fewer finite points than this and a series is not forecast
OUTPUT_COLUMNS = ("series_id", "timestamp", "value", "expected", "lower", "upper", "score", "alert")


def anomaly_score(observed: Any, mean: Any, lower: Any, upper: Any) -> np.ndarray:
    """Distance of ``observed`` from ``mean`` in half-widths of the interval side it falls on.

    All arguments broadcast; NaN anywhere gives NaN (no forecast, no score).
    """
    obs, mu = np.asarray(observed, dtype=float), np.asarray(mean, dtype=float)
    lo, hi = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    edge = np.where(obs >= mu, hi, lo)
    width = np.abs(edge - mu)
    gap = np.abs(obs - mu)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(width > 0, gap / width, np.where(gap == 0, 0.0, np.inf))
    # np.where above drops NaN propagation through the comparison branches; restore it.
    missing = np.isnan(obs) | np.isnan(mu) | np.isnan(edge)
    return np.where(missing, np.nan, score)


def alert_points(score: np.ndarray, for_points: int) -> np.ndarray:
    """1 where ``score > 1`` has held for ``for_points`` consecutive samples (NaN resets)."""
    above = np.nan_to_num(np.asarray(score, dtype=float), nan=0.0) > 1
    # Length of the current run of True values: index minus the index of the last False.
    idx = np.arange(above.size)
    last_false = np.maximum.accumulate(np.where(above, -1, idx))
    run = np.where(above, idx - last_false, 0)
    return (run >= max(1, int(for_points))).astype(np.int8)


def episodes(alert: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of every maximal run of alert points."""
    a = np.r_[0, np.asarray(alert, dtype=np.int8), 0]
    d = np.diff(a)
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1))


def for_points(for_seconds: float, step: float) -> int:
    """Consecutive samples a ``for:`` duration needs at one sample per ``step``."""
    return max(1, math.ceil(for_seconds / step - 1e-9))


@dataclass
class Settings:
    """Walk-forward settings in seconds (``step`` is the series' sample interval)."""

    step: float
    model: str = DEFAULT_MODEL
    fit_every: float = DEFAULT_FIT_EVERY
    history: float = DEFAULT_HISTORY
    season: float = DEFAULT_SEASON
    levels: tuple[int, ...] = DEFAULT_LEVELS
    for_seconds: float = DEFAULT_FOR
    warmup: float = DEFAULT_WARMUP
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def history_points(self) -> int:
        return int(self.history // self.step) + 1  # as the service's query grid

    @property
    def season_length(self) -> int:
        per = self.season / self.step
        return int(round(per)) if per >= 2 and abs(per - round(per)) < 1e-6 else 1

    @property
    def score_level(self) -> int:
        return max(self.levels)


@dataclass
class Scored:
    """One series' replay; arrays cover every grid point, NaN where not scored."""

    series_id: str
    timestamps: np.ndarray
    values: np.ndarray
    expected: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    score: np.ndarray
    alert: np.ndarray
    first_scored: int
    model: str = ""
    note: str = ""
    error: str = ""

    @property
    def scored(self) -> np.ndarray:
        """Indices of points that are scored (after warm-up, with an observation)."""
        idx = np.arange(self.first_scored, self.values.size)
        return idx[np.isfinite(self.values[idx])]


def refit_origins(timestamps: np.ndarray, first_scored: int, fit_every: float) -> np.ndarray:
    """Indices at which the service refits: the point before the first scored one, then the first
    point of each later wall-clock bucket of ``fit_every`` seconds."""
    bucket = np.floor(np.asarray(timestamps, dtype=float) / fit_every + 1e-9)
    new = np.flatnonzero(np.r_[False, bucket[1:] != bucket[:-1]])
    start = first_scored - 1
    later = new[(new > start) & (new < timestamps.size - 1)]
    return np.r_[start, later].astype(np.int64)


def walk_forward(
    series: Sequence[tuple[str, np.ndarray, np.ndarray]],
    settings: Settings,
    progress: Callable[[int], None] | None = None,
) -> list[Scored]:
    """Replay each ``(series_id, timestamps, values)`` (one regular grid per series, NaN for gaps)
    through the service's refit-and-score loop; a series that cannot be replayed comes back with
    ``error`` set and the others are unaffected."""
    levels = tuple(sorted(int(lv) for lv in settings.levels))
    lvl = settings.score_level
    out: list[Scored] = []
    rows: dict[float, list[tuple[int, int, int]]] = {}  # refit instant -> (series, origin, stop)
    for s_idx, (sid, ts, vals) in enumerate(series):
        ts, vals = np.asarray(ts, dtype=float), np.asarray(vals, dtype=float)
        n = vals.size
        first = min(n, max(MIN_HISTORY_POINTS, math.ceil(settings.warmup * n)))
        nan = np.full(n, np.nan)
        rec = Scored(sid, ts, vals, nan.copy(), nan.copy(), nan.copy(), nan.copy(),
                     np.zeros(n, dtype=np.int8), first)
        out.append(rec)
        if first >= n:
            rec.error = f"too short: {n} points leave nothing to score after warm-up"
            continue
        if np.isfinite(vals[:first]).sum() < MIN_HISTORY_POINTS:
            rec.error = f"fewer than {MIN_HISTORY_POINTS} finite points before the first score"
            continue
        origins = refit_origins(ts, first, settings.fit_every)
        stops = np.r_[origins[1:], n - 1]
        for o, stop in zip(origins, stops):
            rows.setdefault(float(ts[o]), []).append((s_idx, int(o), int(stop)))

    # A series is finished once its last refit instant is replayed: progress counts series.
    last_instant = {s: t for t in sorted(rows) for s, _, _ in rows[t]}
    finishing: dict[float, int] = {}
    for t in last_instant.values():
        finishing[t] = finishing.get(t, 0) + 1
    if progress is not None:
        progress(len(out) - len(last_instant))
    failed_models: dict[int, str] = {}
    if settings.model in ROW_WISE_MODELS:
        batches = [(t, r) for t in sorted(rows) for r in rows[t]]
        for a in range(0, len(batches), ROW_CHUNK):
            chunk = batches[a:a + ROW_CHUNK]
            _forecast_group([r for _, r in chunk], out, settings, levels, lvl, failed_models)
            if progress is not None:
                progress(sum(finishing.pop(t, 0) for t in {t for t, _ in chunk}))
    else:
        for instant in sorted(rows):
            _forecast_group(rows[instant], out, settings, levels, lvl, failed_models)
            if progress is not None and instant in finishing:
                progress(finishing[instant])
    for s_idx, rec in enumerate(out):
        if rec.error:
            continue
        if s_idx in failed_models:
            rec.note = failed_models[s_idx]
        rec.score[:rec.first_scored] = np.nan
        rec.score[~np.isfinite(rec.values)] = np.nan
        rec.alert = alert_points(rec.score, for_points(settings.for_seconds, settings.step))
        rec.alert[:rec.first_scored] = 0
        rec.model = rec.model or settings.model
    return out


def _forecast_group(
    group: list[tuple[int, int, int]], out: list[Scored], settings: Settings,
    levels: tuple[int, ...], lvl: int, failed_models: dict[int, str],
) -> None:
    width = settings.history_points
    mat = np.full((len(group), width), np.nan)
    for r, (s_idx, o, _) in enumerate(group):
        window = out[s_idx].values[max(0, o - width + 1): o + 1]
        mat[r, width - window.size:] = window
    # As the engine: a window with too few samples (a long outage) is not forecast, so the points
    # until the next refit stay unscored instead of failing the batch.
    usable = np.isfinite(mat).sum(axis=1) >= MIN_HISTORY_POINTS
    if not usable.all():
        group = [g for g, ok in zip(group, usable) if ok]
        mat = mat[usable]
        if not group:
            return
    h = max(stop - o for _, o, stop in group)
    fc = _fit_predict(mat, settings, h, levels)
    if fc is None and len(group) > 1:
        # One series broke the fleet's fit: the service would fall back for the whole target,
        # but here each series is replayed on its own so one bad row cannot change the others.
        by_series: dict[int, list[tuple[int, int, int]]] = {}
        for item in group:
            by_series.setdefault(item[0], []).append(item)
        if len(by_series) > 1:
            for items in by_series.values():
                _forecast_group(items, out, settings, levels, lvl, failed_models)
            return
        for item in group:
            _forecast_group([item], out, settings, levels, lvl, failed_models)
        return
    if fc is None:
        s_idx = group[0][0]
        fc = _fit_predict(mat, settings, h, levels, name="seasonal_naive")
        failed_models[s_idx] = f"{settings.model} failed at some refits; seasonal naive used there"
        if fc is None:
            out[s_idx].error = "even seasonal naive failed on this series"
            return
    for r, (s_idx, o, stop) in enumerate(group):
        rec = out[s_idx]
        k = stop - o
        sl = slice(o + 1, stop + 1)
        rec.expected[sl] = fc["mean"][r, :k]
        rec.lower[sl] = fc[f"lower-{lvl}"][r, :k]
        rec.upper[sl] = fc[f"upper-{lvl}"][r, :k]
        rec.score[sl] = anomaly_score(rec.values[sl], rec.expected[sl], rec.lower[sl], rec.upper[sl])


def _fit_predict(mat: np.ndarray, settings: Settings, h: int, levels: tuple[int, ...],
                 name: str | None = None) -> dict[str, np.ndarray] | None:
    from .models import make_model

    name = name or settings.model
    try:
        # Built exactly as the engine builds it, so the replay scores what the service publishes.
        model = make_model(name, settings.season_length, **settings.options)
        fc = model.fit(mat).predict(h, levels)
        fc = {k: np.atleast_2d(np.asarray(v, dtype=float)) for k, v in fc.items()}
    except Exception as exc:  # noqa: BLE001 - any model failure is isolated by the caller
        log.debug("model failed on a refit", extra={"model": name, "rows": mat.shape[0],
                                                   "err": repr(exc)})
        return None
    if not np.isfinite(fc["mean"]).any():
        return None  # a model that returns nothing usable has failed, as if it had raised
    return fc


# -- CLI -----------------------------------------------------------------------------------------
def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "anomalies",
        help="replay a CSV of series through the service's anomaly scoring (no Prometheus)",
        description="Score every observation of each series against the forecast the service "
                    "would have made for it (refit every --fit-every on the --history before), and "
                    "mark where an alert 'score > 1 for --for' would have fired.",
    )
    p.add_argument("--input", required=True, help="long CSV with columns series_id,timestamp,value")
    p.add_argument("--out", default="-", help="output CSV path (default: stdout)")
    p.add_argument("--step", default=None, help="sample interval, e.g. 5m (default: inferred)")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"model name (default {DEFAULT_MODEL})")
    p.add_argument("--fit-every", default="1h", help="refit interval (default 1h)")
    p.add_argument("--history", default="7d", help="history each fit sees (default 7d)")
    p.add_argument("--season", default="1d", help="season length (default 1d)")
    p.add_argument("--levels", default=",".join(map(str, DEFAULT_LEVELS)),
                   help="interval levels in percent; the widest drives the score "
                        f"(default {','.join(map(str, DEFAULT_LEVELS))})")
    p.add_argument("--for", dest="for_", default="15m",
                   help="how long score > 1 must hold before alerting (default 15m)")
    p.add_argument("--warmup", type=float, default=DEFAULT_WARMUP,
                   help="leading share of each series not scored (default 0.15)")
    p.add_argument("--max-points", type=int, default=1_000_000, help="newest points kept per series")
    p.set_defaults(func=run)


def _durations(args: argparse.Namespace) -> dict[str, float]:
    from .offline import UsageError

    out = {}
    for flag, attr in (("--fit-every", "fit_every"), ("--history", "history"),
                       ("--season", "season"), ("--for", "for_")):
        try:
            out[attr] = parse_duration(getattr(args, attr))
        except ValueError as exc:
            raise UsageError(f"{flag}: {exc}") from exc
        if attr != "for_" and out[attr] <= 0:
            raise UsageError(f"{flag} must be positive")
    if not 0 <= args.warmup < 1:
        raise UsageError(f"--warmup must be a share in [0, 1), got {args.warmup}")
    if args.max_points < MIN_HISTORY_POINTS:
        raise UsageError(f"--max-points must be at least {MIN_HISTORY_POINTS}")
    return out


def settings_from_args(args: argparse.Namespace, step: float, levels: Sequence[int]) -> Settings:
    d = _durations(args)
    return Settings(step=step, model=args.model, fit_every=max(d["fit_every"], step),
                    history=d["history"], season=d["season"], levels=tuple(levels),
                    for_seconds=d["for_"], warmup=args.warmup)


def run(args: argparse.Namespace) -> int:
    # The CSV helpers are the offline CLI's, so both commands read the same files the same way.
    from .models import make_model
    from .offline import UsageError, _parse_levels, _Progress, _read_csv, _step_seconds, _to_series

    started = time.monotonic()
    try:
        levels = _parse_levels(args.levels)
        _durations(args)  # argument errors before the (possibly large) file is read
        raw = _read_csv(args.input)
        step = _step_seconds(args.step, raw)
        settings = settings_from_args(args, step, levels)
        make_model(settings.model, settings.season_length)  # unknown name: usage error
        grids, bad = _to_series(raw, step, args.max_points)
    except (UsageError, ValueError) as exc:
        print(f"promcast-forecaster anomalies: error: {exc}", file=sys.stderr)
        return 2

    series = [(g.series_id, g.last_ts - step * np.arange(g.values.size)[::-1], g.values)
              for g in grids]
    progress = _Progress(len(series), sys.stderr)
    results = walk_forward(series, settings, progress=progress.advance)
    progress.close()
    for sid, reason in bad.items():
        results.append(Scored(sid, *([np.empty(0)] * 6), np.empty(0, dtype=np.int8), 0,
                              error=reason))
    try:
        points = write_scores(args.out, results, raw["iso"])
    except OSError as exc:
        print(f"promcast-forecaster anomalies: error: cannot write {args.out}: {exc}",
              file=sys.stderr)
        return 2
    _report(results, points, settings, time.monotonic() - started, args.out)
    ok = [r for r in results if not r.error]
    return 0 if ok else 1


def write_scores(path: str, results: Sequence[Scored], iso: bool) -> int:
    """Write the scored points as CSV (``OUTPUT_COLUMNS``); returns the number of rows."""
    from .offline import _format_ts, csv_output

    rows = 0
    with csv_output(path, OUTPUT_COLUMNS) as writer:
        for rec in results:
            if rec.error:
                continue
            for i in rec.scored:
                writer.writerow([rec.series_id, _format_ts(rec.timestamps[i], iso),
                                 f"{rec.values[i]:.6g}", f"{rec.expected[i]:.6g}",
                                 f"{rec.lower[i]:.6g}", f"{rec.upper[i]:.6g}",
                                 f"{rec.score[i]:.4g}", int(rec.alert[i])])
                rows += 1
    return rows


def _report(results: Sequence[Scored], points: int, settings: Settings, elapsed: float,
            out: str) -> None:
    failed = [r for r in results if r.error]
    for r in sorted(failed, key=lambda r: r.series_id)[:20]:
        print(f"series {r.series_id}: skipped: {r.error}", file=sys.stderr)
        # Info, not warning: the line above already tells the user; this is for log collectors.
        log.info("series skipped", extra={"series_id": r.series_id, "reason": r.error})
    if len(failed) > 20:
        print(f"... and {len(failed) - 20} more skipped series", file=sys.stderr)
    for r in results:
        if r.note and not r.error:
            print(f"series {r.series_id}: {r.note}", file=sys.stderr)
    n_ep = sum(len(episodes(r.alert[r.first_scored:])) for r in results if not r.error)
    print(
        f"anomalies: {len(results) - len(failed)} series, {points} points scored, {n_ep} alert "
        f"episodes (score > 1 for {format_duration(settings.for_seconds)}), {len(failed)} skipped, "
        f"model {settings.model}, in {elapsed:.1f}s -> {'stdout' if out == '-' else out}",
        file=sys.stderr,
    )
