"""One target's forecasting cycle on arrays: align the series on the query's grid, fit one model
over all of them at once, read off the horizons and the time to exhaustion.

No I/O here, so it runs in a worker thread and is tested without Prometheus.
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass, field
from functools import partial
from typing import Callable, Mapping

import numpy as np

from promcast_common.durations import format_duration
from promcast_forecaster.anomaly.detector import DetectorSettings, detect
from promcast_forecaster.backtest import Scores, holdout_scores
from promcast_forecaster.calendar_effects import HolidayAdjusted, HolidayCalendar
from promcast_forecaster.targets import ResolvedTarget
from promcast_forecaster.limits import enforce, limits_for
from promcast_forecaster.models import (
    Capabilities,
    Forecast,
    Model,
    SeasonalNaive,
    make_model,
    model_capabilities,
)
from promcast_forecaster.models.regimes import newest_break
from promcast_forecaster.source import RawSeries
from promcast_forecaster.staleness import is_stale

log = logging.getLogger(__name__)
MIN_POINTS = 3
# A forecast (or bound) more than this many times the series' largest observed magnitude is a
# model breaking down (an overflow, a runaway trend), not a prediction: that series falls back.
PLAUSIBLE_FACTOR = 1e3


@dataclass
class SeriesForecast:
    labels: dict[str, str]
    observed: float
    mean: dict[float, float]  # horizon (s) -> point forecast
    bounds: dict[tuple[float, int], tuple[float, float]]  # (horizon, level) -> (lower, upper)
    exhaustion_seconds: float
    model: str
    reason: str = ""
    capacity: float = math.nan
    anomaly_score: float = math.nan
    expected: float = math.nan  # the anomaly detector's expected value for the observation
    backtest_mase: float = math.nan
    backtest_coverage: dict[int, float] = field(default_factory=dict)
    # When ``observed`` was sampled: the grid's end, or earlier while the newest step is late.
    observed_at: float = math.nan
    # When the series' newest regime began (a level shift or trend change); NaN: none found.
    regime_change_at: float = math.nan
    # The series' own history in seasons (NaN without a season): below two, auto borrows the
    # fleet's seasonal shape for it.
    history_seasons: float = math.nan


@dataclass
class TargetResult:
    target: ResolvedTarget
    made_at: float
    series: list[SeriesForecast] = field(default_factory=list)
    skipped: int = 0
    over_cap: int = 0  # series beyond max_series
    collided: int = 0  # series identical to another after keep_labels / drop_labels
    retired: int = 0  # series without a sample for longer than the target's staleness
    # Series not forecast yet for want of history: (labels, seconds of history still needed).
    waiting: list[tuple[dict[str, str], float]] = field(default_factory=list)
    # The whole future curve of every series, for the future-curve datasource: column k is the
    # value at curve_start + k * step (column 0 is the newest observation, so curves join the
    # actual); keys "mean", "lower-80", "upper-80", ... rows follow ``series``.
    curve_start: float = 0.0
    curves: dict[str, np.ndarray] = field(default_factory=dict)
    fitted: "FittedModel | None" = None
    refitted: bool = True
    # Why the models were chosen and fitted in this cycle ("" when they were reused): first,
    # settings, schedule (fit_every elapsed) or series (the usable series set changed).
    fit_reason: str = "first"


def output_labels(
    source: dict[str, str], target: str, keep: list[str] | None = None, drop: list[str] = ()
) -> dict[str, str]:
    """Source labels minus the metric name (and minus dropped / not kept ones), plus ``target``;
    a source label already called ``target`` is kept as ``exported_target``, as Prometheus does
    for clashing scrape labels."""
    out = {
        k: v
        for k, v in source.items()
        if k != "__name__" and k not in drop and (keep is None or k in keep)
    }
    if "target" in out:
        out["exported_target"] = out.pop("target")
    out["target"] = target
    return out


def series_hash(labels: dict[str, str]) -> int:
    """A hash of a label set that is the same in every process and release (unlike hash())."""
    text = "\xff".join(f"{k}\xfe{v}" for k, v in sorted(labels.items()))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


@dataclass
class Selection:
    """The series of a query this instance forecasts, and what it left out and why."""

    series: list[RawSeries]
    over_cap: int = 0
    collided: int = 0
    other_shards: int = 0
    retired: int = 0  # of this shard's share


def select_series(
    raw: list[RawSeries],
    target: ResolvedTarget,
    shard_index: int = 0,
    shard_count: int = 1,
    end: float | None = None,
) -> Selection:
    """Retire stopped series, relabel, drop label collisions, apply the cardinality cap, then
    keep this shard's share.

    With ``end`` (the grid's newest point), a series whose newest sample is more than the
    target's staleness before it is retired: it stopped reporting, and is neither forecast nor
    allowed to take a live series' place under the cap. The cap keeps the same series every
    cycle (lowest hashes first), and it is applied before sharding, so N shards together
    forecast exactly the series one instance would.
    """
    sel = Selection([])
    unique: dict[tuple, tuple[int, RawSeries]] = {}
    for s in raw:
        labels = output_labels(s.labels, target.name, target.keep_labels, target.drop_labels)
        if end is not None and is_stale(s.timestamps, end, target.staleness_seconds):
            sel.retired += series_hash(labels) % shard_count == shard_index
            continue
        key = tuple(sorted(labels.items()))
        if key in unique:
            sel.collided += 1
            continue
        unique[key] = (series_hash(labels), RawSeries(labels, s.timestamps, s.values))
    if sel.collided:
        log.warning(
            "series became identical after keep_labels/drop_labels; forecasting one of "
            "each (aggregate them in the query instead)",
            extra={"target": target.name, "collided": sel.collided},
        )
    ordered = sorted(unique.values(), key=lambda hs: hs[0])
    if len(ordered) > target.max_series:
        sel.over_cap = len(ordered) - target.max_series
        log.warning(
            "query returned more series than max_series; dropping the rest",
            extra={
                "target": target.name,
                "returned": len(ordered),
                "max_series": target.max_series,
                "dropped": sel.over_cap,
            },
        )
        ordered = ordered[: target.max_series]
    for h, s in ordered:
        if h % shard_count == shard_index:
            sel.series.append(s)
        else:
            sel.other_shards += 1
    return sel


# Distinct label-name sets a capacity query's series may have: each is one dict lookup per
# forecast series, so this bounds matching at (series x this) lookups whatever the query returns.
MAX_CAPACITY_LABEL_SETS = 32


class CapacityError(ValueError):
    """A capacity query's result cannot be joined to the series in bounded work."""


def match_capacity(series: list[RawSeries], capacity: list[RawSeries]) -> np.ndarray:
    """Each series' capacity from a capacity query's result: the first capacity series whose
    labels all appear, with the same values, on the series (a label-less result applies to all).

    Capacity series are indexed by their label values, one dict per set of label names, so a
    fleet's N series against M capacity series costs N lookups per label-name set plus M
    insertions, not N x M label comparisons (3,000 x 20,000 took a minute that way). More label-
    name sets than :data:`MAX_CAPACITY_LABEL_SETS` raise :class:`CapacityError`."""
    # label names -> {label values: (position in the result, capacity)}; the position keeps the
    # first matching series winning, as when the result was scanned in order.
    index: dict[tuple[str, ...], dict[tuple[str, ...], tuple[int, float]]] = {}
    for pos, cap in enumerate(capacity):
        want = {k: v for k, v in cap.labels.items() if k != "__name__"}
        value = cap.values[-1] if len(cap.values) else np.nan
        if not (np.isfinite(value) and value >= 0):
            # A negative or non-finite size is a broken capacity series, not a threshold: the
            # series it matches has no exhaustion rather than one of 0 s ("exhausted now").
            log.warning(
                "capacity series with an unusable value ignored",
                extra={"labels": want, "value": float(value)},
            )
            continue
        names = tuple(sorted(want))
        by_values = index.get(names)
        if by_values is None:
            if len(index) == MAX_CAPACITY_LABEL_SETS:
                raise CapacityError(
                    f"its series have more than {MAX_CAPACITY_LABEL_SETS} different sets of label "
                    "names; aggregate it to the labels it joins on, e.g. max by (instance, "
                    "mountpoint) (...)"
                )
            by_values = index[names] = {}
        by_values.setdefault(tuple(want[k] for k in names), (pos, float(value)))
    out = np.full(len(series), np.nan)
    for i, s in enumerate(series):
        labels = s.labels
        best = None
        for names, by_values in index.items():
            hit = by_values.get(tuple(labels.get(k) for k in names))
            if hit is not None and (best is None or hit[0] < best[0]):
                best = hit
        if best is not None:
            out[i] = best[1]
    return out


def align(series: list[RawSeries], start: float, step: float, points: int) -> np.ndarray:
    """The series as rows of a (n, points) matrix on the grid start + k*step, NaN where missing."""
    matrix = np.full((len(series), points), np.nan)
    for i, s in enumerate(series):
        idx = np.round((s.timestamps - start) / step).astype(int)
        ok = (idx >= 0) & (idx < points)
        matrix[i, idx[ok]] = s.values[ok]
    matrix[~np.isfinite(matrix)] = np.nan
    return matrix


def exhaustion_seconds(
    path: np.ndarray,
    observed: float,
    capacity: float | None,
    direction: str,
    seconds_per_step: float,
    lag: float,
) -> float:
    """Seconds from now until ``path`` (one value per future step) crosses ``capacity``;
    +Inf when it does not within the path, 0 when ``observed`` already has. NaN without a
    capacity: "never exhausted" (+Inf) would be a claim about a threshold nobody set."""
    if capacity is None:
        return math.nan
    crossed = (lambda v: v >= capacity) if direction == "above" else (lambda v: v <= capacity)
    if np.isfinite(observed) and crossed(observed):
        return 0.0
    hits = np.flatnonzero(crossed(path))
    if hits.size == 0:
        return math.inf
    return max(0.0, (hits[0] + 1) * seconds_per_step - lag)


def _spec(target: ResolvedTarget) -> tuple:
    """What a fitted model depends on besides the data: a change means a refit."""
    return (
        target.model,
        target.season_length,
        target.extra_seasons,
        tuple(target.predict_levels),
        max(target.horizon_steps),
        target.holidays,
    )


@dataclass(frozen=True)
class AnomalyMemo:
    """Anomaly scores and expected values per row, and the digest of their inputs."""

    digest: bytes
    scores: np.ndarray
    expected: np.ndarray


@dataclass
class FittedModel:
    model: object
    keys: list[tuple]  # label sets of the rows it was fitted on, in order
    fitted_at: float
    spec: tuple
    scores: Scores = field(default_factory=dict)  # the backtest at fit time, kept until a refit
    # Per row, when its newest regime began (unix seconds, NaN: no level shift or trend change
    # found), from the history at fit time: a regime change is a fact of the past, so it stays
    # until the next refit looks again.
    regime_changes: np.ndarray | None = None
    # The newest anomaly scores and a digest of what they were computed from: scoring reads the
    # whole history, and a cycle on the same grid and data (an infer cycle before the next grid
    # step, as most are at a coarse step) would compute exactly the same scores again.
    anomalies: "AnomalyMemo | None" = None

    def current(self, target: ResolvedTarget, now: float) -> bool:
        """Still good for the target: same settings and younger than its fit_every."""
        return self.spec == _spec(target) and now - self.fitted_at < target.fit_every


def fit_reason(
    fitted: FittedModel | None, target: ResolvedTarget, now: float, keys: list[tuple]
) -> str:
    """Why a cycle must choose and fit its models again; "" when the fitted ones still serve."""
    if fitted is None:
        return "first"
    if fitted.spec != _spec(target):
        return "settings"
    if now - fitted.fitted_at >= target.fit_every:
        return "schedule"
    if fitted.keys != keys:
        return "series"
    return ""


def forecast_target(
    target: ResolvedTarget,
    series: list[RawSeries],
    end: float,
    now: float,
    capacities: np.ndarray | None = None,
    fitted: FittedModel | None = None,
    backtest: bool = True,
) -> TargetResult:
    """Forecast every series (already selected, with output labels); ``end`` is the grid's
    last point; ``capacities`` gives each series its own threshold (default: the target's).

    ``fitted`` is the previous cycle's model: it is reused (updated with the new data, not
    chosen again) while it is younger than ``fit_every`` and the series are the same.
    ``backtest=False`` skips the accuracy report where nothing reads it."""
    result = TargetResult(target, now)
    start = end - (target.points - 1) * target.step
    matrix = align(series, start, target.step, target.points)
    have = np.isfinite(matrix).sum(axis=1)
    usable = have >= MIN_POINTS
    result.skipped = int((~usable).sum())
    # Waiting for history: reporting now (a point among the newest steps) but too few so far. A
    # series whose few points are all older has stopped reporting, and waits for nothing.
    recent = np.isfinite(matrix[:, -MIN_POINTS:]).any(axis=1)
    result.waiting = [
        (series[r].labels, float((MIN_POINTS - have[r]) * target.step))
        for r in np.flatnonzero(~usable & recent)
    ]
    rows = np.flatnonzero(usable)
    if rows.size == 0:
        # Nothing to fit (every series retired or without data): no fit happened, and the
        # last fitted models stay for when series come back.
        result.fitted, result.refitted, result.fit_reason = fitted, False, ""
        return result
    data = matrix[rows]
    steps = target.horizon_steps
    h = max(steps)
    keys = [tuple(sorted(series[r].labels.items())) for r in rows]
    result.fit_reason = fit_reason(fitted, target, now, keys)
    reuse = not result.fit_reason
    if result.fit_reason == "series":
        old, new = set(fitted.keys), set(keys)  # type: ignore[union-attr]
        log.info(
            "the target's series changed since its last fit; fitting again",
            extra={"target": target.name, "new": len(new - old), "gone": len(old - new)},
        )

    # Longer cycles (a week, a year) go to the models that can try them.
    several = target.extra_seasons and model_capabilities(target.model).multi_seasonal
    options = {"seasons": target.extra_seasons} if several else {}

    def build(horizon: int) -> Model:
        model = make_model(
            target.model,
            target.season_length,
            horizon=horizon,
            levels=target.predict_levels,
            **options,
        )
        return with_holidays(model, target, start, len(rows))

    model = fitted.model if reuse else build(h)
    if reuse and isinstance(model, HolidayAdjusted):
        model.at(np.full(len(rows), start))  # the grid moved since the last cycle
    result.fitted = FittedModel(
        model,
        keys,
        fitted.fitted_at if reuse else now,
        _spec(target),
        fitted.scores if reuse else {},
        # Kept across refits too: the memo's digest says whether its scores still apply.
        anomalies=fitted.anomalies if fitted is not None else None,
    )
    result.refitted = not reuse
    regimes = fitted.regime_changes if reuse else None
    if regimes is None or len(regimes) != len(rows):
        try:
            regimes = regime_change_times(data, start, target.step, target.season_length)
        except Exception as exc:  # noqa: BLE001 - the forecasts stand without it
            log.warning(
                "regime change detection failed; none published this fit",
                extra={"target": target.name, "err": repr(exc)},
            )
            regimes = np.full(len(rows), np.nan)
    result.fitted.regime_changes = regimes
    try:
        # Between refits the chosen models are only brought up to date with the new data
        # (``update``: same choice and parameters); models without it are cheap to refit.
        online = reuse and model.capabilities.online_update
        fc = (model.update(data) if online else model.fit(data)).predict(h, target.predict_levels)
        # Models that choose per series (auto) say which model and why for each row.
        names = model.row_models(len(rows))
        reasons = model.row_notes(len(rows))
    except Exception as exc:  # noqa: BLE001 - any model failure falls back, never loses the target
        log.warning(
            "model failed; using the seasonal naive fallback",
            extra={"target": target.name, "model": target.model, "err": repr(exc)},
        )
        model = SeasonalNaive(target.season_length)
        fc = model.fit(data).predict(h, target.predict_levels)
        names = [model.name] * len(rows)
        reasons = [f"fallback: {target.model} failed ({exc.__class__.__name__})"] * len(rows)
    if capacities is None:
        fixed = target.capacity if isinstance(target.capacity, (int, float)) else np.nan
        capacities = np.full(len(series), fixed, dtype=float)
    elif np.isnan(capacities[rows]).any():
        log.info(
            "series without a matching capacity: no time to exhaustion for them",
            extra={
                "target": target.name,
                "series": int(np.isnan(capacities[rows]).sum()),
                "first": series[rows[np.isnan(capacities[rows])][0]].labels,
            },
        )
    fc = _guard_rows(target, data, fc, h, names, reasons)
    bounded = partial(_bounded, target, capacities[rows])
    fc = bounded(fc, data)
    last_idx = data.shape[1] - 1 - np.argmax(np.isfinite(data)[:, ::-1], axis=1)
    observed = data[np.arange(len(rows)), last_idx]
    observed_at = start + last_idx * target.step
    result.curve_start = end
    result.curves = {
        k: np.hstack([observed[:, None], np.asarray(v)]).astype(np.float32) for k, v in fc.items()
    }
    lag = now - end
    scores, expected = anomaly_scores(
        target, data, start, last_idx, capacities[rows], result.fitted
    )
    # Models that backtest themselves (auto) report accuracy per series; the others are
    # backtested here when fitted (not after a failure: what was published is the fallback's).
    accuracy = model.backtest_scores() or result.fitted.scores
    if backtest and not accuracy and result.refitted and model is result.fitted.model:
        accuracy = result.fitted.scores = _backtest(
            target, build, model.capabilities, data, h, bounded
        )
    nan_row = np.full(len(rows), np.nan)
    first = np.argmax(np.isfinite(data), axis=1)
    seasons = (
        (data.shape[1] - first) / target.season_length if target.season_length > 1 else nan_row
    )
    for j, row in enumerate(rows):
        mean = {hz: float(fc["mean"][j, k - 1]) for hz, k in zip(target.horizons, steps)}
        bounds = {
            (hz, lv): (float(fc[f"lower-{lv}"][j, k - 1]), float(fc[f"upper-{lv}"][j, k - 1]))
            for hz, k in zip(target.horizons, steps)
            for lv in target.levels
        }
        cap = float(capacities[row])
        ex = exhaustion_seconds(
            fc["mean"][j],
            float(observed[j]),
            None if np.isnan(cap) else cap,
            target.capacity_direction,
            target.step,
            lag,
        )
        result.series.append(
            SeriesForecast(
                series[row].labels,
                float(observed[j]),
                mean,
                bounds,
                ex,
                names[j],
                reasons[j],
                cap,
                anomaly_score=float(scores[j]),
                expected=float(expected[j]),
                backtest_mase=float(accuracy.get("mase", nan_row)[j]),
                backtest_coverage={
                    lv: float(c[j])
                    for lv, c in accuracy.get("coverage", {}).items()
                    if lv in target.levels
                },
                observed_at=float(observed_at[j]),
                regime_change_at=float(regimes[j]),
                history_seasons=float(seasons[j]),
            )
        )
    return result


def regime_change_times(
    data: np.ndarray, start: float, step: float, season_length: int
) -> np.ndarray:
    """Per row of ``data`` (on the grid ``start + k * step``), when its newest regime began
    (NaN where none was found; see :func:`promcast_forecaster.models.regimes.newest_break`)."""
    idx = newest_break(data, season_length)
    return np.where(idx >= 0, start + idx * step, np.nan)


def with_holidays(model: Model, target: ResolvedTarget, start: float, rows: int) -> Model:
    """``model`` with the target's public holidays as their own day type (see
    :mod:`promcast_forecaster.calendar_effects`); ``model`` itself when the target sets none. A value at
    a grid point summarises the step before it (``..._over_time`` looks back)."""
    if target.holidays is None:
        return model
    calendar = HolidayCalendar(target.holidays, stamp="end")
    return HolidayAdjusted(model, calendar, target.step, target.season_length).at(
        np.full(rows, start)
    )


def anomaly_settings(target: ResolvedTarget) -> DetectorSettings:
    """The anomaly detector's settings for a target: its step, season and ``anomaly_*`` keys;
    the threshold is calibrated on the target's history window (at most its newest
    :data:`~promcast_forecaster.anomaly.detector.MAX_CALIBRATION_BLOCKS` blocks)."""
    return DetectorSettings(
        step=target.step,
        for_seconds=target.anomaly_for,
        series_budget=target.anomaly_budget,
        target_budget=target.anomaly_target_budget,
        min_effect=target.anomaly_min_effect,
        direction=target.anomaly_direction,
        season=target.season,
        calibration=target.history,
    )


def anomaly_scores(
    target: ResolvedTarget,
    data: np.ndarray,
    start: float,
    last_idx: np.ndarray,
    capacities: np.ndarray,
    fitted: FittedModel | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's anomaly score and expected value at its newest observation (``last_idx``),
    from the history on the grid ``start + k * step`` alone (see :mod:`promcast_forecaster.anomaly`):
    the same computation as the ``anomalies`` replay, and nothing carried between cycles, so a
    restart publishes what the running service would have.

    With ``fitted``, the scores are remembered there with a digest of everything they are
    computed from (grid, history, capacities, settings), and a later cycle with the same digest
    reuses them: the same inputs give the same scores, and scoring a fleet's whole history is
    the costliest part of a cycle. A failed scoring is not remembered."""
    h = hashlib.blake2b(digest_size=16)
    settings = anomaly_settings(target)
    h.update(repr((start, data.shape, settings, target.capacity is not None)).encode())
    h.update(np.ascontiguousarray(data).tobytes())
    h.update(np.ascontiguousarray(capacities, dtype=float).tobytes())
    digest = h.digest()
    memo = fitted.anomalies if fitted is not None else None
    if memo is not None and memo.digest == digest:
        return memo.scores, memo.expected
    ts = start + target.step * np.arange(data.shape[1])
    cap = capacities if target.capacity is not None else None
    try:
        det = detect(data, ts, settings, series_in_target=data.shape[0], capacity=cap)
    except Exception as exc:  # noqa: BLE001 - the forecasts stand without the scores
        log.warning(
            "anomaly scoring failed; no scores published this cycle",
            extra={"target": target.name, "err": repr(exc)},
        )
        nan = np.full(data.shape[0], np.nan)
        return nan, nan.copy()
    pick = (np.arange(data.shape[0]), last_idx)
    scores, expected = det.score[pick], det.expected[pick]
    if fitted is not None:
        fitted.anomalies = AnomalyMemo(digest, scores, expected)
    return scores, expected


def implausible_rows(fc: Mapping[str, np.ndarray], data: np.ndarray) -> dict[int, str]:
    """Rows of a forecast that cannot be published, with why: a non-finite value, or one beyond
    :data:`PLAUSIBLE_FACTOR` times the largest magnitude the series has shown."""
    with np.errstate(invalid="ignore", over="ignore"):
        largest = np.nanmax(np.abs(np.where(np.isfinite(data), data, np.nan)), axis=1)
        limit = PLAUSIBLE_FACTOR * np.maximum(largest, 1e-9)
        out: dict[int, str] = {}
        for key, values in fc.items():
            values = np.asarray(values, dtype=float)
            for j in np.flatnonzero(~np.isfinite(values).all(axis=1)):
                out.setdefault(int(j), f"non-finite {key}")
            beyond = np.abs(np.where(np.isfinite(values), values, 0.0)).max(axis=1) > limit
            for j in np.flatnonzero(beyond):
                out.setdefault(
                    int(j), f"{key} over {PLAUSIBLE_FACTOR:g}x the largest value observed"
                )
    return out


def _guard_rows(
    target: ResolvedTarget,
    data: np.ndarray,
    fc: Mapping[str, np.ndarray],
    h: int,
    names: list[str],
    reasons: list[str],
) -> dict[str, np.ndarray]:
    """``fc`` with each implausible row (see :func:`implausible_rows`) replaced by the seasonal
    naive fallback, its model and reason updated: one series a model cannot handle must not
    publish nonsense, and the others keep the model's forecast."""
    bad = implausible_rows(fc, data)
    if not bad:
        return dict(fc)
    rows = np.array(sorted(bad))
    fallback = SeasonalNaive(target.season_length)
    fb = fallback.fit(data[rows]).predict(h, target.predict_levels)
    out = {k: np.array(v, dtype=float) for k, v in fc.items()}
    for k in out:
        out[k][rows] = fb[k]
    for j in rows:
        reasons[j] = f"fallback: {names[j]} gave {bad[int(j)]}"
        names[j] = fallback.name
    log.warning(
        "implausible forecasts replaced by the seasonal naive fallback",
        extra={
            "target": target.name,
            "model": target.model,
            "series": len(rows),
            "first": reasons[rows[0]],
        },
    )
    return out


def _bounded(
    target: ResolvedTarget, capacities: np.ndarray, fc: Forecast, history: np.ndarray
) -> Forecast:
    """``fc`` within the target's limits (see :mod:`promcast_forecaster.limits`), judged on ``history``."""
    maximum = capacities if target.max == "capacity" else target.max
    return enforce(fc, limits_for(history, target.min, maximum))


def _backtest(
    target: ResolvedTarget,
    build: Callable[[int], Model],
    capabilities: Capabilities,
    data: np.ndarray,
    h: int,
    bounded: Callable[[Forecast, np.ndarray], Forecast],
) -> Scores:
    try:
        return holdout_scores(
            build, capabilities, data, target.season_length, h, target.levels, post=bounded
        )
    except Exception as exc:  # noqa: BLE001 - accuracy is a report; the forecast still stands
        log.warning(
            "backtest failed; no accuracy published until the next fit",
            extra={"target": target.name, "model": target.model, "err": repr(exc)},
        )
        return {}


def history_needed(
    series: list[RawSeries], target: ResolvedTarget, end: float, now: float
) -> list[tuple[dict[str, str], float]]:
    """For series that exist (e.g. an instant read at ``now``) but have no point on the target's
    grid ending at ``end`` yet: the seconds until :data:`MIN_POINTS` grid points will have
    passed, so each is forecast from then on if it keeps reporting."""
    wait = max(target.step, end + MIN_POINTS * target.step - now)
    return [(s.labels, float(wait)) for s in series]


def log_waiting(
    name: str, waiting: list[tuple[dict[str, str], float]], kind: str = "target"
) -> None:
    """One line per cycle saying which series are not forecast yet and how much longer that
    takes (a few examples: the full list is the history-needed series)."""
    if not waiting:
        return
    examples = "; ".join(
        f"{','.join(f'{k}={v}' for k, v in sorted(lab.items()) if k != 'target') or '{}'} needs "
        f"{format_duration(sec)} more"
        for lab, sec in waiting[:5]
    )
    log.warning(
        f"{kind} has series without enough history to forecast yet (at least "
        f"{MIN_POINTS} points on its step grid)",
        extra={
            "target": name,
            "series": len(waiting),
            "longest_wait_s": max(sec for _, sec in waiting),
            "examples": examples,
        },
    )
