"""Regime changes: find the newest level shift or trend change in each series' history, and a
model wrapper that forecasts from the history after it.

A series that moved to another level (a migration, a new customer, a lockdown) or changed its
growth keeps the old regime in every model's memory: a trend fitted across the break points the
wrong way, and a smoothed level needs weeks to forget. Cutting the old regime off is not always
better (a short new regime is a noisy one), so nothing here imposes it: ``auto`` backtests the
cut candidate next to the uncut ones and keeps it per series only where it forecast better.

Detection works on block means (one season per block, so the season itself is averaged out and a
spike is diluted) and tests, for every split of the blocks, whether two straight lines fit better
than one: the Chow statistic of a change in level and slope, maximised over the splits (Andrews'
sup-F test). The lines come from running sums, so one pass over the blocks scores every split of
every row at once. The statistic assumes independent blocks, so it is discounted by the blocks'
autocorrelation around the lines: a longer cycle or a wandering level is no break. A break found, the search repeats in the history after it (binary
segmentation towards the present) up to :data:`MAX_DEPTH` times, so the newest regime is the one
kept. The work is bounded: at most :data:`MAX_BLOCKS` blocks per row (longer histories use
blocks of several seasons), a few vectorised passes over an ``(n, blocks)`` array per depth.
"""

from __future__ import annotations

import warnings
from typing import Callable, Sequence

import numpy as np

from .arrays import clean, row_blocks
from .base import DEFAULT_LEVELS, Forecast, Model, ModelBase, as_2d, check_levels, shape_like

#: Blocks per row at most: beyond that the blocks span several seasons (bounded work and memory).
MAX_BLOCKS = 512
#: Blocks a regime must span on each side of a break: a seasonal model needs two seasons after
#: the cut to learn from, and a couple more to tell a new level from an incident.
MIN_SEGMENT = 4
#: Sup-F threshold (two parameters, level and slope, change), after the autocorrelation
#: discount. Andrews' (1993) 1% critical values for two parameters are in the mid-teens; the bar is set
#: higher because the discount only approximates the dependence of real block means: a false
#: break costs a backtest and a reported break on a calm series misleads, while a missed one
#: leaves the forecast no worse than before.
MIN_F = 25.0
#: How many times the search continues in the newest regime (binary segmentation, one side).
MAX_DEPTH = 3
#: How a candidate fitted since the newest break is named in the model choice.
SUFFIX = "(since break)"


