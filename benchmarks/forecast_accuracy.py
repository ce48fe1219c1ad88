"""Forecast accuracy on real data: promcast auto and its fast path against the baselines.

Each dataset's newest ``horizon`` steps are held out; every method sees only the rest. Per method:
mean and median MASE (scaled by the in-sample seasonal-naive error of each series), sMAPE, share
of held-out points inside the 80% / 95% intervals, and wall time (fit + predict, all series).

The hourly proxy row puts every NAB CloudWatch series (averaged to 1 h: two weeks each) and every
Bitbrains VM (a month) into one fleet and forecasts 48 h ahead: the shape of a typical hourly
fleet with daily and weekly cycles, for judging the engine on hourly data with seasonal naive as
the baseline.

Prometheus baselines, computed exactly as Prometheus 2.42 does (forecaster/models/prometheus.py):
``predict_linear(v[W], t)`` with W = max(horizon, one day) of history, and
``holt_winters(v[W], 0.3, 0.3)`` over the same window used as a flat forecast (Prometheus returns
only the smoothed value). Their intervals are normal bands from the in-window residuals.

Run from the repo root:  .venv/bin/python benchmarks/forecast_accuracy.py [--methods a,b]

A method's row counts only when it forecast every evaluated series over the whole held-out
horizon with finite values; otherwise the benchmark exits 1 naming the method and dataset.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _baselines
from _data import Dataset, all_datasets
from _verify import require, run

from promcast_common.durations import parse_duration
from promcast_forecaster.models import make_model, model_capabilities
from promcast_forecaster.models.metrics import coverage, mase, mase_scale, smape
from promcast_forecaster.seasons import candidate_seasons

LEVELS = [80, 95]


def _promcast(name: str, **options) -> Callable:
    def run(
        train: np.ndarray, m: int, h: int, levels: list[int], seasons: tuple[int, ...] = ()
    ) -> dict[str, np.ndarray]:
        # The longer cycles go to the models that try them, as the service and offline do.
        several = (
            {"seasons": seasons} if seasons and model_capabilities(name).multi_seasonal else {}
        )
        model = make_model(name, m, horizon=h, levels=levels, **options, **several).fit(train)
        out = model.predict(h, levels)
        if name in ("auto", "auto_fast"):
            run.last = model  # type: ignore[attr-defined]
        # A model may leave a series it cannot fit without a forecast (harmonic on two days of
        # history); the service then falls back to seasonal naive, and so does the benchmark.
        missing = ~np.isfinite(np.asarray(out["mean"], dtype=float)).all(axis=1)
        run.fell_back = int(missing.sum())  # type: ignore[attr-defined]
        if missing.any():
            naive = make_model("seasonal_naive", m).fit(train[missing]).predict(h, levels)
            out = {k: np.asarray(v, dtype=float).copy() for k, v in out.items()}
            for key, value in naive.items():
                if key in out:
                    out[key][missing] = value
        return out

    return run


def _prometheus(name: str, **options) -> Callable:
    def run(
        train: np.ndarray, m: int, h: int, levels: list[int], seasons: tuple[int, ...] = ()
    ) -> dict[str, np.ndarray]:
        return make_model(name, m, window=max(h, m), **options).fit(train).predict(h, levels)

    return run


def _single_season(fn: Callable) -> Callable:
    """A library baseline run as configured upstream (it finds or fixes its own seasons)."""

    def run(train: np.ndarray, m: int, h: int, levels: list[int], seasons: tuple[int, ...] = ()):
        return fn(train, m, h, levels)

    return run


METHODS: dict[str, Callable] = {
    "promcast auto": _promcast("auto"),
    "promcast auto_fast": _promcast("auto_fast"),
    "promcast fast_hw": _promcast("fast_hw"),
    "promcast harmonic": _promcast("harmonic"),
    "promcast global_gbm": _promcast("global_gbm"),
    "seasonal naive": _promcast("seasonal_naive"),
    "prometheus predict_linear": _prometheus("drift"),
    "prometheus holt_winters sf=0.3 tf=0.3": _prometheus("prom_holt_winters", sf=0.3, tf=0.3),
    "statsforecast AutoETS": _single_season(_baselines.statsforecast_auto_ets),
    "statsforecast MSTL": _single_season(_baselines.statsforecast_mstl),
    "prophet": _single_season(_baselines.prophet),
}


def evaluate(ds: Dataset, methods: list[str]) -> list[tuple]:
    train, test = ds.values[:, : -ds.horizon], ds.values[:, -ds.horizon :]
    with np.errstate(invalid="ignore"):
        varies = np.nanmax(train, axis=1) > np.nanmin(train, axis=1)
    # MASE is undefined for a series whose history is constant (its naive error is zero).
    keep = np.isfinite(test).any(axis=1) & varies
    train, test = train[keep], test[keep]
    evaluate.excluded = int((~keep).sum())  # type: ignore[attr-defined]
    scale = mase_scale(train, ds.season_length)
    # Longer cycles than the dataset's season that make sense at its step (a week at 5m and 1h,
    # a year at 1d), as a target or offline finds them by default.
    extra = tuple(p for p in candidate_seasons(parse_duration(ds.step)) if p > ds.season_length)
    rows = []
    for name in methods:
        t0 = time.perf_counter()
        try:
            fc = METHODS[name](train, ds.season_length, ds.horizon, LEVELS, seasons=extra)
        except _baselines.Unavailable as exc:
            rows.append((name, f"skipped: {exc}"))
            continue
        wall = time.perf_counter() - t0
        mean = np.asarray(fc["mean"], dtype=float)
        require(
            mean.shape == test.shape and bool(np.isfinite(mean).all()),
            f"{name} on {ds.name}: a {mean.shape} forecast with "
            f"{int((~np.isfinite(mean)).sum()) if mean.size else 0} non-finite points, "
            f"expected finite {test.shape} (series, held-out steps)",
        )
        ms = mase(test, fc["mean"], scale)
        rows.append(
            (
                name,
                float(np.nanmean(ms)),
                float(np.nanmedian(ms)),
                float(np.nanmean(smape(test, fc["mean"]))),
                *(
                    float(np.nanmean(coverage(test, fc[f"lower-{lv}"], fc[f"upper-{lv}"])))
                    for lv in LEVELS
                ),
                wall,
            )
        )
        fell_back = getattr(METHODS[name], "fell_back", 0)
        if fell_back:
            rows.append(
                (
                    f"  ({fell_back} series without a forecast of their own: seasonal naive, as the service falls back)",
                )
            )
        if name in ("promcast auto", "promcast auto_fast"):
            auto = METHODS[name].last
            bt = auto.scores
            cov = " ".join(f"{lv}%={np.nanmean(v):.3f}" for lv, v in bt["coverage"].items())
            rows.append(
                (
                    f"  (auto's own backtest: median MASE {np.nanmedian(bt['mase']):.3f}, coverage {cov}; "
                    f"choices: {_summary(auto.chosen)})",
                )
            )
    return rows


def _summary(chosen: list[str]) -> str:
    names, counts = np.unique(chosen, return_counts=True)
    order = np.argsort(-counts)
    return ", ".join(f"{names[i]} x{counts[i]}" for i in order[:6])


def print_table(ds: Dataset, rows: list[tuple]) -> None:
    print(f"\n### {ds.name}\n")
    print("| method | mean MASE | median MASE | sMAPE % | 80% cov | 95% cov | wall s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        if len(row) == 1:
            print(f"|{row[0]}| | | | | | |")
        elif len(row) == 2:
            print(f"| {row[0]} | {row[1]} | | | | | |")
        else:
            name, mean_m, med_m, sm, c80, c95, wall = row
            print(
                f"| {name} | {mean_m:.3f} | {med_m:.3f} | {sm:.1f} | {c80:.3f} | {c95:.3f} | {wall:.1f} |"
            )
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset")
    parser.add_argument("--datasets", default="", help="substring filter on dataset names")
    args = parser.parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown methods {unknown}; known: {list(METHODS)}")
    for ds in all_datasets():
        if args.datasets and args.datasets.lower() not in ds.name.lower():
            continue
        rows = evaluate(ds, methods)
        print_table(ds, rows)
        if evaluate.excluded:  # type: ignore[attr-defined]
            print(f"\n{evaluate.excluded} series left out: constant history, MASE undefined.")  # type: ignore[attr-defined]
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
