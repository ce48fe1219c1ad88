"""The forecaster at fleet scale against a real Prometheus: N backfilled series (default 10,000
series, 28 days at 5 m), one refit cycle (read the whole history, choose and fit), one infer
cycle (read the new steps, update, predict), and the forecaster's peak RSS.

    .venv/bin/python benchmarks/forecaster_fleet.py [--series 10000] [--model fast_hw] [--step 1h]
        [--shards N]

With ``--shards N`` the same fleet is forecast by N shards (``--shard.index i --shard.count N``),
each in its own process one after the other, and the table has one row per shard: what one
replica of a sharded deployment needs (its refit time and peak RSS size its requests and limits).

The forecaster runs in its own process so its peak RSS is not the data generator's. Needs the
Debian packages prometheus and promtool (skips with a message otherwise).
"""

from __future__ import annotations

import argparse
import asyncio
import json
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

from demo.stack import free_port, prometheus_argv, spawn, terminate  # noqa: E402

METRIC = "fleet_cpu_utilization_ratio"


def write_history(path: Path, n: int, days: float, step: float) -> tuple[int, float]:
    """Utilisation-like series: a per-series level, daily and weekly cycles, growth and noise."""
    end = (time.time() // step) * step - step
    t = np.arange(end - days * 86400, end + 1, step)
    rng = np.random.default_rng(42)
    level = rng.uniform(0.1, 0.6, n)
    amp = rng.uniform(0.02, 0.25, n)
    phase = rng.uniform(0, 2 * np.pi, n)
    growth = rng.normal(0.0005, 0.002, n)
    weekend = np.where(((t // 86400 + 3) % 7) >= 5, 0.8, 1.0)
    stamps = [str(int(x)) for x in t]
    samples = 0
    with open(path, "w") as out:
        out.write(f"# TYPE {METRIC} gauge\n")
        for i in range(n):
            y = (level[i] * (1 + growth[i] * (t - end) / 86400)
                 + amp[i] * np.sin(2 * np.pi * t / 86400 + phase[i])) * weekend
            y = np.clip(y + rng.normal(0, 0.02, len(t)), 0, 1)
            prefix = f'{METRIC}{{host="h{i:05d}"}} '
            out.write("".join(f"{prefix}{v:.4f} {s}\n" for v, s in zip(y.tolist(), stamps)))
            samples += len(t)
            if i % 1000 == 999:
                print(f"  wrote {i + 1}/{n} series", file=sys.stderr, flush=True)
        out.write("# EOF\n")
    return samples, end


def measure(url: str, model: str, step: str, days: float, shard: int = 0, shards: int = 1) -> dict:
    """One refit and one infer cycle, in this (fresh) process."""
    from exporter.core.config import validate
    from forecaster.config import ForecasterConfig
    from forecaster.service import Forecaster
    from forecaster.source import PrometheusSource

    import aiohttp

    cfg = validate(ForecasterConfig, {"prometheus": {"url": url, "timeout": "120s"}, "targets": [{
        "name": "fleet", "query": METRIC, "step": step, "history": f"{int(days)}d", "season": "1d",
        "horizons": ["1h", "1d"], "model": model, "fit_every": "1h", "max_series": 100_000}]})
    fc = Forecaster(cfg, shard, shards)
    target = fc.targets[0]

    async def run() -> dict:
        async with aiohttp.ClientSession() as session:
            src = PrometheusSource.from_config(cfg.prometheus, session)
            t0 = time.perf_counter()
            assert await fc.run_cycle(target, src), "refit cycle failed"
            t1 = time.perf_counter()
            assert await fc.run_cycle(target, src), "infer cycle failed"
            t2 = time.perf_counter()
        return {"refit_s": t1 - t0, "infer_s": t2 - t1, "series": len(fc.results["fleet"].series),
                "refitted_second": fc.results["fleet"].refitted}

    out = asyncio.run(run())
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _measure_shard(port: int, args: argparse.Namespace, shard: int) -> dict:
    """One shard's refit and infer cycle in a fresh process, so its peak RSS is its own."""
    res = subprocess.run([sys.executable, __file__, "--measure", f"http://127.0.0.1:{port}",
                          "--model", args.model, "--step", args.step, "--days", str(args.days),
                          "--shard", str(shard), "--shards", str(args.shards)],
                         check=True, capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def _print_shards(runs: list[dict]) -> None:
    print(f"{len(runs)} shards, each in its own process, one after the other:\n")
    print("| shard | series | refit cycle s | infer cycle s | peak RSS MB |")
    print("|---:|---:|---:|---:|---:|")
    for i, m in enumerate(runs):
        print(f"| {i} | {m['series']} | {m['refit_s']:.1f} | {m['infer_s']:.1f}"
              f"{' (refitted!)' if m['refitted_second'] else ''} | {m['peak_rss_mb']:.0f} |")
    print(f"| all | {sum(m['series'] for m in runs)} | max {max(m['refit_s'] for m in runs):.1f} "
          f"| max {max(m['infer_s'] for m in runs):.1f} "
          f"| max {max(m['peak_rss_mb'] for m in runs):.0f} |")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--series", type=int, default=10_000)
    p.add_argument("--days", type=float, default=28)
    p.add_argument("--model", default="fast_hw")
    p.add_argument("--step", default="1h", help="the target's step (history is stored at 5m)")
    p.add_argument("--shards", type=int, default=1, metavar="N",
                   help="forecast the fleet with N shards, one process each, and report each one")
    p.add_argument("--shard", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--measure", metavar="URL", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.shards < 1:
        p.error(f"--shards must be at least 1, got {args.shards}")
    if not 0 <= args.shard < args.shards:
        p.error(f"--shard must be in [0, --shards={args.shards}), got {args.shard}")
    if args.measure:
        print(json.dumps(measure(args.measure, args.model, args.step, args.days,
                                 args.shard, args.shards)))
        return 0
    missing = [b for b in ("prometheus", "promtool") if shutil.which(b) is None]
    if missing:
        print(f"skipped: {', '.join(missing)} not installed (Debian packages)")
        return 0
    work = Path(tempfile.mkdtemp(prefix="promcast-fleet-"))
    proc = None
    try:
        t0 = time.perf_counter()
        samples, _ = write_history(work / "h.om", args.series, args.days, 300)
        t1 = time.perf_counter()
        subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics",
                        "--max-block-duration=1500h", str(work / "h.om"), str(work / "data")],
                       check=True, stdout=subprocess.DEVNULL)
        (work / "h.om").unlink()
        t2 = time.perf_counter()
        (work / "prometheus.yml").write_text("scrape_configs: []\n")
        port = free_port()
        proc = spawn(work, "prometheus", prometheus_argv(work / "prometheus.yml", work / "data", port),
                     f"http://127.0.0.1:{port}/-/ready", timeout=300)
        runs = [_measure_shard(port, args, shard) for shard in range(args.shards)]
        print(f"\nforecaster fleet benchmark: {args.series} series x {args.days:g} days at 5m "
              f"({samples / 1e6:.1f}M samples); target step {args.step}, model {args.model}\n")
        if args.shards > 1:
            _print_shards(runs)
            return 0
        m = runs[0]
        print("| what | value |\n|---|---|")
        print(f"| write OpenMetrics history | {t1 - t0:.0f} s |")
        print(f"| promtool create-blocks | {t2 - t1:.0f} s |")
        print(f"| series forecast | {m['series']} |")
        print(f"| refit cycle (read history, choose, fit, predict) | {m['refit_s']:.1f} s |")
        print(f"| infer cycle (read new steps, update, predict) | {m['infer_s']:.1f} s"
              f"{' (refitted!)' if m['refitted_second'] else ''} |")
        print(f"| forecaster peak RSS | {m['peak_rss_mb']:.0f} MB |")
    finally:
        if proc is not None:
            terminate([proc])
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