def block_size(t_len: int, season_length: int) -> int:
    """Steps per block: a whole number of seasons, so that at most :data:`MAX_BLOCKS` blocks."""
    m = max(1, int(season_length))
    seasons = max(1, t_len // m)
    return m * max(1, -(-seasons // MAX_BLOCKS))


def newest_break(y: np.ndarray, season_length: int) -> np.ndarray:
    """Per row, the index (in steps of ``y``) where the newest regime starts, or -1 when no
    level shift or trend change stands out (see the module docstring)."""
    arr, _ = as_2d(y)
    n, t_len = arr.shape
    out = np.full(n, -1, dtype=np.int64)
    b = block_size(t_len, season_length)
    k = t_len // b
    if k < 2 * MIN_SEGMENT:
        return out
    start = t_len - k * b  # blocks aligned on the newest step: the last block is complete
    for a, z in row_blocks(n, t_len):
        # All-NaN blocks are gaps; values near the float limit overflow the sums and score no split.
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            means = np.nanmean(clean(arr[a:z, start:]).reshape(z - a, k, b), axis=2)
            found = _newest_block_break(means)
        out[a:z] = np.where(found >= 0, start + found * b, -1)
    return out


def _newest_block_break(x: np.ndarray) -> np.ndarray:
    """Per row of block means ``x`` (n, k), the first block of the newest regime, or -1."""
    n, k = x.shape
    w = np.isfinite(x).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        centre = np.nanmean(x, axis=1, keepdims=True)
        spread = np.nanstd(x, axis=1, keepdims=True)
    spread = np.where(np.isfinite(spread) & (spread > 0), spread, 1.0)
    # Standardised per row: the running sums below then keep their precision at any scale.
    xs = np.where(w > 0, (x - np.nan_to_num(centre)) / spread, 0.0)
    t = (np.arange(k, dtype=float) - k / 2) / k
    zero = np.zeros((n, 1))
    sums = [
        np.concatenate([zero, np.cumsum(v, axis=1)], axis=1)
        for v in (w, w * t, w * t * t, xs, xs * t, xs * xs)
    ]
    begin = np.zeros(n, dtype=np.int64)
    found = np.full(n, -1, dtype=np.int64)
    for _ in range(MAX_DEPTH):
        split, f_stat = _sup_f(sums, begin, k)
        f_stat = f_stat * _independence(xs, w, begin, split)
        hit = (f_stat > MIN_F) & (split >= begin + MIN_SEGMENT)
        if not hit.any():
            break
        found[hit] = split[hit]
        # The search goes on after the block the break fell in: that block mixes both regimes,
        # and would otherwise look like one more break. Rows without a new break stop here.
        begin = np.where(hit, split + 1, k)
    return found


def _independence(
    xs: np.ndarray, w: np.ndarray, begin: np.ndarray, split: np.ndarray
) -> np.ndarray:
    """Per row, how much of the F statistic to believe: (1 - r) / (1 + r) for the lag-one
    autocorrelation r >= 0 of the blocks around their regimes' lines over [begin, k).

    The F test assumes independent blocks; a longer cycle or a wandering level (a weekly swing in
    daily blocks, a random walk) leaves long runs on one side of any line, which inflates the
    statistic by about (1 + r) / (1 - r) (an AR(1) process's long-run variance). r comes from the
    block-to-block differences, centred per regime and leaving out the jump at the split: for an
    AR(1) process their own lag-one autocorrelation is -(1 - r) / 2, and a missed older break
    is a single outlier there rather than a run.
    """
    n, k = xs.shape
    d = xs[:, 1:] - xs[:, :-1]
    j = np.arange(k - 1)[None, :]
    ok = (w[:, 1:] > 0) & (w[:, :-1] > 0) & (j >= begin[:, None]) & (j != split[:, None] - 1)
    first = j < split[:, None] - 1
    centred = np.zeros_like(d)
    for seg in (first, ~first):
        use = ok & seg
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(use, d, 0.0).sum(axis=1) / use.sum(axis=1)
        centred = np.where(use, d - np.nan_to_num(mean)[:, None], centred)
    centred = np.where(ok, centred, 0.0)
    pair = ok[:, 1:] & ok[:, :-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        r_diff = (centred[:, 1:] * centred[:, :-1] * pair).sum(axis=1) / (centred * centred).sum(
            axis=1
        )
    r = np.clip(1.0 + 2.0 * np.nan_to_num(r_diff, nan=-0.5), 0.0, 0.99)
    return (1 - r) / (1 + r)


def _segment_rss(
    sums: list[np.ndarray], lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Residual sum of squares of a straight line fitted to blocks [lo, hi) and the number of
    finite blocks there; ``lo``/``hi`` broadcast against each other, per row."""
    sw, st, stt, sx, stx, sxx = (
        np.take_along_axis(s, hi, axis=1) - np.take_along_axis(s, lo, axis=1) for s in sums
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        vtt = stt - st * st / sw
        vtx = stx - st * sx / sw
        vxx = sxx - sx * sx / sw
        rss = vxx - np.where(vtt > 1e-12, vtx * vtx / vtt, 0.0)
    return np.maximum(np.nan_to_num(rss), 0.0), sw


def _sup_f(sums: list[np.ndarray], begin: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the split of blocks [begin, k) with the largest Chow F statistic for a change
    of level and slope, and that statistic (0 where no split leaves both sides long enough)."""
    n = begin.size
    splits = np.arange(k + 1)[None, :].repeat(n, axis=0)  # candidate first block of the new regime
    lo = begin[:, None].repeat(k + 1, axis=1)
    end = np.full((n, k + 1), k)
    rss1, n1 = _segment_rss(sums, lo, splits)
    rss2, n2 = _segment_rss(sums, splits, end)
    rss0, n0 = _segment_rss(sums, lo[:, :1], end[:, :1])
    dof = n0 - 4
    ok = (n1 >= MIN_SEGMENT) & (n2 >= MIN_SEGMENT) & (dof > 0)
    within = rss1 + rss2
    with np.errstate(invalid="ignore", divide="ignore"):
        f_stat = ((rss0 - within) / 2) / (within / np.maximum(dof, 1))
    # A perfect two-line fit (no noise at all) is a break beyond doubt.
    f_stat = np.where(within <= 1e-12 * np.maximum(rss0, 1e-300), np.inf, f_stat)
    f_stat = np.where(ok & np.isfinite(rss0), np.nan_to_num(f_stat, nan=0.0, posinf=np.inf), 0.0)
    best = np.argmax(f_stat, axis=1)
    return best, f_stat[np.arange(n), best]


class SinceBreak(ModelBase):
    """``make_inner()`` fitted on each series' history from its newest regime on (see
    :func:`newest_break`); a series without a break is fitted on its whole history.

    ``rows`` (a boolean mask) limits the work to those series, the others are forecast as NaN:
    ``auto`` scores the cut only where a break was found, and saves the inner fit elsewhere.
    """

    def __init__(
        self,
        make_inner: Callable[[], Model],
        season_length: int,
        rows: np.ndarray | None = None,
        label: str | None = None,
    ) -> None:
        self.inner = make_inner()
        self.season_length = int(season_length)
        self.rows = None if rows is None else np.asarray(rows, dtype=bool)
        self.name = label or f"{self.inner.name}{SUFFIX}"
        self.capabilities = self.inner.capabilities

    def fit(self, y: np.ndarray) -> "SinceBreak":
        arr, self._single = as_2d(y)
        n, t_len = arr.shape
        self._n = n
        self._rows = np.ones(n, dtype=bool) if self.rows is None else self.rows[:n]
        self.breaks = np.full(n, -1, dtype=np.int64)
        self.breaks[self._rows] = newest_break(
            arr[self._rows] if self.rows is not None else arr, self.season_length
        )
        #: Steps from the start of the newest regime to the end of the history (-1: no break).
        self.age = np.where(self.breaks >= 0, t_len - self.breaks, -1)
        cut = self.breaks[self._rows]
        # One copy of the rows fitted, and none when nothing is cut (a fleet is large).
        if self._rows.all():
            sub = arr.copy() if (cut > 0).any() else arr
        else:
            sub = arr[self._rows]
        for j in np.flatnonzero(cut > 0):
            sub[j, : cut[j]] = np.nan
        self.inner.fit(sub)
        inner_notes = self.inner.row_notes(sub.shape[0])
        notes = [""] * n
        for j, i in enumerate(np.flatnonzero(self._rows)):
            cut_note = (
                f"history before the regime change {self.age[i]} steps ago left out"
                if self.breaks[i] > 0
                else ""
            )
            notes[i] = "; ".join(filter(None, [cut_note, inner_notes[j]]))
        self.notes = notes
        return self

    def row_models(self, n: int) -> list[str]:
        """Per series the inner model's name, with the suffix only where history was cut."""
        inner = iter(self.inner.row_models(int(self._rows.sum())))
        return [
            (f"{next(inner)}{SUFFIX}" if self.breaks[i] > 0 else next(inner)) if r else self.name
            for i, r in enumerate(self._rows[:n])
        ]

    def predict(self, h: int, levels: Sequence[int] = DEFAULT_LEVELS) -> Forecast:
        levels = check_levels(levels)
        fc = self.inner.predict(h, levels)
        out: Forecast = {}
        for key, value in fc.items():
            full = np.full((self._n, h), np.nan)
            full[self._rows] = np.atleast_2d(value)[:, :h]
            out[key] = full
        return shape_like(out, self._single)


def since_break_variants(
    candidates: Sequence[str], cheap: Callable[[str], bool], history: np.ndarray, season_length: int
) -> tuple[dict[str, str], np.ndarray]:
    """``auto``'s regime candidates: ``{"<base>(since break)": base}`` for each cheap candidate
    (vectorised, rows independent), and the rows (n,) with a break in ``history`` (the history
    before the newest backtest origin). None when no row has one, so a fleet without regime
    changes pays only the detection."""
    rows = newest_break(history, season_length) >= 0
    if not rows.any():
        return {}, rows
    return {f"{base}{SUFFIX}": base for base in candidates if cheap(base)}, rows
