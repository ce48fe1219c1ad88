"""Liveness and shutdown of the forecaster under each load of the hardening runs: how fast
``/-/healthy`` answers while the load runs, and how long SIGTERM takes to end the process
(sent while the load is still running).

    .venv/bin/python benchmarks/fault_health.py [--seconds 15] [--clients 12] [--only NAME]
                                                [--code DIR]

A real Prometheus holds a fleet (``load``: 200 series, 3 days at 5 m) and a disk fleet (``used``:
3,000 series and ``size``: 20,000 capacity series, 12 hours at 1 h). For each load a forecaster
(its own process) is started, ``--clients`` threads apply the load for ``--seconds`` while one
thread asks ``/-/healthy`` every 50 ms, then SIGTERM is sent with the load still on:

- ``query_range``: range queries over every forecast curve of the next day, back to back;
- ``adhoc``: ``POST /api/v1/forecast`` of the fleet, back to back;
- ``capacity``: the disk fleet's target joined to its 20,000 capacity series every cycle;
- ``remote_write``: remote write to a receiver that accepts connections and never answers;
- ``redos``: ``/api/v1/series`` with catastrophic-backtracking regexes, back to back.

``--code DIR`` runs the forecaster from another checkout (e.g. an older version) to compare.
Needs the Debian packages prometheus and promtool. Prints one table row per load.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np
import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demo.stack import backfilled_prometheus, free_port, spawn, terminate  # noqa: E402

REDOS = [
    '{__name__=~"promcast_((.+)+)+!"}',
    '{__name__=~"(a|aa)+$"}',
    '{target=~"((x*)*)*y", __name__=~".+"}',
]


def write_history(path: Path, newest: float) -> None:
    rng = np.random.default_rng(7)
    with open(path, "w") as out:
        out.write("# TYPE load gauge\n")
        t = np.arange(newest - 3 * 86400, newest + 1, 300)
        for i in range(200):
            y = 0.3 + 0.1 * np.sin(2 * np.pi * t / 86400 + i) + rng.normal(0, 0.01, len(t))
            out.write("".join(f'load{{host="h{i}"}} {v:.4f} {int(s)}\n' for v, s in zip(y, t)))
        # Hourly, up to the newest full hour: the grid's end, where the capacity is read.
        t = np.arange(newest // 3600 * 3600 - 12 * 3600, newest // 3600 * 3600 + 1, 3600)
        out.write("# TYPE used gauge\n")
        for i in range(3000):
            out.write(
                "".join(
                    f'used{{host="d{i}",dev="sda"}} {1e9 + 1e6 * k} {int(s)}\n'
                    for k, s in enumerate(t)
                )
            )
        out.write("# TYPE size gauge\n")
        for j in range(20000):
            out.write("".join(f'size{{host="d{j}",dev="sda"}} 2e9 {int(s)}\n' for s in t))
        out.write("# EOF\n")


def config(prom: str, case: str, hang: str) -> dict:
    fleet = {
        "name": "fleet",
        "query": "load",
        "step": "5m",
        "history": "2d",
        "season": "1d",
        "horizons": ["1d"],
        "levels": [80, 95],
        "infer_every": "15s",
    }
    cfg: dict = {"prometheus": {"url": prom, "timeout": "60s"}, "targets": [fleet]}
    if case == "capacity":
        cfg["limits"] = {"max_series_per_target": 20000}
        cfg["targets"].append(
            {
                "name": "disks",
                "query": "used",
                "capacity": "size",
                "step": "1h",
                "history": "12h",
                "season": 0,
                "horizons": ["1d"],
                "model": "seasonal_naive",
                "max_series": 20000,
                "infer_every": "5s",
                "fit_every": "5s",
            }
        )
    if case == "remote_write":
        fleet["infer_every"] = "5s"
        cfg["remote_write"] = {"url": hang, "timeout": "60s"}
    return cfg


def loads(url: str) -> dict[str, Callable[[requests.Session], object]]:
    now = time.time()
    curves = {
        "query": '{__name__=~"promcast_forecast_(mean|lower|upper)"}',
        "start": now,
        "end": now + 86400,
        "step": 300,
    }
    return {
        "query_range": lambda s: s.get(f"{url}/api/v1/query_range", params=curves, timeout=300),
        "adhoc": lambda s: s.post(
            f"{url}/api/v1/forecast",
            timeout=300,
            json={"query": "load", "horizon": "1d", "step": "5m", "history": "2d", "season": "1d"},
        ),
        "capacity": None,
        "remote_write": None,
        "redos": lambda s: s.get(f"{url}/api/v1/series", timeout=300, params={"match[]": REDOS}),
    }


def run_case(work: Path, prom: str, hang: str, case: str, args: argparse.Namespace) -> dict:
    (work / f"{case}.yml").write_text(yaml.safe_dump(config(prom, case, hang)))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env_path = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(args.code.resolve())
    try:
        proc = spawn(
            work,
            f"forecaster-{case}",
            [
                sys.executable,
                "-m",
                "promcast_forecaster",
                "--config.file",
                str(work / f"{case}.yml"),
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            f"{url}/-/healthy",
            120,
        )
    finally:
        if env_path is None:
            os.environ.pop("PYTHONPATH")
        else:
            os.environ["PYTHONPATH"] = env_path
    stop, terminating, health, answered = threading.Event(), threading.Event(), [], []
    sigterm = [float("inf")]
    worst: list[tuple[float, float]] = []  # (latency, seconds into the load) of each probe
    begun = time.monotonic()
    load = loads(url)[case]

    def client() -> None:
        with requests.Session() as s:
            while not stop.is_set():
                try:
                    answered.append(load(s).status_code)
                except requests.RequestException:
                    answered.append(0)

    def probe() -> None:
        while not stop.is_set() and not terminating.is_set():
            started = time.monotonic()
            try:
                requests.get(f"{url}/-/healthy", timeout=120)
                took = time.monotonic() - started
            except requests.RequestException:
                took = float("inf")
            if not terminating.is_set() or took < float("inf"):
                health.append(took)
                worst.append((took, started - begun))
            elif started < sigterm[0]:
                # Sent before SIGTERM and never answered: it waited at least until SIGTERM (a
                # refusal of a probe sent after SIGTERM is the shutdown, not a failure).
                health.append(sigterm[0] - started)
            time.sleep(0.05)

    threads = [threading.Thread(target=probe, daemon=True)]
    if load is not None:
        threads += [threading.Thread(target=client, daemon=True) for _ in range(args.clients)]
    for t in threads:
        t.start()
    time.sleep(args.seconds)
    started = sigterm[0] = time.monotonic()
    terminating.set()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        code = "killed"
        terminate([proc], grace=0)
    took = time.monotonic() - started
    stop.set()
    for t in threads:
        t.join(timeout=310)
    text = (work / f"forecaster-{case}.log").read_text()
    cycles = text.count('msg="cycle done"')
    errors = text.count("level=error")
    if args.keep_logs:
        shutil.copy(work / f"forecaster-{case}.log", args.keep_logs / f"forecaster-{case}.log")
    q = statistics.quantiles(health, n=100, method="inclusive") if len(health) > 1 else health * 99
    if args.verbose:
        print(
            f"{case}: slowest probes (latency s, at s into the load): "
            f"{[(round(a, 3), round(b, 1)) for a, b in sorted(worst, reverse=True)[:5]]}"
        )
    return {
        "case": case,
        "probes": len(health),
        "p50": q[49],
        "p99": q[98],
        "max": max(health),
        "answers": len(answered),
        "cycles": cycles,
        "errors": errors,
        "exit": code,
        "exit_s": took,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--clients", type=int, default=12)
    ap.add_argument("--only", action="append", help="run only this load (repeatable)")
    ap.add_argument("--verbose", action="store_true", help="print each load's slowest probes")
    ap.add_argument("--keep-logs", type=Path, help="copy the forecasters' logs to this folder")
    ap.add_argument("--code", type=Path, default=ROOT, help="checkout to run the forecaster from")
    args = ap.parse_args()
    if not (shutil.which("prometheus") and shutil.which("promtool")):
        print("skipped: needs the Debian packages prometheus and promtool")
        return 0
    cases = args.only or ["query_range", "adhoc", "capacity", "remote_write", "redos"]
    with tempfile.TemporaryDirectory(prefix="promcast-faults-") as tmp:
        work = Path(tmp)
        om = work / "history.om"
        write_history(om, time.time() // 300 * 300 - 300)
        prometheus, prom = backfilled_prometheus(work, om)
        procs = [prometheus]
        hang = socket.socket()  # accepts (the kernel's backlog) and never answers
        hang.bind(("127.0.0.1", 0))
        hang.listen(64)
        try:
            rows = [
                run_case(work, prom, f"http://127.0.0.1:{hang.getsockname()[1]}/write", c, args)
                for c in cases
            ]
        finally:
            hang.close()
            terminate(procs)
    print(f"{args.seconds:.0f} s per load, {args.clients} clients, code {args.code}")
    print(
        "| load | /-/healthy probes | p50 | p99 | max | load answers | cycles (errors) | SIGTERM exit | exit after |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['case']} | {r['probes']} | {r['p50'] * 1000:.0f} ms | {r['p99'] * 1000:.0f} ms "
            f"| {r['max'] * 1000:.0f} ms | {r['answers']} | {r['cycles']} ({r['errors']}) | {r['exit']} "
            f"| {r['exit_s']:.2f} s |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
