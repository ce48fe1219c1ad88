"""Commitments (savings plans, reserved instances, committed-use discounts): how much hourly
spend to commit to, from the forecast spend over the term, and what it saves.

The forecast gives, for every hour ahead, a distribution (the mean and the interval bounds as
quantiles). Pooled over the hours of the term they say how often the spend will be above a
level ``c``. Committing ``c`` (in on-demand dollars per hour) costs ``c * (1 - discount)`` every
hour, used or not, and covers ``min(spend, c)``; the expected saving per hour is
``E[min(spend, c)] - c * (1 - discount)``. A marginal committed dollar pays off while the spend
is above ``c`` more than ``1 - discount`` of the time, so ``c`` never goes above the
``discount`` quantile; the configured ``quantile`` (default 0.1) keeps it lower still: the
steady baseline, not the mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from promcast_forecaster.recommend_config import CommitmentOption

GRID = 2000  # points of the pooled distribution's value grid


@dataclass
class CommitmentPlan:
    labels: dict[str, str]
    option: CommitmentOption
    quantile: float  # the quantile committed to (configured, capped at the discount)
    hourly_commitment: float  # c, in on-demand dollars per hour
    expected_spend: float  # mean forecast spend per hour over the term
    coverage: float  # share of the expected spend the commitment covers
    utilization: float  # share of the commitment expected to be used
    monthly_saving: float
    confidence: float
    model: str

    def detail(self) -> str:
        return (
            f"{self.option.name}: commit ${self.hourly_commitment:.2f}/h on-demand "
            f"(p{self.quantile * 100:g} of forecast spend, mean ${self.expected_spend:.2f}/h), "
            f"covers {self.coverage:.0%}, {self.option.discount:.0%} off"
        )


def _knots(curves: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per step the forecast's quantiles: values (h, k) and their probabilities (k,), with a
    tail knot at each end so the distribution reaches 0 and 1."""
    probs, cols = [0.5], [curves["mean"]]
    for key, v in curves.items():
        if key.startswith(("lower-", "upper-")):
            lv = int(key.split("-")[1]) / 100
            probs.append((1 - lv) / 2 if key.startswith("lower-") else (1 + lv) / 2)
            cols.append(v)
    order = np.argsort(probs)
    p = np.asarray(probs)[order]
    vals = np.sort(np.maximum(np.column_stack(cols)[:, order], 0.0), axis=1)  # spend >= 0
    if len(p) > 1:
        # Extend the outermost slope to probability 0 and 1.
        lo = np.maximum(vals[:, 0] - (vals[:, 1] - vals[:, 0]) * p[0] / (p[1] - p[0]), 0.0)
        hi = vals[:, -1] + (vals[:, -1] - vals[:, -2]) * (1 - p[-1]) / (p[-1] - p[-2])
        vals = np.column_stack([lo, vals, hi])
        p = np.concatenate([[0.0], p, [1.0]])
    return vals, p


def pooled_cdf(curves: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(grid, F): the share of the forecast hours whose spend is at or below each grid value."""
    vals, p = _knots({k: np.asarray(v, dtype=float) for k, v in curves.items()})
    ok = np.isfinite(vals).all(axis=1)
    vals = vals[ok]
    if vals.size == 0:
        return np.zeros(1), np.ones(1)
    grid = np.linspace(0.0, float(vals.max()) * 1.001 + 1e-12, GRID)
    f = np.zeros(GRID)
    for row in vals:
        f += np.interp(grid, row, p, left=0.0, right=1.0)
    return grid, f / len(vals)


def plan(
    labels: dict[str, str],
    curves: dict[str, np.ndarray],
    option: CommitmentOption,
    quantile: float,
    hours_per_month: float,
    confidence: float,
    model: str,
) -> CommitmentPlan:
    """The commitment for one spend series and option (see the module's docstring)."""
    grid, f = pooled_cdf(curves)
    q = min(quantile, option.discount)
    # The smallest grid value whose pooled CDF reaches q.
    c = float(grid[min(int(np.searchsorted(f, q)), len(grid) - 1)])
    survival = 1.0 - f
    below = grid <= c
    covered = float(np.trapezoid(survival[below], grid[below])) if below.sum() > 1 else 0.0
    expected = float(np.trapezoid(survival, grid))
    saving = (covered - c * (1 - option.discount)) * hours_per_month
    return CommitmentPlan(
        labels,
        option,
        q,
        c,
        expected,
        covered / expected if expected > 0 else math.nan,
        covered / c if c > 0 else math.nan,
        saving,
        confidence,
        model,
    )
