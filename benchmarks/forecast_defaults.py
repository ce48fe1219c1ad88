"""The service's forecasts on real series, as a new user's first day would see them.

Each series is read at a 1 h step (NAB CloudWatch averaged from 5 m; Bitbrains VMs and their
fleet sum), the newest day is held out, and the forecaster's engine (the code a target's cycle
runs, minus the Prometheus read) forecasts it from the 14 days before with a target of the
documented form (docs/configuration.md): season 1d, levels 80/95, one horizon per hour up to a day. Per group of series:

- MASE of the held-out day (scaled by the in-sample error of seasonal naive), and on how many
  series the model is worse than seasonal naive there;
- its own backtest MASE, as published in ``promcast_forecast_backtest_mase``: how many series are
  above 1 (what ``PromcastForecastQualityDegraded`` alerts on), and how many of those seasonal
  naive's own backtest puts at or below 1; and on how many ``PromcastForecastQualityDegraded``
  would fire with its default thresholds (backtest MASE above 1.5 or coverage below 0.6);
- negative values among the published forecasts and bounds (all these gauges are >= 0);
- point forecasts outside their own 80% interval, and series with a zero-width 80% interval
  although their history varies;
- the share of held-out points inside the 80% interval.

Run from the repo root:
    .venv/bin/python benchmarks/forecast_defaults.py [--models seasonal_naive_drift,auto_fast]
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _data import bitbrains_vms, fleet_sum, nab_by_name, require_data

from promcast_common.config import validate
from promcast_forecaster.config import ForecasterConfig
from promcast_forecaster.engine import forecast_target, select_series
from promcast_forecaster.models import SeasonalNaive
from promcast_forecaster.models.metrics import mase, mase_scale
from promcast_forecaster.source import RawSeries

STEP = 3600.0
SEASON = 24
HOLDOUT = 24
HISTORY_DAYS = 14
# PromcastForecastQualityDegraded's default thresholds (rules: backtest_mase_max, _coverage_min).
ALERT_MASE, ALERT_COVERAGE = 1.5, 0.6
END = 1_700_000_000.0 // STEP * STEP  # a fixed anchor: the grid is arbitrary, the values real


def hourly(five_minute: np.ndarray) -> np.ndarray:
    """Hourly means of a 5-minute series aligned on its newest sample (all-gap hours: NaN)."""
    blocks = len(five_minute) // 12
    tail = five_minute[len(five_minute) - blocks * 12 :].reshape(blocks, 12)
    with warnings.catch_warnings():  # an all-gap hour is a gap
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(tail, axis=1)


def groups() -> dict[str, np.ndarray]:
    """Series (rows, right-aligned, NaN for gaps) by the kind of metric they are."""
    kinds = {
        "NAB EC2 CPU %": r"^ec2_cpu",
        "NAB RDS CPU %": r"^rds_cpu",
        "NAB EC2 network / disk bytes": r"^ec2_(network|disk)",
        "NAB ELB requests, ASG CPU": r"^(elb|grok)",
    }
    nab = {name: hourly(v) for name, v in nab_by_name().items()}
    out = {}
    for label, pattern in kinds.items():
        rows = [v for name, v in nab.items() if re.search(pattern, name)]
        width = max(len(r) for r in rows)
        out[label] = np.vstack([np.concatenate([np.full(width - len(r), np.nan), r]) for r in rows])
    vms = bitbrains_vms("1h")
    out["Bitbrains VMs CPU MHz"] = vms
    out["Bitbrains fleet sum CPU MHz"] = fleet_sum(vms)[None, :]
    return out


def target(model: str, extra: dict):
    spec = {
        "name": "bench",
        "query": "x",
        "step": "1h",
        "history": f"{HISTORY_DAYS}d",
        "season": "1d",
        "horizons": [f"{k}h" for k in range(1, HOLDOUT + 1)],
        "levels": [80, 95],
        "model": model,
        **extra,
    }
    return validate(ForecasterConfig, {"targets": [spec]}).resolved_targets()[0]


def evaluate(rows: np.ndarray, model: str, extra: dict) -> dict:
    t = target(model, extra)
    train, test = rows[:, :-HOLDOUT], rows[:, -HOLDOUT:]
    train = train[:, -t.points :]
    end = END
    ts = end - STEP * np.arange(train.shape[1])[::-1]
    raw = []
    for i, row in enumerate(train):
        ok = np.isfinite(row)
        raw.append(RawSeries({"series": str(i)}, ts[ok], row[ok]))
    t0 = time.perf_counter()
    res = forecast_target(t, select_series(raw, t).series, end, end)
    wall = time.perf_counter() - t0
    baseline = forecast_target(
        target("seasonal_naive", extra), select_series(raw, t).series, end, end
    )
    sn_bt = {s.labels["series"]: s.backtest_mase for s in baseline.series}
    idx = np.array([int(s.labels["series"]) for s in res.series])
    c = {k: v[:, 1 : HOLDOUT + 1].astype(float) for k, v in res.curves.items()}
    actual, hist = test[idx], train[idx]
    with np.errstate(invalid="ignore"):
        varies = np.nanmax(hist, axis=1) > np.nanmin(hist, axis=1)
    keep = varies & np.isfinite(actual).any(axis=1)  # MASE is undefined on a constant history
    scale = mase_scale(hist, SEASON)
    model_mase = mase(actual, c["mean"], scale)
    sn = SeasonalNaive(SEASON, intervals=False).fit(hist).predict(HOLDOUT)["mean"]
    sn_mase = mase(actual, sn, scale)
    published = np.concatenate(
        [c[k] for k in ("mean", "lower-80", "upper-80", "lower-95", "upper-95")]
    )
    outside = (c["mean"] < c["lower-80"]) | (c["mean"] > c["upper-80"])
    zero_width = (c["upper-80"] - c["lower-80"] <= 0).any(axis=1) & varies
    inside = (actual >= c["lower-80"]) & (actual <= c["upper-80"])
    bt = np.array([s.backtest_mase for s in res.series])
    bt_sn = np.array([sn_bt[s.labels["series"]] for s in res.series])
    low_cov = np.array(
        [any(c < ALERT_COVERAGE for c in s.backtest_coverage.values()) for s in res.series]
    )
    return {
        "series": int(keep.sum()),
        "mase": float(np.nanmean(model_mase[keep])),
        "sn_mase": float(np.nanmean(sn_mase[keep])),
        # curves are float32: differences in their last digits are no difference
        "worse": int((model_mase[keep] > sn_mase[keep] * (1 + 1e-4) + 1e-6).sum()),
        "bt_over_1": int((bt > 1).sum()),
        "bt_known": int(np.isfinite(bt).sum()),
        "bt_over_1_sn_not": int(((bt > 1) & (bt_sn <= 1)).sum()),
        "alert": int(((bt > ALERT_MASE) | low_cov).sum()),
        "negative": float((published < 0).mean()),
        "outside": int(outside.sum()),
        "points": int(outside.size),
        "zero_width": int(zero_width.sum()),
        "coverage": float(np.nanmean(np.where(np.isnan(actual), np.nan, inside)[keep])),
        "wall": wall,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="seasonal_naive,seasonal_naive_drift,auto_fast,auto")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a target field for every run, e.g. min=null (YAML value)",
    )
    args = p.parse_args(argv)
    import yaml

    extra = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    require_data()
    import promcast_forecaster as forecaster

    print(f"forecaster code: {Path(forecaster.__file__).parent}\n")
    data = groups()
    print(
        "| series | model | MASE (seasonal naive) | worse than s. naive | own backtest MASE > 1 "
        "(of which seasonal naive's is not) | quality alert would fire | negative values | mean outside its 80% interval | zero-width 80% intervals "
        "| 80% coverage | wall s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for label, rows in data.items():
        for model in [m.strip() for m in args.models.split(",") if m.strip()]:
            try:
                r = evaluate(rows, model, extra)
            except Exception as exc:  # noqa: BLE001 - e.g. a model this version does not have
                print(
                    f"| {label} | `{model}` | {type(exc).__name__}: {str(exc).splitlines()[0][:80]} |"
                )
                continue
            print(
                f"| {label} ({r['series']}) | `{model}` | {r['mase']:.2f} ({r['sn_mase']:.2f}) | "
                f"{r['worse']}/{r['series']} | {r['bt_over_1']}/{r['bt_known']} ({r['bt_over_1_sn_not']}) | {r['alert']} | "
                f"{100 * r['negative']:.1f}% | {r['outside']}/{r['points']} | {r['zero_width']} | "
                f"{r['coverage']:.2f} | {r['wall']:.2f} |"
            )
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
