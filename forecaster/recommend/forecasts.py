"""The forecasts the recommendations stand on: the engine's own (models, auto choice, conformal
intervals, fallback), run on an analysis's settings, with the whole curve over the horizon and
what the confidence needs (how much data, how well the intervals covered in the backtest)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from promcast_forecaster.targets import ResolvedTarget
from promcast_forecaster.engine import align, forecast_target, select_series
from promcast_forecaster.source import RawSeries

# A model that does not backtest itself says nothing about its interval coverage: its
# recommendations count as half as sure as fully covered ones.
UNKNOWN_COVERAGE_FACTOR = 0.5


def analysis_target(
    name: str,
    query: str,
    step: float,
    history: float,
    season: float,
    horizon: float,
    levels: list[int],
    model: str,
    timeout: float | None = None,
    staleness: float | None = None,
) -> ResolvedTarget:
    """A target for one analysis: one horizon (the analysis' period), no capacity, no cap;
    ``staleness`` retires series that stopped reporting (default: the targets' default)."""
    levels = sorted(set(levels))
    return ResolvedTarget(
        name=name,
        query=query,
        step=step,
        history=history,
        season=season,
        horizons=[max(horizon, step)],
        levels=levels,
        anomaly_level=levels[-1],
        model=model,
        infer_every=3600.0,
        fit_every=3600.0,
        lead_time=0.0,
        capacity=None,
        capacity_direction="above",
        keep_labels=None,
        drop_labels=[],
        max_series=1_000_000,
        timeout=timeout,
        staleness=staleness,
    )


@dataclass
class Outlook:
    """One series' forecast over the horizon (column k: k+1 steps ahead)."""

    labels: dict[str, str]
    curves: dict[str, np.ndarray]
    data_share: float  # finite points / points of the history window
    coverage: float  # backtest coverage of the `level` interval; NaN when not backtested
    model: str

    def confidence(self, level: int) -> float:
        """0-1: the data's share of the history window times how well the backtest intervals
        covered (coverage / level, capped at 1); unknown coverage counts as 0.5."""
        cov = (
            UNKNOWN_COVERAGE_FACTOR
            if math.isnan(self.coverage)
            else min(1.0, self.coverage / (level / 100))
        )
        return float(max(0.0, min(1.0, self.data_share)) * cov)


def forecast(target: ResolvedTarget, raw: list[RawSeries], now: float) -> tuple[list[Outlook], int]:
    """Every series of ``raw`` forecast over the target's horizon; returns the outlooks and how
    many series had too little data or stopped reporting (see the target's staleness).
    Blocking (fits models): run it off the event loop."""
    end = (now // target.step) * target.step
    sel = select_series(raw, target, end=end)
    result = forecast_target(target, sel.series, end, now)
    start = end - (target.points - 1) * target.step
    finite = np.isfinite(align(sel.series, start, target.step, target.points)).sum(axis=1)
    share = {
        tuple(sorted(s.labels.items())): finite[i] / target.points for i, s in enumerate(sel.series)
    }
    level = target.levels[-1]
    out = []
    for j, s in enumerate(result.series):
        out.append(
            Outlook(
                s.labels,
                {k: np.asarray(v[j, 1:], dtype=float) for k, v in result.curves.items()},
                float(share.get(tuple(sorted(s.labels.items())), 0.0)),
                float(s.backtest_coverage.get(level, math.nan)),
                s.model,
            )
        )
    return out, result.skipped + sel.retired
