"""Results written as CSV (to a file or stdout), and progress shown on a terminal."""

from __future__ import annotations

import contextlib
import csv
import sys
import time
from typing import Any, Iterator, Sequence, TextIO

import numpy as np

from promcast_forecaster.offline.forecast import Result
from promcast_forecaster.offline.series import Series


def write_forecasts(
    path: str,
    series: Sequence[Series],
    results: dict[str, Result],
    horizon: int,
    step: float,
    levels: list[int],
    iso: bool,
) -> int:
    """Write the forecasts as long CSV (``series_id,timestamp,mean,lower_80,upper_80,...,model``,
    timestamps as the input had them); returns how many series were written."""
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
                writer.writerow(
                    [s.series_id, format_ts(stamps[k], iso)]
                    + [f"{c[k]:.6g}" for c in cols]
                    + [res.model]
                )
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
