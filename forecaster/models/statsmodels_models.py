"""Per-series models from statsmodels: Holt-Winters/ETS, Theta, MSTL and SARIMA.

statsmodels is imported lazily so that the numpy models work without the ``models`` extra.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .base import Capabilities
from .per_series import PerSeriesModel, SeriesUnfit


def _season_for(row: np.ndarray, m: int) -> int | None:
    """The season to use, or None when there are fewer than two full seasons to learn it from."""
    return m if m > 1 and row.size >= 2 * m + 2 else None


class HoltWinters(PerSeriesModel):
    """Additive Holt-Winters (statsmodels ExponentialSmoothing), optionally with a damped trend.

    A damped trend keeps a short-lived slope from being extrapolated over a long horizon.
    """

    min_seasons = 0.0

    def __init__(self, season_length: int = 1, damped: bool = False, trend: bool = True) -> None:
        super().__init__(season_length)
        self.damped = damped
        self.trend = trend
        self.name = "damped" if damped else "holt_winters"

    def _fit_one(self, row: np.ndarray) -> Any:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing

        m = _season_for(row, self.season_length)
        # The heuristic start avoids optimising one initial state per phase (288 at 5m steps).
        init = "heuristic" if m is None or row.size >= max(10, 2 * m) + m else "estimated"
        model = ExponentialSmoothing(
            row,
            trend="add" if self.trend else None,
            damped_trend=self.damped and self.trend,
            seasonal="add" if m else None,
            seasonal_periods=m,
            initialization_method=init,
        )
        res = model.fit(optimized=True)
        return res, row

    def _predict_one(self, state: Any, h: int) -> tuple[np.ndarray, np.ndarray]:
        res, row = state
        return np.asarray(res.forecast(h)), self._resid_sigma(row - res.fittedvalues, h)


class AutoETS(PerSeriesModel):
    """Additive-error ETS chosen by AICc among no/damped trend, with or without season."""

    name = "ets"
    min_seasons = 0.0

    def _fit_one(self, row: np.ndarray) -> Any:
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel

        m = _season_for(row, self.season_length)
        best = None
        for trend in (None, "add"):
            for seasonal in (None, "add") if m else (None,):
                model = ETSModel(
                    row,
                    error="add",
                    trend=trend,
                    damped_trend=trend is not None,
                    seasonal=seasonal,
                    seasonal_periods=m if seasonal else None,
                    initialization_method="heuristic" if seasonal else "estimated",
                )
                try:
                    res = model.fit(disp=False, maxiter=200)
                except (ValueError, np.linalg.LinAlgError):
                    continue
                if np.isfinite(res.aicc) and (best is None or res.aicc < best.aicc):
                    best = res
        if best is None:
            raise SeriesUnfit("no ETS configuration could be fitted")
        return best

    def _predict_one(self, state: Any, h: int) -> tuple[np.ndarray, np.ndarray]:
        mean = np.asarray(state.forecast(h))
        try:
            frame = state.get_prediction(start=state.nobs, end=state.nobs + h - 1).summary_frame(
                alpha=0.05
            )
            sigma = (np.asarray(frame["pi_upper"]) - np.asarray(frame["pi_lower"])) / (2 * 1.96)
        except (ValueError, KeyError, np.linalg.LinAlgError):
            sigma = self._resid_sigma(state.resid, h)
        return mean, sigma


class Theta(PerSeriesModel):
    """The Theta method (statsmodels ThetaModel), deseasonalised when two seasons are available."""

    name = "theta"
    min_seasons = 0.0

    def _fit_one(self, row: np.ndarray) -> Any:
        from statsmodels.tsa.forecasting.theta import ThetaModel

        m = _season_for(row, self.season_length)
        # Multiplicative deseasonalising divides by the seasonal index: only safe for positive data.
        method = "multiplicative" if row.min() > 0 else "additive"
        model = ThetaModel(row, period=m or 1, deseasonalize=m is not None, method=method)
        return model.fit(use_mle=False), row

    def _predict_one(self, state: Any, h: int) -> tuple[np.ndarray, np.ndarray]:
        res, row = state
        mean = np.asarray(res.forecast(h))
        # SES is ARIMA(0,1,1) with MA coefficient alpha-1, so var(diff y) = sigma2 (1 + (1-alpha)^2);
        # the library would fit a whole SARIMAX just to get sigma2.
        alpha = float(res.params["alpha"])
        sigma2 = np.var(np.diff(row)) / (1 + (1 - alpha) ** 2)
        return mean, np.sqrt(sigma2 * (1 + alpha**2 * np.arange(h)))


class MSTLModel(PerSeriesModel):
    """Several seasons at once (daily and weekly by default): statsmodels MSTL removes them, an ETS
    (damped additive trend) forecasts what is left, and each season repeats its last cycle.

    Seasons the history cannot cover twice are dropped, so a 10-day series uses only the daily one.
    """

    name = "mstl"
    min_seasons = 2.0
    capabilities = Capabilities(per_series_library=True, handles_missing=False, multi_seasonal=True)

    def __init__(self, season_length: int = 1, periods: Sequence[int] | None = None) -> None:
        super().__init__(season_length)
        self.periods = tuple(periods) if periods else (season_length, 7 * season_length)

    def _fit_one(self, row: np.ndarray) -> Any:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing
        from statsmodels.tsa.seasonal import MSTL

        periods = [p for p in self.periods if p > 1 and row.size >= 2 * p + 2]
        if not periods:
            raise SeriesUnfit(f"no season in {self.periods} fits twice into {row.size} points")
        if len(periods) == 1:
            from statsmodels.tsa.seasonal import STL

            dec = STL(row, period=periods[0], robust=False).fit()
            seasonal = np.asarray(dec.seasonal)[:, None]
        else:
            dec = MSTL(row, periods=periods, iterate=2).fit()
            seasonal = np.asarray(dec.seasonal).reshape(row.size, -1)
        rest = row - seasonal.sum(axis=1)
        ets = ExponentialSmoothing(
            rest, trend="add", damped_trend=True, initialization_method="estimated"
        ).fit()
        return periods, seasonal, ets, rest

    def _predict_one(self, state: Any, h: int) -> tuple[np.ndarray, np.ndarray]:
        periods, seasonal, ets, rest = state
        steps = np.arange(h)
        mean = np.asarray(ets.forecast(h)).copy()
        t = seasonal.shape[0]
        for j, p in enumerate(periods):
            last_cycle = seasonal[t - p :, j]
            mean += last_cycle[steps % p]
        return mean, self._resid_sigma(rest - ets.fittedvalues, h)


class Sarima(PerSeriesModel):
    """Seasonal ARIMA (1,0,1)x(0,1,1)m on short series only.

    The state space grows with the season, so seasons over 52 steps (e.g. 5-minute data with a
    daily season) are refused with a note suggesting hourly or daily steps; only the newest
    ``max_points`` points are used.
    """

    name = "sarima"
    min_seasons = 2.0
    max_season = 52
    max_points = 600

    def _fit_one(self, row: np.ndarray) -> Any:
        from statsmodels.tsa.statespace.sarimax import SARIMAX

        m = self.season_length
        if m > self.max_season:
            raise SeriesUnfit(
                f"season of {m} steps is too long for SARIMA (max {self.max_season}); "
                "use a coarser step"
            )
        row = row[-self.max_points :]
        seasonal = (0, 1, 1, m) if m > 1 else (0, 0, 0, 0)
        # Simple differencing drops the seasonal states from the Kalman filter: much faster.
        model = SARIMAX(
            row, order=(1, 0, 1), seasonal_order=seasonal, trend="c", simple_differencing=True
        )
        return model.fit(disp=False, maxiter=50), row

    def _predict_one(self, state: Any, h: int) -> tuple[np.ndarray, np.ndarray]:
        res, row = state
        fc = res.get_forecast(h)
        mean = np.asarray(fc.predicted_mean)
        sd = np.sqrt(np.asarray(fc.var_pred_mean))
        m = self.season_length
        if m > 1:
            # The model forecasts the seasonal difference; undo it one season at a time.
            hist = list(row[-m:])
            for k in range(h):
                hist.append(mean[k] + hist[-m])
            mean = np.asarray(hist[m:])
            sd = sd * np.sqrt(np.arange(h) // m + 1)
        return mean, sd
