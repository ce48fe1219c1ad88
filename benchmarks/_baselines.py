"""Outside forecasters the benchmarks compare against, each optional: a missing package is a
skipped row with its reason, never a failed run."""

from __future__ import annotations

from typing import Callable

import numpy as np

from promcast_forecaster.models.arrays import fill_gaps

Forecaster = Callable[[np.ndarray, int, int, list[int]], dict[str, np.ndarray]]


class Unavailable(Exception):
    pass


def _long_frame(train: np.ndarray):
    """statsforecast wants a gap-free long frame; gaps are interpolated like our per-series models."""
    import pandas as pd

    parts, kept = [], []
    for i, row in enumerate(train):
        clean = fill_gaps(row)
        if clean.size < 3:
            continue
        kept.append(i)
        parts.append(pd.DataFrame({"unique_id": i, "ds": np.arange(clean.size), "y": clean}))
    return pd.concat(parts, ignore_index=True), kept


def _statsforecast(make_models: Callable[[int, int], list]) -> Forecaster:
    def run(train: np.ndarray, m: int, h: int, levels: list[int]) -> dict[str, np.ndarray]:
        try:
            from statsforecast import StatsForecast
        except ImportError as exc:
            raise Unavailable(f"statsforecast not installed ({exc})") from exc
        frame, kept = _long_frame(train)
        sf = StatsForecast(models=make_models(m, train.shape[1]), freq=1, n_jobs=1)
        fc = sf.forecast(df=frame, h=h, level=levels)
        model_col = [
            c
            for c in fc.columns
            if c not in ("unique_id", "ds") and "-lo-" not in c and "-hi-" not in c
        ][0]
        out = {"mean": np.full((train.shape[0], h), np.nan)}
        for lv in levels:
            out[f"lower-{lv}"] = out["mean"].copy()
            out[f"upper-{lv}"] = out["mean"].copy()
        for uid, grp in fc.groupby("unique_id"):
            out["mean"][uid] = grp[model_col].to_numpy()
            for lv in levels:
                out[f"lower-{lv}"][uid] = grp[f"{model_col}-lo-{lv}"].to_numpy()
                out[f"upper-{lv}"][uid] = grp[f"{model_col}-hi-{lv}"].to_numpy()
        return out

    return run


def _auto_ets(m: int, t_len: int) -> list:
    from statsforecast.models import AutoETS

    return [AutoETS(season_length=m)]


def _mstl(m: int, t_len: int) -> list:
    from statsforecast.models import MSTL, AutoETS

    seasons = [p for p in (m, 7 * m) if t_len >= 2 * p + 2] or [m]
    return [MSTL(season_length=seasons, trend_forecaster=AutoETS(model="ZZN"))]


def prophet(train: np.ndarray, m: int, h: int, levels: list[int]) -> dict[str, np.ndarray]:
    try:
        import logging

        import pandas as pd
        from prophet import Prophet
    except ImportError as exc:
        raise Unavailable(f"prophet not installed ({exc})") from exc
    logging.getLogger("cmdstanpy").setLevel(logging.WARNING)
    step = pd.Timedelta(days=1) / m  # the season is a day in every benchmark dataset
    out = {"mean": np.full((train.shape[0], h), np.nan)}
    for lv in levels:
        out[f"lower-{lv}"] = out["mean"].copy()
        out[f"upper-{lv}"] = out["mean"].copy()
    for i, row in enumerate(train):
        clean = fill_gaps(row)
        if clean.size < 3:
            continue
        ds = pd.Timestamp("2020-01-06") + step * np.arange(clean.size)
        model = Prophet(daily_seasonality=True, weekly_seasonality=True, uncertainty_samples=200)
        model.fit(pd.DataFrame({"ds": ds, "y": clean}))
        future = pd.DataFrame({"ds": ds[-1] + step * np.arange(1, h + 1)})
        samples = model.predictive_samples(future)["yhat"]  # (h, samples)
        out["mean"][i] = model.predict(future)["yhat"].to_numpy()
        for lv in levels:
            out[f"lower-{lv}"][i] = np.quantile(samples, (100 - lv) / 200, axis=1)
            out[f"upper-{lv}"][i] = np.quantile(samples, (100 + lv) / 200, axis=1)
    return out


statsforecast_auto_ets = _statsforecast(_auto_ets)
statsforecast_mstl = _statsforecast(_mstl)
