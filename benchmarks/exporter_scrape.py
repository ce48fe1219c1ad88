"""Scrape latency and memory of the exporter with a large cost snapshot: N cost series (default
50,000) served by the real exporter HTTP server in its own process, scraped repeatedly.

    .venv/bin/python benchmarks/exporter_scrape.py [--series 50000] [--scrapes 20]

Target: a scrape answers in < 250 ms with < 300 MB RSS. Every scrape must answer 200 with every
cost series of the snapshot, or the benchmark exits 1 (a fast error page measures nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "benchmarks"))

from _verify import require, run  # noqa: E402
from demo.stack import free_port, spawn, terminate  # noqa: E402

METRIC = b"\npromcast_cost_hourly_rate_usd{"


def serve(series: int, port: int) -> None:
    from prometheus_client import CollectorRegistry

    from promcast_common.catalogue import Families
    from promcast_common.collector import Provider, SnapshotCollector
    from promcast_common.http import make_app, serve as serve_http

    class Synthetic(Provider):
        """A billing snapshot with ``series`` cost series (accounts x services x regions x types)."""

        name = "synthetic"

        def refresh(self, now: float) -> list:
            out = Families()
            for i in range(series // 3):
                labels = {
                    "provider": "aws",
                    "billing_account": f"{i % 97:012d}",
                    "sub_account": f"{i % 1013:012d}",
                    "service": f"Service {i % 211}",
                    "region": f"region-{i % 23}",
                    "charge_category": "Usage",
                }
                for cost_type, factor in (("billed", 1.0), ("effective", 0.8), ("list", 1.2)):
                    out.add(
                        "promcast_cost_hourly_rate_usd",
                        {**labels, "cost_type": cost_type},
                        (i % 1000) * 0.013 * factor,
                    )
            return list(out)

    provider = Synthetic(3600)
    collector = SnapshotCollector([provider])
    collector.refresh_one(provider)
    registry = CollectorRegistry()
    registry.register(collector)
    asyncio.run(
        serve_http(
            make_app(registry, "bench", collector.ready, lambda: collector.version),
            f"127.0.0.1:{port}",
        )
    )


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--series", type=int, default=50_000)
    p.add_argument("--scrapes", type=int, default=20)
    p.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        serve(args.series, args.serve)
        return 0
    port = free_port()
    work = Path("/tmp") / f"promcast-scrape-bench-{port}"
    work.mkdir(exist_ok=True)
    proc = spawn(
        work,
        "exporter",
        [sys.executable, __file__, "--series", str(args.series), "--serve", str(port)],
        f"http://127.0.0.1:{port}/-/ready",
        120,
    )
    expected = args.series // 3 * 3  # three cost types per synthetic line item
    try:
        times, size = [], 0
        for i in range(args.scrapes):
            t0 = time.perf_counter()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
                body = r.read()
                code = r.status
            times.append(time.perf_counter() - t0)
            size = len(body)
            found = body.count(METRIC)
            require(
                code == 200 and found == expected,
                f"scrape {i + 1}: HTTP {code} with {found} cost series, {expected} expected",
            )
        status = Path(f"/proc/{proc.pid}/status").read_text()
        hwm = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    finally:
        terminate([proc])
    times.sort()
    print(
        f"\nexporter scrape benchmark: {args.series} cost series, {args.scrapes} scrapes, "
        f"{size / 1e6:.1f} MB per scrape\n"
    )
    print("| what | measured | target |\n|---|---|---|")
    print(f"| scrape latency, median | {statistics.median(times) * 1000:.0f} ms | < 250 ms |")
    print(f"| scrape latency, worst | {times[-1] * 1000:.0f} ms | |")
    print(f"| exporter peak RSS | {hwm / 1024:.0f} MB | < 300 MB |")
    return 0


if __name__ == "__main__":
    sys.exit(run(main))
