"""A long CSV of series (``series_id,timestamp,value``; ISO timestamps or unix seconds) read and
snapped onto grids.

Each series gets its own grid ending at its newest sample (so series need not share a clock);
duplicates on a grid point are averaged and missing points become NaN for the models to handle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from promcast_common.durations import parse_duration

REQUIRED_COLUMNS = ("series_id", "timestamp", "value")


class UsageError(Exception):
    """Bad input file or arguments: the commands report it as one line and exit with status 2."""


@dataclass
class Series:
    series_id: str
    last_ts: float
    values: np.ndarray


def read_csv(path: str) -> dict[str, Any]:
    """The file's columns as arrays (``series_id``, ``ts`` in unix seconds, ``value`` with junk as
    NaN) and whether its timestamps were ISO (``iso``, so results are written the same way)."""
    import pandas as pd

    try:
        frame = pd.read_csv(path, dtype={"series_id": str}, keep_default_na=True)
    except FileNotFoundError as exc:
        raise UsageError(f"input file {path!r} not found") from exc
    except (
        pd.errors.ParserError,
        pd.errors.EmptyDataError,
        UnicodeDecodeError,
        IsADirectoryError,
    ) as exc:
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
    """The grid step: ``text`` (a duration, the ``--step`` flag) or, without it, the median
    spacing of consecutive samples of the same series."""
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


def to_series(
    raw: dict[str, Any], step: float, max_points: int
) -> tuple[list[Series], dict[str, str]]:
    """Each series on its own grid of ``step`` ending at its newest sample, at most ``max_points``
    long; the series that cannot be used, with the reason."""
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
