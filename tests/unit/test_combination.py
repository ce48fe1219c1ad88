"""Forecast combination chosen out of sample, and the number of backtest folds by fleet size."""

from __future__ import annotations

import numpy as np

from promcast_forecaster.models.auto import AutoForecaster
from promcast_forecaster.models.backtest_plan import MAX_FOLDS, affordable_folds
from promcast_forecaster.models.metrics import mase, mase_scale
from promcast_forecaster.models.combination import (
    Rule,
    choose_rule,
    per_fold_mase,
    rule_weights,
    rules,
    wins_most_folds,
)


def _fold_arrays(errors: list[list[float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Actuals of 0 and candidates whose forecast is the given constant error per fold (C x F),
    one series, two steps."""
    err = np.asarray(errors, dtype=float)
    c, f = err.shape
    fc = np.broadcast_to(err[:, :, None, None], (c, f, 1, 2)).copy()
    return np.zeros((f, 1, 2)), fc, np.ones((f, 1))


def test_opposite_errors_are_combined() -> None:
    # Two candidates that err by the same amount in opposite directions every fold.
    actual, fc, scale = _fold_arrays([[1, 1, 1], [-1, -1, -1], [3, 3, 3]])
    weights, rule = choose_rule(actual, fc, scale, per_fold_mase(actual, fc, scale), rules(3))
    assert rules(3)[rule[0]] == Rule(2)
    assert np.allclose(weights[:, 0], [0.5, 0.5, 0.0])


def test_the_best_is_combined_with_the_baseline_where_that_wins_out_of_sample() -> None:
    # Seasonal naive (candidate 0) ranks last, erring the other way from the three ahead of it:
    # every mix of the best three keeps their shared error, the best with the baseline cancels it.
    actual, fc, scale = _fold_arrays([[1, 1, 1], [-0.8, -0.8, -0.8], [-0.9] * 3, [-0.95] * 3])
    fold_scores = per_fold_mase(actual, fc, scale)
    weights, rule = choose_rule(actual, fc, scale, fold_scores, rules(3, True), baseline=0)
    assert rules(3, True)[rule[0]] == Rule(1, baseline=True)
    assert np.allclose(weights[:, 0], [0.5, 0.5, 0.0, 0.0])
    # Without combinations there is no rule with the baseline either.
    assert rules(1, True) == [Rule(1)]


def test_a_richer_choice_must_win_most_folds_not_only_the_mean() -> None:
    """wins_most_folds: candidate 0 against candidate 1, one series."""

    def wins(mine: list[float], theirs: list[float]) -> bool:
        actual, fc, scale = _fold_arrays([mine, theirs])
        return bool(
            wins_most_folds(actual, fc, scale, np.array([[1.0], [0.0]]), np.array([[0.0], [1.0]]))[
                0
            ]
        )

    # Ahead on the mean by the one fold that held an incident, behind on the calm ones.
    assert not wins([0.30, 0.32, 5.0], [0.28, 0.30, 8.0])
    assert wins([0.25, 0.28, 9.0], [0.28, 0.30, 8.0])  # ahead on two folds of three
    assert not wins([0.30, 0.30], [0.30, 0.31])  # a tie is no win: one of two is not most
    assert not wins([np.nan, np.nan], [0.3, 0.3])  # never scored: nothing shown


def test_a_combination_that_only_wins_in_sample_is_not_chosen() -> None:
    # The ranking flips with every fold: ranked on the other fold, the best two for the held
    # fold are the pair that errs the same way there, so combining never helps out of sample,
    # although the mean of the two best by all folds (a pair erring both ways) scores a third of
    # the single best on those same folds.
    actual, fc, scale = _fold_arrays([[0.5, -1.0], [-1.0, 0.5], [0.5, -1.0], [-1.0, 0.5]])
    fold_scores = per_fold_mase(actual, fc, scale)
    weights, rule = choose_rule(actual, fc, scale, fold_scores, rules(2))
    assert rule[0] == 0  # the single best
    assert np.count_nonzero(weights[:, 0]) == 1


def test_inverse_error_weights_favour_the_better_candidate() -> None:
    w = rule_weights(np.array([[1.0], [3.0], [np.inf]]), 3, inverse=True)
    assert np.allclose(w[:, 0], [0.75, 0.25, 0.0])  # the unscored one gets nothing
    alone = rule_weights(np.array([[np.inf], [np.inf]]), 2, inverse=True)
    assert np.allclose(alone[:, 0], [1.0, 0.0])  # nothing scored: the first, never a NaN


def test_a_single_fold_keeps_the_single_best() -> None:
    actual, fc, scale = _fold_arrays([[1.0], [-1.0]])
    weights, rule = choose_rule(actual, fc, scale, per_fold_mase(actual, fc, scale), rules(2))
    assert rule[0] == 0 and np.allclose(weights[:, 0], [1.0, 0.0])


def test_small_fleets_get_more_backtest_folds() -> None:
    assert affordable_folds(3, 1) == MAX_FOLDS
    assert affordable_folds(3, 10_000) == 3  # a large fleet keeps the configured minimum
    assert affordable_folds(10, 1) == 10  # a configured minimum above the cap is kept
    assert 3 <= affordable_folds(3, 100) <= MAX_FOLDS
    # Extra origins stay in the newer half of the history: a year ahead from eight years gets
    # four folds, a year ahead from four years the configured three (the history decides then).
    assert affordable_folds(3, 1, history=8 * 365, horizon=365) == 4
    assert affordable_folds(3, 1, history=4 * 365, horizon=365) == 3
    assert affordable_folds(3, 1, history=30 * 24, horizon=48) == 7


def test_auto_backtests_one_series_on_more_origins_than_a_fleet() -> None:
    rng = np.random.default_rng(5)
    t = np.arange(30 * 24)
    one = 50 + 10 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 1, (1, t.size))
    cheap = ["seasonal_naive", "fast_hw"]
    alone = AutoForecaster(24, horizon=48, candidates=cheap).fit(one)
    assert alone.scores["folds"] == affordable_folds(3, 1, one.shape[1], 48) > 3
    fleet = AutoForecaster(24, horizon=48, candidates=cheap).fit(np.repeat(one, 600, axis=0))
    assert fleet.scores["folds"] == 3


def test_a_series_that_joined_late_is_judged_only_on_folds_with_its_history_before_them() -> None:
    rng = np.random.default_rng(3)
    m = h = 24
    t = np.arange(30 * m)
    y = 50 + 10 * np.sin(2 * np.pi * t / m) + rng.normal(0, 1, (2, t.size))
    joined = 24 * m + 12  # half a day into the 25th day: 6.5 days of history at the end
    y[1, :joined] = np.nan
    model = AutoForecaster(m, horizon=h, candidates=["seasonal_naive", "fast_hw"]).fit(y)
    origins = [t.size - h * (f + 1) for f in range(model.scores["folds"])]
    # The fold at 1.5 days of its history has a MASE scale but not the two seasons a fold needs.
    assert any(m < o - joined < 2 * m for o in origins)
    eligible = [o for o in origins if o - joined >= 2 * m]
    expected = np.mean(
        [mase(y[1, o : o + h], y[1, o - m : o], mase_scale(y[1:2, :o], m))[0] for o in eligible]
    )
    got = model.scores["candidates"]["seasonal_naive"][1]
    np.testing.assert_allclose(got, expected, rtol=1e-5)
