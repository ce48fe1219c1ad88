"""Growth scenarios: what-ifs applied to a baseline forecast curve, and their time to exhaustion.

A scenario is an affine change of the forecast at each future instant, ``v * factor(t) +
offset(t)``, so points and interval bounds move together and the bounds stay ordered (every
factor is positive).
"""

from __future__ import annotations

import numpy as np

from promcast_forecaster.planning_config import Scenario

MONTH_SECONDS = 365.25 / 12 * 86400.0  # an average calendar month, so 12 months compound to a year


def affine(scenario: Scenario, times: np.ndarray, now: float) -> tuple[np.ndarray, np.ndarray]:
    """``(factor, offset)`` per instant of ``times`` (Unix seconds): multiply, add, the trend
    compounded from ``now``, then the step from its date on."""
    times = np.asarray(times, dtype=float)
    factor = np.full(times.shape, scenario.multiply if scenario.multiply is not None else 1.0)
    offset = np.full(times.shape, scenario.add if scenario.add is not None else 0.0)
    if scenario.trend_per_month is not None:
        months = np.maximum(times - now, 0.0) / MONTH_SECONDS
        growth = (1.0 + scenario.trend_per_month) ** months
        factor, offset = factor * growth, offset * growth
    if scenario.step is not None:
        after = times >= scenario.step.at
        if scenario.step.multiply is not None:
            factor = np.where(after, factor * scenario.step.multiply, factor)
            offset = np.where(after, offset * scenario.step.multiply, offset)
        else:
            offset = np.where(after, offset + scenario.step.add, offset)
    return factor, offset


def apply_scenario(
    curves: dict[str, np.ndarray], curve_start: float, step: float, now: float, scenario: Scenario
) -> dict[str, np.ndarray]:
    """The scenario's version of a target's curves (rows = series, column k = the value at
    ``curve_start + k * step``). Column 0 is the newest observation and is left as it is: a
    scenario changes the future, not what was measured."""
    width = next(iter(curves.values())).shape[1]
    times = curve_start + step * np.arange(width)
    factor, offset = affine(scenario, times, now)
    factor[0], offset[0] = 1.0, 0.0
    return {k: np.asarray(v, dtype=float) * factor + offset for k, v in curves.items()}
