"""Public holidays as their own day type: a target's ``holidays`` option.

A holiday looks like no ordinary day of its week: an office's traffic on a Monday holiday is a
Sunday's, a shop's is a Saturday's. Models that learn a weekly cycle see such a day as noise, and
repeat last year's dip on the wrong date. Here each series' holiday effect is estimated from the
holidays in its own history (the ratio of what was observed on the holiday to what the same
weekday and time showed one and two weeks before and after, the median over the holidays, or the
difference where the series can go negative), the history is adjusted by it before any model
sees it, and the effect is put back on the holidays that fall within the forecast.

Whether a series keeps the effect is a backtest: each past holiday is forecast from the effect the
other holidays show (leave one holiday out), and the effect is kept only where that beats
assuming an ordinary day. A series whose holidays disagree with each other is left as it was.

Dates come from the ``holidays`` library (country and optional subdivision), in the target's
time zone. Steps of a day or less only: a weekly value holds a holiday among six ordinary days.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import warnings
from functools import lru_cache
from typing import Literal, Optional, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from pydantic import ValidationInfo, field_validator

from promcast_common.config import Strict
from promcast_forecaster.models.base import (
    DEFAULT_LEVELS,
    Forecast,
    Model,
    ModelBase,
    as_2d,
    shape_like,
)

DAY = 86400.0
WEEK = 7 * DAY
#: Holidays a series must have shown before its effect is estimated (one is an anecdote).
MIN_HOLIDAYS = 2
#: Years of calendar any series may ask for: bounds the work of one hostile timestamp.
MAX_YEARS = 400
_FIRST_YEAR, _LAST_YEAR = 1900, 2300


class HolidaySettings(Strict):
    """``holidays:`` of a target: whose public holidays change the series."""

    country: str
    subdivision: Optional[str] = None
    timezone: str = "UTC"

    @field_validator("country")
    @classmethod
    def _country(cls, v: str) -> str:
        v = v.strip().upper()
        if v not in _supported():
            raise ValueError(
                f"unknown country {v!r}: use an ISO 3166-1 code the holidays library "
                "knows (e.g. DE, US, GB, FR, AU)"
            )
        return v

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {v!r}: use an IANA name such as Europe/Berlin "
                f"({type(exc).__name__})"
            ) from None
        return v

    @field_validator("subdivision")
    @classmethod
    def _subdivision(cls, v: Optional[str], info: ValidationInfo) -> Optional[str]:
        country = info.data.get("country")
        if v is None or country is None:  # a bad country is reported on its own
            return v
        known = _supported().get(country, ())
        by_upper = {k.upper(): k for k in known}
        if v.strip().upper() not in by_upper:
            shown = (", ".join(known[:12]) + (", ..." if len(known) > 12 else "")) or "it has none"
            raise ValueError(
                f"subdivision {v!r} is not one of {country}'s ({shown}); leave it "
                "out for the national holidays"
            )
        return by_upper[v.strip().upper()]

    def label(self) -> str:
        return self.country + (f"-{self.subdivision}" if self.subdivision else "")


@lru_cache(maxsize=1)
def _supported() -> dict[str, tuple[str, ...]]:
    import holidays

    return {k: tuple(v) for k, v in holidays.list_supported_countries().items()}


def parse_holidays_flag(text: str) -> HolidaySettings:
    """``COUNTRY[-SUBDIVISION][@TIMEZONE]`` (``DE``, ``DE-BY``, ``AU-VIC@Australia/Melbourne``)."""
    where, _, tz = text.partition("@")
    country, _, sub = where.partition("-")
    return HolidaySettings(country=country, subdivision=sub or None, timezone=tz or "UTC")


class HolidayCalendar:
    """Which steps of a grid fall on a public holiday of ``settings``.

    ``stamp`` says what a timestamp stands for: ``"end"``, the period before it (Prometheus'
    ``avg_over_time(x[1d])`` at midnight is the day before), or ``"start"``, the period after it
    (a daily CSV's date is the day its value is for)."""

    def __init__(self, settings: HolidaySettings, stamp: Literal["start", "end"] = "end") -> None:
        self.settings = settings
        self.stamp = stamp
        self._tz = ZoneInfo(settings.timezone)
        self._years: dict[int, dict[dt.date, str]] = {}
        self._names: dict[str, int] = {}

    def mask(self, starts: np.ndarray, step: float, first: int, count: int) -> np.ndarray:
        """(rows, count): whether columns ``first .. first+count-1`` of each row's grid (column 0
        at ``starts[row]``, ``step`` seconds apart) fall on a holiday."""
        return self.days(starts, step, first, count)[0] > 0

    def days(
        self, starts: np.ndarray, step: float, first: int, count: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(holiday, day), each (rows, count) of ints: which holiday each step falls on (0: none;
        the same number for the same holiday every year) and its local day (a number shared by
        the steps of one day). Rows with the same start (a target's series share the grid) are
        computed once."""
        starts = np.asarray(starts, dtype=float)
        unique, inverse = np.unique(starts, return_inverse=True)
        half = step / 2 if self.stamp == "start" else -step / 2
        # The middle of each step's period decides its day.
        t = unique[:, None] + (first + np.arange(count))[None, :] * step + half
        day, dates = self.local_days(t)
        codes = np.array([self._code(d) for d in dates] + [0])
        return codes[day][inverse.ravel()], day[inverse.ravel()]

    def _code(self, date: dt.date) -> int:
        name = self._holidays(date.year).get(date)
        if name is None:
            return 0
        return self._names.setdefault(name, len(self._names) + 1)

    def local_days(self, t: np.ndarray) -> tuple[np.ndarray, list[dt.date]]:
        """Each instant's local day as an index into the returned dates (len(dates) for an
        instant outside the calendar's years), so a fleet's grid needs one lookup per day."""
        finite = t[np.isfinite(t)]
        if finite.size == 0:
            return np.zeros(t.shape, dtype=int), []
        lo = _date(float(finite.min()) - DAY, self._tz)
        hi = _date(float(finite.max()) + DAY, self._tz)
        lo = max(lo, dt.date(_FIRST_YEAR, 1, 1))
        hi = min(hi, dt.date(_LAST_YEAR, 12, 31), lo + dt.timedelta(days=int(MAX_YEARS * 365.25)))
        if hi < lo:
            return np.full(t.shape, 0, dtype=int), []
        dates = [lo + dt.timedelta(days=k) for k in range((hi - lo).days + 1)]
        bounds = np.array(
            [dt.datetime.combine(d, dt.time(), self._tz).timestamp() for d in dates]
            + [dt.datetime.combine(hi + dt.timedelta(days=1), dt.time(), self._tz).timestamp()]
        )
        idx = np.searchsorted(bounds, np.where(np.isfinite(t), t, -np.inf), side="right") - 1
        idx = np.where((idx < 0) | (idx >= len(dates)), len(dates), idx)
        return idx, dates

    def _holidays(self, year: int) -> dict[dt.date, str]:
        if year not in self._years:
            import holidays

            s = self.settings
            self._years[year] = dict(
                holidays.country_holidays(s.country, subdiv=s.subdivision, years=year).items()
            )
        return self._years[year]


def _date(ts: float, tz: ZoneInfo) -> dt.date:
    ts = min(
        max(ts, -2_208_988_800.0), 10_413_792_000.0
    )  # 1900 .. 2300: hostile stamps stay bounded
    return dt.datetime.fromtimestamp(ts, tz).date()


@dataclasses.dataclass
class HolidayEffect:
    """Per row: the effect of each holiday (``by_holiday[row, code]``, a ratio, or a difference
    where ``additive``; column 0 is the ordinary day), whether the leave-one-holiday-out backtest
    kept it, and how many past holidays it rests on."""

    by_holiday: np.ndarray
    additive: np.ndarray
    kept: np.ndarray
    holidays: np.ndarray
    pooled: np.ndarray  # the effect of a holiday not seen often enough to have its own

    def factors(self, codes: np.ndarray) -> np.ndarray:
        """(n, k) effect per step of ``codes`` (n, k); the identity where none applies."""
        identity = np.where(self.additive, 0.0, 1.0)[:, None]
        known = codes < self.by_holiday.shape[1]
        rows = np.arange(codes.shape[0])[:, None]
        own = self.by_holiday[rows, np.where(known, codes, 0)]
        out = np.where(known & (codes > 0), own, self.pooled[:, None])
        return np.where((codes > 0) & self.kept[:, None], out, identity)


def reference_period(step: float, season_length: int, t_len: int) -> int:
    """The steps between a day and the ordinary days it is compared with: a week where the step
    divides one and the history holds two, else the season."""
    week = WEEK / step
    if abs(week - round(week)) < 1e-9 and round(week) >= 2 and t_len >= 2 * round(week):
        return int(round(week))
    return max(1, season_length)


def estimate(
    arr: np.ndarray, codes: np.ndarray, day: np.ndarray, period: int, known: int
) -> HolidayEffect:
    """Each row's holiday effects from its history ``arr`` (n, T); ``codes`` (n, T) says which
    holiday each step is (0: none, at most ``known``) and ``day`` (n, T) its local day (the
    steps of one holiday are judged together).

    A holiday seen at least :data:`MIN_HOLIDAYS` times has its own effect (Christmas empties an
    office more than a regional holiday does), the others the median of all holidays."""
    n, t_len = arr.shape
    holiday = codes > 0
    out = HolidayEffect(
        np.ones((n, known + 1)),
        np.zeros(n, dtype=bool),
        np.zeros(n, dtype=bool),
        np.zeros(n, dtype=int),
        np.ones(n),
    )
    cols = np.flatnonzero(holiday.any(axis=0))
    if cols.size == 0:
        return out
    # The ordinary days around each holiday step: same weekday and time, one and two periods away.
    refs = []
    for k in (-2, -1, 1, 2):
        c = cols + k * period
        ok = (c >= 0) & (c < t_len)
        cc = np.clip(c, 0, t_len - 1)
        refs.append(np.where(ok[None, :] & ~holiday[:, cc], arr[:, cc], np.nan))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = np.nanmedian(np.stack(refs), axis=0)  # (n, len(cols))
    y = arr[:, cols]
    use = holiday[:, cols] & np.isfinite(y) & np.isfinite(ref)
    positive = ~(np.nanmin(np.where(np.isfinite(arr), arr, np.inf), axis=1) < 0)
    for i in np.flatnonzero(use.any(axis=1)):
        keys, first, inv = np.unique(day[i, cols][use[i]], return_index=True, return_inverse=True)
        names = codes[i, cols][use[i]][first]
        sy = np.bincount(inv, weights=y[i, use[i]])
        sr = np.bincount(inv, weights=ref[i, use[i]])
        cnt = np.bincount(inv).astype(float)
        out.holidays[i] = keys.size
        if keys.size < MIN_HOLIDAYS:
            continue
        additive = not (positive[i] and (sr > 0).all())
        per_day = (sy - sr) / cnt if additive else sy / sr
        if not np.isfinite(per_day).all():
            continue
        # Leave one holiday out: each is forecast from the others' effect, against no effect.
        pred = np.array(
            [
                _effect(np.delete(per_day, j), np.delete(names, j), names[j])
                for j in range(keys.size)
            ]
        )
        with_effect = np.abs(sy - (sr + pred * cnt if additive else sr * pred)).sum()
        without = np.abs(sy - sr).sum()
        out.additive[i] = additive
        out.pooled[i] = float(np.median(per_day))
        out.by_holiday[i, :] = out.pooled[i]
        for code in np.unique(names):
            out.by_holiday[i, code] = _effect(per_day, names, code)
        out.kept[i] = bool(with_effect < without) and (
            additive or bool((out.by_holiday[i] > 0).all())
        )
    return out


def _effect(per_day: np.ndarray, names: np.ndarray, name: int) -> float:
    """Holiday ``name``'s effect: the median of its own days when there are enough, else of all."""
    own = per_day[names == name]
    return float(np.median(own if own.size >= MIN_HOLIDAYS else per_day))


def apply(
    values: np.ndarray, codes: np.ndarray, effect: HolidayEffect, inverse: bool
) -> np.ndarray:
    """``values`` (n, k) with the effect put on its holiday steps, or taken off (``inverse``)."""
    f = effect.factors(codes)
    add = effect.additive[:, None]
    if inverse:
        return np.where(add, values - f, values / np.where(f == 0, 1.0, f))
    return np.where(add, values + f, values * f)


class HolidayAdjusted(ModelBase):
    """``inner`` fitted on the history with each series' holiday effect taken out, the effect put
    back on the forecast's holidays. ``starts`` is each row's column-0 timestamp (set with
    :meth:`at` before every fit or update, since the grid moves)."""

    def __init__(
        self, inner: Model, calendar: HolidayCalendar, step: float, season_length: int = 1
    ) -> None:
        if step > DAY:
            raise ValueError(f"holidays need a step of a day or less, got {step:g}s")
        self.inner = inner
        self.calendar = calendar
        self.step = float(step)
        self.season_length = int(season_length)
        self.name = inner.name
        self.capabilities = inner.capabilities
        self.starts: np.ndarray | None = None

    def at(self, starts: Sequence[float] | np.ndarray) -> "HolidayAdjusted":
        self.starts = np.asarray(starts, dtype=float)
        return self

    def _prepare(self, y: np.ndarray) -> np.ndarray:
        arr, self._single = as_2d(y)
        n, t_len = arr.shape
        if self.starts is None or self.starts.shape != (n,):
            raise ValueError(f"holiday calendar needs the start of each of the {n} rows' grids")
        self._t_len = t_len
        codes, day = self.calendar.days(self.starts, self.step, 0, t_len)
        period = reference_period(self.step, self.season_length, t_len)
        self.effect = estimate(arr, codes, day, period, int(codes.max(initial=0)))
        return apply(arr, codes, self.effect, inverse=True)

    def fit(self, y: np.ndarray) -> "HolidayAdjusted":
        self.inner.fit(self._prepare(y))
        return self

    def update(self, y: np.ndarray) -> "HolidayAdjusted":
        self.inner.update(self._prepare(y))
        return self

    def predict(self, h: int, levels: Sequence[int] = DEFAULT_LEVELS) -> Forecast:
        fc = self.inner.predict(h, levels)
        codes, _ = self.calendar.days(self.starts, self.step, self._t_len, h)
        out = {
            k: apply(np.atleast_2d(np.asarray(v, dtype=float)), codes, self.effect, False)
            for k, v in fc.items()
        }
        return shape_like(out, self._single)

    def row_models(self, n: int) -> list[str]:
        names = self.inner.row_models(n)
        return [f"{m}(+holidays)" if k else m for m, k in zip(names, self.effect.kept)]

    def row_notes(self, n: int) -> list[str]:
        label = self.calendar.settings.label()
        notes = []
        for i, inner in enumerate(self.inner.row_notes(n)):
            e = self.effect
            if e.kept[i]:
                what = f"{e.pooled[i]:+.4g}" if e.additive[i] else f"x{e.pooled[i]:.3g}"
                own = (
                    f"holidays ({label}): effect {what} (median; each holiday seen "
                    f"{MIN_HOLIDAYS}+ times has its own) from {e.holidays[i]} past holidays, "
                    "kept by the leave-one-holiday-out backtest"
                )
            elif e.holidays[i] >= MIN_HOLIDAYS:
                own = (
                    f"holidays ({label}): {e.holidays[i]} past holidays show no consistent "
                    "effect; not applied"
                )
            else:
                own = (
                    f"holidays ({label}): {e.holidays[i]} past holidays in the history, fewer "
                    f"than {MIN_HOLIDAYS}; not applied"
                )
            notes.append("; ".join(filter(None, [inner, own])))
        return notes

    def backtest_scores(self) -> dict:
        return self.inner.backtest_scores()
