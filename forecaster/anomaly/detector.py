"""The anomaly detector: one causal computation over a window of history, shared by the service
(which publishes the newest column) and the replay (which keeps every column). The method and
why the budget holds are in docs/anomalies.md; in short, for every point ``t`` of a series,
using only points up to ``t``:

1. **Expected values**: the median of the previous ``reference`` seconds (the recent level) and,
   with a season, the median of the last :data:`SEASONS` seasons at the same phase moved to the
   recent level. Two passes: the first finds incidents (where the rule would have fired, for as
   long as the series, the median of its last ``level_window`` or its mean deviation over the
   noise window stays away from what was expected before each began, until it has been back
   for a window, at most :data:`MAX_INCIDENT`); in the second, incident points are replaced by
   that expected value in the references and left out of the calibration, so an incident
   shapes neither the baseline later points are judged by nor the threshold. A series with no
   incident needs no second pass (looking both ways, it would score the same).
2. **Deviation** in the target's direction: ``up``, ``down`` or ``both`` (absolute value), of
   three statistics: each sample (the **spike**), the median of the last ``level_window``
   against the expected value before it (the **sustained** statistic: a shift too small for
   single samples), and, against the last reference only, the mean deviation over the last
   :attr:`DetectorSettings.noise_points` samples minus its mean over the day before (the
   **noise** statistic: a spell of bursts each too short for the ``for:``).
3. **The ``for:`` statistic**: the smallest deviation over the last :func:`for_points` samples;
   the rule fires exactly when it exceeds the threshold.
4. **Threshold from the page budget**: the level that a wall-clock block's maximum of the
   statistic exceeds with probability ``p = share * block / 30 days``, the budget shared equally
   between the statistic-reference pairs, from the blocks of the previous ``calibration``
   seconds, at most the newest :data:`MAX_CALIBRATION_BLOCKS` (hours for the spike; for the smooth sustained and noise statistics, blocks of
   :data:`LEVEL_BLOCK_SPANS` times the span they depend on): empirical up to the top
   :data:`TAIL_SHARE`, a generalised Pareto tail beyond (probability weighted moments, the
   shape taken :data:`SHAPE_MARGIN` standard errors heavier than fitted, plus ``1/k`` for the
   scale estimated from ``k`` excesses: the predictive quantile, so a short calibration is not
   crossed more often than a long one). Every chance page
   starts in a block where one pair's maximum exceeds its threshold, so expected chance pages
   per 30 days <= sum over pairs of (blocks per 30 days) * p = budget, whatever the step, the
   error distribution, bursts, autocorrelation or the ``for:``.
5. **Minimum effect**: the deviation must also be ``min_effect`` times the series' usual range
   (high block maxima minus low block minima over the calibration window) or its capacity.

The published score is ``min(statistic / threshold, |deviation| / minimum effect)`` clipped at 0,
from the pair that scores highest: above 1 means "page", so the rule stays ``score > 1`` held
for ``for:``. Once the rule has fired in an incident, the incident's later samples score at
least :data:`HELD_SCORE`: one incident, one page. Before ``cold_start`` seconds of blocks (and
the reference window) the score is NaN: no page on too little history. Nothing is carried
between calls, so a restarted service recomputes the same scores and cannot page by itself.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

DAY = 86400.0
BUDGET_PERIOD = 30 * DAY
Direction = Literal["up", "down", "both"]
# Share of the block maxima above which the tail is modelled: the top fifth carries enough points
# (~34 in a week of hourly blocks) to estimate a scale and a shape, and is still tail.
TAIL_SHARE = 0.2
# The tail's shape is kept in [0, 1]: below 0 (a bounded tail) would trust the largest maxima
# seen to be the largest possible; at 1 the tail has no mean, as heavy as a threshold can use.
SHAPE_RANGE = (0.0, 1.0)
# Standard errors added to the fitted shape: a threshold set too low costs far more pages than
# one as much too high saves (measured on heavy-tailed noise: docs/anomalies.md).
SHAPE_MARGIN = 1.0
MAX_INCIDENT = 6 * 3600.0  # longest an incident is kept out of the reference
HELD_SCORE = 1.001  # the score of an incident's samples after it paged: still firing
SEASONS = 3  # the seasonal reference is the median of this many past seasons at the same phase
# The sustained statistic's blocks span this many of its own spans (two windows: the recent one
# and the baseline before it), so a block's maximum barely depends on the previous block's.
LEVEL_BLOCK_SPANS = 1.5
# The noise statistic averages at least this many samples: a mean of two hourly samples moves
# with every single burst, which the spike statistic already sees.
NOISE_MIN_POINTS = 3
# The noise statistic's baseline: the mean deviation over this much past (a whole day, so the
# quiet night and the busy afternoon both count in what is usual).
NOISE_BASELINE = DAY
NOISE_MIN_BLOCKS = 48  # the noise statistic's blocks needed in the calibration window
ROW_CHUNK = 256  # rows computed together at most
# Values in one chunk's calibration windows (rows x blocks x calibration blocks) at most: a
# window array is sorted and copied a few times, and with a block per step and the whole
# history as calibration (the service at a 1 h step) it grows with the square of the history,
# so a fixed row count let 256 rows of 28 days take 4.5 GB. 2**25 values are 256 MiB a copy.
MAX_WINDOW_VALUES = 1 << 25
# Calibration blocks kept at most (the newest ones): a tail fit needs tens to a few hundred block
# maxima, and its top fifth (67 here) already pins a generalised Pareto scale and shape; more only
# cost. Uncapped, a year of history at a 1 h step made every block's window 8,760 maxima, 77M
# values a row, and the cost grew with the square of the history. Two weeks of hourly blocks,
# so the default week of history is calibrated exactly as before.
MAX_CALIBRATION_BLOCKS = 336


@dataclass(frozen=True)
class DetectorSettings:
    """What the detector needs to know about a target, in seconds and shares."""

    step: float
    for_seconds: float = 900.0
    series_budget: float = 0.5  # chance pages per 30 days per series
    target_budget: float = 12.0  # chance pages per 30 days across the target
    min_effect: float = 0.1  # share of the usual range (or of the capacity)
    direction: Direction = "both"
    # The recent level is the median of this much past. Two hours (twice the sustained window)
    # caught 4 more NAB windows but paged 67% more often on the Bitbrains VMs at 5m, a fleet not
    # used in development (benchmarks/ANOMALY_RESULTS.md): one hour is kept.
    reference: float = 3600.0
    season: float = DAY  # 0 for none; the seasonal reference needs SEASONS of them
    block: float = 3600.0  # calibration block (at least one step)
    calibration: float = 7 * DAY  # how much past the threshold is calibrated on
    cold_start: float = 2 * DAY  # blocks needed before any score
    level_window: float = 3600.0  # the sustained statistic's window; 0 for none

    @property
    def for_points(self) -> int:
        return for_points(self.for_seconds, self.step)

    @property
    def reference_points(self) -> int:
        return max(3, int(round(self.reference / self.step)))

    @property
    def season_points(self) -> int:
        per = self.season / self.step if self.season else 0
        return int(round(per)) if per >= 2 and abs(per - round(per)) < 1e-6 else 0

    @property
    def block_seconds(self) -> float:
        return max(self.block, self.step)

    @property
    def calibration_blocks(self) -> int:
        return calibration_blocks(self.calibration, self.block_seconds)

    @property
    def cold_start_blocks(self) -> int:
        return max(8, math.ceil(self.cold_start / self.block_seconds))

    @property
    def level_points(self) -> int:
        """Samples in the sustained statistic's window (0: no sustained statistic)."""
        if not self.level_window:
            return 0
        return max(2, int(round(self.level_window / self.step)))

    @property
    def noise_points(self) -> int:
        """Samples in the noise statistic's window; 0 for none: it goes with the sustained
        statistic, only where the ``for:`` spans several samples (with one, the spike
        statistic already sees every burst) but no more than the window, and only where the calibration holds
        :data:`NOISE_MIN_BLOCKS` of its blocks (at a 1h step its blocks are 9 hours, 18 in a
        week: too few maxima for its tail, measured to page above the budget)."""
        w = max(NOISE_MIN_POINTS, self.level_points)
        # A for: longer than the window (3h at 5m) cannot be met within it.
        if not self.level_points or not 2 <= self.for_points <= w:
            return 0
        block = max(self.block_seconds, LEVEL_BLOCK_SPANS * 2 * w * self.step)
        return w if self.calibration // block >= NOISE_MIN_BLOCKS else 0

    @property
    def noise_block_seconds(self) -> float:
        """The noise statistic's calibration block, as the sustained statistic's."""
        return max(self.block_seconds, LEVEL_BLOCK_SPANS * 2 * self.noise_points * self.step)

    @property
    def level_block_seconds(self) -> float:
        """The sustained statistic's calibration block: LEVEL_BLOCK_SPANS times the span of
        samples one value of it depends on, so neighbouring blocks' maxima are nearly
        independent."""
        return max(self.block_seconds, LEVEL_BLOCK_SPANS * 2 * self.level_points * self.step)

    def budget(self, series: int) -> float:
        """Chance pages per 30 days allowed to one of ``series`` series of a target."""
        return min(self.series_budget, self.target_budget / max(1, series))

    def history_needed(self) -> float:
        """Seconds of history before the first score: the reference window, the ``for:`` and
        the cold start's blocks (documented per step in docs/anomalies.md)."""
        return (
            self.reference_points + self.for_points
        ) * self.step + self.cold_start_blocks * self.block_seconds


