"""Automatic model choice per series, with intervals calibrated on the series' own backtest.

How it chooses: every candidate is fitted on the whole matrix of series at once at a few rolling
origins (the newest ``folds`` blocks of ``horizon`` steps, more on a small fleet: see
:mod:`~promcast_forecaster.models.backtest_plan`, are forecast from the history before them) and
scored per series by MASE over the target horizon. Each series keeps the best candidate, or a
combination of its best two or three where that wins on folds its ranking did not see (see
:mod:`~promcast_forecaster.models.combination`). Seasonal naive is always a candidate and wins ties, so a
series is never knowingly forecast worse than the baseline, and the backtest MASE of the choice is
exposed so a poor forecast says so.

The choice must beat seasonal naive by more than the backtest can be wrong about it: with two or
more folds, the per-fold gain over seasonal naive must exceed one standard error of its mean
(the one-standard-error rule of cross-validated model choice, with seasonal naive as the
simplest model). A few folds of real series are dominated by whichever block held an incident;
a candidate that wins there by a hair, or wins two calm folds and loses the rough one, has shown
nothing, and the baseline is kept. Before that, a choice using candidates ``auto_fast`` lacks
that does not beat ``auto_fast``'s own choice on most folds is combined with it (see
:meth:`AutoForecaster._prefer_fast_choice`).

Intervals: the backtest residuals of the chosen forecast set the band per step ahead and per
level (see :mod:`~promcast_forecaster.models.lead_bands`): split-conformal style, each series'
quantile shrunk towards the fleet's. Coverage is
reported honestly: each fold is checked against bands calibrated on the other folds only. With a
single fold (a short history) there is nothing to check against and too little to learn a band
from, so the chosen candidates keep their own intervals.
"""

from __future__ import annotations

import warnings
from typing import Any, Iterator, Sequence

import numpy as np

from ..interrupt import checkpoint
from .arrays import clean_shared
from .backtest_plan import affordable_folds
from .combination import choose_rule, mean_score, per_fold_mase, rules, wins_most_folds
from .base import (
    DEFAULT_LEVELS,
    Capabilities,
    Forecast,
    ModelBase,
    as_2d,
    check_levels,
    interval_keys,
    shape_like,
)
from .fleet_profile import (
    FLEET_WEIGHT,
    MIN_FLEET,
    NAME as FLEET,
    FleetProfile,
    short_history_choice,
)
from .lead_bands import LeadBands, honest_coverage
from .metrics import mase, mase_scale, trimmed_scaled_error
from .multi_season import MIN_CYCLES, Deseasonalised
from .regimes import SinceBreak, since_break_variants
from .registry import make_model, model_capabilities, models_with
from .seasonal_naive import SeasonalNaive

DEFAULT_CANDIDATES: tuple[str, ...] = (
    "seasonal_naive",
    "seasonal_naive_drift",
    "fast_hw",
    "global_gbm",
    "theta",
    # Theta for the whole fleet in numpy: the per-series one above is left out beyond
    # PER_SERIES_LIMIT series, and the two differ enough (season test, smoothing grid) to combine.
    "fast_theta",
)
# The service's default: auto's choice among the candidates fitted for a whole fleet at once in
# numpy, so it needs no optional extra and costs a few vectorised fits per refit.
FAST_CANDIDATES: tuple[str, ...] = ("seasonal_naive", "seasonal_naive_drift", "fast_hw")
# Per-series library models cost ~10-100 ms per series and fold; beyond this many series they are
# left out of the default candidates (a note says so) and the vectorised ones carry the fleet.
PER_SERIES_LIMIT = 300
# Horizons of at least this many seasons (90 days of daily data with a weekly season) also try a
# slowly damped trend, whose reach is what a long horizon depends on.
LONG_HORIZON_SEASONS = 4
LONG_HORIZON_CANDIDATE = "fast_hw_damped"
# A cycle this many seasons long or more (a year of days against a week; a week of hours is
# only 7 days) is too long to learn phase by phase from a few repeats: models that learn it as
# a smooth shape (the ``long_cycles`` capability) are offered for it. Shorter cycles, and so
# every sub-daily fleet, never pay for them.
LONG_CYCLE_SEASONS = 26


