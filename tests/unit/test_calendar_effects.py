"""Public holidays as their own day type: the effect learnt from past holidays, put on future
ones, kept only where its backtest says so; the config key and the offline flag."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from promcast_common.config import ConfigError, validate
from promcast_forecaster.offline import cli as offline
from promcast_forecaster.calendar_effects import HolidayAdjusted, HolidayCalendar, HolidaySettings
from promcast_forecaster.config import ForecasterConfig
from promcast_forecaster.engine import forecast_target
from promcast_forecaster.models import make_model
from promcast_forecaster.models.metrics import mase, mase_scale
from promcast_forecaster.source import RawSeries

DAY = 86400.0
# A fixed anchor: 2019-01-01 00:00 UTC, four years of history and one held out.
START = dt.datetime(2019, 1, 1, tzinfo=dt.timezone.utc).timestamp()
T, H = 4 * 365, 365


def daily_fleet(n: int = 12, dip: float = 0.3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Daily series with a weekly cycle whose German public holidays fall to ``dip`` of a day."""
    cal = HolidayCalendar(HolidaySettings(country="DE"), stamp="start")
    holiday = cal.mask(np.array([START]), DAY, 0, T + H)[0]
    rng = np.random.default_rng(seed)
    t = np.arange(T + H)
    week = np.array([1, 1, 1, 1, 1, 0.5, 0.4])[(t + 1) % 7]  # 2019-01-01 was a Tuesday
    y = 100 * week[None, :] * rng.uniform(0.8, 1.2, (n, 1)) + rng.normal(0, 3, (n, T + H))
    return np.where(holiday[None, :], y * dip, y), holiday


def test_the_calendar_knows_german_holidays_on_the_right_days():
    cal = HolidayCalendar(HolidaySettings(country="DE", subdivision="BY"), stamp="start")
    xmas = dt.datetime(2024, 12, 25, tzinfo=dt.timezone.utc).timestamp()
    mask = cal.mask(np.array([xmas - DAY]), DAY, 0, 3)[0]  # 24th, 25th, 26th
    assert mask.tolist() == [False, True, True]
    # Stamped at the end of the day it summarises (Prometheus' avg_over_time at midnight).
    end = HolidayCalendar(HolidaySettings(country="DE"), stamp="end")
    assert end.mask(np.array([xmas]), DAY, 0, 3)[0].tolist() == [False, True, True]
    # Epiphany is a holiday in Bavaria, not nationally.
    jan6 = dt.datetime(2025, 1, 6, tzinfo=dt.timezone.utc).timestamp()
    assert cal.mask(np.array([jan6]), DAY, 0, 1)[0, 0]
    assert not HolidayCalendar(HolidaySettings(country="DE"), "start").mask(
        np.array([jan6]), DAY, 0, 1
    )[0, 0]


def test_holiday_forecast_is_better_with_the_option_and_says_so():
    y, holiday = daily_fleet()
    train, test = y[:, :T], y[:, T:]
    scale = mase_scale(train, 7)
    on = holiday[T:]
    plain = make_model("auto_fast", 7, horizon=H).fit(train).predict(H)
    model = HolidayAdjusted(
        make_model("auto_fast", 7, horizon=H),
        HolidayCalendar(HolidaySettings(country="DE"), "start"),
        DAY,
        7,
    )
    adjusted = model.at(np.full(len(y), START)).fit(train).predict(H)
    err_plain = np.abs(test - plain["mean"])[:, on].mean()
    err_adj = np.abs(test - adjusted["mean"])[:, on].mean()
    assert err_adj < 0.2 * err_plain
    assert np.mean(mase(test, adjusted["mean"], scale)) < np.mean(mase(test, plain["mean"], scale))
    assert all(m.endswith("(+holidays)") for m in model.row_models(len(y)))
    assert all("kept by the leave-one-holiday-out backtest" in n for n in model.row_notes(len(y)))
    assert np.allclose(model.effect.pooled, 0.3, atol=0.05)


