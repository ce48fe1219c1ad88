"""How many rolling origins ``auto`` backtests on: more where the fleet is small enough to afford.

A few folds of a real series are dominated by whichever block held an incident or a quiet
weekend: three folds of 48 h on a fleet's hourly total picked a model that lost to seasonal naive
on the next two days, while eight folds of the same history (a fortnight of origins) picked one
that beat it by a third. The backtest's cost grows with series x folds, so the extra folds are
spent where there are few series (a target that is one total, or a few dozen), and a fleet of
thousands keeps the configured minimum. The extra origins also stay in the newer half of the
history: a horizon that is long against the history (a year ahead from four years) would
otherwise be judged from origins with too little history before them for the models that need
the most of it (two repeats of a yearly cycle).
"""

from __future__ import annotations

# Series x folds the backtest may spend beyond the configured minimum of folds.
FOLD_BUDGET = 500
# More origins than this add little: the oldest would judge a model on data weeks old.
MAX_FOLDS = 8


def affordable_folds(
    minimum: int, n_series: int, history: int | None = None, horizon: int | None = None
) -> int:
    """Folds to backtest ``n_series`` on: ``minimum``, raised towards :data:`MAX_FOLDS` while
    ``n_series`` x folds stays within :data:`FOLD_BUDGET` and, given ``history`` and
    ``horizon`` (steps), the extra folds' origins lie in the newer half of the history (the
    history may still allow fewer than ``minimum``)."""
    minimum = max(1, int(minimum))
    extra = min(MAX_FOLDS, FOLD_BUDGET // max(1, int(n_series)))
    if history is not None and horizon is not None:
        extra = min(extra, int(history) // 2 // max(1, int(horizon)))
    return max(minimum, extra)
