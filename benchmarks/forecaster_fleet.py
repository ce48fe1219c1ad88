"""The forecaster at fleet scale against a real Prometheus: N backfilled series (default 10,000
series, 28 days at 5 m), one refit cycle (read the whole history, choose and fit), one infer
cycle five minutes later (read the newest steps, update, predict), and the forecaster's peak RSS.

    .venv/bin/python benchmarks/forecaster_fleet.py [--series 10000] [--model fast_hw,default]
        [--shards 1,3] [--late 0,20m] [--step 1h]

The cycles run as of fixed instants just after a grid step (one minute, then six), so the
figures do not depend on how long writing the data took. ``--late 20m`` holds the data's newest
sample 20 minutes before that step, as a late scrape or a slow backfill would: the step then has
no sample within Prometheus' 5-minute lookback, and every series must still be forecast.
``--late 0,20m`` measures both on the same data (the on-time cycles run as of an earlier step,
whose newer samples a range query ending there never sees). ``--shards 1,3`` measures one
instance, then each of three shards in turn.

Every figure is checked before it counts: each cycle forecast exactly the series written (each
shard its own share), skipped and retired none, the infer cycle did not refit, and the forecasts
are published and readable (rendered as the /metrics exposition and parsed back: one finite
point forecast per series and horizon). Otherwise the benchmark exits 1 saying what was wrong.

The forecaster runs in its own process so its peak RSS is not the data generator's. Needs the
Debian packages prometheus and promtool (skips with a message otherwise).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _verify import require, run  # noqa: E402
from demo.stack import free_port, prometheus_argv, spawn, terminate  # noqa: E402

METRIC = "fleet_cpu_utilization_ratio"
TARGET = "fleet"
HORIZONS = ["1h", "1d"]
INTERVAL = 300.0  # the stored history's sample interval
FIT_AT, INFER_AT = 60.0, 360.0  # seconds after the newest grid step


def write_history(path: Path, n: int, days: float, newest: float) -> int:
    """Utilisation-like series up to ``newest``: a per-series level, daily and weekly cycles,
    growth and noise. Returns the number of samples."""
    t = np.arange(newest - days * 86400, newest + 1, INTERVAL)
    rng = np.random.default_rng(42)
    level = rng.uniform(0.1, 0.6, n)
    amp = rng.uniform(0.02, 0.25, n)
    phase = rng.uniform(0, 2 * np.pi, n)
    growth = rng.normal(0.0005, 0.002, n)
    weekend = np.where(((t // 86400 + 3) % 7) >= 5, 0.8, 1.0)
    stamps = [str(int(x)) for x in t]
    with open(path, "w") as out:
        out.write(f"# TYPE {METRIC} gauge\n")
        for i in range(n):
            y = (
                level[i] * (1 + growth[i] * (t - newest) / 86400)
                + amp[i] * np.sin(2 * np.pi * t / 86400 + phase[i])
            ) * weekend
            y = np.clip(y + rng.normal(0, 0.02, len(t)), 0, 1)
            prefix = f'{METRIC}{{host="{host(i)}"}} '
            out.write("".join(f"{prefix}{v:.4f} {s}\n" for v, s in zip(y.tolist(), stamps)))
            if i % 1000 == 999:
                print(f"  wrote {i + 1}/{n} series", file=sys.stderr, flush=True)
        out.write("# EOF\n")
    return n * len(t)


def host(i: int) -> str:
    return f"h{i:05d}"


def shard_share(n: int, index: int, count: int) -> int:
    """How many of the written series shard ``index`` of ``count`` must forecast."""
    from promcast_forecaster.engine import series_hash

    return sum(series_hash({"host": host(i), "target": TARGET}) % count == index for i in range(n))


def measure(spec: dict) -> dict:
    """A refit and an infer cycle in this (fresh) process, as of ``spec["grid_end"]`` + 1 and 6
    minutes; the exposition is read back after both, outside the timings and the peak RSS."""
    import aiohttp

    from promcast_common.config import validate
    from promcast_forecaster.config import ForecasterConfig
    from promcast_forecaster.service import Forecaster
    from promcast_forecaster.source import PrometheusSource

    cfg = validate(
        ForecasterConfig,
        {
            "prometheus": {"url": spec["url"], "timeout": "120s"},
            # The fleet is one target: above the default per-target ceiling of 10,000 series.
            "limits": {"max_series_per_target": 100_000},
            "targets": [
                {
                    "name": TARGET,
                    "query": METRIC,
                    "step": spec["step"],
                    "history": f"{int(spec['days'])}d",
                    "season": "1d",
                    "horizons": HORIZONS,
                    "model": spec["model"],
                    "fit_every": "1h",
                    "infer_every": "5m",
                    "max_series": 100_000,
                }
            ],
        },
    )
    fc = Forecaster(cfg, spec["shard_index"], spec["shard_count"])
    target = fc.targets[0]

    async def cycles() -> list[dict]:
        out = []
        async with aiohttp.ClientSession() as session:
            src = PrometheusSource.from_config(cfg.prometheus, session)
            for offset in (FIT_AT, INFER_AT):
                t0 = time.perf_counter()
                ok = await fc.run_cycle(target, src, at=spec["grid_end"] + offset)
                secs = time.perf_counter() - t0
                r = fc.results.get(TARGET)
                out.append(
                    {
                        "ok": ok,
                        "seconds": secs,
                        "series": len(r.series) if r else 0,
                        "refitted": bool(r and r.refitted),
                        "fit_reason": getattr(r, "fit_reason", "?"),
                        "skipped": getattr(r, "skipped", 0),
                        "retired": getattr(r, "retired", 0),
                        # series whose newest step had no sample (what --late is about)
                        "late": sum(getattr(x, "observed_at", 0) < r.curve_start for x in r.series)
                        if r
                        else 0,
                    }
                )
        return out

    result = {
        "model": target.model,
        "cycles": asyncio.run(cycles()),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    result["published"] = read_back(fc)
    return result


def read_back(fc: object) -> dict:
    """The forecasts as a scrape sees them: render the exposition, parse it, count the hosts
    with a finite point forecast for every horizon."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    reg = CollectorRegistry()
    reg.register(fc)
    text = generate_latest(reg).decode()
    per_host: dict[str, set] = {}
    bad = 0
    for family in text_string_to_metric_families(text):
        if family.name != "promcast_forecast_mean":
            continue
        for s in family.samples:
            if math.isfinite(s.value):
                per_host.setdefault(s.labels.get("host", ""), set()).add(s.labels.get("horizon"))
            else:
                bad += 1
    complete = sum(h == set(HORIZONS) for h in per_host.values())
    return {
        "hosts": len(per_host),
        "complete": complete,
        "non_finite": bad,
        "exposition_mb": len(text) / 1e6,
    }


