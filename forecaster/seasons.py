"""Which seasonal cycles make sense at a given step, in steps.

Sub-daily steps (5m, 1h): a day and a week. Daily steps: a week and a year. Steps of a week or
more: a year. The first is the main season (what ``season_length`` means to every model), the
others are the longer cycles ``auto`` tries and keeps per series where the history holds at least
two of them and the backtest prefers them. A cycle shorter than two steps is no cycle and is left
out; so is one that is not close to a whole number of steps.
"""

from __future__ import annotations

# Each longer cycle is backtested with every cheap candidate again: a few are useful (a day, a
# week, a year), more only multiply the work of every refit.
MAX_SEASONS = 3
DAY = 86400.0
WEEK = 7 * DAY
YEAR = 365.25 * DAY


def candidate_cycles(step: float) -> tuple[float, ...]:
    """The cycles (seconds) worth trying at ``step`` seconds, shortest first."""
    if step < DAY:
        return (DAY, WEEK)
    if step < WEEK:
        return (WEEK, YEAR)
    return (YEAR,)


def cycles_in_steps(cycles: tuple[float, ...] | list[float], step: float) -> tuple[int, ...]:
    """``cycles`` (seconds) as whole numbers of steps, those of at least two steps, de-duplicated.

    A year of days is 365.25 steps: rounded (365), since a forecast repeats whole steps and a
    quarter-day drift a year is below what daily data can show.
    """
    out: list[int] = []
    for c in cycles:
        k = c / step
        if k >= 2 and (abs(k - round(k)) < 1e-6 or c == YEAR):
            if int(round(k)) not in out:
                out.append(int(round(k)))
    return tuple(out)


def candidate_seasons(step: float) -> tuple[int, ...]:
    """The seasons (steps) worth trying at ``step`` seconds: see the module docstring."""
    return cycles_in_steps(candidate_cycles(step), step)