@dataclass
class Detection:
    """Per point of the input matrix (rows = series): NaN where not scored."""

    expected: np.ndarray
    score: np.ndarray
    threshold: np.ndarray
    min_effect: np.ndarray


def calibration_blocks(calibration: float, block: float) -> int:
    """Blocks of ``block`` seconds a threshold is calibrated on: those in ``calibration``, at
    most :data:`MAX_CALIBRATION_BLOCKS` (the newest), at least one."""
    return int(min(MAX_CALIBRATION_BLOCKS, max(1, calibration // block)))


def for_points(for_seconds: float, step: float) -> int:
    """Consecutive samples above 1 that make a Prometheus rule with this ``for:`` fire, at one
    sample per ``step``: the alert becomes pending at the first and fires once it has been
    pending for the whole duration, i.e. at the sample ``for:`` after the first (15m at 5m:
    the 4th; at 1h steps one sample already spans 15m)."""
    return int(math.floor(for_seconds / step + 1e-9)) + 1


def alert_points(score: np.ndarray, points: int) -> np.ndarray:
    """1 where ``score > 1`` has held for ``points`` consecutive samples (NaN resets), along the
    last axis, as a Prometheus rule ``score > 1`` with ``for:`` does."""
    above = np.nan_to_num(np.asarray(score, dtype=float), nan=0.0) > 1
    idx = np.broadcast_to(np.arange(above.shape[-1]), above.shape)
    last_false = np.maximum.accumulate(np.where(above, -1, idx), axis=-1)
    run = np.where(above, idx - last_false, 0)
    return (run >= max(1, int(points))).astype(np.int8)


def episodes(alert: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of every maximal run of alert points of one series."""
    a = np.r_[0, np.asarray(alert, dtype=np.int8), 0]
    d = np.diff(a)
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1))


def detect(
    values: np.ndarray,
    timestamps: np.ndarray,
    settings: DetectorSettings,
    series_in_target: int | None = None,
    capacity: np.ndarray | None = None,
) -> Detection:
    """Score every point of ``values`` (rows = series on the shared grid ``timestamps``, NaN for
    missing samples). ``series_in_target`` shares the target's budget (default: the rows given);
    ``capacity`` (one per row, NaN for none) replaces the usual range in the minimum effect."""
    x = np.atleast_2d(np.asarray(values, dtype=float))
    x = np.where(np.isfinite(x), x, np.nan)
    ts = np.asarray(timestamps, dtype=float)
    n = x.shape[0]
    cap = np.full(n, np.nan) if capacity is None else np.asarray(capacity, dtype=float)
    budget = settings.budget(series_in_target or n)
    rows = row_chunk(ts, settings)
    parts = [
        _detect_rows(x[a : a + rows], ts, settings, budget, cap[a : a + rows])
        for a in range(0, n, rows)
    ]
    return Detection(
        *(
            np.vstack([getattr(d, f) for d in parts]) if parts else np.empty((0, ts.size))
            for f in ("expected", "score", "threshold", "min_effect")
        )
    )


def statistic_scores(
    values: np.ndarray,
    timestamps: np.ndarray,
    settings: DetectorSettings,
    series_in_target: int | None = None,
) -> dict[str, np.ndarray]:
    """The final pass's score of every statistic-reference pair (``"spike/level"``, ...) for
    ``values`` (rows = series), before the incident hold: which statistic sees an event, for
    diagnosis (benchmarks/anomaly_misses.py). Same causal computation as :func:`detect`."""
    x = np.atleast_2d(np.asarray(values, dtype=float))
    x = np.where(np.isfinite(x), x, np.nan)
    ts = np.asarray(timestamps, dtype=float)
    out: dict[str, np.ndarray] = {}
    budget = settings.budget(series_in_target or x.shape[0])
    _detect_rows(x, ts, settings, budget, np.full(x.shape[0], np.nan), out)
    return out


def row_chunk(timestamps: np.ndarray, settings: DetectorSettings) -> int:
    """Rows scored together: as many as keep one chunk's calibration windows (blocks x
    calibration blocks per row) within :data:`MAX_WINDOW_VALUES`, at most :data:`ROW_CHUNK`,
    at least one. Rows are scored independently, so the chunking never changes a score."""
    blocks = max(1, _block_starts(np.asarray(timestamps, dtype=float), settings.block_seconds).size)
    per_row = blocks * settings.calibration_blocks
    return int(min(ROW_CHUNK, max(1, MAX_WINDOW_VALUES // per_row)))


def _detect_rows(
    x: np.ndarray,
    ts: np.ndarray,
    s: DetectorSettings,
    budget: float,
    cap: np.ndarray,
    named: dict[str, np.ndarray] | None = None,
) -> Detection:
    blocks = _block_starts(ts, s.block_seconds)
    effect = s.min_effect * np.where(
        (np.isfinite(cap) & (cap > 0))[:, None],
        cap[:, None],
        _usual_range(x, blocks, s.calibration_blocks),
    )
    # The first pass looks both ways whatever the target's direction: the end of a dip is a
    # rise against a reference that followed the dip, and must not page an "up" target.
    first, bars = _score(x, x, ts, replace(s, direction="both"), budget, effect)
    flagged, held = _incidents(x, first, bars, s)
    # Incident points are replaced by the value expected before the incident began in the
    # reference of the second pass, and leave its calibration sample: an incident shapes
    # neither the baseline later points are judged by nor the threshold they must cross.
    masked = np.where(flagged & np.isfinite(held), held, x)
    # A series without an incident scores in the second pass exactly as in the first when
    # both look both ways (nothing masked, nothing left out): most of a healthy fleet needs
    # one pass.
    redo = flagged.any(axis=1) if s.direction == "both" and named is None else np.ones(len(x), bool)
    if not redo.any():
        return first
    final = _score(x[redo], masked[redo], ts, s, budget, effect[redo], flagged[redo], named)[0]
    final.score = _hold_paged_incidents(final.score, flagged[redo], s.for_points)
    if redo.all():
        return final
    for f in ("expected", "score", "threshold", "min_effect"):
        getattr(first, f)[redo] = getattr(final, f)
    return first


def _hold_paged_incidents(score: np.ndarray, incident: np.ndarray, points: int) -> np.ndarray:
    """The score kept above 1 on an incident's samples once the rule has fired in it.

    A deviation near the threshold flickers across it; each flicker would be a new page for
    the same incident. Keeping the alert firing while the incident lasts (until the series has
    been back for a window, at most :data:`MAX_INCIDENT`) makes one incident one page; it adds
    no page, since the hold starts only where the rule already fired, so the budget argument
    is untouched. The price: the alert resolves a window after the series is back."""
    t = score.shape[1]
    idx = np.broadcast_to(np.arange(t), score.shape)
    fired = alert_points(score, points).astype(bool) & incident
    starts = incident & ~np.pad(incident, ((0, 0), (1, 0)))[:, :-1]
    run_start = np.maximum.accumulate(np.where(starts, idx, -1), axis=1)
    last_fired = np.maximum.accumulate(np.where(fired, idx, -1), axis=1)
    hold = incident & (last_fired >= run_start) & (run_start >= 0) & np.isfinite(score)
    return np.where(hold, np.maximum(score, HELD_SCORE), score)


def _incidents(
    x: np.ndarray, first: Detection, bars: _Bars, s: DetectorSettings
) -> tuple[np.ndarray, np.ndarray]:
    """Points belonging to an incident, and the value expected when each incident began.

    An incident starts with a run that alerted in the first pass and lasts while the series
    stays away from the value expected at its start, at most :data:`MAX_INCIDENT` seconds
    (after that the new level is the series' normal): a point beyond the spike threshold (and
    minimum effect), the sustained statistic's window beyond its own threshold, so a level
    shift too small for single points stays one incident until the level is back, or the noise
    statistic beyond its own, so a noisy spell stays one incident until it calms down."""
    # From the sample the first pass alerted at: flagging the run's earlier samples too would
    # look ahead (at those instants the alert had not fired yet), and the replay would differ
    # from the service.
    alerted = alert_points(first.score, s.for_points).astype(bool)
    starts = alerted & ~_previous(alerted)
    inside = _incident_extent(x, first, bars, s, starts)[0]
    # An alert that begins while an incident is still going on (its return to normal alerting
    # against a first-pass reference that followed the incident) belongs to that incident.
    starts &= ~_previous(inside)
    inside, held = _incident_extent(x, first, bars, s, starts)
    return inside | alerted, held


def _previous(flag: np.ndarray) -> np.ndarray:
    return np.pad(flag, ((0, 0), (1, 0)))[:, :-1]


def _incident_extent(
    x: np.ndarray,
    first: Detection,
    bars: _Bars,
    s: DetectorSettings,
    starts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The samples of the incidents that begin at ``starts``, and each one's held value."""
    n, t = x.shape
    idx = np.broadcast_to(np.arange(t), (n, t))
    origin = np.maximum.accumulate(np.where(starts, idx, -1), axis=1)
    at_start = np.maximum(origin, 0)
    # The value expected before the deviation began: the alert fired after the for: samples,
    # and the sustained statistic after up to a window of shifted samples, which the recent
    # reference at the firing sample has already partly absorbed.
    before = np.maximum(origin - (s.for_points - 1) - s.level_points, 0)
    held = np.where(origin >= 0, np.take_along_axis(bars.anchor, before, axis=1), np.nan)
    profile = _profile(x, s)
    if profile is not None:
        # Along a seasonal series the expected value moves with the season during the incident.
        move = profile - np.take_along_axis(profile, before, axis=1)
        held = held + np.where(np.isfinite(move), move, 0.0)
    # The thresholds in force when the incident began: the first pass's later thresholds have
    # the incident in their calibration sample.
    bar = np.maximum(np.take_along_axis(first.threshold, at_start, axis=1), first.min_effect)
    with np.errstate(invalid="ignore"):
        still = np.abs(x - held) > bar
        if s.level_points:
            lbar = np.maximum(np.take_along_axis(bars.level, at_start, axis=1), first.min_effect)
            drift = _rolling_median_last(x - held, s.level_points)
            still |= np.abs(drift) > lbar
        if s.noise_points:
            nbar = np.maximum(np.take_along_axis(bars.noise, at_start, axis=1), first.min_effect)
            base = np.take_along_axis(bars.noise_base, at_start, axis=1)
            spell = _rolling_kth(np.abs(x - held), s.noise_points, s.for_points)
            still |= spell - base > nbar
    # An incident ends once the series has been back for a whole window: a burst that dips
    # back for a sample or two is still one incident, and its remaining samples must not
    # become the reference its own end is judged by.
    still = _recent_any(still, max(s.level_points, s.for_points))
    still &= (origin >= 0) & ((idx - origin) * s.step <= MAX_INCIDENT)
    # Within each run of "still away", the points from an alerting run's start onwards.
    run_start = np.maximum.accumulate(np.where(~still, idx, -1), axis=1) + 1
    return still & (origin >= run_start), held


def _references(x: np.ndarray, s: DetectorSettings) -> list[tuple[np.ndarray, np.ndarray]]:
    """Expected values from the past only, each as (profile, offset): the recent level
    (profile 0, offset the median of the last ``reference``), and (with a season) the median
    of the last :data:`SEASONS` seasons at the same phase moved to the recent level."""
    profile = _profile(x, s)
    if profile is None:
        return [(np.zeros_like(x), _rolling_median_before(x, s.reference_points))]
    return [
        (np.zeros_like(x), _rolling_median_before(x, s.reference_points)),
        (profile, _rolling_median_before(x - profile, s.reference_points)),
    ]


def _profile(x: np.ndarray, s: DetectorSettings) -> np.ndarray | None:
    """The median of the last :data:`SEASONS` seasons at each point's phase (at least two
    present), or None without a season."""
    m = s.season_points
    if not m:
        return None
    lagged = np.stack([_shift(x, k * m) for k in range(1, SEASONS + 1)])
    profile = nan_quantile(lagged, 0.5, axis=0)
    profile[np.isfinite(lagged).sum(axis=0) < 2] = np.nan
    return profile


def _shift(x: np.ndarray, k: int) -> np.ndarray:
    out = np.full(x.shape, np.nan)
    if k == 0:
        return x.copy()
    if k < x.shape[1]:
        out[:, k:] = x[:, :-k]
    return out


def _score(
    x: np.ndarray,
    reference_of: np.ndarray,
    ts: np.ndarray,
    s: DetectorSettings,
    budget: float,
    effect: np.ndarray,
    flagged: np.ndarray | None = None,
    named: dict[str, np.ndarray] | None = None,
) -> tuple[Detection, _Bars]:
    """The score of every statistic against every reference, each calibrated at an equal share
    of the budget, and the largest kept: a chance page needs one of them to exceed its share,
    so the shares add up to the budget (Bonferroni). Also the smallest sustained threshold,
    which bounds an incident's extent (NaN without the sustained statistic), and the value
    an incident is held at: the seasonal reference's expected value where there is a season
    (the recent level lags behind the daily cycle's slope, and a held value that lags would
    make the incident's end look like a shift), else the recent level.

    Two statistics: the **spike** (each sample against the expected value) and, with a
    ``level_window``, the **sustained** one (the median of the last window against the
    expected value before that window), which sees a shift too small for single samples; it
    is calibrated on blocks longer than the span it depends on, so that neighbouring blocks'
    maxima are nearly independent."""
    refs = _references(reference_of, s)
    # Spike and sustained against every reference; the noise statistic against the last (the
    # seasonal one where there is a season: the busy hours' noise is not a change of noise).
    pairs = len(refs) * (2 if s.level_points else 1) + (1 if s.noise_points else 0)
    share = budget / pairs
    spike_blocks = _block_starts(ts, s.block_seconds)
    spike = (
        spike_blocks,
        s.calibration_blocks,
        s.cold_start_blocks,
        share * s.block_seconds / BUDGET_PERIOD,
    )
    if s.level_points:

        def blocks_of(seconds: float) -> tuple:
            """A smoother statistic's own blocks: starts, calibration, cold start, budget."""
            return (
                _block_starts(ts, seconds),
                calibration_blocks(s.calibration, seconds),
                max(8, math.ceil(s.cold_start / seconds)),
                share * seconds / BUDGET_PERIOD,
            )

        level = blocks_of(s.level_block_seconds)
        noise = blocks_of(s.noise_block_seconds)
    best: Detection | None = None
    bars = _Bars(*(np.full(x.shape, np.nan) for _ in range(4)))
    for k, (ref, (profile, offset)) in enumerate(zip(("level", "seasonal"), refs)):
        expected = profile + offset
        candidates = [_score_one(x - expected, expected, s, spike, effect, flagged)]
        if s.level_points:
            w = s.level_points
            # With the default reference and window (both an hour) the window's baseline is the
            # reference's offset: computed once.
            median = (
                offset
                if w == s.reference_points
                else _rolling_median_before(reference_of - profile, w)
            )
            before = _shift(median, w - 1)
            drift = _rolling_median_last(x - profile, w) - before
            # The value expected for this sample is the spike's: the window's baseline lags.
            d = _score_one(drift, expected, s, level, effect, flagged)
            bars.level = np.fmin(bars.level, d.threshold)
            candidates.append(d)
        if s.noise_points and k == len(refs) - 1:
            d, bars.noise_base = _noise_score(x, reference_of, expected, s, noise, effect, flagged)
            bars.noise = d.threshold
            candidates.append(d)
        if named is not None:
            for name, d in zip(("spike", "sustained", "noise"), candidates):
                named[f"{name}/{ref}"] = d.score
        for d in candidates:
            if best is None:
                best = d
                continue
            better = np.nan_to_num(d.score, nan=-1.0) > np.nan_to_num(best.score, nan=-1.0)
            for f in ("expected", "score", "threshold"):
                setattr(best, f, np.where(better, getattr(d, f), getattr(best, f)))
    assert best is not None
    bars.anchor = expected
    return best, bars


@dataclass
class _Bars:
    """What bounds an incident's extent: the smallest sustained threshold, the noise
    statistic's threshold and baseline (NaN without them), and the value an incident is held
    at (see :func:`_score`)."""

    level: np.ndarray
    noise: np.ndarray
    noise_base: np.ndarray
    anchor: np.ndarray


def _noise_score(
    x: np.ndarray,
    reference_of: np.ndarray,
    expected: np.ndarray,
    s: DetectorSettings,
    calibration: tuple[np.ndarray, int, int, float],
    effect: np.ndarray,
    flagged: np.ndarray | None,
) -> tuple[Detection, np.ndarray]:
    """The **noise** statistic: the ``for:``-th largest deviation in the target's direction
    among the last :attr:`~DetectorSettings.noise_points` samples (as many samples away as the
    rule's ``for:`` needs, but not in a row), minus its mean over the :data:`NOISE_BASELINE`
    before them. It sees a spell of bursts or a noisier series, which neither a sample (each
    burst too short for the ``for:``) nor a median (bursts are a minority of the window) sees;
    a blip shorter than the ``for:`` never moves it. Also returns the baseline, which bounds
    an incident's extent."""
    dev = x - expected
    past = reference_of - expected
    signed = {"up": dev, "down": -dev, "both": np.abs(dev)}[s.direction]
    past = {"up": past, "down": -past, "both": np.abs(past)}[s.direction]
    w = s.noise_points
    k = s.for_points
    day = int(round(NOISE_BASELINE / s.step))
    base = _shift(_rolling_mean(_rolling_kth(np.clip(past, 0, None), w, k), day), w)
    stat = _rolling_kth(np.clip(signed, 0, None), w, k) - base
    # Already in the target's direction: scored as an upward deviation.
    return _score_one(
        stat, expected, replace(s, direction="up"), calibration, effect, flagged
    ), base


def _score_one(
    dev: np.ndarray,
    expected: np.ndarray,
    s: DetectorSettings,
    calibration: tuple[np.ndarray, int, int, float],
    effect: np.ndarray,
    flagged: np.ndarray | None = None,
) -> Detection:
    """One statistic's score: ``dev`` (observed minus expected) in the target's direction over
    its threshold, and over the minimum effect; calibrated on (block starts, blocks, blocks
    needed, probability per block)."""
    blocks, count, need, p = calibration
    signed = {"up": dev, "down": -dev, "both": np.abs(dev)}[s.direction]
    stat = _rolling_min(signed, s.for_points)
    sample = stat if flagged is None else np.where(flagged, np.nan, stat)
    threshold = _block_threshold(sample, blocks, count, need, p)
    with np.errstate(divide="ignore", invalid="ignore"):
        size = np.where(effect > 0, np.abs(dev) / effect, np.where(np.abs(dev) > 0, np.inf, 0.0))
        # A threshold at or below 0 (a series that never moved the target's way): any move
        # that way is beyond it, and the minimum effect decides alone.
        ratio = np.where(threshold > 0, signed / threshold, np.where(signed > 0, np.inf, 0.0))
        score = np.clip(np.minimum(ratio, size), 0.0, None)
    score[~np.isfinite(threshold) | ~np.isfinite(dev)] = np.nan
    return Detection(expected, score, threshold, effect)


def nan_quantile(a: np.ndarray, q: float, axis: int = -1) -> np.ndarray:
    """``np.nanquantile(a, q, axis)`` (linear interpolation) by one sort: numpy's own loops over
    every window in Python when NaNs are present, far too slow for a fleet's sliding windows."""
    a = np.moveaxis(np.asarray(a, dtype=float), axis, -1)
    return _sorted_quantile(np.sort(a, axis=-1), np.isfinite(a).sum(axis=-1), q)


def _sorted_quantile(srt: np.ndarray, count: np.ndarray, q: float) -> np.ndarray:
    """:func:`nan_quantile` of an array already sorted on its last axis (NaNs last) with
    ``count`` finite values per row."""
    pos = q * np.maximum(count - 1, 0)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(count - 1, 0))
    vlo = np.take_along_axis(srt, lo[..., None], axis=-1)[..., 0]
    vhi = np.take_along_axis(srt, hi[..., None], axis=-1)[..., 0]
    out = vlo + (vhi - vlo) * (pos - lo)
    return np.where(count > 0, out, np.nan)


def _rolling_median_before(x: np.ndarray, w: int) -> np.ndarray:
    """Median of the ``w`` points before each point (at least half of them present), NaN else.
    Points before the array count as missing, so a window that starts with missing samples
    (the service's query window) and the same data without them give the same values."""
    padded = np.hstack([np.full((x.shape[0], w), np.nan), x])
    win = sliding_window_view(padded, w, axis=1)[:, : x.shape[1]]  # window k ends before k
    enough = np.isfinite(win).sum(axis=2) >= max(1, w // 2)
    return np.where(enough, nan_quantile(win, 0.5), np.nan)


def _rolling_median_last(x: np.ndarray, w: int) -> np.ndarray:
    """Median of the ``w`` points ending at each point (at least half of them present)."""
    return _rolling_median_before(np.hstack([x, np.full((x.shape[0], 1), np.nan)]), w)[:, 1:]


def _rolling_mean(x: np.ndarray, w: int) -> np.ndarray:
    """Mean of the ``w`` points ending at each point (at least half of them present), by
    running sums: a day's window costs no more than an hour's."""
    ok = np.isfinite(x)
    zero = np.zeros((x.shape[0], 1))
    total = np.hstack([zero, np.cumsum(np.where(ok, x, 0.0), axis=1)])
    count = np.hstack([zero, np.cumsum(ok, axis=1)])
    hi = np.arange(1, x.shape[1] + 1)
    lo = np.maximum(hi - w, 0)
    have = count[:, hi] - count[:, lo]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = (total[:, hi] - total[:, lo]) / have
    return np.where(have >= max(1, w // 2), mean, np.nan)


def _rolling_kth(x: np.ndarray, w: int, k: int) -> np.ndarray:
    """The ``k``-th largest of the ``w`` points ending at each point (at least ``k`` and half
    of them present), NaN else."""
    padded = np.hstack([np.full((x.shape[0], w - 1), np.nan), x])
    win = sliding_window_view(padded, w, axis=1)
    largest = -np.partition(np.where(np.isfinite(win), -win, np.inf), k - 1, axis=2)[:, :, k - 1]
    ok = np.isfinite(win).sum(axis=2) >= max(k, w // 2)
    return np.where(ok & np.isfinite(largest), largest, np.nan)


def _recent_any(flag: np.ndarray, w: int) -> np.ndarray:
    """True where any of the ``w`` points ending at each point is."""
    out = flag.copy()
    for k in range(1, min(w, flag.shape[1])):
        out[:, k:] |= flag[:, :-k]
    return out


def _rolling_min(x: np.ndarray, w: int) -> np.ndarray:
    """Smallest of the last ``w`` points including this one; NaN if any is missing (a missing
    sample resets a rule's ``for:``)."""
    if w <= 1:
        return x.copy()
    out = np.full(x.shape, np.nan)
    if x.shape[1] >= w:
        out[:, w - 1 :] = sliding_window_view(x, w, axis=1).min(axis=2)
    return out


def _block_starts(ts: np.ndarray, block: float) -> np.ndarray:
    """Index of the first grid point of each wall-clock block (blocks align to the epoch, so
    the service and the replay cut the same blocks)."""
    if ts.size == 0:
        return np.zeros(0, dtype=np.int64)
    bid = np.floor(ts / block + 1e-9)
    return np.flatnonzero(np.r_[True, bid[1:] != bid[:-1]])


def _block_reduce(x: np.ndarray, starts: np.ndarray, how: str) -> np.ndarray:
    if starts.size == 0:
        return np.empty((x.shape[0], 0))
    fill = -np.inf if how == "max" else np.inf
    op = np.maximum if how == "max" else np.minimum
    red = op.reduceat(np.where(np.isnan(x), fill, x), starts, axis=1)
    return np.where(np.isinf(red) & (red == fill), np.nan, red)


def _previous_blocks(per_block: np.ndarray, count: int) -> np.ndarray:
    """For each block, the values of the ``count`` blocks before it (NaN-padded): (n, nb, count)."""
    n, nb = per_block.shape
    padded = np.hstack([np.full((n, count), np.nan), per_block])
    return sliding_window_view(padded, count, axis=1)[:, :nb]


def _expand(per_block: np.ndarray, starts: np.ndarray, t: int) -> np.ndarray:
    """A value per block back onto the points of each block."""
    sizes = np.diff(np.r_[starts, t])
    return np.repeat(per_block, sizes, axis=1)


def _usual_range(x: np.ndarray, starts: np.ndarray, count: int) -> np.ndarray:
    """Per point: the 90th percentile of block maxima minus the 10th of block minima over the
    calibration blocks before it (a few spikes do not stretch it, a daily cycle does)."""
    hi = _previous_blocks(_block_reduce(x, starts, "max"), count)
    lo = _previous_blocks(_block_reduce(x, starts, "min"), count)
    spread = nan_quantile(hi, 0.9) - nan_quantile(lo, 0.1)
    return _expand(spread, starts, x.shape[1])


def _block_threshold(
    stat: np.ndarray, starts: np.ndarray, count: int, need: int, p: float
) -> np.ndarray:
    """Per point: the level that a block maximum of ``stat`` exceeds with probability ``p``,
    estimated from the ``count`` blocks before the point's block; NaN with fewer than ``need``."""
    maxima = _previous_blocks(_block_reduce(stat, starts, "max"), count)
    return _expand(tail_quantile(maxima, p, need), starts, stat.shape[1])


def tail_quantile(sample: np.ndarray, p: float, need: int) -> np.ndarray:
    """The value exceeded with probability ``p`` by the distribution of ``sample`` (last axis,
    NaN = missing): empirical up to the top :data:`TAIL_SHARE`, then a generalised Pareto tail
    fitted to the excesses (:func:`_gpd_pwm`, shape made heavier by :data:`SHAPE_MARGIN`, scale
    kept); NaN where fewer than ``need`` values are present."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        # One sort serves the threshold u and the excesses over it: those are the sorted
        # sample's top values, so the tail fit reads only that slice (a fifth of the sample).
        srt = np.sort(np.asarray(sample, dtype=float), axis=-1)  # NaNs last
        have = np.isfinite(srt).sum(axis=-1)
        u = _sorted_quantile(srt, have, 1 - TAIL_SHARE)
        exc = _top_excesses(srt, have, u)
        k = np.isfinite(exc).sum(axis=-1)
        zeta = k / np.maximum(have, 1)
        fitted, scale = _gpd_pwm(exc, k)
        # The shape from a few dozen excesses is uncertain, and a threshold set too low costs
        # far more pages than one set as much too high saves: take it SHAPE_MARGIN standard
        # errors heavier than fitted.
        fitted = fitted + SHAPE_MARGIN * (1 + np.clip(fitted, 0, None)) / np.sqrt(np.maximum(k, 1))
        # The scale is estimated too, from k excesses: the plug-in quantile is crossed more
        # often than p (on average over the scale's estimation error). The predictive quantile
        # corrects it: for an exponential tail whose scale is estimated from k excesses, it is
        # exactly the generalised Pareto quantile with shape 1/k (the Lomax predictive law), so
        # the correction is 1/k added to the shape, large for a short calibration and vanishing
        # for a long one.
        shape = np.clip(fitted, *SHAPE_RANGE) + 1 / np.maximum(k, 1)
        ratio = np.maximum(zeta / p, 1.0)
        growth = np.where(shape > 1e-6, (ratio**shape - 1) / np.maximum(shape, 1e-6), np.log(ratio))
        q = u + np.where(k > 0, scale * growth, 0.0)
    return np.where(have >= need, q, np.nan)


def _top_excesses(srt: np.ndarray, have: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The values of ``srt`` (sorted, NaNs last, ``have`` finite per row) above ``u`` less
    ``u``, NaN elsewhere, over a slice of the last axis that holds them all. ``u`` is a quantile
    at 1 - TAIL_SHARE, so nothing at or below its lower neighbour exceeds it; the slice is as
    wide as that leaves for a full row, whatever the rows hold, so a row's threshold does not
    depend on the rows scored with it."""
    full = srt.shape[-1]
    width = max(1, full - 1 - int(np.floor((1 - TAIL_SHARE) * max(full - 1, 0))))
    idx = (have - width)[..., None] + np.arange(width)
    top = np.take_along_axis(srt, np.clip(idx, 0, max(srt.shape[-1] - 1, 0)), axis=-1)
    exc = top - u[..., None]
    return np.where((idx >= 0) & (exc > 0), exc, np.nan)


def _gpd_pwm(exc: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Generalised Pareto shape and scale of the excesses (last axis, NaN = none) by probability
    weighted moments (Hosking & Wallis 1987): unlike plain moments, unbiased enough for the
    heavy tails (shape 0.25-0.5) of bursty metrics, whose variance is barely finite."""
    srt = np.sort(exc, axis=-1)  # NaNs last
    kk = np.maximum(k, 1)[..., None]
    i = np.arange(1, srt.shape[-1] + 1)
    weight = np.where(i <= kk, 1 - (i - 0.35) / kk, 0.0)
    vals = np.where(np.isfinite(srt), srt, 0.0)
    a0 = vals.sum(axis=-1) / kk[..., 0]
    a1 = (vals * weight).sum(axis=-1) / kk[..., 0]
    den = a0 - 2 * a1
    with np.errstate(all="ignore"):
        shape = np.where(den > 0, 2 - a0 / den, 0.0)
        scale = np.where(den > 0, 2 * a0 * a1 / den, a0)
    return shape, scale
