"""Liveness of the forecaster under a burst of heavy API queries: how fast ``/-/healthy`` answers
while many clients ask ``/api/v1/query_range`` for every forecast curve at once.

    .venv/bin/python benchmarks/api_burst.py [--series 500] [--clients 16] [--seconds 20]
                                             [--code DIR]

A real Prometheus holds N backfilled series (3 days at 5 m); a forecaster (its own process,
default flags) forecasts them one day ahead. Then ``--clients`` threads each send range queries
over all curves of the next day (series x 5 curves x 288 points) back to back, while one more
thread asks ``/-/healthy`` every 100 ms. ``--code DIR`` runs the forecaster from another checkout
(e.g. an older version) to compare. Needs the Debian packages prometheus and promtool.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.forecaster_fleet import METRIC, write_history  # noqa: E402
from demo.stack import backfilled_prometheus, free_port, spawn, terminate  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, default=500)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--code", type=Path, default=ROOT, help="checkout to run the forecaster from")
    args = ap.parse_args()
    if not (shutil.which("prometheus") and shutil.which("promtool")):
        print("skipped: needs the Debian packages prometheus and promtool")
        return 0
    with tempfile.TemporaryDirectory(prefix="promcast-burst-") as tmp:
        work = Path(tmp)
        om = work / "history.om"
        write_history(om, args.series, 3, 300)
        prometheus, prom_url = backfilled_prometheus(work, om)
        procs = [prometheus]
        try:
            (work / "forecaster.yml").write_text(
                yaml.safe_dump(
                    {
                        "prometheus": {"url": prom_url, "timeout": "60s"},
                        "targets": [
                            {
                                "name": "fleet",
                                "query": METRIC,
                                "step": "5m",
                                "history": "2d",
                                "season": "1d",
                                "horizons": ["1d"],
                                "levels": [80, 95],
                            }
                        ],
                    }
                )
            )
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            os.environ["PYTHONPATH"] = str(args.code.resolve())
            procs.append(
                spawn(
                    work,
                    "forecaster",
                    [
                        sys.executable,
                        "-m",
                        "promcast_forecaster",
                        "--config.file",
                        str(work / "forecaster.yml"),
                        f"--web.listen-address=127.0.0.1:{port}",
                    ],
                    f"{url}/-/ready",
                    300,
                )
            )
            report(burst(url, args.clients, args.seconds), args)
        finally:
            terminate(procs)
    return 0


def burst(url: str, clients: int, seconds: float) -> dict:
    stop = threading.Event()
    statuses: list[int] = []
    health: list[float] = []
    now = time.time()
    params = {
        "query": '{__name__=~"promcast_forecast_(mean|lower|upper)"}',
        "start": now,
        "end": now + 86400,
        "step": 300,
    }

    def query_loop() -> None:
        with requests.Session() as s:
            while not stop.is_set():
                try:
                    statuses.append(
                        s.get(f"{url}/api/v1/query_range", params=params, timeout=300).status_code
                    )
                except requests.RequestException:
                    statuses.append(0)

    def health_loop() -> None:
        while not stop.is_set():
            started = time.monotonic()
            try:
                requests.get(f"{url}/-/healthy", timeout=120)
                health.append(time.monotonic() - started)
            except requests.RequestException:
                health.append(float("inf"))
            time.sleep(0.1)

    with cf.ThreadPoolExecutor(clients + 1) as pool:
        futures = [pool.submit(query_loop) for _ in range(clients)]
        futures.append(pool.submit(health_loop))
        time.sleep(seconds)
        stop.set()
        for f in futures:
            f.result()
    return {"statuses": statuses, "health": health}


def report(result: dict, args: argparse.Namespace) -> None:
    health = sorted(result["health"])
    statuses = result["statuses"]
    by_status = {s: statuses.count(s) for s in sorted(set(statuses))}
    q = statistics.quantiles(health, n=100) if len(health) > 1 else health * 99
    print(f"{args.series} series, {args.clients} clients, {args.seconds:.0f} s, code {args.code}")
    print(
        f"  /-/healthy: {len(health)} probes, p50 {q[49] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms, "
        f"max {health[-1] * 1000:.0f} ms"
    )
    print(f"  query_range answers by status: {by_status}")


if __name__ == "__main__":
    sys.exit(main())
