"""How many rolling origins ``auto`` backtests on: more where the fleet is small enough to afford.

A few folds of a real series are dominated by whichever block held an incident or a quiet
weekend: three folds of 48 h on a fleet's hourly total picked a model that lost to seasonal naive
on the next two days, while eight folds of the same history (a fortnight of origins) picked one
that beat it by a third. The backtest's cost grows with series x folds, so the extra folds are
spent where there are few series (a target that is one total, or a few dozen), and a fleet of
thousands keeps the configured minimum.
"""

from __future__ import annotations

# Series x folds the backtest may spend beyond the configured minimum of folds.
FOLD_BUDGET = 500
# More origins than this add little: the oldest would judge a model on data weeks old.
MAX_FOLDS = 8


def affordable_folds(minimum: int, n_series: int) -> int:
    """Folds to backtest ``n_series`` on: ``minimum``, raised towards :data:`MAX_FOLDS` while
    ``n_series`` x folds stays within :data:`FOLD_BUDGET` (the history may still allow fewer)."""
    minimum = max(1, int(minimum))
    return max(minimum, min(MAX_FOLDS, FOLD_BUDGET // max(1, int(n_series))))
