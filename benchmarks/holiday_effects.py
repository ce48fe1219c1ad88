"""Public holidays as their own day type, on real daily data: each method with and without the
target's ``holidays`` option.

Data: daily pedestrian counts in Melbourne (``../shared/data/daily/pedestrians_covid.csv``: weekly
and yearly cycles, the COVID-19 break), with the public holidays of Victoria, Australia. The last
90 and 365 days are held out; MASE is scaled by the weekly seasonal naive's in-sample error, and
reported over all held-out days and over the held-out holidays alone.

Run from the repo root:  .venv/bin/python benchmarks/holiday_effects.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _data import DATA, require_data
from _verify import run

from promcast_forecaster.calendar_effects import HolidayAdjusted, HolidayCalendar, HolidaySettings
from promcast_forecaster.models import make_model, model_capabilities
from promcast_forecaster.models.metrics import coverage, mase_scale

METHODS = ("seasonal_naive", "fast_hw", "harmonic", "auto_fast", "auto")
SETTINGS = HolidaySettings(country="AU", subdivision="VIC", timezone="Australia/Melbourne")


def main() -> int:
    import pandas as pd

    require_data()
    frame = pd.read_csv(DATA / "daily" / "pedestrians_covid.csv", parse_dates=["ds"]).set_index(
        "ds"
    )["y"]
    frame = frame.asfreq("1D")
    y = frame.to_numpy(dtype=float)[None, :]
    start = frame.index[0].tz_localize("Australia/Melbourne").timestamp()
    calendar = HolidayCalendar(SETTINGS, stamp="start")
    holiday = calendar.mask(np.array([start]), 86400.0, 0, y.shape[1])[0]
    print(f"{int(holiday.sum())} Victorian public holidays in {y.shape[1]} days\n")
    print("| held out | method | holidays | MASE | MASE on holidays | 80% cov | chosen |")
    print("|---|---|---|---:|---:|---:|---|")
    for h in (90, 365):
        train, test = y[:, :-h], y[:, -h:]
        scale = mase_scale(train, 7)
        on_holiday = holiday[-h:]
        for name in METHODS:
            for use in (False, True):
                several = model_capabilities(name).multi_seasonal
                model = make_model(name, 7, horizon=h, seasons=(365,) if several else ())
                if use:
                    model = HolidayAdjusted(model, calendar, 86400.0, 7).at([start])
                fc = model.fit(train).predict(h, [80])
                err = np.abs(test - fc["mean"]) / scale[:, None]
                cov = float(np.nanmean(coverage(test, fc["lower-80"], fc["upper-80"])))
                print(
                    f"| {h} d | {name} | {'yes' if use else 'no'} | {np.nanmean(err):.3f} | "
                    f"{np.nanmean(err[:, on_holiday]):.3f} | {cov:.3f} | {model.row_models(1)[0]} |"
                )
                if use:
                    print(f"|  |  |  | | | | {model.row_notes(1)[0][-150:]} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