def test_a_series_without_a_holiday_effect_is_left_as_it_was():
    y, _ = daily_fleet(n=4, dip=1.0, seed=1)
    train = y[:, :T]
    model = HolidayAdjusted(
        make_model("seasonal_naive", 7),
        HolidayCalendar(HolidaySettings(country="DE"), "start"),
        DAY,
        7,
    )
    fc = model.at(np.full(4, START)).fit(train).predict(H)
    same = make_model("seasonal_naive", 7).fit(train).predict(H)
    kept = model.effect.kept
    assert not kept.all()  # noise alone rarely beats "an ordinary day" out of sample
    assert np.allclose(fc["mean"][~kept], same["mean"][~kept])
    assert all("no consistent effect" in n for n, k in zip(model.row_notes(4), kept) if not k)


def config(**holidays) -> dict:
    return {
        "targets": [
            {
                "name": "t",
                "query": "x",
                "step": "1d",
                "history": "730d",
                "season": "7d",
                "horizons": ["30d"],
                "holidays": holidays,
            }
        ]
    }


@pytest.mark.parametrize(
    "given, message",
    [
        (
            {"country": "XX"},
            "targets[0].holidays.country: unknown country 'XX': use an ISO 3166-1 code",
        ),
        ({"country": "DE", "subdivision": "ZZ"}, "subdivision 'ZZ' is not one of DE's"),
        ({"country": "DE", "timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"country": "DE", "region": "BY"}, "targets[0].holidays.region: unknown key"),
    ],
)
def test_bad_holiday_settings_name_the_key_and_what_to_do(given, message):
    with pytest.raises(ConfigError) as err:
        validate(ForecasterConfig, config(**given))
    assert message in str(err.value)


def test_holidays_need_a_step_of_a_day_or_less():
    spec = config(country="DE")
    spec["targets"][0].update(step="7d", season=0, history="3650d", horizons=["90d"])
    with pytest.raises(ConfigError, match=r"targets\[0\] \(t\).holidays: .*a day or less"):
        validate(ForecasterConfig, spec)


def test_the_engine_applies_the_targets_holidays_and_refits_when_they_change():
    y, holiday = daily_fleet(n=3)
    cfg = validate(
        ForecasterConfig, config(country="DE", subdivision="BY", timezone="Europe/Berlin")
    )
    t = cfg.resolved_targets()[0]
    assert t.holidays == HolidaySettings(country="DE", subdivision="BY", timezone="Europe/Berlin")
    # The engine's grid stamps each day at its end: the value of day k at START + (k + 1) days.
    ts = START + DAY * np.arange(1, T + 1)
    raw = [RawSeries({"host": str(i)}, ts, y[i, :T]) for i in range(3)]
    end = ts[-1]
    result = forecast_target(t, raw[:], end, end, backtest=False)
    assert all(s.model.endswith("(+holidays)") for s in result.series), [
        s.model for s in result.series
    ]
    # Column k of the curve is k days ahead: 2023-01-01 (New Year's Day, a Sunday) is forecast
    # low against the next Sunday; Epiphany (Bavaria only, where these series never dipped: the
    # data has the national holidays) has its own effect, none.
    mean = result.curves["mean"]

    def col(day: str) -> int:  # the curve's column of the value for that day
        return int(
            round(
                (dt.datetime.fromisoformat(day + "T00:00:00+00:00").timestamp() + DAY - end) / DAY
            )
        )

    assert mean[0, col("2023-01-01")] < 0.5 * mean[0, col("2023-01-08")]
    assert (
        abs(mean[0, col("2023-01-06")] - mean[0, col("2023-01-13")])
        < 0.1 * mean[0, col("2023-01-13")]
    )
    plain = validate(ForecasterConfig, config(country="DE")).resolved_targets()[0]
    from promcast_forecaster.engine import fit_reason

    assert fit_reason(result.fitted, plain, end, result.fitted.keys) == "settings"


def test_offline_takes_holidays_and_rejects_a_bad_flag(tmp_path: Path, capsys):
    y, _ = daily_fleet(n=2)
    path = tmp_path / "in.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["series_id", "timestamp", "value"])
        for i in range(2):
            for k in range(T):
                stamp = dt.datetime.fromtimestamp(START + k * DAY, dt.timezone.utc).strftime(
                    "%Y-%m-%d"
                )
                w.writerow([f"s{i}", stamp, f"{y[i, k]:.3f}"])
    parser = __import__("argparse").ArgumentParser()
    offline.add_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "out.csv"
    args = parser.parse_args(
        [
            "offline",
            "--input",
            str(path),
            "--horizon",
            "30",
            "--step",
            "1d",
            "--model",
            "seasonal_naive",
            "--holidays",
            "DE",
            "--out",
            str(out),
        ]
    )
    assert offline.run(args) == 0
    rows = list(csv.DictReader(out.open()))
    assert {r["model"] for r in rows} == {"seasonal_naive(+holidays)"}
    # 2023-01-01 and 2023-01-08 are both Sundays; the first is New Year's Day.
    newyear = [float(r["mean"]) for r in rows if r["timestamp"].startswith("2023-01-01")]
    ordinary = [float(r["mean"]) for r in rows if r["timestamp"].startswith("2023-01-08")]
    assert newyear and ordinary and newyear[0] < 0.5 * ordinary[0]
    bad = parser.parse_args(
        ["offline", "--input", str(path), "--horizon", "30", "--step", "1d", "--holidays", "DE-ZZ"]
    )
    assert offline.run(bad) == 2
    assert "--holidays 'DE-ZZ': subdivision 'ZZ' is not one of DE's" in capsys.readouterr().err


def test_hourly_steps_take_the_holiday_effect_in_the_targets_time_zone():
    # Eight weeks of hourly data over Easter 2024 in Berlin: Good Friday (29 March) and Easter
    # Monday (1 April) at a third; the forecast covers Whit Monday (20 May) three weeks later.
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Europe/Berlin")
    start = dt.datetime(2024, 2, 26, tzinfo=tz).timestamp()
    cal = HolidayCalendar(HolidaySettings(country="DE", timezone="Europe/Berlin"), stamp="start")
    hours = 12 * 7 * 24
    holiday = cal.mask(np.array([start]), 3600.0, 0, hours)[0]
    t = np.arange(hours)
    rng = np.random.default_rng(2)
    base = 100 + 50 * np.sin(2 * np.pi * (t % 24) / 24) + rng.normal(0, 2, hours)
    y = np.where(holiday, base / 3, base)[None, :]
    whit = int((dt.datetime(2024, 5, 20, tzinfo=tz).timestamp() - start) // 3600)
    history = whit - 2 * 24
    model = HolidayAdjusted(make_model("seasonal_naive", 24), cal, 3600.0, 24).at([start])
    fc = model.fit(y[:, :history]).predict(4 * 24)["mean"][0]
    on_whit = fc[2 * 24 : 3 * 24]
    day_after = fc[3 * 24 : 4 * 24]
    assert model.effect.kept[0] and model.effect.holidays[0] == 4  # Good Friday .. 1 May
    assert on_whit.mean() < 0.5 * day_after.mean()
    # The day starts at Berlin's midnight (23:00 UTC the evening before), not at UTC's.
    good_friday = int((dt.datetime(2024, 3, 29, tzinfo=tz).timestamp() - start) // 3600)
    assert holiday[good_friday] and not holiday[good_friday - 1]
    assert dt.datetime.fromtimestamp(start + good_friday * 3600, dt.timezone.utc).hour == 23


def test_hostile_timestamps_and_gaps_cost_bounded_work_and_no_crash():
    cal = HolidayCalendar(HolidaySettings(country="US"), stamp="end")
    far = np.array([1e15, -1e15, np.nan])  # years far outside any calendar, and no time at all
    assert not cal.mask(far, DAY, 0, 10).any()
    y, _ = daily_fleet(n=2)
    y[0, ::3] = np.nan
    y[1] = np.nan
    model = HolidayAdjusted(
        make_model("auto_fast", 7, horizon=30),
        HolidayCalendar(HolidaySettings(country="DE"), "start"),
        DAY,
        7,
    )
    fc = model.at([START, START]).fit(y[:, :T]).predict(30)
    assert np.isfinite(fc["mean"][0]).all()
    assert "fewer than 2" in model.row_notes(2)[1]


def test_country_and_subdivision_codes_are_read_in_any_case():
    t = validate(ForecasterConfig, config(country="de", subdivision="by")).resolved_targets()[0]
    assert (t.holidays.country, t.holidays.subdivision) == ("DE", "BY")