def check(m: dict, expected: int, label: str, late: float) -> list[str]:
    """What is wrong with one measurement (nothing when the timed work was all done)."""
    problems = []
    (fit, infer) = m["cycles"]
    if infer["late"] != (infer["series"] if late else 0):
        problems.append(
            f"{label}: {infer['late']} of {infer['series']} series lacked the newest "
            f"step's sample; the data was meant to be {late / 60:g} min late"
        )
    for name, c in (("refit", fit), ("infer", infer)):
        if not c["ok"]:
            problems.append(f"{label}: the {name} cycle failed (see the forecaster's log above)")
        if c["series"] != expected:
            problems.append(
                f"{label}: the {name} cycle forecast {c['series']} series, "
                f"{expected} were written for it (skipped {c['skipped']}, "
                f"retired {c['retired']})"
            )
    if not fit["refitted"] or fit["fit_reason"] != "first":
        problems.append(f"{label}: the first cycle did not fit (reason {fit['fit_reason']!r})")
    if infer["refitted"]:
        problems.append(
            f"{label}: the infer cycle refitted (reason {infer['fit_reason']!r}); "
            "its time is a refit's, not an update's"
        )
    p = m["published"]
    if p["complete"] != expected or p["non_finite"]:
        problems.append(
            f"{label}: the exposition has a finite forecast for every horizon "
            f"{HORIZONS} on {p['complete']} series of {expected} "
            f"({p['non_finite']} non-finite points)"
        )
    return problems


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--series", type=int, default=10_000)
    p.add_argument("--days", type=float, default=28)
    p.add_argument(
        "--model",
        default="fast_hw",
        help="models to measure, comma-separated; `default` is the service's default",
    )
    p.add_argument(
        "--shards", default="1", help="shard counts to measure, comma-separated (e.g. 1,3)"
    )
    p.add_argument(
        "--late",
        default="0s",
        help="hold the newest sample this long before the "
        "cycles' newest grid step (e.g. 20m: that step has no sample); comma-separated "
        "to measure several",
    )
    p.add_argument("--step", default="1h", help="the target's step (history is stored at 5m)")
    p.add_argument("--measure", metavar="JSON", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.measure:
        print(json.dumps(measure(json.loads(args.measure))))
        return 0
    from promcast_common.durations import parse_duration
    from promcast_forecaster.config import BUILTIN_DEFAULTS

    step = parse_duration(args.step)
    try:
        lates = sorted(
            {
                0.0 if x.strip() == "0" else parse_duration(x.strip())
                for x in args.late.split(",")
                if x.strip()
            }
        )
    except ValueError as exc:
        p.error(f"--late: {exc}")
    models = [
        BUILTIN_DEFAULTS.model if m.strip() == "default" else m.strip()
        for m in args.model.split(",")
        if m.strip()
    ]
    shard_counts = [int(s) for s in args.shards.split(",") if s.strip()]
    require(
        bool(lates) and all(x % INTERVAL == 0 and 0 <= x < step for x in lates),
        f"--late {args.late}: use multiples of 5m shorter than the step",
    )
    missing = [b for b in ("prometheus", "promtool") if shutil.which(b) is None]
    if missing:
        print(f"skipped: {', '.join(missing)} not installed (Debian packages)")
        return 0
    newest = time.time() // step * step - lates[-1]
    # Each lateness gets the grid step that far after the newest sample (or, on time, the
    # newest step before it: a range query ending there sees nothing newer).
    grid_ends = {late: (newest + late) // step * step for late in lates}
    require(
        all(grid_ends[x] - min(newest, grid_ends[x]) == x for x in lates),
        f"--late {args.late}: each lateness must end on the {args.step} grid from the newest sample",
    )
    work = Path(tempfile.mkdtemp(prefix="promcast-fleet-"))
    proc = None
    problems: list[str] = []
    try:
        t0 = time.perf_counter()
        samples = write_history(work / "h.om", args.series, args.days, newest)
        t1 = time.perf_counter()
        subprocess.run(
            [
                "promtool",
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                "--max-block-duration=1500h",
                str(work / "h.om"),
                str(work / "data"),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        (work / "h.om").unlink()
        t2 = time.perf_counter()
        (work / "prometheus.yml").write_text("scrape_configs: []\n")
        port = free_port()
        proc = spawn(
            work,
            "prometheus",
            prometheus_argv(work / "prometheus.yml", work / "data", port),
            f"http://127.0.0.1:{port}/-/ready",
            timeout=300,
        )
        print(
            f"\nforecaster fleet benchmark: {args.series} series x {args.days:g} days at 5m "
            f"({samples / 1e6:.1f}M samples); target step {args.step}, horizons {HORIZONS}; "
            f"cycles 1 and 6 min after the newest step, whose sample is `late` min late\n"
        )
        print(
            f"write OpenMetrics history {t1 - t0:.0f} s, promtool create-blocks {t2 - t1:.0f} s\n"
        )
        print(
            "| model | late | instance | series forecast / written | refit cycle s "
            "| infer cycle s | peak RSS MB | check |"
        )
        print("|---|---|---|---|---:|---:|---:|---|")
        sys.stdout.flush()
        runs = [
            (late, model, count, index)
            for late in lates
            for model in models
            for count in shard_counts
            for index in range(count)
        ]
        for late, model, count, index in runs:
            label = f"{model}, {late / 60:g} min late, " + (
                "one instance" if count == 1 else f"shard {index + 1}/{count}"
            )
            expected = shard_share(args.series, index, count)
            spec = {
                "url": f"http://127.0.0.1:{port}",
                "model": model,
                "step": args.step,
                "days": args.days,
                "grid_end": grid_ends[late],
                "shard_index": index,
                "shard_count": count,
            }
            res = subprocess.run(
                [sys.executable, __file__, "--measure", json.dumps(spec)],
                capture_output=True,
                text=True,
            )
            if res.returncode != 0:
                tail = "\n".join(res.stderr.strip().splitlines()[-5:])
                problems.append(f"{label}: the measuring process failed:\n{tail}")
                print(
                    f"| {model} | {late / 60:g}m | {index + 1}/{count} | | | | | FAILED |",
                    flush=True,
                )
                continue
            m = json.loads(res.stdout.strip().splitlines()[-1])
            found = check(m, expected, label, late)
            problems += found
            fit, infer = m["cycles"]
            print(
                f"| {m['model']} | {late / 60:g}m | {'one' if count == 1 else f'{index + 1}/{count}'} "
                f"| {infer['series']} / {expected} | {fit['seconds']:.1f} "
                f"| {infer['seconds']:.1f} | {m['peak_rss_mb']:.0f} "
                f"| {'INVALID' if found else 'ok'} |",
                flush=True,
            )
    finally:
        if proc is not None:
            terminate([proc])
        shutil.rmtree(work, ignore_errors=True)
    require(not problems, "\n  " + "\n  ".join(problems))
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
