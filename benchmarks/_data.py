"""Loading the real datasets under ../shared/data for the benchmarks (never copied into the repo)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


@dataclass
class Dataset:
    name: str
    values: np.ndarray  # (series, time), NaN for gaps, right-aligned on each series' newest sample
    season_length: int
    horizon: int
    step: str


def require_data() -> None:
    if not DATA.is_dir():
        print(
            f"skipped: {DATA} (../shared/data relative to the repo root) is absent", file=sys.stderr
        )
        raise SystemExit(0)


def _right_aligned(rows: list[np.ndarray]) -> np.ndarray:
    width = max(len(r) for r in rows)
    out = np.full((len(rows), width), np.nan)
    for i, r in enumerate(rows):
        out[i, width - len(r) :] = r
    return out


def nab_by_name(freq: str = "5min", folder: str = "realAWSCloudwatch") -> dict[str, np.ndarray]:
    """Each NAB file of ``folder`` (by file name) on a ``freq`` grid (5 minutes by default;
    coarser: the mean of each slot), gaps NaN."""
    import pandas as pd

    out = {}
    for path in sorted((DATA / "nab" / folder).glob("*.csv")):
        frame = pd.read_csv(path, parse_dates=["timestamp"]).set_index("timestamp")["value"]
        out[path.name] = frame.resample(freq).mean().to_numpy()  # gaps become NaN
    return out


def nab() -> Dataset:
    rows = list(nab_by_name().values())
    return Dataset(
        "NAB realAWSCloudwatch (17 series, 5m, last day held out)",
        _right_aligned(rows),
        288,
        288,
        "5m",
    )


def nab_unseen() -> list[Dataset]:
    """The labelled NAB sets the forecasting engine was not developed on (road traffic, Twitter
    mentions, ad-exchange prices), last day held out: an out-of-sample check of its choices."""
    out = []
    for folder, freq, step, m in (
        ("realTraffic", "5min", "5m", 288),
        ("realTweets", "5min", "5m", 288),
        ("realAdExchange", "1h", "1h", 24),
    ):
        rows = list(nab_by_name(freq, folder).values())
        name = f"NAB {folder} ({len(rows)} series, {step}, last day held out)"
        out.append(Dataset(name, _right_aligned(rows), m, m, step))
    return out


def bitbrains_vms(freq: str = "1h") -> np.ndarray:
    """CPU MHz used per Bitbrains VM (rows) on a ``freq`` grid (columns), NaN where not reporting."""
    import pandas as pd

    frame = pd.read_csv(
        DATA / "bitbrains" / "bitbrains-small_50vm_5min.csv.gz", parse_dates=["timestamp_utc"]
    )
    frame["slot"] = frame["timestamp_utc"].dt.floor(freq)
    grid = frame.pivot_table(index="vm_id", columns="slot", values="cpu_usage_mhz", aggfunc="mean")
    full = pd.date_range(grid.columns.min(), grid.columns.max(), freq=freq)
    return grid.reindex(columns=full).to_numpy()


def fleet_sum(vms: np.ndarray) -> np.ndarray:
    # VMs come and go (as in any fleet): the sum is over the VMs reporting in that slot.
    return np.where(np.isnan(vms).all(axis=0), np.nan, np.nansum(vms, axis=0))


def bitbrains_hourly() -> tuple[Dataset, Dataset]:
    vms = bitbrains_vms("1h")
    total = fleet_sum(vms)[None, :]
    return (
        Dataset("Bitbrains 50 VMs cpu_usage_mhz (1h, last 48h held out)", vms, 24, 48, "1h"),
        Dataset("Bitbrains fleet sum (1h, last 48h held out)", total, 24, 48, "1h"),
    )


def hourly_proxy() -> Dataset:
    """Every NAB and Bitbrains VM series at 1 h, 48 h held out: a stand-in for hourly fleets of
    a few hundred series with daily and weekly cycles (2 to 4 weeks of history each)."""
    rows = [*nab_by_name("1h").values(), *bitbrains_vms("1h")]
    return Dataset(
        "hourly proxy: NAB + Bitbrains VMs resampled (67 series, 1h, last 48h held out)",
        _right_aligned([_trimmed(r) for r in rows]),
        24,
        48,
        "1h",
    )


def _trimmed(row: np.ndarray) -> np.ndarray:
    """The row from its first to its last observed value (a VM that stopped reporting early
    keeps its own newest point as the end of its history)."""
    seen = np.flatnonzero(np.isfinite(row))
    return row[seen[0] : seen[-1] + 1] if seen.size else row


def pedestrians_daily() -> list[Dataset]:
    """Daily pedestrian counts (weekly and yearly cycles, a regime change): the long-horizon rows,
    last 90 and last 365 days held out. MASE is scaled by the weekly seasonal naive's error."""
    import pandas as pd

    frame = pd.read_csv(DATA / "daily" / "pedestrians_covid.csv", parse_dates=["ds"]).set_index(
        "ds"
    )["y"]
    values = frame.asfreq("1D").to_numpy(dtype=float)[None, :]
    return [
        Dataset(f"pedestrians_covid (1 series, 1d, last {h}d held out)", values, 7, h, "1d")
        for h in (90, 365)
    ]


def synthetic_daily(years: float = 8.0, n: int = 1, seed: int = 20) -> np.ndarray:
    """Daily series (n, days) with a weekly cycle, a yearly one that is no sine (a summer
    plateau, a dip over the new year), a trend that changes slope once, autocorrelated noise
    and a few incidents: what a long-horizon model must handle, from a fixed seed."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(years * 365.25), dtype=float)
    out = np.empty((n, t.size))
    for i in range(n):
        phase = 2 * np.pi * (t / 365.25 + rng.uniform(0, 0.1))
        yearly = 80 * np.tanh(2 * np.sin(phase)) + 25 * np.cos(2 * phase)
        dip = -120 * np.exp(-0.5 * (((t + 5) % 365.25 - 5) / 4) ** 2)  # around day 0 each year
        weekly = rng.uniform(0.5, 1.5) * np.array([20, 35, 35, 30, 25, -60, -85])[t.astype(int) % 7]
        change = rng.uniform(0.4, 0.7) * t.size
        slope = rng.uniform(0.02, 0.08)
        trend = slope * t + rng.uniform(-1, 1) * slope * np.maximum(t - change, 0)
        noise = np.zeros(t.size)
        e = rng.normal(0, 20, t.size)
        for k in range(1, t.size):
            noise[k] = 0.5 * noise[k - 1] + e[k]
        spikes = np.zeros(t.size)
        spikes[rng.choice(t.size, 6, replace=False)] = rng.choice([-1, 1], 6) * 300
        out[i] = 1000 + trend + yearly + dip + weekly + noise + spikes
    return out


def synthetic_datasets() -> list[Dataset]:
    """The synthetic daily series (see :func:`synthetic_daily`), last 90 and 365 days held out."""
    values = synthetic_daily()
    return [
        Dataset(f"synthetic daily (1 series, 8 years, last {h}d held out)", values, 7, h, "1d")
        for h in (90, 365)
    ]


def all_datasets() -> list[Dataset]:
    require_data()
    return [
        nab(),
        *nab_unseen(),
        *bitbrains_hourly(),
        hourly_proxy(),
        *pedestrians_daily(),
        *synthetic_datasets(),
    ]