class AutoForecaster(ModelBase):
    name = "auto"

    def __init__(
        self,
        season_length: int = 1,
        horizon: int | None = None,
        levels: Sequence[int] = DEFAULT_LEVELS,
        candidates: Sequence[str] | None = None,
        folds: int = 3,
        ensemble: bool = True,
        max_ensemble: int = 3,
        untested: str = "seasonal_naive",
        name: str = "auto",
        seasons: Sequence[int] = (),
        regimes: bool = True,
        phases: Sequence[int] | None = None,
        fleet_short_history: bool = True,
    ) -> None:
        if season_length < 1:
            raise ValueError(f"season_length must be >= 1, got {season_length}")
        self.season_length = int(season_length)
        self.horizon = horizon
        self.levels = check_levels(levels)
        self._explicit = candidates is not None
        self.candidates = list(candidates) if candidates else list(DEFAULT_CANDIDATES)
        if "seasonal_naive" not in self.candidates:
            self.candidates.insert(0, "seasonal_naive")  # the fallback must always be scored
        self.folds = max(1, int(folds))
        self.ensemble = ensemble
        self.max_ensemble = max(1, int(max_ensemble))
        # The model for a history too short to backtest anything on: nothing tells the
        # candidates apart there, so it is a choice of policy, not of accuracy.
        self.untested = untested
        self.name = name
        # Longer cycles to try besides the season (a week on hourly data, a year on daily): each
        # is backtested where the history holds enough of them (see _season_variants).
        self.seasons = sorted({int(p) for p in seasons if int(p) > self.season_length})
        self._variants: dict[str, tuple[str, int]] = {}
        # Whether candidates fitted from each series' newest regime on are tried (see _regime_variants).
        self.regimes = regimes
        self._regimes: dict[str, str] = {}
        self._break_rows = np.zeros(0, dtype=bool)
        # Each row's phase in the season at column 0 (rows on one grid: all 0), and whether a
        # series shorter than two seasons borrows the fleet's seasonal shape (off: for comparison).
        self.phases = None if phases is None else np.asarray(phases, dtype=np.int64)
        self.fleet_short_history = fleet_short_history
        self._fleet: FleetProfile | None = None
        self.chosen: list[str] = []
        self.notes: list[str] = []
        self.scores: dict[str, Any] = {}
        # What each candidate is, asked once: it decides which are affordable on a large fleet,
        # and what auto itself is (vectorised only when every candidate is).
        names = dict.fromkeys([*self.candidates, untested])
        self._caps = {c: _capabilities_or_none(c) for c in names}
        # A candidate that cannot be built (sktime not installed) fails in the backtest with a
        # note, as any broken candidate does; it says nothing about what auto is.
        caps = [c for c in (self._caps[name] for name in self.candidates) if c is not None]
        self.capabilities = Capabilities(
            vectorised=all(c.vectorised for c in caps),
            per_series_library=any(c.per_series_library for c in caps),
            # The interval calibration's step profile is learnt across the fleet.
            learns_across_series=True,
            online_update=True,
            intervals=True,
            handles_missing=all(c.handles_missing for c in caps),
            multi_seasonal=True,
            self_backtest=True,
            per_series_choice=True,
        )

    # -- fit ------------------------------------------------------------------------------------
    def fit(self, y: np.ndarray) -> "AutoForecaster":
        arr, self._single = as_2d(y)
        arr = clean_shared(
            arr
        )  # only read from here on: no copy of the fleet unless it has infinities
        n, t_len = arr.shape
        self._fleet = None
        m = self.season_length
        h = int(self.horizon or m)
        notes: list[list[str]] = [[] for _ in range(n)]
        valid_len = t_len - np.where(
            np.isfinite(arr).any(axis=1), np.argmax(np.isfinite(arr), axis=1), t_len
        )
        # Each fold needs two seasons of history before its origin to judge a seasonal model,
        # and at least a horizon of it: a year ahead forecast from a month of history says
        # nothing about a year ahead from years of it (the long-cycle models cannot even fit).
        folds = min(
            affordable_folds(self.folds, n, t_len, h), max(0, (t_len - max(2 * m, h)) // max(h, 1))
        )
        h_bt = h if folds > 0 else 0
        if folds == 0 and t_len > 2 * m + 1:
            # The horizon is long for this history: judge on a shorter one rather than not at all.
            h_bt = max(1, (t_len - 2 * m) // (self.folds + 1))
            folds = max(1, min(self.folds, (t_len - 2 * m) // h_bt))
        self._h_bt, self._folds = h_bt, folds
        candidates = self._usable_candidates(n, notes)
        candidates += self._long_horizon_candidates(h_bt, candidates)
        candidates += self._long_cycle_candidates(t_len - h_bt if folds else 0, candidates)
        # What auto_fast would have had: its own three and what auto adds to any list itself.
        self._fast_pool = {
            c for c in candidates if c in FAST_CANDIDATES or c not in self.candidates
        }
        base = list(candidates)
        candidates += self._season_variants(base, t_len - h_bt if folds else 0)
        candidates += self._regime_variants(base, arr, t_len - h_bt * folds if folds else 0)

        if folds == 0:
            short_note = (
                f"history of {t_len} points is shorter than two seasons ({2 * m}) plus a horizon: "
                f"{self.untested.replace('_', ' ')} without a backtest"
            )
            self._finish_without_backtest(arr, [short_note] * n, notes)
            return self
        origins = [t_len - h_bt * (f + 1) for f in range(folds)][::-1]
        actual = np.stack([arr[:, o : o + h_bt] for o in origins])  # (F, n, h)
        scale = np.stack([mase_scale(arr[:, :o], m) for o in origins])  # (F, n)
        # A fold judges a series only where the series itself had the history every fold needs
        # before its origin: one that joined the fleet late would otherwise be ranked on
        # forecasts from a day of its own history (a trend from that is any trend).
        # A series young at every fold (a new target: all of its series started a little into
        # the window) keeps them all, judged as the window's own fold count allowed.
        young = np.asarray(origins)[:, None] - (t_len - valid_len)[None, :] < max(2 * m, h_bt)
        actual[young & ~young.all(axis=0)] = np.nan
        fold_fc: dict[str, np.ndarray] = {}
        self._prefit = {}
        for name in candidates:
            try:
                means = [
                    model.predict(h_bt, [80])["mean"]
                    for model in self._fold_fits(name, h_bt, arr, origins)
                ]
                fold_fc[name] = np.stack(means).astype(np.float32)
            except Exception as exc:  # noqa: BLE001 - one broken candidate must not stop the rest
                for note in notes:
                    note.append(
                        f"candidate {name} failed in backtest ({type(exc).__name__}: {exc})"
                    )
        names = list(fold_fc)
        fc = np.stack([fold_fc.pop(c) for c in names])  # (C, F, n, h)
        fold_scores = per_fold_mase(actual, fc, scale)  # (C, F, n)
        cand_mase = mean_score(fold_scores)  # (C, n), inf where never scored
        self._drop_uncut_clones(names, fc, cand_mase)
        fold_scores[np.broadcast_to(~np.isfinite(cand_mase)[:, None, :], fold_scores.shape)] = (
            np.inf
        )
        fc = np.nan_to_num(fc, copy=False)  # from here on a missing forecast counts as 0

        max_k = min(self.max_ensemble, len(names)) if self.ensemble else 1
        sn = names.index("seasonal_naive")
        weights, _ = choose_rule(
            actual, fc, scale, fold_scores, rules(max_k, baseline=True), baseline=sn
        )
        self._prefer_fast_choice(names, actual, fc, scale, fold_scores, weights, notes)
        del fold_scores

        unproven = within_one_standard_error(actual, fc, weights, scale, sn)
        for i in np.flatnonzero(unproven):
            notes[i].append(
                "no candidate beat seasonal naive by more than one standard error "
                "across the backtest folds: seasonal naive"
            )
        weights[:, unproven] = 0.0
        weights[sn, unproven] = 1.0

        # Series too short for a seasonal model, or with no finite history, get the baseline.
        short = valid_len < 2 * m + h_bt
        for i in np.flatnonzero(short):
            notes[i].append(
                f"history of {valid_len[i]} points is shorter than two seasons ({2 * m}) plus the "
                f"backtest horizon ({h_bt}): seasonal naive"
            )
        weights[:, short] = 0.0
        weights[sn, short] = 1.0
        combo = np.einsum("cn,cfnh->fnh", weights, fc)
        del fc
        resid = actual - combo  # (F, n, h)
        if folds >= 2:
            self._calibrate(resid)
        else:
            # One block of residuals is too few to learn a band shape from (the newest steps of a
            # calm block give bands a normal day leaves): the candidates' own intervals instead.
            self._bands = None
        chosen_mase = mean_score(per_fold_mase(actual, combo[None], scale))[0]
        chosen_mase[~np.isfinite(chosen_mase)] = np.nan  # published: never scored is no number

        self._names, self._weights = names, weights
        self.chosen = [_label(names, weights[:, i]) for i in range(n)]
        for i in range(n):
            if np.isfinite(cand_mase[sn, i]) and chosen_mase[i] > cand_mase[sn, i]:
                notes[i].append("no candidate beat seasonal naive in the backtest")
            if not np.isfinite(arr[i]).any():
                notes[i].append("no finite values: nothing to forecast")
        self.scores = {
            "horizon": h_bt,
            "folds": folds,
            "candidates": {c: cand_mase[j] for j, c in enumerate(names)},
            # Published (forecast-quality alert): robust to one spike. The choice above uses the
            # mean, kept as "mean_mase": a model that misses the spikes too should lose the choice.
            "mase": trimmed_scaled_error(actual, combo, scale),
            "mean_mase": chosen_mase,
            "seasonal_naive_mase": cand_mase[sn],
            "seasons": [self.season_length, *sorted({p for _, p in self._variants.values()})],
            "coverage": self._honest_coverage(resid),
        }
        if self.fleet_short_history:
            self._short_history(arr, valid_len, ~short, h_bt, notes)
        self._fit_final(arr, notes)
        self._prefit = {}
        self._regime_notes(notes)
        self.notes = ["; ".join(x) for x in notes]
        return self

    def _fold_fits(
        self, name: str, h_bt: int, arr: np.ndarray, origins: list[int]
    ) -> Iterator[Any]:
        """Candidate ``name`` fitted on the history before each origin. A model that fits
        several prefixes of one history in one pass (``fit_prefixes``: fast_hw's recursion is
        the same up to every origin) does so, and its fit on the whole history is kept for
        :meth:`_fit_final`: the same fits, one pass instead of one per fold and one more."""
        model = self._build(name, h_bt, mean_only=True, rows=self._break_rows)
        if hasattr(model, "fit_prefixes"):
            checkpoint()
            *fits, self._prefit[name] = model.fit_prefixes(arr, [*origins, arr.shape[1]])
            yield from fits
            return
        for i, o in enumerate(origins):
            checkpoint()  # a fleet's backtest is the longest part of a refit
            if i:
                model = self._build(name, h_bt, mean_only=True, rows=self._break_rows)
            yield model.fit(arr[:, :o])

    def update(self, y: np.ndarray) -> "AutoForecaster":
        """Bring the chosen models up to date with new data, keeping each series' choice and the
        interval calibration: the costly backtest runs only in :meth:`fit` (every fit_every)."""
        arr, single = as_2d(y)
        if not hasattr(self, "_weights") or arr.shape[0] != self._weights.shape[1]:
            return self.fit(y)
        self._single = single
        notes: list[list[str]] = [[] for _ in range(arr.shape[0])]
        self._fit_final(clean_shared(arr), notes)
        self.notes = ["; ".join(filter(None, [old, *new])) for old, new in zip(self.notes, notes)]
        return self

    def _short_history(
        self,
        arr: np.ndarray,
        valid_len: np.ndarray,
        long_rows: np.ndarray,
        h_bt: int,
        notes: list[list[str]],
    ) -> None:
        """Series with less than two seasons of history take the fleet's seasonal shape where a
        backtest on the fleet's long series, cut to their length, prefers it (see
        :mod:`promcast_forecaster.models.fleet_profile`); every other series is left as chosen."""
        m = self.season_length
        self._fleet = None
        short = np.flatnonzero((valid_len >= 1) & (valid_len < MIN_CYCLES * m))
        donors = np.flatnonzero(long_rows & (valid_len >= MIN_CYCLES * m + h_bt))
        if m < 2 or short.size == 0:
            return
        if donors.size < MIN_FLEET:
            for i in short:
                notes[i].append(
                    f"fewer than {MIN_FLEET} series with two seasons plus a horizon "
                    "of history to learn a seasonal shape from: nothing from the fleet"
                )
            return
        weight = np.zeros(arr.shape[0])
        quantiles: dict[int, np.ndarray] = {lv: np.full(arr.shape[0], np.nan) for lv in self.levels}
        # One fleet backtest per quarter-season of length: a series of 30 steps and one of 31
        # are the same question.
        bucket = np.ceil(valid_len[short] * 4 / m).astype(int)
        for b in np.unique(bucket):
            rows = short[bucket == b]
            length = int(np.median(valid_len[rows]))
            best, q, scores = short_history_choice(
                arr, m, donors, length, h_bt, self.phases, self.levels
            )
            weight[rows] = FLEET_WEIGHT[best]
            # What is published as the row's backtest: the choice's, on the cut long series (the
            # row has no backtest of its own); its coverage is not measured per row.
            self.scores["mase"][rows] = scores[best]
            for cov in self.scores["coverage"].values():
                cov[rows] = np.nan
            for lv in self.levels:
                quantiles[lv][rows] = q[lv]
            said = ", ".join(f"{c} {v:.3f}" for c, v in scores.items())
            for i in rows:
                # This replaces what was said above of its (own, meaningless) choice.
                notes[i] = [x for x in notes[i] if not x.startswith(("history of", "no candidate"))]
                notes[i].append(
                    f"history of {valid_len[i]} points is shorter than two seasons ({2 * m}): "
                    f"{best} by a backtest of {donors.size} longer series of the target cut to "
                    f"{length} points (MASE {said})"
                )
        if not weight.any():
            return
        self._fleet = FleetProfile(
            np.zeros(m), self.phases, quantiles, rows=np.flatnonzero(weight > 0), donors=donors
        )
        sn = self._names.index("seasonal_naive")
        self._names.append(FLEET)
        self._weights = np.vstack([self._weights, weight[None, :]])
        self._weights[sn, short] = 1.0 - weight[short]  # short rows were seasonal naive alone
        self.chosen = [_label(self._names, self._weights[:, i]) for i in range(arr.shape[0])]

    def _prefer_fast_choice(
        self,
        names: list[str],
        actual: np.ndarray,
        fc: np.ndarray,
        scale: np.ndarray,
        fold_scores: np.ndarray,
        weights: np.ndarray,
        notes: list[list[str]],
    ) -> None:
        """Where the choice uses a candidate ``auto_fast`` does not have (``global_gbm``, Theta),
        it must have forecast better than the choice among ``auto_fast``'s candidates alone (made
        by the same rules) on most backtest folds; otherwise the two are combined half each, or
        without combinations (``ensemble=False``) the simpler one is kept (``weights`` is changed
        in place). A richer model that ties on the mean, or wins it on the one fold that held an
        incident, has not shown it is better than the simpler choice; nor has the simpler one
        (a near tie), and combining near-tied forecasts loses less than betting on either."""
        base = {**self._variants, **{k: (v, 0) for k, v in self._regimes.items()}}
        fast = np.array([base.get(c, (c, 0))[0] in self._fast_pool for c in names])
        if fast.all() or not fast.any():
            return
        richer = (weights[~fast] > 0).any(axis=0)
        if not richer.any():
            return
        cols = np.flatnonzero(richer)
        only_fast = np.where(fast[:, None, None], fold_scores[:, :, cols], np.inf)
        sn = names.index("seasonal_naive")
        max_k = min(self.max_ensemble, int(fast.sum())) if self.ensemble else 1
        simpler, _ = choose_rule(
            actual[:, cols],
            fc[:, :, cols],
            scale[:, cols],
            only_fast,
            rules(max_k, baseline=True),
            baseline=sn,
        )
        kept = ~wins_most_folds(
            actual[:, cols], fc[:, :, cols], scale[:, cols], weights[:, cols], simpler
        )
        share = 0.5 if self.ensemble else 1.0
        for j, i in enumerate(cols):
            if kept[j]:
                notes[i].append(
                    f"{_label(names, weights[:, i])} did not beat auto_fast's choice "
                    f"{_label(names, simpler[:, j])} on most backtest folds: "
                    + ("the two half each" if self.ensemble else "the latter kept")
                )
                weights[:, i] = (1 - share) * weights[:, i] + share * simpler[:, j]

    def _usable_candidates(self, n: int, notes: list[list[str]]) -> list[str]:
        if self._explicit or n <= PER_SERIES_LIMIT:
            return list(self.candidates)
        slow = {c for c, caps in self._caps.items() if caps is not None and caps.per_series_library}
        dropped = [c for c in self.candidates if c in slow]
        if dropped:
            for note in notes:
                note.append(f"{n} series: per-series candidates {dropped} skipped for speed")
        return [c for c in self.candidates if c not in dropped]

    def _season_variants(self, candidates: list[str], newest_origin: int) -> list[str]:
        """Candidates with a longer cycle taken out (``fast_hw(+168)``): for each of ``seasons``
        that the newest backtest origin has :data:`MIN_CYCLES` cycles of history for, the cheap
        candidates (vectorised, rows independent) once more with that cycle. The backtest then
        keeps the cycle per series only where it forecasts better."""
        self._variants = {}
        for period in self.seasons:
            if newest_origin < MIN_CYCLES * period:
                continue
            for base in candidates:
                caps = self._caps.get(base)
                # A model that learns the long cycles itself gets them as its seasons instead.
                if self._cheap(base) and not caps.long_cycles:
                    self._variants[f"{base}(+{period})"] = (base, period)
        return list(self._variants)

    # -- regime changes and long horizons (see promcast_forecaster.models.regimes) ------------------------
    def _cheap(self, name: str) -> bool:
        caps = self._caps.get(name)
        return caps is not None and caps.vectorised and caps.rows_independent

    def _regime_variants(
        self, candidates: list[str], arr: np.ndarray, oldest_origin: int
    ) -> list[str]:
        """The cheap candidates once more, fitted from each series' newest regime on, for the
        series with a level shift or trend change before the oldest backtest origin (so every
        fold can see it); the backtest keeps the cut only where it forecast better."""
        self._regimes, self._break_rows = {}, np.zeros(arr.shape[0], dtype=bool)
        if oldest_origin <= 0 or not self.regimes:
            return []
        self._regimes, self._break_rows = since_break_variants(
            candidates, self._cheap, arr[:, :oldest_origin], self.season_length
        )
        return list(self._regimes)

    def _long_horizon_candidates(self, h_bt: int, candidates: list[str]) -> list[str]:
        """A damped-trend candidate when the horizon spans several seasons (months ahead of daily
        data), where a trend's reach matters and a one-season holdout cannot judge it."""
        if (
            h_bt < LONG_HORIZON_SEASONS * self.season_length
            or "fast_hw" not in candidates
            or LONG_HORIZON_CANDIDATE in candidates
        ):
            return []
        self._caps.setdefault(LONG_HORIZON_CANDIDATE, _capabilities_or_none(LONG_HORIZON_CANDIDATE))
        return [LONG_HORIZON_CANDIDATE]

    def _long_cycle_candidates(self, newest_origin: int, candidates: list[str]) -> list[str]:
        """The models that learn long cycles as smooth shapes (a year of daily data), when one of
        ``seasons`` is at least :data:`LONG_CYCLE_SEASONS` seasons long and the newest backtest
        origin has :data:`MIN_CYCLES` of it; the backtest decides per series as for any other."""
        m = self.season_length
        if not any(
            p >= LONG_CYCLE_SEASONS * m and newest_origin >= MIN_CYCLES * p for p in self.seasons
        ):
            return []
        found = [name for name in models_with("long_cycles") if name not in candidates]
        for name in found:
            self._caps.setdefault(name, _capabilities_or_none(name))
        return found

    def _drop_uncut_clones(self, names: list[str], fc: np.ndarray, cand_mase: np.ndarray) -> None:
        """A regime candidate that forecast exactly as its base in every fold (seasonal naive
        reads only the newest season, so a cut further back changes nothing) is no candidate for
        that series: it would only add a copy to an ensemble and a false note to the choice."""
        for name, base in self._regimes.items():
            if name in names and base in names:
                j, b = names.index(name), names.index(base)
                same = (fc[j] == fc[b]).all(axis=(0, 2))
                cand_mase[j, same] = np.inf

    def _regime_notes(self, notes: list[list[str]]) -> None:
        """Say per series whether a regime change was found and whether the forecast starts there."""
        for name in self._regimes:
            j = self._names.index(name) if name in self._names else -1
            model = self._final.get(name)
            if j < 0 or model is None:
                continue
            for i in np.flatnonzero(self._weights[j]):
                if model.age[i] >= 0:
                    notes[i].append(
                        f"regime change {model.age[i]} steps ago: "
                        "the forecast uses the history since then (the backtest preferred it)"
                    )
        used = {
            i
            for name in self._regimes
            if name in self._names
            for i in np.flatnonzero(self._weights[self._names.index(name)])
        }
        for i in np.flatnonzero(self._break_rows):
            if i not in used:
                notes[i].append(
                    "regime change found; forecasting from the whole history did "
                    "better in the backtest"
                )

    def _build(
        self, name: str, h: int, mean_only: bool = False, rows: np.ndarray | None = None
    ) -> Any:
        """A candidate; ``mean_only`` when only its mean forecast will be read (the backtest, and the
        final fit once intervals are calibrated here), so the baseline skips its own intervals;
        ``rows``: the series a regime candidate is fitted for (NaN for the others)."""
        if name == FLEET and self._fleet is not None:
            return self._fleet
        if name in self._regimes:
            base = self._regimes[name]
            return SinceBreak(
                lambda: self._build(base, h, mean_only), self.season_length, rows=rows, label=name
            )
        if name in self._variants:
            base, period = self._variants[name]
            return Deseasonalised(
                lambda: self._build(base, h, mean_only), period, self.season_length, label=name
            )
        if mean_only and name in ("seasonal_naive", "seasonal_naive_drift"):
            return SeasonalNaive(self.season_length, drift=name.endswith("drift"), intervals=False)
        caps = self._caps.get(name)
        if caps is not None and caps.multi_seasonal and self.seasons:
            return make_model(name, self.season_length, horizon=h, seasons=self.seasons)
        return make_model(name, self.season_length, horizon=h)

    def _fit_final(self, arr: np.ndarray, notes: list[list[str]]) -> None:
        self._final: dict[str, Any] = {}
        # With calibrated intervals, predict reads only the candidates' means.
        mean_only = getattr(self, "_bands", None) is not None
        prefit = getattr(self, "_prefit", {})  # fitted on this history in the backtest
        for j, name in enumerate(self._names):
            if not self._weights[j].any():
                continue
            checkpoint()
            try:
                # A regime candidate is fitted only for the series that chose it.
                model = prefit.get(name)
                if model is None:
                    model = self._build(name, self._h_bt, mean_only, rows=self._weights[j] > 0).fit(
                        arr
                    )
                self._final[name] = model
            except Exception as exc:  # noqa: BLE001 - fall back to seasonal naive below
                for i in np.flatnonzero(self._weights[j]):
                    notes[i].append(f"{name} failed on full history ({exc}); seasonal naive used")
                    self.chosen[i] = "seasonal_naive"
                sn = self._names.index("seasonal_naive")
                moved = self._weights[j] > 0
                self._weights[:, moved] = 0.0
                self._weights[sn, moved] = 1.0
        if "seasonal_naive" not in self._final:
            self._final["seasonal_naive"] = self._build(
                "seasonal_naive", self._h_bt, mean_only
            ).fit(arr)
        self._name_long_cycles(arr.shape[0])

    def _name_long_cycles(self, n: int) -> None:
        """A model that learns long cycles itself decides per series whether it keeps one, and a
        regime candidate whether the whole history still shows the break the backtest saw: the
        choice is named by what the fitted model says of each row (``harmonic(+365)``, or
        ``fast_hw`` for a cut that found nothing to cut)."""
        said = {
            name: model.row_models(n)
            for name, model in self._final.items()
            if (model.capabilities.long_cycles or name in self._regimes) and name in self._names
        }
        if not said:
            return
        for i in range(n):
            used = [said[c][i] if c in said else c for c in _used(self._names, self._weights[:, i])]
            self.chosen[i] = _joined(used)

    def _finish_without_backtest(
        self, arr: np.ndarray, reason: list[str], notes: list[list[str]]
    ) -> None:
        n = arr.shape[0]
        self._names = [self.untested]
        self._weights = np.ones((1, n))
        self._final = {self.untested: self._build(self.untested, 1).fit(arr)}
        self._bands = None
        self.chosen = [self.untested] * n
        self.scores = {
            "horizon": 0,
            "folds": 0,
            "candidates": {},
            "mase": np.full(n, np.nan),
            "seasonal_naive_mase": np.full(n, np.nan),
            "coverage": {},
        }
        self.notes = ["; ".join([r] + x) for r, x in zip(reason, notes)]

    def row_models(self, n: int) -> list[str]:
        return list(self.chosen) if len(self.chosen) == n else super().row_models(n)

    def backtest_scores(self) -> dict[str, Any]:
        return self.scores

    # -- intervals ------------------------------------------------------------------------------
    def _calibrate(self, resid: np.ndarray) -> None:
        """Keep what predict needs to turn the backtest's errors into bands at any level."""
        self._bands = LeadBands(resid)

    def _honest_coverage(self, resid: np.ndarray) -> dict[int, np.ndarray]:
        """Per-series coverage of each fold's residuals by bands calibrated on the other folds."""
        return honest_coverage(resid, self.levels)

    # -- predict --------------------------------------------------------------------------------
    def predict(self, h: int, levels: Sequence[int] = DEFAULT_LEVELS) -> Forecast:
        levels = check_levels(levels)
        n = self._weights.shape[1]
        mean = np.zeros((n, h))
        # Without calibrated bands (no backtest, or a single fold), the chosen candidates' own.
        own = (
            {k: np.zeros((n, h)) for lv in levels for k in interval_keys(lv)}
            if self._bands is None
            else {}
        )
        fallback = None
        for j, name in enumerate(self._names):
            w = self._weights[j]
            if not w.any():
                continue
            pred = self._final[name].predict(h, levels)
            pm = np.atleast_2d(pred["mean"])
            # Regime candidates forecast only the series that chose them: never the fallback.
            if name == "seasonal_naive" or (fallback is None and name not in self._regimes):
                fallback = pred
            mean += w[:, None] * np.nan_to_num(pm)
            for k in own:
                own[k] += w[:, None] * np.nan_to_num(np.atleast_2d(pred[k]))
        out: Forecast = {"mean": mean}
        if fallback is None:
            fallback = self._final["seasonal_naive"].predict(h, levels)
        no_data = ~np.isfinite(np.atleast_2d(fallback["mean"])).any(axis=1)
        for lv in levels:
            lo_key, hi_key = interval_keys(lv)
            if self._bands is None:
                out[lo_key], out[hi_key] = own[lo_key], own[hi_key]
                continue
            half = self._bands.half_width(lv, h)
            out[lo_key], out[hi_key] = mean - half, mean + half
        if self._fleet is not None and FLEET in self._final:
            # Series on the fleet's shape: the band its fleet backtest measured, about the mean.
            rows = self._weights[self._names.index(FLEET)] > 0
            own_fc = self._final[FLEET].predict(h, levels)
            for lv in levels:
                for key in interval_keys(lv):
                    half = np.atleast_2d(own_fc[key]) - np.atleast_2d(own_fc["mean"])
                    out[key][rows] = mean[rows] + half[rows]
        for key in out:
            out[key][no_data] = np.nan
        return shape_like(out, self._single)


def _capabilities_or_none(name: str) -> Capabilities | None:
    try:
        return model_capabilities(name)
    except ValueError:
        return None


def within_one_standard_error(
    actual: np.ndarray, fc: np.ndarray, weights: np.ndarray, scale: np.ndarray, sn: int
) -> np.ndarray:
    """Series (n,) whose chosen forecast (``weights`` over the candidates ``fc``) is not ahead
    of seasonal naive (candidate ``sn``) by more than one standard error of the mean per-fold
    MASE gain. With fewer than two scored folds there is no error to judge: only a tie counts."""
    chosen = np.einsum("cn,cfnh->fnh", weights, fc)
    gain = mase(actual, fc[sn], scale) - mase(actual, chosen, scale)  # (F, n): > 0, chosen ahead
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        folds = np.isfinite(gain).sum(axis=0)
        mean = np.nanmean(gain, axis=0)
        spread = np.nanstd(gain, axis=0, ddof=1) / np.sqrt(np.maximum(folds, 1))
        se = np.where(folds >= 2, spread, 0.0)
    is_sn = weights[sn] == 1.0
    return ~is_sn & np.isfinite(mean) & (mean <= se)


def _used(names: list[str], w: np.ndarray) -> list[str]:
    return [names[j] for j in np.flatnonzero(w)]


def _joined(used: list[str]) -> str:
    return used[0] if len(used) == 1 else "ensemble(" + "+".join(used) + ")"


def _label(names: list[str], w: np.ndarray) -> str:
    return _joined(_used(names, w))
