"""Short histories: series with less than two seasons of their own, in a fleet of longer ones.

For each dataset, half of the series (even rows, then odd rows: every series is short once) are
cut to ``L`` steps of history (half, one and one and a half seasons) while the others keep theirs;
the newest ``horizon`` steps of every series are held out. The short series are scored: MASE over
the held-out steps, scaled by each series' seasonal-naive error on its whole (uncut) history so
every method is judged on the same scale, and the 80% interval coverage. "today" is the same model
without the fleet's shape (``fleet_short_history=False``): seasonal naive on the short series.

Run from the repo root:  .venv/bin/python benchmarks/short_history.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _data import DATA, bitbrains_vms, require_data
from _verify import run

from promcast_forecaster.models import make_model
from promcast_forecaster.models.metrics import coverage, mase, mase_scale

METHODS = ("auto_fast", "auto")


def nab() -> tuple[np.ndarray, np.ndarray, int, int]:
    """NAB CloudWatch right-aligned on each file's newest sample, and each row's phase in the day
    at column 0 (the files end at different times of day)."""
    import pandas as pd

    rows, ends = [], []
    for path in sorted((DATA / "nab" / "realAWSCloudwatch").glob("*.csv")):
        frame = pd.read_csv(path, parse_dates=["timestamp"]).set_index("timestamp")["value"]
        frame = frame.resample("5min").mean()
        rows.append(frame.to_numpy())
        ends.append(frame.index[-1].timestamp())
    width = max(len(r) for r in rows)
    out = np.full((len(rows), width), np.nan)
    for i, r in enumerate(rows):
        out[i, width - len(r) :] = r
    first = np.array(ends) - (width - 1) * 300
    return out, (np.round(first / 300).astype(np.int64) % 288), 288, 288


def score(
    values: np.ndarray,
    offsets: np.ndarray | None,
    m: int,
    h: int,
    length: int,
    name: str,
    fleet: bool,
) -> tuple[float, float, str]:
    train, test = values[:, :-h], values[:, -h:]
    with np.errstate(invalid="ignore"):
        varies = np.nanmax(train, axis=1) > np.nanmin(train, axis=1)
    scale = mase_scale(train, m)
    errors, inside, choices = [], [], []
    for parity in (0, 1):
        short = np.flatnonzero(
            (np.arange(len(values)) % 2 == parity) & varies & np.isfinite(test).any(axis=1)
        )
        cut = train.copy()
        cut[short, : train.shape[1] - length] = np.nan
        model = make_model(
            name, m, horizon=h, levels=[80], phases=offsets, fleet_short_history=fleet
        )
        fc = model.fit(cut).predict(h, [80])
        errors.append(mase(test[short], fc["mean"][short], scale[short]))
        inside.append(coverage(test[short], fc["lower-80"][short], fc["upper-80"][short]))
        choices += [model.row_models(len(values))[i] for i in short]
    names, counts = np.unique(choices, return_counts=True)
    return (
        float(np.nanmean(np.concatenate(errors))),
        float(np.nanmean(np.concatenate(inside))),
        ", ".join(f"{a} x{b}" for a, b in zip(names, counts)),
    )


def main() -> int:
    require_data()
    vms = bitbrains_vms("1h")
    datasets = [
        ("NAB realAWSCloudwatch, 17 series, 5 m, 1 d held out", *nab()),
        ("Bitbrains VMs, 1 h, 48 h held out", vms, None, 24, 48),
    ]
    print(
        "| dataset | short history | model | today MASE | fleet MASE | today 80% cov | fleet 80% cov | fleet choices |"
    )
    print("|---|---|---|---:|---:|---:|---:|---|")
    for title, values, offsets, m, h in datasets:
        for seasons in (0.5, 1.0, 1.5):
            length = int(seasons * m)
            for name in METHODS:
                before = score(values, offsets, m, h, length, name, False)
                after = score(values, offsets, m, h, length, name, True)
                print(
                    f"| {title} | {length} steps ({seasons:g} seasons) | {name} | {before[0]:.3f} | "
                    f"{after[0]:.3f} | {before[1]:.3f} | {after[1]:.3f} | {after[2]} |"
                )
                sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(run(main))
